//! The ledger's log: one RFC 6962 / 9162 Merkle tree over every entry, in
//! chain order, and its checkpoints in the C2SP formats, so that anyone
//! can prove the ledger only grew, with tools that know nothing of Waybill.
//!
//! - **The tree.** Leaf `i` is the `i`-th entry committed, counting from
//!   the first entry of block 1; its leaf data is the entry id, hashed as
//!   an RFC 6962 leaf (`SHA-256(0x00 || id)`), exactly as in each block's
//!   entries root (see [`crate::merkle`]). The tree's arithmetic (stored
//!   hashes, inclusion and consistency proofs) is `tlog_tiles`, a port of
//!   Go's `sumdb/tlog`.
//! - **The checkpoint** ([`Checkpoint`]) is a C2SP `tlog-checkpoint` note
//!   body: the origin line (`waybill/` and the chain id in hex), the tree
//!   size, the base64 root, then three extension lines, `height N` (the
//!   block that brought the tree to this size), `block B` (that block's
//!   hash, base64) and `index I` (the root of the completeness index with
//!   that block committed, base64: the ledger's state root as far as a
//!   lookup needs it; see [`crate::index`]).
//! - **Cosignatures** are C2SP `tlog-cosignature` lines of the Ed25519 type
//!   (`0x04`): each validator signs `cosignature/v1`, a `time` line and the
//!   body with its consensus key, under the key name
//!   `<origin>/validator/<key hex>`. A checkpoint counts as certified when
//!   validators with more than 2/3 of the voting power cosigned it
//!   ([`verify`]), the same quorum as a commit certificate.
//!
//! What a validator's cosignature states (per `tlog-cosignature`): as of
//! its time, this is the tree head of the largest size it has seen for
//! this log. Its `cosignature/v1` header separates it from every message
//! Waybill signs otherwise (those begin `waybill/v1/`).
//!
//! Pure: the caller passes the time a cosignature states.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest, Sha256};
use signed_note::{Note, NoteError, VerificationError, Verifier, Verifiers};
use tlog_tiles::{Hash, HashReader};

use crate::crypto::{Hash32, PublicKey, Signature};
use crate::entry::EntryId;
use crate::genesis::{ChainId, ValidatorSpec};

/// One signature line of a note (a cosignature, or another key's line).
pub use signed_note::Signature as NoteLine;

/// The signature type byte of an Ed25519 cosignature (`tlog-cosignature`).
const COSIGNATURE_TYPE: u8 = 0x04;

/// The longest inclusion proof of a tree of up to 2^64 leaves.
const MAX_INCLUSION_HASHES: usize = 64;

/// The longest consistency proof of a tree of up to 2^64 leaves.
const MAX_CONSISTENCY_HASHES: usize = 128;

/// Why a checkpoint, a cosignature or a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note or its body does not follow the C2SP formats.
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    /// The checkpoint is of another log.
    #[error("the checkpoint is of log `{found}`, not this chain's `{expected}`")]
    OtherLog {
        /// This chain's origin line.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// A validator's cosignature does not verify.
    #[error("the cosignature of validator {0} does not verify")]
    BadCosignature(String),
    /// Too little voting power cosigned.
    #[error(
        "validators with {power} of {total} voting power cosigned the checkpoint; more than 2/3 is needed"
    )]
    NoQuorum {
        /// Voting power of the validators whose cosignature verified.
        power: u64,
        /// Total voting power.
        total: u64,
    },
    /// Two checkpoints cannot both be of one append-only log.
    #[error("the log forked: {0}")]
    Fork(String),
    /// A proof does not lead to the checkpoint's root.
    #[error("the proof does not hold: {0}")]
    BadProof(String),
}

/// A tree head of the ledger's log: the body of a checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name: [`origin`] of the chain.
    pub origin: String,
    /// Entries in the log.
    pub size: u64,
    /// The tree's root.
    pub root: Hash32,
    /// The block that brought the log to `size`.
    pub height: u64,
    /// That block's hash.
    pub block: Hash32,
    /// The root of the completeness index ([`crate::index`]) with that
    /// block committed: what touched each lot, shipment, payment and
    /// member.
    pub index: Hash32,
}

/// The origin line of a chain's log: `waybill/` and the chain id in hex
/// (a schema-less name with no spaces or `+`, as the format asks).
pub fn origin(chain: &ChainId) -> String {
    format!("waybill/{}", chain.to_hex())
}

/// The note key name of a validator's cosignatures on a chain's log.
pub fn cosigner_name(chain: &ChainId, validator: &PublicKey) -> String {
    format!("{}/validator/{}", origin(chain), validator.to_hex())
}

/// A note key id: `SHA-256(name || "\n" || type || key)[:4]`, big-endian.
fn key_id(name: &str, kind: u8, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message an Ed25519 cosignature signs: `cosignature/v1`, the time
/// line, then the checkpoint body.
fn cosigned_message(time: u64, body: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

impl Checkpoint {
    /// The note body: origin, size, root, then the `height`, `block` and
    /// `index` extension lines, each ending in a newline.
    pub fn body(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\nheight {}\nblock {}\nindex {}\n",
            self.origin,
            self.size,
            Hash(self.root.0),
            self.height,
            Hash(self.block.0),
            Hash(self.index.0)
        )
        .into_bytes()
    }

    /// Parses a note body as [`Checkpoint::body`] writes it, nothing more
    /// or less.
    pub fn parse(body: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let bad = |what: &str| CheckpointError::Malformed(what.to_string());
        let parsed = tlog_tiles::Checkpoint::from_bytes(body)
            .map_err(|_| bad("the body is not origin, size and root hash lines"))?;
        let mut lines = parsed.extension().lines();
        let height = lines
            .next()
            .and_then(|l| l.strip_prefix("height "))
            .ok_or_else(|| bad("the line after the root must be `height N`"))?;
        let height = decimal(height).ok_or_else(|| bad("the height is not a decimal number"))?;
        let block = lines
            .next()
            .and_then(|l| l.strip_prefix("block "))
            .ok_or_else(|| bad("the line after the height must be `block HASH`"))?;
        let block =
            Hash::parse_hash(block).map_err(|_| bad("the block hash is not 32 bytes in base64"))?;
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| bad("the line after the block hash must be `index HASH`"))?;
        let index =
            Hash::parse_hash(index).map_err(|_| bad("the index root is not 32 bytes in base64"))?;
        if lines.next().is_some() {
            return Err(bad("the body has lines after the index root"));
        }
        let cp = Checkpoint {
            origin: parsed.origin().to_string(),
            size: parsed.size(),
            root: Hash32(parsed.hash().0),
            height,
            block: Hash32(block.0),
            index: Hash32(index.0),
        };
        // Only one spelling of each checkpoint (no leading zeros, padding
        // as base64 writes it): a body reads back to the same bytes.
        if cp.body() != body {
            return Err(bad("the body is not in its canonical form"));
        }
        Ok(cp)
    }

    /// Whether this is a checkpoint of `chain`'s log.
    pub fn check_origin(&self, chain: &ChainId) -> Result<(), CheckpointError> {
        let expected = origin(chain);
        if self.origin != expected {
            return Err(CheckpointError::OtherLog {
                expected,
                found: self.origin.clone(),
            });
        }
        Ok(())
    }
}

/// A decimal with no sign, no leading zeros and no more than fits a u64.
fn decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// Cosigns `checkpoint` as the validator of `key`, stating `time`
/// (seconds since the Unix epoch): its `tlog-cosignature` line.
pub fn cosign(
    checkpoint: &Checkpoint,
    chain: &ChainId,
    key: &SigningKey,
    time: u64,
) -> Result<NoteLine, CheckpointError> {
    Cosignature::sign(checkpoint, key, time)?.line(chain)
}

/// A cosignature as a validator's precommit carried it (its vote
/// extension), with the validator's signature of that extension. A block
/// keeps both, so that its commit certificate can be served to syncing
/// peers with the extensions consensus requires of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarriedCosignature {
    /// The cosignature of the block's checkpoint.
    pub cosignature: Cosignature,
    /// The validator's signature of the vote extension that carried it.
    pub extension_signature: Signature,
}

/// A validator's cosignature of a checkpoint, apart from its note line:
/// what a validator's precommit carries (its vote extension) and a
/// block keeps, to be served in the block's checkpoint note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosignature {
    /// The validator.
    pub validator: PublicKey,
    /// The time it states, in seconds since the Unix epoch.
    pub time: u64,
    /// Its Ed25519 signature of `cosignature/v1`, the time and the body.
    pub signature: Signature,
}

impl Cosignature {
    /// The length of [`Cosignature::to_bytes`].
    pub const BYTES: usize = 72;

    /// Cosigns `checkpoint` with `key`, stating `time`.
    pub fn sign(
        checkpoint: &Checkpoint,
        key: &SigningKey,
        time: u64,
    ) -> Result<Cosignature, CheckpointError> {
        if time > i64::MAX as u64 {
            return Err(CheckpointError::Malformed(
                "a cosignature's time must not exceed 2^63 - 1".into(),
            ));
        }
        let signature = key.sign(&cosigned_message(time, &checkpoint.body()));
        Ok(Cosignature {
            validator: PublicKey(key.verifying_key().to_bytes()),
            time,
            signature: Signature(signature.to_bytes()),
        })
    }

    /// Checks that it is `validator`'s cosignature of `checkpoint`.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        self.validator
            .verify_raw(
                &cosigned_message(self.time, &checkpoint.body()),
                &self.signature,
            )
            .map_err(|_| CheckpointError::BadCosignature(self.validator.short()))
    }

    /// The signature bytes of its note line: the time (8 bytes,
    /// big-endian), then the signature.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[..8].copy_from_slice(&self.time.to_be_bytes());
        out[8..].copy_from_slice(&self.signature.0);
        out
    }

    /// `validator`'s cosignature from the bytes of [`Cosignature::to_bytes`]
    /// (not verified).
    pub fn from_bytes(validator: PublicKey, bytes: &[u8]) -> Result<Cosignature, CheckpointError> {
        let bad = || {
            CheckpointError::Malformed(format!(
                "a cosignature is {} bytes (a time and an Ed25519 signature), not {}",
                Self::BYTES,
                bytes.len()
            ))
        };
        let (time, sig) = split_timestamped(bytes).ok_or_else(bad)?;
        let sig = <[u8; 64]>::try_from(sig).map_err(|_| bad())?;
        Ok(Cosignature {
            validator,
            time,
            signature: Signature(sig),
        })
    }

    /// Its `tlog-cosignature` line under the validator's key name on
    /// `chain`'s log.
    pub fn line(&self, chain: &ChainId) -> Result<NoteLine, CheckpointError> {
        let name = cosigner_name(chain, &self.validator);
        let id = key_id(&name, COSIGNATURE_TYPE, &self.validator.0);
        NoteLine::new(name, id, self.to_bytes().to_vec())
            .map_err(|e| CheckpointError::Malformed(format!("cosignature: {e}")))
    }
}

/// A checkpoint note: the body, a blank line and one line per signature.
pub fn note(checkpoint: &Checkpoint, signatures: &[NoteLine]) -> Result<Vec<u8>, CheckpointError> {
    let n = Note::new(&checkpoint.body(), signatures)
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    Ok(n.to_bytes())
}

/// The checkpoint a note carries and its signature lines, unverified.
pub fn open_note(note_bytes: &[u8]) -> Result<(Checkpoint, Vec<NoteLine>), CheckpointError> {
    let n = Note::from_bytes(note_bytes).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse(n.text())?;
    let text = n.to_bytes();
    // The note type keeps its lines private; read them back from its
    // canonical bytes, after the body and the blank line.
    let sigs = text
        .get(n.text().len() + 1..)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(NoteLine::from_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    Ok((checkpoint, sigs))
}

/// Joins notes of one checkpoint (as several validators' nodes serve it,
/// each with its own cosignature) into one note with every distinct line.
/// Notes of different checkpoints are not joined: two tree heads at one
/// height cannot both be right, and the error shows both.
pub fn join(notes: &[Vec<u8>]) -> Result<Vec<u8>, CheckpointError> {
    let mut first: Option<Checkpoint> = None;
    let mut lines: Vec<NoteLine> = Vec::new();
    for bytes in notes {
        let (cp, sigs) = open_note(bytes)?;
        match &first {
            None => first = Some(cp),
            Some(f) if *f == cp => {}
            Some(f) => {
                return Err(CheckpointError::Fork(format!(
                "two checkpoints at height {}: {} entries with root {} and {} entries with root {}",
                f.height,
                f.size,
                Hash(f.root.0),
                cp.size,
                Hash(cp.root.0)
            )))
            }
        }
        for s in sigs {
            if !lines.contains(&s) {
                lines.push(s);
            }
        }
    }
    let cp = first.ok_or_else(|| CheckpointError::Malformed("no notes to join".into()))?;
    note(&cp, &lines)
}

/// One validator as a note verifier of its cosignatures.
struct Cosigner {
    name: String,
    id: u32,
    key: PublicKey,
}

impl Verifier for Cosigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some((time, sig)) = split_timestamped(sig) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_raw(&cosigned_message(time, msg), &Signature(sig))
            .is_ok()
    }
}

/// `timestamp || signature` split, if the timestamp is at most 2^63 - 1.
fn split_timestamped(sig: &[u8]) -> Option<(u64, &[u8])> {
    let (time, rest) = sig.split_first_chunk::<8>()?;
    let time = u64::from_be_bytes(*time);
    (time <= i64::MAX as u64).then_some((time, rest))
}

/// The validators of a height as note verifiers.
struct Cosigners(Vec<Cosigner>);

impl Verifiers for Cosigners {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn Verifier, VerificationError> {
        self.0
            .iter()
            .find(|c| c.name == name && c.id == id)
            .map(|c| c as &dyn Verifier)
            .ok_or(VerificationError::UnknownKey {
                name: name.to_string(),
                id,
            })
    }
}

/// A checkpoint whose cosignatures carry more than 2/3 of the voting power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// Each validator whose cosignature verified, with the time it states
    /// (seconds since the Unix epoch), in the note's order.
    pub cosigners: Vec<(PublicKey, u64)>,
    /// How fresh the view is: the latest time (seconds since the Unix
    /// epoch) stated by cosigners holding more than a third of the voting
    /// power, so by at least one honest validator. Honest validators state
    /// the block's time, so fewer than a third cannot make an old
    /// checkpoint look new by stating a later time.
    pub time: u64,
}

impl fmt::Display for Certified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entries at height {}, root {}, cosigned by {} validators",
            self.checkpoint.size,
            self.checkpoint.height,
            Hash(self.checkpoint.root.0),
            self.cosigners.len()
        )
    }
}

/// Verifies a checkpoint note of `chain`'s log against the validators of
/// its height: every cosignature of theirs must verify, and together they
/// must hold more than 2/3 of the voting power. Signature lines of other
/// keys are ignored, as the format asks.
pub fn verify(
    note_bytes: &[u8],
    chain: &ChainId,
    validators: &[ValidatorSpec],
) -> Result<Certified, CheckpointError> {
    let n = Note::from_bytes(note_bytes).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse(n.text())?;
    checkpoint.check_origin(chain)?;
    let known = Cosigners(
        validators
            .iter()
            .map(|v| {
                let name = cosigner_name(chain, &v.public_key);
                Cosigner {
                    id: key_id(&name, COSIGNATURE_TYPE, &v.public_key.0),
                    name,
                    key: v.public_key,
                }
            })
            .collect(),
    );
    // `known` lists the validators in order, each under its key name.
    let named = |name: &str| {
        known
            .0
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| validators.get(i))
    };
    let (verified, _others) = match n.verify(&known) {
        Ok(v) => v,
        Err(NoteError::UnverifiedNote) => (Vec::new(), Vec::new()),
        Err(NoteError::InvalidSignature { name, .. }) => {
            let who = named(&name).map_or(name, |v| format!("`{}`", v.name));
            return Err(CheckpointError::BadCosignature(who));
        }
        Err(e) => return Err(CheckpointError::Malformed(e.to_string())),
    };
    let mut power: u64 = 0;
    let mut cosigners = Vec::with_capacity(verified.len());
    // (time, power) of each cosigner, for the time the view is as of.
    let mut timed = Vec::with_capacity(verified.len());
    for sig in &verified {
        let Some(v) = named(sig.name()) else {
            continue;
        };
        let Some((time, _)) = split_timestamped(sig.signature()) else {
            continue;
        };
        // The note verifies one line per key; a validator listed twice
        // in the set would still count once.
        if cosigners.iter().any(|(k, _)| *k == v.public_key) {
            continue;
        }
        power = power.saturating_add(v.power);
        cosigners.push((v.public_key, time));
        timed.push((time, v.power));
    }
    let total = validators
        .iter()
        .map(|v| v.power)
        .fold(0u64, u64::saturating_add);
    if u128::from(power) * 3 <= u128::from(total) * 2 {
        return Err(CheckpointError::NoQuorum { power, total });
    }
    let time = attested_time(timed, total);
    Ok(Certified {
        checkpoint,
        cosigners,
        time,
    })
}

/// The latest time `t` such that the cosigners stating `t` or later
/// (`by_time`: each one's time and power) hold more than a third of
/// `total` power (0 if none do, which a quorum of cosigners rules out).
fn attested_time(mut by_time: Vec<(u64, u64)>, total: u64) -> u64 {
    by_time.sort_unstable_by_key(|&(time, _)| std::cmp::Reverse(time));
    let mut power: u64 = 0;
    for (time, p) in by_time {
        power = power.saturating_add(p);
        if u128::from(power) * 3 > u128::from(total) {
            return time;
        }
    }
    0
}

fn hashes(proof: &[Hash32]) -> Vec<Hash> {
    proof.iter().map(|h| Hash(h.0)).collect()
}

/// Checks that `proof` shows the log at `new` extends the log at `old`
/// (RFC 6962 consistency). Two checkpoints of one size with different
/// roots, or a smaller tree that is not a prefix of the larger, are a
/// [`CheckpointError::Fork`].
pub fn check_consistency(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[Hash32],
) -> Result<(), CheckpointError> {
    if old.origin != new.origin {
        return Err(CheckpointError::OtherLog {
            expected: old.origin.clone(),
            found: new.origin.clone(),
        });
    }
    if old.size > new.size {
        return Err(CheckpointError::Fork(format!(
            "the newer checkpoint has {} entries, fewer than the {} of the older",
            new.size, old.size
        )));
    }
    if old.height == new.height && old.block != new.block {
        return Err(CheckpointError::Fork(format!(
            "two checkpoints at height {} name different blocks",
            old.height
        )));
    }
    if new.height < old.height {
        return Err(CheckpointError::Fork(format!(
            "the newer checkpoint is of height {}, before the older's {}",
            new.height, old.height
        )));
    }
    if old.size == new.size {
        if old.root != new.root {
            return Err(CheckpointError::Fork(format!(
                "two checkpoints of {} entries with different roots",
                old.size
            )));
        }
        if !proof.is_empty() {
            return Err(CheckpointError::BadProof(
                "checkpoints of one size need an empty proof".into(),
            ));
        }
        return Ok(());
    }
    if old.size == 0 {
        // The empty log is a prefix of every log.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(CheckpointError::BadProof(
                "the empty log needs an empty proof".into(),
            ))
        };
    }
    if proof.len() > MAX_CONSISTENCY_HASHES {
        return Err(CheckpointError::BadProof(format!(
            "{} hashes; no consistency proof has more than {MAX_CONSISTENCY_HASHES}",
            proof.len()
        )));
    }
    tlog_tiles::check_tree(
        &hashes(proof),
        new.size,
        Hash(new.root.0),
        old.size,
        Hash(old.root.0),
    )
    .map_err(|_| {
        CheckpointError::Fork(format!(
            "the log of {} entries is not a prefix of the log of {} entries",
            old.size, new.size
        ))
    })
}

/// Checks that `proof` shows entry `id` is leaf `index` of the log at
/// `checkpoint` (RFC 6962 inclusion).
pub fn check_inclusion(
    checkpoint: &Checkpoint,
    index: u64,
    id: &EntryId,
    proof: &[Hash32],
) -> Result<(), CheckpointError> {
    if index >= checkpoint.size {
        return Err(CheckpointError::BadProof(format!(
            "leaf {index} is outside a log of {} entries",
            checkpoint.size
        )));
    }
    if proof.len() > MAX_INCLUSION_HASHES {
        return Err(CheckpointError::BadProof(format!(
            "{} hashes; no inclusion proof has more than {MAX_INCLUSION_HASHES}",
            proof.len()
        )));
    }
    tlog_tiles::check_record(
        &hashes(proof),
        checkpoint.size,
        Hash(checkpoint.root.0),
        index,
        tlog_tiles::record_hash(&id.0),
    )
    .map_err(|_| {
        CheckpointError::BadProof(format!(
            "entry {} is not leaf {index} of the log of {} entries",
            id.short(),
            checkpoint.size
        ))
    })
}

/// The log in memory: its stored hashes (about two per leaf), enough to
/// give any size's root and any proof. The store keeps the same hashes
/// on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLog {
    stored: Vec<Hash32>,
    size: u64,
}

/// A proof asked of a log that cannot give it (a size beyond the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the log of {size} entries cannot prove that: {reason}")]
pub struct LogError {
    /// Entries in the log.
    pub size: u64,
    /// Why.
    pub reason: String,
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.stored.get(i))
                    .map(|h| Hash(h.0))
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        MemoryLog::default()
    }

    /// Entries in the log.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends an entry id as the next leaf.
    pub fn push(&mut self, id: &EntryId) {
        self.push_data(&id.0);
    }

    /// Appends a leaf of any data (the RFC's test trees have leaves that
    /// are not entry ids).
    pub fn push_data(&mut self, data: &[u8]) {
        // The hashes of a new leaf read only hashes stored before it.
        let added = tlog_tiles::stored_hashes(self.size, data, self);
        if let Ok(added) = added {
            self.stored.extend(added.into_iter().map(|h| Hash32(h.0)));
            self.size += 1;
        }
    }

    fn check_size(&self, size: u64, what: &str) -> Result<(), LogError> {
        if size > self.size {
            return Err(LogError {
                size: self.size,
                reason: format!("{what} {size} is beyond it"),
            });
        }
        Ok(())
    }

    /// The root of the log's first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash32, LogError> {
        self.check_size(size, "size")?;
        tlog_tiles::tree_hash(size, self)
            .map(|h| Hash32(h.0))
            .map_err(|e| self.error(e))
    }

    /// The proof that leaf `index` is in the log's first `size` leaves.
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash32>, LogError> {
        self.check_size(size, "size")?;
        if index >= size {
            return Err(LogError {
                size: self.size,
                reason: format!("leaf {index} is outside its first {size}"),
            });
        }
        tlog_tiles::prove_record(size, index, self)
            .map(|p| p.into_iter().map(|h| Hash32(h.0)).collect())
            .map_err(|e| self.error(e))
    }

    /// The proof that the log's first `old` leaves are a prefix of its
    /// first `new` (empty when `old` is 0 or equals `new`).
    pub fn prove_consistency(&self, old: u64, new: u64) -> Result<Vec<Hash32>, LogError> {
        self.check_size(new, "size")?;
        if old > new {
            return Err(LogError {
                size: self.size,
                reason: format!("size {old} is larger than {new}"),
            });
        }
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        tlog_tiles::prove_tree(new, old, self)
            .map(|p| p.into_iter().map(|h| Hash32(h.0)).collect())
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: tlog_tiles::Error) -> LogError {
        LogError {
            size: self.size,
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
