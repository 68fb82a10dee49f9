//! Quantities across units: only where the unit says so (kilograms,
//! grams and tonnes; litres and millilitres), and only exactly.

use crate::codes::{Decimal3, UnitCode};
use crate::entry::Quantity;

/// How many thousandths of the base unit (kg for mass, l for volume) one
/// unit is, for units that convert.
fn scale(unit: UnitCode) -> Option<(u8, u64)> {
    match unit {
        UnitCode::Grm => Some((0, 1)),
        UnitCode::Kgm => Some((0, 1_000)),
        UnitCode::Tne => Some((0, 1_000_000)),
        UnitCode::Mlt => Some((1, 1)),
        UnitCode::Ltr => Some((1, 1_000)),
        _ => None,
    }
}

/// `q` in `unit`, exactly; the error says why not.
pub(crate) fn convert(q: Quantity, unit: UnitCode) -> Result<Decimal3, String> {
    if q.unit == unit {
        return Ok(q.value);
    }
    let (Some((dim_from, from)), Some((dim_to, to))) = (scale(q.unit), scale(unit)) else {
        return Err(format!(
            "{} {} cannot be counted in {}: those units do not convert",
            q.value,
            q.unit.code(),
            unit.code()
        ));
    };
    if dim_from != dim_to {
        return Err(format!(
            "{} {} cannot be counted in {}: one is a mass, the other a volume",
            q.value,
            q.unit.code(),
            unit.code()
        ));
    }
    let milli = u128::from(q.value.milli()) * u128::from(from);
    if milli % u128::from(to) != 0 {
        return Err(format!(
            "{} {} is not a whole number of thousandths of {}",
            q.value,
            q.unit.code(),
            unit.code()
        ));
    }
    u64::try_from(milli / u128::from(to))
        .map(Decimal3::from_milli)
        .map_err(|_| format!("{} {} is too large", q.value, q.unit.code()))
}

/// Whether `a` and `b` measure the same thing (so a yield between them
/// means something).
pub(crate) fn comparable(a: UnitCode, b: UnitCode) -> bool {
    a == b || matches!((scale(a), scale(b)), (Some((x, _)), Some((y, _))) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(milli: u64, unit: UnitCode) -> Quantity {
        Quantity {
            value: Decimal3::from_milli(milli),
            unit,
        }
    }

    #[test]
    fn mass_converts_exactly_and_pieces_do_not() {
        assert_eq!(
            convert(q(1_500, UnitCode::Tne), UnitCode::Kgm),
            Ok(Decimal3::from_milli(1_500_000))
        );
        assert_eq!(
            convert(q(2_500_000, UnitCode::Kgm), UnitCode::Tne),
            Ok(Decimal3::from_milli(2_500))
        );
        assert!(convert(q(1, UnitCode::Kgm), UnitCode::Tne).is_err());
        let e = convert(q(3_000, UnitCode::H87), UnitCode::Kgm).unwrap_err();
        assert!(e.contains("do not convert"), "{e}");
        assert!(convert(q(1_000, UnitCode::Ltr), UnitCode::Kgm).is_err());
        assert_eq!(
            convert(q(1_000, UnitCode::Ltr), UnitCode::Mlt),
            Ok(Decimal3::from_milli(1_000_000))
        );
    }
}
