//! `waybill-bench`: measures the machine's limits (signature verification,
//! hashing, sled batch writes), the ingest pipeline and a four-validator
//! network on loopback in the same run, and reports each figure as the
//! median of several runs: the limits and ingest `--runs` times, the
//! network `--network-runs` times (each on a new network), and the timed
//! parts of the large ledger `--runs` times on the one ledger. The fault
//! campaign (`--only faults`) counts rather than times: kills, pauses and
//! partitions of a loaded network, and what it lost (nothing).

#![forbid(unsafe_code)]

mod big;
mod faults;
mod ingest;
mod network;
mod siege;
mod stats;
mod workload;

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use waybill_core::entry::SignedEntry;

// The node's allocator, so the in-process ingest scenario runs as the node does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Waybill benchmarks: hardware limits and the ingest pipeline.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Smaller workload and fewer runs (finishes in well under 2 minutes).
    #[arg(long)]
    quick: bool,
    /// Entries in the ingest scenario (default 20000; quick 5000).
    #[arg(long)]
    scale: Option<usize>,
    /// Runs per figure; each figure is the median (default 5; quick 3).
    #[arg(long)]
    runs: Option<usize>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Workload seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only these scenarios (comma-separated): limits, ingest, network,
    /// ledger (lookup, verify-chain, storage and export on one large
    /// ledger; those four names select it too). Default: all of them.
    /// `faults` (the fault campaign, which times nothing) and `siege`
    /// (the API under thousands of held connections and a hundred
    /// clients' batches) run only when named, and alone.
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Faults: validators killed with SIGKILL and restarted (default 100;
    /// quick 5). Pauses (SIGSTOP, SIGCONT), one node cut off (3/1) and
    /// halves split (2/2) are a fifth as many each. `--seed` orders them.
    #[arg(long)]
    faults_kills: Option<usize>,
    /// Faults: keep the nodes' keys, configs, ledgers and logs here.
    #[arg(long)]
    faults_keep: Option<PathBuf>,
    /// Siege: connections held open without a request (default 3000;
    /// quick 300): idle, stalled and trickling headers, a third each.
    #[arg(long)]
    siege_connections: Option<usize>,
    /// Siege: seconds it lasts (default 20; quick 5).
    #[arg(long)]
    siege_secs: Option<f64>,
    /// Entries in the large ledger (default 1000000; quick 100000).
    #[arg(long)]
    ledger_scale: Option<usize>,
    /// Keep the large ledger, its node's configuration and logs here
    /// (must not exist) instead of a temporary directory.
    #[arg(long)]
    ledger_keep: Option<PathBuf>,
    /// Network: offered entries/s in the fixed-rate phase (default 5000;
    /// quick 2000).
    #[arg(long)]
    network_rate: Option<f64>,
    /// Network: seconds per phase (default 20; quick 6).
    #[arg(long)]
    network_secs: Option<f64>,
    /// Network: entries per request (1: `POST /v1/entries` per entry;
    /// more: `POST /v1/entries/batch`).
    #[arg(long, default_value_t = 100)]
    network_batch: usize,
    /// Network saturation: most unfinalised entries per node.
    #[arg(long, default_value_t = 4_000)]
    network_window: usize,
    /// Network: the nodes' block_interval_ms.
    #[arg(long, default_value_t = 250)]
    network_block_ms: u64,
    /// Network: runs of the scenario, each on a new network of four
    /// nodes; each network figure is the median (default 3; quick 1).
    #[arg(long)]
    network_runs: Option<usize>,
    /// Network: during saturation, have the admin change the validator
    /// set (the first validator's power from 1 to 2, a few blocks on) and
    /// report the longest time between two blocks.
    #[arg(long)]
    network_change: bool,
    /// Network: keep the nodes' keys, configs, ledgers and logs here
    /// (with more than one run, in `run-1`, `run-2`, ... under it).
    #[arg(long)]
    network_keep: Option<PathBuf>,
    /// The workload's entry kinds (every scenario): `consortium`, today's
    /// traffic with the newer kinds in their shares (partial dispatches,
    /// shortfalls, carrier hand-overs, readings, recalls, corrections,
    /// plots; see `waybill_testkit::workload::Mix`), or `classic`, the
    /// first five kinds only, exactly the entries of rounds before them.
    #[arg(long, value_enum, default_value_t = MixArg::Consortium)]
    mix: MixArg,
}

/// `--mix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MixArg {
    Consortium,
    Classic,
}

impl MixArg {
    fn mix(self) -> workload::Mix {
        match self {
            MixArg::Consortium => workload::Mix::Consortium,
            MixArg::Classic => workload::Mix::Classic,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MixArg::Consortium => "consortium",
            MixArg::Classic => "classic",
        }
    }
}

/// Entries per kind as `produce 1234, dispatch_v2 567, ...`, most first.
fn kinds_text(kinds: &std::collections::BTreeMap<&'static str, usize>) -> String {
    let mut v: Vec<(&str, usize)> = kinds.iter().map(|(k, n)| (*k, *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Scenario names for `--only`.
const SCENARIOS: [&str; 4] = ["limits", "ingest", "network", "ledger"];

/// Most entries/s the network's saturation phase can measure: it signs
/// this many entries per second of the phase up front (about 0.1 ms of
/// CPU each), and reports if it ran out. Quick: `SATURATION_CAP_QUICK`.
const SATURATION_CAP: f64 = 15_000.0;
const SATURATION_CAP_QUICK: f64 = 6_000.0;

const BLOCK_ENTRIES: usize = 1_000;
const BATCH: usize = 256;
const MSG_BYTES: usize = 200;

struct Figure {
    name: &'static str,
    runs: Vec<f64>,
    unit: &'static str,
    ratio: Option<(f64, &'static str)>,
    note: Option<String>,
}

impl Figure {
    fn median(&self) -> f64 {
        median(&self.runs)
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Runs `f` (which returns the number of operations it did) repeatedly for
/// at least `window`, returning operations per second.
fn rate(window: Duration, mut f: impl FnMut() -> Result<u64>) -> Result<f64> {
    let start = Instant::now();
    let mut ops = 0u64;
    loop {
        ops += f()?;
        let el = start.elapsed();
        if el >= window {
            return Ok(ops as f64 / el.as_secs_f64());
        }
    }
}

struct SigSet {
    msgs: Vec<Vec<u8>>,
    sigs: Vec<Signature>,
    keys: Vec<VerifyingKey>,
}

/// `BATCH` signatures by 16 keys over distinct 200-byte messages.
fn sig_set() -> SigSet {
    let signers: Vec<SigningKey> = (0..16u8)
        .map(|i| SigningKey::from_bytes(&[i.wrapping_add(50); 32]))
        .collect();
    let mut msgs = Vec::with_capacity(BATCH);
    let mut sigs = Vec::with_capacity(BATCH);
    let mut keys = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let mut m = vec![0u8; MSG_BYTES];
        m[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let k = &signers[i % signers.len()];
        sigs.push(k.sign(&m));
        keys.push(k.verifying_key());
        msgs.push(m);
    }
    SigSet { msgs, sigs, keys }
}

fn verify_single(set: &SigSet, window: Duration) -> Result<f64> {
    let mut i = 0usize;
    rate(window, || {
        for _ in 0..64 {
            let j = i % BATCH;
            i += 1;
            set.keys[j]
                .verify_strict(black_box(&set.msgs[j]), &set.sigs[j])
                .map_err(|e| anyhow!("verify_strict failed on a valid signature: {e}"))?;
        }
        Ok(64)
    })
}

fn verify_batch_once(set: &SigSet) -> Result<u64> {
    let msgs: Vec<&[u8]> = set.msgs.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(black_box(&msgs), &set.sigs, &set.keys)
        .map_err(|e| anyhow!("verify_batch failed on valid signatures: {e}"))?;
    Ok(BATCH as u64)
}

fn verify_batch(set: &SigSet, window: Duration) -> Result<f64> {
    rate(window, || verify_batch_once(set))
}

fn verify_batch_all_cores(set: &SigSet, window: Duration, cores: usize) -> Result<f64> {
    let start = Instant::now();
    let counts: Vec<Result<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| -> Result<u64> {
                    let mut ops = 0;
                    while start.elapsed() < window {
                        ops += verify_batch_once(set)?;
                    }
                    Ok(ops)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a verification thread panicked"))?
            })
            .collect()
    });
    let el = start.elapsed().as_secs_f64();
    let mut total = 0u64;
    for c in counts {
        total += c?;
    }
    Ok(total as f64 / el)
}

fn sha256(window: Duration) -> Result<f64> {
    let mut m = [7u8; MSG_BYTES];
    let mut n = 0u64;
    rate(window, || {
        for _ in 0..1024 {
            n += 1;
            m[..8].copy_from_slice(&n.to_le_bytes());
            black_box(Sha256::digest(black_box(&m)));
        }
        Ok(1024)
    })
}

fn sled_open(path: &std::path::Path) -> Result<sled::Db> {
    // The same configuration as waybill-store's SledBackend.
    sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput)
        .open()
        .with_context(|| format!("opening sled in {}", path.display()))
}

fn sled_batch(batches: usize) -> Result<f64> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let db = sled_open(&dir.path().join("db"))?;
    let value = vec![0xABu8; MSG_BYTES];
    let start = Instant::now();
    let mut n = 0u64;
    for _ in 0..batches {
        let mut b = sled::Batch::default();
        for _ in 0..1_000 {
            n += 1;
            b.insert(&n.to_be_bytes()[..], value.as_slice());
        }
        db.apply_batch(b).context("sled apply_batch")?;
        db.flush().context("sled flush")?;
    }
    let el = start.elapsed().as_secs_f64();
    drop(db);
    Ok(n as f64 / el)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 0.1 || v == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runs = args.runs.unwrap_or(if args.quick { 3 } else { 5 });
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let net_runs = args.network_runs.unwrap_or(if args.quick { 1 } else { 3 });
    if net_runs == 0 {
        bail!("--network-runs must be at least 1");
    }
    let scale = args
        .scale
        .unwrap_or(if args.quick { 5_000 } else { 20_000 });
    if scale == 0 {
        bail!("--scale must be at least 1");
    }
    if args
        .only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n.trim() == "faults"))
    {
        return run_faults(&args);
    }
    if args
        .only
        .as_ref()
        .is_some_and(|o| o.iter().any(|n| n.trim() == "siege"))
    {
        return run_siege(&args);
    }
    let selected: Vec<&str> = match &args.only {
        None => SCENARIOS.to_vec(),
        Some(list) => {
            let mut v = Vec::new();
            for name in list.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let name = match name {
                    "lookup" | "verify-chain" | "storage" | "export" => "ledger",
                    other => other,
                };
                let Some(known) = SCENARIOS.iter().find(|s| **s == name) else {
                    bail!(
                        "--only: there is no scenario `{name}`; the scenarios are {}",
                        SCENARIOS.join(", ")
                    );
                };
                v.push(*known);
            }
            if v.is_empty() {
                bail!("--only needs at least one of {}", SCENARIOS.join(", "));
            }
            v
        }
    };
    let run_limits = selected.contains(&"limits");
    let run_ingest = selected.contains(&"ingest");
    let run_network = selected.contains(&"network");
    let run_ledger = selected.contains(&"ledger");
    let ledger_scale = args
        .ledger_scale
        .unwrap_or(if args.quick { 100_000 } else { 1_000_000 });
    if ledger_scale < 1_000 {
        bail!("--ledger-scale must be at least 1000");
    }
    let window = Duration::from_millis(if args.quick { 300 } else { 1_000 });
    let sled_batches = if args.quick { 10 } else { 30 };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = cpu_model();
    let commit = git_commit();
    let total = Instant::now();

    let net_rate = args
        .network_rate
        .unwrap_or(if args.quick { 2_000.0 } else { 5_000.0 });
    let net_secs = args
        .network_secs
        .unwrap_or(if args.quick { 6.0 } else { 20.0 });
    if !(net_rate > 0.0 && net_secs > 0.0 && net_secs.is_finite()) {
        bail!("--network-rate and --network-secs must be positive");
    }
    let net_opts = network::Options {
        seed: args.seed,
        rate: net_rate,
        phase: Duration::from_secs_f64(net_secs),
        batch: args.network_batch,
        window: args.network_window,
        saturation_entries: ((if args.quick {
            SATURATION_CAP_QUICK
        } else {
            SATURATION_CAP
        }) * net_secs
            / network::NODES as f64)
            .ceil() as usize,
        block_interval_ms: args.network_block_ms,
        keep: args.network_keep.clone(),
        mix: args.mix.mix(),
        change: args.network_change,
    };

    let consortium = workload::Consortium::new()?;
    let mut encoded: Vec<Vec<u8>> = Vec::new();
    let mut mean_bytes = f64::NAN;
    let mut with_inputs = 0;
    let mut kinds = std::collections::BTreeMap::new();
    if run_ingest {
        eprintln!(
            "generating {scale} entries (seed {}, {} mix)...",
            args.seed,
            args.mix.name()
        );
        let entries = workload::Workload::new(&consortium, args.seed)
            .with_mix(args.mix.mix())
            .take(scale)?;
        kinds = workload::count_kinds(&entries);
        encoded = entries.iter().map(SignedEntry::canonical_bytes).collect();
        mean_bytes = encoded.iter().map(Vec::len).sum::<usize>() as f64 / scale as f64;
        with_inputs = entries
            .iter()
            .filter(|e| {
                matches!(&e.entry.body, waybill_core::entry::Body::Produce(p) if !p.inputs.is_empty())
                    || matches!(&e.entry.body, waybill_core::entry::Body::ProduceV2(p) if !p.produce.inputs.is_empty())
            })
            .count();
    }

    let set = sig_set();
    let mut single = Vec::new();
    let mut batch = Vec::new();
    let mut batch_all = Vec::new();
    let mut sha = Vec::new();
    let mut sled = Vec::new();
    let mut ing = Vec::new();
    let mut keys = Vec::new();
    let mut disk = Vec::new();
    if run_limits || run_ingest {
        for run in 1..=runs {
            eprintln!("run {run}/{runs}...");
            if run_limits {
                single.push(verify_single(&set, window)?);
                batch.push(verify_batch(&set, window)?);
                batch_all.push(verify_batch_all_cores(&set, window, cores)?);
                sha.push(sha256(window)?);
                sled.push(sled_batch(sled_batches)?);
            }
            if run_ingest {
                let r = ingest::run(
                    &consortium.genesis,
                    consortium.validator.pk,
                    &encoded,
                    BLOCK_ENTRIES,
                    workload::T0,
                )?;
                ing.push(r.entries_per_s);
                keys.push(r.keys_per_entry);
                disk.push(r.disk_bytes_per_entry);
            }
        }
    }

    // Throughput is compared with batch verification on all cores, when
    // the limits were measured in this run.
    let all_cores = run_limits.then(|| median(&batch_all));
    let ratio_of = |v: f64| all_cores.map(|l| (v / l, "limit.verify_batch_all_cores"));
    let mut figures = Vec::new();
    if run_limits {
        figures.extend([
            Figure {
                name: "limit.verify_single",
                runs: single,
                unit: "sig/s",
                ratio: None,
                note: Some("ed25519 verify_strict, 200-byte messages, one core".into()),
            },
            Figure {
                name: "limit.verify_batch",
                runs: batch,
                unit: "sig/s",
                ratio: None,
                note: Some(format!("verify_batch of {BATCH}, one core")),
            },
            Figure {
                name: "limit.verify_batch_all_cores",
                runs: batch_all,
                unit: "sig/s",
                ratio: None,
                note: Some(format!("verify_batch of {BATCH}, {cores} threads")),
            },
            Figure {
                name: "limit.sha256",
                runs: sha,
                unit: "msg/s",
                ratio: None,
                note: Some("SHA-256 of 200-byte messages, one core".into()),
            },
            Figure {
                name: "limit.sled_batch",
                runs: sled,
                unit: "values/s",
                ratio: None,
                note: Some(format!(
                    "200-byte values, apply_batch of 1000 + flush, {sled_batches} batches"
                )),
            },
        ]);
    }
    if run_ingest {
        figures.extend([
            Figure {
                name: "ingest",
                runs: ing.clone(),
                unit: "entries/s",
                ratio: ratio_of(median(&ing)),
                note: Some(format!(
                    "{scale} entries in blocks of {BLOCK_ENTRIES}: decode, verify, rules, apply, flushed sled; check() passed"
                )),
            },
            Figure {
                name: "ingest.keys_per_entry",
                runs: keys,
                unit: "keys/entry",
                ratio: None,
                note: Some("distinct sled keys added by the ingest (full scan), per entry".into()),
            },
            Figure {
                name: "ingest.disk_bytes_per_entry",
                runs: disk,
                unit: "bytes/entry",
                ratio: None,
                note: Some("SledBackend::size_on_disk after ingest, per entry".into()),
            },
        ]);
    }
    let mut net_reports = Vec::new();
    if run_network {
        for run in 1..=net_runs {
            eprintln!("network: run {run}/{net_runs}...");
            let mut opts = net_opts.clone();
            if net_runs > 1 {
                opts.keep = net_opts.keep.as_ref().map(|k| k.join(format!("run-{run}")));
            }
            net_reports.push(network::run(&opts)?);
        }
        figures.extend(network_figures(&net_reports, &ratio_of));
    }

    let mut big_report = None;
    if run_ledger {
        let r = big::run(&big::BigOpts {
            scale: ledger_scale,
            rounds: runs,
            requests: if args.quick { 50 } else { 200 },
            cli_runs: if args.quick { 5 } else { 20 },
            seed: args.seed,
            mix: args.mix.mix(),
            block_entries: BLOCK_ENTRIES,
            keep: args.ledger_keep.clone(),
        })?;
        figures.extend(big_figures(&r, &ratio_of));
        big_report = Some(r);
    }

    println!("machine: {cores} cores, {cpu}, commit {commit}");
    if let Some(r) = &big_report {
        println!(
            "large ledger: {} entries (generated in {:.1} s, written at {:.0} entries/s with a certificate per block), built once, its timed parts in {} rounds; lookup trail {} items, export trail {} items",
            r.entries, r.generate_s, r.build_entries_per_s, r.check_entries_per_s.len(), r.trail_items, r.export_items
        );
    }
    if run_ingest {
        println!(
            "workload: {scale} entries, seed {}, {} mix, mean {mean_bytes:.0} bytes/entry, {with_inputs} productions with inputs; {runs} runs, medians",
            args.seed,
            args.mix.name()
        );
        println!("workload kinds: {}", kinds_text(&kinds));
    }
    if let Some(r) = net_reports.first() {
        println!(
            "network: {} validators on loopback, block_interval_ms {}, {} per request, mean {:.0} JSON bytes/entry ({} racing carrier hand-overs left out); {}, each on a new network",
            network::NODES,
            r.options.block_interval_ms,
            if r.options.batch == 1 {
                "1 entry".to_string()
            } else {
                format!("up to {} entries", r.options.batch)
            },
            r.mean_json_bytes,
            r.left_out,
            runs_note(net_reports.len(), "run"),
        );
        println!("network workload kinds: {}", kinds_text(&r.kinds));
        for (k, r) in net_reports.iter().enumerate() {
            print_network_run(k + 1, net_reports.len(), r);
        }
    }
    println!(
        "{:<30} {:>12} {:<12} {:<40} note",
        "figure", "value", "unit", "ratio"
    );
    for f in &figures {
        let ratio = f
            .ratio
            .map(|(r, of)| format!("{r:.3} x {of}"))
            .unwrap_or_default();
        println!(
            "{:<30} {:>12} {:<12} {ratio:<40} {}",
            f.name,
            fmt_value(f.median()),
            f.unit,
            f.note.as_deref().unwrap_or("")
        );
    }
    println!("total wall time: {:.1} s", total.elapsed().as_secs_f64());

    if let Some(path) = &args.json_out {
        let network = net_reports.first().map(|r| {
            json!({
                "validators": network::NODES,
                "rate": r.options.rate,
                "phase_s": r.options.phase.as_secs_f64(),
                "batch": r.options.batch,
                "window": r.options.window,
                "block_interval_ms": r.options.block_interval_ms,
                "mean_entry_json_bytes": r.mean_json_bytes,
                "left_out_handovers": r.left_out,
                "entry_kinds": r.kinds,
                "runs": net_reports.iter().map(|r| json!({
                    "height": r.height,
                    "checked_entries": r.checked_entries,
                    "blocks_after_round_0": r.late_rounds,
                    "max_round": r.max_round,
                    "node_counters": r.node_counters.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
                    "fixed": phase_json(&r.fixed, &r.fixed_blocks),
                    "saturation": phase_json(&r.saturation, &r.saturation_blocks),
                    "one_validator_down": phase_json(&r.down, &r.down_blocks),
                    "one_validator_down_fixed": phase_json(&r.down_fixed, &r.down_fixed_blocks),
                    "validator_change_height": r.change_height,
                })).collect::<Vec<_>>(),
            })
        });
        let doc = json!({
            "machine": { "cores": cores, "cpu": cpu, "commit": commit },
            "config": {
                "quick": args.quick, "scale": scale, "runs": runs, "network_runs": net_runs, "seed": args.seed,
                "scenarios": selected,
                "block_entries": BLOCK_ENTRIES, "verify_batch_size": BATCH,
                "mean_entry_bytes": if run_ingest { Some(mean_bytes) } else { None },
                "productions_with_inputs": with_inputs,
                "mix": args.mix.name(),
                "entry_kinds": if run_ingest { Some(&kinds) } else { None },
                "network": network,
                "ledger_entries": big_report.as_ref().map(|r| r.entries),
            },
            "figures": figures.iter().map(|f| json!({
                "name": f.name,
                "value": f.median(),
                "unit": f.unit,
                "runs": f.runs,
                "ratio": f.ratio.map(|(r, of)| json!({ "value": r, "of": of })),
                "note": f.note,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).context("encoding JSON")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn phase_json(p: &network::Phase, b: &network::Blocks) -> serde_json::Value {
    json!({
        "entries": p.entries,
        "offered_per_s": p.offered_per_s,
        "finalised_per_s": p.finalised_per_s,
        "p50_ms": p.p50_ms, "p95_ms": p.p95_ms, "p99_ms": p.p99_ms, "max_ms": p.max_ms,
        "mempool_full_answers": p.full,
        "requests": p.requests,
        "request_rtt_p50_ms": p.rtt_p50_ms,
        "request_rtt_p99_ms": p.rtt_p99_ms,
        "lag_ms": p.lag_ms,
        "ran_out": p.ran_out,
        "blocks": b.count,
        "block_entries_mean": b.mean_entries,
        "block_entries_max": b.max_entries,
        "block_interval_ms": b.mean_interval_ms,
        "block_gap_max_ms": b.max_gap_ms,
        "block_own_share": b.own_share,
    })
}

/// Fails unless `--only` names `scenario` and nothing else.
fn only_alone(args: &Args, scenario: &str, what: &str) -> Result<()> {
    if let Some(other) = args
        .only
        .iter()
        .flatten()
        .map(|n| n.trim())
        .find(|n| !n.is_empty() && *n != scenario)
    {
        bail!("--only: {what} runs alone (`--only {scenario}`), not with `{other}`");
    }
    Ok(())
}

/// `--only faults`: the campaign alone; fails unless the network held.
fn run_faults(args: &Args) -> Result<()> {
    only_alone(args, "faults", "the fault campaign")?;
    let kills = args
        .faults_kills
        .unwrap_or(if args.quick { 5 } else { 100 });
    if kills == 0 {
        bail!("--faults-kills must be at least 1");
    }
    let report = faults::run(&faults::Options {
        seed: args.seed,
        kills,
        batch: 20,
        block_interval_ms: args.network_block_ms,
        keep: args.faults_keep.clone(),
    })?;
    report.print();
    if let Some(path) = &args.json_out {
        let r = &report;
        let v = json!({
            "scenario": "faults",
            "commit": git_commit(),
            "seed": args.seed,
            "kills": r.kills, "pauses": r.pauses,
            "minority_partitions": r.minority_partitions,
            "half_partitions": r.half_partitions,
            "acknowledged": r.acknowledged, "signed": r.signed, "on_chain": r.on_chain,
            "lost": r.lost, "forks": r.forks, "duplicates": r.duplicates, "unknown": r.unknown,
            "height": r.height, "resent": r.resent, "failed_requests": r.failed_requests,
            "recover_max_s": r.recover_max_s, "halves_max_advance": r.halves_max_advance,
            "refused_connections": r.refused_connections, "seconds": r.seconds,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.held() {
        bail!(
            "the network lost {} acknowledged entries, forked at {} heights, holds {} entries twice and {} nobody sent",
            report.lost,
            report.forks,
            report.duplicates,
            report.unknown
        );
    }
    Ok(())
}

/// `--only siege`: the API under siege, alone; fails if a newcomer was
/// turned away or the node died.
fn run_siege(args: &Args) -> Result<()> {
    only_alone(args, "siege", "the siege")?;
    let connections = args
        .siege_connections
        .unwrap_or(if args.quick { 300 } else { 3_000 });
    let secs = args
        .siege_secs
        .unwrap_or(if args.quick { 5.0 } else { 20.0 });
    if !(secs > 0.0 && secs.is_finite()) {
        bail!("--siege-secs must be positive");
    }
    let r = siege::run(&siege::Options {
        connections,
        batch_clients: if args.quick { 10 } else { 100 },
        batch_entries: 1_000,
        duration: Duration::from_secs_f64(secs),
        seed: args.seed,
    })?;
    r.print();
    if let Some(path) = &args.json_out {
        let v = json!({
            "scenario": "siege",
            "commit": git_commit(),
            "connections": r.connections, "opened": r.opened,
            "batch_clients": r.batch_clients, "batch_entries": r.batch_entries,
            "seconds": r.seconds,
            "calm_p50_ms": r.calm_p50_ms, "calm_p99_ms": r.calm_p99_ms,
            "probes": r.probes, "probe_p50_ms": r.probe_p50_ms,
            "probe_p99_ms": r.probe_p99_ms, "probe_max_ms": r.probe_max_ms,
            "probe_failures": r.probe_failures,
            "batches_ok": r.batches_ok, "batches_503": r.batches_503,
            "batches_other": r.batches_other,
            "rss_before_mib": r.rss_before_mib, "rss_peak_mib": r.rss_peak_mib,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if r.probe_failures > 0 {
        bail!(
            "{} of {} newcomer requests were not answered 200 during the siege",
            r.probe_failures,
            r.probes
        );
    }
    Ok(())
}

/// "median of N runs" or "one run".
fn runs_note(n: usize, what: &str) -> String {
    if n == 1 {
        format!("one {what}")
    } else {
        format!("median of {n} {what}s")
    }
}

fn network_figures(
    rs: &[network::NetworkReport],
    ratio_of: &dyn Fn(f64) -> Option<(f64, &'static str)>,
) -> Vec<Figure> {
    let Some(r0) = rs.first() else {
        return Vec::new();
    };
    let once = runs_note(rs.len(), "run");
    let each = |f: &dyn Fn(&network::NetworkReport) -> f64| rs.iter().map(f).collect::<Vec<f64>>();
    let with_ratio = |name: &'static str, runs: Vec<f64>, note: String| Figure {
        name,
        ratio: ratio_of(median(&runs)),
        runs,
        unit: "entries/s",
        note: Some(note),
    };
    let ms = |name: &'static str, runs: Vec<f64>, what: &str| Figure {
        name,
        runs,
        unit: "ms",
        ratio: None,
        note: Some(format!("{what}; {once}")),
    };
    let o = &r0.options;
    vec![
        with_ratio(
            "network.fixed.finalised",
            each(&|r| r.fixed.finalised_per_s),
            format!(
                "offered {:.0}/s for {:.0} s, last 80% of the phase; {once}",
                o.rate,
                o.phase.as_secs_f64(),
            ),
        ),
        ms(
            "network.fixed.p50_ms",
            each(&|r| r.fixed.p50_ms),
            "finality latency, due time -> block first reported committed",
        ),
        ms(
            "network.fixed.p95_ms",
            each(&|r| r.fixed.p95_ms),
            "finality latency",
        ),
        ms(
            "network.fixed.p99_ms",
            each(&|r| r.fixed.p99_ms),
            "finality latency",
        ),
        with_ratio(
            "network.saturation.finalised",
            each(&|r| r.saturation.finalised_per_s),
            format!(
                "at most {} unfinalised entries per node for {:.0} s, last 80%; {once}",
                o.window,
                o.phase.as_secs_f64(),
            ),
        ),
        ms(
            "network.saturation.p50_ms",
            each(&|r| r.saturation.p50_ms),
            "finality latency at saturation, send -> committed",
        ),
        ms(
            "network.saturation.p99_ms",
            each(&|r| r.saturation.p99_ms),
            "finality latency at saturation",
        ),
        with_ratio(
            "network.down.finalised",
            each(&|r| r.down.finalised_per_s),
            format!(
                "saturation with validator {} of 4 killed, last 80%; {once}",
                network::DOWN + 1
            ),
        ),
        Figure {
            name: "network.down.share",
            runs: each(&|r| r.down.finalised_per_s / r.saturation.finalised_per_s),
            unit: "x",
            ratio: None,
            note: Some(format!(
                "one validator down against all four, each run's own saturation; {once}"
            )),
        },
        ms(
            "network.down.p50_ms",
            each(&|r| r.down.p50_ms),
            "finality latency at saturation with one validator down, send -> committed",
        ),
        ms(
            "network.down.p99_ms",
            each(&|r| r.down.p99_ms),
            "finality latency at saturation with one validator down",
        ),
        ms(
            "network.down.fixed_p50_ms",
            each(&|r| r.down_fixed.p50_ms),
            "finality latency at the fixed rate with one validator down, due time -> committed",
        ),
        ms(
            "network.down.fixed_p99_ms",
            each(&|r| r.down_fixed.p99_ms),
            "finality latency at the fixed rate with one validator down",
        ),
        Figure {
            name: "network.block_entries",
            runs: each(&|r| r.saturation_blocks.mean_entries),
            unit: "entries",
            ratio: None,
            note: Some(format!("mean per block at saturation; {once}")),
        },
        Figure {
            name: "network.block_interval_ms",
            runs: each(&|r| r.saturation_blocks.mean_interval_ms),
            unit: "ms",
            ratio: None,
            note: Some(format!(
                "mean at saturation; block_interval_ms {}; {once}",
                o.block_interval_ms
            )),
        },
        Figure {
            name: "network.block_gap_max_ms",
            runs: each(&|r| r.saturation_blocks.max_gap_ms),
            unit: "ms",
            ratio: None,
            note: Some(format!(
                "longest time between two blocks at saturation{}; {once}",
                if o.change {
                    ", across a validator change"
                } else {
                    ""
                }
            )),
        },
    ]
}

/// One network run's details, printed above the table.
fn print_network_run(k: usize, n: usize, r: &network::NetworkReport) {
    let (f, s) = (&r.fixed, &r.saturation);
    let (fb, sb) = (&r.fixed_blocks, &r.saturation_blocks);
    println!(
        "network run {k}/{n}: {} entries checked on every node up to height {} ({} blocks decided after round 0, highest round {}; signing {:.1} s, check {:.1} s)",
        r.checked_entries, r.height, r.late_rounds, r.max_round, r.generate_s, r.check_s,
    );
    println!(
        "  fixed: {:.0} entries/s final, {:.0}/s achieved, {} entries, lag {:.0} ms, latency max {:.0} ms; {} requests, round trip p50 {:.1} ms, p99 {:.1} ms; blocks mean {:.0} entries, max {}, {:.0}% own, {:.0} ms apart",
        f.finalised_per_s,
        f.offered_per_s,
        f.entries,
        f.lag_ms.max(0.0),
        f.max_ms,
        f.requests,
        f.rtt_p50_ms,
        f.rtt_p99_ms,
        fb.mean_entries,
        fb.max_entries,
        fb.own_share * 100.0,
        fb.mean_interval_ms,
    );
    println!(
        "  saturation: {:.0} entries/s final, {} entries, latency max {:.0} ms; {} requests, round trip p50 {:.1} ms, p99 {:.1} ms; mempool-full answers {}{}; {} blocks, mean {:.0} entries, max {}, {:.0}% from the proposer's own clients, {:.0} ms apart, longest gap {:.0} ms",
        s.finalised_per_s,
        s.entries,
        s.max_ms,
        s.requests,
        s.rtt_p50_ms,
        s.rtt_p99_ms,
        s.full,
        if s.ran_out { "; RAN OUT of generated entries" } else { "" },
        sb.count,
        sb.mean_entries,
        sb.max_entries,
        sb.own_share * 100.0,
        sb.mean_interval_ms,
        sb.max_gap_ms,
    );
    let (d, db) = (&r.down, &r.down_blocks);
    println!(
        "  one validator down: {:.0} entries/s final ({:.0}% of saturation), {} entries, latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms{}; {} blocks, mean {:.0} entries, {:.0} ms apart, longest gap {:.0} ms",
        d.finalised_per_s,
        d.finalised_per_s / s.finalised_per_s * 100.0,
        d.entries,
        d.p50_ms,
        d.p99_ms,
        d.max_ms,
        if d.ran_out { "; RAN OUT of generated entries" } else { "" },
        db.count,
        db.mean_entries,
        db.mean_interval_ms,
        db.max_gap_ms,
    );
    let (f, fb) = (&r.down_fixed, &r.down_fixed_blocks);
    println!(
        "  one validator down, fixed rate: {:.0} entries/s final, {:.0}/s achieved, {} entries, latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {} blocks, {:.0} ms apart, longest gap {:.0} ms",
        f.finalised_per_s,
        f.offered_per_s,
        f.entries,
        f.p50_ms,
        f.p99_ms,
        f.max_ms,
        fb.count,
        fb.mean_interval_ms,
        fb.max_gap_ms,
    );
    if let Some(h) = r.change_height {
        println!(
            "  validator change during saturation: validator 1's power 1 -> 2 from height {h}; every certificate verified against its height's set"
        );
    }
    let counters: Vec<String> = r
        .node_counters
        .iter()
        .map(|(n, v)| format!("{n} {v:.0}"))
        .collect();
    println!(
        "  node counters (sum over nodes): {}",
        if counters.is_empty() {
            "none".to_string()
        } else {
            counters.join(", ")
        }
    );
}

fn one(
    name: &'static str,
    value: f64,
    unit: &'static str,
    ratio: Option<(f64, &'static str)>,
    note: String,
) -> Figure {
    Figure {
        name,
        runs: vec![value],
        unit,
        ratio,
        note: Some(note),
    }
}

fn big_figures(
    r: &big::BigReport,
    ratio_of: &dyn Fn(f64) -> Option<(f64, &'static str)>,
) -> Vec<Figure> {
    let n = r.entries;
    let rounds = runs_note(r.check_entries_per_s.len(), "round");
    let timed = |name: &'static str, runs: &[f64], unit: &'static str, note: String| Figure {
        name,
        runs: runs.to_vec(),
        unit,
        ratio: None,
        note: Some(format!("{note}; {rounds}")),
    };
    vec![
        Figure {
            name: "verify_chain",
            runs: r.check_entries_per_s.clone(),
            unit: "entries/s",
            ratio: ratio_of(median(&r.check_entries_per_s)),
            note: Some(format!("`waybill-node check` over {n} entries: open, every signature, rule, root, link and certificate; state and indexes compared; {rounds}")),
        },
        one("storage.disk_bytes_per_entry", r.disk_bytes_per_entry, "bytes/entry",
            Some((r.disk_bytes_per_entry / r.canonical_bytes_per_entry, "canonical entry bytes")),
            format!("data directory size / {n} entries; canonical entries average {:.0} bytes", r.canonical_bytes_per_entry)),
        one("storage.node_rss_mb", r.rss_bytes as f64 / 1_048_576.0, "MiB", None,
            format!("waybill-node resident memory once serving the {n}-entry ledger (as soon as its API answers)")),
        one("storage.node_rss_served_mb", r.rss_served_bytes as f64 / 1_048_576.0, "MiB", None,
            "the same node after serving the lookups below".into()),
        one("storage.node_rss_peak_mb", r.rss_peak_bytes as f64 / 1_048_576.0, "MiB", None,
            "the same node's peak resident memory (VmHWM), opening included".into()),
        timed("lookup.node_p50_ms", &r.trail_p50_ms, "ms",
            format!("GET /v1/lots/{{lot}}/trail, {} items (20 hops, 3 input levels), new connection each, client-timed, {} requests a round", r.trail_items, r.requests)),
        timed("lookup.node_p99_ms", &r.trail_p99_ms, "ms", "as above, 99th percentile of each round".into()),
        timed("lookup.cli_p50_ms", &r.cli_p50_ms, "ms",
            format!("`waybill lookup --node`: process start, fetch, full local verification, VERIFIED; {} runs a round", r.cli_runs)),
        timed("lookup.cli_p99_ms", &r.cli_p99_ms, "ms", "as above, 99th percentile of each round".into()),
        timed("export.export_ms", &r.export_ms, "ms",
            format!("`waybill export --node` of a {}-item trail: fetch, verify, sign, write", r.export_items)),
        timed("export.verify_bundle_ms", &r.verify_bundle_ms, "ms",
            "`waybill verify-bundle --require-certificates` of that bundle".into()),
    ]
}
