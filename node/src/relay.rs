//! Passing a party's payment terms, and their erasure, to the nodes of
//! the members who may hold them: the payment's other party and the
//! auditors.
//!
//! A party keeps its terms file on one node (`PUT
//! /v1/payments/{uetr}/terms`). That node then sends the very same
//! request, with the party's own signature headers, to each node named in
//! its `[terms_relay]` whose member is the payer, the payee or an auditor
//! (as the ledger says when the request is served), and to no other. The
//! receiving node checks the request exactly as if the party had sent it
//! (the signature binds the chain, the method, the path, the body and the
//! time, and is taken once per node), so passing it on grants nothing the
//! party did not sign; and it checks the terms against the payment's
//! commitments on its own ledger before it keeps them. A relayed request
//! carries [`RELAYED_HEADER`] and is not passed on again.
//!
//! A node that does not have the payment yet (its ledger behind) answers
//! 422; the request is tried again a few times within the signature's
//! minute. Each outcome is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use waybill_core::crypto::PublicKey;
use waybill_core::request;

/// The header a relayed request carries, so that it is not relayed again.
pub const RELAYED_HEADER: &str = "waybill-relayed";

/// When to try a request again (seconds after the first try): all within
/// the minute a signed request is taken.
const RETRY_AFTER_S: [u64; 5] = [1, 2, 4, 8, 16];

/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// `[terms_relay]` in `node.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// The CA certificates (PEM) to trust for `https://` peers instead of
    /// the system's, e.g. the consortium's own CA.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// The other members' nodes.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

/// One member's node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The member who runs it: its public key (64 hex digits).
    pub member: PublicKey,
    /// Its API, e.g. `https://node.roaster.example:7443`.
    pub api: String,
}

/// Why the relay cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A peer's API is not an http(s) URL.
    #[error("terms_relay.peers: `{0}` is not an http:// or https:// URL with a host")]
    BadUrl(String),
    /// The CA file.
    #[error("terms_relay.ca_cert {path}: {why}")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The HTTP client.
    #[error("cannot set up the relay's HTTP client: {0}")]
    Client(String),
}

/// The nodes terms are passed on to, and the client that does it.
#[derive(Debug)]
pub struct Relay {
    peers: Vec<PeerConfig>,
    client: reqwest::Client,
}

/// A request to pass on: what the party signed.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) method: Method,
    /// The path and query as signed.
    pub(crate) path: String,
    /// The party's three signature headers.
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Signed {
    /// The request as received, unless it was relayed already (or is not
    /// signed: then there is nothing to pass on).
    pub(crate) fn of(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Self> {
        if headers.contains_key(RELAYED_HEADER) {
            return None;
        }
        let mut kept = Vec::with_capacity(3);
        for name in [
            request::KEY_HEADER,
            request::TIME_HEADER,
            request::SIGNATURE_HEADER,
        ] {
            kept.push((name, headers.get(name)?.to_str().ok()?.to_owned()));
        }
        Some(Signed {
            method: method.clone(),
            path: path.to_owned(),
            headers: kept,
            body: body.to_vec(),
        })
    }
}

impl Relay {
    /// The relay of `config`, or none when it names no peer.
    pub fn new(config: &RelayConfig) -> Result<Option<Arc<Relay>>, RelayError> {
        if config.peers.is_empty() {
            return Ok(None);
        }
        // reqwest's TLS is rustls without a provider of its own: the ring
        // provider the API's TLS uses (already installed is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        for p in &config.peers {
            let ok = reqwest::Url::parse(&p.api).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if !ok {
                return Err(RelayError::BadUrl(p.api.clone()));
            }
        }
        let mut builder = reqwest::Client::builder()
            .timeout(TRY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("waybill-node/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_cert {
            builder = builder.tls_certs_only(read_ca(path)?);
        }
        let client = builder
            .build()
            .map_err(|e| RelayError::Client(e.to_string()))?;
        Ok(Some(Arc::new(Relay {
            peers: config.peers.clone(),
            client,
        })))
    }

    /// The peers whose member `may_hold` says may hold the terms.
    pub(crate) fn targets(&self, may_hold: impl Fn(&PublicKey) -> bool) -> Vec<PeerConfig> {
        self.peers
            .iter()
            .filter(|p| may_hold(&p.member))
            .cloned()
            .collect()
    }

    /// Sends `req` to each of `targets`, in the background.
    pub(crate) fn pass_on(self: &Arc<Self>, req: Signed, targets: Vec<PeerConfig>) {
        for peer in targets {
            let relay = Arc::clone(self);
            let req = req.clone();
            tokio::spawn(async move { relay.send(&req, &peer).await });
        }
    }

    async fn send(&self, req: &Signed, peer: &PeerConfig) {
        let url = format!("{}{}", peer.api.trim_end_matches('/'), req.path);
        let who = peer.member.short();
        let mut waits = RETRY_AFTER_S.iter();
        let mut last_wait = 0;
        loop {
            let mut r = self
                .client
                .request(req.method.clone(), &url)
                .header(RELAYED_HEADER, "1")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(req.body.clone());
            for (k, v) in &req.headers {
                r = r.header(*k, v);
            }
            let outcome = match r.send().await {
                Ok(a) if a.status().is_success() => {
                    tracing::info!(
                        "passed {} {} on to {who}'s node at {}",
                        req.method,
                        req.path,
                        peer.api
                    );
                    return;
                }
                // Not there yet (422), or the node is in trouble: again.
                Ok(a) if a.status().as_u16() == 422 || a.status().is_server_error() => {
                    format!("answered {}", a.status())
                }
                Ok(a) => {
                    tracing::warn!(
                        "{who}'s node at {} refused {} {}: {}",
                        peer.api,
                        req.method,
                        req.path,
                        a.status()
                    );
                    return;
                }
                Err(e) => format!("could not be reached: {e}"),
            };
            let Some(&wait) = waits.next() else {
                tracing::warn!(
                    "gave up passing {} {} on to {who}'s node at {}: it {outcome}",
                    req.method,
                    req.path,
                    peer.api
                );
                return;
            };
            tokio::time::sleep(Duration::from_secs(wait - last_wait)).await;
            last_wait = wait;
        }
    }
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, RelayError> {
    let fail = |why: String| RelayError::Ca {
        path: path.display().to_string(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api: &str) -> RelayConfig {
        RelayConfig {
            ca_cert: None,
            peers: vec![PeerConfig {
                member: PublicKey([7; 32]),
                api: api.into(),
            }],
        }
    }

    #[test]
    fn peers_are_read_from_node_toml_and_bad_ones_refused() {
        let text = r#"
            ca_cert = "ca.pem"
            [[peers]]
            member = "0707070707070707070707070707070707070707070707070707070707070707"
            api = "https://node.roaster.example:7443"
        "#;
        let c: RelayConfig = toml::from_str(text).expect("a relay config");
        assert_eq!(c.peers[0].member, PublicKey([7; 32]));
        assert!(
            toml::from_str::<RelayConfig>("[[peers]]\nmember = \"07\"\napi = \"http://x\"")
                .is_err()
        );
        assert!(matches!(Relay::new(&RelayConfig::default()), Ok(None)));
        for bad in ["node.example:7443", "ftp://node.example", "http://"] {
            assert!(
                matches!(Relay::new(&config(bad)), Err(RelayError::BadUrl(_))),
                "{bad}"
            );
        }
        let relay = Relay::new(&config("http://127.0.0.1:1"))
            .expect("a relay")
            .expect("with a peer");
        assert_eq!(relay.targets(|k| *k == PublicKey([7; 32])).len(), 1);
        assert!(relay.targets(|_| false).is_empty());
    }

    #[test]
    fn a_relayed_or_unsigned_request_is_not_passed_on() {
        let mut h = HeaderMap::new();
        assert!(Signed::of(&Method::PUT, "/p", &h, b"").is_none());
        for name in [
            request::KEY_HEADER,
            request::TIME_HEADER,
            request::SIGNATURE_HEADER,
        ] {
            h.insert(name, "x".parse().expect("a header value"));
        }
        assert!(Signed::of(&Method::PUT, "/p", &h, b"").is_some());
        h.insert(RELAYED_HEADER, "1".parse().expect("a header value"));
        assert!(Signed::of(&Method::PUT, "/p", &h, b"").is_none());
    }
}
