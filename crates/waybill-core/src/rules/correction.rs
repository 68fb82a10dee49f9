//! Corrections: an entry declares an earlier one erroneous. The original
//! stays in the chain; what it recorded is undone where nothing has built
//! on it since (a lot not yet moved or used, a shipment nobody took over,
//! a shipment's latest custody step while its goods have not moved on, a
//! payment; readings are struck and their excursions taken back), and
//! lookups show it struck through.

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use crate::codes::Decimal3;
use crate::crypto::PublicKey;
use crate::entry::{Corrected, Correction};
use crate::gs1::ShipmentId;
use crate::state::{
    current_key, same_member, Changes, LotState, ShipmentStage, StepKind, StepRest, View,
};

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
                let mut s = self.existing_shipment(id)?;
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
            Corrected::Receipt(id) => self.undo_step(c, id, changes)?,
            Corrected::Readings(id) => self.strike_readings(c, id, changes)?,
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

    /// Undoes a shipment's latest custody step (a take-over, a handover or
    /// the consignee's receipt), if `c` names the entry that made it and
    /// nothing has been built on it: the parts go back in transit with
    /// the previous custodian, what the step recorded as lost is restored,
    /// and the shipment goes back to the stage before the step.
    fn undo_step(
        &self,
        c: &Correction,
        id: &ShipmentId,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut s = self.existing_shipment(id)?;
        let Some(mut step) = s.latest_step.take() else {
            return Err(RuleError::Correction(format!(
                "shipment {id} has not been taken over, handed over or received since its dispatch (entry {}); a dispatch is corrected as a shipment, not as a receipt",
                s.dispatched_by.short()
            )));
        };
        let kind = step.kind.as_str();
        let what = format!("the {kind} of shipment {id}");
        if step.entry != c.target {
            let latest = match step.corrected_by() {
                Some(by) => format!(
                    "the latest was its {kind}, entry {}, which correction {} undid; only the latest step is kept, so earlier ones can no longer be corrected",
                    step.entry.short(),
                    by.short()
                ),
                None => format!(
                    "the latest is its {kind}, entry {}; only the latest step can be corrected, so correct the later entries first, from the latest back",
                    step.entry.short()
                ),
            };
            return Err(RuleError::Correction(format!(
                "entry {} did not make the latest custody step of shipment {id}: {latest}",
                c.target.short()
            )));
        }
        if let Some(by) = step.corrected_by() {
            return Err(RuleError::Correction(format!(
                "{what} (entry {}) was already corrected by correction {}",
                step.entry.short(),
                by.short()
            )));
        }
        // Who recorded the step: the carrier taking over, the carrier
        // handing over, or the consignee.
        let author = match step.kind {
            StepKind::TakeOver => s.carrier.unwrap_or(s.sender),
            StepKind::Handover => step.from,
            StepKind::ReceiptFromSender | StepKind::ReceiptFromCarrier => s.consignee,
        };
        self.check_target(c, step.entry, &author, &what)?;
        if s.stage != step.kind.stage_after() {
            // Only a rejection follows a step without replacing it.
            return Err(RuleError::Correction(format!(
                "shipment {id} is {} since its {kind} (entry {}); the custody of a closed shipment can no longer be corrected",
                s.stage.as_str(),
                step.entry.short()
            )));
        }
        match step.kind {
            StepKind::TakeOver | StepKind::Handover => {
                for lot_id in &s.lots {
                    let lost = step
                        .lots()
                        .iter()
                        .find(|l| &l.lot == lot_id)
                        .map_or(Decimal3::ZERO, |l| l.lost);
                    let Some(mut lot) = self.lot(changes, lot_id)? else {
                        continue;
                    };
                    let part = lot.take_shipment(id).map_or(Decimal3::ZERO, |h| h.quantity);
                    if part.is_zero() && lost.is_zero() {
                        continue;
                    }
                    back_in_transit(&mut lot, step.from, id, part, lost);
                    changes.lots.insert(lot_id.clone(), lot);
                }
                if step.kind == StepKind::Handover {
                    s.carrier = Some(step.from);
                }
            }
            StepKind::ReceiptFromSender | StepKind::ReceiptFromCarrier => {
                let consignee = current_key(self.view, &s.consignee);
                // Every lot first, so that a refusal names the first lot
                // that moved on and changes nothing.
                let mut lots = Vec::with_capacity(step.lots().len());
                for l in step.lots() {
                    let Some(lot) = self.lot(changes, &l.lot)? else {
                        continue;
                    };
                    let held = lot.held_by(self.view, &consignee);
                    if held < l.received {
                        let unit = lot.unit.code();
                        return Err(RuleError::Correction(format!(
                            "{what} cannot be corrected: `{}` received {} {unit} of lot {} but holds {held} {unit} of it now, so the goods have moved on or been used since; correct the later entries first, from the latest back",
                            name_of(self.view, &consignee),
                            l.received,
                            l.lot
                        )));
                    }
                    lots.push((l, lot));
                }
                for (l, mut lot) in lots {
                    lot.take_held(self.view, &consignee, l.received);
                    back_in_transit(&mut lot, step.from, id, l.received, l.lost);
                    changes.lots.insert(l.lot.clone(), lot);
                }
            }
        }
        s.stage = step.kind.stage_before();
        step.rest = Some(Box::new(StepRest {
            lots: Vec::new(),
            corrected_by: Some(self.id),
        }));
        s.latest_step = Some(step);
        changes.shipments.insert(id.clone(), s);
        Ok(())
    }

    /// Strikes a readings entry on a shipment: the excursions it counted
    /// come off each of the shipment's lots.
    fn strike_readings(
        &self,
        c: &Correction,
        id: &ShipmentId,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut s = self.existing_shipment(id)?;
        let Some(i) = s.readings.iter().position(|m| m.entry == c.target) else {
            return Err(RuleError::Correction(format!(
                "entry {} did not record readings on shipment {id} ({} readings entries did); name the erroneous readings entry",
                c.target.short(),
                s.readings.len()
            )));
        };
        let what = format!("the readings on shipment {id}");
        let mark = s.readings[i].clone();
        self.check_target(c, mark.entry, &mark.author, &what)?;
        if let Some(by) = mark.corrected_by {
            return Err(RuleError::Correction(format!(
                "{what} of entry {} were already struck by correction {}",
                mark.entry.short(),
                by.short()
            )));
        }
        if mark.excursions > 0 {
            for lot_id in &s.lots {
                let Some(mut lot) = self.lot(changes, lot_id)? else {
                    continue;
                };
                lot.excursions = lot.excursions.saturating_sub(mark.excursions);
                changes.lots.insert(lot_id.clone(), lot);
            }
        }
        if let Some(m) = s.readings.get_mut(i) {
            m.corrected_by = Some(self.id);
        }
        changes.shipments.insert(id.clone(), s);
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

/// Puts `part` of `lot` and what a step recorded as `lost` of it back in
/// transit in shipment `id`, with `from` (the custodian before the step),
/// and takes that loss off the lot's losses.
fn back_in_transit(
    lot: &mut LotState,
    from: PublicKey,
    id: &ShipmentId,
    part: Decimal3,
    lost: Decimal3,
) {
    lot.lost = Decimal3::from_milli(lot.lost.milli().saturating_sub(lost.milli()));
    let back = part.checked_add(lost).unwrap_or(Decimal3::MAX);
    lot.add_holding(from, Some(id.clone()), back);
}
