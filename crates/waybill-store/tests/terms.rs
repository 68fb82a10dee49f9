//! The openings of sealed payment terms, kept beside the ledger: kept only
//! when they open the payment's commitments, read back, erased, and the
//! chain verifying the same with or without them.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tempfile::TempDir;
use waybill_core::crypto::Hash32;
use waybill_core::entry::Body;
use waybill_core::state::View;
use waybill_core::terms::{Openings, Salt};
use waybill_store::{create_dir, StoreError};
use waybill_testkit::sealed;

use support::*;

/// A sled ledger with a lot dispatched and paid for with sealed terms;
/// the terms' openings.
fn paid() -> (TempDir, Consortium, Openings) {
    let c = consortium();
    let dir = TempDir::new().unwrap();
    let mut ledger = create_dir(dir.path(), c.genesis.clone()).unwrap();
    let mut s = Signer::new(&c);
    let s1 = ship("S-1");
    let (p, openings) = sealed::seal(
        uetr(1),
        &c.payer.pk,
        &c.producer.pk,
        vec![s1.clone()],
        &sealed::fob(125_000, "USD".parse().unwrap()),
        [9; 32],
    )
    .unwrap();
    let entries = vec![
        s.produce(&c.producer, &lot("L-1"), 1_000_000, &[]),
        s.dispatch(&c.producer, &s1, &[lot("L-1")], &c.processor, None),
        s.sign(&c.payer, Body::SealedPayment(p.clone())),
        s.sign(&c.producer, sealed::confirm(&p)),
    ];
    append_in_blocks(&c, &mut ledger, &entries, 2);
    let state = ledger.state().payment(&uetr(1)).unwrap();
    assert_eq!(state.confirmed_by, Some(entries[3].id()));
    (dir, c, openings)
}

#[test]
fn terms_are_kept_read_and_erased_and_the_chain_verifies_without_them() {
    let (dir, _c, openings) = paid();
    let ledger = reopen(dir.path()).unwrap();
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), None);
    let terms = ledger.put_terms(&openings).unwrap();
    assert_eq!(terms.amount_minor, 125_000);
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), Some(openings.clone()));
    drop(ledger);

    // Kept across a reopen, and the ledger checks the same with them.
    let (ledger, report) = waybill_store::open_and_check_dir(dir.path()).unwrap();
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), Some(openings));
    let digest = report.state_digest;

    assert!(ledger.erase_terms(&uetr(1)).unwrap());
    assert!(!ledger.erase_terms(&uetr(1)).unwrap());
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), None);
    drop(ledger);
    let (ledger, report) = waybill_store::open_and_check_dir(dir.path()).unwrap();
    assert_eq!(report.state_digest, digest);
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), None);
}

#[test]
fn terms_that_do_not_open_the_commitments_are_refused_and_nothing_is_kept() {
    let (dir, _c, openings) = paid();
    let ledger = reopen(dir.path()).unwrap();
    let mut wrong_amount = openings.clone();
    wrong_amount.fields[0].value = "125001".into();
    let mut wrong_salt = openings.clone();
    wrong_salt.fields[1].salt = Salt(Hash32([0; 32]));
    let mut missing = openings.clone();
    missing.fields.pop();
    let mut other_payment = openings.clone();
    other_payment.payment_id = uetr(2);
    for (what, o, needle) in [
        ("a changed amount", wrong_amount, "amount"),
        ("a changed salt", wrong_salt, "currency"),
        ("a term left out", missing, "lack"),
        ("an unknown payment", other_payment, "not on this ledger"),
    ] {
        match ledger.put_terms(&o) {
            Err(StoreError::Terms(why)) => assert!(why.contains(needle), "{what}: {why}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(ledger.terms(&uetr(1)).unwrap(), None);
    assert_eq!(ledger.terms(&uetr(2)).unwrap(), None);
}
