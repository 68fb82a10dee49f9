//! `waybill-node`: a Waybill ledger node.
//!
//! `init` makes a data directory and a `node.toml`; `run` runs the node
//! (consensus, entry gossip, HTTP API); `check` re-verifies a stored chain
//! offline; `peer-id` prints the libp2p peer id of a key.

// Two calls into the allocator are allowed by name (`tune_allocator`,
// `return_freed_memory`).
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use waybill_core::crypto;

// mimalloc: see the workspace Cargo.toml for why and how it is configured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long memory freed to the allocator waits before it is handed back
/// to the kernel, in milliseconds. mimalloc's default, one second, is
/// shorter than a loaded node's rhythm: each block's buffers (megabytes)
/// were freed, handed back, and faulted in again page by page for the
/// next block. In the four-validator benchmark that was 1.1 million of
/// the nodes' 1.8 million page faults. Ten seconds keeps the memory while
/// blocks keep coming and still returns it after a burst.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// mimalloc's number for its `purge_delay` option (`mi_option_purge_delay`
/// in `mimalloc.h`; the sys crate exports no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets the allocator's purge delay, unless the operator set it with
/// mimalloc's own variable (`MIMALLOC_PURGE_DELAY`, read at start-up).
/// Called first in `main`, before any other thread exists.
#[allow(unsafe_code)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` writes one entry of mimalloc's option
        // table, which it reads when it next purges; the call is not
        // thread-safe, and no other thread exists yet.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

/// Hands the memory freed so far back to the kernel at once. Opening a
/// ledger builds its state from a snapshot and the deltas after it, and
/// frees the transient buffers of that work (tens of megabytes at a
/// million entries); with the purge delay above, an idle node would keep
/// them resident until its allocator next purged.
#[allow(unsafe_code)]
fn return_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers; it frees the calling
    // thread's unused pages and purges what its segments hold free. It is
    // safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

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
        /// Print the result as JSON (`"ok": false` and the error on failure).
        #[arg(long)]
        json: bool,
    },
    /// Create a node: its ledger directory (empty chain for the genesis)
    /// and a node.toml with sensible defaults that you then edit (peers).
    Init {
        /// The data directory to create (must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The chain's genesis file.
        #[arg(long, value_name = "FILE")]
        genesis: PathBuf,
        /// The node's key (a validator key, or a member key for a full node).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the configuration.
        #[arg(long, value_name = "FILE", default_value = "node.toml")]
        config: PathBuf,
    },
    /// Print the libp2p peer id of a public key (64 hex digits), as used in
    /// `/p2p/<peer id>` of peer addresses.
    PeerId {
        /// The public key.
        public_key: String,
    },
    /// Run the node from its configuration file (node.toml): open the
    /// ledger, read the key (an encrypted key's passphrase comes from
    /// WAYBILL_PASSPHRASE), join consensus and entry gossip, and serve the
    /// HTTP API until Ctrl-C or SIGTERM.
    ///
    /// Log verbosity follows RUST_LOG (default `info`).
    Run {
        /// The configuration file.
        #[arg(long, value_name = "FILE", default_value = "node.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tune_allocator();
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
        Cmd::Check { data_dir, json } => check(&data_dir, json),
        Cmd::Run { config } => run_node(&config),
        Cmd::PeerId { public_key } => {
            let key: crypto::PublicKey = public_key.parse()?;
            println!("{}", waybill_consensus::peer_id(&key)?);
            Ok(())
        }
        Cmd::Init {
            data_dir,
            genesis,
            key,
            config,
        } => {
            if config.exists() {
                bail!(
                    "{} already exists; refusing to overwrite it",
                    config.display()
                );
            }
            let text = std::fs::read_to_string(&genesis)
                .with_context(|| format!("cannot read {}", genesis.display()))?;
            let g = waybill_core::genesis::Genesis::from_toml(&text)
                .with_context(|| format!("genesis file {}", genesis.display()))?;
            let abs =
                |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let ledger = waybill_store::create_dir(&data_dir, g)?;
            let toml = format!(
                "# waybill-node configuration. Peers: add the other nodes' addresses,\n\
                 # each ending in /p2p/<peer id> (`waybill-node peer-id <public key>`).\n\
                 data_dir = {:?}\ngenesis = {:?}\nkey = {:?}\n\n\
                 [api]\nlisten = \"127.0.0.1:7070\"\n\n\
                 [gossip]\nlisten = [\"/ip4/0.0.0.0/tcp/7171\"]\npeers = []\n\n\
                 [consensus]\nlisten = \"/ip4/0.0.0.0/tcp/7272\"\npeers = []\n",
                abs(&data_dir).display().to_string(),
                abs(&genesis).display().to_string(),
                abs(&key).display().to_string(),
            );
            std::fs::write(&config, toml)
                .with_context(|| format!("cannot write {}", config.display()))?;
            println!(
                "created {} for chain {} and wrote {}",
                data_dir.display(),
                ledger.chain_id(),
                config.display()
            );
            Ok(())
        }
    }
}

/// `check`: re-verifies the stored chain and reports it, as a sentence or
/// as JSON. With `json` a failure is also reported as JSON on stdout
/// (`"ok": false`); the error goes to stderr and the exit code is non-zero
/// either way.
fn check(data_dir: &std::path::Path, json: bool) -> Result<()> {
    let checked = waybill_store::open_and_check_dir(data_dir)
        .with_context(|| format!("cannot check the ledger in {}", data_dir.display()));
    let (ledger, r) = match checked {
        Ok(done) => done,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": format!("{e:#}") })
                );
            }
            return Err(e);
        }
    };
    if json {
        let report = serde_json::json!({
            "ok": true,
            "chain_name": ledger.genesis().chain_name,
            "chain_id": ledger.chain_id().to_hex(),
            "height": ledger.height(),
            "blocks": r.blocks,
            "entries": r.entries,
            "certified_blocks": r.certified,
            "tip_hash": r.tip_hash.map(|h| h.to_hex()),
            "state_digest": r.state_digest.to_hex(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "OK: chain {} ({}), {} blocks and {} entries re-verified from genesis; {} blocks carry commit certificates; tip {}",
            ledger.genesis().chain_name,
            ledger.chain_id().short(),
            r.blocks,
            r.entries,
            r.certified,
            r.tip_hash.map(|h| h.to_hex()).unwrap_or_else(|| "none (empty chain)".into())
        );
    }
    Ok(())
}

fn run_node(path: &std::path::Path) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let waybill_node::node::Opened {
        config,
        genesis,
        key,
        shared,
    } = waybill_node::node::open(path)?;
    return_freed_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(waybill_node::node::run(config, genesis, key, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's purge delay: the only option whose
    /// default is 1,000 ms in the mimalloc this crate builds (v3). Were a
    /// new mimalloc to renumber its options, this fails before a node sets
    /// the wrong one.
    #[test]
    #[allow(unsafe_code)]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one entry of mimalloc's option table.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1_000);
    }
}
