//! Waybill's BFT consensus on Malachite (Tendermint).
//!
//! [`start`] runs the Malachite engine with Waybill's context (validators
//! from genesis, the block hash as the value, ed25519 votes whose bytes are
//! defined in `waybill-core`) and an application loop that asks the node
//! (through [`App`]) to build, check and commit blocks. A decided block is
//! committed with its commit certificate before consensus moves on, so
//! every stored block carries proof of finality that verifies offline.

#![forbid(unsafe_code)]

mod app;
mod codec;
mod config;
mod ctx;
mod signer;
mod signing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    start_engine, ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, RequestContext,
    Signer, SyncContext, WalContext,
};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{Genesis, ValidatorSpec};

pub use app::{to_engine_certificate, to_ledger_certificate, App, AppError, BoxError};
use libp2p::multiaddr::Protocol;
pub use malachitebft_app_channel::app::net::{Multiaddr, PeerId};

use crate::codec::WaybillCodec;
use crate::config::EngineConfig;
use crate::ctx::{Address, Validator, ValidatorSet, WaybillCtx};
use crate::signer::{WaybillSigner, WaybillVerifier};
use crate::signing::VerifyKey;

/// Largest block a proposer may build, in canonical bytes. A block travels
/// as one proposal part in one gossip message, and the engine's message
/// limit is 4 MiB, so blocks stay under it with room for the framing.
pub const MAX_PROPOSED_BLOCK_BYTES: usize = 3 * 1024 * 1024 + 512 * 1024;

/// Failures to start consensus.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// A genesis validator key is not a valid key.
    #[error("validator `{0}` in genesis has an invalid key")]
    BadValidatorKey(String),
    /// The engine did not start.
    #[error("the consensus engine failed to start: {0}")]
    Engine(String),
}

/// How to run consensus on this node (not to be confused with the
/// node's `[consensus]` configuration section, from which it is made).
#[derive(Clone)]
pub struct EngineSettings {
    /// The chain.
    pub genesis: Genesis,
    /// This node's key: its network identity, and its signing key if it is
    /// a validator in genesis (otherwise the node follows as a full node).
    pub key: SigningKey,
    /// Where the consensus network listens (`/ip4/…/tcp/…`).
    pub listen: Multiaddr,
    /// Peers to dial and keep connected, each with `/p2p/<peer id>` (see
    /// [`peer_id`]). Any other genesis key may connect too when it dials
    /// this node (see [`persistent_peers`]).
    pub peers: Vec<Multiaddr>,
    /// Directory for the write-ahead log.
    pub wal_dir: PathBuf,
    /// Propose / prevote / precommit timeouts.
    pub timeouts: (Duration, Duration, Duration),
    /// Minimum time between blocks (none: as fast as consensus goes).
    pub block_interval: Option<Duration>,
    /// A name for logs.
    pub moniker: String,
}

/// A running consensus engine and its application loop.
pub struct Consensus {
    engine: EngineHandle,
    app_task: tokio::task::JoinHandle<eyre::Result<()>>,
    /// Whether this node votes.
    pub is_validator: bool,
}

impl Consensus {
    /// Stops the engine and the loop. Safe at any point: the engine syncs
    /// its WAL before every signed message, and a committed block was
    /// flushed before it was acknowledged.
    pub async fn shutdown(self) {
        let _ = self
            .engine
            .actor
            .kill_and_wait(Some(Duration::from_secs(5)))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.engine.handle).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.app_task).await;
    }

    /// Waits until the loop ends (it only ends when the engine stops).
    pub async fn stopped(&mut self) -> String {
        match (&mut self.app_task).await {
            Ok(Ok(())) => "the consensus loop ended".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the consensus loop failed: {e}"),
        }
    }
}

/// The libp2p peer id (base58, as in `/p2p/<id>`) of a node key: a node's
/// network identity is its node key, so peer ids follow from genesis.
pub fn peer_id(key: &PublicKey) -> Result<String, ConsensusError> {
    network_id(key).map(|id| id.to_base58())
}

fn network_id(key: &PublicKey) -> Result<PeerId, ConsensusError> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|_| ConsensusError::BadValidatorKey(key.short()))?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// The validators of `genesis`, other than `me`, that no address in
/// `peers` names (ending in `/p2p/<peer id>`, as the entry network reads
/// its peers too). Consensus messages go only to connected peers, so each
/// pair of validators needs one of the two to list the other; a validator
/// listed by neither side never hears this node's votes and proposals, nor
/// this node its.
pub fn unlisted_validators(
    genesis: &Genesis,
    me: &PublicKey,
    peers: &[Multiaddr],
) -> Vec<PublicKey> {
    let listed: Vec<PeerId> = peers
        .iter()
        .filter_map(|a| match a.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        })
        .collect();
    genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .filter(|k| k != me)
        .filter(|k| network_id(k).map_or(true, |id| !listed.contains(&id)))
        .collect()
}

/// The persistent peers the engine gets: the configured `peers` that name
/// a genesis key (dialed and kept connected), then a peer-only address
/// `/p2p/<peer id>` for every genesis validator and member key other than
/// `me` that no address in `peers` names. The engine runs with
/// `persistent_peers_only`, so these are exactly the peers that may
/// connect; a peer-only entry admits that peer when it dials in but is
/// never dialed, as it carries no transport address. So any genesis key's
/// node that lists this one can connect (a full node syncs from the
/// validators it lists without any of them listing it), and a key outside
/// genesis cannot, even if listed ([`peers_outside_genesis`] names those,
/// for a warning). A genesis key that is not a valid ed25519 key is left
/// out: it cannot be a network identity.
pub fn persistent_peers(genesis: &Genesis, me: &PublicKey, peers: &[Multiaddr]) -> Vec<Multiaddr> {
    let genesis_ids = genesis_ids(genesis);
    let mut all: Vec<Multiaddr> = peers
        .iter()
        .filter(|a| p2p_id(a).is_some_and(|id| genesis_ids.contains(&id)))
        .cloned()
        .collect();
    let mut named: Vec<PeerId> = all.iter().filter_map(p2p_id).collect();
    if let Ok(id) = network_id(me) {
        named.push(id);
    }
    for id in genesis_ids {
        if !named.contains(&id) {
            named.push(id);
            all.push(Multiaddr::empty().with(Protocol::P2p(id)));
        }
    }
    all
}

/// The configured `peers` that name no genesis key (or no peer id at all):
/// [`persistent_peers`] leaves them out.
pub fn peers_outside_genesis(genesis: &Genesis, peers: &[Multiaddr]) -> Vec<Multiaddr> {
    let genesis_ids = genesis_ids(genesis);
    peers
        .iter()
        .filter(|a| !p2p_id(a).is_some_and(|id| genesis_ids.contains(&id)))
        .cloned()
        .collect()
}

/// The peer ids of the genesis validators, then members, each once.
fn genesis_ids(genesis: &Genesis) -> Vec<PeerId> {
    let mut ids = Vec::new();
    let keys = genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .chain(genesis.members.iter().map(|m| m.public_key));
    for id in keys.filter_map(|k| network_id(&k).ok()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The peer id an address ends in (`.../p2p/<id>`), if any.
fn p2p_id(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// Malachite's validator set for `validators`.
pub(crate) fn validator_set(validators: &[ValidatorSpec]) -> Result<ValidatorSet, ConsensusError> {
    validators
        .iter()
        .map(|v| {
            let vk = v
                .public_key
                .verifying_key()
                .map_err(|_| ConsensusError::BadValidatorKey(v.name.clone()))?;
            Ok(Validator {
                address: Address(v.public_key),
                public_key: VerifyKey(vk),
                voting_power: v.power,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ValidatorSet::new)
}

/// Starts the engine and the application loop.
pub async fn start<A: App>(cfg: EngineSettings, app: Arc<A>) -> Result<Consensus, ConsensusError> {
    let chain_id = cfg.genesis.chain_id();
    let ctx = WaybillCtx { chain_id };
    let vset = validator_set(&cfg.genesis.validators)?;
    let me = crypto::public_key(&cfg.key);
    // A validator now, or once the changes scheduled on the ledger are
    // made (it then votes from the height it joins; Malachite lets a
    // signer outside a height's set only follow that height).
    let next = app.committed_height().saturating_add(1);
    let in_set = |h: u64| {
        app.validators(h)
            .map(|set| set.iter().any(|v| v.public_key == me))
            .unwrap_or(false)
    };
    let is_validator = cfg.genesis.validators.iter().any(|v| v.public_key == me)
        || in_set(next)
        || in_set(u64::MAX);
    if is_validator {
        for v in unlisted_validators(&cfg.genesis, &me, &cfg.peers) {
            tracing::warn!(
                "validator {} is not in this node's consensus peers: the two exchange votes and proposals only if it lists this node",
                v.short()
            );
        }
    }
    for a in peers_outside_genesis(&cfg.genesis, &cfg.peers) {
        tracing::warn!(
            "consensus peer {a} does not end in the /p2p/<peer id> of a genesis member or validator: it is not dialed and may not connect"
        );
    }
    let engine_cfg = EngineConfig::new(
        &cfg.moniker,
        cfg.listen.clone(),
        persistent_peers(&cfg.genesis, &me, &cfg.peers),
    );
    let keypair = Keypair::ed25519_from_bytes(cfg.key.to_bytes())
        .map_err(|e| ConsensusError::Engine(e.to_string()))?;
    let peer = keypair.public().to_peer_id();
    let verifier = WaybillVerifier { chain_id };
    let (identity, consensus_ctx, signer) = if is_validator {
        let signer = WaybillSigner::new(cfg.key.clone(), chain_id);
        let proof = signer
            .sign_validator_proof(me.0.to_vec(), peer.to_bytes())
            .await
            .map_err(|e| ConsensusError::Engine(e.to_string()))?;
        let proof_bytes = WaybillCodec
            .encode(&proof)
            .map_err(|e| ConsensusError::Engine(e.to_string()))?;
        let identity = NetworkIdentity::new_validator(
            cfg.moniker.clone(),
            keypair,
            signer.address().to_string(),
            proof_bytes,
        );
        let cc = ConsensusContext::new_validator(
            signer.address(),
            Box::new(verifier),
            Box::new(WaybillSigner::new(cfg.key.clone(), chain_id)),
        );
        (identity, cc, Some(signer))
    } else {
        let identity = NetworkIdentity::new(cfg.moniker.clone(), keypair, None);
        let cc = ConsensusContext::new_full_node(Address(me), Box::new(verifier));
        (identity, cc, None)
    };
    let (channels, engine) = start_engine(
        ctx.clone(),
        engine_cfg,
        WalContext::new(
            cfg.wal_dir
                .join(format!("consensus-v{}.wal", codec::WAL_FORMAT)),
            WaybillCodec,
        ),
        NetworkContext::new(identity, WaybillCodec),
        consensus_ctx,
        SyncContext::new(WaybillCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| ConsensusError::Engine(e.to_string()))?;
    let (propose, prevote, precommit) = cfg.timeouts;
    let timeouts = LinearTimeouts {
        propose,
        prevote,
        precommit,
        ..LinearTimeouts::default()
    };
    let loop_cfg = app::LoopConfig {
        ctx,
        signer,
        validator_set: vset,
        timeouts,
        target_time: cfg.block_interval,
    };
    let app_task = tokio::spawn(app::run(loop_cfg, app, channels));
    Ok(Consensus {
        engine,
        app_task,
        is_validator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::genesis::{MemberSpec, ValidatorSpec};

    fn key(seed: u8) -> PublicKey {
        crypto::public_key(&SigningKey::from_bytes(&[seed; 32]))
    }

    /// A chain of `members` and one validator of power 1 per key.
    fn genesis(members: Vec<MemberSpec>, validators: &[PublicKey]) -> Genesis {
        Genesis {
            chain_name: "t".into(),
            members,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, k)| ValidatorSpec {
                    name: format!("v{i}"),
                    public_key: *k,
                    power: 1,
                    p2p: Vec::new(),
                })
                .collect(),
            consensus: Default::default(),
            governance: Default::default(),
            yields: Vec::new(),
        }
    }

    fn addr(k: &PublicKey, port: u16) -> Multiaddr {
        let id = peer_id(k).map_err(|e| e.to_string());
        let text = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", id.unwrap_or_default());
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn unlisted_validators_are_those_no_peer_address_names() {
        let keys: Vec<PublicKey> = (1..=4).map(key).collect();
        let genesis = genesis(Vec::new(), &keys);
        let me = keys[0];
        let all: Vec<Multiaddr> = keys[1..]
            .iter()
            .zip(7000..)
            .map(|(k, p)| addr(k, p))
            .collect();
        assert!(unlisted_validators(&genesis, &me, &all).is_empty());
        // Itself is never missing; an address without a peer id names no one.
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/7003"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let some = vec![all[0].clone(), bare];
        assert_eq!(
            unlisted_validators(&genesis, &me, &some),
            keys[2..].to_vec()
        );
        assert_eq!(
            unlisted_validators(&genesis, &keys[3], &[]),
            keys[..3].to_vec()
        );
    }

    fn peer_only(k: &PublicKey) -> Multiaddr {
        let id = network_id(k).unwrap_or_else(|e| panic!("{e}"));
        Multiaddr::empty().with(Protocol::P2p(id))
    }

    #[test]
    fn every_other_genesis_key_is_admitted_and_only_configured_peers_are_dialed() {
        use waybill_core::genesis::Role;
        let member = |name: &str, public_key: PublicKey| MemberSpec {
            name: name.into(),
            public_key,
            roles: vec![Role::Producer],
            country: None,
            gs1_company_prefixes: Vec::new(),
        };
        // A 32-byte string that is no ed25519 point (about half are not).
        let bad = (2u8..=255)
            .map(|b| {
                let mut k = [0u8; 32];
                k[0] = b;
                PublicKey(k)
            })
            .find(|k| network_id(k).is_err())
            .unwrap_or_else(|| panic!("no invalid key found"));
        let v: Vec<PublicKey> = (1..=4).map(key).collect();
        let (auditor, coop, stranger) = (key(5), key(6), key(9));
        // v4's key is also a member's: one entry for it.
        let genesis = genesis(
            vec![
                member("auditor", auditor),
                member("coop", coop),
                member("v4 org", v[3]),
                member("bad", bad),
            ],
            &v,
        );

        // A validator listing the other validators but no full node: the
        // configured addresses first, as they are (the only ones dialed),
        // then a peer-only entry for each member it does not list.
        let listed: Vec<Multiaddr> = v[1..].iter().zip(7000..).map(|(k, p)| addr(k, p)).collect();
        let got = persistent_peers(&genesis, &v[0], &listed);
        let mut want = listed.clone();
        want.extend([peer_only(&auditor), peer_only(&coop)]);
        assert_eq!(got, want);
        // Peer-only entries carry no transport part: Malachite never dials them.
        for a in &got[listed.len()..] {
            assert_eq!(a.iter().count(), 1, "{a}");
        }

        // A full node listing two validators admits the rest of genesis,
        // never itself, never a key outside genesis.
        let two = vec![addr(&v[0], 7000), addr(&v[1], 7001)];
        let got = persistent_peers(&genesis, &auditor, &two);
        let mut want = two.clone();
        want.extend([peer_only(&v[2]), peer_only(&v[3]), peer_only(&coop)]);
        assert_eq!(got, want);
        let stranger_id = network_id(&stranger).unwrap_or_else(|e| panic!("{e}"));
        let names = |peers: &[Multiaddr], id: PeerId| {
            peers
                .iter()
                .any(|a| a.iter().any(|p| p == Protocol::P2p(id)))
        };
        assert!(!names(&got, stranger_id));
        let me_id = network_id(&auditor).unwrap_or_else(|e| panic!("{e}"));
        assert!(!names(&got, me_id));

        // With no configured peers every other genesis key is admitted,
        // none is dialed.
        let got = persistent_peers(&genesis, &v[0], &[]);
        let want: Vec<Multiaddr> = [v[1], v[2], v[3], auditor, coop]
            .iter()
            .map(peer_only)
            .collect();
        assert_eq!(got, want);

        // A configured peer outside genesis is left out (and named for the
        // warning); nothing else outside genesis is added.
        let odd = vec![addr(&stranger, 7009), addr(&v[1], 7001)];
        let got = persistent_peers(&genesis, &v[0], &odd);
        assert_eq!(got[0], odd[1]);
        assert_eq!(got.len(), 5);
        assert!(!names(&got, stranger_id));
        assert_eq!(peers_outside_genesis(&genesis, &odd), vec![odd[0].clone()]);
    }
}
