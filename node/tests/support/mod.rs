//! Fixtures for the node's tests: a deterministic consortium, entry
//! builders that keep nonces right, and a node serving its API on
//! 127.0.0.1:0 over an in-memory ledger (adapted from
//! crates/waybill-store/tests/support).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{
    Body, Dispatch, EncodedEntry, Entry, Input, Location, Produce, Product, Quantity, Receive,
    SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{ChainId, Genesis, MemberSpec, Role, ValidatorSpec};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_node::{api, Committed, Limits, Shared};
use waybill_store::{Backend, Ledger, MemBackend, SledBackend};

/// Block times start here (2023-11-14).
pub const T0: i64 = 1_700_000_000_000;

/// One member (or the validator).
#[derive(Debug, Clone)]
pub struct Party {
    pub name: &'static str,
    pub key: SigningKey,
    pub pk: PublicKey,
}

impl Party {
    /// `SigningKey::from_bytes(&[seed; 32])`.
    pub fn new(name: &'static str, seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let pk = crypto::public_key(&key);
        Party { name, key, pk }
    }
}

/// A small consortium with one validator.
#[derive(Debug, Clone)]
pub struct Consortium {
    pub genesis: Genesis,
    pub chain_id: ChainId,
    pub producer: Party,
    pub processor: Party,
    pub carrier: Party,
    pub retailer: Party,
    pub validator: Party,
}

impl Consortium {
    pub fn new() -> Self {
        let producer = Party::new("Finca La Esperanza", 1);
        let processor = Party::new("Tostadores del Valle", 2);
        let carrier = Party::new("Naviera Pacifico", 3);
        let retailer = Party::new("Kaffeehaus Berlin", 4);
        let validator = Party::new("Validator One", 100);
        let member = |p: &Party, role: Role| MemberSpec {
            name: p.name.to_string(),
            public_key: p.pk,
            roles: vec![role],
            country: None,
            gs1_company_prefixes: Vec::new(),
        };
        let genesis = Genesis {
            chain_name: "waybill-node-tests".into(),
            members: vec![
                member(&producer, Role::Producer),
                member(&processor, Role::Processor),
                member(&carrier, Role::Carrier),
                member(&retailer, Role::Retailer),
            ],
            validators: vec![ValidatorSpec {
                name: validator.name.to_string(),
                public_key: validator.pk,
                power: 1,
                p2p: Vec::new(),
            }],
            consensus: Default::default(),
            governance: Default::default(),
        };
        genesis.validate().expect("the test genesis is valid");
        Consortium {
            chain_id: genesis.chain_id(),
            genesis,
            producer,
            processor,
            carrier,
            retailer,
            validator,
        }
    }
}

impl Consortium {
    /// The same consortium with another `max_block_entries`.
    pub fn with_max_block_entries(n: u32) -> Self {
        let mut c = Consortium::new();
        c.genesis.consensus.max_block_entries = n;
        c.chain_id = c.genesis.chain_id();
        c
    }
}

pub fn lot(s: &str) -> LotId {
    s.parse().expect("a valid lot id")
}

pub fn shipment(s: &str) -> ShipmentId {
    s.parse().expect("a valid shipment id")
}

/// Signs entries, giving each author its next nonce.
#[derive(Debug, Clone)]
pub struct Signer {
    pub chain_id: ChainId,
    pub nonces: BTreeMap<PublicKey, u64>,
}

impl Signer {
    pub fn new(c: &Consortium) -> Self {
        Signer {
            chain_id: c.chain_id,
            nonces: BTreeMap::new(),
        }
    }

    pub fn sign_with_nonce(&self, who: &Party, nonce: u64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.chain_id,
            author: who.pk,
            nonce,
            recorded_at_ms: T0,
            body,
        }
        .sign(&who.key)
    }

    pub fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        let n = self.nonces.entry(who.pk).or_insert(0);
        *n += 1;
        let nonce = *n;
        self.sign_with_nonce(who, nonce, body)
    }

    pub fn produce(
        &mut self,
        who: &Party,
        l: &LotId,
        milli: u64,
        inputs: &[(LotId, u64)],
    ) -> SignedEntry {
        self.sign(who, produce_body(l, milli, inputs))
    }

    pub fn dispatch(
        &mut self,
        who: &Party,
        s: &ShipmentId,
        lots: &[LotId],
        to: &Party,
    ) -> SignedEntry {
        self.sign(who, dispatch_body(s, lots, &to.pk))
    }

    pub fn receive(&mut self, who: &Party, s: &ShipmentId) -> SignedEntry {
        self.sign(
            who,
            Body::Receive(Receive {
                shipment: s.clone(),
                at: Location::default(),
                documents: Vec::new(),
            }),
        )
    }
}

pub fn produce_body(l: &LotId, milli: u64, inputs: &[(LotId, u64)]) -> Body {
    Body::Produce(Produce {
        lot: l.clone(),
        product: Product {
            gtin: l.gtin(),
            id: None,
            description: format!("coffee {l}"),
        },
        quantity: Quantity {
            value: Decimal3::from_milli(milli),
            unit: UnitCode::Kgm,
        },
        origin: Location {
            country: Some("CO".parse().expect("country")),
            name: Some("Huila".into()),
            ..Location::default()
        },
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: inputs
            .iter()
            .map(|(l, q)| Input {
                lot: l.clone(),
                quantity: Decimal3::from_milli(*q),
            })
            .collect(),
    })
}

pub fn dispatch_body(s: &ShipmentId, lots: &[LotId], consignee: &PublicKey) -> Body {
    Body::Dispatch(Dispatch {
        shipment: s.clone(),
        lots: lots.to_vec(),
        consignee: *consignee,
        carrier: None,
        from: Location {
            name: Some("Buenaventura".into()),
            ..Location::default()
        },
        to: Location {
            name: Some("Hamburg".into()),
            ..Location::default()
        },
        documents: Vec::new(),
    })
}

/// A node serving the API on loopback.
pub struct TestNode<B: Backend + 'static = MemBackend> {
    pub c: Consortium,
    pub shared: Arc<Shared<B>>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// What the API handed to gossip, one request's entries at a time.
    gossip: mpsc::Receiver<Vec<EncodedEntry>>,
}

/// The largest request body the test node accepts.
pub const MAX_BODY: usize = 256 * 1024;

impl TestNode<MemBackend> {
    /// Over an in-memory ledger.
    pub async fn start(limits: Limits) -> Self {
        let c = Consortium::new();
        let ledger =
            Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create the ledger");
        TestNode::serve(c, ledger, limits).await
    }
}

impl TestNode<SledBackend> {
    /// Over a sled ledger directory made in `dir`.
    pub async fn start_sled(dir: &std::path::Path, limits: Limits) -> Self {
        let c = Consortium::new();
        let ledger =
            waybill_store::create_dir(dir, c.genesis.clone()).expect("create the ledger dir");
        TestNode::serve(c, ledger, limits).await
    }
}

impl<B: Backend + 'static> TestNode<B> {
    pub async fn serve(c: Consortium, ledger: Ledger<B>, limits: Limits) -> Self {
        let shared = Arc::new(Shared::new(ledger, limits));
        let (tx, gossip) = mpsc::channel(64);
        let app = api::router(
            Arc::clone(&shared),
            api::ApiOptions {
                max_body_bytes: MAX_BODY,
                gossip: Some(tx),
                net: None,
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
            client: reqwest::Client::new(),
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET → (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} with non-JSON ({e}): {text}"));
        (status, json)
    }

    /// GET → (status, content type, text).
    pub async fn get_text(&self, path: &str) -> (u16, String, String) {
        let r = self.client.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ct, r.text().await.expect("body"))
    }

    /// POST raw bytes with a content type → (status, JSON body).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.expect("POST");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
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
    pub async fn commit(&self, max: usize) -> Committed {
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
    pub async fn commit_entries(&self, entries: Vec<SignedEntry>) -> Committed {
        let shared = Arc::clone(&self.shared);
        let proposer = self.c.validator.pk;
        tokio::task::spawn_blocking(move || {
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
}

/// A GTIN-14 with a correct check digit, built from `n`.
pub fn gtin(n: u64) -> waybill_core::gs1::Gtin {
    let body = format!("0950600{:06}", n % 1_000_000);
    let check = waybill_core::gs1::gs1_check_digit(&body).expect("digits");
    format!("{body}{check}").parse().expect("a valid GTIN")
}

/// Percent-encodes everything but unreserved characters, for a path segment.
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
