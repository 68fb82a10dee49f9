//! The faults themselves, one at a time on a settled network, in a seeded
//! random order: a validator killed (SIGKILL) and restarted, paused
//! (SIGSTOP) and resumed (SIGCONT), cut off from the other three (3/1),
//! or the network split in halves (2/2). Each is followed by the checks
//! that say the network took it: the three went on while one was cut
//! off, the halves halted, and every node caught up afterwards.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use waybill_testnet::{status, Cluster, Relay};

/// How long the network may take to settle (every node answering, all
/// within a block of each other) before a fault.
const SETTLE: Duration = Duration::from_secs(120);
/// How long a node may take to catch up after its fault ends.
const CATCH_UP: Duration = Duration::from_secs(120);
/// Heights the three must decide while the fourth is cut off.
const MINORITY_PROGRESS: u64 = 3;
/// How long they may take to.
const MINORITY_WAIT: Duration = Duration::from_secs(30);

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Kill,
    Pause,
    /// One node cut off from the other three.
    Minority,
    /// Two against two.
    Halves,
}

/// What the campaign did, and how long the network took to recover.
#[derive(Debug, Default, Clone)]
pub(super) struct Counts {
    pub(super) kills: usize,
    pub(super) pauses: usize,
    pub(super) minority: usize,
    pub(super) halves: usize,
    /// The longest time from the end of a fault until every node caught
    /// up, per kind (seconds).
    pub(super) recover_max_s: [f64; 4],
    /// The most heights decided while a 2/2 split lasted (0 or 1: a
    /// decision under way when the links were cut).
    pub(super) halves_max_advance: u64,
}

/// The faults in random order: `kills`, `pauses`, `minority` and `halves`
/// of each.
pub(super) fn schedule(counts: [usize; 4], rng: &mut ChaCha8Rng) -> Vec<Fault> {
    let kinds = [Fault::Kill, Fault::Pause, Fault::Minority, Fault::Halves];
    let mut all: Vec<Fault> = kinds
        .iter()
        .zip(counts)
        .flat_map(|(k, n)| std::iter::repeat_n(*k, n))
        .collect();
    // Fisher-Yates.
    for i in (1..all.len()).rev() {
        let j = below(rng, i + 1);
        all.swap(i, j);
    }
    all
}

/// A number in `0..n` (`n` small; the bias is negligible).
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// A duration between `lo` and `hi` milliseconds.
fn millis(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(lo + rng.next_u64() % (hi - lo + 1))
}

/// The network under attack.
pub(super) struct Campaign<'a> {
    pub(super) cluster: &'a mut Cluster,
    pub(super) relay: &'a Relay,
    pub(super) names: Vec<String>,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) rng: ChaCha8Rng,
    pub(super) counts: Counts,
}

impl Campaign<'_> {
    /// A campaign's random source, from the seed.
    pub(super) fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_5eed)
    }

    /// Runs the faults in order, printing a line every few.
    pub(super) fn run(
        &mut self,
        faults: &[Fault],
        progress: impl Fn(usize, &Counts),
    ) -> Result<()> {
        for (i, fault) in faults.iter().enumerate() {
            self.settle()
                .map_err(|e| e.context(format!("before fault {} ({fault:?})", i + 1)))?;
            match fault {
                Fault::Kill => self.kill(),
                Fault::Pause => self.pause(),
                Fault::Minority => self.minority(),
                Fault::Halves => self.halves(),
            }
            .map_err(|e| e.context(format!("fault {} of {} ({fault:?})", i + 1, faults.len())))?;
            progress(i + 1, &self.counts);
        }
        self.settle()
    }

    fn height(&self, k: usize) -> Option<u64> {
        status(self.addrs[k]).map(|s| s.0)
    }

    fn heights(&self) -> Vec<Option<u64>> {
        (0..self.addrs.len()).map(|k| self.height(k)).collect()
    }

    /// Waits until every node answers and all are within a block of the
    /// highest.
    fn settle(&mut self) -> Result<()> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let hs = self.heights();
            if let Some(hs) = hs.iter().copied().collect::<Option<Vec<u64>>>() {
                let (lo, hi) = (hs.iter().min(), hs.iter().max());
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    if hi - lo <= 1 {
                        return Ok(());
                    }
                }
            }
            for n in self.names.clone() {
                if self.cluster.exited(&n) {
                    let log = self.cluster.log(&n);
                    let last = log.lines().last().unwrap_or_default();
                    bail!("node {n} exited; its log ends: {last}");
                }
            }
            if Instant::now() >= deadline {
                bail!("the network did not settle within {SETTLE:?} (heights {hs:?})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The highest height any node but `except` reports.
    fn others_max(&self, except: &[usize]) -> u64 {
        (0..self.addrs.len())
            .filter(|k| !except.contains(k))
            .filter_map(|k| self.height(k))
            .max()
            .unwrap_or(0)
    }

    /// Waits until node `k` reaches `height`; the seconds it took.
    fn catch_up(&mut self, k: usize, height: u64, since: Instant) -> Result<f64> {
        let name = self.names[k].clone();
        self.cluster
            .wait_height(&name, height, CATCH_UP)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(since.elapsed().as_secs_f64())
    }

    fn note_recovery(&mut self, kind: usize, secs: f64) {
        let m = &mut self.counts.recover_max_s[kind];
        *m = m.max(secs);
    }

    /// SIGKILL one node, leave it down a little, restart it, and wait
    /// until it has caught up with the others.
    fn kill(&mut self) -> Result<()> {
        let k = below(&mut self.rng, self.names.len());
        let name = self.names[k].clone();
        self.cluster.kill(&name);
        std::thread::sleep(millis(&mut self.rng, 100, 2000));
        self.cluster.start(&name).map_err(|e| anyhow!("{e}"))?;
        let since = Instant::now();
        let target = self.others_max(&[k]);
        let s = self.catch_up(k, target, since)?;
        self.note_recovery(0, s);
        self.counts.kills += 1;
        Ok(())
    }

    /// SIGSTOP one node for a while, SIGCONT it, and wait until it has
    /// caught up.
    fn pause(&mut self) -> Result<()> {
        let k = below(&mut self.rng, self.names.len());
        let name = self.names[k].clone();
        if !self.cluster.pause(&name) {
            bail!("could not pause {name}");
        }
        std::thread::sleep(millis(&mut self.rng, 300, 3000));
        if !self.cluster.resume(&name) {
            bail!("could not resume {name}");
        }
        let since = Instant::now();
        let target = self.others_max(&[k]);
        let s = self.catch_up(k, target, since)?;
        self.note_recovery(1, s);
        self.counts.pauses += 1;
        Ok(())
    }

    /// Cuts one node off: the other three must go on deciding; after the
    /// cut heals, the one must catch up.
    fn minority(&mut self) -> Result<()> {
        let k = below(&mut self.rng, self.names.len());
        let alone = self.names[k].clone();
        let rest: Vec<&str> = self
            .names
            .iter()
            .filter(|n| **n != alone)
            .map(String::as_str)
            .collect();
        self.relay
            .partition(&[&[alone.as_str()], &rest])
            .map_err(|e| anyhow!("{e}"))?;
        let start = self.others_max(&[k]);
        let deadline = Instant::now() + MINORITY_WAIT;
        loop {
            let lowest = (0..self.addrs.len())
                .filter(|j| *j != k)
                .map(|j| self.height(j).unwrap_or(0))
                .min()
                .unwrap_or(0);
            if lowest >= start + MINORITY_PROGRESS {
                break;
            }
            if Instant::now() >= deadline {
                self.relay.heal_all();
                bail!(
                    "with {alone} cut off, the other three went from height {start} only to {lowest} in {MINORITY_WAIT:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.relay.heal_all();
        let since = Instant::now();
        let target = self.others_max(&[k]);
        let s = self.catch_up(k, target, since)?;
        self.note_recovery(2, s);
        self.counts.minority += 1;
        Ok(())
    }

    /// Splits the network two against two: neither half holds the two
    /// thirds a decision needs, so nothing past a decision already under
    /// way may be decided; after the split heals, every node must decide
    /// again.
    fn halves(&mut self) -> Result<()> {
        let n = self.names.len();
        let a = below(&mut self.rng, n);
        let b = (a + 1 + below(&mut self.rng, n - 1)) % n;
        let side = |inside: bool| -> Vec<&str> {
            (0..n)
                .filter(|j| (*j == a || *j == b) == inside)
                .map(|j| self.names[j].as_str())
                .collect()
        };
        let (one, other) = (side(true), side(false));
        self.relay
            .partition(&[&one, &other])
            .map_err(|e| anyhow!("{e}"))?;
        let at_cut = self.others_max(&[]);
        std::thread::sleep(millis(&mut self.rng, 2000, 4000));
        let after = self.others_max(&[]);
        self.relay.heal_all();
        let advance = after.saturating_sub(at_cut);
        self.counts.halves_max_advance = self.counts.halves_max_advance.max(advance);
        if advance > 1 {
            bail!(
                "split {one:?} against {other:?}, the network still decided heights {} to {after}",
                at_cut + 1
            );
        }
        let since = Instant::now();
        for k in 0..n {
            let s = self.catch_up(k, after + 2, since)?;
            self.note_recovery(3, s);
        }
        self.counts.halves += 1;
        Ok(())
    }
}
