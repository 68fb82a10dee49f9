//! Keeping the configured peers connected: dial at start, re-dial with
//! exponential backoff after a failed dial or a lost connection.
//!
//! Two members that list each other would dial each other at the same
//! moment and end up with two connections. gossipsub shares one send queue
//! among a peer's connections, so messages would be split between them and
//! arrive out of order (entries before their author's previous one, or
//! after the block that carries them). So of two peers that know each
//! other's id, the one with the smaller id dials at once; the other
//! answers, and dials only if no connection has come after [`ANSWER_GRACE`]
//! (the first peer may not list it, or may be down). The network allows
//! one connection per peer, which refuses what a rare simultaneous dial
//! still makes; the re-dials then sort it out.

use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// First wait after a failure.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A connection that lived this long was healthy: the backoff starts over.
const STABLE: Duration = Duration::from_secs(30);
/// How long the peer with the larger id waits for the other to dial it,
/// before and between its own dials.
pub(crate) const ANSWER_GRACE: Duration = Duration::from_secs(2);
/// A dial that has reported nothing for this long is given up on (the
/// transport times out long before; this only guards against a lost event).
const STALE_DIAL: Duration = Duration::from_secs(120);

/// Where one configured peer stands.
#[derive(Debug)]
enum DialState {
    /// Not connected through this address; try again at `next`.
    Idle { next: Instant },
    /// A dial is under way since `since`.
    Dialing { conn: ConnectionId, since: Instant },
    /// Connected through this address since `since`.
    Connected { conn: ConnectionId, since: Instant },
}

/// One configured peer address.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) addr: Multiaddr,
    /// From a trailing `/p2p/<id>`, or learned from the first connection.
    pub(crate) peer: Option<PeerId>,
    state: DialState,
    backoff: Duration,
    /// This node's id: decides, once the peer's id is known, which of the
    /// two dials first.
    local: PeerId,
}

/// How long to leave the dialing to `peer`: [`ANSWER_GRACE`] when it has
/// the smaller id, else nothing.
fn grace(peer: Option<PeerId>, local: PeerId) -> Duration {
    match peer {
        Some(peer) if peer < local => ANSWER_GRACE,
        _ => Duration::ZERO,
    }
}

impl Slot {
    pub(crate) fn new(addr: Multiaddr, local: PeerId, now: Instant) -> Self {
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        };
        Slot {
            addr,
            peer,
            state: DialState::Idle {
                next: now + grace(peer, local),
            },
            backoff: MIN_BACKOFF,
            local,
        }
    }

    /// See [`grace`].
    fn grace(&self) -> Duration {
        grace(self.peer, self.local)
    }

    /// Whether a dial is due now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        match self.state {
            DialState::Idle { next } => next <= now,
            DialState::Dialing { since, .. } => now.saturating_duration_since(since) >= STALE_DIAL,
            DialState::Connected { .. } => false,
        }
    }

    /// The peer is connected some other way (it dialed us): check later.
    pub(crate) fn skip(&mut self, now: Instant) {
        self.state = DialState::Idle {
            next: now + MIN_BACKOFF.max(self.grace()),
        };
    }

    pub(crate) fn dialing(&mut self, conn: ConnectionId, now: Instant) {
        self.state = DialState::Dialing { conn, since: now };
    }

    /// A dial could not start or failed: wait, then try again.
    pub(crate) fn failed(&mut self, now: Instant) -> Duration {
        let wait = self.backoff.max(self.grace());
        self.state = DialState::Idle { next: now + wait };
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// Whether `conn` is this slot's dial.
    pub(crate) fn is_dial(&self, conn: ConnectionId) -> bool {
        matches!(self.state, DialState::Dialing { conn: c, .. } if c == conn)
    }

    /// Whether `conn` is this slot's live connection.
    pub(crate) fn is_connection(&self, conn: ConnectionId) -> bool {
        matches!(self.state, DialState::Connected { conn: c, .. } if c == conn)
    }

    /// The peer behind an address without an id, learned from a dial
    /// that reached it (even one refused as a second connection), so the
    /// next dial waits its grace if the peer should dial first.
    pub(crate) fn learn(&mut self, peer: PeerId) {
        self.peer.get_or_insert(peer);
    }

    pub(crate) fn established(&mut self, conn: ConnectionId, peer: PeerId, now: Instant) {
        self.peer = Some(peer);
        self.state = DialState::Connected { conn, since: now };
    }

    /// The connection closed: re-dial soon if it had been healthy, else back off.
    pub(crate) fn closed(&mut self, now: Instant) -> Duration {
        if let DialState::Connected { since, .. } = self.state {
            if now.saturating_duration_since(since) >= STABLE {
                self.backoff = MIN_BACKOFF;
            }
        }
        self.failed(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets_after_a_stable_connection() {
        let now = Instant::now();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let (low, high) = ordered_ids();
        // The peer (learned below) has the larger id: no grace.
        let mut slot = Slot::new(addr, low, now);
        assert!(slot.due(now));
        assert_eq!(slot.peer, None);
        let mut waits = Vec::new();
        for _ in 0..9 {
            waits.push(slot.failed(now).as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert!(!slot.due(now));
        let conn = ConnectionId::new_unchecked(7);
        slot.dialing(conn, now);
        assert!(slot.is_dial(conn));
        assert!(!slot.due(now));
        assert!(slot.due(now + STALE_DIAL));
        let peer = high;
        slot.established(conn, peer, now);
        assert!(slot.is_connection(conn));
        assert_eq!(slot.peer, Some(peer));
        // A flapping connection keeps backing off ...
        assert_eq!(slot.closed(now + Duration::from_secs(1)).as_secs(), 60);
        // ... a healthy one starts over.
        slot.established(conn, peer, now);
        assert_eq!(slot.closed(now + STABLE).as_secs(), 1);
    }

    /// Two distinct ids, the smaller first.
    fn ordered_ids() -> (PeerId, PeerId) {
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_ne!(a, b);
        (a.min(b), a.max(b))
    }

    fn slot_to(peer: PeerId, local: PeerId, now: Instant) -> Slot {
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse().unwrap();
        Slot::new(addr, local, now)
    }

    #[test]
    fn a_p2p_suffix_names_the_peer() {
        let (low, high) = ordered_ids();
        assert_eq!(slot_to(high, low, Instant::now()).peer, Some(high));
    }

    #[test]
    fn of_two_peers_that_know_each_other_the_smaller_id_dials_first() {
        let now = Instant::now();
        let (low, high) = ordered_ids();
        // The smaller dials at once and backs off from one second.
        let mut first = slot_to(high, low, now);
        assert!(first.due(now));
        assert_eq!(first.failed(now), MIN_BACKOFF);
        // The larger leaves it a grace to dial, at start, after a failure
        // and while the smaller's connection holds.
        let mut second = slot_to(low, high, now);
        assert!(!second.due(now));
        assert!(second.due(now + ANSWER_GRACE));
        assert_eq!(second.failed(now), ANSWER_GRACE);
        assert_eq!(second.failed(now), ANSWER_GRACE);
        assert_eq!(
            second.failed(now).as_secs(),
            4,
            "past the grace, the backoff as usual"
        );
        second.skip(now);
        assert!(!second.due(now + MIN_BACKOFF));
        assert!(second.due(now + ANSWER_GRACE));
        // An address without an id: dial at once, as nothing says who else
        // would; once a dial has named the peer, its grace applies.
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let mut unnamed = Slot::new(addr, high, now);
        assert!(unnamed.due(now));
        assert_eq!(unnamed.failed(now), MIN_BACKOFF);
        unnamed.learn(low);
        assert_eq!(unnamed.failed(now), ANSWER_GRACE);
        unnamed.learn(high);
        assert_eq!(unnamed.peer, Some(low), "the first id learned stays");
    }
}
