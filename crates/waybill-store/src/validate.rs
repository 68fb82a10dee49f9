//! Validating a block before it is committed.
//!
//! In two parts. [`check_contents`] checks what a block promises on its
//! own, with no state: the entry count and Merkle root against its
//! header, every entry's shape, and every signature (batch-verified,
//! split across the cores), so it can run ahead of the block's turn, on
//! another thread. The [`Ledger`] methods then check the header's link to
//! the tip and apply the rules to the committed state, in order, giving
//! what the block would change ([`Validated`]) without changing anything.

use waybill_core::block::{self, Block, BlockBytes};
use waybill_core::crypto::Hash32;
use waybill_core::entry::{self, Encoded, EntryId, SignedEntry};
use waybill_core::index::IndexUpdate;
use waybill_core::rules::{self, Applied, RuleError};

use crate::backend::Backend;
use crate::complete;
use crate::error::StoreError;
use crate::ledger::Ledger;

/// Blocks with fewer entries are verified on one thread.
const PARALLEL_MIN_ENTRIES: usize = 128;

/// A block whose contents were checked without the state (see
/// [`check_contents`]): entry count and Merkle root, every signature, and
/// every entry's shape (the rules that need no state).
#[derive(Debug, Clone)]
pub struct Checked {
    block: Hash32,
    ids: Vec<EntryId>,
}

/// A block validated against a tip (see [`Ledger::validate`]).
#[derive(Debug, Clone)]
pub struct Validated {
    pub(crate) tip: Option<Hash32>,
    pub(crate) block: Hash32,
    pub(crate) ids: Vec<EntryId>,
    pub(crate) applied: Applied,
    /// The block's changes to the completeness index, worked out once
    /// for the checkpoint its validators cosign and for its commit.
    pub(crate) index: IndexUpdate,
}

impl Validated {
    /// The hash of the block it is for.
    pub fn block_hash(&self) -> Hash32 {
        self.block
    }

    /// The block's entry ids, in order.
    pub fn ids(&self) -> &[EntryId] {
        &self.ids
    }
}

/// Checks what a block's contents promise without the state: the entry
/// count and Merkle root against its header, every signature (in
/// batches, on all cores) and every entry's shape. Needs no ledger, so it
/// can run ahead of the block's turn to be applied.
pub fn check_contents(block: &Block) -> Result<Checked, StoreError> {
    check_contents_known(block, &|_| false)
}

/// [`check_contents`], skipping the signatures of entries for which
/// `known` says they were verified already (a node's mempool holds only
/// verified entries, and an id fixes the exact bytes, signatures
/// included, so the verdict cannot differ).
pub fn check_contents_known(
    block: &Block,
    known: &(dyn Fn(&EntryId) -> bool + Sync),
) -> Result<Checked, StoreError> {
    // One encoding per entry gives its id, its signed message and its
    // length.
    let prepared: Vec<Encoded> = block.entries.iter().map(SignedEntry::encoded).collect();
    check_encoded(block, &prepared, known)
}

/// [`check_contents_known`] with each entry's [`Encoded`] parts at hand
/// (from [`SignedEntry::encoded`] or from decoding the block).
fn check_encoded(
    block: &Block,
    prepared: &[Encoded],
    known: &(dyn Fn(&EntryId) -> bool + Sync),
) -> Result<Checked, StoreError> {
    let ids = check_unsigned(block, prepared)?;
    let (picked, refs): (Vec<usize>, Vec<(&SignedEntry, &[u8])>) = block
        .entries
        .iter()
        .zip(prepared)
        .enumerate()
        .filter(|(_, (_, p))| !known(&p.id))
        .map(|(i, (e, p))| (i, (e, p.message.as_slice())))
        .unzip();
    verify_signatures(&refs).map_err(|(k, error)| {
        let index = picked.get(k).copied().unwrap_or(0);
        signature_error(&ids, index, error)
    })?;
    Ok(Checked {
        block: block.header.hash(),
        ids,
    })
}

/// The checks of [`check_encoded`] that need no curve arithmetic: the
/// entry count and Merkle root against the header, and the rules that
/// need no state (here rather than in the in-order rules so they run
/// ahead, with the size from the encoding). Returns the entry ids.
pub(crate) fn check_unsigned(
    block: &Block,
    prepared: &[Encoded],
) -> Result<Vec<EntryId>, StoreError> {
    let ids: Vec<EntryId> = prepared.iter().map(|p| p.id).collect();
    block.check_entries(&ids)?;
    for (index, (e, p)) in block.entries.iter().zip(prepared).enumerate() {
        rules::check_shape_sized(e, p.len).map_err(|error| StoreError::Rule {
            index,
            id: p.id.short(),
            error,
        })?;
    }
    Ok(ids)
}

/// The error for a bad signature on entry `index` of a block.
pub(crate) fn signature_error(
    ids: &[EntryId],
    index: usize,
    error: entry::SignatureError,
) -> StoreError {
    StoreError::Rule {
        index,
        id: ids.get(index).map(|i| i.short()).unwrap_or_default(),
        error: RuleError::from(error),
    }
}

/// Batch-verifies the signatures of `entries`, split across the cores.
/// The error names the first bad entry, as one-at-a-time checking would.
fn verify_signatures(
    entries: &[(&SignedEntry, &[u8])],
) -> Result<(), (usize, entry::SignatureError)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(entries.len() / PARALLEL_MIN_ENTRIES).max(1);
    if threads == 1 {
        return entry::verify_batch_over(entries, rand_core::OsRng);
    }
    let chunk = entries.len().div_ceil(threads);
    let results: Vec<Result<(), (usize, entry::SignatureError)>> = std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    entry::verify_batch_over(part, rand_core::OsRng)
                        .map_err(|(i, e)| (c * chunk + i, e))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                // A panicking verifier thread is treated as a failed check
                // of its first entry: fail closed.
                h.join()
                    .unwrap_or(Err((0, entry::SignatureError::BadSignature)))
            })
            .collect()
    });
    results
        .into_iter()
        .filter_map(Result::err)
        .min_by_key(|(i, _)| *i)
        .map_or(Ok(()), Err)
}

impl<B: Backend> Ledger<B> {
    /// Checks one entry against the committed state, as if it were the
    /// first entry of the next block, committed at time `now_ms` (ms since
    /// the Unix epoch; the caller's clock, e.g. the node's, since the rules
    /// read none): an entry dated more than the allowed skew after it is
    /// refused.
    pub fn check_entry(&self, entry: &SignedEntry, now_ms: i64) -> Result<(), RuleError> {
        let at = rules::At::new(self.height() + 1, now_ms);
        rules::apply(&self.state, entry, entry.id(), at).map(|_| ())
    }

    /// Validates a block fully against the tip and the state, without
    /// committing it. Returns what it would change.
    pub fn validate_block(&self, block: &Block) -> Result<(Vec<EntryId>, Applied), StoreError> {
        let v = self.validate(block)?;
        Ok((v.ids, v.applied))
    }

    fn check_shape(&self, block: &Block) -> Result<(), StoreError> {
        block::check_link(&self.chain_id, self.tip.as_ref(), &block.header)?;
        let max = self.genesis.consensus.max_block_entries;
        if block.entries.len() > max as usize {
            return Err(block::BlockError::TooManyEntries {
                height: block.header.height,
                count: block.entries.len(),
                max,
            }
            .into());
        }
        Ok(())
    }

    fn apply_rules(
        &self,
        block: &Block,
        ids: Vec<EntryId>,
    ) -> Result<(Vec<EntryId>, Applied), StoreError> {
        let applied = rules::apply_block_with_ids(
            &self.state,
            &block.entries,
            &ids,
            rules::At::new(block.header.height, block.header.time_ms),
            // check_contents verified the signatures and shapes.
            true,
        )
        .map_err(|(index, error)| StoreError::Rule {
            index,
            id: ids.get(index).map(|i| i.short()).unwrap_or_default(),
            error,
        })?;
        Ok((ids, applied))
    }

    /// Validates a block as [`Ledger::validate_block`] does and keeps the
    /// result, so committing the same block on the same tip later need not
    /// verify its signatures and rules a second time.
    pub fn validate(&self, block: &Block) -> Result<Validated, StoreError> {
        self.validate_known(block, &|_| false)
    }

    /// [`Ledger::validate`], skipping the signatures of entries `known` to
    /// be verified already (see [`check_contents_known`]).
    pub fn validate_known(
        &self,
        block: &Block,
        known: &(dyn Fn(&EntryId) -> bool + Sync),
    ) -> Result<Validated, StoreError> {
        self.check_shape(block)?;
        let checked = check_contents_known(block, known)?;
        self.validate_checked(block, checked)
    }

    /// [`Ledger::validate_known`] for a block with its bytes, whose
    /// entries' ids and signed messages come from them.
    pub fn validate_encoded(
        &self,
        block: &BlockBytes,
        known: &(dyn Fn(&EntryId) -> bool + Sync),
    ) -> Result<Validated, StoreError> {
        self.check_shape(block.block())?;
        let checked = check_encoded(block.block(), block.entries(), known)?;
        self.validate_checked(block.block(), checked)
    }

    /// [`Ledger::validate`] for a block whose contents were checked
    /// already (by [`check_contents`], perhaps on another thread while the
    /// previous block was being committed).
    pub fn validate_checked(
        &self,
        block: &Block,
        checked: Checked,
    ) -> Result<Validated, StoreError> {
        if checked.block != block.header.hash() {
            return self.validate(block);
        }
        self.check_shape(block)?;
        let Checked { block: hash, ids } = checked;
        let (ids, applied) = self.apply_rules(block, ids)?;
        let index = complete::block_update(
            &self.index,
            block.header.height,
            &block.entries,
            &applied.effects,
        )?;
        Ok(Validated {
            tip: self.tip_hash(),
            block: hash,
            ids,
            applied,
            index,
        })
    }
}
