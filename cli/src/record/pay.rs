//! `record pay` and `record confirm-payment`: a cross-border payment with
//! its terms sealed, and the payee's confirmation of it.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use waybill_core::codes::{Currency, FxRate, HsCode, Incoterm, Uetr};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, PaymentMethod, PaymentStatus, Settlement};
use waybill_core::gs1::ShipmentId;
use waybill_core::terms::{self, PaymentConfirmation, SealedPayment, Terms};

use super::args::serde_name;
use super::{finish_with, party, Common};
use crate::{terms_cmd, util};

/// `record pay`.
#[derive(Args, Debug)]
#[command(
    after_help = "The payment goes on the ledger with its parties and shipments in the \
clear and each term (amount, currency, settlement, rate, Incoterm, method, HS codes, customs \
declaration, invoice) as a salted commitment. The terms and their salts are written to \
--terms-out: keep that file, give it to the payee (who confirms with `waybill record \
confirm-payment`), and store it on your node with `waybill terms put` so that auditors can \
be shown the terms. Without it nobody, you included, can show what was paid."
)]
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
    /// The customs declaration file (its digest is one of the sealed terms).
    #[arg(long)]
    customs_declaration: Option<PathBuf>,
    /// The invoice number (sealed like the other terms).
    #[arg(long)]
    invoice: Option<String>,
    /// How it was paid: swift_transfer, sepa_transfer, letter_of_credit,
    /// documentary_collection, open_account, other.
    #[arg(long, value_parser = serde_name::<PaymentMethod>, default_value = "swift_transfer")]
    method: PaymentMethod,
    /// Its state: initiated or settled.
    #[arg(long, value_parser = serde_name::<PaymentStatus>, default_value = "settled")]
    status: PaymentStatus,
    /// Where to write the terms and their salts (refuses to overwrite);
    /// default: --out with `.terms.json` added.
    #[arg(long, value_name = "FILE")]
    terms_out: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// `record confirm-payment`.
#[derive(Args, Debug)]
pub struct ConfirmArgs {
    /// The payment's terms file, from the payer: it is checked against
    /// the payment's commitments before anything is signed.
    #[arg(long, value_name = "FILE")]
    terms: PathBuf,
    /// The payment entry (as `record pay` wrote it), or leave it to
    /// --data-dir or --node to find it by its UETR.
    #[arg(long, value_name = "FILE")]
    payment: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// Records a payment with its terms sealed; the payer is the author.
pub fn pay(a: &PayArgs) -> Result<()> {
    let terms_out = match (&a.terms_out, &a.common.out) {
        (Some(p), _) => p.clone(),
        (None, Some(out)) => {
            let mut name = out.clone().into_os_string();
            name.push(".terms.json");
            PathBuf::from(name)
        }
        (None, None) => bail!(
            "say where to keep the payment's terms with --terms-out FILE (or --out): they \
             are not on the ledger, and without them nobody can show what was paid"
        ),
    };
    let existing = util::Existing::from_force(a.common.force);
    util::refuse_existing(&terms_out, existing)?;
    let openings = std::cell::OnceCell::new();
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
            let customs_declaration = match &a.customs_declaration {
                Some(p) => Some(Hash32::digest(
                    &std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
                )),
                None => None,
            };
            let terms = Terms {
                amount_minor: minor_units(&a.amount, &a.currency)?,
                currency: a.currency,
                settlement,
                incoterm: a.incoterm,
                method: a.method,
                hs_codes: a.hs_codes.clone(),
                customs_declaration,
                invoice: a.invoice.clone(),
            };
            let payment_id = match &a.payment_id {
                Some(p) => *p,
                None => new_uetr()?,
            };
            let (sealed, opened) = terms
                .seal(payment_id, util::random_salt)
                .map_err(|e| anyhow!("the payment terms cannot be recorded: {e}"))?;
            openings
                .set(opened)
                .map_err(|_| anyhow!("internal: the payment terms were sealed twice"))?;
            Ok(Body::SealedPayment(SealedPayment {
                payment_id,
                // Set to the author once the key is read.
                payer: PublicKey([0; 32]),
                payee: party(&a.common, g, "--payee", &a.payee)?,
                shipments: a.shipments.clone(),
                status: a.status,
                terms: sealed,
            }))
        },
        |body, me| {
            if let Body::SealedPayment(p) = body {
                p.payer = *me;
            }
        },
        // The terms are written before the entry: an entry whose terms
        // were lost could never be opened.
        |_| {
            let o = openings
                .get()
                .ok_or_else(|| anyhow!("internal: the payment terms were not sealed"))?;
            util::write_out(
                Some(&terms_out),
                &(serde_json::to_string_pretty(o)? + "\n"),
                existing,
            )?;
            eprintln!(
                "the payment's terms and salts are in {} (not on the ledger: keep it, give it \
                 to the payee, `waybill terms put` it on your node)",
                terms_out.display()
            );
            Ok(())
        },
    )?;
    Ok(())
}

/// Records the payee's confirmation of a sealed payment, after checking
/// the terms file against the payment's commitments.
pub fn confirm(a: &ConfirmArgs) -> Result<()> {
    let openings = terms_cmd::read_terms(&a.terms)?;
    let payment = match &a.payment {
        Some(p) => {
            let entry = util::read_entry(p)?;
            match entry.entry.body {
                Body::SealedPayment(s) => s,
                other => bail!(
                    "{} is a {} entry, not a payment with sealed terms",
                    p.display(),
                    other.kind()
                ),
            }
        }
        None => find_payment(&a.common, &openings.payment_id)?,
    };
    let terms = openings
        .verify(&payment.payment_id, &payment.terms)
        .map_err(|e| anyhow!("{}: {e}; nothing was signed", a.terms.display()))?;
    eprintln!(
        "the terms in {} match payment {}: {}",
        a.terms.display(),
        payment.payment_id,
        terms_cmd::summary(&terms)
    );
    finish_with(
        &a.common,
        |_| Ok(sealed_confirm(&payment)),
        |_, _| {},
        |_| Ok(()),
    )?;
    Ok(())
}

/// The confirmation body of `p`.
fn sealed_confirm(p: &SealedPayment) -> Body {
    Body::PaymentConfirmation(PaymentConfirmation {
        payment_id: p.payment_id,
        terms: terms::digest(&p.payment_id, &p.terms),
    })
}

/// The sealed payment `id`, from --data-dir's ledger or --node.
fn find_payment(common: &Common, id: &Uetr) -> Result<SealedPayment> {
    let entry = if let Some(dir) = &common.data_dir {
        let ledger = crate::ledger_cmd::open(dir)?;
        ledger
            .sealed_payment(id)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .ok_or_else(|| {
                anyhow!(
                    "payment {id} is not recorded with sealed terms in {}",
                    dir.display()
                )
            })?
            .0
            .entry
    } else if let Some(url) = &common.node {
        crate::node_client::Node::new(url)?.payment_entry(id)?
    } else {
        bail!("pass the payment entry with --payment FILE, or --data-dir or --node to find it")
    };
    match entry.entry.body {
        Body::SealedPayment(p) => Ok(p),
        other => bail!(
            "payment {id} is a {} entry without sealed terms",
            other.kind()
        ),
    }
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
