//! A small blocking client for a node's HTTP API (see `node/src/api.rs`).
//!
//! It only moves bytes: nothing a node answers is trusted here. Trails are
//! verified by the caller against the genesis file; everything else a node
//! says (an entry's status, a forward scope) is reported as the node's word.
//!
//! `http://` or `https://` (rustls; a consortium's own CA through
//! [`CA_CERT_ENV`]). Integrity does not depend on the transport, because
//! every trail is checked against the genesis; TLS keeps private reads
//! (payment terms) and the signed requests for them from eavesdroppers.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use waybill_core::bundle::MAX_BUNDLE_BYTES;
use waybill_core::codes::Uetr;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::gs1::LotId;
use waybill_core::request::{self, SignedRequest};
use waybill_core::trail::{Council, Trail};

use crate::util;

/// How long to wait for a TCP connection to the node.
/// The environment variable naming a PEM file of the CA certificates to
/// trust for `https://` nodes instead of the system's.
pub const CA_CERT_ENV: &str = "WAYBILL_CA_CERT";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one ordinary request may take (a trail may be large).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest answer read for small requests (status, submit, entry).
const SMALL_ANSWER: u64 = 4 * 1024 * 1024;
/// Largest trail read: what fits in an audit bundle.
const TRAIL_ANSWER: u64 = MAX_BUNDLE_BYTES as u64;

/// A node's API at a base URL.
pub struct Node {
    /// The base URL without a trailing slash, as shown in messages.
    base: String,
    client: Client,
}

/// An HTTP answer, read in full (within a limit).
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl Reply {
    /// Whether an erasure's answer (`{"erased": bool}`) says something
    /// was erased; false for any other answer.
    pub fn erased(&self) -> bool {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("erased").and_then(Value::as_bool))
            .unwrap_or(false)
    }

    /// The node's error sentence (`{"error": "…"}`), or the body's text.
    pub fn message(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                return e.to_owned();
            }
        }
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            "(no message)".to_owned()
        } else {
            clip(text, 300)
        }
    }

    /// The body as a JSON value, or why it is not one.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("it is not JSON ({e})"))
    }
}

/// What the node said about a submitted entry.
pub enum Submitted {
    /// 202: taken into its mempool.
    Accepted,
    /// 200: it was already waiting there.
    Pending,
    /// 422: it breaks a rule; the node's rule message.
    Rejected(String),
}

/// What the node says about one entry (`GET /v1/entries/{id}`).
pub enum EntryState {
    /// In a committed block at this height (the node's word).
    Final {
        /// Block height.
        height: u64,
    },
    /// Waiting in the mempool.
    Pending,
    /// 404: neither on its ledger nor in its mempool.
    Unknown(String),
}

/// What the node says of a member's nonces
/// (`GET /v1/members/{key}/next-nonce`; the node's word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextNonce {
    /// The member's name.
    pub member: String,
    /// The node's chain.
    pub chain_id: String,
    /// The nonce to sign the next entry with.
    pub next: u64,
    /// The last committed nonce.
    pub committed: u64,
    /// The member's entries waiting in the node's mempool.
    pub pending: u64,
}

impl Node {
    /// A client for the node at `url` (`http://host:port`, optionally with
    /// a path prefix).
    pub fn new(url: &str) -> Result<Node> {
        let example = "give one like http://127.0.0.1:8080";
        if !url.contains("://") {
            bail!("`{url}` is not a node URL: it has no scheme; {example}");
        }
        let parsed =
            Url::parse(url).map_err(|e| anyhow!("`{url}` is not a node URL ({e}); {example}"))?;
        let https = match parsed.scheme() {
            "http" => false,
            "https" => true,
            other => {
                bail!("`{url}`: the scheme must be http:// or https://, not {other}://; {example}")
            }
        };
        if parsed.host_str().is_none_or(str::is_empty) {
            bail!("`{url}` names no host; {example}");
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!("`{url}` must not have a query (?…) or a fragment (#…); {example}");
        }
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("waybill/", env!("CARGO_PKG_VERSION")));
        if https {
            if let Some(path) = std::env::var_os(CA_CERT_ENV) {
                // The consortium's own CA: trusted alone, not alongside
                // the system's roots.
                let pem = std::fs::read(&path).with_context(|| {
                    format!("cannot read {CA_CERT_ENV}={}", path.to_string_lossy())
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    anyhow!(
                        "{CA_CERT_ENV}={} holds no PEM certificate: {e}",
                        path.to_string_lossy()
                    )
                })?;
                if certs.is_empty() {
                    bail!(
                        "{CA_CERT_ENV}={} holds no PEM certificate",
                        path.to_string_lossy()
                    );
                }
                builder = builder.tls_certs_only(certs);
            }
        }
        let client = builder.build().context("cannot set up the HTTP client")?;
        Ok(Node {
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// The base URL, for messages.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The URL of an API path, each segment percent-encoded.
    fn endpoint(&self, segments: &[&str]) -> Result<Url> {
        let mut s = self.base.clone();
        for seg in segments {
            s.push('/');
            s.push_str(&encode_segment(seg));
        }
        Url::parse(&s).map_err(|e| anyhow!("cannot build the request URL {s}: {e}"))
    }

    /// Sends a request and reads the answer (at most `limit` bytes).
    fn send(&self, req: RequestBuilder, limit: u64, what: &str) -> Result<Reply> {
        let resp = req.send().map_err(|e| self.transport(&e, what))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("elsewhere");
            bail!(
                "the node at {} answered {what} with a redirect ({status}) to {}; give --node the node's own API URL",
                self.base,
                clip(to, 200)
            );
        }
        let mut body = Vec::new();
        resp.take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| {
                anyhow!(
                    "the node at {} stopped answering while sending {what}: {}",
                    self.base,
                    root_cause(&e)
                )
            })?;
        if body.len() as u64 > limit {
            bail!(
                "the node at {} sent more than {limit} bytes for {what}; refusing to read more",
                self.base
            );
        }
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }

    /// A transport failure as a sentence.
    fn transport(&self, e: &reqwest::Error, what: &str) -> anyhow::Error {
        if e.is_timeout() {
            anyhow!(
                "the node at {} did not answer {what} in time: {}",
                self.base,
                root_cause(e)
            )
        } else if self.base.starts_with("https://") && root_cause(e).contains("certificate") {
            anyhow!(
                "cannot reach the node at {}: {} (to trust the consortium's own CA, point \
                 {CA_CERT_ENV} at its PEM certificate)",
                self.base,
                root_cause(e)
            )
        } else {
            anyhow!("cannot reach the node at {}: {}", self.base, root_cause(e))
        }
    }

    /// An unexpected status as a sentence.
    pub fn http_error(&self, reply: &Reply, what: &str) -> anyhow::Error {
        anyhow!(
            "the node at {} answered {what} with HTTP {}: {}",
            self.base,
            reply.status,
            reply.message()
        )
    }

    /// `GET` an API path.
    pub fn get(
        &self,
        segments: &[&str],
        limit: u64,
        timeout: Duration,
        what: &str,
    ) -> Result<Reply> {
        let url = self.endpoint(segments)?;
        self.send(self.client.get(url).timeout(timeout), limit, what)
    }

    /// `POST /v1/entries`.
    pub fn submit(&self, entry: &SignedEntry) -> Result<Submitted> {
        let id = entry.id();
        let body = serde_json::to_vec(entry).context("cannot encode the entry as JSON")?;
        let url = self.endpoint(&["v1", "entries"])?;
        let req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let what = format!("the submission of entry {}", id.short());
        let reply = self.send(req, SMALL_ANSWER, &what)?;
        let answered_id = || -> Result<EntryId> {
            let v = reply.json().map_err(|e| {
                anyhow!(
                    "the node at {} accepted entry {} but its answer is not usable: {e}",
                    self.base,
                    id.short()
                )
            })?;
            let got = v
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<EntryId>().ok());
            match got {
                Some(got) if got == id => Ok(id),
                Some(got) => bail!(
                    "the node at {} answered with entry id {got} for an entry whose id is {id}",
                    self.base
                ),
                None => bail!(
                    "the node at {} answered the submission of entry {} without a valid id",
                    self.base,
                    id.short()
                ),
            }
        };
        match reply.status {
            StatusCode::ACCEPTED => answered_id().map(|_| Submitted::Accepted),
            StatusCode::OK => answered_id().map(|_| Submitted::Pending),
            StatusCode::UNPROCESSABLE_ENTITY => Ok(Submitted::Rejected(reply.message())),
            StatusCode::SERVICE_UNAVAILABLE => bail!(
                "the node at {} cannot take entries now: {}{}",
                self.base,
                reply.message(),
                reply
                    .retry_after
                    .as_deref()
                    .map(|s| format!("; it asks to try again after {} s", clip(s, 20)))
                    .unwrap_or_default()
            ),
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => bail!(
                "the node at {} refused the entry (HTTP {}): {}",
                self.base,
                reply.status,
                reply.message()
            ),
            _ => Err(self.http_error(&reply, &what)),
        }
    }

    /// `GET /v1/entries/{id}`, within `timeout`.
    pub fn entry_state(&self, id: &EntryId, timeout: Duration) -> Result<EntryState> {
        let what = format!("the status of entry {}", id.short());
        let reply = self.get(
            &["v1", "entries", &id.to_hex()],
            SMALL_ANSWER,
            timeout,
            &what,
        )?;
        match reply.status {
            StatusCode::OK => {
                let v = reply
                    .json()
                    .map_err(|e| anyhow!("the node at {}'s answer for {what}: {e}", self.base))?;
                match v.get("status").and_then(Value::as_str) {
                    Some("final") => match v.get("height").and_then(Value::as_u64) {
                        Some(height) => Ok(EntryState::Final { height }),
                        None => bail!(
                            "the node at {} says entry {} is final but gives no block height",
                            self.base,
                            id.short()
                        ),
                    },
                    Some("pending") => Ok(EntryState::Pending),
                    other => bail!(
                        "the node at {} answered {what} with an unknown status {}",
                        self.base,
                        other.map_or_else(|| "(none)".to_owned(), |s| format!("`{}`", clip(s, 40)))
                    ),
                }
            }
            StatusCode::NOT_FOUND => Ok(EntryState::Unknown(reply.message())),
            _ => Err(self.http_error(&reply, &what)),
        }
    }

    /// `GET /v1/members/{key}/next-nonce`: the nonce `key`'s next entry
    /// takes at this node, counting its entries waiting there. A node
    /// that does not answer, answers something else than the endpoint's
    /// JSON, or does not know `key` as a member is an error saying so.
    pub fn next_nonce(&self, key: &PublicKey) -> Result<NextNonce> {
        let what = format!("the request for the next nonce of {}", key.short());
        let reply = self.get(
            &["v1", "members", &key.to_hex(), "next-nonce"],
            SMALL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        let not_api = |why: &str| {
            anyhow!(
                "the node at {} answered {what} with {why}; is {} the URL of a waybill node's API (e.g. http://127.0.0.1:8080)?",
                self.base,
                self.base
            )
        };
        match reply.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                let Ok(v) = reply.json() else {
                    return Err(not_api(&format!(
                        "HTTP 404 and no JSON ({})",
                        reply.message()
                    )));
                };
                let msg = v
                    .get("error")
                    .and_then(Value::as_str)
                    .map_or_else(|| reply.message(), |m| clip(m, 300));
                if msg.starts_with("there is no endpoint") {
                    bail!(
                        "the node at {} has no next-nonce endpoint (it may run an older waybill-node): {msg}",
                        self.base
                    );
                }
                bail!(
                    "the node at {} does not know key {key} as a member: {msg}",
                    self.base
                );
            }
            _ => return Err(self.http_error(&reply, &what)),
        }
        let v: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            not_api(&format!(
                "something that is not JSON ({e}): {}",
                reply.message()
            ))
        })?;
        let number = |field: &str| {
            v.get(field)
                .and_then(Value::as_u64)
                .ok_or_else(|| not_api(&format!("JSON without a whole number `{field}`")))
        };
        let text = |field: &str| {
            v.get(field)
                .and_then(Value::as_str)
                .map(|t| clip(t, 200))
                .ok_or_else(|| not_api(&format!("JSON without a `{field}`")))
        };
        let answered = text("key")?;
        if answered.parse::<PublicKey>().ok().as_ref() != Some(key) {
            bail!(
                "the node at {} answered {what} about key {answered}, not {key}",
                self.base
            );
        }
        let n = NextNonce {
            member: text("member")?,
            chain_id: text("chain_id")?,
            next: number("next_nonce")?,
            committed: number("committed_nonce")?,
            pending: number("pending")?,
        };
        if n.next == 0 {
            return Err(not_api("next nonce 0 (nonces start at 1)"));
        }
        Ok(n)
    }

    /// `GET /v1/payments/{uetr}`: the payment as the node says the ledger
    /// has it (parties, commitments, the recording entry), unverified.
    pub fn payment(&self, id: &Uetr) -> Result<Value> {
        let what = format!("the request for payment {id}");
        let text = id.to_string();
        let reply = self.get(
            &["v1", "payments", &text],
            SMALL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        match reply.status {
            StatusCode::OK => reply.json().map_err(|e| anyhow!("{e}")),
            StatusCode::NOT_FOUND => bail!(
                "payment {id} was not found at the node at {}: {}",
                self.base,
                reply.message()
            ),
            _ => Err(self.http_error(&reply, &what)),
        }
    }

    /// The entry that recorded payment `id`, as the node serves it.
    pub fn payment_entry(&self, id: &Uetr) -> Result<SignedEntry> {
        let v = self.payment(id)?;
        serde_json::from_value(v.get("entry").cloned().unwrap_or(Value::Null)).map_err(|e| {
            anyhow!(
                "the node at {} sent no valid entry for payment {id}: {e}",
                self.base
            )
        })
    }

    /// A request signed by `key` for chain `chain_id` (see
    /// [`waybill_core::request`]), with `body` (empty for GET and DELETE).
    pub fn signed(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Vec<u8>,
        key: &ed25519_dalek::SigningKey,
        chain_id: &Hash32,
        what: &str,
    ) -> Result<Reply> {
        let url = self.endpoint(segments)?;
        self.send_signed(method, url, body, key, chain_id, what, SMALL_ANSWER)
    }

    /// A GET signed by `key` for chain `chain_id`, with `query` (name,
    /// value) pairs, whose answer may be as large as a trail (an
    /// auditor's export).
    pub fn signed_get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        key: &ed25519_dalek::SigningKey,
        chain_id: &Hash32,
        what: &str,
    ) -> Result<Reply> {
        let mut url = self.endpoint(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.send_signed(
            reqwest::Method::GET,
            url,
            Vec::new(),
            key,
            chain_id,
            what,
            TRAIL_ANSWER,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn send_signed(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Vec<u8>,
        key: &ed25519_dalek::SigningKey,
        chain_id: &Hash32,
        what: &str,
        limit: u64,
    ) -> Result<Reply> {
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let r = SignedRequest::sign(key, chain_id, method.as_str(), &path, util::now_ms(), &body);
        let req = self
            .client
            .request(method, url)
            .header(request::KEY_HEADER, r.key.to_hex())
            .header(request::TIME_HEADER, r.time_ms.to_string())
            .header(request::SIGNATURE_HEADER, hex::encode(r.signature.0))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(REQUEST_TIMEOUT);
        self.send(req, limit, what)
    }

    /// `GET /v1/lots/{lot}/trail`: the trail as the node serves it, or why
    /// what it served is not a trail (`Ok(Err(…))`, a verification failure:
    /// the node answered, but not with something that can be checked).
    pub fn trail(&self, lot: &LotId) -> Result<Result<Trail, String>> {
        let text = lot_segment(lot)?;
        let what = format!("the request for the trail of {lot}");
        let reply = self.get(
            &["v1", "lots", &text, "trail"],
            TRAIL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        match reply.status {
            StatusCode::OK => Ok(serde_json::from_slice::<Trail>(&reply.body)
                .map_err(|e| format!("the node's answer is not a valid trail: {e}"))),
            StatusCode::NOT_FOUND => bail!(
                "lot {lot} was not found at the node at {}: {}",
                self.base,
                reply.message()
            ),
            StatusCode::BAD_REQUEST => bail!(
                "the node at {} refused the lot id {lot}: {}",
                self.base,
                reply.message()
            ),
            _ => Err(self.http_error(&reply, &what)),
        }
    }

    /// `GET /v1/log/checkpoint[/{height}]`: the checkpoint note as this
    /// node cosigns it, unverified; `Ok(None)` when the node has none to
    /// give (404: not committed there, or not a validator's node), with
    /// its reason.
    pub fn checkpoint(&self, height: Option<u64>) -> Result<Result<Vec<u8>, String>> {
        let h = height.map(|h| h.to_string());
        let mut path = vec!["v1", "log", "checkpoint"];
        if let Some(h) = &h {
            path.push(h);
        }
        let what = "the request for the log's checkpoint";
        let reply = self.get(&path, SMALL_ANSWER, REQUEST_TIMEOUT, what)?;
        match reply.status {
            StatusCode::OK => Ok(Ok(reply.body)),
            StatusCode::NOT_FOUND => Ok(Err(reply.message())),
            _ => Err(self.http_error(&reply, what)),
        }
    }

    /// `GET /v1/council`: the consortium's history (every membership and
    /// governance entry with its proofs), unverified.
    pub fn council(&self) -> Result<Council> {
        let what = "the request for the consortium's history";
        let reply = self.get(&["v1", "council"], TRAIL_ANSWER, REQUEST_TIMEOUT, what)?;
        if reply.status != StatusCode::OK {
            return Err(self.http_error(&reply, what));
        }
        serde_json::from_slice::<Council>(&reply.body).map_err(|e| {
            anyhow!(
                "the node at {} answered {what} with something that is not one: {e}",
                self.base
            )
        })
    }

    /// `GET /v1/status`'s height: the node's tip (its word).
    pub fn height(&self) -> Result<u64> {
        let what = "the request for its status";
        let reply = self.get(&["v1", "status"], SMALL_ANSWER, REQUEST_TIMEOUT, what)?;
        if reply.status != StatusCode::OK {
            return Err(self.http_error(&reply, what));
        }
        reply
            .json()
            .ok()
            .and_then(|v| v.get("height").and_then(Value::as_u64))
            .ok_or_else(|| anyhow!("the node at {} answered {what} without a height", self.base))
    }

    /// `GET /v1/log/inclusion/{height}/{index}/{size}`: the log leaf of
    /// the entry at `index` in block `height` and the node's proof that it
    /// is in the log's first `size` entries, unverified.
    pub fn inclusion(&self, height: u64, index: u32, size: u64) -> Result<(u64, Vec<Hash32>)> {
        let (h, i, n) = (height.to_string(), index.to_string(), size.to_string());
        let what = format!(
            "the request for the proof that entry {index} of block {height} is in the log of {size} entries"
        );
        let reply = self.get(
            &["v1", "log", "inclusion", &h, &i, &n],
            SMALL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        if reply.status != StatusCode::OK {
            return Err(self.http_error(&reply, &what));
        }
        let not_api = |why: &str| anyhow!("the node at {} answered {what} with {why}", self.base);
        let v = reply.json().map_err(|e| not_api(&e))?;
        let leaf = v
            .get("leaf")
            .and_then(Value::as_u64)
            .ok_or_else(|| not_api("no leaf"))?;
        let proof = proof_hashes(&v).map_err(not_api)?;
        Ok((leaf, proof))
    }

    /// `GET /v1/log/consistency/{old}/{new}`: the node's proof, unverified.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash32>> {
        self.consistency_if(old, new)?.ok_or_else(|| {
            anyhow!(
                "the node at {} has no log of {new} entries to prove it extends the log of {old}",
                self.base
            )
        })
    }

    /// [`Node::consistency`], or `None` if the node's log is shorter than
    /// `new` (it answers 404).
    pub fn consistency_if(&self, old: u64, new: u64) -> Result<Option<Vec<Hash32>>> {
        let (o, n) = (old.to_string(), new.to_string());
        let what = format!(
            "the request for a proof that the log of {new} entries extends the log of {old}"
        );
        let reply = self.get(
            &["v1", "log", "consistency", &o, &n],
            SMALL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if reply.status != StatusCode::OK {
            return Err(self.http_error(&reply, &what));
        }
        let not_api = |why: &str| anyhow!("the node at {} answered {what} with {why}", self.base);
        let v = reply.json().map_err(|e| not_api(&e))?;
        proof_hashes(&v).map(Some).map_err(not_api)
    }

    /// `GET /v1/lots/{lot}/forward`: the node's JSON answer.
    pub fn forward(&self, lot: &LotId) -> Result<Value> {
        let text = lot_segment(lot)?;
        let what = format!("the request for the lots made from {lot}");
        let reply = self.get(
            &["v1", "lots", &text, "forward"],
            TRAIL_ANSWER,
            REQUEST_TIMEOUT,
            &what,
        )?;
        match reply.status {
            StatusCode::OK => reply
                .json()
                .map_err(|e| anyhow!("the node at {}'s answer to {what}: {e}", self.base)),
            StatusCode::NOT_FOUND => bail!(
                "lot {lot} was not found at the node at {}: {}",
                self.base,
                reply.message()
            ),
            StatusCode::BAD_REQUEST => bail!(
                "the node at {} refused the lot id {lot}: {}",
                self.base,
                reply.message()
            ),
            _ => Err(self.http_error(&reply, &what)),
        }
    }
}

/// A lot id as it goes into a URL path (before encoding). `.` and `..`
/// are valid free ids, but URL paths cannot carry them as a segment.
fn lot_segment(lot: &LotId) -> Result<String> {
    let text = lot.to_string();
    if text == "." || text == ".." {
        bail!(
            "the lot id `{text}` cannot be asked of a node (a URL path cannot carry it); use --data-dir with a local ledger"
        );
    }
    Ok(text)
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a
/// segment never splits (`/` becomes `%2F`) or changes meaning.
pub fn encode_segment(s: &str) -> String {
    /// What stays as it is: RFC 3986's unreserved characters.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The innermost cause of an error: the sentence that says what happened
/// ("Connection refused (os error 111)") rather than where.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The `proof` of a log answer: hashes as hex; `Err` says what is wrong.
fn proof_hashes(v: &Value) -> std::result::Result<Vec<Hash32>, &'static str> {
    v.get("proof")
        .and_then(Value::as_array)
        .ok_or("no proof")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|t| t.parse::<Hash32>().ok())
                .ok_or("a proof hash that is not 64 hex digits")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(
            encode_segment("(01)07709998000018(10)LOT1"),
            "%2801%2907709998000018%2810%29LOT1"
        );
        assert_eq!(encode_segment("x/y%z"), "x%2Fy%25z");
        assert_eq!(encode_segment("A-b.c_d~9"), "A-b.c_d~9");
    }

    #[test]
    fn urls_are_checked() {
        for bad in [
            "127.0.0.1:8080",
            "ftp://node.example",
            "http://",
            "http://node.example/?x=1",
            "not a url",
        ] {
            assert!(Node::new(bad).is_err(), "{bad}");
        }
        // https:// builds a client (rustls with ring) without reaching out.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s = Node::new("https://node.example:8443").expect("an https URL");
        assert_eq!(s.url(), "https://node.example:8443");
        let n = Node::new("http://127.0.0.1:8080/").expect("a valid URL");
        assert_eq!(n.url(), "http://127.0.0.1:8080");
        let u = n
            .endpoint(&["v1", "lots", "x/y", "trail"])
            .expect("a valid endpoint");
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/v1/lots/x%2Fy/trail");
        let p = Node::new("http://127.0.0.1:8080/waybill/").expect("a valid URL");
        assert_eq!(
            p.endpoint(&["v1", "status"]).expect("endpoint").as_str(),
            "http://127.0.0.1:8080/waybill/v1/status"
        );
    }
}
