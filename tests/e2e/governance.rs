//! Governance through the CLI on a local ledger (issue 26): the admins
//! schedule a new exporter for a later height with `record govern` and
//! `waybill cosign`; the exporter's first production is refused before
//! that height and stands at it; then its key is reported stolen and
//! revoked as compromised, and `waybill lookup` flags the production it
//! signed after the compromise, in text and in JSON.

use serde_json::Value;
use waybill_testkit::cli::*;
use waybill_testkit::process::{fails, ok};

use crate::support;

const EXPORTER: &str = "Exportadora del Sur";
const EXPORT_LOT: &str = "EXP-2026-001";

#[test]
fn admins_schedule_a_member_and_revoke_its_stolen_key_through_the_cli() {
    let net = Net::new(&support::waybill(), &[]);
    let genesis = s(&net.genesis);
    let data = s(&net.data);
    let out = ok(net.wb().args([
        "key",
        "new",
        "--insecure-plaintext",
        "--out",
        &s(&net.key("exporter")),
    ]));
    let exporter_pk = out.stdout.trim().to_owned();
    let h = net.height();

    // The bank (an admin) schedules the exporter for three blocks on.
    let at = (h + 3).to_string();
    let join = net.record(
        "bank",
        "govern",
        Nonce::FromLedger,
        &[
            "--at",
            &at,
            "add-member",
            "--name",
            EXPORTER,
            "--public-key",
            &exporter_pk,
            "--roles",
            "producer",
            "--country",
            "CO",
            "--prefix",
            "7709876",
        ],
        "join.json",
    );
    // One admin of two is no quorum: the ledger refuses it, unchanged.
    net.assert_unchanged("append", || {
        fails(&mut net.append_cmd(&[&join]), &["admin signatures"])
    });
    ok(net.wb().args([
        "cosign",
        &s(&join),
        "-k",
        &s(&net.key("auditor")),
        "-g",
        &genesis,
    ]));
    // Its node will run with a key of its own, bound to it in the same
    // block, from the same height.
    let out = ok(net.wb().args([
        "key",
        "new",
        "--insecure-plaintext",
        "--out",
        &s(&net.key("exporter-node")),
    ]));
    let node_pk = out.stdout.trim().to_owned();
    let bind = net.record(
        "auditor",
        "govern",
        Nonce::FromLedger,
        &[
            "--at",
            &at,
            "bind-node-key",
            "--member",
            &exporter_pk,
            "--node-key",
            &node_pk,
        ],
        "bind.json",
    );
    ok(net.wb().args([
        "cosign",
        &s(&bind),
        "-k",
        &s(&net.key("bank")),
        "-g",
        &genesis,
    ]));
    net.append(&[&join, &bind]);

    // Height h + 2: still before the exporter's height.
    let produce_args = [
        "--lot",
        EXPORT_LOT,
        "--product",
        "Green coffee, natural",
        "--quantity",
        "300",
        "--unit",
        "KGM",
        "--country",
        "CO",
    ];
    let first = net.record(
        "exporter",
        "produce",
        Nonce::Given(1),
        &produce_args,
        "export-1.json",
    );
    let out = net.assert_unchanged("append", || {
        fails(
            &mut net.append_cmd(&[&first]),
            &["not a member of this chain yet"],
        )
    });
    for needle in [EXPORTER, &format!("from height {at}")] {
        assert!(out.all().contains(needle), "no `{needle}` in:\n{out}");
    }
    net.record_and_append(
        "cooperative",
        "produce",
        Nonce::FromLedger,
        PRODUCE_GREEN_ARGS,
        "green.json",
    );
    // Height h + 3: the exporter is a member before the block's entries.
    net.append(&[&first]);
    assert_eq!(net.height(), h + 3);
    // Its node key signs nothing.
    let by_node = net.record(
        "exporter-node",
        "produce",
        Nonce::Given(1),
        &[
            "--lot",
            "NODE-KEY-LOT",
            "--product",
            "Green coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
        ],
        "by-node.json",
    );
    let out = net.assert_unchanged("append", || {
        fails(&mut net.append_cmd(&[&by_node]), &["node key"])
    });
    assert!(out.all().contains(EXPORTER), "{out}");

    // Its laptop is stolen: the admins revoke the key from two blocks on,
    // compromised since the exporter's height.
    let revoke = net.record(
        "auditor",
        "govern",
        Nonce::FromLedger,
        &[
            "--at",
            &(h + 6).to_string(),
            "revoke-key",
            "--public-key",
            &exporter_pk,
            "--compromised-since-height",
            &at,
        ],
        "revoke.json",
    );
    ok(net.wb().args([
        "cosign",
        &s(&revoke),
        "-k",
        &s(&net.key("bank")),
        "-g",
        &genesis,
    ]));
    net.append(&[&revoke]);

    // The lookup verifies, and flags the production first thing.
    let out = ok(net.wb().args(["lookup", EXPORT_LOT, "--data-dir", &data]));
    let first_line = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("FLAGGED: the produce at height")
            && first_line.contains(EXPORTER)
            && first_line.contains(&format!("compromised since height {at}")),
        "{out}"
    );
    let j = ok(net
        .wb()
        .args(["lookup", EXPORT_LOT, "--json", "--data-dir", &data]))
    .json();
    assert_eq!(j["ok"], Value::Bool(true), "{j}");
    let flagged = j["compromised"].as_array().expect("compromised");
    assert_eq!(flagged.len(), 1, "{j}");
    assert_eq!(flagged[0]["signer"], EXPORTER, "{j}");
    assert_eq!(flagged[0]["kind"], "produce", "{j}");
    // The cooperative's lot is not flagged.
    let j = ok(net
        .wb()
        .args(["lookup", GREEN, "--json", "--data-dir", &data]))
    .json();
    assert!(
        j["compromised"].as_array().is_some_and(|a| a.is_empty()),
        "{j}"
    );
    net.state();

    // `record govern --help` teaches it.
    let out = ok(support::wb().args(["record", "govern", "--help"]));
    for needle in [
        "--at",
        "revoke-key",
        "add-validator",
        "bind-node-key",
        "Example",
        "waybill cosign",
    ] {
        assert!(out.stdout.contains(needle), "no `{needle}` in:\n{out}");
    }
}
