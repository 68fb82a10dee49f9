//! `waybill trace-forward`: everything a recall of a lot must reach.
//!
//! The lot's own remainder and every lot made from it (directly or not),
//! each with where it is now and every member that held it and where.
//! Each lot's part is taken from its trail, verified against the genesis
//! like a lookup (from a node, with commit certificates required), so a
//! node cannot misstate where a lot went. From a node, each trail is also
//! checked complete, and the lots made from a lot are read from the
//! productions in its complete trail (`node_cmd::trace_forward`), so a
//! node cannot leave one out either.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use waybill_core::gs1::LotId;
use waybill_core::trail::TrailReport;

use crate::report;

/// One lot of the recall scope, from its verified trail.
pub struct Reach {
    /// The lot.
    pub lot: LotId,
    /// Whether it is the lot asked about (else: made from it).
    pub itself: bool,
    /// Its verified trail, summarised.
    pub report: TrailReport,
}

/// Who held the lot on its way, and where: from its custody steps.
fn holders(r: &TrailReport) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in r
        .custody
        .iter()
        .filter(|s| s.lots.contains(&r.lot) && s.corrected.is_none())
    {
        let who = match s.kind.as_str() {
            "dispatch" => vec![s.from.clone()],
            // Both carriers held it at the transshipment.
            "handover" => vec![s.from.clone(), s.to.clone()],
            "reject" => vec![s.to.clone()],
            _ => vec![Some(s.by.clone())],
        };
        for who in who.into_iter().flatten() {
            let line = match &s.place {
                Some(p) => format!("{who} at {p}"),
                None => who,
            };
            if seen.insert(line.clone()) {
                out.push(line);
            }
        }
    }
    out
}

/// Prints the scope (or its JSON) and exits 0: the scope is an answer,
/// not a verdict.
pub fn print(
    lot: &LotId,
    reach: &[Reach],
    source: &str,
    complete_note: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    if json {
        let rows: Vec<Value> = reach
            .iter()
            .map(|x| {
                json!({
                    "lot": x.lot.to_string(),
                    "relation": if x.itself { "the lot itself" } else { "made from it" },
                    "now": x.report.status,
                    "custodian": x.report.custodian,
                    "held_by": holders(&x.report),
                    "recalls": x.report.recalls,
                    "verified": true,
                    "tip_height": x.report.tip_height,
                })
            })
            .collect();
        let mut v = json!({
            "lot": lot.to_string(),
            "source": source,
            "reach": rows,
            "made_from_it": reach.iter().filter(|x| !x.itself).count(),
        });
        if let Some(n) = complete_note {
            v["note"] = json!(n);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let derived = reach.iter().filter(|x| !x.itself).count();
    println!(
        "A recall of {lot} reaches {} lot(s): the lot itself and {derived} made from it (from {source}; each lot's trail verified against the genesis)",
        reach.len()
    );
    for x in reach {
        println!();
        println!(
            "  {}{}",
            x.lot,
            if x.itself {
                "  (the lot itself)"
            } else {
                "  (made from it)"
            }
        );
        for line in report::recall_lines(&x.report)
            .into_iter()
            .chain(report::compromised_lines(&x.report))
        {
            println!("    {line}");
        }
        println!("    now: {}", x.report.status);
        let h = holders(&x.report);
        if !h.is_empty() {
            println!("    held by: {}", h.join("; "));
        }
    }
    if let Some(n) = complete_note {
        println!();
        println!("Note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
