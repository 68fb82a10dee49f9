//! The generator's state and its loop: what it holds and has made, the
//! next entry (a follow-up that is due, or a random kind), and the
//! bookkeeping of every entry it hands out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, EntryId, SignedEntry};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules;
use waybill_core::state::State;

use super::bag::Bag;
use super::bench::BenchConsortium;
use super::error::{internal, Result};
use super::mix::{FollowUp, Mix};
use crate::consortium::{Party, Roster};
use crate::signer::Signer;

/// Yields valid entries, tracking the state they lead to.
pub struct Workload<'c, R: Roster + ?Sized = BenchConsortium> {
    pub(super) c: &'c R,
    pub(super) signer: Signer,
    pub(super) state: State,
    pub(super) rng: ChaCha8Rng,
    pub(super) prefix: String,
    pub(super) counter: u64,
    pub(super) held: BTreeMap<PublicKey, Bag<LotId>>,
    pub(super) open: Bag<ShipmentId>,
    pub(super) shipments: Vec<ShipmentId>,
    /// Lots and shipments of a planned story, which the random traffic
    /// must leave alone.
    pub(super) reserved_lots: BTreeSet<LotId>,
    pub(super) reserved_shipments: BTreeSet<ShipmentId>,
    /// Which kinds it makes.
    pub(super) mix: Mix,
    /// Follow-ups due next, in order (a correction right after its
    /// dispatch, the dispatch sent again right after the correction, a
    /// consignee's readings right after its receipt).
    pub(super) pending: VecDeque<FollowUp>,
    /// Follow-ups due once `made` reaches their key (recalls, lifts).
    pub(super) scheduled: BTreeMap<u64, Vec<FollowUp>>,
    /// Entries handed out by [`Workload::next_entry`].
    pub(super) made: u64,
    /// Random-traffic lots produced, dispatches and recalls made (for the
    /// mix's exact shares: every `RECALL_EVERY`th lot is recalled, ...).
    pub(super) lots_made: u64,
    pub(super) dispatches: u64,
    pub(super) recalls: u64,
    /// Numbers for bills of lading, containers, loggers and plots.
    pub(super) serial: u64,
    /// Open shipments already handed over to a second carrier.
    pub(super) handed_over: BTreeSet<ShipmentId>,
}

impl<'c, R: Roster + ?Sized> Workload<'c, R> {
    /// A workload on a fresh chain, in the [`Mix::Classic`] mix (see
    /// [`Workload::with_mix`]); free lot and shipment ids start with
    /// `w<seed>-`.
    pub fn new(c: &'c R, seed: u64) -> Self {
        Self::resume(c, &State::genesis(c.genesis()), seed, &format!("w{seed}-"))
    }

    /// A workload continuing from a committed state. `prefix` starts every
    /// new free lot and shipment id (ids already in `state` are skipped
    /// anyway).
    pub fn resume(c: &'c R, state: &State, seed: u64, prefix: &str) -> Self {
        let mut held: BTreeMap<PublicKey, Bag<LotId>> = BTreeMap::new();
        for (id, l) in &state.lots {
            for h in l.holdings.iter().filter(|h| h.shipment.is_none()) {
                held.entry(h.holder).or_default().insert(id);
            }
        }
        let mut open = Bag::default();
        for (id, s) in &state.shipments {
            if s.stage.open() {
                open.insert(id);
            }
        }
        Workload {
            c,
            signer: Signer::from_state(state),
            state: state.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            prefix: prefix.to_string(),
            counter: 0,
            held,
            open,
            shipments: state.shipments.keys().cloned().collect(),
            reserved_lots: BTreeSet::new(),
            reserved_shipments: BTreeSet::new(),
            mix: Mix::default(),
            pending: VecDeque::new(),
            scheduled: BTreeMap::new(),
            made: 0,
            lots_made: 0,
            dispatches: 0,
            recalls: 0,
            serial: 0,
            handed_over: BTreeSet::new(),
        }
    }

    /// The same workload making `mix`'s kinds (set it before taking
    /// entries).
    pub fn with_mix(mut self, mix: Mix) -> Self {
        self.mix = mix;
        self
    }

    /// Which kinds it makes.
    pub fn mix(&self) -> Mix {
        self.mix
    }

    /// The state after every entry handed out so far.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The next `n` entries.
    pub fn take(&mut self, n: usize) -> Result<Vec<SignedEntry>> {
        (0..n).map(|_| self.next_entry()).collect()
    }

    pub(super) fn sign(&mut self, who: &Party, body: Body) -> SignedEntry {
        self.signer.sign(who, body)
    }

    /// The next valid entry.
    pub fn next_entry(&mut self) -> Result<SignedEntry> {
        loop {
            if self.mix == Mix::Consortium {
                if let Some(f) = self.due() {
                    if let Some(e) = self.follow_up(f)? {
                        return self.hand_out(e);
                    }
                    continue;
                }
            }
            let roll = self.below(100);
            let entry = match roll {
                0..=17 => Some(self.raw_production()?),
                18..=32 => self.processing()?,
                33..=57 => self.dispatch()?,
                58..=86 => self.receive(false)?,
                87..=89 => self.receive(true)?,
                _ => self.payment()?,
            };
            if let Some(e) = entry {
                return self.hand_out(e);
            }
        }
    }

    /// Applies `e` and plans what follows from it.
    fn hand_out(&mut self, e: SignedEntry) -> Result<SignedEntry> {
        let id = self.apply(&e)?;
        self.made += 1;
        if self.mix == Mix::Consortium {
            self.plan_follow_ups(&e, id)?;
        }
        Ok(e)
    }

    /// Applies `e` to the generator's state; returns its id.
    pub(super) fn apply(&mut self, e: &SignedEntry) -> Result<EntryId> {
        // The generator signed the entry itself; the rules are what could
        // go wrong.
        // The generator's own bookkeeping: the ledger it feeds judges the
        // entries' times against its blocks.
        let at = rules::At::new(1, i64::MAX);
        let id = e.id();
        let changes = rules::apply_verified(&self.state, e, id, at, rules::Mode::Ledger)
            .map_err(|err| internal(format!("the workload made an invalid entry: {err}")))?;
        for (id, l) in &changes.lots {
            if let Some(old) = self.state.lots.get(id) {
                for h in &old.holdings {
                    if let Some(set) = self.held.get_mut(&h.holder) {
                        set.remove(id);
                    }
                }
            }
            if !self.reserved_lots.contains(id) {
                for h in l.holdings.iter().filter(|h| h.shipment.is_none()) {
                    self.held.entry(h.holder).or_default().insert(id);
                }
            }
        }
        for (id, s) in &changes.shipments {
            if self.reserved_shipments.contains(id) {
                continue;
            }
            if !self.state.shipments.contains_key(id) {
                self.shipments.push(id.clone());
            }
            if s.stage.open() {
                self.open.insert(id);
            } else {
                self.open.remove(id);
                self.handed_over.remove(id);
            }
        }
        self.state.commit(changes);
        Ok(id)
    }
}
