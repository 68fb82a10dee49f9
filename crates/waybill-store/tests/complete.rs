//! The completeness index as the ledger keeps it: every key's value is
//! what its entries make, proven under the root each block's checkpoint
//! names; it survives reopening and snapshots; a stored root that lies
//! is corruption.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tempfile::TempDir;
use waybill_core::index::{IndexKey, Touched};
use waybill_core::trail::{self, check_complete, Policy};
use waybill_store::{create_dir, keys, Backend, Ledger, MemBackend, StoreError};

use support::*;

/// Block `height`'s index root key.
fn index_key(height: u64) -> Vec<u8> {
    let mut key = vec![keys::ns::INDEX];
    key.extend_from_slice(&height.to_be_bytes());
    key
}

/// Checks every lot's, shipment's and author's proof under the tip
/// checkpoint's index root against the entries the lookup indexes list;
/// returns the root.
fn assert_index<B: Backend>(ledger: &Ledger<B>) -> waybill_core::crypto::Hash32 {
    let tip = ledger.height();
    let cp = ledger.checkpoint(tip).expect("read").expect("a checkpoint");
    assert_eq!(ledger.index_root(tip).expect("read"), Some(cp.index));
    let state = ledger.state().to_state();
    let id = |(h, i): (u64, u32)| ledger.entry_ids(h).expect("read").expect("a block")[i as usize];
    let mut keys: Vec<(IndexKey, Vec<(u64, u32)>)> = Vec::new();
    for l in state.lots.keys() {
        keys.push((IndexKey::Lot(l.clone()), ledger.state().by_lot(l)));
    }
    for s in state.shipments.keys() {
        keys.push((IndexKey::Shipment(s.clone()), ledger.state().by_shipment(s)));
    }
    for p in state.payments.keys() {
        keys.push((IndexKey::Payment(*p), ledger.state().by_payment(p)));
    }
    assert!(!state.payments.is_empty(), "the workload records payments");
    for a in state.members.keys() {
        keys.push((IndexKey::Author(*a), ledger.state().by_author(a)));
    }
    keys.push((IndexKey::Council, ledger.state().membership()));
    assert!(keys.len() > 20, "{} keys", keys.len());
    for (key, mut positions) in keys {
        positions.dedup();
        let want = Touched::of(&positions.into_iter().map(id).collect::<Vec<_>>());
        let proof = ledger.prove_touched(&key);
        assert_eq!(proof.verify(&cp.index), Ok(want), "{key}");
    }
    // A key nothing touched is proven untouched.
    let never = IndexKey::Lot(lot("NEVER-MADE"));
    let proof = ledger.prove_touched(&never);
    assert_eq!(proof.verify(&cp.index), Ok(Touched::default()));
    cp.index
}

#[test]
fn every_key_is_proven_under_each_blocks_checkpoint() {
    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    let entries = workload(&c, 41, 240);
    let mut roots = Vec::new();
    for chunk in entries.chunks(30) {
        append_block(&c, &mut ledger, chunk.to_vec());
        roots.push(assert_index(&ledger));
    }
    // An empty block changes nothing the index holds.
    append_block(&c, &mut ledger, Vec::new());
    assert_eq!(assert_index(&ledger), *roots.last().expect("a root"));
    // Each block's checkpoint keeps the root of its height.
    for (h, root) in (1..).zip(&roots) {
        let cp = ledger.checkpoint(h).expect("read").expect("a checkpoint");
        assert_eq!(cp.index, *root, "block {h}");
    }
    ledger.check().expect("a sound ledger");
}

#[test]
fn the_index_survives_reopening_and_snapshots() {
    let c = consortium();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).expect("create");
    let mut w = Workload::new(&c, 42);
    append_in_blocks(&c, &mut ledger, &w.take(120).expect("entries"), 20);
    let root = assert_index(&ledger);
    drop(ledger);

    let mut ledger = reopen(&dir).expect("reopen");
    assert_eq!(assert_index(&ledger), root);
    ledger.snapshot().expect("snapshot");
    append_in_blocks(&c, &mut ledger, &w.take(60).expect("entries"), 20);
    let root = assert_index(&ledger);
    drop(ledger);
    let ledger = reopen(&dir).expect("reopen after the snapshot");
    assert_eq!(assert_index(&ledger), root);
    ledger.check().expect("a sound ledger");
}

#[test]
fn a_lost_or_wrong_index_root_is_corruption() {
    let c = consortium();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).expect("create");
    append_in_blocks(&c, &mut ledger, &workload(&c, 43, 64), 8);
    let last = ledger.height();
    drop(ledger);

    // The tip's root is checked when the ledger opens.
    let kept = set_raw(&dir, &index_key(last), Some(vec![7u8; 32])).expect("the tip's root");
    match reopen(&dir) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("completeness index"), "{m}"),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("opened with a wrong index root"),
    }
    set_raw(&dir, &index_key(last), Some(vec![0u8; 31]));
    assert!(matches!(reopen(&dir), Err(StoreError::Corrupt(_))));
    set_raw(&dir, &index_key(last), None);
    assert!(matches!(reopen(&dir), Err(StoreError::Corrupt(_))));
    set_raw(&dir, &index_key(last), Some(kept));

    // An older block's, by the check, which replays every block.
    let old = set_raw(&dir, &index_key(3), Some(vec![7u8; 32])).expect("block 3's root");
    let ledger = reopen(&dir).expect("opens: only the tip's is read");
    let e = ledger.check().expect_err("the check finds it");
    assert!(e.to_string().contains("completeness index root is"), "{e}");
    drop(ledger);
    set_raw(&dir, &index_key(3), None);
    let e = reopen(&dir)
        .expect("opens")
        .check()
        .expect_err("a lost one too");
    assert!(e.to_string().contains("root is missing"), "{e}");
    set_raw(&dir, &index_key(3), Some(old));
    reopen(&dir).expect("opens").check().expect("sound again");
}

/// Every lot's trail from the ledger verifies and is proven complete
/// under the tip's index root; with any one entry it needs left out,
/// or a proof changed, it is not.
#[test]
fn every_trail_is_proven_complete_and_none_with_an_entry_left_out() {
    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    append_in_blocks(&c, &mut ledger, &workload(&c, 44, 240), 30);
    let tip = ledger.height();
    let root = ledger.index_root(tip).expect("read").expect("a root");
    let policy = Policy {
        require_certificates: false,
    };
    let lots: Vec<_> = ledger.state().to_state().lots.keys().cloned().collect();
    assert!(lots.len() > 10, "{} lots", lots.len());
    let mut dropped = 0;
    for lot in &lots {
        let trail = ledger.trail(lot).expect("a trail");
        let report = trail::verify(&c.genesis, &trail, policy).expect("verifies");
        let proven = check_complete(&report, trail.complete.as_deref(), &root, tip)
            .unwrap_or_else(|e| panic!("lot {lot}: {e}"));
        assert_eq!(proven, report.completeness.required.len());
        assert!(report.completeness.required.contains(&IndexKey::Council));

        // Leave out each entry that touches a required key but the lot's
        // own production (without which the trail does not verify at all).
        for i in 0..trail.items.len() {
            let mut short = trail.clone();
            short.items.remove(i);
            let Ok(r) = trail::verify(&c.genesis, &short, policy) else {
                continue;
            };
            let e = check_complete(&r, short.complete.as_deref(), &root, tip)
                .expect_err("an entry left out");
            let msg = e.to_string();
            assert!(
                msg.contains("missing") || msg.contains("not the ones"),
                "{msg}"
            );
            dropped += 1;
        }
    }
    assert!(dropped > 50, "only {dropped} omissions tried");

    // No proofs, a proof short of a key, a proof of another height.
    let lot = &lots[lots.len() / 2];
    let trail = ledger.trail(lot).expect("a trail");
    let report = trail::verify(&c.genesis, &trail, policy).expect("verifies");
    let e = check_complete(&report, None, &root, tip).expect_err("no proofs");
    assert!(e.to_string().contains("no completeness proofs"), "{e}");
    let mut proofs = trail.complete.clone().expect("proofs");
    let gone = proofs.remove(0).key;
    let e = check_complete(&report, Some(&proofs), &root, tip).expect_err("one short");
    assert!(e.to_string().contains(&gone.to_string()), "{e}");
    let older = ledger.index_root(tip - 1).expect("read").expect("a root");
    assert!(check_complete(&report, trail.complete.as_deref(), &older, tip - 1).is_err());
}

#[test]
fn every_members_entries_are_proven_complete_and_none_with_one_left_out() {
    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    // Certified blocks: a member's entries are taken on their blocks'
    // certificates, not replayed.
    for chunk in workload(&c, 45, 200).chunks(25) {
        let block = ledger.seal(chunk.to_vec(), next_time(&ledger), c.validator.pk);
        let cert = certify(&c, &block.header);
        ledger.append(block, Some(cert)).expect("append");
    }
    let tip = ledger.height();
    let root = ledger.index_root(tip).expect("read").expect("a root");
    let members: Vec<_> = c.genesis.members.iter().map(|m| m.public_key).collect();
    let mut checked = 0;
    for m in &members {
        let t = ledger.member_trail(m).expect("a member trail");
        let report = trail::verify_member(&c.genesis, &t).expect("verifies");
        assert_eq!(report.entries.len(), ledger.state().by_author(m).len());
        trail::check_member_complete(&report, &t.complete, &root, tip)
            .unwrap_or_else(|e| panic!("{}: {e}", report.member_name));
        // Each of the member's entries left out is caught.
        for i in (0..t.items.len()).filter(|i| t.items[*i].entry.entry.author == *m) {
            let mut short = t.clone();
            short.items.remove(i);
            let Ok(r) = trail::verify_member(&c.genesis, &short) else {
                continue;
            };
            let e = trail::check_member_complete(&r, &short.complete, &root, tip)
                .expect_err("an entry left out");
            assert!(
                e.to_string().contains("1 entry signed by"),
                "{}: {e}",
                report.member_name
            );
            checked += 1;
        }
        // Another member's entry slipped in is refused.
        if let Some(other) = ledger
            .member_trail(
                &members[(members.iter().position(|x| x == m).unwrap() + 1) % members.len()],
            )
            .expect("a member trail")
            .items
            .into_iter()
            .find(|i| {
                i.entry.entry.author != *m
                    && !matches!(
                        i.entry.entry.body,
                        waybill_core::entry::Body::Membership(_)
                            | waybill_core::entry::Body::Governance(_)
                    )
            })
        {
            let mut more = t.clone();
            more.items.push(other);
            more.items.sort_by_key(|i| (i.header.height, i.index));
            assert!(trail::verify_member(&c.genesis, &more).is_err());
        }
    }
    assert!(checked > 20, "only {checked} omissions tried");
}

/// An auditor's export of a period: every window's entries are proven
/// complete by the log's sizes at its bounds; one left out, a bound moved
/// or a block's header swapped is caught.
#[test]
fn every_periods_entries_are_proven_complete_and_none_with_one_left_out() {
    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    for chunk in workload(&c, 46, 180).chunks(20) {
        let block = ledger.seal(chunk.to_vec(), next_time(&ledger), c.validator.pk);
        let cert = certify(&c, &block.header);
        ledger.append(block, Some(cert)).expect("append");
    }
    // Empty blocks at the end: they hold nothing, and hide nothing.
    for _ in 0..3 {
        let block = ledger.seal(Vec::new(), next_time(&ledger), c.validator.pk);
        let cert = certify(&c, &block.header);
        ledger.append(block, Some(cert)).expect("append");
    }
    let tip = ledger.height();
    let cps: Vec<_> = (1..=tip)
        .map(|h| ledger.checkpoint(h).expect("read").expect("a checkpoint"))
        .collect();
    let time = |h: u64| ledger.header(h).expect("read").expect("a header").time_ms;
    let windows = [
        (None, None),
        (Some(time(3)), Some(time(6))),
        (Some(time(3) - 1), Some(time(3) + 1)),
        (Some(time(tip) + 1), None),
        (None, Some(time(1))),
        (Some(time(9)), None),
        (Some(time(2) + 500), Some(time(5) + 500)),
    ];
    let mut omissions = 0;
    for (from, to) in windows {
        let what = format!("{from:?}..{to:?}");
        let t = ledger.period_trail(from, to, 10_000).expect("a period");
        let (report, needed) = trail::verify_period(&c.genesis, &t).expect(&what);
        let want: usize = (t.start_height + 1..=t.end_height)
            .map(|h| ledger.entry_ids(h).expect("read").expect("a block").len())
            .sum();
        assert_eq!(report.entries.len(), want, "{what}");
        for e in &report.entries {
            assert!(from.is_none_or(|f| e.block_time_ms >= f), "{what}");
            assert!(to.is_none_or(|t| e.block_time_ms < t), "{what}");
        }
        let given: Vec<_> = needed
            .iter()
            .map(|n| cps[n.height as usize - 1].clone())
            .collect();
        trail::check_period_complete(&report, &given, &t.complete).expect(&what);
        // Each entry of the period left out is caught, and named.
        for i in 0..t.items.len() {
            let h = t.items[i].header.height;
            if h <= t.start_height || h > t.end_height {
                continue;
            }
            let mut short = t.clone();
            let gone = short.items.remove(i);
            let Ok((r, _)) = trail::verify_period(&c.genesis, &short) else {
                continue;
            };
            let e = trail::check_period_complete(&r, &given, &short.complete)
                .expect_err("an entry left out")
                .to_string();
            assert!(e.contains("1 entry in blocks"), "{what}: {e}");
            assert!(
                e.contains(&format!("entry {} of block {h}", gone.index)),
                "{what}: {e}"
            );
            omissions += 1;
        }
        // The period ending one block early, as if the tip were there,
        // with entries in its last block. (With its last block empty, that
        // is an old view, which only its age tells: the CLI's --max-age.)
        if t.items.iter().any(|i| i.header.height == t.end_height) && t.end_height > t.start_height
        {
            let mut early = t.clone();
            early.end_height -= 1;
            early.tip_height = early.end_height;
            early.after = None;
            assert!(
                trail::verify_period(&c.genesis, &early).is_err(),
                "{what}: an early end with entries past it"
            );
        }
    }
    assert!(omissions > 100, "only {omissions} omissions tried");

    // A whole block left out, with the header after it moved up.
    let t = ledger
        .period_trail(Some(time(2)), Some(time(5)), 10_000)
        .expect("a period");
    let (report, needed) = trail::verify_period(&c.genesis, &t).expect("verifies");
    let given: Vec<_> = needed
        .iter()
        .map(|n| cps[n.height as usize - 1].clone())
        .collect();
    let mut cut = t.clone();
    cut.items.retain(|i| i.header.height != 4);
    cut.end_height = 4;
    cut.after = ledger.header(5).expect("read");
    let (r, needed_cut) = trail::verify_period(&c.genesis, &cut).expect("verifies");
    let given_cut: Vec<_> = needed_cut
        .iter()
        .map(|n| cps[n.height as usize - 1].clone())
        .collect();
    let e = trail::check_period_complete(&r, &given_cut, &cut.complete)
        .expect_err("a block left out")
        .to_string();
    assert!(e.contains("entries in blocks 2..=4 are missing"), "{e}");
    // A bound's header that is not the certified block.
    let mut forged = t.clone();
    if let Some(h) = forged.start.as_mut() {
        h.time_ms -= 1;
    }
    let (r, _) = trail::verify_period(&c.genesis, &forged).expect("verifies");
    let e = trail::check_period_complete(&r, &given, &forged.complete)
        .expect_err("a forged bound")
        .to_string();
    assert!(e.contains("not the block the validators certified"), "{e}");
    // A bound that does not bound: the block before is in the period.
    let mut moved = t.clone();
    moved.start_height = 2;
    moved.start = ledger.header(2).expect("read");
    assert!(trail::verify_period(&c.genesis, &moved).is_err());
    // The membership short of one entry.
    let mut no_council = t.clone();
    if let Some(i) = no_council.items.iter().position(|i| {
        i.header.height <= t.start_height
            && matches!(
                i.entry.entry.body,
                waybill_core::entry::Body::Membership(_) | waybill_core::entry::Body::Governance(_)
            )
    }) {
        no_council.items.remove(i);
        if let Ok((r, needed)) = trail::verify_period(&c.genesis, &no_council) {
            let given: Vec<_> = needed
                .iter()
                .map(|n| cps[n.height as usize - 1].clone())
                .collect();
            assert!(trail::check_period_complete(&r, &given, &no_council.complete).is_err());
        }
    }
    // No checkpoint of a bound: nothing is taken as complete.
    assert!(trail::check_period_complete(&report, &given[1..], &t.complete).is_err());
    // Too large a period is refused before it is read.
    assert!(matches!(
        ledger.period_trail(None, None, 10),
        Err(StoreError::PeriodTooLarge { .. })
    ));
}
