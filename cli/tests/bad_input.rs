//! Bad input to the `waybill` CLI: each case must fail with a clear message
//! and a non-zero exit, and leave the ledger directory exactly as it was
//! (see `Net::assert_unchanged` for how that is checked).

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use waybill_core::bundle::Bundle;

/// `ledger append` of these files must fail with one of `needles` and
/// write nothing.
fn append_fails(net: &Net, entries: &[&Path], needles: &[&str]) -> Out {
    net.assert_unchanged("a rejected `ledger append`", || {
        let out = fails(&mut net.append_cmd(entries), needles);
        // Entries the rules reject say that nothing was written
        // (unreadable files are refused before the ledger is touched).
        if out.stderr.contains(" rejected: ") {
            assert!(out.stderr.contains("nothing was written"), "{out}");
        }
        out
    })
}

/// A produce entry by `stem` for a lot with a free id (no GTIN).
fn produce_free_lot(net: &Net, stem: &str, nonce: u64, lot: &str, out: &str) -> std::path::PathBuf {
    net.record(
        stem,
        "produce",
        Nonce::Given(nonce),
        &[
            "--lot",
            lot,
            "--product",
            "Coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
        ],
        out,
    )
}

#[test]
fn malformed_json_entry_file() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    let cases: [(&str, &[u8]); 5] = [
        ("not-json.json", b"{ this is not json"),
        ("empty.json", b""),
        ("wrong-shape.json", b"{\"hello\": \"world\"}\n"),
        ("array.json", b"[1, 2, 3]\n"),
        ("binary.json", &[0xff, 0xfe, 0x00, 0x01, 0x7b]),
    ];
    for (file, bytes) in cases {
        let path = net.path(file);
        std::fs::write(&path, bytes).expect("write");
        let out = append_fails(&net, &[&path], &["not a valid signed entry"]);
        assert!(
            out.stderr.contains(file),
            "the message does not name the file:\n{out}"
        );
        fails(
            wb().args(["verify", &s(&path), "--genesis", &s(&net.genesis)]),
            &["not a valid signed entry"],
        );
    }
    // A file that does not exist.
    append_fails(
        &net,
        &[&net.path("missing.json")],
        &["cannot read entry file"],
    );
}

#[test]
fn entry_changed_after_signing() {
    let net = Net::new(bin(), &[]);
    let green = net.record(
        "cooperative",
        "produce",
        Nonce::Given(1),
        &[
            "--lot",
            GREEN,
            "--product",
            "Green coffee",
            "--quantity",
            "600",
            "--unit",
            "KGM",
        ],
        "green.json",
    );
    let text = std::fs::read_to_string(&green).expect("read");
    assert_eq!(text.matches("\"value\": \"600\"").count(), 1, "{text}");
    let edited = net.path("edited.json");
    std::fs::write(
        &edited,
        text.replace("\"value\": \"600\"", "\"value\": \"700\""),
    )
    .expect("write");
    let out = fails(
        wb().args(["verify", &s(&edited), "--genesis", &s(&net.genesis)]),
        &["signature"],
    );
    assert!(out.stdout.starts_with("FAILED"), "{out}");
    append_fails(&net, &[&edited], &["signature"]);
    // The signed original goes in.
    net.append(&[&green]);
}

#[test]
fn truncated_entry_file() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    let good = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--lot",
            GREEN,
            "--consignee",
            name("roaster"),
        ],
        "dispatch.json",
    );
    let bytes = std::fs::read(&good).expect("read");
    for keep in [bytes.len() / 2, bytes.len() - 3, 1] {
        let cut = net.path(&format!("truncated-{keep}.json"));
        std::fs::write(&cut, &bytes[..keep]).expect("write");
        append_fails(&net, &[&cut], &["not a valid signed entry"]);
        fails(
            wb().args(["verify", &s(&cut), "--genesis", &s(&net.genesis)]),
            &["not a valid signed entry"],
        );
    }
    // The whole file is fine.
    net.append(&[&good]);
}

#[test]
fn entry_signed_for_another_chain() {
    let net = Net::new(bin(), &[]);
    // A second chain with the same members.
    let other = net.path("other-genesis.toml");
    let out = ok(&mut genesis_init_cmd(
        bin(),
        net.dir.path(),
        "another-coffee-chain",
        &net.validator,
        &other,
    ));
    let other_id = out.stdout.trim().to_owned();
    assert_ne!(other_id, net.chain_id);

    let entry = net.path("other-chain.json");
    ok(wb().args([
        "record",
        "produce",
        "--genesis",
        &s(&other),
        "--key",
        &s(&net.key("cooperative")),
        "--nonce",
        "1",
        "--out",
        &s(&entry),
        "--lot",
        GREEN,
        "--product",
        "Green coffee",
        "--quantity",
        "600",
        "--unit",
        "KGM",
        "--country",
        "CO",
    ]));
    // It is fine on its own chain...
    ok(wb().args(["verify", &s(&entry), "--genesis", &s(&other)]));
    // ...but not on this one.
    let out = fails(
        wb().args(["verify", &s(&entry), "--genesis", &s(&net.genesis)]),
        &["is for chain"],
    );
    assert!(out.stdout.starts_with("FAILED"), "{out}");
    append_fails(&net, &[&entry], &["is for chain"]);
    // Reading the nonce from a ledger of another chain is refused too.
    net.assert_unchanged("record --data-dir with another chain's genesis", || {
        fails(
            wb().args([
                "record",
                "produce",
                "--genesis",
                &s(&other),
                "--key",
                &s(&net.key("cooperative")),
                "--data-dir",
                &s(&net.data),
                "--out",
                &s(&net.path("other-2.json")),
                "--lot",
                GREEN,
                "--product",
                "Green coffee",
                "--quantity",
                "600",
                "--unit",
                "KGM",
            ]),
            &["another chain"],
        );
    });
    assert!(!net.path("other-2.json").exists());
}

#[test]
fn unknown_author() {
    let net = Net::new(bin(), &[]);
    let stranger = net.path("stranger.pem");
    ok(wb().args(["key", "new", "--insecure-plaintext", "--out", &s(&stranger)]));
    let entry = net.path("stranger.json");
    ok(wb().args([
        "record",
        "produce",
        "--genesis",
        &s(&net.genesis),
        "--key",
        &s(&stranger),
        "--nonce",
        "1",
        "--out",
        &s(&entry),
        "--lot",
        "STRANGER-LOT-1",
        "--product",
        "Coffee",
        "--quantity",
        "1",
        "--unit",
        "KGM",
    ]));
    append_fails(&net, &[&entry], &["is not a member"]);
    // Exporting with a key that is not a member is refused too.
    net.produce_green(Nonce::Given(1));
    net.assert_unchanged("export with a stranger's key", || {
        fails(
            wb().args([
                "export",
                GREEN,
                "--data-dir",
                &s(&net.data),
                "--key",
                &s(&stranger),
                "--out",
                &s(&net.path("bundle.json")),
            ]),
            &["not a member"],
        );
    });
    assert!(!net.path("bundle.json").exists());
}

#[test]
fn author_without_the_role() {
    let net = Net::new(bin(), &[]);
    // The carrier may not produce.
    let entry = produce_free_lot(&net, "carrier", 1, "CARRIER-LOT-1", "carrier-produce.json");
    let out = append_fails(&net, &[&entry], &["may not record a produce entry"]);
    assert!(out.stderr.contains(name("carrier")), "{out}");
    assert!(out.stderr.contains("producer"), "{out}");
    // The auditor may not pay.
    net.produce_green(Nonce::Given(1));
    net.dispatch_sea(Nonce::FromLedger);
    let pay = net.record(
        "auditor",
        "pay",
        Nonce::Given(1),
        &[
            "--payee",
            name("cooperative"),
            "--amount",
            "100.00",
            "--currency",
            "EUR",
            "--incoterm",
            "FOB",
            "--shipment",
            SEA,
        ],
        "auditor-pay.json",
    );
    append_fails(&net, &[&pay], &["may not record a payment entry", "role"]);
    // The cooperative may not produce under the roaster's GS1 prefix.
    let foreign = net.record(
        "cooperative",
        "produce",
        Nonce::FromLedger,
        &[
            "--lot",
            ROASTED,
            "--product",
            "Roasted coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
        ],
        "foreign-gtin.json",
    );
    append_fails(&net, &[&foreign], &["company prefix"]);
}

#[test]
fn gs1_keys_of_another_member_are_refused_with_the_rule() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    // The cooperative labels its shipment with the roaster's SSCC.
    let entry = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            ROAD,
            "--lot",
            GREEN,
            "--consignee",
            name("retailer"),
        ],
        "foreign-sscc.json",
    );
    append_fails(
        &net,
        &[&entry],
        &[
            "SSCC 040612340000000026",
            name("cooperative"),
            "7709998",
            "but under prefix 4061234",
            name("roaster"),
            "free shipment id",
        ],
    );
    // Or names the roaster's dock as the destination of goods for the
    // retailer: the roaster is no party to the shipment.
    let entry = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--lot",
            GREEN,
            "--consignee",
            name("retailer"),
            "--to-gln",
            "4061234000002",
        ],
        "foreign-gln.json",
    );
    append_fails(
        &net,
        &[&entry],
        &[
            "GLN 4061234000002 (to)",
            name("roaster"),
            "4061234",
            "public port",
        ],
    );
    // Its own gate and the consignee's dock are fine.
    let entry = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--lot",
            GREEN,
            "--consignee",
            name("roaster"),
            "--from-gln",
            "7709998000001",
            "--to-gln",
            "4061234000002",
        ],
        "own-places.json",
    );
    net.append(&[&entry]);
}

#[test]
fn genesis_with_overlapping_prefixes() {
    let net = Net::new(bin(), &[]);
    // `genesis init` refuses a prefix inside another member's.
    let out_file = net.path("overlap-init.toml");
    let out = fails(
        wb().args([
            "genesis",
            "init",
            "--chain-name",
            "overlap",
            "--member",
            &format!(
                "name=Andes Coop,key={},roles=producer,prefix=7709998",
                net.public_keys["cooperative"]
            ),
            "--member",
            &format!(
                "name=Huila Traders,key={},roles=producer,prefix=4061234+77099981",
                net.public_keys["roaster"]
            ),
            "--validator",
            &format!("name=v1,key={}", net.validator),
            "--out",
            &s(&out_file),
        ]),
        &["Andes Coop", "Huila Traders", "7709998", "77099981"],
    );
    assert_eq!(out.code, Some(2), "{out}");
    assert!(!out_file.exists());
    // So does every command reading a hand-edited genesis where the
    // roaster takes a prefix inside the cooperative's.
    let text = std::fs::read_to_string(&net.genesis).expect("read genesis");
    let edited = text.replace("\"4061234\"", "\"77099985\"");
    assert_ne!(edited, text);
    let bad = net.path("overlap-genesis.toml");
    std::fs::write(&bad, edited).expect("write");
    for args in [vec!["genesis", "show"], vec!["genesis", "hash"]] {
        fails(
            wb().args(&args).arg(s(&bad)),
            &["77099985", "7709998", name("roaster"), name("cooperative")],
        );
    }
    let new_dir = net.path("overlap-ledger");
    fails(
        wb().args([
            "ledger",
            "init",
            "--data-dir",
            &s(&new_dir),
            "--genesis",
            &s(&bad),
        ]),
        &["77099985"],
    );
    assert!(!new_dir.exists(), "ledger init left {}", new_dir.display());
}

#[test]
fn replayed_nonce() {
    let net = Net::new(bin(), &[]);
    let green = net.produce_green(Nonce::Given(1));
    // The same entry again.
    let out = append_fails(&net, &[&green], &["already used"]);
    assert!(out.stderr.contains("the next nonce is 2"), "{out}");
    // Another entry with the used nonce.
    let again = produce_free_lot(&net, "cooperative", 1, "OTHER-LOT", "again.json");
    append_fails(&net, &[&again], &["already used"]);
    // The same entry twice in one block.
    let next = produce_free_lot(&net, "cooperative", 2, "NEXT-LOT", "next.json");
    append_fails(
        &net,
        &[&next, &next],
        &["already used", "twice", "duplicate"],
    );
    // A gap.
    let gap = produce_free_lot(&net, "cooperative", 5, "GAP-LOT", "gap.json");
    append_fails(&net, &[&gap], &["skips ahead"]);
    // The right nonce goes in.
    net.append(&[&next]);
}

#[test]
fn dispatch_of_a_lot_the_author_does_not_hold() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    // The roaster tries to ship the cooperative's lot.
    let entry = net.record(
        "roaster",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            ROAD,
            "--lot",
            GREEN,
            "--consignee",
            name("retailer"),
        ],
        "roaster-dispatch.json",
    );
    let out = append_fails(&net, &[&entry], &["does not hold"]);
    assert!(out.stderr.contains(name("cooperative")), "{out}");
    // A lot that does not exist.
    let entry = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--lot",
            "NO-SUCH-LOT",
            "--consignee",
            name("roaster"),
        ],
        "no-such-lot.json",
    );
    append_fails(&net, &[&entry], &["does not exist"]);
    // A lot in transit cannot be dispatched again.
    net.dispatch_sea(Nonce::FromLedger);
    let entry = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            ROAD,
            "--lot",
            GREEN,
            "--consignee",
            name("retailer"),
        ],
        "in-transit.json",
    );
    append_fails(&net, &[&entry], &["in transit", "does not hold"]);
}

#[test]
fn receive_by_someone_who_is_not_the_consignee() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    net.dispatch_sea(Nonce::FromLedger);
    let entry = net.record(
        "retailer",
        "receive",
        Nonce::FromLedger,
        &["--shipment", SEA],
        "retailer-receive.json",
    );
    let out = append_fails(&net, &[&entry], &["only its consignee"]);
    assert!(out.stderr.contains(name("roaster")), "{out}");
    // An unknown shipment.
    let entry = net.record(
        "roaster",
        "receive",
        Nonce::FromLedger,
        &["--shipment", ROAD],
        "unknown-shipment.json",
    );
    append_fails(&net, &[&entry], &["does not exist"]);
    // The consignee can; then nobody can receive it again.
    let rx = net.record_and_append(
        "roaster",
        "receive",
        Nonce::FromLedger,
        &["--shipment", SEA],
        "roaster-receive.json",
    );
    let carrier_rx = net.record(
        "carrier",
        "receive",
        Nonce::FromLedger,
        &["--shipment", SEA],
        "late-carrier.json",
    );
    append_fails(&net, &[&carrier_rx], &["already", "cannot"]);
    append_fails(&net, &[&rx], &["already used"]);
}

/// A payment by the roaster to the cooperative for the sea shipment.
fn pay_args(currency: &str) -> Vec<String> {
    [
        "--payee",
        name("cooperative"),
        "--amount",
        "10890.00",
        "--currency",
        currency,
        "--incoterm",
        "DDP",
        "--shipment",
        SEA,
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

#[test]
fn payment_in_an_unknown_currency() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    net.dispatch_sea(Nonce::FromLedger);

    // `record pay --currency XXY` refuses.
    let args = pay_args("XXY");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    net.assert_unchanged("record pay --currency XXY", || {
        fails(
            &mut net.record_cmd("roaster", "pay", Nonce::FromLedger, &args, "xxy.json"),
            &["XXY"],
        );
    });
    assert!(!net.path("xxy.json").exists());
    // So does an unknown settlement currency.
    let mut settle = pay_args("EUR");
    settle.extend(
        [
            "--settlement-amount",
            "12000.00",
            "--settlement-currency",
            "XXY",
            "--fx-rate",
            "1.101928",
        ]
        .map(String::from),
    );
    let settle: Vec<&str> = settle.iter().map(String::as_str).collect();
    fails(
        &mut net.record_cmd(
            "roaster",
            "pay",
            Nonce::Given(1),
            &settle,
            "xxy-settle.json",
        ),
        &["XXY"],
    );
    assert!(!net.path("xxy-settle.json").exists());

    // A good EUR payment: its terms are sealed, so the entry does not say
    // the currency; the terms file does.
    let args = pay_args("EUR");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let good = net.record("roaster", "pay", Nonce::Given(1), &args, "eur.json");
    let text = std::fs::read_to_string(&good).expect("read");
    assert!(!text.contains("EUR") && !text.contains("10890"), "{text}");
    let terms = net.path("eur.json.terms.json");
    let opened = std::fs::read_to_string(&terms).expect("read the terms");
    assert_eq!(opened.matches("\"value\": \"EUR\"").count(), 1, "{opened}");
    // Hand-edited to XXY, the terms no longer open the commitment.
    let edited = net.path("xxy-edited.terms.json");
    std::fs::write(
        &edited,
        opened.replace("\"value\": \"EUR\"", "\"value\": \"XXY\""),
    )
    .expect("write");
    fails(
        wb().args([
            "terms",
            "verify",
            "--terms",
            &s(&edited),
            "--payment",
            &s(&good),
        ]),
        &["currency", "does not match its commitment"],
    );
    // The payee will not confirm on them either.
    net.assert_unchanged("record confirm-payment with edited terms", || {
        fails(
            &mut net.record_cmd(
                "cooperative",
                "confirm-payment",
                Nonce::Given(2),
                &["--terms", &s(&edited), "--payment", &s(&good)],
                "confirm.json",
            ),
            &["does not match", "nothing was signed"],
        );
    });
    assert!(!net.path("confirm.json").exists());
    // The unedited entry and terms are fine.
    net.append(&[&good]);
    let out = ok(wb().args([
        "terms",
        "verify",
        "--terms",
        &s(&terms),
        "--data-dir",
        &s(&net.data),
    ]));
    assert!(out.stdout.contains("10890.00 EUR"), "{out}");
}

#[test]
fn bundle_with_an_entry_removed() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    net.dispatch_sea(Nonce::FromLedger);
    net.record_and_append(
        "carrier",
        "receive",
        Nonce::Given(1),
        &["--shipment", SEA],
        "carrier-receive.json",
    );
    let bundle = net.path("bundle.json");
    ok(wb().args([
        "export",
        GREEN,
        "--data-dir",
        &s(&net.data),
        "--key",
        &s(&net.key("auditor")),
        "--out",
        &s(&bundle),
    ]));
    let verify = |path: &Path| {
        let mut c = wb();
        c.args(["verify-bundle", &s(path), "--genesis", &s(&net.genesis)]);
        c
    };
    ok(&mut verify(&bundle));
    let text = std::fs::read_to_string(&bundle).expect("read bundle");
    // Parsed into the bundle's own type, edited and re-serialized pretty,
    // the text is canonical again (same field order), so only the
    // signature and the trail can catch the removal.
    let original: Bundle = serde_json::from_str(&text).expect("a bundle");
    assert_eq!(original.to_file_text(), text);
    let n = original.body.trail.items.len();
    assert_eq!(n, 3);
    for i in 0..n {
        let mut cut = original.clone();
        cut.body.trail.items.remove(i);
        let path = net.path(&format!("bundle-without-{i}.json"));
        std::fs::write(&path, cut.to_file_text()).expect("write");
        let out = fails(&mut verify(&path), &["signature"]);
        assert!(!out.stdout.contains("VERIFIED"), "{out}");
    }
    // Edited as generic JSON (keys re-ordered), it is refused as altered.
    let mut v = read_json(&bundle);
    v["body"]["trail"]["items"]
        .as_array_mut()
        .expect("items")
        .remove(1);
    let path = net.path("bundle-generic-edit.json");
    write_json(&path, &v);
    let out = fails(&mut verify(&path), &["altered", "signature"]);
    assert!(!out.stdout.contains("VERIFIED"), "{out}");
}

#[test]
fn genesis_with_a_duplicate_key() {
    let net = Net::new(bin(), &[]);
    // `genesis init` refuses two members with one key.
    let dup_out = net.path("dup-init.toml");
    fails(
        wb().args([
            "genesis",
            "init",
            "--chain-name",
            "dup",
            "--member",
            &format!("name=A,key={},roles=producer", s(&net.key("cooperative"))),
            "--member",
            &format!(
                "name=B,key={},roles=carrier",
                net.public_keys["cooperative"]
            ),
            "--validator",
            &format!("name=v1,key={}", net.validator),
            "--out",
            &s(&dup_out),
        ]),
        &["key"],
    );
    assert!(!dup_out.exists());

    // A hand-edited genesis: the roaster gets the cooperative's key.
    let text = std::fs::read_to_string(&net.genesis).expect("read genesis");
    let edited = text.replace(&net.public_keys["roaster"], &net.public_keys["cooperative"]);
    assert_ne!(edited, text);
    let dup = net.path("dup-genesis.toml");
    std::fs::write(&dup, edited).expect("write");
    for args in [
        vec!["genesis", "show"],
        vec!["genesis", "show", "--json"],
        vec!["genesis", "hash"],
    ] {
        let out = fails(wb().args(&args).arg(s(&dup)), &["key"]);
        assert!(out.all().contains(&s(&dup)), "{out}");
    }
    // `ledger init` creates nothing: neither a new directory...
    let new_dir = net.path("new-ledger");
    fails(
        wb().args([
            "ledger",
            "init",
            "--data-dir",
            &s(&new_dir),
            "--genesis",
            &s(&dup),
        ]),
        &["key"],
    );
    assert!(!new_dir.exists(), "ledger init left {}", new_dir.display());
    // ...nor anything in an empty one.
    let empty = net.path("empty-ledger");
    std::fs::create_dir(&empty).expect("mkdir");
    fails(
        wb().args([
            "ledger",
            "init",
            "--data-dir",
            &s(&empty),
            "--genesis",
            &s(&dup),
        ]),
        &["key"],
    );
    assert_eq!(
        DirListing::take(&empty).0.len(),
        0,
        "ledger init wrote files"
    );
    // A record signed against it is refused too.
    fails(
        wb().args([
            "record",
            "produce",
            "--genesis",
            &s(&dup),
            "--key",
            &s(&net.key("cooperative")),
            "--nonce",
            "1",
            "--lot",
            "X-1",
            "--product",
            "Coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
        ]),
        &["key"],
    );
}

#[test]
fn wrong_passphrase_on_an_encrypted_key() {
    let net = Net::new(bin(), &["roaster", "cooperative"]);
    let args = [
        "--lot",
        GREEN,
        "--product",
        "Green coffee",
        "--quantity",
        "600",
        "--unit",
        "KGM",
    ];
    for (pass, needles) in [
        ("not the passphrase", &["wrong passphrase"][..]),
        // An empty passphrase is refused without a prompt.
        ("", &["passphrase is required"][..]),
    ] {
        for nonce in [Nonce::Given(1), Nonce::FromLedger] {
            net.assert_unchanged("record with a wrong passphrase", || {
                let mut cmd = net.record_cmd("cooperative", "produce", nonce, &args, "wrong.json");
                cmd.env("WAYBILL_PASSPHRASE", pass);
                let out = fails(&mut cmd, needles);
                assert!(
                    out.stderr.contains(&s(&net.key("cooperative"))),
                    "the message does not name the key file:\n{out}"
                );
            });
            assert!(!net.path("wrong.json").exists());
        }
    }
    // The right passphrase works.
    net.produce_green(Nonce::Given(1));
    assert_eq!(net.height(), 1);
}

/// Every command that reads a ledger, pointed at `dir`.
fn ledger_commands(net: &Net, dir: &Path, entry: &Path) -> Vec<std::process::Command> {
    let d = s(dir);
    let mut cmds = Vec::new();
    let mut push = |args: Vec<String>| {
        let mut c = wb();
        c.args(args);
        cmds.push(c);
    };
    push(vec![
        "lookup".into(),
        ROASTED_LINK.into(),
        "--data-dir".into(),
        d.clone(),
    ]);
    push(vec![
        "lookup".into(),
        GREEN.into(),
        "--json".into(),
        "--data-dir".into(),
        d.clone(),
    ]);
    push(vec![
        "ledger".into(),
        "append".into(),
        "--data-dir".into(),
        d.clone(),
        s(entry),
    ]);
    push(vec![
        "ledger".into(),
        "status".into(),
        "--data-dir".into(),
        d.clone(),
    ]);
    push(vec![
        "ledger".into(),
        "check".into(),
        "--data-dir".into(),
        d.clone(),
    ]);
    push(vec![
        "trace-forward".into(),
        GREEN.into(),
        "--data-dir".into(),
        d.clone(),
    ]);
    push(vec![
        "export".into(),
        GREEN.into(),
        "--data-dir".into(),
        d.clone(),
        "--key".into(),
        s(&net.key("auditor")),
        "--out".into(),
        s(&net.path("never-bundle.json")),
    ]);
    push(vec![
        "record".into(),
        "produce".into(),
        "--genesis".into(),
        s(&net.genesis),
        "--key".into(),
        s(&net.key("cooperative")),
        "--data-dir".into(),
        d,
        "--out".into(),
        s(&net.path("never-entry.json")),
        "--lot".into(),
        "X-1".into(),
        "--product".into(),
        "Coffee".into(),
        "--quantity".into(),
        "1".into(),
        "--unit".into(),
        "KGM".into(),
    ]);
    cmds
}

#[test]
fn data_dir_that_is_not_a_ledger() {
    let net = Net::new(bin(), &[]);
    let entry = produce_free_lot(&net, "cooperative", 1, "X-1", "entry.json");

    let empty = net.path("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let unrelated = net.path("unrelated");
    std::fs::create_dir(&unrelated).expect("mkdir");
    std::fs::write(unrelated.join("notes.txt"), "shopping list: coffee\n").expect("write");
    // A directory with a stray `db` folder but no marker.
    let half = net.path("half");
    std::fs::create_dir_all(half.join("db")).expect("mkdir");

    for dir in [&empty, &unrelated, &half] {
        let before = DirListing::take(dir);
        for mut cmd in ledger_commands(&net, dir, &entry) {
            fails(&mut cmd, &["not a Waybill ledger"]);
            before.assert_same(&DirListing::take(dir), &format!("{cmd:?}"));
        }
        // `ledger init` refuses a directory with something in it.
        if dir != &empty {
            fails(
                wb().args([
                    "ledger",
                    "init",
                    "--data-dir",
                    &s(dir),
                    "--genesis",
                    &s(&net.genesis),
                ]),
                &["already contains data"],
            );
            before.assert_same(&DirListing::take(dir), "ledger init");
        }
    }
    // A directory that does not exist is not created.
    let missing = net.path("missing");
    for mut cmd in ledger_commands(&net, &missing, &entry) {
        fails(&mut cmd, &["not a Waybill ledger"]);
        assert!(!missing.exists(), "{cmd:?} created {}", missing.display());
    }
    assert!(!net.path("never-bundle.json").exists());
    assert!(!net.path("never-entry.json").exists());
    // A file where a directory should be.
    let file = net.path("a-file");
    std::fs::write(&file, "x").expect("write");
    for mut cmd in ledger_commands(&net, &file, &entry) {
        fails(&mut cmd, &["not a Waybill ledger"]);
    }
    assert_eq!(std::fs::read(&file).expect("read"), b"x");
}

#[test]
fn append_with_one_good_and_one_bad_entry_writes_nothing() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));
    let good = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromLedger,
        &[
            "--shipment",
            SEA,
            "--lot",
            GREEN,
            "--consignee",
            name("roaster"),
            "--carrier",
            name("carrier"),
        ],
        "good.json",
    );
    let bad = produce_free_lot(&net, "carrier", 1, "CARRIER-LOT", "bad.json");
    let malformed = net.path("malformed.json");
    std::fs::write(&malformed, "{").expect("write");
    assert_eq!(net.height(), 1);
    for (order, needles) in [
        (vec![&good, &bad], &["may not record a produce entry"][..]),
        (vec![&bad, &good], &["may not record a produce entry"][..]),
        (vec![&good, &malformed], &["not a valid signed entry"][..]),
    ] {
        let files: Vec<&Path> = order.iter().map(|p| p.as_path()).collect();
        let out = net.assert_unchanged("append of a good and a bad entry", || {
            fails(&mut net.append_cmd(&files), needles)
        });
        if needles[0].starts_with("may not") {
            assert!(
                out.stderr.contains("bad.json"),
                "the bad file is not named:\n{out}"
            );
            assert!(out.stderr.contains("still at height 1"), "{out}");
        }
        assert_eq!(net.height(), 1);
    }
    // A later entry that depends on an earlier one in the same block: the
    // carrier's receive needs the dispatch. Both go in together.
    let rx = net.record(
        "carrier",
        "receive",
        Nonce::Given(1),
        &["--shipment", SEA],
        "carrier-receive.json",
    );
    net.append(&[&good, &rx]);
    assert_eq!(net.height(), 2);
    let status = net.state().status;
    assert_eq!(status["shipments"], 1, "{status}");
}

/// A directory with a ledger marker but an empty `db/` (e.g. the store was
/// deleted): it is no usable ledger, and reading it must not create files.
#[test]
fn ledger_marker_without_a_store_is_left_alone() {
    let net = Net::new(bin(), &[]);
    let entry = produce_free_lot(&net, "cooperative", 1, "X-1", "entry.json");
    let broken = net.path("broken");
    std::fs::create_dir_all(broken.join("db")).expect("mkdir");
    std::fs::copy(
        net.data.join("WAYBILL-LEDGER"),
        broken.join("WAYBILL-LEDGER"),
    )
    .expect("copy the marker");
    let before = DirListing::take(&broken);
    for mut cmd in ledger_commands(&net, &broken, &entry) {
        fails(
            &mut cmd,
            &["not a Waybill ledger", "corrupt", "no format record"],
        );
        before.assert_same(&DirListing::take(&broken), &format!("{cmd:?}"));
    }
}

/// What is at a path before a writer runs, to check it is left alone.
#[derive(Debug, PartialEq)]
enum Occupant {
    File(Vec<u8>),
    Link(std::path::PathBuf),
}

fn occupant(path: &Path) -> Occupant {
    let meta = std::fs::symlink_metadata(path).expect("something is there");
    if meta.file_type().is_symlink() {
        Occupant::Link(std::fs::read_link(path).expect("read link"))
    } else {
        Occupant::File(std::fs::read(path).expect("read file"))
    }
}

/// One file-writing rule for the whole CLI: every command that writes a
/// file refuses a path where anything already is (a file, a symlink to a
/// file, a symlink to nowhere) and leaves it exactly as it was, unless
/// `--force` is given, which replaces it (a symlink itself, not its target).
#[test]
fn writers_refuse_an_existing_path_unless_forced() {
    let net = Net::new(bin(), &[]);
    net.produce_green(Nonce::Given(1));

    // Each writer, as a command writing to `out`.
    type Writer<'a> = (
        &'static str,
        Box<dyn Fn(&Path) -> std::process::Command + 'a>,
    );
    let writers: Vec<Writer> = vec![
        (
            "key new",
            Box::new(|out: &Path| {
                let mut c = wb();
                c.args(["key", "new", "--insecure-plaintext", "--out", &s(out)]);
                c
            }),
        ),
        (
            "genesis init",
            Box::new(|out: &Path| {
                genesis_init_cmd(bin(), net.dir.path(), "another", &net.validator, out)
            }),
        ),
        (
            "record",
            Box::new(|out: &Path| {
                net.record_cmd(
                    "cooperative",
                    "produce",
                    Nonce::Given(2),
                    &[
                        "--lot",
                        "LOT-W",
                        "--product",
                        "Coffee",
                        "--quantity",
                        "1",
                        "--unit",
                        "KGM",
                    ],
                    &s(out),
                )
            }),
        ),
        (
            "export",
            Box::new(|out: &Path| {
                let mut c = wb();
                c.args([
                    "export",
                    GREEN,
                    "--data-dir",
                    &s(&net.data),
                    "-k",
                    &s(&net.key("auditor")),
                    "-o",
                    &s(out),
                ]);
                c
            }),
        ),
    ];

    let target = net.path("target.txt");
    std::fs::write(&target, "the target").expect("write");
    for (name, writer) in &writers {
        let file = net.path(&format!("{}-file.out", name.replace(' ', "-")));
        std::fs::write(&file, "keep me").expect("write");
        let link = net.path(&format!("{}-link.out", name.replace(' ', "-")));
        let dangling = net.path(&format!("{}-dangling.out", name.replace(' ', "-")));
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        std::os::unix::fs::symlink(net.path("nowhere"), &dangling).expect("symlink");
        for path in [&file, &link, &dangling] {
            let before = occupant(path);
            let out = fails(&mut writer(path), &["already exists", "--force"]);
            assert!(out.stderr.contains(&s(path)), "{name}: no path in:\n{out}");
            assert_eq!(occupant(path), before, "{name} changed {}", path.display());
        }
        assert_eq!(std::fs::read(&target).expect("read"), b"the target");

        // With --force the file is replaced, and a symlink by a file.
        for path in [&file, &link] {
            ok(writer(path).arg("--force"));
            let Occupant::File(bytes) = occupant(path) else {
                panic!("{name} --force left a symlink at {}", path.display());
            };
            assert_ne!(bytes, b"keep me", "{name} --force wrote nothing");
        }
        assert_eq!(
            std::fs::read(&target).expect("read"),
            b"the target",
            "{name} --force wrote through the symlink"
        );
    }
}

/// A refused write is refused before anything is asked: `record --out` to
/// an existing file with an encrypted key and no passphrase says the file
/// exists, not that the passphrase is missing.
#[test]
fn record_refuses_an_existing_out_before_asking_for_a_passphrase() {
    let net = Net::new(bin(), &["cooperative"]);
    let existing = net.path("existing.json");
    std::fs::write(&existing, "keep me").expect("write");
    let out = fails(
        net.wb().args([
            "record",
            "produce",
            "--genesis",
            &s(&net.genesis),
            "--key",
            &s(&net.key("cooperative")),
            "--nonce",
            "1",
            "--lot",
            "LOT-P",
            "--product",
            "Coffee",
            "--quantity",
            "1",
            "--unit",
            "KGM",
            "--out",
            &s(&existing),
        ]),
        &["already exists", "--force"],
    );
    assert!(!out.stderr.contains("passphrase"), "{out}");
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
}
