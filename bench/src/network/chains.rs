//! Afterwards: every block of every node read back and verified (hash,
//! entry Merkle root, link, commit certificate) and the chains compared
//! ([`check_chains`]); the nodes' own counters from `/metrics`
//! ([`node_counters`]) and the gossip losses they logged
//! ([`log_counters`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use waybill_core::block::{self, Block, CommitCertificate};
use waybill_core::crypto::Hash32;
use waybill_core::entry::EntryId;
use waybill_testnet::Conn;

use super::change::ValidatorSets;

#[derive(Deserialize)]
struct FullBlockMsg {
    hash: Hash32,
    block: Block,
    certificate: Option<CommitCertificate>,
}

/// Every node's chain, read back in parallel ([`read_chain`]).
pub(crate) fn read_chains(
    addrs: &[SocketAddr],
    genesis: &waybill_core::genesis::Genesis,
    sets: &ValidatorSets,
    height: u64,
) -> Result<Vec<Chain>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|a| s.spawn(move || read_chain(*a, genesis, sets, height)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a chain reader panicked"))
                    .and_then(|r| r)
            })
            .collect()
    })
}

/// One node's chain as read back.
pub(crate) struct Chain {
    pub(crate) hashes: Vec<Hash32>,
    pub(crate) ids: Vec<EntryId>,
    /// The consensus round each block was decided in (its certificate's).
    rounds: Vec<u32>,
}

/// Reads blocks 1..=height from one node and verifies each: hash, entry
/// root, link, certificate (against the validator set of its height).
fn read_chain(
    addr: SocketAddr,
    genesis: &waybill_core::genesis::Genesis,
    sets: &ValidatorSets,
    height: u64,
) -> Result<Chain> {
    let chain_id = genesis.chain_id();
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let mut hashes = Vec::new();
    let mut ids = Vec::new();
    let mut rounds = Vec::new();
    let mut prev: Option<block::Header> = None;
    for h in 1..=height {
        let r = conn.get(&format!("/v1/blocks/{h}"))?;
        let (code, body) = (r.status, r.body);
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
        cert.verify_with(sets.at(h), header)
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
pub(super) fn check_chains(
    addrs: &[SocketAddr],
    genesis: &waybill_core::genesis::Genesis,
    sets: &ValidatorSets,
    height: u64,
    expected: &HashSet<EntryId>,
) -> Result<(usize, Vec<u32>)> {
    let mut chains = read_chains(addrs, genesis, sets, height)?;
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

/// The counters of interest from every node's `/metrics`, summed:
/// entries accepted (from the load generator and by gossip) and refused
/// (by reason; the load generator's were all accepted, so these came by
/// gossip), checked again and dropped by mempools after a commit, not
/// gossiped for a full queue, and gossiped after their nonce was
/// committed; and the seconds each step of a height took (build, check,
/// checkpoint, commit) with how many ran, for their means.
pub(super) fn node_counters(addrs: &[SocketAddr]) -> Result<Vec<(String, f64)>> {
    let mut sums: Vec<(String, f64)> = Vec::new();
    for a in addrs {
        let r = Conn::new(*a, Duration::from_secs(10)).get("/metrics")?;
        let (code, body) = (r.status, r.body);
        if code != 200 {
            bail!("{a}: /metrics answered {code}");
        }
        let text = String::from_utf8_lossy(&body);
        for line in text.lines() {
            let wanted = line.starts_with("waybill_submissions_total{")
                || line.starts_with("waybill_mempool_dropped_total")
                || line.starts_with("waybill_mempool_rechecked_total")
                || line.starts_with("waybill_gossip_queue_full_total")
                || line.starts_with("waybill_gossip_settled_entries_total")
                || line.starts_with("waybill_block_step_seconds_sum{")
                || line.starts_with("waybill_block_step_seconds_count{");
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
pub(super) fn log_counters(logs: &Path, names: &[String]) -> Vec<(String, f64)> {
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
