//! `waybill document …`: is this file the document an entry recorded?
//! The ledger keeps only salted digests; the salts file that `waybill
//! record` wrote beside the entry holds the salts. `check` compares a
//! file; `put`, `get` and `erase` keep the salts on a node for the
//! entry's author and auditors, fetch them with a signed request, and
//! make the node forget them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use reqwest::Method;
use waybill_core::crypto::Hash32;
use waybill_core::entry::EntryId;
use waybill_core::terms::{document_digest, DocumentSalts, SALTS_FORMAT};

use crate::terms_cmd::Signer;
use crate::util;

/// `waybill document put`.
#[derive(Args, Debug)]
pub struct PutArgs {
    /// The salts file written with the entry (`ENTRY.json.salts.json`).
    #[arg(long, value_name = "FILE")]
    salts: PathBuf,
    /// The entry: its file, or its id (64 hex digits).
    #[arg(long, value_name = "ENTRY")]
    entry: String,
    #[command(flatten)]
    signer: Signer,
}

/// `waybill document get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// The entry's id (64 hex digits) or file.
    entry: String,
    #[command(flatten)]
    signer: Signer,
    /// Where to write the salts file (refuses to overwrite).
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
}

/// `waybill document erase`.
#[derive(Args, Debug)]
pub struct EraseArgs {
    /// The entry's id (64 hex digits) or file.
    entry: String,
    #[command(flatten)]
    signer: Signer,
}

/// An entry named by its id or its file.
fn entry_id(text: &str) -> Result<EntryId> {
    if let Ok(id) = text.parse::<Hash32>() {
        return Ok(id);
    }
    let path = Path::new(text);
    if !path.exists() {
        bail!("`{text}` is neither an entry id (64 hex digits) nor an entry file");
    }
    Ok(util::read_entry(path)?.id())
}

/// Keeps a salts file on a node, for the entry's author and auditors.
pub fn put(a: &PutArgs) -> Result<ExitCode> {
    let salts = read_salts(&a.salts)?;
    let id = entry_id(&a.entry)?;
    let hex = id.to_hex();
    let (node, _, _) = a.signer.request(
        Method::PUT,
        &["v1", "entries", &hex, "salts"],
        serde_json::to_vec(&salts)?,
        &format!("the document salts of entry {}", id.short()),
    )?;
    println!(
        "the node at {} keeps the salts of {} document(s) of entry {}; it gives them only to \
         the entry's author and auditors, on signed requests",
        node.url(),
        salts.documents.len(),
        id.short()
    );
    Ok(ExitCode::SUCCESS)
}

/// Fetches an entry's salts file from a node with a signed request.
pub fn get(a: &GetArgs) -> Result<ExitCode> {
    let existing = util::Existing::Refuse;
    util::refuse_existing(&a.out, existing)?;
    let id = entry_id(&a.entry)?;
    let hex = id.to_hex();
    let (node, _, reply) = a.signer.request(
        Method::GET,
        &["v1", "entries", &hex, "salts"],
        Vec::new(),
        &format!("the request for the document salts of entry {}", id.short()),
    )?;
    let v = reply
        .json()
        .map_err(|e| anyhow!("the node's answer: {e}"))?;
    let salts: DocumentSalts = serde_json::from_value(v.get("salts").cloned().unwrap_or_default())
        .context("the node's answer holds no salts file")?;
    check_format(&salts, &format!("the node at {}", node.url()))?;
    util::write_out(
        Some(&a.out),
        &(serde_json::to_string_pretty(&salts)? + "\n"),
        existing,
    )?;
    for d in &salts.documents {
        println!(
            "{} {}{}  sha256 {} salted",
            d.flag,
            d.file,
            d.label
                .as_ref()
                .map(|l| format!(" `{l}`"))
                .unwrap_or_default(),
            d.sha256.to_hex()
        );
    }
    println!(
        "wrote the salts of {} document(s) of entry {} to {}; check a file with `waybill document check FILE --salts {}`",
        salts.documents.len(),
        id.short(),
        a.out.display(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes a node forget an entry's salts.
pub fn erase(a: &EraseArgs) -> Result<ExitCode> {
    let id = entry_id(&a.entry)?;
    let hex = id.to_hex();
    let (node, _, reply) = a.signer.request(
        Method::DELETE,
        &["v1", "entries", &hex, "salts"],
        Vec::new(),
        &format!("the erasure of the document salts of entry {}", id.short()),
    )?;
    let erased = reply.erased();
    if erased {
        println!(
            "the node at {} forgot the document salts of entry {}",
            node.url(),
            id.short()
        );
    } else {
        println!(
            "the node at {} kept no document salts of entry {}",
            node.url(),
            id.short()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a salts file.
fn read_salts(path: &Path) -> Result<DocumentSalts> {
    let text = util::read_limited(path, 1 << 20, "salts file")?;
    let salts: DocumentSalts = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a salts file (as `waybill record` writes it)",
            path.display()
        )
    })?;
    check_format(&salts, &path.display().to_string())?;
    Ok(salts)
}

fn check_format(salts: &DocumentSalts, source: &str) -> Result<()> {
    if salts.format != SALTS_FORMAT || salts.version != 1 {
        bail!("{source} is not a {SALTS_FORMAT} file of version 1");
    }
    Ok(())
}

/// The most bytes a document may have here.
const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// `waybill document check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The document file.
    file: PathBuf,
    /// The salts file written with the entry (`ENTRY.json.salts.json`).
    #[arg(long, value_name = "FILE")]
    salts: PathBuf,
    /// The digest as the ledger shows it (64 hex digits); default: any
    /// document in the salts file.
    #[arg(long, value_name = "HEX")]
    digest: Option<Hash32>,
}

/// Checks a document against the salted digests in a salts file.
pub fn check(a: &CheckArgs) -> Result<ExitCode> {
    let salts = read_salts(&a.salts)?;
    let bytes = util::read_limited(&a.file, MAX_DOCUMENT_BYTES, "document")?;
    let found = salts.documents.iter().find(|d| {
        a.digest.is_none_or(|want| want == d.sha256) && document_digest(&d.salt, &bytes) == d.sha256
    });
    match found {
        Some(d) => {
            println!(
                "MATCH: {} is the document recorded as {} ({}{}), sha256 {} salted",
                a.file.display(),
                d.file,
                d.flag,
                d.label
                    .as_ref()
                    .map(|l| format!(" `{l}`"))
                    .unwrap_or_default(),
                d.sha256.to_hex()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            println!(
                "NO MATCH: {} is not {} recorded with the salts in {}",
                a.file.display(),
                match &a.digest {
                    Some(d) => format!("the document {}", d.to_hex()),
                    None => "any document".into(),
                },
                a.salts.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}
