//! Rule tests for goods on the move (issue 25): partial dispatches in
//! convertible units, receipts with shortfalls, the lots' exact balance,
//! multi-leg transport with co-signed carrier handovers, sensor readings'
//! parties, mass balance against genesis yield rules, the recorded-at
//! clock rule, and genesis with yield rules.
//!
//! Every refusal goes through `Ledger::refuse`, which checks that the
//! state (and the author's next nonce) is untouched, and names the field
//! or lot it is about. Plot, container, IMO and sensor-series validation
//! are tested where they are implemented, not here.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::entry::{Body, LossCause};
use waybill_core::genesis::{Genesis, GenesisError, Role, YieldRule};
use waybill_core::rules::{self, At, RuleError, MAX_RECORDED_AHEAD_MS};
use waybill_core::sensor::{Measure, Range, Reading, Series};
use waybill_core::state::{LotState, ShipmentStage, View};

fn setup() -> (Consortium, Ledger) {
    let c = Consortium::new();
    let l = Ledger::new(&c.genesis);
    (c, l)
}

fn lot_of(l: &Ledger, id: &str) -> LotState {
    l.state.lot(&lot(id)).unwrap().into_owned()
}

fn stage(l: &Ledger, id: &str) -> ShipmentStage {
    l.state.shipment(&ship(id)).unwrap().stage
}

/// Records, then checks every lot's balance and every open shipment's
/// single custodian.
fn step(l: &mut Ledger, who: &Party, body: Body) -> waybill_core::entry::SignedEntry {
    let kind = body.kind();
    let e = l.record(who, body);
    let when = format!("after the {kind} at height {}", l.height);
    assert_balanced(&l.state, &when);
    assert_single_custody(&l.state, &when);
    e
}

/// Commits an already signed entry, then checks as [`step`] does.
fn step_signed(l: &mut Ledger, e: &waybill_core::entry::SignedEntry) {
    l.commit(e);
    let when = format!("after the {} at height {}", e.entry.body.kind(), l.height);
    assert_balanced(&l.state, &when);
    assert_single_custody(&l.state, &when);
}

fn tonnes(v: &str) -> waybill_core::entry::Quantity {
    quantity(v, UnitCode::Tne)
}

fn pieces(v: &str) -> waybill_core::entry::Quantity {
    quantity(v, UnitCode::H87)
}

/// A production of `lot` counted in `unit`.
fn produce_in(lot_id: &str, value: &str, unit: UnitCode) -> Body {
    let mut p = produce_body(lot_id, value);
    p.quantity.unit = unit;
    Body::Produce(p)
}

// ---------------------------------------------------------------------------
// Partial dispatch

#[test]
fn a_partial_dispatch_leaves_the_rest_with_the_sender() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("200")))],
            &c.processor.pk,
            None,
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("400"));
    assert_eq!(g.in_transit(), dec("200"));
    assert_eq!(g.remaining(), dec("600"));
    let part = g.in_shipment(&ship("S-1")).unwrap();
    assert_eq!((part.holder, part.quantity), (c.producer.pk, dec("200")));
    assert_eq!(
        l.state.shipment(&ship("S-1")).unwrap().lots,
        vec![lot("GREEN-1")]
    );

    // The rest is the sender's to ship elsewhere, in a second shipment.
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-1", Some(kg("150")))],
            &c.distributor.pk,
            None,
        ),
    );
    // A v2 dispatch without a quantity ships all the sender still holds.
    step(
        &mut l,
        &c.producer,
        dispatch_v2("S-3", &[("GREEN-1", None)], &c.retailer.pk, None),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.held_by(&l.state, &c.producer.pk), Decimal3::ZERO);
    assert_eq!(g.in_shipment(&ship("S-3")).unwrap().quantity, dec("250"));
    assert_eq!(g.in_transit(), dec("600"));
    // Nothing is left to ship: the lot is all in transit.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2("S-4", &[("GREEN-1", Some(kg("1")))], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::LotInTransit { .. }), "{err:?}");
    assert_mentions(&err, &["GREEN-1"]);

    // Each consignee gets its part, and may use exactly that.
    step(&mut l, &c.processor, receive_v2("S-1", &[]));
    step(&mut l, &c.distributor, receive("S-2"));
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("200"));
    assert_eq!(g.held_by(&l.state, &c.distributor.pk), dec("150"));
    assert_eq!(g.in_transit(), dec("250"));
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-1", "170", &[("GREEN-1", "200.001")]),
    ));
    assert!(
        matches!(&err, RuleError::InsufficientQuantity { lot: id, have, .. }
            if *id == lot("GREEN-1") && *have == dec("200")),
        "{err:?}"
    );
    step(
        &mut l,
        &c.processor,
        produce_from("ROASTED-1", "170", &[("GREEN-1", "200")]),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.consumed, dec("200"));
    assert_eq!(g.held_by(&l.state, &c.processor.pk), Decimal3::ZERO);
    // The distributor's part is untouched by the processor's roasting.
    assert_eq!(g.held_by(&l.state, &c.distributor.pk), dec("150"));
}

#[test]
fn a_partial_dispatch_in_tonnes_is_converted_to_the_lots_kilograms() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(tonnes("0.25")))],
            &c.processor.pk,
            None,
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.unit, UnitCode::Kgm);
    assert_eq!(g.in_shipment(&ship("S-1")).unwrap().quantity, dec("250"));
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("350"));

    // And the other way round: kilograms off a lot counted in tonnes.
    step(
        &mut l,
        &c.producer,
        produce_in("GREEN-T", "1.5", UnitCode::Tne),
    );
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-T", Some(kg("1200")))],
            &c.processor.pk,
            None,
        ),
    );
    let t = lot_of(&l, "GREEN-T");
    assert_eq!(t.in_shipment(&ship("S-2")).unwrap().quantity, dec("1.2"));
    assert_eq!(t.held_by(&l.state, &c.producer.pk), dec("0.3"));

    // Half a kilogram is not a whole number of thousandths of a tonne.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-3",
            &[("GREEN-T", Some(kg("0.5")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-T", "TNE", "0.5 KGM"]);
}

#[test]
fn units_that_do_not_convert_are_refused() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        produce_in("BAGS-1", "10", UnitCode::H87),
    );
    // Kilograms are not pieces, nor pieces kilograms.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2("S-1", &[("BAGS-1", Some(kg("3")))], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["BAGS-1", "H87", "KGM", "do not convert"]);
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(pieces("3")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", "H87", "KGM"]);
    // Nor is a mass a volume.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(quantity("3", UnitCode::Ltr)))],
            &c.processor.pk,
            None,
        ),
    ));
    assert_mentions(&err, &["GREEN-1", "LTR", "volume"]);
    // Pieces in pieces are fine.
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("BAGS-1", Some(pieces("3")))],
            &c.processor.pk,
            None,
        ),
    );
    assert_eq!(
        lot_of(&l, "BAGS-1").held_by(&l.state, &c.producer.pk),
        dec("7")
    );
}

#[test]
fn shipping_more_than_is_held_is_refused() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("600.001")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", "600.001", "600", &c.producer.name]);
    // In tonnes too.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(tonnes("0.601")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert_mentions(&err, &["GREEN-1", "601", "600"]);

    // After part of it left, only the rest may follow.
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("200")))],
            &c.processor.pk,
            None,
        ),
    );
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-1", Some(kg("400.5")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert_mentions(&err, &["GREEN-1", "400.5", "holds 400"]);

    // One lot over its quantity refuses the whole dispatch.
    step(&mut l, &c.producer, produce("GREEN-2", "10"));
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-2", Some(kg("5"))), ("GREEN-1", Some(kg("401")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert_mentions(&err, &["GREEN-1"]);
    assert_eq!(
        lot_of(&l, "GREEN-2").held_by(&l.state, &c.producer.pk),
        dec("10")
    );

    // A zero quantity is a bad field, named.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2("S-2", &[("GREEN-2", Some(kg("0")))], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["lots", "GREEN-2", "quantity 0"]);
    // So is the same lot twice.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-2", Some(kg("1"))), ("GREEN-2", Some(kg("1")))],
            &c.processor.pk,
            None,
        ),
    ));
    assert!(matches!(err, RuleError::DuplicateLot(_)), "{err:?}");
    // And a lot the sender does not hold at all.
    let err = l.refuse(&l.sign(
        &c.distributor,
        dispatch_v2("S-2", &[("GREEN-2", Some(kg("1")))], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::NotCustodian { .. }), "{err:?}");
    assert_mentions(&err, &["GREEN-2", &c.distributor.name, &c.producer.name]);
}

// ---------------------------------------------------------------------------
// Receipts with shortfalls

/// The producer's 600 kg of GREEN-1 shipped whole to the processor in S-1.
fn shipped_600(c: &Consortium) -> Ledger {
    let mut l = Ledger::new(&c.genesis);
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2("S-1", &[("GREEN-1", None)], &c.processor.pk, None),
    );
    l
}

#[test]
fn a_receipt_with_a_shortfall_records_the_loss() {
    let c = Consortium::new();
    let mut l = shipped_600(&c);
    step(
        &mut l,
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("590"),
                Some((kg("10"), LossCause::Damage)),
            )],
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.lost, dec("10"));
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("590"));
    assert_eq!(g.remaining(), dec("590"));
    assert_eq!(g.in_transit(), Decimal3::ZERO);
    assert_eq!(g.produced, dec("600"));
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
    // Only what arrived can be used.
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("ROASTED-1", "1", &[("GREEN-1", "591")]),
    ));
    assert!(
        matches!(err, RuleError::InsufficientQuantity { .. }),
        "{err:?}"
    );
}

#[test]
fn a_shortfall_may_be_stated_in_another_unit_of_the_same_kind() {
    let c = Consortium::new();
    let mut l = shipped_600(&c);
    step(
        &mut l,
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                tonnes("0.599"),
                Some((quantity("1000", UnitCode::Grm), LossCause::Theft)),
            )],
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.lost, dec("1"));
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("599"));
}

#[test]
fn a_receipt_must_account_for_exactly_what_was_shipped() {
    let c = Consortium::new();
    let l = shipped_600(&c);
    // More arrived than was shipped.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-1", kg("601"), None)]),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", "601", "more than the 600 KGM shipped"]);
    // What arrived plus what is short is more than was shipped.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("590"),
                Some((kg("10.001"), LossCause::Shortage)),
            )],
        ),
    ));
    assert_mentions(
        &err,
        &["GREEN-1", "600.001", "more than the 600 KGM shipped"],
    );
    // Less arrived, and the rest is not accounted for: the message names
    // what is missing.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-1", kg("550"), None)]),
    ));
    assert!(matches!(err, RuleError::Quantity(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", "missing 50 KGM", "shortfall"]);
    // A shortfall that does not cover all of it is refused the same way.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("550"),
                Some((kg("49.999"), LossCause::Spoilage)),
            )],
        ),
    ));
    assert_mentions(&err, &["GREEN-1", "missing 0.001 KGM"]);
    // A zero shortfall is a bad field.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("600"),
                Some((kg("0"), LossCause::Other)),
            )],
        ),
    ));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["shortfall", "GREEN-1"]);
    // A lot that is not in the shipment.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-2", kg("1"), None)]),
    ));
    assert_mentions(&err, &["GREEN-2", "S-1"]);
    // Pieces for a lot counted in kilograms.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-1", pieces("600"), None)]),
    ));
    assert_mentions(&err, &["GREEN-1", "do not convert"]);
}

#[test]
fn a_receipt_of_a_partial_shipment_is_checked_against_the_part_shipped() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(&mut l, &c.producer, produce("GREEN-2", "100"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("200"))), ("GREEN-2", None)],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    // The full lot's quantity is not what was shipped.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-1", kg("600"), None)]),
    ));
    assert_mentions(&err, &["GREEN-1", "200 KGM shipped"]);
    // The carrier takes over with a shortage on one lot …
    step(
        &mut l,
        &c.carrier,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("195"),
                Some((kg("5"), LossCause::Shortage)),
            )],
        ),
    );
    assert_eq!(stage(&l, "S-1"), ShipmentStage::WithCarrier);
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.lost, dec("5"));
    assert_eq!(g.in_shipment(&ship("S-1")).unwrap().holder, c.carrier.pk);
    assert_eq!(g.in_shipment(&ship("S-1")).unwrap().quantity, dec("195"));
    // … so the consignee's receipt is judged against what the carrier took.
    let err = l.refuse(&l.sign(
        &c.processor,
        receive_v2("S-1", &[received("GREEN-1", kg("200"), None)]),
    ));
    assert_mentions(&err, &["GREEN-1", "195 KGM shipped"]);
    step(
        &mut l,
        &c.processor,
        receive_v2(
            "S-1",
            &[
                received("GREEN-1", kg("190"), Some((kg("5"), LossCause::Damage))),
                received("GREEN-2", kg("100"), None),
            ],
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.lost, dec("10"));
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("190"));
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("400"));
    assert_eq!(
        lot_of(&l, "GREEN-2").held_by(&l.state, &c.processor.pk),
        dec("100")
    );

    // A first-version receipt takes a partial shipment whole.
    step(
        &mut l,
        &c.producer,
        dispatch_v2("S-2", &[("GREEN-1", Some(kg("100")))], &c.retailer.pk, None),
    );
    step(&mut l, &c.retailer, receive("S-2"));
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.retailer.pk),
        dec("100")
    );
}

#[test]
fn a_rejected_partial_shipment_returns_its_part_to_the_sender() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("200")))],
            &c.processor.pk,
            None,
        ),
    );
    step(&mut l, &c.processor, reject("S-1", "moisture above 12.5%"));
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.holdings.len(), 1, "{:?}", g.holdings);
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("600"));
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Rejected);
}

/// A longer story in which every step is checked for the balance
/// (`produced` = held + in transit + consumed + lost) and for single
/// custody of every open shipment (done by `step`).
#[test]
fn every_lot_balances_after_every_step() {
    let (c, mut l) = setup();
    step(&mut l, &c.producer, produce("GREEN-1", "1000"));
    step(
        &mut l,
        &c.producer,
        produce_in("GREEN-2", "2", UnitCode::Tne),
    );
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("600"))), ("GREEN-2", Some(kg("500")))],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    step(
        &mut l,
        &c.carrier,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("598"),
                Some((kg("2"), LossCause::Spoilage)),
            )],
        ),
    );
    step(
        &mut l,
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-2",
                tonnes("0.45"),
                Some((kg("50"), LossCause::Theft)),
            )],
        ),
    );
    step(
        &mut l,
        &c.processor,
        produce_from(
            "ROASTED-1",
            "500",
            &[("GREEN-1", "598"), ("GREEN-2", "0.1")],
        ),
    );
    step(
        &mut l,
        &c.processor,
        dispatch_v2(
            "S-2",
            &[("ROASTED-1", Some(kg("250")))],
            &c.retailer.pk,
            None,
        ),
    );
    step(
        &mut l,
        &c.retailer,
        receive_v2(
            "S-2",
            &[received(
                "ROASTED-1",
                kg("249"),
                Some((kg("1"), LossCause::Damage)),
            )],
        ),
    );
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-3",
            &[("GREEN-1", None), ("GREEN-2", None)],
            &c.distributor.pk,
            None,
        ),
    );
    step(&mut l, &c.distributor, reject("S-3", "no space"));
    let g1 = lot_of(&l, "GREEN-1");
    assert_eq!(
        (g1.held_by(&l.state, &c.producer.pk), g1.consumed, g1.lost),
        (dec("400"), dec("598"), dec("2"))
    );
    let g2 = lot_of(&l, "GREEN-2");
    assert_eq!(
        (
            g2.held_by(&l.state, &c.producer.pk),
            g2.held_by(&l.state, &c.processor.pk),
            g2.consumed,
            g2.lost
        ),
        (dec("1.5"), dec("0.35"), dec("0.1"), dec("0.05"))
    );
    let r = lot_of(&l, "ROASTED-1");
    assert_eq!(
        (
            r.held_by(&l.state, &c.processor.pk),
            r.held_by(&l.state, &c.retailer.pk),
            r.lost
        ),
        (dec("250"), dec("249"), dec("1"))
    );
}

// ---------------------------------------------------------------------------
// Multi-leg transport

struct Legs {
    c: Consortium,
    /// A second ocean carrier.
    carrier2: Party,
    /// A trucking company for the last leg.
    carrier3: Party,
    l: Ledger,
}

/// GREEN-1 (600 kg) dispatched in S-1 to the processor with the first
/// carrier; two more carriers in genesis.
fn legs() -> Legs {
    let c = Consortium::new();
    let carrier2 = Party::new("Pacific Lines", 41, &[Role::Carrier]);
    let carrier3 = Party::new("Andes Trucking", 42, &[Role::Carrier]);
    let genesis = with_members(&c.genesis, &[&carrier2, &carrier3]);
    let mut l = Ledger::new(&genesis);
    step(&mut l, &c.producer, produce("GREEN-1", "600"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("500")))],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    Legs {
        c,
        carrier2,
        carrier3,
        l,
    }
}

fn holder_in_transit(l: &Ledger, shipment: &str) -> waybill_core::crypto::PublicKey {
    lot_of(l, "GREEN-1")
        .in_shipment(&ship(shipment))
        .unwrap()
        .holder
}

#[test]
fn a_shipment_passes_from_carrier_to_carrier_to_the_consignee() {
    let Legs {
        c,
        carrier2,
        carrier3,
        mut l,
    } = legs();
    assert_eq!(holder_in_transit(&l, "S-1"), c.producer.pk);
    // The first carrier takes over.
    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    assert_eq!(holder_in_transit(&l, "S-1"), c.carrier.pk);
    assert_eq!(stage(&l, "S-1"), ShipmentStage::WithCarrier);
    // Transshipment to the second carrier, who co-signs.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    step_signed(&mut l, &e);
    assert_eq!(holder_in_transit(&l, "S-1"), carrier2.pk);
    let s = l.state.shipment(&ship("S-1")).unwrap();
    assert_eq!(
        (s.carrier, s.stage),
        (Some(carrier2.pk), ShipmentStage::WithCarrier)
    );
    // The last leg by truck.
    let e = cosigned(
        l.sign(&carrier2, handover("S-1", &carrier3.pk)),
        &[&carrier3],
    );
    step_signed(&mut l, &e);
    assert_eq!(holder_in_transit(&l, "S-1"), carrier3.pk);
    // The consignee receives, with a damaged bag.
    step(
        &mut l,
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("495"),
                Some((kg("5"), LossCause::Damage)),
            )],
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("495"));
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("100"));
    assert_eq!(g.lost, dec("5"));
    assert_eq!(g.in_transit(), Decimal3::ZERO);
    // None of the carriers holds anything now.
    for k in [&c.carrier, &carrier2, &carrier3] {
        assert!(g.holdings.iter().all(|h| h.holder != k.pk));
    }
}

#[test]
fn a_handover_signed_by_one_side_only_is_refused() {
    let Legs {
        c, carrier2, mut l, ..
    } = legs();
    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    let e = l.sign(&c.carrier, handover("S-1", &carrier2.pk));
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(
        &err,
        &["S-1", &carrier2.name, "co-signed", "0 co-signature"],
    );
    assert_eq!(holder_in_transit(&l, "S-1"), c.carrier.pk);
}

#[test]
fn a_handover_co_signed_by_someone_else_is_refused() {
    let Legs {
        c,
        carrier2,
        carrier3,
        mut l,
    } = legs();
    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    // Co-signed by another carrier than the one named.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier3],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(&err, &["S-1", &carrier2.name, "co-signed"]);
    // Co-signed by the next carrier and someone else besides.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2, &c.admins[0]],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(&err, &[&carrier2.name, "no one else", "2 co-signature"]);
    // A forged co-signature of the next carrier.
    let mut e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    e.cosignatures[0].signature.0[3] ^= 1;
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Signature(_)), "{err:?}");
    assert_mentions(&err, &[&carrier2.pk.to_string()]);
    assert_eq!(holder_in_transit(&l, "S-1"), c.carrier.pk);
}

#[test]
fn only_the_current_carrier_may_hand_over() {
    let Legs {
        c,
        carrier2,
        carrier3,
        mut l,
    } = legs();
    // Before any carrier took it over.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(&err, &["S-1", "not with a carrier yet"]);

    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    // A carrier that does not have it.
    let e = cosigned(
        l.sign(&carrier3, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(&err, &[&carrier3.name, "S-1", &c.carrier.name]);

    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    step_signed(&mut l, &e);
    // The carrier that handed it over no longer has it.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier3.pk)),
        &[&carrier3],
    );
    let err = l.refuse(&e);
    assert_mentions(&err, &[&c.carrier.name, "S-1", &carrier2.name]);
    // Nor can it, or the new carrier, "receive" the shipment again.
    let err = l.refuse(&l.sign(&c.carrier, receive_v2("S-1", &[])));
    assert!(matches!(err, RuleError::NotConsignee { .. }), "{err:?}");
    let err = l.refuse(&l.sign(&carrier2, receive_v2("S-1", &[])));
    assert!(matches!(err, RuleError::NotConsignee { .. }), "{err:?}");
    // The sender cannot take it back.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch_v2("S-2", &[("GREEN-1", Some(kg("101")))], &c.retailer.pk, None),
    ));
    assert_mentions(&err, &["GREEN-1", "holds 100"]);
    assert_eq!(holder_in_transit(&l, "S-1"), carrier2.pk);
}

#[test]
fn a_handover_goes_to_another_active_carrier() {
    let Legs { c, mut l, .. } = legs();
    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    // To itself.
    let e = l.sign(&c.carrier, handover("S-1", &c.carrier.pk));
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    assert_mentions(&err, &["another carrier"]);
    // To a member without the carrier role, even if it co-signs.
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &c.distributor.pk)),
        &[&c.distributor],
    );
    let err = l.refuse(&e);
    assert!(
        matches!(&err, RuleError::BadCounterparty { what: "next carrier", key, .. } if *key == c.distributor.pk),
        "{err:?}"
    );
    assert_mentions(&err, &["next carrier", &c.distributor.name]);
    // By a member without the carrier role.
    let e = l.sign(&c.processor, handover("S-1", &c.carrier.pk));
    let err = l.refuse(&e);
    assert!(
        matches!(
            err,
            RuleError::MissingRole {
                kind: "handover",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.processor.name, "handover", "carrier"]);
    // Of a shipment that does not exist.
    let e = l.sign(&c.carrier, handover("S-404", &c.carrier.pk));
    assert!(matches!(l.refuse(&e), RuleError::UnknownShipment(_)));
}

#[test]
fn a_delivered_or_rejected_shipment_cannot_be_handed_over() {
    let Legs {
        c, carrier2, mut l, ..
    } = legs();
    step(&mut l, &c.carrier, receive_v2("S-1", &[]));
    let e = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    step_signed(&mut l, &e);
    // The consignee may still refuse the goods: they go back to the sender.
    step(&mut l, &c.processor, reject("S-1", "container seal broken"));
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.producer.pk),
        dec("600")
    );
    let e = cosigned(
        l.sign(&carrier2, handover("S-1", &c.carrier.pk)),
        &[&c.carrier],
    );
    let err = l.refuse(&e);
    assert!(
        matches!(
            &err,
            RuleError::ShipmentClosed {
                stage: "rejected",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["S-1", "rejected"]);
}

// ---------------------------------------------------------------------------
// Readings: who may record them

/// A series of cold-chain readings well within its range.
fn series() -> Series {
    Series {
        device: "LOGGER-0001".into(),
        measure: Measure::Temperature,
        unit: "CEL".into(),
        range: Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        start_ms: T0,
        readings: vec![
            Reading {
                offset_ms: 0,
                value_milli: 4_000,
            },
            Reading {
                offset_ms: 600_000,
                value_milli: 4_500,
            },
            Reading {
                offset_ms: 1_200_000,
                value_milli: 5_000,
            },
        ],
    }
}

#[test]
fn readings_come_from_the_parties_to_the_shipment() {
    let Legs {
        c, carrier2, mut l, ..
    } = legs();
    step(&mut l, &c.producer, readings("S-1", vec![series()]));
    step(&mut l, &c.carrier, readings("S-1", vec![series()]));
    step(&mut l, &c.processor, readings("S-1", vec![series()]));
    // Readings within range leave the lot as it was.
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 0);
    // A member with nothing to do with the shipment.
    let err = l.refuse(&l.sign(&c.retailer, readings("S-1", vec![series()])));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &[&c.retailer.name, "S-1", "not a party"]);
    // A carrier that is not (yet) the shipment's.
    let err = l.refuse(&l.sign(&carrier2, readings("S-1", vec![series()])));
    assert_mentions(&err, &[&carrier2.name, "S-1"]);
    // An unknown shipment.
    let err = l.refuse(&l.sign(&c.producer, readings("S-404", vec![series()])));
    assert!(matches!(err, RuleError::UnknownShipment(_)), "{err:?}");
    // No series at all.
    let err = l.refuse(&l.sign(&c.producer, readings("S-1", Vec::new())));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["series"]);
}

/// `series()` with readings at `values` (thousandths of a degree), one every
/// ten minutes.
fn series_of(values: &[i32]) -> Series {
    Series {
        readings: values
            .iter()
            .zip(0u32..)
            .map(|(&value_milli, i)| Reading {
                offset_ms: i * 600_000,
                value_milli,
            })
            .collect(),
        ..series()
    }
}

#[test]
fn readings_outside_their_range_count_as_excursions_on_every_lot_of_the_shipment() {
    let Legs { c, mut l, .. } = legs();
    step(&mut l, &c.producer, produce("GREEN-2", "10"));
    step(&mut l, &c.producer, produce("GREEN-3", "10"));
    step(
        &mut l,
        &c.producer,
        dispatch_v2(
            "S-2",
            &[("GREEN-2", None)],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    // One run of two readings above 8 °C is one excursion, counted once
    // on the lot, wherever its parts are.
    step(
        &mut l,
        &c.carrier,
        readings("S-1", vec![series_of(&[5_000, 9_500, 8_200, 7_000])]),
    );
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 1);
    // Two runs (too cold, then too warm) in one series, and one in another
    // series of the same entry: three more.
    step(
        &mut l,
        &c.processor,
        readings(
            "S-1",
            vec![
                series_of(&[1_000, 4_000, 9_000, 9_100]),
                Series {
                    device: "LOGGER-0002".into(),
                    ..series_of(&[8_001])
                },
            ],
        ),
    );
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 4);
    // The bounds are inside the range; a series without a range has none.
    step(
        &mut l,
        &c.carrier,
        readings("S-1", vec![series_of(&[2_000, 8_000])]),
    );
    let no_range = Series {
        range: None,
        ..series_of(&[-40_000, 60_000])
    };
    step(&mut l, &c.carrier, readings("S-1", vec![no_range]));
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 4);
    // Lots of other shipments are not touched.
    assert_eq!(lot_of(&l, "GREEN-2").excursions, 0);
    assert_eq!(lot_of(&l, "GREEN-3").excursions, 0);
    step(
        &mut l,
        &c.producer,
        readings("S-2", vec![series_of(&[12_000])]),
    );
    assert_eq!(lot_of(&l, "GREEN-2").excursions, 1);
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 4);
    // A series whose times go back is refused, naming the field.
    let err = l.refuse(&l.sign(
        &c.carrier,
        readings(
            "S-1",
            vec![Series {
                readings: vec![
                    Reading {
                        offset_ms: 600_000,
                        value_milli: 9_000,
                    },
                    Reading {
                        offset_ms: 0,
                        value_milli: 9_000,
                    },
                ],
                ..series()
            }],
        ),
    ));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["series[0]"]);
    assert_eq!(lot_of(&l, "GREEN-1").excursions, 4);
}

// ---------------------------------------------------------------------------
// Mass balance

const ROASTED_ID: &str = "roasted-coffee";

/// The test genesis with a yield rule for roasted coffee (0.78 to 0.86).
fn with_yields(c: &Consortium, rules: Vec<YieldRule>) -> Genesis {
    let mut g = c.genesis.clone();
    g.yields = rules;
    g.validate().unwrap();
    g
}

fn roasting_rule() -> YieldRule {
    YieldRule {
        member: None,
        product: Some(ROASTED_ID.into()),
        min: dec("0.78"),
        max: dec("0.86"),
    }
}

/// A roasting of `out` kg of `lot` (product id `roasted-coffee`) from
/// `inputs`.
fn roast(lot_id: &str, out: &str, inputs: &[(&str, &str)]) -> Body {
    let Body::Produce(mut p) = produce_from(lot_id, out, inputs) else {
        unreachable!()
    };
    p.product.id = Some(ROASTED_ID.into());
    Body::Produce(p)
}

#[test]
fn a_roasting_within_the_declared_yield_is_accepted() {
    let c = Consortium::new();
    let mut l = Ledger::new(&with_yields(&c, vec![roasting_rule()]));
    step(&mut l, &c.processor, produce("GREEN-1", "600"));
    // 500 / 600 = 0.833.
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-1", "500", &[("GREEN-1", "600")]),
    );
    // The bounds themselves are in range: 0.78 and 0.86 of 100 kg.
    step(&mut l, &c.processor, produce("GREEN-2", "200"));
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-2", "78", &[("GREEN-2", "100")]),
    );
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-3", "86", &[("GREEN-2", "100")]),
    );
}

#[test]
fn a_roasting_outside_the_declared_yield_is_refused() {
    let c = Consortium::new();
    let mut l = Ledger::new(&with_yields(&c, vec![roasting_rule()]));
    step(&mut l, &c.processor, produce("GREEN-1", "600"));
    // 600 kg of green coffee cannot become 6,000 kg of roasted coffee.
    let err = l.refuse(&l.sign(
        &c.processor,
        roast("ROASTED-1", "6000", &[("GREEN-1", "600")]),
    ));
    assert!(matches!(err, RuleError::Yield(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            "ROASTED-1",
            "10.000",
            "0.78 to 0.86",
            ROASTED_ID,
            "6000 KGM",
            "600 KGM",
        ],
    );
    // Nor 400 kg (0.667), just below, nor just above.
    let err = l.refuse(&l.sign(
        &c.processor,
        roast("ROASTED-1", "400", &[("GREEN-1", "600")]),
    ));
    assert_mentions(&err, &["ROASTED-1", "0.666", "0.78 to 0.86"]);
    let err = l.refuse(&l.sign(
        &c.processor,
        roast("ROASTED-1", "77.999", &[("GREEN-1", "100")]),
    ));
    assert!(matches!(err, RuleError::Yield(_)), "{err:?}");
    let err = l.refuse(&l.sign(
        &c.processor,
        roast("ROASTED-1", "86.001", &[("GREEN-1", "100")]),
    ));
    assert!(matches!(err, RuleError::Yield(_)), "{err:?}");
    // The inputs were not consumed by the refused entries.
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.processor.pk),
        dec("600")
    );
    // A product without a rule is not bounded.
    step(
        &mut l,
        &c.processor,
        produce_from("CHAFF-1", "6000", &[("GREEN-1", "1")]),
    );
}

#[test]
fn yields_compare_inputs_in_the_outputs_unit() {
    let c = Consortium::new();
    let mut l = Ledger::new(&with_yields(&c, vec![roasting_rule()]));
    // 0.6 t of green coffee to 500 kg of roasted.
    step(
        &mut l,
        &c.processor,
        produce_in("GREEN-T", "0.6", UnitCode::Tne),
    );
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-1", "500", &[("GREEN-T", "0.6")]),
    );
    // Two inputs count together: 0.3 t + 300 kg -> 5,000 kg is refused.
    step(
        &mut l,
        &c.processor,
        produce_in("GREEN-T2", "0.3", UnitCode::Tne),
    );
    step(&mut l, &c.processor, produce("GREEN-K", "300"));
    let err = l.refuse(&l.sign(
        &c.processor,
        roast(
            "ROASTED-2",
            "5000",
            &[("GREEN-T2", "0.3"), ("GREEN-K", "300")],
        ),
    ));
    assert_mentions(&err, &["ROASTED-2", "from 600 KGM"]);
    step(
        &mut l,
        &c.processor,
        roast(
            "ROASTED-2",
            "500",
            &[("GREEN-T2", "0.3"), ("GREEN-K", "300")],
        ),
    );
    // Grams that are no whole number of thousandths of a kilogram still
    // count exactly: 600,000.5 g to 500 kg is within 0.78 to 0.86.
    step(
        &mut l,
        &c.processor,
        produce_in("GREEN-G", "600000.5", UnitCode::Grm),
    );
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-4", "500", &[("GREEN-G", "600000.5")]),
    );
    // An input counted in pieces cannot be compared with kilograms.
    step(
        &mut l,
        &c.processor,
        produce_in("SACKS-1", "10", UnitCode::H87),
    );
    let err = l.refuse(&l.sign(&c.processor, roast("ROASTED-3", "5", &[("SACKS-1", "1")])));
    assert!(matches!(err, RuleError::Yield(_)), "{err:?}");
    assert_mentions(&err, &["ROASTED-3", "SACKS-1", "H87", "KGM"]);
}

#[test]
fn the_most_specific_yield_rule_applies_and_gtins_name_products() {
    let c = Consortium::new();
    // One of the processor's own products.
    let gtin = gtin_under(PROCESSOR_PREFIX, 7);
    let rules = vec![
        roasting_rule(),
        // The processor roasts darker: 0.80 to 0.82.
        YieldRule {
            member: Some(c.processor.name.clone()),
            product: Some(ROASTED_ID.into()),
            min: dec("0.8"),
            max: dec("0.82"),
        },
        // A product named by its GTIN.
        YieldRule {
            member: None,
            product: Some(gtin.to_string()),
            min: dec("0.5"),
            max: dec("0.6"),
        },
    ];
    let mut l = Ledger::new(&with_yields(&c, rules));
    step(&mut l, &c.processor, produce("GREEN-1", "1000"));
    let err = l.refuse(&l.sign(
        &c.processor,
        roast("ROASTED-1", "500", &[("GREEN-1", "600")]),
    ));
    assert_mentions(&err, &["0.8 to 0.82", &c.processor.name, ROASTED_ID]);
    step(
        &mut l,
        &c.processor,
        roast("ROASTED-1", "81", &[("GREEN-1", "100")]),
    );
    let mut p = match produce_from("INSTANT-1", "90", &[("GREEN-1", "100")]) {
        Body::Produce(p) => p,
        _ => unreachable!(),
    };
    p.product.gtin = Some(gtin);
    let err = l.refuse(&l.sign(&c.processor, Body::Produce(p.clone())));
    assert_mentions(&err, &["INSTANT-1", "0.5 to 0.6", gtin.as_str()]);
    p.quantity.value = dec("55");
    step(&mut l, &c.processor, Body::Produce(p));
}

#[test]
fn a_production_v2_is_held_to_the_same_rules() {
    let c = Consortium::new();
    let mut l = Ledger::new(&with_yields(&c, vec![roasting_rule()]));
    step(&mut l, &c.processor, produce_v2("GREEN-1", "600"));
    let mut body = produce_v2_from("ROASTED-1", "6000", &[("GREEN-1", "600")]);
    if let Body::ProduceV2(p) = &mut body {
        p.produce.product.id = Some(ROASTED_ID.into());
    }
    let err = l.refuse(&l.sign(&c.processor, body.clone()));
    assert!(matches!(err, RuleError::Yield(_)), "{err:?}");
    if let Body::ProduceV2(p) = &mut body {
        p.produce.quantity.value = dec("500");
    }
    step(&mut l, &c.processor, body);
    let r = lot_of(&l, "ROASTED-1");
    assert_eq!(r.inputs, vec![(lot("GREEN-1"), dec("600"))]);
    assert_eq!(lot_of(&l, "GREEN-1").consumed, dec("600"));
    // The lot id is used once, whichever version records it.
    let err = l.refuse(&l.sign(&c.producer, produce_v2("GREEN-1", "1")));
    assert!(matches!(err, RuleError::LotExists(_)), "{err:?}");
    let err = l.refuse(&l.sign(&c.producer, produce("ROASTED-1", "1")));
    assert!(matches!(err, RuleError::LotExists(_)), "{err:?}");
    // A retailer makes nothing.
    let err = l.refuse(&l.sign(&c.retailer, produce_v2("X-1", "1")));
    assert!(
        matches!(
            err,
            RuleError::MissingRole {
                kind: "produce",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Time

/// 9000-01-01T00:00:00Z in ms since the Unix epoch.
const YEAR_9000_MS: i64 = 221_845_392_000_000;

fn dated(
    l: &Ledger,
    who: &Party,
    body: Body,
    recorded_at_ms: i64,
) -> waybill_core::entry::SignedEntry {
    let mut e = entry(l.chain_id(), &who.pk, l.next_nonce(who), body);
    e.recorded_at_ms = recorded_at_ms;
    e.sign(&who.key)
}

#[test]
fn an_entry_from_the_future_is_refused() {
    let (c, l) = setup();
    let e = dated(&l, &c.producer, produce("GREEN-1", "600"), YEAR_9000_MS);
    let err = l.refuse(&e);
    assert!(
        matches!(&err, RuleError::FromTheFuture { recorded, skew_s: 300, .. } if recorded.starts_with("9000-01-01")),
        "{err:?}"
    );
    assert_mentions(&err, &["recorded_at", "9000-01-01T00:00:00Z", "300 s"]);
    // In a block too, and the block names it.
    let ok = l.sign(&c.processor, produce("GREEN-0", "1"));
    let (i, err) = rules::apply_block(&l.state, &[ok, e], l.next_at()).unwrap_err();
    assert_eq!(i, 1);
    assert!(matches!(err, RuleError::FromTheFuture { .. }), "{err:?}");
}

#[test]
fn a_clock_ahead_by_less_than_the_skew_is_accepted() {
    let (c, mut l) = setup();
    let block_time = l.next_at().time_ms;
    // Exactly the allowed skew ahead is accepted …
    let e = dated(
        &l,
        &c.producer,
        produce("GREEN-1", "600"),
        block_time + MAX_RECORDED_AHEAD_MS,
    );
    l.commit(&e);
    // … one millisecond more is not.
    let at = l.next_at();
    let e = dated(
        &l,
        &c.producer,
        produce("GREEN-2", "600"),
        at.time_ms + MAX_RECORDED_AHEAD_MS + 1,
    );
    assert!(matches!(l.refuse(&e), RuleError::FromTheFuture { .. }));
    // The same entry is fine in a later block.
    let later = At::new(at.height, at.time_ms + 1);
    rules::apply(&l.state, &e, e.id(), later).unwrap();
    // Events in the past are fine, however old.
    let e = dated(&l, &c.producer, produce("GREEN-3", "1"), 0);
    l.commit(&e);
}

// ---------------------------------------------------------------------------
// Genesis with yield rules

#[test]
fn a_genesis_without_yields_keeps_its_chain_id_and_round_trips() {
    let c = Consortium::new();
    let g = c.genesis.clone();
    assert!(g.yields.is_empty());
    let bytes = g.canonical_bytes();
    let back = Genesis::from_canonical_bytes(&bytes).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.chain_id(), c.chain_id());
    // Its TOML says nothing about yields.
    assert!(!g.to_toml().contains("yields"), "{}", g.to_toml());
}

#[test]
fn a_genesis_with_yields_round_trips_and_is_another_chain() {
    let c = Consortium::new();
    let g = with_yields(&c, vec![roasting_rule()]);
    let bytes = g.canonical_bytes();
    // The rules follow the fields a genesis always had.
    let old = c.genesis.canonical_bytes();
    assert!(bytes.len() > old.len());
    assert_eq!(&bytes[..old.len()], &old[..]);
    let back = Genesis::from_canonical_bytes(&bytes).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.yields, vec![roasting_rule()]);
    assert_ne!(g.chain_id(), c.chain_id());
    // Entries signed for the chain without yields are not valid on it.
    let e = signed(c.chain_id(), &c.producer, 1, produce("GREEN-1", "1"));
    let err = Ledger::new(&g).refuse(&e);
    assert!(matches!(err, RuleError::WrongChain { .. }), "{err:?}");
    // Through TOML too.
    let again = Genesis::from_toml(&g.to_toml()).unwrap();
    assert_eq!(again, g);
    // A changed or truncated encoding does not read back.
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    assert_ne!(
        Genesis::from_canonical_bytes(&changed).ok(),
        Some(g.clone())
    );
    assert!(Genesis::from_canonical_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Genesis::from_canonical_bytes(&longer).is_err());
}

#[test]
fn yield_rules_in_genesis_are_validated() {
    let c = Consortium::new();
    let text_rule = |body: &str| {
        let mut g = c.genesis.clone();
        g.yields = Vec::new();
        format!("{}\n[[yields]]\n{body}\n", g.to_toml())
    };
    let g = Genesis::from_toml(&text_rule(
        "product = \"roasted-coffee\"\nmin = \"0.78\"\nmax = \"0.86\"",
    ))
    .unwrap();
    assert_eq!(g.yields, vec![roasting_rule()]);

    let bad = |r: YieldRule| {
        let mut g = c.genesis.clone();
        g.yields = vec![r];
        g.validate().unwrap_err()
    };
    let err = bad(YieldRule {
        min: dec("0.9"),
        ..roasting_rule()
    });
    assert!(
        matches!(err, GenesisError::BadYield { index: 1, .. }),
        "{err:?}"
    );
    assert_mentions(&err, &["yields #1", "0.9", "0.86"]);
    let err = bad(YieldRule {
        member: Some("Nobody GmbH".into()),
        ..roasting_rule()
    });
    assert_mentions(&err, &["Nobody GmbH"]);
    let err = bad(YieldRule {
        product: None,
        ..roasting_rule()
    });
    assert_mentions(&err, &["neither a member nor a product"]);
    let mut g = c.genesis.clone();
    g.yields = vec![roasting_rule(), roasting_rule()];
    assert_mentions(&g.validate().unwrap_err(), &["yields #2", "repeats"]);
}

#[test]
fn genesis_names_and_addresses_are_bounded_texts() {
    let c = Consortium::new();
    let bad = |edit: &dyn Fn(&mut Genesis)| {
        let mut g = c.genesis.clone();
        edit(&mut g);
        g.validate().unwrap_err()
    };
    // A run of 300 quotes: the TOML writer counted such runs in a byte
    // (a fuzzer found it); now refused before anything writes it.
    let err = bad(&|g| g.members[1].name = "'".repeat(300));
    assert!(matches!(err, GenesisError::BadText { .. }), "{err:?}");
    assert_mentions(&err, &["members[2].name", "300 characters"]);
    let err = bad(&|g| g.validators[0].p2p = vec!["\"".repeat(256)]);
    assert_mentions(&err, &["validators[1].p2p[1]", "256 characters"]);
    let err = bad(&|g| g.chain_name = "coffee\u{7}".into());
    assert_mentions(&err, &["chain_name", "U+0007"]);
    let err = bad(&|g| g.validators[0].name = String::new());
    assert_mentions(&err, &["validators[1].name", "empty"]);
    let err = bad(&|g| g.validators[0].p2p = vec!["/ip4/127.0.0.1/tcp/1".into(); 17]);
    assert!(matches!(err, GenesisError::TooManyAddresses(_)), "{err:?}");
    // At the bound, and what a real genesis holds, still pass.
    let mut g = c.genesis.clone();
    g.members[1].name = "é".repeat(200);
    g.validators[0].p2p = vec!["/dns4/v1.example.org/tcp/7272".into(); 16];
    g.validate().unwrap();
    let back = Genesis::from_toml(&g.to_toml()).unwrap();
    assert_eq!(back, g);
}
