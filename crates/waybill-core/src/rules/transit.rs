//! A shipment on its way: passing from one carrier to the next (each
//! handover signed by both, at a place of a party or a public one), and
//! the sensor readings taken on it.

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use super::keys::{has_gln, SHIPMENT_PARTIES};
use crate::entry::{Handover, Readings};
use crate::genesis::Role;
use crate::state::{same_member, Changes, LatestStep, ReadingsMark, ShipmentStage, StepKind, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Handover`] body: the shipment's parts pass from the
    /// carrier holding it (the author) to the next, who co-signs.
    pub(super) fn handover(&self, h: &Handover, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.existing_open_shipment(&h.shipment)?;
        let current = match (s.stage, s.carrier) {
            (ShipmentStage::WithCarrier, Some(c)) => c,
            _ => {
                return Err(RuleError::Handover(format!(
                    "shipment {} is not with a carrier yet; its first carrier takes it over with a receipt",
                    h.shipment
                )))
            }
        };
        if !same_member(self.view, &current, self.author) {
            return Err(RuleError::Handover(format!(
                "`{}` cannot hand over shipment {}: it is with `{}`",
                self.author_spec.name,
                h.shipment,
                name_of(self.view, &current)
            )));
        }
        if same_member(self.view, &h.to, self.author) {
            return Err(RuleError::Handover(
                "a handover goes to another carrier, not to the one holding the shipment".into(),
            ));
        }
        self.counterparty("next carrier", &h.to, Some(Role::Carrier))?;
        let cosigners: Vec<_> = self.entry.cosignatures.iter().map(|c| c.signer).collect();
        if cosigners != [h.to] {
            return Err(RuleError::Handover(format!(
                "a handover of shipment {} must be co-signed by the next carrier `{}` and by no one else (it has {} co-signature(s)); collect it with `waybill cosign`",
                h.shipment,
                name_of(self.view, &h.to),
                cosigners.len()
            )));
        }
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            if let Some(part) = lot.take_shipment(&h.shipment) {
                lot.add_holding(h.to, Some(h.shipment.clone()), part.quantity);
            }
            changes.lots.insert(id.clone(), lot);
        }
        let places = [("at", Some(&h.at))];
        if has_gln(&places) {
            let mut parties = self.shipment_parties(&s, changes);
            parties.members.push(h.to);
            self.check_places(&places, &parties, SHIPMENT_PARTIES)?;
        }
        s.carrier = Some(h.to);
        s.latest_step = Some(LatestStep::new(
            self.id,
            StepKind::Handover,
            current,
            Vec::new(),
        ));
        changes.shipments.insert(h.shipment.clone(), s);
        Ok(())
    }

    /// Applies a [`Readings`] body: by the shipment's sender, consignee or
    /// current carrier. Each lot of the shipment counts the excursions
    /// outside the declared ranges (and the readings are indexed under
    /// it, so its trail carries them).
    pub(super) fn readings(&self, r: &Readings, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.existing_shipment(&r.shipment)?;
        let party = same_member(self.view, &s.sender, self.author)
            || same_member(self.view, &s.consignee, self.author)
            || s.carrier
                .as_ref()
                .is_some_and(|c| same_member(self.view, c, self.author));
        if !party {
            return Err(RuleError::BadField(format!(
                "`{}` is not a party to shipment {}; readings come from its sender, its consignee or its carrier",
                self.author_spec.name, r.shipment
            )));
        }
        let excursions: usize = r.series.iter().map(|x| x.excursions().len()).sum();
        let excursions = u32::try_from(excursions).unwrap_or(u32::MAX);
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            lot.excursions = lot.excursions.saturating_add(excursions);
            changes.lots.insert(id.clone(), lot);
        }
        // Remembered, so that a correction can strike them.
        s.readings.push(ReadingsMark {
            entry: self.id,
            author: *self.author,
            excursions,
            corrected_by: None,
        });
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }
}
