//! The pool's refusals: why an entry was not accepted.
//!
//! A duplicate id, no room under the [`Limits`](crate::Limits) (in the
//! pool or in the author's share of it), or a rule
//! broken against the committed state plus the entries already waiting
//! (the rules' own [`RuleError`], passed through unchanged).

use waybill_core::entry::EntryId;
use waybill_core::rules::RuleError;

/// Why an entry was not accepted into the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same entry is already waiting.
    #[error("entry {0} is already waiting in the mempool")]
    Duplicate(EntryId),
    /// No room.
    #[error(
        "the mempool is full ({entries} entries, {bytes} bytes waiting; the limits are \
         {max_entries} entries and {max_bytes} bytes); try again after the next block"
    )]
    Full {
        /// Entries waiting.
        entries: usize,
        /// Bytes waiting.
        bytes: usize,
        /// The entry limit.
        max_entries: usize,
        /// The byte limit.
        max_bytes: usize,
    },
    /// The author has its share of the pool waiting already (see
    /// [`Limits::author_share`](crate::Limits::author_share)).
    #[error(
        "{author} has {entries} entries ({bytes} bytes) waiting, its share of this node's \
         mempool ({max_entries} entries, {max_bytes} bytes); try again after the next block"
    )]
    AuthorFull {
        /// The author, shortened.
        author: String,
        /// Its entries waiting.
        entries: usize,
        /// Their bytes.
        bytes: usize,
        /// Its entry limit.
        max_entries: usize,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// The entry breaks a rule (against the committed state plus the
    /// entries already waiting).
    #[error(transparent)]
    Rule(#[from] RuleError),
}
