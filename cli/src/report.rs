//! Human and JSON renderings of genesis files and verified trails.

use serde_json::{json, Value};
use waybill_core::bundle::Bundle;
use waybill_core::checkpoint::Certified;
use waybill_core::entry::RecallClass;
use waybill_core::genesis::{Genesis, ValidatorSpec};
use waybill_core::trail::TrailReport;

use crate::util::fmt_time;

/// Prints a genesis for people.
pub fn print_genesis(g: &Genesis) {
    println!("chain {} ({})", g.chain_name, g.chain_id());
    println!("members:");
    for m in &g.members {
        let roles: Vec<_> = m.roles.iter().map(|r| r.as_str()).collect();
        println!(
            "  {:<36} {}  {}{}",
            m.name,
            m.public_key.short(),
            roles.join("+"),
            m.country.map(|c| format!("  {c}")).unwrap_or_default()
        );
    }
    println!("validators (total power {}):", g.total_power());
    for v in &g.validators {
        println!(
            "  {:<36} {}  power {}",
            v.name,
            v.public_key.short(),
            v.power
        );
    }
}

/// One line on how final the blocks are.
pub fn finality(r: &TrailReport) -> String {
    let checks = "signatures, inclusion proofs and custody chain checked against genesis";
    if r.uncertified_blocks == 0 {
        format!(
            "{checks}; commit certificates of {} blocks verified (BFT-final)",
            r.certified_blocks
        )
    } else {
        format!(
            "{checks}; {} blocks without commit certificates (local ledger: not BFT-final)",
            r.uncertified_blocks
        )
    }
}

/// The notice lines a shopper must see before anything else: each open
/// recall or withdrawal of the lot or a lot it was made from.
pub fn recall_lines(r: &TrailReport) -> Vec<String> {
    r.recalls
        .iter()
        .filter(|x| x.lifted.is_none())
        .map(|x| {
            let word = match x.class {
                RecallClass::Recall => "RECALLED",
                RecallClass::Withdrawal => "WITHDRAWN",
            };
            let via = if x.lot == r.lot {
                String::new()
            } else {
                format!(" (it was made from {}, which is recalled)", x.lot)
            };
            format!(
                "{word}: {} by {} at height {}{via}; scope: {}",
                x.reason,
                x.by,
                x.height,
                if x.scope.is_empty() {
                    "not stated"
                } else {
                    &x.scope
                }
            )
        })
        .collect()
}

/// `text` struck through (combining long stroke overlay), for a step a
/// correction declared erroneous.
fn struck(text: &str) -> String {
    text.chars().flat_map(|c| [c, '\u{0336}']).collect()
}

/// The lines flagging entries signed with a key revoked as compromised
/// (they stand on the ledger, but their signer's word is in doubt).
pub fn compromised_lines(r: &TrailReport) -> Vec<String> {
    r.compromised
        .iter()
        .map(|x| {
            format!(
                "FLAGGED: the {} at height {} (entry {}) was signed with a key of {} that was revoked as compromised since {} (entry {})",
                x.kind,
                x.height,
                x.entry_id.short(),
                x.signer,
                x.since,
                x.revoked_by.short()
            )
        })
        .collect()
}

/// Prints a verified trail for people.
pub fn print_trail(r: &TrailReport) {
    for line in recall_lines(r) {
        println!("{line}");
    }
    for line in compromised_lines(r) {
        println!("{line}");
    }
    println!("Lot {}", r.lot);
    println!(
        "chain {} ({}), ledger height {}",
        r.chain_name,
        r.chain_id.short(),
        r.tip_height
    );
    println!();
    println!("Origin");
    for (i, o) in r.origins.iter().enumerate() {
        let indent = if i == 0 { "  " } else { "    " };
        println!("{indent}{}  {}  {}", o.lot, o.product, o.quantity);
        let mut place = Vec::new();
        if let Some(n) = &o.origin.name {
            place.push(n.clone());
        }
        if let Some(c) = &o.origin.country {
            place.push(c.to_string());
        }
        println!(
            "{indent}  by {} in {}, produced {}",
            o.producer,
            if place.is_empty() {
                "an unstated place".into()
            } else {
                place.join(", ")
            },
            fmt_time(o.produced_at_ms)
        );
        if !o.certificates.is_empty() {
            println!("{indent}  certificates: {}", o.certificates.join(", "));
        }
        for (lot, q) in &o.inputs {
            println!("{indent}  made from {lot} ({q})");
        }
        for p in &o.plots {
            println!(
                "{indent}  plot {}: {}, {} ha",
                p.id.as_deref().unwrap_or("(no id)"),
                p.shape,
                p.area_ha
            );
        }
        if let Some(d) = &o.deforestation {
            println!("{indent}  {d}");
        }
        if let Some(c) = &o.corrected {
            println!("{indent}  CORRECTED: this production was {c}");
        }
    }
    println!();
    println!("Custody");
    for s in &r.custody {
        let who = match (s.kind.as_str(), &s.from, &s.to) {
            ("dispatch" | "handover", Some(f), Some(t)) => format!("{f} -> {t}"),
            ("reject", Some(f), Some(t)) => format!("{f} rejected, back to {t}"),
            (_, _, _) => s.by.clone(),
        };
        let line = format!(
            "#{:<4} {:<8} {:<36} {}{}{}",
            s.height,
            s.kind,
            who,
            s.shipment
                .as_ref()
                .map(|x| format!("shipment {x}"))
                .unwrap_or_default(),
            s.place
                .as_ref()
                .map(|p| format!("  at {p}"))
                .unwrap_or_default(),
            if r.origins.len() > 1 {
                format!(
                    "  [{}]",
                    s.lots
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        );
        match &s.corrected {
            Some(why) => println!("  {}\n        ({why})", struck(&line)),
            None => println!("  {line}"),
        }
        for d in &s.details {
            println!("        {d}");
        }
    }
    if !r.excursions.is_empty() {
        println!();
        println!("Cold chain");
        for x in &r.excursions {
            let line = format!(
                "EXCURSION on shipment {} ({}): {}, {} to {}",
                x.shipment,
                x.device,
                x.summary,
                fmt_time(x.from_ms),
                fmt_time(x.to_ms)
            );
            match &x.corrected {
                Some(why) => println!("  {}\n        ({why})", struck(&line)),
                None => println!("  {line}"),
            }
        }
    }
    if !r.corrections.is_empty() {
        println!();
        println!("Corrections");
        for c in &r.corrections {
            println!(
                "  #{:<4} {} declared {} (entry {}) erroneous: {}{}",
                c.height,
                c.by,
                c.what,
                c.target.short(),
                c.reason,
                if c.corrective.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; corrected by {}",
                        c.corrective
                            .iter()
                            .map(|i| i.short())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
        }
    }
    let lifted: Vec<_> = r.recalls.iter().filter(|x| x.lifted.is_some()).collect();
    if !lifted.is_empty() {
        println!();
        println!("Lifted recalls");
        for x in lifted {
            println!(
                "  #{:<4} {} {} of {} by {}: {}; lifted: {}",
                x.height,
                x.class.as_str(),
                x.entry_id.short(),
                x.lot,
                x.by,
                x.reason,
                x.lifted.as_deref().unwrap_or_default()
            );
        }
    }
    if !r.payments.is_empty() {
        println!();
        println!("Payments");
        for p in &r.payments {
            let confirmed = match &p.confirmed {
                Some(c) => format!("confirmed by {} in #{}", p.payee, c.height),
                None => format!("not confirmed by {}", p.payee),
            };
            let line = format!(
                "#{:<4} {} paid {} for {} ({}, {confirmed}; terms sealed) (UETR {})",
                p.height,
                p.payer,
                p.payee,
                p.shipments
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                p.status,
                p.payment_id
            );
            match &p.corrected {
                Some(why) => println!("  {}\n        ({why})", struck(&line)),
                None => println!("  {line}"),
            }
        }
    }
    println!();
    println!("Now: {}", r.status);
}

/// A verified trail as JSON.
pub fn trail_json(r: &TrailReport, ok: bool, extra: Option<(&str, Value)>) -> Value {
    let mut v = json!({
        "ok": ok,
        "lot": r.lot.to_string(),
        "chain_name": r.chain_name,
        "chain_id": r.chain_id.to_hex(),
        "tip_height": r.tip_height,
        "origins": r.origins,
        "recalled": r.recalls.iter().any(|x| x.lifted.is_none()),
        "recalls": r.recalls,
        "corrections": r.corrections,
        "excursions": r.excursions,
        "compromised": r.compromised,
        "custody": r.custody,
        "payments": r.payments,
        "custodian": r.custodian,
        "status": r.status,
        "entries": r.entries,
        "certified_blocks": r.certified_blocks,
        "uncertified_blocks": r.uncertified_blocks,
    });
    if let Some((k, x)) = extra {
        v[k] = x;
    }
    v
}

/// A verified bundle as JSON.
pub fn bundle_json(b: &Bundle, r: &TrailReport) -> Value {
    let log = bundle_log(b, r).map(|c| {
        json!({
            "size": c.checkpoint.size,
            "height": c.checkpoint.height,
            "root": c.checkpoint.root.to_hex(),
            "cosigners": cosigner_names(&r.validators, &c),
        })
    });
    trail_json(
        r,
        true,
        Some((
            "bundle",
            json!({
                "exporter": b.body.exporter.to_hex(),
                "exported_at_ms": b.body.exported_at_ms,
                "certificates_required": b.body.certificates_required,
                "log": log,
            }),
        )),
    )
}

/// A verified bundle's checkpoint of the ledger's log, if it has one.
fn bundle_log(b: &Bundle, r: &TrailReport) -> Option<Certified> {
    b.log.as_ref()?.verify(&b.body.trail, r).ok()
}

/// The names of a checkpoint's cosigners among `validators` (a key's
/// short form if it is not there).
pub fn cosigner_names(validators: &[ValidatorSpec], c: &Certified) -> Vec<String> {
    c.cosigners
        .iter()
        .map(|(k, _)| {
            validators
                .iter()
                .find(|v| v.public_key == *k)
                .map_or_else(|| k.short(), |v| v.name.clone())
        })
        .collect()
}

/// The line on a verified bundle's place in the ledger's log.
pub fn bundle_log_line(b: &Bundle, r: &TrailReport) -> String {
    match bundle_log(b, r) {
        Some(c) => format!(
            "Log: its {} entries are in the ledger's log of {} entries at height {} (root {}), cosigned by {}",
            b.body.trail.items.len(),
            c.checkpoint.size,
            c.checkpoint.height,
            c.checkpoint.root.to_hex(),
            cosigner_names(&r.validators, &c).join(", ")
        ),
        None => "Log: no checkpoint of the ledger's log (exported from a local ledger)".into(),
    }
}
