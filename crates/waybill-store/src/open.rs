//! Creating a store and opening one.
//!
//! Opening reads the format record, the genesis and the tip height; loads
//! the latest state snapshot (see `snapshot.rs`), dropping logged deltas
//! it already covers if a crash left them; replays the deltas logged
//! after it (see `delta_log.rs`) into the state and the entry id index;
//! and verifies the tip block (entries match the header, the header links to
//! its parent, nothing is stored beyond it). The rest of the chain is
//! trusted as written; `check.rs` re-verifies all of it on demand.

use std::sync::Mutex;

use waybill_core::block::{self, Header};
use waybill_core::codec;
use waybill_core::genesis::{ChainId, Genesis};
use waybill_core::index::MemoryIndex;

use crate::backend::{Backend, WriteBatch};
use crate::delta::Logged;
use crate::error::{corrupt_at, StoreError};
use crate::index::IdIndex;
use crate::keys::{self, ns};
use crate::ledger::{Ledger, Snapshots, SNAPSHOT_MIN_BYTES};
use crate::log::Frontier;
use crate::snapshot::Snapshot;
use crate::state::Committed;

/// The store layout version. 5: lots hold parts in several hands and
/// shipments (holdings), with what was consumed and lost, inputs, recalls,
/// excursions and a voiding correction; shipments their dispatching entry
/// and a cancelled stage; payments a correction (in the snapshot's
/// compact records and in the deltas' state changes alike). 6: shipments
/// also hold their latest custody step (its entry, kind and previous
/// custodian, a receipt's quantities, a correction that undid it) and
/// their readings entries (author, excursions, a correction), so a
/// receipt, a handover or readings can be corrected; and the snapshot is
/// one LZ4 frame. 7: a block's delta is in the state's compact form
/// (numbers instead of ids and keys, see `delta.rs`). 8: the deltas are
/// kept in a log beside the database, not in it (see `delta_log.rs`).
/// 9: the state holds the council (admin quorum, validator set, scheduled
/// governance changes, revoked keys) in snapshots and deltas. 10: the
/// council also holds the node keys bound to members. 11: each block also
/// stores the hashes its entries add to the ledger's log (`log.rs`). 12:
/// and its validators' cosignatures of the log's checkpoint
/// (`cosign.rs`). 13: and the root of the completeness index with it
/// committed (`complete.rs`), which its checkpoint names. 14: payments
/// hold the digest of their sealed terms and the payee's confirmation.
pub const STORE_FORMAT: u32 = 14;

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
        // A delta log without a ledger (a store emptied by hand) is
        // nobody's.
        backend.drop_deltas_after(0)?;
        backend.commit(batch)?;
        Self::at_genesis(backend, genesis)
    }

    /// A ledger over `backend` holding `genesis`'s state and no blocks.
    pub(crate) fn at_genesis(backend: B, genesis: Genesis) -> Result<Self, StoreError> {
        Ok(Ledger {
            backend,
            chain_id: genesis.chain_id(),
            state: Committed::genesis(&genesis),
            genesis,
            ids: IdIndex::default(),
            log: Frontier::default(),
            index: MemoryIndex::new(),
            tip: None,
            snapshots: Mutex::new(Snapshots::default()),
            auto_snapshot: true,
            snapshot_min_bytes: SNAPSHOT_MIN_BYTES,
        })
    }

    /// The store's format, genesis and recorded tip height, checked.
    pub(crate) fn open_meta(backend: &B) -> Result<(Genesis, ChainId, u64), StoreError> {
        let format = backend
            .get(keys::FORMAT)?
            .ok_or_else(|| StoreError::Corrupt("the store has no format record".into()))?;
        if format != STORE_FORMAT.to_be_bytes() {
            return Err(StoreError::Format {
                found: hex_or_len(&format),
                expected: STORE_FORMAT,
            });
        }
        // Read as written (`Genesis::canonical_bytes`): a genesis with
        // yield rules has bytes after the fields of one without.
        let genesis_bytes = backend
            .get(keys::GENESIS)?
            .ok_or_else(|| StoreError::Corrupt("the store has no genesis".into()))?;
        let genesis = Genesis::from_canonical_bytes(&genesis_bytes)?;
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
        let (snapshot_height, snapshot_bytes, mut state, mut ids) =
            Self::load_snapshot(&backend, &genesis, &chain_id, tip_height)?;
        let delta_bytes = Self::replay_deltas(
            &backend,
            (&mut state, &mut ids),
            snapshot_height,
            tip_height,
        )?;
        let log = Frontier::load(&backend, &ids, ids.entries())?;
        let mut ledger = Ledger {
            backend,
            genesis,
            chain_id,
            state,
            ids,
            log,
            // Rebuilt below, once the tip is verified.
            index: MemoryIndex::default(),
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
        ledger.check_nothing_beyond(tip_height)?;
        if tip_height > 0 {
            ledger.tip = Some(ledger.verify_tip(tip_height)?);
        }
        ledger.index = ledger.rebuild_index(tip_height)?;
        // Only once the ledger has opened: the deltas the snapshot covers
        // (a crash between writing it and dropping them left them), and
        // any logged for a block whose commit never happened.
        ledger.backend.drop_deltas_through(snapshot_height)?;
        ledger.backend.drop_deltas_after(tip_height)?;
        Ok(ledger)
    }

    /// The latest snapshot's height and size with the state and id index
    /// it holds, checked to be of this chain and not beyond the tip; with
    /// no snapshot, the genesis state at height 0.
    fn load_snapshot(
        backend: &B,
        genesis: &Genesis,
        chain_id: &ChainId,
        tip_height: u64,
    ) -> Result<(u64, u64, Committed, IdIndex), StoreError> {
        Ok(match backend.snapshot_reader()? {
            Some(bytes) => {
                // Streamed, not read whole: the bytes (120 MB at a million
                // entries) never sit in memory beside what they decode to.
                let again = backend.snapshot_reader()?.ok_or_else(|| {
                    StoreError::Corrupt("the state snapshot vanished while it was read".into())
                })?;
                // An LZ4 frame (see `snapshot.rs`), decompressed as read.
                let (snap, snapshot_len): (Snapshot, u64) = codec::decode_trusted_reader(
                    "snapshot",
                    lz4_flex::frame::FrameDecoder::new(bytes),
                    lz4_flex::frame::FrameDecoder::new(again),
                )
                .map_err(|e| StoreError::Corrupt(format!("the state snapshot: {e}")))?;
                if snap.height > tip_height || snap.state.chain_id() != chain_id {
                    return Err(StoreError::Corrupt(format!(
                            "the state snapshot is for block {}, beyond the tip {tip_height} or of another chain",
                            snap.height
                        )));
                }
                let bad = |e: String| StoreError::Corrupt(format!("the state snapshot: {e}"));
                let state =
                    Committed::from_stored(snap.state, genesis.yields.clone()).map_err(bad)?;
                let ids = IdIndex::from_stored(snap.id_prefixes, snap.block_starts).map_err(bad)?;
                if ids.blocks() != snap.height {
                    return Err(bad("its entry id index does not cover its blocks".into()));
                }
                (snap.height, snapshot_len, state, ids)
            }
            None => (0, 0, Committed::genesis(genesis), IdIndex::default()),
        })
    }

    /// Folds the logged deltas of the blocks after the snapshot into
    /// `state`, and their entry ids into `ids`. Returns their total
    /// size.
    fn replay_deltas(
        backend: &B,
        (state, ids): (&mut Committed, &mut IdIndex),
        snapshot_height: u64,
        tip_height: u64,
    ) -> Result<u64, StoreError> {
        let mut delta_bytes = 0u64;
        let mut next = snapshot_height + 1;
        backend.read_deltas(snapshot_height, &mut |h, bytes| {
            if h > tip_height {
                // Appended for a block whose commit never happened.
                return Ok(());
            }
            if h != next {
                return Err(corrupt_at(next)("its state delta is missing".into()));
            }
            let corrupt = corrupt_at(h);
            let Logged { delta, id_prefixes } =
                codec::decode_trusted("delta", bytes).map_err(|e| corrupt(e.to_string()))?;
            if delta.height != h {
                return Err(corrupt(format!(
                    "its state delta is block {}'s",
                    delta.height
                )));
            }
            state.install(delta).map_err(|e| corrupt(e.to_string()))?;
            ids.push_prefixes(id_prefixes.into_iter());
            delta_bytes += bytes.len() as u64;
            next += 1;
            Ok(())
        })?;
        if next <= tip_height {
            return Err(corrupt_at(next)("its state delta is missing".into()));
        }
        Ok(delta_bytes)
    }

    /// Refuses a store with a block after the recorded tip.
    fn check_nothing_beyond(&self, tip_height: u64) -> Result<(), StoreError> {
        if self
            .backend
            .get(&keys::at_height(ns::BLOCK, tip_height + 1))?
            .is_some()
        {
            return Err(corrupt_at(tip_height + 1)(format!(
                "it is stored beyond the recorded tip {tip_height}"
            )));
        }
        Ok(())
    }

    /// Verifies the tip block (at `tip_height`, above 0): it matches its
    /// stored header and map, its entries match the header, and the
    /// header links to its parent. Returns the header.
    fn verify_tip(&self, tip_height: u64) -> Result<Header, StoreError> {
        let corrupt = corrupt_at(tip_height);
        let header = self
            .header(tip_height)?
            .ok_or_else(|| corrupt("the tip header is missing".into()))?;
        let block = self
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
        if self.entry_ids(tip_height)?.as_deref() != Some(&ids[..]) {
            return Err(corrupt("the entry map differs from the block".into()));
        }
        let prev = if tip_height > 1 {
            Some(self.header(tip_height - 1)?.ok_or_else(|| {
                StoreError::Corrupt(format!("header {} is missing", tip_height - 1))
            })?)
        } else {
            None
        };
        block::check_link(&self.chain_id, prev.as_ref(), &header)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(header)
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
