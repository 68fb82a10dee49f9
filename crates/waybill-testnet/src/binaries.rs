//! Finding this workspace's binaries (`waybill-node`, `waybill`) from the
//! program that runs them: the CLI's demo, the benchmark and the
//! end-to-end tests, in one place.
//!
//! Cargo puts a workspace's binaries together in `target/<profile>/`, and
//! test executables one level down, in `target/<profile>/deps/`. So a
//! binary is looked for next to the running executable, then (from
//! `deps/`) in its parent directory, and — only for [`binary()`] — on PATH.

use std::path::{Path, PathBuf};

use crate::error::TestnetError;

/// The binary `name` (without `.exe`) built with this program: next to
/// the running executable, or in its parent directory when the executable
/// is a test in `deps/`; never from PATH, so a test or a benchmark runs
/// exactly the build it was made with.
pub fn built_binary(name: &str) -> Result<PathBuf, TestnetError> {
    find(name, false)
}

/// The binary `name` (without `.exe`) as [`built_binary`] finds it, or
/// else the first on PATH (for an installed program such as `waybill
/// demo`).
pub fn binary(name: &str) -> Result<PathBuf, TestnetError> {
    find(name, true)
}

fn find(name: &str, on_path: bool) -> Result<PathBuf, TestnetError> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()
        .map_err(|e| TestnetError::Io(format!("cannot find this program's own path: {e}")))?;
    let dirs = build_dirs(&exe);
    let searched: Vec<PathBuf> = dirs.iter().map(|d| d.join(&file)).collect();
    if let Some(found) = searched.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    if on_path {
        if let Some(paths) = std::env::var_os("PATH") {
            if let Some(found) = std::env::split_paths(&paths)
                .map(|d| d.join(&file))
                .find(|p| p.is_file())
            {
                return Ok(found);
            }
        }
    }
    let release = dirs
        .last()
        .is_some_and(|d| d.file_name().is_some_and(|n| n == "release"));
    Err(TestnetError::NoBinary {
        name: name.to_string(),
        searched,
        on_path,
        release,
    })
}

/// Where the workspace's binaries are for the executable `exe`: its own
/// directory, and the one above when that is cargo's `deps/`.
fn build_dirs(exe: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_path_buf());
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(up) = dir.parent() {
                dirs.push(up.to_path_buf());
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_look_in_deps_and_above() {
        let dirs = build_dirs(Path::new("/w/target/debug/deps/e2e-0123"));
        assert_eq!(
            dirs,
            [
                PathBuf::from("/w/target/debug/deps"),
                PathBuf::from("/w/target/debug")
            ]
        );
        let dirs = build_dirs(Path::new("/w/target/release/waybill-bench"));
        assert_eq!(dirs, [PathBuf::from("/w/target/release")]);
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let e = built_binary("waybill-no-such-binary").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`waybill-no-such-binary` is missing"), "{msg}");
        assert!(msg.contains("cargo build --bins"), "{msg}");
        assert!(!msg.contains("PATH"), "{msg}");
        let msg = binary("waybill-no-such-binary").unwrap_err().to_string();
        assert!(msg.contains("nor on PATH"), "{msg}");
    }
}
