//! Governance through the store (issue 26): a change scheduled on a sled
//! ledger waits in the council through the delta log, a snapshot and a
//! reopen, is made at its height by an empty block, and the member it
//! adds signs from then on; in memory the same chain ends in the same
//! state.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tempfile::TempDir;
use waybill_core::genesis::{Role, ValidatorSpec};
use waybill_core::governance::{Compromise, GovernanceChange as G};
use waybill_core::rules::RuleError;
use waybill_core::state::View;
use waybill_store::{create_dir, Ledger, MemBackend, StoreError};

use support::*;
use waybill_testkit::entries::{cosigned, governance, produce};

#[test]
fn scheduled_governance_survives_snapshots_and_reopening_and_is_made_on_time() {
    let c = consortium();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).unwrap();
    let mut mem = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let mut s = Signer::new(&c);
    let newcomer = Party::new("Exportadora del Sur", 90, &[Role::Producer]);
    let quorum = |s: &mut Signer, at: u64, change: G| {
        cosigned(
            s.sign(&c.admins[0], governance(at, change)),
            &[&c.admins[1]],
        )
    };
    let block1 = vec![
        quorum(&mut s, 4, G::AddMember(newcomer.spec("CO"))),
        quorum(
            &mut s,
            4,
            G::AddValidator(ValidatorSpec {
                name: "validator-sg".into(),
                public_key: Party::new("validator-sg", 91, &[]).pk,
                power: 5,
                p2p: Vec::new(),
            }),
        ),
        quorum(
            &mut s,
            4,
            G::BindNodeKey {
                member: newcomer.pk,
                node_key: Party::new("node of Exportadora", 92, &[]).pk,
            },
        ),
        quorum(
            &mut s,
            6,
            G::RevokeKey {
                public_key: c.carrier.pk,
                compromised_since: Some(Compromise::Height(1)),
                replacement: None,
            },
        ),
    ];
    for l in [&mut ledger as &mut dyn AppendBoth, &mut mem] {
        l.append(&c, block1.clone());
    }
    // Scheduled, not made.
    let council = ledger.state().council().clone();
    assert_eq!(
        council.scheduled.keys().copied().collect::<Vec<_>>(),
        vec![4, 6]
    );
    assert!(ledger.state().member(&newcomer.pk).is_none());
    // A snapshot, then a block whose delta goes to the log; reopen.
    ledger.snapshot().unwrap();
    append_block(&c, &mut ledger, Vec::new());
    append_block(&c, &mut mem, Vec::new());
    let digest = ledger.state().digest();
    drop(ledger);
    let mut ledger = reopen(&dir).unwrap();
    assert_eq!(ledger.state().digest(), digest);
    assert_eq!(ledger.state().council(), &council);
    // Before height 4 the newcomer is refused; the block at 4 makes it a
    // member before its entries, so its production stands there.
    let early = s.sign(&newcomer, produce("EXPORT-1", "5"));
    let err = ledger
        .append_entries(vec![early.clone()], next_time(&ledger), c.validator.pk)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Rule {
                error: RuleError::NotYetMember { height: 4, .. },
                ..
            }
        ),
        "{err}"
    );
    append_block(&c, &mut ledger, Vec::new());
    append_block(&c, &mut mem, Vec::new());
    assert_eq!(ledger.height(), 3);
    for l in [&mut ledger as &mut dyn AppendBoth, &mut mem] {
        l.append(&c, vec![early.clone()]);
    }
    let council = ledger.state().council().clone();
    assert_eq!(council.validators.len(), 2);
    assert_eq!(
        council
            .node_keys
            .get(&Party::new("node of Exportadora", 92, &[]).pk),
        Some(&newcomer.pk)
    );
    assert_eq!(
        council.scheduled.keys().copied().collect::<Vec<_>>(),
        vec![6]
    );
    assert!(ledger
        .state()
        .member(&newcomer.pk)
        .is_some_and(|m| m.active()));
    // Two empty blocks: the revocation is made at 6, and kept over a
    // reopen (from the log alone, no snapshot since).
    for _ in 0..2 {
        append_block(&c, &mut ledger, Vec::new());
        append_block(&c, &mut mem, Vec::new());
    }
    let digest = ledger.state().digest();
    drop(ledger);
    let ledger = reopen(&dir).unwrap();
    assert_eq!(ledger.state().digest(), digest);
    assert_eq!(ledger.state().digest(), mem.state().digest());
    let council = ledger.state().council();
    assert!(council.scheduled.is_empty());
    assert_eq!(council.revocations[&c.carrier.pk].effective_height, 6);
    assert_eq!(council.node_keys.len(), 1, "the node key survives a reopen");
    assert!(ledger
        .state()
        .member(&c.carrier.pk)
        .is_some_and(|m| m.removed_at == Some(6)));
    ledger.check().unwrap();
}

/// Appending one block to a sled or a memory ledger alike.
trait AppendBoth {
    fn append(&mut self, c: &Consortium, entries: Vec<waybill_core::entry::SignedEntry>);
}

impl<B: waybill_store::Backend> AppendBoth for Ledger<B> {
    fn append(&mut self, c: &Consortium, entries: Vec<waybill_core::entry::SignedEntry>) {
        append_block(c, self, entries);
    }
}

#[test]
fn certificates_are_verified_against_the_validator_set_of_their_height() {
    // One validator; it moves to a new key at height 3.
    let c = consortium();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("ledger");
    let mut ledger = create_dir(&dir, c.genesis.clone()).unwrap();
    let mut s = Signer::new(&c);
    let new_hw = Party::new("validator, new hardware", 92, &[]);
    let rotate = cosigned(
        s.sign(
            &c.admins[0],
            governance(
                3,
                G::RotateValidatorKey {
                    old: c.validator.pk,
                    new: new_hw.pk,
                },
            ),
        ),
        &[&c.admins[1]],
    );
    let certified = |ledger: &mut Ledger<_>, entries, signer: &Party| {
        let block = ledger.seal(entries, next_time(ledger), c.validator.pk);
        let cert = certify_with(signer, &block.header);
        ledger.append(block, Some(cert))
    };
    certified(&mut ledger, vec![rotate], &c.validator).unwrap();
    // Height 2: still the old key's.
    let e = s.sign(&c.producer, produce("GREEN-1", "10"));
    certified(&mut ledger, vec![e], &c.validator).unwrap();
    // Height 3: the old key's certificate is refused, the new key's
    // stands.
    let e = s.sign(&c.producer, produce("GREEN-2", "10"));
    let before = ledger.state().digest();
    let err = certified(&mut ledger, vec![e.clone()], &c.validator).unwrap_err();
    assert!(
        err.to_string().contains("is not a validator at height 3"),
        "{err}"
    );
    assert_eq!((ledger.height(), ledger.state().digest()), (2, before));
    certified(&mut ledger, vec![e], &new_hw).unwrap();
    // `check` re-verifies every certificate against its height's set,
    // after a reopen too.
    assert_eq!(ledger.check().unwrap().certified, 3);
    drop(ledger);
    let ledger = reopen(&dir).unwrap();
    assert_eq!(ledger.check().unwrap().certified, 3);
    let t = ledger.trail(&waybill_testkit::ids::lot("GREEN-2")).unwrap();
    let strict = waybill_core::trail::Policy {
        require_certificates: true,
    };
    waybill_core::trail::verify(&c.genesis, &t, strict).unwrap();
}

/// The consortium's history as a node serves it: with the genesis alone,
/// it tells the validator set of each height (the set that cosigns that
/// height's checkpoint), and it is refused if it cannot say it.
#[test]
fn the_council_tells_the_validators_of_each_height() {
    use waybill_core::trail::council_validators;
    use waybill_testkit::certs::certificate;

    let c = consortium();
    let mut ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let mut s = Signer::new(&c);
    let sg = Party::new("validator-sg", 91, &[]);
    let add = cosigned(
        s.sign(
            &c.admins[0],
            governance(
                4,
                G::AddValidator(ValidatorSpec {
                    name: "validator-sg".into(),
                    public_key: sg.pk,
                    power: 5,
                    p2p: Vec::new(),
                }),
            ),
        ),
        &[&c.admins[1]],
    );
    let made = s.sign(&c.producer, produce("COUNCIL-1", "10"));
    for (h, entries) in (1u64..).zip([vec![add], vec![made], vec![], vec![], vec![]]) {
        let block = ledger.seal(entries, next_time(&ledger), c.validator.pk);
        // From height 4 the new validator's power is needed.
        let signers: Vec<&Party> = if h < 4 {
            vec![&c.validator]
        } else {
            vec![&c.validator, &sg]
        };
        let cert = certificate(&signers, &block.header);
        ledger.append(block, Some(cert)).unwrap();
    }
    let council = ledger.council().unwrap();
    assert_eq!(council.tip_height, 5);
    assert_eq!(council.items.len(), 1);
    let set = |council: &waybill_core::trail::Council, h: u64| {
        council_validators(&c.genesis, council, h)
            .map(|v| v.iter().map(|s| s.public_key).collect::<Vec<_>>())
    };
    assert_eq!(set(&council, 3).unwrap(), vec![c.validator.pk]);
    assert_eq!(set(&council, 4).unwrap(), vec![c.validator.pk, sg.pk]);
    assert_eq!(set(&council, 5).unwrap(), vec![c.validator.pk, sg.pk]);

    // Heights it cannot speak for.
    assert!(set(&council, 0).is_err());
    assert!(set(&council, 6).is_err());
    // Another kind of entry.
    let mut mixed = council.clone();
    let t = ledger
        .trail(&waybill_testkit::ids::lot("COUNCIL-1"))
        .unwrap();
    mixed.items.extend(
        t.items
            .into_iter()
            .filter(|i| !matches!(i.entry.entry.body, waybill_core::entry::Body::Governance(_))),
    );
    let e = set(&mixed, 5).unwrap_err().to_string();
    assert!(e.contains("not a membership or governance entry"), "{e}");
    // An entry changed, or its block's certificate left out.
    let mut changed = council.clone();
    changed.items[0].entry.signature.0[0] ^= 1;
    assert!(set(&changed, 5).is_err());
    let mut uncertified = council.clone();
    uncertified.items[0].certificate = None;
    let e = set(&uncertified, 5).unwrap_err().to_string();
    assert!(e.contains("commit certificate"), "{e}");
    // Another chain's genesis.
    let other = Consortium::named("another-chain");
    assert!(council_validators(&other.genesis, &council, 5).is_err());
}
