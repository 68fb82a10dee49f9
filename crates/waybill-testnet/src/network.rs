//! Generating a network: keys, a genesis, and each node's data directory
//! and `node.toml` on free loopback ports, every node listing every other
//! as a peer (`/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{ConsensusParams, Genesis, Governance, MemberSpec, ValidatorSpec};

use crate::error::{io, TestnetError};
use crate::peer_id::peer_id;

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
    /// Whether it is a validator in genesis.
    pub validator: bool,
    /// Its entry gossip port.
    pub gossip_port: u16,
    /// Its consensus port.
    pub consensus_port: u16,
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
    /// The least time between blocks every node is configured with.
    pub block_interval_ms: u64,
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
        yields: Vec::new(),
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
    let mut net = Testnet {
        dir: dir.to_path_buf(),
        genesis_path,
        genesis,
        nodes: Vec::new(),
        member_keys,
        block_interval_ms,
    };
    let ports = free_ports(node_keys.len() * 3)?;
    let port = |i: usize, which: usize| ports.get(i * 3 + which).copied().unwrap_or(0);
    let planned: Vec<(PublicKey, u16, u16)> = node_keys
        .iter()
        .enumerate()
        .map(|(i, n)| (crypto::public_key(&n.key), port(i, 1), port(i, 2)))
        .collect();
    for (i, node) in node_keys.iter().enumerate() {
        let others: Vec<(PublicKey, u16, u16)> = planned
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| *p)
            .collect();
        let def = net.write_node(node, [port(i, 0), port(i, 1), port(i, 2)], &others)?;
        net.nodes.push(def);
    }
    Ok(net)
}

impl Testnet {
    /// Adds a node run with `key`, which genesis need not name (a member
    /// or validator the ledger admits later), its key written to
    /// `keys/<name>.pem`: a data directory and a `node.toml` on free
    /// ports that list every other node as a peer. No other node lists
    /// it: they let it in once the ledger admits its key.
    pub fn add_node(&mut self, name: &str, key: &SigningKey) -> Result<NodeDef, TestnetError> {
        if self.nodes.iter().any(|n| n.name == name) {
            return Err(TestnetError::Other(format!(
                "there is a node `{name}` already"
            )));
        }
        let path = self.dir.join("keys").join(format!("{name}.pem"));
        write_key(&path, key)?;
        let node = NodeKey {
            name: name.to_string(),
            path,
            key: key.clone(),
            validator: false,
        };
        let others: Vec<(PublicKey, u16, u16)> = self
            .nodes
            .iter()
            .map(|n| (n.public_key, n.gossip_port, n.consensus_port))
            .collect();
        let ports = free_ports(3)?;
        let port = |i: usize| ports.get(i).copied().unwrap_or(0);
        let def = self.write_node(&node, [port(0), port(1), port(2)], &others)?;
        self.nodes.push(def.clone());
        Ok(def)
    }

    /// Writes one node's data directory and `node.toml`: API, gossip and
    /// consensus on `ports`, dialing `peers` (key, gossip port, consensus
    /// port).
    fn write_node(
        &self,
        node: &NodeKey,
        ports: [u16; 3],
        peers: &[(PublicKey, u16, u16)],
    ) -> Result<NodeDef, TestnetError> {
        let node_dir = self.dir.join("nodes").join(&node.name);
        std::fs::create_dir_all(&node_dir).map_err(io(node_dir.display()))?;
        let data_dir = node_dir.join("data");
        waybill_store::create_dir(&data_dir, self.genesis.clone())
            .map_err(|e| TestnetError::Other(e.to_string()))?;
        let mut gossip_peers = Vec::new();
        let mut consensus_peers = Vec::new();
        for (key, gossip, consensus) in peers {
            let pid = peer_id(key)?;
            gossip_peers.push(format!("\"/ip4/127.0.0.1/tcp/{gossip}/p2p/{pid}\""));
            consensus_peers.push(format!("\"/ip4/127.0.0.1/tcp/{consensus}/p2p/{pid}\""));
        }
        let [api_port, gossip_port, consensus_port] = ports;
        let api = SocketAddr::from(([127, 0, 0, 1], api_port));
        let config = format!(
            "data_dir = {:?}\ngenesis = {:?}\nkey = {:?}\n\n[api]\nlisten = \"{api}\"\n\n\
             [gossip]\nlisten = [\"/ip4/127.0.0.1/tcp/{gossip_port}\"]\npeers = [{}]\n\n\
             [consensus]\nlisten = \"/ip4/127.0.0.1/tcp/{consensus_port}\"\npeers = [{}]\n\
             timeout_propose_ms = 1000\ntimeout_prevote_ms = 500\ntimeout_precommit_ms = 500\n\
             block_interval_ms = {}\n",
            data_dir.display().to_string(),
            self.genesis_path.display().to_string(),
            node.path.display().to_string(),
            gossip_peers.join(", "),
            consensus_peers.join(", "),
            self.block_interval_ms,
        );
        let config_path = node_dir.join("node.toml");
        std::fs::write(&config_path, config).map_err(io(config_path.display()))?;
        Ok(NodeDef {
            name: node.name.clone(),
            config: config_path,
            data_dir,
            api,
            public_key: crypto::public_key(&node.key),
            validator: node.validator,
            gossip_port,
            consensus_port,
        })
    }
}
