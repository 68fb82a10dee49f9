//! Sealed payment terms: what a payment says about money stays off the
//! ledger, and the ledger keeps one salted commitment per field.
//!
//! A [`SealedPayment`](crate::entry::SealedPayment) names its payer,
//! payee and shipments in the clear, and commits to each term (amount,
//! currency, settlement, exchange rate, Incoterm, method, HS codes, the
//! customs declaration's digest, the invoice number) as
//!
//! ```text
//! SHA-256("waybill/v1/terms\0" || UETR (16 bytes) || field name || 0x00
//!         || salt (32 bytes) || value (UTF-8 text))
//! ```
//!
//! with a fresh 256-bit salt per field, so a guess of a term cannot be
//! checked against the ledger and one term can be shown without the
//! others. The [`Openings`] (values and salts) live with the parties; a
//! party or an auditor checks them with [`Openings::verify`], and erasing
//! them leaves a chain that still verifies. The value texts are plain so
//! that any SHA-256 tool can recompute a commitment: minor units in
//! decimal, ISO codes, the rate as written, a method's name, HS codes
//! comma-separated, a digest in lower-case hex.
//!
//! Everything here is pure: the caller passes the salts in.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codes::{Currency, FxRate, HsCode, Incoterm, Uetr};
use crate::crypto::{Domain, Hash32, PublicKey};
use crate::gs1::ShipmentId;

/// The format name of a terms file.
pub const TERMS_FORMAT: &str = "waybill-payment-terms";
/// Its version.
pub const TERMS_VERSION: u32 = 1;
/// The most characters an invoice number may have.
pub const MAX_INVOICE_CHARS: usize = 64;

/// How a payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A SWIFT credit transfer (the UETR tracks it).
    SwiftTransfer,
    /// A SEPA credit transfer.
    SepaTransfer,
    /// A documentary letter of credit.
    LetterOfCredit,
    /// Documentary collection.
    DocumentaryCollection,
    /// Open account.
    OpenAccount,
    /// Anything else.
    Other,
}

/// A payment's state when recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Instructed, not yet settled.
    Initiated,
    /// Settled with the payee.
    Settled,
}

/// What the payee received when it differs from what was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settlement {
    /// Amount in the settlement currency's minor units.
    pub amount_minor: u64,
    /// Settlement currency.
    pub currency: Currency,
    /// Units of settlement currency per unit of payment currency.
    pub fx_rate: FxRate,
}

/// A cross-border payment whose terms are sealed: the parties and the
/// shipments in the clear, each term as a salted commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPayment {
    /// The payment's UETR (a UUID v4); must be unused.
    pub payment_id: Uetr,
    /// Who pays: must be the author.
    pub payer: PublicKey,
    /// Who is paid: another active member, who confirms it.
    pub payee: PublicKey,
    /// The shipments paid for; each must exist.
    pub shipments: Vec<ShipmentId>,
    /// Its state, in the payer's word.
    pub status: PaymentStatus,
    /// The committed terms, in [`TermField`] order.
    pub terms: Vec<Sealed>,
}

/// The payee confirms a sealed payment: it received what the
/// commitments say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfirmation {
    /// The payment.
    pub payment_id: Uetr,
    /// [`digest`] of the payment's commitments.
    pub terms: Hash32,
}

/// A payment term that is committed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermField {
    /// The amount in the currency's minor units.
    Amount,
    /// The ISO 4217 currency.
    Currency,
    /// What the payee received, in the settlement currency's minor units.
    SettlementAmount,
    /// The settlement currency.
    SettlementCurrency,
    /// Settlement currency units per payment currency unit.
    FxRate,
    /// The Incoterms 2020 rule of the sale.
    Incoterm,
    /// How it was paid.
    Method,
    /// The goods' HS codes.
    HsCodes,
    /// The customs declaration's (salted) digest.
    CustomsDeclaration,
    /// The invoice number.
    Invoice,
}

impl TermField {
    /// Every field, in the order a sealed payment lists them.
    pub const ALL: [TermField; 10] = [
        TermField::Amount,
        TermField::Currency,
        TermField::SettlementAmount,
        TermField::SettlementCurrency,
        TermField::FxRate,
        TermField::Incoterm,
        TermField::Method,
        TermField::HsCodes,
        TermField::CustomsDeclaration,
        TermField::Invoice,
    ];

    /// The name hashed into the commitment (as serialised).
    pub const fn as_str(self) -> &'static str {
        match self {
            TermField::Amount => "amount",
            TermField::Currency => "currency",
            TermField::SettlementAmount => "settlement_amount",
            TermField::SettlementCurrency => "settlement_currency",
            TermField::FxRate => "fx_rate",
            TermField::Incoterm => "incoterm",
            TermField::Method => "method",
            TermField::HsCodes => "hs_codes",
            TermField::CustomsDeclaration => "customs_declaration",
            TermField::Invoice => "invoice",
        }
    }

    /// Whether every sealed payment commits to it.
    pub const fn required(self) -> bool {
        matches!(
            self,
            TermField::Amount | TermField::Currency | TermField::Incoterm | TermField::Method
        )
    }
}

impl fmt::Display for TermField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One committed term, as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Which term.
    pub field: TermField,
    /// Its commitment.
    pub commitment: Hash32,
}

/// A 256-bit salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Salt(pub Hash32);

/// Why sealed terms or their openings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    /// A required term is not committed (or not opened).
    #[error("the payment terms lack `{0}`")]
    Missing(TermField),
    /// Terms out of order or repeated.
    #[error("the payment terms must list each field once, in order (`{0}` is out of place)")]
    Order(TermField),
    /// Settlement amount, currency and rate go together.
    #[error("a settlement needs its amount, currency and exchange rate together")]
    PartialSettlement,
    /// An opening for a term the payment does not commit to.
    #[error("`{0}` is opened but the payment does not commit to it")]
    NotCommitted(TermField),
    /// An opening that does not match its commitment.
    #[error("the opening of `{0}` does not match its commitment on the ledger")]
    Mismatch(TermField),
    /// A value that is not one of its kind.
    #[error("`{field}` = `{value}` is not valid: {why}")]
    BadValue {
        /// The term.
        field: TermField,
        /// Its value, shortened.
        value: String,
        /// Why.
        why: String,
    },
    /// The openings name another payment.
    #[error("the terms are for payment {found}, not {expected}")]
    OtherPayment {
        /// The payment asked about.
        expected: Uetr,
        /// The one the openings name.
        found: Uetr,
    },
    /// Not a terms file this version reads.
    #[error("not a {TERMS_FORMAT} file of version {TERMS_VERSION} (format `{format}`, version {version})")]
    Format {
        /// Its format.
        format: String,
        /// Its version.
        version: u32,
    },
}

/// The commitment to `value` of `field` of payment `payment_id` under
/// `salt`.
pub fn commit(payment_id: &Uetr, field: TermField, salt: &Salt, value: &str) -> Hash32 {
    let mut h = Sha256::new();
    h.update(Domain::Terms.tag());
    h.update(payment_id.as_uuid().as_bytes());
    h.update(field.as_str().as_bytes());
    h.update([0u8]);
    h.update(salt.0 .0);
    h.update(value.as_bytes());
    Hash32(h.finalize().into())
}

/// Checks a sealed payment's list of commitments: each field at most
/// once and in order, the required ones present, a settlement whole.
pub fn check_sealed(terms: &[Sealed]) -> Result<(), TermsError> {
    for w in terms.windows(2) {
        if w[0].field >= w[1].field {
            return Err(TermsError::Order(w[1].field));
        }
    }
    let has = |f: TermField| terms.iter().any(|s| s.field == f);
    if let Some(f) = TermField::ALL.iter().find(|f| f.required() && !has(**f)) {
        return Err(TermsError::Missing(*f));
    }
    let settlement = [
        TermField::SettlementAmount,
        TermField::SettlementCurrency,
        TermField::FxRate,
    ]
    .map(has);
    if settlement.iter().any(|x| *x) && !settlement.iter().all(|x| *x) {
        return Err(TermsError::PartialSettlement);
    }
    Ok(())
}

/// The digest a payee's confirmation signs: of the payment id and every
/// commitment in order.
pub fn digest(payment_id: &Uetr, terms: &[Sealed]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(Domain::Terms.tag());
    h.update(b"confirm\0");
    h.update(payment_id.as_uuid().as_bytes());
    for s in terms {
        h.update(s.field.as_str().as_bytes());
        h.update([0u8]);
        h.update(s.commitment.0);
    }
    Hash32(h.finalize().into())
}

/// A payment's terms in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Amount in the currency's minor units; more than zero.
    pub amount_minor: u64,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Settlement, when converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Settlement>,
    /// Incoterms 2020 rule of the sale.
    pub incoterm: Incoterm,
    /// How it was paid.
    pub method: PaymentMethod,
    /// HS codes of the goods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hs_codes: Vec<HsCode>,
    /// Salted digest of the customs declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_declaration: Option<Hash32>,
    /// The invoice number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
}

impl Terms {
    /// Each term that is set, as its committed text, in field order.
    pub fn fields(&self) -> Vec<(TermField, String)> {
        let mut out = vec![
            (TermField::Amount, self.amount_minor.to_string()),
            (TermField::Currency, self.currency.to_string()),
        ];
        if let Some(s) = &self.settlement {
            out.push((TermField::SettlementAmount, s.amount_minor.to_string()));
            out.push((TermField::SettlementCurrency, s.currency.to_string()));
            out.push((TermField::FxRate, s.fx_rate.to_string()));
        }
        out.push((TermField::Incoterm, self.incoterm.to_string()));
        out.push((TermField::Method, method_name(self.method).to_owned()));
        if !self.hs_codes.is_empty() {
            let codes: Vec<String> = self.hs_codes.iter().map(|c| c.to_string()).collect();
            out.push((TermField::HsCodes, codes.join(",")));
        }
        if let Some(d) = &self.customs_declaration {
            out.push((TermField::CustomsDeclaration, d.to_hex()));
        }
        if let Some(i) = &self.invoice {
            out.push((TermField::Invoice, i.clone()));
        }
        out
    }

    /// Checks what the terms say on their own: amounts above zero, an
    /// invoice number of printable characters.
    pub fn check(&self) -> Result<(), TermsError> {
        let zero = |field| TermsError::BadValue {
            field,
            value: "0".into(),
            why: "an amount must be more than zero".into(),
        };
        if self.amount_minor == 0 {
            return Err(zero(TermField::Amount));
        }
        if self
            .settlement
            .as_ref()
            .is_some_and(|s| s.amount_minor == 0)
        {
            return Err(zero(TermField::SettlementAmount));
        }
        if let Some(i) = &self.invoice {
            if i.is_empty()
                || i.chars().count() > MAX_INVOICE_CHARS
                || i.chars().any(|c| c.is_control())
            {
                return Err(TermsError::BadValue {
                    field: TermField::Invoice,
                    value: clip(i),
                    why: format!(
                        "an invoice number is 1 to {MAX_INVOICE_CHARS} printable characters"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Reads the terms back from their committed texts.
    pub fn from_fields(fields: &BTreeMap<TermField, String>) -> Result<Terms, TermsError> {
        let get = |f: TermField| fields.get(&f).map(String::as_str);
        let need = |f: TermField| get(f).ok_or(TermsError::Missing(f));
        let bad = |field: TermField, value: &str, why: String| TermsError::BadValue {
            field,
            value: clip(value),
            why,
        };
        let parse_u64 = |f: TermField, v: &str| {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
                return Err(bad(f, v, "minor units in decimal, no leading zero".into()));
            }
            v.parse::<u64>().map_err(|e| bad(f, v, e.to_string()))
        };
        let amount = need(TermField::Amount)?;
        let currency = need(TermField::Currency)?;
        let settlement = match (
            get(TermField::SettlementAmount),
            get(TermField::SettlementCurrency),
            get(TermField::FxRate),
        ) {
            (None, None, None) => None,
            (Some(a), Some(c), Some(r)) => Some(Settlement {
                amount_minor: parse_u64(TermField::SettlementAmount, a)?,
                currency: c.parse().map_err(|e: crate::IdError| {
                    bad(TermField::SettlementCurrency, c, e.to_string())
                })?,
                fx_rate: r
                    .parse::<FxRate>()
                    .map_err(|e| bad(TermField::FxRate, r, e.to_string()))?,
            }),
            _ => return Err(TermsError::PartialSettlement),
        };
        let incoterm = need(TermField::Incoterm)?;
        let method = need(TermField::Method)?;
        let terms = Terms {
            amount_minor: parse_u64(TermField::Amount, amount)?,
            currency: currency
                .parse()
                .map_err(|e: crate::IdError| bad(TermField::Currency, currency, e.to_string()))?,
            settlement,
            incoterm: incoterm
                .parse()
                .map_err(|e: crate::IdError| bad(TermField::Incoterm, incoterm, e.to_string()))?,
            method: method_from_name(method)
                .ok_or_else(|| bad(TermField::Method, method, "not a payment method".into()))?,
            hs_codes: match get(TermField::HsCodes) {
                None => Vec::new(),
                Some(v) => v
                    .split(',')
                    .map(|c| {
                        c.parse::<HsCode>()
                            .map_err(|e| bad(TermField::HsCodes, v, e.to_string()))
                    })
                    .collect::<Result<_, _>>()?,
            },
            customs_declaration: match get(TermField::CustomsDeclaration) {
                None => None,
                Some(v) => Some(
                    v.parse::<Hash32>()
                        .map_err(|e| bad(TermField::CustomsDeclaration, v, e.to_string()))?,
                ),
            },
            invoice: get(TermField::Invoice).map(str::to_owned),
        };
        // The texts must be the canonical ones, so that one set of terms
        // has one set of commitments.
        for (f, text) in terms.fields() {
            if get(f) != Some(text.as_str()) {
                let v = get(f).unwrap_or_default();
                return Err(bad(f, v, format!("not in its canonical form `{text}`")));
            }
        }
        terms.check()?;
        Ok(terms)
    }

    /// Seals the terms of payment `payment_id`, one salt from `salt` per
    /// field: the commitments for the ledger and the openings for the
    /// parties.
    pub fn seal(
        &self,
        payment_id: Uetr,
        mut salt: impl FnMut() -> [u8; 32],
    ) -> Result<(Vec<Sealed>, Openings), TermsError> {
        self.check()?;
        let mut sealed = Vec::new();
        let mut fields = Vec::new();
        for (field, value) in self.fields() {
            let salt = Salt(Hash32(salt()));
            sealed.push(Sealed {
                field,
                commitment: commit(&payment_id, field, &salt, &value),
            });
            fields.push(Opening { field, value, salt });
        }
        Ok((
            sealed,
            Openings {
                format: TERMS_FORMAT.into(),
                version: TERMS_VERSION,
                payment_id,
                fields,
            },
        ))
    }
}

/// One term's opening: its committed text and salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// Which term.
    pub field: TermField,
    /// Its text, as committed.
    pub value: String,
    /// Its salt.
    pub salt: Salt,
}

/// The openings of a payment's terms, as the parties keep them (a terms
/// file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Openings {
    /// [`TERMS_FORMAT`].
    pub format: String,
    /// [`TERMS_VERSION`].
    pub version: u32,
    /// The payment.
    pub payment_id: Uetr,
    /// Each term.
    pub fields: Vec<Opening>,
}

impl Openings {
    /// Checks every opening against the payment's commitments, and that
    /// every committed term is opened, then reads the terms.
    pub fn verify(&self, payment_id: &Uetr, sealed: &[Sealed]) -> Result<Terms, TermsError> {
        if self.format != TERMS_FORMAT || self.version != TERMS_VERSION {
            return Err(TermsError::Format {
                format: clip(&self.format),
                version: self.version,
            });
        }
        if &self.payment_id != payment_id {
            return Err(TermsError::OtherPayment {
                expected: *payment_id,
                found: self.payment_id,
            });
        }
        let mut opened = BTreeMap::new();
        for o in &self.fields {
            let s = sealed
                .iter()
                .find(|s| s.field == o.field)
                .ok_or(TermsError::NotCommitted(o.field))?;
            if commit(payment_id, o.field, &o.salt, &o.value) != s.commitment {
                return Err(TermsError::Mismatch(o.field));
            }
            if opened.insert(o.field, o.value.clone()).is_some() {
                return Err(TermsError::Order(o.field));
            }
        }
        if let Some(s) = sealed.iter().find(|s| !opened.contains_key(&s.field)) {
            return Err(TermsError::Missing(s.field));
        }
        Terms::from_fields(&opened)
    }
}

/// The format name of a document salts file.
pub const SALTS_FORMAT: &str = "waybill-document-salts";

/// A document's digest as the ledger keeps it: SHA-256 of the domain tag
/// `waybill/v1/document\0`, a 256-bit salt and the file's bytes, so that
/// a guessable document (a standard form, a certificate anyone can
/// fetch) cannot be recognised on the ledger without its salt.
pub fn document_digest(salt: &Salt, bytes: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(Domain::Document.tag());
    h.update(salt.0 .0);
    h.update(bytes);
    Hash32(h.finalize().into())
}

/// One document's salt, as its author keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentSalt {
    /// The flag it was given with (`--document`, `--certificate`).
    pub flag: String,
    /// The file's name as given.
    pub file: String,
    /// Its label, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The digest on the ledger ([`document_digest`]).
    pub sha256: Hash32,
    /// The salt.
    pub salt: Salt,
}

/// The salts of an entry's documents (a salts file): whoever holds it and
/// a document can show that the document is the one on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentSalts {
    /// [`SALTS_FORMAT`].
    pub format: String,
    /// 1.
    pub version: u32,
    /// Each document.
    pub documents: Vec<DocumentSalt>,
}

/// A method's name, as serialised.
pub fn method_name(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::SwiftTransfer => "swift_transfer",
        PaymentMethod::SepaTransfer => "sepa_transfer",
        PaymentMethod::LetterOfCredit => "letter_of_credit",
        PaymentMethod::DocumentaryCollection => "documentary_collection",
        PaymentMethod::OpenAccount => "open_account",
        PaymentMethod::Other => "other",
    }
}

fn method_from_name(name: &str) -> Option<PaymentMethod> {
    [
        PaymentMethod::SwiftTransfer,
        PaymentMethod::SepaTransfer,
        PaymentMethod::LetterOfCredit,
        PaymentMethod::DocumentaryCollection,
        PaymentMethod::OpenAccount,
        PaymentMethod::Other,
    ]
    .into_iter()
    .find(|m| method_name(*m) == name)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn terms() -> Terms {
        Terms {
            amount_minor: 1_089_000,
            currency: "EUR".parse().unwrap(),
            settlement: Some(Settlement {
                amount_minor: 5_032_000_000,
                currency: "COP".parse().unwrap(),
                fx_rate: "4620.75".parse().unwrap(),
            }),
            incoterm: "FOB".parse().unwrap(),
            method: PaymentMethod::SwiftTransfer,
            hs_codes: vec!["090111".parse().unwrap()],
            customs_declaration: Some(Hash32([9; 32])),
            invoice: Some("INV-2026-0042".into()),
        }
    }

    fn uetr() -> Uetr {
        "eb6305c9-1f7f-49de-aed0-16487c27b42d".parse().unwrap()
    }

    fn sealed() -> (Vec<Sealed>, Openings) {
        let mut n = 0u8;
        terms()
            .seal(uetr(), || {
                n += 1;
                [n; 32]
            })
            .unwrap()
    }

    #[test]
    fn openings_verify_and_read_back() {
        let (s, o) = sealed();
        check_sealed(&s).unwrap();
        assert_eq!(s.len(), 10);
        assert_eq!(o.verify(&uetr(), &s).unwrap(), terms());
        let text = serde_json::to_string(&o).unwrap();
        let back: Openings = serde_json::from_str(&text).unwrap();
        assert_eq!(back.verify(&uetr(), &s).unwrap(), terms());
    }

    #[test]
    fn the_commitment_is_the_documented_hash() {
        // Recomputed by hand from the formula in the module docs.
        let salt = Salt(Hash32([7; 32]));
        let mut bytes = b"waybill/v1/terms\0".to_vec();
        bytes.extend_from_slice(uetr().as_uuid().as_bytes());
        bytes.extend_from_slice(b"amount\0");
        bytes.extend_from_slice(&[7; 32]);
        bytes.extend_from_slice(b"1089000");
        assert_eq!(
            commit(&uetr(), TermField::Amount, &salt, "1089000"),
            Hash32::digest(&bytes)
        );
    }

    #[test]
    fn every_change_to_an_opening_is_caught() {
        let (s, o) = sealed();
        let mut other = o.clone();
        other.fields[0].value = "1089001".into();
        assert_eq!(
            other.verify(&uetr(), &s),
            Err(TermsError::Mismatch(TermField::Amount))
        );
        let mut other = o.clone();
        other.fields[1].salt = Salt(Hash32([0; 32]));
        assert_eq!(
            other.verify(&uetr(), &s),
            Err(TermsError::Mismatch(TermField::Currency))
        );
        let mut other = o.clone();
        other.fields.pop();
        assert_eq!(
            other.verify(&uetr(), &s),
            Err(TermsError::Missing(TermField::Invoice))
        );
        let mut other = o.clone();
        other.payment_id = "3d1f7a0c-4b2e-4f6a-9c8d-1e2f3a4b5c6d".parse().unwrap();
        assert!(matches!(
            other.verify(&uetr(), &s),
            Err(TermsError::OtherPayment { .. })
        ));
        // A commitment moved to another payment does not open there.
        let elsewhere: Uetr = "3d1f7a0c-4b2e-4f6a-9c8d-1e2f3a4b5c6d".parse().unwrap();
        let mut moved = o;
        moved.payment_id = elsewhere;
        assert_eq!(
            moved.verify(&elsewhere, &s),
            Err(TermsError::Mismatch(TermField::Amount))
        );
    }

    #[test]
    fn sealed_lists_are_checked() {
        let (s, _) = sealed();
        let mut out_of_order = s.clone();
        out_of_order.swap(0, 1);
        assert!(matches!(
            check_sealed(&out_of_order),
            Err(TermsError::Order(_))
        ));
        let mut twice = s.clone();
        twice.insert(1, s[0]);
        assert!(matches!(check_sealed(&twice), Err(TermsError::Order(_))));
        let no_amount: Vec<Sealed> = s[1..].to_vec();
        assert_eq!(
            check_sealed(&no_amount),
            Err(TermsError::Missing(TermField::Amount))
        );
        let partial: Vec<Sealed> = s
            .iter()
            .filter(|x| x.field != TermField::FxRate)
            .copied()
            .collect();
        assert_eq!(check_sealed(&partial), Err(TermsError::PartialSettlement));
    }

    #[test]
    fn non_canonical_texts_are_refused() {
        let mut fields: BTreeMap<TermField, String> = terms().fields().into_iter().collect();
        fields.insert(TermField::Amount, "01089000".into());
        assert!(matches!(
            Terms::from_fields(&fields),
            Err(TermsError::BadValue {
                field: TermField::Amount,
                ..
            })
        ));
        let mut fields: BTreeMap<TermField, String> = terms().fields().into_iter().collect();
        fields.insert(TermField::Currency, "eur".into());
        assert!(Terms::from_fields(&fields).is_err());
    }

    #[test]
    fn a_document_digest_is_the_documented_hash() {
        let salt = Salt(Hash32([5; 32]));
        let mut bytes = b"waybill/v1/document\0".to_vec();
        bytes.extend_from_slice(&[5; 32]);
        bytes.extend_from_slice(b"%PDF-1.7");
        assert_eq!(document_digest(&salt, b"%PDF-1.7"), Hash32::digest(&bytes));
        assert_ne!(
            document_digest(&salt, b"%PDF-1.7"),
            Hash32::digest(b"%PDF-1.7")
        );
    }

    #[test]
    fn salts_differ_so_equal_terms_do_not_look_equal() {
        let (a, _) = sealed();
        let (b, _) = terms().seal(uetr(), || [42; 32]).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| x.commitment != y.commitment));
    }
}
