//! Blocks, headers, commit certificates and the header chain.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, MAX_BLOCK_BYTES};
use crate::crypto::{Domain, Hash32, PublicKey, Signature};
use crate::entry::{Cosignature, Encoded, Entry, EntryId, SignedEntry};
use crate::genesis::{ChainId, Genesis, ValidatorSpec};
use crate::merkle;

/// Block hash: SHA-256 of the header's canonical bytes under the header tag.
pub type BlockHash = Hash32;

/// A block header. Height 1 is the first block; its `prev_hash` is the
/// chain id, which ties every chain to its genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The chain.
    pub chain_id: ChainId,
    /// Height, from 1.
    pub height: u64,
    /// Hash of the previous header (the chain id at height 1).
    pub prev_hash: Hash32,
    /// The proposer's clock (ms since the Unix epoch); strictly increasing.
    pub time_ms: i64,
    /// Who proposed (sealed) the block.
    pub proposer: PublicKey,
    /// RFC 9162 Merkle root over the entry ids, in block order.
    pub entries_root: Hash32,
    /// How many entries.
    pub entry_count: u32,
}

impl Header {
    /// Canonical bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The block hash.
    pub fn hash(&self) -> BlockHash {
        Hash32::digest_in(Domain::Header, &self.canonical_bytes())
    }
}

/// A block: header and entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The entries, in order.
    pub entries: Vec<SignedEntry>,
}

/// A block with its canonical bytes and each entry's [`Encoded`] parts,
/// from one encoding ([`BlockBytes::encode`]) or one decoding
/// ([`BlockBytes::decode`]). The fields are private, so the bytes and parts
/// are always the block's: a block that travels as bytes (a proposal, a
/// synced block) is validated and stored without encoding it again.
#[derive(Debug, Clone)]
pub struct BlockBytes {
    block: Block,
    bytes: Vec<u8>,
    entries: Vec<Encoded>,
}

impl BlockBytes {
    /// Encodes `block`, keeping each entry's parts on the way.
    pub fn encode(block: Block) -> Self {
        // The encoding is the header, the entry count (u64) and each entry
        // in turn, so the pieces are appended one after another.
        let mut bytes = Vec::with_capacity(codec::encoded_len(&block));
        codec::encode_append(&mut bytes, &block.header);
        codec::encode_append(&mut bytes, &(block.entries.len() as u64));
        let entries = block
            .entries
            .iter()
            .map(|e| e.encode_into(&mut bytes))
            .collect();
        BlockBytes {
            block,
            bytes,
            entries,
        }
    }

    /// Decodes untrusted canonical bytes (at most `LIMIT` of them), as
    /// [`Block::decode_with_encodings`] does, and keeps them.
    pub fn decode<const LIMIT: usize>(bytes: Vec<u8>) -> Result<Self, CodecError> {
        let (block, entries) = Block::decode_with_encodings::<LIMIT>(&bytes)?;
        Ok(BlockBytes {
            block,
            bytes,
            entries,
        })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Its canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Each entry's parts, in order.
    pub fn entries(&self) -> &[Encoded] {
        &self.entries
    }

    /// The block, its bytes and its entries' parts.
    pub fn into_parts(self) -> (Block, Vec<u8>, Vec<Encoded>) {
        (self.block, self.bytes, self.entries)
    }
}

/// One validator's precommit signature in a commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSignature {
    /// The validator's key.
    pub validator: PublicKey,
    /// Its signature over the vote bytes.
    pub signature: Signature,
}

/// Proof that more than 2/3 of the voting power committed a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitCertificate {
    /// Height.
    pub height: u64,
    /// Consensus round that decided it.
    pub round: u32,
    /// The block committed.
    pub block_hash: BlockHash,
    /// Precommit signatures, sorted by validator key.
    pub signatures: Vec<CommitSignature>,
}

/// A consensus vote's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoteKind {
    /// First round of voting.
    Prevote,
    /// Second round; a quorum of precommits for a block commits it.
    Precommit,
}

/// The bytes a validator signs (under [`Domain::Vote`]) to vote at
/// `height`/`round` for `value` (`None`: nil). The same bytes are signed by
/// the consensus engine's signer and checked by offline certificate
/// verification, so a commit certificate verifies with only the genesis.
pub fn vote_bytes(
    chain_id: &ChainId,
    kind: VoteKind,
    height: u64,
    round: i64,
    value: Option<&BlockHash>,
    validator: &PublicKey,
) -> Vec<u8> {
    codec::encode(&(chain_id, kind, height, round, value, validator))
}

/// The bytes `validator` signs to precommit `block_hash`.
pub fn precommit_bytes(
    chain_id: &ChainId,
    height: u64,
    round: u32,
    block_hash: &BlockHash,
    validator: &PublicKey,
) -> Vec<u8> {
    vote_bytes(
        chain_id,
        VoteKind::Precommit,
        height,
        i64::from(round),
        Some(block_hash),
        validator,
    )
}

/// The bytes a proposer signs (under [`Domain::Proposal`]) to propose
/// `value` at `height`/`round` (`pol_round`: -1 when none).
pub fn proposal_bytes(
    chain_id: &ChainId,
    height: u64,
    round: i64,
    pol_round: i64,
    value: &BlockHash,
    proposer: &PublicKey,
) -> Vec<u8> {
    codec::encode(&(chain_id, height, round, pol_round, value, proposer))
}

/// Why a block or header is not the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Wrong chain.
    #[error("block {height} belongs to chain {got}, not {expected}")]
    WrongChain {
        /// Height.
        height: u64,
        /// Expected chain id.
        expected: String,
        /// Found chain id.
        got: String,
    },
    /// Height does not follow.
    #[error("expected height {expected}, found {got}")]
    WrongHeight {
        /// Expected.
        expected: u64,
        /// Found.
        got: u64,
    },
    /// The previous hash does not link.
    #[error("block {height} does not link to the block before it (prev_hash {got}, expected {expected})")]
    BrokenLink {
        /// Height.
        height: u64,
        /// Expected.
        expected: String,
        /// Found.
        got: String,
    },
    /// Time did not move forward.
    #[error("block {height} has time {time_ms}, not after the previous block's {prev_ms}")]
    TimeNotIncreasing {
        /// Height.
        height: u64,
        /// This block's time.
        time_ms: i64,
        /// Previous block's time.
        prev_ms: i64,
    },
    /// Entry count or Merkle root do not match the entries.
    #[error("block {height}'s header does not match its entries ({what})")]
    EntriesMismatch {
        /// Height.
        height: u64,
        /// What differs.
        what: &'static str,
    },
    /// Too many entries.
    #[error("block {height} has {count} entries, more than the limit of {max}")]
    TooManyEntries {
        /// Height.
        height: u64,
        /// Count.
        count: usize,
        /// Limit.
        max: u32,
    },
    /// Certificate problems.
    #[error("block {height}: {reason}")]
    Certificate {
        /// Height.
        height: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The Merkle root over entry ids.
pub fn entries_root(ids: &[EntryId]) -> Hash32 {
    let leaves: Vec<[u8; 32]> = ids.iter().map(|h| h.0).collect();
    Hash32(merkle::root(&leaves))
}

impl Block {
    /// Builds a block over `entries` on top of `prev` (`None` for height 1).
    pub fn seal(
        chain_id: ChainId,
        prev: Option<&Header>,
        time_ms: i64,
        proposer: PublicKey,
        entries: Vec<SignedEntry>,
    ) -> Block {
        let ids: Vec<EntryId> = entries.iter().map(|e| e.id()).collect();
        let (height, prev_hash) = match prev {
            Some(p) => (p.height + 1, p.hash()),
            None => (1, chain_id),
        };
        Block {
            header: Header {
                chain_id,
                height,
                prev_hash,
                time_ms,
                proposer,
                entries_root: entries_root(&ids),
                entry_count: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            },
            entries,
        }
    }

    /// Entry ids in order.
    pub fn entry_ids(&self) -> Vec<EntryId> {
        self.entries.iter().map(|e| e.id()).collect()
    }

    /// Canonical bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes untrusted canonical bytes.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode::<Self, MAX_BLOCK_BYTES>("block", bytes)
    }

    /// Decodes untrusted canonical bytes (at most `LIMIT` of them) as
    /// [`Block::from_canonical_bytes`] does, and gives each entry's
    /// [`Encoded`] parts straight from those bytes: its id, signed message
    /// and length need no second encoding.
    pub fn decode_with_encodings<const LIMIT: usize>(
        bytes: &[u8],
    ) -> Result<(Block, Vec<Encoded>), CodecError> {
        const WHAT: &str = "block";
        if bytes.len() > LIMIT {
            return Err(CodecError::TooLarge {
                what: WHAT,
                len: bytes.len(),
                limit: LIMIT,
            });
        }
        let rest_at = |at: usize| {
            bytes.get(at..).ok_or_else(|| CodecError::Malformed {
                what: WHAT,
                reason: "a piece ends beyond the block".into(),
            })
        };
        // The encoding is the header, the entry count (u64) and the
        // entries, each its entry, signature and co-signatures in turn.
        let (header, mut at) = codec::decode_prefix::<Header, LIMIT>(WHAT, bytes)?;
        let (count, used) = codec::decode_prefix::<u64, LIMIT>(WHAT, rest_at(at)?)?;
        at += used;
        // An entry takes more than its 64-byte signature, so a larger
        // count cannot fit; it fails below, without reserving for it.
        let room = usize::try_from(count).map_or(0, |n| n.min(bytes.len() / 64));
        let mut entries = Vec::with_capacity(room);
        let mut encoded = Vec::with_capacity(room);
        for _ in 0..count {
            let rest = rest_at(at)?;
            let (entry, m) = codec::decode_prefix::<Entry, LIMIT>(WHAT, rest)?;
            let ((signature, cosignatures), t) = codec::decode_prefix::<
                (Signature, Vec<Cosignature>),
                LIMIT,
            >(WHAT, rest_at(at + m)?)?;
            let (whole, message) =
                rest.get(..m + t)
                    .zip(rest.get(..m))
                    .ok_or_else(|| CodecError::Malformed {
                        what: WHAT,
                        reason: "an entry ends beyond the block".into(),
                    })?;
            encoded.push(Encoded {
                id: Hash32::digest(whole),
                message: message.to_vec(),
                len: m + t,
            });
            entries.push(SignedEntry {
                entry,
                signature,
                cosignatures,
            });
            at += m + t;
        }
        if at != bytes.len() {
            return Err(CodecError::TrailingBytes {
                what: WHAT,
                extra: bytes.len().saturating_sub(at),
            });
        }
        Ok((Block { header, entries }, encoded))
    }

    /// Checks that the header commits to exactly these entries.
    pub fn check_entries(&self, ids: &[EntryId]) -> Result<(), BlockError> {
        let height = self.header.height;
        if ids.len() != self.header.entry_count as usize {
            return Err(BlockError::EntriesMismatch {
                height,
                what: "entry count",
            });
        }
        if entries_root(ids) != self.header.entries_root {
            return Err(BlockError::EntriesMismatch {
                height,
                what: "Merkle root",
            });
        }
        Ok(())
    }
}

/// Checks that `header` follows `prev` (`None`: it is block 1 of `chain_id`).
pub fn check_link(
    chain_id: &ChainId,
    prev: Option<&Header>,
    header: &Header,
) -> Result<(), BlockError> {
    if &header.chain_id != chain_id {
        return Err(BlockError::WrongChain {
            height: header.height,
            expected: chain_id.to_hex(),
            got: header.chain_id.to_hex(),
        });
    }
    let (expected_height, expected_prev) = match prev {
        Some(p) => (p.height + 1, p.hash()),
        None => (1, *chain_id),
    };
    if header.height != expected_height {
        return Err(BlockError::WrongHeight {
            expected: expected_height,
            got: header.height,
        });
    }
    if header.prev_hash != expected_prev {
        return Err(BlockError::BrokenLink {
            height: header.height,
            expected: expected_prev.to_hex(),
            got: header.prev_hash.to_hex(),
        });
    }
    if let Some(p) = prev {
        if header.time_ms <= p.time_ms {
            return Err(BlockError::TimeNotIncreasing {
                height: header.height,
                time_ms: header.time_ms,
                prev_ms: p.time_ms,
            });
        }
    }
    Ok(())
}

/// Checks a run of headers from height 1.
pub fn check_header_chain(chain_id: &ChainId, headers: &[Header]) -> Result<(), BlockError> {
    let mut prev = None;
    for h in headers {
        check_link(chain_id, prev, h)?;
        prev = Some(h);
    }
    Ok(())
}

impl CommitCertificate {
    /// Verifies the certificate for `header` against the genesis validator
    /// set (a chain whose validators never changed). Returns the power
    /// that signed.
    pub fn verify(&self, genesis: &Genesis, header: &Header) -> Result<u64, BlockError> {
        self.verify_with(&genesis.validators, header)
    }

    /// Verifies the certificate for `header` against `validators`, the set
    /// of its height (from genesis and the governance changes made by
    /// then, [`crate::rules::validators_at`]): every signature valid, from
    /// distinct validators of the set, with more than 2/3 of its total
    /// voting power. Returns the power that signed.
    pub fn verify_with(
        &self,
        validators: &[ValidatorSpec],
        header: &Header,
    ) -> Result<u64, BlockError> {
        let bad = |reason: String| BlockError::Certificate {
            height: header.height,
            reason,
        };
        if self.height != header.height {
            return Err(bad(format!(
                "the commit certificate is for height {}, not {}",
                self.height, header.height
            )));
        }
        let hash = header.hash();
        if self.block_hash != hash {
            return Err(bad("the commit certificate is for a different block".into()));
        }
        let mut power: u64 = 0;
        let mut prev: Option<&PublicKey> = None;
        for s in &self.signatures {
            if prev.is_some_and(|p| p >= &s.validator) {
                return Err(bad(
                    "commit signatures must be sorted by validator, each once".into(),
                ));
            }
            prev = Some(&s.validator);
            let v = validators
                .iter()
                .find(|v| v.public_key == s.validator)
                .ok_or_else(|| {
                    bad(format!(
                        "commit signer {} is not a validator at height {}",
                        s.validator.short(),
                        header.height
                    ))
                })?;
            let bytes = precommit_bytes(
                &header.chain_id,
                self.height,
                self.round,
                &self.block_hash,
                &s.validator,
            );
            s.validator
                .verify(Domain::Vote, &bytes, &s.signature)
                .map_err(|_| {
                    bad(format!(
                        "the commit signature of validator `{}` is forged or for another block",
                        v.name
                    ))
                })?;
            power = power.saturating_add(v.power);
        }
        let total = validators
            .iter()
            .map(|v| v.power)
            .fold(0u64, u64::saturating_add);
        // More than 2/3: 3 * power > 2 * total, in u128 so it cannot overflow.
        if u128::from(power) * 3 <= u128::from(total) * 2 {
            return Err(bad(format!(
                "the commit certificate carries {power} of {total} voting power; more than 2/3 is needed"
            )));
        }
        Ok(power)
    }
}
