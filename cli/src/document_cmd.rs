//! `waybill document check`: is this file the document an entry
//! recorded? The ledger keeps only salted digests; the salts file that
//! `waybill record` wrote beside the entry holds the salts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use waybill_core::crypto::Hash32;
use waybill_core::terms::{document_digest, DocumentSalts, SALTS_FORMAT};

use crate::util;

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
    let text = util::read_limited(&a.salts, 1 << 20, "salts file")?;
    let salts: DocumentSalts = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a salts file (as `waybill record` writes it)",
            a.salts.display()
        )
    })?;
    if salts.format != SALTS_FORMAT || salts.version != 1 {
        bail!(
            "{} is not a {SALTS_FORMAT} file of version 1",
            a.salts.display()
        );
    }
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
