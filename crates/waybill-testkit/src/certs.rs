//! Commit certificates as validators would sign them (precommits, round 0),
//! and their cosignatures of the log's checkpoints.

use waybill_core::block::{precommit_bytes, CommitCertificate, CommitSignature, Header};
use waybill_core::checkpoint::{self, CarriedCosignature, Checkpoint, Cosignature};
use waybill_core::crypto::{self, Domain, Signature};
use waybill_core::genesis::ChainId;

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

/// The signature [`carried_cosignature`] gives the vote extension that
/// carries a cosignature (made up: the ledger keeps it as it is, only
/// consensus checks it).
pub const EXTENSION_SIGNATURE: Signature = Signature([0x5e; 64]);

/// `p`'s cosignature of `cp` stating `time`, as a precommit carries it.
pub fn carried_cosignature(p: &Party, cp: &Checkpoint, time: u64) -> CarriedCosignature {
    CarriedCosignature {
        cosignature: Cosignature::sign(cp, &p.key, time).expect("a time in range"),
        extension_signature: EXTENSION_SIGNATURE,
    }
}

/// The note of `cp` on `chain` cosigned by each of `signers`, stating
/// `time`.
pub fn cosigned_note(cp: &Checkpoint, chain: &ChainId, signers: &[&Party], time: u64) -> String {
    let lines: Vec<_> = signers
        .iter()
        .map(|p| {
            Cosignature::sign(cp, &p.key, time)
                .and_then(|c| c.line(chain))
                .expect("a cosignature line")
        })
        .collect();
    String::from_utf8(checkpoint::note(cp, &lines).expect("a note")).expect("a note is text")
}
