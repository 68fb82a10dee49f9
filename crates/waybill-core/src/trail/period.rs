//! An auditor's export of a period: every entry, of every member, in the
//! blocks whose time falls in `[from, to)`, each proven on the chain as in
//! a trail, and the whole proven complete by the ledger's log.
//!
//! The log ([`crate::checkpoint`]) counts the entries of every block up to
//! each height, and the validators cosign that count in each height's
//! checkpoint. The period's blocks are `start + 1 ..= end`: `start` is the
//! last block before `from` (its header shows a time before it), `end` the
//! last before `to` (the next block's header shows a time at or after it,
//! or `end` is the tip). Each entry shown sits at its own (height, index)
//! in one of those blocks, proven by its inclusion proof and its block's
//! commit certificate, so when the entries shown number exactly the
//! checkpoints' `size(end) - size(start)`, none is left out.
//!
//! The consortium's history rides along (every membership and governance
//! entry, proven complete under the tip's index root), so that the
//! validators of each height, which certify the blocks and cosign the
//! checkpoints, are known from the genesis alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{check_format, check_items, validators_at_heights, Policy, TrailError, TrailItem};
use crate::block::Header;
use crate::checkpoint::Checkpoint;
use crate::crypto::{Hash32, PublicKey};
use crate::entry::{Body, EntryId};
use crate::genesis::{Genesis, ValidatorSpec};
use crate::index::{IndexKey, KeyProof, Touched};

/// Every entry in the blocks of a period, and every membership and
/// governance entry, in chain order, with their proofs, the headers that
/// bound the period, and the completeness proof of the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodTrail {
    /// Format version ([`super::TRAIL_VERSION`]).
    pub version: u16,
    /// The chain.
    pub chain_id: Hash32,
    /// The first block time in the period (ms since the Unix epoch); none:
    /// from the first block.
    pub from_ms: Option<i64>,
    /// The first block time after it; none: up to the tip.
    pub to_ms: Option<i64>,
    /// The height of the ledger when it was made.
    pub tip_height: u64,
    /// The last block before the period (0: none).
    pub start_height: u64,
    /// The last block in the period.
    pub end_height: u64,
    /// The header of `start_height` (when it is not 0): its time is
    /// before `from_ms`.
    pub start: Option<Header>,
    /// The header of `end_height + 1`, when the period closed before the
    /// tip: its time is at or after `to_ms`.
    pub after: Option<Header>,
    /// The entries, ordered by (height, index).
    pub items: Vec<TrailItem>,
    /// The proof, under the index root of `tip_height`, of the
    /// membership.
    pub complete: Vec<KeyProof>,
}

/// One entry of the period, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodLine {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// Block time (ms since the Unix epoch).
    pub block_time_ms: i64,
    /// What it records.
    pub kind: String,
    /// Who signed it: a name in the genesis, or the key.
    pub author: String,
    /// The entry.
    pub entry_id: EntryId,
}

/// A checkpoint the export needs certified, and what it must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededCheckpoint {
    /// Its height.
    pub height: u64,
    /// The validators of that height, who cosign it.
    pub validators: Vec<ValidatorSpec>,
}

/// A verified period export, before its completeness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodReport {
    /// The chain's name.
    pub chain_name: String,
    /// The period's start, as asked.
    pub from_ms: Option<i64>,
    /// The period's end, as asked.
    pub to_ms: Option<i64>,
    /// The last block before the period (0: none).
    pub start_height: u64,
    /// The last block in the period.
    pub end_height: u64,
    /// The ledger's height when it was made.
    pub tip_height: u64,
    /// Whether the period closed before the tip (a later block shows it).
    pub closed: bool,
    /// Every entry in the period, in chain order.
    pub entries: Vec<PeriodLine>,
    /// Blocks whose commit certificate was verified.
    pub certified_blocks: usize,
    /// The block hashes the checkpoints of these heights must name.
    #[serde(skip)]
    pub bounds: BTreeMap<u64, Hash32>,
    /// The membership as shown.
    #[serde(skip)]
    pub membership: Touched,
    /// The positions missing from the blocks the export shows part of,
    /// as their headers count them.
    #[serde(skip)]
    pub holes: Vec<(u64, u32)>,
}

/// Verifies a period export against the genesis: every entry is on the
/// chain (order, header, inclusion proof, a commit certificate of its
/// height's validators, signatures); every entry outside the period's
/// blocks is a membership or governance entry; and the bounding headers
/// say what the period claims. Returns the report and the checkpoints
/// [`check_period_complete`] needs, with the validators of each.
pub fn verify_period(
    genesis: &Genesis,
    t: &PeriodTrail,
) -> Result<(PeriodReport, Vec<NeededCheckpoint>), TrailError> {
    let chain_id = check_format(genesis, t.version, t.chain_id)?;
    let bad = |why: String| Err(TrailError::Period(why));
    if t.end_height < t.start_height || t.end_height > t.tip_height {
        return bad(format!(
            "its blocks {}..={} are not within the ledger's 1..={}",
            t.start_height + 1,
            t.end_height,
            t.tip_height
        ));
    }
    if let (Some(f), Some(to)) = (t.from_ms, t.to_ms) {
        if f >= to {
            return bad("its period ends before it starts".into());
        }
    }
    let mut bounds = BTreeMap::new();
    match (&t.start, t.start_height, t.from_ms) {
        (None, 0, _) => {}
        (Some(h), height, Some(from)) if h.height == height && height > 0 => {
            check_bound(h, chain_id)?;
            if h.time_ms >= from {
                return bad(format!(
                    "block {height}, given as the last before the period, is not before it"
                ));
            }
            bounds.insert(height, h.hash());
        }
        _ => {
            return bad(format!(
                "the header of block {}, the last before the period, is not given as it should be",
                t.start_height
            ))
        }
    }
    match (&t.after, t.to_ms) {
        (None, _) if t.end_height == t.tip_height => {}
        (Some(h), Some(to)) if h.height == t.end_height + 1 && h.height <= t.tip_height => {
            check_bound(h, chain_id)?;
            if h.time_ms < to {
                return bad(format!(
                    "block {}, given as the first after the period, is not after it",
                    h.height
                ));
            }
            bounds.insert(h.height, h.hash());
        }
        _ => {
            return bad(format!(
                "the period ends at block {} before the tip {}, but the header of block {} that shows it closed is not given",
                t.end_height,
                t.tip_height,
                t.end_height + 1
            ))
        }
    }
    let council = |b: &Body| matches!(b, Body::Membership(_) | Body::Governance(_));
    let in_blocks = |h: u64| h > t.start_height && h <= t.end_height;
    for (i, item) in t.items.iter().enumerate() {
        let h = &item.header;
        if in_blocks(h.height) {
            if t.from_ms.is_some_and(|f| h.time_ms < f) || t.to_ms.is_some_and(|to| h.time_ms >= to)
            {
                return bad(format!(
                    "entry #{} is in block {}, whose time is outside the period",
                    i + 1,
                    h.height
                ));
            }
        } else if !council(&item.entry.entry.body) {
            return bad(format!(
                "entry #{} is outside the period's blocks and is no membership or governance entry",
                i + 1
            ));
        }
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
    let mut membership = Touched::default();
    let mut entries = Vec::new();
    let mut shown: BTreeMap<u64, (u32, Vec<u32>)> = BTreeMap::new();
    for (item, id) in t.items.iter().zip(&proven.ids) {
        if council(&item.entry.entry.body) {
            membership = membership.with(id);
        }
        if in_blocks(item.header.height) {
            shown
                .entry(item.header.height)
                .or_insert_with(|| (item.header.entry_count, Vec::new()))
                .1
                .push(item.index);
            let a = item.entry.entry.author;
            entries.push(PeriodLine {
                height: item.header.height,
                index: item.index,
                block_time_ms: item.header.time_ms,
                kind: item.entry.entry.body.kind().into(),
                author: name_of(genesis, &a),
                entry_id: *id,
            });
        }
    }
    let mut heights: Vec<u64> = bounds.keys().copied().collect();
    heights.extend([t.end_height, t.tip_height]);
    heights.retain(|h| *h > 0);
    heights.sort_unstable();
    heights.dedup();
    let sets = validators_at_heights(genesis, &t.items, &heights);
    let needed = heights
        .into_iter()
        .zip(sets)
        .map(|(height, validators)| NeededCheckpoint { height, validators })
        .collect();
    Ok((
        PeriodReport {
            chain_name: genesis.chain_name.clone(),
            from_ms: t.from_ms,
            to_ms: t.to_ms,
            start_height: t.start_height,
            end_height: t.end_height,
            tip_height: t.tip_height,
            closed: t.after.is_some(),
            entries,
            certified_blocks: proven.certified.len(),
            bounds,
            membership,
            holes: holes(&shown),
        },
        needed,
    ))
}

/// Checks that a verified period export leaves out no entry of its
/// blocks and none of the membership. `checkpoints` are the certified
/// checkpoints of the heights [`verify_period`] named (each verified
/// against its validators by the caller); `complete` the export's
/// membership proof, which must hold under the tip's index root.
pub fn check_period_complete(
    report: &PeriodReport,
    checkpoints: &[Checkpoint],
    complete: &[KeyProof],
) -> Result<(), TrailError> {
    let fail = |why: String| Err(TrailError::Incomplete(why));
    let at = |height: u64| checkpoints.iter().find(|c| c.height == height);
    for (height, hash) in &report.bounds {
        match at(*height) {
            Some(c) if c.block == *hash => {}
            Some(_) => {
                return fail(format!(
                    "the header given for block {height} is not the block the validators certified"
                ))
            }
            None => return fail(format!("no checkpoint of height {height} was given")),
        }
    }
    let size_at = |height: u64| -> Result<u64, TrailError> {
        if height == 0 {
            return Ok(0);
        }
        at(height).map(|c| c.size).ok_or_else(|| {
            TrailError::Incomplete(format!("no checkpoint of height {height} was given"))
        })
    };
    let (a, b) = (size_at(report.start_height)?, size_at(report.end_height)?);
    let certified = b.checked_sub(a).ok_or_else(|| {
        TrailError::Incomplete(format!(
            "the log is smaller at height {} than at height {}",
            report.end_height, report.start_height
        ))
    })?;
    let shown = report.entries.len() as u64;
    if shown != certified {
        let blocks = format!("blocks {}..={}", report.start_height + 1, report.end_height);
        return fail(if shown < certified {
            let missing = certified - shown;
            format!(
                "{missing} {} in {blocks} {} missing{}: the log certified at heights {} and {} counts {certified}, the export shows {shown}",
                if missing == 1 { "entry" } else { "entries" },
                if missing == 1 { "is" } else { "are" },
                gaps(&report.holes),
                report.start_height,
                report.end_height,
            )
        } else {
            format!(
                "the export shows {shown} entries in {blocks}, but the log certified at heights {} and {} counts {certified}",
                report.start_height, report.end_height
            )
        });
    }
    let tip = at(report.tip_height).ok_or_else(|| {
        TrailError::Incomplete(format!(
            "no checkpoint of the tip {} was given",
            report.tip_height
        ))
    })?;
    let Some(proof) = complete.iter().find(|p| p.key == IndexKey::Council) else {
        return fail("the node gave no completeness proof of the membership".into());
    };
    let held = proof
        .verify(&tip.index)
        .map_err(|e| TrailError::Incomplete(e.to_string()))?;
    if held != report.membership {
        return fail(format!(
            "the export shows {} membership and governance entries, the index certified at height {} counts {}",
            report.membership.count, report.tip_height, held.count
        ));
    }
    Ok(())
}

/// The positions of each block, as its header counts them, that the
/// export does not show.
fn holes(shown: &BTreeMap<u64, (u32, Vec<u32>)>) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for (h, (count, indexes)) in shown {
        out.extend(
            (0..*count)
                .filter(|i| indexes.binary_search(i).is_err())
                .map(|i| (*h, i)),
        );
    }
    out
}

/// The holes, for people: ` (entry 2 of block 7, …, among them)`, or
/// nothing when what is missing are whole blocks.
fn gaps(holes: &[(u64, u32)]) -> String {
    if holes.is_empty() {
        return String::new();
    }
    let mut named: Vec<String> = holes
        .iter()
        .take(5)
        .map(|(h, i)| format!("entry {i} of block {h}"))
        .collect();
    if holes.len() > 5 {
        named.push(format!("{} more", holes.len() - 5));
    }
    format!(" ({} among them)", named.join(", "))
}

/// A bounding header is of this chain.
fn check_bound(h: &Header, chain_id: Hash32) -> Result<(), TrailError> {
    if h.chain_id != chain_id {
        return Err(TrailError::Period(format!(
            "the header of block {} is for another chain",
            h.height
        )));
    }
    Ok(())
}

fn name_of(genesis: &Genesis, key: &PublicKey) -> String {
    genesis
        .member(key)
        .map_or_else(|| key.short(), |m| m.name.clone())
}
