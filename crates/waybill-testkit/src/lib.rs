//! Waybill's shared test kit: consortia, parties, entry builders, seeded
//! workloads and the coffee story, in one copy for the tests of every
//! crate, the benchmark and `waybill demo`.
//!
//! - [`consortium`]: deterministic keys, [`Party`] and the test
//!   [`Consortium`] (genesis, one party per role, validators), built with
//!   [`ConsortiumBuilder`].
//! - [`ids`]: lot, shipment, GTIN, SSCC and UETR values from short text or
//!   numbers.
//! - [`entries`]: minimal bodies from text ids (the rules' tests), entries,
//!   signing and co-signing, membership changes.
//! - [`sealed`]: sealed payments, their openings and confirmations.
//! - [`signer`]: the traffic bodies (coffee-flavoured, typed ids) and a
//!   [`Signer`] that gives each author its next nonce.
//! - [`certs`]: commit certificates as validators would sign them.
//! - [`workload`]: the seeded consortium traffic generator (also the
//!   benchmark's) and its multi-group consortium.
//! - [`coffee`]: the coffee story's members, ids and steps, told by the
//!   demo and the tests.
//!
//! With the `harness` feature, which tests turn on and the demo does not:
//!
//! - `files`: directory listings, to show an operation left files alone;
//! - `process`: running a program with its output captured and a time
//!   limit (`Out`, `ok`, `fails`);
//! - `cli`: the `waybill` CLI's local-ledger world (`Net`) for tests that
//!   run the binary as separate processes.
//!
//! Test-kit code runs inside tests, which fail by panicking: helpers that
//! only tests call may unwrap. What the demo calls ([`coffee`], [`ids`]'s
//! `try_` functions) returns [`KitError`] instead.
// Tests fail by panicking: a helper that cannot do what a test asked for
// panics with a message, as the test itself would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod certs;
#[cfg(feature = "harness")]
pub mod cli;
pub mod coffee;
pub mod consortium;
pub mod entries;
mod error;
#[cfg(feature = "harness")]
pub mod files;
pub mod ids;
#[cfg(feature = "harness")]
pub mod process;
pub mod sealed;
pub mod signer;
pub mod workload;

pub use consortium::{key, Consortium, ConsortiumBuilder, Party, T0};
pub use error::{parse, KitError};
pub use signer::Signer;
