//! The task that owns the swarm.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::core::transport::ListenerId;
use libp2p::core::upgrade;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, IdentityTransform, MessageAcceptance, MessageAuthenticity, MessageId,
    PeerScoreParams, PeerScoreThresholds, PublishError, TopicScoreParams, ValidationMode,
    WhitelistSubscriptionFilter,
};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{connection_limits, identify, identity, noise, tcp, yamux, Multiaddr, PeerId};
use libp2p::{Swarm, Transport};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior, Sleep};
use waybill_core::crypto::Hash32;
use waybill_core::entry::{EncodedEntry, SignatureError};

use crate::error::NetError;
use crate::received::{topic_name, Received, Settled, FRAME_OVERHEAD};
use crate::redial::Slot;
use crate::validate;

mod checks;

/// Identify's protocol version: peers that speak another are logged.
/// Version 2: unsigned gossipsub messages, each a batch of entries.
const PROTOCOL_VERSION: &str = "/waybill/net/2.0.0";
/// TCP connect plus noise and yamux negotiation must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections are kept while idle (peers out of the gossip mesh still
/// receive flood-published entries); a dead one is replaced by a re-dial.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// How often the re-dial schedule is checked.
const REDIAL_TICK: Duration = Duration::from_millis(500);
/// Connection handshakes in progress at once, each way.
const MAX_PENDING: u32 = 64;
/// Connections per peer. gossipsub splits a peer's messages among its
/// connections, which reorders them; see [`crate::redial`] for how two
/// peers avoid dialing each other at once.
const MAX_PER_PEER: u32 = 1;

/// Weight of an invalid message in a peer's score. The penalty is the
/// square of the (decaying) count times this: one invalid message costs
/// -10 (out of the gossip mesh), two -40, three -90, below the graylist
/// threshold of -80, where everything from the peer is ignored until the
/// count decays below 2.83 (about 12 s after three; longer after more).
const INVALID_MESSAGE_WEIGHT: f64 = -10.0;
/// Per-second decay of the invalid-message count (half-life about 138 s).
const INVALID_MESSAGE_DECAY: f64 = 0.995;

/// Messages checked at once, each on the blocking pool (the two cores of
/// a small validator; the swarm keeps running meanwhile).
const MAX_CHECKING: usize = 2;
/// Bytes of waiting messages one check takes at once (at least one
/// message): their signatures are verified in one batch, which costs a
/// third less per signature at 1,000 signatures than at 100, so when
/// messages queue up under load, the checks catch up faster.
const CHECK_GROUP_BYTES: usize = 256 * 1024;
/// How long a message may wait for others to be checked with, unless a
/// full group ([`CHECK_GROUP_BYTES`]) is waiting. A peer's message
/// usually holds one client request (about 100 entries under load); a
/// check of several costs less per signature, and the delay is small
/// next to a block interval.
const CHECK_GATHER: Duration = Duration::from_millis(40);
/// Signatures from which a batch goes by the large-batch method
/// (Pippenger's; curve25519-dalek switches at 190): a client's entries
/// are checked with the waiting messages when together they reach it.
const JOIN_SIGNATURES: usize = 256;
/// Bytes per gossiped entry, for counting a waiting message's
/// signatures by its size (a typical entry is 200 to 400 bytes).
const ENTRY_BYTES_ESTIMATE: usize = 300;
/// Messages waiting for a check; beyond this they are ignored (neither
/// forwarded nor penalised) and a warning is logged.
const MAX_WAITING: usize = 4096;
/// Most bytes of batches kept for a peer to come.
const MAX_UNSENT_BYTES: usize = 32 * 1024 * 1024;

/// A request from a handle.
pub(crate) enum Command {
    /// One batch, framed (see [`crate::wire`]).
    Publish {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    TopicPeers {
        reply: oneshot::Sender<usize>,
    },
    /// A client's entries, for their signatures (see [`crate::NetHandle::verify`]).
    Verify(LocalCheck),
    /// The keys allowed to connect from now on (see
    /// [`crate::NetHandle::set_allowed`]).
    SetAllowed {
        peers: HashSet<PeerId>,
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

type Gossipsub = gossipsub::Behaviour<IdentityTransform, WhitelistSubscriptionFilter>;

/// The composed behaviour. The allow list comes first: it refuses a
/// connection to or from any other peer as soon as noise has named it.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    allowed: allow_block_list::Behaviour<AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: Gossipsub,
    identify: identify::Behaviour,
}

/// What the event loop is made from.
pub(crate) struct Setup {
    pub(crate) keypair: identity::Keypair,
    pub(crate) allowed: HashSet<PeerId>,
    pub(crate) peers: Vec<Multiaddr>,
    pub(crate) chain_id: Hash32,
    pub(crate) max_entry_bytes: usize,
    pub(crate) max_message_bytes: usize,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) entries: mpsc::Sender<Vec<Received>>,
    pub(crate) connected: Arc<AtomicUsize>,
    pub(crate) connections: Arc<AtomicUsize>,
    pub(crate) dropped: Arc<AtomicU64>,
    pub(crate) settled: Option<Settled>,
    pub(crate) settled_count: Arc<AtomicU64>,
}

/// A message waiting for its check.
struct Unchecked {
    seq: u64,
    id: MessageId,
    source: PeerId,
    data: Vec<u8>,
    arrived: Instant,
}

/// A client's entries whose signatures are verified with the next check,
/// and where their verdicts go.
pub(crate) struct LocalCheck {
    pub(crate) entries: Arc<Vec<EncodedEntry>>,
    pub(crate) reply: oneshot::Sender<Vec<Result<(), SignatureError>>>,
}

/// A message's check, back from the blocking pool.
struct Checked {
    seq: u64,
    id: MessageId,
    source: PeerId,
    len: usize,
    verdict: validate::Verdict,
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    allowed: HashSet<PeerId>,
    chain_id: Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
    slots: Vec<Slot>,
    commands: mpsc::Receiver<Command>,
    entries: mpsc::Sender<Vec<Received>>,
    connected: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    settled: Option<Settled>,
    settled_count: Arc<AtomicU64>,
    /// Batches published while no peer was subscribed: sent as soon as one
    /// subscribes (bounded by bytes; the oldest go first when full).
    unsent: VecDeque<Vec<u8>>,
    unsent_bytes: usize,
    /// Messages received and not yet checked, oldest first.
    waiting: VecDeque<Unchecked>,
    /// Their bytes.
    waiting_bytes: usize,
    /// When the oldest waiting message is due for its check, if it has
    /// to wait for more ([`CHECK_GATHER`]).
    gather: Pin<Box<Sleep>>,
    gathering: bool,
    /// Clients' entries waiting for a check: one starts at once.
    local: Vec<LocalCheck>,
    /// Checks running on the blocking pool.
    checking: usize,
    /// The sequence number of the next message received.
    next_seq: u64,
    /// The sequence number of the next message to report and deliver:
    /// checks finish in any order, but messages are forwarded (reported to
    /// gossipsub) and delivered in the order they arrived, which keeps one
    /// publisher's entries in order for this node and for the peers it
    /// forwards to.
    next_delivery: u64,
    /// Checked messages waiting for an earlier one's check.
    ready: std::collections::BTreeMap<u64, Checked>,
    checked_tx: mpsc::Sender<Vec<Checked>>,
    checked_rx: mpsc::Receiver<Vec<Checked>>,
}

/// An error with its sources, for logs (libp2p's outer messages alone,
/// such as "Dial error", say little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn config_error(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Config(format!("{what}: {e}"))
}

/// The entry network's gossipsub settings.
fn gossipsub_config(max_message_bytes: usize) -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        // Hold every message until the application has judged it.
        .validate_messages()
        // Messages are not signed by their publisher, and carry no source
        // or sequence number (a signed message is refused). Signing adds
        // nothing here and cost a signature check per copy received:
        // - every peer is authenticated by noise with its genesis key and
        //   refused unless that key is allowed, so each message comes from
        //   a known member over an authenticated connection;
        // - what a message says is authenticated end to end: every entry
        //   carries its author's (and co-signers') signatures, checked
        //   before the message is accepted or forwarded, and a message
        //   with a bad one costs the peer that sent it its score;
        // - the publisher's identity served nothing else: message ids come
        //   from the content, and no rule depends on who gossiped an entry.
        .validation_mode(ValidationMode::Anonymous)
        // One id per byte string, whoever publishes it: the same batch
        // arriving over several peers is checked and delivered once.
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Hash32::digest(&m.data).0))
        // A message this node published can come back to it: a peer that
        // got it from another peer first passes it on to all but that one,
        // as an anonymous message does not say who published it. gossipsub
        // counts such an echo as an invalid message against the honest
        // peer unless self-origin is allowed; under load every node counted
        // several, three put a peer below the graylist threshold, and all
        // it sent was ignored for seconds. Allowed, an echo is a duplicate.
        .allow_self_origin(true)
        // No eager forwarding (an empty mesh): a publisher sends each
        // message to every connected peer (flood publishing, gossipsub's
        // default), and each heartbeat every node tells its peers the ids
        // it has seen lately (IHAVE), so a peer further away asks for what
        // it lacks (IWANT) and gets it a heartbeat or so later per hop.
        // Members that connect to each other, as the validators do for
        // consensus, get everything at once and once: with a mesh, every
        // peer also forwarded each message to the others, and four nodes
        // received each about twice (about 5% more CPU per entry).
        .mesh_n(0)
        .mesh_n_low(0)
        .mesh_n_high(0)
        .mesh_outbound_min(0)
        .max_transmit_size(max_message_bytes.saturating_add(FRAME_OVERHEAD))
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .map_err(|e| config_error("gossipsub", e))
}

fn gossipsub_behaviour(
    topic: &IdentTopic,
    max_message_bytes: usize,
) -> Result<Gossipsub, NetError> {
    let config = gossipsub_config(max_message_bytes)?;
    let filter = WhitelistSubscriptionFilter(std::iter::once(topic.hash()).collect());
    let mut gossipsub =
        Gossipsub::new_with_subscription_filter(MessageAuthenticity::Anonymous, config, filter)
            .map_err(|e| config_error("gossipsub", e))?;

    // Score only what matters in a small permissioned network: invalid
    // messages. The default delivery-rate penalties would punish honest
    // peers on a quiet chain; colocation penalties would punish members
    // behind one NAT.
    let topic_score = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: INVALID_MESSAGE_DECAY,
        ..TopicScoreParams::default()
    };
    let params = PeerScoreParams {
        topics: HashMap::from([(topic.hash(), topic_score)]),
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    gossipsub
        .with_peer_score(params, PeerScoreThresholds::default())
        .map_err(|e| config_error("gossipsub peer score", e))?;
    gossipsub
        .subscribe(topic)
        .map_err(|e| config_error("gossipsub subscription", e))?;
    Ok(gossipsub)
}

impl EventLoop {
    pub(crate) fn new(setup: Setup) -> Result<Self, NetError> {
        let Setup {
            keypair,
            allowed,
            peers,
            chain_id,
            max_entry_bytes,
            max_message_bytes,
            commands,
            entries,
            connected,
            connections,
            dropped,
            settled,
            settled_count,
        } = setup;
        let local = keypair.public().to_peer_id();
        let topic = IdentTopic::new(topic_name(&chain_id));

        let noise = noise::Config::new(&keypair).map_err(|e| config_error("noise", e))?;
        let transport = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .upgrade(upgrade::Version::V1)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed();

        let mut allow = allow_block_list::Behaviour::<AllowedPeers>::default();
        for peer in &allowed {
            allow.allow_peer(*peer);
        }
        let most = u32::try_from(allowed.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(MAX_PER_PEER);
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_pending_incoming(Some(MAX_PENDING))
            .with_max_pending_outgoing(Some(MAX_PENDING))
            .with_max_established(Some(most.max(1)))
            .with_max_established_per_peer(Some(MAX_PER_PEER));
        let behaviour = Behaviour {
            allowed: allow,
            limits: connection_limits::Behaviour::new(limits),
            gossipsub: gossipsub_behaviour(&topic, max_message_bytes)?,
            identify: identify::Behaviour::new(identify::Config::new(
                PROTOCOL_VERSION.into(),
                keypair.public(),
            )),
        };
        let swarm = Swarm::new(
            transport,
            behaviour,
            local,
            libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_TIMEOUT),
        );

        let now = Instant::now();
        let slots = peers
            .into_iter()
            .map(|addr| Slot::new(addr, local, now))
            .collect::<Vec<_>>();
        for slot in &slots {
            if let Some(peer) = slot.peer {
                if !allowed.contains(&peer) {
                    tracing::warn!(addr = %slot.addr, %peer, "configured peer is not an allowed key; dials to it will be refused");
                }
            }
        }
        // Clients' checks may run beyond MAX_CHECKING; one whose result
        // finds the queue full waits on its blocking thread until the loop
        // reads (its client has its verdicts by then).
        let (checked_tx, checked_rx) = mpsc::channel(4 * MAX_CHECKING);
        Ok(EventLoop {
            swarm,
            topic,
            allowed,
            chain_id,
            max_entry_bytes,
            max_message_bytes,
            slots,
            commands,
            entries,
            connected,
            connections,
            dropped,
            settled,
            settled_count,
            unsent: VecDeque::new(),
            unsent_bytes: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            gather: Box::pin(tokio::time::sleep(Duration::ZERO)),
            gathering: false,
            local: Vec::new(),
            checking: 0,
            next_seq: 0,
            next_delivery: 0,
            ready: std::collections::BTreeMap::new(),
            checked_tx,
            checked_rx,
        })
    }

    /// Binds every listen address and waits until each has reported an
    /// address, handling any other event meanwhile.
    pub(crate) async fn listen(
        &mut self,
        addrs: Vec<Multiaddr>,
        timeout: Duration,
    ) -> Result<(), NetError> {
        let mut pending: HashMap<ListenerId, Multiaddr> = HashMap::new();
        for addr in addrs {
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            pending.insert(id, addr);
        }
        let deadline = Instant::now() + timeout;
        while !pending.is_empty() {
            let Ok(event) = tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await
            else {
                let addr = pending.into_values().next();
                return Err(NetError::Listen {
                    addr: addr.unwrap_or_else(Multiaddr::empty),
                    reason: format!("not bound within {} s", timeout.as_secs()),
                });
            };
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    tracing::info!(%address, "entry network listening");
                    pending.remove(&listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if pending.contains_key(&listener_id) => {
                    let addr = pending
                        .remove(&listener_id)
                        .unwrap_or_else(Multiaddr::empty);
                    let reason = match reason {
                        Ok(()) => "listener closed".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    return Err(NetError::Listen { addr, reason });
                }
                SwarmEvent::ListenerError { listener_id, error }
                    if pending.contains_key(&listener_id) =>
                {
                    let addr = pending
                        .remove(&listener_id)
                        .unwrap_or_else(Multiaddr::empty);
                    return Err(NetError::Listen {
                        addr,
                        reason: error.to_string(),
                    });
                }
                other => self.on_swarm_event(other),
            }
        }
        Ok(())
    }

    /// Runs until shutdown or until every handle is gone.
    pub(crate) async fn run(mut self) {
        let mut redial = tokio::time::interval(REDIAL_TICK);
        redial.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ack = None;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        ack = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(checked) = self.checked_rx.recv() => self.on_checked(checked),
                () = &mut self.gather, if self.gathering => {
                    self.gathering = false;
                    self.start_checks();
                }
                _ = redial.tick() => self.redial(),
            }
        }
        let EventLoop { swarm, .. } = self;
        // Dropping the swarm closes every connection and listener.
        drop(swarm);
        self.connected.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
        tracing::info!("entry network stopped");
        if let Some(reply) = ack {
            let _ = reply.send(());
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { bytes, reply } => {
                let _ = reply.send(self.publish(bytes));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::TopicPeers { reply } => {
                let hash = self.topic.hash();
                let count = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .count();
                let _ = reply.send(count);
            }
            Command::Verify(check) => {
                self.local.push(check);
                self.start_checks();
            }
            Command::SetAllowed { peers, reply } => {
                self.set_allowed(peers);
                let _ = reply.send(());
            }
            // Handled by `run`.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    /// Admits `peers` from now on: a newly allowed peer may connect (and
    /// is dialed if configured); one no longer allowed is disconnected at
    /// once and refused after.
    fn set_allowed(&mut self, peers: HashSet<PeerId>) {
        let behaviour = self.swarm.behaviour_mut();
        for gone in self.allowed.difference(&peers) {
            tracing::info!(peer = %gone, "peer no longer allowed: disconnecting it");
            behaviour.allowed.disallow_peer(*gone);
        }
        for new in peers.difference(&self.allowed) {
            tracing::info!(peer = %new, "peer allowed from now on");
            behaviour.allowed.allow_peer(*new);
        }
        let most = u32::try_from(peers.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(MAX_PER_PEER);
        let limits = behaviour.limits.limits_mut();
        *limits = limits.clone().with_max_established(Some(most.max(1)));
        let gone: Vec<PeerId> = self.allowed.difference(&peers).copied().collect();
        self.allowed = peers;
        for peer in gone {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.update_connected();
    }

    fn publish(&mut self, bytes: Vec<u8>) -> Result<(), NetError> {
        let len = bytes.len();
        // Kept in case no peer is subscribed yet (rare: only while the
        // network forms).
        let bytes_copy = bytes.clone();
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), bytes)
        {
            Ok(id) => {
                tracing::debug!(message = %id, len, "entries published");
                Ok(())
            }
            Err(PublishError::NoPeersSubscribedToTopic) => {
                tracing::debug!(
                    len,
                    "no peer subscribed to the entry topic yet; the entries wait for one"
                );
                while self.unsent_bytes.saturating_add(len) > MAX_UNSENT_BYTES {
                    match self.unsent.pop_front() {
                        Some(old) => self.unsent_bytes -= old.len(),
                        None => break,
                    }
                }
                self.unsent_bytes += len;
                self.unsent.push_back(bytes_copy);
                Ok(())
            }
            Err(PublishError::Duplicate) => {
                tracing::debug!(len, "entries already gossiped");
                Ok(())
            }
            Err(PublishError::MessageTooLarge) => Err(NetError::TooLarge {
                len,
                limit: self.max_message_bytes,
            }),
            Err(e) => Err(NetError::Publish(e.to_string())),
        }
    }

    /// Dials every configured peer whose turn has come.
    fn redial(&mut self) {
        let now = Instant::now();
        for slot in &mut self.slots {
            if !slot.due(now) {
                continue;
            }
            let opts = match slot.peer {
                Some(peer) if self.swarm.is_connected(&peer) => {
                    slot.skip(now);
                    continue;
                }
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![slot.addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None => DialOpts::unknown_peer_id()
                    .address(slot.addr.clone())
                    .build(),
            };
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    tracing::debug!(addr = %slot.addr, "dialing peer");
                    slot.dialing(id, now);
                }
                Err(e) => {
                    let wait = slot.failed(now);
                    tracing::debug!(addr = %slot.addr, error = %chain(&e), retry_in = ?wait, "cannot dial peer");
                }
            }
        }
    }

    fn update_connected(&self) {
        let n = self
            .swarm
            .connected_peers()
            .filter(|p| self.allowed.contains(p))
            .count();
        self.connected.store(n, Ordering::Relaxed);
        let links = self
            .swarm
            .network_info()
            .connection_counters()
            .num_established();
        self.connections.store(
            usize::try_from(links).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let now = Instant::now();
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossipsub(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocol_version != PROTOCOL_VERSION => {
                tracing::warn!(peer = %peer_id, version = %info.protocol_version, "peer speaks another entry-network version");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if !self.allowed.contains(&peer_id) {
                    // The allow list refuses these before they are
                    // established; this is the second lock on the door.
                    tracing::warn!(peer = %peer_id, addr = %endpoint.get_remote_address(), "disconnecting a peer whose key is not allowed");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if let Some(slot) = self.slots.iter_mut().find(|s| s.is_dial(connection_id)) {
                    slot.established(connection_id, peer_id, now);
                }
                tracing::info!(peer = %peer_id, addr = %endpoint.get_remote_address(), "peer connected");
                self.update_connected();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                if let Some(slot) = self
                    .slots
                    .iter_mut()
                    .find(|s| s.is_connection(connection_id) || s.is_dial(connection_id))
                {
                    let wait = slot.closed(now);
                    tracing::debug!(addr = %slot.addr, retry_in = ?wait, "connection to configured peer closed");
                }
                match cause {
                    Some(e) => {
                        tracing::info!(peer = %peer_id, error = %chain(&e), "peer connection closed")
                    }
                    None => tracing::debug!(peer = %peer_id, "peer connection closed"),
                }
                self.update_connected();
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let Some(slot) = self.slots.iter_mut().find(|s| s.is_dial(connection_id)) {
                    if let Some(peer) = peer_id {
                        slot.learn(peer);
                    }
                    let wait = slot.failed(now);
                    tracing::warn!(addr = %slot.addr, error = %chain(&error), retry_in = ?wait, "dial failed");
                } else {
                    tracing::debug!(peer = ?peer_id, error = %chain(&error), "outgoing connection failed");
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => {
                tracing::debug!(from = %send_back_addr, peer = ?peer_id, error = %chain(&error), "incoming connection refused or failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "entry network listening");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => match reason {
                Ok(()) => tracing::info!(?addresses, "listener closed"),
                Err(e) => tracing::warn!(?addresses, error = %e, "listener failed"),
            },
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(error = %error, "listener error");
            }
            _ => {}
        }
    }

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                if message.topic != self.topic.hash() {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Reject,
                        );
                    tracing::warn!(peer = %propagation_source, topic = %message.topic, "rejected a message for another topic");
                    return;
                }
                if self.waiting.len() >= MAX_WAITING {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                    tracing::warn!(peer = %propagation_source, "too many gossiped messages waiting for their check; one ignored");
                    return;
                }
                self.waiting_bytes += message.data.len();
                self.waiting.push_back(Unchecked {
                    seq: self.next_seq,
                    id: message_id,
                    source: propagation_source,
                    data: message.data,
                    arrived: Instant::now(),
                });
                self.next_seq += 1;
                self.start_checks();
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(peer = %peer_id, %topic, "peer subscribed");
                if topic == self.topic.hash() && !self.unsent.is_empty() {
                    let waiting = std::mem::take(&mut self.unsent);
                    self.unsent_bytes = 0;
                    tracing::debug!(
                        messages = waiting.len(),
                        "sending entries that waited for a peer"
                    );
                    for bytes in waiting {
                        if let Err(e) = self.publish(bytes) {
                            tracing::warn!("cannot gossip waiting entries: {e}");
                        }
                    }
                }
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                tracing::debug!(peer = %peer_id, %topic, "peer unsubscribed");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::warn!(peer = %peer_id, "peer does not speak gossipsub");
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                tracing::warn!(peer = %peer_id, ?failed_messages, "peer is too slow to take messages");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo of a node's own message is a duplicate, not an invalid
    /// message held against the peer that passed it on, and nothing is
    /// forwarded eagerly (so members that connect to each other get each
    /// message once). Either way back, honest peers were graylisted under
    /// load, or every message arrived about twice.
    #[test]
    fn echoes_are_duplicates_and_nothing_is_forwarded_eagerly() {
        let config = gossipsub_config(1 << 20).map_err(|e| e.to_string());
        assert!(config.is_ok_and(|c| c.allow_self_origin()
            && matches!(c.validation_mode(), ValidationMode::Anonymous)
            && c.validate_messages()
            && c.flood_publish()
            && c.mesh_n() == 0
            && c.mesh_n_high() == 0
            && c.gossip_lazy() > 0));
    }
}
