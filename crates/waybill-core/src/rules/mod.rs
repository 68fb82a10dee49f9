//! The state transition: `apply(view, entry) -> Changes | RuleError`.
//!
//! Pure: the caller supplies the state view and the height of the block the
//! entry goes into; nothing here reads a clock or a disk.
//!
//! The rules, in the order they are checked:
//!
//! 1. signatures ([`apply`], [`apply_block`]; callers that verified them
//!    in a batch skip this);
//! 2. the entry's shape, which needs no state ([`check_shape`]: version,
//!    size, field bounds; in `shape`);
//! 3. [`apply_shaped`], the one rule function every entry point ends in:
//!    the chain id, an active author, a role that permits the body
//!    (`permission`), the next nonce (ledger only), then the body's own
//!    rules, which are methods of one `Ctx` per entry: `produce`,
//!    `custody` (dispatch, receive, reject), `payment`, `membership`;
//!    `keys` holds the GS1 keys an entry brings in (GTINs, SSCCs, GLNs)
//!    to the owners of their company prefixes.
//!
//! [`apply_block`] and [`apply_block_with_ids`] apply a block's entries
//! in order on an overlay and report what each touched ([`Effects`]).
//! Why an entry is refused is a [`RuleError`] (in `error`).

mod correction;
mod ctx;
mod custody;
mod error;
mod governance;
mod keys;
mod membership;
mod payment;
mod permission;
mod produce;
mod quantity;
mod recall;
mod shape;
mod transit;

use std::collections::BTreeSet;

use crate::codes::Uetr;
use crate::entry::{Body, Corrected, Entry, EntryId, SignedEntry};
use crate::gs1::{LotId, ShipmentId};
use crate::state::{Changes, MemberRecord, Overlay, View};

use ctx::Ctx;
use permission::check_role;

pub use error::RuleError;
pub use governance::{activate, current_key, node_keys_at, validators_at, MAX_VALIDATORS};
pub use shape::{
    check_shape, check_shape_sized, MAX_DOCS, MAX_INPUTS, MAX_PAYMENT_SHIPMENTS, MAX_SHIPMENT_LOTS,
    MAX_TEXT,
};

/// How far an entry's `recorded_at` may lie after its block's time: the
/// clock skew allowed between an author's clock and the validators'.
pub const MAX_RECORDED_AHEAD_MS: i64 = 5 * 60 * 1000;

/// Where an entry is applied: the height and time of the block that
/// commits it (for an entry waiting in a mempool, the next height and the
/// node's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The block's height.
    pub height: u64,
    /// The block's time (ms since the Unix epoch).
    pub time_ms: i64,
}

impl At {
    /// Height `height` at time `time_ms`.
    pub fn new(height: u64, time_ms: i64) -> Self {
        At { height, time_ms }
    }
}

/// Which checks `apply` makes.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// The ledger: every rule.
    Ledger,
    /// Verifying a trail: no nonce check (other entries of the author are
    /// not in the trail), and lots outside `scope` that the trail does not
    /// contain are skipped.
    Trail {
        /// The lot and its ancestors.
        scope: &'a BTreeSet<LotId>,
    },
}

/// Checks and applies one entry: signatures, then every rule.
pub fn apply<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    at: At,
) -> Result<Changes, RuleError> {
    entry.verify_signatures()?;
    apply_verified(view, entry, id, at, Mode::Ledger)
}

/// What one entry touched, for the store's indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// The entry id.
    pub id: EntryId,
    /// Lots whose state it changed (a produced lot, consumed inputs,
    /// shipped, received or rejected lots).
    pub lots: Vec<LotId>,
    /// Shipments it names (dispatched, received, rejected or paid for).
    pub shipments: Vec<ShipmentId>,
    /// The payment it records.
    pub payment: Option<Uetr>,
    /// For a production with inputs: (input lot, produced lot) pairs.
    pub made_from: Vec<(LotId, LotId)>,
    /// Whether it changes the membership.
    pub membership: bool,
}

/// A block's entries applied: the merged state changes and what each
/// entry touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// All state writes of the block.
    pub changes: Changes,
    /// Per entry, in block order.
    pub effects: Vec<Effects>,
}

/// Applies a block's entries in order on top of `view`, checking
/// signatures. The error names the first failing entry's index.
pub fn apply_block<V: View>(
    view: &V,
    entries: &[SignedEntry],
    at: At,
) -> Result<Applied, (usize, RuleError)> {
    let ids: Vec<EntryId> = entries.iter().map(|e| e.id()).collect();
    apply_block_with_ids(view, entries, &ids, at, false)
}

/// Like [`apply_block`], with precomputed ids. `prechecked: true` is for
/// callers that already verified every signature (in a batch) and ran
/// [`check_shape`] (or [`check_shape_sized`]) on every entry.
pub fn apply_block_with_ids<V: View>(
    view: &V,
    entries: &[SignedEntry],
    ids: &[EntryId],
    at: At,
    prechecked: bool,
) -> Result<Applied, (usize, RuleError)> {
    if ids.len() != entries.len() {
        return Err((
            ids.len().min(entries.len()),
            RuleError::BadField("internal: entry ids do not match the entries".into()),
        ));
    }
    let mut overlay = Overlay::new(view);
    // Governance changes due at this height hold before its first entry.
    if let Some(due) = activate(view, at.height) {
        overlay.push(due);
    }
    let mut effects = Vec::with_capacity(entries.len());
    for (i, (e, id)) in entries.iter().zip(ids).enumerate() {
        let c = if prechecked {
            apply_shaped(&overlay, e, *id, at, Mode::Ledger)
        } else {
            e.verify_signatures()
                .map_err(|err| (i, RuleError::from(err)))?;
            apply_verified(&overlay, e, *id, at, Mode::Ledger)
        }
        .map_err(|err| (i, err))?;
        effects.push(effects_of(e, *id, &c));
        overlay.push(c);
    }
    Ok(Applied {
        changes: overlay.into_changes(),
        effects,
    })
}

/// What entry `e` (with id `id` and state writes `c`) touched: the
/// lots whose state it wrote, and the shipments, payment and membership
/// its body names. A trail's verifier works them out as a block's
/// validation does, for the completeness index.
pub fn effects_of(e: &SignedEntry, id: EntryId, c: &Changes) -> Effects {
    let mut fx = Effects {
        id,
        lots: c.lots.keys().cloned().collect(),
        ..Effects::default()
    };
    match &e.entry.body {
        Body::Produce(p) => {
            fx.made_from = p
                .inputs
                .iter()
                .map(|i| (i.lot.clone(), p.lot.clone()))
                .collect();
        }
        Body::Dispatch(d) => fx.shipments.push(d.shipment.clone()),
        Body::Receive(r) => fx.shipments.push(r.shipment.clone()),
        Body::Reject(r) => fx.shipments.push(r.shipment.clone()),
        Body::Payment(p) => {
            fx.shipments = p.shipments.clone();
            fx.payment = Some(p.payment_id);
        }
        Body::SealedPayment(p) => {
            fx.shipments = p.shipments.clone();
            fx.payment = Some(p.payment_id);
        }
        Body::PaymentConfirmation(c) => fx.payment = Some(c.payment_id),
        Body::Membership(_) | Body::Governance(_) => fx.membership = true,
        Body::ProduceV2(p) => {
            fx.made_from = p
                .produce
                .inputs
                .iter()
                .map(|i| (i.lot.clone(), p.produce.lot.clone()))
                .collect();
        }
        Body::DispatchV2(d) => fx.shipments.push(d.shipment.clone()),
        Body::ReceiveV2(r) => fx.shipments.push(r.shipment.clone()),
        Body::Handover(h) => fx.shipments.push(h.shipment.clone()),
        Body::Readings(r) => fx.shipments.push(r.shipment.clone()),
        Body::Recall(_) | Body::RecallLift(_) => {}
        Body::Correction(c) => match &c.corrected {
            Corrected::Lot(_) => {}
            Corrected::Shipment(s) | Corrected::Receipt(s) | Corrected::Readings(s) => {
                fx.shipments.push(s.clone())
            }
            Corrected::Payment(p) => fx.payment = Some(*p),
        },
    }
    fx
}

/// Applies an entry whose signatures were already checked.
pub fn apply_verified<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    at: At,
    mode: Mode<'_>,
) -> Result<Changes, RuleError> {
    check_shape(entry)?;
    apply_shaped(view, entry, id, at, mode)
}

/// [`apply_verified`] for an entry whose shape was checked already (by
/// [`check_shape`] or [`check_shape_sized`]; it does not depend on state).
pub fn apply_shaped<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    at: At,
    mode: Mode<'_>,
) -> Result<Changes, RuleError> {
    // Alone (an entry waiting for the next block, or a trail's), an entry
    // first sees the governance changes due at its height; in a block,
    // `apply_block_with_ids` made them already and none is due here.
    if let Some(due) = activate(view, at.height) {
        let over = Overlay::owning(view, due);
        let mut changes = over.changes().clone();
        changes.merge(apply_due(&over, entry, id, at, mode)?);
        return Ok(changes);
    }
    apply_due(view, entry, id, at, mode)
}

/// [`apply_shaped`] on a view with no governance change due.
fn apply_due<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    at: At,
    mode: Mode<'_>,
) -> Result<Changes, RuleError> {
    let e = &entry.entry;
    check_chain(view, e)?;
    check_time(e, at)?;
    let author = active_author(view, e)?;
    check_role(&author.spec, &e.body)?;
    let mut changes = Changes::default();
    if matches!(mode, Mode::Ledger) {
        check_nonce(view, e, author)?;
        changes.nonces.insert(e.author, e.nonce);
    }
    let scope = match mode {
        Mode::Ledger => None,
        Mode::Trail { scope } => Some(scope),
    };
    let ctx = Ctx {
        view,
        entry,
        author: &e.author,
        author_spec: &author.spec,
        id,
        height: at.height,
        scope,
    };
    apply_body(&ctx, entry, &mut changes)?;
    Ok(changes)
}

/// Refuses an entry signed for another chain.
fn check_chain<V: View>(view: &V, e: &Entry) -> Result<(), RuleError> {
    if &e.chain_id != view.chain_id() {
        return Err(RuleError::WrongChain {
            expected: view.chain_id().to_hex(),
            got: e.chain_id.to_hex(),
        });
    }
    Ok(())
}

/// Refuses an entry dated after its block (beyond the allowed skew).
fn check_time(e: &Entry, at: At) -> Result<(), RuleError> {
    if e.recorded_at_ms > at.time_ms.saturating_add(MAX_RECORDED_AHEAD_MS) {
        return Err(RuleError::FromTheFuture {
            recorded: crate::text::rfc3339_ms(e.recorded_at_ms),
            block: crate::text::rfc3339_ms(at.time_ms),
            skew_s: MAX_RECORDED_AHEAD_MS / 1000,
        });
    }
    Ok(())
}

/// The author's record, if it is a member whose key was not removed or
/// rotated out.
fn active_author<'v, V: View>(view: &'v V, e: &Entry) -> Result<&'v MemberRecord, RuleError> {
    let author = view
        .member(&e.author)
        .ok_or_else(|| not_a_member(view, &e.author))?;
    if let Some(h) = author.removed_at {
        return Err(RuleError::AuthorRemoved {
            name: author.spec.name.clone(),
            key: e.author,
            height: h,
        });
    }
    Ok(author)
}

/// Why `key` may not sign: it joins later, or it is no member at all.
fn not_a_member<V: View>(view: &V, key: &crate::crypto::PublicKey) -> RuleError {
    use crate::governance::GovernanceChange;
    view.council()
        .scheduled
        .iter()
        .flat_map(|(h, items)| items.iter().map(move |s| (*h, &s.change)))
        .find_map(|(h, c)| match c {
            GovernanceChange::AddMember(spec) if &spec.public_key == key => {
                Some((h, spec.name.clone()))
            }
            GovernanceChange::RotateKey { new, old } if new == key => {
                Some((h, ctx::name_of(view, old)))
            }
            GovernanceChange::RevokeKey {
                replacement: Some(new),
                public_key,
                ..
            } if new == key => Some((h, ctx::name_of(view, public_key))),
            _ => None,
        })
        .map_or_else(
            || match view.council().node_keys.get(key) {
                Some(member) => RuleError::NodeKeySigned {
                    key: *key,
                    name: ctx::name_of(view, member),
                },
                None => RuleError::UnknownAuthor(*key),
            },
            |(height, name)| RuleError::NotYetMember {
                key: *key,
                name,
                height,
            },
        )
}

/// Refuses any nonce but the author's next one: a used one is a replay,
/// a later one leaves a gap. Ledger only (a trail lacks the author's
/// other entries).
fn check_nonce<V: View>(view: &V, e: &Entry, author: &MemberRecord) -> Result<(), RuleError> {
    let expected = view.nonce(&e.author).checked_add(1).ok_or_else(|| {
        RuleError::BadField(format!(
            "`{}` has used every nonce; rotate its key",
            author.spec.name
        ))
    })?;
    if e.nonce < expected {
        return Err(RuleError::NonceReplayed {
            name: author.spec.name.clone(),
            got: e.nonce,
            expected,
        });
    }
    if e.nonce > expected {
        return Err(RuleError::NonceGap {
            name: author.spec.name.clone(),
            got: e.nonce,
            expected,
        });
    }
    Ok(())
}

/// Applies the body's own rules (see the per-body modules).
fn apply_body<V: View>(
    ctx: &Ctx<'_, V>,
    entry: &SignedEntry,
    changes: &mut Changes,
) -> Result<(), RuleError> {
    match &entry.entry.body {
        Body::Produce(p) => ctx.produce(p, changes),
        Body::Dispatch(d) => ctx.dispatch(d, changes),
        Body::Receive(r) => ctx.receive(r, changes),
        Body::Reject(r) => ctx.reject(r, changes),
        // Refused by the shape rules already; terms go on the ledger sealed.
        Body::Payment(_) => Err(RuleError::PlainPayment),
        Body::SealedPayment(p) => ctx.sealed_payment(p, changes),
        Body::PaymentConfirmation(c) => ctx.confirm_payment(c, changes),
        Body::Membership(m) => ctx.membership(entry, m, changes),
        Body::ProduceV2(p) => ctx.produce_v2(p, changes),
        Body::DispatchV2(d) => ctx.dispatch_v2(d, changes),
        Body::ReceiveV2(r) => ctx.receive_v2(r, changes),
        Body::Handover(h) => ctx.handover(h, changes),
        Body::Readings(r) => ctx.readings(r, changes),
        Body::Recall(r) => ctx.recall(r, changes),
        Body::RecallLift(l) => ctx.recall_lift(l, changes),
        Body::Correction(c) => ctx.correction(c, changes),
        Body::Governance(g) => ctx.governance(entry, g, changes),
    }
}
