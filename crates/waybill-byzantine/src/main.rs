//! `waybill-byzantine-node`: a Waybill validator that lies, for the
//! end-to-end tests only (`tests/e2e/cluster/byzantine.rs`). Never
//! published or shipped.
//!
//! `waybill-byzantine-node run --config node.toml` runs the real node
//! (`waybill_node::node::run_with`) with its consensus app wrapped by
//! [`app::LyingApp`] and its consensus network by [`proxy::Proxy`]. What
//! it does wrong is chosen by `WAYBILL_BYZANTINE`, a comma-separated list
//! of: `bad-signature`, `custody`, `bad-root` (its proposals, in turn,
//! every other one of them honest), `equivocate`, `forge-votes`,
//! `replay-votes`, `serve-bad-blocks`, `lie-height`, `bad-cosignature`
//! (its precommits cosign a checkpoint with a wrong root). `custody` proposes
//! the rule-breaking entry in the JSON file `WAYBILL_BYZANTINE_ENTRY`.
//! Each lie told is appended as a line to `WAYBILL_BYZANTINE_RECORD`.

mod app;
mod lies;
mod proxy;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use tracing_subscriber::EnvFilter;
use waybill_consensus::testing::{Address, WrapNetwork};
use waybill_core::crypto;

use crate::lies::Lies;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [cmd, flag, path] if cmd == "run" && flag == "--config" => PathBuf::from(path),
        _ => bail!("usage: waybill-byzantine-node run --config <node.toml>"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let list = std::env::var("WAYBILL_BYZANTINE").unwrap_or_default();
    let lies = Arc::new(Lies::parse(
        &list,
        var("WAYBILL_BYZANTINE_ENTRY").as_deref(),
        var("WAYBILL_BYZANTINE_RECORD").as_deref(),
    )?);
    tracing::warn!("BYZANTINE node: lies told: [{list}]");
    let opened = waybill_node::node::open(&config)?;
    let chain_id = opened.genesis.chain_id();
    let key = opened.key.clone();
    let me = crypto::public_key(&key);
    let others: Vec<Address> = opened
        .genesis
        .validators
        .iter()
        .filter(|v| v.public_key != me)
        .map(|v| Address(v.public_key))
        .collect();
    // The app is made when the node starts consensus, before the network.
    let liar: Arc<OnceLock<Arc<app::LyingApp>>> = Arc::new(OnceLock::new());
    let network: WrapNetwork = {
        let (lies, liar) = (Arc::clone(&lies), Arc::clone(&liar));
        Box::new(move |real, signer| {
            Box::pin(proxy::Proxy::spawn(
                real, signer, lies, chain_id, others, liar,
            ))
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(waybill_node::node::run_with(
        opened.config,
        opened.genesis,
        opened.key,
        opened.shared,
        move |inner| {
            let app = Arc::new(app::LyingApp::new(inner, lies, key, chain_id));
            let _ = liar.set(Arc::clone(&app));
            app::Handle(app)
        },
        Some(network),
    ))
}
