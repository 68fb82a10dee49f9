//! `waybill demo consortium`: the consortium changes while it runs. Four
//! real validator nodes of the coffee consortium; an exporter outside
//! genesis starts a node that no validator lists and is refused until the
//! admins add it, then syncs and gossips; it becomes a fifth validator; the
//! ocean carrier's key is reported stolen and revoked with "compromised
//! since"; a genesis validator is retired and its node cut off. The coffee
//! story's entries flow throughout, and the shopper's lookup at the end
//! verifies against the genesis alone and flags the entry signed after the
//! compromise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::block::{Block, CommitCertificate};
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{Body, Location, Produce, Product, Quantity, SignedEntry};
use waybill_core::genesis::{Genesis, MemberSpec, Role, ValidatorSpec};
use waybill_core::governance::{Compromise, GovernanceChange, GovernanceEntry};
use waybill_core::gs1::LotId;
use waybill_testkit::coffee;
use waybill_testnet as testnet;

use super::{
    coffee_members, node_binary, same_block, shopper_lookup, submit_and_wait, wait_for_height,
    work_dir,
};
use crate::{record, util};

/// How far ahead the admins schedule each change: far enough for the
/// entry to be final first, near enough not to keep anyone waiting.
const LEAD: u64 = 12;
/// The exporter's GS1 company prefix.
const EXPORTER_PREFIX: &str = "7707070";
/// Most time any one step may take.
const STEP: Duration = Duration::from_secs(60);

/// The demo's signers and where their entries go.
struct Demo {
    genesis: Genesis,
    keys: BTreeMap<String, SigningKey>,
    nonces: BTreeMap<PublicKey, u64>,
    /// The API of each node by name.
    apis: BTreeMap<String, SocketAddr>,
    step: usize,
    /// The highest block an entry of the story was final in.
    last_final: u64,
}

impl Demo {
    fn key(&self, who: &str) -> Result<&SigningKey> {
        self.keys
            .get(who)
            .ok_or_else(|| anyhow!("no demo key {who}"))
    }

    fn pk(&self, who: &str) -> Result<PublicKey> {
        Ok(crypto::public_key(self.key(who)?))
    }

    fn api(&self, node: &str) -> Result<SocketAddr> {
        self.apis
            .get(node)
            .copied()
            .ok_or_else(|| anyhow!("no demo node {node}"))
    }

    fn height(&self, node: &str) -> Result<u64> {
        let api = self.api(node)?;
        testnet::status(api)
            .map(|(h, _)| h)
            .ok_or_else(|| anyhow!("node {node} ({api}) does not answer"))
    }

    /// Signs `body` as `who` (co-signed by `cosigners`), recorded at
    /// `at_ms`, sends it to `node` and waits until it is final; prints the
    /// step and returns the entry and its height.
    fn record(
        &mut self,
        who: &str,
        cosigners: &[&str],
        body: Body,
        at_ms: Option<i64>,
        node: &str,
        what: &str,
    ) -> Result<(SignedEntry, u64)> {
        let key = self.key(who)?;
        let me = crypto::public_key(key);
        let nonce = self.nonces.get(&me).copied().unwrap_or(0) + 1;
        let mut e = record::sign_entry(&self.genesis, key, nonce, at_ms, body);
        for c in cosigners {
            e.cosign(self.key(c)?);
        }
        self.nonces.insert(me, nonce);
        let api = self.api(node)?;
        wait_for_height(api, self.last_final).with_context(|| what.to_string())?;
        let height = submit_and_wait(api, &e).with_context(|| what.to_string())?;
        self.last_final = self.last_final.max(height);
        println!(
            "{:>2}. {what}\n    entry {} sent to {node}, final in block {height}",
            self.step,
            e.id().short()
        );
        self.step += 1;
        Ok((e, height))
    }

    /// The bank and the auditor (the admin quorum) schedule `change` for
    /// [`LEAD`] blocks on; returns the height it holds from.
    fn govern(&mut self, change: GovernanceChange, what: &str) -> Result<u64> {
        let at = self.height("v1")? + LEAD;
        self.govern_at(at, change, what)
    }

    /// [`Demo::govern`] for height `at`.
    fn govern_at(&mut self, at: u64, change: GovernanceChange, what: &str) -> Result<u64> {
        let body = Body::Governance(GovernanceEntry {
            effective_height: at,
            change,
        });
        let (_, final_at) = self.record(
            "bank",
            &["auditor"],
            body,
            None,
            "v1",
            &format!("{what}, from height {at} (the bank and the auditor sign)"),
        )?;
        if final_at >= at {
            bail!("the change for height {at} was final only at {final_at}");
        }
        Ok(at)
    }

    /// Waits until `node` has committed `height`.
    fn wait_height(&self, node: &str, height: u64) -> Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < STEP {
            if testnet::status(self.api(node)?).is_some_and(|(h, _)| h >= height) {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("node {node} did not reach height {height} within {STEP:?}")
    }

    /// Block `h` and its certificate as `node` serves them.
    fn block(&self, node: &str, h: u64) -> Result<(Block, CommitCertificate)> {
        let (code, body) = testnet::http_get(
            self.api(node)?,
            &format!("/v1/blocks/{h}"),
            Duration::from_secs(5),
        )?;
        if code != 200 {
            bail!("node {node} has no block {h} ({code})");
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).with_context(|| format!("block {h} from {node}"))?;
        let block: Block = serde_json::from_value(v["block"].clone())
            .with_context(|| format!("block {h} from {node}"))?;
        let cert: Option<CommitCertificate> = serde_json::from_value(v["certificate"].clone())
            .with_context(|| format!("the certificate of block {h} from {node}"))?;
        let cert = cert.ok_or_else(|| anyhow!("block {h} on {node} has no certificate"))?;
        Ok((block, cert))
    }
}

/// A lot of the exporter's, under its own GS1 prefix.
fn exporter_lot(n: u64, batch: &str) -> Result<LotId> {
    let gtin = waybill_testkit::ids::try_gtin_under(EXPORTER_PREFIX, n)?;
    Ok(format!("(01){gtin}(10){batch}").parse()?)
}

fn exporter_produce(lot: &LotId, kg: &str) -> Result<Body> {
    Ok(Body::Produce(Produce {
        lot: lot.clone(),
        product: Product {
            gtin: lot.gtin(),
            id: None,
            description: "Green coffee, washed Arabica, Nariño".into(),
        },
        quantity: Quantity {
            value: kg.parse::<Decimal3>()?,
            unit: UnitCode::Kgm,
        },
        origin: Location {
            country: Some("CO".parse()?),
            name: Some("Exportadora del Sur, Pasto".into()),
            ..Location::default()
        },
        produced_at_ms: util::now_ms(),
        certificates: vec![],
        documents: vec![],
        inputs: vec![],
    }))
}

/// Runs the demo.
pub fn run(keep: Option<PathBuf>) -> Result<ExitCode> {
    let (_tmp, dir) = work_dir(keep.as_deref(), "waybill-demo-consortium-")?;
    let dir: &Path = &dir;
    println!("Waybill demo: a consortium that changes while it runs.");
    println!("working in {}\n", dir.display());
    let started = Instant::now();

    // Four validators of the coffee consortium, and a node for an
    // exporter that genesis does not name; it lists the validators, none
    // of them lists it.
    let node_bin = node_binary()?;
    let mut net = testnet::generate(dir, coffee::CHAIN_NAME, &coffee_members()?, 4, &[], 200)?;
    // The exporter signs with its own key, which stays with it; its node
    // runs with a node key.
    let exporter_key = waybill_keys::generate();
    let node_key = waybill_keys::generate();
    let exporter_node = crypto::public_key(&node_key);
    net.add_node("exporter", &node_key)?;
    let mut keys = BTreeMap::new();
    for (stem, path) in &net.member_keys {
        keys.insert(stem.clone(), util::read_key(path)?);
    }
    keys.insert("exporter".to_string(), exporter_key);
    let new_carrier_key = waybill_keys::generate();
    let apis = net.nodes.iter().map(|n| (n.name.clone(), n.api)).collect();
    let mut demo = Demo {
        genesis: net.genesis.clone(),
        keys,
        nonces: BTreeMap::new(),
        apis,
        step: 1,
        last_final: 0,
    };
    let genesis_path = net.genesis_path.clone();
    let mut cluster = testnet::Cluster::new(net, &node_bin);
    cluster.start_all()?;
    for v in ["v1", "v2", "v3", "v4"] {
        demo.wait_height(v, 1)?;
    }
    println!(
        "Four validators run the coffee consortium of {} members (genesis {}).",
        demo.genesis.members.len(),
        genesis_path.display()
    );
    let first = demo.height("v1")?;
    demo.wait_height("v1", first + 8)?;
    let refused = demo.height("exporter")?;
    if refused != 0 {
        bail!("the exporter's node synced to {refused} before the ledger admitted its key");
    }
    println!(
        "Exportadora del Sur starts a node; the ledger does not know its key, so the validators refuse it: it is at height 0 while they pass {}.\n",
        first + 8
    );

    // The story's first steps, while the admins let the exporter in.
    let key_of = |stem: &str| demo.keys.get(stem).map(crypto::public_key);
    let t0 = util::now_ms();
    let story = coffee::Story::tell(&coffee::Teller {
        t0_ms: t0,
        green_batch: "NARINO-2612-01",
        payment_id: record::new_uetr()?,
        salt_seed: util::random_salt(),
        key_of: &key_of,
    })?;
    let mut steps = story.steps.iter();
    let mut story_step = |demo: &mut Demo, node: &str| -> Result<()> {
        let st = steps
            .next()
            .ok_or_else(|| anyhow!("the coffee story ran out of steps"))?;
        demo.record(
            st.who,
            &st.cosigners,
            st.body.clone(),
            Some(st.at_ms),
            node,
            &st.what,
        )?;
        Ok(())
    };
    let exporter = demo.pk("exporter")?;
    let joins = demo.govern(
        GovernanceChange::AddMember(MemberSpec {
            name: "Exportadora del Sur".into(),
            public_key: exporter,
            roles: vec![Role::Producer],
            country: Some("CO".parse()?),
            gs1_company_prefixes: vec![EXPORTER_PREFIX.parse()?],
        }),
        "The admins add Exportadora del Sur as a producer with GS1 prefix 7707070",
    )?;
    demo.govern_at(
        joins,
        GovernanceChange::BindNodeKey {
            member: exporter,
            node_key: exporter_node,
        },
        "They bind the exporter's node key to it: the node may connect, its key signs nothing, and the exporter's own key stays off the server",
    )?;
    story_step(&mut demo, "v2")?;
    story_step(&mut demo, "v3")?;
    demo.wait_height("v1", joins)?;
    let took = demo.wait_height("exporter", joins)?;
    println!(
        "    height {joins}: the validators let the exporter's node in; it synced the chain {} ms after the height",
        took.as_millis()
    );
    let lot = exporter_lot(1, "NAR-0001")?;
    demo.record(
        "exporter",
        &[],
        exporter_produce(&lot, "300")?,
        None,
        "exporter",
        &format!("The exporter records 300 kg of lot {lot} through its own node; gossip takes it to the validators"),
    )?;

    // A fifth validator.
    let votes = demo.govern(
        GovernanceChange::AddValidator(ValidatorSpec {
            name: "v5 Exportadora del Sur".into(),
            public_key: exporter_node,
            power: 1,
            p2p: vec![],
        }),
        "The admins make the exporter's node a fifth validator",
    )?;
    story_step(&mut demo, "v4")?;
    story_step(&mut demo, "exporter")?;
    demo.wait_height("v1", votes)?;
    let deadline = Instant::now() + STEP;
    let signed = loop {
        let tip = demo.height("v1")?;
        let mut found = None;
        for h in votes..=tip {
            if demo
                .block("v1", h)?
                .1
                .signatures
                .iter()
                .any(|s| s.validator == exporter_node)
            {
                found = Some(h);
                break;
            }
        }
        if let Some(h) = found {
            break h;
        }
        if Instant::now() > deadline {
            bail!("the exporter signed no certificate from height {votes} on");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("    height {votes}: five validators; the exporter's node key signs block {signed}'s commit certificate");

    // The carrier's laptop was stolen the night before it took the
    // container over: its key is revoked, compromised since then, and
    // the carrier goes on with a new key.
    let carrier = demo.pk("carrier")?;
    let stolen_at = t0 - 25 * 86_400_000 - 6 * 3_600_000;
    let revoked = demo.govern(
        GovernanceChange::RevokeKey {
            public_key: carrier,
            compromised_since: Some(Compromise::Time(stolen_at)),
            replacement: Some(crypto::public_key(&new_carrier_key)),
        },
        "Atlantic Ocean Lines reports a laptop stolen the night before Buenaventura: the admins revoke its key, compromised since then, with a new key for the carrier",
    )?;
    story_step(&mut demo, "v1")?;
    story_step(&mut demo, "v2")?;
    demo.wait_height("v1", revoked)?;
    println!("    height {revoked}: the stolen key signs nothing more; what it signed since the theft will be flagged");

    // v4 is retired.
    let v4 = cluster.node("v4")?.public_key;
    let retires = demo.govern(
        GovernanceChange::RemoveValidator { public_key: v4 },
        "The admins retire validator v4 (its hardware is being replaced)",
    )?;
    story_step(&mut demo, "v3")?;
    story_step(&mut demo, "exporter")?;
    demo.wait_height("v1", retires)?;
    let cut = demo.height("v4")?;
    demo.wait_height("v1", cut + 10)?;
    let later = demo.height("v4")?;
    if later > retires + 2 {
        bail!("v4 was retired at {retires} but its node still follows (at {later})");
    }
    println!(
        "    height {retires}: v4 is out of the set and cut off; its node stays at {later} while the others pass {}",
        cut + 10
    );
    let lot2 = exporter_lot(2, "NAR-0002")?;
    demo.record(
        "exporter",
        &[],
        exporter_produce(&lot2, "250")?,
        None,
        "exporter",
        &format!("Entries go on with four validators: the exporter records lot {lot2}"),
    )?;

    // Finality across all of it.
    let tip = demo.height("v1")?;
    let mut gap = 0;
    let mut prev: Option<i64> = None;
    for h in 1..=tip {
        let t = demo.block("v1", h)?.0.header.time_ms;
        if let Some(p) = prev {
            gap = gap.max(t - p);
        }
        prev = Some(t);
    }
    println!(
        "\nBlocks 1..={tip}, across four governance changes: the longest time between two blocks was {gap} ms."
    );

    // The shopper, on the exporter's node.
    let link = story
        .ids
        .roasted
        .digital_link()
        .unwrap_or_else(|| story.ids.roasted.to_string());
    let via = demo.api("exporter")?;
    println!("\nA shopper scans {link}; the exporter's node answers:\n");
    let (_, r) = shopper_lookup(&demo.genesis, via, &story.ids.roasted, tip)?;
    if !r.compromised.iter().any(|c| c.key == carrier) {
        bail!("the lookup does not flag the carrier's entry signed after the theft");
    }

    let on: Vec<SocketAddr> = ["v1", "v2", "v3", "exporter"]
        .iter()
        .map(|n| demo.api(n))
        .collect::<Result<_>>()?;
    let common = same_block(&on)?;
    println!(
        "v1, v2, v3 and the exporter hold the same block at height {common}; v4 stopped at {}.",
        demo.height("v4")?
    );
    let clean = cluster.stop_all(Duration::from_secs(10));
    println!(
        "Nodes stopped{} after {:.0?}.",
        if clean {
            " cleanly"
        } else {
            " (some had to be killed)"
        },
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}
