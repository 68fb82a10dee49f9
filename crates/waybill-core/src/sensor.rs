//! Sensor readings on a shipment leg (the cold chain): a compact series
//! of timed values from one device, with the range the goods must stay in
//! and the excursions outside it.

use serde::{Deserialize, Serialize};

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
