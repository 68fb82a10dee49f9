//! The index's sparse Merkle tree: a binary tree over 256-bit key hashes,
//! hashed as the Diem / `jmt` sparse Merkle tree so that its roots are
//! that crate's roots and its published vectors hold for ours.
//!
//! - An empty subtree hashes to the placeholder,
//!   `"SPARSE_MERKLE_PLACEHOLDER_HASH__"` in ASCII.
//! - A subtree holding one key is that key's leaf, wherever it sits:
//!   `H("JMT::LeafNode" || key hash || H(value))`.
//! - Any other subtree is `H("JMT::IntrnalNode" || left || right)`, the
//!   key's bits read from the most significant bit of its first byte.
//!
//! Why not the `jmt` crate itself: its tree is 16-ary on disk and
//! rebuilds a binary tree in each node on every change; a block of 1,300
//! entries cost 45 ms against 300,000 keys, 30% of the network's
//! saturation on the consensus path. This tree keeps the binary nodes and
//! their hashes, so a block costs one hash per node on the changed paths.
//!
//! Keys are only ever added or changed, never removed (what touched a
//! key stays touched), so nodes are never freed: an update lists the
//! nodes it adds and the ones it changes, and installing it writes them.

use sha2::{Digest, Sha256};

use super::{IndexError, Touched};

/// The hash of an empty subtree.
pub(crate) const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";
const LEAF_TAG: &[u8] = b"JMT::LeafNode";
const INTERNAL_TAG: &[u8] = b"JMT::IntrnalNode";
/// Bits in a key hash: no path is longer.
pub(crate) const KEY_BITS: usize = 256;

/// The hash of a value's bytes, as a leaf commits to it.
pub(crate) fn value_hash(value: &Touched) -> [u8; 32] {
    Sha256::digest(value.to_bytes()).into()
}

/// A leaf's hash.
pub(crate) fn leaf_hash(key: &[u8; 32], value_hash: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(LEAF_TAG)
        .chain_update(key)
        .chain_update(value_hash)
        .finalize()
        .into()
}

/// An internal node's hash.
pub(crate) fn internal_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(INTERNAL_TAG)
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// Bit `depth` of `key` (0: the first byte's most significant bit).
pub(crate) fn bit(key: &[u8; 32], depth: usize) -> bool {
    key[depth / 8] & (0x80 >> (depth % 8)) != 0
}

/// How a parent names a child: nothing, a leaf or an internal node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Empty,
    Leaf(u32),
    Internal(u32),
}

#[derive(Debug, Clone)]
struct Leaf {
    key: [u8; 32],
    value: Touched,
    hash: [u8; 32],
}

impl Leaf {
    fn new(key: [u8; 32], value: Touched) -> Leaf {
        Leaf {
            key,
            value,
            hash: leaf_hash(&key, &value_hash(&value)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Internal {
    hash: [u8; 32],
    left: Ref,
    right: Ref,
}

/// The tree as of one height.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    leaves: Vec<Leaf>,
    internals: Vec<Internal>,
    root: Ref,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            leaves: Vec::new(),
            internals: Vec::new(),
            root: Ref::Empty,
        }
    }
}

/// A batch's changes, worked out against one tree and not yet written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patch {
    /// The tree's sizes it was made against.
    base: (usize, usize),
    new_leaves: Vec<Leaf>,
    changed_leaves: Vec<(u32, Leaf)>,
    new_internals: Vec<Internal>,
    changed_internals: Vec<(u32, Internal)>,
    root: Option<Ref>,
    root_hash: [u8; 32],
}

impl Patch {
    /// The root the tree has once the patch is installed.
    pub(crate) fn root_hash(&self) -> [u8; 32] {
        self.root_hash
    }

    fn add_leaf(&mut self, leaf: Leaf) -> Result<(Ref, [u8; 32]), IndexError> {
        let hash = leaf.hash;
        let at = index_of(self.base.0 + self.new_leaves.len())?;
        self.new_leaves.push(leaf);
        Ok((Ref::Leaf(at), hash))
    }

    fn add_internal(&mut self, node: Internal) -> Result<(Ref, [u8; 32]), IndexError> {
        let at = index_of(self.base.1 + self.new_internals.len())?;
        self.new_internals.push(node);
        Ok((Ref::Internal(at), node.hash))
    }
}

fn index_of(n: usize) -> Result<u32, IndexError> {
    u32::try_from(n).map_err(|_| IndexError::Tree("more than 2^32 nodes".into()))
}

/// A leaf already in the tree that a batch moves down.
#[derive(Clone, Copy)]
struct Moved {
    key: [u8; 32],
    at: u32,
    hash: [u8; 32],
}

/// One key's path: the leaf at its end (if any) and the siblings on the
/// way, from the root down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Path {
    /// The leaf where the path ends: the key's own, or another key's that
    /// proves the key absent. `None`: the path ends in an empty subtree.
    pub(crate) leaf: Option<([u8; 32], Touched)>,
    /// The sibling hashes, from the root down.
    pub(crate) siblings: Vec<[u8; 32]>,
}

impl Tree {
    /// How many keys it holds.
    pub(crate) fn len(&self) -> usize {
        self.leaves.len()
    }

    /// The root hash.
    pub(crate) fn root_hash(&self) -> [u8; 32] {
        self.hash_of(self.root)
    }

    fn hash_of(&self, r: Ref) -> [u8; 32] {
        match r {
            Ref::Empty => PLACEHOLDER,
            Ref::Leaf(i) => self.leaves[i as usize].hash,
            Ref::Internal(i) => self.internals[i as usize].hash,
        }
    }

    /// The value at `key`, if any.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Touched> {
        let mut node = self.root;
        for depth in 0..KEY_BITS {
            match node {
                Ref::Empty => return None,
                Ref::Leaf(i) => {
                    let leaf = &self.leaves[i as usize];
                    return (leaf.key == *key).then_some(leaf.value);
                }
                Ref::Internal(i) => {
                    let n = &self.internals[i as usize];
                    node = if bit(key, depth) { n.right } else { n.left };
                }
            }
        }
        None
    }

    /// The path of `key`, whether the tree holds it or not.
    pub(crate) fn path(&self, key: &[u8; 32]) -> Path {
        let mut siblings = Vec::new();
        let mut node = self.root;
        loop {
            match node {
                Ref::Empty => {
                    return Path {
                        leaf: None,
                        siblings,
                    }
                }
                Ref::Leaf(i) => {
                    let leaf = &self.leaves[i as usize];
                    return Path {
                        leaf: Some((leaf.key, leaf.value)),
                        siblings,
                    };
                }
                Ref::Internal(i) => {
                    let n = &self.internals[i as usize];
                    let (next, other) = if bit(key, siblings.len()) {
                        (n.right, n.left)
                    } else {
                        (n.left, n.right)
                    };
                    siblings.push(self.hash_of(other));
                    node = next;
                }
            }
        }
    }

    /// Works out the changes that set each of `sets` (sorted by key, each
    /// key once): one hash for each node on the changed paths.
    pub(crate) fn patch(&self, sets: &[([u8; 32], Touched)]) -> Result<Patch, IndexError> {
        self.patch_with(sets, |_, v| *v)
    }

    /// Works out the changes to each key of `changes` (sorted by key, each
    /// key once): its new value is `f(old value, change)`, the old one
    /// read on the way down rather than looked up apart.
    pub(crate) fn patch_with<C>(
        &self,
        changes: &[([u8; 32], C)],
        f: impl Fn(Option<&Touched>, &C) -> Touched,
    ) -> Result<Patch, IndexError> {
        if changes.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(IndexError::Tree("a batch not sorted by key".into()));
        }
        let mut patch = Patch {
            base: (self.leaves.len(), self.internals.len()),
            // At most one new leaf a change; internal nodes, about as
            // many again for a tree built whole (a guess: they grow).
            new_leaves: Vec::with_capacity(changes.len()),
            new_internals: Vec::with_capacity(if self.leaves.is_empty() {
                changes.len()
            } else {
                0
            }),
            ..Patch::default()
        };
        let (root, hash) = self.apply(&mut patch, self.root, 0, changes, &f)?;
        patch.root = Some(root);
        patch.root_hash = hash;
        Ok(patch)
    }

    /// Writes a patch made against this very tree.
    pub(crate) fn install(&mut self, patch: Patch) -> Result<(), IndexError> {
        if patch.base != (self.leaves.len(), self.internals.len()) {
            return Err(IndexError::Tree("a patch made against another tree".into()));
        }
        let Some(root) = patch.root else {
            return Err(IndexError::Tree("a patch with no root".into()));
        };
        // Into an empty tree (a ledger opening) the nodes move rather
        // than being copied, which would hold both at once.
        if self.leaves.is_empty() {
            self.leaves = patch.new_leaves;
        } else {
            self.leaves.extend(patch.new_leaves);
        }
        if self.internals.is_empty() {
            self.internals = patch.new_internals;
        } else {
            self.internals.extend(patch.new_internals);
        }
        for (i, leaf) in patch.changed_leaves {
            self.leaves[i as usize] = leaf;
        }
        for (i, node) in patch.changed_internals {
            self.internals[i as usize] = node;
        }
        self.root = root;
        Ok(())
    }

    /// The subtree at `node` (at `depth`) with `sets` applied.
    fn apply<C>(
        &self,
        patch: &mut Patch,
        node: Ref,
        depth: usize,
        sets: &[([u8; 32], C)],
        f: &impl Fn(Option<&Touched>, &C) -> Touched,
    ) -> Result<(Ref, [u8; 32]), IndexError> {
        if sets.is_empty() {
            return Ok((node, self.hash_of(node)));
        }
        match node {
            Ref::Empty => build(patch, depth, sets, None, f),
            Ref::Leaf(i) => {
                let old = &self.leaves[i as usize];
                match sets.binary_search_by(|(k, _)| k.cmp(&old.key)) {
                    // The leaf's own key changes: it stays where it is
                    // with its new value, and the rest (if any) build
                    // around it.
                    Ok(at) => {
                        let leaf = Leaf::new(old.key, f(Some(&old.value), &sets[at].1));
                        let moved = Moved {
                            key: old.key,
                            at: i,
                            hash: leaf.hash,
                        };
                        patch.changed_leaves.push((i, leaf));
                        if sets.len() == 1 {
                            return Ok((Ref::Leaf(i), moved.hash));
                        }
                        // The rest go either side of it.
                        let (before, after) = (&sets[..at], &sets[at + 1..]);
                        build_around(patch, depth, before, after, Some(moved), f)
                    }
                    Err(_) => {
                        let moved = Moved {
                            key: old.key,
                            at: i,
                            hash: old.hash,
                        };
                        build(patch, depth, sets, Some(moved), f)
                    }
                }
            }
            Ref::Internal(i) => {
                if depth >= KEY_BITS {
                    return Err(IndexError::Tree("a path longer than a key".into()));
                }
                let n = self.internals[i as usize];
                let split = sets.partition_point(|(k, _)| !bit(k, depth));
                let (left, lh) = self.apply(patch, n.left, depth + 1, &sets[..split], f)?;
                let (right, rh) = self.apply(patch, n.right, depth + 1, &sets[split..], f)?;
                let node = Internal {
                    hash: internal_hash(&lh, &rh),
                    left,
                    right,
                };
                patch.changed_internals.push((i, node));
                Ok((Ref::Internal(i), node.hash))
            }
        }
    }
}

/// A new subtree at `depth` holding `sets` (sorted, new keys) and
/// `moved`, a leaf already in the tree whose key is none of theirs.
fn build<C>(
    patch: &mut Patch,
    depth: usize,
    sets: &[([u8; 32], C)],
    moved: Option<Moved>,
    f: &impl Fn(Option<&Touched>, &C) -> Touched,
) -> Result<(Ref, [u8; 32]), IndexError> {
    build_around(patch, depth, sets, &[], moved, f)
}

/// [`build`] with the new keys in two sorted runs, `a` all before `b`
/// (either side of a leaf that stays).
fn build_around<C>(
    patch: &mut Patch,
    depth: usize,
    a: &[([u8; 32], C)],
    b: &[([u8; 32], C)],
    moved: Option<Moved>,
    f: &impl Fn(Option<&Touched>, &C) -> Touched,
) -> Result<(Ref, [u8; 32]), IndexError> {
    match (a, b, moved) {
        ([], [], None) => Ok((Ref::Empty, PLACEHOLDER)),
        ([], [], Some(m)) => Ok((Ref::Leaf(m.at), m.hash)),
        ([(key, change)], [], None) | ([], [(key, change)], None) => {
            patch.add_leaf(Leaf::new(*key, f(None, change)))
        }
        _ => {
            if depth >= KEY_BITS {
                return Err(IndexError::Tree("two keys with one hash".into()));
            }
            let sa = a.partition_point(|(k, _)| !bit(k, depth));
            let sb = b.partition_point(|(k, _)| !bit(k, depth));
            let (lm, rm) = match moved {
                Some(m) if bit(&m.key, depth) => (None, Some(m)),
                m => (m, None),
            };
            let (left, lh) = build_around(patch, depth + 1, &a[..sa], &b[..sb], lm, f)?;
            let (right, rh) = build_around(patch, depth + 1, &a[sa..], &b[sb..], rm, f)?;
            patch.add_internal(Internal {
                hash: internal_hash(&lh, &rh),
                left,
                right,
            })
        }
    }
}

/// The root that `path` leads to for `key` with `value` (`None`: the key
/// is absent), or why it leads nowhere.
pub(crate) fn root_of(
    key: &[u8; 32],
    value: Option<&Touched>,
    leaf: Option<([u8; 32], [u8; 32])>,
    siblings: &[[u8; 32]],
) -> Result<[u8; 32], String> {
    if siblings.len() > KEY_BITS {
        return Err(format!("{} siblings, more than a path has", siblings.len()));
    }
    let mut hash = match (value, leaf) {
        (Some(v), None) => leaf_hash(key, &value_hash(v)),
        (Some(_), Some(_)) => return Err("a value and another key's leaf".into()),
        (None, None) => PLACEHOLDER,
        (None, Some((other, other_value))) => {
            if other == *key {
                return Err("the key's own leaf offered as another's".into());
            }
            // The other leaf must sit on this key's path: they share
            // every bit down to where it sits.
            if (0..siblings.len()).any(|d| bit(&other, d) != bit(key, d)) {
                return Err("the other key's leaf is not on this key's path".into());
            }
            leaf_hash(&other, &other_value)
        }
    };
    for (depth, sibling) in siblings.iter().enumerate().rev() {
        hash = if bit(key, depth) {
            internal_hash(sibling, &hash)
        } else {
            internal_hash(&hash, sibling)
        };
    }
    Ok(hash)
}

#[cfg(test)]
impl Tree {
    /// Nodes held, leaves and internal.
    pub(crate) fn nodes(&self) -> (usize, usize) {
        (self.leaves.len(), self.internals.len())
    }
}
