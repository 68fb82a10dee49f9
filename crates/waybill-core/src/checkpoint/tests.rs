use super::*;

use ed25519_dalek::SigningKey;
use signed_note::StandardVerifier;
use waybill_testkit::consortium::key;

use crate::crypto;
use crate::merkle;

fn chain() -> ChainId {
    Hash32::digest(b"a chain")
}

fn validators(keys: &[SigningKey]) -> Vec<ValidatorSpec> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| ValidatorSpec {
            name: format!("validator {}", i + 1),
            public_key: PublicKey(k.verifying_key().to_bytes()),
            power: 1,
            p2p: Vec::new(),
        })
        .collect()
}

fn keys(n: u8) -> Vec<SigningKey> {
    (1..=n).map(key).collect()
}

fn id(i: u64) -> EntryId {
    Hash32::digest(&i.to_be_bytes())
}

fn log_of(n: u64) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..n {
        log.push(&id(i));
    }
    log
}

fn checkpoint_of(log: &MemoryLog, size: u64) -> Checkpoint {
    Checkpoint {
        origin: origin(&chain()),
        size,
        root: log.root(size).expect("a size within the log"),
        height: size + 1,
        block: Hash32::digest(&size.to_be_bytes()),
        index: Hash32::digest(b"an index"),
    }
}

fn hex32(s: &str) -> Hash32 {
    let mut h = [0; 32];
    hex::decode_to_slice(s, &mut h).expect("test vector hex");
    Hash32(h)
}

/// RFC 6962's reference tree (the Certificate Transparency test tree of
/// eight leaves) and its roots at each size.
#[test]
fn the_log_gives_the_rfc_6962_reference_roots() {
    let leaves: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut log = MemoryLog::new();
    assert_eq!(
        log.root(0).expect("the empty log"),
        Hash32::digest(b""),
        "the empty tree's root is SHA-256 of nothing"
    );
    for leaf in leaves {
        log.push_data(leaf);
    }
    for (size, want) in (1..=8).zip(roots) {
        assert_eq!(log.root(size).expect("within"), hex32(want), "size {size}");
    }
}

#[test]
fn the_log_over_entry_ids_has_each_blocks_entries_root_for_its_leaves() {
    // The same leaves as a block's entries root: a log of one block's
    // entries has that block's root.
    for n in 1..=33 {
        let ids: Vec<EntryId> = (0..n).map(id).collect();
        let leaves: Vec<merkle::Hash> = ids.iter().map(|i| i.0).collect();
        assert_eq!(
            log_of(n).root(n).expect("within").0,
            merkle::root(&leaves),
            "{n} leaves"
        );
    }
}

#[test]
fn every_inclusion_and_consistency_proof_holds_and_a_changed_one_does_not() {
    let log = log_of(21);
    for new in 1..=21 {
        let cp = checkpoint_of(&log, new);
        for index in 0..new {
            let proof = log.prove_inclusion(index, new).expect("a leaf within");
            check_inclusion(&cp, index, &id(index), &proof).expect("inclusion holds");
            assert!(check_inclusion(&cp, index, &id(index + 100), &proof).is_err());
            if let Some(first) = proof.first() {
                let mut bent = proof.clone();
                bent[0] = Hash32::digest(&first.0);
                assert!(check_inclusion(&cp, index, &id(index), &bent).is_err());
            }
        }
        for old in 0..=new {
            let proof = log.prove_consistency(old, new).expect("sizes within");
            check_consistency(&checkpoint_of(&log, old), &cp, &proof)
                .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
            if let Some(last) = proof.last() {
                let mut bent = proof.clone();
                let end = bent.len() - 1;
                bent[end] = Hash32::digest(&last.0);
                assert!(check_consistency(&checkpoint_of(&log, old), &cp, &bent).is_err());
            }
        }
    }
}

#[test]
fn a_forked_history_is_caught() {
    let log = log_of(12);
    // Another history: the same first 7 entries, then different ones.
    let mut other = log_of(7);
    for i in 7..12 {
        other.push(&id(i + 1000));
    }
    let ours = checkpoint_of(&log, 12);
    let theirs = checkpoint_of(&other, 12);
    let same_size = check_consistency(&ours, &theirs, &[]).expect_err("a fork");
    assert!(
        matches!(same_size, CheckpointError::Fork(ref m) if m.contains("different roots")),
        "{same_size}"
    );
    // A smaller tree of the other history is not a prefix of ours, with
    // the other history's own proof or ours.
    let small = checkpoint_of(&other, 9);
    for proof in [
        other.prove_consistency(9, 12).expect("within"),
        log.prove_consistency(9, 12).expect("within"),
    ] {
        let e = check_consistency(&small, &ours, &proof).expect_err("not a prefix");
        assert!(matches!(e, CheckpointError::Fork(_)), "{e}");
    }
    // Up to the fork, the two agree.
    check_consistency(
        &checkpoint_of(&other, 7),
        &ours,
        &log.prove_consistency(7, 12).expect("within"),
    )
    .expect("a common prefix");
    // Heights that go back, or two blocks at one height, with the same
    // entries (empty blocks in between).
    let mut later = checkpoint_of(&log, 12);
    later.height += 3;
    later.block = Hash32::digest(b"a later block");
    check_consistency(&ours, &later, &[]).expect("empty blocks on");
    let e = check_consistency(&later, &ours, &[]).expect_err("back in height");
    assert!(e.to_string().contains("before the older's"), "{e}");
    let mut twin = ours.clone();
    twin.block = Hash32::digest(b"another block");
    let e = check_consistency(&ours, &twin, &[]).expect_err("two blocks");
    assert!(e.to_string().contains("different blocks"), "{e}");
    // A log that shrank.
    let e = check_consistency(&ours, &checkpoint_of(&log, 11), &[]).expect_err("shrank");
    assert!(e.to_string().contains("fewer"), "{e}");
}

#[test]
fn hostile_proofs_are_refused_without_work() {
    let log = log_of(8);
    let cp = checkpoint_of(&log, 8);
    let huge = vec![Hash32::default(); 1_000_000];
    let e = check_inclusion(&cp, 3, &id(3), &huge).expect_err("too long");
    assert!(
        e.to_string()
            .contains("no inclusion proof has more than 64"),
        "{e}"
    );
    let e = check_consistency(&checkpoint_of(&log, 3), &cp, &huge).expect_err("too long");
    assert!(
        e.to_string()
            .contains("no consistency proof has more than 128"),
        "{e}"
    );
    let e = check_inclusion(&cp, 8, &id(8), &[]).expect_err("outside");
    assert!(e.to_string().contains("outside"), "{e}");
    assert!(log.prove_inclusion(8, 8).is_err());
    assert!(log.prove_consistency(3, 9).is_err());
    assert!(log.root(9).is_err());
}

#[test]
fn a_checkpoint_body_reads_back_and_only_its_own_spelling_is_accepted() {
    let cp = checkpoint_of(&log_of(5), 5);
    let body = cp.body();
    let text = String::from_utf8(body.clone()).expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], format!("waybill/{}", chain().to_hex()));
    assert_eq!(lines[1], "5");
    assert_eq!(lines[3], "height 6");
    assert!(lines[4].starts_with("block "));
    assert!(lines[5].starts_with("index "));
    assert_eq!(Checkpoint::parse(&body).expect("its own body"), cp);
    // Any tlog-checkpoint reader sees origin, size and root.
    let generic = tlog_tiles::Checkpoint::from_bytes(&body).expect("a C2SP checkpoint");
    assert_eq!((generic.origin(), generic.size()), (cp.origin.as_str(), 5));

    for (bad, why) in [
        (text.replacen("\n5\n", "\n05\n", 1), "leading zero"),
        (
            text.replace("height 6", "height 06"),
            "leading zero in height",
        ),
        (text.replace("height 6", "height -6"), "negative height"),
        (text.replace("height 6\n", ""), "no height"),
        (format!("{text}more\n"), "a line too many"),
        (text.replace("block ", "block  "), "two spaces"),
        (text.replace(lines[5], ""), "no index"),
        (
            text.replace(
                &format!("{}\n{}", lines[4], lines[5]),
                &format!("{}\n{}", lines[5], lines[4]),
            ),
            "index before block",
        ),
        (text.replace("index ", "index AAAA"), "index not 32 bytes"),
        (text.trim_end().to_string(), "no final newline"),
    ] {
        assert!(Checkpoint::parse(bad.as_bytes()).is_err(), "{why}: {bad}");
    }
}

/// The example of the C2SP signed-note specification: its vkey, message
/// and signature line.
#[test]
fn the_signed_note_specification_example_verifies_and_its_key_id_is_ours() {
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let msg = "This is an example message.\n\n\
        — example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let verifier = StandardVerifier::new(vkey).expect("the spec's vkey");
    let note = Note::from_bytes(msg.as_bytes()).expect("the spec's note");
    let (verified, _) = note
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .expect("the spec's signature verifies");
    assert_eq!(verified.len(), 1);
    // The key id by our own function, from the vkey's type byte and key.
    let b64 = "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let raw = base64_decode(b64);
    assert_eq!(raw[0], 0x01, "an Ed25519 note key");
    assert_eq!(key_id("example.com/foo", raw[0], &raw[1..]), 0x530d903a);
}

/// The cosigned checkpoint of the C2SP tlog-cosignature specification:
/// its witness line is a timestamped signature whose time is the one the
/// specification's signed message shows.
#[test]
fn the_cosignature_specification_example_has_its_stated_time() {
    let msg = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
        — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        — witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let note = Note::from_bytes(msg.as_bytes()).expect("the spec's note");
    let line = msg
        .lines()
        .find(|l| l.contains("witness.example.com/w1"))
        .expect("a witness line");
    let witness = signed_note::Signature::from_bytes(line.as_bytes()).expect("a well-formed line");
    let (time, sig) = split_timestamped(witness.signature()).expect("timestamped");
    assert_eq!(time, 1679315147);
    assert_eq!(sig.len(), 64);
    // A Waybill reader refuses it as another shape of checkpoint (no
    // height or block line), but a generic reader reads it.
    assert!(Checkpoint::parse(note.text()).is_err());
    assert_eq!(
        tlog_tiles::Checkpoint::from_bytes(note.text())
            .expect("C2SP")
            .size(),
        20852163
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    // The note crate decodes a signature line's base64; reuse it through a
    // line whose payload is `s`.
    let line = format!("— k {s}");
    let sig = signed_note::Signature::from_bytes(line.as_bytes()).expect("base64");
    let mut out = sig.id().to_be_bytes().to_vec();
    out.extend_from_slice(sig.signature());
    out
}

fn cosigned(cp: &Checkpoint, signers: &[SigningKey], time: u64) -> Vec<u8> {
    let sigs: Vec<_> = signers
        .iter()
        .map(|k| cosign(cp, &chain(), k, time).expect("cosign"))
        .collect();
    note(cp, &sigs).expect("a note")
}

#[test]
fn a_checkpoint_is_as_fresh_as_more_than_a_third_of_the_power_says() {
    let keys = keys(4);
    let set = validators(&keys);
    let cp = checkpoint_of(&log_of(10), 10);
    let line = |k: &SigningKey, t: u64| cosign(&cp, &chain(), k, t).expect("cosign");
    let old = 1_765_000_000;
    // One validator (a quarter of the power) states a later time: the
    // view stays as old as the other three say.
    let one_liar = note(
        &cp,
        &[
            line(&keys[0], old),
            line(&keys[1], old),
            line(&keys[2], old),
            line(&keys[3], old + 86_400),
        ],
    )
    .expect("a note");
    let c = verify(&one_liar, &chain(), &set).expect("certified");
    assert_eq!(c.time, old);
    // Two (half the power) are more than a third: at least one of them is
    // honest, so the later time stands.
    let two = note(
        &cp,
        &[
            line(&keys[0], old),
            line(&keys[1], old),
            line(&keys[2], old + 60),
            line(&keys[3], old + 86_400),
        ],
    )
    .expect("a note");
    assert_eq!(
        verify(&two, &chain(), &set).expect("certified").time,
        old + 60
    );
    // Power counts, not lines: a validator with two of five votes alone
    // is more than a third.
    let mut weighted = set.clone();
    weighted[3].power = 2;
    assert_eq!(
        verify(&one_liar, &chain(), &weighted)
            .expect("certified")
            .time,
        old + 86_400
    );
}

#[test]
fn a_checkpoint_cosigned_by_more_than_two_thirds_is_certified() {
    let keys = keys(4);
    let set = validators(&keys);
    let cp = checkpoint_of(&log_of(10), 10);
    let bytes = cosigned(&cp, &keys[..3], 1_765_000_000);
    let certified = verify(&bytes, &chain(), &set).expect("three of four");
    assert_eq!(certified.checkpoint, cp);
    assert_eq!(certified.cosigners.len(), 3);
    assert_eq!(certified.time, 1_765_000_000);
    // Each line is a C2SP cosignature: `— name base64(id || time || sig)`.
    let text = String::from_utf8(bytes.clone()).expect("text");
    let line = text.lines().find(|l| l.starts_with("— ")).expect("a line");
    let sig = signed_note::Signature::from_bytes(line.as_bytes()).expect("a note signature");
    assert_eq!(sig.signature().len(), 8 + 64);
    assert_eq!(
        sig.name(),
        format!(
            "waybill/{}/validator/{}",
            chain().to_hex(),
            set[0].public_key.to_hex()
        )
    );

    let e = verify(&cosigned(&cp, &keys[..2], 1), &chain(), &set).expect_err("two of four");
    assert_eq!(e, CheckpointError::NoQuorum { power: 2, total: 4 });
    // The same line twice counts once.
    let twice = {
        let s = cosign(&cp, &chain(), &keys[0], 1).expect("cosign");
        let t = cosign(&cp, &chain(), &keys[1], 1).expect("cosign");
        note(&cp, &[s.clone(), s, t]).expect("a note")
    };
    assert!(matches!(
        verify(&twice, &chain(), &set),
        Err(CheckpointError::NoQuorum { power: 2, .. })
    ));
    // Lines of keys that are not validators are ignored.
    let outsider = cosign(&cp, &chain(), &key(99), 1).expect("cosign");
    let mut sigs: Vec<_> = keys[..3]
        .iter()
        .map(|k| cosign(&cp, &chain(), k, 1).expect("cosign"))
        .collect();
    sigs.push(outsider);
    let with_outsider = note(&cp, &sigs).expect("a note");
    assert_eq!(
        verify(&with_outsider, &chain(), &set)
            .expect("still three")
            .cosigners
            .len(),
        3
    );
}

#[test]
fn a_changed_checkpoint_or_another_chains_is_refused() {
    let keys = keys(4);
    let set = validators(&keys);
    let cp = checkpoint_of(&log_of(10), 10);
    let bytes = cosigned(&cp, &keys, 1_765_000_000);
    let text = String::from_utf8(bytes).expect("text");
    // Another root under the same signatures.
    let other_root = text.replacen(
        &tlog_tiles::Hash(cp.root.0).to_string(),
        &tlog_tiles::Hash(Hash32::digest(b"x").0).to_string(),
        1,
    );
    let e = verify(other_root.as_bytes(), &chain(), &set).expect_err("changed");
    assert_eq!(e, CheckpointError::BadCosignature("`validator 1`".into()));
    // Another size.
    let other_size = text.replacen("\n10\n", "\n11\n", 1);
    assert!(verify(other_size.as_bytes(), &chain(), &set).is_err());
    // Another chain's validators and origin.
    let other_chain = Hash32::digest(b"another chain");
    let e = verify(text.as_bytes(), &other_chain, &set).expect_err("another chain");
    assert!(matches!(e, CheckpointError::OtherLog { .. }), "{e}");
    // Bad bytes.
    for junk in [
        &b""[..],
        b"\xff\xfe",
        b"waybill/00\n1\n\n",
        &[b'a'; 2_000_000],
    ] {
        assert!(verify(junk, &chain(), &set).is_err());
    }
    // A time past 2^63 - 1 is refused when signing.
    assert!(cosign(&cp, &chain(), &keys[0], u64::MAX).is_err());
}

#[test]
fn notes_of_one_checkpoint_join_and_notes_of_two_do_not() {
    let keys = keys(4);
    let set = validators(&keys);
    let log = log_of(10);
    let cp = checkpoint_of(&log, 10);
    // Each validator's node serves the note with its own line.
    let single: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| cosigned(&cp, std::slice::from_ref(k), 7))
        .collect();
    for one in &single {
        assert!(matches!(
            verify(one, &chain(), &set),
            Err(CheckpointError::NoQuorum { power: 1, total: 4 })
        ));
    }
    let joined = join(&single[..3]).expect("one checkpoint");
    assert_eq!(
        verify(&joined, &chain(), &set)
            .expect("three")
            .cosigners
            .len(),
        3
    );
    // Joining again, or a note twice, adds nothing twice.
    let again = join(&[joined.clone(), single[0].clone(), single[3].clone()]).expect("join");
    assert_eq!(
        verify(&again, &chain(), &set)
            .expect("four")
            .cosigners
            .len(),
        4
    );
    let (_, lines) = open_note(&again).expect("a note");
    assert_eq!(lines.len(), 4);

    // A node serving another tree head for the height.
    let mut other_log = log_of(9);
    other_log.push(&id(1000));
    let other = checkpoint_of(&other_log, 10);
    let e =
        join(&[single[0].clone(), cosigned(&other, &[keys[1].clone()], 7)]).expect_err("two heads");
    assert!(
        matches!(e, CheckpointError::Fork(ref m) if m.contains("two checkpoints at height 11")),
        "{e}"
    );
    assert!(join(&[]).is_err());
    assert!(join(&[b"junk".to_vec()]).is_err());
}

/// A cosignature kept apart from its note (as a precommit carries it and
/// a block stores it) makes the same line as `cosign`, reads back from its
/// bytes, and verifies only for its own checkpoint and validator.
#[test]
fn a_cosignature_apart_from_its_note_makes_the_same_line() {
    let log = log_of(9);
    let cp = checkpoint_of(&log, 9);
    let k = key(3);
    let c = Cosignature::sign(&cp, &k, 1_700_000_000).expect("a time in range");
    assert_eq!(
        c.line(&chain()).expect("a line"),
        cosign(&cp, &chain(), &k, 1_700_000_000).expect("a line")
    );
    let back = Cosignature::from_bytes(c.validator, &c.to_bytes()).expect("its own bytes");
    assert_eq!(back, c);
    assert_eq!(back.verify(&cp), Ok(()));
    // Another checkpoint, another validator, another time: refused.
    assert!(c.verify(&checkpoint_of(&log, 8)).is_err());
    let other = Cosignature {
        validator: crypto::public_key(&key(4)),
        ..c
    };
    assert!(other.verify(&cp).is_err());
    let later = Cosignature {
        time: c.time + 1,
        ..c
    };
    assert!(later.verify(&cp).is_err());
    // Bytes of another length, or a time past 2^63 - 1, are not one.
    assert!(Cosignature::from_bytes(c.validator, &c.to_bytes()[..71]).is_err());
    assert!(
        Cosignature::from_bytes(c.validator, &[c.to_bytes().as_slice(), &[0]].concat()).is_err()
    );
    let mut far = c.to_bytes();
    far[0] = 0x80;
    assert!(Cosignature::from_bytes(c.validator, &far).is_err());
    assert!(Cosignature::sign(&cp, &k, 1 << 63).is_err());
    // Its line verifies in a note with the others of a quorum.
    let ks = keys(4);
    let lines: Vec<NoteLine> = ks[..3]
        .iter()
        .map(|k| {
            Cosignature::sign(&cp, k, 5)
                .and_then(|c| c.line(&chain()))
                .expect("a line")
        })
        .collect();
    let n = note(&cp, &lines).expect("a note");
    let certified = verify(&n, &chain(), &validators(&ks)).expect("a quorum");
    assert_eq!(certified.cosigners.len(), 3);
}
