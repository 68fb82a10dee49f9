//! The `waybill` CLI's world for tests that run it as separate processes:
//! an example consortium (the coffee story's members) with keys, a genesis
//! and a local ledger made through the CLI in one temp dir ([`Net`]), the
//! coffee ids as the CLI tests write them, and small helpers. Every
//! command runs the `waybill` binary the test names (its path), through
//! [`crate::process`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::coffee::MEMBERS;
use crate::files::DirListing;
use crate::process::{ok, Out};

/// `waybill record produce` arguments for the coffee story's green lot
/// (600 KGM from a farm in Colombia), without signing options.
pub const PRODUCE_GREEN_ARGS: &[&str] = &[
    "--lot",
    GREEN,
    "--product",
    "Green coffee, washed arabica",
    "--quantity",
    "600",
    "--unit",
    "KGM",
    "--country",
    "CO",
    "--place",
    "Finca La Esperanza, Pitalito",
];
/// The passphrase of the encrypted keys.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The green coffee lot.
pub const GREEN: &str = "(01)07709998000018(10)LOT1";
/// The roasted coffee lot.
pub const ROASTED: &str = "(01)04061234000026(10)R1";
/// The roasted lot as a GS1 Digital Link URI.
pub const ROASTED_LINK: &str = "https://id.gs1.org/01/04061234000026/10/R1";
/// The sea shipment (cooperative -> roaster, by the carrier).
pub const SEA: &str = "(00)077099980000000018";
/// The road shipment (roaster -> retailer).
pub const ROAD: &str = "(00)040612340000000026";

/// The genesis name of the member with this key file stem.
pub fn name(stem: &str) -> &'static str {
    crate::coffee::member(stem)
        .unwrap_or_else(|e| panic!("{e}"))
        .name
}

/// A path as a command-line argument (temp paths are UTF-8).
pub fn s(p: &Path) -> String {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
        .to_owned()
}

/// A fresh process of the `waybill` binary `bin`, with no passphrase in
/// its environment (run it with [`crate::process`]: a time limit keeps a
/// stray passphrase prompt from hanging the test run), and its state (the
/// last checkpoint seen of each chain) in the build tree's scratch
/// directory (`target/tmp`) rather than the user's: every test chain has
/// its own id, so tests do not see each other's.
pub fn waybill(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("WAYBILL_PASSPHRASE");
    let target = bin
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    c.env(
        "WAYBILL_STATE_DIR",
        target.join("tmp").join("waybill-state"),
    );
    c
}

/// How a `record` command gets its nonce.
#[derive(Clone, Copy, Debug)]
pub enum Nonce<'a> {
    /// `--nonce N`.
    Given(u64),
    /// `--data-dir DIR`: read from the ledger.
    FromLedger,
    /// `--node URL`: asked of the node with this API URL.
    FromNode(&'a str),
}

/// The logical state of a ledger as the CLI reports it.
#[derive(Debug, PartialEq)]
pub struct LedgerState {
    /// `ledger status --json`.
    pub status: Value,
    /// `ledger check --json`.
    pub check: Value,
}

/// An example consortium: keys, genesis and a local ledger in one temp dir.
pub struct Net {
    /// The `waybill` binary every command runs.
    pub bin: PathBuf,
    /// Everything lives here.
    pub dir: TempDir,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The ledger directory.
    pub data: PathBuf,
    /// Stems of the members whose keys are encrypted with [`PASSPHRASE`].
    pub encrypted: Vec<&'static str>,
    /// Public keys (hex) by stem, as `key new` printed them.
    pub public_keys: BTreeMap<&'static str, String>,
    /// The validator's public key (hex).
    pub validator: String,
    /// The chain id `genesis init` printed.
    pub chain_id: String,
}

impl Net {
    /// Makes the keys (those in `encrypted` with a passphrase), the genesis
    /// and an empty ledger, all through the CLI (the binary `bin`).
    pub fn new(bin: &Path, encrypted: &[&'static str]) -> Net {
        let wb = || waybill(bin);
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let mut public_keys = BTreeMap::new();
        for m in MEMBERS {
            let key = root.join(format!("{}.pem", m.stem));
            let mut cmd = wb();
            cmd.args(["key", "new", "--out", &s(&key)]);
            if encrypted.contains(&m.stem) {
                cmd.env("WAYBILL_PASSPHRASE", PASSPHRASE);
            } else {
                cmd.arg("--insecure-plaintext");
            }
            let out = ok(&mut cmd);
            let hex = out.stdout.trim().to_owned();
            assert!(is_hex64(&hex), "`key new` printed no public key:\n{out}");
            public_keys.insert(m.stem, hex);
        }
        let validator_key = root.join("validator.pem");
        let out = ok(wb().args([
            "key",
            "new",
            "--insecure-plaintext",
            "--out",
            &s(&validator_key),
        ]));
        let validator = out.stdout.trim().to_owned();
        assert!(is_hex64(&validator), "{out}");

        let genesis = root.join("genesis.toml");
        let mut cmd = genesis_init_cmd(bin, &root, crate::coffee::CHAIN_NAME, &validator, &genesis);
        // key=FILE of an encrypted key needs its passphrase.
        cmd.env("WAYBILL_PASSPHRASE", PASSPHRASE);
        let out = ok(&mut cmd);
        let chain_id = out.stdout.trim().to_owned();
        assert!(
            is_hex64(&chain_id),
            "`genesis init` printed no chain id:\n{out}"
        );

        let data = root.join("data");
        let out = ok(wb().args([
            "ledger",
            "init",
            "--data-dir",
            &s(&data),
            "--genesis",
            &s(&genesis),
        ]));
        assert!(out.stdout.contains(&chain_id), "{out}");
        Net {
            bin: bin.to_path_buf(),
            dir,
            genesis,
            data,
            encrypted: encrypted.to_vec(),
            public_keys,
            validator,
            chain_id,
        }
    }

    /// A fresh `waybill` process ([`waybill`]).
    pub fn wb(&self) -> Command {
        waybill(&self.bin)
    }

    /// A path in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A member's key file.
    pub fn key(&self, stem: &str) -> PathBuf {
        self.path(&format!("{stem}.pem"))
    }

    /// A `waybill` command that may read `stem`'s key (with the passphrase
    /// set when that key is encrypted).
    pub fn wb_as(&self, stem: &str) -> Command {
        let mut c = self.wb();
        if self.encrypted.contains(&stem) {
            c.env("WAYBILL_PASSPHRASE", PASSPHRASE);
        }
        c
    }

    /// The `record KIND` command for `stem`, writing to `out` in the temp dir
    /// (not run).
    pub fn record_cmd(
        &self,
        stem: &str,
        kind: &str,
        nonce: Nonce<'_>,
        args: &[&str],
        out: &str,
    ) -> Command {
        let mut c = self.wb_as(stem);
        c.args([
            "record",
            kind,
            "--genesis",
            &s(&self.genesis),
            "--key",
            &s(&self.key(stem)),
            "--out",
            &s(&self.path(out)),
        ]);
        match nonce {
            Nonce::Given(n) => c.args(["--nonce", &n.to_string()]),
            Nonce::FromLedger => c.args(["--data-dir", &s(&self.data)]),
            Nonce::FromNode(url) => c.args(["--node", url]),
        };
        c.args(args);
        c
    }

    /// Signs an entry (must succeed) and returns its file.
    pub fn record(
        &self,
        stem: &str,
        kind: &str,
        nonce: Nonce<'_>,
        args: &[&str],
        out: &str,
    ) -> PathBuf {
        ok(&mut self.record_cmd(stem, kind, nonce, args, out));
        let path = self.path(out);
        assert!(path.is_file(), "{} was not written", path.display());
        path
    }

    /// The `ledger append` command for these entry files (not run).
    pub fn append_cmd(&self, entries: &[&Path]) -> Command {
        let mut c = self.wb();
        c.args(["ledger", "append", "--data-dir", &s(&self.data)]);
        for e in entries {
            c.arg(s(e));
        }
        c
    }

    /// Appends entries as one block (must succeed).
    pub fn append(&self, entries: &[&Path]) -> Out {
        let out = ok(&mut self.append_cmd(entries));
        assert!(out.stdout.contains("sealed block"), "{out}");
        out
    }

    /// Signs one entry and appends it.
    pub fn record_and_append(
        &self,
        stem: &str,
        kind: &str,
        nonce: Nonce<'_>,
        args: &[&str],
        out: &str,
    ) -> PathBuf {
        let path = self.record(stem, kind, nonce, args, out);
        self.append(&[&path]);
        path
    }

    /// `ledger status --json` and `ledger check --json` (both must succeed).
    pub fn state(&self) -> LedgerState {
        let status =
            ok(self
                .wb()
                .args(["ledger", "status", "--json", "--data-dir", &s(&self.data)]))
            .json();
        let check = ok(self
            .wb()
            .args(["ledger", "check", "--json", "--data-dir", &s(&self.data)]))
        .json();
        assert_eq!(check["ok"], Value::Bool(true), "{check}");
        LedgerState { status, check }
    }

    /// The ledger height.
    pub fn height(&self) -> u64 {
        self.state().status["height"]
            .as_u64()
            .expect("status has a height")
    }

    /// Runs `f` (which is expected to fail) and checks that the ledger
    /// directory is exactly as it was.
    ///
    /// sled rewrites its own files (`db/db`, `db/snap.*`) the first time a
    /// ledger is opened after a write, even by a read-only command. So the
    /// ledger is first opened read-only (`ledger status` and `ledger check`,
    /// which also give the logical state); after that, opening it again
    /// leaves every byte alone, and the whole tree — sled's files included —
    /// is compared byte for byte. The logical state (height, tip, counts,
    /// state digest) is compared as well.
    pub fn assert_unchanged<T>(&self, context: &str, f: impl FnOnce() -> T) -> T {
        let before_state = self.state();
        let before = DirListing::take(&self.data);
        let result = f();
        let after = DirListing::take(&self.data);
        before.assert_same(&after, context);
        let after_state = self.state();
        assert_eq!(
            before_state, after_state,
            "{context}: the ledger's state changed"
        );
        result
    }

    // The coffee story's steps, for tests that need a lot or a shipment.

    /// The cooperative produces the green lot (600 KGM, origin CO).
    pub fn produce_green(&self, nonce: Nonce<'_>) -> PathBuf {
        self.record_and_append(
            "cooperative",
            "produce",
            nonce,
            PRODUCE_GREEN_ARGS,
            "produce-green.json",
        )
    }

    /// The cooperative dispatches the green lot by sea to the roaster with
    /// the carrier.
    pub fn dispatch_sea(&self, nonce: Nonce<'_>) -> PathBuf {
        self.record_and_append(
            "cooperative",
            "dispatch",
            nonce,
            &[
                "--shipment",
                SEA,
                "--lot",
                GREEN,
                "--consignee",
                name("roaster"),
                "--carrier",
                name("carrier"),
                "--from-country",
                "CO",
                "--from-place",
                "Port of Buenaventura",
                "--to-country",
                "DE",
                "--to-place",
                "Port of Hamburg",
            ],
            "dispatch-sea.json",
        )
    }
}

/// `genesis init` for the example consortium by the binary `bin`, with the
/// members' keys given as the key files in `root` (not run). Set the
/// passphrase if one is encrypted.
pub fn genesis_init_cmd(
    bin: &Path,
    root: &Path,
    chain_name: &str,
    validator: &str,
    out: &Path,
) -> Command {
    let mut cmd = waybill(bin);
    cmd.args(["genesis", "init", "--chain-name", chain_name]);
    for m in MEMBERS {
        let mut spec = format!(
            "name={},key={},roles={},country={}",
            m.name,
            s(&root.join(format!("{}.pem", m.stem))),
            m.roles_arg(),
            m.country
        );
        if let Some(p) = m.prefix {
            spec.push_str(&format!(",prefix={p}"));
        }
        cmd.args(["--member", &spec]);
    }
    cmd.args([
        "--validator",
        &format!("name=v1,key={validator}"),
        "--out",
        &s(out),
    ]);
    cmd
}

/// Is `s` 64 lower-case hex digits?
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
