//! Corrections: an entry declares an earlier one erroneous. The original
//! stays in the chain; what it recorded is undone where nothing has built
//! on it since (a lot not yet moved or used, a shipment nobody took over,
//! a payment), and lookups show it struck through.

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use crate::codes::Decimal3;
use crate::crypto::PublicKey;
use crate::entry::{Corrected, Correction};
use crate::state::{same_member, Changes, ShipmentStage, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Correction`] body.
    pub(super) fn correction(
        &self,
        c: &Correction,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        self.cosigners_are_admins()?;
        match &c.corrected {
            Corrected::Lot(id) => {
                // In a trail, a lot outside the scope (made from one of
                // the scope's lots) has only part of its history there,
                // so it is not judged; but the inputs it consumed from the
                // scope still come back.
                let (mut lot, judged) = match self.lot(changes, id)? {
                    Some(l) => (l, true),
                    None => match self.view.lot(id) {
                        Some(l) => (l.into_owned(), false),
                        None => return Ok(()),
                    },
                };
                self.check_target(c, lot.produced_by, &lot.producer, &format!("lot {id}"))?;
                if let Some(by) = lot.voided_by.filter(|_| judged) {
                    return Err(RuleError::Correction(format!(
                        "lot {id} was already voided by correction {}",
                        by.short()
                    )));
                }
                let untouched = lot.consumed.is_zero()
                    && lot.lost.is_zero()
                    && lot.holdings.len() == 1
                    && lot.holdings.iter().all(|h| {
                        h.shipment.is_none()
                            && h.quantity == lot.produced
                            && same_member(self.view, &h.holder, &lot.producer)
                    });
                if judged && !untouched {
                    return Err(RuleError::Correction(format!(
                        "lot {id} has been shipped or used since it was produced; correct the later entries first, from the latest back"
                    )));
                }
                // The inputs go back to whoever consumed them: the lot's
                // producer (not an admin correcting with a quorum).
                for (input, q) in &lot.inputs {
                    let Some(mut l) = self.lot(changes, input)? else {
                        continue;
                    };
                    l.consumed = Decimal3::from_milli(l.consumed.milli().saturating_sub(q.milli()));
                    l.add_holding(lot.producer, None, *q);
                    changes.lots.insert(input.clone(), l);
                }
                lot.holdings.clear();
                lot.voided_by = Some(self.id);
                changes.lots.insert(id.clone(), lot);
            }
            Corrected::Shipment(id) => {
                let mut s = self
                    .view
                    .shipment(id)
                    .ok_or_else(|| RuleError::UnknownShipment(id.clone()))?
                    .into_owned();
                self.check_target(c, s.dispatched_by, &s.sender, &format!("shipment {id}"))?;
                if s.stage != ShipmentStage::Dispatched {
                    return Err(RuleError::Correction(format!(
                        "shipment {id} is {}; only a dispatch nobody has taken over can be corrected (its consignee can reject it instead)",
                        s.stage.as_str()
                    )));
                }
                self.return_to_sender(id, &s, changes)?;
                s.stage = ShipmentStage::Cancelled;
                changes.shipments.insert(id.clone(), s);
            }
            Corrected::Payment(id) => {
                let mut p = self
                    .view
                    .payment(id)
                    .ok_or_else(|| {
                        RuleError::Correction(format!(
                            "payment {id} is not recorded on this ledger"
                        ))
                    })?
                    .into_owned();
                self.check_target(c, p.recorded_by, &p.payer, &format!("payment {id}"))?;
                if let Some(by) = p.corrected_by {
                    return Err(RuleError::Correction(format!(
                        "payment {id} was already struck out by correction {}",
                        by.short()
                    )));
                }
                p.corrected_by = Some(self.id);
                changes.payments.insert(*id, p);
            }
        }
        Ok(())
    }

    /// Refuses a correction whose target is not the entry that made the
    /// record, or whose author is neither that record's author nor
    /// signing with an admin quorum.
    fn check_target(
        &self,
        c: &Correction,
        made_by: crate::entry::EntryId,
        owner: &PublicKey,
        what: &str,
    ) -> Result<(), RuleError> {
        if made_by != c.target {
            return Err(RuleError::Correction(format!(
                "entry {} did not record {what} (entry {} did); name the erroneous entry and what it recorded",
                c.target.short(),
                made_by.short()
            )));
        }
        let quorum = self.admin_quorum();
        if !quorum && !same_member(self.view, owner, self.author) {
            return Err(RuleError::Correction(format!(
                "`{}` may not correct {what}: it was recorded by `{}`, and only its author (or an admin quorum) may declare it erroneous",
                self.author_spec.name,
                name_of(self.view, owner)
            )));
        }
        Ok(())
    }
}
