//! The API under siege (`--only siege`): one node, with its default API
//! limits, while thousands of connections are held open without a
//! request (idle, stalled or trickling their headers, reopened as soon as
//! the node closes them) and a hundred clients each send 1,000-entry
//! batches at once, again and again. Meanwhile a newcomer asks
//! `GET /v1/status` on a new connection every 50 ms: how long it waits,
//! and how often it is turned away, is what the scenario reports, with
//! the node's resident memory before and at its peak.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use waybill_core::entry::SignedEntry;
use waybill_testnet::http::{request, Request};
use waybill_testnet::{self as testnet, Cluster};

use crate::big::{one_node, proc_status_bytes, sibling_binary, start_and_wait};
use crate::stats::{percentile, sorted};
use crate::workload::{Consortium, Workload};

/// The siege's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections held open without a request.
    pub connections: usize,
    /// Clients sending batches at once.
    pub batch_clients: usize,
    /// Entries per batch.
    pub batch_entries: usize,
    /// How long the siege lasts.
    pub duration: Duration,
    /// The workload's seed.
    pub seed: u64,
}

/// What the newcomer and the node went through.
#[derive(Debug, Clone)]
pub struct SiegeReport {
    pub connections: usize,
    pub batch_clients: usize,
    pub batch_entries: usize,
    pub seconds: f64,
    /// The newcomer before the siege: p50 and p99 (ms).
    pub calm_p50_ms: f64,
    pub calm_p99_ms: f64,
    /// The newcomer during the siege.
    pub probes: usize,
    pub probe_p50_ms: f64,
    pub probe_p99_ms: f64,
    pub probe_max_ms: f64,
    /// Newcomer requests not answered 200 (refused, failed or timed out).
    pub probe_failures: usize,
    /// Connections the siege opened in all (the node closes held ones
    /// when they time out or make room, and the siege opens them again).
    pub opened: u64,
    /// Batches answered 200, 503 and otherwise (or not at all).
    pub batches_ok: u64,
    pub batches_503: u64,
    pub batches_other: u64,
    /// The node's resident memory before the siege, and its peak (MiB).
    pub rss_before_mib: f64,
    pub rss_peak_mib: f64,
}

impl SiegeReport {
    pub fn print(&self) {
        println!(
            "siege: {} connections held open without a request ({} opened in all), {} clients sending {}-entry batches, {:.0} s",
            self.connections, self.opened, self.batch_clients, self.batch_entries, self.seconds
        );
        println!(
            "  newcomer GET /v1/status on a new connection: calm p50 {:.1} ms, p99 {:.1} ms; under siege {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} not answered 200",
            self.calm_p50_ms,
            self.calm_p99_ms,
            self.probes,
            self.probe_p50_ms,
            self.probe_p99_ms,
            self.probe_max_ms,
            self.probe_failures
        );
        println!(
            "  batches answered: {} with 200, {} with 503, {} otherwise; node memory {:.0} MiB before, peak {:.0} MiB",
            self.batches_ok, self.batches_503, self.batches_other, self.rss_before_mib, self.rss_peak_mib
        );
    }
}

/// One newcomer request: milliseconds to a 200, or `None`.
fn probe(api: SocketAddr) -> Option<f64> {
    let t = Instant::now();
    let r = request(api, &Request::get("/v1/status"), Duration::from_secs(10)).ok()?;
    (r.status == 200).then(|| t.elapsed().as_secs_f64() * 1e3)
}

/// How a held connection misbehaves.
#[derive(Clone, Copy)]
enum Hold {
    /// Connects and says nothing.
    Idle,
    /// Sends the start of a request head, then nothing.
    Stalled,
    /// Sends a request head a byte a second.
    Trickle,
}

/// Opens a held connection.
fn open(api: SocketAddr, how: Hold) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2)).ok()?;
    if matches!(how, Hold::Stalled) {
        s.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n")
            .ok()?;
    }
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// Whether the node closed `s` (or it failed).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 512];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Holds `n` connections of kind `how` open until `stop`, reopening
/// each one the node closes; returns how many it opened.
fn hold(api: SocketAddr, n: usize, how: Hold, stop: &AtomicBool) -> u64 {
    let mut opened = 0;
    let mut conns: Vec<Option<TcpStream>> = Vec::with_capacity(n);
    for _ in 0..n {
        let c = open(api, how);
        opened += u64::from(c.is_some());
        conns.push(c);
    }
    let mut last_trickle = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let trickle =
            matches!(how, Hold::Trickle) && last_trickle.elapsed() >= Duration::from_secs(1);
        if trickle {
            last_trickle = Instant::now();
        }
        for c in conns.iter_mut() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let gone = match c {
                Some(s) => closed(s) || (trickle && s.write_all(b"x").is_err()),
                None => true,
            };
            if gone {
                *c = open(api, how);
                opened += u64::from(c.is_some());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    opened
}

/// Runs the siege.
pub fn run(opts: &Options) -> Result<SiegeReport> {
    let c = Consortium::new()?;
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let node_bin = sibling_binary("waybill-node")?;
    eprintln!(
        "siege: generating {} batches of {} entries...",
        opts.batch_clients, opts.batch_entries
    );
    let entries: Vec<SignedEntry> =
        Workload::new(&c, opts.seed).take(opts.batch_clients * opts.batch_entries)?;
    let mut batches = Vec::with_capacity(opts.batch_clients);
    for chunk in entries.chunks(opts.batch_entries.max(1)) {
        batches.push(serde_json::to_vec(chunk).context("encoding a batch as JSON")?);
    }
    drop(entries);

    let (net, node) = one_node(&tmp.path().join("net"), &c)?;
    let api = node.api;
    let mut cluster = Cluster::new(net, &node_bin);
    let pid = start_and_wait(&mut cluster, &node, Duration::from_secs(60))?;

    // The newcomer, calm.
    let mut calm = Vec::new();
    for _ in 0..100 {
        if let Some(ms) = probe(api) {
            calm.push(ms);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let calm = sorted(calm);
    let rss_before = proc_status_bytes(pid, "VmRSS:")?;

    eprintln!(
        "siege: {} held connections and {} batch clients for {:.0} s...",
        opts.connections,
        opts.batch_clients,
        opts.duration.as_secs_f64()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, busy, other) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let start = Instant::now();
    let per_kind = opts.connections / 3;
    let holders: Vec<_> = [
        (Hold::Idle, opts.connections - 2 * per_kind),
        (Hold::Stalled, per_kind),
        (Hold::Trickle, per_kind),
    ]
    .into_iter()
    .map(|(how, n)| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || hold(api, n, how, &stop))
    })
    .collect();
    let senders: Vec<_> = batches
        .into_iter()
        .map(|body| {
            let (stop, ok, busy, other) = (
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&busy),
                Arc::clone(&other),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::post_json("/v1/entries/batch", &body);
                    match request(api, &req, Duration::from_secs(60)).map(|r| r.status) {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(503) => busy.fetch_add(1, Ordering::Relaxed),
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // The newcomer under siege, and the node's memory.
    let mut probes = Vec::new();
    let mut failures = 0;
    let mut rss_peak = rss_before;
    while start.elapsed() < opts.duration {
        match probe(api) {
            Some(ms) => probes.push(ms),
            None => failures += 1,
        }
        if let Ok(rss) = proc_status_bytes(pid, "VmRSS:") {
            rss_peak = rss_peak.max(rss);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let opened: u64 = holders.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    for s in senders {
        let _ = s.join();
    }
    let seconds = start.elapsed().as_secs_f64();
    let alive = testnet::status(api).is_some() && !cluster.exited(&node.name);
    let hwm = proc_status_bytes(pid, "VmHWM:").unwrap_or(0);
    cluster.stop_all(Duration::from_secs(10));
    if !alive {
        anyhow::bail!(
            "the node did not survive the siege: {}",
            cluster.log(&node.name)
        );
    }
    let probes = sorted(probes);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(SiegeReport {
        connections: opts.connections,
        batch_clients: opts.batch_clients,
        batch_entries: opts.batch_entries,
        seconds,
        calm_p50_ms: percentile(&calm, 50.0),
        calm_p99_ms: percentile(&calm, 99.0),
        probes: probes.len() + failures,
        probe_p50_ms: percentile(&probes, 50.0),
        probe_p99_ms: percentile(&probes, 99.0),
        probe_max_ms: probes.last().copied().unwrap_or(f64::NAN),
        probe_failures: failures,
        opened,
        batches_ok: ok.load(Ordering::Relaxed),
        batches_503: busy.load(Ordering::Relaxed),
        batches_other: other.load(Ordering::Relaxed),
        rss_before_mib: mib(rss_before),
        rss_peak_mib: mib(rss_peak.max(hwm)),
    })
}
