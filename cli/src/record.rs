//! `waybill record …`: build and sign entries.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use waybill_core::codes::{Country, Currency, Decimal3, FxRate, HsCode, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, Hash32, PublicKey};
use waybill_core::entry::MembershipChange;
use waybill_core::entry::{
    Body, Customs, Dispatch, DocRef, Entry, GeoPoint, Input, Location, Payment, PaymentMethod,
    PaymentStatus, Produce, Product, Quantity, Receive, Reject, Settlement, SignedEntry,
    ENTRY_VERSION,
};
use waybill_core::genesis::{Genesis, MemberSpec, Role};
use waybill_core::gs1::{Gln, Gtin, LotId, ShipmentId};

use crate::node_client::{NextNonce, Node};
use crate::util;

/// Options every `record` command takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The chain's genesis file (entries are signed for its chain id).
    #[arg(long, short = 'g', value_name = "GENESIS.toml")]
    pub genesis: PathBuf,
    /// The author's key file (PKCS#8 PEM). Passphrase from WAYBILL_PASSPHRASE or a prompt.
    #[arg(long, short = 'k', value_name = "KEY.pem")]
    pub key: PathBuf,
    /// The author's next nonce (its last + 1). Or let --data-dir or --node find it.
    #[arg(long, value_name = "N")]
    pub nonce: Option<u64>,
    /// A local ledger to read the author's next nonce from.
    #[arg(long, value_name = "DIR", conflicts_with = "nonce")]
    pub data_dir: Option<PathBuf>,
    /// A node's HTTP API to ask for the author's next nonce, e.g.
    /// http://127.0.0.1:8080. The node counts the author's entries waiting
    /// in its mempool, so submit each entry before recording the next.
    #[arg(long, value_name = "URL", conflicts_with_all = ["nonce", "data_dir"])]
    pub node: Option<String>,
    /// When the event happened (RFC 3339 or ms since 1970); default now.
    #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
    pub recorded_at: Option<i64>,
    /// Write the signed entry here instead of stdout (refuses to overwrite).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the file at --out if one exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// A place given on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct PlaceArgs {
    /// ISO 3166-1 alpha-2 country, e.g. CO.
    #[arg(long)]
    pub country: Option<Country>,
    /// A place name, e.g. "Port of Buenaventura".
    #[arg(long)]
    pub place: Option<String>,
    /// GS1 Global Location Number (13 digits).
    #[arg(long)]
    pub gln: Option<Gln>,
}

impl PlaceArgs {
    fn location(&self) -> Location {
        Location {
            gln: self.gln.clone(),
            country: self.country,
            name: self.place.clone(),
            geo: None,
        }
    }
}

/// What to record.
#[derive(Subcommand, Debug)]
pub enum RecordCmd {
    /// A lot comes into being (harvest, catch, or made from input lots).
    Produce(ProduceArgs),
    /// Custody of lots leaves you in a shipment.
    Dispatch(DispatchArgs),
    /// You accept a shipment (as its consignee, or as its carrier taking over).
    Receive(ReceiveArgs),
    /// You refuse a shipment; custody returns to the sender.
    Reject(RejectArgs),
    /// A cross-border payment record.
    Pay(PayArgs),
    /// A membership change (admins only; needs co-signatures from an admin
    /// quorum: pass the file around with `waybill cosign`).
    Member(MemberArgs),
}

/// `record member`.
#[derive(Args, Debug)]
pub struct MemberArgs {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    change: MemberChange,
}

/// A membership change.
#[derive(Subcommand, Debug)]
pub enum MemberChange {
    /// Add a member.
    Add {
        /// Organisation name.
        #[arg(long)]
        name: String,
        /// Its public key (64 hex digits).
        #[arg(long)]
        public_key: PublicKey,
        /// Its roles, e.g. producer+payer.
        #[arg(long)]
        roles: String,
        /// ISO 3166-1 alpha-2 country.
        #[arg(long)]
        country: Option<Country>,
        /// GS1 company prefixes it owns (repeat).
        #[arg(long = "prefix")]
        prefixes: Vec<waybill_core::gs1::CompanyPrefix>,
    },
    /// Remove a member: its key signs nothing after this block.
    Remove {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
    },
    /// Replace a member's key: the old key signs nothing after this block.
    RotateKey {
        /// The current key.
        #[arg(long)]
        old: PublicKey,
        /// The new key.
        #[arg(long)]
        new: PublicKey,
    },
    /// Change a member's roles.
    SetRoles {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
        /// The new roles, e.g. carrier+payer.
        #[arg(long)]
        roles: String,
    },
}

/// Parses `a+b+c` roles.
pub fn parse_roles(s: &str) -> Result<Vec<Role>> {
    s.split('+')
        .map(|r| r.trim().parse::<Role>().map_err(|e| anyhow!("{e}")))
        .collect()
}

/// `record produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    common: Common,
    /// The new lot: (01)GTIN(10)LOT, a GS1 Digital Link URI, or a free id.
    #[arg(long)]
    lot: LotId,
    /// What it is, e.g. "Green coffee, washed arabica".
    #[arg(long)]
    product: String,
    /// The product's GTIN.
    #[arg(long)]
    gtin: Option<Gtin>,
    /// How much, e.g. 600 or 12.5.
    #[arg(long)]
    quantity: Decimal3,
    /// UN/CEFACT unit code: KGM, TNE, LTR, EA, H87, MTR, …
    #[arg(long)]
    unit: UnitCode,
    #[command(flatten)]
    origin: PlaceArgs,
    /// Latitude in decimal degrees.
    #[arg(long, allow_hyphen_values = true, requires = "lon")]
    lat: Option<f64>,
    /// Longitude in decimal degrees.
    #[arg(long, allow_hyphen_values = true, requires = "lat")]
    lon: Option<f64>,
    /// When it was produced (default: --recorded-at).
    #[arg(long, value_parser = util::parse_time)]
    produced_at: Option<i64>,
    /// An input lot and the quantity used, LOT=QTY (repeat for each input).
    #[arg(long = "input", value_name = "LOT=QTY")]
    inputs: Vec<String>,
    /// A certificate document: FILE[:LABEL] (its SHA-256 goes on the ledger, not the file).
    #[arg(long = "certificate", value_name = "FILE[:LABEL]")]
    certificates: Vec<String>,
    /// Another document: FILE[:LABEL].
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
}

/// `record dispatch`.
#[derive(Args, Debug)]
pub struct DispatchArgs {
    #[command(flatten)]
    common: Common,
    /// Shipment id: (00)SSCC or a free id.
    #[arg(long)]
    shipment: ShipmentId,
    /// A lot in the shipment (repeat).
    #[arg(long = "lot", required = true)]
    lots: Vec<LotId>,
    /// Who receives it: a member name from genesis or a public key.
    #[arg(long)]
    consignee: String,
    /// Who carries it: a member with the carrier role.
    #[arg(long)]
    carrier: Option<String>,
    /// Origin country.
    #[arg(long)]
    from_country: Option<Country>,
    /// Origin place name.
    #[arg(long)]
    from_place: Option<String>,
    /// Destination country.
    #[arg(long)]
    to_country: Option<Country>,
    /// Destination place name.
    #[arg(long)]
    to_place: Option<String>,
    /// A document (bill of lading, …): FILE[:LABEL].
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
}

/// `record receive`.
#[derive(Args, Debug)]
pub struct ReceiveArgs {
    #[command(flatten)]
    common: Common,
    /// The shipment.
    #[arg(long)]
    shipment: ShipmentId,
    #[command(flatten)]
    at: PlaceArgs,
    /// A document: FILE[:LABEL].
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
}

/// `record reject`.
#[derive(Args, Debug)]
pub struct RejectArgs {
    #[command(flatten)]
    common: Common,
    /// The shipment.
    #[arg(long)]
    shipment: ShipmentId,
    /// Why.
    #[arg(long)]
    reason: String,
}

/// `record pay`.
#[derive(Args, Debug)]
pub struct PayArgs {
    #[command(flatten)]
    common: Common,
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
}

/// Parses a snake_case name into a core enum through its serde form, so
/// the command line accepts exactly the names the JSON uses.
fn serde_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_")))
        .map_err(|e| e.to_string())
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

fn doc_refs(specs: &[String]) -> Result<Vec<DocRef>> {
    specs
        .iter()
        .map(|s| {
            let (file, label) = match s.split_once(':') {
                Some((f, l)) => (f, Some(l.to_string())),
                None => (s.as_str(), None),
            };
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read document {file}"))?;
            let media_type = match file
                .rsplit('.')
                .next()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("pdf") => "application/pdf",
                Some("json") => "application/json",
                Some("xml") => "application/xml",
                Some("txt") => "text/plain",
                Some("jpg" | "jpeg") => "image/jpeg",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            Ok(DocRef {
                sha256: Hash32::digest(&bytes),
                media_type: media_type.into(),
                uri: None,
                label,
            })
        })
        .collect()
}

fn geo(lat: Option<f64>, lon: Option<f64>) -> Result<Option<GeoPoint>> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                bail!(
                    "coordinates out of range: latitude must be within ±90, longitude within ±180"
                );
            }
            // In range, so the rounded micro-degrees fit an i32.
            Ok(Some(GeoPoint {
                lat_micro: (lat * 1e6).round() as i32,
                lon_micro: (lon * 1e6).round() as i32,
            }))
        }
        _ => Ok(None),
    }
}

/// Signs `body` as the author in `common` and writes it.
fn finish(common: &Common, body: impl FnOnce(&Genesis, &PublicKey) -> Result<Body>) -> Result<()> {
    let existing = util::Existing::from_force(common.force);
    if let Some(out) = &common.out {
        // Before the key's passphrase is asked for.
        util::refuse_existing(out, existing)?;
    }
    let genesis = util::read_genesis(&common.genesis)?;
    let key = util::read_key(&common.key)?;
    let author = crypto::public_key(&key);
    // Before the body, so that nothing is made (a customs salt printed)
    // for an entry that cannot be signed.
    let (nonce, from) = author_nonce(common, &genesis, &author)?;
    let body = body(&genesis, &author)?;
    let entry = sign_entry(&genesis, &key, nonce, common.recorded_at, body);
    let text = serde_json::to_string_pretty(&entry)? + "\n";
    util::write_out(common.out.as_deref(), &text, existing)?;
    if common.out.is_some() {
        eprintln!(
            "signed {} entry {} (nonce {}{from})",
            entry.entry.body.kind(),
            entry.id().short(),
            entry.entry.nonce
        );
    }
    Ok(())
}

/// The author's next nonce as `common` says to find it, with where it
/// came from when that is worth saying (`, from …`).
fn author_nonce(common: &Common, genesis: &Genesis, author: &PublicKey) -> Result<(u64, String)> {
    match (common.nonce, &common.data_dir, &common.node) {
        (Some(n), _, _) => Ok((n, String::new())),
        (None, Some(dir), _) => {
            let ledger = waybill_store::open_dir(dir)?;
            if ledger.chain_id() != genesis.chain_id() {
                bail!(
                    "the ledger in {} is for another chain than the genesis given",
                    dir.display()
                );
            }
            let last = waybill_core::state::View::nonce(ledger.state(), author);
            let next = last
                .checked_add(1)
                .ok_or_else(|| anyhow!("the author has used every nonce; rotate its key"))?;
            Ok((next, String::new()))
        }
        (None, None, Some(url)) => {
            let (node, n) = nonce_from_node(url, genesis, author).map_err(|e| {
                anyhow!(
                    "{e}\nnothing was signed: give --node the API URL of a running node of chain `{}`, or the nonce with --nonce N",
                    genesis.chain_name
                )
            })?;
            Ok((
                n.next,
                format!(
                    ", from the node at {}: {} committed, {} waiting in its mempool",
                    node.url(),
                    n.committed,
                    n.pending
                ),
            ))
        }
        (None, None, None) => bail!(
            "give --nonce N (the author's last nonce + 1), --data-dir DIR to read it from a local ledger, \
             or --node URL to ask a node (which also counts the author's entries waiting in its mempool)"
        ),
    }
}

/// Asks the node at `url` for `author`'s next nonce, and checks that the
/// node serves `genesis`'s chain.
fn nonce_from_node(
    url: &str,
    genesis: &Genesis,
    author: &PublicKey,
) -> Result<(Node, NextNonce)> {
    let node = Node::new(url)?;
    let n = node.next_nonce(author)?;
    let chain = genesis.chain_id().to_hex();
    if n.chain_id != chain {
        bail!(
            "the node at {} serves chain {}, not chain {chain} (`{}`) of the genesis given",
            node.url(),
            n.chain_id,
            genesis.chain_name
        );
    }
    Ok((node, n))
}

/// Builds and signs an entry with `nonce`, recorded at `recorded_at`
/// (default now).
pub fn sign_entry(
    genesis: &Genesis,
    key: &ed25519_dalek::SigningKey,
    nonce: u64,
    recorded_at: Option<i64>,
    body: Body,
) -> SignedEntry {
    Entry {
        version: ENTRY_VERSION,
        chain_id: genesis.chain_id(),
        author: crypto::public_key(key),
        nonce,
        recorded_at_ms: recorded_at.unwrap_or_else(util::now_ms),
        body,
    }
    .sign(key)
}

/// Runs a `record` command.
pub fn run(cmd: RecordCmd) -> Result<()> {
    match cmd {
        RecordCmd::Produce(a) => finish(&a.common, |_, _| {
            let inputs = a
                .inputs
                .iter()
                .map(|s| {
                    let (lot, qty) = s
                        .rsplit_once('=')
                        .ok_or_else(|| anyhow!("--input `{s}` must be LOT=QUANTITY"))?;
                    Ok(Input {
                        lot: lot.parse().map_err(|e| anyhow!("--input `{s}`: {e}"))?,
                        quantity: qty.parse().map_err(|e| anyhow!("--input `{s}`: {e}"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let mut origin = a.origin.location();
            origin.geo = geo(a.lat, a.lon)?;
            Ok(Body::Produce(Produce {
                lot: a.lot.clone(),
                product: Product {
                    gtin: a.gtin.or_else(|| a.lot.gtin()),
                    id: None,
                    description: a.product.clone(),
                },
                quantity: Quantity {
                    value: a.quantity,
                    unit: a.unit,
                },
                origin,
                produced_at_ms: a
                    .produced_at
                    .or(a.common.recorded_at)
                    .unwrap_or_else(util::now_ms),
                certificates: doc_refs(&a.certificates)?,
                documents: doc_refs(&a.documents)?,
                inputs,
            }))
        }),
        RecordCmd::Dispatch(a) => finish(&a.common, |g, _| {
            Ok(Body::Dispatch(Dispatch {
                shipment: a.shipment.clone(),
                lots: a.lots.clone(),
                consignee: util::party(g, &a.consignee)?,
                carrier: a
                    .carrier
                    .as_deref()
                    .map(|c| util::party(g, c))
                    .transpose()?,
                from: Location {
                    country: a.from_country,
                    name: a.from_place.clone(),
                    ..Location::default()
                },
                to: Location {
                    country: a.to_country,
                    name: a.to_place.clone(),
                    ..Location::default()
                },
                documents: doc_refs(&a.documents)?,
            }))
        }),
        RecordCmd::Receive(a) => finish(&a.common, |_, _| {
            Ok(Body::Receive(Receive {
                shipment: a.shipment.clone(),
                at: a.at.location(),
                documents: doc_refs(&a.documents)?,
            }))
        }),
        RecordCmd::Reject(a) => finish(&a.common, |_, _| {
            Ok(Body::Reject(Reject {
                shipment: a.shipment.clone(),
                reason: a.reason.clone(),
            }))
        }),
        RecordCmd::Member(a) => finish(&a.common, |_, _| member_body(&a.change)),
        RecordCmd::Pay(a) => finish(&a.common, |g, me| {
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
                payer: *me,
                payee: util::party(g, &a.payee)?,
                amount_minor: minor_units(&a.amount, &a.currency)?,
                currency: a.currency,
                settlement,
                incoterm: a.incoterm,
                shipments: a.shipments.clone(),
                customs,
                method: a.method,
                status: a.status,
            }))
        }),
    }
}

fn member_body(change: &MemberChange) -> Result<Body> {
    Ok(Body::Membership(match change {
        MemberChange::Add {
            name,
            public_key,
            roles,
            country,
            prefixes,
        } => MembershipChange::Add(MemberSpec {
            name: name.clone(),
            public_key: *public_key,
            roles: parse_roles(roles)?,
            country: *country,
            gs1_company_prefixes: prefixes.clone(),
        }),
        MemberChange::Remove { public_key } => MembershipChange::Remove {
            public_key: *public_key,
        },
        MemberChange::RotateKey { old, new } => MembershipChange::RotateKey {
            old: *old,
            new: *new,
        },
        MemberChange::SetRoles { public_key, roles } => MembershipChange::SetRoles {
            public_key: *public_key,
            roles: parse_roles(roles)?,
        },
    }))
}

/// `waybill cosign`: adds the key's co-signature to an entry file.
pub fn cosign(
    entry: &std::path::Path,
    key: &std::path::Path,
    genesis: &std::path::Path,
    out: Option<&std::path::Path>,
    force: bool,
) -> Result<()> {
    // Without --out the entry file itself is rewritten: that is the
    // command's purpose, so only --out is subject to the overwrite rule.
    let (target, existing) = match out {
        Some(o) => (o, util::Existing::from_force(force)),
        None => (entry, util::Existing::Replace),
    };
    util::refuse_existing(target, existing)?;
    let g = util::read_genesis(genesis)?;
    let mut e = util::read_entry(entry)?;
    if e.entry.chain_id != g.chain_id() {
        bail!(
            "{} is for another chain than {}",
            entry.display(),
            genesis.display()
        );
    }
    if !matches!(e.entry.body, Body::Membership(_)) {
        bail!(
            "only membership changes are co-signed; {} is a {} entry",
            entry.display(),
            e.entry.body.kind()
        );
    }
    e.verify_signatures().map_err(|err| {
        anyhow!(
            "{} does not verify, so it was not co-signed: {err}",
            entry.display()
        )
    })?;
    let key = util::read_key(key)?;
    e.cosign(&key);
    let text = serde_json::to_string_pretty(&e)? + "\n";
    util::write_out(Some(target), &text, existing)?;
    eprintln!("co-signed; {} co-signatures now", e.cosignatures.len());
    Ok(())
}

/// A fresh random UETR.
pub fn new_uetr() -> Result<Uetr> {
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    Uetr::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid()).map_err(|e| anyhow!("{e}"))
}
