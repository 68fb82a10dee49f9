//! The ledger's log (one RFC 6962 tree over every entry, for C2SP
//! checkpoints): the stored tree against a tree kept apart in memory,
//! over blocks of every size, across reopening, and with its hashes
//! damaged on disk.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tempfile::TempDir;
use waybill_core::block::BlockBytes;
use waybill_core::bundle::{
    Bundle, BundleBody, BundleError, BundleLog, LogLeaf, BUNDLE_FORMAT, BUNDLE_VERSION,
};
use waybill_core::checkpoint::{
    self, check_consistency, check_inclusion, CarriedCosignature, Checkpoint, MemoryLog,
};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::trail::{self, Policy};
use waybill_store::{create_dir, keys, Attached, Backend, Ledger, MemBackend, StoreError};
use waybill_testkit::certs::{carried_cosignature, cosigned_note, EXTENSION_SIGNATURE};

use support::*;

/// Every entry id on the ledger, in chain order.
fn chain_ids<B: Backend>(ledger: &Ledger<B>) -> Vec<EntryId> {
    (1..=ledger.height())
        .flat_map(|h| ledger.entry_ids(h).expect("ids").expect("a block"))
        .collect()
}

/// Blocks of 0 to 40 entries (sizes that cross the tree's powers of two
/// at every alignment), then the rest.
fn append_uneven<B: Backend>(c: &Consortium, ledger: &mut Ledger<B>, entries: &[SignedEntry]) {
    let sizes = [1usize, 0, 3, 7, 8, 0, 1, 16, 33, 2, 40, 5];
    let mut rest = entries;
    for n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (now, later) = rest.split_at((*n).min(rest.len()));
        append_block(c, ledger, now.to_vec());
        rest = later;
    }
}

/// The stored log agrees with a log built apart from the chain's ids:
/// size, root, each height's checkpoint, and proofs that verify.
fn assert_log<B: Backend>(ledger: &Ledger<B>) -> Vec<Checkpoint> {
    let ids = chain_ids(ledger);
    let mut model = MemoryLog::new();
    for id in &ids {
        model.push(id);
    }
    assert_eq!(ledger.log_size(), ids.len() as u64);
    assert_eq!(ledger.log_root(), model.root(model.size()).expect("root"));
    assert_eq!(ledger.checkpoint(0).expect("read"), None);
    assert_eq!(ledger.checkpoint(ledger.height() + 1).expect("read"), None);

    let mut through = 0u64;
    let mut checkpoints = Vec::new();
    for h in 1..=ledger.height() {
        through += ledger.entry_ids(h).expect("ids").expect("block").len() as u64;
        let cp = ledger.checkpoint(h).expect("read").expect("a checkpoint");
        assert_eq!(cp.size, through, "height {h}");
        assert_eq!(cp.height, h);
        assert_eq!(cp.root, model.root(through).expect("root"), "height {h}");
        assert_eq!(
            cp.block,
            ledger.header(h).expect("read").expect("header").hash()
        );
        assert_eq!(
            Checkpoint::parse(&cp.body()).expect("a C2SP body"),
            cp,
            "height {h}"
        );
        checkpoints.push(cp);
    }
    // Consistency between every pair of heights' checkpoints.
    for old in &checkpoints {
        for new in checkpoints.iter().filter(|n| n.height >= old.height) {
            let proof = ledger
                .prove_consistency(old.size, new.size)
                .expect("a proof");
            assert_eq!(
                proof,
                model.prove_consistency(old.size, new.size).expect("model")
            );
            check_consistency(old, new, &proof)
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", old.size, new.size));
        }
    }
    // Every entry is in the tip's checkpoint, at its leaf.
    if let Some(tip) = checkpoints.last() {
        let mut leaf = 0u64;
        for h in 1..=ledger.height() {
            let block = ledger.entry_ids(h).expect("ids").expect("block");
            for (i, id) in block.iter().enumerate() {
                assert_eq!(ledger.log_leaf(h, i as u32), Some(leaf));
                let proof = ledger.prove_inclusion(leaf, tip.size).expect("a proof");
                check_inclusion(tip, leaf, id, &proof)
                    .unwrap_or_else(|e| panic!("entry {leaf}: {e}"));
                leaf += 1;
            }
            assert_eq!(
                ledger.log_leaf(h, block.len() as u32),
                None,
                "past block {h}"
            );
        }
    }
    checkpoints
}

#[test]
fn the_stored_log_is_the_tree_of_every_entry_and_proves_growth() {
    let c = consortium();
    let entries = workload(&c, 31, 260);
    let mut mem = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    assert_eq!(mem.log_size(), 0);
    assert_eq!(mem.log_root(), MemoryLog::new().root(0).expect("empty"));
    append_uneven(&c, &mut mem, &entries);
    let checkpoints = assert_log(&mem);
    assert!(checkpoints.len() > 20, "{} blocks", checkpoints.len());

    // Questions beyond the log are refused, not answered wrongly.
    let size = mem.log_size();
    for e in [
        mem.prove_consistency(3, size + 1).expect_err("beyond"),
        mem.prove_consistency(size, 3).expect_err("backwards"),
        mem.prove_inclusion(size, size).expect_err("outside"),
    ] {
        assert!(matches!(e, StoreError::Log(_)), "{e}");
    }
}

#[test]
fn the_log_survives_reopening_and_grows_on_after_it() {
    let c = consortium();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).expect("create");
    let mut w = Workload::new(&c, 32);
    let first = w.take(150).expect("entries");
    append_uneven(&c, &mut ledger, &first);
    append_block(&c, &mut ledger, Vec::new());
    let before = assert_log(&ledger);
    drop(ledger);

    let mut ledger = reopen(&dir).expect("reopen");
    assert_eq!(assert_log(&ledger), before);
    let more = w.take(77).expect("entries");
    append_uneven(&c, &mut ledger, &more);
    let after = assert_log(&ledger);
    assert_eq!(&after[..before.len()], &before[..], "old checkpoints stay");
    drop(ledger);
    assert_eq!(assert_log(&reopen(&dir).expect("reopen")), after);
}

/// Block `height`'s log key.
fn log_key(height: u64) -> Vec<u8> {
    let mut key = vec![keys::ns::LOG];
    key.extend_from_slice(&height.to_be_bytes());
    key
}

#[test]
fn lost_or_damaged_log_hashes_are_reported_as_corruption() {
    let c = consortium();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).expect("create");
    append_in_blocks(&c, &mut ledger, &workload(&c, 33, 64), 8);
    let last = ledger.height();
    drop(ledger);

    // The last block holds the tree's frontier: opening needs it.
    let kept = set_raw(&dir, &log_key(last), None).expect("the last block's hashes");
    match reopen(&dir) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("log hashes"), "{m}"),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("opened without its log"),
    }
    // Cut short, as bad.
    set_raw(&dir, &log_key(last), Some(vec![0u8; 40]));
    assert!(matches!(reopen(&dir), Err(StoreError::Corrupt(_))));
    set_raw(&dir, &log_key(last), Some(kept));
    reopen(&dir)
        .expect("whole again")
        .check()
        .expect("and checks");

    // Wrong hashes of the right length in a block whose nodes are not on
    // the frontier: the ledger opens, and the check finds them.
    let mut first = set_raw(&dir, &log_key(1), None).expect("block 1's hashes");
    first[0] ^= 1;
    set_raw(&dir, &log_key(1), Some(first));
    let e = reopen(&dir)
        .expect("opens")
        .check()
        .expect_err("the check finds it");
    assert!(e.to_string().contains("differ from its entries'"), "{e}");
}

/// Commits the next block of `entries` with the cosignatures `sign`
/// makes of its checkpoint; returns what was kept and the checkpoint.
fn commit_cosigned<B: Backend>(
    c: &Consortium,
    ledger: &mut Ledger<B>,
    entries: Vec<SignedEntry>,
    sign: impl Fn(&Checkpoint) -> Vec<CarriedCosignature>,
) -> (Attached, Checkpoint) {
    let block = BlockBytes::encode(ledger.seal(entries, next_time(ledger), c.validator.pk));
    let checked = ledger
        .validate_encoded(&block, &|_| false)
        .expect("a valid block");
    let cp = ledger
        .checkpoint_after(&block, Some(&checked))
        .expect("the next block");
    // Without the validation at hand, the block is validated for it.
    assert_eq!(
        ledger
            .checkpoint_after(&block, None)
            .expect("validated here"),
        cp
    );
    let mut prepared = ledger
        .prepare(block, None, Some(checked), &|_| false)
        .expect("a valid block");
    let kept = ledger.attach_cosignatures(&mut prepared, &sign(&cp));
    let written = ledger.write(prepared).expect("written");
    ledger.install(written).expect("installed");
    (kept, cp)
}

/// The validators' cosignatures of a block's checkpoint are kept with it
/// as given, from validators of its height, once each (a syncing peer
/// needs them all); those that verify are its note, which verifies on
/// its own. The checkpoint they sign is the one the ledger has once the
/// block is committed.
#[test]
fn a_blocks_cosignatures_are_kept_with_it_and_make_a_note_that_verifies() {
    let c = Consortium::builder()
        .chain_name("waybill-store-cosign")
        .build();
    let v: Vec<&Party> = c.validators.iter().map(|(p, _)| p).collect();
    let chain = c.chain_id;
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).expect("create");
    let mut w = Workload::new(&c, 34);

    // Block 1: three good cosignatures, one repeated, one of another
    // checkpoint, one by a key that is no validator.
    let (kept, cp1) = commit_cosigned(&c, &mut ledger, w.take(12).expect("entries"), |cp| {
        let mut other = cp.clone();
        other.size += 1;
        vec![
            carried_cosignature(v[0], cp, 10),
            carried_cosignature(v[1], cp, 10),
            carried_cosignature(v[0], cp, 11),
            carried_cosignature(v[2], &other, 10),
            carried_cosignature(&c.outsider, cp, 10),
            carried_cosignature(v[3], cp, 10),
        ]
    });
    assert_eq!(
        kept,
        Attached {
            kept: 4,
            verified: 3
        }
    );
    assert_eq!(ledger.checkpoint(1).expect("read"), Some(cp1.clone()));
    let stored = ledger.cosignatures(1).expect("read");
    let who: Vec<_> = stored.iter().map(|s| s.cosignature.validator).collect();
    assert_eq!(who, vec![v[0].pk, v[1].pk, v[2].pk, v[3].pk]);
    assert_eq!(stored[0].cosignature.time, 10);
    assert!(stored
        .iter()
        .all(|s| s.extension_signature == EXTENSION_SIGNATURE));
    let (cp, good) = ledger.cosigned(1).expect("read").expect("block 1");
    assert_eq!(cp, cp1);
    let who: Vec<_> = good.iter().map(|c| c.validator).collect();
    assert_eq!(who, vec![v[0].pk, v[1].pk, v[3].pk]);
    let lines: Vec<_> = good
        .iter()
        .map(|c| c.line(&chain).expect("a line"))
        .collect();
    let note = checkpoint::note(&cp1, &lines).expect("a note");
    let certified = checkpoint::verify(&note, &c.chain_id, &c.genesis.validators)
        .expect("validators with 80 of 100 power");
    assert_eq!(certified.checkpoint, cp1);

    // Block 2 without any, block 3 with all four: they read back so.
    commit_cosigned(&c, &mut ledger, w.take(5).expect("entries"), |_| Vec::new());
    let (kept, _) = commit_cosigned(&c, &mut ledger, Vec::new(), |cp| {
        v.iter().map(|p| carried_cosignature(p, cp, 3)).collect()
    });
    assert_eq!(
        kept,
        Attached {
            kept: 4,
            verified: 4
        }
    );
    assert!(ledger.cosignatures(2).expect("read").is_empty());
    assert_eq!(ledger.cosignatures(3).expect("read").len(), 4);
    assert!(ledger.cosignatures(4).expect("read").is_empty());
    // A block that does not follow the tip has no checkpoint to cosign.
    let stale = BlockBytes::encode(ledger.block(3).expect("read").expect("block 3"));
    assert!(ledger.checkpoint_after(&stale, None).is_err());
    ledger.check().expect("a sound ledger");
    drop(ledger);

    // Across reopening; a damaged one is no longer served, and one cut
    // short is corruption.
    let ledger = reopen(&dir).expect("reopen");
    assert_eq!(ledger.cosignatures(1).expect("read"), stored);
    drop(ledger);
    let mut value = set_raw(&dir, &cosig_key(1), None).expect("block 1's cosignatures");
    value[32 + 8] ^= 1;
    set_raw(&dir, &cosig_key(1), Some(value.clone()));
    let ledger = reopen(&dir).expect("opens");
    let (_, good) = ledger.cosigned(1).expect("read").expect("block 1");
    let who: Vec<_> = good.iter().map(|c| c.validator).collect();
    assert_eq!(who, vec![v[1].pk, v[3].pk]);
    drop(ledger);
    set_raw(&dir, &cosig_key(1), Some(value[..100].to_vec()));
    let ledger = reopen(&dir).expect("opens");
    let e = ledger.cosignatures(1).expect_err("cut short");
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    let e = ledger.check().expect_err("the check finds it");
    assert!(e.to_string().contains("cosignatures"), "{e}");
}

/// Block `height`'s cosignatures key.
fn cosig_key(height: u64) -> Vec<u8> {
    let mut key = vec![keys::ns::COSIG];
    key.extend_from_slice(&height.to_be_bytes());
    key
}

/// A bundle's place in the log, as `waybill export` makes it from a node:
/// the checkpoint of the trail's tip, cosigned by its validators, and
/// each trail item's leaf with its inclusion proof. It verifies with the
/// bundle; changed in any part, the bundle fails, naming the log.
#[test]
fn a_bundle_carries_its_place_in_the_log_and_a_changed_one_fails() {
    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    append_uneven(&c, &mut ledger, &workload(&c, 35, 200));
    // The lot with the longest trail.
    let t = (1..=ledger.height())
        .flat_map(|h| ledger.block(h).expect("read").expect("a block").entries)
        .filter_map(|e| trail::produce_of(&e.entry.body).map(|p| p.lot.clone()))
        .map(|lot| ledger.trail(&lot).expect("trail"))
        .max_by_key(|t| t.items.len())
        .expect("a lot");
    assert!(t.items.len() > 1, "{} items", t.items.len());
    let policy = Policy {
        require_certificates: false,
    };
    let report = trail::verify(&c.genesis, &t, policy).expect("a sound trail");
    let cosigned = |cp: &Checkpoint, by: &Party| cosigned_note(cp, &c.chain_id, &[by], 1);
    let cp = ledger
        .checkpoint(t.tip_height)
        .expect("read")
        .expect("the tip's");
    let leaves: Vec<LogLeaf> = t
        .items
        .iter()
        .map(|i| {
            let leaf = ledger.log_leaf(i.header.height, i.index).expect("a leaf");
            let proof = ledger.prove_inclusion(leaf, cp.size).expect("a proof");
            LogLeaf { leaf, proof }
        })
        .collect();
    let log = BundleLog {
        checkpoint: cosigned(&cp, &c.validator),
        leaves,
    };
    assert_eq!(log.verify(&t, &report).expect("it holds").checkpoint, cp);

    let mut bundle = BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: c.genesis.chain_name.clone(),
        chain_id: c.chain_id,
        exported_at_ms: T0,
        exporter: c.auditor.pk,
        certificates_required: false,
        trail: t.clone(),
    }
    .sign(&c.auditor.key);
    let verify = |b: &Bundle| Bundle::verify_file(b.to_file_text().as_bytes(), &c.genesis, false);
    // Without a log (a local export), and with it.
    verify(&bundle).expect("a bundle without a log");
    bundle.log = Some(log.clone());
    verify(&bundle).expect("a bundle with its log");

    // Each change fails, naming the log.
    append_block(&c, &mut ledger, Vec::new());
    let later = ledger
        .checkpoint(t.tip_height + 1)
        .expect("read")
        .expect("later");
    type Change<'a> = Box<dyn Fn(&mut BundleLog) + 'a>;
    let changes: Vec<(&str, Change)> = vec![
        ("a proof hash", Box::new(|l| l.leaves[0].proof[0].0[0] ^= 1)),
        ("two leaves swapped", Box::new(|l| l.leaves.swap(0, 1))),
        ("a leaf left out", Box::new(|l| drop(l.leaves.pop()))),
        ("a leaf number", Box::new(|l| l.leaves[0].leaf += 1)),
        (
            "a checkpoint cosigned by no validator",
            Box::new(|l| l.checkpoint = cosigned(&cp, &c.outsider)),
        ),
        (
            "a later checkpoint",
            Box::new(|l| l.checkpoint = cosigned(&later, &c.validator)),
        ),
        (
            "a note changed",
            Box::new(|l| l.checkpoint = l.checkpoint.replacen("height", "heigth", 1)),
        ),
    ];
    for (what, change) in changes {
        let mut changed = log.clone();
        change(&mut changed);
        bundle.log = Some(changed);
        match verify(&bundle) {
            Err(BundleError::Log(why)) => eprintln!("{what}: {why}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}
