//! The engine's configuration, built in code from the node's settings.

use std::time::Duration;

use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, NodeConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;

/// How long the engine refuses new inbound connections from an address
/// after one from it closed (Malachite's default is 30 s). A member's
/// node that dialled before the ledger admitted it was refused, and so
/// throttled; with 30 s it could wait that long after its admission
/// height to connect, where the networks should follow the ledger within
/// seconds. Two seconds still bounds a churning peer to one connection
/// attempt every two seconds per address. Addresses of configured peers
/// are exempt either way.
const IP_THROTTLE: Duration = Duration::from_secs(2);

/// What the engine reads.
#[derive(Clone, Debug)]
pub(crate) struct EngineConfig {
    pub moniker: String,
    pub consensus: ConsensusConfig,
    pub value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

impl EngineConfig {
    /// A permissioned setup: only the `peers` given (each pinned by
    /// `/p2p/<peer id>`) may connect; values travel as proposal parts;
    /// lagging nodes sync decided blocks. `peers` holds the configured
    /// peers, which the engine dials and keeps connected, and a peer-only
    /// `/p2p/<peer id>` entry for each other admitted key, which admits that
    /// peer when it dials in but is never dialed (see
    /// [`crate::persistent_peers`]).
    ///
    /// Votes and proposal parts go straight to every connected peer
    /// (Malachite's broadcast protocol), not through gossipsub. In a
    /// consortium the validators connect to each other, so relaying adds
    /// nothing: with gossipsub each peer forwarded every message to the
    /// others, and every copy of a 1.5 MB proposal part was signed and its
    /// signature checked over the whole part at the libp2p level. Our own
    /// signatures already cover what matters (votes by the engine's signing
    /// provider, each proposal part by its proposer over the block hash);
    /// the connections are authenticated by noise. Measured over network
    /// benchmark runs (`waybill-bench --only network`): about 6% less node
    /// CPU per finalised entry. The cost: a validator hears only the peers it is
    /// connected to, so the validators must connect to each other, which
    /// [`crate::unlisted_validators`] helps to check.
    ///
    /// `max_peers` bounds the peers connected each way (the engine allows
    /// four connections per slot, for churn), so a validator keeps a
    /// bounded number of followers however many members run nodes.
    pub fn new(moniker: &str, listen: Multiaddr, peers: Vec<Multiaddr>, max_peers: usize) -> Self {
        let defaults = P2pConfig::default();
        let consensus = ConsensusConfig {
            enabled: true,
            value_payload: ValuePayload::ProposalAndParts,
            p2p: P2pConfig {
                listen_addr: listen,
                persistent_peers: peers,
                persistent_peers_only: true,
                protocol: PubSubProtocol::Broadcast,
                discovery: DiscoveryConfig {
                    num_inbound_peers: max_peers,
                    num_outbound_peers: max_peers,
                    ip_throttle_duration: IP_THROTTLE,
                    ..defaults.discovery
                },
                ..defaults
            },
            ..ConsensusConfig::default()
        };
        let value_sync = ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        };
        EngineConfig {
            moniker: moniker.to_string(),
            consensus,
            value_sync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_peers_bounds_the_engine_s_peers_each_way_and_only_listed_peers_connect() {
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/7272"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let c = EngineConfig::new("n", listen, Vec::new(), 7);
        let p2p = &c.consensus.p2p;
        assert_eq!(p2p.discovery.num_inbound_peers, 7);
        assert_eq!(p2p.discovery.num_outbound_peers, 7);
        assert_eq!(p2p.discovery.ip_throttle_duration, IP_THROTTLE);
        assert!(p2p.persistent_peers_only);
    }
}
