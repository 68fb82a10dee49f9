//! The scenarios on a large ledger (1,000,000 entries by default; `--scale`
//! for fewer): it is generated with two planned stories inside it, written
//! with a certificate on every block, and then served by a real
//! `waybill-node`:
//!
//! - **verify-chain**: `waybill-node check` over the whole store;
//! - **storage**: bytes on disk per entry against canonical entry bytes,
//!   and the node's resident memory once it has opened the ledger;
//! - **lookup**: `GET /v1/lots/{lot}/trail` for a lot with 20 custody hops
//!   and three levels of inputs, and `waybill lookup` end to end (which
//!   verifies every proof and certificate locally);
//! - **export**: `waybill export` and `waybill verify-bundle` of a trail of
//!   about 10,000 entries.
//!
//! Every answer is checked: the node's check must pass, the trails must
//! verify in-process with certificates required and hold the planned
//! entries, and the CLI must print VERIFIED.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use waybill_core::entry::SignedEntry;
use waybill_core::trail::{self, Trail};
use waybill_testnet::{self as testnet, Cluster, NodeDef};

use crate::ingest;
use crate::stats::{percentile, sorted};
use crate::workload::{self, Consortium, Workload};

/// Settings of the large-ledger scenarios.
pub struct BigOpts {
    /// Entries of random traffic around the stories.
    pub scale: usize,
    /// Rounds of each timed part (the check, the lookups, the CLI's
    /// lookups, the export); each figure is the median over the rounds.
    pub rounds: usize,
    /// Trail requests to time per round.
    pub requests: usize,
    /// `waybill lookup` runs to time per round.
    pub cli_runs: usize,
    /// Workload seed.
    pub seed: u64,
    /// Which entry kinds the workload makes.
    pub mix: workload::Mix,
    /// Entries per block.
    pub block_entries: usize,
    /// Keep everything here instead of in a temporary directory.
    pub keep: Option<PathBuf>,
}

/// What they measured.
pub struct BigReport {
    pub entries: u64,
    pub generate_s: f64,
    pub build_entries_per_s: f64,
    pub canonical_bytes_per_entry: f64,
    pub disk_bytes_per_entry: f64,
    /// One value per round, here and below.
    pub check_entries_per_s: Vec<f64>,
    pub rss_bytes: u64,
    /// Resident memory after the lookups, and the process's peak.
    pub rss_served_bytes: u64,
    pub rss_peak_bytes: u64,
    pub trail_items: usize,
    /// Trail requests and `waybill lookup` runs per round.
    pub requests: usize,
    pub cli_runs: usize,
    pub trail_p50_ms: Vec<f64>,
    pub trail_p99_ms: Vec<f64>,
    pub cli_p50_ms: Vec<f64>,
    pub cli_p99_ms: Vec<f64>,
    pub export_items: usize,
    pub export_ms: Vec<f64>,
    pub verify_bundle_ms: Vec<f64>,
}

/// Custody hops of the lookup story (the 20).
const LOOKUP_HOPS: usize = 20;
/// Hops of the export story: about 10,000 trail entries (two per hop, a
/// payment every fourth hop, 68 for the production tree).
const EXPORT_HOPS: usize = 4_400;

/// A binary built next to this one (`waybill_testnet::built_binary`).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    testnet::built_binary(name).map_err(|e| match e {
        testnet::TestnetError::NoBinary { searched, .. } => anyhow!(
            "{} is missing; build it first: cargo build --release -p waybill-node -p waybill-cli",
            searched
                .first()
                .map_or_else(|| name.to_string(), |p| p.display().to_string())
        ),
        e => anyhow!(e),
    })
}

/// A network of one validator node (the consortium's first validator)
/// in `dir`, and that node.
pub(crate) fn one_node(dir: &Path, c: &Consortium) -> Result<(testnet::Testnet, NodeDef)> {
    let net = testnet::from_genesis(dir, c.genesis.clone(), &c.validator_keys()[..1], 250)
        .map_err(|e| anyhow!("writing the node's configuration: {e}"))?;
    let node = net
        .nodes
        .first()
        .ok_or_else(|| anyhow!("the network has no node"))?
        .clone();
    Ok((net, node))
}

/// Starts `node` and waits up to `timeout` for its API to answer; its
/// process id.
pub(crate) fn start_and_wait(
    cluster: &mut Cluster,
    node: &NodeDef,
    timeout: Duration,
) -> Result<u32> {
    cluster
        .start(&node.name)
        .map_err(|e| anyhow!("starting the node: {e}"))?;
    let deadline = Instant::now() + timeout;
    while testnet::status(node.api).is_none() {
        if Instant::now() > deadline || cluster.exited(&node.name) {
            bail!("the node did not start: {}", cluster.log(&node.name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster
        .pid(&node.name)
        .ok_or_else(|| anyhow!("the node has no process id"))
}

fn dir_size(path: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn rss_bytes(pid: u32) -> Result<u64> {
    proc_status_bytes(pid, "VmRSS:")
}

/// A `kB` figure from `/proc/{pid}/status`, in bytes.
pub(crate) fn proc_status_bytes(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

/// Runs `waybill` with `args`, its remembered checkpoints in `state`:
/// the bench's ledger is made afresh each run under the same genesis (so
/// the same chain id), and in the user's state directory a second run
/// would rightly look like a fork of the first.
fn run_cli(bin: &Path, state: &Path, args: &[&str]) -> Result<(Duration, String)> {
    let start = Instant::now();
    let out = Command::new(bin)
        .env("WAYBILL_STATE_DIR", state)
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "`waybill {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((took, stdout))
}

fn fetch_trail(api: SocketAddr, path: &str) -> Result<String> {
    let (code, body) = testnet::http_get(api, path, Duration::from_secs(30))
        .map_err(|e| anyhow!("GET {path}: {e}"))?;
    if code != 200 {
        bail!("GET {path}: HTTP {code}: {body}");
    }
    Ok(body)
}

/// Builds the large ledger and runs the scenarios on it.
pub fn run(opts: &BigOpts) -> Result<BigReport> {
    let c = Consortium::new()?;
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let root = match &opts.keep {
        Some(dir) => {
            if dir.exists() {
                bail!(
                    "--ledger-keep {}: choose a directory that does not exist",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let node_bin = sibling_binary("waybill-node")?;
    let cli_bin = sibling_binary("waybill")?;
    let state = tmp.path().join("cli-state");

    // The ledger, with both stories spread through it.
    eprintln!(
        "large ledger: generating {} entries (seed {}, {:?} mix)...",
        opts.scale, opts.seed, opts.mix
    );
    let gen_start = Instant::now();
    let mut w = Workload::new(&c, opts.seed).with_mix(opts.mix);
    let lookup_story = w.plan_story(LOOKUP_HOPS)?;
    let export_story = w.plan_story(EXPORT_HOPS)?;
    let (lookup_lot, export_lot) = (lookup_story.lot.clone(), export_story.lot.clone());
    let (lookup_len, export_len) = (lookup_story.len(), export_story.len());
    let mut stories = [lookup_story, export_story];
    let entries = w.take_with_stories(opts.scale, &mut stories)?;
    drop(w);
    let encoded: Vec<Vec<u8>> = entries.iter().map(SignedEntry::canonical_bytes).collect();
    drop(entries);
    let generate_s = gen_start.elapsed().as_secs_f64();

    let (net, node) = one_node(&root.join("net"), &c)?;
    std::fs::remove_dir_all(&node.data_dir)
        .with_context(|| format!("clearing {}", node.data_dir.display()))?;
    eprintln!("large ledger: writing {} entries...", encoded.len());
    let certify = |h: &waybill_core::block::Header| workload::certify(&c, h);
    let built = ingest::run_in(
        &node.data_dir,
        &c.genesis,
        c.validator.pk,
        &encoded,
        opts.block_entries,
        workload::T0,
        Some(&certify),
        false,
    )?;
    let n = encoded.len() as u64;
    let canonical: u64 = encoded.iter().map(|e| e.len() as u64).sum();
    drop(encoded);
    let disk = dir_size(&node.data_dir)?;

    // verify-chain: the node binary's offline check, as an operator runs it.
    let mut check_rates = Vec::with_capacity(opts.rounds);
    for round in 1..=opts.rounds {
        eprintln!(
            "verify-chain: waybill-node check ({round}/{})...",
            opts.rounds
        );
        let start = Instant::now();
        let out = Command::new(&node_bin)
            .arg("check")
            .arg("--data-dir")
            .arg(&node.data_dir)
            .output()
            .context("running waybill-node check")?;
        let check_s = start.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "waybill-node check failed on the large ledger: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        check_rates.push(n as f64 / check_s);
    }

    // The node: open the ledger, then measure memory and lookups.
    eprintln!("lookup: starting the node...");
    let genesis_path = net.genesis_path.clone();
    let mut cluster = Cluster::new(net, &node_bin);
    let pid = start_and_wait(&mut cluster, &node, Duration::from_secs(120))?;
    let rss = rss_bytes(pid)?;

    let lookup_path = format!(
        "/v1/lots/{}/trail",
        testnet::encode_segment(&lookup_lot.to_string())
    );
    // Named so that a kept ledger's lookups can be repeated by hand.
    eprintln!("lookup: GET {lookup_path} ({lookup_len} story entries)");
    let body = fetch_trail(node.api, &lookup_path)?;
    let lookup_trail: Trail = serde_json::from_str(&body).context("decoding the trail")?;
    let policy = trail::Policy {
        require_certificates: true,
    };
    trail::verify(&c.genesis, &lookup_trail, policy)
        .map_err(|e| anyhow!("the lookup trail does not verify: {e}"))?;
    if lookup_trail.items.len() < lookup_len {
        bail!(
            "the lookup trail has {} items, fewer than the story's {lookup_len} entries",
            lookup_trail.items.len()
        );
    }
    let (mut trail_p50, mut trail_p99) = (Vec::new(), Vec::new());
    for _ in 0..opts.rounds {
        let mut times = Vec::with_capacity(opts.requests);
        for _ in 0..opts.requests {
            let start = Instant::now();
            let body = fetch_trail(node.api, &lookup_path)?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            if body.len() < 2 {
                bail!("an empty trail answer");
            }
        }
        let times = sorted(times);
        trail_p50.push(percentile(&times, 50.0));
        trail_p99.push(percentile(&times, 99.0));
    }

    let url = format!("http://{}", node.api);
    let genesis_arg = genesis_path.display().to_string();
    let lot_arg = lookup_lot.to_string();
    let (mut cli_p50, mut cli_p99) = (Vec::new(), Vec::new());
    for _ in 0..opts.rounds {
        let mut cli_times = Vec::with_capacity(opts.cli_runs);
        for _ in 0..opts.cli_runs {
            let (took, out) = run_cli(
                &cli_bin,
                &state,
                &[
                    "lookup",
                    &lot_arg,
                    "--node",
                    &url,
                    "--genesis",
                    &genesis_arg,
                ],
            )?;
            if !out.contains("VERIFIED") {
                bail!("`waybill lookup` did not print VERIFIED: {out}");
            }
            cli_times.push(took.as_secs_f64() * 1e3);
        }
        let cli_times = sorted(cli_times);
        cli_p50.push(percentile(&cli_times, 50.0));
        cli_p99.push(percentile(&cli_times, 99.0));
    }
    let rss_served = rss_bytes(pid)?;
    let rss_peak = proc_status_bytes(pid, "VmHWM:")?;

    // Export and verify a ~10,000-entry trail.
    eprintln!("export: waybill export + verify-bundle...");
    let auditor = root.join("auditor.pem");
    let member = c.auditor_key();
    let pem =
        waybill_keys::to_pem(member, None).map_err(|e| anyhow!("writing the auditor key: {e}"))?;
    std::fs::write(&auditor, pem.as_bytes()).context("writing the auditor key")?;
    let export_arg = export_lot.to_string();
    let (mut export_ms, mut verify_bundle_ms) = (Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        // A new file each round: the CLI refuses to overwrite one.
        let bundle = root.join(format!("bundle-{round}.json"));
        let (export_took, _) = run_cli(
            &cli_bin,
            &state,
            &[
                "export",
                &export_arg,
                "--node",
                &url,
                "--genesis",
                &genesis_arg,
                "--key",
                &auditor.display().to_string(),
                "--out",
                &bundle.display().to_string(),
            ],
        )?;
        let (verify_took, out) = run_cli(
            &cli_bin,
            &state,
            &[
                "verify-bundle",
                &bundle.display().to_string(),
                "--genesis",
                &genesis_arg,
                "--require-certificates",
            ],
        )?;
        if !out.contains("VERIFIED") {
            bail!("`waybill verify-bundle` did not print VERIFIED: {out}");
        }
        export_ms.push(export_took.as_secs_f64() * 1e3);
        verify_bundle_ms.push(verify_took.as_secs_f64() * 1e3);
    }
    let export_path = format!("/v1/lots/{}/trail", testnet::encode_segment(&export_arg));
    let export_trail: Trail = serde_json::from_str(&fetch_trail(node.api, &export_path)?)
        .context("decoding the trail")?;
    if export_trail.items.len() < export_len {
        bail!(
            "the export trail has {} items, fewer than the story's {export_len} entries",
            export_trail.items.len()
        );
    }
    cluster.stop_all(Duration::from_secs(10));

    Ok(BigReport {
        entries: n,
        generate_s,
        build_entries_per_s: built.entries_per_s,
        canonical_bytes_per_entry: canonical as f64 / n as f64,
        disk_bytes_per_entry: disk as f64 / n as f64,
        check_entries_per_s: check_rates,
        rss_bytes: rss,
        rss_served_bytes: rss_served,
        rss_peak_bytes: rss_peak,
        trail_items: lookup_trail.items.len(),
        requests: opts.requests,
        cli_runs: opts.cli_runs,
        trail_p50_ms: trail_p50,
        trail_p99_ms: trail_p99,
        cli_p50_ms: cli_p50,
        cli_p99_ms: cli_p99,
        export_items: export_trail.items.len(),
        export_ms,
        verify_bundle_ms,
    })
}
