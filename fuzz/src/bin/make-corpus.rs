//! Writes the seed corpora: `make-corpus [DIR]` (by default this crate's
//! `corpus/`), one folder per target, replacing the files in them with
//! exactly [`waybill_fuzz::corpus::seeds`]. Regression inputs (files
//! named `regress-*`, kept by hand from fuzzing findings) stay.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    match write(&dir) {
        Ok(n) => {
            println!("wrote {n} seed files under {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-corpus: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Files kept from fuzzing findings, which the generator leaves alone.
const REGRESSION_PREFIX: &str = "regress-";

fn write(dir: &Path) -> Result<usize, String> {
    let seeds = waybill_fuzz::corpus::seeds().map_err(|e| e.to_string())?;
    let mut n = 0;
    for (target, files) in &seeds {
        let sub = dir.join(target);
        std::fs::create_dir_all(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
        let old = std::fs::read_dir(&sub).map_err(|e| format!("{}: {e}", sub.display()))?;
        for file in old {
            let path = file.map_err(|e| format!("{}: {e}", sub.display()))?.path();
            let kept = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(REGRESSION_PREFIX));
            if !kept {
                std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        for (name, bytes) in files {
            let path = sub.join(name);
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}
