//! Rule tests for corrections (issue 25): an entry declares an earlier
//! one erroneous. A production is voided and its inputs go back to its
//! producer while nothing has been built on the lot; a dispatch is
//! cancelled while nobody has taken it over; a shipment's latest custody
//! step (take-over, handover, receipt) is undone while its goods have not
//! moved on; readings are struck and their excursions taken back; a
//! payment is struck out.
//! Only the original's author (or an admin quorum) may, the target must
//! be the entry that made the record, and each refusal leaves the state
//! untouched with a sentence naming what is wrong.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::codes::Decimal3;
use waybill_core::crypto::Hash32;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, Corrected, Correction, LossCause, SignedEntry};
use waybill_core::genesis::Role;
use waybill_core::rules::RuleError;
use waybill_core::state::{LatestStep, LotState, ShipmentStage, StepKind, StepLot, View};

fn lot_of(l: &Ledger, id: &str) -> LotState {
    l.state.lot(&lot(id)).unwrap().into_owned()
}

fn stage(l: &Ledger, id: &str) -> ShipmentStage {
    l.state.shipment(&ship(id)).unwrap().stage
}

fn void(target: &waybill_core::entry::SignedEntry, id: &str) -> Body {
    correction(
        target.id(),
        Corrected::Lot(lot(id)),
        "quantity keyed in wrong",
    )
}

fn cancel(target: &waybill_core::entry::SignedEntry, id: &str) -> Body {
    correction(
        target.id(),
        Corrected::Shipment(ship(id)),
        "wrong consignee",
    )
}

// ---------------------------------------------------------------------------
// Productions

#[test]
fn a_production_corrected_voids_the_lot_and_restores_its_inputs() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.processor, produce("GREEN-1", "600"));
    l.record(&c.processor, produce("GREEN-2", "100"));
    let roast = l.record(
        &c.processor,
        produce_from(
            "ROASTED-1",
            "420",
            &[("GREEN-1", "500"), ("GREEN-2", "100")],
        ),
    );
    assert_eq!(lot_of(&l, "GREEN-2").holdings.len(), 0);
    let fix = l.record(&c.processor, void(&roast, "ROASTED-1"));
    assert_balanced(&l.state, "after the correction");

    let r = lot_of(&l, "ROASTED-1");
    assert_eq!(r.voided_by, Some(fix.id()));
    assert!(r.holdings.is_empty());
    assert_eq!(r.remaining(), Decimal3::ZERO);
    assert!(r.whereabouts(|_| String::new()).contains(&fix.id().short()));
    // The inputs are back, whole, with the producer of the voided lot.
    let g1 = lot_of(&l, "GREEN-1");
    assert_eq!(g1.consumed, Decimal3::ZERO);
    assert_eq!(g1.holdings.len(), 1, "{:?}", g1.holdings);
    assert_eq!(g1.held_by(&l.state, &c.processor.pk), dec("600"));
    let g2 = lot_of(&l, "GREEN-2");
    assert_eq!(
        (g2.consumed, g2.held_by(&l.state, &c.processor.pk)),
        (Decimal3::ZERO, dec("100"))
    );

    // The voided lot is no goods: it cannot move or be used, and its id
    // stays taken.
    let err = l.refuse(&l.sign(
        &c.processor,
        dispatch("S-1", &["ROASTED-1"], &c.retailer.pk, None),
    ));
    assert!(matches!(err, RuleError::LotVoided { .. }), "{err:?}");
    assert_mentions(&err, &["ROASTED-1", &fix.id().short(), "voided"]);
    let err = l.refuse(&l.sign(
        &c.processor,
        produce_from("BLEND-1", "1", &[("ROASTED-1", "1")]),
    ));
    assert!(matches!(err, RuleError::LotVoided { .. }), "{err:?}");
    let err = l.refuse(&l.sign(&c.processor, produce("ROASTED-1", "420")));
    assert!(matches!(err, RuleError::LotExists(_)), "{err:?}");
    // The restored inputs are the processor's to use again.
    l.record(
        &c.processor,
        produce_from(
            "ROASTED-2",
            "500",
            &[("GREEN-1", "600"), ("GREEN-2", "100")],
        ),
    );
    assert_balanced(&l.state, "after the second roasting");
    // Voiding twice is refused.
    let err = l.refuse(&l.sign(&c.processor, void(&roast, "ROASTED-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(&err, &["ROASTED-1", "already voided", &fix.id().short()]);
}

#[test]
fn a_production_from_nothing_may_be_voided() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let e = l.record(&c.producer, produce_v2("GREEN-1", "6000"));
    l.record(&c.producer, void(&e, "GREEN-1"));
    let g = lot_of(&l, "GREEN-1");
    assert!(g.voided_by.is_some() && g.holdings.is_empty());
    assert_eq!(g.produced, dec("6000"));
}

#[test]
fn a_production_cannot_be_corrected_once_the_lot_moved_or_was_used() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let made = l.record(&c.producer, produce("GREEN-1", "600"));
    // Part of it shipped.
    let d = l.record(
        &c.producer,
        dispatch_v2("S-1", &[("GREEN-1", Some(kg("1")))], &c.processor.pk, None),
    );
    let err = l.refuse(&l.sign(&c.producer, void(&made, "GREEN-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", "shipped or used", "latest back"]);
    // Once the dispatch is corrected, the production may be, from the
    // latest back.
    l.record(&c.producer, cancel(&d, "S-1"));
    l.record(&c.producer, void(&made, "GREEN-1"));

    // Part of it used as an input.
    l.record(&c.processor, produce("GREEN-2", "600"));
    let made2 = l.sign(&c.processor, produce("X", "1"));
    l.commit(&made2);
    l.record(&c.processor, produce_from("MIX-1", "2", &[("X", "0.5")]));
    let err = l.refuse(&l.sign(&c.processor, void(&made2, "X")));
    assert_mentions(&err, &["X", "shipped or used"]);
    // Delivered and back is still "moved": part of it was lost on the way.
    let made3 = l.record(&c.processor, produce("Y", "10"));
    l.record(&c.processor, dispatch("S-2", &["Y"], &c.retailer.pk, None));
    l.record(
        &c.retailer,
        receive_v2(
            "S-2",
            &[received(
                "Y",
                kg("9"),
                Some((kg("1"), waybill_core::entry::LossCause::Damage)),
            )],
        ),
    );
    l.record(&c.retailer, dispatch("S-3", &["Y"], &c.processor.pk, None));
    l.record(&c.processor, receive("S-3"));
    let err = l.refuse(&l.sign(&c.processor, void(&made3, "Y")));
    assert_mentions(&err, &["Y", "shipped or used"]);
}

// ---------------------------------------------------------------------------
// Dispatches

#[test]
fn a_dispatch_corrected_before_takeover_is_cancelled() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.producer, produce("GREEN-2", "50"));
    let d = l.record(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("200"))), ("GREEN-2", None)],
            &c.retailer.pk,
            Some(&c.carrier.pk),
        ),
    );
    l.record(&c.producer, cancel(&d, "S-1"));
    assert_balanced(&l.state, "after the cancellation");
    assert_single_custody(&l.state, "after the cancellation");
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Cancelled);
    let g1 = lot_of(&l, "GREEN-1");
    assert_eq!(g1.holdings.len(), 1, "{:?}", g1.holdings);
    assert_eq!(g1.held_by(&l.state, &c.producer.pk), dec("600"));
    assert_eq!(
        lot_of(&l, "GREEN-2").held_by(&l.state, &c.producer.pk),
        dec("50")
    );
    // Nobody can take over, receive or reject a cancelled shipment.
    for (who, body) in [
        (&c.carrier, receive("S-1")),
        (&c.retailer, receive_v2("S-1", &[])),
        (&c.retailer, reject("S-1", "never mind")),
    ] {
        let err = l.refuse(&l.sign(who, body));
        assert!(
            matches!(&err, RuleError::ShipmentClosed { stage, .. } if stage.contains("cancelled")),
            "{err:?}"
        );
        assert_mentions(&err, &["S-1", "cancelled"]);
    }
    // Its id stays used; the goods go out again in a new shipment.
    let err = l.refuse(&l.sign(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    ));
    assert!(matches!(err, RuleError::ShipmentExists(_)), "{err:?}");
    l.record(
        &c.producer,
        dispatch("S-2", &["GREEN-1", "GREEN-2"], &c.processor.pk, None),
    );
    l.record(&c.processor, receive("S-2"));
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.processor.pk),
        dec("600")
    );
    // Cancelling twice is refused.
    let err = l.refuse(&l.sign(&c.producer, cancel(&d, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(&err, &["S-1", "cancelled"]);
}

#[test]
fn a_dispatch_cannot_be_corrected_after_takeover() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    let d = l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    l.record(&c.carrier, receive("S-1"));
    let err = l.refuse(&l.sign(&c.producer, cancel(&d, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(&err, &["S-1", "with its carrier", "reject"]);
    l.record(&c.processor, receive("S-1"));
    let err = l.refuse(&l.sign(&c.producer, cancel(&d, "S-1")));
    assert_mentions(&err, &["S-1", "delivered"]);
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.processor.pk),
        dec("600")
    );
}

// ---------------------------------------------------------------------------
// Payments

#[test]
fn a_payment_corrected_is_struck_out() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    let p = l.record(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.producer.pk, 1_850_000, &["S-1"]),
    );
    let fix = l.record(
        &c.payer,
        correction(
            p.id(),
            Corrected::Payment(uetr(1)),
            "amount in cents, not euros",
        ),
    );
    let s = l.state.payment(&uetr(1)).unwrap();
    assert_eq!((s.recorded_by, s.corrected_by), (p.id(), Some(fix.id())));
    // The UETR stays used.
    let err = l.refuse(&l.sign(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.producer.pk, 18_500, &["S-1"]),
    ));
    assert!(matches!(err, RuleError::PaymentExists(_)), "{err:?}");
    // Twice is refused.
    let err = l.refuse(&l.sign(
        &c.payer,
        correction(p.id(), Corrected::Payment(uetr(1)), "again"),
    ));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            &uetr(1).to_string(),
            "already struck out",
            &fix.id().short(),
        ],
    );
    // A payment that does not exist.
    let err = l.refuse(&l.sign(
        &c.payer,
        correction(p.id(), Corrected::Payment(uetr(9)), "typo"),
    ));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(&err, &[&uetr(9).to_string(), "not recorded"]);
}

// ---------------------------------------------------------------------------
// Who may correct, and what

#[test]
fn a_correction_of_someone_elses_entry_is_refused() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let made = l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.producer, produce("GREEN-2", "600"));
    let d = l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-2"], &c.processor.pk, None),
    );
    let p = l.record(
        &c.payer,
        pay(uetr(1), &c.payer.pk, &c.producer.pk, 100, &["S-1"]),
    );
    let cases = [
        (
            &c.processor,
            void(&made, "GREEN-1"),
            "lot GREEN-1",
            &c.producer,
        ),
        (&c.processor, cancel(&d, "S-1"), "shipment S-1", &c.producer),
        (
            &c.producer,
            correction(p.id(), Corrected::Payment(uetr(1)), "not paid to us"),
            "payment",
            &c.payer,
        ),
        // An admin alone is not a quorum.
        (
            &c.admins[0],
            void(&made, "GREEN-1"),
            "lot GREEN-1",
            &c.producer,
        ),
    ];
    for (who, body, what, owner) in cases {
        let err = l.refuse(&l.sign(who, body));
        assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
        assert_mentions(
            &err,
            &[
                &who.name,
                "may not correct",
                what,
                &owner.name,
                "only its author",
            ],
        );
    }
    // Co-signatures that are not admins' are refused by name.
    let e = cosigned(l.sign(&c.processor, void(&made, "GREEN-1")), &[&c.retailer]);
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::CosignerNotAdmin(k) if k == c.retailer.pk),
        "{err:?}"
    );
}

#[test]
fn an_admin_quorum_may_correct_any_entry_and_inputs_go_back_to_the_producer() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.processor, produce("GREEN-1", "600"));
    let roast = l.record(
        &c.processor,
        produce_from("ROASTED-1", "500", &[("GREEN-1", "600")]),
    );
    let e = cosigned(
        l.sign(&c.admins[0], void(&roast, "ROASTED-1")),
        &[&c.admins[1]],
    );
    l.commit(&e);
    assert_eq!(lot_of(&l, "ROASTED-1").voided_by, Some(e.id()));
    // The green coffee is the roaster's again, not the admin's: the admin
    // holds no goods, and the roaster must be able to roast it again.
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.held_by(&l.state, &c.processor.pk), dec("600"));
    assert_eq!(g.held_by(&l.state, &c.admins[0].pk), Decimal3::ZERO);
    assert_balanced(&l.state, "after the quorum's correction");
    l.record(
        &c.processor,
        produce_from("ROASTED-2", "500", &[("GREEN-1", "600")]),
    );

    // A dispatch too: the goods go back to the sender, not the admin.
    l.record(&c.processor, produce("GREEN-2", "10"));
    let d = l.record(
        &c.processor,
        dispatch("S-1", &["GREEN-2"], &c.retailer.pk, None),
    );
    let e = cosigned(
        l.sign(&c.retailer, cancel(&d, "S-1")),
        &[&c.admins[0], &c.admins[2]],
    );
    l.commit(&e);
    assert_eq!(
        lot_of(&l, "GREEN-2").held_by(&l.state, &c.processor.pk),
        dec("10")
    );
}

#[test]
fn a_correction_must_name_the_entry_that_made_the_record() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let made = l.record(&c.producer, produce("GREEN-1", "600"));
    let other = l.record(&c.producer, produce("GREEN-2", "600"));
    let d = l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-2"], &c.processor.pk, None),
    );
    // The production of another lot.
    let err = l.refuse(&l.sign(&c.producer, void(&other, "GREEN-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            &other.id().short(),
            "did not record lot GREEN-1",
            &made.id().short(),
        ],
    );
    // A dispatch named as the production, and the other way round.
    let err = l.refuse(&l.sign(&c.producer, void(&d, "GREEN-1")));
    assert_mentions(&err, &[&d.id().short(), "lot GREEN-1"]);
    let err = l.refuse(&l.sign(&c.producer, cancel(&made, "S-1")));
    assert_mentions(&err, &[&made.id().short(), "shipment S-1", &d.id().short()]);
    // An id that is no entry at all.
    let bogus = Hash32::digest(b"nothing");
    let err = l.refuse(&l.sign(
        &c.producer,
        correction(bogus, Corrected::Lot(lot("GREEN-1")), "typo"),
    ));
    assert_mentions(&err, &[&bogus.short(), "GREEN-1"]);
    // Records that do not exist.
    let err = l.refuse(&l.sign(&c.producer, void(&made, "NO-SUCH-LOT")));
    assert!(matches!(err, RuleError::UnknownLot(_)), "{err:?}");
    let err = l.refuse(&l.sign(&c.producer, cancel(&d, "S-404")));
    assert!(matches!(err, RuleError::UnknownShipment(_)), "{err:?}");
    // A reason is required, and the target cannot be its own correction.
    let err = l.refuse(&l.sign(
        &c.producer,
        correction(made.id(), Corrected::Lot(lot("GREEN-1")), ""),
    ));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["reason"]);
    let err = l.refuse(&l.sign(
        &c.producer,
        Body::Correction(Correction {
            target: made.id(),
            corrected: Corrected::Lot(lot("GREEN-1")),
            reason: "wrong quantity".into(),
            corrective: vec![made.id()],
        }),
    ));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["corrective"]);
    // The corrective entries, when named, are recorded with it.
    let fixed = l.record(&c.producer, produce("GREEN-1B", "60"));
    let e = l.record(
        &c.producer,
        Body::Correction(Correction {
            target: made.id(),
            corrected: Corrected::Lot(lot("GREEN-1")),
            reason: "600 should have been 60".into(),
            corrective: vec![fixed.id()],
        }),
    );
    assert_eq!(lot_of(&l, "GREEN-1").voided_by, Some(e.id()));
}

// ---------------------------------------------------------------------------
// Receipts, take-overs and handovers: a shipment's latest custody step

/// The consortium with a second ocean carrier, and a ledger on its
/// genesis.
fn with_second_carrier() -> (Consortium, Party, Ledger) {
    let c = Consortium::new();
    let carrier2 = Party::new("Pacific Lines", 41, &[Role::Carrier]);
    let genesis = with_members(&c.genesis, &[&carrier2]);
    let l = Ledger::new(&genesis);
    (c, carrier2, l)
}

/// 600 kg of GREEN-1 produced, 500 kg of it dispatched in S-1 to the
/// processor, by the carrier when `carrier` says so.
fn shipped(l: &mut Ledger, c: &Consortium, carrier: bool) -> SignedEntry {
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("500")))],
            &c.processor.pk,
            carrier.then_some(&c.carrier.pk),
        ),
    )
}

fn undo(target: &SignedEntry, shipment: &str) -> Body {
    correct_receipt(target.id(), shipment, "quantities keyed in wrong")
}

fn step_of(l: &Ledger, id: &str) -> LatestStep {
    l.state
        .shipment(&ship(id))
        .unwrap()
        .latest_step
        .clone()
        .expect("a custody step")
}

/// Who has the part of `lot_id` in `shipment`, and how much.
fn in_transit(l: &Ledger, lot_id: &str, shipment: &str) -> Option<(PublicKey, Decimal3)> {
    lot_of(l, lot_id)
        .in_shipment(&ship(shipment))
        .map(|h| (h.holder, h.quantity))
}

fn checked(l: &Ledger, when: &str) {
    assert_balanced(&l.state, when);
    assert_single_custody(&l.state, when);
}

#[test]
fn a_receipt_with_a_wrong_shortfall_is_corrected_and_recorded_again() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, true);
    l.record(&c.carrier, receive("S-1"));
    // 500 kg arrived; the roaster keys 480 kg and 20 kg damaged.
    let wrong = l.record(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("480"),
                Some((kg("20"), LossCause::Damage)),
            )],
        ),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(
        (g.held_by(&l.state, &c.processor.pk), g.lost),
        (dec("480"), dec("20"))
    );
    let step = step_of(&l, "S-1");
    assert_eq!(
        (step.entry, step.kind, step.from),
        (wrong.id(), StepKind::ReceiptFromCarrier, c.carrier.pk)
    );
    assert_eq!(
        step.lots(),
        [StepLot {
            lot: lot("GREEN-1"),
            received: dec("480"),
            lost: dec("20"),
        }]
    );

    let fix = l.record(&c.processor, undo(&wrong, "S-1"));
    checked(&l, "after the correction");
    // Back in transit with the carrier, all 500 kg, nothing lost.
    assert_eq!(stage(&l, "S-1"), ShipmentStage::WithCarrier);
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.carrier.pk, dec("500")))
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.lost, Decimal3::ZERO);
    assert_eq!(g.held_by(&l.state, &c.processor.pk), Decimal3::ZERO);
    assert_eq!(g.held_by(&l.state, &c.producer.pk), dec("100"));
    let step = step_of(&l, "S-1");
    assert_eq!(
        (step.entry, step.corrected_by()),
        (wrong.id(), Some(fix.id()))
    );
    assert!(step.lots().is_empty());

    // A second correction of the same receipt names the first.
    let err = l.refuse(&l.sign(&c.processor, undo(&wrong, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            "receipt of shipment S-1",
            "already corrected",
            &fix.id().short(),
        ],
    );

    // The roaster records the receipt again, right this time.
    let right = l.record(&c.processor, receive("S-1"));
    checked(&l, "after the second receipt");
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(
        (g.held_by(&l.state, &c.processor.pk), g.lost),
        (dec("500"), Decimal3::ZERO)
    );
    let step = step_of(&l, "S-1");
    assert_eq!((step.entry, step.corrected_by()), (right.id(), None));
    // The wrong receipt is no longer the latest step.
    let err = l.refuse(&l.sign(&c.processor, undo(&wrong, "S-1")));
    assert_mentions(
        &err,
        &[
            &wrong.id().short(),
            "did not make the latest custody step of shipment S-1",
            &right.id().short(),
            "latest back",
        ],
    );
    // The goods are the roaster's to use.
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "420", &[("GREEN-1", "500")]),
    );
    checked(&l, "after the roasting");
}

#[test]
fn a_receipt_straight_from_the_sender_goes_back_to_the_sender() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let d = shipped(&mut l, &c, false);
    let r = l.record(&c.processor, receive("S-1"));
    assert_eq!(step_of(&l, "S-1").kind, StepKind::ReceiptFromSender);
    l.record(&c.processor, undo(&r, "S-1"));
    checked(&l, "after the correction");
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Dispatched);
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.producer.pk, dec("500")))
    );
    // From the latest back: now the dispatch itself may be corrected.
    l.record(&c.producer, cancel(&d, "S-1"));
    checked(&l, "after the cancellation");
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.producer.pk),
        dec("600")
    );
}

#[test]
fn a_take_over_corrected_puts_the_shipment_back_with_its_sender() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let d = shipped(&mut l, &c, true);
    // The carrier keys 10 kg short though all of it was loaded.
    let t = l.record(
        &c.carrier,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("490"),
                Some((kg("10"), LossCause::Shortage)),
            )],
        ),
    );
    let step = step_of(&l, "S-1");
    assert_eq!(
        (step.kind, step.from, step.lots().len()),
        (StepKind::TakeOver, c.producer.pk, 1)
    );
    assert_eq!(lot_of(&l, "GREEN-1").lost, dec("10"));
    // The consignee may not correct the carrier's take-over.
    let err = l.refuse(&l.sign(&c.processor, undo(&t, "S-1")));
    assert_mentions(
        &err,
        &[
            &c.processor.name,
            "may not correct",
            "the take-over of shipment S-1",
            &c.carrier.name,
        ],
    );
    let fix = l.record(&c.carrier, undo(&t, "S-1"));
    checked(&l, "after the correction");
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Dispatched);
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.producer.pk, dec("500")))
    );
    assert_eq!(lot_of(&l, "GREEN-1").lost, Decimal3::ZERO);
    let err = l.refuse(&l.sign(&c.carrier, undo(&t, "S-1")));
    assert_mentions(
        &err,
        &[
            "take-over of shipment S-1",
            "already corrected",
            &fix.id().short(),
        ],
    );
    // The carrier takes it over again, whole, and delivers it.
    l.record(&c.carrier, receive("S-1"));
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.carrier.pk, dec("500")))
    );
    l.record(&c.processor, receive("S-1"));
    checked(&l, "after the delivery");
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &c.processor.pk),
        dec("500")
    );
    // The dispatch, long taken over again, stays.
    let err = l.refuse(&l.sign(&c.producer, cancel(&d, "S-1")));
    assert_mentions(&err, &["S-1", "delivered"]);
}

#[test]
fn a_take_over_that_lost_everything_is_corrected_back_in_full() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, true);
    let t = l.record(
        &c.carrier,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("0"),
                Some((kg("500"), LossCause::Theft)),
            )],
        ),
    );
    assert_eq!(in_transit(&l, "GREEN-1", "S-1"), None);
    l.record(&c.carrier, undo(&t, "S-1"));
    checked(&l, "after the correction");
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.producer.pk, dec("500")))
    );
    assert_eq!(lot_of(&l, "GREEN-1").lost, Decimal3::ZERO);
}

#[test]
fn a_handover_corrected_gives_custody_back_to_the_previous_carrier() {
    let (c, carrier2, mut l) = with_second_carrier();
    shipped(&mut l, &c, true);
    l.record(&c.carrier, receive("S-1"));
    let h = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    l.commit(&h);
    let step = step_of(&l, "S-1");
    assert_eq!(
        (step.entry, step.kind, step.from, step.rest.is_none()),
        (h.id(), StepKind::Handover, c.carrier.pk, true)
    );
    // The next carrier co-signed it but did not author it.
    let err = l.refuse(&l.sign(&carrier2, undo(&h, "S-1")));
    assert_mentions(
        &err,
        &[
            &carrier2.name,
            "may not correct",
            "the handover of shipment S-1",
            &c.carrier.name,
        ],
    );
    l.record(&c.carrier, undo(&h, "S-1"));
    checked(&l, "after the correction");
    let s = l.state.shipment(&ship("S-1")).unwrap();
    assert_eq!(
        (s.stage, s.carrier),
        (ShipmentStage::WithCarrier, Some(c.carrier.pk))
    );
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.carrier.pk, dec("500")))
    );
    // The second carrier no longer holds it; the first hands it on again.
    let err = l.refuse(&cosigned(
        l.sign(&carrier2, handover("S-1", &c.carrier.pk)),
        &[&c.carrier],
    ));
    assert!(matches!(err, RuleError::Handover(_)), "{err:?}");
    let again = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    l.commit(&again);
    checked(&l, "after the second handover");
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((carrier2.pk, dec("500")))
    );
    // An admin quorum may correct it too; custody goes to the carrier, not
    // the admin.
    let e = cosigned(l.sign(&c.admins[0], undo(&again, "S-1")), &[&c.admins[1]]);
    l.commit(&e);
    checked(&l, "after the quorum's correction");
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.carrier.pk, dec("500")))
    );
}

#[test]
fn only_the_latest_step_may_be_corrected() {
    let (c, carrier2, mut l) = with_second_carrier();
    shipped(&mut l, &c, true);
    let t = l.record(&c.carrier, receive("S-1"));
    let h = cosigned(
        l.sign(&c.carrier, handover("S-1", &carrier2.pk)),
        &[&carrier2],
    );
    l.commit(&h);
    let err = l.refuse(&l.sign(&c.carrier, undo(&t, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            &t.id().short(),
            "did not make the latest custody step of shipment S-1",
            "the latest is its handover",
            &h.id().short(),
            "latest back",
        ],
    );
    // Once the handover is corrected, the take-over is no longer the
    // latest step either: the state keeps only the latest.
    let fix = l.record(&c.carrier, undo(&h, "S-1"));
    let err = l.refuse(&l.sign(&c.carrier, undo(&t, "S-1")));
    assert_mentions(
        &err,
        &[
            &t.id().short(),
            "the latest was its handover",
            &fix.id().short(),
            "can no longer be corrected",
        ],
    );
    let err = l.refuse(&l.sign(&c.carrier, undo(&h, "S-1")));
    assert_mentions(&err, &["already corrected"]);
    // After a rejection the take-over is closed for good.
    let mut l2 = Ledger::new(&with_members(&c.genesis, &[&carrier2]));
    shipped(&mut l2, &c, true);
    let t2 = l2.record(&c.carrier, receive("S-1"));
    l2.record(&c.processor, reject("S-1", "wrong beans"));
    let err = l2.refuse(&l2.sign(&c.carrier, undo(&t2, "S-1")));
    assert_mentions(
        &err,
        &[
            "shipment S-1 is rejected since its take-over",
            &t2.id().short(),
            "can no longer be corrected",
        ],
    );
}

#[test]
fn a_receipt_cannot_be_corrected_once_the_goods_moved_on() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, false);
    let r = l.record(&c.processor, receive("S-1"));
    // Part of it shipped on.
    let on = l.record(
        &c.processor,
        dispatch_v2("S-2", &[("GREEN-1", Some(kg("200")))], &c.retailer.pk, None),
    );
    let err = l.refuse(&l.sign(&c.processor, undo(&r, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            "receipt of shipment S-1",
            &c.processor.name,
            "received 500",
            "GREEN-1",
            "holds 300",
            "latest back",
        ],
    );
    // From the latest back: the onward dispatch first, then the receipt.
    l.record(&c.processor, cancel(&on, "S-2"));
    l.record(&c.processor, undo(&r, "S-1"));
    checked(&l, "after both corrections");

    // Used as an input.
    l.record(&c.processor, receive("S-1"));
    let r = step_of(&l, "S-1");
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "100", &[("GREEN-1", "120")]),
    );
    let err = l.refuse(&l.sign(
        &c.processor,
        correct_receipt(r.entry, "S-1", "wrong quantity"),
    ));
    assert_mentions(&err, &["holds 380", "latest back"]);
}

#[test]
fn a_receipt_merged_with_other_holdings_is_corrected_while_enough_is_held() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    // 100 kg earlier, then 500 kg with 20 kg short.
    l.record(
        &c.producer,
        dispatch_v2(
            "S-0",
            &[("GREEN-1", Some(kg("100")))],
            &c.processor.pk,
            None,
        ),
    );
    l.record(&c.processor, receive("S-0"));
    l.record(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("500")))],
            &c.processor.pk,
            None,
        ),
    );
    let r = l.record(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("480"),
                Some((kg("20"), LossCause::Spoilage)),
            )],
        ),
    );
    // 580 held; 150 used leaves 430, less than the 480 received.
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "120", &[("GREEN-1", "150")]),
    );
    let err = l.refuse(&l.sign(&c.processor, undo(&r, "S-1")));
    assert_mentions(&err, &["received 480", "holds 430"]);

    // 100 used instead leaves 480: enough, whichever kilograms they are.
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch_v2(
            "S-0",
            &[("GREEN-1", Some(kg("100")))],
            &c.processor.pk,
            None,
        ),
    );
    l.record(&c.processor, receive("S-0"));
    l.record(
        &c.producer,
        dispatch_v2(
            "S-1",
            &[("GREEN-1", Some(kg("500")))],
            &c.processor.pk,
            None,
        ),
    );
    let r = l.record(
        &c.processor,
        receive_v2(
            "S-1",
            &[received(
                "GREEN-1",
                kg("480"),
                Some((kg("20"), LossCause::Spoilage)),
            )],
        ),
    );
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "80", &[("GREEN-1", "100")]),
    );
    l.record(&c.processor, undo(&r, "S-1"));
    checked(&l, "after the correction");
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(
        (g.held_by(&l.state, &c.processor.pk), g.consumed, g.lost),
        (Decimal3::ZERO, dec("100"), Decimal3::ZERO)
    );
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.producer.pk, dec("500")))
    );
}

#[test]
fn a_receipt_is_corrected_by_the_consignee_or_an_admin_quorum_only() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, true);
    l.record(&c.carrier, receive("S-1"));
    let r = l.record(&c.processor, receive("S-1"));
    for who in [&c.carrier, &c.producer, &c.admins[0]] {
        let err = l.refuse(&l.sign(who, undo(&r, "S-1")));
        assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
        assert_mentions(
            &err,
            &[
                &who.name,
                "may not correct",
                "the receipt of shipment S-1",
                &c.processor.name,
                "only its author",
            ],
        );
    }
    let e = cosigned(l.sign(&c.admins[0], undo(&r, "S-1")), &[&c.admins[2]]);
    l.commit(&e);
    checked(&l, "after the quorum's correction");
    // The goods are back with the carrier, not the admin.
    assert_eq!(
        in_transit(&l, "GREEN-1", "S-1"),
        Some((c.carrier.pk, dec("500")))
    );
}

#[test]
fn a_receipt_correction_must_name_the_step_and_its_shipment() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    let d = shipped(&mut l, &c, true);
    // Nothing has happened to the shipment since its dispatch.
    let err = l.refuse(&l.sign(&c.producer, undo(&d, "S-1")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[
            "S-1",
            "has not been taken over",
            &d.id().short(),
            "as a shipment",
        ],
    );
    let t = l.record(&c.carrier, receive("S-1"));
    // The dispatch named as the take-over; an id that is no entry.
    let err = l.refuse(&l.sign(&c.carrier, undo(&d, "S-1")));
    assert_mentions(
        &err,
        &[&d.id().short(), "did not make the latest", &t.id().short()],
    );
    let bogus = Hash32::digest(b"nothing");
    let err = l.refuse(&l.sign(&c.carrier, correct_receipt(bogus, "S-1", "typo")));
    assert_mentions(&err, &[&bogus.short(), "S-1"]);
    // The take-over named as the receipt of another shipment.
    let err = l.refuse(&l.sign(&c.carrier, undo(&t, "S-404")));
    assert!(matches!(err, RuleError::UnknownShipment(_)), "{err:?}");
    // The take-over named as a dispatch.
    let err = l.refuse(&l.sign(&c.carrier, cancel(&t, "S-1")));
    assert_mentions(&err, &[&t.id().short(), "shipment S-1", &d.id().short()]);
}

#[test]
fn a_rotated_consignee_corrects_its_receipt_with_its_new_key() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, false);
    let r = l.record(&c.processor, receive("S-1"));
    let new = Party::new(&c.processor.name, 22, &[Role::Processor]);
    let e = cosigned(
        l.sign(&c.admins[0], rotate_key(&c.processor.pk, &new.pk)),
        &[&c.admins[1]],
    );
    l.commit(&e);
    l.record(&new, undo(&r, "S-1"));
    checked(&l, "after the correction");
    assert_eq!(
        lot_of(&l, "GREEN-1").held_by(&l.state, &new.pk),
        Decimal3::ZERO
    );
    // The new key receives it again.
    l.record(&new, receive("S-1"));
    assert_eq!(lot_of(&l, "GREEN-1").held_by(&l.state, &new.pk), dec("500"));
}

// ---------------------------------------------------------------------------
// Readings

/// A temperature series from one logger, allowed 2 to 8 °C, with one
/// excursion per run of `values` above 8 °C.
fn reefer(values: &[i32]) -> waybill_core::sensor::Series {
    use waybill_core::sensor::{Measure, Range, Reading, Series};
    Series {
        device: "LOGGER-0001".into(),
        measure: Measure::Temperature,
        unit: "CEL".into(),
        range: Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        start_ms: T0,
        readings: values
            .iter()
            .zip(0u32..)
            .map(|(&value_milli, i)| Reading {
                offset_ms: i * 600_000,
                value_milli,
            })
            .collect(),
    }
}

fn strike(target: &SignedEntry, shipment: &str) -> Body {
    correction(
        target.id(),
        Corrected::Readings(ship(shipment)),
        "the logger of another container",
    )
}

fn excursions(l: &Ledger, id: &str) -> u32 {
    lot_of(l, id).excursions
}

#[test]
fn readings_corrected_are_struck_and_their_excursions_taken_back() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.producer, produce("GREEN-2", "50"));
    l.record(
        &c.producer,
        dispatch(
            "S-1",
            &["GREEN-1", "GREEN-2"],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    );
    l.record(&c.carrier, receive("S-1"));
    // Two excursions from the carrier's logger, one from the roaster's.
    let wrong = l.record(
        &c.carrier,
        readings("S-1", vec![reefer(&[5_000, 9_000, 5_000, 9_500])]),
    );
    let right = l.record(&c.processor, readings("S-1", vec![reefer(&[5_000, 8_500])]));
    assert_eq!(
        (excursions(&l, "GREEN-1"), excursions(&l, "GREEN-2")),
        (3, 3)
    );
    let marks = l.state.shipment(&ship("S-1")).unwrap().readings.clone();
    assert_eq!(
        marks
            .iter()
            .map(|m| (m.entry, m.author, m.excursions, m.corrected_by))
            .collect::<Vec<_>>(),
        vec![
            (wrong.id(), c.carrier.pk, 2, None),
            (right.id(), c.processor.pk, 1, None),
        ]
    );

    // Only its author (or an admin quorum) may strike it.
    for who in [&c.processor, &c.producer] {
        let err = l.refuse(&l.sign(who, strike(&wrong, "S-1")));
        assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
        assert_mentions(
            &err,
            &[
                &who.name,
                "may not correct",
                "the readings on shipment S-1",
                &c.carrier.name,
            ],
        );
    }
    let fix = l.record(&c.carrier, strike(&wrong, "S-1"));
    assert_eq!(
        (excursions(&l, "GREEN-1"), excursions(&l, "GREEN-2")),
        (1, 1)
    );
    let marks = l.state.shipment(&ship("S-1")).unwrap().readings.clone();
    assert_eq!(marks[0].corrected_by, Some(fix.id()));
    assert_eq!(marks[1].corrected_by, None);
    // Twice is refused, naming the first.
    let err = l.refuse(&l.sign(&c.carrier, strike(&wrong, "S-1")));
    assert_mentions(
        &err,
        &[
            "readings on shipment S-1",
            "already struck",
            &fix.id().short(),
        ],
    );
    // An admin quorum strikes the roaster's.
    let e = cosigned(l.sign(&c.admins[0], strike(&right, "S-1")), &[&c.admins[1]]);
    l.commit(&e);
    assert_eq!(
        (excursions(&l, "GREEN-1"), excursions(&l, "GREEN-2")),
        (0, 0)
    );
    checked(&l, "after the readings corrections");
    // Readings struck do not hold up the shipment.
    l.record(&c.processor, receive("S-1"));
    assert_eq!(stage(&l, "S-1"), ShipmentStage::Delivered);
}

#[test]
fn a_readings_correction_must_name_readings_of_the_shipment() {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    shipped(&mut l, &c, false);
    l.record(&c.producer, produce("GREEN-2", "50"));
    l.record(
        &c.producer,
        dispatch("S-2", &["GREEN-2"], &c.processor.pk, None),
    );
    let r1 = l.record(&c.producer, readings("S-1", vec![reefer(&[9_000])]));
    // Readings of another shipment, the dispatch, an unknown entry.
    let err = l.refuse(&l.sign(&c.producer, strike(&r1, "S-2")));
    assert!(matches!(err, RuleError::Correction(_)), "{err:?}");
    assert_mentions(
        &err,
        &[&r1.id().short(), "did not record readings on shipment S-2"],
    );
    let d = l.state.shipment(&ship("S-1")).unwrap().dispatched_by;
    let err = l.refuse(&l.sign(
        &c.producer,
        correction(d, Corrected::Readings(ship("S-1")), "typo"),
    ));
    assert_mentions(
        &err,
        &[&d.short(), "did not record readings on shipment S-1"],
    );
    let err = l.refuse(&l.sign(&c.producer, strike(&r1, "S-404")));
    assert!(matches!(err, RuleError::UnknownShipment(_)), "{err:?}");
    // Readings without excursions may be struck too; nothing to take back.
    let calm = l.record(&c.producer, readings("S-1", vec![reefer(&[5_000])]));
    l.record(&c.producer, strike(&calm, "S-1"));
    assert_eq!(excursions(&l, "GREEN-1"), 1);
    l.record(&c.producer, strike(&r1, "S-1"));
    assert_eq!(excursions(&l, "GREEN-1"), 0);
}
