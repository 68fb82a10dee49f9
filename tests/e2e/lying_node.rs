//! `waybill` against a node's HTTP API: `lookup`, `export` and
//! `trace-forward` with `--node`, and `submit`.
//!
//! The node is a stand-in: an in-process axum server on 127.0.0.1 that
//! serves trails of a ledger built here with real commit certificates
//! (four validators, power 40/30/20/10), honestly and in ways that lie.
//! Each way of answering lives under its own path prefix
//! (`http://127.0.0.1:PORT/<scenario>`), so one server serves them all.
//! The CLI must trust only the genesis file: every lie is FAILED (exit 1)
//! with a message naming what is wrong.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tempfile::TempDir;
use waybill_core::block::{CommitCertificate, Header};
use waybill_core::checkpoint;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{
    Body, Corrected, Dispatch, Entry, Input, Location, Produce, Product, Quantity, Recall,
    RecallClass, Receive, SignedEntry, ENTRY_VERSION,
};
use waybill_core::genesis::{
    ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::LotId;
use waybill_core::index::{IndexKey, Touched};
use waybill_core::state::View;
use waybill_core::trail::Trail;
use waybill_store::{Ledger, MemBackend};
use waybill_testkit::certs::{certificate, cosigned_note};
use waybill_testkit::cli::{self, s, Net, Nonce};
use waybill_testkit::ids::{lot, ship as shipment};
use waybill_testkit::process::{fails, ok, run, Out};
use waybill_testkit::Party;

use crate::support;

/// The green coffee lot.
const GREEN: &str = "(01)07709998000018(10)LOT1";
/// Another lot of the producer, never processed.
const OTHER: &str = "(01)07709998000018(10)LOT2";
/// The roasted lot, made from the green one.
const ROASTED: &str = "(01)04061234000026(10)R1";
/// The roasted lot as a GS1 Digital Link (slashes and a colon in a URL path).
const ROASTED_LINK: &str = "https://id.gs1.org/01/04061234000026/10/R1";
/// A free id with a slash and a percent sign.
const SAMPLE: &str = "SAMPLE/2026%1";
/// Sea shipment: producer -> roaster, by the carrier.
const SEA: &str = "(00)077099980000000018";
/// Road shipment: roaster -> retailer.
const ROAD: &str = "(00)040612340000000026";
/// Block times start here.
const T0: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------
// The consortium and its ledger

struct World {
    genesis: Genesis,
    producer: Party,
    roaster: Party,
    carrier: Party,
    retailer: Party,
    auditor: Party,
    /// Validators and their voting power (total 100; more than 66 commits).
    validators: Vec<(Party, u64)>,
}

impl World {
    fn new() -> World {
        let producer = Party::new("Cooperativa del Huila", 1, &[]);
        let roaster = Party::new("Hanseatic Roasters", 2, &[]);
        let carrier = Party::new("Atlantic Ocean Lines", 3, &[]);
        let retailer = Party::new("Frischmarkt Retail", 4, &[]);
        let auditor = Party::new("Kessler Audit", 5, &[]);
        let validators = vec![
            (Party::new("validator-1", 101, &[]), 40),
            (Party::new("validator-2", 102, &[]), 30),
            (Party::new("validator-3", 103, &[]), 20),
            (Party::new("validator-4", 104, &[]), 10),
        ];
        let member = |p: &Party, role: Role, country: &str| MemberSpec {
            name: p.name.to_owned(),
            public_key: p.pk,
            roles: vec![role],
            country: Some(country.parse().expect("a country code")),
            gs1_company_prefixes: Vec::new(),
        };
        // The producer and the roaster own the GS1 prefixes their GTINs
        // and SSCCs lie under.
        let owning = |p: &Party, role: Role, country: &str, prefix: &str| MemberSpec {
            gs1_company_prefixes: vec![prefix.parse().expect("a GS1 company prefix")],
            ..member(p, role, country)
        };
        let genesis = Genesis {
            yields: Vec::new(),
            chain_name: "node-client-tests".into(),
            members: vec![
                owning(&producer, Role::Producer, "CO", "7709998"),
                MemberSpec {
                    roles: vec![Role::Processor, Role::Payer],
                    ..owning(&roaster, Role::Processor, "DE", "4061234")
                },
                member(&carrier, Role::Carrier, "DK"),
                member(&retailer, Role::Retailer, "DE"),
                member(&auditor, Role::Auditor, "CH"),
            ],
            validators: validators
                .iter()
                .map(|(v, power)| ValidatorSpec {
                    name: v.name.to_owned(),
                    public_key: v.pk,
                    power: *power,
                    p2p: Vec::new(),
                })
                .collect(),
            consensus: ConsensusParams::default(),
            governance: Governance::default(),
        };
        genesis.validate().expect("the test genesis is valid");
        World {
            genesis,
            producer,
            roaster,
            carrier,
            retailer,
            auditor,
            validators,
        }
    }

    /// A commit certificate for `header` signed by every validator.
    fn certify(&self, header: &Header) -> CommitCertificate {
        let all: Vec<&Party> = self.validators.iter().map(|(v, _)| v).collect();
        certificate(&all, header)
    }
}

fn kg(milli: u64) -> Quantity {
    Quantity {
        value: Decimal3::from_milli(milli),
        unit: UnitCode::Kgm,
    }
}

fn produce(lot_id: &str, milli: u64, inputs: &[(&str, u64)]) -> Body {
    let l = lot(lot_id);
    Body::Produce(Produce {
        product: Product {
            gtin: l.gtin(),
            id: None,
            description: format!("coffee {lot_id}"),
        },
        lot: l,
        quantity: kg(milli),
        origin: Location {
            country: Some("CO".parse().expect("a country code")),
            name: Some("Pitalito".into()),
            ..Location::default()
        },
        produced_at_ms: T0,
        certificates: Vec::new(),
        documents: Vec::new(),
        inputs: inputs
            .iter()
            .map(|(l, q)| Input {
                lot: lot(l),
                quantity: Decimal3::from_milli(*q),
            })
            .collect(),
    })
}

fn dispatch(ship: &str, lots: &[&str], to: &PublicKey, carrier: Option<&PublicKey>) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment(ship),
        lots: lots.iter().map(|l| lot(l)).collect(),
        consignee: *to,
        carrier: carrier.copied(),
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    })
}

fn receive(ship: &str) -> Body {
    Body::Receive(Receive {
        shipment: shipment(ship),
        at: Location {
            name: Some("Hamburg".into()),
            ..Location::default()
        },
        documents: Vec::new(),
    })
}

/// The coffee story on a ledger where every block has a commit certificate:
/// green coffee (and two other lots) produced, shipped by sea, received,
/// roasted, shipped by road and received by the retailer.
fn build_ledger(w: &World) -> Ledger<MemBackend> {
    let mut ledger = Ledger::create(MemBackend::new(), w.genesis.clone()).expect("a fresh ledger");
    let mut nonces: HashMap<PublicKey, u64> = HashMap::new();
    let mut sign = |who: &Party, body: Body| {
        let n = nonces.entry(who.pk).or_insert(0);
        *n += 1;
        Entry {
            version: ENTRY_VERSION,
            chain_id: w.genesis.chain_id(),
            author: who.pk,
            nonce: *n,
            recorded_at_ms: T0 + i64::try_from(*n).unwrap_or(0),
            body,
        }
        .sign(&who.key)
    };
    // The roaster pays the producer for the sea shipment (terms sealed),
    // and by mistake pays again.
    let pay = |n: u64| {
        waybill_testkit::sealed::seal(
            waybill_testkit::ids::uetr(n),
            &w.roaster.pk,
            &w.producer.pk,
            vec![shipment(SEA)],
            &waybill_testkit::sealed::fob(1_089_000, "EUR".parse().expect("EUR")),
            [u8::try_from(n).unwrap_or(0); 32],
        )
        .expect("sealed terms")
        .0
    };
    let (paid, paid_twice) = (pay(1), pay(2));
    let mut blocks: Vec<Vec<SignedEntry>> = vec![
        vec![
            sign(&w.producer, produce(GREEN, 600_000, &[])),
            sign(&w.producer, produce(OTHER, 100_000, &[])),
            sign(&w.producer, produce(SAMPLE, 1_000, &[])),
        ],
        vec![sign(
            &w.producer,
            dispatch(SEA, &[GREEN], &w.roaster.pk, Some(&w.carrier.pk)),
        )],
        vec![sign(&w.roaster, receive(SEA))],
        vec![sign(
            &w.roaster,
            produce(ROASTED, 480_000, &[(GREEN, 600_000)]),
        )],
        vec![sign(
            &w.roaster,
            dispatch(ROAD, &[ROASTED], &w.retailer.pk, None),
        )],
        vec![sign(&w.retailer, receive(ROAD))],
        // The green coffee recalled by its producer after the roast: the
        // roasted lot's trail must show it.
        vec![sign(
            &w.producer,
            Body::Recall(Recall {
                lots: vec![lot(GREEN)],
                class: RecallClass::Recall,
                reason: "ochratoxin above the limit".into(),
                scope: "the whole lot".into(),
                documents: Vec::new(),
            }),
        )],
    ];
    let first = sign(&w.roaster, Body::SealedPayment(paid.clone()));
    let twice = sign(&w.roaster, Body::SealedPayment(paid_twice.clone()));
    let twice_id = twice.id();
    blocks.push(vec![first, twice]);
    // The producer confirms the first; the roaster strikes out the second.
    blocks.push(vec![
        sign(&w.producer, waybill_testkit::sealed::confirm(&paid)),
        sign(
            &w.roaster,
            waybill_testkit::entries::correction(
                twice_id,
                Corrected::Payment(paid_twice.payment_id),
                "paid twice by mistake",
            ),
        ),
    ]);
    for (i, entries) in blocks.into_iter().enumerate() {
        let time = T0 + 1000 * i64::try_from(i).unwrap_or(0);
        let block = ledger.seal(entries, time, w.validators[0].0.pk);
        let cert = w.certify(&block.header);
        ledger
            .append(block, Some(cert))
            .unwrap_or_else(|e| panic!("block {} does not append: {e}", i + 1));
    }
    ledger
}

// ---------------------------------------------------------------------------
// Lies

/// Whether a trail item is an entry that touched lot `l` in the story
/// (its production, its dispatch, its receipt or a production using it).
fn produce_or_dispatch_of(item: &waybill_core::trail::TrailItem, l: &str) -> bool {
    match &item.entry.entry.body {
        Body::Produce(p) => p.lot == lot(l) || p.inputs.iter().any(|i| i.lot == lot(l)),
        Body::Dispatch(d) => d.lots.contains(&lot(l)),
        Body::Receive(r) => r.shipment == shipment(SEA),
        _ => false,
    }
}

/// The trail's JSON with `f` applied to its typed form.
fn altered(trail: &Trail, f: impl FnOnce(&mut Trail)) -> Value {
    let mut t = trail.clone();
    f(&mut t);
    serde_json::to_value(&t).expect("a trail serializes")
}

/// Every way of answering `GET /v1/lots/{lot}/trail`, by scenario name:
/// the lot asked for → the JSON served.
fn scenarios(ledger: &Ledger<MemBackend>, w: &World) -> HashMap<String, HashMap<LotId, Value>> {
    let trail = |l: &str| ledger.trail(&lot(l)).expect("a trail");
    let honest: HashMap<LotId, Value> = [GREEN, OTHER, ROASTED, SAMPLE]
        .iter()
        .map(|l| (lot(l), serde_json::to_value(trail(l)).expect("serialize")))
        .collect();
    let roasted = trail(ROASTED);
    let mut all = HashMap::new();
    let only_roasted = |v: Value| HashMap::from([(lot(ROASTED), v)]);

    // The roast's quantity changed in the JSON (480 kg -> 900 kg).
    let mut tampered = serde_json::to_value(&roasted).expect("serialize");
    let items = tampered["items"].as_array_mut().expect("items");
    let roast = items
        .iter_mut()
        .find(|i| i["entry"]["entry"]["body"]["produce"]["lot"] == json!(ROASTED))
        .expect("the roast is in the trail");
    let q = &mut roast["entry"]["entry"]["body"]["produce"]["quantity"]["value"];
    assert_eq!(*q, json!("480"), "the quantity's JSON form changed");
    *q = json!("900");
    all.insert("tampered".to_owned(), only_roasted(tampered));

    // The roaster's receipt of the sea shipment left out.
    all.insert(
        "missing-receipt".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items.retain(
                |i| !matches!(&i.entry.entry.body, Body::Receive(r) if r.shipment == shipment(SEA)),
            )
        })),
    );

    // One byte of validator-2's precommit signature on block 2 flipped.
    let v2 = w.validators[1].0.pk;
    all.insert(
        "forged-signature".to_owned(),
        only_roasted(altered(&roasted, |t| {
            for item in t.items.iter_mut().filter(|i| i.header.height == 2) {
                let cert = item.certificate.as_mut().expect("certified");
                let sig = cert
                    .signatures
                    .iter_mut()
                    .find(|s| s.validator == v2)
                    .expect("validator-2 signed");
                sig.signature.0[10] ^= 0x01;
            }
        })),
    );

    // Block 4's certificate without validator-1 (40 of 100): 60 < 2/3.
    let v1 = w.validators[0].0.pk;
    all.insert(
        "weak-certificate".to_owned(),
        only_roasted(altered(&roasted, |t| {
            for item in t.items.iter_mut().filter(|i| i.header.height == 4) {
                let cert = item.certificate.as_mut().expect("certified");
                cert.signatures.retain(|s| s.validator != v1);
            }
        })),
    );

    // No certificates at all (what a local ledger serves).
    all.insert(
        "no-certificates".to_owned(),
        only_roasted(altered(&roasted, |t| {
            for item in &mut t.items {
                item.certificate = None;
            }
        })),
    );

    // The recall of the roast's green coffee left out: every entry left
    // is genuine and the custody holds without it; only the certified
    // completeness index can tell.
    all.insert(
        "hidden-recall".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items
                .retain(|i| !matches!(&i.entry.entry.body, Body::Recall(_)))
        })),
    );
    // The roasted lot's latest dispatch left out, with the receipt that
    // follows it: the roaster still seems to hold the lot, and custody
    // holds without them; only the certified index can tell.
    all.insert(
        "hidden-dispatch".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items.retain(|i| match &i.entry.entry.body {
                Body::Dispatch(d) => d.shipment != shipment(ROAD),
                Body::Receive(r) => r.shipment != shipment(ROAD),
                _ => true,
            })
        })),
    );
    // The payee's confirmation of the payment left out: the payment looks
    // unconfirmed, the payer's word alone.
    all.insert(
        "hidden-confirmation".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items
                .retain(|i| !matches!(&i.entry.entry.body, Body::PaymentConfirmation(_)))
        })),
    );
    // The correction that struck out the second payment left out: it
    // would look paid twice.
    all.insert(
        "hidden-correction".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items
                .retain(|i| !matches!(&i.entry.entry.body, Body::Correction(_)))
        })),
    );
    // The road shipment's completeness proof left out (whatever the node
    // would hide about the shipment, a payment say, goes unproven).
    all.insert(
        "no-shipment-proof".to_owned(),
        only_roasted(altered(&roasted, |t| {
            if let Some(proofs) = &mut t.complete {
                proofs.retain(|p| p.key != IndexKey::Shipment(shipment(ROAD)));
            }
        })),
    );
    // No completeness proofs at all (what an older node serves).
    all.insert(
        "no-completeness".to_owned(),
        only_roasted(altered(&roasted, |t| t.complete = None)),
    );
    // The lot's count lowered in its proof to match a trail without the
    // recall: the proof no longer leads to the certified root.
    all.insert(
        "forged-completeness".to_owned(),
        only_roasted(altered(&roasted, |t| {
            t.items
                .retain(|i| !matches!(&i.entry.entry.body, Body::Recall(_)));
            let shown: Vec<_> = t
                .items
                .iter()
                .filter(|i| produce_or_dispatch_of(i, GREEN))
                .map(|i| i.entry.id())
                .collect();
            for p in t.complete.iter_mut().flatten() {
                if p.key == IndexKey::Lot(lot(GREEN)) {
                    p.touched = Some(Touched::of(&shown));
                }
            }
        })),
    );

    // A valid trail, but of another lot, whatever is asked.
    let other = serde_json::to_value(trail(OTHER)).expect("serialize");
    all.insert("another-lot".to_owned(), only_roasted(other));

    // Not a trail at all.
    all.insert(
        "garbage".to_owned(),
        only_roasted(json!({ "hello": "world" })),
    );

    // The green lot's trail without the roast that consumed it: the
    // lot's remainder looks untouched and the roast outside the recall.
    let mut hidden_roast = honest.clone();
    hidden_roast.insert(
        lot(GREEN),
        altered(&trail(GREEN), |t| {
            t.items.retain(
                |i| !matches!(&i.entry.entry.body, Body::Produce(p) if p.lot == lot(ROASTED)),
            )
        }),
    );
    all.insert("hidden-roast".to_owned(), hidden_roast);
    // Honest trails; the forward list is the lie (see `forward`).
    all.insert("forward-omitted".to_owned(), honest.clone());
    // The honest trails, with wrong proofs of their place in the log.
    all.insert("bad-log".to_owned(), honest.clone());
    // The honest trails, as of a checkpoint two hours old: a node cut off
    // from the validators, or one showing an old view on purpose.
    all.insert("stale".to_owned(), honest.clone());
    all.insert("honest".to_owned(), honest);
    all
}

/// The roaster's member trail, honest and with its correction of the
/// second payment left out.
fn member_trails(ledger: &Ledger<MemBackend>, w: &World) -> HashMap<String, Value> {
    let honest = ledger.member_trail(&w.roaster.pk).expect("a member trail");
    let mut hidden = honest.clone();
    hidden
        .items
        .retain(|i| !matches!(&i.entry.entry.body, Body::Correction(_)));
    HashMap::from([
        (
            "honest".to_owned(),
            serde_json::to_value(&honest).expect("JSON"),
        ),
        (
            "hidden-member-entry".to_owned(),
            serde_json::to_value(&hidden).expect("JSON"),
        ),
    ])
}

/// The two periods the tests ask for: blocks 3..=5 (closed by block 6)
/// and blocks 8..=9 (to the tip).
const PERIODS: [(Option<i64>, Option<i64>); 2] = [
    (Some(T0 + 2_000), Some(T0 + 5_000)),
    (Some(T0 + 7_000), None),
];

/// Each period's export, honest, and the open one with the producer's
/// payment confirmation left out.
fn period_trails(ledger: &Ledger<MemBackend>) -> HashMap<String, Vec<Value>> {
    let honest: Vec<_> = PERIODS
        .iter()
        .map(|(f, t)| ledger.period_trail(*f, *t, 1_000).expect("a period"))
        .collect();
    let mut hidden = honest.clone();
    hidden[1]
        .items
        .retain(|i| !matches!(&i.entry.entry.body, Body::PaymentConfirmation(_)));
    let json = |v: Vec<waybill_core::trail::PeriodTrail>| {
        v.iter()
            .map(|t| serde_json::to_value(t).expect("JSON"))
            .collect()
    };
    HashMap::from([
        ("honest".to_owned(), json(honest)),
        ("hidden-period-entry".to_owned(), json(hidden)),
    ])
}

// ---------------------------------------------------------------------------
// The stand-in node

struct Served {
    /// Scenario → lot → trail JSON.
    trails: HashMap<String, HashMap<LotId, Value>>,
    /// Lot → the node's `/forward` answer.
    forward: HashMap<LotId, Value>,
    /// Entry ids POSTed to `accepting`.
    submitted: Mutex<Vec<String>>,
    /// Status requests seen by `accepting`.
    polls: AtomicUsize,
    /// The chain id (hex), for next-nonce answers.
    chain_id: String,
    /// The ledger's log as of its tip.
    log: ServedLog,
    /// Scenario → the roaster's member trail (`/v1/members/{key}/entries`).
    member_trails: HashMap<String, Value>,
    /// The roaster's key, hex.
    roaster: String,
    /// Scenario → the export of each of [`PERIODS`] (`/v1/period`).
    periods: HashMap<String, Vec<Value>>,
}

/// The log's checkpoint of the tip, cosigned by every validator, and
/// each entry's leaf and inclusion proof in it. Served honestly in every
/// scenario but `bad-log`, whose proofs are wrong, and `stale`, whose
/// checkpoint is two hours old.
struct ServedLog {
    height: u64,
    size: u64,
    /// Cosigned as of now: a live node's view.
    note: String,
    /// Cosigned as of two hours ago.
    stale_note: String,
    /// Every earlier height's checkpoint, cosigned as of now.
    earlier: HashMap<u64, String>,
    /// (height, index) → (leaf, proof as hex).
    leaves: HashMap<(u64, u32), (u64, Vec<String>)>,
}

impl ServedLog {
    fn new(ledger: &Ledger<MemBackend>, world: &World) -> ServedLog {
        let height = ledger.height();
        let cp = ledger
            .checkpoint(height)
            .expect("read")
            .expect("the tip's checkpoint");
        let signers: Vec<&Party> = world.validators.iter().map(|(v, _)| v).collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs();
        let chain = world.genesis.chain_id();
        let note = cosigned_note(&cp, &chain, &signers, now);
        let stale_note = cosigned_note(&cp, &chain, &signers, now - 2 * 3600);
        let earlier = (1..height)
            .map(|h| {
                let cp = ledger.checkpoint(h).expect("read").expect("a checkpoint");
                (h, cosigned_note(&cp, &chain, &signers, now))
            })
            .collect();
        let mut leaves = HashMap::new();
        for h in 1..=height {
            let n = ledger.entry_ids(h).expect("read").expect("a block").len();
            for i in 0..n as u32 {
                let leaf = ledger.log_leaf(h, i).expect("a leaf");
                let proof = ledger.prove_inclusion(leaf, cp.size).expect("a proof");
                leaves.insert((h, i), (leaf, proof.iter().map(|p| p.to_hex()).collect()));
            }
        }
        ServedLog {
            height,
            size: cp.size,
            note,
            stale_note,
            earlier,
            leaves,
        }
    }
}

fn api_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

async fn trail(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, lot_text)): UrlPath<(String, String)>,
) -> Response {
    let Ok(l) = lot_text.parse::<LotId>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("`{lot_text}` is not a lot id"),
        );
    };
    let Some(trails) = st.trails.get(&scenario) else {
        return api_error(StatusCode::NOT_FOUND, "no such scenario");
    };
    // Every liar answers for the roasted lot with its lie.
    let body = trails.get(&l).or_else(|| {
        (scenario != "honest")
            .then(|| trails.get(&lot(ROASTED)))
            .flatten()
    });
    match body {
        Some(v) => Json(v.clone()).into_response(),
        None => api_error(
            StatusCode::NOT_FOUND,
            format!("lot {l} is not on this ledger"),
        ),
    }
}

async fn forward(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, lot_text)): UrlPath<(String, String)>,
) -> Response {
    match lot_text
        .parse::<LotId>()
        .ok()
        .and_then(|l| st.forward.get(&l))
    {
        // A node that leaves the lots made from it out of its list.
        Some(v) if scenario == "forward-omitted" => {
            let mut v = v.clone();
            v["made_from_it"] = json!([]);
            Json(v).into_response()
        }
        Some(v) => Json(v.clone()).into_response(),
        None => api_error(StatusCode::NOT_FOUND, format!("lot {lot_text} is unknown")),
    }
}

async fn submit(
    State(st): State<Arc<Served>>,
    UrlPath(scenario): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/json")
    {
        return api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON with Content-Type: application/json",
        );
    }
    let entry: SignedEntry = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("not a signed entry: {e}")),
    };
    let id = entry.id().to_hex();
    match scenario.as_str() {
        "rejecting" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "status": "rejected",
                "error": "lot (01)07709998000018(10)LOT1 is already in transit in shipment (00)077099980000000018",
            })),
        )
            .into_response(),
        "full" => {
            let mut r = api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the mempool is full (10000 entries)",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            r
        }
        "wrong-id" => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "id": "00".repeat(32) })),
        )
            .into_response(),
        _ => {
            st.submitted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id.clone());
            (
                StatusCode::ACCEPTED,
                Json(json!({ "status": "accepted", "id": id })),
            )
                .into_response()
        }
    }
}

async fn entry_status(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, id)): UrlPath<(String, String)>,
) -> Response {
    let known = st
        .submitted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id);
    match scenario.as_str() {
        // Final after a few polls.
        "accepting" if known => {
            if st.polls.fetch_add(1, Ordering::SeqCst) < 3 {
                Json(json!({ "id": id, "status": "pending" })).into_response()
            } else {
                Json(json!({ "id": id, "status": "final", "height": 7, "index": 0 }))
                    .into_response()
            }
        }
        "stuck" if known => Json(json!({ "id": id, "status": "pending" })).into_response(),
        _ => api_error(
            StatusCode::NOT_FOUND,
            format!("entry {id} is neither on this ledger nor waiting in its mempool"),
        ),
    }
}

/// `GET /v1/members/{key}/next-nonce`: `accepting` answers as a node
/// does (next nonce 42); `garbage` with a web page; `wrong-chain` and
/// `wrong-key` about another chain or key; `rejecting` knows no such
/// member; the rest have no such endpoint (as an older node answers).
/// The roaster's entries, as an auditor's signed request gets them (the
/// stand-in does not check the signature: what is tested is what the CLI
/// does with the answer).
async fn member_entries(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, key)): UrlPath<(String, String)>,
) -> Response {
    if key != st.roaster {
        return api_error(
            StatusCode::NOT_FOUND,
            "only the roaster's entries are served here",
        );
    }
    match st
        .member_trails
        .get(&scenario)
        .or_else(|| st.member_trails.get("honest"))
    {
        Some(v) => Json(v.clone()).into_response(),
        None => api_error(StatusCode::NOT_FOUND, "no such scenario"),
    }
}

/// An auditor's export of one of [`PERIODS`], by its query (the
/// stand-in does not check the signature).
async fn period(
    State(st): State<Arc<Served>>,
    UrlPath(scenario): UrlPath<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, i64>>,
) -> Response {
    let asked = (q.get("from").copied(), q.get("to").copied());
    let Some(i) = PERIODS.iter().position(|p| *p == asked) else {
        return api_error(StatusCode::NOT_FOUND, "not a period served here");
    };
    match st
        .periods
        .get(&scenario)
        .or_else(|| st.periods.get("honest"))
    {
        Some(v) => Json(v[i].clone()).into_response(),
        None => api_error(StatusCode::NOT_FOUND, "no such scenario"),
    }
}

async fn next_nonce(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, key)): UrlPath<(String, String)>,
) -> Response {
    let answer = |chain_id: &str, key: &str| {
        Json(json!({
            "key": key,
            "member": "Cooperativa del Huila",
            "chain_id": chain_id,
            "next_nonce": 42,
            "committed_nonce": 40,
            "pending": 1,
        }))
        .into_response()
    };
    match scenario.as_str() {
        "accepting" => answer(&st.chain_id, &key),
        "garbage" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>It works!</body></html>",
        )
            .into_response(),
        "wrong-chain" => answer(&"ab".repeat(32), &key),
        "wrong-key" => answer(&st.chain_id, &"cd".repeat(32)),
        "rejecting" => api_error(
            StatusCode::NOT_FOUND,
            format!("{key} is not a member of this chain"),
        ),
        _ => api_error(
            StatusCode::NOT_FOUND,
            format!("there is no endpoint GET /v1/members/{key}/next-nonce; the API has /v1/entries, /v1/status and /metrics"),
        ),
    }
}

async fn log_checkpoint(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, height)): UrlPath<(String, u64)>,
) -> Response {
    if height != st.log.height {
        return match st.log.earlier.get(&height) {
            Some(note) => note.clone().into_response(),
            None => api_error(StatusCode::NOT_FOUND, "no checkpoint of that height"),
        };
    }
    if scenario == "stale" {
        return st.log.stale_note.clone().into_response();
    }
    st.log.note.clone().into_response()
}

async fn log_inclusion(
    State(st): State<Arc<Served>>,
    UrlPath((scenario, height, index, size)): UrlPath<(String, u64, u32, u64)>,
) -> Response {
    let found = st.log.leaves.get(&(height, index));
    match found {
        Some((leaf, proof)) if size == st.log.size => {
            let mut proof = proof.clone();
            if scenario == "bad-log" {
                if let Some(p) = proof.first_mut() {
                    p.replace_range(0..1, if p.starts_with('0') { "1" } else { "0" });
                }
            }
            Json(json!({ "leaf": leaf, "size": size, "proof": proof })).into_response()
        }
        _ => api_error(StatusCode::NOT_FOUND, "no such entry in the log"),
    }
}

/// The node's `/forward` answer for `l`, as `node/src/api.rs` builds it.
fn forward_json(ledger: &Ledger<MemBackend>, l: &LotId) -> Value {
    let rows: Vec<Value> = ledger
        .forward(l)
        .expect("forward")
        .iter()
        .map(|(id, s)| {
            json!({
                "lot": id.to_string(),
                "holdings": s.holdings.iter().map(|h| json!({
                    "holder": ledger.state().member(&h.holder).map(|m| m.spec.name.clone()),
                    "holder_key": h.holder.to_hex(),
                    "status": if h.shipment.is_some() { "in_transit" } else { "held" },
                    "shipment": h.shipment.as_ref().map(|x| x.to_string()),
                    "quantity": h.quantity.to_string(),
                })).collect::<Vec<_>>(),
                "remaining": s.remaining().to_string(),
                "unit": s.unit.to_string(),
            })
        })
        .collect();
    json!({ "lot": l.to_string(), "made_from_it": rows })
}

/// Starts the stand-in node on a background thread; returns its address.
fn start(served: Served) -> String {
    let app = Router::new()
        .route("/{scenario}/v1/lots/{lot}/trail", get(trail))
        .route("/{scenario}/v1/lots/{lot}/forward", get(forward))
        .route("/{scenario}/v1/entries", axum::routing::post(submit))
        .route("/{scenario}/v1/entries/{id}", get(entry_status))
        .route("/{scenario}/v1/members/{key}/next-nonce", get(next_nonce))
        .route("/{scenario}/v1/members/{key}/entries", get(member_entries))
        .route("/{scenario}/v1/period", get(period))
        .route(
            "/{scenario}/v1/log/checkpoint/{height}",
            get(log_checkpoint),
        )
        .route(
            "/{scenario}/v1/log/inclusion/{height}/{index}/{size}",
            get(log_inclusion),
        )
        .with_state(Arc::new(served));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            tx.send(listener.local_addr().expect("local address"))
                .expect("send the address");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("the server started");
    format!("http://{addr}")
}

/// The ledger, the stand-in node serving it, and the files the CLI needs.
struct Fixture {
    dir: TempDir,
    base: String,
    genesis: PathBuf,
    auditor_key: PathBuf,
    producer_key: PathBuf,
    world: World,
}

impl Fixture {
    fn new() -> Fixture {
        let world = World::new();
        let ledger = build_ledger(&world);
        let forward = [GREEN, ROASTED, OTHER]
            .iter()
            .map(|l| (lot(l), forward_json(&ledger, &lot(l))))
            .collect();
        let base = start(Served {
            trails: scenarios(&ledger, &world),
            forward,
            submitted: Mutex::new(Vec::new()),
            polls: AtomicUsize::new(0),
            chain_id: world.genesis.chain_id().to_hex(),
            log: ServedLog::new(&ledger, &world),
            member_trails: member_trails(&ledger, &world),
            roaster: world.roaster.pk.to_hex(),
            periods: period_trails(&ledger),
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let genesis = dir.path().join("genesis.toml");
        std::fs::write(&genesis, world.genesis.to_toml()).expect("write genesis");
        let write_key = |name: &str, key: &SigningKey| {
            let path = dir.path().join(name);
            let pem = waybill_keys::to_pem(key, None).expect("PEM");
            std::fs::write(&path, pem.as_bytes()).expect("write key");
            path
        };
        let auditor_key = write_key("auditor.pem", &world.auditor.key);
        let producer_key = write_key("producer.pem", &world.producer.key);
        Fixture {
            dir,
            base,
            genesis,
            auditor_key,
            producer_key,
            world,
        }
    }

    /// The node URL of a scenario.
    fn node(&self, scenario: &str) -> String {
        format!("{}/{scenario}", self.base)
    }

    /// `waybill export` of the roasted lot from a scenario's node, signed
    /// by the auditor, to `out`.
    fn export(&self, scenario: &str, out: &std::path::Path) -> Command {
        let mut c = wb();
        c.args([
            "export",
            ROASTED,
            "--node",
            &self.node(scenario),
            "--genesis",
            &s(&self.genesis),
            "--key",
            &s(&self.auditor_key),
            "--out",
            &s(out),
        ]);
        c
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `waybill lookup LOT --node … --genesis …` (not run).
    fn lookup(&self, scenario: &str, l: &str) -> Command {
        let mut c = wb();
        c.args([
            "lookup",
            l,
            "--node",
            &self.node(scenario),
            "--genesis",
            &s(&self.genesis),
        ]);
        c
    }

    /// `waybill record produce` of a new lot by the producer with `--node
    /// URL` (not run; no `--out`).
    fn record_produce(&self, url: &str) -> Command {
        self.record_produce_with(&["--node", url])
    }

    /// `waybill record produce` of a new lot by the producer, with these
    /// nonce options (not run; no `--out`).
    fn record_produce_with(&self, nonce_args: &[&str]) -> Command {
        let mut c = wb();
        c.args([
            "record",
            "produce",
            "-g",
            &s(&self.genesis),
            "-k",
            &s(&self.producer_key),
        ]);
        c.args(nonce_args);
        c.args([
            "--lot",
            "NEW-1",
            "--product",
            "Coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
        ]);
        c
    }

    /// Writes a signed entry file.
    fn entry_file(&self, name: &str, e: &SignedEntry) -> PathBuf {
        let path = self.path(name);
        let text = serde_json::to_string_pretty(e).expect("serialize") + "\n";
        std::fs::write(&path, text).expect("write entry");
        path
    }

    /// A fresh entry by the producer (nonce `n`).
    fn new_entry(&self, n: u64, lot_id: &str) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: self.world.genesis.chain_id(),
            author: self.world.producer.pk,
            nonce: n,
            recorded_at_ms: T0,
            body: produce(lot_id, 5_000, &[]),
        }
        .sign(&self.world.producer.key)
    }
}

/// A `waybill` process that cannot be sent through a proxy.
fn wb() -> Command {
    let mut c = support::wb();
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
    ] {
        c.env_remove(v);
    }
    c
}

/// Exit code 1 with `FAILED: …` naming the problem (every needle, any case).
fn failed(out: &Out, needles: &[&str]) {
    assert_eq!(out.code, Some(1), "expected exit code 1 (FAILED):\n{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("FAILED: "))
        .unwrap_or_else(|| panic!("no FAILED line:\n{out}"));
    let lower = line.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "the FAILED line does not say {n:?}:\n{out}"
        );
    }
    assert!(!out.stdout.contains("VERIFIED"), "{out}");
    println!("{line}");
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn honest_node_verifies() {
    let f = Fixture::new();
    let out = ok(&mut f.lookup("honest", ROASTED));
    for needle in [
        "Lot (01)04061234000026(10)R1",
        "Origin",
        "Custody",
        "by Cooperativa del Huila",
        "held by Frischmarkt Retail",
        "VERIFIED: ",
        "commit certificates of 9 blocks verified (BFT-final)",
        "Log: ",
        "at height 9 as of ",
        "old), cosigned by validator-1, validator-2, validator-3, validator-4",
        "Complete: nothing left out as of height 9: every entry about 2 lots \
         ((01)04061234000026(10)R1 and its ancestors), 2 shipments, 2 payments \
         and the membership",
        "confirmed by Cooperativa del Huila",
    ] {
        assert!(out.stdout.contains(needle), "no {needle:?}:\n{out}");
    }
    // The recall of its green coffee heads the roasted lot's page.
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("RECALLED"), "{out}");

    // The Digital Link form goes through the URL path percent-encoded.
    let out = ok(&mut f.lookup("honest", ROASTED_LINK));
    assert!(out.stdout.contains("VERIFIED"), "{out}");
    // So does a free id with a slash and a percent sign.
    let out = ok(&mut f.lookup("honest", SAMPLE));
    assert!(out.stdout.contains("Lot SAMPLE/2026%1"), "{out}");

    let j = ok(f.lookup("honest", GREEN).arg("--json")).json();
    assert_eq!(j["ok"], json!(true), "{j}");
    assert_eq!(j["lot"], json!(GREEN), "{j}");
    assert_eq!(j["status"], json!("consumed (made into other lots)"), "{j}");
    assert_eq!(j["uncertified_blocks"], json!(0), "{j}");
    assert_eq!(j["node"], json!(f.node("honest")), "{j}");
    assert_eq!(j["log"]["height"], json!(9), "{j}");
    assert_eq!(j["complete"]["proven"], json!(true), "{j}");
    assert_eq!(j["complete"]["lots"], json!(1), "{j}");
    assert_eq!(j["complete"]["shipments"], json!(1), "{j}");
    let age = j["log"]["age_s"]
        .as_u64()
        .expect("the view's age in seconds");
    assert!(age < 600, "the stand-in's view is as of now: {j}");
}

/// A view whose certified block is older than `--max-age` (10 minutes by
/// default) is refused, saying how old it is; a larger `--max-age` takes
/// it, and the flag needs `--node`.
#[test]
fn a_lookup_refuses_a_view_older_than_max_age() {
    let f = Fixture::new();
    let out = run(&mut f.lookup("stale", ROASTED));
    failed(
        &out,
        &["2h", "old, older than --max-age 10m", "behind or cut off"],
    );
    let out = run(f.lookup("stale", ROASTED).args(["--max-age", "90m"]));
    failed(&out, &["older than --max-age 1h 30m"]);
    let j = ok(f
        .lookup("stale", ROASTED)
        .args(["--max-age", "3h", "--json"]))
    .json();
    assert_eq!(j["ok"], json!(true), "{j}");
    let age = j["log"]["age_s"].as_u64().expect("age");
    assert!((7200..7200 + 600).contains(&age), "{j}");
    // Not a duration; and a local ledger has no age to check.
    fails(
        f.lookup("honest", ROASTED).args(["--max-age", "soon"]),
        &["--max-age"],
    );
    fails(
        wb().args([
            "lookup",
            ROASTED,
            "--data-dir",
            &s(&f.path("ledger")),
            "--max-age",
            "1h",
        ]),
        &["--node"],
    );
}

/// `lookup` checks the node's checkpoint of the ledger's log against the
/// last one of the chain it saw: the same again passes; a view older
/// than a checkpoint seen before (the node cannot prove it a prefix: a
/// stale node, or a ledger rolled back) and one of another log at the
/// same height (a fork) are refused.
#[test]
fn a_lookup_refuses_a_view_that_does_not_extend_the_last_checkpoint_seen() {
    let f = Fixture::new();
    let state = f.path("cli-state");
    let lookup = |json: bool| {
        let mut c = f.lookup("honest", ROASTED);
        c.env("WAYBILL_STATE_DIR", &state);
        if json {
            c.arg("--json");
        }
        c
    };
    let out = ok(&mut lookup(false));
    assert!(
        out.stdout
            .contains("the first checkpoint of this chain seen here: remembered"),
        "{out}"
    );
    let j = ok(&mut lookup(true)).json();
    assert_eq!(
        j["log"]["standing"],
        json!("the same as the last checkpoint seen"),
        "{j}"
    );
    let (size, height) = (
        j["log"]["size"].as_u64().expect("a size"),
        j["log"]["height"].as_u64().expect("a height"),
    );

    // What the CLI would have remembered from a node further on, or from
    // another history: cosigned by the validators.
    let chain = f.world.genesis.chain_id();
    let signers: Vec<&Party> = f.world.validators.iter().map(|(v, _)| v).collect();
    let remember = |cp: checkpoint::Checkpoint| {
        let dir = state.join("checkpoints");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("{}.checkpoint", chain.to_hex())),
            cosigned_note(&cp, &chain, &signers, 1_700_000_100),
        )
        .expect("write");
    };
    let other = |size: u64, height: u64| checkpoint::Checkpoint {
        origin: checkpoint::origin(&chain),
        size,
        root: Hash32([7; 32]),
        height,
        block: Hash32([8; 32]),
        index: Hash32([9; 32]),
    };
    remember(other(size + 5, height + 1));
    let out = run(&mut lookup(false));
    failed(&out, &["stale", "last checkpoint seen"]);
    remember(other(size, height));
    let out = run(&mut lookup(false));
    failed(&out, &["forked"]);
}

#[test]
fn every_lie_fails() {
    let f = Fixture::new();
    let cases: &[(&str, &[&str])] = &[
        ("tampered", &["inclusion proof", "altered"]),
        (
            "missing-receipt",
            &["produce", "(01)07709998000018(10)LOT1"],
        ),
        ("forged-signature", &["validator-2", "forged", "height 2"]),
        (
            "weak-certificate",
            &["60 of 100 voting power", "more than 2/3"],
        ),
        ("no-certificates", &["no commit certificate"]),
        ("another-lot", &["trail of lot (01)07709998000018(10)LOT2"]),
        ("garbage", &["not a valid trail"]),
        (
            "hidden-recall",
            &[
                "not complete",
                "1 entry touching lot (01)07709998000018(10)LOT1 is missing",
            ],
        ),
        (
            "hidden-dispatch",
            &[
                "not complete",
                "2 entries touching lot (01)04061234000026(10)R1 are missing",
            ],
        ),
        (
            "hidden-confirmation",
            &[
                "not complete",
                "1 entry touching payment 00000000-0000-4001-8000-000000000001 is missing",
            ],
        ),
        (
            "hidden-correction",
            &[
                "not complete",
                "1 entry touching payment 00000000-0000-4002-8000-000000000002 is missing",
            ],
        ),
        (
            "no-shipment-proof",
            &["no completeness proof for shipment (00)040612340000000026"],
        ),
        ("no-completeness", &["no completeness proofs"]),
        (
            "forged-completeness",
            &["completeness proof of lot (01)07709998000018(10)LOT1 does not hold"],
        ),
    ];
    for (scenario, needles) in cases {
        let out = run(&mut f.lookup(scenario, ROASTED));
        failed(&out, needles);
        assert!(out.stdout.contains("do not trust it"), "{out}");

        let j = run(f.lookup(scenario, ROASTED).arg("--json"));
        assert_eq!(j.code, Some(1), "{j}");
        let v = j.json();
        assert_eq!(v["ok"], json!(false), "{scenario}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
}

#[test]
fn the_missing_receipt_is_a_custody_failure() {
    // The produce that consumes the green lot fails the custody rules:
    // without the receipt, the roaster never held it.
    let f = Fixture::new();
    let out = run(&mut f.lookup("missing-receipt", ROASTED));
    failed(&out, &["entry #"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("FAILED"))
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        ["transit", "hold", "held", "custod"]
            .iter()
            .any(|n| line.contains(n)),
        "the message does not say custody is broken:\n{out}"
    );
}

#[test]
fn export_from_a_node_then_verify_bundle() {
    let f = Fixture::new();
    let bundle = f.path("bundle.json");
    let out = ok(&mut f.export("honest", &bundle));
    assert!(out.stdout.contains("exported"), "{out}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).expect("read bundle"))
        .expect("JSON");
    assert_eq!(v["body"]["certificates_required"], json!(true), "{v}");

    let out = ok(wb().args([
        "verify-bundle",
        &s(&bundle),
        "--genesis",
        &s(&f.genesis),
        "--require-certificates",
    ]));
    assert!(out.stdout.contains("VERIFIED"), "{out}");
    assert!(out.stdout.contains("BFT-final"), "{out}");
    assert!(
        out.stdout.contains("are in the ledger's log of")
            && out
                .stdout
                .contains("cosigned by validator-1, validator-2, validator-3, validator-4"),
        "{out}"
    );

    // Nor from one that cannot prove where the trail stands in the log.
    let never = f.path("never.json");
    let out = run(&mut f.export("bad-log", &never));
    failed(&out, &["is not leaf", "of the log"]);
    assert!(out.stdout.contains("nothing was exported"), "{out}");
    assert!(!never.exists());

    // Nothing is signed from a lying node.
    let never = f.path("never-again.json");
    let out = run(&mut f.export("weak-certificate", &never));
    failed(&out, &["voting power"]);
    assert!(out.stdout.contains("nothing was exported"), "{out}");
    assert!(!never.exists());

    // Nor a trail with an entry left out: the auditor's bundle would
    // carry the omission under its signature.
    for (scenario, needle) in [
        (
            "hidden-recall",
            "1 entry touching lot (01)07709998000018(10)LOT1 is missing",
        ),
        ("no-completeness", "no completeness proofs"),
    ] {
        let out = run(&mut f.export(scenario, &never));
        failed(&out, &[needle]);
        assert!(out.stdout.contains("nothing was exported"), "{out}");
        assert!(!never.exists());
    }

    // Only an auditor exports.
    fails(
        wb().args([
            "export",
            ROASTED,
            "--node",
            &f.node("honest"),
            "--genesis",
            &s(&f.genesis),
            "--key",
            &s(&f.producer_key),
            "--out",
            &s(&never),
        ]),
        &["not an active auditor"],
    );
    assert!(!never.exists());
}

#[test]
fn trace_forward_from_a_node_proves_every_lot_made_from_it() {
    let f = Fixture::new();
    let g = s(&f.genesis);
    let out = ok(wb().args([
        "trace-forward",
        GREEN,
        "--node",
        &f.node("honest"),
        "-g",
        &g,
    ]));
    assert!(out.stdout.contains(ROASTED), "{out}");
    assert!(out.stdout.contains("Frischmarkt Retail"), "{out}");
    assert!(
        out.stdout.contains("no lot made from it is left out"),
        "{out}"
    );
    // A node that leaves the roast out of its list: the proofs find it.
    let out = ok(wb().args([
        "trace-forward",
        GREEN,
        "--node",
        &f.node("forward-omitted"),
        "-g",
        &g,
    ]));
    assert!(out.stdout.contains("1 made from it"), "{out}");
    assert!(
        out.stdout
            .contains(&format!("the node's own list left out {ROASTED}")),
        "{out}"
    );
    // One that hides the roast from the green lot's trail fails.
    fails(
        wb().args([
            "trace-forward",
            GREEN,
            "--node",
            &f.node("hidden-roast"),
            "-g",
            &g,
        ]),
        &[
            "not complete",
            "1 entry touching lot (01)07709998000018(10)LOT1 is missing",
        ],
    );
    let j = ok(wb().args([
        "trace-forward",
        GREEN,
        "--json",
        "--node",
        &f.node("honest"),
        "-g",
        &g,
    ]))
    .json();
    assert_eq!(j["made_from_it"], json!(1), "{j}");
    assert_eq!(j["reach"][1]["lot"], json!(ROASTED), "{j}");
    assert_eq!(j["reach"][1]["verified"], json!(true), "{j}");
    let out = ok(wb().args([
        "trace-forward",
        OTHER,
        "--node",
        &f.node("honest"),
        "-g",
        &g,
    ]));
    assert!(out.stdout.contains("0 made from it"), "{out}");
    // A node whose trails do not verify gets no recall scope printed.
    fails(
        wb().args([
            "trace-forward",
            GREEN,
            "--node",
            &f.node("tampered"),
            "-g",
            &g,
        ]),
        &["does not hold"],
    );
}

#[test]
fn unknown_lots_and_bad_arguments() {
    let f = Fixture::new();
    // 404: an error (exit 2), not a verification failure.
    let out = fails(
        &mut f.lookup("honest", "NEVER-MADE"),
        &["lot NEVER-MADE was not found at the node"],
    );
    assert_eq!(out.code, Some(2), "{out}");
    // A bad lot id is refused before anything is sent.
    fails(&mut f.lookup("honest", "(01)12345"), &["GTIN", "digits"]);
    // --node and --data-dir exclude each other; one is needed.
    fails(
        wb().args([
            "lookup",
            ROASTED,
            "--node",
            &f.node("honest"),
            "--genesis",
            &s(&f.genesis),
            "--data-dir",
            &s(&f.path("ledger")),
        ]),
        &["cannot be used with"],
    );
    fails(wb().args(["lookup", ROASTED]), &["--data-dir", "--node"]);
    fails(
        wb().args(["trace-forward", ROASTED]),
        &["--data-dir", "--node"],
    );
    // --node needs --genesis: a node is never trusted.
    fails(
        wb().args(["lookup", ROASTED, "--node", &f.node("honest")]),
        &["--genesis"],
    );
    fails(
        wb().args([
            "export",
            ROASTED,
            "--node",
            &f.node("honest"),
            "-k",
            &s(&f.auditor_key),
            "-o",
            &s(&f.path("b.json")),
        ]),
        &["--genesis"],
    );
    fails(
        wb().args([
            "lookup",
            ROASTED,
            "--node",
            "ftp://node.example",
            "-g",
            &s(&f.genesis),
        ]),
        &["http:// or https://"],
    );
}

#[test]
fn an_unreachable_node_is_a_clear_error() {
    let f = Fixture::new();
    // A port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = fails(
        wb().args(["lookup", ROASTED, "--node", &url, "-g", &s(&f.genesis)]),
        &["cannot reach the node at"],
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains(&url), "{out}");
    let e = f.entry_file("e.json", &f.new_entry(9, "NEW-1"));
    fails(
        wb().args(["submit", &s(&e), "--node", &url]),
        &["cannot reach the node at"],
    );
    fails(
        wb().args(["trace-forward", GREEN, "--node", &url, "-g", &s(&f.genesis)]),
        &["cannot reach the node at"],
    );
    // Nothing is signed without the node's nonce.
    let out = fails(
        &mut f.record_produce(&url),
        &[
            "cannot reach the node at",
            "nothing was signed",
            "--nonce N",
        ],
    );
    assert!(out.stderr.contains(&url), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    fails(
        wb().args(["nonce", "-k", &s(&f.producer_key), "--node", &url]),
        &["cannot reach the node at"],
    );
}

#[test]
fn record_signs_with_the_nonce_a_node_gives() {
    let f = Fixture::new();
    let url = f.node("accepting");
    let out_file = f.path("e.json");
    let out = ok(f.record_produce(&url).args(["-o", &s(&out_file)]));
    assert!(
        out.stderr.contains(&format!(
            "(nonce 42, from the node at {url}: 40 committed, 1 waiting in its mempool)"
        )),
        "{out}"
    );
    let written = cli::read_json(&out_file);
    assert_eq!(written["entry"]["nonce"], json!(42), "{written}");
    let out = ok(wb().args(["nonce", "-k", &s(&f.producer_key), "--node", &url]));
    assert_eq!(out.stdout, "42\n", "{out}");
    let j = ok(wb().args([
        "nonce",
        "-k",
        &f.world.producer.pk.to_hex(),
        "--node",
        &url,
        "--json",
    ]))
    .json();
    assert_eq!(j["pending"], json!(1), "{j}");
    assert_eq!(j["node"], json!(url), "{j}");

    // --node goes with neither --nonce nor --data-dir.
    for other in [["--nonce", "1"], ["--data-dir", "ledger"]] {
        fails(f.record_produce(&url).args(other), &["cannot be used with"]);
    }
    // Without any of them, the error names all three.
    fails(
        &mut f.record_produce_with(&[]),
        &["give --nonce N", "--data-dir DIR", "or --node URL"],
    );
}

#[test]
fn record_signs_nothing_when_the_node_cannot_say() {
    let f = Fixture::new();
    let cases: [(&str, &[&str]); 5] = [
        ("garbage", &["not JSON", "the URL of a waybill node's API"]),
        (
            "wrong-chain",
            &["serves chain abab", "of the genesis given"],
        ),
        ("wrong-key", &["about key cdcd"]),
        (
            "rejecting",
            &["does not know key", "is not a member of this chain"],
        ),
        (
            "honest",
            &["has no next-nonce endpoint", "older waybill-node"],
        ),
    ];
    for (scenario, needles) in cases {
        let url = f.node(scenario);
        let out_file = f.path(&format!("{scenario}.json"));
        let out = fails(f.record_produce(&url).args(["-o", &s(&out_file)]), needles);
        assert!(out.stderr.contains(&url), "{scenario}: {out}");
        assert!(
            out.stderr.contains("nothing was signed"),
            "{scenario}: {out}"
        );
        assert!(!out_file.exists(), "{scenario}: a file was written:\n{out}");
        // Nor printed, without --out.
        let out = fails(&mut f.record_produce(&url), needles);
        assert!(out.stdout.is_empty(), "{scenario}: {out}");
    }
}

#[test]
fn submit_rejected_shows_the_rule() {
    let f = Fixture::new();
    let e1 = f.entry_file("e1.json", &f.new_entry(9, "NEW-1"));
    let e2 = f.entry_file("e2.json", &f.new_entry(10, "NEW-2"));
    let out = fails(
        wb().args(["submit", &s(&e1), &s(&e2), "--node", &f.node("rejecting")]),
        &["is already in transit in shipment (00)077099980000000018"],
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains("rejected"), "{out}");
    assert!(out.stderr.contains("e1.json"), "{out}");
    // The run stops: the second file was not sent.
    assert!(out.stderr.contains("not sent"), "{out}");

    let j = run(wb().args(["submit", &s(&e1), "--json", "--node", &f.node("rejecting")]));
    assert_eq!(j.code, Some(2), "{j}");
    let v = j.json();
    assert_eq!(v["ok"], json!(false), "{v}");
    assert_eq!(v["entries"][0]["status"], json!("rejected"), "{v}");
    assert!(
        v["entries"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("already in transit")),
        "{v}"
    );

    // A full mempool, and a node that answers with another id.
    fails(
        wb().args(["submit", &s(&e1), "--node", &f.node("full")]),
        &["mempool is full", "try again after 5 s"],
    );
    fails(
        wb().args(["submit", &s(&e1), "--node", &f.node("wrong-id")]),
        &["answered with entry id"],
    );
    // A file that is not an entry is refused before anything is sent.
    let junk = f.path("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}\n").expect("write");
    fails(
        wb().args(["submit", &s(&junk), "--node", &f.node("accepting")]),
        &["not a valid signed entry"],
    );
}

#[test]
fn submit_and_wait_until_final() {
    let f = Fixture::new();
    let entry = f.new_entry(9, "NEW-1");
    let id = entry.id().to_hex();
    let e = f.entry_file("e.json", &entry);
    let out = ok(wb().args(["submit", &s(&e), "--node", &f.node("accepting")]));
    assert!(out.stdout.contains(&format!("accepted  {id}")), "{out}");

    let out = ok(wb().args(["submit", &s(&e), "--wait", "--node", &f.node("accepting")]));
    assert!(out.stdout.contains(&format!("accepted  {id}")), "{out}");
    assert!(out.stdout.contains("block 7"), "{out}");

    let j = ok(wb().args([
        "submit",
        &s(&e),
        "--wait",
        "--json",
        "--node",
        &f.node("accepting"),
    ]))
    .json();
    assert_eq!(j["ok"], json!(true), "{j}");
    assert_eq!(j["entries"][0]["id"], json!(id), "{j}");
    assert_eq!(j["entries"][0]["status"], json!("final"), "{j}");
    assert_eq!(j["entries"][0]["height"], json!(7), "{j}");
}

#[test]
fn submit_wait_times_out_clearly() {
    let f = Fixture::new();
    let e = f.entry_file("e.json", &f.new_entry(9, "NEW-1"));
    let started = std::time::Instant::now();
    let out = fails(
        wb().args([
            "submit",
            &s(&e),
            "--wait",
            "--timeout",
            "1",
            "--node",
            &f.node("stuck"),
        ]),
        &["is not final after 1 s"],
    );
    assert!(out.stdout.contains("accepted"), "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the timeout was not kept"
    );
    // --timeout means nothing without --wait.
    fails(
        wb().args([
            "submit",
            &s(&e),
            "--timeout",
            "5",
            "--node",
            &f.node("stuck"),
        ]),
        &["--wait"],
    );
}

#[test]
fn help_teaches_node_mode() {
    for cmd in [
        &["lookup"][..],
        &["export"],
        &["trace-forward"],
        &["submit"],
        &["nonce"],
        &["record", "produce"],
        &["record", "pay"],
    ] {
        let cmd = cmd.join(" ");
        let out = ok(wb().args(cmd.split(' ')).arg("--help"));
        assert!(out.stdout.contains("--node"), "{cmd}:\n{out}");
        assert!(
            out.stdout.contains("http://127.0.0.1:8080"),
            "{cmd}:\n{out}"
        );
    }
}

#[test]
fn data_dir_mode_is_unchanged_and_takes_a_genesis() {
    // The local mode still works without --genesis, and with one it
    // verifies against that file instead of the ledger's own copy.
    let net = Net::new(&support::waybill(), &[]);
    net.produce_green(Nonce::Given(1));
    let data = s(&net.data);
    let out = ok(wb().args(["lookup", GREEN, "--data-dir", &data]));
    assert!(out.stdout.contains("VERIFIED"), "{out}");
    assert!(out.stdout.contains("not BFT-final"), "{out}");
    let out = ok(wb().args(["lookup", GREEN, "--data-dir", &data, "-g", &s(&net.genesis)]));
    assert!(out.stdout.contains("VERIFIED"), "{out}");

    let other = net.path("other-genesis.toml");
    ok(&mut cli::genesis_init_cmd(
        &net.bin,
        net.dir.path(),
        "another-chain",
        &net.validator,
        &other,
    ));
    let out = run(wb().args(["lookup", GREEN, "--data-dir", &data, "-g", &s(&other)]));
    failed(&out, &["the trail is for chain"]);
    fails(
        wb().args([
            "export",
            GREEN,
            "--data-dir",
            &data,
            "-g",
            &s(&other),
            "-k",
            &s(&net.key("auditor")),
            "-o",
            &s(&net.path("never.json")),
        ]),
        &["does not verify"],
    );
    assert!(!net.path("never.json").exists());
}

/// An auditor's export of every entry one member signed: verified,
/// proven complete, cut to a period; a node that leaves one out exports
/// nothing.
#[test]
fn export_of_a_member_is_proven_complete() {
    let f = Fixture::new();
    let export = |scenario: &str, out: &std::path::Path, extra: &[&str]| {
        let mut c = wb();
        c.args([
            "export",
            "--member",
            "Hanseatic Roasters",
            "--node",
            &f.node(scenario),
            "-g",
            &s(&f.genesis),
            "-k",
            &s(&f.auditor_key),
            "-o",
            &s(out),
        ]);
        c.args(extra);
        c
    };
    let out_file = f.path("roaster.json");
    let out = ok(&mut export("honest", &out_file, &[]));
    assert!(
        out.stdout
            .contains("VERIFIED and complete: 6 entries signed by Hanseatic Roasters"),
        "{out}"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).expect("read")).expect("JSON");
    assert_eq!(v["format"], json!("waybill-member-export"), "{v}");
    // The receipt, the roast, the road dispatch, two payments, a correction.
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(6), "{v}");
    // A period: the blocks from the roast on (T0 + 3 s): all but the receipt.
    let period = f.path("roaster-period.json");
    let out = ok(&mut export(
        "honest",
        &period,
        &["--from", &(T0 + 3_000).to_string()],
    ));
    assert!(out.stdout.contains("in the period"), "{out}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&period).expect("read")).expect("JSON");
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(5), "{v}");
    let out = ok(wb().args(["verify-export", &s(&period), "-g", &s(&f.genesis)]));
    assert!(
        out.stdout
            .contains("5 of the 6 entries Hanseatic Roasters signed"),
        "{out}"
    );
    let mut t = v.clone();
    t["trail"]["items"]
        .as_array_mut()
        .expect("items")
        .retain(|i| i["entry"]["entry"]["body"].get("correction").is_none());
    let tampered = f.path("tampered-member.json");
    std::fs::write(&tampered, t.to_string()).expect("write");
    let out = run(wb().args(["verify-export", &s(&tampered), "-g", &s(&f.genesis)]));
    failed(&out, &["1 entry signed by Hanseatic Roasters is missing"]);

    // The correction left out: nothing is written.
    let never = f.path("never-member.json");
    let out = run(&mut export("hidden-member-entry", &never, &[]));
    failed(&out, &["1 entry signed by Hanseatic Roasters is missing"]);
    assert!(out.stdout.contains("nothing was exported"), "{out}");
    assert!(!never.exists());
    // An old tip could hide the member's latest entries.
    let out = run(&mut export("stale", &never, &[]));
    failed(&out, &["older than --max-age"]);
    assert!(!never.exists());
}

/// An auditor's export of a period: every member's entries in its
/// blocks, proven complete by the log's checkpoints at its bounds; a node
/// that leaves one out, or shows an old tip, exports nothing.
#[test]
fn export_of_a_period_is_proven_complete() {
    let f = Fixture::new();
    let export = |scenario: &str, out: &std::path::Path, (from, to): (Option<i64>, Option<i64>)| {
        let mut c = wb();
        c.args([
            "export",
            "--period",
            "--node",
            &f.node(scenario),
            "-g",
            &s(&f.genesis),
            "-k",
            &s(&f.auditor_key),
            "-o",
            &s(out),
        ]);
        if let Some(from) = from {
            c.args(["--from", &from.to_string()]);
        }
        if let Some(to) = to {
            c.args(["--to", &to.to_string()]);
        }
        c
    };
    // Closed by block 6: the sea receipt, the roast and the road dispatch.
    let closed = f.path("closed.json");
    let out = ok(&mut export("honest", &closed, PERIODS[0]));
    assert!(
        out.stdout
            .contains("VERIFIED and complete: 3 entries in blocks 3..=5"),
        "{out}"
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&closed).expect("read")).expect("JSON");
    assert_eq!(v["format"], json!("waybill-period-export"), "{v}");
    let kinds: Vec<&str> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["receive", "produce", "dispatch"], "{v}");
    assert_eq!(v["closed"], json!(true), "{v}");
    // To the tip: two payments, the confirmation and the correction.
    let open = f.path("open.json");
    let out = ok(&mut export("honest", &open, PERIODS[1]));
    assert!(
        out.stdout
            .contains("VERIFIED and complete: 4 entries in blocks 8..=9"),
        "{out}"
    );
    assert!(out.stdout.contains("complete as of height 9"), "{out}");
    // Both verify offline against the genesis alone.
    let verify = |file: &std::path::Path| {
        let mut c = wb();
        c.args(["verify-export", &s(file), "-g", &s(&f.genesis)]);
        c
    };
    for file in [&closed, &open] {
        let out = ok(&mut verify(file));
        assert!(out.stdout.starts_with("VERIFIED offline"), "{out}");
    }
    // An entry cut from the file's proofs, or slipped into its list.
    let tampered = f.path("tampered.json");
    let mut t = v.clone();
    t["trail"]["items"]
        .as_array_mut()
        .expect("items")
        .retain(|i| i["entry"]["entry"]["body"].get("receive").is_none());
    std::fs::write(&tampered, t.to_string()).expect("write");
    let out = run(&mut verify(&tampered));
    failed(&out, &["1 entry in blocks 3..=5 is missing"]);
    let mut t = v.clone();
    t["entries"].as_array_mut().expect("entries").pop();
    std::fs::write(&tampered, t.to_string()).expect("write");
    let out = run(&mut verify(&tampered));
    failed(&out, &["list of entries"]);
    // Who made it is signed: another period stated, or another signer.
    for (k, val) in [
        ("to_ms", json!(T0 + 5_001)),
        ("auditor", json!(f.world.roaster.pk)),
    ] {
        let mut t = v.clone();
        t[k] = val;
        std::fs::write(&tampered, t.to_string()).expect("write");
        let out = run(&mut verify(&tampered));
        assert_eq!(out.code, Some(1), "{k}: {out}");
    }
    let out = ok(&mut verify(&closed));
    assert!(out.stdout.contains("signed by"), "{out}");

    // The producer's payment confirmation left out: nothing is written,
    // and the failure names where the hole is.
    let never = f.path("never-period.json");
    let out = run(&mut export("hidden-period-entry", &never, PERIODS[1]));
    failed(&out, &["1 entry in blocks 8..=9 is missing", "of block 9"]);
    assert!(out.stdout.contains("nothing was exported"), "{out}");
    assert!(!never.exists());
    // An old tip could hide the period's last blocks.
    let out = run(&mut export("stale", &never, PERIODS[1]));
    failed(&out, &["older than --max-age"]);
    assert!(!never.exists());
    // A lot's trail is exported whole: no period of it.
    fails(
        wb().args([
            "export",
            ROASTED,
            "--node",
            &f.node("honest"),
            "-g",
            &s(&f.genesis),
            "-k",
            &s(&f.auditor_key),
            "-o",
            &s(&never),
            "--from",
            "5",
        ]),
        &["--from and --to cut a --member or --period export"],
    );
    assert!(!never.exists());
    // A period the node does not answer as asked is refused whole.
    let out = run(&mut export(
        "honest",
        &never,
        (Some(T0 + 7_000), Some(T0 + 9_000)),
    ));
    assert_ne!(out.code, Some(0), "{out}");
    assert!(!never.exists());
}
