//! The completeness index (see [`waybill_core::index`]) as the ledger
//! keeps it: the tree of the tip in memory, each block's root on disk
//! (`ns::INDEX ‖ height`, 32 bytes) for the checkpoints of any height.
//!
//! A block's update is worked out from the entries' authors and the
//! rules' effects, the facts the lookup indexes are built from; opening a
//! ledger rebuilds the tree from those indexes and the blocks' entry ids,
//! and checks its root against the tip's stored one.

use waybill_core::crypto::Hash32;
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::index::{
    self, IndexError, IndexKey, IndexUpdate, KeyProof, MemoryIndex, Touched,
};
use waybill_core::rules::Effects;

use crate::backend::Backend;
use crate::compact::unpack;
use crate::error::StoreError;
use crate::index::Position;
use crate::keys::{self, ns};
use crate::ledger::Ledger;
use crate::state::Committed;

fn tree_error(e: IndexError) -> StoreError {
    StoreError::Corrupt(format!("the completeness index: {e}"))
}

/// The update block `height` (with `entries` and their `effects`) makes
/// to `index`.
pub(crate) fn block_update(
    index: &MemoryIndex,
    height: u64,
    entries: &[SignedEntry],
    effects: &[Effects],
) -> Result<IndexUpdate, StoreError> {
    let touches: Vec<(IndexKey, EntryId)> = entries
        .iter()
        .zip(effects)
        .flat_map(|(e, fx)| {
            index::keys_touched(&e.entry.author, fx)
                .into_iter()
                .map(move |k| (k, fx.id))
        })
        .collect();
    index
        .update(height, touches.iter().map(|(k, id)| (k, id)))
        .map_err(tree_error)
}

impl Committed {
    /// Keys in the index: every key some entry touched.
    fn index_keys(&self) -> usize {
        let listed = |lists: &[Vec<u64>]| lists.iter().filter(|l| !l.is_empty()).count();
        listed(&self.lot_positions)
            + listed(&self.ship_positions)
            + self.payment_positions.len()
            + self.author_positions.len()
            + usize::from(!self.membership.is_empty())
    }

    /// Calls `f` with every key of the index and the packed positions of
    /// the entries that touched it, in chain order, one key at a time (a
    /// million keys' worth at once would double the memory of opening).
    fn each_index_touch(
        &self,
        mut f: impl FnMut(IndexKey, &[u64]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for (n, list) in self.lot_positions.iter().enumerate() {
            if let (Some(l), false) = (self.lot_named(n), list.is_empty()) {
                f(IndexKey::Lot(l), list)?;
            }
        }
        for (n, list) in self.ship_positions.iter().enumerate() {
            if let (Some(s), false) = (self.ship_named(n), list.is_empty()) {
                f(IndexKey::Shipment(s), list)?;
            }
        }
        for (p, list) in &self.payment_positions {
            f(IndexKey::Payment(*p), list)?;
        }
        for (a, list) in &self.author_positions {
            f(IndexKey::Author(*a), list)?;
        }
        if !self.membership.is_empty() {
            f(IndexKey::Council, &self.membership)?;
        }
        Ok(())
    }
}

impl<B: Backend> Ledger<B> {
    /// The index of a ledger just opened at `height`: rebuilt from the
    /// lookup indexes and the blocks' entry ids, and checked against the
    /// root stored with the tip.
    pub(crate) fn rebuild_index(&self, height: u64) -> Result<MemoryIndex, StoreError> {
        let mut ids: Vec<Vec<EntryId>> = Vec::with_capacity(usize::try_from(height).unwrap_or(0));
        for h in 1..=height {
            ids.push(
                self.entry_ids(h)?
                    .ok_or_else(|| StoreError::Corrupt(format!("block {h} has no entry list")))?,
            );
        }
        let id_at = |(h, i): Position| -> Result<&EntryId, StoreError> {
            usize::try_from(h)
                .ok()
                .and_then(|h| h.checked_sub(1))
                .and_then(|h| ids.get(h))
                .and_then(|b| b.get(i as usize))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the lookup index names entry {i} of block {h}, which is not there"
                    ))
                })
        };
        let mut values = Vec::with_capacity(self.state.index_keys());
        self.state.each_index_touch(|key, list| {
            let mut t = Touched::default();
            let mut last = None;
            for pos in list.iter().copied().map(unpack) {
                // An entry touches a key once, however often its effects
                // name it.
                if last.replace(pos) != Some(pos) {
                    t = t.with(id_at(pos)?);
                }
            }
            values.push((key.hash(), t));
            Ok(())
        })?;
        let index = MemoryIndex::rebuilt_hashed(height, values).map_err(tree_error)?;
        if height > 0 {
            let stored = self.index_root(height)?.ok_or_else(|| {
                StoreError::Corrupt(format!("block {height} has no completeness index root"))
            })?;
            if stored != index.root() {
                return Err(StoreError::Corrupt(format!(
                    "the completeness index rebuilt at block {height} has root {}, not the stored {}",
                    index.root().to_hex(),
                    stored.to_hex()
                )));
            }
        }
        Ok(index)
    }

    /// The completeness index's root as of block `height` (the empty
    /// index's at 0); `None` beyond the tip.
    pub fn index_root(&self, height: u64) -> Result<Option<Hash32>, StoreError> {
        if height == 0 {
            return Ok(Some(MemoryIndex::new().root()));
        }
        let Some(v) = self.backend.get(&keys::at_height(ns::INDEX, height))? else {
            return Ok(None);
        };
        <[u8; 32]>::try_from(v.as_slice())
            .map(|b| Some(Hash32(b)))
            .map_err(|_| {
                StoreError::Corrupt(format!(
                    "block {height}'s completeness index root is {} bytes, not 32",
                    v.len()
                ))
            })
    }

    /// What touched `key` as of the tip, with its proof under the tip's
    /// index root.
    pub fn prove_touched(&self, key: &IndexKey) -> KeyProof {
        self.index.prove(key)
    }
}
