//! The ledger over a backend: append blocks, read them back, build trails,
//! re-verify everything.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{de::DeserializeOwned, Serialize};
use waybill_core::block::{self, Block, CommitCertificate, Header};
use waybill_core::codec;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, EntryId, SignedEntry};
use waybill_core::genesis::{ChainId, Genesis};
use waybill_core::gs1::LotId;
use waybill_core::merkle;
use waybill_core::rules::{self, Applied, RuleError};
use waybill_core::state::{LotState, State};
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};

use crate::backend::{Backend, WriteBatch};
use crate::keys::{self, ns};
use crate::StoreError;

/// The store layout version.
pub const STORE_FORMAT: u32 = 1;

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

/// A ledger: genesis, committed state, tip, over a backend.
#[derive(Debug)]
pub struct Ledger<B: Backend> {
    backend: B,
    genesis: Genesis,
    chain_id: ChainId,
    state: State,
    tip: Option<Header>,
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

impl<B: Backend> Ledger<B> {
    /// Starts a new ledger for `genesis` in an empty backend.
    pub fn create(backend: B, genesis: Genesis) -> Result<Self, StoreError> {
        genesis.validate()?;
        if backend.get(keys::GENESIS)?.is_some() || !backend.scan_prefix(&[])?.is_empty() {
            return Err(StoreError::AlreadyExists("the store".into()));
        }
        let state = State::genesis(&genesis);
        let mut batch = WriteBatch::default();
        batch.put(keys::FORMAT.to_vec(), STORE_FORMAT.to_be_bytes().to_vec());
        batch.put(keys::GENESIS.to_vec(), genesis.canonical_bytes());
        for (k, m) in &state.members {
            batch.put(keys::key_key(ns::MEMBER, k), codec::encode(m));
        }
        batch.put(keys::TIP.to_vec(), 0u64.to_be_bytes().to_vec());
        backend.commit(batch)?;
        Ok(Ledger {
            backend,
            chain_id: genesis.chain_id(),
            genesis,
            state,
            tip: None,
        })
    }

    /// Opens a ledger, loading its state and verifying its tip block
    /// (entries match the header, the header links to its parent).
    pub fn open(backend: B) -> Result<Self, StoreError> {
        let format = backend
            .get(keys::FORMAT)?
            .ok_or_else(|| StoreError::Corrupt("the store has no format record".into()))?;
        if format != STORE_FORMAT.to_be_bytes() {
            return Err(StoreError::Format {
                found: hex_or_len(&format),
                expected: STORE_FORMAT,
            });
        }
        let genesis: Genesis = get_decoded(&backend, "genesis", keys::GENESIS)?
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
        let mut state = State::genesis(&genesis);
        state.members = load_map(&backend, ns::MEMBER, "member", |k| {
            Some(PublicKey(k.try_into().ok()?))
        })?;
        state.nonces = load_map(&backend, ns::NONCE, "nonce", |k| {
            Some(PublicKey(k.try_into().ok()?))
        })?;
        state.lots = load_map(&backend, ns::LOT, "lot", |k| {
            std::str::from_utf8(k).ok()?.parse().ok()
        })?;
        state.shipments = load_map(&backend, ns::SHIPMENT, "shipment", |k| {
            std::str::from_utf8(k).ok()?.parse().ok()
        })?;
        state.payments = load_map(&backend, ns::PAYMENT, "payment", |k| {
            std::str::from_utf8(k).ok()?.parse().ok()
        })?;
        let mut ledger = Ledger {
            backend,
            genesis,
            chain_id,
            state,
            tip: None,
        };
        if tip_height > 0 {
            let header = ledger.header(tip_height)?.ok_or_else(|| {
                StoreError::Corrupt(format!("the tip header {tip_height} is missing"))
            })?;
            let block = ledger.block(tip_height)?.ok_or_else(|| {
                StoreError::Corrupt(format!("the tip block {tip_height} is missing"))
            })?;
            if block.header != header {
                return Err(StoreError::Corrupt(format!(
                    "the tip block {tip_height} does not match its stored header"
                )));
            }
            block
                .check_entries(&block.entry_ids())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let prev = if tip_height > 1 {
                Some(ledger.header(tip_height - 1)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("header {} is missing", tip_height - 1))
                })?)
            } else {
                None
            };
            block::check_link(&chain_id, prev.as_ref(), &header)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
    pub fn state(&self) -> &State {
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
        let ids = block.entry_ids();
        block.check_entries(&ids)?;
        let applied = rules::apply_block_with_ids(
            &self.state,
            &block.entries,
            &ids,
            block.header.height,
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
        let (ids, applied) = self.validate_block(block)?;
        Ok(Validated {
            tip: self.tip.as_ref().map(|h| h.hash()),
            block: block.header.hash(),
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
        let tip = self.tip.as_ref().map(|h| h.hash());
        let reusable = checked.filter(|v| {
            v.tip == tip && v.block == block.header.hash() && v.ids == block.entry_ids()
        });
        let (ids, applied) = match reusable {
            Some(v) => (v.ids, v.applied),
            None => self.validate_block(&block)?,
        };
        if let Some(c) = &cert {
            c.verify(&self.genesis, &block.header)?;
        }
        let batch = self.block_batch(&block, &ids, cert.as_ref(), &applied);
        self.backend.commit(batch)?;
        self.state.commit(applied.changes.clone());
        self.tip = Some(block.header);
        Ok(applied)
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

    fn block_batch(
        &self,
        block: &Block,
        ids: &[EntryId],
        cert: Option<&CommitCertificate>,
        applied: &Applied,
    ) -> WriteBatch {
        let h = block.header.height;
        let mut b = WriteBatch::default();
        b.put(keys::at_height(ns::BLOCK, h), block.canonical_bytes());
        b.put(
            keys::at_height(ns::HEADER, h),
            block.header.canonical_bytes(),
        );
        b.put(
            keys::at_height(ns::IDS, h),
            ids.iter().flat_map(|i| i.0).collect::<Vec<u8>>(),
        );
        if let Some(c) = cert {
            b.put(keys::at_height(ns::CERT, h), codec::encode(c));
        }
        for (index, (fx, e)) in applied.effects.iter().zip(&block.entries).enumerate() {
            let pos = keys::position(h, u32::try_from(index).unwrap_or(u32::MAX));
            b.put(keys::entry_key(&fx.id), pos.to_vec());
            let mut k = keys::key_key(ns::BY_AUTHOR, &e.entry.author);
            k.extend_from_slice(&pos);
            b.put(k, Vec::new());
            for lot in &fx.lots {
                let mut k = keys::text_prefix(ns::BY_LOT, &lot.to_string());
                k.extend_from_slice(&pos);
                b.put(k, Vec::new());
            }
            for s in &fx.shipments {
                let mut k = keys::text_prefix(ns::BY_SHIPMENT, &s.to_string());
                k.extend_from_slice(&pos);
                b.put(k, Vec::new());
            }
            if let Some(p) = &fx.payment {
                let mut k = keys::text_prefix(ns::BY_PAYMENT, &p.to_string());
                k.extend_from_slice(&pos);
                b.put(k, Vec::new());
            }
            for (input, made) in &fx.made_from {
                let mut k = keys::text_prefix(ns::MADE_FROM, &input.to_string());
                k.extend_from_slice(made.to_string().as_bytes());
                b.put(k, Vec::new());
            }
            if fx.membership {
                let mut k = vec![ns::MEMBERSHIP];
                k.extend_from_slice(&pos);
                b.put(k, Vec::new());
            }
        }
        let c = &applied.changes;
        for (k, v) in &c.nonces {
            b.put(keys::key_key(ns::NONCE, k), codec::encode(v));
        }
        for (k, v) in &c.members {
            b.put(keys::key_key(ns::MEMBER, k), codec::encode(v));
        }
        for (k, v) in &c.lots {
            b.put(keys::text_key(ns::LOT, &k.to_string()), codec::encode(v));
        }
        for (k, v) in &c.shipments {
            b.put(
                keys::text_key(ns::SHIPMENT, &k.to_string()),
                codec::encode(v),
            );
        }
        for (k, v) in &c.payments {
            b.put(
                keys::text_key(ns::PAYMENT, &k.to_string()),
                codec::encode(v),
            );
        }
        b.put(keys::TIP.to_vec(), h.to_be_bytes().to_vec());
        b
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

    /// A block's commit certificate, if it has one.
    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StoreError> {
        self.get_at("certificate", ns::CERT, height)
    }

    /// A block's entry ids.
    pub fn entry_ids(&self, height: u64) -> Result<Option<Vec<EntryId>>, StoreError> {
        let Some(bytes) = self.backend.get(&keys::at_height(ns::IDS, height))? else {
            return Ok(None);
        };
        if bytes.len() % 32 != 0 {
            return Err(StoreError::Corrupt(format!(
                "the entry ids of block {height} are malformed"
            )));
        }
        Ok(Some(
            bytes
                .chunks_exact(32)
                .map(|c| {
                    let mut a = [0u8; 32];
                    a.copy_from_slice(c);
                    Hash32(a)
                })
                .collect(),
        ))
    }

    /// An entry by id.
    pub fn entry(&self, id: &EntryId) -> Result<Option<Located>, StoreError> {
        let Some(pos) = self.backend.get(&keys::entry_key(id))? else {
            return Ok(None);
        };
        let (height, index) = keys::parse_position(&pos)
            .ok_or_else(|| StoreError::Corrupt("an entry position is malformed".into()))?;
        let block = self
            .block(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
        let entry = block
            .entries
            .into_iter()
            .nth(index as usize)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("entry {index} of block {height} is missing"))
            })?;
        Ok(Some(Located {
            entry,
            height,
            index,
        }))
    }

    fn positions(&self, prefix: &[u8]) -> Result<Vec<(u64, u32)>, StoreError> {
        self.backend
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, _)| {
                keys::parse_position(&k)
                    .ok_or_else(|| StoreError::Corrupt("an index key is malformed".into()))
            })
            .collect()
    }

    /// Positions of the entries that touched a lot.
    pub fn positions_by_lot(&self, lot: &LotId) -> Result<Vec<(u64, u32)>, StoreError> {
        self.positions(&keys::text_prefix(ns::BY_LOT, &lot.to_string()))
    }

    /// Positions of the entries that named a shipment.
    pub fn positions_by_shipment(&self, shipment: &str) -> Result<Vec<(u64, u32)>, StoreError> {
        self.positions(&keys::text_prefix(ns::BY_SHIPMENT, shipment))
    }

    /// Positions of the entry that recorded a payment.
    pub fn positions_by_payment(&self, payment: &str) -> Result<Vec<(u64, u32)>, StoreError> {
        self.positions(&keys::text_prefix(ns::BY_PAYMENT, payment))
    }

    /// Positions of an author's entries.
    pub fn positions_by_author(&self, author: &PublicKey) -> Result<Vec<(u64, u32)>, StoreError> {
        self.positions(&keys::key_key(ns::BY_AUTHOR, author))
    }

    /// Lots made directly from `lot`.
    pub fn made_from(&self, lot: &LotId) -> Result<Vec<LotId>, StoreError> {
        let prefix = keys::text_prefix(ns::MADE_FROM, &lot.to_string());
        self.backend
            .scan_prefix(&prefix)?
            .into_iter()
            .map(|(k, _)| {
                std::str::from_utf8(&k[prefix.len()..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt("a made-from index key is malformed".into()))
            })
            .collect()
    }

    /// Every lot made from `lot`, directly or not (the recall scope), with
    /// where each is now.
    pub fn forward(&self, lot: &LotId) -> Result<Vec<(LotId, LotState)>, StoreError> {
        if !self.state.lots.contains_key(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let mut seen = BTreeSet::from([lot.clone()]);
        let mut queue = VecDeque::from([lot.clone()]);
        let mut out = Vec::new();
        while let Some(l) = queue.pop_front() {
            for m in self.made_from(&l)? {
                if seen.insert(m.clone()) {
                    if let Some(s) = self.state.lots.get(&m) {
                        out.push((m.clone(), s.clone()));
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
        if !self.state.lots.contains_key(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
        let mut scope = BTreeSet::new();
        let mut queue = VecDeque::from([lot.clone()]);
        let mut positions = BTreeSet::new();
        while let Some(l) = queue.pop_front() {
            if !scope.insert(l.clone()) {
                continue;
            }
            for pos in self.positions_by_lot(&l)? {
                positions.insert(pos);
                let e = self.entry_at(&mut blocks, pos)?;
                if let Body::Produce(p) = &e.entry.body {
                    if p.lot == l {
                        queue.extend(p.inputs.iter().map(|i| i.lot.clone()));
                    }
                }
            }
        }
        let mut shipments = BTreeSet::new();
        for pos in positions.clone() {
            let e = self.entry_at(&mut blocks, pos)?;
            if let Body::Dispatch(d) = &e.entry.body {
                shipments.insert(d.shipment.to_string());
            }
        }
        for s in &shipments {
            positions.extend(self.positions_by_shipment(s)?);
        }
        positions.extend(self.positions(&[ns::MEMBERSHIP])?);

        let mut items = Vec::with_capacity(positions.len());
        let mut proofs: BTreeMap<u64, Vec<[u8; 32]>> = BTreeMap::new();
        for (height, index) in positions {
            let entry = self.entry_at(&mut blocks, (height, index))?.clone();
            let leaves = match proofs.get(&height) {
                Some(l) => l.clone(),
                None => {
                    let ids = self.entry_ids(height)?.ok_or_else(|| {
                        StoreError::Corrupt(format!("the entry ids of block {height} are missing"))
                    })?;
                    let l: Vec<[u8; 32]> = ids.iter().map(|i| i.0).collect();
                    proofs.insert(height, l.clone());
                    l
                }
            };
            let proof = merkle::inclusion_proof(&leaves, index as usize).ok_or_else(|| {
                StoreError::Corrupt(format!("entry {index} is outside block {height}"))
            })?;
            let header = blocks
                .get(&height)
                .map(|b| b.header.clone())
                .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
            items.push(TrailItem {
                entry,
                index,
                header,
                proof: proof.into_iter().map(Hash32).collect(),
                certificate: self.certificate(height)?,
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

    fn entry_at<'a>(
        &self,
        blocks: &'a mut BTreeMap<u64, Block>,
        (height, index): (u64, u32),
    ) -> Result<&'a SignedEntry, StoreError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(height) {
            let b = self
                .block(height)?
                .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
            slot.insert(b);
        }
        blocks
            .get(&height)
            .and_then(|b| b.entries.get(index as usize))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("entry {index} of block {height} is missing"))
            })
    }

    /// Re-verifies the whole stored chain from genesis: every header link,
    /// Merkle root, signature, rule and certificate, and that the state
    /// rebuilt from the blocks equals the stored state.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut state = State::genesis(&self.genesis);
        let mut prev: Option<Header> = None;
        let mut entries = 0u64;
        let mut certified = 0u64;
        let tip = self.height();
        for h in 1..=tip {
            let corrupt = |what: String| StoreError::Corrupt(format!("block {h}: {what}"));
            let block = self.block(h)?.ok_or_else(|| corrupt("missing".into()))?;
            let header = self
                .header(h)?
                .ok_or_else(|| corrupt("header missing".into()))?;
            if header != block.header {
                return Err(corrupt("the stored header differs from the block's".into()));
            }
            block::check_link(&self.chain_id, prev.as_ref(), &header)
                .map_err(|e| corrupt(e.to_string()))?;
            let ids = block.entry_ids();
            block
                .check_entries(&ids)
                .map_err(|e| corrupt(e.to_string()))?;
            if self.entry_ids(h)?.as_deref() != Some(&ids[..]) {
                return Err(corrupt("the entry id index differs from the block".into()));
            }
            let applied = rules::apply_block_with_ids(&state, &block.entries, &ids, h, true)
                .map_err(|(i, e)| corrupt(format!("entry #{i} breaks a rule: {e}")))?;
            if let Some(c) = self.certificate(h)? {
                c.verify(&self.genesis, &header)
                    .map_err(|e| corrupt(e.to_string()))?;
                certified += 1;
            }
            state.commit(applied.changes);
            entries += ids.len() as u64;
            prev = Some(header);
        }
        if state != self.state {
            return Err(StoreError::Corrupt(
                "the stored state differs from the state rebuilt from the blocks".into(),
            ));
        }
        Ok(CheckReport {
            blocks: tip,
            entries,
            certified,
            tip_hash: prev.map(|h| h.hash()),
            state_digest: state.digest(),
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

fn load_map<B: Backend, K: Ord, V: Serialize + DeserializeOwned>(
    backend: &B,
    ns: u8,
    what: &'static str,
    parse: impl Fn(&[u8]) -> Option<K>,
) -> Result<BTreeMap<K, V>, StoreError> {
    let mut out = BTreeMap::new();
    for (k, v) in backend.scan_prefix(&[ns])? {
        let key = parse(&k[1..])
            .ok_or_else(|| StoreError::Corrupt(format!("a stored {what} key is malformed")))?;
        out.insert(key, codec::decode_trusted(what, &v)?);
    }
    Ok(out)
}
