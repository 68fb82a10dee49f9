//! The kinds both mixes make: raw production, processing of held lots
//! into new lots, dispatches, receipts, rejections and payments. In the
//! consortium mix some of them come in their newer versions
//! ([`super::consortium_mix`] makes those bodies).

use rand_core::RngCore;
use waybill_core::entry::{Body, ProduceV2, ReferenceDocumentType, SignedEntry};
use waybill_core::genesis::Role;
use waybill_core::gs1::LotId;
use waybill_core::state::ShipmentStage;

use super::bag::Bag;
use super::consortium_mix::produce_of;
use super::error::{internal, Result};
use super::facts;
use super::generator::Workload;
use super::mix::{Mix, HANDOVER_PERCENT, PLOTS_PERCENT, WORK_ORDER_PERCENT};
use super::pick::handlers;
use crate::consortium::{Party, Roster};
use crate::ids::try_uetr_from_bits;
use crate::signer::{dispatch_body, receive_body, reject_body, try_payment_body, try_produce_body};

impl<R: Roster + ?Sized> Workload<'_, R> {
    pub(super) fn raw_production(&mut self) -> Result<SignedEntry> {
        let milli = 1_000 + self.below(100_000);
        let c = self.c;
        let who = self.pick(c.producers())?;
        let lot = self.fresh_lot(&who.pk)?;
        let body = try_produce_body(&lot, milli, &[])?;
        let body = if self.mix == Mix::Consortium && self.chance(PLOTS_PERCENT) {
            self.with_plots(body)?
        } else {
            body
        };
        Ok(self.sign(who, body))
    }

    pub(super) fn processing(&mut self) -> Result<Option<SignedEntry>> {
        // Mostly a processor; sometimes a producer blending its own lots.
        let c = self.c;
        let who = if self.chance(85) {
            self.pick(c.processors())?
        } else {
            self.pick(c.producers())?
        };
        let held = self.held.get(&who.pk).map_or(0, Bag::len);
        if held == 0 {
            return Ok(None);
        }
        let want = 1 + self.below(2.min(held as u64)) as usize;
        let mut inputs: Vec<(LotId, u64)> = Vec::new();
        while inputs.len() < want {
            let l = self.pick_held(&who.pk)?;
            if inputs.iter().any(|(x, _)| x == &l) {
                continue;
            }
            // What the author holds (all that is left of it, unless part
            // of it was shipped elsewhere).
            let left = self
                .state
                .lots
                .get(&l)
                .ok_or_else(|| internal(format!("held lot {l} unknown")))?
                .held_by(&self.state, &who.pk)
                .milli();
            let q = if self.chance(50) {
                left
            } else {
                1 + self.below(left)
            };
            inputs.push((l, q));
        }
        let lot = self.fresh_lot(&who.pk)?;
        let milli = 500 + self.below(50_000);
        let body = try_produce_body(&lot, milli, &inputs)?;
        let body = if self.mix == Mix::Consortium && self.chance(WORK_ORDER_PERCENT) {
            let n = self.next_serial();
            let kdes = facts::kdes(ReferenceDocumentType::WorkOrder, n, None);
            Body::ProduceV2(ProduceV2 {
                produce: produce_of(body)?,
                plots: None,
                kdes,
            })
        } else {
            body
        };
        Ok(Some(self.sign(who, body)))
    }

    pub(super) fn dispatch(&mut self) -> Result<Option<SignedEntry>> {
        let c = self.c;
        let holders: Vec<&Party> = handlers(c)
            .filter(|p| self.held.get(&p.pk).is_some_and(|s| !s.is_empty()))
            .collect();
        if holders.is_empty() {
            return Ok(None);
        }
        let i = self.below(holders.len() as u64) as usize;
        let who = holders[i];
        let held = self.held.get(&who.pk).map_or(0, Bag::len);
        let n = 1 + self.below(3.min(held as u64)) as usize;
        let mut lots: Vec<LotId> = Vec::new();
        while lots.len() < n {
            let l = self.pick_held(&who.pk)?;
            if !lots.contains(&l) {
                lots.push(l);
            }
        }
        let role = c.member(&who.pk).map(|(_, r)| r);
        let consignee = if role == Some(Role::Producer) && self.chance(70) {
            self.pick(c.processors())?
        } else if role == Some(Role::Processor) && self.chance(60) {
            self.pick(c.retailers())?
        } else {
            let others: Vec<&Party> = handlers(c).filter(|p| p.pk != who.pk).collect();
            let i = self.below(others.len() as u64) as usize;
            others[i]
        };
        let carrier = if role != Some(Role::Carrier)
            && c.member(&consignee.pk).map(|(_, r)| r) != Some(Role::Carrier)
            && self.chance(60)
        {
            Some(self.pick(c.carriers())?.pk)
        } else {
            None
        };
        let minters = self.minters(&who.pk, &lots);
        let id = self.fresh_shipment(&minters)?;
        let body = match self.mix {
            Mix::Classic => dispatch_body(&id, &lots, &consignee.pk, carrier.as_ref()),
            Mix::Consortium => self.consortium_dispatch(who, &id, &lots, consignee, carrier)?,
        };
        Ok(Some(self.sign(who, body)))
    }

    pub(super) fn receive(&mut self, reject: bool) -> Result<Option<SignedEntry>> {
        if self.open.is_empty() {
            return Ok(None);
        }
        let i = self.below(self.open.len() as u64) as usize;
        let id = self
            .open
            .get(i)
            .cloned()
            .ok_or_else(|| internal("open shipment missing"))?;
        let s = self
            .state
            .shipments
            .get(&id)
            .ok_or_else(|| internal(format!("shipment {id} unknown")))?;
        let (carrier, stage, consignee) = (s.carrier, s.stage, s.consignee);
        let who = match carrier {
            Some(carrier) if stage == ShipmentStage::Dispatched && self.chance(60) => carrier,
            _ => consignee,
        };
        let c = self.c;
        let who = c
            .member(&who)
            .map(|(p, _)| p)
            .ok_or_else(|| internal(format!("{} is not a member", who.short())))?;
        if !reject && self.mix == Mix::Consortium {
            if let (ShipmentStage::WithCarrier, Some(current)) = (stage, carrier) {
                if c.carriers().len() >= 2
                    && !self.handed_over.contains(&id)
                    && self.chance(HANDOVER_PERCENT)
                {
                    return self.handover(&id, &current).map(Some);
                }
            }
            if who.pk == consignee {
                if let Some(body) = self.consortium_receipt(&id)? {
                    return Ok(Some(self.sign(who, body)));
                }
            }
        }
        let body = if reject {
            reject_body(&id)
        } else {
            receive_body(&id)
        };
        Ok(Some(self.sign(who, body)))
    }

    pub(super) fn payment(&mut self) -> Result<Option<SignedEntry>> {
        if self.shipments.is_empty() {
            return Ok(None);
        }
        let i = self.below(self.shipments.len() as u64) as usize;
        let mut paid = vec![self.shipments[i].clone()];
        if self.chance(30) {
            let j = self.below(self.shipments.len() as u64) as usize;
            let s = self.shipments[j].clone();
            if !paid.contains(&s) {
                paid.push(s);
            }
        }
        let c = self.c;
        let handlers: Vec<&Party> = handlers(c).collect();
        let k = self.below(handlers.len() as u64) as usize;
        let payee = handlers[k].pk;
        let id = loop {
            let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
            let id = try_uetr_from_bits(bits)?;
            if !self.state.payments.contains_key(&id) {
                break id;
            }
        };
        let amount_minor = 1 + self.below(5_000_000);
        let converted = self.chance(40);
        let payer = self.pick(c.payers())?;
        let body = try_payment_body(id, &payer.pk, &payee, amount_minor, &paid, converted)?;
        Ok(Some(self.sign(payer, body)))
    }
}
