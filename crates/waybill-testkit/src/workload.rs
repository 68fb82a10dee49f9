//! A seeded consortium workload: raw production, processing of held lots
//! into new lots (inputs), dispatches with and without carriers (multi-hop
//! custody), receipts, rejections and payments; and planned "stories" (deep
//! trails) woven through the random traffic.
//!
//! It runs over any [`Roster`]: the test [`crate::Consortium`] (one member
//! per role) or the benchmark's [`BenchConsortium`] (12 producers, 4 processors, 3
//! carriers, 6 retailers and 2 payers per group). Every entry is checked
//! with the rules against the generator's own state before it is handed
//! out, so any prefix of the sequence, split into blocks in order, is a
//! valid chain. The same seed over the same roster gives the same entries.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use waybill_core::codes::Incoterm;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{
    Body, Dispatch, Location, Payment, PaymentMethod, PaymentStatus, SignedEntry,
};
use waybill_core::genesis::{
    ChainId, ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules;
use waybill_core::state::{ShipmentStage, State};

pub use crate::certs::certify;
pub use crate::consortium::{Party, Roster, T0};
use crate::error::{parse, KitError};
use crate::ids::{try_gtin, try_sscc_shipment, try_uetr_from_bits};
use crate::signer::{
    dispatch_body, receive_body, reject_body, try_payment_body, try_produce_body, Signer,
};

type Result<T, E = KitError> = std::result::Result<T, E>;

fn internal(what: impl Into<String>) -> KitError {
    KitError::Workload(format!("internal: {}", what.into()))
}

/// The benchmark's consortium: one or more groups of members with several
/// members per role, an auditor and one or more validators.
#[derive(Debug, Clone)]
pub struct BenchConsortium {
    /// The genesis.
    pub genesis: Genesis,
    chain_id: ChainId,
    producers: Vec<Party>,
    processors: Vec<Party>,
    carriers: Vec<Party>,
    retailers: Vec<Party>,
    payers: Vec<Party>,
    /// The first validator (with [`BenchConsortium::new`], the only one, which
    /// proposes every block).
    pub validator: Party,
    /// Every validator, in genesis order (`validator` is the first).
    validators: Vec<Party>,
    /// An auditor (signs audit bundles; records nothing).
    auditor: Party,
    by_key: BTreeMap<PublicKey, (Party, Role)>,
}

impl BenchConsortium {
    /// 12 producers, 4 processors, 3 carriers, 6 retailers, 2 payers and
    /// one validator.
    pub fn new() -> Result<Self> {
        Self::groups(1, 1)?
            .pop()
            .ok_or_else(|| internal("no consortium group"))
    }

    /// One chain whose genesis holds `groups` disjoint groups of members
    /// (each as many as [`BenchConsortium::new`]: 12 producers, 4 processors, 3
    /// carriers, 6 retailers, 2 payers) and `validators` validators, all
    /// with fixed keys. Returns one `BenchConsortium` per group: the same genesis
    /// and validators, but only that group's members as parties, so a
    /// [`Workload`] over one group never touches another group's members,
    /// nonces, lots or shipments (give each group its own seed: free lot
    /// and shipment ids carry it). `groups(1, 1)` is [`BenchConsortium::new`].
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
            return Err(KitError::Workload(
                "a benchmark consortium has 1 to 7 groups and 1 to 56 validators".into(),
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
                    let p = Party::new(&format!("{label} {}", index[r]), seed, &[*role]);
                    index[r] += 1;
                    members.push(MemberSpec {
                        name: p.name.clone(),
                        public_key: p.pk,
                        roles: vec![*role],
                        country: Some(parse("country", country)?),
                        gs1_company_prefixes: Vec::new(),
                    });
                    group[r].push(p);
                }
            }
            parties.push(group);
        }
        let auditor = Party::new("Auditor", 250, &[Role::Auditor]);
        members.push(MemberSpec {
            name: auditor.name.clone(),
            public_key: auditor.pk,
            roles: vec![Role::Auditor],
            country: Some(parse("country", "DE")?),
            gs1_company_prefixes: Vec::new(),
        });
        let vparties: Vec<Party> = (0..validators)
            .map(|i| {
                let name = if i == 0 {
                    "Validator One".to_string()
                } else {
                    format!("Validator {}", i + 1)
                };
                Party::new(&name, 200 + i as u8, &[])
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
            yields: Vec::new(),
        };
        genesis
            .validate()
            .map_err(|e| KitError::Workload(format!("the benchmark genesis is invalid: {e}")))?;
        let chain_id = genesis.chain_id();
        let validator = vparties
            .first()
            .cloned()
            .ok_or_else(|| internal("no validator"))?;
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
                Ok(BenchConsortium {
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

    /// The chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }
}

impl Roster for BenchConsortium {
    fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    fn producers(&self) -> &[Party] {
        &self.producers
    }
    fn processors(&self) -> &[Party] {
        &self.processors
    }
    fn carriers(&self) -> &[Party] {
        &self.carriers
    }
    fn retailers(&self) -> &[Party] {
        &self.retailers
    }
    fn payers(&self) -> &[Party] {
        &self.payers
    }
    fn validator(&self) -> &Party {
        &self.validator
    }
    fn member(&self, pk: &PublicKey) -> Option<(&Party, Role)> {
        self.by_key.get(pk).map(|(p, r)| (p, *r))
    }
}

/// The members that may hold goods: producers, processors, carriers and
/// retailers, in that order.
fn handlers<R: Roster + ?Sized>(c: &R) -> impl Iterator<Item = &Party> {
    c.producers()
        .iter()
        .chain(c.processors())
        .chain(c.carriers())
        .chain(c.retailers())
}

/// Yields valid entries, tracking the state they lead to.
pub struct Workload<'c, R: Roster + ?Sized = BenchConsortium> {
    c: &'c R,
    signer: Signer,
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

impl<'c, R: Roster + ?Sized> Workload<'c, R> {
    /// A workload on a fresh chain; free lot and shipment ids start with
    /// `w<seed>-`.
    pub fn new(c: &'c R, seed: u64) -> Self {
        Self::resume(c, &State::genesis(c.genesis()), seed, &format!("w{seed}-"))
    }

    /// A workload continuing from a committed state. `prefix` starts every
    /// new free lot and shipment id (ids already in `state` are skipped
    /// anyway).
    pub fn resume(c: &'c R, state: &State, seed: u64, prefix: &str) -> Self {
        let mut held: BTreeMap<PublicKey, Bag<LotId>> = BTreeMap::new();
        for (id, l) in &state.lots {
            for h in l.holdings.iter().filter(|h| h.shipment.is_none()) {
                held.entry(h.holder).or_default().insert(id);
            }
        }
        let mut open = Bag::default();
        for (id, s) in &state.shipments {
            if s.stage.open() {
                open.insert(id);
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
            open,
            shipments: state.shipments.keys().cloned().collect(),
            reserved_lots: BTreeSet::new(),
            reserved_shipments: BTreeSet::new(),
        }
    }

    /// The state after every entry handed out so far.
    pub fn state(&self) -> &State {
        &self.state
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
            .ok_or_else(|| internal("pick from an empty group"))
    }

    /// A random lot held by `who`.
    fn pick_held(&mut self, who: &PublicKey) -> Result<LotId> {
        let n = self.held.get(who).map_or(0, Bag::len);
        let i = self.below(n as u64) as usize;
        self.held
            .get(who)
            .and_then(|b| b.get(i))
            .cloned()
            .ok_or_else(|| internal("pick from an empty set"))
    }

    fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        self.signer.sign(who, body)
    }

    fn fresh_lot(&mut self) -> Result<LotId> {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(3) {
                LotId::batch(try_gtin(n)?, &format!("B{n}")).map_err(|e| KitError::Invalid {
                    what: "batch lot id",
                    text: format!("B{n}"),
                    why: e.to_string(),
                })?
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
                try_sscc_shipment(self.rng.next_u64())?
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
        let who = self.pick(c.producers())?;
        let body = try_produce_body(&lot, milli, &[])?;
        Ok(self.sign(who, body))
    }

    fn processing(&mut self) -> Result<Option<SignedEntry>> {
        // Mostly a processor; sometimes a producer blending its own lots.
        let c = self.c;
        let who = if self.chance(85) {
            self.pick(c.processors())?
        } else {
            self.pick(c.producers())?
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
                .ok_or_else(|| internal(format!("held lot {l} unknown")))?
                .remaining()
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
        let body = try_produce_body(&lot, milli, &inputs)?;
        Ok(Some(self.sign(who, body)))
    }

    fn dispatch(&mut self) -> Result<Option<SignedEntry>> {
        let c = self.c;
        let holders: Vec<&Party> = handlers(c)
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
        let role = c.member(&who.pk).map(|(_, r)| r);
        let consignee = if role == Some(Role::Producer) && self.chance(70) {
            self.pick(c.processors())?
        } else if role == Some(Role::Processor) && self.chance(60) {
            self.pick(c.retailers())?
        } else {
            let others: Vec<&Party> = handlers(c).filter(|p| p.pk != who.pk).collect();
            let i = self.below(others.len() as u64) as usize;
            others[i]
        };
        let carrier = if role != Some(Role::Carrier)
            && c.member(&consignee.pk).map(|(_, r)| r) != Some(Role::Carrier)
            && self.chance(60)
        {
            Some(self.pick(c.carriers())?.pk)
        } else {
            None
        };
        let id = self.fresh_shipment()?;
        let body = dispatch_body(&id, &lots, &consignee.pk, carrier.as_ref());
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
            .ok_or_else(|| internal("open shipment missing"))?;
        let s = self
            .state
            .shipments
            .get(&id)
            .ok_or_else(|| internal(format!("shipment {id} unknown")))?;
        let (carrier, stage, consignee) = (s.carrier, s.stage, s.consignee);
        let who = match carrier {
            Some(carrier) if stage == ShipmentStage::Dispatched && self.chance(60) => carrier,
            _ => consignee,
        };
        let c = self.c;
        let who = c
            .member(&who)
            .map(|(p, _)| p)
            .ok_or_else(|| internal(format!("{} is not a member", who.short())))?;
        let body = if reject {
            reject_body(&id)
        } else {
            receive_body(&id)
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
        let handlers: Vec<&Party> = handlers(c).collect();
        let k = self.below(handlers.len() as u64) as usize;
        let payee = handlers[k].pk;
        let id = loop {
            let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
            let id = try_uetr_from_bits(bits)?;
            if !self.state.payments.contains_key(&id) {
                break id;
            }
        };
        let amount_minor = 1 + self.below(5_000_000);
        let converted = self.chance(40);
        let payer = self.pick(c.payers())?;
        let body = try_payment_body(id, &payer.pk, &payee, amount_minor, &paid, converted)?;
        Ok(Some(self.sign(payer, body)))
    }

    fn apply(&mut self, e: &SignedEntry) -> Result<()> {
        // The generator signed the entry itself; the rules are what could
        // go wrong.
        // The generator's own bookkeeping: the ledger it feeds judges the
        // entries' times against its blocks.
        let at = rules::At::new(1, i64::MAX);
        let changes = rules::apply_verified(&self.state, e, e.id(), at, rules::Mode::Ledger)
            .map_err(|err| internal(format!("the workload made an invalid entry: {err}")))?;
        for (id, l) in &changes.lots {
            if let Some(old) = self.state.lots.get(id) {
                for h in &old.holdings {
                    if let Some(set) = self.held.get_mut(&h.holder) {
                        set.remove(id);
                    }
                }
            }
            if !self.reserved_lots.contains(id) {
                for h in l.holdings.iter().filter(|h| h.shipment.is_none()) {
                    self.held.entry(h.holder).or_default().insert(id);
                }
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

/// `count` valid entries from `seed` over `c`, on a fresh chain.
pub fn workload<R: Roster + ?Sized>(c: &R, seed: u64, count: usize) -> Vec<SignedEntry> {
    Workload::new(c, seed)
        .take(count)
        .unwrap_or_else(|e| panic!("the workload failed: {e}"))
}

/// A planned story: who records what, in order. Its lots and shipments
/// are reserved, so the random traffic around it cannot disturb it.
pub struct Story {
    steps: VecDeque<(Party, Body)>,
    /// The lot whose trail the story builds.
    pub lot: LotId,
}

impl Story {
    /// Entries still to record.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether every entry is recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    /// Plans a deep story: eight raw lots, processed over three levels of
    /// inputs (8 → 4 → 2 → 1) by three processors, each level shipped to
    /// the next processor, then `hops` custody hops of the final lot
    /// between carriers and retailers, every fourth one paid for.
    pub fn plan_story(&mut self, hops: usize) -> Result<Story> {
        let c = self.c;
        let mut steps = VecDeque::new();
        let (producers, payers) = (c.producers(), c.payers());
        let processors: Vec<Party> = c.processors().iter().take(3).cloned().collect();
        if processors.len() < 3 || producers.is_empty() || payers.is_empty() {
            return Err(internal(
                "the story needs 3 processors, producers and a payer",
            ));
        }
        let mut level: Vec<(LotId, u64)> = Vec::new();
        for i in 0..8 {
            let lot = self.fresh_lot()?;
            let milli = 10_000 + 1_000 * i as u64;
            let who = producers[i % producers.len()].clone();
            steps.push_back((who, try_produce_body(&lot, milli, &[])?));
            level.push((lot, milli));
        }
        let mut holders: Vec<Party> = (0..8)
            .map(|i| producers[i % producers.len()].clone())
            .collect();
        for next in &processors {
            // Ship every lot of this level to the next processor.
            for (i, (lot, _)) in level.iter().enumerate() {
                let from = holders[i].clone();
                let shipment = self.fresh_shipment()?;
                self.reserved_shipments.insert(shipment.clone());
                steps.push_back((from, plain_dispatch(&shipment, vec![lot.clone()], next.pk)));
                steps.push_back((next.clone(), receive_body(&shipment)));
            }
            // Process pairs of them into the next level.
            let mut made = Vec::new();
            for pair in level.chunks(2) {
                let lot = self.fresh_lot()?;
                let milli: u64 = pair.iter().map(|(_, q)| q / 2).sum();
                steps.push_back((next.clone(), try_produce_body(&lot, milli, pair)?));
                made.push((lot, milli));
            }
            holders = vec![next.clone(); made.len()];
            level = made;
        }
        let (lot, _) = level
            .first()
            .cloned()
            .ok_or_else(|| internal("the story made no final lot"))?;
        let path: Vec<Party> = c
            .carriers()
            .iter()
            .zip(c.retailers())
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        if path.is_empty() && hops > 0 {
            return Err(internal("the story's hops need carriers and retailers"));
        }
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
                plain_dispatch(&shipment, vec![lot.clone()], to.pk),
            ));
            steps.push_back((to.clone(), receive_body(&shipment)));
            if hop % 4 == 3 {
                let payment = self.story_payment(&shipment, to.pk)?;
                steps.push_back((payers[0].clone(), payment));
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
        let payer = self
            .c
            .payers()
            .first()
            .ok_or_else(|| internal("the story needs a payer"))?
            .pk;
        Ok(Body::Payment(Payment {
            payment_id: try_uetr_from_bits(bits)?,
            payer,
            payee,
            amount_minor: 125_000,
            currency: parse("currency", "USD")?,
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

/// A story's dispatch: no carrier, no places.
fn plain_dispatch(shipment: &ShipmentId, lots: Vec<LotId>, consignee: PublicKey) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots,
        consignee,
        carrier: None,
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    })
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
