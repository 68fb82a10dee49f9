//! A plot of land, its shape and the limits a plot is held to.

use serde::{Deserialize, Serialize};

use crate::codes::{Country, Decimal3};
use crate::entry::GeoPoint;

/// The largest area, in hectares, a plot may declare when it is given as a
/// point; a larger plot needs its polygon.
pub const MAX_POINT_PLOT_HA: Decimal3 = Decimal3::from_milli(4_000);

/// The most positions a polygon may have.
pub const MAX_POLYGON_POSITIONS: usize = 2_000;

/// The fewest decimals a coordinate may be written with.
pub const MIN_DECIMALS: usize = 6;

/// The largest latitude, in degrees, north or south.
pub const LAT_LIMIT_DEG: i32 = 90;

/// The largest longitude, in degrees, east or west.
pub const LON_LIMIT_DEG: i32 = 180;

/// A plot's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Geometry {
    /// One position (plots of 4 ha or less).
    Point(GeoPoint),
    /// A closed ring: the first position repeated as the last, at least
    /// four positions, not all on one line, not crossing itself.
    Polygon(Vec<GeoPoint>),
}

/// A plot of land a lot was produced on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plot {
    /// The producer's name or number for the plot, if any.
    pub id: Option<String>,
    /// Where it is.
    pub geometry: Geometry,
    /// Its declared area in hectares.
    pub area_ha: Decimal3,
    /// The country it lies in.
    pub country: Option<Country>,
}
