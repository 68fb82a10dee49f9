//! A deterministic mutation run per target, so that `cargo test` runs
//! every target briefly: each corpus file, then a few thousand seeded
//! mutations of them (bit flips, interesting bytes and integers,
//! insertions, deletions, truncations, duplications, splices). A target
//! that panics (a broken invariant, or a decoder that panics on bad
//! input) or takes more than [`HANG`] on one input fails its test,
//! naming the mutant's seed and bytes; one that asks for a single
//! allocation over [`MAX_ALLOCATION`] aborts the test binary.
//!
//! `WAYBILL_FUZZ_MUTATIONS` changes the number of mutants per target
//! (default 2000).

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The allocator below, which refuses huge allocations, is the only
// unsafe code (implementing `GlobalAlloc` is unsafe by definition).
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::{Duration, Instant};

use support::{mutate, Rng};

/// Largest single allocation allowed while the targets run. The inputs
/// here are at most tens of KiB, so a decoder that asks for more has
/// trusted a length or count it read.
const MAX_ALLOCATION: usize = 256 * 1024 * 1024;

/// The system allocator, failing any single allocation over
/// [`MAX_ALLOCATION`] (which aborts the process, failing the run).
struct Bounded;

// SAFETY: every call is passed on unchanged to `System`, except
// allocations over the limit, which return null as the trait allows.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc`, unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

/// Longest one execution may take (a debug build, on a shared machine):
/// longer counts as a hang.
const HANG: Duration = Duration::from_secs(10);

const DEFAULT_MUTATIONS: usize = 2000;

fn mutations() -> usize {
    std::env::var("WAYBILL_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MUTATIONS)
}

fn run(target: &str) {
    let (_, run) = waybill_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap();
    let corpus = support::corpus();
    let files: Vec<&[u8]> = corpus[target].values().map(Vec::as_slice).collect();
    assert!(!files.is_empty(), "no corpus for {target}");
    // Mutants may come from every corpus, so each target also sees the
    // others' formats.
    let pool: Vec<&[u8]> = corpus
        .values()
        .flat_map(|m| m.values())
        .map(Vec::as_slice)
        .collect();
    let seed = target
        .bytes()
        .fold(27u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = Rng::new(seed);
    for i in 0..mutations() {
        let base = files[i % files.len()];
        let own: Vec<&[u8]> = if rng.below(4) == 0 {
            pool.clone()
        } else {
            files.clone()
        };
        let input = mutate(&mut rng, base, &own);
        let start = Instant::now();
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            panic!(
                "{target}: mutant {i} (seed {seed}) broke the target; input ({} bytes): {}",
                input.len(),
                hex(&input)
            );
        }
        let took = start.elapsed();
        assert!(
            took < HANG,
            "{target}: mutant {i} (seed {seed}) took {took:?}; input ({} bytes): {}",
            input.len(),
            hex(&input)
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*
    };
}

targets!(
    entry,
    entry_json,
    batch_json,
    block,
    certificate,
    gossip_batch,
    consensus,
    bundle,
    genesis,
    key_file,
    geojson,
    http_path,
    trail_json,
    terms_json,
    key_proof,
);
