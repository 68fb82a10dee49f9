//! Minimal entry bodies from text ids (the rules' tests): productions,
//! dispatches, receipts, rejections, payments and membership changes; and
//! entries signed and co-signed by [`Party`]s.
//!
//! Every body carries only what its kind needs (default locations, no
//! documents), so a test sets just the field it is about. The
//! coffee-flavoured bodies of generated traffic are in [`crate::signer`].

use waybill_core::codes::{Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{
    Body, Dispatch, Entry, Input, Location, MembershipChange, Payment, PaymentMethod,
    PaymentStatus, Produce, Product, Quantity, Receive, Reject, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{MemberSpec, Role};

use crate::consortium::{Party, T0};
use crate::ids::{currency, dec, lot, ship};

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

/// A settled EUR payment (FOB, SWIFT) for `shipments`.
pub fn payment_body(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> Payment {
    Payment {
        payment_id: id,
        payer: *payer,
        payee: *payee,
        amount_minor,
        currency: currency("EUR"),
        settlement: None,
        incoterm: Incoterm::Fob,
        shipments: shipments.iter().map(|s| ship(s)).collect(),
        customs: None,
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    }
}

/// [`payment_body`] as a body.
pub fn pay(
    id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[&str],
) -> Body {
    Body::Payment(payment_body(id, payer, payee, amount_minor, shipments))
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
