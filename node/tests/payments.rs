//! Private data on the API: the public answers carry no term of a sealed
//! payment; its terms are served only on requests signed by a party or an
//! auditor, for this chain, path and time, once; a document's salts only
//! to the entry's author and auditors; a member's or a period's entries
//! only to auditors (and the member); anything else gets 401 or 403 with
//! nothing leaked.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::codes::Uetr;
use waybill_core::entry::{Body, Settlement};
use waybill_core::request::{SignedRequest, KEY_HEADER, SIGNATURE_HEADER, TIME_HEADER};
use waybill_core::terms::{Openings, SealedPayment, Terms};
use waybill_node::Limits;
use waybill_testkit::sealed;

/// What must never reach a shopper: every term, in the forms a reader
/// would recognise (values chosen so that hex digests do not contain
/// them by chance).
const SECRETS: [&str; 10] = [
    "125017",
    "1250.17",
    "USD",
    "515434999",
    "COP",
    "4123.57",
    "FOB",
    "swift",
    "090111",
    "INV-9917",
];

fn terms() -> Terms {
    Terms {
        settlement: Some(Settlement {
            amount_minor: 515_434_999,
            currency: "COP".parse().unwrap(),
            fx_rate: "4123.57".parse().unwrap(),
        }),
        hs_codes: vec!["0901.11".parse().unwrap()],
        invoice: Some("INV-9917".into()),
        ..sealed::fob(125_017, "USD".parse().unwrap())
    }
}

fn uetr() -> Uetr {
    waybill_testkit::ids::uetr(77)
}

/// A node with a lot dispatched and paid for with sealed terms, the
/// payment confirmed; the lot, the payment and the openings.
async fn paid() -> (TestNode, waybill_core::gs1::LotId, SealedPayment, Openings) {
    paid_on(TestNode::start(Limits::default()).await).await
}

/// [`paid`], on `node`.
async fn paid_on(node: TestNode) -> (TestNode, waybill_core::gs1::LotId, SealedPayment, Openings) {
    let c = &node.c;
    let mut s = Signer::new(c);
    let green = waybill_core::gs1::LotId::batch(gtin_under(PRODUCER_PREFIX, 1), "GREEN-1").unwrap();
    let ship = shipment("SHIP-1");
    let (p, openings) = sealed::seal(
        uetr(),
        &c.payer.pk,
        &c.producer.pk,
        vec![ship.clone()],
        &terms(),
        [3; 32],
    )
    .unwrap();
    let entries = vec![
        s.produce(&c.producer, &green, 600_000, &[]),
        s.dispatch(
            &c.producer,
            &ship,
            std::slice::from_ref(&green),
            &c.processor,
            None,
        ),
        s.sign(&c.payer, Body::SealedPayment(p.clone())),
        s.sign(&c.producer, sealed::confirm(&p)),
    ];
    for e in &entries {
        assert_eq!(node.submit(e).await.0, 202);
    }
    node.commit(100).await;
    (node, green, p, openings)
}

fn path() -> String {
    format!("/v1/payments/{}/terms", uetr())
}

/// The signature headers of `who` for `method path` with `body`, signed
/// at `time_ms` for `chain`.
fn signed(
    who: &Party,
    chain: &waybill_core::genesis::ChainId,
    method: &str,
    path: &str,
    time_ms: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let r = SignedRequest::sign(&who.key, chain, method, path, time_ms, body);
    vec![
        (KEY_HEADER.into(), r.key.to_hex()),
        (TIME_HEADER.into(), r.time_ms.to_string()),
        (SIGNATURE_HEADER.into(), hex::encode(r.signature.0)),
    ]
}

/// `method path` with `body`, signed by `who` now.
async fn as_member(
    node: &TestNode,
    who: &Party,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> waybill_testnet::Response {
    let b = body.clone().unwrap_or_default();
    let headers = signed(who, &node.c.chain_id(), method, path, now(), &b);
    node.send_with(method, path, headers, body).await
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn assert_no_terms(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows `{s}`: {text}");
    }
}

#[tokio::test]
async fn public_answers_carry_no_term() {
    let (node, green, p, _) = paid().await;
    let (status, v) = node.get(&format!("/v1/payments/{}", uetr())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["payer"], serde_json::json!(node.c.payer.pk));
    assert!(!v["confirmed_by"].is_null(), "{v}");
    assert_eq!(v["terms_kept"], false);
    assert_eq!(v["commitments"].as_array().unwrap().len(), p.terms.len());
    assert_no_terms("GET /v1/payments/{id}", &v.to_string());
    let id = v["entry_id"].as_str().unwrap().to_owned();
    let (status, e) = node.get(&format!("/v1/entries/{id}")).await;
    assert_eq!(status, 200);
    assert_no_terms("GET /v1/entries/{id}", &e.to_string());
    let lot = encode_segment(&green.to_string());
    let (status, _, trail) = node.get_text(&format!("/v1/lots/{lot}/trail")).await;
    assert_eq!(status, 200);
    assert!(
        trail.contains(&uetr().to_string()),
        "the trail carries the payment"
    );
    assert_no_terms("the trail", &trail);
    let (status, v) = node
        .get(&format!("/v1/payments/{}", waybill_testkit::ids::uetr(78)))
        .await;
    assert_eq!(status, 404, "{v}");
}

#[tokio::test]
async fn only_signed_requests_of_parties_and_auditors_see_the_terms() {
    let (node, _, p, openings) = paid().await;
    let c = node.c.clone();
    let chain = c.chain_id();
    let path = path();
    let body = serde_json::to_vec(&openings).unwrap();

    // The payer keeps its terms on the node.
    let r = as_member(&node, &c.payer, "PUT", &path, Some(body.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let refused = |r: &waybill_testnet::Response, status: u16, what: &str| {
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_no_terms(what, &r.text());
        assert!(r.text().contains("\"error\""), "{what}: {}", r.text());
    };
    // Unsigned.
    let r = node.send_with("GET", &path, Vec::new(), None).await;
    refused(&r, 401, "an unsigned request");
    assert_eq!(r.header("www-authenticate"), Some("Waybill-Signature"));
    // Signed for another path, another chain, by a key that is not the one named.
    let other = format!("/v1/payments/{}/terms", waybill_testkit::ids::uetr(78));
    let r = node
        .send_with(
            "GET",
            &path,
            signed(&c.auditor, &chain, "GET", &other, now(), b""),
            None,
        )
        .await;
    refused(&r, 401, "a request signed for another path");
    let r = node
        .send_with(
            "GET",
            &path,
            signed(
                &c.auditor,
                &waybill_core::crypto::Hash32([9; 32]),
                "GET",
                &path,
                now(),
                b"",
            ),
            None,
        )
        .await;
    refused(&r, 401, "a request signed for another chain");
    let mut forged = signed(&c.auditor, &chain, "GET", &path, now(), b"");
    forged[0].1 = c.payer.pk.to_hex();
    let r = node.send_with("GET", &path, forged, None).await;
    refused(&r, 401, "a signature under another key");
    // Too old, and from the future.
    for skew in [-120_000, 120_000] {
        let r = node
            .send_with(
                "GET",
                &path,
                signed(&c.auditor, &chain, "GET", &path, now() + skew, b""),
                None,
            )
            .await;
        refused(&r, 401, "a request signed two minutes off");
    }
    // A member that is neither a party nor an auditor; a key that is no member.
    let r = as_member(&node, &c.processor, "GET", &path, None).await;
    refused(&r, 403, "a member with no business in the payment");
    let r = as_member(&node, &c.outsider, "GET", &path, None).await;
    refused(&r, 403, "an outsider");
    // An auditor may read but not change them.
    let r = as_member(&node, &c.auditor, "PUT", &path, Some(body.clone())).await;
    refused(&r, 403, "an auditor changing the terms");

    // The auditor's signed request gets them, once; they open the
    // commitments.
    let headers = signed(&c.auditor, &chain, "GET", &path, now(), b"");
    let r = node.send_with("GET", &path, headers.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let got: Openings = serde_json::from_value(v["terms"].clone()).unwrap();
    assert_eq!(got.verify(&p.payment_id, &p.terms).unwrap(), terms());
    let r = node.send_with("GET", &path, headers, None).await;
    refused(&r, 401, "a replayed request");
    // The payee too.
    let r = as_member(&node, &c.producer, "GET", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn terms_that_do_not_open_are_not_kept_and_erased_terms_are_gone() {
    let (node, green, _, openings) = paid().await;
    let c = node.c.clone();
    let path = path();
    let mut lie = openings.clone();
    lie.fields[0].value = "1".into();
    let body = serde_json::to_vec(&lie).unwrap();
    let r = as_member(&node, &c.payer, "PUT", &path, Some(body)).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("amount"), "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", &path, None).await;
    assert_eq!(r.status, 404, "{}", r.text());

    let body = serde_json::to_vec(&openings).unwrap();
    let r = as_member(&node, &c.producer, "PUT", &path, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The payee erases them: gone from the node, and the lot's trail still
    // verifies against the genesis.
    let r = as_member(&node, &c.producer, "DELETE", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"erased\":true"), "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", &path, None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let lot = encode_segment(&green.to_string());
    let (status, _, text) = node.get_text(&format!("/v1/lots/{lot}/trail")).await;
    assert_eq!(status, 200);
    let trail: waybill_core::trail::Trail = serde_json::from_str(&text).unwrap();
    let report = waybill_core::trail::verify(
        &c.genesis,
        &trail,
        waybill_core::trail::Policy {
            require_certificates: false,
        },
    )
    .unwrap();
    assert_eq!(report.payments.len(), 1);
    assert!(report.payments[0].confirmed.is_some());
}

/// `GET /v1/members/{key}/entries`: an auditor's (or the member's own)
/// signed request gets the member's entries, which verify; anyone else
/// gets 401 or 403.
#[tokio::test]
async fn a_members_entries_go_only_to_auditors_and_the_member() {
    let (node, _, _, _) = paid().await;
    let c = node.c.clone();
    let chain = c.chain_id();
    let path = format!("/v1/members/{}/entries", c.payer.pk.to_hex());
    let r = node.send_with("GET", &path, Vec::new(), None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = as_member(&node, &c.processor, "GET", &path, None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    for who in [&c.auditor, &c.payer] {
        let r = node
            .send_with(
                "GET",
                &path,
                signed(who, &chain, "GET", &path, now(), b""),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let t: waybill_core::trail::MemberTrail = serde_json::from_str(&r.text()).unwrap();
        // No certificates on this node's blocks: the shape is what is
        // checked here (the CLI's export, with certificates, in e2e).
        assert_eq!(t.member, c.payer.pk);
        assert!(t
            .items
            .iter()
            .any(|i| matches!(i.entry.entry.body, Body::SealedPayment(_))));
        assert_eq!(t.complete.len(), 2);
    }
}

#[tokio::test]
async fn a_periods_entries_go_only_to_auditors() {
    let (node, _, _, _) = paid().await;
    let c = node.c.clone();
    let chain = c.chain_id();
    let path = "/v1/period?from=0";
    let r = node.send_with("GET", path, Vec::new(), None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    // A party to the payment is no auditor.
    let r = as_member(&node, &c.payer, "GET", path, None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("only auditors"), "{}", r.text());
    // Signed for another query: the signature binds it.
    let headers = signed(&c.auditor, &chain, "GET", "/v1/period?from=1", now(), b"");
    let r = node.send_with("GET", path, headers, None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", "/v1/period?from=x", None).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", "/v1/period?from=9&to=5", None).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", path, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t: waybill_core::trail::PeriodTrail = serde_json::from_str(&r.text()).unwrap();
    assert_eq!((t.start_height, t.end_height), (0, t.tip_height));
    assert!(t
        .items
        .iter()
        .any(|i| matches!(i.entry.entry.body, Body::SealedPayment(_))));
    // Even an auditor's period carries no term: the terms stay off the
    // ledger.
    assert_no_terms("a period's export", &r.text());
}

/// A node holding a production whose certificate's digest is salted; the
/// entry, and the salts file its author keeps.
async fn certified() -> (
    TestNode,
    waybill_core::entry::SignedEntry,
    waybill_core::terms::DocumentSalts,
) {
    use waybill_core::terms::{document_digest, DocumentSalt, DocumentSalts, Salt, SALTS_FORMAT};
    let node = TestNode::start(Limits::default()).await;
    let c = &node.c;
    let mut s = Signer::new(c);
    let lot = waybill_core::gs1::LotId::batch(gtin_under(PRODUCER_PREFIX, 1), "CERT-1").unwrap();
    let salt = Salt(waybill_core::crypto::Hash32([9; 32]));
    let digest = document_digest(&salt, b"organic certificate 2026");
    let Body::Produce(mut p) = waybill_testkit::signer::produce_body(&lot, 1_000, &[]) else {
        panic!("a production");
    };
    p.certificates.push(waybill_core::entry::DocRef {
        sha256: digest,
        media_type: "application/pdf".into(),
        uri: None,
        label: Some("organic".into()),
    });
    let entry = s.sign(&c.producer, Body::Produce(p));
    assert_eq!(node.submit(&entry).await.0, 202);
    node.commit(100).await;
    let salts = DocumentSalts {
        format: SALTS_FORMAT.into(),
        version: 1,
        documents: vec![DocumentSalt {
            flag: "--certificate".into(),
            file: "organic.pdf".into(),
            label: Some("organic".into()),
            sha256: digest,
            salt,
        }],
    };
    (node, entry, salts)
}

#[tokio::test]
async fn document_salts_go_only_to_the_author_and_auditors() {
    let (node, entry, salts) = certified().await;
    let c = node.c.clone();
    let path = format!("/v1/entries/{}/salts", entry.id().to_hex());
    let body = serde_json::to_vec(&salts).unwrap();
    // Only the author keeps them there.
    let r = node
        .send_with("PUT", &path, Vec::new(), Some(body.clone()))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = as_member(&node, &c.auditor, "PUT", &path, Some(body.clone())).await;
    assert_eq!(r.status, 403, "{}", r.text());
    // A digest the entry does not reference is not kept.
    let mut other = salts.clone();
    other.documents[0].sha256 = waybill_core::crypto::Hash32([1; 32]);
    let r = as_member(
        &node,
        &c.producer,
        "PUT",
        &path,
        Some(serde_json::to_vec(&other).unwrap()),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = as_member(&node, &c.producer, "GET", &path, None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = as_member(&node, &c.producer, "PUT", &path, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The author and auditors get them; another member, or nobody, not.
    let r = node.send_with("GET", &path, Vec::new(), None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = as_member(&node, &c.processor, "GET", &path, None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!r.text().contains(&salts.documents[0].salt.0.to_hex()));
    for who in [&c.producer, &c.auditor] {
        let r = as_member(&node, who, "GET", &path, None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
        let got: waybill_core::terms::DocumentSalts =
            serde_json::from_value(v["salts"].clone()).unwrap();
        assert_eq!(got, salts);
    }
    // The public entry carries the salted digest and no salt.
    let r = node
        .send_with(
            "GET",
            &format!("/v1/entries/{}", entry.id().to_hex()),
            Vec::new(),
            None,
        )
        .await;
    assert!(!r.text().contains(&salts.documents[0].salt.0.to_hex()));
    // An auditor may not erase them; the author may, and they are gone.
    let r = as_member(&node, &c.auditor, "DELETE", &path, None).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = as_member(&node, &c.producer, "DELETE", &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"erased\":true"), "{}", r.text());
    let r = as_member(&node, &c.auditor, "GET", &path, None).await;
    assert_eq!(r.status, 404, "{}", r.text());
}

/// Waits up to 10 s for `node`'s kept terms of the test payment to be
/// `kept` (or not).
async fn wait_terms(node: &TestNode, kept: bool) -> bool {
    for _ in 0..100 {
        let has = node.shared.read().unwrap().has_terms(&uetr()).unwrap();
        if has == kept {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The payer keeps its terms on its own node, which passes them on, with
/// the payer's signature, to the payee's node and the auditor's, and not
/// to the node of a member who is neither; the payer's erasure follows
/// the same way.
#[tokio::test]
async fn terms_travel_only_to_the_nodes_of_the_parties_and_auditors() {
    use waybill_node::relay::{PeerConfig, Relay, RelayConfig};
    let (payee_node, _, _, openings) = paid().await;
    let (auditor_node, _, _, _) = paid().await;
    let (other_node, _, _, _) = paid().await;
    let c = consortium();
    let peer = |member: &waybill_core::crypto::PublicKey, node: &TestNode| PeerConfig {
        member: *member,
        api: format!("http://{}", node.addr),
    };
    let relay = Relay::new(&RelayConfig {
        ca_cert: None,
        peers: vec![
            peer(&c.producer.pk, &payee_node),
            peer(&c.auditor.pk, &auditor_node),
            peer(&c.processor.pk, &other_node),
        ],
    })
    .unwrap();
    let node = TestNode::serve_with(
        c.clone(),
        waybill_store::Ledger::create(waybill_store::MemBackend::new(), c.genesis.clone()).unwrap(),
        Limits::default(),
        Some(c.validator.key.clone()),
        relay,
    )
    .await;
    let (payer_node, _, _, _) = paid_on(node).await;
    let body = serde_json::to_vec(&openings).unwrap();
    let r = as_member(&payer_node, &c.payer, "PUT", &path(), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        wait_terms(&payee_node, true).await,
        "the payee's node has no terms"
    );
    assert!(
        wait_terms(&auditor_node, true).await,
        "the auditor's node has none"
    );
    // Sent at the same moment as the others, had it been sent at all.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!other_node
        .shared
        .read()
        .unwrap()
        .has_terms(&uetr())
        .unwrap());
    // A relayed request is not relayed again, and the receiving node
    // checks it as its own: the payee's node keeps what opens the
    // commitments, signed by a party.
    let kept = payee_node.shared.read().unwrap().terms(&uetr()).unwrap();
    assert_eq!(kept, Some(openings));

    // The payer's erasure reaches them too.
    let r = as_member(&payer_node, &c.payer, "DELETE", &path(), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        wait_terms(&payee_node, false).await,
        "the payee's node kept them"
    );
    assert!(
        wait_terms(&auditor_node, false).await,
        "the auditor's node kept them"
    );
}
