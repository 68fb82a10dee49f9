//! `waybill record …`: build and sign entries.
//!
//! Every command reads its flags, builds the entry's body and checks it
//! (flag by flag, then with the ledger's own shape rules) before the key's
//! passphrase is asked for; a bad value is refused with the flag and the
//! value named, and nothing is written.
//!
//! - `args`: what several commands share (places, documents, transport
//!   facts, FDA key data elements, quantities).
//! - `goods`: produce, dispatch, receive, reject.
//! - `transit`: handover, readings.
//! - `notices`: recall, recall-lift, correct.
//! - `pay`, `member`: payments and membership changes.
//! - `govern`: governance changes scheduled for a later height.

mod args;
mod goods;
mod govern;
mod member;
mod notices;
mod pay;
mod transit;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use waybill_core::crypto::{self, PublicKey, Signature};
use waybill_core::entry::{Body, Entry, SignedEntry, ENTRY_VERSION};
use waybill_core::genesis::Genesis;
use waybill_core::state::View;
use waybill_core::terms::{DocumentSalt, DocumentSalts, SALTS_FORMAT};

use crate::node_client::{NextNonce, Node};
use crate::util;

pub use pay::new_uetr;

/// Options every `record` command takes.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Signing and output")]
pub struct Common {
    /// The chain's genesis file (entries are signed for its chain id).
    #[arg(long, short = 'g', value_name = "GENESIS.toml")]
    pub genesis: PathBuf,
    /// The author's key file (PKCS#8 PEM). Passphrase from WAYBILL_PASSPHRASE or a prompt.
    #[arg(long, short = 'k', value_name = "KEY.pem")]
    pub key: PathBuf,
    /// The author's next nonce (its last + 1). Or let --data-dir or --node find it.
    #[arg(long, value_name = "N")]
    pub nonce: Option<u64>,
    /// A local ledger to read the author's next nonce from.
    #[arg(long, value_name = "DIR", conflicts_with = "nonce")]
    pub data_dir: Option<PathBuf>,
    /// A node's HTTP API to ask for the author's next nonce, e.g.
    /// http://127.0.0.1:8080. The node counts the author's entries waiting
    /// in its mempool, so submit each entry before recording the next.
    #[arg(long, value_name = "URL", conflicts_with_all = ["nonce", "data_dir"])]
    pub node: Option<String>,
    /// When the event happened (RFC 3339 or ms since 1970); default now.
    #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
    pub recorded_at: Option<i64>,
    /// Write the signed entry here instead of stdout (refuses to overwrite).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the file at --out if one exists.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Where to keep the salts of the entry's documents and certificates
    /// (their salted digests go on the ledger; with the salt and the file
    /// anyone can check one, see `waybill document check`); default: --out
    /// with `.salts.json` added.
    #[arg(long, value_name = "FILE")]
    pub salts_out: Option<PathBuf>,
    /// The salts of the documents read so far (see `args::doc_refs`).
    #[arg(skip)]
    pub salts: RefCell<Vec<DocumentSalt>>,
}

/// What to record.
#[derive(Subcommand, Debug)]
pub enum RecordCmd {
    /// A lot comes into being (harvest, catch, or made from input lots),
    /// with its plots and regulatory facts if given. By a producer or
    /// processor.
    Produce(goods::ProduceArgs),
    /// Custody of lots, whole or in part, leaves you in a shipment, with
    /// the first leg's transport facts. By the member holding the lots.
    Dispatch(goods::DispatchArgs),
    /// You accept a shipment (as its consignee, or as its first carrier
    /// taking over), stating any lot that did not arrive whole and why.
    Receive(goods::ReceiveArgs),
    /// You refuse a shipment; custody returns to the sender. By its
    /// consignee or its first carrier.
    Reject(goods::RejectArgs),
    /// A shipment passes from you, the carrier holding it, to the next
    /// carrier, who must co-sign it with `waybill cosign`.
    Handover(transit::HandoverArgs),
    /// Sensor readings (temperature, humidity) taken on a shipment, from a
    /// CSV file. By its sender, its consignee or its current carrier.
    Readings(transit::ReadingsArgs),
    /// Lots are recalled or withdrawn from the market. By the lots'
    /// producer, a regulator or quality member, or anyone with an admin
    /// quorum's co-signatures.
    Recall(notices::RecallArgs),
    /// A recall is lifted. By the recall's author (or with an admin
    /// quorum's co-signatures).
    RecallLift(notices::RecallLiftArgs),
    /// An earlier entry is declared erroneous (the original stays). By its
    /// author (or with an admin quorum's co-signatures).
    Correct(notices::CorrectArgs),
    /// A cross-border payment, its terms sealed (only commitments go on
    /// the ledger; the terms file stays with you). By the payer.
    Pay(pay::PayArgs),
    /// You, the payee, confirm a payment: the terms file the payer gave
    /// you is checked against the payment's commitments first.
    ConfirmPayment(pay::ConfirmArgs),
    /// A membership change (admins only; needs co-signatures from an admin
    /// quorum: pass the file around with `waybill cosign`).
    Member(member::MemberArgs),
    /// A change to the consortium (members, keys, GS1 prefixes, the admin
    /// threshold, validators) that takes effect at a stated later height
    /// (admins only; needs co-signatures from an admin quorum: pass the
    /// file around with `waybill cosign`).
    Govern(govern::GovernArgs),
}

/// Runs a `record` command.
pub fn run(cmd: RecordCmd) -> Result<()> {
    match cmd {
        RecordCmd::Produce(a) => goods::produce(&a),
        RecordCmd::Dispatch(a) => goods::dispatch(&a),
        RecordCmd::Receive(a) => goods::receive(&a),
        RecordCmd::Reject(a) => goods::reject(&a),
        RecordCmd::Handover(a) => transit::handover(&a),
        RecordCmd::Readings(a) => transit::readings(&a),
        RecordCmd::Recall(a) => notices::recall(&a),
        RecordCmd::RecallLift(a) => notices::recall_lift(&a),
        RecordCmd::Correct(a) => notices::correct(&a),
        RecordCmd::Pay(a) => pay::pay(&a),
        RecordCmd::ConfirmPayment(a) => pay::confirm(&a),
        RecordCmd::Member(a) => member::member(&a),
        RecordCmd::Govern(a) => govern::govern(&a),
    }
}

/// Builds the body with `prepare`, checks it, signs it as the author in
/// `common` and writes it. Everything that can be refused without the
/// key is refused before its passphrase is asked for.
fn finish(common: &Common, prepare: impl FnOnce(&Genesis) -> Result<Body>) -> Result<SignedEntry> {
    finish_with(common, prepare, |_, _| {}, |_| Ok(()))
}

/// [`finish`], with `fill` setting the fields that name the author (a
/// payment's payer) once the key is read, and `before_write` run on the
/// signed entry before it is written (a payment's terms file).
fn finish_with(
    common: &Common,
    prepare: impl FnOnce(&Genesis) -> Result<Body>,
    fill: impl FnOnce(&mut Body, &PublicKey),
    before_write: impl FnOnce(&SignedEntry) -> Result<()>,
) -> Result<SignedEntry> {
    let existing = util::Existing::from_force(common.force);
    if let Some(out) = &common.out {
        // Before the key's passphrase is asked for.
        util::refuse_existing(out, existing)?;
    }
    let genesis = util::read_genesis(&common.genesis)?;
    let mut body = prepare(&genesis)?;
    precheck(&genesis, &body, common.recorded_at)?;
    let salts_out = salts_path(common)?;
    if let Some(p) = &salts_out {
        util::refuse_existing(p, existing)?;
    }
    let key = util::read_key(&common.key)?;
    let author = crypto::public_key(&key);
    fill(&mut body, &author);
    let (nonce, from) = author_nonce(common, &genesis, &author)?;
    let entry = sign_entry(&genesis, &key, nonce, common.recorded_at, body);
    before_write(&entry)?;
    if let Some(p) = &salts_out {
        let salts = DocumentSalts {
            format: SALTS_FORMAT.into(),
            version: 1,
            documents: common.salts.borrow().clone(),
        };
        util::write_out(
            Some(p),
            &(serde_json::to_string_pretty(&salts)? + "\n"),
            existing,
        )?;
        eprintln!(
            "the documents' salts are in {} (keep it: with it and a document anyone can check \
             the document against the ledger)",
            p.display()
        );
    }
    let text = serde_json::to_string_pretty(&entry)? + "\n";
    util::write_out(common.out.as_deref(), &text, existing)?;
    if let Some(out) = &common.out {
        eprintln!(
            "signed {} entry {} (nonce {}{from}) into {}",
            entry.entry.body.kind(),
            entry.id(),
            entry.entry.nonce,
            out.display()
        );
    }
    Ok(entry)
}

/// Where the documents' salts go, if the entry has documents.
fn salts_path(common: &Common) -> Result<Option<PathBuf>> {
    if common.salts.borrow().is_empty() {
        return Ok(None);
    }
    match (&common.salts_out, &common.out) {
        (Some(p), _) => Ok(Some(p.clone())),
        (None, Some(out)) => {
            let mut name = out.clone().into_os_string();
            name.push(".salts.json");
            Ok(Some(PathBuf::from(name)))
        }
        (None, None) => bail!(
            "say where to keep the documents' salts with --salts-out FILE (or --out): only \
             salted digests go on the ledger, and without the salts nobody can show a document \
             is the one recorded"
        ),
    }
}

/// Runs the ledger's shape rules (every check that needs no state) on an
/// unsigned draft of the entry, so that what the ledger would refuse for
/// its form alone is refused here, before anything is signed.
fn precheck(genesis: &Genesis, body: &Body, recorded_at: Option<i64>) -> Result<()> {
    let draft = SignedEntry {
        entry: Entry {
            version: ENTRY_VERSION,
            chain_id: genesis.chain_id(),
            author: PublicKey([0; 32]),
            nonce: 1,
            recorded_at_ms: recorded_at.unwrap_or_else(util::now_ms),
            body: body.clone(),
        },
        signature: Signature([0; 64]),
        cosignatures: Vec::new(),
    };
    waybill_core::rules::check_shape(&draft).map_err(|e| {
        anyhow!(
            "the {} entry would be refused by the ledger, so nothing was signed: {e}",
            body.kind()
        )
    })
}

/// Resolves a member named by `flag`: a public key (64 hex digits), a
/// member's name in genesis, or, with --data-dir, the name of a member
/// added since.
fn party(common: &Common, genesis: &Genesis, flag: &str, who: &str) -> Result<PublicKey> {
    let in_genesis = util::party(genesis, who);
    if in_genesis.is_ok() {
        return in_genesis;
    }
    if let Some(dir) = &common.data_dir {
        let ledger = waybill_store::open_dir(dir)?;
        if let Some(key) = View::active_member_named(ledger.state(), who) {
            return Ok(key);
        }
    }
    in_genesis.map_err(|e| anyhow!("{flag}: {e}"))
}

/// A member's name for a message: from genesis, or with --data-dir from
/// the ledger; else the short key.
fn member_name(common: &Common, genesis: &Genesis, key: &PublicKey) -> String {
    if let Some(m) = genesis.member(key) {
        return m.name.clone();
    }
    common
        .data_dir
        .as_deref()
        .and_then(|dir| waybill_store::open_dir(dir).ok())
        .and_then(|ledger| View::member(ledger.state(), key).map(|m| m.spec.name.clone()))
        .unwrap_or_else(|| format!("key {}", key.short()))
}

/// Where the entry went, for a hint: the --out file or a placeholder.
fn entry_file(common: &Common) -> String {
    common
        .out
        .as_deref()
        .map_or_else(|| "ENTRY.json".to_owned(), |p| p.display().to_string())
}

/// The author's next nonce as `common` says to find it, with where it
/// came from when that is worth saying (`, from …`).
fn author_nonce(common: &Common, genesis: &Genesis, author: &PublicKey) -> Result<(u64, String)> {
    match (common.nonce, &common.data_dir, &common.node) {
        (Some(n), _, _) => Ok((n, String::new())),
        (None, Some(dir), _) => {
            let ledger = waybill_store::open_dir(dir)?;
            if ledger.chain_id() != genesis.chain_id() {
                bail!(
                    "the ledger in {} is for another chain than the genesis given",
                    dir.display()
                );
            }
            let last = waybill_core::state::View::nonce(ledger.state(), author);
            let next = last
                .checked_add(1)
                .ok_or_else(|| anyhow!("the author has used every nonce; rotate its key"))?;
            Ok((next, String::new()))
        }
        (None, None, Some(url)) => {
            let (node, n) = nonce_from_node(url, genesis, author).map_err(|e| {
                anyhow!(
                    "{e}\nnothing was signed: give --node the API URL of a running node of chain `{}`, or the nonce with --nonce N",
                    genesis.chain_name
                )
            })?;
            Ok((
                n.next,
                format!(
                    ", from the node at {}: {} committed, {} waiting in its mempool",
                    node.url(),
                    n.committed,
                    n.pending
                ),
            ))
        }
        (None, None, None) => bail!(
            "give --nonce N (the author's last nonce + 1), --data-dir DIR to read it from a local ledger, \
             or --node URL to ask a node (which also counts the author's entries waiting in its mempool)"
        ),
    }
}

/// Asks the node at `url` for `author`'s next nonce, and checks that the
/// node serves `genesis`'s chain.
fn nonce_from_node(url: &str, genesis: &Genesis, author: &PublicKey) -> Result<(Node, NextNonce)> {
    let node = Node::new(url)?;
    let n = node.next_nonce(author)?;
    let chain = genesis.chain_id().to_hex();
    if n.chain_id != chain {
        bail!(
            "the node at {} serves chain {}, not chain {chain} (`{}`) of the genesis given",
            node.url(),
            n.chain_id,
            genesis.chain_name
        );
    }
    Ok((node, n))
}

/// Builds and signs an entry with `nonce`, recorded at `recorded_at`
/// (default now).
pub fn sign_entry(
    genesis: &Genesis,
    key: &ed25519_dalek::SigningKey,
    nonce: u64,
    recorded_at: Option<i64>,
    body: Body,
) -> SignedEntry {
    Entry {
        version: ENTRY_VERSION,
        chain_id: genesis.chain_id(),
        author: crypto::public_key(key),
        nonce,
        recorded_at_ms: recorded_at.unwrap_or_else(util::now_ms),
        body,
    }
    .sign(key)
}

/// Whether `key` is a member with the admin role in `g`.
fn admin_in_genesis(g: &Genesis, key: &crypto::PublicKey) -> bool {
    g.member(key)
        .is_some_and(|m| m.roles.contains(&waybill_core::genesis::Role::Admin))
}

/// `waybill cosign`: adds the key's co-signature to an entry file.
///
/// Co-signed are membership and governance changes, recalls, recall lifts
/// and corrections
/// (by admins, making an admin quorum) and handovers (by the next
/// carrier, the one taking over).
pub fn cosign(
    entry: &Path,
    key: &Path,
    genesis: &Path,
    out: Option<&Path>,
    force: bool,
) -> Result<()> {
    // Without --out the entry file itself is rewritten: that is the
    // command's purpose, so only --out is subject to the overwrite rule.
    let (target, existing) = match out {
        Some(o) => (o, util::Existing::from_force(force)),
        None => (entry, util::Existing::Replace),
    };
    util::refuse_existing(target, existing)?;
    let g = util::read_genesis(genesis)?;
    let mut e = util::read_entry(entry)?;
    if e.entry.chain_id != g.chain_id() {
        bail!(
            "{} is for another chain than {}",
            entry.display(),
            genesis.display()
        );
    }
    if !matches!(
        e.entry.body,
        Body::Membership(_)
            | Body::Governance(_)
            | Body::Handover(_)
            | Body::Recall(_)
            | Body::RecallLift(_)
            | Body::Correction(_)
    ) {
        bail!(
            "only membership and governance changes, handovers, recalls, recall lifts and corrections are co-signed; {} is a {} entry",
            entry.display(),
            e.entry.body.kind()
        );
    }
    e.verify_signatures().map_err(|err| {
        anyhow!(
            "{} does not verify, so it was not co-signed: {err}",
            entry.display()
        )
    })?;
    let key = util::read_key(key)?;
    let signer = crypto::public_key(&key);
    if signer == e.entry.author {
        bail!(
            "{} was signed by this key as its author; a co-signature comes from another member",
            entry.display()
        );
    }
    if let Body::Handover(h) = &e.entry.body {
        if signer != h.to {
            bail!(
                "{} hands shipment {} over to {}; only that carrier co-signs it, and this key is {}",
                entry.display(),
                h.shipment,
                util::name_of(&g, &h.to),
                util::name_of(&g, &signer)
            );
        }
    }
    if !matches!(e.entry.body, Body::Handover(_)) && !admin_in_genesis(&g, &signer) {
        // Admins can be added on the ledger, so the genesis alone cannot
        // refuse this; the ledger will, if the key is no admin there.
        eprintln!(
            "warning: {} is not an admin in {}; unless it became one on the ledger, the ledger will refuse this co-signature",
            util::name_of(&g, &signer),
            genesis.display()
        );
    }
    e.cosign(&key);
    let text = serde_json::to_string_pretty(&e)? + "\n";
    util::write_out(Some(target), &text, existing)?;
    eprintln!(
        "co-signed {} entry {}; {} co-signature(s) now",
        e.entry.body.kind(),
        e.id(),
        e.cosignatures.len()
    );
    Ok(())
}
