//! Plots of land and their geolocation, as the EU deforestation
//! regulation (Regulation (EU) 2023/1115) asks for them: WGS 84, at least
//! six decimals, a point for a plot of 4 ha or less and a polygon above.
//!
//! Coordinates are held as integer micro-degrees and read from their
//! decimal text, never through a binary float, so that "six decimals"
//! means what was written. Plots come in and go out as GeoJSON (RFC 7946)
//! feature collections, the form the EU information system takes.

// The code is split by job: a plot, its shape and its limits (`plot`),
// the errors (`error`), coordinates as text and micro-degrees (`coords`),
// the plot checks (`check`) and the plane geometry a polygon's ring is
// checked with (`ring`), GeoJSON in and out (`geojson`) and the small
// JSON reader that keeps numbers as their text (`json`). This file only
// declares the modules and re-exports the public items; no module below
// imports it, so no two modules import each other.

mod check;
mod coords;
mod error;
mod geojson;
mod json;
mod plot;
mod ring;

pub use check::check_plot;
pub use coords::{check_point, format_degrees, parse_degrees};
pub use error::GeoError;
pub use geojson::{plots_from_geojson, plots_to_geojson, plots_to_geojson_text};
pub use plot::{
    Geometry, Plot, LAT_LIMIT_DEG, LON_LIMIT_DEG, MAX_POINT_PLOT_HA, MAX_POLYGON_POSITIONS,
    MIN_DECIMALS,
};
