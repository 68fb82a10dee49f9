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
//!   hash table over the numbers finds an id without allocating;
//! - member keys are numbered the same way, so a lot or shipment refers to
//!   its holders with 4-byte numbers;
//! - lots and shipments live in vectors indexed by their number, beside
//!   their index entries (positions packed into one `u64` each).
//!
//! [`View`] hands out owned values rebuilt from this form, so the rules run
//! unchanged over it. Numbering depends only on the order of commits, so
//! the same blocks always give the same structure: [`Committed`]'s
//! equality, which the integrity check relies on, compares it directly.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use waybill_core::codec;
use waybill_core::codes::{Decimal3, Uetr, UnitCode};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::EntryId;
use waybill_core::genesis::{ChainId, Genesis};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::state::{
    active_admins_in, active_member_named_in, Changes, LotState, LotStatus, MemberRecord,
    PaymentState, ShipmentStage, ShipmentState, State, View,
};

use crate::index::{IndexDelta, Position};

/// Bits of a packed position that hold the entry's index in its block.
/// Genesis caps a block at `MAX_BLOCK_ENTRIES` (2^20), below 2^24.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

fn pack(height: u64, index: u32) -> u64 {
    (height << INDEX_BITS) | (u64::from(index) & INDEX_MASK)
}

fn unpack(p: u64) -> Position {
    // The mask keeps the value below 2^24, so it always fits.
    (p >> INDEX_BITS, (p & INDEX_MASK) as u32)
}

/// A slot's text in `arena` (empty if out of range, which a loaded
/// snapshot is checked never to be).
fn slot_text<'a>(arena: &'a str, slot: &Slot) -> &'a str {
    usize::try_from(slot.start)
        .ok()
        .and_then(|s| arena.get(s..s.saturating_add(slot.len as usize)))
        .unwrap_or("")
}

/// Canonical id strings, numbered in order of first appearance.
#[derive(Debug, Clone, Default)]
struct Names {
    arena: String,
    /// Where each name ends in the arena.
    ends: Vec<u64>,
    table: HashTable<Slot>,
    hasher: RandomState,
}

/// A name in the hash table: its number, and where it lies in the arena,
/// so a probe compares text without reading `ends` (a cache miss on a
/// large ledger, on the in-order path of every check and commit).
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u64,
    n: u32,
    len: u32,
}

impl Slot {
    /// Whether this slot's name is `text`.
    fn holds(&self, arena: &str, text: &str) -> bool {
        self.len as usize == text.len()
            && usize::try_from(self.start)
                .ok()
                .and_then(|s| arena.get(s..s.saturating_add(text.len())))
                == Some(text)
    }
}

impl Names {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Name `n`; empty if out of range (which a loaded snapshot is
    /// checked never to be).
    fn name(&self, n: u32) -> &str {
        slot_text(&self.arena, &self.slot(n))
    }

    fn hash_str(hasher: &RandomState, s: &str) -> u64 {
        let mut h = hasher.build_hasher();
        h.write(s.as_bytes());
        h.finish()
    }

    fn find_text(&self, text: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |slot| slot.holds(&self.arena, text))
            .map(|slot| slot.n)
    }

    /// Name `n`'s slot.
    fn slot(&self, n: u32) -> Slot {
        let end = self.ends.get(n as usize).copied().unwrap_or(0);
        let start = match (n as usize).checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
            None => 0,
        };
        Slot {
            start,
            n,
            len: u32::try_from(end.saturating_sub(start)).unwrap_or(u32::MAX),
        }
    }

    fn find(&self, text: &str) -> Option<u32> {
        self.find_text(text, Names::hash_str(&self.hasher, text))
    }

    fn intern(&mut self, text: &str) -> u32 {
        let hash = Names::hash_str(&self.hasher, text);
        if let Some(n) = self.find_text(text, hash) {
            return n;
        }
        let n = u32::try_from(self.ends.len()).unwrap_or(u32::MAX);
        self.arena.push_str(text);
        self.ends.push(self.arena.len() as u64);
        let slot = self.slot(n);
        let Names {
            arena,
            table,
            hasher,
            ..
        } = self;
        let (arena, hasher) = (&*arena, &*hasher);
        table.insert_unique(hash, slot, |m| Names::hash_str(hasher, slot_text(arena, m)));
        n
    }

    /// Rebuilds the hash table (after loading arena and ends). Returns
    /// whether every name is distinct.
    fn rebuild(&mut self) -> bool {
        let mut table = HashTable::with_capacity(self.ends.len());
        let mut distinct = true;
        for n in 0..self.ends.len() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let name = self.name(n);
            let hash = Names::hash_str(&self.hasher, name);
            if table
                .find(hash, |m: &Slot| m.holds(&self.arena, name))
                .is_some()
            {
                distinct = false;
            }
            table.insert_unique(hash, self.slot(n), |m| {
                Names::hash_str(&self.hasher, slot_text(&self.arena, m))
            });
        }
        self.table = table;
        distinct
    }

    /// Whether the ends are in order, within the arena and on character
    /// boundaries, and no name repeats (checked when loading a snapshot).
    fn well_formed(&self) -> bool {
        let mut start = 0u64;
        for &end in &self.ends {
            let ok =
                end >= start && usize::try_from(end).is_ok_and(|e| self.arena.is_char_boundary(e));
            if !ok {
                return false;
            }
            start = end;
        }
        start == self.arena.len() as u64
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Self) -> bool {
        self.arena == other.arena && self.ends == other.ends
    }
}

impl Eq for Names {}

/// No lot (a number only the index has used).
const ABSENT: u32 = 0;
const HELD: u32 = 1;
const CONSUMED: u32 = 2;
/// `IN_TRANSIT + n`: in shipment number `n`.
const IN_TRANSIT: u32 = 3;

/// No carrier.
const NO_KEY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Lot {
    producer: u32,
    custodian: u32,
    status: u32,
    unit: UnitCode,
    /// In thousandths: a snapshot writes every lot's, so not as text.
    #[serde(with = "milli")]
    remaining: Decimal3,
    produced_by: EntryId,
}

/// A quantity as its count of thousandths.
mod milli {
    use serde::{Deserialize, Deserializer, Serializer};
    use waybill_core::codes::Decimal3;

    pub(super) fn serialize<S: Serializer>(d: &Decimal3, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(d.milli())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Decimal3, D::Error> {
        u64::deserialize(deserializer).map(Decimal3::from_milli)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ship {
    sender: u32,
    consignee: u32,
    carrier: u32,
    /// `None`: no shipment (a number only the index has used).
    stage: Option<ShipmentStage>,
    lots: Box<[u32]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Pay {
    payer: u32,
    payee: u32,
    recorded_by: EntryId,
}

/// The committed state and indexes (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    chain_id: ChainId,
    admin_threshold: Option<u32>,
    /// Members by key, active or not (few, so kept as they are).
    pub members: BTreeMap<PublicKey, MemberRecord>,
    nonces: HashMap<PublicKey, u64>,
    keys: Vec<PublicKey>,
    key_numbers: HashMap<PublicKey, u32>,
    lot_names: Names,
    lots: Vec<Lot>,
    lot_positions: Vec<Vec<u64>>,
    lot_count: usize,
    /// Input lot → lots made from it.
    made_from: HashMap<u32, Vec<u32>>,
    ship_names: Names,
    ships: Vec<Ship>,
    ship_positions: Vec<Vec<u64>>,
    ship_count: usize,
    payments: HashMap<Uetr, Pay>,
    payment_positions: HashMap<Uetr, Vec<u64>>,
    author_positions: HashMap<PublicKey, Vec<u64>>,
    membership: Vec<u64>,
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

fn positions(list: &[u64]) -> Vec<Position> {
    list.iter().copied().map(unpack).collect()
}

impl Committed {
    /// The state before the first block.
    pub fn genesis(genesis: &Genesis) -> Self {
        Committed::starting_from(State::genesis(genesis))
    }

    /// An empty structure with `s`'s chain, threshold and members (the rest
    /// of `s` is expected empty).
    fn starting_from(s: State) -> Self {
        Committed {
            chain_id: s.chain_id,
            admin_threshold: s.admin_threshold,
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

    fn key_number(&mut self, key: &PublicKey) -> u32 {
        if let Some(n) = self.key_numbers.get(key) {
            return *n;
        }
        let n = u32::try_from(self.keys.len()).unwrap_or(NO_KEY);
        self.keys.push(*key);
        self.key_numbers.insert(*key, n);
        n
    }

    fn key(&self, n: u32) -> Option<PublicKey> {
        self.keys.get(n as usize).copied()
    }

    fn lot_number(&mut self, id: &LotId) -> u32 {
        let n = self.lot_names.intern(id.as_str());
        if n as usize >= self.lots.len() {
            self.lots.push(Lot {
                producer: NO_KEY,
                custodian: NO_KEY,
                status: ABSENT,
                unit: UnitCode::Kgm,
                remaining: Decimal3::ZERO,
                produced_by: EntryId::default(),
            });
            self.lot_positions.push(Vec::new());
        }
        n
    }

    fn ship_number(&mut self, id: &ShipmentId) -> u32 {
        let n = self.ship_names.intern(id.as_str());
        if n as usize >= self.ships.len() {
            self.ships.push(Ship {
                sender: NO_KEY,
                consignee: NO_KEY,
                carrier: NO_KEY,
                stage: None,
                lots: Box::new([]),
            });
            self.ship_positions.push(Vec::new());
        }
        n
    }

    fn lot_id(&self, n: u32) -> Option<LotId> {
        self.lot_names.name(n).parse().ok()
    }

    fn ship_id(&self, n: u32) -> Option<ShipmentId> {
        self.ship_names.name(n).parse().ok()
    }

    /// Folds in block `height`: its state changes, then its index
    /// additions. Every path that builds this structure (commit, opening,
    /// the integrity check) goes through here, so numbering agrees.
    pub(crate) fn apply(&mut self, height: u64, changes: &Changes, index: &IndexDelta) {
        self.nonces
            .extend(changes.nonces.iter().map(|(k, n)| (*k, *n)));
        self.members
            .extend(changes.members.iter().map(|(k, m)| (*k, m.clone())));
        // The index names mostly the lots and shipments just changed; a
        // block-sized memo spares a second lookup in the large tables.
        let mut lots: HashMap<&LotId, u32> = HashMap::with_capacity(changes.lots.len());
        let mut ships: HashMap<&ShipmentId, u32> = HashMap::with_capacity(changes.shipments.len());
        for (id, l) in &changes.lots {
            let status = match &l.status {
                LotStatus::Held => HELD,
                LotStatus::Consumed => CONSUMED,
                LotStatus::InTransit { shipment } => {
                    let n = *ships
                        .entry(shipment)
                        .or_insert_with(|| self.ship_number(shipment));
                    IN_TRANSIT.saturating_add(n)
                }
            };
            let lot = Lot {
                producer: self.key_number(&l.producer),
                custodian: self.key_number(&l.custodian),
                status,
                unit: l.unit,
                remaining: l.remaining,
                produced_by: l.produced_by,
            };
            let n = self.lot_number(id);
            lots.insert(id, n);
            if let Some(slot) = self.lots.get_mut(n as usize) {
                if slot.status == ABSENT {
                    self.lot_count += 1;
                }
                *slot = lot;
            }
        }
        for (id, s) in &changes.shipments {
            let ship = Ship {
                sender: self.key_number(&s.sender),
                consignee: self.key_number(&s.consignee),
                carrier: s.carrier.map_or(NO_KEY, |c| self.key_number(&c)),
                stage: Some(s.stage),
                lots: s
                    .lots
                    .iter()
                    .map(|l| *lots.entry(l).or_insert_with(|| self.lot_number(l)))
                    .collect(),
            };
            let n = *ships.entry(id).or_insert_with(|| self.ship_number(id));
            if let Some(slot) = self.ships.get_mut(n as usize) {
                if slot.stage.is_none() {
                    self.ship_count += 1;
                }
                *slot = ship;
            }
        }
        for (id, p) in &changes.payments {
            let pay = Pay {
                payer: self.key_number(&p.payer),
                payee: self.key_number(&p.payee),
                recorded_by: p.recorded_by,
            };
            self.payments.insert(*id, pay);
        }

        let at = |i: &u32| pack(height, *i);
        for (lot, idx) in &index.lots {
            let n = *lots.entry(lot).or_insert_with(|| self.lot_number(lot));
            if let Some(v) = self.lot_positions.get_mut(n as usize) {
                v.extend(idx.iter().map(at));
            }
        }
        for (s, idx) in &index.shipments {
            let n = *ships.entry(s).or_insert_with(|| self.ship_number(s));
            if let Some(v) = self.ship_positions.get_mut(n as usize) {
                v.extend(idx.iter().map(at));
            }
        }
        for (p, idx) in &index.payments {
            self.payment_positions
                .entry(*p)
                .or_default()
                .extend(idx.iter().map(at));
        }
        for (a, idx) in &index.authors {
            self.author_positions
                .entry(*a)
                .or_default()
                .extend(idx.iter().map(at));
        }
        for (input, made) in &index.made_from {
            let i = *lots.entry(input).or_insert_with(|| self.lot_number(input));
            let m = *lots.entry(made).or_insert_with(|| self.lot_number(made));
            let list = self.made_from.entry(i).or_default();
            if !list.contains(&m) {
                list.push(m);
            }
        }
        self.membership.extend(index.membership.iter().map(at));
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
            .is_some_and(|l| l.status != ABSENT)
    }

    fn lot_state(&self, l: &Lot) -> Option<LotState> {
        let status = match l.status {
            ABSENT => return None,
            HELD => LotStatus::Held,
            CONSUMED => LotStatus::Consumed,
            s => LotStatus::InTransit {
                shipment: self.ship_id(s - IN_TRANSIT)?,
            },
        };
        Some(LotState {
            producer: self.key(l.producer)?,
            custodian: self.key(l.custodian)?,
            status,
            unit: l.unit,
            remaining: l.remaining,
            produced_by: l.produced_by,
        })
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
        })
    }

    fn pay_state(&self, p: &Pay) -> Option<PaymentState> {
        Some(PaymentState {
            payer: self.key(p.payer)?,
            payee: self.key(p.payee)?,
            recorded_by: p.recorded_by,
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
            admin_threshold: self.admin_threshold,
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

    /// The form written to a snapshot.
    pub(crate) fn stored(&self) -> StoredRef<'_> {
        fn sorted<K: Ord, V>(m: &HashMap<K, V>) -> Vec<(&K, &V)> {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_unstable_by(|a, b| a.0.cmp(b.0));
            v
        }
        StoredRef {
            chain_id: &self.chain_id,
            admin_threshold: self.admin_threshold,
            members: &self.members,
            nonces: sorted(&self.nonces),
            keys: &self.keys,
            lot_names: (&self.lot_names.arena, &self.lot_names.ends),
            lots: &self.lots,
            lot_positions: &self.lot_positions,
            made_from: sorted(&self.made_from),
            ship_names: (&self.ship_names.arena, &self.ship_names.ends),
            ships: &self.ships,
            ship_positions: &self.ship_positions,
            payments: sorted(&self.payments),
            payment_positions: sorted(&self.payment_positions),
            author_positions: sorted(&self.author_positions),
            membership: &self.membership,
        }
    }

    /// Rebuilds from a snapshot's form, checking that every number in it
    /// refers to something (so no lookup can go astray later).
    pub(crate) fn from_stored(s: Stored) -> Result<Self, String> {
        let names = |(arena, ends): (String, Vec<u64>)| {
            let mut n = Names {
                arena,
                ends,
                ..Names::default()
            };
            if !n.well_formed() || !n.rebuild() {
                return Err("its id tables are malformed".to_string());
            }
            Ok(n)
        };
        let key_numbers: HashMap<PublicKey, u32> = s
            .keys
            .iter()
            .enumerate()
            .map(|(n, k)| (*k, u32::try_from(n).unwrap_or(NO_KEY)))
            .collect();
        let c = Committed {
            chain_id: s.chain_id,
            admin_threshold: s.admin_threshold,
            members: s.members,
            nonces: s.nonces.into_iter().collect(),
            keys: s.keys,
            key_numbers,
            lot_names: names(s.lot_names)?,
            lot_count: s.lots.iter().filter(|l| l.status != ABSENT).count(),
            lots: s.lots,
            lot_positions: s.lot_positions,
            made_from: s.made_from.into_iter().collect(),
            ship_names: names(s.ship_names)?,
            ship_count: s.ships.iter().filter(|x| x.stage.is_some()).count(),
            ships: s.ships,
            ship_positions: s.ship_positions,
            payments: s.payments.into_iter().collect(),
            payment_positions: s.payment_positions.into_iter().collect(),
            author_positions: s.author_positions.into_iter().collect(),
            membership: s.membership,
        };
        c.well_formed().map(|()| c)
    }

    fn well_formed(&self) -> Result<(), String> {
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
        let lots_ok = self
            .lots
            .iter()
            .all(|l| l.status == ABSENT || self.lot_state(l).is_some());
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

/// A snapshot of [`Committed`], borrowed for writing.
#[derive(Serialize)]
pub(crate) struct StoredRef<'a> {
    chain_id: &'a ChainId,
    admin_threshold: Option<u32>,
    members: &'a BTreeMap<PublicKey, MemberRecord>,
    nonces: Vec<(&'a PublicKey, &'a u64)>,
    keys: &'a [PublicKey],
    lot_names: (&'a String, &'a Vec<u64>),
    lots: &'a [Lot],
    lot_positions: &'a [Vec<u64>],
    made_from: Vec<(&'a u32, &'a Vec<u32>)>,
    ship_names: (&'a String, &'a Vec<u64>),
    ships: &'a [Ship],
    ship_positions: &'a [Vec<u64>],
    payments: Vec<(&'a Uetr, &'a Pay)>,
    payment_positions: Vec<(&'a Uetr, &'a Vec<u64>)>,
    author_positions: Vec<(&'a PublicKey, &'a Vec<u64>)>,
    membership: &'a [u64],
}

/// A snapshot of [`Committed`], as read back.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    chain_id: ChainId,
    admin_threshold: Option<u32>,
    members: BTreeMap<PublicKey, MemberRecord>,
    nonces: Vec<(PublicKey, u64)>,
    keys: Vec<PublicKey>,
    lot_names: (String, Vec<u64>),
    lots: Vec<Lot>,
    lot_positions: Vec<Vec<u64>>,
    made_from: Vec<(u32, Vec<u32>)>,
    ship_names: (String, Vec<u64>),
    ships: Vec<Ship>,
    ship_positions: Vec<Vec<u64>>,
    payments: Vec<(Uetr, Pay)>,
    payment_positions: Vec<(Uetr, Vec<u64>)>,
    author_positions: Vec<(PublicKey, Vec<u64>)>,
    membership: Vec<u64>,
}

impl Stored {
    pub(crate) fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
}

impl View for Committed {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    fn admin_threshold(&self) -> Option<u32> {
        self.admin_threshold
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
mod tests {
    use super::*;
    use waybill_core::crypto::Hash32;

    #[test]
    fn names_that_prefix_each_other_are_told_apart_before_and_after_a_rebuild() {
        let mut names = Names::default();
        let texts = ["L1", "L12", "L", "X-L1", "L123"];
        let numbers: Vec<u32> = texts[..4].iter().map(|t| names.intern(t)).collect();
        assert_eq!(numbers, [0, 1, 2, 3]);
        let found =
            |names: &Names| -> Vec<Option<u32>> { texts.iter().map(|t| names.find(t)).collect() };
        assert_eq!(found(&names), [Some(0), Some(1), Some(2), Some(3), None]);
        assert_eq!(names.intern("L12"), 1, "interning again finds the name");
        assert!(names.rebuild());
        assert_eq!(found(&names), [Some(0), Some(1), Some(2), Some(3), None]);
        // A repeated name in loaded data is noticed.
        names.arena.push_str("L1");
        names.ends.push(names.arena.len() as u64);
        assert!(!names.rebuild());
    }

    fn key(b: u8) -> PublicKey {
        PublicKey([b; 32])
    }
    fn lot(s: &str) -> LotId {
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
    fn empty() -> State {
        State {
            chain_id: Hash32([9; 32]),
            admin_threshold: None,
            members: BTreeMap::new(),
            nonces: BTreeMap::new(),
            lots: BTreeMap::new(),
            shipments: BTreeMap::new(),
            payments: BTreeMap::new(),
        }
    }

    /// Two blocks' worth: a GS1 lot and two free ones (one a prefix of
    /// another), a shipment with a carrier, a payment.
    fn sample() -> (Committed, State) {
        let gs1 = gs1_lot();
        let mut first = Changes::default();
        first.nonces.insert(key(2), 3);
        for (id, status) in [
            (
                lot("LOT-1"),
                LotStatus::InTransit {
                    shipment: ship("S-1"),
                },
            ),
            (lot("LOT-12"), LotStatus::Held),
            (gs1.clone(), LotStatus::Consumed),
        ] {
            first.lots.insert(
                id,
                LotState {
                    producer: key(1),
                    custodian: key(2),
                    status,
                    unit: UnitCode::Kgm,
                    remaining: Decimal3::from_milli(1500),
                    produced_by: Hash32([7; 32]),
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
            },
        );
        second.lots.insert(
            lot("LOT-12"),
            LotState {
                producer: key(1),
                custodian: key(3),
                status: LotStatus::Held,
                unit: UnitCode::Kgm,
                remaining: Decimal3::from_milli(2),
                produced_by: Hash32([6; 32]),
            },
        );
        let second_index = IndexDelta {
            lots: vec![(lot("LOT-12"), vec![0])],
            payments: vec![(uetr(), vec![1])],
            authors: vec![(key(3), vec![0, 1])],
            made_from: vec![(gs1, lot("LOT-12"))],
            ..IndexDelta::default()
        };
        let mut c = Committed::starting_from(empty());
        let mut s = empty();
        c.apply(4, &first, &first_index);
        s.commit(first);
        c.apply(5, &second, &second_index);
        s.commit(second);
        (c, s)
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
                lots: 3,
                shipments: 1,
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

    fn reload(stored: Stored) -> Result<Committed, String> {
        let bytes = codec::encode(&stored);
        let back: Stored = codec::decode_trusted("snapshot", &bytes).map_err(|e| e.to_string())?;
        Committed::from_stored(back)
    }

    fn stored(c: &Committed) -> Stored {
        let bytes = codec::encode(&c.stored());
        codec::decode_trusted("snapshot", &bytes).expect("decodes")
    }

    #[test]
    fn a_snapshot_round_trips_and_still_finds_ids() {
        let (c, s) = sample();
        let back = reload(stored(&c)).expect("reloads");
        assert_eq!(back, c);
        assert_eq!(back.to_state(), s);
        assert!(back.has_lot(&lot("LOT-12")));
        assert_eq!(back.by_lot(&lot("LOT-1")), vec![(4, 0), (4, 1)]);
        // Encoding is canonical: the same structure, the same bytes.
        assert_eq!(codec::encode(&back.stored()), codec::encode(&c.stored()));
        assert_eq!(back.digest(), c.digest());
        let mut changed = back.clone();
        changed.apply(
            6,
            &Changes::default(),
            &IndexDelta {
                membership: vec![0],
                ..IndexDelta::default()
            },
        );
        assert_ne!(changed.digest(), c.digest());
    }

    #[test]
    fn a_stored_lot_writes_its_quantity_as_a_number_and_its_unit_as_its_code() {
        let l = Lot {
            producer: 1,
            custodian: 2,
            status: HELD,
            unit: UnitCode::Kgm,
            remaining: Decimal3::from_milli(12_345),
            produced_by: EntryId::default(),
        };
        let bytes = codec::encode(&l);
        assert_eq!(
            bytes,
            codec::encode(&(1u32, 2u32, HELD, "KGM", 12_345u64, EntryId::default()))
        );
        let back: Lot = codec::decode_trusted("lot", &bytes).expect("decodes");
        assert_eq!(back, l);
        let bad = codec::encode(&(1u32, 2u32, HELD, "K?M", 12_345u64, EntryId::default()));
        assert!(codec::decode_trusted::<Lot>("lot", &bad).is_err());
    }

    #[test]
    fn a_corrupt_snapshot_is_refused() {
        let (c, _) = sample();
        type Corruption = Box<dyn Fn(&mut Stored)>;
        let cases: Vec<(&str, Corruption)> = vec![
            ("key out of range", Box::new(|s| s.lots[0].producer = 99)),
            (
                "carrier out of range",
                Box::new(|s| s.ships[0].carrier = 77),
            ),
            (
                "lot in shipment",
                Box::new(|s| s.ships[0].lots = Box::new([42])),
            ),
            (
                "shipment in status",
                Box::new(|s| s.lots[0].status = IN_TRANSIT + 40),
            ),
            ("made from", Box::new(|s| s.made_from = vec![(0, vec![77])])),
            ("name end", Box::new(|s| s.lot_names.1.push(10_000))),
            ("short table", Box::new(|s| _ = s.lot_positions.pop())),
            (
                "repeated name",
                Box::new(|s| {
                    let first = s.lot_names.0[..5].to_string();
                    s.lot_names.0.replace_range(5..11, &first);
                    s.lot_names.1[1] = 10;
                    let shift = 11 - 10;
                    for e in &mut s.lot_names.1[2..] {
                        *e -= shift;
                    }
                    s.lot_names.0.remove(10);
                }),
            ),
            (
                "unparsable name",
                Box::new(|s| s.lot_names.0.replace_range(0..1, " ")),
            ),
            ("repeated key", Box::new(|s| s.keys.push(key(1)))),
        ];
        for (what, corrupt) in cases {
            let mut s = stored(&c);
            corrupt(&mut s);
            assert!(reload(s).is_err(), "{what} was accepted");
        }
        assert!(reload(stored(&c)).is_ok());
    }
}
