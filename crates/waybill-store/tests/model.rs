//! Model test: the same random valid workload, cut into the same random
//! blocks, through the in-memory ledger and the sled ledger (reopened part
//! way through) must give identical tips, states, lookups and trails.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use proptest::prelude::*;
use tempfile::TempDir;
use waybill_core::entry::{Body, SignedEntry};
use waybill_store::{create_dir, Backend, Ledger, MemBackend};

use support::*;

/// Every lookup the two ledgers answer, side by side.
fn assert_same_lookups<A: Backend, B: Backend>(
    a: &Ledger<A>,
    b: &Ledger<B>,
    entries: &[SignedEntry],
) -> Result<(), TestCaseError> {
    let mut shipments = BTreeSet::new();
    let mut payments = BTreeSet::new();
    for e in entries {
        let id = e.id();
        let found = a.entry(&id).expect("mem");
        prop_assert!(found.is_some());
        prop_assert_eq!(found, b.entry(&id).expect("sled"));
        match &e.entry.body {
            Body::Dispatch(d) => {
                shipments.insert(d.shipment.to_string());
            }
            Body::DispatchV2(d) => {
                shipments.insert(d.shipment.to_string());
            }
            Body::SealedPayment(p) => {
                payments.insert(p.payment_id.to_string());
            }
            _ => {}
        }
    }
    for s in &shipments {
        prop_assert_eq!(
            a.positions_by_shipment(s).expect("mem"),
            b.positions_by_shipment(s).expect("sled")
        );
    }
    for p in &payments {
        let pa = a.positions_by_payment(p).expect("mem");
        prop_assert_eq!(pa.len(), 1);
        prop_assert_eq!(pa, b.positions_by_payment(p).expect("sled"));
    }
    for m in consortium().members() {
        prop_assert_eq!(
            a.positions_by_author(&m.pk).expect("mem"),
            b.positions_by_author(&m.pk).expect("sled")
        );
    }
    for h in 1..=a.height() {
        prop_assert_eq!(a.block(h).expect("mem"), b.block(h).expect("sled"));
        prop_assert_eq!(a.entry_ids(h).expect("mem"), b.entry_ids(h).expect("sled"));
    }
    for lot in a.state().to_state().lots.keys() {
        prop_assert_eq!(
            a.positions_by_lot(lot).expect("mem"),
            b.positions_by_lot(lot).expect("sled")
        );
        prop_assert_eq!(
            a.made_from(lot).expect("mem"),
            b.made_from(lot).expect("sled")
        );
        prop_assert_eq!(a.forward(lot).expect("mem"), b.forward(lot).expect("sled"));
    }
    Ok(())
}

/// Runs `count` entries of workload `seed` through both ledgers in blocks
/// of `sizes` (cycled), reopening sled after block `reopen_after` (and at
/// the end if that never came), then compares everything; trails of every
/// `trail_step`-th lot.
fn run(
    seed: u64,
    count: usize,
    sizes: &[usize],
    reopen_after: usize,
    trail_step: usize,
) -> Result<(), TestCaseError> {
    let c = consortium();
    let entries = workload(&c, seed, count);
    let mut mem = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create mem");
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut disk = create_dir(&dir, c.genesis.clone()).expect("create sled");

    let mut rest = &entries[..];
    let mut block = 0usize;
    let mut reopened = false;
    while !rest.is_empty() {
        let n = sizes[block % sizes.len()].min(rest.len());
        let (now, tail) = rest.split_at(n);
        rest = tail;
        let ha = append_block(&c, &mut mem, now.to_vec());
        let hb = append_block(&c, &mut disk, now.to_vec());
        prop_assert_eq!(&ha, &hb);
        prop_assert_eq!(mem.tip(), disk.tip());
        prop_assert_eq!(mem.state().digest(), disk.state().digest());
        block += 1;
        if block == reopen_after || (rest.is_empty() && !reopened) {
            let (tip, digest) = (disk.tip().cloned(), disk.state().digest());
            drop(disk);
            disk = reopen(&dir).expect("reopen sled");
            reopened = true;
            prop_assert_eq!(disk.tip().cloned(), tip);
            prop_assert_eq!(disk.state().digest(), digest);
            prop_assert_eq!(disk.state(), mem.state());
        }
    }

    prop_assert_eq!(mem.height(), disk.height());
    prop_assert_eq!(mem.tip(), disk.tip());
    prop_assert_eq!(mem.state(), disk.state());
    let ra = mem.check().expect("mem checks");
    let rb = disk.check().expect("sled checks");
    prop_assert_eq!(&ra, &rb);
    prop_assert_eq!(ra.state_digest, mem.state().digest());
    prop_assert_eq!(ra.entries, entries.len() as u64);
    assert_same_lookups(&mem, &disk, &entries)?;
    for lot in mem.state().to_state().lots.keys().step_by(trail_step) {
        let ta = mem.trail(lot).expect("mem trail");
        let tb = disk.trail(lot).expect("sled trail");
        prop_assert_eq!(&ta, &tb);
        // The trail is the same whichever way it is serialised.
        let json = serde_json::to_string(&ta).expect("to json");
        let back: waybill_core::trail::Trail = serde_json::from_str(&json).expect("from json");
        prop_assert_eq!(&back, &ta);
        verify_trail(&c, &ta);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mem_and_sled_ledgers_agree(
        seed in any::<u64>(),
        count in 1usize..200,
        sizes in prop::collection::vec(1usize..40, 1..12),
        reopen_after in 1usize..30,
    ) {
        run(seed, count, &sizes, reopen_after, 1)?;
    }
}

/// One long fixed run, so the comparison always covers a deep chain.
#[test]
fn mem_and_sled_agree_on_a_long_run() {
    run(20_240_601, 1_000, &[1, 64, 7, 33, 120, 2], 9, 10).expect("agree");
}
