//! `waybill-node`: a Waybill ledger node.
//!
//! This release has the offline half: `check` re-verifies a stored chain.
//! Running a consensus node (`init`, `run`) arrives with the consensus and
//! network crates.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// A Waybill ledger node.
#[derive(Parser, Debug)]
#[command(name = "waybill-node", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Re-verify the whole stored chain offline, from genesis: header links,
    /// Merkle roots, signatures, every rule, certificates, and the state.
    Check {
        /// The node's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Check { data_dir } => {
            let ledger = waybill_store::open_dir(&data_dir)
                .with_context(|| format!("cannot open the ledger in {}", data_dir.display()))?;
            let r = ledger.check()?;
            println!(
                "OK: chain {} ({}), {} blocks and {} entries re-verified from genesis; {} blocks carry commit certificates; tip {}",
                ledger.genesis().chain_name,
                ledger.chain_id().short(),
                r.blocks,
                r.entries,
                r.certified,
                r.tip_hash.map(|h| h.to_hex()).unwrap_or_else(|| "none (empty chain)".into())
            );
            Ok(())
        }
    }
}
