//! A block's delta: what committing it changes in [`Committed`], in
//! [`Committed`]'s own compact form, stored beside the block.
//!
//! Committing a block goes through here in two steps. [`Committed::plan`]
//! reads the state and turns the rules' changes (owned values, keyed by
//! id) into compact records keyed by number, handing out numbers to the
//! keys, lots and shipments the block names first; it changes nothing,
//! so it runs while the block is prepared. [`Committed::install`] then
//! puts the records in place. Opening a ledger installs the stored deltas
//! written since the last snapshot in turn, without the rules.
//!
//! A delta in this form is a third of the size of the changes it came
//! from (the bench's consortium traffic: 569 bytes per entry as owned
//! values, mostly lot ids, keys and entry ids spelled out), which is what
//! encoding it costs on every commit, what it takes on disk until the
//! next snapshot, and what makes the next snapshot fall due.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::governance::Council;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::state::{
    Changes, LatestStep, LotState, MemberRecord, PrefixIndex, ShipmentState,
};

use crate::compact::{
    pack, Hold, Lot, LotRest, Mark, Pay, ReadMark, Ship, ShipRest, Step, StepRest, NO_KEY, NO_SHIP,
};
use crate::index::IndexDelta;
use crate::intern::Names;
use crate::state::Committed;

/// One block's changes, in compact form (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delta {
    pub(crate) height: u64,
    /// How many keys, lot names and shipment names the state had before:
    /// a delta applies only on top of exactly that state.
    keys_before: u32,
    lots_before: u32,
    ships_before: u32,
    /// Keys, lot ids and shipment ids met first in this block, numbered
    /// on from the counts before, in order.
    new_keys: Vec<PublicKey>,
    new_lots: Vec<String>,
    new_ships: Vec<String>,
    nonces: Vec<(PublicKey, u64)>,
    members: Vec<(PublicKey, MemberRecord)>,
    /// The council after the block, if it changed.
    council: Option<Council>,
    lots: Vec<(u32, Lot)>,
    ships: Vec<(u32, Ship)>,
    payments: Vec<(Uetr, Pay)>,
    /// Index additions: the block's entry indexes touching each.
    lot_positions: Vec<(u32, Vec<u32>)>,
    ship_positions: Vec<(u32, Vec<u32>)>,
    payment_positions: Vec<(Uetr, Vec<u32>)>,
    author_positions: Vec<(PublicKey, Vec<u32>)>,
    /// (input lot, lot made from it).
    made_from: Vec<(u32, u32)>,
    membership: Vec<u32>,
}

/// A block's record in the delta log (see `delta_log.rs`): its delta, and
/// its entries' id prefixes, so that opening rebuilds the id index
/// without reading the block maps back from the database.
#[derive(Serialize)]
pub(crate) struct LoggedRef<'a> {
    pub(crate) delta: &'a Delta,
    pub(crate) id_prefixes: &'a [u64],
}

/// A [`LoggedRef`] read back.
#[derive(Serialize, Deserialize)]
pub(crate) struct Logged {
    pub(crate) delta: Delta,
    pub(crate) id_prefixes: Vec<u64>,
}

/// A delta that does not apply to the state it is installed on: the
/// stored deltas do not follow the snapshot, or one is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DoesNotFollow(String);

/// Hands out numbers while a block is planned: the state's own, or new
/// ones after them, each id looked up in the large tables once.
struct Numbers<'s, 'a> {
    state: &'s Committed,
    keys: HashMap<PublicKey, u32>,
    lots: HashMap<&'a str, u32>,
    ships: HashMap<&'a str, u32>,
    new_keys: Vec<PublicKey>,
    new_lots: Vec<String>,
    new_ships: Vec<String>,
}

fn number(len: usize) -> u32 {
    // More than 2^32 - 1 of anything is far beyond any ledger; the
    // sentinel never matches a record, so a lookup finds nothing.
    u32::try_from(len).unwrap_or(NO_KEY)
}

/// A lot's or shipment's number: the state's (`names`), one handed out
/// earlier in this block (`met`), or the next new one (added to `new`).
fn name_number<'a>(
    names: &Names,
    met: &mut HashMap<&'a str, u32>,
    new: &mut Vec<String>,
    id: &'a str,
) -> u32 {
    if let Some(n) = met.get(id) {
        return *n;
    }
    let n = names.find(id).unwrap_or_else(|| {
        new.push(id.to_owned());
        number(names.len() + new.len() - 1)
    });
    met.insert(id, n);
    n
}

impl<'a> Numbers<'_, 'a> {
    fn key(&mut self, key: &PublicKey) -> u32 {
        if let Some(n) = self.state.key_numbers.get(key) {
            return *n;
        }
        if let Some(n) = self.keys.get(key) {
            return *n;
        }
        let n = number(self.state.keys.len() + self.new_keys.len());
        self.new_keys.push(*key);
        self.keys.insert(*key, n);
        n
    }

    fn lot(&mut self, id: &'a LotId) -> u32 {
        let Numbers {
            state,
            lots,
            new_lots,
            ..
        } = self;
        name_number(&state.lot_names, lots, new_lots, id.as_str())
    }

    fn ship(&mut self, id: &'a ShipmentId) -> u32 {
        let Numbers {
            state,
            ships,
            new_ships,
            ..
        } = self;
        name_number(&state.ship_names, ships, new_ships, id.as_str())
    }

    fn lot_record(&mut self, l: &'a LotState) -> Lot {
        let producer = self.key(&l.producer);
        let holdings = l
            .holdings
            .iter()
            .map(|h| Hold {
                holder: self.key(&h.holder),
                shipment: h.shipment.as_ref().map_or(NO_SHIP, |s| self.ship(s)),
                milli: h.quantity.milli(),
            })
            .collect();
        let rest = LotRest {
            consumed: l.consumed.milli(),
            lost: l.lost.milli(),
            inputs: l
                .inputs
                .iter()
                .map(|(input, q)| (self.lot(input), q.milli()))
                .collect(),
            recalls: l
                .recalls
                .iter()
                .map(|r| Mark {
                    recall: r.recall,
                    author: self.key(&r.author),
                    class: r.class,
                    lifted: r.lifted,
                })
                .collect(),
            excursions: l.excursions,
            voided_by: l.voided_by,
        };
        Lot {
            producer,
            unit: l.unit,
            produced: l.produced.milli(),
            produced_by: l.produced_by,
            holdings,
            rest: (!rest.is_empty()).then(|| Box::new(rest)),
        }
    }

    fn ship_record(&mut self, s: &'a ShipmentState) -> Ship {
        // Numbers in the order they have always been handed out: the
        // parties, the lots, the latest step, the readings.
        let sender = self.key(&s.sender);
        let consignee = self.key(&s.consignee);
        let carrier = s.carrier.map_or(NO_KEY, |c| self.key(&c));
        let lots = s.lots.iter().map(|l| self.lot(l)).collect();
        let step = s.latest_step.as_ref().map(|x| self.step(x));
        let rest = ShipRest {
            readings: s
                .readings
                .iter()
                .map(|m| ReadMark {
                    entry: m.entry,
                    author: self.key(&m.author),
                    excursions: m.excursions,
                    corrected_by: m.corrected_by,
                })
                .collect(),
        };
        Ship {
            sender,
            consignee,
            carrier,
            stage: Some(s.stage),
            lots,
            dispatched_by: s.dispatched_by,
            step,
            rest: (!rest.is_empty()).then(|| Box::new(rest)),
        }
    }

    fn step(&mut self, x: &'a LatestStep) -> Step {
        let rest = x.rest.as_deref().map(|r| StepRest {
            lots: r
                .lots
                .iter()
                .map(|l| (self.lot(&l.lot), l.received.milli(), l.lost.milli()))
                .collect(),
            corrected_by: r.corrected_by,
        });
        Step {
            entry: x.entry,
            kind: x.kind,
            from: self.key(&x.from),
            rest: rest.filter(|r| !r.is_empty()).map(Box::new),
        }
    }
}

impl Committed {
    /// What committing block `height`, with these changes and index
    /// additions, does to this state, in compact form. Changes nothing;
    /// [`Committed::install`] applies it. Numbers are handed out as ids
    /// are first met: the lots, then the shipments, the payments and the
    /// index, so the same blocks always give the same numbers.
    pub(crate) fn plan(&self, height: u64, changes: &Changes, index: &IndexDelta) -> Delta {
        let mut n = Numbers {
            state: self,
            keys: HashMap::new(),
            lots: HashMap::with_capacity(changes.lots.len()),
            ships: HashMap::with_capacity(changes.shipments.len()),
            new_keys: Vec::new(),
            new_lots: Vec::new(),
            new_ships: Vec::new(),
        };
        let lots = changes
            .lots
            .iter()
            .map(|(id, l)| {
                let record = n.lot_record(l);
                (n.lot(id), record)
            })
            .collect();
        let ships = changes
            .shipments
            .iter()
            .map(|(id, s)| {
                let record = n.ship_record(s);
                (n.ship(id), record)
            })
            .collect();
        let payments = changes
            .payments
            .iter()
            .map(|(id, p)| {
                let pay = Pay {
                    payer: n.key(&p.payer),
                    payee: n.key(&p.payee),
                    recorded_by: p.recorded_by,
                    corrected_by: p.corrected_by,
                    terms: p.terms,
                    confirmed_by: p.confirmed_by,
                };
                (*id, pay)
            })
            .collect();
        let lot_positions = index
            .lots
            .iter()
            .map(|(lot, idx)| (n.lot(lot), idx.clone()))
            .collect();
        let ship_positions = index
            .shipments
            .iter()
            .map(|(s, idx)| (n.ship(s), idx.clone()))
            .collect();
        let made_from = index
            .made_from
            .iter()
            .map(|(input, made)| (n.lot(input), n.lot(made)))
            .collect();
        Delta {
            height,
            keys_before: number(self.keys.len()),
            lots_before: number(self.lot_names.len()),
            ships_before: number(self.ship_names.len()),
            new_keys: n.new_keys,
            new_lots: n.new_lots,
            new_ships: n.new_ships,
            nonces: changes.nonces.iter().map(|(k, v)| (*k, *v)).collect(),
            members: changes
                .members
                .iter()
                .map(|(k, m)| (*k, m.clone()))
                .collect(),
            council: changes.council.clone(),
            lots,
            ships,
            payments,
            lot_positions,
            ship_positions,
            payment_positions: index.payments.clone(),
            author_positions: index.authors.clone(),
            made_from,
            membership: index.membership.clone(),
        }
    }

    /// Applies a delta planned on exactly this state (see
    /// [`Committed::plan`]). Refused, changing nothing, if it was planned
    /// on another, or names a number it does not bring.
    pub(crate) fn install(&mut self, d: Delta) -> Result<(), DoesNotFollow> {
        self.check_follows(&d)?;
        for key in d.new_keys {
            let n = number(self.keys.len());
            self.keys.push(key);
            self.key_numbers.insert(key, n);
        }
        for name in &d.new_lots {
            self.lot_names.intern(name);
            self.lots.push(Lot::absent());
            self.lot_positions.push(Vec::new());
        }
        for name in &d.new_ships {
            self.ship_names.intern(name);
            self.ships.push(Ship::absent());
            self.ship_positions.push(Vec::new());
        }
        self.nonces.extend(d.nonces);
        if !d.members.is_empty() {
            self.members.extend(d.members);
            self.prefixes = PrefixIndex::build(&self.members);
        }
        if let Some(c) = d.council {
            self.council = c;
        }
        for (n, lot) in d.lots {
            if let Some(slot) = self.lots.get_mut(n as usize) {
                if !slot.present() {
                    self.lot_count += 1;
                }
                *slot = lot;
            }
        }
        for (n, ship) in d.ships {
            if let Some(slot) = self.ships.get_mut(n as usize) {
                if slot.stage.is_none() {
                    self.ship_count += 1;
                }
                *slot = ship;
            }
        }
        self.payments.extend(d.payments);
        let height = d.height;
        let at = |i: &u32| pack(height, *i);
        for (n, idx) in &d.lot_positions {
            if let Some(v) = self.lot_positions.get_mut(*n as usize) {
                v.extend(idx.iter().map(at));
            }
        }
        for (n, idx) in &d.ship_positions {
            if let Some(v) = self.ship_positions.get_mut(*n as usize) {
                v.extend(idx.iter().map(at));
            }
        }
        for (p, idx) in &d.payment_positions {
            self.payment_positions
                .entry(*p)
                .or_default()
                .extend(idx.iter().map(at));
        }
        for (a, idx) in &d.author_positions {
            self.author_positions
                .entry(*a)
                .or_default()
                .extend(idx.iter().map(at));
        }
        for (input, made) in d.made_from {
            let list = self.made_from.entry(input).or_default();
            if !list.contains(&made) {
                list.push(made);
            }
        }
        self.membership.extend(d.membership.iter().map(at));
        Ok(())
    }

    /// Checks, before anything changes, that `d` was planned on this
    /// state and that every number it names exists once it is installed.
    fn check_follows(&self, d: &Delta) -> Result<(), DoesNotFollow> {
        let counts = (self.keys.len(), self.lot_names.len(), self.ship_names.len());
        let before = (
            d.keys_before as usize,
            d.lots_before as usize,
            d.ships_before as usize,
        );
        if counts != before || self.lots.len() != counts.1 || self.ships.len() != counts.2 {
            return Err(DoesNotFollow(format!(
                "the delta of block {} was made on a state with {} keys, {} lots and {} \
                 shipments; this one has {}, {} and {}",
                d.height, before.0, before.1, before.2, counts.0, counts.1, counts.2
            )));
        }
        let keys = counts.0 + d.new_keys.len();
        let lots = counts.1 + d.new_lots.len();
        let ships = counts.2 + d.new_ships.len();
        let fresh_names = d.new_lots.iter().all(|l| self.lot_names.find(l).is_none())
            && d.new_ships
                .iter()
                .all(|s| self.ship_names.find(s).is_none())
            && d.new_keys.iter().all(|k| !self.key_numbers.contains_key(k));
        let key_ok = |k: u32| k == NO_KEY || (k as usize) < keys;
        let lot_ok = |l: u32| (l as usize) < lots;
        let ship_ok = |s: u32| s == NO_SHIP || (s as usize) < ships;
        let lots_ok = d.lots.iter().all(|(n, l)| {
            lot_ok(*n)
                && key_ok(l.producer)
                && l.holdings
                    .iter()
                    .all(|h| key_ok(h.holder) && ship_ok(h.shipment))
                && l.rest.as_ref().is_none_or(|r| {
                    r.inputs.iter().all(|(i, _)| lot_ok(*i))
                        && r.recalls.iter().all(|m| key_ok(m.author))
                })
        });
        let ships_ok = d.ships.iter().all(|(n, s)| {
            (*n as usize) < ships
                && [s.sender, s.consignee, s.carrier].into_iter().all(key_ok)
                && s.lots.iter().all(|l| lot_ok(*l))
                && s.step.as_ref().is_none_or(|x| {
                    key_ok(x.from)
                        && x.rest
                            .as_ref()
                            .is_none_or(|r| r.lots.iter().all(|(l, _, _)| lot_ok(*l)))
                })
                && s.rest
                    .as_ref()
                    .is_none_or(|r| r.readings.iter().all(|m| key_ok(m.author)))
        });
        let index_ok = d.lot_positions.iter().all(|(n, _)| lot_ok(*n))
            && d.ship_positions.iter().all(|(n, _)| (*n as usize) < ships)
            && d.made_from.iter().all(|(i, m)| lot_ok(*i) && lot_ok(*m))
            && d.payments
                .iter()
                .all(|(_, p)| key_ok(p.payer) && key_ok(p.payee));
        if fresh_names && lots_ok && ships_ok && index_ok {
            Ok(())
        } else {
            Err(DoesNotFollow(format!(
                "the delta of block {} names a key, lot or shipment it does not have",
                d.height
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{sample, sample_blocks, sample_start};
    use waybill_core::codec;

    #[test]
    fn a_stored_delta_installs_as_planned() {
        let mut c = sample_start();
        for (height, changes, index) in sample_blocks() {
            let delta = c.plan(height, &changes, &index);
            let bytes = codec::encode(&delta);
            let back: Delta = codec::decode_trusted("delta", &bytes).expect("decodes");
            assert_eq!(back, delta);
            // Smaller than the changes it came from, even here, where
            // most ids and keys are new and spelled out once.
            let owned = codec::encode(&(&changes, &index)).len();
            assert!(bytes.len() < owned, "{} bytes against {owned}", bytes.len());
            c.install(back).expect("follows");
        }
        assert_eq!(c, sample().0);
    }

    #[test]
    fn a_delta_made_on_another_state_is_refused_and_changes_nothing() {
        let blocks = sample_blocks();
        let start = sample_start();
        let (h, changes, index) = &blocks[0];
        let first = start.plan(*h, changes, index);
        let mut after_first = start.clone();
        after_first.install(first.clone()).expect("follows");
        let (h, changes, index) = &blocks[1];
        let second = after_first.plan(*h, changes, index);

        // The second block's delta on the state before the first, and the
        // first block's delta twice.
        for (state, delta) in [(&start, &second), (&after_first, &first)] {
            let mut tried = state.clone();
            let refused = tried.install(delta.clone()).expect_err("does not follow");
            assert!(refused.to_string().contains("made on a state"), "{refused}");
            assert_eq!(&tried, state);
        }
    }

    #[test]
    fn a_delta_naming_a_number_it_does_not_bring_is_refused() {
        let blocks = sample_blocks();
        let start = sample_start();
        let (h, changes, index) = &blocks[0];
        let planned = start.plan(*h, changes, index);
        let beyond = |d: &Delta| (d.keys_before as usize + d.new_keys.len()) as u32;
        let breaks: [fn(&mut Delta, u32); 5] = [
            |d, n| d.lots[0].1.producer = n,
            |d, n| d.ships[0].1.sender = n,
            |d, n| d.lots[0].0 = n + 1_000,
            |d, n| d.lot_positions[0].0 = n + 1_000,
            |d, n| d.made_from[0].1 = n + 1_000,
        ];
        for (i, bad) in breaks.iter().enumerate() {
            let mut d = planned.clone();
            let n = beyond(&d);
            bad(&mut d, n);
            let mut tried = start.clone();
            let refused = tried.install(d).expect_err("names a missing number");
            assert!(
                refused.to_string().contains("does not have"),
                "{i}: {refused}"
            );
            assert_eq!(tried, start, "{i}");
        }
    }
}
