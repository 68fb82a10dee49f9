//! Human and JSON renderings of genesis files and verified trails.

use serde_json::{json, Value};
use waybill_core::bundle::Bundle;
use waybill_core::genesis::Genesis;
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

/// Prints a verified trail for people.
pub fn print_trail(r: &TrailReport) {
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
    }
    println!();
    println!("Custody");
    for s in &r.custody {
        let who = match (s.kind.as_str(), &s.from, &s.to) {
            ("dispatch", Some(f), Some(t)) => format!("{f} -> {t}"),
            ("reject", Some(f), Some(t)) => format!("{f} rejected, back to {t}"),
            (_, _, _) => s.by.clone(),
        };
        println!(
            "  #{:<4} {:<8} {:<36} {}{}{}",
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
    }
    if !r.payments.is_empty() {
        println!();
        println!("Payments");
        for p in &r.payments {
            println!(
                "  #{:<4} {} paid {} {}{} under {} (UETR {})",
                p.height,
                p.payer,
                p.payee,
                p.amount,
                p.settlement
                    .as_ref()
                    .map(|s| format!(", settled as {s}"))
                    .unwrap_or_default(),
                p.incoterm,
                p.payment_id
            );
        }
    }
    println!();
    println!("Now: {} by {}", r.status, r.custodian);
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
    trail_json(
        r,
        true,
        Some((
            "bundle",
            json!({
                "exporter": b.body.exporter.to_hex(),
                "exported_at_ms": b.body.exported_at_ms,
                "certificates_required": b.body.certificates_required,
            }),
        )),
    )
}
