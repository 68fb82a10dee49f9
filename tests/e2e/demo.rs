//! `waybill demo`, the README's first command, run as a user runs it: four
//! real nodes, the coffee journey as it really goes, and a shopper's
//! lookup whose first line is the recall; and `waybill demo consortium`,
//! the consortium changing while it runs.

use std::time::Duration;

use waybill_testkit::process::run_within;

use crate::support::{one_cluster_at_a_time, wb};

#[test]
fn the_demo_tells_the_harder_story_and_ends_verified_with_the_recall_first() {
    let _one = one_cluster_at_a_time();
    let out = run_within(wb().arg("demo"), Duration::from_secs(240));
    assert_eq!(out.code, Some(0), "the demo failed:\n{out}");
    let text = &out.stdout;
    // Every chapter of the story is on the ledger and in the lookup.
    for needle in [
        "plot La Esperanza lote 3: polygon of 4 corners",
        "declared deforestation-free",
        "lot (01)07709998000018(10)HUILA-2611-07: 540 KGM",
        "handover Atlantic Ocean Lines -> Nordsee Feeder Lines",
        "10 KGM short (damage)",
        "EXCURSION on shipment",
        "temperature reached 31.5 °C",
        "corrected by Hanseatic Coffee Roasters GmbH",
        "Now: 440 KGM held by Frischmarkt Retail AG",
        "commit certificates of",
        "the lot itself and 1 made from it",
        "now: 60 KGM held by Cooperativa Cafetera del Huila",
        "VERIFIED offline",
        "All four nodes hold the same block",
    ] {
        assert!(text.contains(needle), "no {needle:?} in the demo:\n{out}");
    }
    // The shopper's lookup: RECALLED is its first line, and it verifies.
    let (_, lookup) = text
        .split_once("A shopper scans ")
        .expect("the shopper's lookup");
    let first = lookup.lines().nth(2).unwrap_or_default();
    assert!(
        first.starts_with("RECALLED: ochratoxin A")
            && first.contains("Cooperativa Cafetera del Huila"),
        "the lookup does not start with the recall: {first:?}\n{out}"
    );
    let verified = lookup
        .lines()
        .find(|l| l.starts_with("VERIFIED: "))
        .unwrap_or_default();
    assert!(verified.contains("BFT-final"), "{verified:?}\n{out}");
    // The shopper sees the payment made and confirmed, and none of its
    // terms; the auditor's signed request gets them, checked.
    let (shopper, rest) = lookup
        .split_once("The payment's terms are not on the ledger")
        .expect("the payment terms chapter");
    assert!(
        shopper.contains("confirmed by Cooperativa Cafetera del Huila")
            && shopper.contains("terms sealed"),
        "{out}"
    );
    for term in [
        "10890",
        "EUR",
        "12000",
        "USD",
        "1.101928",
        "DDP",
        "COOP-2026-0117",
    ] {
        assert!(!shopper.contains(term), "the shopper sees {term}:\n{out}");
    }
    assert!(rest.contains("gets HTTP 401"), "{out}");
    let (_, auditor) = rest
        .split_once("The auditor's signed request gets them")
        .expect("the auditor's view");
    for term in [
        "every term matches its commitment on the ledger",
        "amount       10890.00 EUR",
        "settlement   12000.00 USD at 1.101928",
        "incoterm     DDP",
        "invoice      COOP-2026-0117",
    ] {
        assert!(
            auditor.contains(term),
            "the auditor does not see {term}:\n{out}"
        );
    }
}

/// `waybill demo consortium`: the consortium changes under load on real
/// nodes, and the shopper's lookup flags the stolen key's entry.
#[test]
fn the_consortium_demo_changes_members_and_validators_and_flags_the_stolen_key() {
    let _one = one_cluster_at_a_time();
    let out = run_within(wb().args(["demo", "consortium"]), Duration::from_secs(240));
    assert_eq!(out.code, Some(0), "the consortium demo failed:\n{out}");
    let text = &out.stdout;
    for needle in [
        "the validators refuse it: it is at height 0",
        "the validators let the exporter's node in; it synced the chain",
        "through its own node; gossip takes it to the validators",
        "five validators; the exporter's node key signs block",
        "They bind the exporter's node key to it",
        "the stolen key signs nothing more",
        "v4 is out of the set and cut off",
        "Entries go on with four validators",
        "hold the same block at height",
        "Nodes stopped cleanly",
    ] {
        assert!(text.contains(needle), "no {needle:?} in the demo:\n{out}");
    }
    // The shopper's lookup: the flag comes first, on the carrier's
    // take-over signed after the theft, and the trail verifies.
    let (_, lookup) = text
        .split_once("the exporter's node answers:")
        .expect("the shopper's lookup");
    let first = lookup.lines().find(|l| !l.is_empty()).unwrap_or_default();
    assert!(
        first.starts_with("FLAGGED: the receive at height")
            && first.contains("Atlantic Ocean Lines")
            && first.contains("revoked as compromised since"),
        "the lookup does not start with the flag: {first:?}\n{out}"
    );
    let verified = lookup
        .lines()
        .find(|l| l.starts_with("VERIFIED: "))
        .unwrap_or_default();
    assert!(verified.contains("BFT-final"), "{verified:?}\n{out}");
    // The longest wait between blocks across the four changes is printed
    // and stays well under consensus' timeouts.
    let gap: u64 = text
        .split_once("the longest time between two blocks was ")
        .and_then(|(_, rest)| rest.split_once(" ms"))
        .and_then(|(n, _)| n.parse().ok())
        .expect("the longest gap");
    assert!(gap < 5_000, "finality stalled {gap} ms\n{out}");
}
