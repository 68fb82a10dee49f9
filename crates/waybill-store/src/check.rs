//! The integrity check: re-verifies the whole stored chain from genesis
//! (every header link, Merkle root, signature, rule and certificate) and
//! compares the state and indexes rebuilt from the blocks with the ones in
//! use, and the ledger's log (`log.rs`) with the tree rebuilt from every
//! entry id.
//!
//! Blocks are read and checked on one reader thread per core, reader `k`
//! taking every `workers`-th block, so the in-order thread that applies
//! the rules receives them in order from the readers in turn, with no
//! reorder buffer. Each reader verifies the signatures of several of its
//! blocks in one batch (about a thousand entries, across blocks), and runs
//! at most a batch and a few blocks ahead. [`Ledger::open_and_check`]
//! overlaps all this with loading the stored state to compare against.

use std::sync::mpsc;

use waybill_core::block::{self, Block, CommitCertificate, Header};
use waybill_core::checkpoint::CarriedCosignature;
use waybill_core::crypto::Hash32;
use waybill_core::entry::{self, Encoded, EntryId, SignedEntry};
use waybill_core::index::MemoryIndex;
use waybill_core::rules;

use crate::backend::Backend;
use crate::complete;
use crate::error::{corrupt_at, StoreError};
use crate::index::{IdIndex, IndexDelta};
use crate::keys::{self, ns};
use crate::ledger::Ledger;
use crate::log::Frontier;
use crate::state::Committed;
use crate::validate::{check_unsigned, signature_error};

/// Entries whose signatures the integrity check verifies in one batch,
/// across blocks: a batch verifies each distinct key once and shares one
/// multi-scalar multiplication, so per signature it costs about a sixth
/// less at 1,000 signatures than at a typical block's 200 or so.
const CHECK_BATCH_ENTRIES: usize = 1024;

/// Blocks each reader of the integrity check may have sent ahead of the
/// in-order thread.
const CHECK_AHEAD_BLOCKS: usize = 4;

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
    log: Frontier,
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
    /// The hashes it stored in the ledger's log.
    log: Option<Vec<u8>>,
    /// Its commit certificate, verified in order (the validator set of
    /// its height comes from the state before it).
    certificate: Option<CommitCertificate>,
    /// Its validators' cosignatures of the log's checkpoint (read, so
    /// malformed ones are found, and each from a validator of its height).
    cosignatures: Vec<CarriedCosignature>,
    /// Its stored completeness index root.
    index_root: Option<Hash32>,
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

impl<B: Backend> Ledger<B> {
    /// [`Ledger::open`] followed by [`Ledger::check`], faster: the blocks
    /// are re-verified from genesis while another thread loads the stored
    /// state (and its digest) to compare them with. An error opening the
    /// ledger is reported before one found in the blocks.
    pub fn open_and_check(backend: B) -> Result<(Self, CheckReport), StoreError>
    where
        B: Clone + Send + Sync,
    {
        let (genesis, _, tip) = Self::open_meta(&backend)?;
        let reader = Self::at_genesis(backend.clone(), genesis)?;
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
        let certificate = self.certificate(h)?;
        let log = self.backend.get(&keys::at_height(ns::LOG, h))?;
        let cosignatures = self.cosignatures(h)?;
        let index_root = self.index_root(h)?;
        Ok(Unverified {
            block: ReadBlock {
                block,
                ids,
                log,
                certificate,
                cosignatures,
                index_root,
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
        let mut log = Frontier::default();
        let mut index = MemoryIndex::new();
        let mut prev: Option<Header> = None;
        let mut entries = 0u64;
        let mut certified = 0u64;
        for h in 1..=tip {
            let corrupt = corrupt_at(h);
            let ReadBlock {
                block,
                ids,
                log: stored_log,
                certificate,
                cosignatures,
                index_root,
            } = readers
                .get(((h - 1) % readers.len() as u64) as usize)
                .ok_or_else(|| corrupt("no reader for this block".into()))?
                .recv()
                .map_err(|_| corrupt("the reader stopped".into()))??;
            block::check_link(&self.chain_id, prev.as_ref(), &block.header)
                .map_err(|e| corrupt(e.to_string()))?;
            let validators = rules::validators_at(&state, h);
            if let Some(c) = &certificate {
                c.verify_with(&validators, &block.header)
                    .map_err(|e| corrupt(e.to_string()))?;
            }
            let at = rules::At::new(h, block.header.time_ms);
            let applied = rules::apply_block_with_ids(&state, &block.entries, &ids, at, true)
                .map_err(|(i, e)| corrupt(format!("entry #{i} breaks a rule: {e}")))?;
            certified += u64::from(certificate.is_some());
            let delta = IndexDelta::of_block(&block.entries, &applied.effects);
            state.apply(h, &applied.changes, &delta);
            let (log_hashes, next) = log.append(&ids)?;
            let expected = (!log_hashes.is_empty()).then_some(log_hashes);
            if stored_log != expected {
                return Err(corrupt(
                    "the hashes it added to the log differ from its entries'".into(),
                ));
            }
            // Kept as decided, each authenticated by its own signature:
            // one that does not verify is not served, and not corruption.
            if let Some(c) = cosignatures.iter().find(|c| {
                !validators
                    .iter()
                    .any(|s| s.public_key == c.cosignature.validator)
            }) {
                return Err(corrupt(format!(
                    "it keeps a cosignature by {}, not a validator of its height",
                    c.cosignature.validator.short()
                )));
            }
            let update = complete::block_update(&index, h, &block.entries, &applied.effects)?;
            if index_root != Some(update.root()) {
                return Err(corrupt(match index_root {
                    None => "its completeness index root is missing".into(),
                    Some(r) => format!(
                        "its completeness index root is {}, but its entries make it {}",
                        r.to_hex(),
                        update.root().to_hex()
                    ),
                }));
            }
            index
                .install(update)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            log = next;
            ids_index.push_block(ids.iter().copied());
            entries += ids.len() as u64;
            prev = Some(block.header);
        }
        Ok(Rebuilt {
            state,
            ids: ids_index,
            log,
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
            log,
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
        if log != self.log {
            return Err(StoreError::Corrupt(
                "the log's frontier in use differs from the one rebuilt from the blocks".into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::codec;
    use waybill_core::crypto::PublicKey;

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
                log: None,
                certificate: None,
                cosignatures: Vec::new(),
                index_root: None,
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
