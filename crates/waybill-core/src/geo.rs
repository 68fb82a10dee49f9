//! Plots of land and their geolocation, as the EU deforestation
//! regulation (Regulation (EU) 2023/1115) asks for them: WGS 84, at least
//! six decimals, a point for a plot of 4 ha or less and a polygon above.
//!
//! Coordinates are held as integer micro-degrees and read from their
//! decimal text, never through a binary float, so that "six decimals"
//! means what was written. Plots come in and go out as GeoJSON (RFC 7946)
//! feature collections, the form the EU information system takes.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes::{Country, Decimal3};
use crate::entry::GeoPoint;
use crate::transport::{clip, text_fault};

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

/// Micro-degrees in a degree.
const MICRO: i64 = 1_000_000;

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

// ---------------------------------------------------------------------------
// Coordinates

/// Why a coordinate's text is refused, before its field is known.
enum DegreesFault {
    /// Not a decimal number.
    Syntax,
    /// Fewer than six decimals; how many it has.
    TooFewDecimals(usize),
    /// Beyond the limit.
    OutOfRange,
}

impl DegreesFault {
    /// The error for `text` in `field`.
    fn at(self, field: &str, text: &str, limit_deg: i32) -> GeoError {
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
fn parse_micro(text: &str, limit_deg: i32) -> Result<i32, DegreesFault> {
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
fn describe(p: &GeoPoint) -> String {
    format!(
        "latitude {}, longitude {}",
        format_degrees(p.lat_micro),
        format_degrees(p.lon_micro)
    )
}

/// Whether `micro` lies within ±`limit_deg` degrees.
fn within(micro: i32, limit_deg: i32) -> bool {
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

// ---------------------------------------------------------------------------
// Plots

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

/// A position as plane coordinates: longitude, latitude.
type Xy = (i64, i64);

fn xy(p: &GeoPoint) -> Xy {
    (i64::from(p.lon_micro), i64::from(p.lat_micro))
}

/// Twice the signed area of the triangle `a b c`: positive when it turns
/// left, negative when it turns right, zero when the three are on a line.
fn orient(a: Xy, b: Xy, c: Xy) -> i128 {
    let (abx, aby) = (i128::from(b.0 - a.0), i128::from(b.1 - a.1));
    let (acx, acy) = (i128::from(c.0 - a.0), i128::from(c.1 - a.1));
    abx * acy - aby * acx
}

/// Whether `c`, on the line through `a` and `b`, lies on the segment.
fn on_segment(a: Xy, b: Xy, c: Xy) -> bool {
    a.0.min(b.0) <= c.0 && c.0 <= a.0.max(b.0) && a.1.min(b.1) <= c.1 && c.1 <= a.1.max(b.1)
}

/// Whether the closed segments `p1 p2` and `q1 q2` have any point in
/// common.
fn segments_meet((p1, p2): (Xy, Xy), (q1, q2): (Xy, Xy)) -> bool {
    // Boxes apart: the segments are too.
    if p1.0.max(p2.0) < q1.0.min(q2.0)
        || q1.0.max(q2.0) < p1.0.min(p2.0)
        || p1.1.max(p2.1) < q1.1.min(q2.1)
        || q1.1.max(q2.1) < p1.1.min(p2.1)
    {
        return false;
    }
    let d1 = orient(q1, q2, p1).signum();
    let d2 = orient(q1, q2, p2).signum();
    let d3 = orient(p1, p2, q1).signum();
    let d4 = orient(p1, p2, q2).signum();
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    (d1 == 0 && on_segment(q1, q2, p1))
        || (d2 == 0 && on_segment(q1, q2, p2))
        || (d3 == 0 && on_segment(p1, p2, q1))
        || (d4 == 0 && on_segment(p1, p2, q2))
}

/// Whether two edges that share the corner `v`, coming from `a` and
/// going to `c`, overlap beyond it (the ring folds back on itself).
fn folds_back(a: Xy, v: Xy, c: Xy) -> bool {
    let dot = i128::from(a.0 - v.0) * i128::from(c.0 - v.0)
        + i128::from(a.1 - v.1) * i128::from(c.1 - v.1);
    orient(a, v, c) == 0 && dot > 0
}

/// The first pair of edges `(i, j)`, `i < j`, that meet where they
/// should not, in a closed ring of at least four positions with no
/// position repeated in a row.
fn self_crossing(ring: &[GeoPoint]) -> Option<(usize, usize)> {
    let edges: Vec<(Xy, Xy)> = ring
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some((xy(a), xy(b))),
            _ => None,
        })
        .collect();
    let last = edges.len().checked_sub(1)?;
    for (i, &e) in edges.iter().enumerate() {
        for (j, &f) in edges.iter().enumerate().skip(i + 1) {
            let meets = if j == i + 1 {
                // `e` ends where `f` starts.
                folds_back(e.0, e.1, f.1)
            } else if i == 0 && j == last {
                // `f` ends where `e` starts: the ring's closing corner.
                folds_back(f.0, e.0, e.1)
            } else {
                segments_meet(e, f)
            };
            if meets {
                return Some((i, j));
            }
        }
    }
    None
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

// ---------------------------------------------------------------------------
// GeoJSON in

/// How deep GeoJSON input may nest; a feature collection of polygons
/// needs seven levels.
const MAX_JSON_DEPTH: usize = 32;

/// A JSON value as [`plots_from_geojson`] reads it: numbers kept as the
/// text they were written as.
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool,
    Number(&'a str),
    String(String),
    Array(Vec<Json<'a>>),
    Object(Vec<(String, Json<'a>)>),
}

impl Json<'_> {
    /// What it is, for an error message.
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// A JSON reader over the whole input, at byte `at`.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The error `reason` at the current place, as line and column.
    fn error(&self, reason: impl Into<String>) -> GeoError {
        let before = self.text.as_bytes().get(..self.at).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        GeoError::Json {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: column + 1,
            reason: reason.into(),
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Reads the whole input as one value.
    fn document(mut self) -> Result<Json<'a>, GeoError> {
        let value = self.value(0)?;
        self.skip_whitespace();
        if self.at < self.text.len() {
            return Err(self.error("there is more text after the GeoJSON object"));
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("the text ends where a value should be")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(b't') => self.word("true", Json::Bool),
            Some(b'f') => self.word("false", Json::Bool),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let c = self
                    .text
                    .get(self.at..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('?');
                Err(self.error(format!("unexpected character {c:?}")))
            }
        }
    }

    fn word(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, GeoError> {
        if self.text.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error(
                "expected a value (true, false, null, a number, a string, an array or an object)",
            ))
        }
    }

    fn nest(&self, depth: usize) -> Result<(), GeoError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error(format!(
                "it nests deeper than {MAX_JSON_DEPTH} levels, which no plot needs"
            )));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.nest(depth)?;
        self.at += 1;
        let mut members = Vec::new();
        let mut names = HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name in double quotes"));
            }
            let name_at = self.at;
            let name = self.string()?;
            if !names.insert(name.clone()) {
                self.at = name_at;
                return Err(self.error(format!(
                    "the member `{}` appears twice in one object",
                    clip(&name)
                )));
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after a member name"));
            }
            self.at += 1;
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}` after an object's member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.nest(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]` after an array's item")),
            }
        }
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Result<&'a str, GeoError> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut at = start;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - from
        };
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        let int_at = at;
        let int = digits(&mut at);
        if int == 0 {
            self.at = at;
            return Err(self.error("a number needs a digit after `-`"));
        }
        if int > 1 && bytes.get(int_at) == Some(&b'0') {
            self.at = int_at;
            return Err(self.error("a number must not start with 0 (other than 0 itself)"));
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("a number needs a digit after its `.`"));
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("a number needs a digit in its exponent"));
            }
        }
        self.at = at;
        Ok(self.text.get(start..at).unwrap_or_default())
    }

    /// A string, its escapes undone.
    fn string(&mut self) -> Result<String, GeoError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.at..).unwrap_or_default();
            let Some(stop) = rest
                .bytes()
                .position(|b| b == b'"' || b == b'\\' || b < 0x20)
            else {
                self.at = self.text.len();
                return Err(self.error("the text ends inside a string"));
            };
            out.push_str(rest.get(..stop).unwrap_or_default());
            self.at += stop;
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                _ => return Err(self.error("a control character inside a string must be escaped")),
            }
        }
    }

    /// The character an escape (after its `\`) stands for.
    fn escape(&mut self) -> Result<char, GeoError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let high = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&high) {
                    if self.text.get(self.at..self.at + 2) != Some("\\u") {
                        return Err(
                            self.error("a high surrogate must be followed by `\\u` and a low one")
                        );
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("a high surrogate must be followed by a low one"));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    high
                };
                return char::from_u32(code)
                    .ok_or_else(|| self.error("a low surrogate must follow a high one"));
            }
            _ => {
                return Err(self
                    .error("unknown escape; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u"))
            }
        };
        self.at += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, GeoError> {
        let code = self
            .text
            .get(self.at..self.at + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("`\\u` must be followed by four hex digits"))?;
        self.at += 4;
        Ok(code)
    }
}

/// An error at `field` of the GeoJSON document.
fn at(field: &str, reason: impl Into<String>) -> GeoError {
    GeoError::GeoJson {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

type Members<'j, 'a> = &'j [(String, Json<'a>)];

/// The members of `value`, which must be an object.
fn members<'j, 'a>(field: &str, value: &'j Json<'a>) -> Result<Members<'j, 'a>, GeoError> {
    match value {
        Json::Object(m) => Ok(m),
        other => Err(at(
            field,
            format!("it is {}; expected an object", other.kind()),
        )),
    }
}

/// The member `name`, if present and not null.
fn member<'j, 'a>(members: Members<'j, 'a>, name: &str) -> Option<&'j Json<'a>> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Json::Null))
}

/// The items of `value`, which must be an array.
fn items<'j, 'a>(field: &str, value: &'j Json<'a>) -> Result<&'j [Json<'a>], GeoError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(at(
            field,
            format!("it is {}; expected an array", other.kind()),
        )),
    }
}

/// The object's `type` member.
fn type_of<'j>(field: &str, members: Members<'j, '_>) -> Result<&'j str, GeoError> {
    match member(members, "type") {
        Some(Json::String(t)) => Ok(t),
        Some(other) => Err(at(
            &format!("{field}.type"),
            format!("it is {}; expected a string", other.kind()),
        )),
        None => Err(at(field, "the `type` member is missing")),
    }
}

/// Reads plots from GeoJSON (RFC 7946) as the EU information system takes
/// them: a `FeatureCollection` (or a single `Feature`) whose features
/// have a `Point` or a `Polygon` geometry, positions written
/// `[longitude, latitude]` with at least six decimals.
///
/// A polygon must be a single outer ring: holes are refused, as is an
/// altitude in a position. A feature's `properties` give the plot's id
/// (`id`, or else `name`), its area in hectares (`area_ha` or `Area`,
/// required: nothing is computed from the geometry) and its country
/// (`country`, ISO 3166-1 alpha-2); others, such as `ProducerName`, are
/// ignored. Each plot then passes [`check_plot`], named `features[i]`
/// (or `feature` for a single feature).
///
/// Numbers are read from their text, so that `4.6` is refused as having
/// one decimal even though it equals `4.600000`.
pub fn plots_from_geojson(text: &str) -> Result<Vec<Plot>, GeoError> {
    let root = Reader { text, at: 0 }.document()?;
    let top = members("GeoJSON", &root)?;
    match type_of("GeoJSON", top)? {
        "FeatureCollection" => {
            let features = member(top, "features")
                .ok_or_else(|| at("GeoJSON", "the `features` member is missing"))?;
            items("features", features)?
                .iter()
                .enumerate()
                .map(|(i, feature)| read_feature(&format!("features[{i}]"), feature))
                .collect()
        }
        "Feature" => Ok(vec![read_feature("feature", &root)?]),
        other => Err(at(
            "type",
            format!(
                "`{}` is not accepted; give a FeatureCollection or a Feature",
                clip(other)
            ),
        )),
    }
}

/// One feature as a plot, checked.
fn read_feature(field: &str, value: &Json<'_>) -> Result<Plot, GeoError> {
    let feature = members(field, value)?;
    let kind = type_of(field, feature)?;
    if kind != "Feature" {
        return Err(at(
            &format!("{field}.type"),
            format!("`{}` is not a Feature", clip(kind)),
        ));
    }
    let geometry_field = format!("{field}.geometry");
    let geometry = match member(feature, "geometry") {
        Some(g) => read_geometry(&geometry_field, g)?,
        None => {
            return Err(at(
                &geometry_field,
                "it is missing; give a Point or a Polygon",
            ))
        }
    };
    let props_field = format!("{field}.properties");
    let props = match member(feature, "properties") {
        Some(p) => members(&props_field, p)?,
        None => &[],
    };
    let prop = |name: &str| format!("{props_field}.{name}");

    let id = match ["id", "name"]
        .into_iter()
        .find_map(|name| member(props, name).map(|v| (name, v)))
    {
        None => None,
        Some((name, value)) => {
            let id = match value {
                Json::String(s) => s.clone(),
                Json::Number(n) => (*n).to_owned(),
                other => {
                    return Err(at(
                        &prop(name),
                        format!("it is {}; expected a string", other.kind()),
                    ))
                }
            };
            if let Some(reason) = text_fault(&id) {
                return Err(GeoError::Text {
                    field: prop(name),
                    reason,
                });
            }
            Some(id)
        }
    };

    let areas: Vec<(&str, &Json<'_>)> = ["area_ha", "Area"]
        .into_iter()
        .filter_map(|name| member(props, name).map(|v| (name, v)))
        .collect();
    let (area_name, area) = match areas.as_slice() {
        [one] => *one,
        [] => {
            return Err(at(
                &props_field,
                "the plot's area is missing; add `area_ha` (hectares), e.g. \"area_ha\": 2.5",
            ))
        }
        _ => {
            return Err(at(
                &props_field,
                "both `area_ha` and `Area` are given; give the area once",
            ))
        }
    };
    let area_text = match area {
        Json::Number(n) => *n,
        Json::String(s) => s.as_str(),
        other => {
            return Err(at(
                &prop(area_name),
                format!("it is {}; expected a number of hectares", other.kind()),
            ))
        }
    };
    let area_ha = Decimal3::from_str(area_text).map_err(|e| at(&prop(area_name), e.to_string()))?;
    if area_ha.is_zero() {
        return Err(GeoError::ZeroArea {
            field: prop(area_name),
        });
    }

    let country = match member(props, "country") {
        None => None,
        Some(Json::String(s)) => {
            Some(Country::from_str(s).map_err(|e| at(&prop("country"), e.to_string()))?)
        }
        Some(other) => {
            return Err(at(
                &prop("country"),
                format!("it is {}; expected a two-letter country code", other.kind()),
            ))
        }
    };

    let plot = Plot {
        id,
        geometry,
        area_ha,
        country,
    };
    check_plot(field, &plot)?;
    Ok(plot)
}

/// A `Point` or a `Polygon` geometry.
fn read_geometry(field: &str, value: &Json<'_>) -> Result<Geometry, GeoError> {
    let geometry = members(field, value)?;
    let kind = type_of(field, geometry)?;
    let coords_field = format!("{field}.coordinates");
    let coords =
        member(geometry, "coordinates").ok_or_else(|| at(&coords_field, "it is missing"))?;
    match kind {
        "Point" => Ok(Geometry::Point(read_position(&|| coords_field.clone(), coords)?)),
        "Polygon" => match items(&coords_field, coords)? {
            [outer] => {
                let ring_field = format!("{coords_field}[0]");
                let ring = items(&ring_field, outer)?
                    .iter()
                    .enumerate()
                    .map(|(i, p)| read_position(&|| format!("{ring_field}[{i}]"), p))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Geometry::Polygon(ring))
            }
            [] => Err(at(&coords_field, "the polygon has no ring")),
            rings => Err(at(
                &coords_field,
                format!(
                    "the polygon has {} rings; holes are not accepted for a plot, give its outer ring only",
                    rings.len()
                ),
            )),
        },
        other => Err(at(
            &format!("{field}.type"),
            format!(
                "`{}` is not accepted; a plot's geometry must be a Point or a Polygon",
                clip(other)
            ),
        )),
    }
}

/// A `[longitude, latitude]` position; `field` is formatted only for an
/// error, as a polygon may have thousands of positions.
fn read_position(field: &dyn Fn() -> String, value: &Json<'_>) -> Result<GeoPoint, GeoError> {
    let shape = "expected a position [longitude, latitude] of two numbers";
    let Json::Array(items) = value else {
        return Err(at(&field(), format!("it is {}; {shape}", value.kind())));
    };
    let [lon, lat] = items.as_slice() else {
        let reason = if items.len() == 3 {
            "it has an altitude; give [longitude, latitude] only".to_owned()
        } else {
            format!("it has {} numbers; {shape}", items.len())
        };
        return Err(at(&field(), reason));
    };
    let degrees = |i: usize, value: &Json<'_>, limit: i32| match value {
        Json::Number(text) => {
            parse_micro(text, limit).map_err(|f| f.at(&format!("{}[{i}]", field()), text, limit))
        }
        other => Err(at(
            &format!("{}[{i}]", field()),
            format!("it is {}; expected a number", other.kind()),
        )),
    };
    Ok(GeoPoint {
        lon_micro: degrees(0, lon, LON_LIMIT_DEG)?,
        lat_micro: degrees(1, lat, LAT_LIMIT_DEG)?,
    })
}

// ---------------------------------------------------------------------------
// GeoJSON out

/// An object of `members`, in order.
fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// A plot's properties: `id` and `country` when given, and `area_ha`.
fn properties(plot: &Plot, area: Value) -> Map<String, Value> {
    let mut properties = Map::new();
    if let Some(id) = &plot.id {
        properties.insert("id".into(), Value::from(id.as_str()));
    }
    properties.insert("area_ha".into(), area);
    if let Some(country) = plot.country {
        properties.insert("country".into(), Value::from(country.as_str()));
    }
    properties
}

/// Writes plots as a GeoJSON `FeatureCollection`: one `Feature` per plot,
/// its geometry a `Point` or a one-ring `Polygon` with `[longitude,
/// latitude]` positions, its properties `id` and `country` (when given)
/// and `area_ha`.
///
/// Limitation: without serde_json's `arbitrary_precision` feature (which
/// this workspace does not enable), a [`Value`] holds a number as a binary
/// float, and serde_json writes the shortest text that reads back as that
/// float. Every coordinate keeps its exact micro-degree value, but one
/// ending in zeros loses them in the text (`4.600000` is written `4.6`),
/// and one under 0.00001 in magnitude is written with an exponent; both
/// are then refused by [`plots_from_geojson`] for having fewer than six
/// decimals. [`plots_to_geojson_text`] writes exactly six decimals. Areas
/// are exact up to about 10^12 ha.
pub fn plots_to_geojson(plots: &[Plot]) -> Value {
    let degrees = |micro: i32| Value::from(f64::from(micro) / 1e6);
    let position = |p: &GeoPoint| Value::Array(vec![degrees(p.lon_micro), degrees(p.lat_micro)]);
    let features = plots
        .iter()
        .map(|plot| {
            let geometry = match &plot.geometry {
                Geometry::Point(p) => {
                    object([("type", Value::from("Point")), ("coordinates", position(p))])
                }
                Geometry::Polygon(ring) => object([
                    ("type", Value::from("Polygon")),
                    (
                        "coordinates",
                        Value::Array(vec![Value::Array(ring.iter().map(position).collect())]),
                    ),
                ]),
            };
            // Exact while the thousandths fit a float's 53 bits.
            let area = Value::from(plot.area_ha.milli() as f64 / 1000.0);
            object([
                ("type", Value::from("Feature")),
                ("properties", Value::Object(properties(plot, area))),
                ("geometry", geometry),
            ])
        })
        .collect();
    object([
        ("type", Value::from("FeatureCollection")),
        ("features", Value::Array(features)),
    ])
}

/// Writes `s` as a JSON string.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes a `[longitude, latitude]` position with six decimals each.
fn push_position(out: &mut String, p: &GeoPoint) {
    out.push('[');
    out.push_str(&format_degrees(p.lon_micro));
    out.push(',');
    out.push_str(&format_degrees(p.lat_micro));
    out.push(']');
}

/// Writes plots as the GeoJSON text of [`plots_to_geojson`], but with
/// every coordinate written with exactly six decimals and the area
/// exactly, so that [`plots_from_geojson`] reads back the same plots.
/// The text is compact, one line, members in a fixed order.
pub fn plots_to_geojson_text(plots: &[Plot]) -> String {
    let mut out = String::from(r#"{"type":"FeatureCollection","features":["#);
    for (i, plot) in plots.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"type":"Feature","properties":{"#);
        if let Some(id) = &plot.id {
            out.push_str(r#""id":"#);
            push_json_string(&mut out, id);
            out.push(',');
        }
        out.push_str(r#""area_ha":"#);
        out.push_str(&plot.area_ha.to_string());
        if let Some(country) = plot.country {
            out.push_str(r#","country":"#);
            push_json_string(&mut out, country.as_str());
        }
        out.push_str(r#"},"geometry":{"type":"#);
        match &plot.geometry {
            Geometry::Point(p) => {
                out.push_str(r#""Point","coordinates":"#);
                push_position(&mut out, p);
            }
            Geometry::Polygon(ring) => {
                out.push_str(r#""Polygon","coordinates":[["#);
                for (j, p) in ring.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_position(&mut out, p);
                }
                out.push_str("]]");
            }
        }
        out.push_str("}}");
    }
    out.push_str("]}");
    out
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

    #[test]
    fn segments() {
        let s = |a: (i64, i64), b: (i64, i64)| (a, b);
        // Crossing, touching at an end, touching mid-edge, collinear
        // overlapping, collinear apart, parallel, apart.
        assert!(segments_meet(s((0, 0), (2, 2)), s((0, 2), (2, 0))));
        assert!(segments_meet(s((0, 0), (2, 2)), s((2, 2), (3, 0))));
        assert!(segments_meet(s((0, 0), (2, 0)), s((1, 0), (1, 5))));
        assert!(segments_meet(s((0, 0), (2, 0)), s((1, 0), (3, 0))));
        assert!(!segments_meet(s((0, 0), (1, 0)), s((2, 0), (3, 0))));
        assert!(!segments_meet(s((0, 0), (2, 0)), s((0, 1), (2, 1))));
        assert!(!segments_meet(s((0, 0), (1, 1)), s((2, 0), (3, -5))));
        assert!(folds_back((0, 0), (2, 0), (1, 0)));
        assert!(!folds_back((0, 0), (2, 0), (3, 0)));
        assert!(!folds_back((0, 0), (2, 0), (2, 1)));
    }

    fn json(text: &str) -> Result<Json<'_>, GeoError> {
        Reader { text, at: 0 }.document()
    }

    #[test]
    fn json_reader_keeps_number_text_and_undoes_escapes() {
        let Ok(Json::Array(items)) = json(
            r#" [4.600000, -0, 1e5, "a\"\\\/\b\f\n\r\t\u00e9\ud83c\udf31", true, false, null, {}] "#,
        ) else {
            panic!("not read");
        };
        assert!(matches!(items.first(), Some(Json::Number("4.600000"))));
        assert!(matches!(items.get(1), Some(Json::Number("-0"))));
        assert!(matches!(items.get(2), Some(Json::Number("1e5"))));
        let Some(Json::String(s)) = items.get(3) else {
            panic!("no string");
        };
        assert_eq!(s, "a\"\\/\u{8}\u{c}\n\r\té🌱");
        assert!(matches!(items.get(7), Some(Json::Object(m)) if m.is_empty()));
    }

    #[test]
    fn json_reader_refuses_what_json_does_not_allow() {
        for (bad, line, column) in [
            ("", 1, 1),
            ("{", 1, 2),
            ("[1,]", 1, 4),
            ("[01]", 1, 2),
            ("[1.]", 1, 4),
            ("[-]", 1, 3),
            ("[1e]", 1, 4),
            ("{\"a\":1,\n \"a\":2}", 2, 2),
            ("\"\\x\"", 1, 3),
            ("\"\\ud800\"", 1, 8),
            ("\"\\udc00\"", 1, 8),
            ("\"a\nb\"", 1, 3),
            ("[1] [2]", 1, 5),
            ("[nul]", 1, 2),
            ("{'a':1}", 1, 2),
            ("é", 1, 1),
        ] {
            match json(bad) {
                Err(GeoError::Json {
                    line: l, column: c, ..
                }) => assert_eq!((l, c), (line, column), "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let deep = "[".repeat(MAX_JSON_DEPTH + 1);
        let e = json(&deep).unwrap_err().to_string();
        assert!(e.contains("deeper than 32"), "{e}");
        assert!(json(&format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        ))
        .is_ok());
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\u000ad\u0001é""#);
        let Ok(Json::String(back)) = json(&out) else {
            panic!("not read back");
        };
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
