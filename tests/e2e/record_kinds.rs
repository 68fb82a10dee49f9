//! The entry kinds of the harder story through `waybill record`, one
//! process a step, on a local ledger: a production with plots, a partial
//! dispatch with transport facts, a handover co-signed with `waybill
//! cosign`, cold-chain readings with an excursion, a receipt with a
//! shortfall corrected and recorded again, readings struck, a recall and
//! its lifting, and a correction of a production. And the refusals: each
//! bad input is refused with the flag and the value named, nothing is
//! written, and the ledger is unchanged.

use std::path::{Path, PathBuf};

use serde_json::Value;
use waybill_testkit::cli::*;
use waybill_testkit::process::{fails, ok, Out};

use crate::support;

/// A carrier added by the admins (not in genesis), who takes the sea
/// shipment over in Rotterdam.
const FEEDER: &str = "Rhine Barge Lines";

/// A lot recorded by mistake, then corrected.
const WRONG: &str = "(01)07709998000018(10)LOT2";

/// A valid ISO 6346 container number, and the same with a wrong check digit.
const CONTAINER: &str = "CSQU3054383";
const BAD_CONTAINER: &str = "CSQU3054384";

/// The ledger, with its height followed append by append.
struct Story {
    net: Net,
    height: u64,
}

impl Story {
    /// Appends one entry as a block and checks the height went up by one.
    fn append(&mut self, file: &Path) -> Out {
        let out = self.net.append(&[file]);
        self.height += 1;
        assert_eq!(self.net.height(), self.height, "{out}");
        out
    }

    /// Records an entry (must succeed) and returns its file and the
    /// command's output.
    fn record(&self, stem: &str, kind: &str, args: &[&str], out: &str) -> (PathBuf, Out) {
        let o = ok(&mut self
            .net
            .record_cmd(stem, kind, Nonce::FromLedger, args, out));
        let path = self.net.path(out);
        assert!(path.is_file(), "{} was not written:\n{o}", path.display());
        (path, o)
    }

    /// A record command that must be refused: it is run without any
    /// passphrase (a refusal comes before the key is read), must name
    /// every one of `needles`, and must write nothing.
    fn refused(&self, stem: &str, kind: &str, args: &[&str], out: &str, needles: &[&str]) {
        let mut cmd = self
            .net
            .record_cmd(stem, kind, Nonce::FromLedger, args, out);
        cmd.env_remove("WAYBILL_PASSPHRASE");
        let o = self
            .net
            .assert_unchanged(kind, || fails(&mut cmd, &needles[..1]));
        let all = o.all().to_lowercase();
        for n in needles {
            assert!(all.contains(&n.to_lowercase()), "no `{n}` in:\n{o}");
        }
        assert!(
            !all.contains("passphrase"),
            "the passphrase was asked for:\n{o}"
        );
        assert!(!self.net.path(out).exists(), "{out} was written:\n{o}");
    }

    /// An append the ledger must refuse, naming each of `needles`, with the
    /// ledger unchanged.
    fn append_refused(&self, file: &Path, needles: &[&str]) {
        let o = self.net.assert_unchanged("append", || {
            fails(&mut self.net.append_cmd(&[file]), &needles[..1])
        });
        for n in needles {
            assert!(o.all().contains(n), "no `{n}` in:\n{o}");
        }
        assert_eq!(self.net.height(), self.height);
    }

    /// `waybill verify --json` of an entry file: it verifies; its id.
    fn entry_id(&self, file: &Path) -> String {
        let v = ok(self.net.wb().args([
            "verify",
            "--json",
            &s(file),
            "--genesis",
            &s(&self.net.genesis),
        ]))
        .json();
        assert_eq!(v["ok"], Value::Bool(true), "{v}");
        v["entry_id"].as_str().expect("an entry id").to_owned()
    }
}

/// The body of an entry file, which must be of `kind`.
fn body(file: &Path, kind: &str) -> Value {
    let v = read_json(file);
    let b = v["entry"]["body"][kind].clone();
    assert!(
        !b.is_null(),
        "{} is not a {kind} entry: {v}",
        file.display()
    );
    b
}

#[test]
fn every_new_kind_through_record() {
    // The carrier's key is encrypted: its refusals must come before the
    // passphrase is asked for.
    let net = Net::new(&support::waybill(), &["carrier"]);
    let height = net.height();
    let mut st = Story { net, height };
    let genesis = s(&st.net.genesis);

    // --- A harvest with its plots --------------------------------------
    let produce_args = [
        PRODUCE_GREEN_ARGS,
        &[
        "--lat",
        "1.853214",
        "--lon",
        "-76.051378",
        "--plot",
        "id=P1;area=3.2;point=1.853214,-76.051378",
        "--plot",
        "id=P2;area=12.5;polygon=1.850000,-76.050000 1.850000,-76.040000 1.860000,-76.040000 1.850000,-76.050000",
        "--harvest",
        "2026-09-01..2026-09-30",
        "--deforestation-free",
        "--dds-ref",
        "26CODDS0001234",
        "--ref-doc",
        "work_order:WO-2026-118",
        "--tlc-source-gln",
        "7709998000001",
    ],
    ]
    .concat();
    // Five decimals are refused, naming the flag and the value.
    let mut five = produce_args.to_vec();
    five[13] = "1.85321";
    st.refused(
        "cooperative",
        "produce",
        &five,
        "produce-five.json",
        &["--lat", "1.85321", "decimals"],
    );
    // So is a plot over 4 ha given as a point, and plots without dates.
    let mut big_point = produce_args.to_vec();
    big_point[17] = "id=P1;area=5;point=1.853214,-76.051378";
    st.refused(
        "cooperative",
        "produce",
        &big_point,
        "produce-big.json",
        &["--plot #1", "polygon"],
    );
    st.refused(
        "cooperative",
        "produce",
        &produce_args[..20],
        "produce-undated.json",
        &["--harvest"],
    );
    let (green, _) = st.record("cooperative", "produce", &produce_args, "produce.json");
    let b = body(&green, "produce_v2");
    assert_eq!(b["plots"]["plots"].as_array().map(Vec::len), Some(2), "{b}");
    assert_eq!(b["plots"]["deforestation_free"], Value::Bool(true), "{b}");
    assert_eq!(b["plots"]["due_diligence_ref"], "26CODDS0001234", "{b}");
    assert_eq!(b["kdes"]["reference_document"]["kind"], "work_order", "{b}");
    assert_eq!(b["produce"]["origin"]["geo"]["lat_micro"], 1_853_214, "{b}");
    st.append(&green);

    // --- 400 of the 600 kg leave by sea ---------------------------------
    let dispatch_args = |container: &'static str| {
        vec![
            "--shipment",
            SEA,
            "--lot",
            "(01)07709998000018(10)LOT1=0.4:TNE",
            "--consignee",
            name("roaster"),
            "--carrier",
            name("carrier"),
            "--from-country",
            "CO",
            "--from-gln",
            "7709998000001",
            "--to-country",
            "DE",
            "--to-lat",
            "53.541231",
            "--to-lon",
            "9.984345",
            "--bill-of-lading",
            "MAEU240561873",
            "--container",
            container,
            "--seal",
            "ML-CO4471920",
            "--vessel-imo",
            "9074729",
            "--vessel-name",
            "Atlantic Star",
            "--voyage",
            "614E",
            "--departed-at",
            "2026-10-02T18:00:00Z",
            "--ref-doc",
            "bill_of_lading:MAEU240561873",
        ]
    };
    st.refused(
        "cooperative",
        "dispatch",
        &dispatch_args(BAD_CONTAINER),
        "dispatch-bad.json",
        &[BAD_CONTAINER, "check digit", "--container"],
    );
    // A quantity without a unit, and no --unit.
    let mut unitless = dispatch_args(CONTAINER);
    unitless[3] = "(01)07709998000018(10)LOT1=400";
    st.refused(
        "cooperative",
        "dispatch",
        &unitless,
        "dispatch-unitless.json",
        &["--lot", "--unit"],
    );
    let (dispatch, _) = st.record(
        "cooperative",
        "dispatch",
        &dispatch_args(CONTAINER),
        "dispatch.json",
    );
    let b = body(&dispatch, "dispatch_v2");
    assert_eq!(b["lots"][0]["quantity"]["value"], "0.4", "{b}");
    assert_eq!(b["lots"][0]["quantity"]["unit"], "TNE", "{b}");
    assert_eq!(b["transport"]["containers"][0], CONTAINER, "{b}");
    assert_eq!(b["from"]["gln"], "7709998000001", "{b}");
    st.append(&dispatch);

    // The first carrier takes it over.
    let (take, _) = st.record(
        "carrier",
        "receive",
        &[
            "--shipment",
            SEA,
            "--country",
            "CO",
            "--place",
            "Port of Buenaventura",
        ],
        "carrier-receive.json",
    );
    st.append(&take);

    // --- The admins add a carrier ---------------------------------
    let feeder_key = st.net.path("rhine-barge.pem");
    let out = ok(st.net.wb().args([
        "key",
        "new",
        "--insecure-plaintext",
        "--out",
        &s(&feeder_key),
    ]));
    let feeder_pk = out.stdout.trim().to_owned();
    let (add, _) = st.record(
        "bank",
        "member",
        &[
            "add",
            "--name",
            FEEDER,
            "--public-key",
            &feeder_pk,
            "--roles",
            "carrier",
            "--country",
            "NL",
        ],
        "add-feeder.json",
    );
    // A key that is no admin in the genesis (here the newcomer's own) is
    // warned, not refused (it may have become one on the ledger); the
    // ledger has the last word.
    let stray = st.net.path("add-feeder-stray.json");
    let out = ok(st.net.wb().args([
        "cosign",
        &s(&add),
        "-k",
        &s(&feeder_key),
        "-g",
        &genesis,
        "-o",
        &s(&stray),
    ]));
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("is not an admin"),
        "{out}"
    );
    let out = ok(st.net.wb().args([
        "cosign",
        &s(&add),
        "-k",
        &s(&st.net.key("auditor")),
        "-g",
        &genesis,
    ]));
    assert!(!out.stderr.contains("warning:"), "{out}");
    st.append(&add);

    // --- The carrier hands the shipment over in Rotterdam ----------------
    let handover_args = |container: &'static str| {
        vec![
            "--shipment",
            SEA,
            // A member added since genesis, found by name in the ledger.
            "--to",
            FEEDER,
            "--country",
            "NL",
            "--place",
            "Port of Rotterdam",
            "--container",
            container,
            "--vessel-imo",
            "IMO 9074729",
            "--voyage",
            "22N",
            "--departed-at",
            "2026-10-21T08:00:00Z",
        ]
    };
    st.refused(
        "carrier",
        "handover",
        &handover_args(BAD_CONTAINER),
        "handover-bad.json",
        &[BAD_CONTAINER, "check digit"],
    );
    // Refused after parsing, and still before the passphrase.
    let mut early = handover_args(CONTAINER);
    early.extend(["--arrived-at", "2026-10-20T08:00:00Z"]);
    st.refused(
        "carrier",
        "handover",
        &early,
        "handover-early.json",
        &["--arrived-at", "before --departed-at"],
    );
    let good = handover_args(CONTAINER);
    let (handover, out) = st.record("carrier", "handover", &good, "handover.json");
    assert!(out.stderr.contains("waybill cosign"), "{out}");
    assert!(out.stderr.contains(FEEDER), "{out}");
    // Not yet co-signed: the ledger refuses it, naming the next carrier.
    st.append_refused(&handover, &["co-signed", FEEDER]);
    // Only the next carrier co-signs it.
    fails(
        st.net.wb().args([
            "cosign",
            &s(&handover),
            "-k",
            &s(&st.net.key("auditor")),
            "-g",
            &genesis,
        ]),
        &["only that carrier co-signs"],
    );
    ok(st.net.wb().args([
        "cosign",
        &s(&handover),
        "-k",
        &s(&feeder_key),
        "-g",
        &genesis,
    ]));
    let v = read_json(&handover);
    assert_eq!(v["cosignatures"][0]["signer"], feeder_pk.as_str(), "{v}");
    st.append(&handover);

    // --- The feeder's logger: one excursion -------------------------------
    let csv = st.net.path("logger.csv");
    std::fs::write(
        &csv,
        "time,value\n\
         2026-10-21T08:00:00Z,18.5\n\
         2026-10-21T09:00:00Z,21\n\
         2026-10-21T10:00:00Z,34.25\n\
         2026-10-21T11:00:00Z,31\n\
         2026-10-21T12:00:00Z,19\n",
    )
    .expect("write the CSV");
    let backwards = st.net.path("backwards.csv");
    std::fs::write(
        &backwards,
        "2026-10-21T08:00:00Z,18.5\n\
         2026-10-21T10:00:00Z,21\n\
         2026-10-21T09:00:00Z,19\n",
    )
    .expect("write the CSV");
    let readings_args = |file: &Path| {
        vec![
            "--shipment".to_owned(),
            SEA.to_owned(),
            "--device".to_owned(),
            "LOGGER-7731".to_owned(),
            "--measure".to_owned(),
            "temperature".to_owned(),
            "--unit".to_owned(),
            "CEL".to_owned(),
            "--min".to_owned(),
            "10".to_owned(),
            "--max".to_owned(),
            "30".to_owned(),
            "--csv".to_owned(),
            s(file),
        ]
    };
    // The feeder is no coffee member: sign with its key directly.
    let record_feeder = |args: &[String], out: &str| {
        let mut c = st.net.wb();
        c.args([
            "record",
            "readings",
            "--genesis",
            &genesis,
            "--key",
            &s(&feeder_key),
            "--data-dir",
            &s(&st.net.data),
            "--out",
            &s(&st.net.path(out)),
        ]);
        c.args(args);
        c
    };
    let o = st.net.assert_unchanged("readings", || {
        fails(
            &mut record_feeder(&readings_args(&backwards), "readings-bad.json"),
            &["line 3"],
        )
    });
    assert!(o.stderr.contains("increasing"), "{o}");
    assert!(!st.net.path("readings-bad.json").exists());
    let o = ok(&mut record_feeder(&readings_args(&csv), "readings.json"));
    assert!(o.stderr.contains("1 excursion(s)"), "{o}");
    assert!(o.stderr.contains("worst 34.25"), "{o}");
    let readings = st.net.path("readings.json");
    let b = body(&readings, "readings");
    assert_eq!(b["series"][0]["readings"].as_array().map(Vec::len), Some(5));
    st.append(&readings);

    // --- The roaster receives 390 kg; 10 kg were damaged ------------------
    // More than was shipped: the ledger refuses it, naming the lot.
    let (over, _) = st.record(
        "roaster",
        "receive",
        &[
            "--shipment",
            SEA,
            "--received",
            &format!("{GREEN}=395:KGM"),
            "--short",
            &format!("{GREEN}=10:damage:two bags soaked"),
        ],
        "receive-over.json",
    );
    st.append_refused(&over, &[GREEN, "more than"]);
    // A shortfall with no --received line for its lot.
    st.refused(
        "roaster",
        "receive",
        &[
            "--shipment",
            SEA,
            "--short",
            &format!("{GREEN}=10:KGM:damage"),
        ],
        "receive-stray.json",
        &["--short", "--received"],
    );
    let (receipt, _) = st.record(
        "roaster",
        "receive",
        &[
            "--shipment",
            SEA,
            "--country",
            "DE",
            "--gln",
            "4061234000002",
            "--received",
            &format!("{GREEN}=390"),
            "--unit",
            "KGM",
            "--short",
            &format!("{GREEN}=10:damage:two bags soaked"),
            "--arrived-at",
            "2026-10-24T06:30:00Z",
        ],
        "receive.json",
    );
    let b = body(&receipt, "receive_v2");
    assert_eq!(b["lots"][0]["received"]["value"], "390", "{b}");
    assert_eq!(b["lots"][0]["shortfall"]["cause"], "damage", "{b}");
    assert_eq!(b["lots"][0]["shortfall"]["quantity"]["unit"], "KGM", "{b}");
    assert_eq!(b["lots"][0]["shortfall"]["note"], "two bags soaked", "{b}");
    st.append(&receipt);

    // --- The two bags were dry after all: the receipt is corrected --------
    let receipt_id = st.entry_id(&receipt);
    let undo_args = [
        "--entry",
        &receipt_id,
        "--receipt",
        SEA,
        "--reason",
        "the two bags were dry after all: 400 kg arrived",
    ];
    // One kind of record at a time.
    st.refused(
        "roaster",
        "correct",
        &[&undo_args[..], &["--lot", GREEN]].concat(),
        "correct-two.json",
        &["--receipt", "cannot be used with"],
    );
    // Someone else's receipt: the ledger refuses it.
    let (theirs, _) = st.record("cooperative", "correct", &undo_args, "undo-theirs.json");
    st.append_refused(&theirs, &["may not correct", "the receipt of shipment"]);
    let (undo, _) = st.record("roaster", "correct", &undo_args, "undo-receipt.json");
    let b = body(&undo, "correction");
    assert_eq!(b["target"], receipt_id.as_str(), "{b}");
    assert_eq!(b["corrected"]["receipt"], SEA, "{b}");
    st.append(&undo);
    // Twice is refused, naming the first correction.
    let (again, _) = st.record("roaster", "correct", &undo_args, "undo-again.json");
    st.append_refused(&again, &["already corrected", &st.entry_id(&undo)[..8]]);
    // Recorded again, whole.
    let (receipt2, _) = st.record(
        "roaster",
        "receive",
        &["--shipment", SEA, "--country", "DE"],
        "receive-again.json",
    );
    st.append(&receipt2);
    let j = ok(st
        .net
        .wb()
        .args(["lookup", GREEN, "--json", "--data-dir", &s(&st.net.data)]))
    .json();
    assert_eq!(j["ok"], Value::Bool(true), "{j}");
    let corrections = j["corrections"].as_array().expect("corrections");
    assert_eq!(corrections.len(), 1, "{j}");
    assert_eq!(
        corrections[0]["what"],
        format!("the receipt of shipment {SEA}"),
        "{j}"
    );
    let custody = j["custody"].as_array().expect("custody");
    let step = |id: &str| {
        custody
            .iter()
            .find(|c| c["entry_id"] == id)
            .unwrap_or_else(|| panic!("no custody step {id}: {j}"))
    };
    let struck = step(&receipt_id)["corrected"].as_str().unwrap_or("");
    assert!(struck.contains("two bags were dry"), "{j}");
    assert!(step(&st.entry_id(&receipt2))["corrected"].is_null(), "{j}");
    assert!(
        j["status"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("400 KGM held by {}", name("roaster"))),
        "{j}"
    );

    // --- The roaster uploads another container's logger, then strikes it -
    let log_args = readings_args(&csv);
    let log_args: Vec<&str> = log_args.iter().map(String::as_str).collect();
    let (wrong_log, _) = st.record("roaster", "readings", &log_args, "readings-wrong.json");
    st.append(&wrong_log);
    let wrong_log_id = st.entry_id(&wrong_log);
    let (strike, _) = st.record(
        "roaster",
        "correct",
        &[
            "--entry",
            &wrong_log_id,
            "--readings",
            SEA,
            "--reason",
            "the logger of another container",
        ],
        "strike-readings.json",
    );
    assert_eq!(body(&strike, "correction")["corrected"]["readings"], SEA);
    st.append(&strike);
    let j = ok(st
        .net
        .wb()
        .args(["lookup", GREEN, "--json", "--data-dir", &s(&st.net.data)]))
    .json();
    let excursions = j["excursions"].as_array().expect("excursions");
    let struck: Vec<bool> = excursions
        .iter()
        .map(|x| {
            x["corrected"]
                .as_str()
                .is_some_and(|w| w.contains("another container"))
        })
        .collect();
    assert_eq!(struck, [false, true], "{j}");
    assert_eq!(excursions[1]["entry_id"], wrong_log_id.as_str(), "{j}");
    let text = ok(st
        .net
        .wb()
        .args(["lookup", GREEN, "--data-dir", &s(&st.net.data)]));
    assert!(
        text.stdout.contains("the logger of another container"),
        "{text}"
    );

    // --- The cooperative recalls the green lot, then lifts it -------------
    let (recall, out) = st.record(
        "cooperative",
        "recall",
        &[
            "--lot",
            GREEN,
            "--class",
            "recall",
            "--reason",
            "ochratoxin A above the EU limit",
            "--scope",
            "the whole lot",
        ],
        "recall.json",
    );
    assert!(out.stderr.contains("admin quorum"), "{out}");
    assert_eq!(body(&recall, "recall")["class"], "recall");
    st.append(&recall);
    let recall_id = st.entry_id(&recall);
    st.refused(
        "cooperative",
        "recall-lift",
        &[
            "--recall",
            &recall_id[..60],
            "--lot",
            GREEN,
            "--reason",
            "x",
        ],
        "lift-bad.json",
        &["--recall"],
    );
    let (lift, _) = st.record(
        "cooperative",
        "recall-lift",
        &[
            "--recall",
            &recall_id,
            "--lot",
            GREEN,
            "--reason",
            "retest within limits",
        ],
        "lift.json",
    );
    assert_eq!(body(&lift, "recall_lift")["recall"], recall_id.as_str());
    st.append(&lift);

    // --- A lot recorded by mistake, declared erroneous ---------------------
    let (wrong, _) = st.record(
        "cooperative",
        "produce",
        &[
            "--lot",
            WRONG,
            "--product",
            "Green coffee, washed arabica",
            "--quantity",
            "6000",
            "--unit",
            "KGM",
        ],
        "produce-wrong.json",
    );
    st.append(&wrong);
    let wrong_id = st.entry_id(&wrong);
    let correct_args = [
        "--entry",
        &wrong_id,
        "--lot",
        WRONG,
        "--reason",
        "quantity typed as 6000 instead of 600",
    ];
    // Someone else's entry: the ledger refuses it.
    let (theirs, _) = st.record("roaster", "correct", &correct_args, "correct-theirs.json");
    st.append_refused(&theirs, &["may not correct"]);
    let (correction, out) = st.record("cooperative", "correct", &correct_args, "correct.json");
    assert!(out.stderr.contains("admin quorum"), "{out}");
    let b = body(&correction, "correction");
    assert_eq!(b["target"], wrong_id.as_str(), "{b}");
    assert_eq!(b["corrected"]["lot"], WRONG, "{b}");
    st.append(&correction);

    // The ledger checks out.
    st.net.state();
}

#[test]
fn record_help_teaches_every_new_kind() {
    for (kind, needles) in [
        (
            "produce",
            &["--plot", "--harvest", "--ref-doc", "Example"][..],
        ),
        (
            "dispatch",
            &["--container", "LOT=QTY", "--from-gln", "Example"][..],
        ),
        ("receive", &["--short", "shortage, damage", "Example"][..]),
        ("handover", &["waybill cosign", "Example"][..]),
        ("readings", &["time,value", "--min", "Example"][..]),
        ("recall", &["withdrawal", "Example"][..]),
        ("recall-lift", &["entry_id", "Example"][..]),
        (
            "correct",
            &[
                "--corrective",
                "--payment",
                "--receipt",
                "--readings",
                "handover",
                "Example",
            ][..],
        ),
    ] {
        let out = ok(support::wb().args(["record", kind, "--help"]));
        for n in needles {
            assert!(
                out.stdout.contains(n),
                "`record {kind} --help` lacks `{n}`:\n{out}"
            );
        }
    }
}

/// Documents and certificates go on the ledger as salted digests: the
/// salts file beside the entry lets their holder show a file is the one
/// recorded; a plain SHA-256 of a guessable document matches nothing on
/// the ledger; without a place for the salts nothing is signed.
#[test]
fn documents_are_recorded_salted_and_checked_with_their_salts() {
    let net = Net::new(&support::waybill(), &[]);
    let bl = net.path("bill-of-lading.pdf");
    std::fs::write(&bl, b"%PDF-1.7 B/L AOL-BUN-RTM-0912").expect("write");
    let produce = net.record(
        "cooperative",
        "produce",
        Nonce::Given(1),
        &[
            PRODUCE_GREEN_ARGS,
            &["--document", &format!("{}:Bill of lading", s(&bl))],
        ]
        .concat(),
        "produce.json",
    );
    let salts = net.path("produce.json.salts.json");
    let text = std::fs::read_to_string(&salts).expect("the salts file");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["format"], "waybill-document-salts", "{v}");
    let recorded = body(&produce, "produce_v2")["produce"]["documents"][0]["sha256"]
        .as_str()
        .expect("a digest")
        .to_owned();
    assert_eq!(v["documents"][0]["sha256"], recorded.as_str(), "{v}");
    assert_eq!(v["documents"][0]["label"], "Bill of lading", "{v}");
    // Not the file's plain SHA-256, which anyone holding a copy could match.
    let plain = waybill_core::crypto::Hash32::digest(b"%PDF-1.7 B/L AOL-BUN-RTM-0912").to_hex();
    assert_ne!(recorded, plain);
    let produce_text = std::fs::read_to_string(&produce).expect("read");
    assert!(!produce_text.contains(&plain));

    let check = |file: &Path, digest: Option<&str>| {
        let mut c = support::wb();
        c.args(["document", "check", &s(file), "--salts", &s(&salts)]);
        if let Some(d) = digest {
            c.args(["--digest", d]);
        }
        c
    };
    let out = ok(&mut check(&bl, Some(&recorded)));
    assert!(out.stdout.starts_with("MATCH"), "{out}");
    let forged = net.path("forged.pdf");
    std::fs::write(&forged, b"%PDF-1.7 B/L AOL-BUN-RTM-0913").expect("write");
    let out = waybill_testkit::process::run(&mut check(&forged, None));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.starts_with("NO MATCH"), "{out}");
    let out = waybill_testkit::process::run(&mut check(&bl, Some(&plain)));
    assert_eq!(out.code, Some(1), "{out}");

    // To stdout, a document needs --salts-out, and nothing is signed
    // without it.
    let mut cmd = net.wb();
    cmd.args([
        "record",
        "produce",
        "-g",
        &s(&net.genesis),
        "-k",
        &s(&net.key("cooperative")),
        "--nonce",
        "2",
    ]);
    cmd.args(PRODUCE_GREEN_ARGS.iter().map(|a| a.replace("LOT1", "LOT9")));
    cmd.args(["--document", &s(&bl)]);
    let out = fails(&mut cmd, &["--salts-out"]);
    assert!(!out.stdout.contains("signature"), "{out}");
}
