//! The network scenario's public face and the sizes it works with: its
//! [`Options`], what it reports ([`NetworkReport`], one [`Phase`] and its
//! [`Blocks`] per phase), the number of validators, and how each group's
//! entries are shared between the two phases ([`Shares`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::workload::Mix;

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
    /// Which entry kinds the workload makes.
    pub mix: Mix,
    /// Change the validator set during saturation (see `change.rs`).
    pub change: bool,
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
    /// Longest time between two consecutive blocks (ms), as the poller
    /// first saw them committed.
    pub max_gap_ms: f64,
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
    /// Saturation with one validator of four stopped.
    pub down: Phase,
    /// The fixed offered rate again, with that validator still stopped.
    pub down_fixed: Phase,
    /// The height from which the validator change held, if one was made.
    pub change_height: Option<u64>,
    /// Blocks during the fixed phase.
    pub fixed_blocks: Blocks,
    /// Blocks during the saturation window.
    pub saturation_blocks: Blocks,
    /// Blocks during the one-validator-down window.
    pub down_blocks: Blocks,
    /// Blocks during the fixed rate with one validator down.
    pub down_fixed_blocks: Blocks,
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
    /// Racing carrier take-overs and hand-overs left out of the generated
    /// workload.
    pub left_out: usize,
    /// The generated workload's entries per kind, over every group.
    pub kinds: BTreeMap<&'static str, usize>,
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

/// How many entries each group has: the fixed-rate phase's first, then
/// the saturation phase's, then the one-validator-down phase's (as many
/// as saturation's, from where saturation stopped). Entry `i` of group `k` has global index
/// `k * per_node + i`; entry 0 of each group is its warm-up entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shares {
    /// Entries per group for the fixed phase (its warm-up entry included).
    pub(super) fixed: usize,
    /// Entries per group for the saturation phase, and again for the
    /// one-validator-down phase (the fixed phase's share is used again
    /// for the fixed rate with one validator down).
    pub(super) saturation: usize,
    /// Entries per group in all.
    pub(super) per_node: usize,
}

impl Shares {
    pub(super) fn new(opts: &Options) -> Self {
        let fixed = (opts.rate * opts.phase.as_secs_f64() / NODES as f64).ceil() as usize;
        Shares {
            fixed,
            saturation: opts.saturation_entries,
            per_node: 2 * fixed + 2 * opts.saturation_entries,
        }
    }

    /// The fixed phase's entries of each group (global), warm-up left out.
    pub(super) fn fixed_ranges(&self) -> Vec<(usize, usize)> {
        (0..NODES)
            .map(|k| (k * self.per_node + 1, k * self.per_node + self.fixed))
            .collect()
    }

    /// The saturation phase's entries of each group (global).
    pub(super) fn saturation_ranges(&self) -> Vec<(usize, usize)> {
        (0..NODES)
            .map(|k| {
                let first = k * self.per_node + self.fixed;
                (first, first + self.saturation)
            })
            .collect()
    }

    /// Where the one-validator-down phase starts in each group: right
    /// after the saturation phase's last accepted entry (`accepted[k]`
    /// entries of group `k` were accepted before it), since an author's
    /// nonces must not skip.
    pub(super) fn down_starts(&self, accepted: &[usize]) -> Vec<usize> {
        accepted
            .iter()
            .map(|a| (*a).min(self.per_node - self.saturation - self.fixed))
            .collect()
    }

    /// Where the fixed rate with one validator down starts in each group:
    /// right after the down saturation's last accepted entry.
    pub(super) fn down_fixed_starts(&self, accepted: &[usize]) -> Vec<usize> {
        accepted
            .iter()
            .map(|a| (*a).min(self.per_node - self.fixed))
            .collect()
    }

    /// The fixed rate with one validator down: its entries of each group
    /// (global).
    pub(super) fn down_fixed_ranges(&self, starts: &[usize]) -> Vec<(usize, usize)> {
        starts
            .iter()
            .enumerate()
            .map(|(k, s)| (k * self.per_node + s, k * self.per_node + s + self.fixed))
            .collect()
    }

    /// The one-validator-down phase's entries of each group (global).
    pub(super) fn down_ranges(&self, starts: &[usize]) -> Vec<(usize, usize)> {
        starts
            .iter()
            .enumerate()
            .map(|(k, s)| {
                (
                    k * self.per_node + s,
                    k * self.per_node + s + self.saturation,
                )
            })
            .collect()
    }
}
