//! `waybill demo`: the coffee story end to end on a local ledger.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::bundle::{Bundle, BundleBody, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{self, Hash32};
use waybill_core::entry::{
    Body, Customs, Dispatch, DocRef, GeoPoint, Input, Location, Payment, PaymentMethod,
    PaymentStatus, Produce, Product, Quantity, Receive, Settlement, SignedEntry,
};
use waybill_core::genesis::{
    ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::{gs1_check_digit, Gtin, LotId, ShipmentId};
use waybill_core::state::View;
use waybill_core::trail::{self, Policy};

use crate::{ledger_cmd, record, report, util};
use waybill_keys as keys;

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

/// Builds the example genesis for the given member keys and validator keys.
pub fn example_genesis(
    member_keys: &[crypto::PublicKey],
    validators: &[crypto::PublicKey],
) -> Result<Genesis> {
    let members = MEMBERS
        .iter()
        .zip(member_keys)
        .map(|((_, name, roles, country, prefix), key)| {
            Ok(MemberSpec {
                name: (*name).into(),
                public_key: *key,
                roles: roles.to_vec(),
                country: Some(country.parse()?),
                gs1_company_prefixes: match prefix {
                    Some(p) => vec![p.parse()?],
                    None => vec![],
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let g = Genesis {
        chain_name: "andes-to-europe-coffee".into(),
        members,
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, k)| ValidatorSpec {
                name: format!("validator-{}", i + 1),
                public_key: *k,
                power: 1,
                p2p: vec![],
            })
            .collect(),
        consensus: ConsensusParams::default(),
        governance: Governance::default(),
    };
    g.validate()?;
    Ok(g)
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

    // 1. Keys and genesis.
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)?;
    let mut member_keys = Vec::new();
    for (stem, name, roles, country, _) in MEMBERS {
        let k = keys::generate();
        let pem = keys::to_pem(&k, None)?;
        std::fs::write(keys_dir.join(format!("{stem}.pem")), pem.as_bytes())?;
        println!(
            "  key for {name} ({}, {country}): {}",
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            crypto::public_key(&k).short()
        );
        member_keys.push(k);
    }
    let validator = keys::generate();
    let actors = Actors { keys: member_keys };
    let pks: Vec<_> = actors.keys.iter().map(crypto::public_key).collect();
    let genesis = example_genesis(&pks, &[crypto::public_key(&validator)])?;
    let genesis_path = dir.join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml())?;
    println!(
        "\n1. genesis {} written; chain id {}",
        genesis_path.display(),
        genesis.chain_id()
    );

    let data_dir = dir.join("ledger");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    let mut ledger = ledger_cmd::init(&data_dir, genesis.clone())?;
    println!("2. local ledger created in {}\n", data_dir.display());

    let t0: i64 = util::now_ms();
    let day = 86_400_000i64;
    let mut step = 3;
    let mut record = |who: &str, body: Body, at: i64, what: String| -> Result<SignedEntry> {
        let key = actors.key(who)?;
        let nonce = ledger.state().nonce(&crypto::public_key(key)) + 1;
        let e = record::sign_entry(&genesis, key, Some(nonce), None, Some(at), body)?;
        let header = ledger
            .append_entries(
                vec![e.clone()],
                util::now_ms(),
                crypto::public_key(&validator),
            )
            .context(what.clone())?;
        println!(
            "{step}. {what}\n     entry {} sealed in block {}",
            e.id().short(),
            header.height
        );
        step += 1;
        Ok(e)
    };

    let green_gtin: Gtin = with_check_digit("770999800001")?.parse()?;
    let roast_gtin: Gtin = with_check_digit("406123400002")?.parse()?;
    let green = LotId::batch(green_gtin.clone(), "HUILA-2611-07")?;
    let roasted = LotId::batch(roast_gtin.clone(), "HH-R-4471")?;
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

    // The consumer's view: the trail with every proof checked.
    let link = roasted
        .digital_link()
        .unwrap_or_else(|| roasted.to_string());
    println!("\nA shopper scans {link}:\n");
    let lot: LotId = link.parse()?;
    let trail = ledger.trail(&lot)?;
    let r = trail::verify(
        &genesis,
        &trail,
        Policy {
            require_certificates: false,
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
        certificates_required: false,
        trail,
    }
    .sign(auditor);
    let bundle_path = dir.join("audit-bundle.json");
    let text = bundle.to_file_text();
    std::fs::write(&bundle_path, &text)?;
    let (_, br) = Bundle::verify_file(text.as_bytes(), &genesis, false)
        .map_err(|e| anyhow!("the demo bundle failed to verify: {e}"))?;
    println!(
        "The auditor exported {} ({} entries, {} bytes), signed by Kessler Supply Chain Audit.",
        bundle_path.display(),
        br.entries,
        text.len()
    );
    println!(
        "VERIFIED offline with only {}: signature, proofs and custody chain.",
        genesis_path.display()
    );
    let check = ledger.check()?;
    println!(
        "\nLedger check: {} blocks, {} entries re-verified from genesis.",
        check.blocks, check.entries
    );
    if keep.is_some() {
        println!(
            "\nTry: waybill lookup '{lot}' --data-dir {}\n     waybill verify-bundle {} --genesis {}",
            data_dir.display(),
            bundle_path.display(),
            genesis_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
