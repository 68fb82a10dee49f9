//! A seeded consortium workload: raw production, processing of held lots
//! into new lots (inputs), dispatches with and without carriers (multi-hop
//! custody), receipts, rejections and payments; and planned "stories" (deep
//! trails) woven through the random traffic.
//!
//! With [`Mix::Consortium`] (what the benchmark runs:
//! [`Workload::with_mix`]) it also makes the newer entry kinds, in the
//! shares a consortium's traffic has them (see [`Mix`]): productions with
//! plots and key data elements, dispatches of parts of lots and with
//! transport facts, receipts with a shortfall, carrier hand-overs
//! co-signed by the next carrier, cold-chain readings, recalls by the
//! lot's producer and their lifts, and corrected dispatches sent again.
//! [`Mix::Classic`], the default (tests that model only the first kinds
//! rely on it), makes only produce, dispatch, receive, reject and
//! payment: exactly the entries this generator made before the newer
//! kinds existed.
//!
//! It runs over any [`Roster`]: the test [`crate::Consortium`] (one member
//! per role) or the benchmark's [`BenchConsortium`] (12 producers, 4 processors, 3
//! carriers, 6 retailers and 2 payers per group). Every entry is checked
//! with the rules against the generator's own state before it is handed
//! out, so any prefix of the sequence, split into blocks in order, is a
//! valid chain. The same seed over the same roster gives the same entries.

mod facts;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use waybill_core::codes::{Decimal3, Incoterm};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{
    Body, Corrected, Correction, Dispatch, DispatchV2, EntryId, Handover, Location, LossCause,
    Payment, PaymentMethod, PaymentStatus, Produce, ProduceV2, Quantity, Readings, Recall,
    RecallClass, RecallLift, ReceiveV2, ReceivedLot, ReferenceDocumentType, ShippedLot, Shortfall,
    SignedEntry,
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
    /// Which kinds it makes.
    mix: Mix,
    /// Follow-ups due next, in order (a correction right after its
    /// dispatch, the dispatch sent again right after the correction, a
    /// consignee's readings right after its receipt).
    pending: VecDeque<FollowUp>,
    /// Follow-ups due once `made` reaches their key (recalls, lifts).
    scheduled: BTreeMap<u64, Vec<FollowUp>>,
    /// Entries handed out by [`Workload::next_entry`].
    made: u64,
    /// Random-traffic lots produced, dispatches and recalls made (for the
    /// mix's exact shares: every `RECALL_EVERY`th lot is recalled, ...).
    lots_made: u64,
    dispatches: u64,
    recalls: u64,
    /// Numbers for bills of lading, containers, loggers and plots.
    serial: u64,
    /// Open shipments already handed over to a second carrier.
    handed_over: BTreeSet<ShipmentId>,
}

impl<'c, R: Roster + ?Sized> Workload<'c, R> {
    /// A workload on a fresh chain, in the [`Mix::Classic`] mix (see
    /// [`Workload::with_mix`]); free lot and shipment ids start with
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
            mix: Mix::default(),
            pending: VecDeque::new(),
            scheduled: BTreeMap::new(),
            made: 0,
            lots_made: 0,
            dispatches: 0,
            recalls: 0,
            serial: 0,
            handed_over: BTreeSet::new(),
        }
    }

    /// The same workload making `mix`'s kinds (set it before taking
    /// entries).
    pub fn with_mix(mut self, mix: Mix) -> Self {
        self.mix = mix;
        self
    }

    /// Which kinds it makes.
    pub fn mix(&self) -> Mix {
        self.mix
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
            if self.mix == Mix::Consortium {
                if let Some(f) = self.due() {
                    if let Some(e) = self.follow_up(f)? {
                        return self.hand_out(e);
                    }
                    continue;
                }
            }
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
                return self.hand_out(e);
            }
        }
    }

    /// Applies `e` and plans what follows from it.
    fn hand_out(&mut self, e: SignedEntry) -> Result<SignedEntry> {
        let id = self.apply(&e)?;
        self.made += 1;
        if self.mix == Mix::Consortium {
            self.plan_follow_ups(&e, id)?;
        }
        Ok(e)
    }

    fn raw_production(&mut self) -> Result<SignedEntry> {
        let lot = self.fresh_lot()?;
        let milli = 1_000 + self.below(100_000);
        let c = self.c;
        let who = self.pick(c.producers())?;
        let body = try_produce_body(&lot, milli, &[])?;
        let body = if self.mix == Mix::Consortium && self.chance(PLOTS_PERCENT) {
            self.with_plots(body)?
        } else {
            body
        };
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
            // What the author holds (all that is left of it, unless part
            // of it was shipped elsewhere).
            let left = self
                .state
                .lots
                .get(&l)
                .ok_or_else(|| internal(format!("held lot {l} unknown")))?
                .held_by(&self.state, &who.pk)
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
        let body = if self.mix == Mix::Consortium && self.chance(WORK_ORDER_PERCENT) {
            let n = self.next_serial();
            let kdes = facts::kdes(ReferenceDocumentType::WorkOrder, n, None);
            Body::ProduceV2(ProduceV2 {
                produce: produce_of(body)?,
                plots: None,
                kdes,
            })
        } else {
            body
        };
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
        let body = match self.mix {
            Mix::Classic => dispatch_body(&id, &lots, &consignee.pk, carrier.as_ref()),
            Mix::Consortium => self.consortium_dispatch(who, &id, &lots, consignee, carrier)?,
        };
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
        if !reject && self.mix == Mix::Consortium {
            if let (ShipmentStage::WithCarrier, Some(current)) = (stage, carrier) {
                if c.carriers().len() >= 2
                    && !self.handed_over.contains(&id)
                    && self.chance(HANDOVER_PERCENT)
                {
                    return self.handover(&id, &current).map(Some);
                }
            }
            if who.pk == consignee {
                if let Some(body) = self.consortium_receipt(&id)? {
                    return Ok(Some(self.sign(who, body)));
                }
            }
        }
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

    /// Applies `e` to the generator's state; returns its id.
    fn apply(&mut self, e: &SignedEntry) -> Result<EntryId> {
        // The generator signed the entry itself; the rules are what could
        // go wrong.
        // The generator's own bookkeeping: the ledger it feeds judges the
        // entries' times against its blocks.
        let at = rules::At::new(1, i64::MAX);
        let id = e.id();
        let changes = rules::apply_verified(&self.state, e, id, at, rules::Mode::Ledger)
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
                self.handed_over.remove(id);
            }
        }
        self.state.commit(changes);
        Ok(id)
    }
}

/// `count` valid entries from `seed` over `c`, on a fresh chain, in the
/// [`Mix::Classic`] mix.
pub fn workload<R: Roster + ?Sized>(c: &R, seed: u64, count: usize) -> Vec<SignedEntry> {
    workload_mix(c, seed, count, Mix::Classic)
}

/// `count` valid entries from `seed` over `c`, on a fresh chain, in
/// `mix`.
pub fn workload_mix<R: Roster + ?Sized>(
    c: &R,
    seed: u64,
    count: usize,
    mix: Mix,
) -> Vec<SignedEntry> {
    Workload::new(c, seed)
        .with_mix(mix)
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

// ---------------------------------------------------------------------------
// The consortium mix: the newer entry kinds.

/// Which entries a [`Workload`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// Only produce, dispatch, receive, reject and payment, exactly as the
    /// generator made them before the newer kinds: the same seed gives
    /// the same entries, byte for byte, as it always did. The default, for
    /// the tests whose models cover only these kinds.
    #[default]
    Classic,
    /// The classic traffic (the same shares of productions, dispatches,
    /// receipts, rejections and payments), with the newer kinds in the
    /// shares a consortium's traffic has them:
    ///
    /// - raw productions: 35% `ProduceV2` with a plot (a point up to 4 ha,
    ///   a polygon above), the harvest and a deforestation-free
    ///   declaration; processings: 20% `ProduceV2` with a work order;
    /// - dispatches: 30% `DispatchV2` shipping part of a lot, 40%
    ///   `DispatchV2` of whole lots, both with transport facts (bill of
    ///   lading, containers and seals, a vessel on sea legs) when a
    ///   carrier carries them, and 30% the first `Dispatch` (old clients:
    ///   old entries stay valid forever);
    /// - consignees' receipts: 5% `ReceiveV2` with a shortfall and its
    ///   cause, 20% `ReceiveV2` of everything with the arrival, the rest
    ///   the first `Receive` (carriers take over with `Receive`);
    /// - shipments a carrier has taken over: 21% of the times one comes
    ///   up for delivery, its carrier hands it over to a second carrier
    ///   (`Handover`, co-signed by the next carrier) instead, at most
    ///   once (so about 10% of shipments with a carrier);
    /// - deliveries: 12% get the consignee's `Readings` (24 hourly
    ///   temperatures from the data logger, 15% of them with an
    ///   excursion, 20% with the humidity too), so about 10% of
    ///   shipments;
    /// - every 1000th lot made (0.1%) is recalled (`Recall`, by its
    ///   producer, a few hundred entries later; one in five a market
    ///   withdrawal), and every third recall is lifted (`RecallLift`)
    ///   later;
    /// - every 200th dispatch (0.5%) is corrected by its sender right
    ///   after (`Correction` of the shipment, before anyone takes it
    ///   over), and its lots are dispatched again, to someone else.
    ///
    /// Readings, corrections and recalls are all by a member whose own
    /// earlier entries (or the shipment's existence) are all they depend
    /// on, so a network that reorders different authors' entries cannot
    /// invalidate them; a carrier's hand-over races with the consignee's
    /// receipt as the carrier's receipt does.
    ///
    /// The benchmark's mix (`waybill-bench --mix consortium`, its
    /// default).
    Consortium,
}

/// Percentage of raw productions that name their plot (`ProduceV2`).
const PLOTS_PERCENT: u64 = 35;
/// Percentage of processings recorded with a work order (`ProduceV2`).
const WORK_ORDER_PERCENT: u64 = 20;
/// Percentage of dispatches that ship part of a lot.
const PARTIAL_PERCENT: u64 = 30;
/// Percentage of dispatches of whole lots as `DispatchV2` (the rest of
/// the whole-lot dispatches are the first `Dispatch`).
const WHOLE_V2_PERCENT: u64 = 40;
/// Percentage of consignees' receipts with a shortfall.
const SHORTFALL_PERCENT: u64 = 5;
/// Percentage of consignees' receipts as a whole `ReceiveV2`.
const RECEIVE_V2_PERCENT: u64 = 20;
/// Percentage of the times a shipment with its carrier comes up for
/// delivery that the carrier hands it over instead.
const HANDOVER_PERCENT: u64 = 21;
/// Percentage of deliveries followed by the consignee's readings.
const READINGS_PERCENT: u64 = 12;
/// Percentage of readings with an excursion.
const EXCURSION_PERCENT: u64 = 15;
/// Readings per series (hourly: a day).
const READINGS_PER_SERIES: usize = 24;
/// Every this many lots made, one is recalled (at `RECALL_PHASE`).
const RECALL_EVERY: u64 = 1_000;
const RECALL_PHASE: u64 = 100;
/// Every this many recalls, one is lifted (the first, the fourth, ...).
const LIFT_EVERY: u64 = 3;
/// Every this many dispatches, one is corrected (at `CORRECT_PHASE`).
const CORRECT_EVERY: u64 = 200;
const CORRECT_PHASE: u64 = 37;

/// An entry planned by an earlier one.
#[derive(Debug, Clone)]
enum FollowUp {
    /// The consignee records the data logger's readings of a delivered
    /// shipment.
    Readings(ShipmentId),
    /// The sender corrects a dispatch nobody has taken over.
    Correct {
        dispatch: EntryId,
        shipment: ShipmentId,
    },
    /// The sender dispatches the lots of a corrected shipment again.
    Redispatch(ShipmentId),
    /// The lot's producer recalls it.
    Recall(LotId),
    /// The recall's author lifts it.
    Lift { recall: EntryId, lot: LotId },
}

/// The member of `c` with key `pk`.
fn party_of<'r, R: Roster + ?Sized>(c: &'r R, pk: &PublicKey) -> Result<&'r Party> {
    c.member(pk)
        .map(|(p, _)| p)
        .ok_or_else(|| internal(format!("{} is not a member", pk.short())))
}

/// The [`Produce`] in a body made by [`try_produce_body`].
fn produce_of(body: Body) -> Result<Produce> {
    match body {
        Body::Produce(p) => Ok(p),
        other => Err(internal(format!(
            "a {} body is not a production",
            other.kind()
        ))),
    }
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    /// The next follow-up that is due, if any.
    fn due(&mut self) -> Option<FollowUp> {
        if let Some(f) = self.pending.pop_front() {
            return Some(f);
        }
        let mut first = self.scheduled.first_entry()?;
        if *first.key() > self.made {
            return None;
        }
        let f = first.get_mut().pop();
        if first.get().is_empty() {
            first.remove();
        }
        f
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// The follow-ups `e` (with id `id`), just handed out, calls for.
    fn plan_follow_ups(&mut self, e: &SignedEntry, id: EntryId) -> Result<()> {
        match &e.entry.body {
            Body::Produce(Produce { lot, .. })
            | Body::ProduceV2(ProduceV2 {
                produce: Produce { lot, .. },
                ..
            }) => {
                if self.reserved_lots.contains(lot) {
                    return Ok(());
                }
                self.lots_made += 1;
                if self.lots_made % RECALL_EVERY == RECALL_PHASE {
                    let at = self.made + 300 + self.below(1_700);
                    self.scheduled
                        .entry(at)
                        .or_default()
                        .push(FollowUp::Recall(lot.clone()));
                }
            }
            Body::Dispatch(Dispatch { shipment, .. })
            | Body::DispatchV2(DispatchV2 { shipment, .. }) => {
                self.dispatches += 1;
                if self.dispatches % CORRECT_EVERY == CORRECT_PHASE {
                    self.pending.push_back(FollowUp::Correct {
                        dispatch: id,
                        shipment: shipment.clone(),
                    });
                }
            }
            Body::Receive(waybill_core::entry::Receive { shipment, .. })
            | Body::ReceiveV2(ReceiveV2 { shipment, .. }) => {
                let delivered = self
                    .state
                    .shipments
                    .get(shipment)
                    .is_some_and(|s| s.stage == ShipmentStage::Delivered);
                if delivered && self.chance(READINGS_PERCENT) {
                    self.pending.push_back(FollowUp::Readings(shipment.clone()));
                }
            }
            Body::Recall(r) => {
                self.recalls += 1;
                if self.recalls % LIFT_EVERY == 1 % LIFT_EVERY {
                    if let Some(lot) = r.lots.first() {
                        let at = self.made + 200 + self.below(1_000);
                        self.scheduled.entry(at).or_default().push(FollowUp::Lift {
                            recall: id,
                            lot: lot.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The entry a follow-up makes, or `None` if it no longer applies.
    fn follow_up(&mut self, f: FollowUp) -> Result<Option<SignedEntry>> {
        let c = self.c;
        match f {
            FollowUp::Readings(shipment) => {
                let Some(s) = self.state.shipments.get(&shipment) else {
                    return Ok(None);
                };
                let who = c
                    .member(&s.consignee)
                    .map(|(p, _)| p)
                    .ok_or_else(|| internal("the consignee is not a member"))?;
                let device = self.next_serial();
                // The logger ran for the day before the receipt.
                let start = T0 - 2 * facts::DAY_MS + (device % 1_000) as i64 * 60_000;
                let excursion = if self.chance(EXCURSION_PERCENT) {
                    Some((5 + self.below(12) as usize, 2 + self.below(3) as usize))
                } else {
                    None
                };
                let wobble = self.rng.next_u64();
                let mut series = vec![facts::temperatures(
                    device,
                    start,
                    READINGS_PER_SERIES,
                    wobble,
                    excursion,
                )?];
                if self.chance(20) {
                    series.push(facts::humidity(device, start, READINGS_PER_SERIES, wobble)?);
                }
                let body = Body::Readings(Readings { shipment, series });
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Correct { dispatch, shipment } => {
                let Some(s) = self.state.shipments.get(&shipment) else {
                    return Ok(None);
                };
                if s.stage != ShipmentStage::Dispatched || s.dispatched_by != dispatch {
                    return Ok(None);
                }
                let who = c
                    .member(&s.sender)
                    .map(|(p, _)| p)
                    .ok_or_else(|| internal("the sender is not a member"))?;
                let body = Body::Correction(Correction {
                    target: dispatch,
                    corrected: Corrected::Shipment(shipment.clone()),
                    reason: "dispatched to the wrong consignee".into(),
                    corrective: Vec::new(),
                });
                self.pending.push_front(FollowUp::Redispatch(shipment));
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Redispatch(old) => {
                let Some(s) = self.state.shipments.get(&old) else {
                    return Ok(None);
                };
                let (sender, wrong, carrier) = (s.sender, s.consignee, s.carrier);
                let lots: Vec<LotId> = s
                    .lots
                    .iter()
                    .filter(|l| {
                        self.state
                            .lots
                            .get(*l)
                            .is_some_and(|x| !x.held_by(&self.state, &sender).is_zero())
                    })
                    .cloned()
                    .collect();
                if lots.is_empty() {
                    return Ok(None);
                }
                let others: Vec<&Party> = handlers(c)
                    .filter(|p| p.pk != sender && p.pk != wrong)
                    .collect();
                if others.is_empty() {
                    return Ok(None);
                }
                let consignee = others[self.below(others.len() as u64) as usize];
                let carrier = carrier
                    .filter(|_| c.member(&consignee.pk).map(|(_, r)| r) != Some(Role::Carrier));
                let who = party_of(c, &sender)?;
                let id = self.fresh_shipment()?;
                let parts = lots
                    .into_iter()
                    .map(|lot| ShippedLot {
                        lot,
                        quantity: None,
                    })
                    .collect();
                let body = self.dispatch_v2(&id, parts, consignee, carrier)?;
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Recall(lot) => {
                let Some(l) = self.state.lots.get(&lot) else {
                    return Ok(None);
                };
                if l.voided_by.is_some() {
                    return Ok(None);
                }
                let Some((who, _)) = c.member(&l.producer) else {
                    return Ok(None);
                };
                let (class, reason) = if self.chance(20) {
                    (
                        RecallClass::Withdrawal,
                        "label misprint: the wrong origin on the bags",
                    )
                } else {
                    (
                        RecallClass::Recall,
                        "ochratoxin A above the limit in a retained sample",
                    )
                };
                let body = Body::Recall(Recall {
                    scope: format!("every bag of lot {lot}"),
                    lots: vec![lot],
                    class,
                    reason: reason.into(),
                    documents: Vec::new(),
                });
                Ok(Some(self.sign(who, body)))
            }
            FollowUp::Lift { recall, lot } => {
                let Some(l) = self.state.lots.get(&lot) else {
                    return Ok(None);
                };
                let Some(mark) = l.open_recalls().find(|m| m.recall == recall) else {
                    return Ok(None);
                };
                let Some((who, _)) = c.member(&mark.author) else {
                    return Ok(None);
                };
                let body = Body::RecallLift(RecallLift {
                    recall,
                    lots: vec![lot],
                    reason: "a second laboratory found the sample within the limit".into(),
                });
                Ok(Some(self.sign(who, body)))
            }
        }
    }

    /// A raw production's body with its plot and key data elements.
    fn with_plots(&mut self, body: Body) -> Result<Body> {
        let n = self.next_serial();
        let area_milli_ha = 500 + self.below(12_000);
        let dds = self.chance(60);
        let plots = facts::plot_facts(n, area_milli_ha, dds)?;
        let tlc_source = if self.chance(50) {
            Some(facts::place(2, true)?)
        } else {
            None
        };
        Ok(Body::ProduceV2(ProduceV2 {
            produce: produce_of(body)?,
            plots: Some(plots),
            kdes: waybill_core::entry::Kdes {
                reference_document: None,
                tlc_source,
            },
        }))
    }

    /// A dispatch of `lots` by `who`: part of some lots, whole lots in a
    /// `DispatchV2`, or the first `Dispatch` (see [`Mix::Consortium`]).
    fn consortium_dispatch(
        &mut self,
        who: &Party,
        id: &ShipmentId,
        lots: &[LotId],
        consignee: &Party,
        carrier: Option<PublicKey>,
    ) -> Result<Body> {
        let style = self.below(100);
        if style >= PARTIAL_PERCENT + WHOLE_V2_PERCENT {
            return Ok(dispatch_body(id, lots, &consignee.pk, carrier.as_ref()));
        }
        let mut parts = Vec::with_capacity(lots.len());
        for (i, lot) in lots.iter().enumerate() {
            let mut quantity = None;
            if style < PARTIAL_PERCENT && (i == 0 || self.chance(50)) {
                let l = self
                    .state
                    .lots
                    .get(lot)
                    .ok_or_else(|| internal(format!("held lot {lot} unknown")))?;
                let held = l.held_by(&self.state, &who.pk).milli();
                if held >= 2 {
                    let unit = l.unit;
                    quantity = Some(Quantity {
                        value: Decimal3::from_milli(1 + self.below(held - 1)),
                        unit,
                    });
                }
            }
            parts.push(ShippedLot {
                lot: lot.clone(),
                quantity,
            });
        }
        self.dispatch_v2(id, parts, consignee, carrier)
    }

    /// A `DispatchV2` body: places, and transport facts when a carrier
    /// carries it (a sea leg more often than not).
    fn dispatch_v2(
        &mut self,
        id: &ShipmentId,
        lots: Vec<ShippedLot>,
        consignee: &Party,
        carrier: Option<PublicKey>,
    ) -> Result<Body> {
        let n = self.next_serial();
        let gln = self.chance(50);
        let from = facts::place(n % 3, gln)?;
        let to = facts::place(3 + n % 3, gln)?;
        let departed = T0 - 10 * facts::DAY_MS + (n % 240) as i64 * facts::HOUR_MS;
        let (transport, kdes) = match carrier {
            Some(_) => {
                let containers = 1 + self.below(2);
                let sea = self.chance(60);
                (
                    facts::departing(n, containers, sea, departed)?,
                    facts::kdes(ReferenceDocumentType::BillOfLading, n, None),
                )
            }
            None => (
                waybill_core::transport::Transport {
                    departed_at_ms: Some(departed),
                    ..Default::default()
                },
                facts::kdes(ReferenceDocumentType::AdvanceShippingNotice, n, None),
            ),
        };
        Ok(Body::DispatchV2(DispatchV2 {
            shipment: id.clone(),
            lots,
            consignee: consignee.pk,
            carrier,
            from,
            to,
            documents: Vec::new(),
            transport,
            kdes,
        }))
    }

    /// A consignee's `ReceiveV2` of shipment `id` (with a shortfall, or
    /// whole with the arrival), or `None` for the first `Receive`.
    fn consortium_receipt(&mut self, id: &ShipmentId) -> Result<Option<Body>> {
        let style = self.below(100);
        if style >= SHORTFALL_PERCENT + RECEIVE_V2_PERCENT {
            return Ok(None);
        }
        let n = self.next_serial();
        let mut lots = Vec::new();
        if style < SHORTFALL_PERCENT {
            let in_it = self
                .state
                .shipments
                .get(id)
                .ok_or_else(|| internal(format!("shipment {id} unknown")))?
                .lots
                .clone();
            // A lot of which at least 0.002 is in the shipment, from a
            // random one on.
            let start = self.below(in_it.len() as u64) as usize;
            let part = (0..in_it.len())
                .filter_map(|k| in_it.get((start + k) % in_it.len()))
                .find_map(|l| {
                    let x = self.state.lots.get(l)?;
                    let h = x.in_shipment(id)?;
                    (h.quantity.milli() >= 2).then(|| (l.clone(), h.quantity.milli(), x.unit))
                });
            if let Some((lot, shipped, unit)) = part {
                let short = 1 + self.below((shipped / 20).max(1));
                let (cause, note) = match self.below(20) {
                    0..=9 => (LossCause::Shortage, None),
                    10..=15 => (LossCause::Damage, Some("bags torn in the container")),
                    16..=18 => (LossCause::Spoilage, Some("wet bags: condensation")),
                    _ => (LossCause::Theft, None),
                };
                lots.push(ReceivedLot {
                    lot,
                    received: Quantity {
                        value: Decimal3::from_milli(shipped - short),
                        unit,
                    },
                    shortfall: Some(Shortfall {
                        quantity: Quantity {
                            value: Decimal3::from_milli(short),
                            unit,
                        },
                        cause,
                        note: note.map(str::to_owned),
                    }),
                });
            }
        }
        Ok(Some(Body::ReceiveV2(ReceiveV2 {
            shipment: id.clone(),
            at: facts::place(3 + n % 3, false)?,
            documents: Vec::new(),
            lots,
            transport: facts::arriving(n, T0 - facts::DAY_MS + (n % 24) as i64 * facts::HOUR_MS),
            kdes: Default::default(),
        })))
    }

    /// The carrier `current` hands shipment `id` over to another carrier,
    /// who co-signs.
    fn handover(&mut self, id: &ShipmentId, current: &PublicKey) -> Result<SignedEntry> {
        let c = self.c;
        let carriers = c.carriers();
        let others: Vec<&Party> = carriers.iter().filter(|p| &p.pk != current).collect();
        if others.is_empty() {
            return Err(internal("a hand-over needs a second carrier"));
        }
        let next = others[self.below(others.len() as u64) as usize];
        let who = party_of(c, current)?;
        let n = self.next_serial();
        let departed = T0 - 5 * facts::DAY_MS + (n % 48) as i64 * facts::HOUR_MS;
        let body = Body::Handover(Handover {
            shipment: id.clone(),
            to: next.pk,
            at: facts::place(n % 2, true)?,
            transport: facts::departing(n, 1, true, departed)?,
            documents: Vec::new(),
        });
        let mut e = self.sign(who, body);
        e.cosign(&next.key);
        self.handed_over.insert(id.clone());
        Ok(e)
    }
}

/// A name for each body, telling the versions apart: `produce`,
/// `produce_v2`, `dispatch`, `dispatch_v2`, `receive`, `receive_v2`,
/// `reject`, `payment`, `membership`, `handover`, `readings`, `recall`,
/// `recall_lift`, `correction`.
pub fn kind_label(body: &Body) -> &'static str {
    match body {
        Body::Produce(_) => "produce",
        Body::Dispatch(_) => "dispatch",
        Body::Receive(_) => "receive",
        Body::Reject(_) => "reject",
        Body::Payment(_) => "payment",
        Body::Membership(_) => "membership",
        Body::ProduceV2(_) => "produce_v2",
        Body::DispatchV2(_) => "dispatch_v2",
        Body::ReceiveV2(_) => "receive_v2",
        Body::Handover(_) => "handover",
        Body::Readings(_) => "readings",
        Body::Recall(_) => "recall",
        Body::RecallLift(_) => "recall_lift",
        Body::Correction(_) => "correction",
    }
}

/// How many of `entries` there are of each kind ([`kind_label`]).
pub fn count_kinds<'a>(
    entries: impl IntoIterator<Item = &'a SignedEntry>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for e in entries {
        *counts.entry(kind_label(&e.entry.body)).or_default() += 1;
    }
    counts
}
