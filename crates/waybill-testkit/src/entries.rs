//! Minimal entry bodies from text ids (the rules' tests): productions,
//! dispatches, receipts, rejections, payments, membership and governance
//! changes; the
//! later kinds (productions with regulatory facts, partial dispatches,
//! receipts with shortfalls, carrier handovers, sensor readings, recalls
//! and their lifting, corrections); and entries signed and co-signed by
//! [`Party`]s.
//!
//! Every body carries only what its kind needs (default locations, no
//! documents), so a test sets just the field it is about. The
//! coffee-flavoured bodies of generated traffic are in [`crate::signer`].

use waybill_core::codes::{Uetr, UnitCode};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{
    Body, Corrected, Correction, Dispatch, DispatchV2, Entry, EntryId, Handover, Input, Kdes,
    Location, LossCause, MembershipChange, Produce, ProduceV2, Product, Quantity, Readings, Recall,
    RecallClass, RecallLift, Receive, ReceiveV2, ReceivedLot, Reject, ShippedLot, Shortfall,
    SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{MemberSpec, Role};
use waybill_core::governance::{GovernanceChange, GovernanceEntry};
use waybill_core::sensor::Series;
use waybill_core::terms::{Openings, SealedPayment, Terms};
use waybill_core::transport::Transport;

use crate::consortium::{Party, T0};
use crate::ids::{currency, dec, lot, ship};
use crate::sealed;

/// A production of `quantity` kg of `lot` from nothing.
pub fn produce_body(lot_id: &str, quantity: &str) -> Produce {
    Produce {
        lot: lot(lot_id),
        product: Product {
            gtin: None,
            id: None,
            description: format!("product of lot {lot_id}"),
        },
        quantity: Quantity {
            value: dec(quantity),
            unit: UnitCode::Kgm,
        },
        origin: Location::default(),
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: Vec::new(),
    }
}

/// [`produce_body`] as a body.
pub fn produce(lot_id: &str, quantity: &str) -> Body {
    Body::Produce(produce_body(lot_id, quantity))
}

/// A production of `lot` from `inputs` (lot, quantity consumed).
pub fn produce_from(lot_id: &str, quantity: &str, inputs: &[(&str, &str)]) -> Body {
    let mut p = produce_body(lot_id, quantity);
    p.inputs = inputs
        .iter()
        .map(|(l, q)| Input {
            lot: lot(l),
            quantity: dec(q),
        })
        .collect();
    Body::Produce(p)
}

/// A dispatch of `lots` to `consignee`, by `carrier` if any.
pub fn dispatch_body(
    shipment: &str,
    lots: &[&str],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Dispatch {
    Dispatch {
        shipment: ship(shipment),
        lots: lots.iter().map(|l| lot(l)).collect(),
        consignee: *consignee,
        carrier: carrier.copied(),
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    }
}

/// [`dispatch_body`] as a body.
pub fn dispatch(
    shipment: &str,
    lots: &[&str],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Body {
    Body::Dispatch(dispatch_body(shipment, lots, consignee, carrier))
}

/// A receipt of `shipment`.
pub fn receive(shipment: &str) -> Body {
    Body::Receive(Receive {
        shipment: ship(shipment),
        at: Location::default(),
        documents: Vec::new(),
    })
}

/// A rejection of `shipment`.
pub fn reject(shipment: &str, reason: &str) -> Body {
    Body::Reject(Reject {
        shipment: ship(shipment),
        reason: reason.into(),
    })
}

/// A settled payment of EUR `amount_minor` (FOB, SWIFT) for `shipments`,
/// its terms sealed with salts drawn from the UETR (fixtures, not
/// secrets).
pub fn payment_body(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> SealedPayment {
    sealed_with(
        id,
        payer,
        payee,
        shipments,
        &sealed::fob(amount_minor, currency("EUR")),
    )
    .0
}

/// [`payment_body`] with `terms`, and the openings.
pub fn sealed_with(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    shipments: &[&str],
    terms: &Terms,
) -> (SealedPayment, Openings) {
    sealed::seal(
        id,
        payer,
        payee,
        shipments.iter().map(|s| ship(s)).collect(),
        terms,
        *id.as_uuid()
            .as_bytes()
            .repeat(2)
            .first_chunk::<32>()
            .expect("32 bytes"),
    )
    .expect("sealed terms")
}

/// [`payment_body`] as a body.
pub fn pay(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> Body {
    Body::SealedPayment(payment_body(id, payer, payee, amount_minor, shipments))
}

/// Adds a member.
pub fn add_member(spec: MemberSpec) -> Body {
    Body::Membership(MembershipChange::Add(spec))
}

/// Removes a member.
pub fn remove_member(pk: &PublicKey) -> Body {
    Body::Membership(MembershipChange::Remove { public_key: *pk })
}

/// Replaces a member's key.
pub fn rotate_key(old: &PublicKey, new: &PublicKey) -> Body {
    Body::Membership(MembershipChange::RotateKey {
        old: *old,
        new: *new,
    })
}

/// Replaces a member's roles.
pub fn set_roles(pk: &PublicKey, roles: &[Role]) -> Body {
    Body::Membership(MembershipChange::SetRoles {
        public_key: *pk,
        roles: roles.to_vec(),
    })
}

/// A governance change that takes effect at `effective_height`.
pub fn governance(effective_height: u64, change: GovernanceChange) -> Body {
    Body::Governance(GovernanceEntry {
        effective_height,
        change,
    })
}

/// `value` (text, up to three decimals) in `unit`.
pub fn quantity(value: &str, unit: UnitCode) -> Quantity {
    Quantity {
        value: dec(value),
        unit,
    }
}

/// `value` kilograms.
pub fn kg(value: &str) -> Quantity {
    quantity(value, UnitCode::Kgm)
}

/// [`produce_body`] as a [`ProduceV2`]: no plots, no key data elements.
pub fn produce_v2_body(lot_id: &str, quantity: &str) -> ProduceV2 {
    ProduceV2 {
        produce: produce_body(lot_id, quantity),
        plots: None,
        kdes: Kdes::default(),
    }
}

/// [`produce_v2_body`] as a body.
pub fn produce_v2(lot_id: &str, quantity: &str) -> Body {
    Body::ProduceV2(produce_v2_body(lot_id, quantity))
}

/// A [`ProduceV2`] of `quantity` kg of `lot` from `inputs` (lot, quantity
/// consumed in the input lot's unit).
pub fn produce_v2_from(lot_id: &str, quantity: &str, inputs: &[(&str, &str)]) -> Body {
    let mut p = produce_v2_body(lot_id, quantity);
    p.produce.inputs = inputs
        .iter()
        .map(|(l, q)| Input {
            lot: lot(l),
            quantity: dec(q),
        })
        .collect();
    Body::ProduceV2(p)
}

/// A [`DispatchV2`] of `lots` to `consignee`, by `carrier` if any: each lot
/// with the quantity shipped (`None`: all the sender holds), no transport
/// facts.
pub fn dispatch_v2_body(
    shipment: &str,
    lots: &[(&str, Option<Quantity>)],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> DispatchV2 {
    DispatchV2 {
        shipment: ship(shipment),
        lots: lots
            .iter()
            .map(|(l, q)| ShippedLot {
                lot: lot(l),
                quantity: *q,
            })
            .collect(),
        consignee: *consignee,
        carrier: carrier.copied(),
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
        transport: Transport::default(),
        kdes: Kdes::default(),
    }
}

/// [`dispatch_v2_body`] as a body.
pub fn dispatch_v2(
    shipment: &str,
    lots: &[(&str, Option<Quantity>)],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Body {
    Body::DispatchV2(dispatch_v2_body(shipment, lots, consignee, carrier))
}

/// What arrived of `lot`: `received`, and what did not with its cause.
pub fn received(
    lot_id: &str,
    received: Quantity,
    short: Option<(Quantity, LossCause)>,
) -> ReceivedLot {
    ReceivedLot {
        lot: lot(lot_id),
        received,
        shortfall: short.map(|(quantity, cause)| Shortfall {
            quantity,
            cause,
            note: None,
        }),
    }
}

/// A [`ReceiveV2`] of `shipment`: `lots` lists those that did not arrive
/// whole (every other lot is received in full); no transport facts.
pub fn receive_v2_body(shipment: &str, lots: &[ReceivedLot]) -> ReceiveV2 {
    ReceiveV2 {
        shipment: ship(shipment),
        at: Location::default(),
        documents: Vec::new(),
        lots: lots.to_vec(),
        transport: Transport::default(),
        kdes: Kdes::default(),
    }
}

/// [`receive_v2_body`] as a body.
pub fn receive_v2(shipment: &str, lots: &[ReceivedLot]) -> Body {
    Body::ReceiveV2(receive_v2_body(shipment, lots))
}

/// A handover of `shipment` to the next carrier `to` (who must co-sign).
pub fn handover(shipment: &str, to: &PublicKey) -> Body {
    Body::Handover(Handover {
        shipment: ship(shipment),
        to: *to,
        at: Location::default(),
        transport: Transport::default(),
        documents: Vec::new(),
    })
}

/// Sensor readings on `shipment`.
pub fn readings(shipment: &str, series: Vec<Series>) -> Body {
    Body::Readings(Readings {
        shipment: ship(shipment),
        series,
    })
}

/// A recall (or withdrawal) of `lots` for `reason`, covering every pack.
pub fn recall(lots: &[&str], class: RecallClass, reason: &str) -> Body {
    Body::Recall(Recall {
        lots: lots.iter().map(|l| lot(l)).collect(),
        class,
        reason: reason.into(),
        scope: "all packs".into(),
        documents: Vec::new(),
    })
}

/// Lifts the recall entry `recall` from `lots`.
pub fn recall_lift(recall: EntryId, lots: &[&str], reason: &str) -> Body {
    Body::RecallLift(RecallLift {
        recall,
        lots: lots.iter().map(|l| lot(l)).collect(),
        reason: reason.into(),
    })
}

/// Declares entry `target`, which recorded `corrected`, erroneous.
pub fn correction(target: EntryId, corrected: Corrected, reason: &str) -> Body {
    Body::Correction(Correction {
        target,
        corrected,
        reason: reason.into(),
        corrective: Vec::new(),
    })
}

/// Declares entry `target`, the latest custody step of `shipment` (a
/// take-over, a handover or the consignee's receipt), erroneous.
pub fn correct_receipt(target: EntryId, shipment: &str, reason: &str) -> Body {
    correction(target, Corrected::Receipt(ship(shipment)), reason)
}

/// An unsigned entry, recorded `nonce` seconds after [`T0`].
pub fn entry(chain_id: Hash32, author: &PublicKey, nonce: u64, body: Body) -> Entry {
    Entry {
        version: ENTRY_VERSION,
        chain_id,
        author: *author,
        nonce,
        recorded_at_ms: T0 + i64::try_from(nonce).unwrap_or(0) * 1000,
        body,
    }
}

/// Signs `body` as `who` with an explicit nonce.
pub fn signed(chain_id: Hash32, who: &Party, nonce: u64, body: Body) -> SignedEntry {
    entry(chain_id, &who.pk, nonce, body).sign(&who.key)
}

/// Adds co-signatures.
pub fn cosigned(mut e: SignedEntry, cosigners: &[&Party]) -> SignedEntry {
    for c in cosigners {
        e.cosign(&c.key);
    }
    e
}
