//! Waybill's entry gossip: a permissioned libp2p swarm that floods submitted
//! entries to every node's mempool.
//!
//! It is separate from Malachite's consensus network: consensus orders
//! blocks, this network only makes sure every validator sees every entry.
//! TCP, noise, yamux and gossipsub, with these rules:
//!
//! - **Only admitted keys connect.** A node's libp2p identity is its
//!   ed25519 member/validator key; a connection from or to any peer whose
//!   key is not in [`NetConfig::allowed`] (as the node keeps it in line
//!   with the ledger, [`NetHandle::set_allowed`]) is refused once noise
//!   has authenticated it.
//! - **Many entries per message.** A message is a batch of entries (framed
//!   as [`wire`] describes), so per-message costs (framing, ids, queues,
//!   duplicate copies) are paid once per batch; the node collects its
//!   accepted entries for a few milliseconds and publishes them together.
//! - **Nothing spreads unchecked.** Every gossiped message is held until
//!   every entry in it passes a bounded canonical decode, the stateless
//!   rules ([`waybill_core::rules::check_shape`]) and the chain id, and all
//!   their signatures pass one batch verification (ZIP 215, the verdict of
//!   single verification); only then is it forwarded and delivered. Checks
//!   run on the blocking pool, so the swarm keeps serving meanwhile. A
//!   peer that sends anything else is penalised by gossipsub's peer score
//!   and, after a few, ignored. The entries of a refused batch that pass
//!   on their own are still delivered (each carries its author's
//!   signature), so a faulty relay cannot make an honest author's entry
//!   disappear by batching it with a forgery.
//! - **Sent once to each connected peer.** A publisher floods each message
//!   to every connected peer; nothing is forwarded eagerly (the gossip
//!   mesh is empty). Each heartbeat (a second) a node tells its peers the
//!   ids it has seen lately, so a peer it is not connected to directly
//!   asks for what it lacks and gets it about a heartbeat later per hop.
//!   Members that connect to each other, as validators must for
//!   consensus, get each message once and at once.
//! - **No gossipsub signatures.** Messages are anonymous at the gossipsub
//!   level: peers are authenticated by noise and the allow list, entries by
//!   their own signatures (see `event_loop.rs` for the argument).
//! - **Bounded everything.** Message size, entries per message,
//!   connections, the command queue, messages waiting for their check and
//!   the delivery queue; a slow consumer loses entries (counted in
//!   [`NetHandle::dropped_entries`]), it never stalls the swarm.
//!
//! Delivery is at most once per message id (the sha256 of the bytes) within
//! gossipsub's duplicate window (a minute); an entry can still arrive in two
//! different batches (submitted at two nodes), so the mempool must dedupe by
//! entry id. A node does not receive the batches it publishes itself.
//!
//! The shape follows rust-libp2p's file-sharing example: [`start`] spawns a
//! task that owns the swarm and returns a cloneable [`NetHandle`] that talks
//! to it over a bounded channel, plus the receiver of accepted entries.

#![forbid(unsafe_code)]

mod error;
mod event_loop;
mod received;
mod redial;
mod validate;
pub mod wire;

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::{identity, Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use waybill_core::codec::MAX_ENTRY_BYTES;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{EncodedEntry, SignatureError, SignedEntry};

use crate::event_loop::{Command, EventLoop, LocalCheck};

pub use crate::error::NetError;
pub use crate::received::{topic_name, Received, Settled, SettledNonces, FRAME_OVERHEAD};

/// How many accepted batches wait for the consumer before new ones are dropped.
pub const DELIVERY_QUEUE: usize = 1024;
/// How many commands from handles wait for the event loop.
const COMMAND_QUEUE: usize = 256;
/// Default largest message, in bytes of the batch (see [`wire`]).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// How long `start` waits for its listeners to bind.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run this node's entry network.
#[derive(Clone)]
pub struct NetConfig {
    /// This node's ed25519 secret key seed: the same key as its validator
    /// or member key, so its libp2p peer id follows from genesis.
    pub secret: [u8; 32],
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/27000`
    /// (`/ip4/127.0.0.1/tcp/0` picks a free port; see [`NetHandle::listen_addrs`]).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and re-dial with backoff when disconnected.
    /// An address may end in `/p2p/<peer id>`; IP addresses only (no DNS).
    pub peers: Vec<Multiaddr>,
    /// Genesis validator and member keys: the only peers that may connect.
    pub allowed: Vec<PublicKey>,
    /// The chain id; the topic is `waybill/entries/v2/<chain id hex>`.
    pub chain_id: Hash32,
    /// Largest entry accepted or published, in canonical bytes (default
    /// [`MAX_ENTRY_BYTES`]).
    pub max_entry_bytes: usize,
    /// Largest message (a batch of entries) accepted or published (default
    /// [`MAX_MESSAGE_BYTES`]); at least one entry of `max_entry_bytes` with
    /// its framing.
    pub max_message_bytes: usize,
    /// The committed nonces, if the receiver keeps a ledger. An entry that
    /// arrives after this node committed its author's nonce would be
    /// refused as a replay whatever its signatures, so it is dropped
    /// before they are verified; its message is then neither forwarded
    /// nor held against the peer (gossipsub's "ignore"). A node that
    /// falls behind its peers' gossip (its blocks carry the entries first)
    /// so catches up instead of verifying what it has committed.
    pub settled: Option<Settled>,
}

impl NetConfig {
    /// A config that listens nowhere and dials no one yet, with the default
    /// entry size limit.
    pub fn new(secret: [u8; 32], chain_id: Hash32, allowed: Vec<PublicKey>) -> Self {
        NetConfig {
            secret,
            listen: Vec::new(),
            peers: Vec::new(),
            allowed,
            chain_id,
            max_entry_bytes: MAX_ENTRY_BYTES,
            max_message_bytes: MAX_MESSAGE_BYTES,
            settled: None,
        }
    }
}

impl fmt::Debug for NetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetConfig")
            .field("secret", &"<redacted>")
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("allowed", &self.allowed.len())
            .field("chain_id", &self.chain_id)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("settled", &self.settled.is_some())
            .finish()
    }
}

/// A cloneable handle to the running network.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    chain_id: Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
    connected: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    settled_count: Arc<AtomicU64>,
}

impl fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetHandle")
            .field("peer_id", &self.peer_id)
            .field("connected", &self.connected_peers())
            .finish_non_exhaustive()
    }
}

impl NetHandle {
    /// Verifies the signatures of a client's entries (submitted to this
    /// node, not gossiped) in a check started at once, with the gossiped
    /// messages waiting for theirs if together they make a large batch
    /// (256 signatures or more; a larger batch costs less per signature,
    /// and a client's request alone, about 100 entries, goes by the
    /// small-batch method). One verdict per entry, in order, exactly what
    /// [`SignedEntry::verify_signatures`] gives.
    ///
    /// The entries are shared with the check and are the caller's alone
    /// again once this returns `Ok`. [`NetError::Stopped`] if the network
    /// has stopped; verify them some other way then.
    pub async fn verify(
        &self,
        entries: Arc<Vec<EncodedEntry>>,
    ) -> Result<Vec<Result<(), SignatureError>>, NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Verify(LocalCheck { entries, reply }))
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// Floods an entry to every node: [`NetHandle::publish_batch`] with one
    /// entry.
    pub async fn publish(&self, entry: &SignedEntry) -> Result<(), NetError> {
        self.publish_batch(std::slice::from_ref(entry)).await
    }

    /// Floods entries to every node, as few messages as the limits allow
    /// (usually one).
    ///
    /// Each entry is checked first exactly as peers will check it (size,
    /// shape, chain id, and every signature, in one batch verification),
    /// so this node is never penalised for entries of its own. An entry
    /// that fails is left out and the others are sent; the first failure
    /// is then returned ([`NetError::TooLarge`] or [`NetError::Invalid`]).
    /// With no peers subscribed yet the entries cannot go anywhere: that is
    /// logged and `Ok` (they are sent when a peer subscribes; consensus
    /// does not depend on gossip). Publishing the same batch again within
    /// the duplicate window is also `Ok`: it is already on its way.
    ///
    /// Verifying signatures takes about 15 µs of CPU per signature: for
    /// entries whose signatures were just verified, use
    /// [`NetHandle::publish_verified`].
    pub async fn publish_batch(&self, entries: &[SignedEntry]) -> Result<(), NetError> {
        let encoded: Vec<EncodedEntry> = entries.iter().cloned().map(EncodedEntry::new).collect();
        self.publish_checked(&encoded, true).await
    }

    /// Like [`NetHandle::publish_batch`] for entries whose signatures the
    /// caller has verified (a node's API verified them on submission), with
    /// the bytes it encoded them to: everything but the signatures is
    /// checked. An entry with a bad signature would cost this node its
    /// score with every peer.
    pub async fn publish_verified(&self, entries: &[EncodedEntry]) -> Result<(), NetError> {
        self.publish_checked(entries, false).await
    }

    async fn publish_checked(
        &self,
        entries: &[EncodedEntry],
        verify: bool,
    ) -> Result<(), NetError> {
        let (messages, mut problem) = self.frame(entries, verify);
        for bytes in messages {
            if let Err(e) = self.publish_raw(bytes).await {
                if matches!(e, NetError::Stopped) {
                    return Err(e);
                }
                problem.get_or_insert(e);
            }
        }
        match problem {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The messages that carry the good ones of `entries`, and the first
    /// problem with the others.
    fn frame(&self, entries: &[EncodedEntry], verify: bool) -> (Vec<Vec<u8>>, Option<NetError>) {
        let mut problem = None;
        let mut good: Vec<&EncodedEntry> = Vec::with_capacity(entries.len());
        let mut batch = waybill_core::crypto::BatchVerifier::new();
        for e in entries {
            if e.len() > self.max_entry_bytes {
                problem.get_or_insert(NetError::TooLarge {
                    len: e.len(),
                    limit: self.max_entry_bytes,
                });
                continue;
            }
            // The bytes were encoded from the entry, so they are canonical.
            let checked =
                validate::check_decoded(e.entry(), e.len(), &self.chain_id).and_then(|_| {
                    if verify {
                        e.queue_signatures(&mut batch)
                            .map_err(|err| validate::Refusal::Signature(err.to_string()))?;
                    }
                    Ok(())
                });
            match checked {
                Ok(()) => good.push(e),
                Err(e) => {
                    problem.get_or_insert(NetError::Invalid(e.to_string()));
                }
            }
        }
        if verify && batch.verify(rand_core::OsRng).is_err() {
            good.retain(|e| match e.entry().verify_signatures() {
                Ok(()) => true,
                Err(err) => {
                    problem.get_or_insert(NetError::Invalid(
                        validate::Refusal::Signature(err.to_string()).to_string(),
                    ));
                    false
                }
            });
        }
        // Split by count and by the message limit.
        let mut messages = Vec::new();
        let mut current: Vec<&[u8]> = Vec::new();
        let mut size = wire::BATCH_HEADER;
        for bytes in good.into_iter().map(EncodedEntry::bytes) {
            let more = wire::ENTRY_HEADER + bytes.len();
            if !current.is_empty()
                && (current.len() >= wire::MAX_BATCH_ENTRIES
                    || size + more > self.max_message_bytes)
            {
                messages.push(wire::encode_batch(&current));
                current.clear();
                size = wire::BATCH_HEADER;
            }
            size += more;
            current.push(bytes);
        }
        if !current.is_empty() {
            messages.push(wire::encode_batch(&current));
        }
        (messages, problem)
    }

    /// Publishes bytes as they are, unchecked: only for tests of what peers
    /// do with bad messages.
    #[doc(hidden)]
    pub async fn publish_raw(&self, bytes: Vec<u8>) -> Result<(), NetError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Publish { bytes, reply })
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// This node's libp2p peer id (derived from its key).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses actually bound (a port 0 is resolved). Empty once the
    /// network has stopped.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::ListenAddrs { reply })
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// How many allowed peers are connected now.
    pub fn connected_peers(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// How many connections are established now (one per connected peer,
    /// unless a simultaneous dial is being sorted out).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// How many connected peers subscribe to this chain's entry topic (the
    /// peers a publish reaches directly). 0 once the network has stopped.
    pub async fn topic_peers(&self) -> usize {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::TopicPeers { reply })
            .await
            .is_err()
        {
            return 0;
        }
        answer.await.unwrap_or(0)
    }

    /// How many gossiped entries arrived after their nonce was committed
    /// and were dropped unverified (see [`NetConfig::settled`]).
    pub fn settled_entries(&self) -> u64 {
        self.settled_count.load(Ordering::Relaxed)
    }

    /// How many accepted entries were dropped because the receiver was full.
    pub fn dropped_entries(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Replaces the keys allowed to connect (the ledger's members and
    /// validators as governance changes them): a key added may connect
    /// from now on; a key removed is disconnected at once and refused
    /// after. Returns once the network applies it.
    pub async fn set_allowed(&self, keys: &[PublicKey]) -> Result<(), NetError> {
        let peers = keys.iter().map(peer_id_of).collect::<Result<_, _>>()?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SetAllowed { peers, reply })
            .await
            .map_err(|_| NetError::Stopped)?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// Stops the network: closes every connection and listener, ends the
    /// task and closes the entry receiver. Other clones of the handle get
    /// [`NetError::Stopped`] afterwards.
    pub async fn shutdown(self) {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }
}

/// The libp2p peer id of a member or validator key.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, NetError> {
    let pk =
        identity::ed25519::PublicKey::try_from_bytes(&key.0).map_err(|e| NetError::BadKey {
            what: format!("allowed key {}", key.to_hex()),
            reason: e.to_string(),
        })?;
    Ok(PeerId::from_public_key(&identity::PublicKey::from(pk)))
}

/// Starts the entry network: binds the listen addresses (waiting until they
/// are bound, so [`NetHandle::listen_addrs`] is complete), subscribes to
/// the chain's topic, dials the configured peers and spawns the task that
/// owns the swarm. Accepted entries from peers arrive on the receiver, a
/// batch at a time (the good entries of one message, in its order), each
/// with its id.
///
/// Must be called inside a tokio runtime. The task runs until
/// [`NetHandle::shutdown`] or until every handle is dropped.
pub async fn start(
    config: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<Vec<Received>>), NetError> {
    let NetConfig {
        mut secret,
        listen,
        peers,
        allowed,
        chain_id,
        max_entry_bytes,
        max_message_bytes,
        settled,
    } = config;
    if max_entry_bytes == 0 {
        return Err(NetError::Config(
            "max_entry_bytes must be more than 0".into(),
        ));
    }
    let one = max_entry_bytes.saturating_add(wire::BATCH_HEADER + wire::ENTRY_HEADER);
    if max_message_bytes < one {
        return Err(NetError::Config(format!(
            "max_message_bytes ({max_message_bytes}) must hold one entry of max_entry_bytes with its framing ({one})"
        )));
    }
    // `ed25519_from_bytes` zeroizes the seed it is given.
    let keypair =
        identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|e| NetError::BadKey {
            what: "this node's secret key".into(),
            reason: e.to_string(),
        })?;
    let peer_id = keypair.public().to_peer_id();
    let allowed: HashSet<PeerId> = allowed.iter().map(peer_id_of).collect::<Result<_, _>>()?;

    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (entries_tx, entries_rx) = mpsc::channel(DELIVERY_QUEUE);
    let connected = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let settled_count = Arc::new(AtomicU64::new(0));

    let mut event_loop = EventLoop::new(event_loop::Setup {
        keypair,
        allowed,
        peers,
        chain_id,
        max_entry_bytes,
        max_message_bytes,
        commands: commands_rx,
        entries: entries_tx,
        connected: connected.clone(),
        connections: connections.clone(),
        dropped: dropped.clone(),
        settled,
        settled_count: settled_count.clone(),
    })?;
    event_loop.listen(listen, LISTEN_TIMEOUT).await?;
    tokio::spawn(event_loop.run());

    let handle = NetHandle {
        commands: commands_tx,
        peer_id,
        chain_id,
        max_entry_bytes,
        max_message_bytes,
        connected,
        connections,
        dropped,
        settled_count,
    };
    Ok((handle, entries_rx))
}
