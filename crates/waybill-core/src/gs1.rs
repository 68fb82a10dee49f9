//! GS1 identification keys (GTIN, SSCC, GLN, company prefix) and the lot and
//! shipment identifiers built on them.
//!
//! Every type parses leniently (several input forms) and displays one
//! canonical string, which is also its serde form in every format.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::text::{code_serde, string_serde};
use crate::IdError;

string_serde!(Gtin, CompanyPrefix, Sscc, Gln);
// Held as their canonical text: serialized as it stands.
code_serde!(LotId => as_str, ShipmentId => as_str);

/// Host used by [`LotId::digital_link`] and [`ShipmentId::digital_link`].
pub const DIGITAL_LINK_HOST: &str = "https://id.gs1.org";

/// Maximum length of an AI 10 (lot) or AI 21 (serial) value.
pub const MAX_AI_VALUE_LEN: usize = 20;

/// Maximum length of a free (non-GS1) id.
pub const MAX_FREE_ID_LEN: usize = 64;

/// The GS1 mod-10 check digit for `body` (all digits of a key except the
/// check digit). `None` if `body` is empty or not all ASCII digits.
pub fn gs1_check_digit(body: &str) -> Option<u8> {
    if body.is_empty() {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum = (sum + weight * u32::from(b - b'0')) % 10;
    }
    u8::try_from((10 - sum) % 10).ok()
}

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

/// Checks that `input` is all digits, has one of `lengths`, and (if
/// `check`) ends in a correct GS1 check digit.
fn check_numeric_key(
    kind: &'static str,
    input: &str,
    lengths: &[usize],
    expected: &'static str,
    check: bool,
) -> Result<(), IdError> {
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits {
            kind,
            input: clip(input),
        });
    }
    if !lengths.contains(&input.len()) {
        return Err(IdError::WrongLength {
            kind,
            input: clip(input),
            actual: input.len(),
            expected,
        });
    }
    if check {
        let (body, given) = input.split_at(input.len().saturating_sub(1));
        let expected = gs1_check_digit(body).unwrap_or(0);
        if given.as_bytes() != [b'0' + expected] {
            return Err(IdError::CheckDigit {
                kind,
                input: input.to_owned(),
                expected,
            });
        }
    }
    Ok(())
}

/// Global Trade Item Number, stored as 14 digits (GTIN-14).
///
/// Parses GTIN-8, -12, -13 or -14 (left-padded with zeros) and checks the
/// check digit. Displays the 14 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin([u8; 14]);

impl Gtin {
    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        digits_str(&self.0)
    }

    /// Whether the 13 digits after the indicator digit start with `prefix`.
    pub fn has_company_prefix(&self, prefix: &CompanyPrefix) -> bool {
        prefix.covers(self.company_digits())
    }

    /// The 13 digits after the indicator digit, where a GS1 company
    /// prefix begins.
    pub fn company_digits(&self) -> &str {
        self.as_str().get(1..).unwrap_or_default()
    }

    /// The GTIN-14 `digits`, already checked (length, digits, check digit).
    fn from_checked(digits: &[u8]) -> Option<Gtin> {
        digits.try_into().ok().map(Gtin)
    }
}

/// Digits as text: only ASCII digits are ever stored, so this never
/// falls back to the empty string.
fn digits_str(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).unwrap_or_default()
}

impl FromStr for Gtin {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        check_numeric_key("GTIN", s, &[8, 12, 13, 14], "8, 12, 13 or 14", true)?;
        // Stored as GTIN-14: shorter ones get leading zeros.
        let mut gtin = [b'0'; 14];
        let start = 14usize.saturating_sub(s.len());
        if let Some(tail) = gtin.get_mut(start..) {
            tail.copy_from_slice(s.as_bytes());
        }
        Ok(Gtin(gtin))
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// GS1 Company Prefix: 4 to 12 digits (no check digit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompanyPrefix(String);

impl CompanyPrefix {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a key whose company digits (see [`Gs1Key::company_digits`])
    /// are `digits` lies under this prefix.
    pub fn covers(&self, digits: &str) -> bool {
        digits.starts_with(self.as_str())
    }

    /// Whether this prefix and `other` share keys: they are the same, or
    /// one starts with the other (`7709998` and `77099981`), so a key
    /// under the longer one is under both.
    pub fn overlaps(&self, other: &CompanyPrefix) -> bool {
        self.covers(other.as_str()) || other.covers(self.as_str())
    }
}

impl FromStr for CompanyPrefix {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let lengths = [4, 5, 6, 7, 8, 9, 10, 11, 12];
        check_numeric_key("GS1 company prefix", s, &lengths, "4 to 12", false)?;
        Ok(CompanyPrefix(s.to_owned()))
    }
}

impl fmt::Display for CompanyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serial Shipping Container Code (AI 00): 18 digits with check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sscc([u8; 18]);

impl Sscc {
    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        digits_str(&self.0)
    }

    /// Whether the 17 digits after the extension digit start with `prefix`.
    pub fn has_company_prefix(&self, prefix: &CompanyPrefix) -> bool {
        prefix.covers(self.company_digits())
    }

    /// The 17 digits after the extension digit, where a GS1 company
    /// prefix begins.
    pub fn company_digits(&self) -> &str {
        self.as_str().get(1..).unwrap_or_default()
    }

    /// The 18 `digits`, already checked (length, digits, check digit).
    fn from_checked(digits: &[u8]) -> Option<Sscc> {
        digits.try_into().ok().map(Sscc)
    }
}

impl FromStr for Sscc {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        check_numeric_key("SSCC", s, &[18], "18", true)?;
        Sscc::from_checked(s.as_bytes()).ok_or_else(|| IdError::WrongLength {
            kind: "SSCC",
            input: clip(s),
            actual: s.len(),
            expected: "18",
        })
    }
}

impl fmt::Display for Sscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Global Location Number: 13 digits with check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gln(String);

impl Gln {
    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the GLN starts with `prefix`.
    pub fn has_company_prefix(&self, prefix: &CompanyPrefix) -> bool {
        prefix.covers(self.as_str())
    }
}

/// A GS1 key as the rules judge it: a product (GTIN), a logistic unit
/// (SSCC) or a place (GLN). Each is issued under a GS1 company prefix,
/// which its [`Gs1Key::company_digits`] start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gs1Key {
    /// A trade item.
    Gtin(Gtin),
    /// A logistic unit.
    Sscc(Sscc),
    /// A location.
    Gln(Gln),
}

impl Gs1Key {
    /// The digits a company prefix starts: after a GTIN's indicator digit
    /// or an SSCC's extension digit, a GLN's from its first.
    pub fn company_digits(&self) -> &str {
        match self {
            Gs1Key::Gtin(g) => g.company_digits(),
            Gs1Key::Sscc(s) => s.company_digits(),
            Gs1Key::Gln(g) => g.as_str(),
        }
    }

    /// Whether the key lies under `prefix`.
    pub fn has_company_prefix(&self, prefix: &CompanyPrefix) -> bool {
        prefix.covers(self.company_digits())
    }
}

/// `GTIN 09506000134352`, `SSCC …`, `GLN …`.
impl fmt::Display for Gs1Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gs1Key::Gtin(g) => write!(f, "GTIN {g}"),
            Gs1Key::Sscc(s) => write!(f, "SSCC {s}"),
            Gs1Key::Gln(g) => write!(f, "GLN {g}"),
        }
    }
}

impl FromStr for Gln {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        check_numeric_key("GLN", s, &[13], "13", true)?;
        Ok(Gln(s.to_owned()))
    }
}

impl fmt::Display for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one lot (batch), one serialised item, one logistic unit, or
/// anything else by a free id.
///
/// Canonical form: the GS1 element string `(01){gtin}(10){lot}`,
/// `(01){gtin}(21){serial}`, `(00){sscc}`, or the free id itself. A `(`
/// inside a lot or serial is written `\(` in the element string (the GS1
/// bracketed-syntax escape), so the form is unambiguous.
///
/// Parsing also accepts GS1 Digital Link URIs (`https://any.host/prefix/01/{gtin}/10/{lot}`,
/// `…/21/{serial}`, `…/00/{sscc}`; query and fragment ignored) and the
/// host-less path `01/{gtin}/10/{lot}`. Input that looks like GS1 (starts
/// with `(`, `http:`, `https:`, `urn:`, `00/`, `01/`, `/00/` or `/01/`) is
/// never taken as a free id.
///
/// A lot id holds its canonical form, checked once when it is made
/// ([`LotId::batch`], [`LotId::serial`], [`LotId::free`], from an
/// [`Sscc`], or parsed): encoding, hashing and comparing one cost what a
/// string's do, and ids order as their canonical strings. [`LotId::kind`]
/// takes it apart. The text is shared: a copy of an id (the rules, the
/// mempool and the indexes keep many) counts a reference instead of
/// allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LotId(Arc<str>);

/// What a [`LotId`] identifies, read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LotKind<'a> {
    /// GTIN (AI 01) + batch/lot number (AI 10).
    Batch {
        /// The product.
        gtin: Gtin,
        /// The lot number, unescaped.
        lot: Cow<'a, str>,
    },
    /// GTIN (AI 01) + serial number (AI 21): a single serialised item.
    Serial {
        /// The product.
        gtin: Gtin,
        /// The serial number, unescaped.
        serial: Cow<'a, str>,
    },
    /// SSCC (AI 00): a logistic unit such as a pallet.
    Sscc(Sscc),
    /// Any other id: 1 to 64 printable ASCII characters, no whitespace,
    /// case-sensitive, not starting like a GS1 form.
    Free(&'a str),
}

/// The AI of a lot number in an element string.
const AI_LOT: &str = "(10)";
/// The AI of a serial number.
const AI_SERIAL: &str = "(21)";
/// `(01)` and a GTIN-14: the head of a batch or serial id.
const GTIN_HEAD: usize = 4 + 14;

impl LotId {
    /// A GTIN + lot (AI 10) id; the lot must be 1-20 GS1 CS82 characters.
    pub fn batch(gtin: Gtin, lot: &str) -> Result<Self, IdError> {
        validate_ai_value(LOT, lot)?;
        Ok(LotId(gtin_element_string(gtin, AI_LOT, lot)))
    }

    /// A GTIN + serial (AI 21) id; the serial must be 1-20 GS1 CS82 characters.
    pub fn serial(gtin: Gtin, serial: &str) -> Result<Self, IdError> {
        validate_ai_value(SERIAL, serial)?;
        Ok(LotId(gtin_element_string(gtin, AI_SERIAL, serial)))
    }

    /// A free (non-GS1) id, checked against the free-id rules.
    pub fn free(id: &str) -> Result<Self, IdError> {
        validate_free_id(id)?;
        Ok(LotId(id.into()))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the id identifies. Only canonical forms are ever held, so the
    /// parts are where the form puts them.
    pub fn kind(&self) -> LotKind<'_> {
        let text = self.as_str();
        if let Some(sscc) = sscc_of(text) {
            return LotKind::Sscc(sscc);
        }
        let (Some(gtin), Some(ai), Some(value)) = (
            gtin_of(text),
            text.get(GTIN_HEAD..GTIN_HEAD + 4),
            text.get(GTIN_HEAD + 4..),
        ) else {
            return LotKind::Free(text);
        };
        let value = unescape(value);
        if ai == AI_SERIAL {
            LotKind::Serial {
                gtin,
                serial: value,
            }
        } else {
            LotKind::Batch { gtin, lot: value }
        }
    }

    /// The GTIN of a batch or serial id.
    pub fn gtin(&self) -> Option<Gtin> {
        gtin_of(self.as_str())
    }

    /// The SSCC of a logistic-unit id.
    pub fn sscc(&self) -> Option<Sscc> {
        sscc_of(self.as_str())
    }

    /// The GS1 Digital Link URI on `https://id.gs1.org`, values
    /// percent-encoded; `None` for a free id.
    pub fn digital_link(&self) -> Option<String> {
        match self.kind() {
            LotKind::Batch { gtin, lot } => Some(format!(
                "{DIGITAL_LINK_HOST}/01/{gtin}/10/{}",
                percent_encode(&lot)
            )),
            LotKind::Serial { gtin, serial } => Some(format!(
                "{DIGITAL_LINK_HOST}/01/{gtin}/21/{}",
                percent_encode(&serial)
            )),
            LotKind::Sscc(sscc) => Some(format!("{DIGITAL_LINK_HOST}/00/{sscc}")),
            LotKind::Free(_) => None,
        }
    }
}

/// `(01){gtin}{ai}{value}`, `(` in the value escaped.
fn gtin_element_string(gtin: Gtin, ai: &str, value: &str) -> Arc<str> {
    let mut text = String::with_capacity(GTIN_HEAD + ai.len() + value.len() + 2);
    text.push_str("(01)");
    text.push_str(gtin.as_str());
    text.push_str(ai);
    for (i, part) in value.split('(').enumerate() {
        if i > 0 {
            text.push_str("\\(");
        }
        text.push_str(part);
    }
    text.into()
}

/// The GTIN of a canonical `(01){gtin}…`, without reading its value.
fn gtin_of(text: &str) -> Option<Gtin> {
    text.strip_prefix("(01)")
        .and_then(|rest| rest.get(..14))
        .and_then(|d| Gtin::from_checked(d.as_bytes()))
}

/// `(00){sscc}`.
fn sscc_element_string(sscc: Sscc) -> Arc<str> {
    let mut text = String::with_capacity(4 + 18);
    text.push_str("(00)");
    text.push_str(sscc.as_str());
    text.into()
}

/// The SSCC of a canonical `(00){sscc}`.
fn sscc_of(text: &str) -> Option<Sscc> {
    text.strip_prefix("(00)")
        .and_then(|d| Sscc::from_checked(d.as_bytes()))
}

/// A canonical value with its `\(` escapes undone.
fn unescape(value: &str) -> Cow<'_, str> {
    if value.contains('\\') {
        Cow::Owned(value.replace("\\(", "("))
    } else {
        Cow::Borrowed(value)
    }
}

impl From<Sscc> for LotId {
    fn from(sscc: Sscc) -> Self {
        LotId(sscc_element_string(sscc))
    }
}

impl FromStr for LotId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if shape(s).is_none() {
            validate_free_id(s)?;
            return Ok(LotId(s.into()));
        }
        // Ids read back from entries and stores are in canonical form:
        // checked where they stand, without taking them apart.
        if is_canonical_gtin_form(s) || is_canonical_sscc_form(s) {
            return Ok(LotId(s.into()));
        }
        lot_from_gs1(s)
    }
}

/// A lot id from any GS1 form, taken apart and put together again.
fn lot_from_gs1(s: &str) -> Result<LotId, IdError> {
    match parse_gs1(s)? {
        Key::Sscc(sscc) => Ok(LotId::from(sscc)),
        Key::Batch(gtin, lot) => Ok(LotId(gtin_element_string(gtin, AI_LOT, &lot))),
        Key::Serial(gtin, serial) => Ok(LotId(gtin_element_string(gtin, AI_SERIAL, &serial))),
        Key::GtinOnly(gtin) => Err(IdError::LotOrSerialRequired {
            gtin: gtin.to_string(),
        }),
    }
}

impl fmt::Display for LotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is exactly a canonical `(01){gtin}(10){lot}` or
/// `(01){gtin}(21){serial}`: a GTIN-14 with a good check digit, and a
/// value of 1 to 20 CS82 characters with every `(` escaped.
fn is_canonical_gtin_form(s: &str) -> bool {
    let (Some(head), Some(gtin), Some(ai), Some(value)) = (
        s.get(..4),
        s.get(4..GTIN_HEAD),
        s.get(GTIN_HEAD..GTIN_HEAD + 4),
        s.as_bytes().get(GTIN_HEAD + 4..),
    ) else {
        return false;
    };
    if head != "(01)"
        || (ai != AI_LOT && ai != AI_SERIAL)
        || check_numeric_key("GTIN", gtin, &[14], "14", true).is_err()
    {
        return false;
    }
    let mut chars = 0;
    let mut i = 0;
    while let Some(&c) = value.get(i) {
        match c {
            b'\\' if value.get(i + 1) == Some(&b'(') => i += 2,
            b'\\' | b'(' => return false,
            c if c.is_ascii_alphanumeric() || CS82_SYMBOLS.contains(&c) => i += 1,
            _ => return false,
        }
        chars += 1;
    }
    (1..=MAX_AI_VALUE_LEN).contains(&chars)
}

/// Whether `s` is exactly a canonical `(00){sscc}`.
fn is_canonical_sscc_form(s: &str) -> bool {
    s.strip_prefix("(00)")
        .is_some_and(|d| check_numeric_key("SSCC", d, &[18], "18", true).is_ok())
}

/// Identifies a shipment: an SSCC or a free id.
///
/// Canonical form `(00){sscc}` or the free id. Parses `(00)…`, a Digital
/// Link or path with `/00/{sscc}`, or a free id (same rules as
/// [`LotKind::Free`]). Bare digits are a free id, even 18 with a valid
/// check digit. Held as its canonical form, like [`LotId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShipmentId(Arc<str>);

impl ShipmentId {
    /// A free (non-GS1) id, checked against the free-id rules.
    pub fn free(id: &str) -> Result<Self, IdError> {
        validate_free_id(id)?;
        Ok(ShipmentId(id.into()))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SSCC, if this is one.
    pub fn sscc(&self) -> Option<Sscc> {
        sscc_of(self.as_str())
    }

    /// The GS1 Digital Link URI of an SSCC; `None` for a free id.
    pub fn digital_link(&self) -> Option<String> {
        self.sscc()
            .map(|sscc| format!("{DIGITAL_LINK_HOST}/00/{sscc}"))
    }
}

impl From<Sscc> for ShipmentId {
    fn from(sscc: Sscc) -> Self {
        ShipmentId(sscc_element_string(sscc))
    }
}

impl FromStr for ShipmentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if shape(s).is_none() {
            validate_free_id(s)?;
            return Ok(ShipmentId(s.into()));
        }
        if is_canonical_sscc_form(s) {
            return Ok(ShipmentId(s.into()));
        }
        match parse_gs1(s)? {
            Key::Sscc(sscc) => Ok(ShipmentId::from(sscc)),
            Key::Batch(..) | Key::Serial(..) | Key::GtinOnly(_) => {
                Err(IdError::NotAnSscc { input: clip(s) })
            }
        }
    }
}

impl fmt::Display for ShipmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Parsing internals

const LOT: &str = "lot (AI 10)";
const SERIAL: &str = "serial (AI 21)";

/// GS1 AI encodable character set 82, apart from letters and digits.
const CS82_SYMBOLS: &[u8] = b"!\"%&'()*+,-./:;<=>?_";

fn is_cs82(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii() && CS82_SYMBOLS.contains(&(c as u8)))
}

/// Checks an AI 10 / AI 21 value: 1 to 20 characters of CS82.
fn validate_ai_value(what: &'static str, value: &str) -> Result<(), IdError> {
    let fail = |reason: String| IdError::AiValue {
        what,
        value: clip(value),
        reason,
    };
    if value.is_empty() {
        return Err(fail("it must not be empty".into()));
    }
    if let Some(c) = value.chars().find(|&c| !is_cs82(c)) {
        return Err(fail(format!(
            "character {c:?} is not allowed; GS1 allows A-Z a-z 0-9 and !\"%&'()*+,-./:;<=>?_"
        )));
    }
    if value.len() > MAX_AI_VALUE_LEN {
        return Err(fail(format!(
            "it has {} characters; at most {MAX_AI_VALUE_LEN} are allowed",
            value.len()
        )));
    }
    Ok(())
}

/// Checks the free-id rules (printable ASCII, no whitespace, 1-64 chars,
/// not starting like a GS1 form).
fn validate_free_id(id: &str) -> Result<(), IdError> {
    let fail = |reason: String| IdError::FreeId {
        input: clip(id),
        reason,
    };
    if id.is_empty() {
        return Err(fail("it must not be empty".into()));
    }
    if let Some(c) = id.chars().find(|c| !c.is_ascii_graphic()) {
        let reason = if c.is_whitespace() {
            "it contains whitespace".to_owned()
        } else {
            format!("character {c:?} is not allowed; use printable ASCII only")
        };
        return Err(fail(reason));
    }
    if id.len() > MAX_FREE_ID_LEN {
        return Err(fail(format!(
            "it has {} characters; at most {MAX_FREE_ID_LEN} are allowed",
            id.len()
        )));
    }
    if shape(id).is_some() {
        return Err(fail(
            "it must not start with `(`, `http:`, `https:`, `urn:`, `00/`, `01/`, `/00/` or `/01/`, which mark GS1 forms"
                .into(),
        ));
    }
    Ok(())
}

/// Which GS1 form an input looks like.
#[derive(Clone, Copy)]
enum Shape {
    ElementString,
    Uri,
    Path,
    Urn,
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// `None` means "not GS1-looking", i.e. a free id candidate.
fn shape(s: &str) -> Option<Shape> {
    if s.starts_with('(') {
        Some(Shape::ElementString)
    } else if starts_with_ci(s, "http:") || starts_with_ci(s, "https:") {
        Some(Shape::Uri)
    } else if starts_with_ci(s, "urn:") {
        Some(Shape::Urn)
    } else if ["00/", "01/", "/00/", "/01/"]
        .iter()
        .any(|p| s.starts_with(p))
    {
        Some(Shape::Path)
    } else {
        None
    }
}

/// A GS1 key combination found in the input.
enum Key {
    Sscc(Sscc),
    GtinOnly(Gtin),
    Batch(Gtin, String),
    Serial(Gtin, String),
}

fn malformed(input: &str, reason: impl Into<String>) -> IdError {
    IdError::MalformedGs1 {
        input: clip(input),
        reason: reason.into(),
    }
}

/// Parses a GS1-looking input into its key; call only when `shape` is `Some`.
fn parse_gs1(input: &str) -> Result<Key, IdError> {
    let pairs = match shape(input) {
        Some(Shape::ElementString) => element_string_pairs(input)?,
        Some(Shape::Uri) => uri_pairs(input)?,
        Some(Shape::Path) => path_pairs(input, strip_query(input), true)?,
        Some(Shape::Urn) if starts_with_ci(input, "urn:epc:") => {
            return Err(IdError::EpcUrnUnsupported)
        }
        Some(Shape::Urn) => return Err(IdError::UnsupportedUrn { input: clip(input) }),
        None => return Err(malformed(input, "it is not in a GS1 form")),
    };
    interpret(input, pairs)
}

fn is_ai(s: &str) -> bool {
    (2..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `(AI)value(AI)value…` into pairs; `\(` in a value is a literal `(`.
fn element_string_pairs(input: &str) -> Result<Vec<(String, String)>, IdError> {
    let mut pairs = Vec::new();
    let mut rest = input;
    while let Some(after_open) = rest.strip_prefix('(') {
        let Some((ai, tail)) = after_open.split_once(')') else {
            return Err(malformed(input, "an AI number is missing its closing `)`"));
        };
        if !is_ai(ai) {
            return Err(malformed(
                input,
                format!(
                    "`({})` is not a GS1 AI; an AI is 2 to 4 digits in parentheses, like (01)",
                    clip(ai)
                ),
            ));
        }
        let mut value = String::new();
        let mut next = "";
        let mut chars = tail.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '(')) => value.push('('),
                    _ => {
                        return Err(malformed(
                            input,
                            "`\\` may only escape `(` in a value, written `\\(`",
                        ))
                    }
                },
                '(' => {
                    next = tail.get(i..).unwrap_or_default();
                    break;
                }
                c => value.push(c),
            }
        }
        if value.is_empty() {
            return Err(malformed(input, format!("AI ({ai}) has no value")));
        }
        pairs.push((ai.to_owned(), value));
        rest = next;
    }
    if !rest.is_empty() || pairs.is_empty() {
        return Err(malformed(input, "expected `(` to start an AI"));
    }
    Ok(pairs)
}

/// Cuts off `?query` and `#fragment`.
fn strip_query(s: &str) -> &str {
    s.split(['?', '#']).next().unwrap_or_default()
}

/// Parses `http(s)://host[/prefix]/01/{gtin}/10/{lot}` and friends.
fn uri_pairs(input: &str) -> Result<Vec<(String, String)>, IdError> {
    let after_scheme = ["https://", "http://"].iter().find_map(|scheme| {
        if starts_with_ci(input, scheme) {
            input.get(scheme.len()..)
        } else {
            None
        }
    });
    let Some(after_scheme) = after_scheme else {
        return Err(malformed(
            input,
            "a GS1 Digital Link must start with `https://` or `http://`",
        ));
    };
    let hier = strip_query(after_scheme);
    let (host, path) = match hier.find('/') {
        Some(i) => hier.split_at(i),
        None => (hier, ""),
    };
    if host.is_empty() {
        return Err(malformed(input, "the URI has no host"));
    }
    path_pairs(input, path, false)
}

/// Finds the primary key (`00` or `01`) in a path and returns the
/// percent-decoded `(AI, value)` pairs from there on. `anchored`: the key
/// must be the first segment (no path prefix).
fn path_pairs(input: &str, path: &str, anchored: bool) -> Result<Vec<(String, String)>, IdError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_primary = |s: &str| s == "00" || s == "01";
    let Some(first_key) = segs.iter().position(|s| is_primary(s)) else {
        return Err(malformed(
            input,
            "no GS1 primary key in the path; expected /01/{gtin}/10/{lot}, /01/{gtin}/21/{serial} or /00/{sscc}",
        ));
    };
    if anchored && first_key != 0 {
        return Err(malformed(input, "the path must start with 01/ or 00/"));
    }
    // pairs_from[k]: segs[k..] is `AI/value/AI/value…` (computed right to
    // left so the search below stays linear in the number of segments).
    let mut pairs_from = vec![false; segs.len() + 2];
    if let Some(end) = pairs_from.get_mut(segs.len()) {
        *end = true;
    }
    for k in (0..segs.len()).rev() {
        let ok = segs.get(k).is_some_and(|s| is_ai(s))
            && segs.get(k + 1).is_some()
            && pairs_from.get(k + 2).copied().unwrap_or(false);
        if let Some(slot) = pairs_from.get_mut(k) {
            *slot = ok;
        }
    }
    let well_formed = |k: usize| {
        segs.get(k).is_some_and(|s| is_primary(s)) && pairs_from.get(k).copied().unwrap_or(false)
    };
    let last = if anchored { first_key } else { segs.len() };
    let Some(start) = (first_key..=last).find(|&k| well_formed(k)) else {
        let tail = segs.get(first_key..).unwrap_or_default();
        let reason = if tail.len() % 2 == 1 {
            "after the primary key the path must be AI/value pairs, like /01/{gtin}/10/{lot}; an AI is missing its value, or a value contains an unescaped `/` (write %2F)".to_owned()
        } else {
            let bad = tail
                .chunks(2)
                .filter_map(|c| c.first())
                .find(|ai| !is_ai(ai))
                .copied()
                .unwrap_or_default();
            format!(
                "`{}` is not a GS1 AI; the path must alternate AIs and values, like /01/{{gtin}}/10/{{lot}}",
                clip(bad)
            )
        };
        return Err(malformed(input, reason));
    };
    segs.get(start..)
        .unwrap_or_default()
        .chunks(2)
        .map(|c| match c {
            [ai, value] => Ok((
                (*ai).to_owned(),
                percent_decode(value).map_err(|reason| malformed(input, reason))?,
            )),
            _ => Err(malformed(input, "an AI has no value")),
        })
        .collect()
}

fn hex_val(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn percent_decode(seg: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(seg.len());
    let mut bytes = seg.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex_val);
            let lo = bytes.next().and_then(hex_val);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi * 16 + lo),
                _ => {
                    return Err(format!(
                        "bad percent-escape in `{}`; `%` must be followed by two hex digits",
                        clip(seg)
                    ))
                }
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{}` does not percent-decode to UTF-8", clip(seg)))
}

/// Percent-encodes everything outside RFC 3986 "unreserved".
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Turns `(AI, value)` pairs into a key, rejecting unsupported combinations.
fn interpret(input: &str, pairs: Vec<(String, String)>) -> Result<Key, IdError> {
    let (mut sscc, mut gtin, mut lot, mut serial) = (None, None, None, None);
    for (ai, value) in pairs {
        let slot = match ai.as_str() {
            "00" => &mut sscc,
            "01" => &mut gtin,
            "10" => &mut lot,
            "21" => &mut serial,
            other => {
                return Err(malformed(
                    input,
                    format!(
                        "AI ({other}) is not part of a lot or shipment id; use (01) with (10) or (21), or (00) alone"
                    ),
                ))
            }
        };
        if slot.is_some() {
            return Err(malformed(
                input,
                format!("AI ({ai}) appears more than once"),
            ));
        }
        *slot = Some(value);
    }
    match (sscc, gtin, lot, serial) {
        (Some(sscc), None, None, None) => Ok(Key::Sscc(sscc.parse()?)),
        (Some(_), ..) => Err(malformed(
            input,
            "(00) identifies a logistic unit and cannot be combined with other AIs",
        )),
        (None, Some(gtin), None, None) => Ok(Key::GtinOnly(gtin.parse()?)),
        (None, Some(_), Some(_), Some(_)) => Err(malformed(
            input,
            "both a lot (10) and a serial (21) are given; a lot id carries only one of them",
        )),
        (None, Some(gtin), Some(lot), None) => {
            let gtin = gtin.parse()?;
            validate_ai_value(LOT, &lot)?;
            Ok(Key::Batch(gtin, lot))
        }
        (None, Some(gtin), None, Some(serial)) => {
            let gtin = gtin.parse()?;
            validate_ai_value(SERIAL, &serial)?;
            Ok(Key::Serial(gtin, serial))
        }
        (None, None, ..) => Err(malformed(
            input,
            "a lot (10) or serial (21) needs a GTIN (01) before it",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GTIN: &str = "09506000134352";
    const SSCC: &str = "106141411234567897";

    fn gtin() -> Gtin {
        GTIN.parse().unwrap()
    }

    fn err_text<T: FromStr<Err = IdError> + fmt::Debug>(s: &str) -> String {
        s.parse::<T>().unwrap_err().to_string()
    }

    #[test]
    fn check_digits_of_known_keys() {
        assert_eq!(gs1_check_digit("0950600013435"), Some(2));
        assert_eq!(gs1_check_digit("10614141123456789"), Some(7));
        assert_eq!(gs1_check_digit("400638133393"), Some(1));
        assert_eq!(gs1_check_digit("03600029145"), Some(2));
        assert_eq!(gs1_check_digit("9638507"), Some(4));
        assert_eq!(gs1_check_digit(""), None);
        assert_eq!(gs1_check_digit("12a"), None);
        assert_eq!(gs1_check_digit("٣"), None);
    }

    #[test]
    fn gtin_forms_pad_to_14() {
        assert_eq!(gtin().as_str(), GTIN);
        assert_eq!("9506000134352".parse::<Gtin>().unwrap(), gtin());
        assert_eq!(
            "4006381333931".parse::<Gtin>().unwrap().as_str(),
            "04006381333931"
        );
        assert_eq!(
            "036000291452".parse::<Gtin>().unwrap().as_str(),
            "00036000291452"
        );
        assert_eq!(
            "96385074".parse::<Gtin>().unwrap().as_str(),
            "00000096385074"
        );
    }

    #[test]
    fn gtin_errors() {
        assert_eq!(
            err_text::<Gtin>("09506000134353"),
            "GTIN 09506000134353 has a wrong check digit (expected 2)"
        );
        assert_eq!(
            err_text::<Gtin>("123456789"),
            "GTIN `123456789` has 9 digits; expected 8, 12, 13 or 14"
        );
        assert!(err_text::<Gtin>("0950600013435X").contains("only the digits"));
        assert!("".parse::<Gtin>().is_err());
        assert!(" 9506000134352".parse::<Gtin>().is_err());
    }

    #[test]
    fn company_prefix_matching() {
        let p: CompanyPrefix = "9506000".parse().unwrap();
        assert!(gtin().has_company_prefix(&p));
        let other: CompanyPrefix = "0950600".parse().unwrap();
        assert!(!gtin().has_company_prefix(&other));
        assert!("123".parse::<CompanyPrefix>().is_err());
        assert!("1234567890123".parse::<CompanyPrefix>().is_err());
        assert!("1234".parse::<CompanyPrefix>().is_ok());
        assert!("123456789012".parse::<CompanyPrefix>().is_ok());
    }

    #[test]
    fn company_digits_skip_the_indicator_and_extension_digits() {
        let p: CompanyPrefix = "0614141".parse().unwrap();
        let sscc: Sscc = SSCC.parse().unwrap();
        assert_eq!(sscc.company_digits(), "06141411234567897");
        assert!(sscc.has_company_prefix(&p));
        assert!(!sscc.has_company_prefix(&"1061414".parse().unwrap()));
        let gln: Gln = "9506000134352".parse().unwrap();
        assert!(gln.has_company_prefix(&"9506000".parse().unwrap()));
        assert!(!gln.has_company_prefix(&"5060001".parse().unwrap()));
        assert_eq!(gtin().company_digits(), "9506000134352");
        for (key, digits) in [
            (Gs1Key::Gtin(gtin()), "9506000134352"),
            (Gs1Key::Sscc(sscc), "06141411234567897"),
            (Gs1Key::Gln(gln), "9506000134352"),
        ] {
            assert_eq!(key.company_digits(), digits);
        }
        assert_eq!(Gs1Key::Sscc(sscc).to_string(), format!("SSCC {SSCC}"));
    }

    #[test]
    fn prefixes_overlap_when_one_starts_the_other() {
        let p = |s: &str| s.parse::<CompanyPrefix>().unwrap();
        assert!(p("7709998").overlaps(&p("7709998")));
        assert!(p("7709998").overlaps(&p("77099981")));
        assert!(p("77099981").overlaps(&p("7709998")));
        assert!(!p("7709998").overlaps(&p("7709999")));
        assert!(!p("77099981").overlaps(&p("77099982")));
        // Digits, not numbers: a leading zero makes another prefix.
        assert!(!p("0770999").overlaps(&p("7709998")));
    }

    #[test]
    fn sscc_and_gln() {
        assert_eq!(SSCC.parse::<Sscc>().unwrap().as_str(), SSCC);
        assert_eq!(
            err_text::<Sscc>("106141411234567898"),
            "SSCC 106141411234567898 has a wrong check digit (expected 7)"
        );
        assert!("06141411234567897".parse::<Sscc>().is_err());
        assert_eq!(
            "9506000134352".parse::<Gln>().unwrap().as_str(),
            "9506000134352"
        );
        assert!("9506000134353".parse::<Gln>().is_err());
        assert!("09506000134352".parse::<Gln>().is_err());
    }

    #[test]
    fn every_lot_form_gives_the_same_value() {
        let want = LotId::batch(gtin(), "LOT42").unwrap();
        assert_eq!(
            want.kind(),
            LotKind::Batch {
                gtin: gtin(),
                lot: "LOT42".into()
            }
        );
        for form in [
            "(01)09506000134352(10)LOT42",
            "(10)LOT42(01)09506000134352",
            "(01)9506000134352(10)LOT42",
            "https://id.gs1.org/01/09506000134352/10/LOT42",
            "HTTPS://id.gs1.org/01/09506000134352/10/LOT42",
            "http://example.com/01/09506000134352/10/LOT42",
            "https://example.com/shop/products/01/09506000134352/10/LOT42/",
            "https://example.com/01/09506000134352/10/LOT%34%32?17=250101#x",
            "https://example.com/01/09506000134352/10/LOT42#frag",
            "01/09506000134352/10/LOT42",
            "/01/09506000134352/10/LOT42",
        ] {
            assert_eq!(form.parse::<LotId>().unwrap(), want, "{form}");
        }
        assert_eq!(want.to_string(), "(01)09506000134352(10)LOT42");
        assert_eq!(
            want.digital_link().unwrap(),
            "https://id.gs1.org/01/09506000134352/10/LOT42"
        );
    }

    #[test]
    fn serial_and_sscc_forms() {
        let serial = LotId::serial(gtin(), "SER1").unwrap();
        for form in [
            "(01)09506000134352(21)SER1",
            "https://id.gs1.org/01/09506000134352/21/SER1",
            "01/09506000134352/21/SER1",
        ] {
            assert_eq!(form.parse::<LotId>().unwrap(), serial, "{form}");
        }
        assert_eq!(serial.to_string(), "(01)09506000134352(21)SER1");

        let unit = LotId::from(SSCC.parse::<Sscc>().unwrap());
        for form in [
            "(00)106141411234567897",
            "https://id.gs1.org/00/106141411234567897",
            "00/106141411234567897",
        ] {
            assert_eq!(form.parse::<LotId>().unwrap(), unit, "{form}");
        }
        assert_eq!(unit.to_string(), "(00)106141411234567897");
        assert_eq!(unit.gtin(), None);
        assert_eq!(unit.sscc(), Some(SSCC.parse().unwrap()));
        assert_eq!(unit.kind(), LotKind::Sscc(SSCC.parse().unwrap()));
        assert_eq!(serial.gtin(), Some(gtin()));
        assert_eq!(serial.sscc(), None);
        assert_eq!(
            serial.kind(),
            LotKind::Serial {
                gtin: gtin(),
                serial: "SER1".into()
            }
        );
    }

    #[test]
    fn lot_values_with_special_characters_round_trip() {
        let lot = LotId::batch(gtin(), "A(1)/B%C?").unwrap();
        assert_eq!(lot.to_string(), "(01)09506000134352(10)A\\(1)/B%C?");
        assert_eq!(lot.to_string().parse::<LotId>().unwrap(), lot);
        let link = lot.digital_link().unwrap();
        assert_eq!(
            link,
            "https://id.gs1.org/01/09506000134352/10/A%281%29%2FB%25C%3F"
        );
        assert_eq!(link.parse::<LotId>().unwrap(), lot);
    }

    #[test]
    fn gs1_looking_input_is_never_free() {
        let cases = [
            (
                "(01)09506000134352",
                "a lot (10) or serial (21) is required",
            ),
            (
                "https://id.gs1.org/01/09506000134352",
                "a lot (10) or serial (21) is required",
            ),
            ("(01)09506000134353(10)X", "wrong check digit (expected 2)"),
            ("(01)09506000134352(10)", "AI (10) has no value"),
            ("(01)09506000134352(17)250101(10)X", "AI (17) is not part"),
            (
                "(01)09506000134352(10)A(21)B",
                "both a lot (10) and a serial",
            ),
            ("(01)09506000134352(10)A(10)B", "appears more than once"),
            ("(01)09506000134352(10)A B", "is not allowed"),
            ("(01)09506000134352(10)ABCDEFGHIJKLMNOPQRSTU", "at most 20"),
            ("(01)09506000134352(10)A\\B", "may only escape"),
            ("(1)09506000134352", "is not a GS1 AI"),
            ("(01", "closing `)`"),
            ("(10)LOT", "needs a GTIN"),
            ("(00)106141411234567897(10)X", "cannot be combined"),
            ("https://", "no host"),
            ("https:///01/09506000134352/10/X", "no host"),
            ("https://example.com/", "no GS1 primary key"),
            (
                "https://example.com/01/09506000134352/10",
                "missing its value",
            ),
            ("https://h/01/09506000134352/10/A/B", "write %2F"),
            (
                "https://example.com/01/09506000134352/10/A%2",
                "percent-escape",
            ),
            ("https://example.com/01/09506000134352/10/%FF", "UTF-8"),
            ("http:/example.com/01/1", "must start with `https://`"),
            (
                "urn:epc:id:sgtin:9506000.013435.1",
                "EPC URNs are not supported",
            ),
            (
                "URN:EPC:id:sscc:0614141.1234567890",
                "EPC URNs are not supported",
            ),
            ("urn:isbn:123", "URNs are not supported"),
            ("01/09506000134352/22/ABC/10/X", "AI (22) is not part"),
            ("01/x", "GTIN `x` must contain only"),
        ];
        for (input, needle) in cases {
            let msg = input.parse::<LotId>().unwrap_err().to_string();
            assert!(msg.contains(needle), "{input}: {msg}");
        }
    }

    #[test]
    fn canonical_shortcut_refuses_near_misses() {
        // An unescaped `(` would start another AI; a key with a wrong
        // check digit is no key. Each goes to the full parser, which refuses.
        for bad in [
            "(01)09506000134352(10)(",
            "(01)00200112302020(10)a",
            "(00)106141411234567898",
        ] {
            assert!(!is_canonical_gtin_form(bad) && !is_canonical_sscc_form(bad));
            assert!(bad.parse::<LotId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn free_ids() {
        for ok in ["LOT-2024-001", "abc", "x/y", "0123456789", "httpbin", "a(b"] {
            assert_eq!(
                ok.parse::<LotId>().unwrap(),
                LotId::free(ok).unwrap(),
                "{ok}"
            );
            assert_eq!(ok.parse::<LotId>().unwrap().kind(), LotKind::Free(ok));
            assert_eq!(ok.parse::<LotId>().unwrap().to_string(), ok);
        }
        assert_ne!("abc".parse::<LotId>().unwrap(), "ABC".parse().unwrap());
        let too_long = "x".repeat(65);
        for bad in ["", "a b", "tab\t", "é", too_long.as_str()] {
            assert!(bad.parse::<LotId>().is_err(), "{bad:?}");
        }
        assert!(LotId::free("(01)x").is_err());
        assert!(LotId::free("01/x").is_err());
        assert!(ShipmentId::free("HTTP://x").is_err());
        assert!(LotId::free(&"x".repeat(64)).is_ok());
        assert!(LotId::batch(gtin(), "").is_err());
        assert!(LotId::serial(gtin(), "has space").is_err());
    }

    #[test]
    fn shipment_ids() {
        let s: ShipmentId = "(00)106141411234567897".parse().unwrap();
        assert_eq!(s, ShipmentId::from(SSCC.parse::<Sscc>().unwrap()));
        assert_eq!(s.sscc(), Some(SSCC.parse().unwrap()));
        assert_eq!(s.to_string(), "(00)106141411234567897");
        assert_eq!(
            "https://example.com/00/106141411234567897?x=1"
                .parse::<ShipmentId>()
                .unwrap(),
            s
        );
        assert_eq!(s.digital_link().unwrap().parse::<ShipmentId>().unwrap(), s);
        assert_eq!(
            SSCC.parse::<ShipmentId>().unwrap(),
            ShipmentId::free(SSCC).unwrap()
        );
        assert!(err_text::<ShipmentId>("(01)09506000134352(10)X").contains("must be an SSCC"));
        assert!(err_text::<ShipmentId>("(00)106141411234567898").contains("check digit"));
    }

    #[test]
    fn serde_json_uses_canonical_strings() {
        let lot: LotId = "https://id.gs1.org/01/09506000134352/10/LOT42"
            .parse()
            .unwrap();
        let json = serde_json::to_string(&lot).unwrap();
        assert_eq!(json, r#""(01)09506000134352(10)LOT42""#);
        assert_eq!(serde_json::from_str::<LotId>(&json).unwrap(), lot);
        assert_eq!(
            serde_json::to_string(&"96385074".parse::<Gtin>().unwrap()).unwrap(),
            r#""00000096385074""#
        );
        let ship = ShipmentId::free("S-1").unwrap();
        let json = serde_json::to_string(&ship).unwrap();
        assert_eq!(serde_json::from_str::<ShipmentId>(&json).unwrap(), ship);
        // Deserialize validates.
        assert!(serde_json::from_str::<Gtin>(r#""09506000134353""#).is_err());
        assert!(serde_json::from_str::<LotId>(r#""(01)09506000134352""#).is_err());
        let prefix: CompanyPrefix = serde_json::from_str(r#""9506000""#).unwrap();
        assert_eq!(serde_json::to_string(&prefix).unwrap(), r#""9506000""#);
        let gln: Gln = serde_json::from_str(r#""9506000134352""#).unwrap();
        assert_eq!(serde_json::to_string(&gln).unwrap(), r#""9506000134352""#);
        let sscc: Sscc = serde_json::from_str(&format!("\"{SSCC}\"")).unwrap();
        assert_eq!(serde_json::to_string(&sscc).unwrap(), format!("\"{SSCC}\""));
    }

    #[test]
    fn huge_inputs_fail_fast_with_short_messages() {
        for s in [
            format!("https://h{}", "/01".repeat(200_000)),
            format!("01{}/x", "/01".repeat(200_000)),
            format!("(01)09506000134352(10){}", "\\(".repeat(200_000)),
            "x".repeat(1_000_000),
        ] {
            let msg = s.parse::<LotId>().unwrap_err().to_string();
            assert!(msg.len() < 400, "{}", msg.len());
        }
    }

    #[test]
    fn deserializes_from_any_string_deserializer() {
        use serde::de::{value::StringDeserializer, Deserialize};
        let de = StringDeserializer::<serde::de::value::Error>::new(
            "01/09506000134352/21/SER1".to_owned(),
        );
        let id = LotId::deserialize(de).unwrap();
        assert_eq!(id.to_string(), "(01)09506000134352(21)SER1");
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, n)
            .prop_map(|ds| ds.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    fn with_check(body: String) -> String {
        let c = gs1_check_digit(&body).unwrap();
        format!("{body}{c}")
    }

    fn arb_gtin() -> impl Strategy<Value = Gtin> {
        digits(13).prop_map(|b| with_check(b).parse().unwrap())
    }

    fn arb_sscc() -> impl Strategy<Value = Sscc> {
        digits(17).prop_map(|b| with_check(b).parse().unwrap())
    }

    fn arb_ai_value() -> impl Strategy<Value = String> {
        "[!\"%&'()*+,\\-./0-9:;<=>?A-Z_a-z]{1,20}"
    }

    fn arb_free() -> impl Strategy<Value = String> {
        "[!-~]{1,64}".prop_filter("GS1-looking", |s| shape(s).is_none())
    }

    fn arb_lot_id() -> impl Strategy<Value = LotId> {
        prop_oneof![
            (arb_gtin(), arb_ai_value()).prop_map(|(gtin, lot)| LotId::batch(gtin, &lot).unwrap()),
            (arb_gtin(), arb_ai_value())
                .prop_map(|(gtin, serial)| LotId::serial(gtin, &serial).unwrap()),
            arb_sscc().prop_map(LotId::from),
            arb_free().prop_map(|id| LotId::free(&id).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn lot_id_display_parse_identity(id in arb_lot_id()) {
            let text = id.to_string();
            prop_assert_eq!(text.parse::<LotId>().unwrap(), id.clone());
            if let Some(link) = id.digital_link() {
                prop_assert_eq!(link.parse::<LotId>().unwrap(), id.clone());
            }
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<LotId>(&json).unwrap(), id);
        }

        #[test]
        fn canonical_forms_are_taken_as_they_stand_only_when_the_full_parser_agrees(
            s in prop_oneof![
                arb_lot_id().prop_map(|id| id.to_string()),
                "\\(01\\)[0-9]{14}\\((10|21)\\)[ -~]{0,24}",
                "\\(01\\)0950600013435[0-9]\\(10\\)[A-Za-z0-9()\\\\]{0,22}",
                "\\(0[01]\\)[0-9]{17,19}",
                "\\(00\\)10614141123456789[0-9]",
            ]
        ) {
            let fast = is_canonical_gtin_form(&s) || is_canonical_sscc_form(&s);
            let full = lot_from_gs1(&s);
            if fast {
                prop_assert_eq!(full.map(|id| id.to_string()), Ok(s.clone()));
            } else {
                // Not canonical: the full parser refuses it or writes it
                // differently.
                prop_assert!(full.is_err() || full.is_ok_and(|id| id.as_str() != s));
            }
        }

        #[test]
        fn canonical_text_of_any_lot_id_takes_the_fast_path(id in arb_lot_id()) {
            let text = id.to_string();
            let gs1 = !matches!(id.kind(), LotKind::Free(_));
            prop_assert_eq!(is_canonical_gtin_form(&text) || is_canonical_sscc_form(&text), gs1);
            prop_assert_eq!(text.parse::<LotId>(), Ok(id.clone()));
            prop_assert_eq!(LotId::from_str(id.as_str()).map(|p| p.kind() == id.kind()), Ok(true));
        }

        #[test]
        fn shipment_id_display_parse_identity(
            id in prop_oneof![
                arb_sscc().prop_map(ShipmentId::from),
                arb_free().prop_map(|id| ShipmentId::free(&id).unwrap()),
            ]
        ) {
            prop_assert_eq!(id.to_string().parse::<ShipmentId>().unwrap(), id);
        }

        #[test]
        fn keys_display_parse_identity(g in arb_gtin(), s in arb_sscc(), body in digits(12)) {
            prop_assert_eq!(g.to_string().parse::<Gtin>().unwrap(), g);
            prop_assert_eq!(s.to_string().parse::<Sscc>().unwrap(), s);
            let gln: Gln = with_check(body).parse().unwrap();
            prop_assert_eq!(gln.to_string().parse::<Gln>().unwrap(), gln);
        }

        #[test]
        fn wrong_check_digit_is_rejected(body in digits(13), delta in 1u8..10) {
            let good = gs1_check_digit(&body).unwrap();
            let bad = format!("{body}{}", (good + delta) % 10);
            prop_assert!(bad.parse::<Gtin>().is_err());
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = s.parse::<LotId>();
            let _ = s.parse::<ShipmentId>();
            let _ = s.parse::<Gtin>();
            let _ = s.parse::<CompanyPrefix>();
            let _ = s.parse::<Gln>();
            let _ = s.parse::<Sscc>();
        }

        #[test]
        fn parse_gs1_looking_never_panics(
            head in prop_oneof![
                Just("("), Just("(01)"), Just("(00)"), Just("https://"), Just("http://h/"),
                Just("01/"), Just("/00/"), Just("urn:"), Just("(01)09506000134352(10)"),
                Just("https://h/01/09506000134352/"),
            ],
            tail in "[ -~é/%()\\\\]{0,40}",
        ) {
            let s = format!("{head}{tail}");
            if let Ok(id) = s.parse::<LotId>() {
                prop_assert_eq!(id.to_string().parse::<LotId>().unwrap(), id);
            }
            let _ = s.parse::<ShipmentId>();
        }
    }
}
