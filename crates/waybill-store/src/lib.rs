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
//!
//! # Modules
//!
//! Storage: `backend` (the key-value stores), `keys` (the key layout),
//! `datadir` and `marker` (the directory layout), `error`.
//!
//! The ledger: `ledger` (the type), and its jobs `open`, `validate`,
//! `append`, `snapshot`, `read`, `trail` and `check`, over the values
//! `block_map` (a block's ids, offsets and Merkle nodes), `index` and
//! `log` (the tree over every entry, for checkpoints).
//!
//! The committed state in memory: `state` ([`Committed`]), built from
//! `intern` (numbered id strings) and `compact` (the records), persisted
//! as `persist`.
//!
//! Modules import only downward: `error` imports nothing of the crate
//! but the marker's name, and no two modules import each other.

#![forbid(unsafe_code)]

mod append;
mod backend;
mod block_map;
mod check;
mod compact;
mod complete;
mod cosign;
mod datadir;
mod delta;
mod delta_log;
mod error;
mod index;
mod intern;
pub mod keys;
mod ledger;
mod log;
mod marker;
mod open;
mod persist;
mod read;
mod salts;
mod snapshot;
mod state;
mod terms;
mod trail;
mod validate;

pub use append::{Prepared, Written};
pub use backend::{
    Backend, DeltaReader, MemBackend, SledBackend, SnapshotReader, SnapshotWriter, WriteBatch,
    SNAPSHOT_FILE,
};
pub use check::CheckReport;
pub use cosign::Attached;
pub use datadir::{create_dir, open_and_check_dir, open_dir, DataDir};
pub use delta_log::DELTA_LOG_FILE;
pub use error::StoreError;
pub use index::Position;
pub use ledger::Ledger;
pub use marker::MARKER_FILE;
pub use open::STORE_FORMAT;
pub use read::Located;
pub use salts::MAX_SALTS_BYTES;
pub use state::{Committed, Counts};
pub use terms::MAX_TERMS_BYTES;
pub use validate::{check_contents, check_contents_known, Checked, Validated};
