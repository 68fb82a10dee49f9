//! Waybill's types for Malachite's `Context`.
//!
//! The consensus value is the block hash (`ProposalAndParts` mode): the
//! signed proposal carries only the hash, the block travels as a proposal
//! part, and the application validates it before consensus may vote for it.

use std::fmt;

use bytes::Bytes;
use malachitebft_app_channel::app::types::core::{
    self as mc, Context, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};
use waybill_core::crypto::{Hash32, PublicKey};

use crate::signing::{Ed25519Scheme, Signature, VerifyKey};

/// A block height.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);
    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator address: its ed25519 public key, so a commit certificate
/// needs nothing but the genesis to verify.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub PublicKey);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.short())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.0.to_hex())
    }
}

impl mc::Address for Address {}

/// The consensus value: a block hash.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub Hash32);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.short())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.0.to_hex())
    }
}

impl mc::Value for BlockHash {
    type Id = BlockHash;
    fn id(&self) -> BlockHash {
        *self
    }
}

/// A validator from genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its key, as an address.
    pub address: Address,
    /// Its key, for verification.
    pub public_key: VerifyKey,
    /// Its voting power.
    pub voting_power: VotingPower,
}

impl mc::Validator<WaybillCtx> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &VerifyKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The validator set of one height, sorted by power (descending) then
/// address, as Malachite requires, with the validators suspected down at
/// that height (see `crate::schedule`).
///
/// The suspects only steer who proposes: counting, powers, lookups and so
/// certificate checks see the validators alone. They are part of equality
/// because two sets with different suspects name different proposers,
/// which makes them different sets to consensus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total: VotingPower,
    /// Whether each validator (same order) is suspected down. Always as
    /// long as `validators`.
    suspected: Vec<bool>,
}

impl ValidatorSet {
    /// A set from validators (duplicates by address are dropped), none
    /// suspected.
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by(|a, b| {
            b.voting_power
                .cmp(&a.voting_power)
                .then(a.address.cmp(&b.address))
        });
        validators.dedup_by(|a, b| a.address == b.address);
        let total = validators
            .iter()
            .map(|v| v.voting_power)
            .fold(0u64, u64::saturating_add);
        let suspected = vec![false; validators.len()];
        ValidatorSet {
            validators,
            total,
            suspected,
        }
    }

    /// The same set with exactly `suspects` suspected down (addresses not
    /// in the set are ignored).
    pub fn with_suspects(mut self, suspects: &[Address]) -> Self {
        self.suspected = self
            .validators
            .iter()
            .map(|v| suspects.contains(&v.address))
            .collect();
        self
    }

    /// The validators, in proposer order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The validators suspected down, in set order.
    pub fn suspects(&self) -> impl Iterator<Item = &Address> {
        self.validators
            .iter()
            .zip(&self.suspected)
            .filter(|(_, s)| **s)
            .map(|(v, _)| &v.address)
    }
}

impl mc::ValidatorSet<WaybillCtx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.total
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: the block hash at a height and round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block hash.
    pub value: BlockHash,
    /// Proof-of-lock round (`Nil` when none).
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl mc::Proposal<WaybillCtx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockHash {
        &self.value
    }
    fn take_value(self) -> BlockHash {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// The block body of a proposal, signed by its proposer, streamed as one
/// part. Blocks are bounded in bytes so that one part fits one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalPart {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
    /// The block's canonical bytes.
    pub block: Bytes,
    /// The proposer's signature over the part's fields and the block hash.
    pub signature: Signature,
}

impl mc::ProposalPart<WaybillCtx> for ProposalPart {
    fn is_first(&self) -> bool {
        true
    }
    fn is_last(&self) -> bool {
        true
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug)]
pub struct Vote {
    /// Prevote or precommit.
    pub typ: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockHash>,
    /// Who votes.
    pub validator: Address,
    /// Vote extension (unused: extensions are disabled).
    pub extension: Option<SignedExtension<WaybillCtx>>,
}

// The extension is neither part of equality nor of the signed bytes, as
// Malachite's WAL replay requires.
impl PartialEq for Vote {
    fn eq(&self, o: &Self) -> bool {
        self.typ == o.typ
            && self.height == o.height
            && self.round == o.round
            && self.value == o.value
            && self.validator == o.validator
    }
}

impl Eq for Vote {}

impl mc::Vote<WaybillCtx> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.typ
    }
    fn validator_address(&self) -> &Address {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<WaybillCtx>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<WaybillCtx>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<WaybillCtx>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// The context: the chain id, bound into every signature.
#[derive(Clone, Debug)]
pub struct WaybillCtx {
    /// Chain id (hash of the genesis).
    pub chain_id: Hash32,
}

impl Context for WaybillCtx {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockHash;
    type Vote = Vote;
    type Extension = Bytes;
    type SigningScheme = Ed25519Scheme;

    /// Round robin over the sorted set, shifted by height, skipping the
    /// validators suspected down (see `crate::schedule`). Depends on its
    /// arguments alone, so every node names the same proposer.
    fn select_proposer<'a>(
        &self,
        vs: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let r = round.as_u32().unwrap_or(0);
        let i = crate::schedule::proposer_index(&vs.suspected, height.0, r);
        // Genesis validation guarantees a non-empty set (and the engine
        // refuses an empty one); `suspected` is as long as the set, so the
        // index is in range.
        #[allow(clippy::indexing_slicing)]
        &vs.validators[i]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }
}
