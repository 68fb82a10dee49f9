//! `waybill-node` as a library: configuration, the state the node's tasks
//! share (the ledger and the pool of `waybill-mempool`), the HTTP API and
//! metrics.
//!
//! The binary (`main.rs`) wires these together; consensus and gossip call
//! into [`shared::Shared`]:
//!
//! - gossip: [`shared::Shared::submit`] for entries that arrive from
//!   peers (gossipsub forwards them itself: do not republish), and
//!   [`shared::Shared::set_peers`]; the API hands accepted entries to a
//!   bounded channel ([`api::ApiOptions::gossip`]) for publishing;
//! - consensus: [`shared::Shared::height`], [`shared::Shared::propose`],
//!   [`shared::Shared::validate_block`] with [`shared::check_block_time`],
//!   [`shared::Shared::commit_block`], [`shared::Shared::committed`], and
//!   [`shared::Shared::subscribe`] to wait for commits.
//!
//! `Shared`'s methods block (locks, disk flushes): call them from
//! `tokio::task::spawn_blocking` in async code.

#![forbid(unsafe_code)]

pub mod api;
mod audit_api;
pub mod auth;
pub mod config;
mod documents_api;
mod handler;
pub mod log_api;
pub mod metrics;
pub mod node;
pub mod payments_api;
pub mod relay;
pub mod serve;
pub mod shared;
pub mod tls;

pub use api::{router, ApiOptions};
pub use config::Config;
pub use shared::{check_block_time, CommitSummary, Shared, SharedError, SubmitError};
pub use waybill_mempool::{Limits, Mempool, MempoolError};
