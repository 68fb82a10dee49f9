//! Recording a production: a new lot, made from nothing or by consuming
//! (part of) lots the author holds.

use super::ctx::Ctx;
use super::error::RuleError;
use crate::codes::Decimal3;
use crate::entry::Produce;
use crate::gs1::Gtin;
use crate::state::{Changes, LotState, LotStatus, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Produce`] body.
    pub(super) fn produce(&self, p: &Produce, changes: &mut Changes) -> Result<(), RuleError> {
        if self.view.lot(&p.lot).is_some() {
            return Err(RuleError::LotExists(p.lot.clone()));
        }
        if let Some(g) = p.lot.gtin() {
            self.check_gtin(&g)?;
        }
        if let Some(g) = &p.product.gtin {
            self.check_gtin(g)?;
        }
        for input in &p.inputs {
            let Some(mut lot) = self.lot(changes, &input.lot)? else {
                continue;
            };
            self.held_by_author(&input.lot, &lot)?;
            let left = lot
                .remaining
                .milli()
                .checked_sub(input.quantity.milli())
                .ok_or_else(|| RuleError::InsufficientQuantity {
                    lot: input.lot.clone(),
                    have: lot.remaining,
                    want: input.quantity,
                })?;
            lot.remaining = Decimal3::from_milli(left);
            if left == 0 {
                lot.status = LotStatus::Consumed;
            }
            changes.lots.insert(input.lot.clone(), lot);
        }
        changes.lots.insert(
            p.lot.clone(),
            LotState {
                producer: *self.author,
                custodian: *self.author,
                status: LotStatus::Held,
                unit: p.quantity.unit,
                remaining: p.quantity.value,
                produced_by: self.id,
            },
        );
        Ok(())
    }

    /// Refuses a GTIN outside the author's GS1 company prefixes (when it
    /// has any).
    fn check_gtin(&self, gtin: &Gtin) -> Result<(), RuleError> {
        let prefixes = &self.author_spec.gs1_company_prefixes;
        if prefixes.is_empty() || prefixes.iter().any(|p| gtin.has_company_prefix(p)) {
            return Ok(());
        }
        Err(RuleError::ForeignGtin {
            gtin: *gtin,
            member: self.author_spec.name.clone(),
            prefixes: prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
