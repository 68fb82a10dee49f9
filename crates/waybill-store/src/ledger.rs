//! The ledger over a backend: the [`Ledger`] value itself and its plain
//! accessors. What it does is spread over the modules named for each job:
//!
//! - `open.rs`: creating a store, and opening one (snapshot, deltas, tip);
//! - `validate.rs`: checking a block's contents and its rules on the tip;
//! - `append.rs`: committing a block (prepare, write, install);
//! - `snapshot.rs`: writing the state snapshot that opening starts from;
//! - `read.rs`: blocks, headers, certificates and entries by height or id;
//! - `trail.rs`: a lot's trail and recall scope;
//! - `check.rs`: the full, parallel re-verification of the stored chain.
//!
//! # Layout
//!
//! A block is written as four values in one atomic, flushed batch: the
//! canonical block, its header, its *map* (see `block_map.rs`) and its
//! certificate; its *delta* (the state changes and index additions, see
//! `delta.rs`) goes first, durably, to the delta log beside the database
//! (see `delta_log.rs`). Nothing is written per entry, so a block of a
//! thousand entries costs the same handful of keys as a block of one.
//!
//! The state and the lookup indexes live in memory (see `state.rs` and
//! `index.rs`). They are persisted as the logged deltas plus a snapshot
//! (see `snapshot.rs`), which opening loads before replaying the deltas
//! after it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use waybill_core::block::Header;
use waybill_core::crypto::Hash32;
use waybill_core::genesis::{ChainId, Genesis};
use waybill_core::index::MemoryIndex;

use crate::backend::Backend;
use crate::index::IdIndex;
use crate::log::Frontier;
use crate::state::Committed;

/// Deltas written since the last snapshot must reach this many bytes (and
/// half the snapshot's size) before a new snapshot is written.
pub(crate) const SNAPSHOT_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// A ledger: genesis, committed state, indexes, tip, over a backend.
#[derive(Debug)]
pub struct Ledger<B: Backend> {
    pub(crate) backend: B,
    pub(crate) genesis: Genesis,
    pub(crate) chain_id: ChainId,
    pub(crate) state: Committed,
    pub(crate) ids: IdIndex,
    /// The log's frontier (see `log.rs`).
    pub(crate) log: Frontier,
    /// The completeness index as of the tip (see `complete.rs`).
    pub(crate) index: MemoryIndex,
    pub(crate) tip: Option<Header>,
    /// Behind a lock so that a snapshot needs only a shared borrow: a node
    /// writes it on another thread while blocks are validated.
    pub(crate) snapshots: Mutex<Snapshots>,
    /// Whether appending a block writes a snapshot when one is due (else
    /// the owner calls [`Ledger::snapshot`] when [`Ledger::snapshot_due`]).
    pub(crate) auto_snapshot: bool,
    /// See [`Ledger::set_snapshot_min_bytes`].
    pub(crate) snapshot_min_bytes: u64,
}

/// Where the last snapshot stands.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    /// The height it was taken at.
    pub(crate) height: u64,
    /// Its size, encoded and before compression.
    pub(crate) bytes: u64,
    /// Bytes of deltas written since.
    pub(crate) delta_bytes: u64,
    /// Why the last attempt failed, if it did.
    pub(crate) error: Option<String>,
}

impl<B: Backend> Ledger<B> {
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// The committed state.
    pub fn state(&self) -> &Committed {
        &self.state
    }

    /// The tip header, if any block was committed.
    pub fn tip(&self) -> Option<&Header> {
        self.tip.as_ref()
    }

    /// The committed height (0 before the first block).
    pub fn height(&self) -> u64 {
        self.tip.as_ref().map_or(0, |h| h.height)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The snapshot book, locked.
    pub(crate) fn snapshots(&self) -> MutexGuard<'_, Snapshots> {
        // Plain numbers, each written whole: a panic elsewhere cannot
        // leave them inconsistent.
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The hash of the tip's header (none before the first block).
    pub(crate) fn tip_hash(&self) -> Option<Hash32> {
        self.tip.as_ref().map(Header::hash)
    }
}
