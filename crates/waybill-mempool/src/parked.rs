//! The waiting rooms for entries from peers that cannot join the pool
//! yet: parked entries, ahead of their author's next nonce ([`Parked`]),
//! and what an orphan, an entry naming a lot or shipment not known yet,
//! waits for ([`Awaited`]).
//!
//! Gossip keeps neither one author's order nor the order of entries by
//! different authors, so a peer's entry may arrive before the entry it
//! follows. [`crate::from_peer`] moves entries in and out of these rooms.

use std::collections::{BTreeMap, HashSet};

use waybill_core::crypto::PublicKey;
use waybill_core::entry::EntryId;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules::RuleError;
use waybill_core::state::View;

use crate::error::MempoolError;
use crate::slot::Waiting;

/// What an orphan waits for: a lot or shipment not known yet.
#[derive(Debug, Clone)]
pub(crate) enum Awaited {
    Lot(LotId),
    Shipment(ShipmentId),
}

impl Awaited {
    /// What a peer's entry refused for `e` waits for, if another author's
    /// entry may make it pass.
    pub(crate) fn of(e: &MempoolError) -> Option<Self> {
        match e {
            MempoolError::Rule(RuleError::UnknownLot(l)) => Some(Awaited::Lot(l.clone())),
            MempoolError::Rule(RuleError::UnknownShipment(s)) => Some(Awaited::Shipment(s.clone())),
            _ => None,
        }
    }

    /// Whether `view` holds it now.
    pub(crate) fn is_in(&self, view: &dyn View) -> bool {
        match self {
            Awaited::Lot(l) => view.lot(l).is_some(),
            Awaited::Shipment(s) => view.shipment(s).is_some(),
        }
    }
}

/// Parked entries by author and nonce, with the set of their ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parked {
    pub(crate) by_key: BTreeMap<(PublicKey, u64), Waiting>,
    pub(crate) ids: HashSet<EntryId>,
}

impl Parked {
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Parks `w`, replacing an entry parked for the same author and nonce.
    pub(crate) fn insert(&mut self, key: (PublicKey, u64), w: Waiting) {
        let id = w.id;
        if let Some(old) = self.by_key.insert(key, w) {
            self.ids.remove(&old.id);
        }
        self.ids.insert(id);
    }

    pub(crate) fn remove(&mut self, key: &(PublicKey, u64)) -> Option<Waiting> {
        let w = self.by_key.remove(key)?;
        self.ids.remove(&w.id);
        Some(w)
    }
}
