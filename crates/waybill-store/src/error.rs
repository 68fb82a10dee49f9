//! The store's one error type, [`StoreError`], and the helper that names
//! the block a corruption was found in.
//!
//! Every other module of the crate returns these; this one imports none
//! of them (only the marker file's name, for the message that asks for
//! it), so errors never pull in the code that raises them.

use waybill_core::block::BlockError;
use waybill_core::codec::CodecError;
use waybill_core::genesis::GenesisError;
use waybill_core::rules::RuleError;

use crate::marker::MARKER_FILE;

/// Storage failures, each a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (disk full, permissions, I/O).
    #[error("storage failed: {0}")]
    Backend(String),
    /// The directory holds no ledger.
    #[error("{0} is not a Waybill ledger (no {MARKER_FILE} file); create one with `waybill ledger init` or point --data-dir at an existing ledger")]
    NotALedger(String),
    /// Refusing to create over existing data.
    #[error("{0} already contains data; choose an empty or new directory")]
    AlreadyExists(String),
    /// Stored data fails a check.
    #[error("the stored ledger is corrupt: {0}; restore it from a backup or resync it from peers")]
    Corrupt(String),
    /// A store made by another version.
    #[error(
        "the ledger was written in store format {found}, this program reads format {expected}"
    )]
    Format {
        /// Found.
        found: String,
        /// Expected.
        expected: u32,
    },
    /// The genesis is bad.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A block does not follow the tip.
    #[error("block rejected: {0}")]
    Block(#[from] BlockError),
    /// An entry in a block breaks a rule.
    #[error("entry #{index} ({id}) rejected: {error}")]
    Rule {
        /// Position in the block.
        index: usize,
        /// Entry id (short).
        id: String,
        /// The rule.
        error: RuleError,
    },
    /// A lot the ledger does not have.
    /// A question of the ledger's log beyond it (a size larger than the
    /// log, a proof backwards).
    #[error("the ledger's log cannot answer that: {0}")]
    Log(String),
    #[error("lot {0} is not on this ledger")]
    UnknownLot(String),
    /// A period export asked for more entries than may be sent at once.
    #[error("the period holds {entries} entries, more than the {max} one export may carry: ask for a shorter period")]
    PeriodTooLarge {
        /// Entries in the period.
        entries: u64,
        /// The most one export carries.
        max: u64,
    },
    /// Payment terms that cannot be kept.
    #[error("the payment terms cannot be kept: {0}")]
    Terms(String),
    /// Document salts that cannot be kept.
    #[error("the document salts cannot be kept: {0}")]
    Salts(String),
    /// Codec failures on stored data.
    #[error("stored data cannot be decoded: {0}")]
    Codec(#[from] CodecError),
}

/// Makes a [`StoreError::Corrupt`] naming block `height`.
pub(crate) fn corrupt_at(height: u64) -> impl Fn(String) -> StoreError {
    move |what| StoreError::Corrupt(format!("block {height}: {what}"))
}
