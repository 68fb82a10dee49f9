//! Trails and audit bundles over a small in-memory chain telling a coffee
//! story: green coffee produced in Colombia, shipped with a carrier to a
//! roaster in Germany, roasted, shipped to a retailer and paid for in EUR
//! with settlement in USD under DDP. The trail is assembled the way a store
//! would; the verifier must accept it and catch every lie below.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::block::{self, CommitCertificate, CommitSignature, Header};
use waybill_core::bundle::{Bundle, BundleBody, BundleError, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::codes::Incoterm;
use waybill_core::crypto::{self, Domain, Hash32};
use waybill_core::entry::{Body, Settlement};
use waybill_core::genesis::Role;
use waybill_core::trail::{self, Policy, Trail, TrailError, TrailReport, TRAIL_VERSION};

const GREEN: &str = "GREEN-HUILA-2024";
const ROASTED: &str = "ROASTED-HH-0042";
const S_GREEN: &str = "S-BUN-HAM-7";
const S_ROAST: &str = "S-HAM-SHOP-3";
const S_BISCUITS: &str = "S-BISCUITS-1";

const NO_CERTS: Policy = Policy {
    require_certificates: false,
};
const CERTS: Policy = Policy {
    require_certificates: true,
};

struct Story {
    c: Consortium,
    chain: Chain,
    /// A second auditor, added by a membership entry in block 2.
    auditor2: Party,
}

fn coffee_story() -> Story {
    let c = Consortium::new();
    let mut chain = Chain::new(&c.genesis);
    let auditor2 = Party::new("Second Look Audit", 32, &[Role::Auditor]);
    let v = |i: usize| c.validators[i].0.clone();

    // Block 1: the green lot, and an unrelated lot.
    let mut green = produce_body(GREEN, "600");
    green.product.description = "Green arabica coffee, Excelso".into();
    green.origin = place("Pitalito, Huila", "CO");
    green.certificates = vec![doc("Rainforest Alliance")];
    let e1 = chain.sign(&c.producer, Body::Produce(green));
    let n1 = chain.sign(&c.brand, produce("BISCUITS-1", "100"));
    chain.push_block(&v(0), vec![n1, e1]);

    // Block 2: dispatch with a carrier; a membership change; noise.
    let mut d = dispatch_body(S_GREEN, &[GREEN], &c.processor.pk, Some(&c.carrier.pk));
    d.from = place("Port of Buenaventura", "CO");
    d.to = place("Hamburg", "DE");
    d.documents = vec![doc("bill of lading")];
    let e2 = chain.sign(&c.producer, Body::Dispatch(d));
    let m = cosigned(
        chain.sign(&c.admins[0], add_member(auditor2.spec("AT"))),
        &[&c.admins[1]],
    );
    let n2 = chain.sign(
        &c.brand,
        dispatch(S_BISCUITS, &["BISCUITS-1"], &c.distributor.pk, None),
    );
    chain.push_block(&v(1), vec![m, e2, n2]);

    // Block 3: the carrier takes over.
    let e3 = chain.sign(&c.carrier, receive(S_GREEN));
    chain.push_block(&v(2), vec![e3]);

    // Block 4: the roaster receives.
    let mut r = receive(S_GREEN);
    if let Body::Receive(r) = &mut r {
        r.at = place("Rösterei Hamburg", "DE");
    }
    let n4 = chain.sign(&c.distributor, receive(S_BISCUITS));
    let e4 = chain.sign(&c.processor, r);
    chain.push_block(&v(3), vec![n4, e4]);

    // Block 5: roasting consumes the green lot.
    let mut roasted = match produce_from(ROASTED, "500", &[(GREEN, "600")]) {
        Body::Produce(p) => p,
        _ => unreachable!(),
    };
    roasted.product.description = "Roasted coffee, Hamburg blend".into();
    roasted.origin = place("Hamburg", "DE");
    let e5 = chain.sign(&c.processor, Body::Produce(roasted));
    let n5 = chain.sign(&c.brand, produce("BISCUITS-2", "5"));
    chain.push_block(&v(0), vec![e5, n5]);

    // Block 6: to the retailer, no carrier.
    let e6 = chain.sign(
        &c.processor,
        dispatch(S_ROAST, &[ROASTED], &c.retailer.pk, None),
    );
    chain.push_block(&v(1), vec![e6]);

    // Block 7: received, and paid (EUR, settled in USD, DDP); an unrelated payment.
    let e7 = chain.sign(&c.retailer, receive(S_ROAST));
    let (p, _) = sealed_with(
        uetr(1),
        &c.payer.pk,
        &c.processor.pk,
        &[S_ROAST],
        &paid_terms(),
    );
    let n7 = chain.sign(
        &c.payer,
        pay(uetr(2), &c.payer.pk, &c.brand.pk, 500, &[S_BISCUITS]),
    );
    let e8 = chain.sign(&c.payer, Body::SealedPayment(p.clone()));
    // The payee confirms it in the same block.
    let e9 = chain.sign(&c.processor, waybill_testkit::sealed::confirm(&p));
    chain.push_block(&v(2), vec![e7, n7, e8, e9]);

    Story { c, chain, auditor2 }
}

/// The roasted shipment's payment terms: EUR 18,500.00 settled as USD
/// 20,035.50 at 1.083, DDP, with an invoice number.
fn paid_terms() -> waybill_core::terms::Terms {
    waybill_core::terms::Terms {
        settlement: Some(Settlement {
            amount_minor: 2_003_550,
            currency: currency("USD"),
            fx_rate: "1.083".parse().unwrap(),
        }),
        incoterm: Incoterm::Ddp,
        invoice: Some("INV-77341".into()),
        ..waybill_testkit::sealed::fob(1_850_000, currency("EUR"))
    }
}

fn certificate(c: &Consortium, header: &Header, signers: &[usize]) -> CommitCertificate {
    commit_certificate(c, header, signers)
}

fn build_trail(s: &Story, lot_id: &str, signers: Option<&[usize]>) -> Trail {
    store_trail(&s.c, &s.chain, &lot(lot_id), signers)
}

fn position(t: &Trail, pred: impl Fn(&Body) -> bool) -> usize {
    t.items
        .iter()
        .position(|i| pred(&i.entry.entry.body))
        .expect("no such item")
}

fn is_receive_by(t: &Trail, i: usize, who: &Party) -> bool {
    matches!(t.items[i].entry.entry.body, Body::Receive(_))
        && t.items[i].entry.entry.author == who.pk
}

fn verify_err(s: &Story, t: &Trail, policy: Policy) -> TrailError {
    match trail::verify(&s.c.genesis, t, policy) {
        Ok(r) => panic!("the trail verified, expected a failure: {r:?}"),
        Err(e) => {
            assert!(!e.to_string().trim().is_empty());
            e
        }
    }
}

// ---------------------------------------------------------------------------
// The chain itself

#[test]
fn the_story_chain_links_and_commits_to_its_entries() {
    let s = coffee_story();
    let headers: Vec<Header> = s.chain.blocks.iter().map(|b| b.header.clone()).collect();
    block::check_header_chain(&s.chain.chain_id(), &headers).unwrap();
    for b in &s.chain.blocks {
        b.check_entries(&b.entry_ids()).unwrap();
        let bytes = b.canonical_bytes();
        assert_eq!(&block::Block::from_canonical_bytes(&bytes).unwrap(), b);
    }
    let roasted = s.chain.state.lots.get(&lot(ROASTED)).unwrap();
    assert_eq!(
        roasted.held_by(&s.chain.state, &s.c.retailer.pk),
        roasted.remaining()
    );
    // A broken link is caught.
    let mut bad = headers.clone();
    bad[3].prev_hash = Hash32::digest(b"elsewhere");
    assert!(matches!(
        block::check_header_chain(&s.chain.chain_id(), &bad),
        Err(block::BlockError::BrokenLink { height: 4, .. })
    ));
}

// ---------------------------------------------------------------------------
// A good trail

fn check_story_report(s: &Story, r: &TrailReport, t: &Trail) {
    let c = &s.c;
    assert_eq!(r.lot, lot(ROASTED));
    assert_eq!(r.chain_id, c.chain_id());
    assert_eq!(r.chain_name, c.genesis.chain_name);
    assert_eq!(r.custodian, c.retailer.name);
    assert_eq!(r.status, format!("500 KGM held by {}", c.retailer.name));
    assert_eq!(r.entries, t.items.len());
    assert_eq!(r.tip_height, 7);

    // Origins: the roasted lot, then the green lot it was made from.
    assert_eq!(r.origins.len(), 2);
    let (roasted, green) = (&r.origins[0], &r.origins[1]);
    assert_eq!(roasted.lot, lot(ROASTED));
    assert_eq!(roasted.producer, c.processor.name);
    assert_eq!(roasted.product, "Roasted coffee, Hamburg blend");
    assert_eq!(roasted.quantity, "500 KGM");
    assert_eq!(roasted.inputs, vec![(lot(GREEN), "600 KGM".to_string())]);
    assert_eq!(roasted.height, 5);
    assert_eq!(green.lot, lot(GREEN));
    assert_eq!(green.producer, c.producer.name);
    assert_eq!(green.origin.country, Some("CO".parse().unwrap()));
    assert_eq!(green.certificates, vec!["Rainforest Alliance".to_string()]);
    assert_eq!(green.height, 1);

    // Custody, in chain order.
    let steps: Vec<(&str, &str, u64)> = r
        .custody
        .iter()
        .map(|s| (s.kind.as_str(), s.by.as_str(), s.height))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("produce", c.producer.name.as_str(), 1),
            ("dispatch", c.producer.name.as_str(), 2),
            ("receive", c.carrier.name.as_str(), 3),
            ("receive", c.processor.name.as_str(), 4),
            ("produce", c.processor.name.as_str(), 5),
            ("dispatch", c.processor.name.as_str(), 6),
            ("receive", c.retailer.name.as_str(), 7),
        ]
    );
    let dispatch = &r.custody[1];
    assert_eq!(dispatch.shipment, Some(ship(S_GREEN)));
    assert_eq!(dispatch.from.as_deref(), Some(c.producer.name.as_str()));
    assert_eq!(dispatch.to.as_deref(), Some(c.processor.name.as_str()));
    assert_eq!(dispatch.place.as_deref(), Some("Port of Buenaventura, CO"));
    assert_eq!(r.custody[4].lots, vec![lot(ROASTED), lot(GREEN)]);
    for step in &r.custody {
        let item = t
            .items
            .iter()
            .find(|i| i.entry.id() == step.entry_id)
            .unwrap();
        assert_eq!(item.header.height, step.height);
        assert_eq!(item.header.time_ms, step.block_time_ms);
    }

    // The payment for the roasted shipment only.
    assert_eq!(r.payments.len(), 1);
    let p = &r.payments[0];
    assert_eq!(p.payment_id, uetr(1).to_string());
    assert_eq!(p.payer, c.payer.name);
    assert_eq!(p.payee, c.processor.name);
    assert_eq!(p.shipments, vec![ship(S_ROAST)]);
    assert_eq!(p.status, "settled");
    assert_eq!(p.height, 7);
    assert_eq!(p.confirmed.as_ref().map(|x| x.height), Some(7));
    // The report says the payment was made and confirmed, and nothing of
    // its terms.
    let text = serde_json::to_string(&r).unwrap();
    for secret in [
        "18500",
        "1850000",
        "EUR",
        "20035",
        "USD",
        "1.083",
        "DDP",
        "INV-77341",
    ] {
        assert!(
            !text.contains(secret),
            "the report shows `{secret}`: {text}"
        );
    }

    // Members at the end include the one added in block 2.
    assert!(r.final_members.contains_key(&s.auditor2.pk));
}

#[test]
fn a_complete_trail_verifies() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    // Noise stays out: unrelated lots, shipments and payments.
    assert!(t.items.iter().all(|i| match &i.entry.entry.body {
        Body::Produce(p) => !p.lot.to_string().starts_with("BISCUITS"),
        Body::Dispatch(d) => d.shipment != ship(S_BISCUITS),
        Body::SealedPayment(p) => p.payment_id == uetr(1),
        _ => true,
    }));
    // 7 custody entries, 1 payment and its confirmation, 1 membership
    assert_eq!(t.items.len(), 10);
    let r = trail::verify(&s.c.genesis, &t, NO_CERTS).unwrap();
    check_story_report(&s, &r, &t);
    assert_eq!(r.certified_blocks, 0);
    assert_eq!(r.uncertified_blocks, 7);

    // The trail survives JSON, as the CLI and bundles carry it.
    let json = serde_json::to_string(&t).unwrap();
    let back: Trail = serde_json::from_str(&json).unwrap();
    assert_eq!(trail::verify(&s.c.genesis, &back, NO_CERTS).unwrap(), r);
}

#[test]
fn an_ancestor_trail_reports_the_consumed_lot() {
    let s = coffee_story();
    let t = build_trail(&s, GREEN, None);
    let r = trail::verify(&s.c.genesis, &t, NO_CERTS).unwrap();
    assert_eq!(r.origins.len(), 1);
    // Nobody holds any of it: all was consumed.
    assert_eq!(r.custodian, "nobody");
    assert!(r.status.starts_with("consumed"), "{}", r.status);
    // The roasting consumed it; the shipment of the roasted lot is not its business.
    assert!(r.custody.iter().all(|c| c.shipment != Some(ship(S_ROAST))));
    assert!(r.payments.is_empty());
}

// ---------------------------------------------------------------------------
// Lies and omissions

#[test]
fn a_tampered_entry_fails_its_inclusion_proof() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, None);
    let k = position(&t, |b| matches!(b, Body::Produce(p) if p.lot == lot(GREEN)));
    if let Body::Produce(p) = &mut t.items[k].entry.entry.body {
        p.origin.country = Some("ET".parse().unwrap());
    }
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(&err, TrailError::Item { item, kind: "produce", height: 1, reason, .. }
            if *item == k + 1 && reason.contains("inclusion proof")),
        "{err:?}"
    );
    assert_mentions(&err, &["inclusion proof", "produce", "height 1"]);
}

#[test]
fn a_wrong_inclusion_proof_fails() {
    let s = coffee_story();
    let good = build_trail(&s, ROASTED, None);
    // Give the payment (index 2 of block 7) the proof of the receipt
    // (index 0 of the same block).
    let pay = position(&good, |b| matches!(b, Body::SealedPayment(_)));
    let recv = position(
        &good,
        |b| matches!(b, Body::Receive(r) if r.shipment == ship(S_ROAST)),
    );
    let mut t = good.clone();
    t.items[pay].proof = t.items[recv].proof.clone();
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(&err, TrailError::Item { item, kind: "payment", reason, .. }
            if *item == pay + 1 && reason.contains("inclusion proof")),
        "{err:?}"
    );
    // A wrong index with the right proof fails too.
    let mut t = good.clone();
    t.items[pay].index = 1;
    t.items[pay..].sort_by_key(|i| (i.header.height, i.index));
    let err = verify_err(&s, &t, NO_CERTS);
    assert_mentions(&err, &["inclusion proof"]);
    // And an entry put under another block's header.
    let mut t = good;
    let d = position(
        &t,
        |b| matches!(b, Body::Dispatch(d) if d.shipment == ship(S_ROAST)),
    );
    t.items[d].header = t.items[d - 1].header.clone();
    t.items[d].header.height = 6;
    assert!(trail::verify(&s.c.genesis, &t, NO_CERTS).is_err());
}

#[test]
fn a_missing_receipt_breaks_the_custody_chain() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, None);
    let k = (0..t.items.len())
        .find(|&i| is_receive_by(&t, i, &s.c.processor))
        .unwrap();
    t.items.remove(k);
    let err = verify_err(&s, &t, NO_CERTS);
    // The roasting now uses a lot that is still in transit.
    assert!(
        matches!(&err, TrailError::Item { kind: "produce", height: 5, reason, .. }
            if reason.contains(GREEN) && reason.contains("in transit")),
        "{err:?}"
    );
    assert_mentions(&err, &[GREEN, S_GREEN]);
}

#[test]
fn a_missing_dispatch_breaks_the_custody_chain() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, None);
    let k = position(
        &t,
        |b| matches!(b, Body::Dispatch(d) if d.shipment == ship(S_ROAST)),
    );
    t.items.remove(k);
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(&err, TrailError::Item { kind: "receive", reason, .. } if reason.contains(S_ROAST)),
        "{err:?}"
    );
}

#[test]
fn a_missing_origin_is_reported() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, None);
    let k = position(&t, |b| matches!(b, Body::Produce(p) if p.lot == lot(GREEN)));
    t.items.remove(k);
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(&err, TrailError::MissingOrigin(l) if *l == lot(GREEN)),
        "{err:?}"
    );
    assert_mentions(&err, &[GREEN, "origin"]);

    // And for the lot itself.
    let mut t = build_trail(&s, ROASTED, None);
    let k = position(
        &t,
        |b| matches!(b, Body::Produce(p) if p.lot == lot(ROASTED)),
    );
    t.items.remove(k);
    assert!(matches!(
        verify_err(&s, &t, NO_CERTS),
        TrailError::MissingOrigin(l) if l == lot(ROASTED)
    ));
    // An empty trail has no origin either.
    let mut t = build_trail(&s, ROASTED, None);
    t.items.clear();
    assert!(matches!(
        verify_err(&s, &t, NO_CERTS),
        TrailError::MissingOrigin(_)
    ));
}

#[test]
fn a_trail_for_another_chain_is_refused() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    let other = Consortium::named("someone-elses-coffee");
    let err = trail::verify(&other.genesis, &t, NO_CERTS).unwrap_err();
    assert!(
        matches!(&err, TrailError::WrongChain { expected, got }
            if *expected == other.chain_id().to_hex() && *got == s.c.chain_id().to_hex()),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[&other.chain_id().to_hex(), &s.c.chain_id().to_hex()],
    );

    // Claiming the other chain in the trail does not help: the headers and
    // entries still name this one.
    let mut t2 = t.clone();
    t2.chain_id = other.chain_id();
    let err = trail::verify(&other.genesis, &t2, NO_CERTS).unwrap_err();
    assert!(
        matches!(&err, TrailError::Item { item: 1, reason, .. } if reason.contains("another chain")),
        "{err:?}"
    );
    // Nor does an unknown trail version.
    let mut t3 = t;
    t3.version = TRAIL_VERSION + 1;
    assert!(matches!(
        trail::verify(&s.c.genesis, &t3, NO_CERTS),
        Err(TrailError::Version(_))
    ));
}

#[test]
fn reordered_items_are_refused() {
    let s = coffee_story();
    let good = build_trail(&s, ROASTED, None);
    let mut t = good.clone();
    t.items.swap(2, 3);
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(err, TrailError::Order(n) if n == 3 || n == 4),
        "{err:?}"
    );
    assert_mentions(&err, &["order"]);
    // A duplicated item is out of order too.
    let mut t = good;
    let dup = t.items[4].clone();
    t.items.insert(5, dup);
    assert!(matches!(verify_err(&s, &t, NO_CERTS), TrailError::Order(6)));
}

#[test]
fn a_payment_for_a_shipment_outside_the_trail_is_refused() {
    // A payment whose shipment is not in the trail has no business there.
    let s = coffee_story();
    let mut t = build_trail(&s, GREEN, None);
    let roasted = build_trail(&s, ROASTED, None);
    let pay = roasted
        .items
        .iter()
        .find(|i| matches!(i.entry.entry.body, Body::SealedPayment(_)))
        .unwrap()
        .clone();
    t.items.push(pay);
    let err = verify_err(&s, &t, NO_CERTS);
    assert!(
        matches!(&err, TrailError::Item { kind: "payment", reason, .. } if reason.contains("shipment of the trail")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Commit certificates

#[test]
fn certificates_are_required_when_asked() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    let err = verify_err(&s, &t, CERTS);
    assert!(
        matches!(&err, TrailError::Item { item: 1, reason, .. } if reason.contains("no commit certificate")),
        "{err:?}"
    );
    assert_mentions(&err, &["commit certificate", "final"]);
}

#[test]
fn certificates_with_enough_power_verify() {
    let s = coffee_story();
    // 40 + 30 = 70 of 100: more than two thirds.
    let t = build_trail(&s, ROASTED, Some(&[0, 1]));
    let r = trail::verify(&s.c.genesis, &t, CERTS).unwrap();
    check_story_report(&s, &r, &t);
    assert_eq!(r.certified_blocks, 7);
    assert_eq!(r.uncertified_blocks, 0);
    // All four sign too.
    let t = build_trail(&s, ROASTED, Some(&[0, 1, 2, 3]));
    assert!(trail::verify(&s.c.genesis, &t, CERTS).is_ok());
    // Without the policy, valid certificates are still counted.
    assert_eq!(
        trail::verify(&s.c.genesis, &t, NO_CERTS)
            .unwrap()
            .certified_blocks,
        7
    );
    let header = &s.chain.blocks[0].header;
    assert_eq!(
        certificate(&s.c, header, &[1, 2, 3])
            .verify(&s.c.genesis, header)
            .ok(),
        None
    );
    assert_eq!(
        certificate(&s.c, header, &[0, 1]).verify(&s.c.genesis, header),
        Ok(70)
    );
}

#[test]
fn certificates_with_too_little_power_fail() {
    let s = coffee_story();
    // 30 + 20 + 10 = 60, and 40 + 20 = 60: two thirds is not enough.
    for signers in [&[1usize, 2, 3][..], &[0, 2]] {
        let t = build_trail(&s, ROASTED, Some(signers));
        let err = verify_err(&s, &t, CERTS);
        assert!(
            matches!(&err, TrailError::Item { item: 1, reason, .. } if reason.contains("60 of 100")),
            "{err:?}"
        );
        assert_mentions(&err, &["2/3"]);
        // An invalid certificate fails even when certificates are optional.
        assert!(trail::verify(&s.c.genesis, &t, NO_CERTS).is_err());
    }
}

fn with_first_certificate(t: &mut Trail, f: impl Fn(&mut CommitCertificate)) {
    let height = t.items[0].header.height;
    for i in t.items.iter_mut().filter(|i| i.header.height == height) {
        f(i.certificate.as_mut().unwrap());
    }
}

#[test]
fn a_forged_commit_signature_fails() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, Some(&[0, 1, 2]));
    with_first_certificate(&mut t, |c| c.signatures[0].signature.0[10] ^= 0x40);
    let err = verify_err(&s, &t, CERTS);
    assert!(
        matches!(&err, TrailError::Item { item: 1, reason, .. } if reason.contains("forged")),
        "{err:?}"
    );
    // A signature for another round (so over other bytes) fails the same way.
    let mut t = build_trail(&s, ROASTED, Some(&[0, 1]));
    with_first_certificate(&mut t, |c| c.round = 1);
    assert_mentions(&verify_err(&s, &t, CERTS), &["forged"]);
}

#[test]
fn a_non_validator_commit_signer_fails() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, Some(&[0, 1]));
    let header = t.items[0].header.clone();
    let outsider = s.c.outsider.clone();
    with_first_certificate(&mut t, |c| {
        let bytes = block::precommit_bytes(
            &header.chain_id,
            c.height,
            c.round,
            &c.block_hash,
            &outsider.pk,
        );
        c.signatures.push(CommitSignature {
            validator: outsider.pk,
            signature: crypto::sign(&outsider.key, Domain::Vote, &bytes),
        });
        c.signatures.sort_by_key(|s| s.validator);
    });
    let err = verify_err(&s, &t, CERTS);
    assert!(
        matches!(&err, TrailError::Item { item: 1, reason, .. } if reason.contains("not a validator")),
        "{err:?}"
    );
    assert_mentions(&err, &[&outsider.pk.short()]);
}

#[test]
fn a_validator_counted_twice_or_a_certificate_for_another_block_fails() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, Some(&[1, 2]));
    // 30 + 20 + 20 again would reach 70.
    with_first_certificate(&mut t, |c| {
        let again = c
            .signatures
            .iter()
            .find(|x| x.validator == s.c.validators[2].0.pk)
            .unwrap()
            .clone();
        c.signatures.push(again);
        c.signatures.sort_by_key(|s| s.validator);
    });
    assert_mentions(&verify_err(&s, &t, CERTS), &["sorted by validator"]);

    let mut t = build_trail(&s, ROASTED, Some(&[0, 1]));
    let other = certificate(&s.c, &s.chain.blocks[5].header, &[0, 1]);
    with_first_certificate(&mut t, |c| *c = other.clone());
    assert!(verify_err(&s, &t, CERTS).to_string().contains("height"));
}

// ---------------------------------------------------------------------------
// Audit bundles

fn bundle_body(
    s: &Story,
    exporter: &Party,
    trail: Trail,
    certificates_required: bool,
) -> BundleBody {
    BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: s.c.genesis.chain_name.clone(),
        chain_id: s.c.chain_id(),
        exported_at_ms: T0 + 3_600_000,
        exporter: exporter.pk,
        certificates_required,
        trail,
    }
}

#[test]
fn a_signed_bundle_verifies_offline() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    let bundle = bundle_body(&s, &s.c.auditor, t.clone(), false).sign(&s.c.auditor.key);
    let text = bundle.to_file_text();
    let (back, report) = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap();
    assert_eq!(back, bundle);
    assert_eq!(report, trail::verify(&s.c.genesis, &t, NO_CERTS).unwrap());
    check_story_report(&s, &report, &t);

    // An auditor added by a membership entry in the trail may export too.
    let b2 = bundle_body(&s, &s.auditor2, t, false).sign(&s.auditor2.key);
    Bundle::verify_file(b2.to_file_text().as_bytes(), &s.c.genesis, false).unwrap();
}

#[test]
fn a_bundle_with_certificates_verifies_when_they_are_demanded() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, Some(&[0, 1, 3]));
    let text = bundle_body(&s, &s.c.auditor, t.clone(), true)
        .sign(&s.c.auditor.key)
        .to_file_text();
    let (_, r) = Bundle::verify_file(text.as_bytes(), &s.c.genesis, true).unwrap();
    assert_eq!(r.certified_blocks, 7);

    // A bundle that does not promise certificates fails when they are demanded.
    let text = bundle_body(&s, &s.c.auditor, t, false)
        .sign(&s.c.auditor.key)
        .to_file_text();
    let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, true).unwrap_err();
    assert!(matches!(err, BundleError::CertificatesMissing), "{err:?}");
    assert_mentions(&err, &["certificates"]);
}

#[test]
fn changing_any_byte_of_a_bundle_fails() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    let text = bundle_body(&s, &s.c.auditor, t, false)
        .sign(&s.c.auditor.key)
        .to_file_text()
        .into_bytes();
    let n = text.len();
    let mut positions: Vec<usize> = (0..20).map(|k| k * (n - 1) / 19).collect();
    // Also the places a forger would aim at: digits and hex in values.
    for needle in [
        "\"commitment\": \"",
        "\"nonce\": ",
        "\"signature\": \"",
        "\"exported_at_ms\": ",
    ] {
        let at = String::from_utf8_lossy(&text).find(needle).unwrap() + needle.len();
        positions.push(at);
    }
    for at in positions {
        for new in [text[at] ^ 0x01, if text[at] == b'1' { b'2' } else { b'1' }] {
            let mut changed = text.clone();
            changed[at] = new;
            let result = Bundle::verify_file(&changed, &s.c.genesis, false);
            assert!(
                result.is_err(),
                "byte {at} ({:?} -> {:?}) changed and the bundle still verifies",
                char::from(text[at]),
                char::from(new)
            );
        }
    }
    // Adding or removing white space counts as a change.
    let mut spaced = text.clone();
    spaced.insert(1, b' ');
    assert!(matches!(
        Bundle::verify_file(&spaced, &s.c.genesis, false),
        Err(BundleError::NotCanonical(1))
    ));
    let mut trimmed = text.clone();
    trimmed.pop();
    assert!(Bundle::verify_file(&trimmed, &s.c.genesis, false).is_err());
}

#[test]
fn a_bundle_from_a_non_auditor_fails() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    for who in [&s.c.retailer, &s.c.admins[0]] {
        let text = bundle_body(&s, who, t.clone(), false)
            .sign(&who.key)
            .to_file_text();
        let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap_err();
        assert!(
            matches!(&err, BundleError::NotAuditor(n) if n.contains(&who.name)),
            "{err:?}"
        );
        assert_mentions(&err, &[&who.name, "auditor"]);
    }
    // A key that is not a member at all.
    let text = bundle_body(&s, &s.c.outsider, t, false)
        .sign(&s.c.outsider.key)
        .to_file_text();
    let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap_err();
    assert!(
        matches!(&err, BundleError::NotAuditor(n) if n.contains(&s.c.outsider.pk.short())),
        "{err:?}"
    );
}

#[test]
fn a_bundle_signed_by_someone_else_or_re_signed_over_a_bad_trail_fails() {
    let s = coffee_story();
    let t = build_trail(&s, ROASTED, None);
    // Claims the auditor, signed by the retailer.
    let text = bundle_body(&s, &s.c.auditor, t.clone(), false)
        .sign(&s.c.retailer.key)
        .to_file_text();
    let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap_err();
    assert!(matches!(err, BundleError::BadSignature), "{err:?}");

    // The auditor's signature does not make a broken trail good.
    let mut bad = t.clone();
    let k = (0..bad.items.len())
        .find(|&i| is_receive_by(&bad, i, &s.c.processor))
        .unwrap();
    bad.items.remove(k);
    let text = bundle_body(&s, &s.c.auditor, bad, false)
        .sign(&s.c.auditor.key)
        .to_file_text();
    let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap_err();
    assert!(matches!(err, BundleError::Trail(_)), "{err:?}");
    assert_mentions(&err, &["in transit"]);

    // Another chain's genesis.
    let text = bundle_body(&s, &s.c.auditor, t, false)
        .sign(&s.c.auditor.key)
        .to_file_text();
    let other = Consortium::named("someone-elses-coffee");
    assert!(matches!(
        Bundle::verify_file(text.as_bytes(), &other.genesis, false),
        Err(BundleError::WrongChain { .. })
    ));
}

// ---------------------------------------------------------------------------
// Honest trails must verify

/// A roaster makes a roasted lot from part of a green lot and sends the
/// rest of the green lot and the roasted lot to a distributor in two
/// shipments; the distributor sends both on together. The trail of the
/// green lot, built as the store builds it (every entry that changed the
/// green lot, including the roasting that consumed part of it, plus its
/// shipments), is honest and must verify. The roasted lot is outside the
/// green lot's scope, and its own shipment to the distributor is not in the
/// trail; but the replay knows the roasted lot from the roasting entry and
/// checks the distributor's custody of it against that stale state.
#[test]
fn an_honest_trail_with_a_sibling_lot_in_a_shared_shipment_verifies() {
    let c = Consortium::new();
    let mut chain = Chain::new(&c.genesis);
    let v = c.validators[0].0.clone();
    let block = |chain: &mut Chain, who: &Party, body: Body| {
        let e = chain.sign(who, body);
        chain.push_block(&v, vec![e]);
    };
    block(&mut chain, &c.processor, produce(GREEN, "600"));
    block(
        &mut chain,
        &c.processor,
        produce_from(ROASTED, "80", &[(GREEN, "100")]),
    );
    block(
        &mut chain,
        &c.processor,
        dispatch("S-G", &[GREEN], &c.distributor.pk, None),
    );
    block(&mut chain, &c.distributor, receive("S-G"));
    // Not part of the green lot's trail: no green lot in this shipment.
    block(
        &mut chain,
        &c.processor,
        dispatch("S-R", &[ROASTED], &c.distributor.pk, None),
    );
    block(&mut chain, &c.distributor, receive("S-R"));
    // Both together to the retailer.
    block(
        &mut chain,
        &c.distributor,
        dispatch("S-BOTH", &[GREEN, ROASTED], &c.retailer.pk, None),
    );
    block(&mut chain, &c.retailer, receive("S-BOTH"));
    let green = &chain.state.lots[&lot(GREEN)];
    assert_eq!(
        green.held_by(&chain.state, &c.retailer.pk),
        green.remaining()
    );

    let s = Story {
        c,
        chain,
        auditor2: Party::new("unused", 33, &[Role::Auditor]),
    };
    let t = build_trail(&s, GREEN, None);
    let kinds: Vec<&str> = t.items.iter().map(|i| i.entry.entry.body.kind()).collect();
    assert_eq!(
        kinds,
        ["produce", "produce", "dispatch", "receive", "dispatch", "receive"]
    );
    match trail::verify(&s.c.genesis, &t, NO_CERTS) {
        Ok(r) => {
            assert_eq!(r.custodian, s.c.retailer.name);
            assert!(
                r.status
                    .ends_with(&format!("held by {}", s.c.retailer.name)),
                "{}",
                r.status
            );
        }
        Err(e) => panic!("an honest trail was refused: {e}"),
    }
}

/// A bundle whose body names this chain but whose trail names another must
/// say which chain the trail is for; today the message shows this chain's
/// id twice ("the bundle is for chain X, but the genesis given is chain X").
#[test]
fn a_bundle_whose_trail_is_for_another_chain_names_that_chain() {
    let s = coffee_story();
    let mut t = build_trail(&s, ROASTED, None);
    let other = Consortium::named("someone-elses-coffee");
    t.chain_id = other.chain_id();
    let text = bundle_body(&s, &s.c.auditor, t, false)
        .sign(&s.c.auditor.key)
        .to_file_text();
    let err = Bundle::verify_file(text.as_bytes(), &s.c.genesis, false).unwrap_err();
    assert!(matches!(err, BundleError::WrongChain { .. }), "{err:?}");
    assert_mentions(&err, &[&other.chain_id().to_hex()]);
}
