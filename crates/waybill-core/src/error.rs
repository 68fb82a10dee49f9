//! The one error type for parsing and validating identifiers and codes.

/// Why an identifier or code was rejected. Every message names the offending
/// input (shortened if very long) and says what would be accepted instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A numeric GS1 key or HS code contains something other than `0`-`9`.
    #[error("{kind} `{input}` must contain only the digits 0-9")]
    NotDigits { kind: &'static str, input: String },

    /// A numeric key has the wrong number of digits.
    #[error("{kind} `{input}` has {actual} digits; expected {expected}")]
    WrongLength {
        kind: &'static str,
        input: String,
        actual: usize,
        expected: &'static str,
    },

    /// A GS1 key fails the mod-10 check digit.
    #[error("{kind} {input} has a wrong check digit (expected {expected})")]
    CheckDigit {
        kind: &'static str,
        input: String,
        expected: u8,
    },

    /// An AI 10 (lot) or AI 21 (serial) value is invalid.
    #[error("{what} `{value}` is invalid: {reason}")]
    AiValue {
        what: &'static str,
        value: String,
        reason: String,
    },

    /// Input that looks like a GS1 form (element string, Digital Link, path) is malformed.
    #[error("`{input}` is not a valid GS1 identifier: {reason}")]
    MalformedGs1 { input: String, reason: String },

    /// A GS1 form with a GTIN but neither lot (AI 10) nor serial (AI 21).
    #[error(
        "GTIN {gtin} alone identifies a product, not a lot; a lot (10) or serial (21) is required, e.g. (01){gtin}(10)LOT1"
    )]
    LotOrSerialRequired { gtin: String },

    /// A shipment id given in a GS1 form other than an SSCC.
    #[error("`{input}` is not a shipment id: a GS1 shipment id must be an SSCC, written (00)… or …/00/…")]
    NotAnSscc { input: String },

    /// `urn:epc:` input.
    #[error("EPC URNs are not supported yet; use a GS1 Digital Link URI or (01)…(10)… form")]
    EpcUrnUnsupported,

    /// Any other `urn:` input.
    #[error("`{input}`: URNs are not supported; use a GS1 Digital Link URI, the (01)…(10)… form or a free id")]
    UnsupportedUrn { input: String },

    /// A free-form id breaks the free-id rules.
    #[error("invalid free id `{input}`: {reason}")]
    FreeId { input: String, reason: String },

    /// Not an ISO 4217 code.
    #[error("unknown ISO 4217 currency code `{0}`")]
    UnknownCurrency(String),

    /// Not an ISO 3166-1 alpha-2 code.
    #[error("`{0}` is not an ISO 3166-1 alpha-2 country code")]
    UnknownCountry(String),

    /// A code that must be upper case was not; `suggestion` is the upper-case form.
    #[error("{kind} `{input}` must be written in upper case: `{suggestion}`")]
    NotUpperCase {
        kind: &'static str,
        input: String,
        suggestion: String,
    },

    /// A term from an older Incoterms edition that no longer exists.
    #[error("{code} was replaced by {replacement} in Incoterms {year}; use {replacement}")]
    RetiredIncoterm {
        code: &'static str,
        replacement: &'static str,
        year: u16,
    },

    /// Not one of the 11 Incoterms 2020 rules.
    #[error("unknown Incoterm `{0}`; expected one of EXW, FCA, CPT, CIP, DAP, DPU, DDP, FAS, FOB, CFR, CIF")]
    UnknownIncoterm(String),

    /// Not one of the supported UN/CEFACT Rec 20 unit codes.
    #[error("unsupported unit code `{0}`; expected one of KGM, GRM, TNE, LTR, MLT, MTQ, MTR, MTK, EA, H87, XBG, XBX, XPX")]
    UnknownUnit(String),

    /// A malformed HS code.
    #[error("invalid HS code `{input}`: {reason}")]
    HsCode { input: String, reason: &'static str },

    /// Not a UUID at all.
    #[error("invalid UETR `{input}`: not a UUID ({reason}); expected e.g. eb6305c9-1f7f-49de-aed0-16487c27b42d")]
    UetrSyntax { input: String, reason: String },

    /// A UUID that is not a version 4 (random, RFC 4122 variant) UUID.
    #[error("UETR `{input}` is not a random UUID ({detail}); a UETR must be a version 4 UUID")]
    UetrNotV4 { input: String, detail: String },

    /// A malformed or out-of-range decimal number.
    #[error("invalid {kind} `{input}`: {reason}")]
    Decimal {
        kind: &'static str,
        input: String,
        reason: String,
    },
}
