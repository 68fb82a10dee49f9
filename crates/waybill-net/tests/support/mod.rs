//! Shared helpers for waybill-net's integration tests: signed entries,
//! nodes on loopback and bounded waits (keys and the base time from
//! `waybill_testkit`).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};
use waybill_core::codes::UnitCode;
use waybill_core::crypto::{self, Hash32, PublicKey};
use waybill_core::entry::{Body, Entry, Location, Produce, Product, Quantity, SignedEntry};
use waybill_net::{NetConfig, NetHandle};
pub use waybill_testkit::{key, T0};

/// Longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub const QUIET: Duration = Duration::from_secs(2);

/// The chain the tests run on.
pub fn chain() -> Hash32 {
    Hash32::digest(b"waybill-net test chain")
}

/// Another chain.
pub fn other_chain() -> Hash32 {
    Hash32::digest(b"some other chain")
}

/// The public key for `seed`.
pub fn pk(seed: u8) -> PublicKey {
    crypto::public_key(&key(seed))
}

/// A production entry by `seed`'s key, with a description of `extra`
/// characters more (to make it larger).
pub fn produce_entry(chain_id: Hash32, seed: u8, nonce: u64, extra: usize) -> SignedEntry {
    let description = format!("green coffee, lot {nonce}{}", "x".repeat(extra));
    let body = Body::Produce(Produce {
        lot: format!("LOT-{seed}-{nonce}").parse().unwrap(),
        product: Product {
            gtin: None,
            id: None,
            description,
        },
        quantity: Quantity {
            value: "100".parse().unwrap(),
            unit: UnitCode::Kgm,
        },
        origin: Location::default(),
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: Vec::new(),
    });
    Entry {
        version: waybill_core::entry::ENTRY_VERSION,
        chain_id,
        author: pk(seed),
        nonce,
        recorded_at_ms: T0 + 1000 * i64::try_from(nonce).unwrap(),
        body,
    }
    .sign(&key(seed))
}

/// A node's config: key `seed`, the keys of `allowed` seeds, listening on
/// loopback with a free port.
pub fn config(seed: u8, allowed: &[u8]) -> NetConfig {
    let mut c = NetConfig::new(
        [seed; 32],
        chain(),
        allowed.iter().map(|s| pk(*s)).collect(),
    );
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    c
}

/// A running node.
pub struct Node {
    pub handle: NetHandle,
    /// Delivered batches.
    pub entries: mpsc::Receiver<Vec<waybill_net::Received>>,
    /// Entries of a delivered batch not looked at yet.
    pub buffered: VecDeque<SignedEntry>,
}

/// Logs to the test output when `RUST_LOG` is set (e.g. `RUST_LOG=waybill_net=debug`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The listen addresses of `node` (with its `/p2p/` suffix when `with_peer_id`).
pub async fn addrs(node: &Node, with_peer_id: bool) -> Vec<libp2p::Multiaddr> {
    let mut out = node.handle.listen_addrs().await;
    if with_peer_id {
        for addr in &mut out {
            addr.push(libp2p::multiaddr::Protocol::P2p(node.handle.peer_id()));
        }
    }
    out
}

/// Starts a node from `config`, dialing the listen addresses of `peers`
/// (with their `/p2p/` suffix when `with_peer_id`).
pub async fn start(mut config: NetConfig, peers: &[&Node], with_peer_id: bool) -> Node {
    init_logs();
    for p in peers {
        config.peers.extend(addrs(p, with_peer_id).await);
    }
    let (handle, entries) = waybill_net::start(config).await.unwrap();
    assert!(!handle.listen_addrs().await.is_empty());
    Node {
        handle,
        entries,
        buffered: VecDeque::new(),
    }
}

/// Waits until `check` holds, or fails the test after [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// The next delivered batch (all of it), failing the test after [`WAIT`].
pub async fn next_batch(node: &mut Node) -> Vec<SignedEntry> {
    assert!(
        node.buffered.is_empty(),
        "entries of the last batch are left"
    );
    let batch = timeout(WAIT, node.entries.recv())
        .await
        .expect("no batch delivered in time")
        .expect("entry receiver closed");
    assert!(!batch.is_empty(), "an empty batch was delivered");
    batch
        .into_iter()
        .map(|r| {
            // The id and length come from the bytes that arrived.
            assert_eq!(r.id, r.entry.id());
            assert_eq!(r.len, r.entry.canonical_bytes().len());
            r.entry
        })
        .collect()
}

/// The next delivered entry, failing the test after [`WAIT`].
pub async fn next_entry(node: &mut Node) -> SignedEntry {
    if node.buffered.is_empty() {
        node.buffered = next_batch(node).await.into();
    }
    node.buffered.pop_front().expect("a batch is never empty")
}

/// Asserts that nothing is delivered for [`QUIET`].
pub async fn assert_quiet(node: &mut Node, what: &str) {
    assert!(
        node.buffered.is_empty(),
        "{what}: unexpected entries delivered: {:?}",
        node.buffered
    );
    if let Ok(Some(e)) = timeout(QUIET, node.entries.recv()).await {
        panic!("{what}: unexpected entries delivered: {e:?}");
    }
}

/// Shuts every node down and checks that its receiver closes.
pub async fn shutdown(nodes: Vec<Node>) {
    for mut n in nodes {
        n.handle.clone().shutdown().await;
        // The task has ended: the receiver drains and closes.
        timeout(WAIT, async { while n.entries.recv().await.is_some() {} })
            .await
            .expect("entry receiver did not close after shutdown");
        assert_eq!(n.handle.connected_peers(), 0);
        assert!(n.handle.listen_addrs().await.is_empty());
        assert!(matches!(
            n.handle.publish_raw(vec![1]).await,
            Err(waybill_net::NetError::Stopped)
        ));
        assert!(matches!(
            n.handle.verify(std::sync::Arc::new(Vec::new())).await,
            Err(waybill_net::NetError::Stopped)
        ));
    }
}
