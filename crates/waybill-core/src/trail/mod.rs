//! Trails: a lot's provenance and custody with the proofs to check them,
//! and the verifier a consumer runs trusting only the genesis.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::block::{CommitCertificate, Header};
use crate::crypto::{Hash32, PublicKey};
use crate::entry::{Body, EntryId, SignedEntry};
use crate::genesis::Genesis;
use crate::gs1::LotId;
use crate::index::KeyProof;
use crate::merkle;
use crate::rules::{self, At, Effects, Mode};
use crate::state::{Overlay, State};

mod complete;
mod council;
mod export;
mod member;
mod period;
mod report;

pub use complete::{check_complete, Completeness};

pub use council::{council_validators, Council};
pub use export::{export_message, sign_export, verify_export_signature};
pub use member::{check_member_complete, verify_member, MemberLine, MemberReport, MemberTrail};
pub use period::{
    check_period_complete, verify_period, NeededCheckpoint, PeriodLine, PeriodReport, PeriodTrail,
};
use report::{
    compromised, custody_step, holding, notices, origins, payment_line, state_members, strike,
};
pub use report::{
    money, produce_of, CompromisedLine, ConfirmedLine, CorrectionLine, CustodyStep, ExcursionLine,
    Origin, PaymentLine, PlotLine, RecallLine,
};

/// The trail format version.
pub const TRAIL_VERSION: u16 = 1;

/// One entry of a trail with what proves it is on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailItem {
    /// The entry.
    pub entry: SignedEntry,
    /// Its position in the block.
    pub index: u32,
    /// The block's header.
    pub header: Header,
    /// RFC 9162 inclusion proof of the entry id under `header.entries_root`.
    pub proof: Vec<Hash32>,
    /// The block's commit certificate (from consensus; absent on a local
    /// ledger).
    pub certificate: Option<CommitCertificate>,
}

/// Everything that touches a lot or its ancestors, in chain order, plus
/// every membership change (so roles can be checked at each point).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trail {
    /// Format version ([`TRAIL_VERSION`]).
    pub version: u16,
    /// The chain.
    pub chain_id: Hash32,
    /// The lot asked about.
    pub lot: LotId,
    /// The height of the ledger when the trail was made.
    pub tip_height: u64,
    /// The entries, ordered by (height, index).
    pub items: Vec<TrailItem>,
    /// Proofs that nothing was left out: the completeness index's value
    /// of each lot, shipment and payment of the trail and of the
    /// consortium's membership, under the index root of the checkpoint of
    /// `tip_height` (see [`check_complete`]). Absent from a local
    /// ledger's trail and from older nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<Vec<KeyProof>>,
}

/// How strict verification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Require a valid commit certificate (> 2/3 of the voting power) on
    /// every block. Off only for a local, single-operator ledger.
    pub require_certificates: bool,
}

/// What failed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailError {
    /// Trail format.
    #[error("trail format version {0} is not supported (expected {TRAIL_VERSION})")]
    Version(u16),
    /// Chain mismatch.
    #[error("the trail is for chain {got}, but the genesis given is chain {expected}")]
    WrongChain {
        /// From genesis.
        expected: String,
        /// From the trail.
        got: String,
    },
    /// Empty or out-of-order items.
    #[error("the trail's entries are not in chain order at entry #{0}")]
    Order(usize),
    /// A problem with one entry.
    #[error("entry #{item} ({kind} at height {height}, id {id}): {reason}")]
    Item {
        /// 1-based position in the trail.
        item: usize,
        /// Entry kind.
        kind: &'static str,
        /// Block height.
        height: u64,
        /// Short entry id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// No production entry for the lot.
    #[error("the trail has no production entry for lot {0}: its origin is missing")]
    MissingOrigin(LotId),
    /// The trail leaves out entries the certified completeness index
    /// counts, or its proofs do not hold.
    #[error("the trail is not complete: {0}")]
    Incomplete(String),
    /// A council (see [`Council`]) that cannot say the validator set.
    #[error("the consortium's history does not hold: {0}")]
    Council(String),
    /// A period export (see [`PeriodTrail`]) whose bounds do not hold.
    #[error("the period's bounds do not hold: {0}")]
    Period(String),
}

/// A verified trail, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailReport {
    /// The lot.
    pub lot: LotId,
    /// Chain name from genesis.
    pub chain_name: String,
    /// Chain id.
    pub chain_id: Hash32,
    /// The lot's origin and then its ancestors' (breadth first).
    pub origins: Vec<Origin>,
    /// Custody events for the lot and its ancestors, in chain order.
    pub custody: Vec<CustodyStep>,
    /// Payments for the shipments in the trail.
    pub payments: Vec<PaymentLine>,
    /// Recalls and withdrawals of the lot or its ancestors (lifted ones
    /// say so).
    pub recalls: Vec<RecallLine>,
    /// Entries of the trail declared erroneous.
    pub corrections: Vec<CorrectionLine>,
    /// Readings outside their declared range on the trail's shipments.
    pub excursions: Vec<ExcursionLine>,
    /// Who holds the lot now, per the trail.
    pub custodian: String,
    /// What is left of it and where, or `consumed`.
    pub status: String,
    /// Entries checked.
    pub entries: usize,
    /// Blocks whose commit certificates were verified.
    pub certified_blocks: usize,
    /// Blocks without a certificate (local ledger).
    pub uncertified_blocks: usize,
    /// The ledger height when the trail was made.
    pub tip_height: u64,
    /// Members at the end of the trail (after membership changes), by key.
    #[serde(skip)]
    pub final_members: BTreeMap<PublicKey, (String, Vec<crate::genesis::Role>)>,
    /// Entries signed with a key revoked as compromised since before
    /// them (they stand, flagged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compromised: Vec<CompromisedLine>,
    /// The validator set at the trail's tip height, as genesis and the
    /// trail's governance entries make it (what certifies that height's
    /// checkpoint of the log).
    #[serde(skip)]
    pub validators: Vec<crate::genesis::ValidatorSpec>,
    /// What the trail shows of each key of the completeness index, and
    /// which keys a complete trail must be proven complete for.
    #[serde(skip)]
    pub completeness: Completeness,
}

/// Verifies a trail against the genesis: chain, order, inclusion proofs,
/// certificates (per `policy`), signatures, and every custody rule replayed
/// over the lot and its ancestors.
pub fn verify(genesis: &Genesis, trail: &Trail, policy: Policy) -> Result<TrailReport, TrailError> {
    let chain_id = check_version_and_chain(genesis, trail)?;
    // Proofs first: every item must be on the chain before its content counts.
    let proven = check_proofs(genesis, trail, chain_id, policy)?;
    // Scope: the lot and its ancestors, from the production entries.
    let lineage = lineage(trail)?;
    // Replay the rules over the scope.
    let base = State::genesis(genesis);
    let replayed = replay(&base, trail, &proven.ids, &lineage.scope)?;
    let state = &replayed.state;
    let completeness = Completeness::of(trail, &replayed.effects, &lineage.scope);
    let (custodian, status) = holding(state, trail)?;
    let mut origins = origins(state, trail, &lineage);
    let final_members = state_members(state, genesis, trail);
    let compromised = compromised(state, trail, &proven.ids);
    let mut notices = notices(state, trail, &proven.ids, &lineage.scope);
    let mut custody = replayed.custody;
    let mut payments = replayed.payments;
    strike(
        &notices.corrections,
        &mut custody,
        &mut origins,
        &mut payments,
        &mut notices.excursions,
        trail,
        &proven.ids,
    );
    Ok(TrailReport {
        lot: trail.lot.clone(),
        chain_name: genesis.chain_name.clone(),
        chain_id,
        origins,
        custody,
        payments,
        recalls: notices.recalls,
        corrections: notices.corrections,
        excursions: notices.excursions,
        custodian,
        status,
        entries: trail.items.len(),
        certified_blocks: proven.certified.len(),
        uncertified_blocks: proven.uncertified.difference(&proven.certified).count(),
        tip_height: trail.tip_height,
        final_members,
        compromised,
        validators: proven.validators,
        completeness,
    })
}

/// What [`check_proofs`] established: each item's entry id, and the
/// heights of the blocks with a verified certificate and without one.
struct Proven {
    ids: Vec<EntryId>,
    certified: BTreeSet<u64>,
    uncertified: BTreeSet<u64>,
    /// The validator set of the height asked for (the trail's tip).
    validators: Vec<crate::genesis::ValidatorSpec>,
}

/// The lot and its ancestors, from the production entries.
struct Lineage<'t> {
    /// Each lot's production entry, as its position in the trail.
    produced: BTreeMap<&'t LotId, usize>,
    /// The lot and its ancestors.
    scope: BTreeSet<LotId>,
    /// The same, breadth first from the lot.
    order: Vec<LotId>,
}

/// The rules replayed over a trail: the state after its last item, and
/// what happened on the way.
struct Replayed<'a> {
    state: Overlay<'a, State>,
    custody: Vec<CustodyStep>,
    payments: Vec<PaymentLine>,
    /// What each item touched, as a block's validation works it out.
    effects: Vec<Effects>,
}

/// The error for item `i` of a trail (entry id `id`), given the reason.
fn item_error<'t>(
    i: usize,
    item: &'t TrailItem,
    id: &'t EntryId,
) -> impl Fn(String) -> TrailError + 't {
    move |reason| TrailError::Item {
        item: i + 1,
        kind: item.entry.entry.body.kind(),
        height: item.header.height,
        id: id.short(),
        reason,
    }
}

/// Checks the trail's format version and that it is of the genesis's
/// chain. Returns the chain id.
fn check_version_and_chain(genesis: &Genesis, trail: &Trail) -> Result<Hash32, TrailError> {
    check_format(genesis, trail.version, trail.chain_id)
}

/// The chain id of `genesis`, if a trail-format document of `version`
/// for `chain_id` can be read against it.
fn check_format(genesis: &Genesis, version: u16, chain_id: Hash32) -> Result<Hash32, TrailError> {
    if version != TRAIL_VERSION {
        return Err(TrailError::Version(version));
    }
    let expected = genesis.chain_id();
    if chain_id != expected {
        return Err(TrailError::WrongChain {
            expected: expected.to_hex(),
            got: chain_id.to_hex(),
        });
    }
    Ok(expected)
}

/// Checks that every item is on the chain: in chain order, under a header
/// of this chain within the trail's range (one header per height), by its
/// inclusion proof, with its block's certificate (per `policy`) and its
/// signatures.
fn check_proofs(
    genesis: &Genesis,
    trail: &Trail,
    chain_id: Hash32,
    policy: Policy,
) -> Result<Proven, TrailError> {
    let tip = trail.tip_height;
    check_items(genesis, &trail.items, tip, chain_id, policy, tip)
}

/// [`check_proofs`] of `items` under a tip of `tip_height`, with the
/// validator set of height `set_at` (as the genesis and the items of
/// earlier heights make it) in [`Proven::validators`].
fn check_items(
    genesis: &Genesis,
    items: &[TrailItem],
    tip_height: u64,
    chain_id: Hash32,
    policy: Policy,
    set_at: u64,
) -> Result<Proven, TrailError> {
    let mut proven = Proven {
        ids: Vec::with_capacity(items.len()),
        certified: BTreeSet::new(),
        uncertified: BTreeSet::new(),
        validators: Vec::new(),
    };
    let mut headers: BTreeMap<u64, Hash32> = BTreeMap::new();
    let mut last: Option<(u64, u32)> = None;
    // The consortium as the trail's membership and governance entries
    // leave it, for the validator set of each block's height: a block is
    // certified by the set of its height, which those entries (each
    // proven under an earlier height's set) changed.
    let mut governed = Governed::new(genesis);
    let mut set: Option<Vec<crate::genesis::ValidatorSpec>> = None;
    for (i, item) in items.iter().enumerate() {
        if set.is_none() && item.header.height >= set_at {
            set = Some(rules::validators_at(&governed.state, set_at));
        }
        let pos = (item.header.height, item.index);
        if last.is_some_and(|l| l >= pos) {
            return Err(TrailError::Order(i + 1));
        }
        last = Some(pos);
        let id = item.entry.id();
        let fail = item_error(i, item, &id);
        check_header(item, chain_id, tip_height, &mut headers).map_err(&fail)?;
        check_inclusion(item, &id).map_err(&fail)?;
        check_certificate(&governed, item, policy, &mut proven).map_err(&fail)?;
        item.entry
            .verify_signatures()
            .map_err(|e| fail(e.to_string()))?;
        governed.follow(item, id);
        proven.ids.push(id);
    }
    proven.validators = set.unwrap_or_else(|| rules::validators_at(&governed.state, set_at));
    Ok(proven)
}

/// Checks an item's header: of this chain, within the trail's range, and
/// the same as any other given for its height (recorded in `headers`).
fn check_header(
    item: &TrailItem,
    chain_id: Hash32,
    tip_height: u64,
    headers: &mut BTreeMap<u64, Hash32>,
) -> Result<(), String> {
    if item.header.chain_id != chain_id {
        return Err("its block header is for another chain".into());
    }
    if item.header.height == 0 || item.header.height > tip_height {
        return Err(format!(
            "its block height is outside the trail's range 1..={tip_height}"
        ));
    }
    let hash = item.header.hash();
    if let Some(h) = headers.insert(item.header.height, hash) {
        if h != hash {
            return Err("two different headers are given for the same height".into());
        }
    }
    Ok(())
}

/// Checks an item's inclusion proof (of its entry id `id`) against its
/// header's entries root.
fn check_inclusion(item: &TrailItem, id: &EntryId) -> Result<(), String> {
    let proof: Vec<[u8; 32]> = item.proof.iter().map(|h| h.0).collect();
    merkle::verify_inclusion(
        &id.0,
        u64::from(item.index),
        u64::from(item.header.entry_count),
        &proof,
        &item.header.entries_root.0,
    )
    .map_err(|e| format!("its inclusion proof does not match the block header: {e}; the entry was altered or is not in that block"))
}

/// Verifies an item's block certificate (once per block), or, without
/// one, refuses it if `policy` requires certificates; records the block
/// as certified or not in `proven`.
fn check_certificate(
    governed: &Governed,
    item: &TrailItem,
    policy: Policy,
    proven: &mut Proven,
) -> Result<(), String> {
    match &item.certificate {
        Some(cert) => {
            if !proven.certified.contains(&item.header.height) {
                let validators = rules::validators_at(&governed.state, item.header.height);
                cert.verify_with(&validators, &item.header)
                    .map_err(|e| e.to_string())?;
                proven.certified.insert(item.header.height);
            }
        }
        None if policy.require_certificates => {
            return Err("its block has no commit certificate, so it is not proven final".into())
        }
        None => {
            proven.uncertified.insert(item.header.height);
        }
    }
    Ok(())
}

/// The lot and its ancestors, breadth first through the production
/// entries' inputs; each must have its production entry in the trail.
fn lineage(trail: &Trail) -> Result<Lineage<'_>, TrailError> {
    let mut produced: BTreeMap<&LotId, usize> = BTreeMap::new();
    for (i, item) in trail.items.iter().enumerate() {
        if let Some(p) = produce_of(&item.entry.entry.body) {
            produced.insert(&p.lot, i);
        }
    }
    let mut scope = BTreeSet::new();
    let mut order = Vec::new();
    let mut queue = std::collections::VecDeque::from([trail.lot.clone()]);
    while let Some(lot) = queue.pop_front() {
        if !scope.insert(lot.clone()) {
            continue;
        }
        order.push(lot.clone());
        match produced.get(&lot) {
            Some(&i) => {
                if let Some(p) = produce_of(&trail.items[i].entry.entry.body) {
                    queue.extend(p.inputs.iter().map(|x| x.lot.clone()));
                }
            }
            None => return Err(TrailError::MissingOrigin(lot)),
        }
    }
    Ok(Lineage {
        produced,
        scope,
        order,
    })
}

/// Replays the rules over every item, from the genesis state `base`, in
/// trail mode over `scope`, collecting the custody steps that move a lot
/// of the scope and the payments for the trail's shipments.
fn replay<'a>(
    base: &'a State,
    trail: &Trail,
    ids: &[EntryId],
    scope: &BTreeSet<LotId>,
) -> Result<Replayed<'a>, TrailError> {
    let mut state = Overlay::new(base);
    let mut custody = Vec::new();
    let mut payments = Vec::new();
    let mut shipments_seen = BTreeSet::new();
    let mut effects = Vec::with_capacity(trail.items.len());
    for (i, item) in trail.items.iter().enumerate() {
        let fail = item_error(i, item, &ids[i]);
        let new_step = match &item.entry.entry.body {
            Body::SealedPayment(p) => {
                payments
                    .push(payment_line(&state, item, ids[i], p, &shipments_seen).map_err(&fail)?);
                None
            }
            Body::PaymentConfirmation(c) => {
                let id = c.payment_id.to_string();
                let line = payments
                    .iter_mut()
                    .find(|p: &&mut PaymentLine| p.payment_id == id)
                    .ok_or_else(|| {
                        fail(format!(
                            "it confirms payment {id}, which the trail does not carry"
                        ))
                    })?;
                line.confirmed = Some(ConfirmedLine {
                    height: item.header.height,
                    entry_id: ids[i],
                });
                None
            }
            _ => custody_step(&state, scope, item, ids[i], &mut shipments_seen),
        };
        let changes = rules::apply_verified(
            &state,
            &item.entry,
            ids[i],
            At::new(item.header.height, item.header.time_ms),
            Mode::Trail { scope },
        )
        .map_err(|e| fail(e.to_string()))?;
        if let Some(s) = new_step {
            if !s.lots.is_empty() {
                custody.push(s);
            }
        }
        effects.push(rules::effects_of(&item.entry, ids[i], &changes));
        state.push(changes);
    }
    Ok(Replayed {
        state,
        custody,
        payments,
        effects,
    })
}

/// The membership and governance entries of a trail applied in order on
/// the genesis state (nothing else), for the validator set of each
/// height ([`check_proofs`]).
/// The validator set of each of `heights`, as the membership and
/// governance entries among `items` (already verified) make it.
fn validators_at_heights(
    genesis: &Genesis,
    items: &[TrailItem],
    heights: &[u64],
) -> Vec<Vec<crate::genesis::ValidatorSpec>> {
    let council: Vec<(&TrailItem, EntryId)> = items
        .iter()
        .filter(|i| {
            matches!(
                i.entry.entry.body,
                Body::Membership(_) | Body::Governance(_)
            )
        })
        .map(|i| (i, i.entry.id()))
        .collect();
    heights
        .iter()
        .map(|&h| {
            let mut governed = Governed::new(genesis);
            for (item, id) in council.iter().take_while(|(i, _)| i.header.height < h) {
                governed.follow(item, *id);
            }
            rules::validators_at(&governed.state, h)
        })
        .collect()
}

struct Governed {
    state: State,
}

impl Governed {
    fn new(genesis: &Genesis) -> Self {
        Governed {
            state: State::genesis(genesis),
        }
    }

    /// Applies `item` if it changes the consortium. One the rules refuse
    /// is left out here; the replay of the whole trail refuses it.
    fn follow(&mut self, item: &TrailItem, id: EntryId) {
        if !matches!(
            item.entry.entry.body,
            Body::Membership(_) | Body::Governance(_)
        ) {
            return;
        }
        let at = rules::At::new(item.header.height, item.header.time_ms);
        let scope = BTreeSet::new();
        if let Ok(c) = rules::apply_verified(
            &self.state,
            &item.entry,
            id,
            at,
            rules::Mode::Trail { scope: &scope },
        ) {
            self.state.commit(c);
        }
    }
}
