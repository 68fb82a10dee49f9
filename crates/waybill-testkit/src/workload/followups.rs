//! Entries planned by earlier ones (see [`FollowUp`]): when they fall
//! due, what each entry calls for, and the entry each makes.

use rand_core::RngCore;
use waybill_core::entry::{
    Body, Corrected, Correction, Dispatch, DispatchV2, EntryId, Produce, ProduceV2, Readings,
    Recall, RecallClass, RecallLift, ReceiveV2, ShippedLot, SignedEntry,
};
use waybill_core::genesis::Role;
use waybill_core::gs1::LotId;
use waybill_core::state::ShipmentStage;

use super::error::{internal, Result};
use super::facts;
use super::generator::Workload;
use super::mix::{
    FollowUp, CORRECT_EVERY, CORRECT_PHASE, EXCURSION_PERCENT, LIFT_EVERY, READINGS_PERCENT,
    READINGS_PER_SERIES, RECALL_EVERY, RECALL_PHASE,
};
use super::pick::{handlers, party_of};
use crate::consortium::{Party, Roster, T0};

impl<R: Roster + ?Sized> Workload<'_, R> {
    /// The next follow-up that is due, if any.
    pub(super) fn due(&mut self) -> Option<FollowUp> {
        if let Some(f) = self.pending.pop_front() {
            return Some(f);
        }
        let mut first = self.scheduled.first_entry()?;
        if *first.key() > self.made {
            return None;
        }
        let f = first.get_mut().pop();
        if first.get().is_empty() {
            first.remove();
        }
        f
    }

    /// The follow-ups `e` (with id `id`), just handed out, calls for.
    pub(super) fn plan_follow_ups(&mut self, e: &SignedEntry, id: EntryId) -> Result<()> {
        match &e.entry.body {
            Body::Produce(Produce { lot, .. })
            | Body::ProduceV2(ProduceV2 {
                produce: Produce { lot, .. },
                ..
            }) => {
                if self.reserved_lots.contains(lot) {
                    return Ok(());
                }
                self.lots_made += 1;
                if self.lots_made % RECALL_EVERY == RECALL_PHASE {
                    let at = self.made + 300 + self.below(1_700);
                    self.scheduled
                        .entry(at)
                        .or_default()
                        .push(FollowUp::Recall(lot.clone()));
                }
            }
            Body::Dispatch(Dispatch { shipment, .. })
            | Body::DispatchV2(DispatchV2 { shipment, .. }) => {
                self.dispatches += 1;
                if self.dispatches % CORRECT_EVERY == CORRECT_PHASE {
                    self.pending.push_back(FollowUp::Correct {
                        dispatch: id,
                        shipment: shipment.clone(),
                    });
                }
            }
            Body::Receive(waybill_core::entry::Receive { shipment, .. })
            | Body::ReceiveV2(ReceiveV2 { shipment, .. }) => {
                let delivered = self
                    .state
                    .shipments
                    .get(shipment)
                    .is_some_and(|s| s.stage == ShipmentStage::Delivered);
                if delivered && self.chance(READINGS_PERCENT) {
                    self.pending.push_back(FollowUp::Readings(shipment.clone()));
                }
            }
            Body::Recall(r) => {
                self.recalls += 1;
                if self.recalls % LIFT_EVERY == 1 % LIFT_EVERY {
                    if let Some(lot) = r.lots.first() {
                        let at = self.made + 200 + self.below(1_000);
                        self.scheduled.entry(at).or_default().push(FollowUp::Lift {
                            recall: id,
                            lot: lot.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The entry a follow-up makes, or `None` if it no longer applies.
    pub(super) fn follow_up(&mut self, f: FollowUp) -> Result<Option<SignedEntry>> {
        let c = self.c;
        match f {
            FollowUp::Readings(shipment) => {
                let Some(s) = self.state.shipments.get(&shipment) else {
                    return Ok(None);
                };
                let who = c
                    .member(&s.consignee)
                    .map(|(p, _)| p)
                    .ok_or_else(|| internal("the consignee is not a member"))?;
                let device = self.next_serial();
                // The logger ran for the day before the receipt.
                let start = T0 - 2 * facts::DAY_MS + (device % 1_000) as i64 * 60_000;
                let excursion = if self.chance(EXCURSION_PERCENT) {
                    Some((5 + self.below(12) as usize, 2 + self.below(3) as usize))
                } else {
                    None
                };
                let wobble = self.rng.next_u64();
                let mut series = vec![facts::temperatures(
                    device,
                    start,
                    READINGS_PER_SERIES,
                    wobble,
                    excursion,
                )?];
                if self.chance(20) {
                    series.push(facts::humidity(device, start, READINGS_PER_SERIES, wobble)?);
                }
                let body = Body::Readings(Readings { shipment, series });
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Correct { dispatch, shipment } => {
                let Some(s) = self.state.shipments.get(&shipment) else {
                    return Ok(None);
                };
                if s.stage != ShipmentStage::Dispatched || s.dispatched_by != dispatch {
                    return Ok(None);
                }
                let who = c
                    .member(&s.sender)
                    .map(|(p, _)| p)
                    .ok_or_else(|| internal("the sender is not a member"))?;
                let body = Body::Correction(Correction {
                    target: dispatch,
                    corrected: Corrected::Shipment(shipment.clone()),
                    reason: "dispatched to the wrong consignee".into(),
                    corrective: Vec::new(),
                });
                self.pending.push_front(FollowUp::Redispatch(shipment));
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Redispatch(old) => {
                let Some(s) = self.state.shipments.get(&old) else {
                    return Ok(None);
                };
                let (sender, wrong, carrier) = (s.sender, s.consignee, s.carrier);
                let lots: Vec<LotId> = s
                    .lots
                    .iter()
                    .filter(|l| {
                        self.state
                            .lots
                            .get(*l)
                            .is_some_and(|x| !x.held_by(&self.state, &sender).is_zero())
                    })
                    .cloned()
                    .collect();
                if lots.is_empty() {
                    return Ok(None);
                }
                let others: Vec<&Party> = handlers(c)
                    .filter(|p| p.pk != sender && p.pk != wrong)
                    .collect();
                if others.is_empty() {
                    return Ok(None);
                }
                let consignee = others[self.below(others.len() as u64) as usize];
                let carrier = carrier
                    .filter(|_| c.member(&consignee.pk).map(|(_, r)| r) != Some(Role::Carrier));
                let who = party_of(c, &sender)?;
                let minters = self.minters(&sender, &lots);
                let id = self.fresh_shipment(&minters)?;
                let parts = lots
                    .into_iter()
                    .map(|lot| ShippedLot {
                        lot,
                        quantity: None,
                    })
                    .collect();
                let body = self.dispatch_v2(&id, parts, consignee, carrier)?;
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Recall(lot) => {
                let Some(l) = self.state.lots.get(&lot) else {
                    return Ok(None);
                };
                if l.voided_by.is_some() {
                    return Ok(None);
                }
                let Some((who, _)) = c.member(&l.producer) else {
                    return Ok(None);
                };
                let (class, reason) = if self.chance(20) {
                    (
                        RecallClass::Withdrawal,
                        "label misprint: the wrong origin on the bags",
                    )
                } else {
                    (
                        RecallClass::Recall,
                        "ochratoxin A above the limit in a retained sample",
                    )
                };
                let body = Body::Recall(Recall {
                    scope: format!("every bag of lot {lot}"),
                    lots: vec![lot],
                    class,
                    reason: reason.into(),
                    documents: Vec::new(),
                });
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Lift { recall, lot } => {
                let Some(l) = self.state.lots.get(&lot) else {
                    return Ok(None);
                };
                let Some(mark) = l.open_recalls().find(|m| m.recall == recall) else {
                    return Ok(None);
                };
                let Some((who, _)) = c.member(&mark.author) else {
                    return Ok(None);
                };
                let body = Body::RecallLift(RecallLift {
                    recall,
                    lots: vec![lot],
                    reason: "a second laboratory found the sample within the limit".into(),
                });
                Ok(Some(self.sign(who, body)))
            }
        }
    }
}
