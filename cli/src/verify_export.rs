//! `waybill verify-export`: an auditor's export of a member's or a
//! period's entries, checked offline against the genesis alone. The file
//! carries everything the check needs: the entries with their inclusion
//! proofs and commit certificates, the consortium's history, and the
//! validators' cosigned checkpoints that prove nothing was left out. The
//! list of entries for people (`entries`) must be exactly what the proofs
//! show.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use waybill_core::bundle::MAX_BUNDLE_BYTES;
use waybill_core::checkpoint::{self, Checkpoint};
use waybill_core::crypto::{PublicKey, Signature};
use waybill_core::genesis::Genesis;
use waybill_core::trail::{self, MemberTrail, PeriodTrail};

use crate::audit_cmd::{MEMBER_EXPORT_FORMAT, PERIOD_EXPORT_FORMAT};
use crate::util;

/// Runs `waybill verify-export FILE -g GENESIS`.
pub fn run(file: &Path, genesis: &Path) -> Result<ExitCode> {
    let g = util::read_genesis(genesis)?;
    let bytes = util::read_limited(file, MAX_BUNDLE_BYTES as u64, "export")?;
    let v: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", file.display()))?;
    let format = v.get("format").and_then(Value::as_str).unwrap_or("");
    if v.get("version").and_then(Value::as_u64) != Some(1) {
        bail!("{} is not an export of version 1", file.display());
    }
    let verdict = match format {
        f if f == PERIOD_EXPORT_FORMAT => period(&g, &v),
        f if f == MEMBER_EXPORT_FORMAT => member(&g, &v),
        _ => bail!(
            "{} is neither a {MEMBER_EXPORT_FORMAT} nor a {PERIOD_EXPORT_FORMAT} file (as `waybill export --member` or `--period` writes them)",
            file.display()
        ),
    };
    match verdict
        .and_then(|(what, message)| Ok(format!("{what}; {}", signed_by(&g, &v, &message)?)))
    {
        Ok(what) => {
            println!("VERIFIED offline against the genesis: {what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("FAILED: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

/// A field of the file, typed.
fn field<T: serde::de::DeserializeOwned>(v: &Value, name: &str) -> Result<T, String> {
    serde_json::from_value(v.get(name).cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("its `{name}` is not what an export holds: {e}"))
}

/// Verifies a checkpoint note of `height` against `validators`.
fn certified(
    note: &str,
    g: &Genesis,
    height: u64,
    validators: &[waybill_core::genesis::ValidatorSpec],
) -> Result<Checkpoint, String> {
    match checkpoint::verify(note.as_bytes(), &g.chain_id(), validators) {
        Ok(c) if c.checkpoint.height == height => Ok(c.checkpoint),
        Ok(c) => Err(format!(
            "its checkpoint is of height {}, not {height}",
            c.checkpoint.height
        )),
        Err(e) => Err(format!("its checkpoint of height {height}: {e}")),
    }
}

/// Who signed the export, if the signature holds over `message` (its
/// format, period and proofs: [`trail::export_message`]).
fn signed_by(g: &Genesis, v: &Value, message: &[u8]) -> Result<String, String> {
    let auditor: PublicKey = field(v, "auditor")?;
    let signature: Signature = field(v, "signature")?;
    trail::verify_export_signature(&auditor, message, &signature).map_err(|_| {
        format!(
            "the exporter's signature does not verify (key {}): the file was changed after it was signed",
            auditor.short()
        )
    })?;
    Ok(format!("signed by {}", util::name_of(g, &auditor)))
}

/// Checks a period export: what it proves, and what its signature covers.
fn period(g: &Genesis, v: &Value) -> Result<(String, Vec<u8>), String> {
    let t: PeriodTrail = field(v, "trail")?;
    let notes: Vec<String> = field(v, "checkpoints")?;
    let (from, to): (Option<i64>, Option<i64>) = (field(v, "from_ms")?, field(v, "to_ms")?);
    if (from, to) != (t.from_ms, t.to_ms) {
        return Err("its period is not the one its proofs are of".into());
    }
    let (report, needed) = trail::verify_period(g, &t).map_err(|e| e.to_string())?;
    let mut checkpoints = Vec::with_capacity(needed.len());
    for n in &needed {
        let found = notes.iter().find_map(|note| {
            checkpoint::open_note(note.as_bytes())
                .ok()
                .filter(|(c, _)| c.height == n.height)
                .map(|_| note)
        });
        let Some(note) = found else {
            return Err(format!("it carries no checkpoint of height {}", n.height));
        };
        checkpoints.push(certified(note, g, n.height, &n.validators)?);
    }
    trail::check_period_complete(&report, &checkpoints, &t.complete).map_err(|e| e.to_string())?;
    let shown = serde_json::to_value(&report.entries).map_err(|e| e.to_string())?;
    if v.get("entries") != Some(&shown) {
        return Err("its list of entries is not the entries its proofs show".into());
    }
    let message = trail::export_message(PERIOD_EXPORT_FORMAT, from, to, &t, &notes);
    let what = format!(
        "{} entries in blocks {}..={}, each in a block its validators certified, none left out (the log's checkpoints at heights {} and {}){}",
        report.entries.len(),
        report.start_height + 1,
        report.end_height,
        report.start_height,
        report.end_height,
        if report.closed {
            String::new()
        } else {
            format!("; the period ran to the tip, height {}", report.tip_height)
        }
    );
    Ok((what, message))
}

/// Checks a member export: what it proves, and what its signature covers.
fn member(g: &Genesis, v: &Value) -> Result<(String, Vec<u8>), String> {
    let t: MemberTrail = field(v, "trail")?;
    let note: String = field(v, "checkpoint")?;
    let report = trail::verify_member(g, &t).map_err(|e| e.to_string())?;
    let cp = certified(&note, g, t.tip_height, &report.validators)?;
    trail::check_member_complete(&report, &t.complete, &cp.index, t.tip_height)
        .map_err(|e| e.to_string())?;
    let (from, to): (Option<i64>, Option<i64>) = (field(v, "from_ms")?, field(v, "to_ms")?);
    let kept: Vec<&trail::MemberLine> = report
        .entries
        .iter()
        .filter(|l| from.is_none_or(|f| l.block_time_ms >= f))
        .filter(|l| to.is_none_or(|t| l.block_time_ms < t))
        .collect();
    let shown = serde_json::to_value(&kept).map_err(|e| e.to_string())?;
    if v.get("entries") != Some(&shown) {
        return Err("its list of entries is not the entries its proofs show".into());
    }
    if field::<waybill_core::crypto::PublicKey>(v, "member")? != t.member {
        return Err("it names another member than its proofs are of".into());
    }
    let what = format!(
        "{} of the {} entries {} signed up to height {}, each in a block its validators certified, none left out (the index they cosigned)",
        kept.len(),
        report.entries.len(),
        report.member_name,
        t.tip_height
    );
    let message = trail::export_message(MEMBER_EXPORT_FORMAT, from, to, &t, &[note]);
    Ok((what, message))
}
