//! The consensus engine's wire and WAL codec.
//!
//! Malachite's message types have no serde, so they are framed here by
//! hand: deterministic, length-prefixed, big-endian, with bounded lengths
//! and no trailing bytes. What is signed or hashed never comes from here:
//! signed bytes are built by `waybill-core` (votes, proposals) and blocks
//! travel as their canonical bytes. The WAL is on disk, so a change here
//! is a format change (see `WAL_FORMAT`). The engine
//! needs `Codec<T>` for exactly these T (engine 0.8.2):
//!   ConsensusCodec: ProposalPart, SignedConsensusMsg, LivenessMsg,
//!                   StreamMessage<ProposalPart>, ValidatorProof
//!   SyncCodec:      sync::Status, sync::Request, sync::Response (+ HasEncodedLen<Response>)
//!   WalCodec:       SignedConsensusMsg, ProposedValue, PolkaCertificate

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedExtension, SignedProposal,
    SignedVote, ValidatorProof, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};

use waybill_core::crypto::{Hash32, PublicKey};

use crate::ctx::{Address, BlockHash, Height, Proposal, ProposalPart, Vote, WaybillCtx};
use crate::signing::Signature;

/// A malformed consensus message (its wire or write-ahead-log form).
#[derive(Debug, thiserror::Error)]
#[error("codec: {0}")]
pub struct WireError(pub String);

fn err<T>(m: &str) -> Result<T, WireError> {
    Err(WireError(m.to_string()))
}

/// The codec for network and WAL.
#[derive(Copy, Clone, Debug, Default)]
pub struct WaybillCodec;

// ---------------------------------------------------------------- primitives
#[derive(Default)]
struct W(Vec<u8>);
impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v)
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes())
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes())
    }
    fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v)
    }
    fn bytes(&mut self, v: &[u8]) {
        // Lengths above u32::MAX cannot occur: messages are bounded far below.
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.raw(v)
    }
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX))
    }
    fn round(&mut self, r: Round) {
        self.0.extend_from_slice(&r.as_i64().to_be_bytes())
    }
    fn height(&mut self, h: Height) {
        self.u64(h.0)
    }
    fn addr(&mut self, a: &Address) {
        self.raw(&a.0 .0)
    }
    fn hash(&mut self, h: &BlockHash) {
        self.raw(&h.0 .0)
    }
    fn sig(&mut self, s: &Signature) {
        self.raw(&s.0)
    }
    fn nil_or_hash(&mut self, v: &NilOrVal<BlockHash>) {
        match v {
            NilOrVal::Nil => self.u8(0),
            NilOrVal::Val(h) => {
                self.u8(1);
                self.hash(h)
            }
        }
    }
    fn vote_type(&mut self, t: VoteType) {
        self.u8(match t {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        })
    }
    fn done(self) -> Bytes {
        Bytes::from(self.0)
    }
}

struct R<'a>(&'a [u8]);
impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return err("truncated");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.take(N)?
            .try_into()
            .map_err(|_| WireError("truncated".into()))
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        let [b] = self.arr::<1>()?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn bytes(&mut self) -> Result<Bytes, WireError> {
        let n = self.u32()? as usize;
        if n > MAX_BYTES {
            return err("field too large");
        }
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
    fn round(&mut self) -> Result<Round, WireError> {
        let v = i64::from_be_bytes(self.arr()?);
        if v < -1 || v > i64::from(u32::MAX) {
            return err("bad round");
        }
        Ok(Round::from(v))
    }
    fn height(&mut self) -> Result<Height, WireError> {
        Ok(Height(self.u64()?))
    }
    fn addr(&mut self) -> Result<Address, WireError> {
        Ok(Address(PublicKey(self.arr()?)))
    }
    fn hash(&mut self) -> Result<BlockHash, WireError> {
        Ok(BlockHash(Hash32(self.arr()?)))
    }
    fn sig(&mut self) -> Result<Signature, WireError> {
        Ok(Signature(self.arr()?))
    }
    fn nil_or_hash(&mut self) -> Result<NilOrVal<BlockHash>, WireError> {
        match self.u8()? {
            0 => Ok(NilOrVal::Nil),
            1 => Ok(NilOrVal::Val(self.hash()?)),
            _ => err("bad NilOrVal tag"),
        }
    }
    fn vote_type(&mut self) -> Result<VoteType, WireError> {
        match self.u8()? {
            1 => Ok(VoteType::Prevote),
            2 => Ok(VoteType::Precommit),
            _ => err("bad vote type"),
        }
    }
    fn len(&mut self, max: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > max {
            return err("too many items");
        }
        Ok(n)
    }
    fn end(self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            err("trailing bytes")
        }
    }
}

const MAX_ITEMS: usize = 10_000;
/// Largest byte field (a block in a proposal part, or a synced block).
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Version of the WAL encoding; bump on any change to this file's formats.
pub const WAL_FORMAT: u32 = 1;

// ---------------------------------------------------------------- composite helpers
fn w_ext(w: &mut W, e: &Option<SignedExtension<WaybillCtx>>) {
    match e {
        None => w.u8(0),
        Some(se) => {
            w.u8(1);
            w.bytes(&se.message);
            w.sig(&se.signature);
        }
    }
}
fn r_ext(r: &mut R) -> Result<Option<SignedExtension<WaybillCtx>>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let m = r.bytes()?;
            Ok(Some(SignedExtension::<WaybillCtx>::new(m, r.sig()?)))
        }
        _ => err("bad extension tag"),
    }
}

fn w_signed_vote(w: &mut W, v: &SignedVote<WaybillCtx>) {
    w.vote_type(v.message.typ);
    w.height(v.message.height);
    w.round(v.message.round);
    w.nil_or_hash(&v.message.value);
    w.addr(&v.message.validator);
    w_ext(w, &v.message.extension);
    w.sig(&v.signature);
}
fn r_signed_vote(r: &mut R) -> Result<SignedVote<WaybillCtx>, WireError> {
    let vote = Vote {
        typ: r.vote_type()?,
        height: r.height()?,
        round: r.round()?,
        value: r.nil_or_hash()?,
        validator: r.addr()?,
        extension: r_ext(r)?,
    };
    Ok(SignedVote::new(vote, r.sig()?))
}

fn w_signed_proposal(w: &mut W, p: &SignedProposal<WaybillCtx>) {
    w.height(p.message.height);
    w.round(p.message.round);
    w.hash(&p.message.value);
    w.round(p.message.pol_round);
    w.addr(&p.message.proposer);
    w.sig(&p.signature);
}
fn r_signed_proposal(r: &mut R) -> Result<SignedProposal<WaybillCtx>, WireError> {
    let p = Proposal {
        height: r.height()?,
        round: r.round()?,
        value: r.hash()?,
        pol_round: r.round()?,
        proposer: r.addr()?,
    };
    Ok(SignedProposal::new(p, r.sig()?))
}

fn w_part(w: &mut W, p: &ProposalPart) {
    w.height(p.height);
    w.round(p.round);
    w.round(p.pol_round);
    w.addr(&p.proposer);
    w.bytes(&p.block);
    w.sig(&p.signature);
}
fn r_part(r: &mut R) -> Result<ProposalPart, WireError> {
    Ok(ProposalPart {
        height: r.height()?,
        round: r.round()?,
        pol_round: r.round()?,
        proposer: r.addr()?,
        block: r.bytes()?,
        signature: r.sig()?,
    })
}

fn w_polka(w: &mut W, c: &PolkaCertificate<WaybillCtx>) {
    w.height(c.height);
    w.round(c.round);
    w.hash(&c.value_id);
    w.count(c.polka_signatures.len());
    for s in &c.polka_signatures {
        w.addr(&s.address);
        w.sig(&s.signature);
    }
}
fn r_polka(r: &mut R) -> Result<PolkaCertificate<WaybillCtx>, WireError> {
    let (height, round, value_id) = (r.height()?, r.round()?, r.hash()?);
    let n = r.len(MAX_ITEMS)?;
    let mut polka_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        polka_signatures.push(PolkaSignature::new(r.addr()?, r.sig()?));
    }
    Ok(PolkaCertificate {
        height,
        round,
        value_id,
        polka_signatures,
    })
}

fn w_round_cert(w: &mut W, c: &RoundCertificate<WaybillCtx>) {
    w.height(c.height);
    w.round(c.round);
    w.u8(match c.cert_type {
        RoundCertificateType::Skip => 1,
        RoundCertificateType::Precommit => 2,
    });
    w.count(c.round_signatures.len());
    for s in &c.round_signatures {
        w.vote_type(s.vote_type);
        w.nil_or_hash(&s.value_id);
        w.addr(&s.address);
        w.sig(&s.signature);
    }
}
fn r_round_cert(r: &mut R) -> Result<RoundCertificate<WaybillCtx>, WireError> {
    let (height, round) = (r.height()?, r.round()?);
    let cert_type = match r.u8()? {
        1 => RoundCertificateType::Skip,
        2 => RoundCertificateType::Precommit,
        _ => return err("bad round cert type"),
    };
    let n = r.len(MAX_ITEMS)?;
    let mut round_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        round_signatures.push(RoundSignature::new(
            r.vote_type()?,
            r.nil_or_hash()?,
            r.addr()?,
            r.sig()?,
        ));
    }
    Ok(RoundCertificate {
        height,
        round,
        cert_type,
        round_signatures,
    })
}

fn w_ext_cert(w: &mut W, c: &ExtendedCommitCertificate<WaybillCtx>) {
    w.height(c.height);
    w.round(c.round);
    w.hash(&c.value_id);
    w.count(c.commit_signatures.len());
    for s in &c.commit_signatures {
        w.addr(&s.address);
        w.sig(&s.signature);
        w_ext(w, &s.extension);
    }
}
fn r_ext_cert(r: &mut R) -> Result<ExtendedCommitCertificate<WaybillCtx>, WireError> {
    let (height, round, value_id) = (r.height()?, r.round()?, r.hash()?);
    let n = r.len(MAX_ITEMS)?;
    let mut commit_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        commit_signatures.push(ExtendedCommitSignature::new(r.addr()?, r.sig()?, r_ext(r)?));
    }
    Ok(ExtendedCommitCertificate {
        height,
        round,
        value_id,
        commit_signatures,
    })
}

// ---------------------------------------------------------------- Codec impls
macro_rules! codec {
    ($t:ty, |$w:ident, $v:ident| $enc:block, |$r:ident| $dec:block) => {
        impl Codec<$t> for WaybillCodec {
            type Error = WireError;
            fn encode(&self, $v: &$t) -> Result<Bytes, WireError> {
                let mut $w = W::default();
                $enc;
                Ok($w.done())
            }
            fn decode(&self, bytes: Bytes) -> Result<$t, WireError> {
                let mut $r = R(&bytes);
                let out: $t = $dec;
                $r.end()?;
                Ok(out)
            }
        }
    };
}

codec!(ProposalPart, |w, v| { w_part(&mut w, v) }, |r| {
    r_part(&mut r)?
});

codec!(
    SignedConsensusMsg<WaybillCtx>,
    |w, v| {
        match v {
            SignedConsensusMsg::Vote(sv) => {
                w.u8(1);
                w_signed_vote(&mut w, sv)
            }
            SignedConsensusMsg::Proposal(sp) => {
                w.u8(2);
                w_signed_proposal(&mut w, sp)
            }
        }
    },
    |r| {
        match r.u8()? {
            1 => SignedConsensusMsg::Vote(r_signed_vote(&mut r)?),
            2 => SignedConsensusMsg::Proposal(r_signed_proposal(&mut r)?),
            _ => return err("bad consensus msg tag"),
        }
    }
);

codec!(
    LivenessMsg<WaybillCtx>,
    |w, v| {
        match v {
            LivenessMsg::Vote(sv) => {
                w.u8(1);
                w_signed_vote(&mut w, sv)
            }
            LivenessMsg::PolkaCertificate(c) => {
                w.u8(2);
                w_polka(&mut w, c)
            }
            LivenessMsg::SkipRoundCertificate(c) => {
                w.u8(3);
                w_round_cert(&mut w, c)
            }
        }
    },
    |r| {
        match r.u8()? {
            1 => LivenessMsg::Vote(r_signed_vote(&mut r)?),
            2 => LivenessMsg::PolkaCertificate(r_polka(&mut r)?),
            3 => LivenessMsg::SkipRoundCertificate(r_round_cert(&mut r)?),
            _ => return err("bad liveness tag"),
        }
    }
);

codec!(
    StreamMessage<ProposalPart>,
    |w, v| {
        w.bytes(&v.stream_id.to_bytes());
        w.u64(v.sequence);
        match &v.content {
            StreamContent::Data(p) => {
                w.u8(1);
                w_part(&mut w, p)
            }
            StreamContent::Fin => w.u8(2),
        }
    },
    |r| {
        let stream_id = StreamId::new(r.bytes()?);
        let sequence = r.u64()?;
        let content = match r.u8()? {
            1 => StreamContent::Data(r_part(&mut r)?),
            2 => StreamContent::Fin,
            _ => return err("bad stream content tag"),
        };
        StreamMessage::new(stream_id, sequence, content)
    }
);

codec!(
    ValidatorProof<WaybillCtx>,
    |w, v| {
        w.bytes(&v.public_key);
        w.bytes(&v.peer_id);
        w.sig(&v.signature);
    },
    |r| {
        let pk = r.bytes()?.to_vec();
        let peer = r.bytes()?.to_vec();
        ValidatorProof::new(pk, peer, r.sig()?)
    }
);

codec!(
    Status<WaybillCtx>,
    |w, v| {
        w.bytes(&v.peer_id.to_bytes());
        w.height(v.tip_height);
        w.height(v.history_min_height);
    },
    |r| {
        let peer_id = PeerId::from_bytes(&r.bytes()?).map_err(|e| WireError(e.to_string()))?;
        Status {
            peer_id,
            tip_height: r.height()?,
            history_min_height: r.height()?,
        }
    }
);

codec!(
    Request<WaybillCtx>,
    |w, v| {
        match v {
            Request::ValueRequest(req) => {
                w.u8(1);
                w.height(*req.range.start());
                w.height(*req.range.end());
            }
        }
    },
    |r| {
        match r.u8()? {
            1 => {
                let (a, b) = (r.height()?, r.height()?);
                Request::ValueRequest(ValueRequest::new(a..=b))
            }
            _ => return err("bad request tag"),
        }
    }
);

codec!(
    Response<WaybillCtx>,
    |w, v| {
        match v {
            Response::ValueResponse(resp) => {
                w.u8(1);
                w.height(resp.start_height);
                w.count(resp.values.len());
                for rv in &resp.values {
                    w.bytes(&rv.value_bytes);
                    w_ext_cert(&mut w, &rv.certificate);
                }
            }
        }
    },
    |r| {
        match r.u8()? {
            1 => {
                let start = r.height()?;
                let n = r.len(MAX_ITEMS)?;
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    let value_bytes = r.bytes()?;
                    values.push(RawDecidedValue::new(value_bytes, r_ext_cert(&mut r)?));
                }
                Response::ValueResponse(ValueResponse::new(start, values))
            }
            _ => return err("bad response tag"),
        }
    }
);

impl HasEncodedLen<Response<WaybillCtx>> for WaybillCodec {
    fn encoded_len(&self, msg: &Response<WaybillCtx>) -> Result<usize, WireError> {
        Ok(self.encode(msg)?.len())
    }
}

codec!(
    ProposedValue<WaybillCtx>,
    |w, v| {
        w.height(v.height);
        w.round(v.round);
        w.round(v.valid_round);
        w.addr(&v.proposer);
        w.hash(&v.value);
        w.u8(v.validity.is_valid() as u8);
    },
    |r| {
        ProposedValue {
            height: r.height()?,
            round: r.round()?,
            valid_round: r.round()?,
            proposer: r.addr()?,
            value: r.hash()?,
            validity: Validity::from_bool(r.u8()? == 1),
        }
    }
);

codec!(
    PolkaCertificate<WaybillCtx>,
    |w, v| { w_polka(&mut w, v) },
    |r| { r_polka(&mut r)? }
);
