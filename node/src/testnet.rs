//! Local test networks: generate keys, a genesis and one `node.toml` per
//! node on free loopback ports, then run the nodes as real processes.
//!
//! Used by `waybill demo` and by the end-to-end tests. Every process is
//! killed when the [`Cluster`] is dropped, so a failing test leaves nothing
//! running.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{ConsensusParams, Genesis, Governance, MemberSpec, ValidatorSpec};

/// A member to put in the genesis (its key is generated).
#[derive(Debug, Clone)]
pub struct MemberDef {
    /// File stem of its key (`keys/<stem>.pem`).
    pub stem: String,
    /// Name, roles, country, prefixes (the key is filled in).
    pub spec: MemberSpec,
}

/// One node of a test network.
#[derive(Debug, Clone)]
pub struct NodeDef {
    /// Its name (`v1`…, or the member stem for a full node).
    pub name: String,
    /// Its config file.
    pub config: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its HTTP API address.
    pub api: SocketAddr,
    /// Its key.
    pub public_key: PublicKey,
    /// Whether it is a validator.
    pub validator: bool,
}

/// A generated network.
#[derive(Debug, Clone)]
pub struct Testnet {
    /// The directory holding everything.
    pub dir: PathBuf,
    /// The genesis file.
    pub genesis_path: PathBuf,
    /// The genesis.
    pub genesis: Genesis,
    /// The nodes, validators first.
    pub nodes: Vec<NodeDef>,
    /// Member key files by stem.
    pub member_keys: BTreeMap<String, PathBuf>,
}

/// Failures while generating or running a network.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// File system.
    #[error("{0}")]
    Io(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn io<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> TestnetError {
    move |e| TestnetError::Io(format!("{what}: {e}"))
}

/// Free loopback ports (bound and released; a tiny race is possible).
pub fn free_ports(n: usize) -> Result<Vec<u16>, TestnetError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(io("cannot find a free port")))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(io("cannot read a port"))
        })
        .collect()
}

fn write_key(path: &Path, key: &SigningKey) -> Result<(), TestnetError> {
    let pem = waybill_keys::to_pem(key, None).map_err(|e| TestnetError::Other(e.to_string()))?;
    std::fs::write(path, pem.as_bytes()).map_err(io(path.display()))
}

/// Generates a network in `dir`: `validators` validators and a full node
/// for each stem in `full_nodes` (run with that member's key). All nodes
/// list each other as peers, so a full node may join at any time.
pub fn generate(
    dir: &Path,
    chain_name: &str,
    members: &[MemberDef],
    validators: usize,
    full_nodes: &[&str],
    block_interval_ms: u64,
) -> Result<Testnet, TestnetError> {
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir).map_err(io(keys_dir.display()))?;
    let mut member_keys = BTreeMap::new();
    let mut specs = Vec::new();
    let mut member_signing = BTreeMap::new();
    for m in members {
        let key = waybill_keys::generate();
        let path = keys_dir.join(format!("{}.pem", m.stem));
        write_key(&path, &key)?;
        let mut spec = m.spec.clone();
        spec.public_key = crypto::public_key(&key);
        specs.push(spec);
        member_keys.insert(m.stem.clone(), path);
        member_signing.insert(m.stem.clone(), key);
    }
    let mut node_keys: Vec<NodeKey> = Vec::new();
    for i in 1..=validators {
        let key = waybill_keys::generate();
        let path = keys_dir.join(format!("validator-{i}.pem"));
        write_key(&path, &key)?;
        node_keys.push(NodeKey {
            name: format!("v{i}"),
            path,
            key,
            validator: true,
        });
    }
    for stem in full_nodes {
        let key = member_signing
            .get(*stem)
            .cloned()
            .ok_or_else(|| TestnetError::Other(format!("no member `{stem}` for a full node")))?;
        let path = member_keys.get(*stem).cloned().unwrap_or_default();
        node_keys.push(NodeKey {
            name: (*stem).to_string(),
            path,
            key,
            validator: false,
        });
    }
    let genesis = Genesis {
        chain_name: chain_name.into(),
        members: specs,
        validators: node_keys
            .iter()
            .filter(|n| n.validator)
            .map(|n| ValidatorSpec {
                name: n.name.clone(),
                public_key: crypto::public_key(&n.key),
                power: 1,
                p2p: vec![],
            })
            .collect(),
        consensus: ConsensusParams::default(),
        governance: Governance::default(),
    };
    write_network(dir, genesis, node_keys, member_keys, block_interval_ms)
}

/// Writes a network in `dir` for a genesis made elsewhere: one validator
/// node per key in `validator_keys` (`v1`, `v2`, ... in that order), each
/// of which must be a validator in `genesis`. The caller keeps the member
/// keys (`Testnet::member_keys` is empty). All nodes list each other as
/// peers.
pub fn from_genesis(
    dir: &Path,
    genesis: Genesis,
    validator_keys: &[SigningKey],
    block_interval_ms: u64,
) -> Result<Testnet, TestnetError> {
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir).map_err(io(keys_dir.display()))?;
    let mut node_keys = Vec::new();
    for (i, key) in validator_keys.iter().enumerate() {
        let pk = crypto::public_key(key);
        if !genesis.validators.iter().any(|v| v.public_key == pk) {
            return Err(TestnetError::Other(format!(
                "validator key {} (number {}) is not a validator in the genesis",
                pk.short(),
                i + 1
            )));
        }
        let path = keys_dir.join(format!("validator-{}.pem", i + 1));
        write_key(&path, key)?;
        node_keys.push(NodeKey {
            name: format!("v{}", i + 1),
            path,
            key: key.clone(),
            validator: true,
        });
    }
    write_network(dir, genesis, node_keys, BTreeMap::new(), block_interval_ms)
}

/// A node's key as the network writer needs it.
struct NodeKey {
    name: String,
    path: PathBuf,
    key: SigningKey,
    validator: bool,
}

/// Validates `genesis`, writes it, and writes each node's data directory
/// and `node.toml` on free loopback ports.
fn write_network(
    dir: &Path,
    genesis: Genesis,
    node_keys: Vec<NodeKey>,
    member_keys: BTreeMap<String, PathBuf>,
    block_interval_ms: u64,
) -> Result<Testnet, TestnetError> {
    genesis
        .validate()
        .map_err(|e| TestnetError::Other(e.to_string()))?;
    let genesis_path = dir.join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml()).map_err(io(genesis_path.display()))?;

    let ports = free_ports(node_keys.len() * 3)?;
    let addr = |i: usize, which: usize| ports.get(i * 3 + which).copied().unwrap_or(0);
    let mut nodes = Vec::new();
    for (i, node) in node_keys.iter().enumerate() {
        let node_dir = dir.join("nodes").join(&node.name);
        std::fs::create_dir_all(&node_dir).map_err(io(node_dir.display()))?;
        let data_dir = node_dir.join("data");
        waybill_store::create_dir(&data_dir, genesis.clone())
            .map_err(|e| TestnetError::Other(e.to_string()))?;
        let mut gossip_peers = Vec::new();
        let mut consensus_peers = Vec::new();
        for (j, other) in node_keys.iter().enumerate() {
            if i == j {
                continue;
            }
            let pid = waybill_consensus::peer_id(&crypto::public_key(&other.key))
                .map_err(|e| TestnetError::Other(e.to_string()))?;
            gossip_peers.push(format!("\"/ip4/127.0.0.1/tcp/{}/p2p/{pid}\"", addr(j, 1)));
            consensus_peers.push(format!("\"/ip4/127.0.0.1/tcp/{}/p2p/{pid}\"", addr(j, 2)));
        }
        let api: SocketAddr = SocketAddr::from(([127, 0, 0, 1], addr(i, 0)));
        let config = format!(
            "data_dir = {:?}\ngenesis = {:?}\nkey = {:?}\n\n[api]\nlisten = \"{api}\"\n\n\
             [gossip]\nlisten = [\"/ip4/127.0.0.1/tcp/{}\"]\npeers = [{}]\n\n\
             [consensus]\nlisten = \"/ip4/127.0.0.1/tcp/{}\"\npeers = [{}]\n\
             timeout_propose_ms = 1000\ntimeout_prevote_ms = 500\ntimeout_precommit_ms = 500\n\
             block_interval_ms = {block_interval_ms}\n",
            data_dir.display().to_string(),
            genesis_path.display().to_string(),
            node.path.display().to_string(),
            addr(i, 1),
            gossip_peers.join(", "),
            addr(i, 2),
            consensus_peers.join(", "),
        );
        let config_path = node_dir.join("node.toml");
        std::fs::write(&config_path, config).map_err(io(config_path.display()))?;
        nodes.push(NodeDef {
            name: node.name.clone(),
            config: config_path,
            data_dir,
            api,
            public_key: crypto::public_key(&node.key),
            validator: node.validator,
        });
    }
    Ok(Testnet {
        dir: dir.to_path_buf(),
        genesis_path,
        genesis,
        nodes,
        member_keys,
    })
}

/// A GET against a node's API: (status code, body). Plain HTTP/1.1 on
/// loopback, bounded by `timeout`.
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), TestnetError> {
    http(addr, "GET", path, None, timeout)
}

/// A JSON POST against a node's API: (status code, body).
pub fn http_post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), TestnetError> {
    http(addr, "POST", path, Some(body), timeout)
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), TestnetError> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(io(format!("cannot reach {addr}")))?;
    s.set_read_timeout(Some(timeout)).map_err(io("socket"))?;
    s.set_write_timeout(Some(timeout)).map_err(io("socket"))?;
    match body {
        Some(b) => write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ),
        None => write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    }
    .map_err(io("request"))?;
    let mut buf = Vec::new();
    s.take(64 * 1024 * 1024)
        .read_to_end(&mut buf)
        .map_err(io("response"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| TestnetError::Other(format!("bad HTTP response from {addr}")))?;
    Ok((code, body.to_string()))
}

/// A node's committed height and tip hash, from `/v1/status`.
pub fn status(addr: SocketAddr) -> Option<(u64, String)> {
    let (code, body) = http_get(addr, "/v1/status", Duration::from_secs(2)).ok()?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((
        v["height"].as_u64()?,
        v["tip_hash"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Running node processes; all are killed on drop.
pub struct Cluster {
    /// The network.
    pub net: Testnet,
    bin: PathBuf,
    procs: BTreeMap<String, Child>,
    logs: PathBuf,
}

impl Cluster {
    /// A cluster of `net` using the `waybill-node` binary at `bin`; no node
    /// runs yet.
    pub fn new(net: Testnet, bin: &Path) -> Self {
        let logs = net.dir.join("logs");
        Cluster {
            net,
            bin: bin.to_path_buf(),
            procs: BTreeMap::new(),
            logs,
        }
    }

    /// The process id of a running node.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.get(name).map(Child::id)
    }

    /// The node definition.
    pub fn node(&self, name: &str) -> Result<&NodeDef, TestnetError> {
        self.net
            .nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| TestnetError::Other(format!("no node `{name}`")))
    }

    /// Starts a node (its log goes to `logs/<name>.log`, appended).
    pub fn start(&mut self, name: &str) -> Result<(), TestnetError> {
        let node = self.node(name)?.clone();
        std::fs::create_dir_all(&self.logs).map_err(io(self.logs.display()))?;
        let log_path = self.logs.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(log_path.display()))?;
        let err = log.try_clone().map_err(io(log_path.display()))?;
        let child = Command::new(&self.bin)
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            .env(
                "RUST_LOG",
                std::env::var("WAYBILL_NODE_LOG")
                    .unwrap_or_else(|_| "info,libp2p=warn,arc_malachitebft=warn".into()),
            )
            // The log is a file: no colour codes in it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io(format!("cannot start {}", self.bin.display())))?;
        self.procs.insert(name.to_string(), child);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), TestnetError> {
        let names: Vec<String> = self.net.nodes.iter().map(|n| n.name.clone()).collect();
        for n in names {
            self.start(&n)?;
        }
        Ok(())
    }

    /// Kills a node with SIGKILL (a crash).
    pub fn kill(&mut self, name: &str) {
        if let Some(mut c) = self.procs.remove(name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops a node gracefully (SIGTERM), waiting up to `timeout`, then
    /// kills it. Returns whether it exited by itself with success.
    pub fn stop(&mut self, name: &str, timeout: Duration) -> bool {
        let Some(mut c) = self.procs.remove(name) else {
            return false;
        };
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let deadline = Instant::now() + timeout;
        while ok && Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Stops every running node.
    pub fn stop_all(&mut self, timeout: Duration) -> bool {
        let names: Vec<String> = self.procs.keys().cloned().collect();
        // Every node is stopped, even after one fails to exit cleanly.
        let mut all_ok = true;
        for n in &names {
            all_ok &= self.stop(n, timeout);
        }
        all_ok
    }

    /// Whether a node's process has exited.
    pub fn exited(&mut self, name: &str) -> bool {
        match self.procs.get_mut(name) {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Waits until a node's API answers with height ≥ `height`.
    pub fn wait_height(
        &mut self,
        name: &str,
        height: u64,
        timeout: Duration,
    ) -> Result<u64, TestnetError> {
        let addr = self.node(name)?.api;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((h, _)) = status(addr) {
                if h >= height {
                    return Ok(h);
                }
            }
            if self.exited(name) {
                return Err(TestnetError::Other(format!(
                    "node {name} exited; see {}",
                    self.logs.join(format!("{name}.log")).display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(TestnetError::Other(format!(
                    "node {name} did not reach height {height} within {timeout:?}; see {}",
                    self.logs.join(format!("{name}.log")).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log of a node, for diagnostics.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
