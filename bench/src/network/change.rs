//! A change of the validator set under load (`--network-change`): during
//! saturation the consortium's admin raises the first validator's power
//! from 1 to 2 by a governance entry that takes effect a few blocks on,
//! so consensus moves to a new set while the network is saturated. The
//! chains are then checked against the set of each height, and the
//! longest time between two blocks says whether finality stalled.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::crypto::{self, PublicKey};
use waybill_core::entry::{Body, Entry, EntryId, ENTRY_VERSION};
use waybill_core::genesis::{Genesis, ValidatorSpec};
use waybill_core::governance::{GovernanceChange, GovernanceEntry};

/// Blocks between the change's entry and the height it holds from: at
/// saturation a block takes about a second, so the change is made well
/// inside the phase, also in the quick run's six seconds.
const LEAD: u64 = 4;
/// The first validator's power after the change.
const POWER: u64 = 2;

/// The change to make, and what became of it.
pub(crate) struct ValidatorChange {
    genesis: Genesis,
    admin: SigningKey,
    validator: PublicKey,
    /// The height it holds from, once accepted (0 before).
    at: AtomicU64,
    /// Its entry, once accepted.
    entry: Mutex<Option<EntryId>>,
}

impl ValidatorChange {
    /// The change of the first validator of `genesis`, signed by `admin`.
    pub(super) fn new(genesis: &Genesis, admin: SigningKey) -> Result<Self> {
        let validator = genesis
            .validators
            .first()
            .map(|v| v.public_key)
            .ok_or_else(|| anyhow!("the benchmark genesis has no validator"))?;
        Ok(ValidatorChange {
            genesis: genesis.clone(),
            admin,
            validator,
            at: AtomicU64::new(0),
            entry: Mutex::new(None),
        })
    }

    /// Submits the change to the node at `addr`, for [`LEAD`] blocks past
    /// its height now.
    pub(super) fn submit(&self, addr: SocketAddr) -> Result<()> {
        let (height, _) = waybill_testnet::status(addr)
            .ok_or_else(|| anyhow!("{addr} does not answer /v1/status"))?;
        let at = height + LEAD;
        let e = Entry {
            version: ENTRY_VERSION,
            chain_id: self.genesis.chain_id(),
            author: crypto::public_key(&self.admin),
            nonce: 1,
            recorded_at_ms: now_ms(),
            body: Body::Governance(GovernanceEntry {
                effective_height: at,
                change: GovernanceChange::SetValidatorPower {
                    public_key: self.validator,
                    power: POWER,
                },
            }),
        }
        .sign(&self.admin);
        let body = serde_json::to_string(&e).context("encoding the governance entry")?;
        let (code, text) =
            waybill_testnet::http_post_json(addr, "/v1/entries", &body, Duration::from_secs(10))?;
        if code != 202 {
            bail!("{addr} refused the validator change ({code}): {text}");
        }
        *self.entry.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.id());
        self.at.store(at, Ordering::SeqCst);
        eprintln!(
            "network: the admin raises validator 1's power to {POWER} from height {at} (submitted at {height})"
        );
        Ok(())
    }

    /// The height the change holds from, if it was made.
    pub(super) fn height(&self) -> Option<u64> {
        Some(self.at.load(Ordering::SeqCst)).filter(|h| *h > 0)
    }

    /// Its entry, if it was accepted.
    pub(super) fn entry(&self) -> Option<EntryId> {
        *self.entry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The validator set of each height: the genesis set, and from one height
/// on another.
pub(crate) struct ValidatorSets {
    genesis: Vec<ValidatorSpec>,
    changed: Option<(u64, Vec<ValidatorSpec>)>,
}

impl ValidatorSets {
    /// The sets of a chain with `change` made (or none).
    pub(crate) fn new(genesis: &Genesis, change: Option<&ValidatorChange>) -> Self {
        let changed = change.and_then(|c| {
            let at = c.height()?;
            let mut set = genesis.validators.clone();
            for v in &mut set {
                if v.public_key == c.validator {
                    v.power = POWER;
                }
            }
            Some((at, set))
        });
        ValidatorSets {
            genesis: genesis.validators.clone(),
            changed,
        }
    }

    /// The set of `height`.
    pub(crate) fn at(&self, height: u64) -> &[ValidatorSpec] {
        match &self.changed {
            Some((from, set)) if height >= *from => set,
            _ => &self.genesis,
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
