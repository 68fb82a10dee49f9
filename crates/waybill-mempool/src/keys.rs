//! The key/read/write model: what an entry's check reads and writes.
//!
//! Every waiting entry keeps what its check wrote ([`Writes`], in short
//! vectors) and each lookup it made ([`Read`]): the [`Key`], its hash, and
//! where the answer came from (the committed state, or an earlier waiting
//! entry's writes). After a commit, a read is compared by [`Value`]: what
//! the key held then against what it would hold now. Keys are hashed only
//! in their borrowed form ([`KeyRef`]), so a key hashes the same however
//! it is held.

use std::borrow::Cow;
use std::collections::BTreeMap;

use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::governance::Council;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::state::{Changes, LotState, MemberRecord, PaymentState, ShipmentState, View};

/// A key of the state that an entry's check reads or writes. Members are
/// not among them: see [`Mempool::on_commit`](crate::Mempool::on_commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Nonce(PublicKey),
    Lot(LotId),
    Shipment(ShipmentId),
    Payment(Uetr),
}

/// A [`Key`], borrowed: for hashing and lookups without a copy. Only this
/// form is ever hashed, so a key hashes the same however it is held.
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) enum KeyRef<'a> {
    Nonce(&'a PublicKey),
    Lot(&'a LotId),
    Shipment(&'a ShipmentId),
    Payment(&'a Uetr),
}

impl Key {
    pub(crate) fn borrowed(&self) -> KeyRef<'_> {
        match self {
            Key::Nonce(k) => KeyRef::Nonce(k),
            Key::Lot(l) => KeyRef::Lot(l),
            Key::Shipment(s) => KeyRef::Shipment(s),
            Key::Payment(p) => KeyRef::Payment(p),
        }
    }

    /// Its value in `state`.
    pub(crate) fn in_state<'s>(&self, state: &'s dyn View) -> Value<'s> {
        match self {
            Key::Nonce(k) => Value::Nonce(state.nonce(k)),
            Key::Lot(l) => Value::Lot(state.lot(l)),
            Key::Shipment(s) => Value::Shipment(state.shipment(s)),
            Key::Payment(p) => Value::Payment(state.payment(p)),
        }
    }
}

impl KeyRef<'_> {
    pub(crate) fn owned(self) -> Key {
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
pub(crate) enum Value<'a> {
    Nonce(u64),
    Lot(Option<Cow<'a, LotState>>),
    Shipment(Option<Cow<'a, ShipmentState>>),
    Payment(Option<Cow<'a, PaymentState>>),
}

pub(crate) fn find<'a, K: PartialEq, V>(pairs: &'a [(K, V)], key: &K) -> Option<&'a V> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// What an entry's check changed of the consortium: member records and
/// the council. Rare, and read by search rather than by key, so the pool
/// keeps them merged, and any entry that changes them makes the next
/// commit check every waiting entry again.
#[derive(Debug, Clone, Default)]
pub(crate) struct Governed {
    pub(crate) members: BTreeMap<PublicKey, MemberRecord>,
    pub(crate) council: Option<Council>,
}

impl Governed {
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.council.is_none()
    }
}

/// What one waiting entry's check wrote, members and council aside (they
/// go to the pool's merged set, [`Governed`]). Kept in short vectors: an entry writes one to a
/// few keys, and a B-tree allocates a node for eleven per map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Writes {
    pub(crate) nonces: Vec<(PublicKey, u64)>,
    pub(crate) lots: Vec<(LotId, LotState)>,
    pub(crate) shipments: Vec<(ShipmentId, ShipmentState)>,
    pub(crate) payments: Vec<(Uetr, PaymentState)>,
}

impl Writes {
    /// The writes, and the member and council changes, of `changes`.
    pub(crate) fn split(changes: Changes) -> (Self, Governed) {
        let Changes {
            nonces,
            members,
            lots,
            shipments,
            payments,
            council,
        } = changes;
        let writes = Writes {
            nonces: nonces.into_iter().collect(),
            lots: lots.into_iter().collect(),
            shipments: shipments.into_iter().collect(),
            payments: payments.into_iter().collect(),
        };
        (writes, Governed { members, council })
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = KeyRef<'_>> {
        let nonces = self.nonces.iter().map(|(k, _)| KeyRef::Nonce(k));
        let lots = self.lots.iter().map(|(k, _)| KeyRef::Lot(k));
        let shipments = self.shipments.iter().map(|(k, _)| KeyRef::Shipment(k));
        let payments = self.payments.iter().map(|(k, _)| KeyRef::Payment(k));
        nonces.chain(lots).chain(shipments).chain(payments)
    }

    /// What they write at `key`, if anything.
    pub(crate) fn value(&self, key: &Key) -> Option<Value<'_>> {
        Some(match key {
            Key::Nonce(k) => Value::Nonce(*find(&self.nonces, k)?),
            Key::Lot(l) => Value::Lot(Some(Cow::Borrowed(find(&self.lots, l)?))),
            Key::Shipment(s) => Value::Shipment(Some(Cow::Borrowed(find(&self.shipments, s)?))),
            Key::Payment(p) => Value::Payment(Some(Cow::Borrowed(find(&self.payments, p)?))),
        })
    }

    pub(crate) fn writes(&self, key: KeyRef<'_>) -> bool {
        match key {
            KeyRef::Nonce(k) => find(&self.nonces, k).is_some(),
            KeyRef::Lot(l) => find(&self.lots, l).is_some(),
            KeyRef::Shipment(s) => find(&self.shipments, s).is_some(),
            KeyRef::Payment(p) => find(&self.payments, p).is_some(),
        }
    }

    /// Folds them into `changes`, later writes winning.
    pub(crate) fn merge_into(&self, changes: &mut Changes) {
        changes.nonces.extend(self.nonces.iter().cloned());
        changes.lots.extend(self.lots.iter().cloned());
        changes.shipments.extend(self.shipments.iter().cloned());
        changes.payments.extend(self.payments.iter().cloned());
    }
}

/// One lookup an entry's check made: the key (and its hash), and the
/// waiting entry whose writes answered it (`None`: the committed state).
#[derive(Debug, Clone)]
pub(crate) struct Read {
    pub(crate) key: Key,
    pub(crate) hash: u64,
    pub(crate) from: Option<u64>,
}

/// Each key once, in the order first read (a check may look a key up
/// twice; both answers come from the same place).
pub(crate) fn distinct(mut reads: Vec<Read>) -> Vec<Read> {
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
