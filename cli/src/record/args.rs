//! What several `record` commands share: places, documents, transport
//! facts, FDA key data elements, quantities, and the small parsers behind
//! them. Every error names the flag and the value given.

use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use waybill_core::codes::{Country, Decimal3, UnitCode};
use waybill_core::crypto::Hash32;
use waybill_core::entry::{
    DocRef, GeoPoint, Kdes, Location, Quantity, ReferenceDocument, ReferenceDocumentType,
};
use waybill_core::geo::{self, LAT_LIMIT_DEG, LON_LIMIT_DEG};
use waybill_core::gs1::{Gln, LotId};
use waybill_core::terms::{document_digest, DocumentSalt, Salt};
use waybill_core::transport::{ContainerNumber, ImoNumber, Transport, TransportError, Vessel};

use crate::util;

// ---------------------------------------------------------------------------
// Places

/// A place given on the command line: `--country`, `--place`, `--gln`,
/// `--lat`/`--lon`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Place")]
pub struct PlaceArgs {
    /// ISO 3166-1 alpha-2 country, e.g. `--country CO`.
    #[arg(long, value_name = "CC")]
    pub country: Option<Country>,
    /// A place name, e.g. `--place "Port of Buenaventura"`.
    #[arg(long, value_name = "NAME")]
    pub place: Option<String>,
    /// GS1 Global Location Number (13 digits, the last a check digit),
    /// e.g. `--gln 7709998000001`.
    #[arg(long, value_name = "GLN")]
    pub gln: Option<Gln>,
    /// Latitude in decimal degrees (WGS 84, at least six decimals, -90 to
    /// 90), e.g. `--lat 1.853214`. Give --lon with it.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "lon"
    )]
    pub lat: Option<String>,
    /// Longitude in decimal degrees (WGS 84, at least six decimals, -180
    /// to 180), e.g. `--lon -76.051378`. Give --lat with it.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "lat"
    )]
    pub lon: Option<String>,
}

impl PlaceArgs {
    /// The place, its coordinates read with the six-decimal rule.
    pub fn location(&self) -> Result<Location> {
        Ok(Location {
            gln: self.gln.clone(),
            country: self.country,
            name: self.place.clone(),
            geo: geo_point(
                ("--lat", self.lat.as_deref()),
                ("--lon", self.lon.as_deref()),
            )?,
        })
    }
}

/// Where a shipment leaves from: `--from-country`, `--from-place`,
/// `--from-gln`, `--from-lat`/`--from-lon`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Where from")]
pub struct FromPlaceArgs {
    /// Origin country (ISO 3166-1 alpha-2), e.g. `--from-country CO`.
    #[arg(long, value_name = "CC")]
    pub from_country: Option<Country>,
    /// Origin place name, e.g. `--from-place "Port of Buenaventura"`.
    #[arg(long, value_name = "NAME")]
    pub from_place: Option<String>,
    /// Origin GLN (13 digits with check digit), e.g. `--from-gln 7709998000001`.
    #[arg(long, value_name = "GLN")]
    pub from_gln: Option<Gln>,
    /// Origin latitude, six decimals or more, e.g. `--from-lat 3.882810`.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "from_lon"
    )]
    pub from_lat: Option<String>,
    /// Origin longitude, six decimals or more, e.g. `--from-lon -77.031917`.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "from_lat"
    )]
    pub from_lon: Option<String>,
}

impl FromPlaceArgs {
    /// The origin.
    pub fn location(&self) -> Result<Location> {
        Ok(Location {
            gln: self.from_gln.clone(),
            country: self.from_country,
            name: self.from_place.clone(),
            geo: geo_point(
                ("--from-lat", self.from_lat.as_deref()),
                ("--from-lon", self.from_lon.as_deref()),
            )?,
        })
    }
}

/// Where a shipment goes: `--to-country`, `--to-place`, `--to-gln`,
/// `--to-lat`/`--to-lon`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Where to")]
pub struct ToPlaceArgs {
    /// Destination country (ISO 3166-1 alpha-2), e.g. `--to-country DE`.
    #[arg(long, value_name = "CC")]
    pub to_country: Option<Country>,
    /// Destination place name, e.g. `--to-place "Port of Hamburg"`.
    #[arg(long, value_name = "NAME")]
    pub to_place: Option<String>,
    /// Destination GLN (13 digits with check digit), e.g. `--to-gln 4061234000002`.
    #[arg(long, value_name = "GLN")]
    pub to_gln: Option<Gln>,
    /// Destination latitude, six decimals or more, e.g. `--to-lat 53.541231`.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "to_lon"
    )]
    pub to_lat: Option<String>,
    /// Destination longitude, six decimals or more, e.g. `--to-lon 9.984345`.
    #[arg(
        long,
        value_name = "DEGREES",
        allow_hyphen_values = true,
        requires = "to_lat"
    )]
    pub to_lon: Option<String>,
}

impl ToPlaceArgs {
    /// The destination.
    pub fn location(&self) -> Result<Location> {
        Ok(Location {
            gln: self.to_gln.clone(),
            country: self.to_country,
            name: self.to_place.clone(),
            geo: geo_point(
                ("--to-lat", self.to_lat.as_deref()),
                ("--to-lon", self.to_lon.as_deref()),
            )?,
        })
    }
}

/// Reads a latitude and a longitude given as `(flag, text)`, with the
/// six-decimal rule of the EU deforestation regulation; none if neither
/// is given.
pub fn geo_point(
    (lat_flag, lat): (&str, Option<&str>),
    (lon_flag, lon): (&str, Option<&str>),
) -> Result<Option<GeoPoint>> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => Ok(Some(GeoPoint {
            lat_micro: geo::parse_degrees(lat_flag, lat, LAT_LIMIT_DEG)?,
            lon_micro: geo::parse_degrees(lon_flag, lon, LON_LIMIT_DEG)?,
        })),
        (Some(_), None) => bail!("{lat_flag} needs {lon_flag} too"),
        (None, Some(_)) => bail!("{lon_flag} needs {lat_flag} too"),
    }
}

// ---------------------------------------------------------------------------
// Transport

/// The transport facts of one leg, shared by dispatch, receive and
/// handover.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Transport (this leg)")]
pub struct TransportArgs {
    /// Bill of lading (or air waybill, CMR) number, e.g.
    /// `--bill-of-lading MAEU240561873`.
    #[arg(long, value_name = "NUMBER")]
    pub bill_of_lading: Option<String>,
    /// A container: ISO 6346, owner code, category, six digits and the
    /// check digit, e.g. `--container CSQU3054383` (spaces and a dash
    /// before the check digit allowed: "CSQU 305438-3"). Repeat for each.
    #[arg(long = "container", value_name = "CONTAINER")]
    pub containers: Vec<ContainerNumber>,
    /// A seal number, e.g. `--seal ML-CO4471920`. Repeat for each.
    #[arg(long = "seal", value_name = "SEAL")]
    pub seals: Vec<String>,
    /// The vessel's IMO number (seven digits, the last a check digit),
    /// e.g. `--vessel-imo 9074729` or `--vessel-imo "IMO 9074729"`.
    #[arg(long, value_name = "IMO")]
    pub vessel_imo: Option<ImoNumber>,
    /// The vessel's name, e.g. `--vessel-name "Atlantic Star"` (with --vessel-imo).
    #[arg(long, value_name = "NAME", requires = "vessel_imo")]
    pub vessel_name: Option<String>,
    /// The carrier's voyage number, e.g. `--voyage 614E` (with --vessel-imo).
    #[arg(long, value_name = "VOYAGE", requires = "vessel_imo")]
    pub voyage: Option<String>,
    /// When the leg departed: RFC 3339, a date, or ms since 1970, e.g.
    /// `--departed-at 2026-10-02T18:00:00Z`.
    #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
    pub departed_at: Option<i64>,
    /// When the leg arrived, e.g. `--arrived-at 2026-10-24T06:30:00Z`.
    #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
    pub arrived_at: Option<i64>,
}

impl TransportArgs {
    /// The transport facts, checked; errors name the flags.
    pub fn transport(&self) -> Result<Transport> {
        let t = Transport {
            bill_of_lading: self.bill_of_lading.clone(),
            containers: self.containers.clone(),
            seals: self.seals.clone(),
            vessel: self.vessel_imo.map(|imo| Vessel {
                imo,
                name: self.vessel_name.clone(),
                voyage: self.voyage.clone(),
            }),
            departed_at_ms: self.departed_at,
            arrived_at_ms: self.arrived_at,
        };
        t.check().map_err(|e| anyhow!(transport_error(&e)))?;
        Ok(t)
    }
}

/// A transport error with the entry's field names replaced by the flags.
fn transport_error(e: &TransportError) -> String {
    match e {
        TransportError::Text { field, reason } => {
            format!("{} {reason}", flag_of_transport_field(field))
        }
        TransportError::TooMany {
            field,
            count,
            what,
            max,
        } => format!(
            "{} is given {count} times; at most {max} {what} are allowed",
            flag_of_transport_field(field)
        ),
        TransportError::DuplicateContainer { container, .. } => {
            format!("--container {container} is given twice")
        }
        TransportError::ArrivesBeforeDeparture { departed, arrived } => format!(
            "--arrived-at {} is before --departed-at {}; a leg cannot arrive before it departs",
            util::fmt_time(*arrived),
            util::fmt_time(*departed)
        ),
        other => other.to_string(),
    }
}

/// The flag behind a transport field, e.g. `--seal #2` for
/// `transport.seals[1]`.
fn flag_of_transport_field(field: &str) -> String {
    let field = field.strip_prefix("transport.").unwrap_or(field);
    let (name, index) = match field.split_once('[') {
        Some((name, rest)) => (
            name,
            rest.trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .map(|i| i + 1),
        ),
        None => (field, None),
    };
    let flag = match name {
        "bill_of_lading" => "--bill-of-lading",
        "containers" => "--container",
        "seals" => "--seal",
        "vessel.name" => "--vessel-name",
        "vessel.voyage" => "--voyage",
        other => return format!("transport.{other}"),
    };
    match index {
        Some(i) => format!("{flag} #{i}"),
        None => flag.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// FDA key data elements

/// The FDA food traceability rule's key data elements an entry carries
/// (21 CFR 1 subpart S).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "FDA key data elements (21 CFR 1 subpart S)")]
pub struct KdeArgs {
    /// The reference document the event is recorded on, TYPE:NUMBER, TYPE
    /// one of bill_of_lading, invoice, purchase_order,
    /// advance_shipping_notice, work_order, other; e.g. `--ref-doc
    /// invoice:INV-2026-0117`.
    #[arg(long, value_name = "TYPE:NUMBER", value_parser = parse_ref_doc)]
    pub ref_doc: Option<ReferenceDocument>,
    /// Where the traceability lot code was assigned (its source), as a
    /// GLN, e.g. `--tlc-source-gln 7709998000001`.
    #[arg(long, value_name = "GLN")]
    pub tlc_source_gln: Option<Gln>,
    /// Where the traceability lot code was assigned, as a place name, e.g.
    /// `--tlc-source-place "Beneficio La Esperanza, Pitalito"`.
    #[arg(long, value_name = "NAME")]
    pub tlc_source_place: Option<String>,
}

impl KdeArgs {
    /// The key data elements.
    pub fn kdes(&self) -> Kdes {
        let tlc_source = if self.tlc_source_gln.is_none() && self.tlc_source_place.is_none() {
            None
        } else {
            Some(Location {
                gln: self.tlc_source_gln.clone(),
                name: self.tlc_source_place.clone(),
                ..Location::default()
            })
        };
        Kdes {
            reference_document: self.ref_doc.clone(),
            tlc_source,
        }
    }
}

/// Parses `TYPE:NUMBER` for --ref-doc.
fn parse_ref_doc(s: &str) -> Result<ReferenceDocument, String> {
    let names = || {
        ReferenceDocumentType::ALL
            .map(ReferenceDocumentType::as_str)
            .join(", ")
    };
    let (kind, number) = s.split_once(':').ok_or_else(|| {
        format!(
            "`{s}` must be TYPE:NUMBER, e.g. invoice:INV-2026-0117, TYPE one of {}",
            names()
        )
    })?;
    let kind = ReferenceDocumentType::ALL
        .into_iter()
        .find(|t| t.as_str() == kind.trim().replace('-', "_"))
        .ok_or_else(|| {
            format!(
                "`{kind}` is not a reference document type; use one of {}",
                names()
            )
        })?;
    let number = number.trim();
    if number.is_empty() {
        return Err(format!("`{s}` has no document number after the `:`"));
    }
    Ok(ReferenceDocument {
        kind,
        number: number.to_owned(),
    })
}

// ---------------------------------------------------------------------------
// Documents

/// Reads document files given as `FILE[:LABEL]` (for `flag`) into
/// references: the salted digest of each file goes on the ledger, not the
/// file; each salt is kept in `common.salts` for the salts file.
pub fn doc_refs(common: &super::Common, flag: &str, specs: &[String]) -> Result<Vec<DocRef>> {
    specs
        .iter()
        .map(|s| {
            // A file whose name holds a `:` is taken whole when it exists.
            let (file, label) = match s.split_once(':') {
                Some((f, l)) if !Path::new(s).exists() => (f, Some(l.to_string())),
                _ => (s.as_str(), None),
            };
            let bytes = std::fs::read(file)
                .with_context(|| format!("{flag} `{s}`: cannot read the file {file}"))?;
            let media_type = match file
                .rsplit('.')
                .next()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("pdf") => "application/pdf",
                Some("json") => "application/json",
                Some("geojson") => "application/geo+json",
                Some("xml") => "application/xml",
                Some("csv") => "text/csv",
                Some("txt") => "text/plain",
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            let salt = Salt(Hash32(crate::util::random_salt()));
            let sha256 = document_digest(&salt, &bytes);
            common.salts.borrow_mut().push(DocumentSalt {
                flag: flag.into(),
                file: file.into(),
                label: label.clone(),
                sha256,
                salt,
            });
            Ok(DocRef {
                sha256,
                media_type: media_type.into(),
                uri: None,
                label,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Lots and quantities

/// Splits `LOT=REST` at the last `=` (a lot id may hold `=`; a quantity
/// never does). `None` for the rest when there is no `=`.
pub fn split_lot<'a>(flag: &str, spec: &'a str) -> Result<(LotId, Option<&'a str>)> {
    let (lot, rest) = match spec.rsplit_once('=') {
        Some((lot, rest)) => (lot, Some(rest)),
        None => (spec, None),
    };
    let lot = LotId::from_str(lot).map_err(|e| anyhow!("{flag} `{spec}`: {e}"))?;
    Ok((lot, rest))
}

/// A quantity written `QTY` or `QTY:UNIT`, e.g. `600` or `0.6:TNE`; a
/// quantity without its unit is in `unit` (the command's --unit), and
/// refused without one. `spec` is the whole value, for errors.
pub fn quantity(flag: &str, spec: &str, text: &str, unit: Option<UnitCode>) -> Result<Quantity> {
    let (value, unit_text) = match text.split_once(':') {
        Some((v, u)) => (v, Some(u)),
        None => (text, None),
    };
    let value = Decimal3::from_str(value.trim()).map_err(|e| anyhow!("{flag} `{spec}`: {e}"))?;
    let unit = match (unit_text, unit) {
        (Some(u), _) => {
            UnitCode::from_str(u.trim()).map_err(|e| anyhow!("{flag} `{spec}`: {e}"))?
        }
        (None, Some(u)) => u,
        (None, None) => bail!(
            "{flag} `{spec}`: the quantity has no unit; write it with one, as in `{spec}:KGM`, or give --unit for every quantity written without one"
        ),
    };
    Ok(Quantity { value, unit })
}

/// Reads a signed decimal with up to three decimals, e.g. `-18.5`, as
/// thousandths (sensor values and ranges). `what` names it in errors.
pub fn milli(what: &str, text: &str) -> Result<i32> {
    let t = text.trim();
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (unsigned.contains('.') && !digits(frac)) {
        bail!("{what}: `{text}` is not a decimal number, e.g. -18.5");
    }
    if frac.len() > 3 {
        bail!(
            "{what}: `{text}` has {} decimals; at most 3 are kept",
            frac.len()
        );
    }
    let magnitude = format!("{int}{frac:0<3}")
        .parse::<i64>()
        .ok()
        .filter(|m| *m <= i64::from(i32::MAX))
        .ok_or_else(|| anyhow!("{what}: `{text}` is too large"))?;
    let signed = if negative { -magnitude } else { magnitude };
    i32::try_from(signed).map_err(|_| anyhow!("{what}: `{text}` is too large"))
}

/// Parses a snake_case name into a core enum through its serde form, so
/// the command line accepts exactly the names the JSON uses (a `-` may
/// stand for a `_`).
pub fn serde_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_")))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_reads_three_decimals() {
        assert_eq!(milli("v", "-18.5").unwrap(), -18_500);
        assert_eq!(milli("v", "4").unwrap(), 4_000);
        assert_eq!(milli("v", "0.001").unwrap(), 1);
        assert_eq!(milli("v", "+2.25").unwrap(), 2_250);
        for bad in ["", "-", "1.", ".5", "1.2345", "1e3", "x", "99999999"] {
            assert!(milli("v", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_need_a_unit() {
        let q = quantity("--lot", "L=0.6:TNE", "0.6:TNE", None).unwrap();
        assert_eq!((q.value.milli(), q.unit), (600, UnitCode::Tne));
        let q = quantity("--lot", "L=600", "600", Some(UnitCode::Kgm)).unwrap();
        assert_eq!((q.value.milli(), q.unit), (600_000, UnitCode::Kgm));
        let e = quantity("--lot", "L=600", "600", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--lot `L=600`") && e.contains("--unit"), "{e}");
        let e = quantity("--lot", "L=6x", "6x", Some(UnitCode::Kgm))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--lot `L=6x`"), "{e}");
    }

    #[test]
    fn lots_split_at_the_last_equals_sign() {
        let (lot, rest) = split_lot("--lot", "(01)07709998000018(10)LOT1=600").unwrap();
        assert_eq!(lot.to_string(), "(01)07709998000018(10)LOT1");
        assert_eq!(rest, Some("600"));
        let (lot, rest) = split_lot("--lot", "A=B=1:KGM").unwrap();
        assert_eq!((lot.to_string().as_str(), rest), ("A=B", Some("1:KGM")));
        assert_eq!(split_lot("--lot", "LOT7").unwrap().1, None);
    }

    #[test]
    fn reference_documents() {
        let d = parse_ref_doc("purchase_order:PO-77").unwrap();
        assert_eq!(
            (d.kind, d.number.as_str()),
            (ReferenceDocumentType::PurchaseOrder, "PO-77")
        );
        assert!(parse_ref_doc("invoice").is_err());
        assert!(parse_ref_doc("receipt:1")
            .unwrap_err()
            .contains("bill_of_lading"));
        assert!(parse_ref_doc("invoice: ").is_err());
    }

    #[test]
    fn transport_fields_become_flags() {
        assert_eq!(flag_of_transport_field("transport.seals[1]"), "--seal #2");
        assert_eq!(
            flag_of_transport_field("transport.bill_of_lading"),
            "--bill-of-lading"
        );
        assert_eq!(
            flag_of_transport_field("transport.vessel.voyage"),
            "--voyage"
        );
    }
}
