//! A block's *map*: the one value beside each stored block that lets an
//! entry be read, and proven, without decoding or rehashing the block.
//!
//! It holds the block's entry ids (the Merkle leaves), the offset of each
//! entry inside the block's canonical bytes, and the Merkle tree's
//! interior nodes. Reading one entry takes a slice of its block's value
//! and decodes only that entry; its inclusion proof comes from the stored
//! interior nodes in O(log n), with no rehashing. Opening rebuilds the
//! entry id index from the maps of the blocks the snapshot does not cover.

use waybill_core::crypto::Hash32;
use waybill_core::entry::EntryId;
use waybill_core::merkle;

/// A block's map value: `n` (u32), `n` ids, `n + 1` offsets (u32) of the
/// entries in the block's canonical bytes, then the Merkle interior nodes.
pub(crate) struct BlockMap<'a> {
    pub(crate) n: usize,
    bytes: &'a [u8],
}

impl<'a> BlockMap<'a> {
    pub(crate) fn encode(ids: &[EntryId], offsets: &[u32], interior: &[merkle::Hash]) -> Vec<u8> {
        let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(4 + ids.len() * 36 + 4 + interior.len() * 32);
        out.extend_from_slice(&n.to_be_bytes());
        for id in ids {
            out.extend_from_slice(&id.0);
        }
        for o in offsets {
            out.extend_from_slice(&o.to_be_bytes());
        }
        for h in interior {
            out.extend_from_slice(h);
        }
        out
    }

    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Self> {
        let n = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let fixed = 4 + n.checked_mul(36)?.checked_add(4)?;
        if bytes.len() < fixed || !(bytes.len() - fixed).is_multiple_of(32) {
            return None;
        }
        Some(BlockMap { n, bytes })
    }

    pub(crate) fn id(&self, i: usize) -> Option<EntryId> {
        let start = 4 + i * 32;
        (i < self.n).then(|| {
            let mut a = [0u8; 32];
            a.copy_from_slice(&self.bytes[start..start + 32]);
            Hash32(a)
        })
    }

    /// Entry `i`'s Merkle leaf (its id).
    pub(crate) fn leaf(&self, i: usize) -> Option<merkle::Hash> {
        self.id(i).map(|id| id.0)
    }

    pub(crate) fn offset(&self, i: usize) -> Option<usize> {
        let start = 4 + self.n * 32 + i * 4;
        (i <= self.n).then(|| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&self.bytes[start..start + 4]);
            u32::from_be_bytes(a) as usize
        })
    }

    /// How many interior Merkle nodes the map holds.
    pub(crate) fn interior_len(&self) -> usize {
        self.bytes.len().saturating_sub(4 + self.n * 36 + 4) / 32
    }

    /// Interior Merkle node `j` (see [`merkle::interior_nodes`]).
    pub(crate) fn node(&self, j: usize) -> Option<merkle::Hash> {
        let start = 4 + self.n * 36 + 4 + j * 32;
        let mut a = [0u8; 32];
        a.copy_from_slice(self.bytes.get(start..start + 32)?);
        Some(a)
    }
}
