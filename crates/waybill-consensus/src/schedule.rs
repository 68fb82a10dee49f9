//! Who proposes at a height and round: round robin that skips validators
//! known to be down.
//!
//! Plain round robin hands every n-th height's round 0 to each validator,
//! so with one of them down every one of its heights waits a full propose
//! timeout before round 1. Here a validator that proposed none of the
//! recent blocks is *suspected*, and its round-0 slot goes to the next
//! validator that is not.
//!
//! Every honest node must name the same proposer for a (height, round), or
//! they refuse each other's proposals. So the schedule depends only on
//! what is identical everywhere: the validator set of the height and the
//! `proposer` in the headers of the decided blocks. Commit certificates
//! are not used: each node keeps the precommits it happened to collect, so
//! their signers differ from node to node.
//!
//! The rules, for the set of height `h` (n validators, in set order):
//! - The window is the last [`WINDOW_ROTATIONS`] rotations of decided
//!   blocks, heights `[h - W, h - 1]` with `W = 2n`. Until a full window
//!   exists (`h - 1 < W`) no one is suspected: plain round robin.
//! - A validator of the set is suspected if it proposed none of the
//!   window's blocks. A validator that has just joined the set proposed
//!   nothing in it, so it is suspected until its first retry slot (below)
//!   — it then proposes, and is counted from there on.
//! - Round 0: the base choice is index `(h - 1) mod n`. If it is suspected
//!   and the rotation is not a retry rotation, the slot goes to the first
//!   validator after it, in set order, that is not suspected (the base
//!   choice if all are). Every [`RETRY_EVERY_ROTATIONS`]-th rotation
//!   (`((h - 1) / n) mod R == 0`) each validator keeps its slot anyway, so
//!   one that came back is noticed within about `n·R` heights.
//! - Round r > 0 walks on from the round-0 proposer: first the validators
//!   that are not suspected, then the suspected ones, each in set order
//!   after it, cycling every n rounds. Every validator still comes up once
//!   in any n consecutive rounds — which Tendermint's liveness needs, in
//!   case the suspects are the honest ones — but the rounds after a failed
//!   round 0 go to validators known to be up first. (Stepping plainly to
//!   index + r would give round 1 to the validator that is down whenever
//!   it follows the round-0 proposer, costing a second, longer timeout.)
//!
//! Changing these rules changes who may propose: every validator must run
//! the same rules, so a change is a coordinated upgrade.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use waybill_core::crypto::PublicKey;

use crate::ctx::{Address, ValidatorSet};

/// How many rotations of decided blocks the window spans. One would
/// suspect a validator whose single slot failed once (a slow block, a
/// lost message); two need two failures in a row.
pub const WINDOW_ROTATIONS: u64 = 2;

/// A suspected validator keeps its round-0 slot every this many
/// rotations, so that one that came back proposes and leaves the
/// suspects. Larger costs fewer timeouts while a validator is down,
/// smaller notices sooner that it is up.
pub const RETRY_EVERY_ROTATIONS: u64 = 8;

/// The decided heights whose proposers decide the suspects at `height`
/// for a set of `n` validators; `None` until a full window exists.
pub fn window(height: u64, n: usize) -> Option<RangeInclusive<u64>> {
    let w = WINDOW_ROTATIONS.saturating_mul(n as u64);
    let last = height.checked_sub(1)?;
    if w == 0 || last < w {
        return None;
    }
    Some(last - w + 1..=last)
}

/// The window is not all known: the proposer of a decided height in it
/// could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the proposer of decided block {height} is not known")]
pub struct MissingProposer {
    /// The height whose proposer is missing.
    pub height: u64,
}

/// The proposers of recent decided blocks, by height: what the suspects
/// are computed from. Kept to the current window (a few entries per
/// validator) and appended to as blocks are committed, so the ledger is
/// read only at start, after a failed read, or when the window grows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentProposers {
    by_height: BTreeMap<u64, PublicKey>,
}

impl RecentProposers {
    /// Records the proposer of decided block `height`.
    pub fn record(&mut self, height: u64, proposer: PublicKey) {
        self.by_height.insert(height, proposer);
    }

    /// The recorded proposer of `height`.
    pub fn get(&self, height: u64) -> Option<PublicKey> {
        self.by_height.get(&height).copied()
    }

    /// Forgets the heights before `height`.
    pub fn forget_before(&mut self, height: u64) {
        self.by_height = self.by_height.split_off(&height);
    }

    /// The validators of `set` (the set of `height`) that proposed none
    /// of the window's blocks, in set order; none before a full window.
    pub fn suspects(
        &self,
        set: &ValidatorSet,
        height: u64,
    ) -> Result<Vec<Address>, MissingProposer> {
        let Some(window) = window(height, set.validators().len()) else {
            return Ok(Vec::new());
        };
        let proposed = window
            .map(|h| self.get(h).ok_or(MissingProposer { height: h }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(set
            .validators()
            .iter()
            .map(|v| v.address)
            .filter(|a| !proposed.contains(&a.0))
            .collect())
    }
}

impl FromIterator<(u64, PublicKey)> for RecentProposers {
    fn from_iter<I: IntoIterator<Item = (u64, PublicKey)>>(iter: I) -> Self {
        RecentProposers {
            by_height: iter.into_iter().collect(),
        }
    }
}

/// Whether `height`'s rotation lets suspected validators keep their slot.
pub fn is_retry(height: u64, n: usize) -> bool {
    let n = (n as u64).max(1);
    (height.saturating_sub(1) / n).is_multiple_of(RETRY_EVERY_ROTATIONS)
}

/// The index, in set order, of the proposer at `height` and `round` of a
/// set whose validator `i` is suspected iff `suspected[i]` (see the
/// module's rules). A pure function of its arguments: every node computes
/// the same from the same set and blocks. 0 for an empty set.
pub fn proposer_index(suspected: &[bool], height: u64, round: u32) -> usize {
    let n = suspected.len();
    if n == 0 {
        return 0;
    }
    let is_suspect = |i: usize| suspected.get(i).copied().unwrap_or(false);
    let base = (height.saturating_sub(1) % n as u64) as usize;
    let first = if !is_suspect(base) || is_retry(height, n) {
        base
    } else {
        (1..n)
            .map(|d| (base + d) % n)
            .find(|&i| !is_suspect(i))
            .unwrap_or(base)
    };
    let r = (u64::from(round) % n as u64) as usize;
    if r == 0 {
        return first;
    }
    let after = |d: usize| (first + d) % n;
    (1..n)
        .map(after)
        .filter(|&i| !is_suspect(i))
        .chain((1..n).map(after).filter(|&i| is_suspect(i)))
        .nth(r - 1)
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::{Height, Validator};
    use crate::signing::VerifyKey;
    use ed25519_dalek::SigningKey;
    use waybill_core::crypto;

    const N: usize = 4;

    fn key(seed: u8) -> PublicKey {
        crypto::public_key(&SigningKey::from_bytes(&[seed; 32]))
    }

    /// A set of equal powers, so in address order.
    fn set(keys: &[PublicKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter()
                .map(|&k| Validator {
                    address: Address(k),
                    public_key: VerifyKey(k.verifying_key().unwrap_or_else(|e| panic!("{e:?}"))),
                    voting_power: 1,
                })
                .collect(),
        )
    }

    fn only(i: usize) -> Vec<bool> {
        (0..N).map(|j| j == i).collect()
    }

    #[test]
    fn no_suspect_is_plain_round_robin() {
        let none = [false; N];
        for h in 1..200u64 {
            for r in 0..10u32 {
                let want = ((h - 1 + u64::from(r)) % N as u64) as usize;
                assert_eq!(proposer_index(&none, h, r), want, "h {h} r {r}");
            }
        }
    }

    #[test]
    fn a_suspect_proposes_round_0_only_at_its_retry_heights() {
        for down in 0..N {
            let s = only(down);
            let mut retries = 0;
            for h in 1..=1000u64 {
                let p = proposer_index(&s, h, 0);
                let base = ((h - 1) % N as u64) as usize;
                if p == down {
                    assert!(is_retry(h, N), "h {h}: suspect {down} proposes");
                    assert_eq!(base, down);
                    retries += 1;
                } else if base == down {
                    // Its slot goes to the next validator in set order.
                    assert_eq!(p, (down + 1) % N, "h {h}");
                } else {
                    assert_eq!(p, base, "h {h}: others keep their slots");
                }
            }
            // 1000 heights are 250 rotations, one in 8 a retry.
            assert_eq!(retries, 32);
        }
        // The retry rotations: the first of every 8.
        assert!(is_retry(1, N) && is_retry(4, N) && !is_retry(5, N));
        assert!(!is_retry(32, N) && is_retry(33, N) && is_retry(36, N));
    }

    #[test]
    fn the_slot_goes_to_the_first_validator_not_suspected() {
        // Validators 1 and 2 down: 1's slot goes past 2 to 3.
        let s = [false, true, true, false, false];
        let h = 5 * 3 + 2; // rotation 3 (no retry), base index 1
        assert!(!is_retry(h, 5));
        assert_eq!(proposer_index(&s, h, 0), 3);
        assert_eq!(proposer_index(&s, h + 1, 0), 3);
        assert_eq!(proposer_index(&s, h + 2, 0), 3);
        // The last validator wraps to the first.
        let s = [false, false, false, true];
        assert_eq!(proposer_index(&s, 4 * 3 + 4, 0), 0);
    }

    #[test]
    fn later_rounds_walk_on_and_reach_every_validator() {
        // 3 down; base 2 proposes round 0, round 1 skips 3.
        let s = only(3);
        let h = 4 * 5 + 3; // rotation 5, base index 2
        let rounds: Vec<usize> = (0..8).map(|r| proposer_index(&s, h, r)).collect();
        assert_eq!(rounds, vec![2, 0, 1, 3, 2, 0, 1, 3]);
        // Round 0 given away: round 1 goes on from the one that took it.
        let h = 4 * 5 + 4; // base index 3, taken by 0
        let rounds: Vec<usize> = (0..4).map(|r| proposer_index(&s, h, r)).collect();
        assert_eq!(rounds, vec![0, 1, 2, 3]);
        // At a retry slot the suspect has round 0, then the others.
        let rounds: Vec<usize> = (0..4).map(|r| proposer_index(&s, 4, r)).collect();
        assert_eq!(rounds, vec![3, 0, 1, 2]);
        // Any n consecutive rounds name each validator once.
        for s in [only(0), only(2), vec![true, false, true, false]] {
            for h in 1..100u64 {
                for start in 0..6u32 {
                    let mut seen: Vec<usize> = (start..start + N as u32)
                        .map(|r| proposer_index(&s, h, r))
                        .collect();
                    seen.sort_unstable();
                    assert_eq!(seen, vec![0, 1, 2, 3], "h {h} from round {start}");
                }
            }
        }
    }

    #[test]
    fn all_suspected_is_the_base_choice() {
        let all = [true; N];
        for h in 1..100u64 {
            for r in 0..8u32 {
                let want = ((h - 1 + u64::from(r)) % N as u64) as usize;
                assert_eq!(proposer_index(&all, h, r), want, "h {h} r {r}");
            }
        }
    }

    #[test]
    fn same_inputs_same_proposer() {
        use malachitebft_app_channel::app::types::core::{Context as _, Round};
        // Two nodes given the same validators and suspects, each in its
        // own order, name the same proposer at every height and round.
        let keys: Vec<PublicKey> = (1..=7).map(key).collect();
        let mut reversed = keys.clone();
        reversed.reverse();
        let (down, also_down) = (Address(keys[2]), Address(keys[5]));
        let a = set(&keys).with_suspects(&[down, also_down]);
        let b = set(&reversed).with_suspects(&[also_down, down]);
        assert_eq!(a, b);
        let ctx = crate::ctx::WaybillCtx {
            chain_id: crypto::Hash32([1; 32]),
        };
        let mut down_in_round_0 = 0;
        for h in 1..300u64 {
            for r in 0..9u32 {
                let pa = ctx.select_proposer(&a, Height(h), Round::new(r));
                let pb = ctx.select_proposer(&b, Height(h), Round::new(r));
                assert_eq!(pa.address, pb.address, "h {h} r {r}");
                if r == 0 && (pa.address == down || pa.address == also_down) {
                    down_in_round_0 += 1;
                    assert!(is_retry(h, 7), "h {h}");
                }
            }
        }
        // 300 heights are 43 rotations, 6 of them retries: 2 slots each.
        assert_eq!(down_in_round_0, 12);
        // Suspects of no one in the set change nothing.
        assert_eq!(set(&keys).with_suspects(&[Address(key(9))]), set(&keys));
        assert_eq!(proposer_index(&[], 7, 3), 0);
        assert_eq!(proposer_index(&[true], 7, 3), 0);
    }

    #[test]
    fn the_window_is_the_last_two_rotations_once_full() {
        assert_eq!(window(0, 4), None);
        assert_eq!(window(1, 4), None);
        assert_eq!(window(8, 4), None);
        assert_eq!(window(9, 4), Some(1..=8));
        assert_eq!(window(100, 4), Some(92..=99));
        assert_eq!(window(100, 7), Some(86..=99));
        assert_eq!(window(100, 0), None);
    }

    #[test]
    fn suspects_are_the_validators_absent_from_the_window() {
        let vs = set(&[key(1), key(2), key(3), key(4)]);
        // In set order.
        let keys: Vec<PublicKey> = vs.validators().iter().map(|v| v.address.0).collect();
        let addr = |i: usize| Address(keys[i]);
        // Round robin over 0, 1, 2 only: 3 never proposed.
        let log: RecentProposers = (1..=20u64).map(|h| (h, keys[(h % 3) as usize])).collect();
        // No full window yet: nobody is suspected.
        assert_eq!(log.suspects(&vs, 8), Ok(vec![]));
        assert_eq!(log.suspects(&vs, 9), Ok(vec![addr(3)]));
        assert_eq!(log.suspects(&vs, 21), Ok(vec![addr(3)]));
        // 3 proposed at 13: in the windows of 14 to 21 (6..=13 to
        // 13..=20), not in 22's (14..=21).
        let mut log = log;
        log.record(13, keys[3]);
        assert_eq!(log.suspects(&vs, 14), Ok(vec![]));
        assert_eq!(log.suspects(&vs, 21), Ok(vec![]));
        log.record(21, keys[0]);
        assert_eq!(log.suspects(&vs, 22), Ok(vec![addr(3)]));
        // A height of the window unknown: no answer rather than a guess.
        assert_eq!(log.suspects(&vs, 23), Err(MissingProposer { height: 22 }));
        // Against the set of the height: a newcomer proposed nothing and
        // is suspected; the window grows with the set (12..=21 for five,
        // which holds 3's block).
        let mut five = keys.clone();
        five.push(key(5));
        let bigger = set(&five);
        assert_eq!(log.suspects(&bigger, 22), Ok(vec![Address(key(5))]));
        // A proposer that left the set counts for nothing; the window
        // shrinks with the set (16..=21 for three).
        let smaller = set(&keys[..3]);
        assert_eq!(log.suspects(&smaller, 22), Ok(vec![]));
        // Forgetting old heights keeps the rest.
        log.forget_before(14);
        assert_eq!(log.get(13), None);
        assert_eq!(log.get(14), Some(keys[2]));
        assert_eq!(log.suspects(&vs, 22), Ok(vec![addr(3)]));
    }
}
