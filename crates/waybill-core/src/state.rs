//! Ledger state: what the rules need to judge the next entry.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::codes::{Decimal3, Uetr, UnitCode};
use crate::crypto::{Hash32, PublicKey};
use crate::entry::{EntryId, RecallClass};
use crate::genesis::{ChainId, Genesis, MemberSpec, Role, YieldRule};
use crate::governance::Council;
use crate::gs1::{CompanyPrefix, LotId, ShipmentId};

/// A member as the ledger knows it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Name, key, roles, prefixes.
    pub spec: MemberSpec,
    /// Height of the block that removed or rotated out this key (it signs
    /// nothing after it); `None` while active.
    pub removed_at: Option<u64>,
    /// The key that replaced this one, if it was rotated out. Custody and
    /// open shipments of the old key pass to the new one.
    pub rotated_to: Option<PublicKey>,
}

impl MemberRecord {
    /// Whether the key may sign.
    pub fn active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// Whether `holder` is `key` or an earlier key of the same member (rotated
/// into `key`, directly or through several rotations).
pub fn same_member<V: View + ?Sized>(view: &V, holder: &PublicKey, key: &PublicKey) -> bool {
    rotations(view, holder).any(|k| &k == key)
}

/// The newest key of the member `key` belongs to (`key` itself unless it
/// was rotated out).
pub fn current_key<V: View + ?Sized>(view: &V, key: &PublicKey) -> PublicKey {
    rotations(view, key).last().unwrap_or(*key)
}

/// `key`, then each key it was rotated into, in turn. Rotation chains
/// are short; the bound (64 keys) guards against a corrupt cycle.
fn rotations<'a, V: View + ?Sized>(
    view: &'a V,
    key: &PublicKey,
) -> impl Iterator<Item = PublicKey> + 'a {
    std::iter::successors(Some(*key), move |k| {
        view.member(k).and_then(|m| m.rotated_to)
    })
    .take(64)
}

/// The active admins among `members` (for [`View::active_admins`] over a
/// full member map).
pub fn active_admins_in(members: &BTreeMap<PublicKey, MemberRecord>) -> BTreeSet<PublicKey> {
    members
        .iter()
        .filter(|(_, m)| m.active() && m.spec.has(Role::Admin))
        .map(|(k, _)| *k)
        .collect()
}

/// The key of the active member named `name` among `members` (for
/// [`View::active_member_named`] over a full member map).
pub fn active_member_named_in(
    members: &BTreeMap<PublicKey, MemberRecord>,
    name: &str,
) -> Option<PublicKey> {
    members
        .iter()
        .find(|(_, m)| m.active() && m.spec.name == name)
        .map(|(k, _)| *k)
}

/// The member among `members` that owns the GS1 company prefix `digits`
/// (a key's company digits, [`crate::gs1::Gs1Key::company_digits`]) lie
/// under (for [`View::prefix_owner`] over a full member map): an active
/// record first, else a removed one (a member's prefixes stay its own
/// after it leaves, until they are given to another).
pub fn prefix_owner_in<'m>(
    members: &'m BTreeMap<PublicKey, MemberRecord>,
    digits: &str,
) -> Option<&'m MemberRecord> {
    prefix_holder_in(members, |p| p.covers(digits))
}

/// The member among `members` with a prefix for which `holds` is true:
/// an active record first, else a removed one.
fn prefix_holder_in(
    members: &BTreeMap<PublicKey, MemberRecord>,
    holds: impl Fn(&CompanyPrefix) -> bool,
) -> Option<&MemberRecord> {
    let mut holders = members
        .values()
        .filter(|m| m.spec.gs1_company_prefixes.iter().any(&holds));
    let first = holders.next()?;
    if first.active() {
        return Some(first);
    }
    Some(holders.find(|m| m.active()).unwrap_or(first))
}

/// For an [`Overlay`]: the holder among the pending `members`, else the
/// base's `holder` unless a pending change of its record took the prefix
/// away.
fn overlay_prefix_holder<'a>(
    members: &'a BTreeMap<PublicKey, MemberRecord>,
    base_holder: Option<&'a MemberRecord>,
    holds: impl Fn(&CompanyPrefix) -> bool,
) -> Option<&'a MemberRecord> {
    if let Some(m) = prefix_holder_in(members, &holds) {
        return Some(m);
    }
    base_holder.filter(|m| {
        members
            .get(&m.spec.public_key)
            .is_none_or(|p| p.spec.gs1_company_prefixes.iter().any(&holds))
    })
}

/// GS1 company prefixes and the member owning each (its active record
/// where a rotated-out one lists the prefix too): a key's owner found
/// with one lookup per possible prefix length (4 to 12 digits) instead
/// of a search of every member, on the path of every entry that names a
/// place. Derived from the member table; rebuild it when that changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixIndex(HashMap<String, PublicKey>);

impl PrefixIndex {
    /// The index of `members`' prefixes.
    pub fn build(members: &BTreeMap<PublicKey, MemberRecord>) -> Self {
        let mut index: HashMap<String, PublicKey> = HashMap::new();
        for (key, m) in members {
            for p in &m.spec.gs1_company_prefixes {
                let replace = match index.get(p.as_str()) {
                    None => true,
                    Some(k) => m.active() && members.get(k).is_none_or(|o| !o.active()),
                };
                if replace {
                    index.insert(p.as_str().to_string(), *key);
                }
            }
        }
        PrefixIndex(index)
    }

    /// [`prefix_owner_in`] for the `members` this index was built from.
    pub fn owner<'m>(
        &self,
        members: &'m BTreeMap<PublicKey, MemberRecord>,
        digits: &str,
    ) -> Option<&'m MemberRecord> {
        (4..=digits.len().min(12))
            .find_map(|n| digits.get(..n).and_then(|p| self.0.get(p)))
            .and_then(|k| members.get(k))
    }
}

/// A member among `members` owning a GS1 company prefix that overlaps
/// `prefix` (the same, or one starting the other,
/// [`CompanyPrefix::overlaps`]), for [`View::prefix_overlapping`]: an
/// active record first, else a removed one (its prefixes stay its own).
pub fn prefix_overlapping_in<'m>(
    members: &'m BTreeMap<PublicKey, MemberRecord>,
    prefix: &CompanyPrefix,
) -> Option<&'m MemberRecord> {
    prefix_holder_in(members, |p| p.overlaps(prefix))
}

/// Part of a lot in one member's custody: held, or in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// Who has it (during transit: the sender, then the carrier once it
    /// takes over).
    pub holder: PublicKey,
    /// The shipment it is in; `None` while held.
    pub shipment: Option<ShipmentId>,
    /// How much, in the lot's unit (never zero).
    pub quantity: Decimal3,
}

/// A recall or withdrawal of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallMark {
    /// The recall entry.
    pub recall: EntryId,
    /// Who recorded it.
    pub author: PublicKey,
    /// Recall or withdrawal.
    pub class: RecallClass,
    /// Whether its author lifted it.
    pub lifted: bool,
}

/// A lot's state: where every part of it is, and what became of the rest.
/// Invariant (unless voided): `produced` = the holdings + `consumed` +
/// `lost`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotState {
    /// Who produced it.
    pub producer: PublicKey,
    /// Its unit.
    pub unit: UnitCode,
    /// The entry that produced it.
    pub produced_by: EntryId,
    /// How much was produced.
    pub produced: Decimal3,
    /// Who has how much of it, where; sorted, one per holder and place.
    pub holdings: Vec<Holding>,
    /// Used up as an input.
    pub consumed: Decimal3,
    /// Lost in transit (shortage, damage, …).
    pub lost: Decimal3,
    /// Lots it was made from, with the quantities consumed.
    pub inputs: Vec<(LotId, Decimal3)>,
    /// Recalls and withdrawals that name it.
    pub recalls: Vec<RecallMark>,
    /// Cold-chain excursions seen on shipments carrying it.
    pub excursions: u32,
    /// The correction that voided its production, if any.
    pub voided_by: Option<EntryId>,
}

impl LotState {
    /// A lot just produced by `producer`, all held by it.
    pub fn new(producer: PublicKey, unit: UnitCode, produced: Decimal3, by: EntryId) -> Self {
        LotState {
            producer,
            unit,
            produced_by: by,
            produced,
            holdings: if produced.is_zero() {
                Vec::new()
            } else {
                vec![Holding {
                    holder: producer,
                    shipment: None,
                    quantity: produced,
                }]
            },
            consumed: Decimal3::ZERO,
            lost: Decimal3::ZERO,
            inputs: Vec::new(),
            recalls: Vec::new(),
            excursions: 0,
            voided_by: None,
        }
    }

    /// What is left of it anywhere (held or in transit).
    pub fn remaining(&self) -> Decimal3 {
        sum(self.holdings.iter().map(|h| h.quantity))
    }

    /// How much of it is in transit.
    pub fn in_transit(&self) -> Decimal3 {
        sum(self
            .holdings
            .iter()
            .filter(|h| h.shipment.is_some())
            .map(|h| h.quantity))
    }

    /// How much `key` (or an earlier key of the same member) holds, not
    /// in transit.
    pub fn held_by<V: View + ?Sized>(&self, view: &V, key: &PublicKey) -> Decimal3 {
        sum(self
            .holdings
            .iter()
            .filter(|h| h.shipment.is_none() && same_member(view, &h.holder, key))
            .map(|h| h.quantity))
    }

    /// The part in `shipment`, if any.
    pub fn in_shipment(&self, shipment: &ShipmentId) -> Option<&Holding> {
        self.holdings
            .iter()
            .find(|h| h.shipment.as_ref() == Some(shipment))
    }

    /// Adds `quantity` to what `holder` has at `shipment` (`None`: held).
    pub fn add_holding(
        &mut self,
        holder: PublicKey,
        shipment: Option<ShipmentId>,
        quantity: Decimal3,
    ) {
        if quantity.is_zero() {
            return;
        }
        if let Some(h) = self
            .holdings
            .iter_mut()
            .find(|h| h.holder == holder && h.shipment == shipment)
        {
            h.quantity = h.quantity.checked_add(quantity).unwrap_or(Decimal3::MAX);
            return;
        }
        self.holdings.push(Holding {
            holder,
            shipment,
            quantity,
        });
        self.holdings
            .sort_by(|a, b| (&a.shipment, a.holder).cmp(&(&b.shipment, b.holder)));
    }

    /// Takes up to `quantity` of what `key`'s member holds (not in
    /// transit), oldest key first; returns how much was taken.
    pub fn take_held<V: View + ?Sized>(
        &mut self,
        view: &V,
        key: &PublicKey,
        quantity: Decimal3,
    ) -> Decimal3 {
        let mut left = quantity.milli();
        for h in self.holdings.iter_mut() {
            if left == 0 {
                break;
            }
            if h.shipment.is_none() && same_member(view, &h.holder, key) {
                let take = left.min(h.quantity.milli());
                h.quantity = Decimal3::from_milli(h.quantity.milli() - take);
                left -= take;
            }
        }
        self.holdings.retain(|h| !h.quantity.is_zero());
        Decimal3::from_milli(quantity.milli() - left)
    }

    /// Removes and returns the part in `shipment`.
    pub fn take_shipment(&mut self, shipment: &ShipmentId) -> Option<Holding> {
        let i = self
            .holdings
            .iter()
            .position(|h| h.shipment.as_ref() == Some(shipment))?;
        Some(self.holdings.remove(i))
    }

    /// The recalls not lifted.
    pub fn open_recalls(&self) -> impl Iterator<Item = &RecallMark> {
        self.recalls.iter().filter(|r| !r.lifted)
    }

    /// One line for people: what is left and where, in the lot's unit.
    pub fn whereabouts(&self, name: impl Fn(&PublicKey) -> String) -> String {
        let unit = self.unit;
        if let Some(by) = self.voided_by {
            return format!("voided by correction {}", by.short());
        }
        if self.holdings.is_empty() {
            return if self.lost.is_zero() {
                "consumed (made into other lots)".into()
            } else {
                format!(
                    "used up ({} {unit} consumed, {} {unit} lost)",
                    self.consumed, self.lost
                )
            };
        }
        self.holdings
            .iter()
            .map(|h| match &h.shipment {
                None => format!("{} {unit} held by {}", h.quantity, name(&h.holder)),
                Some(s) => format!(
                    "{} {unit} in transit in {} with {}",
                    h.quantity,
                    s,
                    name(&h.holder)
                ),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The sum of quantities (saturating: a lot's quantities fit in a
/// `u64` of thousandths by the invariant).
fn sum(it: impl Iterator<Item = Decimal3>) -> Decimal3 {
    Decimal3::from_milli(it.fold(0u64, |a, q| a.saturating_add(q.milli())))
}

/// How far a shipment has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipmentStage {
    /// Sent, not yet taken over.
    Dispatched,
    /// The carrier has taken it over.
    WithCarrier,
    /// The consignee has it.
    Delivered,
    /// Refused; custody went back to the sender.
    Rejected,
    /// Dispatched in error and corrected before anyone took it over;
    /// custody went back to the sender.
    Cancelled,
}

impl ShipmentStage {
    /// Its name for people.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStage::Dispatched => "dispatched",
            ShipmentStage::WithCarrier => "with its carrier",
            ShipmentStage::Delivered => "delivered",
            ShipmentStage::Rejected => "rejected",
            ShipmentStage::Cancelled => "cancelled by a correction",
        }
    }

    /// Whether it is still open.
    pub fn open(self) -> bool {
        matches!(self, ShipmentStage::Dispatched | ShipmentStage::WithCarrier)
    }
}

/// A shipment's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentState {
    /// Who sent it.
    pub sender: PublicKey,
    /// Who is to receive it.
    pub consignee: PublicKey,
    /// Who carries it.
    pub carrier: Option<PublicKey>,
    /// Every lot in it.
    pub lots: Vec<LotId>,
    /// How far it has got.
    pub stage: ShipmentStage,
    /// The entry that dispatched it.
    pub dispatched_by: EntryId,
    /// Its latest custody step since the dispatch (a take-over, a
    /// handover or the consignee's receipt), which a correction may
    /// undo; `None` until the first.
    pub latest_step: Option<LatestStep>,
    /// The readings entries recorded on it, in chain order, with the
    /// excursions each counted on its lots (so a correction can take
    /// them back).
    pub readings: Vec<ReadingsMark>,
}

/// A readings entry recorded on a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingsMark {
    /// The readings entry.
    pub entry: EntryId,
    /// Who recorded it.
    pub author: PublicKey,
    /// The excursions it counted on each of the shipment's lots.
    pub excursions: u32,
    /// The correction that struck it, if any.
    pub corrected_by: Option<EntryId>,
}

/// Which custody step a [`LatestStep`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// Its carrier took it over from the sender (dispatched → with its
    /// carrier).
    TakeOver,
    /// The carrier holding it handed it on to the next.
    Handover,
    /// Its consignee received it before any carrier took it over
    /// (dispatched → delivered).
    ReceiptFromSender,
    /// Its consignee received it from its carrier (with its carrier →
    /// delivered).
    ReceiptFromCarrier,
}

impl StepKind {
    /// Its name for people.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::TakeOver => "take-over",
            StepKind::Handover => "handover",
            StepKind::ReceiptFromSender | StepKind::ReceiptFromCarrier => "receipt",
        }
    }

    /// The stage the step left the shipment at.
    pub fn stage_after(self) -> ShipmentStage {
        match self {
            StepKind::TakeOver | StepKind::Handover => ShipmentStage::WithCarrier,
            StepKind::ReceiptFromSender | StepKind::ReceiptFromCarrier => ShipmentStage::Delivered,
        }
    }

    /// The stage the shipment was at before the step.
    pub fn stage_before(self) -> ShipmentStage {
        match self {
            StepKind::TakeOver | StepKind::ReceiptFromSender => ShipmentStage::Dispatched,
            StepKind::Handover | StepKind::ReceiptFromCarrier => ShipmentStage::WithCarrier,
        }
    }
}

/// The latest custody step of a shipment: what a correction needs to undo
/// it. Sized for the common step: the entry and the previous custodian,
/// with everything rarer (quantities, a correction) behind one pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestStep {
    /// The entry that made it.
    pub entry: EntryId,
    /// What it was.
    pub kind: StepKind,
    /// Who had custody before it: the sender, or the carrier that held
    /// the shipment.
    pub from: PublicKey,
    /// What a receipt delivered and what any step recorded as lost, and
    /// the correction that undid the step; `None` while all of it is
    /// empty (a take-over or handover with nothing short; never `Some` of
    /// an empty one, so the same state is always the same record).
    pub rest: Option<Box<StepRest>>,
}

impl LatestStep {
    /// A step made by `entry`, from `from`, with `lots` received or lost.
    pub fn new(entry: EntryId, kind: StepKind, from: PublicKey, lots: Vec<StepLot>) -> Self {
        let rest = StepRest {
            lots,
            corrected_by: None,
        };
        LatestStep {
            entry,
            kind,
            from,
            rest: (!rest.is_empty()).then(|| Box::new(rest)),
        }
    }

    /// The lots it received or lost some of.
    pub fn lots(&self) -> &[StepLot] {
        self.rest.as_deref().map_or(&[], |r| &r.lots)
    }

    /// The correction that undid it, if one did.
    pub fn corrected_by(&self) -> Option<EntryId> {
        self.rest.as_deref().and_then(|r| r.corrected_by)
    }
}

/// What few steps have: per lot, what was received and lost, and the
/// correction that undid the step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRest {
    /// For a receipt, every lot it delivered or lost some of; for a
    /// take-over, the lots it recorded a shortfall of; in the shipment's
    /// lot order. Emptied when the step is corrected.
    pub lots: Vec<StepLot>,
    /// The correction that undid the step.
    pub corrected_by: Option<EntryId>,
}

impl StepRest {
    /// Whether every field is empty (then the step stores `None`).
    pub fn is_empty(&self) -> bool {
        self.lots.is_empty() && self.corrected_by.is_none()
    }
}

/// What a custody step took over of one lot, in the lot's unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLot {
    /// The lot.
    pub lot: LotId,
    /// How much arrived and was taken over.
    pub received: Decimal3,
    /// How much was recorded as lost.
    pub lost: Decimal3,
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    /// Who paid.
    pub payer: PublicKey,
    /// Who was paid.
    pub payee: PublicKey,
    /// The entry that recorded it.
    pub recorded_by: EntryId,
    /// The correction that struck it out, if any.
    pub corrected_by: Option<EntryId>,
    /// For a sealed payment, the digest of its commitments
    /// ([`crate::terms::digest`]) that the payee confirms.
    pub terms: Option<Hash32>,
    /// The payee's confirmation, if any.
    pub confirmed_by: Option<EntryId>,
}

/// Read access to ledger state, so rules run the same over the committed
/// state and over a block's pending changes.
pub trait View {
    /// The chain.
    fn chain_id(&self) -> &ChainId;
    /// The admin quorum, the validator set and scheduled governance
    /// ([`Council`]), as of the last change folded in.
    fn council(&self) -> &Council;
    /// Mass-balance rules from genesis.
    fn yields(&self) -> &[YieldRule];
    /// A member by key (active or not).
    fn member(&self, key: &PublicKey) -> Option<&MemberRecord>;
    /// Active admins.
    fn active_admins(&self) -> BTreeSet<PublicKey>;
    /// The key of the active member with this name, if any.
    fn active_member_named(&self, name: &str) -> Option<PublicKey>;
    /// The member that owns the GS1 company prefix `digits` (a key's
    /// company digits, [`crate::gs1::Gs1Key::company_digits`]) lie under,
    /// if any ([`prefix_owner_in`]).
    fn prefix_owner(&self, digits: &str) -> Option<&MemberRecord>;
    /// A member owning a prefix that overlaps `prefix`, if any
    /// ([`prefix_overlapping_in`]): who stands in the way of giving
    /// `prefix` to a member.
    fn prefix_overlapping(&self, prefix: &CompanyPrefix) -> Option<&MemberRecord>;
    /// The author's last nonce (0 if none).
    fn nonce(&self, key: &PublicKey) -> u64;
    /// A lot (borrowed where the view holds it decoded, owned where it
    /// keeps a compact form).
    fn lot(&self, id: &LotId) -> Option<Cow<'_, LotState>>;
    /// A shipment.
    fn shipment(&self, id: &ShipmentId) -> Option<Cow<'_, ShipmentState>>;
    /// A payment.
    fn payment(&self, id: &Uetr) -> Option<Cow<'_, PaymentState>>;
}

/// Writes produced by applying entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// New last nonces.
    pub nonces: BTreeMap<PublicKey, u64>,
    /// Changed or new members.
    pub members: BTreeMap<PublicKey, MemberRecord>,
    /// Changed or new lots.
    pub lots: BTreeMap<LotId, LotState>,
    /// Changed or new shipments.
    pub shipments: BTreeMap<ShipmentId, ShipmentState>,
    /// New payments.
    pub payments: BTreeMap<Uetr, PaymentState>,
    /// The council, if governance changed it (replaced whole: it is
    /// small).
    pub council: Option<Council>,
}

impl Changes {
    /// Folds `later` on top of these changes.
    pub fn merge(&mut self, later: Changes) {
        self.nonces.extend(later.nonces);
        self.members.extend(later.members);
        self.lots.extend(later.lots);
        self.shipments.extend(later.shipments);
        self.payments.extend(later.payments);
        if later.council.is_some() {
            self.council = later.council;
        }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.nonces.is_empty()
            && self.members.is_empty()
            && self.lots.is_empty()
            && self.shipments.is_empty()
            && self.payments.is_empty()
            && self.council.is_none()
    }
}

/// The committed state after some height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The chain.
    pub chain_id: ChainId,
    /// The admin quorum, the validator set and scheduled governance.
    pub council: Council,
    /// Mass-balance rules from genesis.
    pub yields: Vec<YieldRule>,
    /// Members by key.
    pub members: BTreeMap<PublicKey, MemberRecord>,
    /// Last nonce by author.
    pub nonces: BTreeMap<PublicKey, u64>,
    /// Lots.
    pub lots: BTreeMap<LotId, LotState>,
    /// Shipments.
    pub shipments: BTreeMap<ShipmentId, ShipmentState>,
    /// Payments.
    pub payments: BTreeMap<Uetr, PaymentState>,
}

impl State {
    /// The state before the first block.
    pub fn genesis(genesis: &Genesis) -> Self {
        State {
            chain_id: genesis.chain_id(),
            council: Council::genesis(genesis),
            yields: genesis.yields.clone(),
            members: genesis
                .members
                .iter()
                .map(|m| {
                    (
                        m.public_key,
                        MemberRecord {
                            spec: m.clone(),
                            removed_at: None,
                            rotated_to: None,
                        },
                    )
                })
                .collect(),
            nonces: BTreeMap::new(),
            lots: BTreeMap::new(),
            shipments: BTreeMap::new(),
            payments: BTreeMap::new(),
        }
    }

    /// Applies changes.
    pub fn commit(&mut self, changes: Changes) {
        self.nonces.extend(changes.nonces);
        self.members.extend(changes.members);
        self.lots.extend(changes.lots);
        self.shipments.extend(changes.shipments);
        self.payments.extend(changes.payments);
        if let Some(c) = changes.council {
            self.council = c;
        }
    }

    /// A hash of the whole state (for determinism checks and diagnostics).
    pub fn digest(&self) -> Hash32 {
        Hash32::digest(&codec::encode(self))
    }
}

impl View for State {
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
        prefix_owner_in(&self.members, digits)
    }
    fn prefix_overlapping(&self, prefix: &CompanyPrefix) -> Option<&MemberRecord> {
        prefix_overlapping_in(&self.members, prefix)
    }
    fn nonce(&self, key: &PublicKey) -> u64 {
        self.nonces.get(key).copied().unwrap_or(0)
    }
    fn lot(&self, id: &LotId) -> Option<Cow<'_, LotState>> {
        self.lots.get(id).map(Cow::Borrowed)
    }
    fn shipment(&self, id: &ShipmentId) -> Option<Cow<'_, ShipmentState>> {
        self.shipments.get(id).map(Cow::Borrowed)
    }
    fn payment(&self, id: &Uetr) -> Option<Cow<'_, PaymentState>> {
        self.payments.get(id).map(Cow::Borrowed)
    }
}

/// Changes as an [`Overlay`] reads them: looked up by key. [`Changes`] is
/// one; a holder of many changes that are looked up more often than
/// written (a mempool) may keep them in hash maps instead.
pub trait ChangeSet: Clone {
    /// The changed members, by key.
    fn members(&self) -> &BTreeMap<PublicKey, MemberRecord>;
    /// An author's new last nonce.
    fn nonce(&self, key: &PublicKey) -> Option<u64>;
    /// A changed or new lot.
    fn lot(&self, id: &LotId) -> Option<&LotState>;
    /// A changed or new shipment.
    fn shipment(&self, id: &ShipmentId) -> Option<&ShipmentState>;
    /// A new payment.
    fn payment(&self, id: &Uetr) -> Option<&PaymentState>;
    /// The council, if changed.
    fn council(&self) -> Option<&Council>;
}

impl ChangeSet for Changes {
    fn members(&self) -> &BTreeMap<PublicKey, MemberRecord> {
        &self.members
    }
    fn nonce(&self, key: &PublicKey) -> Option<u64> {
        self.nonces.get(key).copied()
    }
    fn lot(&self, id: &LotId) -> Option<&LotState> {
        self.lots.get(id)
    }
    fn shipment(&self, id: &ShipmentId) -> Option<&ShipmentState> {
        self.shipments.get(id)
    }
    fn payment(&self, id: &Uetr) -> Option<&PaymentState> {
        self.payments.get(id)
    }
    fn council(&self) -> Option<&Council> {
        self.council.as_ref()
    }
}

/// A view of `base` with pending changes on top (a block being built or
/// checked, or a mempool's waiting entries). Dropping it discards the
/// changes. The changes are owned, or borrowed when the view is only read
/// (no copy of a large pool's changes per check).
#[derive(Debug)]
pub struct Overlay<'a, V: View + ?Sized, C: ChangeSet = Changes> {
    base: &'a V,
    pending: Cow<'a, C>,
}

impl<'a, V: View + ?Sized, C: ChangeSet> Overlay<'a, V, C> {
    /// A read-only view of `base` with `changes` on top, without copying
    /// them (they are copied only if more are pushed).
    pub fn over(base: &'a V, changes: &'a C) -> Self {
        Overlay {
            base,
            pending: Cow::Borrowed(changes),
        }
    }

    /// A read-only view of `base` with `changes` on top, holding them
    /// (for a change set that is itself a cheap handle on changes kept
    /// elsewhere).
    pub fn owning(base: &'a V, changes: C) -> Self {
        Overlay {
            base,
            pending: Cow::Owned(changes),
        }
    }
}

impl<'a, V: View + ?Sized> Overlay<'a, V> {
    /// An overlay with no changes.
    pub fn new(base: &'a V) -> Self {
        Overlay {
            base,
            pending: Cow::Owned(Changes::default()),
        }
    }

    /// Adds changes.
    pub fn push(&mut self, changes: Changes) {
        self.pending.to_mut().merge(changes);
    }

    /// The accumulated changes.
    pub fn into_changes(self) -> Changes {
        self.pending.into_owned()
    }

    /// The accumulated changes, borrowed.
    pub fn changes(&self) -> &Changes {
        &self.pending
    }
}

impl<V: View + ?Sized, C: ChangeSet> View for Overlay<'_, V, C> {
    fn chain_id(&self) -> &ChainId {
        self.base.chain_id()
    }
    fn council(&self) -> &Council {
        self.pending
            .council()
            .unwrap_or_else(|| self.base.council())
    }
    fn yields(&self) -> &[YieldRule] {
        self.base.yields()
    }
    fn member(&self, key: &PublicKey) -> Option<&MemberRecord> {
        self.pending
            .members()
            .get(key)
            .or_else(|| self.base.member(key))
    }
    fn active_admins(&self) -> BTreeSet<PublicKey> {
        let mut admins = self.base.active_admins();
        for (k, m) in self.pending.members() {
            if m.active() && m.spec.has(Role::Admin) {
                admins.insert(*k);
            } else {
                admins.remove(k);
            }
        }
        admins
    }
    fn active_member_named(&self, name: &str) -> Option<PublicKey> {
        let members = self.pending.members();
        if let Some((k, _)) = members
            .iter()
            .find(|(_, m)| m.active() && m.spec.name == name)
        {
            return Some(*k);
        }
        self.base.active_member_named(name).filter(|k| {
            members
                .get(k)
                .is_none_or(|m| m.active() && m.spec.name == name)
        })
    }
    fn prefix_owner(&self, digits: &str) -> Option<&MemberRecord> {
        overlay_prefix_holder(
            self.pending.members(),
            self.base.prefix_owner(digits),
            |p| p.covers(digits),
        )
    }
    fn prefix_overlapping(&self, prefix: &CompanyPrefix) -> Option<&MemberRecord> {
        overlay_prefix_holder(
            self.pending.members(),
            self.base.prefix_overlapping(prefix),
            |p| p.overlaps(prefix),
        )
    }
    fn nonce(&self, key: &PublicKey) -> u64 {
        self.pending
            .nonce(key)
            .unwrap_or_else(|| self.base.nonce(key))
    }
    fn lot(&self, id: &LotId) -> Option<Cow<'_, LotState>> {
        match self.pending.lot(id) {
            Some(l) => Some(Cow::Borrowed(l)),
            None => self.base.lot(id),
        }
    }
    fn shipment(&self, id: &ShipmentId) -> Option<Cow<'_, ShipmentState>> {
        match self.pending.shipment(id) {
            Some(s) => Some(Cow::Borrowed(s)),
            None => self.base.shipment(id),
        }
    }
    fn payment(&self, id: &Uetr) -> Option<Cow<'_, PaymentState>> {
        match self.pending.payment(id) {
            Some(p) => Some(Cow::Borrowed(p)),
            None => self.base.payment(id),
        }
    }
}
