//! Checking a plot: its id, its area and its point or polygon.

use super::coords::{check_point, describe, within};
use super::error::GeoError;
use super::plot::{
    Geometry, Plot, LAT_LIMIT_DEG, LON_LIMIT_DEG, MAX_POINT_PLOT_HA, MAX_POLYGON_POSITIONS,
};
use super::ring::{orient, self_crossing, xy};
use crate::entry::GeoPoint;
use crate::transport::text_fault;

/// Checks a plot, naming `field` (e.g. `plots[1]`) and the part of it at
/// fault in the error.
///
/// The id, if any, is a text of at most 200 characters without control
/// characters; the area is more than 0 ha; the coordinates are in range.
/// A point stands for a plot of at most [`MAX_POINT_PLOT_HA`]. A polygon
/// is a closed ring of four to [`MAX_POLYGON_POSITIONS`] positions, no
/// position repeated in a row, its corners not all on one line, and it
/// does not cross itself: no two edges that do not follow each other
/// meet, not even at one point, and no two that do overlap. The tests are
/// exact, in integers on the micro-degrees, treating them as plane
/// coordinates (which is right at the scale of a plot).
pub fn check_plot(field: &str, p: &Plot) -> Result<(), GeoError> {
    if let Some(reason) = p.id.as_deref().and_then(text_fault) {
        return Err(GeoError::Text {
            field: format!("{field}.id"),
            reason,
        });
    }
    if p.area_ha.is_zero() {
        return Err(GeoError::ZeroArea {
            field: format!("{field}.area_ha"),
        });
    }
    match &p.geometry {
        Geometry::Point(point) => {
            check_point(&format!("{field}.geometry.point"), point)?;
            if p.area_ha > MAX_POINT_PLOT_HA {
                return Err(GeoError::PointTooLarge {
                    field: format!("{field}.geometry"),
                    area: p.area_ha,
                });
            }
            Ok(())
        }
        Geometry::Polygon(ring) => check_ring(field, ring),
    }
}

/// Checks a polygon's ring; see [`check_plot`].
fn check_ring(field: &str, ring: &[GeoPoint]) -> Result<(), GeoError> {
    let geometry = || format!("{field}.geometry");
    if ring.len() < 4 {
        return Err(GeoError::TooFewPositions {
            field: geometry(),
            count: ring.len(),
        });
    }
    if ring.len() > MAX_POLYGON_POSITIONS {
        return Err(GeoError::TooManyPositions {
            field: geometry(),
            count: ring.len(),
            max: MAX_POLYGON_POSITIONS,
        });
    }
    for (i, p) in ring.iter().enumerate() {
        if !within(p.lat_micro, LAT_LIMIT_DEG) || !within(p.lon_micro, LON_LIMIT_DEG) {
            check_point(&format!("{field}.geometry.polygon[{i}]"), p)?;
        }
    }
    let (Some(first), Some(last)) = (ring.first(), ring.last()) else {
        return Ok(());
    };
    if first != last {
        return Err(GeoError::NotClosed {
            field: geometry(),
            first: describe(first),
            last: describe(last),
        });
    }
    for (index, pair) in ring.windows(2).enumerate() {
        if let [a, b] = pair {
            if a == b {
                return Err(GeoError::RepeatedPosition {
                    field: geometry(),
                    index,
                    next: index + 1,
                    position: describe(a),
                });
            }
        }
    }
    if let (Some(a), Some(b)) = (ring.first(), ring.get(1)) {
        let (a, b) = (xy(a), xy(b));
        if ring.iter().all(|c| orient(a, b, xy(c)) == 0) {
            return Err(GeoError::Collinear { field: geometry() });
        }
    }
    if let Some((first, second)) = self_crossing(ring) {
        return Err(GeoError::SelfCrossing {
            field: geometry(),
            first,
            second,
        });
    }
    Ok(())
}
