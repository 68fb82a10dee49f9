//! Recording a payment: by its payer, to an active member, once per UETR.

use super::ctx::Ctx;
use super::error::RuleError;
use crate::entry::Payment;
use crate::state::{Changes, PaymentState, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Payment`] body.
    pub(super) fn payment(&self, p: &Payment, changes: &mut Changes) -> Result<(), RuleError> {
        if &p.payer != self.author {
            return Err(RuleError::PayerNotAuthor);
        }
        if p.amount_minor == 0 {
            return Err(RuleError::ZeroAmount);
        }
        if let Some(s) = &p.settlement {
            if s.amount_minor == 0 {
                return Err(RuleError::ZeroAmount);
            }
        }
        if self.view.payment(&p.payment_id).is_some() {
            return Err(RuleError::PaymentExists(p.payment_id));
        }
        let payee = self
            .view
            .member(&p.payee)
            .ok_or(RuleError::BadCounterparty {
                what: "payee",
                key: p.payee,
                problem: "is not a member of this chain".into(),
            })?;
        if !payee.active() {
            return Err(RuleError::BadCounterparty {
                what: "payee",
                key: p.payee,
                problem: format!("(`{}`) was removed from the chain", payee.spec.name),
            });
        }
        for s in &p.shipments {
            // A trail carries only the shipments of its lots.
            if self.view.shipment(s).is_none() && self.scope.is_none() {
                return Err(RuleError::UnknownShipment(s.clone()));
            }
        }
        changes.payments.insert(
            p.payment_id,
            PaymentState {
                payer: p.payer,
                payee: p.payee,
                recorded_by: self.id,
                corrected_by: None,
            },
        );
        Ok(())
    }
}
