//! Local Waybill test networks: keys, genesis and node configs on free
//! loopback ports ([`generate`], [`from_genesis`]), the nodes run as real
//! `waybill-node` processes ([`Cluster`]) found next to the running program
//! ([`binary()`], [`built_binary`]), and one loopback HTTP client ([`Conn`],
//! [`http_get`], [`http_post_json`], [`status`], [`encode_segment`]).
//!
//! Used by `waybill demo`, the benchmark and the end-to-end tests. The
//! node is run as a binary, never linked: this crate needs no consensus,
//! gossip, async runtime or HTTP server. Every process is killed when the
//! [`Cluster`] is dropped, so a failing test leaves nothing running.

#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod binaries;
pub mod cluster;
pub mod http;
pub mod network;
pub mod peer_id;

pub use binaries::{binary, built_binary};
pub use cluster::Cluster;
pub use http::{
    encode_segment, http_get, http_post_json, request, status, Conn, HttpError, Request, Response,
};
pub use network::{free_ports, from_genesis, generate, MemberDef, NodeDef, Testnet};
pub use peer_id::peer_id;

/// Failures while generating or running a network.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// File system.
    #[error("{0}")]
    Io(String),
    /// A key that is not a valid ed25519 public key.
    #[error("key {0} is not a valid ed25519 public key")]
    BadKey(String),
    /// A binary of this workspace that is not built (see [`binary()`]).
    #[error("{}", binaries::missing(name, searched, *on_path, *release))]
    NoBinary {
        /// Its name, without `.exe`.
        name: String,
        /// The paths looked at, in order (next to this program first).
        searched: Vec<PathBuf>,
        /// Whether PATH was searched too.
        on_path: bool,
        /// Whether this program is a release build.
        release: bool,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Maps an I/O error to [`TestnetError::Io`], prefixed with `what`.
pub(crate) fn io<E: std::fmt::Display>(
    what: impl std::fmt::Display,
) -> impl FnOnce(E) -> TestnetError {
    move |e| TestnetError::Io(format!("{what}: {e}"))
}
