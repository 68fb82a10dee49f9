//! The HTTP API end to end: a node on 127.0.0.1:0, entries submitted over
//! HTTP, blocks committed by calling `Shared::commit_block` directly (no
//! consensus yet).

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::*;
use waybill_core::gs1::LotId;
use waybill_core::rules::RuleError;
use waybill_core::trail::{self, Policy, Trail};
use waybill_node::Limits;
use waybill_testkit::entries;

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence in {v}"))
}

#[tokio::test]
async fn accepted_then_pending_then_final() {
    let mut node = TestNode::start(Limits::default()).await;
    let mut s = Signer::new(&node.c);
    let e = s.produce(&node.c.producer, &lot("LOT-A"), 600_000, &[]);
    let id = e.id().to_hex();

    let (status, v) = node.submit(&e).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["id"], id);
    // Accepted entries are handed to gossip.
    assert_eq!(node.gossiped(), Some(vec![e.clone()]));

    let (status, v) = node.get(&format!("/v1/entries/{id}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["entry"], serde_json::to_value(&e).unwrap());

    // The same entry again: still pending, not gossiped twice.
    let (status, v) = node.submit(&e).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(node.gossiped().is_none());

    let mut decided = node.shared.subscribe();
    let committed = node.commit(100).await;
    assert_eq!(committed.height, 1);
    assert_eq!(committed.entries, 1);
    assert_eq!(committed.mempool.committed, 1);
    assert!(decided.has_changed().unwrap());
    assert_eq!(*decided.borrow_and_update(), 1);

    let (status, v) = node.get(&format!("/v1/entries/{id}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "final");
    assert_eq!(v["height"], 1);
    assert_eq!(v["index"], 0);
    assert_eq!(v["entry"], serde_json::to_value(&e).unwrap());
    assert_eq!(node.shared.pool().len(), 0);

    // Once final, the same entry is a replay.
    let (status, v) = node.submit(&e).await;
    assert_eq!(status, 422, "{v}");
    assert!(error_of(&v).contains("was already used"), "{v}");
}

#[tokio::test]
async fn rule_breaking_entries_are_rejected_and_never_in_a_block() {
    let node = TestNode::start(Limits::default()).await;
    let mut s = Signer::new(&node.c);
    let produce = s.produce(&node.c.producer, &lot("LOT-A"), 600_000, &[]);
    assert_eq!(node.submit(&produce).await.0, 202);

    // The retailer does not hold LOT-A.
    let bad = s.dispatch(
        &node.c.retailer,
        &shipment("SHIP-1"),
        &[lot("LOT-A")],
        &node.c.carrier,
        None,
    );
    let (status, v) = node.submit(&bad).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["status"], "rejected");
    let expected = RuleError::NotCustodian {
        lot: lot("LOT-A"),
        author: node.c.retailer.name.clone(),
        custodian: node.c.producer.name.clone(),
    }
    .to_string();
    assert_eq!(error_of(&v), expected);

    // A lot nobody made.
    let unknown = s.sign_with_nonce(
        &node.c.producer,
        2,
        dispatch_body(
            &shipment("SHIP-2"),
            &[lot("LOT-NONE")],
            &node.c.retailer.pk,
            None,
        ),
    );
    let (status, v) = node.submit(&unknown).await;
    assert_eq!(status, 422, "{v}");
    assert!(error_of(&v).contains("LOT-NONE does not exist"), "{v}");

    // A forged signature.
    let mut forged = s.sign_with_nonce(&node.c.producer, 2, produce_body(&lot("LOT-F"), 1, &[]));
    forged.signature.0[5] ^= 0x40;
    let (status, v) = node.submit(&forged).await;
    assert_eq!(status, 422, "{v}");
    assert!(error_of(&v).contains("signature does not verify"), "{v}");

    node.commit(100).await;
    let (_, block) = node.get("/v1/blocks/1").await;
    let ids: Vec<String> = block["block"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_value::<waybill_core::entry::SignedEntry>(e.clone())
                .unwrap()
                .id()
                .to_hex()
        })
        .collect();
    assert_eq!(ids, vec![produce.id().to_hex()]);
    // The answer's three fields: the block, its certificate, its hash.
    let parsed: waybill_core::block::Block =
        serde_json::from_value(block["block"].clone()).unwrap();
    assert_eq!(block["hash"], parsed.header.hash().to_hex(), "{block}");
    assert_eq!(
        block
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["block".into(), "certificate".into(), "hash".into()])
    );
    for e in [&bad, &unknown, &forged] {
        let (status, v) = node.get(&format!("/v1/entries/{}", e.id())).await;
        assert_eq!(status, 404, "{v}");
        assert!(
            error_of(&v).contains("neither on this ledger nor waiting"),
            "{v}"
        );
    }
}

#[tokio::test]
async fn replayed_and_skipped_nonces_are_rejected() {
    let node = TestNode::start(Limits::default()).await;
    let mut s = Signer::new(&node.c);
    let first = s.produce(&node.c.producer, &lot("LOT-A"), 1_000, &[]);
    assert_eq!(node.submit(&first).await.0, 202);
    // The next nonce of an author with an entry waiting is accepted.
    let second = s.produce(&node.c.producer, &lot("LOT-B"), 1_000, &[]);
    assert_eq!(node.submit(&second).await.0, 202);

    let replay = s.sign_with_nonce(&node.c.producer, 1, produce_body(&lot("LOT-C"), 1_000, &[]));
    let (status, v) = node.submit(&replay).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        error_of(&v).contains("nonce 1 of `Finca La Esperanza` was already used"),
        "{v}"
    );
    assert!(error_of(&v).contains("the next nonce is 3"), "{v}");

    let gap = s.sign_with_nonce(&node.c.producer, 7, produce_body(&lot("LOT-D"), 1_000, &[]));
    let (status, v) = node.submit(&gap).await;
    assert_eq!(status, 422, "{v}");
    assert!(error_of(&v).contains("skips ahead"), "{v}");

    // After the commit, a replay of a committed nonce is still refused.
    node.commit(100).await;
    let (status, _) = node.submit(&replay).await;
    assert_eq!(status, 422);
}

/// `GET /v1/members/{key}/next-nonce`.
async fn next_nonce<B: waybill_store::Backend + 'static>(
    node: &TestNode<B>,
    key: &str,
) -> (u16, Value) {
    node.get(&format!("/v1/members/{key}/next-nonce")).await
}

/// A member's (next, committed, pending) nonces as the node answers them.
async fn nonces_of<B: waybill_store::Backend + 'static>(
    node: &TestNode<B>,
    who: &Party,
) -> (u64, u64, u64) {
    let (status, v) = next_nonce(node, &who.pk.to_hex()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["key"], who.pk.to_hex(), "{v}");
    assert_eq!(v["member"], who.name, "{v}");
    assert_eq!(v["chain_id"], node.c.chain_id.to_hex(), "{v}");
    let n = |field: &str| {
        v[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in {v}"))
    };
    (n("next_nonce"), n("committed_nonce"), n("pending"))
}

#[tokio::test]
async fn next_nonce_counts_the_authors_waiting_entries() {
    let node = TestNode::start(Limits::default()).await;
    let c = node.c.clone();
    let mut s = Signer::new(&c);
    assert_eq!(nonces_of(&node, &c.producer).await, (1, 0, 0));

    // Entries submitted one after another, each with the nonce the node
    // gave: every one is accepted, and counted at once.
    for (i, name) in (1u64..).zip(["LOT-A", "LOT-B", "LOT-C"]) {
        let (next, _, _) = nonces_of(&node, &c.producer).await;
        assert_eq!(next, i);
        let e = s.sign_with_nonce(&c.producer, next, produce_body(&lot(name), 1_000, &[]));
        let (status, v) = node.submit(&e).await;
        assert_eq!(status, 202, "{v}");
        assert_eq!(nonces_of(&node, &c.producer).await, (i + 1, 0, i));
    }
    // Another author's nonces are its own.
    assert_eq!(nonces_of(&node, &c.retailer).await, (1, 0, 0));
    // A block with the first entry: one committed, two waiting.
    node.commit(1).await;
    assert_eq!(nonces_of(&node, &c.producer).await, (4, 1, 2));
    node.commit(100).await;
    assert_eq!(nonces_of(&node, &c.producer).await, (4, 3, 0));
    // Upper-case hex names the same key.
    let (status, v) = next_nonce(&node, &c.producer.pk.to_hex().to_uppercase()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["next_nonce"], 4, "{v}");

    // A key that is not a member: 404, in the API's error shape.
    let (status, v) = next_nonce(&node, &c.outsider.pk.to_hex()).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(
        error_of(&v),
        format!("{} is not a member of this chain", c.outsider.pk)
    );

    // Not a key: 400.
    for bad in [
        "xyz".to_owned(),
        "ab".repeat(31),
        "ab".repeat(33),
        "zz".repeat(32),
        "%FF%FE".to_owned(),
    ] {
        let (status, v) = next_nonce(&node, &bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
        if bad != "%FF%FE" {
            assert!(error_of(&v).contains("64 hex digits"), "{bad}: {v}");
        }
    }

    // A member whose removal waits in the mempool signs nothing more.
    let [admin, cosigner, _] = &c.admins;
    let removal = entries::cosigned(
        s.sign(admin, entries::remove_member(&c.retailer.pk)),
        &[cosigner],
    );
    let (status, v) = node.submit(&removal).await;
    assert_eq!(status, 202, "{v}");
    let (status, v) = next_nonce(&node, &c.retailer.pk.to_hex()).await;
    assert_eq!(status, 404, "{v}");
    assert!(
        error_of(&v).contains("was removed or rotated out at height 3"),
        "{v}"
    );
    assert_eq!(nonces_of(&node, admin).await, (2, 0, 1));

    // The route is named in the answer for a path that has none.
    let (status, v) = node.get("/v1/members/x").await;
    assert_eq!(status, 404, "{v}");
    assert!(error_of(&v).contains("/v1/members/{key}/next-nonce"), "{v}");
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let node = TestNode::start(Limits::default()).await;
    let json = Some("application/json");

    let (status, v) = node
        .post_raw("/v1/entries", json, b"{not json".to_vec())
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        error_of(&v).starts_with("the body is not a signed entry: key must be a string"),
        "{v}"
    );

    let (status, v) = node
        .post_raw(
            "/v1/entries",
            json,
            br#"{"entry": 1, "signature": "00"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).contains("invalid type"), "{v}");

    let (status, v) = node.post_raw("/v1/entries", json, Vec::new()).await;
    assert_eq!(status, 400, "{v}");

    let (status, v) = node
        .post_raw("/v1/entries", json, vec![0xff, 0xfe, 0x00])
        .await;
    assert_eq!(status, 400, "{v}");

    let (status, v) = node
        .post_raw("/v1/entries", Some("text/plain"), b"{}".to_vec())
        .await;
    assert_eq!(status, 415, "{v}");
    assert!(
        error_of(&v).contains("Content-Type: application/json"),
        "{v}"
    );
    let (status, _) = node.post_raw("/v1/entries", None, b"{}".to_vec()).await;
    assert_eq!(status, 415);

    // 2 MB: refused before it is parsed.
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes();
    let (status, v) = node.post_raw("/v1/entries", json, huge).await;
    assert_eq!(status, 413, "{v}");
    assert!(
        error_of(&v).contains("larger than this node accepts"),
        "{v}"
    );

    // Paths.
    let (status, v) = node.get("/v1/entries/xyz").await;
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).contains("64 hex digits"), "{v}");
    let (status, v) = node.get(&format!("/v1/entries/{}", "ab".repeat(32))).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = node.get("/v1/blocks/abc").await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = node.get("/v1/blocks/0").await;
    assert_eq!(status, 400);
    let (status, v) = node.get("/v1/blocks/99999999999999999999999").await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = node.get("/v1/blocks/1").await;
    assert_eq!(status, 404, "{v}");
    assert!(error_of(&v).contains("its height is 0"), "{v}");
    let (status, v) = node.get("/v1/lots/%2801%29123/trail").await;
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).contains("is not a lot id"), "{v}");
    let (status, v) = node.get("/v1/lots/NOPE-1/trail").await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(error_of(&v), "lot NOPE-1 is not on this ledger");
    let (status, v) = node.get("/v1/lots/NOPE-1/forward").await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = node.get("/v1/lots/%FF%FE/trail").await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = node.get("/v2/nothing").await;
    assert_eq!(status, 404, "{v}");
    assert!(
        error_of(&v).contains("there is no endpoint GET /v2/nothing"),
        "{v}"
    );
    let r = node.send("DELETE", "/v1/status", None, None).await;
    assert_eq!(r.status, 405);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(error_of(&v).contains("DELETE is not allowed"), "{v}");

    // Nothing got in.
    assert_eq!(node.shared.pool().len(), 0);
    let (status, v) = node.get("/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(v["mempool"]["entries"], 0);
}

#[tokio::test]
async fn full_mempool_answers_503() {
    let node = TestNode::start(Limits {
        max_entries: 1,
        max_bytes: 1 << 20,
        author_share: 1,
    })
    .await;
    let mut s = Signer::new(&node.c);
    let a = s.produce(&node.c.producer, &lot("LOT-A"), 1_000, &[]);
    let b = s.produce(&node.c.producer, &lot("LOT-B"), 1_000, &[]);
    assert_eq!(node.submit(&a).await.0, 202);
    let (status, v) = node.submit(&b).await;
    assert_eq!(status, 503, "{v}");
    assert!(error_of(&v).contains("the mempool is full"), "{v}");
    node.commit(10).await;
    assert_eq!(node.submit(&b).await.0, 202);
}

#[tokio::test]
async fn a_member_flooding_the_mempool_is_held_to_its_share() {
    // Each member may have 2 of the 8 places.
    let node = TestNode::start(Limits {
        max_entries: 8,
        max_bytes: 1 << 24,
        author_share: 4,
    })
    .await;
    let mut s = Signer::new(&node.c);
    let mine: Vec<_> = (1..=4)
        .map(|n| s.produce(&node.c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
        .collect();
    assert_eq!(node.submit(&mine[0]).await.0, 202);
    assert_eq!(node.submit(&mine[1]).await.0, 202);
    let (status, v) = node.submit(&mine[2]).await;
    assert_eq!(status, 429, "{v}");
    assert!(
        error_of(&v).contains("its share of this node's mempool"),
        "{v}"
    );
    // A batch stops at the flooding member's first entry past its share.
    let (status, v) = submit_batch(&node, &[&mine[2], &mine[3]]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["status"], "author_full", "{v}");
    assert_eq!(v["results"][1]["status"], "not_attempted", "{v}");
    // Another member is still served, with room to spare.
    let other = s.produce(&node.c.processor, &lot("P-1"), 10, &[]);
    assert_eq!(node.submit(&other).await.0, 202);
    assert_eq!(node.shared.pool().len(), 3);
    // After a block, the flooding member may go on.
    node.commit(10).await;
    assert_eq!(node.submit(&mine[2]).await.0, 202);
}

/// Green coffee produced, shipped to the roaster, received, roasted into a
/// new lot; returns (green, roasted).
async fn coffee_story<B: waybill_store::Backend + 'static>(node: &TestNode<B>) -> (LotId, LotId) {
    let c = &node.c;
    let mut s = Signer::new(c);
    // Each under the GS1 company prefix of the member that makes it.
    let green = LotId::batch(gtin_under(PRODUCER_PREFIX, 1), "GREEN-1").unwrap();
    let roasted = LotId::batch(gtin_under(PROCESSOR_PREFIX, 2), "ROAST-1").unwrap();
    let ship = shipment("SHIP-1");
    let entries = vec![
        s.produce(&c.producer, &green, 600_000, &[]),
        s.dispatch(
            &c.producer,
            &ship,
            std::slice::from_ref(&green),
            &c.processor,
            None,
        ),
    ];
    for e in &entries {
        assert_eq!(node.submit(e).await.0, 202);
    }
    node.commit(100).await;
    let receive = s.receive(&c.processor, &ship);
    assert_eq!(node.submit(&receive).await.0, 202);
    // The roast consumes part of the green lot, in the same block as the receipt.
    let roast = s.produce(&c.processor, &roasted, 480_000, &[(green.clone(), 500_000)]);
    assert_eq!(node.submit(&roast).await.0, 202);
    let committed = node.commit(100).await;
    assert_eq!((committed.height, committed.entries), (2, 2));
    (green, roasted)
}

#[tokio::test]
async fn trail_verifies_and_forward_finds_the_roast() {
    let node = TestNode::start(Limits::default()).await;
    let (green, roasted) = coffee_story(&node).await;

    for form in [roasted.to_string(), roasted.digital_link().unwrap()] {
        let path = format!("/v1/lots/{}/trail", encode_segment(&form));
        let (status, v) = node.get(&path).await;
        assert_eq!(status, 200, "{form}: {v}");
        let t: Trail = serde_json::from_value(v).unwrap();
        assert_eq!(t.lot, roasted);
        assert_eq!(t.tip_height, 2);
        assert_eq!(t.items.len(), 4);
        let report = trail::verify(
            &node.c.genesis,
            &t,
            Policy {
                require_certificates: false,
            },
        )
        .unwrap_or_else(|e| panic!("the served trail does not verify: {e}"));
        assert_eq!(report.lot, roasted);
        // A node that edits the trail is caught.
        let mut forged = t.clone();
        forged.items.remove(1);
        assert!(trail::verify(
            &node.c.genesis,
            &forged,
            Policy {
                require_certificates: false
            }
        )
        .is_err());
    }

    let (status, v) = node
        .get(&format!(
            "/v1/lots/{}/forward",
            encode_segment(&green.to_string())
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["lot"], green.to_string());
    let made = v["made_from_it"].as_array().unwrap();
    assert_eq!(made.len(), 1, "{v}");
    assert_eq!(made[0]["lot"], roasted.to_string());
    let held = &made[0]["holdings"][0];
    assert_eq!(held["holder"], node.c.processor.name, "{v}");
    assert_eq!(held["holder_key"], node.c.processor.pk.to_hex());
    assert_eq!(held["status"], "held");
    assert_eq!(held["quantity"], "480");
    assert_eq!(made[0]["remaining"], "480");
    assert_eq!(made[0]["recalled"], false);
    assert_eq!(made[0]["unit"], "KGM");
    let (_, v) = node
        .get(&format!(
            "/v1/lots/{}/forward",
            encode_segment(&roasted.to_string())
        ))
        .await;
    assert_eq!(v["made_from_it"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn blocks_status_and_metrics() {
    let node = TestNode::start(Limits::default()).await;
    coffee_story(&node).await;
    node.shared.set_peers(3);

    let (status, v) = node.get("/v1/blocks/2").await;
    assert_eq!(status, 200, "{v}");
    let block: waybill_core::block::Block = serde_json::from_value(v["block"].clone()).unwrap();
    assert_eq!(block.header.height, 2);
    assert_eq!(block.entries.len(), 2);
    assert_eq!(v["hash"], block.header.hash().to_hex());
    assert!(v["certificate"].is_null());
    let (_, v1) = node.get("/v1/blocks/1").await;
    assert_eq!(block.header.prev_hash.to_hex(), v1["hash"]);

    // The canonical bytes on request: the same block, hash and entry ids
    // computed from them alone.
    let get_as =
        |path: &'static str, accept: &'static str| node.send("GET", path, Some(accept), None);
    for accept in [
        "application/octet-stream",
        "text/html, application/octet-stream;q=0.9",
    ] {
        let r = get_as("/v1/blocks/2", accept).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").unwrap(),
            "application/octet-stream"
        );
        assert_eq!(r.header("vary").unwrap(), "accept");
        let bytes = r.body;
        let decoded = waybill_core::block::Block::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(bytes.as_slice(), block.canonical_bytes().as_slice());
    }
    // Refused with q=0, or not named: JSON.
    for accept in [
        "application/octet-stream;q=0",
        "application/octet-stream; q=0.0, application/json",
        "application/json",
        "application/octet-streams",
    ] {
        let r = get_as("/v1/blocks/2", accept).await;
        assert_eq!(
            r.header("content-type").unwrap(),
            "application/json",
            "{accept}"
        );
        assert_eq!(r.header("vary").unwrap(), "accept");
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["hash"], block.header.hash().to_hex());
    }
    let r = get_as("/v1/blocks/3", "application/octet-stream").await;
    assert_eq!(r.status, 404);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        error_of(&v),
        "block 3 is not on this ledger (its height is 2)"
    );

    let (status, v) = node.get("/v1/status").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["chain_name"], "waybill-node-tests");
    assert_eq!(v["chain_id"], node.c.chain_id.to_hex());
    assert_eq!(v["height"], 2);
    assert_eq!(v["tip_hash"], block.header.hash().to_hex());
    assert_eq!(
        v["validators"][0]["public_key"],
        node.c.validator.pk.to_hex()
    );
    assert_eq!(v["validators"][0]["power"], 1);
    assert_eq!(v["gossip_peers"], 3);
    assert_eq!(v["mempool"]["entries"], 0);
    assert_eq!(v["mempool"]["max_entries"], 100_000);
    assert!(v["uptime_s"].is_u64());

    // A proposal built (empty: the mempool is), to see the step timed.
    let empty = node
        .shared
        .propose(3, T0 + 10_000, node.c.validator.pk)
        .unwrap();
    assert!(empty.entries.is_empty());

    // One rejection, to see it counted.
    let mut s = Signer::new(&node.c);
    let replay = s.produce(&node.c.producer, &lot("LOT-X"), 1, &[]);
    assert_eq!(node.submit(&replay).await.0, 422);

    let (status, ct, text) = node.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let samples = parse_exposition(&text);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
    };
    assert_eq!(value("waybill_height"), 2.0);
    assert_eq!(value("waybill_entries_finalized_total"), 4.0);
    assert_eq!(value("waybill_blocks_committed_total"), 2.0);
    assert_eq!(value("waybill_mempool_entries"), 0.0);
    assert_eq!(value("waybill_gossip_peers"), 3.0);
    assert_eq!(
        value("waybill_submissions_total{outcome=\"accepted\",reason=\"none\"}"),
        4.0
    );
    assert_eq!(
        value("waybill_submissions_total{outcome=\"rejected\",reason=\"nonce_replayed\"}"),
        1.0
    );
    assert!(
        value("waybill_http_requests_total{route=\"/v1/entries\",method=\"POST\",status=\"202\"}")
            >= 4.0
    );
    assert_eq!(
        value("waybill_http_requests_total{route=\"/v1/blocks/{height}\",method=\"GET\",status=\"200\"}"),
        8.0,
        "block 2 twice as bytes and five times as JSON, block 1 once"
    );
    // Each step of a height, timed: both commits and the one proposal.
    for (step, runs) in [("commit", 2.0), ("build", 1.0)] {
        let count = value(&format!(
            "waybill_block_step_seconds_count{{step=\"{step}\"}}"
        ));
        assert_eq!(count, runs, "{step}");
        assert!(
            value(&format!(
                "waybill_block_step_seconds_sum{{step=\"{step}\"}}"
            )) > 0.0
        );
        assert_eq!(
            value(&format!(
                "waybill_block_step_seconds_bucket{{le=\"+Inf\",step=\"{step}\"}}"
            )),
            runs
        );
    }
}

/// Parses an OpenMetrics text exposition into (series, value) pairs,
/// checking its shape on the way.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    assert!(text.ends_with("# EOF\n"), "no EOF marker");
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF",
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(series.starts_with("waybill_"), "{line:?}");
        out.push((series.to_owned(), value));
    }
    out
}

#[tokio::test]
async fn a_commit_drops_pending_entries_it_made_invalid() {
    let node = TestNode::start(Limits::default()).await;
    let c = &node.c;
    let mut s = Signer::new(c);
    let l = lot("LOT-A");
    assert_eq!(
        node.submit(&s.produce(&c.producer, &l, 1_000, &[])).await.0,
        202
    );
    node.commit(10).await;

    // This node holds a dispatch of LOT-A to the retailer (nonce 2)...
    let ours = s.sign_with_nonce(
        &c.producer,
        2,
        dispatch_body(
            &shipment("SHIP-1"),
            std::slice::from_ref(&l),
            &c.retailer.pk,
            None,
        ),
    );
    assert_eq!(node.submit(&ours).await.0, 202);
    // ...while another proposer's block ships LOT-A to the carrier.
    let theirs = s.sign_with_nonce(
        &c.producer,
        2,
        dispatch_body(
            &shipment("SHIP-2"),
            std::slice::from_ref(&l),
            &c.carrier.pk,
            None,
        ),
    );
    let committed = node.commit_entries(vec![theirs.clone()]).await;
    assert_eq!(committed.mempool.committed, 0);
    assert_eq!(committed.mempool.dropped.len(), 1);
    assert_eq!(committed.mempool.dropped[0].id, ours.id());

    let (status, _) = node.get(&format!("/v1/entries/{}", ours.id())).await;
    assert_eq!(status, 404);
    let (status, v) = node.get(&format!("/v1/entries/{}", theirs.id())).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("final")));
    // The pool is empty and the dropped entry never reaches a block.
    let committed = node.commit(10).await;
    assert_eq!(committed.entries, 0);
    let (_, text) = (0, node.get_text("/metrics").await.2);
    assert!(text.contains("waybill_mempool_dropped_total 1\n"), "{text}");
    assert!(
        text.contains("waybill_mempool_rechecked_total 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_sled_ledger_serves_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start_sled(&dir.path().join("ledger"), Limits::default()).await;
    let (_, roasted) = coffee_story(&node).await;
    let (status, v) = node
        .get(&format!(
            "/v1/lots/{}/trail",
            encode_segment(&roasted.to_string())
        ))
        .await;
    assert_eq!(status, 200);
    let t: Trail = serde_json::from_value(v).unwrap();
    trail::verify(
        &node.c.genesis,
        &t,
        Policy {
            require_certificates: false,
        },
    )
    .unwrap();
    let report = node.shared.read().unwrap().check().unwrap();
    assert_eq!((report.blocks, report.entries), (2, 4));
}

/// POSTs a JSON array of entries to the batch route.
async fn submit_batch<B: waybill_store::Backend + 'static>(
    node: &TestNode<B>,
    entries: &[&waybill_core::entry::SignedEntry],
) -> (u16, Value) {
    let body = serde_json::to_vec(entries).unwrap();
    node.post_raw("/v1/entries/batch", Some("application/json"), body)
        .await
}

#[tokio::test]
async fn a_batch_is_checked_entry_by_entry_in_order() {
    let mut node = TestNode::start(Limits::default()).await;
    let mut s = Signer::new(&node.c);
    let c = node.c.clone();
    // A dependent sequence in one batch: made, shipped, received.
    let a = s.produce(&c.producer, &lot("LOT-A"), 600_000, &[]);
    let ship = s.dispatch(
        &c.producer,
        &shipment("SHIP-1"),
        &[lot("LOT-A")],
        &c.retailer,
        None,
    );
    let recv = s.receive(&c.retailer, &shipment("SHIP-1"));
    // The retailer's next nonce, but it does not hold LOT-B.
    let bad = s.dispatch(
        &c.retailer,
        &shipment("SHIP-2"),
        &[lot("LOT-B")],
        &c.carrier,
        None,
    );
    let b = s.produce(&c.producer, &lot("LOT-B"), 1_000, &[]);
    let (status, v) = submit_batch(&node, &[&a, &ship, &recv, &bad, &b, &a]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 4, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for (r, e) in results.iter().zip([&a, &ship, &recv]) {
        assert_eq!(r["status"], "accepted", "{v}");
        assert_eq!(r["id"], e.id().to_hex());
    }
    assert_eq!(results[3]["status"], "rejected", "{v}");
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("LOT-B does not exist"),
        "{v}"
    );
    // A refused entry does not stop the batch: LOT-B is still made.
    assert_eq!(results[4]["status"], "accepted", "{v}");
    // The same entry twice: the second time it is already waiting.
    assert_eq!(results[5]["status"], "pending", "{v}");
    assert_eq!(results[5]["id"], a.id().to_hex());

    // Accepted entries are gossiped once each, in order, together.
    assert_eq!(
        node.gossiped(),
        Some(vec![a.clone(), ship.clone(), recv.clone(), b.clone()])
    );
    assert!(node.gossiped().is_none());

    // They are in the mempool in batch order, and make a valid block.
    let committed = node.commit(100).await;
    assert_eq!(committed.entries, 4);
    let (status, v) = node.get(&format!("/v1/entries/{}", recv.id())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "final");
    assert_eq!(v["index"], 2);
    // The refused one never made it anywhere.
    let (status, _) = node.get(&format!("/v1/entries/{}", bad.id())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_batch_stops_where_the_mempool_is_full() {
    let node = TestNode::start(Limits {
        max_entries: 2,
        max_bytes: 1 << 20,
        author_share: 1,
    })
    .await;
    let mut s = Signer::new(&node.c);
    let es: Vec<_> = (1..=4)
        .map(|n| s.produce(&node.c.producer, &lot(&format!("LOT-{n}")), 1_000, &[]))
        .collect();
    let (status, v) = submit_batch(&node, &es.iter().collect::<Vec<_>>()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    let statuses: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "accepted", "full", "not_attempted"]);
    assert!(
        v["results"][2]["error"]
            .as_str()
            .unwrap()
            .contains("the mempool is full"),
        "{v}"
    );
    // After a block, the rest goes in.
    node.commit(10).await;
    let (status, v) = submit_batch(&node, &[&es[2], &es[3]]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
}

#[tokio::test]
async fn bad_batches_get_json_errors() {
    let node = TestNode::start(Limits::default()).await;
    let json = Some("application/json");
    let mut s = Signer::new(&node.c);
    let a = s.produce(&node.c.producer, &lot("LOT-A"), 1_000, &[]);

    // Not JSON, not an array, an array with something else in it.
    for body in [
        b"[{not json".to_vec(),
        serde_json::to_vec(&a).unwrap(),
        format!("[{}, 5]", serde_json::to_string(&a).unwrap()).into_bytes(),
    ] {
        let (status, v) = node.post_raw("/v1/entries/batch", json, body).await;
        assert_eq!(status, 400, "{v}");
        assert!(
            error_of(&v).starts_with("the body is not a JSON array of signed entries"),
            "{v}"
        );
    }
    // Nothing was accepted from a batch that did not parse.
    assert_eq!(node.shared.pool().len(), 0);

    // Empty, and one entry too many.
    let (status, v) = node
        .post_raw("/v1/entries/batch", json, b"[]".to_vec())
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).contains("1 to 1000 entries"), "{v}");
    let many = vec![&a; waybill_node::api::MAX_BATCH_ENTRIES + 1];
    let (status, v) = submit_batch(&node, &many).await;
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).contains("this one 1001"), "{v}");
    assert_eq!(node.shared.pool().len(), 0);

    // Content type, size, method.
    let (status, v) = node
        .post_raw("/v1/entries/batch", Some("text/plain"), b"[]".to_vec())
        .await;
    assert_eq!(status, 415, "{v}");
    let limit = MAX_BODY * waybill_node::api::BATCH_BODY_FACTOR;
    let huge = format!("[\"{}\"]", "a".repeat(limit)).into_bytes();
    let (status, v) = node.post_raw("/v1/entries/batch", json, huge).await;
    assert_eq!(status, 413, "{v}");
    assert!(error_of(&v).contains("for a batch"), "{v}");
    // A batch larger than a single entry may be is fine.
    let two = format!("[\"{}\"]", "a".repeat(MAX_BODY)).into_bytes();
    let (status, v) = node.post_raw("/v1/entries/batch", json, two).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = node.get("/v1/entries/batch").await;
    assert_eq!(status, 405, "{v}");

    // The refusals were counted.
    let (_, _, text) = node.get_text("/metrics").await;
    assert!(
        text.contains("reason=\"bad_batch\""),
        "no bad_batch count in:\n{text}"
    );
}
