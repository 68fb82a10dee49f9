//! Governance entries: an admin quorum schedules a change to the
//! consortium for a stated later height, and the change is made when
//! that height comes ([`activate`]).
//!
//! A change is judged twice. When its entry is recorded, against the
//! consortium as it will be at the effective height (the state with
//! every change scheduled up to then made, [`projected`]), so a change
//! that cannot be made is refused with its reason while its authors are
//! there to read it. When its height comes, it is made against the state
//! of that moment; if an earlier change has made it moot since (its
//! member was removed first, say), it lapses, and the council keeps the
//! lapse and why.

use super::ctx::Ctx;
use super::error::RuleError;
use super::membership::{prefix_taken, Members};
use crate::crypto::PublicKey;
use crate::entry::{EntryId, SignedEntry};
use crate::genesis::{prefix_conflict, ValidatorSpec};
use crate::governance::{
    GovernanceChange, GovernanceEntry, Lapsed, Revocation, Scheduled, MAX_NODE_KEYS_PER_MEMBER,
    MAX_SCHEDULE_AHEAD,
};
use crate::gs1::CompanyPrefix;
use crate::state::{Changes, MemberRecord, Overlay, View};

/// Most validators a set may hold.
pub const MAX_VALIDATORS: usize = 100;

impl<V: View> Ctx<'_, V> {
    /// Applies a governance entry: the admin quorum, the effective
    /// height, the change judged as of that height; then schedules it.
    pub(super) fn governance(
        &self,
        entry: &SignedEntry,
        g: &GovernanceEntry,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        self.check_admin_quorum(entry)?;
        let h = g.effective_height;
        let latest = self.height.saturating_add(MAX_SCHEDULE_AHEAD);
        if h <= self.height || h > latest {
            return Err(RuleError::Governance(format!(
                "a {} scheduled for height {h} cannot be committed at height {}: \
                 it must take effect after the block that commits it, \
                 at heights {} to {latest}",
                g.change.kind(),
                self.height,
                self.height.saturating_add(1),
            )));
        }
        let view = Overlay::owning(self.view, projected(self.view, h));
        make(&view, &g.change, h, self.id).map_err(|e| match e {
            RuleError::Governance(why) | RuleError::Membership(why) => {
                RuleError::Governance(format!("{} at height {h}: {why}", g.change.kind()))
            }
            other => other,
        })?;
        let mut council = self.view.council().clone();
        council.scheduled.entry(h).or_default().push(Scheduled {
            entry: self.id,
            change: g.change.clone(),
        });
        changes.council = Some(council);
        check_schedule_holds(self.view, changes)
    }
}

/// Refuses `changes` (an entry's writes on `view`) if they would leave a
/// change scheduled before them unable to be made when its height comes
/// (a membership entry removing the member a later change gives roles
/// to, or a governance entry taking a name a later one adds): the
/// schedule is played out to its end with them and without them, and
/// any change that lapses only with them is named.
pub(super) fn check_schedule_holds<V: View + ?Sized>(
    view: &V,
    changes: &Changes,
) -> Result<(), RuleError> {
    if view.council().scheduled.is_empty() {
        return Ok(());
    }
    let known = view.council().lapsed.len();
    let lapses = |v: &dyn View| -> Vec<Lapsed> {
        fold_due(v, u64::MAX, true)
            .council
            .map(|c| c.lapsed.into_iter().skip(known).collect())
            .unwrap_or_default()
    };
    let without = lapses(&Overlay::new(view));
    let with = lapses(&Overlay::over(view, changes));
    match with
        .into_iter()
        .find(|l| !without.iter().any(|w| w.entry == l.entry))
    {
        None => Ok(()),
        // A lapse's reason starts with the change's kind.
        Some(l) => Err(RuleError::Governance(format!(
            "it would make the change scheduled for height {} by entry {} impossible: {}",
            l.height,
            l.entry.short(),
            l.reason
        ))),
    }
}

/// The changes that make every governance change due at or before
/// `height` (none if none is due): the scheduled ones leave the schedule,
/// and each is made in turn, or lapses. Before a block's first entry, the
/// rules fold these into the state; the result is the same whether a
/// change is made at its height or at a later one (nothing in it reads
/// the height it is made at).
pub fn activate<V: View + ?Sized>(view: &V, height: u64) -> Option<Changes> {
    if !view.council().due(height) {
        return None;
    }
    Some(fold_due(view, height, true))
}

/// The validator set of `height`, on `view` (the state after the block
/// before it): the council's, with the changes due by then made.
pub fn validators_at<V: View + ?Sized>(view: &V, height: u64) -> Vec<ValidatorSpec> {
    match activate(view, height).and_then(|c| c.council) {
        Some(c) => c.validators,
        None => view.council().validators.clone(),
    }
}

/// The state's changes up to `height` as [`activate`] makes them, for
/// judging a change scheduled then (lapses are not kept).
fn projected<V: View + ?Sized>(view: &V, height: u64) -> Changes {
    if !view.council().due(height) {
        return Changes::default();
    }
    fold_due(view, height, false)
}

fn fold_due<V: View + ?Sized>(view: &V, height: u64, keep_lapses: bool) -> Changes {
    let mut council = view.council().clone();
    let later = council.scheduled.split_off(&height.saturating_add(1));
    let due = std::mem::replace(&mut council.scheduled, later);
    let mut overlay = Overlay::new(view);
    overlay.push(Changes {
        council: Some(council),
        ..Changes::default()
    });
    for (at, items) in due {
        for s in items {
            match make(&overlay, &s.change, at, s.entry) {
                Ok(c) => overlay.push(c),
                Err(e) if keep_lapses => {
                    let mut council = overlay.council().clone();
                    council.lapsed.push(Lapsed {
                        entry: s.entry,
                        height: at,
                        reason: format!("{}: {e}", s.change.kind()),
                    });
                    overlay.push(Changes {
                        council: Some(council),
                        ..Changes::default()
                    });
                }
                Err(_) => {}
            }
        }
    }
    overlay.into_changes()
}

/// Makes `change`, holding from `height`, on `view`: the state's writes,
/// or why it cannot be made.
fn make<V: View + ?Sized>(
    view: &V,
    change: &GovernanceChange,
    height: u64,
    entry: EntryId,
) -> Result<Changes, RuleError> {
    let members = Members { view, height };
    let mut changes = Changes::default();
    match change {
        GovernanceChange::AddMember(spec) => members.add(spec, &mut changes)?,
        GovernanceChange::RemoveMember { public_key } => {
            members.remove(public_key, &mut changes)?
        }
        GovernanceChange::SetRoles { public_key, roles } => {
            members.set_roles(public_key, roles, &mut changes)?
        }
        GovernanceChange::RotateKey { old, new } => members.rotate(old, new, &mut changes)?,
        GovernanceChange::RevokeKey {
            public_key,
            compromised_since,
            replacement,
        } => {
            if view.council().revocations.contains_key(public_key) {
                return Err(RuleError::Governance(format!(
                    "key {} is already revoked",
                    public_key.short()
                )));
            }
            let rec = view.member(public_key).ok_or_else(|| {
                RuleError::Governance(format!("{} is not a member's key", public_key.short()))
            })?;
            match (rec.active(), replacement) {
                (true, Some(new)) => members.rotate(public_key, new, &mut changes)?,
                (true, None) => members.remove(public_key, &mut changes)?,
                (false, Some(_)) => {
                    return Err(RuleError::Governance(format!(
                        "key {} of `{}` no longer signs (it was removed or rotated out), \
                         so it has no custody to pass to a replacement; add the member's new key instead",
                        public_key.short(),
                        rec.spec.name
                    )))
                }
                // A key already retired may still be declared compromised,
                // to flag what it signed before it was retired.
                (false, None) if compromised_since.is_some() => {}
                (false, None) => {
                    return Err(RuleError::Governance(format!(
                        "key {} of `{}` no longer signs already; revoking it changes nothing \
                         unless it declares since when it was compromised",
                        public_key.short(),
                        rec.spec.name
                    )))
                }
            }
            let mut council = view.council().clone();
            council.revocations.insert(
                *public_key,
                Revocation {
                    effective_height: height,
                    compromised_since: *compromised_since,
                    entry,
                },
            );
            changes.council = Some(council);
        }
        GovernanceChange::SetAdminThreshold { threshold } => {
            let admins = view.active_admins().len();
            if let Some(t) = threshold {
                if *t == 0 || *t as usize > admins {
                    return Err(RuleError::Governance(format!(
                        "an admin threshold of {t} cannot be met: it must be between 1 and the {admins} active admins"
                    )));
                }
            }
            let mut council = view.council().clone();
            council.admin_threshold = *threshold;
            changes.council = Some(council);
        }
        GovernanceChange::AssignPrefix { member, prefix } => {
            let mut rec = members.existing(member)?;
            check_prefix_free(view, prefix, None, &rec)?;
            rec.spec.gs1_company_prefixes.push(prefix.clone());
            changes.members.insert(*member, rec);
        }
        GovernanceChange::TransferPrefix { prefix, to } => {
            let owner = view
                .prefix_overlapping(prefix)
                .filter(|m| m.spec.gs1_company_prefixes.contains(prefix))
                .ok_or_else(|| {
                    RuleError::Governance(format!(
                        "no member owns GS1 company prefix {prefix}; assign it instead"
                    ))
                })?
                .clone();
            let owner_key = owner.spec.public_key;
            if &owner_key == to {
                return Err(RuleError::Governance(format!(
                    "`{}` owns GS1 company prefix {prefix} already",
                    owner.spec.name
                )));
            }
            let mut rec = members.existing(to)?;
            check_prefix_free(view, prefix, Some(&owner_key), &rec)?;
            let mut from = owner;
            from.spec.gs1_company_prefixes.retain(|p| p != prefix);
            rec.spec.gs1_company_prefixes.push(prefix.clone());
            changes.members.insert(owner_key, from);
            changes.members.insert(*to, rec);
        }
        GovernanceChange::AddValidator(spec) => {
            let mut council = view.council().clone();
            check_new_validator_key(&council.validators, &spec.public_key)?;
            check_power(&spec.name, spec.power)?;
            if spec.name.trim().is_empty() {
                return Err(RuleError::Governance("a new validator needs a name".into()));
            }
            if council.validators.len() >= MAX_VALIDATORS {
                return Err(RuleError::Governance(format!(
                    "the validator set holds {MAX_VALIDATORS} validators, the most it may"
                )));
            }
            council.validators.push(spec.clone());
            check_total_power(&council.validators)?;
            changes.council = Some(council);
        }
        GovernanceChange::RemoveValidator { public_key } => {
            let mut council = view.council().clone();
            let i = validator_index(&council.validators, public_key)?;
            if council.validators.len() == 1 {
                return Err(RuleError::Governance(format!(
                    "`{}` is the last validator; add its successor first",
                    council.validators[i].name
                )));
            }
            council.validators.remove(i);
            changes.council = Some(council);
        }
        GovernanceChange::SetValidatorPower { public_key, power } => {
            let mut council = view.council().clone();
            let i = validator_index(&council.validators, public_key)?;
            check_power(&council.validators[i].name, *power)?;
            council.validators[i].power = *power;
            check_total_power(&council.validators)?;
            changes.council = Some(council);
        }
        GovernanceChange::RotateValidatorKey { old, new } => {
            let mut council = view.council().clone();
            let i = validator_index(&council.validators, old)?;
            check_new_validator_key(&council.validators, new)?;
            council.validators[i].public_key = *new;
            changes.council = Some(council);
        }
        GovernanceChange::BindNodeKey { member, node_key } => {
            let rec = members.existing(member)?;
            let mut council = view.council().clone();
            if let Some(m) = view.member(node_key) {
                return Err(RuleError::Governance(format!(
                    "{} is, or was once, the key of member `{}`; a node key must be one no member signs with",
                    node_key.short(),
                    m.spec.name
                )));
            }
            if let Some(owner) = council.node_keys.get(node_key) {
                return Err(RuleError::Governance(format!(
                    "{} is already the node key of `{}`",
                    node_key.short(),
                    super::ctx::name_of(view, owner)
                )));
            }
            if node_key.check_registrable().is_err() {
                return Err(RuleError::Governance(format!(
                    "the node key {node_key} is not a valid ed25519 key (a canonical point not of small order)"
                )));
            }
            let bound = council
                .node_keys
                .values()
                .filter(|m| current_key(view, m) == Some(*member))
                .count();
            if bound >= MAX_NODE_KEYS_PER_MEMBER {
                return Err(RuleError::Governance(format!(
                    "`{}` has {bound} node keys, the most a member may; unbind one first",
                    rec.spec.name
                )));
            }
            council.node_keys.insert(*node_key, *member);
            changes.council = Some(council);
        }
        GovernanceChange::UnbindNodeKey { node_key } => {
            let mut council = view.council().clone();
            if council.node_keys.remove(node_key).is_none() {
                return Err(RuleError::Governance(format!(
                    "{} is no member's node key",
                    node_key.short()
                )));
            }
            changes.council = Some(council);
        }
    }
    Ok(changes)
}

/// The key `member` signs with now: itself, or the key it was rotated
/// to (and so on); none if the member was removed.
pub fn current_key<V: View + ?Sized>(view: &V, member: &PublicKey) -> Option<PublicKey> {
    let mut key = *member;
    // Each rotation moves to a key never used before, so the chain of
    // rotations ends; the bound only guards against a corrupt state.
    for _ in 0..1024 {
        let rec = view.member(&key)?;
        match rec.rotated_to {
            Some(next) => key = next,
            None => return rec.active().then_some(key),
        }
    }
    None
}

/// The node keys that may connect at `height`, on `view` (the state
/// after the block before it): those bound to a member active then.
pub fn node_keys_at<V: View + ?Sized>(view: &V, height: u64) -> Vec<PublicKey> {
    let due = activate(view, height);
    let mut overlay = Overlay::new(view);
    if let Some(c) = due {
        overlay.push(c);
    }
    overlay
        .council()
        .node_keys
        .iter()
        .filter(|(_, member)| current_key(&overlay, member).is_some())
        .map(|(k, _)| *k)
        .collect()
}

/// Refuses `prefix` for `to` when a member other than `except` owns an
/// overlapping prefix, or `to` does itself.
fn check_prefix_free<V: View + ?Sized>(
    view: &V,
    prefix: &CompanyPrefix,
    except: Option<&PublicKey>,
    to: &MemberRecord,
) -> Result<(), RuleError> {
    if let Some((_, own)) = prefix_conflict([&to.spec], prefix) {
        return Err(RuleError::Governance(format!(
            "`{}` owns GS1 company prefix {own}, which overlaps {prefix} (the same, or one starts the other)",
            to.spec.name
        )));
    }
    if let Some(m) = view.prefix_overlapping(prefix) {
        if Some(&m.spec.public_key) != except {
            return Err(RuleError::Governance(prefix_taken(prefix, "", m)));
        }
    }
    Ok(())
}

fn validator_index(set: &[ValidatorSpec], key: &PublicKey) -> Result<usize, RuleError> {
    set.iter()
        .position(|v| &v.public_key == key)
        .ok_or_else(|| RuleError::Governance(format!("{} is not a validator", key.short())))
}

fn check_new_validator_key(set: &[ValidatorSpec], key: &PublicKey) -> Result<(), RuleError> {
    if let Some(v) = set.iter().find(|v| &v.public_key == key) {
        return Err(RuleError::Governance(format!(
            "key {} is validator `{}`'s already; a validator key is used once",
            key.short(),
            v.name
        )));
    }
    if key.check_registrable().is_err() {
        return Err(RuleError::Governance(format!(
            "the validator key {key} is not a valid ed25519 key (a canonical point not of small order)"
        )));
    }
    Ok(())
}

fn check_power(name: &str, power: u64) -> Result<(), RuleError> {
    if power == 0 {
        return Err(RuleError::Governance(format!(
            "validator `{name}` needs a voting power above 0 (remove it instead)"
        )));
    }
    Ok(())
}

/// Refuses a set whose total power does not fit comfortably in a u64
/// (quorum arithmetic multiplies it by 2 and 3).
fn check_total_power(set: &[ValidatorSpec]) -> Result<(), RuleError> {
    let total = set.iter().try_fold(0u64, |acc, v| acc.checked_add(v.power));
    match total {
        Some(t) if t <= u64::MAX / 4 => Ok(()),
        _ => Err(RuleError::Governance(
            "the validator set's total voting power would be too large".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Hash32;
    use crate::genesis::{Genesis, Role};
    use crate::state::State;

    /// The rules never let a change be scheduled that will lapse; should
    /// one be due that cannot be made (a state from elsewhere), it
    /// lapses with its reason kept, and the changes after it are made.
    #[test]
    fn a_due_change_that_cannot_be_made_lapses_and_the_rest_are_made() {
        let genesis = Genesis {
            chain_name: "lapse".into(),
            members: Vec::new(),
            validators: Vec::new(),
            consensus: Default::default(),
            governance: Default::default(),
            yields: Vec::new(),
        };
        let mut state = State::genesis(&genesis);
        let nobody = PublicKey([7; 32]);
        let bad: EntryId = Hash32([1; 32]);
        let good: EntryId = Hash32([2; 32]);
        state.council.scheduled.insert(
            5,
            vec![
                Scheduled {
                    entry: bad,
                    change: GovernanceChange::SetRoles {
                        public_key: nobody,
                        roles: vec![Role::Carrier],
                    },
                },
                Scheduled {
                    entry: good,
                    change: GovernanceChange::SetAdminThreshold { threshold: None },
                },
            ],
        );
        state.council.admin_threshold = Some(1);
        assert!(activate(&state, 4).is_none(), "nothing is due before 5");
        let due = activate(&state, 7).expect("due at 5");
        state.commit(due);
        let c = &state.council;
        assert!(c.scheduled.is_empty());
        assert_eq!(
            c.admin_threshold, None,
            "the change after the lapse is made"
        );
        assert_eq!(c.lapsed.len(), 1);
        assert_eq!((c.lapsed[0].entry, c.lapsed[0].height), (bad, 5));
        assert!(
            c.lapsed[0].reason.starts_with("set roles: "),
            "{:?}",
            c.lapsed
        );
        assert!(
            c.lapsed[0].reason.contains("is not a member"),
            "{:?}",
            c.lapsed
        );
    }
}
