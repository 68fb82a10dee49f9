//! The measurement state shared by the submitters, the poller and the
//! fetcher ([`Track`]): when each entry was submitted and first seen
//! final, and each block seen. The poller notes when each height is first
//! reported committed on any node; the fetcher reads each new block once
//! and dates its entries. Afterwards the same state gives the latencies,
//! the entries final in a window, the block statistics and the ids of
//! every accepted entry.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use waybill_core::block::Block;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::EntryId;
use waybill_testnet::Conn;

use super::groups::Group;
use super::types::{Blocks, Shares, NODES};
use crate::workload::Consortium;

const UNSET: u64 = u64::MAX;

pub(super) struct Track {
    pub(super) base: Instant,
    /// (author, nonce) → global entry index.
    index: HashMap<(PublicKey, u64), usize>,
    /// Global index → group.
    group_of: Vec<u8>,
    /// Submit (or due) time, ns since `base`.
    pub(super) submitted_at: Vec<AtomicU64>,
    /// First seen final, ns since `base`.
    final_at: Vec<AtomicU64>,
    /// Entries of each group seen final.
    pub(super) finalised: Vec<AtomicUsize>,
    /// Entries of each group submitted and accepted.
    pub(super) accepted: Vec<AtomicUsize>,
    /// Each block seen.
    blocks: Mutex<Vec<Seen>>,
    /// Validator key → its node (and group) index.
    node_of: HashMap<PublicKey, usize>,
    /// The admin's key: its entries (a validator change) are no load.
    admin: PublicKey,
    /// Highest height first seen.
    pub(super) seen_height: AtomicU64,
    /// Set on the first failure: everyone stops.
    pub(super) abort: AtomicBool,
    failure: Mutex<Option<String>>,
    pub(super) stop: AtomicBool,
    pub(super) full: AtomicU64,
    /// Round-trip time of each submission request (ms), this phase.
    pub(super) rtts: Mutex<Vec<f64>>,
}

impl Track {
    /// Entries of each group accepted so far (each group's next phase
    /// starts there: an author's nonces must not skip).
    pub(super) fn accepted_counts(&self) -> Vec<usize> {
        self.accepted
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect()
    }

    pub(super) fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    pub(super) fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(why);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    pub(super) fn failed(&self) -> Option<String> {
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

/// The measurement state, before the first phase: every group's warm-up
/// entry accepted, heights above `seen_height` still to be read.
pub(super) fn new_track(
    groups: &[Group],
    shares: Shares,
    c0: &Consortium,
    seen_height: u64,
) -> Track {
    let total = shares.per_node * NODES;
    let mut index = HashMap::with_capacity(total);
    let mut group_of = Vec::with_capacity(total);
    for (k, g) in groups.iter().enumerate() {
        for (i, key) in g.keys.iter().enumerate() {
            index.insert(*key, k * shares.per_node + i);
            group_of.push(k as u8);
        }
    }
    Track {
        base: Instant::now(),
        index,
        group_of,
        submitted_at: (0..total).map(|_| AtomicU64::new(UNSET)).collect(),
        final_at: (0..total).map(|_| AtomicU64::new(UNSET)).collect(),
        finalised: (0..NODES).map(|_| AtomicUsize::new(0)).collect(),
        // The warm-up entry of each group.
        accepted: (0..NODES).map(|_| AtomicUsize::new(1)).collect(),
        blocks: Mutex::new(Vec::new()),
        admin: waybill_core::crypto::public_key(c0.admin_key()),
        node_of: c0
            .validator_keys()
            .iter()
            .enumerate()
            .map(|(i, k)| (waybill_core::crypto::public_key(k), i))
            .collect(),
        seen_height: AtomicU64::new(seen_height),
        abort: AtomicBool::new(false),
        failure: Mutex::new(None),
        stop: AtomicBool::new(false),
        full: AtomicU64::new(0),
        rtts: Mutex::new(Vec::new()),
    }
}

/// `GET /v1/status` → height.
fn height_of(conn: &mut Conn) -> Result<u64> {
    let r = conn.get("/v1/status")?;
    if r.status != 200 {
        bail!("status answered {}", r.status);
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body)?;
    v["height"]
        .as_u64()
        .ok_or_else(|| anyhow!("status without a height"))
}

/// Polls every node's height; sends each new height (with when it was
/// first seen and on which node) to the fetcher.
pub(super) fn poller(track: &Track, addrs: &[SocketAddr], tx: mpsc::Sender<(u64, u64, usize)>) {
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
pub(super) fn fetcher(track: &Track, addrs: &[SocketAddr], rx: mpsc::Receiver<(u64, u64, usize)>) {
    let mut conns: Vec<Conn> = addrs
        .iter()
        .map(|a| Conn::new(*a, Duration::from_secs(30)))
        .collect();
    for (height, t, node) in rx {
        let r = (|| -> Result<(usize, usize)> {
            // The canonical bytes: no JSON to write on the node or to
            // parse here, both on the machine being measured.
            let r = conns[node].get_bytes(&format!("/v1/blocks/{height}"))?;
            let (code, body) = (r.status, r.body);
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
            for e in b.entries.iter().filter(|e| e.entry.author != track.admin) {
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

/// The submission round-trip times of the phase so far, leaving none.
pub(super) fn take_rtts(track: &Track) -> Vec<f64> {
    std::mem::take(&mut *track.rtts.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Waits until every entry accepted so far is seen final.
pub(super) fn drain(track: &Track, timeout: Duration) -> Result<()> {
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
pub(super) fn latencies(track: &Track, ranges: &[(usize, usize)]) -> Vec<f64> {
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
pub(super) fn count_final(
    track: &Track,
    ranges: &[(usize, usize)],
    from_ns: u64,
    to_ns: u64,
) -> usize {
    ranges
        .iter()
        .flat_map(|&(a, b)| a..b)
        .filter(|&i| {
            let f = track.final_at[i].load(Ordering::SeqCst);
            f != UNSET && f > from_ns && f <= to_ns
        })
        .count()
}

pub(super) fn block_stats(track: &Track, from_ns: u64, to_ns: u64) -> Blocks {
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
    let max_gap_ms = blocks
        .windows(2)
        .map(|w| w[1].at.saturating_sub(w[0].at) as f64 / 1e6)
        .fold(f64::NAN, f64::max);
    Blocks {
        count,
        max_gap_ms,
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

/// The ids of every accepted entry: a prefix of each group (each phase
/// goes on from the entry after the last one the phase before accepted).
pub(super) fn accepted_ids(track: &Track, groups: &[Group]) -> HashSet<EntryId> {
    let mut expected = HashSet::new();
    for (k, g) in groups.iter().enumerate() {
        let n = track.accepted[k].load(Ordering::SeqCst);
        expected.extend(g.ids[..n].iter().copied());
    }
    expected
}
