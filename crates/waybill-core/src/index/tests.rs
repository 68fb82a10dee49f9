use super::*;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::crypto::Hash32;

fn lot(s: &str) -> IndexKey {
    IndexKey::Lot(s.parse().expect("a lot id"))
}

fn id(n: u8) -> EntryId {
    Hash32([n; 32])
}

/// An index with `blocks` applied, each a list of (key, entry) touches.
fn index_of(blocks: &[Vec<(IndexKey, EntryId)>]) -> MemoryIndex {
    let mut index = MemoryIndex::new();
    for (h, touches) in (1..).zip(blocks) {
        let update = index
            .update(h, touches.iter().map(|(k, i)| (k, i)))
            .expect("an update");
        index.install(update).expect("installed");
    }
    index
}

#[test]
fn the_running_hash_depends_on_every_id_and_its_order() {
    let a = Touched::of(&[id(1), id(2), id(3)]);
    assert_eq!(a.count, 3);
    assert_eq!(a, Touched::default().with(&id(1)).with(&id(2)).with(&id(3)));
    assert_ne!(a.last, Touched::of(&[id(1), id(3)]).last, "one left out");
    assert_ne!(
        a.last,
        Touched::of(&[id(2), id(1), id(3)]).last,
        "reordered"
    );
    assert_eq!(Touched::from_bytes(&a.to_bytes()), Some(a));
    assert_eq!(Touched::from_bytes(&a.to_bytes()[..39]), None);
}

#[test]
fn the_empty_index_matches_the_jmt_placeholder_root() {
    // The jmt crate's published SHA-256 vector of an empty tree: the
    // placeholder hash, "SPARSE_MERKLE_PLACEHOLDER_HASH__" in ASCII.
    let index = MemoryIndex::new();
    assert_eq!(index.root().0, *b"SPARSE_MERKLE_PLACEHOLDER_HASH__");
    assert!(index.is_empty());
}

#[test]
fn each_key_proves_what_touched_it_and_only_that() {
    let green = lot("G1");
    let roasted = lot("R1");
    let never = lot("NEVER");
    let index = index_of(&[
        vec![(green.clone(), id(1)), (IndexKey::Council, id(2))],
        vec![],
        vec![(green.clone(), id(3)), (roasted.clone(), id(3))],
    ]);
    assert_eq!(index.height(), 3);
    assert_eq!(index.len(), 3);
    let root = index.root();

    let p = index.prove(&green);
    assert_eq!(p.verify(&root), Ok(Touched::of(&[id(1), id(3)])));
    let p = index.prove(&roasted);
    assert_eq!(p.verify(&root).map(|t| t.count), Ok(1));
    // A key nothing touched is proven absent: zero entries.
    let p = index.prove(&never);
    assert_eq!(p.touched, None);
    assert_eq!(p.verify(&root), Ok(Touched::default()));

    // Under another root, or claiming another value, nothing holds.
    let p = index.prove(&green);
    assert!(p.verify(&Hash32([7; 32])).is_err());
    let mut fewer = index.prove(&green);
    fewer.touched = Some(Touched::of(&[id(1)]));
    let e = fewer.verify(&root).expect_err("a value left behind");
    assert!(e.to_string().contains("lot G1"), "{e}");
    // A present key cannot be passed off as absent.
    let mut absent = index.prove(&green);
    absent.touched = None;
    assert!(absent.verify(&root).is_err());
    // Nor one key's proof as another's.
    let mut other = index.prove(&green);
    other.key = roasted;
    assert!(other.verify(&root).is_err());
}

#[test]
fn an_update_is_worked_out_before_it_is_installed() {
    let green = lot("G1");
    let mut index = index_of(&[vec![(green.clone(), id(1))]]);
    let before = index.root();
    let touches = [(green.clone(), id(2))];
    let update = index
        .update(2, touches.iter().map(|(k, i)| (k, i)))
        .expect("an update");
    // Nothing changed yet: old proofs still hold.
    assert_eq!(index.root(), before);
    let p = index.prove(&green);
    assert_eq!(p.verify(&before).map(|t| t.count), Ok(1));
    let root = update.root();
    index.install(update).expect("installed");
    assert_eq!(index.root(), root);
    assert_ne!(root, before);
    let p = index.prove(&green);
    assert_eq!(p.verify(&root), Ok(Touched::of(&[id(1), id(2)])));
    // Only the next height.
    assert!(matches!(
        index.update(4, std::iter::empty()),
        Err(IndexError::NotNext {
            update: 4,
            current: 2
        })
    ));
}

#[test]
fn the_root_depends_on_the_values_not_on_how_blocks_split_them() {
    let (a, b) = (lot("A"), lot("B"));
    let one = index_of(&[vec![(a.clone(), id(1)), (b.clone(), id(2))]]);
    let two = index_of(&[vec![(a.clone(), id(1))], vec![(b.clone(), id(2))]]);
    assert_eq!(one.root(), two.root());
    // The same ids in another order are another history.
    let swapped = index_of(&[vec![(a.clone(), id(2)), (b, id(1))]]);
    assert_ne!(one.root(), swapped.root());
}

#[test]
fn a_key_touched_in_every_block_stays_one_leaf() {
    // Keys are never removed and a lone key is a leaf wherever it sits:
    // fifty blocks of one key keep one node.
    let key = lot("HOT");
    let blocks: Vec<_> = (0..50u8).map(|n| vec![(key.clone(), id(n))]).collect();
    let index = index_of(&blocks);
    assert_eq!(index.tree.nodes(), (1, 0));
    let p = index.prove(&key);
    assert!(p.siblings.is_empty());
    assert_eq!(p.verify(&index.root()).map(|t| t.count), Ok(50));
}

#[test]
fn many_keys_prove_under_one_root() {
    let keys: Vec<IndexKey> = (0..500).map(|n| lot(&format!("L{n}"))).collect();
    let blocks: Vec<_> = keys
        .chunks(50)
        .enumerate()
        .map(|(b, chunk)| {
            chunk
                .iter()
                .map(|k| (k.clone(), id(u8::try_from(b).unwrap_or(0))))
                .collect()
        })
        .collect();
    let index = index_of(&blocks);
    let root = index.root();
    for (n, k) in keys.iter().enumerate() {
        let p = index.prove(k);
        let want = Touched::of(&[id(u8::try_from(n / 50).unwrap_or(0))]);
        assert_eq!(p.verify(&root), Ok(want), "{k}");
    }
    // The proof survives its JSON form.
    let p = index.prove(&keys[7]);
    let back: KeyProof =
        serde_json::from_str(&serde_json::to_string(&p).expect("json")).expect("parsed");
    assert_eq!(back.verify(&root).map(|t| t.count), Ok(1));
}

#[test]
fn an_entry_touches_its_author_and_what_its_effects_name() {
    let author = PublicKey([9; 32]);
    let fx = Effects {
        id: id(1),
        lots: vec!["G1".parse().expect("lot"), "G1".parse().expect("lot")],
        shipments: vec!["S1".parse().expect("shipment")],
        payment: None,
        made_from: Vec::new(),
        membership: true,
    };
    let keys = keys_touched(&author, &fx);
    assert_eq!(
        keys,
        vec![
            lot("G1"),
            IndexKey::Shipment("S1".parse().expect("shipment")),
            IndexKey::Author(author),
            IndexKey::Council,
        ]
    );
}

#[test]
fn a_rebuilt_index_has_the_grown_ones_root_and_grows_on() {
    let (a, b) = (lot("A"), lot("B"));
    let grown = index_of(&[
        vec![(a.clone(), id(1))],
        vec![(b.clone(), id(2)), (a.clone(), id(3))],
    ]);
    let mut rebuilt = MemoryIndex::rebuilt(
        2,
        vec![
            (a.clone(), Touched::of(&[id(1), id(3)])),
            (b.clone(), Touched::of(&[id(2)])),
        ],
    )
    .expect("rebuilt");
    assert_eq!(rebuilt.height(), 2);
    assert_eq!(rebuilt.root(), grown.root());
    assert!(
        rebuilt.update(2, std::iter::empty()).is_err(),
        "not the next height"
    );
    let touches = [(b.clone(), id(4))];
    let update = rebuilt
        .update(3, touches.iter().map(|(k, i)| (k, i)))
        .expect("an update");
    rebuilt.install(update).expect("installed");
    let p = rebuilt.prove(&b);
    assert_eq!(p.verify(&rebuilt.root()), Ok(Touched::of(&[id(2), id(4)])));
    let p = rebuilt.prove(&a);
    assert_eq!(p.verify(&rebuilt.root()).map(|t| t.count), Ok(2));
}

/// The root of `leaves` (key hash, value hash; sorted, distinct) as a
/// subtree at `depth`, worked out the slow way from the definition.
fn reference_root(leaves: &[([u8; 32], [u8; 32])], depth: usize) -> [u8; 32] {
    match leaves {
        [] => smt::PLACEHOLDER,
        [(k, v)] => smt::leaf_hash(k, v),
        _ => {
            let split = leaves.partition_point(|(k, _)| !smt::bit(k, depth));
            smt::internal_hash(
                &reference_root(&leaves[..split], depth + 1),
                &reference_root(&leaves[split..], depth + 1),
            )
        }
    }
}

#[test]
fn the_tree_hashes_as_the_jmt_crates_published_sha256_vectors() {
    // The jmt crate's published SHA-256 vectors (keys and values not
    // pre-hashed; the key's SHA-256 is its place, the value's its hash).
    let vectors: [(&[(&str, &str)], &str); 3] = [
        (
            &[],
            "5350415253455f4d45524b4c455f504c414345484f4c4445525f484153485f5f",
        ),
        (
            &[("hello", "world")],
            "6b97115f56e533f2fd443f7e76e4d1ff94d34e6b2e233f2dbdf5cfd1ec39a30c",
        ),
        (
            &[("hello", "world"), ("goodbye", "world")],
            "e1e1e220d4b4a9611a9a09dbcee964b4a6c3a40f6f4dee265ad45cf64568790b",
        ),
    ];
    for (data, root) in vectors {
        let mut leaves: Vec<([u8; 32], [u8; 32])> = data
            .iter()
            .map(|(k, v)| {
                (
                    Sha256::digest(k.as_bytes()).into(),
                    Sha256::digest(v.as_bytes()).into(),
                )
            })
            .collect();
        leaves.sort_unstable();
        assert_eq!(hex::encode(reference_root(&leaves, 0)), root);
    }
}

/// Key hashes spread over the tree, some sharing long prefixes.
fn key_hashes(n: u32, seed: u8) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            let mut k: [u8; 32] = Sha256::digest([&i.to_be_bytes()[..], &[seed]].concat()).into();
            if i % 7 == 0 {
                // A neighbour of an earlier key: the same first 200 bits.
                let mut near: [u8; 32] =
                    Sha256::digest([&(i / 2).to_be_bytes()[..], &[seed]].concat()).into();
                near[25..].copy_from_slice(&k[25..]);
                k = near;
            }
            k
        })
        .collect()
}

fn value(n: u32) -> Touched {
    Touched::of(&[Hash32(Sha256::digest(n.to_be_bytes()).into())])
}

#[test]
fn the_tree_has_the_jmt_crates_roots_batch_after_batch() {
    use jmt::mock::MockTreeStore;
    use jmt::{JellyfishMerkleTree, KeyHash};
    let store = MockTreeStore::default();
    let jmt_tree: JellyfishMerkleTree<'_, _, Sha256> = JellyfishMerkleTree::new(&store);
    let mut ours = smt::Tree::default();
    let keys = key_hashes(3000, 1);
    let mut all: BTreeMap<[u8; 32], Touched> = BTreeMap::new();
    // Batches of new keys and of keys already there, at growing sizes.
    for (version, chunk) in (0u64..).zip(keys.chunks(250)) {
        let mut batch: BTreeMap<[u8; 32], Touched> = chunk
            .iter()
            .zip(0u32..)
            .map(|(k, n)| (*k, value(n + u32::try_from(version).unwrap_or(0))))
            .collect();
        for old in all.keys().step_by(9) {
            batch.insert(*old, value(u32::try_from(version).unwrap_or(0)));
        }
        let sets: Vec<_> = batch.iter().map(|(k, v)| (*k, *v)).collect();
        let patch = ours.patch(&sets).expect("a patch");
        ours.install(patch).expect("installed");
        all.extend(batch.iter().map(|(k, v)| (*k, *v)));

        let (root, update) = jmt_tree
            .put_value_set(
                batch
                    .iter()
                    .map(|(k, v)| (KeyHash(*k), Some(v.to_bytes().to_vec()))),
                version,
            )
            .expect("jmt's root");
        store.write_tree_update_batch(update).expect("jmt's nodes");
        assert_eq!(ours.root_hash(), root.0, "after batch {version}");
    }
    let leaves: Vec<_> = all.iter().map(|(k, v)| (*k, smt::value_hash(v))).collect();
    assert_eq!(ours.root_hash(), reference_root(&leaves, 0));
    assert_eq!(ours.len(), all.len());
}

#[test]
fn every_path_proves_its_key_and_no_tampered_path_does() {
    let mut tree = smt::Tree::default();
    let keys = key_hashes(400, 2);
    let mut sets: Vec<_> = keys.iter().zip(0..).map(|(k, n)| (*k, value(n))).collect();
    sets.sort_unstable_by_key(|s| s.0);
    tree.install(tree.patch(&sets).expect("a patch"))
        .expect("installed");
    let root = tree.root_hash();
    for (k, v) in &sets {
        assert_eq!(tree.get(k), Some(*v));
        let path = tree.path(k);
        assert_eq!(path.leaf, Some((*k, *v)));
        assert_eq!(smt::root_of(k, Some(v), None, &path.siblings), Ok(root));
        // Any sibling changed, dropped or added leads elsewhere.
        for d in 0..path.siblings.len() {
            let mut bad = path.siblings.clone();
            bad[d][0] ^= 1;
            assert_ne!(smt::root_of(k, Some(v), None, &bad), Ok(root));
        }
        let short = &path.siblings[..path.siblings.len() - 1];
        assert_ne!(smt::root_of(k, Some(v), None, short), Ok(root));
        let mut long = path.siblings.clone();
        long.push(smt::PLACEHOLDER);
        assert_ne!(smt::root_of(k, Some(v), None, &long), Ok(root));
        // Nor is the key absent.
        assert_ne!(smt::root_of(k, None, None, &path.siblings), Ok(root));
    }
    // Keys not there: each path ends in an empty subtree or at another
    // key's leaf on the way, and proves absence only.
    for k in key_hashes(200, 3) {
        assert_eq!(tree.get(&k), None);
        let path = tree.path(&k);
        let other = path.leaf.map(|(o, v)| (o, smt::value_hash(&v)));
        assert_eq!(smt::root_of(&k, None, other, &path.siblings), Ok(root));
        assert_ne!(
            smt::root_of(&k, Some(&value(1)), None, &path.siblings),
            Ok(root)
        );
        if let Some((o, v)) = other {
            // The other leaf must lie on the key's path.
            let mut off = o;
            off[0] ^= 0x80;
            assert!(smt::root_of(&k, None, Some((off, v)), &path.siblings).is_err());
            assert!(smt::root_of(&o, None, Some((o, v)), &path.siblings).is_err());
        }
    }
    let too_long = vec![smt::PLACEHOLDER; smt::KEY_BITS + 1];
    assert!(smt::root_of(&keys[0], None, None, &too_long).is_err());
}

#[test]
fn a_patch_installs_only_on_the_tree_it_was_made_against() {
    let mut tree = smt::Tree::default();
    let keys = key_hashes(10, 4);
    let one = tree.patch(&[(keys[0], value(1))]).expect("a patch");
    let two = tree.patch(&[(keys[1], value(2))]).expect("a patch");
    tree.install(one).expect("installed");
    assert!(tree.install(two).is_err(), "made before the first went in");
    assert!(
        tree.patch(&[(keys[2], value(1)), (keys[2], value(2))])
            .is_err(),
        "a key twice"
    );
}
