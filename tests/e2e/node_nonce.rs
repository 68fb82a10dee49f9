//! Nonces from a node: `waybill record --node URL` and `waybill nonce`
//! against a real `waybill-node`, a lone validator on the genesis of the
//! CLI's world (`waybill_testkit::cli::Net`). Entries recorded and
//! submitted one after another take consecutive nonces from the node
//! alone; a key the node does not know gets nothing signed.

use std::path::Path;
use std::time::Duration;

use waybill_core::genesis::Genesis;
use waybill_testkit::cli::*;
use waybill_testkit::process::{fails, ok};
use waybill_testnet::{self as testnet, Cluster};

use crate::support::{self, wb};

/// Short, so entries are final quickly.
const BLOCK_INTERVAL_MS: u64 = 150;

/// The CLI's world (keys, genesis; the roaster's key encrypted) with a
/// lone validator node running on its genesis. The node is killed when
/// this is dropped; a failing test prints the tail of its log.
struct World {
    net: Net,
    cluster: Cluster,
    /// The node's API URL.
    url: String,
}

impl World {
    fn start() -> World {
        World::start_with(|_, _| {})
    }

    /// [`World::start`], serving the API over TLS with a fresh
    /// self-signed certificate for 127.0.0.1; also its PEM file.
    fn start_tls() -> (World, std::path::PathBuf) {
        let mut ca = None;
        let w = World::start_with(|dir, config| {
            let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])
                .expect("a certificate");
            let cert = dir.join("api-cert.pem");
            std::fs::write(&cert, c.cert.pem()).expect("write the certificate");
            std::fs::write(dir.join("api-key.pem"), c.key_pair.serialize_pem())
                .expect("write the key");
            let text = std::fs::read_to_string(config).expect("read node.toml");
            let text = text.replacen(
                "[api]\n",
                &format!(
                    "[api]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                    cert.display(),
                    dir.join("api-key.pem").display()
                ),
                1,
            );
            assert!(text.contains("tls_cert"), "no [api] section: {text}");
            std::fs::write(config, text).expect("write node.toml");
            ca = Some(cert);
        });
        let ca = ca.expect("the certificate");
        (w, ca)
    }

    fn start_with(configure: impl FnOnce(&Path, &Path)) -> World {
        let net = Net::new(&support::waybill(), &["roaster"]);
        let text = std::fs::read_to_string(&net.genesis).expect("read the genesis");
        let genesis = Genesis::from_toml(&text).expect("the CLI's genesis");
        let pem = std::fs::read_to_string(net.path("validator.pem")).expect("read validator.pem");
        let key = waybill_keys::from_pem(&pem, || Err(waybill_keys::KeyError::PassphraseRequired))
            .expect("the validator key is plaintext");
        let nodes = testnet::from_genesis(&net.path("node"), genesis, &[key], BLOCK_INTERVAL_MS)
            .unwrap_or_else(|e| panic!("cannot write the node's files: {e}"));
        configure(&net.path("node"), &nodes.nodes[0].config);
        let mut cluster = Cluster::new(nodes, &support::waybill_node());
        cluster
            .start("v1")
            .unwrap_or_else(|e| panic!("cannot start the node: {e}"));
        let api = cluster.node("v1").expect("node v1").api;
        World {
            net,
            cluster,
            url: format!("http://{api}"),
        }
    }

    /// Waits until the node answers its API.
    fn wait_up(&mut self) {
        self.cluster
            .wait_height("v1", 0, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.cluster.log("v1");
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "----- last {} lines of the node's log -----\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// The nonce inside a signed entry file.
fn nonce_of(path: &Path) -> u64 {
    read_json(path)["entry"]["nonce"]
        .as_u64()
        .unwrap_or_else(|| panic!("{} has no entry.nonce", path.display()))
}

#[test]
fn record_takes_consecutive_nonces_from_the_node() {
    let mut w = World::start();
    w.wait_up();
    let (net, url) = (&w.net, w.url.as_str());
    let dispatch_sea = [
        "--shipment",
        SEA,
        "--lot",
        GREEN,
        "--consignee",
        name("roaster"),
        "--to-country",
        "DE",
    ];

    // Two entries in a row, each submitted before the next is recorded:
    // the node gives the second the nonce after the first, which waits in
    // its mempool (or is in a block already).
    let out = ok(&mut net.record_cmd(
        "cooperative",
        "produce",
        Nonce::FromNode(url),
        PRODUCE_GREEN_ARGS,
        "produce.json",
    ));
    assert!(
        out.stderr.contains(&format!(
            "(nonce 1, from the node at {url}: 0 committed, 0 waiting"
        )),
        "{out}"
    );
    let produce = net.path("produce.json");
    assert_eq!(nonce_of(&produce), 1);
    let out = ok(wb().args(["submit", &s(&produce), "--node", url]));
    assert!(out.stdout.contains("accepted"), "{out}");

    let dispatch = net.record(
        "cooperative",
        "dispatch",
        Nonce::FromNode(url),
        &dispatch_sea,
        "dispatch.json",
    );
    assert_eq!(
        nonce_of(&dispatch),
        2,
        "the node did not count the first entry"
    );
    let out = ok(wb().args(["submit", &s(&dispatch), "--node", url, "--wait"]));
    assert!(out.stdout.contains("final"), "{out}");

    // Both are on the ledger, with consecutive nonces.
    let j = ok(wb().args([
        "submit",
        &s(&produce),
        &s(&dispatch),
        "--node",
        url,
        "--wait",
        "--json",
    ]))
    .json();
    let statuses: Vec<&str> = j["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["final", "final"], "{j}");

    // `waybill nonce`: the number alone on stdout, from a key file or a
    // public key, and the whole answer with --json.
    let cooperative = s(&net.key("cooperative"));
    let out = ok(wb().args(["nonce", "-k", &cooperative, "--node", url]));
    assert_eq!(out.stdout, "3\n", "{out}");
    assert!(out.stderr.contains(name("cooperative")), "{out}");
    let j = ok(wb().args([
        "nonce",
        "-k",
        &net.public_keys["cooperative"],
        "--node",
        url,
        "--json",
    ]))
    .json();
    assert_eq!(j["next_nonce"], 3, "{j}");
    assert_eq!(j["committed_nonce"], 2, "{j}");
    assert_eq!(j["pending"], 0, "{j}");
    assert_eq!(j["member"], name("cooperative"), "{j}");
    assert_eq!(j["chain_id"], net.chain_id.as_str(), "{j}");

    // Another author, with an encrypted key, starts at 1.
    let out = ok(wb().args(["nonce", "-k", &net.public_keys["roaster"], "--node", url]));
    assert_eq!(out.stdout, "1\n", "{out}");
    let receive = net.record(
        "roaster",
        "receive",
        Nonce::FromNode(url),
        &["--shipment", SEA, "--country", "DE"],
        "receive.json",
    );
    assert_eq!(nonce_of(&receive), 1);
    ok(wb().args(["submit", &s(&receive), "--node", url, "--wait"]));
    let out = ok(wb().args(["nonce", "-k", &net.public_keys["roaster"], "--node", url]));
    assert_eq!(out.stdout, "2\n", "{out}");
}

#[test]
fn a_key_the_node_does_not_know_gets_nothing_signed() {
    let mut w = World::start();
    let (net, url) = (&w.net, w.url.clone());
    // A key outside the genesis.
    let stranger = net.path("stranger.pem");
    let out = ok(wb().args(["key", "new", "--insecure-plaintext", "--out", &s(&stranger)]));
    let stranger_hex = out.stdout.trim().to_owned();
    w.wait_up();
    let net = &w.net;

    let out_file = net.path("never.json");
    let mut record = wb();
    record
        .args([
            "record",
            "produce",
            "-g",
            &s(&net.genesis),
            "-k",
            &s(&stranger),
        ])
        .args(["--node", &url, "-o", &s(&out_file)])
        .args(PRODUCE_GREEN_ARGS);
    let out = fails(
        &mut record,
        &["does not know key", "is not a member of this chain"],
    );
    assert!(out.stderr.contains(&url), "{out}");
    assert!(out.stderr.contains("nothing was signed"), "{out}");
    assert!(!out_file.exists(), "a file was written:\n{out}");
    fails(
        wb().args(["nonce", "-k", &stranger_hex, "--node", &url]),
        &["is not a member of this chain"],
    );
}

/// The API over TLS (`api.tls_cert`, `api.tls_key`): the CLI reaches an
/// `https://` node whose certificate it trusts through WAYBILL_CA_CERT,
/// refuses one it does not trust (saying how to trust it), and plain
/// HTTP to the TLS port gets no answer.
#[test]
fn the_cli_talks_to_a_node_over_tls() {
    let (world, ca) = World::start_tls();
    let https = world.url.replacen("http://", "https://", 1);
    let nonce = |extra: &[(&str, &std::path::Path)]| {
        let mut c = wb();
        c.args([
            "nonce",
            "-k",
            &world.net.public_keys["cooperative"],
            "--node",
            &https,
        ]);
        c.env_remove("WAYBILL_CA_CERT");
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };
    // Up when it answers over TLS.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let out = loop {
        let out = waybill_testkit::process::run(&mut nonce(&[("WAYBILL_CA_CERT", &ca)]));
        if out.code == Some(0) || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout, "1\n", "{out}");

    // Without the CA, the system's roots do not vouch for the node.
    let out = fails(&mut nonce(&[]), &["certificate"]);
    assert!(out.stderr.contains("WAYBILL_CA_CERT"), "{out}");
    // Plain HTTP to the TLS port.
    fails(
        wb().args([
            "nonce",
            "-k",
            &world.net.public_keys["cooperative"],
            "--node",
            &world.url,
        ]),
        &["node"],
    );
}

/// A document's salts kept on the node: the author puts them there, an
/// auditor fetches them with a signed request and checks the document
/// against the ledger's salted digest, another member gets nothing, and
/// after the author erases them they are gone.
#[test]
fn document_salts_are_kept_on_the_node_for_the_author_and_auditors() {
    let mut w = World::start();
    w.wait_up();
    let (net, url) = (&w.net, w.url.as_str());
    let bl = net.path("bill-of-lading.pdf");
    std::fs::write(&bl, b"%PDF-1.7 B/L AOL-BUN-RTM-0912").expect("write");
    let produce = net.record(
        "cooperative",
        "produce",
        Nonce::FromNode(url),
        &[
            PRODUCE_GREEN_ARGS,
            &["--document", &format!("{}:Bill of lading", s(&bl))],
        ]
        .concat(),
        "produce.json",
    );
    ok(wb().args(["submit", &s(&produce), "--node", url, "--wait"]));
    let salts = net.path("produce.json.salts.json");
    let put = |who: &str| {
        let mut c = wb();
        c.args([
            "document",
            "put",
            "--salts",
            &s(&salts),
            "--entry",
            &s(&produce),
        ]);
        c.args([
            "--node",
            url,
            "-k",
            &s(&net.key(who)),
            "-g",
            &s(&net.genesis),
        ]);
        c
    };
    // Only the author keeps them there.
    fails(&mut put("carrier"), &["403", "only the entry's author"]);
    let out = ok(&mut put("cooperative"));
    assert!(
        out.stdout.contains("keeps the salts of 1 document(s)"),
        "{out}"
    );

    let entry: waybill_core::entry::SignedEntry =
        serde_json::from_value(read_json(&produce)).expect("an entry file");
    let id = entry.id().to_hex();
    let get = |who: &str, out: &Path| {
        let mut c = wb();
        c.args(["document", "get", &id, "-o", &s(out)]);
        c.args([
            "--node",
            url,
            "-k",
            &s(&net.key(who)),
            "-g",
            &s(&net.genesis),
        ]);
        c
    };
    let fetched = net.path("fetched.salts.json");
    let out = ok(&mut get("auditor", &fetched));
    assert!(out.stdout.contains("Bill of lading"), "{out}");
    let out = ok(wb().args(["document", "check", &s(&bl), "--salts", &s(&fetched)]));
    assert!(out.stdout.starts_with("MATCH"), "{out}");
    // Another member that is no auditor gets nothing.
    let never = net.path("never.salts.json");
    fails(&mut get("carrier", &never), &["403"]);
    assert!(!never.exists());
    // Erased: gone for everyone; the entry stays final on the ledger.
    let mut erase = wb();
    erase.args(["document", "erase", &id]);
    erase.args([
        "--node",
        url,
        "-k",
        &s(&net.key("cooperative")),
        "-g",
        &s(&net.genesis),
    ]);
    let out = ok(&mut erase);
    assert!(out.stdout.contains("forgot"), "{out}");
    fails(
        &mut get("auditor", &never),
        &["404", "keeps no document salts"],
    );
    let out = ok(wb().args(["submit", &s(&produce), "--node", url, "--wait"]));
    assert!(out.stdout.contains("final"), "{out}");
}
