//! What the end-to-end stories share: the binaries under test, found by
//! `waybill_testnet::built_binary` next to this test executable (cargo
//! runs it from `target/<profile>/deps/`; the binaries are one level up),
//! never from PATH.

use std::path::PathBuf;
use std::process::Command;

/// A binary of this workspace, built with this test (or a clear panic).
fn binary(name: &str) -> PathBuf {
    waybill_testnet::built_binary(name)
        .unwrap_or_else(|e| panic!("the end-to-end tests run this workspace's binaries: {e}"))
}

/// The `waybill` CLI.
pub fn waybill() -> PathBuf {
    binary("waybill")
}

/// The `waybill-node` node.
pub fn waybill_node() -> PathBuf {
    binary("waybill-node")
}

/// The lying validator of the Byzantine tests (`crates/waybill-byzantine`).
pub fn waybill_byzantine_node() -> PathBuf {
    binary("waybill-byzantine-node")
}

/// A fresh `waybill` process with no passphrase in its environment
/// (`waybill_testkit::cli::waybill`); run it with `waybill_testkit::process`,
/// which bounds its time.
pub fn wb() -> Command {
    waybill_testkit::cli::waybill(&waybill())
}

/// The tests that run node clusters (the cluster tests, the demo) run one
/// at a time: each runs four or five node processes and some make timing
/// assertions (a halted chain stays halted for seconds), which two
/// clusters on a two-core machine would make flaky.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the one-cluster lock until dropped.
pub fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
