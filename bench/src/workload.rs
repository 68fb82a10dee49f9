//! The benchmark's seeded consortium workload, from the shared test kit
//! (`waybill_testkit::workload`): the same members, keys and entries as
//! ever, so figures stay comparable across rounds.

pub use waybill_testkit::workload::BenchConsortium as Consortium;
pub use waybill_testkit::workload::*;
