//! Reading the stored chain: headers, blocks, certificates and entries by
//! height, position or id, and the positions the indexes list.
//!
//! One entry is read as a slice of its block's stored value, located by
//! the block's map (see `block_map.rs`), and decoded alone. An entry id is
//! found through the in-memory id index, which lists candidate positions
//! by id prefix; each candidate is confirmed against its block's map.

use serde::{de::DeserializeOwned, Serialize};
use waybill_core::block::{Block, CommitCertificate, Header};
use waybill_core::checkpoint::{self, Checkpoint};
use waybill_core::codec;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::gs1::LotId;

use crate::backend::Backend;
use crate::block_map::BlockMap;
use crate::error::{corrupt_at, StoreError};
use crate::index::Position;
use crate::keys::{self, ns};
use crate::ledger::Ledger;
use crate::log::Proofs;

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

/// Decodes the value at `key`, if there is one.
pub(crate) fn get_decoded<B: Backend, T: Serialize + DeserializeOwned>(
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
    /// Entries in the ledger's log: every committed entry, in chain order
    /// (see [`waybill_core::checkpoint`]).
    pub fn log_size(&self) -> u64 {
        self.log.size()
    }

    /// The root of the whole log.
    pub fn log_root(&self) -> Hash32 {
        self.log.root()
    }

    /// The log's leaf number of the entry at `index` in block `height`.
    pub fn log_leaf(&self, height: u64, index: u32) -> Option<u64> {
        let before = self.ids.entries_through(height.checked_sub(1)?)?;
        let through = self.ids.entries_through(height)?;
        let leaf = before.checked_add(u64::from(index))?;
        (leaf < through).then_some(leaf)
    }

    /// The log's checkpoint as of block `height` (not cosigned): its size
    /// is every entry through that block. `None` for height 0 or a block
    /// not committed.
    pub fn checkpoint(&self, height: u64) -> Result<Option<Checkpoint>, StoreError> {
        let Some(size) = self.ids.entries_through(height).filter(|_| height > 0) else {
            return Ok(None);
        };
        let Some(header) = self.header(height)? else {
            return Ok(None);
        };
        let root = Proofs::new(&self.backend, &self.ids, &self.log).root(size)?;
        let index = self.index_root(height)?.ok_or_else(|| {
            StoreError::Corrupt(format!("block {height} has no completeness index root"))
        })?;
        Ok(Some(Checkpoint {
            origin: checkpoint::origin(&self.chain_id),
            size,
            root,
            height,
            block: header.hash(),
            index,
        }))
    }

    /// The proof that leaf `leaf` is in the log's first `size` entries.
    pub fn prove_inclusion(&self, leaf: u64, size: u64) -> Result<Vec<Hash32>, StoreError> {
        Proofs::new(&self.backend, &self.ids, &self.log).inclusion(leaf, size)
    }

    /// The proof that the log's first `old` entries are a prefix of its
    /// first `new`.
    pub fn prove_consistency(&self, old: u64, new: u64) -> Result<Vec<Hash32>, StoreError> {
        Proofs::new(&self.backend, &self.ids, &self.log).consistency(old, new)
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
    pub(crate) fn with_map<T>(
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
}
