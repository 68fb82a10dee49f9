//! Moving goods between members: dispatching a shipment, and receiving
//! or rejecting it at the other end.

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use super::permission::roles_text;
use crate::crypto::PublicKey;
use crate::entry::{Dispatch, Receive, Reject};
use crate::genesis::Role;
use crate::gs1::ShipmentId;
use crate::state::{same_member, Changes, LotStatus, ShipmentStage, ShipmentState, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Dispatch`] body: the lots go in transit.
    pub(super) fn dispatch(&self, d: &Dispatch, changes: &mut Changes) -> Result<(), RuleError> {
        if self.view.shipment(&d.shipment).is_some() {
            return Err(RuleError::ShipmentExists(d.shipment.clone()));
        }
        if same_member(self.view, &d.consignee, self.author) {
            return Err(RuleError::BadCounterparty {
                what: "consignee",
                key: d.consignee,
                problem: "is the sender; a shipment goes to someone else".into(),
            });
        }
        self.counterparty("consignee", &d.consignee, None)?;
        if let Some(c) = &d.carrier {
            self.counterparty("carrier", c, Some(Role::Carrier))?;
        }
        for id in &d.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            self.held_by_author(id, &lot)?;
            lot.status = LotStatus::InTransit {
                shipment: d.shipment.clone(),
            };
            changes.lots.insert(id.clone(), lot);
        }
        changes.shipments.insert(
            d.shipment.clone(),
            ShipmentState {
                sender: *self.author,
                consignee: d.consignee,
                carrier: d.carrier,
                lots: d.lots.clone(),
                stage: ShipmentStage::Dispatched,
            },
        );
        Ok(())
    }

    /// Applies a [`Receive`] body: the carrier or the consignee takes the
    /// lots (the consignee's receipt delivers them).
    pub(super) fn receive(&self, r: &Receive, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.open_shipment(&r.shipment, "receive")?;
        let delivered = same_member(self.view, &s.consignee, self.author);
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            lot.custodian = *self.author;
            if delivered {
                lot.status = LotStatus::Held;
            }
            changes.lots.insert(id.clone(), lot);
        }
        s.stage = if delivered {
            ShipmentStage::Delivered
        } else {
            ShipmentStage::WithCarrier
        };
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }

    /// Applies a [`Reject`] body: the lots go back to the sender.
    pub(super) fn reject(&self, r: &Reject, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.open_shipment(&r.shipment, "reject")?;
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            lot.custodian = s.sender;
            lot.status = LotStatus::Held;
            changes.lots.insert(id.clone(), lot);
        }
        s.stage = ShipmentStage::Rejected;
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }

    /// Refuses a consignee or carrier that is not an active member able
    /// to take custody (`role`, or any goods role).
    fn counterparty(
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
        let s = self
            .view
            .shipment(id)
            .ok_or_else(|| RuleError::UnknownShipment(id.clone()))?;
        if !s.stage.open() {
            return Err(RuleError::ShipmentClosed {
                shipment: id.clone(),
                stage: match s.stage {
                    ShipmentStage::Delivered => "delivered",
                    _ => "rejected",
                },
            });
        }
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
        Ok(s.into_owned())
    }
}
