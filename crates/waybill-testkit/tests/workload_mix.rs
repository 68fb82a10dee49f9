//! The seeded workload's consortium mix: every entry kind in its share,
//! valid through the rules in blocks, and the same entries from the same
//! seed. (`cargo test -p waybill-testkit --test workload_mix --
//! --nocapture` prints the counts per kind.)

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use waybill_core::entry::{Body, Corrected, SignedEntry};
use waybill_core::gs1::ShipmentId;
use waybill_core::rules::{self, At};
use waybill_core::state::State;
use waybill_testkit::workload::{count_kinds, kind_label, BenchConsortium, Mix, Workload};
use waybill_testkit::{Consortium, T0};

/// Entries in the mix test: enough for a dozen recalls and corrections.
const ENTRIES: usize = 12_000;
const SEED: u64 = 7;

/// Counts per kind (v1 and v2 apart) and the shares the mix promises.
#[derive(Debug, Default)]
struct Tally {
    kinds: BTreeMap<&'static str, usize>,
    /// Dispatches (either version), and those shipping part of a lot.
    dispatches: usize,
    partial: usize,
    /// Shipments with a carrier, and those handed over.
    with_carrier: BTreeSet<ShipmentId>,
    handed_over: BTreeSet<ShipmentId>,
    /// Consignees' receipts, and those with a shortfall.
    deliveries: usize,
    shortfalls: usize,
    /// Shipments with readings, and readings with an excursion.
    read: BTreeSet<ShipmentId>,
    excursions: usize,
    /// Lots made, recalls, lifts, corrected shipments.
    lots: usize,
    plots: usize,
    corrected: usize,
}

/// Counts `entries` (a consignee is told from a carrier by the dispatch).
fn count(entries: &[SignedEntry]) -> Tally {
    let mut m = Tally::default();
    let mut consignee = BTreeMap::new();
    for e in entries {
        *m.kinds.entry(kind_label(&e.entry.body)).or_default() += 1;
        match &e.entry.body {
            Body::Produce(_) => m.lots += 1,
            Body::ProduceV2(p) => {
                m.lots += 1;
                m.plots += usize::from(p.plots.is_some());
            }
            Body::Dispatch(d) => {
                m.dispatches += 1;
                consignee.insert(d.shipment.clone(), d.consignee);
                if d.carrier.is_some() {
                    m.with_carrier.insert(d.shipment.clone());
                }
            }
            Body::DispatchV2(d) => {
                m.dispatches += 1;
                consignee.insert(d.shipment.clone(), d.consignee);
                if d.carrier.is_some() {
                    m.with_carrier.insert(d.shipment.clone());
                }
                if d.lots.iter().any(|l| l.quantity.is_some()) {
                    m.partial += 1;
                }
            }
            Body::Receive(r) if consignee.get(&r.shipment) == Some(&e.entry.author) => {
                m.deliveries += 1;
            }
            Body::ReceiveV2(r) => {
                assert_eq!(
                    consignee.get(&r.shipment),
                    Some(&e.entry.author),
                    "a ReceiveV2 is the consignee's"
                );
                m.deliveries += 1;
                if r.lots.iter().any(|l| l.shortfall.is_some()) {
                    m.shortfalls += 1;
                }
            }
            Body::Handover(h) => {
                assert!(
                    m.handed_over.insert(h.shipment.clone()),
                    "one hand-over per shipment"
                );
                let signers: Vec<_> = e.cosignatures.iter().map(|c| c.signer).collect();
                assert_eq!(signers, vec![h.to], "co-signed by the next carrier");
            }
            Body::Readings(r) => {
                m.read.insert(r.shipment.clone());
                m.excursions += usize::from(r.series.iter().any(|s| !s.excursions().is_empty()));
                assert_eq!(r.series[0].readings.len(), 24);
            }
            Body::Correction(c) => {
                assert!(matches!(c.corrected, Corrected::Shipment(_)));
                m.corrected += 1;
            }
            _ => {}
        }
    }
    m
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

/// Applies `entries` in blocks of `size` through `rules::apply_block`
/// (signatures, shape, every rule), at block times one second apart from
/// `T0`, as the benchmark's ledger stamps them; returns the final state.
fn apply_in_blocks(
    genesis: &waybill_core::genesis::Genesis,
    entries: &[SignedEntry],
    size: usize,
) -> State {
    let mut state = State::genesis(genesis);
    for (i, block) in entries.chunks(size).enumerate() {
        let height = i as u64 + 1;
        let at = At::new(height, T0 + height as i64 * 1_000);
        let applied = rules::apply_block(&state, block, at).unwrap_or_else(|(k, err)| {
            panic!(
                "block {height}, entry {k} ({}): {err}",
                block[k].entry.body.kind()
            )
        });
        state.commit(applied.changes);
    }
    state
}

#[test]
fn consortium_mix_has_every_kind_in_its_share_and_applies_in_blocks() {
    let c = BenchConsortium::new().unwrap();
    let mut w = Workload::new(&c, SEED).with_mix(Mix::Consortium);
    assert_eq!(w.mix(), Mix::Consortium);
    let entries = w.take(ENTRIES).unwrap();
    let m = count(&entries);
    println!("{ENTRIES} entries, seed {SEED}, per kind:");
    for (k, n) in &m.kinds {
        println!("  {k:12} {n:6}  {:5.2}%", 100.0 * share(*n, ENTRIES));
    }
    let shipments = m.dispatches;
    println!(
        "  dispatches {}: partial {:.1}%; shipments with a carrier {}: handed over {:.1}%; \
         shipments with readings {:.1}% ({} with an excursion); consignee receipts {}: \
         shortfall {:.1}%; lots {}: with a plot {}, recalled {:.2}%; dispatches corrected {:.2}%",
        m.dispatches,
        100.0 * share(m.partial, m.dispatches),
        m.with_carrier.len(),
        100.0 * share(m.handed_over.len(), m.with_carrier.len()),
        100.0 * share(m.read.len(), shipments),
        m.excursions,
        m.deliveries,
        100.0 * share(m.shortfalls, m.deliveries),
        m.lots,
        m.plots,
        100.0 * share(m.kinds["recall"], m.lots),
        100.0 * share(m.corrected, m.dispatches),
    );

    for kind in [
        "produce",
        "produce_v2",
        "dispatch",
        "dispatch_v2",
        "receive",
        "receive_v2",
        "reject",
        "sealed_payment",
        "handover",
        "readings",
        "recall",
        "recall_lift",
        "correction",
    ] {
        assert!(
            m.kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} entry"
        );
    }
    assert!(!m.kinds.contains_key("membership"));
    let within = |what: &str, v: f64, lo: f64, hi: f64| {
        assert!((lo..=hi).contains(&v), "{what}: {v:.4} not in {lo}..={hi}");
    };
    within(
        "partial dispatches",
        share(m.partial, m.dispatches),
        0.25,
        0.35,
    );
    within(
        "hand-overs of carried shipments",
        share(m.handed_over.len(), m.with_carrier.len()),
        0.07,
        0.13,
    );
    within(
        "shortfall receipts",
        share(m.shortfalls, m.deliveries),
        0.035,
        0.065,
    );
    within(
        "shipments with readings",
        share(m.read.len(), shipments),
        0.07,
        0.13,
    );
    within(
        "recalled lots",
        share(m.kinds["recall"], m.lots),
        0.0007,
        0.0013,
    );
    within(
        "corrected dispatches",
        share(m.corrected, m.dispatches),
        0.004,
        0.006,
    );
    assert!(m.excursions > 0, "some readings show an excursion");
    assert!(m.kinds["recall_lift"] < m.kinds["recall"]);
    // The classic kinds keep their shares (productions, dispatches, ...).
    within("productions", share(m.lots, ENTRIES), 0.28, 0.38);
    within("dispatches", share(m.dispatches, ENTRIES), 0.20, 0.30);
    within(
        "payments",
        share(m.kinds["sealed_payment"], ENTRIES),
        0.07,
        0.13,
    );

    // Valid through the rules in blocks of 500, ending where the
    // generator's own state is.
    let state = apply_in_blocks(&c.genesis, &entries, 500);
    assert!(
        state == *w.state(),
        "the blocks end in the workload's state"
    );
    let corrected = state
        .shipments
        .values()
        .filter(|s| s.stage == waybill_core::state::ShipmentStage::Cancelled)
        .count();
    assert_eq!(corrected, m.corrected);
    assert!(
        state.lots.values().any(|l| !l.lost.is_zero()),
        "shortfalls are lost"
    );
    assert!(state.lots.values().any(|l| l.excursions > 0));
    assert!(state
        .lots
        .values()
        .any(|l| l.open_recalls().next().is_some()));
    assert!(state
        .lots
        .values()
        .any(|l| l.recalls.iter().any(|r| r.lifted)));
}

#[test]
fn the_same_seed_gives_the_same_entries() {
    let c = BenchConsortium::new().unwrap();
    let mix = |seed| Workload::new(&c, seed).with_mix(Mix::Consortium);
    let a = mix(3).take(3_000).unwrap();
    let b = mix(3).take(3_000).unwrap();
    assert!(a == b, "seed 3 twice");
    let other = mix(4).take(3_000).unwrap();
    assert!(a != other, "another seed, other entries");
    // Taken in pieces, the same sequence.
    let mut w = mix(3);
    let mut pieces = Vec::new();
    for n in [1, 999, 1_000, 1_000] {
        pieces.extend(w.take(n).unwrap());
    }
    assert!(pieces == a, "taking in pieces changes nothing");
}

#[test]
fn the_classic_mix_makes_only_the_first_kinds() {
    let c = BenchConsortium::new().unwrap();
    let mut w = Workload::new(&c, 5);
    assert_eq!(w.mix(), Mix::Classic, "the classic mix is the default");
    let entries = w.take(4_000).unwrap();
    let kinds: Vec<&str> = count_kinds(&entries).into_keys().collect();
    assert_eq!(
        kinds,
        ["dispatch", "produce", "receive", "reject", "sealed_payment"],
        "the classic mix makes only the first kinds"
    );
    apply_in_blocks(&c.genesis, &entries, 700);
}

#[test]
fn the_test_consortium_with_one_carrier_gets_the_mix_but_no_hand_overs() {
    let c = Consortium::new();
    let mut w = Workload::new(&c, 9).with_mix(Mix::Consortium);
    let entries = w.take(6_000).unwrap();
    let m = count(&entries);
    assert!(
        !m.kinds.contains_key("handover"),
        "one carrier: no hand-over"
    );
    for kind in [
        "dispatch_v2",
        "receive_v2",
        "readings",
        "correction",
        "recall",
    ] {
        assert!(
            m.kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} entry"
        );
    }
    let state = apply_in_blocks(&c.genesis, &entries, 333);
    assert!(state == *w.state());
}

#[test]
fn stories_stay_apart_from_the_new_kinds() {
    let c = BenchConsortium::new().unwrap();
    let mut w = Workload::new(&c, 11).with_mix(Mix::Consortium);
    let story = w.plan_story(12).unwrap();
    let lot = story.lot.clone();
    let mut stories = [story];
    let entries = w.take_with_stories(4_000, &mut stories).unwrap();
    let state = apply_in_blocks(&c.genesis, &entries, 1_000);
    let l = &state.lots[&lot];
    assert!(l.recalls.is_empty() && l.excursions == 0 && l.lost.is_zero());
}

/// The lots and shipments with GS1 ids among `entries`: (GTIN lots,
/// SSCC shipments).
fn gs1_ids(entries: &[SignedEntry]) -> (usize, usize) {
    let (mut gtins, mut ssccs) = (0, 0);
    for e in entries {
        match &e.entry.body {
            Body::Produce(p) => gtins += usize::from(p.lot.gtin().is_some()),
            Body::ProduceV2(p) => gtins += usize::from(p.produce.lot.gtin().is_some()),
            Body::Dispatch(d) => ssccs += usize::from(d.shipment.sscc().is_some()),
            Body::DispatchV2(d) => ssccs += usize::from(d.shipment.sscc().is_some()),
            _ => {}
        }
    }
    (gtins, ssccs)
}

#[test]
fn gs1_ids_are_minted_only_under_their_makers_prefixes() {
    // The test consortium's producer and processor own prefixes: a third
    // of their lots carry a GTIN, a fifth of the shipments an SSCC of the
    // sender or of a shipped lot's producer (the rules check that as the
    // entries are made).
    let c = Consortium::new();
    let entries = Workload::new(&c, SEED)
        .with_mix(Mix::Consortium)
        .take(3_000)
        .unwrap();
    let (gtins, ssccs) = gs1_ids(&entries);
    assert!(
        gtins > 100 && ssccs > 50,
        "{gtins} GTIN lots, {ssccs} SSCCs"
    );
    // The benchmark's producers and processors own prefixes too, so its
    // traffic carries GS1 ids in the same shares.
    let b = BenchConsortium::new().unwrap();
    let entries = Workload::new(&b, SEED)
        .with_mix(Mix::Consortium)
        .take(3_000)
        .unwrap();
    let (gtins, ssccs) = gs1_ids(&entries);
    assert!(
        gtins > 100 && ssccs > 50,
        "benchmark: {gtins} GTIN lots, {ssccs} SSCCs"
    );
}
