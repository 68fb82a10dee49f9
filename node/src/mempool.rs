//! The mempool: signed entries waiting for a block.
//!
//! A pure data structure (no I/O, no clock, no locks): the caller passes
//! the committed state (any [`View`], normally the ledger's
//! [`State`](waybill_core::state::State)) and height in. Entries are kept
//! in acceptance order, and every entry was checked with the rules against
//! the committed state *plus the changes of every entry accepted before
//! it*, so any
//! prefix of the pool in acceptance order is a valid block on top of the
//! committed state ([`Mempool::take`] hands out such a prefix).
//!
//! - De-duplicated by entry id.
//! - Per author, entries are consecutive nonces (the rules demand exactly
//!   last + 1, and the last includes the author's pending entries).
//! - Bounded by entry count and total canonical bytes: when full, new
//!   entries are refused ([`MempoolError::Full`]); nothing is evicted.
//! - [`Mempool::on_commit`] removes committed entries and re-checks the
//!   rest, in order, against the new state, dropping those that no longer
//!   pass (their nonce was used by another entry, their lot moved, ...).
//!   When the block is exactly the front of the pool (the usual case: a
//!   proposer takes its pool's front, and gossip keeps pools in step) the
//!   view the rest were checked against is unchanged, so the re-check is
//!   skipped; see [`Mempool::on_commit`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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

/// Entries whose changes may stay in the pending set after they were
/// committed, beyond twice the waiting entries, before a full re-check
/// rebuilds it (this bounds its memory under endless load).
const STALE_PENDING_SLACK: usize = 8192;

/// The pool's pending changes: what a [`Changes`] holds, with nonces,
/// lots, shipments and payments in hash maps. The pool looks them up for
/// every entry it checks and holds the changes of up to its whole entry
/// limit (plus committed ones not yet rebuilt away), where a B-tree's
/// string compares cost more than hashing the key once. The hasher is
/// std's, keyed at random: lot and shipment ids are chosen by members.
/// Members stay in key order (few change, and views search them by name).
#[derive(Debug, Clone, Default)]
pub struct Pending {
    nonces: HashMap<PublicKey, u64>,
    members: BTreeMap<PublicKey, MemberRecord>,
    lots: HashMap<LotId, LotState>,
    shipments: HashMap<ShipmentId, ShipmentState>,
    payments: HashMap<Uetr, PaymentState>,
}

impl Pending {
    /// Folds `later` on top, as [`Changes::merge`] does.
    fn merge(&mut self, later: Changes) {
        self.nonces.extend(later.nonces);
        self.members.extend(later.members);
        self.lots.extend(later.lots);
        self.shipments.extend(later.shipments);
        self.payments.extend(later.payments);
    }

    /// The same changes as a [`Changes`].
    pub fn to_changes(&self) -> Changes {
        fn sorted<K: Ord + Clone, V: Clone>(m: &HashMap<K, V>) -> BTreeMap<K, V> {
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Changes {
            nonces: sorted(&self.nonces),
            members: self.members.clone(),
            lots: sorted(&self.lots),
            shipments: sorted(&self.shipments),
            payments: sorted(&self.payments),
        }
    }
}

impl ChangeSet for Pending {
    fn members(&self) -> &BTreeMap<PublicKey, MemberRecord> {
        &self.members
    }
    fn nonce(&self, key: &PublicKey) -> Option<u64> {
        self.nonces.get(key).copied()
    }
    fn lot(&self, id: &LotId) -> Option<&LotState> {
        self.lots.get(id)
    }
    fn shipment(&self, id: &ShipmentId) -> Option<&ShipmentState> {
        self.shipments.get(id)
    }
    fn payment(&self, id: &Uetr) -> Option<&PaymentState> {
        self.payments.get(id)
    }
}

/// The pool. See the module documentation.
#[derive(Debug, Clone)]
pub struct Mempool {
    limits: Limits,
    /// In acceptance order.
    queue: VecDeque<Waiting>,
    /// Sequence number of `queue[0]`; entries are numbered on arrival.
    front: u64,
    /// Entry id → sequence number.
    index: HashMap<EntryId, u64>,
    /// Author → nonce → entry id.
    by_author: BTreeMap<PublicKey, BTreeMap<u64, EntryId>>,
    /// The changes of every waiting entry, merged in order, on top of
    /// those of `stale` entries committed since the last rebuild (whose
    /// values the committed state now holds too).
    pending: Pending,
    /// Committed entries whose changes are still in `pending`.
    stale: usize,
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
            index: HashMap::new(),
            by_author: BTreeMap::new(),
            pending: Pending::default(),
            stale: 0,
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
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes waiting (canonical encoding).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A waiting entry.
    pub fn get(&self, id: &EntryId) -> Option<&SignedEntry> {
        let i = self.index.get(id)?.checked_sub(self.front)?;
        self.queue.get(usize::try_from(i).ok()?).map(|w| &w.entry)
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

    /// The changes of every waiting entry, merged in acceptance order, on
    /// top of changes of entries committed since, which equal the
    /// committed state's values. Read it through [`Mempool::view`].
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// A view of `committed` with the waiting entries applied: what the
    /// next entry is checked against.
    pub fn view<'a>(&'a self, committed: &'a dyn View) -> PendingView<'a> {
        Overlay::over(committed, &self.pending)
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
        if self.queue.len() >= self.limits.max_entries
            || self.bytes.saturating_add(size) > self.limits.max_bytes
        {
            return Err((
                MempoolError::Full {
                    entries: self.queue.len(),
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
        let changes = match rules::check_shape_sized(&entry, size).and_then(|()| {
            rules::apply_shaped(
                &self.view(committed),
                &entry,
                id,
                height.saturating_add(1),
                Mode::Ledger,
            )
        }) {
            Ok(c) => c,
            Err(e) => {
                let back = Waiting {
                    id,
                    entry,
                    bytes: size,
                };
                return Err((e.into(), Some(back)));
            }
        };
        self.pending.merge(changes);
        self.push(Waiting {
            id,
            entry,
            bytes: size,
        });
        Ok(id)
    }

    fn push(&mut self, w: Waiting) {
        self.index
            .insert(w.id, self.front + self.queue.len() as u64);
        self.by_author
            .entry(w.entry.entry.author)
            .or_default()
            .insert(w.entry.entry.nonce, w.id);
        self.bytes += w.bytes;
        self.queue.push_back(w);
    }

    /// Up to `max` entries in acceptance order, for a proposal. They stay
    /// in the pool until [`Mempool::on_commit`] sees them committed.
    pub fn take(&self, max: usize) -> Vec<SignedEntry> {
        self.queue
            .iter()
            .take(max)
            .map(|w| w.entry.clone())
            .collect()
    }

    /// Like [`Mempool::take`], also stopping before the entries' canonical
    /// bytes would exceed `max_bytes`.
    pub fn take_within(&self, max: usize, max_bytes: usize) -> Vec<SignedEntry> {
        let mut total = 0usize;
        self.queue
            .iter()
            .take(max)
            .take_while(|w| {
                total = total.saturating_add(w.bytes);
                total <= max_bytes
            })
            .map(|w| w.entry.clone())
            .collect()
    }

    /// After block `height` was committed with entries `committed`, leaving
    /// state `state`: removes the committed entries and re-checks the rest
    /// in acceptance order against the new state, dropping the ones that no
    /// longer pass. Rebuilds the pending changes.
    ///
    /// When the block is exactly the front of the pool and changes no
    /// membership, the rest are not re-checked: they were checked against
    /// the state before the block plus the changes of those same entries,
    /// in the same order, which is the state after the block. (Membership
    /// changes record the height, which a waiting entry only guessed.) The
    /// pending set then keeps the committed entries' changes, equal to the
    /// new state's values, until it is rebuilt.
    pub fn on_commit(&mut self, committed: &[EntryId], state: &dyn View, height: u64) -> Recheck {
        let report = if self.is_front(committed)
            && self.stale + committed.len()
                <= 2 * (self.queue.len() - committed.len()) + STALE_PENDING_SLACK
        {
            self.drop_front(committed.len())
        } else {
            self.recheck(committed, state, height)
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
        committed.len() <= self.queue.len()
            && self
                .queue
                .iter()
                .zip(committed)
                .all(|(w, id)| w.id == *id && !matches!(w.entry.entry.body, Body::Membership(_)))
    }

    /// Removes the first `n` entries, keeping the pending changes.
    fn drop_front(&mut self, n: usize) -> Recheck {
        for w in self.queue.drain(..n) {
            self.index.remove(&w.id);
            if let Some(nonces) = self.by_author.get_mut(&w.entry.entry.author) {
                nonces.remove(&w.entry.entry.nonce);
                if nonces.is_empty() {
                    self.by_author.remove(&w.entry.entry.author);
                }
            }
            self.bytes -= w.bytes;
        }
        self.front += n as u64;
        self.stale += n;
        if self.queue.is_empty() {
            self.pending = Pending::default();
            self.stale = 0;
        }
        Recheck {
            committed: n,
            dropped: Vec::new(),
        }
    }

    /// Removes the committed entries and re-checks the rest in order.
    fn recheck(&mut self, committed: &[EntryId], state: &dyn View, height: u64) -> Recheck {
        let committed: HashSet<&EntryId> = committed.iter().collect();
        let old = std::mem::take(&mut self.queue);
        self.front += old.len() as u64;
        self.index.clear();
        self.by_author.clear();
        self.pending = Pending::default();
        self.stale = 0;
        self.bytes = 0;
        let mut report = Recheck::default();
        for w in old {
            if committed.contains(&w.id) {
                report.committed += 1;
                continue;
            }
            // Signatures and shape were checked on insert and do not
            // depend on state.
            match rules::apply_shaped(
                &self.view(state),
                &w.entry,
                w.id,
                height.saturating_add(1),
                Mode::Ledger,
            ) {
                Ok(changes) => {
                    self.pending.merge(changes);
                    self.push(w);
                }
                Err(error) => report.dropped.push(Dropped {
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

/// The committed state with the pool's pending changes on top.
pub type PendingView<'a> = Overlay<'a, dyn View + 'a, Pending>;

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use waybill_core::codes::{Decimal3, UnitCode};
    use waybill_core::crypto;
    use waybill_core::entry::{
        Body, Dispatch, Entry, Location, Produce, Product, Quantity, Receive, ENTRY_VERSION,
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
        let genesis = Genesis {
            chain_name: "mempool-tests".into(),
            members: vec![
                member("Producer", &producer, Role::Producer),
                member("Retailer", &retailer, Role::Retailer),
                member("Carrier", &carrier, Role::Carrier),
                member("Admin", &admin, Role::Admin),
            ],
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
        World {
            state: State::genesis(&genesis),
            producer,
            retailer,
            carrier,
            admin,
        }
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

    /// Commits `entries` as block `height` to `state` (as the ledger would).
    fn commit(state: &mut State, entries: &[SignedEntry], height: u64) -> Vec<EntryId> {
        let applied = rules::apply_block(&*state, entries, height).unwrap();
        state.commit(applied.changes);
        entries.iter().map(|e| e.id()).collect()
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
            let ids = commit(&mut state, &block, 1);
            pool.on_commit(&ids, &state, 1);
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
        let ids = commit(&mut state, &e[..2], 1);
        pool.on_commit(&ids, &state, 1);
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
        let ids = commit(&mut state, &pool.take(1), 1);
        let r = pool.on_commit(&ids, &state, 1);
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
        let ids = commit(&mut state, &pool.take(2), 1);
        let r = pool.on_commit(&ids, &state, 1);
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
        // The view is the new state with the rest on top, though the
        // pending set still holds the committed entries' changes.
        let rest = rules::apply_block(&state, &es[2..], 2).unwrap();
        assert_ne!(pool.pending().to_changes(), rest.changes);
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
        let ids = commit(&mut state, &pool.take(10), 2);
        let r = pool.on_commit(&ids, &state, 2);
        assert_eq!((r.committed, pool.len()), (3, 0));
        assert!(pool.pending().to_changes().is_empty());
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
        let ids = commit(&mut state, &block, 1);
        let r = pool.on_commit(&ids, &state, 1);
        assert_eq!(r.committed, 1);
        assert_eq!(
            r.dropped.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![es[1].id()]
        );
        assert_eq!(pool.take(10), es[2..].to_vec());
        let rest = rules::apply_block(&state, &es[2..], 2).unwrap();
        assert_eq!(pool.pending().to_changes(), rest.changes);
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
        let ids = commit(&mut state, &[theirs], 2);
        let r = pool.on_commit(&ids, &state, 2);
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
        assert!(pool.pending().to_changes().is_empty());
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
        assert_eq!(&pool.pending().to_changes(), overlay.changes());
    }
}
