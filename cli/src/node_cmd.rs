//! The commands that talk to a node: `submit`, and `lookup`, `export`,
//! `trace-forward` and `nonce` with `--node URL`.
//!
//! Only the genesis file is trusted. A trail from a node is verified here
//! with commit certificates required, and must be the trail of the lot
//! asked for; what cannot be proof-checked (an entry's status, a forward
//! scope) is shown as the node's word.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use waybill_core::bundle::{BundleBody, BundleLog, LogLeaf, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::checkpoint::{self, Certified};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::genesis::{Genesis, Role};
use waybill_core::gs1::LotId;
use waybill_core::index::IndexKey;
use waybill_core::trail::{self, Policy, Trail, TrailReport};

use crate::node_client::{EntryState, Node, Submitted};
use crate::seen::{self, Standing};
use crate::{report, util};

/// How often `submit --wait` asks about an entry.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// Longest single status request while waiting.
const POLL_REQUEST: Duration = Duration::from_secs(10);

fn parse_lot(lot: &str) -> Result<LotId> {
    lot.parse::<LotId>().map_err(|e| anyhow!("{e}"))
}

/// Fetches `lot`'s trail from the node and verifies it against `genesis`
/// with certificates required. `Err` of the inner result says exactly
/// what failed (the node answered, but what it served does not verify).
fn fetch_verified(
    node: &Node,
    genesis: &Genesis,
    lot: &LotId,
) -> Result<Result<(Trail, TrailReport), String>> {
    let trail = match node.trail(lot)? {
        Ok(t) => t,
        Err(why) => return Ok(Err(why)),
    };
    Ok(check_trail(genesis, lot, trail))
}

/// The checks on a node's trail: it is the lot asked for, and it verifies
/// against the genesis with a commit certificate on every block.
fn check_trail(
    genesis: &Genesis,
    lot: &LotId,
    trail: Trail,
) -> Result<(Trail, TrailReport), String> {
    if &trail.lot != lot {
        return Err(format!(
            "the node answered with the trail of lot {}, not of {lot} that was asked for",
            trail.lot
        ));
    }
    match trail::verify(
        genesis,
        &trail,
        Policy {
            require_certificates: true,
        },
    ) {
        Ok(r) => Ok((trail, r)),
        Err(e) => Err(e.to_string()),
    }
}

/// A lot's trail from `node`, verified ([`fetch_verified`]), placed in
/// the log no older than `max_age` ([`log_view`]) and checked complete
/// under that checkpoint; or why not (`Ok(Err(…))`).
fn fetch_complete(
    node: &Node,
    genesis: &Genesis,
    lot: &LotId,
    max_age: Duration,
) -> Result<std::result::Result<(Trail, TrailReport, LogView), String>> {
    Ok(match fetch_verified(node, genesis, lot)? {
        Ok((trail, r)) => log_view(node, &trail, &r, max_age)?
            .and_then(|view| complete(&trail, &r, &view).map(|()| (trail, r, view))),
        Err(why) => Err(why),
    })
}

/// `waybill lookup LOT --node URL --genesis G [--max-age D]`.
pub fn lookup(
    lot: &str,
    url: &str,
    genesis: &Path,
    max_age: Duration,
    json: bool,
) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let g = util::read_genesis(genesis)?;
    let node = Node::new(url)?;
    match fetch_complete(&node, &g, &lot, max_age)? {
        Ok((_, r, view)) => {
            if json {
                let mut v = report::trail_json(&r, true, Some(("node", json!(node.url()))));
                v["log"] = view.json(&r);
                v["complete"] = complete_json(&r);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                report::print_trail(&r);
                println!("{}", view.line(&r));
                println!("{}", complete_line(&r, &view));
                println!(
                    "VERIFIED: {} entries from the node at {}; {}",
                    r.entries,
                    node.url(),
                    report::finality(&r)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "ok": false,
                        "lot": lot.to_string(),
                        "node": node.url(),
                        "error": why,
                    }))?
                );
            } else {
                println!("FAILED: {why}");
                println!(
                    "The node at {} served a view of {lot} that does not verify against the genesis {}; do not trust it.",
                    node.url(),
                    genesis.display()
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// Checks that the node left nothing out of a verified trail: its
/// completeness proofs hold under the index root of the checkpoint `view`
/// verified, and the trail shows every entry they count.
fn complete(trail: &Trail, r: &TrailReport, view: &LogView) -> std::result::Result<(), String> {
    let cp = &view.certified.checkpoint;
    trail::check_complete(r, trail.complete.as_deref(), &cp.index, cp.height)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How many of each kind of key a trail was proven complete for.
fn key_counts(r: &TrailReport) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for k in &r.completeness.required {
        match k {
            IndexKey::Lot(_) => counts.0 += 1,
            IndexKey::Shipment(_) => counts.1 += 1,
            IndexKey::Payment(_) => counts.2 += 1,
            IndexKey::Author(_) | IndexKey::Council => {}
        }
    }
    counts
}

fn complete_line(r: &TrailReport, view: &LogView) -> String {
    let (lots, shipments, payments) = key_counts(r);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "Complete: nothing left out as of height {}: every entry about {} ({} and its ancestors), {}, {} and the membership, proven under the index root the validators cosigned",
        view.certified.checkpoint.height,
        plural(lots, "lot", "lots"),
        r.lot,
        plural(shipments, "shipment", "shipments"),
        plural(payments, "payment", "payments"),
    )
}

fn complete_json(r: &TrailReport) -> Value {
    let (lots, shipments, payments) = key_counts(r);
    json!({
        "proven": true,
        "lots": lots,
        "shipments": shipments,
        "payments": payments,
        "membership": true,
    })
}

/// The ledger's log as a verified trail's node shows it: the checkpoint of
/// the trail's tip height, cosigned by that height's validators, and how
/// it stands against the last checkpoint of the chain seen here.
struct LogView {
    certified: Certified,
    /// `None` without a state directory.
    standing: Option<Standing>,
    /// How old the view was when checked (block time to this clock; zero
    /// if the block's time is ahead of it).
    age: Duration,
}

impl LogView {
    fn line(&self, r: &TrailReport) -> String {
        let cp = &self.certified.checkpoint;
        let mut line = format!(
            "Log: {} entries at height {} as of {} ({} old), cosigned by {}",
            cp.size,
            cp.height,
            util::fmt_time_secs(self.certified.time),
            fmt_age(self.age),
            report::cosigner_names(&r.validators, &self.certified).join(", ")
        );
        if let Some(st) = &self.standing {
            line.push_str("; ");
            line.push_str(&st.describe());
        }
        line
    }

    fn json(&self, r: &TrailReport) -> Value {
        let cp = &self.certified.checkpoint;
        json!({
            "size": cp.size,
            "height": cp.height,
            "root": cp.root.to_hex(),
            "time": self.certified.time,
            "age_s": self.age.as_secs(),
            "cosigners": report::cosigner_names(&r.validators, &self.certified),
            "standing": self.standing.as_ref().map(Standing::describe),
        })
    }
}

/// An age for people, to the second ("4m 12s").
pub(crate) fn fmt_age(age: Duration) -> String {
    humantime::format_duration(Duration::from_secs(age.as_secs())).to_string()
}

/// How old a view certified as of `time` (seconds since the Unix epoch)
/// is now; zero if `time` is ahead of this clock.
pub(crate) fn age_of(time: u64) -> Duration {
    let now = u64::try_from(util::now_ms()).unwrap_or(0) / 1000;
    Duration::from_secs(now.saturating_sub(time))
}

/// The node's checkpoint of the verified trail's tip height, verified
/// against that height's validators (as the trail's governance entries
/// make them), no older than `max_age`, and against the last checkpoint
/// of the chain seen here. `Err` says why the view is refused.
fn log_view(
    node: &Node,
    trail: &Trail,
    r: &TrailReport,
    max_age: Duration,
) -> Result<std::result::Result<LogView, String>> {
    let note = match node.checkpoint(Some(trail.tip_height))? {
        Ok(n) => n,
        Err(why) => {
            return Ok(Err(format!(
                "the node gave no checkpoint of the ledger's log at the trail's height {}: {why}",
                trail.tip_height
            )))
        }
    };
    let certified = match checkpoint::verify(&note, &trail.chain_id, &r.validators) {
        Ok(c) if c.checkpoint.height == trail.tip_height => c,
        Ok(c) => {
            return Ok(Err(format!(
                "the node's checkpoint is of height {}, not the trail's {}",
                c.checkpoint.height, trail.tip_height
            )))
        }
        Err(e) => {
            return Ok(Err(format!(
                "the node's checkpoint of the ledger's log: {e}"
            )))
        }
    };
    // The ledger makes a block at least every few seconds, empty or not,
    // so an old tip means the node is behind, cut off or showing an old
    // view on purpose.
    let age = age_of(certified.time);
    if age > max_age {
        return Ok(Err(format!(
            "the node's view is of height {} as of {}, {} old, older than --max-age {}: the node is behind or cut off from the validators",
            certified.checkpoint.height,
            util::fmt_time_secs(certified.time),
            fmt_age(age),
            fmt_age(max_age)
        )));
    }
    let standing = match seen::check_and_remember(
        &trail.chain_id,
        &certified.checkpoint,
        &note,
        std::slice::from_ref(node),
    )? {
        None => None,
        Some(Ok(st)) => Some(st),
        Some(Err(why)) => return Ok(Err(why)),
    };
    Ok(Ok(LogView {
        certified,
        standing,
        age,
    }))
}

/// `waybill export LOT --node URL --genesis G --key K --out B`.
pub fn export(
    lot: &str,
    url: &str,
    genesis: &Path,
    key: &Path,
    out: &Path,
    existing: util::Existing,
) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let g = util::read_genesis(genesis)?;
    let node = Node::new(url)?;
    let key = util::read_key(key)?;
    let me = crypto::public_key(&key);
    let (trail, report) = match fetch_verified(&node, &g, &lot)? {
        Ok(x) => x,
        Err(why) => {
            // Never sign what does not verify.
            println!("FAILED: {why}");
            println!(
                "The node at {} served a trail for {lot} that does not verify against the genesis {}, so nothing was exported.",
                node.url(),
                genesis.display()
            );
            return Ok(ExitCode::from(1));
        }
    };
    // Membership changes are all in the trail, so its final members are
    // who is a member now (as of the trail's height).
    match report.final_members.get(&me) {
        Some((_, roles)) if roles.contains(&Role::Auditor) => {}
        Some((name, _)) => bail!(
            "`{name}` is not an active auditor on chain {}; only auditors export bundles",
            g.chain_name
        ),
        None => bail!(
            "the key {} is not an active member of chain {}",
            me.short(),
            g.chain_name
        ),
    }
    // The trail's place in the ledger's log, as of its tip: checked here
    // as the verifier will check it, so a node that cannot give it (or
    // lies about it) exports nothing.
    let log = match log_of(&node, &trail, &report) {
        Ok(log) => log,
        Err(why) => {
            println!("FAILED: {why:#}");
            println!(
                "The node at {} could not show where the trail of {lot} stands in the ledger's log, so nothing was exported.",
                node.url()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let mut bundle = BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: g.chain_name.clone(),
        chain_id: g.chain_id(),
        exported_at_ms: util::now_ms(),
        exporter: me,
        certificates_required: true,
        trail,
    }
    .sign(&key);
    bundle.log = Some(log);
    util::write_out(Some(out), &bundle.to_file_text(), existing)?;
    println!(
        "exported {} entries for {lot} from the node at {} to {} (commit certificates of {} blocks verified; the bundle requires them)",
        bundle.body.trail.items.len(),
        node.url(),
        out.display(),
        report.certified_blocks
    );
    Ok(ExitCode::SUCCESS)
}

/// The verified `trail`'s place in the ledger's log: the checkpoint of its
/// tip height and each item's leaf with its inclusion proof, from `node`,
/// verified as `waybill verify-bundle` will.
fn log_of(node: &Node, trail: &Trail, report: &TrailReport) -> Result<BundleLog> {
    let note = node
        .checkpoint(Some(trail.tip_height))?
        .map_err(|why| anyhow!("no checkpoint of height {}: {why}", trail.tip_height))?;
    let checkpoint = String::from_utf8(note)
        .map_err(|_| anyhow!("the checkpoint of height {} is not text", trail.tip_height))?;
    let size = waybill_core::checkpoint::open_note(checkpoint.as_bytes())
        .map_err(|e| anyhow!("the checkpoint of height {}: {e}", trail.tip_height))?
        .0
        .size;
    let leaves = trail
        .items
        .iter()
        .map(|item| {
            node.inclusion(item.header.height, item.index, size)
                .map(|(leaf, proof)| LogLeaf { leaf, proof })
        })
        .collect::<Result<Vec<_>>>()?;
    let log = BundleLog { checkpoint, leaves };
    log.verify(trail, report)?;
    Ok(log)
}

/// `waybill nonce -k KEY --node URL`: the member's next nonce at the
/// node, after its entries waiting in the node's mempool (the node's word).
pub fn nonce(key: &PublicKey, url: &str, json: bool) -> Result<ExitCode> {
    let node = Node::new(url)?;
    let n = node.next_nonce(key)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "key": key.to_hex(),
                "member": n.member,
                "chain_id": n.chain_id,
                "next_nonce": n.next,
                "committed_nonce": n.committed,
                "pending": n.pending,
                "node": node.url(),
            }))?
        );
    } else {
        println!("{}", n.next);
        eprintln!(
            "the next nonce of `{}` at the node at {}: its last committed is {}, and {} of its entries wait in the node's mempool",
            n.member,
            node.url(),
            n.committed,
            n.pending
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `waybill trace-forward LOT --node URL --genesis G`: the recall scope,
/// proven. Each lot's trail is verified and checked complete under the
/// checkpoint of its height (as `lookup` does), so every production that
/// consumed the lot is in it; the lots those made are the next to
/// check. The node's own list is only compared with what the proofs
/// found.
pub fn trace_forward(
    lot: &str,
    url: &str,
    genesis: &Path,
    max_age: Duration,
    json: bool,
) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let g = util::read_genesis(genesis)?;
    let node = Node::new(url)?;
    let listed = node_forward_list(&node, &lot)?;
    let mut reach = Vec::new();
    let mut queue = std::collections::VecDeque::from([(lot.clone(), true)]);
    let mut seen = std::collections::BTreeSet::from([lot.clone()]);
    while let Some((id, itself)) = queue.pop_front() {
        let (trail, report, _) = fetch_complete(&node, &g, &id, max_age)?.map_err(|why| {
            anyhow!(
                "the trail of {id}{}, from the node at {}, does not hold: {why}",
                if itself {
                    String::new()
                } else {
                    format!(" (made from {lot})")
                },
                node.url()
            )
        })?;
        // Every production that consumed `id` touched it, so the complete
        // trail holds each one.
        for item in &trail.items {
            if let Some(p) = trail::produce_of(&item.entry.entry.body) {
                if p.inputs.iter().any(|i| i.lot == id) && seen.insert(p.lot.clone()) {
                    queue.push_back((p.lot.clone(), false));
                }
            }
        }
        reach.push(crate::forward::Reach {
            lot: id,
            itself,
            report,
        });
    }
    let left_out: Vec<String> = seen
        .iter()
        .filter(|l| **l != lot && !listed.contains(*l))
        .map(|l| l.to_string())
        .collect();
    let note = if left_out.is_empty() {
        "every lot's trail is proof-checked and complete under a checkpoint the validators cosigned, so no lot made from it is left out".to_owned()
    } else {
        format!(
            "the node's own list left out {} (found through the proofs): do not rely on that node",
            left_out.join(", ")
        )
    };
    crate::forward::print(
        &lot,
        &reach,
        &format!("the node at {}", node.url()),
        Some(&note),
        json,
    )
}

/// The lots the node says were made from `lot` (its word, compared with
/// the proofs).
fn node_forward_list(node: &Node, lot: &LotId) -> Result<std::collections::BTreeSet<LotId>> {
    let answer = node.forward(lot)?;
    let bad = |what: &str| {
        anyhow!(
            "the node at {}'s answer about the lots made from {lot} is not usable: {what}",
            node.url()
        )
    };
    match answer
        .get("lot")
        .and_then(Value::as_str)
        .map(str::parse::<LotId>)
    {
        Some(Ok(l)) if &l == lot => {}
        Some(Ok(l)) => {
            return Err(bad(&format!(
                "it is about lot {l}, not {lot} that was asked for"
            )))
        }
        _ => return Err(bad("it does not name the lot")),
    }
    let rows = answer
        .get("made_from_it")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("it has no `made_from_it` list"))?;
    rows.iter()
        .map(|r| {
            r.get("lot")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a row names no lot"))?
                .parse::<LotId>()
                .map_err(|e| bad(&format!("a row's lot is not a lot id: {e}")))
        })
        .collect()
}

/// One entry's progress through `submit`.
struct Sent {
    file: PathBuf,
    id: EntryId,
    /// `accepted`, `pending`, `final`, `rejected`.
    status: &'static str,
    height: Option<u64>,
    error: Option<String>,
}

impl Sent {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "file": self.file.display().to_string(),
            "id": self.id.to_hex(),
            "status": self.status,
        });
        if let Some(h) = self.height {
            v["height"] = json!(h);
        }
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }
}

/// `waybill submit ENTRY… --node URL [--wait] [--timeout SECS]`.
pub fn submit(
    files: &[PathBuf],
    url: &str,
    wait: bool,
    timeout_s: u64,
    json: bool,
) -> Result<ExitCode> {
    let node = Node::new(url)?;
    // Read every file before sending anything: a typo sends nothing.
    let entries = files
        .iter()
        .map(|p| util::read_entry(p))
        .collect::<Result<Vec<SignedEntry>>>()?;
    let mut sent: Vec<Sent> = Vec::new();
    let result = submit_all(&node, files, &entries, wait, timeout_s, json, &mut sent);
    if json {
        let v = json!({
            "ok": result.is_ok(),
            "node": node.url(),
            "entries": sent.iter().map(Sent::to_json).collect::<Vec<_>>(),
            "error": result.as_ref().err().map(|e| format!("{e:#}")),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    result.map(|()| ExitCode::SUCCESS)
}

fn submit_all(
    node: &Node,
    files: &[PathBuf],
    entries: &[SignedEntry],
    wait: bool,
    timeout_s: u64,
    json: bool,
    sent: &mut Vec<Sent>,
) -> Result<()> {
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    for (i, (file, entry)) in files.iter().zip(entries).enumerate() {
        let id = entry.id();
        let not_sent = || {
            let rest: Vec<_> = files[i + 1..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            if rest.is_empty() {
                String::new()
            } else {
                format!("\nnot sent: {}", rest.join(", "))
            }
        };
        let outcome = node
            .submit(entry)
            .map_err(|e| anyhow!("{e}\n{} was not accepted{}", file.display(), not_sent()))?;
        let (status, height) = match outcome {
            Submitted::Accepted => ("accepted", None),
            Submitted::Pending => ("pending", None),
            Submitted::Rejected(rule) => {
                // Submitting again what is already on the ledger breaks the
                // nonce rule; that is not a failure.
                if let Ok(EntryState::Final { height }) = node.entry_state(&id, POLL_REQUEST) {
                    ("final", Some(height))
                } else {
                    sent.push(Sent {
                        file: file.clone(),
                        id,
                        status: "rejected",
                        height: None,
                        error: Some(rule.clone()),
                    });
                    bail!(
                        "the node at {} rejected {} (entry {}): {rule}\nnothing was recorded for it{}",
                        node.url(),
                        file.display(),
                        id.short(),
                        not_sent()
                    );
                }
            }
        };
        say(match (status, height) {
            ("final", Some(h)) => {
                format!("final     {id}  {}  (already in block {h})", file.display())
            }
            ("pending", _) => format!(
                "pending   {id}  {}  (already waiting in the node's mempool)",
                file.display()
            ),
            _ => format!("accepted  {id}  {}", file.display()),
        });
        sent.push(Sent {
            file: file.clone(),
            id,
            status,
            height,
            error: None,
        });
    }
    if !wait {
        return Ok(());
    }
    let timeout = Duration::from_secs(timeout_s);
    let started = Instant::now();
    for s in sent.iter_mut() {
        if s.status == "final" {
            continue;
        }
        let height = wait_final(node, &s.id, &s.file, started, timeout)?;
        s.status = "final";
        s.height = Some(height);
        say(format!(
            "final     {}  {}  block {height}",
            s.id,
            s.file.display()
        ));
    }
    Ok(())
}

/// Polls the node until `id` is final or `timeout` after `started` passes.
fn wait_final(
    node: &Node,
    id: &EntryId,
    file: &Path,
    started: Instant,
    timeout: Duration,
) -> Result<u64> {
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        let last_error = match node.entry_state(id, left.clamp(Duration::from_millis(500), POLL_REQUEST)) {
            Ok(EntryState::Final { height }) => return Ok(height),
            Ok(EntryState::Pending) => None,
            Ok(EntryState::Unknown(msg)) => bail!(
                "entry {} ({}) left the node's mempool without being committed: {msg}\n\
                 it no longer passes the rules (its nonce or its lot may have been used by another entry); \
                 record it again",
                id.short(),
                file.display()
            ),
            // The node may be restarting: keep asking until the deadline.
            Err(e) => Some(format!("{e:#}")),
        };
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            let why = match last_error {
                Some(e) => format!("the last attempt to ask failed: {e}"),
                None => "the node still has it waiting in its mempool".to_owned(),
            };
            bail!(
                "entry {} ({}) was accepted but is not final after {} s: {why}\n\
                 it may still be committed; wait longer with --timeout (submitting the same file again is safe)",
                id.short(),
                file.display(),
                timeout.as_secs()
            );
        }
        std::thread::sleep(POLL_EVERY.min(left));
    }
}
