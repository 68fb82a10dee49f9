//! `waybill terms …`: a payment's sealed terms. The ledger keeps one
//! salted commitment per term; the terms file (what `waybill record pay`
//! wrote) opens them. These commands check a terms file against the
//! ledger, keep it on a node for the parties and auditors, fetch it from
//! there with a signed request, and erase it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::json;
use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, SignedEntry};
use waybill_core::genesis::Genesis;
use waybill_core::state::View;
use waybill_core::terms::{Openings, SealedPayment, Terms};
use waybill_core::trail::money;

use crate::node_client::Node;
use crate::util;

/// `waybill terms …`.
#[derive(Subcommand, Debug)]
pub enum TermsCmd {
    /// Check a terms file against the payment's commitments on the
    /// ledger and print the terms.
    ///
    /// Examples:
    ///   waybill terms verify --terms pay.json.terms.json --payment pay.json -g genesis.toml
    ///   waybill terms verify --terms pay.json.terms.json --data-dir ledger
    #[command(verbatim_doc_comment)]
    Verify {
        /// The terms file.
        #[arg(long, value_name = "FILE")]
        terms: PathBuf,
        #[command(flatten)]
        from: PaymentFrom,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Keep a terms file on a node (signed by the payer or the payee), so
    /// that the node can show the terms to the parties and auditors. The
    /// node checks every term against its commitment first.
    Put {
        /// The terms file.
        #[arg(long, value_name = "FILE")]
        terms: PathBuf,
        #[command(flatten)]
        signer: Signer,
    },
    /// Fetch a payment's terms from a node with a request signed by a
    /// party or an auditor, check them against the payment's commitments
    /// and print them.
    Get {
        /// The payment's UETR.
        payment_id: Uetr,
        #[command(flatten)]
        signer: Signer,
        /// Also write the terms file here (refuses to overwrite).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a node forget a payment's terms (signed by the payer or the
    /// payee). The chain still verifies: only commitments are on it.
    Erase {
        /// The payment's UETR.
        payment_id: Uetr,
        #[command(flatten)]
        signer: Signer,
    },
}

/// Where the payment entry comes from.
#[derive(Args, Debug)]
pub struct PaymentFrom {
    /// The payment entry file (as `waybill record pay` wrote it).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data_dir", "node"])]
    payment: Option<PathBuf>,
    /// A local ledger to find the payment in.
    #[arg(long, value_name = "DIR", conflicts_with = "node")]
    data_dir: Option<PathBuf>,
    /// A node to ask for the payment entry.
    #[arg(long, value_name = "URL")]
    node: Option<String>,
    /// The chain's genesis: the payment entry's signature is checked for
    /// its chain.
    #[arg(long, short = 'g', value_name = "GENESIS.toml")]
    genesis: Option<PathBuf>,
}

/// Who signs a request to a node.
#[derive(Args, Debug)]
pub struct Signer {
    /// The node's API URL.
    #[arg(long, value_name = "URL")]
    node: String,
    /// Your member key (PKCS#8 PEM); passphrase from WAYBILL_PASSPHRASE or
    /// a prompt.
    #[arg(long, short = 'k', value_name = "KEY.pem")]
    key: PathBuf,
    /// The chain's genesis file (requests are signed for its chain id).
    #[arg(long, short = 'g', value_name = "GENESIS.toml")]
    genesis: PathBuf,
}

/// Runs a `terms` command.
pub fn run(cmd: TermsCmd) -> Result<ExitCode> {
    match cmd {
        TermsCmd::Verify { terms, from, json } => {
            let openings = read_terms(&terms)?;
            let genesis = from
                .genesis
                .as_deref()
                .map(util::read_genesis)
                .transpose()?;
            let mut names: Vec<(PublicKey, String)> = Vec::new();
            let entry = match (&from.payment, &from.data_dir, &from.node) {
                (Some(p), _, _) => util::read_entry(p)?,
                (None, Some(dir), _) => {
                    let ledger = crate::ledger_cmd::open(dir)?;
                    let (located, p) =
                        ledger
                            .sealed_payment(&openings.payment_id)?
                            .ok_or_else(|| {
                                anyhow!(
                                    "payment {} is not recorded with sealed terms in {}",
                                    openings.payment_id,
                                    dir.display()
                                )
                            })?;
                    for k in [p.payer, p.payee] {
                        if let Some(m) = View::member(ledger.state(), &k) {
                            names.push((k, m.spec.name.clone()));
                        }
                    }
                    located.entry
                }
                (None, None, Some(url)) => Node::new(url)?.payment_entry(&openings.payment_id)?,
                (None, None, None) => {
                    bail!("give the payment with --payment FILE, --data-dir DIR or --node URL")
                }
            };
            let payment = sealed_of(&entry, genesis.as_ref())?;
            let t = check(&openings, &payment, &terms.display().to_string())?;
            let name = |k: &PublicKey| {
                names
                    .iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, n)| n.clone())
                    .or_else(|| {
                        genesis
                            .as_ref()
                            .and_then(|g| g.member(k))
                            .map(|m| m.name.clone())
                    })
                    .unwrap_or_else(|| format!("key {}", k.short()))
            };
            print_terms(&payment, &t, &name, json)?;
            Ok(ExitCode::SUCCESS)
        }
        TermsCmd::Put { terms, signer } => {
            let openings = read_terms(&terms)?;
            let id = openings.payment_id;
            let (node, _, _) = signer.call(
                Method::PUT,
                &id,
                serde_json::to_vec(&openings)?,
                &format!("the terms of payment {id}"),
            )?;
            println!(
                "the node at {} keeps the terms of payment {id}; it shows them only to the \
                 payment's parties and auditors, on signed requests",
                node.url()
            );
            Ok(ExitCode::SUCCESS)
        }
        TermsCmd::Get {
            payment_id,
            signer,
            out,
            json,
        } => {
            let existing = util::Existing::Refuse;
            if let Some(o) = &out {
                util::refuse_existing(o, existing)?;
            }
            let (node, genesis, reply) = signer.call(
                Method::GET,
                &payment_id,
                Vec::new(),
                &format!("the request for the terms of payment {payment_id}"),
            )?;
            let v = reply
                .json()
                .map_err(|e| anyhow!("the node's answer: {e}"))?;
            let openings: Openings =
                serde_json::from_value(v.get("terms").cloned().unwrap_or_default())
                    .context("the node's answer holds no terms file")?;
            let entry = node.payment_entry(&payment_id)?;
            let payment = sealed_of(&entry, Some(&genesis))?;
            let t = check(&openings, &payment, &format!("the node at {}", node.url()))?;
            if let Some(o) = &out {
                util::write_out(
                    Some(o),
                    &(serde_json::to_string_pretty(&openings)? + "\n"),
                    existing,
                )?;
            }
            print_terms(&payment, &t, &|k| util::name_of(&genesis, k), json)?;
            Ok(ExitCode::SUCCESS)
        }
        TermsCmd::Erase { payment_id, signer } => {
            let id = payment_id;
            let (node, _, reply) = signer.call(
                Method::DELETE,
                &id,
                Vec::new(),
                &format!("the erasure of the terms of payment {id}"),
            )?;
            let erased = reply.erased();
            if erased {
                println!(
                    "the node at {} forgot the terms of payment {id}",
                    node.url()
                );
            } else {
                println!("the node at {} kept no terms of payment {id}", node.url());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

impl Signer {
    /// Sends `method` to payment `id`'s terms, signed; the answer, which
    /// must be 200.
    fn call(
        &self,
        method: Method,
        id: &Uetr,
        body: Vec<u8>,
        what: &str,
    ) -> Result<(Node, Genesis, crate::node_client::Reply)> {
        let id = id.to_string();
        self.request(method, &["v1", "payments", &id, "terms"], body, what)
    }

    /// Sends `method` to the path of `segments`, signed; the answer,
    /// which must be 200.
    pub(crate) fn request(
        &self,
        method: Method,
        segments: &[&str],
        body: Vec<u8>,
        what: &str,
    ) -> Result<(Node, Genesis, crate::node_client::Reply)> {
        let genesis = util::read_genesis(&self.genesis)?;
        let node = Node::new(&self.node)?;
        let key = util::read_key(&self.key)?;
        let reply = node.signed(method, segments, body, &key, &genesis.chain_id(), what)?;
        if reply.status != StatusCode::OK {
            return Err(node.http_error(&reply, what));
        }
        Ok((node, genesis, reply))
    }
}

/// The sealed payment in `entry`, its signatures checked (for the
/// genesis's chain when one is given).
pub(crate) fn sealed_of(entry: &SignedEntry, genesis: Option<&Genesis>) -> Result<SealedPayment> {
    if let Some(g) = genesis {
        if entry.entry.chain_id != g.chain_id() {
            bail!("the payment entry is for another chain than the genesis given");
        }
    }
    entry
        .verify_signatures()
        .map_err(|e| anyhow!("the payment entry's signature does not verify: {e}"))?;
    match &entry.entry.body {
        Body::SealedPayment(p) if p.payer == entry.entry.author => Ok(p.clone()),
        Body::SealedPayment(_) => bail!("the payment entry is not signed by its payer"),
        other => bail!(
            "entry {} is a {} entry, not a payment with sealed terms",
            entry.id().short(),
            other.kind()
        ),
    }
}

/// Opens `openings` against `payment`'s commitments.
pub(crate) fn check(openings: &Openings, payment: &SealedPayment, source: &str) -> Result<Terms> {
    openings
        .verify(&payment.payment_id, &payment.terms)
        .map_err(|e| {
            anyhow!(
                "the terms from {source} do not open payment {}: {e}",
                payment.payment_id
            )
        })
}

/// Reads a terms file.
pub fn read_terms(path: &std::path::Path) -> Result<Openings> {
    let bytes = util::read_limited(path, 64 * 1024, "terms file")?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a payment terms file (as `waybill record pay` writes it)",
            path.display()
        )
    })
}

/// The terms in one line, for people.
pub fn summary(t: &Terms) -> String {
    let mut s = format!(
        "{} under {}",
        money(t.amount_minor, &t.currency),
        t.incoterm
    );
    if let Some(x) = &t.settlement {
        s.push_str(&format!(
            ", settled as {} at {}",
            money(x.amount_minor, &x.currency),
            x.fx_rate
        ));
    }
    if let Some(i) = &t.invoice {
        s.push_str(&format!(", invoice {i}"));
    }
    s
}

pub(crate) fn print_terms(
    p: &SealedPayment,
    t: &Terms,
    name: &dyn Fn(&PublicKey) -> String,
    as_json: bool,
) -> Result<()> {
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "ok": true,
                "payment_id": p.payment_id.to_string(),
                "payer": name(&p.payer),
                "payee": name(&p.payee),
                "terms": t,
            }))?
        );
        return Ok(());
    }
    println!(
        "Payment {} from {} to {}: every term matches its commitment on the ledger",
        p.payment_id,
        name(&p.payer),
        name(&p.payee)
    );
    println!("  amount       {}", money(t.amount_minor, &t.currency));
    if let Some(x) = &t.settlement {
        println!(
            "  settlement   {} at {}",
            money(x.amount_minor, &x.currency),
            x.fx_rate
        );
    }
    println!("  incoterm     {}", t.incoterm);
    println!(
        "  method       {}",
        waybill_core::terms::method_name(t.method)
    );
    if !t.hs_codes.is_empty() {
        let codes: Vec<String> = t.hs_codes.iter().map(|c| c.to_string()).collect();
        println!("  HS codes     {}", codes.join(", "));
    }
    if let Some(d) = &t.customs_declaration {
        println!("  customs declaration sha256 {}", d.to_hex());
    }
    if let Some(i) = &t.invoice {
        println!("  invoice      {i}");
    }
    Ok(())
}
