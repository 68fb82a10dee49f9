//! An auditor's signature on an export of a member's or a period's
//! entries. The export proves itself (every entry's proofs and the
//! cosigned checkpoints are in it); the signature says who made it, as an
//! audit bundle's does.

use ed25519_dalek::SigningKey;
use serde::Serialize;

use crate::codec;
use crate::crypto::{self, CryptoError, Domain, PublicKey, Signature};

/// What the auditor signs: the export's format, its period and its
/// proofs (the trail and the checkpoint notes), canonically encoded.
pub fn export_message<T: Serialize>(
    format: &str,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    trail: &T,
    checkpoints: &[String],
) -> Vec<u8> {
    codec::encode(&(format, from_ms, to_ms, trail, checkpoints))
}

/// The auditor's signature over `message` ([`export_message`]).
pub fn sign_export(key: &SigningKey, message: &[u8]) -> Signature {
    crypto::sign(key, Domain::Export, message)
}

/// Checks `auditor`'s signature over `message`.
pub fn verify_export_signature(
    auditor: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    auditor.verify(Domain::Export, message, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_signature_covers_format_period_and_proofs() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let pk = crypto::public_key(&key);
        let cps = vec!["note".to_owned()];
        let m = export_message("f", Some(1), None, &vec![1u8, 2], &cps);
        let sig = sign_export(&key, &m);
        assert!(verify_export_signature(&pk, &m, &sig).is_ok());
        for other in [
            export_message("g", Some(1), None, &vec![1u8, 2], &cps),
            export_message("f", Some(2), None, &vec![1u8, 2], &cps),
            export_message("f", Some(1), Some(9), &vec![1u8, 2], &cps),
            export_message("f", Some(1), None, &vec![1u8, 3], &cps),
            export_message("f", Some(1), None, &vec![1u8, 2], &[]),
        ] {
            assert!(verify_export_signature(&pk, &other, &sig).is_err());
        }
        // Not a signature in any other domain.
        assert!(pk.verify(Domain::Bundle, &m, &sig).is_err());
    }
}
