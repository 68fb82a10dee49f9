//! Local Waybill test networks: keys, genesis and node configs on free
//! loopback ports ([`generate`], [`from_genesis`]), the nodes run as real
//! `waybill-node` processes ([`Cluster`]) found next to the running program
//! ([`binary()`], [`built_binary`]), and one loopback HTTP client ([`Conn`],
//! [`http_get`], [`http_post_json`], [`status`], [`encode_segment`]), and
//! a relay between the nodes that a test can cut ([`Relay`]).
//!
//! Used by `waybill demo`, the benchmark and the end-to-end tests. The
//! node is run as a binary, never linked: this crate needs no consensus,
//! gossip, async runtime or HTTP server. Every process is killed when the
//! [`Cluster`] is dropped, so a failing test leaves nothing running.

#![forbid(unsafe_code)]

pub mod binaries;
pub mod cluster;
mod error;
pub mod http;
pub mod network;
pub mod peer_id;
pub mod relay;

pub use binaries::{binary, built_binary};
pub use cluster::Cluster;
pub use error::TestnetError;
pub use http::{
    encode_segment, http_get, http_post_json, request, status, Conn, HttpError, Request, Response,
};
pub use network::{free_ports, from_genesis, generate, MemberDef, NodeDef, Testnet};
pub use peer_id::peer_id;
pub use relay::Relay;
