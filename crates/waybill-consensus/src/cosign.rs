//! The validators' cosignatures of the ledger's log, carried by their
//! precommits as vote extensions (see `waybill_core::checkpoint`).
//!
//! Before precommitting a block, a validator cosigns the checkpoint the
//! log will have with that block committed (the size, the root, the
//! height and the block's hash), stating the block's time in seconds, so
//! every validator signs the same message; the 72 bytes of that
//! cosignature are its vote extension, which consensus signs as it
//! signs the vote. A decided block thus comes with the cosignatures of
//! the validators that decided it: the node keeps them with the block
//! and serves one note that verifies on its own (more than 2/3 of the
//! voting power, like the commit certificate), and syncing peers receive
//! them with the certificate.
//!
//! An extension is checked against the block's checkpoint when this node
//! has the block and it follows the tip, so a validator that cosigns a
//! wrong checkpoint has its precommit refused; otherwise (a certificate
//! synced before its block, a vote ahead of the proposal) only its form
//! is. The ledger keeps every extension of the decision as it came (a
//! syncing peer refuses a certificate that lacks one) and serves only
//! the cosignatures that verify: a wrong one that slipped through costs
//! nothing but its validator's line in the note.

use std::collections::hash_map::{Entry, HashMap};

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::VoteExtensionError;
use malachitebft_app_channel::app::types::core::{SignedExtension, VoteExtensions};
use waybill_core::checkpoint::{CarriedCosignature, Checkpoint, CheckpointError, Cosignature};
use waybill_core::crypto;

use crate::ctx::{Address, BlockHash, WaybillCtx};
use crate::signing::Signature;

/// The time a cosignature of a block's checkpoint states: the block's
/// time, in whole seconds (0 before the epoch).
pub fn cosignature_time(time_ms: i64) -> u64 {
    u64::try_from(time_ms.div_euclid(1000)).unwrap_or(0)
}

/// The checkpoint of each block seen for the height being decided,
/// worked out once per block.
#[derive(Default)]
pub(crate) struct Checkpoints {
    by_block: HashMap<BlockHash, Checkpoint>,
}

impl Checkpoints {
    /// Block `hash`'s checkpoint, worked out by `make` the first time
    /// (`None`: the block does not follow the tip, or the ledger cannot
    /// say; asked again next time).
    pub(crate) fn of(
        &mut self,
        hash: BlockHash,
        make: impl FnOnce() -> Option<Checkpoint>,
    ) -> Option<&Checkpoint> {
        match self.by_block.entry(hash) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => Some(e.insert(make()?)),
        }
    }

    /// Forgets all but the checkpoints of `keep`.
    pub(crate) fn retain(&mut self, keep: &[BlockHash]) {
        self.by_block.retain(|k, _| keep.contains(k));
    }
}

/// The vote extension of a precommit for a block with checkpoint `cp`
/// and time `time_ms`: this validator's cosignature of it.
pub(crate) fn extension(
    key: &ed25519_dalek::SigningKey,
    cp: &Checkpoint,
    time_ms: i64,
) -> Result<Bytes, CheckpointError> {
    let c = Cosignature::sign(cp, key, cosignature_time(time_ms))?;
    Ok(Bytes::copy_from_slice(&c.to_bytes()))
}

/// The verdict on one validator's extension: a cosignature in form, and
/// of `cp` when it is known.
pub(crate) fn verdict(
    validator: &Address,
    extension: &[u8],
    cp: Option<&Checkpoint>,
) -> Result<(), VoteExtensionError> {
    let c = Cosignature::from_bytes(validator.0, extension)
        .map_err(|_| VoteExtensionError::InvalidVoteExtension)?;
    match cp {
        Some(cp) => c
            .verify(cp)
            .map_err(|_| VoteExtensionError::InvalidVoteExtension),
        None => Ok(()),
    }
}

/// The cosignatures of a decision's extensions, each with the signature
/// that carried it (one of the wrong form is left out).
pub(crate) fn carried(extensions: &VoteExtensions<WaybillCtx>) -> Vec<CarriedCosignature> {
    extensions
        .extensions
        .iter()
        .filter_map(|(validator, ext)| {
            let cosignature = Cosignature::from_bytes(validator.0, &ext.message).ok()?;
            Some(CarriedCosignature {
                cosignature,
                extension_signature: crypto::Signature(ext.signature.0),
            })
        })
        .collect()
}

/// A kept cosignature as the signed extension it came as (to serve a
/// decided block to syncing peers).
pub(crate) fn signed_extension(c: &CarriedCosignature) -> SignedExtension<WaybillCtx> {
    SignedExtension::<WaybillCtx>::new(
        Bytes::copy_from_slice(&c.cosignature.to_bytes()),
        Signature(c.extension_signature.0),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::SigningKey;
    use waybill_core::checkpoint;
    use waybill_core::crypto::Hash32;

    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// A validator's address.
    pub(crate) fn address(k: &SigningKey) -> Address {
        Address(crypto::public_key(k))
    }

    /// A checkpoint of `size` entries at height 3 (made up).
    pub(crate) fn cp(size: u64) -> Checkpoint {
        Checkpoint {
            origin: checkpoint::origin(&Hash32([7; 32])),
            size,
            root: Hash32([size as u8; 32]),
            height: 3,
            block: Hash32([9; 32]),
            index: Hash32([10; 32]),
        }
    }

    /// A validator's extension is its cosignature of the block's
    /// checkpoint at the block's time in seconds: it passes for that
    /// checkpoint and validator only, and its form is all that is
    /// checked without the block.
    #[test]
    fn an_extension_is_the_cosignature_of_the_blocks_checkpoint() {
        let k = key(1);
        let ext = extension(&k, &cp(5), 1_700_000_000_999).expect("a time in range");
        let c = Cosignature::from_bytes(crypto::public_key(&k), &ext).expect("its form");
        assert_eq!(c.time, 1_700_000_000);
        assert_eq!(verdict(&address(&k), &ext, Some(&cp(5))), Ok(()));
        // Another checkpoint, another validator: refused.
        assert!(verdict(&address(&k), &ext, Some(&cp(6))).is_err());
        assert!(verdict(&address(&key(2)), &ext, Some(&cp(5))).is_err());
        // Without the block only the form counts.
        assert_eq!(verdict(&address(&key(2)), &ext, None), Ok(()));
        assert!(verdict(&address(&k), &ext[..71], None).is_err());
        assert!(verdict(&address(&k), b"", None).is_err());
        // A block before the epoch states time 0.
        assert_eq!(cosignature_time(-1), 0);
        assert_eq!(cosignature_time(1999), 1);
    }
}
