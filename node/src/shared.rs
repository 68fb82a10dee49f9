//! What the node's tasks share: the ledger, the mempool, the committed
//! height, peer count and metrics.
//!
//! Lock order: the ledger before the mempool, always. The mempool is only
//! touched while the ledger is locked, so the mempool is always in step
//! with the ledger's state: a reader never sees an entry neither pending
//! nor final.
//!
//! A commit takes the ledger's upgradable read (one committer, readers go
//! on) while it validates the block and writes it to disk, the exclusive
//! lock only to install it in memory, and then, holding the mempool, a
//! read lock for the mempool's re-check: readers wait for neither the disk
//! nor the re-check.
//!
//! Every method blocks (locks; [`Shared::commit_block`] flushes to disk):
//! call them from `tokio::task::spawn_blocking` in async code.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use parking_lot::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
use tokio::sync::{mpsc, watch};
use waybill_consensus::MAX_PROPOSED_BLOCK_BYTES as MAX_BLOCK_BYTES;
use waybill_core::block::{Block, BlockBytes, BlockHash, CommitCertificate, Header};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint, Cosignature};
use waybill_core::crypto::{BatchVerifier, Hash32, PublicKey};
use waybill_core::entry::{self, EncodedEntry, EntryId, SignatureError, SignedEntry};
use waybill_core::genesis::{ChainId, Genesis, ValidatorSpec};
use waybill_core::rules::{self, At, RuleError};
use waybill_core::state::View;
use waybill_mempool::{FromPeer, Limits, Mempool, MempoolError, Recheck};
use waybill_store::{Backend, Ledger, StoreError, Validated};

use crate::metrics::{self, Metrics};

/// Room left in a block for its header and framing.
const BLOCK_OVERHEAD: usize = 4096;

/// Why the node's shared state cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    /// A commit panicked or was refused after it began to change the
    /// ledger in memory: the ledger is refused to every reader until the
    /// node restarts.
    #[error("a commit failed while changing the ledger in memory; restart the node")]
    Broken,
    /// The mempool could not be had along with the ledger.
    #[error("the mempool is unavailable")]
    MempoolUnavailable,
}

/// Why an entry was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Refused by the mempool: a rule, a duplicate, or no room.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// The node cannot take entries (an earlier failure poisoned its state).
    #[error("the node cannot accept entries: {0}")]
    Unavailable(#[from] SharedError),
}

impl From<RuleError> for SubmitError {
    fn from(e: RuleError) -> Self {
        SubmitError::Mempool(MempoolError::Rule(e))
    }
}

/// Why a block was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The ledger refused the block (link, rules, certificate) or could
    /// not store it. Nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node's state is unusable (an earlier failure poisoned it).
    #[error("the node's ledger is unavailable: {0}")]
    Unavailable(#[from] SharedError),
}

/// A ledger read that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store failed or holds corrupt data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node's state is unusable.
    #[error("the node's ledger is unavailable: {0}")]
    Unavailable(#[from] SharedError),
}

/// A checkpoint of the ledger's log, with what cosigning it needs.
#[derive(Debug, Clone)]
pub struct LogHead {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// Its block's time (ms since the Unix epoch): the time a validator's
    /// cosignature states, so every validator signs the same message.
    pub time_ms: i64,
    /// The validators of its height.
    pub validators: Vec<ValidatorSpec>,
    /// The chain.
    pub chain_id: ChainId,
    /// The validators' cosignatures of it kept with its block (as their
    /// precommits carried them) that verify.
    pub cosignatures: Vec<Cosignature>,
}

/// Why no block was proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Consensus asked for a height that is not the next one.
    #[error("cannot propose block {height}: the next block is {next}")]
    NotNext {
        /// Asked for.
        height: u64,
        /// The next height.
        next: u64,
    },
    /// The node's state is unusable.
    #[error("the node's ledger is unavailable: {0}")]
    Unavailable(#[from] SharedError),
}

/// A proposed block's time is too far from this node's clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "block {height} has time {time_ms}, {skew_ms} ms from this node's clock ({now_ms}); \
     at most {max_skew_ms} ms (consensus.max_clock_skew_ms) is accepted"
)]
pub struct ClockSkew {
    /// The block's height.
    pub height: u64,
    /// Its time.
    pub time_ms: i64,
    /// This node's clock.
    pub now_ms: i64,
    /// The difference.
    pub skew_ms: u64,
    /// The limit.
    pub max_skew_ms: u64,
}

/// Checks a proposed block's time against this node's clock `now_ms`:
/// a validator does not vote for a block more than `max_skew_ms` away.
/// (That it follows the previous block's time is checked by
/// [`Shared::validate_block`].) Not for blocks replayed by sync.
pub fn check_block_time(header: &Header, now_ms: i64, max_skew_ms: u64) -> Result<(), ClockSkew> {
    let skew_ms = header.time_ms.abs_diff(now_ms);
    if skew_ms > max_skew_ms {
        return Err(ClockSkew {
            height: header.height,
            time_ms: header.time_ms,
            now_ms,
            skew_ms,
            max_skew_ms,
        });
    }
    Ok(())
}

/// What [`Shared::commit_block`] did: a summary of the block it
/// committed and of the mempool's re-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    /// The new height.
    pub height: u64,
    /// The block's hash.
    pub hash: BlockHash,
    /// Entries in the block.
    pub entries: usize,
    /// What the mempool removed and dropped.
    pub mempool: Recheck,
}

/// Where an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryStatus {
    /// In a committed block.
    Final {
        /// The entry.
        entry: SignedEntry,
        /// Block height.
        height: u64,
        /// Position in the block.
        index: u32,
    },
    /// Waiting in the mempool.
    Pending(SignedEntry),
    /// Unknown to this node.
    Unknown,
}

/// What the node knows of an author's nonces ([`Shared::nonces`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorNonces {
    /// A member whose key may sign.
    Member {
        /// Its name.
        name: String,
        /// Its last committed nonce (0 if none).
        committed: u64,
        /// Its last nonce with its entries waiting in the mempool on top:
        /// the next entry must have this plus one.
        last: u64,
        /// Its entries waiting in the mempool.
        pending: usize,
    },
    /// A member whose key was removed or rotated out at `height` (with
    /// the waiting entries on top): it signs nothing more.
    Removed {
        /// Its name.
        name: String,
        /// Where the key stopped.
        height: u64,
    },
    /// Not a member of the chain (with the waiting entries on top).
    Unknown,
}

/// The node's shared state, generic over the ledger's backend.
#[derive(Debug)]
pub struct Shared<B: Backend> {
    /// The genesis (a copy of the ledger's).
    pub genesis: Genesis,
    /// The chain id.
    pub chain_id: ChainId,
    /// The ledger. Take the read guard briefly (through
    /// [`Shared::read`]); never hold it across an `.await`. (Shared with
    /// the thread that writes snapshots.)
    pub ledger: Arc<RwLock<Ledger<B>>>,
    /// Set when a commit panicked or was refused after it began to change
    /// the ledger in memory: the ledger is then refused to every reader
    /// (restart).
    broken: Arc<AtomicBool>,
    /// Whether a snapshot is being written on its own thread.
    snapshotting: Arc<AtomicBool>,
    /// The mempool. Lock it only while holding the ledger lock.
    pub mempool: Mutex<Mempool>,
    /// The committed height; subscribe to be woken on each commit.
    pub decided: watch::Sender<u64>,
    /// Connected gossip peers (set by the gossip task).
    pub peers: AtomicUsize,
    /// When the node started.
    pub started: Instant,
    /// Metrics.
    pub metrics: Metrics,
    /// Blocks validated for the next height (a proposal per round, a
    /// synced block), so the decided one is committed without checking
    /// its signatures and rules again (with the block's entry ids).
    validated: Mutex<Vec<Validated>>,
    /// The last nonce of each author with an entry committed since the
    /// node started: the gossip checks ask it (see
    /// [`Shared::settled_nonces`]) without waiting for the ledger lock.
    settled: Mutex<HashMap<PublicKey, u64>>,
}

/// Each entry's signature verdict, as [`SignedEntry::verify_signatures`]
/// gives it, from one batch verification when all pass (the usual case).
pub fn verify_each(entries: &[EncodedEntry]) -> Vec<Result<(), SignatureError>> {
    let mut batch = BatchVerifier::new();
    let mut verdicts = entry::queue_each(entries, &mut batch);
    let ok = batch.verify(rand_core::OsRng).is_ok();
    entry::settle_each(entries, &mut verdicts, ok);
    verdicts
}

/// Most validated blocks kept for the next height.
const MAX_VALIDATED: usize = 16;

/// Marks the ledger broken if dropped while its thread panics (the
/// poisoning a `std` lock would do).
struct BreakOnPanic<'a>(&'a AtomicBool);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl<B: Backend + 'static> Shared<B> {
    /// Shares `ledger` with an empty mempool of `limits`. Snapshots are
    /// written on their own thread from now on (see
    /// [`Shared::commit_encoded`]).
    pub fn new(mut ledger: Ledger<B>, limits: Limits) -> Self {
        ledger.set_auto_snapshot(false);
        let height = ledger.height();
        let metrics = Metrics::new();
        metrics::set(&metrics.height, height);
        Shared {
            genesis: ledger.genesis().clone(),
            chain_id: ledger.chain_id(),
            ledger: Arc::new(RwLock::new(ledger)),
            broken: Arc::new(AtomicBool::new(false)),
            snapshotting: Arc::new(AtomicBool::new(false)),
            mempool: Mutex::new(Mempool::new(limits)),
            decided: watch::channel(height).0,
            peers: AtomicUsize::new(0),
            started: Instant::now(),
            metrics,
            validated: Mutex::new(Vec::new()),
            settled: Mutex::new(HashMap::new()),
        }
    }

    /// The ledger, for reading.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, Ledger<B>>, SharedError> {
        let guard = self.ledger.read();
        self.usable()?;
        Ok(guard)
    }

    /// The ledger, for committing: readers go on, other committers wait.
    fn committing(&self) -> Result<RwLockUpgradableReadGuard<'_, Ledger<B>>, SharedError> {
        let guard = self.ledger.upgradable_read();
        self.usable()?;
        Ok(guard)
    }

    fn usable(&self) -> Result<(), SharedError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(SharedError::Broken);
        }
        Ok(())
    }

    /// The mempool. Call only while holding a ledger guard (lock order).
    /// The mempool is rebuilt on every commit, so a poisoned lock is
    /// recovered rather than reported.
    pub fn pool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The committed height.
    pub fn height(&self) -> u64 {
        *self.decided.borrow()
    }

    /// A receiver woken on every commit with the new height.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.decided.subscribe()
    }

    /// Sets the number of connected gossip peers.
    pub fn set_peers(&self, n: usize) {
        self.peers.store(n, Ordering::Relaxed);
        metrics::set(&self.metrics.peers, n);
    }

    /// Offers an entry: signatures (outside any lock), then the rules
    /// against the committed state plus the mempool. On success the entry
    /// waits in the mempool; the caller gossips it.
    pub fn submit(&self, entry: SignedEntry) -> Result<EntryId, SubmitError> {
        let result = self.submit_inner(entry);
        self.count_submission(&result);
        result
    }

    /// Offers a client's entries in order, as [`Shared::submit`] would one
    /// by one, with the same outcome for each: all their signatures in
    /// one batch verification (outside any lock; ZIP 215, so the verdict
    /// of single verification), then the rules with the locks taken once.
    /// After an entry that finds the mempool full (or the node
    /// unavailable) the rest are not attempted (`None`).
    ///
    /// The accepted entries are handed to `gossip` (without waiting; a
    /// full queue is counted and logged) before the mempool lock is
    /// released, so peers receive each node's entries in the order it
    /// accepted them, and an author's entries arrive in nonce order
    /// instead of waiting parked for the ones before them.
    pub fn submit_batch(
        &self,
        entries: Vec<SignedEntry>,
        gossip: Option<&mpsc::Sender<Vec<EncodedEntry>>>,
    ) -> Vec<Option<Result<EntryId, SubmitError>>> {
        // Each entry is encoded once, for its signed message, its id and
        // size, and the bytes gossip sends.
        let entries: Vec<EncodedEntry> = entries.into_iter().map(EncodedEntry::new).collect();
        let signatures = verify_each(&entries);
        self.submit_checked(entries, signatures, gossip)
    }

    /// [`Shared::submit_batch`] for entries already encoded, with their
    /// signatures' verdicts (one per entry, in order, each exactly what
    /// [`SignedEntry::verify_signatures`] gives, as from [`verify_each`]
    /// or the gossip layer's [`waybill_net::NetHandle::verify`]). Verdicts
    /// that do not match the entries one for one are ignored, and the
    /// signatures verified here.
    pub fn submit_checked(
        &self,
        entries: Vec<EncodedEntry>,
        signatures: Vec<Result<(), SignatureError>>,
        gossip: Option<&mpsc::Sender<Vec<EncodedEntry>>>,
    ) -> Vec<Option<Result<EntryId, SubmitError>>> {
        let signatures = if signatures.len() == entries.len() {
            signatures
        } else {
            verify_each(&entries)
        };
        let mut accepted = Vec::new();
        let mut results: Vec<Option<Result<EntryId, SubmitError>>> =
            Vec::with_capacity(entries.len());
        {
            let ledger = self.read().map_err(SubmitError::Unavailable);
            let mut pool = ledger.as_ref().ok().map(|_| self.pool());
            let mut stopped = false;
            for (entry, signature) in entries.into_iter().zip(signatures) {
                if stopped {
                    results.push(None);
                    continue;
                }
                let result = match (&ledger, pool.as_mut(), signature) {
                    (Err(e), _, _) => Err(e.clone()),
                    (_, _, Err(e)) => Err(SubmitError::from(RuleError::from(e))),
                    (Ok(ledger), Some(pool), Ok(())) => {
                        let known = (entry.id(), entry.len());
                        let (pooled, keep) = match gossip {
                            Some(_) => (entry.entry().clone(), Some(entry)),
                            None => (entry.into_entry(), None),
                        };
                        let r = pool
                            .insert_verified_known(pooled, known, ledger.state(), tip(ledger))
                            .map_err(SubmitError::from);
                        if r.is_ok() {
                            accepted.extend(keep);
                        }
                        r
                    }
                    (Ok(_), None, Ok(())) => {
                        Err(SubmitError::Unavailable(SharedError::MempoolUnavailable))
                    }
                };
                stopped = matches!(
                    result,
                    Err(SubmitError::Mempool(
                        MempoolError::Full { .. } | MempoolError::AuthorFull { .. }
                    )) | Err(SubmitError::Unavailable(_))
                );
                results.push(Some(result));
            }
            // An entry taken here may be what an orphan from a peer waits for.
            if let (Some(pool), Ok(ledger)) = (pool.as_mut(), &ledger) {
                pool.retry_orphans(ledger.state(), tip(ledger));
            }
            if let Some(pool) = &pool {
                metrics::set(&self.metrics.mempool_entries, pool.len());
                metrics::set(&self.metrics.mempool_bytes, pool.bytes());
            }
            if let (Some(tx), false) = (gossip, accepted.is_empty()) {
                let n = accepted.len() as u64;
                if let Err(e) = tx.try_send(accepted) {
                    self.metrics.gossip_queue_full.inc_by(n);
                    tracing::warn!(entries = n, "accepted entries not gossiped: {e}");
                }
            }
        }
        for r in results.iter().flatten() {
            self.count_submission(r);
        }
        results
    }

    /// Offers entries whose signatures were verified already, by the
    /// gossip layer that delivered them (with their ids, hashed from the
    /// bytes received): the rules only, with the locks taken once for all
    /// of them. One result per entry, in order.
    pub fn submit_verified_batch(
        &self,
        entries: Vec<waybill_net::Received>,
    ) -> Vec<Result<FromPeer, SubmitError>> {
        let ledger = match self.read() {
            Ok(l) => l,
            Err(e) => {
                return entries
                    .iter()
                    .map(|_| Err(SubmitError::Unavailable(e.clone())))
                    .collect()
            }
        };
        let mut pool = self.pool();
        let results: Vec<Result<FromPeer, SubmitError>> = entries
            .into_iter()
            .map(|e| {
                pool.insert_from_peer_known(
                    e.entry,
                    Some((e.id, e.len)),
                    ledger.state(),
                    tip(&ledger),
                )
                .map_err(SubmitError::from)
            })
            .collect();
        pool.retry_orphans(ledger.state(), tip(&ledger));
        metrics::set(&self.metrics.mempool_entries, pool.len());
        metrics::set(&self.metrics.mempool_bytes, pool.bytes());
        drop(pool);
        drop(ledger);
        for r in &results {
            match r {
                Ok(FromPeer::Parked(_)) => self.metrics.submission("parked", "nonce_gap"),
                Ok(FromPeer::Orphaned(_)) => {
                    self.metrics.submission("parked", "unknown_lot_or_shipment")
                }
                Ok(FromPeer::Accepted(id)) => self.count_submission(&Ok(*id)),
                Err(e) => self.count_submission(&Err(e.clone())),
            }
        }
        results
    }

    fn count_submission(&self, result: &Result<EntryId, SubmitError>) {
        match result {
            Ok(_) => self.metrics.submission("accepted", "none"),
            Err(SubmitError::Mempool(MempoolError::Rule(e))) => {
                self.metrics.submission("rejected", metrics::rule_reason(e));
            }
            Err(SubmitError::Mempool(MempoolError::Duplicate(_))) => {
                self.metrics.submission("rejected", "duplicate");
            }
            Err(SubmitError::Mempool(MempoolError::Full { .. })) => {
                self.metrics.submission("rejected", "mempool_full");
            }
            Err(SubmitError::Mempool(MempoolError::AuthorFull { .. })) => {
                self.metrics.submission("rejected", "author_full");
            }
            Err(SubmitError::Unavailable(_)) => self.metrics.submission("rejected", "unavailable"),
        }
    }

    fn submit_inner(&self, entry: SignedEntry) -> Result<EntryId, SubmitError> {
        entry.verify_signatures().map_err(RuleError::from)?;
        let ledger = self.read()?;
        let mut pool = self.pool();
        let id = pool.insert_verified(entry, ledger.state(), tip(&ledger))?;
        metrics::set(&self.metrics.mempool_entries, pool.len());
        metrics::set(&self.metrics.mempool_bytes, pool.bytes());
        Ok(id)
    }

    /// Where an entry is: final, pending or unknown (one consistent look).
    pub fn entry_status(&self, id: &EntryId) -> Result<EntryStatus, ReadError> {
        let ledger = self.read()?;
        if let Some(l) = ledger.entry(id)? {
            return Ok(EntryStatus::Final {
                entry: l.entry,
                height: l.height,
                index: l.index,
            });
        }
        let pool = self.pool();
        Ok(match pool.get(id) {
            Some(e) => EntryStatus::Pending(e.clone()),
            None => EntryStatus::Unknown,
        })
    }

    /// An author's nonces, in one consistent look at the ledger and the
    /// mempool: the committed state with the waiting entries on top (what
    /// the author's next entry is checked against) says whether it is a
    /// member and its last nonce; its waiting entries are counted.
    pub fn nonces(&self, author: &PublicKey) -> Result<AuthorNonces, SharedError> {
        let ledger = self.read()?;
        let pool = self.pool();
        let committed = ledger.state();
        let view = pool.view(committed);
        let Some(member) = view.member(author) else {
            return Ok(AuthorNonces::Unknown);
        };
        let name = member.spec.name.clone();
        if let Some(height) = member.removed_at {
            return Ok(AuthorNonces::Removed { name, height });
        }
        Ok(AuthorNonces::Member {
            name,
            committed: committed.nonce(author),
            last: view.nonce(author),
            pending: pool.by_author(author).count(),
        })
    }

    /// Up to `max` waiting entries in acceptance order (a valid block on
    /// top of the committed state), within the block size limit.
    pub fn take(&self, max: usize) -> Result<Vec<SignedEntry>, SharedError> {
        let _ledger = self.read()?;
        let pool = self.pool();
        Ok(pool.take_within(max, MAX_BLOCK_BYTES - BLOCK_OVERHEAD))
    }

    /// Seals block `height` (the next one) from the mempool, for the
    /// proposer: at most the genesis's `max_block_entries`, within the
    /// block size limit, at `time_ms` (moved just past the tip's time if
    /// the clock is behind it). Not committed.
    pub fn propose(
        &self,
        height: u64,
        time_ms: i64,
        proposer: PublicKey,
    ) -> Result<Block, ProposeError> {
        let _timer = self.metrics.step("build");
        let ledger = self.read()?;
        let next = ledger.height() + 1;
        if height != next {
            return Err(ProposeError::NotNext { height, next });
        }
        let max = self.genesis.consensus.max_block_entries as usize;
        let entries = self
            .pool()
            .take_within(max, MAX_BLOCK_BYTES - BLOCK_OVERHEAD);
        Ok(ledger.seal(entries, time_ms, proposer))
    }

    /// Fully validates a proposed block against the tip and the committed
    /// state (links, size, Merkle root, signatures, every rule), without
    /// committing it: a validator votes only for blocks that pass.
    pub fn validate_block(&self, block: &Block) -> Result<(), ReadError> {
        self.validate_encoded(&BlockBytes::encode(block.clone()))
    }

    /// [`Shared::validate_block`] for a block with its bytes (a proposal
    /// as it arrived): its entries' ids and signed messages come from them.
    pub fn validate_encoded(&self, block: &BlockBytes) -> Result<(), ReadError> {
        let _timer = self.metrics.step("check");
        let ledger = self.read()?;
        // Entries this node holds in its mempool, waiting or parked, had
        // their signatures verified on the way in; a block usually
        // consists of them. The pool is locked per question, never across
        // the verification.
        let checked = ledger.validate_encoded(block, &|id| self.pool().verified(id))?;
        let mut kept = self
            .validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_VALIDATED {
            kept.remove(0);
        }
        kept.push(checked);
        Ok(())
    }

    /// For each of `authors`, the last nonce this node has committed, as
    /// far as the blocks committed since it started tell (0 for an author
    /// with none since): never more than the ledger's, so an entry at or
    /// below it is committed or superseded. Only a short lock of its own,
    /// never the ledger's, so the gossip checks that ask never wait for a
    /// commit.
    pub fn settled_nonces(&self, authors: &[PublicKey]) -> Vec<u64> {
        let settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
        authors
            .iter()
            .map(|a| settled.get(a).copied().unwrap_or(0))
            .collect()
    }

    /// Writes a due snapshot on its own thread, under a read guard, so a
    /// large one (a second or more on a big ledger) never holds up a
    /// commit: blocks are validated and proposed meanwhile, and the next
    /// commit waits only if it comes before the snapshot is done. One at a
    /// time. A failure is logged; the ledger is correct without snapshots
    /// (opening replays more deltas).
    fn snapshot_in_background(&self) {
        let due = self.read().map(|l| l.snapshot_due()).unwrap_or(false);
        if !due || self.snapshotting.swap(true, Ordering::AcqRel) {
            return;
        }
        let ledger = Arc::clone(&self.ledger);
        let broken = Arc::clone(&self.broken);
        let busy = Arc::clone(&self.snapshotting);
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                let ledger = ledger.read();
                if !broken.load(Ordering::Acquire) {
                    if let Err(e) = ledger.snapshot() {
                        tracing::warn!("could not write a state snapshot: {e}");
                    }
                }
                drop(ledger);
                busy.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            self.snapshotting.store(false, Ordering::Release);
            tracing::warn!("cannot start a thread to write a state snapshot: {e}");
        }
    }

    /// A committed block and its certificate (for peers that sync).
    pub fn committed(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, ReadError> {
        let ledger = self.read()?;
        let Some(block) = ledger.block(height)? else {
            return Ok(None);
        };
        let cert = ledger.certificate(height)?;
        Ok(Some((block, cert)))
    }

    /// The cosignatures kept with a committed block (for peers that sync).
    pub fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, ReadError> {
        Ok(self.read()?.cosignatures(height)?)
    }

    /// The checkpoint of the log with `block` committed on the tip, its
    /// completeness index root included: worked out from the block's
    /// validation, which a block this node votes for has had (a block it
    /// has not, such as its own proposal, is validated first, skipping
    /// the signatures the mempool verified).
    pub fn checkpoint_after(&self, block: &BlockBytes) -> Result<Checkpoint, ReadError> {
        let _timer = self.metrics.step("checkpoint");
        let hash = block.block().header.hash();
        let validated_here = |s: &Self| {
            s.validated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|v| v.block_hash() == hash)
        };
        if !validated_here(self) {
            self.validate_encoded(block)?;
        }
        let ledger = self.read()?;
        let kept = self
            .validated
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let checked = kept.iter().rev().find(|v| v.block_hash() == hash);
        Ok(ledger.checkpoint_after(block, checked)?)
    }

    /// A committed block's header, without reading the block (consensus
    /// reads the last few at start for their proposers).
    pub fn committed_header(&self, height: u64) -> Result<Option<Header>, ReadError> {
        Ok(self.read()?.header(height)?)
    }

    /// The log's checkpoint as of block `height` (the tip's with `None`),
    /// with that block's time and the validators of its height; `None`
    /// before the first block or beyond the tip.
    pub fn log_head(&self, height: Option<u64>) -> Result<Option<LogHead>, ReadError> {
        let ledger = self.read()?;
        let height = height.unwrap_or_else(|| ledger.height());
        let Some((checkpoint, cosignatures)) = ledger.cosigned(height)? else {
            return Ok(None);
        };
        let Some(header) = ledger.header(height)? else {
            return Ok(None);
        };
        Ok(Some(LogHead {
            checkpoint,
            time_ms: header.time_ms,
            validators: rules::validators_at(ledger.state(), height),
            chain_id: ledger.chain_id(),
            cosignatures,
        }))
    }

    /// The log leaf of the entry at `index` in block `height` and the
    /// proof that it is in the log's first `size` entries; `None` if there
    /// is no such entry.
    pub fn log_inclusion(
        &self,
        height: u64,
        index: u32,
        size: u64,
    ) -> Result<Option<(u64, Vec<Hash32>)>, ReadError> {
        let ledger = self.read()?;
        let Some(leaf) = ledger.log_leaf(height, index) else {
            return Ok(None);
        };
        Ok(Some((leaf, ledger.prove_inclusion(leaf, size)?)))
    }

    /// The proof that the log's first `old` entries are a prefix of its
    /// first `new`.
    pub fn log_consistency(&self, old: u64, new: u64) -> Result<Vec<Hash32>, ReadError> {
        Ok(self.read()?.prove_consistency(old, new)?)
    }

    /// The validator set of `height`, the next to decide: genesis and the
    /// governance changes made by then (for a height further on, the
    /// changes scheduled up to it).
    pub fn validators_at(&self, height: u64) -> Result<Vec<ValidatorSpec>, ReadError> {
        let ledger = self.read()?;
        Ok(rules::validators_at(ledger.state(), height))
    }

    /// The keys allowed on the networks from the next height on: every
    /// member active then, the node keys bound to those members, and that
    /// height's validators (genesis, with the governance changes made by
    /// then), sorted. A change scheduled for the next height counts
    /// already, so a new member's node is admitted while the block that
    /// makes the change is decided.
    pub fn allowed_keys(&self) -> Result<Vec<PublicKey>, ReadError> {
        let ledger = self.read()?;
        let state = ledger.state();
        let next = ledger.height().saturating_add(1);
        let due = rules::activate(state, next).unwrap_or_default();
        let validators = match &due.council {
            Some(c) => c.validators.clone(),
            None => state.council().validators.clone(),
        };
        let mut keys: Vec<PublicKey> = state
            .members
            .iter()
            .filter(|(k, _)| !due.members.contains_key(*k))
            .chain(due.members.iter())
            .filter(|(_, m)| m.active())
            .map(|(k, _)| *k)
            .chain(validators.into_iter().map(|v| v.public_key))
            .chain(rules::node_keys_at(state, next))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The tip header.
    pub fn tip(&self) -> Result<Option<Header>, SharedError> {
        Ok(self.read()?.tip().cloned())
    }

    /// Commits a decided block (with its certificate, once consensus
    /// provides one): appends it durably, removes its entries from the
    /// mempool and re-checks the rest, then publishes the new height on
    /// [`Shared::decided`]. A refused block changes nothing. A snapshot
    /// that falls due is written afterwards on its own thread.
    pub fn commit_block(
        &self,
        block: Block,
        cert: Option<CommitCertificate>,
    ) -> Result<CommitSummary, CommitError> {
        self.commit_encoded(BlockBytes::encode(block), cert)
    }

    /// [`Shared::commit_block`] for a block with its bytes, which are
    /// stored as they are.
    pub fn commit_encoded(
        &self,
        block: BlockBytes,
        cert: Option<CommitCertificate>,
    ) -> Result<CommitSummary, CommitError> {
        self.commit_decided(block, cert, &[])
    }

    /// [`Shared::commit_encoded`] with the validators' cosignatures of
    /// the block's checkpoint, as consensus decided it: kept with the
    /// block as they are (one that does not verify is logged, and kept
    /// for syncing peers but never served).
    pub fn commit_decided(
        &self,
        block: BlockBytes,
        cert: Option<CommitCertificate>,
        cosignatures: &[CarriedCosignature],
    ) -> Result<CommitSummary, CommitError> {
        let _timer = self.metrics.step("commit");
        let hash = block.block().header.hash();
        let ledger = self.committing()?;
        let found = {
            let mut kept = self
                .validated
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let found = kept
                .iter()
                .position(|v| v.block_hash() == hash)
                .map(|i| kept.swap_remove(i));
            kept.clear();
            found
        };
        // A block not validated yet (this node's own proposal, or one it
        // did not see proposed) is validated by the ledger, skipping the
        // signatures of entries the mempool verified on the way in.
        let ids: Vec<EntryId> = block.entries().iter().map(|e| e.id).collect();
        let authors: Vec<(PublicKey, u64)> = block
            .block()
            .entries
            .iter()
            .map(|e| (e.entry.author, e.entry.nonce))
            .collect();
        // Validating and writing only read the ledger: lookups, submissions
        // and gossip checks go on against the tip before this block.
        let height = block.block().header.height;
        let mut prepared = ledger.prepare(block, cert, found, &|id| self.pool().verified(id))?;
        let attached = ledger.attach_cosignatures(&mut prepared, cosignatures);
        if attached.verified < cosignatures.len() {
            tracing::warn!(
                height,
                given = cosignatures.len(),
                kept = attached.kept,
                verified = attached.verified,
                "some validators' cosignatures of block {height}'s checkpoint do not verify; they are kept for syncing peers but not served"
            );
        }
        let written = ledger.write(prepared)?;
        let mut ledger = RwLockUpgradableReadGuard::upgrade(ledger);
        let guard = BreakOnPanic(&self.broken);
        // Refused only if the tip moved under the guard, which it cannot;
        // the stored block would then be ahead of memory, so stop.
        let applied = match ledger.install(written) {
            Ok(applied) => applied,
            Err(e) => {
                self.broken.store(true, Ordering::Release);
                return Err(e.into());
            }
        };
        {
            let mut settled = self.settled.lock().unwrap_or_else(PoisonError::into_inner);
            for (author, nonce) in authors {
                let last = settled.entry(author).or_insert(nonce);
                *last = (*last).max(nonce);
            }
        }
        let height = ledger.height();
        // The mempool is taken before readers are let back in, so none
        // sees the new state with the old pool.
        let mut pool = self.pool();
        let ledger = RwLockWriteGuard::downgrade(ledger);
        let recheck = pool.on_commit(
            &ids,
            &applied.changes,
            ledger.state(),
            At::new(height, now_ms()),
        );
        metrics::set(&self.metrics.mempool_entries, pool.len());
        metrics::set(&self.metrics.mempool_bytes, pool.bytes());
        drop(pool);
        drop(guard);
        drop(ledger);
        for d in &recheck.dropped {
            tracing::info!(
                entry = %d.id,
                author = %d.author,
                "dropped from the mempool after block {height}: {}",
                d.error
            );
        }
        metrics::set(&self.metrics.height, height);
        self.metrics.blocks_committed.inc();
        self.metrics.entries_finalized.inc_by(ids.len() as u64);
        self.metrics
            .mempool_dropped
            .inc_by(recheck.dropped.len() as u64);
        self.metrics
            .mempool_rechecked
            .inc_by(recheck.rechecked as u64);
        self.decided.send_replace(height);
        tracing::debug!(
            height,
            entries = ids.len(),
            hash = %hash,
            rechecked = recheck.rechecked,
            "block committed"
        );
        self.snapshot_in_background();
        Ok(CommitSummary {
            height,
            hash,
            entries: ids.len(),
            mempool: recheck,
        })
    }
}

/// The node's clock, in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The ledger's tip height at the node's time now: what a waiting entry
/// is judged at (its `recorded_at` may not lie ahead of the clock by more
/// than the allowed skew).
fn tip<B: Backend>(ledger: &Ledger<B>) -> At {
    At::new(ledger.height(), now_ms())
}
