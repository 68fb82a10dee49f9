//! Sealed payments for tests, the benchmark and the demo: the terms, the
//! body with their commitments, the openings, the payee's confirmation.

use waybill_core::codes::{Currency, Incoterm, Uetr};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, PaymentMethod, PaymentStatus};
use waybill_core::gs1::ShipmentId;
use waybill_core::terms::{self, Openings, PaymentConfirmation, SealedPayment, Terms};

use crate::error::KitError;

/// Salts drawn from `seed`: SHA-256(seed || n) for n = 0, 1, … A seed
/// from the operating system's randomness gives secret salts (the demo);
/// a fixed one gives repeatable fixtures.
pub fn salts(seed: [u8; 32]) -> impl FnMut() -> [u8; 32] {
    let mut n = 0u64;
    move || {
        let mut bytes = seed.to_vec();
        bytes.extend_from_slice(&n.to_be_bytes());
        n += 1;
        Hash32::digest(&bytes).0
    }
}

/// Plain FOB terms paid by SWIFT: `amount_minor` of `currency`.
pub fn fob(amount_minor: u64, currency: Currency) -> Terms {
    Terms {
        amount_minor,
        currency,
        settlement: None,
        incoterm: Incoterm::Fob,
        method: PaymentMethod::SwiftTransfer,
        hs_codes: Vec::new(),
        customs_declaration: None,
        invoice: None,
    }
}

/// A settled payment of `terms`, sealed with salts from `seed`, and its
/// openings.
pub fn seal(
    payment_id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    shipments: Vec<ShipmentId>,
    terms: &Terms,
    seed: [u8; 32],
) -> Result<(SealedPayment, Openings), KitError> {
    let (sealed, openings) = terms
        .seal(payment_id, salts(seed))
        .map_err(|e| KitError::Workload(format!("cannot seal the payment terms: {e}")))?;
    Ok((
        SealedPayment {
            payment_id,
            payer: *payer,
            payee: *payee,
            shipments,
            status: PaymentStatus::Settled,
            terms: sealed,
        },
        openings,
    ))
}

/// The payee's confirmation of `p`.
pub fn confirm(p: &SealedPayment) -> Body {
    Body::PaymentConfirmation(PaymentConfirmation {
        payment_id: p.payment_id,
        terms: terms::digest(&p.payment_id, &p.terms),
    })
}
