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
mod cosign;
mod ctx;
mod held;
mod peers;
mod schedule;
mod signer;
mod signing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use malachitebft_app_channel::app::config::NodeConfig as _;
use malachitebft_app_channel::app::metrics::SharedRegistry;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    start_engine, ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity,
    NetworkMsg, RequestContext, Signer, SyncContext, WalContext,
};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{Genesis, ValidatorSpec};

pub use app::{to_engine_certificate, to_ledger_certificate, App, AppError, BoxError};
pub use cosign::cosignature_time;
pub use malachitebft_app_channel::app::net::{Multiaddr, PeerId};
pub use peers::{
    peer_id, peers_not_admitted, persistent_peers, unlisted_validators, Admission, Peers,
};

// The codec of the engine's network and WAL messages, the context they
// are typed over and the verifier of their signatures: public so that the
// decoders of peers' messages can be fuzzed from outside (`fuzz/`).
pub use crate::codec::{WaybillCodec, WireError};
pub use crate::ctx::{ProposalPart, WaybillCtx};
pub use crate::signer::WaybillVerifier;

use crate::config::EngineConfig;
use crate::ctx::{Address, Validator, ValidatorSet};
use crate::signer::WaybillSigner;
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
    /// This node's key: its network identity, and its signing key at every
    /// height whose validator set holds it (at the others the node
    /// follows as a full node).
    pub key: SigningKey,
    /// Where the consensus network listens (`/ip4/…/tcp/…`).
    pub listen: Multiaddr,
    /// Peers to dial and keep connected, each with `/p2p/<peer id>` (see
    /// [`peer_id`]). Any other admitted key may connect too when it dials
    /// this node (see [`persistent_peers`]).
    pub peers: Vec<Multiaddr>,
    /// The keys whose nodes may connect at start: the ledger's active
    /// members and validators. [`Consensus::peers`] changes them later.
    pub admitted: Vec<PublicKey>,
    /// Most peers connected at once, each way (Malachite allows four
    /// connections per peer slot): the bound on followers a validator
    /// keeps.
    pub max_peers: usize,
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
    /// The loop, until [`Consensus::stopped`] has seen it end.
    app_task: Option<tokio::task::JoinHandle<eyre::Result<()>>>,
    /// Whether this node votes.
    pub is_validator: bool,
    peers: Peers,
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
        if let Some(task) = self.app_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// The peers the engine admits, to change as the ledger does.
    pub fn peers(&self) -> Peers {
        self.peers.clone()
    }

    /// Waits until the loop ends (it only ends when the engine stops).
    pub async fn stopped(&mut self) -> String {
        let Some(task) = self.app_task.as_mut() else {
            return std::future::pending().await;
        };
        let why = match task.await {
            Ok(Ok(())) => "the consensus loop ended".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the consensus loop failed: {e}"),
        };
        // Awaited once: shutting down must not poll it again.
        self.app_task = None;
        why
    }
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
    start_inner(cfg, app, None).await
}

/// A seam for the Byzantine test node (`crates/waybill-byzantine`, never
/// published or shipped): the types a misbehaving node needs to build and
/// sign consensus messages the way an honest one does, and a way to put
/// an actor between the engine and its network. Nothing here changes
/// what an honest node does; [`start`] never uses it.
#[doc(hidden)]
pub mod testing {
    use std::future::Future;
    use std::pin::Pin;

    pub use crate::ctx::{Address, BlockHash, Height, Proposal, Vote};
    pub use crate::signer::{part_message, WaybillSigner};
    pub use crate::signing::Signature;

    /// The engine's network actor (the real one, or what stands in for it).
    pub type NetworkRef =
        malachitebft_app_channel::app::engine::network::NetworkRef<crate::WaybillCtx>;

    /// Given the real network actor and a signer with the node's key, an
    /// actor the engine talks to instead (it forwards to the real one).
    pub type WrapNetwork = Box<
        dyn FnOnce(
                NetworkRef,
                WaybillSigner,
            ) -> Pin<Box<dyn Future<Output = Result<NetworkRef, String>> + Send>>
            + Send,
    >;
}

/// [`start`] with the engine's network actor wrapped by `wrap`: every
/// message the engine or the application loop publishes (votes,
/// proposals, proposal parts, sync status and responses) goes through the
/// wrapper. For the Byzantine test node only (see [`testing`]).
#[doc(hidden)]
pub async fn start_with_network<A: App>(
    cfg: EngineSettings,
    app: Arc<A>,
    wrap: testing::WrapNetwork,
) -> Result<Consensus, ConsensusError> {
    start_inner(cfg, app, Some(wrap)).await
}

async fn start_inner<A: App>(
    cfg: EngineSettings,
    app: Arc<A>,
    wrap: Option<testing::WrapNetwork>,
) -> Result<Consensus, ConsensusError> {
    let chain_id = cfg.genesis.chain_id();
    let ctx = WaybillCtx { chain_id };
    let vset = validator_set(&cfg.genesis.validators)?;
    let me = crypto::public_key(&cfg.key);
    // A validator now, or once the changes scheduled on the ledger are
    // made (it then votes from the height it joins).
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
        let set = app.validators(next).unwrap_or_default();
        for v in unlisted_validators(&set, &me, &cfg.peers) {
            tracing::warn!(
                "validator {} is not in this node's consensus peers: the two exchange votes and proposals only if it lists this node",
                v.short()
            );
        }
    }
    for a in peers_not_admitted(&cfg.admitted, &cfg.peers) {
        tracing::warn!(
            "consensus peer {a} does not end in the /p2p/<peer id> of an active member or validator: it is not dialed and may not connect until the ledger admits its key"
        );
    }
    let admitted = persistent_peers(&cfg.admitted, &me, &cfg.peers);
    let engine_cfg = EngineConfig::new(
        &cfg.moniker,
        cfg.listen.clone(),
        admitted.clone(),
        cfg.max_peers,
    );
    let keypair = Keypair::ed25519_from_bytes(cfg.key.to_bytes())
        .map_err(|e| ConsensusError::Engine(e.to_string()))?;
    let peer = keypair.public().to_peer_id();
    let verifier = WaybillVerifier { chain_id };
    // Every node runs with its key as a signer: Malachite signs only at
    // heights whose set holds the key, so a node follows until the ledger
    // makes it a validator and votes from then on, without a restart (a
    // node started without a signer cannot: the engine stops the first
    // time it should sign).
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
    let consensus_ctx = ConsensusContext::new_validator(
        signer.address(),
        Box::new(verifier),
        Box::new(WaybillSigner::new(cfg.key.clone(), chain_id)),
    );
    let wal = WalContext::new(
        cfg.wal_dir
            .join(format!("consensus-v{}.wal", codec::WAL_FORMAT)),
        WaybillCodec,
    );
    let started = match wrap {
        None => {
            start_engine(
                ctx.clone(),
                engine_cfg,
                wal,
                NetworkContext::new(identity, WaybillCodec),
                consensus_ctx,
                SyncContext::new(WaybillCodec),
                RequestContext::new(100),
            )
            .await
        }
        Some(wrap) => {
            let registry = SharedRegistry::global().with_moniker(&cfg.moniker);
            let (real, _) = malachitebft_app_channel::spawn::spawn_network_actor(
                identity,
                engine_cfg.consensus(),
                engine_cfg.value_sync(),
                &registry,
                WaybillCodec,
            )
            .await
            .map_err(|e| ConsensusError::Engine(e.to_string()))?;
            let proxy = wrap(real, WaybillSigner::new(cfg.key.clone(), chain_id))
                .await
                .map_err(ConsensusError::Engine)?;
            // The loop's proposal parts go through the wrapper too.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<NetworkMsg<WaybillCtx>>(1);
            let to = proxy.clone();
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    if to.cast(msg.into()).is_err() {
                        break;
                    }
                }
            });
            EngineBuilder::new(ctx.clone(), engine_cfg)
                .with_default_wal(wal)
                .with_custom_network(proxy, tx)
                .with_default_sync(SyncContext::new(WaybillCodec))
                .with_default_consensus(consensus_ctx)
                .with_default_request(RequestContext::new(100))
                .build()
                .await
        }
    };
    let (channels, engine) = started.map_err(|e| ConsensusError::Engine(e.to_string()))?;
    let timeouts = linear_timeouts(cfg.timeouts);
    let loop_cfg = app::LoopConfig {
        ctx,
        signer,
        validator_set: vset,
        timeouts,
        target_time: cfg.block_interval,
        held_dir: Some(cfg.wal_dir.join("precommitted")),
    };
    let peers = Peers::new(channels.net_requests.clone(), me, cfg.peers, admitted);
    let app_task = tokio::spawn(app::run(loop_cfg, app, channels));
    Ok(Consensus {
        engine,
        app_task: Some(app_task),
        is_validator,
        peers,
    })
}

/// Malachite's timeouts from ours (propose, prevote, precommit), each
/// growing by Malachite's default step per round.
///
/// The rebroadcast timeout is Malachite's liveness protocol: a node stuck
/// in a round sends its votes again. Its default is the sum of the
/// *default* timeouts (3 + 1 + 1 s) whatever the others are set to; here
/// it follows ours. Measured with `waybill-bench --only faults`: after a
/// 2/2 split healed, the first block came 13-15 s later with the default
/// (the split had pushed every node a few rounds on), 5-9 s with this.
fn linear_timeouts(
    (propose, prevote, precommit): (Duration, Duration, Duration),
) -> LinearTimeouts {
    LinearTimeouts {
        propose,
        prevote,
        precommit,
        rebroadcast: propose + prevote + precommit,
        ..LinearTimeouts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebroadcast_follows_the_configured_timeouts() {
        let ms = Duration::from_millis;
        let t = linear_timeouts((ms(1000), ms(500), ms(500)));
        assert_eq!(
            (t.propose, t.prevote, t.precommit),
            (ms(1000), ms(500), ms(500))
        );
        // Malachite's default would be 5 s, whatever ours are.
        assert_eq!(t.rebroadcast, ms(2000));
        assert_eq!(t.propose_delta, LinearTimeouts::default().propose_delta);
    }
}
