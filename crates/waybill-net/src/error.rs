//! What can go wrong starting or using the entry network.

use libp2p::Multiaddr;

/// What went wrong starting or using the network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A key is not a valid ed25519 key.
    #[error("{what} is not a valid ed25519 key: {reason}")]
    BadKey {
        /// Which key.
        what: String,
        /// Why.
        reason: String,
    },
    /// The config cannot work.
    #[error("invalid network config: {0}")]
    Config(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The entry is larger than `max_entry_bytes`.
    #[error("the entry is {len} bytes, more than the network limit of {limit} bytes")]
    TooLarge {
        /// Its size in canonical bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The entry would be rejected by every peer, so it is not sent.
    #[error("the entry is not valid for gossip: {0}")]
    Invalid(String),
    /// Gossipsub refused to publish.
    #[error("cannot publish the entry: {0}")]
    Publish(String),
    /// The network task has stopped (after `shutdown`, or a failure).
    #[error("the entry network has stopped")]
    Stopped,
}
