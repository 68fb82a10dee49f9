//! The committed state's persisted form: what a snapshot holds of
//! [`Committed`], written borrowed ([`StoredRef`], straight from the
//! structure in memory) and read back owned ([`Stored`]).
//!
//! The form is the structure itself, field for field: the interned names
//! as their arena and ends, the compact records as they are, and each
//! hash map as a list sorted by key, so the same structure always encodes
//! as the same bytes (the state digest is the hash of this encoding).
//! Loading rebuilds the name tables and checks that every number refers
//! to something, so no lookup can go astray later.
//!
//! The genesis's yield rules are not written: they are the genesis's (the
//! chain id, which is written, fixes them), and whoever loads a snapshot
//! has the genesis at hand and passes them in.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::{ChainId, YieldRule};
use waybill_core::governance::Council;
use waybill_core::state::{MemberRecord, PrefixIndex};

use crate::compact::{Lot, Pay, Ship, NO_KEY};
use crate::intern::Names;
use crate::state::Committed;

impl Committed {
    /// The form written to a snapshot.
    pub(crate) fn stored(&self) -> StoredRef<'_> {
        fn sorted<K: Ord, V>(m: &HashMap<K, V>) -> Vec<(&K, &V)> {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_unstable_by(|a, b| a.0.cmp(b.0));
            v
        }
        StoredRef {
            chain_id: &self.chain_id,
            council: &self.council,
            members: &self.members,
            nonces: sorted(&self.nonces),
            keys: &self.keys,
            lot_names: self.lot_names.parts(),
            lots: &self.lots,
            lot_positions: &self.lot_positions,
            made_from: sorted(&self.made_from),
            ship_names: self.ship_names.parts(),
            ships: &self.ships,
            ship_positions: &self.ship_positions,
            payments: sorted(&self.payments),
            payment_positions: sorted(&self.payment_positions),
            author_positions: sorted(&self.author_positions),
            membership: &self.membership,
        }
    }

    /// Rebuilds from a snapshot's form, checking that every number in it
    /// refers to something (so no lookup can go astray later), with the
    /// yield rules of the chain's genesis (which a snapshot does not hold).
    pub(crate) fn from_stored(s: Stored, yields: Vec<YieldRule>) -> Result<Self, String> {
        let names = |(arena, ends): (String, Vec<u64>)| {
            Names::from_parts(arena, ends).ok_or_else(|| "its id tables are malformed".to_string())
        };
        let key_numbers: HashMap<PublicKey, u32> = s
            .keys
            .iter()
            .enumerate()
            .map(|(n, k)| (*k, u32::try_from(n).unwrap_or(NO_KEY)))
            .collect();
        let c = Committed {
            chain_id: s.chain_id,
            council: s.council,
            yields,
            prefixes: PrefixIndex::build(&s.members),
            members: s.members,
            nonces: s.nonces.into_iter().collect(),
            keys: s.keys,
            key_numbers,
            lot_names: names(s.lot_names)?,
            lot_count: s.lots.iter().filter(|l| l.present()).count(),
            lots: s.lots,
            lot_positions: s.lot_positions,
            made_from: s.made_from.into_iter().collect(),
            ship_names: names(s.ship_names)?,
            ship_count: s.ships.iter().filter(|x| x.stage.is_some()).count(),
            ships: s.ships,
            ship_positions: s.ship_positions,
            payments: s.payments.into_iter().collect(),
            payment_positions: s.payment_positions.into_iter().collect(),
            author_positions: s.author_positions.into_iter().collect(),
            membership: s.membership,
        };
        c.well_formed().map(|()| c)
    }
}

/// A snapshot of [`Committed`], borrowed for writing.
#[derive(Serialize)]
pub(crate) struct StoredRef<'a> {
    chain_id: &'a ChainId,
    council: &'a Council,
    members: &'a BTreeMap<PublicKey, MemberRecord>,
    nonces: Vec<(&'a PublicKey, &'a u64)>,
    keys: &'a [PublicKey],
    lot_names: (&'a String, &'a Vec<u64>),
    lots: &'a [Lot],
    lot_positions: &'a [Vec<u64>],
    made_from: Vec<(&'a u32, &'a Vec<u32>)>,
    ship_names: (&'a String, &'a Vec<u64>),
    ships: &'a [Ship],
    ship_positions: &'a [Vec<u64>],
    payments: Vec<(&'a Uetr, &'a Pay)>,
    payment_positions: Vec<(&'a Uetr, &'a Vec<u64>)>,
    author_positions: Vec<(&'a PublicKey, &'a Vec<u64>)>,
    membership: &'a [u64],
}

/// A snapshot of [`Committed`], as read back.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    chain_id: ChainId,
    council: Council,
    members: BTreeMap<PublicKey, MemberRecord>,
    nonces: Vec<(PublicKey, u64)>,
    keys: Vec<PublicKey>,
    lot_names: (String, Vec<u64>),
    lots: Vec<Lot>,
    lot_positions: Vec<Vec<u64>>,
    made_from: Vec<(u32, Vec<u32>)>,
    ship_names: (String, Vec<u64>),
    ships: Vec<Ship>,
    ship_positions: Vec<Vec<u64>>,
    payments: Vec<(Uetr, Pay)>,
    payment_positions: Vec<(Uetr, Vec<u64>)>,
    author_positions: Vec<(PublicKey, Vec<u64>)>,
    membership: Vec<u64>,
}

impl Stored {
    pub(crate) fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::{Hold, LotRest, ReadMark, Ship, Step, StepRest, NO_SHIP};
    use crate::index::IndexDelta;
    use crate::state::tests::{key, lot, sample, sample_yields};
    use waybill_core::codec;
    use waybill_core::state::Changes;

    fn reload(stored: Stored) -> Result<Committed, String> {
        let bytes = codec::encode(&stored);
        let back: Stored = codec::decode_trusted("snapshot", &bytes).map_err(|e| e.to_string())?;
        Committed::from_stored(back, sample_yields())
    }

    fn stored(c: &Committed) -> Stored {
        let bytes = codec::encode(&c.stored());
        codec::decode_trusted("snapshot", &bytes).expect("decodes")
    }

    #[test]
    fn a_snapshot_round_trips_and_still_finds_ids() {
        let (c, s) = sample();
        let back = reload(stored(&c)).expect("reloads");
        assert_eq!(back, c);
        assert_eq!(back.to_state(), s);
        assert!(back.has_lot(&lot("LOT-12")));
        assert_eq!(back.by_lot(&lot("LOT-1")), vec![(4, 0), (4, 1)]);
        // Encoding is canonical: the same structure, the same bytes.
        assert_eq!(codec::encode(&back.stored()), codec::encode(&c.stored()));
        assert_eq!(back.digest(), c.digest());
        let mut changed = back.clone();
        changed.apply(
            6,
            &Changes::default(),
            &IndexDelta {
                membership: vec![0],
                ..IndexDelta::default()
            },
        );
        assert_ne!(changed.digest(), c.digest());
    }

    /// A holding in transit among the sample's lots.
    fn in_transit(s: &mut Stored) -> &mut Hold {
        s.lots
            .iter_mut()
            .flat_map(|l| l.holdings.iter_mut())
            .find(|h| h.shipment != NO_SHIP)
            .expect("a holding in transit")
    }

    /// A lot of the sample with nothing but holdings.
    fn plain(s: &mut Stored) -> &mut Lot {
        s.lots
            .iter_mut()
            .find(|l| l.present() && l.rest.is_none())
            .expect("a plain lot")
    }

    /// The rare fields of the sample's lot that has them.
    fn rest(s: &mut Stored) -> &mut LotRest {
        s.lots
            .iter_mut()
            .find_map(|l| l.rest.as_deref_mut().filter(|r| !r.inputs.is_empty()))
            .expect("a lot with inputs")
    }

    /// A custody step among the sample's shipments, with quantities.
    fn step(s: &mut Stored) -> &mut Step {
        s.ships
            .iter_mut()
            .filter_map(|x| x.step.as_mut())
            .find(|x| x.rest.as_deref().is_some_and(|r| !r.lots.is_empty()))
            .expect("a step with quantities")
    }

    /// The readings of the sample's shipment that has some.
    fn readings(s: &mut Stored) -> &mut [ReadMark] {
        s.ships
            .iter_mut()
            .find_map(|x| x.rest.as_deref_mut())
            .map(|r| &mut r.readings[..])
            .expect("a shipment with readings")
    }

    /// A shipment of the sample without readings.
    fn plain_ship(s: &mut Stored) -> &mut Ship {
        s.ships
            .iter_mut()
            .find(|x| x.stage.is_some() && x.rest.is_none())
            .expect("a shipment without readings")
    }

    /// That step's quantities.
    fn step_rest(s: &mut Stored) -> &mut StepRest {
        step(s).rest.as_deref_mut().expect("quantities")
    }

    #[test]
    fn a_corrupt_snapshot_is_refused() {
        let (c, _) = sample();
        type Corruption = Box<dyn Fn(&mut Stored)>;
        let cases: Vec<(&str, Corruption)> = vec![
            ("key out of range", Box::new(|s| s.lots[0].producer = 99)),
            (
                "carrier out of range",
                Box::new(|s| s.ships[0].carrier = 77),
            ),
            (
                "lot in shipment",
                Box::new(|s| s.ships[0].lots = Box::new([42])),
            ),
            (
                "shipment in holding",
                Box::new(|s| in_transit(s).shipment = 40),
            ),
            (
                "holder out of range",
                Box::new(|s| in_transit(s).holder = 88),
            ),
            (
                "input lot out of range",
                Box::new(|s| rest(s).inputs[0].0 = 55),
            ),
            (
                "recall author out of range",
                Box::new(|s| rest(s).recalls[0].author = 66),
            ),
            (
                "empty rest stored",
                Box::new(|s| plain(s).rest = Some(Box::default())),
            ),
            ("made from", Box::new(|s| s.made_from = vec![(0, vec![77])])),
            ("name end", Box::new(|s| s.lot_names.1.push(10_000))),
            ("short table", Box::new(|s| _ = s.lot_positions.pop())),
            (
                "repeated name",
                Box::new(|s| {
                    let first = s.lot_names.0[..5].to_string();
                    s.lot_names.0.replace_range(5..11, &first);
                    s.lot_names.1[1] = 10;
                    let shift = 11 - 10;
                    for e in &mut s.lot_names.1[2..] {
                        *e -= shift;
                    }
                    s.lot_names.0.remove(10);
                }),
            ),
            (
                "unparsable name",
                Box::new(|s| s.lot_names.0.replace_range(0..1, " ")),
            ),
            ("repeated key", Box::new(|s| s.keys.push(key(1)))),
            (
                "step custodian out of range",
                Box::new(|s| step(s).from = 99),
            ),
            (
                "step lot out of range",
                Box::new(|s| step_rest(s).lots[0].0 = 57),
            ),
            (
                "empty step rest stored",
                Box::new(|s| step(s).rest = Some(Box::default())),
            ),
            (
                "readings author out of range",
                Box::new(|s| readings(s)[0].author = 98),
            ),
            (
                "empty shipment rest stored",
                Box::new(|s| plain_ship(s).rest = Some(Box::default())),
            ),
        ];
        for (what, corrupt) in cases {
            let mut s = stored(&c);
            corrupt(&mut s);
            assert!(reload(s).is_err(), "{what} was accepted");
        }
        assert!(reload(stored(&c)).is_ok());
    }
}
