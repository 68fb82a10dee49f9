//! `waybill`: the command-line client of the Waybill ledger.
//!
//! Makes keys and genesis files, signs entries, keeps a local ledger,
//! looks up a lot's verified origin and custody, exports signed audit
//! bundles and verifies them offline with only the genesis file.

#![forbid(unsafe_code)]

mod audit_cmd;
mod checkpoint_cmd;
mod demo;
mod document_cmd;
mod forward;
mod ledger_cmd;
mod node_client;
mod node_cmd;
mod record;
mod report;
mod seen;
mod terms_cmd;
mod util;
mod verify_export;

use waybill_keys as keys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use waybill_core::codes::Country;
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{
    ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::CompanyPrefix;

/// Waybill: a permissioned supply-chain traceability ledger.
///
/// Start with `waybill demo` to see the whole flow: a coffee lot from a
/// Colombian cooperative, roasted in Germany, shipped, sold and paid for,
/// then looked up and audited with proofs checked against the genesis.
#[derive(Parser, Debug)]
#[command(
    name = "waybill",
    version,
    about,
    long_about,
    max_term_width = 100,
    after_long_help = HELP_WORKFLOW
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run
enum Cmd {
    /// Make and inspect ed25519 keys (PKCS#8 PEM files).
    #[command(subcommand)]
    Key(KeyCmd),
    /// Make and inspect genesis files (who the members and validators are).
    #[command(subcommand)]
    Genesis(GenesisCmd),
    /// Build and sign an entry, written as JSON.
    ///
    /// An entry carries its author's nonce: the author's last nonce + 1.
    /// Give it with --nonce N, read it from a local ledger with --data-dir
    /// DIR, or ask a node with --node URL. A node counts the author's
    /// entries waiting in its mempool too, so entries recorded and submitted
    /// one after another get consecutive nonces; to record several before
    /// submitting any, give each its own --nonce.
    ///
    /// Examples:
    ///   waybill record produce -g genesis.toml -k coop.pem --node http://127.0.0.1:8080 \
    ///       --lot '(01)07709998000018(10)LOT1' --product 'Green coffee' \
    ///       --quantity 600 --unit KGM -o produce.json
    ///   waybill submit produce.json --node http://127.0.0.1:8080
    #[command(subcommand, verbatim_doc_comment)]
    Record(record::RecordCmd),
    /// Add your co-signature to an entry: a membership change, recall,
    /// recall lift or correction (admins, making up an admin quorum), or a
    /// handover (the next carrier, taking the shipment over).
    Cosign {
        /// The entry file; rewritten in place unless --out.
        entry: PathBuf,
        /// Your key (an admin's, or the next carrier's for a handover).
        #[arg(long, short = 'k')]
        key: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// Write here instead of rewriting the entry file.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Replace the file at --out if one exists.
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Check one signed entry's signature, chain and shape against a genesis.
    Verify {
        /// The entry (JSON from `waybill record`).
        entry: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify an audit bundle offline, trusting only the genesis file.
    VerifyBundle {
        /// The bundle (from `waybill export`).
        bundle: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// Fail unless every block carries a consensus commit certificate.
        #[arg(long)]
        require_certificates: bool,
        /// Print the verified trail as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify an auditor's export of a member's or a period's entries
    /// (`waybill export --member`, `--period`) offline, trusting only the
    /// genesis file: every entry on the chain, and none left out, by the
    /// validators' checkpoints the file carries. Exit 0 VERIFIED, 1 FAILED.
    ///
    /// Example:
    ///   waybill verify-export november.json -g genesis.toml
    #[command(verbatim_doc_comment)]
    VerifyExport {
        /// The export file.
        file: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
    },
    /// A local ledger: create, append entries, check, status.
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCmd),
    /// The log of every entry: fetch checkpoints cosigned by the
    /// validators, verify them, prove one extends another.
    #[command(subcommand)]
    Checkpoint(checkpoint_cmd::CheckpointCmd),
    /// A payment's sealed terms: check a terms file against the ledger,
    /// keep it on a node, fetch it with a signed request (parties and
    /// auditors only), erase it.
    #[command(subcommand)]
    Terms(terms_cmd::TermsCmd),
    /// Documents and certificates: the ledger keeps a salted digest of
    /// each; check a file against it with the salts file `waybill record`
    /// wrote beside the entry.
    #[command(subcommand)]
    Document(DocumentCmd),
    /// Send signed entries to a node; with --wait, until they are in a block.
    ///
    /// Each file is checked to be a signed entry, then POSTed to the node's
    /// `/v1/entries` in the order given (an author's entries must go in
    /// nonce order). The node checks the rules at once: an accepted entry
    /// waits in its mempool for the next block, a rejected one prints the
    /// node's rule message, changes nothing, and stops the run (later files
    /// are not sent). Submitting the same file again is safe.
    ///
    /// Examples:
    ///   waybill submit produce.json --node http://127.0.0.1:8080
    ///   waybill submit dispatch.json receive.json --node http://127.0.0.1:8080 --wait
    ///
    /// "final" is the node's word here; `waybill lookup --node … --genesis …`
    /// proves it with the block's commit certificate.
    /// Exit codes: 0 all accepted (and final, with --wait); 2 a rejection,
    /// a refusal, an unreachable node, or --wait timed out.
    #[command(verbatim_doc_comment)]
    Submit {
        /// Entry files (JSON from `waybill record`), sent in this order.
        #[arg(required = true, value_name = "ENTRY.json")]
        entries: Vec<PathBuf>,
        /// The node's HTTP API, e.g. http://127.0.0.1:8080 or
        /// https://node.example:8443 (trusting WAYBILL_CA_CERT's CA if set).
        #[arg(long, value_name = "URL")]
        node: String,
        /// Wait until every entry is final (in a committed block) and print its height.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits for all entries together, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 30, requires = "wait",
              value_parser = clap::value_parser!(u64).range(0..=86_400))]
        timeout: u64,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a member's next nonce, from a node or a local ledger.
    ///
    /// The nonce the member's next entry must carry: its last committed
    /// nonce + 1, and from a node also after its entries waiting in the
    /// node's mempool. `waybill record --node URL` asks for it itself; this
    /// is for scripts and for checking. Prints the number alone (what the
    /// node says, and of which member, goes to stderr), or JSON.
    ///
    /// Examples:
    ///   waybill nonce -k coop.pem --node http://127.0.0.1:8080
    ///   waybill nonce -k <public key hex> --data-dir ledger --json
    #[command(verbatim_doc_comment, group(
        clap::ArgGroup::new("source").required(true).args(["data_dir", "node"])
    ))]
    Nonce {
        /// The member: its key file (KEY.pem; the passphrase is asked if it
        /// is encrypted) or its public key (64 hex digits).
        #[arg(long, short = 'k', value_name = "KEY.pem|HEX")]
        key: String,
        /// A local ledger.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A node's HTTP API, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        node: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a lot's verified origin, custody chain and payments.
    ///
    /// From a local ledger (--data-dir) or from a node (--node URL
    /// --genesis FILE). A node is not trusted: its trail is verified here,
    /// trusting only the genesis file: every signature, Merkle inclusion
    /// proof and custody step, and a commit certificate signed by more than
    /// 2/3 of the genesis voting power on every block. From a node it also
    /// checks the node's checkpoint of the ledger's log at the trail's
    /// height (cosigned by that height's validators) against the last one
    /// of the chain seen here (see `waybill checkpoint fetch --help`): a
    /// forked, rolled-back or stale view is refused, and so is a view
    /// older than --max-age (the ledger makes a block every few seconds,
    /// so an old tip means a node that is behind or cut off). And it checks
    /// that the node left nothing out: the trail comes with proofs, under
    /// the completeness index root that checkpoint certifies, of how many
    /// entries touch the lot, each ancestor, each shipment and payment of
    /// the trail and the membership; a trail short of any of them (a
    /// recall, a correction, a later dispatch, a payment) fails, naming
    /// what is missing. Prints VERIFIED, or FAILED and exactly what failed
    /// (exit code 1).
    ///
    /// Examples:
    ///   waybill lookup '(01)07709998000018(10)LOT1' --data-dir ledger
    ///   waybill lookup https://id.gs1.org/01/07709998000018/10/LOT1 \
    ///       --node http://127.0.0.1:8080 --genesis genesis.toml
    ///   waybill lookup '(01)07709998000018(10)LOT1' --max-age 1h \
    ///       --node http://127.0.0.1:8080 --genesis genesis.toml
    #[command(verbatim_doc_comment, group(
        clap::ArgGroup::new("source").required(true).args(["data_dir", "node"])
    ))]
    Lookup {
        /// The lot: (01)GTIN(10)LOT, a GS1 Digital Link URI, or a free id.
        lot: String,
        /// A local ledger (its blocks carry no commit certificates).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A node's HTTP API, e.g. http://127.0.0.1:8080; needs --genesis.
        #[arg(long, value_name = "URL", requires = "genesis")]
        node: Option<String>,
        /// The genesis file: the only thing trusted. Required with --node;
        /// with --data-dir it replaces the ledger's own copy.
        #[arg(long, short = 'g', value_name = "FILE")]
        genesis: Option<PathBuf>,
        /// With --node: refuse a view whose certified block is older than
        /// this (e.g. 90s, 10m, 2h). [default: 10m]
        #[arg(long, value_name = "AGE", requires = "node")]
        max_age: Option<humantime::Duration>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Everything a recall of a lot must reach: the lot's own remainder and
    /// every lot made from it (directly or not), where each is now and
    /// every member that held it, and where.
    ///
    /// From a local ledger (--data-dir) or a node (--node URL --genesis
    /// G). Each lot's part comes from its trail, verified against the
    /// genesis as `waybill lookup` does. From a node, with commit
    /// certificates required and each trail checked complete under the
    /// validators' checkpoint: every production that consumed a lot is in
    /// its trail, so the lots made from it are found through the proofs,
    /// not taken from the node's list (one the node left out is named).
    #[command(group(
        clap::ArgGroup::new("source").required(true).args(["data_dir", "node"])
    ))]
    TraceForward {
        /// The lot.
        lot: String,
        /// A local ledger.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A node's HTTP API, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL", requires = "genesis")]
        node: Option<String>,
        /// The chain's genesis file: what the trails from --node are verified against.
        #[arg(long, short = 'g', value_name = "GENESIS.toml")]
        genesis: Option<PathBuf>,
        /// With --node: refuse a view whose certified block is older than
        /// this (e.g. 90s, 10m, 2h). [default: 10m]
        #[arg(long, value_name = "AGE", requires = "node")]
        max_age: Option<humantime::Duration>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a lot's trail as an audit bundle signed with an auditor's key.
    ///
    /// From a local ledger (--data-dir) or a node (--node URL --genesis
    /// FILE). A node's trail is verified first, with a commit certificate
    /// required on every block, and only then signed; the bundle says so
    /// (`certificates_required`), so `waybill verify-bundle` demands them
    /// too. From a node the bundle also carries its place in the ledger's
    /// log: the checkpoint of the trail's tip, cosigned by the validators,
    /// and each entry's inclusion proof in it. A trail that fails
    /// verification, or whose place in the log the node cannot prove, is
    /// not exported (exit code 1).
    ///
    /// An auditor can also export, from a node, every entry one member
    /// signed (--member) or every entry in the blocks of a period
    /// (--period, --from, --to), proven complete: an entry the node leaves
    /// out fails the export, naming what is missing.
    ///
    /// Examples:
    ///   waybill export '(01)07709998000018(10)LOT1' --node http://127.0.0.1:8080 \
    ///       --genesis genesis.toml --key auditor.pem --out bundle.json
    ///   waybill verify-bundle bundle.json --genesis genesis.toml --require-certificates
    ///   waybill export --period --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z \
    ///       --node http://127.0.0.1:8080 -g genesis.toml -k auditor.pem -o november.json
    #[command(verbatim_doc_comment, group(
        clap::ArgGroup::new("source").required(true).args(["data_dir", "node"])
    ))]
    Export {
        /// The lot.
        #[arg(required_unless_present_any = ["member", "period"], conflicts_with_all = ["member", "period"])]
        lot: Option<String>,
        /// Instead of a lot: every entry this member (a name or a public
        /// key) signed, from a node, on a request signed with --key (an
        /// auditor's, or the member's own), verified and proven complete;
        /// written with the checkpoint it was proven under.
        #[arg(
            long,
            value_name = "MEMBER",
            requires = "node",
            conflicts_with = "period"
        )]
        member: Option<String>,
        /// Instead of a lot: every entry of every member in the blocks of
        /// a period (--from, --to; either may be left out), from a node,
        /// on a request signed with an auditor's --key, verified and
        /// proven complete by the log's checkpoints at the period's
        /// bounds; written with those checkpoints.
        #[arg(long, requires = "node")]
        period: bool,
        /// With --member or --period: keep entries in blocks from this
        /// time (RFC 3339 or ms since 1970).
        #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
        from: Option<i64>,
        /// With --member or --period: keep entries in blocks before this
        /// time.
        #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
        to: Option<i64>,
        /// With --member, or --period running to the node's tip: refuse
        /// a view older than this (e.g. 10m, 1h; default 10m), which could
        /// hide the latest entries.
        #[arg(long, value_name = "DURATION")]
        max_age: Option<humantime::Duration>,
        /// A local ledger.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A node's HTTP API, e.g. http://127.0.0.1:8080; needs --genesis.
        #[arg(long, value_name = "URL", requires = "genesis")]
        node: Option<String>,
        /// The genesis file: the only thing trusted. Required with --node;
        /// with --data-dir it replaces the ledger's own copy.
        #[arg(long, short = 'g', value_name = "FILE")]
        genesis: Option<PathBuf>,
        /// The auditor's key.
        #[arg(long, short = 'k')]
        key: PathBuf,
        /// Where to write the bundle (refuses to overwrite).
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Replace the file at --out if one exists.
        #[arg(long)]
        force: bool,
    },
    /// Run a story end to end on real nodes in a temporary directory.
    ///
    /// `waybill demo` tells the coffee story on four validators: a lot from
    /// the farm to the shelf, recalled, looked up by a shopper. `waybill
    /// demo consortium` changes the consortium while it runs: an exporter
    /// joins and starts its own node, becomes a fifth validator, a
    /// carrier's stolen key is revoked and its entries since the theft
    /// flagged, and an old validator is retired and cut off.
    Demo {
        /// Which story: `coffee` (the default) or `consortium`.
        #[arg(value_enum, default_value_t = DemoStory::Coffee)]
        story: DemoStory,
        /// Keep the demo's files in this directory instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

/// The stories `waybill demo` tells.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum DemoStory {
    /// A lot of coffee from the farm to the shelf, recalled.
    Coffee,
    /// Members, keys and validators changing on a running consortium.
    Consortium,
}

#[derive(Subcommand, Debug)]
enum DocumentCmd {
    /// Whether a file is the document an entry recorded. Exit 0 on a
    /// match, 1 on none.
    ///
    /// Example:
    ///   waybill document check invoice.pdf --salts dispatch.json.salts.json
    #[command(verbatim_doc_comment)]
    Check(document_cmd::CheckArgs),
    /// Keep an entry's salts file on a node (signed by the entry's
    /// author), so that the author and auditors can fetch it to check a
    /// document against the ledger. The node keeps it only if the entry
    /// is on the ledger and references every digest in it.
    ///
    /// Example:
    ///   waybill document put --salts dispatch.json.salts.json --entry dispatch.json \
    ///       --node http://127.0.0.1:7070 -k roaster.pem -g genesis.toml
    #[command(verbatim_doc_comment)]
    Put(document_cmd::PutArgs),
    /// Fetch an entry's salts file from a node, with a request signed by
    /// the entry's author or an auditor.
    ///
    /// Example:
    ///   waybill document get 3f2a…(64 hex) --node http://127.0.0.1:7070 \
    ///       -k auditor.pem -g genesis.toml -o dispatch.salts.json
    ///   waybill document check invoice.pdf --salts dispatch.salts.json
    #[command(verbatim_doc_comment)]
    Get(document_cmd::GetArgs),
    /// Make a node forget an entry's salts (signed by the entry's
    /// author). The chain still verifies: only salted digests are on it.
    Erase(document_cmd::EraseArgs),
}

#[derive(Subcommand, Debug)]
enum KeyCmd {
    /// Generate a key. Encrypted with a passphrase (prompt or WAYBILL_PASSPHRASE)
    /// unless --insecure-plaintext.
    New {
        /// Where to write it (refuses to overwrite).
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Replace the file at --out if one exists (the old key is lost).
        #[arg(long)]
        force: bool,
        /// Store it unencrypted (throw-away demo keys only).
        #[arg(long)]
        insecure_plaintext: bool,
    },
    /// Show a key's public key.
    Show {
        /// The key file.
        key: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// Print the public key as an SPKI PEM block (for OpenSSL).
        #[arg(long, conflicts_with = "json")]
        pem: bool,
    },
}

#[derive(Subcommand, Debug)]
enum GenesisCmd {
    /// Make a genesis file.
    ///
    /// Example:
    ///   waybill genesis init --chain-name coffee \
    ///     --member 'name=Andes Coffee Cooperative,key=andes.pem,roles=producer,country=CO' \
    ///     --validator 'name=validator-1,key=<hex>' --out genesis.toml
    Init {
        /// The chain's name.
        #[arg(long)]
        chain_name: String,
        /// A member: name=…,key=HEX|KEY.pem,roles=r1+r2[,country=CC][,prefix=P1+P2]
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// A validator: name=…,key=HEX|KEY.pem[,power=N][,p2p=ADDR]
        #[arg(long = "validator", required = true)]
        validators: Vec<String>,
        /// Admin signatures a membership change needs (default: more than half of the admins).
        #[arg(long)]
        admin_threshold: Option<u32>,
        /// Where to write it (refuses to overwrite).
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Replace the file at --out if one exists.
        #[arg(long)]
        force: bool,
    },
    /// Show a genesis: members, validators, chain id.
    Show {
        /// The genesis file.
        genesis: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the chain id (SHA-256 of the genesis' canonical encoding).
    Hash {
        /// The genesis file.
        genesis: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `lookup --node`'s default `--max-age`: the ledger makes a block at
/// least every few seconds, so a view this old is a node that is behind,
/// with room for a slow full node and a shopper's clock that is off.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);

const HELP_WORKFLOW: &str = "\
A typical flow:
  waybill key new --out coop.pem                    # one key per organisation
  waybill genesis init --chain-name coffee --member 'name=Coop,key=coop.pem,roles=producer' \\
      --validator 'name=v1,key=<hex>' --out genesis.toml
  waybill ledger init --data-dir ledger --genesis genesis.toml
  waybill record produce -g genesis.toml -k coop.pem --data-dir ledger \\
      --lot '(01)07709998000018(10)LOT1' --product 'Green coffee' \\
      --quantity 600 --unit KGM -o e.json
  waybill ledger append --data-dir ledger e.json
  waybill lookup '(01)07709998000018(10)LOT1' --data-dir ledger
  waybill export '(01)07709998000018(10)LOT1' --data-dir ledger -k auditor.pem -o bundle.json
  waybill verify-bundle bundle.json -g genesis.toml

With a network of nodes (Malachite BFT; every block has a commit certificate):
  waybill record produce -g genesis.toml -k coop.pem --node http://127.0.0.1:8080 \\
      --lot '(01)07709998000018(10)LOT1' --product 'Green coffee' \\
      --quantity 600 --unit KGM -o e.json                       # the node gives the nonce
  waybill submit e.json --node http://127.0.0.1:8080 --wait     # the node checks the rules
  waybill lookup '(01)07709998000018(10)LOT1' --node http://127.0.0.1:8080 -g genesis.toml
  waybill export '(01)07709998000018(10)LOT1' --node http://127.0.0.1:8080 -g genesis.toml \\
      -k auditor.pem -o bundle.json
  waybill verify-bundle bundle.json -g genesis.toml --require-certificates
A node is never trusted: its trails are verified here against the genesis file.

Keys are read with their passphrase from WAYBILL_PASSPHRASE or a prompt.
Lots: (01)GTIN(10)LOT, (01)GTIN(21)SERIAL, (00)SSCC, a GS1 Digital Link URI, or a free id.
Exit codes: 0 success, 1 verification FAILED, 2 error (bad input, nothing changed).";

fn main() -> ExitCode {
    // TLS to https:// nodes through rustls with ring, the provider the
    // rest of the workspace uses. Installing fails only if one is already
    // installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Key(KeyCmd::New {
            out,
            force,
            insecure_plaintext,
        }) => {
            let existing = util::Existing::from_force(force);
            util::refuse_existing(&out, existing)?;
            let key = keys::generate();
            let pass = if insecure_plaintext {
                None
            } else {
                let p = util::passphrase("New passphrase: ").map_err(|e| {
                    anyhow!("{e}; or pass --insecure-plaintext for a throw-away key")
                })?;
                if std::env::var(util::PASSPHRASE_ENV).is_err() {
                    let again = util::passphrase("Repeat passphrase: ")?;
                    if *again != *p {
                        bail!("the passphrases differ");
                    }
                }
                Some(p)
            };
            let pem = keys::to_pem(&key, pass.as_deref().map(|s| s.as_str()))?;
            // The temporary file is created readable by its owner only, and
            // keeps that mode when it is renamed into place.
            util::write_out(Some(&out), &pem, existing)?;
            println!("{}", crypto::public_key(&key));
            eprintln!(
                "wrote {}{}",
                out.display(),
                if insecure_plaintext {
                    " (unencrypted)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Key(KeyCmd::Show { key, json, pem }) => {
            let k = util::read_key(&key)?;
            let pk = crypto::public_key(&k);
            if pem {
                print!("{}", keys::public_key_pem(&k.verifying_key()));
            } else if json {
                println!("{}", serde_json::json!({ "public_key": pk.to_hex() }));
            } else {
                println!("{pk}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Genesis(GenesisCmd::Init {
            chain_name,
            members,
            validators,
            admin_threshold,
            out,
            force,
        }) => {
            let existing = util::Existing::from_force(force);
            util::refuse_existing(&out, existing)?;
            let g = Genesis {
                chain_name,
                members: members
                    .iter()
                    .map(|m| parse_member(m))
                    .collect::<Result<_>>()?,
                validators: validators
                    .iter()
                    .map(|v| parse_validator(v))
                    .collect::<Result<_>>()?,
                consensus: ConsensusParams::default(),
                governance: Governance { admin_threshold },
                // Yield rules are written into the file by hand
                // ([[yields]], see genesis/README.md).
                yields: Vec::new(),
            };
            g.validate()?;
            util::write_out(Some(&out), &g.to_toml(), existing)?;
            println!("{}", g.chain_id());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Genesis(GenesisCmd::Show { genesis, json }) => {
            let g = util::read_genesis(&genesis)?;
            if json {
                let mut v = serde_json::to_value(&g)?;
                v["chain_id"] = serde_json::Value::String(g.chain_id().to_hex());
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                report::print_genesis(&g);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Genesis(GenesisCmd::Hash { genesis, json }) => {
            let g = util::read_genesis(&genesis)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "chain_name": g.chain_name, "chain_id": g.chain_id().to_hex() })
                );
            } else {
                println!("{}", g.chain_id());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Record(r) => {
            record::run(r)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Cosign {
            entry,
            key,
            genesis,
            out,
            force,
        } => {
            record::cosign(&entry, &key, &genesis, out.as_deref(), force)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify {
            entry,
            genesis,
            json,
        } => {
            let g = util::read_genesis(&genesis)?;
            let e = util::read_entry(&entry)?;
            let result = verify_entry(&g, &e);
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": result.is_ok(),
                        "entry_id": e.id().to_hex(),
                        "kind": e.entry.body.kind(),
                        "author": e.entry.author.to_hex(),
                        "nonce": e.entry.nonce,
                        "error": result.as_ref().err().map(|e| e.to_string()),
                    })
                );
            }
            match result {
                Ok(()) => {
                    if !json {
                        println!(
                            "VERIFIED: {} entry {} by {} (nonce {}), signed for chain {}",
                            e.entry.body.kind(),
                            e.id().short(),
                            util::name_of(&g, &e.entry.author),
                            e.entry.nonce,
                            g.chain_name
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    if !json {
                        println!("FAILED: {err}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::VerifyExport { file, genesis } => verify_export::run(&file, &genesis),
        Cmd::VerifyBundle {
            bundle,
            genesis,
            require_certificates,
            json,
        } => {
            let g = util::read_genesis(&genesis)?;
            let bytes = util::read_limited(
                &bundle,
                waybill_core::bundle::MAX_BUNDLE_BYTES as u64,
                "bundle",
            )?;
            match waybill_core::bundle::Bundle::verify_file(&bytes, &g, require_certificates) {
                Ok((b, report)) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&report::bundle_json(&b, &report))?
                        );
                    } else {
                        report::print_trail(&report);
                        println!("{}", report::bundle_log_line(&b, &report));
                        println!(
                            "VERIFIED: audit bundle signed by {} at {}; {}",
                            report
                                .final_members
                                .get(&b.body.exporter)
                                .map(|m| m.0.clone())
                                .unwrap_or_default(),
                            util::fmt_time(b.body.exported_at_ms),
                            report::finality(&report)
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "ok": false, "error": e.to_string() })
                        );
                    } else {
                        println!("FAILED: {e}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Cmd::Ledger(l) => ledger_cmd::run(l),
        Cmd::Checkpoint(c) => checkpoint_cmd::run(c),
        Cmd::Terms(t) => terms_cmd::run(t),
        Cmd::Document(DocumentCmd::Check(a)) => document_cmd::check(&a),
        Cmd::Document(DocumentCmd::Put(a)) => document_cmd::put(&a),
        Cmd::Document(DocumentCmd::Get(a)) => document_cmd::get(&a),
        Cmd::Document(DocumentCmd::Erase(a)) => document_cmd::erase(&a),
        Cmd::Submit {
            entries,
            node,
            wait,
            timeout,
            json,
        } => node_cmd::submit(&entries, &node, wait, timeout, json),
        Cmd::Nonce {
            key,
            data_dir,
            node,
            json,
        } => {
            let key = key_arg(&key)?;
            match (node, data_dir) {
                (Some(url), _) => node_cmd::nonce(&key, &url, json),
                (None, Some(dir)) => ledger_cmd::nonce(&key, &dir, json),
                (None, None) => bail!("give --data-dir DIR or --node URL"),
            }
        }
        Cmd::Lookup {
            lot,
            data_dir,
            node,
            genesis,
            max_age,
            json,
        } => match (node, data_dir) {
            (Some(url), _) => node_cmd::lookup(
                &lot,
                &url,
                &need_genesis(genesis)?,
                max_age.map_or(DEFAULT_MAX_AGE, Into::into),
                json,
            ),
            (None, Some(dir)) => ledger_cmd::lookup(&lot, &dir, genesis.as_deref(), json),
            (None, None) => bail!("give --data-dir DIR or --node URL"),
        },
        Cmd::TraceForward {
            lot,
            data_dir,
            node,
            genesis,
            max_age,
            json,
        } => match (node, data_dir) {
            (Some(url), _) => node_cmd::trace_forward(
                &lot,
                &url,
                &need_genesis(genesis)?,
                max_age.map_or(DEFAULT_MAX_AGE, Into::into),
                json,
            ),
            (None, Some(dir)) => ledger_cmd::trace_forward(&lot, &dir, json),
            (None, None) => bail!("give --data-dir DIR or --node URL"),
        },
        Cmd::Export {
            lot,
            member,
            period,
            from,
            to,
            max_age,
            data_dir,
            node,
            genesis,
            key,
            out,
            force,
        } => {
            // Refused before any work; the write itself refuses again.
            let existing = util::Existing::from_force(force);
            util::refuse_existing(&out, existing)?;
            if period {
                let url = node.ok_or_else(audit_cmd::need_node)?;
                return audit_cmd::export_period(&audit_cmd::PeriodExport {
                    url: &url,
                    genesis: &need_genesis(genesis)?,
                    key: &key,
                    from_ms: from,
                    to_ms: to,
                    max_age: max_age.map_or(DEFAULT_MAX_AGE, Into::into),
                    out: &out,
                    existing,
                });
            }
            if let Some(member) = &member {
                let url = node.ok_or_else(audit_cmd::need_node)?;
                return audit_cmd::export_member(&audit_cmd::MemberExport {
                    member,
                    url: &url,
                    genesis: &need_genesis(genesis)?,
                    key: &key,
                    from_ms: from,
                    to_ms: to,
                    max_age: max_age.map_or(DEFAULT_MAX_AGE, Into::into),
                    out: &out,
                    existing,
                });
            }
            if from.is_some() || to.is_some() {
                bail!("--from and --to cut a --member or --period export; a lot's trail is exported whole");
            }
            let lot = lot.ok_or_else(|| anyhow!("give the lot to export, --member or --period"))?;
            match (node, data_dir) {
                (Some(url), _) => {
                    node_cmd::export(&lot, &url, &need_genesis(genesis)?, &key, &out, existing)
                }
                (None, Some(dir)) => {
                    ledger_cmd::export(&lot, &dir, genesis.as_deref(), &key, &out, existing)
                }
                (None, None) => bail!("give --data-dir DIR or --node URL"),
            }
        }
        Cmd::Demo { story, keep } => match story {
            DemoStory::Coffee => demo::run(keep),
            DemoStory::Consortium => demo::run_consortium(keep),
        },
    }
}

/// `--genesis`, which clap already demands with `--node`.
fn need_genesis(genesis: Option<PathBuf>) -> Result<PathBuf> {
    genesis.ok_or_else(|| {
        anyhow!("--node needs --genesis FILE: what a node serves is checked against it")
    })
}

/// Chain, shape and signatures of one entry (no state).
fn verify_entry(g: &Genesis, e: &waybill_core::entry::SignedEntry) -> Result<()> {
    let chain = g.chain_id();
    if e.entry.chain_id != chain {
        bail!(
            "the entry is for chain {}, but the genesis is chain {} ({})",
            e.entry.chain_id,
            chain,
            g.chain_name
        );
    }
    waybill_core::rules::check_shape(e)?;
    e.verify_signatures()?;
    if g.member(&e.entry.author).is_none() {
        eprintln!("note: the author is not a genesis member (it may have been added later by a membership change)");
    }
    Ok(())
}

fn fields(spec: &str) -> Result<Vec<(String, String)>> {
    spec.split(',')
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow!("`{kv}` in `{spec}` is not key=value"))
        })
        .collect()
}

fn key_arg(v: &str) -> Result<PublicKey> {
    if let Ok(k) = v.parse::<PublicKey>() {
        return Ok(k);
    }
    let path = std::path::Path::new(v);
    if path.exists() {
        return Ok(crypto::public_key(&util::read_key(path)?));
    }
    bail!("key `{v}` is neither 64 hex digits nor a key file")
}

fn parse_member(spec: &str) -> Result<MemberSpec> {
    let mut m = MemberSpec {
        name: String::new(),
        public_key: PublicKey([0; 32]),
        roles: Vec::new(),
        country: None,
        gs1_company_prefixes: Vec::new(),
    };
    let mut have_key = false;
    for (k, v) in fields(spec)? {
        match k.as_str() {
            "name" => m.name = v,
            "key" => {
                m.public_key = key_arg(&v)?;
                have_key = true;
            }
            "roles" => {
                m.roles = v
                    .split('+')
                    .map(|r| r.trim().parse::<Role>().map_err(|e| anyhow!("{e}")))
                    .collect::<Result<_>>()?
            }
            "country" => m.country = Some(v.parse::<Country>()?),
            "prefix" => {
                m.gs1_company_prefixes = v
                    .split('+')
                    .map(|p| p.parse::<CompanyPrefix>().map_err(|e| anyhow!("{e}")))
                    .collect::<Result<_>>()?
            }
            other => bail!("unknown member field `{other}`; use name, key, roles, country, prefix"),
        }
    }
    if !have_key {
        bail!("member `{spec}` has no key=…");
    }
    Ok(m)
}

fn parse_validator(spec: &str) -> Result<ValidatorSpec> {
    let mut v = ValidatorSpec {
        name: String::new(),
        public_key: PublicKey([0; 32]),
        power: 1,
        p2p: Vec::new(),
    };
    let mut have_key = false;
    for (k, val) in fields(spec)? {
        match k.as_str() {
            "name" => v.name = val,
            "key" => {
                v.public_key = key_arg(&val)?;
                have_key = true;
            }
            "power" => {
                v.power = val
                    .parse()
                    .map_err(|_| anyhow!("power `{val}` is not a whole number"))?
            }
            "p2p" => v.p2p.push(val),
            other => bail!("unknown validator field `{other}`; use name, key, power, p2p"),
        }
    }
    if !have_key {
        bail!("validator `{spec}` has no key=…");
    }
    Ok(v)
}
