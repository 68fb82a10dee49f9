//! The checks that need no state: version, size and field bounds.
//!
//! [`check_shape`] runs once per entry, before any rule that reads the
//! ledger; the per-body steps below bound every text, list and
//! coordinate an entry can carry.

use std::collections::BTreeSet;

use super::error::RuleError;
use crate::codec::{self, MAX_ENTRY_BYTES};
use crate::entry::{
    Body, Correction, Dispatch, DispatchV2, DocRef, Handover, Kdes, Location, MembershipChange,
    PlotFacts, Produce, Readings, Recall, RecallLift, ReceiveV2, SignedEntry, ENTRY_VERSION,
};
use crate::genesis::{MemberSpec, Role};
use crate::geo;
use crate::governance::GovernanceChange;
use crate::transport::Transport;

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
    let cosigned = matches!(
        e.body,
        Body::Membership(_)
            | Body::Governance(_)
            | Body::Handover(_)
            | Body::Recall(_)
            | Body::RecallLift(_)
            | Body::Correction(_)
    );
    if !entry.cosignatures.is_empty() && !cosigned {
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
        // Terms in the clear are refused: the ledger keeps them sealed.
        Body::Payment(_) => return Err(RuleError::PlainPayment),
        Body::SealedPayment(p) => {
            if p.shipments.len() > MAX_PAYMENT_SHIPMENTS {
                return Err(RuleError::BadField(format!(
                    "a payment may cover at most {MAX_PAYMENT_SHIPMENTS} shipments"
                )));
            }
            crate::terms::check_sealed(&p.terms)?;
        }
        Body::PaymentConfirmation(_) => {}
        Body::Membership(m) => match m {
            MembershipChange::Add(spec) => check_member_spec(spec)?,
            MembershipChange::SetRoles { roles, .. } => check_roles("the member", roles)?,
            MembershipChange::Remove { .. } | MembershipChange::RotateKey { .. } => {}
        },
        Body::ProduceV2(p) => {
            check_produce_shape(&p.produce)?;
            if let Some(f) = &p.plots {
                check_plot_facts(f)?;
            }
            check_kdes(&p.kdes)?;
        }
        Body::DispatchV2(d) => check_dispatch_v2_shape(d)?,
        Body::ReceiveV2(r) => check_receive_v2_shape(r)?,
        Body::Handover(h) => check_handover_shape(h)?,
        Body::Readings(r) => check_readings_shape(r)?,
        Body::Recall(r) => check_recall_shape(r)?,
        Body::RecallLift(l) => check_recall_lift_shape(l)?,
        Body::Correction(c) => check_correction_shape(c)?,
        Body::Governance(g) => check_governance_shape(&g.change)?,
    }
    Ok(())
}

/// A governance change's fields: a new member's as on a membership
/// entry, a new validator's name and key, no key replaced by itself.
fn check_governance_shape(c: &GovernanceChange) -> Result<(), RuleError> {
    match c {
        GovernanceChange::AddMember(spec) => check_member_spec(spec)?,
        GovernanceChange::SetRoles { roles, .. } => check_roles("the member", roles)?,
        GovernanceChange::AddValidator(v) => {
            check_text("validator name", &v.name, 200)?;
            if v.p2p.len() > 16 {
                return Err(RuleError::BadField(
                    "validator p2p: at most 16 addresses".into(),
                ));
            }
            for a in &v.p2p {
                check_text("validator p2p address", a, 200)?;
            }
        }
        GovernanceChange::RotateKey { old, new }
        | GovernanceChange::RotateValidatorKey { old, new }
            if old == new =>
        {
            return Err(RuleError::BadField(
                "a rotation needs a new key different from the old one".into(),
            ));
        }
        GovernanceChange::BindNodeKey { member, node_key } if member == node_key => {
            return Err(RuleError::BadField(
                "a node key must differ from the member's signing key (that is the point of it)"
                    .into(),
            ));
        }
        GovernanceChange::RevokeKey {
            public_key,
            replacement: Some(r),
            ..
        } if r == public_key => {
            return Err(RuleError::BadField(
                "a revoked key cannot be its own replacement".into(),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Most series on one readings entry.
pub const MAX_SERIES: usize = 16;
/// Most entries a correction names as corrective.
pub const MAX_CORRECTIVE: usize = 64;

/// Refuses an empty or over-long reason, naming the field.
fn check_reason(field: &str, s: &str) -> Result<(), RuleError> {
    if s.trim().is_empty() {
        return Err(RuleError::BadField(format!(
            "{field} must not be empty; say why"
        )));
    }
    check_text(field, s, MAX_TEXT)
}

/// One to [`MAX_SHIPMENT_LOTS`] distinct lots.
fn check_lot_list<'a>(
    field: &str,
    lots: impl ExactSizeIterator<Item = &'a crate::gs1::LotId>,
) -> Result<(), RuleError> {
    if lots.len() == 0 {
        return Err(RuleError::BadField(format!(
            "{field}: name at least one lot"
        )));
    }
    if lots.len() > MAX_SHIPMENT_LOTS {
        return Err(RuleError::BadField(format!(
            "{field}: at most {MAX_SHIPMENT_LOTS} lots"
        )));
    }
    let mut seen = BTreeSet::new();
    for l in lots {
        if !seen.insert(l) {
            return Err(RuleError::DuplicateLot(l.clone()));
        }
    }
    Ok(())
}

/// Plots, the harvest range and the due-diligence reference.
fn check_plot_facts(f: &PlotFacts) -> Result<(), RuleError> {
    if f.plots.is_empty() {
        return Err(RuleError::BadField(
            "plots: name at least one plot, or leave the plot facts out".into(),
        ));
    }
    if f.plots.len() > 256 {
        return Err(RuleError::BadField(
            "plots: at most 256 plots per lot".into(),
        ));
    }
    for (i, p) in f.plots.iter().enumerate() {
        geo::check_plot(&format!("plots[{i}]"), p)
            .map_err(|e| RuleError::BadField(e.to_string()))?;
    }
    if f.harvest_start_ms > f.harvest_end_ms {
        return Err(RuleError::BadField(
            "harvest: the first day lies after the last".into(),
        ));
    }
    if let Some(r) = &f.due_diligence_ref {
        check_reason("due_diligence_ref", r)?;
        check_text("due_diligence_ref", r, 200)?;
    }
    Ok(())
}

/// The FDA key data elements' texts and place.
fn check_kdes(k: &Kdes) -> Result<(), RuleError> {
    if let Some(d) = &k.reference_document {
        check_reason("reference_document.number", &d.number)?;
        check_text("reference_document.number", &d.number, 200)?;
    }
    if let Some(l) = &k.tlc_source {
        check_location("tlc_source", l)?;
    }
    Ok(())
}

/// Transport facts, their errors as field errors.
fn check_transport(t: &Transport) -> Result<(), RuleError> {
    t.check().map_err(|e| RuleError::BadField(e.to_string()))
}

fn check_dispatch_v2_shape(d: &DispatchV2) -> Result<(), RuleError> {
    check_lot_list("lots", d.lots.iter().map(|l| &l.lot))?;
    for l in &d.lots {
        if l.quantity.is_some_and(|q| q.value.is_zero()) {
            return Err(RuleError::BadField(format!(
                "lots: lot {} has quantity 0; ship only what moves",
                l.lot
            )));
        }
    }
    check_location("from", &d.from)?;
    check_location("to", &d.to)?;
    check_docs("documents", &d.documents)?;
    check_transport(&d.transport)?;
    check_kdes(&d.kdes)
}

fn check_receive_v2_shape(r: &ReceiveV2) -> Result<(), RuleError> {
    check_location("at", &r.at)?;
    check_docs("documents", &r.documents)?;
    if !r.lots.is_empty() {
        check_lot_list("lots", r.lots.iter().map(|l| &l.lot))?;
    }
    for l in &r.lots {
        if let Some(s) = &l.shortfall {
            if s.quantity.value.is_zero() {
                return Err(RuleError::BadField(format!(
                    "lots: the shortfall of lot {} is 0; leave it out",
                    l.lot
                )));
            }
            if let Some(n) = &s.note {
                check_text("shortfall note", n, MAX_TEXT)?;
            }
        }
    }
    check_transport(&r.transport)?;
    check_kdes(&r.kdes)
}

fn check_handover_shape(h: &Handover) -> Result<(), RuleError> {
    check_location("at", &h.at)?;
    check_docs("documents", &h.documents)?;
    check_transport(&h.transport)
}

fn check_readings_shape(r: &Readings) -> Result<(), RuleError> {
    if r.series.is_empty() || r.series.len() > MAX_SERIES {
        return Err(RuleError::BadField(format!(
            "series: give 1 to {MAX_SERIES} series of readings (it has {})",
            r.series.len()
        )));
    }
    for (i, s) in r.series.iter().enumerate() {
        s.check()
            .map_err(|e| RuleError::BadField(format!("series[{i}]: {e}")))?;
    }
    Ok(())
}

fn check_recall_shape(r: &Recall) -> Result<(), RuleError> {
    check_lot_list("lots", r.lots.iter())?;
    check_reason("reason", &r.reason)?;
    check_text("scope", &r.scope, MAX_TEXT)?;
    check_docs("documents", &r.documents)
}

fn check_recall_lift_shape(l: &RecallLift) -> Result<(), RuleError> {
    check_lot_list("lots", l.lots.iter())?;
    check_reason("reason", &l.reason)
}

fn check_correction_shape(c: &Correction) -> Result<(), RuleError> {
    check_reason("reason", &c.reason)?;
    if c.corrective.len() > MAX_CORRECTIVE {
        return Err(RuleError::BadField(format!(
            "corrective: at most {MAX_CORRECTIVE} entries"
        )));
    }
    if c.corrective.contains(&c.target) {
        return Err(RuleError::BadField(
            "corrective: the erroneous entry cannot also be its own correction".into(),
        ));
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
    let prefixes = &spec.gs1_company_prefixes;
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(q) = prefixes[..i].iter().find(|q| q.overlaps(p)) {
            return Err(RuleError::Membership(if p == q {
                format!(
                    "member `{}` lists GS1 company prefix {p} twice; list it once",
                    spec.name
                )
            } else {
                format!(
                    "member `{}` lists GS1 company prefixes {q} and {p}, and one starts the other; list only the shorter",
                    spec.name
                )
            }));
        }
    }
    Ok(())
}
