//! The lookup indexes, kept in memory beside the state.
//!
//! A block's index additions are written as part of its one delta value
//! (see `append.rs`), never as a key per entry, and folded into
//! occasional snapshots; the id index is rebuilt from each block's id list
//! when the ledger opens.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashTable;

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
    pub(crate) lots: Vec<(LotId, Vec<u32>)>,
    pub(crate) shipments: Vec<(ShipmentId, Vec<u32>)>,
    pub(crate) payments: Vec<(Uetr, Vec<u32>)>,
    pub(crate) authors: Vec<(PublicKey, Vec<u32>)>,
    pub(crate) made_from: Vec<(LotId, LotId)>,
    pub(crate) membership: Vec<u32>,
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

/// Entry id → position, in memory. Every entry is numbered in chain order
/// (its ordinal); the index keeps each entry's id prefix (its first 8
/// bytes, already uniformly random) by ordinal, where each block starts,
/// and a hash table of ordinals hashed by prefix. That is 8 bytes per entry
/// plus 4 per table slot. A lookup yields every ordinal with the same
/// prefix; the caller confirms each against the block's id list, so a
/// collision (by chance or by grinding) costs a second look, never a wrong
/// answer.
#[derive(Debug, Default, Clone)]
pub(crate) struct IdIndex {
    prefixes: Vec<u64>,
    /// `starts[h - 1]`: the ordinal of block `h`'s first entry.
    starts: Vec<u64>,
    table: HashTable<u32>,
}

pub(crate) fn prefix(id: &EntryId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

impl IdIndex {
    /// Adds the next block's ids (block `starts.len() + 1`).
    pub(crate) fn push_block(&mut self, ids: impl ExactSizeIterator<Item = EntryId>) {
        self.push_prefixes(ids.map(|id| prefix(&id)));
    }

    /// Adds the next block's ids by their prefixes.
    pub(crate) fn push_prefixes(&mut self, block: impl ExactSizeIterator<Item = u64>) {
        let IdIndex {
            prefixes,
            starts,
            table,
        } = self;
        starts.push(prefixes.len() as u64);
        table.reserve(block.len(), |&o| {
            prefixes.get(o as usize).copied().unwrap_or_default()
        });
        for hash in block {
            let ordinal = u32::try_from(prefixes.len()).unwrap_or(u32::MAX);
            prefixes.push(hash);
            let prefixes = &*prefixes;
            table.insert_unique(hash, ordinal, |&o| {
                prefixes.get(o as usize).copied().unwrap_or_default()
            });
        }
    }

    /// The prefixes and block starts, for a snapshot.
    pub(crate) fn stored(&self) -> (&[u64], &[u64]) {
        (&self.prefixes, &self.starts)
    }

    /// Rebuilds from a snapshot's prefixes and block starts.
    pub(crate) fn from_stored(prefixes: Vec<u64>, starts: Vec<u64>) -> Result<Self, String> {
        let ordered = starts.first().is_none_or(|&s| s == 0)
            && starts.windows(2).all(|w| w[0] <= w[1])
            && starts.last().is_none_or(|&s| s <= prefixes.len() as u64);
        if !ordered || (starts.is_empty() && !prefixes.is_empty()) {
            return Err("its entry id index is malformed".into());
        }
        let mut table = HashTable::with_capacity(prefixes.len());
        for (o, &p) in prefixes.iter().enumerate() {
            let o = u32::try_from(o).map_err(|_| "its entry id index is too large".to_string())?;
            table.insert_unique(p, o, |&o| {
                prefixes.get(o as usize).copied().unwrap_or_default()
            });
        }
        Ok(IdIndex {
            prefixes,
            starts,
            table,
        })
    }

    /// Blocks indexed.
    pub(crate) fn blocks(&self) -> u64 {
        self.starts.len() as u64
    }

    /// Entries indexed.
    pub(crate) fn entries(&self) -> u64 {
        self.prefixes.len() as u64
    }

    /// Entries in blocks 1 to `height`, if those blocks are indexed.
    pub(crate) fn entries_through(&self, height: u64) -> Option<u64> {
        match height.cmp(&self.blocks()) {
            std::cmp::Ordering::Less => self.starts.get(usize::try_from(height).ok()?).copied(),
            std::cmp::Ordering::Equal => Some(self.entries()),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// Candidate positions for `id`: every entry with its prefix.
    pub(crate) fn candidates(&self, id: &EntryId) -> impl Iterator<Item = Position> + '_ {
        let p = prefix(id);
        self.table
            .iter_hash(p)
            .filter(move |&&o| self.prefixes.get(o as usize) == Some(&p))
            .filter_map(|&o| self.position(u64::from(o)))
    }

    fn position(&self, ordinal: u64) -> Option<Position> {
        let h = self.starts.partition_point(|&s| s <= ordinal);
        let start = self.starts.get(h.checked_sub(1)?)?;
        Some((h as u64, u32::try_from(ordinal - start).ok()?))
    }
}

impl PartialEq for IdIndex {
    fn eq(&self, other: &Self) -> bool {
        self.prefixes == other.prefixes && self.starts == other.starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::crypto::Hash32;

    fn id(prefix: u64, rest: u8) -> EntryId {
        let mut b = [rest; 32];
        b[..8].copy_from_slice(&prefix.to_be_bytes());
        Hash32(b)
    }

    #[test]
    fn positions_survive_empty_blocks_and_growth() {
        let mut ids = IdIndex::default();
        let mut all = Vec::new();
        for h in 1..=300u64 {
            // Every third block is empty; the others grow, to force rehashes.
            let n = if h % 3 == 0 { 0 } else { h as usize % 50 };
            let block: Vec<EntryId> = (0..n).map(|i| id(h * 1000 + i as u64, 1)).collect();
            all.extend(block.iter().enumerate().map(|(i, e)| (*e, (h, i as u32))));
            ids.push_block(block.into_iter());
        }
        for (e, pos) in &all {
            assert_eq!(ids.candidates(e).collect::<Vec<_>>(), vec![*pos]);
        }
        assert_eq!(ids.candidates(&id(7, 1)).count(), 0);
    }

    #[test]
    fn the_stored_form_round_trips_and_bad_ones_are_refused() {
        let mut ids = IdIndex::default();
        ids.push_block([id(1, 1), id(2, 1)].into_iter());
        ids.push_block([].into_iter());
        ids.push_block([id(3, 1)].into_iter());
        let (p, s) = ids.stored();
        let back = IdIndex::from_stored(p.to_vec(), s.to_vec()).expect("reloads");
        assert_eq!(back, ids);
        assert_eq!(back.blocks(), 3);
        assert_eq!(back.candidates(&id(3, 1)).collect::<Vec<_>>(), vec![(3, 0)]);
        for (prefixes, starts) in [
            (vec![1, 2, 3], vec![1, 2, 2]),
            (vec![1, 2, 3], vec![0, 2, 1]),
            (vec![1, 2, 3], vec![0, 2, 4]),
            (vec![1], vec![]),
        ] {
            assert!(IdIndex::from_stored(prefixes, starts).is_err());
        }
    }

    #[test]
    fn ids_sharing_a_prefix_are_all_candidates() {
        let mut ids = IdIndex::default();
        ids.push_block([id(42, 1), id(43, 1)].into_iter());
        ids.push_block([].into_iter());
        ids.push_block([id(42, 2)].into_iter());
        // Both entries filed under prefix 42 come back, for the caller to
        // tell apart by the full id.
        let mut found: Vec<_> = ids.candidates(&id(42, 9)).collect();
        found.sort();
        assert_eq!(found, vec![(1, 0), (3, 0)]);
        assert_eq!(ids.candidates(&id(43, 1)).collect::<Vec<_>>(), vec![(1, 1)]);
    }
}
