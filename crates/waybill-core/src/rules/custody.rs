//! Moving goods between members: dispatching a shipment (whole lots or
//! parts of them), and receiving it (whole, or with what did not arrive
//! and why) or rejecting it at the other end.

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use super::keys::{has_gln, Parties, SHIPMENT_PARTIES};
use super::permission::roles_text;
use super::quantity;
use crate::codes::Decimal3;
use crate::crypto::PublicKey;
use crate::entry::{
    Dispatch, DispatchV2, Location, Quantity, Receive, ReceiveV2, ReceivedLot, Reject,
};
use crate::genesis::Role;
use crate::gs1::{LotId, ShipmentId};
use crate::state::{
    same_member, Changes, LatestStep, LotState, ShipmentStage, ShipmentState, StepKind, StepLot,
    View,
};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Dispatch`] body: everything the author holds of each
    /// lot goes in transit.
    pub(super) fn dispatch(&self, d: &Dispatch, changes: &mut Changes) -> Result<(), RuleError> {
        let parts: Vec<(&LotId, Option<Quantity>)> = d.lots.iter().map(|l| (l, None)).collect();
        self.ship(
            &d.shipment,
            &parts,
            &d.consignee,
            d.carrier.as_ref(),
            &[("from", Some(&d.from)), ("to", Some(&d.to))],
            changes,
        )
    }

    /// Applies a [`DispatchV2`] body: the stated part of each lot goes in
    /// transit, the rest stays with the author.
    pub(super) fn dispatch_v2(
        &self,
        d: &DispatchV2,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let parts: Vec<(&LotId, Option<Quantity>)> =
            d.lots.iter().map(|l| (&l.lot, l.quantity)).collect();
        self.ship(
            &d.shipment,
            &parts,
            &d.consignee,
            d.carrier.as_ref(),
            &[
                ("from", Some(&d.from)),
                ("to", Some(&d.to)),
                ("tlc_source", d.kdes.tlc_source.as_ref()),
            ],
            changes,
        )
    }

    /// Puts `parts` of lots (all the author holds where no quantity is
    /// given) in a new shipment, whose id and `places` name only keys
    /// of its parties (see `keys`).
    fn ship(
        &self,
        shipment: &ShipmentId,
        parts: &[(&LotId, Option<Quantity>)],
        consignee: &PublicKey,
        carrier: Option<&PublicKey>,
        places: &[(&'static str, Option<&Location>)],
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        if self.view.shipment(shipment).is_some() {
            return Err(RuleError::ShipmentExists(shipment.clone()));
        }
        if same_member(self.view, consignee, self.author) {
            return Err(RuleError::BadCounterparty {
                what: "consignee",
                key: *consignee,
                problem: "is the sender; a shipment goes to someone else".into(),
            });
        }
        self.counterparty("consignee", consignee, None)?;
        if let Some(c) = carrier {
            self.counterparty("carrier", c, Some(Role::Carrier))?;
        }
        for (id, want) in parts {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            let held = self.held_by_author(id, &lot)?;
            let q = match want {
                None => held,
                Some(q) => self.in_lot_unit(id, &lot, *q)?,
            };
            if q > held {
                return Err(RuleError::Quantity(format!(
                    "lot {id}: {q} {} to ship, but `{}` holds {held} {}",
                    lot.unit.code(),
                    self.author_spec.name,
                    lot.unit.code()
                )));
            }
            lot.take_held(self.view, self.author, q);
            lot.add_holding(*self.author, Some(shipment.clone()), q);
            changes.lots.insert((*id).clone(), lot);
        }
        if shipment.sscc().is_some() || has_gln(places) {
            let (producers, unjudged) = self.producers_of(changes, parts.iter().map(|(l, _)| *l));
            let parties = Parties {
                members: std::iter::once(*consignee)
                    .chain(carrier.copied())
                    .collect(),
                producers,
                unjudged,
            };
            self.check_shipment_id(shipment, &parties)?;
            self.check_places(places, &parties, SHIPMENT_PARTIES)?;
        }
        changes.shipments.insert(
            shipment.clone(),
            ShipmentState {
                sender: *self.author,
                consignee: *consignee,
                carrier: carrier.copied(),
                lots: parts.iter().map(|(l, _)| (*l).clone()).collect(),
                stage: ShipmentStage::Dispatched,
                dispatched_by: self.id,
                latest_step: None,
                readings: Vec::new(),
            },
        );
        Ok(())
    }

    /// `q` in the lot's unit, refusing units that do not convert and zero.
    pub(super) fn in_lot_unit(
        &self,
        id: &LotId,
        lot: &LotState,
        q: Quantity,
    ) -> Result<Decimal3, RuleError> {
        let v = quantity::convert(q, lot.unit).map_err(|e| {
            RuleError::Quantity(format!("lot {id} is counted in {}: {e}", lot.unit.code()))
        })?;
        Ok(v)
    }

    /// Applies a [`Receive`] body: the carrier or the consignee takes the
    /// lots whole (the consignee's receipt delivers them).
    pub(super) fn receive(&self, r: &Receive, changes: &mut Changes) -> Result<(), RuleError> {
        self.take_over(&r.shipment, &[], &[("at", Some(&r.at))], changes)
    }

    /// Applies a [`ReceiveV2`] body: as a [`Receive`], with what did not
    /// arrive of some lots recorded as lost, with its cause.
    pub(super) fn receive_v2(&self, r: &ReceiveV2, changes: &mut Changes) -> Result<(), RuleError> {
        self.take_over(
            &r.shipment,
            &r.lots,
            &[
                ("at", Some(&r.at)),
                ("tlc_source", r.kdes.tlc_source.as_ref()),
            ],
            changes,
        )
    }

    /// The author (consignee or carrier) takes over a shipment; `partial`
    /// lists lots that did not arrive whole; `places` name only places of
    /// the shipment's parties (see `keys`).
    fn take_over(
        &self,
        shipment: &ShipmentId,
        partial: &[ReceivedLot],
        places: &[(&'static str, Option<&Location>)],
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut s = self.open_shipment(shipment, "receive")?;
        let delivered = same_member(self.view, &s.consignee, self.author);
        if let Some(p) = partial.iter().find(|p| !s.lots.contains(&p.lot)) {
            return Err(RuleError::Quantity(format!(
                "lot {} is not in shipment {shipment}; a receipt lists only the shipment's lots",
                p.lot
            )));
        }
        // What a correction of this step needs: a receipt's quantities
        // (merged into the consignee's holdings, they are not found
        // apart again), and any take-over's losses.
        let mut step_lots = Vec::new();
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            let Some(part) = lot.take_shipment(shipment) else {
                continue;
            };
            let (received, lost) = match partial.iter().find(|p| &p.lot == id) {
                None => (part.quantity, Decimal3::ZERO),
                Some(p) => self.accounted(id, &lot, part.quantity, p)?,
            };
            lot.lost = lot.lost.checked_add(lost).unwrap_or(Decimal3::MAX);
            let place = if delivered {
                None
            } else {
                Some(shipment.clone())
            };
            lot.add_holding(*self.author, place, received);
            changes.lots.insert(id.clone(), lot);
            if delivered || !lost.is_zero() {
                step_lots.push(StepLot {
                    lot: id.clone(),
                    received,
                    lost,
                });
            }
        }
        if has_gln(places) {
            self.check_places(
                places,
                &self.shipment_parties(&s, changes),
                SHIPMENT_PARTIES,
            )?;
        }
        let (kind, from) = match (delivered, s.stage, s.carrier) {
            (false, _, _) => (StepKind::TakeOver, s.sender),
            (true, ShipmentStage::WithCarrier, Some(c)) => (StepKind::ReceiptFromCarrier, c),
            (true, _, _) => (StepKind::ReceiptFromSender, s.sender),
        };
        s.latest_step = Some(LatestStep::new(self.id, kind, from, step_lots));
        s.stage = kind.stage_after();
        changes.shipments.insert(shipment.clone(), s);
        Ok(())
    }

    /// What arrived and what was lost of a lot of which `shipped` was in
    /// the shipment: the two must add up to it exactly.
    fn accounted(
        &self,
        id: &LotId,
        lot: &LotState,
        shipped: Decimal3,
        p: &ReceivedLot,
    ) -> Result<(Decimal3, Decimal3), RuleError> {
        let unit = lot.unit.code();
        let received = self.in_lot_unit(id, lot, p.received)?;
        let lost = match &p.shortfall {
            Some(s) => self.in_lot_unit(id, lot, s.quantity)?,
            None => Decimal3::ZERO,
        };
        let total = received.checked_add(lost).unwrap_or(Decimal3::MAX);
        if total > shipped {
            return Err(RuleError::Quantity(format!(
                "lot {id}: the receipt accounts for {total} {unit} ({received} received, {lost} short), more than the {shipped} {unit} shipped"
            )));
        }
        if total < shipped {
            let missing = Decimal3::from_milli(shipped.milli() - total.milli());
            return Err(RuleError::Quantity(format!(
                "lot {id}: {shipped} {unit} were shipped but the receipt accounts for {total} {unit}; record the missing {missing} {unit} as a shortfall with its cause"
            )));
        }
        Ok((received, lost))
    }

    /// Applies a [`Reject`] body: what is left of the lots goes back to
    /// the sender.
    pub(super) fn reject(&self, r: &Reject, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.open_shipment(&r.shipment, "reject")?;
        self.return_to_sender(&r.shipment, &s, changes)?;
        s.stage = ShipmentStage::Rejected;
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }

    /// Moves every lot's part in `shipment` back to its sender, held.
    pub(super) fn return_to_sender(
        &self,
        shipment: &ShipmentId,
        s: &ShipmentState,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            if let Some(part) = lot.take_shipment(shipment) {
                lot.add_holding(s.sender, None, part.quantity);
            }
            changes.lots.insert(id.clone(), lot);
        }
        Ok(())
    }

    /// Refuses a consignee or carrier that is not an active member able
    /// to take custody (`role`, or any goods role).
    pub(super) fn counterparty(
        &self,
        what: &'static str,
        key: &PublicKey,
        role: Option<Role>,
    ) -> Result<(), RuleError> {
        let bad = |problem: String| RuleError::BadCounterparty {
            what,
            key: *key,
            problem,
        };
        let m = self
            .view
            .member(key)
            .ok_or_else(|| bad("is not a member of this chain".into()))?;
        if !m.active() {
            return Err(bad(format!(
                "(`{}`) was removed from the chain",
                m.spec.name
            )));
        }
        let ok = match role {
            Some(r) => m.spec.has(r),
            None => m.spec.roles.iter().any(|r| r.handles_goods()),
        };
        if !ok {
            return Err(bad(format!(
                "(`{}`) cannot take custody: it has {}",
                m.spec.name,
                roles_text(&m.spec.roles)
            )));
        }
        Ok(())
    }

    /// The shipment a receipt or rejection names, if it is still open and
    /// the author is its consignee (or, while dispatched, its carrier).
    fn open_shipment(
        &self,
        id: &ShipmentId,
        action: &'static str,
    ) -> Result<ShipmentState, RuleError> {
        let s = self.existing_open_shipment(id)?;
        let is_consignee = same_member(self.view, &s.consignee, self.author);
        let is_carrier = s.stage == ShipmentStage::Dispatched
            && s.carrier
                .as_ref()
                .is_some_and(|c| same_member(self.view, c, self.author));
        if !is_consignee && !is_carrier {
            return Err(RuleError::NotConsignee {
                shipment: id.clone(),
                action,
                author: self.author_spec.name.clone(),
                consignee: name_of(self.view, &s.consignee),
                carrier: match (&s.carrier, s.stage) {
                    (Some(c), ShipmentStage::Dispatched) => {
                        format!(" or its carrier `{}`", name_of(self.view, c))
                    }
                    _ => String::new(),
                },
            });
        }
        Ok(s)
    }

    /// The parties to shipment `s` (sender, consignee, the carrier that
    /// has it) and the producers of its lots, whose places its steps may
    /// name.
    pub(super) fn shipment_parties(&self, s: &ShipmentState, changes: &Changes) -> Parties {
        let (producers, unjudged) = self.producers_of(changes, &s.lots);
        Parties {
            members: [s.sender, s.consignee]
                .into_iter()
                .chain(s.carrier)
                .collect(),
            producers,
            unjudged,
        }
    }

    /// The shipment, if it exists and is still open.
    pub(super) fn existing_open_shipment(
        &self,
        id: &ShipmentId,
    ) -> Result<ShipmentState, RuleError> {
        let s = self.existing_shipment(id)?;
        if !s.stage.open() {
            return Err(RuleError::ShipmentClosed {
                shipment: id.clone(),
                stage: s.stage.as_str(),
            });
        }
        Ok(s)
    }
}
