//! The ledger over a backend: append blocks, read them back, build trails,
//! re-verify everything.
//!
//! # Layout
//!
//! A block is written as five values in one atomic, flushed batch: the
//! canonical block, its header, its *map* (entry ids, the offset of each
//! entry inside the block bytes, the Merkle tree's interior nodes), its
//! certificate, and its *delta* (the state changes and index additions).
//! Nothing is written per entry, so a block of a thousand entries costs the
//! same handful of keys as a block of one.
//!
//! The state and the lookup indexes live in memory. They are persisted as
//! the deltas plus a snapshot (a file beside the database, replaced
//! atomically, so an old one never lingers), rewritten whenever the deltas
//! written since the last one reach half its size (so snapshots cost
//! amortised constant time per byte of delta, and the deltas kept, which
//! opening replays, stay under about half a snapshot on disk). Deltas a
//! snapshot covers are deleted with it.
//!
//! Reading one entry takes a slice of its block's value and decodes only
//! that entry; its inclusion proof comes from the stored interior nodes in
//! O(log n), with no rehashing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{mpsc, Mutex, MutexGuard, PoisonError};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use waybill_core::block::{self, Block, BlockBytes, CommitCertificate, Header};
use waybill_core::codec;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{self, Body, Encoded, EntryId, SignedEntry};
use waybill_core::genesis::{ChainId, Genesis};
use waybill_core::gs1::LotId;
use waybill_core::merkle;
use waybill_core::rules::{self, Applied, RuleError};
use waybill_core::state::{Changes, LotState, View};
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};

use crate::backend::{Backend, WriteBatch};
use crate::committed::{Committed, Stored, StoredRef};
use crate::index::{IdIndex, IndexDelta, Position};
use crate::keys::{self, ns};
use crate::StoreError;

/// The store layout version.
pub const STORE_FORMAT: u32 = 4;

/// Deltas written since the last snapshot must reach this many bytes (and
/// half the snapshot's size) before a new snapshot is written.
const SNAPSHOT_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// Blocks with fewer entries are verified on one thread.
const PARALLEL_MIN_ENTRIES: usize = 128;

/// Entries whose signatures the integrity check verifies in one batch,
/// across blocks: a batch verifies each distinct key once and shares one
/// multi-scalar multiplication, so per signature it costs about a sixth
/// less at 1,000 signatures than at a typical block's 200 or so.
const CHECK_BATCH_ENTRIES: usize = 1024;

/// Blocks each reader of the integrity check may have sent ahead of the
/// in-order thread.
const CHECK_AHEAD_BLOCKS: usize = 4;

/// An entry with its position on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The entry.
    pub entry: SignedEntry,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
}

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
    tip: Option<Hash32>,
    block: Hash32,
    ids: Vec<EntryId>,
    applied: Applied,
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

/// A block made ready to commit by [`Ledger::prepare`]: validated on the
/// tip it names, with its writes built.
#[derive(Debug)]
pub struct Prepared {
    staged: Staged,
    batch: WriteBatch,
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
    delta: IndexDelta,
    delta_len: u64,
}

/// What a full integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Blocks verified.
    pub blocks: u64,
    /// Entries verified.
    pub entries: u64,
    /// Blocks with a verified commit certificate.
    pub certified: u64,
    /// Hash of the tip header.
    pub tip_hash: Option<Hash32>,
    /// Digest of the rebuilt state (equal to the stored state's).
    pub state_digest: Hash32,
}

/// The state and indexes rebuilt from the blocks by [`Ledger::check`].
struct Rebuilt {
    state: Committed,
    ids: IdIndex,
    blocks: u64,
    entries: u64,
    certified: u64,
    tip_hash: Option<Hash32>,
}

/// A stored block read and checked by one of [`Ledger::check`]'s reader
/// threads: its header, map and signatures match, its certificate (if
/// any) verifies.
struct ReadBlock {
    block: Block,
    ids: Vec<EntryId>,
    certified: bool,
}

/// A stored block with every check done but its signatures', and each
/// entry's signed message.
struct Unverified {
    block: ReadBlock,
    prepared: Vec<Encoded>,
}

/// Verifies the signatures of several blocks in one batch. On a failure,
/// the position in `group` of the first block with a bad signature, and
/// the error naming that block and entry.
fn verify_group(group: &[Unverified]) -> Result<(), (usize, StoreError)> {
    let refs: Vec<(&SignedEntry, &[u8])> = group
        .iter()
        .flat_map(|u| {
            u.block
                .block
                .entries
                .iter()
                .zip(&u.prepared)
                .map(|(e, p)| (e, p.message.as_slice()))
        })
        .collect();
    // One-at-a-time verification after a failed batch finds the first bad
    // entry in this order: block by block.
    let Err((mut k, error)) = entry::verify_batch_over(&refs, rand_core::OsRng) else {
        return Ok(());
    };
    for (i, u) in group.iter().enumerate() {
        let n = u.block.ids.len();
        if k < n {
            let h = u.block.block.header.height;
            let e = signature_error(&u.block.ids, k, error);
            return Err((i, corrupt_at(h)(e.to_string())));
        }
        k -= n;
    }
    // Unreachable: the index is within the batch.
    Err((0, StoreError::Corrupt("a signature batch failed".into())))
}

/// One block's state changes and index additions.
#[derive(Debug, Serialize, Deserialize)]
struct Delta {
    changes: Changes,
    index: IndexDelta,
}

/// [`Delta`] borrowed, to encode without copying the changes (the same
/// fields in the same order, so the same bytes).
#[derive(Serialize)]
struct DeltaRef<'a> {
    changes: &'a Changes,
    index: &'a IndexDelta,
}

/// The snapshot: state and indexes, and each entry's id prefix with where
/// each block starts (so opening reads no block maps the snapshot covers).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    height: u64,
    state: StoredRef<'a>,
    id_prefixes: &'a [u64],
    block_starts: &'a [u64],
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    height: u64,
    state: Stored,
    id_prefixes: Vec<u64>,
    block_starts: Vec<u64>,
}

/// A ledger: genesis, committed state, indexes, tip, over a backend.
#[derive(Debug)]
pub struct Ledger<B: Backend> {
    backend: B,
    genesis: Genesis,
    chain_id: ChainId,
    state: Committed,
    ids: IdIndex,
    tip: Option<Header>,
    /// Behind a lock so that a snapshot needs only a shared borrow: a node
    /// writes it on another thread while blocks are validated.
    snapshots: Mutex<Snapshots>,
    /// Whether appending a block writes a snapshot when one is due (else
    /// the owner calls [`Ledger::snapshot`] when [`Ledger::snapshot_due`]).
    auto_snapshot: bool,
    /// See [`Ledger::set_snapshot_min_bytes`].
    snapshot_min_bytes: u64,
}

/// Bytes of a snapshot encoded at a time.
const SNAPSHOT_CHUNK: usize = 64 * 1024;

/// Where the last snapshot stands.
#[derive(Debug, Default)]
struct Snapshots {
    /// The height it was taken at.
    height: u64,
    /// Its size.
    bytes: u64,
    /// Bytes of deltas written since.
    delta_bytes: u64,
    /// Why the last attempt failed, if it did.
    error: Option<String>,
}

fn get_decoded<B: Backend, T: Serialize + DeserializeOwned>(
    backend: &B,
    what: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match backend.get(key)? {
        Some(bytes) => Ok(Some(codec::decode_trusted(what, &bytes)?)),
        None => Ok(None),
    }
}

fn corrupt_at(height: u64) -> impl Fn(String) -> StoreError {
    move |what| StoreError::Corrupt(format!("block {height}: {what}"))
}

/// A block's map value: `n` (u32), `n` ids, `n + 1` offsets (u32) of the
/// entries in the block's canonical bytes, then the Merkle interior nodes.
struct BlockMap<'a> {
    n: usize,
    bytes: &'a [u8],
}

impl<'a> BlockMap<'a> {
    fn encode(ids: &[EntryId], offsets: &[u32], interior: &[merkle::Hash]) -> Vec<u8> {
        let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(4 + ids.len() * 36 + 4 + interior.len() * 32);
        out.extend_from_slice(&n.to_be_bytes());
        for id in ids {
            out.extend_from_slice(&id.0);
        }
        for o in offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        for h in interior {
            out.extend_from_slice(h);
        }
        out
    }

    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let n = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let fixed = 4 + n.checked_mul(36)?.checked_add(4)?;
        if bytes.len() < fixed || !(bytes.len() - fixed).is_multiple_of(32) {
            return None;
        }
        Some(BlockMap { n, bytes })
    }

    fn id(&self, i: usize) -> Option<EntryId> {
        let start = 4 + i * 32;
        (i < self.n).then(|| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&self.bytes[start..start + 32]);
            Hash32(a)
        })
    }

    /// Entry `i`'s Merkle leaf (its id).
    fn leaf(&self, i: usize) -> Option<merkle::Hash> {
        self.id(i).map(|id| id.0)
    }

    fn offset(&self, i: usize) -> Option<usize> {
        let start = 4 + self.n * 32 + i * 4;
        (i <= self.n).then(|| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&self.bytes[start..start + 4]);
            u32::from_be_bytes(a) as usize
        })
    }

    /// How many interior Merkle nodes the map holds.
    fn interior_len(&self) -> usize {
        self.bytes.len().saturating_sub(4 + self.n * 36 + 4) / 32
    }

    /// Interior Merkle node `j` (see [`merkle::interior_nodes`]).
    fn node(&self, j: usize) -> Option<merkle::Hash> {
        let start = 4 + self.n * 36 + 4 + j * 32;
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes.get(start..start + 32)?);
        Some(a)
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
fn check_unsigned(block: &Block, prepared: &[Encoded]) -> Result<Vec<EntryId>, StoreError> {
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
fn signature_error(ids: &[EntryId], index: usize, error: entry::SignatureError) -> StoreError {
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
    /// Starts a new ledger for `genesis` in an empty backend.
    pub fn create(backend: B, genesis: Genesis) -> Result<Self, StoreError> {
        genesis.validate()?;
        if backend.get(keys::GENESIS)?.is_some() || !backend.scan_prefix(&[])?.is_empty() {
            return Err(StoreError::AlreadyExists("the store".into()));
        }
        let mut batch = WriteBatch::default();
        batch.put(keys::FORMAT.to_vec(), STORE_FORMAT.to_be_bytes().to_vec());
        batch.put(keys::GENESIS.to_vec(), genesis.canonical_bytes());
        batch.put(keys::TIP.to_vec(), 0u64.to_be_bytes().to_vec());
        backend.commit(batch)?;
        Ok(Self::at_genesis(backend, genesis))
    }

    /// A ledger over `backend` holding `genesis`'s state and no blocks.
    fn at_genesis(backend: B, genesis: Genesis) -> Self {
        Ledger {
            backend,
            chain_id: genesis.chain_id(),
            state: Committed::genesis(&genesis),
            genesis,
            ids: IdIndex::default(),
            tip: None,
            snapshots: Mutex::new(Snapshots::default()),
            auto_snapshot: true,
            snapshot_min_bytes: SNAPSHOT_MIN_BYTES,
        }
    }

    /// [`Ledger::open`] followed by [`Ledger::check`], faster: the blocks
    /// are re-verified from genesis while another thread loads the stored
    /// state (and its digest) to compare them with. An error opening the
    /// ledger is reported before one found in the blocks.
    pub fn open_and_check(backend: B) -> Result<(Self, CheckReport), StoreError>
    where
        B: Clone + Send + Sync,
    {
        let (genesis, _, tip) = Self::open_meta(&backend)?;
        let reader = Self::at_genesis(backend.clone(), genesis);
        let (opened, rebuilt) = std::thread::scope(|s| {
            let opening = s.spawn(move || {
                Ledger::open(backend).map(|l| {
                    let digest = l.state.digest();
                    (l, digest)
                })
            });
            let rebuilt = reader.rebuild(tip);
            let opened = opening.join().unwrap_or_else(|_| {
                Err(StoreError::Corrupt(
                    "loading the stored state failed (the thread panicked)".into(),
                ))
            });
            (opened, rebuilt)
        });
        let (ledger, digest) = opened?;
        let report = ledger.compare(rebuilt?, digest)?;
        Ok((ledger, report))
    }

    /// The store's format, genesis and recorded tip height, checked.
    fn open_meta(backend: &B) -> Result<(Genesis, ChainId, u64), StoreError> {
        let format = backend
            .get(keys::FORMAT)?
            .ok_or_else(|| StoreError::Corrupt("the store has no format record".into()))?;
        if format != STORE_FORMAT.to_be_bytes() {
            return Err(StoreError::Format {
                found: hex_or_len(&format),
                expected: STORE_FORMAT,
            });
        }
        let genesis: Genesis = get_decoded(backend, "genesis", keys::GENESIS)?
            .ok_or_else(|| StoreError::Corrupt("the store has no genesis".into()))?;
        genesis.validate()?;
        let chain_id = genesis.chain_id();
        let tip_height = match backend.get(keys::TIP)? {
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("the tip record is malformed".into()))?,
            ),
            None => return Err(StoreError::Corrupt("the store has no tip record".into())),
        };
        Ok((genesis, chain_id, tip_height))
    }

    /// Opens a ledger: loads the latest snapshot, replays the deltas after
    /// it, rebuilds the id index, and verifies the tip block (entries
    /// match the header, the header links to its parent, nothing is
    /// stored beyond it).
    pub fn open(backend: B) -> Result<Self, StoreError> {
        let (genesis, chain_id, tip_height) = Self::open_meta(&backend)?;
        let (snapshot_height, snapshot_bytes, mut state, mut ids) = match backend.read_snapshot()? {
            Some(bytes) => {
                let snap: Snapshot = codec::decode_trusted("snapshot", &bytes)
                    .map_err(|e| StoreError::Corrupt(format!("the state snapshot: {e}")))?;
                // Freed before the state is built from it: this is the
                // peak of a node's memory.
                let snapshot_len = bytes.len() as u64;
                drop(bytes);
                if snap.height > tip_height || snap.state.chain_id() != &chain_id {
                    return Err(StoreError::Corrupt(format!(
                            "the state snapshot is for block {}, beyond the tip {tip_height} or of another chain",
                            snap.height
                        )));
                }
                let bad = |e: String| StoreError::Corrupt(format!("the state snapshot: {e}"));
                let state = Committed::from_stored(snap.state).map_err(bad)?;
                let ids = IdIndex::from_stored(snap.id_prefixes, snap.block_starts).map_err(bad)?;
                if ids.blocks() != snap.height {
                    return Err(bad("its entry id index does not cover its blocks".into()));
                }
                (snap.height, snapshot_len, state, ids)
            }
            None => (0, 0, Committed::genesis(&genesis), IdIndex::default()),
        };
        if snapshot_height > 0
            && backend
                .get(&keys::at_height(ns::DELTA, snapshot_height))?
                .is_some()
        {
            let mut batch = WriteBatch::default();
            for h in 1..=snapshot_height {
                batch.delete(keys::at_height(ns::DELTA, h));
            }
            backend.commit(batch)?;
        }
        let mut delta_bytes = 0u64;
        for h in snapshot_height + 1..=tip_height {
            let corrupt = corrupt_at(h);
            let bytes = backend
                .get(&keys::at_height(ns::DELTA, h))?
                .ok_or_else(|| corrupt("its state delta is missing".into()))?;
            let delta: Delta =
                codec::decode_trusted("delta", &bytes).map_err(|e| corrupt(e.to_string()))?;
            delta_bytes += bytes.len() as u64;
            state.apply(h, &delta.changes, &delta.index);
        }
        for h in snapshot_height + 1..=tip_height {
            let found = backend.read(&keys::at_height(ns::MAP, h), |bytes| {
                let map = BlockMap::parse(bytes)?;
                let block_ids = (0..map.n).map(|i| map.id(i)).collect::<Option<Vec<_>>>()?;
                ids.push_block(block_ids.into_iter());
                Some(())
            })?;
            if found.flatten().is_none() {
                return Err(corrupt_at(h)(
                    "its entry map is missing or malformed".into(),
                ));
            }
        }
        let mut ledger = Ledger {
            backend,
            genesis,
            chain_id,
            state,
            ids,
            tip: None,
            snapshots: Mutex::new(Snapshots {
                height: snapshot_height,
                bytes: snapshot_bytes,
                delta_bytes,
                error: None,
            }),
            auto_snapshot: true,
            snapshot_min_bytes: SNAPSHOT_MIN_BYTES,
        };
        if ledger
            .backend
            .get(&keys::at_height(ns::BLOCK, tip_height + 1))?
            .is_some()
        {
            return Err(corrupt_at(tip_height + 1)(format!(
                "it is stored beyond the recorded tip {tip_height}"
            )));
        }
        if tip_height > 0 {
            let corrupt = corrupt_at(tip_height);
            let header = ledger
                .header(tip_height)?
                .ok_or_else(|| corrupt("the tip header is missing".into()))?;
            let block = ledger
                .block(tip_height)?
                .ok_or_else(|| corrupt("the tip block is missing".into()))?;
            if block.header != header {
                return Err(corrupt(
                    "the tip block does not match its stored header".into(),
                ));
            }
            let ids = block.entry_ids();
            block
                .check_entries(&ids)
                .map_err(|e| corrupt(e.to_string()))?;
            if ledger.entry_ids(tip_height)?.as_deref() != Some(&ids[..]) {
                return Err(corrupt("the entry map differs from the block".into()));
            }
            let prev = if tip_height > 1 {
                Some(ledger.header(tip_height - 1)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("header {} is missing", tip_height - 1))
                })?)
            } else {
                None
            };
            block::check_link(&chain_id, prev.as_ref(), &header)
                .map_err(|e| corrupt(e.to_string()))?;
            ledger.tip = Some(header);
        }
        Ok(ledger)
    }

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

    /// Why the last snapshot could not be written, if it failed (the
    /// ledger stays correct without it; opening just replays more).
    pub fn snapshot_error(&self) -> Option<String> {
        self.snapshots().error.clone()
    }

    fn snapshots(&self) -> MutexGuard<'_, Snapshots> {
        // Plain numbers, each written whole: a panic elsewhere cannot
        // leave them inconsistent.
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The least bytes of deltas before a snapshot is due (default
    /// `SNAPSHOT_MIN_BYTES`, 4 MiB): lower makes snapshots more frequent
    /// and opening quicker.
    pub fn set_snapshot_min_bytes(&mut self, bytes: u64) {
        self.snapshot_min_bytes = bytes;
    }

    /// Whether appending a block writes a due snapshot itself (the
    /// default). A node turns this off and writes snapshots on another
    /// thread, so that a large one never holds up a commit.
    pub fn set_auto_snapshot(&mut self, on: bool) {
        self.auto_snapshot = on;
    }

    /// Whether enough deltas have accumulated since the last snapshot that
    /// a new one is due: half the last one's size, and at least
    /// [`Ledger::set_snapshot_min_bytes`]. Snapshots then cost, over time, a constant
    /// factor of the deltas written, and opening replays at most that much.
    pub fn snapshot_due(&self) -> bool {
        let s = self.snapshots();
        s.height < self.height() && s.delta_bytes >= (s.bytes / 2).max(self.snapshot_min_bytes)
    }

    /// Checks one entry against the committed state, as if it were the
    /// first entry of the next block.
    pub fn check_entry(&self, entry: &SignedEntry) -> Result<(), RuleError> {
        rules::apply(&self.state, entry, entry.id(), self.height() + 1).map(|_| ())
    }

    /// Seals `entries` into the next block (not committed).
    pub fn seal(&self, entries: Vec<SignedEntry>, time_ms: i64, proposer: PublicKey) -> Block {
        let time_ms = match &self.tip {
            Some(t) if time_ms <= t.time_ms => t.time_ms.saturating_add(1),
            _ => time_ms,
        };
        Block::seal(self.chain_id, self.tip.as_ref(), time_ms, proposer, entries)
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
            block.header.height,
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

    /// Validates and commits the next block (atomically, durably).
    pub fn append(
        &mut self,
        block: Block,
        cert: Option<CommitCertificate>,
    ) -> Result<Applied, StoreError> {
        self.append_validated(block, cert, None)
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
        Ok(Validated {
            tip: self.tip_hash(),
            block: hash,
            ids,
            applied,
        })
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
    /// (see [`check_contents_known`]). The three steps of
    /// [`Ledger::prepare`], [`Ledger::write`] and [`Ledger::install`] in
    /// one.
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
        let applied = match reusable {
            Some(v) => v.applied,
            None => self.validate_encoded(&block, known)?.applied,
        };
        let (block, block_bytes, entries) = block.into_parts();
        if let Some(c) = &cert {
            c.verify(&self.genesis, &block.header)?;
        }
        let delta = IndexDelta::of_block(&block.entries, &applied.effects);
        let (batch, delta_len) = self.block_batch(
            &block.header,
            block_bytes,
            &entries,
            cert.as_ref(),
            &applied,
            &delta,
        )?;
        Ok(Prepared {
            staged: Staged {
                tip,
                header: block.header,
                ids: entries.iter().map(|e| e.id).collect(),
                applied,
                delta,
                delta_len,
            },
            batch,
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
        let Prepared { staged, batch } = prepared;
        if staged.tip != self.tip_hash() {
            return Err(StoreError::Backend(format!(
                "internal: block {} was prepared on another tip",
                staged.header.height
            )));
        }
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
        self.state.apply(h, &staged.applied.changes, &staged.delta);
        self.ids.push_block(staged.ids.into_iter());
        self.tip = Some(staged.header);
        self.snapshots().delta_bytes += staged.delta_len;
        if self.auto_snapshot && self.snapshot_due() {
            // A failure is kept in `snapshot_error`; the block is stored.
            let _ = self.snapshot();
        }
        Ok(staged.applied)
    }

    /// The hash of the tip's header (none before the first block).
    fn tip_hash(&self) -> Option<Hash32> {
        self.tip.as_ref().map(Header::hash)
    }

    /// Writes a snapshot of the state and indexes at the tip and deletes
    /// the deltas it covers. Done as deltas accumulate (see
    /// [`Ledger::set_auto_snapshot`]); call it before a planned shutdown to
    /// make the next open quick. It needs only a shared borrow, so readers
    /// go on meanwhile; snapshots are written one at a time.
    pub fn snapshot(&self) -> Result<(), StoreError> {
        let mut book = self.snapshots();
        let r = self.write_snapshot(&mut book);
        book.error = r.as_ref().err().map(ToString::to_string);
        r
    }

    fn write_snapshot(&self, book: &mut Snapshots) -> Result<(), StoreError> {
        let h = self.height();
        if h == book.height {
            return Ok(());
        }
        let snapshot = SnapshotRef {
            height: h,
            state: self.state.stored(),
            id_prefixes: self.ids.stored().0,
            block_starts: self.ids.stored().1,
        };
        // The snapshot is durable before the deltas it covers go; a crash
        // in between leaves deltas that opening deletes. It is encoded
        // straight into the file.
        let len = self.backend.write_snapshot(&mut |out| {
            // Buffered on this side of the backend's `dyn Write`, so the
            // encoder's many small writes are copies into a buffer rather
            // than a call each through it.
            let mut out = std::io::BufWriter::with_capacity(SNAPSHOT_CHUNK, out);
            codec::encode_to_writer("snapshot", &snapshot, &mut out)?;
            std::io::Write::flush(&mut out)
                .map_err(|e| StoreError::Backend(format!("cannot write a snapshot: {e}")))?;
            Ok(())
        })?;
        let mut batch = WriteBatch::default();
        for old in book.height + 1..=h {
            batch.delete(keys::at_height(ns::DELTA, old));
        }
        self.backend.commit(batch)?;
        book.height = h;
        book.bytes = len;
        book.delta_bytes = 0;
        Ok(())
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
    /// header, its map, its certificate and its delta.
    fn block_batch(
        &self,
        header: &Header,
        block_bytes: Vec<u8>,
        entries: &[Encoded],
        cert: Option<&CommitCertificate>,
        applied: &Applied,
        index: &IndexDelta,
    ) -> Result<(WriteBatch, u64), StoreError> {
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
        let delta = codec::try_encode(
            "delta",
            &DeltaRef {
                changes: &applied.changes,
                index,
            },
        )?;
        let delta_len = delta.len() as u64;
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
        b.put(keys::at_height(ns::DELTA, h), delta);
        b.put(keys::TIP.to_vec(), h.to_be_bytes().to_vec());
        Ok((b, delta_len))
    }

    /// Decodes the value at `ns ‖ height`; undecodable bytes are
    /// corruption of that block.
    fn get_at<T: Serialize + DeserializeOwned>(
        &self,
        what: &'static str,
        ns: u8,
        height: u64,
    ) -> Result<Option<T>, StoreError> {
        get_decoded(&self.backend, what, &keys::at_height(ns, height)).map_err(|e| match e {
            StoreError::Codec(c) => StoreError::Corrupt(format!("block {height}: {c}")),
            other => other,
        })
    }

    /// A header by height.
    pub fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        self.get_at("header", ns::HEADER, height)
    }

    /// A block by height.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.get_at("block", ns::BLOCK, height)
    }

    /// A block's canonical bytes, as stored (what its hash and entries'
    /// proofs are computed from), without decoding them.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(&keys::at_height(ns::BLOCK, height))
    }

    /// A block's commit certificate, if it has one.
    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.get_at("certificate", ns::CERT, height)
    }

    /// Reads block `height`'s map with `f`.
    fn with_map<T>(
        &self,
        height: u64,
        f: impl FnOnce(&BlockMap<'_>) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        let found = self
            .backend
            .read(&keys::at_height(ns::MAP, height), |bytes| {
                BlockMap::parse(bytes).map(|m| f(&m))
            })?;
        match found {
            None => Ok(None),
            Some(Some(Some(v))) => Ok(Some(v)),
            Some(_) => Err(corrupt_at(height)("its entry map is malformed".into())),
        }
    }

    /// A block's entry ids.
    pub fn entry_ids(&self, height: u64) -> Result<Option<Vec<EntryId>>, StoreError> {
        self.with_map(height, |m| (0..m.n).map(|i| m.id(i)).collect())
    }

    /// The entry at a position, decoded from a slice of its block.
    pub fn entry_at_position(
        &self,
        (height, index): Position,
    ) -> Result<Option<SignedEntry>, StoreError> {
        let i = index as usize;
        let Some(range) = self.with_map(height, |m| {
            if i >= m.n {
                return Some(None);
            }
            Some(Some((m.offset(i)?, m.offset(i + 1)?)))
        })?
        else {
            return Ok(None);
        };
        let Some((start, end)) = range else {
            return Ok(None);
        };
        let corrupt = corrupt_at(height);
        let bytes = self
            .backend
            .read(&keys::at_height(ns::BLOCK, height), |b| {
                b.get(start..end).map(<[u8]>::to_vec)
            })?
            .ok_or_else(|| corrupt("it is missing".into()))?
            .ok_or_else(|| corrupt("an entry lies outside the block".into()))?;
        SignedEntry::from_canonical_bytes(&bytes)
            .map(Some)
            .map_err(|e| corrupt(format!("entry {index}: {e}")))
    }

    /// An entry by id.
    pub fn entry(&self, id: &EntryId) -> Result<Option<Located>, StoreError> {
        for (height, index) in self.ids.candidates(id) {
            let same = self
                .with_map(height, |m| Some(m.id(index as usize) == Some(*id)))?
                .unwrap_or(false);
            if !same {
                continue;
            }
            let entry = self
                .entry_at_position((height, index))?
                .ok_or_else(|| corrupt_at(height)(format!("entry {index} is missing")))?;
            if entry.id() != *id {
                return Err(corrupt_at(height)(format!(
                    "entry {index} differs from its id"
                )));
            }
            return Ok(Some(Located {
                entry,
                height,
                index,
            }));
        }
        Ok(None)
    }

    /// Positions of the entries that touched a lot.
    pub fn positions_by_lot(&self, lot: &LotId) -> Result<Vec<Position>, StoreError> {
        Ok(self.state.by_lot(lot))
    }

    /// Positions of the entries that named a shipment.
    pub fn positions_by_shipment(&self, shipment: &str) -> Result<Vec<Position>, StoreError> {
        Ok(shipment
            .parse()
            .map(|s| self.state.by_shipment(&s))
            .unwrap_or_default())
    }

    /// Positions of the entry that recorded a payment.
    pub fn positions_by_payment(&self, payment: &str) -> Result<Vec<Position>, StoreError> {
        Ok(payment
            .parse()
            .map(|p| self.state.by_payment(&p))
            .unwrap_or_default())
    }

    /// Positions of an author's entries.
    pub fn positions_by_author(&self, author: &PublicKey) -> Result<Vec<Position>, StoreError> {
        Ok(self.state.by_author(author))
    }

    /// Lots made directly from `lot`.
    pub fn made_from(&self, lot: &LotId) -> Result<Vec<LotId>, StoreError> {
        Ok(self.state.made_from(lot))
    }

    /// Every lot made from `lot`, directly or not (the recall scope), with
    /// where each is now.
    pub fn forward(&self, lot: &LotId) -> Result<Vec<(LotId, LotState)>, StoreError> {
        if !self.state.has_lot(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let mut seen = BTreeSet::from([lot.clone()]);
        let mut queue = VecDeque::from([lot.clone()]);
        let mut out = Vec::new();
        while let Some(l) = queue.pop_front() {
            for m in self.state.made_from(&l) {
                if seen.insert(m.clone()) {
                    if let Some(s) = self.state.lot(&m) {
                        out.push((m.clone(), s.into_owned()));
                    }
                    queue.push_back(m);
                }
            }
        }
        Ok(out)
    }

    /// The trail of a lot: every entry that touches it or its ancestors,
    /// the payments for their shipments, and every membership change,
    /// each with its header, inclusion proof and certificate.
    pub fn trail(&self, lot: &LotId) -> Result<Trail, StoreError> {
        if !self.state.has_lot(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let mut entries: BTreeMap<Position, SignedEntry> = BTreeMap::new();
        let mut scope = BTreeSet::new();
        let mut queue = VecDeque::from([lot.clone()]);
        while let Some(l) = queue.pop_front() {
            if !scope.insert(l.clone()) {
                continue;
            }
            for pos in self.state.by_lot(&l) {
                let e = self.load(&mut entries, pos)?;
                if let Body::Produce(p) = &e.entry.body {
                    if p.lot == l {
                        queue.extend(p.inputs.iter().map(|i| i.lot.clone()));
                    }
                }
            }
        }
        let mut shipments = BTreeSet::new();
        for e in entries.values() {
            if let Body::Dispatch(d) = &e.entry.body {
                shipments.insert(d.shipment.clone());
            }
        }
        let mut positions: BTreeSet<Position> = entries.keys().copied().collect();
        for s in &shipments {
            positions.extend(self.state.by_shipment(s));
        }
        positions.extend(self.state.membership());

        let mut items = Vec::with_capacity(positions.len());
        let mut blocks: BTreeMap<u64, (Header, Option<CommitCertificate>)> = BTreeMap::new();
        for (height, index) in positions {
            let entry = match entries.remove(&(height, index)) {
                Some(e) => e,
                None => self.load(&mut BTreeMap::new(), (height, index))?.clone(),
            };
            let corrupt = corrupt_at(height);
            let proof = self
                .with_map(height, |m| {
                    merkle::inclusion_proof_read(
                        m.n,
                        m.interior_len(),
                        |i| m.leaf(i),
                        |j| m.node(j),
                        index as usize,
                    )
                })?
                .ok_or_else(|| corrupt(format!("no inclusion proof for entry {index}")))?;
            if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(height) {
                let header = self
                    .header(height)?
                    .ok_or_else(|| corrupt("its header is missing".into()))?;
                slot.insert((header, self.certificate(height)?));
            }
            let (header, certificate) = blocks
                .get(&height)
                .cloned()
                .ok_or_else(|| corrupt("its header is missing".into()))?;
            items.push(TrailItem {
                entry,
                index,
                header,
                proof: proof.into_iter().map(Hash32).collect(),
                certificate,
            });
        }
        Ok(Trail {
            version: TRAIL_VERSION,
            chain_id: self.chain_id,
            lot: lot.clone(),
            tip_height: self.height(),
            items,
        })
    }

    fn load<'a>(
        &self,
        cache: &'a mut BTreeMap<Position, SignedEntry>,
        pos: Position,
    ) -> Result<&'a SignedEntry, StoreError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = cache.entry(pos) {
            let e = self
                .entry_at_position(pos)?
                .ok_or_else(|| corrupt_at(pos.0)(format!("entry {} is missing", pos.1)))?;
            slot.insert(e);
        }
        cache
            .get(&pos)
            .ok_or_else(|| corrupt_at(pos.0)(format!("entry {} is missing", pos.1)))
    }

    /// Re-verifies the whole stored chain from genesis: every header link,
    /// Merkle root, signature, rule and certificate, and that the state
    /// and indexes rebuilt from the blocks equal the ones in use.
    ///
    /// Blocks are read and their signatures verified on other threads,
    /// ahead of the thread that applies the rules in order.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let rebuilt = self.rebuild(self.height())?;
        let state_digest = rebuilt.state.digest();
        self.compare(rebuilt, state_digest)
    }

    /// Re-verifies every block up to `tip` from genesis, as [`Ledger::check`]
    /// does, and returns the state and id index rebuilt from them. Needs
    /// only the blocks, not this ledger's loaded state.
    fn rebuild(&self, tip: u64) -> Result<Rebuilt, StoreError> {
        if self
            .backend
            .get(&keys::at_height(ns::BLOCK, tip + 1))?
            .is_some()
        {
            return Err(corrupt_at(tip + 1)(format!(
                "it is stored beyond the recorded tip {tip}"
            )));
        }
        // One reader per core takes every `workers`-th block, so block h
        // comes from reader (h - 1) % workers: the in-order thread receives
        // blocks in order without a reorder buffer. A reader verifies the
        // signatures of several of its blocks in one batch (see
        // CHECK_BATCH_ENTRIES), so it runs at most a batch and a few blocks
        // ahead of the in-order thread.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 16);
        std::thread::scope(|s| {
            let readers: Vec<mpsc::Receiver<Result<ReadBlock, StoreError>>> = (0..workers)
                .map(|k| {
                    let (tx, rx) = mpsc::sync_channel(CHECK_AHEAD_BLOCKS);
                    s.spawn(move || self.read_every(k as u64 + 1, workers as u64, tip, &tx));
                    rx
                })
                .collect();
            self.check_in_order(tip, &readers)
        })
    }

    /// A reader of [`Ledger::rebuild`]: sends blocks `first`, `first +
    /// step`, ... up to `tip`, each checked, in order; after a failure
    /// it sends the error (the first in chain order among its blocks)
    /// and stops.
    fn read_every(
        &self,
        first: u64,
        step: u64,
        tip: u64,
        tx: &mpsc::SyncSender<Result<ReadBlock, StoreError>>,
    ) {
        let mut h = first;
        while h <= tip {
            let mut group = Vec::new();
            let mut entries = 0;
            let mut failed = None;
            while h <= tip && entries < CHECK_BATCH_ENTRIES {
                match self.read_unverified(h) {
                    Ok(read) => {
                        entries += read.block.ids.len();
                        group.push(read);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
                h += step;
            }
            let good = match verify_group(&group) {
                Ok(()) => group.len(),
                Err((i, e)) => {
                    failed = Some(e);
                    i
                }
            };
            for read in group.into_iter().take(good) {
                if tx.send(Ok(read.block)).is_err() {
                    return;
                }
            }
            if let Some(e) = failed {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }

    /// A stored block with every check but its signatures' (for
    /// [`Ledger::check`], which verifies them in batches of blocks).
    fn read_unverified(&self, h: u64) -> Result<Unverified, StoreError> {
        let corrupt = corrupt_at(h);
        let bytes = self
            .backend
            .get(&keys::at_height(ns::BLOCK, h))?
            .ok_or_else(|| corrupt("missing".into()))?;
        // The stored bytes give each entry's id and signed message as they
        // are decoded, with no second encoding.
        let (block, prepared) = Block::decode_with_encodings::<{ usize::MAX }>(&bytes)
            .map_err(|e| corrupt(e.to_string()))?;
        drop(bytes);
        if block.header.height != h {
            return Err(corrupt(format!(
                "it holds block {} instead",
                block.header.height
            )));
        }
        let header = self
            .header(h)?
            .ok_or_else(|| corrupt("header missing".into()))?;
        if header != block.header {
            return Err(corrupt("the stored header differs from the block's".into()));
        }
        let ids = check_unsigned(&block, &prepared).map_err(|e| corrupt(e.to_string()))?;
        if self.entry_ids(h)?.as_deref() != Some(&ids[..]) {
            return Err(corrupt("the entry map differs from the block".into()));
        }
        let certified = match self.certificate(h)? {
            Some(c) => {
                c.verify(&self.genesis, &header)
                    .map_err(|e| corrupt(e.to_string()))?;
                true
            }
            None => false,
        };
        Ok(Unverified {
            block: ReadBlock {
                block,
                ids,
                certified,
            },
            prepared,
        })
    }

    fn check_in_order(
        &self,
        tip: u64,
        readers: &[mpsc::Receiver<Result<ReadBlock, StoreError>>],
    ) -> Result<Rebuilt, StoreError> {
        let mut state = Committed::genesis(&self.genesis);
        let mut ids_index = IdIndex::default();
        let mut prev: Option<Header> = None;
        let mut entries = 0u64;
        let mut certified = 0u64;
        for h in 1..=tip {
            let corrupt = corrupt_at(h);
            let ReadBlock {
                block,
                ids,
                certified: has_certificate,
            } = readers
                .get(((h - 1) % readers.len() as u64) as usize)
                .ok_or_else(|| corrupt("no reader for this block".into()))?
                .recv()
                .map_err(|_| corrupt("the reader stopped".into()))??;
            block::check_link(&self.chain_id, prev.as_ref(), &block.header)
                .map_err(|e| corrupt(e.to_string()))?;
            let applied = rules::apply_block_with_ids(&state, &block.entries, &ids, h, true)
                .map_err(|(i, e)| corrupt(format!("entry #{i} breaks a rule: {e}")))?;
            certified += u64::from(has_certificate);
            let delta = IndexDelta::of_block(&block.entries, &applied.effects);
            state.apply(h, &applied.changes, &delta);
            ids_index.push_block(ids.iter().copied());
            entries += ids.len() as u64;
            prev = Some(block.header);
        }
        Ok(Rebuilt {
            state,
            ids: ids_index,
            blocks: tip,
            entries,
            certified,
            tip_hash: prev.map(|h| h.hash()),
        })
    }

    /// Compares what [`Ledger::rebuild`] made with this ledger's state and
    /// indexes; `state_digest` is the digest of either (they must be equal).
    fn compare(&self, rebuilt: Rebuilt, state_digest: Hash32) -> Result<CheckReport, StoreError> {
        let Rebuilt {
            state,
            ids,
            blocks,
            entries,
            certified,
            tip_hash,
        } = rebuilt;
        if blocks != self.height() {
            return Err(StoreError::Corrupt(format!(
                "the chain was re-verified up to block {blocks} but the ledger's tip is {}",
                self.height()
            )));
        }
        if state != self.state {
            return Err(StoreError::Corrupt(
                "the stored state or indexes differ from those rebuilt from the blocks".into(),
            ));
        }
        if ids != self.ids {
            return Err(StoreError::Corrupt(
                "the entry id index differs from the one rebuilt from the blocks".into(),
            ));
        }
        Ok(CheckReport {
            blocks,
            entries,
            certified,
            tip_hash,
            state_digest,
        })
    }
}

fn hex_or_len(b: &[u8]) -> String {
    if b.len() <= 8 {
        format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
    } else {
        format!("({} bytes)", b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_delta_encodes_as_the_owned_one() {
        let mut changes = Changes::default();
        changes.nonces.insert(PublicKey([7; 32]), 3);
        let mut index = IndexDelta::default();
        index.authors.push((PublicKey([7; 32]), vec![0, 2]));
        let owned = codec::encode(&Delta {
            changes: changes.clone(),
            index: index.clone(),
        });
        let borrowed = codec::encode(&DeltaRef {
            changes: &changes,
            index: &index,
        });
        assert_eq!(owned, borrowed);
        let back: Delta = codec::decode_trusted("delta", &borrowed).unwrap();
        assert_eq!(back.changes, changes);
    }

    /// Block `height` of `n` signed entries (only what the signature
    /// batch looks at is filled in), as the integrity check reads it.
    fn unverified(height: u64, n: u64, forge: Option<usize>) -> Unverified {
        use ed25519_dalek::SigningKey;
        use waybill_core::entry::{Body, Entry, Location, Receive};
        let key = SigningKey::from_bytes(&[height as u8; 32]);
        let author = waybill_core::crypto::public_key(&key);
        let mut entries: Vec<SignedEntry> = (1..=n)
            .map(|nonce| {
                let shipment = format!("S-{height}-{nonce}").parse().unwrap();
                let (at, documents) = (Location::default(), Vec::new());
                let body = Body::Receive(Receive {
                    shipment,
                    at,
                    documents,
                });
                let (version, chain_id) = (entry::ENTRY_VERSION, Hash32([1; 32]));
                let recorded_at_ms = 1_700_000_000_000;
                Entry {
                    version,
                    chain_id,
                    author,
                    nonce,
                    recorded_at_ms,
                    body,
                }
                .sign(&key)
            })
            .collect();
        if let Some(i) = forge {
            // Another entry's signature: well formed, but not over this one.
            entries[i].signature = entries[(i + 1) % entries.len()].signature;
        }
        let header = Header {
            chain_id: Hash32([1; 32]),
            height,
            prev_hash: Hash32([0; 32]),
            time_ms: 0,
            proposer: PublicKey([0; 32]),
            entries_root: Hash32([0; 32]),
            entry_count: entries.len() as u32,
        };
        let bytes = codec::encode(&Block { header, entries });
        let (block, prepared) = Block::decode_with_encodings::<{ usize::MAX }>(&bytes).unwrap();
        Unverified {
            block: ReadBlock {
                ids: prepared.iter().map(|p| p.id).collect(),
                block,
                certified: false,
            },
            prepared,
        }
    }

    #[test]
    fn a_signature_batch_across_blocks_names_the_first_bad_block_and_entry() {
        let group = |forged: &[(u64, usize)]| -> Vec<Unverified> {
            [3, 5, 7]
                .into_iter()
                .map(|h| {
                    let forge = forged.iter().find(|(f, _)| *f == h).map(|(_, i)| *i);
                    unverified(h, 4, forge)
                })
                .collect()
        };
        assert!(verify_group(&group(&[])).is_ok());
        assert!(verify_group(&[]).is_ok());
        for (forged, want_pos, want_block, want_entry) in [
            (&[(3, 0)][..], 0, 3, 0),
            (&[(5, 2)][..], 1, 5, 2),
            (&[(7, 3)][..], 2, 7, 3),
            (&[(7, 0), (5, 3)][..], 1, 5, 3),
        ] {
            let (pos, err) = verify_group(&group(forged)).expect_err("a forged signature");
            let msg = err.to_string();
            assert_eq!(pos, want_pos, "{msg}");
            assert!(msg.contains(&format!("block {want_block}:")), "{msg}");
            assert!(msg.contains(&format!("entry #{want_entry} ")), "{msg}");
            assert!(msg.contains("signature"), "{msg}");
        }
    }
}
