//! Runs one target on files, outside AFL: `run-target NAME FILE...`. A
//! broken invariant panics with its message, naming the file first; for
//! reproducing a crash AFL found.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: run-target NAME FILE...");
        return ExitCode::from(2);
    };
    let Some((_, run)) = waybill_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = waybill_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("no target `{name}`; the targets: {}", names.join(", "));
        return ExitCode::from(2);
    };
    for file in args {
        match std::fs::read(&file) {
            Ok(bytes) => {
                eprintln!("{name}: {file} ({} bytes)", bytes.len());
                run(&bytes);
            }
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
