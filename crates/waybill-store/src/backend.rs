//! Ordered key-value backends: in memory (tests) and sled (disk).
//!
//! The ledger needs only point reads, prefix scans, and one atomic,
//! durable batch per block, so a second backend is one file away.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use crate::delta_log::DeltaLog;
use crate::error::StoreError;

/// One atomic set of writes.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// How many writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Key-value pairs from a scan.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An ordered key-value store.
pub trait Backend: Send + Sync {
    /// A point read.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// A point read that lends the value to `f` instead of copying it
    /// (for taking a slice of a large value).
    fn read<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, StoreError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError>;
    /// Applies the batch atomically and makes it durable before returning.
    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// The snapshot: one large value kept beside the ordered store, so
    /// replacing it frees the old one at once.
    fn read_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// A fresh reader over the snapshot from its start, so that a large
    /// snapshot can be decoded without a buffer of its size. By default,
    /// over [`Backend::read_snapshot`]'s bytes.
    fn snapshot_reader(&self) -> Result<Option<SnapshotReader>, StoreError> {
        Ok(self
            .read_snapshot()?
            .map(|b| Box::new(std::io::Cursor::new(b)) as SnapshotReader))
    }
    /// Replaces the snapshot atomically and durably with what `write`
    /// writes (streamed, so a large snapshot needs no buffer of its
    /// size); returns its length in bytes. If `write` fails, the last
    /// snapshot stays.
    fn write_snapshot(&self, write: &mut SnapshotWriter<'_>) -> Result<u64, StoreError>;
    /// Appends block `height`'s state delta to the delta log (the deltas
    /// since the snapshot, kept beside the ordered store: see
    /// `delta_log.rs`) and makes it durable, first dropping any record at
    /// or above `height`.
    fn append_delta(&self, height: u64, delta: &[u8]) -> Result<(), StoreError>;
    /// Calls `f` with each logged delta above `after`, in order of height.
    fn read_deltas(&self, after: u64, f: &mut DeltaReader<'_>) -> Result<(), StoreError>;
    /// Drops the logged deltas at or below `height` (a snapshot covers
    /// them).
    fn drop_deltas_through(&self, height: u64) -> Result<(), StoreError>;
    /// Drops the logged deltas above `tip` (written for a block whose
    /// commit never happened).
    fn drop_deltas_after(&self, tip: u64) -> Result<(), StoreError>;
}

/// Takes each logged delta in turn (see [`Backend::read_deltas`]).
pub type DeltaReader<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StoreError> + 'a;

/// Reads a snapshot's bytes (see [`Backend::snapshot_reader`]).
pub type SnapshotReader = Box<dyn std::io::Read + Send>;

/// Writes a snapshot's bytes to the writer it is given.
pub type SnapshotWriter<'a> = dyn FnMut(&mut dyn std::io::Write) -> Result<(), StoreError> + 'a;

/// An in-memory backend.
#[derive(Debug, Default)]
pub struct MemBackend {
    map: Mutex<Map>,
    snapshot: Mutex<Option<Vec<u8>>>,
    deltas: Mutex<Deltas>,
}

/// The in-memory delta log: (height, delta), heights rising.
type Deltas = Vec<(u64, Vec<u8>)>;

impl MemBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Map>, StoreError> {
        self.map
            .lock()
            .map_err(|_| StoreError::Backend("in-memory store lock poisoned".into()))
    }

    fn deltas(&self) -> Result<std::sync::MutexGuard<'_, Deltas>, StoreError> {
        self.deltas
            .lock()
            .map_err(|_| StoreError::Backend("in-memory store lock poisoned".into()))
    }
}

impl Backend for MemBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn read<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, StoreError> {
        Ok(self.lock()?.get(key).map(|v| f(v)))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        Ok(self
            .lock()?
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn read_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .snapshot
            .lock()
            .map_err(|_| StoreError::Backend("in-memory store lock poisoned".into()))?
            .clone())
    }

    fn write_snapshot(&self, write: &mut SnapshotWriter<'_>) -> Result<u64, StoreError> {
        let mut bytes = Vec::new();
        write(&mut bytes)?;
        let len = bytes.len() as u64;
        *self
            .snapshot
            .lock()
            .map_err(|_| StoreError::Backend("in-memory store lock poisoned".into()))? =
            Some(bytes);
        Ok(len)
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        for (k, v) in batch.ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn append_delta(&self, height: u64, delta: &[u8]) -> Result<(), StoreError> {
        let mut deltas = self.deltas()?;
        deltas.retain(|(h, _)| *h < height);
        deltas.push((height, delta.to_vec()));
        Ok(())
    }

    fn read_deltas(&self, after: u64, f: &mut DeltaReader<'_>) -> Result<(), StoreError> {
        let deltas = self.deltas()?.clone();
        for (h, d) in deltas.iter().filter(|(h, _)| *h > after) {
            f(*h, d)?;
        }
        Ok(())
    }

    fn drop_deltas_through(&self, height: u64) -> Result<(), StoreError> {
        self.deltas()?.retain(|(h, _)| *h > height);
        Ok(())
    }

    fn drop_deltas_after(&self, tip: u64) -> Result<(), StoreError> {
        self.deltas()?.retain(|(h, _)| *h <= tip);
        Ok(())
    }
}

/// sled's page cache. The state and indexes live in the ledger's own
/// memory, so sled caches only recently read blocks; its default (1 GiB)
/// would dominate a node's memory.
const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The sled backend: one tree, one `apply_batch` and one `flush` per
/// commit; the snapshot and the delta log are files beside it.
#[derive(Debug, Clone)]
pub struct SledBackend {
    db: sled::Db,
    dir: std::path::PathBuf,
    deltas: std::sync::Arc<DeltaLog>,
}

/// The snapshot's file name inside the database directory.
pub const SNAPSHOT_FILE: &str = "waybill-snapshot";

fn sled_err(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledBackend {
    /// Opens (or creates) a sled database in `dir`.
    ///
    /// sled holds an exclusive file lock while open, and may release it a
    /// moment after a previous handle is dropped, so a busy lock is retried
    /// for up to a second before it is reported as in use.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let mut tries = 0;
        loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(SLED_CACHE_BYTES)
                .mode(sled::Mode::HighThroughput)
                .open()
            {
                Ok(db) => {
                    // Opened once sled holds its lock on the directory.
                    let deltas = std::sync::Arc::new(DeltaLog::open(dir)?);
                    return Ok(SledBackend {
                        db,
                        dir: dir.to_path_buf(),
                        deltas,
                    });
                }
                Err(sled::Error::Io(e)) if e.to_string().contains("lock") => {
                    tries += 1;
                    if tries >= 20 {
                        return Err(StoreError::Backend(format!(
                            "the database in {} is in use by another process (a running node or command); stop it first",
                            dir.display()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(StoreError::Backend(format!(
                        "cannot open the database in {}: {e}",
                        dir.display()
                    )))
                }
            }
        }
    }

    /// Bytes on disk (sled's files, the snapshot and the delta log).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let snapshot = std::fs::metadata(self.dir.join(SNAPSHOT_FILE)).map_or(0, |m| m.len());
        Ok(self.db.size_on_disk().map_err(sled_err)? + snapshot + self.deltas.len()?)
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(sled_err)?.map(|v| v.to_vec()))
    }

    fn read<T>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, StoreError> {
        Ok(self.db.get(key).map_err(sled_err)?.map(|v| f(&v)))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(sled_err))
            .collect()
    }

    fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.db.apply_batch(b).map_err(sled_err)?;
        self.db.flush().map_err(sled_err)?;
        Ok(())
    }

    fn read_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Backend(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn snapshot_reader(&self) -> Result<Option<SnapshotReader>, StoreError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        match std::fs::File::open(&path) {
            Ok(f) => Ok(Some(Box::new(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Backend(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn write_snapshot(&self, write: &mut SnapshotWriter<'_>) -> Result<u64, StoreError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        let tmp = self.dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("cannot {what} {}: {e}", tmp.display()))
        };
        let f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
        let mut out = Counting {
            inner: std::io::BufWriter::with_capacity(SNAPSHOT_WRITE_BUFFER, f),
            written: 0,
        };
        if let Err(e) = write(&mut out) {
            // The last snapshot stays; the partial one goes.
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let len = out.written;
        let f = out
            .inner
            .into_inner()
            .map_err(|e| io("write", e.into_error()))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| io("rename", e))?;
        // The rename is durable once the directory is.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync the directory of", e))?;
        Ok(len)
    }

    fn append_delta(&self, height: u64, delta: &[u8]) -> Result<(), StoreError> {
        self.deltas.append(height, delta)
    }

    fn read_deltas(&self, after: u64, f: &mut DeltaReader<'_>) -> Result<(), StoreError> {
        self.deltas.read_after(after, f)
    }

    fn drop_deltas_through(&self, height: u64) -> Result<(), StoreError> {
        self.deltas.drop_through(height)
    }

    fn drop_deltas_after(&self, tip: u64) -> Result<(), StoreError> {
        self.deltas.keep_through(tip)
    }
}

/// Bytes a snapshot is written in.
const SNAPSHOT_WRITE_BUFFER: usize = 1 << 20;

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` in pieces, then fails if `fail`.
    fn writer(
        bytes: &[u8],
        fail: bool,
    ) -> impl FnMut(&mut dyn std::io::Write) -> Result<(), StoreError> + '_ {
        move |out| {
            for piece in bytes.chunks(7) {
                out.write_all(piece)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
            }
            if fail {
                return Err(StoreError::Backend("the encoder failed".into()));
            }
            Ok(())
        }
    }

    fn streamed_snapshots_replace_the_last_only_when_whole(backend: &impl Backend) {
        assert_eq!(backend.read_snapshot().unwrap(), None);
        assert!(backend.snapshot_reader().unwrap().is_none());
        let first: Vec<u8> = (0..100u8).collect();
        assert_eq!(
            backend.write_snapshot(&mut writer(&first, false)).unwrap(),
            100
        );
        assert_eq!(backend.read_snapshot().unwrap(), Some(first.clone()));
        let second = vec![9u8; 3 * SNAPSHOT_WRITE_BUFFER / 2];
        assert!(backend.write_snapshot(&mut writer(&second, true)).is_err());
        assert_eq!(backend.read_snapshot().unwrap(), Some(first));
        assert_eq!(
            backend.write_snapshot(&mut writer(&second, false)).unwrap(),
            second.len() as u64
        );
        assert_eq!(backend.read_snapshot().unwrap(), Some(second.clone()));
        let mut streamed = Vec::new();
        std::io::Read::read_to_end(
            &mut backend.snapshot_reader().unwrap().unwrap(),
            &mut streamed,
        )
        .unwrap();
        assert_eq!(streamed, second);
    }

    #[test]
    fn a_snapshot_is_streamed_and_a_failed_one_keeps_the_last() {
        streamed_snapshots_replace_the_last_only_when_whole(&MemBackend::default());
        let dir = tempfile::TempDir::new().unwrap();
        let sled = SledBackend::open(dir.path()).unwrap();
        streamed_snapshots_replace_the_last_only_when_whole(&sled);
        assert!(sled.write_snapshot(&mut writer(&[1; 10], true)).is_err());
        assert!(
            !dir.path().join(format!("{SNAPSHOT_FILE}.tmp")).exists(),
            "a failed snapshot leaves no partial file"
        );
    }
}
