//! The validators: finding the `waybill-node` binary, writing and
//! starting the four-node network, waiting for its entry gossip mesh,
//! spreading each group's first entry before the load starts, and adding
//! the nodes' last log lines to a failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use waybill_testnet::{self as testnet, Cluster, Conn};

use super::groups::Group;
use super::types::{Options, NODES};
use crate::workload::Consortium;

/// `waybill-node`, built next to the benchmark (`waybill_testnet::built_binary`).
pub(crate) fn node_binary() -> Result<PathBuf> {
    testnet::built_binary("waybill-node").map_err(|e| match e {
        testnet::TestnetError::NoBinary {
            searched, release, ..
        } => {
            let profile = if release { "--release " } else { "" };
            let bin = searched
                .first()
                .map_or_else(|| "waybill-node".to_string(), |p| p.display().to_string());
            anyhow!(
                "the network scenario runs real nodes, but {bin} does not exist; build it next to \
                 the benchmark with `cargo build {profile}-p waybill-node -p waybill-bench` \
                 (or leave the scenario out with `--only`)"
            )
        }
        e => anyhow!(e),
    })
}

/// Where a scenario writes its network: a directory to keep, or a
/// temporary one removed when this is dropped.
pub(crate) enum WorkDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    /// `keep` (created if missing), or a new temporary directory.
    pub(crate) fn new(keep: Option<&Path>) -> Result<Self> {
        Ok(match keep {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                WorkDir::Kept(d.to_path_buf())
            }
            None => {
                WorkDir::Temporary(tempfile::tempdir().context("creating a temporary directory")?)
            }
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temporary(t) => t.path(),
        }
    }
}

/// The running validators.
pub(super) struct Network {
    /// Kills every node when dropped.
    pub(super) cluster: Cluster,
    pub(super) names: Vec<String>,
    /// Their APIs, in group order.
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) logs: PathBuf,
}

/// Writes the network in `dir`, starts the validators, and waits for
/// their first block and their entry gossip mesh.
pub(super) fn start_network(
    dir: &Path,
    c0: &Consortium,
    opts: &Options,
    bin: &Path,
) -> Result<Network> {
    let net = testnet::from_genesis(
        dir,
        c0.genesis.clone(),
        &c0.validator_keys(),
        opts.block_interval_ms,
    )?;
    let names: Vec<String> = net.nodes.iter().map(|n| n.name.clone()).collect();
    let addrs: Vec<SocketAddr> = net.nodes.iter().map(|n| n.api).collect();
    let logs = dir.join("logs");
    let mut cluster = Cluster::new(net, bin);
    cluster.start_all()?;
    eprintln!(
        "network: {NODES} validators starting (logs in {})...",
        logs.display()
    );
    for n in &names {
        cluster.wait_height(n, 1, Duration::from_secs(60))?;
    }
    wait_for_gossip_mesh(&addrs, &logs)?;
    Ok(Network {
        cluster,
        names,
        addrs,
        logs,
    })
}

/// Waits for the entry gossip mesh: every node sees the other three.
fn wait_for_gossip_mesh(addrs: &[SocketAddr], logs: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers: Vec<u64> = addrs
            .iter()
            .map(|a| {
                testnet::http_get(*a, "/v1/status", Duration::from_secs(2))
                    .ok()
                    .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["gossip_peers"].as_u64())
                    .unwrap_or(0)
            })
            .collect();
        if peers.iter().all(|&p| p >= (NODES - 1) as u64) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the nodes' entry gossip did not connect within 30 s (peers: {peers:?}); see the logs in {}", logs.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Entry gossip carries entries only once the peers' subscriptions are
/// known (an entry published to nobody is lost for that peer): each
/// group's first entry goes to its node, and the load starts once every
/// node holds all of them. Blocks from the returned height on are read,
/// so the first entries are seen final too, whenever their block comes.
pub(super) fn warm_up_network(groups: &[Group], addrs: &[SocketAddr], logs: &Path) -> Result<u64> {
    let before_warm_up = addrs
        .iter()
        .filter_map(|a| testnet::status(*a).map(|s| s.0))
        .min()
        .unwrap_or(0);
    warm_up(groups, addrs).with_context(|| {
        format!(
            "the network did not spread the first entries (logs in {})",
            logs.display()
        )
    })?;
    Ok(before_warm_up)
}

/// Sends each group's first entry to its node and waits until every node
/// has every one of them (pending or final).
fn warm_up(groups: &[Group], addrs: &[SocketAddr]) -> Result<()> {
    for (k, g) in groups.iter().enumerate() {
        let mut c = Conn::new(addrs[k], Duration::from_secs(10));
        let r = c.post("/v1/entries", &g.json[0])?;
        let (code, body) = (r.status, r.body);
        if code != 202 {
            bail!(
                "node {} answered {code} to the first entry: {}",
                k + 1,
                String::from_utf8_lossy(&body)
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conns: Vec<Conn> = addrs
        .iter()
        .map(|a| Conn::new(*a, Duration::from_secs(5)))
        .collect();
    loop {
        let mut missing = 0;
        for c in &mut conns {
            for g in groups {
                let code = c.get(&format!("/v1/entries/{}", g.ids[0].to_hex()))?.status;
                if code != 200 {
                    missing += 1;
                }
            }
        }
        if missing == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{missing} of the first entries were still missing on some node after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `e` with the last lines of every node's log.
pub(super) fn with_log_tails(
    e: anyhow::Error,
    cluster: &Cluster,
    names: &[String],
    logs: &Path,
) -> anyhow::Error {
    let mut tails = String::new();
    for n in names {
        let log = cluster.log(n);
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        tails.push_str(&format!("\n--- {n} (last lines) ---\n"));
        for l in tail.into_iter().rev() {
            tails.push_str(l);
            tails.push('\n');
        }
    }
    e.context(format!(
        "the network scenario failed (node logs in {}){tails}",
        logs.display()
    ))
}
