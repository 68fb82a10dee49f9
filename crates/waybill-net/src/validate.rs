//! What every gossiped message must pass before it is delivered or spread.

use waybill_core::crypto::Hash32;
use waybill_core::entry::SignedEntry;
use waybill_core::rules;

/// Why a gossiped message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Longer than this node's `max_entry_bytes`.
    #[error("message is {len} bytes, more than the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// Not the canonical bytes of a signed entry.
    #[error("not a canonical signed entry: {0}")]
    Malformed(String),
    /// Fails a stateless rule (version, field bounds, ...).
    #[error("entry is malformed: {0}")]
    Shape(String),
    /// A signature does not verify.
    #[error("entry signatures do not verify: {0}")]
    Signature(String),
    /// For another chain.
    #[error("entry is for chain {got}, not this chain {want}")]
    WrongChain { got: Hash32, want: Hash32 },
}

/// Decodes and checks a message: bounded canonical decode, the stateless
/// rules, every signature and the chain id. Cheap checks come first, so a
/// flood of junk costs little; nothing here needs ledger state (the mempool
/// and the block rules judge nonces, membership and custody).
pub(crate) fn check(
    bytes: &[u8],
    chain_id: &Hash32,
    max_entry_bytes: usize,
) -> Result<SignedEntry, Refusal> {
    if bytes.len() > max_entry_bytes {
        return Err(Refusal::TooLarge {
            len: bytes.len(),
            limit: max_entry_bytes,
        });
    }
    let entry =
        SignedEntry::from_canonical_bytes(bytes).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if entry.entry.chain_id != *chain_id {
        return Err(Refusal::WrongChain {
            got: entry.entry.chain_id,
            want: *chain_id,
        });
    }
    rules::check_shape(&entry).map_err(|e| Refusal::Shape(e.to_string()))?;
    entry
        .verify_signatures()
        .map_err(|e| Refusal::Signature(e.to_string()))?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use waybill_core::codes::UnitCode;
    use waybill_core::crypto;
    use waybill_core::entry::{Body, Entry, Location, Produce, Product, Quantity, ENTRY_VERSION};

    fn entry(chain_id: Hash32, version: u16) -> SignedEntry {
        let key = SigningKey::from_bytes(&[5; 32]);
        Entry {
            version,
            chain_id,
            author: crypto::public_key(&key),
            nonce: 1,
            recorded_at_ms: 1_700_000_000_000,
            body: Body::Produce(Produce {
                lot: "LOT-1".parse().unwrap(),
                product: Product {
                    gtin: None,
                    id: None,
                    description: "cocoa beans".into(),
                },
                quantity: Quantity {
                    value: "5".parse().unwrap(),
                    unit: UnitCode::Kgm,
                },
                origin: Location::default(),
                produced_at_ms: 1_700_000_000_000,
                certificates: Vec::new(),
                documents: Vec::new(),
                inputs: Vec::new(),
            }),
        }
        .sign(&key)
    }

    #[test]
    fn each_kind_of_bad_message_is_refused_for_its_own_reason() {
        let chain = Hash32::digest(b"chain");
        let good = entry(chain, ENTRY_VERSION);
        let bytes = good.canonical_bytes();
        assert_eq!(check(&bytes, &chain, 1024), Ok(good.clone()));

        assert!(matches!(
            check(&bytes, &chain, bytes.len() - 1),
            Err(Refusal::TooLarge { .. })
        ));
        assert!(matches!(
            check(b"junk", &chain, 1024),
            Err(Refusal::Malformed(_))
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            check(&trailing, &chain, 1024),
            Err(Refusal::Malformed(_))
        ));
        let other = Hash32::digest(b"other");
        assert!(matches!(
            check(&entry(other, ENTRY_VERSION).canonical_bytes(), &chain, 1024),
            Err(Refusal::WrongChain { .. })
        ));
        assert!(matches!(
            check(&entry(chain, 7).canonical_bytes(), &chain, 1024),
            Err(Refusal::Shape(_))
        ));
        let mut forged = good;
        forged.signature.0[3] ^= 1;
        assert!(matches!(
            check(&forged.canonical_bytes(), &chain, 1024),
            Err(Refusal::Signature(_))
        ));
    }
}
