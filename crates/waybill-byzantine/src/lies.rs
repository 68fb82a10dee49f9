//! Which lies the node tells (from `WAYBILL_BYZANTINE`) and the record of
//! those it told (appended to the file `WAYBILL_BYZANTINE_RECORD`), which
//! a test reads to know that each attack was really made.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{bail, Context, Result};
use waybill_core::entry::SignedEntry;

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Proposes blocks with an entry whose author signature is broken.
    BadSignature,
    /// Proposes blocks carrying a (validly signed) entry that breaks the
    /// custody rules, read from `WAYBILL_BYZANTINE_ENTRY`.
    Custody,
    /// Proposes blocks whose header's entries root is wrong.
    BadRoot,
    /// Sends two proposals (two valid blocks, each streamed and signed)
    /// and two votes in each of its rounds.
    Equivocate,
    /// Sends, once per round, prevotes and precommits claiming to be the
    /// other validators' (signed with its own key) for a block nobody
    /// proposed, in that round and the next.
    ForgeVotes,
    /// Sends its votes of earlier heights again: as they were, and with
    /// the current height and round but the old signature.
    ReplayVotes,
    /// Serves syncing peers committed blocks with a tampered entry (or,
    /// for an empty block, every other time, a tampered commit signature).
    ServeBadBlocks,
    /// Claims a tip [`HEIGHT_LIE`] heights above its own, and serves the
    /// heights it does not have as blocks it made up, certified by itself.
    FalseTip,
    /// Cosigns, in its precommits, a checkpoint of the log with a wrong
    /// root (a validator that lies about the log's history).
    BadCosignature,
}

/// How far above its tip the node claims to be with [`Lie::FalseTip`].
pub const HEIGHT_LIE: u64 = 50;

impl Lie {
    /// The name in `WAYBILL_BYZANTINE` and in the record.
    pub fn name(self) -> &'static str {
        match self {
            Lie::BadSignature => "bad-signature",
            Lie::Custody => "custody",
            Lie::BadRoot => "bad-root",
            Lie::Equivocate => "equivocate",
            Lie::ForgeVotes => "forge-votes",
            Lie::ReplayVotes => "replay-votes",
            Lie::ServeBadBlocks => "serve-bad-blocks",
            Lie::FalseTip => "lie-height",
            Lie::BadCosignature => "bad-cosignature",
        }
    }

    const ALL: [Lie; 9] = [
        Lie::BadSignature,
        Lie::Custody,
        Lie::BadRoot,
        Lie::Equivocate,
        Lie::ForgeVotes,
        Lie::ReplayVotes,
        Lie::ServeBadBlocks,
        Lie::FalseTip,
        Lie::BadCosignature,
    ];
}

/// The lies chosen, and what they need.
pub struct Lies {
    chosen: Vec<Lie>,
    /// The file of the rule-breaking entry for [`Lie::Custody`], read
    /// each time (a test writes it once the lot it steals exists).
    entry: Option<PathBuf>,
    record: Mutex<Option<File>>,
}

impl Lies {
    /// From a comma-separated list of names, an entry file (for
    /// `custody`) and a record file.
    pub fn parse(list: &str, entry: Option<&Path>, record: Option<&Path>) -> Result<Lies> {
        let mut chosen = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(lie) = Lie::ALL.iter().find(|l| l.name() == name) else {
                let known: Vec<&str> = Lie::ALL.iter().map(|l| l.name()).collect();
                bail!("unknown lie `{name}`; known: {}", known.join(", "));
            };
            chosen.push(*lie);
        }
        if chosen.contains(&Lie::Custody) && entry.is_none() {
            bail!("the `custody` lie needs WAYBILL_BYZANTINE_ENTRY (a signed entry as JSON)");
        }
        let record = match record {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("cannot open {}", p.display()))?,
            ),
            None => None,
        };
        Ok(Lies {
            chosen,
            entry: entry.map(Path::to_path_buf),
            record: Mutex::new(record),
        })
    }

    /// The rule-breaking entry for [`Lie::Custody`], once its file exists.
    pub fn custody_entry(&self) -> Option<SignedEntry> {
        let text = std::fs::read_to_string(self.entry.as_ref()?).ok()?;
        match serde_json::from_str(&text) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::error!("WAYBILL_BYZANTINE_ENTRY is not a signed entry: {e}");
                None
            }
        }
    }

    /// Whether `lie` is chosen.
    pub fn tells(&self, lie: Lie) -> bool {
        self.chosen.contains(&lie)
    }

    /// The chosen lies about proposed blocks, in the order given.
    pub fn proposal_lies(&self) -> Vec<Lie> {
        self.chosen
            .iter()
            .copied()
            .filter(|l| matches!(l, Lie::BadSignature | Lie::Custody | Lie::BadRoot))
            .collect()
    }

    /// Records a lie told: `<name> <height> <detail>`, one line.
    pub fn told(&self, lie: Lie, height: u64, detail: &str) {
        tracing::warn!(height, "BYZANTINE {}: {detail}", lie.name());
        let mut f = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = f.as_mut() {
            if let Err(e) = writeln!(f, "{} {height} {detail}", lie.name()) {
                tracing::error!("cannot write the record of lies: {e}");
            }
        }
    }
}
