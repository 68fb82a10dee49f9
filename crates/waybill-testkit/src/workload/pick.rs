//! Random choices (numbers, members, held lots) and fresh numbers and
//! ids for the generator.

use rand_core::RngCore;
use waybill_core::crypto::PublicKey;
use waybill_core::gs1::{LotId, ShipmentId};

use super::bag::Bag;
use super::error::{internal, Result};
use super::generator::Workload;
use crate::consortium::{Party, Roster};
use crate::error::{parse, KitError};
use crate::ids::{try_gtin_under, try_sscc_under};

/// The members that may hold goods: producers, processors, carriers and
/// retailers, in that order.
pub(super) fn handlers<R: Roster + ?Sized>(c: &R) -> impl Iterator<Item = &Party> {
    c.producers()
        .iter()
        .chain(c.processors())
        .chain(c.carriers())
        .chain(c.retailers())
}

/// The member of `c` with key `pk`.
pub(super) fn party_of<'r, R: Roster + ?Sized>(c: &'r R, pk: &PublicKey) -> Result<&'r Party> {
    c.member(pk)
        .map(|(p, _)| p)
        .ok_or_else(|| internal(format!("{} is not a member", pk.short())))
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(super) fn pick<'a>(&mut self, items: &'a [Party]) -> Result<&'a Party> {
        let i = self.below(items.len() as u64) as usize;
        items
            .get(i)
            .ok_or_else(|| internal("pick from an empty group"))
    }

    /// A random lot held by `who`.
    pub(super) fn pick_held(&mut self, who: &PublicKey) -> Result<LotId> {
        let n = self.held.get(who).map_or(0, Bag::len);
        let i = self.below(n as u64) as usize;
        self.held
            .get(who)
            .and_then(|b| b.get(i))
            .cloned()
            .ok_or_else(|| internal("pick from an empty set"))
    }

    /// A lot id `author` has not used: every third one a GS1 batch under
    /// the author's first GS1 company prefix, the others (and all of a
    /// member without a prefix) free ids.
    pub(super) fn fresh_lot(&mut self, author: &PublicKey) -> Result<LotId> {
        let prefix = self.first_prefix(std::slice::from_ref(author));
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = match &prefix {
                Some(prefix) if n.is_multiple_of(3) => {
                    LotId::batch(try_gtin_under(prefix, n)?, &format!("B{n}")).map_err(|e| {
                        KitError::Invalid {
                            what: "batch lot id",
                            text: format!("B{n}"),
                            why: e.to_string(),
                        }
                    })?
                }
                _ => parse("lot", &format!("{}L{n}", self.prefix))?,
            };
            if !self.state.lots.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    /// A shipment id not used yet: every fifth one an SSCC under the
    /// first GS1 company prefix of `minters` (the sender, then the
    /// producers of the shipped lots), the others (and all when none of
    /// them has a prefix) free ids.
    pub(super) fn fresh_shipment(&mut self, minters: &[PublicKey]) -> Result<ShipmentId> {
        let prefix = self.first_prefix(minters);
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(5) {
                // Drawn whether or not it is used, so that the random
                // stream, and so the traffic, is the same over any roster.
                let serial = self.rng.next_u64();
                match &prefix {
                    Some(prefix) => try_sscc_under(prefix, serial)?,
                    None => parse("shipment", &format!("{}S{n}", self.prefix))?,
                }
            } else {
                parse("shipment", &format!("{}S{n}", self.prefix))?
            };
            if !self.state.shipments.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    /// The first GS1 company prefix of the first of `members` that has one.
    fn first_prefix(&self, members: &[PublicKey]) -> Option<String> {
        members.iter().find_map(|k| {
            self.state
                .members
                .get(k)
                .and_then(|m| m.spec.gs1_company_prefixes.first())
                .map(|p| p.as_str().to_string())
        })
    }

    /// `who` and the producers of `lots`: whose prefixes a shipment of
    /// them may be labelled under.
    pub(super) fn minters(&self, who: &PublicKey, lots: &[LotId]) -> Vec<PublicKey> {
        std::iter::once(*who)
            .chain(
                lots.iter()
                    .filter_map(|l| self.state.lots.get(l).map(|x| x.producer)),
            )
            .collect()
    }

    pub(super) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}
