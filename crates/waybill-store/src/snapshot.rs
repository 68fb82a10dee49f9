//! The snapshot: the state and indexes at some height, written to a file
//! beside the database so that opening need not replay every block.
//!
//! The state and the lookup indexes live in memory. They are persisted as
//! the deltas plus a snapshot (a file beside the database, replaced
//! atomically, so an old one never lingers), rewritten whenever the deltas
//! written since the last one reach half its size (so snapshots cost
//! amortised constant time per byte of delta, and the deltas kept, which
//! opening replays, stay under about half a snapshot on disk). Deltas a
//! snapshot covers are deleted with it.
//!
//! It is encoded straight into the file in chunks (never whole in
//! memory), and needs only a shared borrow of the ledger, so a node
//! writes it on another thread while blocks are validated.

use serde::{Deserialize, Serialize};
use waybill_core::codec;

use crate::backend::Backend;
use crate::error::StoreError;
use crate::ledger::{Ledger, Snapshots};
use crate::persist::{Stored, StoredRef};

/// Bytes of a snapshot encoded at a time.
const SNAPSHOT_CHUNK: usize = 64 * 1024;

/// The snapshot: state and indexes, and each entry's id prefix with where
/// each block starts (so opening reads no block maps the snapshot covers).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    height: u64,
    state: StoredRef<'a>,
    id_prefixes: &'a [u64],
    block_starts: &'a [u64],
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) height: u64,
    pub(crate) state: Stored,
    pub(crate) id_prefixes: Vec<u64>,
    pub(crate) block_starts: Vec<u64>,
}

impl<B: Backend> Ledger<B> {
    /// Why the last snapshot could not be written, if it failed (the
    /// ledger stays correct without it; opening just replays more).
    pub fn snapshot_error(&self) -> Option<String> {
        self.snapshots().error.clone()
    }

    /// The least bytes of deltas before a snapshot is due (default
    /// `SNAPSHOT_MIN_BYTES`, 4 MiB): lower makes snapshots more frequent
    /// and opening quicker.
    pub fn set_snapshot_min_bytes(&mut self, bytes: u64) {
        self.snapshot_min_bytes = bytes;
    }

    /// Whether appending a block writes a due snapshot itself (the
    /// default). A node turns this off and writes snapshots on another
    /// thread, so that a large one never holds up a commit.
    pub fn set_auto_snapshot(&mut self, on: bool) {
        self.auto_snapshot = on;
    }

    /// Whether enough deltas have accumulated since the last snapshot that
    /// a new one is due: half the last one's size, and at least
    /// [`Ledger::set_snapshot_min_bytes`]. Snapshots then cost, over time, a constant
    /// factor of the deltas written, and opening replays at most that much.
    pub fn snapshot_due(&self) -> bool {
        let s = self.snapshots();
        s.height < self.height() && s.delta_bytes >= (s.bytes / 2).max(self.snapshot_min_bytes)
    }

    /// Writes a snapshot of the state and indexes at the tip and deletes
    /// the deltas it covers. Done as deltas accumulate (see
    /// [`Ledger::set_auto_snapshot`]); call it before a planned shutdown to
    /// make the next open quick. It needs only a shared borrow, so readers
    /// go on meanwhile; snapshots are written one at a time.
    pub fn snapshot(&self) -> Result<(), StoreError> {
        let mut book = self.snapshots();
        let r = self.write_snapshot(&mut book);
        book.error = r.as_ref().err().map(ToString::to_string);
        r
    }

    fn write_snapshot(&self, book: &mut Snapshots) -> Result<(), StoreError> {
        let h = self.height();
        if h == book.height {
            return Ok(());
        }
        let snapshot = SnapshotRef {
            height: h,
            state: self.state.stored(),
            id_prefixes: self.ids.stored().0,
            block_starts: self.ids.stored().1,
        };
        // The snapshot is durable before the deltas it covers go; a crash
        // in between leaves deltas that opening drops. It is encoded
        // straight into the file.
        // Its size before compression: what writing the next one costs,
        // and what `snapshot_due` weighs the deltas against.
        let mut encoded = 0u64;
        self.backend.write_snapshot(&mut |out| {
            // Compressed as one LZ4 frame (see `open.rs` for reading). The
            // encoder's many small writes (a field at a time) go to a
            // buffer in front of the frame, whose own `write` costs too
            // much per call: measured on a 1M-entry state (141 MB), 744
            // ms with the frame taking each field, 379 ms buffered. The
            // compressed blocks are buffered on this side of the
            // backend's `dyn Write`.
            let failed =
                |e: std::io::Error| StoreError::Backend(format!("cannot write a snapshot: {e}"));
            let mut out = std::io::BufWriter::with_capacity(
                SNAPSHOT_CHUNK,
                lz4_flex::frame::FrameEncoder::new(std::io::BufWriter::with_capacity(
                    SNAPSHOT_CHUNK,
                    out,
                )),
            );
            encoded = codec::encode_to_writer("snapshot", &snapshot, &mut out)? as u64;
            let frame = out.into_inner().map_err(|e| failed(e.into_error()))?;
            let mut out = frame
                .finish()
                .map_err(|e| failed(std::io::Error::other(e)))?;
            std::io::Write::flush(&mut out).map_err(failed)?;
            Ok(())
        })?;
        self.backend.drop_deltas_through(h)?;
        book.height = h;
        book.bytes = encoded;
        book.delta_bytes = 0;
        Ok(())
    }
}
