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

/// `q` in thousandths of its base unit (gram or millilitre) for units
/// that convert, else in thousandths of its own unit: exact, for
/// comparing quantities whose units are [`comparable`].
pub(crate) fn base_milli(q: Quantity) -> u128 {
    let factor = scale(q.unit).map_or(1, |(_, f)| f);
    u128::from(q.value.milli()) * u128::from(factor)
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

    #[test]
    fn base_units_compare_what_does_not_convert_exactly() {
        // 600,000.5 g is not a whole number of thousandths of a kilogram,
        // but in base units it compares exactly with 480 kg.
        let green = base_milli(q(600_000_500, UnitCode::Grm));
        let roasted = base_milli(q(480_000, UnitCode::Kgm));
        assert_eq!(green, 600_000_500);
        assert_eq!(roasted, 480_000_000);
        assert_eq!(
            base_milli(q(1_000, UnitCode::Tne)),
            base_milli(q(1_000_000, UnitCode::Kgm))
        );
        assert_eq!(base_milli(q(3_000, UnitCode::H87)), 3_000);
    }
}
