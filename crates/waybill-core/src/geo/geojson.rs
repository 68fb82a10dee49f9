//! Plots in and out as GeoJSON (RFC 7946) feature collections, the form
//! the EU information system takes.

use std::str::FromStr;

use serde_json::{Map, Value};

use super::check::check_plot;
use super::coords::{format_degrees, parse_micro};
use super::error::GeoError;
use super::json::{push_json_string, Json, Reader};
use super::plot::{Geometry, Plot, LAT_LIMIT_DEG, LON_LIMIT_DEG};
use crate::codes::{Country, Decimal3};
use crate::entry::GeoPoint;
use crate::transport::{clip, text_fault};

// ---------------------------------------------------------------------------
// GeoJSON in

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
