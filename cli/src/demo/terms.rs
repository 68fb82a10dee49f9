//! The demo's payment terms: what the shopper cannot see and the auditor
//! can. The roaster keeps the terms file on a node; a shopper's unsigned
//! request is refused; the auditor's signed request gets the terms, which
//! are checked against the payment's commitments on the ledger.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Result};
use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use waybill_core::genesis::Genesis;
use waybill_core::terms::Openings;

use crate::node_client::Node;
use crate::terms_cmd;
use crate::util;

/// Keeps `openings` on the node at `api` as the roaster, then shows what
/// a shopper and the auditor get there.
pub(crate) fn show(
    genesis: &Genesis,
    api: SocketAddr,
    openings: &Openings,
    roaster: &SigningKey,
    auditor: &SigningKey,
) -> Result<()> {
    let node = Node::new(&format!("http://{api}"))?;
    let chain = genesis.chain_id();
    let id = openings.payment_id.to_string();
    let segments = ["v1", "payments", id.as_str(), "terms"];
    let put = node.signed(
        Method::PUT,
        &segments,
        serde_json::to_vec(openings)?,
        roaster,
        &chain,
        "the roaster's terms",
    )?;
    if put.status != StatusCode::OK {
        return Err(node.http_error(&put, "the roaster's terms"));
    }
    println!(
        "The payment's terms are not on the ledger: only a salted commitment to each. The roaster keeps them on node {api}."
    );
    let shopper = node.get(
        &segments,
        64 * 1024,
        std::time::Duration::from_secs(10),
        "a shopper's request for the terms",
    )?;
    if shopper.status != StatusCode::UNAUTHORIZED {
        bail!(
            "a shopper's unsigned request for the terms got HTTP {}, not 401",
            shopper.status
        );
    }
    println!(
        "A shopper asking node {api} for them gets HTTP 401: {}",
        shopper.message()
    );
    let got = node.signed(
        Method::GET,
        &segments,
        Vec::new(),
        auditor,
        &chain,
        "the auditor's request for the terms",
    )?;
    if got.status != StatusCode::OK {
        return Err(node.http_error(&got, "the auditor's request for the terms"));
    }
    let v = got.json().map_err(|e| anyhow!("node {api}: {e}"))?;
    let fetched: Openings = serde_json::from_value(v["terms"].clone())
        .map_err(|e| anyhow!("node {api} sent no terms file: {e}"))?;
    let entry = node.payment_entry(&openings.payment_id)?;
    let payment = terms_cmd::sealed_of(&entry, Some(genesis))?;
    let terms = terms_cmd::check(&fetched, &payment, &format!("node {api}"))?;
    println!("The auditor's signed request gets them, checked against the ledger:\n");
    terms_cmd::print_terms(&payment, &terms, &|k| util::name_of(genesis, k), false)?;
    println!();
    Ok(())
}
