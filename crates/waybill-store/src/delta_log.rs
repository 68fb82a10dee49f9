//! The delta log: the deltas of the blocks since the last snapshot, in
//! one append-only file beside the database (and the snapshot).
//!
//! Why not in sled beside the blocks: sled keeps every page it reads or
//! writes in memory until its cache's access queues fill (64 accesses in
//! each of 256 shards), whatever its cache capacity says. Opening a
//! ledger reads every delta since the snapshot (32 MB at the bench's
//! million entries), and those pages stayed resident for the node's
//! life: 40 MB of its 314. Read from a file, they pass through the
//! kernel's page cache only.
//!
//! A record is `height (u64 LE) ‖ length (u32 LE) ‖ delta ‖ CRC-32 of all
//! before it (u32 LE)`, where the delta is the block's state delta with
//! its entries' id prefixes (`delta::Logged`: opening rebuilds the id
//! index from them, not from the block maps in sled, which would stay
//! resident the same way). A block's delta is appended and made durable
//! before the block is committed, so every committed block's delta is
//! whole in the log. A crash between the two leaves a record (or a torn
//! piece of one) after the tip, which opening drops once the ledger has
//! verified its tip ([`DeltaLog::keep_through`]). A snapshot drops the
//! records it covers ([`DeltaLog::drop_through`]). Nothing else removes a
//! record, and a damaged one ends what the log yields without being
//! removed, so opening reports the block whose delta is missing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::StoreError;

/// The log's file name inside the database directory.
pub const DELTA_LOG_FILE: &str = "waybill-deltas";

/// Bytes before a record's delta: its height and length.
const HEAD: usize = 12;
/// Bytes after it: the checksum.
const TAIL: usize = 4;

/// One record's place in the file.
#[derive(Debug, Clone, Copy)]
struct Place {
    height: u64,
    offset: u64,
    len: u32,
}

impl Place {
    fn end(&self) -> u64 {
        self.offset + (HEAD + TAIL) as u64 + u64::from(self.len)
    }
}

/// The log, open for appending (see the module documentation).
#[derive(Debug)]
pub(crate) struct DeltaLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The file, once it exists: opening a store does not create it (a
    /// store refused on opening is left as it was); the first append
    /// does.
    file: Option<File>,
    /// The whole records, in order, heights rising: all the log yields.
    /// The next record goes after the last; bytes beyond it (a torn
    /// record) are overwritten or cut off.
    places: Vec<Place>,
}

impl Inner {
    /// Where the last whole record ends.
    fn end(&self) -> u64 {
        self.places.last().map_or(0, Place::end)
    }
}

fn encode(height: u64, delta: &[u8]) -> Result<Vec<u8>, StoreError> {
    let len = u32::try_from(delta.len()).map_err(|_| {
        StoreError::Backend(format!(
            "the delta of block {height} is {} bytes, more than a record holds",
            delta.len()
        ))
    })?;
    let mut rec = Vec::with_capacity(HEAD + delta.len() + TAIL);
    rec.extend_from_slice(&height.to_le_bytes());
    rec.extend_from_slice(&len.to_le_bytes());
    rec.extend_from_slice(delta);
    let crc = crc32fast::hash(&rec);
    rec.extend_from_slice(&crc.to_le_bytes());
    Ok(rec)
}

/// The whole records at the start of `from`: each complete, its checksum
/// right, its height above the one before. Reading stops at the first
/// that is not. Streamed, a record at a time: the log may hold up to
/// half a snapshot.
fn scan(from: impl Read) -> std::io::Result<Vec<Place>> {
    let mut from = std::io::BufReader::with_capacity(1 << 20, from);
    let mut places: Vec<Place> = Vec::new();
    let mut offset = 0u64;
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; HEAD];
        if !read_whole(&mut from, &mut head)? {
            break;
        }
        let mut h = [0u8; 8];
        h.copy_from_slice(&head[..8]);
        let mut l = [0u8; 4];
        l.copy_from_slice(&head[8..]);
        let (height, len) = (u64::from_le_bytes(h), u32::from_le_bytes(l));
        if places.last().is_some_and(|p| p.height >= height) {
            break;
        }
        // Read in pieces, so that a damaged length reserves nothing.
        body.clear();
        let got = (&mut from).take(u64::from(len)).read_to_end(&mut body)?;
        let mut crc = [0u8; TAIL];
        if got != len as usize || !read_whole(&mut from, &mut crc)? {
            break;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&head);
        hasher.update(&body);
        if hasher.finalize() != u32::from_le_bytes(crc) {
            break;
        }
        let place = Place {
            height,
            offset,
            len,
        };
        offset = place.end();
        places.push(place);
    }
    Ok(places)
}

/// Fills `buf`, or returns false at the end of the file (or of what of it
/// is there: a torn record).
fn read_whole(from: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match from.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl DeltaLog {
    /// Opens the log in `dir`. Reads it through to find its whole
    /// records (checking each one's checksum); changes nothing, and
    /// creates nothing if it is absent.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(DELTA_LOG_FILE);
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("cannot {what} {}: {e}", path.display()))
        };
        let (file, places) = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(mut file) => {
                let places = scan(&mut file).map_err(|e| io("read", e))?;
                (Some(file), places)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, Vec::new()),
            Err(e) => return Err(io("open", e)),
        };
        Ok(DeltaLog {
            path,
            inner: Mutex::new(Inner { file, places }),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend("the delta log's lock is poisoned".into()))
    }

    fn failed(&self, what: &str, e: std::io::Error) -> StoreError {
        StoreError::Backend(format!("cannot {what} {}: {e}", self.path.display()))
    }

    /// Appends block `height`'s delta and makes it durable, first
    /// dropping any record at or above `height` (left by a block whose
    /// commit failed).
    pub(crate) fn append(&self, height: u64, delta: &[u8]) -> Result<(), StoreError> {
        let rec = encode(height, delta)?;
        let mut inner = self.lock()?;
        let keep = inner.places.partition_point(|p| p.height < height);
        inner.places.truncate(keep);
        let at = inner.end();
        let file = match &mut inner.file {
            Some(f) => f,
            None => inner.file.insert(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&self.path)
                    .map_err(|e| self.failed("create", e))?,
            ),
        };
        let write = |f: &mut File| -> std::io::Result<()> {
            f.seek(SeekFrom::Start(at))?;
            f.write_all(&rec)?;
            f.set_len(at + rec.len() as u64)?;
            f.sync_data()
        };
        // On failure, whatever reached the file after `at` is not a
        // record the log yields; the next append writes over it.
        write(file).map_err(|e| self.failed("append to", e))?;
        inner.places.push(Place {
            height,
            offset: at,
            len: u32::try_from(delta.len()).unwrap_or(u32::MAX),
        });
        Ok(())
    }

    /// Calls `f` with each record above `after`, in order.
    pub(crate) fn read_after(
        &self,
        after: u64,
        f: &mut crate::backend::DeltaReader<'_>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let from = inner.places.partition_point(|p| p.height <= after);
        let places = inner.places[from..].to_vec();
        let Some(file) = &mut inner.file else {
            return Ok(());
        };
        let mut buf = Vec::new();
        for p in places {
            buf.resize(p.len as usize, 0);
            file.seek(SeekFrom::Start(p.offset + HEAD as u64))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| self.failed("read", e))?;
            f(p.height, &buf)?;
        }
        Ok(())
    }

    /// Drops every record at or below `height` (a snapshot covers them).
    /// The log is cut to nothing when they are all it holds (the usual
    /// case: a snapshot is taken at the tip); otherwise the records after
    /// are copied to a new log that replaces it atomically.
    pub(crate) fn drop_through(&self, height: u64) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let from = inner.places.partition_point(|p| p.height <= height);
        let (start, end) = match inner.places.get(from) {
            Some(p) => (p.offset, inner.end()),
            None => (0, 0),
        };
        let Some(file) = inner.file.as_mut().filter(|_| from > 0) else {
            return Ok(());
        };
        if start == end {
            file.set_len(0).map_err(|e| self.failed("cut", e))?;
            file.sync_data().map_err(|e| self.failed("sync", e))?;
            inner.places.clear();
            return Ok(());
        }
        let mut rest = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut rest))
            .map_err(|e| self.failed("read", e))?;
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<File> {
            let mut f = File::create(&tmp)?;
            f.write_all(&rest)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            OpenOptions::new().read(true).write(true).open(&self.path)
        };
        inner.file = Some(write().map_err(|e| self.failed("rewrite", e))?);
        inner.places = inner.places[from..]
            .iter()
            .map(|p| Place {
                offset: p.offset - start,
                ..*p
            })
            .collect();
        Ok(())
    }

    /// Drops every record above `tip`, and any torn bytes after the last
    /// whole record: what a crash between appending a delta and
    /// committing its block leaves. Called once opening has verified the
    /// tip.
    pub(crate) fn keep_through(&self, tip: u64) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let keep = inner.places.partition_point(|p| p.height <= tip);
        inner.places.truncate(keep);
        let end = inner.end();
        let Some(file) = &mut inner.file else {
            return Ok(());
        };
        let len = file.metadata().map_err(|e| self.failed("read", e))?.len();
        if len != end {
            file.set_len(end).map_err(|e| self.failed("cut", e))?;
            file.sync_data().map_err(|e| self.failed("sync", e))?;
        }
        Ok(())
    }

    /// The log's size in bytes.
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heights(log: &DeltaLog, after: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        log.read_after(after, &mut |h, d| {
            out.push((h, d.to_vec()));
            Ok(())
        })
        .unwrap();
        out
    }

    fn rec(h: u64) -> (u64, Vec<u8>) {
        (h, vec![h as u8; h as usize * 3])
    }

    #[test]
    fn records_survive_reopening_and_snapshots_drop_what_they_cover() {
        let dir = tempfile::TempDir::new().unwrap();
        let log = DeltaLog::open(dir.path()).unwrap();
        log.keep_through(0).unwrap();
        log.drop_through(3).unwrap();
        assert_eq!(heights(&log, 0), vec![]);
        assert!(
            !dir.path().join(DELTA_LOG_FILE).exists(),
            "opening creates no log; the first append does"
        );
        for h in 1..=5 {
            log.append(h, &rec(h).1).unwrap();
        }
        assert_eq!(heights(&log, 2), (3..=5).map(rec).collect::<Vec<_>>());
        drop(log);
        let log = DeltaLog::open(dir.path()).unwrap();
        assert_eq!(heights(&log, 0), (1..=5).map(rec).collect::<Vec<_>>());
        // Records after the snapshot are kept, renumbered in a new file.
        log.drop_through(3).unwrap();
        assert_eq!(heights(&log, 0), vec![rec(4), rec(5)]);
        log.append(6, &rec(6).1).unwrap();
        drop(log);
        let log = DeltaLog::open(dir.path()).unwrap();
        assert_eq!(heights(&log, 0), vec![rec(4), rec(5), rec(6)]);
        log.drop_through(6).unwrap();
        assert_eq!(heights(&log, 0), vec![]);
        assert_eq!(
            std::fs::metadata(dir.path().join(DELTA_LOG_FILE))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn a_retried_block_replaces_its_record_and_a_crash_leaves_nothing_after_the_tip() {
        let dir = tempfile::TempDir::new().unwrap();
        let log = DeltaLog::open(dir.path()).unwrap();
        for h in 1..=3 {
            log.append(h, &rec(h).1).unwrap();
        }
        // Block 3's commit failed; another block 3 comes.
        log.append(3, b"again").unwrap();
        assert_eq!(heights(&log, 2), vec![(3, b"again".to_vec())]);
        drop(log);
        // A crash in the middle of appending block 4: a torn record.
        let path = dir.path().join(DELTA_LOG_FILE);
        let mut torn = encode(4, &rec(4).1).unwrap();
        torn.truncate(torn.len() - 5);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&torn).unwrap();
        drop(f);
        let log = DeltaLog::open(dir.path()).unwrap();
        assert_eq!(heights(&log, 0).len(), 3, "the torn record is not yielded");
        log.keep_through(2).unwrap();
        assert_eq!(heights(&log, 0), vec![rec(1), rec(2)]);
        log.append(3, &rec(3).1).unwrap();
        drop(log);
        let log = DeltaLog::open(dir.path()).unwrap();
        assert_eq!(heights(&log, 0), (1..=3).map(rec).collect::<Vec<_>>());
    }

    #[test]
    fn a_damaged_record_ends_the_log_and_is_not_removed() {
        let dir = tempfile::TempDir::new().unwrap();
        let log = DeltaLog::open(dir.path()).unwrap();
        for h in 1..=3 {
            log.append(h, &rec(h).1).unwrap();
        }
        drop(log);
        let path = dir.path().join(DELTA_LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = encode(1, &rec(1).1).unwrap().len() + HEAD;
        bytes[second] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let log = DeltaLog::open(dir.path()).unwrap();
        assert_eq!(heights(&log, 0), vec![rec(1)]);
        drop(log);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "opening changed nothing"
        );
    }
}
