//! The ingest scenario: signed entries, as bytes, through decode, batch
//! signature verification, the rules, and flushed one-batch-per-block
//! commits, on one node with no network.
//!
//! Two stages run at once, as in a node: one thread decodes and seals the
//! next block and checks its contents (ids, Merkle root, every signature,
//! on all cores), while the caller's thread applies the rules to the
//! previous block and commits it.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use waybill_core::block::{Block, Header};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::SignedEntry;
use waybill_core::genesis::ChainId;
use waybill_store::{Backend, Checked, Ledger};

/// Makes a block's commit certificate.
pub type Certifier<'a> = dyn Fn(&Header) -> waybill_core::block::CommitCertificate + Sync + 'a;

/// What an ingest run measured.
pub struct IngestRun {
    /// Entries per second, decode to flushed commit.
    pub entries_per_s: f64,
    /// Store keys added per entry (full scan before and after).
    pub keys_per_entry: f64,
    /// sled's size on disk per entry.
    pub disk_bytes_per_entry: f64,
}

/// Appends `encoded` entries in blocks of `block_entries` to `ledger`,
/// pipelined. Blocks are stamped `t0 + 1 s`, `t0 + 2 s`, ...
pub fn append_pipelined<B: Backend>(
    ledger: &mut Ledger<B>,
    encoded: &[Vec<u8>],
    block_entries: usize,
    proposer: PublicKey,
    t0: i64,
    certify: Option<&Certifier<'_>>,
) -> Result<()> {
    let chain_id: ChainId = ledger.chain_id();
    let tip: Option<Header> = ledger.tip().cloned();
    let start_time = tip.as_ref().map_or(t0, |h| h.time_ms);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Result<(Block, Checked)>>(2);
        s.spawn(move || {
            let mut prev = tip;
            let mut time_ms = start_time;
            for chunk in encoded.chunks(block_entries) {
                let block = (|| -> Result<(Block, Checked)> {
                    let entries = chunk
                        .iter()
                        .map(|b| SignedEntry::from_canonical_bytes(b))
                        .collect::<Result<Vec<_>, _>>()
                        .context("decoding an entry")?;
                    time_ms += 1_000;
                    let block = Block::seal(chain_id, prev.as_ref(), time_ms, proposer, entries);
                    let checked = waybill_store::check_contents(&block)
                        .with_context(|| format!("checking block {}", block.header.height))?;
                    Ok((block, checked))
                })();
                if let Ok((b, _)) = &block {
                    prev = Some(b.header.clone());
                }
                let failed = block.is_err();
                if tx.send(block).is_err() || failed {
                    return;
                }
            }
        });
        for _ in encoded.chunks(block_entries) {
            let (block, checked) = rx
                .recv()
                .map_err(|_| anyhow!("the block sealing thread stopped"))??;
            let height = block.header.height;
            let cert = certify.map(|f| f(&block.header));
            let validated = ledger
                .validate_checked(&block, checked)
                .with_context(|| format!("validating block {height}"))?;
            ledger
                .append_validated(block, cert, Some(validated))
                .with_context(|| format!("appending block {height}"))?;
        }
        Ok(())
    })
}

/// One ingest run into a fresh sled ledger in a temporary directory,
/// followed by a full `check()` (so a fast wrong answer fails the run).
pub fn run(
    genesis: &waybill_core::genesis::Genesis,
    proposer: PublicKey,
    encoded: &[Vec<u8>],
    block_entries: usize,
    t0: i64,
) -> Result<IngestRun> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    run_in(
        &dir.path().join("ledger"),
        genesis,
        proposer,
        encoded,
        block_entries,
        t0,
        None,
        true,
    )
}

/// [`run`] into `path` (which must not exist), leaving the ledger there;
/// with `certify`, every block gets a certificate; `check: false` skips
/// the in-process `check()` (for callers that check otherwise).
#[allow(clippy::too_many_arguments)]
pub fn run_in(
    path: &Path,
    genesis: &waybill_core::genesis::Genesis,
    proposer: PublicKey,
    encoded: &[Vec<u8>],
    block_entries: usize,
    t0: i64,
    certify: Option<&Certifier<'_>>,
    check: bool,
) -> Result<IngestRun> {
    let mut ledger = waybill_store::create_dir(path, genesis.clone())
        .context("creating the ledger directory")?;
    let keys_before = ledger
        .backend()
        .scan_prefix(&[])
        .context("scanning the new store")?
        .len();
    let start = Instant::now();
    append_pipelined(&mut ledger, encoded, block_entries, proposer, t0, certify)?;
    let elapsed = start.elapsed();

    let n = encoded.len() as u64;
    let blocks = encoded.len().div_ceil(block_entries) as u64;
    if ledger.height() != blocks {
        bail!(
            "the ingested ledger has height {}; {blocks} blocks were appended",
            ledger.height()
        );
    }
    if check {
        let report = ledger
            .check()
            .context("the ingested ledger fails its integrity check")?;
        if report.entries != n || report.blocks != blocks {
            bail!(
                "the ingested ledger holds {} entries in {} blocks; {n} entries in {blocks} blocks were appended",
                report.entries,
                report.blocks,
            );
        }
    }
    let keys_after = ledger
        .backend()
        .scan_prefix(&[])
        .context("scanning the store")?
        .len();
    let disk = ledger
        .backend()
        .size_on_disk()
        .context("sled size on disk")?;
    Ok(IngestRun {
        entries_per_s: n as f64 / elapsed.as_secs_f64(),
        keys_per_entry: keys_after.saturating_sub(keys_before) as f64 / n as f64,
        disk_bytes_per_entry: disk as f64 / n as f64,
    })
}
