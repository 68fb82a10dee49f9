//! One lying validator of four (`waybill-byzantine-node`, the real node
//! with lies around its consensus app and network; see
//! `crates/waybill-byzantine`): the three honest validators never commit
//! an invalid block, never fork, and keep finalising, and a node that
//! syncs while the liar serves bad blocks and claims a false height gets
//! the honest chain.
//!
//! The liar writes each lie it tells to a record file; every test first
//! waits until the record shows each of its attacks was really made, so
//! a test cannot pass because the liar failed to lie. Each test fails if
//! the defence against its lies is removed (checked by hand: see the
//! Byzantine section of ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use waybill_core::entry::SignedEntry;

use super::*;

/// The liar: the fourth validator.
const LIAR: &str = "v4";
const HONEST: [&str; 3] = ["v1", "v2", "v3"];

/// The lies in the liar's record: kind -> [(height, detail)].
fn told(record: &Path) -> BTreeMap<String, Vec<(u64, String)>> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let mut out: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(h), Some(detail)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(h) = h.parse() else { continue };
        out.entry(kind.to_string())
            .or_default()
            .push((h, detail.to_string()));
    }
    out
}

/// A network whose `v4` runs `waybill-byzantine-node` telling `lies`,
/// recording them in `<net dir>/lies.log`.
fn with_liar(chain: &str, full_nodes: &[&str], lies: &str) -> (Net, PathBuf, PathBuf) {
    let mut n = Net::generate(chain, full_nodes, Duration::from_secs(150));
    let record = n.cluster.net.dir.join("lies.log");
    let entry = n.cluster.net.dir.join("custody-entry.json");
    let (r, e) = (record.display().to_string(), entry.display().to_string());
    n.cluster.use_binary(
        LIAR,
        &support::waybill_byzantine_node(),
        &[
            ("WAYBILL_BYZANTINE", lies),
            ("WAYBILL_BYZANTINE_RECORD", &r),
            ("WAYBILL_BYZANTINE_ENTRY", &e),
        ],
    );
    (n, record, entry)
}

/// Load: a fresh green lot from the cooperative, to v1 (one node, so
/// that its nonces arrive in order).
fn load(n: &mut Net) -> SignedEntry {
    // Named after its nonce: a new lot each time.
    let i = n.signers.next_nonce("cooperative");
    let e = n.signers.sign(
        "cooperative",
        produce(
            &lot(&format!("BYZ-{i:05}")),
            "Green coffee, washed",
            10,
            &[],
        ),
    );
    n.submit("v1", &e);
    e
}

/// Keeps submitting load until `done` holds of the liar's record (or the
/// time runs out); returns the entries submitted.
fn load_until(
    n: &mut Net,
    record: &Path,
    what: &str,
    timeout: Duration,
    done: impl Fn(&BTreeMap<String, Vec<(u64, String)>>) -> bool,
) -> Vec<SignedEntry> {
    let end = Instant::now() + n.within(timeout);
    let mut sent = Vec::new();
    loop {
        let t = told(record);
        if done(&t) {
            return sent;
        }
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for the liar to {what}; it told: {t:?}"
        );
        let e = load(n);
        sent.push(e);
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// What every test checks: the honest nodes (and `more`) finalise past
/// `past`, agree on one certified chain that obeys the rules and holds
/// every entry of `load`, and none of them ever decided a block it could
/// not commit (an invalid block). Returns the height they all have.
fn honest_chain_holds(n: &mut Net, more: &[&str], past: u64, load: &[SignedEntry]) -> u64 {
    let names = names(more);
    for name in &names {
        n.wait_height(name, past + 3, Duration::from_secs(60));
    }
    for e in load {
        n.wait_final(&names, e, Duration::from_secs(30));
    }
    let common = n.min_height(&names);
    n.assert_same_chain(&names, common);
    for name in &names {
        let log = n.cluster.log(name);
        assert!(
            !log.contains("cannot commit the decided block"),
            "{name} decided a block it could not commit"
        );
    }
    common
}

fn names<'a>(more: &[&'a str]) -> Vec<&'a str> {
    let mut names: Vec<&str> = HONEST.to_vec();
    names.extend_from_slice(more);
    names
}

/// Kills the liar, stops the others and re-verifies their data dirs.
fn finish(n: &mut Net, more: &[&str], common: u64) {
    n.cluster.kill(LIAR);
    n.stop_and_check(&names(more), common);
}

/// The liar proposes, in turn, blocks with a broken entry signature, with
/// an entry that breaks the custody rules, and with a wrong entries root
/// (every other of its proposals honest, so it is never skipped as a
/// validator that is down). None is committed; the chain goes on.
#[test]
fn a_validator_proposing_invalid_blocks_is_outvoted() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let (mut n, record, entry_file) =
        with_liar("byzantine-proposals", &[], "bad-signature,custody,bad-root");
    for v in VALIDATORS {
        n.start(v);
    }
    for v in HONEST {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    // The lot the liar's entry steals: produced by the cooperative.
    let story = green_coffee_story(&mut n.signers, "BYZ");
    n.submit("v1", &story.entries[step::PRODUCE_GREEN]);
    // Only the production (the cooperative's nonce 1) is submitted.
    n.signers.nonces.insert("cooperative".into(), 1);
    n.wait_final(
        &HONEST,
        &story.entries[step::PRODUCE_GREEN],
        Duration::from_secs(30),
    );
    // The retailer dispatches the cooperative's lot to the roaster: a
    // custody violation, validly signed with the retailer's first nonce.
    // The honest nodes refuse it.
    let theft = n.signers.sign_with_nonce(
        "retailer",
        1,
        story.entries[step::DISPATCH_SEA].entry.body.clone(),
    );
    let (code, v) = post_entry(n.api("v1"), &theft);
    assert_eq!(code, 422, "{v}");
    assert!(v.to_string().contains("does not hold lot"), "{v}");
    std::fs::write(&entry_file, serde_json::to_vec(&theft).unwrap()).unwrap();
    eprintln!(
        "[{:?}] the lot exists; the liar may steal it",
        started.elapsed()
    );

    let kinds = ["bad-signature", "custody", "bad-root"];
    let sent = load_until(
        &mut n,
        &record,
        "propose each kind of invalid block",
        Duration::from_secs(90),
        |t| kinds.iter().all(|k| t.contains_key(*k)),
    );
    let lies = told(&record);
    let last = lies.values().flatten().map(|(h, _)| *h).max().unwrap_or(0);
    eprintln!(
        "[{:?}] the liar proposed invalid blocks: {lies:?}",
        started.elapsed()
    );
    let common = honest_chain_holds(&mut n, &[], last, &sent);
    // No proposed lie is in the chain, and the stolen lot never moved.
    for (kind, at) in lies.iter().filter(|(k, _)| kinds.contains(&k.as_str())) {
        for (h, detail) in at {
            let hash = detail.split(' ').nth(1).unwrap_or_default();
            let served = n
                .block("v1", *h)
                .expect("an honest block at every lie's height");
            assert_ne!(served.hash, hash, "the {kind} block at {h} was committed");
        }
    }
    let (code, v) = n.entry_status("v1", &theft.id());
    assert!(code != 200 || v["status"] != "final", "{v}");
    finish(&mut n, &[], common);
    eprintln!("[{:?}] done at height {common}", started.elapsed());
}

/// The liar equivocates (a second valid block proposed and streamed in
/// each of its rounds, a second vote for another value in each of its
/// steps), forges votes in the other three validators' names for a block
/// nobody proposed, and replays its votes of two heights before, as they
/// were and re-dated. The chain goes on, one chain on every honest node.
#[test]
fn equivocating_forged_and_replayed_votes_change_nothing() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let (mut n, record, _) = with_liar(
        "byzantine-votes",
        &[],
        "equivocate,forge-votes,replay-votes",
    );
    for v in VALIDATORS {
        n.start(v);
    }
    for v in HONEST {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    let sent = load_until(
        &mut n,
        &record,
        "equivocate, forge and replay",
        Duration::from_secs(60),
        |t| {
            let eq = t.get("equivocate").map(Vec::as_slice).unwrap_or_default();
            eq.iter()
                .filter(|(_, d)| d.starts_with("second proposal"))
                .count()
                >= 2
                && eq.iter().any(|(_, d)| d.starts_with("second precommit"))
                && t.contains_key("forge-votes")
                && t.contains_key("replay-votes")
        },
    );
    let lies = told(&record);
    let last = lies.values().flatten().map(|(h, _)| *h).max().unwrap_or(0);
    eprintln!(
        "[{:?}] the liar told {} lies up to height {last}",
        started.elapsed(),
        lies.values().map(Vec::len).sum::<usize>()
    );
    let common = honest_chain_holds(&mut n, &[], last, &sent);
    // The honest nodes saw the double proposals and votes as such:
    // Malachite hands the evidence to the loop at finalisation.
    assert!(
        HONEST
            .iter()
            .any(|v| n.cluster.log(v).contains("misbehaviour evidence")),
        "no honest node recorded the liar's equivocation"
    );
    finish(&mut n, &[], common);
    eprintln!("[{:?}] done at height {common}", started.elapsed());
}

/// The liar cosigns, in its precommits, checkpoints of the log with a
/// wrong root. The honest validators, which work out each block's
/// checkpoint, refuse those precommits and decide without it; each honest
/// node's checkpoint note of a height where the liar lied verifies on its
/// own against the genesis, with no line of the liar's. (The liar, which
/// refuses every honest cosignature by its own wrong log, stalls: its
/// problem.)
#[test]
fn a_validator_cosigning_a_wrong_log_is_left_out_of_the_checkpoints() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let (mut n, record, _) = with_liar("byzantine-cosign", &[], "bad-cosignature");
    for v in VALIDATORS {
        n.start(v);
    }
    for v in HONEST {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    let sent = load_until(
        &mut n,
        &record,
        "cosign wrong checkpoints",
        Duration::from_secs(60),
        |t| t.contains_key("bad-cosignature"),
    );
    let lies = told(&record);
    let heights: BTreeSet<u64> = lies["bad-cosignature"].iter().map(|(h, _)| *h).collect();
    let last = heights.iter().max().copied().unwrap_or(0);
    eprintln!(
        "[{:?}] the liar cosigned wrong checkpoints at heights {heights:?}",
        started.elapsed()
    );
    let common = honest_chain_holds(&mut n, &[], last, &sent);
    for h in heights.iter().filter(|h| **h >= 1 && **h <= common) {
        for v in HONEST {
            let (cp, _) = node_checkpoint(&n, v, *h);
            assert!(
                !cosigner_names(&cp).iter().any(|c| c == LIAR),
                "{v}'s note of block {h} has the liar's line: {cp}"
            );
        }
    }
    finish(&mut n, &[], common);
    eprintln!("[{:?}] done at height {common}", started.elapsed());
}

/// A full node joins late, while the three honest validators are paused
/// (SIGSTOP): the liar is the only peer that answers, and it serves every
/// block asked of it with a broken entry (an empty one with a broken
/// commit signature, every other time), claims a tip 50 heights above its own, and serves
/// the heights it does not have as blocks it made up and certified
/// alone. The full node commits none of it; once the validators resume
/// it syncs the honest chain from them (and the validators, which ask
/// the liar for its false heights too, finalise on).
#[test]
fn a_syncing_node_gets_the_honest_chain_despite_a_lying_peer() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let (mut n, record, _) = with_liar(
        "byzantine-sync",
        &["auditor"],
        "serve-bad-blocks,lie-height",
    );
    for v in VALIDATORS {
        n.start(v);
    }
    for v in HONEST {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    // Blocks with entries, for the liar to break.
    let mut sent = Vec::new();
    while n.min_height(&HONEST) < 12 {
        let e = load(&mut n);
        sent.push(e);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            n.within(Duration::from_secs(1)) > Duration::ZERO,
            "out of time"
        );
    }
    for v in HONEST {
        n.wait_final(&[v], sent.last().unwrap(), Duration::from_secs(30));
        assert!(n.cluster.pause(v), "cannot pause {v}");
    }
    let at_join = n.max_height(&[LIAR]);
    eprintln!(
        "[{:?}] honest validators paused, the liar at {at_join}; starting the full node",
        started.elapsed()
    );
    n.start("auditor");
    // The only node asking for blocks now is the full node.
    n.wait_until(
        "the liar to serve the full node a block with a broken entry",
        Duration::from_secs(30),
        || {
            told(&record)
                .get("serve-bad-blocks")
                .is_some_and(|l| l.iter().any(|(_, d)| d.contains("an entry's signature")))
        },
    );
    // Time for the full node to judge it before others answer.
    std::thread::sleep(Duration::from_millis(500));
    let t = told(&record);
    let lh = t.get("lie-height").map(Vec::as_slice).unwrap_or_default();
    assert!(
        lh.iter().any(|(_, d)| d.starts_with("status claims")),
        "{t:?}"
    );
    // (The liar serves an empty block honestly every other time: the
    // full node may have the first few, the same as the honest chain's,
    // which the end checks.)
    assert!(
        n.height("auditor") < at_join,
        "the full node synced the liar's chain"
    );
    for v in HONEST {
        assert!(n.cluster.resume(v), "cannot resume {v}");
    }
    eprintln!(
        "[{:?}] the full node refused the liar's blocks; validators resumed",
        started.elapsed()
    );
    n.wait_height("auditor", at_join, Duration::from_secs(60));
    let more = load_until(
        &mut n,
        &record,
        "serve made-up blocks",
        Duration::from_secs(30),
        |t| {
            t.get("lie-height")
                .is_some_and(|l| l.iter().any(|(_, d)| d.starts_with("served made-up")))
        },
    );
    sent.extend(more);
    let lies = told(&record);
    let last = n.max_height(&HONEST);
    eprintln!(
        "[{:?}] the full node synced to {at_join}; the liar served {} bad blocks and {} made-up ones",
        started.elapsed(),
        lies.get("serve-bad-blocks").map_or(0, Vec::len),
        lies.get("lie-height")
            .map_or(0, |l| l.iter().filter(|(_, d)| d.starts_with("served")).count()),
    );
    let common = honest_chain_holds(&mut n, &["auditor"], last, &sent);
    finish(&mut n, &["auditor"], common);
    eprintln!("[{:?}] done at height {common}", started.elapsed());
}
