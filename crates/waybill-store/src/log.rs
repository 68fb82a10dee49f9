//! The ledger's log on disk: the RFC 6962 tree over every entry id in
//! chain order (see [`waybill_core::checkpoint`]), kept as its *stored
//! hashes*, about two per entry: each block's batch holds the ones its
//! entries added, under `ns::LOG ‖ height` (one value per block, so a
//! block stays a fixed handful of keys).
//!
//! Appending reads only the tree's *frontier*, the roots of the complete
//! subtrees along its right edge (one per set bit of the size, at most
//! 64), which the ledger keeps in memory ([`Frontier`]); the root of the
//! whole tree is made from them too. Proofs read older hashes from the
//! blocks that stored them.

use std::cell::RefCell;

use tlog_tiles::{stored_hash_count, stored_hash_index, Hash, HashReader};
use waybill_core::block::Header;
use waybill_core::checkpoint::{self, Checkpoint};
use waybill_core::crypto::Hash32;
use waybill_core::entry::EntryId;
use waybill_core::genesis::ChainId;

use crate::backend::Backend;
use crate::error::StoreError;
use crate::index::IdIndex;
use crate::keys::{self, ns};

/// The stored indexes of the frontier of a tree of `size` leaves: the
/// root of each complete subtree along its right edge, largest first.
fn frontier_indexes(size: u64) -> Vec<u64> {
    (0..64u8)
        .rev()
        .filter(|level| size & (1u64 << level) != 0)
        .map(|level| stored_hash_index(level, (size >> level) - 1))
        .collect()
}

/// The frontier of the log at its current size.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frontier {
    size: u64,
    /// `(stored index, hash)`, in [`frontier_indexes`] order.
    nodes: Vec<(u64, Hash)>,
}

/// Reads stored hashes: a block's new ones (`pending`, from stored index
/// `base` on), then the frontier, then, only if asked for anything else,
/// the blocks on disk.
struct Reader<'a, B: Backend> {
    disk: Option<&'a Disk<'a, B>>,
    frontier: &'a Frontier,
    base: u64,
    pending: &'a [Hash],
}

impl<B: Backend> HashReader for Reader<'_, B> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                if i >= self.base {
                    return usize::try_from(i - self.base)
                        .ok()
                        .and_then(|k| self.pending.get(k).copied())
                        .ok_or(tlog_tiles::Error::IndexesNotInTree);
                }
                if let Some((_, h)) = self.frontier.nodes.iter().find(|(at, _)| *at == i) {
                    return Ok(*h);
                }
                match self.disk {
                    Some(d) => d.hash(i),
                    None => Err(tlog_tiles::Error::IndexesNotInTree),
                }
            })
            .collect()
    }
}

/// Stored hashes read from the blocks on disk.
struct Disk<'a, B: Backend> {
    backend: &'a B,
    ids: &'a IdIndex,
    /// Why a read failed, kept to be reported as a store error.
    failed: RefCell<Option<StoreError>>,
}

impl<'a, B: Backend> Disk<'a, B> {
    fn new(backend: &'a B, ids: &'a IdIndex) -> Self {
        Disk {
            backend,
            ids,
            failed: RefCell::new(None),
        }
    }

    /// The first stored index of block `height`'s hashes.
    fn first_index(&self, height: u64) -> Option<u64> {
        self.ids
            .entries_through(height.checked_sub(1)?)
            .map(stored_hash_count)
    }

    /// Stored hash `i`, from the block that stored it.
    fn hash(&self, i: u64) -> Result<Hash, tlog_tiles::Error> {
        let fail = |e: StoreError| {
            self.failed.borrow_mut().get_or_insert(e);
            tlog_tiles::Error::IndexesNotInTree
        };
        // The block: the first whose hashes end after `i` (it added
        // some, and its first is at most `i`).
        let end = |h: u64| self.ids.entries_through(h).map(stored_hash_count);
        let (mut lo, mut hi) = (1u64, self.ids.blocks());
        if hi == 0 || end(hi).is_none_or(|e| e <= i) {
            return Err(tlog_tiles::Error::IndexesNotInTree);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if end(mid).is_some_and(|e| e > i) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let height = lo;
        let first = self
            .first_index(height)
            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
        let at = usize::try_from(i - first)
            .ok()
            .and_then(|k| k.checked_mul(32))
            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
        // Only the 32 bytes are copied out of the block's value (up to
        // two hashes per entry of the block).
        let found = self
            .backend
            .read(&keys::at_height(ns::LOG, height), |v| {
                v.get(at..at + 32)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
            })
            .map_err(fail)?;
        match found {
            Some(Some(h)) => Ok(Hash(h)),
            Some(None) => Err(fail(StoreError::Corrupt(format!(
                "block {height}'s log hashes are cut short"
            )))),
            None => Err(fail(StoreError::Corrupt(format!(
                "block {height}'s log hashes are missing"
            )))),
        }
    }

    fn error(&self, e: tlog_tiles::Error, what: &str) -> StoreError {
        self.failed
            .borrow_mut()
            .take()
            .unwrap_or_else(|| StoreError::Backend(format!("internal: the log's {what}: {e}")))
    }
}

impl Frontier {
    /// Leaves in the log.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The root of the whole log.
    pub(crate) fn root(&self) -> Hash32 {
        let r = Reader::<crate::backend::MemBackend> {
            disk: None,
            frontier: self,
            base: stored_hash_count(self.size),
            pending: &[],
        };
        // The root reads exactly the frontier, which is all here.
        match tlog_tiles::tree_hash(self.size, &r) {
            Ok(h) => Hash32(h.0),
            Err(_) => Hash32(tlog_tiles::EMPTY_HASH.0),
        }
    }

    /// The checkpoint of this log on `chain`, brought to its size by the
    /// block of `header`, with the completeness index at `index`.
    pub(crate) fn checkpoint(&self, chain: &ChainId, header: &Header, index: Hash32) -> Checkpoint {
        Checkpoint {
            origin: checkpoint::origin(chain),
            size: self.size,
            root: self.root(),
            height: header.height,
            block: header.hash(),
            index,
        }
    }

    /// Reads the frontier of a log of `size` leaves from the blocks on
    /// disk (opening a ledger).
    pub(crate) fn load<B: Backend>(
        backend: &B,
        ids: &IdIndex,
        size: u64,
    ) -> Result<Frontier, StoreError> {
        let disk = Disk::new(backend, ids);
        let nodes = frontier_indexes(size)
            .into_iter()
            .map(|i| Ok((i, disk.hash(i).map_err(|e| disk.error(e, "frontier"))?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Frontier { size, nodes })
    }

    /// The hashes a block's entries add to the log (the value to store
    /// under the block's height, empty for none) and the frontier after.
    pub(crate) fn append(&self, ids: &[EntryId]) -> Result<(Vec<u8>, Frontier), StoreError> {
        let base = stored_hash_count(self.size);
        let mut pending: Vec<Hash> = Vec::with_capacity(ids.len() * 2 + 64);
        for (n, id) in (self.size..).zip(ids) {
            let r = Reader::<crate::backend::MemBackend> {
                disk: None,
                frontier: self,
                base,
                pending: &pending,
            };
            let added = tlog_tiles::stored_hashes(n, &id.0, &r)
                .map_err(|e| StoreError::Backend(format!("internal: appending to the log: {e}")))?;
            pending.extend(added);
        }
        let size = self.size + ids.len() as u64;
        let r = Reader::<crate::backend::MemBackend> {
            disk: None,
            frontier: self,
            base,
            pending: &pending,
        };
        let indexes = frontier_indexes(size);
        let hashes = r
            .read_hashes(&indexes)
            .map_err(|e| StoreError::Backend(format!("internal: the log's new frontier: {e}")))?;
        let value = pending.iter().flat_map(|h| h.0).collect();
        Ok((
            value,
            Frontier {
                size,
                nodes: indexes.into_iter().zip(hashes).collect(),
            },
        ))
    }
}

/// Proofs over the log as stored, for a ledger of `ids`.
pub(crate) struct Proofs<'a, B: Backend> {
    disk: Disk<'a, B>,
    frontier: &'a Frontier,
}

impl<'a, B: Backend> Proofs<'a, B> {
    pub(crate) fn new(backend: &'a B, ids: &'a IdIndex, frontier: &'a Frontier) -> Self {
        Proofs {
            disk: Disk::new(backend, ids),
            frontier,
        }
    }

    fn reader(&self) -> Reader<'_, B> {
        Reader {
            disk: Some(&self.disk),
            frontier: self.frontier,
            base: stored_hash_count(self.frontier.size),
            pending: &[],
        }
    }

    fn within(&self, size: u64) -> Result<(), StoreError> {
        if size > self.frontier.size {
            return Err(StoreError::Log(format!(
                "a log of {size} entries (the log has {})",
                self.frontier.size
            )));
        }
        Ok(())
    }

    /// The root of the log's first `size` entries.
    pub(crate) fn root(&self, size: u64) -> Result<Hash32, StoreError> {
        self.within(size)?;
        tlog_tiles::tree_hash(size, &self.reader())
            .map(|h| Hash32(h.0))
            .map_err(|e| self.disk.error(e, "root"))
    }

    /// The proof that entry `index` is in the log's first `size`.
    pub(crate) fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash32>, StoreError> {
        self.within(size)?;
        if index >= size {
            return Err(StoreError::Log(format!(
                "entry {index} of a log of {size} entries"
            )));
        }
        tlog_tiles::prove_record(size, index, &self.reader())
            .map(|p| p.into_iter().map(|h| Hash32(h.0)).collect())
            .map_err(|e| self.disk.error(e, "inclusion proof"))
    }

    /// The proof that the log's first `old` entries are a prefix of its
    /// first `new`.
    pub(crate) fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash32>, StoreError> {
        self.within(new)?;
        if old > new {
            return Err(StoreError::Log(format!(
                "a proof from {old} entries back to {new}"
            )));
        }
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        tlog_tiles::prove_tree(new, old, &self.reader())
            .map(|p| p.into_iter().map(|h| Hash32(h.0)).collect())
            .map_err(|e| self.disk.error(e, "consistency proof"))
    }
}
