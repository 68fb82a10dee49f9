//! The entry network on loopback: flooding, the allow list, validation and
//! size limits. Every node listens on a free port; every wait is bounded.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use support::*;
use waybill_core::entry::EncodedEntry;
use waybill_net::wire::encode_entries;
use waybill_net::{peer_id_of, NetError};

/// Starts `b` dialing nothing, then `a` and `c` dialing `b`: A – B – C.
async fn line() -> (Node, Node, Node) {
    let allowed = [1, 2, 3];
    let b = start(config(2, &allowed), &[], false).await;
    // One with the peer id in the address, one without.
    let a = start(config(1, &allowed), &[&b], true).await;
    let c = start(config(3, &allowed), &[&b], false).await;
    wait_until("the line has formed", || async {
        a.handle.topic_peers().await == 1
            && b.handle.topic_peers().await == 2
            && c.handle.topic_peers().await == 1
    })
    .await;
    (a, b, c)
}

/// Starts `b`, then `a` dialing it, both allowing keys 1 and 2.
async fn pair(config_b: waybill_net::NetConfig) -> (Node, Node) {
    let b = start(config_b, &[], false).await;
    let a = start(config(1, &[1, 2]), &[&b], true).await;
    wait_until("the pair has connected", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_published_at_one_end_of_a_line_arrives_at_the_other_exactly_once() {
    let (mut a, mut b, mut c) = line().await;
    assert_eq!(a.handle.peer_id(), peer_id_of(&pk(1)).unwrap());
    assert_eq!(a.handle.connected_peers(), 1);
    assert_eq!(b.handle.connected_peers(), 2);
    assert_eq!(c.handle.connected_peers(), 1);

    let entry = produce_entry(chain(), 1, 1, 0);
    a.handle.publish(&entry).await.unwrap();
    assert_eq!(next_entry(&mut c).await, entry);
    assert_eq!(next_entry(&mut b).await, entry);
    // Publishing it again is not an error and sends nothing new.
    a.handle.publish(&entry).await.unwrap();
    assert_quiet(&mut c, "C after the first copy").await;
    assert_quiet(&mut b, "B after the first copy").await;
    // A publisher does not receive its own entries.
    assert_quiet(&mut a, "A").await;

    // The other way round, from a different author.
    let back = produce_entry(chain(), 3, 1, 0);
    c.handle.publish(&back).await.unwrap();
    assert_eq!(next_entry(&mut a).await, back);
    assert_eq!(next_entry(&mut b).await, back);
    assert_eq!(a.handle.dropped_entries(), 0);
    shutdown(vec![a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_checks_the_entry_and_needs_no_peers() {
    let mut small = config(1, &[1, 2]);
    small.max_entry_bytes = 400;
    let node = start(small, &[], false).await;
    assert_eq!(node.handle.topic_peers().await, 0);
    // No one to send to: logged, not an error.
    node.handle
        .publish(&produce_entry(chain(), 1, 1, 0))
        .await
        .unwrap();
    // What peers would reject is refused here, before it costs us score.
    let err = node
        .handle
        .publish(&produce_entry(other_chain(), 1, 2, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("chain"), "{err}");
    let mut forged = produce_entry(chain(), 1, 3, 0);
    forged.signature.0[0] ^= 1;
    let err = node.handle.publish(&forged).await.unwrap_err();
    assert!(matches!(err, NetError::Invalid(_)), "{err}");
    let err = node
        .handle
        .publish(&produce_entry(chain(), 1, 4, 500))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::TooLarge { limit: 400, .. }),
        "{err}"
    );
    shutdown(vec![node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_key_is_not_allowed_cannot_connect_or_inject_entries() {
    let members = [1, 2];
    // X is an outsider that would accept the members.
    let x = start(config(9, &[1, 2, 9]), &[], false).await;
    let b = start(config(2, &members), &[], false).await;
    // A dials B and, by mistake, X: its own allow list refuses X.
    let mut a = start(config(1, &members), &[&b, &x], false).await;
    // Y is another outsider that dials both members, A by its peer id.
    let mut cy = config(8, &[1, 2, 8]);
    cy.peers.extend(addrs(&a, true).await);
    cy.peers.extend(addrs(&b, false).await);
    let y = start(cy, &[], false).await;
    let mut b = b;
    wait_until("A and B are connected", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;

    // Y keeps trying to inject entries, valid ones included (even one a
    // member signed), for a few seconds.
    for nonce in 1..=10u64 {
        y.handle
            .publish(&produce_entry(chain(), 8, nonce, 0))
            .await
            .unwrap();
        y.handle
            .publish(&produce_entry(chain(), 1, 100 + nonce, 0))
            .await
            .unwrap();
        x.handle
            .publish(&produce_entry(chain(), 9, nonce, 0))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    wait_until("the outsiders have no connections", || async {
        x.handle.connected_peers() == 0 && y.handle.connected_peers() == 0
    })
    .await;
    assert_eq!(x.handle.topic_peers().await, 0);
    assert_eq!(y.handle.topic_peers().await, 0);
    assert_eq!(a.handle.connected_peers(), 1);
    assert_eq!(b.handle.connected_peers(), 1);

    // The members still talk, and only their own entry arrives.
    let entry = produce_entry(chain(), 2, 1, 0);
    b.handle.publish(&entry).await.unwrap();
    assert_eq!(next_entry(&mut a).await, entry);
    assert_quiet(&mut a, "A after the members' entry").await;
    assert_quiet(&mut b, "B").await;
    shutdown(vec![a, b, x, y]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn badly_signed_and_malformed_messages_are_rejected_and_never_delivered() {
    let (a, mut b) = pair(config(2, &[1, 2])).await;

    let mut forged = produce_entry(chain(), 1, 1, 0);
    forged.signature.0[10] ^= 0x40;
    a.handle
        .publish_raw(encode_entries(&[forged]))
        .await
        .unwrap();
    a.handle
        .publish_raw(b"definitely not an entry".to_vec())
        .await
        .unwrap();
    // Messages on one connection arrive in order: once the good entry is
    // here, the bad ones were judged before it.
    let good = produce_entry(chain(), 1, 2, 0);
    a.handle.publish(&good).await.unwrap();
    assert_eq!(next_entry(&mut b).await, good);
    assert_quiet(&mut b, "B after the good entry").await;
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_for_another_chain_or_of_a_bad_shape_are_rejected() {
    let (a, mut b) = pair(config(2, &[1, 2])).await;

    let foreign = produce_entry(other_chain(), 1, 1, 0);
    a.handle
        .publish_raw(encode_entries(&[foreign]))
        .await
        .unwrap();
    // Correctly signed, but a format version this code does not accept.
    let mut entry = produce_entry(chain(), 1, 2, 0).entry;
    entry.version = 99;
    let wrong_version = entry.sign(&key(1));
    a.handle
        .publish_raw(encode_entries(&[wrong_version]))
        .await
        .unwrap();
    let good = produce_entry(chain(), 1, 3, 0);
    a.handle.publish(&good).await.unwrap();
    assert_eq!(next_entry(&mut b).await, good);
    assert_quiet(&mut b, "B after the good entry").await;
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_not_delivered() {
    let mut small = config(2, &[1, 2]);
    small.max_entry_bytes = 600;
    small.max_message_bytes = 2000;
    let (a, mut b) = pair(small).await;

    let big = produce_entry(chain(), 1, 1, 700);
    let fits = produce_entry(chain(), 1, 2, 0);
    assert!(big.canonical_bytes().len() > 600);
    assert!(fits.canonical_bytes().len() <= 600);
    // A's limit is the default, so it sends; B's validation refuses it.
    a.handle.publish(&big).await.unwrap();
    a.handle.publish(&fits).await.unwrap();
    assert_eq!(next_entry(&mut b).await, fits);
    // B will not even publish it.
    assert!(matches!(
        b.handle.publish(&big).await,
        Err(NetError::TooLarge { limit: 600, .. })
    ));
    // Far over B's frame limit: dropped when read, never validated.
    a.handle.publish_raw(vec![0xab; 10_000]).await.unwrap();
    assert_quiet(&mut b, "B after the oversized frame").await;
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_keeps_sending_invalid_messages_is_ignored() {
    let allowed = [1, 2, 3];
    let mut b = start(config(2, &allowed), &[], false).await;
    let a = start(config(1, &allowed), &[&b], true).await;
    let c = start(config(3, &allowed), &[&b], true).await;
    wait_until("A and C are connected to B", || async {
        b.handle.topic_peers().await == 2
    })
    .await;

    for i in 0..3u8 {
        a.handle.publish_raw(vec![0xee, i]).await.unwrap();
    }
    // B checks messages off its swarm task, so the penalties land a moment
    // after the messages; what A sends meanwhile still gets through.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // A's score at B is now below the graylist threshold: even its valid
    // entries are ignored for a while.
    let from_a = produce_entry(chain(), 1, 1, 0);
    a.handle.publish(&from_a).await.unwrap();
    // C is unaffected; its entry is the only one B delivers.
    let from_c = produce_entry(chain(), 3, 1, 0);
    c.handle.publish(&from_c).await.unwrap();
    assert_eq!(next_entry(&mut b).await, from_c);
    assert_quiet(&mut b, "B after C's entry").await;
    shutdown(vec![a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_peer_is_redialed() {
    let (a, b) = pair(config(2, &[1, 2])).await;
    let b_addr = b.handle.listen_addrs().await;
    shutdown(vec![b]).await;
    wait_until("A has noticed B is gone", || async {
        a.handle.connected_peers() == 0
    })
    .await;

    // B comes back on the same address; A dials it again by itself.
    let mut again = config(2, &[1, 2]);
    again.listen = b_addr;
    let mut b = start(again, &[], false).await;
    wait_until("A has re-dialed B", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;
    let entry = produce_entry(chain(), 1, 1, 0);
    a.handle.publish(&entry).await.unwrap();
    assert_eq!(next_entry(&mut b).await, entry);
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_published_before_any_peer_arrives_is_sent_when_one_subscribes() {
    // A node alone accepts an entry (its API already said yes)...
    let a = start(config(1, &[1, 2]), &[], false).await;
    let entry = produce_entry(chain(), 1, 1, 0);
    a.handle.publish(&entry).await.unwrap();
    assert_eq!(a.handle.topic_peers().await, 0);
    // ...and sends it as soon as a peer joins the topic.
    let mut b = start(config(2, &[1, 2]), &[&a], true).await;
    assert_eq!(next_entry(&mut b).await, entry);
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_arrives_whole_in_order_at_the_other_end_of_a_line() {
    let (a, mut b, mut c) = line().await;
    let batch: Vec<_> = (1..=50).map(|n| produce_entry(chain(), 1, n, 0)).collect();
    a.handle.publish_batch(&batch).await.unwrap();
    assert_eq!(next_batch(&mut c).await, batch);
    assert_eq!(next_batch(&mut b).await, batch);
    // The same batch again, from the bytes a node's API encoded, frames to
    // the same message, a duplicate: nothing new arrives.
    let encoded: Vec<_> = batch.iter().cloned().map(EncodedEntry::new).collect();
    a.handle.publish_verified(&encoded).await.unwrap();
    assert_quiet(&mut c, "C after the first copy").await;
    assert_quiet(&mut b, "B after the first copy").await;
    shutdown(vec![a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_split_to_fit_the_message_limit() {
    let mut b_cfg = config(2, &[1, 2]);
    b_cfg.max_entry_bytes = 600;
    b_cfg.max_message_bytes = 2000;
    let b = start(b_cfg, &[], false).await;
    let mut a_cfg = config(1, &[1, 2]);
    a_cfg.max_entry_bytes = 600;
    a_cfg.max_message_bytes = 2000;
    let a = start(a_cfg, &[&b], true).await;
    let mut b = b;
    wait_until("the pair has connected", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;
    let batch: Vec<_> = (1..=12).map(|n| produce_entry(chain(), 1, n, 0)).collect();
    let one = batch[0].canonical_bytes().len() + waybill_net::wire::ENTRY_HEADER;
    let per_message = (2000 - waybill_net::wire::BATCH_HEADER) / one;
    assert!((2..12).contains(&per_message), "{per_message}");
    a.handle.publish_batch(&batch).await.unwrap();
    let mut got = Vec::new();
    while got.len() < batch.len() {
        let part = next_batch(&mut b).await;
        assert!(part.len() <= per_message, "{} > {per_message}", part.len());
        got.extend(part);
    }
    got.sort_by_key(|e| e.entry.nonce);
    assert_eq!(got, batch);
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_forged_signature_is_not_forwarded_but_its_good_entries_are_kept() {
    let (a, mut b, mut c) = line().await;
    let good_1 = produce_entry(chain(), 1, 1, 0);
    let mut forged = produce_entry(chain(), 3, 1, 0);
    forged.signature.0[7] ^= 0x10;
    let good_2 = produce_entry(chain(), 1, 2, 0);
    // Only a faulty node sends this: publishing checks every entry.
    a.handle
        .publish_raw(encode_entries(&[
            good_1.clone(),
            forged.clone(),
            good_2.clone(),
        ]))
        .await
        .unwrap();
    // B refuses the message (so it does not reach C) but keeps the
    // entries whose authors signed them.
    assert_eq!(
        next_batch(&mut b).await,
        vec![good_1.clone(), good_2.clone()]
    );

    // An honest publisher's batch with a forgery in it: the good entries
    // go, the forgery is named.
    let good_3 = produce_entry(chain(), 1, 3, 0);
    let err = a
        .handle
        .publish_batch(&[forged.clone(), good_3.clone()])
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("signature"), "{err}");
    assert_eq!(next_batch(&mut b).await, vec![good_3.clone()]);
    assert_eq!(next_batch(&mut c).await, vec![good_3]);
    assert_quiet(&mut c, "C: the refused batch was not forwarded").await;
    assert_quiet(&mut b, "B").await;
    shutdown(vec![a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_entries_are_verified_with_the_gossip_checks() {
    let (a, mut b) = pair(config(2, &[1, 2])).await;
    let mut client: Vec<EncodedEntry> = (1..=4)
        .map(|n| EncodedEntry::new(produce_entry(chain(), 2, n, 0)))
        .collect();
    let mut forged = produce_entry(chain(), 2, 5, 0);
    forged.signature.0[9] ^= 4;
    client.insert(2, EncodedEntry::new(forged));
    let alone: Vec<_> = client
        .iter()
        .map(|e| e.entry().verify_signatures())
        .collect();
    assert!(alone[2].is_err() && alone.iter().filter(|v| v.is_ok()).count() == 4);
    let client = Arc::new(client);

    // With no message waiting, and with a peer's waiting for its check
    // (it waits tens of milliseconds for others; the client's check takes
    // it along), the verdicts are single verification's, and the peer's
    // entries are delivered as ever.
    assert_eq!(b.handle.verify(Arc::clone(&client)).await.unwrap(), alone);
    let peers: Vec<_> = (1..=3).map(|n| produce_entry(chain(), 1, n, 0)).collect();
    a.handle.publish_batch(&peers).await.unwrap();
    let verdicts = b.handle.verify(Arc::clone(&client)).await.unwrap();
    assert_eq!(verdicts, alone);
    assert_eq!(next_batch(&mut b).await, peers);
    // The check has let go of the client's entries.
    assert_eq!(Arc::strong_count(&client), 1);
    assert!(b
        .handle
        .verify(Arc::new(Vec::new()))
        .await
        .unwrap()
        .is_empty());
    shutdown(vec![a, b]).await;
}

/// A free loopback port (the listener is closed before the node binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_that_list_each_other_keep_one_connection_and_their_order() {
    // Each lists the other by address and id, and both start at once: two
    // connections would split the gossip queue and reorder messages.
    let ports = [free_port(), free_port()];
    let addr = |i: usize| -> libp2p::Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{}", ports[i]).parse().unwrap()
    };
    let mut configs = [config(1, &[1, 2]), config(2, &[1, 2])];
    for (i, c) in configs.iter_mut().enumerate() {
        let other = 1 - i;
        let id = waybill_net::peer_id_of(&pk(other as u8 + 1)).unwrap();
        c.listen = vec![addr(i)];
        c.peers = vec![addr(other).with(libp2p::multiaddr::Protocol::P2p(id))];
    }
    let [c1, c2] = configs;
    let (a, b) = tokio::join!(start(c1, &[], false), start(c2, &[], false));
    let (a, mut b) = (a, b);
    wait_until("the pair has connected", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;
    // Past the grace the other peer leaves for the first dial, and a re-dial.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(a.handle.connections(), 1, "A keeps one connection");
    assert_eq!(b.handle.connections(), 1, "B keeps one connection");

    // Many batches in a row arrive in the order they were published.
    let batches: Vec<Vec<_>> = (0..40u64)
        .map(|k| {
            (1..=25)
                .map(|n| produce_entry(chain(), 1, k * 25 + n, 0))
                .collect()
        })
        .collect();
    for batch in &batches {
        a.handle.publish_batch(batch).await.unwrap();
    }
    for batch in &batches {
        assert_eq!(&next_batch(&mut b).await, batch);
    }
    shutdown(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_the_middle_node_has_committed_are_dropped_unverified_and_not_passed_on() {
    // A – B – C, where B has committed author 1 up to nonce 3.
    let allowed = [1, 2, 3];
    let mut config_b = config(2, &allowed);
    let author = pk(1);
    config_b.settled = Some(std::sync::Arc::new(move |authors: &[_]| {
        authors
            .iter()
            .map(|a| if *a == author { 3 } else { 0 })
            .collect()
    }));
    let mut b = start(config_b, &[], false).await;
    let a = start(config(1, &allowed), &[&b], true).await;
    let mut c = start(config(3, &allowed), &[&b], true).await;
    wait_until("the line has formed", || async {
        a.handle.topic_peers().await == 1
            && b.handle.topic_peers().await == 2
            && c.handle.topic_peers().await == 1
    })
    .await;

    // Settled at B: neither delivered there nor forwarded to C.
    let old: Vec<_> = (1..=3).map(|n| produce_entry(chain(), 1, n, 0)).collect();
    a.handle.publish_batch(&old).await.unwrap();
    wait_until("B has counted them", || async {
        b.handle.settled_entries() == 3
    })
    .await;
    assert_quiet(&mut b, "B after settled entries").await;
    assert_quiet(&mut c, "C after settled entries").await;

    // The next nonces pass, and on to C.
    let new: Vec<_> = (4..=5).map(|n| produce_entry(chain(), 1, n, 0)).collect();
    a.handle.publish_batch(&new).await.unwrap();
    assert_eq!(next_batch(&mut b).await, new);
    assert_eq!(next_batch(&mut c).await, new);
    assert_eq!(b.handle.settled_entries(), 3);
    shutdown(vec![a, b, c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_follows_the_ledger_while_running() {
    // B allows only A (1) and itself (2) at first; N (3), a member added
    // later, dials B and is refused.
    let b = start(config(2, &[1, 2]), &[], false).await;
    let mut a = start(config(1, &[1, 2, 3]), &[&b], true).await;
    let mut n = start(config(3, &[1, 2, 3]), &[&b], true).await;
    let mut b = b;
    wait_until("A and B are connected", || async {
        a.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 1
    })
    .await;
    assert_eq!(n.handle.connected_peers(), 0);

    // The ledger adds N: B admits it, and N's redials get through.
    b.handle.set_allowed(&[pk(1), pk(2), pk(3)]).await.unwrap();
    wait_until("N is admitted", || async {
        n.handle.topic_peers().await == 1 && b.handle.topic_peers().await == 2
    })
    .await;
    let from_n = produce_entry(chain(), 3, 1, 0);
    n.handle.publish(&from_n).await.unwrap();
    assert_eq!(next_entry(&mut b).await, from_n);
    assert_eq!(next_entry(&mut a).await, from_n);

    // The ledger removes A: B disconnects it at once and refuses it after
    // (A keeps redialing); N and B still talk.
    b.handle.set_allowed(&[pk(2), pk(3)]).await.unwrap();
    wait_until("A is cut off", || async {
        a.handle.topic_peers().await == 0 && b.handle.topic_peers().await == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(a.handle.connected_peers(), 0, "A got back in");
    let from_a = produce_entry(chain(), 1, 1, 0);
    a.handle.publish(&from_a).await.unwrap();
    let from_n = produce_entry(chain(), 3, 2, 0);
    n.handle.publish(&from_n).await.unwrap();
    assert_eq!(next_entry(&mut b).await, from_n);
    assert_quiet(&mut b, "B after A was removed").await;
    assert_quiet(&mut n, "N").await;
    shutdown(vec![a, b, n]).await;
}
