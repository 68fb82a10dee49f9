//! What the pool keeps of each entry: the entry with its id and size
//! ([`Waiting`]), and, once it waits in the pool, what its last check read
//! and wrote and who read from it ([`Slot`]).

use waybill_core::entry::{EntryId, SignedEntry};

use crate::keys::{Read, Writes};

#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub(crate) id: EntryId,
    pub(crate) entry: SignedEntry,
    pub(crate) bytes: usize,
}

/// A waiting entry with what its last check read and wrote.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) w: Waiting,
    pub(crate) writes: Writes,
    /// The hashes of the keys in `writes`, each once.
    pub(crate) written: Vec<u64>,
    pub(crate) reads: Vec<Read>,
    /// Later entries that read something from `writes` (it may name some
    /// that no longer do: they are only looked at again).
    pub(crate) dependents: Vec<u64>,
    /// Whether it changes membership.
    pub(crate) members: bool,
}
