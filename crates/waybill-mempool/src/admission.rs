//! Admission: checking an entry and adding it to the pool.
//!
//! An entry is refused if its id waits already or there is no room, in
//! the pool or in its author's share of it;
//! otherwise its signatures (unless the caller verified them), its shape
//! and every rule are checked against the committed state plus the
//! entries already waiting ([`crate::view`]), and it is appended with what
//! its check read and wrote. So every prefix of the pool in acceptance
//! order is a valid block on top of the committed state.

use waybill_core::crypto::Hash32;
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::rules::{self, At, RuleError};
use waybill_core::state::View;

use crate::error::MempoolError;
use crate::pool::Mempool;
use crate::slot::Waiting;

impl Mempool {
    /// Checks `entry` (signatures and every rule) against `committed` (the
    /// state after block `tip.height`; `tip.time_ms` is the node's clock)
    /// plus the waiting entries, and adds it.
    pub fn insert(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        tip: At,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, None, committed, tip, true)
            .map_err(|(e, _)| e)
    }

    /// Like [`Mempool::insert`] for an entry whose signatures the caller
    /// has verified already (e.g. outside a lock); the rules are still
    /// checked.
    pub fn insert_verified(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        tip: At,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, None, committed, tip, false)
            .map_err(|(e, _)| e)
    }

    /// Like [`Mempool::insert_verified`], with the entry's id and the
    /// length of its canonical bytes, which the caller encoded (see
    /// [`waybill_core::entry::EncodedEntry`]). They must be right: the id
    /// is what the pool and blocks know the entry by.
    pub fn insert_verified_known(
        &mut self,
        entry: SignedEntry,
        known: (EntryId, usize),
        committed: &dyn View,
        tip: At,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, Some(known), committed, tip, false)
            .map_err(|(e, _)| e)
    }

    /// Adds an entry after checking it; on a refusal, the error and (once
    /// its id is known) the entry back, so a caller can park it.
    pub(crate) fn add(
        &mut self,
        entry: SignedEntry,
        known: Option<(EntryId, usize)>,
        committed: &dyn View,
        tip: At,
        check_signatures: bool,
    ) -> Result<EntryId, (MempoolError, Option<Waiting>)> {
        // The entry id is the hash of the canonical bytes.
        let (id, size) = known.unwrap_or_else(|| {
            let encoded = entry.canonical_bytes();
            (Hash32::digest(&encoded), encoded.len())
        });
        if self.index.contains_key(&id) {
            return Err((MempoolError::Duplicate(id), None));
        }
        if self.live >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            return Err((
                MempoolError::Full {
                    entries: self.live,
                    bytes: self.bytes,
                    max_entries: self.limits.max_entries,
                    max_bytes: self.limits.max_bytes,
                },
                None,
            ));
        }
        let author = entry.entry.author;
        let waiting = self.by_author.get(&author).map_or(0, |n| n.len());
        let waiting_bytes = self.author_bytes.get(&author).copied().unwrap_or(0);
        if waiting >= self.limits.author_entries()
            || waiting_bytes.saturating_add(size) > self.limits.author_bytes()
        {
            return Err((
                MempoolError::AuthorFull {
                    author: author.short(),
                    entries: waiting,
                    bytes: waiting_bytes,
                    max_entries: self.limits.author_entries(),
                    max_bytes: self.limits.author_bytes(),
                },
                None,
            ));
        }
        if check_signatures {
            if let Err(e) = entry.verify_signatures() {
                return Err((RuleError::from(e).into(), None));
            }
        }
        // The size is known, so the shape is checked without measuring
        // the entry again; a recheck then needs only the stateful rules.
        let checked = match rules::check_shape_sized(&entry, size) {
            Ok(()) => self.check(&entry, id, committed, tip, u64::MAX),
            Err(e) => (Err(e), Vec::new()),
        };
        let w = Waiting {
            id,
            entry,
            bytes: size,
        };
        match checked {
            (Ok(changes), reads) => {
                self.push(w, changes, reads);
                Ok(id)
            }
            (Err(e), _) => Err((e.into(), Some(w))),
        }
    }
}
