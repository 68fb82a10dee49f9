//! `record member`: membership changes, co-signed by an admin quorum.

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use waybill_core::codes::Country;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, MembershipChange};
use waybill_core::genesis::{MemberSpec, Role};

use super::{finish, Common};

/// `record member`.
#[derive(Args, Debug)]
pub struct MemberArgs {
    #[command(subcommand)]
    change: MemberChange,
    #[command(flatten)]
    common: Common,
}

/// A membership change.
#[derive(Subcommand, Debug)]
pub enum MemberChange {
    /// Add a member.
    Add(NewMember),
    /// Remove a member: its key signs nothing after this block.
    Remove {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
    },
    /// Replace a member's key: the old key signs nothing after this block.
    RotateKey {
        /// The current key.
        #[arg(long)]
        old: PublicKey,
        /// The new key.
        #[arg(long)]
        new: PublicKey,
    },
    /// Change a member's roles.
    SetRoles {
        /// The member's key.
        #[arg(long)]
        public_key: PublicKey,
        /// The new roles, e.g. carrier+payer.
        #[arg(long)]
        roles: String,
    },
}

/// A new member's flags (`record member add`, `record govern
/// add-member`).
#[derive(Args, Debug)]
pub struct NewMember {
    /// Organisation name (unique among active members).
    #[arg(long)]
    name: String,
    /// Its public key (64 hex digits), never used before.
    #[arg(long)]
    public_key: PublicKey,
    /// Its roles, e.g. producer+payer.
    #[arg(long)]
    roles: String,
    /// ISO 3166-1 alpha-2 country.
    #[arg(long)]
    country: Option<Country>,
    /// GS1 company prefixes it owns (repeat); none may overlap another
    /// member's.
    #[arg(long = "prefix")]
    prefixes: Vec<waybill_core::gs1::CompanyPrefix>,
}

impl NewMember {
    /// The member's spec.
    pub fn spec(&self) -> Result<MemberSpec> {
        Ok(MemberSpec {
            name: self.name.clone(),
            public_key: self.public_key,
            roles: parse_roles(&self.roles)?,
            country: self.country,
            gs1_company_prefixes: self.prefixes.clone(),
        })
    }
}

/// Records a membership change.
pub fn member(a: &MemberArgs) -> Result<()> {
    finish(&a.common, |_| member_body(&a.change))?;
    Ok(())
}

/// Parses `a+b+c` roles.
pub fn parse_roles(s: &str) -> Result<Vec<Role>> {
    s.split('+')
        .map(|r| r.trim().parse::<Role>().map_err(|e| anyhow!("{e}")))
        .collect()
}

fn member_body(change: &MemberChange) -> Result<Body> {
    Ok(Body::Membership(match change {
        MemberChange::Add(m) => MembershipChange::Add(m.spec()?),
        MemberChange::Remove { public_key } => MembershipChange::Remove {
            public_key: *public_key,
        },
        MemberChange::RotateKey { old, new } => MembershipChange::RotateKey {
            old: *old,
            new: *new,
        },
        MemberChange::SetRoles { public_key, roles } => MembershipChange::SetRoles {
            public_key: *public_key,
            roles: parse_roles(roles)?,
        },
    }))
}
