//! The checks that need no state: version, size and field bounds.
//!
//! [`check_shape`] runs once per entry, before any rule that reads the
//! ledger; the per-body steps below bound every text, list and
//! coordinate an entry can carry.

use std::collections::BTreeSet;

use super::error::RuleError;
use crate::codec::{self, MAX_ENTRY_BYTES};
use crate::entry::{
    Body, Dispatch, DocRef, Location, MembershipChange, Payment, Produce, SignedEntry,
    ENTRY_VERSION,
};
use crate::genesis::{MemberSpec, Role};

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
        Body::Produce(p) => check_produce_shape(p)?,
        Body::Dispatch(d) => check_dispatch_shape(d)?,
        Body::Receive(r) => {
            check_location("at", &r.at)?;
            check_docs("documents", &r.documents)?;
        }
        Body::Reject(r) => check_text("reason", &r.reason, MAX_TEXT)?,
        Body::Payment(p) => check_payment_shape(p)?,
        Body::Membership(m) => match m {
            MembershipChange::Add(spec) => check_member_spec(spec)?,
            MembershipChange::SetRoles { roles, .. } => check_roles("the member", roles)?,
            MembershipChange::Remove { .. } | MembershipChange::RotateKey { .. } => {}
        },
    }
    Ok(())
}

/// A production: a named product, a positive quantity, distinct inputs.
fn check_produce_shape(p: &Produce) -> Result<(), RuleError> {
    check_text("product description", &p.product.description, MAX_TEXT)?;
    if let Some(id) = &p.product.id {
        check_text("product id", id, 200)?;
    }
    if p.product.gtin.is_none() && p.product.id.is_none() && p.product.description.trim().is_empty()
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
    Ok(())
}

/// A dispatch: one to [`MAX_SHIPMENT_LOTS`] distinct lots.
fn check_dispatch_shape(d: &Dispatch) -> Result<(), RuleError> {
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
    Ok(())
}

/// A payment: bounded lists of shipments and HS codes.
fn check_payment_shape(p: &Payment) -> Result<(), RuleError> {
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
    Ok(())
}

/// Refuses text longer than `max` characters or with control characters
/// (newlines allowed).
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

/// Bounds a list of document references and each one's fields.
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

/// Bounds a location's name and its coordinates.
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

/// Refuses an empty role list or one that names a role twice.
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

/// A new member: a name, valid roles and a registrable key.
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
