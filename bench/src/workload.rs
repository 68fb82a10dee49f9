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
                    by_key,
                })
            })
            .collect()
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
            gtin: lot.gtin().cloned(),
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
    held: BTreeMap<PublicKey, BTreeSet<LotId>>,
    open: BTreeSet<ShipmentId>,
    shipments: Vec<ShipmentId>,
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
            open: BTreeSet::new(),
            shipments: Vec::new(),
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

    fn pick_set<T: Clone + Ord>(&mut self, set: &BTreeSet<T>) -> Result<T> {
        let i = self.below(set.len() as u64) as usize;
        set.iter()
            .nth(i)
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
        let Some(held) = self.held.get(&who.pk).filter(|s| !s.is_empty()).cloned() else {
            return Ok(None);
        };
        let want = 1 + self.below(2.min(held.len() as u64)) as usize;
        let mut inputs: Vec<(LotId, u64)> = Vec::new();
        while inputs.len() < want {
            let l = self.pick_set(&held)?;
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
        let held = self.held.get(&who.pk).cloned().unwrap_or_default();
        let n = 1 + self.below(3.min(held.len() as u64)) as usize;
        let mut lots: Vec<LotId> = Vec::new();
        while lots.len() < n {
            let l = self.pick_set(&held)?;
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
            .iter()
            .nth(i)
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
        let changes = rules::apply(&self.state, e, e.id(), 1)
            .map_err(|err| anyhow!("internal: the workload made an invalid entry: {err}"))?;
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
        Ok(())
    }
}
