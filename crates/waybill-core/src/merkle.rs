//! RFC 9162 (Certificate Transparency v2) Merkle trees over 32-byte leaves.
//!
//! The leaves are entry ids, i.e. values that are already hashes. They are
//! still hashed as RFC 9162 leaves, so the tree is domain separated:
//!
//! - leaf hash: `SHA-256(0x00 || leaf)`
//! - node hash: `SHA-256(0x01 || left || right)`
//! - empty tree: `SHA-256("")`
//!
//! A tree of `n > 1` leaves is split at the largest power of two smaller
//! than `n` (RFC 9162 section 2.1.1). Inclusion proofs are the RFC's
//! `PATH(m, D[n])` (section 2.1.3.1), listed from the leaf up to the root,
//! and are checked with the algorithm of section 2.1.3.2.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf, a node hash or a root.
pub type Hash = [u8; 32];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why an inclusion proof was rejected by [`verify_inclusion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// The leaf index is not inside the tree (`index >= tree_size`).
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        tree_size: u64,
    },
    /// The proof has too many or too few hashes for this index and tree size.
    WrongProofLength {
        /// How many hashes a proof for this index and tree size has.
        expected: usize,
        /// How many hashes the proof has.
        actual: usize,
    },
    /// The proof is well formed but does not lead to the expected root: the
    /// leaf, a proof hash, the index, the tree size or the root is wrong.
    RootMismatch,
}

impl std::fmt::Display for MerkleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IndexOutOfRange { index, tree_size } => write!(
                f,
                "leaf index {index} is out of range for a tree of {tree_size} leaves"
            ),
            Self::WrongProofLength { expected, actual } => write!(
                f,
                "inclusion proof has {actual} hashes, but a proof for this leaf index and \
                 tree size has {expected}; the proof belongs to another index or tree size"
            ),
            Self::RootMismatch => write!(
                f,
                "inclusion proof does not match the root hash; the leaf, the proof, the \
                 index or the tree size is wrong"
            ),
        }
    }
}

impl std::error::Error for MerkleError {}

/// Hashes a leaf: `SHA-256(0x00 || leaf)`.
#[must_use]
pub fn leaf_hash(leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(leaf);
    h.finalize().into()
}

/// Hashes an interior node: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root hash of the empty tree: `SHA-256("")`.
fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Computes the RFC 9162 Merkle tree hash `MTH(D[n])` of `leaves`.
///
/// Runs in O(n) time with O(log n) memory (a fixed stack on the call frame;
/// no heap allocation).
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    // Roots of complete subtrees of strictly decreasing size, left to right,
    // one per set bit of the number of leaves seen so far. A slice has at
    // most isize::MAX bytes, so fewer than 2^63 leaves and 64 entries suffice.
    let mut stack = [[0u8; 32]; 64];
    let mut depth = 0usize;
    for (i, leaf) in leaves.iter().enumerate() {
        let mut node = leaf_hash(leaf);
        // Merge with the completed subtrees to the left: one per trailing
        // one bit of `i`, i.e. per trailing zero bit of `i + 1`.
        let mut count = i;
        while count & 1 == 1 {
            depth -= 1;
            node = node_hash(&stack[depth], &node);
            count >>= 1;
        }
        stack[depth] = node;
        depth += 1;
    }
    // Fold the remaining subtrees from the right: the largest power-of-two
    // subtree is on the left, exactly as the RFC's split prescribes.
    let mut acc = stack[depth - 1];
    for left in stack[..depth - 1].iter().rev() {
        acc = node_hash(left, &acc);
    }
    acc
}

/// Computes the RFC 9162 inclusion proof `PATH(index, D[n])` for the leaf at
/// `index`, ordered from the leaf's sibling up to the root's child.
///
/// Returns `None` if `index >= leaves.len()`. Runs in O(n) time.
#[must_use]
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    let n = leaves.len();
    if index >= n {
        return None;
    }
    // Bottom-up view of the RFC tree: at level `l`, node `j` covers leaves
    // [j << l, (j + 1) << l) clipped to n; a node without a sibling is
    // carried up unchanged. The sibling ranges are disjoint, so the total
    // work is O(n).
    let mut proof = Vec::new();
    let mut level = 0u32;
    while level < usize::BITS && (n - 1) >> level > 0 {
        let sibling = (index >> level) ^ 1;
        let start = sibling << level;
        if start < n {
            let end = start.saturating_add(1 << level).min(n);
            proof.push(root(&leaves[start..end]));
        }
        level += 1;
    }
    Some(proof)
}

/// Computes the inclusion proof of every leaf, in leaf order; entry `i` equals
/// `inclusion_proof(leaves, i)`.
///
/// Runs in O(n log n) time: it builds every level of the tree once (about
/// `2n` hashes of memory) and reads each proof off the levels.
#[must_use]
pub fn inclusion_proofs_all(leaves: &[Hash]) -> Vec<Vec<Hash>> {
    let levels = build_levels(leaves);
    // The top level is the root itself and is never part of a proof.
    let proof_levels = levels.split_last().map_or(&[][..], |(_, rest)| rest);
    (0..leaves.len())
        .map(|index| {
            proof_levels
                .iter()
                .enumerate()
                .filter_map(|(level, nodes)| nodes.get((index >> level) ^ 1).copied())
                .collect()
        })
        .collect()
}

/// The tree's interior nodes, level 1 (the leaves' parents) up to and
/// including the root, level after level: what a store keeps beside the
/// leaves so that [`inclusion_proof_stored`] needs no rehashing. About one
/// hash per leaf; empty for trees of fewer than two leaves.
#[must_use]
pub fn interior_nodes(leaves: &[Hash]) -> Vec<Hash> {
    build_levels(leaves).into_iter().skip(1).flatten().collect()
}

/// [`inclusion_proof`] from the leaves and their stored
/// [`interior_nodes`], in O(log n). Returns `None` if `index` is out of
/// range or `interior` has the wrong length for `leaves.len()` leaves.
#[must_use]
pub fn inclusion_proof_stored(
    leaves: &[Hash],
    interior: &[Hash],
    index: usize,
) -> Option<Vec<Hash>> {
    inclusion_proof_read(
        leaves.len(),
        interior.len(),
        |i| leaves.get(i).copied(),
        |j| interior.get(j).copied(),
        index,
    )
}

/// [`inclusion_proof_stored`] reading the `n` leaves and the
/// `interior_len` interior nodes one at a time, so a caller holding them
/// in some encoded form need not copy them all out for the O(log n) it
/// uses.
#[must_use]
pub fn inclusion_proof_read(
    n: usize,
    interior_len: usize,
    leaf: impl Fn(usize) -> Option<Hash>,
    node: impl Fn(usize) -> Option<Hash>,
    index: usize,
) -> Option<Vec<Hash>> {
    if index >= n {
        return None;
    }
    let mut expected = 0usize;
    let mut size = n;
    while size > 1 {
        size = size.div_ceil(2);
        expected += size;
    }
    if interior_len != expected {
        return None;
    }
    let mut proof = Vec::new();
    if (index ^ 1) < n {
        proof.push(leaf_hash(&leaf(index ^ 1)?));
    }
    let (mut offset, mut size, mut level) = (0usize, n.div_ceil(2), 1u32);
    while size > 1 {
        let sibling = (index >> level) ^ 1;
        if sibling < size {
            proof.push(node(offset + sibling)?);
        }
        offset += size;
        size = size.div_ceil(2);
        level += 1;
    }
    Some(proof)
}

/// Builds all levels of the tree bottom-up: level 0 is the leaf hashes, and
/// each following level pairs adjacent nodes, carrying an unpaired last node
/// up unchanged. The last level holds the root (none for an empty tree).
fn build_levels(leaves: &[Hash]) -> Vec<Vec<Hash>> {
    let mut levels: Vec<Vec<Hash>> = Vec::new();
    if leaves.is_empty() {
        return levels;
    }
    let mut current: Vec<Hash> = leaves.iter().map(leaf_hash).collect();
    while current.len() > 1 {
        let pairs = current.chunks_exact(2);
        let carried = pairs.remainder().first().copied();
        let mut next: Vec<Hash> = Vec::with_capacity(current.len().div_ceil(2));
        next.extend(pairs.map(|pair| node_hash(&pair[0], &pair[1])));
        next.extend(carried);
        levels.push(current);
        current = next;
    }
    levels.push(current);
    levels
}

/// Verifies that `leaf` (the entry id, not its leaf hash) is at `index` in
/// the tree of `tree_size` leaves with root `root`, using the RFC 9162
/// section 2.1.3.2 algorithm.
///
/// The proof does not authenticate `tree_size` on its own: a proof can
/// verify for another size whose path has the same shape (for example index
/// 0 of sizes 3 and 4). Take the size from the same signed head as the root.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    // Step 1.
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange { index, tree_size });
    }
    let wrong_length = || MerkleError::WrongProofLength {
        expected: proof_len(index, tree_size),
        actual: proof.len(),
    };
    // Steps 2 and 3.
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = leaf_hash(leaf);
    // Step 4.
    for p in proof {
        // 4a: the proof is longer than the path.
        if s_n == 0 {
            return Err(wrong_length());
        }
        // 4b.
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        // 4c.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    if s_n != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The number of hashes in the inclusion proof of `index` in a tree of
/// `tree_size` leaves (`index < tree_size`).
fn proof_len(index: u64, tree_size: u64) -> usize {
    let last = tree_size.saturating_sub(1);
    (0..u64::BITS)
        .take_while(|&level| last >> level > 0)
        .filter(|&level| ((index >> level) ^ 1) << level <= last)
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_interior_proofs_equal_computed_ones() {
        for n in 0..=70usize {
            let leaves: Vec<Hash> = (0..n).map(|i| [i as u8; 32]).collect();
            let interior = interior_nodes(&leaves);
            for i in 0..n {
                assert_eq!(
                    inclusion_proof_stored(&leaves, &interior, i),
                    inclusion_proof(&leaves, i),
                    "n={n} i={i}"
                );
            }
            assert_eq!(inclusion_proof_stored(&leaves, &interior, n), None);
            if n > 1 {
                assert_eq!(interior.last(), Some(&root(&leaves)));
                assert_eq!(inclusion_proof_stored(&leaves, &interior[1..], 0), None);
            }
        }
    }

    use super::*;
    use proptest::prelude::*;

    fn sha(data: &[u8]) -> Hash {
        Sha256::digest(data).into()
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u64).map(|i| sha(&i.to_be_bytes())).collect()
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Largest power of two strictly smaller than `n` (`n > 1`).
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k << 1 < n {
            k <<= 1;
        }
        k
    }

    /// RFC 9162 2.1.1 MTH, written as in the RFC.
    fn ref_root(d: &[Hash]) -> Hash {
        match d.len() {
            0 => sha(b""),
            1 => {
                let mut buf = vec![0x00];
                buf.extend_from_slice(&d[0]);
                sha(&buf)
            }
            n => {
                let k = split(n);
                let mut buf = vec![0x01];
                buf.extend_from_slice(&ref_root(&d[..k]));
                buf.extend_from_slice(&ref_root(&d[k..]));
                sha(&buf)
            }
        }
    }

    /// RFC 9162 2.1.3.1 PATH, written as in the RFC.
    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = ref_path(m, &d[..k]);
            p.push(ref_root(&d[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &d[k..]);
            p.push(ref_root(&d[..k]));
            p
        }
    }

    /// The left/right pattern the verifier follows for (index, size): `true`
    /// where the proof hash goes on the left. `None` if index >= size.
    fn shape(index: u64, size: u64) -> Option<Vec<bool>> {
        if index >= size {
            return None;
        }
        let (mut f_n, mut s_n) = (index, size - 1);
        let mut out = Vec::new();
        while s_n != 0 {
            if f_n & 1 == 1 || f_n == s_n {
                out.push(true);
                if f_n & 1 == 0 {
                    while f_n & 1 == 0 && f_n != 0 {
                        f_n >>= 1;
                        s_n >>= 1;
                    }
                }
            } else {
                out.push(false);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        Some(out)
    }

    #[test]
    fn root_matches_reference_for_sizes_0_to_70() {
        for n in 0..=70 {
            let d = leaves(n);
            assert_eq!(root(&d), ref_root(&d), "size {n}");
        }
    }

    #[test]
    fn empty_root_is_sha256_of_empty_string() {
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn known_answer_abc() {
        let a = sha(b"a");
        let b = sha(b"b");
        let c = sha(b"c");
        // Leaf hashes: SHA-256(0x00 || leaf).
        let la = sha(&[&[0x00][..], &a].concat());
        let lb = sha(&[&[0x00][..], &b].concat());
        let lc = sha(&[&[0x00][..], &c].concat());
        // n = 3 splits at k = 2: MTH = H(0x01 || MTH(a, b) || MTH(c)).
        let ab = sha(&[&[0x01][..], &la, &lb].concat());
        let expected = sha(&[&[0x01][..], &ab, &lc].concat());
        assert_eq!(leaf_hash(&a), la);
        assert_eq!(node_hash(&la, &lb), ab);
        assert_eq!(ref_root(&[a, b, c]), expected);
        assert_eq!(root(&[a, b, c]), expected);
        assert_eq!(
            hex(&expected),
            "cac3d448d4e20a2ad5eae1f500e63c2a7f9217cd14572ba7fd22e26dc1ec2648"
        );
        // Proofs, bottom-up.
        assert_eq!(inclusion_proof(&[a, b, c], 0), Some(vec![lb, lc]));
        assert_eq!(inclusion_proof(&[a, b, c], 1), Some(vec![la, lc]));
        assert_eq!(inclusion_proof(&[a, b, c], 2), Some(vec![ab]));
    }

    #[test]
    fn proofs_match_reference_and_verify_for_sizes_1_to_70() {
        for n in 1..=70usize {
            let d = leaves(n);
            let r = root(&d);
            let all = inclusion_proofs_all(&d);
            assert_eq!(all.len(), n);
            for (i, from_all) in all.iter().enumerate() {
                let p = inclusion_proof(&d, i);
                assert_eq!(p.as_ref(), Some(&ref_path(i, &d)), "size {n} index {i}");
                assert_eq!(Some(from_all), p.as_ref(), "size {n} index {i}");
                assert_eq!(
                    verify_inclusion(&d[i], i as u64, n as u64, from_all, &r),
                    Ok(()),
                    "size {n} index {i}"
                );
                assert_eq!(proof_len(i as u64, n as u64), from_all.len());
            }
            assert_eq!(inclusion_proof(&d, n), None);
        }
        assert_eq!(inclusion_proof(&[], 0), None);
        assert!(inclusion_proofs_all(&[]).is_empty());
    }

    #[test]
    fn tampered_proofs_fail() {
        for n in 1..=70usize {
            let d = leaves(n);
            let r = root(&d);
            let (nu, all) = (n as u64, inclusion_proofs_all(&d));
            for (i, proof) in all.iter().enumerate() {
                let iu = i as u64;
                // Every modified proof element.
                for j in 0..proof.len() {
                    for byte in [0, 31] {
                        let mut bad = proof.clone();
                        bad[j][byte] ^= 0x01;
                        assert_eq!(
                            verify_inclusion(&d[i], iu, nu, &bad, &r),
                            Err(MerkleError::RootMismatch)
                        );
                    }
                }
                // Too long and too short.
                let mut long = proof.clone();
                long.push([7u8; 32]);
                assert!(matches!(
                    verify_inclusion(&d[i], iu, nu, &long, &r),
                    Err(MerkleError::WrongProofLength { expected, actual })
                        if expected == proof.len() && actual == proof.len() + 1
                ));
                if let Some((_, short)) = proof.split_last() {
                    assert!(matches!(
                        verify_inclusion(&d[i], iu, nu, short, &r),
                        Err(MerkleError::WrongProofLength { expected, .. })
                            if expected == proof.len()
                    ));
                }
                // Wrong leaf and wrong root.
                let mut leaf = d[i];
                leaf[5] ^= 0x80;
                assert_eq!(
                    verify_inclusion(&leaf, iu, nu, proof, &r),
                    Err(MerkleError::RootMismatch)
                );
                assert_eq!(
                    verify_inclusion(&d[i], iu, nu, proof, &sha(b"other")),
                    Err(MerkleError::RootMismatch)
                );
                // Every wrong index in the same tree.
                for wrong in 0..=nu + 1 {
                    if wrong != iu {
                        assert!(verify_inclusion(&d[i], wrong, nu, proof, &r).is_err());
                    }
                }
                // Wrong sizes: the proof alone cannot bind the size, so it
                // fails exactly when the path shape differs.
                for size in 0..=nu + 3 {
                    if size == nu {
                        continue;
                    }
                    let res = verify_inclusion(&d[i], iu, size, proof, &r);
                    if shape(iu, size) == shape(iu, nu) {
                        assert_eq!(res, Ok(()), "size {size} vs {n}, index {i}");
                    } else {
                        assert!(res.is_err(), "size {size} vs {n}, index {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn out_of_range_index_is_reported() {
        let d = leaves(5);
        let r = root(&d);
        assert_eq!(
            verify_inclusion(&d[0], 5, 5, &[], &r),
            Err(MerkleError::IndexOutOfRange {
                index: 5,
                tree_size: 5
            })
        );
        assert_eq!(
            verify_inclusion(&d[0], 0, 0, &[], &root(&[])),
            Err(MerkleError::IndexOutOfRange {
                index: 0,
                tree_size: 0
            })
        );
    }

    #[test]
    fn single_leaf_tree() {
        let d = leaves(1);
        assert_eq!(root(&d), leaf_hash(&d[0]));
        assert_eq!(inclusion_proof(&d, 0), Some(vec![]));
        assert_eq!(verify_inclusion(&d[0], 0, 1, &[], &root(&d)), Ok(()));
    }

    #[test]
    fn large_block_matches_levels() {
        let d = leaves(10_000);
        let levels = build_levels(&d);
        let top = levels.last().and_then(|l| l.first()).copied();
        assert_eq!(Some(root(&d)), top);
        let all = inclusion_proofs_all(&d);
        for i in [0usize, 1, 4095, 8191, 8192, 9998, 9999] {
            assert_eq!(inclusion_proof(&d, i).as_ref(), Some(&all[i]));
            assert_eq!(
                verify_inclusion(&d[i], i as u64, 10_000, &all[i], &root(&d)),
                Ok(())
            );
        }
    }

    proptest! {
        #[test]
        fn random_trees(
            d in proptest::collection::vec(any::<[u8; 32]>(), 0..200),
            pick in any::<proptest::sample::Index>(),
        ) {
            let r = root(&d);
            prop_assert_eq!(r, ref_root(&d));
            let all = inclusion_proofs_all(&d);
            prop_assert_eq!(all.len(), d.len());
            if !d.is_empty() {
                let i = pick.index(d.len());
                let p = inclusion_proof(&d, i);
                prop_assert_eq!(p.as_ref(), Some(&ref_path(i, &d)));
                prop_assert_eq!(p.as_ref(), Some(&all[i]));
                prop_assert_eq!(verify_inclusion(&d[i], i as u64, d.len() as u64, &all[i], &r), Ok(()));
                let mut other = d[i];
                other[0] ^= 1;
                prop_assert_eq!(
                    verify_inclusion(&other, i as u64, d.len() as u64, &all[i], &r),
                    Err(MerkleError::RootMismatch)
                );
            }
        }
    }
}
