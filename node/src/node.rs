//! A running node: the ledger, the HTTP API, entry gossip and consensus,
//! wired together.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_consensus::{App, AppError, EngineSettings};
use waybill_core::block::{Block, BlockBytes, CommitCertificate, Header};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{Genesis, ValidatorSpec};
use waybill_store::{SledBackend, StoreError};

use crate::api;
use crate::config::Config;
use crate::shared::{check_block_time, now_ms, CommitError, ProposeError, ReadError, Shared};

/// The node as consensus sees it.
pub struct NodeApp {
    shared: Arc<Shared<SledBackend>>,
    max_clock_skew_ms: u64,
}

impl App for NodeApp {
    fn committed_height(&self) -> u64 {
        self.shared.height()
    }

    fn build_block(&self, height: u64, proposer: PublicKey) -> Result<Block, AppError> {
        self.shared
            .propose(height, now_ms(), proposer)
            .map_err(|e| match e {
                ProposeError::NotNext { height, next } => AppError::NotNext { height, next },
                ProposeError::Unavailable(_) => AppError::Unavailable(Box::new(e)),
            })
    }

    fn check_block(&self, block: &BlockBytes, live: bool) -> Result<(), AppError> {
        if live {
            check_block_time(&block.block().header, now_ms(), self.max_clock_skew_ms)
                .map_err(|e| AppError::Rejected(Box::new(e)))?;
        }
        Ok(self.shared.validate_encoded(block)?)
    }

    fn checkpoint_after(&self, block: &BlockBytes) -> Result<Checkpoint, AppError> {
        Ok(self.shared.checkpoint_after(block)?)
    }

    fn commit(
        &self,
        block: BlockBytes,
        certificate: CommitCertificate,
        cosignatures: Vec<CarriedCosignature>,
    ) -> Result<(), AppError> {
        self.shared
            .commit_decided(block, Some(certificate), &cosignatures)?;
        Ok(())
    }

    fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, AppError> {
        Ok(self.shared.cosignatures(height)?)
    }

    fn committed(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, AppError> {
        Ok(self.shared.committed(height)?)
    }

    fn committed_header(&self, height: u64) -> Result<Option<Header>, AppError> {
        Ok(self.shared.committed_header(height)?)
    }

    fn validators(&self, height: u64) -> Result<Vec<ValidatorSpec>, AppError> {
        Ok(self.shared.validators_at(height)?)
    }
}

/// Whether the ledger refused a block (it does not follow the tip, or an
/// entry breaks a rule) rather than failed to store or read it.
fn refused(e: &StoreError) -> bool {
    matches!(e, StoreError::Block(_) | StoreError::Rule { .. })
}

impl From<ReadError> for AppError {
    fn from(e: ReadError) -> Self {
        match &e {
            ReadError::Store(s) if refused(s) => AppError::Rejected(Box::new(e)),
            ReadError::Store(_) => AppError::Storage(Box::new(e)),
            ReadError::Unavailable(_) => AppError::Unavailable(Box::new(e)),
        }
    }
}

impl From<CommitError> for AppError {
    fn from(e: CommitError) -> Self {
        match &e {
            CommitError::Store(s) if refused(s) => AppError::Rejected(Box::new(e)),
            CommitError::Store(_) => AppError::Storage(Box::new(e)),
            CommitError::Unavailable(_) => AppError::Unavailable(Box::new(e)),
        }
    }
}

fn multiaddrs(what: &str, list: &[String]) -> Result<Vec<waybill_consensus::Multiaddr>> {
    list.iter()
        .map(|a| {
            a.parse()
                .map_err(|e| anyhow!("{what} address `{a}` is not a libp2p multiaddress: {e}"))
        })
        .collect()
}

/// Most entries from peers offered to the mempool at once.
const INBOUND_BATCH: usize = 4096;
/// Requests' accepted entries waiting to be gossiped.
const GOSSIP_QUEUE: usize = 1024;
/// How long accepted entries wait for others to share a gossip message.
/// Short against consensus (hundreds of ms), long enough at high rates to
/// carry hundreds of entries per message.
const GOSSIP_LINGER: Duration = Duration::from_millis(5);
/// Most entries collected for gossip at once (more go in further messages).
const GOSSIP_BATCH: usize = waybill_net::wire::MAX_BATCH_ENTRIES;

/// A node ready to run: its configuration, genesis, key and ledger.
pub struct Opened {
    /// The configuration.
    pub config: Config,
    /// The chain's genesis.
    pub genesis: Genesis,
    /// The node's key.
    pub key: SigningKey,
    /// The ledger and mempool the node's tasks share.
    pub shared: Arc<Shared<SledBackend>>,
}

/// Reads the configuration at `path`, its genesis and key, and opens the
/// ledger (which must be the genesis's chain).
pub fn open(path: &std::path::Path) -> Result<Opened> {
    let config = Config::load(path)?;
    let genesis = config.load_genesis()?;
    let key = config.load_key()?;
    let me = crypto::public_key(&key);
    let ledger = waybill_store::open_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot open the ledger in {} (create it with `waybill ledger init --data-dir {} --genesis {}`)",
            config.data_dir.display(),
            config.data_dir.display(),
            config.genesis.display()
        )
    })?;
    if ledger.chain_id() != genesis.chain_id() {
        bail!(
            "the ledger in {} is chain {}, but the genesis {} is chain {}; point the config at the matching genesis",
            config.data_dir.display(),
            ledger.chain_id(),
            config.genesis.display(),
            genesis.chain_id()
        );
    }
    let validator = genesis.validators.iter().find(|v| v.public_key == me);
    match validator {
        Some(v) => tracing::info!(key = %me, "this node is validator `{}`", v.name),
        None => {
            tracing::info!(key = %me, "this node's key is not a validator: running as a full node")
        }
    }
    if !config.api.listen.ip().is_loopback() {
        tracing::warn!(
            "the HTTP API listens on {}, not on loopback: anyone who can reach it may submit entries",
            config.api.listen
        );
    }
    let timeouts = config.consensus.timeouts(&genesis);
    tracing::info!(
        chain = %genesis.chain_name,
        height = ledger.height(),
        ?timeouts,
        "ledger opened"
    );
    let shared = Arc::new(Shared::new(ledger, config.mempool.into()));
    Ok(Opened {
        config,
        genesis,
        key,
        shared,
    })
}

/// Runs the node until Ctrl-C or SIGTERM.
pub async fn run(
    config: Config,
    genesis: Genesis,
    key: SigningKey,
    shared: Arc<Shared<SledBackend>>,
) -> Result<()> {
    run_with(config, genesis, key, shared, |app| app, None).await
}

/// [`run`] with consensus given `wrap(NodeApp)` instead of the node's
/// own [`NodeApp`], and its network actor wrapped by `network`. For the
/// Byzantine test node (`crates/waybill-byzantine`), which lies through
/// these; [`run`] passes the identity and no wrapper.
#[doc(hidden)]
pub async fn run_with<A: App>(
    config: Config,
    genesis: Genesis,
    key: SigningKey,
    shared: Arc<Shared<SledBackend>>,
    wrap: impl FnOnce(NodeApp) -> A,
    network: Option<waybill_consensus::testing::WrapNetwork>,
) -> Result<()> {
    let me = crypto::public_key(&key);
    let chain_id = genesis.chain_id();

    // Entry gossip: only the keys of active members and validators may
    // connect, as the ledger has them now (and as governance changes
    // them, below).
    let allowed = shared
        .allowed_keys()
        .context("cannot read the member table")?;
    let mut net_cfg = waybill_net::NetConfig::new(key.to_bytes(), chain_id, allowed.clone());
    net_cfg.listen = multiaddrs("gossip.listen", &config.gossip.listen)?
        .into_iter()
        .map(|a| a.to_string().parse())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("gossip.listen: {e}"))?;
    net_cfg.peers = config
        .gossip
        .peers
        .iter()
        .map(|a| a.parse().map_err(|e| anyhow!("gossip peer `{a}`: {e}")))
        .collect::<Result<_>>()?;
    // Entries gossiped after this node committed their nonce are dropped
    // before their signatures are verified.
    net_cfg.settled = Some({
        let shared = Arc::clone(&shared);
        Arc::new(move |authors: &[PublicKey]| shared.settled_nonces(authors))
    });
    let (net, mut from_peers) = waybill_net::start(net_cfg)
        .await
        .context("cannot start entry gossip")?;
    tracing::info!(peer_id = %net.peer_id(), addrs = ?net.listen_addrs().await, "entry gossip started");

    // Entries from peers go to the mempool (gossipsub forwards them itself).
    let inbound = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // The gossip layer verified every signature before accepting
            // (and forwarding) an entry, so the mempool checks the rules
            // only, for everything that has arrived, under one lock.
            while let Some(mut batch) = from_peers.recv().await {
                while batch.len() < INBOUND_BATCH {
                    match from_peers.try_recv() {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
                let shared = Arc::clone(&shared);
                let n = batch.len();
                match tokio::task::spawn_blocking(move || shared.submit_verified_batch(batch)).await
                {
                    Ok(results) => {
                        let accepted = results.iter().filter(|r| r.is_ok()).count();
                        tracing::debug!(accepted, refused = n - accepted, "entries from peers");
                    }
                    Err(e) => tracing::error!("mempool task failed: {e}"),
                }
            }
        })
    };
    // Entries accepted by the API are published, those that arrive within
    // a few milliseconds of each other in one message. The API verified
    // their signatures.
    let (to_gossip, mut gossip_rx) =
        tokio::sync::mpsc::channel::<Vec<waybill_core::entry::EncodedEntry>>(GOSSIP_QUEUE);
    let outbound = {
        let net = net.clone();
        tokio::spawn(async move {
            while let Some(mut batch) = gossip_rx.recv().await {
                let deadline = tokio::time::Instant::now() + GOSSIP_LINGER;
                while batch.len() < GOSSIP_BATCH {
                    match tokio::time::timeout_at(deadline, gossip_rx.recv()).await {
                        Ok(Some(more)) => batch.extend(more),
                        Ok(None) | Err(_) => break,
                    }
                }
                if let Err(e) = net.publish_verified(&batch).await {
                    tracing::warn!(entries = batch.len(), "cannot gossip entries: {e}");
                }
            }
        })
    };
    let peers_gauge = {
        let (net, shared) = (net.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            let mut settled = 0;
            loop {
                shared.set_peers(net.connected_peers());
                let now = net.settled_entries();
                shared
                    .metrics
                    .gossip_settled
                    .inc_by(now.saturating_sub(settled));
                settled = now;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // Consensus.
    let t = config.consensus.timeouts(&genesis);
    let settings = EngineSettings {
        genesis: genesis.clone(),
        key: key.clone(),
        listen: config
            .consensus
            .listen
            .parse()
            .map_err(|e| anyhow!("consensus.listen `{}`: {e}", config.consensus.listen))?,
        peers: multiaddrs("consensus peer", &config.consensus.peers)?,
        admitted: allowed.clone(),
        max_peers: config.consensus.max_peers,
        wal_dir: config.data_dir.join("consensus"),
        timeouts: (t.propose, t.prevote, t.precommit),
        block_interval: config
            .consensus
            .block_interval_ms
            .map(Duration::from_millis),
        moniker: me.short(),
    };
    let app = Arc::new(wrap(NodeApp {
        shared: Arc::clone(&shared),
        max_clock_skew_ms: config.consensus.max_clock_skew_ms,
    }));
    let started = match network {
        None => waybill_consensus::start(settings, app).await,
        Some(wrap) => waybill_consensus::start_with_network(settings, app, wrap).await,
    };
    let mut consensus = started.context("cannot start consensus")?;
    tracing::info!(
        validator = consensus.is_validator,
        "consensus started at height {}",
        shared.height() + 1
    );

    // The networks follow the ledger: after each block, the keys of the
    // members and validators from the next height on (a member added or a
    // key rotated in is admitted; a removed or revoked key, or a retired
    // validator's, is cut off from entry gossip and from consensus).
    let follow = {
        let (net, shared) = (net.clone(), Arc::clone(&shared));
        let peers = consensus.peers();
        let mut decided = shared.subscribe();
        let mut current = allowed;
        tokio::spawn(async move {
            while decided.changed().await.is_ok() {
                let keys = match shared.allowed_keys() {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::warn!("cannot read the member table for the allow list: {e}");
                        continue;
                    }
                };
                if keys == current {
                    continue;
                }
                tracing::info!(
                    keys = keys.len(),
                    "the members or validators change: updating who may connect"
                );
                if let Err(e) = net.set_allowed(&keys).await {
                    tracing::warn!("cannot update the entry network's allow list: {e}");
                    continue;
                }
                match peers.admit(&keys).await {
                    Ok(a) => tracing::info!(
                        added = a.added,
                        removed = a.removed,
                        "consensus peers follow the ledger"
                    ),
                    Err(e) => {
                        tracing::warn!("cannot update the consensus peers: {e}");
                        continue;
                    }
                }
                current = keys;
            }
        })
    };

    // The HTTP API.
    let router = api::router(
        Arc::clone(&shared),
        api::ApiOptions {
            max_body_bytes: config.api.max_body_bytes,
            gossip: Some(to_gossip),
            net: Some(net.clone()),
            cosigner: Some(Arc::new(key.clone())),
            relay: crate::relay::Relay::new(&config.terms_relay)?,
        },
    );
    let tls = match (&config.api.tls_cert, &config.api.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} (api.listen)", config.api.listen))?;
    tracing::info!(
        "HTTP API on {}://{}",
        if tls.is_some() { "https" } else { "http" },
        config.api.listen
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(crate::serve::serve(
        listener,
        router,
        config.api.serve_limits(),
        tls,
        async {
            let _ = stop_rx.await;
        },
    ));

    let outcome = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        reason = consensus.stopped() => Err(anyhow!("consensus stopped: {reason}")),
    };
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), api_task).await;
    consensus.shutdown().await;
    net.shutdown().await;
    // A snapshot now makes the next start replay no state deltas.
    match shared.read() {
        Ok(ledger) => {
            if let Err(e) = ledger.snapshot() {
                tracing::warn!("could not write a state snapshot at shutdown: {e}");
            }
        }
        Err(e) => tracing::warn!("no snapshot at shutdown: {e}"),
    }
    inbound.abort();
    outbound.abort();
    peers_gauge.abort();
    follow.abort();
    if let Err(e) = &outcome {
        bail!("{e}");
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
