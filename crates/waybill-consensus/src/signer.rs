//! Signing and verifying consensus messages: the bytes each signature
//! covers, defined in `waybill-core` (so commit certificates verify
//! offline with only the genesis), and the context's [`Signer`] and
//! [`Verifier`] over the ed25519 scheme of [`crate::signing`].

use async_trait::async_trait;
use bytes::Bytes;
use ed25519_dalek::{Signer as _, SigningKey};
use malachitebft_app_channel::app::types::core::{
    NilOrVal, Round, SignedMessage, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_app_channel::{Signer, Verifier};
use malachitebft_signing::{Error, VerificationResult};
use waybill_core::block::{proposal_bytes, vote_bytes, VoteKind};
use waybill_core::codec;
use waybill_core::crypto::{self, Domain, Hash32, PublicKey};

use crate::ctx::{Address, BlockHash, Proposal, Vote, WaybillCtx};
use crate::signing::{Signature, VerifyKey};

fn round_i64(r: Round) -> i64 {
    r.as_i64()
}

/// The bytes of a vote (without its extension).
pub fn vote_message(chain_id: &Hash32, v: &Vote) -> Vec<u8> {
    let kind = match v.typ {
        VoteType::Prevote => VoteKind::Prevote,
        VoteType::Precommit => VoteKind::Precommit,
    };
    let value = match &v.value {
        NilOrVal::Nil => None,
        NilOrVal::Val(h) => Some(&h.0),
    };
    vote_bytes(
        chain_id,
        kind,
        v.height.0,
        round_i64(v.round),
        value,
        &v.validator.0,
    )
}

/// The bytes of a proposal.
pub fn proposal_message(chain_id: &Hash32, p: &Proposal) -> Vec<u8> {
    proposal_bytes(
        chain_id,
        p.height.0,
        round_i64(p.round),
        round_i64(p.pol_round),
        &p.value.0,
        &p.proposer.0,
    )
}

/// The bytes a proposer signs over a streamed block.
pub fn part_message(
    chain_id: &Hash32,
    height: u64,
    round: Round,
    pol_round: Round,
    proposer: &Address,
    block: &BlockHash,
) -> Vec<u8> {
    codec::encode(&(
        chain_id,
        height,
        round_i64(round),
        round_i64(pol_round),
        proposer.0,
        block.0,
    ))
}

fn extension_message(
    chain_id: &Hash32,
    scope: &VoteExtensionScope<WaybillCtx>,
    ext: &Bytes,
) -> Vec<u8> {
    codec::encode(&(
        chain_id,
        scope.height.0,
        round_i64(scope.round),
        scope.value_id.0,
        scope.validator_address.0,
        ext.as_ref(),
    ))
}

fn verify(key: &VerifyKey, domain: Domain, msg: &[u8], sig: &Signature) -> bool {
    PublicKey(key.0.to_bytes())
        .verify(domain, msg, &crypto::Signature(sig.0))
        .is_ok()
}

/// Verifies consensus signatures (every node).
#[derive(Clone, Debug)]
pub struct WaybillVerifier {
    /// The chain.
    pub chain_id: Hash32,
}

#[async_trait]
impl Verifier<WaybillCtx> for WaybillVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &VerifyKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::from_bool(verify(
            public_key,
            Domain::Vote,
            &vote_message(&self.chain_id, vote),
            signature,
        )))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &VerifyKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::from_bool(verify(
            public_key,
            Domain::Proposal,
            &proposal_message(&self.chain_id, proposal),
            signature,
        )))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<WaybillCtx>,
        extension: &Bytes,
        signature: &Signature,
        public_key: &VerifyKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::from_bool(verify(
            public_key,
            Domain::VoteExtension,
            &extension_message(&self.chain_id, scope, extension),
            signature,
        )))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<WaybillCtx>,
    ) -> Result<VerificationResult, Error> {
        let key = proof
            .decoded_public_key()
            .map_err(|e| Error::from_source(e.to_string()))?;
        // The proof's preimage is fixed by Malachite (no domain prefix).
        let ok = waybill_core::crypto::PublicKey(key.0.to_bytes())
            .verify_raw(
                &proof.preimage(),
                &waybill_core::crypto::Signature(proof.signature.0),
            )
            .is_ok();
        Ok(VerificationResult::from_bool(ok))
    }
}

/// Signs as a validator.
pub struct WaybillSigner {
    key: SigningKey,
    chain_id: Hash32,
}

impl WaybillSigner {
    /// A signer for `key` on `chain_id`.
    pub fn new(key: SigningKey, chain_id: Hash32) -> Self {
        WaybillSigner { key, chain_id }
    }

    /// Our address.
    pub fn address(&self) -> Address {
        Address(crypto::public_key(&self.key))
    }

    /// The key (which also cosigns the ledger's log, see `cosign.rs`).
    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `domain || msg`.
    pub fn sign_in(&self, domain: Domain, msg: &[u8]) -> Signature {
        Signature(crypto::sign(&self.key, domain, msg).0)
    }
}

#[async_trait]
impl Signer<WaybillCtx> for WaybillSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<WaybillCtx, Vote>, Error> {
        let sig = self.sign_in(Domain::Vote, &vote_message(&self.chain_id, &vote));
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<WaybillCtx, Proposal>, Error> {
        let sig = self.sign_in(
            Domain::Proposal,
            &proposal_message(&self.chain_id, &proposal),
        );
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<WaybillCtx>,
        extension: Bytes,
    ) -> Result<SignedMessage<WaybillCtx, Bytes>, Error> {
        let sig = self.sign_in(
            Domain::VoteExtension,
            &extension_message(&self.chain_id, &scope, &extension),
        );
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<WaybillCtx>, Error> {
        let msg = ValidatorProof::<WaybillCtx>::signing_bytes(&public_key, &peer_id);
        let sig = Signature(self.key.sign(&msg).to_bytes());
        Ok(ValidatorProof::new(public_key, peer_id, sig))
    }
}
