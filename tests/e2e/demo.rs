//! `waybill demo`, the README's first command, run as a user runs it: four
//! real nodes, the coffee journey as it really goes, and a shopper's
//! lookup whose first line is the recall.

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
}
