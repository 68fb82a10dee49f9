//! Changing the member table: adding, removing, re-keying a member or
//! setting its roles, each signed by a quorum of admins.
//!
//! A membership entry changes the table at once (from the next entry
//! on); a governance entry schedules the same changes for a later height
//! (`governance`). Both make them through [`Members`], which says at
//! which height a key stops signing.

use std::collections::BTreeSet;

use super::ctx::Ctx;
use super::error::RuleError;
use super::governance::check_schedule_holds;
use crate::crypto::PublicKey;
use crate::entry::{MembershipChange, SignedEntry};
use crate::genesis::{MemberSpec, Role};
use crate::gs1::CompanyPrefix;
use crate::state::{Changes, MemberRecord, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a membership change: the admin quorum first, then the
    /// change itself, at once.
    pub(super) fn membership(
        &self,
        entry: &SignedEntry,
        m: &MembershipChange,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        self.check_admin_quorum(entry)?;
        let members = Members {
            view: self.view,
            height: self.height,
        };
        match m {
            MembershipChange::Add(spec) => members.add(spec, changes)?,
            MembershipChange::Remove { public_key } => members.remove(public_key, changes)?,
            MembershipChange::RotateKey { old, new } => members.rotate(old, new, changes)?,
            MembershipChange::SetRoles { public_key, roles } => {
                members.set_roles(public_key, roles, changes)?
            }
        }
        check_schedule_holds(self.view, changes).map_err(|e| RuleError::Membership(e.to_string()))
    }

    /// Refuses a co-signer that is not an active admin, and too few admin
    /// signatures (the author's included) for the chain's threshold, or a
    /// majority of active admins when it sets none.
    pub(super) fn check_admin_quorum(&self, entry: &SignedEntry) -> Result<(), RuleError> {
        let admins = self.view.active_admins();
        let mut signers = BTreeSet::from([*self.author]);
        for c in &entry.cosignatures {
            if !admins.contains(&c.signer) {
                return Err(RuleError::CosignerNotAdmin(c.signer));
            }
            signers.insert(c.signer);
        }
        let need = match self.view.council().admin_threshold {
            Some(t) => t as usize,
            None => admins.len() / 2 + 1,
        };
        if signers.len() < need {
            return Err(RuleError::AdminQuorum {
                need,
                have: signers.len(),
                admins: admins.len(),
            });
        }
        Ok(())
    }
}

/// Why `prefix` (with `whose`, e.g. `` of `Newco` ``) cannot be given:
/// `owner` owns a prefix that overlaps it.
pub(super) fn prefix_taken(prefix: &CompanyPrefix, whose: &str, owner: &MemberRecord) -> String {
    let theirs = owner
        .spec
        .gs1_company_prefixes
        .iter()
        .find(|p| p.overlaps(prefix))
        .map(|p| p.to_string())
        .unwrap_or_default();
    let former = if owner.active() {
        ""
    } else {
        " (a former member, whose prefixes stay its own)"
    };
    format!(
        "GS1 company prefix {prefix}{whose} overlaps prefix {theirs} of `{}`{former}; \
         a GS1 company prefix belongs to one member, and none may start another",
        owner.spec.name
    )
}

/// Changes to the member table that hold from `height` on (a key removed
/// or rotated out signs nothing from it), checked against `view`.
pub(super) struct Members<'v, V: View + ?Sized> {
    pub(super) view: &'v V,
    pub(super) height: u64,
}

impl<V: View + ?Sized> Members<'_, V> {
    /// Removes a member: its key signs nothing from the height on.
    pub(super) fn remove(&self, key: &PublicKey, changes: &mut Changes) -> Result<(), RuleError> {
        let mut rec = self.existing(key)?;
        if rec.spec.has(Role::Admin) {
            self.check_admins_left(&rec, "removing")?;
        }
        rec.removed_at = Some(self.height);
        changes.members.insert(*key, rec);
        Ok(())
    }

    /// Refuses to take admin `rec` away when the admins left could no
    /// longer sign a change (fewer than the threshold, or none).
    fn check_admins_left(&self, rec: &MemberRecord, doing: &str) -> Result<(), RuleError> {
        let left = self.view.active_admins().len().saturating_sub(1);
        let need = self
            .view
            .council()
            .admin_threshold
            .map_or(1, |t| t as usize);
        if left < need.max(1) {
            return Err(RuleError::Membership(format!(
                "{doing} `{}` would leave {left} active admins, fewer than the {} a change needs; \
                 add an admin or lower the admin threshold first",
                rec.spec.name,
                need.max(1)
            )));
        }
        Ok(())
    }

    /// Gives a member new roles.
    pub(super) fn set_roles(
        &self,
        key: &PublicKey,
        roles: &[Role],
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut rec = self.existing(key)?;
        if rec.spec.has(Role::Admin) && !roles.contains(&Role::Admin) {
            self.check_admins_left(&rec, "taking the admin role from")?;
        }
        rec.spec.roles = roles.to_vec();
        changes.members.insert(*key, rec);
        Ok(())
    }

    /// The record of an active member the change names.
    pub(super) fn existing(&self, key: &PublicKey) -> Result<MemberRecord, RuleError> {
        let m = self
            .view
            .member(key)
            .ok_or_else(|| RuleError::Membership(format!("{key} is not a member")))?;
        if !m.active() {
            return Err(RuleError::Membership(format!(
                "`{}` ({}) was already removed",
                m.spec.name,
                key.short()
            )));
        }
        Ok(m.clone())
    }

    /// Adds a member under a name no active member has, a key never
    /// used before, and GS1 company prefixes no other member (present or
    /// former) owns or overlaps.
    pub(super) fn add(&self, spec: &MemberSpec, changes: &mut Changes) -> Result<(), RuleError> {
        if let Some(k) = self.view.active_member_named(&spec.name) {
            return Err(RuleError::Membership(format!(
                "an active member is already named `{}` (key {}); names identify members to people and must be unique",
                spec.name,
                k.short()
            )));
        }
        if self.view.member(&spec.public_key).is_some() {
            return Err(RuleError::Membership(format!(
                "the key {} is already, or was once, a member's key; use a fresh key",
                spec.public_key.short()
            )));
        }
        self.check_not_node_key(&spec.public_key)?;
        for prefix in &spec.gs1_company_prefixes {
            if let Some(owner) = self.view.prefix_overlapping(prefix) {
                return Err(RuleError::Membership(prefix_taken(
                    prefix,
                    &format!(" of `{}`", spec.name),
                    owner,
                )));
            }
        }
        changes.members.insert(
            spec.public_key,
            MemberRecord {
                spec: spec.clone(),
                removed_at: None,
                rotated_to: None,
            },
        );
        Ok(())
    }

    /// Refuses a node key as a member's signing key: node keys sign no
    /// entry.
    fn check_not_node_key(&self, key: &PublicKey) -> Result<(), RuleError> {
        match self.view.council().node_keys.get(key) {
            Some(owner) => Err(RuleError::Membership(format!(
                "the key {} is the node key of `{}`; node keys sign no entry, so use a fresh key",
                key.short(),
                super::ctx::name_of(self.view, owner)
            ))),
            None => Ok(()),
        }
    }

    /// Moves a member from `old` to a fresh, valid key `new`: the old
    /// record is retired at [`Members::height`] and points at the new one.
    pub(super) fn rotate(
        &self,
        old: &PublicKey,
        new: &PublicKey,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        let mut rec = self.existing(old)?;
        if self.view.member(new).is_some() {
            return Err(RuleError::Membership(format!(
                "the new key {} is already, or was once, a member's key; use a fresh key",
                new.short()
            )));
        }
        self.check_not_node_key(new)?;
        if new.check_registrable().is_err() {
            return Err(RuleError::Membership(format!(
                "the new key {new} is not a valid ed25519 key (a canonical point not of small order)"
            )));
        }
        let mut spec = rec.spec.clone();
        spec.public_key = *new;
        rec.removed_at = Some(self.height);
        rec.rotated_to = Some(*new);
        changes.members.insert(*old, rec);
        changes.members.insert(
            *new,
            MemberRecord {
                spec,
                removed_at: None,
                rotated_to: None,
            },
        );
        Ok(())
    }
}
