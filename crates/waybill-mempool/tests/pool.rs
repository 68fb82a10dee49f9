//! The mempool through its public face: admission (nonces, duplicates,
//! signatures, rules against the waiting entries, limits), entries from
//! peers that come too early, taking proposals, and revision after a
//! block.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use waybill_core::entry::SignedEntry;
use waybill_core::rules::{self, RuleError};
use waybill_core::state::{Changes, Overlay, State, View};
use waybill_mempool::{FromPeer, Limits, Mempool, MempoolError};
use waybill_testkit::ids::{lot, ship};

use support::*;

#[test]
fn next_nonces_of_waiting_authors_are_accepted() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    let a = produce(&w, 1, "LOT-A");
    let b = produce(&w, 2, "LOT-B");
    let c = produce(&w, 3, "LOT-C");
    let ida = pool.insert(a.clone(), &w.state, at(0)).unwrap();
    let idb = pool.insert(b.clone(), &w.state, at(0)).unwrap();
    let idc = pool.insert(c.clone(), &w.state, at(0)).unwrap();
    assert_eq!((ida, idb, idc), (a.id(), b.id(), c.id()));
    assert_eq!(pool.len(), 3);
    assert_eq!(
        pool.bytes(),
        [&a, &b, &c]
            .iter()
            .map(|e| e.canonical_bytes().len())
            .sum::<usize>()
    );
    assert_eq!(pool.get(&idb), Some(&b));
    assert!(pool.contains(&idc));
    assert_eq!(
        pool.by_author(&w.producer.pk).collect::<Vec<_>>(),
        vec![(1, ida), (2, idb), (3, idc)]
    );
    assert_eq!(pool.view(&w.state).nonce(&w.producer.pk), 3);

    // A replayed nonce and a gap are refused with the rule's error.
    let replay = produce(&w, 2, "LOT-X");
    assert!(matches!(
        pool.insert(replay, &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::NonceReplayed {
            got: 2,
            expected: 4,
            ..
        }))
    ));
    let gap = produce(&w, 9, "LOT-Y");
    assert!(matches!(
        pool.insert(gap, &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::NonceGap {
            got: 9,
            expected: 4,
            ..
        }))
    ));
    assert_eq!(pool.len(), 3);
}

#[test]
fn entries_from_peers_ahead_of_their_nonce_wait_for_the_gap() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    let e: Vec<SignedEntry> = (1..=4)
        .map(|n| produce(&w, n, &format!("LOT-{n}")))
        .collect();
    // 3 and 4 arrive first: parked, not in the pool, not proposed.
    for x in [&e[3], &e[2]] {
        assert_eq!(
            pool.insert_from_peer(x.clone(), &w.state, at(0)),
            Ok(FromPeer::Parked(x.id()))
        );
    }
    assert_eq!((pool.len(), pool.parked()), (0, 2));
    assert!(pool.take(10).is_empty());
    // Parked entries were verified: a block holding them need not
    // verify them again.
    assert!(!pool.contains(&e[3].id()) && pool.verified(&e[3].id()));
    assert!(!pool.verified(&e[0].id()));
    // 1 fills nothing yet (2 is missing); 2 releases 3 and 4 in order.
    assert_eq!(
        pool.insert_from_peer(e[0].clone(), &w.state, at(0)),
        Ok(FromPeer::Accepted(e[0].id()))
    );
    assert_eq!((pool.len(), pool.parked()), (1, 2));
    assert_eq!(
        pool.insert_from_peer(e[1].clone(), &w.state, at(0)),
        Ok(FromPeer::Accepted(e[1].id()))
    );
    assert_eq!((pool.len(), pool.parked()), (4, 0));
    assert_eq!(pool.take(10), e);

    // A parked entry whose gap a block fills joins on commit; one whose
    // nonce a block used is dropped.
    let mut pool = Mempool::new(Limits::default());
    let mut state = w.state.clone();
    assert_eq!(
        pool.insert_from_peer(e[2].clone(), &state, at(0)),
        Ok(FromPeer::Parked(e[2].id()))
    );
    let other = produce(&w, 3, "LOT-OTHER");
    assert_eq!(
        pool.insert_from_peer(other.clone(), &state, at(0)),
        Ok(FromPeer::Parked(other.id())),
        "a second entry for the same nonce replaces the first while parked"
    );
    assert!(pool.verified(&other.id()) && !pool.verified(&e[2].id()));
    let (ids, block) = commit(&mut state, &e[..2], 1);
    pool.on_commit(&ids, &block, &state, at(1));
    assert_eq!((pool.len(), pool.parked()), (1, 0));
    assert_eq!(pool.take(1), vec![other.clone()]);
    assert!(pool.contains(&other.id()) && pool.verified(&other.id()));

    // Parking is bounded; API submissions with a gap are still refused.
    let mut pool = Mempool::new(Limits {
        max_entries: 4,
        max_bytes: 1 << 20,
        author_share: 1,
    });
    assert!(matches!(
        pool.insert_from_peer(e[2].clone(), &w.state, at(0)),
        Ok(FromPeer::Parked(_))
    ));
    assert!(matches!(
        pool.insert_from_peer(e[3].clone(), &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::NonceGap { .. }))
    ));
    assert!(matches!(
        pool.insert(e[3].clone(), &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::NonceGap { .. }))
    ));
}

#[test]
fn duplicates_are_refused() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    let a = produce(&w, 1, "LOT-A");
    let id = pool.insert(a.clone(), &w.state, at(0)).unwrap();
    assert_eq!(
        pool.insert(a, &w.state, at(0)),
        Err(MempoolError::Duplicate(id))
    );
    assert_eq!(pool.len(), 1);
}

#[test]
fn rules_see_the_waiting_entries() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    pool.insert(produce(&w, 1, "LOT-A"), &w.state, at(0))
        .unwrap();
    // The lot exists only in the pool, yet may be dispatched by its holder...
    pool.insert(
        dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
        &w.state,
        at(0),
    )
    .unwrap();
    // ...and received by the consignee.
    pool.insert(receive(&w, &w.retailer, 1, "SHIP-1"), &w.state, at(0))
        .unwrap();
    // Now the retailer holds it: the producer can no longer ship it.
    let err = pool
        .insert(
            dispatch(&w, &w.producer, 3, "SHIP-2", "LOT-A", &w.carrier),
            &w.state,
            at(0),
        )
        .unwrap_err();
    assert!(
        matches!(err, MempoolError::Rule(RuleError::NotCustodian { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("does not hold lot LOT-A"), "{err}");
    // A lot nobody made.
    let err = pool
        .insert(
            dispatch(&w, &w.producer, 3, "SHIP-3", "LOT-NONE", &w.carrier),
            &w.state,
            at(0),
        )
        .unwrap_err();
    assert!(matches!(err, MempoolError::Rule(RuleError::UnknownLot(_))));
    // The refused entries changed nothing: nonce 3 is still next.
    pool.insert(produce(&w, 3, "LOT-B"), &w.state, at(0))
        .unwrap();
    assert_eq!(pool.len(), 4);
    // A prefix in acceptance order is a valid block.
    let block = pool.take(10);
    assert_eq!(block.len(), 4);
    rules::apply_block(&w.state, &block, at(1)).unwrap();
}

#[test]
fn bad_signatures_are_refused() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    let mut e = produce(&w, 1, "LOT-A");
    e.signature.0[0] ^= 1;
    let err = pool.insert(e, &w.state, at(0)).unwrap_err();
    assert!(
        matches!(err, MempoolError::Rule(RuleError::Signature(_))),
        "{err}"
    );
    assert!(pool.is_empty());
}

#[test]
fn bounded_by_count_and_bytes() {
    let w = world();
    let mut pool = Mempool::new(Limits {
        max_entries: 2,
        max_bytes: usize::MAX,
        author_share: 1,
    });
    pool.insert(produce(&w, 1, "LOT-A"), &w.state, at(0))
        .unwrap();
    pool.insert(produce(&w, 2, "LOT-B"), &w.state, at(0))
        .unwrap();
    let err = pool
        .insert(produce(&w, 3, "LOT-C"), &w.state, at(0))
        .unwrap_err();
    assert!(matches!(err, MempoolError::Full { entries: 2, .. }));
    assert!(err.to_string().contains("the mempool is full"), "{err}");

    let one = produce(&w, 1, "LOT-A").canonical_bytes().len();
    let mut pool = Mempool::new(Limits {
        max_entries: 100,
        max_bytes: one * 2 + one / 2,
        author_share: 1,
    });
    pool.insert(produce(&w, 1, "LOT-A"), &w.state, at(0))
        .unwrap();
    pool.insert(produce(&w, 2, "LOT-B"), &w.state, at(0))
        .unwrap();
    assert!(matches!(
        pool.insert(produce(&w, 3, "LOT-C"), &w.state, at(0)),
        Err(MempoolError::Full { .. })
    ));
    assert_eq!(pool.len(), 2);
    assert!(pool.bytes() <= pool.limits().max_bytes);

    // A commit makes room again.
    let mut state = w.state.clone();
    let (ids, block) = commit(&mut state, &pool.take(1), 1);
    let r = pool.on_commit(&ids, &block, &state, at(1));
    assert_eq!(r.committed, 1);
    assert!(r.dropped.is_empty());
    pool.insert(produce(&w, 3, "LOT-C"), &state, at(1)).unwrap();
    assert_eq!(pool.len(), 2);
}

#[test]
fn one_author_fills_only_its_share() {
    let w = world();
    // Four authors' worth: each may have 2 of the 8 entries waiting.
    let mut pool = Mempool::new(Limits {
        max_entries: 8,
        max_bytes: usize::MAX / 2,
        author_share: 4,
    });
    assert_eq!(pool.limits().author_entries(), 2);
    pool.insert(produce(&w, 1, "LOT-A"), &w.state, at(0))
        .unwrap();
    pool.insert(produce(&w, 2, "LOT-B"), &w.state, at(0))
        .unwrap();
    // The flooding author is refused, from a client and from a peer
    // alike, and nothing of it is kept or parked.
    let third = produce(&w, 3, "LOT-C");
    let err = pool.insert(third.clone(), &w.state, at(0)).unwrap_err();
    assert!(
        matches!(
            err,
            MempoolError::AuthorFull {
                entries: 2,
                max_entries: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("its share"), "{err}");
    assert!(matches!(
        pool.insert_from_peer(produce(&w, 4, "LOT-D"), &w.state, at(0)),
        Err(MempoolError::AuthorFull { .. })
    ));
    assert_eq!((pool.len(), pool.parked()), (2, 0));
    // Everyone else is still taken.
    let other = waybill_testkit::entries::signed(
        w.chain_id,
        &w.processor,
        1,
        waybill_testkit::entries::produce("P-1", "10"),
    );
    pool.insert(other.clone(), &w.state, at(0)).unwrap();
    assert!(pool.contains(&other.id()));

    // A block with the author's entries gives it room again.
    let mut state = w.state.clone();
    let (ids, block) = commit(&mut state, &pool.take(2), 1);
    pool.on_commit(&ids, &block, &state, at(1));
    pool.insert(third, &state, at(1)).unwrap();
    let one = produce(&w, 1, "LOT-A").canonical_bytes().len();

    // The byte share bounds an author too: here 64 KiB (an eighth of
    // 512 KiB), reached long before its 1,250 entries.
    let mut pool = Mempool::new(Limits {
        max_entries: 10_000,
        max_bytes: 8 * 65_536,
        author_share: 8,
    });
    assert_eq!(pool.limits().author_bytes(), 65_536);
    let mut nonce = 1;
    let err = loop {
        match pool.insert(produce(&w, nonce, &format!("LOT-{nonce}")), &w.state, at(0)) {
            Ok(_) => nonce += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, MempoolError::AuthorFull { .. }), "{err:?}");
    assert!(
        pool.bytes() <= 65_536 && pool.len() < 1_250,
        "{}",
        pool.len()
    );
    assert!(
        pool.bytes() + 2 * one > 65_536,
        "stopped early at {}",
        pool.bytes()
    );
}

#[test]
fn take_keeps_order_and_does_not_remove() {
    let w = world();
    let mut pool = Mempool::new(Limits::default());
    let es: Vec<_> = (1..=5)
        .map(|n| produce(&w, n, &format!("LOT-{n}")))
        .collect();
    for e in &es {
        pool.insert(e.clone(), &w.state, at(0)).unwrap();
    }
    assert_eq!(pool.take(3), es[..3].to_vec());
    assert_eq!(pool.take(100), es);
    assert_eq!(pool.len(), 5);
    let one = es[0].canonical_bytes().len();
    assert_eq!(pool.take_within(100, one * 2), es[..2].to_vec());
    assert_eq!(pool.take_within(1, usize::MAX), es[..1].to_vec());
    assert!(pool.take_within(100, one - 1).is_empty());
}

/// The pool's view of `state` equals `state` with `changes` on top,
/// for everything the test entries touch.
fn assert_same_view(w: &World, pool: &Mempool, state: &State, changes: &Changes, lots: &[&str]) {
    let view = pool.view(state);
    let expected = Overlay::over(state as &dyn View, changes);
    for p in [&w.producer, &w.retailer, &w.carrier, w.admin()] {
        assert_eq!(view.nonce(&p.pk), expected.nonce(&p.pk));
        assert_eq!(view.member(&p.pk), expected.member(&p.pk));
    }
    for l in lots {
        assert_eq!(view.lot(&lot(l)), expected.lot(&lot(l)), "{l}");
    }
}

/// A pool holding the producer's entries with nonces 1 to 4.
fn pool_of_four(w: &World) -> (Mempool, Vec<SignedEntry>) {
    let mut pool = Mempool::new(Limits::default());
    let es: Vec<_> = (1..=4)
        .map(|n| produce(w, n, &format!("LOT-{n}")))
        .collect();
    for e in &es {
        pool.insert(e.clone(), &w.state, at(0)).unwrap();
    }
    (pool, es)
}

#[test]
fn on_commit_of_the_front_keeps_the_rest_without_a_recheck() {
    let w = world();
    let (mut pool, es) = pool_of_four(&w);
    let mut state = w.state.clone();
    let (ids, block) = commit(&mut state, &pool.take(2), 1);
    let r = pool.on_commit(&ids, &block, &state, at(1));
    assert_eq!(r.committed, 2);
    assert!(r.dropped.is_empty());
    assert_eq!(pool.take(10), es[2..].to_vec());
    assert_eq!(pool.len(), 2);
    assert_eq!(
        pool.bytes(),
        es[2..]
            .iter()
            .map(|e| e.canonical_bytes().len())
            .sum::<usize>()
    );
    assert!(pool.get(&es[0].id()).is_none());
    assert_eq!(pool.get(&es[3].id()), Some(&es[3]));
    // The view is the new state with the rest on top.
    let rest = rules::apply_block(&state, &es[2..], at(2)).unwrap();
    assert_eq!(pool.pending_changes(), rest.changes);
    assert_same_view(
        &w,
        &pool,
        &state,
        &rest.changes,
        &["LOT-1", "LOT-2", "LOT-3", "LOT-4"],
    );
    assert_eq!(
        pool.by_author(&w.producer.pk)
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    // The next nonce follows the pool.
    let fifth = produce(&w, 5, "LOT-5");
    pool.insert(fifth.clone(), &state, at(1)).unwrap();
    assert_eq!(pool.get(&fifth.id()), Some(&fifth));
    // Committing the rest empties the pending set.
    let (ids, block) = commit(&mut state, &pool.take(10), 2);
    let r = pool.on_commit(&ids, &block, &state, at(2));
    assert_eq!((r.committed, pool.len()), (3, 0));
    assert!(pool.pending_changes().is_empty());
    assert!(pool.by_author(&w.producer.pk).next().is_none());
}

#[test]
fn on_commit_of_anything_but_the_front_rechecks_and_rebuilds_pending() {
    let w = world();
    let (mut pool, es) = pool_of_four(&w);
    // A block with the first entry and a competing second one (nonce 2,
    // another lot) that this pool never saw.
    let mut state = w.state.clone();
    let block = vec![es[0].clone(), produce(&w, 2, "LOT-X")];
    let (ids, block) = commit(&mut state, &block, 1);
    let r = pool.on_commit(&ids, &block, &state, at(1));
    assert_eq!(r.committed, 1);
    assert_eq!(
        r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![es[1].id()]
    );
    assert_eq!(pool.take(10), es[2..].to_vec());
    let rest = rules::apply_block(&state, &es[2..], at(2)).unwrap();
    assert_eq!(pool.pending_changes(), rest.changes);
    assert_eq!(pool.get(&es[2].id()), Some(&es[2]));
}

#[test]
fn on_commit_drops_entries_that_became_invalid() {
    let w = world();
    let mut state = w.state.clone();
    commit(&mut state, &[produce(&w, 1, "LOT-A")], 1);

    let mut pool = Mempool::new(Limits::default());
    // Nonce 2 makes another lot; nonce 3 ships LOT-A to the retailer.
    let other = produce(&w, 2, "LOT-B");
    let ours = dispatch(&w, &w.producer, 3, "SHIP-1", "LOT-A", &w.retailer);
    pool.insert(other.clone(), &state, at(1)).unwrap();
    pool.insert(ours.clone(), &state, at(1)).unwrap();
    let later = produce(&w, 4, "LOT-C");
    pool.insert(later.clone(), &state, at(1)).unwrap();

    // Another proposer's block: the producer's nonce 2 ships LOT-A
    // elsewhere, by a different path (to the carrier, SHIP-2).
    let theirs = dispatch(&w, &w.producer, 2, "SHIP-2", "LOT-A", &w.carrier);
    let (ids, block) = commit(&mut state, &[theirs], 2);
    let r = pool.on_commit(&ids, &block, &state, at(2));
    assert_eq!(r.committed, 0);
    let reasons: Vec<_> = r.dropped.iter().map(|d| (d.id, d.error.clone())).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, other.id());
    assert!(matches!(
        reasons[0].1,
        RuleError::NonceReplayed { got: 2, .. }
    ));
    assert_eq!(reasons[1].0, ours.id());
    assert!(
        matches!(reasons[1].1, RuleError::LotInTransit { .. }),
        "{:?}",
        reasons[1].1
    );
    // LOT-C's production (nonce 4) now has a gap: nonce 3 was dropped.
    assert_eq!(reasons[2].0, later.id());
    assert!(matches!(reasons[2].1, RuleError::NonceGap { got: 4, .. }));
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
    assert!(pool.pending_changes().is_empty());
    let a = &state.lots[&lot("LOT-A")];
    assert_eq!(
        a.in_shipment(&ship("SHIP-2")).map(|h| h.quantity),
        Some(a.remaining())
    );
    // Nonce 3 is free again for the producer.
    pool.insert(produce(&w, 3, "LOT-D"), &state, at(2)).unwrap();
}

#[test]
fn pending_view_matches_overlay() {
    let w = world();
    let entries = vec![
        produce(&w, 1, "LOT-A"),
        dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
        receive(&w, &w.retailer, 1, "SHIP-1"),
    ];
    let mut overlay = Overlay::new(&w.state);
    let mut pool = Mempool::new(Limits::default());
    for e in &entries {
        let c = rules::apply(&overlay, e, e.id(), at(1)).unwrap();
        overlay.push(c);
        pool.insert(e.clone(), &w.state, at(0)).unwrap();
    }
    let view = pool.view(&w.state);
    for p in [&w.producer, &w.retailer, &w.carrier, w.admin()] {
        assert_eq!(view.nonce(&p.pk), overlay.nonce(&p.pk));
        assert_eq!(view.member(&p.pk), overlay.member(&p.pk));
    }
    assert_eq!(view.active_admins(), overlay.active_admins());
    assert_eq!(
        view.active_member_named(&w.retailer.name),
        overlay.active_member_named(&w.retailer.name)
    );
    assert_eq!(view.lot(&lot("LOT-A")), overlay.lot(&lot("LOT-A")));
    assert_eq!(
        view.shipment(&ship("SHIP-1")),
        overlay.shipment(&ship("SHIP-1"))
    );
    assert_eq!(view.chain_id(), overlay.chain_id());
    assert_eq!(&pool.pending_changes(), overlay.changes());
}
