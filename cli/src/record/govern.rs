//! `record govern`: a change to the consortium, scheduled for a later
//! height and co-signed by an admin quorum.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::Body;
use waybill_core::genesis::ValidatorSpec;
use waybill_core::governance::{Compromise, GovernanceChange, GovernanceEntry};
use waybill_core::gs1::CompanyPrefix;

use super::member::{parse_roles, NewMember};
use super::{finish, Common};
use crate::util;

const GOVERN_EXAMPLE: &str = "\
Example (the chain is at height 1200; a new exporter joins at 1210):
  waybill record govern -g genesis.toml -k admin1.pem --data-dir ledger -o join.json \\
      --at 1210 add-member --name 'Exportadora del Sur' \\
      --public-key 5f3c… --roles producer+payer --country CO --prefix 7709876
  waybill cosign join.json -k admin2.pem -g genesis.toml
Its node runs with a key of its own, so its signing key stays off the server:
  waybill record govern … --at 1210 bind-node-key --member 5f3c… --node-key 0b7d…
A stolen carrier key, cut off at 1205 and flagged since last night:
  waybill record govern -g genesis.toml -k admin1.pem --data-dir ledger -o revoke.json \\
      --at 1205 revoke-key --public-key 9a1b… \\
      --compromised-since 2026-12-05T22:00:00Z --replacement 44e0…
The signing options and --at come before the change's name. The change is
judged when the entry is appended, against the consortium as it will be at
--at, and made before the first entry of that height.";

/// `record govern`.
#[derive(Args, Debug)]
#[command(after_help = GOVERN_EXAMPLE)]
pub struct GovernArgs {
    /// The first height at which the change holds: after the block that
    /// will commit this entry (pick one a few blocks past the chain's
    /// height now, leaving time to collect co-signatures), at most
    /// 3,000,000 heights ahead.
    #[arg(long, value_name = "HEIGHT")]
    at: u64,
    #[command(subcommand)]
    change: Change,
    #[command(flatten)]
    common: Common,
}

/// A governance change.
#[derive(Subcommand, Debug)]
pub enum Change {
    /// A new member joins.
    AddMember(NewMember),
    /// A member leaves: its key signs nothing from the height on.
    RemoveMember {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
    },
    /// A member's roles change.
    SetRoles {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
        /// The new roles, e.g. carrier+payer.
        #[arg(long)]
        roles: String,
    },
    /// A member moves to a fresh key; custody and open shipments follow.
    RotateKey {
        /// The current key.
        #[arg(long)]
        old: PublicKey,
        /// The new key.
        #[arg(long)]
        new: PublicKey,
    },
    /// A key is revoked (lost or stolen): it signs nothing from the
    /// height on, and with --compromised-since every lookup flags the
    /// entries it signed since then.
    RevokeKey {
        /// The revoked key.
        #[arg(long)]
        public_key: PublicKey,
        /// Since when the key is feared in other hands (RFC 3339 or ms
        /// since 1970): entries recorded since are flagged.
        #[arg(long, value_parser = util::parse_time, value_name = "TIME",
              conflicts_with = "compromised_since_height")]
        compromised_since: Option<i64>,
        /// Or since which block height.
        #[arg(long, value_name = "HEIGHT")]
        compromised_since_height: Option<u64>,
        /// The member's new key, if it stays a member (custody passes to
        /// it).
        #[arg(long)]
        replacement: Option<PublicKey>,
    },
    /// The admin signatures a governance or membership entry needs.
    SetAdminThreshold {
        /// The number of admin signatures (1 to the number of admins).
        #[arg(
            long,
            conflicts_with = "majority",
            required_unless_present = "majority"
        )]
        threshold: Option<u32>,
        /// Or: more than half of the admins at the time.
        #[arg(long)]
        majority: bool,
    },
    /// A GS1 company prefix no member owns is given to a member.
    AssignPrefix {
        /// The member's key.
        #[arg(long)]
        member: PublicKey,
        /// The prefix (4 to 12 digits).
        #[arg(long)]
        prefix: CompanyPrefix,
    },
    /// A member's GS1 company prefix passes to another member.
    TransferPrefix {
        /// The prefix.
        #[arg(long)]
        prefix: CompanyPrefix,
        /// The key of the member that will own it.
        #[arg(long)]
        to: PublicKey,
    },
    /// A validator joins the set.
    AddValidator {
        /// Who runs it, for people.
        #[arg(long)]
        name: String,
        /// Its consensus key (64 hex digits).
        #[arg(long)]
        public_key: PublicKey,
        /// Its voting power (> 0).
        #[arg(long)]
        power: u64,
        /// libp2p addresses where it listens (repeat), hints for peers.
        #[arg(long)]
        p2p: Vec<String>,
    },
    /// A validator leaves the set.
    RemoveValidator {
        /// Its consensus key.
        #[arg(long)]
        public_key: PublicKey,
    },
    /// A validator's voting power changes.
    SetValidatorPower {
        /// Its consensus key.
        #[arg(long)]
        public_key: PublicKey,
        /// The new power (> 0).
        #[arg(long)]
        power: u64,
    },
    /// A validator moves to a fresh consensus key (new hardware).
    RotateValidatorKey {
        /// The current key.
        #[arg(long)]
        old: PublicKey,
        /// The new key.
        #[arg(long)]
        new: PublicKey,
    },
    /// A member's node runs with a key of its own (make it with `waybill
    /// key new`): the node connects to gossip and consensus while the
    /// member is active, but its key signs no entry, so the member's
    /// signing key stays off the server. It may also be made a validator
    /// key.
    BindNodeKey {
        /// The member's key.
        #[arg(long)]
        member: PublicKey,
        /// The node's key (its public key, hex).
        #[arg(long)]
        node_key: PublicKey,
    },
    /// A node key is let go: its node is cut off from the networks.
    UnbindNodeKey {
        /// The node's key.
        #[arg(long)]
        node_key: PublicKey,
    },
}

/// Records a governance change.
pub fn govern(a: &GovernArgs) -> Result<()> {
    finish(&a.common, |_| {
        Ok(Body::Governance(GovernanceEntry {
            effective_height: a.at,
            change: change(&a.change)?,
        }))
    })?;
    Ok(())
}

fn change(c: &Change) -> Result<GovernanceChange> {
    Ok(match c {
        Change::AddMember(m) => GovernanceChange::AddMember(m.spec()?),
        Change::RemoveMember { public_key } => GovernanceChange::RemoveMember {
            public_key: *public_key,
        },
        Change::SetRoles { public_key, roles } => GovernanceChange::SetRoles {
            public_key: *public_key,
            roles: parse_roles(roles)?,
        },
        Change::RotateKey { old, new } => GovernanceChange::RotateKey {
            old: *old,
            new: *new,
        },
        Change::RevokeKey {
            public_key,
            compromised_since,
            compromised_since_height,
            replacement,
        } => GovernanceChange::RevokeKey {
            public_key: *public_key,
            compromised_since: match (compromised_since, compromised_since_height) {
                (Some(t), _) => Some(Compromise::Time(*t)),
                (None, Some(h)) => Some(Compromise::Height(*h)),
                (None, None) => None,
            },
            replacement: *replacement,
        },
        Change::SetAdminThreshold {
            threshold,
            majority,
        } => {
            if threshold.is_none() && !majority {
                bail!("give --threshold N or --majority");
            }
            GovernanceChange::SetAdminThreshold {
                threshold: *threshold,
            }
        }
        Change::AssignPrefix { member, prefix } => GovernanceChange::AssignPrefix {
            member: *member,
            prefix: prefix.clone(),
        },
        Change::TransferPrefix { prefix, to } => GovernanceChange::TransferPrefix {
            prefix: prefix.clone(),
            to: *to,
        },
        Change::AddValidator {
            name,
            public_key,
            power,
            p2p,
        } => GovernanceChange::AddValidator(ValidatorSpec {
            name: name.clone(),
            public_key: *public_key,
            power: *power,
            p2p: p2p.clone(),
        }),
        Change::RemoveValidator { public_key } => GovernanceChange::RemoveValidator {
            public_key: *public_key,
        },
        Change::SetValidatorPower { public_key, power } => GovernanceChange::SetValidatorPower {
            public_key: *public_key,
            power: *power,
        },
        Change::RotateValidatorKey { old, new } => GovernanceChange::RotateValidatorKey {
            old: *old,
            new: *new,
        },
        Change::BindNodeKey { member, node_key } => GovernanceChange::BindNodeKey {
            member: *member,
            node_key: *node_key,
        },
        Change::UnbindNodeKey { node_key } => GovernanceChange::UnbindNodeKey {
            node_key: *node_key,
        },
    })
}
