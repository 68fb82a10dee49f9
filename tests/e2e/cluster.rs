//! End to end on real `waybill-node` processes: four validators agreeing by
//! BFT consensus on loopback, entries gossiped and finalised, one crashed
//! validator tolerated and caught up, two crashed validators halting the
//! chain (safety over liveness), a full node joining late and syncing
//! the whole certified chain, a validator's power changed by a
//! governance entry under load (Malachite takes each height's set from
//! the ledger), and a member outside genesis admitted, made a validator,
//! while a retired validator is cut off (`joining.rs`), and one lying
//! validator of four outvoted (`byzantine.rs`).
//!
//! Each test makes its own network in a temporary directory
//! (`waybill_testnet`); the processes are killed when the test ends,
//! also on failure, and a failing test prints the tail of every node's log.
//! Every wait is bounded by the test's total time budget. Set
//! `WAYBILL_NODE_LOG` to change the nodes' `RUST_LOG`.

mod byzantine;
mod coffee;
mod joining;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use coffee::*;
use serde_json::Value;
use waybill_core::block::{self, Block, CommitCertificate};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::gs1::LotId;
use waybill_core::trail::{self, Policy, Trail, TrailReport};
use waybill_testnet::{self as testnet, encode_segment, Cluster};

use crate::support;

/// Short, so heights advance quickly.
const BLOCK_INTERVAL_MS: u64 = 150;
const VALIDATORS: [&str; 4] = ["v1", "v2", "v3", "v4"];

use support::one_cluster_at_a_time;

/// A block as `GET /v1/blocks/{h}` serves it.
struct Served {
    hash: String,
    block: Block,
    certificate: Option<CommitCertificate>,
}

/// A running test network with its member keys and a time budget, in a
/// temporary directory (removed after the processes are killed, unless
/// `WAYBILL_KEEP_TESTNET` is set).
struct Net {
    cluster: Cluster,
    signers: Signers,
    deadline: Instant,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Net {
    fn drop(&mut self) {
        if std::env::var_os("WAYBILL_KEEP_TESTNET").is_some() {
            if let Some(d) = self.dir.take() {
                eprintln!("keeping {}", d.keep().display());
            }
        }
        if !std::thread::panicking() {
            return;
        }
        for n in &self.cluster.net.nodes {
            let log = self.cluster.log(&n.name);
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "----- last {} lines of {}'s log -----\n{}",
                tail.len(),
                n.name,
                tail.join("\n")
            );
        }
    }
}

impl Net {
    /// Generates a network in a new temporary directory (not started).
    fn generate(chain: &str, full_nodes: &[&str], budget: Duration) -> Net {
        let dir = tempfile::Builder::new()
            .prefix("waybill-cluster-")
            .tempdir()
            .expect("a temporary directory");
        let net = testnet::generate(
            dir.path(),
            chain,
            &members(),
            4,
            full_nodes,
            BLOCK_INTERVAL_MS,
        )
        .unwrap_or_else(|e| panic!("cannot generate the network: {e}"));
        let signers = Signers::load(&net);
        Net {
            cluster: Cluster::new(net, &support::waybill_node()),
            signers,
            deadline: Instant::now() + budget,
            dir: Some(dir),
        }
    }

    /// `d`, or less if the test's budget runs out sooner.
    fn within(&self, d: Duration) -> Duration {
        d.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    fn api(&self, name: &str) -> SocketAddr {
        self.cluster
            .node(name)
            .unwrap_or_else(|e| panic!("{e}"))
            .api
    }

    fn start(&mut self, name: &str) {
        self.cluster
            .start(name)
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    }

    /// A node's committed height (it must answer).
    fn height(&self, name: &str) -> u64 {
        let addr = self.api(name);
        for _ in 0..5 {
            if let Some((h, _)) = testnet::status(addr) {
                return h;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{name} does not answer GET /v1/status on {addr}");
    }

    fn max_height(&self, names: &[&str]) -> u64 {
        names.iter().map(|n| self.height(n)).max().unwrap_or(0)
    }

    fn min_height(&self, names: &[&str]) -> u64 {
        names.iter().map(|n| self.height(n)).min().unwrap_or(0)
    }

    /// Waits until `name` has committed `height`; returns its height.
    fn wait_height(&mut self, name: &str, height: u64, timeout: Duration) -> u64 {
        let t = self.within(timeout);
        self.cluster
            .wait_height(name, height, t)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Polls `done` every 100 ms until it is true, or panics with `what`.
    fn wait_until(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + self.within(timeout);
        loop {
            if done() {
                return;
            }
            assert!(Instant::now() < end, "timed out after {timeout:?}: {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Submits an entry; it must be accepted (202).
    fn submit(&self, name: &str, e: &SignedEntry) {
        let (code, v) = post_entry(self.api(name), e);
        assert_eq!(
            code,
            202,
            "{name} did not accept the {} entry {}: {v}",
            e.entry.body.kind(),
            e.id()
        );
        assert_eq!(v["status"], "accepted", "{v}");
        assert_eq!(v["id"], e.id().to_hex(), "{v}");
    }

    /// `GET /v1/entries/{id}` on `name`.
    fn entry_status(&self, name: &str, id: &EntryId) -> (u16, Value) {
        get_json(self.api(name), &format!("/v1/entries/{}", id.to_hex()))
    }

    /// Waits until `e` is final on every node of `names`, at the same
    /// height and position everywhere; returns the height.
    fn wait_final(&self, names: &[&str], e: &SignedEntry, timeout: Duration) -> u64 {
        let id = e.id();
        let mut at: Option<(u64, u64)> = None;
        for name in names {
            let mut last = Value::Null;
            self.wait_until(
                &format!("{} entry {id} final on {name}", e.entry.body.kind()),
                timeout,
                || {
                    let (code, v) = self.entry_status(name, &id);
                    let fin = code == 200 && v["status"] == "final";
                    last = v;
                    fin
                },
            );
            assert_eq!(last["entry"], serde_json::to_value(e).unwrap());
            let here = (
                last["height"].as_u64().expect("a height"),
                last["index"].as_u64().expect("an index"),
            );
            match at {
                None => at = Some(here),
                Some(first) => assert_eq!(
                    first, here,
                    "entry {id} is final at (height, index) {first:?} on {} but {here:?} on {name}",
                    names[0]
                ),
            }
        }
        at.map(|(h, _)| h).unwrap_or(0)
    }

    /// `GET /v1/blocks/{h}`: the block, or `None` beyond the tip (404).
    fn block(&self, name: &str, h: u64) -> Option<Served> {
        let (code, v) = get_json(self.api(name), &format!("/v1/blocks/{h}"));
        if code == 404 {
            return None;
        }
        assert_eq!(code, 200, "GET /v1/blocks/{h} on {name}: {v}");
        Some(Served {
            hash: v["hash"].as_str().expect("a hash").to_string(),
            block: serde_json::from_value(v["block"].clone())
                .unwrap_or_else(|e| panic!("block {h} from {name} does not parse: {e}")),
            certificate: serde_json::from_value(v["certificate"].clone())
                .unwrap_or_else(|e| panic!("certificate {h} from {name} does not parse: {e}")),
        })
    }

    /// Asserts that every node of `names` serves the same block hash at
    /// every height from 1 to `upto`, that the blocks link up and obey the
    /// rules, and that each node's copy carries a commit certificate that
    /// verifies against the validator set of its height (the genesis's,
    /// with the governance changes made by then). Returns every entry id
    /// in chain order.
    fn assert_same_chain(&self, names: &[&str], upto: u64) -> Vec<EntryId> {
        let genesis = &self.cluster.net.genesis;
        let mut prev = genesis.chain_id();
        let mut ids = Vec::new();
        // The state the blocks make, for the validator set of each height.
        let mut state = waybill_core::state::State::genesis(genesis);
        for h in 1..=upto {
            let validators = waybill_core::rules::validators_at(&state, h);
            let mut first: Option<String> = None;
            for name in names {
                let b = self
                    .block(name, h)
                    .unwrap_or_else(|| panic!("{name} has no block {h} (asked up to {upto})"));
                let header = &b.block.header;
                assert_eq!(b.hash, header.hash().to_hex(), "{name} block {h}: hash");
                assert_eq!(header.height, h, "{name} block {h}: height");
                assert_eq!(header.prev_hash, prev, "{name} block {h}: prev_hash");
                assert_eq!(
                    header.entries_root,
                    block::entries_root(&b.block.entry_ids()),
                    "{name} block {h}: entries root"
                );
                let cert = b
                    .certificate
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name} block {h} has no commit certificate"));
                assert_eq!(
                    cert.block_hash,
                    header.hash(),
                    "{name} block {h}: certificate"
                );
                cert.verify_with(&validators, header).unwrap_or_else(|e| {
                    panic!("{name} block {h}: the certificate does not verify: {e}")
                });
                match &first {
                    None => {
                        ids.extend(b.block.entry_ids());
                        let at = waybill_core::rules::At::new(h, header.time_ms);
                        let applied =
                            waybill_core::rules::apply_block(&state, &b.block.entries, at)
                                .unwrap_or_else(|(i, e)| {
                                    panic!("{name} block {h}: entry {i} breaks a rule: {e}")
                                });
                        state.commit(applied.changes);
                        first = Some(b.hash.clone());
                    }
                    Some(f) => assert_eq!(
                        f, &b.hash,
                        "block {h}: {} has {f} but {name} has {}",
                        names[0], b.hash
                    ),
                }
            }
            prev = first
                .as_deref()
                .unwrap_or_default()
                .parse()
                .expect("a block hash");
        }
        ids
    }

    /// The lot's trail from `name`, verified against the genesis with
    /// certificates required; every item must carry a certificate.
    fn verified_trail(&self, name: &str, lot: &LotId) -> (Trail, TrailReport) {
        let path = format!("/v1/lots/{}/trail", encode_segment(&lot.to_string()));
        let (code, v) = get_json(self.api(name), &path);
        assert_eq!(code, 200, "GET {path} on {name}: {v}");
        let t: Trail = serde_json::from_value(v).expect("a trail");
        let report = trail::verify(
            &self.cluster.net.genesis,
            &t,
            Policy {
                require_certificates: true,
            },
        )
        .unwrap_or_else(|e| panic!("the trail of {lot} from {name} does not verify: {e}"));
        for (i, item) in t.items.iter().enumerate() {
            assert!(
                item.certificate.is_some(),
                "trail item #{} (height {}) from {name} has no certificate",
                i + 1,
                item.header.height
            );
        }
        assert_eq!(report.uncertified_blocks, 0);
        (t, report)
    }

    /// Stops a node with SIGTERM; it must exit by itself with status 0.
    fn stop_gracefully(&mut self, name: &str) {
        let t = self.within(Duration::from_secs(30));
        let started = Instant::now();
        assert!(
            self.cluster.stop(name, t),
            "{name} did not exit with status 0 within {t:?} of SIGTERM"
        );
        eprintln!("{name} stopped in {:?}", started.elapsed());
    }

    /// Runs `waybill-node check` on a stopped node's data dir; returns
    /// (blocks, entries, certified blocks) from its report.
    fn check(&self, name: &str) -> (u64, u64, u64) {
        let dir = &self
            .cluster
            .node(name)
            .unwrap_or_else(|e| panic!("{e}"))
            .data_dir;
        let out = Command::new(support::waybill_node())
            .arg("check")
            .arg("--data-dir")
            .arg(dir)
            .output()
            .expect("run waybill-node check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "waybill-node check on {name}'s data dir failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        let num = |marker: &str| -> u64 {
            let at = stdout
                .find(marker)
                .unwrap_or_else(|| panic!("no `{marker}` in check's report: {stdout}"));
            stdout[..at]
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or_else(|| panic!("no number before `{marker}` in: {stdout}"))
        };
        let r = (
            num(" blocks and "),
            num(" entries re-verified"),
            num(" blocks carry commit certificates"),
        );
        eprintln!("{name}: {}", stdout.trim());
        r
    }

    /// Stops every node of `names` gracefully and checks each data dir:
    /// the whole chain re-verifies and every block is certified. Returns
    /// the heights found.
    fn stop_and_check(&mut self, names: &[&str], min_height: u64) -> Vec<u64> {
        for n in names {
            self.stop_gracefully(n);
        }
        names
            .iter()
            .map(|n| {
                let (blocks, _, certified) = self.check(n);
                assert!(
                    blocks >= min_height,
                    "{n}'s data dir has {blocks} blocks, fewer than the {min_height} it served"
                );
                assert_eq!(
                    certified, blocks,
                    "{n}: every stored block must carry a commit certificate"
                );
                blocks
            })
            .collect()
    }
}

/// The coffee story (`waybill_testkit::coffee`, as `waybill demo` tells
/// it) about the green lot with batch `HUILA-<lot_suffix>`: the first five
/// entries of its journey signed (produced, dispatched with a carrier,
/// picked up by the carrier, received by the roaster, paid for by the
/// roaster), the last three (roasted, shipped to the retailer, received)
/// still to sign.
struct Story {
    green: LotId,
    sea: waybill_core::gs1::ShipmentId,
    roasted: LotId,
    entries: Vec<SignedEntry>,
    rest: Vec<waybill_testkit::coffee::Step>,
}

/// `waybill checkpoint fetch`, `verify` and `consistency` against the
/// running validators.
fn checkpoints_extend(n: &mut Net) {
    use waybill_testkit::process::{fails, ok};
    let s = |p: &Path| p.display().to_string();
    let dir = n.cluster.net.dir.clone();
    let g = s(&n.cluster.net.genesis_path);
    // The CLI's memory of the last checkpoint seen, kept here.
    let state = dir.join("cli-state");
    let url = |n: &Net, v: &str| format!("http://{}", n.api(v));
    let fetch_cmd = |n: &Net, nodes: &[&str], out: &Path, height: Option<&str>| {
        let mut cmd = support::wb();
        cmd.env("WAYBILL_STATE_DIR", &state);
        cmd.args(["checkpoint", "fetch", "-g", &g, "-o", &s(out), "--force"]);
        if let Some(h) = height {
            cmd.args(["--height", h]);
        }
        for v in nodes {
            cmd.args(["--node", &url(n, v)]);
        }
        cmd
    };
    let fetch = |n: &Net, nodes: &[&str], out: &Path| ok(&mut fetch_cmd(n, nodes, out, None));
    // One node's note holds the cosignatures its block was decided with
    // (its validators' precommits carried them): it verifies on its own,
    // and is remembered as the first of this chain.
    let a = dir.join("a.checkpoint");
    let out = fetch(n, &["v1"], &a);
    assert!(
        out.stdout.contains("VERIFIED checkpoint")
            && out
                .stdout
                .contains("the first checkpoint of this chain seen here"),
        "{out}"
    );
    let v = ok(support::wb().args(["checkpoint", "verify", &s(&a), "-g", &g, "--json"])).json();
    let cosigners = v["cosigners"].as_array().map_or(0, Vec::len);
    assert!(
        cosigners >= 3,
        "one node's note has {cosigners} cosigners: {v}"
    );
    let origin = v["origin"].as_str().expect("an origin");
    let remembered = state.join("checkpoints").join(format!(
        "{}.checkpoint",
        origin.trim_start_matches("waybill/")
    ));
    assert_eq!(
        std::fs::read_to_string(&remembered).expect("remembered"),
        std::fs::read_to_string(&a).expect("the note")
    );
    // Several nodes' notes of one height join into the same checkpoint.
    let joined = dir.join("joined.checkpoint");
    let height = v["height"].as_u64().expect("a height").to_string();
    let out = ok(&mut fetch_cmd(n, &["v2", "v3"], &joined, Some(&height)));
    assert!(
        out.stdout.contains("the same as the last checkpoint seen"),
        "{out}"
    );
    let w =
        ok(support::wb().args(["checkpoint", "verify", &s(&joined), "-g", &g, "--json"])).json();
    assert_eq!((&w["size"], &w["root"]), (&v["size"], &v["root"]), "{w}");
    // Later, after another entry, from all four, and proven to extend
    // the first.
    let more = n.signers.sign(
        "cooperative",
        produce(
            &lot("CHECKPOINTED-1"),
            "Coffee recorded between checkpoints",
            10,
            &[],
        ),
    );
    n.submit("v1", &more);
    let at = n.wait_final(&VALIDATORS, &more, Duration::from_secs(30));
    for v in VALIDATORS {
        n.wait_height(v, at + 1, Duration::from_secs(30));
    }
    let b = dir.join("b.checkpoint");
    let out = fetch(n, &VALIDATORS, &b);
    assert!(
        out.stdout.contains(&format!(
            "extends the last checkpoint seen (height {height}), proven consistent: remembered"
        )),
        "{out}"
    );
    // The first again, now earlier than the last seen: proven a prefix.
    let out = ok(&mut fetch_cmd(n, &["v2"], &a, Some(&height)));
    assert!(
        out.stdout
            .contains("an earlier checkpoint, proven a prefix"),
        "{out}"
    );
    let v = ok(support::wb().args(["checkpoint", "verify", &s(&b), "-g", &g, "--json"])).json();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["cosigners"].as_array().map(Vec::len), Some(4), "{v}");
    let out = ok(support::wb().args([
        "checkpoint",
        "consistency",
        &s(&a),
        &s(&b),
        "-g",
        &g,
        "--node",
        &url(n, "v4"),
    ]));
    assert!(
        out.stdout.contains("CONSISTENT: the log at height"),
        "{out}"
    );
    // Backwards, the log would have shrunk.
    let out = fails(
        support::wb().args([
            "checkpoint",
            "consistency",
            &s(&b),
            &s(&a),
            "-g",
            &g,
            "--node",
            &url(n, "v4"),
        ]),
        &["FAILED: the log forked: the newer checkpoint has"],
    );
    assert_eq!(out.code, Some(1), "{out}");
    // A note whose size was changed no longer verifies.
    let text = std::fs::read_to_string(&a).expect("the note");
    let size = text.lines().nth(1).expect("a size line").to_string();
    let changed = text.replacen(
        &format!("\n{size}\n"),
        &format!("\n{}\n", size.len() + 1000),
        1,
    );
    let c = dir.join("changed.checkpoint");
    std::fs::write(&c, &changed).expect("write");
    fails(
        support::wb().args(["checkpoint", "verify", &s(&c), "-g", &g]),
        &["does not verify"],
    );
    // A remembered checkpoint changed by hand can only make views fail.
    std::fs::write(&remembered, &changed).expect("write");
    let out = fails(
        &mut fetch_cmd(n, &["v1"], &b, None),
        &["FAILED", "stale", "the last checkpoint seen is in"],
    );
    assert_eq!(out.code, Some(1), "{out}");
}

/// `node`'s checkpoint note of block `height`, fetched from it alone and
/// verified against the genesis with the consortium's history from the
/// same node (so a set changed by governance counts): `waybill checkpoint
/// verify --json`'s answer and the note's file. The fetch fails the test
/// if the note does not verify.
fn node_checkpoint(n: &Net, node: &str, height: u64) -> (Value, String) {
    use waybill_testkit::process::ok;
    let out = n
        .cluster
        .net
        .dir
        .join(format!("{node}-{height}.checkpoint"));
    let (g, o) = (
        n.cluster.net.genesis_path.display().to_string(),
        out.display().to_string(),
    );
    let url = format!("http://{}", n.api(node));
    let h = height.to_string();
    ok(support::wb().args([
        "checkpoint",
        "fetch",
        "-g",
        &g,
        "--node",
        &url,
        "--height",
        &h,
        "-o",
        &o,
        "--force",
    ]));
    let v = ok(support::wb().args([
        "checkpoint",
        "verify",
        &o,
        "-g",
        &g,
        "--node",
        &url,
        "--json",
    ]))
    .json();
    assert_eq!(v["verified"], true, "{node}'s note of block {height}: {v}");
    (v, o)
}

/// The cosigners' names in `waybill checkpoint verify --json`'s answer.
fn cosigner_names(v: &Value) -> Vec<String> {
    v["cosigners"]
        .as_array()
        .expect("cosigners")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// `node`'s checkpoint note of block `height`, a block it synced while
/// down, alone verifies with all four validators' lines: the other
/// three's came with the certificate.
fn synced_checkpoint_verifies(n: &Net, node: &str, height: u64) {
    let (v, _) = node_checkpoint(n, node, height);
    assert_eq!(
        v["cosigners"].as_array().map(Vec::len),
        Some(4),
        "{node}'s note of synced block {height}: {v}"
    );
}

fn green_coffee_story(s: &mut Signers, lot_suffix: &str) -> Story {
    let told = coffee_story(s, &format!("HUILA-{lot_suffix}"));
    let mut steps = told.steps;
    let rest = steps.split_off(step::ROAST);
    let entries = steps.iter().map(|st| s.sign_step(st)).collect();
    Story {
        green: told.ids.green,
        sea: told.ids.sea,
        roasted: told.ids.roasted,
        entries,
        rest,
    }
}

fn ids(entries: &[&SignedEntry]) -> BTreeSet<EntryId> {
    entries.iter().map(|e| e.id()).collect()
}

/// Scenarios 1 and 2 on one four-validator network.
///
/// 1. Entries submitted to v1 become final on all four; every height has
///    the same certified block everywhere; the lot's trail served by v3
///    verifies with certificates required; an entry that breaks a rule is
///    refused with the rule's message (422) and is never in a block.
/// 2. With v4 crashed (SIGKILL) the other three keep finalising; v4
///    restarts from its data dir and catches up to the same chain. With v3
///    and v4 crashed no block is finalised (no quorum) until v3 returns.
///
/// At the end every node stops on SIGTERM with status 0 and `waybill-node
/// check` re-verifies each data dir, every block certified.
#[test]
fn four_validators_agree_finalise_and_survive_crashes() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut n = Net::generate("coffee-e2e", &[], Duration::from_secs(150));
    n.cluster.start_all().unwrap();
    for v in VALIDATORS {
        n.wait_height(v, 2, Duration::from_secs(60));
    }
    eprintln!("[{:?}] four validators committing", started.elapsed());

    // --- 1. Entries become final everywhere.
    let story = green_coffee_story(&mut n.signers, "2611-07");
    for e in &story.entries {
        n.submit("v1", e);
    }
    let mut last_final = 0;
    for e in &story.entries {
        last_final = last_final.max(n.wait_final(&VALIDATORS, e, Duration::from_secs(30)));
    }
    eprintln!(
        "[{:?}] the five story entries are final (last at height {last_final})",
        started.elapsed()
    );

    // A rule-breaking entry sent to v2: a carrier may not record a produce.
    let bad_lot = lot("SMUGGLED-1");
    let bad = n.signers.sign_with_nonce(
        "carrier",
        n.signers.next_nonce("carrier"),
        produce(&bad_lot, "Coffee of unknown origin", 100, &[]),
    );
    let (code, v) = post_entry(n.api("v2"), &bad);
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["status"], "rejected", "{v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains(name_of("carrier")) && msg.contains("may not record a produce entry"),
        "the refusal does not give the rule: {msg}"
    );

    // The same chain, block by block, on all four; the entries are in it,
    // the refused one is not.
    n.wait_until(
        "all four past the story's last block",
        Duration::from_secs(20),
        || n.min_height(&VALIDATORS) >= last_final + 2,
    );
    let common = n.min_height(&VALIDATORS);
    let chain_ids: BTreeSet<EntryId> = n
        .assert_same_chain(&VALIDATORS, common)
        .into_iter()
        .collect();
    let story_refs: Vec<&SignedEntry> = story.entries.iter().collect();
    assert!(ids(&story_refs).is_subset(&chain_ids));
    assert!(
        !chain_ids.contains(&bad.id()),
        "the refused entry is in a block"
    );
    for v in VALIDATORS {
        let (code, body) = n.entry_status(v, &bad.id());
        assert_eq!(code, 404, "the refused entry is known to {v}: {body}");
    }
    let (code, body) = get_json(
        n.api("v2"),
        &format!("/v1/lots/{}/trail", encode_segment(&bad_lot.to_string())),
    );
    assert_eq!(code, 404, "a refused entry's lot has a trail: {body}");
    eprintln!(
        "[{:?}] heights 1..={common} identical and certified on all four",
        started.elapsed()
    );

    // The trail served by v3 verifies against the genesis alone.
    let (t, report) = n.verified_trail("v3", &story.green);
    let trail_ids: BTreeSet<EntryId> = t.items.iter().map(|i| i.entry.id()).collect();
    assert_eq!(
        trail_ids,
        ids(&story_refs),
        "the trail holds exactly the story"
    );
    assert!(!trail_ids.contains(&bad.id()));
    assert_eq!(report.custodian, name_of("roaster"));
    assert_eq!(
        report.status,
        format!("600 KGM held by {}", name_of("roaster"))
    );
    assert_eq!(report.payments.len(), 1);
    assert_eq!(report.payments[0].shipments, vec![story.sea.clone()]);

    // --- 1b. The log's checkpoint: the validators cosign it in their
    // precommits, one node serves a note that verifies against the
    // genesis, and a later one is proven to extend it.
    checkpoints_extend(&mut n);
    eprintln!(
        "[{:?}] checkpoints cosigned and consistent",
        started.elapsed()
    );

    // --- 2a. One validator crashes: the other three go on.
    n.cluster.kill("v4");
    let three = ["v1", "v2", "v3"];
    let at_kill = n.max_height(&three);
    for v in three {
        n.wait_height(v, at_kill + 5, Duration::from_secs(30));
    }
    let roasted = story.roasted.clone();
    let roast = n.signers.sign_step(&story.rest[0]);
    n.submit("v1", &roast);
    n.wait_final(&three, &roast, Duration::from_secs(30));
    eprintln!(
        "[{:?}] v4 down: heights {at_kill}..{} finalised by three, the roast entry final",
        started.elapsed(),
        n.min_height(&three)
    );

    // With v4 down, its turns to propose go to the others: once the
    // last two rotations (8 heights) hold no block of v4's, its round-0
    // slot passes to the next validator except in every eighth rotation.
    // Plain round robin would decide every fourth height in round 1,
    // after a full propose timeout.
    let from = at_kill + 9;
    let to = from + 15;
    n.wait_height("v1", to, Duration::from_secs(60));
    let late: Vec<(u64, u32)> = (from..=to)
        .filter_map(|h| {
            let b = n.block("v1", h).expect("a decided block");
            let round = b.certificate.expect("a certificate").round;
            (round > 0).then_some((h, round))
        })
        .collect();
    assert!(
        late.len() <= 2,
        "with v4 down, heights {from}..={to} should be decided in round 0 but for a retry of v4's; late: {late:?}"
    );
    eprintln!(
        "[{:?}] v4 down: heights {from}..={to} decided after round 0: {late:?}",
        started.elapsed()
    );

    // v4 restarts from its data dir and catches up.
    let at_restart = n.max_height(&three);
    n.start("v4");
    n.wait_height("v4", at_restart, Duration::from_secs(60));
    let common = n.min_height(&VALIDATORS);
    n.assert_same_chain(&VALIDATORS, common);
    n.wait_final(&["v4"], &roast, Duration::from_secs(10));
    eprintln!(
        "[{:?}] v4 restarted at {at_restart} and caught up; 1..={common} identical",
        started.elapsed()
    );
    // A block v4 synced (decided while it was down) came with the other
    // three's cosignatures: v4's note of it verifies on its own.
    synced_checkpoint_verifies(&n, "v4", at_kill + 2);

    // --- 2b. Two validators crash: no quorum, no block.
    let two = ["v1", "v2"];
    let before = n.max_height(&two);
    n.cluster.kill("v3");
    n.cluster.kill("v4");
    let killed = Instant::now();
    let to_shop = n.signers.sign_step(&story.rest[1]);
    n.submit("v2", &to_shop);
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while killed.elapsed() < Duration::from_millis(5600) {
        samples.push((killed.elapsed(), n.max_height(&two)));
        std::thread::sleep(Duration::from_millis(200));
    }
    let halted = samples.iter().map(|s| s.1).max().unwrap_or(before);
    assert!(
        halted <= before + 1,
        "with two of four validators down, v1/v2 went from {before} to {halted}: {samples:?}"
    );
    // After the block in flight at the kill (if any), nothing for 4 s.
    let window: Vec<&(Duration, u64)> = samples
        .iter()
        .filter(|s| s.0 >= Duration::from_millis(1000))
        .collect();
    let span = match (window.first(), window.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => Duration::ZERO,
    };
    assert!(
        span >= Duration::from_secs(4),
        "too few height samples to judge: {samples:?}"
    );
    assert!(
        window.iter().all(|s| s.1 == halted),
        "the height moved while two of four validators were down: {samples:?}"
    );
    for v in two {
        let (code, body) = n.entry_status(v, &to_shop.id());
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], "pending", "without quorum: {body}");
    }
    eprintln!(
        "[{:?}] v3+v4 down: halted at {halted} (was {before}) for {:?}",
        started.elapsed(),
        killed.elapsed()
    );

    // v3 returns: progress resumes, and the waiting entry is finalised.
    n.start("v3");
    for v in ["v1", "v2", "v3"] {
        n.wait_height(v, halted + 3, Duration::from_secs(60));
    }
    n.wait_final(&["v1", "v2", "v3"], &to_shop, Duration::from_secs(30));
    eprintln!("[{:?}] v3 back: progress resumed", started.elapsed());

    // v4 returns too; the retailer's receipt goes to it (it crashed twice).
    n.start("v4");
    n.wait_height("v4", n.max_height(&three), Duration::from_secs(60));
    let at_shop = n.signers.sign_step(&story.rest[2]);
    n.submit("v4", &at_shop);
    n.wait_final(&VALIDATORS, &at_shop, Duration::from_secs(30));
    let common = n.min_height(&VALIDATORS);
    let chain_ids = n.assert_same_chain(&VALIDATORS, common);
    // The refused entry never made it into a block, crashes or not.
    assert!(
        !chain_ids.contains(&bad.id()),
        "the refused entry is in a block"
    );
    for v in VALIDATORS {
        assert_eq!(
            n.entry_status(v, &bad.id()).0,
            404,
            "{v} knows the refused entry"
        );
    }
    let (t, report) = n.verified_trail("v4", &roasted);
    // The story up to the roast (production, shipment, receipts, the
    // payment and its confirmation), then the roast and the road leg.
    let mut history: Vec<&SignedEntry> = story.entries[..step::ROAST].iter().collect();
    history.extend([&roast, &to_shop, &at_shop]);
    let want = ids(&history);
    let got: BTreeSet<EntryId> = t.items.iter().map(|i| i.entry.id()).collect();
    assert_eq!(got, want, "the roasted lot's trail: its whole history");
    assert_eq!(report.custodian, name_of("retailer"));
    assert_eq!(
        report.status,
        format!("480 KGM held by {}", name_of("retailer"))
    );
    eprintln!(
        "[{:?}] all four back; 1..={common} identical; the roasted lot's trail verifies",
        started.elapsed()
    );

    // Graceful shutdown, then an offline re-verification of every data dir.
    let heights = n.stop_and_check(&VALIDATORS, common);
    eprintln!(
        "[{:?}] stopped on SIGTERM; check passed on all four ({heights:?} blocks)",
        started.elapsed()
    );
}

/// Scenario 3: a full node (the auditor's) started only after the four
/// validators made more than 20 blocks syncs the whole chain, follows new
/// blocks, takes an entry for gossip, and its data dir re-verifies with
/// every block certified.
#[test]
fn a_full_node_joining_late_syncs_the_certified_chain() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut n = Net::generate("coffee-e2e-sync", &["auditor"], Duration::from_secs(120));
    let all = ["v1", "v2", "v3", "v4", "auditor"];
    for v in VALIDATORS {
        n.start(v);
    }
    for v in VALIDATORS {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    let story = green_coffee_story(&mut n.signers, "2612-01");
    for (i, e) in story.entries.iter().enumerate() {
        n.submit(VALIDATORS[i % 4], e);
        // Each waits for the previous: entries from several nodes may
        // arrive at a proposer out of order otherwise.
        n.wait_final(&VALIDATORS, e, Duration::from_secs(30));
    }
    for v in VALIDATORS {
        n.wait_height(v, 20, Duration::from_secs(60));
    }
    let at_join = n.max_height(&VALIDATORS);
    eprintln!(
        "[{:?}] validators at {at_join}; starting the full node",
        started.elapsed()
    );

    n.start("auditor");
    n.wait_height("auditor", at_join, Duration::from_secs(60));
    eprintln!(
        "[{:?}] the full node synced to {at_join}",
        started.elapsed()
    );
    n.wait_height("auditor", at_join + 5, Duration::from_secs(30));
    for e in &story.entries {
        n.wait_final(&["auditor"], e, Duration::from_secs(5));
    }

    // An entry submitted to the full node is gossiped and finalised (the
    // full node never proposes: only gossip brings it to a validator).
    n.wait_until(
        "the full node connected to the four validators' entry gossip",
        Duration::from_secs(20),
        || get_json(n.api("auditor"), "/v1/status").1["gossip_peers"].as_u64() >= Some(4),
    );
    let roast = n.signers.sign(
        "roaster",
        produce(
            &lot("HH-R-5001"),
            "Roasted coffee beans",
            250,
            &[(&story.green, 300)],
        ),
    );
    n.submit("auditor", &roast);
    n.wait_final(&all, &roast, Duration::from_secs(30));
    // Many at once go out as one gossip message (checked by one batch
    // verification at each validator) and are final everywhere too.
    let lots: Vec<LotId> = (0..40).map(|i| lot(&format!("HH-B-{i:04}"))).collect();
    let batch: Vec<SignedEntry> = lots
        .iter()
        .map(|l| {
            n.signers
                .sign("cooperative", produce(l, "Green coffee, washed", 60, &[]))
        })
        .collect();
    let (code, v) = post_batch(n.api("auditor"), &batch);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["accepted"], batch.len(), "{v}");
    for e in &batch {
        n.wait_final(&all, e, Duration::from_secs(30));
    }

    let common = n.min_height(&all);
    n.assert_same_chain(&all, common);
    let (t, _) = n.verified_trail("auditor", &story.green);
    assert_eq!(
        t.items.len(),
        step::ROAST + 1,
        "the green lot's trail: the story and the roast"
    );
    eprintln!(
        "[{:?}] 1..={common} identical on all five; the trail from the full node verifies",
        started.elapsed()
    );

    let heights = n.stop_and_check(&all, common);
    eprintln!(
        "[{:?}] stopped on SIGTERM; check passed ({heights:?} blocks)",
        started.elapsed()
    );
}

/// Removes every address of the peer `peer_id` from `gossip.peers` and
/// `consensus.peers` in a node's `node.toml` (one of each is expected).
fn unlist(config: &Path, peer_id: &str) {
    let text = std::fs::read_to_string(config).expect("read node.toml");
    let mut doc: toml::Table = text.parse().expect("node.toml parses");
    let suffix = format!("/p2p/{peer_id}");
    for section in ["gossip", "consensus"] {
        let peers = doc
            .get_mut(section)
            .and_then(|s| s.get_mut("peers"))
            .and_then(|p| p.as_array_mut())
            .unwrap_or_else(|| panic!("no {section}.peers in {}", config.display()));
        let before = peers.len();
        peers.retain(|a| !a.as_str().is_some_and(|a| a.ends_with(&suffix)));
        assert_eq!(
            before - peers.len(),
            1,
            "{section}.peers of {} should list {peer_id} once",
            config.display()
        );
    }
    let text = toml::to_string(&doc).expect("node.toml serialises");
    assert!(!text.contains(peer_id), "{text}");
    std::fs::write(config, text).expect("write node.toml");
}

/// Scenario 4: a full node (the auditor's, a genesis member that is not a
/// validator) that no validator lists in `consensus.peers` or
/// `gossip.peers`, while it lists the four validators, connects to them
/// (only admitted keys may connect, and it is one), syncs the certified
/// chain and follows it; no connection is rejected on either side.
#[test]
fn a_full_node_that_no_validator_lists_connects_and_syncs() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut n = Net::generate(
        "coffee-e2e-unlisted",
        &["auditor"],
        Duration::from_secs(120),
    );
    let all = ["v1", "v2", "v3", "v4", "auditor"];
    let auditor = n
        .cluster
        .node("auditor")
        .unwrap_or_else(|e| panic!("{e}"))
        .public_key;
    // The libp2p peer id, as `waybill_testnet` writes it into configs (the
    // same as the node's own: `node/tests/peer_id.rs`).
    let auditor_id = testnet::peer_id(&auditor).unwrap_or_else(|e| panic!("{e}"));
    for v in VALIDATORS {
        let config = n
            .cluster
            .node(v)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
            .clone();
        unlist(&config, &auditor_id);
    }

    for v in VALIDATORS {
        n.start(v);
    }
    for v in VALIDATORS {
        n.wait_height(v, 1, Duration::from_secs(60));
    }
    let story = green_coffee_story(&mut n.signers, "2612-04");
    for e in &story.entries {
        n.submit("v1", e);
        n.wait_final(&VALIDATORS, e, Duration::from_secs(30));
    }
    let at_join = n.max_height(&VALIDATORS);
    eprintln!(
        "[{:?}] validators at {at_join}; starting the unlisted full node",
        started.elapsed()
    );

    n.start("auditor");
    n.wait_height("auditor", at_join, Duration::from_secs(60));
    // Its tip is the validators' block at its height, and it keeps
    // following.
    n.wait_until(
        "the full node's tip hash is v1's block hash at the same height",
        Duration::from_secs(10),
        || {
            testnet::status(n.api("auditor")).is_some_and(|(h, tip)| {
                h >= at_join && n.block("v1", h).is_some_and(|b| b.hash == tip)
            })
        },
    );
    n.wait_height("auditor", at_join + 3, Duration::from_secs(30));
    eprintln!(
        "[{:?}] the unlisted full node synced to {at_join} and follows",
        started.elapsed()
    );
    for e in &story.entries {
        n.wait_final(&["auditor"], e, Duration::from_secs(5));
    }
    // Entry gossip: the validators accept its connections too.
    n.wait_until(
        "the full node connected to the four validators' entry gossip",
        Duration::from_secs(20),
        || get_json(n.api("auditor"), "/v1/status").1["gossip_peers"].as_u64() >= Some(4),
    );

    // Killed and restarted, it is let back in (a peer-only entry stays
    // persistent after the peer's last connection closes).
    n.cluster.kill("auditor");
    let tip = n.max_height(&VALIDATORS);
    n.start("auditor");
    n.wait_height("auditor", tip + 3, Duration::from_secs(30));
    eprintln!(
        "[{:?}] restarted, the full node reconnected and passed {tip}",
        started.elapsed()
    );

    let common = n.min_height(&all);
    n.assert_same_chain(&all, common);
    for name in all {
        let log = n.cluster.log(name);
        assert!(
            !log.contains("Rejecting connection"),
            "{name} rejected a connection:\n{}",
            log.lines()
                .filter(|l| l.contains("Rejecting connection"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    eprintln!(
        "[{:?}] 1..={common} identical on all five; no connection rejected",
        started.elapsed()
    );
}

#[test]
fn a_governance_entry_changes_the_validator_set_and_consensus_follows() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut n = Net::generate("coffee-governance", &[], Duration::from_secs(150));
    n.cluster.start_all().unwrap();
    for v in VALIDATORS {
        n.wait_height(v, 2, Duration::from_secs(60));
    }
    // Four validators of power 1: three of them are needed. The admins
    // give v1 a power of 10 (10 of 13 is more than 2/3), a few blocks on.
    let v1 = n.cluster.net.genesis.validators[0].public_key;
    let at = n.max_height(&VALIDATORS) + 6;
    let mut e = n.signers.sign(
        "bank",
        waybill_core::entry::Body::Governance(waybill_core::governance::GovernanceEntry {
            effective_height: at,
            change: waybill_core::governance::GovernanceChange::SetValidatorPower {
                public_key: v1,
                power: 10,
            },
        }),
    );
    n.signers.cosign("auditor", &mut e);
    n.submit("v2", &e);
    let h = n.wait_final(&VALIDATORS, &e, Duration::from_secs(30));
    assert!(h < at, "scheduled at {h} for {at}");
    // Entries keep flowing across the change.
    let mut last = None;
    for i in 0..6 {
        let e = n.signers.sign(
            "cooperative",
            produce(&lot(&format!("GOV-LOAD-{i}")), "Green coffee", 10, &[]),
        );
        // One author's entries go to one node, in nonce order.
        n.submit("v3", &e);
        last = Some(e);
    }
    let last = last.expect("an entry");
    n.wait_final(&VALIDATORS, &last, Duration::from_secs(30));
    for v in VALIDATORS {
        n.wait_height(v, at + 1, Duration::from_secs(30));
    }
    eprintln!(
        "[{:?}] past height {at}, where v1's power became 10",
        started.elapsed()
    );
    // Finality did not stall across the change: the longest gap between
    // block times from the governance entry to just past the change.
    let times: Vec<i64> = (h..=at + 1)
        .map(|x| n.block("v1", x).expect("a block").block.header.time_ms)
        .collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    eprintln!("longest gap between blocks {h}..={}: {gap} ms", at + 1);
    assert!(
        gap < 5_000,
        "finality stalled for {gap} ms across the change"
    );
    // The others stop: v1 alone now holds more than 2/3 and finalises.
    for v in ["v2", "v3", "v4"] {
        n.cluster.kill(v);
    }
    let alone = n.signers.sign(
        "cooperative",
        produce(&lot("GOV-ALONE-1"), "Green coffee", 10, &[]),
    );
    n.submit("v1", &alone);
    let h_alone = n.wait_final(&["v1"], &alone, Duration::from_secs(30));
    assert!(h_alone > at);
    eprintln!(
        "[{:?}] v1 finalised height {h_alone} alone",
        started.elapsed()
    );
    // Every certificate verifies against its height's set, and the trail
    // of the lot finalised by v1 alone verifies offline from the genesis.
    let tip = n.height("v1");
    n.assert_same_chain(&["v1"], tip);
    let b = n.block("v1", h_alone).expect("the block");
    let signers: Vec<_> = b
        .certificate
        .expect("a certificate")
        .signatures
        .iter()
        .map(|s| s.validator)
        .collect();
    assert_eq!(signers, vec![v1], "signed by v1 alone");
    let (t, _) = n.verified_trail("v1", &lot("GOV-ALONE-1"));
    assert!(
        t.items.iter().any(|i| i.entry.id() == e.id()),
        "the trail carries the governance entry"
    );
    // Against the genesis set alone, the certificate of that block fails.
    let err = b_cert_against_genesis(&n, h_alone);
    assert!(err.contains("voting power"), "{err}");
}

/// Verifies block `h`'s certificate from v1 against the genesis set (as a
/// verifier that ignored governance would); the error.
fn b_cert_against_genesis(n: &Net, h: u64) -> String {
    let b = n.block("v1", h).expect("the block");
    b.certificate
        .expect("a certificate")
        .verify(&n.cluster.net.genesis, &b.block.header)
        .expect_err("a certificate of v1 alone does not hold against the genesis set")
        .to_string()
}
