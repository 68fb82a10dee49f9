//! Who may connect to this node's consensus network, and how that follows
//! the ledger: the engine keeps only persistent peers (see
//! [`persistent_peers`]), and [`Peers::admit`] changes them at runtime as
//! members and validators come and go.

use std::sync::Arc;

use libp2p::multiaddr::Protocol;
use malachitebft_app_channel::app::net::{Multiaddr, PeerId};
use malachitebft_app_channel::NetworkRequest;
use tokio::sync::{mpsc, Mutex};
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::ValidatorSpec;

use crate::ConsensusError;

/// The libp2p peer id (base58, as in `/p2p/<id>`) of a node key: a node's
/// network identity is its node key, so peer ids follow from genesis.
pub fn peer_id(key: &PublicKey) -> Result<String, ConsensusError> {
    network_id(key).map(|id| id.to_base58())
}

pub(crate) fn network_id(key: &PublicKey) -> Result<PeerId, ConsensusError> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|_| ConsensusError::BadValidatorKey(key.short()))?;
    Ok(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// The validators in `validators`, other than `me`, that no address in
/// `peers` names (ending in `/p2p/<peer id>`, as the entry network reads
/// its peers too). Consensus messages go only to connected peers, so each
/// pair of validators needs one of the two to list the other; a validator
/// listed by neither side never hears this node's votes and proposals, nor
/// this node its.
pub fn unlisted_validators(
    validators: &[ValidatorSpec],
    me: &PublicKey,
    peers: &[Multiaddr],
) -> Vec<PublicKey> {
    let listed: Vec<PeerId> = peers
        .iter()
        .filter_map(|a| match a.iter().last() {
            Some(Protocol::P2p(peer)) => Some(peer),
            _ => None,
        })
        .collect();
    validators
        .iter()
        .map(|v| v.public_key)
        .filter(|k| k != me)
        .filter(|k| network_id(k).map_or(true, |id| !listed.contains(&id)))
        .collect()
}

/// The persistent peers the engine keeps for the `admitted` keys (the
/// ledger's active members and validators): the configured `peers` that
/// name an admitted key (dialed and kept connected), then a peer-only
/// address `/p2p/<peer id>` for every admitted key other than `me` that no
/// address in `peers` names. The engine runs with `persistent_peers_only`,
/// so these are exactly the peers that may connect; a peer-only entry
/// admits that peer when it dials in but is never dialed, as it carries no
/// transport address. So any member's node that lists this one can
/// connect (a full node syncs from the validators it lists without any of
/// them listing it), and a key the ledger does not admit cannot, even if
/// listed ([`peers_not_admitted`] names those, for a warning). A key that
/// is not a valid ed25519 key is left out: it cannot be a network
/// identity.
pub fn persistent_peers(
    admitted: &[PublicKey],
    me: &PublicKey,
    peers: &[Multiaddr],
) -> Vec<Multiaddr> {
    let ids = network_ids(admitted);
    let mut all: Vec<Multiaddr> = peers
        .iter()
        .filter(|a| p2p_id(a).is_some_and(|id| ids.contains(&id)))
        .cloned()
        .collect();
    let mut named: Vec<PeerId> = all.iter().filter_map(p2p_id).collect();
    if let Ok(id) = network_id(me) {
        named.push(id);
    }
    for id in ids {
        if !named.contains(&id) {
            named.push(id);
            all.push(Multiaddr::empty().with(Protocol::P2p(id)));
        }
    }
    all
}

/// The configured `peers` that name no admitted key (or no peer id at
/// all): [`persistent_peers`] leaves them out.
pub fn peers_not_admitted(admitted: &[PublicKey], peers: &[Multiaddr]) -> Vec<Multiaddr> {
    let ids = network_ids(admitted);
    peers
        .iter()
        .filter(|a| !p2p_id(a).is_some_and(|id| ids.contains(&id)))
        .cloned()
        .collect()
}

/// The peer ids of `keys`, each once, in order.
fn network_ids(keys: &[PublicKey]) -> Vec<PeerId> {
    let mut ids = Vec::new();
    for id in keys.iter().filter_map(|k| network_id(k).ok()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The peer id an address ends in (`.../p2p/<id>`), if any.
fn p2p_id(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// What [`Peers::admit`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admission {
    /// Peers let in.
    pub added: usize,
    /// Peers cut off (their connections are closed).
    pub removed: usize,
}

/// The engine's persistent peers, kept in line with the keys the ledger
/// admits. Cheap to clone; every clone changes the same set.
#[derive(Clone)]
pub struct Peers {
    requests: mpsc::Sender<NetworkRequest>,
    me: PublicKey,
    configured: Arc<Vec<Multiaddr>>,
    current: Arc<Mutex<Vec<Multiaddr>>>,
}

impl Peers {
    pub(crate) fn new(
        requests: mpsc::Sender<NetworkRequest>,
        me: PublicKey,
        configured: Vec<Multiaddr>,
        current: Vec<Multiaddr>,
    ) -> Self {
        Peers {
            requests,
            me,
            configured: Arc::new(configured),
            current: Arc::new(Mutex::new(current)),
        }
    }

    /// Makes `admitted` the keys whose nodes may connect: a key newly
    /// admitted may connect from now on (and its configured address, if
    /// any, is dialed); a key no longer admitted has its connections
    /// closed and is refused from then on.
    pub async fn admit(&self, admitted: &[PublicKey]) -> Result<Admission, ConsensusError> {
        let want = persistent_peers(admitted, &self.me, &self.configured);
        let mut current = self.current.lock().await;
        let mut done = Admission::default();
        let gone: Vec<Multiaddr> = current
            .iter()
            .filter(|a| !want.contains(a))
            .cloned()
            .collect();
        for addr in gone {
            let reply = NetworkRequest::remove_persistent_peer(&self.requests, addr.clone())
                .await
                .map_err(|e| ConsensusError::Engine(e.to_string()))?;
            // Already gone is as good as removed.
            if let Err(e) = reply {
                tracing::debug!(%addr, "removing a consensus peer: {e}");
            }
            current.retain(|a| a != &addr);
            done.removed += 1;
        }
        for addr in want {
            if current.contains(&addr) {
                continue;
            }
            let reply = NetworkRequest::add_persistent_peer(&self.requests, addr.clone())
                .await
                .map_err(|e| ConsensusError::Engine(e.to_string()))?;
            if let Err(e) = reply {
                tracing::debug!(%addr, "adding a consensus peer: {e}");
            }
            current.push(addr);
            done.added += 1;
        }
        Ok(done)
    }

    /// The persistent peers as they are now.
    pub async fn current(&self) -> Vec<Multiaddr> {
        self.current.lock().await.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use waybill_core::crypto;

    fn key(seed: u8) -> PublicKey {
        crypto::public_key(&SigningKey::from_bytes(&[seed; 32]))
    }

    /// One validator of power 1 per key.
    fn validators(keys: &[PublicKey]) -> Vec<ValidatorSpec> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| ValidatorSpec {
                name: format!("v{i}"),
                public_key: *k,
                power: 1,
                p2p: Vec::new(),
            })
            .collect()
    }

    fn addr(k: &PublicKey, port: u16) -> Multiaddr {
        let id = peer_id(k).map_err(|e| e.to_string());
        let text = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", id.unwrap_or_default());
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn unlisted_validators_are_those_no_peer_address_names() {
        let keys: Vec<PublicKey> = (1..=4).map(key).collect();
        let set = validators(&keys);
        let me = keys[0];
        let all: Vec<Multiaddr> = keys[1..]
            .iter()
            .zip(7000..)
            .map(|(k, p)| addr(k, p))
            .collect();
        assert!(unlisted_validators(&set, &me, &all).is_empty());
        // Itself is never missing; an address without a peer id names no one.
        let bare: Multiaddr = "/ip4/127.0.0.1/tcp/7003"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let some = vec![all[0].clone(), bare];
        assert_eq!(unlisted_validators(&set, &me, &some), keys[2..].to_vec());
        assert_eq!(unlisted_validators(&set, &keys[3], &[]), keys[..3].to_vec());
    }

    fn peer_only(k: &PublicKey) -> Multiaddr {
        let id = network_id(k).unwrap_or_else(|e| panic!("{e}"));
        Multiaddr::empty().with(Protocol::P2p(id))
    }

    #[test]
    fn every_other_admitted_key_is_let_in_and_only_configured_peers_are_dialed() {
        // A 32-byte string that is no ed25519 point (about half are not).
        let bad = (2u8..=255)
            .map(|b| {
                let mut k = [0u8; 32];
                k[0] = b;
                PublicKey(k)
            })
            .find(|k| network_id(k).is_err())
            .unwrap_or_else(|| panic!("no invalid key found"));
        let v: Vec<PublicKey> = (1..=4).map(key).collect();
        let (auditor, coop, stranger) = (key(5), key(6), key(9));
        // The validators, then the members; v4's key is also a member's
        // (one entry for it), and one key is no network identity.
        let mut admitted = v.clone();
        admitted.extend([auditor, coop, v[3], bad]);

        // A validator listing the other validators but no full node: the
        // configured addresses first, as they are (the only ones dialed),
        // then a peer-only entry for each member it does not list.
        let listed: Vec<Multiaddr> = v[1..].iter().zip(7000..).map(|(k, p)| addr(k, p)).collect();
        let got = persistent_peers(&admitted, &v[0], &listed);
        let mut want = listed.clone();
        want.extend([peer_only(&auditor), peer_only(&coop)]);
        assert_eq!(got, want);
        // Peer-only entries carry no transport part: Malachite never dials them.
        for a in &got[listed.len()..] {
            assert_eq!(a.iter().count(), 1, "{a}");
        }

        // A full node listing two validators admits the other keys, never
        // itself, never a key the ledger does not admit.
        let two = vec![addr(&v[0], 7000), addr(&v[1], 7001)];
        let got = persistent_peers(&admitted, &auditor, &two);
        let mut want = two.clone();
        want.extend([peer_only(&v[2]), peer_only(&v[3]), peer_only(&coop)]);
        assert_eq!(got, want);
        let stranger_id = network_id(&stranger).unwrap_or_else(|e| panic!("{e}"));
        let names = |peers: &[Multiaddr], id: PeerId| {
            peers
                .iter()
                .any(|a| a.iter().any(|p| p == Protocol::P2p(id)))
        };
        assert!(!names(&got, stranger_id));
        let me_id = network_id(&auditor).unwrap_or_else(|e| panic!("{e}"));
        assert!(!names(&got, me_id));

        // With no configured peers every other admitted key is let in,
        // none is dialed.
        let got = persistent_peers(&admitted, &v[0], &[]);
        let want: Vec<Multiaddr> = [v[1], v[2], v[3], auditor, coop]
            .iter()
            .map(peer_only)
            .collect();
        assert_eq!(got, want);

        // A configured peer the ledger does not admit is left out (and
        // named for the warning) until it is admitted; then its address
        // is kept, to be dialed, instead of a peer-only entry.
        let odd = vec![addr(&stranger, 7009), addr(&v[1], 7001)];
        let got = persistent_peers(&admitted, &v[0], &odd);
        assert_eq!(got[0], odd[1]);
        assert_eq!(got.len(), 5);
        assert!(!names(&got, stranger_id));
        assert_eq!(peers_not_admitted(&admitted, &odd), vec![odd[0].clone()]);
        admitted.push(stranger);
        let got = persistent_peers(&admitted, &v[0], &odd);
        assert_eq!(got[..2], odd[..]);
        assert_eq!(got.len(), 6);
        assert!(peers_not_admitted(&admitted, &odd).is_empty());

        // A key removed from the ledger leaves the set, dialed or not.
        let fewer: Vec<PublicKey> = admitted
            .iter()
            .copied()
            .filter(|k| *k != v[1] && *k != coop)
            .collect();
        let got = persistent_peers(&fewer, &v[0], &odd);
        assert!(!got.contains(&odd[1]) && !got.contains(&peer_only(&coop)));
        assert_eq!(got.len(), 4);
    }
}
