//! Waybill's end-to-end tests, one test binary: each module is a story told
//! with real processes (the `waybill` and `waybill-node` binaries of this
//! workspace, which `cargo test --workspace` builds first).
//!
//! - [`tour`]: the README's short tour, run as written.
//! - [`cli_story`]: the coffee story through the CLI only, one process a step.
//! - [`lying_node`]: the CLI against a stand-in node (in process) that
//!   serves honest and lying trails, and takes submissions.
//! - [`node_nonce`]: `record --node` and `nonce` taking nonces from a
//!   real node (a lone validator).
//! - [`cluster`]: networks of `waybill-node` processes: consensus, crashes,
//!   a halted chain, full nodes syncing, and one lying validator of four
//!   (`waybill-byzantine-node`, `cluster/byzantine.rs`).
//! - [`demo`]: `waybill demo` as the README runs it.
//! - [`record_kinds`]: every kind of entry through `waybill record`, and
//!   the refusals of bad input.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_story;
mod cluster;
mod demo;
mod governance;
mod lying_node;
mod node_nonce;
mod record_kinds;
mod support;
mod tour;
