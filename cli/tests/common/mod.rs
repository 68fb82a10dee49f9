//! What `bad_input.rs` needs besides the kit: the `waybill` binary cargo
//! built for these tests, and JSON written the CLI's way.
//!
//! Every test builds its own consortium in its own temp dir and talks to
//! the program only through separate `waybill` processes: the world
//! ([`Net`]), the process helpers ([`ok`], [`fails`], [`Out`]) and the
//! coffee ids are the kit's (`waybill_testkit::cli`,
//! `waybill_testkit::process`), shared with the end-to-end tests.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub use waybill_testkit::cli::*;
/// Every file and directory under a directory, to compare before and after.
pub use waybill_testkit::files::DirListing;
pub use waybill_testkit::process::{fails, ok, Out};

/// The `waybill` binary under test.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_waybill"))
}

/// A fresh `waybill` process ([`waybill`] of [`bin`]).
pub fn wb() -> Command {
    waybill(bin())
}

/// Writes JSON the way the CLI does (pretty, trailing newline).
pub fn write_json(path: &Path, v: &Value) {
    let text = serde_json::to_string_pretty(v).expect("serialize") + "\n";
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
