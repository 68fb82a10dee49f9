//! Helpers for the multi-process cluster tests (`tests/cluster.rs`): the
//! coffee consortium as `testnet` members, signing entries with the member
//! keys `testnet::generate` wrote, entry bodies (after
//! crates/waybill-core/tests/support), and a tiny blocking HTTP client over
//! `std::net::TcpStream` (plain HTTP/1.1 on loopback).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use waybill_core::codes::{Currency, Decimal3, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{
    Body, Dispatch, Entry, Input, Location, Payment, PaymentMethod, PaymentStatus, Produce,
    Product, Quantity, Receive, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{ChainId, MemberSpec, Role};
use waybill_core::gs1::{gs1_check_digit, LotId, ShipmentId};
use waybill_node::testnet::{MemberDef, Testnet};

/// A member: (key file stem, name, roles, country, GS1 company prefix).
pub type MemberRow = (
    &'static str,
    &'static str,
    &'static [Role],
    &'static str,
    Option<&'static str>,
);

/// The coffee consortium.
pub const MEMBERS: &[MemberRow] = &[
    (
        "coop",
        "Cooperativa Cafetera del Huila",
        &[Role::Producer],
        "CO",
        Some("7709998"),
    ),
    (
        "roaster",
        "Hanseatic Coffee Roasters GmbH",
        &[Role::Processor],
        "DE",
        None,
    ),
    (
        "carrier",
        "Atlantic Ocean Lines",
        &[Role::Carrier],
        "DK",
        None,
    ),
    (
        "retailer",
        "Frischmarkt Retail AG",
        &[Role::Retailer],
        "DE",
        None,
    ),
    (
        "bank",
        "Banco del Pacifico Trade Finance",
        &[Role::Payer],
        "CO",
        None,
    ),
    (
        "auditor",
        "Kessler Supply Chain Audit",
        &[Role::Auditor],
        "CH",
        None,
    ),
];

/// [`MEMBERS`] as `testnet` member definitions (keys are filled in by
/// `testnet::generate`).
pub fn members() -> Vec<MemberDef> {
    MEMBERS
        .iter()
        .map(|(stem, name, roles, country, prefix)| MemberDef {
            stem: (*stem).to_string(),
            spec: MemberSpec {
                name: (*name).to_string(),
                public_key: PublicKey([0; 32]),
                roles: roles.to_vec(),
                country: Some(country.parse().expect("a country code")),
                gs1_company_prefixes: prefix
                    .iter()
                    .map(|p| p.parse().expect("a GS1 company prefix"))
                    .collect(),
            },
        })
        .collect()
}

/// The member's name in [`MEMBERS`].
pub fn name_of(stem: &str) -> &'static str {
    MEMBERS
        .iter()
        .find(|m| m.0 == stem)
        .map(|m| m.1)
        .unwrap_or_else(|| panic!("no member `{stem}`"))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
    /// moved: for entries meant to be refused).
    pub fn sign_with_nonce(&self, stem: &str, nonce: u64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.chain_id,
            author: self.pk(stem),
            nonce,
            recorded_at_ms: now_ms(),
            body,
        }
        .sign(self.key(stem))
    }

    /// Signs `body` as `stem` with its next nonce.
    pub fn sign(&mut self, stem: &str, body: Body) -> SignedEntry {
        let nonce = self.next_nonce(stem);
        self.nonces.insert(stem.to_string(), nonce);
        self.sign_with_nonce(stem, nonce, body)
    }
}

// ---------------------------------------------------------------------------
// Identifiers and bodies

/// A GS1 batch lot `(01)<gtin>(10)<lot>` whose GTIN-13 is `gtin12` plus its
/// check digit.
pub fn gs1_lot(gtin12: &str, lot: &str) -> LotId {
    let check = gs1_check_digit(gtin12).expect("digits");
    format!("(01)0{gtin12}{check}(10){lot}")
        .parse()
        .expect("a valid GS1 lot id")
}

pub fn lot(s: &str) -> LotId {
    s.parse().expect("a valid lot id")
}

pub fn ship(s: &str) -> ShipmentId {
    s.parse().expect("a valid shipment id")
}

/// A deterministic version-4 UETR numbered `n`.
pub fn uetr(n: u64) -> Uetr {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n >> 32,
        (n >> 16) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
    .parse()
    .expect("a valid UETR")
}

pub fn place(name: &str, country: &str) -> Location {
    Location {
        gln: None,
        country: Some(country.parse().expect("a country code")),
        name: Some(name.into()),
        geo: None,
    }
}

/// A production of `kg` kilograms of `lot`, from `inputs` (lot, kg used).
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

pub fn dispatch(
    shipment: &ShipmentId,
    lots: &[&LotId],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
    from: Location,
    to: Location,
) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots: lots.iter().map(|l| (*l).clone()).collect(),
        consignee: *consignee,
        carrier: carrier.copied(),
        from,
        to,
        documents: Vec::new(),
    })
}

pub fn receive(shipment: &ShipmentId, at: Location) -> Body {
    Body::Receive(Receive {
        shipment: shipment.clone(),
        at,
        documents: Vec::new(),
    })
}

pub fn payment(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    currency: &str,
    shipments: &[&ShipmentId],
) -> Body {
    Body::Payment(Payment {
        payment_id: id,
        payer: *payer,
        payee: *payee,
        amount_minor,
        currency: currency.parse::<Currency>().expect("a currency code"),
        settlement: None,
        incoterm: Incoterm::Fob,
        shipments: shipments.iter().map(|s| (*s).clone()).collect(),
        customs: None,
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    })
}

// ---------------------------------------------------------------------------
// HTTP

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

fn dechunk(mut body: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunked body");
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| bad())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// One HTTP/1.1 request (`Connection: close`): (status, body text).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    json_body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = json_body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(json_body.unwrap_or_default());
    s.write_all(&bytes)?;
    let mut buf = Vec::new();
    s.take(64 * 1024 * 1024).read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP header"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status"))?;
    let raw = &buf[split + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(raw)?
    } else {
        raw.to_vec()
    };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// GET → (status, JSON), panicking with a clear message when the node does
/// not answer or answers with something else than JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (code, text) = request(addr, "GET", path, None, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("GET {path} on {addr} failed: {e}"));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("GET {path} on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}

/// POSTs a signed entry as JSON to `/v1/entries` → (status, JSON).
pub fn post_entry(addr: SocketAddr, e: &SignedEntry) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(e).expect("entry JSON");
    let (code, text) = request(
        addr,
        "POST",
        "/v1/entries",
        Some(&body),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("POST /v1/entries on {addr} failed: {e}"));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("POST /v1/entries on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}

/// POSTs signed entries as a JSON array to `/v1/entries/batch` → (status, JSON).
pub fn post_batch(addr: SocketAddr, entries: &[SignedEntry]) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(entries).expect("batch JSON");
    let (code, text) = request(
        addr,
        "POST",
        "/v1/entries/batch",
        Some(&body),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("POST /v1/entries/batch on {addr} failed: {e}"));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("POST /v1/entries/batch on {addr} answered {code} with non-JSON ({e}): {text}")
    });
    (code, v)
}
