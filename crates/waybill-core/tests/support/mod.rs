//! waybill-core's own test helpers: a one-entry-per-height `Ledger`, a
//! block-building `Chain`, the trail a store would assemble, and an error
//! message check. The consortium, ids and entry builders come from
//! `waybill_testkit`, re-exported here.
//!
//! Every test binary includes this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, BTreeSet};

use waybill_core::block::Block;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, SignedEntry};
use waybill_core::genesis::Genesis;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::merkle;
use waybill_core::rules::{self, At, Effects, RuleError};
use waybill_core::state::{Changes, State, View};
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};

pub use waybill_testkit::certs::commit_certificate;
pub use waybill_testkit::consortium::{
    BRAND_GTIN, BRAND_PREFIX, FOREIGN_GTIN, PROCESSOR_PREFIX, PRODUCER_PREFIX,
};
pub use waybill_testkit::entries::*;
pub use waybill_testkit::ids::{
    currency, dec, doc, gln_under, gtin_under, lot, place, ship, sscc_under, uetr,
};
pub use waybill_testkit::{key, Consortium, Party, T0};

/// Asserts an error's message is a non-empty sentence naming each of `needles`.
pub fn assert_mentions(err: &dyn std::fmt::Display, needles: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.trim().is_empty(), "empty error message");
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not mention {n:?}");
    }
}

// ---------------------------------------------------------------------------
// A ledger: committed state, one entry per height.

/// Committed state with one entry per block height, as the rules see it.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub state: State,
    /// The last committed height.
    pub height: u64,
}

impl Ledger {
    pub fn new(genesis: &Genesis) -> Self {
        Ledger {
            state: State::genesis(genesis),
            height: 0,
        }
    }

    pub fn chain_id(&self) -> Hash32 {
        self.state.chain_id
    }

    /// The author's next correct nonce.
    pub fn next_nonce(&self, who: &Party) -> u64 {
        self.state.nonce(&who.pk) + 1
    }

    /// Signs `body` as `who` with the next correct nonce.
    pub fn sign(&self, who: &Party, body: Body) -> SignedEntry {
        signed(self.chain_id(), who, self.next_nonce(who), body)
    }

    /// Applies at the next height without committing.
    pub fn try_apply(&self, e: &SignedEntry) -> Result<Changes, RuleError> {
        rules::apply(&self.state, e, e.id(), self.next_at())
    }

    /// The next block's height and time (one minute per height after T0).
    pub fn next_at(&self) -> At {
        let h = self.height + 1;
        At::new(h, T0 + i64::try_from(h).unwrap() * 60_000)
    }

    /// Applies and commits at the next height; panics with the rule's
    /// message if refused.
    pub fn commit(&mut self, e: &SignedEntry) -> Changes {
        let before = self.state.digest();
        let changes = match self.try_apply(e) {
            Ok(c) => c,
            Err(err) => panic!("{} entry refused: {err} ({err:?})", e.entry.body.kind()),
        };
        assert_eq!(
            self.state.digest(),
            before,
            "apply must not change the state"
        );
        self.state.commit(changes.clone());
        self.height += 1;
        changes
    }

    /// Commits `n` empty blocks (each makes the governance changes due
    /// at its height, as a block's first step does).
    pub fn advance(&mut self, n: u64) {
        for _ in 0..n {
            self.height += 1;
            if let Some(due) = rules::activate(&self.state, self.height) {
                self.state.commit(due);
            }
        }
    }

    /// Signs with the next nonce and commits.
    pub fn record(&mut self, who: &Party, body: Body) -> SignedEntry {
        let e = self.sign(who, body);
        self.commit(&e);
        e
    }

    /// Expects the entry to be refused; checks that the refusal changed
    /// nothing (the state, its digest, and that the author's next correct
    /// nonce is still free) and returns the error.
    pub fn refuse(&self, e: &SignedEntry) -> RuleError {
        let before = self.state.clone();
        let digest = before.digest();
        let err = match self.try_apply(e) {
            Ok(c) => panic!(
                "{} entry was accepted, expected a refusal; changes: {c:?}",
                e.entry.body.kind()
            ),
            Err(err) => err,
        };
        assert_eq!(self.state, before, "a refused entry changed the state");
        assert_eq!(self.state.digest(), digest);
        assert!(!err.to_string().trim().is_empty());
        err
    }
}

// ---------------------------------------------------------------------------
// A chain of blocks.

/// Blocks sealed on top of each other, with the state after the last one.
#[derive(Debug, Clone)]
pub struct Chain {
    pub genesis: Genesis,
    pub state: State,
    pub blocks: Vec<Block>,
    /// What each block's entries touched, as the store indexes it.
    pub effects: Vec<Vec<Effects>>,
    nonces: BTreeMap<PublicKey, u64>,
}

impl Chain {
    pub fn new(genesis: &Genesis) -> Self {
        Chain {
            genesis: genesis.clone(),
            state: State::genesis(genesis),
            blocks: Vec::new(),
            effects: Vec::new(),
            nonces: BTreeMap::new(),
        }
    }

    pub fn chain_id(&self) -> Hash32 {
        self.state.chain_id
    }

    /// Signs `body` as `who` with the next nonce, counting entries signed
    /// for blocks not yet sealed.
    pub fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        let last = self
            .nonces
            .get(&who.pk)
            .copied()
            .unwrap_or_else(|| self.state.nonce(&who.pk));
        self.nonces.insert(who.pk, last + 1);
        signed(self.chain_id(), who, last + 1, body)
    }

    /// Applies `entries` as the next block, commits and seals it; the block
    /// time is one minute after the previous block.
    pub fn push_block(&mut self, proposer: &Party, entries: Vec<SignedEntry>) -> &Block {
        let height = self.blocks.len() as u64 + 1;
        let time_ms = T0 + i64::try_from(height).unwrap() * 60_000;
        let applied = match rules::apply_block(&self.state, &entries, At::new(height, time_ms)) {
            Ok(a) => a,
            Err((i, err)) => panic!("block {height}: entry {i} refused: {err}"),
        };
        self.state.commit(applied.changes);
        self.effects.push(applied.effects);
        let prev = self.blocks.last().map(|b| &b.header);
        let block = Block::seal(self.chain_id(), prev, time_ms, proposer.pk, entries);
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }

    /// Seals `entries` as the next block WITHOUT applying the rules (a
    /// dishonest proposer's block): the state does not change, and each
    /// entry is indexed as touching `lots` and `shipments`, as a store
    /// that trusted the block would index it.
    pub fn push_unchecked(
        &mut self,
        proposer: &Party,
        entries: Vec<SignedEntry>,
        lots: &[LotId],
        shipments: &[ShipmentId],
    ) -> &Block {
        let height = self.blocks.len() as u64 + 1;
        let time_ms = T0 + i64::try_from(height).unwrap() * 60_000;
        let effects = entries
            .iter()
            .map(|e| Effects {
                id: e.id(),
                lots: lots.to_vec(),
                shipments: shipments.to_vec(),
                ..Effects::default()
            })
            .collect();
        self.effects.push(effects);
        let prev = self.blocks.last().map(|b| &b.header);
        let block = Block::seal(self.chain_id(), prev, time_ms, proposer.pk, entries);
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }
}

// ---------------------------------------------------------------------------
// Trails, as a store would assemble them.

/// Assembles the trail of `lot_id` the way the store does: every entry
/// that changed the lot or one of its ancestors (as the rules report it
/// in their effects), every entry naming a shipment that carried one of
/// them (receipts, rejections, handovers, readings, payments, a
/// cancelling correction), the corrections of those payments, and every
/// membership change; each with its header, its inclusion proof and, with
/// `signers`, a commit certificate; ordered by (height, index).
pub fn store_trail(
    c: &Consortium,
    chain: &Chain,
    lot_id: &LotId,
    signers: Option<&[usize]>,
) -> Trail {
    let blocks = &chain.blocks;
    let all = || {
        blocks.iter().zip(&chain.effects).flat_map(|(b, fx)| {
            b.entries
                .iter()
                .zip(fx)
                .enumerate()
                .map(move |(i, (e, f))| (b, i, e, f))
        })
    };
    // The lot and its ancestors.
    let mut scope = BTreeSet::new();
    let mut queue = vec![lot_id.clone()];
    while let Some(l) = queue.pop() {
        if !scope.insert(l.clone()) {
            continue;
        }
        for (_, _, _, f) in all() {
            queue.extend(
                f.made_from
                    .iter()
                    .filter(|(_, out)| out == &l)
                    .map(|(i, _)| i.clone()),
            );
        }
    }
    let shipments: BTreeSet<ShipmentId> = all()
        .filter(|(_, _, _, f)| f.lots.iter().any(|l| scope.contains(l)))
        .flat_map(|(_, _, _, f)| f.shipments.clone())
        .collect();
    // The payments for those shipments, whose corrections name only the
    // payment.
    let payments: BTreeSet<_> = all()
        .filter(|(_, _, e, _)| matches!(e.entry.body, Body::SealedPayment(_)))
        .filter(|(_, _, _, f)| f.shipments.iter().any(|s| shipments.contains(s)))
        .filter_map(|(_, _, _, f)| f.payment)
        .collect();
    let mut items = Vec::new();
    for (b, index, e, f) in all() {
        let wanted = f.membership
            || f.lots.iter().any(|l| scope.contains(l))
            || f.shipments.iter().any(|s| shipments.contains(s))
            || f.payment.is_some_and(|p| payments.contains(&p));
        if !wanted {
            continue;
        }
        let leaves: Vec<[u8; 32]> = b.entry_ids().iter().map(|h| h.0).collect();
        let proof = merkle::inclusion_proof(&leaves, index)
            .unwrap()
            .into_iter()
            .map(Hash32)
            .collect();
        items.push(TrailItem {
            entry: e.clone(),
            index: u32::try_from(index).unwrap(),
            header: b.header.clone(),
            proof,
            certificate: signers.map(|v| commit_certificate(c, &b.header, v)),
        });
    }
    items.sort_by_key(|i| (i.header.height, i.index));
    Trail {
        version: TRAIL_VERSION,
        chain_id: chain.chain_id(),
        lot: lot_id.clone(),
        tip_height: blocks.last().map_or(0, |b| b.header.height),
        items,
        complete: None,
    }
}

// ---------------------------------------------------------------------------
// A lot in one piece.

/// Where a lot that was never split is, in one word: the shape the tests
/// of whole-lot custody check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotStatus {
    /// Held by its one holder.
    Held,
    /// All of it in one shipment.
    InTransit { shipment: ShipmentId },
    /// Nothing left.
    Consumed,
}

/// A lot in one piece: its one holder and where it is.
pub trait Whole {
    /// Where it is; panics if it is split between holders.
    fn status(&self) -> LotStatus;
    /// Its one holder; panics if it has none or several.
    fn custodian(&self) -> PublicKey;
}

impl Whole for waybill_core::state::LotState {
    fn status(&self) -> LotStatus {
        match self.holdings.as_slice() {
            [] => LotStatus::Consumed,
            [h] => match &h.shipment {
                None => LotStatus::Held,
                Some(s) => LotStatus::InTransit {
                    shipment: s.clone(),
                },
            },
            more => panic!("lot is split between {} holdings", more.len()),
        }
    }

    fn custodian(&self) -> PublicKey {
        match self.holdings.as_slice() {
            [h] => h.holder,
            other => panic!("lot has {} holdings, not one", other.len()),
        }
    }
}

// ---------------------------------------------------------------------------
// Quantities and custody across a whole state.

/// Asserts every lot's balance: what was produced is exactly what is held
/// or in transit, plus what was consumed, plus what was lost (a voided lot
/// holds nothing). `when` names the step in the failure message.
pub fn assert_balanced(state: &State, when: &str) {
    for (id, l) in &state.lots {
        if l.voided_by.is_some() {
            assert!(
                l.holdings.is_empty(),
                "{when}: voided lot {id} still has holdings"
            );
            continue;
        }
        let total = l.remaining().milli() + l.consumed.milli() + l.lost.milli();
        assert_eq!(
            total,
            l.produced.milli(),
            "{when}: lot {id}: produced {} but held/in transit {} + consumed {} + lost {}",
            l.produced,
            l.remaining(),
            l.consumed,
            l.lost
        );
        assert!(
            l.holdings.iter().all(|h| !h.quantity.is_zero()),
            "{when}: lot {id} has an empty holding"
        );
    }
}

/// Asserts that every open shipment is in the custody of exactly one
/// member: its sender until a carrier takes it over, then its current
/// carrier (or of nobody, when all of it was lost as the carrier took it
/// over); and that no part of a lot is in a closed shipment.
pub fn assert_single_custody(state: &State, when: &str) {
    use waybill_core::state::ShipmentStage;
    for (sid, s) in &state.shipments {
        let holders: BTreeSet<PublicKey> = state
            .lots
            .values()
            .flat_map(|l| l.holdings.iter())
            .filter(|h| h.shipment.as_ref() == Some(sid))
            .map(|h| h.holder)
            .collect();
        match s.stage {
            ShipmentStage::Dispatched => {
                assert_eq!(
                    holders,
                    BTreeSet::from([s.sender]),
                    "{when}: custody of {sid}"
                )
            }
            ShipmentStage::WithCarrier => {
                let carrier = s.carrier.expect("a shipment with its carrier has one");
                assert!(
                    holders.is_empty() || holders == BTreeSet::from([carrier]),
                    "{when}: custody of {sid} is with {} members, not its carrier alone",
                    holders.len()
                );
            }
            _ => assert!(
                holders.is_empty(),
                "{when}: {sid} is closed but holds goods"
            ),
        }
    }
}

/// A genesis with `extra` members added to `genesis` (each in country
/// `NL`), checked; its chain id differs from the original's.
pub fn with_members(genesis: &Genesis, extra: &[&Party]) -> Genesis {
    let mut g = genesis.clone();
    g.members.extend(extra.iter().map(|p| p.spec("NL")));
    g.validate().unwrap();
    g
}
