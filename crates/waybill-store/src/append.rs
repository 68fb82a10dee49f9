//! Committing a block: validated on the tip, written in one atomic,
//! flushed batch, then made the tip in memory.
//!
//! A commit is three steps, so a node can run the slow one without
//! blocking readers: [`Ledger::prepare`] validates the block (or reuses a
//! [`Validated`] made for it on this tip), verifies its certificate and
//! builds its writes, reading the ledger only; [`Ledger::write`] stores
//! them durably, still reading only; [`Ledger::install`] makes the block
//! the tip in memory, with no I/O. [`Ledger::append`] does all three.
//!
//! A block is stored as a fixed handful of values whatever its size (see
//! `block_map.rs`): its canonical bytes as they came, its header, its
//! map, its certificate, the hashes its entries add to the ledger's log
//! (see `log.rs`), its validators' cosignatures of the log's checkpoint
//! (see `cosign.rs`, added by [`Ledger::attach_cosignatures`] between
//! preparing and writing) and its *delta*, the state changes and index
//! additions in the state's compact form (see `delta.rs`), which opening
//! installs until a snapshot covers them.

use waybill_core::block::{Block, BlockBytes, CommitCertificate, Header};
use waybill_core::checkpoint::Checkpoint;
use waybill_core::codec;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Encoded, EntryId, SignedEntry};
use waybill_core::genesis::ChainId;
use waybill_core::index::IndexUpdate;
use waybill_core::merkle;
use waybill_core::rules::{self, Applied};

use crate::backend::{Backend, WriteBatch};
use crate::block_map::BlockMap;
use crate::delta::{Delta, LoggedRef};
use crate::error::StoreError;
use crate::index::{self, IndexDelta};
use crate::keys::{self, ns};
use crate::ledger::Ledger;
use crate::log::Frontier;
use crate::validate::Validated;

/// A block made ready to commit by [`Ledger::prepare`]: validated on the
/// tip it names, with its writes built.
#[derive(Debug)]
pub struct Prepared {
    staged: Staged,
    batch: WriteBatch,
    /// The encoded delta, for the delta log.
    delta_bytes: Vec<u8>,
}

impl Prepared {
    /// The checkpoint of the log with this block committed, and its
    /// height.
    pub(crate) fn checkpoint(&self, chain: &ChainId) -> (Checkpoint, u64) {
        let s = &self.staged;
        (
            s.log.checkpoint(chain, &s.header, s.index.root()),
            s.header.height,
        )
    }

    /// Adds a value to the block's writes.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put(key, value);
    }
}

/// A block stored durably by [`Ledger::write`], for [`Ledger::install`]
/// to make the tip.
#[derive(Debug)]
#[must_use = "a written block becomes the tip only when it is installed"]
pub struct Written(Staged);

/// What installing a block changes in memory.
#[derive(Debug)]
struct Staged {
    tip: Option<Hash32>,
    header: Header,
    ids: Vec<EntryId>,
    applied: Applied,
    delta: Delta,
    delta_len: u64,
    log: Frontier,
    index: IndexUpdate,
}

impl<B: Backend> Ledger<B> {
    /// Seals `entries` into the next block (not committed).
    pub fn seal(&self, entries: Vec<SignedEntry>, time_ms: i64, proposer: PublicKey) -> Block {
        let time_ms = match &self.tip {
            Some(t) if time_ms <= t.time_ms => t.time_ms.saturating_add(1),
            _ => time_ms,
        };
        Block::seal(self.chain_id, self.tip.as_ref(), time_ms, proposer, entries)
    }

    /// Validates and commits the next block (atomically, durably).
    pub fn append(
        &mut self,
        block: Block,
        cert: Option<CommitCertificate>,
    ) -> Result<Applied, StoreError> {
        self.append_validated(block, cert, None)
    }

    /// Commits a block, reusing `checked` when it was made for this very
    /// block (same header and entry ids) on the current tip; otherwise the
    /// block is validated in full.
    pub fn append_validated(
        &mut self,
        block: Block,
        cert: Option<CommitCertificate>,
        checked: Option<Validated>,
    ) -> Result<Applied, StoreError> {
        // The block is encoded once, to be stored, with each entry's parts.
        self.append_encoded(BlockBytes::encode(block), cert, checked, &|_| false)
    }

    /// [`Ledger::append_validated`] for a block with its bytes: they are
    /// stored as they are, and a block not validated yet is validated from
    /// its entries' parts, skipping the signatures `known` to be verified
    /// (see [`check_contents_known`](crate::check_contents_known)). The
    /// three steps of [`Ledger::prepare`], [`Ledger::write`] and
    /// [`Ledger::install`] in one.
    pub fn append_encoded(
        &mut self,
        block: BlockBytes,
        cert: Option<CommitCertificate>,
        checked: Option<Validated>,
        known: &(dyn Fn(&EntryId) -> bool + Sync),
    ) -> Result<Applied, StoreError> {
        let prepared = self.prepare(block, cert, checked, known)?;
        let written = self.write(prepared)?;
        self.install(written)
    }

    /// The first step of committing a block, which only reads the ledger:
    /// validates the block on the tip (reusing `checked` when it was made
    /// for this very block on this tip), verifies its certificate and
    /// builds its writes. Nothing changes.
    pub fn prepare(
        &self,
        block: BlockBytes,
        cert: Option<CommitCertificate>,
        checked: Option<Validated>,
        known: &(dyn Fn(&EntryId) -> bool + Sync),
    ) -> Result<Prepared, StoreError> {
        let tip = self.tip_hash();
        let hash = block.block().header.hash();
        // `checked` is reused only if it was made on this tip for exactly
        // these entries: each id is the hash of an entry's bytes here.
        let same_entries = |v: &Validated| v.ids.iter().eq(block.entries().iter().map(|e| &e.id));
        let reusable = checked.filter(|v| v.tip == tip && v.block == hash && same_entries(v));
        let validated = match reusable {
            Some(v) => v,
            None => self.validate_encoded(&block, known)?,
        };
        let (applied, index_update) = (validated.applied, validated.index);
        let (block, block_bytes, entries) = block.into_parts();
        if let Some(c) = &cert {
            // The set of the block's height: genesis and the governance
            // changes made by then.
            let validators = rules::validators_at(&self.state, block.header.height);
            c.verify_with(&validators, &block.header)?;
        }
        let index = IndexDelta::of_block(&block.entries, &applied.effects);
        let delta = self
            .state
            .plan(block.header.height, &applied.changes, &index);
        let mut batch = self.block_batch(&block.header, block_bytes, &entries, cert.as_ref())?;
        let ids: Vec<EntryId> = entries.iter().map(|e| e.id).collect();
        let (log_hashes, log) = self.log.append(&ids)?;
        if !log_hashes.is_empty() {
            batch.put(keys::at_height(ns::LOG, block.header.height), log_hashes);
        }
        batch.put(
            keys::at_height(ns::INDEX, block.header.height),
            index_update.root().0.to_vec(),
        );
        let id_prefixes: Vec<u64> = entries.iter().map(|e| index::prefix(&e.id)).collect();
        let delta_bytes = codec::try_encode(
            "delta",
            &LoggedRef {
                delta: &delta,
                id_prefixes: &id_prefixes,
            },
        )?;
        let delta_len = delta_bytes.len() as u64;
        Ok(Prepared {
            staged: Staged {
                tip,
                header: block.header,
                ids,
                applied,
                delta,
                delta_len,
                log,
                index: index_update,
            },
            batch,
            delta_bytes,
        })
    }

    /// The second step, which also only reads the ledger: stores a
    /// prepared block atomically and durably. Readers go on meanwhile and
    /// see the tip before it until [`Ledger::install`]. Refused, changing
    /// nothing, if the tip moved since [`Ledger::prepare`].
    ///
    /// Blocks are committed one at a time: between this step and the
    /// next, nothing else may commit (the node holds a lock that admits
    /// readers but no other committer). Should `install` never follow, the
    /// stored ledger is ahead of this value, and reopening it reads the
    /// block.
    pub fn write(&self, prepared: Prepared) -> Result<Written, StoreError> {
        let Prepared {
            staged,
            batch,
            delta_bytes,
        } = prepared;
        if staged.tip != self.tip_hash() {
            return Err(StoreError::Backend(format!(
                "internal: block {} was prepared on another tip",
                staged.header.height
            )));
        }
        // The delta first: a committed block always has its delta, and
        // a delta whose block never commits is dropped on opening.
        self.backend
            .append_delta(staged.header.height, &delta_bytes)?;
        self.backend.commit(batch)?;
        Ok(Written(staged))
    }

    /// The last step: makes a written block the tip, in memory only
    /// (quick, no I/O). Returns what the block changed.
    pub fn install(&mut self, written: Written) -> Result<Applied, StoreError> {
        let Written(staged) = written;
        if staged.tip != self.tip_hash() {
            return Err(StoreError::Backend(format!(
                "internal: block {} was written on another tip; reopen the ledger",
                staged.header.height
            )));
        }
        let h = staged.header.height;
        self.state.install(staged.delta).map_err(|e| {
            StoreError::Backend(format!(
                "internal: block {h} was planned on another state ({e}); reopen the ledger"
            ))
        })?;
        self.ids.push_block(staged.ids.into_iter());
        self.index.install(staged.index).map_err(|e| {
            StoreError::Backend(format!(
                "internal: block {h}'s completeness index update does not follow ({e}); reopen the ledger"
            ))
        })?;
        self.log = staged.log;
        self.tip = Some(staged.header);
        self.snapshots().delta_bytes += staged.delta_len;
        if self.auto_snapshot && self.snapshot_due() {
            // A failure is kept in `snapshot_error`; the block is stored.
            let _ = self.snapshot();
        }
        Ok(staged.applied)
    }

    /// Seals `entries` into a block at `time_ms` and commits it (a local
    /// ledger with no consensus).
    pub fn append_entries(
        &mut self,
        entries: Vec<SignedEntry>,
        time_ms: i64,
        proposer: PublicKey,
    ) -> Result<Header, StoreError> {
        let block = self.seal(entries, time_ms, proposer);
        let header = block.header.clone();
        self.append(block, None)?;
        Ok(header)
    }

    /// The writes that store a block: its bytes (the header's, the entry
    /// count and each entry's in turn, as `entries` describes them), its
    /// header, its map and its certificate. (Its delta goes to the delta
    /// log.)
    fn block_batch(
        &self,
        header: &Header,
        block_bytes: Vec<u8>,
        entries: &[Encoded],
        cert: Option<&CommitCertificate>,
    ) -> Result<WriteBatch, StoreError> {
        let h = header.height;
        let header_bytes = header.canonical_bytes();
        let mut offsets = Vec::with_capacity(entries.len() + 1);
        let mut at = header_bytes.len() + 8;
        for e in entries {
            offsets.push(u32::try_from(at).unwrap_or(u32::MAX));
            at += e.len;
        }
        offsets.push(u32::try_from(at).unwrap_or(u32::MAX));
        if at != block_bytes.len() || block_bytes.len() > u32::MAX as usize {
            return Err(StoreError::Backend(format!(
                "internal: block {h} does not encode as its header and entries"
            )));
        }
        let ids: Vec<EntryId> = entries.iter().map(|e| e.id).collect();
        let leaves: Vec<merkle::Hash> = ids.iter().map(|i| i.0).collect();
        let interior = merkle::interior_nodes(&leaves);
        let mut b = WriteBatch::default();
        b.put(keys::at_height(ns::BLOCK, h), block_bytes);
        b.put(keys::at_height(ns::HEADER, h), header_bytes);
        b.put(
            keys::at_height(ns::MAP, h),
            BlockMap::encode(&ids, &offsets, &interior),
        );
        if let Some(c) = cert {
            b.put(keys::at_height(ns::CERT, h), codec::encode(c));
        }
        b.put(keys::TIP.to_vec(), h.to_be_bytes().to_vec());
        Ok(b)
    }
}
