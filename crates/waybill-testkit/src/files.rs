//! Directory snapshots: every file and directory under a root with the
//! files' bytes, to show that an operation left a directory alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file and directory under a root (relative paths; directories as
/// `None`, files with their bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirListing(pub BTreeMap<PathBuf, Option<Vec<u8>>>);

impl DirListing {
    /// Reads the tree under `dir` (which must exist).
    pub fn take(dir: &Path) -> DirListing {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
            let rd = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
            for entry in rd {
                let entry = entry.expect("directory entry");
                let path = entry.path();
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                if entry.file_type().expect("file type").is_dir() {
                    out.insert(rel, None);
                    walk(root, &path, out);
                } else {
                    let bytes = std::fs::read(&path)
                        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                    out.insert(rel, Some(bytes));
                }
            }
        }
        let mut map = BTreeMap::new();
        walk(dir, dir, &mut map);
        DirListing(map)
    }

    /// How many files and directories there were.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the tree was empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Panics, naming the paths, if `after` differs from `self`.
    pub fn assert_same(&self, after: &DirListing, context: &str) {
        if self == after {
            return;
        }
        let mut diffs = Vec::new();
        for (p, v) in &self.0 {
            match after.0.get(p) {
                None => diffs.push(format!("removed: {}", p.display())),
                Some(w) if w != v => diffs.push(format!("changed: {}", p.display())),
                Some(_) => {}
            }
        }
        for p in after.0.keys() {
            if !self.0.contains_key(p) {
                diffs.push(format!("created: {}", p.display()));
            }
        }
        panic!(
            "{context}: the directory changed:\n  {}",
            diffs.join("\n  ")
        );
    }
}
