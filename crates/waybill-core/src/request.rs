//! Signed read requests: how a member proves to a node who asks for
//! private data (a payment's terms), bound to the chain, the method, the
//! path and query, the body and a time, so that a request cannot be
//! replayed on another chain, for another path, or later.
//!
//! The member signs, under the domain tag `waybill/v1/request\0`,
//!
//! ```text
//! chain id (64 hex) \n METHOD \n path?query \n time (ms since 1970) \n
//! SHA-256 of the body (64 hex)
//! ```
//!
//! and sends its key, the time and the signature in the headers
//! [`KEY_HEADER`], [`TIME_HEADER`] and [`SIGNATURE_HEADER`]. The node
//! checks the signature, that the time is within its window of its own
//! clock, that it has not seen the signature before, and that the
//! member's roles allow the request.

use ed25519_dalek::SigningKey;

use crate::crypto::{self, CryptoError, Domain, Hash32, PublicKey, Signature};
use crate::genesis::ChainId;

/// The signer's public key, 64 hex digits.
pub const KEY_HEADER: &str = "waybill-key";
/// When it was signed, ms since the Unix epoch.
pub const TIME_HEADER: &str = "waybill-time";
/// The signature, 128 hex digits.
pub const SIGNATURE_HEADER: &str = "waybill-signature";

/// A request's signature and what it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedRequest {
    /// Who signs.
    pub key: PublicKey,
    /// When, in ms since the Unix epoch.
    pub time_ms: i64,
    /// The signature.
    pub signature: Signature,
}

/// What a request signs.
pub fn message(chain_id: &ChainId, method: &str, path: &str, time_ms: i64, body: &[u8]) -> Vec<u8> {
    format!(
        "{}\n{}\n{path}\n{time_ms}\n{}",
        chain_id.to_hex(),
        method.to_ascii_uppercase(),
        Hash32::digest(body).to_hex()
    )
    .into_bytes()
}

impl SignedRequest {
    /// Signs a request with `key`.
    pub fn sign(
        key: &SigningKey,
        chain_id: &ChainId,
        method: &str,
        path: &str,
        time_ms: i64,
        body: &[u8],
    ) -> Self {
        SignedRequest {
            key: crypto::public_key(key),
            time_ms,
            signature: crypto::sign(
                key,
                Domain::Request,
                &message(chain_id, method, path, time_ms, body),
            ),
        }
    }

    /// Checks the signature over this request.
    pub fn verify(
        &self,
        chain_id: &ChainId,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), CryptoError> {
        self.key.verify(
            Domain::Request,
            &message(chain_id, method, path, self.time_ms, body),
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_verifies_only_as_signed() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let chain = Hash32([1; 32]);
        let r = SignedRequest::sign(&key, &chain, "get", "/v1/payments/x/terms", 1_000, b"");
        r.verify(&chain, "GET", "/v1/payments/x/terms", b"")
            .unwrap();
        assert!(r
            .verify(&Hash32([2; 32]), "GET", "/v1/payments/x/terms", b"")
            .is_err());
        assert!(r
            .verify(&chain, "DELETE", "/v1/payments/x/terms", b"")
            .is_err());
        assert!(r
            .verify(&chain, "GET", "/v1/payments/y/terms", b"")
            .is_err());
        assert!(r
            .verify(&chain, "GET", "/v1/payments/x/terms", b"x")
            .is_err());
        let later = SignedRequest {
            time_ms: 2_000,
            ..r
        };
        assert!(later
            .verify(&chain, "GET", "/v1/payments/x/terms", b"")
            .is_err());
    }
}
