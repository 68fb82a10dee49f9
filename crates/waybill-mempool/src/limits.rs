//! How much the pool may hold, and the bounds derived from it.
//!
//! [`Limits`] caps the waiting entries by count and by total canonical
//! bytes, and each author's by a share of both; when full, new entries
//! are refused, nothing is evicted. The
//! waiting rooms for entries from peers (parked and orphaned entries) are
//! bounded by shares of the entry limit, and the queue's empty places by a
//! fixed slack before a commit renumbers the pool.

use waybill_core::codec::MAX_ENTRY_BYTES;

/// How much the pool may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries.
    pub max_entries: usize,
    /// Most bytes, counting each entry's canonical encoding.
    pub max_bytes: usize,
    /// One author may have at most `1 / author_share` of the entries and
    /// of the bytes waiting (but always room for one entry of the largest
    /// size): a member that floods the pool, even with valid entries,
    /// fills its own share and is refused
    /// ([`MempoolError::AuthorFull`](crate::MempoolError::AuthorFull))
    /// while everyone else's entries are still taken. 1: no share.
    pub author_share: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
            author_share: 8,
        }
    }
}

impl Limits {
    /// Most entries one author may have waiting.
    pub fn author_entries(&self) -> usize {
        (self.max_entries / self.author_share.max(1)).max(1)
    }

    /// Most bytes one author may have waiting.
    pub fn author_bytes(&self) -> usize {
        (self.max_bytes / self.author_share.max(1)).max(MAX_ENTRY_BYTES.min(self.max_bytes))
    }
}

/// Most orphans (see [`FromPeer::Orphaned`](crate::FromPeer::Orphaned)), as a share of the pool's
/// entry limit (1,562 by default): each is looked up again whenever
/// entries are taken in.
pub(crate) const ORPHAN_SHARE: usize = 64;

/// Most parked entries, as a share of the pool's entry limit.
pub(crate) const PARKED_SHARE: usize = 4;

/// Most places of committed or dropped entries the queue may keep among
/// the waiting ones (beyond as many as wait) before a commit renumbers the
/// pool with a full re-check; this bounds its memory under endless load.
pub(crate) const TOMBSTONE_SLACK: usize = 8192;
