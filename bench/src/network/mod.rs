//! The network scenario: four validators on loopback (real `waybill-node`
//! processes agreeing by BFT consensus) and a load generator submitting
//! signed entries through the HTTP API to all four, first at a fixed
//! offered rate, then at saturation (as fast as the network finalises,
//! with a bounded number of unfinalised entries per node).
//!
//! The consortium has one group of members per node, each with its own
//! workload, and each group submits only to its own node: an entry never
//! depends on an entry sent to another node (which might not have arrived
//! there by gossip yet). Carrier take-overs and hand-overs that race with
//! the consignee's own entry are left out of the workload (see
//! [`groups::racing_handovers`]), so no valid order of what each node has
//! can orphan an accepted entry: no entry can be refused, and any refusal
//! fails the run.
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
//!
//! A third phase repeats saturation with the last validator killed
//! (SIGKILL): its group sends to the first node, and the validator is
//! restarted afterwards and must catch up before the final check.
//!
//! With `--network-change`, the admin changes the validator set during
//! saturation ([`change`]); certificates are checked against the set of
//! their height, and the longest time between two blocks is reported.
//!
//! The work is split by job: [`types`] (options, report, shares),
//! [`groups`] (the workload), [`nodes`] (the validators), [`track`] (the
//! measurement state, poller and fetcher), [`submit`] (the load
//! generator), [`phases`] (the three phases and their figures) and
//! [`chains`] (the final check and counters). This file only runs them in
//! order.

pub(crate) mod chains;
pub(crate) mod change;
mod groups;
pub(crate) mod nodes;
mod phases;
mod submit;
mod track;
mod types;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use chains::{check_chains, log_counters, node_counters};
use change::{ValidatorChange, ValidatorSets};
use groups::generate_workload;
use nodes::{node_binary, start_network, warm_up_network, with_log_tails, Network, WorkDir};
pub use phases::DOWN;
use phases::{fixed_figures, measure, saturation_figures};
use track::{accepted_ids, new_track};
use types::Shares;
pub use types::{Blocks, NetworkReport, Options, Phase, NODES};

/// Runs the scenario.
pub fn run(opts: &Options) -> Result<NetworkReport> {
    check_options(opts)?;
    let bin = node_binary()?;
    let shares = Shares::new(opts);

    let workload = generate_workload(opts, shares)?;
    let c0 = workload
        .consortia
        .first()
        .ok_or_else(|| anyhow!("internal: no consortium"))?;
    let genesis = c0.genesis.clone();
    let work = WorkDir::new(opts.keep.as_deref())?;
    let dir = work.path();
    // Dropping the cluster kills every node, on every path out of here.
    let Network {
        mut cluster,
        names,
        addrs,
        logs,
    } = start_network(dir, c0, opts, &bin)?;
    let groups = &workload.groups;
    let seen_height = warm_up_network(groups, &addrs, &logs)?;
    let track = new_track(groups, shares, c0, seen_height);
    let change = if opts.change {
        Some(ValidatorChange::new(&genesis, c0.admin_key().clone())?)
    } else {
        None
    };

    let measured = measure(
        &track,
        groups,
        &addrs,
        opts,
        shares,
        change.as_ref(),
        &mut cluster,
        &names,
    );
    let runs = match measured {
        Ok(runs) => runs,
        Err(e) => return Err(with_log_tails(e, &cluster, &names, &logs)),
    };
    let (fixed, fixed_blocks) = fixed_figures(&track, runs.fixed, opts, &shares.fixed_ranges());
    let (saturation, saturation_blocks) =
        saturation_figures(&track, runs.saturation, opts, &shares.saturation_ranges());
    let (down, down_blocks) = saturation_figures(
        &track,
        runs.down,
        opts,
        &shares.down_ranges(&runs.down_starts),
    );
    let (down_fixed, down_fixed_blocks) = fixed_figures(
        &track,
        runs.down_fixed,
        opts,
        &shares.down_fixed_ranges(&runs.down_fixed_starts),
    );

    // Correctness: all four nodes hold the same verified chain with every
    // accepted entry on it.
    let t = Instant::now();
    eprintln!("network: checking every block on every node...");
    let mut expected = accepted_ids(&track, groups);
    expected.extend(change.as_ref().and_then(ValidatorChange::entry));
    let sets = ValidatorSets::new(&genesis, change.as_ref());
    // With a validator change, the check reaches past its height, so
    // the certificates of the new set are checked too.
    let height = track.seen_height.load(Ordering::SeqCst).max(
        change
            .as_ref()
            .and_then(ValidatorChange::height)
            .unwrap_or(0)
            + 1,
    );
    for n in &names {
        cluster.wait_height(n, height, Duration::from_secs(60))?;
    }
    let (checked_entries, rounds) = check_chains(&addrs, &genesis, &sets, height, &expected)?;
    let check_s = t.elapsed().as_secs_f64();

    let mut node_counters = node_counters(&addrs)?;
    cluster.stop_all(Duration::from_secs(10));
    node_counters.extend(log_counters(&logs, &names));
    Ok(NetworkReport {
        fixed,
        saturation,
        down,
        down_fixed,
        change_height: change.as_ref().and_then(ValidatorChange::height),
        fixed_blocks,
        saturation_blocks,
        down_blocks,
        down_fixed_blocks,
        options: opts.clone(),
        mean_json_bytes: workload.mean_json_bytes,
        height,
        checked_entries,
        generate_s: workload.generate_s,
        check_s,
        left_out: groups.iter().map(|g| g.left_out).sum(),
        kinds: groups.iter().fold(Default::default(), |mut all, g| {
            for (k, n) in &g.kinds {
                *all.entry(*k).or_default() += n;
            }
            all
        }),
        node_counters,
        late_rounds: rounds.iter().filter(|r| **r > 0).count(),
        max_round: rounds.iter().copied().max().unwrap_or(0),
    })
}

fn check_options(opts: &Options) -> Result<()> {
    if opts.batch == 0 || opts.batch > 1000 {
        bail!("--network-batch must be 1 to 1000");
    }
    if opts.window == 0 || opts.rate.is_nan() || opts.rate <= 0.0 {
        bail!("--network-window and --network-rate must be positive");
    }
    Ok(())
}
