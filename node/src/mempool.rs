//! The mempool: signed entries waiting for a block.
//!
//! A pure data structure (no I/O, no clock, no locks): the caller passes
//! the committed state (any [`View`], normally the ledger's
//! [`State`](waybill_core::state::State)) and height in. Entries are kept
//! in acceptance order, and every entry was checked with the rules against
//! the committed state *plus the changes of every entry accepted before
//! it*, so any prefix of the pool in acceptance order is a valid block on
//! top of the committed state ([`Mempool::take`] hands out such a prefix).
//!
//! - De-duplicated by entry id.
//! - Per author, entries are consecutive nonces (the rules demand exactly
//!   last + 1, and the last includes the author's pending entries).
//! - Bounded by entry count and total canonical bytes: when full, new
//!   entries are refused ([`MempoolError::Full`]); nothing is evicted.
//! - Each entry keeps what its check wrote, and what it read and from
//!   where: the committed state, or an earlier waiting entry's writes.
//! - [`Mempool::on_commit`] removes committed entries and drops those that
//!   no longer pass (their nonce was used by another entry, their lot
//!   moved, ...), as checking every entry again in order against the new
//!   state would. It looks only at the entries that read something the
//!   block changed: none when the block is exactly the front of the pool
//!   (the usual case: a proposer takes its pool's front), a few when it
//!   is another proposer's order of the same entries.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use waybill_core::codes::Uetr;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{Body, EntryId, SignedEntry};
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules::{self, Mode, RuleError};
use waybill_core::state::{
    ChangeSet, Changes, LotState, MemberRecord, Overlay, PaymentState, ShipmentState, View,
};

/// How much the pool may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries.
    pub max_entries: usize,
    /// Most bytes, counting each entry's canonical encoding.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Why an entry was not accepted into the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same entry is already waiting.
    #[error("entry {0} is already waiting in the mempool")]
    Duplicate(EntryId),
    /// No room.
    #[error(
        "the mempool is full ({entries} entries, {bytes} bytes waiting; the limits are \
         {max_entries} entries and {max_bytes} bytes); try again after the next block"
    )]
    Full {
        /// Entries waiting.
        entries: usize,
        /// Bytes waiting.
        bytes: usize,
        /// The entry limit.
        max_entries: usize,
        /// The byte limit.
        max_bytes: usize,
    },
    /// The entry breaks a rule (against the committed state plus the
    /// entries already waiting).
    #[error(transparent)]
    Rule(#[from] RuleError),
}

/// What became of an entry from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromPeer {
    /// It waits in the pool.
    Accepted(EntryId),
    /// It is ahead of its author's next nonce and parked until the entries
    /// before it arrive (gossip does not keep one author's order).
    Parked(EntryId),
    /// It names a lot or shipment this node does not know yet, and waits
    /// (at most until the next commit) for the entry that makes it: gossip
    /// does not keep the order of entries by different authors either.
    Orphaned(EntryId),
}

/// Most orphans (see [`FromPeer::Orphaned`]), as a share of the pool's
/// entry limit (1,562 by default): each is looked up again whenever
/// entries are taken in.
const ORPHAN_SHARE: usize = 64;

/// What an orphan waits for: a lot or shipment not known yet.
#[derive(Debug, Clone)]
enum Awaited {
    Lot(LotId),
    Shipment(ShipmentId),
}

impl Awaited {
    /// What a peer's entry refused for `e` waits for, if another author's
    /// entry may make it pass.
    fn of(e: &MempoolError) -> Option<Self> {
        match e {
            MempoolError::Rule(RuleError::UnknownLot(l)) => Some(Awaited::Lot(l.clone())),
            MempoolError::Rule(RuleError::UnknownShipment(s)) => Some(Awaited::Shipment(s.clone())),
            _ => None,
        }
    }

    /// Whether `view` holds it now.
    fn is_in(&self, view: &dyn View) -> bool {
        match self {
            Awaited::Lot(l) => view.lot(l).is_some(),
            Awaited::Shipment(s) => view.shipment(s).is_some(),
        }
    }
}

/// Most parked entries, as a share of the pool's entry limit.
const PARKED_SHARE: usize = 4;

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

#[derive(Debug, Clone)]
struct Waiting {
    id: EntryId,
    entry: SignedEntry,
    bytes: usize,
}

/// Parked entries by author and nonce, with the set of their ids.
#[derive(Debug, Clone, Default)]
struct Parked {
    by_key: BTreeMap<(PublicKey, u64), Waiting>,
    ids: HashSet<EntryId>,
}

impl Parked {
    fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Parks `w`, replacing an entry parked for the same author and nonce.
    fn insert(&mut self, key: (PublicKey, u64), w: Waiting) {
        let id = w.id;
        if let Some(old) = self.by_key.insert(key, w) {
            self.ids.remove(&old.id);
        }
        self.ids.insert(id);
    }

    fn remove(&mut self, key: &(PublicKey, u64)) -> Option<Waiting> {
        let w = self.by_key.remove(key)?;
        self.ids.remove(&w.id);
        Some(w)
    }
}

/// Most places of committed or dropped entries the queue may keep among
/// the waiting ones (beyond as many as wait) before a commit renumbers the
/// pool with a full re-check; this bounds its memory under endless load.
const TOMBSTONE_SLACK: usize = 8192;

/// A key of the state that an entry's check reads or writes. Members are
/// not among them: see [`Mempool::on_commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Nonce(PublicKey),
    Lot(LotId),
    Shipment(ShipmentId),
    Payment(Uetr),
}

/// A [`Key`], borrowed: for hashing and lookups without a copy. Only this
/// form is ever hashed, so a key hashes the same however it is held.
#[derive(Debug, Clone, Copy, Hash)]
enum KeyRef<'a> {
    Nonce(&'a PublicKey),
    Lot(&'a LotId),
    Shipment(&'a ShipmentId),
    Payment(&'a Uetr),
}

impl Key {
    fn borrowed(&self) -> KeyRef<'_> {
        match self {
            Key::Nonce(k) => KeyRef::Nonce(k),
            Key::Lot(l) => KeyRef::Lot(l),
            Key::Shipment(s) => KeyRef::Shipment(s),
            Key::Payment(p) => KeyRef::Payment(p),
        }
    }

    /// Its value in `state`.
    fn in_state<'s>(&self, state: &'s dyn View) -> Value<'s> {
        match self {
            Key::Nonce(k) => Value::Nonce(state.nonce(k)),
            Key::Lot(l) => Value::Lot(state.lot(l)),
            Key::Shipment(s) => Value::Shipment(state.shipment(s)),
            Key::Payment(p) => Value::Payment(state.payment(p)),
        }
    }
}

impl KeyRef<'_> {
    fn owned(self) -> Key {
        match self {
            KeyRef::Nonce(k) => Key::Nonce(*k),
            KeyRef::Lot(l) => Key::Lot(l.clone()),
            KeyRef::Shipment(s) => Key::Shipment(s.clone()),
            KeyRef::Payment(p) => Key::Payment(*p),
        }
    }
}

/// What a [`Key`] holds, to compare what an entry read before a commit
/// with what it would read after it.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Nonce(u64),
    Lot(Option<Cow<'a, LotState>>),
    Shipment(Option<Cow<'a, ShipmentState>>),
    Payment(Option<Cow<'a, PaymentState>>),
}

fn find<'a, K: PartialEq, V>(pairs: &'a [(K, V)], key: &K) -> Option<&'a V> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// What one waiting entry's check wrote, members aside (they go to the
/// pool's merged set). Kept in short vectors: an entry writes one to a
/// few keys, and a B-tree allocates a node for eleven per map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Writes {
    nonces: Vec<(PublicKey, u64)>,
    lots: Vec<(LotId, LotState)>,
    shipments: Vec<(ShipmentId, ShipmentState)>,
    payments: Vec<(Uetr, PaymentState)>,
}

impl Writes {
    /// The writes and the member changes of `changes`.
    fn split(changes: Changes) -> (Self, BTreeMap<PublicKey, MemberRecord>) {
        let Changes {
            nonces,
            members,
            lots,
            shipments,
            payments,
        } = changes;
        let writes = Writes {
            nonces: nonces.into_iter().collect(),
            lots: lots.into_iter().collect(),
            shipments: shipments.into_iter().collect(),
            payments: payments.into_iter().collect(),
        };
        (writes, members)
    }

    fn keys(&self) -> impl Iterator<Item = KeyRef<'_>> {
        let nonces = self.nonces.iter().map(|(k, _)| KeyRef::Nonce(k));
        let lots = self.lots.iter().map(|(k, _)| KeyRef::Lot(k));
        let shipments = self.shipments.iter().map(|(k, _)| KeyRef::Shipment(k));
        let payments = self.payments.iter().map(|(k, _)| KeyRef::Payment(k));
        nonces.chain(lots).chain(shipments).chain(payments)
    }

    /// What they write at `key`, if anything.
    fn value(&self, key: &Key) -> Option<Value<'_>> {
        Some(match key {
            Key::Nonce(k) => Value::Nonce(*find(&self.nonces, k)?),
            Key::Lot(l) => Value::Lot(Some(Cow::Borrowed(find(&self.lots, l)?))),
            Key::Shipment(s) => Value::Shipment(Some(Cow::Borrowed(find(&self.shipments, s)?))),
            Key::Payment(p) => Value::Payment(Some(Cow::Borrowed(find(&self.payments, p)?))),
        })
    }

    fn writes(&self, key: KeyRef<'_>) -> bool {
        match key {
            KeyRef::Nonce(k) => find(&self.nonces, k).is_some(),
            KeyRef::Lot(l) => find(&self.lots, l).is_some(),
            KeyRef::Shipment(s) => find(&self.shipments, s).is_some(),
            KeyRef::Payment(p) => find(&self.payments, p).is_some(),
        }
    }

    /// Folds them into `changes`, later writes winning.
    fn merge_into(&self, changes: &mut Changes) {
        changes.nonces.extend(self.nonces.iter().cloned());
        changes.lots.extend(self.lots.iter().cloned());
        changes.shipments.extend(self.shipments.iter().cloned());
        changes.payments.extend(self.payments.iter().cloned());
    }
}

/// One lookup an entry's check made: the key (and its hash), and the
/// waiting entry whose writes answered it (`None`: the committed state).
#[derive(Debug, Clone)]
struct Read {
    key: Key,
    hash: u64,
    from: Option<u64>,
}

/// Each key once, in the order first read (a check may look a key up
/// twice; both answers come from the same place).
fn distinct(mut reads: Vec<Read>) -> Vec<Read> {
    let mut i = 1;
    while i < reads.len() {
        let (seen, rest) = reads.split_at(i);
        if seen
            .iter()
            .any(|o| o.hash == rest[0].hash && o.key == rest[0].key)
        {
            reads.remove(i);
        } else {
            i += 1;
        }
    }
    reads
}

/// A waiting entry with what its last check read and wrote.
#[derive(Debug, Clone)]
struct Slot {
    w: Waiting,
    writes: Writes,
    /// The hashes of the keys in `writes`, each once.
    written: Vec<u64>,
    reads: Vec<Read>,
    /// Later entries that read something from `writes` (it may name some
    /// that no longer do: they are only looked at again).
    dependents: Vec<u64>,
    /// Whether it changes membership.
    members: bool,
}

/// A [`Hasher`] for keys that are hashes already (made with the pool's
/// randomly keyed [`RandomState`]).
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// Sequence numbers in ascending order, a single one without an
/// allocation (most keys have one writer, or one reader from the state).
#[derive(Debug, Clone)]
enum Seqs {
    One(u64),
    Many(VecDeque<u64>),
}

impl Seqs {
    /// Adds `seq` in order (again, if it is there already).
    fn insert(&mut self, seq: u64) {
        match self {
            Seqs::One(s) => {
                let mut many = VecDeque::with_capacity(4);
                many.push_back(*s);
                let i = usize::from(*s <= seq);
                many.insert(i, seq);
                *self = Seqs::Many(many);
            }
            Seqs::Many(m) => {
                let i = m.partition_point(|&s| s <= seq);
                m.insert(i, seq);
            }
        }
    }

    /// Removes `seq` once; whether none is left.
    fn remove(&mut self, seq: u64) -> bool {
        match self {
            Seqs::One(s) => *s == seq,
            Seqs::Many(m) => {
                if let Ok(i) = m.binary_search(&seq) {
                    m.remove(i);
                }
                m.is_empty()
            }
        }
    }

    /// Those before `seq`, last first.
    fn before(&self, seq: u64) -> impl Iterator<Item = u64> + '_ {
        let (one, many) = match self {
            Seqs::One(s) => ((*s < seq).then_some(*s), None),
            Seqs::Many(m) => (None, Some(m.range(..m.partition_point(|&s| s < seq)).rev())),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }

    /// All of them.
    fn all(&self) -> impl Iterator<Item = u64> + '_ {
        self.before(u64::MAX)
    }

    /// Those after `seq`.
    fn after(&self, seq: u64) -> impl Iterator<Item = u64> + '_ {
        let (one, many) = match self {
            Seqs::One(s) => ((*s > seq).then_some(*s), None),
            Seqs::Many(m) => (None, Some(m.range(m.partition_point(|&s| s <= seq)..))),
        };
        one.into_iter().chain(many.into_iter().flatten().copied())
    }
}

/// Adds `seq` to the entries filed under `hash`.
fn file(index: &mut ByHash<Seqs>, hash: u64, seq: u64) {
    match index.entry(hash) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().insert(seq),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Seqs::One(seq));
        }
    }
}

/// Removes `seq` once from the entries filed under `hash`.
fn unfile(index: &mut ByHash<Seqs>, hash: u64, seq: u64) {
    if index.get_mut(&hash).is_some_and(|s| s.remove(seq)) {
        index.remove(&hash);
    }
}

/// The waiting entries before sequence number `seq` as an [`Overlay`]
/// reads them (all of them with `u64::MAX`), noting each lookup when
/// `reads` is given.
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    pool: &'a Mempool,
    seq: u64,
    reads: Option<&'a RefCell<Vec<Read>>>,
}

impl<'a> Before<'a> {
    fn get<T: ?Sized>(
        &self,
        key: KeyRef<'_>,
        get: impl Fn(&'a Writes) -> Option<&'a T>,
    ) -> Option<&'a T> {
        let hash = self.pool.hash(key);
        let found = self.pool.writer(hash, self.seq, get);
        if let Some(reads) = self.reads {
            reads.borrow_mut().push(Read {
                key: key.owned(),
                hash,
                from: found.map(|(s, _)| s),
            });
        }
        found.map(|(_, v)| v)
    }
}

impl ChangeSet for Before<'_> {
    fn members(&self) -> &BTreeMap<PublicKey, MemberRecord> {
        &self.pool.members
    }
    fn nonce(&self, key: &PublicKey) -> Option<u64> {
        self.get(KeyRef::Nonce(key), |w| find(&w.nonces, key))
            .copied()
    }
    fn lot(&self, id: &LotId) -> Option<&LotState> {
        self.get(KeyRef::Lot(id), |w| find(&w.lots, id))
    }
    fn shipment(&self, id: &ShipmentId) -> Option<&ShipmentState> {
        self.get(KeyRef::Shipment(id), |w| find(&w.shipments, id))
    }
    fn payment(&self, id: &Uetr) -> Option<&PaymentState> {
        self.get(KeyRef::Payment(id), |w| find(&w.payments, id))
    }
}

/// The pool. See the module documentation.
#[derive(Debug, Clone)]
pub struct Mempool {
    limits: Limits,
    /// In acceptance order; `None` where an entry left from the middle.
    /// (Boxed: the queue moves its items when it grows.)
    queue: VecDeque<Option<Box<Slot>>>,
    /// Sequence number of `queue[0]`; entries are numbered on arrival.
    front: u64,
    /// Entries waiting (the `Some`s in `queue`).
    live: usize,
    /// Entry id → sequence number.
    index: HashMap<EntryId, u64>,
    /// Author → nonce → entry id.
    by_author: BTreeMap<PublicKey, BTreeMap<u64, EntryId>>,
    /// Hashes keys for `writers` and `state_readers`, with a random key:
    /// lot and shipment ids are chosen by members.
    hasher: RandomState,
    /// Key hash → the waiting entries that write a key with that hash,
    /// ascending.
    writers: ByHash<Seqs>,
    /// Key hash → the waiting entries that read a key with that hash from
    /// the committed state.
    state_readers: ByHash<Seqs>,
    /// The member changes of the waiting entries, merged in order.
    members: BTreeMap<PublicKey, MemberRecord>,
    /// Waiting entries that change membership.
    membership: usize,
    bytes: usize,
    /// Verified entries from peers whose nonce skips ahead, by author and
    /// nonce, until the gap fills.
    parked: Parked,
    /// Verified entries from peers at their author's next nonce that name
    /// a lot or shipment not known yet, by author and nonce, retried as
    /// entries arrive and dropped at the next commit.
    orphans: BTreeMap<(PublicKey, u64), (Waiting, Awaited)>,
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
            hasher: RandomState::new(),
            writers: ByHash::default(),
            state_readers: ByHash::default(),
            members: BTreeMap::new(),
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

    /// The changes of every waiting entry, merged in acceptance order:
    /// what [`Mempool::view`] puts on top of the committed state.
    pub fn pending_changes(&self) -> Changes {
        let mut changes = Changes {
            members: self.members.clone(),
            ..Changes::default()
        };
        for slot in self.queue.iter().flatten() {
            slot.writes.merge_into(&mut changes);
        }
        changes
    }

    /// A view of `committed` with the waiting entries applied: what the
    /// next entry is checked against.
    pub fn view<'a>(&'a self, committed: &'a dyn View) -> PendingView<'a> {
        Overlay::owning(committed, self.before(u64::MAX, None))
    }

    fn before<'a>(&'a self, seq: u64, reads: Option<&'a RefCell<Vec<Read>>>) -> Before<'a> {
        Before {
            pool: self,
            seq,
            reads,
        }
    }

    fn hash(&self, key: KeyRef<'_>) -> u64 {
        self.hasher.hash_one(key)
    }

    fn slot(&self, seq: u64) -> Option<&Slot> {
        let i = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        self.queue.get(i)?.as_deref()
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        self.queue.get_mut(i)?.as_deref_mut()
    }

    /// The last waiting entry before `seq` that writes a key hashed
    /// `hash` for which `get` finds a value in its writes, and the value.
    fn writer<'a, T: ?Sized>(
        &'a self,
        hash: u64,
        seq: u64,
        get: impl Fn(&'a Writes) -> Option<&'a T>,
    ) -> Option<(u64, &'a T)> {
        self.writers
            .get(&hash)?
            .before(seq)
            .find_map(|s| Some((s, get(&self.slot(s)?.writes)?)))
    }

    /// Where an entry at `seq` reads `key` from now.
    fn source(&self, key: &Key, hash: u64, seq: u64) -> Option<u64> {
        self.writer(hash, seq, |w| w.writes(key.borrowed()).then_some(&()))
            .map(|(s, _)| s)
    }

    /// Checks `entry` against `committed` (the state after block `height`)
    /// plus the waiting entries before `seq`, noting what it read there.
    fn check(
        &self,
        entry: &SignedEntry,
        id: EntryId,
        committed: &dyn View,
        height: u64,
        seq: u64,
    ) -> (Result<Changes, RuleError>, Vec<Read>) {
        let reads = RefCell::new(Vec::with_capacity(8));
        let result = rules::apply_shaped(
            &Overlay::owning(committed, self.before(seq, Some(&reads))),
            entry,
            id,
            height.saturating_add(1),
            Mode::Ledger,
        );
        (result, distinct(reads.into_inner()))
    }

    /// Checks `entry` (signatures and every rule) against `committed` (the
    /// state after block `height`) plus the waiting entries, and adds it.
    pub fn insert(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        height: u64,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, None, committed, height, true)
            .map_err(|(e, _)| e)
    }

    /// Like [`Mempool::insert`] for an entry whose signatures the caller
    /// has verified already (e.g. outside a lock); the rules are still
    /// checked.
    pub fn insert_verified(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        height: u64,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, None, committed, height, false)
            .map_err(|(e, _)| e)
    }

    /// Like [`Mempool::insert_verified`], with the entry's id and the
    /// length of its canonical bytes, which the caller encoded (see
    /// [`waybill_core::entry::EncodedEntry`]). They must be right: the id
    /// is what the pool and blocks know the entry by.
    pub fn insert_verified_known(
        &mut self,
        entry: SignedEntry,
        known: (EntryId, usize),
        committed: &dyn View,
        height: u64,
    ) -> Result<EntryId, MempoolError> {
        self.add(entry, Some(known), committed, height, false)
            .map_err(|(e, _)| e)
    }

    /// Like [`Mempool::insert_verified`] for an entry from a peer: one
    /// ahead of its author's next nonce is parked (within a bound) rather
    /// than refused, and joins the pool when the entries before it do.
    pub fn insert_from_peer(
        &mut self,
        entry: SignedEntry,
        committed: &dyn View,
        height: u64,
    ) -> Result<FromPeer, MempoolError> {
        self.insert_from_peer_known(entry, None, committed, height)
    }

    /// Like [`Mempool::insert_from_peer`], with the entry's id and the
    /// length of its canonical bytes when the caller knows them (the
    /// gossip layer hashed the bytes it received), which saves encoding
    /// the entry again. They must be right: the id is what the pool and
    /// blocks know the entry by.
    pub fn insert_from_peer_known(
        &mut self,
        entry: SignedEntry,
        known: Option<(EntryId, usize)>,
        committed: &dyn View,
        height: u64,
    ) -> Result<FromPeer, MempoolError> {
        let author = entry.entry.author;
        let nonce = entry.entry.nonce;
        match self.add(entry, known, committed, height, false) {
            Err((MempoolError::Rule(RuleError::NonceGap { expected, .. }), Some(w))) => {
                let Waiting { id, entry, bytes } = w;
                if self.parked.len() >= self.limits.max_entries / PARKED_SHARE {
                    return Err(MempoolError::Rule(RuleError::NonceGap {
                        name: author.short(),
                        got: nonce,
                        expected,
                    }));
                }
                self.parked
                    .insert((author, nonce), Waiting { id, entry, bytes });
                Ok(FromPeer::Parked(id))
            }
            Err((e, Some(w))) if self.orphans.len() < self.limits.max_entries / ORPHAN_SHARE => {
                match Awaited::of(&e) {
                    Some(awaited) => {
                        let id = w.id;
                        self.orphans.insert((author, nonce), (w, awaited));
                        Ok(FromPeer::Orphaned(id))
                    }
                    None => Err(e),
                }
            }
            Ok(id) => {
                self.unpark(&author, nonce, committed, height);
                Ok(FromPeer::Accepted(id))
            }
            Err((e, _)) => Err(e),
        }
    }

    /// Offers the orphans whose lot or shipment is now known again, in
    /// author and nonce order, until none more passes; each that passes
    /// brings in its author's parked entries after it. One that waits for
    /// something else now keeps waiting; one refused for anything else is
    /// dropped. Call after entries were added: they may be what an orphan
    /// waits for. With no orphans, it costs nothing; otherwise one lookup
    /// each.
    pub fn retry_orphans(&mut self, committed: &dyn View, height: u64) {
        let mut progress = true;
        while progress && !self.orphans.is_empty() {
            progress = false;
            let ready: Vec<(PublicKey, u64)> = {
                let view = self.view(committed);
                self.orphans
                    .iter()
                    .filter(|(_, (_, awaited))| awaited.is_in(&view))
                    .map(|(key, _)| *key)
                    .collect()
            };
            for key in ready {
                let Some((w, _)) = self.orphans.remove(&key) else {
                    continue;
                };
                match self.add(w.entry, Some((w.id, w.bytes)), committed, height, false) {
                    Ok(_) => {
                        progress = true;
                        self.unpark(&key.0, key.1, committed, height);
                    }
                    Err((e, Some(w))) => {
                        if let Some(awaited) = Awaited::of(&e) {
                            self.orphans.insert(key, (w, awaited));
                        }
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Moves `author`'s parked entries that now follow `nonce` into the
    /// pool, in nonce order; one that breaks a rule is dropped.
    fn unpark(&mut self, author: &PublicKey, mut nonce: u64, committed: &dyn View, height: u64) {
        while let Some(w) = self.parked.remove(&(*author, nonce.saturating_add(1))) {
            nonce = nonce.saturating_add(1);
            if self
                .add(w.entry, Some((w.id, w.bytes)), committed, height, false)
                .is_err()
            {
                break;
            }
        }
    }

    /// Adds an entry after checking it; on a refusal, the error and (once
    /// its id is known) the entry back, so a caller can park it.
    fn add(
        &mut self,
        entry: SignedEntry,
        known: Option<(EntryId, usize)>,
        committed: &dyn View,
        height: u64,
        check_signatures: bool,
    ) -> Result<EntryId, (MempoolError, Option<Waiting>)> {
        // The entry id is the hash of the canonical bytes.
        let (id, size) = known.unwrap_or_else(|| {
            let encoded = entry.canonical_bytes();
            (Hash32::digest(&encoded), encoded.len())
        });
        if self.index.contains_key(&id) {
            return Err((MempoolError::Duplicate(id), None));
        }
        if self.live >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            return Err((
                MempoolError::Full {
                    entries: self.live,
                    bytes: self.bytes,
                    max_entries: self.limits.max_entries,
                    max_bytes: self.limits.max_bytes,
                },
                None,
            ));
        }
        if check_signatures {
            if let Err(e) = entry.verify_signatures() {
                return Err((RuleError::from(e).into(), None));
            }
        }
        // The size is known, so the shape is checked without measuring
        // the entry again; a recheck then needs only the stateful rules.
        let checked = match rules::check_shape_sized(&entry, size) {
            Ok(()) => self.check(&entry, id, committed, height, u64::MAX),
            Err(e) => (Err(e), Vec::new()),
        };
        let w = Waiting {
            id,
            entry,
            bytes: size,
        };
        match checked {
            (Ok(changes), reads) => {
                self.push(w, changes, reads);
                Ok(id)
            }
            (Err(e), _) => Err((e.into(), Some(w))),
        }
    }

    /// Appends a checked entry with what its check wrote and read.
    fn push(&mut self, w: Waiting, changes: Changes, reads: Vec<Read>) {
        let seq = self.front + self.queue.len() as u64;
        let (writes, members) = Writes::split(changes);
        let touches_members =
            !members.is_empty() || matches!(w.entry.entry.body, Body::Membership(_));
        self.members.extend(members);
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
    fn hashes(&self, writes: &Writes) -> Vec<u64> {
        let mut hashes: Vec<u64> = writes.keys().map(|k| self.hash(k)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    }

    /// Files the reads of the entry at `seq` under where they came from.
    fn register(&mut self, seq: u64, reads: &[Read]) {
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
    fn unregister(&mut self, seq: u64, reads: &[Read]) {
        for r in reads.iter().filter(|r| r.from.is_none()) {
            unfile(&mut self.state_readers, r.hash, seq);
        }
    }

    /// Takes the entry at `seq` out, leaving its place empty.
    fn remove(&mut self, seq: u64) -> Option<Box<Slot>> {
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
        self.bytes -= slot.w.bytes;
        self.live -= 1;
        self.membership -= usize::from(slot.members);
        Some(slot)
    }

    /// Drops the empty places at the front of the queue.
    fn trim_front(&mut self) {
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

    /// After block `height` was committed with entries `committed` and
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
        height: u64,
    ) -> Recheck {
        let report = if self.is_front(committed) {
            self.drop_front(committed)
        } else if self.membership > 0
            || !block.members.is_empty()
            || self.queue.len() - self.live > self.live + TOMBSTONE_SLACK
        {
            self.recheck(committed, state, height)
        } else {
            self.revise(committed, block, state, height)
        };
        // The block may hold what an orphan waits for; one still waiting
        // after that is dropped (a block will carry it if it is valid).
        self.retry_orphans(state, height);
        self.orphans.clear();
        self.unpark_after_commit(state, height);
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
        height: u64,
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
            let (result, reads) = self.check(&slot.w.entry, slot.w.id, state, height, seq);
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
                    let (writes, members) = Writes::split(changes);
                    if !members.is_empty() {
                        // Not from an entry that changes no membership;
                        // should it happen, the next commit rechecks all.
                        self.members.extend(members);
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
    fn recheck(&mut self, committed: &[EntryId], state: &dyn View, height: u64) -> Recheck {
        let committed: HashSet<&EntryId> = committed.iter().collect();
        let old = std::mem::take(&mut self.queue);
        self.front += old.len() as u64;
        self.live = 0;
        self.index.clear();
        self.by_author.clear();
        self.writers.clear();
        self.state_readers.clear();
        self.members.clear();
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
            match self.check(&w.entry, w.id, state, height, u64::MAX) {
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

    /// Parked entries after a commit: gone stale (their nonce is used) or
    /// now next.
    fn unpark_after_commit(&mut self, state: &dyn View, height: u64) {
        let parked: Vec<(PublicKey, u64)> = self.parked.by_key.keys().copied().collect();
        for (author, nonce) in parked {
            let last = self
                .by_author
                .get(&author)
                .and_then(|m| m.keys().next_back().copied())
                .unwrap_or_else(|| state.nonce(&author));
            if nonce <= last {
                self.parked.remove(&(author, nonce));
            } else if nonce == last + 1 {
                if let Some(w) = self.parked.remove(&(author, nonce)) {
                    if self
                        .add(w.entry, Some((w.id, w.bytes)), state, height, false)
                        .is_ok()
                    {
                        self.unpark(&author, nonce, state, height);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
impl Mempool {
    /// What each waiting entry's last check wrote, in order.
    fn writes(&self) -> Vec<Changes> {
        self.queue
            .iter()
            .flatten()
            .map(|s| {
                let mut c = Changes::default();
                s.writes.merge_into(&mut c);
                c
            })
            .collect()
    }

    /// Panics unless every index agrees with the entries, and each entry,
    /// checked again now against `state` (after block `height`) plus the
    /// entries before it, passes with the writes and reads it holds.
    fn assert_consistent(&self, state: &dyn View, height: u64) {
        let mut live = 0;
        let mut from_state = 0;
        for (i, slot) in self.queue.iter().enumerate() {
            let seq = self.front + i as u64;
            let Some(slot) = slot else { continue };
            live += 1;
            assert_eq!(self.index.get(&slot.w.id), Some(&seq));
            assert_eq!(slot.written, self.hashes(&slot.writes));
            for h in &slot.written {
                assert!(self.writers[h].all().any(|s| s == seq));
            }
            let (result, reads) = self.check(&slot.w.entry, slot.w.id, state, height, seq);
            let (writes, _) = Writes::split(result.unwrap());
            assert_eq!(writes, slot.writes, "writes of {seq}");
            let keys = |rs: &[Read]| -> Vec<(Key, Option<u64>)> {
                rs.iter().map(|r| (r.key.clone(), r.from)).collect()
            };
            assert_eq!(keys(&reads), keys(&slot.reads), "reads of {seq}");
            for r in &slot.reads {
                assert_eq!(r.hash, self.hash(r.key.borrowed()));
                match r.from {
                    None => {
                        from_state += 1;
                        assert!(self.state_readers[&r.hash].all().any(|s| s == seq));
                    }
                    Some(w) => assert!(self.slot(w).unwrap().dependents.contains(&seq)),
                }
            }
        }
        assert_eq!(live, self.live);
        assert_eq!(
            self.state_readers
                .values()
                .map(|s| s.all().count())
                .sum::<usize>(),
            from_state
        );
        for (h, seqs) in &self.writers {
            let seqs: Vec<u64> = seqs.all().collect();
            assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
            for s in seqs {
                assert!(self.slot(s).unwrap().written.contains(h));
            }
        }
        for seqs in self.state_readers.values() {
            let seqs: Vec<u64> = seqs.all().collect();
            assert!(seqs.windows(2).all(|w| w[0] >= w[1]), "{seqs:?}");
        }
        assert!(self.queue.front().is_none_or(Option::is_some));
    }
}

/// The committed state with the pool's waiting entries on top.
pub type PendingView<'a> = Overlay<'a, dyn View + 'a, Before<'a>>;

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use waybill_core::codes::{Decimal3, Incoterm, UnitCode};
    use waybill_core::crypto;
    use waybill_core::entry::{
        Body, Dispatch, Entry, Input, Location, MembershipChange, Payment, PaymentMethod,
        PaymentStatus, Produce, Product, Quantity, Receive, Reject, ENTRY_VERSION,
    };
    use waybill_core::genesis::{Genesis, MemberSpec, Role, ValidatorSpec};
    use waybill_core::gs1::{LotId, ShipmentId};
    use waybill_core::state::{LotStatus, Overlay, State};

    struct Party {
        key: SigningKey,
        pk: PublicKey,
    }

    fn party(seed: u8) -> Party {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Party {
            pk: crypto::public_key(&key),
            key,
        }
    }

    struct World {
        state: State,
        producer: Party,
        retailer: Party,
        carrier: Party,
        admin: Party,
    }

    fn world() -> World {
        let producer = party(1);
        let retailer = party(2);
        let carrier = party(3);
        let admin = party(4);
        let member = |name: &str, p: &Party, role: Role| MemberSpec {
            name: name.into(),
            public_key: p.pk,
            roles: vec![role],
            country: None,
            gs1_company_prefixes: Vec::new(),
        };
        let state = genesis_state(
            "mempool-tests",
            vec![
                member("Producer", &producer, Role::Producer),
                member("Retailer", &retailer, Role::Retailer),
                member("Carrier", &carrier, Role::Carrier),
                member("Admin", &admin, Role::Admin),
            ],
        );
        World {
            state,
            producer,
            retailer,
            carrier,
            admin,
        }
    }

    /// The state at genesis of a chain of `members` and one validator.
    fn genesis_state(chain: &str, members: Vec<MemberSpec>) -> State {
        let genesis = Genesis {
            chain_name: chain.into(),
            members,
            validators: vec![ValidatorSpec {
                name: "v".into(),
                public_key: party(100).pk,
                power: 1,
                p2p: Vec::new(),
            }],
            consensus: Default::default(),
            governance: Default::default(),
        };
        genesis.validate().unwrap();
        State::genesis(&genesis)
    }

    fn lot(s: &str) -> LotId {
        s.parse().unwrap()
    }

    fn ship(s: &str) -> ShipmentId {
        s.parse().unwrap()
    }

    fn sign(w: &World, who: &Party, nonce: u64, body: Body) -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: w.state.chain_id,
            author: who.pk,
            nonce,
            recorded_at_ms: 1_700_000_000_000,
            body,
        }
        .sign(&who.key)
    }

    fn produce(w: &World, nonce: u64, l: &str) -> SignedEntry {
        sign(
            w,
            &w.producer,
            nonce,
            Body::Produce(Produce {
                lot: lot(l),
                product: Product {
                    gtin: None,
                    id: None,
                    description: format!("coffee {l}"),
                },
                quantity: Quantity {
                    value: Decimal3::from_milli(1_000_000),
                    unit: UnitCode::Kgm,
                },
                origin: Location::default(),
                produced_at_ms: 1_700_000_000_000,
                certificates: Vec::new(),
                documents: Vec::new(),
                inputs: Vec::new(),
            }),
        )
    }

    fn dispatch(w: &World, who: &Party, nonce: u64, s: &str, l: &str, to: &Party) -> SignedEntry {
        sign(
            w,
            who,
            nonce,
            Body::Dispatch(Dispatch {
                shipment: ship(s),
                lots: vec![lot(l)],
                consignee: to.pk,
                carrier: None,
                from: Location::default(),
                to: Location::default(),
                documents: Vec::new(),
            }),
        )
    }

    fn receive(w: &World, who: &Party, nonce: u64, s: &str) -> SignedEntry {
        sign(
            w,
            who,
            nonce,
            Body::Receive(Receive {
                shipment: ship(s),
                at: Location::default(),
                documents: Vec::new(),
            }),
        )
    }

    /// Commits `entries` as block `height` to `state` (as the ledger
    /// would): their ids and the block's writes.
    fn commit(state: &mut State, entries: &[SignedEntry], height: u64) -> (Vec<EntryId>, Changes) {
        let applied = rules::apply_block(&*state, entries, height).unwrap();
        state.commit(applied.changes.clone());
        (entries.iter().map(|e| e.id()).collect(), applied.changes)
    }

    #[test]
    fn next_nonces_of_waiting_authors_are_accepted() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        let a = produce(&w, 1, "LOT-A");
        let b = produce(&w, 2, "LOT-B");
        let c = produce(&w, 3, "LOT-C");
        let ida = pool.insert(a.clone(), &w.state, 0).unwrap();
        let idb = pool.insert(b.clone(), &w.state, 0).unwrap();
        let idc = pool.insert(c.clone(), &w.state, 0).unwrap();
        assert_eq!((ida, idb, idc), (a.id(), b.id(), c.id()));
        assert_eq!(pool.len(), 3);
        assert_eq!(
            pool.bytes(),
            [&a, &b, &c]
                .iter()
                .map(|e| e.canonical_bytes().len())
                .sum::<usize>()
        );
        assert_eq!(pool.get(&idb), Some(&b));
        assert!(pool.contains(&idc));
        assert_eq!(
            pool.by_author(&w.producer.pk).collect::<Vec<_>>(),
            vec![(1, ida), (2, idb), (3, idc)]
        );
        assert_eq!(pool.view(&w.state).nonce(&w.producer.pk), 3);

        // A replayed nonce and a gap are refused with the rule's error.
        let replay = produce(&w, 2, "LOT-X");
        assert!(matches!(
            pool.insert(replay, &w.state, 0),
            Err(MempoolError::Rule(RuleError::NonceReplayed {
                got: 2,
                expected: 4,
                ..
            }))
        ));
        let gap = produce(&w, 9, "LOT-Y");
        assert!(matches!(
            pool.insert(gap, &w.state, 0),
            Err(MempoolError::Rule(RuleError::NonceGap {
                got: 9,
                expected: 4,
                ..
            }))
        ));
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn entries_from_peers_that_name_an_unknown_shipment_wait_for_it_until_a_commit() {
        let w = world();
        let p1 = produce(&w, 1, "LOT-A");
        let p2 = dispatch(&w, &w.producer, 2, "S-1", "LOT-A", &w.retailer);
        let r1 = receive(&w, &w.retailer, 1, "S-1");
        let r2 = dispatch(&w, &w.retailer, 2, "S-2", "LOT-A", &w.producer);

        // The retailer's receipt comes before the dispatch it receives, and
        // the retailer's next entry after it.
        let mut pool = Mempool::new(Limits::default());
        assert_eq!(
            pool.insert_from_peer(r1.clone(), &w.state, 0),
            Ok(FromPeer::Orphaned(r1.id()))
        );
        assert_eq!(
            pool.insert_from_peer(r2.clone(), &w.state, 0),
            Ok(FromPeer::Parked(r2.id()))
        );
        assert_eq!((pool.len(), pool.orphans(), pool.parked()), (0, 1, 1));
        assert_eq!(
            pool.insert_from_peer(p1.clone(), &w.state, 0),
            Ok(FromPeer::Accepted(p1.id()))
        );
        pool.retry_orphans(&w.state, 0);
        assert_eq!((pool.len(), pool.orphans(), pool.parked()), (1, 1, 1));
        assert_eq!(
            pool.insert_from_peer(p2.clone(), &w.state, 0),
            Ok(FromPeer::Accepted(p2.id()))
        );
        pool.retry_orphans(&w.state, 0);
        assert_eq!((pool.len(), pool.orphans(), pool.parked()), (4, 0, 0));
        assert_eq!(
            pool.take(10),
            vec![p1.clone(), p2.clone(), r1.clone(), r2.clone()]
        );

        // A block that makes the shipment lets the orphan in; an orphan
        // still waiting after a commit is dropped.
        for (block, joined) in [
            (vec![p1.clone(), p2.clone()], true),
            (vec![p1.clone()], false),
        ] {
            let mut state = w.state.clone();
            let mut pool = Mempool::new(Limits::default());
            assert!(matches!(
                pool.insert_from_peer(r1.clone(), &state, 0),
                Ok(FromPeer::Orphaned(_))
            ));
            assert!(matches!(
                pool.insert_from_peer(r2.clone(), &state, 0),
                Ok(FromPeer::Parked(_))
            ));
            let (ids, block) = commit(&mut state, &block, 1);
            pool.on_commit(&ids, &block, &state, 1);
            assert_eq!(pool.orphans(), 0);
            if joined {
                assert_eq!(pool.take(10), vec![r1.clone(), r2.clone()]);
            } else {
                assert!(pool.is_empty());
                assert!(!pool.contains(&r1.id()));
            }
        }

        // Orphans are bounded; API submissions naming an unknown shipment
        // are still refused.
        let mut pool = Mempool::new(Limits {
            max_entries: ORPHAN_SHARE,
            max_bytes: 1 << 20,
        });
        assert!(matches!(
            pool.insert_from_peer(r1.clone(), &w.state, 0),
            Ok(FromPeer::Orphaned(_))
        ));
        let r1_other = receive(&w, &w.retailer, 1, "S-9");
        assert!(matches!(
            pool.insert_from_peer(r1_other.clone(), &w.state, 0),
            Err(MempoolError::Rule(RuleError::UnknownShipment(_)))
        ));
        assert!(matches!(
            Mempool::new(Limits::default()).insert(r1.clone(), &w.state, 0),
            Err(MempoolError::Rule(RuleError::UnknownShipment(_)))
        ));
    }

    #[test]
    fn entries_from_peers_ahead_of_their_nonce_wait_for_the_gap() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        let e: Vec<SignedEntry> = (1..=4)
            .map(|n| produce(&w, n, &format!("LOT-{n}")))
            .collect();
        // 3 and 4 arrive first: parked, not in the pool, not proposed.
        for x in [&e[3], &e[2]] {
            assert_eq!(
                pool.insert_from_peer(x.clone(), &w.state, 0),
                Ok(FromPeer::Parked(x.id()))
            );
        }
        assert_eq!((pool.len(), pool.parked()), (0, 2));
        assert!(pool.take(10).is_empty());
        // Parked entries were verified: a block holding them need not
        // verify them again.
        assert!(!pool.contains(&e[3].id()) && pool.verified(&e[3].id()));
        assert!(!pool.verified(&e[0].id()));
        // 1 fills nothing yet (2 is missing); 2 releases 3 and 4 in order.
        assert_eq!(
            pool.insert_from_peer(e[0].clone(), &w.state, 0),
            Ok(FromPeer::Accepted(e[0].id()))
        );
        assert_eq!((pool.len(), pool.parked()), (1, 2));
        assert_eq!(
            pool.insert_from_peer(e[1].clone(), &w.state, 0),
            Ok(FromPeer::Accepted(e[1].id()))
        );
        assert_eq!((pool.len(), pool.parked()), (4, 0));
        assert_eq!(pool.take(10), e);

        // A parked entry whose gap a block fills joins on commit; one whose
        // nonce a block used is dropped.
        let mut pool = Mempool::new(Limits::default());
        let mut state = w.state.clone();
        assert_eq!(
            pool.insert_from_peer(e[2].clone(), &state, 0),
            Ok(FromPeer::Parked(e[2].id()))
        );
        let other = produce(&w, 3, "LOT-OTHER");
        assert_eq!(
            pool.insert_from_peer(other.clone(), &state, 0),
            Ok(FromPeer::Parked(other.id())),
            "a second entry for the same nonce replaces the first while parked"
        );
        assert!(pool.verified(&other.id()) && !pool.verified(&e[2].id()));
        let (ids, block) = commit(&mut state, &e[..2], 1);
        pool.on_commit(&ids, &block, &state, 1);
        assert_eq!((pool.len(), pool.parked()), (1, 0));
        assert_eq!(pool.take(1), vec![other.clone()]);
        assert!(pool.contains(&other.id()) && pool.verified(&other.id()));

        // Parking is bounded; API submissions with a gap are still refused.
        let mut pool = Mempool::new(Limits {
            max_entries: 4,
            max_bytes: 1 << 20,
        });
        assert!(matches!(
            pool.insert_from_peer(e[2].clone(), &w.state, 0),
            Ok(FromPeer::Parked(_))
        ));
        assert!(matches!(
            pool.insert_from_peer(e[3].clone(), &w.state, 0),
            Err(MempoolError::Rule(RuleError::NonceGap { .. }))
        ));
        assert!(matches!(
            pool.insert(e[3].clone(), &w.state, 0),
            Err(MempoolError::Rule(RuleError::NonceGap { .. }))
        ));
    }

    #[test]
    fn duplicates_are_refused() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        let a = produce(&w, 1, "LOT-A");
        let id = pool.insert(a.clone(), &w.state, 0).unwrap();
        assert_eq!(
            pool.insert(a, &w.state, 0),
            Err(MempoolError::Duplicate(id))
        );
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn rules_see_the_waiting_entries() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        pool.insert(produce(&w, 1, "LOT-A"), &w.state, 0).unwrap();
        // The lot exists only in the pool, yet may be dispatched by its holder...
        pool.insert(
            dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
            &w.state,
            0,
        )
        .unwrap();
        // ...and received by the consignee.
        pool.insert(receive(&w, &w.retailer, 1, "SHIP-1"), &w.state, 0)
            .unwrap();
        // Now the retailer holds it: the producer can no longer ship it.
        let err = pool
            .insert(
                dispatch(&w, &w.producer, 3, "SHIP-2", "LOT-A", &w.carrier),
                &w.state,
                0,
            )
            .unwrap_err();
        assert!(
            matches!(err, MempoolError::Rule(RuleError::NotCustodian { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("does not hold lot LOT-A"), "{err}");
        // A lot nobody made.
        let err = pool
            .insert(
                dispatch(&w, &w.producer, 3, "SHIP-3", "LOT-NONE", &w.carrier),
                &w.state,
                0,
            )
            .unwrap_err();
        assert!(matches!(err, MempoolError::Rule(RuleError::UnknownLot(_))));
        // The refused entries changed nothing: nonce 3 is still next.
        pool.insert(produce(&w, 3, "LOT-B"), &w.state, 0).unwrap();
        assert_eq!(pool.len(), 4);
        // A prefix in acceptance order is a valid block.
        let block = pool.take(10);
        assert_eq!(block.len(), 4);
        rules::apply_block(&w.state, &block, 1).unwrap();
    }

    #[test]
    fn bad_signatures_are_refused() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        let mut e = produce(&w, 1, "LOT-A");
        e.signature.0[0] ^= 1;
        let err = pool.insert(e, &w.state, 0).unwrap_err();
        assert!(
            matches!(err, MempoolError::Rule(RuleError::Signature(_))),
            "{err}"
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let w = world();
        let mut pool = Mempool::new(Limits {
            max_entries: 2,
            max_bytes: usize::MAX,
        });
        pool.insert(produce(&w, 1, "LOT-A"), &w.state, 0).unwrap();
        pool.insert(produce(&w, 2, "LOT-B"), &w.state, 0).unwrap();
        let err = pool
            .insert(produce(&w, 3, "LOT-C"), &w.state, 0)
            .unwrap_err();
        assert!(matches!(err, MempoolError::Full { entries: 2, .. }));
        assert!(err.to_string().contains("the mempool is full"), "{err}");

        let one = produce(&w, 1, "LOT-A").canonical_bytes().len();
        let mut pool = Mempool::new(Limits {
            max_entries: 100,
            max_bytes: one * 2 + one / 2,
        });
        pool.insert(produce(&w, 1, "LOT-A"), &w.state, 0).unwrap();
        pool.insert(produce(&w, 2, "LOT-B"), &w.state, 0).unwrap();
        assert!(matches!(
            pool.insert(produce(&w, 3, "LOT-C"), &w.state, 0),
            Err(MempoolError::Full { .. })
        ));
        assert_eq!(pool.len(), 2);
        assert!(pool.bytes() <= pool.limits().max_bytes);

        // A commit makes room again.
        let mut state = w.state.clone();
        let (ids, block) = commit(&mut state, &pool.take(1), 1);
        let r = pool.on_commit(&ids, &block, &state, 1);
        assert_eq!(r.committed, 1);
        assert!(r.dropped.is_empty());
        pool.insert(produce(&w, 3, "LOT-C"), &state, 1).unwrap();
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn take_keeps_order_and_does_not_remove() {
        let w = world();
        let mut pool = Mempool::new(Limits::default());
        let es: Vec<_> = (1..=5)
            .map(|n| produce(&w, n, &format!("LOT-{n}")))
            .collect();
        for e in &es {
            pool.insert(e.clone(), &w.state, 0).unwrap();
        }
        assert_eq!(pool.take(3), es[..3].to_vec());
        assert_eq!(pool.take(100), es);
        assert_eq!(pool.len(), 5);
        let one = es[0].canonical_bytes().len();
        assert_eq!(pool.take_within(100, one * 2), es[..2].to_vec());
        assert_eq!(pool.take_within(1, usize::MAX), es[..1].to_vec());
        assert!(pool.take_within(100, one - 1).is_empty());
    }

    /// The pool's view of `state` equals `state` with `changes` on top,
    /// for everything the test entries touch.
    fn assert_same_view(
        w: &World,
        pool: &Mempool,
        state: &State,
        changes: &Changes,
        lots: &[&str],
    ) {
        let view = pool.view(state);
        let expected = Overlay::over(state as &dyn View, changes);
        for p in [&w.producer, &w.retailer, &w.carrier, &w.admin] {
            assert_eq!(view.nonce(&p.pk), expected.nonce(&p.pk));
            assert_eq!(view.member(&p.pk), expected.member(&p.pk));
        }
        for l in lots {
            assert_eq!(view.lot(&lot(l)), expected.lot(&lot(l)), "{l}");
        }
    }

    /// A pool holding the producer's entries with nonces 1 to 4.
    fn pool_of_four(w: &World) -> (Mempool, Vec<SignedEntry>) {
        let mut pool = Mempool::new(Limits::default());
        let es: Vec<_> = (1..=4)
            .map(|n| produce(w, n, &format!("LOT-{n}")))
            .collect();
        for e in &es {
            pool.insert(e.clone(), &w.state, 0).unwrap();
        }
        (pool, es)
    }

    #[test]
    fn on_commit_of_the_front_keeps_the_rest_without_a_recheck() {
        let w = world();
        let (mut pool, es) = pool_of_four(&w);
        let mut state = w.state.clone();
        let (ids, block) = commit(&mut state, &pool.take(2), 1);
        let r = pool.on_commit(&ids, &block, &state, 1);
        assert_eq!(r.committed, 2);
        assert!(r.dropped.is_empty());
        assert_eq!(pool.take(10), es[2..].to_vec());
        assert_eq!(pool.len(), 2);
        assert_eq!(
            pool.bytes(),
            es[2..]
                .iter()
                .map(|e| e.canonical_bytes().len())
                .sum::<usize>()
        );
        assert!(pool.get(&es[0].id()).is_none());
        assert_eq!(pool.get(&es[3].id()), Some(&es[3]));
        // The view is the new state with the rest on top.
        let rest = rules::apply_block(&state, &es[2..], 2).unwrap();
        assert_eq!(pool.pending_changes(), rest.changes);
        assert_same_view(
            &w,
            &pool,
            &state,
            &rest.changes,
            &["LOT-1", "LOT-2", "LOT-3", "LOT-4"],
        );
        assert_eq!(
            pool.by_author(&w.producer.pk)
                .map(|(n, _)| n)
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        // The next nonce follows the pool.
        let fifth = produce(&w, 5, "LOT-5");
        pool.insert(fifth.clone(), &state, 1).unwrap();
        assert_eq!(pool.get(&fifth.id()), Some(&fifth));
        // Committing the rest empties the pending set.
        let (ids, block) = commit(&mut state, &pool.take(10), 2);
        let r = pool.on_commit(&ids, &block, &state, 2);
        assert_eq!((r.committed, pool.len()), (3, 0));
        assert!(pool.pending_changes().is_empty());
        assert!(pool.by_author(&w.producer.pk).next().is_none());
    }

    #[test]
    fn on_commit_of_anything_but_the_front_rechecks_and_rebuilds_pending() {
        let w = world();
        let (mut pool, es) = pool_of_four(&w);
        // A block with the first entry and a competing second one (nonce 2,
        // another lot) that this pool never saw.
        let mut state = w.state.clone();
        let block = vec![es[0].clone(), produce(&w, 2, "LOT-X")];
        let (ids, block) = commit(&mut state, &block, 1);
        let r = pool.on_commit(&ids, &block, &state, 1);
        assert_eq!(r.committed, 1);
        assert_eq!(
            r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![es[1].id()]
        );
        assert_eq!(pool.take(10), es[2..].to_vec());
        let rest = rules::apply_block(&state, &es[2..], 2).unwrap();
        assert_eq!(pool.pending_changes(), rest.changes);
        assert_eq!(pool.get(&es[2].id()), Some(&es[2]));
    }

    #[test]
    fn on_commit_drops_entries_that_became_invalid() {
        let w = world();
        let mut state = w.state.clone();
        commit(&mut state, &[produce(&w, 1, "LOT-A")], 1);

        let mut pool = Mempool::new(Limits::default());
        // Nonce 2 makes another lot; nonce 3 ships LOT-A to the retailer.
        let other = produce(&w, 2, "LOT-B");
        let ours = dispatch(&w, &w.producer, 3, "SHIP-1", "LOT-A", &w.retailer);
        pool.insert(other.clone(), &state, 1).unwrap();
        pool.insert(ours.clone(), &state, 1).unwrap();
        let later = produce(&w, 4, "LOT-C");
        pool.insert(later.clone(), &state, 1).unwrap();

        // Another proposer's block: the producer's nonce 2 ships LOT-A
        // elsewhere, by a different path (to the carrier, SHIP-2).
        let theirs = dispatch(&w, &w.producer, 2, "SHIP-2", "LOT-A", &w.carrier);
        let (ids, block) = commit(&mut state, &[theirs], 2);
        let r = pool.on_commit(&ids, &block, &state, 2);
        assert_eq!(r.committed, 0);
        let reasons: Vec<_> = r.dropped.iter().map(|d| (d.id, d.error.clone())).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, other.id());
        assert!(matches!(
            reasons[0].1,
            RuleError::NonceReplayed { got: 2, .. }
        ));
        assert_eq!(reasons[1].0, ours.id());
        assert!(
            matches!(reasons[1].1, RuleError::LotInTransit { .. }),
            "{:?}",
            reasons[1].1
        );
        // LOT-C's production (nonce 4) now has a gap: nonce 3 was dropped.
        assert_eq!(reasons[2].0, later.id());
        assert!(matches!(reasons[2].1, RuleError::NonceGap { got: 4, .. }));
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
        assert!(pool.pending_changes().is_empty());
        assert_eq!(
            state.lots.get(&lot("LOT-A")).map(|l| &l.status),
            Some(&LotStatus::InTransit {
                shipment: ship("SHIP-2")
            })
        );
        // Nonce 3 is free again for the producer.
        pool.insert(produce(&w, 3, "LOT-D"), &state, 2).unwrap();
    }

    #[test]
    fn pending_view_matches_overlay() {
        let w = world();
        let entries = vec![
            produce(&w, 1, "LOT-A"),
            dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
            receive(&w, &w.retailer, 1, "SHIP-1"),
        ];
        let mut overlay = Overlay::new(&w.state);
        let mut pool = Mempool::new(Limits::default());
        for e in &entries {
            let c = rules::apply(&overlay, e, e.id(), 1).unwrap();
            overlay.push(c);
            pool.insert(e.clone(), &w.state, 0).unwrap();
        }
        let view = pool.view(&w.state);
        for p in [&w.producer, &w.retailer, &w.carrier, &w.admin] {
            assert_eq!(view.nonce(&p.pk), overlay.nonce(&p.pk));
            assert_eq!(view.member(&p.pk), overlay.member(&p.pk));
        }
        assert_eq!(view.active_admins(), overlay.active_admins());
        assert_eq!(
            view.active_member_named("Retailer"),
            overlay.active_member_named("Retailer")
        );
        assert_eq!(view.lot(&lot("LOT-A")), overlay.lot(&lot("LOT-A")));
        assert_eq!(
            view.shipment(&ship("SHIP-1")),
            overlay.shipment(&ship("SHIP-1"))
        );
        assert_eq!(view.chain_id(), overlay.chain_id());
        assert_eq!(&pool.pending_changes(), overlay.changes());
    }

    fn produce_from(w: &World, nonce: u64, l: &str, input: &str, milli: u64) -> SignedEntry {
        let mut e = produce(w, nonce, l);
        let Body::Produce(p) = &mut e.entry.body else {
            unreachable!()
        };
        p.inputs = vec![Input {
            lot: lot(input),
            quantity: Decimal3::from_milli(milli),
        }];
        e.entry.sign(&w.producer.key)
    }

    #[test]
    fn a_commit_rechecks_only_what_it_changed_and_passes_changes_on() {
        let w = world();
        let mut state = w.state.clone();
        commit(&mut state, &[produce(&w, 1, "LOT-A")], 1);
        // The producer uses 400 then 300 of LOT-A's 1,000 and ships the
        // rest to the retailer, who receives it.
        let mut pool = Mempool::new(Limits::default());
        let uses = produce_from(&w, 2, "LOT-B", "LOT-A", 400_000);
        let waiting = vec![
            uses.clone(),
            produce_from(&w, 3, "LOT-C", "LOT-A", 300_000),
            dispatch(&w, &w.producer, 4, "SHIP-1", "LOT-A", &w.retailer),
            receive(&w, &w.retailer, 1, "SHIP-1"),
        ];
        for e in &waiting {
            pool.insert(e.clone(), &state, 1).unwrap();
        }
        let remaining =
            |pool: &Mempool, state: &State| pool.view(state).lot(&lot("LOT-A")).unwrap().remaining;
        assert_eq!(remaining(&pool, &state), Decimal3::from_milli(300_000));
        // Another proposer's block: the producer's nonce 2 used 100.
        let (ids, block) = commit(
            &mut state,
            &[produce_from(&w, 2, "LOT-D", "LOT-A", 100_000)],
            2,
        );
        let r = pool.on_commit(&ids, &block, &state, 2);
        assert_eq!(
            r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![uses.id()]
        );
        assert_eq!(r.rechecked, 4);
        assert_eq!(pool.take(10), waiting[1..].to_vec());
        // Each later entry now writes LOT-A with 600 left.
        let expected = rules::apply_block(&state, &waiting[1..], 3)
            .unwrap()
            .changes;
        assert_eq!(pool.pending_changes(), expected);
        let lot_a = &expected.lots[&lot("LOT-A")];
        assert_eq!(lot_a.remaining, Decimal3::from_milli(600_000));
        assert_eq!(lot_a.custodian, w.retailer.pk);
        pool.assert_consistent(&state, 2);

        // A block of the pool's front re-checks nothing.
        let front = pool.take(2);
        let (ids, block) = commit(&mut state, &front, 3);
        let r = pool.on_commit(&ids, &block, &state, 3);
        assert_eq!((r.committed, r.rechecked), (2, 0));
        assert_eq!(pool.take(10), waiting[3..].to_vec());
        pool.assert_consistent(&state, 3);
    }

    #[test]
    fn a_membership_change_makes_a_commit_check_every_entry_again() {
        let w = world();
        let mut state = w.state.clone();
        let remove = sign(
            &w,
            &w.admin,
            1,
            Body::Membership(MembershipChange::Remove {
                public_key: w.retailer.pk,
            }),
        );
        let waiting = vec![
            produce(&w, 1, "LOT-A"),
            dispatch(&w, &w.producer, 2, "SHIP-1", "LOT-A", &w.retailer),
            receive(&w, &w.retailer, 1, "SHIP-1"),
            remove.clone(),
        ];
        let mut pool = Mempool::new(Limits::default());
        for e in &waiting {
            pool.insert(e.clone(), &state, 0).unwrap();
        }
        // The removal, committed alone, ends the shipment to the retailer
        // and its receipt; the block changes membership, so every entry is
        // checked again.
        let (ids, block) = commit(&mut state, &[remove], 1);
        let r = pool.on_commit(&ids, &block, &state, 1);
        assert_eq!((r.committed, r.rechecked), (1, 3));
        assert_eq!(
            r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![waiting[1].id(), waiting[2].id()]
        );
        assert!(matches!(
            r.dropped[0].error,
            RuleError::BadCounterparty { .. }
        ));
        assert!(matches!(
            r.dropped[1].error,
            RuleError::AuthorRemoved { .. }
        ));
        assert_eq!(pool.take(10), waiting[..1].to_vec());
        pool.assert_consistent(&state, 1);
        // With no membership change left in the pool, a commit that is not
        // its front looks only at what the block touched: the producer's
        // entry, which read the nonce the block's entry wrote.
        let other = produce(&w, 1, "LOT-X");
        let (ids, block) = commit(&mut state, &[other], 2);
        let r = pool.on_commit(&ids, &block, &state, 2);
        assert_eq!((r.committed, r.rechecked, r.dropped.len()), (0, 1, 1));
        assert!(pool.is_empty());
    }

    #[test]
    fn seqs_stay_in_order() {
        let mut s = Seqs::One(5);
        for x in [9, 7, 9, 1] {
            s.insert(x);
        }
        assert_eq!(s.all().collect::<Vec<_>>(), vec![9, 9, 7, 5, 1]);
        assert_eq!(s.before(9).collect::<Vec<_>>(), vec![7, 5, 1]);
        assert_eq!(s.before(10).collect::<Vec<_>>(), vec![9, 9, 7, 5, 1]);
        assert_eq!(s.after(5).collect::<Vec<_>>(), vec![7, 9, 9]);
        assert!(!s.remove(9) && !s.remove(4));
        assert_eq!(s.all().collect::<Vec<_>>(), vec![9, 7, 5, 1]);
        for x in [9, 7, 5] {
            assert!(!s.remove(x));
        }
        assert!(s.remove(1));
        let mut one = Seqs::One(3);
        assert_eq!(one.before(3).count() + one.after(3).count(), 0);
        assert!(!one.remove(2) && one.remove(3));
    }

    /// Members who trade with each other, for random walks.
    fn market() -> (State, Vec<Party>) {
        let parties: Vec<Party> = (11..=15).map(party).collect();
        let roles = [
            vec![Role::Producer, Role::Payer],
            vec![Role::Producer],
            vec![Role::Carrier],
            vec![Role::Retailer, Role::Payer],
            vec![Role::Retailer],
        ];
        let members = parties
            .iter()
            .zip(roles)
            .enumerate()
            .map(|(i, (p, roles))| MemberSpec {
                name: format!("M{i}"),
                public_key: p.pk,
                roles,
                country: None,
                gs1_company_prefixes: Vec::new(),
            })
            .collect();
        (genesis_state("mempool-walks", members), parties)
    }

    /// A random entry by `who` at its next nonce in `view`; lots,
    /// shipments and payments come from small sets of ids, so that walks
    /// collide.
    fn random_entry(
        rng: &mut ChaCha8Rng,
        view: &dyn View,
        parties: &[Party],
        who: &Party,
    ) -> Entry {
        let mut pick = |n: u64| rng.next_u64() % n;
        let lot = |n: u64| lot(&format!("L{n}"));
        let ship = |n: u64| ship(&format!("S{n}"));
        let other = parties[pick(parties.len() as u64) as usize].pk;
        let body = match pick(6) {
            0 | 1 => Body::Produce(Produce {
                lot: lot(pick(6)),
                product: Product {
                    gtin: None,
                    id: None,
                    description: "beans".into(),
                },
                quantity: Quantity {
                    value: Decimal3::from_milli(1_000 * (1 + pick(4))),
                    unit: UnitCode::Kgm,
                },
                origin: Location::default(),
                produced_at_ms: 1_700_000_000_000,
                certificates: Vec::new(),
                documents: Vec::new(),
                inputs: if pick(2) == 0 {
                    Vec::new()
                } else {
                    vec![Input {
                        lot: lot(pick(6)),
                        quantity: Decimal3::from_milli(500 * (1 + pick(3))),
                    }]
                },
            }),
            2 => Body::Dispatch(Dispatch {
                shipment: ship(pick(4)),
                lots: (0..1 + pick(2)).map(|_| lot(pick(6))).collect(),
                consignee: other,
                carrier: (pick(2) == 0).then_some(parties[2].pk),
                from: Location::default(),
                to: Location::default(),
                documents: Vec::new(),
            }),
            3 => Body::Receive(Receive {
                shipment: ship(pick(4)),
                at: Location::default(),
                documents: Vec::new(),
            }),
            4 => Body::Reject(Reject {
                shipment: ship(pick(4)),
                reason: "damaged".into(),
            }),
            _ => Body::Payment(Payment {
                payment_id: format!("00000000-0000-4000-8000-{:012x}", pick(4))
                    .parse()
                    .unwrap(),
                payer: who.pk,
                payee: other,
                amount_minor: 100 + pick(100),
                currency: "USD".parse().unwrap(),
                settlement: None,
                incoterm: Incoterm::Fob,
                shipments: vec![ship(pick(4))],
                customs: None,
                method: PaymentMethod::SwiftTransfer,
                status: PaymentStatus::Settled,
            }),
        };
        Entry {
            version: ENTRY_VERSION,
            chain_id: *view.chain_id(),
            author: who.pk,
            nonce: view.nonce(&who.pk) + 1,
            recorded_at_ms: 1_700_000_000_000,
            body,
        }
    }

    /// `from` and `steps` more valid entries in a row on top of `state`,
    /// each the first of a few random tries that passes the rules.
    fn walk(
        rng: &mut ChaCha8Rng,
        state: &State,
        parties: &[Party],
        from: &[SignedEntry],
        steps: usize,
    ) -> Vec<SignedEntry> {
        let mut overlay = Overlay::new(state);
        for e in from {
            overlay.push(rules::apply(&overlay, e, e.id(), 1).unwrap());
        }
        let mut out = from.to_vec();
        for _ in 0..steps {
            for _ in 0..20 {
                let who = &parties[(rng.next_u64() % parties.len() as u64) as usize];
                let entry = random_entry(rng, &overlay, parties, who);
                // Tried unsigned (signing is the slow part), then signed.
                let unsigned = SignedEntry {
                    entry,
                    signature: crypto::Signature([0; 64]),
                    cosignatures: Vec::new(),
                };
                if rules::apply_shaped(&overlay, &unsigned, unsigned.id(), 1, Mode::Ledger).is_ok()
                {
                    let e = unsigned.entry.sign(&who.key);
                    overlay.push(rules::apply(&overlay, &e, e.id(), 1).unwrap());
                    out.push(e);
                    break;
                }
            }
        }
        out
    }

    /// `a` and `b` interleaved at random, each keeping its order.
    fn shuffle(rng: &mut ChaCha8Rng, a: &[SignedEntry], b: &[SignedEntry]) -> Vec<SignedEntry> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < a.len() || j < b.len() {
            if j == b.len() || (i < a.len() && rng.next_u64().is_multiple_of(2)) {
                out.push(a[i].clone());
                i += 1;
            } else {
                out.push(b[j].clone());
                j += 1;
            }
        }
        out
    }

    /// What checking `waiting` again from scratch after a commit gives:
    /// the entries kept with their writes, and the entries dropped.
    #[allow(clippy::type_complexity)]
    fn recheck_from_scratch(
        state: &State,
        waiting: &[SignedEntry],
        committed: &[EntryId],
        height: u64,
    ) -> (Vec<SignedEntry>, Vec<Changes>, Vec<(EntryId, RuleError)>) {
        let mut overlay = Overlay::new(state);
        let (mut kept, mut writes, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for e in waiting.iter().filter(|e| !committed.contains(&e.id())) {
            match rules::apply_shaped(&overlay, e, e.id(), height + 1, Mode::Ledger) {
                Ok(c) => {
                    kept.push(e.clone());
                    writes.push(c.clone());
                    overlay.push(c);
                }
                Err(err) => dropped.push((e.id(), err)),
            }
        }
        (kept, writes, dropped)
    }

    /// The pool after a commit looks only at the entries the block can
    /// affect; it must end where checking every entry again would.
    /// Two random walks that collide (the same authors' nonces, lot,
    /// shipment and payment ids) reach two pools in different orders, and
    /// blocks are taken from either pool, so most are not the other's
    /// front: entries are dropped, change their writes (a lot's remaining
    /// quantity, a shipment's lots) or keep their verdict.
    #[test]
    fn a_commit_leaves_the_pool_as_checking_every_entry_again_would() {
        let (genesis, parties) = market();
        let (mut revised, mut changed, mut dropped) = (0, 0, 0);
        for seed in 0..150u64 {
            let rng = &mut ChaCha8Rng::seed_from_u64(seed);
            let mut state = genesis.clone();
            // Two walks from a common start: a pool gets the start from
            // one walk or the other.
            let start = walk(rng, &state, &parties, &[], 10);
            let one = walk(rng, &state, &parties, &start, 40);
            let two = walk(rng, &state, &parties, &start, 40);
            let feeds = [shuffle(rng, &one, &two), shuffle(rng, &two, &one)];
            let mut pools = [
                Mempool::new(Limits::default()),
                Mempool::new(Limits::default()),
            ];
            let mut height = 0;
            for round in 0..5 {
                for (pool, feed) in pools.iter_mut().zip(&feeds) {
                    let n = feed.len() / 5;
                    for e in &feed[round * n..(round + 1) * n] {
                        let _ = pool.insert_verified(e.clone(), &state, height);
                    }
                    pool.assert_consistent(&state, height);
                }
                let from = (rng.next_u64() % 2) as usize;
                let len = 1 + (rng.next_u64() % 12) as usize;
                let block = pools[from].take(len);
                if block.is_empty() {
                    continue;
                }
                height += 1;
                let (ids, writes) = commit(&mut state, &block, height);
                for pool in &mut pools {
                    let waiting = pool.take(usize::MAX);
                    let (kept, kept_writes, gone) =
                        recheck_from_scratch(&state, &waiting, &ids, height);
                    let before: HashMap<EntryId, Changes> =
                        waiting.iter().map(|e| e.id()).zip(pool.writes()).collect();
                    let r = pool.on_commit(&ids, &writes, &state, height);
                    let why = format!("seed {seed}, round {round}");
                    assert_eq!(pool.take(usize::MAX), kept, "{why}");
                    assert_eq!(pool.writes(), kept_writes, "{why}");
                    assert_eq!(
                        r.dropped
                            .iter()
                            .map(|d| (d.id, d.error.clone()))
                            .collect::<Vec<_>>(),
                        gone,
                        "{why}"
                    );
                    assert_eq!(
                        r.committed,
                        waiting.iter().filter(|e| ids.contains(&e.id())).count(),
                        "{why}"
                    );
                    pool.assert_consistent(&state, height);
                    let mut merged = Changes::default();
                    kept_writes.iter().for_each(|c| merged.merge(c.clone()));
                    assert_eq!(pool.pending_changes(), merged, "{why}");
                    if !waiting
                        .iter()
                        .take(ids.len())
                        .map(|e| e.id())
                        .eq(ids.iter().copied())
                    {
                        revised += 1;
                        dropped += gone.len();
                        changed += kept
                            .iter()
                            .zip(&kept_writes)
                            .filter(|(e, c)| before[&e.id()] != **c)
                            .count();
                    }
                }
            }
        }
        // The walks exercise what the test is for.
        assert!(revised > 200, "{revised} commits off the front");
        assert!(dropped > 200, "{dropped} entries dropped");
        assert!(changed >= 5, "{changed} entries kept with other writes");
    }
}
