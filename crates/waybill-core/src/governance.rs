//! Governance on the ledger: changes to the consortium that an admin
//! quorum signs and schedules for a stated future height.
//!
//! A [`GovernanceEntry`] names one [`GovernanceChange`] and the height
//! from which it holds (the next block's at the earliest). Until then it
//! waits in the [`Council`]'s schedule; the rules fold every change due
//! at a height into the state before that height's first entry
//! ([`crate::rules::activate`]), so a member added at height 120 signs
//! from block 120 on, and a key revoked at 120 signs nothing from it.
//!
//! The council is the part of the state that governance changes beyond
//! the member table: the admin quorum, the validator set and the
//! schedule. It is small (a few dozen validators and pending changes), so
//! a change replaces it whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::entry::EntryId;
use crate::genesis::{Genesis, MemberSpec, Role, ValidatorSpec};
use crate::gs1::CompanyPrefix;

/// How far ahead a change may be scheduled, in heights (about a month of
/// one-second blocks): far enough to plan, near enough that a typo in the
/// height is noticed.
pub const MAX_SCHEDULE_AHEAD: u64 = 3_000_000;

/// Most node keys bound to one member at once.
pub const MAX_NODE_KEYS_PER_MEMBER: usize = 8;

/// A governance entry's body: one change and the height it takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceEntry {
    /// The first height at which the change holds: after the block that
    /// commits the entry, and at most [`MAX_SCHEDULE_AHEAD`] after it.
    pub effective_height: u64,
    /// The change.
    pub change: GovernanceChange,
}

/// A change to the consortium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceChange {
    /// A new member (with its GS1 company prefixes, if any).
    AddMember(MemberSpec),
    /// A member leaves: its key signs nothing from the effective height.
    RemoveMember {
        /// The member's key.
        public_key: PublicKey,
    },
    /// A member's roles become `roles`.
    SetRoles {
        /// The member's key.
        public_key: PublicKey,
        /// The new roles.
        roles: Vec<Role>,
    },
    /// A member moves to a fresh key; custody and open shipments follow.
    RotateKey {
        /// The current key.
        old: PublicKey,
        /// The new key.
        new: PublicKey,
    },
    /// A key is revoked: it signs nothing from the effective height. If
    /// it was compromised, entries it signed since then stay on the
    /// ledger but every lookup that shows one flags it.
    RevokeKey {
        /// The revoked key.
        public_key: PublicKey,
        /// Since when the key is known or feared to be in other hands.
        compromised_since: Option<Compromise>,
        /// The member's new key, if it stays a member (custody and open
        /// shipments pass to it, as in a rotation).
        replacement: Option<PublicKey>,
    },
    /// The admin signatures a governance or membership entry needs
    /// (unset: more than half of the admins at the time).
    SetAdminThreshold {
        /// The new threshold.
        threshold: Option<u32>,
    },
    /// A GS1 company prefix no member owns is given to a member.
    AssignPrefix {
        /// The member's key.
        member: PublicKey,
        /// The prefix.
        prefix: CompanyPrefix,
    },
    /// A member's GS1 company prefix passes to another member.
    TransferPrefix {
        /// The prefix (owned by some member now).
        prefix: CompanyPrefix,
        /// The member that will own it.
        to: PublicKey,
    },
    /// A validator joins the set.
    AddValidator(ValidatorSpec),
    /// A validator leaves the set.
    RemoveValidator {
        /// Its consensus key.
        public_key: PublicKey,
    },
    /// A validator's voting power changes.
    SetValidatorPower {
        /// Its consensus key.
        public_key: PublicKey,
        /// The new power (> 0).
        power: u64,
    },
    /// A validator moves to a fresh consensus key (new hardware).
    RotateValidatorKey {
        /// The current key.
        old: PublicKey,
        /// The new key.
        new: PublicKey,
    },
    /// A member's node runs with a key of its own: the node key may
    /// connect to entry gossip and consensus while the member is active
    /// (it follows the member through key rotations), but signs no entry,
    /// so the member's signing key need not live on a server. A node key
    /// may also be, or later become, a validator's consensus key.
    BindNodeKey {
        /// The member's key.
        member: PublicKey,
        /// The node's key.
        node_key: PublicKey,
    },
    /// A node key is let go: its node is cut off from the networks.
    UnbindNodeKey {
        /// The node's key.
        node_key: PublicKey,
    },
}

impl GovernanceChange {
    /// A short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            GovernanceChange::AddMember(_) => "add member",
            GovernanceChange::RemoveMember { .. } => "remove member",
            GovernanceChange::SetRoles { .. } => "set roles",
            GovernanceChange::RotateKey { .. } => "rotate key",
            GovernanceChange::RevokeKey { .. } => "revoke key",
            GovernanceChange::SetAdminThreshold { .. } => "set admin threshold",
            GovernanceChange::AssignPrefix { .. } => "assign prefix",
            GovernanceChange::TransferPrefix { .. } => "transfer prefix",
            GovernanceChange::AddValidator(_) => "add validator",
            GovernanceChange::RemoveValidator { .. } => "remove validator",
            GovernanceChange::SetValidatorPower { .. } => "set validator power",
            GovernanceChange::RotateValidatorKey { .. } => "rotate validator key",
            GovernanceChange::BindNodeKey { .. } => "bind node key",
            GovernanceChange::UnbindNodeKey { .. } => "unbind node key",
        }
    }

    /// Whether it changes the validator set.
    pub fn touches_validators(&self) -> bool {
        matches!(
            self,
            GovernanceChange::AddValidator(_)
                | GovernanceChange::RemoveValidator { .. }
                | GovernanceChange::SetValidatorPower { .. }
                | GovernanceChange::RotateValidatorKey { .. }
        )
    }
}

/// Since when a revoked key is feared compromised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compromise {
    /// Entries recorded at or after this time (ms since the Unix epoch,
    /// the entry's own `recorded_at`) are flagged.
    Time(i64),
    /// Entries in blocks at or after this height are flagged.
    Height(u64),
}

impl Compromise {
    /// Whether an entry recorded at `recorded_at_ms` in the block at
    /// `height` falls under it.
    pub fn covers(&self, height: u64, recorded_at_ms: i64) -> bool {
        match *self {
            Compromise::Time(t) => recorded_at_ms >= t,
            Compromise::Height(h) => height >= h,
        }
    }
}

/// A revoked key, as the council remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The height from which the key signs nothing.
    pub effective_height: u64,
    /// Since when it is feared compromised, if it is.
    pub compromised_since: Option<Compromise>,
    /// The governance entry that revoked it.
    pub entry: EntryId,
}

/// A change waiting for its height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    /// The governance entry that scheduled it.
    pub entry: EntryId,
    /// The change.
    pub change: GovernanceChange,
}

/// A scheduled change that could no longer be made when its height came
/// (an earlier change made it moot, e.g. its member was removed first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lapsed {
    /// The governance entry.
    pub entry: EntryId,
    /// The height it was due.
    pub height: u64,
    /// Why it could not be made.
    pub reason: String,
}

/// The governed settings beyond the member table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Council {
    /// Admin signatures a governance or membership entry needs (unset:
    /// more than half of the active admins).
    pub admin_threshold: Option<u32>,
    /// The validator set now, in the order validators joined.
    pub validators: Vec<ValidatorSpec>,
    /// Changes waiting for their height, in the order they were
    /// committed.
    pub scheduled: BTreeMap<u64, Vec<Scheduled>>,
    /// Revoked keys.
    pub revocations: BTreeMap<PublicKey, Revocation>,
    /// Changes that lapsed.
    pub lapsed: Vec<Lapsed>,
    /// Node keys, each with the key of the member it was bound to (which
    /// may since have been rotated: follow `MemberRecord::rotated_to`).
    pub node_keys: BTreeMap<PublicKey, PublicKey>,
}

impl Council {
    /// The council at genesis: its threshold and validators, nothing
    /// scheduled.
    pub fn genesis(genesis: &Genesis) -> Self {
        Council {
            admin_threshold: genesis.governance.admin_threshold,
            validators: genesis.validators.clone(),
            scheduled: BTreeMap::new(),
            revocations: BTreeMap::new(),
            lapsed: Vec::new(),
            node_keys: BTreeMap::new(),
        }
    }

    /// Whether a scheduled change falls due at or before `height`.
    pub fn due(&self, height: u64) -> bool {
        self.scheduled
            .first_key_value()
            .is_some_and(|(h, _)| *h <= height)
    }

    /// Total voting power of the current set.
    pub fn total_power(&self) -> u64 {
        self.validators
            .iter()
            .map(|v| v.power)
            .fold(0u64, u64::saturating_add)
    }

    /// The validator with this key in the current set.
    pub fn validator(&self, key: &PublicKey) -> Option<&ValidatorSpec> {
        self.validators.iter().find(|v| &v.public_key == key)
    }
}
