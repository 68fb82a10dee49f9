//! The compact records the committed state is held as: a lot, a shipment
//! and a payment with their parties as key numbers (4 bytes each rather
//! than 32) and the lots and shipments they name as their numbers, a
//! lot's and a custody step's rarely used fields behind one optional
//! pointer each, and an entry's position packed into one `u64`.
//!
//! These records are also what a snapshot writes (see `persist.rs`), so
//! their fields and field order are part of the store format.

use serde::{Deserialize, Serialize};
use waybill_core::codes::UnitCode;
use waybill_core::crypto::Hash32;
use waybill_core::entry::{EntryId, RecallClass};
use waybill_core::state::{ShipmentStage, StepKind};

use crate::index::Position;

/// Bits of a packed position that hold the entry's index in its block.
/// Genesis caps a block at `MAX_BLOCK_ENTRIES` (2^20), below 2^24.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

pub(crate) fn pack(height: u64, index: u32) -> u64 {
    (height << INDEX_BITS) | (u64::from(index) & INDEX_MASK)
}

pub(crate) fn unpack(p: u64) -> Position {
    // The mask keeps the value below 2^24, so it always fits.
    (p >> INDEX_BITS, (p & INDEX_MASK) as u32)
}

/// Packed positions, unpacked.
pub(crate) fn positions(list: &[u64]) -> Vec<Position> {
    list.iter().copied().map(unpack).collect()
}

/// No key: a lot's producer when the number names no lot (one only the
/// index has used), or a shipment without a carrier.
pub(crate) const NO_KEY: u32 = u32::MAX;

/// No shipment: a holding not in transit.
pub(crate) const NO_SHIP: u32 = u32::MAX;

/// A lot: its parties as key numbers, its shipments and input lots as
/// their numbers, quantities as counts of thousandths (a snapshot writes
/// every lot's, so not as text).
///
/// Sized for the common lot: one holding and nothing else happened to it.
/// The holdings are one small boxed slice; everything rarer (use as an
/// input, losses, inputs of its own, recalls, excursions, a voiding
/// correction) is behind one pointer that is `None` while all of it is
/// empty (see [`LotRest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lot {
    /// [`NO_KEY`]: no lot (a number only the index has used).
    pub(crate) producer: u32,
    pub(crate) unit: UnitCode,
    /// How much was produced, in thousandths.
    pub(crate) produced: u64,
    pub(crate) produced_by: EntryId,
    /// In the order the state lists them (sorted by shipment, then key).
    pub(crate) holdings: Box<[Hold]>,
    /// `None` while every field of it is empty (never `Some` of an empty
    /// one, so the same state is always the same record).
    pub(crate) rest: Option<Box<LotRest>>,
}

impl Lot {
    /// A number no lot has (yet): what an id only the index has named
    /// gets.
    pub(crate) fn absent() -> Self {
        Lot {
            producer: NO_KEY,
            unit: UnitCode::Kgm,
            produced: 0,
            produced_by: EntryId::default(),
            holdings: Box::new([]),
            rest: None,
        }
    }

    /// Whether a lot has this number.
    pub(crate) fn present(&self) -> bool {
        self.producer != NO_KEY
    }
}

/// Part of a lot with one holder: held ([`NO_SHIP`]) or in a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hold {
    pub(crate) holder: u32,
    /// The shipment's number, or [`NO_SHIP`].
    pub(crate) shipment: u32,
    /// In thousandths.
    pub(crate) milli: u64,
}

/// What few lots have: how much was used up or lost, what it was made
/// from, recalls, cold-chain excursions, the correction that voided it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LotRest {
    /// Consumed, in thousandths.
    pub(crate) consumed: u64,
    /// Lost, in thousandths.
    pub(crate) lost: u64,
    /// Input lots as (lot number, thousandths consumed).
    pub(crate) inputs: Box<[(u32, u64)]>,
    pub(crate) recalls: Box<[Mark]>,
    pub(crate) excursions: u32,
    pub(crate) voided_by: Option<EntryId>,
}

impl LotRest {
    /// Whether every field is empty (then the lot stores `None`).
    pub(crate) fn is_empty(&self) -> bool {
        *self == LotRest::default()
    }
}

/// A recall mark: its author as a key number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    pub(crate) recall: EntryId,
    pub(crate) author: u32,
    pub(crate) class: RecallClass,
    pub(crate) lifted: bool,
}

/// A shipment: its parties as key numbers, its lots as lot numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ship {
    pub(crate) sender: u32,
    pub(crate) consignee: u32,
    pub(crate) carrier: u32,
    /// `None`: no shipment (a number only the index has used).
    pub(crate) stage: Option<ShipmentStage>,
    pub(crate) lots: Box<[u32]>,
    pub(crate) dispatched_by: EntryId,
    /// Its latest custody step; `None` before the first.
    pub(crate) step: Option<Step>,
    /// What few shipments have (readings entries); `None` while empty,
    /// never `Some` of an empty one.
    pub(crate) rest: Option<Box<ShipRest>>,
}

/// A shipment's rarely used fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShipRest {
    /// The readings entries recorded on it, in chain order.
    pub(crate) readings: Box<[ReadMark]>,
}

impl ShipRest {
    /// Whether every field is empty (then the shipment stores `None`).
    pub(crate) fn is_empty(&self) -> bool {
        *self == ShipRest::default()
    }
}

/// A readings entry on a shipment: its author as a key number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReadMark {
    pub(crate) entry: EntryId,
    pub(crate) author: u32,
    pub(crate) excursions: u32,
    pub(crate) corrected_by: Option<EntryId>,
}

impl Ship {
    /// A number no shipment has (yet): what an id only the index has
    /// named gets.
    pub(crate) fn absent() -> Self {
        Ship {
            sender: NO_KEY,
            consignee: NO_KEY,
            carrier: NO_KEY,
            stage: None,
            lots: Box::new([]),
            dispatched_by: EntryId::default(),
            step: None,
            rest: None,
        }
    }
}

/// A shipment's latest custody step: the entry and the previous
/// custodian's key number; quantities and a correction, which few steps
/// need, behind one pointer that is `None` while they are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Step {
    pub(crate) entry: EntryId,
    pub(crate) kind: StepKind,
    pub(crate) from: u32,
    /// Never `Some` of an empty one.
    pub(crate) rest: Option<Box<StepRest>>,
}

/// What a receipt delivered and any step lost, per lot, and the
/// correction that undid the step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepRest {
    /// (lot number, thousandths received, thousandths lost).
    pub(crate) lots: Box<[(u32, u64, u64)]>,
    pub(crate) corrected_by: Option<EntryId>,
}

impl StepRest {
    /// Whether every field is empty (then the step stores `None`).
    pub(crate) fn is_empty(&self) -> bool {
        *self == StepRest::default()
    }
}

/// A payment: its parties as key numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pay {
    pub(crate) payer: u32,
    pub(crate) payee: u32,
    pub(crate) recorded_by: EntryId,
    pub(crate) corrected_by: Option<EntryId>,
    pub(crate) terms: Option<Hash32>,
    pub(crate) confirmed_by: Option<EntryId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::codec;
    use waybill_core::crypto::Hash32;

    /// The common lot: one holding, nothing else.
    fn plain() -> Lot {
        Lot {
            producer: 1,
            unit: UnitCode::Kgm,
            produced: 12_345,
            produced_by: Hash32([7; 32]),
            holdings: Box::new([Hold {
                holder: 2,
                shipment: NO_SHIP,
                milli: 12_345,
            }]),
            rest: None,
        }
    }

    #[test]
    fn a_stored_lot_writes_its_quantities_as_numbers_and_its_unit_as_its_code() {
        let l = plain();
        let bytes = codec::encode(&l);
        let layout = (
            1u32,
            "KGM",
            12_345u64,
            Hash32([7; 32]),
            vec![(2u32, NO_SHIP, 12_345u64)],
            None::<()>,
        );
        assert_eq!(bytes, codec::encode(&layout));
        let back: Lot = codec::decode_trusted("lot", &bytes).expect("decodes");
        assert_eq!(back, l);
        let bad = codec::encode(&(
            1u32,
            "K?M",
            12_345u64,
            Hash32([7; 32]),
            vec![(2u32, NO_SHIP, 12_345u64)],
            None::<()>,
        ));
        assert!(codec::decode_trusted::<Lot>("lot", &bad).is_err());
    }

    #[test]
    fn a_stored_lot_writes_its_rare_fields_after_one_flag() {
        let l = Lot {
            holdings: Box::new([
                Hold {
                    holder: 2,
                    shipment: NO_SHIP,
                    milli: 5,
                },
                Hold {
                    holder: 3,
                    shipment: 4,
                    milli: 6,
                },
            ]),
            rest: Some(Box::new(LotRest {
                consumed: 7,
                lost: 8,
                inputs: Box::new([(9, 10)]),
                recalls: Box::new([Mark {
                    recall: Hash32([1; 32]),
                    author: 11,
                    class: RecallClass::Withdrawal,
                    lifted: true,
                }]),
                excursions: 12,
                voided_by: Some(Hash32([2; 32])),
            })),
            ..plain()
        };
        let bytes = codec::encode(&l);
        let layout = (
            1u32,
            "KGM",
            12_345u64,
            Hash32([7; 32]),
            vec![(2u32, NO_SHIP, 5u64), (3u32, 4u32, 6u64)],
            Some((
                7u64,
                8u64,
                vec![(9u32, 10u64)],
                // The class as its variant's number.
                vec![(Hash32([1; 32]), 11u32, 1u32, true)],
                12u32,
                Some(Hash32([2; 32])),
            )),
        );
        assert_eq!(bytes, codec::encode(&layout));
        let back: Lot = codec::decode_trusted("lot", &bytes).expect("decodes");
        assert_eq!(back, l);
        assert!(LotRest::default().is_empty());
        assert!(!l.rest.as_deref().is_some_and(LotRest::is_empty));
    }

    /// A shipment delivered with a shortfall, then corrected: every field
    /// set.
    fn corrected_ship() -> Ship {
        Ship {
            sender: 1,
            consignee: 2,
            carrier: 3,
            stage: Some(ShipmentStage::WithCarrier),
            lots: Box::new([4, 5]),
            dispatched_by: Hash32([6; 32]),
            step: Some(Step {
                entry: Hash32([7; 32]),
                kind: StepKind::ReceiptFromCarrier,
                from: 3,
                rest: Some(Box::new(StepRest {
                    lots: Box::new([(4, 8, 9)]),
                    corrected_by: Some(Hash32([10; 32])),
                })),
            }),
            rest: Some(Box::new(ShipRest {
                readings: Box::new([ReadMark {
                    entry: Hash32([11; 32]),
                    author: 2,
                    excursions: 12,
                    corrected_by: None,
                }]),
            })),
        }
    }

    #[test]
    fn a_stored_shipment_writes_its_latest_step_and_readings_after_its_dispatch() {
        let s = corrected_ship();
        let bytes = codec::encode(&s);
        let layout = (
            1u32,
            2u32,
            3u32,
            // The stage and the step's kind as their variants' numbers.
            Some(1u32),
            vec![4u32, 5u32],
            Hash32([6; 32]),
            Some((
                Hash32([7; 32]),
                3u32,
                3u32,
                Some((vec![(4u32, 8u64, 9u64)], Some(Hash32([10; 32])))),
            )),
            Some((vec![(Hash32([11; 32]), 2u32, 12u32, None::<Hash32>)],)),
        );
        assert_eq!(bytes, codec::encode(&layout));
        let back: Ship = codec::decode_trusted("shipment", &bytes).expect("decodes");
        assert_eq!(back, s);
        // A shipment nobody has taken over yet: one flag more than before.
        let fresh = Ship {
            step: None,
            rest: None,
            ..corrected_ship()
        };
        let layout = (
            1u32,
            2u32,
            3u32,
            Some(1u32),
            vec![4u32, 5u32],
            Hash32([6; 32]),
            None::<()>,
            None::<()>,
        );
        assert_eq!(codec::encode(&fresh), codec::encode(&layout));
        assert!(StepRest::default().is_empty());
        assert!(ShipRest::default().is_empty());
    }

    #[test]
    fn a_common_shipment_stays_small() {
        // Its step is the entry and one key number inline; quantities and
        // a correction sit behind one pointer, readings behind another.
        let size = std::mem::size_of::<Ship>();
        println!(
            "size_of::<Ship>() = {size}, its step = {}",
            std::mem::size_of::<Option<Step>>()
        );
        assert!(size <= 120, "a shipment record grew to {size} bytes");
        assert_eq!(
            std::mem::size_of::<Option<Box<StepRest>>>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<Option<Box<ShipRest>>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn a_common_lot_stays_small() {
        // One holding and nothing else: the record, its holding on the
        // heap, no rest. (56 bytes before holdings and the rest existed.)
        let size = std::mem::size_of::<Lot>();
        println!(
            "size_of::<Lot>() = {size}, one holding = {}",
            std::mem::size_of::<Hold>()
        );
        assert!(size <= 72, "a lot record grew to {size} bytes");
        assert_eq!(
            std::mem::size_of::<Option<Box<LotRest>>>(),
            std::mem::size_of::<usize>()
        );
    }
}
