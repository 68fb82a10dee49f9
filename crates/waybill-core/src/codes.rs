//! Trade and payment codes: currency, country, Incoterm, unit, HS code,
//! UETR, and the exact decimals used for quantities and FX rates.
//!
//! Every type parses from and displays as one canonical string, which is
//! also its serde form in every format.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::text::{code_serde, string_serde};
use crate::IdError;

string_serde!(HsCode, Uetr, Decimal3, FxRate);
code_serde!(Currency => code, Country => as_str, Incoterm => code, UnitCode => code);

/// Shortens user input for an error message, so one bad value cannot flood a log.
fn clip(input: &str) -> String {
    const MAX: usize = 80;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// If `s` is a lower- or mixed-case spelling of an accepted code, the
/// "write it in upper case" error; otherwise `None`.
fn case_hint(kind: &'static str, s: &str, accepted: impl Fn(&str) -> bool) -> Option<IdError> {
    let upper = s.to_ascii_uppercase();
    (upper != s && accepted(&upper)).then(|| IdError::NotUpperCase {
        kind,
        input: s.to_owned(),
        suggestion: upper,
    })
}

// ---------------------------------------------------------------------------

/// An ISO 4217 currency, written as its three upper-case letters (`EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// The alphabetic code, e.g. `"EUR"`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Number of minor-unit digits (2 for EUR, 0 for JPY, 3 for BHD; 0 when
    /// ISO 4217 defines none, as for XAU).
    pub fn exponent(&self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// The underlying `iso_currency` value (name, numeric code, …).
    pub fn iso(&self) -> iso_currency::Currency {
        self.0
    }
}

impl From<iso_currency::Currency> for Currency {
    fn from(c: iso_currency::Currency) -> Self {
        Currency(c)
    }
}

impl FromStr for Currency {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(c) = iso_currency::Currency::from_code(s) {
            return Ok(Currency(c));
        }
        if let Some(e) = case_hint("currency code", s, |u| {
            iso_currency::Currency::from_code(u).is_some()
        }) {
            return Err(e);
        }
        Err(IdError::UnknownCurrency(clip(s)))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Ordered by code, like the canonical strings.
impl Ord for Currency {
    fn cmp(&self, other: &Self) -> Ordering {
        self.code().cmp(other.code())
    }
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// ---------------------------------------------------------------------------

/// All officially assigned ISO 3166-1 alpha-2 codes, sorted.
const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An ISO 3166-1 alpha-2 country code (`DE`), officially assigned codes
/// only: user-assigned codes such as `XK` or `EU` are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country(&'static str);

impl Country {
    /// The two upper-case letters.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// All 249 officially assigned codes, in order.
    pub fn all() -> impl Iterator<Item = Country> {
        COUNTRY_CODES.iter().map(|c| Country(c))
    }

    fn lookup(s: &str) -> Option<Country> {
        let i = COUNTRY_CODES.binary_search(&s).ok()?;
        COUNTRY_CODES.get(i).map(|c| Country(c))
    }
}

impl FromStr for Country {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(c) = Country::lookup(s) {
            return Ok(c);
        }
        if let Some(e) = case_hint("country code", s, |u| Country::lookup(u).is_some()) {
            return Err(e);
        }
        Err(IdError::UnknownCountry(clip(s)))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

// ---------------------------------------------------------------------------

/// An Incoterms 2020 rule, written as its three-letter code (`FOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Incoterm {
    /// Ex Works.
    Exw,
    /// Free Carrier.
    Fca,
    /// Carriage Paid To.
    Cpt,
    /// Carriage and Insurance Paid To.
    Cip,
    /// Delivered at Place.
    Dap,
    /// Delivered at Place Unloaded.
    Dpu,
    /// Delivered Duty Paid.
    Ddp,
    /// Free Alongside Ship (sea and inland waterway only).
    Fas,
    /// Free on Board (sea and inland waterway only).
    Fob,
    /// Cost and Freight (sea and inland waterway only).
    Cfr,
    /// Cost, Insurance and Freight (sea and inland waterway only).
    Cif,
}

impl Incoterm {
    /// The 11 rules, in the ICC's order.
    pub const ALL: [Incoterm; 11] = [
        Incoterm::Exw,
        Incoterm::Fca,
        Incoterm::Cpt,
        Incoterm::Cip,
        Incoterm::Dap,
        Incoterm::Dpu,
        Incoterm::Ddp,
        Incoterm::Fas,
        Incoterm::Fob,
        Incoterm::Cfr,
        Incoterm::Cif,
    ];

    /// The code, e.g. `"FOB"`.
    pub fn code(self) -> &'static str {
        match self {
            Incoterm::Exw => "EXW",
            Incoterm::Fca => "FCA",
            Incoterm::Cpt => "CPT",
            Incoterm::Cip => "CIP",
            Incoterm::Dap => "DAP",
            Incoterm::Dpu => "DPU",
            Incoterm::Ddp => "DDP",
            Incoterm::Fas => "FAS",
            Incoterm::Fob => "FOB",
            Incoterm::Cfr => "CFR",
            Incoterm::Cif => "CIF",
        }
    }

    /// The rule's English name, e.g. `"Free on Board"`.
    pub fn description(self) -> &'static str {
        match self {
            Incoterm::Exw => "Ex Works",
            Incoterm::Fca => "Free Carrier",
            Incoterm::Cpt => "Carriage Paid To",
            Incoterm::Cip => "Carriage and Insurance Paid To",
            Incoterm::Dap => "Delivered at Place",
            Incoterm::Dpu => "Delivered at Place Unloaded",
            Incoterm::Ddp => "Delivered Duty Paid",
            Incoterm::Fas => "Free Alongside Ship",
            Incoterm::Fob => "Free on Board",
            Incoterm::Cfr => "Cost and Freight",
            Incoterm::Cif => "Cost, Insurance and Freight",
        }
    }

    /// Whether the rule is for sea and inland waterway transport only (FAS, FOB, CFR, CIF).
    pub fn is_sea_only(self) -> bool {
        matches!(
            self,
            Incoterm::Fas | Incoterm::Fob | Incoterm::Cfr | Incoterm::Cif
        )
    }

    fn lookup(s: &str) -> Option<Incoterm> {
        Incoterm::ALL.into_iter().find(|t| t.code() == s)
    }
}

impl FromStr for Incoterm {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(t) = Incoterm::lookup(s) {
            return Ok(t);
        }
        let retired = |code, replacement, year| IdError::RetiredIncoterm {
            code,
            replacement,
            year,
        };
        match s.to_ascii_uppercase().as_str() {
            "DAT" => return Err(retired("DAT", "DPU", 2020)),
            "DAF" => return Err(retired("DAF", "DAP", 2010)),
            "DES" => return Err(retired("DES", "DAP", 2010)),
            "DDU" => return Err(retired("DDU", "DAP", 2010)),
            _ => {}
        }
        if let Some(e) = case_hint("Incoterm", s, |u| Incoterm::lookup(u).is_some()) {
            return Err(e);
        }
        Err(IdError::UnknownIncoterm(clip(s)))
    }
}

impl fmt::Display for Incoterm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------

/// A unit of measure or package type from UN/CEFACT Recommendation 20
/// (package codes are the Rec 21 codes with an `X` prefix, as in Rec 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitCode {
    /// KGM, kilogram.
    Kgm,
    /// GRM, gram.
    Grm,
    /// TNE, tonne (metric ton).
    Tne,
    /// LTR, litre.
    Ltr,
    /// MLT, millilitre.
    Mlt,
    /// MTQ, cubic metre.
    Mtq,
    /// MTR, metre.
    Mtr,
    /// MTK, square metre.
    Mtk,
    /// EA, each.
    Ea,
    /// H87, piece.
    H87,
    /// XBG, bag.
    Xbg,
    /// XBX, box.
    Xbx,
    /// XPX, pallet.
    Xpx,
}

impl UnitCode {
    /// All supported codes.
    pub const ALL: [UnitCode; 13] = [
        UnitCode::Kgm,
        UnitCode::Grm,
        UnitCode::Tne,
        UnitCode::Ltr,
        UnitCode::Mlt,
        UnitCode::Mtq,
        UnitCode::Mtr,
        UnitCode::Mtk,
        UnitCode::Ea,
        UnitCode::H87,
        UnitCode::Xbg,
        UnitCode::Xbx,
        UnitCode::Xpx,
    ];

    /// The code, e.g. `"KGM"`.
    pub fn code(self) -> &'static str {
        match self {
            UnitCode::Kgm => "KGM",
            UnitCode::Grm => "GRM",
            UnitCode::Tne => "TNE",
            UnitCode::Ltr => "LTR",
            UnitCode::Mlt => "MLT",
            UnitCode::Mtq => "MTQ",
            UnitCode::Mtr => "MTR",
            UnitCode::Mtk => "MTK",
            UnitCode::Ea => "EA",
            UnitCode::H87 => "H87",
            UnitCode::Xbg => "XBG",
            UnitCode::Xbx => "XBX",
            UnitCode::Xpx => "XPX",
        }
    }

    /// The unit's English name, e.g. `"kilogram"`.
    pub fn name(self) -> &'static str {
        match self {
            UnitCode::Kgm => "kilogram",
            UnitCode::Grm => "gram",
            UnitCode::Tne => "tonne",
            UnitCode::Ltr => "litre",
            UnitCode::Mlt => "millilitre",
            UnitCode::Mtq => "cubic metre",
            UnitCode::Mtr => "metre",
            UnitCode::Mtk => "square metre",
            UnitCode::Ea => "each",
            UnitCode::H87 => "piece",
            UnitCode::Xbg => "bag",
            UnitCode::Xbx => "box",
            UnitCode::Xpx => "pallet",
        }
    }

    fn lookup(s: &str) -> Option<UnitCode> {
        UnitCode::ALL.into_iter().find(|u| u.code() == s)
    }
}

impl FromStr for UnitCode {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(u) = UnitCode::lookup(s) {
            return Ok(u);
        }
        if let Some(e) = case_hint("unit code", s, |u| UnitCode::lookup(u).is_some()) {
            return Err(e);
        }
        Err(IdError::UnknownUnit(clip(s)))
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------

/// A Harmonized System commodity code: 6 to 10 digits. Parses dotted forms
/// (`0901.21`, `8471.30.01.00`); displays the digits only (`090121`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsCode(String);

impl HsCode {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 2-digit chapter (`09`).
    pub fn chapter(&self) -> &str {
        self.0.get(..2).unwrap_or_default()
    }

    /// The 4-digit heading (`0901`).
    pub fn heading(&self) -> &str {
        self.0.get(..4).unwrap_or_default()
    }

    /// The 6-digit subheading (`090121`), the internationally harmonised part.
    pub fn subheading(&self) -> &str {
        self.0.get(..6).unwrap_or_default()
    }
}

impl FromStr for HsCode {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let fail = |reason| IdError::HsCode {
            input: clip(s),
            reason,
        };
        if !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(fail("only digits and dots are allowed"));
        }
        if s.split('.').any(str::is_empty) {
            return Err(fail(
                "dots may only separate groups of digits, as in 0901.21",
            ));
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if !(6..=10).contains(&digits.len()) {
            return Err(fail("an HS code has 6 to 10 digits"));
        }
        Ok(HsCode(digits))
    }
}

impl fmt::Display for HsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------

/// A payment's Unique End-to-end Transaction Reference (SWIFT gpi): a
/// version 4 UUID. Parses any form the `uuid` crate reads (hyphenated,
/// simple, braced, `urn:uuid:`, any case); displays lower-case hyphenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uetr(uuid::Uuid);

impl Uetr {
    /// Wraps `uuid` if it is a version 4, RFC 4122 variant UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Result<Self, IdError> {
        let version = uuid.get_version_num();
        let detail = if version != 4 {
            format!("version {version}")
        } else if uuid.get_variant() != uuid::Variant::RFC4122 {
            "version 4 bits, but not the RFC 4122 variant".to_owned()
        } else {
            return Ok(Uetr(uuid));
        };
        Err(IdError::UetrNotV4 {
            input: uuid.to_string(),
            detail,
        })
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl TryFrom<uuid::Uuid> for Uetr {
    type Error = IdError;

    fn try_from(uuid: uuid::Uuid) -> Result<Self, IdError> {
        Uetr::from_uuid(uuid)
    }
}

impl FromStr for Uetr {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let uuid = uuid::Uuid::try_parse(s).map_err(|e| IdError::UetrSyntax {
            input: clip(s),
            reason: e.to_string(),
        })?;
        Uetr::from_uuid(uuid)
    }
}

impl fmt::Display for Uetr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

// ---------------------------------------------------------------------------

/// Parses a non-negative decimal with at most `scale` fraction digits into
/// an integer count of 10^-scale units. Accepts `600`, `12.5`, `0.125`,
/// `007`; rejects signs, exponents, `.5`, `5.`, separators and overflow.
fn parse_fixed(kind: &'static str, s: &str, scale: u32, max: u128) -> Result<u128, IdError> {
    let fail = |reason: String| IdError::Decimal {
        kind,
        input: clip(s),
        reason,
    };
    let syntax = || {
        fail(format!(
            "write digits with an optional `.` and at most {scale} fraction digits, like 12.5"
        ))
    };
    if s.is_empty() {
        return Err(fail("it is empty".into()));
    }
    if s.starts_with('-') {
        return Err(fail("negative values are not allowed".into()));
    }
    if s.starts_with('+') {
        return Err(fail("write the number without a sign".into()));
    }
    if s.contains(['e', 'E']) {
        return Err(fail(
            "exponent notation is not accepted; write the digits out".into(),
        ));
    }
    let (int, frac) = match s.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (s, ""),
    };
    if int.is_empty() {
        return Err(fail(
            "write a digit before the decimal point, like 0.5".into(),
        ));
    }
    if s.ends_with('.') {
        return Err(fail(
            "write a digit after the decimal point, like 5.0".into(),
        ));
    }
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) {
        return Err(syntax());
    }
    if frac.len() > scale as usize {
        return Err(fail(format!(
            "it has {} fraction digits; at most {scale} are allowed",
            frac.len()
        )));
    }
    let too_large = || {
        fail(format!(
            "it is too large; the maximum is {}",
            Fixed(max, scale)
        ))
    };
    let padded = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale as usize);
    int.bytes()
        .chain(padded)
        .try_fold(0u128, |acc, b| {
            acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })
        .filter(|&v| v <= max)
        .ok_or_else(too_large)
}

/// Displays `.0` × 10^-`.1` without trailing fraction zeros.
#[derive(Clone, Copy)]
struct Fixed(u128, u32);

/// Room for the text of any `Fixed`: 39 digits of a `u128`, a point,
/// and a leading zero.
const FIXED_TEXT: usize = 48;

impl Fixed {
    /// The text, written right to left into `buf`. Quantities are written
    /// on every encode of an entry, so this takes no formatting machinery
    /// and no 128-bit division where the value fits 64 bits (a quantity
    /// always does).
    fn text(self, buf: &mut [u8; FIXED_TEXT]) -> Result<&str, fmt::Error> {
        let Fixed(value, scale) = self;
        let mut at = buf.len();
        let mut put = |digit: u8| -> Result<(), fmt::Error> {
            at = at.checked_sub(1).ok_or(fmt::Error)?;
            *buf.get_mut(at).ok_or(fmt::Error)? = digit;
            Ok(())
        };
        match u64::try_from(value) {
            Ok(small) => write_fixed(small, scale, &mut put)?,
            Err(_) => write_fixed(value, scale, &mut put)?,
        }
        std::str::from_utf8(buf.get(at..).ok_or(fmt::Error)?).map_err(|_| fmt::Error)
    }
}

/// Writes `value` × 10^-`scale` right to left through `put`: the fraction
/// without its trailing zeros (and without a point when nothing is left
/// of it), then the integer part.
fn write_fixed<N>(
    mut value: N,
    scale: u32,
    put: &mut impl FnMut(u8) -> Result<(), fmt::Error>,
) -> Result<(), fmt::Error>
where
    N: Copy
        + PartialEq
        + From<u8>
        + std::ops::Div<Output = N>
        + std::ops::Rem<Output = N>
        + TryInto<u8>,
{
    let (zero, ten) = (N::from(0), N::from(10));
    let digit = |v: N| -> Result<u8, fmt::Error> {
        let d: u8 = (v % ten).try_into().map_err(|_| fmt::Error)?;
        Ok(b'0' + d)
    };
    let mut fraction = false;
    for _ in 0..scale {
        let d = digit(value)?;
        value = value / ten;
        if fraction || d != b'0' {
            fraction = true;
            put(d)?;
        }
    }
    if fraction {
        put(b'.')?;
    }
    loop {
        put(digit(value)?)?;
        value = value / ten;
        if value == zero {
            return Ok(());
        }
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; FIXED_TEXT];
        f.write_str(self.text(&mut buf)?)
    }
}

/// A non-negative quantity exact to 0.001, stored as thousandths.
/// Parses `600`, `12.5`, `0.125`; displays without trailing zeros (`12.5`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Decimal3(u64);

impl Decimal3 {
    /// Zero.
    pub const ZERO: Decimal3 = Decimal3(0);
    /// The largest value, 18446744073709551.615.
    pub const MAX: Decimal3 = Decimal3(u64::MAX);

    /// The value `milli` / 1000.
    pub const fn from_milli(milli: u64) -> Self {
        Decimal3(milli)
    }

    /// The value in thousandths.
    pub const fn milli(self) -> u64 {
        self.0
    }

    /// Whether the value is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Decimal3)
    }

    /// `self - other`, or `None` if the result would be negative.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Decimal3)
    }
}

impl FromStr for Decimal3 {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let v = parse_fixed("quantity", s, 3, u128::from(u64::MAX))?;
        u64::try_from(v)
            .map(Decimal3)
            .map_err(|_| IdError::Decimal {
                kind: "quantity",
                input: clip(s),
                reason: "it is too large".into(),
            })
    }
}

impl fmt::Display for Decimal3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Fixed(u128::from(self.0), 3).fmt(f)
    }
}

/// A positive exchange rate exact to 10^-9, stored as nano-units.
/// Parses like [`Decimal3`] with up to 9 fraction digits; zero is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FxRate(u128);

impl FxRate {
    /// The rate 1.
    pub const ONE: FxRate = FxRate(1_000_000_000);

    /// The rate `nano` / 10^9; `None` for zero.
    pub const fn from_nano(nano: u128) -> Option<Self> {
        if nano == 0 {
            None
        } else {
            Some(FxRate(nano))
        }
    }

    /// The rate in 10^-9 units.
    pub const fn nano(self) -> u128 {
        self.0
    }
}

impl FromStr for FxRate {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        const KIND: &str = "FX rate";
        let v = parse_fixed(KIND, s, 9, u128::MAX)?;
        FxRate::from_nano(v).ok_or_else(|| IdError::Decimal {
            kind: KIND,
            input: clip(s),
            reason: "an exchange rate must be greater than zero".into(),
        })
    }
}

impl fmt::Display for FxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Fixed(self.0, 9).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err_text<T: FromStr<Err = IdError> + fmt::Debug>(s: &str) -> String {
        s.parse::<T>().unwrap_err().to_string()
    }

    #[test]
    fn currencies() {
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(eur.code(), "EUR");
        assert_eq!(eur.to_string(), "EUR");
        assert_eq!(eur.exponent(), 2);
        assert_eq!("JPY".parse::<Currency>().unwrap().exponent(), 0);
        assert_eq!("BHD".parse::<Currency>().unwrap().exponent(), 3);
        assert_eq!("XAU".parse::<Currency>().unwrap().exponent(), 0);
        assert_eq!(eur.iso(), iso_currency::Currency::EUR);
        assert_eq!(
            err_text::<Currency>("XXY"),
            "unknown ISO 4217 currency code `XXY`"
        );
        assert_eq!(
            err_text::<Currency>("eur"),
            "currency code `eur` must be written in upper case: `EUR`"
        );
        assert!(err_text::<Currency>("xxy").contains("unknown"));
        assert!("EURO".parse::<Currency>().is_err());
        assert!("".parse::<Currency>().is_err());
        let usd: Currency = "USD".parse().unwrap();
        assert!(eur < usd);
        assert!(Currency::from(iso_currency::Currency::AED) < eur);
    }

    #[test]
    fn countries() {
        assert_eq!(Country::all().count(), 249);
        assert!(COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        for c in Country::all() {
            assert_eq!(c.as_str().parse::<Country>().unwrap(), c);
        }
        assert_eq!("DE".parse::<Country>().unwrap().as_str(), "DE");
        assert_eq!(
            err_text::<Country>("QQ"),
            "`QQ` is not an ISO 3166-1 alpha-2 country code"
        );
        assert!(err_text::<Country>("de").contains("upper case: `DE`"));
        for bad in ["XK", "EU", "UK", "D", "DEU", "", "ÄÖ"] {
            assert!(bad.parse::<Country>().is_err(), "{bad}");
        }
    }

    #[test]
    fn incoterms() {
        for t in Incoterm::ALL {
            assert_eq!(t.code().parse::<Incoterm>().unwrap(), t);
            assert!(!t.description().is_empty());
        }
        assert_eq!(Incoterm::Fob.description(), "Free on Board");
        assert!(Incoterm::Cif.is_sea_only());
        assert!(!Incoterm::Fca.is_sea_only());
        assert_eq!(
            err_text::<Incoterm>("DAT"),
            "DAT was replaced by DPU in Incoterms 2020; use DPU"
        );
        assert!(err_text::<Incoterm>("DDU").contains("replaced by DAP in Incoterms 2010"));
        assert!(err_text::<Incoterm>("fob").contains("upper case: `FOB`"));
        assert!(err_text::<Incoterm>("XYZ").contains("expected one of EXW"));
    }

    #[test]
    fn units() {
        for u in UnitCode::ALL {
            assert_eq!(u.code().parse::<UnitCode>().unwrap(), u);
        }
        assert_eq!(UnitCode::Kgm.name(), "kilogram");
        assert_eq!("XPX".parse::<UnitCode>().unwrap().name(), "pallet");
        assert!(err_text::<UnitCode>("kgm").contains("upper case: `KGM`"));
        assert!(err_text::<UnitCode>("KG").contains("unsupported unit code `KG`"));
    }

    #[test]
    fn hs_codes() {
        for (input, want) in [
            ("0901.21", "090121"),
            ("090121", "090121"),
            ("8471.30.01.00", "8471300100"),
            ("8471.30.0100", "8471300100"),
            ("0901.21.00", "09012100"),
        ] {
            let hs: HsCode = input.parse().unwrap();
            assert_eq!(hs.to_string(), want, "{input}");
        }
        let hs: HsCode = "0901.21".parse().unwrap();
        assert_eq!(
            (hs.chapter(), hs.heading(), hs.subheading()),
            ("09", "0901", "090121")
        );
        for bad in [
            "0901",
            "0901.2",
            ".090121",
            "090121.",
            "0901..21",
            "0901 21",
            "09012100001",
            "",
        ] {
            assert!(bad.parse::<HsCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn uetrs() {
        let u: Uetr = "EB6305C9-1F7F-49DE-AED0-16487C27B42D".parse().unwrap();
        assert_eq!(u.to_string(), "eb6305c9-1f7f-49de-aed0-16487c27b42d");
        assert_eq!(
            "eb6305c91f7f49deaed016487c27b42d".parse::<Uetr>().unwrap(),
            u
        );
        assert!(err_text::<Uetr>("c232ab00-9414-11ec-b3c8-9f6bdeced846").contains("version 1"));
        assert!(err_text::<Uetr>("eb6305c9-1f7f-49de-ced0-16487c27b42d").contains("RFC 4122"));
        assert!(err_text::<Uetr>("not-a-uuid").contains("not a UUID"));
        assert!(Uetr::from_uuid(uuid::Uuid::nil()).is_err());
        assert_eq!(Uetr::try_from(*u.as_uuid()).unwrap(), u);
    }

    #[test]
    fn decimals() {
        for (input, milli, canonical) in [
            ("600", 600_000, "600"),
            ("12.5", 12_500, "12.5"),
            ("12.500", 12_500, "12.5"),
            ("0.125", 125, "0.125"),
            ("0", 0, "0"),
            ("007.010", 7_010, "7.01"),
            ("0.050", 50, "0.05"),
            ("3.001", 3_001, "3.001"),
            ("0.1", 100, "0.1"),
            ("18446744073709551.615", u64::MAX, "18446744073709551.615"),
        ] {
            let d: Decimal3 = input.parse().unwrap();
            assert_eq!(d.milli(), milli, "{input}");
            assert_eq!(d.to_string(), canonical, "{input}");
        }
        for (bad, needle) in [
            ("-1", "negative"),
            ("1.2345", "4 fraction digits"),
            ("18446744073709551.616", "too large"),
            ("99999999999999999999999999999999999999999", "too large"),
            ("", "empty"),
            ("1e3", "exponent"),
            ("1E3", "exponent"),
            (".5", "before the decimal point"),
            ("5.", "after the decimal point"),
            ("+5", "sign"),
            ("1,5", "optional `.`"),
            ("1.2.3", "optional `.`"),
            (" 1", "optional `.`"),
            ("NaN", "optional `.`"),
        ] {
            let msg = err_text::<Decimal3>(bad);
            assert!(msg.contains(needle), "{bad}: {msg}");
        }
        assert_eq!(Decimal3::from_milli(1500).to_string(), "1.5");
        assert_eq!(
            Decimal3::from_milli(1).checked_sub(Decimal3::from_milli(2)),
            None
        );
    }

    #[test]
    fn fx_rates() {
        let r: FxRate = "1.0850".parse().unwrap();
        assert_eq!(r.nano(), 1_085_000_000);
        assert_eq!(r.to_string(), "1.085");
        assert_eq!("0.000000001".parse::<FxRate>().unwrap().nano(), 1);
        assert_eq!("1".parse::<FxRate>().unwrap(), FxRate::ONE);
        assert!(err_text::<FxRate>("0").contains("greater than zero"));
        assert!(err_text::<FxRate>("0.000").contains("greater than zero"));
        assert!(err_text::<FxRate>("0.0000000001").contains("10 fraction digits"));
        assert!(err_text::<FxRate>("-1.2").contains("negative"));
        let max = FxRate::from_nano(u128::MAX).unwrap();
        assert_eq!(max.to_string().parse::<FxRate>().unwrap(), max);
        assert!(
            err_text::<FxRate>("340282366920938463463374607431.768211456").contains("too large")
        );
        assert_eq!(FxRate::from_nano(0), None);
    }

    #[test]
    fn fixed_codes_encode_as_their_display_text() {
        fn same<T: serde::Serialize + fmt::Display>(x: T) {
            let text = x.to_string();
            assert_eq!(
                crate::codec::encode(&x),
                crate::codec::encode(text.as_str()),
                "{text}"
            );
        }
        for c in ["EUR", "JPY", "BHD", "XAU"] {
            same(c.parse::<Currency>().unwrap());
        }
        Country::all().for_each(same);
        same(Incoterm::Fob);
        same(Incoterm::Dap);
        same(UnitCode::Kgm);
        same(UnitCode::Grm);
    }

    #[test]
    fn serde_json_uses_canonical_strings() {
        let eur: Currency = "EUR".parse().unwrap();
        assert_eq!(serde_json::to_string(&eur).unwrap(), r#""EUR""#);
        assert_eq!(serde_json::from_str::<Currency>(r#""EUR""#).unwrap(), eur);
        assert!(serde_json::from_str::<Currency>(r#""eur""#).is_err());
        assert_eq!(serde_json::to_string(&Incoterm::Fob).unwrap(), r#""FOB""#);
        assert_eq!(
            serde_json::from_str::<HsCode>(r#""0901.21""#)
                .unwrap()
                .to_string(),
            "090121"
        );
        let q: Decimal3 = serde_json::from_str(r#""12.50""#).unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), r#""12.5""#);
        assert!(
            serde_json::from_str::<Decimal3>("12.5").is_err(),
            "numbers are not accepted"
        );
        let all = (
            "DE".parse::<Country>().unwrap(),
            UnitCode::Kgm,
            "eb6305c9-1f7f-49de-aed0-16487c27b42d"
                .parse::<Uetr>()
                .unwrap(),
            "1.085".parse::<FxRate>().unwrap(),
        );
        let json = serde_json::to_string(&all).unwrap();
        assert_eq!(
            json,
            r#"["DE","KGM","eb6305c9-1f7f-49de-aed0-16487c27b42d","1.085"]"#
        );
        assert_eq!(
            serde_json::from_str::<(Country, UnitCode, Uetr, FxRate)>(&json).unwrap(),
            all
        );
    }

    proptest! {
        #[test]
        fn decimal3_display_parse_identity(m in any::<u64>()) {
            let d = Decimal3::from_milli(m);
            prop_assert_eq!(d.to_string().parse::<Decimal3>().unwrap(), d);
        }

        #[test]
        fn fx_rate_display_parse_identity(n in 1..=u128::MAX) {
            let r = FxRate::from_nano(n).unwrap();
            prop_assert_eq!(r.to_string().parse::<FxRate>().unwrap(), r);
        }

        #[test]
        fn fixed_text_is_the_plain_arithmetic(
            value in prop_oneof![
                any::<u128>(),
                any::<u64>().prop_map(u128::from),
                (0u128..1_000_000_000_000),
                (0u32..39).prop_map(|e| 10u128.pow(e)),
            ],
            scale in 0u32..=12,
        ) {
            // The oracle: integer and fraction by 128-bit division, the
            // fraction's trailing zeros trimmed from its text.
            let unit = 10u128.pow(scale);
            let (int, frac) = (value / unit, value % unit);
            let width = scale as usize;
            let frac = format!("{frac:0width$}");
            let frac = frac.trim_end_matches('0');
            let expected = if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            };
            prop_assert_eq!(Fixed(value, scale).to_string(), expected);
        }

        #[test]
        fn uetr_display_parse_identity(bytes in any::<[u8; 16]>()) {
            let u = Uetr::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid()).unwrap();
            prop_assert_eq!(u.to_string().parse::<Uetr>().unwrap(), u);
        }

        #[test]
        fn codes_parse_only_canonical(s in "[A-Z]{2,3}") {
            if let Ok(c) = s.parse::<Currency>() { prop_assert_eq!(c.to_string(), s.clone()); }
            if let Ok(c) = s.parse::<Country>() { prop_assert_eq!(c.to_string(), s.clone()); }
            if let Ok(t) = s.parse::<Incoterm>() { prop_assert_eq!(t.to_string(), s.clone()); }
            if let Ok(u) = s.parse::<UnitCode>() { prop_assert_eq!(u.to_string(), s); }
        }

        #[test]
        fn hs_code_display_parse_identity(s in "[0-9]{6,10}") {
            let hs: HsCode = s.parse().unwrap();
            prop_assert_eq!(hs.to_string().parse::<HsCode>().unwrap(), hs);
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = s.parse::<Currency>();
            let _ = s.parse::<Country>();
            let _ = s.parse::<Incoterm>();
            let _ = s.parse::<UnitCode>();
            let _ = s.parse::<HsCode>();
            let _ = s.parse::<Uetr>();
            let _ = s.parse::<Decimal3>();
            let _ = s.parse::<FxRate>();
        }

        #[test]
        fn decimal_like_never_panics(s in "[-+0-9.eE]{0,45}") {
            if let Ok(d) = s.parse::<Decimal3>() {
                prop_assert_eq!(d.to_string().parse::<Decimal3>().unwrap(), d);
            }
            if let Ok(r) = s.parse::<FxRate>() {
                prop_assert_eq!(r.to_string().parse::<FxRate>().unwrap(), r);
            }
        }
    }
}
