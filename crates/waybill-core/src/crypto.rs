//! Hashes, keys and domain-separated signatures.
//!
//! All three are fixed-size byte strings. In human-readable forms (JSON,
//! TOML) they are lower-case hex; in canonical bytes they are raw bytes.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a hex key, hash or signature did not parse, or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text is not hex of the right length.
    #[error("`{text}` is not a valid {what}: expected {len} hex digits")]
    BadHex {
        /// What was being parsed.
        what: &'static str,
        /// The input, shortened.
        text: String,
        /// Hex digits expected.
        len: usize,
    },
    /// The bytes are not a valid ed25519 public key.
    #[error("{0} is not a valid ed25519 public key")]
    BadPublicKey(String),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// The domain a signature belongs to. The tag is prepended to the signed
/// bytes, so a signature made for one purpose is worthless for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// An author's signature on an entry.
    Entry,
    /// A co-signature on an entry (membership changes).
    Cosign,
    /// A block header's hash.
    Header,
    /// An auditor's signature on an audit bundle.
    Bundle,
    /// A validator's consensus vote.
    Vote,
    /// A consensus proposal.
    Proposal,
    /// A proposer's signature over a streamed block.
    ProposalPart,
    /// A validator's signed proof that it owns a network identity.
    ValidatorProof,
    /// A consensus vote extension.
    VoteExtension,
    /// The chain id (hash of the genesis).
    Genesis,
    /// A sealed payment term's commitment.
    Terms,
    /// A member's signed read request to a node's API.
    Request,
    /// A document's salted digest.
    Document,
    /// An auditor's signature on a member's or a period's export.
    Export,
}

impl Domain {
    /// The tag bytes.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Domain::Entry => b"waybill/v1/entry\0",
            Domain::Cosign => b"waybill/v1/cosign\0",
            Domain::Header => b"waybill/v1/header\0",
            Domain::Bundle => b"waybill/v1/bundle\0",
            Domain::Vote => b"waybill/v1/vote\0",
            Domain::Proposal => b"waybill/v1/proposal\0",
            Domain::ProposalPart => b"waybill/v1/proposal-part\0",
            Domain::ValidatorProof => b"waybill/v1/validator-proof\0",
            Domain::VoteExtension => b"waybill/v1/vote-extension\0",
            Domain::Genesis => b"waybill/v1/genesis\0",
            Domain::Terms => b"waybill/v1/terms\0",
            Domain::Request => b"waybill/v1/request\0",
            Domain::Document => b"waybill/v1/document\0",
            Domain::Export => b"waybill/v1/export\0",
        }
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        Hash32(Sha256::digest(bytes).into())
    }

    /// SHA-256 of `domain tag || bytes`.
    pub fn digest_in(domain: Domain, bytes: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(domain.tag());
        h.update(bytes);
        Hash32(h.finalize().into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        with_hex(&self.0, str::to_owned)
    }

    /// The first 8 hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

/// An ed25519 public key (32 bytes). Validity as a curve point is checked
/// when it is used to verify, and by genesis validation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The dalek verifying key, or an error if the bytes are not a point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::BadPublicKey(self.to_hex()))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        with_hex(&self.0, str::to_owned)
    }

    /// The first 8 hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Checks that the key may be registered (a member, an admin or a
    /// validator): a canonical encoding of a point that is not of small
    /// order. A small-order key would let anyone sign for it, and a second
    /// encoding of the same point would be a second identity.
    pub fn check_registrable(&self) -> Result<(), CryptoError> {
        let key = self.verifying_key()?;
        if key.is_weak() || key.to_edwards().compress().to_bytes() != self.0 {
            return Err(CryptoError::BadPublicKey(self.to_hex()));
        }
        Ok(())
    }

    /// Verifies `signature` over `domain tag || message`.
    ///
    /// The rules are ZIP 215's: the cofactored equation, a canonical `s`
    /// (so nobody but the signer can make a second valid signature), and
    /// exactly the same verdict as [`BatchVerifier`], so a block checked in
    /// a batch and an entry checked alone can never disagree. Keys are
    /// checked for small order where they are registered
    /// ([`PublicKey::check_registrable`]), not here.
    pub fn verify(
        &self,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let mut buf = Vec::with_capacity(domain.tag().len() + message.len());
        buf.extend_from_slice(domain.tag());
        buf.extend_from_slice(message);
        self.verify_raw(&buf, signature)
    }

    /// Verifies `signature` over `message` with no domain tag, by the same
    /// rules as [`PublicKey::verify`]. Only for formats fixed by others
    /// (the consensus engine's validator proofs).
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        let key = ed25519_zebra::VerificationKey::try_from(self.0)
            .map_err(|_| CryptoError::BadPublicKey(self.to_hex()))?;
        key.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// Verifies many signatures at once (ZIP 215 batch verification, several
/// times faster per signature than one at a time, more so when keys
/// repeat). It accepts a batch exactly when [`PublicKey::verify`] would
/// accept every signature in it, except with negligible probability; on a
/// failure, verify one at a time to find the culprit.
#[derive(Default)]
pub struct BatchVerifier {
    inner: ed25519_zebra::batch::Verifier,
    len: usize,
}

impl fmt::Debug for BatchVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BatchVerifier({} signatures)", self.len)
    }
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `signature` by `key` over `domain tag || message`.
    pub fn queue(
        &mut self,
        key: &PublicKey,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) {
        let mut buf = Vec::with_capacity(domain.tag().len() + message.len());
        buf.extend_from_slice(domain.tag());
        buf.extend_from_slice(message);
        let item = ed25519_zebra::batch::Item::from((
            ed25519_zebra::VerificationKeyBytes::from(key.0),
            ed25519_zebra::Signature::from_bytes(&signature.0),
            &buf,
        ));
        self.inner.queue(item);
        self.len += 1;
    }

    /// Signatures queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none are queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Verifies the batch. `rng` supplies the random coefficients; pass a
    /// cryptographic generator (the verdict does not depend on it, except
    /// with negligible probability). Only a 32-byte seed is drawn from
    /// `rng`: the 16 bytes per signature come from a ChaCha20 stream on
    /// that seed, because drawing each from the operating system costs a
    /// system call per signature.
    pub fn verify<R: rand_core::RngCore + rand_core::CryptoRng>(
        self,
        mut rng: R,
    ) -> Result<(), CryptoError> {
        use rand_core::SeedableRng;
        if self.len == 0 {
            return Ok(());
        }
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        self.inner
            .verify(rand_chacha::ChaCha20Rng::from_seed(seed))
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl From<&VerifyingKey> for PublicKey {
    fn from(k: &VerifyingKey) -> Self {
        PublicKey(k.to_bytes())
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

/// Signs `domain tag || message`. Deterministic (RFC 8032), so pure.
pub fn sign(key: &SigningKey, domain: Domain, message: &[u8]) -> Signature {
    let mut buf = Vec::with_capacity(domain.tag().len() + message.len());
    buf.extend_from_slice(domain.tag());
    buf.extend_from_slice(message);
    Signature(key.sign(&buf).to_bytes())
}

/// The public key of a signing key.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// Calls `f` with `bytes` in lower-case hex, written on the stack (the
/// `hex` crate's `encode` builds its string one `char` at a time, which
/// was a fifth of a node's CPU when serving trails).
fn with_hex<R>(bytes: &[u8], f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 128];
    let text = buf.get_mut(..bytes.len() * 2).and_then(|out| {
        hex::encode_to_slice(bytes, out).ok()?;
        std::str::from_utf8(out).ok()
    });
    match text {
        Some(h) => f(h),
        // Longer than any key, hash or signature.
        None => f(&hex::encode(bytes)),
    }
}

macro_rules! hex_bytes {
    ($ty:ident, $len:expr, $what:expr) => {
        impl FromStr for $ty {
            type Err = CryptoError;
            fn from_str(s: &str) -> Result<Self, CryptoError> {
                let bad = || CryptoError::BadHex {
                    what: $what,
                    text: s.chars().take(140).collect(),
                    len: $len * 2,
                };
                if s.len() != $len * 2 {
                    return Err(bad());
                }
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
                Ok($ty(out))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                with_hex(&self.0, |h| f.write_str(h))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                with_hex(&self.0, |h| write!(f, "{}({h})", stringify!($ty)))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    with_hex(&self.0, |h| s.serialize_str(h))
                } else {
                    // A fixed-size tuple: no length prefix in canonical bytes.
                    use serde::ser::SerializeTuple;
                    let mut t = s.serialize_tuple($len)?;
                    for b in &self.0 {
                        t.serialize_element(b)?;
                    }
                    t.end()
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(de::Error::custom)
                } else {
                    struct V;
                    impl<'de> de::Visitor<'de> for V {
                        type Value = $ty;
                        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                            write!(f, "{} bytes", $len)
                        }
                        fn visit_seq<A: de::SeqAccess<'de>>(
                            self,
                            mut seq: A,
                        ) -> Result<$ty, A::Error> {
                            let mut out = [0u8; $len];
                            for (i, b) in out.iter_mut().enumerate() {
                                *b = seq
                                    .next_element()?
                                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                            }
                            Ok($ty(out))
                        }
                    }
                    d.deserialize_tuple($len, V)
                }
            }
        }
    };
}

hex_bytes!(Hash32, 32, "sha256 hash");
hex_bytes!(PublicKey, 32, "ed25519 public key");
hex_bytes!(Signature, 64, "ed25519 signature");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_signatures() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let pk = public_key(&key);
        let sig = sign(&key, Domain::Entry, b"hello");
        assert!(pk.verify(Domain::Entry, b"hello", &sig).is_ok());
        assert!(pk.verify(Domain::Cosign, b"hello", &sig).is_err());
        assert!(pk.verify(Domain::Entry, b"hellp", &sig).is_err());
    }

    #[test]
    fn a_batch_agrees_with_one_at_a_time() {
        let keys: Vec<SigningKey> = (1..=4u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1 + i as usize]).collect();
        let sigs: Vec<(PublicKey, Signature)> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let k = &keys[i % keys.len()];
                (public_key(k), sign(k, Domain::Entry, m))
            })
            .collect();
        let batch = |bad: Option<usize>, domain: Domain| {
            let mut b = BatchVerifier::new();
            for (i, (m, (pk, sig))) in msgs.iter().zip(&sigs).enumerate() {
                let mut sig = *sig;
                if bad == Some(i) {
                    sig.0[5] ^= 1;
                }
                b.queue(pk, domain, m, &sig);
            }
            assert_eq!(b.len(), msgs.len());
            b.verify(rand_core::OsRng)
        };
        assert_eq!(batch(None, Domain::Entry), Ok(()));
        assert!(batch(None, Domain::Cosign).is_err());
        for bad in [0, 17, 39] {
            assert_eq!(
                batch(Some(bad), Domain::Entry),
                Err(CryptoError::BadSignature)
            );
        }
        assert_eq!(BatchVerifier::new().verify(rand_core::OsRng), Ok(()));
    }

    #[test]
    fn small_order_or_non_canonical_keys_cannot_be_registered() {
        assert!(public_key(&SigningKey::from_bytes(&[9; 32]))
            .check_registrable()
            .is_ok());
        // The identity (order 1) and the point of order 2 (y = -1).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        for bytes in [identity, minus_one] {
            assert!(PublicKey(bytes).check_registrable().is_err());
        }
        // y = 1 + p: a second, non-canonical encoding of the identity.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(PublicKey(non_canonical).check_registrable().is_err());
    }

    #[test]
    fn stack_hex_is_the_hex_crates_encoding() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for n in [0, 1, 4, 32, 64, 65, 200] {
            let slice = &bytes[..n];
            assert_eq!(with_hex(slice, str::to_owned), hex::encode(slice), "{n}");
        }
        let sig = Signature([0xa5; 64]);
        assert_eq!(sig.to_string(), "a5".repeat(64));
        assert_eq!(
            format!("{sig:?}"),
            format!("Signature({})", "a5".repeat(64))
        );
    }

    #[test]
    fn hex_forms() {
        let h = Hash32::digest(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_hex().parse::<Hash32>().unwrap(), h);
        assert_eq!(h.to_hex().to_uppercase().parse::<Hash32>().unwrap(), h);
        assert!("abcd".parse::<Hash32>().is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(crate::codec::encode(&h), h.0.to_vec());
    }
}
