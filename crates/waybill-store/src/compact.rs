//! The compact records the committed state is held as: a lot, a shipment
//! and a payment with their holders as key numbers (4 bytes each rather
//! than 32), a lot's status as one number, and an entry's position packed
//! into one `u64`.
//!
//! These records are also what a snapshot writes (see `persist.rs`), so
//! their fields and field order are part of the store format.

use serde::{Deserialize, Serialize};
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::entry::EntryId;
use waybill_core::state::ShipmentStage;

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

/// No lot (a number only the index has used).
pub(crate) const ABSENT: u32 = 0;
pub(crate) const HELD: u32 = 1;
pub(crate) const CONSUMED: u32 = 2;
/// `IN_TRANSIT + n`: in shipment number `n`.
pub(crate) const IN_TRANSIT: u32 = 3;

/// No carrier.
pub(crate) const NO_KEY: u32 = u32::MAX;

/// A lot: its holders as key numbers, its status as one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lot {
    pub(crate) producer: u32,
    pub(crate) custodian: u32,
    pub(crate) status: u32,
    pub(crate) unit: UnitCode,
    /// In thousandths: a snapshot writes every lot's, so not as text.
    #[serde(with = "milli")]
    pub(crate) remaining: Decimal3,
    pub(crate) produced_by: EntryId,
}

/// A quantity as its count of thousandths.
mod milli {
    use serde::{Deserialize, Deserializer, Serializer};
    use waybill_core::codes::Decimal3;

    pub(super) fn serialize<S: Serializer>(d: &Decimal3, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(d.milli())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Decimal3, D::Error> {
        u64::deserialize(deserializer).map(Decimal3::from_milli)
    }
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
}

/// A payment: its parties as key numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pay {
    pub(crate) payer: u32,
    pub(crate) payee: u32,
    pub(crate) recorded_by: EntryId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use waybill_core::codec;

    #[test]
    fn a_stored_lot_writes_its_quantity_as_a_number_and_its_unit_as_its_code() {
        let l = Lot {
            producer: 1,
            custodian: 2,
            status: HELD,
            unit: UnitCode::Kgm,
            remaining: Decimal3::from_milli(12_345),
            produced_by: EntryId::default(),
        };
        let bytes = codec::encode(&l);
        assert_eq!(
            bytes,
            codec::encode(&(1u32, 2u32, HELD, "KGM", 12_345u64, EntryId::default()))
        );
        let back: Lot = codec::decode_trusted("lot", &bytes).expect("decodes");
        assert_eq!(back, l);
        let bad = codec::encode(&(1u32, 2u32, HELD, "K?M", 12_345u64, EntryId::default()));
        assert!(codec::decode_trusted::<Lot>("lot", &bad).is_err());
    }
}
