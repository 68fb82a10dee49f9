//! Waybill's mempool: signed entries waiting for a block, ordered by what
//! they read and write, over waybill-core.
//!
//! A pure data structure (no I/O, no clock, no locks): the caller passes
//! the committed state (any [`View`](waybill_core::state::View), normally
//! the ledger's [`State`](waybill_core::state::State)) and height in.
//! Entries are kept in acceptance order, and every entry was checked with
//! the rules against the committed state *plus the changes of every entry
//! accepted before it*, so any prefix of the pool in acceptance order is a
//! valid block on top of the committed state ([`Mempool::take`] hands out
//! such a prefix).
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
//!
//! The modules, by job:
//!
//! - `pool`: the [`Mempool`] type, its queue and the indexes kept in
//!   step with it;
//! - `keys`: the key/read/write model of an entry's check;
//! - `index`: entries by key hash (writers, readers of the state);
//! - `slot`: what the pool keeps per entry;
//! - `view`: the committed state with the waiting entries on top, and
//!   the check of an entry against it;
//! - `admission`: checking and adding an entry;
//! - `parked` and `from_peer`: entries from peers that came too early
//!   (ahead of their nonce, or before the lot or shipment they name);
//! - `revise`: revision after a block;
//! - `limits` and `error`: the bounds and the refusals.

#![forbid(unsafe_code)]

mod admission;
mod error;
mod from_peer;
mod index;
mod keys;
mod limits;
mod parked;
mod pool;
mod revise;
mod slot;
mod view;

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;
#[cfg(test)]
mod tests;

pub use error::MempoolError;
pub use from_peer::FromPeer;
pub use limits::Limits;
pub use pool::Mempool;
pub use revise::{Dropped, Recheck};
pub use view::{Before, PendingView};
