//! The ed25519 signing scheme of consensus over ed25519-dalek: its key
//! and signature types and their encodings. It knows nothing of the
//! context, as Malachite's own `signing-ed25519` crate: the context
//! (`ctx.rs`) uses these types, and what is signed, with the signer and
//! verifier, is in `signer.rs`.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use malachitebft_app_channel::app::types::core::SigningScheme;

/// The signing scheme.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

/// A signature (ordered, as Malachite needs).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..4]))
    }
}

/// A verifying key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VerifyKey(pub VerifyingKey);

/// A signing key.
#[derive(Clone)]
pub struct PrivateKey(pub SigningKey);

/// A key or signature of the wrong length.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodingError(pub &'static str);

impl SigningScheme for Ed25519Scheme {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = VerifyKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        bytes
            .try_into()
            .map(Signature)
            .map_err(|_| DecodingError("a signature is 64 bytes"))
    }
    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
    fn decode_public_key(bytes: &[u8]) -> Result<VerifyKey, DecodingError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| DecodingError("a public key is 32 bytes"))?;
        VerifyingKey::from_bytes(&arr)
            .map(VerifyKey)
            .map_err(|_| DecodingError("not an ed25519 public key"))
    }
    fn encode_public_key(public_key: &VerifyKey) -> Vec<u8> {
        public_key.0.to_bytes().to_vec()
    }
}
