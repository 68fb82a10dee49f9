//! The committed state and the lookup indexes, held compactly in memory.
//!
//! A ledger of a million entries holds hundreds of thousands of lots and
//! shipments. Kept as [`State`]'s ordered maps of decoded values, every lot
//! id is stored twice (state and index) as two heap strings, every key as
//! 32 bytes per reference, and every lookup compares strings down a
//! B-tree. Here instead:
//!
//! - lot and shipment ids are interned: each canonical id string is stored
//!   once in an arena and numbered in the order it first appears, and a
//!   hash table over the numbers finds an id without allocating (see
//!   `intern.rs`);
//! - member keys are numbered the same way, so a lot or shipment refers to
//!   its holders with 4-byte numbers;
//! - lots and shipments live in vectors indexed by their number, beside
//!   their index entries (positions packed into one `u64` each; the
//!   records are in `compact.rs`): a lot's holdings name their shipments,
//!   and its inputs their lots, by number too, and what few lots have
//!   (inputs, recalls, losses, a voiding correction) sits behind one
//!   pointer that is empty for the rest; likewise a shipment keeps its
//!   latest custody step as an entry id and a key number, with a
//!   receipt's quantities and a correction behind one pointer, and its
//!   readings entries behind another.
//!
//! [`View`] hands out owned values rebuilt from this form, so the rules run
//! unchanged over it. Numbering depends only on the order of commits, so
//! the same blocks always give the same structure: [`Committed`]'s
//! equality, which the integrity check relies on, compares it directly.
//! Its snapshot form is in `persist.rs`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use waybill_core::codec;
use waybill_core::codes::{Decimal3, Uetr};
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::{ChainId, Genesis, YieldRule};
use waybill_core::governance::Council;
use waybill_core::gs1::{CompanyPrefix, LotId, ShipmentId};
use waybill_core::state::{
    active_admins_in, active_member_named_in, prefix_overlapping_in, Changes, Holding, LatestStep,
    LotState, MemberRecord, PaymentState, PrefixIndex, ReadingsMark, RecallMark, ShipmentState,
    State, StepLot, View,
};

use crate::compact::{
    positions, Lot, LotRest, Pay, Ship, ShipRest, Step, StepRest, NO_KEY, NO_SHIP,
};
use crate::index::{IndexDelta, Position};
use crate::intern::Names;

/// The committed state and indexes (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub(crate) chain_id: ChainId,
    /// The admin quorum, validators and scheduled governance (few).
    pub(crate) council: Council,
    /// Mass-balance rules, from the genesis (not in a snapshot: whoever
    /// loads one has the genesis at hand).
    pub(crate) yields: Vec<YieldRule>,
    /// Members by key, active or not (few, so kept as they are).
    pub members: BTreeMap<PublicKey, MemberRecord>,
    /// Their GS1 company prefixes, indexed (rebuilt when they change).
    pub(crate) prefixes: PrefixIndex,
    pub(crate) nonces: HashMap<PublicKey, u64>,
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) key_numbers: HashMap<PublicKey, u32>,
    pub(crate) lot_names: Names,
    pub(crate) lots: Vec<Lot>,
    pub(crate) lot_positions: Vec<Vec<u64>>,
    pub(crate) lot_count: usize,
    /// Input lot → lots made from it.
    pub(crate) made_from: HashMap<u32, Vec<u32>>,
    pub(crate) ship_names: Names,
    pub(crate) ships: Vec<Ship>,
    pub(crate) ship_positions: Vec<Vec<u64>>,
    pub(crate) ship_count: usize,
    pub(crate) payments: HashMap<Uetr, Pay>,
    pub(crate) payment_positions: HashMap<Uetr, Vec<u64>>,
    pub(crate) author_positions: HashMap<PublicKey, Vec<u64>>,
    pub(crate) membership: Vec<u64>,
}

/// How many of each thing the state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Active members.
    pub members: usize,
    /// Lots.
    pub lots: usize,
    /// Shipments.
    pub shipments: usize,
    /// Payments.
    pub payments: usize,
}

impl Committed {
    /// The state before the first block.
    pub fn genesis(genesis: &Genesis) -> Self {
        Committed::starting_from(State::genesis(genesis))
    }

    /// An empty structure with `s`'s chain, threshold, yield rules and
    /// members (the rest of `s` is expected empty).
    fn starting_from(s: State) -> Self {
        Committed {
            chain_id: s.chain_id,
            council: s.council,
            yields: s.yields,
            prefixes: PrefixIndex::build(&s.members),
            members: s.members,
            nonces: HashMap::new(),
            keys: Vec::new(),
            key_numbers: HashMap::new(),
            lot_names: Names::default(),
            lots: Vec::new(),
            lot_positions: Vec::new(),
            lot_count: 0,
            made_from: HashMap::new(),
            ship_names: Names::default(),
            ships: Vec::new(),
            ship_positions: Vec::new(),
            ship_count: 0,
            payments: HashMap::new(),
            payment_positions: HashMap::new(),
            author_positions: HashMap::new(),
            membership: Vec::new(),
        }
    }

    fn key(&self, n: u32) -> Option<PublicKey> {
        self.keys.get(n as usize).copied()
    }

    fn lot_id(&self, n: u32) -> Option<LotId> {
        self.lot_names.name(n).parse().ok()
    }

    fn ship_id(&self, n: u32) -> Option<ShipmentId> {
        self.ship_names.name(n).parse().ok()
    }

    /// The lot of number `n`, if it names one.
    pub(crate) fn lot_named(&self, n: usize) -> Option<LotId> {
        self.lot_id(u32::try_from(n).ok()?)
    }

    /// The shipment of number `n`, if it names one.
    pub(crate) fn ship_named(&self, n: usize) -> Option<ShipmentId> {
        self.ship_id(u32::try_from(n).ok()?)
    }

    /// Folds in block `height`: its state changes, then its index
    /// additions (planned, then installed: see `delta.rs`). Every path
    /// that builds this structure (commit, opening, the integrity check)
    /// goes through [`Committed::plan`], so numbering agrees.
    pub(crate) fn apply(&mut self, height: u64, changes: &Changes, index: &IndexDelta) {
        let delta = self.plan(height, changes, index);
        // Planned on this very state, so it follows it: never refused.
        let installed = self.install(delta);
        debug_assert!(installed.is_ok(), "{installed:?}");
    }

    /// How many of each thing there are.
    pub fn counts(&self) -> Counts {
        Counts {
            members: self.members.values().filter(|m| m.active()).count(),
            lots: self.lot_count,
            shipments: self.ship_count,
            payments: self.payments.len(),
        }
    }

    /// Whether a lot exists.
    pub fn has_lot(&self, id: &LotId) -> bool {
        self.lot_names
            .find(id.as_str())
            .and_then(|n| self.lots.get(n as usize))
            .is_some_and(Lot::present)
    }

    /// The lot a record holds; `None` if it holds none, or names a key,
    /// shipment or lot this structure does not have.
    fn lot_state(&self, l: &Lot) -> Option<LotState> {
        if !l.present() {
            return None;
        }
        let holdings = l
            .holdings
            .iter()
            .map(|h| {
                Some(Holding {
                    holder: self.key(h.holder)?,
                    shipment: match h.shipment {
                        NO_SHIP => None,
                        s => Some(self.ship_id(s)?),
                    },
                    quantity: Decimal3::from_milli(h.milli),
                })
            })
            .collect::<Option<_>>()?;
        let mut lot = LotState {
            producer: self.key(l.producer)?,
            unit: l.unit,
            produced_by: l.produced_by,
            produced: Decimal3::from_milli(l.produced),
            holdings,
            consumed: Decimal3::ZERO,
            lost: Decimal3::ZERO,
            inputs: Vec::new(),
            recalls: Vec::new(),
            excursions: 0,
            voided_by: None,
        };
        if let Some(rest) = &l.rest {
            lot.consumed = Decimal3::from_milli(rest.consumed);
            lot.lost = Decimal3::from_milli(rest.lost);
            lot.inputs = rest
                .inputs
                .iter()
                .map(|(n, q)| Some((self.lot_id(*n)?, Decimal3::from_milli(*q))))
                .collect::<Option<_>>()?;
            lot.recalls = rest
                .recalls
                .iter()
                .map(|r| {
                    Some(RecallMark {
                        recall: r.recall,
                        author: self.key(r.author)?,
                        class: r.class,
                        lifted: r.lifted,
                    })
                })
                .collect::<Option<_>>()?;
            lot.excursions = rest.excursions;
            lot.voided_by = rest.voided_by;
        }
        Some(lot)
    }

    fn ship_state(&self, s: &Ship) -> Option<ShipmentState> {
        Some(ShipmentState {
            sender: self.key(s.sender)?,
            consignee: self.key(s.consignee)?,
            carrier: match s.carrier {
                NO_KEY => None,
                c => Some(self.key(c)?),
            },
            lots: s
                .lots
                .iter()
                .map(|n| self.lot_id(*n))
                .collect::<Option<_>>()?,
            stage: s.stage?,
            dispatched_by: s.dispatched_by,
            latest_step: match &s.step {
                None => None,
                Some(x) => Some(self.step_state(x)?),
            },
            readings: match &s.rest {
                None => Vec::new(),
                Some(r) => r
                    .readings
                    .iter()
                    .map(|m| {
                        Some(ReadingsMark {
                            entry: m.entry,
                            author: self.key(m.author)?,
                            excursions: m.excursions,
                            corrected_by: m.corrected_by,
                        })
                    })
                    .collect::<Option<_>>()?,
            },
        })
    }

    fn step_state(&self, x: &Step) -> Option<LatestStep> {
        let rest = match &x.rest {
            None => None,
            Some(r) => Some(Box::new(waybill_core::state::StepRest {
                lots: r
                    .lots
                    .iter()
                    .map(|(n, received, lost)| {
                        Some(StepLot {
                            lot: self.lot_id(*n)?,
                            received: Decimal3::from_milli(*received),
                            lost: Decimal3::from_milli(*lost),
                        })
                    })
                    .collect::<Option<_>>()?,
                corrected_by: r.corrected_by,
            })),
        };
        Some(LatestStep {
            entry: x.entry,
            kind: x.kind,
            from: self.key(x.from)?,
            rest,
        })
    }

    fn pay_state(&self, p: &Pay) -> Option<PaymentState> {
        Some(PaymentState {
            payer: self.key(p.payer)?,
            payee: self.key(p.payee)?,
            recorded_by: p.recorded_by,
            corrected_by: p.corrected_by,
            terms: p.terms,
            confirmed_by: p.confirmed_by,
        })
    }

    /// Positions of the entries that touched a lot, in chain order.
    pub fn by_lot(&self, lot: &LotId) -> Vec<Position> {
        self.lot_names
            .find(lot.as_str())
            .and_then(|n| self.lot_positions.get(n as usize))
            .map_or_else(Vec::new, |v| positions(v))
    }

    /// Positions of the entries that named a shipment.
    pub fn by_shipment(&self, s: &ShipmentId) -> Vec<Position> {
        self.ship_names
            .find(s.as_str())
            .and_then(|n| self.ship_positions.get(n as usize))
            .map_or_else(Vec::new, |v| positions(v))
    }

    /// Positions of the entries that recorded a payment.
    pub fn by_payment(&self, p: &Uetr) -> Vec<Position> {
        self.payment_positions
            .get(p)
            .map_or_else(Vec::new, |v| positions(v))
    }

    /// Positions of an author's entries.
    pub fn by_author(&self, a: &PublicKey) -> Vec<Position> {
        self.author_positions
            .get(a)
            .map_or_else(Vec::new, |v| positions(v))
    }

    /// Positions of the membership changes.
    pub fn membership(&self) -> Vec<Position> {
        positions(&self.membership)
    }

    /// Lots made directly from `lot`, in id order.
    pub fn made_from(&self, lot: &LotId) -> Vec<LotId> {
        let mut out: Vec<LotId> = self
            .lot_names
            .find(lot.as_str())
            .and_then(|n| self.made_from.get(&n))
            .into_iter()
            .flatten()
            .filter_map(|m| self.lot_id(*m))
            .collect();
        out.sort();
        out
    }

    /// The same state as ordered maps of decoded values (for tests,
    /// digests and diagnostics; it costs a copy of everything).
    pub fn to_state(&self) -> State {
        let mut state = State {
            chain_id: self.chain_id,
            council: self.council.clone(),
            yields: self.yields.clone(),
            members: self.members.clone(),
            nonces: self.nonces.iter().map(|(k, v)| (*k, *v)).collect(),
            lots: BTreeMap::new(),
            shipments: BTreeMap::new(),
            payments: BTreeMap::new(),
        };
        for (n, l) in self.lots.iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if let (Some(id), Some(s)) = (self.lot_id(n), self.lot_state(l)) {
                state.lots.insert(id, s);
            }
        }
        for (n, s) in self.ships.iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if let (Some(id), Some(s)) = (self.ship_id(n), self.ship_state(s)) {
                state.shipments.insert(id, s);
            }
        }
        for (id, p) in &self.payments {
            if let Some(p) = self.pay_state(p) {
                state.payments.insert(*id, p);
            }
        }
        state
    }

    /// A digest of the state and indexes: SHA-256 of their canonical
    /// snapshot encoding. Equal ledgers give equal digests; it is not
    /// comparable with [`State::digest`] (compare [`Committed::to_state`]
    /// for that, which costs a full copy).
    pub fn digest(&self) -> waybill_core::crypto::Hash32 {
        waybill_core::crypto::Hash32::digest(&codec::encode(&self.stored()))
    }

    /// Whether every number refers to something (checked when loading a
    /// snapshot, so no lookup can go astray later).
    pub(crate) fn well_formed(&self) -> Result<(), String> {
        let (lots, ships) = (self.lot_names.len(), self.ship_names.len());
        if self.key_numbers.len() != self.keys.len() {
            return Err("a key is listed twice".into());
        }
        if self.lots.len() != lots || self.lot_positions.len() != lots {
            return Err("its lot tables differ in length".into());
        }
        if self.ships.len() != ships || self.ship_positions.len() != ships {
            return Err("its shipment tables differ in length".into());
        }
        for n in 0..lots {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if self.lot_id(n).is_none() {
                return Err(format!(
                    "lot id {:?} does not parse",
                    self.lot_names.name(n)
                ));
            }
        }
        for n in 0..ships {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if self.ship_id(n).is_none() {
                return Err(format!(
                    "shipment id {:?} does not parse",
                    self.ship_names.name(n)
                ));
            }
        }
        if self
            .lots
            .iter()
            .any(|l| l.rest.as_deref().is_some_and(LotRest::is_empty))
        {
            return Err("a lot stores its rarely used fields though all are empty".into());
        }
        if self.ships.iter().any(|s| {
            s.step
                .as_ref()
                .and_then(|x| x.rest.as_deref())
                .is_some_and(StepRest::is_empty)
                || s.rest.as_deref().is_some_and(ShipRest::is_empty)
        }) {
            return Err(
                "a shipment or its custody step stores its rarely used fields though all are empty"
                    .into(),
            );
        }
        let lots_ok = self
            .lots
            .iter()
            .all(|l| !l.present() || self.lot_state(l).is_some());
        let ships_ok = self
            .ships
            .iter()
            .all(|s| s.stage.is_none() || self.ship_state(s).is_some());
        let pays_ok = self.payments.values().all(|p| self.pay_state(p).is_some());
        let made_ok = self
            .made_from
            .iter()
            .all(|(i, m)| (*i as usize) < lots && m.iter().all(|m| (*m as usize) < lots));
        if !(lots_ok && ships_ok && pays_ok && made_ok) {
            return Err("it refers to a key, lot or shipment it does not hold".into());
        }
        Ok(())
    }
}

impl View for Committed {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    fn council(&self) -> &Council {
        &self.council
    }
    fn yields(&self) -> &[YieldRule] {
        &self.yields
    }
    fn member(&self, key: &PublicKey) -> Option<&MemberRecord> {
        self.members.get(key)
    }
    fn active_admins(&self) -> BTreeSet<PublicKey> {
        active_admins_in(&self.members)
    }
    fn active_member_named(&self, name: &str) -> Option<PublicKey> {
        active_member_named_in(&self.members, name)
    }
    fn prefix_owner(&self, digits: &str) -> Option<&MemberRecord> {
        self.prefixes.owner(&self.members, digits)
    }
    fn prefix_overlapping(&self, prefix: &CompanyPrefix) -> Option<&MemberRecord> {
        prefix_overlapping_in(&self.members, prefix)
    }
    fn nonce(&self, key: &PublicKey) -> u64 {
        self.nonces.get(key).copied().unwrap_or(0)
    }
    fn lot(&self, id: &LotId) -> Option<Cow<'_, LotState>> {
        let n = self.lot_names.find(id.as_str())?;
        self.lot_state(self.lots.get(n as usize)?).map(Cow::Owned)
    }
    fn shipment(&self, id: &ShipmentId) -> Option<Cow<'_, ShipmentState>> {
        let n = self.ship_names.find(id.as_str())?;
        self.ship_state(self.ships.get(n as usize)?).map(Cow::Owned)
    }
    fn payment(&self, id: &Uetr) -> Option<Cow<'_, PaymentState>> {
        self.pay_state(self.payments.get(id)?).map(Cow::Owned)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compact::{pack, unpack};
    use waybill_core::codes::UnitCode;
    use waybill_core::crypto::Hash32;
    use waybill_core::state::{ShipmentStage, StepKind};

    pub(crate) fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }
    pub(crate) fn lot(s: &str) -> LotId {
        s.parse().expect("a lot id")
    }
    /// A GS1 lot whose canonical form escapes a parenthesis.
    fn gs1_lot() -> LotId {
        let gtin = "09506000134352".parse().expect("a GTIN");
        LotId::batch(gtin, "A(B)").expect("a batch lot")
    }
    fn ship(s: &str) -> ShipmentId {
        s.parse().expect("a shipment id")
    }
    fn uetr() -> Uetr {
        "7b1e9a4c-2f3d-4e5a-9b6c-1d2e3f4a5b6c"
            .parse()
            .expect("a v4 UUID")
    }
    pub(crate) fn sample_yields() -> Vec<YieldRule> {
        vec![YieldRule {
            member: Some("roaster".into()),
            product: None,
            min: Decimal3::from_milli(780),
            max: Decimal3::from_milli(900),
        }]
    }
    fn empty() -> State {
        State {
            chain_id: Hash32([9; 32]),
            council: Council {
                admin_threshold: None,
                validators: Vec::new(),
                scheduled: BTreeMap::new(),
                revocations: BTreeMap::new(),
                lapsed: Vec::new(),
                node_keys: BTreeMap::new(),
            },
            yields: sample_yields(),
            members: BTreeMap::new(),
            nonces: BTreeMap::new(),
            lots: BTreeMap::new(),
            shipments: BTreeMap::new(),
            payments: BTreeMap::new(),
        }
    }
    fn holding(holder: u8, shipment: Option<&str>, milli: u64) -> Holding {
        Holding {
            holder: key(holder),
            shipment: shipment.map(ship),
            quantity: Decimal3::from_milli(milli),
        }
    }

    /// Two blocks' worth: a GS1 lot and two free ones (one a prefix of
    /// another), a shipment with a carrier, a payment; then a lot made
    /// from another, split, recalled and with losses, a voided lot, and
    /// the payment corrected.
    /// Two blocks' changes and index additions, between them every kind
    /// of record and rare field.
    pub(crate) fn sample_blocks() -> Vec<(u64, Changes, IndexDelta)> {
        let gs1 = gs1_lot();
        let mut first = Changes::default();
        first.nonces.insert(key(2), 3);
        for (id, holdings, consumed) in [
            (lot("LOT-1"), vec![holding(2, Some("S-1"), 1500)], 0),
            (lot("LOT-12"), vec![holding(2, None, 1500)], 0),
            (gs1.clone(), vec![], 1500),
        ] {
            first.lots.insert(
                id,
                LotState {
                    holdings,
                    consumed: Decimal3::from_milli(consumed),
                    ..LotState::new(
                        key(1),
                        UnitCode::Kgm,
                        Decimal3::from_milli(1500),
                        Hash32([7; 32]),
                    )
                },
            );
        }
        first.shipments.insert(
            ship("S-1"),
            ShipmentState {
                sender: key(2),
                consignee: key(3),
                carrier: Some(key(4)),
                lots: vec![lot("LOT-1"), gs1.clone()],
                stage: ShipmentStage::WithCarrier,
                dispatched_by: Hash32([5; 32]),
                readings: vec![ReadingsMark {
                    entry: Hash32([3; 32]),
                    author: key(10),
                    excursions: 2,
                    corrected_by: Some(Hash32([2; 32])),
                }],
                latest_step: Some(LatestStep::new(
                    Hash32([6; 32]),
                    StepKind::TakeOver,
                    key(2),
                    vec![StepLot {
                        lot: gs1.clone(),
                        received: Decimal3::from_milli(1400),
                        lost: Decimal3::from_milli(100),
                    }],
                )),
            },
        );
        first.shipments.insert(
            ship("S-3"),
            ShipmentState {
                sender: key(4),
                consignee: key(8),
                carrier: Some(key(4)),
                lots: vec![lot("LOT-1")],
                stage: ShipmentStage::Delivered,
                dispatched_by: Hash32([5; 32]),
                readings: Vec::new(),
                latest_step: Some(LatestStep::new(
                    Hash32([7; 32]),
                    StepKind::Handover,
                    key(9),
                    Vec::new(),
                )),
            },
        );
        let first_index = IndexDelta {
            lots: vec![(lot("LOT-1"), vec![0, 1]), (gs1.clone(), vec![2])],
            shipments: vec![(ship("S-1"), vec![1])],
            authors: vec![(key(2), vec![0, 1, 2])],
            made_from: vec![(gs1.clone(), lot("LOT-12"))],
            membership: vec![0],
            ..IndexDelta::default()
        };
        let mut second = Changes::default();
        second.payments.insert(
            uetr(),
            PaymentState {
                payer: key(3),
                payee: key(2),
                recorded_by: Hash32([8; 32]),
                corrected_by: Some(Hash32([4; 32])),
                terms: Some(Hash32([5; 32])),
                confirmed_by: Some(Hash32([6; 32])),
            },
        );
        second.lots.insert(
            lot("LOT-12"),
            LotState {
                producer: key(1),
                unit: UnitCode::Kgm,
                produced_by: Hash32([6; 32]),
                produced: Decimal3::from_milli(10),
                holdings: vec![holding(3, None, 2), holding(4, Some("S-2"), 3)],
                consumed: Decimal3::from_milli(1),
                lost: Decimal3::from_milli(4),
                inputs: vec![(gs1.clone(), Decimal3::from_milli(1500))],
                recalls: vec![RecallMark {
                    recall: Hash32([3; 32]),
                    author: key(6),
                    class: waybill_core::entry::RecallClass::Recall,
                    lifted: true,
                }],
                excursions: 2,
                voided_by: None,
            },
        );
        second.lots.insert(
            lot("VOID-1"),
            LotState {
                holdings: Vec::new(),
                voided_by: Some(Hash32([2; 32])),
                ..LotState::new(
                    key(7),
                    UnitCode::Kgm,
                    Decimal3::from_milli(9),
                    Hash32([1; 32]),
                )
            },
        );
        // A receipt corrected: its quantities gone, the correction kept.
        second.shipments.insert(
            ship("S-4"),
            ShipmentState {
                sender: key(2),
                consignee: key(3),
                carrier: None,
                lots: vec![lot("LOT-12")],
                stage: ShipmentStage::Dispatched,
                dispatched_by: Hash32([5; 32]),
                readings: Vec::new(),
                latest_step: Some(LatestStep {
                    entry: Hash32([8; 32]),
                    kind: StepKind::ReceiptFromSender,
                    from: key(2),
                    rest: Some(Box::new(waybill_core::state::StepRest {
                        lots: Vec::new(),
                        corrected_by: Some(Hash32([9; 32])),
                    })),
                }),
            },
        );
        let second_index = IndexDelta {
            lots: vec![(lot("LOT-12"), vec![0])],
            payments: vec![(uetr(), vec![1])],
            authors: vec![(key(3), vec![0, 1])],
            made_from: vec![(gs1, lot("LOT-12"))],
            ..IndexDelta::default()
        };
        vec![(4, first, first_index), (5, second, second_index)]
    }

    /// The structure of [`sample_blocks`] applied in turn, and the state
    /// it holds.
    pub(crate) fn sample() -> (Committed, State) {
        let mut c = Committed::starting_from(empty());
        let mut s = empty();
        for (height, changes, index) in sample_blocks() {
            c.apply(height, &changes, &index);
            s.commit(changes);
        }
        (c, s)
    }

    /// The structure before the sample's blocks.
    pub(crate) fn sample_start() -> Committed {
        Committed::starting_from(empty())
    }

    #[test]
    fn the_view_answers_as_the_state_it_was_built_from() {
        let (c, s) = sample();
        for (id, l) in &s.lots {
            assert_eq!(c.lot(id).as_deref(), Some(l), "{id}");
            assert!(c.has_lot(id));
        }
        for (id, x) in &s.shipments {
            assert_eq!(c.shipment(id).as_deref(), Some(x), "{id}");
        }
        assert_eq!(c.payment(&uetr()).as_deref(), s.payments.get(&uetr()));
        assert_eq!(c.nonce(&key(2)), 3);
        assert_eq!(c.nonce(&key(3)), 0);
        // Prefixes and extensions of stored ids are different ids.
        for other in ["LOT", "LOT-", "LOT-123", "LOT-2"] {
            assert!(c.lot(&lot(other)).is_none(), "{other}");
            assert!(!c.has_lot(&lot(other)));
        }
        assert!(c.shipment(&ship("S-")).is_none());
        assert_eq!(c.to_state(), s);
        assert_eq!(
            c.counts(),
            Counts {
                members: 0,
                lots: 4,
                shipments: 3,
                payments: 1
            }
        );
    }

    #[test]
    fn the_indexes_list_positions_in_chain_order() {
        let (c, _) = sample();
        let gs1 = gs1_lot();
        assert_eq!(c.by_lot(&lot("LOT-1")), vec![(4, 0), (4, 1)]);
        assert_eq!(c.by_lot(&lot("LOT-12")), vec![(5, 0)]);
        assert_eq!(c.by_lot(&gs1), vec![(4, 2)]);
        assert_eq!(c.by_lot(&lot("LOT-9")), vec![]);
        assert_eq!(c.by_shipment(&ship("S-1")), vec![(4, 1)]);
        assert_eq!(c.by_payment(&uetr()), vec![(5, 1)]);
        assert_eq!(c.by_author(&key(2)), vec![(4, 0), (4, 1), (4, 2)]);
        assert_eq!(c.by_author(&key(3)), vec![(5, 0), (5, 1)]);
        assert_eq!(c.membership(), vec![(4, 0)]);
        // The same pair twice is listed once.
        assert_eq!(c.made_from(&gs1), vec![lot("LOT-12")]);
        assert_eq!(c.made_from(&lot("LOT-1")), Vec::<LotId>::new());
        let far = pack(u64::from(u32::MAX) * 16, (1 << 20) - 1);
        assert_eq!(unpack(far), (u64::from(u32::MAX) * 16, (1 << 20) - 1));
    }
}
