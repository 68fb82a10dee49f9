//! What the network hands over and shares with its event loop and its
//! checks: a checked entry from a peer, the committed nonces it is given,
//! the topic's name and the framing margin.

use std::sync::Arc;

use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::SignedEntry;

/// Bytes a gossipsub frame adds around a message (topic and protobuf
/// framing: under 150; the rest is margin).
pub const FRAME_OVERHEAD: usize = 1024;

/// An entry as it arrived from a peer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The entry.
    pub entry: SignedEntry,
    /// Its id: the sha256 of the canonical bytes it arrived as (so the
    /// receiver need not encode it again).
    pub id: Hash32,
    /// The length of those bytes.
    pub len: usize,
}

/// The last nonce this node has committed for each of the authors it is
/// given, in order (0 for an author with none). See [`NetConfig::settled`].
pub type SettledNonces = dyn Fn(&[PublicKey]) -> Vec<u64> + Send + Sync;

/// A shared [`SettledNonces`].
pub type Settled = Arc<SettledNonces>;

/// The gossipsub topic for a chain's entries.
pub fn topic_name(chain_id: &Hash32) -> String {
    format!("waybill/entries/v2/{}", chain_id.to_hex())
}
