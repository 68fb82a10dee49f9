//! The lookup indexes, kept in memory beside the state.
//!
//! A block's index additions are written as part of its one delta value
//! (see `ledger.rs`), never as a key per entry, and folded into
//! occasional snapshots; the id index is rebuilt from each block's id list
//! when the ledger opens.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules::Effects;

/// An entry's place on the chain: (height, index in the block).
pub type Position = (u64, u32);

/// What one block adds to the indexes: keys with the indexes (in the
/// block) of the entries that touched them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexDelta {
    lots: Vec<(LotId, Vec<u32>)>,
    shipments: Vec<(ShipmentId, Vec<u32>)>,
    payments: Vec<(Uetr, Vec<u32>)>,
    authors: Vec<(PublicKey, Vec<u32>)>,
    made_from: Vec<(LotId, LotId)>,
    membership: Vec<u32>,
}

fn group<K: Ord>(map: BTreeMap<K, Vec<u32>>) -> Vec<(K, Vec<u32>)> {
    map.into_iter().collect()
}

impl IndexDelta {
    /// The additions of a block's entries and their effects.
    pub(crate) fn of_block(entries: &[SignedEntry], effects: &[Effects]) -> Self {
        let mut lots: BTreeMap<LotId, Vec<u32>> = BTreeMap::new();
        let mut shipments: BTreeMap<ShipmentId, Vec<u32>> = BTreeMap::new();
        let mut payments: BTreeMap<Uetr, Vec<u32>> = BTreeMap::new();
        let mut authors: BTreeMap<PublicKey, Vec<u32>> = BTreeMap::new();
        let mut made_from = BTreeSet::new();
        let mut membership = Vec::new();
        for (i, (e, fx)) in entries.iter().zip(effects).enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            authors.entry(e.entry.author).or_default().push(i);
            for lot in &fx.lots {
                lots.entry(lot.clone()).or_default().push(i);
            }
            for s in &fx.shipments {
                shipments.entry(s.clone()).or_default().push(i);
            }
            if let Some(p) = &fx.payment {
                payments.entry(*p).or_default().push(i);
            }
            made_from.extend(fx.made_from.iter().cloned());
            if fx.membership {
                membership.push(i);
            }
        }
        IndexDelta {
            lots: group(lots),
            shipments: group(shipments),
            payments: group(payments),
            authors: group(authors),
            made_from: made_from.into_iter().collect(),
            membership,
        }
    }
}

/// The indexes by lot, shipment, payment, author, made-from and
/// membership, each in chain order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Index {
    lots: BTreeMap<LotId, Vec<Position>>,
    shipments: BTreeMap<ShipmentId, Vec<Position>>,
    payments: BTreeMap<Uetr, Vec<Position>>,
    authors: BTreeMap<PublicKey, Vec<Position>>,
    made_from: BTreeMap<LotId, BTreeSet<LotId>>,
    membership: Vec<Position>,
}

fn add<K: Ord + Clone>(map: &mut BTreeMap<K, Vec<Position>>, h: u64, adds: &[(K, Vec<u32>)]) {
    for (k, idx) in adds {
        let v = map.entry(k.clone()).or_default();
        v.extend(idx.iter().map(|i| (h, *i)));
    }
}

impl Index {
    /// Folds in block `height`'s additions.
    pub(crate) fn apply(&mut self, height: u64, d: &IndexDelta) {
        add(&mut self.lots, height, &d.lots);
        add(&mut self.shipments, height, &d.shipments);
        add(&mut self.payments, height, &d.payments);
        add(&mut self.authors, height, &d.authors);
        for (input, made) in &d.made_from {
            self.made_from
                .entry(input.clone())
                .or_default()
                .insert(made.clone());
        }
        self.membership
            .extend(d.membership.iter().map(|i| (height, *i)));
    }

    pub(crate) fn by_lot(&self, lot: &LotId) -> &[Position] {
        self.lots.get(lot).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn by_shipment(&self, s: &ShipmentId) -> &[Position] {
        self.shipments.get(s).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn by_payment(&self, p: &Uetr) -> &[Position] {
        self.payments.get(p).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn by_author(&self, a: &PublicKey) -> &[Position] {
        self.authors.get(a).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn made_from(&self, lot: &LotId) -> impl Iterator<Item = &LotId> {
        self.made_from.get(lot).into_iter().flatten()
    }

    pub(crate) fn membership(&self) -> &[Position] {
        &self.membership
    }
}

/// Entry id → position, in memory: the first 8 bytes of the id map to a
/// position, and the rare ids whose first 8 bytes are taken (by chance or
/// by grinding) live in a second, exact map. A hit in the first map is a
/// candidate the caller confirms against the block's id list.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    short: HashMap<u64, Position>,
    full: HashMap<EntryId, Position>,
}

fn prefix(id: &EntryId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

impl IdIndex {
    pub(crate) fn insert(&mut self, id: &EntryId, pos: Position) {
        match self.short.entry(prefix(id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(pos);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.full.insert(*id, pos);
            }
        }
    }

    /// Candidate positions for `id`: the exact one if it had a collision,
    /// then the short-key one.
    pub(crate) fn candidates(&self, id: &EntryId) -> impl Iterator<Item = Position> {
        self.full
            .get(id)
            .copied()
            .into_iter()
            .chain(self.short.get(&prefix(id)).copied())
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.short.reserve(n);
    }
}
