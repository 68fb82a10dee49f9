//! The mempool's own test fixtures, on the shared test kit
//! (`waybill-testkit`): the kit's consortium at genesis, shorthand for the
//! entries the tests queue, a commit that does what the ledger does, seeded
//! random walks of valid entries over a small market, and the check from
//! scratch that revision must agree with.
//!
//! Used by the integration tests (`tests/pool.rs`) and, through a
//! `#[path]` module, by the crate's unit tests that look inside the pool
//! (`src/tests.rs`); each uses a different part of it.
#![allow(dead_code)]

use std::ops::Deref;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;
use waybill_core::crypto;
use waybill_core::entry::{Entry, EntryId, SignedEntry};
use waybill_core::genesis::{Genesis, Role, ValidatorSpec};
use waybill_core::rules::{self, At, Mode, RuleError};
use waybill_core::state::{Changes, Overlay, State, View};
use waybill_testkit::entries::{self, signed};
use waybill_testkit::ids::{lot, ship, uetr};
use waybill_testkit::{signer, Consortium, Party};

/// The kit's consortium (one validator) at genesis. The tests use its
/// producer, retailer, carrier and first admin.
pub struct World {
    pub consortium: Consortium,
    pub state: State,
}

impl Deref for World {
    type Target = Consortium;
    fn deref(&self) -> &Consortium {
        &self.consortium
    }
}

impl World {
    /// The admin that signs membership changes.
    pub fn admin(&self) -> &Party {
        &self.admins[0]
    }
}

pub fn world() -> World {
    let consortium = Consortium::builder()
        .chain_name("mempool-tests")
        .single_validator()
        .build();
    let state = State::genesis(&consortium.genesis);
    World { consortium, state }
}

/// The producer makes 1,000 kg of lot `l` from nothing.
pub fn produce(w: &World, nonce: u64, l: &str) -> SignedEntry {
    signed(w.chain_id, &w.producer, nonce, entries::produce(l, "1000"))
}

/// The producer makes 1,000 kg of lot `l`, consuming `quantity` kg of
/// lot `input`.
pub fn produce_from(w: &World, nonce: u64, l: &str, input: &str, quantity: &str) -> SignedEntry {
    let body = entries::produce_from(l, "1000", &[(input, quantity)]);
    signed(w.chain_id, &w.producer, nonce, body)
}

/// `who` ships lot `l` to `to` as shipment `s`, with no carrier.
pub fn dispatch(w: &World, who: &Party, nonce: u64, s: &str, l: &str, to: &Party) -> SignedEntry {
    signed(
        w.chain_id,
        who,
        nonce,
        entries::dispatch(s, &[l], &to.pk, None),
    )
}

/// `who` receives shipment `s`.
pub fn receive(w: &World, who: &Party, nonce: u64, s: &str) -> SignedEntry {
    signed(w.chain_id, who, nonce, entries::receive(s))
}

/// Commits `entries` as block `height` to `state` (as the ledger
/// would): their ids and the block's writes.
pub fn commit(state: &mut State, entries: &[SignedEntry], height: u64) -> (Vec<EntryId>, Changes) {
    let applied = rules::apply_block(&*state, entries, at(height)).unwrap();
    state.commit(applied.changes.clone());
    (entries.iter().map(|e| e.id()).collect(), applied.changes)
}

/// Members who trade with each other, for random walks: two producers
/// (one also pays), a carrier, two retailers (one also pays), on a chain
/// of their own with one validator.
pub fn market() -> (State, Vec<Party>) {
    use Role::*;
    let parties = vec![
        Party::new("M0", 11, &[Producer, Payer]),
        Party::new("M1", 12, &[Producer]),
        Party::new("M2", 13, &[Carrier]),
        Party::new("M3", 14, &[Retailer, Payer]),
        Party::new("M4", 15, &[Retailer]),
    ];
    let validator = Party::new("v", 100, &[]);
    let genesis = Genesis {
        chain_name: "mempool-walks".into(),
        members: parties.iter().map(|p| p.spec("CO")).collect(),
        validators: vec![ValidatorSpec {
            name: validator.name,
            public_key: validator.pk,
            power: 1,
            p2p: Vec::new(),
        }],
        consensus: Default::default(),
        governance: Default::default(),
        yields: Vec::new(),
    };
    genesis.validate().unwrap();
    (State::genesis(&genesis), parties)
}

/// A random entry by `who` at its next nonce in `view`; lots,
/// shipments and payments come from small sets of ids, so that walks
/// collide.
pub fn random_entry(
    rng: &mut ChaCha8Rng,
    view: &dyn View,
    parties: &[Party],
    who: &Party,
) -> Entry {
    let mut pick = |n: u64| rng.next_u64() % n;
    let lot = |n: u64| lot(&format!("L{n}"));
    let ship = |n: u64| ship(&format!("S{n}"));
    let other = parties[pick(parties.len() as u64) as usize].pk;
    // Each body draws its numbers in the order its fields are written.
    let body = match pick(6) {
        0 | 1 => {
            let made = lot(pick(6));
            let milli = 1_000 * (1 + pick(4));
            let inputs = if pick(2) == 0 {
                Vec::new()
            } else {
                vec![(lot(pick(6)), 500 * (1 + pick(3)))]
            };
            signer::produce_body(&made, milli, &inputs)
        }
        2 => {
            let shipment = ship(pick(4));
            let lots: Vec<_> = (0..1 + pick(2)).map(|_| lot(pick(6))).collect();
            let carrier = (pick(2) == 0).then_some(&parties[2].pk);
            signer::dispatch_body(&shipment, &lots, &other, carrier)
        }
        3 => signer::receive_body(&ship(pick(4))),
        4 => signer::reject_body(&ship(pick(4))),
        _ => {
            let id = uetr(pick(4));
            let amount_minor = 100 + pick(100);
            let shipments = [ship(pick(4))];
            signer::payment_body(id, &who.pk, &other, amount_minor, &shipments, false)
        }
    };
    entries::entry(*view.chain_id(), &who.pk, view.nonce(&who.pk) + 1, body)
}

/// `from` and `steps` more valid entries in a row on top of `state`,
/// each the first of a few random tries that passes the rules.
pub fn walk(
    rng: &mut ChaCha8Rng,
    state: &State,
    parties: &[Party],
    from: &[SignedEntry],
    steps: usize,
) -> Vec<SignedEntry> {
    let mut overlay = Overlay::new(state);
    for e in from {
        overlay.push(rules::apply(&overlay, e, e.id(), at(1)).unwrap());
    }
    let mut out = from.to_vec();
    for _ in 0..steps {
        for _ in 0..20 {
            let who = &parties[(rng.next_u64() % parties.len() as u64) as usize];
            let entry = random_entry(rng, &overlay, parties, who);
            // Tried unsigned (signing is the slow part), then signed.
            let unsigned = SignedEntry {
                entry,
                signature: crypto::Signature([0; 64]),
                cosignatures: Vec::new(),
            };
            if rules::apply_shaped(&overlay, &unsigned, unsigned.id(), at(1), Mode::Ledger).is_ok()
            {
                let e = unsigned.entry.sign(&who.key);
                overlay.push(rules::apply(&overlay, &e, e.id(), at(1)).unwrap());
                out.push(e);
                break;
            }
        }
    }
    out
}

/// `a` and `b` interleaved at random, each keeping its order.
pub fn shuffle(rng: &mut ChaCha8Rng, a: &[SignedEntry], b: &[SignedEntry]) -> Vec<SignedEntry> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && rng.next_u64().is_multiple_of(2)) {
            out.push(a[i].clone());
            i += 1;
        } else {
            out.push(b[j].clone());
            j += 1;
        }
    }
    out
}

/// What checking `waiting` again from scratch after a commit gives:
/// the entries kept with their writes, and the entries dropped.
#[allow(clippy::type_complexity)]
pub fn recheck_from_scratch(
    state: &State,
    waiting: &[SignedEntry],
    committed: &[EntryId],
    height: u64,
) -> (Vec<SignedEntry>, Vec<Changes>, Vec<(EntryId, RuleError)>) {
    let mut overlay = Overlay::new(state);
    let (mut kept, mut writes, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for e in waiting.iter().filter(|e| !committed.contains(&e.id())) {
        match rules::apply_shaped(&overlay, e, e.id(), at(height + 1), Mode::Ledger) {
            Ok(c) => {
                kept.push(e.clone());
                writes.push(c.clone());
                overlay.push(c);
            }
            Err(err) => dropped.push((e.id(), err)),
        }
    }
    (kept, writes, dropped)
}

/// Height `h` at a time an hour after the kit's T0 plus a minute per
/// height: after every entry these tests sign (their `recorded_at` is
/// T0 plus a second per nonce).
pub fn at(h: u64) -> At {
    At::new(
        h,
        waybill_testkit::T0 + 3_600_000 + i64::try_from(h).unwrap_or(0) * 60_000,
    )
}
