//! The pool itself: its queue of waiting entries in acceptance order and
//! the indexes kept in step with it.
//!
//! Entries are numbered on arrival (sequence numbers); the queue holds
//! them in that order, with an empty place where one left from the middle
//! (dropped after a commit) until the front catches up. Beside the queue:
//! entry id to sequence number, author to nonces, key hash to the entries
//! that write it or read it from the committed state ([`crate::index`]),
//! the merged member changes, and the byte and entry counts the
//! [`Limits`] bound. [`Mempool::push`] and [`Mempool::remove`] keep all of
//! them in step; admission, revision and parking build on those two.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};

use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, EntryId, SignedEntry};
use waybill_core::governance::Council;
use waybill_core::state::{Changes, MemberRecord};

use crate::index::{file, unfile, ByHash, Seqs};
use crate::keys::{Governed, KeyRef, Read, Writes};
use crate::limits::Limits;
use crate::parked::{Awaited, Parked};
use crate::slot::{Slot, Waiting};

/// The pool. See the module documentation.
#[derive(Debug, Clone)]
pub struct Mempool {
    pub(crate) limits: Limits,
    /// In acceptance order; `None` where an entry left from the middle.
    /// (Boxed: the queue moves its items when it grows.)
    pub(crate) queue: VecDeque<Option<Box<Slot>>>,
    /// Sequence number of `queue[0]`; entries are numbered on arrival.
    pub(crate) front: u64,
    /// Entries waiting (the `Some`s in `queue`).
    pub(crate) live: usize,
    /// Entry id → sequence number.
    pub(crate) index: HashMap<EntryId, u64>,
    /// Author → nonce → entry id.
    pub(crate) by_author: BTreeMap<PublicKey, BTreeMap<u64, EntryId>>,
    /// Author → bytes waiting (only authors with entries waiting).
    pub(crate) author_bytes: HashMap<PublicKey, usize>,
    /// Hashes keys for `writers` and `state_readers`, with a random key:
    /// lot and shipment ids are chosen by members.
    pub(crate) hasher: RandomState,
    /// Key hash → the waiting entries that write a key with that hash,
    /// ascending.
    pub(crate) writers: ByHash<Seqs>,
    /// Key hash → the waiting entries that read a key with that hash from
    /// the committed state.
    pub(crate) state_readers: ByHash<Seqs>,
    /// The member changes of the waiting entries, merged in order.
    pub(crate) members: BTreeMap<PublicKey, MemberRecord>,
    /// The council as the waiting entries leave it, if one changed it.
    pub(crate) council: Option<Council>,
    /// Waiting entries that change membership or the council.
    pub(crate) membership: usize,
    pub(crate) bytes: usize,
    /// Verified entries from peers whose nonce skips ahead, by author and
    /// nonce, until the gap fills.
    pub(crate) parked: Parked,
    /// Verified entries from peers at their author's next nonce that name
    /// a lot or shipment not known yet, by author and nonce, retried as
    /// entries arrive and dropped at the next commit.
    pub(crate) orphans: BTreeMap<(PublicKey, u64), (Waiting, Awaited)>,
}

impl Mempool {
    /// An empty pool.
    pub fn new(limits: Limits) -> Self {
        Mempool {
            limits,
            queue: VecDeque::new(),
            front: 0,
            live: 0,
            index: HashMap::new(),
            by_author: BTreeMap::new(),
            author_bytes: HashMap::new(),
            hasher: RandomState::new(),
            writers: ByHash::default(),
            state_readers: ByHash::default(),
            members: BTreeMap::new(),
            council: None,
            membership: 0,
            bytes: 0,
            parked: Parked::default(),
            orphans: BTreeMap::new(),
        }
    }

    /// Entries parked for an earlier nonce.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Entries from peers waiting for a lot or shipment to be made.
    pub fn orphans(&self) -> usize {
        self.orphans.len()
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes waiting (canonical encoding).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A waiting entry.
    pub fn get(&self, id: &EntryId) -> Option<&SignedEntry> {
        self.slot(*self.index.get(id)?).map(|s| &s.w.entry)
    }

    /// Whether an entry waits.
    pub fn contains(&self, id: &EntryId) -> bool {
        self.index.contains_key(id)
    }

    /// Whether an entry waits or is parked: either way this node verified
    /// its signatures (an id fixes the exact bytes, signatures included),
    /// so a block that holds it need not verify them again.
    pub fn verified(&self, id: &EntryId) -> bool {
        self.index.contains_key(id) || self.parked.ids.contains(id)
    }

    /// An author's waiting entries, by nonce.
    pub fn by_author(&self, author: &PublicKey) -> impl Iterator<Item = (u64, EntryId)> + '_ {
        self.by_author
            .get(author)
            .into_iter()
            .flat_map(|m| m.iter().map(|(n, id)| (*n, *id)))
    }

    pub(crate) fn hash(&self, key: KeyRef<'_>) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(crate) fn slot(&self, seq: u64) -> Option<&Slot> {
        let i = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        self.queue.get(i)?.as_deref()
    }

    pub(crate) fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        self.queue.get_mut(i)?.as_deref_mut()
    }

    /// Merges an entry's member and council changes into the pool's.
    pub(crate) fn absorb(&mut self, governed: Governed) {
        self.members.extend(governed.members);
        if governed.council.is_some() {
            self.council = governed.council;
        }
    }

    /// Appends a checked entry with what its check wrote and read.
    pub(crate) fn push(&mut self, w: Waiting, changes: Changes, reads: Vec<Read>) {
        let seq = self.front + self.queue.len() as u64;
        let (writes, governed) = Writes::split(changes);
        let touches_members = !governed.is_empty()
            || matches!(
                w.entry.entry.body,
                Body::Membership(_) | Body::Governance(_)
            );
        self.absorb(governed);
        self.membership += usize::from(touches_members);
        let written = self.hashes(&writes);
        for &h in &written {
            file(&mut self.writers, h, seq);
        }
        self.register(seq, &reads);
        self.index.insert(w.id, seq);
        self.by_author
            .entry(w.entry.entry.author)
            .or_default()
            .insert(w.entry.entry.nonce, w.id);
        *self.author_bytes.entry(w.entry.entry.author).or_default() += w.bytes;
        self.bytes += w.bytes;
        self.live += 1;
        self.queue.push_back(Some(Box::new(Slot {
            w,
            writes,
            written,
            reads,
            dependents: Vec::new(),
            members: touches_members,
        })));
    }

    /// The hashes of the keys `writes` writes, each once.
    pub(crate) fn hashes(&self, writes: &Writes) -> Vec<u64> {
        let mut hashes: Vec<u64> = writes.keys().map(|k| self.hash(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    }

    /// Files the reads of the entry at `seq` under where they came from.
    pub(crate) fn register(&mut self, seq: u64, reads: &[Read]) {
        for r in reads {
            match r.from {
                None => file(&mut self.state_readers, r.hash, seq),
                Some(w) => {
                    if let Some(s) = self.slot_mut(w) {
                        s.dependents.push(seq);
                    }
                }
            }
        }
    }

    /// Undoes [`Mempool::register`] for reads from the committed state
    /// (a writer's list of dependents may keep naming `seq`).
    pub(crate) fn unregister(&mut self, seq: u64, reads: &[Read]) {
        for r in reads.iter().filter(|r| r.from.is_none()) {
            unfile(&mut self.state_readers, r.hash, seq);
        }
    }

    /// Takes the entry at `seq` out, leaving its place empty.
    pub(crate) fn remove(&mut self, seq: u64) -> Option<Box<Slot>> {
        let i = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        let slot = self.queue.get_mut(i)?.take()?;
        self.unregister(seq, &slot.reads);
        for h in &slot.written {
            unfile(&mut self.writers, *h, seq);
        }
        self.index.remove(&slot.w.id);
        let author = slot.w.entry.entry.author;
        if let Some(nonces) = self.by_author.get_mut(&author) {
            nonces.remove(&slot.w.entry.entry.nonce);
            if nonces.is_empty() {
                self.by_author.remove(&author);
            }
        }
        if let Some(b) = self.author_bytes.get_mut(&author) {
            *b = b.saturating_sub(slot.w.bytes);
            if *b == 0 || !self.by_author.contains_key(&author) {
                self.author_bytes.remove(&author);
            }
        }
        self.bytes -= slot.w.bytes;
        self.live -= 1;
        self.membership -= usize::from(slot.members);
        Some(slot)
    }

    /// Drops the empty places at the front of the queue.
    pub(crate) fn trim_front(&mut self) {
        while let Some(None) = self.queue.front() {
            self.queue.pop_front();
            self.front += 1;
        }
    }

    /// Up to `max` entries in acceptance order, for a proposal. They stay
    /// in the pool until [`Mempool::on_commit`] sees them committed.
    pub fn take(&self, max: usize) -> Vec<SignedEntry> {
        self.queue
            .iter()
            .flatten()
            .take(max)
            .map(|s| s.w.entry.clone())
            .collect()
    }

    /// Like [`Mempool::take`], also stopping before the entries' canonical
    /// bytes would exceed `max_bytes`.
    pub fn take_within(&self, max: usize, max_bytes: usize) -> Vec<SignedEntry> {
        let mut total = 0usize;
        self.queue
            .iter()
            .flatten()
            .take(max)
            .take_while(|s| {
                total = total.saturating_add(s.w.bytes);
                total <= max_bytes
            })
            .map(|s| s.w.entry.clone())
            .collect()
    }
}
