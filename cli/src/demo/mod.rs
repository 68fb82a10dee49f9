//! `waybill demo`: the coffee story end to end on four real validator
//! nodes that agree by BFT consensus. The story (members, ids, steps) is
//! `waybill_testkit::coffee`, which the tests tell too. `waybill demo
//! consortium` ([`consortium`]) tells how the consortium itself changes.

mod consortium;
mod terms;

pub use consortium::run as run_consortium;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::bundle::{Bundle, BundleBody, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::crypto;
use waybill_core::entry::{Body, SignedEntry};
use waybill_core::gs1::LotId;
use waybill_core::trail::{self, Policy};
use waybill_testkit::coffee;

use crate::{node_client, record, report, util};
use waybill_testnet as testnet;

struct Actors {
    keys: Vec<SigningKey>,
}

impl Actors {
    fn key(&self, stem: &str) -> Result<&SigningKey> {
        coffee::MEMBERS
            .iter()
            .position(|m| m.stem == stem)
            .and_then(|i| self.keys.get(i))
            .ok_or_else(|| anyhow!("no demo member {stem}"))
    }
    fn pk(&self, stem: &str) -> Result<crypto::PublicKey> {
        Ok(crypto::public_key(self.key(stem)?))
    }
}

/// Runs the demo.
pub fn run(keep: Option<PathBuf>) -> Result<ExitCode> {
    let (_tmp, dir) = work_dir(keep.as_deref(), "waybill-demo-")?;
    let dir: &Path = &dir;
    println!("Waybill demo: one lot of Colombian coffee, from the farm to a German shelf, as it really goes.");
    println!("working in {}\n", dir.display());

    // 1. A four-validator consortium on this machine: keys, genesis and a
    //    node.toml per node, on free loopback ports.
    let node_bin = node_binary()?;
    let net = testnet::generate(dir, coffee::CHAIN_NAME, &coffee_members()?, 4, &[], 200)?;
    let genesis = net.genesis.clone();
    let genesis_path = net.genesis_path.clone();
    for m in &genesis.members {
        println!(
            "  member {:<34} {}  {}",
            m.name,
            m.public_key.short(),
            m.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("+")
        );
    }
    println!(
        "\n1. genesis {} written; chain id {}",
        genesis_path.display(),
        genesis.chain_id()
    );
    let mut keys_by_stem = Vec::new();
    for m in coffee::MEMBERS {
        let path = net
            .member_keys
            .get(m.stem)
            .ok_or_else(|| anyhow!("no key for {}", m.stem))?;
        keys_by_stem.push(util::read_key(path)?);
    }
    let actors = Actors { keys: keys_by_stem };

    // 2. Four real node processes.
    let mut cluster = testnet::Cluster::new(net, &node_bin);
    cluster.start_all()?;
    let names: Vec<String> = cluster.net.nodes.iter().map(|n| n.name.clone()).collect();
    for n in &names {
        cluster
            .wait_height(n, 1, Duration::from_secs(60))
            .map_err(|e| anyhow!("{e}"))?;
    }
    println!(
        "2. four validators are running and agreeing (APIs on {})\n",
        cluster
            .net
            .nodes
            .iter()
            .map(|n| n.api.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let t0: i64 = util::now_ms();
    let mut step = 3;
    let mut last_final = 0u64;
    let mut nonces: std::collections::BTreeMap<crypto::PublicKey, u64> = Default::default();
    let apis: Vec<std::net::SocketAddr> = cluster.net.nodes.iter().map(|n| n.api).collect();
    let mut record =
        |who: &str, cosigners: &[&str], body: Body, at: i64, what: String| -> Result<SignedEntry> {
            let key = actors.key(who)?;
            let me = crypto::public_key(key);
            let nonce = nonces.get(&me).copied().unwrap_or(0) + 1;
            let mut e = record::sign_entry(&genesis, key, nonce, Some(at), body);
            for c in cosigners {
                e.cosign(actors.key(c)?);
            }
            nonces.insert(me, nonce);
            // Each step goes to a different node; gossip brings it to the rest.
            let api = apis[(step - 3) % apis.len()];
            wait_for_height(api, last_final).with_context(|| what.clone())?;
            let height = submit_and_wait(api, &e).with_context(|| what.clone())?;
            last_final = last_final.max(height);
            println!(
                "{step}. {what}\n     entry {} sent to node {api}, final in block {height}",
                e.id().short()
            );
            step += 1;
            Ok(e)
        };

    // The coffee story as it really goes (waybill_testkit::coffee), one
    // step per entry.
    let key_of = |stem: &str| actors.pk(stem).ok();
    let (story, _) = coffee::Story::tell_harder(&coffee::Teller {
        t0_ms: t0,
        green_batch: coffee::GREEN_BATCH,
        payment_id: record::new_uetr()?,
        salt_seed: util::random_salt(),
        key_of: &key_of,
    })?;
    let mut ids = Vec::with_capacity(story.steps.len());
    for st in &story.steps {
        let body = st.body_after(&ids)?;
        let e = record(st.who, &st.cosigners, body, st.at_ms, st.what.clone())?;
        ids.push(e.id());
    }
    let roasted = story.ids.roasted;
    let green = story.ids.green;

    // The consumer's view, from another node, checked against the genesis.
    let link = roasted
        .digital_link()
        .unwrap_or_else(|| roasted.to_string());
    let lot: LotId = link.parse()?;
    let via = apis[2];
    println!("\nA shopper scans {link}; node {via} answers:\n");
    let (trail, r) = shopper_lookup(&genesis, via, &lot, last_final)?;
    if r.recalls.iter().all(|x| x.lifted.is_some()) {
        bail!("the demo's recall of the green lot does not show on the roasted lot's lookup");
    }
    if r.payments.iter().all(|p| p.confirmed.is_none()) {
        bail!("the cooperative's confirmation of the payment does not show on the lookup");
    }

    // What the shopper did not see: the payment's terms, for the auditor.
    terms::show(
        &genesis,
        apis[0],
        &story.terms,
        actors.key("roaster")?,
        actors.key("auditor")?,
    )?;

    // What the recall must reach, each lot's trail verified.
    println!("The cooperative asks what its recall of {green} must reach:\n");
    let mut reach = Vec::new();
    for (id, itself) in [(green.clone(), true), (roasted.clone(), false)] {
        let t = fetch_trail(via, &id)?;
        let report = trail::verify(
            &genesis,
            &t,
            Policy {
                require_certificates: true,
            },
        )
        .map_err(|e| anyhow!("the trail of {id} failed to verify: {e}"))?;
        reach.push(crate::forward::Reach {
            lot: id,
            itself,
            report,
        });
    }
    crate::forward::print(&green, &reach, &format!("node {via}"), None, false)?;
    println!();

    // The auditor's bundle, verified as an outsider would.
    let auditor = actors.key("auditor")?;
    let bundle = BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: genesis.chain_name.clone(),
        chain_id: genesis.chain_id(),
        exported_at_ms: util::now_ms(),
        exporter: crypto::public_key(auditor),
        certificates_required: true,
        trail,
    }
    .sign(auditor);
    let bundle_path = dir.join("audit-bundle.json");
    let text = bundle.to_file_text();
    std::fs::write(&bundle_path, &text)?;
    let (_, br) = Bundle::verify_file(text.as_bytes(), &genesis, true)
        .map_err(|e| anyhow!("the demo bundle failed to verify: {e}"))?;
    println!(
        "The auditor exported {} ({} entries, {} bytes), signed by Kessler Supply Chain Audit.",
        bundle_path.display(),
        br.entries,
        text.len()
    );
    println!(
        "VERIFIED offline with only {}: signature, proofs, commit certificates and custody chain.",
        genesis_path.display()
    );

    // Every node holds the same chain.
    let common = same_block(&apis)?;
    println!("\nAll four nodes hold the same block at height {common}.");
    let clean = cluster.stop_all(Duration::from_secs(10));
    println!(
        "Nodes stopped{}.",
        if clean {
            " cleanly"
        } else {
            " (some had to be killed)"
        }
    );
    if keep.is_some() {
        println!(
            "\nTry: waybill verify-bundle {} --genesis {} --require-certificates",
            bundle_path.display(),
            genesis_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds the `waybill-node` binary: next to this one, or on PATH
/// (`waybill_testnet::binary`).
pub(crate) fn node_binary() -> Result<PathBuf> {
    testnet::binary("waybill-node").map_err(|e| match e {
        testnet::TestnetError::NoBinary { .. } => anyhow!(
            "the demo runs real nodes, but no `waybill-node` binary is next to `waybill` or on PATH; build both with `cargo build --workspace`"
        ),
        e => anyhow!(e),
    })
}

/// Submits an entry through the CLI's node client and waits until it is
/// final; returns its block height.
/// Waits, up to 30 s, until the node at `api` has committed block
/// `height`: an entry final on one node may not be on another yet, so the
/// story's next step, sent to another node, waits for it to catch up.
pub(crate) fn wait_for_height(api: std::net::SocketAddr, height: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while testnet::status(api).map_or(0, |(h, _)| h) < height {
        if Instant::now() >= deadline {
            bail!("node {api} did not reach block {height} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub(crate) fn submit_and_wait(api: std::net::SocketAddr, e: &SignedEntry) -> Result<u64> {
    let node = node_client::Node::new(&format!("http://{api}"))?;
    if let node_client::Submitted::Rejected(why) = node.submit(e)? {
        bail!("node {api} refused the entry: {why}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let node_client::EntryState::Final { height } =
            node.entry_state(&e.id(), Duration::from_secs(5))?
        {
            return Ok(height);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("entry {} was not final within 30 s", e.id().short())
}

/// Fetches a lot's trail from a node (to be verified, never trusted).
fn fetch_trail(api: std::net::SocketAddr, lot: &LotId) -> Result<waybill_core::trail::Trail> {
    node_client::Node::new(&format!("http://{api}"))?
        .trail(lot)?
        .map_err(|e| anyhow!("node {api}: {e}"))
}

/// Checks that every node at `apis` serves the same block at the lowest
/// of their heights; returns that height.
pub(crate) fn same_block(apis: &[std::net::SocketAddr]) -> Result<u64> {
    let mut tips = Vec::new();
    for api in apis {
        let (h, _) =
            testnet::status(*api).ok_or_else(|| anyhow!("node {api} stopped answering"))?;
        tips.push(h);
    }
    let common = tips.iter().copied().min().unwrap_or(0);
    let mut hashes = std::collections::BTreeSet::new();
    for api in apis {
        let (code, body) = testnet::http_get(
            *api,
            &format!("/v1/blocks/{common}"),
            Duration::from_secs(5),
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if code != 200 {
            bail!("node {api} has no block {common}");
        }
        hashes.insert(v["hash"].as_str().unwrap_or_default().to_string());
    }
    if hashes.len() != 1 {
        bail!("the nodes disagree at height {common}: {hashes:?}");
    }
    Ok(common)
}

/// The directory a demo works in: `keep`, made if need be, or a new
/// temporary one (removed when the returned guard is dropped).
pub(crate) fn work_dir(
    keep: Option<&Path>,
    prefix: &str,
) -> Result<(Option<tempfile::TempDir>, PathBuf)> {
    match keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            Ok((None, d.to_path_buf()))
        }
        None => {
            let tmp = tempfile::Builder::new().prefix(prefix).tempdir()?;
            let path = tmp.path().to_path_buf();
            Ok((Some(tmp), path))
        }
    }
}

/// The coffee consortium as `testnet` members (keys filled in there).
pub(crate) fn coffee_members() -> Result<Vec<testnet::MemberDef>> {
    coffee::MEMBERS
        .iter()
        .map(|m| {
            Ok(testnet::MemberDef {
                stem: m.stem.into(),
                spec: m.spec(crypto::PublicKey([0; 32]))?,
            })
        })
        .collect()
}

/// A shopper's lookup of `lot` on the node at `api`, once it has
/// committed block `at_least` (another node may have reported an entry
/// final a moment before this one committed its block): the trail,
/// verified against the genesis with certificates required, printed as
/// `waybill lookup` prints it.
pub(crate) fn shopper_lookup(
    genesis: &waybill_core::genesis::Genesis,
    api: std::net::SocketAddr,
    lot: &LotId,
    at_least: u64,
) -> Result<(waybill_core::trail::Trail, waybill_core::trail::TrailReport)> {
    wait_for_height(api, at_least)?;
    let trail = fetch_trail(api, lot)?;
    let r = trail::verify(
        genesis,
        &trail,
        Policy {
            require_certificates: true,
        },
    )
    .map_err(|e| anyhow!("the trail of {lot} failed to verify: {e}"))?;
    report::print_trail(&r);
    println!(
        "VERIFIED: {} entries; {}\n",
        r.entries,
        report::finality(&r)
    );
    Ok((trail, r))
}
