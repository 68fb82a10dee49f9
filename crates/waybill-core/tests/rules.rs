//! One focused test per `RuleError` reachable through `rules::apply` over
//! `State`, plus the custody transitions they guard. Every refusal is
//! checked through `Ledger::refuse`, which also asserts that the refused
//! entry left the state untouched.

mod support;

use support::*;
use waybill_core::codes::{Decimal3, FxRate};
use waybill_core::entry::{Body, Product, Settlement, SignatureError, ENTRY_VERSION};
use waybill_core::genesis::Role;
use waybill_core::gs1::{Gtin, LotId};
use waybill_core::rules::{self, RuleError};
use waybill_core::state::{LotStatus, ShipmentStage, View};

fn setup() -> (Consortium, Ledger) {
    let c = Consortium::new();
    let l = Ledger::new(&c.genesis);
    (c, l)
}

fn status(l: &Ledger, id: &str) -> LotStatus {
    l.state.lot(&lot(id)).unwrap().status.clone()
}

fn custodian(l: &Ledger, id: &str) -> waybill_core::crypto::PublicKey {
    l.state.lot(&lot(id)).unwrap().custodian
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
    assert_eq!(after.custodian, c.producer.pk);
    assert_eq!(after.producer, c.producer.pk);
    assert_eq!(after.remaining, dec("600"));
    assert_eq!(after.status, LotStatus::Held);
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
    let (index, err) = rules::apply_block(&l.state, &[ok.clone(), dup], 1).unwrap_err();
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
    let applied = rules::apply_block(&l.state, &[ok, next], 1).unwrap();
    assert_eq!(applied.effects.len(), 2);
    assert_eq!(applied.changes.nonces[&c.producer.pk], 2);
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

