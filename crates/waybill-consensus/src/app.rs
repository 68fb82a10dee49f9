//! The application loop: answers every message of the consensus engine.
//!
//! Blocks are built from the node's mempool and checked entry by entry
//! against the ledger state by the node (the [`App`] trait); this loop
//! carries them through consensus: proposal parts out and in, decisions
//! committed durably before they are acknowledged, decided blocks served
//! to peers that sync.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate as MCert, Context as _, ExtendedCommitCertificate, ExtendedCommitSignature,
    LinearTimeouts, Round, Validity, VoteExtensionPolicy, VoteExtensions,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use tracing::{debug, error, info, warn};
use waybill_core::block::{Block, BlockBytes, CommitCertificate, CommitSignature, Header};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint};
use waybill_core::codec::MAX_BLOCK_BYTES;
use waybill_core::crypto::{self, Domain, PublicKey};
use waybill_core::genesis::ValidatorSpec;

use crate::cosign::{self, Checkpoints};
use crate::ctx::{Address, BlockHash, Height, ProposalPart, ValidatorSet, WaybillCtx};
use crate::held::Held;
use crate::schedule::{self, RecentProposers};
use crate::signer::{part_message, WaybillSigner};
use crate::signing::Signature;

/// The node's own error behind an [`AppError`], kept as its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the node could not do what consensus asked of it through [`App`].
/// Each variant displays as the node's error it carries.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The block is invalid: it does not follow the tip, breaks a rule,
    /// its header does not match its proposal, or its time is too far from
    /// this node's clock. Consensus votes nil on it.
    #[error(transparent)]
    Rejected(BoxError),
    /// Consensus asked to propose at a height that is not the next one.
    #[error("cannot propose block {height}: the next block is {next}")]
    NotNext {
        /// Asked for.
        height: u64,
        /// The next height.
        next: u64,
    },
    /// The ledger's storage failed (disk, corrupt data).
    #[error(transparent)]
    Storage(BoxError),
    /// The node's ledger is unusable (an earlier failure poisoned it):
    /// the node must restart.
    #[error(transparent)]
    Unavailable(BoxError),
}

/// What the node provides to consensus. Implementations do their own
/// locking; `commit` must be durable before it returns.
pub trait App: Send + Sync + 'static {
    /// The last committed height (0 before the first block).
    fn committed_height(&self) -> u64;
    /// Builds the next block on top of the tip from the mempool.
    fn build_block(&self, height: u64, proposer: PublicKey) -> Result<Block, AppError>;
    /// Checks a block fully against the tip and the state. `live`: also
    /// check its time against the local clock (not for synced blocks).
    fn check_block(&self, block: &BlockBytes, live: bool) -> Result<(), AppError>;
    /// The checkpoint of the ledger's log with `block` committed on the
    /// tip (what a validator cosigns in its precommit); refused if the
    /// block does not follow the tip.
    fn checkpoint_after(&self, block: &BlockBytes) -> Result<Checkpoint, AppError>;
    /// Commits a decided block with its certificate and the validators'
    /// cosignatures of its checkpoint (its precommits' extensions, kept
    /// as they are: syncing peers need them all), durably.
    fn commit(
        &self,
        block: BlockBytes,
        certificate: CommitCertificate,
        cosignatures: Vec<CarriedCosignature>,
    ) -> Result<(), AppError>;
    /// A committed block and its certificate, to serve to syncing peers.
    fn committed(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, AppError>;
    /// The cosignatures kept with a committed block, to serve to syncing
    /// peers with its certificate.
    fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, AppError>;
    /// The header of a committed block. Consensus reads the proposers of
    /// the last blocks from it at start (to know which validators are
    /// down), so it must not read the block: blocks run to megabytes.
    fn committed_header(&self, height: u64) -> Result<Option<Header>, AppError>;
    /// The validator set of `height`, the next one to decide: genesis and
    /// the governance changes made by then (the ledger's council).
    fn validators(&self, height: u64) -> Result<Vec<ValidatorSpec>, AppError>;
}

/// Per-node settings the loop needs.
pub(crate) struct LoopConfig {
    pub ctx: WaybillCtx,
    /// The node's key, which signs at the heights whose set holds it.
    pub signer: WaybillSigner,
    /// The genesis validator set: the set of every height the ledger
    /// cannot name (it failed to read).
    pub validator_set: ValidatorSet,
    pub timeouts: LinearTimeouts,
    pub target_time: Option<Duration>,
    /// Where the blocks this validator precommits are kept until
    /// committed (see [`crate::held`]); `None` keeps none.
    pub held_dir: Option<std::path::PathBuf>,
}

/// Most proposal-part streams buffered at once (bounds memory under spam).
const MAX_STREAMS: usize = 256;
/// Most decided values served in one sync response.
const MAX_SYNC_BATCH: u64 = 50;

struct Loop<A: App> {
    cfg: LoopConfig,
    app: Arc<A>,
    height: Height,
    /// Block bodies seen for the current and future heights, by hash.
    blocks: HashMap<BlockHash, BlockBytes>,
    /// The log's checkpoint with each of `blocks` committed, as needed.
    checkpoints: Checkpoints,
    /// Values seen per (height, round), re-offered when a round starts.
    seen: BTreeMap<(Height, Round), Vec<ProposedValue<WaybillCtx>>>,
    /// What we proposed per (height, round): asked twice, we answer the same.
    built: HashMap<(Height, Round), LocallyProposedValue<WaybillCtx>>,
    /// The signed part of each value, for restreaming.
    parts: HashMap<(Height, BlockHash), ProposalPart>,
    /// Complete parts for future heights.
    early: Vec<ProposalPart>,
    /// Streams being reassembled, by (publisher, stream id).
    streams: HashMap<(PeerId, StreamId), Vec<StreamMessage<ProposalPart>>>,
    next_stream: u64,
    /// Heights whose commit failed: restart them (and sync).
    failed: Option<Height>,
    /// The validator set of the height being decided, and that height.
    vset: Option<(Height, ValidatorSet)>,
    /// The proposers of the last decided blocks, which tell the validators
    /// suspected down: read from the ledger at start, then recorded as
    /// blocks are committed.
    proposers: RecentProposers,
    /// The blocks precommitted and not yet committed, on disk.
    held: Held,
}

impl<A: App> Loop<A> {
    fn new(cfg: LoopConfig, app: Arc<A>) -> Self {
        let held = Held::new(cfg.held_dir.clone());
        Loop {
            cfg,
            app,
            height: Height(1),
            blocks: HashMap::new(),
            checkpoints: Checkpoints::default(),
            seen: BTreeMap::new(),
            built: HashMap::new(),
            parts: HashMap::new(),
            early: Vec::new(),
            streams: HashMap::new(),
            next_stream: 0,
            failed: None,
            vset: None,
            proposers: RecentProposers::default(),
            held,
        }
    }

    /// The validator set of `height`, with its suspects (asked of the
    /// ledger once per height; the genesis set if the ledger cannot say).
    /// Cached for the height, so that the loop's own proposer check always
    /// agrees with what the engine was given.
    fn validators(&mut self, height: Height) -> ValidatorSet {
        if let Some((h, set)) = &self.vset {
            if *h == height {
                return set.clone();
            }
        }
        let set = match self.app.validators(height.0) {
            Ok(specs) => match crate::validator_set(&specs) {
                Ok(set) => set,
                Err(e) => {
                    error!(%height, "the ledger's validator set is unusable ({e}); using the genesis set");
                    self.cfg.validator_set.clone()
                }
            },
            Err(e) => {
                error!(%height, "cannot read the validator set ({e}); using the genesis set");
                self.cfg.validator_set.clone()
            }
        };
        let set = self.with_suspects(set, height);
        let before: Vec<Address> = match &self.vset {
            Some((_, prev)) => prev.suspects().copied().collect(),
            None => Vec::new(),
        };
        let now: Vec<Address> = set.suspects().copied().collect();
        if now != before {
            let names: Vec<String> = now.iter().map(|a| a.to_string()).collect();
            info!(%height, "validators suspected down (skipped as round-0 proposers outside retry slots): [{}]", names.join(", "));
        }
        self.vset = Some((height, set.clone()));
        set
    }

    /// `set`, the set of `height`, with the validators that proposed none
    /// of the window's decided blocks suspected. The proposers missing
    /// from the window are read from the ledger's headers. If one cannot
    /// be read nobody is suspected: this node then names other proposers
    /// than its peers at some heights (costing timeouts, never safety),
    /// rather than guessing.
    fn with_suspects(&mut self, set: ValidatorSet, height: Height) -> ValidatorSet {
        let Some(window) = schedule::window(height.0, set.validators().len()) else {
            return set;
        };
        self.proposers.forget_before(*window.start());
        for h in window {
            if self.proposers.get(h).is_some() {
                continue;
            }
            match self.app.committed_header(h) {
                Ok(Some(header)) => self.proposers.record(h, header.proposer),
                Ok(None) => break,
                Err(e) => {
                    error!(height = h, "cannot read a committed header: {e}");
                    break;
                }
            }
        }
        match self.proposers.suspects(&set, height.0) {
            Ok(suspects) => set.with_suspects(&suspects),
            Err(e) => {
                error!(%height, "cannot tell which validators are down ({e}); plain round robin");
                set
            }
        }
    }

    fn params(&mut self) -> HeightParams<WaybillCtx> {
        let height = self.height;
        HeightParams::new(
            self.validators(height),
            self.cfg.timeouts,
            self.cfg.target_time,
        )
        .with_vote_extension_policy(VoteExtensionPolicy::Required)
    }

    fn stream(&mut self, part: ProposalPart) -> [StreamMessage<ProposalPart>; 2] {
        self.next_stream = self.next_stream.wrapping_add(1);
        let mut id = part.height.0.to_be_bytes().to_vec();
        id.extend_from_slice(&self.next_stream.to_be_bytes());
        let id = StreamId::new(Bytes::from(id));
        [
            StreamMessage::new(id.clone(), 0, StreamContent::Data(part)),
            StreamMessage::new(id, 1, StreamContent::Fin),
        ]
    }

    /// Reassembles a stream; the part once every message up to `Fin` is in.
    fn reassemble(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<ProposalPart> {
        let key = (publisher, msg.stream_id.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            warn!("too many open proposal streams; dropping a part");
            return None;
        }
        let buf = self.streams.entry(key.clone()).or_default();
        if buf.len() >= 8 {
            return None;
        }
        buf.push(msg);
        let fin = buf.iter().find(|m| m.is_fin())?.sequence;
        if (0..fin).any(|s| !buf.iter().any(|m| m.sequence == s)) {
            return None;
        }
        let buf = self.streams.remove(&key)?;
        buf.into_iter().find_map(|m| m.content.into_data())
    }

    /// Checks a complete part: proposer for the round, its signature, the
    /// block's header, and every rule (through the node). An invalid block
    /// still yields a value, marked invalid, so consensus votes nil.
    fn validate(&mut self, p: &ProposalPart) -> Option<ProposedValue<WaybillCtx>> {
        let set = self.validators(p.height);
        let expected = self
            .cfg
            .ctx
            .select_proposer(&set, p.height, p.round)
            .address;
        if expected != p.proposer {
            warn!(height = %p.height, round = %p.round, "proposal part from {} who is not the proposer", p.proposer);
            return None;
        }
        // Decoded once, keeping the bytes: the node validates the entries
        // from them and stores them as they are.
        let block = match BlockBytes::decode::<MAX_BLOCK_BYTES>(p.block.to_vec()) {
            Ok(b) => b,
            Err(e) => {
                warn!(height = %p.height, "undecodable proposed block: {e}");
                return None;
            }
        };
        let header = &block.block().header;
        let hash = BlockHash(header.hash());
        let msg = part_message(
            &self.cfg.ctx.chain_id,
            p.height.0,
            p.round,
            p.pol_round,
            &p.proposer,
            &hash,
        );
        if p.proposer
            .0
            .verify(
                Domain::ProposalPart,
                &msg,
                &crypto::Signature(p.signature.0),
            )
            .is_err()
        {
            warn!(height = %p.height, "proposal part with a bad signature from {}", p.proposer);
            return None;
        }
        let header_ok = header.height == p.height.0 && header.proposer == p.proposer.0;
        // A re-proposed (locked) value may be older than the clock skew allows.
        let live = p.pol_round == Round::Nil;
        let verdict = if header_ok {
            tokio::task::block_in_place(|| self.app.check_block(&block, live))
        } else {
            Err(AppError::Rejected(
                "the block's header does not match the proposal".into(),
            ))
        };
        let validity = match &verdict {
            // Written down before this validator may vote for it (see
            // `crate::held`); one it cannot write down it votes nil on.
            Ok(()) => match self.held.keep(p.height.0, &hash, &block, false) {
                Ok(()) => Validity::Valid,
                Err(e) => {
                    error!(height = %p.height, "voting nil on block {hash}: cannot keep it on disk: {e}");
                    Validity::Invalid
                }
            },
            Err(e) => {
                warn!(height = %p.height, round = %p.round, "voting nil on block {hash}: {e}");
                Validity::Invalid
            }
        };
        self.blocks.insert(hash, block);
        self.parts.insert((p.height, hash), p.clone());
        let pv = ProposedValue {
            height: p.height,
            round: p.round,
            valid_round: p.pol_round,
            proposer: p.proposer,
            value: hash,
            validity,
        };
        self.seen
            .entry((p.height, p.round))
            .or_default()
            .push(pv.clone());
        Some(pv)
    }

    /// Commits a decided block (live or synced: both end here) and records
    /// its proposer. A block taken out is committed or, if that fails, the
    /// height restarts and syncs it.
    fn decided(
        &mut self,
        certificate: &MCert<WaybillCtx>,
        extensions: &VoteExtensions<WaybillCtx>,
    ) {
        let height = certificate.height;
        let Some(block) = self.blocks.remove(&certificate.value_id) else {
            warn!(%height, "decided block {} is not here; will sync it", certificate.value_id);
            self.failed = Some(height);
            return;
        };
        let proposer = block.block().header.proposer;
        let cert = to_ledger_certificate(certificate);
        let cosignatures = cosign::carried(extensions);
        let app = self.app.clone();
        match tokio::task::block_in_place(|| app.commit(block, cert, cosignatures)) {
            Ok(()) => {
                info!(%height, block = %certificate.value_id, "committed");
                self.proposers.record(height.0, proposer);
            }
            Err(e) => {
                error!(%height, "cannot commit the decided block: {e}");
                self.failed = Some(height);
            }
        }
    }

    /// The log's checkpoint with block `hash` committed, if this node
    /// has the block and it follows the tip.
    fn checkpoint(&mut self, hash: BlockHash) -> Option<Checkpoint> {
        let block = self.blocks.get(&hash)?;
        let app = &self.app;
        self.checkpoints
            .of(hash, || app.checkpoint_after(block).ok())
            .cloned()
    }

    /// This validator's vote extension for a precommit of block `hash`:
    /// its cosignature of the block's checkpoint. `None` (so no
    /// precommit for it) if the block is not here or does not follow the
    /// tip, which a block this node found valid always does.
    fn extension(&mut self, height: Height, hash: BlockHash) -> Option<Bytes> {
        let Some(time_ms) = self.blocks.get(&hash).map(|b| b.block().header.time_ms) else {
            error!(%height, "cannot cosign block {hash} for the precommit: the block is not here");
            return None;
        };
        let Some(cp) = self.checkpoint(hash) else {
            error!(%height, "cannot cosign block {hash} for the precommit: it does not follow the tip");
            return None;
        };
        match cosign::extension(self.cfg.signer.key(), &cp, time_ms) {
            Ok(ext) => {
                // Kept before the precommit is signed: after a crash, a
                // replayed precommit always has its block.
                let block = self.blocks.get(&hash)?;
                if let Err(e) = self.held.keep(height.0, &hash, block, true) {
                    error!(%height, "cannot keep block {hash} on disk for the precommit: {e}");
                    return None;
                }
                Some(ext)
            }
            Err(e) => {
                error!(%height, "cannot cosign block {hash} for the precommit: {e}");
                None
            }
        }
    }

    fn prune(&mut self, decided: Height) {
        self.seen.retain(|(h, _), _| *h > decided);
        self.built.retain(|(h, _), _| *h > decided);
        self.parts.retain(|(h, _), _| *h > decided);
        let keep: Vec<BlockHash> = self.parts.keys().map(|(_, v)| *v).collect();
        self.blocks.retain(|k, _| keep.contains(k));
        self.checkpoints.retain(&keep);
        self.early.retain(|p| p.height > decided);
    }
}

/// Converts the engine's certificate into the ledger's.
pub fn to_ledger_certificate(c: &MCert<WaybillCtx>) -> CommitCertificate {
    let mut signatures: Vec<CommitSignature> = c
        .commit_signatures
        .iter()
        .map(|s| CommitSignature {
            validator: s.address.0,
            signature: crypto::Signature(s.signature.0),
        })
        .collect();
    signatures.sort_by_key(|s| s.validator);
    signatures.dedup_by_key(|s| s.validator);
    CommitCertificate {
        height: c.height.0,
        round: c.round.as_u32().unwrap_or(0),
        block_hash: c.value_id.0,
        signatures,
    }
}

/// Converts a stored certificate back for serving sync, each signature
/// with the extension its validator's precommit carried (kept with the
/// block as a cosignature; none if it was not kept).
pub fn to_engine_certificate(
    c: &CommitCertificate,
    cosignatures: &[CarriedCosignature],
) -> ExtendedCommitCertificate<WaybillCtx> {
    ExtendedCommitCertificate {
        height: Height(c.height),
        round: Round::new(c.round),
        value_id: BlockHash(c.block_hash),
        commit_signatures: c
            .signatures
            .iter()
            .map(|s| {
                let extension = cosignatures
                    .iter()
                    .find(|c| c.cosignature.validator == s.validator)
                    .map(cosign::signed_extension);
                ExtendedCommitSignature::new(
                    Address(s.validator),
                    Signature(s.signature.0),
                    extension,
                )
            })
            .collect(),
    }
}

/// Runs until the engine's channel closes.
pub(crate) async fn run<A: App>(
    cfg: LoopConfig,
    app: Arc<A>,
    mut channels: Channels<WaybillCtx>,
) -> eyre::Result<()> {
    let mut s = Loop::new(cfg, app);
    while let Some(msg) = channels.consensus.recv().await {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let committed = s.app.committed_height();
                s.height = Height(committed.saturating_add(1));
                for (hash, block) in s.held.load(committed) {
                    info!(height = %s.height, "block {hash}, precommitted before a restart, is here again");
                    s.blocks.insert(hash, block);
                }
                info!(height = %s.height, "consensus ready");
                let _ = reply.send((s.height, s.params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(%height, %round, %proposer, ?role, "round started");
                s.height = height;
                for p in std::mem::take(&mut s.early) {
                    if p.height == height {
                        let _ = s.validate(&p);
                    } else if p.height > height {
                        s.early.push(p);
                    }
                }
                let seen = s.seen.get(&(height, round)).cloned().unwrap_or_default();
                let _ = reply_value.send(seen);
            }
            AppMsg::GetValue {
                height,
                round,
                reply,
                ..
            } => {
                let me = s.cfg.signer.address();
                if let Some(v) = s.built.get(&(height, round)).cloned() {
                    let part = s.parts.get(&(height, v.value)).cloned();
                    let _ = reply.send(v);
                    if let Some(part) = part {
                        for m in s.stream(part) {
                            channels
                                .network
                                .send(NetworkMsg::PublishProposalPart(m))
                                .await?;
                        }
                    }
                    continue;
                }
                let app = s.app.clone();
                let block = match tokio::task::block_in_place(|| app.build_block(height.0, me.0)) {
                    Ok(b) => b,
                    Err(e) => {
                        error!(%height, "cannot build a block: {e}");
                        continue;
                    }
                };
                let block = BlockBytes::encode(block);
                let hash = BlockHash(block.block().header.hash());
                let pol_round = Round::Nil;
                let msg = part_message(&s.cfg.ctx.chain_id, height.0, round, pol_round, &me, &hash);
                let signature = s.cfg.signer.sign_in(Domain::ProposalPart, &msg);
                let part = ProposalPart {
                    height,
                    round,
                    pol_round,
                    proposer: me,
                    block: Bytes::from(block.bytes().to_vec()),
                    signature,
                };
                debug!(%height, %round, entries = block.block().entries.len(), "proposing block {hash}");
                // Written down before it is proposed (and so voted for).
                if let Err(e) = s.held.keep(height.0, &hash, &block, false) {
                    error!(%height, "cannot propose block {hash}: cannot keep it on disk: {e}");
                    continue;
                }
                s.blocks.insert(hash, block);
                s.parts.insert((height, hash), part.clone());
                let v = LocallyProposedValue::new(height, round, hash);
                s.built.insert((height, round), v.clone());
                let _ = reply.send(v);
                for m in s.stream(part) {
                    channels
                        .network
                        .send(NetworkMsg::PublishProposalPart(m))
                        .await?;
                }
            }
            AppMsg::ExtendVote {
                height,
                value_id,
                reply,
                ..
            } => {
                let _ = reply.send(s.extension(height, value_id));
            }
            AppMsg::VerifyVoteExtensions {
                value_id,
                extensions,
                reply,
                ..
            } => {
                let cp = s.checkpoint(value_id);
                let verdicts = extensions
                    .into_iter()
                    .map(|(addr, ext)| {
                        let v = cosign::verdict(&addr, &ext, cp.as_ref());
                        if v.is_err() {
                            warn!(block = %value_id, "the precommit of {addr} carries no valid cosignature of the block's checkpoint");
                        }
                        (addr, v)
                    })
                    .collect();
                let _ = reply.send(verdicts);
            }
            AppMsg::RestreamProposal {
                height, value_id, ..
            } => {
                if let Some(part) = s.parts.get(&(height, value_id)).cloned() {
                    for m in s.stream(part) {
                        channels
                            .network
                            .send(NetworkMsg::PublishProposalPart(m))
                            .await?;
                    }
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let min = if s.app.committed_height() > 0 {
                    Height(1)
                } else {
                    Height(0)
                };
                let _ = reply.send(min);
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let mut out = None;
                if let Some(p) = s.reassemble(published_by.unwrap_or(from), part) {
                    if p.height > s.height {
                        if s.early.len() < MAX_STREAMS {
                            s.early.push(p);
                        }
                    } else if p.height == s.height {
                        out = s.validate(&p);
                    }
                }
                let _ = reply.send(out);
            }
            AppMsg::Decided {
                certificate,
                extensions,
                reply,
            } => {
                s.decided(&certificate, &extensions);
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate,
                evidence,
                reply,
                ..
            } => {
                let height = certificate.height;
                if !evidence.is_empty() {
                    warn!(%height, "misbehaviour evidence: {:?}", evidence);
                }
                if s.failed.take() == Some(height) || s.app.committed_height() < height.0 {
                    let _ = reply.send(Next::Restart(height, s.params()));
                    continue;
                }
                s.prune(height);
                s.held.prune(height.0);
                s.height = Height(height.0.saturating_add(1));
                let _ = reply.send(Next::Start(s.height, s.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let tip = s.app.committed_height();
                let start = range.start().0.max(1);
                let end = range
                    .end()
                    .0
                    .min(tip)
                    .min(start.saturating_add(MAX_SYNC_BATCH - 1));
                let mut out = Vec::new();
                for h in start..=end {
                    let found = s
                        .app
                        .committed(h)
                        .and_then(|b| Ok((b, s.app.cosignatures(h)?)));
                    match found {
                        Ok((Some((block, Some(cert))), cosignatures)) => {
                            out.push(RawDecidedValue::new(
                                Bytes::from(block.canonical_bytes()),
                                to_engine_certificate(&cert, &cosignatures),
                            ))
                        }
                        Ok(_) => break,
                        Err(e) => {
                            error!(height = h, "cannot read a committed block for a peer: {e}");
                            break;
                        }
                    }
                }
                let _ = reply.send(out);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let block = match BlockBytes::decode::<MAX_BLOCK_BYTES>(value_bytes.to_vec()) {
                    Ok(b) if b.block().header.height == height.0 => b,
                    _ => {
                        let _ = reply.send(SyncedValueOutcome::PeerFault);
                        continue;
                    }
                };
                let hash = BlockHash(block.block().header.hash());
                let app = s.app.clone();
                match tokio::task::block_in_place(|| app.check_block(&block, false)) {
                    Ok(()) => {}
                    // A decided block is valid (more than 2/3 of the power
                    // checked it), so a synced block that breaks a rule was
                    // tampered with by the peer that sent it (the header,
                    // and so the hash its certificate names, may be
                    // genuine). Answering `Invalid` left the height to a
                    // certificate for an invalid value, never asked of
                    // another peer: one lying peer stalled a syncing node
                    // for good (tests/e2e/cluster/byzantine.rs).
                    Err(AppError::Rejected(e)) => {
                        warn!(%height, "synced block {hash} is invalid ({e}); the peer tampered with it: asking another");
                        let _ = reply.send(SyncedValueOutcome::PeerFault);
                        continue;
                    }
                    Err(e) => {
                        warn!(%height, "cannot check synced block {hash} ({e}); asking again");
                        let _ = reply.send(SyncedValueOutcome::LocalTransientError);
                        continue;
                    }
                }
                s.blocks.insert(hash, block);
                let _ = reply.send(SyncedValueOutcome::Verdict(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: hash,
                    validity: Validity::Valid,
                }));
            }
        }
    }
    Err(eyre::eyre!("the consensus engine stopped"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use ed25519_dalek::SigningKey;
    use malachitebft_app_channel::app::types::core::ValidatorSet as _;
    use waybill_core::crypto::Hash32;

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// A ledger in memory that counts what consensus reads of it.
    struct Chain {
        blocks: Mutex<Vec<Block>>,
        validators: Vec<ValidatorSpec>,
        header_reads: AtomicUsize,
        block_reads: AtomicUsize,
        /// A height whose header cannot be read.
        unreadable: Option<u64>,
    }

    impl App for Chain {
        fn committed_height(&self) -> u64 {
            self.blocks.lock().unwrap().len() as u64
        }
        fn build_block(&self, height: u64, _: PublicKey) -> Result<Block, AppError> {
            Err(AppError::NotNext { height, next: 0 })
        }
        fn check_block(&self, _: &BlockBytes, _: bool) -> Result<(), AppError> {
            Ok(())
        }
        fn checkpoint_after(&self, _: &BlockBytes) -> Result<Checkpoint, AppError> {
            Err(AppError::Storage("no log here".into()))
        }
        fn commit(
            &self,
            block: BlockBytes,
            _: CommitCertificate,
            _: Vec<CarriedCosignature>,
        ) -> Result<(), AppError> {
            self.blocks.lock().unwrap().push(block.block().clone());
            Ok(())
        }
        fn cosignatures(&self, _: u64) -> Result<Vec<CarriedCosignature>, AppError> {
            Ok(Vec::new())
        }
        fn committed(
            &self,
            height: u64,
        ) -> Result<Option<(Block, Option<CommitCertificate>)>, AppError> {
            self.block_reads.fetch_add(1, Ordering::Relaxed);
            let blocks = self.blocks.lock().unwrap();
            Ok(height
                .checked_sub(1)
                .and_then(|i| blocks.get(i as usize))
                .map(|b| (b.clone(), None)))
        }
        fn committed_header(&self, height: u64) -> Result<Option<Header>, AppError> {
            self.header_reads.fetch_add(1, Ordering::Relaxed);
            if self.unreadable == Some(height) {
                return Err(AppError::Storage("disk on fire".into()));
            }
            let blocks = self.blocks.lock().unwrap();
            Ok(height
                .checked_sub(1)
                .and_then(|i| blocks.get(i as usize))
                .map(|b| b.header.clone()))
        }
        fn validators(&self, _: u64) -> Result<Vec<ValidatorSpec>, AppError> {
            Ok(self.validators.clone())
        }
    }

    const CHAIN: Hash32 = Hash32([7; 32]);

    impl Chain {
        /// Four validators of equal power and blocks `1..=proposers.len()`
        /// proposed by the validators at these indexes of the set.
        fn new(proposers: &[usize]) -> (Chain, Vec<PublicKey>) {
            let validators: Vec<ValidatorSpec> = (1..=4)
                .map(|i| ValidatorSpec {
                    name: format!("v{i}"),
                    public_key: crypto::public_key(&key(i)),
                    power: 1,
                    p2p: Vec::new(),
                })
                .collect();
            let order: Vec<PublicKey> = crate::validator_set(&validators)
                .unwrap()
                .validators()
                .iter()
                .map(|v| v.address.0)
                .collect();
            let mut blocks: Vec<Block> = Vec::new();
            for (h, &i) in proposers.iter().enumerate() {
                let prev = blocks.last().map(|b| &b.header);
                blocks.push(Block::seal(CHAIN, prev, h as i64, order[i], Vec::new()));
            }
            let chain = Chain {
                blocks: Mutex::new(blocks),
                validators,
                header_reads: AtomicUsize::new(0),
                block_reads: AtomicUsize::new(0),
                unreadable: None,
            };
            (chain, order)
        }

        fn next_block(&self, proposer: PublicKey) -> BlockBytes {
            let blocks = self.blocks.lock().unwrap();
            let prev = blocks.last().map(|b| &b.header);
            let time = blocks.len() as i64;
            BlockBytes::encode(Block::seal(CHAIN, prev, time, proposer, Vec::new()))
        }
    }

    /// The loop as the engine finds it when consensus is ready.
    fn ready(app: Arc<Chain>) -> Loop<Chain> {
        let ctx = WaybillCtx { chain_id: CHAIN };
        let cfg = LoopConfig {
            ctx,
            signer: WaybillSigner::new(key(1), CHAIN),
            validator_set: crate::validator_set(&app.validators).unwrap(),
            timeouts: LinearTimeouts::default(),
            target_time: None,
            held_dir: None,
        };
        let mut s = Loop::new(cfg, app);
        s.height = Height(s.app.committed_height() + 1);
        s
    }

    fn suspects(s: &mut Loop<Chain>) -> Vec<PublicKey> {
        s.params().validator_set.suspects().map(|a| a.0).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_loop_suspects_the_validators_absent_from_the_last_blocks() {
        // 23 blocks proposed by set indexes 0, 1, 2 in turn: 3 is down.
        let proposers: Vec<usize> = (0..23).map(|h| h % 3).collect();
        let (chain, order) = Chain::new(&proposers);
        let app = Arc::new(chain);
        let mut s = ready(app.clone());
        assert_eq!(s.height, Height(24));
        let set = s.params().validator_set;
        assert_eq!(suspects(&mut s), vec![order[3]]);
        // The suspects steer the proposer only: the set is whole.
        assert_eq!(set.count(), 4);
        assert_eq!(set.total_voting_power(), 4);
        assert!(set.get_by_address(&Address(order[3])).is_some());
        // Height 24 is 3's slot (rotation 5, no retry): 0 proposes instead.
        let ctx = s.cfg.ctx.clone();
        let proposer = |set: &ValidatorSet, r: i64| {
            ctx.select_proposer(set, Height(24), Round::from(r))
                .address
                .0
        };
        assert_eq!(proposer(&set, 0), order[0]);
        assert_eq!(proposer(&set, 1), order[1]);
        assert_eq!(proposer(&set, 3), order[3]);
        // Only the window's headers were read, never a block.
        assert_eq!(app.header_reads.load(Ordering::Relaxed), 8);
        assert_eq!(app.block_reads.load(Ordering::Relaxed), 0);

        // 3 comes back and its block is decided (say in round 3): it is
        // recorded from the commit, not read back, and no longer suspected.
        let block = app.next_block(order[3]);
        let hash = BlockHash(block.block().header.hash());
        s.blocks.insert(hash, block);
        s.decided(
            &MCert {
                height: Height(24),
                round: Round::new(3),
                value_id: hash,
                commit_signatures: Vec::new(),
            },
            &VoteExtensions::new(Vec::new()),
        );
        assert_eq!(s.failed, None);
        assert_eq!(app.committed_height(), 24);
        s.height = Height(25);
        assert_eq!(suspects(&mut s), Vec::<PublicKey>::new());
        assert_eq!(app.header_reads.load(Ordering::Relaxed), 8);

        // A node started now computes the same set from the ledger.
        let mut again = ready(app.clone());
        assert_eq!(again.height, Height(25));
        assert_eq!(again.params().validator_set, s.params().validator_set);
        assert_eq!(app.block_reads.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn without_a_full_window_or_its_headers_it_is_round_robin() {
        // Eight blocks: 9 is the first height with a full window.
        let (chain, order) = Chain::new(&[0, 1, 2, 0, 1, 2, 0]);
        let app = Arc::new(chain);
        let mut s = ready(app.clone());
        assert_eq!(suspects(&mut s), Vec::<PublicKey>::new());
        assert_eq!(app.header_reads.load(Ordering::Relaxed), 0);
        let block = app.next_block(order[1]);
        let hash = BlockHash(block.block().header.hash());
        s.blocks.insert(hash, block);
        s.decided(
            &MCert {
                height: Height(8),
                round: Round::new(0),
                value_id: hash,
                commit_signatures: Vec::new(),
            },
            &VoteExtensions::new(Vec::new()),
        );
        s.height = Height(9);
        assert_eq!(suspects(&mut s), vec![order[3]]);

        // A header that cannot be read: nobody is suspected (and the
        // answer is kept for the height, as the engine was given it).
        let (mut chain, _) = Chain::new(&[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        chain.unreadable = Some(5);
        let mut s = ready(Arc::new(chain));
        assert_eq!(suspects(&mut s), Vec::<PublicKey>::new());
        assert_eq!(suspects(&mut s), Vec::<PublicKey>::new());
    }

    /// Certificates to and from the engine's form with the cosignatures
    /// their precommits carried.
    mod cosigned {
        use super::*;
        use crate::cosign::tests::{address, cp};
        use crate::cosign::{carried, extension};
        use bytes::Bytes;
        use malachitebft_app_channel::app::types::core::SignedExtension;

        /// The cosignatures of a decision go to the ledger with the
        /// signatures that carried them, and come back out with the
        /// certificate for syncing peers: each with its own validator's
        /// signature, and none for a validator without one.
        #[test]
        fn cosignatures_travel_with_the_certificate_to_syncing_peers() {
            let (a, b, c) = (key(1), key(2), key(3));
            let ext = |k: &SigningKey| extension(k, &cp(5), 0).expect("a time in range");
            let signed = |k: &SigningKey, seed: u8| {
                SignedExtension::<WaybillCtx>::new(ext(k), Signature([seed; 64]))
            };
            let decided = VoteExtensions::<WaybillCtx>::new(vec![
                (address(&a), signed(&a, 0xa1)),
                (address(&b), signed(&b, 0xb2)),
                // Not a cosignature at all: left out.
                (
                    address(&c),
                    SignedExtension::<WaybillCtx>::new(
                        Bytes::from_static(b"junk"),
                        Signature([0; 64]),
                    ),
                ),
            ]);
            let kept = carried(&decided);
            assert_eq!(kept.len(), 2);
            for k in kept.iter() {
                assert_eq!(k.cosignature.verify(&cp(5)), Ok(()));
            }
            let sig = |k: &SigningKey| CommitSignature {
                validator: crypto::public_key(k),
                signature: crypto::Signature([1; 64]),
            };
            let mut signatures = vec![sig(&a), sig(&b), sig(&c)];
            signatures.sort_by_key(|s| s.validator);
            let cert = CommitCertificate {
                height: 3,
                round: 0,
                block_hash: Hash32([9; 32]),
                signatures,
            };
            let engine = to_engine_certificate(&cert, &kept);
            let by = |k: &SigningKey| {
                engine
                    .commit_signatures
                    .iter()
                    .find(|s| s.address == address(k))
                    .and_then(|s| s.extension.clone())
            };
            let ea = by(&a).expect("a's extension");
            assert_eq!(
                (ea.message.clone(), ea.signature),
                (ext(&a), Signature([0xa1; 64]))
            );
            let eb = by(&b).expect("b's extension");
            assert_eq!(
                (eb.message.clone(), eb.signature),
                (ext(&b), Signature([0xb2; 64]))
            );
            assert!(by(&c).is_none());
            assert_eq!(to_ledger_certificate(&engine.trim_vote_extensions()), cert);
            // The cosignatures read back from the engine's form are the same.
            let back = carried(&engine.vote_extensions());
            let key_of = |c: &CarriedCosignature| c.cosignature.validator;
            let mut want = kept.clone();
            want.sort_by_key(key_of);
            let mut got = back;
            got.sort_by_key(key_of);
            assert_eq!(got, want);
        }
    }
}
