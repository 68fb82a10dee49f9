//! `waybill-node run` and `check` as processes: config, encrypted key,
//! ledger directory, the API answering, and clear errors.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;
use waybill_testnet::Conn;

const BIN: &str = env!("CARGO_BIN_EXE_waybill-node");

/// Kills the child it holds when dropped (also on a failed assertion).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory with genesis.toml, node.pem (encrypted with "pw"), a ledger
/// and node.toml listening on `port`.
fn setup(dir: &Path, port: u16) -> (Consortium, PathBuf) {
    let c = consortium();
    std::fs::write(dir.join("genesis.toml"), c.genesis.to_toml()).unwrap();
    let pem = waybill_keys::to_pem(&c.validator.key, Some("pw")).unwrap();
    std::fs::write(dir.join("node.pem"), pem.as_bytes()).unwrap();
    drop(waybill_store::create_dir(&dir.join("ledger"), c.genesis.clone()).unwrap());
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"ledger\"\ngenesis = \"genesis.toml\"\nkey = \"node.pem\"\n\n\
             [api]\nlisten = \"127.0.0.1:{port}\"\n\n[consensus]\ntimeout_propose_ms = 300\n"
        ),
    )
    .unwrap();
    (c, config)
}

fn run_to_end(args: &[&str], passphrase: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("WAYBILL_PASSPHRASE");
    if let Some(p) = passphrase {
        cmd.env("WAYBILL_PASSPHRASE", p);
    }
    cmd.output().unwrap()
}

#[test]
fn run_serves_the_api_and_check_verifies_after() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (c, config) = setup(dir.path(), port);
    let log = std::fs::File::create(dir.path().join("node.log")).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("WAYBILL_PASSPHRASE", "pw")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut node = Running(child);

    // One keep-alive connection (`waybill_testnet`'s loopback client).
    let mut client = Conn::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(r) = client.get("/v1/status") {
            break r.text();
        }
        if let Some(code) = node.0.try_wait().unwrap() {
            panic!(
                "the node exited with {code}:\n{}",
                std::fs::read_to_string(dir.path().join("node.log")).unwrap()
            );
        }
        assert!(Instant::now() < deadline, "the node did not answer in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["chain_id"], c.chain_id.to_hex());
    // A lone validator decides blocks by itself.
    assert!(status["height"].as_u64().is_some(), "{status}");

    let e = Signer::new(&c).produce(&c.producer, &lot("LOT-A"), 1_000, &[]);
    let r = client
        .post("/v1/entries", &serde_json::to_vec(&e).unwrap())
        .unwrap();
    assert_eq!(r.status, 202);
    // Consensus puts it in a block.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = client
            .get(&format!("/v1/entries/{}", e.id()))
            .unwrap()
            .text();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["status"] == "final" {
            assert!(v["height"].as_u64().unwrap_or(0) >= 1, "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the entry was not final in 30 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    drop(node);
    let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    assert!(
        log.contains("this node is validator `Validator One`"),
        "{log}"
    );
    assert!(log.contains("HTTP API on http://127.0.0.1:"), "{log}");

    // `check` re-verifies the certified chain once the node is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run_to_end(
            &[
                "check",
                "--data-dir",
                dir.path().join("ledger").to_str().unwrap(),
            ],
            None,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            assert!(
                stdout.starts_with("OK: chain waybill-node-tests"),
                "{stdout}"
            );
            // Every block the lone validator decided carries its certificate.
            let words: Vec<&str> = stdout.split_whitespace().collect();
            let blocks = words
                .iter()
                .position(|w| *w == "blocks")
                .and_then(|i| words.get(i.wrapping_sub(1)))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            assert!(blocks >= 1, "{stdout}");
            assert!(stdout.contains(" 1 entries"), "{stdout}");
            assert!(
                stdout.contains(&format!("; {blocks} blocks carry commit certificates")),
                "{stdout}"
            );
            break;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("in use") && Instant::now() < deadline,
            "{stderr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn run_explains_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = setup(dir.path(), free_port());
    let config = config.to_str().unwrap();

    let out = run_to_end(&["run", "--config", config], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set WAYBILL_PASSPHRASE"), "{stderr}");

    let out = run_to_end(&["run", "--config", config], Some("wrong"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "data_dir = \"ledger\"\ngenesis = \"genesis.toml\"\nkey = \"node.pem\"\n[mempool]\nmax_entrys = 5\n").unwrap();
    let out = run_to_end(&["run", "--config", bad.to_str().unwrap()], Some("pw"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `max_entrys`"), "{stderr}");

    let out = run_to_end(
        &[
            "run",
            "--config",
            dir.path().join("none.toml").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read config file"), "{stderr}");

    // A ledger of another chain.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut g = consortium().genesis;
    g.chain_name = "another-chain".into();
    drop(waybill_store::create_dir(&other.join("ledger"), g).unwrap());
    std::fs::copy(dir.path().join("genesis.toml"), other.join("genesis.toml")).unwrap();
    std::fs::copy(dir.path().join("node.pem"), other.join("node.pem")).unwrap();
    std::fs::copy(dir.path().join("node.toml"), other.join("node.toml")).unwrap();
    let out = run_to_end(
        &["run", "--config", other.join("node.toml").to_str().unwrap()],
        Some("pw"),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("point the config at the matching genesis"),
        "{stderr}"
    );
}

#[test]
fn check_takes_json() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = setup(dir.path(), free_port());
    let ledger_dir = dir.path().join("ledger");
    {
        let mut ledger = waybill_store::open_dir(&ledger_dir).unwrap();
        let e = Signer::new(&c).produce(&c.producer, &lot("LOT-A"), 1_000, &[]);
        let proposer = waybill_core::crypto::public_key(&c.validator.key);
        ledger.append_entries(vec![e], T0, proposer).unwrap();
    }

    let out = run_to_end(
        &[
            "check",
            "--data-dir",
            ledger_dir.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["chain_name"], "waybill-node-tests", "{v}");
    assert_eq!(v["chain_id"], c.chain_id.to_hex(), "{v}");
    assert_eq!(v["height"], 1, "{v}");
    assert_eq!(v["blocks"], 1, "{v}");
    assert_eq!(v["entries"], 1, "{v}");
    // Appended offline, so without a commit certificate.
    assert_eq!(v["certified_blocks"], 0, "{v}");
    assert_eq!(v["tip_hash"].as_str().map(str::len), Some(64), "{v}");
    assert_eq!(v["state_digest"].as_str().map(str::len), Some(64), "{v}");

    // A failure: JSON on stdout, the sentence on stderr, a non-zero exit.
    let missing = dir.path().join("missing");
    let out = run_to_end(
        &["check", "--data-dir", missing.to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("cannot check the ledger in"), "{v}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot check the ledger in"), "{stderr}");
}
