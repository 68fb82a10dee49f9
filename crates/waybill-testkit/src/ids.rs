//! Identifiers and values from short text or numbers: lots, shipments,
//! GTINs, SSCCs, UETRs, quantities, currencies, places and documents.
//!
//! The plain functions panic on bad text (tests pass constants); the
//! `try_` ones return [`KitError`] for callers that must not panic.

use waybill_core::codes::{Currency, Decimal3, Uetr};
use waybill_core::crypto::Hash32;
use waybill_core::entry::{DocRef, Location};
use waybill_core::gs1::{gs1_check_digit, Gln, Gtin, LotId, ShipmentId};

use crate::consortium::BRAND_PREFIX;
use crate::error::{parse, KitError};

/// A lot id from text (free id or GS1 element string).
pub fn lot(s: &str) -> LotId {
    s.parse().expect("a valid lot id")
}

/// A shipment id from text.
pub fn ship(s: &str) -> ShipmentId {
    s.parse().expect("a valid shipment id")
}

/// A quantity from text (up to three decimals).
pub fn dec(s: &str) -> Decimal3 {
    s.parse().expect("a valid decimal")
}

/// A currency from its ISO 4217 code.
pub fn currency(s: &str) -> Currency {
    s.parse().expect("a currency code")
}

/// A deterministic version-4 UETR numbered `n`.
pub fn uetr(n: u64) -> Uetr {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n >> 32,
        (n >> 16) & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
    .parse()
    .expect("a valid UETR")
}

/// A version-4 UETR from 128 random bits.
pub fn try_uetr_from_bits(bits: u128) -> Result<Uetr, KitError> {
    let v = (bits & !(0xF << 76)) | (0x4 << 76);
    let v = (v & !(0x3 << 62)) | (0x2 << 62);
    parse("UETR", &format!("{v:032x}"))
}

/// `body` followed by its GS1 check digit.
pub fn try_with_check_digit(body: &str) -> Result<String, KitError> {
    let d = gs1_check_digit(body).ok_or_else(|| KitError::Invalid {
        what: "GS1 key",
        text: body.to_string(),
        why: "not digits".into(),
    })?;
    Ok(format!("{body}{d}"))
}

/// `n`'s last `width` digits, zero-padded.
fn digits_of(n: u64, width: usize) -> String {
    let s = format!("{n:0width$}");
    s[s.len() - width..].to_string()
}

/// A GTIN-14 under GS1 company prefix `prefix` (4 to 12 digits): indicator
/// digit 0, the prefix, an item reference from `n`, the check digit.
pub fn try_gtin_under(prefix: &str, n: u64) -> Result<Gtin, KitError> {
    let item = 12usize
        .checked_sub(prefix.len())
        .ok_or_else(|| KitError::Invalid {
            what: "GS1 company prefix",
            text: prefix.to_string(),
            why: "longer than 12 digits".into(),
        })?;
    parse(
        "GTIN",
        &try_with_check_digit(&format!("0{prefix}{}", digits_of(n, item)))?,
    )
}

/// [`try_gtin_under`], for tests.
pub fn gtin_under(prefix: &str, n: u64) -> Gtin {
    try_gtin_under(prefix, n).expect("a valid GTIN")
}

/// An SSCC under GS1 company prefix `prefix`: extension digit 0, the
/// prefix, a serial reference from `n`, the check digit.
pub fn try_sscc_under(prefix: &str, n: u64) -> Result<ShipmentId, KitError> {
    let serial = 16usize
        .checked_sub(prefix.len())
        .ok_or_else(|| KitError::Invalid {
            what: "GS1 company prefix",
            text: prefix.to_string(),
            why: "longer than 16 digits".into(),
        })?;
    let sscc = try_with_check_digit(&format!("0{prefix}{}", digits_of(n, serial)))?;
    parse("shipment", &format!("(00){sscc}"))
}

/// [`try_sscc_under`], for tests.
pub fn sscc_under(prefix: &str, n: u64) -> ShipmentId {
    try_sscc_under(prefix, n).expect("a valid SSCC")
}

/// A GLN under GS1 company prefix `prefix`: the prefix, a location
/// reference from `n`, the check digit.
pub fn try_gln_under(prefix: &str, n: u64) -> Result<Gln, KitError> {
    let location = 12usize
        .checked_sub(prefix.len())
        .ok_or_else(|| KitError::Invalid {
            what: "GS1 company prefix",
            text: prefix.to_string(),
            why: "longer than 12 digits".into(),
        })?;
    parse(
        "GLN",
        &try_with_check_digit(&format!("{prefix}{}", digits_of(n, location)))?,
    )
}

/// [`try_gln_under`], for tests.
pub fn gln_under(prefix: &str, n: u64) -> Gln {
    try_gln_under(prefix, n).expect("a valid GLN")
}

/// A GTIN-14 with a correct check digit, built from `n`, under the
/// brand's prefix ([`BRAND_PREFIX`]).
pub fn try_gtin(n: u64) -> Result<Gtin, KitError> {
    try_gtin_under(BRAND_PREFIX, n)
}

/// A GTIN-14 with a correct check digit, built from `n`, under the
/// brand's prefix ([`BRAND_PREFIX`]).
pub fn gtin(n: u64) -> Gtin {
    try_gtin(n).expect("a valid GTIN")
}

/// An SSCC shipment id with a correct check digit, built from `n`, under
/// the brand's prefix ([`BRAND_PREFIX`]).
pub fn try_sscc_shipment(n: u64) -> Result<ShipmentId, KitError> {
    try_sscc_under(BRAND_PREFIX, n)
}

/// An SSCC shipment id with a correct check digit, built from `n`, under
/// the brand's prefix ([`BRAND_PREFIX`]).
pub fn sscc_shipment(n: u64) -> ShipmentId {
    try_sscc_shipment(n).expect("a valid SSCC")
}

/// A GS1 batch lot `(01)0<gtin12><check>(10)<batch>`.
pub fn try_gs1_lot(gtin12: &str, batch: &str) -> Result<LotId, KitError> {
    let gtin: Gtin = parse("GTIN", &try_with_check_digit(&format!("0{gtin12}"))?)?;
    LotId::batch(gtin, batch).map_err(|e| KitError::Invalid {
        what: "batch",
        text: batch.to_string(),
        why: e.to_string(),
    })
}

/// A GS1 batch lot `(01)0<gtin12><check>(10)<batch>`.
pub fn gs1_lot(gtin12: &str, batch: &str) -> LotId {
    try_gs1_lot(gtin12, batch).expect("a valid GS1 lot id")
}

/// A named place in `country`.
pub fn try_place(name: &str, country: &str) -> Result<Location, KitError> {
    Ok(Location {
        gln: None,
        country: Some(parse("country", country)?),
        name: Some(name.into()),
        geo: None,
    })
}

/// A named place in `country`.
pub fn place(name: &str, country: &str) -> Location {
    try_place(name, country).expect("a valid place")
}

/// A PDF document reference labelled `label`, whose content is the label.
pub fn doc(label: &str) -> DocRef {
    DocRef {
        sha256: Hash32::digest(label.as_bytes()),
        media_type: "application/pdf".into(),
        uri: Some(format!("https://docs.example/{}", label.replace(' ', "-"))),
        label: Some(label.into()),
    }
}
