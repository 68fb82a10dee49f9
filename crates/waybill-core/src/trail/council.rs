//! The consortium's history: every membership and governance entry up to
//! a height, each with what proves it is on the chain, so that a verifier
//! holding only the genesis knows the validator set of any height up to
//! it (to verify a checkpoint of the log cosigned after the validators
//! changed). A trail carries the same entries; this is them alone.

use serde::{Deserialize, Serialize};

use super::{check_format, check_items, Policy, TrailError, TrailItem};
use crate::crypto::Hash32;
use crate::entry::Body;
use crate::genesis::{Genesis, ValidatorSpec};

/// Every membership and governance entry of a chain up to `tip_height`,
/// in chain order, with their proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Council {
    /// Format version ([`super::TRAIL_VERSION`]).
    pub version: u16,
    /// The chain.
    pub chain_id: Hash32,
    /// The height of the ledger when it was made.
    pub tip_height: u64,
    /// The entries, ordered by (height, index).
    pub items: Vec<TrailItem>,
}

/// The validator set of `height` (the set that certified its block and
/// cosigned its checkpoint) as the genesis and `council`'s entries before
/// that height make it. Every entry is proven on the chain, with a commit
/// certificate of the set of its own height, as in a trail; an entry of
/// another kind, or a height outside `1..=tip_height`, is refused.
///
/// A council that leaves out an entry is not caught here (as a trail that
/// leaves one out is not): the set would be an older one.
pub fn council_validators(
    genesis: &Genesis,
    council: &Council,
    height: u64,
) -> Result<Vec<ValidatorSpec>, TrailError> {
    let chain_id = check_format(genesis, council.version, council.chain_id)?;
    if height == 0 || height > council.tip_height {
        return Err(TrailError::Council(format!(
            "it runs to height {}, so it cannot say the validators of height {height}",
            council.tip_height
        )));
    }
    if let Some(i) = council.items.iter().position(|i| {
        !matches!(
            i.entry.entry.body,
            Body::Membership(_) | Body::Governance(_)
        )
    }) {
        return Err(TrailError::Council(format!(
            "entry #{} is not a membership or governance entry",
            i + 1
        )));
    }
    let policy = Policy {
        require_certificates: true,
    };
    let proven = check_items(
        genesis,
        &council.items,
        council.tip_height,
        chain_id,
        policy,
        height,
    )?;
    Ok(proven.validators)
}
