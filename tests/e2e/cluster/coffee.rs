//! Helpers for the multi-process cluster tests (`cluster.rs`): the
//! coffee story's consortium (`waybill_testkit::coffee`) as `testnet`
//! members, signing entries with the member keys `testnet::generate`
//! wrote, and JSON requests through `waybill_testnet`'s loopback HTTP
//! client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{
    Body, Entry, Input, Produce, Product, Quantity, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::ChainId;
use waybill_core::gs1::LotId;
use waybill_testkit::coffee::{self, Step, Story, Teller};
use waybill_testnet::{MemberDef, Request, Testnet};

pub use waybill_testkit::coffee::step;
pub use waybill_testkit::ids::{lot, place, uetr};

/// The coffee consortium as `testnet` member definitions (keys are filled
/// in by `testnet::generate`).
pub fn members() -> Vec<MemberDef> {
    coffee::MEMBERS
        .iter()
        .map(|m| MemberDef {
            stem: m.stem.to_string(),
            spec: m.spec(PublicKey([0; 32])).unwrap_or_else(|e| panic!("{e}")),
        })
        .collect()
}

/// The member's name in genesis.
pub fn name_of(stem: &str) -> &'static str {
    coffee::member(stem).unwrap_or_else(|e| panic!("{e}")).name
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The coffee story told now, about the green lot with batch
/// `green_batch`, with the members' keys in `s`.
pub fn coffee_story(s: &Signers, green_batch: &str) -> Story {
    let key_of = |stem: &str| s.keys.get(stem).map(crypto::public_key);
    Story::tell(&Teller {
        t0_ms: now_ms(),
        green_batch,
        payment_id: uetr(0x5eed_0001),
        salt_seed: [0x5e; 32],
        key_of: &key_of,
    })
    .unwrap_or_else(|e| panic!("the coffee story: {e}"))
}

/// The member keys of a generated network, and each author's last nonce.
pub struct Signers {
    pub chain_id: ChainId,
    pub keys: BTreeMap<String, SigningKey>,
    pub nonces: BTreeMap<String, u64>,
}

impl Signers {
    /// Reads `net.member_keys` (plaintext PEM, as `testnet` writes them).
    pub fn load(net: &Testnet) -> Self {
        let keys = net
            .member_keys
            .iter()
            .map(|(stem, path)| {
                let pem = std::fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let key = waybill_keys::from_pem(&pem, || {
                    Err(waybill_keys::KeyError::PassphraseRequired)
                })
                .unwrap_or_else(|e| panic!("cannot read key {}: {e}", path.display()));
                (stem.clone(), key)
            })
            .collect();
        Signers {
            chain_id: net.genesis.chain_id(),
            keys,
            nonces: BTreeMap::new(),
        }
    }

    /// The member's public key.
    pub fn pk(&self, stem: &str) -> PublicKey {
        crypto::public_key(self.key(stem))
    }

    fn key(&self, stem: &str) -> &SigningKey {
        self.keys
            .get(stem)
            .unwrap_or_else(|| panic!("no key for member `{stem}`"))
    }

    /// The author's next nonce (not taken).
    pub fn next_nonce(&self, stem: &str) -> u64 {
        self.nonces.get(stem).copied().unwrap_or(0) + 1
    }

    /// Signs `body` as `stem` with an explicit nonce (the counter is not
    /// moved: for entries meant to be refused), recorded now.
    pub fn sign_with_nonce(&self, stem: &str, nonce: u64, body: Body) -> SignedEntry {
        self.sign_at(stem, nonce, now_ms(), body)
    }

    fn sign_at(&self, stem: &str, nonce: u64, at_ms: i64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.chain_id,
            author: self.pk(stem),
            nonce,
            recorded_at_ms: at_ms,
            body,
        }
        .sign(self.key(stem))
    }

    /// Signs a step of the coffee story with its author's next nonce, at
    /// the step's time.
    pub fn sign_step(&mut self, step: &Step) -> SignedEntry {
        let nonce = self.next_nonce(step.who);
        self.nonces.insert(step.who.to_string(), nonce);
        self.sign_at(step.who, nonce, step.at_ms, step.body.clone())
    }

    /// Adds `stem`'s co-signature to `e`.
    pub fn cosign(&self, stem: &str, e: &mut SignedEntry) {
        e.cosign(self.key(stem));
    }

    /// Signs `body` as `stem` with its next nonce.
    pub fn sign(&mut self, stem: &str, body: Body) -> SignedEntry {
        let nonce = self.next_nonce(stem);
        self.nonces.insert(stem.to_string(), nonce);
        self.sign_with_nonce(stem, nonce, body)
    }
}

/// A production of `kg` kilograms of `lot` in Huila, now, from `inputs`
/// (lot, kg used): what the cluster tests record besides the story.
pub fn produce(lot: &LotId, description: &str, kg: u64, inputs: &[(&LotId, u64)]) -> Body {
    Body::Produce(Produce {
        lot: lot.clone(),
        product: Product {
            gtin: lot.gtin(),
            id: None,
            description: description.into(),
        },
        quantity: Quantity {
            value: Decimal3::from_milli(kg * 1000),
            unit: UnitCode::Kgm,
        },
        origin: place("Huila", "CO"),
        produced_at_ms: now_ms(),
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: inputs
            .iter()
            .map(|(l, kg)| Input {
                lot: (*l).clone(),
                quantity: Decimal3::from_milli(kg * 1000),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------
// HTTP

/// One request, closed after the answer: (status, body text).
pub fn request(addr: SocketAddr, req: &Request, timeout: Duration) -> (u16, String) {
    let r = waybill_testnet::request(addr, req, timeout)
        .unwrap_or_else(|e| panic!("the request failed: {e}"));
    (r.status, r.text())
}

/// GET → (status, JSON), panicking with a clear message when the node does
/// not answer or answers with something else than JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (code, text) = request(addr, &Request::get(path), Duration::from_secs(10));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("GET {path} on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}

/// POSTs a signed entry as JSON to `/v1/entries` → (status, JSON).
pub fn post_entry(addr: SocketAddr, e: &SignedEntry) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(e).expect("entry JSON");
    let req = Request::post_json("/v1/entries", &body);
    let (code, text) = request(addr, &req, Duration::from_secs(10));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("POST /v1/entries on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}

/// POSTs signed entries as a JSON array to `/v1/entries/batch` → (status, JSON).
pub fn post_batch(addr: SocketAddr, entries: &[SignedEntry]) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(entries).expect("batch JSON");
    let req = Request::post_json("/v1/entries/batch", &body);
    let (code, text) = request(addr, &req, Duration::from_secs(10));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("POST /v1/entries/batch on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}
