//! The validators' cosignatures of each block's checkpoint, as their
//! precommits carried them (see `waybill_core::checkpoint` and the
//! consensus crate's vote extensions), kept with the block under
//! `ns::COSIG ‖ height`: one value per block, 168 bytes per validator
//! (its key, the cosignature's time and signature, and its signature of
//! the vote extension), in the order given.
//!
//! They are the block's checkpoint note: any node serves it whole, so a
//! reader needs no more than one node, whichever validators it runs.
//!
//! They are kept as consensus decided them, even one that does not
//! verify (a validator may cosign a wrong checkpoint, and a node that
//! synced the block's certificate before the block could not tell):
//! syncing peers must receive the certificate with every extension its
//! precommits carried, or they refuse it. Each is authenticated by its
//! own signature, so only those that verify are served as the note
//! ([`Ledger::cosigned`]), and the integrity check reads but does not
//! require them.

use waybill_core::block::{self, BlockBytes};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint, Cosignature};
use waybill_core::crypto::{PublicKey, Signature};
use waybill_core::rules;

use crate::append::Prepared;
use crate::backend::Backend;
use crate::error::StoreError;
use crate::keys::{self, ns};
use crate::ledger::Ledger;
use crate::validate::Validated;

/// What [`Ledger::attach_cosignatures`] kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// Cosignatures kept with the block.
    pub kept: usize,
    /// How many of them verify.
    pub verified: usize,
}

/// Bytes of one stored cosignature.
const STORED: usize = 32 + Cosignature::BYTES + 64;

fn encode(all: &[CarriedCosignature]) -> Vec<u8> {
    let mut out = Vec::with_capacity(all.len() * STORED);
    for c in all {
        out.extend_from_slice(&c.cosignature.validator.0);
        out.extend_from_slice(&c.cosignature.to_bytes());
        out.extend_from_slice(&c.extension_signature.0);
    }
    out
}

fn decode(height: u64, bytes: &[u8]) -> Result<Vec<CarriedCosignature>, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt(format!("block {height}'s cosignatures {why}"));
    if !bytes.len().is_multiple_of(STORED) {
        return Err(corrupt("are cut short"));
    }
    bytes
        .chunks_exact(STORED)
        .map(|c| {
            let (key, rest) = c.split_at(32);
            let (cosig, ext) = rest.split_at(Cosignature::BYTES);
            let key = <[u8; 32]>::try_from(key).map_err(|_| corrupt("are cut short"))?;
            let ext = <[u8; 64]>::try_from(ext).map_err(|_| corrupt("are cut short"))?;
            let cosignature = Cosignature::from_bytes(PublicKey(key), cosig)
                .map_err(|e| corrupt(&format!("do not read: {e}")))?;
            Ok(CarriedCosignature {
                cosignature,
                extension_signature: Signature(ext),
            })
        })
        .collect()
}

impl<B: Backend> Ledger<B> {
    /// The checkpoint the log would have with `block` committed on the
    /// tip (what its validators cosign before it is), its completeness
    /// index root included. `checked` is the block's validation on this
    /// tip, if at hand (a validator has validated what it precommits);
    /// without it, the block is validated here. Refused if the block does
    /// not follow the tip or breaks a rule.
    pub fn checkpoint_after(
        &self,
        block: &BlockBytes,
        checked: Option<&Validated>,
    ) -> Result<Checkpoint, StoreError> {
        let header = &block.block().header;
        block::check_link(&self.chain_id(), self.tip.as_ref(), header)?;
        let ids: Vec<_> = block.entries().iter().map(|e| e.id).collect();
        let tip = self.tip_hash();
        let hash = header.hash();
        let fresh;
        let validated = match checked.filter(|v| v.tip == tip && v.block == hash && v.ids == ids) {
            Some(v) => v,
            None => {
                fresh = self.validate_encoded(block, &|_| false)?;
                &fresh
            }
        };
        let (_, after) = self.log.append(&ids)?;
        Ok(after.checkpoint(&self.chain_id(), header, validated.index.root()))
    }

    /// Keeps with a prepared block the cosignatures its validators'
    /// precommits carried, as they are: one per validator of its height
    /// (a repeat or another key's is dropped).
    pub fn attach_cosignatures(
        &self,
        prepared: &mut Prepared,
        given: &[CarriedCosignature],
    ) -> Attached {
        let (cp, height) = prepared.checkpoint(&self.chain_id());
        let validators = rules::validators_at(&self.state, height);
        let mut kept: Vec<CarriedCosignature> = Vec::with_capacity(given.len());
        for c in given {
            let v = &c.cosignature.validator;
            if !kept.iter().any(|k| k.cosignature.validator == *v)
                && validators.iter().any(|s| s.public_key == *v)
            {
                kept.push(*c);
            }
        }
        if !kept.is_empty() {
            prepared.put(keys::at_height(ns::COSIG, height), encode(&kept));
        }
        Attached {
            kept: kept.len(),
            verified: kept
                .iter()
                .filter(|c| c.cosignature.verify(&cp).is_ok())
                .count(),
        }
    }

    /// The checkpoint as of block `height` and the kept cosignatures of
    /// it that verify: its note. `None` for height 0 or a block not
    /// committed.
    pub fn cosigned(
        &self,
        height: u64,
    ) -> Result<Option<(Checkpoint, Vec<Cosignature>)>, StoreError> {
        let Some(cp) = self.checkpoint(height)? else {
            return Ok(None);
        };
        let lines = self
            .cosignatures(height)?
            .into_iter()
            .map(|c| c.cosignature)
            .filter(|c| c.verify(&cp).is_ok())
            .collect();
        Ok(Some((cp, lines)))
    }

    /// The cosignatures kept with block `height`, as decided (none for a
    /// block committed without, or not committed).
    pub fn cosignatures(&self, height: u64) -> Result<Vec<CarriedCosignature>, StoreError> {
        match self.backend.get(&keys::at_height(ns::COSIG, height))? {
            Some(bytes) => decode(height, &bytes),
            None => Ok(Vec::new()),
        }
    }
}
