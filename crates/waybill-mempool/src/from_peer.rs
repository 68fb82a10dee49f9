//! Entries from peers: admission that waits rather than refuses when the
//! entry only came too early.
//!
//! Gossip keeps neither one author's order nor the order of entries by
//! different authors. An entry ahead of its author's next nonce is parked
//! (within [`PARKED_SHARE`] of the entry limit) and joins the pool when
//! the entries before it do ([`Mempool::unpark`]), or when a block fills
//! the gap. An entry at its author's next nonce that names a lot or
//! shipment not known yet becomes an orphan (within [`ORPHAN_SHARE`]):
//! offered again as entries arrive ([`Mempool::retry_orphans`]) and
//! dropped at the next commit if still waiting.

use waybill_core::crypto::PublicKey;
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::rules::{At, RuleError};
use waybill_core::state::View;

use crate::error::MempoolError;
use crate::limits::{ORPHAN_SHARE, PARKED_SHARE};
use crate::parked::Awaited;
use crate::pool::Mempool;
use crate::slot::Waiting;

/// What became of an entry from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromPeer {
    /// It waits in the pool.
    Accepted(EntryId),
    /// It is ahead of its author's next nonce and parked until the entries
    /// before it arrive (gossip does not keep one author's order).
    Parked(EntryId),
    /// It names a lot or shipment this node does not know yet, and waits
    /// (at most until the next commit) for the entry that makes it: gossip
    /// does not keep the order of entries by different authors either.
    Orphaned(EntryId),
}

impl Mempool {
    /// Like [`Mempool::insert_verified`] for an entry from a peer: one
    /// ahead of its author's next nonce is parked (within a bound) rather
    /// than refused, and joins the pool when the entries before it do.
    pub fn insert_from_peer(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        tip: At,
    ) -> Result<FromPeer, MempoolError> {
        self.insert_from_peer_known(entry, None, committed, tip)
    }

    /// Like [`Mempool::insert_from_peer`], with the entry's id and the
    /// length of its canonical bytes when the caller knows them (the
    /// gossip layer hashed the bytes it received), which saves encoding
    /// the entry again. They must be right: the id is what the pool and
    /// blocks know the entry by.
    pub fn insert_from_peer_known(
        &mut self,
        entry: SignedEntry,
        known: Option<(EntryId, usize)>,
        committed: &dyn View,
        tip: At,
    ) -> Result<FromPeer, MempoolError> {
        let author = entry.entry.author;
        let nonce = entry.entry.nonce;
        match self.add(entry, known, committed, tip, false) {
            Err((MempoolError::Rule(RuleError::NonceGap { expected, .. }), Some(w))) => {
                let Waiting { id, entry, bytes } = w;
                if self.parked.len() >= self.limits.max_entries / PARKED_SHARE {
                    return Err(MempoolError::Rule(RuleError::NonceGap {
                        name: author.short(),
                        got: nonce,
                        expected,
                    }));
                }
                self.parked
                    .insert((author, nonce), Waiting { id, entry, bytes });
                Ok(FromPeer::Parked(id))
            }
            Err((e, Some(w))) if self.orphans.len() < self.limits.max_entries / ORPHAN_SHARE => {
                match Awaited::of(&e) {
                    Some(awaited) => {
                        let id = w.id;
                        self.orphans.insert((author, nonce), (w, awaited));
                        Ok(FromPeer::Orphaned(id))
                    }
                    None => Err(e),
                }
            }
            Ok(id) => {
                self.unpark(&author, nonce, committed, tip);
                Ok(FromPeer::Accepted(id))
            }
            Err((e, _)) => Err(e),
        }
    }

    /// Offers the orphans whose lot or shipment is now known again, in
    /// author and nonce order, until none more passes; each that passes
    /// brings in its author's parked entries after it. One that waits for
    /// something else now keeps waiting; one refused for anything else is
    /// dropped. Call after entries were added: they may be what an orphan
    /// waits for. With no orphans, it costs nothing; otherwise one lookup
    /// each.
    pub fn retry_orphans(&mut self, committed: &dyn View, tip: At) {
        let mut progress = true;
        while progress && !self.orphans.is_empty() {
            progress = false;
            let ready: Vec<(PublicKey, u64)> = {
                let view = self.view(committed);
                self.orphans
                    .iter()
                    .filter(|(_, (_, awaited))| awaited.is_in(&view))
                    .map(|(key, _)| *key)
                    .collect()
            };
            for key in ready {
                let Some((w, _)) = self.orphans.remove(&key) else {
                    continue;
                };
                match self.add(w.entry, Some((w.id, w.bytes)), committed, tip, false) {
                    Ok(_) => {
                        progress = true;
                        self.unpark(&key.0, key.1, committed, tip);
                    }
                    Err((e, Some(w))) => {
                        if let Some(awaited) = Awaited::of(&e) {
                            self.orphans.insert(key, (w, awaited));
                        }
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Moves `author`'s parked entries that now follow `nonce` into the
    /// pool, in nonce order; one that breaks a rule is dropped.
    fn unpark(&mut self, author: &PublicKey, mut nonce: u64, committed: &dyn View, tip: At) {
        while let Some(w) = self.parked.remove(&(*author, nonce.saturating_add(1))) {
            nonce = nonce.saturating_add(1);
            if self
                .add(w.entry, Some((w.id, w.bytes)), committed, tip, false)
                .is_err()
            {
                break;
            }
        }
    }

    /// Parked entries after a commit: gone stale (their nonce is used) or
    /// now next.
    pub(crate) fn unpark_after_commit(&mut self, state: &dyn View, tip: At) {
        let parked: Vec<(PublicKey, u64)> = self.parked.by_key.keys().copied().collect();
        for (author, nonce) in parked {
            let last = self
                .by_author
                .get(&author)
                .and_then(|m| m.keys().next_back().copied())
                .unwrap_or_else(|| state.nonce(&author));
            if nonce <= last {
                self.parked.remove(&(author, nonce));
            } else if nonce == last + 1 {
                if let Some(w) = self.parked.remove(&(author, nonce)) {
                    if self
                        .add(w.entry, Some((w.id, w.bytes)), state, tip, false)
                        .is_ok()
                    {
                        self.unpark(&author, nonce, state, tip);
                    }
                }
            }
        }
    }
}
