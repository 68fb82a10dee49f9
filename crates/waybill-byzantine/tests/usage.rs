//! The lying node refuses what it does not understand before it starts:
//! an unknown lie, `custody` without its entry, other arguments. (Being
//! an integration test, this also makes `cargo test --workspace` build
//! the binary that the end-to-end tests run.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_waybill-byzantine-node"))
}

fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.output().expect("run waybill-byzantine-node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

#[test]
fn it_refuses_bad_arguments_and_unknown_lies() {
    fails_with(node().arg("check"), "usage: waybill-byzantine-node run");
    fails_with(
        node()
            .args(["run", "--config", "/nonexistent/node.toml"])
            .env("WAYBILL_BYZANTINE", "bad-root,tell-the-truth"),
        "unknown lie `tell-the-truth`",
    );
    fails_with(
        node()
            .args(["run", "--config", "/nonexistent/node.toml"])
            .env("WAYBILL_BYZANTINE", "custody")
            .env_remove("WAYBILL_BYZANTINE_ENTRY"),
        "needs WAYBILL_BYZANTINE_ENTRY",
    );
}
