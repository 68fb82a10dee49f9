//! `waybill demo`: the coffee story end to end on four real validator
//! nodes that agree by BFT consensus.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::bundle::{Bundle, BundleBody, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{self, Hash32};
use waybill_core::entry::{
    Body, Customs, Dispatch, DocRef, GeoPoint, Input, Location, Payment, PaymentMethod,
    PaymentStatus, Produce, Product, Quantity, Receive, Settlement, SignedEntry,
};
use waybill_core::genesis::{MemberSpec, Role};
use waybill_core::gs1::{gs1_check_digit, Gtin, LotId, ShipmentId};
use waybill_core::trail::{self, Policy};

use crate::{node_client, record, report, util};
use waybill_node::testnet;

/// A GS1 key from its digits without the check digit.
pub fn with_check_digit(body: &str) -> Result<String> {
    let d = gs1_check_digit(body).ok_or_else(|| anyhow!("`{body}` is not digits"))?;
    Ok(format!("{body}{d}"))
}

/// A demo member: (file stem, name, roles, country, GS1 prefix).
pub type DemoMember = (
    &'static str,
    &'static str,
    &'static [Role],
    &'static str,
    Option<&'static str>,
);

/// The example consortium's members.
pub const MEMBERS: &[DemoMember] = &[
    (
        "cooperative",
        "Cooperativa Cafetera del Huila",
        &[Role::Producer, Role::Payer],
        "CO",
        Some("7709998"),
    ),
    (
        "roaster",
        "Hanseatic Coffee Roasters GmbH",
        &[Role::Processor, Role::Payer],
        "DE",
        Some("4061234"),
    ),
    (
        "carrier",
        "Atlantic Ocean Lines",
        &[Role::Carrier],
        "DK",
        None,
    ),
    (
        "retailer",
        "Frischmarkt Retail AG",
        &[Role::Retailer, Role::Payer],
        "DE",
        None,
    ),
    (
        "bank",
        "Banco del Pacifico Trade Finance",
        &[Role::Payer, Role::Admin],
        "CO",
        None,
    ),
    (
        "auditor",
        "Kessler Supply Chain Audit",
        &[Role::Auditor, Role::Admin],
        "CH",
        None,
    ),
];

struct Actors {
    keys: Vec<SigningKey>,
}

impl Actors {
    fn key(&self, stem: &str) -> Result<&SigningKey> {
        MEMBERS
            .iter()
            .position(|m| m.0 == stem)
            .and_then(|i| self.keys.get(i))
            .ok_or_else(|| anyhow!("no demo member {stem}"))
    }
    fn pk(&self, stem: &str) -> Result<crypto::PublicKey> {
        Ok(crypto::public_key(self.key(stem)?))
    }
}

fn doc(label: &str, content: &str, media: &str) -> DocRef {
    DocRef {
        sha256: Hash32::digest(content.as_bytes()),
        media_type: media.into(),
        uri: None,
        label: Some(label.into()),
    }
}

fn qty(s: &str) -> Result<Decimal3> {
    s.parse().map_err(|e| anyhow!("{e}"))
}

/// Runs the demo.
pub fn run(keep: Option<PathBuf>) -> Result<ExitCode> {
    let tmp;
    let dir: &Path = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::Builder::new().prefix("waybill-demo-").tempdir()?;
            tmp.path()
        }
    };
    println!("Waybill demo: one lot of Colombian coffee, from the farm to a German shelf.");
    println!("working in {}\n", dir.display());

    // 1. A four-validator consortium on this machine: keys, genesis and a
    //    node.toml per node, on free loopback ports.
    let node_bin = node_binary()?;
    let members: Vec<testnet::MemberDef> = MEMBERS
        .iter()
        .map(|(stem, name, roles, country, prefix)| {
            Ok(testnet::MemberDef {
                stem: (*stem).into(),
                spec: MemberSpec {
                    name: (*name).into(),
                    public_key: crypto::PublicKey([0; 32]),
                    roles: roles.to_vec(),
                    country: Some(country.parse()?),
                    gs1_company_prefixes: match prefix {
                        Some(p) => vec![p.parse()?],
                        None => vec![],
                    },
                },
            })
        })
        .collect::<Result<_>>()?;
    let net = testnet::generate(dir, "andes-to-europe-coffee", &members, 4, &[], 200)?;
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
    for (stem, ..) in MEMBERS {
        let path = net
            .member_keys
            .get(*stem)
            .ok_or_else(|| anyhow!("no key for {stem}"))?;
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
    let day = 86_400_000i64;
    let mut step = 3;
    let mut nonces: std::collections::BTreeMap<crypto::PublicKey, u64> = Default::default();
    let apis: Vec<std::net::SocketAddr> = cluster.net.nodes.iter().map(|n| n.api).collect();
    let mut record = |who: &str, body: Body, at: i64, what: String| -> Result<SignedEntry> {
        let key = actors.key(who)?;
        let me = crypto::public_key(key);
        let nonce = nonces.get(&me).copied().unwrap_or(0) + 1;
        let e = record::sign_entry(&genesis, key, Some(nonce), None, Some(at), body)?;
        nonces.insert(me, nonce);
        // Each step goes to a different node; gossip brings it to the rest.
        let api = apis[(step - 3) % apis.len()];
        let height = submit_and_wait(api, &e).with_context(|| what.clone())?;
        println!(
            "{step}. {what}\n     entry {} sent to node {api}, final in block {height}",
            e.id().short()
        );
        step += 1;
        Ok(e)
    };

    let green_gtin: Gtin = with_check_digit("770999800001")?.parse()?;
    let roast_gtin: Gtin = with_check_digit("406123400002")?.parse()?;
    let green = LotId::batch(green_gtin, "HUILA-2611-07")?;
    let roasted = LotId::batch(roast_gtin, "HH-R-4471")?;
    let sea: ShipmentId = format!("(00){}", with_check_digit("07709998000000001")?).parse()?;
    let road: ShipmentId = format!("(00){}", with_check_digit("04061234000000002")?).parse()?;

    record(
        "cooperative",
        Body::Produce(Produce {
            lot: green.clone(),
            product: Product {
                gtin: Some(green_gtin),
                id: None,
                description: "Green coffee, washed Arabica, Huila".into(),
            },
            quantity: Quantity {
                value: qty("600")?,
                unit: UnitCode::Kgm,
            },
            origin: Location {
                gln: None,
                country: Some("CO".parse()?),
                name: Some("Finca La Esperanza, Pitalito, Huila".into()),
                geo: Some(GeoPoint {
                    lat_micro: 1_853_000,
                    lon_micro: -76_051_000,
                }),
            },
            produced_at_ms: t0 - 30 * day,
            certificates: vec![doc(
                "Fairtrade certificate FLO-ID 4711",
                "fairtrade",
                "application/pdf",
            )],
            documents: vec![],
            inputs: vec![],
        }),
        t0 - 30 * day,
        format!("The cooperative records 600 kg of green coffee as lot {green}"),
    )?;
    record(
        "cooperative",
        Body::Dispatch(Dispatch {
            shipment: sea.clone(),
            lots: vec![green.clone()],
            consignee: actors.pk("roaster")?,
            carrier: Some(actors.pk("carrier")?),
            from: Location {
                country: Some("CO".parse()?),
                name: Some("Port of Buenaventura".into()),
                ..Location::default()
            },
            to: Location {
                country: Some("DE".parse()?),
                name: Some("Port of Hamburg".into()),
                ..Location::default()
            },
            documents: vec![doc(
                "bill of lading AOL-BUN-HAM-0912",
                "bl",
                "application/pdf",
            )],
        }),
        t0 - 25 * day,
        format!("It dispatches the lot by sea to the roaster in Hamburg (shipment {sea})"),
    )?;
    record(
        "carrier",
        Body::Receive(Receive {
            shipment: sea.clone(),
            at: Location {
                country: Some("CO".parse()?),
                name: Some("Port of Buenaventura".into()),
                ..Location::default()
            },
            documents: vec![],
        }),
        t0 - 25 * day + 3_600_000,
        "The ocean carrier takes the container over at Buenaventura".into(),
    )?;
    record(
        "roaster",
        Body::Receive(Receive {
            shipment: sea.clone(),
            at: Location {
                country: Some("DE".parse()?),
                name: Some("Hamburg roastery".into()),
                ..Location::default()
            },
            documents: vec![],
        }),
        t0 - 8 * day,
        "The roaster receives it in Hamburg".into(),
    )?;
    record(
        "roaster",
        Body::Payment(Payment {
            payment_id: record::new_uetr()?,
            payer: actors.pk("roaster")?,
            payee: actors.pk("cooperative")?,
            amount_minor: 1_089_000,
            currency: "EUR".parse()?,
            settlement: Some(Settlement {
                amount_minor: 1_200_000,
                currency: "USD".parse()?,
                fx_rate: "1.101928".parse()?,
            }),
            incoterm: "DDP".parse()?,
            shipments: vec![sea.clone()],
            customs: Some(Customs {
                hs_codes: vec!["0901.11".parse()?],
                declaration_sha256: Some(Hash32::digest(b"salt||customs declaration")),
            }),
            method: PaymentMethod::SwiftTransfer,
            status: PaymentStatus::Settled,
        }),
        t0 - 7 * day,
        "The roaster pays the cooperative's USD 12,000.00 invoice with EUR 10,890.00 under DDP"
            .into(),
    )?;
    record(
        "roaster",
        Body::Produce(Produce {
            lot: roasted.clone(),
            product: Product {
                gtin: Some(roast_gtin),
                id: None,
                description: "Roasted coffee beans, Huila single origin".into(),
            },
            quantity: Quantity {
                value: qty("480")?,
                unit: UnitCode::Kgm,
            },
            origin: Location {
                country: Some("DE".parse()?),
                name: Some("Hamburg roastery".into()),
                ..Location::default()
            },
            produced_at_ms: t0 - 5 * day,
            certificates: vec![],
            documents: vec![],
            inputs: vec![Input {
                lot: green.clone(),
                quantity: qty("600")?,
            }],
        }),
        t0 - 5 * day,
        format!("It roasts all 600 kg into 480 kg of lot {roasted} (the green lot is consumed)"),
    )?;
    record(
        "roaster",
        Body::Dispatch(Dispatch {
            shipment: road.clone(),
            lots: vec![roasted.clone()],
            consignee: actors.pk("retailer")?,
            carrier: None,
            from: Location {
                country: Some("DE".parse()?),
                name: Some("Hamburg roastery".into()),
                ..Location::default()
            },
            to: Location {
                country: Some("DE".parse()?),
                name: Some("Frischmarkt DC Hannover".into()),
                ..Location::default()
            },
            documents: vec![],
        }),
        t0 - 3 * day,
        format!("It ships the roasted lot to the retailer (shipment {road})"),
    )?;
    record(
        "retailer",
        Body::Receive(Receive {
            shipment: road.clone(),
            at: Location {
                country: Some("DE".parse()?),
                name: Some("Frischmarkt DC Hannover".into()),
                ..Location::default()
            },
            documents: vec![],
        }),
        t0 - 2 * day,
        "The retailer receives it".into(),
    )?;

    // The consumer's view, from another node, checked against the genesis.
    let link = roasted
        .digital_link()
        .unwrap_or_else(|| roasted.to_string());
    let lot: LotId = link.parse()?;
    let via = apis[2];
    println!("\nA shopper scans {link}; node {via} answers:\n");
    let trail = fetch_trail(via, &lot)?;
    let r = trail::verify(
        &genesis,
        &trail,
        Policy {
            require_certificates: true,
        },
    )
    .map_err(|e| anyhow!("the demo trail failed to verify: {e}"))?;
    report::print_trail(&r);
    println!(
        "VERIFIED: {} entries; {}\n",
        r.entries,
        report::finality(&r)
    );

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
    let mut tips = Vec::new();
    for api in &apis {
        let (h, _) =
            testnet::status(*api).ok_or_else(|| anyhow!("node {api} stopped answering"))?;
        tips.push(h);
    }
    let common = tips.iter().copied().min().unwrap_or(0);
    let mut hashes = std::collections::BTreeSet::new();
    for api in &apis {
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

/// Finds the `waybill-node` binary: next to this one, or on PATH.
fn node_binary() -> Result<PathBuf> {
    let name = format!("waybill-node{}", std::env::consts::EXE_SUFFIX);
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&paths) {
            let p = d.join(&name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!("the demo runs real nodes, but no `waybill-node` binary is next to `waybill` or on PATH; build both with `cargo build --workspace`")
}

/// Submits an entry through the CLI's node client and waits until it is
/// final; returns its block height.
fn submit_and_wait(api: std::net::SocketAddr, e: &SignedEntry) -> Result<u64> {
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
