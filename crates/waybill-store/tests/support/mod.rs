//! Shared fixtures for the store's integration tests: a deterministic
//! consortium, entry builders that keep nonces right, and a workload
//! generator that yields long runs of valid entries (many lots, multi-hop
//! custody, processing into new lots, rejections and payments).
//!
//! Every test crate uses a different part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use waybill_core::block::{precommit_bytes, CommitCertificate, CommitSignature, Header};
use waybill_core::codes::{Country, Currency, Decimal3, FxRate, HsCode, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, Domain, PublicKey};
use waybill_core::entry::{
    Body, Customs, Dispatch, Entry, Input, Location, Payment, PaymentMethod, PaymentStatus,
    Produce, Product, Quantity, Receive, Reject, Settlement, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{
    ChainId, ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::{gs1_check_digit, Gtin, LotId, ShipmentId};
use waybill_core::rules;
use waybill_core::state::{LotStatus, ShipmentStage, State};
use waybill_core::trail::{self, Policy, Trail};
use waybill_store::{open_dir, Backend, DataDir, Ledger, StoreError};

/// Block times start here (2023-11-14).
pub const T0: i64 = 1_700_000_000_000;

/// One member (or the validator): a name and a deterministic key.
#[derive(Debug, Clone)]
pub struct Party {
    /// Organisation name in genesis.
    pub name: &'static str,
    /// Its signing key.
    pub key: SigningKey,
    /// Its public key.
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

/// A consortium: one member per role (except distributor) and one validator.
#[derive(Debug, Clone)]
pub struct Consortium {
    /// The genesis.
    pub genesis: Genesis,
    /// Its chain id.
    pub chain_id: ChainId,
    /// Role `producer`.
    pub producer: Party,
    /// Role `processor`.
    pub processor: Party,
    /// Role `carrier`.
    pub carrier: Party,
    /// Role `retailer`.
    pub retailer: Party,
    /// Role `payer`.
    pub payer: Party,
    /// Role `auditor`.
    pub auditor: Party,
    /// Role `admin`.
    pub admin: Party,
    /// The only validator (proposes every block).
    pub validator: Party,
}

impl Default for Consortium {
    fn default() -> Self {
        Self::new()
    }
}

impl Consortium {
    /// The same consortium every time.
    pub fn new() -> Self {
        let producer = Party::new("Finca La Esperanza", 1);
        let processor = Party::new("Tostadores del Valle", 2);
        let carrier = Party::new("Naviera Pacifico", 3);
        let retailer = Party::new("Kaffeehaus Berlin", 4);
        let payer = Party::new("Banco de Bogota", 5);
        let auditor = Party::new("Fairtrade Audit", 6);
        let admin = Party::new("Consortium Office", 7);
        let validator = Party::new("Validator One", 100);
        let member = |p: &Party, role: Role, country: &str| MemberSpec {
            name: p.name.to_string(),
            public_key: p.pk,
            roles: vec![role],
            country: Some(country.parse::<Country>().expect("country")),
            gs1_company_prefixes: Vec::new(),
        };
        let genesis = Genesis {
            chain_name: "waybill-store-tests".into(),
            members: vec![
                member(&producer, Role::Producer, "CO"),
                member(&processor, Role::Processor, "CO"),
                member(&carrier, Role::Carrier, "PA"),
                member(&retailer, Role::Retailer, "DE"),
                member(&payer, Role::Payer, "CO"),
                member(&auditor, Role::Auditor, "NL"),
                member(&admin, Role::Admin, "CH"),
            ],
            validators: vec![ValidatorSpec {
                name: validator.name.to_string(),
                public_key: validator.pk,
                power: 1,
                p2p: Vec::new(),
            }],
            consensus: ConsensusParams::default(),
            governance: Governance::default(),
        };
        genesis.validate().expect("the test genesis is valid");
        Consortium {
            chain_id: genesis.chain_id(),
            genesis,
            producer,
            processor,
            carrier,
            retailer,
            payer,
            auditor,
            admin,
            validator,
        }
    }

    /// The members that may hold goods.
    pub fn handlers(&self) -> [&Party; 4] {
        [
            &self.producer,
            &self.processor,
            &self.carrier,
            &self.retailer,
        ]
    }

    /// Every member.
    pub fn members(&self) -> [&Party; 7] {
        [
            &self.producer,
            &self.processor,
            &self.carrier,
            &self.retailer,
            &self.payer,
            &self.auditor,
            &self.admin,
        ]
    }

    /// The member with this key.
    pub fn party(&self, pk: &PublicKey) -> &Party {
        self.members()
            .into_iter()
            .find(|p| &p.pk == pk)
            .expect("a member of the test consortium")
    }
}

// ---------------------------------------------------------------------------
// Ids

/// A lot id from text (free id or GS1 element string).
pub fn lot(s: &str) -> LotId {
    s.parse().expect("a valid lot id")
}

/// A shipment id from text.
pub fn shipment(s: &str) -> ShipmentId {
    s.parse().expect("a valid shipment id")
}

/// A GTIN-14 with a correct check digit, built from `n`.
pub fn gtin(n: u64) -> Gtin {
    let body = format!("0950600{:06}", n % 1_000_000);
    let check = gs1_check_digit(&body).expect("digits");
    format!("{body}{check}").parse().expect("a valid GTIN")
}

/// An SSCC shipment id with a correct check digit, built from `n`.
pub fn sscc_shipment(n: u64) -> ShipmentId {
    let body = format!("0950600{:010}", n % 10_000_000_000);
    let check = gs1_check_digit(&body).expect("digits");
    shipment(&format!("(00){body}{check}"))
}

/// A version 4 UETR from 128 random bits.
pub fn uetr(bits: u128) -> Uetr {
    let v = (bits & !(0xF << 76)) | (0x4 << 76);
    let v = (v & !(0x3 << 62)) | (0x2 << 62);
    format!("{v:032x}").parse().expect("a v4 UUID")
}

// ---------------------------------------------------------------------------
// Bodies

/// A production body: `milli` thousandths of a kilogram, consuming `inputs`.
pub fn produce_body(lot: &LotId, milli: u64, inputs: &[(LotId, u64)]) -> Body {
    Body::Produce(Produce {
        lot: lot.clone(),
        product: Product {
            gtin: lot.gtin(),
            id: None,
            description: format!("coffee {lot}"),
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

/// A dispatch body.
pub fn dispatch_body(
    shipment: &ShipmentId,
    lots: &[LotId],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots: lots.to_vec(),
        consignee: *consignee,
        carrier: carrier.copied(),
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

/// A receive body.
pub fn receive_body(shipment: &ShipmentId) -> Body {
    Body::Receive(Receive {
        shipment: shipment.clone(),
        at: Location::default(),
        documents: Vec::new(),
    })
}

/// A reject body.
pub fn reject_body(shipment: &ShipmentId) -> Body {
    Body::Reject(Reject {
        shipment: shipment.clone(),
        reason: "damaged in transit".into(),
    })
}

/// A payment body (the payer is the author).
pub fn payment_body(
    payment_id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[ShipmentId],
    converted: bool,
) -> Body {
    Body::Payment(Payment {
        payment_id,
        payer: *payer,
        payee: *payee,
        amount_minor,
        currency: "USD".parse::<Currency>().expect("currency"),
        settlement: converted.then(|| Settlement {
            amount_minor: amount_minor.saturating_mul(4),
            currency: "COP".parse().expect("currency"),
            fx_rate: FxRate::from_nano(4_000_000_000_000).expect("rate"),
        }),
        incoterm: Incoterm::Fob,
        shipments: shipments.to_vec(),
        customs: Some(Customs {
            hs_codes: vec!["0901.21".parse::<HsCode>().expect("HS code")],
            declaration_sha256: None,
        }),
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    })
}

// ---------------------------------------------------------------------------
// Signing with the right nonces

/// Signs entries for the consortium, giving each author its next nonce.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The chain.
    pub chain_id: ChainId,
    /// Last nonce used per author.
    pub nonces: BTreeMap<PublicKey, u64>,
}

impl Signer {
    /// A signer for a fresh chain.
    pub fn new(c: &Consortium) -> Self {
        Signer {
            chain_id: c.chain_id,
            nonces: BTreeMap::new(),
        }
    }

    /// A signer continuing from a committed state's nonces.
    pub fn from_state(state: &State) -> Self {
        Signer {
            chain_id: state.chain_id,
            nonces: state.nonces.clone(),
        }
    }

    /// Forgets nonces used since `state` (after a rejected block).
    pub fn reset(&mut self, state: &State) {
        self.nonces = state.nonces.clone();
    }

    /// Takes `who`'s next nonce.
    pub fn next_nonce(&mut self, who: &PublicKey) -> u64 {
        let n = self.nonces.entry(*who).or_insert(0);
        *n += 1;
        *n
    }

    /// Signs `body` by `who` with an explicit nonce (does not advance).
    pub fn sign_with_nonce(&self, who: &Party, nonce: u64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.chain_id,
            author: who.pk,
            nonce,
            recorded_at_ms: T0 + i64::try_from(nonce).unwrap_or(0),
            body,
        }
        .sign(&who.key)
    }

    /// Signs `body` by `who` with its next nonce.
    pub fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        let nonce = self.next_nonce(&who.pk);
        self.sign_with_nonce(who, nonce, body)
    }

    /// `who` produces `lot` (kg × 1000), consuming `inputs`.
    pub fn produce(
        &mut self,
        who: &Party,
        lot: &LotId,
        milli: u64,
        inputs: &[(LotId, u64)],
    ) -> SignedEntry {
        self.sign(who, produce_body(lot, milli, inputs))
    }

    /// `who` dispatches `lots` to `consignee`.
    pub fn dispatch(
        &mut self,
        who: &Party,
        shipment: &ShipmentId,
        lots: &[LotId],
        consignee: &Party,
        carrier: Option<&Party>,
    ) -> SignedEntry {
        self.sign(
            who,
            dispatch_body(shipment, lots, &consignee.pk, carrier.map(|c| &c.pk)),
        )
    }

    /// `who` receives `shipment`.
    pub fn receive(&mut self, who: &Party, shipment: &ShipmentId) -> SignedEntry {
        self.sign(who, receive_body(shipment))
    }

    /// `who` rejects `shipment`.
    pub fn reject(&mut self, who: &Party, shipment: &ShipmentId) -> SignedEntry {
        self.sign(who, reject_body(shipment))
    }

    /// `who` (a payer) pays `payee` for `shipments`.
    pub fn payment(
        &mut self,
        who: &Party,
        payment_id: Uetr,
        payee: &Party,
        amount_minor: u64,
        shipments: &[ShipmentId],
    ) -> SignedEntry {
        self.sign(
            who,
            payment_body(
                payment_id,
                &who.pk,
                &payee.pk,
                amount_minor,
                shipments,
                false,
            ),
        )
    }
}

// ---------------------------------------------------------------------------
// Workload

/// Yields valid entries forever, tracking the state they lead to.
///
/// Every entry is checked with `rules::apply` against the generator's own
/// state before it is handed out, so any prefix of the sequence, split
/// into blocks in any way, is a valid chain.
pub struct Workload<'c> {
    c: &'c Consortium,
    signer: Signer,
    state: State,
    rng: ChaCha8Rng,
    prefix: String,
    counter: u64,
    held: BTreeMap<PublicKey, BTreeSet<LotId>>,
    open: BTreeSet<ShipmentId>,
    shipments: Vec<ShipmentId>,
}

impl<'c> Workload<'c> {
    /// A workload on a fresh chain.
    pub fn new(c: &'c Consortium, seed: u64) -> Self {
        Self::resume(c, &State::genesis(&c.genesis), seed, &format!("w{seed}-"))
    }

    /// A workload continuing from a committed state. `prefix` starts every
    /// new lot and shipment id (ids already in `state` are skipped anyway).
    pub fn resume(c: &'c Consortium, state: &State, seed: u64, prefix: &str) -> Self {
        let mut held: BTreeMap<PublicKey, BTreeSet<LotId>> = BTreeMap::new();
        for (id, l) in &state.lots {
            if l.status == LotStatus::Held {
                held.entry(l.custodian).or_default().insert(id.clone());
            }
        }
        Workload {
            c,
            signer: Signer::from_state(state),
            state: state.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            prefix: prefix.to_string(),
            counter: 0,
            held,
            open: state
                .shipments
                .iter()
                .filter(|(_, s)| s.stage.open())
                .map(|(id, _)| id.clone())
                .collect(),
            shipments: state.shipments.keys().cloned().collect(),
        }
    }

    /// The state after every entry handed out so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The next `n` entries.
    pub fn take(&mut self, n: usize) -> Vec<SignedEntry> {
        (0..n).map(|_| self.next_entry()).collect()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items[i].clone()
    }

    fn pick_set<T: Clone + Ord>(&mut self, set: &BTreeSet<T>) -> T {
        let i = self.below(set.len() as u64) as usize;
        set.iter().nth(i).cloned().expect("non-empty set")
    }

    fn fresh_lot(&mut self) -> LotId {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(3) {
                LotId::batch(gtin(n), &format!("{}{n}", self.short_prefix()))
                    .expect("a valid batch id")
            } else {
                lot(&format!("{}L{n}", self.prefix))
            };
            if !self.state.lots.contains_key(&id) {
                return id;
            }
        }
    }

    fn fresh_shipment(&mut self) -> ShipmentId {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(5) {
                sscc_shipment(self.rng.next_u64())
            } else {
                shipment(&format!("{}S{n}", self.prefix))
            };
            if !self.state.shipments.contains_key(&id) {
                return id;
            }
        }
    }

    /// Eight hex digits standing for the prefix (GS1 lot values are short).
    fn short_prefix(&self) -> String {
        let h = self.prefix.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!("{h:08x}")
    }

    fn holders(&self) -> Vec<Party> {
        self.c
            .handlers()
            .into_iter()
            .filter(|p| self.held.get(&p.pk).is_some_and(|s| !s.is_empty()))
            .cloned()
            .collect()
    }

    /// The next valid entry.
    pub fn next_entry(&mut self) -> SignedEntry {
        loop {
            let roll = self.below(100);
            let entry = match roll {
                0..=17 => Some(self.raw_production()),
                18..=32 => self.processing(),
                33..=57 => self.dispatch(),
                58..=86 => self.receive(false),
                87..=89 => self.receive(true),
                _ => self.payment(),
            };
            if let Some(e) = entry {
                self.apply(&e);
                return e;
            }
        }
    }

    fn raw_production(&mut self) -> SignedEntry {
        let lot = self.fresh_lot();
        let milli = 1_000 + self.below(100_000);
        let who = self.c.producer.clone();
        self.signer.produce(&who, &lot, milli, &[])
    }

    fn processing(&mut self) -> Option<SignedEntry> {
        // Mostly the processor; sometimes a producer blending its own lots.
        let who = if self.chance(85) {
            self.c.processor.clone()
        } else {
            self.c.producer.clone()
        };
        let held = self.held.get(&who.pk).cloned().unwrap_or_default();
        if held.is_empty() {
            return None;
        }
        let want = 1 + self.below(2.min(held.len() as u64)) as usize;
        let mut inputs: Vec<(LotId, u64)> = Vec::new();
        while inputs.len() < want {
            let l = self.pick_set(&held);
            if inputs.iter().any(|(x, _)| x == &l) {
                continue;
            }
            let left = self.state.lots[&l].remaining.milli();
            let q = if self.chance(50) {
                left
            } else {
                1 + self.below(left)
            };
            inputs.push((l, q));
        }
        let lot = self.fresh_lot();
        let milli = 500 + self.below(50_000);
        Some(self.signer.produce(&who, &lot, milli, &inputs))
    }

    fn dispatch(&mut self) -> Option<SignedEntry> {
        let holders = self.holders();
        if holders.is_empty() {
            return None;
        }
        let who = self.pick(&holders);
        let held = self.held[&who.pk].clone();
        let n = 1 + self.below(3.min(held.len() as u64)) as usize;
        let mut lots: Vec<LotId> = Vec::new();
        while lots.len() < n {
            let l = self.pick_set(&held);
            if !lots.contains(&l) {
                lots.push(l);
            }
        }
        let c = self.c;
        let consignee = if who.pk == c.producer.pk && self.chance(70) {
            c.processor.clone()
        } else if who.pk == c.processor.pk && self.chance(60) {
            c.retailer.clone()
        } else {
            let others: Vec<Party> = c
                .handlers()
                .into_iter()
                .filter(|p| p.pk != who.pk)
                .cloned()
                .collect();
            self.pick(&others)
        };
        let carrier = (who.pk != c.carrier.pk && consignee.pk != c.carrier.pk && self.chance(60))
            .then(|| c.carrier.clone());
        let id = self.fresh_shipment();
        Some(
            self.signer
                .dispatch(&who, &id, &lots, &consignee, carrier.as_ref()),
        )
    }

    fn receive(&mut self, reject: bool) -> Option<SignedEntry> {
        if self.open.is_empty() {
            return None;
        }
        let open = self.open.clone();
        let id = self.pick_set(&open);
        let s = self.state.shipments[&id].clone();
        let who = match s.carrier {
            Some(carrier) if s.stage == ShipmentStage::Dispatched && self.chance(60) => carrier,
            _ => s.consignee,
        };
        let who = self.c.party(&who).clone();
        Some(if reject {
            self.signer.reject(&who, &id)
        } else {
            self.signer.receive(&who, &id)
        })
    }

    fn payment(&mut self) -> Option<SignedEntry> {
        if self.shipments.is_empty() {
            return None;
        }
        let mut paid = vec![self.pick(&self.shipments.clone())];
        if self.chance(30) {
            let s = self.pick(&self.shipments.clone());
            if !paid.contains(&s) {
                paid.push(s);
            }
        }
        let payee = self.pick(&self.c.handlers().map(Party::clone));
        let id = loop {
            let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
            let id = uetr(bits);
            if !self.state.payments.contains_key(&id) {
                break id;
            }
        };
        let amount = 1 + self.below(5_000_000);
        let converted = self.chance(40);
        let payer = self.c.payer.clone();
        Some(self.signer.sign(
            &payer,
            payment_body(id, &payer.pk, &payee.pk, amount, &paid, converted),
        ))
    }

    fn apply(&mut self, e: &SignedEntry) {
        let changes = rules::apply(&self.state, e, e.id(), 1)
            .unwrap_or_else(|err| panic!("the workload made an invalid entry: {err}"));
        for (id, l) in &changes.lots {
            if let Some(old) = self.state.lots.get(id) {
                if let Some(set) = self.held.get_mut(&old.custodian) {
                    set.remove(id);
                }
            }
            if l.status == LotStatus::Held {
                self.held.entry(l.custodian).or_default().insert(id.clone());
            }
        }
        for (id, s) in &changes.shipments {
            if !self.state.shipments.contains_key(id) {
                self.shipments.push(id.clone());
            }
            if s.stage.open() {
                self.open.insert(id.clone());
            } else {
                self.open.remove(id);
            }
        }
        self.state.commit(changes);
    }
}

/// `count` valid entries from `seed`, on a fresh chain.
pub fn workload(c: &Consortium, seed: u64, count: usize) -> Vec<SignedEntry> {
    Workload::new(c, seed).take(count)
}

// ---------------------------------------------------------------------------
// Ledger helpers

/// Appends `entries` as blocks of `block_size`, one second apart, proposed
/// by the validator. Returns the (height, index) of every entry.
pub fn append_in_blocks<B: Backend>(
    c: &Consortium,
    ledger: &mut Ledger<B>,
    entries: &[SignedEntry],
    block_size: usize,
) -> Vec<(u64, u32)> {
    let mut out = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(block_size.max(1)) {
        let header = append_block(c, ledger, chunk.to_vec());
        out.extend((0..chunk.len()).map(|i| (header.height, i as u32)));
    }
    out
}

/// Appends one block at the next block time.
pub fn append_block<B: Backend>(
    c: &Consortium,
    ledger: &mut Ledger<B>,
    entries: Vec<SignedEntry>,
) -> Header {
    let time = next_time(ledger);
    ledger
        .append_entries(entries, time, c.validator.pk)
        .unwrap_or_else(|e| panic!("appending block {}: {e}", ledger.height() + 1))
}

/// One second after the tip (or `T0`).
pub fn next_time<B: Backend>(ledger: &Ledger<B>) -> i64 {
    ledger.tip().map_or(T0, |t| t.time_ms + 1_000)
}

/// Every key and value in the backend, in key order.
pub fn dump<B: Backend>(ledger: &Ledger<B>) -> Vec<(Vec<u8>, Vec<u8>)> {
    ledger.backend().scan_prefix(&[]).expect("scan the store")
}

/// Every file under `dir` (relative path, contents; directories as `None`),
/// to show that an operation left a directory alone.
pub fn listing(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("dir entry");
            let path = e.path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if e.file_type().expect("file type").is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Reopening sled

/// Whether `e` is sled's "could not acquire lock" on open.
pub fn is_lock_contention(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains("could not acquire lock"))
}

/// `open_dir`, waiting out sled 0.34's lock release after a drop.
///
/// Dropping a `sled::Db` does not wait for its background threads, which
/// hold the database's file lock a little longer, so an immediate reopen
/// in the same process can fail with "could not acquire lock"
/// (spacejam/sled#1234, #1289). Only that error is retried, for at most
/// five seconds; every other result is returned as is.
pub fn reopen(dir: &Path) -> Result<DataDir, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match open_dir(dir) {
            Err(e) if is_lock_contention(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// `sled::open`, with the same wait as [`reopen`].
pub fn sled_open(path: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.expect("open the raw sled database"),
        }
    }
}

// ---------------------------------------------------------------------------
// Trails

/// The lot of a trail and its ancestors, found as the verifier finds them
/// (from the production entries in the trail).
pub fn trail_scope(t: &Trail) -> BTreeSet<LotId> {
    let produced: BTreeMap<&LotId, &Produce> = t
        .items
        .iter()
        .filter_map(|i| match &i.entry.entry.body {
            Body::Produce(p) => Some((&p.lot, p)),
            _ => None,
        })
        .collect();
    let mut scope = BTreeSet::new();
    let mut todo = vec![t.lot.clone()];
    while let Some(l) = todo.pop() {
        if scope.insert(l.clone()) {
            if let Some(p) = produced.get(&l) {
                todo.extend(p.inputs.iter().map(|i| i.lot.clone()));
            }
        }
    }
    scope
}

/// Verifies a trail against the genesis; panics on any failure.
pub fn verify_trail(c: &Consortium, t: &Trail) {
    let policy = Policy {
        require_certificates: false,
    };
    match trail::verify(&c.genesis, t, policy) {
        Ok(report) => {
            assert_eq!(report.lot, t.lot);
            assert_eq!(report.origins.first().map(|o| &o.lot), Some(&t.lot));
        }
        Err(e) => panic!("the trail of {} does not verify: {e}", t.lot),
    }
}

// ---------------------------------------------------------------------------
// Certificates

/// A commit certificate for `header` signed by the consortium's validator
/// (all of the voting power).
pub fn certify(c: &Consortium, header: &Header) -> CommitCertificate {
    certify_with(&c.validator, header)
}

/// A commit certificate for `header` signed by `signer` as if a validator.
pub fn certify_with(signer: &Party, header: &Header) -> CommitCertificate {
    let hash = header.hash();
    let bytes = precommit_bytes(&header.chain_id, header.height, 0, &hash, &signer.pk);
    CommitCertificate {
        height: header.height,
        round: 0,
        block_hash: hash,
        signatures: vec![CommitSignature {
            validator: signer.pk,
            signature: crypto::sign(&signer.key, Domain::Vote, &bytes),
        }],
    }
}
