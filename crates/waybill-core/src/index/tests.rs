use super::*;

use crate::crypto::Hash32;

fn lot(s: &str) -> IndexKey {
    IndexKey::Lot(s.parse().expect("a lot id"))
}

fn id(n: u8) -> EntryId {
    Hash32([n; 32])
}

/// An index with `blocks` applied, each a list of (key, entry) touches.
fn index_of(blocks: &[Vec<(IndexKey, EntryId)>]) -> MemoryIndex {
    let mut index = MemoryIndex::new().expect("an empty index");
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
    let index = MemoryIndex::new().expect("an empty index");
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

    let p = index.prove(&green).expect("a proof");
    assert_eq!(p.verify(&root), Ok(Touched::of(&[id(1), id(3)])));
    let p = index.prove(&roasted).expect("a proof");
    assert_eq!(p.verify(&root).map(|t| t.count), Ok(1));
    // A key nothing touched is proven absent: zero entries.
    let p = index.prove(&never).expect("a proof");
    assert_eq!(p.touched, None);
    assert_eq!(p.verify(&root), Ok(Touched::default()));

    // Under another root, or claiming another value, nothing holds.
    let p = index.prove(&green).expect("a proof");
    assert!(p.verify(&Hash32([7; 32])).is_err());
    let mut fewer = index.prove(&green).expect("a proof");
    fewer.touched = Some((1, Touched::of(&[id(1)]).last));
    let e = fewer.verify(&root).expect_err("a value left behind");
    assert!(e.to_string().contains("lot G1"), "{e}");
    // A present key cannot be passed off as absent.
    let mut absent = index.prove(&green).expect("a proof");
    absent.touched = None;
    assert!(absent.verify(&root).is_err());
    // Nor one key's proof as another's.
    let mut other = index.prove(&green).expect("a proof");
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
    let p = index.prove(&green).expect("a proof");
    assert_eq!(p.verify(&before).map(|t| t.count), Ok(1));
    let root = update.root();
    index.install(update).expect("installed");
    assert_eq!(index.root(), root);
    assert_ne!(root, before);
    let p = index.prove(&green).expect("a proof");
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
fn stale_nodes_are_dropped_as_the_index_grows() {
    // One key touched in every block: the tree stays one leaf, whatever
    // the height.
    let key = lot("HOT");
    let blocks: Vec<_> = (0..50u8).map(|n| vec![(key.clone(), id(n))]).collect();
    let index = index_of(&blocks);
    assert!(index.nodes.len() <= 2, "{} nodes kept", index.nodes.len());
    let p = index.prove(&key).expect("a proof");
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
        let p = index.prove(k).expect("a proof");
        let want = Touched::of(&[id(u8::try_from(n / 50).unwrap_or(0))]);
        assert_eq!(p.verify(&root), Ok(want), "{k}");
    }
    // The proof survives its JSON form.
    let p = index.prove(&keys[7]).expect("a proof");
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
    let p = rebuilt.prove(&b).expect("a proof");
    assert_eq!(p.verify(&rebuilt.root()), Ok(Touched::of(&[id(2), id(4)])));
    let p = rebuilt.prove(&a).expect("a proof");
    assert_eq!(p.verify(&rebuilt.root()).map(|t| t.count), Ok(2));
}

#[test]
fn the_tree_is_the_jmt_crates_sha256_tree() {
    // The jmt crate's published SHA-256 vectors: keys and values not
    // pre-hashed, the key hashed with SHA-256 into its place.
    let vectors: [(&[(&str, &str)], &str); 2] = [
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
        let index = MemoryIndex::default();
        let tree: JellyfishMerkleTree<'_, _, Sha256> = JellyfishMerkleTree::new(&index);
        let set = data.iter().map(|(k, v)| {
            (
                KeyHash(Sha256::digest(k.as_bytes()).into()),
                Some(v.as_bytes().to_vec()),
            )
        });
        let (got, _) = tree.put_value_set(set, 0).expect("a root");
        assert_eq!(hex::encode(got.0), root);
    }
}
