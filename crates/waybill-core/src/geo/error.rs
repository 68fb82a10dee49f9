//! Why a plot or a coordinate is refused.

use crate::codes::Decimal3;

/// Why a plot or a coordinate is refused. Each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    /// A coordinate that is not a decimal number.
    #[error("{field}: `{input}` is not a number of degrees; write a decimal such as -75.123456")]
    DegreesSyntax {
        /// The field, e.g. `features[0].geometry.coordinates[1]`.
        field: String,
        /// The text, shortened if very long.
        input: String,
    },

    /// A coordinate written with fewer than six decimals.
    #[error("{field}: `{input}` has {decimals} decimals; at least six are needed (EU deforestation regulation), as in 4.609712")]
    TooFewDecimals {
        /// The field.
        field: String,
        /// The text, shortened if very long.
        input: String,
        /// How many decimals it has.
        decimals: usize,
    },

    /// A latitude or longitude beyond its limit.
    #[error("{field}: {value} degrees is outside the range -{limit} to {limit}")]
    OutOfRange {
        /// The field, e.g. `plots[0].geometry.point.lat_micro`.
        field: String,
        /// The value in degrees, as written or with six decimals.
        value: String,
        /// The limit in degrees: 90 for a latitude, 180 for a longitude.
        limit: i32,
    },

    /// A plot declaring no area.
    #[error("{field}: the area is 0 ha; declare the plot's area in hectares")]
    ZeroArea {
        /// The field, e.g. `plots[0].area_ha`.
        field: String,
    },

    /// A point standing for a plot larger than 4 ha.
    #[error("{field}: the plot declares {area} ha; a plot over 4 ha must be given as a polygon")]
    PointTooLarge {
        /// The field, e.g. `plots[0].geometry`.
        field: String,
        /// The declared area.
        area: Decimal3,
    },

    /// A polygon with fewer than four positions.
    #[error("{field}: the polygon has {count} positions; a closed ring needs at least four (three corners and the first one again at the end)")]
    TooFewPositions {
        /// The field.
        field: String,
        /// How many positions it has.
        count: usize,
    },

    /// A polygon with more than [`MAX_POLYGON_POSITIONS`] positions.
    ///
    /// [`MAX_POLYGON_POSITIONS`]: super::MAX_POLYGON_POSITIONS
    #[error("{field}: the polygon has {count} positions; at most {max} are allowed")]
    TooManyPositions {
        /// The field.
        field: String,
        /// How many positions it has.
        count: usize,
        /// The most allowed.
        max: usize,
    },

    /// A polygon whose last position is not its first.
    #[error("{field}: the polygon is not closed: its last position ({last}) differs from its first ({first}); repeat the first position at the end")]
    NotClosed {
        /// The field.
        field: String,
        /// The first position.
        first: String,
        /// The last position.
        last: String,
    },

    /// A polygon with the same position twice in a row.
    #[error("{field}: positions {index} and {next} are the same ({position}); remove one of them")]
    RepeatedPosition {
        /// The field.
        field: String,
        /// The first of the two.
        index: usize,
        /// The second of the two.
        next: usize,
        /// The position.
        position: String,
    },

    /// A polygon whose corners are all on one line.
    #[error("{field}: all the polygon's corners lie on one line, so it encloses no area")]
    Collinear {
        /// The field.
        field: String,
    },

    /// A polygon two of whose edges cross, touch or overlap, where edge
    /// `i` runs from position `i` to position `i + 1`.
    #[error("{field}: the polygon crosses itself (edge {first} meets edge {second})")]
    SelfCrossing {
        /// The field.
        field: String,
        /// The lower-numbered edge.
        first: usize,
        /// The higher-numbered edge.
        second: usize,
    },

    /// A free text that is empty, too long or holds control characters.
    #[error("{field} {reason}")]
    Text {
        /// The field, e.g. `plots[0].id`.
        field: String,
        /// Why, e.g. "is empty; leave it out or give a value".
        reason: String,
    },

    /// GeoJSON input that is not JSON.
    #[error("the GeoJSON is not valid JSON at line {line}, column {column}: {reason}")]
    Json {
        /// The line, from 1.
        line: usize,
        /// The column in characters, from 1.
        column: usize,
        /// What is wrong there.
        reason: String,
    },

    /// GeoJSON that is JSON but not a collection of plots.
    #[error("{field}: {reason}")]
    GeoJson {
        /// Where in the document, e.g. `features[2].properties.area_ha`.
        field: String,
        /// What is wrong there.
        reason: String,
    },
}
