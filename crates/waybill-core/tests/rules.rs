//! One focused test per `RuleError` reachable through `rules::apply` over
//! `State`, plus the custody transitions they guard. Every refusal is
//! checked through `Ledger::refuse`, which also asserts that the refused
//! entry left the state untouched.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::codes::Decimal3;
use waybill_core::entry::{
    Body, Corrected, PaymentMethod, PaymentStatus, Product, SignatureError, ENTRY_VERSION,
};
use waybill_core::genesis::Role;
use waybill_core::gs1::{Gtin, LotId};
use waybill_core::rules::{self, RuleError};
use waybill_core::state::{ShipmentStage, View};
use waybill_core::terms::{TermField, TermsError};
use waybill_testkit::sealed::{confirm, fob};

fn setup() -> (Consortium, Ledger) {
    let c = Consortium::new();
    let l = Ledger::new(&c.genesis);
    (c, l)
}

fn status(l: &Ledger, id: &str) -> LotStatus {
    l.state.lot(&lot(id)).unwrap().status()
}

fn custodian(l: &Ledger, id: &str) -> waybill_core::crypto::PublicKey {
    l.state.lot(&lot(id)).unwrap().custodian()
}

fn stage(l: &Ledger, id: &str) -> ShipmentStage {
    l.state.shipment(&ship(id)).unwrap().stage
}

// ---------------------------------------------------------------------------
// Applying and committing

#[test]
fn apply_returns_changes_and_only_commit_changes_state() {
    let (c, mut l) = setup();
    let e = l.sign(&c.producer, produce("GREEN-1", "600"));
    let before = l.state.clone();
    let changes = l.try_apply(&e).unwrap();
    assert!(!changes.is_empty());
    assert_eq!(l.state, before, "apply must not touch the state");
    assert!(l.state.lot(&lot("GREEN-1")).is_none());
    l.state.commit(changes);
    let after = l.state.lot(&lot("GREEN-1")).unwrap();
    assert_eq!(after.custodian(), c.producer.pk);
    assert_eq!(after.producer, c.producer.pk);
    assert_eq!(after.remaining(), dec("600"));
    assert_eq!(after.status(), LotStatus::Held);
    assert_eq!(after.produced_by, e.id());
    assert_eq!(l.state.nonce(&c.producer.pk), 1);
    assert_ne!(l.state.digest(), before.digest());
}

#[test]
fn a_refused_entry_does_not_use_up_the_nonce() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    // Refused (lot exists) with the correct next nonce …
    let bad = l.sign(&c.producer, produce("GREEN-1", "1"));
    assert!(matches!(l.refuse(&bad), RuleError::LotExists(_)));
    // … so that nonce is still the next one.
    assert_eq!(l.next_nonce(&c.producer), 2);
    l.record(&c.producer, produce("GREEN-2", "1"));
}

#[test]
fn apply_block_names_the_failing_entry_and_returns_no_changes() {
    let (c, l) = setup();
    let ok = l.sign(&c.producer, produce("GREEN-1", "600"));
    let dup = signed(l.chain_id(), &c.producer, 2, produce("GREEN-1", "1"));
    let before = l.state.clone();
    let (index, err) = rules::apply_block(&l.state, &[ok.clone(), dup], l.next_at()).unwrap_err();
    assert_eq!(index, 1);
    assert!(matches!(err, RuleError::LotExists(_)), "{err:?}");
    assert_eq!(l.state, before);
    // Entries in one block see each other's changes.
    let next = signed(
        l.chain_id(),
        &c.producer,
        2,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    let applied = rules::apply_block(&l.state, &[ok.clone(), next.clone()], l.next_at()).unwrap();
    assert_eq!(applied.effects.len(), 2);
    assert_eq!(applied.changes.nonces[&c.producer.pk], 2);

    // apply_block checks signatures and shapes itself.
    let mut forged = next.clone();
    forged.entry.recorded_at_ms += 1;
    let (index, err) =
        rules::apply_block(&l.state, &[ok.clone(), forged], l.next_at()).unwrap_err();
    assert_eq!(index, 1);
    assert!(matches!(err, RuleError::Signature(_)), "{err:?}");
    let mut future = next.entry.clone();
    future.version = ENTRY_VERSION + 1;
    let future = future.sign(&c.producer.key);
    let (index, err) = rules::apply_block(&l.state, &[ok, future], l.next_at()).unwrap_err();
    assert_eq!(index, 1);
    assert!(
        matches!(err, RuleError::UnsupportedVersion { .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Shape, chain and signatures

#[test]
fn unsupported_version() {
    let (c, l) = setup();
    let mut e = entry(l.chain_id(), &c.producer.pk, 1, produce("GREEN-1", "1"));
    e.version = ENTRY_VERSION + 1;
    let err = l.refuse(&e.sign(&c.producer.key));
    assert!(
        matches!(err, RuleError::UnsupportedVersion { got } if got == ENTRY_VERSION + 1),
        "{err:?}"
    );
    assert_mentions(&err, &[&(ENTRY_VERSION + 1).to_string()]);
}

#[test]
fn too_large() {
    let (c, l) = setup();
    let mut p = produce_body("GREEN-1", "1");
    p.product.description = "x".repeat(70_000);
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p)));
    assert!(
        matches!(err, RuleError::TooLarge(n) if n > 70_000),
        "{err:?}"
    );
    assert_mentions(&err, &["65536"]);
}

#[test]
fn bad_field() {
    let (c, l) = setup();
    let err = l.refuse(&l.sign(&c.producer, produce("GREEN-1", "0")));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["quantity"]);

    let err = l.refuse(&l.sign(&c.producer, produce_from("R-1", "1", &[("GREEN-1", "0")])));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1"]);

    let err = l.refuse(&l.sign(&c.producer, reject("S-1", "bad\u{7}bell")));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["reason"]);
}

#[test]
fn bad_signature() {
    let (c, l) = setup();
    let mut e = l.sign(&c.producer, produce("GREEN-1", "600"));
    e.entry.body = produce("GREEN-1", "6000");
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::Signature(SignatureError::BadSignature)),
        "{err:?}"
    );
    assert_mentions(&err, &["signature"]);

    // Signed by another key than the author's.
    let e = entry(l.chain_id(), &c.producer.pk, 1, produce("GREEN-1", "1")).sign(&c.outsider.key);
    assert!(matches!(
        l.refuse(&e),
        RuleError::Signature(SignatureError::BadSignature)
    ));
}

#[test]
fn wrong_chain() {
    let (c, l) = setup();
    let other = Consortium::named("another-chain");
    let e = signed(other.chain_id(), &c.producer, 1, produce("GREEN-1", "600"));
    let err = l.refuse(&e);
    assert!(
        matches!(&err, RuleError::WrongChain { expected, got }
            if *expected == c.chain_id().to_hex() && *got == other.chain_id().to_hex()),
        "{err:?}"
    );
    assert_mentions(&err, &[&other.chain_id().to_hex(), &c.chain_id().to_hex()]);
}

#[test]
fn cosignatures_on_a_non_membership_entry_are_refused() {
    let (c, l) = setup();
    let e = cosigned(
        l.sign(&c.producer, produce("GREEN-1", "600")),
        &[&c.admins[0]],
    );
    e.verify_signatures().unwrap();
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::UnexpectedCosignatures), "{err:?}");
    assert_mentions(&err, &["membership"]);
}

// ---------------------------------------------------------------------------
// Authors, roles and nonces

#[test]
fn unknown_author() {
    let (c, l) = setup();
    let err = l.refuse(&l.sign(&c.outsider, produce("GREEN-1", "600")));
    assert!(
        matches!(err, RuleError::UnknownAuthor(k) if k == c.outsider.pk),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.outsider.pk.to_hex()]);
}

/// Removes `who` with a membership entry by admin A co-signed by admin B.
fn remove(c: &Consortium, l: &mut Ledger, who: &Party) -> u64 {
    let e = cosigned(
        l.sign(&c.admins[0], remove_member(&who.pk)),
        &[&c.admins[1]],
    );
    l.commit(&e);
    l.height
}

#[test]
fn removed_author_after_a_quorum_remove() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let removed_at = remove(&c, &mut l, &c.producer);
    assert_eq!(
        l.state.member(&c.producer.pk).unwrap().removed_at,
        Some(removed_at)
    );
    // What it recorded before stays.
    assert_eq!(custodian(&l, "GREEN-1"), c.producer.pk);
    let err = l.refuse(&l.sign(&c.producer, produce("GREEN-2", "1")));
    assert!(
        matches!(&err, RuleError::AuthorRemoved { name, key, height }
            if *name == c.producer.name && *key == c.producer.pk && *height == removed_at),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.producer.name, &removed_at.to_string()]);
}

#[test]
fn a_removed_member_cannot_be_consignee_or_payee() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    remove(&c, &mut l, &c.distributor);
    l.record(&c.processor, receive("S-1"));
    let err = l.refuse(&l.sign(
        &c.processor,
        dispatch("S-2", &["GREEN-1"], &c.distributor.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "consignee", key, .. } if *key == c.distributor.pk),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.distributor.name, "removed"]);

    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.distributor.pk, 100, &["S-1"]),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "payee", .. }),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.distributor.name, "removed"]);
}

#[test]
fn missing_role() {
    let (c, l) = setup();
    let err = l.refuse(&l.sign(&c.retailer, produce("GREEN-1", "600")));
    assert!(
        matches!(&err, RuleError::MissingRole { name, kind: "produce", .. } if *name == c.retailer.name),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.retailer.name, "produce", "producer", "retailer"]);

    // A payer handles no goods; an auditor pays nothing; only admins change membership.
    let err = l.refuse(&l.sign(&c.payer, receive("S-1")));
    assert!(
        matches!(
            &err,
            RuleError::MissingRole {
                kind: "receive",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.payer.name, "receive"]);
    let err = l.refuse(&l.sign(
        &c.auditor,
        pay(uetr(1), &c.auditor.pk, &c.producer.pk, 100, &[]),
    ));
    assert!(
        matches!(
            &err,
            RuleError::MissingRole {
                kind: "payment",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.auditor.name, "payer"]);
    let err = l.refuse(&cosigned(
        l.sign(&c.producer, remove_member(&c.retailer.pk)),
        &[&c.admins[0], &c.admins[1]],
    ));
    assert!(
        matches!(
            &err,
            RuleError::MissingRole {
                kind: "membership",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.producer.name, "admin"]);
}

#[test]
fn replayed_nonce() {
    let (c, mut l) = setup();
    let first = l.record(&c.producer, produce("GREEN-1", "600"));
    // The very same entry again.
    let err = l.refuse(&first);
    assert!(
        matches!(&err, RuleError::NonceReplayed { name, got: 1, expected: 2 } if *name == c.producer.name),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.producer.name, "1", "2"]);
    // A new entry with an old nonce.
    let e = signed(l.chain_id(), &c.producer, 1, produce("GREEN-2", "1"));
    assert!(matches!(
        l.refuse(&e),
        RuleError::NonceReplayed {
            got: 1,
            expected: 2,
            ..
        }
    ));
    // Nonce 0 is never valid.
    let e = signed(l.chain_id(), &c.processor, 0, produce("R-1", "1"));
    assert!(matches!(
        l.refuse(&e),
        RuleError::NonceReplayed {
            got: 0,
            expected: 1,
            ..
        }
    ));
}

#[test]
fn nonce_gap() {
    let (c, mut l) = setup();
    let e = signed(l.chain_id(), &c.producer, 3, produce("GREEN-1", "600"));
    let err = l.refuse(&e);
    assert!(
        matches!(&err, RuleError::NonceGap { name, got: 3, expected: 1 } if *name == c.producer.name),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.producer.name, "3", "1"]);
    l.record(&c.producer, produce("GREEN-1", "600"));
    assert_eq!(l.state.nonce(&c.producer.pk), 1);
    // Nonces are per author.
    assert_eq!(l.next_nonce(&c.processor), 1);
}

// ---------------------------------------------------------------------------
// Production

#[test]
fn lot_exists() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    // Not even another member may reuse the id.
    let err = l.refuse(&l.sign(&c.processor, produce("GREEN-1", "1")));
    assert!(
        matches!(&err, RuleError::LotExists(id) if *id == lot("GREEN-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1"]);
}

#[test]
fn foreign_gtin() {
    let (c, mut l) = setup();
    let foreign: Gtin = FOREIGN_GTIN.parse().unwrap();
    let own: Gtin = BRAND_GTIN.parse().unwrap();

    // In the lot id.
    let foreign_lot = LotId::batch(foreign, "B1").unwrap();
    let mut p = produce_body("X", "10");
    p.lot = foreign_lot.clone();
    let err = l.refuse(&l.sign(&c.brand, Body::Produce(p)));
    assert!(
        matches!(&err, RuleError::ForeignGtin { gtin, member, prefixes, .. }
            if *gtin == foreign && *member == c.brand.name && prefixes.contains(BRAND_PREFIX)),
        "{err:?}"
    );
    assert_mentions(&err, &[FOREIGN_GTIN, &c.brand.name, BRAND_PREFIX]);

    // In the product.
    let mut p = produce_body("BRAND-FREE-1", "10");
    p.product = Product {
        gtin: Some(foreign),
        id: None,
        description: "somebody else's biscuits".into(),
    };
    let err = l.refuse(&l.sign(&c.brand, Body::Produce(p)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");

    // Its own GTIN is fine, in both places.
    let mut p = produce_body("X", "10");
    p.lot = LotId::batch(own, "B1").unwrap();
    p.product.gtin = Some(own);
    l.record(&c.brand, Body::Produce(p));

    // Another member may not record it, nor a GTIN under no member's
    // prefix (tests/prefixes.rs has the rest).
    let mut p = produce_body("Y", "10");
    p.lot = LotId::batch(own, "B2").unwrap();
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p)));
    assert_mentions(
        &err,
        &[BRAND_GTIN, &c.producer.name, &c.brand.name, BRAND_PREFIX],
    );
    let mut p = produce_body("Y", "10");
    p.lot = foreign_lot;
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
}

#[test]
fn unknown_lot() {
    let (c, l) = setup();
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-1", "1", &[("NO-SUCH-LOT", "1")]),
    ));
    assert!(
        matches!(&err, RuleError::UnknownLot(id) if *id == lot("NO-SUCH-LOT")),
        "{err:?}"
    );
    assert_mentions(&err, &["NO-SUCH-LOT"]);

    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["NO-SUCH-LOT"], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::UnknownLot(_)), "{err:?}");
}

#[test]
fn duplicate_lot() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-1", "GREEN-1"], &c.processor.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::DuplicateLot(id) if *id == lot("GREEN-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1"]);
    let err = l.refuse(&l.sign(
        &c.producer,
        produce_from("MIX-1", "2", &[("GREEN-1", "1"), ("GREEN-1", "1")]),
    ));
    assert!(matches!(err, RuleError::DuplicateLot(_)), "{err:?}");
    // A lot cannot be made from itself.
    let err = l.refuse(&l.sign(
        &c.producer,
        produce_from("GREEN-1", "2", &[("GREEN-1", "1")]),
    ));
    assert!(matches!(err, RuleError::DuplicateLot(_)), "{err:?}");
}

#[test]
fn not_custodian() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.processor,
        dispatch("S-1", &["GREEN-1"], &c.retailer.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::NotCustodian { lot: id, author, custodian }
            if *id == lot("GREEN-1") && *author == c.processor.name && *custodian == c.producer.name),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1", &c.processor.name, &c.producer.name]);
    // Nor may it consume the lot.
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-1", "1", &[("GREEN-1", "1")]),
    ));
    assert!(matches!(err, RuleError::NotCustodian { .. }), "{err:?}");
}

#[test]
fn lot_in_transit() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    // The sender cannot ship it twice.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-2", &["GREEN-1"], &c.distributor.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::LotInTransit { lot: id, shipment } if *id == lot("GREEN-1") && *shipment == ship("S-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1", "S-1"]);
    // Nor use it.
    let err = l.refuse(&l.sign(&c.producer, produce_from("MIX-1", "1", &[("GREEN-1", "1")])));
    assert!(matches!(err, RuleError::LotInTransit { .. }), "{err:?}");
    // The carrier that took it over holds it, but it is still in transit.
    l.record(&c.carrier, receive("S-1"));
    assert_eq!(custodian(&l, "GREEN-1"), c.carrier.pk);
    let err = l.refuse(&l.sign(
        &c.carrier,
        dispatch("S-3", &["GREEN-1"], &c.distributor.pk, None),
    ));
    assert!(matches!(err, RuleError::LotInTransit { .. }), "{err:?}");
    // Nor may the consignee use it before receiving it.
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-1", "1", &[("GREEN-1", "1")]),
    ));
    assert!(matches!(err, RuleError::LotInTransit { .. }), "{err:?}");
}

#[test]
fn lot_consumed() {
    let (c, mut l) = setup();
    l.record(&c.processor, produce("GREEN-1", "600"));
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "500", &[("GREEN-1", "600")]),
    );
    assert_eq!(status(&l, "GREEN-1"), LotStatus::Consumed);
    assert_eq!(
        l.state.lot(&lot("GREEN-1")).unwrap().remaining(),
        Decimal3::ZERO
    );
    let err = l.refuse(&l.sign(
        &c.processor,
        dispatch("S-1", &["GREEN-1"], &c.retailer.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::LotConsumed(id) if *id == lot("GREEN-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1"]);
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-2", "1", &[("GREEN-1", "0.001")]),
    ));
    assert!(matches!(err, RuleError::LotConsumed(_)), "{err:?}");
}

#[test]
fn insufficient_quantity_and_partial_consumption() {
    let (c, mut l) = setup();
    l.record(&c.processor, produce("GREEN-1", "600"));
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "100", &[("GREEN-1", "120.5")]),
    );
    let g = l.state.lot(&lot("GREEN-1")).unwrap();
    assert_eq!(g.remaining(), dec("479.5"));
    assert_eq!(g.status(), LotStatus::Held);
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-2", "400", &[("GREEN-1", "479.501")]),
    ));
    assert!(
        matches!(&err, RuleError::InsufficientQuantity { lot: id, have, want }
            if *id == lot("GREEN-1") && *have == dec("479.5") && *want == dec("479.501")),
        "{err:?}"
    );
    assert_mentions(&err, &["GREEN-1", "479.5", "479.501"]);
    // Exactly what is left consumes it.
    l.record(
        &c.processor,
        produce_from("ROASTED-2", "400", &[("GREEN-1", "479.5")]),
    );
    assert_eq!(status(&l, "GREEN-1"), LotStatus::Consumed);
}

#[test]
fn one_failing_input_consumes_none() {
    let (c, mut l) = setup();
    l.record(&c.processor, produce("A", "10"));
    l.record(&c.processor, produce("B", "10"));
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("AB", "2", &[("A", "5"), ("B", "11")]),
    ));
    assert!(
        matches!(err, RuleError::InsufficientQuantity { .. }),
        "{err:?}"
    );
    assert_eq!(l.state.lot(&lot("A")).unwrap().remaining(), dec("10"));
}

// ---------------------------------------------------------------------------
// Dispatch

#[test]
fn shipment_exists() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.producer, produce("GREEN-2", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-2"], &c.processor.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::ShipmentExists(id) if *id == ship("S-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["S-1"]);
}

#[test]
fn consignee_not_a_member() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.outsider.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "consignee", key, .. } if *key == c.outsider.pk),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &["consignee", &c.outsider.pk.to_hex(), "not a member"],
    );
}

#[test]
fn consignee_cannot_hold_goods() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    for who in [&c.payer, &c.auditor, &c.admins[0]] {
        let err = l.refuse(&l.sign(&c.producer, dispatch("S-1", &["GREEN-1"], &who.pk, None)));
        assert!(
            matches!(&err, RuleError::BadCounterparty { what: "consignee", key, .. } if *key == who.pk),
            "{err:?}"
        );
        assert_mentions(&err, &[&who.name, "cannot take custody"]);
    }
}

#[test]
fn consignee_is_sender() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.producer.pk, None),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "consignee", key, .. } if *key == c.producer.pk),
        "{err:?}"
    );
    assert_mentions(&err, &["consignee", "sender"]);
}

#[test]
fn carrier_without_carrier_role() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch(
            "S-1",
            &["GREEN-1"],
            &c.processor.pk,
            Some(&c.distributor.pk),
        ),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "carrier", key, .. } if *key == c.distributor.pk),
        "{err:?}"
    );
    assert_mentions(&err, &["carrier", &c.distributor.name]);
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.outsider.pk)),
    ));
    assert!(
        matches!(
            &err,
            RuleError::BadCounterparty {
                what: "carrier",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Receive and reject

#[test]
fn unknown_shipment() {
    let (c, l) = setup();
    let err = l.refuse(&l.sign(&c.processor, receive("S-404")));
    assert!(
        matches!(&err, RuleError::UnknownShipment(id) if *id == ship("S-404")),
        "{err:?}"
    );
    assert_mentions(&err, &["S-404"]);
    let err = l.refuse(&l.sign(&c.processor, reject("S-404", "never heard of it")));
    assert!(matches!(err, RuleError::UnknownShipment(_)), "{err:?}");
}

#[test]
fn shipment_closed() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    l.record(&c.processor, receive("S-1"));
    let err = l.refuse(&l.sign(&c.processor, receive("S-1")));
    assert!(
        matches!(&err, RuleError::ShipmentClosed { shipment, stage: "delivered" } if *shipment == ship("S-1")),
        "{err:?}"
    );
    assert_mentions(&err, &["S-1", "delivered"]);
    let err = l.refuse(&l.sign(&c.processor, reject("S-1", "too late")));
    assert!(
        matches!(
            err,
            RuleError::ShipmentClosed {
                stage: "delivered",
                ..
            }
        ),
        "{err:?}"
    );

    l.record(
        &c.processor,
        dispatch("S-2", &["GREEN-1"], &c.retailer.pk, None),
    );
    l.record(&c.retailer, reject("S-2", "wrong goods"));
    let err = l.refuse(&l.sign(&c.retailer, receive("S-2")));
    assert!(
        matches!(
            err,
            RuleError::ShipmentClosed {
                stage: "rejected",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["S-2", "rejected"]);
}

#[test]
fn receive_by_non_consignee() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    for (who, action) in [(&c.retailer, "receive"), (&c.producer, "reject")] {
        let body = if action == "receive" {
            receive("S-1")
        } else {
            reject("S-1", "changed my mind")
        };
        let err = l.refuse(&l.sign(who, body));
        assert!(
            matches!(&err, RuleError::NotConsignee { shipment, action: a, author, consignee, carrier }
                if *shipment == ship("S-1") && *a == action && *author == who.name
                    && *consignee == c.processor.name && carrier.contains(&c.carrier.name)),
            "{err:?}"
        );
        assert_mentions(
            &err,
            &[&who.name, action, "S-1", &c.processor.name, &c.carrier.name],
        );
    }
    // Once the carrier has taken over, it cannot receive again; only the
    // consignee can.
    l.record(&c.carrier, receive("S-1"));
    let err = l.refuse(&l.sign(&c.carrier, receive("S-1")));
    assert!(
        matches!(&err, RuleError::NotConsignee { carrier, .. } if carrier.is_empty()),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.carrier.name, &c.processor.name]);
}

#[test]
fn carrier_takes_over_then_consignee_receives() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.producer, produce("GREEN-2", "300"));
    l.record(
        &c.producer,
        dispatch(
            "S-1",
            &["GREEN-1", "GREEN-2"],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    for id in ["GREEN-1", "GREEN-2"] {
        assert_eq!(custodian(&l, id), c.producer.pk);
        assert_eq!(
            status(&l, id),
            LotStatus::InTransit {
                shipment: ship("S-1")
            }
        );
    }
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Dispatched);

    l.record(&c.carrier, receive("S-1"));
    for id in ["GREEN-1", "GREEN-2"] {
        assert_eq!(custodian(&l, id), c.carrier.pk);
        assert!(matches!(status(&l, id), LotStatus::InTransit { .. }));
    }
    assert_eq!(stage(&l, "S-1"), ShipmentStage::WithCarrier);

    l.record(&c.processor, receive("S-1"));
    for id in ["GREEN-1", "GREEN-2"] {
        assert_eq!(custodian(&l, id), c.processor.pk);
        assert_eq!(status(&l, id), LotStatus::Held);
    }
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
    // The new custodian can use it, the old one cannot.
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "500", &[("GREEN-1", "600")]),
    );
    assert!(matches!(
        l.refuse(&l.sign(
            &c.producer,
            dispatch("S-2", &["GREEN-2"], &c.retailer.pk, None)
        )),
        RuleError::NotCustodian { .. }
    ));
}

#[test]
fn consignee_may_receive_without_the_carrier_taking_over() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    l.record(&c.processor, receive("S-1"));
    assert_eq!(custodian(&l, "GREEN-1"), c.processor.pk);
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
    assert!(matches!(
        l.refuse(&l.sign(&c.carrier, receive("S-1"))),
        RuleError::ShipmentClosed { .. }
    ));
}

#[test]
fn reject_returns_custody_to_sender() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    l.record(&c.processor, reject("S-1", "moisture above 12.5%"));
    assert_eq!(custodian(&l, "GREEN-1"), c.producer.pk);
    assert_eq!(status(&l, "GREEN-1"), LotStatus::Held);
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Rejected);
    // The consignee never got it.
    assert!(matches!(
        l.refuse(&l.sign(
            &c.processor,
            produce_from("ROASTED-1", "1", &[("GREEN-1", "1")])
        )),
        RuleError::NotCustodian { .. }
    ));

    // After a carrier took over, a rejection still returns it to the sender
    // (not to the carrier).
    l.record(
        &c.producer,
        dispatch("S-2", &["GREEN-1"], &c.distributor.pk, Some(&c.carrier.pk)),
    );
    l.record(&c.carrier, receive("S-2"));
    l.record(&c.distributor, reject("S-2", "no space"));
    assert_eq!(custodian(&l, "GREEN-1"), c.producer.pk);
    assert_eq!(status(&l, "GREEN-1"), LotStatus::Held);

    // The carrier may refuse a shipment before taking it over.
    l.record(
        &c.producer,
        dispatch("S-3", &["GREEN-1"], &c.distributor.pk, Some(&c.carrier.pk)),
    );
    l.record(&c.carrier, reject("S-3", "vessel full"));
    assert_eq!(custodian(&l, "GREEN-1"), c.producer.pk);
    assert_eq!(status(&l, "GREEN-1"), LotStatus::Held);
    l.record(
        &c.producer,
        dispatch("S-4", &["GREEN-1"], &c.processor.pk, None),
    );
}

// ---------------------------------------------------------------------------
// Payments

fn shipped(c: &Consortium) -> Ledger {
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    l
}

#[test]
fn payment_is_recorded() {
    let c = Consortium::new();
    let mut l = shipped(&c);
    let e = l.record(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.producer.pk, 1_234_567, &["S-1"]),
    );
    let p = l.state.payment(&uetr(1)).unwrap();
    assert_eq!(p.payer, c.payer.pk);
    assert_eq!(p.payee, c.producer.pk);
    assert_eq!(p.recorded_by, e.id());
}

#[test]
fn payer_not_author() {
    let c = Consortium::new();
    let l = shipped(&c);
    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(1), &c.processor.pk, &c.producer.pk, 100, &["S-1"]),
    ));
    assert!(matches!(err, RuleError::PayerNotAuthor), "{err:?}");
    assert_mentions(&err, &["payer", "author"]);
}

#[test]
fn payment_terms_in_the_clear_are_refused() {
    let c = Consortium::new();
    let l = shipped(&c);
    let plain = Body::Payment(waybill_core::entry::Payment {
        payment_id: uetr(1),
        payer: c.payer.pk,
        payee: c.producer.pk,
        amount_minor: 100,
        currency: currency("EUR"),
        settlement: None,
        incoterm: waybill_core::codes::Incoterm::Fob,
        shipments: vec![ship("S-1")],
        customs: None,
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    });
    let err = l.refuse(&l.sign(&c.payer, plain));
    assert!(matches!(err, RuleError::PlainPayment), "{err:?}");
    assert_mentions(&err, &["sealed", "waybill record pay"]);
}

#[test]
fn sealed_terms_must_be_whole_and_in_order() {
    let c = Consortium::new();
    let l = shipped(&c);
    let p = payment_body(uetr(1), &c.payer.pk, &c.producer.pk, 100, &["S-1"]);
    let mut no_amount = p.clone();
    no_amount.terms.retain(|t| t.field != TermField::Amount);
    let err = l.refuse(&l.sign(&c.payer, Body::SealedPayment(no_amount)));
    assert!(
        matches!(
            err,
            RuleError::Terms(TermsError::Missing(TermField::Amount))
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["amount"]);
    let mut swapped = p.clone();
    swapped.terms.swap(0, 1);
    let err = l.refuse(&l.sign(&c.payer, Body::SealedPayment(swapped)));
    assert!(
        matches!(err, RuleError::Terms(TermsError::Order(_))),
        "{err:?}"
    );
    // A zero amount cannot be sealed at all.
    assert!(fob(0, currency("EUR")).seal(uetr(1), || [1; 32]).is_err());
    let to_self = payment_body(uetr(1), &c.payer.pk, &c.payer.pk, 100, &["S-1"]);
    let err = l.refuse(&l.sign(&c.payer, Body::SealedPayment(to_self)));
    assert_mentions(&err, &["payee", "payer"]);
}

#[test]
fn only_the_payee_confirms_once_over_the_same_terms() {
    let c = Consortium::new();
    let mut l = shipped(&c);
    let p = payment_body(uetr(1), &c.payer.pk, &c.producer.pk, 100, &["S-1"]);
    l.record(&c.payer, Body::SealedPayment(p.clone()));
    assert_eq!(l.state.payment(&uetr(1)).unwrap().confirmed_by, None);

    // Not the payee.
    let err = l.refuse(&l.sign(&c.payer, confirm(&p)));
    assert!(matches!(err, RuleError::Confirmation { .. }), "{err:?}");
    assert_mentions(&err, &["only its payee"]);
    // Other terms than those committed.
    let other = payment_body(uetr(1), &c.payer.pk, &c.producer.pk, 101, &["S-1"]);
    let err = l.refuse(&l.sign(&c.producer, confirm(&other)));
    assert_mentions(&err, &["other terms"]);
    // No such payment.
    let stranger = payment_body(uetr(2), &c.payer.pk, &c.producer.pk, 100, &["S-1"]);
    let err = l.refuse(&l.sign(&c.producer, confirm(&stranger)));
    assert!(matches!(err, RuleError::UnknownPayment(_)), "{err:?}");

    let e = l.record(&c.producer, confirm(&p));
    assert_eq!(
        l.state.payment(&uetr(1)).unwrap().confirmed_by,
        Some(e.id())
    );
    let err = l.refuse(&l.sign(&c.producer, confirm(&p)));
    assert_mentions(&err, &["confirmed it already"]);
}

#[test]
fn a_payment_declared_erroneous_cannot_be_confirmed() {
    let c = Consortium::new();
    let mut l = shipped(&c);
    let p = payment_body(uetr(1), &c.payer.pk, &c.producer.pk, 100, &["S-1"]);
    let e = l.record(&c.payer, Body::SealedPayment(p.clone()));
    l.record(
        &c.payer,
        correction(e.id(), Corrected::Payment(uetr(1)), "paid twice"),
    );
    let err = l.refuse(&l.sign(&c.producer, confirm(&p)));
    assert_mentions(&err, &["declared it erroneous"]);
}

#[test]
fn payment_exists() {
    let c = Consortium::new();
    let mut l = shipped(&c);
    l.record(
        &c.payer,
        pay(uetr(7), &c.payer.pk, &c.producer.pk, 100, &["S-1"]),
    );
    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(7), &c.payer.pk, &c.processor.pk, 200, &[]),
    ));
    assert!(
        matches!(&err, RuleError::PaymentExists(id) if *id == uetr(7)),
        "{err:?}"
    );
    assert_mentions(&err, &[&uetr(7).to_string()]);
}

#[test]
fn payment_for_unknown_shipment() {
    let c = Consortium::new();
    let l = shipped(&c);
    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.producer.pk, 100, &["S-1", "S-404"]),
    ));
    assert!(
        matches!(&err, RuleError::UnknownShipment(id) if *id == ship("S-404")),
        "{err:?}"
    );
    assert_mentions(&err, &["S-404"]);
}

#[test]
fn payee_not_a_member() {
    let c = Consortium::new();
    let l = shipped(&c);
    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.outsider.pk, 100, &["S-1"]),
    ));
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "payee", key, .. } if *key == c.outsider.pk),
        "{err:?}"
    );
    assert_mentions(&err, &["payee", &c.outsider.pk.to_hex()]);
}

// ---------------------------------------------------------------------------
// Membership

#[test]
fn admin_quorum_not_met() {
    let (c, l) = setup();
    // Three admins: more than half is two.
    let err = l.refuse(&l.sign(&c.admins[0], remove_member(&c.retailer.pk)));
    assert!(
        matches!(
            err,
            RuleError::AdminQuorum {
                need: 2,
                have: 1,
                admins: 3
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["2", "1", "3"]);
}

#[test]
fn cosigner_not_admin() {
    let (c, l) = setup();
    let e = cosigned(
        l.sign(&c.admins[0], remove_member(&c.retailer.pk)),
        &[&c.retailer],
    );
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::CosignerNotAdmin(k) if k == c.retailer.pk),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.retailer.pk.to_hex()]);
}

#[test]
fn a_forged_cosignature_is_refused() {
    let (c, l) = setup();
    let mut e = cosigned(
        l.sign(&c.admins[0], remove_member(&c.retailer.pk)),
        &[&c.admins[1]],
    );
    e.cosignatures[0].signature.0[0] ^= 1;
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::Signature(SignatureError::BadCosignature(k)) if k == c.admins[1].pk),
        "{err:?}"
    );
}

#[test]
fn membership_add_set_roles_and_conflicts() {
    let (c, mut l) = setup();
    let newcomer = Party::new("Late Distributor", 31, &[Role::Distributor]);
    let e = cosigned(
        l.sign(&c.admins[0], add_member(newcomer.spec("FR"))),
        &[&c.admins[2]],
    );
    l.commit(&e);
    l.record(&c.producer, produce("GREEN-1", "1"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &newcomer.pk, None),
    );
    l.record(&newcomer, receive("S-1"));

    // An existing (or former) key cannot be added again.
    let e = cosigned(
        l.sign(&c.admins[0], add_member(c.retailer.spec("DE"))),
        &[&c.admins[1]],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Membership(_)), "{err:?}");
    assert_mentions(&err, &[&c.retailer.pk.short()]);

    // Roles change: the newcomer becomes a payer, and may no longer ship goods.
    let e = cosigned(
        l.sign(&c.admins[1], set_roles(&newcomer.pk, &[Role::Payer])),
        &[&c.admins[2]],
    );
    l.commit(&e);
    assert!(matches!(
        l.refuse(&l.sign(
            &newcomer,
            dispatch("S-2", &["GREEN-1"], &c.retailer.pk, None)
        )),
        RuleError::MissingRole { .. }
    ));

    // Removing a removed member is refused.
    remove(&c, &mut l, &c.retailer);
    let e = cosigned(
        l.sign(&c.admins[0], remove_member(&c.retailer.pk)),
        &[&c.admins[1]],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Membership(_)), "{err:?}");
    assert_mentions(&err, &[&c.retailer.name, "removed"]);
}

#[test]
fn rotate_key_old_key_cannot_sign_new_key_can() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let new = Party::new(&c.producer.name, 21, &[Role::Producer]);
    let e = cosigned(
        l.sign(&c.admins[0], rotate_key(&c.producer.pk, &new.pk)),
        &[&c.admins[1]],
    );
    l.commit(&e);
    let rotated_at = l.height;

    let err = l.refuse(&l.sign(&c.producer, produce("GREEN-2", "1")));
    assert!(
        matches!(&err, RuleError::AuthorRemoved { key, height, .. } if *key == c.producer.pk && *height == rotated_at),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.producer.name]);

    // The new key is the same member, starts its own nonces at 1.
    assert_eq!(l.next_nonce(&new), 1);
    let m = l.state.member(&new.pk).unwrap();
    assert_eq!(m.spec.name, c.producer.name);
    assert_eq!(m.spec.roles, vec![Role::Producer]);
    l.record(&new, produce("GREEN-2", "1"));
    assert_eq!(custodian(&l, "GREEN-2"), new.pk);

    // The old key cannot be reused as anyone's new key.
    let e = cosigned(
        l.sign(&c.admins[0], rotate_key(&new.pk, &c.producer.pk)),
        &[&c.admins[1]],
    );
    assert!(matches!(l.refuse(&e), RuleError::Membership(_)));
}

/// The member behind a rotated key is the same organisation: goods it held
/// and shipments addressed to it must stay within its reach. Today the lot's
/// custodian (and the shipment's consignee) stay the old key, which signs
/// nothing any more, so the goods are stranded for good.
#[test]
fn rotated_member_keeps_custody_of_its_lots() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.processor, produce("BAGS-1", "50"));
    l.record(
        &c.processor,
        dispatch("S-BAGS", &["BAGS-1"], &c.producer.pk, None),
    );
    let new = Party::new(&c.producer.name, 21, &[Role::Producer]);
    let e = cosigned(
        l.sign(&c.admins[0], rotate_key(&c.producer.pk, &new.pk)),
        &[&c.admins[1]],
    );
    l.commit(&e);

    let dispatch_held = l.sign(&new, dispatch("S-1", &["GREEN-1"], &c.processor.pk, None));
    if let Err(err) = l.try_apply(&dispatch_held) {
        panic!("after a key rotation the member can no longer ship the lot it holds: {err}");
    }
    let receive_addressed = l.sign(&new, receive("S-BAGS"));
    if let Err(err) = l.try_apply(&receive_addressed) {
        panic!("after a key rotation the member can no longer receive a shipment addressed to it: {err}");
    }
}

/// Genesis refuses two members with one name ("names must be unique"), and
/// consumers see parties by name only (trail reports, custody steps, error
/// messages). A membership change must keep names unique too, or a second
/// key could appear in a consumer's trail as, say, the farm itself.
#[test]
fn adding_a_member_under_an_existing_name_is_refused() {
    let (c, l) = setup();
    let impostor = Party::new(&c.producer.name, 40, &[Role::Producer]);
    let e = cosigned(
        l.sign(&c.admins[0], add_member(impostor.spec("CO"))),
        &[&c.admins[1]],
    );
    match l.try_apply(&e) {
        Err(err) => {
            assert!(matches!(err, RuleError::Membership(_)), "{err:?}");
            assert_mentions(&err, &[&c.producer.name]);
        }
        Ok(_) => panic!(
            "a second member named `{}` was accepted; names must stay unique",
            c.producer.name
        ),
    }
}

#[test]
fn a_fixed_admin_threshold_from_genesis_applies() {
    let c = Consortium::new();
    let mut genesis = c.genesis.clone();
    genesis.governance.admin_threshold = Some(3);
    genesis.validate().unwrap();
    let mut l = Ledger::new(&genesis);
    let two = cosigned(
        l.sign(&c.admins[0], remove_member(&c.retailer.pk)),
        &[&c.admins[1]],
    );
    let err = l.refuse(&two);
    assert!(
        matches!(
            err,
            RuleError::AdminQuorum {
                need: 3,
                have: 2,
                admins: 3
            }
        ),
        "{err:?}"
    );
    let three = cosigned(two, &[&c.admins[2]]);
    l.commit(&three);
    assert!(!l.state.member(&c.retailer.pk).unwrap().active());
}
