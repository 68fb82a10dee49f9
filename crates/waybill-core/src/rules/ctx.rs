//! The context one entry's body is applied in, and the lookups the
//! goods rules share: a lot's current state, how much of it the author
//! holds, and whether an admin quorum signed.

use std::collections::BTreeSet;

use super::error::RuleError;
use crate::codes::Decimal3;
use crate::crypto::PublicKey;
use crate::entry::{EntryId, SignedEntry};
use crate::genesis::MemberSpec;
use crate::gs1::{LotId, ShipmentId};
use crate::state::{same_member, Changes, LotState, ShipmentState, View};

/// One entry being applied: the state it reads, its author and where it
/// goes. The body rules are its methods (`produce`, `dispatch`, …).
pub(super) struct Ctx<'a, V: View> {
    pub(super) view: &'a V,
    pub(super) entry: &'a SignedEntry,
    pub(super) author: &'a PublicKey,
    pub(super) author_spec: &'a MemberSpec,
    pub(super) id: EntryId,
    pub(super) height: u64,
    pub(super) scope: Option<&'a BTreeSet<LotId>>,
}

impl<V: View> Ctx<'_, V> {
    /// The lot's current state (pending changes first), or `None` when a
    /// trail leaves it out legitimately.
    pub(super) fn lot(&self, changes: &Changes, id: &LotId) -> Result<Option<LotState>, RuleError> {
        // A trail holds only the history of its scope: a lot outside it (a
        // by-product shipped with an ancestor, say) has a partial history
        // there, so it is not judged at all.
        if self.scope.is_some_and(|s| !s.contains(id)) {
            return Ok(None);
        }
        if let Some(l) = changes.lots.get(id) {
            return Ok(Some(l.clone()));
        }
        if let Some(l) = self.view.lot(id) {
            return Ok(Some(l.into_owned()));
        }
        Err(RuleError::UnknownLot(id.clone()))
    }

    /// A shipment's current state; refuses one that was never dispatched.
    pub(super) fn existing_shipment(&self, id: &ShipmentId) -> Result<ShipmentState, RuleError> {
        self.view
            .shipment(id)
            .map(|s| s.into_owned())
            .ok_or_else(|| RuleError::UnknownShipment(id.clone()))
    }

    /// How much of the lot the author holds (not in transit); refuses a
    /// lot that is voided, used up, all in transit, or held only by
    /// others.
    pub(super) fn held_by_author(&self, id: &LotId, lot: &LotState) -> Result<Decimal3, RuleError> {
        let held = lot.held_by(self.view, self.author);
        if !held.is_zero() {
            return Ok(held);
        }
        if let Some(by) = lot.voided_by {
            return Err(RuleError::LotVoided {
                lot: id.clone(),
                correction: by.short(),
            });
        }
        if lot.holdings.is_empty() {
            return Err(RuleError::LotConsumed(id.clone()));
        }
        if let Some(s) = lot
            .holdings
            .iter()
            .filter(|h| same_member(self.view, &h.holder, self.author))
            .find_map(|h| h.shipment.clone())
        {
            return Err(RuleError::LotInTransit {
                lot: id.clone(),
                shipment: s,
            });
        }
        if let (1, Some(s)) = (
            lot.holdings.len(),
            lot.holdings.first().and_then(|h| h.shipment.clone()),
        ) {
            return Err(RuleError::LotInTransit {
                lot: id.clone(),
                shipment: s,
            });
        }
        Err(RuleError::NotCustodian {
            lot: id.clone(),
            author: self.author_spec.name.clone(),
            custodian: lot
                .holdings
                .iter()
                .map(|h| name_of(self.view, &h.holder))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join("`, `"),
        })
    }

    /// The active admins who signed the entry (author or co-signers), and
    /// how many a quorum needs.
    pub(super) fn admin_signatures(&self) -> (usize, usize, usize) {
        let admins = self.view.active_admins();
        let signed = std::iter::once(self.author)
            .chain(self.entry.cosignatures.iter().map(|c| &c.signer))
            .filter(|k| admins.contains(k))
            .collect::<BTreeSet<_>>()
            .len();
        let need = match self.view.council().admin_threshold {
            Some(t) => t as usize,
            None => admins.len() / 2 + 1,
        };
        (signed, need, admins.len())
    }

    /// Whether an admin quorum signed the entry.
    pub(super) fn admin_quorum(&self) -> bool {
        let (signed, need, _) = self.admin_signatures();
        signed >= need
    }
}

/// A member's name for a message, or the short key when it is unknown.
pub(super) fn name_of<V: View + ?Sized>(view: &V, key: &PublicKey) -> String {
    view.member(key)
        .map(|m| m.spec.name.clone())
        .unwrap_or_else(|| format!("unknown key {}", key.short()))
}
