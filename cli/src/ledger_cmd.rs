//! The local ledger commands: `ledger init|append|check|status`, `lookup`,
//! `trace-forward`, `export` and `nonce` with `--data-dir`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use ed25519_dalek::SigningKey;
use waybill_core::bundle::{BundleBody, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{Genesis, Role};
use waybill_core::gs1::LotId;
use waybill_core::state::View;
use waybill_core::trail::{self, Policy};
use waybill_store::{DataDir, StoreError};

use crate::{report, util};
use waybill_keys as keys;

/// The key that seals blocks of a local ledger (no consensus), kept in
/// the ledger directory.
pub const SEALER_FILE: &str = "sealer.pem";

/// `waybill ledger …`.
#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Create a local ledger for a genesis in a new or empty directory.
    Init {
        /// The directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The genesis file.
        #[arg(long, short = 'g')]
        genesis: PathBuf,
    },
    /// Check entries against the rules and the stored state and seal them
    /// into one block. All or nothing: one bad entry and nothing is written.
    Append {
        /// The directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Entry files (JSON from `waybill record`), in order.
        #[arg(required = true)]
        entries: Vec<PathBuf>,
    },
    /// Re-verify the whole stored chain from genesis.
    Check {
        /// The directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Height, tip, chain, counts.
    Status {
        /// The directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Opens a ledger directory with the path in errors.
pub fn open(dir: &Path) -> Result<DataDir> {
    waybill_store::open_dir(dir)
        .with_context(|| format!("cannot open the ledger in {}", dir.display()))
}

/// Creates a ledger and its sealer key.
pub fn init(dir: &Path, genesis: waybill_core::genesis::Genesis) -> Result<DataDir> {
    let ledger = waybill_store::create_dir(dir, genesis)?;
    let sealer = keys::generate();
    let pem = keys::to_pem(&sealer, None)?;
    std::fs::write(dir.join(SEALER_FILE), pem.as_bytes())
        .with_context(|| format!("cannot write the sealer key in {}", dir.display()))?;
    Ok(ledger)
}

fn sealer(dir: &Path) -> Result<SigningKey> {
    let path = dir.join(SEALER_FILE);
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    keys::from_pem(&pem, || Err(keys::KeyError::PassphraseRequired))
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn parse_lot(lot: &str) -> Result<LotId> {
    lot.parse::<LotId>().map_err(|e| anyhow!("{e}"))
}

/// Runs `waybill ledger …`.
pub fn run(cmd: LedgerCmd) -> Result<ExitCode> {
    match cmd {
        LedgerCmd::Init { data_dir, genesis } => {
            let g = util::read_genesis(&genesis)?;
            let ledger = init(&data_dir, g)?;
            println!(
                "created a ledger for chain {} ({}) in {}",
                ledger.genesis().chain_name,
                ledger.chain_id(),
                data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Append { data_dir, entries } => {
            let mut ledger = open(&data_dir)?;
            let parsed = entries
                .iter()
                .map(|p| util::read_entry(p))
                .collect::<Result<Vec<_>>>()?;
            let max = ledger.genesis().consensus.max_block_entries as usize;
            if parsed.len() > max {
                bail!(
                    "{} entries given; a block holds at most {max}",
                    parsed.len()
                );
            }
            let sealer = sealer(&data_dir)?;
            let header = match ledger.append_entries(
                parsed,
                util::now_ms(),
                crypto::public_key(&sealer),
            ) {
                Ok(h) => h,
                Err(StoreError::Rule { index, error, .. }) => {
                    bail!(
                        "{} rejected: {error}\nnothing was written; the ledger is still at height {}",
                        entries.get(index).map(|p| p.display().to_string()).unwrap_or_default(),
                        ledger.height()
                    )
                }
                Err(e) => return Err(e.into()),
            };
            println!(
                "sealed block {} ({} entries, hash {})",
                header.height,
                header.entry_count,
                header.hash().short()
            );
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Check { data_dir, json } => {
            let ledger = open(&data_dir)?;
            let r = ledger.check()?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true,
                        "blocks": r.blocks,
                        "entries": r.entries,
                        "certified_blocks": r.certified,
                        "tip_hash": r.tip_hash.map(|h| h.to_hex()),
                        "state_digest": r.state_digest.to_hex(),
                    })
                );
            } else {
                println!(
                    "OK: {} blocks and {} entries re-verified from genesis (links, Merkle roots, signatures, rules, state)",
                    r.blocks, r.entries
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerCmd::Status { data_dir, json } => {
            let ledger = open(&data_dir)?;
            let s = ledger.state().counts();
            let v = serde_json::json!({
                "chain_name": ledger.genesis().chain_name,
                "chain_id": ledger.chain_id().to_hex(),
                "height": ledger.height(),
                "tip_hash": ledger.tip().map(|h| h.hash().to_hex()),
                "lots": s.lots,
                "shipments": s.shipments,
                "payments": s.payments,
                "members": s.members,
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "chain {} ({})\nheight {}\nlots {}, shipments {}, payments {}, members {}",
                    ledger.genesis().chain_name,
                    ledger.chain_id(),
                    ledger.height(),
                    s.lots,
                    s.shipments,
                    s.payments,
                    s.members
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `waybill nonce -k KEY --data-dir DIR`: the member's next nonce on the
/// local ledger.
pub fn nonce(key: &PublicKey, dir: &Path, json: bool) -> Result<ExitCode> {
    let ledger = open(dir)?;
    let state = ledger.state();
    let chain = &ledger.genesis().chain_name;
    let Some(member) = state.member(key) else {
        bail!(
            "{key} is not a member of chain `{chain}` (as of height {} of the ledger in {})",
            ledger.height(),
            dir.display()
        );
    };
    let name = &member.spec.name;
    if let Some(height) = member.removed_at {
        bail!("the key {key} of `{name}` was removed or rotated out at height {height} and can sign nothing after it");
    }
    let committed = state.nonce(key);
    let next = committed
        .checked_add(1)
        .ok_or_else(|| anyhow!("`{name}` has used every nonce; rotate its key"))?;
    if json {
        let v = serde_json::json!({
            "key": key.to_hex(),
            "member": name,
            "chain_id": ledger.chain_id().to_hex(),
            "next_nonce": next,
            "committed_nonce": committed,
            "data_dir": dir.display().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{next}");
        eprintln!(
            "the next nonce of `{name}` on the ledger in {} (height {}): its last is {committed}",
            dir.display(),
            ledger.height()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The genesis to verify against: the file given, or the ledger's own copy.
fn trusted_genesis(ledger: &DataDir, genesis: Option<&Path>) -> Result<Genesis> {
    match genesis {
        Some(p) => util::read_genesis(p),
        None => Ok(ledger.genesis().clone()),
    }
}

/// `waybill lookup --data-dir` (`genesis`: verify against this file
/// instead of the ledger's copy).
pub fn lookup(lot: &str, dir: &Path, genesis: Option<&Path>, json: bool) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let ledger = open(dir)?;
    let g = trusted_genesis(&ledger, genesis)?;
    let trail = ledger.trail(&lot)?;
    match trail::verify(
        &g,
        &trail,
        Policy {
            require_certificates: false,
        },
    ) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report::trail_json(&r, true, None))?
                );
            } else {
                report::print_trail(&r);
                println!("VERIFIED: {} entries; {}", r.entries, report::finality(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "lot": lot.to_string(), "error": e.to_string() })
                );
            } else {
                println!("FAILED: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `waybill trace-forward --data-dir DIR`: the lot and every lot made
/// from it, each from its trail replayed against the ledger's genesis.
pub fn trace_forward(lot: &str, dir: &Path, json: bool) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let ledger = open(dir)?;
    let mut lots = vec![(lot.clone(), true)];
    lots.extend(ledger.forward(&lot)?.into_iter().map(|(id, _)| (id, false)));
    let mut reach = Vec::with_capacity(lots.len());
    for (id, itself) in lots {
        let t = ledger.trail(&id)?;
        let report = trail::verify(
            ledger.genesis(),
            &t,
            Policy {
                require_certificates: false,
            },
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "the trail of {id} in {} does not verify: {e}",
                dir.display()
            )
        })?;
        reach.push(crate::forward::Reach {
            lot: id,
            itself,
            report,
        });
    }
    crate::forward::print(
        &lot,
        &reach,
        &format!("the ledger in {}", dir.display()),
        None,
        json,
    )
}

/// `waybill export --data-dir` (`genesis`: verify against this file
/// instead of the ledger's copy).
pub fn export(
    lot: &str,
    dir: &Path,
    genesis: Option<&Path>,
    key: &Path,
    out: &Path,
    existing: util::Existing,
) -> Result<ExitCode> {
    let lot = parse_lot(lot)?;
    let ledger = open(dir)?;
    let g = trusted_genesis(&ledger, genesis)?;
    let key = util::read_key(key)?;
    let me = crypto::public_key(&key);
    match ledger.state().member(&me) {
        Some(m) if m.active() && m.spec.has(Role::Auditor) => {}
        Some(m) => bail!(
            "`{}` is not an active auditor; only auditors export bundles",
            m.spec.name
        ),
        None => bail!("the key {} is not a member of this chain", me.short()),
    }
    let trail = ledger.trail(&lot)?;
    // Never sign what does not verify.
    trail::verify(
        &g,
        &trail,
        Policy {
            require_certificates: false,
        },
    )
    .map_err(|e| {
        anyhow!("the ledger's trail for {lot} does not verify, so it was not exported: {e}")
    })?;
    let bundle = BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: g.chain_name.clone(),
        chain_id: g.chain_id(),
        exported_at_ms: util::now_ms(),
        exporter: me,
        certificates_required: false,
        trail,
    }
    .sign(&key);
    util::write_out(Some(out), &bundle.to_file_text(), existing)?;
    println!(
        "exported {} entries for {lot} to {}",
        bundle.body.trail.items.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
