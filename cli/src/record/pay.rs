//! `record pay`: a cross-border payment record.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use waybill_core::codes::{Currency, FxRate, HsCode, Incoterm, Uetr};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, Customs, Payment, PaymentMethod, PaymentStatus, Settlement};
use waybill_core::gs1::ShipmentId;

use super::args::serde_name;
use super::{finish_with, party, Common};

/// `record pay`.
#[derive(Args, Debug)]
pub struct PayArgs {
    /// The payment's UETR (UUID v4); default a fresh one.
    #[arg(long)]
    payment_id: Option<Uetr>,
    /// Who is paid: a member name or public key. (The payer is you.)
    #[arg(long)]
    payee: String,
    /// Amount in major units, e.g. 10890.00.
    #[arg(long)]
    amount: String,
    /// ISO 4217 currency, e.g. EUR.
    #[arg(long)]
    currency: Currency,
    /// What the payee received, in major units of --settlement-currency.
    #[arg(long, requires_all = ["settlement_currency", "fx_rate"])]
    settlement_amount: Option<String>,
    /// Settlement currency.
    #[arg(long, requires = "settlement_amount")]
    settlement_currency: Option<Currency>,
    /// Settlement currency units per payment currency unit.
    #[arg(long, requires = "settlement_amount")]
    fx_rate: Option<FxRate>,
    /// Incoterms 2020 rule: EXW FCA CPT CIP DAP DPU DDP FAS FOB CFR CIF.
    #[arg(long)]
    incoterm: Incoterm,
    /// A shipment paid for (repeat).
    #[arg(long = "shipment")]
    shipments: Vec<ShipmentId>,
    /// HS code of the goods (repeat).
    #[arg(long = "hs-code")]
    hs_codes: Vec<HsCode>,
    /// The customs declaration file (its salted digest goes on the ledger).
    #[arg(long)]
    customs_declaration: Option<PathBuf>,
    /// How it was paid: swift_transfer, sepa_transfer, letter_of_credit,
    /// documentary_collection, open_account, other.
    #[arg(long, value_parser = serde_name::<PaymentMethod>, default_value = "swift_transfer")]
    method: PaymentMethod,
    /// Its state: initiated or settled.
    #[arg(long, value_parser = serde_name::<PaymentStatus>, default_value = "settled")]
    status: PaymentStatus,
    #[command(flatten)]
    common: Common,
}

/// Records a payment; the payer is the author.
pub fn pay(a: &PayArgs) -> Result<()> {
    finish_with(
        &a.common,
        |g| {
            let settlement = match (&a.settlement_amount, a.settlement_currency, a.fx_rate) {
                (Some(amount), Some(currency), Some(fx_rate)) => Some(Settlement {
                    amount_minor: minor_units(amount, &currency)?,
                    currency,
                    fx_rate,
                }),
                _ => None,
            };
            let customs = if a.hs_codes.is_empty() && a.customs_declaration.is_none() {
                None
            } else {
                let declaration_sha256 = match &a.customs_declaration {
                    Some(p) => {
                        let bytes = std::fs::read(p)
                            .with_context(|| format!("cannot read {}", p.display()))?;
                        // Salted: a declaration names people, so its plain
                        // digest could be confirmed by guessing.
                        let mut salt = [0u8; 16];
                        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
                        let mut salted = salt.to_vec();
                        salted.extend_from_slice(&bytes);
                        eprintln!(
                            "customs declaration salt (keep it with the document): {}",
                            hex::encode(salt)
                        );
                        Some(Hash32::digest(&salted))
                    }
                    None => None,
                };
                Some(Customs {
                    hs_codes: a.hs_codes.clone(),
                    declaration_sha256,
                })
            };
            Ok(Body::Payment(Payment {
                payment_id: match &a.payment_id {
                    Some(p) => *p,
                    None => new_uetr()?,
                },
                // Set to the author once the key is read.
                payer: PublicKey([0; 32]),
                payee: party(&a.common, g, "--payee", &a.payee)?,
                amount_minor: minor_units(&a.amount, &a.currency)?,
                currency: a.currency,
                settlement,
                incoterm: a.incoterm,
                shipments: a.shipments.clone(),
                customs,
                method: a.method,
                status: a.status,
            }))
        },
        |body, me| {
            if let Body::Payment(p) = body {
                p.payer = *me;
            }
        },
    )?;
    Ok(())
}

/// Parses a major-unit amount into minor units of `currency`.
pub fn minor_units(amount: &str, currency: &Currency) -> Result<u64> {
    let exp = currency.exponent();
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let bad = || {
        anyhow!("`{amount}` is not an amount in {currency} (at most {exp} decimals, e.g. 1234.50)")
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > exp as usize || (amount.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    let digits = format!("{int}{frac:0<width$}", width = exp as usize);
    digits.parse::<u64>().map_err(|_| bad())
}

/// A fresh random UETR.
pub fn new_uetr() -> Result<Uetr> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    Uetr::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid()).map_err(|e| anyhow!("{e}"))
}
