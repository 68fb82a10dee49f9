//! Tests that look inside the pool: [`Mempool::assert_consistent`] checks
//! every index against the entries and each entry's kept reads and writes
//! against a fresh check, and the tests that rely on it (revision after a
//! block, membership changes, random walks) or on private bounds.

use std::collections::HashMap;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use waybill_core::codes::Decimal3;
use waybill_core::entry::EntryId;
use waybill_core::rules::{self, At, RuleError};
use waybill_core::state::{Changes, State, View};
use waybill_testkit::entries::{cosigned, remove_member, signed};
use waybill_testkit::ids::lot;

use crate::keys::{Key, Read, Writes};

/// Height `h` at a time an hour after the kit's T0 plus a minute per
/// height: after every entry these tests sign.
fn at(h: u64) -> At {
    At::new(
        h,
        waybill_testkit::T0 + 3_600_000 + i64::try_from(h).unwrap_or(0) * 60_000,
    )
}
use crate::limits::ORPHAN_SHARE;
use crate::test_support::*;
use crate::{FromPeer, Limits, Mempool, MempoolError};

impl Mempool {
    /// What each waiting entry's last check wrote, in order.
    fn writes(&self) -> Vec<Changes> {
        self.queue
            .iter()
            .flatten()
            .map(|s| {
                let mut c = Changes::default();
                s.writes.merge_into(&mut c);
                c
            })
            .collect()
    }

    /// Panics unless every index agrees with the entries, and each entry,
    /// checked again now against `state` (after block `height`) plus the
    /// entries before it, passes with the writes and reads it holds.
    fn assert_consistent(&self, state: &dyn View, tip: At) {
        let mut live = 0;
        let mut from_state = 0;
        for (i, slot) in self.queue.iter().enumerate() {
            let seq = self.front + i as u64;
            let Some(slot) = slot else { continue };
            live += 1;
            assert_eq!(self.index.get(&slot.w.id), Some(&seq));
            assert_eq!(slot.written, self.hashes(&slot.writes));
            for h in &slot.written {
                assert!(self.writers[h].all().any(|s| s == seq));
            }
            let (result, reads) = self.check(&slot.w.entry, slot.w.id, state, tip, seq);
            let (writes, _) = Writes::split(result.unwrap());
            assert_eq!(writes, slot.writes, "writes of {seq}");
            let keys = |rs: &[Read]| -> Vec<(Key, Option<u64>)> {
                rs.iter().map(|r| (r.key.clone(), r.from)).collect()
            };
            assert_eq!(keys(&reads), keys(&slot.reads), "reads of {seq}");
            for r in &slot.reads {
                assert_eq!(r.hash, self.hash(r.key.borrowed()));
                match r.from {
                    None => {
                        from_state += 1;
                        assert!(self.state_readers[&r.hash].all().any(|s| s == seq));
                    }
                    Some(w) => assert!(self.slot(w).unwrap().dependents.contains(&seq)),
                }
            }
        }
        assert_eq!(live, self.live);
        assert_eq!(
            self.state_readers
                .values()
                .map(|s| s.all().count())
                .sum::<usize>(),
            from_state
        );
        for (h, seqs) in &self.writers {
            let seqs: Vec<u64> = seqs.all().collect();
            assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
            for s in seqs {
                assert!(self.slot(s).unwrap().written.contains(h));
            }
        }
        for seqs in self.state_readers.values() {
            let seqs: Vec<u64> = seqs.all().collect();
            assert!(seqs.windows(2).all(|w| w[0] >= w[1]), "{seqs:?}");
        }
        assert!(self.queue.front().is_none_or(Option::is_some));
    }
}

#[test]
fn entries_from_peers_that_name_an_unknown_shipment_wait_for_it_until_a_commit() {
    let w = world();
    let p1 = produce(&w, 1, "LOT-A");
    let p2 = dispatch(&w, &w.producer, 2, "S-1", "LOT-A", &w.retailer);
    let r1 = receive(&w, &w.retailer, 1, "S-1");
    let r2 = dispatch(&w, &w.retailer, 2, "S-2", "LOT-A", &w.producer);

    // The retailer's receipt comes before the dispatch it receives, and
    // the retailer's next entry after it.
    let mut pool = Mempool::new(Limits::default());
    assert_eq!(
        pool.insert_from_peer(r1.clone(), &w.state, at(0)),
        Ok(FromPeer::Orphaned(r1.id()))
    );
    assert_eq!(
        pool.insert_from_peer(r2.clone(), &w.state, at(0)),
        Ok(FromPeer::Parked(r2.id()))
    );
    assert_eq!((pool.len(), pool.orphans(), pool.parked()), (0, 1, 1));
    assert_eq!(
        pool.insert_from_peer(p1.clone(), &w.state, at(0)),
        Ok(FromPeer::Accepted(p1.id()))
    );
    pool.retry_orphans(&w.state, at(0));
    assert_eq!((pool.len(), pool.orphans(), pool.parked()), (1, 1, 1));
    assert_eq!(
        pool.insert_from_peer(p2.clone(), &w.state, at(0)),
        Ok(FromPeer::Accepted(p2.id()))
    );
    pool.retry_orphans(&w.state, at(0));
    assert_eq!((pool.len(), pool.orphans(), pool.parked()), (4, 0, 0));
    assert_eq!(
        pool.take(10),
        vec![p1.clone(), p2.clone(), r1.clone(), r2.clone()]
    );

    // A block that makes the shipment lets the orphan in; an orphan
    // still waiting after a commit is dropped.
    for (block, joined) in [
        (vec![p1.clone(), p2.clone()], true),
        (vec![p1.clone()], false),
    ] {
        let mut state = w.state.clone();
        let mut pool = Mempool::new(Limits::default());
        assert!(matches!(
            pool.insert_from_peer(r1.clone(), &state, at(0)),
            Ok(FromPeer::Orphaned(_))
        ));
        assert!(matches!(
            pool.insert_from_peer(r2.clone(), &state, at(0)),
            Ok(FromPeer::Parked(_))
        ));
        let (ids, block) = commit(&mut state, &block, 1);
        pool.on_commit(&ids, &block, &state, at(1));
        assert_eq!(pool.orphans(), 0);
        if joined {
            assert_eq!(pool.take(10), vec![r1.clone(), r2.clone()]);
        } else {
            assert!(pool.is_empty());
            assert!(!pool.contains(&r1.id()));
        }
    }

    // Orphans are bounded; API submissions naming an unknown shipment
    // are still refused.
    let mut pool = Mempool::new(Limits {
        max_entries: ORPHAN_SHARE,
        max_bytes: 1 << 20,
        author_share: 1,
    });
    assert!(matches!(
        pool.insert_from_peer(r1.clone(), &w.state, at(0)),
        Ok(FromPeer::Orphaned(_))
    ));
    let r1_other = receive(&w, &w.retailer, 1, "S-9");
    assert!(matches!(
        pool.insert_from_peer(r1_other.clone(), &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::UnknownShipment(_)))
    ));
    assert!(matches!(
        Mempool::new(Limits::default()).insert(r1.clone(), &w.state, at(0)),
        Err(MempoolError::Rule(RuleError::UnknownShipment(_)))
    ));
}

#[test]
fn a_commit_rechecks_only_what_it_changed_and_passes_changes_on() {
    let w = world();
    let mut state = w.state.clone();
    commit(&mut state, &[produce(&w, 1, "LOT-A")], 1);
    // The producer uses 400 then 300 of LOT-A's 1,000 and ships the
    // rest to the retailer, who receives it.
    let mut pool = Mempool::new(Limits::default());
    let uses = produce_from(&w, 2, "LOT-B", "LOT-A", "400");
    let waiting = vec![
        uses.clone(),
        produce_from(&w, 3, "LOT-C", "LOT-A", "300"),
        dispatch(&w, &w.producer, 4, "SHIP-1", "LOT-A", &w.retailer),
        receive(&w, &w.retailer, 1, "SHIP-1"),
    ];
    for e in &waiting {
        pool.insert(e.clone(), &state, at(1)).unwrap();
    }
    let remaining =
        |pool: &Mempool, state: &State| pool.view(state).lot(&lot("LOT-A")).unwrap().remaining();
    assert_eq!(remaining(&pool, &state), Decimal3::from_milli(300_000));
    // Another proposer's block: the producer's nonce 2 used 100.
    let (ids, block) = commit(
        &mut state,
        &[produce_from(&w, 2, "LOT-D", "LOT-A", "100")],
        2,
    );
    let r = pool.on_commit(&ids, &block, &state, at(2));
    assert_eq!(
        r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![uses.id()]
    );
    assert_eq!(r.rechecked, 4);
    assert_eq!(pool.take(10), waiting[1..].to_vec());
    // Each later entry now writes LOT-A with 600 left.
    let expected = rules::apply_block(&state, &waiting[1..], at(3))
        .unwrap()
        .changes;
    assert_eq!(pool.pending_changes(), expected);
    let lot_a = &expected.lots[&lot("LOT-A")];
    assert_eq!(lot_a.remaining(), Decimal3::from_milli(600_000));
    assert_eq!(lot_a.held_by(&state, &w.retailer.pk), lot_a.remaining());
    pool.assert_consistent(&state, at(2));

    // A block of the pool's front re-checks nothing.
    let front = pool.take(2);
    let (ids, block) = commit(&mut state, &front, 3);
    let r = pool.on_commit(&ids, &block, &state, at(3));
    assert_eq!((r.committed, r.rechecked), (2, 0));
    assert_eq!(pool.take(10), waiting[3..].to_vec());
    pool.assert_consistent(&state, at(3));
}

#[test]
fn a_membership_change_makes_a_commit_check_every_entry_again() {
    let w = world();
    let mut state = w.state.clone();
    // Two of the consortium's three admins sign the retailer's removal.
    let remove = cosigned(
        signed(w.chain_id, w.admin(), 1, remove_member(&w.retailer.pk)),
        &[&w.admins[1]],
    );
    let waiting = vec![
        produce(&w, 1, "LOT-A"),
        dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
        receive(&w, &w.retailer, 1, "SHIP-1"),
        remove.clone(),
    ];
    let mut pool = Mempool::new(Limits::default());
    for e in &waiting {
        pool.insert(e.clone(), &state, at(0)).unwrap();
    }
    // The removal, committed alone, ends the shipment to the retailer
    // and its receipt; the block changes membership, so every entry is
    // checked again.
    let (ids, block) = commit(&mut state, &[remove], 1);
    let r = pool.on_commit(&ids, &block, &state, at(1));
    assert_eq!((r.committed, r.rechecked), (1, 3));
    assert_eq!(
        r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![waiting[1].id(), waiting[2].id()]
    );
    assert!(matches!(
        r.dropped[0].error,
        RuleError::BadCounterparty { .. }
    ));
    assert!(matches!(
        r.dropped[1].error,
        RuleError::AuthorRemoved { .. }
    ));
    assert_eq!(pool.take(10), waiting[..1].to_vec());
    pool.assert_consistent(&state, at(1));
    // With no membership change left in the pool, a commit that is not
    // its front looks only at what the block touched: the producer's
    // entry, which read the nonce the block's entry wrote.
    let other = produce(&w, 1, "LOT-X");
    let (ids, block) = commit(&mut state, &[other], 2);
    let r = pool.on_commit(&ids, &block, &state, at(2));
    assert_eq!((r.committed, r.rechecked, r.dropped.len()), (0, 1, 1));
    assert!(pool.is_empty());
}

/// The pool after a commit looks only at the entries the block can
/// affect; it must end where checking every entry again would.
/// Two random walks that collide (the same authors' nonces, lot,
/// shipment and payment ids) reach two pools in different orders, and
/// blocks are taken from either pool, so most are not the other's
/// front: entries are dropped, change their writes (a lot's remaining
/// quantity, a shipment's lots) or keep their verdict.
#[test]
fn a_commit_leaves_the_pool_as_checking_every_entry_again_would() {
    let (genesis, parties) = market();
    let (mut revised, mut changed, mut dropped) = (0, 0, 0);
    for seed in 0..150u64 {
        let rng = &mut ChaCha8Rng::seed_from_u64(seed);
        let mut state = genesis.clone();
        // Two walks from a common start: a pool gets the start from
        // one walk or the other.
        let start = walk(rng, &state, &parties, &[], 10);
        let one = walk(rng, &state, &parties, &start, 40);
        let two = walk(rng, &state, &parties, &start, 40);
        let feeds = [shuffle(rng, &one, &two), shuffle(rng, &two, &one)];
        let mut pools = [
            Mempool::new(Limits::default()),
            Mempool::new(Limits::default()),
        ];
        let mut height = 0;
        for round in 0..5 {
            for (pool, feed) in pools.iter_mut().zip(&feeds) {
                let n = feed.len() / 5;
                for e in &feed[round * n..(round + 1) * n] {
                    let _ = pool.insert_verified(e.clone(), &state, at(height));
                }
                pool.assert_consistent(&state, at(height));
            }
            let from = (rng.next_u64() % 2) as usize;
            let len = 1 + (rng.next_u64() % 12) as usize;
            let block = pools[from].take(len);
            if block.is_empty() {
                continue;
            }
            height += 1;
            let (ids, writes) = commit(&mut state, &block, height);
            for pool in &mut pools {
                let waiting = pool.take(usize::MAX);
                let (kept, kept_writes, gone) =
                    recheck_from_scratch(&state, &waiting, &ids, height);
                let before: HashMap<EntryId, Changes> =
                    waiting.iter().map(|e| e.id()).zip(pool.writes()).collect();
                let r = pool.on_commit(&ids, &writes, &state, at(height));
                let why = format!("seed {seed}, round {round}");
                assert_eq!(pool.take(usize::MAX), kept, "{why}");
                assert_eq!(pool.writes(), kept_writes, "{why}");
                assert_eq!(
                    r.dropped
                        .iter()
                        .map(|d| (d.id, d.error.clone()))
                        .collect::<Vec<_>>(),
                    gone,
                    "{why}"
                );
                assert_eq!(
                    r.committed,
                    waiting.iter().filter(|e| ids.contains(&e.id())).count(),
                    "{why}"
                );
                pool.assert_consistent(&state, at(height));
                let mut merged = Changes::default();
                kept_writes.iter().for_each(|c| merged.merge(c.clone()));
                assert_eq!(pool.pending_changes(), merged, "{why}");
                if !waiting
                    .iter()
                    .take(ids.len())
                    .map(|e| e.id())
                    .eq(ids.iter().copied())
                {
                    revised += 1;
                    dropped += gone.len();
                    changed += kept
                        .iter()
                        .zip(&kept_writes)
                        .filter(|(e, c)| before[&e.id()] != **c)
                        .count();
                }
            }
        }
    }
    // The walks exercise what the test is for.
    assert!(revised > 200, "{revised} commits off the front");
    assert!(dropped > 200, "{dropped} entries dropped");
    assert!(changed >= 5, "{changed} entries kept with other writes");
}
