//! Scenario: the networks follow the ledger (issue 26, item 3). An
//! exporter outside genesis runs a node that lists the validators, while
//! no validator lists it. The node runs with a node key of its own, not
//! the exporter's signing key: refused until governance adds the exporter
//! as a member and binds the node key to it, then admitted, synced and
//! gossiping the exporter's entries; the node key made a fifth
//! validator, it votes;
//! a genesis validator retired by governance, and the full node of a
//! member removed at the same height (listed by every validator), are cut
//! off and fall behind.
//! Entries flow throughout, and every certificate verifies against the
//! set of its height.

use std::time::{Duration, Instant};

use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{Body, SignedEntry};
use waybill_core::genesis::{MemberSpec, Role, ValidatorSpec};
use waybill_core::governance::{GovernanceChange, GovernanceEntry};

use super::*;

/// Two admins (the bank and the auditor) schedule `change` for `at`,
/// through v2; returns the height it is final at (before `at`).
fn govern(n: &mut Net, at: u64, change: GovernanceChange) -> u64 {
    let mut e = n.signers.sign(
        "bank",
        Body::Governance(GovernanceEntry {
            effective_height: at,
            change,
        }),
    );
    n.signers.cosign("auditor", &mut e);
    n.submit("v2", &e);
    let h = n.wait_final(&["v1", "v2", "v3"], &e, Duration::from_secs(30));
    assert!(h < at, "scheduled at {h} for {at}");
    h
}

/// The cooperative records `count` productions through v3 (one author to
/// one node, in nonce order); returns them.
fn load(n: &mut Net, tag: &str, count: usize) -> Vec<SignedEntry> {
    (0..count)
        .map(|i| {
            let e = n.signers.sign(
                "cooperative",
                produce(&lot(&format!("JOIN-{tag}-{i}")), "Green coffee", 5, &[]),
            );
            n.submit("v3", &e);
            e
        })
        .collect()
}

/// The longest time between consecutive blocks `from..=to` on `name`.
fn longest_gap(n: &Net, name: &str, from: u64, to: u64) -> i64 {
    let times: Vec<i64> = (from..=to)
        .map(|x| n.block(name, x).expect("a block").block.header.time_ms)
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// The keys that signed block `h`'s certificate on `name`.
fn signers_of(n: &Net, name: &str, h: u64) -> Vec<PublicKey> {
    n.block(name, h)
        .expect("the block")
        .certificate
        .expect("a certificate")
        .signatures
        .iter()
        .map(|s| s.validator)
        .collect()
}

#[test]
fn a_new_member_joins_becomes_a_validator_and_a_retired_one_is_cut_off() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut n = Net::generate("coffee-joining", &["retailer"], Duration::from_secs(240));
    // The exporter signs with its own key; its node runs with another.
    let exporter_key = waybill_keys::generate();
    let exporter = crypto::public_key(&exporter_key);
    let node_key = waybill_keys::generate();
    let node = crypto::public_key(&node_key);
    n.cluster
        .net
        .add_node("exporter", &node_key)
        .unwrap_or_else(|e| panic!("cannot add the exporter's node: {e}"));
    n.signers.keys.insert("exporter".into(), exporter_key);
    n.cluster.start_all().unwrap();
    for v in VALIDATORS {
        n.wait_height(v, 2, Duration::from_secs(60));
    }
    n.wait_height("retailer", 2, Duration::from_secs(60));

    // Outside the ledger, the exporter's node is refused: it stays at 0.
    let t = Instant::now();
    n.wait_height("v1", n.height("v1") + 10, Duration::from_secs(30));
    assert_eq!(
        n.height("exporter"),
        0,
        "a node whose key the ledger does not name synced"
    );
    eprintln!(
        "[{:?}] the exporter's node is refused while the validators advance ({:?})",
        started.elapsed(),
        t.elapsed()
    );

    // The admins add the exporter as a member a few blocks on, and bind
    // its node key to it.
    let joins = n.max_height(&VALIDATORS) + 12;
    govern(
        &mut n,
        joins,
        GovernanceChange::AddMember(MemberSpec {
            name: "Exportadora del Sur".into(),
            public_key: exporter,
            roles: vec![Role::Producer],
            country: Some("CO".parse().expect("a country")),
            gs1_company_prefixes: Vec::new(),
        }),
    );
    govern(
        &mut n,
        joins,
        GovernanceChange::BindNodeKey {
            member: exporter,
            node_key: node,
        },
    );
    let mut all_load = load(&mut n, "before-join", 4);
    n.wait_height("v1", joins, Duration::from_secs(30));
    let at_join = Instant::now();
    n.wait_height("exporter", joins, Duration::from_secs(30));
    eprintln!(
        "[{:?}] the exporter's node synced past height {joins} {:?} after v1 made the change",
        started.elapsed(),
        at_join.elapsed()
    );
    assert!(
        at_join.elapsed() < Duration::from_secs(10),
        "admitted {:?} after its height",
        at_join.elapsed()
    );
    // It gossips: its own entry, sent to its own node, is final on the
    // validators.
    let own = n.signers.sign(
        "exporter",
        produce(&lot("EXPORTADORA-001"), "Green coffee", 300, &[]),
    );
    n.submit("exporter", &own);
    n.wait_final(
        &["v1", "v2", "v3", "v4", "exporter"],
        &own,
        Duration::from_secs(30),
    );
    eprintln!(
        "[{:?}] the exporter's entry, sent to its node, is final everywhere",
        started.elapsed()
    );

    // A fifth validator, under load.
    let votes = n.max_height(&VALIDATORS) + 12;
    let scheduled = govern(
        &mut n,
        votes,
        GovernanceChange::AddValidator(ValidatorSpec {
            name: "v5 (Exportadora del Sur)".into(),
            public_key: node,
            power: 1,
            p2p: Vec::new(),
        }),
    );
    all_load.extend(load(&mut n, "add", 6));
    n.wait_height("v1", votes + 3, Duration::from_secs(30));
    let gap_add = longest_gap(&n, "v1", scheduled, votes + 3);
    eprintln!(
        "longest gap between blocks {scheduled}..={}: {gap_add} ms",
        votes + 3
    );
    assert!(gap_add < 5_000, "finality stalled {gap_add} ms adding v5");
    n.wait_until(
        "the exporter signs a certificate as a validator",
        Duration::from_secs(30),
        || {
            let tip = n.height("v1");
            (votes..=tip).any(|h| signers_of(&n, "v1", h).contains(&node))
        },
    );
    eprintln!(
        "[{:?}] from height {votes} the exporter votes",
        started.elapsed()
    );

    // v4 retires: it leaves the set, its node is cut off and falls
    // behind while the four others (3 of 4 genesis validators and the
    // exporter) go on.
    let v4 = n.cluster.node("v4").expect("v4").public_key;
    let retires = n.max_height(&VALIDATORS) + 12;
    let scheduled = govern(
        &mut n,
        retires,
        GovernanceChange::RemoveValidator { public_key: v4 },
    );
    let retailer = n.signers.pk("retailer");
    govern(
        &mut n,
        retires,
        GovernanceChange::RemoveMember {
            public_key: retailer,
        },
    );
    all_load.extend(load(&mut n, "retire", 6));
    n.wait_height("v1", retires + 3, Duration::from_secs(30));
    let gap_retire = longest_gap(&n, "v1", scheduled, retires + 3);
    eprintln!(
        "longest gap between blocks {scheduled}..={}: {gap_retire} ms",
        retires + 3
    );
    assert!(
        gap_retire < 5_000,
        "finality stalled {gap_retire} ms retiring v4"
    );
    let cut = n.height("v4");
    let cut_retailer = n.height("retailer");
    let on = ["v1", "v2", "v3", "exporter"];
    n.wait_height("v1", cut.max(cut_retailer) + 15, Duration::from_secs(30));
    let later = n.height("v4");
    assert!(
        later < cut + 5,
        "v4 was retired at {retires} but still follows: {cut} -> {later}"
    );
    let later_retailer = n.height("retailer");
    assert!(
        later_retailer < cut_retailer + 5 && later_retailer <= retires + 2,
        "the retailer was removed at {retires} but its node still follows: {cut_retailer} -> {later_retailer}"
    );
    eprintln!(
        "[{:?}] v4 is cut off at {later} and the removed retailer's node at {later_retailer} while v1 passed {}",
        started.elapsed(),
        cut.max(cut_retailer) + 15
    );
    for e in &all_load {
        n.wait_final(&on, e, Duration::from_secs(30));
    }
    // No certificate after the retirement carries v4's signature, and
    // every block on every remaining node verifies against its height's
    // set.
    let tip = n.min_height(&on);
    for h in retires..=tip {
        assert!(!signers_of(&n, "v1", h).contains(&v4), "v4 signed {h}");
    }
    n.assert_same_chain(&on, tip);
    // Offline, from the genesis alone: a lot recorded after both changes
    // has certificates of the set without v4, each verified against its
    // height's set, replayed from the governance entries the trail
    // carries.
    let late = n.signers.sign(
        "cooperative",
        produce(&lot("JOIN-AFTER"), "Green coffee", 5, &[]),
    );
    n.submit("v3", &late);
    let h_late = n.wait_final(&on, &late, Duration::from_secs(30));
    assert!(h_late > retires);
    let late_lot = lot("JOIN-AFTER");
    let (t, _) = n.verified_trail("exporter", &late_lot);
    assert!(t.items.iter().any(|i| i.header.height >= retires));
    let carried: Vec<&str> = t
        .items
        .iter()
        .filter_map(|i| match &i.entry.entry.body {
            Body::Governance(g) => Some(g.change.kind()),
            _ => None,
        })
        .collect();
    for kind in [
        "add member",
        "add validator",
        "remove validator",
        "remove member",
    ] {
        assert!(
            carried.contains(&kind),
            "the trail lacks the {kind} change: {carried:?}"
        );
    }
    // The log's checkpoint of that height is cosigned by the set without
    // v4: read with the consortium's history from a node, its cosigners
    // are that set's; from the genesis alone the exporter's line is of no
    // validator it knows. `lookup` takes the set from the trail.
    {
        use waybill_testkit::process::ok;
        let g = n.cluster.net.genesis_path.display().to_string();
        let url = format!("http://{}", n.api("exporter"));
        let (with, note) = node_checkpoint(&n, "exporter", h_late);
        let with = cosigner_names(&with);
        assert!(
            with.iter().any(|c| c == "v5 (Exportadora del Sur)"),
            "{with:?}"
        );
        assert!(!with.iter().any(|c| c == "v4"), "{with:?}");
        // From the genesis alone the exporter's line is not counted: it
        // verifies only if three genesis validators cosigned, and says so.
        let alone = waybill_testkit::process::run(support::wb().args([
            "checkpoint",
            "verify",
            &note,
            "-g",
            &g,
            "--json",
        ]));
        if alone.code == Some(0) {
            let alone = cosigner_names(&alone.json());
            assert!(!alone.iter().any(|c| c.starts_with("v5")), "{alone:?}");
        } else {
            assert!(alone.stdout.contains("give --node"), "{alone}");
        }
        let out =
            ok(support::wb().args(["lookup", &late_lot.to_string(), "--node", &url, "-g", &g]));
        assert!(
            out.stdout.contains("Log: ") && out.stdout.contains("v5 (Exportadora del Sur)"),
            "{out}"
        );
    }
    eprintln!(
        "[{:?}] 1..={tip} identical on the four; gaps {gap_add} and {gap_retire} ms",
        started.elapsed()
    );
}
