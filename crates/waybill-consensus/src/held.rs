//! The blocks this validator precommitted, kept on disk until they are
//! committed.
//!
//! The engine's WAL keeps this validator's votes across a crash, but not
//! the blocks they were for: those live in the loop's memory. A validator
//! killed after its precommit reached its WAL but before it reached its
//! peers comes back, replays the precommit, hears the others' and decides
//! the height itself, holding a certificate no one else holds, for a
//! block it no longer has. Restarting the height then throws its votes
//! away and it votes again, against its own earlier votes; the others
//! wait for its precommit forever. With the block kept here before the
//! precommit is signed, it commits the height after the replay instead,
//! and the others sync the height from it.
//!
//! The same holds for a prevote: a validator that prevoted a block and
//! died may replay a polka for it and must then precommit it, which takes
//! the block (its precommit cosigns the checkpoint after it). So every
//! block this validator finds valid is written before it says so, and
//! synced before its precommit.
//!
//! One file per block, `{height:020}-{hash}.block`, written to a
//! temporary name, synced and renamed; a file that does not decode to a
//! block of that hash is dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::warn;
use waybill_core::block::BlockBytes;
use waybill_core::codec::MAX_BLOCK_BYTES;

use crate::ctx::BlockHash;

/// Where the precommitted blocks are kept (`None`: nowhere, for tests).
pub(crate) struct Held {
    dir: Option<PathBuf>,
}

impl Held {
    pub(crate) fn new(dir: Option<PathBuf>) -> Held {
        Held { dir }
    }

    fn name(height: u64, hash: &BlockHash) -> String {
        format!("{height:020}-{}.block", hash.0.to_hex())
    }

    /// The height a file name says, if it is one of ours.
    fn height_of(name: &str) -> Option<u64> {
        let (height, rest) = name.split_once('-')?;
        rest.ends_with(".block").then_some(())?;
        height.parse().ok()
    }

    /// Keeps `block` (of `height`, hashing to `hash`): written before this
    /// validator votes for it at all, so a process that dies keeps it;
    /// and, `durable`, synced to the disk before it signs a precommit for
    /// it, so a machine that loses power keeps it too.
    pub(crate) fn keep(
        &self,
        height: u64,
        hash: &BlockHash,
        block: &BlockBytes,
        durable: bool,
    ) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let path = dir.join(Self::name(height, hash));
        if path.exists() {
            if durable {
                fs::File::open(&path)?.sync_data()?;
                sync_dir(dir)?;
            }
            return Ok(());
        }
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!("{}.tmp", Self::name(height, hash)));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(block.bytes())?;
        if durable {
            f.sync_data()?;
        }
        fs::rename(&tmp, &path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    }

    /// The blocks kept for heights above `committed`, each checked against
    /// the hash its name gives.
    pub(crate) fn load(&self, committed: u64) -> Vec<(BlockHash, BlockBytes)> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(list) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for f in list.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(height) = Self::height_of(&name) else {
                continue;
            };
            if height <= committed {
                continue;
            }
            let block = fs::read(f.path())
                .map_err(|e| e.to_string())
                .and_then(|b| BlockBytes::decode::<MAX_BLOCK_BYTES>(b).map_err(|e| e.to_string()));
            match block {
                Ok(b) => {
                    let header = &b.block().header;
                    let hash = BlockHash(header.hash());
                    if header.height == height && name == Self::name(height, &hash) {
                        out.push((hash, b));
                    } else {
                        warn!(
                            "dropping {}: not the block its name says",
                            f.path().display()
                        );
                        let _ = fs::remove_file(f.path());
                    }
                }
                Err(e) => {
                    warn!("dropping {}: {e}", f.path().display());
                    let _ = fs::remove_file(f.path());
                }
            }
        }
        out
    }

    /// Forgets the blocks of heights up to `committed` (and any
    /// half-written file).
    pub(crate) fn prune(&self, committed: u64) {
        let Some(dir) = &self.dir else {
            return;
        };
        let Ok(list) = fs::read_dir(dir) else {
            return;
        };
        for f in list.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let stale =
                name.ends_with(".tmp") || Self::height_of(&name).is_some_and(|h| h <= committed);
            if stale {
                let _ = fs::remove_file(f.path());
            }
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use waybill_core::block::Block;
    use waybill_core::crypto::{Hash32, PublicKey};

    use super::*;

    /// An empty block of `height`.
    fn block(height: u64) -> (BlockHash, BlockBytes) {
        let mut b = Block::seal(Hash32([7; 32]), None, 0, PublicKey([1; 32]), Vec::new());
        for t in 2..=height {
            let prev = b.header.clone();
            b = Block::seal(
                Hash32([7; 32]),
                Some(&prev),
                i64::try_from(t).unwrap_or(0),
                PublicKey([1; 32]),
                Vec::new(),
            );
        }
        assert_eq!(b.header.height, height);
        (BlockHash(b.header.hash()), BlockBytes::encode(b))
    }

    #[test]
    fn a_kept_block_is_there_after_a_restart_until_its_height_is_committed() {
        let tmp = tempfile::TempDir::new().expect("a temp dir");
        let dir = tmp.path().join("precommitted");
        let held = Held::new(Some(dir.clone()));
        let (h3, b3) = block(3);
        let (h4, b4) = block(4);
        held.keep(3, &h3, &b3, false).expect("kept");
        held.keep(3, &h3, &b3, true).expect("synced");
        held.keep(4, &h4, &b4, true).expect("kept");
        held.keep(4, &h4, &b4, true)
            .expect("kept twice is kept once");

        // A new process finds them.
        let again = Held::new(Some(dir.clone()));
        let mut found: Vec<BlockHash> = again.load(2).into_iter().map(|(h, _)| h).collect();
        found.sort_by_key(|h| h.0 .0);
        let mut want = vec![h3, h4];
        want.sort_by_key(|h| h.0 .0);
        assert_eq!(found, want);
        assert_eq!(again.load(3).len(), 1, "height 3 is committed");

        // A file that is not its block, or not a block, is dropped.
        fs::write(dir.join(Held::name(5, &h3)), b3.bytes()).expect("write");
        fs::write(dir.join(Held::name(6, &h4)), b"not a block").expect("write");
        fs::write(dir.join("notes.txt"), b"left alone").expect("write");
        assert_eq!(again.load(3).len(), 1);
        assert!(!dir.join(Held::name(5, &h3)).exists());
        assert!(!dir.join(Held::name(6, &h4)).exists());

        again.prune(4);
        assert!(again.load(0).is_empty());
        assert!(dir.join("notes.txt").exists());
        // Nowhere to keep them: nothing kept, nothing found.
        let none = Held::new(None);
        none.keep(3, &h3, &b3, true).expect("nothing to do");
        assert!(none.load(0).is_empty());
    }
}
