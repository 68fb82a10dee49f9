//! How the pool reads: the committed state with the waiting entries on
//! top, and the check of an entry against it.
//!
//! [`Before`] presents the writes of the waiting entries before a given
//! sequence number as a [`ChangeSet`]: each key is looked up by hash in
//! the writers index, and the last writer before that number answers. An
//! [`Overlay`] of the committed state and a `Before` is what an entry is
//! checked against ([`Mempool::check`]); during a check, `Before` notes
//! each lookup and where its answer came from, which is what revision
//! after a block compares.

use std::cell::RefCell;
use std::collections::BTreeMap;

use waybill_core::codes::Uetr;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::governance::Council;
use waybill_core::gs1::{LotId, ShipmentId};
use waybill_core::rules::{self, At, Mode, RuleError};
use waybill_core::state::{
    ChangeSet, Changes, LotState, MemberRecord, Overlay, PaymentState, ShipmentState, View,
};

use crate::keys::{distinct, find, Key, KeyRef, Read, Writes};
use crate::pool::Mempool;

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
    fn council(&self) -> Option<&Council> {
        self.pool.council.as_ref()
    }
}

/// The committed state with the pool's waiting entries on top.
pub type PendingView<'a> = Overlay<'a, dyn View + 'a, Before<'a>>;

impl Mempool {
    /// The changes of every waiting entry, merged in acceptance order:
    /// what [`Mempool::view`] puts on top of the committed state.
    pub fn pending_changes(&self) -> Changes {
        let mut changes = Changes {
            members: self.members.clone(),
            council: self.council.clone(),
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
    pub(crate) fn source(&self, key: &Key, hash: u64, seq: u64) -> Option<u64> {
        self.writer(hash, seq, |w| w.writes(key.borrowed()).then_some(&()))
            .map(|(s, _)| s)
    }

    /// Checks `entry` against `committed` (the state after block
    /// `tip.height`, at the node's time `tip.time_ms`)
    /// plus the waiting entries before `seq`, noting what it read there.
    pub(crate) fn check(
        &self,
        entry: &SignedEntry,
        id: EntryId,
        committed: &dyn View,
        tip: At,
        seq: u64,
    ) -> (Result<Changes, RuleError>, Vec<Read>) {
        let reads = RefCell::new(Vec::with_capacity(8));
        let result = rules::apply_shaped(
            &Overlay::owning(committed, self.before(seq, Some(&reads))),
            entry,
            id,
            At::new(tip.height.saturating_add(1), tip.time_ms),
            Mode::Ledger,
        );
        (result, distinct(reads.into_inner()))
    }
}
