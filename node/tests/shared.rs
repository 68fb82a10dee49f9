//! `Shared`, as consensus will call it: propose, validate, commit.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use support::*;
use waybill_core::block::{CommitCertificate, CommitSignature};
use waybill_core::crypto::Signature;
use waybill_core::rules::RuleError;
use waybill_node::shared::{CommitError, EntryStatus, ProposeError, Shared};
use waybill_node::{check_block_time, Limits, MempoolError, SubmitError};
use waybill_store::{Backend, Ledger, MemBackend, StoreError, WriteBatch};

fn shared(c: &Consortium) -> Shared<MemBackend> {
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    Shared::new(ledger, Limits::default())
}

#[test]
fn propose_takes_the_mempool_in_order_up_to_the_genesis_limit() {
    let c = builder().max_block_entries(2).build();
    let sh = shared(&c);
    let mut s = Signer::new(&c);
    let es: Vec<_> = (1..=3)
        .map(|n| s.produce(&c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
        .collect();
    for e in &es {
        sh.submit(e.clone()).unwrap();
    }
    assert_eq!(
        sh.propose(2, T0, c.validator.pk),
        Err(ProposeError::NotNext { height: 2, next: 1 })
    );
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    assert_eq!(block.header.height, 1);
    assert_eq!(block.header.proposer, c.validator.pk);
    assert_eq!(block.entries, es[..2].to_vec());
    sh.validate_block(&block).unwrap();
    // Proposing does not take entries out of the pool.
    assert_eq!(sh.pool().len(), 3);

    let mut decided = sh.subscribe();
    let done = sh.commit_block(block.clone(), None).unwrap();
    assert_eq!(
        (done.height, done.entries, done.mempool.committed),
        (1, 2, 2)
    );
    assert_eq!(done.hash, block.header.hash());
    assert_eq!(*decided.borrow_and_update(), 1);
    assert_eq!(sh.height(), 1);
    assert_eq!(sh.pool().len(), 1);
    assert_eq!(sh.committed(1).unwrap(), Some((block, None)));
    assert_eq!(sh.committed(2).unwrap(), None);

    // The clock behind the tip: the block time still moves forward.
    let next = sh.propose(2, T0 - 5, c.validator.pk).unwrap();
    assert_eq!(next.header.time_ms, T0 + 1);
    assert_eq!(next.entries, es[2..].to_vec());
}

#[test]
fn a_refused_block_changes_nothing() {
    let c = consortium();
    let sh = shared(&c);
    let mut s = Signer::new(&c);
    let good = s.produce(&c.producer, &lot("LOT-A"), 1_000, &[]);
    sh.submit(good.clone()).unwrap();
    // A block from a faulty proposer: an entry that breaks a rule.
    let bad = s.dispatch(
        &c.retailer,
        &shipment("SHIP-1"),
        &[lot("LOT-A")],
        &c.carrier,
        None,
    );
    let block = sh
        .read()
        .unwrap()
        .seal(vec![good.clone(), bad], T0, c.validator.pk);
    let err = sh.validate_block(&block).unwrap_err().to_string();
    assert!(err.contains("entry #1"), "{err}");
    assert!(err.contains("does not hold lot LOT-A"), "{err}");
    let err = sh.commit_block(block, None).unwrap_err();
    assert!(
        matches!(err, CommitError::Store(StoreError::Rule { index: 1, .. })),
        "{err}"
    );
    assert_eq!(sh.height(), 0);
    assert_eq!(sh.pool().len(), 1);

    // Committed without being validated first: the pool's entry is
    // trusted, a forged one the pool never saw is not.
    let mut forged = s.produce(&c.producer, &lot("LOT-F"), 1_000, &[]);
    forged.entry.recorded_at_ms += 1;
    let block = sh
        .read()
        .unwrap()
        .seal(vec![good.clone(), forged], T0, c.validator.pk);
    let err = sh.commit_block(block, None).unwrap_err();
    assert!(
        matches!(
            err,
            CommitError::Store(StoreError::Rule {
                index: 1,
                error: RuleError::Signature(_),
                ..
            })
        ),
        "{err}"
    );
    assert_eq!((sh.height(), sh.pool().len()), (0, 1));

    // A certificate for another height is refused too.
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    let cert = CommitCertificate {
        height: 7,
        round: 0,
        block_hash: block.header.hash(),
        signatures: vec![CommitSignature {
            validator: c.validator.pk,
            signature: Signature([0; 64]),
        }],
    };
    let err = sh
        .commit_block(block.clone(), Some(cert))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the commit certificate is for height 7"),
        "{err}"
    );
    assert_eq!((sh.height(), sh.pool().len()), (0, 1));
    assert_eq!(sh.read().unwrap().height(), 0);

    sh.commit_block(block, None).unwrap();
    assert_eq!((sh.height(), sh.pool().len()), (1, 0));
}

#[test]
fn submit_reports_every_refusal() {
    let c = consortium();
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let sh = Shared::new(
        ledger,
        Limits {
            max_entries: 1,
            max_bytes: 1 << 20,
            author_share: 1,
        },
    );
    let mut s = Signer::new(&c);
    let a = s.produce(&c.producer, &lot("LOT-A"), 1_000, &[]);
    let id = sh.submit(a.clone()).unwrap();
    assert_eq!(id, a.id());
    assert_eq!(
        sh.submit(a.clone()),
        Err(SubmitError::Mempool(MempoolError::Duplicate(id)))
    );
    let b = s.produce(&c.producer, &lot("LOT-B"), 1_000, &[]);
    assert!(matches!(
        sh.submit(b),
        Err(SubmitError::Mempool(MempoolError::Full { .. }))
    ));
    let mut forged = s.produce(&c.carrier, &lot("LOT-C"), 1_000, &[]);
    forged.signature.0[0] ^= 1;
    let err = sh.submit(forged).unwrap_err().to_string();
    assert!(err.contains("signature does not verify"), "{err}");
}

#[test]
fn block_time_must_be_near_the_local_clock() {
    let c = consortium();
    let sh = shared(&c);
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    check_block_time(&block.header, T0 + 2_000, 2_000).unwrap();
    check_block_time(&block.header, T0 - 2_000, 2_000).unwrap();
    let err = check_block_time(&block.header, T0 + 2_001, 2_000).unwrap_err();
    assert_eq!(err.skew_ms, 2_001);
    assert!(
        err.to_string().contains("consensus.max_clock_skew_ms"),
        "{err}"
    );
}

#[test]
fn shared_is_usable_across_threads() {
    let c = consortium();
    let sh = Arc::new(shared(&c));
    let mut s = Signer::new(&c);
    let entries: Vec<_> = (1..=50)
        .map(|n| s.produce(&c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
        .collect();
    // Submit in order from one thread while another commits blocks.
    let submitter = {
        let sh = Arc::clone(&sh);
        std::thread::spawn(move || {
            for e in entries {
                sh.submit(e).unwrap();
            }
        })
    };
    let committer = {
        let sh = Arc::clone(&sh);
        let pk = c.validator.pk;
        std::thread::spawn(move || {
            let mut total = 0;
            let mut h = 0;
            while total < 50 {
                h += 1;
                let block = sh.propose(h, T0 + h as i64, pk).unwrap();
                total += sh.commit_block(block, None).unwrap().entries;
                std::thread::yield_now();
            }
            h
        })
    };
    submitter.join().unwrap();
    let height = committer.join().unwrap();
    assert_eq!(sh.height(), height);
    assert_eq!(sh.pool().len(), 0);
    let report = sh.read().unwrap().check().unwrap();
    assert_eq!(report.entries, 50);
}

/// A store whose block writes wait, once armed, until the test lets
/// them through: a slow disk on demand.
#[derive(Debug, Default)]
struct GatedBackend {
    inner: MemBackend,
    gate: Arc<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    armed: std::sync::atomic::AtomicBool,
    /// (a write is waiting, the test let it through)
    state: std::sync::Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

impl Gate {
    fn wait_for(&self, what: impl Fn(&(bool, bool)) -> bool) -> bool {
        let guard = self.state.lock().unwrap();
        let (guard, timeout) = self
            .changed
            .wait_timeout_while(guard, std::time::Duration::from_secs(20), |s| !what(s))
            .unwrap();
        drop(guard);
        !timeout.timed_out()
    }

    fn set(&self, f: impl FnOnce(&mut (bool, bool))) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }
}

impl Backend for GatedBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn read<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, StoreError> {
        self.inner.read(key, f)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.scan_prefix(prefix)
    }
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if self.gate.armed.load(std::sync::atomic::Ordering::Acquire) {
            self.gate.set(|s| s.0 = true);
            assert!(
                self.gate.wait_for(|s| s.1),
                "the test never let the write through"
            );
        }
        self.inner.commit(batch)
    }
    fn read_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_snapshot()
    }
    fn write_snapshot(
        &self,
        write: &mut waybill_store::SnapshotWriter<'_>,
    ) -> Result<u64, StoreError> {
        self.inner.write_snapshot(write)
    }
    fn append_delta(&self, height: u64, delta: &[u8]) -> Result<(), StoreError> {
        self.inner.append_delta(height, delta)
    }
    fn read_deltas(
        &self,
        after: u64,
        f: &mut waybill_store::DeltaReader<'_>,
    ) -> Result<(), StoreError> {
        self.inner.read_deltas(after, f)
    }
    fn drop_deltas_through(&self, height: u64) -> Result<(), StoreError> {
        self.inner.drop_deltas_through(height)
    }
    fn drop_deltas_after(&self, tip: u64) -> Result<(), StoreError> {
        self.inner.drop_deltas_after(tip)
    }
}

#[test]
fn readers_go_on_while_a_commit_writes_to_disk() {
    let c = consortium();
    let backend = GatedBackend::default();
    let gate = Arc::clone(&backend.gate);
    let sh = Arc::new(Shared::new(
        Ledger::create(backend, c.genesis.clone()).unwrap(),
        Limits::default(),
    ));
    let mut s = Signer::new(&c);
    let first = s.produce(&c.producer, &lot("LOT-1"), 1_000, &[]);
    let id = sh.submit(first.clone()).unwrap();
    let block = sh.propose(1, T0, c.validator.pk).unwrap();

    gate.armed.store(true, std::sync::atomic::Ordering::Release);
    let committer = {
        let sh = Arc::clone(&sh);
        std::thread::spawn(move || sh.commit_block(block, None))
    };
    assert!(gate.wait_for(|s| s.0), "the commit never wrote");
    // The block is being written. A reader is not held up by it, sees the
    // tip before it, and finds the entry still pending; a submission is
    // checked against that tip and the mempool.
    let reader = {
        let sh = Arc::clone(&sh);
        let next = s.produce(&c.producer, &lot("LOT-2"), 1_000, &[]);
        std::thread::spawn(move || {
            let ledger = sh.read().unwrap();
            let seen = (ledger.height(), ledger.tip().is_none());
            drop(ledger);
            (seen, sh.entry_status(&id).unwrap(), sh.submit(next).is_ok())
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(reader.join());
    });
    let answer = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a reader waited for the commit's write to disk")
        .unwrap();
    assert_eq!(answer.0, (0, true));
    assert_eq!(answer.1, EntryStatus::Pending(first.clone()));
    assert!(answer.2, "a submission during the write was refused");

    gate.set(|s| s.1 = true);
    let done = committer.join().unwrap().unwrap();
    assert_eq!((done.height, done.entries), (1, 1));
    assert!(matches!(
        sh.entry_status(&id).unwrap(),
        EntryStatus::Final { height: 1, .. }
    ));
    // The entry submitted during the write waits for the next block.
    assert_eq!(sh.pool().len(), 1);
    let report = sh.read().unwrap().check().unwrap();
    assert_eq!((report.blocks, report.entries), (1, 1));
}

#[test]
fn a_batch_submission_gives_each_entry_what_one_by_one_would() {
    let c = consortium();
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let sh = Shared::new(
        ledger,
        Limits {
            max_entries: 4,
            max_bytes: 1 << 20,
            author_share: 1,
        },
    );
    let mut s = Signer::new(&c);
    let a = s.produce(&c.producer, &lot("LOT-A"), 1_000, &[]);
    // A forged signature in the middle of the batch: that entry alone is
    // refused, with the error single verification gives.
    let mut forged = s.produce(&c.carrier, &lot("LOT-F"), 1_000, &[]);
    forged.signature.0[3] ^= 1;
    let b = s.produce(&c.producer, &lot("LOT-B"), 1_000, &[]);
    let gap = s.produce(&c.retailer, &lot("LOT-G"), 1_000, &[]);
    let (tx, mut gossiped) = tokio::sync::mpsc::channel(4);
    let results = sh.submit_batch(
        vec![a.clone(), forged.clone(), a.clone(), b.clone()],
        Some(&tx),
    );
    // Only the accepted ones go to gossip, together and in order.
    // With their canonical bytes, which gossip sends as they are.
    let sent = gossiped.try_recv().unwrap();
    assert_eq!(
        sent.iter().map(|e| e.entry().clone()).collect::<Vec<_>>(),
        vec![a.clone(), b.clone()]
    );
    for e in &sent {
        assert_eq!(e.bytes(), e.entry().canonical_bytes());
        assert_eq!(e.id(), e.entry().id());
    }
    assert!(gossiped.try_recv().is_err());
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], Some(Ok(a.id())));
    assert_eq!(
        results[1],
        Some(Err(sh.submit(forged.clone()).unwrap_err())),
        "the same refusal as one by one"
    );
    assert!(
        format!("{:?}", results[1]).contains("Signature"),
        "{results:?}"
    );
    assert_eq!(
        results[2],
        Some(Err(SubmitError::Mempool(MempoolError::Duplicate(a.id()))))
    );
    assert_eq!(results[3], Some(Ok(b.id())));
    assert_eq!(sh.pool().len(), 2);

    // Once the pool is full, the rest are not attempted.
    let more: Vec<_> = (1..=4)
        .map(|n| s.produce(&c.producer, &lot(&format!("LOT-M{n}")), 1_000, &[]))
        .collect();
    let mut batch = more.clone();
    batch.push(gap);
    let results = sh.submit_batch(batch, None);
    assert_eq!(results[0], Some(Ok(more[0].id())));
    assert_eq!(results[1], Some(Ok(more[1].id())));
    assert!(matches!(
        results[2],
        Some(Err(SubmitError::Mempool(MempoolError::Full { .. })))
    ));
    assert_eq!(results[3..], [None, None]);
    assert_eq!(sh.pool().len(), 4);
}

#[test]
fn a_due_snapshot_is_written_after_the_commit_on_its_own_thread() {
    use waybill_store::{SledBackend, SNAPSHOT_FILE};
    let c = consortium();
    let tmp = tempfile::TempDir::new().unwrap();
    let mut ledger =
        Ledger::create(SledBackend::open(tmp.path()).unwrap(), c.genesis.clone()).unwrap();
    // Due after any block: the one block below makes it due, and only the
    // snapshot thread can write it.
    ledger.set_snapshot_min_bytes(1);
    let sh = Shared::new(ledger, Limits::default());
    let mut s = Signer::new(&c);
    for n in 1..=3u64 {
        sh.submit(s.produce(&c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
            .unwrap();
    }
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    assert_eq!(block.entries.len(), 3);
    sh.commit_block(block, None).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sh.read().unwrap().snapshot_due() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tmp.path().join(SNAPSHOT_FILE).is_file());
    let ledger = sh.read().unwrap();
    assert_eq!(ledger.snapshot_error(), None);
    // The snapshot covers the block: its delta is gone, and the ledger
    // reopens from it to the same state.
    let (height, state) = (ledger.height(), ledger.state().clone());
    assert_eq!(height, 1);
    let log = tmp.path().join(waybill_store::DELTA_LOG_FILE);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
    drop(ledger);
    drop(sh);
    let reopened = Ledger::open(SledBackend::open(tmp.path()).unwrap()).unwrap();
    assert_eq!((reopened.height(), reopened.state()), (height, &state));
}

#[test]
fn settled_nonces_follow_the_committed_blocks_only() {
    let c = consortium();
    let sh = shared(&c);
    let mut s = Signer::new(&c);
    let (producer, other) = (c.producer.pk, c.validator.pk);
    assert_eq!(sh.settled_nonces(&[producer, other]), [0, 0]);
    for n in 1..=3 {
        sh.submit(s.produce(&c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
            .unwrap();
    }
    // Waiting in the pool is not committed.
    assert_eq!(sh.settled_nonces(&[producer]), [0]);
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    sh.commit_block(block.clone(), None).unwrap();
    assert_eq!(sh.settled_nonces(&[other, producer, producer]), [0, 3, 3]);
    // A refused block (the same one again) changes nothing.
    assert!(sh.commit_block(block, None).is_err());
    assert_eq!(sh.settled_nonces(&[producer]), [3]);
    assert!(sh.settled_nonces(&[]).is_empty());
}

#[test]
fn the_allow_list_admits_a_change_while_its_height_is_decided() {
    use waybill_core::genesis::Role;
    use waybill_core::governance::GovernanceChange;
    let c = consortium();
    let sh = shared(&c);
    let mut s = Signer::new(&c);
    let newcomer = Party::new("Exportadora del Sur", 61, &[Role::Producer]);
    let before = sh.allowed_keys().unwrap();
    assert!(before.contains(&c.producer.pk) && before.contains(&c.validator.pk));
    assert!(!before.contains(&newcomer.pk));
    // Two admins add the newcomer from height 3 and remove the producer.
    let add = cosigned(
        s.sign(
            &c.admins[0],
            governance(3, GovernanceChange::AddMember(newcomer.spec("CO"))),
        ),
        &[&c.admins[1]],
    );
    let remove = cosigned(
        s.sign(
            &c.admins[0],
            governance(
                3,
                GovernanceChange::RemoveMember {
                    public_key: c.producer.pk,
                },
            ),
        ),
        &[&c.admins[1]],
    );
    // Its node runs with a node key bound to it at the same height.
    let node = Party::new("node of Exportadora del Sur", 62, &[]);
    let bind = cosigned(
        s.sign(
            &c.admins[0],
            governance(
                3,
                GovernanceChange::BindNodeKey {
                    member: newcomer.pk,
                    node_key: node.pk,
                },
            ),
        ),
        &[&c.admins[1]],
    );
    sh.submit(add).unwrap();
    sh.submit(remove).unwrap();
    sh.submit(bind).unwrap();
    let block = sh.propose(1, T0, c.validator.pk).unwrap();
    assert_eq!(block.entries.len(), 3);
    sh.commit_block(block, None).unwrap();
    // At height 1 the change is two blocks away: nothing moves yet.
    assert_eq!(sh.allowed_keys().unwrap(), before);
    let block = sh.propose(2, T0 + 1, c.validator.pk).unwrap();
    sh.commit_block(block, None).unwrap();
    // Block 3 makes the change: the list already holds it while block 3
    // is decided, so the newcomer's node is in by the time it may sign.
    let during = sh.allowed_keys().unwrap();
    assert!(during.contains(&newcomer.pk), "the newcomer is admitted");
    assert!(during.contains(&node.pk), "and its node key");
    assert!(!before.contains(&node.pk));
    assert!(!during.contains(&c.producer.pk), "the producer is cut off");
    assert!(during.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
    let block = sh.propose(3, T0 + 2, c.validator.pk).unwrap();
    sh.commit_block(block, None).unwrap();
    assert_eq!(sh.allowed_keys().unwrap(), during);
}
