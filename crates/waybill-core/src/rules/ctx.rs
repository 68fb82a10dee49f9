//! The context one entry's body is applied in, and the lookups the
//! goods rules share: a lot's current state and whether the author holds
//! it.

use std::collections::BTreeSet;

use super::error::RuleError;
use crate::crypto::PublicKey;
use crate::entry::EntryId;
use crate::genesis::MemberSpec;
use crate::gs1::LotId;
use crate::state::{same_member, Changes, LotState, LotStatus, View};

/// One entry being applied: the state it reads, its author and where it
/// goes. The body rules are its methods (`produce`, `dispatch`, …).
pub(super) struct Ctx<'a, V: View> {
    pub(super) view: &'a V,
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

    /// Refuses a lot that is consumed, in transit, or held by someone
    /// other than the author.
    pub(super) fn held_by_author(&self, id: &LotId, lot: &LotState) -> Result<(), RuleError> {
        match &lot.status {
            LotStatus::Consumed => return Err(RuleError::LotConsumed(id.clone())),
            LotStatus::InTransit { shipment } => {
                return Err(RuleError::LotInTransit {
                    lot: id.clone(),
                    shipment: shipment.clone(),
                })
            }
            LotStatus::Held => {}
        }
        if !same_member(self.view, &lot.custodian, self.author) {
            return Err(RuleError::NotCustodian {
                lot: id.clone(),
                author: self.author_spec.name.clone(),
                custodian: name_of(self.view, &lot.custodian),
            });
        }
        Ok(())
    }
}

/// A member's name for a message, or the short key when it is unknown.
pub(super) fn name_of<V: View>(view: &V, key: &PublicKey) -> String {
    view.member(key)
        .map(|m| m.spec.name.clone())
        .unwrap_or_else(|| format!("unknown key {}", key.short()))
}
