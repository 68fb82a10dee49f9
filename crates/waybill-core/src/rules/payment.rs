//! Recording a payment: by its payer, to another active member, once per
//! UETR, its terms sealed; confirmed by its payee over the same
//! commitments.

use super::ctx::Ctx;
use super::error::RuleError;
use crate::codes::Uetr;
use crate::crypto::PublicKey;
use crate::gs1::ShipmentId;
use crate::state::{Changes, PaymentState, View};
use crate::terms::{self, PaymentConfirmation, SealedPayment};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`SealedPayment`] body. What validators can check is
    /// checked: the parties, the shipments, the form of the commitments
    /// (in the shape rules). The terms themselves stay with the parties.
    pub(super) fn sealed_payment(
        &self,
        p: &SealedPayment,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        if p.payee == p.payer {
            return Err(RuleError::BadCounterparty {
                what: "payee",
                key: p.payee,
                problem: "is the payer; a payment is between two members".into(),
            });
        }
        self.check_payment(&p.payment_id, &p.payer, &p.payee, &p.shipments)?;
        changes.payments.insert(
            p.payment_id,
            PaymentState {
                payer: p.payer,
                payee: p.payee,
                recorded_by: self.id,
                corrected_by: None,
                terms: Some(terms::digest(&p.payment_id, &p.terms)),
                confirmed_by: None,
            },
        );
        Ok(())
    }

    /// Applies a [`PaymentConfirmation`]: by the payee, once, over the
    /// payment's own commitments, while it stands.
    pub(super) fn confirm_payment(
        &self,
        c: &PaymentConfirmation,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut p = self
            .view
            .payment(&c.payment_id)
            .ok_or(RuleError::UnknownPayment(c.payment_id))?
            .into_owned();
        let refuse = |problem: String| RuleError::Confirmation {
            payment: c.payment_id,
            problem,
        };
        if &p.payee != self.author {
            return Err(refuse(
                "only its payee may confirm it; sign with the payee's key".into(),
            ));
        }
        match p.terms {
            None => return Err(refuse("its terms are not sealed".into())),
            Some(t) if t != c.terms => {
                return Err(refuse(
                    "the confirmation is over other terms than the payment commits to".into(),
                ))
            }
            Some(_) => {}
        }
        if let Some(by) = p.confirmed_by {
            return Err(refuse(format!("entry {} confirmed it already", by.short())));
        }
        if let Some(by) = p.corrected_by {
            return Err(refuse(format!(
                "correction {} declared it erroneous",
                by.short()
            )));
        }
        p.confirmed_by = Some(self.id);
        changes.payments.insert(c.payment_id, p);
        Ok(())
    }

    /// What every payment needs: the author pays, the UETR is new, the
    /// payee is an active member, the shipments exist.
    fn check_payment(
        &self,
        id: &Uetr,
        payer: &PublicKey,
        payee: &PublicKey,
        shipments: &[ShipmentId],
    ) -> Result<(), RuleError> {
        if payer != self.author {
            return Err(RuleError::PayerNotAuthor);
        }
        if self.view.payment(id).is_some() {
            return Err(RuleError::PaymentExists(*id));
        }
        let member = self.view.member(payee).ok_or(RuleError::BadCounterparty {
            what: "payee",
            key: *payee,
            problem: "is not a member of this chain".into(),
        })?;
        if !member.active() {
            return Err(RuleError::BadCounterparty {
                what: "payee",
                key: *payee,
                problem: format!("(`{}`) was removed from the chain", member.spec.name),
            });
        }
        for s in shipments {
            // A trail carries only the shipments of its lots.
            if self.view.shipment(s).is_none() && self.scope.is_none() {
                return Err(RuleError::UnknownShipment(s.clone()));
            }
        }
        Ok(())
    }
}
