//! The ledger's log over HTTP: checkpoints cosigned by the node, verified
//! as C2SP notes against the genesis, and consistency proofs between them.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::checkpoint::{self, Certified};
use waybill_core::crypto::Hash32;
use waybill_node::Limits;
use waybill_store::{Ledger, MemBackend};
use waybill_testkit::certs::carried_cosignature;
use waybill_testkit::workload::workload;

async fn certified<B: waybill_store::Backend + 'static>(
    node: &TestNode<B>,
    path: &str,
) -> Certified {
    let (status, ct, text) = node.get_text(path).await;
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(ct, "text/plain; charset=utf-8");
    checkpoint::verify(
        text.as_bytes(),
        &node.c.chain_id,
        &node.c.genesis.validators,
    )
    .unwrap_or_else(|e| panic!("{path} does not verify: {e}\n{text}"))
}

fn hashes(v: &serde_json::Value) -> Vec<Hash32> {
    v["proof"]
        .as_array()
        .expect("a proof")
        .iter()
        .map(|h| h.as_str().expect("hex").parse().expect("a hash"))
        .collect()
}

#[tokio::test]
async fn checkpoints_are_cosigned_and_each_extends_the_last() {
    let node = TestNode::start(Limits::default()).await;
    let (status, v) = node.get("/v1/log/checkpoint").await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("no blocks yet"),
        "{v}"
    );

    let entries = workload(&node.c, 41, 90);
    let mut sizes = Vec::new();
    for chunk in entries.chunks(17) {
        node.commit_entries(chunk.to_vec()).await;
        sizes.push(sizes.last().copied().unwrap_or(0) + chunk.len() as u64);
    }
    let tip = certified(&node, "/v1/log/checkpoint").await;
    assert_eq!(tip.checkpoint.size, 90);
    assert_eq!(tip.checkpoint.height, sizes.len() as u64);
    assert_eq!(tip.cosigners.len(), 1);
    assert_eq!(tip.cosigners[0].0, node.c.validator.pk);
    let tip_time = node
        .shared
        .committed_header(tip.checkpoint.height)
        .unwrap()
        .unwrap()
        .time_ms
        / 1000;
    assert_eq!(tip.time, tip_time as u64, "stamped with the block's time");

    for (h, size) in (1..).zip(&sizes) {
        let old = certified(&node, &format!("/v1/log/checkpoint/{h}")).await;
        assert_eq!(old.checkpoint.size, *size);
        let path = format!("/v1/log/consistency/{size}/{}", tip.checkpoint.size);
        let (status, v) = node.get(&path).await;
        assert_eq!(status, 200, "{v}");
        checkpoint::check_consistency(&old.checkpoint, &tip.checkpoint, &hashes(&v))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // The same lines again: a second fetch signs the same message.
        let again = certified(&node, &format!("/v1/log/checkpoint/{h}")).await;
        assert_eq!(again, old);
    }

    // Every entry's place in the tip's log, proven.
    let mut leaf = 0u64;
    for (h, chunk) in (1..).zip(entries.chunks(17)) {
        for (i, e) in chunk.iter().enumerate() {
            let path = format!("/v1/log/inclusion/{h}/{i}/{}", tip.checkpoint.size);
            let (status, v) = node.get(&path).await;
            assert_eq!(status, 200, "{path}: {v}");
            assert_eq!(v["leaf"], leaf, "{path}");
            checkpoint::check_inclusion(&tip.checkpoint, leaf, &e.id(), &hashes(&v))
                .unwrap_or_else(|err| panic!("{path}: {err}"));
            leaf += 1;
        }
    }

    // Bad questions get a sentence.
    for (path, want) in [
        ("/v1/log/inclusion/1/17/90", 404),
        ("/v1/log/inclusion/99/0/90", 404),
        ("/v1/log/inclusion/1/0/91", 404),
        ("/v1/log/inclusion/2/0/17", 404),
        ("/v1/log/inclusion/1/x/90", 400),
        ("/v1/log/checkpoint/99", 404),
        ("/v1/log/checkpoint/0", 400),
        ("/v1/log/checkpoint/x", 400),
        ("/v1/log/consistency/9/3", 400),
        ("/v1/log/consistency/3/91", 404),
        ("/v1/log/consistency/a/3", 400),
    ] {
        let (status, v) = node.get(path).await;
        assert_eq!(status, want, "{path}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
    }
}

/// The cosignatures consensus decided a block with are served as its
/// checkpoint note, by any node: one that is no validator serves them
/// alone, and a validator's node adds its own line if it is not among
/// them. A block kept without any, on a node that cannot cosign, is a 404
/// with a sentence.
#[tokio::test]
async fn a_blocks_cosignatures_are_served_by_any_node_as_one_note() {
    let c = Consortium::builder()
        .chain_name("waybill-node-cosign")
        .build();
    let v: Vec<Party> = c.validators.iter().map(|(p, _)| p.clone()).collect();
    let entries = workload(&c, 42, 30);

    // A node with no key (a member's full node).
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    let full = TestNode::serve_as(c.clone(), ledger, Limits::default(), None).await;
    let (a, b, d) = (v[0].clone(), v[1].clone(), v[2].clone());
    full.commit_cosigned(entries[..20].to_vec(), move |cp| {
        vec![
            carried_cosignature(&a, cp, 5),
            carried_cosignature(&b, cp, 5),
            carried_cosignature(&d, cp, 5),
        ]
    })
    .await;
    full.commit_cosigned(entries[20..].to_vec(), |_| Vec::new())
        .await;
    let one = certified(&full, "/v1/log/checkpoint/1").await;
    assert_eq!(one.checkpoint.size, 20);
    let mut who: Vec<_> = one.cosigners.iter().map(|(k, t)| (*k, *t)).collect();
    who.sort();
    let mut want = vec![(v[0].pk, 5), (v[1].pk, 5), (v[2].pk, 5)];
    want.sort();
    assert_eq!(who, want);
    let (status, v2) = full.get("/v1/log/checkpoint/2").await;
    assert_eq!(status, 404, "{v2}");
    assert!(
        v2["error"]
            .as_str()
            .unwrap()
            .contains("without its validators' cosignatures"),
        "{v2}"
    );

    // validator-4's node: the kept lines of validators 1 and 3 (60 of
    // 100, not enough) and its own (10 more, enough).
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).expect("create");
    let four =
        TestNode::serve_as(c.clone(), ledger, Limits::default(), Some(v[3].key.clone())).await;
    let (a, d) = (v[0].clone(), v[2].clone());
    four.commit_cosigned(entries[..20].to_vec(), move |cp| {
        vec![
            carried_cosignature(&a, cp, 5),
            carried_cosignature(&d, cp, 5),
        ]
    })
    .await;
    let one = certified(&four, "/v1/log/checkpoint/1").await;
    assert_eq!(one.cosigners.len(), 3);
    let block_time = four.shared.committed_header(1).unwrap().unwrap().time_ms / 1000;
    assert!(one.cosigners.contains(&(v[3].pk, block_time as u64)));
}
