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
//! - **The map** is a Jellyfish Merkle tree (the `jmt` crate, SHA-256): a
//!   sparse Merkle tree over the SHA-256 of each key's canonical bytes,
//!   with proofs of a value or of its absence under the root.
//!   [`MemoryIndex`] keeps the tree of the current height in memory;
//!   [`KeyProof`] is one key's proof, checked against a root alone.
//!
//! Pure: the caller says which entries a block brought.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::FixedState;
use jmt::proof::SparseMerkleProof;
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
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
    /// A stored value is not a [`Touched`].
    #[error("the index value of {0} is malformed")]
    Malformed(String),
    /// The tree refused an update or a read (a bug or a lost node).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// One key's proof: its value (`None`: no entry touched it) under an
/// index root.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyProof {
    /// The key.
    pub key: IndexKey,
    /// What the node says touched it.
    pub touched: Option<(u64, Hash32)>,
    /// The sparse Merkle proof of that value (or of its absence).
    pub proof: SparseMerkleProof<Sha256>,
}

impl KeyProof {
    /// The proven value of `self.key` under `root`.
    pub fn verify(&self, root: &Hash32) -> Result<Touched, IndexError> {
        let bad = |why: String| IndexError::BadProof {
            key: self.key.to_string(),
            why,
        };
        let key = KeyHash(self.key.hash().0);
        let touched = self.touched.map(|(count, last)| Touched { count, last });
        let value = touched.map(|t| t.to_bytes());
        self.proof
            .verify(RootHash(root.0), key, value.as_ref())
            .map_err(|e| bad(e.to_string()))?;
        Ok(touched.unwrap_or_default())
    }
}

/// The index as of a height, held in memory: the tree's current nodes
/// and each key's current value.
///
/// The tree's versions count from the height it was made at (`base`, 0
/// for a tree grown from the genesis, the tip for one rebuilt from a
/// ledger's values): a root does not depend on versions, only on the map.
#[derive(Debug, Default)]
pub struct MemoryIndex {
    nodes: HashMap<NodeKey, Node, FixedState>,
    values: HashMap<KeyHash, (Version, OwnedValue), FixedState>,
    /// The height of the tree's version 0.
    base: u64,
    /// The tree's version; `None` before the first update.
    version: Option<Version>,
    root: Hash32,
}

/// A block's changes to the index, worked out but not installed: the root
/// the index has once it is.
#[derive(Debug, Clone)]
pub struct IndexUpdate {
    height: u64,
    root: Hash32,
    values: Vec<(KeyHash, Touched)>,
    batch: jmt::storage::TreeUpdateBatch,
}

impl IndexUpdate {
    /// The height it brings the index to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The index root at that height.
    pub fn root(&self) -> Hash32 {
        self.root
    }
}

impl TreeReader for MemoryIndex {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .get(&key_hash)
            .filter(|(v, _)| *v <= max_version)
            .map(|(_, value)| value.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only a tree being restored from chunks asks; this one never is.
        Ok(None)
    }
}

fn tree_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Tree(e.to_string())
}

impl MemoryIndex {
    /// An empty index, as of height 0 (the genesis).
    pub fn new() -> Result<MemoryIndex, IndexError> {
        MemoryIndex::rebuilt(0, Vec::new())
    }

    /// The index as of `height` that holds `values` (a ledger's, worked
    /// out from its entries when it opens).
    pub fn rebuilt(
        height: u64,
        values: Vec<(IndexKey, Touched)>,
    ) -> Result<MemoryIndex, IndexError> {
        let mut index = MemoryIndex {
            base: height,
            ..MemoryIndex::default()
        };
        let set = values
            .into_iter()
            .map(|(k, t)| (KeyHash(k.hash().0), t))
            .collect();
        let update = index.put(height, set)?;
        index.install(update)?;
        Ok(index)
    }

    /// The height it is as of.
    pub fn height(&self) -> u64 {
        self.base + self.version.unwrap_or(0)
    }

    /// The height an update must be of.
    fn next(&self) -> u64 {
        match self.version {
            None => self.base,
            Some(_) => self.height() + 1,
        }
    }

    /// The root as of [`MemoryIndex::height`].
    pub fn root(&self) -> Hash32 {
        self.root
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no entry touched anything yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// What touched `key`, as of now.
    pub fn get(&self, key: &IndexKey) -> Touched {
        self.get_hashed(&KeyHash(key.hash().0))
    }

    /// Works out block `height`'s changes (the next height): `touches`
    /// lists, in chain order, each key an entry touched with the entry's
    /// id. Nothing changes until [`MemoryIndex::install`].
    pub fn update<'a>(
        &self,
        height: u64,
        touches: impl IntoIterator<Item = (&'a IndexKey, &'a EntryId)>,
    ) -> Result<IndexUpdate, IndexError> {
        let mut changed: BTreeMap<KeyHash, Touched> = BTreeMap::new();
        for (key, id) in touches {
            let k = KeyHash(key.hash().0);
            let before = match changed.get(&k) {
                Some(t) => *t,
                None => self.get_hashed(&k),
            };
            changed.insert(k, before.with(id));
        }
        self.put(height, changed)
    }

    /// What touched the key placed at `k`.
    fn get_hashed(&self, k: &KeyHash) -> Touched {
        self.values
            .get(k)
            .and_then(|(_, v)| Touched::from_bytes(v))
            .unwrap_or_default()
    }

    /// The update that sets `values` at `height`.
    fn put(
        &self,
        height: u64,
        values: BTreeMap<KeyHash, Touched>,
    ) -> Result<IndexUpdate, IndexError> {
        if height != self.next() {
            return Err(IndexError::NotNext {
                update: height,
                current: self.height(),
            });
        }
        let tree: JellyfishMerkleTree<'_, _, Sha256> = JellyfishMerkleTree::new(self);
        let version = height - self.base;
        let (root, batch) = if values.is_empty() {
            // The batch insertion refuses an empty set (it asserts); an
            // empty block still makes a version, with the same root.
            tree.put_value_set(std::iter::empty(), version)
                .map_err(tree_error)?
        } else {
            // Sorted keys inserted subtree by subtree: each node on the
            // way is made once, not once per key (45 ms against 70 for a
            // block of 1,300 entries on 300,000 keys, with the map's
            // fixed-seed hash).
            let set: Vec<(KeyHash, OwnedValue)> = values
                .iter()
                .map(|(k, t)| (*k, t.to_bytes().to_vec()))
                .collect();
            let (roots, batch) = tree
                .batch_put_value_sets(vec![set], None, version)
                .map_err(tree_error)?;
            let root = roots
                .first()
                .copied()
                .ok_or_else(|| IndexError::Tree("no root for the update".into()))?;
            (root, batch)
        };
        Ok(IndexUpdate {
            height,
            root: Hash32(root.0),
            values: values.into_iter().collect(),
            batch,
        })
    }

    /// Installs an update made by [`MemoryIndex::update`] on this very
    /// index. The nodes it made stale are dropped: the index answers as of
    /// its height only.
    pub fn install(&mut self, update: IndexUpdate) -> Result<(), IndexError> {
        if update.height != self.next() {
            return Err(IndexError::NotNext {
                update: update.height,
                current: self.height(),
            });
        }
        for stale in &update.batch.stale_node_index_batch {
            self.nodes.remove(&stale.node_key);
        }
        for (key, node) in update.batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        let version = update.height - self.base;
        for (key, t) in update.values {
            self.values.insert(key, (version, t.to_bytes().to_vec()));
        }
        self.version = Some(version);
        self.root = update.root;
        Ok(())
    }

    /// `key`'s proof as of now.
    pub fn prove(&self, key: &IndexKey) -> Result<KeyProof, IndexError> {
        let tree: JellyfishMerkleTree<'_, _, Sha256> = JellyfishMerkleTree::new(self);
        let (value, proof) = tree
            .get_with_proof(KeyHash(key.hash().0), self.version.unwrap_or(0))
            .map_err(tree_error)?;
        let touched = match value {
            None => None,
            Some(v) => {
                let t = Touched::from_bytes(&v)
                    .ok_or_else(|| IndexError::Malformed(key.to_string()))?;
                Some((t.count, t.last))
            }
        };
        Ok(KeyProof {
            key: key.clone(),
            touched,
            proof,
        })
    }
}

#[cfg(test)]
mod tests;
