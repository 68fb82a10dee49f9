//! The on-disk layout of a ledger directory:
//!
//! ```text
//! DIR/WAYBILL-LEDGER   marker: store format and chain id (TOML)
//! DIR/db/              the sled database
//! ```
//!
//! Nothing is created in a directory that lacks the marker, except by
//! [`create_dir`], which refuses a non-empty directory.

use std::fs;
use std::path::{Path, PathBuf};

use waybill_core::genesis::Genesis;

use crate::backend::SledBackend;
use crate::check::CheckReport;
use crate::error::StoreError;
use crate::ledger::Ledger;
use crate::marker::MARKER_FILE;
use crate::open::STORE_FORMAT;

/// A ledger on disk.
pub type DataDir = Ledger<SledBackend>;

fn io(dir: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {e}", dir.display()))
}

/// Creates a new ledger for `genesis` in `dir` (which must not exist or be empty).
pub fn create_dir(dir: &Path, genesis: Genesis) -> Result<DataDir, StoreError> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| io(dir, e))?;
        if entries.next().is_some() {
            return Err(StoreError::AlreadyExists(dir.display().to_string()));
        }
    }
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let backend = SledBackend::open(&db_path(dir))?;
    let ledger = Ledger::create(backend, genesis)?;
    let marker = format!(
        "# A Waybill ledger. Do not edit.\nstore_format = {STORE_FORMAT}\nchain_id = \"{}\"\n",
        ledger.chain_id()
    );
    // The marker goes last: a directory without it was never a usable ledger.
    let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
    fs::write(&tmp, marker).map_err(|e| io(dir, e))?;
    fs::rename(&tmp, dir.join(MARKER_FILE)).map_err(|e| io(dir, e))?;
    Ok(ledger)
}

/// Opens an existing ledger, verifying its tip.
pub fn open_dir(dir: &Path) -> Result<DataDir, StoreError> {
    Ledger::open(existing_backend(dir)?)
}

/// [`open_dir`] and [`Ledger::check`] together, overlapping the two (see
/// [`Ledger::open_and_check`]): what `waybill-node check` runs.
pub fn open_and_check_dir(dir: &Path) -> Result<(DataDir, CheckReport), StoreError> {
    Ledger::open_and_check(existing_backend(dir)?)
}

fn existing_backend(dir: &Path) -> Result<SledBackend, StoreError> {
    let marker = dir.join(MARKER_FILE);
    if !marker.is_file() {
        return Err(StoreError::NotALedger(dir.display().to_string()));
    }
    // sled creates a database wherever it is pointed: open only one that
    // exists, so a damaged directory is reported, never written to.
    let db = db_path(dir);
    if !db.is_dir() || !db.join("conf").is_file() || !db.join("db").is_file() {
        return Err(StoreError::Corrupt(format!(
            "{} has a {MARKER_FILE} marker but no database in {}",
            dir.display(),
            db.display()
        )));
    }
    SledBackend::open(&db_path(dir))
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("db")
}
