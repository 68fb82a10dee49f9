//! A seeded consortium workload: raw production, processing of held lots
//! into new lots (inputs), dispatches with and without carriers (multi-hop
//! custody), receipts, rejections and payments; and planned "stories" (deep
//! trails) woven through the random traffic.
//!
//! With [`Mix::Consortium`] (what the benchmark runs:
//! [`Workload::with_mix`]) it also makes the newer entry kinds, in the
//! shares a consortium's traffic has them (see [`Mix`]): productions with
//! plots and key data elements, dispatches of parts of lots and with
//! transport facts, receipts with a shortfall, carrier hand-overs
//! co-signed by the next carrier, cold-chain readings, recalls by the
//! lot's producer and their lifts, and corrected dispatches sent again.
//! [`Mix::Classic`], the default (tests that model only the first kinds
//! rely on it), makes only produce, dispatch, receive, reject and
//! payment: exactly the entries this generator made before the newer
//! kinds existed.
//!
//! It runs over any [`Roster`]: the test [`crate::Consortium`] (one member
//! per role) or the benchmark's [`BenchConsortium`] (12 producers, 4 processors, 3
//! carriers, 6 retailers and 2 payers per group). Every entry is checked
//! with the rules against the generator's own state before it is handed
//! out, so any prefix of the sequence, split into blocks in order, is a
//! valid chain. The same seed over the same roster gives the same entries.

// Where each part lives. The modules `use` one another without a
// circle and none imports from this file, which declares them,
// re-exports the public items and adds `workload` and `workload_mix`:
// - `error`: the `Result` and internal error the others share;
// - `bag`: the set the generator picks random members from;
// - `bench`: the benchmark's consortium, `BenchConsortium`;
// - `mix`: `Mix`, the consortium mix's shares and planned follow-ups;
// - `generator`: `Workload`'s state, its entry loop and bookkeeping;
// - `pick`: random choices and fresh lot and shipment ids;
// - `classic`: production, processing, dispatch, receipt, rejection and
//   payment, the kinds both mixes make;
// - `consortium_mix`: the newer kinds' bodies (plots, partial dispatches,
//   transport facts, shortfalls, hand-overs);
// - `followups`: entries planned by earlier ones (readings,
//   corrections, dispatches sent again, recalls and their lifts);
// - `story`: planned deep trails woven through the traffic, `Story`;
// - `count`: entry kinds' names and counts;
// - `facts`: the newer entries' facts (transport, places, plots, sensor
//   series, key data elements).

mod bag;
mod bench;
mod classic;
mod consortium_mix;
mod count;
mod error;
mod facts;
mod followups;
mod generator;
mod mix;
mod pick;
mod story;

use waybill_core::entry::SignedEntry;

pub use crate::certs::certify;
pub use crate::consortium::{Party, Roster, T0};
pub use bench::BenchConsortium;
pub use count::{count_kinds, kind_label};
pub use generator::Workload;
pub use mix::Mix;
pub use story::Story;

/// `count` valid entries from `seed` over `c`, on a fresh chain, in the
/// [`Mix::Classic`] mix.
pub fn workload<R: Roster + ?Sized>(c: &R, seed: u64, count: usize) -> Vec<SignedEntry> {
    workload_mix(c, seed, count, Mix::Classic)
}

/// `count` valid entries from `seed` over `c`, on a fresh chain, in
/// `mix`.
pub fn workload_mix<R: Roster + ?Sized>(
    c: &R,
    seed: u64,
    count: usize,
    mix: Mix,
) -> Vec<SignedEntry> {
    Workload::new(c, seed)
        .with_mix(mix)
        .take(count)
        .unwrap_or_else(|e| panic!("the workload failed: {e}"))
}
