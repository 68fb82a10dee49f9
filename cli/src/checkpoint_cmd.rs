//! `waybill checkpoint`: the ledger's log of every entry, as C2SP
//! checkpoints cosigned by the validators (see `waybill_core::checkpoint`).
//!
//! The validators cosign each block's checkpoint in their precommits, and
//! any node serves the note with those cosignatures (a validator's node
//! adds its own line if missing); `fetch` asks one node or several and
//! joins their lines into one note, `verify` checks a note against the
//! genesis (more than 2/3 of the voting power must have cosigned), and
//! `consistency` proves that a later checkpoint extends an earlier one, so
//! a ledger that was rewritten is caught.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use waybill_core::checkpoint::{self, Certified, CheckpointError};
use waybill_core::genesis::{Genesis, ValidatorSpec};
use waybill_core::trail::{council_validators, Council};

use crate::node_client::Node;
use crate::report::cosigner_names;
use crate::seen;
use crate::util::{self, Existing};

/// Largest checkpoint note read from a file.
const MAX_NOTE_BYTES: u64 = 1024 * 1024;

/// `waybill checkpoint …`.
#[derive(Subcommand, Debug)]
pub enum CheckpointCmd {
    /// Fetch the log's checkpoint from a node (or several, joining their
    /// cosignatures into one note) and verify it: validators with more
    /// than 2/3 of the voting power must have cosigned it.
    ///
    /// A node serves the cosignatures its block was decided with, so one
    /// node is usually enough. Every node is asked for the same height:
    /// --height, or the lowest tip among the nodes that answer. A node
    /// that serves another tree head for that height is reported: the log
    /// forked, or the node lies.
    ///
    /// The last checkpoint of each chain seen (here and by `waybill lookup
    /// --node`) is remembered in $WAYBILL_STATE_DIR, else
    /// $XDG_STATE_HOME/waybill, else ~/.local/state/waybill: a checkpoint
    /// must extend it, or be proven a prefix of it, with a consistency
    /// proof from the nodes. A forked or rolled-back log, or a stale view,
    /// prints FAILED and exits 1.
    Fetch {
        /// A node's API, e.g. http://127.0.0.1:7001 (repeat to join the
        /// lines of several).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// The block height (default: the lowest tip among the nodes).
        #[arg(long)]
        height: Option<u64>,
        /// Write the note here (default: print it).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Replace --out if it exists.
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Verify a checkpoint note against the genesis: the validators of its
    /// height with more than 2/3 of the voting power cosigned it.
    ///
    /// Without --node the validators are the genesis's; if governance has
    /// changed them since, give --node to read the consortium's history
    /// (every membership and governance entry, each proven on the chain
    /// against the genesis) and take the set of the checkpoint's height.
    Verify {
        /// The note (from `waybill checkpoint fetch`).
        checkpoint: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// A node to read the consortium's history from (it need not be
        /// trusted).
        #[arg(long)]
        node: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove that the log at NEW extends the log at OLD (two verified
    /// checkpoint notes), with a consistency proof from a node. Exits
    /// non-zero if it does not: the ledger was rewritten.
    Consistency {
        /// The earlier checkpoint note.
        old: PathBuf,
        /// The later checkpoint note.
        new: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
        /// A node API to ask for the proof and the consortium's history
        /// (it need not be trusted).
        #[arg(long)]
        node: String,
    },
}

/// What checkpoints are verified against: the genesis, and the
/// consortium's history read from a node when there is one, for the
/// validators of heights after governance changed them.
struct Trust {
    g: Genesis,
    council: Option<Council>,
}

impl Trust {
    /// The genesis in `path`, with the history from the first of `nodes`
    /// that gives one (none: the genesis's validators only).
    fn new(path: &Path, nodes: &[Node]) -> Result<Trust> {
        let g = util::read_genesis(path)?;
        let mut council = None;
        for node in nodes {
            match node.council() {
                Ok(c) => {
                    council = Some(c);
                    break;
                }
                Err(e) => eprintln!("warning: {e:#}"),
            }
        }
        Ok(Trust { g, council })
    }

    /// The validator set of `height`.
    fn validators(&self, height: u64) -> Result<Vec<ValidatorSpec>, String> {
        match &self.council {
            None => Ok(self.g.validators.clone()),
            Some(c) => council_validators(&self.g, c, height).map_err(|e| e.to_string()),
        }
    }

    /// Verifies a note against the validators of its height; returns them
    /// with it.
    fn verify(&self, bytes: &[u8]) -> Result<(Certified, Vec<ValidatorSpec>), String> {
        let (cp, _) = checkpoint::open_note(bytes).map_err(|e| e.to_string())?;
        let validators = self.validators(cp.height)?;
        match checkpoint::verify(bytes, &self.g.chain_id(), &validators) {
            Ok(c) => Ok((c, validators)),
            Err(e @ CheckpointError::NoQuorum { .. }) if self.council.is_none() => Err(format!(
                "{e}, counting the genesis's validators (if governance has changed them since, give --node to read the consortium's history)"
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs `waybill checkpoint …`. A checkpoint that does not verify, or a
/// later one that does not extend an earlier one, prints `FAILED` and
/// exits 1; bad files, unreachable nodes and the like are errors (2).
pub fn run(cmd: CheckpointCmd) -> Result<ExitCode> {
    match cmd {
        CheckpointCmd::Fetch {
            nodes,
            genesis,
            height,
            out,
            force,
        } => fetch(&nodes, &genesis, height, out.as_deref(), force),
        CheckpointCmd::Verify {
            checkpoint,
            genesis,
            node,
            json,
        } => {
            let nodes = node
                .iter()
                .map(|u| Node::new(u))
                .collect::<Result<Vec<_>>>()?;
            let trust = Trust::new(&genesis, &nodes)?;
            let bytes = util::read_limited(&checkpoint, MAX_NOTE_BYTES, "checkpoint")?;
            match trust.verify(&bytes) {
                Ok((c, v)) if json => {
                    println!("{}", serde_json::to_string_pretty(&to_json(&v, &c))?);
                    Ok(ExitCode::SUCCESS)
                }
                Ok((c, v)) => {
                    print_certified(&trust.g, &v, &c);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(failed(json, &format!("{}: {e}", checkpoint.display()))),
            }
        }
        CheckpointCmd::Consistency {
            old,
            new,
            genesis,
            node,
        } => {
            let node = Node::new(&node)?;
            let trust = Trust::new(&genesis, std::slice::from_ref(&node))?;
            let mut heads = Vec::new();
            for path in [&old, &new] {
                let bytes = util::read_limited(path, MAX_NOTE_BYTES, "checkpoint")?;
                match trust.verify(&bytes) {
                    Ok((c, _)) => heads.push(c.checkpoint),
                    Err(e) => return Ok(failed(false, &format!("{}: {e}", path.display()))),
                }
            }
            let (o, n) = (&heads[0], &heads[1]);
            let proof = if o.size < n.size && o.size > 0 {
                node.consistency(o.size, n.size)?
            } else {
                Vec::new()
            };
            match checkpoint::check_consistency(o, n, &proof) {
                Ok(()) => {
                    println!(
                        "CONSISTENT: the log at height {} ({} entries) extends the log at height {} ({} entries)",
                        n.height, n.size, o.height, o.size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(failed(false, &e.to_string())),
            }
        }
    }
}

/// Prints a failed verification and gives exit code 1.
fn failed(json: bool, why: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "verified": false, "error": why }));
    } else {
        println!("FAILED: {why}");
    }
    ExitCode::from(1)
}

fn fetch(
    nodes: &[String],
    genesis: &Path,
    height: Option<u64>,
    out: Option<&Path>,
    force: bool,
) -> Result<ExitCode> {
    let nodes = nodes
        .iter()
        .map(|u| Node::new(u))
        .collect::<Result<Vec<_>>>()?;
    // One height for all: the lowest tip, so every node has committed it.
    // Asked before the consortium's history, which then runs at least to
    // it (a tip only grows).
    let height = match height {
        Some(h) => h,
        None => nodes
            .iter()
            .filter_map(|n| match n.height() {
                Ok(h) => Some(h),
                Err(e) => {
                    eprintln!("warning: {e:#}");
                    None
                }
            })
            .min()
            .ok_or_else(|| anyhow!("no node answered"))?,
    };
    if height == 0 {
        bail!("the nodes have no blocks yet, so the log is empty");
    }
    let trust = Trust::new(genesis, &nodes)?;
    let g = &trust.g;
    let mut notes: Vec<Vec<u8>> = Vec::new();
    for node in &nodes {
        match node.checkpoint(Some(height))? {
            Ok(bytes) => {
                let (cp, _) = checkpoint::open_note(&bytes).with_context(|| {
                    format!(
                        "the node at {} served something that is not a checkpoint",
                        node.url()
                    )
                })?;
                if let Err(e) = cp.check_origin(&g.chain_id()) {
                    bail!("the node at {}: {e}", node.url());
                }
                notes.push(bytes);
            }
            Err(why) => eprintln!(
                "warning: the node at {} gave no checkpoint: {why}",
                node.url()
            ),
        }
    }
    if notes.is_empty() {
        bail!("no node gave a checkpoint");
    }
    let joined = checkpoint::join(&notes).context("the nodes disagree")?;
    let (certified, validators) = trust.verify(&joined).map_err(|e| {
        anyhow!("the checkpoint does not verify ({e}); ask more validators' nodes (--node)")
    })?;
    // Against the last checkpoint of this chain seen here: a view that
    // does not extend it is refused, and one that does is remembered.
    let standing =
        match seen::check_and_remember(&g.chain_id(), &certified.checkpoint, &joined, &nodes)? {
            None => None,
            Some(Ok(st)) => Some(st),
            Some(Err(why)) => return Ok(failed(false, &why)),
        };
    let text = String::from_utf8(joined).map_err(|_| anyhow!("internal: a note is text"))?;
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    util::write_out(out, &text, existing)?;
    let said = standing.map(|st| format!("  {}", st.describe()));
    if out.is_some() {
        print_certified(g, &validators, &certified);
        if let Some(line) = said {
            println!("{line}");
        }
    } else if let Some(line) = said {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_certified(g: &Genesis, validators: &[ValidatorSpec], c: &Certified) {
    let cp = &c.checkpoint;
    let power: u64 = c
        .cosigners
        .iter()
        .filter_map(|(k, _)| validators.iter().find(|v| v.public_key == *k))
        .map(|v| v.power)
        .sum();
    let total: u64 = validators.iter().map(|v| v.power).sum();
    println!(
        "VERIFIED checkpoint of {}: {} entries at height {}, root {}",
        g.chain_name,
        cp.size,
        cp.height,
        cp.root.to_hex()
    );
    println!(
        "  cosigned by {} ({power} of {total} voting power)",
        cosigner_names(validators, c).join(", ")
    );
    println!("  as of block time {}", util::fmt_time_secs(c.time));
}

fn to_json(validators: &[ValidatorSpec], c: &Certified) -> serde_json::Value {
    let cp = &c.checkpoint;
    json!({
        "verified": true,
        "origin": cp.origin,
        "size": cp.size,
        "root": cp.root.to_hex(),
        "height": cp.height,
        "block": cp.block.to_hex(),
        "cosigners": cosigner_names(validators, c),
        "time": c.time,
    })
}
