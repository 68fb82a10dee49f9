//! A deterministic mutation run per target, so that `cargo test` runs
//! every target briefly: each corpus file, then a few thousand seeded
//! mutations of them (bit flips, interesting bytes and integers,
//! insertions, deletions, truncations, duplications, splices). A target
//! that panics (a broken invariant, or a decoder that panics on bad
//! input) fails its test, naming the mutant's seed and bytes.
//!
//! `WAYBILL_FUZZ_MUTATIONS` changes the number of mutants per target
//! (default 2000).

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{mutate, Rng};

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
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            panic!(
                "{target}: mutant {i} (seed {seed}) broke the target; input ({} bytes): {}",
                input.len(),
                hex(&input)
            );
        }
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
);
