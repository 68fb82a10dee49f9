//! Coordinates: degrees read from and written as their decimal text, and
//! checked against their limits.

use super::error::GeoError;
use super::plot::{LAT_LIMIT_DEG, LON_LIMIT_DEG, MIN_DECIMALS};
use crate::entry::GeoPoint;
use crate::transport::clip;

/// Micro-degrees in a degree.
const MICRO: i64 = 1_000_000;

/// Why a coordinate's text is refused, before its field is known.
pub(super) enum DegreesFault {
    /// Not a decimal number.
    Syntax,
    /// Fewer than six decimals; how many it has.
    TooFewDecimals(usize),
    /// Beyond the limit.
    OutOfRange,
}

impl DegreesFault {
    /// The error for `text` in `field`.
    pub(super) fn at(self, field: &str, text: &str, limit_deg: i32) -> GeoError {
        let field = field.to_owned();
        let input = clip(text);
        match self {
            DegreesFault::Syntax => GeoError::DegreesSyntax { field, input },
            DegreesFault::TooFewDecimals(decimals) => GeoError::TooFewDecimals {
                field,
                input,
                decimals,
            },
            DegreesFault::OutOfRange => GeoError::OutOfRange {
                field,
                value: input,
                limit: limit_deg,
            },
        }
    }
}

/// [`parse_degrees`] without the field.
pub(super) fn parse_micro(text: &str, limit_deg: i32) -> Result<i32, DegreesFault> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (unsigned.contains('.') && !digits(frac)) {
        return Err(DegreesFault::Syntax);
    }
    if frac.len() < MIN_DECIMALS {
        return Err(DegreesFault::TooFewDecimals(frac.len()));
    }
    let (kept, dropped) = frac.split_at(MIN_DECIMALS);
    // Half away from zero: the magnitude goes up when the first dropped
    // digit is 5 or more.
    let round_up = dropped.bytes().next().is_some_and(|b| b >= b'5');
    let magnitude = int
        .bytes()
        .chain(kept.bytes())
        .try_fold(0i64, |acc, b| {
            acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
        })
        .and_then(|m| m.checked_add(i64::from(round_up)))
        .ok_or(DegreesFault::OutOfRange)?;
    if magnitude > i64::from(limit_deg).saturating_mul(MICRO) {
        return Err(DegreesFault::OutOfRange);
    }
    let signed = if negative { -magnitude } else { magnitude };
    i32::try_from(signed).map_err(|_| DegreesFault::OutOfRange)
}

/// Reads a coordinate written in decimal degrees, such as `4.609712` or
/// `-75.123456789`, as micro-degrees.
///
/// The text must have at least six decimals (the EU deforestation
/// regulation asks for six); more are rounded half away from zero to the
/// micro-degree. The value must lie within ±`limit_deg` degrees (90 for a
/// latitude, 180 for a longitude). No sign other than a leading `-`, no
/// exponent and no spaces are accepted. `field` names the coordinate in
/// the error.
pub fn parse_degrees(field: &str, text: &str, limit_deg: i32) -> Result<i32, GeoError> {
    parse_micro(text, limit_deg).map_err(|fault| fault.at(field, text, limit_deg))
}

/// Writes micro-degrees as decimal degrees with exactly six decimals,
/// e.g. `-75.000001`.
pub fn format_degrees(micro: i32) -> String {
    let micro = i64::from(micro);
    let sign = if micro < 0 { "-" } else { "" };
    let magnitude = micro.abs();
    format!("{sign}{}.{:06}", magnitude / MICRO, magnitude % MICRO)
}

/// A position for an error message, latitude first.
pub(super) fn describe(p: &GeoPoint) -> String {
    format!(
        "latitude {}, longitude {}",
        format_degrees(p.lat_micro),
        format_degrees(p.lon_micro)
    )
}

/// Whether `micro` lies within ±`limit_deg` degrees.
pub(super) fn within(micro: i32, limit_deg: i32) -> bool {
    i64::from(micro).abs() <= i64::from(limit_deg) * MICRO
}

/// Checks that a point's latitude is within ±90 degrees and its longitude
/// within ±180; the error names `field.lat_micro` or `field.lon_micro`.
pub fn check_point(field: &str, p: &GeoPoint) -> Result<(), GeoError> {
    for (name, micro, limit) in [
        ("lat_micro", p.lat_micro, LAT_LIMIT_DEG),
        ("lon_micro", p.lon_micro, LON_LIMIT_DEG),
    ] {
        if !within(micro, limit) {
            return Err(GeoError::OutOfRange {
                field: format!("{field}.{name}"),
                value: format_degrees(micro),
                limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degrees(text: &str) -> Result<i32, GeoError> {
        parse_degrees("lat", text, LAT_LIMIT_DEG)
    }

    #[test]
    fn degrees_are_read_from_their_digits() {
        assert_eq!(degrees("4.609712"), Ok(4_609_712));
        assert_eq!(degrees("-0.000001"), Ok(-1));
        assert_eq!(degrees("-0.000000"), Ok(0));
        assert_eq!(degrees("90.000000"), Ok(90_000_000));
        assert_eq!(degrees("-90.0000004"), Ok(-90_000_000));
        assert_eq!(degrees("0045.000000"), Ok(45_000_000));
        // Half away from zero, on the first dropped digit only.
        assert_eq!(degrees("1.0000005"), Ok(1_000_001));
        assert_eq!(degrees("-1.0000005"), Ok(-1_000_001));
        assert_eq!(degrees("1.00000049999"), Ok(1_000_000));
        assert_eq!(degrees("1.9999995"), Ok(2_000_000));
        assert_eq!(
            parse_degrees("lon", "-75.123456789", LON_LIMIT_DEG),
            Ok(-75_123_457)
        );
    }

    #[test]
    fn degrees_refusals_name_the_field() {
        for bad in [
            "",
            "-",
            ".123456",
            "1.",
            "+1.000000",
            "1.0000a0",
            "1e-6",
            " 1.000000",
            "1,000000",
            "--1.000000",
        ] {
            let e = degrees(bad).unwrap_err();
            assert!(matches!(e, GeoError::DegreesSyntax { .. }), "{bad:?}: {e}");
            assert!(e.to_string().starts_with("lat: "), "{e}");
        }
        assert!(matches!(
            degrees("4"),
            Err(GeoError::TooFewDecimals { decimals: 0, .. })
        ));
        assert!(matches!(
            degrees("4.60971"),
            Err(GeoError::TooFewDecimals { decimals: 5, .. })
        ));
        for bad in ["90.0000005", "-90.000001", "99999999999999999999.000000"] {
            assert!(
                matches!(degrees(bad), Err(GeoError::OutOfRange { limit: 90, .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn six_decimals_exactly() {
        assert_eq!(format_degrees(-75_000_001), "-75.000001");
        assert_eq!(format_degrees(-1), "-0.000001");
        assert_eq!(format_degrees(0), "0.000000");
        assert_eq!(format_degrees(180_000_000), "180.000000");
        assert_eq!(format_degrees(i32::MIN), "-2147.483648");
    }
}
