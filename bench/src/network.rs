//! The network scenario: four validators on loopback (real `waybill-node`
//! processes agreeing by BFT consensus) and a load generator submitting
//! signed entries through the HTTP API to all four, first at a fixed
//! offered rate, then at saturation (as fast as the network finalises,
//! with a bounded number of unfinalised entries per node).
//!
//! The consortium has one group of members per node, each with its own
//! workload, and each group submits only to its own node: an entry never
//! depends on an entry sent to another node (which might not have arrived
//! there by gossip yet). Carrier hand-overs that race with the consignee's
//! own entry are left out of the workload (see [`racing_handovers`]), so
//! no valid order of what each node has can orphan an accepted entry: no
//! entry can be refused, and any refusal fails the run.
//!
//! Finality is observed, not polled per entry: a poller asks every node's
//! `/v1/status` every few milliseconds and notes when each height is first
//! reported committed (decided blocks carry a commit certificate, so a
//! block committed on any node is final); a fetcher reads each new block
//! once and dates its entries. An entry's latency is that time minus its
//! submit time (for the fixed rate: the time it was due, so a load
//! generator that falls behind shows up as latency, not as a lower rate).
//!
//! Afterwards every block of every node is read back and checked: the
//! same block hash at every height on all nodes, each block's hash, entry
//! Merkle root, link and commit certificate verified against the genesis,
//! and every accepted entry present exactly once on every node.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use waybill_core::block::{self, Block, CommitCertificate};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, Entry, EntryId, SignedEntry};
use waybill_core::gs1::{gs1_check_digit, LotId, LotKind, ShipmentId};
use waybill_core::rules;
use waybill_node::testnet::{self, Cluster};

use crate::workload::{Consortium, Workload};

/// Validators (and load-generator groups: one per node).
pub const NODES: usize = 4;

/// How the scenario runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workload seed.
    pub seed: u64,
    /// Fixed-rate phase: offered entries/s over all nodes.
    pub rate: f64,
    /// Length of each phase.
    pub phase: Duration,
    /// Entries per request (1: one `POST /v1/entries` each; more:
    /// `POST /v1/entries/batch`).
    pub batch: usize,
    /// Saturation: most submitted but not yet final entries per node.
    pub window: usize,
    /// Entries generated per node for the saturation phase (it stops
    /// early if they run out).
    pub saturation_entries: usize,
    /// The nodes' `block_interval_ms`.
    pub block_interval_ms: u64,
    /// Keep the network (keys, configs, ledgers, logs) in this directory.
    pub keep: Option<PathBuf>,
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Entries submitted (all accepted).
    pub entries: usize,
    /// Submitted entries/s actually offered over the phase.
    pub offered_per_s: f64,
    /// Entries/s finalised (see the phase's note).
    pub finalised_per_s: f64,
    /// Finality latency percentiles (ms).
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Requests answered "mempool full" (retried).
    pub full: u64,
    /// Submission requests sent.
    pub requests: usize,
    /// Their round-trip time, median (ms).
    pub rtt_p50_ms: f64,
    /// 99th percentile (ms).
    pub rtt_p99_ms: f64,
    /// How far behind its schedule the load generator ended (fixed rate).
    pub lag_ms: f64,
    /// Whether the saturation phase ran out of generated entries.
    pub ran_out: bool,
}

/// Blocks seen during a phase.
#[derive(Debug, Clone, Default)]
pub struct Blocks {
    /// Blocks first seen during the phase.
    pub count: usize,
    /// Mean entries per block.
    pub mean_entries: f64,
    /// Most entries in one block.
    pub max_entries: usize,
    /// Mean time between consecutive blocks (ms).
    pub mean_interval_ms: f64,
    /// Share of the blocks' entries that their proposer's own node
    /// received from the load generator (1.0: no proposer included an
    /// entry it only had by gossip).
    pub own_share: f64,
}

/// The scenario's results.
#[derive(Debug, Clone)]
pub struct NetworkReport {
    /// Fixed offered rate.
    pub fixed: Phase,
    /// Saturation.
    pub saturation: Phase,
    /// Blocks during the fixed phase.
    pub fixed_blocks: Blocks,
    /// Blocks during the saturation window.
    pub saturation_blocks: Blocks,
    /// Options used.
    pub options: Options,
    /// Mean JSON bytes per submitted entry.
    pub mean_json_bytes: f64,
    /// Chain height checked on every node.
    pub height: u64,
    /// Entries found on every node by the final check.
    pub checked_entries: usize,
    /// Time to generate and sign the entries (s).
    pub generate_s: f64,
    /// Time for the final check (s).
    pub check_s: f64,
    /// Racing carrier hand-overs left out of the generated workload.
    pub left_out: usize,
    /// The nodes' own counters at the end, summed over the nodes: entries
    /// refused (by reason; the load generator's were all accepted, so
    /// these came by gossip), dropped from mempools after a commit, and
    /// not gossiped for a full queue.
    pub node_counters: Vec<(String, f64)>,
    /// Blocks decided after round 0 (each cost at least one consensus
    /// timeout).
    pub late_rounds: usize,
    /// The highest decision round.
    pub max_round: u32,
}

// ---------------------------------------------------------------------------
// A minimal keep-alive HTTP/1.1 client (loopback only).

struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    timeout: Duration,
}

impl Conn {
    fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            stream: None,
            timeout,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)
                .with_context(|| format!("cannot connect to {}", self.addr))?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(256 * 1024, s));
        }
        self.stream
            .as_mut()
            .ok_or_else(|| anyhow!("internal: no connection"))
    }

    /// One request; on a broken keep-alive connection, one retry on a new
    /// connection (only for GETs: a POST is not repeated blindly).
    fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Result<(u16, Vec<u8>)> {
        self.request_accepting(method, path, body, None)
    }

    fn request_accepting(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        accept: Option<&str>,
    ) -> Result<(u16, Vec<u8>)> {
        match self.once(method, path, body, accept) {
            Ok(r) => Ok(r),
            Err(e) if body.is_none() => {
                self.stream = None;
                self.once(method, path, body, accept)
                    .with_context(|| format!("after a first failure ({e:#})"))
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>)> {
        self.request("GET", path, None)
    }

    /// A GET of the binary form (`application/octet-stream`).
    fn get_bytes(&mut self, path: &str) -> Result<(u16, Vec<u8>)> {
        self.request_accepting("GET", path, None, Some("application/octet-stream"))
    }

    fn once(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        accept: Option<&str>,
    ) -> Result<(u16, Vec<u8>)> {
        let addr = self.addr;
        let s = self.connect()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        if let Some(a) = accept {
            head.push_str(&format!("Accept: {a}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let w = s.get_mut();
        w.write_all(head.as_bytes())?;
        if let Some(b) = body {
            w.write_all(b)?;
        }
        w.flush()?;
        read_response(s).with_context(|| format!("{method} http://{addr}{path}"))
    }
}

fn read_response(r: &mut BufReader<TcpStream>) -> Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("the connection was closed before a response");
    }
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            bail!("the connection was closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "content-length" {
                length = Some(v.parse().context("bad Content-Length")?);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .context("bad chunk size")?;
            if size == 0 {
                line.clear();
                r.read_line(&mut line)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else {
        let n = length.ok_or_else(|| anyhow!("a response without Content-Length"))?;
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok((code, body))
}

// ---------------------------------------------------------------------------
// The workload: one group per node, ids made distinct between groups.

/// One node's entries, in submission order.
struct Group {
    /// Each entry's JSON (what `waybill record` writes, compact).
    json: Vec<Vec<u8>>,
    /// Each entry's id.
    ids: Vec<EntryId>,
    /// Each entry's (author, nonce).
    keys: Vec<(PublicKey, u64)>,
    /// The lots, shipments and payments its entries make.
    made: Vec<String>,
    /// Racing carrier hand-overs left out of the workload.
    left_out: usize,
}

fn sscc(group: usize, n: u64) -> Result<ShipmentId> {
    let body = format!("0950600{group}{:09}", n % 1_000_000_000);
    let check = gs1_check_digit(&body).ok_or_else(|| anyhow!("SSCC {body}: not digits"))?;
    format!("(00){body}{check}")
        .parse()
        .map_err(|e| anyhow!("SSCC {body}: {e}"))
}

/// Makes a group's GTIN-batch lots and SSCC shipments distinct from every
/// other group's (the workload's free ids already carry the group's seed;
/// its batch lots and SSCCs do not), and signs changed entries again.
struct Renamer {
    group: usize,
    lots: HashMap<LotId, LotId>,
    shipments: HashMap<ShipmentId, ShipmentId>,
    next_sscc: u64,
}

impl Renamer {
    fn new_lot(&mut self, l: &LotId) -> Result<LotId> {
        let LotKind::Batch { gtin, lot } = l.kind() else {
            return Ok(l.clone());
        };
        let new = LotId::batch(gtin, &format!("{lot}G{}", self.group))
            .map_err(|e| anyhow!("renaming lot {l}: {e}"))?;
        self.lots.insert(l.clone(), new.clone());
        Ok(new)
    }

    fn lot(&self, l: &LotId) -> Result<LotId> {
        match l.kind() {
            LotKind::Batch { .. } => self
                .lots
                .get(l)
                .cloned()
                .ok_or_else(|| anyhow!("internal: lot {l} used before it was made")),
            _ => Ok(l.clone()),
        }
    }

    fn new_shipment(&mut self, s: &ShipmentId) -> Result<ShipmentId> {
        if s.sscc().is_none() {
            return Ok(s.clone());
        }
        self.next_sscc += 1;
        let new = sscc(self.group, self.next_sscc)?;
        self.shipments.insert(s.clone(), new.clone());
        Ok(new)
    }

    fn shipment(&self, s: &ShipmentId) -> Result<ShipmentId> {
        match s.sscc() {
            Some(_) => self
                .shipments
                .get(s)
                .cloned()
                .ok_or_else(|| anyhow!("internal: shipment {s} used before it was made")),
            None => Ok(s.clone()),
        }
    }

    /// The entry with renamed ids and nonce `nonce`, signed again if it
    /// changed.
    fn entry(&mut self, e: SignedEntry, nonce: u64, key: &SigningKey) -> Result<SignedEntry> {
        if !e.cosignatures.is_empty() {
            bail!("internal: the workload made a co-signed entry");
        }
        let mut entry: Entry = e.entry.clone();
        entry.nonce = nonce;
        match &mut entry.body {
            Body::Produce(p) => {
                p.lot = self.new_lot(&p.lot)?;
                for i in &mut p.inputs {
                    i.lot = self.lot(&i.lot)?;
                }
            }
            Body::Dispatch(d) => {
                d.shipment = self.new_shipment(&d.shipment)?;
                for l in &mut d.lots {
                    *l = self.lot(l)?;
                }
            }
            Body::Receive(r) => r.shipment = self.shipment(&r.shipment)?,
            Body::Reject(r) => r.shipment = self.shipment(&r.shipment)?,
            Body::Payment(p) => {
                for s in &mut p.shipments {
                    *s = self.shipment(s)?;
                }
            }
            Body::Membership(_) => bail!("internal: the workload made a membership change"),
        }
        if entry == e.entry {
            return Ok(e);
        }
        Ok(entry.sign(key))
    }
}

/// Indexes of carrier hand-overs that race with a later entry of the
/// shipment's consignee. A carrier's receipt (stage `WithCarrier`) and the
/// consignee's later receipt or rejection are each valid on a `Dispatched`
/// shipment, so a proposer that has the consignee's entry but not (yet)
/// the carrier's (gossip does not keep one sender's order across paths,
/// and a node that misses one entry of an author refuses the author's
/// next nonces) may put the consignee's in a block, which makes the
/// carrier's entry invalid and orphans every later entry of the carrier
/// (the mempools drop them; the carrier's node then refuses its next
/// nonces). Nothing depends on the hand-over (a carrier cannot ship lots
/// in transit), so these entries are left out.
fn racing_handovers(entries: &[SignedEntry]) -> HashSet<usize> {
    let mut consignee: HashMap<&ShipmentId, PublicKey> = HashMap::new();
    let mut handover: HashMap<&ShipmentId, usize> = HashMap::new();
    let mut out = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let shipment = match &e.entry.body {
            Body::Dispatch(d) => {
                consignee.insert(&d.shipment, d.consignee);
                continue;
            }
            Body::Receive(r) => &r.shipment,
            Body::Reject(r) => &r.shipment,
            _ => continue,
        };
        let by_consignee = consignee.get(shipment) == Some(&e.entry.author);
        if by_consignee {
            if let Some(c) = handover.remove(shipment) {
                out.insert(c);
            }
        } else if matches!(e.entry.body, Body::Receive(_)) {
            handover.insert(shipment, i);
        }
    }
    out
}

fn make_group(c: &Consortium, group: usize, seed: u64, n: usize) -> Result<Group> {
    let mut w = Workload::new(c, seed);
    // Generate until `n` entries are left after the racing hand-overs.
    let mut raw = w.take(n + n / 8 + 8)?;
    let mut racing = racing_handovers(&raw);
    while raw.len() - racing.len() < n {
        raw.extend(w.take(n / 8 + 8)?);
        racing = racing_handovers(&raw);
    }
    let mut r = Renamer {
        group,
        lots: HashMap::new(),
        shipments: HashMap::new(),
        next_sscc: 0,
    };
    let mut g = Group {
        json: Vec::with_capacity(n),
        ids: Vec::with_capacity(n),
        keys: Vec::with_capacity(n),
        made: Vec::new(),
        left_out: 0,
    };
    // Later nonces of an author with left-out entries move down.
    let mut skipped: HashMap<PublicKey, u64> = HashMap::new();
    let mut state = waybill_core::state::State::genesis(&c.genesis);
    for (i, e) in raw.into_iter().enumerate() {
        if g.json.len() == n {
            break;
        }
        if racing.contains(&i) {
            *skipped.entry(e.entry.author).or_insert(0) += 1;
            g.left_out += 1;
            continue;
        }
        let key = c
            .member_key(&e.entry.author)
            .ok_or_else(|| anyhow!("internal: an author outside the group"))?;
        let nonce = e.entry.nonce - skipped.get(&e.entry.author).copied().unwrap_or(0);
        let e = r.entry(e, nonce, key)?;
        // The stream stays a valid chain in this order (signatures are
        // ours, so only the rules are checked).
        let id = e.id();
        let changes =
            rules::apply_verified(&state, &e, id, 1, rules::Mode::Ledger).map_err(|err| {
                anyhow!("internal: the network workload made an invalid entry: {err}")
            })?;
        state.commit(changes);
        match &e.entry.body {
            Body::Produce(p) => g.made.push(format!("lot {}", p.lot)),
            Body::Dispatch(d) => g.made.push(format!("shipment {}", d.shipment)),
            Body::Payment(p) => g.made.push(format!("payment {}", p.payment_id)),
            _ => {}
        }
        g.json
            .push(serde_json::to_vec(&e).context("encoding an entry as JSON")?);
        g.ids.push(id);
        g.keys.push((e.entry.author, e.entry.nonce));
    }
    Ok(g)
}

/// Checks that no two entries of different groups make the same lot,
/// shipment or payment (renaming should guarantee it; this proves it).
fn check_disjoint(groups: &[Group]) -> Result<()> {
    let mut made: HashSet<&str> = HashSet::new();
    for g in groups {
        for w in &g.made {
            if !made.insert(w) {
                bail!("internal: two workload entries both make {w}");
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Shared measurement state.

const UNSET: u64 = u64::MAX;

struct Track {
    base: Instant,
    /// (author, nonce) → global entry index.
    index: HashMap<(PublicKey, u64), usize>,
    /// Global index → group.
    group_of: Vec<u8>,
    /// Submit (or due) time, ns since `base`.
    submitted_at: Vec<AtomicU64>,
    /// First seen final, ns since `base`.
    final_at: Vec<AtomicU64>,
    /// Entries of each group seen final.
    finalised: Vec<AtomicUsize>,
    /// Entries of each group submitted and accepted.
    accepted: Vec<AtomicUsize>,
    /// Each block seen.
    blocks: Mutex<Vec<Seen>>,
    /// Validator key → its node (and group) index.
    node_of: HashMap<PublicKey, usize>,
    /// Highest height first seen.
    seen_height: AtomicU64,
    /// Set on the first failure: everyone stops.
    abort: AtomicBool,
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
    full: AtomicU64,
    /// Round-trip time of each submission request (ms), this phase.
    rtts: Mutex<Vec<f64>>,
}

impl Track {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(why);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    fn failed(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A block as the fetcher saw it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    height: u64,
    /// First seen committed, ns since `Track::base`.
    at: u64,
    entries: usize,
    /// Entries from the proposer's own group (submitted to its node).
    own: usize,
}

/// `GET /v1/status` → height.
fn height_of(conn: &mut Conn) -> Result<u64> {
    let (code, body) = conn.get("/v1/status")?;
    if code != 200 {
        bail!("status answered {code}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    v["height"]
        .as_u64()
        .ok_or_else(|| anyhow!("status without a height"))
}

/// Polls every node's height; sends each new height (with when it was
/// first seen and on which node) to the fetcher.
fn poller(track: &Track, addrs: &[SocketAddr], tx: mpsc::Sender<(u64, u64, usize)>) {
    let mut conns: Vec<Conn> = addrs
        .iter()
        .map(|a| Conn::new(*a, Duration::from_secs(5)))
        .collect();
    let mut seen = track.seen_height.load(Ordering::SeqCst);
    let mut errors = 0u32;
    while !track.stop.load(Ordering::SeqCst) {
        for (i, c) in conns.iter_mut().enumerate() {
            match height_of(c) {
                Ok(h) => {
                    errors = 0;
                    if h > seen {
                        let t = track.now_ns();
                        for height in seen + 1..=h {
                            if tx.send((height, t, i)).is_err() {
                                return;
                            }
                        }
                        seen = h;
                        track.seen_height.store(h, Ordering::SeqCst);
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors > 50 {
                        track.fail(format!("the nodes stopped answering /v1/status: {e:#}"));
                        return;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads each new block once and dates its entries.
fn fetcher(track: &Track, addrs: &[SocketAddr], rx: mpsc::Receiver<(u64, u64, usize)>) {
    let mut conns: Vec<Conn> = addrs
        .iter()
        .map(|a| Conn::new(*a, Duration::from_secs(30)))
        .collect();
    for (height, t, node) in rx {
        let r = (|| -> Result<(usize, usize)> {
            // The canonical bytes: no JSON to write on the node or to
            // parse here, both on the machine being measured.
            let (code, body) = conns[node].get_bytes(&format!("/v1/blocks/{height}"))?;
            if code != 200 {
                bail!(
                    "block {height} answered {code}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let b = Block::from_canonical_bytes(&body)
                .with_context(|| format!("decoding block {height}"))?;
            if b.header.height != height {
                bail!("asked for block {height}, got block {}", b.header.height);
            }
            let proposer = track.node_of.get(&b.header.proposer).copied();
            let mut own = 0;
            for e in &b.entries {
                let Some(&i) = track.index.get(&(e.entry.author, e.entry.nonce)) else {
                    bail!(
                        "block {height} holds an entry the load generator did not make ({} nonce {})",
                        e.entry.author.short(),
                        e.entry.nonce
                    );
                };
                if proposer == Some(usize::from(track.group_of[i])) {
                    own += 1;
                }
                if track.final_at[i]
                    .compare_exchange(UNSET, t, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    track.finalised[usize::from(track.group_of[i])].fetch_add(1, Ordering::SeqCst);
                } else {
                    bail!(
                        "entry {} nonce {} is in block {height} and an earlier one",
                        e.entry.author.short(),
                        e.entry.nonce
                    );
                }
            }
            Ok((b.entries.len(), own))
        })();
        match r {
            Ok((entries, own)) => {
                track
                    .blocks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Seen {
                        height,
                        at: t,
                        entries,
                        own,
                    })
            }
            Err(e) => {
                track.fail(format!("{e:#}"));
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Submission.

#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    status: String,
    #[serde(default)]
    error: Option<String>,
}

/// Sends entries `from..to` of a group (global index `offset + i`);
/// returns how many, from `from`, were accepted (fewer: the mempool was
/// full; resend the rest). A refusal or an unexpected answer fails.
fn send(
    conn: &mut Conn,
    track: &Track,
    group: usize,
    g: &Group,
    from: usize,
    to: usize,
    single: bool,
) -> Result<usize> {
    let t = Instant::now();
    let r = send_request(conn, track, group, g, from, to, single);
    track
        .rtts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(t.elapsed().as_secs_f64() * 1e3);
    r
}

fn send_request(
    conn: &mut Conn,
    track: &Track,
    group: usize,
    g: &Group,
    from: usize,
    to: usize,
    single: bool,
) -> Result<usize> {
    if single {
        let (code, body) = conn.request("POST", "/v1/entries", Some(&g.json[from]))?;
        return match code {
            202 => Ok(1),
            503 => Ok(0),
            _ => bail!(
                "node {} answered {code} to entry {} ({} nonce {}): {}",
                group + 1,
                g.ids[from].short(),
                g.keys[from].0.short(),
                g.keys[from].1,
                String::from_utf8_lossy(&body)
            ),
        };
    }
    let size: usize = g.json[from..to].iter().map(|j| j.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 2);
    body.push(b'[');
    for (k, j) in g.json[from..to].iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        body.extend_from_slice(j);
    }
    body.push(b']');
    let (code, answer) = conn.request("POST", "/v1/entries/batch", Some(&body))?;
    if code != 200 {
        bail!(
            "node {} answered {code} to a batch of {}: {}",
            group + 1,
            to - from,
            String::from_utf8_lossy(&answer)
        );
    }
    let a: BatchAnswer = serde_json::from_slice(&answer).context("decoding a batch answer")?;
    if a.results.len() != to - from {
        bail!(
            "node {} answered {} results to a batch of {}",
            group + 1,
            a.results.len(),
            to - from
        );
    }
    let mut ok = 0;
    for (k, r) in a.results.iter().enumerate() {
        match r.status.as_str() {
            "accepted" => ok += 1,
            "full" => {
                track.full.fetch_add(1, Ordering::Relaxed);
                return Ok(ok);
            }
            other => {
                let i = from + k;
                bail!(
                    "node {} answered `{other}` for entry {} ({} nonce {}): {}",
                    group + 1,
                    g.ids[i].short(),
                    g.keys[i].0.short(),
                    g.keys[i].1,
                    r.error.as_deref().unwrap_or("no reason given")
                );
            }
        }
    }
    Ok(ok)
}

/// What a submitter thread did.
struct Sent {
    /// Entries accepted.
    n: usize,
    /// When the last request was sent (ns since base).
    last_ns: u64,
}

/// Fixed rate: entry `i` of this group (of `n`) is due at
/// `start + i / rate`; everything due is sent, up to `batch` per request,
/// one request at a time (an author's entries stay in order).
#[allow(clippy::too_many_arguments)]
fn submit_fixed(
    track: &Track,
    addr: SocketAddr,
    group: usize,
    g: &Group,
    range: (usize, usize),
    offset: usize,
    rate: f64,
    start: Instant,
    batch: usize,
) -> Result<Sent> {
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let (first, end) = range;
    let n = end - first;
    let mut next = 0usize;
    let start_ns = u64::try_from(start.duration_since(track.base).as_nanos()).unwrap_or(0);
    let mut last_ns = start_ns;
    while next < n {
        if track.abort.load(Ordering::SeqCst) {
            bail!("stopped");
        }
        let el = start.elapsed().as_secs_f64();
        let due = ((el * rate) as usize + 1).min(n);
        if next >= due {
            let at = next as f64 / rate;
            let wait = (at - el).max(0.0);
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.05)));
            continue;
        }
        let to = due.min(next + batch);
        for i in next..to {
            let due_ns = start_ns + (i as f64 / rate * 1e9) as u64;
            track.submitted_at[offset + first + i].store(due_ns, Ordering::SeqCst);
        }
        last_ns = track.now_ns();
        let ok = send(
            &mut conn,
            track,
            group,
            g,
            first + next,
            first + to,
            batch == 1,
        )?;
        next += ok;
        track.accepted[group].fetch_add(ok, Ordering::SeqCst);
        if next < to {
            // The mempool was full: let a block make room.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Sent { n, last_ns })
}

/// Saturation: keeps at most `window` of this group's entries submitted
/// but not final, sending up to `batch` per request until `deadline`.
#[allow(clippy::too_many_arguments)]
fn submit_saturated(
    track: &Track,
    addr: SocketAddr,
    group: usize,
    g: &Group,
    range: (usize, usize),
    offset: usize,
    window: usize,
    deadline: Instant,
    batch: usize,
) -> Result<Sent> {
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let (first, end) = range;
    let mut next = first;
    let mut last_ns = track.now_ns();
    while next < end && Instant::now() < deadline {
        if track.abort.load(Ordering::SeqCst) {
            bail!("stopped");
        }
        let outstanding = track.accepted[group]
            .load(Ordering::SeqCst)
            .saturating_sub(track.finalised[group].load(Ordering::SeqCst));
        if outstanding >= window {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let to = end.min(next + batch.min(window - outstanding));
        let now = track.now_ns();
        for i in next..to {
            track.submitted_at[offset + i].store(now, Ordering::SeqCst);
        }
        last_ns = now;
        let ok = send(&mut conn, track, group, g, next, to, batch == 1)?;
        next += ok;
        track.accepted[group].fetch_add(ok, Ordering::SeqCst);
        if next < to {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Sent {
        n: next - first,
        last_ns,
    })
}

// ---------------------------------------------------------------------------
// The run.

fn node_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the benchmark's own path")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("the benchmark's path {} has no directory", exe.display()))?;
    let bin = dir.join(format!("waybill-node{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        let profile = if dir.ends_with("release") {
            "--release "
        } else {
            ""
        };
        bail!(
            "the network scenario runs real nodes, but {} does not exist; build it next to \
             the benchmark with `cargo build {profile}-p waybill-node -p waybill-bench` \
             (or leave the scenario out with `--only`)",
            bin.display()
        );
    }
    Ok(bin)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Waits until every entry accepted so far is seen final.
fn drain(track: &Track, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(f) = track.failed() {
            bail!("{f}");
        }
        let done = (0..NODES).all(|k| {
            track.finalised[k].load(Ordering::SeqCst) >= track.accepted[k].load(Ordering::SeqCst)
        });
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let left: Vec<usize> = (0..NODES)
                .map(|k| {
                    track.accepted[k]
                        .load(Ordering::SeqCst)
                        .saturating_sub(track.finalised[k].load(Ordering::SeqCst))
                })
                .collect();
            bail!("accepted entries were not final within {timeout:?}: {left:?} per node still waiting");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Latencies (ms) and finalisation of the entries `from..to` (global).
fn latencies(track: &Track, ranges: &[(usize, usize)]) -> Vec<f64> {
    let mut v = Vec::new();
    for &(from, to) in ranges {
        for i in from..to {
            let s = track.submitted_at[i].load(Ordering::SeqCst);
            let f = track.final_at[i].load(Ordering::SeqCst);
            if s != UNSET && f != UNSET {
                v.push(f.saturating_sub(s) as f64 / 1e6);
            }
        }
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Entries of `ranges` first seen final in `(from_ns, to_ns]`.
fn count_final(track: &Track, ranges: &[(usize, usize)], from_ns: u64, to_ns: u64) -> usize {
    ranges
        .iter()
        .flat_map(|&(a, b)| a..b)
        .filter(|&i| {
            let f = track.final_at[i].load(Ordering::SeqCst);
            f != UNSET && f > from_ns && f <= to_ns
        })
        .count()
}

fn block_stats(track: &Track, from_ns: u64, to_ns: u64) -> Blocks {
    let mut blocks: Vec<Seen> = track
        .blocks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|b| b.at >= from_ns && b.at <= to_ns)
        .copied()
        .collect();
    blocks.sort_by_key(|b| b.height);
    let count = blocks.len();
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Blocks::default();
    };
    let total: usize = blocks.iter().map(|b| b.entries).sum();
    let own: usize = blocks.iter().map(|b| b.own).sum();
    let interval = if count > 1 {
        last.at.saturating_sub(first.at) as f64 / 1e6 / (last.height - first.height) as f64
    } else {
        f64::NAN
    };
    Blocks {
        count,
        mean_entries: total as f64 / count as f64,
        max_entries: blocks.iter().map(|b| b.entries).max().unwrap_or(0),
        mean_interval_ms: interval,
        own_share: if total > 0 {
            own as f64 / total as f64
        } else {
            f64::NAN
        },
    }
}

#[derive(Deserialize)]
struct FullBlockMsg {
    hash: Hash32,
    block: Block,
    certificate: Option<CommitCertificate>,
}

/// One node's chain as read back.
struct Chain {
    hashes: Vec<Hash32>,
    ids: Vec<EntryId>,
    /// The consensus round each block was decided in (its certificate's).
    rounds: Vec<u32>,
}

/// Reads blocks 1..=height from one node and verifies each: hash, entry
/// root, link, certificate.
fn read_chain(
    addr: SocketAddr,
    genesis: &waybill_core::genesis::Genesis,
    height: u64,
) -> Result<Chain> {
    let chain_id = genesis.chain_id();
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let mut hashes = Vec::new();
    let mut ids = Vec::new();
    let mut rounds = Vec::new();
    let mut prev: Option<block::Header> = None;
    for h in 1..=height {
        let (code, body) = conn.get(&format!("/v1/blocks/{h}"))?;
        if code != 200 {
            bail!("{addr}: block {h} answered {code}");
        }
        let m: FullBlockMsg =
            serde_json::from_slice(&body).with_context(|| format!("{addr}: decoding block {h}"))?;
        let header = &m.block.header;
        if header.hash() != m.hash {
            bail!("{addr}: block {h}'s stated hash is not its header's hash");
        }
        block::check_link(&chain_id, prev.as_ref(), header)
            .map_err(|e| anyhow!("{addr}: block {h}: {e}"))?;
        let block_ids = m.block.entry_ids();
        m.block
            .check_entries(&block_ids)
            .map_err(|e| anyhow!("{addr}: block {h}: {e}"))?;
        let cert = m
            .certificate
            .ok_or_else(|| anyhow!("{addr}: block {h} has no commit certificate"))?;
        cert.verify(genesis, header)
            .map_err(|e| anyhow!("{addr}: block {h}: {e}"))?;
        rounds.push(cert.round);
        hashes.push(m.hash);
        ids.extend(block_ids);
        prev = Some(m.block.header);
    }
    Ok(Chain {
        hashes,
        ids,
        rounds,
    })
}

/// Every node holds the same chain up to `height`, every block verifies,
/// and every accepted entry is on it exactly once (and nothing else).
/// Returns the entries found and node 1's decision rounds.
fn check_chains(
    addrs: &[SocketAddr],
    genesis: &waybill_core::genesis::Genesis,
    height: u64,
    expected: &HashSet<EntryId>,
) -> Result<(usize, Vec<u32>)> {
    let chains: Vec<Result<Chain>> = std::thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|a| s.spawn(move || read_chain(*a, genesis, height)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a chain reader panicked"))
                    .and_then(|r| r)
            })
            .collect()
    });
    let mut chains = chains.into_iter().collect::<Result<Vec<_>>>()?;
    let first_hashes = &chains[0].hashes;
    for (n, Chain { hashes, ids, .. }) in chains.iter().enumerate() {
        if let Some(h) = (0..height as usize).find(|&i| hashes[i] != first_hashes[i]) {
            bail!(
                "node {} has block {} with hash {}, node 1 has {}",
                n + 1,
                h + 1,
                hashes[h],
                first_hashes[h]
            );
        }
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(*id) {
                bail!("node {}: entry {id} is on the chain twice", n + 1);
            }
            if !expected.contains(id) {
                bail!(
                    "node {}: entry {id} is on the chain but was not accepted",
                    n + 1
                );
            }
        }
        if seen.len() != expected.len() {
            let missing = expected.iter().find(|id| !seen.contains(id));
            bail!(
                "node {} holds {} of the {} accepted entries (missing e.g. {})",
                n + 1,
                seen.len(),
                expected.len(),
                missing.map(|m| m.to_hex()).unwrap_or_default()
            );
        }
    }
    let rounds = chains.swap_remove(0).rounds;
    Ok((expected.len(), rounds))
}

/// Sends each group's first entry to its node and waits until every node
/// has every one of them (pending or final).
fn warm_up(groups: &[Group], addrs: &[SocketAddr]) -> Result<()> {
    for (k, g) in groups.iter().enumerate() {
        let mut c = Conn::new(addrs[k], Duration::from_secs(10));
        let (code, body) = c.request("POST", "/v1/entries", Some(&g.json[0]))?;
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
                let (code, _) = c.get(&format!("/v1/entries/{}", g.ids[0].to_hex()))?;
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

/// The counters of interest from every node's `/metrics`, summed:
/// entries accepted (from the load generator and by gossip) and refused
/// (by reason; the load generator's were all accepted, so these came by
/// gossip), checked again and dropped by mempools after a commit, not
/// gossiped for a full queue, and gossiped after their nonce was
/// committed.
fn node_counters(addrs: &[SocketAddr]) -> Result<Vec<(String, f64)>> {
    let mut sums: Vec<(String, f64)> = Vec::new();
    for a in addrs {
        let (code, body) = Conn::new(*a, Duration::from_secs(10)).get("/metrics")?;
        if code != 200 {
            bail!("{a}: /metrics answered {code}");
        }
        let text = String::from_utf8_lossy(&body);
        for line in text.lines() {
            let wanted = line.starts_with("waybill_submissions_total{")
                || line.starts_with("waybill_mempool_dropped_total")
                || line.starts_with("waybill_mempool_rechecked_total")
                || line.starts_with("waybill_gossip_queue_full_total")
                || line.starts_with("waybill_gossip_settled_entries_total");
            if !wanted {
                continue;
            }
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let v: f64 = value.parse().unwrap_or(0.0);
            let name = name
                .trim_start_matches("waybill_")
                .replace(
                    "submissions_total{outcome=\"rejected\",reason=",
                    "rejected{",
                )
                .replace(
                    "submissions_total{outcome=\"accepted\",reason=\"none\"}",
                    "accepted",
                );
            match sums.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => *s += v,
                None => sums.push((name, v)),
            }
        }
    }
    Ok(sums)
}

/// A log line's numeric field `name` (e.g. `entries=`), 1 if it has none.
fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}

/// Gossip losses the nodes logged, summed: entries the entry network
/// dropped because the node did not take them fast enough, and entries
/// the node could not publish (libp2p send queues full).
fn log_counters(logs: &Path, names: &[String]) -> Vec<(String, f64)> {
    let mut dropped = 0.0;
    let mut unpublished = 0.0;
    for n in names {
        let text = std::fs::read_to_string(logs.join(format!("{n}.log"))).unwrap_or_default();
        for line in text.lines() {
            if line.contains("entry receiver is full; entries dropped") {
                dropped += field(line, "entries=");
            } else if line.contains("cannot gossip entries") {
                unpublished += field(line, "entries=");
            }
        }
    }
    vec![
        ("log:gossip_inbound_dropped".into(), dropped),
        ("log:gossip_not_published".into(), unpublished),
    ]
}

/// Runs the scenario.
pub fn run(opts: &Options) -> Result<NetworkReport> {
    if opts.batch == 0 || opts.batch > 1000 {
        bail!("--network-batch must be 1 to 1000");
    }
    if opts.window == 0 || opts.rate.is_nan() || opts.rate <= 0.0 {
        bail!("--network-window and --network-rate must be positive");
    }
    let bin = node_binary()?;
    let per_node_fixed = (opts.rate * opts.phase.as_secs_f64() / NODES as f64).ceil() as usize;
    let per_node = per_node_fixed + opts.saturation_entries;

    // The entries, signed before anything is measured.
    let t = Instant::now();
    eprintln!(
        "network: generating {} entries in {NODES} groups...",
        per_node * NODES
    );
    let consortia = Consortium::groups(NODES, NODES)?;
    let groups: Vec<Group> = std::thread::scope(|s| {
        let handles: Vec<_> = consortia
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let seed = opts.seed.wrapping_mul(100).wrapping_add(k as u64);
                s.spawn(move || make_group(c, k, seed, per_node))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a workload thread panicked"))
                    .and_then(|r| r)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    check_disjoint(&groups)?;
    let generate_s = t.elapsed().as_secs_f64();
    let total_json: usize = groups.iter().flat_map(|g| &g.json).map(Vec::len).sum();
    let mean_json_bytes = total_json as f64 / (per_node * NODES) as f64;

    let c0 = consortia
        .first()
        .ok_or_else(|| anyhow!("internal: no consortium"))?;
    let genesis = c0.genesis.clone();
    let tmp;
    let dir: &Path = match &opts.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path()
        }
    };
    let net = testnet::from_genesis(
        dir,
        genesis.clone(),
        &c0.validator_keys(),
        opts.block_interval_ms,
    )?;
    let names: Vec<String> = net.nodes.iter().map(|n| n.name.clone()).collect();
    let addrs: Vec<SocketAddr> = net.nodes.iter().map(|n| n.api).collect();
    let logs = dir.join("logs");
    // Dropping the cluster kills every node, on every path out of here.
    let mut cluster = Cluster::new(net, &bin);
    cluster.start_all()?;
    eprintln!(
        "network: {NODES} validators starting (logs in {})...",
        logs.display()
    );
    for n in &names {
        cluster.wait_height(n, 1, Duration::from_secs(60))?;
    }
    // Wait for the entry gossip mesh: every node sees the other three.
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
            break;
        }
        if Instant::now() >= deadline {
            bail!("the nodes' entry gossip did not connect within 30 s (peers: {peers:?}); see the logs in {}", logs.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Entry gossip carries entries only once the peers' subscriptions are
    // known (an entry published to nobody is lost for that peer): each
    // group's first entry goes to its node, and the load starts once every
    // node holds all of them. Blocks from here on are read, so the first
    // entries are seen final too, whenever their block comes.
    let before_warm_up = addrs
        .iter()
        .filter_map(|a| testnet::status(*a).map(|s| s.0))
        .min()
        .unwrap_or(0);
    warm_up(&groups, &addrs).with_context(|| {
        format!(
            "the network did not spread the first entries (logs in {})",
            logs.display()
        )
    })?;

    let total = per_node * NODES;
    let mut index = HashMap::with_capacity(total);
    let mut group_of = Vec::with_capacity(total);
    for (k, g) in groups.iter().enumerate() {
        for (i, key) in g.keys.iter().enumerate() {
            index.insert(*key, k * per_node + i);
            group_of.push(k as u8);
        }
    }
    let track = Track {
        base: Instant::now(),
        index,
        group_of,
        submitted_at: (0..total).map(|_| AtomicU64::new(UNSET)).collect(),
        final_at: (0..total).map(|_| AtomicU64::new(UNSET)).collect(),
        finalised: (0..NODES).map(|_| AtomicUsize::new(0)).collect(),
        // The warm-up entry of each group.
        accepted: (0..NODES).map(|_| AtomicUsize::new(1)).collect(),
        blocks: Mutex::new(Vec::new()),
        node_of: c0
            .validator_keys()
            .iter()
            .enumerate()
            .map(|(i, k)| (waybill_core::crypto::public_key(k), i))
            .collect(),
        seen_height: AtomicU64::new(before_warm_up),
        abort: AtomicBool::new(false),
        failure: Mutex::new(None),
        stop: AtomicBool::new(false),
        full: AtomicU64::new(0),
        rtts: Mutex::new(Vec::new()),
    };

    let outcome = std::thread::scope(|s| -> Result<_> {
        let (tx, rx) = mpsc::channel();
        let track = &track;
        let addrs_ref = &addrs;
        let poll = s.spawn(move || poller(track, addrs_ref, tx));
        let fetch = s.spawn(move || fetcher(track, addrs_ref, rx));
        let result = (|| -> Result<_> {
            // Phase 1: a fixed offered rate.
            eprintln!(
                "network: fixed rate {:.0} entries/s for {:.0} s...",
                opts.rate,
                opts.phase.as_secs_f64()
            );
            let rate = opts.rate / NODES as f64;
            let start = Instant::now() + Duration::from_millis(20);
            let sent = std::thread::scope(|s2| {
                let hs: Vec<_> = groups
                    .iter()
                    .enumerate()
                    .map(|(k, g)| {
                        let addr = addrs[k];
                        s2.spawn(move || {
                            std::thread::sleep(start.saturating_duration_since(Instant::now()));
                            let r = submit_fixed(
                                track,
                                addr,
                                k,
                                g,
                                (1, per_node_fixed),
                                k * per_node,
                                rate,
                                start,
                                opts.batch,
                            );
                            if let Err(e) = &r {
                                track.fail(format!("{e:#}"));
                            }
                            r
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join()
                            .map_err(|_| anyhow!("a submitter panicked"))
                            .and_then(|r| r)
                    })
                    .collect::<Vec<_>>()
            });
            if let Some(f) = track.failed() {
                bail!("{f}");
            }
            let sent = sent.into_iter().collect::<Result<Vec<_>>>()?;
            let fixed_sent_ns = sent.iter().map(|s| s.last_ns).max().unwrap_or(0);
            let fixed_full = track.full.swap(0, Ordering::SeqCst);
            let fixed_rtts =
                std::mem::take(&mut *track.rtts.lock().unwrap_or_else(|p| p.into_inner()));
            drain(track, Duration::from_secs(60) + opts.phase)?;
            let start_ns = u64::try_from(start.duration_since(track.base).as_nanos()).unwrap_or(0);

            // Phase 2: saturation.
            eprintln!(
                "network: saturation for {:.0} s (at most {} unfinalised entries per node)...",
                opts.phase.as_secs_f64(),
                opts.window
            );
            let sat_start = Instant::now();
            let sat_from = track.now_ns();
            let deadline = sat_start + opts.phase;
            let sent2 = std::thread::scope(|s2| {
                let hs: Vec<_> = groups
                    .iter()
                    .enumerate()
                    .map(|(k, g)| {
                        let addr = addrs[k];
                        s2.spawn(move || {
                            let r = submit_saturated(
                                track,
                                addr,
                                k,
                                g,
                                (per_node_fixed, per_node),
                                k * per_node,
                                opts.window,
                                deadline,
                                opts.batch,
                            );
                            if let Err(e) = &r {
                                track.fail(format!("{e:#}"));
                            }
                            r
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join()
                            .map_err(|_| anyhow!("a submitter panicked"))
                            .and_then(|r| r)
                    })
                    .collect::<Vec<_>>()
            });
            if let Some(f) = track.failed() {
                bail!("{f}");
            }
            let sent2 = sent2.into_iter().collect::<Result<Vec<_>>>()?;
            let sat_to = track.now_ns().max(sat_from + 1);
            let sat_full = track.full.swap(0, Ordering::SeqCst);
            let sat_rtts =
                std::mem::take(&mut *track.rtts.lock().unwrap_or_else(|p| p.into_inner()));
            drain(track, Duration::from_secs(120))?;
            let drained_ns = track.now_ns();
            Ok((
                (sent, fixed_sent_ns, fixed_full, start_ns, fixed_rtts),
                (sent2, sat_from, sat_to, sat_full, drained_ns, sat_rtts),
            ))
        })();
        track.stop.store(true, Ordering::SeqCst);
        let _ = poll.join();
        let _ = fetch.join();
        result
    });
    let (
        (sent, fixed_sent_ns, fixed_full, fixed_start_ns, mut fixed_rtts),
        (sent2, sat_from, sat_to, sat_full, _drained_ns, mut sat_rtts),
    ) = match outcome {
        Ok(o) => o,
        Err(e) => {
            let mut tails = String::new();
            for n in &names {
                let log = cluster.log(n);
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                tails.push_str(&format!("\n--- {n} (last lines) ---\n"));
                for l in tail.into_iter().rev() {
                    tails.push_str(l);
                    tails.push('\n');
                }
            }
            return Err(e.context(format!(
                "the network scenario failed (node logs in {}){tails}",
                logs.display()
            )));
        }
    };

    // Fixed phase figures.
    let fixed_ranges: Vec<(usize, usize)> = (0..NODES)
        .map(|k| (k * per_node + 1, k * per_node + per_node_fixed))
        .collect();
    let lat = latencies(&track, &fixed_ranges);
    let fixed_n: usize = sent.iter().map(|s| s.n).sum();
    let fixed_dur_s = opts.phase.as_secs_f64();
    // Finalised entries/s in the steady part of the phase: from a fifth
    // into it to its end.
    let phase_ns = u64::try_from(opts.phase.as_nanos()).unwrap_or(u64::MAX / 4);
    let fixed_warm = fixed_start_ns + phase_ns / 5;
    let fixed_end_ns = fixed_start_ns + phase_ns;
    let fixed_in_window = count_final(&track, &fixed_ranges, fixed_warm, fixed_end_ns);
    let fixed = Phase {
        entries: fixed_n,
        offered_per_s: fixed_n as f64
            / (fixed_sent_ns.saturating_sub(fixed_start_ns) as f64 / 1e9).max(fixed_dur_s),
        finalised_per_s: fixed_in_window as f64 / (fixed_end_ns - fixed_warm) as f64 * 1e9,
        p50_ms: percentile(&lat, 50.0),
        p95_ms: percentile(&lat, 95.0),
        p99_ms: percentile(&lat, 99.0),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        full: fixed_full,
        requests: fixed_rtts.len(),
        rtt_p50_ms: {
            fixed_rtts.sort_by(|a, b| a.total_cmp(b));
            percentile(&fixed_rtts, 50.0)
        },
        rtt_p99_ms: percentile(&fixed_rtts, 99.0),
        lag_ms: (fixed_sent_ns as f64 - fixed_start_ns as f64) / 1e6 - fixed_dur_s * 1e3,
        ran_out: false,
    };
    let fixed_blocks = block_stats(&track, fixed_warm, fixed_end_ns);

    // Saturation: finalised entries/s over the window after a warm-up of
    // a fifth of the phase, up to the end of submission.
    let sat_ranges: Vec<(usize, usize)> = (0..NODES)
        .map(|k| (k * per_node + per_node_fixed, (k + 1) * per_node))
        .collect();
    let warm = sat_from + (sat_to - sat_from) / 5;
    let in_window = count_final(&track, &sat_ranges, warm, sat_to);
    let lat2 = latencies(&track, &sat_ranges);
    let sat_n: usize = sent2.iter().map(|s| s.n).sum();
    let saturation = Phase {
        entries: sat_n,
        offered_per_s: sat_n as f64 / ((sat_to - sat_from) as f64 / 1e9),
        finalised_per_s: in_window as f64 / ((sat_to - warm) as f64 / 1e9),
        p50_ms: percentile(&lat2, 50.0),
        p95_ms: percentile(&lat2, 95.0),
        p99_ms: percentile(&lat2, 99.0),
        max_ms: lat2.last().copied().unwrap_or(f64::NAN),
        full: sat_full,
        requests: sat_rtts.len(),
        rtt_p50_ms: {
            sat_rtts.sort_by(|a, b| a.total_cmp(b));
            percentile(&sat_rtts, 50.0)
        },
        rtt_p99_ms: percentile(&sat_rtts, 99.0),
        lag_ms: 0.0,
        ran_out: sent2.iter().any(|s| s.n >= opts.saturation_entries),
    };
    let saturation_blocks = block_stats(&track, warm, sat_to);

    // Correctness: all four nodes hold the same verified chain with every
    // accepted entry on it.
    let t = Instant::now();
    eprintln!("network: checking every block on every node...");
    let mut expected = HashSet::new();
    for (k, g) in groups.iter().enumerate() {
        let n = track.accepted[k].load(Ordering::SeqCst);
        // Accepted entries are a prefix of each phase's share of the group.
        let fixed_part = per_node_fixed.min(n);
        expected.extend(g.ids[..fixed_part].iter().copied());
        let sat_part = n - fixed_part;
        expected.extend(
            g.ids[per_node_fixed..per_node_fixed + sat_part]
                .iter()
                .copied(),
        );
    }
    let height = track.seen_height.load(Ordering::SeqCst);
    for n in &names {
        cluster.wait_height(n, height, Duration::from_secs(60))?;
    }
    let (checked_entries, rounds) = check_chains(&addrs, &genesis, height, &expected)?;
    let check_s = t.elapsed().as_secs_f64();
    let mut node_counters = node_counters(&addrs)?;
    cluster.stop_all(Duration::from_secs(10));
    node_counters.extend(log_counters(&logs, &names));
    Ok(NetworkReport {
        fixed,
        saturation,
        fixed_blocks,
        saturation_blocks,
        options: opts.clone(),
        mean_json_bytes,
        height,
        checked_entries,
        generate_s,
        check_s,
        left_out: groups.iter().map(|g| g.left_out).sum(),
        node_counters,
        late_rounds: rounds.iter().filter(|r| **r > 0).count(),
        max_round: rounds.iter().copied().max().unwrap_or(0),
    })
}
