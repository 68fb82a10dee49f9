//! The completeness index: an authenticated map from each lot, shipment,
//! payment and member (and the consortium's own history) to the entries
//! that touch it, so that a node can prove it left none out.
//!
//! - **What a key maps to** ([`Touched`]): how many entries touched the
//!   key, and a running hash over their ids in chain order,
//!   `last' = H(index-domain || last || id)` from all zeroes. A verifier
//!   folds the ids of the entries it was shown and compares; a node that
//!   leaves one out cannot make the two agree.
//! - **Which keys an entry touches** ([`keys_touched`]) comes from the
//!   rules' [`Effects`], the same facts the store's lookup indexes are
//!   built from, so the index and the trails cannot disagree about scope.
//! - **The map** is a binary sparse Merkle tree over the SHA-256 of each
//!   key's canonical bytes, hashed as the `jmt` crate's tree (so its
//!   roots are that crate's, and its published vectors hold here), with
//!   proofs of a value or of its absence under the root. [`MemoryIndex`]
//!   keeps the tree of the current height in memory; [`KeyProof`] is one
//!   key's proof: the path from the root, about 20 hashes for a million
//!   keys, checked against a root alone.
//!
//! Pure: the caller says which entries a block brought.

mod smt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec;
use crate::codes::Uetr;
use crate::crypto::{Hash32, PublicKey};
use crate::entry::EntryId;
use crate::gs1::{LotId, ShipmentId};
use crate::rules::Effects;

/// Domain tag of a key's hash.
const KEY_TAG: &[u8] = b"waybill/v1/index-key\0";
/// Domain tag of the running hash of a key's entry ids.
const TOUCH_TAG: &[u8] = b"waybill/v1/index-touch\0";

/// Why an index operation or proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The proof does not lead to the root.
    #[error("the completeness proof of {key} does not hold: {why}")]
    BadProof {
        /// The key, for people.
        key: String,
        /// What did not hold.
        why: String,
    },
    /// The tree refused an update (a bug, or an update made against
    /// another tree).
    #[error("the index tree: {0}")]
    Tree(String),
    /// An update made for another height than the next.
    #[error("an index update for height {update} does not follow height {current}")]
    NotNext {
        /// The update's height.
        update: u64,
        /// The index's height.
        current: u64,
    },
}

/// What an entry can touch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IndexKey {
    /// A lot: produced, consumed, shipped, received, recalled, corrected.
    Lot(LotId),
    /// A shipment: dispatched, taken over, received, paid for.
    Shipment(ShipmentId),
    /// A payment: recorded or corrected.
    Payment(Uetr),
    /// A member, as an entry's author.
    Author(PublicKey),
    /// The consortium: every membership and governance change.
    Council,
}

impl IndexKey {
    /// The key's place in the tree: SHA-256 of a domain tag and the key's
    /// canonical bytes.
    pub fn hash(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(KEY_TAG);
        h.update(codec::encode(self));
        Hash32(h.finalize().into())
    }
}

impl std::fmt::Display for IndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexKey::Lot(l) => write!(f, "lot {l}"),
            IndexKey::Shipment(s) => write!(f, "shipment {s}"),
            IndexKey::Payment(p) => write!(f, "payment {p}"),
            IndexKey::Author(k) => write!(f, "member {}", k.short()),
            IndexKey::Council => f.write_str("the consortium's membership"),
        }
    }
}

/// The keys an entry by `author` with `effects` touches, each once.
pub fn keys_touched(author: &PublicKey, effects: &Effects) -> Vec<IndexKey> {
    let mut keys: Vec<IndexKey> = Vec::with_capacity(2 + effects.lots.len());
    keys.push(IndexKey::Author(*author));
    keys.extend(effects.lots.iter().cloned().map(IndexKey::Lot));
    keys.extend(effects.shipments.iter().cloned().map(IndexKey::Shipment));
    keys.extend(effects.payment.map(IndexKey::Payment));
    if effects.membership {
        keys.push(IndexKey::Council);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The entries that touched a key: how many, and the running hash of
/// their ids in chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Touched {
    /// How many entries.
    pub count: u64,
    /// The running hash of their ids (all zeroes for none).
    pub last: Hash32,
}

impl Touched {
    /// Bytes of a value: the count (8 bytes, big-endian), then the hash.
    pub const BYTES: usize = 8 + 32;

    /// With one more entry, `id`.
    #[must_use]
    pub fn with(self, id: &EntryId) -> Touched {
        let mut h = Sha256::new();
        h.update(TOUCH_TAG);
        h.update(self.last.0);
        h.update(id.0);
        Touched {
            count: self.count.saturating_add(1),
            last: Hash32(h.finalize().into()),
        }
    }

    /// The value of the entries `ids`, in order.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a EntryId>) -> Touched {
        ids.into_iter().fold(Touched::default(), Touched::with)
    }

    /// The value's bytes in the tree.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[..8].copy_from_slice(&self.count.to_be_bytes());
        out[8..].copy_from_slice(&self.last.0);
        out
    }

    /// A value from its bytes in the tree.
    pub fn from_bytes(bytes: &[u8]) -> Option<Touched> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let (count, last) = bytes.split_at(8);
        Some(Touched {
            count: u64::from_be_bytes(count.try_into().ok()?),
            last: Hash32(last.try_into().ok()?),
        })
    }
}

/// One key's proof: what touched it (`None`: nothing did) under an index
/// root, as the path from the root down to where the key sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProof {
    /// The key.
    pub key: IndexKey,
    /// What the node says touched it.
    pub touched: Option<Touched>,
    /// For a key nothing touched whose place holds another key's leaf:
    /// that key's hash and its value's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<(Hash32, Hash32)>,
    /// The hashes beside the key's path, from the root down.
    pub siblings: Vec<Hash32>,
}

impl KeyProof {
    /// The proven value of `self.key` under `root`.
    pub fn verify(&self, root: &Hash32) -> Result<Touched, IndexError> {
        let bad = |why: String| IndexError::BadProof {
            key: self.key.to_string(),
            why,
        };
        let siblings: Vec<[u8; 32]> = self.siblings.iter().map(|h| h.0).collect();
        let got = smt::root_of(
            &self.key.hash().0,
            self.touched.as_ref(),
            self.other.map(|(k, v)| (k.0, v.0)),
            &siblings,
        )
        .map_err(bad)?;
        if got != root.0 {
            return Err(bad("it leads to another root".into()));
        }
        Ok(self.touched.unwrap_or_default())
    }
}

/// A key's place in the tree and an entry that touched it.
type KeyTouch<'a> = ([u8; 32], &'a EntryId);

/// The index as of a height, held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    tree: smt::Tree,
    height: u64,
}

/// A block's changes to the index, worked out but not installed: the root
/// the index has once it is.
#[derive(Debug, Clone)]
pub struct IndexUpdate {
    height: u64,
    patch: smt::Patch,
}

impl IndexUpdate {
    /// The height it brings the index to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The index root at that height.
    pub fn root(&self) -> Hash32 {
        Hash32(self.patch.root_hash())
    }
}

impl MemoryIndex {
    /// An empty index, as of height 0 (the genesis).
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// The index as of `height` that holds `values` (a ledger's, worked
    /// out from its entries when it opens).
    pub fn rebuilt(
        height: u64,
        values: impl IntoIterator<Item = (IndexKey, Touched)>,
    ) -> Result<MemoryIndex, IndexError> {
        MemoryIndex::rebuilt_hashed(
            height,
            values.into_iter().map(|(k, t)| (k.hash(), t)).collect(),
        )
    }

    /// [`MemoryIndex::rebuilt`] from each key's place in the tree
    /// ([`IndexKey::hash`]) rather than the key, each key once: a caller
    /// with a million keys hashes them one at a time instead of holding
    /// them all.
    pub fn rebuilt_hashed(
        height: u64,
        values: Vec<(Hash32, Touched)>,
    ) -> Result<MemoryIndex, IndexError> {
        // The same layout either side: collected in place.
        let mut sets: Vec<([u8; 32], Touched)> =
            values.into_iter().map(|(k, t)| (k.0, t)).collect();
        sets.sort_unstable_by_key(|s| s.0);
        let mut index = MemoryIndex {
            height,
            ..MemoryIndex::default()
        };
        let patch = index.tree.patch(&sets)?;
        drop(sets);
        index.tree.install(patch)?;
        Ok(index)
    }

    /// The height it is as of.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The root as of [`MemoryIndex::height`].
    pub fn root(&self) -> Hash32 {
        Hash32(self.tree.root_hash())
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether no entry touched anything yet.
    pub fn is_empty(&self) -> bool {
        self.tree.len() == 0
    }

    /// What touched `key`, as of now.
    pub fn get(&self, key: &IndexKey) -> Touched {
        self.get_hashed(&key.hash().0)
    }

    /// What touched the key placed at `k`.
    fn get_hashed(&self, k: &[u8; 32]) -> Touched {
        self.tree.get(k).unwrap_or_default()
    }

    /// Works out block `height`'s changes (the next height): `touches`
    /// lists, in chain order, each key an entry touched with the entry's
    /// id. Nothing changes until [`MemoryIndex::install`].
    pub fn update<'a>(
        &self,
        height: u64,
        touches: impl IntoIterator<Item = (&'a IndexKey, &'a EntryId)>,
    ) -> Result<IndexUpdate, IndexError> {
        if height != self.height + 1 {
            return Err(IndexError::NotNext {
                update: height,
                current: self.height,
            });
        }
        // Each key's touches in chain order, the keys in the tree's order.
        let mut flat: Vec<KeyTouch<'_>> = touches
            .into_iter()
            .map(|(k, id)| (k.hash().0, id))
            .collect();
        // Stable: a key's touches keep their order.
        flat.sort_by_key(|t| t.0);
        let mut changes: Vec<([u8; 32], &[KeyTouch<'_>])> = Vec::new();
        let mut rest = flat.as_slice();
        while let Some((k, _)) = rest.first() {
            let n = rest.partition_point(|(other, _)| other == k);
            let (run, after) = rest.split_at(n);
            changes.push((*k, run));
            rest = after;
        }
        let patch = self.tree.patch_with(&changes, |old, run| {
            run.iter()
                .fold(old.copied().unwrap_or_default(), |t, (_, id)| t.with(id))
        })?;
        Ok(IndexUpdate { height, patch })
    }

    /// Installs an update made by [`MemoryIndex::update`] on this very
    /// index.
    pub fn install(&mut self, update: IndexUpdate) -> Result<(), IndexError> {
        if update.height != self.height + 1 {
            return Err(IndexError::NotNext {
                update: update.height,
                current: self.height,
            });
        }
        self.tree.install(update.patch)?;
        self.height = update.height;
        Ok(())
    }

    /// `key`'s proof as of now.
    pub fn prove(&self, key: &IndexKey) -> KeyProof {
        let k = key.hash().0;
        let path = self.tree.path(&k);
        let (touched, other) = match path.leaf {
            Some((at, value)) if at == k => (Some(value), None),
            Some((at, value)) => (None, Some((Hash32(at), Hash32(smt::value_hash(&value))))),
            None => (None, None),
        };
        KeyProof {
            key: key.clone(),
            touched,
            other,
            siblings: path.siblings.into_iter().map(Hash32).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
