//! An auditor's export of one member's entries: every entry the member
//! signed up to a height, with the consortium's history (for the
//! validators of each height), each proven on the chain as in a trail,
//! and the whole proven complete under the completeness index: the
//! member's key counts every entry it signed, so one left out (or added)
//! shows.
//!
//! The entries are not replayed against the rules here: they are each in
//! a block that more than 2/3 of the validators certified, which they do
//! only for blocks whose every entry kept the rules.

use serde::{Deserialize, Serialize};

use super::{check_format, check_items, Policy, TrailError, TrailItem};
use crate::crypto::{Hash32, PublicKey};
use crate::entry::{Body, EntryId};
use crate::genesis::{Genesis, ValidatorSpec};
use crate::index::{IndexKey, KeyProof, Touched};

/// Every entry `member` signed up to `tip_height`, and every membership
/// and governance entry, in chain order, with their proofs and the
/// completeness proofs of the member's key and the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberTrail {
    /// Format version ([`super::TRAIL_VERSION`]).
    pub version: u16,
    /// The chain.
    pub chain_id: Hash32,
    /// The member.
    pub member: PublicKey,
    /// The height of the ledger when it was made.
    pub tip_height: u64,
    /// The entries, ordered by (height, index).
    pub items: Vec<TrailItem>,
    /// Proofs, under the index root of `tip_height`, of the member's key
    /// and of the membership.
    pub complete: Vec<KeyProof>,
}

/// One of the member's entries, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLine {
    /// Block height.
    pub height: u64,
    /// Block time (ms since the Unix epoch).
    pub block_time_ms: i64,
    /// What it records.
    pub kind: String,
    /// The entry.
    pub entry_id: EntryId,
}

/// A verified member trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReport {
    /// The member.
    pub member: PublicKey,
    /// Its name in the genesis, or its key.
    pub member_name: String,
    /// The chain's name.
    pub chain_name: String,
    /// As of this height.
    pub tip_height: u64,
    /// Every entry the member signed, in chain order.
    pub entries: Vec<MemberLine>,
    /// Blocks whose commit certificate was verified.
    pub certified_blocks: usize,
    /// The validator set of the tip height (what certifies its
    /// checkpoint).
    #[serde(skip)]
    pub validators: Vec<ValidatorSpec>,
    /// What the trail shows of the member's key and of the membership.
    #[serde(skip)]
    pub shown: Vec<(IndexKey, Touched)>,
}

/// Verifies a member trail against the genesis: every item is the
/// member's or a membership or governance entry, and each is on the chain
/// (order, header, inclusion proof, a commit certificate of its height's
/// validators, signatures).
pub fn verify_member(genesis: &Genesis, t: &MemberTrail) -> Result<MemberReport, TrailError> {
    let chain_id = check_format(genesis, t.version, t.chain_id)?;
    let council = |b: &Body| matches!(b, Body::Membership(_) | Body::Governance(_));
    if let Some(i) = t
        .items
        .iter()
        .position(|i| i.entry.entry.author != t.member && !council(&i.entry.entry.body))
    {
        return Err(TrailError::Council(format!(
            "entry #{} is neither the member's nor a membership or governance entry",
            i + 1
        )));
    }
    let proven = check_items(
        genesis,
        &t.items,
        t.tip_height,
        chain_id,
        Policy {
            require_certificates: true,
        },
        t.tip_height,
    )?;
    let mut by_member = Touched::default();
    let mut membership = Touched::default();
    let mut entries = Vec::new();
    for (item, id) in t.items.iter().zip(&proven.ids) {
        if item.entry.entry.author == t.member {
            by_member = by_member.with(id);
            entries.push(MemberLine {
                height: item.header.height,
                block_time_ms: item.header.time_ms,
                kind: item.entry.entry.body.kind().into(),
                entry_id: *id,
            });
        }
        if council(&item.entry.entry.body) {
            membership = membership.with(id);
        }
    }
    Ok(MemberReport {
        member: t.member,
        member_name: genesis.member(&t.member).map_or_else(
            || format!("member {}", t.member.short()),
            |m| m.name.clone(),
        ),
        chain_name: genesis.chain_name.clone(),
        tip_height: t.tip_height,
        entries,
        certified_blocks: proven.certified.len(),
        validators: proven.validators,
        shown: vec![
            (IndexKey::Author(t.member), by_member),
            (IndexKey::Council, membership),
        ],
    })
}

/// Checks that a verified member trail leaves out none of the member's
/// entries and none of the membership's: each key's proof in `proofs`
/// holds under `root` (certified in the checkpoint of `height`) and
/// counts exactly the entries shown.
pub fn check_member_complete(
    report: &MemberReport,
    proofs: &[KeyProof],
    root: &Hash32,
    height: u64,
) -> Result<(), TrailError> {
    let fail = |why: String| Err(TrailError::Incomplete(why));
    for (key, shown) in &report.shown {
        let Some(proof) = proofs.iter().find(|p| &p.key == key) else {
            return fail(format!("the node gave no completeness proof for {key}"));
        };
        let certified = proof
            .verify(root)
            .map_err(|e| TrailError::Incomplete(e.to_string()))?;
        if *shown == certified {
            continue;
        }
        let (n, m) = (certified.count, shown.count);
        let whose = match key {
            IndexKey::Author(_) => format!("signed by {}", report.member_name),
            _ => format!("touching {key}"),
        };
        return fail(if m < n {
            let missing = n - m;
            format!(
                "{missing} {} {whose} {} missing: the index certified at height {height} counts {n}, the export shows {m}",
                if missing == 1 { "entry" } else { "entries" },
                if missing == 1 { "is" } else { "are" },
            )
        } else {
            format!(
                "the {m} entries {whose} are not the {n} the index certified at height {height} holds"
            )
        });
    }
    Ok(())
}
