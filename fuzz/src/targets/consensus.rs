//! The consensus engine's codec (`WaybillCodec`), every message type it
//! decodes.

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{
    Context, PolkaCertificate, SignedVote, SigningScheme, ValidatorProof,
};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_app_channel::Verifier;
use waybill_consensus::{
    to_ledger_certificate, ProposalPart, WaybillCodec, WaybillCtx, WaybillVerifier,
};
use waybill_core::block::BlockBytes;
use waybill_core::codec::MAX_BLOCK_BYTES;

use super::ledger::check_block;
use crate::fixture::fixture;
use crate::{broken, ensure};

const T: &str = "consensus";

/// The message types, by the first byte of the input (the rest is the
/// message). Each is a type the engine decodes with `WaybillCodec`: from
/// peers (consensus, liveness, proposal streams, validator proofs, sync)
/// and from its write-ahead log (proposed values, polka certificates).
pub mod tag {
    /// `SignedConsensusMsg`: a signed vote or proposal.
    pub const CONSENSUS_MSG: u8 = 0;
    /// `ProposalPart`: a block with its proposer's signature.
    pub const PROPOSAL_PART: u8 = 1;
    /// `LivenessMsg`: a vote, a polka or a skip-round certificate.
    pub const LIVENESS_MSG: u8 = 2;
    /// `StreamMessage<ProposalPart>`: a proposal stream's data or end.
    pub const STREAM_MSG: u8 = 3;
    /// `ValidatorProof`: a validator's key bound to its peer id.
    pub const VALIDATOR_PROOF: u8 = 4;
    /// `sync::Status`: a peer's tip and history.
    pub const SYNC_STATUS: u8 = 5;
    /// `sync::Request`: a range of heights.
    pub const SYNC_REQUEST: u8 = 6;
    /// `sync::Response`: decided blocks with their certificates.
    pub const SYNC_RESPONSE: u8 = 7;
    /// `ProposedValue` (write-ahead log).
    pub const PROPOSED_VALUE: u8 = 8;
    /// `PolkaCertificate` (write-ahead log).
    pub const POLKA_CERTIFICATE: u8 = 9;
}

/// `WaybillCodec`: the first byte picks the message type ([`tag`]), the
/// rest is decoded as it. The codec promises a deterministic encoding
/// with no trailing bytes; every type but `ProposedValue` (whose validity
/// byte reads anything but 1 as invalid) re-encodes to exactly its input.
/// Signed votes, proposals, the votes of certificates and validator
/// proofs are verified; blocks in proposal parts and sync responses are
/// decoded and checked as the node does, with their certificates.
pub fn consensus(data: &[u8]) {
    let Some((&tag, msg)) = data.split_first() else {
        return;
    };
    match tag {
        tag::CONSENSUS_MSG => {
            if let Some(m) = round_trip::<SignedConsensusMsg<WaybillCtx>>(msg, true) {
                match &m {
                    SignedConsensusMsg::Vote(v) => check_vote(v),
                    SignedConsensusMsg::Proposal(p) => {
                        if let Some(key) = public_key(&p.message.proposer.0 .0) {
                            let _ = now(verifier().verify_signed_proposal(
                                &p.message,
                                &p.signature,
                                &key,
                            ));
                        }
                    }
                }
            }
        }
        tag::PROPOSAL_PART => {
            if let Some(p) = round_trip::<ProposalPart>(msg, true) {
                check_part(&p);
            }
        }
        tag::LIVENESS_MSG => {
            if let Some(m) = round_trip::<LivenessMsg<WaybillCtx>>(msg, true) {
                let f = fixture();
                match &m {
                    LivenessMsg::Vote(v) => check_vote(v),
                    LivenessMsg::PolkaCertificate(c) => {
                        c.votes(&f.ctx).for_each(|v| check_vote(&v))
                    }
                    LivenessMsg::SkipRoundCertificate(c) => {
                        c.votes(&f.ctx).for_each(|v| check_vote(&v))
                    }
                }
            }
        }
        tag::STREAM_MSG => {
            if let Some(m) = round_trip::<StreamMessage<ProposalPart>>(msg, true) {
                if let StreamContent::Data(p) = &m.content {
                    check_part(p);
                }
            }
        }
        tag::VALIDATOR_PROOF => {
            if let Some(p) = round_trip::<ValidatorProof<WaybillCtx>>(msg, true) {
                let _ = now(verifier().verify_validator_proof(&p));
            }
        }
        tag::SYNC_STATUS => {
            let _ = round_trip::<Status<WaybillCtx>>(msg, true);
        }
        tag::SYNC_REQUEST => {
            let _ = round_trip::<Request<WaybillCtx>>(msg, true);
        }
        tag::SYNC_RESPONSE => {
            if let Some(Response::ValueResponse(r)) = round_trip::<Response<WaybillCtx>>(msg, true)
            {
                let f = fixture();
                for value in &r.values {
                    let Ok(b) = BlockBytes::decode::<MAX_BLOCK_BYTES>(value.value_bytes.to_vec())
                    else {
                        continue;
                    };
                    check_block(T, &b);
                    let cert = to_ledger_certificate(&value.certificate.trim_vote_extensions());
                    let _ = cert.verify_with(&f.genesis.validators, &b.block().header);
                }
            }
        }
        tag::PROPOSED_VALUE => {
            let _ = round_trip::<ProposedValue<WaybillCtx>>(msg, false);
        }
        tag::POLKA_CERTIFICATE => {
            let _ = round_trip::<PolkaCertificate<WaybillCtx>>(msg, true);
        }
        _ => {}
    }
}

/// Decodes `msg` as `M`; whatever is accepted must encode, and its
/// encoding decode and encode again to the same bytes. `canonical`: the
/// encoding is the input itself.
fn round_trip<M>(msg: &[u8], canonical: bool) -> Option<M>
where
    WaybillCodec: Codec<M>,
{
    let value: M = Codec::<M>::decode(&WaybillCodec, Bytes::copy_from_slice(msg)).ok()?;
    let encoded = match Codec::<M>::encode(&WaybillCodec, &value) {
        Ok(e) => e,
        Err(e) => broken(
            T,
            format_args!("an accepted message cannot be encoded: {e}"),
        ),
    };
    if canonical {
        ensure!(
            T,
            encoded.as_ref() == msg,
            "an accepted message re-encodes to other bytes"
        );
    }
    match Codec::<M>::decode(&WaybillCodec, encoded.clone()) {
        Ok(back) => match Codec::<M>::encode(&WaybillCodec, &back) {
            Ok(again) => ensure!(
                T,
                again == encoded,
                "a message's encoding is not a fixed point of decode and encode"
            ),
            Err(e) => broken(
                T,
                format_args!("a re-decoded message cannot be encoded: {e}"),
            ),
        },
        Err(e) => broken(
            T,
            format_args!("the encoding of an accepted message does not decode: {e}"),
        ),
    }
    Some(value)
}

/// A proposal part as the application loop takes it: its block decoded
/// and checked.
fn check_part(p: &ProposalPart) {
    if let Ok(b) = BlockBytes::decode::<MAX_BLOCK_BYTES>(p.block.to_vec()) {
        check_block(T, &b);
    }
}

fn check_vote(v: &SignedVote<WaybillCtx>) {
    if let Some(key) = public_key(&v.message.validator.0 .0) {
        let _ = now(verifier().verify_signed_vote(&v.message, &v.signature, &key));
    }
}

type PublicKeyOf = <<WaybillCtx as Context>::SigningScheme as SigningScheme>::PublicKey;

/// A validator's key from its address, as the engine finds it in the
/// validator set (an address that is no key belongs to no validator).
fn public_key(address: &[u8; 32]) -> Option<PublicKeyOf> {
    <<WaybillCtx as Context>::SigningScheme as SigningScheme>::decode_public_key(address).ok()
}

fn verifier() -> WaybillVerifier {
    WaybillVerifier {
        chain_id: fixture().chain_id,
    }
}

/// The verifier's futures do no waiting: each is ready when first polled.
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(v) => v,
        Poll::Pending => broken(T, format_args!("a signature check did not finish at once")),
    }
}
