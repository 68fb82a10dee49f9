//! Sensor readings on a shipment leg (the cold chain): a compact series
//! of timed values from one device, with the range the goods must stay in
//! and the excursions outside it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::transport::{clip, text_fault};

/// The most readings one entry may carry.
pub const MAX_READINGS: usize = 4_096;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Temperature.
    Temperature,
    /// Relative humidity.
    RelativeHumidity,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 2] = [Measure::Temperature, Measure::RelativeHumidity];

    /// The UN/CEFACT Recommendation 20 codes of the units its values may
    /// be given in: `CEL`, `FAH` or `KEL` for a temperature, `P1`
    /// (percent) for a relative humidity.
    pub fn units(self) -> &'static [&'static str] {
        match self {
            Measure::Temperature => &["CEL", "FAH", "KEL"],
            Measure::RelativeHumidity => &["P1"],
        }
    }

    /// Its name for people, e.g. `relative humidity`.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Temperature => "temperature",
            Measure::RelativeHumidity => "relative humidity",
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The symbol people write after a value in `unit`: `°C` for `CEL`, `°F`
/// for `FAH`, `K` for `KEL` and `%` for `P1`; any other code is returned
/// as it is.
pub fn unit_symbol(unit: &str) -> &str {
    match unit {
        "CEL" => "°C",
        "FAH" => "°F",
        "KEL" => "K",
        "P1" => "%",
        other => other,
    }
}

/// Writes thousandths as a decimal without trailing zeros, e.g. `-18.5`
/// for -18 500, `4` for 4 000 and `0.001` for 1.
pub fn format_milli(v: i32) -> String {
    let v = i64::from(v);
    let sign = if v < 0 { "-" } else { "" };
    let (int, frac) = (v.abs() / 1000, v.abs() % 1000);
    if frac == 0 {
        format!("{sign}{int}")
    } else {
        let frac = format!("{frac:03}");
        format!("{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

/// One reading: its time as an offset from the series' start, and its
/// value in thousandths of the series' unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Milliseconds after the series' start.
    pub offset_ms: u32,
    /// Thousandths of the unit.
    pub value_milli: i32,
}

/// The range the goods must stay in, in thousandths of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lowest allowed value.
    pub min_milli: i32,
    /// Highest allowed value.
    pub max_milli: i32,
}

impl Range {
    /// Whether `value_milli` lies in the range, bounds included.
    pub fn contains(self, value_milli: i32) -> bool {
        self.min_milli <= value_milli && value_milli <= self.max_milli
    }

    /// How far `value_milli` lies outside the range, in thousandths; 0
    /// inside it.
    pub fn distance(self, value_milli: i32) -> i64 {
        let v = i64::from(value_milli);
        (i64::from(self.min_milli) - v)
            .max(v - i64::from(self.max_milli))
            .max(0)
    }
}

/// A run of consecutive readings outside a series' declared range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Excursion {
    /// The time of the run's first reading (ms since the Unix epoch).
    pub from_ms: i64,
    /// The time of its last reading.
    pub to_ms: i64,
    /// Its value farthest from the range (the first such, on a tie).
    pub worst_milli: i32,
    /// How many readings it has.
    pub readings: usize,
}

/// A series of readings from one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// The device's id (serial number, GIAI, …).
    pub device: String,
    /// What it measures.
    pub measure: Measure,
    /// UN/CEFACT unit code of the values, e.g. `CEL`.
    pub unit: String,
    /// The declared range, if any.
    pub range: Option<Range>,
    /// When the first offset counts from (ms since the Unix epoch).
    pub start_ms: i64,
    /// The readings, strictly increasing in time.
    pub readings: Vec<Reading>,
}

impl Series {
    /// Checks the series: the device's id is a text of at most 200
    /// characters without control characters; the unit is one of the
    /// measure's ([`Measure::units`]); the range, if any, has its minimum
    /// at most its maximum; there are 1 to [`MAX_READINGS`] readings,
    /// strictly increasing in time; and the last reading's time fits an
    /// `i64`.
    pub fn check(&self) -> Result<(), SensorError> {
        if let Some(reason) = text_fault(&self.device) {
            return Err(SensorError::Text {
                field: "series.device",
                reason,
            });
        }
        if !self.measure.units().contains(&self.unit.as_str()) {
            return Err(SensorError::Unit {
                unit: clip(&self.unit),
                measure: self.measure,
            });
        }
        if let Some(range) = self.range {
            if range.min_milli > range.max_milli {
                return Err(SensorError::Range {
                    min_milli: range.min_milli,
                    max_milli: range.max_milli,
                });
            }
        }
        check_count(self.readings.len())?;
        for (index, pair) in self.readings.windows(2).enumerate() {
            if let [previous, reading] = pair {
                if reading.offset_ms <= previous.offset_ms {
                    return Err(SensorError::TimeGoesBack {
                        index: index + 1,
                        offset_ms: reading.offset_ms,
                        previous_ms: previous.offset_ms,
                    });
                }
            }
        }
        let last = self.readings.last().map_or(0, |r| r.offset_ms);
        if self.start_ms.checked_add(i64::from(last)).is_none() {
            return Err(SensorError::EndOverflows {
                start_ms: self.start_ms,
                offset_ms: last,
            });
        }
        Ok(())
    }

    /// A series from absolute times (ms since the Unix epoch) and values
    /// (thousandths of `unit`): it starts at the first time, and each
    /// reading's offset counts from there. The times must increase
    /// strictly and span at most `u32::MAX` ms (about 49 days); the
    /// series is then checked with [`Series::check`].
    pub fn from_points(
        device: &str,
        measure: Measure,
        unit: &str,
        range: Option<Range>,
        points: &[(i64, i32)],
    ) -> Result<Series, SensorError> {
        check_count(points.len())?;
        let start_ms = points.first().map_or(0, |&(t, _)| t);
        let mut readings = Vec::with_capacity(points.len());
        let mut previous_ms = None;
        for (index, &(time_ms, value_milli)) in points.iter().enumerate() {
            if let Some(previous_ms) = previous_ms.filter(|&p| time_ms <= p) {
                return Err(SensorError::PointOutOfOrder {
                    index,
                    time_ms,
                    previous_ms,
                });
            }
            previous_ms = Some(time_ms);
            let span = i128::from(time_ms) - i128::from(start_ms);
            let offset_ms = u32::try_from(span).map_err(|_| SensorError::SpanTooLong {
                index,
                span_ms: span,
            })?;
            readings.push(Reading {
                offset_ms,
                value_milli,
            });
        }
        let series = Series {
            device: device.to_owned(),
            measure,
            unit: unit.to_owned(),
            range,
            start_ms,
            readings,
        };
        series.check()?;
        Ok(series)
    }

    /// Each reading as its absolute time (ms since the Unix epoch, held at
    /// `i64::MAX` in a series that fails [`Series::check`] for it) and its
    /// value.
    pub fn points(&self) -> impl Iterator<Item = (i64, i32)> + '_ {
        self.readings.iter().map(|r| {
            (
                self.start_ms.saturating_add(i64::from(r.offset_ms)),
                r.value_milli,
            )
        })
    }

    /// The maximal runs of consecutive readings outside the declared
    /// range, in time order; none if no range is declared.
    pub fn excursions(&self) -> Vec<Excursion> {
        let Some(range) = self.range else {
            return Vec::new();
        };
        let mut runs: Vec<Excursion> = Vec::new();
        let mut open = false;
        for (time_ms, value) in self.points() {
            if range.contains(value) {
                open = false;
                continue;
            }
            match runs.last_mut() {
                Some(run) if open => {
                    run.to_ms = time_ms;
                    run.readings += 1;
                    if range.distance(value) > range.distance(run.worst_milli) {
                        run.worst_milli = value;
                    }
                }
                _ => {
                    runs.push(Excursion {
                        from_ms: time_ms,
                        to_ms: time_ms,
                        worst_milli: value,
                        readings: 1,
                    });
                    open = true;
                }
            }
        }
        runs
    }
}

/// Checks a series' number of readings: at least one, at most
/// [`MAX_READINGS`].
fn check_count(count: usize) -> Result<(), SensorError> {
    if count == 0 {
        return Err(SensorError::NoReadings);
    }
    if count > MAX_READINGS {
        return Err(SensorError::TooManyReadings { count });
    }
    Ok(())
}

/// How a measure's units are listed in an error, e.g. `CEL, FAH or KEL`.
fn unit_list(measure: Measure) -> String {
    match measure.units() {
        [one] => format!("{one} ({})", unit_symbol(one)),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// Why a sensor series is refused. Each message names the field and the
/// bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensorError {
    /// The device's id is empty, too long or holds control characters.
    #[error("{field} {reason}")]
    Text {
        /// The field, `series.device`.
        field: &'static str,
        /// Why.
        reason: String,
    },

    /// A unit that does not fit the measure.
    #[error("series.unit `{unit}` is not a unit of {measure}; use {}", unit_list(*.measure))]
    Unit {
        /// The unit given, shortened if very long.
        unit: String,
        /// The measure.
        measure: Measure,
    },

    /// A range whose minimum is above its maximum.
    #[error("series.range: the minimum {} is above the maximum {}", format_milli(*.min_milli), format_milli(*.max_milli))]
    Range {
        /// The minimum, in thousandths.
        min_milli: i32,
        /// The maximum, in thousandths.
        max_milli: i32,
    },

    /// A series without readings.
    #[error("series.readings is empty; a series needs at least one reading")]
    NoReadings,

    /// A series with more than [`MAX_READINGS`] readings.
    #[error("series.readings: sensor series has {count} readings; at most {MAX_READINGS} per entry, split it into several")]
    TooManyReadings {
        /// How many it has.
        count: usize,
    },

    /// A reading not after the one before it.
    #[error("series.readings[{index}]: time goes back (offset {offset_ms} ms is not after the previous reading's {previous_ms} ms); readings must be in strictly increasing time")]
    TimeGoesBack {
        /// The reading's index.
        index: usize,
        /// Its offset.
        offset_ms: u32,
        /// The previous reading's offset.
        previous_ms: u32,
    },

    /// A last reading whose time does not fit an `i64`.
    #[error("series.start_ms {start_ms} plus the last reading's offset of {offset_ms} ms is beyond the largest time")]
    EndOverflows {
        /// The series' start.
        start_ms: i64,
        /// The last reading's offset.
        offset_ms: u32,
    },

    /// A point given for [`Series::from_points`] not after the one before it.
    #[error("points[{index}]: time goes back ({time_ms} ms is not after the previous point's {previous_ms} ms); give the points in strictly increasing time")]
    PointOutOfOrder {
        /// The point's index.
        index: usize,
        /// Its time.
        time_ms: i64,
        /// The previous point's time.
        previous_ms: i64,
    },

    /// A point too long after the first for one series.
    #[error("points[{index}] is {span_ms} ms after the first point; one series spans at most 4294967295 ms (about 49 days), split it into several")]
    SpanTooLong {
        /// The point's index.
        index: usize,
        /// How long after the first point it is.
        span_ms: i128,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_text() {
        for (v, text) in [
            (-18_500, "-18.5"),
            (4_000, "4"),
            (1, "0.001"),
            (-1, "-0.001"),
            (0, "0"),
            (120, "0.12"),
            (1_010, "1.01"),
            (i32::MIN, "-2147483.648"),
            (i32::MAX, "2147483.647"),
        ] {
            assert_eq!(format_milli(v), text, "{v}");
        }
    }

    #[test]
    fn units_and_symbols() {
        assert_eq!(unit_symbol("CEL"), "°C");
        assert_eq!(unit_symbol("FAH"), "°F");
        assert_eq!(unit_symbol("KEL"), "K");
        assert_eq!(unit_symbol("P1"), "%");
        assert_eq!(unit_symbol("XYZ"), "XYZ");
        assert_eq!(Measure::RelativeHumidity.to_string(), "relative humidity");
        assert_eq!(unit_list(Measure::Temperature), "CEL, FAH or KEL");
        assert_eq!(unit_list(Measure::RelativeHumidity), "P1 (%)");
        for m in Measure::ALL {
            assert!(!m.units().is_empty(), "{m}");
        }
    }

    #[test]
    fn range_distance() {
        let r = Range {
            min_milli: 2_000,
            max_milli: 8_000,
        };
        assert_eq!(r.distance(5_000), 0);
        assert_eq!(r.distance(2_000), 0);
        assert_eq!(r.distance(8_000), 0);
        assert_eq!(r.distance(1_500), 500);
        assert_eq!(r.distance(9_000), 1_000);
        assert!(!r.contains(8_001));
        let wide = Range {
            min_milli: i32::MAX,
            max_milli: i32::MAX,
        };
        assert_eq!(wide.distance(i32::MIN), (1i64 << 32) - 1);
    }
}
