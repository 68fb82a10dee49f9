//! The coffee story end to end, through the `waybill` CLI only: every step
//! is a separate process, as an operator would run them.

use std::path::Path;

use serde_json::Value;
use waybill_testkit::cli::*;
use waybill_testkit::coffee::MEMBERS;
use waybill_testkit::process::{fails, ok};

use crate::support::{self, wb};

/// The auditor's bundle must fail to verify after any one-byte change.
const BROKEN_NEEDLES: &[&str] = &[
    "altered",
    "signature",
    "not a valid bundle",
    "not a waybill audit bundle",
    "does not verify",
    "is for chain",
];

/// The nonce inside a signed entry file.
fn nonce_of(path: &Path) -> u64 {
    read_json(path)["entry"]["nonce"]
        .as_u64()
        .unwrap_or_else(|| panic!("{} has no entry.nonce", path.display()))
}

/// `openssl` must be installed: the test fails (does not skip) without it.
fn openssl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl {}` ({e}); openssl must be installed",
                args.join(" ")
            )
        })
}

/// A different byte of the same kind where possible, so that most changes
/// still parse as JSON and must be caught by the canonical-text check or a
/// signature rather than by the parser.
fn flip(b: u8) -> u8 {
    match b {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => b + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        b' ' => b'\t',
        b'\n' => b' ',
        other => other ^ 0x01,
    }
}

/// The position of the `n`-th byte after the first `"key": "` at or after `from`.
fn in_value(text: &str, key: &str, from: usize, n: usize) -> usize {
    let pat = format!("\"{key}\": \"");
    let at = text[from..]
        .find(&pat)
        .unwrap_or_else(|| panic!("no {pat} in the bundle after byte {from}"));
    from + at + pat.len() + n
}

#[test]
fn coffee_story_through_the_cli() {
    // The roaster's key is encrypted; everyone else's is plaintext.
    let net = Net::new(&support::waybill(), &["roaster"]);

    // --- Keys -----------------------------------------------------------
    let coop_pem = std::fs::read_to_string(net.key("cooperative")).expect("read key");
    assert!(
        coop_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "{coop_pem}"
    );
    let roaster_pem = std::fs::read_to_string(net.key("roaster")).expect("read key");
    assert!(
        roaster_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "the roaster's key is not encrypted:\n{roaster_pem}"
    );
    // `key show` reads the encrypted key back to the key `key new` printed.
    let out = ok(net
        .wb_as("roaster")
        .args(["key", "show", &s(&net.key("roaster"))]));
    assert_eq!(out.stdout.trim(), net.public_keys["roaster"], "{out}");
    // ... and not without its passphrase.
    fails(
        wb().args(["key", "show", &s(&net.key("roaster"))]),
        &["passphrase"],
    );
    // `key new` refuses to overwrite.
    fails(
        wb().args([
            "key",
            "new",
            "--insecure-plaintext",
            "--out",
            &s(&net.key("cooperative")),
        ]),
        &["already exists"],
    );
    assert_eq!(
        std::fs::read_to_string(net.key("cooperative")).expect("read key"),
        coop_pem
    );
    // OpenSSL reads both kinds.
    let o = openssl(&["pkey", "-in", &s(&net.key("cooperative")), "-noout"]);
    assert!(
        o.status.success(),
        "openssl cannot read the plaintext key: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = openssl(&[
        "pkey",
        "-in",
        &s(&net.key("roaster")),
        "-passin",
        &format!("pass:{PASSPHRASE}"),
        "-noout",
    ]);
    assert!(
        o.status.success(),
        "openssl cannot read the encrypted key: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The SPKI PEM of `key show --pem` is what openssl derives.
    let ours = ok(wb().args(["key", "show", "--pem", &s(&net.key("cooperative"))]));
    let theirs = openssl(&["pkey", "-in", &s(&net.key("cooperative")), "-pubout"]);
    assert!(theirs.status.success());
    assert_eq!(ours.stdout, String::from_utf8_lossy(&theirs.stdout));

    // --- Genesis --------------------------------------------------------
    let out = ok(wb().args(["genesis", "hash", &s(&net.genesis)]));
    assert_eq!(out.stdout.trim(), net.chain_id);
    let out = ok(wb().args(["genesis", "show", &s(&net.genesis)]));
    for m in MEMBERS {
        assert!(out.stdout.contains(m.name), "{} missing:\n{out}", m.name);
    }
    let g = ok(wb().args(["genesis", "show", "--json", &s(&net.genesis)])).json();
    assert_eq!(g["chain_id"], Value::String(net.chain_id.clone()));
    assert_eq!(g["members"].as_array().map(Vec::len), Some(MEMBERS.len()));
    assert_eq!(
        g["validators"][0]["public_key"],
        Value::String(net.validator.clone())
    );
    let roaster = g["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name("roaster")))
        .expect("the roaster is in genesis");
    assert_eq!(
        roaster["public_key"],
        Value::String(net.public_keys["roaster"].clone())
    );

    // --- The story ------------------------------------------------------
    let green = net.produce_green(Nonce::Given(1));
    assert_eq!(nonce_of(&green), 1);
    let out = ok(wb().args(["verify", &s(&green), "--genesis", &s(&net.genesis)]));
    assert!(out.stdout.starts_with("VERIFIED"), "{out}");
    assert!(out.stdout.contains(name("cooperative")), "{out}");
    let v = ok(wb().args([
        "verify",
        "--json",
        &s(&green),
        "--genesis",
        &s(&net.genesis),
    ]))
    .json();
    assert_eq!(v["ok"], Value::Bool(true), "{v}");
    assert_eq!(v["kind"], "produce", "{v}");

    let dispatch = net.dispatch_sea(Nonce::FromLedger);
    assert_eq!(nonce_of(&dispatch), 2, "--data-dir gave the wrong nonce");

    let carrier_rx = net.record_and_append(
        "carrier",
        "receive",
        Nonce::Given(1),
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
    assert_eq!(nonce_of(&carrier_rx), 1);

    let roaster_rx = net.record_and_append(
        "roaster",
        "receive",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--country",
            "DE",
            "--place",
            "Hamburg roastery",
        ],
        "roaster-receive.json",
    );
    assert_eq!(nonce_of(&roaster_rx), 1);

    let input = format!("{GREEN}=600");
    let roasted = net.record_and_append(
        "roaster",
        "produce",
        Nonce::Given(2),
        &[
            "--lot",
            ROASTED,
            "--product",
            "Roasted coffee beans, Huila single origin",
            "--quantity",
            "480",
            "--unit",
            "KGM",
            "--country",
            "DE",
            "--place",
            "Hamburg roastery",
            "--input",
            &input,
        ],
        "produce-roasted.json",
    );
    assert_eq!(nonce_of(&roasted), 2);

    let road = net.record_and_append(
        "roaster",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            ROAD,
            "--lot",
            ROASTED,
            "--consignee",
            name("retailer"),
            "--from-country",
            "DE",
            "--to-country",
            "DE",
            "--to-place",
            "Frischmarkt DC Hannover",
        ],
        "dispatch-road.json",
    );
    assert_eq!(nonce_of(&road), 3);

    // The last two entries go into one block together.
    let retailer_rx = net.record(
        "retailer",
        "receive",
        Nonce::Given(1),
        &[
            "--shipment",
            ROAD,
            "--country",
            "DE",
            "--place",
            "Frischmarkt DC Hannover",
        ],
        "retailer-receive.json",
    );
    let pay = net.record(
        "roaster",
        "pay",
        Nonce::FromLedger,
        &[
            "--payee",
            name("cooperative"),
            "--amount",
            "10890.00",
            "--currency",
            "EUR",
            "--settlement-amount",
            "12000.00",
            "--settlement-currency",
            "USD",
            "--fx-rate",
            "1.101928",
            "--incoterm",
            "DDP",
            "--shipment",
            SEA,
            "--hs-code",
            "0901.11",
        ],
        "pay.json",
    );
    assert_eq!(nonce_of(&pay), 4);
    // Only commitments go on the ledger; the terms stay in the terms file.
    let pay_text = std::fs::read_to_string(&pay).expect("read pay.json");
    for term in ["1089000", "EUR", "USD", "1.101928", "DDP", "090111"] {
        assert!(!pay_text.contains(term), "the payment entry shows {term}");
    }
    let pay_terms = net.path("pay.json.terms.json");
    let out = net.append(&[&retailer_rx, &pay]);
    assert!(out.stdout.contains("2 entries"), "{out}");
    // The cooperative confirms it, after checking the terms it was given.
    let confirm = net.record(
        "cooperative",
        "confirm-payment",
        Nonce::FromLedger,
        &["--terms", &s(&pay_terms)],
        "confirm.json",
    );
    let out = net.append(&[&confirm]);
    assert!(out.stdout.contains("1 entr"), "{out}");
    // `waybill nonce` reads the next one from the ledger too, for a public
    // key (no passphrase asked) or a key file.
    let data = s(&net.data);
    let out = ok(wb().args([
        "nonce",
        "-k",
        &net.public_keys["roaster"],
        "--data-dir",
        &data,
    ]));
    assert_eq!(out.stdout, "5\n", "{out}");
    let j = ok(wb().args([
        "nonce",
        "--json",
        "-k",
        &s(&net.key("retailer")),
        "--data-dir",
        &data,
    ]))
    .json();
    assert_eq!(j["next_nonce"], 2, "{j}");
    assert_eq!(j["committed_nonce"], 1, "{j}");
    assert_eq!(j["member"], name("retailer"), "{j}");
    fails(
        wb().args(["nonce", "-k", &net.validator, "--data-dir", &data]),
        &["is not a member of chain"],
    );

    let state = net.state();
    assert_eq!(state.status["height"], 8, "{}", state.status);
    assert_eq!(state.status["lots"], 2, "{}", state.status);
    assert_eq!(state.status["shipments"], 2, "{}", state.status);
    assert_eq!(state.status["payments"], 1, "{}", state.status);
    assert_eq!(
        state.status["chain_id"],
        Value::String(net.chain_id.clone())
    );
    assert_eq!(state.check["entries"], 9, "{}", state.check);
    assert!(
        is_hex64(state.check["state_digest"].as_str().unwrap_or("")),
        "{}",
        state.check
    );

    // --- Lookup -------------------------------------------------------------
    let out = ok(wb().args(["lookup", ROASTED_LINK, "--data-dir", &data]));
    let text = &out.stdout;
    assert!(text.contains("VERIFIED"), "{out}");
    for needle in [
        GREEN,
        ROASTED,
        "Finca La Esperanza",
        "CO",
        "Hamburg roastery",
        name("cooperative"),
        name("roaster"),
        name("carrier"),
        name("retailer"),
        SEA,
        ROAD,
        "terms sealed",
        &format!("confirmed by {}", name("cooperative")),
    ] {
        assert!(
            text.contains(needle),
            "lookup does not show {needle}:\n{out}"
        );
    }
    // The shopper sees that a payment was made and confirmed, and none of
    // its terms.
    for term in ["10890", "EUR", "12000", "USD", "1.101928", "DDP", "090111"] {
        assert!(!text.contains(term), "lookup shows the term {term}:\n{out}");
    }
    // A party or an auditor with the terms file sees them, checked against
    // the commitments on the ledger.
    let out = ok(wb().args([
        "terms",
        "verify",
        "--terms",
        &s(&pay_terms),
        "--data-dir",
        &data,
    ]));
    for needle in ["10890.00 EUR", "12000.00 USD at 1.101928", "DDP", "090111"] {
        assert!(out.stdout.contains(needle), "terms verify: {needle}\n{out}");
    }
    assert!(
        text.contains(&format!("held by {}", name("retailer"))) && text.contains("Now: "),
        "{out}"
    );

    let j = ok(wb().args(["lookup", ROASTED_LINK, "--json", "--data-dir", &data])).json();
    assert_eq!(j["ok"], Value::Bool(true), "{j}");
    assert_eq!(j["lot"], ROASTED, "{j}");
    assert_eq!(j["custodian"], name("retailer"), "{j}");
    let origins = j["origins"].as_array().expect("origins");
    assert_eq!(origins.len(), 2, "{j}");
    // The lot's own origin first, then its ancestors'.
    let lots: Vec<_> = origins
        .iter()
        .map(|o| o["lot"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(lots, [ROASTED, GREEN], "{j}");
    let green_origin = origins
        .iter()
        .find(|o| o["lot"] == GREEN)
        .expect("green origin");
    assert_eq!(green_origin["origin"]["country"], "CO", "{j}");
    assert_eq!(green_origin["producer"], name("cooperative"), "{j}");
    assert_eq!(j["payments"].as_array().map(Vec::len), Some(1), "{j}");
    assert!(j["payments"][0]["confirmed"].is_object(), "{j}");
    assert_eq!(j["entries"], 9, "{j}");
    // The (01)…(10)… form gives the same trail.
    let j2 = ok(wb().args(["lookup", ROASTED, "--json", "--data-dir", &data])).json();
    assert_eq!(j, j2);

    // The green lot was consumed by the roast.
    let jg = ok(wb().args(["lookup", GREEN, "--json", "--data-dir", &data])).json();
    assert_eq!(jg["ok"], Value::Bool(true), "{jg}");
    assert!(
        jg["status"].as_str().unwrap_or("").contains("consumed"),
        "{jg}"
    );

    // --- Trace forward ------------------------------------------------------
    let out = ok(wb().args(["trace-forward", GREEN, "--data-dir", &data]));
    assert!(out.stdout.contains(ROASTED), "{out}");
    assert!(out.stdout.contains(name("retailer")), "{out}");
    let t = ok(wb().args(["trace-forward", GREEN, "--json", "--data-dir", &data])).json();
    assert_eq!(t["made_from_it"], 1, "{t}");
    let reach = t["reach"].as_array().expect("reach");
    assert_eq!(reach.len(), 2, "{t}");
    assert_eq!(reach[0]["relation"], "the lot itself", "{t}");
    assert_eq!(reach[1]["lot"], ROASTED, "{t}");
    assert_eq!(reach[1]["custodian"], name("retailer"), "{t}");
    assert_eq!(reach[1]["verified"], true, "{t}");
    let out = ok(wb().args(["trace-forward", ROASTED, "--data-dir", &data]));
    assert!(
        out.stdout.contains("the lot itself and 0 made from it"),
        "{out}"
    );

    // --- Export and offline verification ----------------------------------
    let bundle = net.path("bundle.json");
    let out = ok(wb().args([
        "export",
        ROASTED_LINK,
        "--data-dir",
        &data,
        "--key",
        &s(&net.key("auditor")),
        "--out",
        &s(&bundle),
    ]));
    assert!(out.stdout.contains("exported 9 entries"), "{out}");
    // Only auditors export.
    fails(
        wb().args([
            "export",
            ROASTED,
            "--data-dir",
            &data,
            "--key",
            &s(&net.key("retailer")),
            "--out",
            &s(&net.path("retailer-bundle.json")),
        ]),
        &["not an active auditor"],
    );
    assert!(!net.path("retailer-bundle.json").exists());

    let verify_bundle = || {
        let mut c = wb();
        c.args(["verify-bundle", &s(&bundle), "--genesis", &s(&net.genesis)]);
        c
    };
    let out = ok(&mut verify_bundle());
    assert!(out.stdout.contains("VERIFIED"), "{out}");
    assert!(out.stdout.contains(name("auditor")), "{out}");
    assert!(out.stdout.contains(name("retailer")), "{out}");
    let jb = ok(verify_bundle().arg("--json")).json();
    assert_eq!(jb["ok"], Value::Bool(true), "{jb}");
    assert_eq!(jb["custodian"], name("retailer"), "{jb}");
    assert_eq!(
        jb["bundle"]["exporter"],
        Value::String(net.public_keys["auditor"].clone())
    );
    // A local ledger has no commit certificates.
    fails(
        verify_bundle().arg("--require-certificates"),
        &["certificates"],
    );

    // One changed byte anywhere breaks it.
    let original = std::fs::read(&bundle).expect("read bundle");
    let text = String::from_utf8(original.clone()).expect("the bundle is UTF-8");
    let len = text.len();
    let last_sig = text.rfind("\"signature\": \"").expect("bundle signature");
    let items = text.find("\"items\"").expect("trail items");
    let mut positions: Vec<(String, usize, Option<u8>)> = vec![
        ("first byte".into(), 0, None),
        ("indentation of line 2".into(), 2, None),
        (
            "the format name".into(),
            in_value(&text, "format", 0, 3),
            None,
        ),
        (
            "a hex digit of the chain id".into(),
            in_value(&text, "chain_id", 0, 17),
            None,
        ),
        (
            "a hex digit of the exporter key".into(),
            in_value(&text, "exporter", 0, 40),
            None,
        ),
        (
            "the lot description".into(),
            text.find("Green coffee").expect("description"),
            None,
        ),
        (
            "the quantity".into(),
            text.find("\"value\": \"600\"").expect("quantity") + 10,
            None,
        ),
        (
            "an entry's author".into(),
            in_value(&text, "author", items, 5),
            None,
        ),
        (
            "an entry's signature".into(),
            in_value(&text, "signature", items, 70),
            None,
        ),
        (
            "a hex digit of an entries_root hash".into(),
            in_value(&text, "entries_root", items, 31),
            None,
        ),
        (
            "a hex digit of a prev_hash".into(),
            in_value(&text, "prev_hash", items, 2),
            None,
        ),
        (
            "a payment term's commitment".into(),
            in_value(&text, "commitment", items, 9),
            None,
        ),
        ("a colon".into(), text.find(": ").expect("colon"), None),
        (
            "the middle of the bundle signature".into(),
            last_sig + "\"signature\": \"".len() + 64,
            None,
        ),
        ("the last byte".into(), len - 1, None),
        ("an invalid UTF-8 byte".into(), len / 3, Some(0xff)),
    ];
    // And evenly spread positions, whatever is there.
    for tenth in 1..10 {
        positions.push((format!("{tenth}/10 of the file"), len * tenth / 10, None));
    }
    // A hex digit of an inclusion proof (the last block holds two entries).
    let proof = text
        .find("\"proof\": [\n")
        .unwrap_or_else(|| panic!("no non-empty inclusion proof in the bundle:\n{text}"));
    let quote = proof + text[proof + 1..].find('\n').expect("line") + 1;
    let quote = quote + text[quote..].find('"').expect("proof hash");
    positions.push((
        "a hex digit of an inclusion proof".into(),
        quote + 1 + 9,
        None,
    ));
    assert!(positions.len() >= 12);
    let mut seen = Vec::new();
    for (what, at, replacement) in &positions {
        let mut bytes = original.clone();
        let new = replacement.unwrap_or_else(|| flip(bytes[*at]));
        assert_ne!(bytes[*at], new, "{what}: no change");
        bytes[*at] = new;
        std::fs::write(&bundle, &bytes).expect("write bundle");
        let out = fails(&mut verify_bundle(), BROKEN_NEEDLES);
        assert!(
            !out.stdout.contains("VERIFIED"),
            "{what} (byte {at}): a changed bundle verified:\n{out}"
        );
        seen.push(format!(
            "{what} (byte {at}, {:?} -> {:?}): {}",
            original[*at] as char,
            new as char,
            out.all().trim()
        ));
        std::fs::write(&bundle, &original).expect("restore bundle");
    }
    println!("{}", seen.join("\n"));
    // Restored, it verifies again.
    let out = ok(&mut verify_bundle());
    assert!(out.stdout.contains("VERIFIED"), "{out}");

    // --- Whole-ledger check and single entries -----------------------------
    let out = ok(wb().args(["ledger", "check", "--data-dir", &data]));
    assert!(
        out.stdout.starts_with("OK: 8 blocks and 9 entries"),
        "{out}"
    );
    for e in [&green, &dispatch, &roasted, &pay] {
        let out = ok(wb().args(["verify", &s(e), "--genesis", &s(&net.genesis)]));
        assert!(out.stdout.starts_with("VERIFIED"), "{}: {out}", e.display());
    }
}
