//! Commit certificates as validators would sign them (precommits, round 0).

use waybill_core::block::{precommit_bytes, CommitCertificate, CommitSignature, Header};
use waybill_core::crypto::{self, Domain};

use crate::consortium::{Consortium, Party, Roster};

/// A certificate for `header` signed by each of `signers` as if validators.
pub fn certificate(signers: &[&Party], header: &Header) -> CommitCertificate {
    let round = 0;
    let hash = header.hash();
    let mut signatures: Vec<CommitSignature> = signers
        .iter()
        .map(|v| {
            let bytes = precommit_bytes(&header.chain_id, header.height, round, &hash, &v.pk);
            CommitSignature {
                validator: v.pk,
                signature: crypto::sign(&v.key, Domain::Vote, &bytes),
            }
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    CommitCertificate {
        height: header.height,
        round,
        block_hash: hash,
        signatures,
    }
}

/// A certificate for `header` signed by `signer` as if a validator.
pub fn certify_with(signer: &Party, header: &Header) -> CommitCertificate {
    certificate(&[signer], header)
}

/// A certificate for `header` signed by `c`'s (first) validator: the whole
/// voting power of a one-validator consortium.
pub fn certify<R: Roster + ?Sized>(c: &R, header: &Header) -> CommitCertificate {
    certify_with(c.validator(), header)
}

/// A certificate for `header` signed by the validators of `c` at the
/// indices `signers`.
pub fn commit_certificate(c: &Consortium, header: &Header, signers: &[usize]) -> CommitCertificate {
    let parties: Vec<&Party> = signers.iter().map(|&i| &c.validators[i].0).collect();
    certificate(&parties, header)
}
