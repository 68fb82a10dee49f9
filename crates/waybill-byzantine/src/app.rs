//! The lying consensus app: the node's own [`NodeApp`] with blocks
//! corrupted on the way out (proposals and sync) and a false tip.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use ed25519_dalek::SigningKey;
use waybill_consensus::{App, AppError};
use waybill_core::block::{
    entries_root, vote_bytes, Block, BlockBytes, CommitCertificate, CommitSignature, Header,
    VoteKind,
};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint};
use waybill_core::crypto::{self, Domain, Hash32, PublicKey};
use waybill_core::genesis::ValidatorSpec;
use waybill_node::node::NodeApp;

use crate::lies::{Lie, Lies, HEIGHT_LIE};

/// The tip is told truly until the node has committed this many blocks
/// (consensus starts at the true next height), then [`HEIGHT_LIE`] higher.
const ARM_HEIGHT_LIE_AT: u64 = 2;

/// A [`NodeApp`] that lies as [`Lies`] say.
pub struct LyingApp {
    inner: NodeApp,
    lies: Arc<Lies>,
    key: SigningKey,
    chain_id: Hash32,
    proposing: Mutex<Proposing>,
    /// Empty blocks last served with a broken commit signature: served
    /// honestly the next time, so that a syncing node gets past them to
    /// the blocks whose entries the liar breaks.
    cert_broken: Mutex<HashSet<u64>>,
}

#[derive(Default)]
struct Proposing {
    /// Whether its last proposal lied: it then proposes an honest block,
    /// so that it keeps proposing blocks that are decided and is never
    /// suspected down (which would take its round-0 slots away).
    lied_last: bool,
    /// Lies told so far (picks the next kind).
    told: usize,
}

impl LyingApp {
    /// Wraps `inner`, signing what it makes up with `key`.
    pub fn new(inner: NodeApp, lies: Arc<Lies>, key: SigningKey, chain_id: Hash32) -> Self {
        LyingApp {
            inner,
            lies,
            key,
            chain_id,
            proposing: Mutex::new(Proposing::default()),
            cert_broken: Mutex::new(HashSet::new()),
        }
    }

    fn me(&self) -> PublicKey {
        crypto::public_key(&self.key)
    }

    /// `block` made invalid by `lie`, or `None` if it cannot be (no entry
    /// to break).
    fn corrupt(&self, mut block: Block, lie: Lie) -> Option<Block> {
        match lie {
            Lie::BadSignature => {
                let e = block.entries.first_mut()?;
                e.signature.0[0] ^= 1;
                block.header.entries_root = entries_root(&block.entry_ids());
            }
            Lie::Custody => {
                block.entries.push(self.lies.custody_entry()?);
                block.header.entries_root = entries_root(&block.entry_ids());
            }
            Lie::BadRoot => block.header.entries_root.0[0] ^= 1,
            _ => return None,
        }
        Some(block)
    }

    /// A block and a certificate made up for `height`, above the true tip
    /// `tip`: empty blocks chained on the tip, each "certified" by this
    /// validator's precommit alone.
    fn made_up(&self, height: u64, tip: u64) -> Result<(Block, CommitCertificate), AppError> {
        let mut prev = if tip == 0 {
            None
        } else {
            self.inner.committed_header(tip)?
        };
        let me = self.me();
        let mut block = None;
        for _ in tip..height {
            let time = prev.as_ref().map_or(0, |h: &Header| h.time_ms + 1);
            let b = Block::seal(self.chain_id, prev.as_ref(), time, me, Vec::new());
            prev = Some(b.header.clone());
            block = Some(b);
        }
        let block = block.ok_or_else(|| AppError::Rejected("nothing to make up".into()))?;
        let hash = block.header.hash();
        let msg = vote_bytes(
            &self.chain_id,
            VoteKind::Precommit,
            height,
            0,
            Some(&hash),
            &me,
        );
        let cert = CommitCertificate {
            height,
            round: 0,
            block_hash: hash,
            signatures: vec![CommitSignature {
                validator: me,
                signature: crypto::sign(&self.key, Domain::Vote, &msg),
            }],
        };
        Ok((block, cert))
    }
}

/// The app as consensus holds it; the proxy holds the same [`LyingApp`]
/// (to make up blocks for sync responses).
pub struct Handle(pub Arc<LyingApp>);

impl App for Handle {
    fn committed_height(&self) -> u64 {
        self.0.committed_height()
    }
    fn build_block(&self, height: u64, proposer: PublicKey) -> Result<Block, AppError> {
        self.0.build_block(height, proposer)
    }
    fn check_block(&self, block: &BlockBytes, live: bool) -> Result<(), AppError> {
        self.0.check_block(block, live)
    }
    fn checkpoint_after(&self, block: &BlockBytes) -> Result<Checkpoint, AppError> {
        self.0.checkpoint_after(block)
    }
    fn commit(
        &self,
        block: BlockBytes,
        certificate: CommitCertificate,
        cosignatures: Vec<CarriedCosignature>,
    ) -> Result<(), AppError> {
        self.0.commit(block, certificate, cosignatures)
    }
    fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, AppError> {
        self.0.cosignatures(height)
    }
    fn committed(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, AppError> {
        self.0.committed(height)
    }
    fn committed_header(&self, height: u64) -> Result<Option<Header>, AppError> {
        self.0.committed_header(height)
    }
    fn validators(&self, height: u64) -> Result<Vec<ValidatorSpec>, AppError> {
        self.0.validators(height)
    }
}

impl App for LyingApp {
    fn committed_height(&self) -> u64 {
        let tip = self.inner.committed_height();
        if self.lies.tells(Lie::FalseTip) && tip >= ARM_HEIGHT_LIE_AT {
            tip + HEIGHT_LIE
        } else {
            tip
        }
    }

    fn build_block(&self, height: u64, proposer: PublicKey) -> Result<Block, AppError> {
        let block = self.inner.build_block(height, proposer)?;
        let kinds = self.lies.proposal_lies();
        if kinds.is_empty() {
            return Ok(block);
        }
        let mut p = self
            .proposing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if p.lied_last {
            p.lied_last = false;
            return Ok(block);
        }
        // The next kind in turn that this block can carry (an empty block
        // has no signature to break; the stolen entry may not exist yet).
        for i in 0..kinds.len() {
            let lie = kinds[(p.told + i) % kinds.len()];
            if let Some(bad) = self.corrupt(block.clone(), lie) {
                p.lied_last = true;
                p.told += i + 1;
                let hash = bad.header.hash();
                self.lies.told(
                    lie,
                    height,
                    &format!("proposed {} ({} entries)", hash.to_hex(), bad.entries.len()),
                );
                return Ok(bad);
            }
        }
        Ok(block)
    }

    fn check_block(&self, block: &BlockBytes, live: bool) -> Result<(), AppError> {
        self.inner.check_block(block, live)
    }

    /// With [`Lie::BadCosignature`], the checkpoint it cosigns in its
    /// precommits has a wrong root.
    fn checkpoint_after(&self, block: &BlockBytes) -> Result<Checkpoint, AppError> {
        let mut cp = self.inner.checkpoint_after(block)?;
        if self.lies.tells(Lie::BadCosignature) {
            cp.root.0[0] ^= 1;
            self.lies.told(
                Lie::BadCosignature,
                cp.height,
                &format!(
                    "cosigned root {} for block {}",
                    cp.root.to_hex(),
                    cp.block.to_hex()
                ),
            );
        }
        Ok(cp)
    }

    fn commit(
        &self,
        block: BlockBytes,
        certificate: CommitCertificate,
        cosignatures: Vec<CarriedCosignature>,
    ) -> Result<(), AppError> {
        self.inner.commit(block, certificate, cosignatures)
    }

    fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, AppError> {
        self.inner.cosignatures(height)
    }

    fn committed(
        &self,
        height: u64,
    ) -> Result<Option<(Block, Option<CommitCertificate>)>, AppError> {
        let tip = self.inner.committed_height();
        if height > tip {
            if !self.lies.tells(Lie::FalseTip) {
                return Ok(None);
            }
            let (block, cert) = self.made_up(height, tip)?;
            self.lies.told(
                Lie::FalseTip,
                height,
                &format!("served made-up block {}", block.header.hash().to_hex()),
            );
            return Ok(Some((block, Some(cert))));
        }
        let found = self.inner.committed(height)?;
        if !self.lies.tells(Lie::ServeBadBlocks) {
            return Ok(found);
        }
        let Some((mut block, Some(mut cert))) = found else {
            return Ok(found);
        };
        // The header stays, so the block's hash is still the one its
        // (genuine) certificate names: only the entries give it away.
        let what = if let Some(e) = block.entries.first_mut() {
            e.signature.0[0] ^= 1;
            "an entry's signature"
        } else if let Some(s) = cert.signatures.first_mut() {
            let mut broken = self
                .cert_broken
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if broken.remove(&height) {
                return Ok(Some((block, Some(cert))));
            }
            broken.insert(height);
            s.signature.0[0] ^= 1;
            "a commit signature"
        } else {
            return Ok(Some((block, Some(cert))));
        };
        self.lies.told(
            Lie::ServeBadBlocks,
            height,
            &format!(
                "served block {} with {what} broken",
                block.header.hash().to_hex()
            ),
        );
        Ok(Some((block, Some(cert))))
    }

    fn committed_header(&self, height: u64) -> Result<Option<Header>, AppError> {
        self.inner.committed_header(height)
    }

    fn validators(&self, height: u64) -> Result<Vec<ValidatorSpec>, AppError> {
        self.inner.validators(height)
    }
}
