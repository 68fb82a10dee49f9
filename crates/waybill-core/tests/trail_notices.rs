//! Trails with the issue-25 entries: recalls (of the lot or an ancestor,
//! open, then lifted), corrections striking the steps they correct,
//! partial and multi-leg shipments with shortfalls, a take-over, a
//! handover and a receipt each corrected and recorded again, readings
//! struck with their excursions, and the lies a node or a dishonest
//! proposer could tell: hiding a correction later entries depend on,
//! hiding a recall its lifting depends on, a forged recall by a member
//! without the right, a handover signed by one side only, an entry dated
//! after its block; and audit bundles of such trails, which verify
//! offline and fail when a recall's reason is changed or a correction a
//! later entry depends on is left out.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::bundle::{Bundle, BundleBody, BundleError, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::entry::{Body, Corrected, LossCause, RecallClass, SignedEntry};
use waybill_core::genesis::{Genesis, Role};
use waybill_core::trail::{self, Policy, Trail, TrailError, TrailReport};

const GREEN: &str = "GREEN-HUILA-2024";
const ROASTED: &str = "ROASTED-HH-0042";
const ROASTED_BAD: &str = "ROASTED-HH-0041";
const S_WRONG: &str = "S-WRONG-1";
const S_GREEN: &str = "S-BUN-HAM-7";
const RECALL_REASON: &str = "ochratoxin A above the EU limit";
const LIFT_REASON: &str = "second laboratory: sample mixed up";

const NO_CERTS: Policy = Policy {
    require_certificates: false,
};

struct Story {
    c: Consortium,
    genesis: Genesis,
    carrier2: Party,
    chain: Chain,
    /// The dispatch to the wrong consignee, cancelled by `cancel`.
    wrong_dispatch: SignedEntry,
    cancel: SignedEntry,
    /// The roasting keyed in wrong, voided by `void`.
    bad_roast: SignedEntry,
    void: SignedEntry,
    /// The payment struck out by a correction.
    bad_payment: SignedEntry,
}

/// Records `body` by `who` alone in the next block of `chain`.
fn push(chain: &mut Chain, c: &Consortium, who: &Party, body: Body) -> SignedEntry {
    let e = chain.sign(who, body);
    push_signed(chain, c, e)
}

/// Records a signed entry alone in the next block of `chain`.
fn push_signed(chain: &mut Chain, c: &Consortium, e: SignedEntry) -> SignedEntry {
    let v = c.validators[0].0.clone();
    chain.push_block(&v, vec![e.clone()]);
    e
}

impl Story {
    fn push(&mut self, who: &Party, body: Body) -> SignedEntry {
        push(&mut self.chain, &self.c, who, body)
    }

    fn trail(&self, lot_id: &str) -> Trail {
        store_trail(&self.c, &self.chain, &lot(lot_id), None)
    }

    fn verify(&self, t: &Trail) -> TrailReport {
        match trail::verify(&self.genesis, t, NO_CERTS) {
            Ok(r) => r,
            Err(e) => panic!("an honest trail was refused: {e}"),
        }
    }

    fn verify_err(&self, t: &Trail) -> TrailError {
        match trail::verify(&self.genesis, t, NO_CERTS) {
            Ok(r) => panic!("the trail verified, expected a failure: {r:?}"),
            Err(e) => {
                assert!(!e.to_string().trim().is_empty());
                e
            }
        }
    }
}

/// Green coffee is dispatched to the wrong consignee and the dispatch is
/// corrected; 500 kg are then shipped to the roaster by two ocean
/// carriers, 10 kg arriving damaged; a roasting keyed in wrong is voided
/// and done again; a payment for the shipment is struck out and made
/// again. No recall yet.
fn story() -> Story {
    let c = Consortium::new();
    let carrier2 = Party::new("Pacific Lines", 41, &[Role::Carrier]);
    let genesis = with_members(&c.genesis, &[&carrier2]);
    let mut chain = Chain::new(&genesis);
    let ch = &mut chain;

    let mut green = produce_v2_body(GREEN, "600");
    green.produce.origin = place("Pitalito, Huila", "CO");
    push(ch, &c, &c.producer, Body::ProduceV2(green));
    // A lot of the brand's, which has nothing to do with the story.
    push(ch, &c, &c.brand, produce("BISCUITS-1", "100"));

    let wrong_dispatch = push(
        ch,
        &c,
        &c.producer,
        dispatch_v2(
            S_WRONG,
            &[(GREEN, Some(kg("200")))],
            &c.distributor.pk,
            None,
        ),
    );
    let cancel = push(
        ch,
        &c,
        &c.producer,
        correction(
            wrong_dispatch.id(),
            Corrected::Shipment(ship(S_WRONG)),
            "wrong consignee",
        ),
    );
    let mut d = dispatch_v2_body(
        S_GREEN,
        &[(GREEN, Some(kg("500")))],
        &c.processor.pk,
        Some(&c.carrier.pk),
    );
    d.from = place("Port of Buenaventura", "CO");
    push(ch, &c, &c.producer, Body::DispatchV2(d));
    push(ch, &c, &c.carrier, receive_v2(S_GREEN, &[]));
    let h = cosigned(
        ch.sign(&c.carrier, handover(S_GREEN, &carrier2.pk)),
        &[&carrier2],
    );
    push_signed(ch, &c, h);
    push(
        ch,
        &c,
        &c.processor,
        receive_v2(
            S_GREEN,
            &[received(
                GREEN,
                kg("490"),
                Some((kg("10"), LossCause::Damage)),
            )],
        ),
    );
    let bad_roast = push(
        ch,
        &c,
        &c.processor,
        produce_from(ROASTED_BAD, "4100", &[(GREEN, "490")]),
    );
    let void = push(
        ch,
        &c,
        &c.processor,
        correction(
            bad_roast.id(),
            Corrected::Lot(lot(ROASTED_BAD)),
            "4100 kg keyed for 410 kg",
        ),
    );
    push(
        ch,
        &c,
        &c.processor,
        produce_from(ROASTED, "410", &[(GREEN, "490")]),
    );
    let bad_payment = push(
        ch,
        &c,
        &c.payer,
        pay(
            uetr(1),
            &c.payer.pk,
            &c.producer.pk,
            185_000_000,
            &[S_GREEN],
        ),
    );
    push(
        ch,
        &c,
        &c.payer,
        correction(
            bad_payment.id(),
            Corrected::Payment(uetr(1)),
            "amount entered in cents twice",
        ),
    );
    push(
        ch,
        &c,
        &c.payer,
        pay(uetr(2), &c.payer.pk, &c.producer.pk, 1_850_000, &[S_GREEN]),
    );
    Story {
        c,
        genesis,
        carrier2,
        chain,
        wrong_dispatch,
        cancel,
        bad_roast,
        void,
        bad_payment,
    }
}

fn position(t: &Trail, id: &waybill_core::entry::EntryId) -> usize {
    t.items
        .iter()
        .position(|i| i.entry.id() == *id)
        .expect("no such item")
}

// ---------------------------------------------------------------------------
// Honest trails

#[test]
fn corrections_strike_the_steps_they_correct() {
    let s = story();
    let t = s.trail(ROASTED);
    let r = s.verify(&t);
    let c = &s.c;
    assert_eq!(r.custodian, c.processor.name);
    assert_eq!(r.status, format!("410 KGM held by {}", c.processor.name));
    assert!(r.recalls.is_empty());

    // Three corrections: the dispatch, the roasting and the payment.
    let targets: Vec<_> = r.corrections.iter().map(|x| x.target).collect();
    assert_eq!(
        targets,
        vec![s.wrong_dispatch.id(), s.bad_roast.id(), s.bad_payment.id()]
    );
    let cancel = &r.corrections[0];
    assert_eq!(cancel.what, format!("the dispatch of shipment {S_WRONG}"));
    assert_eq!(
        (cancel.by.as_str(), cancel.reason.as_str()),
        (c.producer.name.as_str(), "wrong consignee")
    );
    assert_eq!(cancel.entry_id, s.cancel.id());
    assert_eq!(
        r.corrections[1].what,
        format!("the production of lot {ROASTED_BAD}")
    );

    // The corrected custody steps are struck, with who and why; the
    // others are not.
    let struck: Vec<_> = r
        .custody
        .iter()
        .filter(|x| x.corrected.is_some())
        .map(|x| x.entry_id)
        .collect();
    assert_eq!(struck, vec![s.wrong_dispatch.id(), s.bad_roast.id()]);
    let wrong = r
        .custody
        .iter()
        .find(|x| x.entry_id == s.wrong_dispatch.id())
        .unwrap();
    let why = wrong.corrected.as_deref().unwrap();
    assert!(
        why.contains(&c.producer.name)
            && why.contains("wrong consignee")
            && why.contains(&s.cancel.id().short()),
        "{why}"
    );
    // The struck payment, and the good one.
    let pays: Vec<_> = r
        .payments
        .iter()
        .map(|p| (p.payment_id.clone(), p.corrected.is_some()))
        .collect();
    assert_eq!(
        pays,
        vec![(uetr(1).to_string(), true), (uetr(2).to_string(), false)]
    );
    assert!(r.payments[0]
        .corrected
        .as_deref()
        .unwrap()
        .contains("cents"));
    // No origin of this lot's lineage was voided.
    assert!(r.origins.iter().all(|o| o.corrected.is_none()));
}

#[test]
fn a_voided_lots_trail_shows_its_origin_struck() {
    let s = story();
    let t = s.trail(ROASTED_BAD);
    let r = s.verify(&t);
    assert_eq!(r.origins[0].lot, lot(ROASTED_BAD));
    let why = r.origins[0]
        .corrected
        .as_deref()
        .expect("the origin is struck");
    assert!(why.contains("4100 kg keyed for 410 kg"), "{why}");
    assert!(r.origins[1].corrected.is_none());
    assert_eq!(r.custodian, "nobody");
    assert!(
        r.status.contains("voided") && r.status.contains(&s.void.id().short()),
        "{}",
        r.status
    );
}

#[test]
fn a_correction_of_a_derived_lot_gives_its_input_back_in_the_inputs_trail() {
    // The green lot's trail holds the bad roasting (it consumed green
    // coffee) and its correction; the roasted lots are outside the green
    // lot's scope, but the correction still gives the green coffee back,
    // or the second roasting would use coffee already consumed.
    let s = story();
    let t = s.trail(GREEN);
    assert!(t.items.iter().any(|i| i.entry.id() == s.void.id()));
    let r = s.verify(&t);
    assert_eq!(r.custodian, s.c.producer.name);
    assert_eq!(r.status, format!("100 KGM held by {}", s.c.producer.name));
    let struck: Vec<_> = r
        .custody
        .iter()
        .filter(|x| x.corrected.is_some())
        .map(|x| x.entry_id)
        .collect();
    assert_eq!(struck, vec![s.wrong_dispatch.id(), s.bad_roast.id()]);
}

#[test]
fn partial_multi_leg_shipments_show_their_quantities_and_carriers() {
    let s = story();
    let r = s.verify(&s.trail(ROASTED));
    let c = &s.c;
    let legs: Vec<(&str, &str, Option<&str>)> = r
        .custody
        .iter()
        .filter(|x| x.shipment == Some(ship(S_GREEN)))
        .map(|x| (x.kind.as_str(), x.by.as_str(), x.to.as_deref()))
        .collect();
    assert_eq!(
        legs,
        vec![
            (
                "dispatch",
                c.producer.name.as_str(),
                Some(c.processor.name.as_str())
            ),
            (
                "receive",
                c.carrier.name.as_str(),
                Some(c.carrier.name.as_str())
            ),
            (
                "handover",
                c.carrier.name.as_str(),
                Some(s.carrier2.name.as_str())
            ),
            (
                "receive",
                c.processor.name.as_str(),
                Some(c.processor.name.as_str())
            ),
        ]
    );
    let dispatch = r
        .custody
        .iter()
        .find(|x| x.kind == "dispatch" && x.shipment == Some(ship(S_GREEN)))
        .unwrap();
    assert_eq!(dispatch.details, vec![format!("lot {GREEN}: 500 KGM")]);
    let receipt = r
        .custody
        .iter()
        .rev()
        .find(|x| x.kind == "receive")
        .unwrap();
    assert_eq!(
        receipt.details,
        vec![
            format!("lot {GREEN}: 490 KGM received"),
            format!("lot {GREEN}: 10 KGM short (damage)"),
        ]
    );
}

#[test]
fn a_recall_of_an_ancestor_shows_on_the_derived_lots_trail_then_its_lifting() {
    let mut s = story();
    let c = s.c.clone();
    let r0 = s.verify(&s.trail(ROASTED));
    assert!(r0.recalls.is_empty());
    let recall_e = s.push(
        &c.producer,
        recall(&[GREEN], RecallClass::Recall, RECALL_REASON),
    );

    // The roasted lot's trail shows its green input's recall, open.
    for lot_id in [ROASTED, GREEN] {
        let r = s.verify(&s.trail(lot_id));
        assert_eq!(r.recalls.len(), 1, "{lot_id}");
        let line = &r.recalls[0];
        assert_eq!(line.class, RecallClass::Recall);
        assert_eq!(line.lot, lot(GREEN));
        assert_eq!(line.reason, RECALL_REASON);
        assert_eq!(line.scope, "all packs");
        assert_eq!(line.by, c.producer.name);
        assert_eq!(line.entry_id, recall_e.id());
        assert_eq!(line.height, s.chain.blocks.len() as u64);
        assert_eq!(line.lifted, None);
    }
    // Not on an unrelated lot's.
    assert!(s.verify(&s.trail("BISCUITS-1")).recalls.is_empty());

    // Lifted by its author: the line stays, saying so.
    s.push(
        &c.producer,
        recall_lift(recall_e.id(), &[GREEN], LIFT_REASON),
    );
    let r = s.verify(&s.trail(ROASTED));
    assert_eq!(r.recalls.len(), 1);
    assert_eq!(r.recalls[0].lifted.as_deref(), Some(LIFT_REASON));
}

#[test]
fn a_recall_of_the_lot_itself_by_a_quality_member_shows() {
    let mut s = story();
    let quality = Party::new("Coffee Quality Institute", 44, &[Role::Quality]);
    let add = cosigned(
        s.chain.sign(&s.c.admins[0], add_member(quality.spec("US"))),
        &[&s.c.admins[1]],
    );
    push_signed(&mut s.chain, &s.c, add);
    s.push(
        &quality,
        recall(&[ROASTED], RecallClass::Withdrawal, "underweight packs"),
    );
    let r = s.verify(&s.trail(ROASTED));
    assert_eq!(r.recalls.len(), 1);
    assert_eq!(
        (r.recalls[0].class, r.recalls[0].by.as_str()),
        (RecallClass::Withdrawal, quality.name.as_str())
    );
    // The green lot's trail does not carry its derived lot's withdrawal.
    assert!(s.verify(&s.trail(GREEN)).recalls.is_empty());
}

#[test]
fn cold_chain_excursions_on_the_trails_shipments_show() {
    use waybill_core::sensor::{Measure, Range, Reading, Series};
    let mut s = story();
    let c = s.c.clone();
    let reefer = |measure: Measure, unit: &str, range: (i32, i32), values: &[i32]| Series {
        device: "LOGGER-0001".into(),
        measure,
        unit: unit.into(),
        range: Some(Range {
            min_milli: range.0,
            max_milli: range.1,
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
    };
    let height = s.chain.blocks.len() as u64 + 1;
    let logged = s.push(
        &c.processor,
        readings(
            S_GREEN,
            vec![
                reefer(
                    Measure::Temperature,
                    "CEL",
                    (2_000, 8_000),
                    &[5_000, 9_000, 9_500, 6_000],
                ),
                reefer(
                    Measure::RelativeHumidity,
                    "P1",
                    (60_000, 75_000),
                    &[70_000, 95_000],
                ),
            ],
        ),
    );
    // Readings on a shipment of another lot do not show.
    push(
        &mut s.chain,
        &c,
        &c.brand,
        dispatch_v2("S-BISC", &[("BISCUITS-1", None)], &c.retailer.pk, None),
    );
    s.push(
        &c.brand,
        readings(
            "S-BISC",
            vec![reefer(
                Measure::Temperature,
                "CEL",
                (2_000, 8_000),
                &[30_000],
            )],
        ),
    );
    let r = s.verify(&s.trail(ROASTED));
    let lines: Vec<_> = r
        .excursions
        .iter()
        .map(|x| {
            (
                x.shipment.clone(),
                x.device.as_str(),
                x.summary.as_str(),
                x.from_ms,
                x.to_ms,
                x.height,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                ship(S_GREEN),
                "LOGGER-0001",
                "temperature reached 9.5 °C (allowed 2 to 8 °C) over 2 reading(s)",
                T0 + 600_000,
                T0 + 1_200_000,
                height,
            ),
            (
                ship(S_GREEN),
                "LOGGER-0001",
                "relative humidity reached 95 % (allowed 60 to 75 %) over 1 reading(s)",
                T0 + 600_000,
                T0 + 600_000,
                height,
            ),
        ]
    );
    assert_eq!(s.chain.state.lots[&lot(GREEN)].excursions, 2);
    assert!(r
        .excursions
        .iter()
        .all(|x| x.entry_id == logged.id() && x.corrected.is_none()));

    // The readings were another container's: struck by their author, the
    // lines stay, struck with who and why, and the lots count none.
    let fix = s.push(
        &c.processor,
        correction(
            logged.id(),
            Corrected::Readings(ship(S_GREEN)),
            "the logger of another container",
        ),
    );
    let r = s.verify(&s.trail(ROASTED));
    assert_eq!(r.excursions.len(), 2);
    for x in &r.excursions {
        let why = x.corrected.as_deref().expect("struck");
        assert!(
            why.contains("another container") && why.contains(&fix.id().short()),
            "{why}"
        );
    }
    let line = r.corrections.last().unwrap();
    assert_eq!(
        (line.target, line.what.as_str()),
        (
            logged.id(),
            format!("the readings on shipment {S_GREEN}").as_str()
        )
    );
    assert_eq!(s.chain.state.lots[&lot(GREEN)].excursions, 0);
    assert_eq!(s.chain.state.lots[&lot(ROASTED)].excursions, 0);
}

// ---------------------------------------------------------------------------
// Lies

#[test]
fn hiding_a_cancelling_correction_is_caught() {
    let s = story();
    for lot_id in [ROASTED, GREEN] {
        let mut t = s.trail(lot_id);
        let k = position(&t, &s.cancel.id());
        t.items.remove(k);
        // Without it, 200 kg are still in the wrong shipment, and the next
        // dispatch ships more than the farm holds.
        let err = s.verify_err(&t);
        assert!(
            matches!(&err, TrailError::Item { kind: "dispatch", reason, .. } if reason.contains(GREEN)),
            "{err:?}"
        );
        assert_mentions(&err, &[GREEN, "500", "holds 400"]);
    }
}

#[test]
fn hiding_a_voiding_correction_is_caught() {
    let s = story();
    let mut t = s.trail(ROASTED);
    let k = position(&t, &s.void.id());
    t.items.remove(k);
    // Without it, the roaster's green coffee was all used up by the bad
    // roasting, and the second roasting uses coffee it does not hold.
    let err = s.verify_err(&t);
    assert!(
        matches!(&err, TrailError::Item { kind: "produce", reason, .. } if reason.contains(GREEN)),
        "{err:?}"
    );
    assert_mentions(&err, &[GREEN, &s.c.processor.name, "does not hold"]);
}

#[test]
fn hiding_a_recall_that_was_lifted_is_caught() {
    let mut s = story();
    let c = s.c.clone();
    let recall_e = s.push(
        &c.producer,
        recall(&[GREEN], RecallClass::Recall, RECALL_REASON),
    );
    s.push(
        &c.producer,
        recall_lift(recall_e.id(), &[GREEN], LIFT_REASON),
    );
    let mut t = s.trail(ROASTED);
    t.items.remove(position(&t, &recall_e.id()));
    let err = s.verify_err(&t);
    assert!(
        matches!(&err, TrailError::Item { kind: "recall lift", reason, .. } if reason.contains("no open recall")),
        "{err:?}"
    );
    assert_mentions(&err, &[GREEN, &recall_e.id().short()]);
}

#[test]
fn a_forged_recall_by_a_member_without_the_right_is_caught() {
    let mut s = story();
    let c = s.c.clone();
    // A dishonest proposer seals the retailer's recall of the green lot,
    // which the rules refuse, into a block.
    let forged = s
        .chain
        .sign(&c.retailer, recall(&[GREEN], RecallClass::Recall, "rumour"));
    let v = c.validators[1].0.clone();
    s.chain
        .push_unchecked(&v, vec![forged.clone()], &[lot(GREEN)], &[]);
    for lot_id in [ROASTED, GREEN] {
        let t = s.trail(lot_id);
        assert!(t.items.iter().any(|i| i.entry == forged));
        let err = s.verify_err(&t);
        assert!(
            matches!(&err, TrailError::Item { kind: "recall", item, .. } if *item == t.items.len()),
            "{err:?}"
        );
        assert_mentions(
            &err,
            &[
                "recall",
                &c.retailer.name,
                "may not recall",
                GREEN,
                &forged.id().short(),
            ],
        );
    }
}

#[test]
fn a_forged_handover_signed_by_one_side_only_is_caught() {
    let c = Consortium::new();
    let carrier2 = Party::new("Pacific Lines", 41, &[Role::Carrier]);
    let genesis = with_members(&c.genesis, &[&carrier2]);
    let mut chain = Chain::new(&genesis);
    let v = c.validators[0].0.clone();
    for (who, body) in [
        (&c.producer, produce(GREEN, "600")),
        (
            &c.producer,
            dispatch_v2(
                S_GREEN,
                &[(GREEN, None)],
                &c.processor.pk,
                Some(&c.carrier.pk),
            ),
        ),
        (&c.carrier, receive(S_GREEN)),
    ] {
        let e = chain.sign(who, body);
        chain.push_block(&v, vec![e]);
    }
    let honest = store_trail(&c, &chain, &lot(GREEN), None);
    trail::verify(&genesis, &honest, NO_CERTS).unwrap();

    // The handover without the next carrier's co-signature …
    let one_sided = chain.sign(&c.carrier, handover(S_GREEN, &carrier2.pk));
    let mut forged_chain = chain.clone();
    forged_chain.push_unchecked(&v, vec![one_sided.clone()], &[lot(GREEN)], &[ship(S_GREEN)]);
    let t = store_trail(&c, &forged_chain, &lot(GREEN), None);
    let err = trail::verify(&genesis, &t, NO_CERTS).unwrap_err();
    assert!(
        matches!(
            &err,
            TrailError::Item {
                kind: "handover",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(&err, &["handover", S_GREEN, &carrier2.name, "co-signed"]);

    // … or co-signed by someone other than the next carrier.
    let wrong = cosigned(one_sided.clone(), &[&c.retailer]);
    let mut forged_chain = chain.clone();
    forged_chain.push_unchecked(&v, vec![wrong], &[lot(GREEN)], &[ship(S_GREEN)]);
    let t = store_trail(&c, &forged_chain, &lot(GREEN), None);
    let err = trail::verify(&genesis, &t, NO_CERTS).unwrap_err();
    assert_mentions(&err, &["handover", &carrier2.name, "co-signed"]);

    // The same handover with the co-signature verifies.
    let good = cosigned(one_sided, &[&carrier2]);
    chain.push_block(&v, vec![good]);
    let r = trail::verify(
        &genesis,
        &store_trail(&c, &chain, &lot(GREEN), None),
        NO_CERTS,
    )
    .unwrap();
    assert_eq!(r.custodian, carrier2.name);
}

#[test]
fn an_entry_dated_after_its_block_is_caught() {
    let mut s = story();
    let c = s.c.clone();
    let mut e = s
        .chain
        .sign(
            &c.producer,
            recall(&[GREEN], RecallClass::Recall, RECALL_REASON),
        )
        .entry;
    e.recorded_at_ms = 221_845_392_000_000; // the year 9000
    let e = e.sign(&c.producer.key);
    let v = c.validators[0].0.clone();
    s.chain.push_unchecked(&v, vec![e], &[lot(GREEN)], &[]);
    let err = s.verify_err(&s.trail(ROASTED));
    assert!(
        matches!(&err, TrailError::Item { kind: "recall", .. }),
        "{err:?}"
    );
    assert_mentions(&err, &["recorded_at", "9000-01-01"]);
}

// ---------------------------------------------------------------------------
// Audit bundles

/// Certificates from validators 0, 1 and 2 (90 of 100 voting power).
const SIGNERS: &[usize] = &[0, 1, 2];

/// The story, then the green lot recalled by its producer and a
/// temperature excursion on its sea shipment: the roasted lot's trail
/// holds a recall, three corrections, a handover and readings. Returns
/// the recall entry too.
fn recalled_story() -> (Story, SignedEntry) {
    use waybill_core::sensor::{Measure, Range, Reading, Series};
    let mut s = story();
    let c = s.c.clone();
    let series = Series {
        device: "LOGGER-0001".into(),
        measure: Measure::Temperature,
        unit: "CEL".into(),
        range: Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        start_ms: T0,
        readings: [5_000, 9_500, 6_000]
            .into_iter()
            .zip(0u32..)
            .map(|(value_milli, i)| Reading {
                offset_ms: i * 600_000,
                value_milli,
            })
            .collect(),
    };
    // By the carrier of the last leg (a party to the shipment now).
    let carrier2 = s.carrier2.clone();
    s.push(&carrier2, readings(S_GREEN, vec![series]));
    let recall_e = s.push(
        &c.producer,
        recall(&[GREEN], RecallClass::Recall, RECALL_REASON),
    );
    (s, recall_e)
}

/// The roasted lot's trail, with certificates.
fn certified_trail(s: &Story) -> Trail {
    store_trail(&s.c, &s.chain, &lot(ROASTED), Some(SIGNERS))
}

/// `trail` in a bundle exported and signed by the story's auditor.
fn bundle(s: &Story, trail: Trail) -> Bundle {
    BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: s.genesis.chain_name.clone(),
        chain_id: s.genesis.chain_id(),
        exported_at_ms: T0 + 86_400_000,
        exporter: s.c.auditor.pk,
        certificates_required: true,
        trail,
    }
    .sign(&s.c.auditor.key)
}

/// Verifies a bundle file as an auditor would offline, demanding
/// certificates.
fn verify_file(s: &Story, text: &str) -> Result<(Bundle, TrailReport), BundleError> {
    Bundle::verify_file(text.as_bytes(), &s.genesis, true)
}

/// The bundle's error, which must be a trail error (the bundle itself
/// being well signed).
fn trail_error(s: &Story, b: &Bundle) -> TrailError {
    match verify_file(s, &b.to_file_text()) {
        Ok((_, r)) => panic!("the bundle verified, expected a failure: {r:?}"),
        Err(BundleError::Trail(e)) => {
            assert!(!e.to_string().trim().is_empty());
            e
        }
        Err(e) => panic!("expected the trail to fail, got {e:?}"),
    }
}

#[test]
fn a_bundle_with_a_recall_corrections_a_handover_and_readings_verifies_offline() {
    let (s, recall_e) = recalled_story();
    let c = &s.c;
    let t = certified_trail(&s);
    let kinds: Vec<&str> = t.items.iter().map(|i| i.entry.entry.body.kind()).collect();
    for k in ["recall", "correction", "handover", "readings"] {
        assert!(kinds.contains(&k), "no {k} in the trail: {kinds:?}");
    }
    let b = bundle(&s, t.clone());
    let text = b.to_file_text();
    assert!(text.contains(RECALL_REASON));
    let (back, r) = verify_file(&s, &text).unwrap();
    assert_eq!(back, b);
    assert_eq!(
        r,
        trail::verify(
            &s.genesis,
            &t,
            Policy {
                require_certificates: true
            }
        )
        .unwrap()
    );
    assert_eq!(r.uncertified_blocks, 0);
    assert!(r.certified_blocks > 0);
    // The recall first: open, with its reason and who recorded it.
    assert_eq!(r.recalls.len(), 1);
    let line = &r.recalls[0];
    assert_eq!(
        (
            line.class,
            &line.lot,
            line.reason.as_str(),
            line.by.as_str(),
            line.entry_id,
            line.lifted.as_deref()
        ),
        (
            RecallClass::Recall,
            &lot(GREEN),
            RECALL_REASON,
            c.producer.name.as_str(),
            recall_e.id(),
            None
        )
    );
    // The corrections, struck where they apply.
    let targets: Vec<_> = r.corrections.iter().map(|x| x.target).collect();
    assert_eq!(
        targets,
        vec![s.wrong_dispatch.id(), s.bad_roast.id(), s.bad_payment.id()]
    );
    assert!(r
        .custody
        .iter()
        .any(|x| x.entry_id == s.bad_roast.id() && x.corrected.is_some()));
    // The handover between the two ocean carriers, and the excursion.
    assert!(r.custody.iter().any(|x| x.kind == "handover"
        && x.by == c.carrier.name
        && x.to.as_deref() == Some(s.carrier2.name.as_str())));
    assert_eq!(r.excursions.len(), 1);
    assert_eq!(r.excursions[0].shipment, ship(S_GREEN));
    assert_eq!(r.custodian, c.processor.name);
}

#[test]
fn a_bundle_whose_recall_reason_was_changed_fails() {
    let (s, recall_e) = recalled_story();
    let b = bundle(&s, certified_trail(&s));
    let k = position(&b.body.trail, &recall_e.id());
    const FALSE: &str = "a false alarm: sell as usual";

    // In the file: the auditor's signature no longer covers it.
    let text = b.to_file_text();
    assert_eq!(text.matches(RECALL_REASON).count(), 1);
    let changed = text.replace(RECALL_REASON, FALSE);
    assert!(matches!(
        verify_file(&s, &changed),
        Err(BundleError::BadSignature)
    ));

    // Signed again by the auditor: the recall in the trail is not the
    // entry its block holds (nor does its author's signature cover it).
    let with_reason = |e: &SignedEntry| {
        let mut e = e.clone();
        let Body::Recall(r) = &mut e.entry.body else {
            panic!("not a recall")
        };
        r.reason = FALSE.into();
        e
    };
    let mut body = b.body.clone();
    body.trail.items[k].entry = with_reason(&recall_e);
    let err = trail_error(&s, &body.clone().sign(&s.c.auditor.key));
    assert!(
        matches!(&err, TrailError::Item { kind: "recall", item, .. } if *item == k + 1),
        "{err:?}"
    );
    let altered = with_reason(&recall_e).id().short();
    assert_mentions(&err, &["recall", &altered, "inclusion proof", "altered"]);

    // Even signed again by the producer who recorded the recall, it is
    // another entry than the one in the block.
    let resigned = with_reason(&recall_e).entry.sign(&s.c.producer.key);
    body.trail.items[k].entry = resigned.clone();
    let err = trail_error(&s, &body.sign(&s.c.auditor.key));
    assert!(
        matches!(&err, TrailError::Item { kind: "recall", item, .. } if *item == k + 1),
        "{err:?}"
    );
    assert_mentions(&err, &["recall", &resigned.id().short(), "inclusion proof"]);
}

#[test]
fn a_bundle_hiding_a_correction_a_later_entry_depends_on_fails() {
    let (s, _) = recalled_story();
    let b = bundle(&s, certified_trail(&s));
    // The cancelled dispatch (the next dispatch ships the 200 kg it gave
    // back) and the voided roasting (the second roasting uses the green
    // coffee it gave back). A trail proves what it holds, not that nothing
    // was left out: an entry nothing later depends on (the payment's
    // correction, an open recall) can be left out without the replay
    // noticing, so it is not tried here.
    for (hidden, kind, needles) in [
        (&s.cancel, "dispatch", vec![GREEN, "500", "holds 400"]),
        (
            &s.void,
            "produce",
            vec![GREEN, s.c.processor.name.as_str(), "does not hold"],
        ),
    ] {
        let mut body = b.body.clone();
        let k = position(&body.trail, &hidden.id());
        body.trail.items.remove(k);
        // Left out of the file: the auditor's signature fails …
        let forged = Bundle {
            body: body.clone(),
            signature: b.signature,
            log: None,
        };
        assert!(matches!(
            verify_file(&s, &forged.to_file_text()),
            Err(BundleError::BadSignature)
        ));
        // … and signed again, the trail fails at the entry that depends
        // on it.
        let err = trail_error(&s, &body.sign(&s.c.auditor.key));
        assert!(
            matches!(&err, TrailError::Item { kind: k, .. } if *k == kind),
            "{err:?}"
        );
        assert_mentions(&err, &needles);
    }
}

#[test]
fn a_bundle_with_a_forged_recall_fails() {
    let (mut s, _) = recalled_story();
    let c = s.c.clone();
    // A dishonest proposer seals the retailer's recall of the green lot.
    let forged = s
        .chain
        .sign(&c.retailer, recall(&[GREEN], RecallClass::Recall, "rumour"));
    let v = c.validators[1].0.clone();
    s.chain
        .push_unchecked(&v, vec![forged.clone()], &[lot(GREEN)], &[]);
    let t = certified_trail(&s);
    assert!(t.items.iter().any(|i| i.entry == forged));
    let err = trail_error(&s, &bundle(&s, t));
    assert!(
        matches!(&err, TrailError::Item { kind: "recall", .. }),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.retailer.name, "may not recall", GREEN]);
}

// ---------------------------------------------------------------------------
// Corrected custody steps

/// The story, then the farm's last 100 kg of green coffee sent to the
/// retailer by sea, each custody step first recorded wrongly and
/// corrected: the carrier's take-over (5 kg keyed short), its handover to
/// the second carrier (a day early), and the retailer's receipt (10 kg
/// keyed short); each then recorded again.
struct Steps {
    take_over: SignedEntry,
    handover: SignedEntry,
    receipt: SignedEntry,
    /// The three corrections, in that order.
    fixes: Vec<SignedEntry>,
    /// The steps recorded again, in that order.
    again: Vec<SignedEntry>,
}

const S_STEPS: &str = "S-STEPS-1";

fn corrected_steps() -> (Story, Steps) {
    let mut s = story();
    let c = s.c.clone();
    let carrier2 = s.carrier2.clone();
    s.push(
        &c.producer,
        dispatch_v2(
            S_STEPS,
            &[(GREEN, Some(kg("100")))],
            &c.retailer.pk,
            Some(&c.carrier.pk),
        ),
    );
    let take_over = s.push(
        &c.carrier,
        receive_v2(
            S_STEPS,
            &[received(
                GREEN,
                kg("95"),
                Some((kg("5"), LossCause::Shortage)),
            )],
        ),
    );
    let fix1 = s.push(
        &c.carrier,
        correct_receipt(take_over.id(), S_STEPS, "all 100 kg were loaded"),
    );
    let again1 = s.push(&c.carrier, receive_v2(S_STEPS, &[]));
    let early = cosigned(
        s.chain.sign(&c.carrier, handover(S_STEPS, &carrier2.pk)),
        &[&carrier2],
    );
    let early = push_signed(&mut s.chain, &c, early);
    let fix2 = s.push(
        &c.carrier,
        correct_receipt(early.id(), S_STEPS, "handed over a day early"),
    );
    let again2 = cosigned(
        s.chain.sign(&c.carrier, handover(S_STEPS, &carrier2.pk)),
        &[&carrier2],
    );
    let again2 = push_signed(&mut s.chain, &c, again2);
    let receipt = s.push(
        &c.retailer,
        receive_v2(
            S_STEPS,
            &[received(
                GREEN,
                kg("90"),
                Some((kg("10"), LossCause::Damage)),
            )],
        ),
    );
    let fix3 = s.push(
        &c.retailer,
        correct_receipt(receipt.id(), S_STEPS, "the torn bags were another lot's"),
    );
    let again3 = s.push(&c.retailer, receive_v2(S_STEPS, &[]));
    let steps = Steps {
        take_over,
        handover: early,
        receipt,
        fixes: vec![fix1, fix2, fix3],
        again: vec![again1, again2, again3],
    };
    (s, steps)
}

/// Checks the green lot's report: the three wrong steps struck with who
/// corrected them and why, named for what they were; the steps recorded
/// again not struck; and the quantities as if the wrong ones never were.
fn assert_steps_report(s: &Story, steps: &Steps, r: &TrailReport) {
    let c = &s.c;
    let wrong = [&steps.take_over, &steps.handover, &steps.receipt];
    let whats = ["take-over", "handover", "receipt"];
    for ((target, fix), what) in wrong.iter().zip(&steps.fixes).zip(whats) {
        let line = r
            .corrections
            .iter()
            .find(|x| x.target == target.id())
            .unwrap_or_else(|| panic!("no correction of the {what}"));
        assert_eq!(line.what, format!("the {what} of shipment {S_STEPS}"));
        assert_eq!(line.entry_id, fix.id());
        let step = r
            .custody
            .iter()
            .find(|x| x.entry_id == target.id())
            .unwrap();
        let why = step.corrected.as_deref().expect("struck");
        assert!(
            why.contains(&fix.id().short()) && why.contains(&line.reason),
            "{why}"
        );
    }
    assert_eq!(r.corrections[3].by, c.carrier.name);
    assert_eq!(r.corrections[5].by, c.retailer.name);
    for e in &steps.again {
        let step = r.custody.iter().find(|x| x.entry_id == e.id()).unwrap();
        assert!(step.corrected.is_none(), "{step:?}");
    }
    // Nothing was lost on the way: the retailer holds all 100 kg.
    assert!(
        r.status
            .contains(&format!("100 KGM held by {}", c.retailer.name)),
        "{}",
        r.status
    );
}

#[test]
fn corrected_take_overs_handovers_and_receipts_are_struck() {
    let (s, steps) = corrected_steps();
    let r = s.verify(&s.trail(GREEN));
    assert_eq!(r.corrections.len(), 6, "{:?}", r.corrections);
    assert_steps_report(&s, &steps, &r);
}

#[test]
fn hiding_a_custody_step_correction_is_caught() {
    let (s, steps) = corrected_steps();
    // Without the take-over's correction, the carrier takes over a
    // shipment it already has (only the consignee may receive it then);
    // without the handover's, the first carrier hands over a shipment the
    // second has; without the receipt's, the retailer receives a
    // delivered shipment.
    for (fix, kind, needles) in [
        (
            &steps.fixes[0],
            "receive",
            &[S_STEPS, "only its consignee"][..],
        ),
        (
            &steps.fixes[1],
            "handover",
            &[S_STEPS, &s.carrier2.name][..],
        ),
        (&steps.fixes[2], "receive", &[S_STEPS, "delivered"][..]),
    ] {
        let mut t = s.trail(GREEN);
        let k = position(&t, &fix.id());
        t.items.remove(k);
        let err = s.verify_err(&t);
        assert!(
            matches!(&err, TrailError::Item { kind: k, .. } if *k == kind),
            "{err:?}"
        );
        assert_mentions(&err, needles);
    }
}

#[test]
fn a_bundle_with_corrected_custody_steps_verifies_offline() {
    let (s, steps) = corrected_steps();
    let t = store_trail(&s.c, &s.chain, &lot(GREEN), Some(SIGNERS));
    let b = bundle(&s, t);
    let (back, r) = verify_file(&s, &b.to_file_text()).unwrap();
    assert_eq!(back, b);
    assert_eq!(r.uncertified_blocks, 0);
    assert_steps_report(&s, &steps, &r);
}
