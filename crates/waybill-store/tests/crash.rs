//! Crash safety: a child process appends blocks to a sled ledger until it
//! is killed with SIGKILL; the ledger must reopen, pass `check()`, and hold
//! every block the child reported as committed (append flushes before it
//! returns), and nothing of a block it did not finish.
//!
//! The child is this test binary itself, run with `--exact crash_child`
//! and `WAYBILL_CRASH_CHILD=<dir>`; without that variable the child test
//! returns at once, so it passes in a normal run.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tempfile::TempDir;
use waybill_store::{create_dir, MARKER_FILE};

use support::*;

const CHILD_ENV: &str = "WAYBILL_CRASH_CHILD";
const CHILD_TEST: &str = "crash_child";
/// Kill/reopen cycles (`WAYBILL_CRASH_CYCLES` overrides, for soak runs).
const CYCLES: usize = 5;
const ENTRIES_PER_BLOCK: usize = 50;
/// Commits to see from a child before it may be killed.
const MIN_COMMITS: usize = 3;
/// How long one child may take to report those commits.
const CHILD_DEADLINE: Duration = Duration::from_secs(30);

/// The child: opens (or creates) the ledger in `$WAYBILL_CRASH_CHILD` and
/// appends blocks of valid entries forever, printing `COMMITTED <height>`
/// after each append has returned.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let c = consortium();
    let mut ledger = if dir.join(MARKER_FILE).exists() {
        reopen(&dir).expect("the child opens the ledger")
    } else {
        create_dir(&dir, c.genesis.clone()).expect("the child creates the ledger")
    };
    let start = ledger.height();
    // Nonces, lots, holders and open shipments all come from the stored
    // state, so the entries stay valid whatever height the last child
    // reached; new ids carry the start height so they never repeat.
    let mut w = Workload::resume(&c, &ledger.state().to_state(), start, &format!("h{start}-"));
    println!("READY {start}");
    loop {
        let entries = w.take(ENTRIES_PER_BLOCK).expect("the workload");
        let header = append_block(&c, &mut ledger, entries);
        println!("COMMITTED {}", header.height);
    }
}

/// Kills and reaps the child however the test ends.
struct ChildGuard {
    child: Child,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

impl ChildGuard {
    /// Starts a child on `dir`; its stdout lines arrive on the receiver.
    fn spawn(dir: &Path) -> (Self, Receiver<String>) {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let stdout = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        (
            ChildGuard {
                child,
                stdout: Some(stdout),
                stderr: Some(stderr),
            },
            rx,
        )
    }

    /// SIGKILL (what `Child::kill` sends on Unix), reap, and collect stderr.
    fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What one child reported.
#[derive(Debug, Default)]
struct Reports {
    start: Option<u64>,
    committed: Vec<u64>,
}

impl Reports {
    fn take(&mut self, line: &str) {
        // libtest prints `test crash_child ... ` without a newline first.
        if let Some((_, h)) = line.split_once("READY ") {
            self.start = Some(h.trim().parse().expect("a height"));
        } else if let Some(h) = line.strip_prefix("COMMITTED ") {
            self.committed.push(h.trim().parse().expect("a height"));
        }
    }
}

#[cfg(unix)]
#[test]
fn sigkill_while_appending_never_loses_or_tears_a_block() {
    let c = consortium();
    let tmp = TempDir::new().expect("tempdir");
    let dir = tmp.path().join("ledger");
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED_C4A5);
    let started = Instant::now();
    let mut height = 0u64;

    let cycles = std::env::var("WAYBILL_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES);
    for cycle in 0..cycles {
        let (mut child, rx) = ChildGuard::spawn(&dir);
        let mut reports = Reports::default();
        let deadline = Instant::now() + CHILD_DEADLINE;
        while reports.committed.len() < MIN_COMMITS {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => reports.take(&line),
                Err(RecvTimeoutError::Timeout) => {
                    let stderr = child.kill();
                    panic!("cycle {cycle}: the child reported {reports:?} in {CHILD_DEADLINE:?}; its stderr:\n{stderr}");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let stderr = child.kill();
                    panic!(
                        "cycle {cycle}: the child stopped after {reports:?}; its stderr:\n{stderr}"
                    );
                }
            }
        }
        // Let it run on into a random point of some later block.
        thread::sleep(Duration::from_millis(rng.next_u64() % 201));
        let stderr = child.kill();
        // Whatever it printed before it died counts too.
        while let Ok(line) = rx.try_recv() {
            reports.take(&line);
        }
        assert_eq!(
            reports.start,
            Some(height),
            "cycle {cycle}: the child continues from the reopened tip; stderr:\n{stderr}"
        );
        let last = *reports.committed.last().expect("commits");
        assert_eq!(
            reports.committed,
            (height + 1..=last).collect::<Vec<_>>(),
            "cycle {cycle}: heights are consecutive"
        );

        let ledger = reopen(&dir)
            .unwrap_or_else(|e| panic!("cycle {cycle}: the killed ledger must open: {e}"));
        let report = ledger
            .check()
            .unwrap_or_else(|e| panic!("cycle {cycle}: the killed ledger must check: {e}"));
        height = ledger.height();
        assert!(
            height >= last,
            "cycle {cycle}: block {last} was reported committed but the ledger is at {height}"
        );
        assert!(
            height <= last + 1,
            "cycle {cycle}: the ledger is at {height}, more than one block past the last report {last}"
        );
        assert_eq!(report.blocks, height);
        assert_eq!(report.entries, height * ENTRIES_PER_BLOCK as u64);
        assert_eq!(report.state_digest, ledger.state().digest());
        // Nothing of a block after the tip reached the disk.
        assert_eq!(ledger.block(height + 1).expect("read"), None);
        assert_eq!(ledger.header(height + 1).expect("read"), None);
        assert_eq!(ledger.entry_ids(height + 1).expect("read"), None);
        // The newest lot still has a verifiable trail.
        let newest = ledger
            .block(height)
            .expect("read")
            .expect("tip block")
            .entries
            .iter()
            .rev()
            .find_map(|e| waybill_core::trail::produce_of(&e.entry.body).map(|p| p.lot.clone()));
        if let Some(lot) = newest {
            verify_trail(&c, &ledger.trail(&lot).expect("trail"));
        }
        eprintln!(
            "cycle {cycle}: killed after report {last}, reopened at {height} ({:?} so far)",
            started.elapsed()
        );
    }
}
