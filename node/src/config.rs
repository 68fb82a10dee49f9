//! The node's configuration file, `node.toml`.
//!
//! ```toml
//! data_dir = "ledger"            # relative paths are relative to this file
//! genesis = "genesis.toml"
//! key = "node.pem"               # PKCS#8 PEM (a validator, member or bound node key); passphrase from WAYBILL_PASSPHRASE
//!
//! [api]
//! listen = "127.0.0.1:7070"      # loopback unless you mean it
//! max_body_bytes = 262144
//! max_connections = 1024         # one more evicts the longest-waiting idle one, else 503
//! header_timeout_ms = 10000
//! idle_timeout_ms = 60000        # no byte either way: closed
//! body_timeout_ms = 30000        # 408 beyond
//! max_inflight_bytes = 33554432  # request bodies held at once, all clients
//! # tls_cert = "api-cert.pem"    # both set: HTTPS only (rustls); unset: plain HTTP
//! # tls_key = "api-key.pem"
//!
//! [gossip]
//! listen = ["/ip4/0.0.0.0/tcp/7171"]
//! peers = []                     # dialed; other members' keys may connect unlisted
//!
//! [consensus]
//! listen = "/ip4/0.0.0.0/tcp/7272"
//! peers = []                     # a full node lists one or more validators
//! # timeout_propose_ms = 1000   # unset: the genesis value
//! # timeout_prevote_ms = 500
//! # timeout_precommit_ms = 500
//! max_clock_skew_ms = 2000
//! max_peers = 50                 # followers a validator keeps, and more
//!
//! [mempool]
//! max_entries = 100000
//! max_bytes = 268435456
//! author_share = 8               # one member may fill at most 1/8 of it
//! ```
//!
//! Every section and every field but `data_dir`, `genesis` and `key` has a
//! default; unknown fields are refused, so a typo is an error, not a
//! silently ignored setting.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use waybill_core::codec::MAX_ENTRY_BYTES;
use waybill_core::genesis::Genesis;
use waybill_mempool as mempool;
use zeroize::Zeroizing;

/// The environment variable that holds the key's passphrase.
pub const PASSPHRASE_ENV: &str = "WAYBILL_PASSPHRASE";

/// Largest config, genesis or key file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Smallest and largest accepted `api.max_body_bytes`.
const BODY_LIMIT_RANGE: (usize, usize) = (4 * 1024, 64 * 1024 * 1024);

/// Why the configuration (or a file it names) cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is larger than any sane one.
    #[error("{what} {path} is {len} bytes, more than the limit of {MAX_FILE_BYTES}")]
    TooLarge {
        /// What the file is.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The TOML does not parse or has the wrong shape.
    #[error("{path} is not a valid node configuration: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML parser's message (names the line and the field).
        message: String,
    },
    /// A value is out of range.
    #[error("{path}: {error}")]
    Value {
        /// The config file.
        path: PathBuf,
        /// Which value, and how to fix it.
        error: InvalidValue,
    },
    /// The configuration cannot be used as it is.
    #[error("{path}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The genesis file named by the config is unusable.
    #[error("the genesis file {path} is unusable: {source}")]
    Genesis {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: waybill_core::genesis::GenesisError,
    },
    /// The key file named by the config is unusable.
    #[error("the key file {path} is unusable: {source}")]
    Key {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: waybill_keys::KeyError,
    },
}

/// A value of `node.toml` out of range: which field, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidValue {
    /// A path is empty.
    #[error("`{field}` must not be empty")]
    EmptyPath {
        /// The field.
        field: &'static str,
    },
    /// `api.max_body_bytes` is out of the accepted range.
    #[error(
        "api.max_body_bytes is {value}; it must be between {lo} and {hi} (the default, 262144, fits every entry)",
        lo = BODY_LIMIT_RANGE.0,
        hi = BODY_LIMIT_RANGE.1
    )]
    BodyLimit {
        /// The value given.
        value: usize,
    },
    /// An `[api]` limit is 0.
    #[error("api.{field} is 0; the API could serve nothing (leave it out for the default)")]
    ZeroApiLimit {
        /// The field.
        field: &'static str,
    },
    /// `api.max_inflight_bytes` cannot hold one full batch.
    #[error(
        "api.max_inflight_bytes is {value}; it must hold at least one full batch, 32 × api.max_body_bytes = {batch}"
    )]
    InflightTooSmall {
        /// The value given.
        value: usize,
        /// The batch limit.
        batch: usize,
    },
    /// One of `api.tls_cert` and `api.tls_key` without the other.
    #[error(
        "api.tls_cert and api.tls_key go together: give both for HTTPS, or neither for plain HTTP"
    )]
    TlsHalf,
    /// `gossip.listen` lists no address.
    #[error(
        "gossip.listen is empty; give at least one multiaddress, e.g. \"/ip4/0.0.0.0/tcp/7171\""
    )]
    NoGossipListen,
    /// An address is not a multiaddress.
    #[error(
        "{field}: `{address}` is not a multiaddress; write it like \"/ip4/0.0.0.0/tcp/7171\" or \"/dns4/node.example/tcp/7171\""
    )]
    Multiaddr {
        /// The field.
        field: &'static str,
        /// The address given.
        address: String,
    },
    /// A consensus timeout is 0.
    #[error(
        "{field} is 0; give a timeout of at least 1 ms, or leave it out to use the genesis value"
    )]
    ZeroTimeout {
        /// The field.
        field: &'static str,
    },
    /// `consensus.max_clock_skew_ms` is 0.
    #[error(
        "consensus.max_clock_skew_ms is 0; no block could ever be voted for (the default is 2000)"
    )]
    ZeroClockSkew,
    /// `consensus.max_peers` is 0.
    #[error("consensus.max_peers is 0; the node could connect to no one (the default is 50)")]
    ZeroPeers,
    /// `mempool.max_entries` is 0.
    #[error("mempool.max_entries is 0; the node could accept no entry")]
    ZeroMempoolEntries,
    /// `mempool.max_bytes` is below the largest entry.
    #[error(
        "mempool.max_bytes is {value}; it must be at least {MAX_ENTRY_BYTES} so that the largest entry fits"
    )]
    MempoolTooSmall {
        /// The value given.
        value: usize,
    },
    /// `mempool.author_share` is 0.
    #[error("mempool.author_share is 0; it is the n in each member's share 1/n of the mempool (the default is 8; 1 gives no share)")]
    ZeroAuthorShare,
}

/// The whole `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The ledger directory (made by `waybill ledger init`).
    pub data_dir: PathBuf,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The node's signing key (PKCS#8 PEM, encrypted or not).
    pub key: PathBuf,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Entry gossip (libp2p).
    #[serde(default)]
    pub gossip: GossipConfig,
    /// Consensus (Malachite).
    #[serde(default)]
    pub consensus: ConsensusConfig,
    /// The pool of entries waiting for a block.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// The other members' nodes a party's payment terms are passed on to
    /// (see [`crate::relay`]): none by default.
    #[serde(default)]
    pub terms_relay: crate::relay::RelayConfig,
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address the HTTP API listens on (loopback by default).
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// Largest request body accepted; larger ones get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Connections served at once. One more takes the place of the
    /// connection that has waited longest for a request (closed); when
    /// every connection has a request in progress it is answered 503.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time (ms) for a request's headers to arrive once they start; the
    /// connection is closed beyond.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Time (ms) a connection may pass without a byte read or written
    /// (a silent kept-alive connection); it is closed beyond.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Time (ms) for a request's body to arrive; 408 beyond.
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Request body bytes held at once over all connections: a request
    /// waits for room (up to the body timeout, then 503). At least a
    /// full batch (32 × `max_body_bytes`).
    #[serde(default = "default_max_inflight_bytes")]
    pub max_inflight_bytes: usize,
    /// The API's TLS certificate chain (PEM, leaf first); with
    /// `tls_key`, the API speaks HTTPS only. Unset: plain HTTP.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

fn default_max_connections() -> usize {
    1024
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_body_timeout_ms() -> u64 {
    30_000
}
fn default_max_inflight_bytes() -> usize {
    32 * 1024 * 1024
}

impl ApiConfig {
    /// The limits the API is served under.
    pub fn serve_limits(&self) -> crate::serve::ServeLimits {
        crate::serve::ServeLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            max_inflight_bytes: self.max_inflight_bytes,
        }
    }
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7070))
}
fn default_max_body_bytes() -> usize {
    256 * 1024
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_api_listen(),
            max_body_bytes: default_max_body_bytes(),
            max_connections: default_max_connections(),
            header_timeout_ms: default_header_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            max_inflight_bytes: default_max_inflight_bytes(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[gossip]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipConfig {
    /// libp2p multiaddresses to listen on.
    #[serde(default = "default_gossip_listen")]
    pub listen: Vec<String>,
    /// Peers to dial and keep connected (each `.../p2p/<peer id>`). Any
    /// other key the ledger admits (an active member's or a validator's)
    /// may still connect to this node without being listed.
    #[serde(default)]
    pub peers: Vec<String>,
}

fn default_gossip_listen() -> Vec<String> {
    vec!["/ip4/0.0.0.0/tcp/7171".to_owned()]
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            listen: default_gossip_listen(),
            peers: Vec::new(),
        }
    }
}

/// `[consensus]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    /// libp2p multiaddress of Malachite's consensus network.
    #[serde(default = "default_consensus_listen")]
    pub listen: String,
    /// Consensus peers to dial and keep connected (each
    /// `.../p2p/<peer id>`). Any other key the ledger admits (an active
    /// member's or a validator's) may still connect unlisted; a full node
    /// lists one or more validators. Of every two validators, one must
    /// list the other: votes are not relayed.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Propose timeout (ms); unset: the genesis value.
    #[serde(default)]
    pub timeout_propose_ms: Option<u64>,
    /// Prevote timeout (ms); unset: the genesis value.
    #[serde(default)]
    pub timeout_prevote_ms: Option<u64>,
    /// Precommit timeout (ms); unset: the genesis value.
    #[serde(default)]
    pub timeout_precommit_ms: Option<u64>,
    /// How far a proposed block's time may be from this node's clock for
    /// this node to vote for it.
    #[serde(default = "default_max_clock_skew_ms")]
    pub max_clock_skew_ms: u64,
    /// Least time between blocks (ms); unset: as fast as consensus goes
    /// (empty blocks too).
    #[serde(default = "default_block_interval_ms")]
    pub block_interval_ms: Option<u64>,
    /// Most consensus peers connected at once, each way: the bound on the
    /// full nodes a validator serves, however many members run one.
    #[serde(default = "default_max_peers")]
    pub max_peers: usize,
}

fn default_max_peers() -> usize {
    50
}

fn default_block_interval_ms() -> Option<u64> {
    Some(250)
}

fn default_consensus_listen() -> String {
    "/ip4/0.0.0.0/tcp/7272".to_owned()
}
fn default_max_clock_skew_ms() -> u64 {
    2000
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            listen: default_consensus_listen(),
            peers: Vec::new(),
            timeout_propose_ms: None,
            timeout_prevote_ms: None,
            timeout_precommit_ms: None,
            max_clock_skew_ms: default_max_clock_skew_ms(),
            block_interval_ms: default_block_interval_ms(),
            max_peers: default_max_peers(),
        }
    }
}

/// The consensus timeouts in force: the config's, else the genesis's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Propose.
    pub propose: Duration,
    /// Prevote.
    pub prevote: Duration,
    /// Precommit.
    pub precommit: Duration,
}

impl ConsensusConfig {
    /// The timeouts in force, falling back to `genesis.consensus`.
    pub fn timeouts(&self, genesis: &Genesis) -> Timeouts {
        let g = &genesis.consensus;
        Timeouts {
            propose: Duration::from_millis(self.timeout_propose_ms.unwrap_or(g.timeout_propose_ms)),
            prevote: Duration::from_millis(self.timeout_prevote_ms.unwrap_or(g.timeout_prevote_ms)),
            precommit: Duration::from_millis(
                self.timeout_precommit_ms.unwrap_or(g.timeout_precommit_ms),
            ),
        }
    }
}

/// `[mempool]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Most entries waiting.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Most bytes (canonical encoding) waiting.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// One member may have at most this share (1/n) of the entries and
    /// bytes waiting; beyond it its entries are refused (429) and others'
    /// still taken. 1: no share of its own.
    #[serde(default = "default_author_share")]
    pub author_share: usize,
}

fn default_author_share() -> usize {
    mempool::Limits::default().author_share
}

fn default_max_entries() -> usize {
    100_000
}
fn default_max_bytes() -> usize {
    256 * 1024 * 1024
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            author_share: default_author_share(),
        }
    }
}

impl From<MempoolConfig> for mempool::Limits {
    fn from(c: MempoolConfig) -> Self {
        mempool::Limits {
            max_entries: c.max_entries,
            max_bytes: c.max_bytes,
            author_share: c.author_share,
        }
    }
}

fn read_limited(path: &Path, what: &'static str) -> Result<Vec<u8>, ConfigError> {
    let read = |source| ConfigError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let len = fs::metadata(path).map_err(read)?.len();
    if len > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            what,
            path: path.to_owned(),
            len,
        });
    }
    fs::read(path).map_err(read)
}

impl Config {
    /// Reads, parses and validates a config file. Relative paths in it
    /// are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_limited(path, "config file")?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Parse {
            path: path.to_owned(),
            message: "the file is not UTF-8 text".into(),
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Config::parse(&text, path, base)
    }

    /// Parses and validates config text. `path` is only for messages;
    /// relative paths are resolved against `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        // Empty paths are refused before they are resolved to `base`.
        c.validate().map_err(|error| ConfigError::Value {
            path: path.to_owned(),
            error,
        })?;
        for p in [&mut c.data_dir, &mut c.genesis, &mut c.key]
            .into_iter()
            .chain(c.api.tls_cert.as_mut())
            .chain(c.api.tls_key.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Checks every value; the error says which field and what to do.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        for (field, p) in [
            ("data_dir", &self.data_dir),
            ("genesis", &self.genesis),
            ("key", &self.key),
        ] {
            if p.as_os_str().is_empty() {
                return Err(InvalidValue::EmptyPath { field });
            }
        }
        let (lo, hi) = BODY_LIMIT_RANGE;
        if !(lo..=hi).contains(&self.api.max_body_bytes) {
            return Err(InvalidValue::BodyLimit {
                value: self.api.max_body_bytes,
            });
        }
        if self.gossip.listen.is_empty() {
            return Err(InvalidValue::NoGossipListen);
        }
        for (field, addrs) in [
            ("gossip.listen", &self.gossip.listen),
            ("gossip.peers", &self.gossip.peers),
            ("consensus.peers", &self.consensus.peers),
        ] {
            for a in addrs {
                check_multiaddr(field, a)?;
            }
        }
        check_multiaddr("consensus.listen", &self.consensus.listen)?;
        for (field, v) in [
            (
                "consensus.timeout_propose_ms",
                self.consensus.timeout_propose_ms,
            ),
            (
                "consensus.timeout_prevote_ms",
                self.consensus.timeout_prevote_ms,
            ),
            (
                "consensus.timeout_precommit_ms",
                self.consensus.timeout_precommit_ms,
            ),
        ] {
            if v == Some(0) {
                return Err(InvalidValue::ZeroTimeout { field });
            }
        }
        for (field, v) in [
            ("max_connections", self.api.max_connections as u64),
            ("header_timeout_ms", self.api.header_timeout_ms),
            ("idle_timeout_ms", self.api.idle_timeout_ms),
            ("body_timeout_ms", self.api.body_timeout_ms),
        ] {
            if v == 0 {
                return Err(InvalidValue::ZeroApiLimit { field });
            }
        }
        let batch = self
            .api
            .max_body_bytes
            .saturating_mul(crate::api::BATCH_BODY_FACTOR);
        if self.api.max_inflight_bytes < batch {
            return Err(InvalidValue::InflightTooSmall {
                value: self.api.max_inflight_bytes,
                batch,
            });
        }
        if self.consensus.max_clock_skew_ms == 0 {
            return Err(InvalidValue::ZeroClockSkew);
        }
        if self.consensus.max_peers == 0 {
            return Err(InvalidValue::ZeroPeers);
        }
        if self.mempool.max_entries == 0 {
            return Err(InvalidValue::ZeroMempoolEntries);
        }
        if self.mempool.max_bytes < MAX_ENTRY_BYTES {
            return Err(InvalidValue::MempoolTooSmall {
                value: self.mempool.max_bytes,
            });
        }
        if self.mempool.author_share == 0 {
            return Err(InvalidValue::ZeroAuthorShare);
        }
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            return Err(InvalidValue::TlsHalf);
        }
        for (field, p) in [
            ("api.tls_cert", &self.api.tls_cert),
            ("api.tls_key", &self.api.tls_key),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(InvalidValue::EmptyPath { field });
            }
        }
        Ok(())
    }

    /// Reads and validates the genesis file the config names.
    pub fn load_genesis(&self) -> Result<Genesis, ConfigError> {
        let bytes = read_limited(&self.genesis, "genesis file")?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Genesis {
            path: self.genesis.clone(),
            source: waybill_core::genesis::GenesisError::Parse("the file is not UTF-8 text".into()),
        })?;
        Genesis::from_toml(&text).map_err(|source| ConfigError::Genesis {
            path: self.genesis.clone(),
            source,
        })
    }

    /// Reads the node's key; an encrypted key takes its passphrase from
    /// [`PASSPHRASE_ENV`].
    pub fn load_key(&self) -> Result<SigningKey, ConfigError> {
        read_key(&self.key, || {
            std::env::var(PASSPHRASE_ENV)
                .ok()
                .map(Zeroizing::new)
                .ok_or(waybill_keys::KeyError::PassphraseRequired)
        })
    }
}

/// Reads a PKCS#8 PEM key file; `passphrase` is asked only for an
/// encrypted key.
pub fn read_key(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Zeroizing<String>, waybill_keys::KeyError>,
) -> Result<SigningKey, ConfigError> {
    let key_err = |source| ConfigError::Key {
        path: path.to_owned(),
        source,
    };
    let bytes = Zeroizing::new(read_limited(path, "key file")?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        key_err(waybill_keys::KeyError::NotPem {
            reason: "the file is not text".into(),
        })
    })?;
    waybill_keys::from_pem(text, passphrase).map_err(|e| match e {
        waybill_keys::KeyError::PassphraseRequired => ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("the key is encrypted; set {PASSPHRASE_ENV} to its passphrase"),
        },
        other => key_err(other),
    })
}

/// A light check of a libp2p multiaddress (the network crates parse it
/// fully): `/protocol/value/...`, printable, no spaces.
fn check_multiaddr(field: &'static str, a: &str) -> Result<(), InvalidValue> {
    let ok = a.starts_with('/')
        && a.len() > 1
        && a.len() <= 512
        && !a.ends_with("//")
        && a.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(InvalidValue::Multiaddr {
            field,
            address: a.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("node.toml"), Path::new("/etc/waybill"))
    }

    const MINIMAL: &str =
        "data_dir = \"ledger\"\ngenesis = \"genesis.toml\"\nkey = \"/keys/node.pem\"\n";

    #[test]
    fn minimal_config_gets_defaults_and_resolved_paths() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.data_dir, Path::new("/etc/waybill/ledger"));
        assert_eq!(c.genesis, Path::new("/etc/waybill/genesis.toml"));
        assert_eq!(c.key, Path::new("/keys/node.pem"));
        assert_eq!(c.api.listen, "127.0.0.1:7070".parse().unwrap());
        assert!(c.api.listen.ip().is_loopback());
        assert_eq!(c.api.max_body_bytes, 262_144);
        assert_eq!(c.gossip.listen, vec!["/ip4/0.0.0.0/tcp/7171"]);
        assert!(c.gossip.peers.is_empty());
        assert_eq!(c.consensus.listen, "/ip4/0.0.0.0/tcp/7272");
        assert_eq!(c.consensus.max_clock_skew_ms, 2000);
        assert_eq!(c.consensus.timeout_propose_ms, None);
        assert_eq!(c.mempool.max_entries, 100_000);
        assert_eq!(c.mempool.max_bytes, 268_435_456);
    }

    #[test]
    fn full_config_round_trips() {
        let text = format!(
            "{MINIMAL}\n[api]\nlisten = \"0.0.0.0:8080\"\nmax_body_bytes = 100000\n\
             [gossip]\nlisten = [\"/ip4/0.0.0.0/tcp/1\"]\npeers = [\"/dns4/a.example/tcp/7171\"]\n\
             [consensus]\nlisten = \"/ip4/0.0.0.0/tcp/2\"\npeers = []\ntimeout_propose_ms = 300\n\
             max_clock_skew_ms = 500\n[mempool]\nmax_entries = 10\nmax_bytes = 1000000\n"
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.api.listen.port(), 8080);
        assert_eq!(c.consensus.timeout_propose_ms, Some(300));
        assert_eq!(c.mempool.max_entries, 10);
        let again = parse(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn timeouts_fall_back_to_genesis() {
        let mut c = parse(MINIMAL).unwrap();
        let genesis = Genesis {
            chain_name: "t".into(),
            members: Vec::new(),
            validators: Vec::new(),
            consensus: waybill_core::genesis::ConsensusParams::default(),
            governance: Default::default(),
            yields: Vec::new(),
        };
        let t = c.consensus.timeouts(&genesis);
        assert_eq!(t.propose, Duration::from_millis(1000));
        assert_eq!(t.prevote, Duration::from_millis(500));
        c.consensus.timeout_prevote_ms = Some(42);
        assert_eq!(
            c.consensus.timeouts(&genesis).prevote,
            Duration::from_millis(42)
        );
    }

    fn invalid(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let msg = invalid(&format!("{MINIMAL}[api]\nlisen = \"127.0.0.1:1\"\n"));
        assert!(msg.contains("unknown field `lisen`"), "{msg}");
        let msg = invalid("data_dir = \"x\"\ngenesis = \"g\"\n");
        assert!(msg.contains("missing field `key`"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[api]\nlisten = \"localhost\"\n"));
        assert!(msg.contains("listen"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[api]\nmax_body_bytes = 10\n"));
        assert!(msg.contains("api.max_body_bytes is 10"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[mempool]\nmax_entries = 0\n"));
        assert!(msg.contains("mempool.max_entries is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[mempool]\nauthor_share = 0\n"));
        assert!(msg.contains("mempool.author_share is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[mempool]\nmax_bytes = 100\n"));
        assert!(msg.contains("mempool.max_bytes is 100"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[consensus]\ntimeout_prevote_ms = 0\n"));
        assert!(msg.contains("consensus.timeout_prevote_ms is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[consensus]\nmax_clock_skew_ms = 0\n"));
        assert!(msg.contains("max_clock_skew_ms is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[api]\nheader_timeout_ms = 0\n"));
        assert!(msg.contains("api.header_timeout_ms is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[api]\nmax_inflight_bytes = 1000000\n"));
        assert!(msg.contains("at least one full batch"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[consensus]\nmax_peers = 0\n"));
        assert!(msg.contains("consensus.max_peers is 0"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[gossip]\npeers = [\"10.0.0.1:7171\"]\n"));
        assert!(msg.contains("gossip.peers"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[gossip]\nlisten = []\n"));
        assert!(msg.contains("gossip.listen is empty"), "{msg}");
        let msg = invalid(&format!("{MINIMAL}[consensus]\nlisten = \"tcp 7272\"\n"));
        assert!(msg.contains("consensus.listen"), "{msg}");
        let msg = invalid("data_dir = \"\"\ngenesis = \"g\"\nkey = \"k\"\n");
        assert!(msg.contains("`data_dir` must not be empty"), "{msg}");
    }

    #[test]
    fn keys_are_read_plain_and_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        let plain = dir.path().join("plain.pem");
        fs::write(&plain, waybill_keys::to_pem(&key, None).unwrap().as_bytes()).unwrap();
        let never = || -> Result<Zeroizing<String>, waybill_keys::KeyError> {
            panic!("a plaintext key needs no passphrase")
        };
        assert_eq!(read_key(&plain, never).unwrap().to_bytes(), key.to_bytes());

        let enc = dir.path().join("enc.pem");
        fs::write(
            &enc,
            waybill_keys::to_pem(&key, Some("pw")).unwrap().as_bytes(),
        )
        .unwrap();
        let got = read_key(&enc, || Ok(Zeroizing::new("pw".to_owned()))).unwrap();
        assert_eq!(got.to_bytes(), key.to_bytes());
        let msg = read_key(&enc, || Err(waybill_keys::KeyError::PassphraseRequired))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(PASSPHRASE_ENV), "{msg}");
        let msg = read_key(&enc, || Ok(Zeroizing::new("nope".to_owned())))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("wrong passphrase"), "{msg}");

        let missing = dir.path().join("missing.pem");
        let msg = read_key(&missing, never).unwrap_err().to_string();
        assert!(msg.contains("cannot read key file"), "{msg}");
        let junk = dir.path().join("junk.pem");
        fs::write(&junk, "hello").unwrap();
        let msg = read_key(&junk, never).unwrap_err().to_string();
        assert!(msg.contains("not a PEM key file"), "{msg}");
    }
}
