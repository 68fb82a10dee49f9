//! A verified trail told for people: origins with their plots, custody
//! steps with quantities and transport, payments, and the notices a
//! shopper must see first (recalls, corrections, cold-chain excursions).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Lineage, Trail, TrailError, TrailItem};
use crate::crypto::PublicKey;
use crate::entry::{
    Body, Corrected, EntryId, Location, Produce, ProduceV2, Quantity, RecallClass, Shortfall,
};
use crate::genesis::Genesis;
use crate::gs1::{LotId, ShipmentId};
use crate::sensor;
use crate::state::{same_member, Overlay, State, View};
use crate::transport::Transport;

/// One custody event, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyStep {
    /// Block height.
    pub height: u64,
    /// Block time.
    pub block_time_ms: i64,
    /// The author's claimed time.
    pub recorded_at_ms: i64,
    /// `produce`, `dispatch`, `receive`, `reject`, `handover`.
    pub kind: String,
    /// The lot(s) of this trail it moves.
    pub lots: Vec<LotId>,
    /// Shipment, if any.
    pub shipment: Option<ShipmentId>,
    /// Who recorded it.
    pub by: String,
    /// Who gave up custody (dispatch), or `None`.
    pub from: Option<String>,
    /// Who gets custody (consignee), or `None`.
    pub to: Option<String>,
    /// Where, for people.
    pub place: Option<String>,
    /// Entry id.
    pub entry_id: EntryId,
    /// Quantities moved, shortfalls and transport facts, for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Why the entry was declared erroneous, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
}

/// A plot a lot was grown on, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlotLine {
    /// The producer's id for it.
    pub id: Option<String>,
    /// `point` or `polygon (n corners)`, with the first position.
    pub shape: String,
    /// Declared area in hectares.
    pub area_ha: String,
}

/// A lot's origin, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The lot.
    pub lot: LotId,
    /// Product description.
    pub product: String,
    /// GTIN, if any.
    pub gtin: Option<String>,
    /// Quantity with unit.
    pub quantity: String,
    /// Producer name.
    pub producer: String,
    /// Where.
    pub origin: Location,
    /// Claimed production time.
    pub produced_at_ms: i64,
    /// Certificates (labels or digests).
    pub certificates: Vec<String>,
    /// Lots it was made from.
    pub inputs: Vec<(LotId, String)>,
    /// Block height of the production entry.
    pub height: u64,
    /// The plots it was grown on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plots: Vec<PlotLine>,
    /// The deforestation declaration and due-diligence reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deforestation: Option<String>,
    /// Why its production was declared erroneous, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
}

/// A payment in the trail, for people: who paid whom for which
/// shipments, and whether the payee confirmed it. Its terms are sealed on
/// the ledger, so a trail never shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentLine {
    /// UETR.
    pub payment_id: String,
    /// Payer name.
    pub payer: String,
    /// Payee name.
    pub payee: String,
    /// Shipments paid for.
    pub shipments: Vec<ShipmentId>,
    /// The payer's word on its state: `settled` or `initiated`.
    pub status: String,
    /// Block height.
    pub height: u64,
    /// The entry.
    #[serde(default)]
    pub entry_id: EntryId,
    /// The payee's confirmation, if it has confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<ConfirmedLine>,
    /// Why it was declared erroneous, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
}

/// A payee's confirmation of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedLine {
    /// Block height.
    pub height: u64,
    /// The entry.
    pub entry_id: EntryId,
}

/// A recall or withdrawal of the lot or an ancestor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallLine {
    /// Recall or withdrawal.
    pub class: RecallClass,
    /// The lot it names (the trail's lot or one it was made from).
    pub lot: LotId,
    /// Why.
    pub reason: String,
    /// What it covers.
    pub scope: String,
    /// Who recorded it.
    pub by: String,
    /// Block height.
    pub height: u64,
    /// The recall entry.
    pub entry_id: EntryId,
    /// Whether it was lifted, and why.
    pub lifted: Option<String>,
}

/// A correction in the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionLine {
    /// The erroneous entry.
    pub target: EntryId,
    /// What it recorded.
    pub what: String,
    /// Why it is erroneous.
    pub reason: String,
    /// Who declared it.
    pub by: String,
    /// Entries recording what should have been.
    pub corrective: Vec<EntryId>,
    /// Block height.
    pub height: u64,
    /// The correction entry.
    pub entry_id: EntryId,
}

/// Readings outside their declared range on a shipment of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcursionLine {
    /// The shipment.
    pub shipment: ShipmentId,
    /// The device.
    pub device: String,
    /// What, e.g. `temperature 9.5 °C (allowed 2 to 8 °C)`.
    pub summary: String,
    /// First reading outside the range.
    pub from_ms: i64,
    /// Last.
    pub to_ms: i64,
    /// Block height of the readings.
    pub height: u64,
    /// The readings entry.
    #[serde(default)]
    pub entry_id: EntryId,
    /// Why the readings were declared erroneous, if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected: Option<String>,
}

/// An entry of the trail signed with a key that a governance entry
/// revoked as compromised since before the entry: it stays on the
/// ledger, but nobody should take it at its word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompromisedLine {
    /// The flagged entry.
    pub entry_id: EntryId,
    /// Its kind.
    pub kind: String,
    /// Its block height.
    pub height: u64,
    /// The member whose key signed it (as author or co-signer).
    pub signer: String,
    /// The key.
    pub key: PublicKey,
    /// Since when the key is feared compromised: `height N` or an
    /// RFC 3339 time.
    pub since: String,
    /// The governance entry that revoked the key.
    pub revoked_by: EntryId,
}

/// The trail's entries signed (as author or co-signer) with a key its
/// governance entries revoke as compromised since before them. A
/// revocation counts once committed, whatever its effective height: the
/// declaration of the compromise is what flags.
pub(super) fn compromised(
    state: &Overlay<'_, State>,
    trail: &Trail,
    ids: &[EntryId],
) -> Vec<CompromisedLine> {
    use crate::governance::{Compromise, GovernanceChange};
    let mut revoked: BTreeMap<PublicKey, (Compromise, EntryId)> = BTreeMap::new();
    for (item, id) in trail.items.iter().zip(ids) {
        if let Body::Governance(g) = &item.entry.entry.body {
            if let GovernanceChange::RevokeKey {
                public_key,
                compromised_since: Some(since),
                ..
            } = &g.change
            {
                revoked.entry(*public_key).or_insert((*since, *id));
            }
        }
    }
    let mut lines = Vec::new();
    if revoked.is_empty() {
        return lines;
    }
    for (item, id) in trail.items.iter().zip(ids) {
        let e = &item.entry.entry;
        let signers =
            std::iter::once(&e.author).chain(item.entry.cosignatures.iter().map(|c| &c.signer));
        for key in signers {
            let Some((since, by)) = revoked.get(key) else {
                continue;
            };
            if !since.covers(item.header.height, e.recorded_at_ms) {
                continue;
            }
            lines.push(CompromisedLine {
                entry_id: *id,
                kind: e.body.kind().to_string(),
                height: item.header.height,
                signer: member_name(state, key),
                key: *key,
                since: match since {
                    Compromise::Height(h) => format!("height {h}"),
                    Compromise::Time(t) => crate::text::rfc3339_ms(*t),
                },
                revoked_by: *by,
            });
        }
    }
    lines
}

/// The member's name in `state`, or the key's short form.
pub(super) fn member_name(state: &Overlay<'_, State>, k: &PublicKey) -> String {
    state
        .member(k)
        .map(|m| m.spec.name.clone())
        .unwrap_or_else(|| k.short())
}

/// The production a body records, if it is one.
pub fn produce_of(body: &Body) -> Option<&Produce> {
    match body {
        Body::Produce(p) => Some(p),
        Body::ProduceV2(ProduceV2 { produce, .. }) => Some(produce),
        _ => None,
    }
}

fn quantity_text(q: &Quantity) -> String {
    format!("{} {}", q.value, q.unit)
}

fn shortfall_text(lot: &LotId, s: &Shortfall) -> String {
    let mut t = format!(
        "lot {lot}: {} short ({})",
        quantity_text(&s.quantity),
        s.cause.as_str()
    );
    if let Some(n) = &s.note {
        t.push_str(&format!(": {n}"));
    }
    t
}

/// Transport facts in one line, or none.
fn transport_text(t: &Transport) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(b) = &t.bill_of_lading {
        parts.push(format!("B/L {b}"));
    }
    if let Some(v) = &t.vessel {
        let mut s = format!("vessel {}", v.imo);
        if let Some(n) = &v.name {
            s.push_str(&format!(" {n}"));
        }
        if let Some(voy) = &v.voyage {
            s.push_str(&format!(" voyage {voy}"));
        }
        parts.push(s);
    }
    if !t.containers.is_empty() {
        parts.push(format!(
            "container {}",
            t.containers
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !t.seals.is_empty() {
        parts.push(format!("seal {}", t.seals.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The custody step an item records (none for a payment, a membership
/// change or a notice), with the lots of `scope` it moves, before the
/// item is applied to `state`. A dispatch adds its shipment to
/// `shipments_seen`.
pub(super) fn custody_step(
    state: &Overlay<'_, State>,
    scope: &BTreeSet<LotId>,
    item: &TrailItem,
    id: EntryId,
    shipments_seen: &mut BTreeSet<ShipmentId>,
) -> Option<CustodyStep> {
    let e = &item.entry.entry;
    let name = |k: &PublicKey| member_name(state, k);
    let by = name(&e.author);
    let in_scope = |lots: &[LotId]| {
        lots.iter()
            .filter(|l| scope.contains(*l))
            .cloned()
            .collect::<Vec<_>>()
    };
    let shipment_lots = |s: &ShipmentId| {
        state
            .shipment(s)
            .map(|s| in_scope(&s.lots))
            .unwrap_or_default()
    };
    let step = |kind: &str,
                lots: Vec<LotId>,
                shipment: Option<ShipmentId>,
                from: Option<String>,
                to: Option<String>,
                place: Option<String>| CustodyStep {
        height: item.header.height,
        block_time_ms: item.header.time_ms,
        recorded_at_ms: e.recorded_at_ms,
        kind: kind.into(),
        lots,
        shipment,
        by: by.clone(),
        from,
        to,
        place,
        entry_id: id,
        details: Vec::new(),
        corrected: None,
    };
    let mut s = match &e.body {
        Body::Produce(_) | Body::ProduceV2(_) => {
            let p = produce_of(&e.body)?;
            let mut lots = in_scope(std::slice::from_ref(&p.lot));
            lots.extend(in_scope(
                &p.inputs.iter().map(|x| x.lot.clone()).collect::<Vec<_>>(),
            ));
            step(
                "produce",
                lots,
                None,
                None,
                Some(by.clone()),
                place(&p.origin),
            )
        }
        Body::Dispatch(d) => {
            shipments_seen.insert(d.shipment.clone());
            step(
                "dispatch",
                in_scope(&d.lots),
                Some(d.shipment.clone()),
                Some(by.clone()),
                Some(name(&d.consignee)),
                place(&d.from),
            )
        }
        Body::DispatchV2(d) => {
            shipments_seen.insert(d.shipment.clone());
            let lots: Vec<LotId> = d.lots.iter().map(|l| l.lot.clone()).collect();
            let mut s = step(
                "dispatch",
                in_scope(&lots),
                Some(d.shipment.clone()),
                Some(by.clone()),
                Some(name(&d.consignee)),
                place(&d.from),
            );
            s.details.extend(
                d.lots
                    .iter()
                    .filter(|l| scope.contains(&l.lot))
                    .filter_map(|l| {
                        l.quantity
                            .map(|q| format!("lot {}: {}", l.lot, quantity_text(&q)))
                    }),
            );
            s.details.extend(transport_text(&d.transport));
            s
        }
        Body::Receive(r) => step(
            "receive",
            shipment_lots(&r.shipment),
            Some(r.shipment.clone()),
            None,
            Some(by.clone()),
            place(&r.at),
        ),
        Body::ReceiveV2(r) => {
            let mut s = step(
                "receive",
                shipment_lots(&r.shipment),
                Some(r.shipment.clone()),
                None,
                Some(by.clone()),
                place(&r.at),
            );
            for l in r.lots.iter().filter(|l| scope.contains(&l.lot)) {
                s.details.push(format!(
                    "lot {}: {} received",
                    l.lot,
                    quantity_text(&l.received)
                ));
                if let Some(sf) = &l.shortfall {
                    s.details.push(shortfall_text(&l.lot, sf));
                }
            }
            s.details.extend(transport_text(&r.transport));
            s
        }
        Body::Handover(h) => {
            let mut s = step(
                "handover",
                shipment_lots(&h.shipment),
                Some(h.shipment.clone()),
                Some(by.clone()),
                Some(name(&h.to)),
                place(&h.at),
            );
            s.details.extend(transport_text(&h.transport));
            s
        }
        Body::Reject(r) => {
            let (lots, sender) = state
                .shipment(&r.shipment)
                .map(|s| (in_scope(&s.lots), Some(name(&s.sender))))
                .unwrap_or_default();
            step(
                "reject",
                lots,
                Some(r.shipment.clone()),
                Some(by.clone()),
                sender,
                Some(r.reason.clone()),
            )
        }
        Body::Payment(_)
        | Body::SealedPayment(_)
        | Body::PaymentConfirmation(_)
        | Body::Membership(_)
        | Body::Governance(_)
        | Body::Readings(_)
        | Body::Recall(_)
        | Body::RecallLift(_)
        | Body::Correction(_) => return None,
    };
    s.lots.dedup();
    Some(s)
}

/// A payment item's line, refused unless it pays for a shipment the
/// trail dispatched before it (`shipments_seen`).
pub(super) fn payment_line(
    state: &Overlay<'_, State>,
    item: &TrailItem,
    id: EntryId,
    p: &crate::terms::SealedPayment,
    shipments_seen: &BTreeSet<ShipmentId>,
) -> Result<PaymentLine, String> {
    if !p.shipments.iter().any(|s| shipments_seen.contains(s)) {
        return Err("a payment in a trail must pay for a shipment of the trail".into());
    }
    Ok(PaymentLine {
        payment_id: p.payment_id.to_string(),
        payer: member_name(state, &item.entry.entry.author),
        payee: member_name(state, &p.payee),
        shipments: p.shipments.clone(),
        status: match p.status {
            crate::entry::PaymentStatus::Settled => "settled",
            crate::entry::PaymentStatus::Initiated => "initiated",
        }
        .into(),
        height: item.header.height,
        entry_id: id,
        confirmed: None,
        corrected: None,
    })
}

/// Who holds the trail's lot at the end, and where it is, for people.
pub(super) fn holding(
    state: &Overlay<'_, State>,
    trail: &Trail,
) -> Result<(String, String), TrailError> {
    let lot_state = state
        .lot(&trail.lot)
        .ok_or_else(|| TrailError::MissingOrigin(trail.lot.clone()))?;
    let holders: BTreeSet<String> = lot_state
        .holdings
        .iter()
        .map(|h| member_name(state, &h.holder))
        .collect();
    let custodian = if holders.is_empty() {
        "nobody".to_string()
    } else {
        holders.into_iter().collect::<Vec<_>>().join(", ")
    };
    let status = lot_state.whereabouts(|k| member_name(state, k));
    Ok((custodian, status))
}

/// The origin of each lot of the lineage, in its order.
pub(super) fn origins(
    state: &Overlay<'_, State>,
    trail: &Trail,
    lineage: &Lineage<'_>,
) -> Vec<Origin> {
    let mut origins = Vec::new();
    for lot in &lineage.order {
        if let Some(&i) = lineage.produced.get(lot) {
            let item = &trail.items[i];
            if let Some(p) = produce_of(&item.entry.entry.body) {
                let mut o = origin(state, trail, &lineage.produced, item, p);
                if let Body::ProduceV2(v) = &item.entry.entry.body {
                    if let Some(f) = &v.plots {
                        o.plots = f.plots.iter().map(plot_line).collect();
                        let mut d = if f.deforestation_free {
                            "declared deforestation-free (no deforestation after 31 December 2020)"
                                .to_string()
                        } else {
                            "no deforestation-free declaration".to_string()
                        };
                        if let Some(r) = &f.due_diligence_ref {
                            d.push_str(&format!("; due-diligence statement {r}"));
                        }
                        o.deforestation = Some(d);
                    }
                }
                origins.push(o);
            }
        }
    }
    origins
}

fn plot_line(p: &crate::geo::Plot) -> PlotLine {
    let fmt = |g: &crate::entry::GeoPoint| {
        format!(
            "{}, {}",
            crate::geo::format_degrees(g.lat_micro),
            crate::geo::format_degrees(g.lon_micro)
        )
    };
    let shape = match &p.geometry {
        crate::geo::Geometry::Point(g) => format!("point {}", fmt(g)),
        crate::geo::Geometry::Polygon(ring) => format!(
            "polygon of {} corners from {}",
            ring.len().saturating_sub(1),
            ring.first().map(fmt).unwrap_or_default()
        ),
    };
    PlotLine {
        id: p.id.clone(),
        shape,
        area_ha: p.area_ha.to_string(),
    }
}

/// The origin a production item records, for people.
fn origin(
    state: &Overlay<'_, State>,
    trail: &Trail,
    produced: &BTreeMap<&LotId, usize>,
    item: &TrailItem,
    p: &Produce,
) -> Origin {
    Origin {
        lot: p.lot.clone(),
        product: p.product.description.clone(),
        gtin: p.product.gtin.as_ref().map(|g| g.to_string()),
        quantity: format!("{} {}", p.quantity.value, p.quantity.unit),
        producer: state
            .member(&item.entry.entry.author)
            .map(|m| m.spec.name.clone())
            .unwrap_or_default(),
        origin: p.origin.clone(),
        produced_at_ms: p.produced_at_ms,
        certificates: p
            .certificates
            .iter()
            .map(|c| {
                c.label
                    .clone()
                    .unwrap_or_else(|| format!("sha256:{}", c.sha256.short()))
            })
            .collect(),
        inputs: p
            .inputs
            .iter()
            .map(|x| {
                // Inputs are drawn in the input lot's own unit.
                let unit = produced
                    .get(&x.lot)
                    .and_then(|&j| produce_of(&trail.items[j].entry.entry.body))
                    .map(|ip| ip.quantity.unit);
                let q = match unit {
                    Some(u) => format!("{} {u}", x.quantity),
                    None => x.quantity.to_string(),
                };
                (x.lot.clone(), q)
            })
            .collect(),
        height: item.header.height,
        plots: Vec::new(),
        deforestation: None,
        corrected: None,
    }
}

/// Recalls, corrections and excursions found in a replayed trail.
#[derive(Debug, Default)]
pub(super) struct Notices {
    pub(super) recalls: Vec<RecallLine>,
    pub(super) corrections: Vec<CorrectionLine>,
    pub(super) excursions: Vec<ExcursionLine>,
}

/// The notices among the trail's items that concern `scope` (the lot and
/// its ancestors).
pub(super) fn notices(
    state: &Overlay<'_, State>,
    trail: &Trail,
    ids: &[EntryId],
    scope: &BTreeSet<LotId>,
) -> Notices {
    let mut n = Notices::default();
    let mut lifts: BTreeMap<(EntryId, LotId), String> = BTreeMap::new();
    for item in &trail.items {
        if let Body::RecallLift(l) = &item.entry.entry.body {
            for lot in &l.lots {
                lifts.insert((l.recall, lot.clone()), l.reason.clone());
            }
        }
    }
    for (item, id) in trail.items.iter().zip(ids) {
        let e = &item.entry.entry;
        let by = member_name(state, &e.author);
        match &e.body {
            Body::Recall(r) => {
                for lot in r.lots.iter().filter(|l| scope.contains(*l)) {
                    n.recalls.push(RecallLine {
                        class: r.class,
                        lot: lot.clone(),
                        reason: r.reason.clone(),
                        scope: r.scope.clone(),
                        by: by.clone(),
                        height: item.header.height,
                        entry_id: *id,
                        lifted: lifts.get(&(*id, lot.clone())).cloned(),
                    });
                }
            }
            Body::Correction(c) => n.corrections.push(CorrectionLine {
                target: c.target,
                what: match &c.corrected {
                    Corrected::Lot(l) => format!("the production of lot {l}"),
                    Corrected::Shipment(s) => format!("the dispatch of shipment {s}"),
                    Corrected::Payment(p) => format!("payment {p}"),
                    Corrected::Receipt(s) => {
                        format!(
                            "the {} of shipment {s}",
                            step_kind(state, trail, ids, c.target, s)
                        )
                    }
                    Corrected::Readings(s) => format!("the readings on shipment {s}"),
                },
                reason: c.reason.clone(),
                by: by.clone(),
                corrective: c.corrective.clone(),
                height: item.header.height,
                entry_id: *id,
            }),
            Body::Readings(r) => {
                let touches = state
                    .shipment(&r.shipment)
                    .is_some_and(|s| s.lots.iter().any(|l| scope.contains(l)));
                if !touches {
                    continue;
                }
                for s in &r.series {
                    for x in s.excursions() {
                        n.excursions.push(ExcursionLine {
                            shipment: r.shipment.clone(),
                            device: s.device.clone(),
                            summary: excursion_text(s, &x),
                            from_ms: x.from_ms,
                            to_ms: x.to_ms,
                            height: item.header.height,
                            entry_id: *id,
                            corrected: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    n
}

/// What the custody step `target` of shipment `s` was, for people: a
/// handover, the consignee's receipt or a carrier's take-over.
fn step_kind(
    state: &Overlay<'_, State>,
    trail: &Trail,
    ids: &[EntryId],
    target: EntryId,
    s: &ShipmentId,
) -> &'static str {
    let Some(item) = trail
        .items
        .iter()
        .zip(ids)
        .find_map(|(item, id)| (*id == target).then_some(item))
    else {
        return "latest custody step";
    };
    let e = &item.entry.entry;
    match &e.body {
        Body::Handover(_) => "handover",
        Body::Receive(_) | Body::ReceiveV2(_) => {
            let by_consignee = state
                .shipment(s)
                .is_some_and(|x| same_member(state, &x.consignee, &e.author));
            if by_consignee {
                "receipt"
            } else {
                "take-over"
            }
        }
        _ => "latest custody step",
    }
}

fn excursion_text(s: &sensor::Series, x: &sensor::Excursion) -> String {
    let unit = sensor::unit_symbol(&s.unit);
    let range = s
        .range
        .map(|r| {
            format!(
                " (allowed {} to {} {unit})",
                sensor::format_milli(r.min_milli),
                sensor::format_milli(r.max_milli)
            )
        })
        .unwrap_or_default();
    format!(
        "{} reached {} {unit}{range} over {} reading(s)",
        s.measure,
        sensor::format_milli(x.worst_milli),
        x.readings
    )
}

/// Marks the steps, origins, payments and excursions that corrections
/// struck out.
pub(super) fn strike(
    corrections: &[CorrectionLine],
    custody: &mut [CustodyStep],
    origins: &mut [Origin],
    payments: &mut [PaymentLine],
    excursions: &mut [ExcursionLine],
    trail: &Trail,
    ids: &[EntryId],
) {
    for c in corrections {
        let why = format!(
            "corrected by {} ({}): {}",
            c.by,
            c.entry_id.short(),
            c.reason
        );
        for s in custody.iter_mut().filter(|s| s.entry_id == c.target) {
            s.corrected = Some(why.clone());
        }
        for p in payments.iter_mut().filter(|p| p.entry_id == c.target) {
            p.corrected = Some(why.clone());
        }
        for x in excursions.iter_mut().filter(|x| x.entry_id == c.target) {
            x.corrected = Some(why.clone());
        }
        for o in origins.iter_mut() {
            let produced_here = trail.items.iter().zip(ids).any(|(item, id)| {
                *id == c.target
                    && produce_of(&item.entry.entry.body).is_some_and(|p| p.lot == o.lot)
            });
            if produced_here {
                o.corrected = Some(why.clone());
            }
        }
    }
}

pub(super) fn state_members<V: View>(
    state: &V,
    genesis: &Genesis,
    trail: &Trail,
) -> BTreeMap<PublicKey, (String, Vec<crate::genesis::Role>)> {
    let mut keys: BTreeSet<PublicKey> = genesis.members.iter().map(|m| m.public_key).collect();
    for item in &trail.items {
        use crate::entry::MembershipChange as M;
        use crate::governance::GovernanceChange as G;
        match &item.entry.entry.body {
            Body::Membership(M::Add(spec)) => {
                keys.insert(spec.public_key);
            }
            Body::Membership(M::RotateKey { new, .. }) => {
                keys.insert(*new);
            }
            Body::Governance(g) => match &g.change {
                G::AddMember(spec) => {
                    keys.insert(spec.public_key);
                }
                G::RotateKey { new, .. }
                | G::RevokeKey {
                    replacement: Some(new),
                    ..
                } => {
                    keys.insert(*new);
                }
                _ => {}
            },
            _ => {}
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            state
                .member(&k)
                .filter(|m| m.active())
                .map(|m| (k, (m.spec.name.clone(), m.spec.roles.clone())))
        })
        .collect()
}

pub(super) fn place(l: &Location) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(n) = &l.name {
        parts.push(n.clone());
    }
    if let Some(c) = &l.country {
        parts.push(c.to_string());
    }
    if let Some(g) = &l.gln {
        parts.push(format!("GLN {g}"));
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(", "))
    }
}

/// Formats minor units with the currency's exponent: `1234567 EUR` → `12345.67 EUR`.
pub fn money(minor: u64, currency: &crate::codes::Currency) -> String {
    let exp = currency.exponent();
    if exp == 0 {
        return format!("{minor} {currency}");
    }
    let div = 10u64.pow(exp);
    format!(
        "{}.{:0width$} {currency}",
        minor / div,
        minor % div,
        width = exp as usize
    )
}
