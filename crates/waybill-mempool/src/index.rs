//! The pool's indexes by key hash: which waiting entries write, or read
//! from the committed state, a key with a given hash.
//!
//! Keys are hashed once, with the pool's randomly keyed
//! [`RandomState`](std::hash::RandomState) (lot and shipment ids are
//! chosen by members); the indexes are keyed by that hash through
//! [`Prehashed`], which does not hash again. Each hash files the sequence
//! numbers of its entries in ascending order ([`Seqs`]), a single one
//! without an allocation.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A [`Hasher`] for keys that are hashes already (made with the pool's
/// randomly keyed [`RandomState`](std::hash::RandomState)).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type ByHash<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// Sequence numbers in ascending order, a single one without an
/// allocation (most keys have one writer, or one reader from the state).
#[derive(Debug, Clone)]
pub(crate) enum Seqs {
    One(u64),
    Many(VecDeque<u64>),
}

impl Seqs {
    /// Adds `seq` in order (again, if it is there already).
    pub(crate) fn insert(&mut self, seq: u64) {
        match self {
            Seqs::One(s) => {
                let mut many = VecDeque::with_capacity(4);
                many.push_back(*s);
                let i = usize::from(*s <= seq);
                many.insert(i, seq);
                *self = Seqs::Many(many);
            }
            Seqs::Many(m) => {
                let i = m.partition_point(|&s| s <= seq);
                m.insert(i, seq);
            }
        }
    }

    /// Removes `seq` once; whether none is left.
    pub(crate) fn remove(&mut self, seq: u64) -> bool {
        match self {
            Seqs::One(s) => *s == seq,
            Seqs::Many(m) => {
                if let Ok(i) = m.binary_search(&seq) {
                    m.remove(i);
                }
                m.is_empty()
            }
        }
    }

    /// Those before `seq`, last first.
    pub(crate) fn before(&self, seq: u64) -> impl Iterator<Item = u64> + '_ {
        let (one, many) = match self {
            Seqs::One(s) => ((*s < seq).then_some(*s), None),
            Seqs::Many(m) => (None, Some(m.range(..m.partition_point(|&s| s < seq)).rev())),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }

    /// All of them.
    pub(crate) fn all(&self) -> impl Iterator<Item = u64> + '_ {
        self.before(u64::MAX)
    }

    /// Those after `seq`.
    pub(crate) fn after(&self, seq: u64) -> impl Iterator<Item = u64> + '_ {
        let (one, many) = match self {
            Seqs::One(s) => ((*s > seq).then_some(*s), None),
            Seqs::Many(m) => (None, Some(m.range(m.partition_point(|&s| s <= seq)..))),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }
}

/// Adds `seq` to the entries filed under `hash`.
pub(crate) fn file(index: &mut ByHash<Seqs>, hash: u64, seq: u64) {
    match index.entry(hash) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().insert(seq),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Seqs::One(seq));
        }
    }
}

/// Removes `seq` once from the entries filed under `hash`.
pub(crate) fn unfile(index: &mut ByHash<Seqs>, hash: u64, seq: u64) {
    if index.get_mut(&hash).is_some_and(|s| s.remove(seq)) {
        index.remove(&hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_stay_in_order() {
        let mut s = Seqs::One(5);
        for x in [9, 7, 9, 1] {
            s.insert(x);
        }
        assert_eq!(s.all().collect::<Vec<_>>(), vec![9, 9, 7, 5, 1]);
        assert_eq!(s.before(9).collect::<Vec<_>>(), vec![7, 5, 1]);
        assert_eq!(s.before(10).collect::<Vec<_>>(), vec![9, 9, 7, 5, 1]);
        assert_eq!(s.after(5).collect::<Vec<_>>(), vec![7, 9, 9]);
        assert!(!s.remove(9) && !s.remove(4));
        assert_eq!(s.all().collect::<Vec<_>>(), vec![9, 7, 5, 1]);
        for x in [9, 7, 5] {
            assert!(!s.remove(x));
        }
        assert!(s.remove(1));
        let mut one = Seqs::One(3);
        assert_eq!(one.before(3).count() + one.after(3).count(), 0);
        assert!(!one.remove(2) && one.remove(3));
    }
}
