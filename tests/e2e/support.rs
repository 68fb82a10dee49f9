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

/// A fresh `waybill` process with no passphrase in its environment
/// (`waybill_testkit::cli::waybill`); run it with `waybill_testkit::process`,
/// which bounds its time.
pub fn wb() -> Command {
    waybill_testkit::cli::waybill(&waybill())
}
