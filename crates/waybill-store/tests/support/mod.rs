//! waybill-store's own test helpers: appending blocks to a `Ledger`,
//! dumping a backend, reopening sled after a drop, and checking trails.
//! The consortium (with one validator, whose signature alone certifies a
//! block), the entry builders, the `Signer` and the seeded workload come
//! from `waybill_testkit`, re-exported here.
//!
//! Every test crate uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use waybill_core::block::Header;
use waybill_core::entry::{Body, Produce, SignedEntry};
use waybill_core::gs1::LotId;
use waybill_core::trail::{self, Policy, Trail};
use waybill_store::{open_dir, Backend, DataDir, Ledger, StoreError};

pub use waybill_testkit::certs::{certify, certify_with};
pub use waybill_testkit::consortium::{PROCESSOR_PREFIX, PRODUCER_PREFIX};
pub use waybill_testkit::files::DirListing;
pub use waybill_testkit::ids::{gtin_under, lot, ship, sscc_under, uetr};
pub use waybill_testkit::signer::*;
pub use waybill_testkit::workload::{workload, Workload};
pub use waybill_testkit::{Consortium, Party, T0};

/// The consortium every store test uses: the kit's members with one
/// validator.
pub fn consortium() -> Consortium {
    Consortium::builder()
        .chain_name("waybill-store-tests")
        .single_validator()
        .build()
}

// ---------------------------------------------------------------------------
// Ledger helpers

/// Appends `entries` as blocks of `block_size`, one second apart, proposed
/// by the validator. Returns the (height, index) of every entry.
pub fn append_in_blocks<B: Backend>(
    c: &Consortium,
    ledger: &mut Ledger<B>,
    entries: &[SignedEntry],
    block_size: usize,
) -> Vec<(u64, u32)> {
    let mut out = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(block_size.max(1)) {
        let header = append_block(c, ledger, chunk.to_vec());
        out.extend((0..chunk.len()).map(|i| (header.height, i as u32)));
    }
    out
}

/// Appends one block at the next block time.
pub fn append_block<B: Backend>(
    c: &Consortium,
    ledger: &mut Ledger<B>,
    entries: Vec<SignedEntry>,
) -> Header {
    let time = next_time(ledger);
    ledger
        .append_entries(entries, time, c.validator.pk)
        .unwrap_or_else(|e| panic!("appending block {}: {e}", ledger.height() + 1))
}

/// One second after the tip (or `T0`).
pub fn next_time<B: Backend>(ledger: &Ledger<B>) -> i64 {
    ledger.tip().map_or(T0, |t| t.time_ms + 1_000)
}

/// Every key and value in the backend, in key order.
pub fn dump<B: Backend>(ledger: &Ledger<B>) -> Vec<(Vec<u8>, Vec<u8>)> {
    ledger.backend().scan_prefix(&[]).expect("scan the store")
}

// ---------------------------------------------------------------------------
// Reopening sled

/// Whether `e` is sled's "could not acquire lock" on open.
pub fn is_lock_contention(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.contains("could not acquire lock"))
}

/// `open_dir`, waiting out sled 0.34's lock release after a drop.
///
/// Dropping a `sled::Db` does not wait for its background threads, which
/// hold the database's file lock a little longer, so an immediate reopen
/// in the same process can fail with "could not acquire lock"
/// (spacejam/sled#1234, #1289). Only that error is retried, for at most
/// five seconds; every other result is returned as is.
pub fn reopen(dir: &Path) -> Result<DataDir, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match open_dir(dir) {
            Err(e) if is_lock_contention(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// `sled::open`, with the same wait as [`reopen`].
pub fn sled_open(path: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.expect("open the raw sled database"),
        }
    }
}

/// Sets (or, with `None`, removes) a raw value of the ledger in `dir`;
/// returns what was there.
pub fn set_raw(dir: &Path, key: &[u8], value: Option<Vec<u8>>) -> Option<Vec<u8>> {
    let db = sled_open(&dir.join("db"));
    let old = match value {
        Some(v) => db.insert(key, v),
        None => db.remove(key),
    }
    .expect("write");
    db.flush().expect("flush");
    old.map(|v| v.to_vec())
}

// ---------------------------------------------------------------------------
// Trails

/// The lot of a trail and its ancestors, found as the verifier finds them
/// (from the production entries in the trail).
pub fn trail_scope(t: &Trail) -> BTreeSet<LotId> {
    let produced: BTreeMap<&LotId, &Produce> = t
        .items
        .iter()
        .filter_map(|i| trail::produce_of(&i.entry.entry.body).map(|p| (&p.lot, p)))
        .collect();
    let mut scope = BTreeSet::new();
    let mut todo = vec![t.lot.clone()];
    while let Some(l) = todo.pop() {
        if scope.insert(l.clone()) {
            if let Some(p) = produced.get(&l) {
                todo.extend(p.inputs.iter().map(|i| i.lot.clone()));
            }
        }
    }
    scope
}

/// Verifies a trail against the genesis; panics on any failure.
pub fn verify_trail(c: &Consortium, t: &Trail) {
    let policy = Policy {
        require_certificates: false,
    };
    match trail::verify(&c.genesis, t, policy) {
        Ok(report) => {
            assert_eq!(report.lot, t.lot);
            assert_eq!(report.origins.first().map(|o| &o.lot), Some(&t.lot));
        }
        Err(e) => panic!("the trail of {} does not verify: {e}", t.lot),
    }
}

// ---------------------------------------------------------------------------
// The delta log, read and written the way the format is documented in
// `delta_log.rs` (so a change to the format fails here too)

fn delta_log_path(dir: &Path) -> std::path::PathBuf {
    dir.join("db").join(waybill_store::DELTA_LOG_FILE)
}

/// The records of the delta log of the data directory `dir`: (height,
/// delta), in file order. Panics on a record that is not whole.
pub fn delta_log(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let bytes = std::fs::read(delta_log_path(dir)).expect("read the delta log");
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let height = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[12 + len..16 + len].try_into().expect("4 bytes"));
        assert_eq!(crc32fast::hash(&rest[..12 + len]), crc, "record {height}");
        out.push((height, rest[12..12 + len].to_vec()));
        rest = &rest[16 + len..];
    }
    out
}

/// Replaces the delta log of `dir` with `records`, each with its right
/// checksum.
pub fn write_delta_log(dir: &Path, records: &[(u64, Vec<u8>)]) {
    let mut bytes = Vec::new();
    for (height, delta) in records {
        let start = bytes.len();
        bytes.extend_from_slice(&height.to_le_bytes());
        bytes.extend_from_slice(&(delta.len() as u32).to_le_bytes());
        bytes.extend_from_slice(delta);
        let crc = crc32fast::hash(&bytes[start..]);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(delta_log_path(dir), bytes).expect("write the delta log");
}

/// The heights in the delta log of `dir`.
pub fn delta_log_heights(dir: &Path) -> Vec<u64> {
    delta_log(dir).into_iter().map(|(h, _)| h).collect()
}
