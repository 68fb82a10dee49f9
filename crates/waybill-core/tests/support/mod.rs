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
use waybill_core::rules::{self, RuleError};
use waybill_core::state::{Changes, State, View};
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};

pub use waybill_testkit::certs::commit_certificate;
pub use waybill_testkit::consortium::{BRAND_GTIN, BRAND_PREFIX, FOREIGN_GTIN};
pub use waybill_testkit::entries::*;
pub use waybill_testkit::ids::{currency, dec, doc, lot, place, ship, uetr};
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
        rules::apply(&self.state, e, e.id(), self.height + 1)
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
    nonces: BTreeMap<PublicKey, u64>,
}

impl Chain {
    pub fn new(genesis: &Genesis) -> Self {
        Chain {
            genesis: genesis.clone(),
            state: State::genesis(genesis),
            blocks: Vec::new(),
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
        let applied = match rules::apply_block(&self.state, &entries, height) {
            Ok(a) => a,
            Err((i, err)) => panic!("block {height}: entry {i} refused: {err}"),
        };
        self.state.commit(applied.changes);
        let prev = self.blocks.last().map(|b| &b.header);
        let time_ms = T0 + i64::try_from(height).unwrap() * 60_000;
        let block = Block::seal(self.chain_id(), prev, time_ms, proposer.pk, entries);
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }
}

// ---------------------------------------------------------------------------
// Trails, as a store would assemble them.

/// Assembles the trail of `lot_id` the way the store does: every entry that
/// changed the lot or one of its ancestors (their productions, productions
/// that consume them, dispatches carrying them), every entry naming one of
/// those shipments (receipts, rejections, payments), and every membership
/// change; each with its header, its inclusion proof and, with `signers`, a
/// commit certificate; ordered by (height, index).
pub fn store_trail(
    c: &Consortium,
    chain: &Chain,
    lot_id: &LotId,
    signers: Option<&[usize]>,
) -> Trail {
    let blocks = &chain.blocks;
    let all = || {
        blocks
            .iter()
            .flat_map(|b| b.entries.iter().enumerate().map(move |(i, e)| (b, i, e)))
    };
    // The lot and its ancestors.
    let mut scope = BTreeSet::new();
    let mut queue = vec![lot_id.clone()];
    while let Some(l) = queue.pop() {
        if !scope.insert(l.clone()) {
            continue;
        }
        for (_, _, e) in all() {
            if let Body::Produce(p) = &e.entry.body {
                if p.lot == l {
                    queue.extend(p.inputs.iter().map(|i| i.lot.clone()));
                }
            }
        }
    }
    let shipments: BTreeSet<ShipmentId> = all()
        .filter_map(|(_, _, e)| match &e.entry.body {
            Body::Dispatch(d) if d.lots.iter().any(|l| scope.contains(l)) => {
                Some(d.shipment.clone())
            }
            _ => None,
        })
        .collect();
    let mut items = Vec::new();
    for (b, index, e) in all() {
        let wanted = match &e.entry.body {
            Body::Produce(p) => {
                scope.contains(&p.lot) || p.inputs.iter().any(|i| scope.contains(&i.lot))
            }
            Body::Dispatch(d) => shipments.contains(&d.shipment),
            Body::Receive(r) => shipments.contains(&r.shipment),
            Body::Reject(r) => shipments.contains(&r.shipment),
            Body::Payment(p) => p.shipments.iter().any(|s| shipments.contains(s)),
            Body::Membership(_) => true,
        };
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
    }
}
