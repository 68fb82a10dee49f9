//! A seeded consortium workload: several producers, processors, carriers,
//! retailers and payers; raw production, processing of held lots into new
//! lots (inputs), dispatches with and without carriers (multi-hop custody),
//! receipts, rejections and payments.
//!
//! Adapted from `crates/waybill-store/tests/support/mod.rs`. Every entry is
//! checked with `rules::apply` against the generator's own state before it
//! is handed out, so the sequence, split into blocks in order, is a valid
//! chain.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

use anyhow::{anyhow, Context, Result};
use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use waybill_core::codes::{Country, Currency, Decimal3, FxRate, HsCode, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, PublicKey};
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

/// Entry times start here (2023-11-14).
pub const T0: i64 = 1_700_000_000_000;

fn parse<T: FromStr>(what: &str, s: &str) -> Result<T>
where
    T::Err: Display,
{
    s.parse::<T>().map_err(|e| anyhow!("{what} {s:?}: {e}"))
}

/// One member (or the validator).
#[derive(Debug, Clone)]
pub struct Party {
    name: String,
    key: SigningKey,
    /// Its public key.
    pub pk: PublicKey,
}

impl Party {
    fn new(name: String, seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let pk = crypto::public_key(&key);
        Party { name, key, pk }
    }
}

/// A consortium with several members per role and one validator.
#[derive(Debug, Clone)]
pub struct Consortium {
    /// The genesis.
    pub genesis: Genesis,
    chain_id: ChainId,
    producers: Vec<Party>,
    processors: Vec<Party>,
    carriers: Vec<Party>,
    retailers: Vec<Party>,
    payers: Vec<Party>,
    /// The first validator (with [`Consortium::new`], the only one, which
    /// proposes every block).
    pub validator: Party,
    /// Every validator, in genesis order (`validator` is the first).
    validators: Vec<Party>,
    /// An auditor (signs audit bundles; records nothing).
    auditor: Party,
    by_key: BTreeMap<PublicKey, (Party, Role)>,
}

impl Consortium {
    /// 12 producers, 4 processors, 3 carriers, 6 retailers, 2 payers and
    /// one validator.
    pub fn new() -> Result<Self> {
        Self::groups(1, 1)?
            .pop()
            .ok_or_else(|| anyhow!("internal: no consortium group"))
    }

    /// One chain whose genesis holds `groups` disjoint groups of members
    /// (each as many as [`Consortium::new`]: 12 producers, 4 processors, 3
    /// carriers, 6 retailers, 2 payers) and `validators` validators, all
    /// with fixed keys. Returns one `Consortium` per group: the same genesis
    /// and validators, but only that group's members as parties, so a
    /// [`Workload`] over one group never touches another group's members,
    /// nonces, lots or shipments (give each group its own seed: free lot
    /// and shipment ids carry it). `groups(1, 1)` is [`Consortium::new`].
    pub fn groups(groups: usize, validators: usize) -> Result<Vec<Self>> {
        const SIZES: [(&str, Role, &str, usize); 5] = [
            ("Producer", Role::Producer, "CO", 12),
            ("Processor", Role::Processor, "CO", 4),
            ("Carrier", Role::Carrier, "PA", 3),
            ("Retailer", Role::Retailer, "DE", 6),
            ("Payer", Role::Payer, "CO", 2),
        ];
        let per_group: usize = SIZES.iter().map(|s| s.3).sum();
        if groups == 0 || validators == 0 || groups * per_group > 199 || validators > 56 {
            return Err(anyhow!(
                "a benchmark consortium has 1 to 7 groups and 1 to 56 validators"
            ));
        }
        // Member keys are seeds 1, 2, ... in group, then role order (one
        // group: exactly the keys and names `new` always had); validator
        // keys are seeds 200, 201, ...
        let mut seed = 0u8;
        let mut index = [0usize; 5];
        let mut members = Vec::new();
        let mut parties: Vec<[Vec<Party>; 5]> = Vec::new();
        for _ in 0..groups {
            let mut group: [Vec<Party>; 5] = Default::default();
            for (r, (label, role, country, n)) in SIZES.iter().enumerate() {
                for _ in 0..*n {
                    seed += 1;
                    let p = Party::new(format!("{label} {}", index[r]), seed);
                    index[r] += 1;
                    members.push(MemberSpec {
                        name: p.name.clone(),
                        public_key: p.pk,
                        roles: vec![*role],
                        country: Some(parse::<Country>("country", country)?),
                        gs1_company_prefixes: Vec::new(),
                    });
                    group[r].push(p);
                }
            }
            parties.push(group);
        }
        let auditor = Party::new("Auditor".into(), 250);
        members.push(MemberSpec {
            name: auditor.name.clone(),
            public_key: auditor.pk,
            roles: vec![Role::Auditor],
            country: Some(parse::<Country>("country", "DE")?),
            gs1_company_prefixes: Vec::new(),
        });
        let vparties: Vec<Party> = (0..validators)
            .map(|i| {
                let name = if i == 0 {
                    "Validator One".to_string()
                } else {
                    format!("Validator {}", i + 1)
                };
                Party::new(name, 200 + i as u8)
            })
            .collect();
        let genesis = Genesis {
            chain_name: "waybill-bench".into(),
            members,
            validators: vparties
                .iter()
                .map(|v| ValidatorSpec {
                    name: v.name.clone(),
                    public_key: v.pk,
                    power: 1,
                    p2p: Vec::new(),
                })
                .collect(),
            consensus: ConsensusParams::default(),
            governance: Governance::default(),
        };
        genesis
            .validate()
            .context("the benchmark genesis is invalid")?;
        let chain_id = genesis.chain_id();
        let validator = vparties
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("internal: no validator"))?;
        parties
            .into_iter()
            .map(|[producers, processors, carriers, retailers, payers]| {
                let mut by_key = BTreeMap::new();
                for (ps, (_, role, _, _)) in
                    [&producers, &processors, &carriers, &retailers, &payers]
                        .into_iter()
                        .zip(SIZES.iter())
                {
                    for p in ps {
                        by_key.insert(p.pk, (p.clone(), *role));
                    }
                }
                Ok(Consortium {
                    genesis: genesis.clone(),
                    chain_id,
                    producers,
                    processors,
                    carriers,
                    retailers,
                    payers,
                    validator: validator.clone(),
                    validators: vparties.clone(),
                    auditor: auditor.clone(),
                    by_key,
                })
            })
            .collect()
    }

    /// The auditor's signing key.
    pub fn auditor_key(&self) -> &SigningKey {
        &self.auditor.key
    }

    /// The validators' signing keys, in genesis order.
    pub fn validator_keys(&self) -> Vec<SigningKey> {
        self.validators.iter().map(|v| v.key.clone()).collect()
    }

    /// The signing key of one of this group's members.
    pub fn member_key(&self, pk: &PublicKey) -> Option<&SigningKey> {
        self.by_key.get(pk).map(|(p, _)| &p.key)
    }

    fn handlers(&self) -> impl Iterator<Item = &Party> {
        self.producers
            .iter()
            .chain(&self.processors)
            .chain(&self.carriers)
            .chain(&self.retailers)
    }

    fn role(&self, pk: &PublicKey) -> Option<Role> {
        self.by_key.get(pk).map(|(_, r)| *r)
    }

    fn party(&self, pk: &PublicKey) -> Result<&Party> {
        self.by_key
            .get(pk)
            .map(|(p, _)| p)
            .ok_or_else(|| anyhow!("internal: {} is not a member", pk.short()))
    }
}

fn gtin(n: u64) -> Result<Gtin> {
    let body = format!("0950600{:06}", n % 1_000_000);
    let check = gs1_check_digit(&body).ok_or_else(|| anyhow!("GTIN {body}: not digits"))?;
    parse("GTIN", &format!("{body}{check}"))
}

fn sscc_shipment(n: u64) -> Result<ShipmentId> {
    let body = format!("0950600{:010}", n % 10_000_000_000);
    let check = gs1_check_digit(&body).ok_or_else(|| anyhow!("SSCC {body}: not digits"))?;
    parse("shipment", &format!("(00){body}{check}"))
}

fn uetr(bits: u128) -> Result<Uetr> {
    let v = (bits & !(0xF << 76)) | (0x4 << 76);
    let v = (v & !(0x3 << 62)) | (0x2 << 62);
    parse("UETR", &format!("{v:032x}"))
}

fn produce_body(lot: &LotId, milli: u64, inputs: &[(LotId, u64)]) -> Result<Body> {
    Ok(Body::Produce(Produce {
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
            country: Some(parse("country", "CO")?),
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
    }))
}

/// Yields valid entries, tracking the state they lead to.
pub struct Workload<'c> {
    c: &'c Consortium,
    nonces: BTreeMap<PublicKey, u64>,
    state: State,
    rng: ChaCha8Rng,
    prefix: String,
    counter: u64,
    held: BTreeMap<PublicKey, Bag<LotId>>,
    open: Bag<ShipmentId>,
    shipments: Vec<ShipmentId>,
    /// Lots and shipments of a planned story, which the random traffic
    /// must leave alone.
    reserved_lots: BTreeSet<LotId>,
    reserved_shipments: BTreeSet<ShipmentId>,
}

impl<'c> Workload<'c> {
    /// A workload on a fresh chain.
    pub fn new(c: &'c Consortium, seed: u64) -> Self {
        Workload {
            c,
            nonces: BTreeMap::new(),
            state: State::genesis(&c.genesis),
            rng: ChaCha8Rng::seed_from_u64(seed),
            prefix: format!("w{seed}-"),
            counter: 0,
            held: BTreeMap::new(),
            open: Bag::default(),
            shipments: Vec::new(),
            reserved_lots: BTreeSet::new(),
            reserved_shipments: BTreeSet::new(),
        }
    }

    /// The next `n` entries.
    pub fn take(&mut self, n: usize) -> Result<Vec<SignedEntry>> {
        (0..n).map(|_| self.next_entry()).collect()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &'a [Party]) -> Result<&'a Party> {
        let i = self.below(items.len() as u64) as usize;
        items
            .get(i)
            .ok_or_else(|| anyhow!("internal: pick from an empty group"))
    }

    /// A random lot held by `who`.
    fn pick_held(&mut self, who: &PublicKey) -> Result<LotId> {
        let n = self.held.get(who).map_or(0, Bag::len);
        let i = self.below(n as u64) as usize;
        self.held
            .get(who)
            .and_then(|b| b.get(i))
            .cloned()
            .ok_or_else(|| anyhow!("internal: pick from an empty set"))
    }

    fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        let n = self.nonces.entry(who.pk).or_insert(0);
        *n += 1;
        let nonce = *n;
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.c.chain_id,
            author: who.pk,
            nonce,
            recorded_at_ms: T0 + i64::try_from(nonce).unwrap_or(0),
            body,
        }
        .sign(&who.key)
    }

    fn fresh_lot(&mut self) -> Result<LotId> {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(3) {
                LotId::batch(gtin(n)?, &format!("B{n}"))
                    .map_err(|e| anyhow!("batch lot id: {e}"))?
            } else {
                parse("lot", &format!("{}L{n}", self.prefix))?
            };
            if !self.state.lots.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    fn fresh_shipment(&mut self) -> Result<ShipmentId> {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(5) {
                sscc_shipment(self.rng.next_u64())?
            } else {
                parse("shipment", &format!("{}S{n}", self.prefix))?
            };
            if !self.state.shipments.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    /// The next valid entry.
    pub fn next_entry(&mut self) -> Result<SignedEntry> {
        loop {
            let roll = self.below(100);
            let entry = match roll {
                0..=17 => Some(self.raw_production()?),
                18..=32 => self.processing()?,
                33..=57 => self.dispatch()?,
                58..=86 => self.receive(false)?,
                87..=89 => self.receive(true)?,
                _ => self.payment()?,
            };
            if let Some(e) = entry {
                self.apply(&e)?;
                return Ok(e);
            }
        }
    }

    fn raw_production(&mut self) -> Result<SignedEntry> {
        let lot = self.fresh_lot()?;
        let milli = 1_000 + self.below(100_000);
        let c = self.c;
        let who = self.pick(&c.producers)?;
        let body = produce_body(&lot, milli, &[])?;
        Ok(self.sign(who, body))
    }

    fn processing(&mut self) -> Result<Option<SignedEntry>> {
        // Mostly a processor; sometimes a producer blending its own lots.
        let c = self.c;
        let who = if self.chance(85) {
            self.pick(&c.processors)?
        } else {
            self.pick(&c.producers)?
        };
        let held = self.held.get(&who.pk).map_or(0, Bag::len);
        if held == 0 {
            return Ok(None);
        }
        let want = 1 + self.below(2.min(held as u64)) as usize;
        let mut inputs: Vec<(LotId, u64)> = Vec::new();
        while inputs.len() < want {
            let l = self.pick_held(&who.pk)?;
            if inputs.iter().any(|(x, _)| x == &l) {
                continue;
            }
            let left = self
                .state
                .lots
                .get(&l)
                .ok_or_else(|| anyhow!("internal: held lot {l} unknown"))?
                .remaining
                .milli();
            let q = if self.chance(50) {
                left
            } else {
                1 + self.below(left)
            };
            inputs.push((l, q));
        }
        let lot = self.fresh_lot()?;
        let milli = 500 + self.below(50_000);
        let body = produce_body(&lot, milli, &inputs)?;
        Ok(Some(self.sign(who, body)))
    }

    fn dispatch(&mut self) -> Result<Option<SignedEntry>> {
        let c = self.c;
        let holders: Vec<&Party> = c
            .handlers()
            .filter(|p| self.held.get(&p.pk).is_some_and(|s| !s.is_empty()))
            .collect();
        if holders.is_empty() {
            return Ok(None);
        }
        let i = self.below(holders.len() as u64) as usize;
        let who = holders[i];
        let held = self.held.get(&who.pk).map_or(0, Bag::len);
        let n = 1 + self.below(3.min(held as u64)) as usize;
        let mut lots: Vec<LotId> = Vec::new();
        while lots.len() < n {
            let l = self.pick_held(&who.pk)?;
            if !lots.contains(&l) {
                lots.push(l);
            }
        }
        let role = c.role(&who.pk);
        let consignee = if role == Some(Role::Producer) && self.chance(70) {
            self.pick(&c.processors)?
        } else if role == Some(Role::Processor) && self.chance(60) {
            self.pick(&c.retailers)?
        } else {
            let others: Vec<&Party> = c.handlers().filter(|p| p.pk != who.pk).collect();
            let i = self.below(others.len() as u64) as usize;
            others[i]
        };
        let carrier = if role != Some(Role::Carrier)
            && c.role(&consignee.pk) != Some(Role::Carrier)
            && self.chance(60)
        {
            Some(self.pick(&c.carriers)?.pk)
        } else {
            None
        };
        let id = self.fresh_shipment()?;
        let body = Body::Dispatch(Dispatch {
            shipment: id,
            lots,
            consignee: consignee.pk,
            carrier,
            from: Location {
                name: Some("Buenaventura".into()),
                ..Location::default()
            },
            to: Location {
                name: Some("Hamburg".into()),
                ..Location::default()
            },
            documents: Vec::new(),
        });
        Ok(Some(self.sign(who, body)))
    }

    fn receive(&mut self, reject: bool) -> Result<Option<SignedEntry>> {
        if self.open.is_empty() {
            return Ok(None);
        }
        let i = self.below(self.open.len() as u64) as usize;
        let id = self
            .open
            .get(i)
            .cloned()
            .ok_or_else(|| anyhow!("internal: open shipment missing"))?;
        let s = self
            .state
            .shipments
            .get(&id)
            .ok_or_else(|| anyhow!("internal: shipment {id} unknown"))?;
        let (carrier, stage, consignee) = (s.carrier, s.stage, s.consignee);
        let who = match carrier {
            Some(carrier) if stage == ShipmentStage::Dispatched && self.chance(60) => carrier,
            _ => consignee,
        };
        let c = self.c;
        let who = c.party(&who)?;
        let body = if reject {
            Body::Reject(Reject {
                shipment: id,
                reason: "damaged in transit".into(),
            })
        } else {
            Body::Receive(Receive {
                shipment: id,
                at: Location::default(),
                documents: Vec::new(),
            })
        };
        Ok(Some(self.sign(who, body)))
    }

    fn payment(&mut self) -> Result<Option<SignedEntry>> {
        if self.shipments.is_empty() {
            return Ok(None);
        }
        let i = self.below(self.shipments.len() as u64) as usize;
        let mut paid = vec![self.shipments[i].clone()];
        if self.chance(30) {
            let j = self.below(self.shipments.len() as u64) as usize;
            let s = self.shipments[j].clone();
            if !paid.contains(&s) {
                paid.push(s);
            }
        }
        let c = self.c;
        let handlers: Vec<&Party> = c.handlers().collect();
        let k = self.below(handlers.len() as u64) as usize;
        let payee = handlers[k].pk;
        let id = loop {
            let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
            let id = uetr(bits)?;
            if !self.state.payments.contains_key(&id) {
                break id;
            }
        };
        let amount_minor = 1 + self.below(5_000_000);
        let converted = self.chance(40);
        let payer = self.pick(&c.payers)?;
        let settlement = if converted {
            Some(Settlement {
                amount_minor: amount_minor.saturating_mul(4),
                currency: parse("currency", "COP")?,
                fx_rate: FxRate::from_nano(4_000_000_000_000)
                    .ok_or_else(|| anyhow!("FX rate out of range"))?,
            })
        } else {
            None
        };
        let body = Body::Payment(Payment {
            payment_id: id,
            payer: payer.pk,
            payee,
            amount_minor,
            currency: parse::<Currency>("currency", "USD")?,
            settlement,
            incoterm: Incoterm::Fob,
            shipments: paid,
            customs: Some(Customs {
                hs_codes: vec![parse::<HsCode>("HS code", "0901.21")?],
                declaration_sha256: None,
            }),
            method: PaymentMethod::SwiftTransfer,
            status: PaymentStatus::Settled,
        });
        Ok(Some(self.sign(payer, body)))
    }

    fn apply(&mut self, e: &SignedEntry) -> Result<()> {
        // The generator signed the entry itself; the rules are what could
        // go wrong. (The scenarios verify every signature.)
        let changes = rules::apply_verified(&self.state, e, e.id(), 1, rules::Mode::Ledger)
            .map_err(|err| anyhow!("internal: the workload made an invalid entry: {err}"))?;
        for (id, l) in &changes.lots {
            if let Some(old) = self.state.lots.get(id) {
                if let Some(set) = self.held.get_mut(&old.custodian) {
                    set.remove(id);
                }
            }
            if l.status == LotStatus::Held && !self.reserved_lots.contains(id) {
                self.held.entry(l.custodian).or_default().insert(id);
            }
        }
        for (id, s) in &changes.shipments {
            if self.reserved_shipments.contains(id) {
                continue;
            }
            if !self.state.shipments.contains_key(id) {
                self.shipments.push(id.clone());
            }
            if s.stage.open() {
                self.open.insert(id);
            } else {
                self.open.remove(id);
            }
        }
        self.state.commit(changes);
        Ok(())
    }
}

/// A planned story: who records what, in order. Its lots and shipments
/// are reserved, so the random traffic around it cannot disturb it.
pub struct Story {
    steps: std::collections::VecDeque<(Party, Body)>,
    /// The lot whose trail the story builds.
    pub lot: LotId,
}

impl Story {
    /// Entries still to record.
    pub fn len(&self) -> usize {
        self.steps.len()
    }
}

impl<'c> Workload<'c> {
    /// Plans a deep story: eight raw lots, processed over three levels of
    /// inputs (8 → 4 → 2 → 1) by three processors, each level shipped to
    /// the next processor, then `hops` custody hops of the final lot
    /// between carriers and retailers, every fourth one paid for.
    pub fn plan_story(&mut self, hops: usize) -> Result<Story> {
        let c = self.c;
        let mut steps = std::collections::VecDeque::new();
        let processors: Vec<Party> = c.processors.iter().take(3).cloned().collect();
        if processors.len() < 3 || c.producers.is_empty() || c.payers.is_empty() {
            return Err(anyhow!(
                "internal: the story needs 3 processors, producers and a payer"
            ));
        }
        let mut level: Vec<(LotId, u64)> = Vec::new();
        for i in 0..8 {
            let lot = self.fresh_lot()?;
            let milli = 10_000 + 1_000 * i as u64;
            let who = c.producers[i % c.producers.len()].clone();
            steps.push_back((who, produce_body(&lot, milli, &[])?));
            level.push((lot, milli));
        }
        let mut holders: Vec<Party> = (0..8)
            .map(|i| c.producers[i % c.producers.len()].clone())
            .collect();
        for next in &processors {
            // Ship every lot of this level to the next processor.
            for (i, (lot, _)) in level.iter().enumerate() {
                let from = holders[i].clone();
                let shipment = self.fresh_shipment()?;
                self.reserved_shipments.insert(shipment.clone());
                steps.push_back((
                    from,
                    dispatch_body(&shipment, vec![lot.clone()], next.pk, None),
                ));
                steps.push_back((next.clone(), receive_body(&shipment)));
            }
            // Process pairs of them into the next level.
            let mut made = Vec::new();
            for pair in level.chunks(2) {
                let lot = self.fresh_lot()?;
                let milli: u64 = pair.iter().map(|(_, q)| q / 2).sum();
                steps.push_back((next.clone(), produce_body(&lot, milli, pair)?));
                made.push((lot, milli));
            }
            holders = vec![next.clone(); made.len()];
            level = made;
        }
        let (lot, _) = level
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("internal: the story made no final lot"))?;
        let path: Vec<Party> = c
            .carriers
            .iter()
            .zip(&c.retailers)
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        let mut holder = processors[2].clone();
        for hop in 0..hops {
            let to = path[hop % path.len()].clone();
            let to = if to.pk == holder.pk {
                path[(hop + 1) % path.len()].clone()
            } else {
                to
            };
            let shipment = self.fresh_shipment()?;
            self.reserved_shipments.insert(shipment.clone());
            steps.push_back((
                holder.clone(),
                dispatch_body(&shipment, vec![lot.clone()], to.pk, None),
            ));
            steps.push_back((to.clone(), receive_body(&shipment)));
            if hop % 4 == 3 {
                let payment = self.story_payment(&shipment, to.pk)?;
                steps.push_back((c.payers[0].clone(), payment));
            }
            holder = to;
        }
        for (_, body) in &steps {
            if let Body::Produce(p) = body {
                self.reserved_lots.insert(p.lot.clone());
            }
        }
        Ok(Story { steps, lot })
    }

    fn story_payment(&mut self, shipment: &ShipmentId, payee: PublicKey) -> Result<Body> {
        let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        Ok(Body::Payment(Payment {
            payment_id: uetr(bits)?,
            payer: self.c.payers[0].pk,
            payee,
            amount_minor: 125_000,
            currency: parse::<Currency>("currency", "USD")?,
            settlement: None,
            incoterm: Incoterm::Fob,
            shipments: vec![shipment.clone()],
            customs: None,
            method: PaymentMethod::SwiftTransfer,
            status: PaymentStatus::Settled,
        }))
    }

    /// Records the story's next step, if any.
    pub fn next_story_entry(&mut self, story: &mut Story) -> Result<Option<SignedEntry>> {
        let Some((who, body)) = story.steps.pop_front() else {
            return Ok(None);
        };
        let e = self.sign(&who, body);
        self.apply(&e)?;
        Ok(Some(e))
    }
}

fn dispatch_body(
    shipment: &ShipmentId,
    lots: Vec<LotId>,
    consignee: PublicKey,
    carrier: Option<PublicKey>,
) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots,
        consignee,
        carrier,
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    })
}

fn receive_body(shipment: &ShipmentId) -> Body {
    Body::Receive(Receive {
        shipment: shipment.clone(),
        at: Location::default(),
        documents: Vec::new(),
    })
}

/// A commit certificate for `header` signed by `c`'s first validator (the
/// whole voting power of a one-validator consortium).
pub fn certify(
    c: &Consortium,
    header: &waybill_core::block::Header,
) -> waybill_core::block::CommitCertificate {
    use waybill_core::block::{precommit_bytes, CommitCertificate, CommitSignature};
    let hash = header.hash();
    let v = &c.validator;
    let bytes = precommit_bytes(&header.chain_id, header.height, 0, &hash, &v.pk);
    CommitCertificate {
        height: header.height,
        round: 0,
        block_hash: hash,
        signatures: vec![CommitSignature {
            validator: v.pk,
            signature: crypto::sign(&v.key, crypto::Domain::Vote, &bytes),
        }],
    }
}

impl<'c> Workload<'c> {
    /// `n` entries of random traffic with the entries of `stories` spread
    /// evenly through them (taking turns), then whatever is left of them.
    pub fn take_with_stories(
        &mut self,
        n: usize,
        stories: &mut [Story],
    ) -> Result<Vec<SignedEntry>> {
        let total: usize = stories.iter().map(Story::len).sum();
        let every = (n / (total + 1)).max(1);
        let mut out = Vec::with_capacity(n + total);
        let mut turn = 0usize;
        let mut next_story = |w: &mut Self, stories: &mut [Story]| -> Result<Option<SignedEntry>> {
            for _ in 0..stories.len() {
                turn = (turn + 1) % stories.len();
                if let Some(e) = w.next_story_entry(&mut stories[turn])? {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        };
        for i in 0..n {
            let e = if i % every == every / 2 {
                match next_story(self, stories)? {
                    Some(e) => e,
                    None => self.next_entry()?,
                }
            } else {
                self.next_entry()?
            };
            out.push(e);
        }
        while let Some(e) = next_story(self, stories)? {
            out.push(e);
        }
        Ok(out)
    }
}

/// A set that picks a random member in O(1): members in a vector, with
/// their places in a map; removal swaps the last member in.
#[derive(Debug, Clone)]
struct Bag<T: Ord + Clone> {
    items: Vec<T>,
    place: BTreeMap<T, usize>,
}

impl<T: Ord + Clone> Default for Bag<T> {
    fn default() -> Self {
        Bag {
            items: Vec::new(),
            place: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> Bag<T> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    fn insert(&mut self, item: &T) {
        if !self.place.contains_key(item) {
            self.place.insert(item.clone(), self.items.len());
            self.items.push(item.clone());
        }
    }

    fn remove(&mut self, item: &T) {
        if let Some(i) = self.place.remove(item) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.place.insert(moved.clone(), i);
            }
        }
    }
}
