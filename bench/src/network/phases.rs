//! The four measured phases, a fixed offered rate, saturation, and
//! saturation then the fixed rate again with one validator of four
//! stopped, each followed by a drain until its entries are final, with the poller and the fetcher
//! watching the chain throughout ([`measure`]); and the figures each
//! phase yields ([`fixed_figures`], [`saturation_figures`]).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use waybill_testnet::Cluster;

use super::change::ValidatorChange;
use super::groups::Group;
use super::submit::{submit_fixed, submit_from_every_group, submit_saturated, Sent};
use super::track::{block_stats, count_final, drain, fetcher, latencies, poller, take_rtts, Track};
use super::types::{Blocks, Options, Phase, Shares, NODES};
use crate::stats::percentile;

/// What the fixed-rate phase did.
pub(super) struct FixedRun {
    sent: Vec<Sent>,
    /// When the last request was sent (ns since base).
    sent_ns: u64,
    /// When the phase started (ns since base).
    start_ns: u64,
    full: u64,
    rtts: Vec<f64>,
}

/// What a saturation phase did.
pub(super) struct SaturationRun {
    sent: Vec<Sent>,
    /// When submission started and ended (ns since base).
    from_ns: u64,
    to_ns: u64,
    full: u64,
    rtts: Vec<f64>,
}

/// What the four phases did.
pub(super) struct Runs {
    pub(super) fixed: FixedRun,
    pub(super) saturation: SaturationRun,
    pub(super) down: SaturationRun,
    /// Where the down phase started in each group.
    pub(super) down_starts: Vec<usize>,
    /// The fixed rate with one validator down.
    pub(super) down_fixed: FixedRun,
    /// Where it started in each group.
    pub(super) down_fixed_starts: Vec<usize>,
}

/// The validator the one-validator-down phase stops: the last.
pub const DOWN: usize = NODES - 1;

/// Runs the four phases, each until its entries are final, with the
/// poller and the fetcher watching the chain throughout. The down phases
/// kill validator [`DOWN`] and restart it after the second one's drain.
#[allow(clippy::too_many_arguments)]
pub(super) fn measure(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
    change: Option<&ValidatorChange>,
    cluster: &mut Cluster,
    names: &[String],
) -> Result<Runs> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let poll = s.spawn(move || poller(track, addrs, tx));
        let fetch = s.spawn(move || fetcher(track, addrs, rx));
        let result = (|| {
            let fixed = fixed_phase(track, groups, addrs, opts, shares)?;
            let saturation = saturation_phase(track, groups, addrs, opts, shares, change)?;
            let down_starts = shares.down_starts(&track.accepted_counts());
            let (down, down_fixed_starts, down_fixed) = down_phases(
                track,
                groups,
                addrs,
                opts,
                shares,
                &down_starts,
                cluster,
                names,
            )?;
            Ok(Runs {
                fixed,
                saturation,
                down,
                down_starts,
                down_fixed,
                down_fixed_starts,
            })
        })();
        track.stop.store(true, Ordering::SeqCst);
        let _ = poll.join();
        let _ = fetch.join();
        result
    })
}

/// Phase 1: a fixed offered rate, then a drain.
fn fixed_phase(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
) -> Result<FixedRun> {
    eprintln!(
        "network: fixed rate {:.0} entries/s for {:.0} s...",
        opts.rate,
        opts.phase.as_secs_f64()
    );
    // Entry 0 of each group is its warm-up entry.
    let ranges = vec![(1, shares.fixed); groups.len()];
    fixed_rate(track, groups, addrs, opts, shares, &ranges)
}

/// The fixed offered rate over entries `ranges[k]` of each group `k`,
/// then a drain.
fn fixed_rate(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
    ranges: &[(usize, usize)],
) -> Result<FixedRun> {
    let rate = opts.rate / NODES as f64;
    let start = Instant::now() + Duration::from_millis(20);
    let sent = submit_from_every_group(track, groups, addrs, |k, g, addr| {
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        submit_fixed(
            track,
            addr,
            k,
            g,
            ranges[k],
            k * shares.per_node,
            rate,
            start,
            opts.batch,
        )
    })?;
    let sent_ns = sent.iter().map(|s| s.last_ns).max().unwrap_or(0);
    let full = track.full.swap(0, Ordering::SeqCst);
    let rtts = take_rtts(track);
    drain(track, Duration::from_secs(60) + opts.phase)?;
    let start_ns = u64::try_from(start.duration_since(track.base).as_nanos()).unwrap_or(0);
    Ok(FixedRun {
        sent,
        sent_ns,
        start_ns,
        full,
        rtts,
    })
}

/// Phases 3 and 4: saturation, then the fixed offered rate, with
/// validator [`DOWN`] killed (SIGKILL) first; its group sends to the
/// first node instead (its earlier entries are all final by now, so none
/// of them can be missing there). Saturation measures what throughput is
/// left, the fixed rate what finality latency a client sees (at
/// saturation latency is the load's own queue). After the second drain
/// the validator is restarted; the final check waits for it to catch up.
#[allow(clippy::too_many_arguments)]
fn down_phases(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
    starts: &[usize],
    cluster: &mut Cluster,
    names: &[String],
) -> Result<(SaturationRun, Vec<usize>, FixedRun)> {
    let name = names
        .get(DOWN)
        .ok_or_else(|| anyhow!("internal: no validator {}", DOWN + 1))?;
    eprintln!(
        "network: {name} killed; saturation on the other three for {:.0} s...",
        opts.phase.as_secs_f64()
    );
    cluster.kill(name);
    let mut to: Vec<SocketAddr> = addrs.to_vec();
    to[DOWN] = addrs[0];
    let saturation = saturated(track, groups, &to, opts, shares, starts, None)?;
    let fixed_starts = shares.down_fixed_starts(&track.accepted_counts());
    eprintln!(
        "network: {name} still down; fixed rate {:.0} entries/s on the other three for {:.0} s...",
        opts.rate,
        opts.phase.as_secs_f64()
    );
    let ranges: Vec<(usize, usize)> = fixed_starts
        .iter()
        .map(|s| (*s, s + shares.fixed))
        .collect();
    let fixed = fixed_rate(track, groups, &to, opts, shares, &ranges)?;
    cluster
        .start(name)
        .map_err(|e| anyhow!("restarting {name}: {e}"))?;
    Ok((saturation, fixed_starts, fixed))
}

/// Phase 2: saturation, then a drain; with a `change`, made two fifths
/// into the phase (after the warm-up, well before the end).
fn saturation_phase(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
    change: Option<&ValidatorChange>,
) -> Result<SaturationRun> {
    eprintln!(
        "network: saturation for {:.0} s (at most {} unfinalised entries per node)...",
        opts.phase.as_secs_f64(),
        opts.window
    );
    let starts = vec![shares.fixed; groups.len()];
    saturated(track, groups, addrs, opts, shares, &starts, change)
}

/// Saturation from entry `starts[k]` of each group `k`, then a drain.
fn saturated(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    opts: &Options,
    shares: Shares,
    starts: &[usize],
    change: Option<&ValidatorChange>,
) -> Result<SaturationRun> {
    let sat_start = Instant::now();
    let from_ns = track.now_ns();
    let deadline = sat_start + opts.phase;
    let sent = std::thread::scope(|s| {
        let changer = change.map(|c| {
            s.spawn(move || {
                std::thread::sleep(opts.phase * 2 / 5);
                c.submit(addrs[0])
            })
        });
        let sent = submit_from_every_group(track, groups, addrs, |k, g, addr| {
            submit_saturated(
                track,
                addr,
                k,
                g,
                (starts[k], starts[k] + shares.saturation),
                k * shares.per_node,
                opts.window,
                deadline,
                opts.batch,
            )
        });
        if let Some(h) = changer {
            h.join()
                .map_err(|_| anyhow::anyhow!("the validator change panicked"))??;
        }
        sent
    })?;
    let to_ns = track.now_ns().max(from_ns + 1);
    let full = track.full.swap(0, Ordering::SeqCst);
    let rtts = take_rtts(track);
    drain(track, Duration::from_secs(120))?;
    Ok(SaturationRun {
        sent,
        from_ns,
        to_ns,
        full,
        rtts,
    })
}

/// A fixed-rate phase's figures and blocks, over its entries `ranges`.
pub(super) fn fixed_figures(
    track: &Track,
    run: FixedRun,
    opts: &Options,
    ranges: &[(usize, usize)],
) -> (Phase, Blocks) {
    let FixedRun {
        sent,
        sent_ns,
        start_ns,
        full,
        mut rtts,
    } = run;
    let lat = latencies(track, ranges);
    let n: usize = sent.iter().map(|s| s.n).sum();
    let dur_s = opts.phase.as_secs_f64();
    // Finalised entries/s in the steady part of the phase: from a fifth
    // into it to its end.
    let phase_ns = u64::try_from(opts.phase.as_nanos()).unwrap_or(u64::MAX / 4);
    let warm = start_ns + phase_ns / 5;
    let end_ns = start_ns + phase_ns;
    let in_window = count_final(track, ranges, warm, end_ns);
    rtts.sort_by(|a, b| a.total_cmp(b));
    let phase = Phase {
        entries: n,
        offered_per_s: n as f64 / (sent_ns.saturating_sub(start_ns) as f64 / 1e9).max(dur_s),
        finalised_per_s: in_window as f64 / (end_ns - warm) as f64 * 1e9,
        p50_ms: percentile(&lat, 50.0),
        p95_ms: percentile(&lat, 95.0),
        p99_ms: percentile(&lat, 99.0),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        full,
        requests: rtts.len(),
        rtt_p50_ms: percentile(&rtts, 50.0),
        rtt_p99_ms: percentile(&rtts, 99.0),
        lag_ms: (sent_ns as f64 - start_ns as f64) / 1e6 - dur_s * 1e3,
        ran_out: false,
    };
    (phase, block_stats(track, warm, end_ns))
}

/// The saturation phase's figures and blocks: finalised entries/s over
/// the window after a warm-up of a fifth of the phase, up to the end of
/// submission.
pub(super) fn saturation_figures(
    track: &Track,
    run: SaturationRun,
    opts: &Options,
    ranges: &[(usize, usize)],
) -> (Phase, Blocks) {
    let SaturationRun {
        sent,
        from_ns,
        to_ns,
        full,
        mut rtts,
    } = run;
    let warm = from_ns + (to_ns - from_ns) / 5;
    let in_window = count_final(track, ranges, warm, to_ns);
    let lat = latencies(track, ranges);
    let n: usize = sent.iter().map(|s| s.n).sum();
    rtts.sort_by(|a, b| a.total_cmp(b));
    let phase = Phase {
        entries: n,
        offered_per_s: n as f64 / ((to_ns - from_ns) as f64 / 1e9),
        finalised_per_s: in_window as f64 / ((to_ns - warm) as f64 / 1e9),
        p50_ms: percentile(&lat, 50.0),
        p95_ms: percentile(&lat, 95.0),
        p99_ms: percentile(&lat, 99.0),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        full,
        requests: rtts.len(),
        rtt_p50_ms: percentile(&rtts, 50.0),
        rtt_p99_ms: percentile(&rtts, 99.0),
        lag_ms: 0.0,
        ran_out: sent.iter().any(|s| s.n >= opts.saturation_entries),
    };
    (phase, block_stats(track, warm, to_ns))
}
