//! What every gossiped message must pass before it is delivered or spread.

use waybill_core::crypto::{BatchVerifier, Hash32, PublicKey};
use waybill_core::entry::{self, EncodedEntry, SignatureError, SignedEntry};
use waybill_core::rules;

use crate::received::{Received, SettledNonces};
use crate::wire;

/// Why a gossiped message (or one entry in it) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Longer than this node's limit.
    #[error("message is {len} bytes, more than the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// Not a batch of entries (see [`crate::wire`]).
    #[error("not an entry batch: {0}")]
    Frame(#[from] wire::WireError),
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

/// The checks that need no curve arithmetic: bounded canonical decode,
/// the chain id and the stateless rules ([`rules::check_shape`]).
pub(crate) fn check_unsigned(
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
    check_decoded(&entry, bytes.len(), chain_id)?;
    Ok(entry)
}

/// The chain id and the stateless rules, for an entry already decoded
/// from (or encoded to) `len` canonical bytes.
pub(crate) fn check_decoded(
    entry: &SignedEntry,
    len: usize,
    chain_id: &Hash32,
) -> Result<(), Refusal> {
    if entry.entry.chain_id != *chain_id {
        return Err(Refusal::WrongChain {
            got: entry.entry.chain_id,
            want: *chain_id,
        });
    }
    rules::check_shape_sized(entry, len).map_err(|e| Refusal::Shape(e.to_string()))
}

/// Decodes and checks one entry: [`check_unsigned`], then every signature.
/// Nothing here needs ledger state (the mempool and the block rules judge
/// nonces, membership and custody).
#[cfg(test)]
pub(crate) fn check(
    bytes: &[u8],
    chain_id: &Hash32,
    max_entry_bytes: usize,
) -> Result<SignedEntry, Refusal> {
    let entry = check_unsigned(bytes, chain_id, max_entry_bytes)?;
    entry
        .verify_signatures()
        .map_err(|e| Refusal::Signature(e.to_string()))?;
    Ok(entry)
}

/// The verdict on one gossiped batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Every entry of the batch that passed every check, in batch order.
    pub(crate) entries: Vec<Received>,
    /// The first problem found. Any problem rejects the whole message: it
    /// is not forwarded, and the peer that sent it is penalised, since a
    /// peer checks a batch before it forwards it and an honest one never
    /// sends a bad entry.
    pub(crate) refusal: Option<Refusal>,
    /// Entries left out, unverified, because their nonce was committed
    /// already (see [`crate::NetConfig::settled`]).
    pub(crate) settled: usize,
}

/// Checks one gossiped message, as [`check_batches`] does.
#[cfg(test)]
pub(crate) fn check_batch(
    bytes: &[u8],
    chain_id: &Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
) -> Verdict {
    check_batches(&[bytes], chain_id, max_entry_bytes, max_message_bytes, None)
        .pop()
        .unwrap_or(Verdict {
            entries: Vec::new(),
            refusal: None,
            settled: 0,
        })
}

/// Checks gossiped messages, one verdict each, in order: the framing, then
/// each entry (canonical decode, chain id, stateless rules), then every
/// signature of every entry of every message in one batch verification
/// (ZIP 215: the verdict single verification would give on each; a
/// larger batch costs less per signature). Cheap checks come first, so a
/// flood of junk costs little.
///
/// An entry that fails does not take the others down with it: its
/// message is refused, but every entry in it that passes on its own is
/// still returned, and the other messages are judged on their own. Each
/// entry carries its author's signature, so it is as good as from anyone
/// else, and an honest author whose entry a faulty peer batched with a
/// forgery does not lose it. (Only a faulty peer makes this node verify
/// signatures one at a time, and it is penalised for it.)
///
/// With `settled`, an entry whose nonce this node has committed is left
/// out before its signatures are queued, and counted in its verdict.
#[cfg(test)]
pub(crate) fn check_batches(
    messages: &[&[u8]],
    chain_id: &Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
    settled: Option<&SettledNonces>,
) -> Vec<Verdict> {
    check_batches_with(
        messages,
        chain_id,
        max_entry_bytes,
        max_message_bytes,
        settled,
        &[],
    )
    .0
}

/// [`check_batches`], with the signatures of `local` (clients' entries,
/// submitted to this node, in groups) verified in the same batch: also a
/// verdict per local entry, by group, exactly what
/// [`SignedEntry::verify_signatures`] gives. A failed batch is settled
/// message by message and entry by entry, so a peer's forgery costs a
/// local entry time, never its verdict.
pub(crate) fn check_batches_with(
    messages: &[&[u8]],
    chain_id: &Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
    settled: Option<&SettledNonces>,
    local: &[&[EncodedEntry]],
) -> (Vec<Verdict>, Vec<Vec<Result<(), SignatureError>>>) {
    let mut batch = BatchVerifier::new();
    let mut verdicts: Vec<Verdict> = messages
        .iter()
        .map(|bytes| {
            check_unsigned_batch(
                bytes,
                chain_id,
                max_entry_bytes,
                max_message_bytes,
                settled,
                &mut batch,
            )
        })
        .collect();
    let mut local_verdicts: Vec<Vec<Result<(), SignatureError>>> = local
        .iter()
        .map(|group| entry::queue_each(group, &mut batch))
        .collect();
    // Signatures queued for an entry refused above (co-signature order)
    // stay in the batch; if one is bad, the batch fails and the entries
    // kept are checked one by one.
    let ok = batch.verify(rand_core::OsRng).is_ok();
    if !ok {
        for verdict in &mut verdicts {
            let Verdict {
                entries, refusal, ..
            } = verdict;
            entries.retain(|r| match r.entry.verify_signatures() {
                Ok(()) => true,
                Err(err) => {
                    refusal.get_or_insert(Refusal::Signature(err.to_string()));
                    false
                }
            });
        }
    }
    for (group, verdicts) in local.iter().zip(&mut local_verdicts) {
        entry::settle_each(group, verdicts, ok);
    }
    (verdicts, local_verdicts)
}

/// A message's checks short of verifying signatures, which are queued in
/// `batch`: its entries that pass them (less the settled ones), and the
/// first problem found.
fn check_unsigned_batch(
    bytes: &[u8],
    chain_id: &Hash32,
    max_entry_bytes: usize,
    max_message_bytes: usize,
    settled: Option<&SettledNonces>,
    batch: &mut BatchVerifier,
) -> Verdict {
    let refused = |r: Refusal| Verdict {
        entries: Vec::new(),
        refusal: Some(r),
        settled: 0,
    };
    if bytes.len() > max_message_bytes {
        return refused(Refusal::TooLarge {
            len: bytes.len(),
            limit: max_message_bytes,
        });
    }
    let parts = match wire::decode_batch(bytes, max_entry_bytes) {
        Ok(p) => p,
        Err(e) => return refused(e.into()),
    };
    let decoded: Vec<(&[u8], Result<SignedEntry, Refusal>)> = parts
        .into_iter()
        .map(|part| (part, check_unsigned(part, chain_id, max_entry_bytes)))
        .collect();
    // One question for the whole message; an answer of the wrong length
    // settles nothing.
    let committed: Vec<u64> = settled
        .map(|settled| {
            let authors: Vec<PublicKey> = decoded
                .iter()
                .filter_map(|(_, e)| e.as_ref().ok().map(|e| e.entry.author))
                .collect();
            let nonces = settled(&authors);
            if nonces.len() == authors.len() {
                nonces
            } else {
                Vec::new()
            }
        })
        .unwrap_or_default();
    let mut committed = committed.into_iter();
    let mut verdict = Verdict {
        entries: Vec::with_capacity(decoded.len()),
        refusal: None,
        settled: 0,
    };
    for (part, checked) in decoded {
        let checked = checked.and_then(|e| {
            if committed.next().is_some_and(|last| e.entry.nonce <= last) {
                return Ok(None);
            }
            e.queue_signatures(batch)
                .map_err(|err| Refusal::Signature(err.to_string()))?;
            Ok(Some(e))
        });
        match checked {
            Ok(Some(entry)) => verdict.entries.push(Received {
                id: Hash32::digest(part),
                len: part.len(),
                entry,
            }),
            Ok(None) => verdict.settled += 1,
            Err(r) => {
                verdict.refusal.get_or_insert(r);
            }
        }
    }
    verdict
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

    /// An entry for `chain` signed by key `seed` with `nonce`.
    fn by(chain: Hash32, seed: u8, nonce: u64) -> SignedEntry {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let mut e = entry(chain, ENTRY_VERSION).entry;
        e.author = crypto::public_key(&key);
        e.nonce = nonce;
        e.sign(&key)
    }

    #[test]
    fn a_batch_is_checked_whole_and_a_bad_entry_spoils_only_the_message() {
        let chain = Hash32::digest(b"chain");
        let make = |seed: u8, nonce: u64| by(chain, seed, nonce);
        let good: Vec<SignedEntry> = (1..=20).map(|n| make((n % 3) as u8 + 1, n)).collect();
        let bytes = crate::wire::encode_entries(&good);
        let entries_of = |v: &Verdict| -> Vec<SignedEntry> {
            v.entries.iter().map(|r| r.entry.clone()).collect()
        };
        let v = check_batch(&bytes, &chain, 1024, 1 << 20);
        assert_eq!(v.refusal, None);
        assert_eq!(entries_of(&v), good);
        for (r, e) in v.entries.iter().zip(&good) {
            assert_eq!((r.id, r.len), (e.id(), e.canonical_bytes().len()));
        }

        // One forged signature: the message is refused, the rest kept.
        let mut forged = good.clone();
        forged[7].signature.0[0] ^= 1;
        let v = check_batch(&crate::wire::encode_entries(&forged), &chain, 1024, 1 << 20);
        assert!(matches!(v.refusal, Some(Refusal::Signature(_))), "{v:?}");
        let mut kept = good.clone();
        kept.remove(7);
        assert_eq!(entries_of(&v), kept);

        // An entry for another chain, and one that is not canonical.
        let mut mixed: Vec<Vec<u8>> = good.iter().map(SignedEntry::canonical_bytes).collect();
        mixed[0] = entry(Hash32::digest(b"other"), ENTRY_VERSION).canonical_bytes();
        mixed[1].push(0);
        let v = check_batch(&crate::wire::encode_batch(&mixed), &chain, 1024, 1 << 20);
        assert!(
            matches!(v.refusal, Some(Refusal::WrongChain { .. })),
            "{v:?}"
        );
        assert_eq!(entries_of(&v), good[2..].to_vec());

        // Bad framing or size: nothing at all.
        let v = check_batch(&bytes[..bytes.len() - 1], &chain, 1024, 1 << 20);
        assert!(matches!(v.refusal, Some(Refusal::Frame(_))), "{v:?}");
        assert!(v.entries.is_empty());
        let v = check_batch(&bytes, &chain, 1024, bytes.len() - 1);
        assert!(matches!(v.refusal, Some(Refusal::TooLarge { .. })), "{v:?}");
        assert!(v.entries.is_empty());
        // A single entry's bytes, as version 1 of the network sent them.
        let v = check_batch(&good[0].canonical_bytes(), &chain, 1024, 1 << 20);
        assert!(matches!(v.refusal, Some(Refusal::Frame(_))), "{v:?}");
    }

    #[test]
    fn messages_checked_together_are_judged_each_on_its_own() {
        let chain = Hash32::digest(b"chain");
        let make = |seed: u8, nonce: u64| by(chain, seed, nonce);
        let messages: Vec<Vec<SignedEntry>> = (0..4u64)
            .map(|m| {
                (1..=5)
                    .map(|n| make((n % 2) as u8 + 1, m * 10 + n))
                    .collect()
            })
            .collect();
        let framed = |msgs: &[Vec<SignedEntry>]| -> Vec<Vec<u8>> {
            msgs.iter()
                .map(|m| crate::wire::encode_entries(m))
                .collect()
        };
        let check_all = |bytes: &[Vec<u8>]| -> Vec<Verdict> {
            let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
            check_batches(&refs, &chain, 1024, 1 << 20, None)
        };
        let entries_of = |v: &Verdict| -> Vec<SignedEntry> {
            v.entries.iter().map(|r| r.entry.clone()).collect()
        };

        let verdicts = check_all(&framed(&messages));
        assert_eq!(verdicts.len(), 4);
        for (v, m) in verdicts.iter().zip(&messages) {
            assert_eq!(v.refusal, None);
            assert_eq!(&entries_of(v), m);
        }

        // A forgery in the second message and junk as the fourth: only
        // those two are refused, and the forged message keeps the rest.
        let mut forged = messages.clone();
        forged[1][2].signature.0[0] ^= 1;
        let mut bytes = framed(&forged);
        bytes[3] = b"junk".to_vec();
        let verdicts = check_all(&bytes);
        assert_eq!(verdicts.len(), 4);
        let judged = |i: usize| (verdicts[i].refusal.clone(), entries_of(&verdicts[i]));
        assert_eq!(judged(0), (None, messages[0].clone()));
        assert_eq!(judged(2), (None, messages[2].clone()));
        let mut kept = messages[1].clone();
        kept.remove(2);
        assert!(matches!(judged(1), (Some(Refusal::Signature(_)), e) if e == kept));
        assert!(matches!(judged(3), (Some(Refusal::Frame(_)), e) if e.is_empty()));
        assert!(check_all(&[]).is_empty());
    }

    #[test]
    fn clients_entries_checked_with_messages_get_single_verification_verdicts() {
        let chain = Hash32::digest(b"chain");
        let make = |seed: u8, nonce: u64| by(chain, seed, nonce);
        let encoded = |v: &[SignedEntry]| -> Vec<EncodedEntry> {
            v.iter().cloned().map(EncodedEntry::new).collect()
        };
        let alone = |v: &[EncodedEntry]| -> Vec<Result<(), SignatureError>> {
            v.iter().map(|e| e.entry().verify_signatures()).collect()
        };
        let message: Vec<SignedEntry> = (1..=6).map(|n| make(1, n)).collect();
        let good = encoded(&(1..=4).map(|n| make(2, n)).collect::<Vec<_>>());
        let mut client = good.clone();
        let mut forged = make(3, 1);
        forged.signature.0[5] ^= 1;
        client[1] = EncodedEntry::new(forged);
        // A co-signature out of order is refused before any arithmetic.
        let mut unordered = make(3, 2);
        let k = SigningKey::from_bytes(&[4; 32]);
        let cosig = crypto::sign(
            &k,
            crypto::Domain::Cosign,
            &unordered.entry.canonical_bytes(),
        );
        let twice = waybill_core::entry::Cosignature {
            signer: crypto::public_key(&k),
            signature: cosig,
        };
        unordered.cosignatures = vec![twice.clone(), twice];
        client[3] = EncodedEntry::new(unordered);
        let expected = alone(&client);
        assert!(expected[0].is_ok() && expected[2].is_ok(), "{expected:?}");
        assert_eq!(expected[1], Err(SignatureError::BadSignature));
        assert_eq!(expected[3], Err(SignatureError::CosignatureOrder));

        let bytes = crate::wire::encode_entries(&message);
        let mut forged_message = message.clone();
        forged_message[2].signature.0[0] ^= 1;
        let forged_bytes = crate::wire::encode_entries(&forged_message);
        let groups: [&[EncodedEntry]; 2] = [&good, &client];
        // With a good message, a bad one, and none; the clients' groups
        // alone, and none at all.
        for messages in [vec![&bytes[..]], vec![&forged_bytes[..]], Vec::new()] {
            for local in [&groups[..], &groups[..1], &groups[1..], &[]] {
                let (verdicts, locals) =
                    check_batches_with(&messages, &chain, 1024, 1 << 20, None, local);
                let refs: Vec<&[u8]> = messages.clone();
                assert_eq!(verdicts, check_batches(&refs, &chain, 1024, 1 << 20, None));
                let want: Vec<Vec<Result<(), SignatureError>>> =
                    local.iter().map(|g| alone(g)).collect();
                assert_eq!(locals, want);
            }
        }
    }

    #[test]
    fn entries_whose_nonce_is_committed_are_left_out_unverified() {
        let chain = Hash32::digest(b"chain");
        // Author 1 wrote nonces 1 to 5, author 2 nonces 1 to 3.
        let mut entries: Vec<SignedEntry> = (1..=5).map(|n| by(chain, 1, n)).collect();
        entries.extend((1..=3).map(|n| by(chain, 2, n)));
        let (one, two) = (entries[0].entry.author, entries[5].entry.author);
        // Committed: author 1 up to nonce 3, author 2 none.
        let settled = move |authors: &[PublicKey]| -> Vec<u64> {
            authors
                .iter()
                .map(|a| if *a == one { 3 } else { 0 })
                .collect()
        };
        let check = |entries: &[SignedEntry], settled: &SettledNonces| -> Verdict {
            let bytes = crate::wire::encode_entries(entries);
            check_batches(&[&bytes], &chain, 1024, 1 << 20, Some(settled))
                .pop()
                .expect("a verdict")
        };
        let kept = |v: &Verdict| -> Vec<SignedEntry> {
            v.entries.iter().map(|r| r.entry.clone()).collect()
        };

        let v = check(&entries, &settled);
        assert_eq!((v.refusal.clone(), v.settled), (None, 3));
        assert_eq!(kept(&v), entries[3..].to_vec());
        assert_eq!(v.entries[0].entry.entry.author, one);
        assert!(v
            .entries
            .iter()
            .skip(2)
            .all(|r| r.entry.entry.author == two));

        // A settled entry's signature is not verified (it is not kept
        // either); a fresh one's still is.
        let mut forged = entries.clone();
        forged[1].signature.0[0] ^= 1;
        let v = check(&forged, &settled);
        assert_eq!((v.refusal.clone(), v.settled), (None, 3));
        forged[6].signature.0[0] ^= 1;
        let v = check(&forged, &settled);
        assert!(matches!(v.refusal, Some(Refusal::Signature(_))));
        assert_eq!(v.settled, 3);
        assert!(!kept(&v).contains(&forged[6]));

        // An answer of the wrong length settles nothing.
        let v = check(&entries, &|_: &[PublicKey]| vec![9]);
        assert_eq!((v.refusal.clone(), v.settled), (None, 0));
        assert_eq!(kept(&v), entries);
    }
}
