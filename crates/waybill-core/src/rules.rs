//! The state transition: `apply(view, entry) -> Changes | RuleError`.
//!
//! Pure: the caller supplies the state view and the height of the block the
//! entry goes into; nothing here reads a clock or a disk.

use std::collections::BTreeSet;

use crate::codec::{self, MAX_ENTRY_BYTES};
use crate::codes::{Decimal3, Uetr};
use crate::crypto::PublicKey;
use crate::entry::{
    Body, Dispatch, DocRef, EntryId, Location, MembershipChange, Payment, Produce, Receive, Reject,
    SignatureError, SignedEntry, ENTRY_VERSION,
};
use crate::genesis::{MemberSpec, Role};
use crate::gs1::{Gtin, LotId, ShipmentId};
use crate::state::{
    same_member, Changes, LotState, LotStatus, MemberRecord, Overlay, PaymentState, ShipmentStage,
    ShipmentState, View,
};

/// Most documents or certificates on one entry.
pub const MAX_DOCS: usize = 64;
/// Most lots in one shipment.
pub const MAX_SHIPMENT_LOTS: usize = 1000;
/// Most inputs to one lot.
pub const MAX_INPUTS: usize = 256;
/// Most shipments one payment covers.
pub const MAX_PAYMENT_SHIPMENTS: usize = 256;
/// Most characters in a short text field.
pub const MAX_TEXT: usize = 1000;

/// Why an entry is refused. Each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Unknown entry format.
    #[error(
        "entry format version {got} is not supported (this node accepts version {ENTRY_VERSION})"
    )]
    UnsupportedVersion {
        /// The entry's version.
        got: u16,
    },
    /// Signed for another chain.
    #[error("the entry is for chain {got}, but this ledger is chain {expected}; sign it with this chain's genesis")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The entry's.
        got: String,
    },
    /// The entry is too big.
    #[error("the entry is {0} bytes; entries may be at most {MAX_ENTRY_BYTES} bytes")]
    TooLarge(usize),
    /// A field is out of bounds.
    #[error("{0}")]
    BadField(String),
    /// Signatures.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The author is not a member.
    #[error("the author {0} is not a member of this chain")]
    UnknownAuthor(PublicKey),
    /// The author's key was removed or rotated out.
    #[error("the key {key} of `{name}` was removed or rotated out at height {height} and can sign nothing after it")]
    AuthorRemoved {
        /// Member name.
        name: String,
        /// Key.
        key: PublicKey,
        /// Height.
        height: u64,
    },
    /// The author lacks the role.
    #[error(
        "`{name}` may not record a {kind} entry: that needs the role {needed}, and it has {has}"
    )]
    MissingRole {
        /// Member name.
        name: String,
        /// Entry kind.
        kind: &'static str,
        /// Roles that would permit it.
        needed: String,
        /// Roles it has.
        has: String,
    },
    /// The nonce was used already.
    #[error("nonce {got} of `{name}` was already used (a replay?); the next nonce is {expected}")]
    NonceReplayed {
        /// Member name.
        name: String,
        /// Given.
        got: u64,
        /// Expected.
        expected: u64,
    },
    /// The nonce skips ahead.
    #[error("nonce {got} of `{name}` skips ahead; the next nonce is {expected} (submit the missing entries first)")]
    NonceGap {
        /// Member name.
        name: String,
        /// Given.
        got: u64,
        /// Expected.
        expected: u64,
    },
    /// A lot id is taken.
    #[error("lot {0} already exists; lot ids are used once")]
    LotExists(LotId),
    /// GTIN not in the member's prefixes.
    #[error("GTIN {gtin} does not carry any GS1 company prefix of `{member}` ({prefixes}); members may only record their own products")]
    ForeignGtin {
        /// The GTIN.
        gtin: Gtin,
        /// Member name.
        member: String,
        /// Its prefixes.
        prefixes: String,
    },
    /// An unknown lot.
    #[error("lot {0} does not exist on this ledger")]
    UnknownLot(LotId),
    /// A lot listed twice.
    #[error("lot {0} is listed twice in one entry")]
    DuplicateLot(LotId),
    /// The author does not hold the lot.
    #[error("`{author}` does not hold lot {lot}; its custodian is `{custodian}`")]
    NotCustodian {
        /// The lot.
        lot: LotId,
        /// The author's name.
        author: String,
        /// The custodian's name.
        custodian: String,
    },
    /// The lot is in transit.
    #[error("lot {lot} is in transit in shipment {shipment}; it must be received first")]
    LotInTransit {
        /// The lot.
        lot: LotId,
        /// Its shipment.
        shipment: ShipmentId,
    },
    /// The lot was consumed.
    #[error("lot {0} was consumed as an input and no longer exists as goods")]
    LotConsumed(LotId),
    /// Not enough of a lot left.
    #[error("lot {lot} has {have} left, less than the {want} to be consumed")]
    InsufficientQuantity {
        /// The lot.
        lot: LotId,
        /// Left.
        have: Decimal3,
        /// Wanted.
        want: Decimal3,
    },
    /// A shipment id is taken.
    #[error("shipment {0} already exists; shipment ids are used once")]
    ShipmentExists(ShipmentId),
    /// An unknown shipment.
    #[error("shipment {0} does not exist on this ledger")]
    UnknownShipment(ShipmentId),
    /// A counterparty is not an active member with a suitable role.
    #[error("{what} {key} {problem}")]
    BadCounterparty {
        /// Which party.
        what: &'static str,
        /// Its key.
        key: PublicKey,
        /// What is wrong.
        problem: String,
    },
    /// The shipment is closed.
    #[error("shipment {shipment} is already {stage}; it cannot be received or rejected again")]
    ShipmentClosed {
        /// The shipment.
        shipment: ShipmentId,
        /// Its stage.
        stage: &'static str,
    },
    /// Received or rejected by the wrong member.
    #[error("`{author}` cannot {action} shipment {shipment}: only its consignee `{consignee}`{carrier} can")]
    NotConsignee {
        /// The shipment.
        shipment: ShipmentId,
        /// What was attempted.
        action: &'static str,
        /// The author's name.
        author: String,
        /// The consignee's name.
        consignee: String,
        /// ` or carrier …`, when there is one.
        carrier: String,
    },
    /// The payer is not the author.
    #[error("the payer of a payment must be its author; record it with the payer's key")]
    PayerNotAuthor,
    /// Zero amount.
    #[error("the payment amount must be more than zero")]
    ZeroAmount,
    /// A payment id is taken.
    #[error("payment {0} is already recorded; UETRs are used once")]
    PaymentExists(Uetr),
    /// Too few admins signed.
    #[error("a membership change needs {need} admin signatures (of {admins} admins) but has {have}; collect co-signatures with `waybill cosign`")]
    AdminQuorum {
        /// Needed.
        need: usize,
        /// Valid admin signatures.
        have: usize,
        /// Active admins.
        admins: usize,
    },
    /// A co-signer is not an active admin.
    #[error("co-signer {0} is not an active admin")]
    CosignerNotAdmin(PublicKey),
    /// Co-signatures on an entry that takes none.
    #[error("only membership changes carry co-signatures")]
    UnexpectedCosignatures,
    /// A membership change that does not fit the member table.
    #[error("{0}")]
    Membership(String),
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
    height: u64,
) -> Result<Changes, RuleError> {
    entry.verify_signatures()?;
    apply_verified(view, entry, id, height, Mode::Ledger)
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
    height: u64,
) -> Result<Applied, (usize, RuleError)> {
    let ids: Vec<EntryId> = entries.iter().map(|e| e.id()).collect();
    apply_block_with_ids(view, entries, &ids, height, false)
}

/// Like [`apply_block`], with precomputed ids. `prechecked: true` is for
/// callers that already verified every signature (in a batch) and ran
/// [`check_shape`] (or [`check_shape_sized`]) on every entry.
pub fn apply_block_with_ids<V: View>(
    view: &V,
    entries: &[SignedEntry],
    ids: &[EntryId],
    height: u64,
    prechecked: bool,
) -> Result<Applied, (usize, RuleError)> {
    if ids.len() != entries.len() {
        return Err((
            ids.len().min(entries.len()),
            RuleError::BadField("internal: entry ids do not match the entries".into()),
        ));
    }
    let mut overlay = Overlay::new(view);
    let mut effects = Vec::with_capacity(entries.len());
    for (i, (e, id)) in entries.iter().zip(ids).enumerate() {
        let c = if prechecked {
            apply_shaped(&overlay, e, *id, height, Mode::Ledger)
        } else {
            e.verify_signatures()
                .map_err(|err| (i, RuleError::from(err)))?;
            apply_verified(&overlay, e, *id, height, Mode::Ledger)
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

fn effects_of(e: &SignedEntry, id: EntryId, c: &Changes) -> Effects {
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
        Body::Membership(_) => fx.membership = true,
    }
    fx
}

fn name_of<V: View>(view: &V, key: &PublicKey) -> String {
    view.member(key)
        .map(|m| m.spec.name.clone())
        .unwrap_or_else(|| format!("unknown key {}", key.short()))
}

fn roles_text(roles: &[Role]) -> String {
    if roles.is_empty() {
        "no roles".into()
    } else {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), RuleError> {
    if s.chars().count() > max {
        return Err(RuleError::BadField(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RuleError::BadField(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

fn check_docs(field: &str, docs: &[DocRef]) -> Result<(), RuleError> {
    if docs.len() > MAX_DOCS {
        return Err(RuleError::BadField(format!(
            "{field}: at most {MAX_DOCS} documents"
        )));
    }
    for d in docs {
        check_text("a document's media_type", &d.media_type, 255)?;
        if d.media_type.is_empty() {
            return Err(RuleError::BadField(format!(
                "{field}: media_type must not be empty"
            )));
        }
        if let Some(u) = &d.uri {
            check_text("a document's uri", u, 2048)?;
        }
        if let Some(l) = &d.label {
            check_text("a document's label", l, 200)?;
        }
    }
    Ok(())
}

fn check_location(field: &str, l: &Location) -> Result<(), RuleError> {
    if let Some(n) = &l.name {
        check_text(field, n, 200)?;
    }
    if let Some(g) = &l.geo {
        if !(-90_000_000..=90_000_000).contains(&g.lat_micro)
            || !(-180_000_000..=180_000_000).contains(&g.lon_micro)
        {
            return Err(RuleError::BadField(format!(
                "{field}: coordinates out of range (latitude ±90°, longitude ±180°)"
            )));
        }
    }
    Ok(())
}

/// Checks what needs no state: version, size, field bounds.
pub fn check_shape(entry: &SignedEntry) -> Result<(), RuleError> {
    check_shape_sized(entry, codec::encoded_len(entry))
}

/// [`check_shape`] for an entry whose encoded length `len` is known
/// already (from the encoding that gave its id), so it is not measured
/// a second time.
pub fn check_shape_sized(entry: &SignedEntry, len: usize) -> Result<(), RuleError> {
    let e = &entry.entry;
    if e.version != ENTRY_VERSION {
        return Err(RuleError::UnsupportedVersion { got: e.version });
    }
    if len > MAX_ENTRY_BYTES {
        return Err(RuleError::TooLarge(len));
    }
    if !entry.cosignatures.is_empty() && !matches!(e.body, Body::Membership(_)) {
        return Err(RuleError::UnexpectedCosignatures);
    }
    match &e.body {
        Body::Produce(p) => {
            check_text("product description", &p.product.description, MAX_TEXT)?;
            if let Some(id) = &p.product.id {
                check_text("product id", id, 200)?;
            }
            if p.product.gtin.is_none()
                && p.product.id.is_none()
                && p.product.description.trim().is_empty()
            {
                return Err(RuleError::BadField(
                    "a product needs a GTIN, an id or a description".into(),
                ));
            }
            if p.quantity.value.milli() == 0 {
                return Err(RuleError::BadField(
                    "a produced quantity must be more than zero".into(),
                ));
            }
            check_location("origin", &p.origin)?;
            check_docs("certificates", &p.certificates)?;
            check_docs("documents", &p.documents)?;
            if p.inputs.len() > MAX_INPUTS {
                return Err(RuleError::BadField(format!("at most {MAX_INPUTS} inputs")));
            }
            let mut seen = BTreeSet::new();
            for i in &p.inputs {
                if !seen.insert(&i.lot) || i.lot == p.lot {
                    return Err(RuleError::DuplicateLot(i.lot.clone()));
                }
                if i.quantity.milli() == 0 {
                    return Err(RuleError::BadField(format!(
                        "input {} has quantity 0; list only inputs that are used",
                        i.lot
                    )));
                }
            }
        }
        Body::Dispatch(d) => {
            if d.lots.is_empty() {
                return Err(RuleError::BadField(
                    "a shipment needs at least one lot".into(),
                ));
            }
            if d.lots.len() > MAX_SHIPMENT_LOTS {
                return Err(RuleError::BadField(format!(
                    "at most {MAX_SHIPMENT_LOTS} lots per shipment"
                )));
            }
            let mut seen = BTreeSet::new();
            for l in &d.lots {
                if !seen.insert(l) {
                    return Err(RuleError::DuplicateLot(l.clone()));
                }
            }
            check_location("from", &d.from)?;
            check_location("to", &d.to)?;
            check_docs("documents", &d.documents)?;
        }
        Body::Receive(r) => {
            check_location("at", &r.at)?;
            check_docs("documents", &r.documents)?;
        }
        Body::Reject(r) => check_text("reason", &r.reason, MAX_TEXT)?,
        Body::Payment(p) => {
            if p.shipments.len() > MAX_PAYMENT_SHIPMENTS {
                return Err(RuleError::BadField(format!(
                    "a payment may cover at most {MAX_PAYMENT_SHIPMENTS} shipments"
                )));
            }
            if let Some(c) = &p.customs {
                if c.hs_codes.len() > 64 {
                    return Err(RuleError::BadField("at most 64 HS codes".into()));
                }
            }
        }
        Body::Membership(m) => match m {
            MembershipChange::Add(spec) => check_member_spec(spec)?,
            MembershipChange::SetRoles { roles, .. } => check_roles("the member", roles)?,
            MembershipChange::Remove { .. } | MembershipChange::RotateKey { .. } => {}
        },
    }
    Ok(())
}

fn check_roles(who: &str, roles: &[Role]) -> Result<(), RuleError> {
    if roles.is_empty() {
        return Err(RuleError::Membership(format!(
            "{who} needs at least one role"
        )));
    }
    let mut seen = BTreeSet::new();
    for r in roles {
        if !seen.insert(*r) {
            return Err(RuleError::Membership(format!("{who} lists role {r} twice")));
        }
    }
    Ok(())
}

fn check_member_spec(spec: &MemberSpec) -> Result<(), RuleError> {
    if spec.name.trim().is_empty() {
        return Err(RuleError::Membership("a new member needs a name".into()));
    }
    check_text("member name", &spec.name, 200)?;
    check_roles(&format!("member `{}`", spec.name), &spec.roles)?;
    if spec.public_key.check_registrable().is_err() {
        return Err(RuleError::Membership(format!(
            "the key of `{}` is not a valid ed25519 key (a canonical point not of small order)",
            spec.name
        )));
    }
    Ok(())
}

fn permitted(body: &Body) -> &'static [Role] {
    const GOODS: &[Role] = &[
        Role::Producer,
        Role::Processor,
        Role::Carrier,
        Role::Distributor,
        Role::Retailer,
    ];
    match body {
        Body::Produce(p) if p.inputs.is_empty() => &[Role::Producer, Role::Processor],
        Body::Produce(_) => &[Role::Processor, Role::Producer],
        Body::Dispatch(_) | Body::Receive(_) | Body::Reject(_) => GOODS,
        Body::Payment(_) => &[Role::Payer],
        Body::Membership(_) => &[Role::Admin],
    }
}

/// Applies an entry whose signatures were already checked.
pub fn apply_verified<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    height: u64,
    mode: Mode<'_>,
) -> Result<Changes, RuleError> {
    check_shape(entry)?;
    apply_shaped(view, entry, id, height, mode)
}

/// [`apply_verified`] for an entry whose shape was checked already (by
/// [`check_shape`] or [`check_shape_sized`]; it does not depend on state).
pub fn apply_shaped<V: View>(
    view: &V,
    entry: &SignedEntry,
    id: EntryId,
    height: u64,
    mode: Mode<'_>,
) -> Result<Changes, RuleError> {
    let e = &entry.entry;
    if &e.chain_id != view.chain_id() {
        return Err(RuleError::WrongChain {
            expected: view.chain_id().to_hex(),
            got: e.chain_id.to_hex(),
        });
    }
    let author = view
        .member(&e.author)
        .ok_or(RuleError::UnknownAuthor(e.author))?;
    if let Some(h) = author.removed_at {
        return Err(RuleError::AuthorRemoved {
            name: author.spec.name.clone(),
            key: e.author,
            height: h,
        });
    }
    let needed = permitted(&e.body);
    if !needed.iter().any(|r| author.spec.has(*r)) {
        return Err(RuleError::MissingRole {
            name: author.spec.name.clone(),
            kind: e.body.kind(),
            needed: needed
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            has: roles_text(&author.spec.roles),
        });
    }
    let mut changes = Changes::default();
    if matches!(mode, Mode::Ledger) {
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
        changes.nonces.insert(e.author, e.nonce);
    }
    let scope = match mode {
        Mode::Ledger => None,
        Mode::Trail { scope } => Some(scope),
    };
    let ctx = Ctx {
        view,
        author: &e.author,
        author_spec: &author.spec,
        id,
        height,
        scope,
    };
    match &e.body {
        Body::Produce(p) => ctx.produce(p, &mut changes)?,
        Body::Dispatch(d) => ctx.dispatch(d, &mut changes)?,
        Body::Receive(r) => ctx.receive(r, &mut changes)?,
        Body::Reject(r) => ctx.reject(r, &mut changes)?,
        Body::Payment(p) => ctx.payment(p, &mut changes)?,
        Body::Membership(m) => ctx.membership(entry, m, &mut changes)?,
    }
    Ok(changes)
}

struct Ctx<'a, V: View> {
    view: &'a V,
    author: &'a PublicKey,
    author_spec: &'a MemberSpec,
    id: EntryId,
    height: u64,
    scope: Option<&'a BTreeSet<LotId>>,
}

impl<V: View> Ctx<'_, V> {
    /// The lot's current state (pending changes first), or `None` when a
    /// trail leaves it out legitimately.
    fn lot(&self, changes: &Changes, id: &LotId) -> Result<Option<LotState>, RuleError> {
        // A trail holds only the history of its scope: a lot outside it (a
        // by-product shipped with an ancestor, say) has a partial history
        // there, so it is not judged at all.
        if self.scope.is_some_and(|s| !s.contains(id)) {
            return Ok(None);
        }
        if let Some(l) = changes.lots.get(id) {
            return Ok(Some(l.clone()));
        }
        if let Some(l) = self.view.lot(id) {
            return Ok(Some(l.into_owned()));
        }
        Err(RuleError::UnknownLot(id.clone()))
    }

    fn check_gtin(&self, gtin: &Gtin) -> Result<(), RuleError> {
        let prefixes = &self.author_spec.gs1_company_prefixes;
        if prefixes.is_empty() || prefixes.iter().any(|p| gtin.has_company_prefix(p)) {
            return Ok(());
        }
        Err(RuleError::ForeignGtin {
            gtin: *gtin,
            member: self.author_spec.name.clone(),
            prefixes: prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn held_by_author(&self, id: &LotId, lot: &LotState) -> Result<(), RuleError> {
        match &lot.status {
            LotStatus::Consumed => return Err(RuleError::LotConsumed(id.clone())),
            LotStatus::InTransit { shipment } => {
                return Err(RuleError::LotInTransit {
                    lot: id.clone(),
                    shipment: shipment.clone(),
                })
            }
            LotStatus::Held => {}
        }
        if !same_member(self.view, &lot.custodian, self.author) {
            return Err(RuleError::NotCustodian {
                lot: id.clone(),
                author: self.author_spec.name.clone(),
                custodian: name_of(self.view, &lot.custodian),
            });
        }
        Ok(())
    }

    fn produce(&self, p: &Produce, changes: &mut Changes) -> Result<(), RuleError> {
        if self.view.lot(&p.lot).is_some() {
            return Err(RuleError::LotExists(p.lot.clone()));
        }
        if let Some(g) = p.lot.gtin() {
            self.check_gtin(&g)?;
        }
        if let Some(g) = &p.product.gtin {
            self.check_gtin(g)?;
        }
        for input in &p.inputs {
            let Some(mut lot) = self.lot(changes, &input.lot)? else {
                continue;
            };
            self.held_by_author(&input.lot, &lot)?;
            let left = lot
                .remaining
                .milli()
                .checked_sub(input.quantity.milli())
                .ok_or_else(|| RuleError::InsufficientQuantity {
                    lot: input.lot.clone(),
                    have: lot.remaining,
                    want: input.quantity,
                })?;
            lot.remaining = Decimal3::from_milli(left);
            if left == 0 {
                lot.status = LotStatus::Consumed;
            }
            changes.lots.insert(input.lot.clone(), lot);
        }
        changes.lots.insert(
            p.lot.clone(),
            LotState {
                producer: *self.author,
                custodian: *self.author,
                status: LotStatus::Held,
                unit: p.quantity.unit,
                remaining: p.quantity.value,
                produced_by: self.id,
            },
        );
        Ok(())
    }

    fn counterparty(
        &self,
        what: &'static str,
        key: &PublicKey,
        role: Option<Role>,
    ) -> Result<(), RuleError> {
        let bad = |problem: String| RuleError::BadCounterparty {
            what,
            key: *key,
            problem,
        };
        let m = self
            .view
            .member(key)
            .ok_or_else(|| bad("is not a member of this chain".into()))?;
        if !m.active() {
            return Err(bad(format!(
                "(`{}`) was removed from the chain",
                m.spec.name
            )));
        }
        let ok = match role {
            Some(r) => m.spec.has(r),
            None => m.spec.roles.iter().any(|r| r.handles_goods()),
        };
        if !ok {
            return Err(bad(format!(
                "(`{}`) cannot take custody: it has {}",
                m.spec.name,
                roles_text(&m.spec.roles)
            )));
        }
        Ok(())
    }

    fn dispatch(&self, d: &Dispatch, changes: &mut Changes) -> Result<(), RuleError> {
        if self.view.shipment(&d.shipment).is_some() {
            return Err(RuleError::ShipmentExists(d.shipment.clone()));
        }
        if same_member(self.view, &d.consignee, self.author) {
            return Err(RuleError::BadCounterparty {
                what: "consignee",
                key: d.consignee,
                problem: "is the sender; a shipment goes to someone else".into(),
            });
        }
        self.counterparty("consignee", &d.consignee, None)?;
        if let Some(c) = &d.carrier {
            self.counterparty("carrier", c, Some(Role::Carrier))?;
        }
        for id in &d.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            self.held_by_author(id, &lot)?;
            lot.status = LotStatus::InTransit {
                shipment: d.shipment.clone(),
            };
            changes.lots.insert(id.clone(), lot);
        }
        changes.shipments.insert(
            d.shipment.clone(),
            ShipmentState {
                sender: *self.author,
                consignee: d.consignee,
                carrier: d.carrier,
                lots: d.lots.clone(),
                stage: ShipmentStage::Dispatched,
            },
        );
        Ok(())
    }

    fn open_shipment(
        &self,
        id: &ShipmentId,
        action: &'static str,
    ) -> Result<ShipmentState, RuleError> {
        let s = self
            .view
            .shipment(id)
            .ok_or_else(|| RuleError::UnknownShipment(id.clone()))?;
        if !s.stage.open() {
            return Err(RuleError::ShipmentClosed {
                shipment: id.clone(),
                stage: match s.stage {
                    ShipmentStage::Delivered => "delivered",
                    _ => "rejected",
                },
            });
        }
        let is_consignee = same_member(self.view, &s.consignee, self.author);
        let is_carrier = s.stage == ShipmentStage::Dispatched
            && s.carrier
                .as_ref()
                .is_some_and(|c| same_member(self.view, c, self.author));
        if !is_consignee && !is_carrier {
            return Err(RuleError::NotConsignee {
                shipment: id.clone(),
                action,
                author: self.author_spec.name.clone(),
                consignee: name_of(self.view, &s.consignee),
                carrier: match (&s.carrier, s.stage) {
                    (Some(c), ShipmentStage::Dispatched) => {
                        format!(" or its carrier `{}`", name_of(self.view, c))
                    }
                    _ => String::new(),
                },
            });
        }
        Ok(s.into_owned())
    }

    fn receive(&self, r: &Receive, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.open_shipment(&r.shipment, "receive")?;
        let delivered = same_member(self.view, &s.consignee, self.author);
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            lot.custodian = *self.author;
            if delivered {
                lot.status = LotStatus::Held;
            }
            changes.lots.insert(id.clone(), lot);
        }
        s.stage = if delivered {
            ShipmentStage::Delivered
        } else {
            ShipmentStage::WithCarrier
        };
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }

    fn reject(&self, r: &Reject, changes: &mut Changes) -> Result<(), RuleError> {
        let mut s = self.open_shipment(&r.shipment, "reject")?;
        for id in &s.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            lot.custodian = s.sender;
            lot.status = LotStatus::Held;
            changes.lots.insert(id.clone(), lot);
        }
        s.stage = ShipmentStage::Rejected;
        changes.shipments.insert(r.shipment.clone(), s);
        Ok(())
    }

    fn payment(&self, p: &Payment, changes: &mut Changes) -> Result<(), RuleError> {
        if &p.payer != self.author {
            return Err(RuleError::PayerNotAuthor);
        }
        if p.amount_minor == 0 {
            return Err(RuleError::ZeroAmount);
        }
        if let Some(s) = &p.settlement {
            if s.amount_minor == 0 {
                return Err(RuleError::ZeroAmount);
            }
        }
        if self.view.payment(&p.payment_id).is_some() {
            return Err(RuleError::PaymentExists(p.payment_id));
        }
        let payee = self
            .view
            .member(&p.payee)
            .ok_or(RuleError::BadCounterparty {
                what: "payee",
                key: p.payee,
                problem: "is not a member of this chain".into(),
            })?;
        if !payee.active() {
            return Err(RuleError::BadCounterparty {
                what: "payee",
                key: p.payee,
                problem: format!("(`{}`) was removed from the chain", payee.spec.name),
            });
        }
        for s in &p.shipments {
            // A trail carries only the shipments of its lots.
            if self.view.shipment(s).is_none() && self.scope.is_none() {
                return Err(RuleError::UnknownShipment(s.clone()));
            }
        }
        changes.payments.insert(
            p.payment_id,
            PaymentState {
                payer: p.payer,
                payee: p.payee,
                recorded_by: self.id,
            },
        );
        Ok(())
    }

    fn membership(
        &self,
        entry: &SignedEntry,
        m: &MembershipChange,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let admins = self.view.active_admins();
        let mut signers = BTreeSet::from([*self.author]);
        for c in &entry.cosignatures {
            if !admins.contains(&c.signer) {
                return Err(RuleError::CosignerNotAdmin(c.signer));
            }
            signers.insert(c.signer);
        }
        let need = match self.view.admin_threshold() {
            Some(t) => t as usize,
            None => admins.len() / 2 + 1,
        };
        if signers.len() < need {
            return Err(RuleError::AdminQuorum {
                need,
                have: signers.len(),
                admins: admins.len(),
            });
        }
        let existing = |key: &PublicKey| -> Result<MemberRecord, RuleError> {
            let m = self
                .view
                .member(key)
                .ok_or_else(|| RuleError::Membership(format!("{key} is not a member")))?;
            if !m.active() {
                return Err(RuleError::Membership(format!(
                    "`{}` ({}) was already removed",
                    m.spec.name,
                    key.short()
                )));
            }
            Ok(m.clone())
        };
        match m {
            MembershipChange::Add(spec) => {
                if let Some(k) = self.view.active_member_named(&spec.name) {
                    return Err(RuleError::Membership(format!(
                        "an active member is already named `{}` (key {}); names identify members to people and must be unique",
                        spec.name,
                        k.short()
                    )));
                }
                if self.view.member(&spec.public_key).is_some() {
                    return Err(RuleError::Membership(format!(
                        "the key {} is already, or was once, a member's key; use a fresh key",
                        spec.public_key.short()
                    )));
                }
                changes.members.insert(
                    spec.public_key,
                    MemberRecord {
                        spec: spec.clone(),
                        removed_at: None,
                        rotated_to: None,
                    },
                );
            }
            MembershipChange::Remove { public_key } => {
                let mut rec = existing(public_key)?;
                rec.removed_at = Some(self.height);
                changes.members.insert(*public_key, rec);
            }
            MembershipChange::RotateKey { old, new } => {
                let mut rec = existing(old)?;
                if self.view.member(new).is_some() {
                    return Err(RuleError::Membership(format!(
                        "the new key {} is already, or was once, a member's key; use a fresh key",
                        new.short()
                    )));
                }
                if new.check_registrable().is_err() {
                    return Err(RuleError::Membership(format!(
                        "the new key {new} is not a valid ed25519 key (a canonical point not of small order)"
                    )));
                }
                let mut spec = rec.spec.clone();
                spec.public_key = *new;
                rec.removed_at = Some(self.height);
                rec.rotated_to = Some(*new);
                changes.members.insert(*old, rec);
                changes.members.insert(
                    *new,
                    MemberRecord {
                        spec,
                        removed_at: None,
                        rotated_to: None,
                    },
                );
            }
            MembershipChange::SetRoles { public_key, roles } => {
                let mut rec = existing(public_key)?;
                rec.spec.roles = roles.clone();
                changes.members.insert(*public_key, rec);
            }
        }
        Ok(())
    }
}
