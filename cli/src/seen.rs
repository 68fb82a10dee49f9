//! The last checkpoint of each chain's log this CLI has seen, so that a
//! view that does not extend it is refused: a ledger rewritten or rolled
//! back, or a node that shows an old, certified but stale view.
//!
//! Kept as the note itself, one file per chain,
//! `checkpoints/<chain id hex>.checkpoint` under the state directory:
//! `$WAYBILL_STATE_DIR`, else `$XDG_STATE_HOME/waybill`, else
//! `~/.local/state/waybill`. A remembered note is read back as a
//! checkpoint of this chain's log, not verified again: it was verified
//! when it was remembered (against the validators of its height, which
//! governance may since have changed), and a file changed by hand can
//! only make views fail to extend it, never make a false one pass.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use waybill_core::checkpoint::{self, Checkpoint, CheckpointError};
use waybill_core::crypto::Hash32;
use waybill_core::genesis::ChainId;

use crate::node_client::Node;
use crate::util::{self, Existing};

/// Largest remembered note read.
const MAX_NOTE_BYTES: u64 = 1024 * 1024;

/// The state directory, if the environment names one.
fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("WAYBILL_STATE_DIR")
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("waybill")))
        .or_else(|| var("HOME").map(|d| d.join(".local/state/waybill")))
}

/// Where a chain's last checkpoint is remembered.
pub struct Seen {
    path: PathBuf,
}

/// How a checkpoint stands against the last one seen.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// None was seen for this chain before.
    First,
    /// The same tree head as the last seen.
    Same,
    /// It extends the last seen, at this height: proven consistent.
    Extends(u64),
    /// An earlier one, proven to be a prefix of the last seen (at this
    /// height), which stays remembered.
    Earlier(u64),
}

impl Seen {
    /// For `chain`; `None` if there is no state directory (no `HOME`).
    pub fn for_chain(chain: &ChainId) -> Option<Seen> {
        Some(Seen {
            path: state_dir()?
                .join("checkpoints")
                .join(format!("{}.checkpoint", chain.to_hex())),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last checkpoint seen of `chain`.
    pub fn last(&self, chain: &ChainId) -> Result<Option<Checkpoint>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let bytes = util::read_limited(&self.path, MAX_NOTE_BYTES, "the remembered checkpoint")?;
        let bad = |e: CheckpointError| {
            anyhow!(
                "the remembered checkpoint {} is not one ({e}); remove it to start afresh",
                self.path.display()
            )
        };
        let (cp, _) = checkpoint::open_note(&bytes).map_err(bad)?;
        cp.check_origin(chain).map_err(bad)?;
        Ok(Some(cp))
    }

    /// Remembers `note` (a verified checkpoint note) as the last seen.
    pub fn remember(&self, note: &[u8]) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot make {}", dir.display()))?;
        }
        let text = std::str::from_utf8(note).map_err(|_| anyhow!("internal: a note is text"))?;
        util::write_out(Some(&self.path), text, Existing::Replace)
    }
}

/// Checks `new` (a verified checkpoint, `note` its text) against the last
/// checkpoint of `chain` seen here, with consistency proofs from `nodes`,
/// and remembers it if it is the newest. `Ok(None)`: there is no state
/// directory, so nothing is checked; `Ok(Some(Err(why)))`: the view does
/// not extend the last seen, and is refused.
pub fn check_and_remember(
    chain: &ChainId,
    new: &Checkpoint,
    note: &[u8],
    nodes: &[Node],
) -> Result<Option<std::result::Result<Standing, String>>> {
    let Some(seen) = Seen::for_chain(chain) else {
        eprintln!("note: no state directory (set WAYBILL_STATE_DIR or HOME), so the checkpoint is not checked against the last one seen");
        return Ok(None);
    };
    let last = seen.last(chain)?;
    let prove = |o: u64, n: u64| -> Result<Option<Vec<Hash32>>> {
        for node in nodes {
            if let Some(p) = node.consistency_if(o, n)? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    };
    Ok(Some(match stand(last.as_ref(), new, prove)? {
        Err(e) => Err(format!(
            "{e} (the last checkpoint seen is in {}; only if this chain was \
             knowingly started again from the same genesis, remove that file)",
            seen.path().display()
        )),
        Ok(st) => {
            if matches!(st, Standing::First | Standing::Extends(_)) {
                seen.remember(note)?;
            }
            Ok(st)
        }
    }))
}

impl Standing {
    /// A line for people.
    pub fn describe(&self) -> String {
        match self {
            Standing::First => "the first checkpoint of this chain seen here: remembered".into(),
            Standing::Same => "the same as the last checkpoint seen".into(),
            Standing::Extends(h) => format!(
                "extends the last checkpoint seen (height {h}), proven consistent: remembered"
            ),
            Standing::Earlier(h) => {
                format!("an earlier checkpoint, proven a prefix of the last one seen (height {h})")
            }
        }
    }
}

/// How `new` stands against `last`, the last checkpoint seen, with
/// `prove(old, new)` answering a consistency proof between two sizes
/// (from a node; `Ok(None)` if it cannot, its log being shorter). A fork,
/// or an earlier view no node proves to be a prefix of the last seen
/// (a stale one), is an error.
pub fn stand(
    last: Option<&Checkpoint>,
    new: &Checkpoint,
    prove: impl Fn(u64, u64) -> Result<Option<Vec<Hash32>>>,
) -> Result<std::result::Result<Standing, CheckpointError>> {
    let Some(last) = last else {
        return Ok(Ok(Standing::First));
    };
    if last == new {
        return Ok(Ok(Standing::Same));
    }
    let forward = new.size >= last.size && new.height >= last.height;
    let (old, newer) = if forward { (last, new) } else { (new, last) };
    let proof = if old.size > 0 && old.size < newer.size {
        match prove(old.size, newer.size)? {
            Some(p) => p,
            None => {
                return Ok(Err(CheckpointError::Fork(format!(
                    "the view is stale: the log at height {} ({} entries) is older than the last checkpoint seen (height {}, {} entries), and the node cannot prove it a prefix of it",
                    new.height, new.size, last.height, last.size
                ))))
            }
        }
    } else {
        Vec::new()
    };
    Ok(checkpoint::check_consistency(old, newer, &proof).map(|()| {
        if forward {
            Standing::Extends(last.height)
        } else {
            Standing::Earlier(last.height)
        }
    }))
}

#[cfg(test)]
mod tests {
    use waybill_core::checkpoint::MemoryLog;

    use super::*;

    /// A log of `n` entries and its checkpoints: the one of size `s` at
    /// height `s`.
    fn log(n: u64, salt: u8) -> MemoryLog {
        let mut log = MemoryLog::new();
        for i in 0..n {
            log.push(&Hash32::digest(&[&i.to_be_bytes()[..], &[salt]].concat()));
        }
        log
    }

    fn cp(log: &MemoryLog, size: u64) -> Checkpoint {
        Checkpoint {
            origin: "waybill/test".into(),
            size,
            root: log.root(size).expect("within the log"),
            height: size,
            block: Hash32::digest(&size.to_be_bytes()),
            index: Hash32::digest(b"an index"),
        }
    }

    /// A node holding `log`: its proofs, `None` beyond its length.
    fn node(log: &MemoryLog) -> impl Fn(u64, u64) -> Result<Option<Vec<Hash32>>> + '_ {
        move |o, n| Ok(log.prove_consistency(o, n).ok())
    }

    fn standing(
        last: Option<&Checkpoint>,
        new: &Checkpoint,
        log: &MemoryLog,
    ) -> Result<Standing, String> {
        stand(last, new, node(log))
            .expect("the node answers")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_view_must_extend_the_last_checkpoint_seen() {
        let honest = log(40, 0);
        // Nothing seen yet; the same again; a later one, proven.
        assert_eq!(
            standing(None, &cp(&honest, 10), &honest),
            Ok(Standing::First)
        );
        assert_eq!(
            standing(Some(&cp(&honest, 10)), &cp(&honest, 10), &honest),
            Ok(Standing::Same)
        );
        assert_eq!(
            standing(Some(&cp(&honest, 10)), &cp(&honest, 40), &honest),
            Ok(Standing::Extends(10))
        );
        // An earlier one that the node proves a prefix of the last seen.
        assert_eq!(
            standing(Some(&cp(&honest, 40)), &cp(&honest, 10), &honest),
            Ok(Standing::Earlier(40))
        );

        // A stale node (its log ends before the last seen) cannot prove it.
        let stale = log(25, 0);
        let e = standing(Some(&cp(&honest, 40)), &cp(&stale, 25), &stale).expect_err("stale");
        assert!(e.contains("stale"), "{e}");

        // A rewritten history: another log of the same or a larger size.
        let forged = log(60, 1);
        let e = standing(Some(&cp(&honest, 40)), &cp(&forged, 40), &forged).expect_err("fork");
        assert!(e.contains("forked"), "{e}");
        let e = standing(Some(&cp(&honest, 40)), &cp(&forged, 60), &forged).expect_err("fork");
        assert!(e.contains("proof") || e.contains("forked"), "{e}");
        // A node that proves with the honest log's hashes for a forged head.
        let e = standing(Some(&cp(&honest, 10)), &cp(&forged, 40), &honest).expect_err("fork");
        assert!(e.contains("proof") || e.contains("forked"), "{e}");
    }
}
