//! libp2p peer ids of node keys, computed without libp2p.
//!
//! A node's network identity is its ed25519 node key, so the peer ids in
//! `/p2p/<peer id>` follow from the genesis. libp2p encodes a public key
//! as a protobuf `PublicKey { Type = Ed25519 (1), Data = 32 bytes }`, and
//! a key that short (36 bytes, at most 42) becomes its peer id as an
//! identity multihash (code 0x00, the length, the bytes), written in
//! base58btc. `waybill_consensus::peer_id` computes the same with libp2p;
//! a test of `waybill-node` (`tests/peer_id.rs`) checks that they agree.

use waybill_core::crypto::PublicKey;

use crate::error::TestnetError;

/// The protobuf encoding of an ed25519 key's header: field 1 (key type,
/// varint) = 1 (Ed25519), field 2 (data, length-delimited) of 32 bytes.
const PROTOBUF_ED25519: [u8; 4] = [0x08, 0x01, 0x12, 0x20];

/// The identity multihash's code and its digest length (the protobuf
/// encoding: 4 + 32 bytes).
const IDENTITY_MULTIHASH: [u8; 2] = [0x00, 0x24];

/// The libp2p peer id (base58, as in `/p2p/<id>`) of a node key. Fails for
/// bytes that are not an ed25519 point (as libp2p does).
pub fn peer_id(key: &PublicKey) -> Result<String, TestnetError> {
    key.verifying_key()
        .map_err(|_| TestnetError::BadKey(key.short()))?;
    let mut bytes = Vec::with_capacity(IDENTITY_MULTIHASH.len() + PROTOBUF_ED25519.len() + 32);
    bytes.extend_from_slice(&IDENTITY_MULTIHASH);
    bytes.extend_from_slice(&PROTOBUF_ED25519);
    bytes.extend_from_slice(&key.0);
    Ok(bs58::encode(bytes).into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_peer_id_is_12d3koo_and_52_characters() {
        let key =
            waybill_core::crypto::public_key(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let id = peer_id(&key).unwrap();
        // Every ed25519 peer id starts so (the fixed prefix bytes).
        assert!(id.starts_with("12D3KooW"), "{id}");
        assert_eq!(id.len(), 52, "{id}");
        let decoded = bs58::decode(&id).into_vec().unwrap();
        assert_eq!(&decoded[..6], &[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        assert_eq!(&decoded[6..], &key.0);
    }

    #[test]
    fn bytes_that_are_no_point_are_refused() {
        // y = 2 is not on the curve.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert!(matches!(
            peer_id(&PublicKey(bad)),
            Err(TestnetError::BadKey(_))
        ));
    }
}
