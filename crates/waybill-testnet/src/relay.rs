//! A TCP relay on loopback between a test network's nodes, which the test
//! controls: every node dials its peers through it, so a test can cut and
//! heal the links between nodes (a partition) without root, network
//! namespaces or kernel packet filters.
//!
//! [`Relay::insert`] gives every ordered pair of nodes (dialer, peer) one
//! forwarding port per network (entry gossip and consensus), and rewrites
//! the dialer's `node.toml` to dial the peer there. A link between two
//! nodes is both directions of both networks; [`Relay::cut`] closes its
//! open connections and refuses new ones (accepted, then closed at once,
//! so a dialer sees a failure rather than a hang) until [`Relay::heal`].
//!
//! The nodes must be started after `insert` (they read their peers at
//! start). The HTTP APIs are not relayed: a test still reaches every node.
//!
//! Plain threads, one per port and two per connection: a four-node
//! network has 24 ports and a few dozen connections.

use std::collections::{BTreeSet, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{io, TestnetError};
use crate::network::Testnet;

/// How long an idle accept loop sleeps between polls (it polls so that it
/// can notice the relay being dropped).
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long the relay waits for a peer's port to take a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A relay between a network's nodes; stops (closing every connection)
/// when dropped.
pub struct Relay {
    names: Vec<String>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the forwarding threads share.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Cut links, as node index pairs (smaller first).
    cut: Mutex<BTreeSet<(usize, usize)>>,
    /// Open connections, by id.
    live: Mutex<HashMap<u64, Open>>,
    /// Connections refused because their link was cut.
    refused: AtomicU64,
}

/// An open connection: its link and both sockets.
type Open = ((usize, usize), TcpStream, TcpStream);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn link(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Relay {
    /// Puts a relay between every pair of `net`'s nodes and rewrites each
    /// node's `node.toml` so that it dials its peers through the relay.
    /// Start the nodes afterwards.
    pub fn insert(net: &Testnet) -> Result<Relay, TestnetError> {
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::new();
        let mut relay = Relay {
            names: net.nodes.iter().map(|n| n.name.clone()).collect(),
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        for (i, dialer) in net.nodes.iter().enumerate() {
            let path = &dialer.config;
            let mut config = std::fs::read_to_string(path).map_err(io(path.display()))?;
            for (j, peer) in net.nodes.iter().enumerate() {
                if i == j {
                    continue;
                }
                for target in [peer.gossip_port, peer.consensus_port] {
                    let listener = TcpListener::bind(("127.0.0.1", 0))
                        .map_err(io("binding a relay port on 127.0.0.1"))?;
                    listener
                        .set_nonblocking(true)
                        .map_err(io("setting up a relay port"))?;
                    let port = listener
                        .local_addr()
                        .map_err(io("reading a relay port"))?
                        .port();
                    let from = format!("/tcp/{target}/p2p/");
                    if !config.contains(&from) {
                        return Err(TestnetError::Other(format!(
                            "{} does not dial {} on port {target}",
                            dialer.name, peer.name
                        )));
                    }
                    config = config.replace(&from, &format!("/tcp/{port}/p2p/"));
                    let to = SocketAddr::from(([127, 0, 0, 1], target));
                    let shared = Arc::clone(&shared);
                    threads.push(std::thread::spawn(move || {
                        accept_loop(&listener, to, (i, j), &shared)
                    }));
                }
            }
            std::fs::write(path, config).map_err(io(path.display()))?;
        }
        relay.threads = threads;
        Ok(relay)
    }

    fn index(&self, name: &str) -> Result<usize, TestnetError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| TestnetError::Other(format!("the relay has no node `{name}`")))
    }

    /// Cuts the link between two nodes: closes its connections, both ways
    /// and on both networks, and refuses new ones until healed.
    pub fn cut(&self, a: &str, b: &str) -> Result<(), TestnetError> {
        let l = link(self.index(a)?, self.index(b)?);
        lock(&self.shared.cut).insert(l);
        self.close(|c| c == l);
        Ok(())
    }

    /// Heals the link between two nodes.
    pub fn heal(&self, a: &str, b: &str) -> Result<(), TestnetError> {
        let l = link(self.index(a)?, self.index(b)?);
        lock(&self.shared.cut).remove(&l);
        Ok(())
    }

    /// Splits the network: cuts every link between nodes of different
    /// sides (a node on no side keeps its links).
    pub fn partition(&self, sides: &[&[&str]]) -> Result<(), TestnetError> {
        let sides: Vec<Vec<usize>> = sides
            .iter()
            .map(|s| s.iter().map(|n| self.index(n)).collect())
            .collect::<Result<_, _>>()?;
        let mut cut = BTreeSet::new();
        for (k, side) in sides.iter().enumerate() {
            for other in sides.iter().skip(k + 1) {
                for &a in side {
                    for &b in other {
                        cut.insert(link(a, b));
                    }
                }
            }
        }
        lock(&self.shared.cut).extend(cut.iter().copied());
        self.close(|l| cut.contains(&l));
        Ok(())
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        lock(&self.shared.cut).clear();
    }

    /// The connections open through the relay now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.live).len()
    }

    /// The connections refused so far because their link was cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Closes every open connection whose link matches.
    fn close(&self, matches: impl Fn((usize, usize)) -> bool) {
        let live = lock(&self.shared.live);
        for (l, a, b) in live.values() {
            if matches(*l) {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.close(|_| true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Accepts connections for the link (dialer, peer) and forwards them to
/// `to` until the relay stops.
fn accept_loop(listener: &TcpListener, to: SocketAddr, pair: (usize, usize), shared: &Arc<Shared>) {
    let l = link(pair.0, pair.1);
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        pumps.retain(|p| !p.is_finished());
        let inbound = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(_) => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        if lock(&shared.cut).contains(&l) {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            let _ = inbound.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(outbound) = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) else {
            let _ = inbound.shutdown(Shutdown::Both);
            continue;
        };
        if let Some(p) = forward(inbound, outbound, l, shared) {
            pumps.extend(p);
        }
    }
    for p in pumps {
        let _ = p.join();
    }
}

/// Registers a connection and starts its two pumps.
fn forward(
    inbound: TcpStream,
    outbound: TcpStream,
    l: (usize, usize),
    shared: &Arc<Shared>,
) -> Option<[JoinHandle<()>; 2]> {
    // Accepted sockets may inherit the listener's non-blocking mode.
    inbound.set_nonblocking(false).ok()?;
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (in2, out2) = (inbound.try_clone().ok()?, outbound.try_clone().ok()?);
    {
        let mut live = lock(&shared.live);
        // A cut that came while connecting must close this one too.
        if lock(&shared.cut).contains(&l) || shared.stop.load(Ordering::SeqCst) {
            let _ = inbound.shutdown(Shutdown::Both);
            let _ = outbound.shutdown(Shutdown::Both);
            return None;
        }
        live.insert(
            id,
            (l, inbound.try_clone().ok()?, outbound.try_clone().ok()?),
        );
    }
    let s1 = Arc::clone(shared);
    let s2 = Arc::clone(shared);
    Some([
        std::thread::spawn(move || pump(inbound, outbound, id, &s1)),
        std::thread::spawn(move || pump(out2, in2, id, &s2)),
    ])
}

/// Copies `from` to `to` until either side closes; then closes both and
/// forgets the connection.
fn pump(mut from: TcpStream, mut to: TcpStream, id: u64, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    lock(&shared.live).remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port.
    fn echo() -> (u16, JoinHandle<()>) {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            for s in l.incoming().take(3) {
                let Ok(mut s) = s else { continue };
                std::thread::spawn(move || {
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b) {
                        if n == 0 || s.write_all(&b[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, t)
    }

    fn relay_to(port: u16) -> (Relay, u16) {
        let shared = Arc::new(Shared::default());
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let relay_port = listener.local_addr().unwrap().port();
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let s = Arc::clone(&shared);
        let t = std::thread::spawn(move || accept_loop(&listener, to, (0, 1), &s));
        let relay = Relay {
            names: vec!["a".into(), "b".into()],
            shared,
            threads: vec![t],
        };
        (relay, relay_port)
    }

    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_until_cut_and_again_after_heal() {
        let (port, _server) = echo();
        let (relay, relay_port) = relay_to(port);
        let mut c = TcpStream::connect(("127.0.0.1", relay_port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(round_trip(&mut c, b"hello").unwrap(), b"hello");
        assert_eq!(relay.open_connections(), 1);

        // A cut closes the open connection...
        relay.cut("a", "b").unwrap();
        let mut b = [0u8; 8];
        let closed = c.write_all(b"x").is_err() || matches!(c.read(&mut b), Ok(0) | Err(_));
        assert!(closed, "the connection outlived the cut");
        // ... and refuses new ones.
        let mut d = TcpStream::connect(("127.0.0.1", relay_port)).unwrap();
        d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(round_trip(&mut d, b"again").is_err());
        assert!(relay.refused() >= 1);

        relay.heal("a", "b").unwrap();
        let mut e = TcpStream::connect(("127.0.0.1", relay_port)).unwrap();
        e.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(round_trip(&mut e, b"healed").unwrap(), b"healed");
    }

    #[test]
    fn partition_cuts_only_links_across_sides() {
        let relay = Relay {
            names: ["n1", "n2", "n3", "n4"].map(String::from).to_vec(),
            shared: Arc::new(Shared::default()),
            threads: Vec::new(),
        };
        relay.partition(&[&["n1", "n2"], &["n3", "n4"]]).unwrap();
        let cut: Vec<_> = lock(&relay.shared.cut).iter().copied().collect();
        assert_eq!(cut, vec![(0, 2), (0, 3), (1, 2), (1, 3)]);
        relay.heal_all();
        relay.partition(&[&["n4"], &["n1", "n2", "n3"]]).unwrap();
        let cut: Vec<_> = lock(&relay.shared.cut).iter().copied().collect();
        assert_eq!(cut, vec![(0, 3), (1, 3), (2, 3)]);
        assert!(relay.cut("n1", "n9").is_err());
    }
}
