//! The bodies of generated traffic (typed ids; coffee from Huila shipped
//! from Buenaventura to Hamburg, paid in USD with customs data) and a
//! [`Signer`] that gives each author its next nonce.
//!
//! The workload, the store's and the node's tests make their entries with
//! these; [`crate::entries`] has the minimal bodies of the rules' tests.

use std::collections::BTreeMap;

use waybill_core::codes::{Decimal3, FxRate, Uetr, UnitCode};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{
    Body, Dispatch, Entry, Input, Location, Produce, Product, Quantity, Receive, Reject,
    Settlement, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::ChainId;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::state::State;
use waybill_core::terms::Terms;

use crate::consortium::{Consortium, Party, T0};
use crate::error::{parse, KitError};
use crate::sealed;

/// A production of `milli` thousandths of a kilogram of `lot` (coffee from
/// Huila), consuming `inputs` (lot, thousandths of a kilogram).
pub fn try_produce_body(
    lot: &LotId,
    milli: u64,
    inputs: &[(LotId, u64)],
) -> Result<Body, KitError> {
    Ok(Body::Produce(Produce {
        lot: lot.clone(),
        product: Product {
            gtin: lot.gtin(),
            id: None,
            description: format!("coffee {lot}"),
        },
        quantity: Quantity {
            value: Decimal3::from_milli(milli),
            unit: UnitCode::Kgm,
        },
        origin: Location {
            country: Some(parse("country", "CO")?),
            name: Some("Huila".into()),
            ..Location::default()
        },
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: inputs
            .iter()
            .map(|(l, q)| Input {
                lot: l.clone(),
                quantity: Decimal3::from_milli(*q),
            })
            .collect(),
    }))
}

/// [`try_produce_body`], for tests.
pub fn produce_body(lot: &LotId, milli: u64, inputs: &[(LotId, u64)]) -> Body {
    try_produce_body(lot, milli, inputs).expect("a production body")
}

/// A dispatch from Buenaventura to Hamburg.
pub fn dispatch_body(
    shipment: &ShipmentId,
    lots: &[LotId],
    consignee: &PublicKey,
    carrier: Option<&PublicKey>,
) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots: lots.to_vec(),
        consignee: *consignee,
        carrier: carrier.copied(),
        from: Location {
            name: Some("Buenaventura".into()),
            ..Location::default()
        },
        to: Location {
            name: Some("Hamburg".into()),
            ..Location::default()
        },
        documents: Vec::new(),
    })
}

/// A receipt.
pub fn receive_body(shipment: &ShipmentId) -> Body {
    Body::Receive(Receive {
        shipment: shipment.clone(),
        at: Location::default(),
        documents: Vec::new(),
    })
}

/// A rejection ("damaged in transit").
pub fn reject_body(shipment: &ShipmentId) -> Body {
    Body::Reject(Reject {
        shipment: shipment.clone(),
        reason: "damaged in transit".into(),
    })
}

/// A settled USD payment for coffee (HS 0901.21, FOB); `converted`: settled
/// in COP at 4000.
pub fn try_payment_body(
    payment_id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[ShipmentId],
    converted: bool,
) -> Result<Body, KitError> {
    let settlement = if converted {
        Some(Settlement {
            amount_minor: amount_minor.saturating_mul(4),
            currency: parse("currency", "COP")?,
            fx_rate: FxRate::from_nano(4_000_000_000_000)
                .ok_or_else(|| KitError::Workload("FX rate out of range".into()))?,
        })
    } else {
        None
    };
    let terms = Terms {
        settlement,
        hs_codes: vec![parse("HS code", "0901.21")?],
        ..sealed::fob(amount_minor, parse("currency", "USD")?)
    };
    let seed = *payment_id
        .as_uuid()
        .as_bytes()
        .repeat(2)
        .first_chunk::<32>()
        .ok_or_else(|| KitError::Workload("a UUID is 16 bytes".into()))?;
    let (p, _) = sealed::seal(payment_id, payer, payee, shipments.to_vec(), &terms, seed)?;
    Ok(Body::SealedPayment(p))
}

/// [`try_payment_body`], for tests.
pub fn payment_body(
    payment_id: Uetr,
    payer: &PublicKey,
    payee: &PublicKey,
    amount_minor: u64,
    shipments: &[ShipmentId],
    converted: bool,
) -> Body {
    try_payment_body(payment_id, payer, payee, amount_minor, shipments, converted)
        .expect("a payment body")
}

/// Signs entries for one chain, giving each author its next nonce; an
/// entry with nonce `n` is recorded `n` ms after [`T0`].
#[derive(Debug, Clone)]
pub struct Signer {
    /// The chain.
    pub chain_id: ChainId,
    /// Last nonce used per author.
    pub nonces: BTreeMap<PublicKey, u64>,
}

impl Signer {
    /// A signer for a fresh chain of `c`.
    pub fn new(c: &Consortium) -> Self {
        Self::for_chain(c.chain_id)
    }

    /// A signer for a fresh chain.
    pub fn for_chain(chain_id: ChainId) -> Self {
        Signer {
            chain_id,
            nonces: BTreeMap::new(),
        }
    }

    /// A signer continuing from a committed state's nonces.
    pub fn from_state(state: &State) -> Self {
        Signer {
            chain_id: state.chain_id,
            nonces: state.nonces.clone(),
        }
    }

    /// Forgets nonces used since `state` (after a rejected block).
    pub fn reset(&mut self, state: &State) {
        self.nonces = state.nonces.clone();
    }

    /// Takes `who`'s next nonce.
    pub fn next_nonce(&mut self, who: &PublicKey) -> u64 {
        let n = self.nonces.entry(*who).or_insert(0);
        *n += 1;
        *n
    }

    /// Signs `body` by `who` with an explicit nonce (does not advance).
    pub fn sign_with_nonce(&self, who: &Party, nonce: u64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.chain_id,
            author: who.pk,
            nonce,
            recorded_at_ms: T0 + i64::try_from(nonce).unwrap_or(0),
            body,
        }
        .sign(&who.key)
    }

    /// Signs `body` by `who` with its next nonce.
    pub fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        let nonce = self.next_nonce(&who.pk);
        self.sign_with_nonce(who, nonce, body)
    }

    /// `who` produces `lot` (kg × 1000), consuming `inputs`.
    pub fn produce(
        &mut self,
        who: &Party,
        lot: &LotId,
        milli: u64,
        inputs: &[(LotId, u64)],
    ) -> SignedEntry {
        self.sign(who, produce_body(lot, milli, inputs))
    }

    /// `who` dispatches `lots` to `consignee`, by `carrier` if any.
    pub fn dispatch(
        &mut self,
        who: &Party,
        shipment: &ShipmentId,
        lots: &[LotId],
        consignee: &Party,
        carrier: Option<&Party>,
    ) -> SignedEntry {
        self.sign(
            who,
            dispatch_body(shipment, lots, &consignee.pk, carrier.map(|c| &c.pk)),
        )
    }

    /// `who` receives `shipment`.
    pub fn receive(&mut self, who: &Party, shipment: &ShipmentId) -> SignedEntry {
        self.sign(who, receive_body(shipment))
    }

    /// `who` rejects `shipment`.
    pub fn reject(&mut self, who: &Party, shipment: &ShipmentId) -> SignedEntry {
        self.sign(who, reject_body(shipment))
    }

    /// `who` (a payer) pays `payee` for `shipments`.
    pub fn payment(
        &mut self,
        who: &Party,
        payment_id: Uetr,
        payee: &Party,
        amount_minor: u64,
        shipments: &[ShipmentId],
    ) -> SignedEntry {
        self.sign(
            who,
            payment_body(
                payment_id,
                &who.pk,
                &payee.pk,
                amount_minor,
                shipments,
                false,
            ),
        )
    }
}
