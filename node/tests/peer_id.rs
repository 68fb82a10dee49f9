//! `waybill_testnet::peer_id` (which writes `/p2p/<peer id>` into test
//! network configs without linking libp2p) computes the same peer ids as
//! libp2p does for the node (`waybill_consensus::peer_id`).

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use waybill_core::crypto::{public_key, PublicKey};

#[test]
fn testnet_peer_ids_are_libp2p_peer_ids() {
    let mut rng = ChaCha20Rng::seed_from_u64(24);
    let mut keys: Vec<PublicKey> = (0..32)
        .map(|_| public_key(&SigningKey::generate(&mut rng)))
        .collect();
    keys.push(public_key(&SigningKey::from_bytes(&[0; 32])));
    keys.push(public_key(&SigningKey::from_bytes(&[0xff; 32])));
    for key in &keys {
        let ours = waybill_testnet::peer_id(key).unwrap();
        let libp2p = waybill_consensus::peer_id(key).unwrap();
        assert_eq!(ours, libp2p, "key {}", key.to_hex());
    }
}

#[test]
fn both_refuse_bytes_that_are_no_key() {
    // Not the encoding of a curve point.
    let bad = (0u8..=255)
        .map(|b| PublicKey([b; 32]))
        .find(|k| k.verifying_key().is_err())
        .expect("some byte pattern is no point");
    assert!(waybill_testnet::peer_id(&bad).is_err());
    assert!(waybill_consensus::peer_id(&bad).is_err());
}
