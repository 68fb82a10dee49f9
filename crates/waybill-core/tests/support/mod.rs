//! Shared helpers for waybill-core's integration tests: a deterministic
//! consortium (keys from fixed seeds), body builders for every entry kind,
//! a one-entry-per-height `Ledger` and a block-building `Chain`.
//!
//! Every test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use waybill_core::block::{self, Block, CommitCertificate, CommitSignature, Header};
use waybill_core::codes::{Currency, Decimal3, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, Domain, Hash32, PublicKey};
use waybill_core::entry::{
    Body, Dispatch, DocRef, Entry, Input, Location, MembershipChange, Payment, PaymentMethod,
    PaymentStatus, Produce, Product, Quantity, Receive, Reject, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{
    ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::merkle;
use waybill_core::rules::{self, RuleError};
use waybill_core::state::{Changes, State, View};
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};

/// A fixed base time (2023-11-14T22:13:20Z), so every entry is reproducible.
pub const T0: i64 = 1_700_000_000_000;

/// The signing key with 32 bytes of `seed`.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// One party: a member, a validator or an outsider.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub key: SigningKey,
    pub pk: PublicKey,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn new(name: &str, seed: u8, roles: &[Role]) -> Self {
        let key = key(seed);
        let pk = crypto::public_key(&key);
        Actor {
            name: name.to_owned(),
            key,
            pk,
            roles: roles.to_vec(),
        }
    }

    /// This actor's genesis member entry.
    pub fn spec(&self, country: &str) -> MemberSpec {
        MemberSpec {
            name: self.name.clone(),
            public_key: self.pk,
            roles: self.roles.clone(),
            country: Some(country.parse().unwrap()),
            gs1_company_prefixes: Vec::new(),
        }
    }
}

/// The GS1 company prefix owned by [`Consortium::brand`].
pub const BRAND_PREFIX: &str = "9506000";
/// A valid GTIN carrying [`BRAND_PREFIX`].
pub const BRAND_GTIN: &str = "09506000134352";
/// A valid GTIN that does not carry [`BRAND_PREFIX`].
pub const FOREIGN_GTIN: &str = "00000096385074";

/// A deterministic test consortium: one member per role, three admins, a
/// producer that declares a GS1 company prefix, four validators with
/// different voting power, and an outsider that is not a member.
#[derive(Debug, Clone)]
pub struct Consortium {
    pub genesis: Genesis,
    pub producer: Actor,
    pub processor: Actor,
    pub carrier: Actor,
    pub distributor: Actor,
    pub retailer: Actor,
    pub payer: Actor,
    pub auditor: Actor,
    pub admins: [Actor; 3],
    /// A producer with GS1 company prefix [`BRAND_PREFIX`].
    pub brand: Actor,
    /// Validators with power 40, 30, 20, 10 (total 100; more than 66 needed).
    pub validators: Vec<(Actor, u64)>,
    /// A key that is in neither the members nor the validators.
    pub outsider: Actor,
}

impl Default for Consortium {
    fn default() -> Self {
        Self::new()
    }
}

impl Consortium {
    pub fn new() -> Self {
        Self::named("waybill-test-consortium")
    }

    /// The same members under another chain name (hence another chain id).
    pub fn named(chain_name: &str) -> Self {
        use Role::*;
        let producer = Actor::new("Finca La Esperanza", 1, &[Producer]);
        let processor = Actor::new("Rösterei Hamburg", 2, &[Processor]);
        let carrier = Actor::new("Atlantic Freight", 3, &[Carrier]);
        let distributor = Actor::new("Nordic Distribution", 4, &[Distributor]);
        let retailer = Actor::new("Corner Café Shop", 5, &[Retailer]);
        let payer = Actor::new("Banco de Pagos", 6, &[Payer]);
        let auditor = Actor::new("Clear Audit", 7, &[Auditor]);
        let admins = [
            Actor::new("Consortium Admin A", 8, &[Admin]),
            Actor::new("Consortium Admin B", 9, &[Admin]),
            Actor::new("Consortium Admin C", 10, &[Admin]),
        ];
        let brand = Actor::new("Brand Foods", 11, &[Producer]);
        let validators = vec![
            (Actor::new("validator-1", 101, &[]), 40),
            (Actor::new("validator-2", 102, &[]), 30),
            (Actor::new("validator-3", 103, &[]), 20),
            (Actor::new("validator-4", 104, &[]), 10),
        ];
        let outsider = Actor::new("Outsider Ltd", 99, &[Producer]);

        let mut brand_spec = brand.spec("NL");
        brand_spec.gs1_company_prefixes = vec![BRAND_PREFIX.parse().unwrap()];
        let mut members = vec![
            producer.spec("CO"),
            processor.spec("DE"),
            carrier.spec("PA"),
            distributor.spec("SE"),
            retailer.spec("DE"),
            payer.spec("ES"),
            auditor.spec("CH"),
        ];
        members.extend(admins.iter().map(|a| a.spec("BE")));
        members.push(brand_spec);
        let genesis = Genesis {
            chain_name: chain_name.to_owned(),
            members,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, (v, power))| ValidatorSpec {
                    name: v.name.clone(),
                    public_key: v.pk,
                    power: *power,
                    p2p: vec![format!("/ip4/127.0.0.1/tcp/{}", 26656 + i)],
                })
                .collect(),
            consensus: ConsensusParams::default(),
            governance: Governance::default(),
        };
        genesis.validate().unwrap();
        Consortium {
            genesis,
            producer,
            processor,
            carrier,
            distributor,
            retailer,
            payer,
            auditor,
            admins,
            brand,
            validators,
            outsider,
        }
    }

    pub fn chain_id(&self) -> Hash32 {
        self.genesis.chain_id()
    }

    /// Every member actor (not validators, not the outsider).
    pub fn members(&self) -> Vec<&Actor> {
        let mut v = vec![
            &self.producer,
            &self.processor,
            &self.carrier,
            &self.distributor,
            &self.retailer,
            &self.payer,
            &self.auditor,
        ];
        v.extend(self.admins.iter());
        v.push(&self.brand);
        v
    }
}

// ---------------------------------------------------------------------------
// Identifiers and values

pub fn lot(s: &str) -> LotId {
    s.parse().unwrap()
}

pub fn ship(s: &str) -> ShipmentId {
    s.parse().unwrap()
}

pub fn dec(s: &str) -> Decimal3 {
    s.parse().unwrap()
}

pub fn currency(s: &str) -> Currency {
    s.parse().unwrap()
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
    .unwrap()
}

pub fn doc(label: &str) -> DocRef {
    DocRef {
        sha256: Hash32::digest(label.as_bytes()),
        media_type: "application/pdf".into(),
        uri: Some(format!("https://docs.example/{}", label.replace(' ', "-"))),
        label: Some(label.into()),
    }
}

pub fn place(name: &str, country: &str) -> Location {
    Location {
        gln: None,
        country: Some(country.parse().unwrap()),
        name: Some(name.into()),
        geo: None,
    }
}

// ---------------------------------------------------------------------------
// Bodies

/// A production of `quantity` kg of `lot` from nothing.
pub fn produce_body(lot_id: &str, quantity: &str) -> Produce {
    Produce {
        lot: lot(lot_id),
        product: Product {
            gtin: None,
            id: None,
            description: format!("product of lot {lot_id}"),
        },
        quantity: Quantity {
            value: dec(quantity),
            unit: UnitCode::Kgm,
        },
        origin: Location::default(),
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: Vec::new(),
    }
}

pub fn produce(lot_id: &str, quantity: &str) -> Body {
    Body::Produce(produce_body(lot_id, quantity))
}

/// A production of `lot` from `inputs` (lot, quantity consumed).
pub fn produce_from(lot_id: &str, quantity: &str, inputs: &[(&str, &str)]) -> Body {
    let mut p = produce_body(lot_id, quantity);
    p.inputs = inputs
        .iter()
        .map(|(l, q)| Input {
            lot: lot(l),
            quantity: dec(q),
        })
        .collect();
    Body::Produce(p)
}

pub fn dispatch_body(
    shipment: &str,
    lots: &[&str],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Dispatch {
    Dispatch {
        shipment: ship(shipment),
        lots: lots.iter().map(|l| lot(l)).collect(),
        consignee: *consignee,
        carrier: carrier.copied(),
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    }
}

pub fn dispatch(
    shipment: &str,
    lots: &[&str],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Body {
    Body::Dispatch(dispatch_body(shipment, lots, consignee, carrier))
}

pub fn receive(shipment: &str) -> Body {
    Body::Receive(Receive {
        shipment: ship(shipment),
        at: Location::default(),
        documents: Vec::new(),
    })
}

pub fn reject(shipment: &str, reason: &str) -> Body {
    Body::Reject(Reject {
        shipment: ship(shipment),
        reason: reason.into(),
    })
}

pub fn payment_body(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> Payment {
    Payment {
        payment_id: id,
        payer: *payer,
        payee: *payee,
        amount_minor,
        currency: currency("EUR"),
        settlement: None,
        incoterm: Incoterm::Fob,
        shipments: shipments.iter().map(|s| ship(s)).collect(),
        customs: None,
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    }
}

pub fn pay(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> Body {
    Body::Payment(payment_body(id, payer, payee, amount_minor, shipments))
}

pub fn add_member(spec: MemberSpec) -> Body {
    Body::Membership(MembershipChange::Add(spec))
}

pub fn remove_member(pk: &PublicKey) -> Body {
    Body::Membership(MembershipChange::Remove { public_key: *pk })
}

pub fn rotate_key(old: &PublicKey, new: &PublicKey) -> Body {
    Body::Membership(MembershipChange::RotateKey {
        old: *old,
        new: *new,
    })
}

pub fn set_roles(pk: &PublicKey, roles: &[Role]) -> Body {
    Body::Membership(MembershipChange::SetRoles {
        public_key: *pk,
        roles: roles.to_vec(),
    })
}

// ---------------------------------------------------------------------------
// Entries

/// An unsigned entry with fixed version and a time derived from the nonce.
pub fn entry(chain_id: Hash32, author: &PublicKey, nonce: u64, body: Body) -> Entry {
    Entry {
        version: ENTRY_VERSION,
        chain_id,
        author: *author,
        nonce,
        recorded_at_ms: T0 + i64::try_from(nonce).unwrap_or(0) * 1000,
        body,
    }
}

/// Signs `body` as `who` with an explicit nonce.
pub fn signed(chain_id: Hash32, who: &Actor, nonce: u64, body: Body) -> SignedEntry {
    entry(chain_id, &who.pk, nonce, body).sign(&who.key)
}

/// Adds co-signatures.
pub fn cosigned(mut e: SignedEntry, cosigners: &[&Actor]) -> SignedEntry {
    for c in cosigners {
        e.cosign(&c.key);
    }
    e
}

/// Asserts an error's message is a non-empty sentence naming each of `needles`.
pub fn assert_mentions(err: &dyn std::fmt::Display, needles: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.trim().is_empty(), "empty error message");
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not mention {n:?}");
    }
}

// ---------------------------------------------------------------------------
// A ledger: committed state, one entry per height.

/// Committed state with one entry per block height, as the rules see it.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub state: State,
    /// The last committed height.
    pub height: u64,
}

impl Ledger {
    pub fn new(genesis: &Genesis) -> Self {
        Ledger {
            state: State::genesis(genesis),
            height: 0,
        }
    }

    pub fn chain_id(&self) -> Hash32 {
        self.state.chain_id
    }

    /// The author's next correct nonce.
    pub fn next_nonce(&self, who: &Actor) -> u64 {
        self.state.nonce(&who.pk) + 1
    }

    /// Signs `body` as `who` with the next correct nonce.
    pub fn sign(&self, who: &Actor, body: Body) -> SignedEntry {
        signed(self.chain_id(), who, self.next_nonce(who), body)
    }

    /// Applies at the next height without committing.
    pub fn try_apply(&self, e: &SignedEntry) -> Result<Changes, RuleError> {
        rules::apply(&self.state, e, e.id(), self.height + 1)
    }

    /// Applies and commits at the next height; panics with the rule's
    /// message if refused.
    pub fn commit(&mut self, e: &SignedEntry) -> Changes {
        let before = self.state.digest();
        let changes = match self.try_apply(e) {
            Ok(c) => c,
            Err(err) => panic!("{} entry refused: {err} ({err:?})", e.entry.body.kind()),
        };
        assert_eq!(
            self.state.digest(),
            before,
            "apply must not change the state"
        );
        self.state.commit(changes.clone());
        self.height += 1;
        changes
    }

    /// Signs with the next nonce and commits.
    pub fn record(&mut self, who: &Actor, body: Body) -> SignedEntry {
        let e = self.sign(who, body);
        self.commit(&e);
        e
    }

    /// Expects the entry to be refused; checks that the refusal changed
    /// nothing (the state, its digest, and that the author's next correct
    /// nonce is still free) and returns the error.
    pub fn refuse(&self, e: &SignedEntry) -> RuleError {
        let before = self.state.clone();
        let digest = before.digest();
        let err = match self.try_apply(e) {
            Ok(c) => panic!(
                "{} entry was accepted, expected a refusal; changes: {c:?}",
                e.entry.body.kind()
            ),
            Err(err) => err,
        };
        assert_eq!(self.state, before, "a refused entry changed the state");
        assert_eq!(self.state.digest(), digest);
        assert!(!err.to_string().trim().is_empty());
        err
    }
}

// ---------------------------------------------------------------------------
// A chain of blocks.

/// Blocks sealed on top of each other, with the state after the last one.
#[derive(Debug, Clone)]
pub struct Chain {
    pub genesis: Genesis,
    pub state: State,
    pub blocks: Vec<Block>,
    nonces: BTreeMap<PublicKey, u64>,
}

impl Chain {
    pub fn new(genesis: &Genesis) -> Self {
        Chain {
            genesis: genesis.clone(),
            state: State::genesis(genesis),
            blocks: Vec::new(),
            nonces: BTreeMap::new(),
        }
    }

    pub fn chain_id(&self) -> Hash32 {
        self.state.chain_id
    }

    /// Signs `body` as `who` with the next nonce, counting entries signed
    /// for blocks not yet sealed.
    pub fn sign(&mut self, who: &Actor, body: Body) -> SignedEntry {
        let last = self
            .nonces
            .get(&who.pk)
            .copied()
            .unwrap_or_else(|| self.state.nonce(&who.pk));
        self.nonces.insert(who.pk, last + 1);
        signed(self.chain_id(), who, last + 1, body)
    }

    /// Applies `entries` as the next block, commits and seals it; the block
    /// time is one minute after the previous block.
    pub fn push_block(&mut self, proposer: &Actor, entries: Vec<SignedEntry>) -> &Block {
        let height = self.blocks.len() as u64 + 1;
        let applied = match rules::apply_block(&self.state, &entries, height) {
            Ok(a) => a,
            Err((i, err)) => panic!("block {height}: entry {i} refused: {err}"),
        };
        self.state.commit(applied.changes);
        let prev = self.blocks.last().map(|b| &b.header);
        let time_ms = T0 + i64::try_from(height).unwrap() * 60_000;
        let block = Block::seal(self.chain_id(), prev, time_ms, proposer.pk, entries);
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }
}

// ---------------------------------------------------------------------------
// Certificates and trails, as consensus and a store would make them.

/// A commit certificate for `header` signed (round 0) by the validators of
/// `c` at the indices `signers`.
pub fn commit_certificate(c: &Consortium, header: &Header, signers: &[usize]) -> CommitCertificate {
    let round = 0;
    let hash = header.hash();
    let mut signatures: Vec<CommitSignature> = signers
        .iter()
        .map(|&i| {
            let v = &c.validators[i].0;
            let bytes =
                block::precommit_bytes(&header.chain_id, header.height, round, &hash, &v.pk);
            CommitSignature {
                validator: v.pk,
                signature: crypto::sign(&v.key, Domain::Vote, &bytes),
            }
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    CommitCertificate {
        height: header.height,
        round,
        block_hash: hash,
        signatures,
    }
}

/// Assembles the trail of `lot_id` the way the store does: every entry that
/// changed the lot or one of its ancestors (their productions, productions
/// that consume them, dispatches carrying them), every entry naming one of
/// those shipments (receipts, rejections, payments), and every membership
/// change; each with its header, its inclusion proof and, with `signers`, a
/// commit certificate; ordered by (height, index).
pub fn store_trail(
    c: &Consortium,
    chain: &Chain,
    lot_id: &LotId,
    signers: Option<&[usize]>,
) -> Trail {
    let blocks = &chain.blocks;
    let all = || {
        blocks
            .iter()
            .flat_map(|b| b.entries.iter().enumerate().map(move |(i, e)| (b, i, e)))
    };
    // The lot and its ancestors.
    let mut scope = BTreeSet::new();
    let mut queue = vec![lot_id.clone()];
    while let Some(l) = queue.pop() {
        if !scope.insert(l.clone()) {
            continue;
        }
        for (_, _, e) in all() {
            if let Body::Produce(p) = &e.entry.body {
                if p.lot == l {
                    queue.extend(p.inputs.iter().map(|i| i.lot.clone()));
                }
            }
        }
    }
    let shipments: BTreeSet<ShipmentId> = all()
        .filter_map(|(_, _, e)| match &e.entry.body {
            Body::Dispatch(d) if d.lots.iter().any(|l| scope.contains(l)) => {
                Some(d.shipment.clone())
            }
            _ => None,
        })
        .collect();
    let mut items = Vec::new();
    for (b, index, e) in all() {
        let wanted = match &e.entry.body {
            Body::Produce(p) => {
                scope.contains(&p.lot) || p.inputs.iter().any(|i| scope.contains(&i.lot))
            }
            Body::Dispatch(d) => shipments.contains(&d.shipment),
            Body::Receive(r) => shipments.contains(&r.shipment),
            Body::Reject(r) => shipments.contains(&r.shipment),
            Body::Payment(p) => p.shipments.iter().any(|s| shipments.contains(s)),
            Body::Membership(_) => true,
        };
        if !wanted {
            continue;
        }
        let leaves: Vec<[u8; 32]> = b.entry_ids().iter().map(|h| h.0).collect();
        let proof = merkle::inclusion_proof(&leaves, index)
            .unwrap()
            .into_iter()
            .map(Hash32)
            .collect();
        items.push(TrailItem {
            entry: e.clone(),
            index: u32::try_from(index).unwrap(),
            header: b.header.clone(),
            proof,
            certificate: signers.map(|v| commit_certificate(c, &b.header, v)),
        });
    }
    items.sort_by_key(|i| (i.header.height, i.index));
    Trail {
        version: TRAIL_VERSION,
        chain_id: chain.chain_id(),
        lot: lot_id.clone(),
        tip_height: blocks.last().map_or(0, |b| b.header.height),
        items,
    }
}
