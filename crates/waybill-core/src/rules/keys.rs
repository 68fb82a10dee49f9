//! GS1 keys belong to the owners of their company prefixes: who may name
//! which GTIN, SSCC and GLN in an entry.
//!
//! Genesis gives each GS1 company prefix to one member at most
//! ([`crate::genesis::prefix_conflict`]). The rules hold every key an
//! entry brings in to it:
//!
//! - **GTIN** (a produced lot's, or its product's): under the author's
//!   prefixes. A member without a prefix records free lot ids and no
//!   GTIN.
//! - **SSCC as a produced lot's id**: under the author's prefixes.
//! - **SSCC as a shipment id** on a dispatch: under the prefixes of the
//!   sender, or of the producer of one of the shipped lots (a trader or
//!   carrier ships the producer's goods on the producer's labelled
//!   pallets). Otherwise a free shipment id.
//! - **GLN of a place** (a production's origin, a dispatch's `from` and
//!   `to`, a receipt's or handover's `at`, a traceability lot code
//!   source): under the prefixes of a party to the step (for a
//!   production its author; for a shipment its sender, its consignee,
//!   the carrier that has it or takes it, and the producers of its
//!   lots), or under no member's prefix at all: a place outside the
//!   consortium (a public port, a farm that is no member) may be named
//!   by its GLN. Only a GLN under a stranger's prefix, another member's
//!   own place, is refused.
//!
//! Keys named again later (a lot dispatched, received, recalled or
//! corrected, a shipment received or paid for) were judged when they
//! were made. In a trail, a shipment's lots outside the trail's scope
//! are not there: when a key would be allowed only through a producer the
//! trail does not show, it is not judged (as custody is not).

use std::collections::BTreeSet;

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use crate::crypto::PublicKey;
use crate::entry::{Location, Produce};
use crate::genesis::MemberSpec;
use crate::gs1::{CompanyPrefix, Gs1Key, Gtin, LotId, ShipmentId};
use crate::state::{Changes, View};

/// Whose places a production may name.
pub(super) const PRODUCTION_PARTIES: &str = "the member recording the production";
/// Whose places a shipment's steps may name.
pub(super) const SHIPMENT_PARTIES: &str =
    "a party to the shipment (its sender, consignee or carriers, or a producer of its lots)";

/// The members whose prefixes an entry's keys may lie under, beyond its
/// author.
#[derive(Debug, Default)]
pub(super) struct Parties {
    /// Other members taking part (consignee, carriers, sender).
    pub(super) members: Vec<PublicKey>,
    /// The producers of the lots the entry moves.
    pub(super) producers: BTreeSet<PublicKey>,
    /// Whether a trail left out some of those lots (their producers
    /// are unknown).
    pub(super) unjudged: bool,
}

impl<V: View> Ctx<'_, V> {
    /// Refuses a produced lot's GTIN or SSCC, or its product's GTIN,
    /// outside the author's prefixes.
    pub(super) fn check_produced_keys(&self, p: &Produce) -> Result<(), RuleError> {
        if let Some(g) = p.lot.gtin() {
            self.check_own_gtin(&g)?;
        }
        if let Some(sscc) = p.lot.sscc() {
            if !self.author_owns(&Gs1Key::Sscc(sscc)) {
                return Err(RuleError::ForeignSscc {
                    sscc,
                    usage: "lot id",
                    allowed: format!(
                        "`{}` ({})",
                        self.author_spec.name,
                        prefixes_text(self.author_spec)
                    ),
                    owner: self.owner_text(&Gs1Key::Sscc(sscc)),
                    hint: "a member records logistic units only under its own prefixes; use a free lot id",
                });
            }
        }
        if let Some(g) = &p.product.gtin {
            self.check_own_gtin(g)?;
        }
        Ok(())
    }

    /// Refuses a GTIN outside the author's prefixes (all of them when it
    /// has none).
    fn check_own_gtin(&self, gtin: &Gtin) -> Result<(), RuleError> {
        let key = Gs1Key::Gtin(*gtin);
        if self.author_owns(&key) {
            return Ok(());
        }
        Err(RuleError::ForeignGtin {
            gtin: *gtin,
            member: self.author_spec.name.clone(),
            prefixes: prefixes_text(self.author_spec),
            owner: self.owner_text(&key),
        })
    }

    /// Refuses an SSCC shipment id that lies under neither the sender's
    /// (the author's) prefixes nor those of a producer of a shipped lot.
    pub(super) fn check_shipment_id(
        &self,
        shipment: &ShipmentId,
        parties: &Parties,
    ) -> Result<(), RuleError> {
        let Some(sscc) = shipment.sscc() else {
            return Ok(());
        };
        let key = Gs1Key::Sscc(sscc);
        if self.author_owns(&key) || self.any_owns(parties.producers.iter(), &key) {
            return Ok(());
        }
        if parties.unjudged {
            return Ok(());
        }
        Err(RuleError::ForeignSscc {
            sscc,
            usage: "shipment id",
            allowed: self.sender_or_producers(&parties.producers),
            owner: self.owner_text(&key),
            hint: "a shipment's SSCC is minted by its sender or by the producer of goods it ships; use one of theirs or a free shipment id",
        })
    }

    /// Refuses a GLN among `places` (each with its field's name) that
    /// lies under the prefix of a member that is neither the author nor
    /// one of `parties` (`who` says whom, for the message). A GLN under
    /// no member's prefix is a place outside the consortium, and stands.
    pub(super) fn check_places(
        &self,
        places: &[(&'static str, Option<&Location>)],
        parties: &Parties,
        who: &'static str,
    ) -> Result<(), RuleError> {
        for (place, loc) in places {
            let Some(gln) = loc.and_then(|l| l.gln.as_ref()) else {
                continue;
            };
            let key = Gs1Key::Gln(gln.clone());
            if self.author_owns(&key)
                || self.any_owns(parties.members.iter(), &key)
                || self.any_owns(parties.producers.iter(), &key)
            {
                continue;
            }
            let Some((owner, prefix)) = self.owner_of(&key) else {
                continue;
            };
            if parties.unjudged {
                continue;
            }
            return Err(RuleError::ForeignGln {
                gln: gln.clone(),
                place,
                prefix,
                owner,
                parties: who,
            });
        }
        Ok(())
    }

    /// The producers of `lots`, each once, read from this entry's
    /// changes first; and whether a trail left any of them out.
    pub(super) fn producers_of<'l>(
        &self,
        changes: &Changes,
        lots: impl IntoIterator<Item = &'l LotId>,
    ) -> (BTreeSet<PublicKey>, bool) {
        let mut producers = BTreeSet::new();
        let mut unjudged = false;
        for id in lots {
            if self.scope.is_some_and(|s| !s.contains(id)) {
                unjudged = true;
                continue;
            }
            let producer = match changes.lots.get(id) {
                Some(l) => Some(l.producer),
                None => self.view.lot(id).map(|l| l.producer),
            };
            producers.extend(producer);
        }
        (producers, unjudged)
    }

    /// Whether the author's prefixes cover `key`.
    fn author_owns(&self, key: &Gs1Key) -> bool {
        owns(self.author_spec, key)
    }

    /// Whether any of the members `keys` owns `key`.
    fn any_owns<'k>(&self, keys: impl Iterator<Item = &'k PublicKey>, key: &Gs1Key) -> bool {
        keys.filter_map(|k| self.view.member(k))
            .any(|m| owns(&m.spec, key))
    }

    /// The member that owns `key`'s prefix, and that prefix.
    fn owner_of(&self, key: &Gs1Key) -> Option<(String, CompanyPrefix)> {
        let m = self.view.prefix_owner(key.company_digits())?;
        let prefix = m
            .spec
            .gs1_company_prefixes
            .iter()
            .find(|p| key.has_company_prefix(p))?;
        Some((m.spec.name.clone(), prefix.clone()))
    }

    /// `, but under prefix P of `M`` when a member owns `key`.
    fn owner_text(&self, key: &Gs1Key) -> String {
        self.owner_of(key)
            .map(|(owner, prefix)| format!(", but under prefix {prefix} of `{owner}`"))
            .unwrap_or_default()
    }

    /// The sender (the author) and the shipped lots' producers, with
    /// their prefixes, for a message.
    fn sender_or_producers(&self, producers: &BTreeSet<PublicKey>) -> String {
        let sender = format!(
            "the sender `{}` ({})",
            self.author_spec.name,
            prefixes_text(self.author_spec)
        );
        let others: Vec<String> = producers
            .iter()
            .filter(|p| *p != self.author)
            .map(|p| match self.view.member(p) {
                Some(m) => format!("`{}` ({})", m.spec.name, prefixes_text(&m.spec)),
                None => format!("`{}`", name_of(self.view, p)),
            })
            .collect();
        if others.is_empty() {
            sender
        } else {
            format!(
                "{sender} or of a producer of its lots: {}",
                others.join(", ")
            )
        }
    }
}

/// Whether `m` owns `key`'s prefix.
fn owns(m: &MemberSpec, key: &Gs1Key) -> bool {
    m.gs1_company_prefixes
        .iter()
        .any(|p| key.has_company_prefix(p))
}

/// A member's prefixes for a message.
fn prefixes_text(m: &MemberSpec) -> String {
    if m.gs1_company_prefixes.is_empty() {
        "it has none".into()
    } else {
        m.gs1_company_prefixes
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether any of `places` names a GLN.
pub(super) fn has_gln(places: &[(&'static str, Option<&Location>)]) -> bool {
    places
        .iter()
        .any(|(_, l)| l.is_some_and(|l| l.gln.is_some()))
}
