//! `waybill export --member`: an auditor's export of every entry one
//! member signed, from a node, on a signed request. What the node sends is
//! verified against the genesis (each entry in a block certified by that
//! height's validators) and checked complete under the index root of the
//! validators' checkpoint: an entry the node left out fails the export,
//! naming how many are missing. The period (`--from`, `--to`) is cut from
//! the proven whole.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use reqwest::StatusCode;
use serde_json::json;
use waybill_core::checkpoint;
use waybill_core::crypto;
use waybill_core::trail::{self, MemberReport, MemberTrail, PeriodTrail};

use crate::node_client::Node;
use crate::node_cmd;
use crate::util;

/// The format name of a member export file.
pub const MEMBER_EXPORT_FORMAT: &str = "waybill-member-export";

/// What `export --member` needs.
pub struct MemberExport<'a> {
    /// The member: a name in the genesis or a public key.
    pub member: &'a str,
    /// The node.
    pub url: &'a str,
    /// The genesis file.
    pub genesis: &'a Path,
    /// The auditor's (or the member's own) key, which signs the request.
    pub key: &'a Path,
    /// The first block time kept (ms since 1970).
    pub from_ms: Option<i64>,
    /// The first block time not kept.
    pub to_ms: Option<i64>,
    /// How old the node's view may be.
    pub max_age: std::time::Duration,
    /// Where to write it.
    pub out: &'a Path,
    /// Replace `out`.
    pub existing: util::Existing,
}

/// Runs `waybill export --member`.
pub fn export_member(a: &MemberExport<'_>) -> Result<ExitCode> {
    let g = util::read_genesis(a.genesis)?;
    let member = util::party(&g, a.member)?;
    let node = Node::new(a.url)?;
    let key = util::read_key(a.key)?;
    let hex = member.to_hex();
    let what = format!("the request for the entries of {}", a.member);
    let reply = node.signed_get(
        &["v1", "members", &hex, "entries"],
        &[],
        &key,
        &g.chain_id(),
        &what,
    )?;
    if reply.status != StatusCode::OK {
        return Err(node.http_error(&reply, &what));
    }
    let failed = |why: String| {
        println!("FAILED: {why}");
        println!(
            "The node at {} did not show every entry {} signed, proven, so nothing was exported.",
            node.url(),
            a.member
        );
        Ok(ExitCode::from(1))
    };
    let t: MemberTrail = match serde_json::from_slice(&reply.body) {
        Ok(t) => t,
        Err(e) => return failed(format!("the node's answer is not a member's entries: {e}")),
    };
    if t.member != member {
        return failed(format!(
            "the node answered with the entries of {}, not of {}",
            t.member.short(),
            a.member
        ));
    }
    let report = match trail::verify_member(&g, &t) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let (note, certified) =
        match certified_at(&node, &t.chain_id, t.tip_height, &report.validators)? {
            Ok(c) => c,
            Err(why) => return failed(why),
        };
    // Complete as of the tip: an old tip would hide the latest entries.
    if let Some(why) = stale(
        certified.time,
        t.tip_height,
        a.max_age,
        "the member's latest entries",
    ) {
        return failed(why);
    }
    if let Err(e) = trail::check_member_complete(
        &report,
        &t.complete,
        &certified.checkpoint.index,
        t.tip_height,
    ) {
        return failed(e.to_string());
    }
    let in_period: Vec<&trail::MemberLine> = report
        .entries
        .iter()
        .filter(|l| a.from_ms.is_none_or(|f| l.block_time_ms >= f))
        .filter(|l| a.to_ms.is_none_or(|to| l.block_time_ms < to))
        .collect();
    let notes = vec![String::from_utf8_lossy(&note).into_owned()];
    let message = trail::export_message(MEMBER_EXPORT_FORMAT, a.from_ms, a.to_ms, &t, &notes);
    let file = json!({
        "format": MEMBER_EXPORT_FORMAT,
        "version": 1,
        "chain_name": g.chain_name,
        "member": member,
        "member_name": report.member_name,
        "exported_at_ms": util::now_ms(),
        "from_ms": a.from_ms,
        "to_ms": a.to_ms,
        "entries": in_period,
        "checkpoint": notes[0],
        "trail": t,
        "auditor": crypto::public_key(&key),
        "signature": trail::sign_export(&key, &message),
    });
    util::write_out(
        Some(a.out),
        &(serde_json::to_string_pretty(&file)? + "\n"),
        a.existing,
    )
    .with_context(|| format!("cannot write {}", a.out.display()))?;
    print_summary(&report, in_period.len(), a, &certified.checkpoint.height);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(report: &MemberReport, kept: usize, a: &MemberExport<'_>, height: &u64) {
    println!(
        "VERIFIED and complete: {} entries signed by {} up to height {height}, each in a block its validators certified; none left out, proven under the index root they cosigned",
        report.entries.len(),
        report.member_name
    );
    let period = match (a.from_ms, a.to_ms) {
        (None, None) => "all of them".to_owned(),
        (f, t) => format!(
            "{kept} in the period {} to {}",
            f.map_or_else(|| "the start".into(), util::fmt_time),
            t.map_or_else(|| "now".into(), util::fmt_time)
        ),
    };
    println!("exported {period} to {}", a.out.display());
}

/// Why an argument combination cannot export a member.
pub fn need_node() -> anyhow::Error {
    anyhow!("--member and --period export from a node: give --node URL and --genesis FILE")
}

/// The node's checkpoint of `height`, verified against that height's
/// `validators`: the note and what it certifies, or (`Ok(Err(…))`) why
/// the node's answer is refused.
fn certified_at(
    node: &Node,
    chain: &waybill_core::crypto::Hash32,
    height: u64,
    validators: &[waybill_core::genesis::ValidatorSpec],
) -> Result<std::result::Result<(Vec<u8>, checkpoint::Certified), String>> {
    let note = match node.checkpoint(Some(height))? {
        Ok(note) => note,
        Err(why) => {
            return Ok(Err(format!(
                "the node gave no checkpoint of the ledger's log at height {height}: {why}"
            )))
        }
    };
    Ok(match checkpoint::verify(&note, chain, validators) {
        Ok(c) if c.checkpoint.height == height => Ok((note, c)),
        Ok(c) => Err(format!(
            "the node's checkpoint is of height {}, not {height}",
            c.checkpoint.height
        )),
        Err(e) => Err(format!("the node's checkpoint of height {height}: {e}")),
    })
}

/// Why a view certified as of `time` at `height` is too old for
/// `max_age`, since it could hide `what`; none if it is recent enough.
fn stale(time: u64, height: u64, max_age: std::time::Duration, what: &str) -> Option<String> {
    let age = node_cmd::age_of(time);
    (age > max_age).then(|| {
        format!(
            "the node's view is of height {height}, {} old, older than --max-age {}: {what} may be missing",
            node_cmd::fmt_age(age),
            node_cmd::fmt_age(max_age)
        )
    })
}

/// The format name of a period export file.
pub const PERIOD_EXPORT_FORMAT: &str = "waybill-period-export";

/// What `export --period` needs.
pub struct PeriodExport<'a> {
    /// The node.
    pub url: &'a str,
    /// The genesis file.
    pub genesis: &'a Path,
    /// The auditor's key, which signs the request.
    pub key: &'a Path,
    /// The first block time kept (ms since 1970).
    pub from_ms: Option<i64>,
    /// The first block time not kept.
    pub to_ms: Option<i64>,
    /// How old the node's view may be when the period runs to its tip.
    pub max_age: std::time::Duration,
    /// Where to write it.
    pub out: &'a Path,
    /// Replace `out`.
    pub existing: util::Existing,
}

/// Runs `waybill export --period`: every entry of every member in the
/// blocks of the period, verified against the genesis and proven
/// complete by the log's checkpoints at the period's bounds.
pub fn export_period(a: &PeriodExport<'_>) -> Result<ExitCode> {
    if let (Some(f), Some(t)) = (a.from_ms, a.to_ms) {
        if f >= t {
            return Err(anyhow!("--to must be after --from"));
        }
    }
    let g = util::read_genesis(a.genesis)?;
    let node = Node::new(a.url)?;
    let key = util::read_key(a.key)?;
    let query: Vec<(&str, String)> = [("from", a.from_ms), ("to", a.to_ms)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
        .collect();
    let what = "the request for the entries of the period";
    let reply = node.signed_get(&["v1", "period"], &query, &key, &g.chain_id(), what)?;
    if reply.status != StatusCode::OK {
        return Err(node.http_error(&reply, what));
    }
    let failed = |why: String| {
        println!("FAILED: {why}");
        println!(
            "The node at {} did not show every entry of the period, proven, so nothing was exported.",
            node.url()
        );
        Ok(ExitCode::from(1))
    };
    let t: PeriodTrail = match serde_json::from_slice(&reply.body) {
        Ok(t) => t,
        Err(e) => return failed(format!("the node's answer is not a period's entries: {e}")),
    };
    if (t.from_ms, t.to_ms) != (a.from_ms, a.to_ms) {
        return failed("the node answered with the entries of another period".into());
    }
    let (report, needed) = match trail::verify_period(&g, &t) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let mut notes = Vec::new();
    let mut checkpoints = Vec::new();
    let mut tip_time = None;
    for n in &needed {
        let (note, certified) = match certified_at(&node, &t.chain_id, n.height, &n.validators)? {
            Ok(c) => c,
            Err(why) => return failed(why),
        };
        if n.height == t.tip_height {
            tip_time = Some(certified.time);
        }
        notes.push(String::from_utf8_lossy(&note).into_owned());
        checkpoints.push(certified.checkpoint);
    }
    // A period that runs to the tip is complete as of the tip: a node
    // showing an old tip would hide the period's last blocks, so the view
    // must be recent.
    if !report.closed && t.tip_height > 0 {
        let time = tip_time.unwrap_or(0);
        if let Some(why) = stale(time, t.tip_height, a.max_age, "the period's latest blocks") {
            return failed(why);
        }
    }
    if let Err(e) = trail::check_period_complete(&report, &checkpoints, &t.complete) {
        return failed(e.to_string());
    }
    let message = trail::export_message(PERIOD_EXPORT_FORMAT, a.from_ms, a.to_ms, &t, &notes);
    let file = json!({
        "format": PERIOD_EXPORT_FORMAT,
        "version": 1,
        "chain_name": g.chain_name,
        "exported_at_ms": util::now_ms(),
        "from_ms": a.from_ms,
        "to_ms": a.to_ms,
        "blocks": [report.start_height + 1, report.end_height],
        "closed": report.closed,
        "entries": report.entries,
        "checkpoints": notes,
        "trail": t,
        "auditor": crypto::public_key(&key),
        "signature": trail::sign_export(&key, &message),
    });
    util::write_out(
        Some(a.out),
        &(serde_json::to_string_pretty(&file)? + "\n"),
        a.existing,
    )
    .with_context(|| format!("cannot write {}", a.out.display()))?;
    let when = |ms: Option<i64>, none: &str| ms.map_or_else(|| none.to_owned(), util::fmt_time);
    println!(
        "VERIFIED and complete: {} entries in blocks {}..={} ({} to {}), each in a block its validators certified; none left out, proven by the log's checkpoints at heights {} and {}",
        report.entries.len(),
        report.start_height + 1,
        report.end_height,
        when(a.from_ms, "the start"),
        when(a.to_ms, "now"),
        report.start_height,
        report.end_height
    );
    if !report.closed {
        println!(
            "The period runs to the tip: complete as of height {}.",
            report.tip_height
        );
    }
    println!("exported to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
