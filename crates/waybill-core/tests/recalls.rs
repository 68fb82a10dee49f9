//! Rule tests for recalls and market withdrawals (issue 25): who may
//! recall a lot (its producer, a regulator or quality member, or any
//! member with an admin quorum's co-signatures), who may lift a recall
//! (its author, or an admin quorum), and each refusal with a sentence
//! naming the member and the lot, leaving the state untouched.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::crypto::Hash32;
use waybill_core::entry::{Corrected, RecallClass, SignedEntry};
use waybill_core::genesis::Role;
use waybill_core::rules::RuleError;
use waybill_core::state::{LotState, RecallMark, View};

const REASON: &str = "ochratoxin A above the EU limit in lab report 2024-117";

fn lot_of(l: &Ledger, id: &str) -> LotState {
    l.state.lot(&lot(id)).unwrap().into_owned()
}

/// GREEN-1 produced by the producer and shipped to and received by the
/// processor, who roasted ROASTED-1 from part of it; the brand's own lot.
fn chain_of_custody(c: &Consortium, l: &mut Ledger) {
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, None),
    );
    l.record(&c.processor, receive("S-1"));
    l.record(
        &c.processor,
        produce_from("ROASTED-1", "400", &[("GREEN-1", "480")]),
    );
    l.record(&c.brand, produce("BISCUITS-1", "100"));
}

fn setup() -> (Consortium, Ledger) {
    let c = Consortium::new();
    let mut l = Ledger::new(&c.genesis);
    chain_of_custody(&c, &mut l);
    (c, l)
}

#[test]
fn the_producer_may_recall_its_lot_wherever_it_is() {
    let (c, mut l) = setup();
    // The producer no longer holds any of it.
    assert!(lot_of(&l, "GREEN-1")
        .holdings
        .iter()
        .all(|h| h.holder != c.producer.pk));
    let before = lot_of(&l, "GREEN-1");
    let e = l.record(
        &c.producer,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(
        g.recalls,
        vec![RecallMark {
            recall: e.id(),
            author: c.producer.pk,
            class: RecallClass::Recall,
            lifted: false,
        }]
    );
    assert_eq!(g.open_recalls().count(), 1);
    // Custody and quantities are unchanged: a recall is a notice.
    assert_eq!(g.holdings, before.holdings);
    assert_eq!(g.consumed, before.consumed);
    // The derived lot is not marked itself (its trail shows its input's
    // recall), and goods may still move, e.g. back to the producer.
    assert!(lot_of(&l, "ROASTED-1").recalls.is_empty());
    l.record(
        &c.processor,
        dispatch("S-BACK", &["GREEN-1"], &c.producer.pk, None),
    );
}

#[test]
fn a_recall_may_name_several_lots_and_be_a_withdrawal() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-2", "100"));
    let e = l.record(
        &c.producer,
        recall(
            &["GREEN-1", "GREEN-2"],
            RecallClass::Withdrawal,
            "mislabelled origin",
        ),
    );
    for id in ["GREEN-1", "GREEN-2"] {
        let marks = lot_of(&l, id).recalls;
        assert_eq!(marks.len(), 1, "{id}");
        assert_eq!(
            (marks[0].recall, marks[0].class),
            (e.id(), RecallClass::Withdrawal)
        );
    }
    // A second recall of the same lot adds a second mark.
    l.record(
        &c.producer,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    );
    assert_eq!(lot_of(&l, "GREEN-1").open_recalls().count(), 2);
}

#[test]
fn a_member_without_the_right_may_not_recall() {
    let (c, l) = setup();
    // Not even the member holding the lot, nor the one who made a lot from it.
    for who in [&c.processor, &c.retailer, &c.brand, &c.admins[0]] {
        let err = l.refuse(&l.sign(who, recall(&["GREEN-1"], RecallClass::Recall, REASON)));
        assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
        assert_mentions(
            &err,
            &[
                &who.name,
                "may not recall",
                "GREEN-1",
                &c.producer.name,
                "regulator",
                "admin quorum",
            ],
        );
    }
    // One lot it may not recall spoils the whole entry.
    let err = l.refuse(&l.sign(
        &c.brand,
        recall(&["BISCUITS-1", "GREEN-1"], RecallClass::Recall, REASON),
    ));
    assert_mentions(&err, &["GREEN-1"]);
    assert!(lot_of(&l, "BISCUITS-1").recalls.is_empty());
    // The producer of one lot may not recall another producer's lot.
    let err = l.refuse(&l.sign(
        &c.producer,
        recall(&["BISCUITS-1"], RecallClass::Withdrawal, REASON),
    ));
    assert_mentions(
        &err,
        &[&c.producer.name, "BISCUITS-1", &c.brand.name, "withdrawal"],
    );
}

#[test]
fn a_regulator_or_quality_member_may_recall_any_lot() {
    let c = Consortium::new();
    let quality = Party::new("Coffee Quality Institute", 44, &[Role::Quality]);
    let genesis = with_members(&c.genesis, &[&quality]);
    let mut l = Ledger::new(&genesis);
    chain_of_custody(&c, &mut l);
    // A quality body from genesis withdraws the roaster's lot.
    let e = l.record(
        &quality,
        recall(&["ROASTED-1"], RecallClass::Withdrawal, "underweight packs"),
    );
    let marks = lot_of(&l, "ROASTED-1").recalls;
    assert_eq!((marks[0].recall, marks[0].author), (e.id(), quality.pk));

    // A food-safety authority joins through a membership change with an
    // admin quorum, then recalls the farm's lot.
    let regulator = Party::new("Food Safety Authority", 43, &[Role::Regulator]);
    let add = cosigned(
        l.sign(&c.admins[0], add_member(regulator.spec("DE"))),
        &[&c.admins[1]],
    );
    // Before it is a member, it cannot.
    let err = l.refuse(&l.sign(
        &regulator,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    ));
    assert!(matches!(err, RuleError::UnknownAuthor(_)), "{err:?}");
    l.commit(&add);
    l.record(
        &regulator,
        recall(&["GREEN-1", "BISCUITS-1"], RecallClass::Recall, REASON),
    );
    assert_eq!(lot_of(&l, "GREEN-1").recalls[0].author, regulator.pk);
    assert_eq!(lot_of(&l, "BISCUITS-1").recalls[0].author, regulator.pk);
    // Once its role is taken away, it cannot any more.
    let demote = cosigned(
        l.sign(&c.admins[0], set_roles(&regulator.pk, &[Role::Auditor])),
        &[&c.admins[2]],
    );
    l.commit(&demote);
    let err = l.refuse(&l.sign(
        &regulator,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    ));
    assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
    assert_mentions(&err, &[&regulator.name, "GREEN-1"]);
}

#[test]
fn any_member_may_recall_with_an_admin_quorum() {
    let (c, mut l) = setup();
    let e = cosigned(
        l.sign(
            &c.retailer,
            recall(&["GREEN-1"], RecallClass::Recall, REASON),
        ),
        &[&c.admins[0], &c.admins[1]],
    );
    l.commit(&e);
    let marks = lot_of(&l, "GREEN-1").recalls;
    assert_eq!((marks[0].recall, marks[0].author), (e.id(), c.retailer.pk));
    // An admin's own signature counts towards the quorum.
    let e = cosigned(
        l.sign(
            &c.admins[2],
            recall(&["BISCUITS-1"], RecallClass::Withdrawal, REASON),
        ),
        &[&c.admins[0]],
    );
    l.commit(&e);
    assert_eq!(lot_of(&l, "BISCUITS-1").recalls.len(), 1);
}

#[test]
fn too_few_or_non_admin_co_signatures_do_not_make_a_quorum() {
    let (c, l) = setup();
    // One admin of three is not a quorum (two are needed).
    let e = cosigned(
        l.sign(
            &c.retailer,
            recall(&["GREEN-1"], RecallClass::Recall, REASON),
        ),
        &[&c.admins[0]],
    );
    let err = l.refuse(&e);
    assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
    assert_mentions(
        &err,
        &[&c.retailer.name, "GREEN-1", "2 admin signatures; it has 1"],
    );
    // A co-signer that is not an admin is refused by name.
    let e = cosigned(
        l.sign(
            &c.retailer,
            recall(&["GREEN-1"], RecallClass::Recall, REASON),
        ),
        &[&c.admins[0], &c.admins[1], &c.auditor],
    );
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::CosignerNotAdmin(k) if k == c.auditor.pk),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.auditor.pk.to_hex(), "admin"]);
}

#[test]
fn a_recall_of_an_unknown_or_voided_lot_or_without_a_reason_is_refused() {
    let (c, mut l) = setup();
    let err = l.refuse(&l.sign(
        &c.producer,
        recall(&["NO-SUCH-LOT"], RecallClass::Recall, REASON),
    ));
    assert!(
        matches!(&err, RuleError::UnknownLot(id) if *id == lot("NO-SUCH-LOT")),
        "{err:?}"
    );
    assert_mentions(&err, &["NO-SUCH-LOT"]);
    let err = l.refuse(&l.sign(&c.producer, recall(&["GREEN-1"], RecallClass::Recall, "  ")));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["reason"]);
    let err = l.refuse(&l.sign(&c.producer, recall(&[], RecallClass::Recall, REASON)));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["lots", "at least one"]);
    let err = l.refuse(&l.sign(
        &c.producer,
        recall(&["GREEN-1", "GREEN-1"], RecallClass::Recall, REASON),
    ));
    assert!(matches!(err, RuleError::DuplicateLot(_)), "{err:?}");

    // A lot voided by a correction is no longer goods to recall.
    let made = l.record(&c.brand, produce("BISCUITS-2", "5"));
    let fix = l.record(
        &c.brand,
        correction(
            made.id(),
            Corrected::Lot(lot("BISCUITS-2")),
            "recorded twice",
        ),
    );
    let err = l.refuse(&l.sign(
        &c.brand,
        recall(&["BISCUITS-2"], RecallClass::Recall, REASON),
    ));
    assert!(matches!(err, RuleError::LotVoided { .. }), "{err:?}");
    assert_mentions(&err, &["BISCUITS-2", &fix.id().short()]);
}

// ---------------------------------------------------------------------------
// Lifting

/// [`setup`] with GREEN-1 recalled by the producer.
fn recalled() -> (Consortium, Ledger, SignedEntry) {
    let (c, mut l) = setup();
    let e = l.record(
        &c.producer,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    );
    (c, l, e)
}

#[test]
fn the_author_may_lift_its_recall() {
    let (c, mut l, r) = recalled();
    l.record(
        &c.producer,
        recall_lift(r.id(), &["GREEN-1"], "second lab found the sample mixed up"),
    );
    let g = lot_of(&l, "GREEN-1");
    assert_eq!(g.recalls.len(), 1);
    assert!(g.recalls[0].lifted);
    assert_eq!(g.open_recalls().count(), 0);
    // Lifting it again is refused.
    let err = l.refuse(&l.sign(&c.producer, recall_lift(r.id(), &["GREEN-1"], "again")));
    assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
    assert_mentions(&err, &["GREEN-1", &r.id().short(), "no open recall"]);
}

#[test]
fn another_member_may_not_lift_a_recall() {
    let c = Consortium::new();
    let regulator = Party::new("Food Safety Authority", 43, &[Role::Regulator]);
    let mut l = Ledger::new(&with_members(&c.genesis, &[&regulator]));
    chain_of_custody(&c, &mut l);
    let r = l.record(
        &regulator,
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    );
    // Not even the lot's producer may lift the regulator's recall.
    for who in [&c.producer, &c.processor] {
        let err = l.refuse(&l.sign(who, recall_lift(r.id(), &["GREEN-1"], "we disagree")));
        assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
        assert_mentions(
            &err,
            &[&who.name, "may not lift", &r.id().short(), &regulator.name],
        );
    }
    assert!(!lot_of(&l, "GREEN-1").recalls[0].lifted);
    // An admin quorum may.
    let e = cosigned(
        l.sign(
            &c.admins[0],
            recall_lift(r.id(), &["GREEN-1"], "the authority withdrew its notice"),
        ),
        &[&c.admins[1]],
    );
    l.commit(&e);
    assert!(lot_of(&l, "GREEN-1").recalls[0].lifted);
}

#[test]
fn a_lift_must_name_an_open_recall_of_each_lot() {
    let (c, mut l, r) = recalled();
    // A lot the recall did not name.
    let err = l.refuse(&l.sign(
        &c.producer,
        recall_lift(r.id(), &["ROASTED-1"], "not needed"),
    ));
    assert!(matches!(err, RuleError::Recall(_)), "{err:?}");
    assert_mentions(&err, &["ROASTED-1", &r.id().short()]);
    // An entry that is no recall.
    let bogus = Hash32::digest(b"no such entry");
    let err = l.refuse(&l.sign(&c.producer, recall_lift(bogus, &["GREEN-1"], "not needed")));
    assert_mentions(&err, &["GREEN-1", &bogus.short()]);
    // A lot that does not exist.
    let err = l.refuse(&l.sign(
        &c.producer,
        recall_lift(r.id(), &["NO-SUCH-LOT"], "not needed"),
    ));
    assert!(matches!(err, RuleError::UnknownLot(_)), "{err:?}");
    // One bad lot refuses the whole lift.
    let err = l.refuse(&l.sign(
        &c.producer,
        recall_lift(r.id(), &["GREEN-1", "ROASTED-1"], "not needed"),
    ));
    assert_mentions(&err, &["ROASTED-1"]);
    assert!(!lot_of(&l, "GREEN-1").recalls[0].lifted);
    // A lift without a reason.
    let err = l.refuse(&l.sign(&c.producer, recall_lift(r.id(), &["GREEN-1"], "")));
    assert!(matches!(err, RuleError::BadField(_)), "{err:?}");
    assert_mentions(&err, &["reason"]);
    // Only the recall named is lifted, not a later one of the same lot.
    let r2 = l.record(
        &c.producer,
        recall(&["GREEN-1"], RecallClass::Withdrawal, "labels"),
    );
    l.record(&c.producer, recall_lift(r.id(), &["GREEN-1"], "lab mix-up"));
    let g = lot_of(&l, "GREEN-1");
    let open: Vec<_> = g.open_recalls().map(|m| m.recall).collect();
    assert_eq!(open, vec![r2.id()]);
}

#[test]
fn an_admin_alone_is_a_quorum_when_the_chain_says_one_signature_is() {
    let (c, _) = setup();
    let mut genesis = c.genesis.clone();
    genesis.governance.admin_threshold = Some(1);
    let mut l = Ledger::new(&genesis);
    chain_of_custody(&c, &mut l);
    // With a threshold of 1, an admin's own signature is the quorum, as
    // for a membership change.
    l.record(
        &c.admins[0],
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    );
    assert_eq!(lot_of(&l, "GREEN-1").recalls.len(), 1);
    // With the consortium's threshold of 2, it is not.
    let (c, l) = setup();
    let err = l.refuse(&l.sign(
        &c.admins[0],
        recall(&["GREEN-1"], RecallClass::Recall, REASON),
    ));
    assert_mentions(&err, &["2 admin signatures; it has 1"]);
}
