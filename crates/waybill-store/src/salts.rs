//! The salts of the documents an entry references, kept beside the ledger
//! and not in it: the entry's author stores them on its node so that the
//! node can give them to those allowed to check a document against the
//! ledger's salted digest (the author and auditors), and erases them when
//! it must (the chain still verifies without them). Each salt is kept only
//! for a digest the entry on the ledger references.

use std::collections::BTreeSet;

use waybill_core::codec;
use waybill_core::entry::EntryId;
use waybill_core::terms::{DocumentSalts, SALTS_FORMAT};

use crate::backend::{Backend, WriteBatch};
use crate::error::StoreError;
use crate::keys;
use crate::ledger::Ledger;

/// The most bytes a stored salts file may have.
pub const MAX_SALTS_BYTES: usize = 64 * 1024;

/// `SALTS ‖ entry id`.
fn key(id: &EntryId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.extend_from_slice(keys::SALTS);
    k.extend_from_slice(&id.0);
    k
}

impl<B: Backend> Ledger<B> {
    /// Keeps `salts` for entry `id` after checking that the entry is on
    /// the ledger and references every digest they name; returns how many
    /// documents they cover.
    pub fn put_salts(&self, id: &EntryId, salts: &DocumentSalts) -> Result<usize, StoreError> {
        let bad = |why: String| StoreError::Salts(why);
        if salts.format != SALTS_FORMAT || salts.version != 1 {
            return Err(bad(format!(
                "they are not a {SALTS_FORMAT} file of version 1"
            )));
        }
        if salts.documents.is_empty() {
            return Err(bad("they name no document".into()));
        }
        let located = self
            .entry(id)?
            .ok_or_else(|| bad(format!("entry {} is not on this ledger", id.short())))?;
        let referenced: BTreeSet<_> = located
            .entry
            .entry
            .body
            .doc_refs()
            .into_iter()
            .map(|d| d.sha256)
            .collect();
        if let Some(d) = salts
            .documents
            .iter()
            .find(|d| !referenced.contains(&d.sha256))
        {
            return Err(bad(format!(
                "entry {} references no document with digest {}",
                id.short(),
                d.sha256.to_hex()
            )));
        }
        let bytes = codec::encode(salts);
        if bytes.len() > MAX_SALTS_BYTES {
            return Err(bad(format!(
                "they take {} bytes; at most {MAX_SALTS_BYTES} are kept",
                bytes.len()
            )));
        }
        let mut batch = WriteBatch::default();
        batch.put(key(id), bytes);
        self.backend.commit(batch)?;
        Ok(salts.documents.len())
    }

    /// The salts kept for entry `id`, if any.
    pub fn salts(&self, id: &EntryId) -> Result<Option<DocumentSalts>, StoreError> {
        let Some(bytes) = self.backend.get(&key(id))? else {
            return Ok(None);
        };
        codec::decode::<DocumentSalts, MAX_SALTS_BYTES>("document salts", &bytes)
            .map(Some)
            .map_err(|e| {
                StoreError::Corrupt(format!(
                    "the kept document salts of entry {}: {e}",
                    id.short()
                ))
            })
    }

    /// Forgets the salts of entry `id`; whether there were any.
    pub fn erase_salts(&self, id: &EntryId) -> Result<bool, StoreError> {
        let had = self.backend.read(&key(id), |_| ())?.is_some();
        let mut batch = WriteBatch::default();
        batch.delete(key(id));
        self.backend.commit(batch)?;
        Ok(had)
    }
}
