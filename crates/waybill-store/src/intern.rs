//! The interner: canonical id strings (lot and shipment ids), each stored
//! once and numbered in the order it first appears.
//!
//! Every name lives in one arena string, with `ends` recording where each
//! ends; a hash table over the numbers finds a name's number without
//! allocating. A table slot carries where its name lies in the arena, so
//! a probe compares text without reading `ends` (a cache miss on a large
//! ledger, on the in-order path of every check and commit).
//!
//! Numbering depends only on the order names are interned, so the same
//! commits always give the same arena and ends: equality compares those
//! (the hash table, with its random seed, is rebuilt from them).

use std::hash::{BuildHasher, Hasher, RandomState};

use hashbrown::HashTable;

/// A slot's text in `arena` (empty if out of range, which a loaded
/// snapshot is checked never to be).
fn slot_text<'a>(arena: &'a str, slot: &Slot) -> &'a str {
    usize::try_from(slot.start)
        .ok()
        .and_then(|s| arena.get(s..s.saturating_add(slot.len as usize)))
        .unwrap_or("")
}

/// Canonical id strings, numbered in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    arena: String,
    /// Where each name ends in the arena.
    ends: Vec<u64>,
    table: HashTable<Slot>,
    hasher: RandomState,
}

/// A name in the hash table: its number, and where it lies in the arena,
/// so a probe compares text without reading `ends` (a cache miss on a
/// large ledger, on the in-order path of every check and commit).
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u64,
    n: u32,
    len: u32,
}

impl Slot {
    /// Whether this slot's name is `text`.
    fn holds(&self, arena: &str, text: &str) -> bool {
        self.len as usize == text.len()
            && usize::try_from(self.start)
                .ok()
                .and_then(|s| arena.get(s..s.saturating_add(text.len())))
                == Some(text)
    }
}

impl Names {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Name `n`; empty if out of range (which a loaded snapshot is
    /// checked never to be).
    pub(crate) fn name(&self, n: u32) -> &str {
        slot_text(&self.arena, &self.slot(n))
    }

    fn hash_str(hasher: &RandomState, s: &str) -> u64 {
        let mut h = hasher.build_hasher();
        h.write(s.as_bytes());
        h.finish()
    }

    fn find_text(&self, text: &str, hash: u64) -> Option<u32> {
        self.table
            .find(hash, |slot| slot.holds(&self.arena, text))
            .map(|slot| slot.n)
    }

    /// Name `n`'s slot.
    fn slot(&self, n: u32) -> Slot {
        let end = self.ends.get(n as usize).copied().unwrap_or(0);
        let start = match (n as usize).checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
            None => 0,
        };
        Slot {
            start,
            n,
            len: u32::try_from(end.saturating_sub(start)).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn find(&self, text: &str) -> Option<u32> {
        self.find_text(text, Names::hash_str(&self.hasher, text))
    }

    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        let hash = Names::hash_str(&self.hasher, text);
        if let Some(n) = self.find_text(text, hash) {
            return n;
        }
        let n = u32::try_from(self.ends.len()).unwrap_or(u32::MAX);
        self.arena.push_str(text);
        self.ends.push(self.arena.len() as u64);
        let slot = self.slot(n);
        let Names {
            arena,
            table,
            hasher,
            ..
        } = self;
        let (arena, hasher) = (&*arena, &*hasher);
        table.insert_unique(hash, slot, |m| Names::hash_str(hasher, slot_text(arena, m)));
        n
    }

    /// The arena and the ends: all a snapshot stores.
    pub(crate) fn parts(&self) -> (&String, &Vec<u64>) {
        (&self.arena, &self.ends)
    }

    /// Names from a snapshot's arena and ends, with the hash table
    /// rebuilt; `None` unless the ends are well formed and no name
    /// repeats.
    pub(crate) fn from_parts(arena: String, ends: Vec<u64>) -> Option<Self> {
        let mut n = Names {
            arena,
            ends,
            ..Names::default()
        };
        if !n.well_formed() || !n.rebuild() {
            return None;
        }
        Some(n)
    }

    /// Rebuilds the hash table (after loading arena and ends). Returns
    /// whether every name is distinct.
    fn rebuild(&mut self) -> bool {
        let mut table = HashTable::with_capacity(self.ends.len());
        let mut distinct = true;
        for n in 0..self.ends.len() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let name = self.name(n);
            let hash = Names::hash_str(&self.hasher, name);
            if table
                .find(hash, |m: &Slot| m.holds(&self.arena, name))
                .is_some()
            {
                distinct = false;
            }
            table.insert_unique(hash, self.slot(n), |m| {
                Names::hash_str(&self.hasher, slot_text(&self.arena, m))
            });
        }
        self.table = table;
        distinct
    }

    /// Whether the ends are in order, within the arena and on character
    /// boundaries, and no name repeats (checked when loading a snapshot).
    fn well_formed(&self) -> bool {
        let mut start = 0u64;
        for &end in &self.ends {
            let ok =
                end >= start && usize::try_from(end).is_ok_and(|e| self.arena.is_char_boundary(e));
            if !ok {
                return false;
            }
            start = end;
        }
        start == self.arena.len() as u64
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Self) -> bool {
        self.arena == other.arena && self.ends == other.ends
    }
}

impl Eq for Names {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_prefix_each_other_are_told_apart_before_and_after_a_rebuild() {
        let mut names = Names::default();
        let texts = ["L1", "L12", "L", "X-L1", "L123"];
        let numbers: Vec<u32> = texts[..4].iter().map(|t| names.intern(t)).collect();
        assert_eq!(numbers, [0, 1, 2, 3]);
        let found =
            |names: &Names| -> Vec<Option<u32>> { texts.iter().map(|t| names.find(t)).collect() };
        assert_eq!(found(&names), [Some(0), Some(1), Some(2), Some(3), None]);
        assert_eq!(names.intern("L12"), 1, "interning again finds the name");
        assert!(names.rebuild());
        assert_eq!(found(&names), [Some(0), Some(1), Some(2), Some(3), None]);
        // A repeated name in loaded data is noticed.
        names.arena.push_str("L1");
        names.ends.push(names.arena.len() as u64);
        assert!(!names.rebuild());
    }
}
