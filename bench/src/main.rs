//! `waybill-bench`: measures the machine's limits (signature verification,
//! hashing, sled batch writes) and the ingest pipeline in the same run, and
//! reports each figure as the median of several runs.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

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
use waybill_store::Backend;

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
}

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

struct IngestRun {
    entries_per_s: f64,
    keys_per_entry: f64,
    disk_bytes_per_entry: f64,
}

fn ingest(c: &workload::Consortium, encoded: &[Vec<u8>]) -> Result<IngestRun> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let path = dir.path().join("ledger");
    let mut ledger = waybill_store::create_dir(&path, c.genesis.clone())
        .context("creating the ledger directory")?;
    let keys_before = ledger
        .backend()
        .scan_prefix(&[])
        .context("scanning the new store")?
        .len();
    let mut time_ms = workload::T0;
    let start = Instant::now();
    for chunk in encoded.chunks(BLOCK_ENTRIES) {
        let entries = chunk
            .iter()
            .map(|b| SignedEntry::from_canonical_bytes(b))
            .collect::<Result<Vec<_>, _>>()
            .context("decoding an entry")?;
        time_ms += 1_000;
        ledger
            .append_entries(entries, time_ms, c.validator.pk)
            .with_context(|| format!("appending block {}", ledger.height() + 1))?;
    }
    let el = start.elapsed().as_secs_f64();

    // Correctness: the whole chain re-verifies and holds every entry.
    let n = encoded.len() as u64;
    let report = ledger
        .check()
        .context("the ingested ledger fails its integrity check")?;
    if report.entries != n {
        bail!(
            "the ingested ledger holds {} entries, {} were appended",
            report.entries,
            n
        );
    }
    let blocks = encoded.len().div_ceil(BLOCK_ENTRIES) as u64;
    if report.blocks != blocks || ledger.height() != blocks {
        bail!(
            "the ingested ledger has {} blocks (height {}), expected {blocks}",
            report.blocks,
            ledger.height()
        );
    }
    let keys_after = ledger
        .backend()
        .scan_prefix(&[])
        .context("scanning the store")?
        .len();
    let disk = ledger
        .backend()
        .size_on_disk()
        .context("sled size on disk")?;
    Ok(IngestRun {
        entries_per_s: n as f64 / el,
        keys_per_entry: (keys_after - keys_before) as f64 / n as f64,
        disk_bytes_per_entry: disk as f64 / n as f64,
    })
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
    } else {
        format!("{v:.2}")
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runs = args.runs.unwrap_or(if args.quick { 3 } else { 5 });
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let scale = args
        .scale
        .unwrap_or(if args.quick { 5_000 } else { 20_000 });
    if scale == 0 {
        bail!("--scale must be at least 1");
    }
    let window = Duration::from_millis(if args.quick { 300 } else { 1_000 });
    let sled_batches = if args.quick { 10 } else { 30 };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = cpu_model();
    let commit = git_commit();
    let total = Instant::now();

    eprintln!("generating {scale} entries (seed {})...", args.seed);
    let consortium = workload::Consortium::new()?;
    let entries = workload::Workload::new(&consortium, args.seed).take(scale)?;
    let encoded: Vec<Vec<u8>> = entries.iter().map(SignedEntry::canonical_bytes).collect();
    let mean_bytes = encoded.iter().map(Vec::len).sum::<usize>() as f64 / scale as f64;
    let with_inputs = entries
        .iter()
        .filter(|e| {
            matches!(&e.entry.body, waybill_core::entry::Body::Produce(p) if !p.inputs.is_empty())
        })
        .count();
    drop(entries);

    let set = sig_set();
    let mut single = Vec::new();
    let mut batch = Vec::new();
    let mut batch_all = Vec::new();
    let mut sha = Vec::new();
    let mut sled = Vec::new();
    let mut ing = Vec::new();
    let mut keys = Vec::new();
    let mut disk = Vec::new();
    for run in 1..=runs {
        eprintln!("run {run}/{runs}...");
        single.push(verify_single(&set, window)?);
        batch.push(verify_batch(&set, window)?);
        batch_all.push(verify_batch_all_cores(&set, window, cores)?);
        sha.push(sha256(window)?);
        sled.push(sled_batch(sled_batches)?);
        let r = ingest(&consortium, &encoded)?;
        ing.push(r.entries_per_s);
        keys.push(r.keys_per_entry);
        disk.push(r.disk_bytes_per_entry);
    }

    let all_cores = median(&batch_all);
    let figures = vec![
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
        Figure {
            name: "ingest",
            runs: ing.clone(),
            unit: "entries/s",
            ratio: Some((median(&ing) / all_cores, "limit.verify_batch_all_cores")),
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
    ];

    println!("machine: {cores} cores, {cpu}, commit {commit}");
    println!(
        "workload: {scale} entries, seed {}, mean {mean_bytes:.0} bytes/entry, {with_inputs} productions with inputs; {runs} runs, medians",
        args.seed
    );
    println!("{:<30} {:>12} {:<12} ratio", "figure", "value", "unit");
    for f in &figures {
        let ratio = f
            .ratio
            .map(|(r, of)| format!("{r:.3} x {of}"))
            .unwrap_or_default();
        println!(
            "{:<30} {:>12} {:<12} {ratio}",
            f.name,
            fmt_value(f.median()),
            f.unit
        );
    }
    println!("total wall time: {:.1} s", total.elapsed().as_secs_f64());

    if let Some(path) = &args.json_out {
        let doc = json!({
            "machine": { "cores": cores, "cpu": cpu, "commit": commit },
            "config": {
                "quick": args.quick, "scale": scale, "runs": runs, "seed": args.seed,
                "block_entries": BLOCK_ENTRIES, "verify_batch_size": BATCH,
                "mean_entry_bytes": mean_bytes, "productions_with_inputs": with_inputs,
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
