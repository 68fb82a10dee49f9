//! The fault campaign (`--only faults`): four validators under a steady
//! load, and faults one at a time in a seeded random order ([`campaign`]):
//! SIGKILL and restart, SIGSTOP and SIGCONT, one node cut off (3/1: the
//! three go on and the one catches up) and the network split in halves
//! (2/2: it halts without a fork and resumes). The links between the
//! nodes run through a relay the campaign controls
//! ([`waybill_testnet::Relay`]), so partitions need no root.
//!
//! The load ([`load`]) counts an entry only when a node reports it final.
//! At the end every node must hold every such entry exactly once and
//! nothing that was not sent, and all chains must agree block by block
//! and verify against the genesis (hash, entry root, link, commit
//! certificate). Any loss or fork fails the run.

mod campaign;
mod load;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use waybill_core::entry::EntryId;
use waybill_testkit::consortium::Roster;
use waybill_testnet::{self as testnet, Cluster, Relay};

use crate::network::chains::read_chains;
use crate::network::change::ValidatorSets;
use crate::network::nodes::{node_binary, WorkDir};
use crate::workload::Consortium;
use campaign::{schedule, Campaign, Counts};
use load::Load;

/// The campaign's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The order of the faults and which node each hits.
    pub seed: u64,
    /// Kills; pauses, 3/1 and 2/2 partitions are a fifth as many each
    /// (at least one).
    pub kills: usize,
    /// Entries per batch of each author.
    pub batch: usize,
    /// The nodes' block interval.
    pub block_interval_ms: u64,
    /// Keep the nodes' directories and logs here.
    pub keep: Option<PathBuf>,
}

/// What the campaign did and found.
#[derive(Debug, Clone)]
pub struct FaultsReport {
    pub kills: usize,
    pub pauses: usize,
    pub minority_partitions: usize,
    pub half_partitions: usize,
    /// Entries a node reported final.
    pub acknowledged: usize,
    /// Entries signed (some sent, not yet final when the load stopped).
    pub signed: usize,
    /// Acknowledged entries missing from some node.
    pub lost: usize,
    /// Heights whose blocks differ between nodes.
    pub forks: usize,
    /// Entries on some node's chain twice.
    pub duplicates: usize,
    /// Entries on some node's chain that the load never signed.
    pub unknown: usize,
    /// The chains' height when checked.
    pub height: u64,
    /// Entries on the chains (acknowledged, and some sent but not yet
    /// acknowledged when the load stopped).
    pub on_chain: usize,
    /// Batches sent again after a node did not finalise them in time.
    pub resent: u64,
    /// Requests that got no answer (from a killed, paused or lagging node).
    pub failed_requests: u64,
    /// The longest recovery per kind (seconds): kill, pause, 3/1, 2/2.
    pub recover_max_s: [f64; 4],
    /// The most heights decided while the network was split in halves.
    pub halves_max_advance: u64,
    /// Connections the relay refused across a cut link.
    pub refused_connections: u64,
    pub seconds: f64,
    pub options: Options,
}

/// Runs the campaign.
pub fn run(opts: &Options) -> Result<FaultsReport> {
    let started = Instant::now();
    let bin = node_binary()?;
    let consortium = Consortium::groups(1, 4)?
        .pop()
        .ok_or_else(|| anyhow!("internal: no consortium"))?;
    let genesis = consortium.genesis.clone();
    let work = WorkDir::new(opts.keep.as_deref())?;
    let dir = work.path();
    let net = testnet::from_genesis(
        dir,
        genesis.clone(),
        &consortium.validator_keys(),
        opts.block_interval_ms,
    )?;
    // The relay first: the nodes read their peers' (relayed) addresses
    // when they start. Dropped after the cluster (declared before it), so
    // the nodes never see their links vanish at the end.
    let relay = Relay::insert(&net)?;
    let names: Vec<String> = net.nodes.iter().map(|n| n.name.clone()).collect();
    let addrs: Vec<SocketAddr> = net.nodes.iter().map(|n| n.api).collect();
    let logs = dir.join("logs");
    let mut cluster = Cluster::new(net, &bin);
    cluster.start_all()?;
    eprintln!(
        "faults: 4 validators starting, linked through a relay (logs in {})...",
        logs.display()
    );
    for n in &names {
        cluster.wait_height(n, 1, Duration::from_secs(60))?;
    }

    let n = opts.kills.div_ceil(5).max(1);
    let mut rng = Campaign::rng(opts.seed);
    let faults = schedule([opts.kills, n, n, n], &mut rng);
    let load = Load::start(
        consortium.producers(),
        genesis.chain_id(),
        &addrs,
        opts.batch,
    );
    // The load runs a moment before the first fault.
    std::thread::sleep(Duration::from_secs(2));
    eprintln!(
        "faults: {} faults (seed {}): {} kills, {n} pauses, {n} cut off 3/1, {n} split 2/2",
        faults.len(),
        opts.seed,
        opts.kills
    );
    let mut campaign = Campaign {
        cluster: &mut cluster,
        relay: &relay,
        names: names.clone(),
        addrs: addrs.clone(),
        rng,
        counts: Counts::default(),
    };
    let total = faults.len();
    let step = (total / 10).max(1);
    let outcome = campaign.run(&faults, |done, c| {
        if done % step == 0 || done == total {
            eprintln!(
                "faults: {done}/{total} done ({} kills, {} pauses, {} 3/1, {} 2/2; {} entries final so far)",
                c.kills, c.pauses, c.minority, c.halves, load.acknowledged()
            );
        }
    });
    let counts = campaign.counts.clone();
    let tally = load.stop()?;
    outcome.with_context(|| format!("the fault campaign failed (logs in {})", logs.display()))?;

    // Every node at one height, then every chain read back and compared.
    let top = addrs
        .iter()
        .filter_map(|a| testnet::status(*a).map(|s| s.0))
        .max()
        .unwrap_or(0);
    for n in &names {
        cluster.wait_height(n, top, Duration::from_secs(120))?;
    }
    let acknowledged: HashSet<_> = tally
        .acknowledged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let signed: HashSet<_> = tally
        .signed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    eprintln!(
        "faults: checking {top} blocks on every node for the {} entries acknowledged final...",
        acknowledged.len()
    );
    let sets = ValidatorSets::new(&genesis, None);
    let check = compare_chains(&addrs, &genesis, &sets, top, &acknowledged, &signed)
        .with_context(|| format!("reading the chains back (logs in {})", logs.display()))?;
    cluster.stop_all(Duration::from_secs(10));
    drop(cluster);
    let refused_connections = relay.refused();
    Ok(FaultsReport {
        kills: counts.kills,
        pauses: counts.pauses,
        minority_partitions: counts.minority,
        half_partitions: counts.halves,
        acknowledged: acknowledged.len(),
        signed: signed.len(),
        lost: check.lost,
        forks: check.forks,
        duplicates: check.duplicates,
        unknown: check.unknown,
        height: top,
        on_chain: check.on_chain,
        resent: tally.resent.load(std::sync::atomic::Ordering::Relaxed),
        failed_requests: tally
            .failed_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        recover_max_s: counts.recover_max_s,
        halves_max_advance: counts.halves_max_advance,
        refused_connections,
        seconds: started.elapsed().as_secs_f64(),
        options: opts.clone(),
    })
}

/// What reading the chains back found.
struct ChainCheck {
    lost: usize,
    forks: usize,
    duplicates: usize,
    unknown: usize,
    on_chain: usize,
}

/// Reads every node's chain to `height`, verifying each block (a block
/// that does not verify is an error), and counts what differs: heights
/// whose hash is not node 1's, acknowledged entries missing on some node,
/// entries twice on a chain, and entries nobody sent.
fn compare_chains(
    addrs: &[SocketAddr],
    genesis: &waybill_core::genesis::Genesis,
    sets: &ValidatorSets,
    height: u64,
    acknowledged: &HashSet<EntryId>,
    signed: &HashSet<EntryId>,
) -> Result<ChainCheck> {
    let chains = read_chains(addrs, genesis, sets, height)?;
    let first = chains
        .first()
        .ok_or_else(|| anyhow!("internal: no chains"))?;
    let mut forks = HashSet::new();
    let mut lost: HashSet<EntryId> = HashSet::new();
    let (mut duplicates, mut unknown) = (0, 0);
    for chain in &chains {
        for (h, (a, b)) in chain.hashes.iter().zip(&first.hashes).enumerate() {
            if a != b {
                forks.insert(h);
            }
        }
        let mut seen = HashSet::with_capacity(chain.ids.len());
        for id in &chain.ids {
            if !seen.insert(*id) {
                duplicates += 1;
            }
            if !signed.contains(id) {
                unknown += 1;
            }
        }
        lost.extend(
            acknowledged
                .iter()
                .filter(|id| !seen.contains(*id))
                .copied(),
        );
    }
    Ok(ChainCheck {
        lost: lost.len(),
        forks: forks.len(),
        duplicates,
        unknown,
        on_chain: first.ids.len(),
    })
}

impl FaultsReport {
    /// Whether the network kept every promise: nothing acknowledged lost,
    /// no fork, nothing twice, nothing invented.
    pub fn held(&self) -> bool {
        self.lost == 0 && self.forks == 0 && self.duplicates == 0 && self.unknown == 0
    }

    /// The report as printed.
    pub fn print(&self) {
        let r = &self.recover_max_s;
        println!("## Fault campaign (seed {})", self.options.seed);
        println!();
        println!("| | count |");
        println!("|---|---|");
        println!("| kills (SIGKILL, restart) | {} |", self.kills);
        println!("| pauses (SIGSTOP, SIGCONT) | {} |", self.pauses);
        println!("| one cut off (3/1) | {} |", self.minority_partitions);
        println!("| split in halves (2/2) | {} |", self.half_partitions);
        println!("| entries acknowledged final | {} |", self.acknowledged);
        println!("| entries on every chain | {} |", self.on_chain);
        println!("| lost | {} |", self.lost);
        println!("| forks (heights that differ) | {} |", self.forks);
        println!("| entries twice on a chain | {} |", self.duplicates);
        println!("| entries nobody sent | {} |", self.unknown);
        println!();
        println!(
            "Chains read back to height {}, every block verified against the genesis. \
             Longest recovery: kill {:.1} s, pause {:.1} s, 3/1 {:.1} s, 2/2 {:.1} s; \
             heights decided during a 2/2 split: at most {}. Batches sent again: {}; \
             requests unanswered: {}; connections refused across a cut: {}. {:.0} s in all.",
            self.height,
            r[0],
            r[1],
            r[2],
            r[3],
            self.halves_max_advance,
            self.resent,
            self.failed_requests,
            self.refused_connections,
            self.seconds
        );
    }
}
