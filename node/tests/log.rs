//! The ledger's log over HTTP: checkpoints cosigned by the node, verified
//! as C2SP notes against the genesis, and consistency proofs between them.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::checkpoint::{self, Certified};
use waybill_core::crypto::Hash32;
use waybill_node::Limits;
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
    assert_eq!(
        tip.latest_time(),
        Some(tip_time as u64),
        "stamped with the block's time"
    );

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

    // Bad questions get a sentence.
    for (path, want) in [
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
