//! Fixtures for the node's tests: a node serving its API on 127.0.0.1:0
//! over an in-memory ledger. The consortium, the entry builders and the
//! `Signer` that keeps nonces right come from `waybill_testkit`.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use waybill_core::block::BlockBytes;
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint};
use waybill_core::entry::{EncodedEntry, SignedEntry};
use waybill_node::{api, CommitSummary, Limits, Shared};
use waybill_store::{Backend, Ledger, MemBackend, SledBackend};

pub use waybill_testkit::consortium::{PROCESSOR_PREFIX, PRODUCER_PREFIX};
pub use waybill_testkit::ids::{gtin_under, lot};
// The node's tests call shipment ids `shipment` (`ship` is often a local).
pub use waybill_testkit::entries::{cosigned, governance};
pub use waybill_testkit::ids::ship as shipment;
pub use waybill_testkit::signer::{dispatch_body, produce_body, receive_body, Signer};
pub use waybill_testkit::{Consortium, ConsortiumBuilder, Party, T0};

/// The node tests' consortium, to change before building: the kit's
/// members on chain `waybill-node-tests` with one validator (`Validator
/// One`), which proposes every block.
pub fn builder() -> ConsortiumBuilder {
    Consortium::builder()
        .chain_name("waybill-node-tests")
        .single_validator()
}

/// The node tests' consortium ([`builder`], unchanged).
pub fn consortium() -> Consortium {
    builder().build()
}

/// A node serving the API on loopback.
pub struct TestNode<B: Backend + 'static = MemBackend> {
    pub c: Consortium,
    pub shared: Arc<Shared<B>>,
    pub addr: SocketAddr,
    /// What the API handed to gossip, one request's entries at a time.
    gossip: mpsc::Receiver<Vec<EncodedEntry>>,
}

/// The largest request body the test node accepts.
pub const MAX_BODY: usize = 256 * 1024;

impl TestNode<MemBackend> {
    /// Over an in-memory ledger.
    pub async fn start(limits: Limits) -> Self {
        let c = consortium();
        let ledger =
            Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create the ledger");
        TestNode::serve(c, ledger, limits).await
    }
}

impl TestNode<SledBackend> {
    /// Over a sled ledger directory made in `dir`.
    pub async fn start_sled(dir: &std::path::Path, limits: Limits) -> Self {
        let c = consortium();
        let ledger =
            waybill_store::create_dir(dir, c.genesis.clone()).expect("create the ledger dir");
        TestNode::serve(c, ledger, limits).await
    }
}

impl<B: Backend + 'static> TestNode<B> {
    pub async fn serve(c: Consortium, ledger: Ledger<B>, limits: Limits) -> Self {
        let key = c.validator.key.clone();
        TestNode::serve_as(c, ledger, limits, Some(key)).await
    }

    /// [`TestNode::serve`] with `cosigner` as the key that cosigns the
    /// log's checkpoints (none: a node that is no validator).
    pub async fn serve_as(
        c: Consortium,
        ledger: Ledger<B>,
        limits: Limits,
        cosigner: Option<SigningKey>,
    ) -> Self {
        TestNode::serve_with(c, ledger, limits, cosigner, None).await
    }

    /// [`TestNode::serve_as`], passing payment terms on through `relay`.
    pub async fn serve_with(
        c: Consortium,
        ledger: Ledger<B>,
        limits: Limits,
        cosigner: Option<SigningKey>,
        relay: Option<Arc<waybill_node::relay::Relay>>,
    ) -> Self {
        let shared = Arc::new(Shared::new(ledger, limits));
        let (tx, gossip) = mpsc::channel(64);
        let app = api::router(
            Arc::clone(&shared),
            api::ApiOptions {
                max_body_bytes: MAX_BODY,
                gossip: Some(tx),
                net: None,
                cosigner: cosigner.map(Arc::new),
                relay,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(api::serve(listener, app, std::future::pending()));
        TestNode {
            c,
            shared,
            addr,
            gossip,
        }
    }

    /// The next entries the API handed to gossip, checking that each came
    /// with its own canonical bytes (which gossip sends as they are).
    pub fn gossiped(&mut self) -> Option<Vec<SignedEntry>> {
        let sent = self.gossip.try_recv().ok()?;
        for e in &sent {
            assert_eq!(e.bytes(), e.entry().canonical_bytes());
            assert_eq!(e.id(), e.entry().id());
        }
        Some(sent.into_iter().map(EncodedEntry::into_entry).collect())
    }

    /// One request through `waybill_testnet`'s loopback client: `method
    /// path`, with an `Accept` header and a body with its content type if
    /// given. The client blocks, and this node serves on the test's
    /// runtime: the request runs on a blocking thread.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        accept: Option<&str>,
        body: Option<(Option<&str>, Vec<u8>)>,
    ) -> waybill_testnet::Response {
        let addr = self.addr;
        let (method, path) = (method.to_owned(), path.to_owned());
        let accept = accept.map(str::to_owned);
        let body = body.map(|(ct, b)| (ct.map(str::to_owned), b));
        tokio::task::spawn_blocking(move || {
            let mut req = waybill_testnet::Request::new(&method, &path);
            if let Some(a) = &accept {
                req = req.accept(a);
            }
            if let Some((ct, b)) = &body {
                req = req.body(ct.as_deref(), b);
            }
            waybill_testnet::request(addr, &req, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .await
        .expect("the request's thread")
    }

    /// `method path` with `headers` and an optional JSON body.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> waybill_testnet::Response {
        let addr = self.addr;
        let (method, path) = (method.to_owned(), path.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut req = waybill_testnet::Request::new(&method, &path).headers(&headers);
            if let Some(b) = &body {
                req = req.body(Some("application/json"), b);
            }
            waybill_testnet::request(addr, &req, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .await
        .expect("the request's thread")
    }

    /// GET → (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.send("GET", path, None, None).await;
        let status = r.status;
        let text = r.text();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} with non-JSON ({e}): {text}"));
        (status, json)
    }

    /// GET → (status, content type, text).
    pub async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self.send("GET", path, None, None).await;
        let ct = r.header("content-type").unwrap_or_default().to_owned();
        (r.status, ct, r.text())
    }

    /// POST raw bytes with a content type → (status, JSON body).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let r = self
            .send("POST", path, None, Some((content_type, body)))
            .await;
        let status = r.status;
        let text = r.text();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("POST {path} answered {status} with non-JSON ({e}): {text}")
        });
        (status, json)
    }

    /// Submits an entry as `waybill record` writes it (pretty JSON).
    pub async fn submit(&self, e: &SignedEntry) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec_pretty(e).expect("entry JSON");
        self.post_raw("/v1/entries", Some("application/json"), body)
            .await
    }

    /// Seals up to `max` mempool entries into the next block and commits it
    /// (no consensus yet: no certificate).
    pub async fn commit(&self, max: usize) -> CommitSummary {
        let shared = Arc::clone(&self.shared);
        let proposer = self.c.validator.pk;
        tokio::task::spawn_blocking(move || {
            let entries = shared.take(max).expect("take");
            let block = {
                let ledger = shared.read().expect("ledger");
                let time = ledger.tip().map_or(T0, |t| t.time_ms + 1_000);
                ledger.seal(entries, time, proposer)
            };
            shared.commit_block(block, None).expect("commit")
        })
        .await
        .expect("commit task")
    }

    /// Commits a block of exactly these entries (as if another proposer made it).
    pub async fn commit_entries(&self, entries: Vec<SignedEntry>) -> CommitSummary {
        self.commit_cosigned(entries, |_| Vec::new()).await
    }

    /// Commits a block of these entries with the cosignatures `sign`
    /// makes of its checkpoint (as consensus decides one).
    pub async fn commit_cosigned(
        &self,
        entries: Vec<SignedEntry>,
        sign: impl FnOnce(&Checkpoint) -> Vec<CarriedCosignature> + Send + 'static,
    ) -> CommitSummary {
        let shared = Arc::clone(&self.shared);
        let proposer = self.c.validator.pk;
        tokio::task::spawn_blocking(move || {
            let block = {
                let ledger = shared.read().expect("ledger");
                let time = ledger.tip().map_or(T0, |t| t.time_ms + 1_000);
                BlockBytes::encode(ledger.seal(entries, time, proposer))
            };
            let cp = shared.checkpoint_after(&block).expect("the next block");
            shared
                .commit_decided(block, None, &sign(&cp))
                .expect("commit")
        })
        .await
        .expect("commit task")
    }
}

/// Percent-encodes a lot id for a URL path segment (one copy, the
/// loopback client's).
pub use waybill_testnet::encode_segment;
