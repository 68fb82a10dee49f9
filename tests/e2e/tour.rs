//! The README's short tour, run exactly as the README prints it.
//!
//! The test reads the first `sh` block under "## A short tour" in the
//! top-level README.md and hands it to `bash -e` unchanged, in a temporary
//! directory, with the directory of the `waybill` binary under test first on
//! PATH (the tour's own `export PATH=...` line then adds a directory that
//! does not exist there, which is harmless). `TMPDIR` points into the test's
//! temporary directory so the tour's `mktemp -d` is cleaned up with it. So
//! a README that drifts from the CLI fails here.

use std::path::Path;
use std::process::Command;

use crate::support;

/// The first ```sh block after the heading `heading` in `markdown`.
fn sh_block_after<'a>(markdown: &'a str, heading: &str) -> Option<&'a str> {
    let rest = &markdown[markdown.find(heading)?..];
    let start = rest.find("```sh\n")? + "```sh\n".len();
    let len = rest[start..].find("```")?;
    Some(&rest[start..start + len])
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = readme();
    let tour = sh_block_after(&readme, "## A short tour").expect("the README has a tour");
    assert!(
        tour.contains("waybill verify-bundle"),
        "the tour ends with an offline verification"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp dir");
    let bin_dir = support::waybill().parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");

    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", tour])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TMPDIR", &tmp)
        // The tour sets its own passphrase; nothing is inherited.
        .env_remove("WAYBILL_PASSPHRASE")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's tour failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // The entry, the lookup and the bundle each verified.
    assert!(
        stdout.matches("VERIFIED").count() >= 3,
        "fewer than three VERIFIED in:\n{stdout}"
    );
    assert!(
        stdout.contains("VERIFIED: audit bundle"),
        "the bundle did not verify:\n{stdout}"
    );
    assert!(!stdout.contains("FAILED"), "a FAILED in:\n{stdout}");
    // After the recall, the lookup's first line says so, and it still
    // verifies.
    let after = stdout
        .split_once("RECALLED: ")
        .map(|(before, _)| before)
        .expect("a RECALLED line");
    assert!(
        after.ends_with('\n') || after.is_empty(),
        "RECALLED does not start a line:\n{stdout}"
    );
    let recalled_lookup = stdout
        .rsplit_once("RECALLED: ")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        recalled_lookup.contains("ochratoxin A") && recalled_lookup.contains("by Coop"),
        "the recall line lacks its reason or author:\n{stdout}"
    );
    // Everything the tour wrote is in its own directory under TMPDIR.
    let made: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").collect();
    assert_eq!(made.len(), 1, "the tour made one directory for its files");
    let tour_dir = made[0].as_ref().expect("entry").path();
    for f in [
        "coop.pem",
        "genesis.toml",
        "produce.json",
        "recall.json",
        "bundle.json",
    ] {
        assert!(tour_dir.join(f).is_file(), "the tour wrote {f}");
    }
}

#[test]
fn the_tour_block_is_found_where_the_readme_puts_it() {
    let md =
        "# x\n\n## A short tour\n\ntext\n\n```sh\nwaybill a\nwaybill b\n```\n\n```sh\nno\n```\n";
    assert_eq!(
        sh_block_after(md, "## A short tour"),
        Some("waybill a\nwaybill b\n")
    );
    assert_eq!(sh_block_after(md, "## Missing"), None);
}
