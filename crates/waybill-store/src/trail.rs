//! A lot's trail and its recall scope, from the in-memory indexes.
//!
//! The trail gathers every entry that touches the lot or its ancestors
//! (walking production inputs breadth first, through either kind of
//! production), every entry naming a shipment those entries dispatched
//! (receipts, handovers, readings, payments, a cancelling correction),
//! the corrections of those payments, and every membership change (so a
//! verifier can check each author's role at each point), each with its
//! block header, its inclusion proof (from the stored Merkle interior
//! nodes, see `block_map.rs`) and its block's certificate. The recall
//! scope ([`Ledger::forward`]) walks the other way, to every lot made from
//! this one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use waybill_core::block::{CommitCertificate, Header};
use waybill_core::codes::Uetr;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, SignedEntry};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::index::IndexKey;
use waybill_core::merkle;
use waybill_core::state::{LotState, View};
use waybill_core::trail::{
    produce_of, Council, MemberTrail, PeriodTrail, Trail, TrailItem, TRAIL_VERSION,
};

use crate::backend::Backend;
use crate::error::{corrupt_at, StoreError};
use crate::index::Position;
use crate::ledger::Ledger;

/// Entries loaded on the way, by position.
type Loaded = BTreeMap<Position, SignedEntry>;

/// What a trail lists: its entries' positions, and the shipments and
/// payments whose entries it holds (its completeness keys with its lots).
struct Listed {
    positions: BTreeSet<Position>,
    shipments: BTreeSet<ShipmentId>,
    payments: BTreeSet<Uetr>,
}

impl<B: Backend> Ledger<B> {
    /// Every lot made from `lot`, directly or not (the recall scope), with
    /// where each is now.
    pub fn forward(&self, lot: &LotId) -> Result<Vec<(LotId, LotState)>, StoreError> {
        if !self.state.has_lot(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let mut seen = BTreeSet::from([lot.clone()]);
        let mut queue = VecDeque::from([lot.clone()]);
        let mut out = Vec::new();
        while let Some(l) = queue.pop_front() {
            for m in self.state.made_from(&l) {
                if seen.insert(m.clone()) {
                    if let Some(s) = self.state.lot(&m) {
                        out.push((m.clone(), s.into_owned()));
                    }
                    queue.push_back(m);
                }
            }
        }
        Ok(out)
    }

    /// The trail of a lot: every entry that touches it or its ancestors,
    /// the payments for their shipments, and every membership change,
    /// each with its header, inclusion proof and certificate.
    pub fn trail(&self, lot: &LotId) -> Result<Trail, StoreError> {
        if !self.state.has_lot(lot) {
            return Err(StoreError::UnknownLot(lot.to_string()));
        }
        let (mut entries, scope) = self.lineage(lot)?;
        let Listed {
            positions,
            shipments,
            payments,
        } = self.trail_positions(&mut entries)?;
        let items = self.trail_items(positions, entries)?;
        // The keys the trail's verifier asks to be proven complete (see
        // `waybill_core::trail::Completeness`), under the tip's root.
        let keys = scope
            .into_iter()
            .map(IndexKey::Lot)
            .chain(shipments.into_iter().map(IndexKey::Shipment))
            .chain(payments.into_iter().map(IndexKey::Payment))
            .chain([IndexKey::Council]);
        Ok(Trail {
            version: TRAIL_VERSION,
            chain_id: self.chain_id,
            lot: lot.clone(),
            tip_height: self.height(),
            items,
            complete: Some(keys.map(|k| self.prove_touched(&k)).collect()),
        })
    }

    /// The consortium's history: every membership and governance entry,
    /// with its proofs, as of the tip (what tells a verifier holding the
    /// genesis the validator set of any height; see
    /// [`waybill_core::trail::council_validators`]).
    pub fn council(&self) -> Result<Council, StoreError> {
        let positions: BTreeSet<Position> = self.state.membership().into_iter().collect();
        let items = self.trail_items(positions, BTreeMap::new())?;
        Ok(Council {
            version: TRAIL_VERSION,
            chain_id: self.chain_id,
            tip_height: self.height(),
            items,
        })
    }

    /// Every entry `member` signed, and every membership and governance
    /// entry, with their proofs, and the completeness proofs of the
    /// member's key and the membership under the tip's root (what an
    /// auditor's export of a member is made of). Unknown keys get an
    /// empty list, proven empty.
    pub fn member_trail(&self, member: &PublicKey) -> Result<MemberTrail, StoreError> {
        let positions: BTreeSet<Position> = self
            .state
            .by_author(member)
            .into_iter()
            .chain(self.state.membership())
            .collect();
        let items = self.trail_items(positions, BTreeMap::new())?;
        Ok(MemberTrail {
            version: TRAIL_VERSION,
            chain_id: self.chain_id,
            member: *member,
            tip_height: self.height(),
            items,
            complete: vec![
                self.prove_touched(&IndexKey::Author(*member)),
                self.prove_touched(&IndexKey::Council),
            ],
        })
    }

    /// Every entry in the blocks whose time is in `[from_ms, to_ms)` (none:
    /// unbounded), every membership and governance entry, with their
    /// proofs, the headers that bound the period and the membership's
    /// completeness proof under the tip's root (what an auditor's export
    /// of a period is made of; see [`waybill_core::trail::PeriodTrail`]).
    /// A period of more than `max_entries` entries is refused
    /// ([`StoreError::PeriodTooLarge`]), before any is read.
    pub fn period_trail(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        max_entries: u64,
    ) -> Result<PeriodTrail, StoreError> {
        let tip_height = self.height();
        // Block times strictly increase, so each bound is one search.
        let start_height = match from_ms {
            Some(f) => self.last_before(f)?,
            None => 0,
        };
        let end_height = match to_ms {
            Some(t) => self.last_before(t)?.max(start_height),
            None => tip_height,
        };
        let size = |h: u64| self.ids.entries_through(h).unwrap_or(0);
        let entries = size(end_height).saturating_sub(size(start_height));
        if entries > max_entries {
            return Err(StoreError::PeriodTooLarge {
                entries,
                max: max_entries,
            });
        }
        let header = |h: u64| -> Result<Header, StoreError> {
            self.header(h)?
                .ok_or_else(|| corrupt_at(h)("its header is missing".into()))
        };
        let mut loaded = BTreeMap::new();
        let mut positions: BTreeSet<Position> = self.state.membership().into_iter().collect();
        for h in start_height + 1..=end_height {
            let block = self
                .block(h)?
                .ok_or_else(|| corrupt_at(h)("the block is missing".into()))?;
            for (i, e) in (0u32..).zip(block.entries) {
                positions.insert((h, i));
                loaded.insert((h, i), e);
            }
        }
        Ok(PeriodTrail {
            version: TRAIL_VERSION,
            chain_id: self.chain_id,
            from_ms,
            to_ms,
            tip_height,
            start_height,
            end_height,
            start: (start_height > 0)
                .then(|| header(start_height))
                .transpose()?,
            after: (end_height < tip_height)
                .then(|| header(end_height + 1))
                .transpose()?,
            items: self.trail_items(positions, loaded)?,
            complete: vec![self.prove_touched(&IndexKey::Council)],
        })
    }

    /// The last block whose time is before `time_ms` (0: none).
    fn last_before(&self, time_ms: i64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.height());
        // Invariant: block `lo` (or none, at 0) is before; every block
        // after `hi` is not.
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let t = self
                .header(mid)?
                .ok_or_else(|| corrupt_at(mid)("its header is missing".into()))?
                .time_ms;
            if t < time_ms {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// Every entry that touches `lot` or its ancestors (the inputs of its
    /// production, breadth first), by position, and those lots.
    fn lineage(&self, lot: &LotId) -> Result<(Loaded, BTreeSet<LotId>), StoreError> {
        let mut entries: BTreeMap<Position, SignedEntry> = BTreeMap::new();
        let mut scope = BTreeSet::new();
        let mut queue = VecDeque::from([lot.clone()]);
        while let Some(l) = queue.pop_front() {
            if !scope.insert(l.clone()) {
                continue;
            }
            for pos in self.state.by_lot(&l) {
                let e = self.load(&mut entries, pos)?;
                if let Some(p) = produce_of(&e.entry.body) {
                    if p.lot == l {
                        queue.extend(p.inputs.iter().map(|i| i.lot.clone()));
                    }
                }
            }
        }
        Ok((entries, scope))
    }

    /// The positions a trail lists: the lineage's `entries`, every entry
    /// naming a shipment they dispatched (the payments among them), every
    /// entry recording or correcting those payments, and every membership
    /// change, with those shipments and payments. The entries loaded on
    /// the way are added to `entries`.
    fn trail_positions(&self, entries: &mut Loaded) -> Result<Listed, StoreError> {
        let mut shipments = BTreeSet::new();
        for e in entries.values() {
            match &e.entry.body {
                Body::Dispatch(d) => {
                    shipments.insert(d.shipment.clone());
                }
                Body::DispatchV2(d) => {
                    shipments.insert(d.shipment.clone());
                }
                _ => {}
            }
        }
        let mut positions: BTreeSet<Position> = entries.keys().copied().collect();
        let mut payments = BTreeSet::new();
        for s in &shipments {
            for pos in self.state.by_shipment(s) {
                if let Body::SealedPayment(p) = &self.load(entries, pos)?.entry.body {
                    payments.insert(p.payment_id);
                }
                positions.insert(pos);
            }
        }
        // A payment's correction names the payment, not its shipments.
        for p in &payments {
            positions.extend(self.state.by_payment(p));
        }
        positions.extend(self.state.membership());
        Ok(Listed {
            positions,
            shipments,
            payments,
        })
    }

    /// The entries at `positions` (taken from `entries` when loaded
    /// already), each with its block's header and certificate and its
    /// inclusion proof.
    fn trail_items(
        &self,
        positions: BTreeSet<Position>,
        mut entries: BTreeMap<Position, SignedEntry>,
    ) -> Result<Vec<TrailItem>, StoreError> {
        let mut items = Vec::with_capacity(positions.len());
        let mut blocks: BTreeMap<u64, (Header, Option<CommitCertificate>)> = BTreeMap::new();
        for (height, index) in positions {
            let entry = match entries.remove(&(height, index)) {
                Some(e) => e,
                None => self.load(&mut BTreeMap::new(), (height, index))?.clone(),
            };
            let corrupt = corrupt_at(height);
            let proof = self
                .with_map(height, |m| {
                    merkle::inclusion_proof_read(
                        m.n,
                        m.interior_len(),
                        |i| m.leaf(i),
                        |j| m.node(j),
                        index as usize,
                    )
                })?
                .ok_or_else(|| corrupt(format!("no inclusion proof for entry {index}")))?;
            if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(height) {
                let header = self
                    .header(height)?
                    .ok_or_else(|| corrupt("its header is missing".into()))?;
                slot.insert((header, self.certificate(height)?));
            }
            let (header, certificate) = blocks
                .get(&height)
                .cloned()
                .ok_or_else(|| corrupt("its header is missing".into()))?;
            items.push(TrailItem {
                entry,
                index,
                header,
                proof: proof.into_iter().map(Hash32).collect(),
                certificate,
            });
        }
        Ok(items)
    }

    fn load<'a>(
        &self,
        cache: &'a mut BTreeMap<Position, SignedEntry>,
        pos: Position,
    ) -> Result<&'a SignedEntry, StoreError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = cache.entry(pos) {
            let e = self
                .entry_at_position(pos)?
                .ok_or_else(|| corrupt_at(pos.0)(format!("entry {} is missing", pos.1)))?;
            slot.insert(e);
        }
        cache
            .get(&pos)
            .ok_or_else(|| corrupt_at(pos.0)(format!("entry {} is missing", pos.1)))
    }
}
