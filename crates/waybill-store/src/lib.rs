//! Waybill persistence.
//!
//! [`Ledger`] keeps the chain, the state and the indexes over an ordered
//! key-value [`Backend`]: [`MemBackend`] for tests, [`SledBackend`] on disk.
//! Every block is written as one atomic batch (block, entries, state
//! changes, indexes) and flushed before `append` returns, so a crash leaves
//! either the old height or the new one, never a mix.
//!
//! Architecture invariant: this crate is the only one that writes ledger
//! data to disk.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod backend;
mod committed;
mod datadir;
mod index;
pub mod keys;
mod ledger;

pub use backend::{Backend, MemBackend, SledBackend, SnapshotWriter, WriteBatch, SNAPSHOT_FILE};
pub use committed::{Committed, Counts};
pub use datadir::{create_dir, open_and_check_dir, open_dir, DataDir, MARKER_FILE};
pub use index::Position;
pub use ledger::{
    check_contents, check_contents_known, CheckReport, Checked, Ledger, Located, Prepared,
    Validated, Written, STORE_FORMAT,
};

use waybill_core::block::BlockError;
use waybill_core::codec::CodecError;
use waybill_core::genesis::GenesisError;
use waybill_core::rules::RuleError;

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
    #[error("lot {0} is not on this ledger")]
    UnknownLot(String),
    /// Codec failures on stored data.
    #[error("stored data cannot be decoded: {0}")]
    Codec(#[from] CodecError),
}
