//! The lying network: an actor between the consensus engine and its real
//! network actor that forwards everything and adds the Byzantine
//! messages the engine would never send: a second proposal and a second
//! vote in a round, votes forged in other validators' names, old votes
//! replayed, and a false tip in the sync status.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::SignedConsensusMsg;
use malachitebft_app_channel::app::engine::network::Msg as NetMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{NilOrVal, Round, SignedMessage, VoteType};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Response};
use malachitebft_app_channel::Signer as _;
use malachitebft_sync::ValueResponse;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use waybill_consensus::testing::{
    part_message, Address, BlockHash, Height, NetworkRef, Proposal, Vote, WaybillSigner,
};
use waybill_consensus::App as _;
use waybill_consensus::{ProposalPart, WaybillCtx};
use waybill_core::block::BlockBytes;
use waybill_core::codec::MAX_BLOCK_BYTES;
use waybill_core::crypto::{Domain, Hash32};

use crate::app::LyingApp;
use crate::lies::{Lie, Lies, HEIGHT_LIE};

type SignedVote = SignedMessage<WaybillCtx, Vote>;

/// The actor.
pub struct Proxy {
    real: NetworkRef,
    signer: WaybillSigner,
    lies: Arc<Lies>,
    chain_id: Hash32,
    /// The other validators, in whose names votes are forged.
    others: Vec<Address>,
    /// The lying app, which makes up blocks.
    liar: Arc<OnceLock<Arc<LyingApp>>>,
}

/// What it remembers.
#[derive(Default)]
pub struct State {
    /// Its own votes sent so far, by height (the last few heights).
    sent: Vec<SignedVote>,
    /// (height, round, type) already equivocated or forged.
    done: HashSet<(u64, i64, u8, &'static str)>,
    /// Streams of its own it already sent a second proposal for.
    doubled: HashSet<(u64, i64)>,
}

impl Proxy {
    /// Spawns the proxy in front of `real`.
    pub async fn spawn(
        real: NetworkRef,
        signer: WaybillSigner,
        lies: Arc<Lies>,
        chain_id: Hash32,
        others: Vec<Address>,
        liar: Arc<OnceLock<Arc<LyingApp>>>,
    ) -> Result<NetworkRef, String> {
        let proxy = Proxy {
            real,
            signer,
            lies,
            chain_id,
            others,
            liar,
        };
        Actor::spawn(None, proxy, ())
            .await
            .map(|(r, _)| r)
            .map_err(|e| format!("cannot spawn the lying network: {e}"))
    }

    fn send(&self, msg: NetMsg<WaybillCtx>) -> Result<(), ActorProcessingErr> {
        self.real
            .cast(msg)
            .map_err(|e| ActorProcessingErr::from(format!("the network is gone: {e}")))
    }

    fn publish_vote(&self, v: SignedVote) -> Result<(), ActorProcessingErr> {
        self.send(NetMsg::PublishConsensusMsg(SignedConsensusMsg::Vote(v)))
    }

    /// A block hash nobody proposed, for (height, round).
    fn phantom(height: u64, round: Round) -> BlockHash {
        let mut h = [0xB5u8; 32];
        h[..8].copy_from_slice(&height.to_be_bytes());
        h[8..16].copy_from_slice(&round.as_i64().to_be_bytes());
        BlockHash(Hash32(h))
    }

    async fn sign(&self, vote: Vote) -> Result<SignedVote, ActorProcessingErr> {
        self.signer
            .sign_vote(vote)
            .await
            .map_err(|e| ActorProcessingErr::from(e.to_string()))
    }

    async fn vote_lies(&self, v: &SignedVote, st: &mut State) -> Result<(), ActorProcessingErr> {
        let vote = &v.message;
        let (h, r) = (vote.height.0, vote.round);
        let typ = match vote.typ {
            VoteType::Prevote => 0,
            VoteType::Precommit => 1,
        };
        let tname = if typ == 0 { "prevote" } else { "precommit" };
        if self.lies.tells(Lie::Equivocate) && st.done.insert((h, r.as_i64(), typ, "eq")) {
            let other = match &vote.value {
                NilOrVal::Val(b) => {
                    let mut x = b.0;
                    x.0[31] ^= 1;
                    BlockHash(x)
                }
                NilOrVal::Nil => Self::phantom(h, r),
            };
            let second = Vote {
                value: NilOrVal::Val(other),
                ..vote.clone()
            };
            let signed = self.sign(second).await?;
            self.publish_vote(signed)?;
            self.lies.told(
                Lie::Equivocate,
                h,
                &format!("second {tname} in round {r}, for {}", other.0.to_hex()),
            );
        }
        // Once per round: prevotes and precommits in every other
        // validator's name for one block nobody proposed, in this round
        // and the next (which the honest nodes have not voted in yet, so
        // were the signatures not checked, these would be the votes they
        // count: more than 2/3 of the power, with this node's own, for a
        // block they cannot have).
        if self.lies.tells(Lie::ForgeVotes) && st.done.insert((h, r.as_i64(), 0, "forge")) {
            let phantom = Self::phantom(h, Round::new(0));
            let mut forged = 0;
            for round in [r, r.increment()] {
                for typ in [VoteType::Prevote, VoteType::Precommit] {
                    for who in &self.others {
                        let vote = Vote {
                            typ,
                            round,
                            value: NilOrVal::Val(phantom),
                            validator: *who,
                            extension: None,
                            ..vote.clone()
                        };
                        // Signed with this node's key, in another's name.
                        let signed = self.sign(vote).await?;
                        self.publish_vote(signed)?;
                        forged += 1;
                    }
                }
            }
            self.lies.told(
                Lie::ForgeVotes,
                h,
                &format!(
                    "{forged} votes in rounds {r} and {} forged in {} others' names for {}",
                    r.increment(),
                    self.others.len(),
                    phantom.0.to_hex()
                ),
            );
        }
        if self.lies.tells(Lie::ReplayVotes) && st.done.insert((h, r.as_i64(), typ, "replay")) {
            // Its votes of two heights ago, as they were, and re-dated to
            // this height and round (their signatures cover the old ones).
            let old: Vec<SignedVote> = st
                .sent
                .iter()
                .filter(|o| o.message.height.0 + 2 == h && o.message.typ == vote.typ)
                .cloned()
                .collect();
            for o in old.iter().take(2) {
                self.publish_vote(o.clone())?;
                let redated = SignedMessage::new(
                    Vote {
                        height: Height(h),
                        round: r,
                        ..o.message.clone()
                    },
                    o.signature,
                );
                self.publish_vote(redated)?;
            }
            if !old.is_empty() {
                self.lies.told(
                    Lie::ReplayVotes,
                    h,
                    &format!(
                        "{} {tname}s of height {} replayed, as they were and re-dated to round {r}",
                        old.len().min(2),
                        h - 2
                    ),
                );
            }
        }
        st.sent.push(v.clone());
        st.sent.retain(|o| o.message.height.0 + 3 > h);
        Ok(())
    }

    /// With [`Lie::Equivocate`]: for its own proposal part, a second
    /// valid block (a millisecond later) streamed and proposed as well.
    async fn double_proposal(
        &self,
        m: &StreamMessage<ProposalPart>,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let StreamContent::Data(part) = &m.content else {
            return Ok(());
        };
        if part.proposer != self.signer.address()
            || part.pol_round != Round::Nil
            || !st.doubled.insert((part.height.0, part.round.as_i64()))
        {
            return Ok(());
        }
        let Ok(block) = BlockBytes::decode::<MAX_BLOCK_BYTES>(part.block.to_vec()) else {
            return Ok(());
        };
        let mut other = block.block().clone();
        other.header.time_ms += 1;
        let other = BlockBytes::encode(other);
        let hash = BlockHash(other.block().header.hash());
        let msg = part_message(
            &self.chain_id,
            part.height.0,
            part.round,
            part.pol_round,
            &part.proposer,
            &hash,
        );
        let second = ProposalPart {
            block: Bytes::from(other.bytes().to_vec()),
            signature: self.signer.sign_in(Domain::ProposalPart, &msg),
            ..part.clone()
        };
        let mut id = b"byzantine".to_vec();
        id.extend_from_slice(&m.stream_id.to_bytes());
        let id = StreamId::new(Bytes::from(id));
        self.send(NetMsg::PublishProposalPart(StreamMessage::new(
            id.clone(),
            0,
            StreamContent::Data(second),
        )))?;
        self.send(NetMsg::PublishProposalPart(StreamMessage::new(
            id,
            1,
            StreamContent::Fin,
        )))?;
        let proposal = Proposal {
            height: part.height,
            round: part.round,
            value: hash,
            pol_round: part.pol_round,
            proposer: part.proposer,
        };
        let signed = self
            .signer
            .sign_proposal(proposal)
            .await
            .map_err(|e| ActorProcessingErr::from(e.to_string()))?;
        self.send(NetMsg::PublishConsensusMsg(SignedConsensusMsg::Proposal(
            signed,
        )))?;
        self.lies.told(
            Lie::Equivocate,
            part.height.0,
            &format!(
                "second proposal in round {}: block {}",
                part.round,
                hash.0.to_hex()
            ),
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl Actor for Proxy {
    type Msg = NetMsg<WaybillCtx>;
    type State = State;
    type Arguments = ();

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<State, ActorProcessingErr> {
        Ok(State::default())
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NetMsg::PublishConsensusMsg(SignedConsensusMsg::Vote(v)) => {
                self.publish_vote(v.clone())?;
                self.vote_lies(&v, st).await?;
            }
            NetMsg::PublishProposalPart(m) => {
                self.send(NetMsg::PublishProposalPart(m.clone()))?;
                if self.lies.tells(Lie::Equivocate) {
                    self.double_proposal(&m, st).await?;
                }
            }
            NetMsg::BroadcastStatus(mut status) if self.lies.tells(Lie::FalseTip) => {
                let tip = status.tip_height.0;
                status.tip_height = Height(tip + HEIGHT_LIE);
                self.lies.told(
                    Lie::FalseTip,
                    tip,
                    &format!("status claims tip {}", tip + HEIGHT_LIE),
                );
                self.send(NetMsg::BroadcastStatus(status))?;
            }
            // The engine answers sync requests only up to its own tip, so
            // a request for the heights its status claimed gets nothing:
            // with `lie-height` the liar answers with a block it made up.
            NetMsg::OutgoingResponse(id, Response::ValueResponse(mut r))
                if self.lies.tells(Lie::FalseTip) && r.values.is_empty() =>
            {
                if let Some(liar) = self.liar.get() {
                    if let Ok(Some((block, Some(cert)))) = liar.committed(r.start_height.0) {
                        r = ValueResponse::new(
                            r.start_height,
                            vec![RawDecidedValue::new(
                                Bytes::from(block.canonical_bytes()),
                                waybill_consensus::to_engine_certificate(&cert, &[]),
                            )],
                        );
                    }
                }
                self.send(NetMsg::OutgoingResponse(id, Response::ValueResponse(r)))?;
            }
            other => self.send(other)?,
        }
        Ok(())
    }
}
