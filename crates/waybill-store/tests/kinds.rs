//! The entry kinds beyond the first six, through the store: parts of lots
//! in several hands, losses, a production with its inputs under a yield
//! rule from genesis, recalls, readings, and corrections (of a
//! production, a dispatch, a payment, a receipt, a take-over and
//! readings), kept in memory, in snapshots and deltas, and in trails.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tempfile::TempDir;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::entry::{
    Body, Corrected, Correction, DispatchV2, EntryId, Kdes, LossCause, ProduceV2, Quantity,
    Readings, Recall, RecallClass, RecallLift, ReceiveV2, ReceivedLot, ShippedLot, Shortfall,
    SignedEntry,
};
use waybill_core::genesis::YieldRule;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules::{self, At, RuleError};
use waybill_core::state::{ShipmentStage, State, StepKind, StepLot, View};
use waybill_core::trail;
use waybill_store::{create_dir, Backend, Ledger, MemBackend};

use support::*;

/// The store tests' consortium, with a yield rule for the processor's
/// roasting (green to roasted coffee loses 15 to 22 percent).
fn roasting_consortium() -> Consortium {
    let mut c = consortium();
    c.genesis.yields = vec![YieldRule {
        member: Some(c.processor.name.clone()),
        product: None,
        min: Decimal3::from_milli(780),
        max: Decimal3::from_milli(850),
    }];
    c.genesis.validate().expect("a valid genesis");
    c.chain_id = c.genesis.chain_id();
    c
}

fn kg(milli: u64) -> Quantity {
    Quantity {
        value: Decimal3::from_milli(milli),
        unit: UnitCode::Kgm,
    }
}

/// A roasting of `milli` of `lot` from `inputs`, as a V2 production.
fn roast(lot: &LotId, milli: u64, inputs: &[(LotId, u64)]) -> Body {
    let Body::Produce(produce) = produce_body(lot, milli, inputs) else {
        panic!("produce_body makes a production");
    };
    Body::ProduceV2(ProduceV2 {
        produce,
        plots: None,
        kdes: Kdes::default(),
    })
}

fn dispatch_part(shipment: &ShipmentId, lot: &LotId, milli: u64, consignee: &Party) -> Body {
    dispatch_part_by(shipment, lot, milli, consignee, None)
}

fn dispatch_part_by(
    shipment: &ShipmentId,
    lot: &LotId,
    milli: u64,
    consignee: &Party,
    carrier: Option<&Party>,
) -> Body {
    Body::DispatchV2(DispatchV2 {
        shipment: shipment.clone(),
        lots: vec![ShippedLot {
            lot: lot.clone(),
            quantity: Some(kg(milli)),
        }],
        consignee: consignee.pk,
        carrier: carrier.map(|c| c.pk),
        from: Default::default(),
        to: Default::default(),
        documents: Vec::new(),
        transport: Default::default(),
        kdes: Kdes::default(),
    })
}

fn receive_short(shipment: &ShipmentId, lot: &LotId, received: u64, short: u64) -> Body {
    Body::ReceiveV2(ReceiveV2 {
        shipment: shipment.clone(),
        at: Default::default(),
        documents: Vec::new(),
        lots: vec![ReceivedLot {
            lot: lot.clone(),
            received: kg(received),
            shortfall: Some(Shortfall {
                quantity: kg(short),
                cause: LossCause::Shortage,
                note: None,
            }),
        }],
        transport: Default::default(),
        kdes: Kdes::default(),
    })
}

/// A receipt (or a carrier's take-over) of everything in `shipment`.
fn receive_whole(shipment: &ShipmentId) -> Body {
    Body::ReceiveV2(ReceiveV2 {
        shipment: shipment.clone(),
        at: Default::default(),
        documents: Vec::new(),
        lots: Vec::new(),
        transport: Default::default(),
        kdes: Kdes::default(),
    })
}

/// Temperature readings on `shipment` with one excursion above 8 °C.
fn warm_readings(shipment: &ShipmentId) -> Body {
    use waybill_core::sensor::{Measure, Range, Reading, Series};
    Body::Readings(Readings {
        shipment: shipment.clone(),
        series: vec![Series {
            device: "LOGGER-1".into(),
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
                    value_milli: 5_000,
                },
                Reading {
                    offset_ms: 600_000,
                    value_milli: 9_000,
                },
            ],
        }],
    })
}

fn correction(target: EntryId, corrected: Corrected) -> Body {
    Body::Correction(Correction {
        target,
        corrected,
        reason: "recorded in error".into(),
        corrective: Vec::new(),
    })
}

/// What the story below makes.
struct Story {
    green: LotId,
    roasted: LotId,
    voided: LotId,
    payment_correction: EntryId,
    /// The roaster's wrong receipt of S-1, its correction and the right
    /// one.
    wrong_receipt: EntryId,
    receipt_correction: EntryId,
    right_receipt: EntryId,
    /// The carrier's take-over of S-3 and its correction.
    take_over: EntryId,
    take_over_correction: EntryId,
    /// Readings on S-1, struck by `readings_correction`, and on S-3.
    wrong_readings: EntryId,
    readings_correction: EntryId,
    readings: EntryId,
    blocks: Vec<Vec<SignedEntry>>,
}

/// 10 kg of green coffee; 8 kg of it shipped to the roaster (paid for,
/// the payment struck out), 7 kg keyed as arriving, corrected to 7.5 kg;
/// 6 kg roasted into 5 kg (within the yield rule); the roast recalled and
/// the recall lifted; a second lot produced in error and voided; a
/// shipment dispatched in error and cancelled; 1 kg dispatched with a
/// carrier whose take-over is corrected, so it waits with the sender;
/// readings with an excursion on each of the two, the first struck.
fn story(c: &Consortium) -> Story {
    // Signed in chain order: each author's nonces follow each other.
    let mut s = Signer::new(c);
    let (green, roasted, voided) = (lot("GREEN-1"), lot("ROAST-1"), lot("OOPS-1"));
    let (s1, s2, s3) = (ship("S-1"), ship("S-2"), ship("S-3"));
    let first = vec![
        s.produce(&c.producer, &green, 10_000, &[]),
        s.sign(&c.producer, dispatch_part(&s1, &green, 8_000, &c.processor)),
    ];
    let pay = s.payment(
        &c.payer,
        uetr(7),
        &c.producer,
        80_000,
        std::slice::from_ref(&s1),
    );
    let oops = s.produce(&c.producer, &voided, 1_000, &[]);
    let stray = s.sign(&c.producer, dispatch_part(&s2, &green, 1_000, &c.retailer));
    let by_carrier = s.sign(
        &c.producer,
        dispatch_part_by(&s3, &green, 1_000, &c.retailer, Some(&c.carrier)),
    );
    let second = vec![pay.clone(), oops.clone(), stray.clone(), by_carrier];
    let payment_correction = s.sign(&c.payer, correction(pay.id(), Corrected::Payment(uetr(7))));
    let wrong_receipt = s.sign(&c.processor, receive_short(&s1, &green, 7_000, 1_000));
    let take_over = s.sign(&c.carrier, receive_whole(&s3));
    let third = vec![
        payment_correction.clone(),
        wrong_receipt.clone(),
        s.sign(
            &c.producer,
            correction(oops.id(), Corrected::Lot(voided.clone())),
        ),
        s.sign(&c.producer, correction(stray.id(), Corrected::Shipment(s2))),
        take_over.clone(),
    ];
    let receipt_correction = s.sign(
        &c.processor,
        correction(wrong_receipt.id(), Corrected::Receipt(s1.clone())),
    );
    let right_receipt = s.sign(&c.processor, receive_short(&s1, &green, 7_500, 500));
    let take_over_correction = s.sign(
        &c.carrier,
        correction(take_over.id(), Corrected::Receipt(s3.clone())),
    );
    let wrong_readings = s.sign(&c.processor, warm_readings(&s1));
    let readings_correction = s.sign(
        &c.processor,
        correction(wrong_readings.id(), Corrected::Readings(s1.clone())),
    );
    let readings = s.sign(&c.producer, warm_readings(&s3));
    let corrected = vec![
        receipt_correction.clone(),
        right_receipt.clone(),
        take_over_correction.clone(),
        wrong_readings.clone(),
        readings_correction.clone(),
        readings.clone(),
    ];
    let roast_entry = s.sign(
        &c.processor,
        roast(&roasted, 5_000, &[(green.clone(), 6_000)]),
    );
    let recall = s.sign(
        &c.processor,
        Body::Recall(Recall {
            lots: vec![roasted.clone()],
            class: RecallClass::Withdrawal,
            reason: "label misprint".into(),
            scope: "all".into(),
            documents: Vec::new(),
        }),
    );
    let fourth = vec![roast_entry, recall.clone()];
    let fifth = vec![s.sign(
        &c.processor,
        Body::RecallLift(RecallLift {
            recall: recall.id(),
            lots: vec![roasted.clone()],
            reason: "relabelled".into(),
        }),
    )];
    Story {
        green,
        roasted,
        voided,
        payment_correction: payment_correction.id(),
        wrong_receipt: wrong_receipt.id(),
        receipt_correction: receipt_correction.id(),
        right_receipt: right_receipt.id(),
        take_over: take_over.id(),
        take_over_correction: take_over_correction.id(),
        wrong_readings: wrong_readings.id(),
        readings_correction: readings_correction.id(),
        readings: readings.id(),
        blocks: vec![first, second, third, corrected, fourth, fifth],
    }
}

/// The state the rules give for the ledger's blocks, from genesis.
fn replayed<B: Backend>(c: &Consortium, ledger: &Ledger<B>) -> State {
    let mut state = State::genesis(&c.genesis);
    for h in 1..=ledger.height() {
        let block = ledger.block(h).expect("read").expect("a block");
        let applied = rules::apply_block(&state, &block.entries, At::new(h, block.header.time_ms))
            .unwrap_or_else(|(i, e)| panic!("block {h} entry {i}: {e}"));
        state.commit(applied.changes);
    }
    state
}

/// Checks the ledger's state and the story's trails.
fn assert_story<B: Backend>(c: &Consortium, ledger: &Ledger<B>, story: &Story) {
    let state = ledger.state().to_state();
    assert_eq!(
        state,
        replayed(c, ledger),
        "the compact state is the rules' state"
    );
    assert_eq!(ledger.state().yields(), &c.genesis.yields[..]);
    let green = &state.lots[&story.green];
    // 1 kg never shipped and 1 kg back from the cancelled shipment; 1 kg
    // in S-3, back with its sender; 1.5 kg of the 7.5 kg that arrived
    // left after roasting. The wrong receipt's 1 kg lost was restored.
    assert_eq!(green.remaining().milli(), 3_500);
    assert_eq!(green.lost.milli(), 500);
    assert_eq!(green.consumed.milli(), 6_000);
    assert_eq!(green.held_by(ledger.state(), &c.producer.pk).milli(), 1_000);
    assert_eq!(
        green.held_by(ledger.state(), &c.processor.pk).milli(),
        1_500
    );
    let s3 = green.in_shipment(&ship("S-3")).expect("S-3 in transit");
    assert_eq!((s3.holder, s3.quantity.milli()), (c.producer.pk, 1_000));
    // Each shipment remembers its latest custody step, corrected or not.
    let step = |id: &str| {
        state.shipments[&ship(id)]
            .latest_step
            .clone()
            .expect("a custody step")
    };
    let s1 = step("S-1");
    assert_eq!(
        (s1.entry, s1.kind, s1.corrected_by()),
        (story.right_receipt, StepKind::ReceiptFromSender, None)
    );
    assert_eq!(
        s1.lots(),
        [StepLot {
            lot: story.green.clone(),
            received: Decimal3::from_milli(7_500),
            lost: Decimal3::from_milli(500),
        }]
    );
    let s3 = step("S-3");
    assert_eq!(
        (s3.entry, s3.kind, s3.corrected_by()),
        (
            story.take_over,
            StepKind::TakeOver,
            Some(story.take_over_correction)
        )
    );
    assert_eq!(
        state.shipments[&ship("S-3")].stage,
        ShipmentStage::Dispatched
    );
    // Each shipment remembers its readings; the struck ones' excursion is
    // off the lot.
    let marks = |id: &str| {
        state.shipments[&ship(id)]
            .readings
            .iter()
            .map(|m| (m.entry, m.author, m.excursions, m.corrected_by))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        marks("S-1"),
        [(
            story.wrong_readings,
            c.processor.pk,
            1,
            Some(story.readings_correction)
        )]
    );
    assert_eq!(marks("S-3"), [(story.readings, c.producer.pk, 1, None)]);
    assert_eq!(green.excursions, 1);
    let roasted = &state.lots[&story.roasted];
    assert_eq!(
        roasted.inputs,
        vec![(story.green.clone(), Decimal3::from_milli(6_000))]
    );
    assert_eq!(roasted.recalls.len(), 1);
    assert_eq!(roasted.open_recalls().count(), 0);
    assert!(state.lots[&story.voided].voided_by.is_some());
    assert_eq!(
        state.payments[&uetr(7)].corrected_by,
        Some(story.payment_correction)
    );
    assert_eq!(
        ledger.made_from(&story.green).expect("made"),
        vec![story.roasted.clone()]
    );
    // The roast's trail reaches the green coffee through the V2
    // production, and carries the payment for its shipment with the
    // payment's correction.
    let t = ledger.trail(&story.roasted).expect("trail");
    let ids: Vec<EntryId> = t.items.iter().map(|i| i.entry.id()).collect();
    assert!(
        ids.contains(&story.payment_correction),
        "the payment's correction is in the trail"
    );
    let report = trail::verify(
        &c.genesis,
        &t,
        trail::Policy {
            require_certificates: false,
        },
    )
    .unwrap_or_else(|e| panic!("the roast's trail does not verify: {e}"));
    let origins: Vec<&LotId> = report.origins.iter().map(|o| &o.lot).collect();
    assert_eq!(origins, [&story.roasted, &story.green]);
    // The cancelled shipment's, the payment's, the receipt's, the
    // take-over's and the readings'; the wrong receipt and the take-over
    // struck, the right receipt not; one excursion struck, one not.
    assert_eq!(report.corrections.len(), 5, "{:?}", report.corrections);
    let excursions: Vec<(EntryId, bool)> = report
        .excursions
        .iter()
        .map(|x| (x.entry_id, x.corrected.is_some()))
        .collect();
    assert_eq!(
        excursions,
        [(story.wrong_readings, true), (story.readings, false)]
    );
    let targets: Vec<EntryId> = report.corrections.iter().map(|x| x.target).collect();
    assert!(targets.contains(&story.wrong_receipt) && targets.contains(&story.take_over));
    assert!(ids.contains(&story.receipt_correction));
    let struck = |id: EntryId| {
        report
            .custody
            .iter()
            .find(|x| x.entry_id == id)
            .unwrap_or_else(|| panic!("no custody step {}", id.short()))
            .corrected
            .is_some()
    };
    assert!(struck(story.wrong_receipt) && struck(story.take_over));
    assert!(!struck(story.right_receipt));
    assert_eq!(report.recalls.len(), 1);
    for lot in state.lots.keys() {
        verify_trail(c, &ledger.trail(lot).expect("trail"));
    }
}

/// A roasting below the yield rule's minimum: refused on every path the
/// state is built by.
fn assert_yield_refused<B: Backend>(c: &Consortium, ledger: &Ledger<B>, story: &Story) {
    let mut s = Signer::from_state(&ledger.state().to_state());
    let thin = s.sign(
        &c.processor,
        roast(&lot("THIN-1"), 500, &[(story.green.clone(), 1_000)]),
    );
    let now = next_time(ledger);
    match ledger.check_entry(&thin, now) {
        Err(RuleError::Yield(_)) => {}
        other => panic!("a roast of 50% passed the 78% yield rule: {other:?}"),
    }
}

#[test]
fn new_kinds_keep_their_state_through_snapshots_deltas_and_trails() {
    let c = roasting_consortium();
    let story = story(&c);
    let mut mem = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    for b in &story.blocks {
        append_block(&c, &mut mem, b.clone());
    }
    assert_story(&c, &mem, &story);
    assert_yield_refused(&c, &mem, &story);
    mem.check().expect("the ledger checks");

    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut disk = create_dir(&dir, c.genesis.clone()).expect("create");
    let (first, rest) = story.blocks.split_at(2);
    for b in first {
        append_block(&c, &mut disk, b.clone());
    }
    // Reopened from deltas alone.
    drop(disk);
    let mut disk = reopen(&dir).expect("reopen");
    for b in rest {
        append_block(&c, &mut disk, b.clone());
    }
    assert_eq!(disk.state(), mem.state());
    assert_yield_refused(&c, &disk, &story);
    // Reopened from a snapshot.
    disk.snapshot().expect("snapshot");
    drop(disk);
    let disk = reopen(&dir).expect("reopen");
    assert_eq!(disk.state(), mem.state());
    assert_eq!(disk.state().digest(), mem.state().digest());
    assert_story(&c, &disk, &story);
    assert_yield_refused(&c, &disk, &story);
    assert_eq!(
        disk.trail(&story.roasted).expect("trail"),
        mem.trail(&story.roasted).expect("trail")
    );
    disk.check().expect("the reopened ledger checks");
}
