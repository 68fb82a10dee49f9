//! Revision after a block: removing the committed entries and dropping
//! the waiting ones that no longer pass.
//!
//! The pool must end as checking every waiting entry again, in order,
//! against the new state would, but looks only at the entries the block
//! can affect (see [`Mempool::on_commit`]): none when the block is exactly
//! the front of the pool (the usual case: a proposer takes its pool's
//! front), a few when it is another proposer's order of the same entries.
//! Each entry kept what its check read and from where ([`crate::keys`]);
//! one whose every read still yields the same value keeps its verdict,
//! any other is checked again, and one whose writes changed passes the
//! question on to the entries that read from it. Membership changes are
//! the exception: every entry is checked again ([`Mempool::recheck`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasherDefault;

use waybill_core::crypto::PublicKey;
use waybill_core::entry::EntryId;
use waybill_core::rules::{At, RuleError};
use waybill_core::state::{Changes, View};

use crate::index::{file, unfile, Prehashed};
use crate::keys::{KeyRef, Read, Writes};
use crate::limits::TOMBSTONE_SLACK;
use crate::pool::Mempool;

/// An entry the pool dropped when it re-checked after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The entry id.
    pub id: EntryId,
    /// Who signed it.
    pub author: PublicKey,
    /// Why it no longer passes.
    pub error: RuleError,
}

/// What [`Mempool::on_commit`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recheck {
    /// Entries removed because they were committed.
    pub committed: usize,
    /// Entries dropped because they no longer pass the rules.
    pub dropped: Vec<Dropped>,
    /// Waiting entries the rules were run on again (the rest kept their
    /// verdict: nothing they read changed).
    pub rechecked: usize,
}

impl Mempool {
    /// After block `tip.height` was committed with entries `committed` and
    /// writes `block`, leaving state `state`: removes the committed
    /// entries and drops the waiting ones that no longer pass, judging
    /// each, as on arrival, against the new state plus the entries still
    /// waiting before it.
    ///
    /// Only entries the block can affect are looked at again. Each entry
    /// keeps what its check read and from where (the committed state, or
    /// the writes of an earlier entry):
    ///
    /// - When the block is exactly the front of the pool and changes no
    ///   membership, nothing else is looked at: the new state holds what
    ///   those entries wrote, so every other entry reads what it read.
    /// - Otherwise the entries that read from a committed entry, or from
    ///   the committed state at a key the block wrote, are looked at, in
    ///   order. One whose every read still yields the same value keeps
    ///   its verdict; any other is checked again. One that now fails is
    ///   dropped, and one whose writes changed passes the question on to
    ///   the entries that read from it or would now read from it.
    /// - Membership is the exception (a member's record holds the height
    ///   it was removed at, and names are looked up by search): while a
    ///   membership change waits, or when the block changes membership,
    ///   every entry is checked again, in order.
    pub fn on_commit(
        &mut self,
        committed: &[EntryId],
        block: &Changes,
        state: &dyn View,
        tip: At,
    ) -> Recheck {
        let report = if self.is_front(committed) {
            self.drop_front(committed)
        } else if self.membership > 0
            || !block.members.is_empty()
            || block.council.is_some()
            || self.queue.len() - self.live > self.live + TOMBSTONE_SLACK
        {
            self.recheck(committed, state, tip)
        } else {
            self.revise(committed, block, state, tip)
        };
        // The block may hold what an orphan waits for; one still waiting
        // after that is dropped (a block will carry it if it is valid).
        self.retry_orphans(state, tip);
        self.orphans.clear();
        self.unpark_after_commit(state, tip);
        report
    }

    /// Whether `committed` is the pool's first entries, in order, none of
    /// them changing membership.
    fn is_front(&self, committed: &[EntryId]) -> bool {
        committed.len() <= self.live
            && self
                .queue
                .iter()
                .flatten()
                .zip(committed)
                .all(|(s, id)| s.w.id == *id && !s.members)
    }

    /// Removes the pool's first entries, `committed`: the state now holds
    /// their writes, so what read from them reads from the state.
    fn drop_front(&mut self, committed: &[EntryId]) -> Recheck {
        for id in committed {
            let Some(seq) = self.index.get(id).copied() else {
                continue;
            };
            let Some(slot) = self.remove(seq) else {
                continue;
            };
            for d in slot.dependents {
                self.read_from_state(d, seq);
            }
        }
        self.trim_front();
        Recheck {
            committed: committed.len(),
            ..Recheck::default()
        }
    }

    /// The reads of the entry at `seq` that came from the writes of the
    /// entry at `writer`, now committed, come from the state.
    fn read_from_state(&mut self, seq: u64, writer: u64) {
        let Some(slot) = self.slot_mut(seq) else {
            return;
        };
        let mut moved = Vec::new();
        for r in slot.reads.iter_mut().filter(|r| r.from == Some(writer)) {
            r.from = None;
            moved.push(r.clone());
        }
        self.register(seq, &moved);
    }

    /// The reads of the entry at `seq` come from `now`, in order (with
    /// the values they had).
    fn set_sources(&mut self, seq: u64, now: Vec<Option<u64>>) {
        let Some(slot) = self.slot_mut(seq) else {
            return;
        };
        let (mut gone, mut moved) = (Vec::new(), Vec::new());
        for (r, to) in slot.reads.iter_mut().zip(now) {
            if r.from != to {
                gone.push(r.clone());
                r.from = to;
                moved.push(r.clone());
            }
        }
        self.unregister(seq, &gone);
        self.register(seq, &moved);
    }

    /// [`Mempool::on_commit`] for a block that is not the pool's front:
    /// removes the committed entries and looks again at the entries the
    /// block can affect, in order.
    fn revise(
        &mut self,
        committed: &[EntryId],
        block: &Changes,
        state: &dyn View,
        tip: At,
    ) -> Recheck {
        let mut report = Recheck::default();
        // What the entries removed or changed here wrote before.
        let mut before: HashMap<u64, Writes> = HashMap::new();
        let mut todo: BTreeSet<u64> = BTreeSet::new();
        for id in committed {
            let Some(seq) = self.index.get(id).copied() else {
                continue;
            };
            if let Some(slot) = self.remove(seq) {
                report.committed += 1;
                // Its writes are only asked for by entries that read them.
                if !slot.dependents.is_empty() {
                    todo.extend(slot.dependents);
                    before.insert(seq, slot.writes);
                }
            }
        }
        let written: HashSet<u64, BuildHasherDefault<Prehashed>> = {
            let nonces = block.nonces.keys().map(KeyRef::Nonce);
            let lots = block.lots.keys().map(KeyRef::Lot);
            let shipments = block.shipments.keys().map(KeyRef::Shipment);
            let payments = block.payments.keys().map(KeyRef::Payment);
            nonces
                .chain(lots)
                .chain(shipments)
                .chain(payments)
                .map(|k| self.hash(k))
                .collect()
        };
        for h in &written {
            if let Some(seqs) = self.state_readers.get(h) {
                todo.extend(seqs.all());
            }
        }
        while let Some(seq) = todo.pop_first() {
            let Some(slot) = self.slot(seq) else {
                continue;
            };
            if let Some(now) = self.still_reads(seq, &slot.reads, state, &written, &before) {
                self.set_sources(seq, now);
                continue;
            }
            let (result, reads) = self.check(&slot.w.entry, slot.w.id, state, tip, seq);
            report.rechecked += 1;
            match result {
                Err(error) => {
                    if let Some(slot) = self.remove(seq) {
                        todo.extend(slot.dependents);
                        report.dropped.push(Dropped {
                            id: slot.w.id,
                            author: slot.w.entry.entry.author,
                            error,
                        });
                        before.insert(seq, slot.writes);
                    }
                }
                Ok(changes) => {
                    let (writes, governed) = Writes::split(changes);
                    if !governed.is_empty() {
                        // Not from an entry that changes no membership;
                        // should it happen, the next commit rechecks all.
                        self.absorb(governed);
                        self.membership += 1;
                    }
                    self.rewrite(seq, reads, writes, &mut todo, &mut before);
                }
            }
        }
        self.trim_front();
        report
    }

    /// Whether each of `reads` (by the entry at `seq`, from before this
    /// commit) still yields the value it yielded; if so, where each now
    /// comes from. `written` are the hashes of the keys the block wrote;
    /// `before`, the earlier writes of entries removed or changed since.
    fn still_reads(
        &self,
        seq: u64,
        reads: &[Read],
        state: &dyn View,
        written: &HashSet<u64, BuildHasherDefault<Prehashed>>,
        before: &HashMap<u64, Writes>,
    ) -> Option<Vec<Option<u64>>> {
        let mut now = Vec::with_capacity(reads.len());
        for r in reads {
            let source = self.source(&r.key, r.hash, seq);
            let same = match (r.from, source) {
                (Some(a), Some(b)) if a == b && !before.contains_key(&a) => true,
                (None, None) => !written.contains(&r.hash),
                (from, source) => {
                    let then = match from {
                        // The block wrote it: what it held is gone.
                        None if written.contains(&r.hash) => None,
                        None => Some(r.key.in_state(state)),
                        Some(w) => before
                            .get(&w)
                            .or_else(|| self.slot(w).map(|s| &s.writes))
                            .and_then(|ws| ws.value(&r.key)),
                    };
                    let now = match source {
                        None => Some(r.key.in_state(state)),
                        Some(w) => self.slot(w).and_then(|s| s.writes.value(&r.key)),
                    };
                    then.is_some() && then == now
                }
            };
            if !same {
                return None;
            }
            now.push(source);
        }
        Some(now)
    }

    /// Records a new check of the entry at `seq`, which passed with
    /// `reads` and `writes`; if its writes changed, the entries that read
    /// from it or would now read from it are to be looked at again.
    fn rewrite(
        &mut self,
        seq: u64,
        reads: Vec<Read>,
        writes: Writes,
        todo: &mut BTreeSet<u64>,
        before: &mut HashMap<u64, Writes>,
    ) {
        let written = self.hashes(&writes);
        // Keys it writes now and did not (compared as keys: two keys may
        // share a hash).
        let added: Vec<u64> = match self.slot(seq) {
            Some(old) => writes
                .keys()
                .filter(|k| !old.writes.writes(*k))
                .map(|k| self.hash(k))
                .collect(),
            None => return,
        };
        let Some(slot) = self.slot_mut(seq) else {
            return;
        };
        let old_reads = std::mem::replace(&mut slot.reads, reads.clone());
        let changed = slot.writes != writes;
        let old_written = std::mem::replace(&mut slot.written, written.clone());
        let old_writes = std::mem::replace(&mut slot.writes, writes);
        let dependents = if changed {
            slot.dependents.clone()
        } else {
            Vec::new()
        };
        self.unregister(seq, &old_reads);
        self.register(seq, &reads);
        if !changed {
            return;
        }
        todo.extend(dependents);
        // Whoever read a key it now writes and did not, from the state or
        // an earlier entry, would now read it from this one.
        for h in &added {
            if let Some(seqs) = self.state_readers.get(h) {
                todo.extend(seqs.after(seq));
            }
            if let Some(seqs) = self.writers.get(h) {
                for w in seqs.before(seq) {
                    if let Some(s) = self.slot(w) {
                        todo.extend(s.dependents.iter().copied().filter(|&d| d > seq));
                    }
                }
            }
        }
        for h in old_written.iter().filter(|h| !written.contains(h)) {
            unfile(&mut self.writers, *h, seq);
        }
        for h in written.iter().filter(|h| !old_written.contains(h)) {
            file(&mut self.writers, *h, seq);
        }
        before.insert(seq, old_writes);
    }

    /// Removes the committed entries and checks every other again, in
    /// order, renumbering them.
    fn recheck(&mut self, committed: &[EntryId], state: &dyn View, tip: At) -> Recheck {
        let committed: HashSet<&EntryId> = committed.iter().collect();
        let old = std::mem::take(&mut self.queue);
        self.front += old.len() as u64;
        self.live = 0;
        self.index.clear();
        self.by_author.clear();
        self.author_bytes.clear();
        self.writers.clear();
        self.state_readers.clear();
        self.members.clear();
        self.council = None;
        self.membership = 0;
        self.bytes = 0;
        let mut report = Recheck::default();
        for slot in old.into_iter().flatten() {
            let w = slot.w;
            if committed.contains(&w.id) {
                report.committed += 1;
                continue;
            }
            // Signatures and shape were checked on insert and do not
            // depend on state.
            report.rechecked += 1;
            match self.check(&w.entry, w.id, state, tip, u64::MAX) {
                (Ok(changes), reads) => self.push(w, changes, reads),
                (Err(error), _) => report.dropped.push(Dropped {
                    id: w.id,
                    author: w.entry.entry.author,
                    error,
                }),
            }
        }
        report
    }
}
