//! Waybill's pure ledger core.
//!
//! Everything a node, a consumer or an auditor needs to judge the ledger:
//! identifiers, entry and block types, the one canonical codec, hashing and
//! signatures, Merkle proofs, genesis, the rules (the state transition) and
//! trail and bundle verification.
//!
//! Architecture invariant: this crate performs no I/O. It reads no clock,
//! disk, network or randomness; callers pass time and keys in. So every
//! rule is testable deterministically and the CLI can verify offline.

#![forbid(unsafe_code)]

pub mod block;
pub mod bundle;
pub mod checkpoint;
pub mod codec;
pub mod codes;
pub mod crypto;
pub mod entry;
mod error;
pub mod genesis;
pub mod geo;
pub mod governance;
pub mod gs1;
pub mod index;
pub mod merkle;
pub mod request;
pub mod rules;
pub mod sensor;
pub mod state;
pub mod terms;
pub mod text;
pub mod trail;
pub mod transport;

pub use error::IdError;
