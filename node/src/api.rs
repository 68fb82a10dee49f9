//! The node's HTTP API (JSON), on loopback by default.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/entries` | body: a signed entry as JSON (what `waybill record` writes). 202 `{"status":"accepted","id"}`; 200 `{"status":"pending","id"}` if it already waits; 400 unparsable JSON; 413 body too large; 415 not `Content-Type: application/json`; 422 `{"status":"rejected","error"}` when it breaks a rule; 429 its author has its share of the mempool waiting (`mempool.author_share`); 503 mempool full |
//! | `POST /v1/entries/batch` | body: a JSON array of 1 to 1000 signed entries (at most 32 times `api.max_body_bytes`). Each entry is checked and gossiped as by `POST /v1/entries`, in array order (so an author's consecutive nonces may go in one batch). 200 `{"accepted","results":[…]}` with one result per entry: `{"status":"accepted","id"}`, `{"status":"pending","id"}`, `{"status":"rejected","error"}`, or, once the mempool or the author's share of it is full (or the node unavailable), `{"status":"full"|"author_full"|"unavailable","error"}` for that entry and `{"status":"not_attempted"}` for the rest (resend them later; `Retry-After` is set); 400 not a JSON array of signed entries, empty or too many; 413; 415 |
//! | `GET /v1/entries/{id}` | `{"id","status":"final","entry","height","index"}` or `{"id","status":"pending","entry"}`; 404 unknown; 400 bad id |
//! | `GET /v1/lots/{lot}/trail` | the lot's trail (`waybill_core::trail::Trail`) with proofs; 404 unknown lot; 400 bad lot id |
//! | `GET /v1/lots/{lot}/forward` | lots made from it, directly or not, each with its holdings (who holds how much, held or in which shipment), what is left, consumed and lost, and whether it is recalled or voided (the node's word; `waybill trace-forward` verifies each lot's trail) |
//! | `GET /v1/members/{key}/next-nonce` | `{"key","member","chain_id","next_nonce","committed_nonce","pending"}` for the member with this public key (64 hex digits): `pending` counts its entries waiting in this node's mempool and `next_nonce` comes after them (`committed_nonce` + `pending` + 1), so entries submitted one after another each get the next one; 404 not a member, or its key was removed or rotated out (the waiting entries counted); 400 bad key |
//! | `GET /v1/blocks/{height}` | `{"hash","block","certificate"}`; with `Accept: application/octet-stream`, the block's canonical bytes as stored (its hash and entry ids are computed from them); 404 beyond the tip |
//! | `GET /v1/members/{key}/entries` | signed by an auditor or the member: every entry the member signed and the membership, with proofs and completeness proofs (see [`crate::audit_api`]) |
//! | `GET /v1/payments/{uetr}` | a payment as the ledger has it, without its terms; its terms (`…/terms`) only on a request signed by a party or an auditor (see [`crate::payments_api`]) |
//! | `GET /v1/log/…` | the ledger's log: checkpoints cosigned by this node, consistency proofs (see [`crate::log_api`]) |
//! | `GET /v1/status` | chain, height, tip, validators, peers, mempool, uptime |
//! | `GET /metrics` | Prometheus / OpenMetrics text |
//!
//! Lot ids go in the path URL-encoded (`(01)…(10)…`, a free id, or a GS1
//! Digital Link with its slashes as `%2F`). Every error is JSON
//! `{"error": "<a sentence>"}` with a 4xx or 5xx status; bad input never
//! panics the node. Ledger work runs on the blocking pool, taking the
//! ledger's read lock briefly. The server around it ([`crate::serve`])
//! caps connections, times out slow headers, bodies and idle connections,
//! and bounds the request bytes held at once.

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{EncodedEntry, EntryId, SignedEntry};
use waybill_core::gs1::LotId;
use waybill_mempool::MempoolError;
use waybill_net::NetHandle;
use waybill_store::Backend;

use crate::handler::{blocking, error, internal, path_rejection, read_error, shorten, AppState};
use crate::metrics::{self as m, HttpLabels};
use crate::shared::{verify_each, AuthorNonces, EntryStatus, ReadError, Shared, SubmitError};
use crate::{audit_api, documents_api, log_api, payments_api};

/// Most entries in one `POST /v1/entries/batch`.
pub const MAX_BATCH_ENTRIES: usize = 1000;

/// A batch's body may be this many times `max_body_bytes`.
pub const BATCH_BODY_FACTOR: usize = 32;

/// How the router is set up.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest request body (413 beyond).
    pub max_body_bytes: usize,
    /// Where accepted entries go to be gossiped, those of one request
    /// together (a bounded channel; when it is full the entries stay
    /// accepted and a warning is logged).
    pub gossip: Option<mpsc::Sender<Vec<EncodedEntry>>>,
    /// The entry network, whose checks of gossiped messages verify
    /// clients' signatures too (in larger batches, so at less cost per
    /// signature). Without it, each request's are verified on their own.
    pub net: Option<NetHandle>,
    /// The node's key, to cosign the log's checkpoints with while it is a
    /// validator (`GET /v1/log/checkpoint`).
    pub cosigner: Option<Arc<SigningKey>>,
    /// The other members' nodes that a party's payment terms are passed
    /// on to ([`crate::relay`]).
    pub relay: Option<Arc<crate::relay::Relay>>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_body_bytes: 256 * 1024,
            gossip: None,
            net: None,
            cosigner: None,
            relay: None,
        }
    }
}

/// How many batches are decoded and checked at once: twice the cores.
/// The others wait with their bodies read (bounded by the serve layer's
/// in-flight budget), so a hundred clients' batches at once hold a
/// handful of decoded batches in memory, not a hundred, and the decoding
/// (on the blocking pool) leaves the API's workers free to answer
/// everyone else.
fn batch_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The API's routes over `shared`.
pub fn router<B: Backend + 'static>(shared: Arc<Shared<B>>, options: ApiOptions) -> Router {
    let state = AppState {
        shared,
        cosigner: options.cosigner,
        gossip: options.gossip,
        net: options.net,
        batches: Arc::new(tokio::sync::Semaphore::new(batch_slots())),
        replays: Arc::default(),
        relay: options.relay,
    };
    Router::new()
        .route("/v1/entries", post(submit::<B>))
        .route(
            "/v1/entries/batch",
            post(submit_batch::<B>).layer(DefaultBodyLimit::max(
                options.max_body_bytes.saturating_mul(BATCH_BODY_FACTOR),
            )),
        )
        .route("/v1/entries/{id}", get(entry::<B>))
        .route(
            "/v1/entries/{id}/salts",
            get(documents_api::salts::<B>)
                .put(documents_api::salts::<B>)
                .delete(documents_api::salts::<B>),
        )
        .route("/v1/lots/{lot}/trail", get(trail::<B>))
        .route("/v1/lots/{lot}/forward", get(forward::<B>))
        .route("/v1/members/{key}/next-nonce", get(next_nonce::<B>))
        .route(
            "/v1/members/{key}/entries",
            get(audit_api::member_entries::<B>),
        )
        .route("/v1/period", get(audit_api::period_entries::<B>))
        .route("/v1/blocks/{height}", get(block::<B>))
        .route("/v1/log/checkpoint", get(log_api::tip::<B>))
        .route("/v1/log/checkpoint/{height}", get(log_api::at::<B>))
        .route(
            "/v1/log/consistency/{old}/{new}",
            get(log_api::consistency::<B>),
        )
        .route(
            "/v1/log/inclusion/{height}/{index}/{size}",
            get(log_api::inclusion::<B>),
        )
        .route("/v1/council", get(log_api::council::<B>))
        .route("/v1/payments/{id}", get(payments_api::payment::<B>))
        .route(
            "/v1/payments/{id}/terms",
            get(payments_api::terms::<B>)
                .put(payments_api::terms::<B>)
                .delete(payments_api::terms::<B>),
        )
        .route("/v1/status", get(status::<B>))
        .route("/metrics", get(metrics::<B>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), track::<B>))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes, under the
/// default limits ([`crate::serve`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serve::serve(
        listener,
        app,
        crate::serve::ServeLimits::default(),
        None,
        shutdown,
    )
    .await
}

// ---------------------------------------------------------------------------
// Responses

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Room reserved per trail item for its JSON (an entry, its block's
/// header and an inclusion proof: about 2 KiB).
const TRAIL_ITEM_JSON: usize = 2304;

fn parse_lot(text: &str) -> Result<LotId, Response> {
    text.parse::<LotId>().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("`{}` is not a lot id: {e}", shorten(text)),
        )
    })
}

// ---------------------------------------------------------------------------
// Handlers

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// The body of a submission, if it is readable JSON (counting refusals).
fn json_body<B: Backend>(
    st: &AppState<B>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    too_large: &str,
) -> Result<Bytes, Response> {
    let metrics = &st.shared.metrics;
    let body = match body {
        Ok(b) => b,
        Err(r) => {
            let status = r.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                metrics.submission("rejected", "too_large");
                return Err(error(status, too_large));
            }
            metrics.submission("rejected", "bad_body");
            return Err(error(
                status,
                format!("the request body could not be read: {}", r.body_text()),
            ));
        }
    };
    if !is_json(headers) {
        metrics.submission("rejected", "content_type");
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send signed entries as JSON with the header `Content-Type: application/json`",
        ));
    }
    Ok(body)
}

/// Offers a client's entries to the mempool in order, with one result
/// each (see [`Shared::submit_checked`]). Their signatures are verified
/// with the gossip layer's next check when the node gossips
/// ([`NetHandle::verify`]), else (or should that fail) on their own.
async fn offer<B: Backend + 'static>(
    st: &AppState<B>,
    entries: Vec<SignedEntry>,
) -> Result<Vec<Option<Result<EntryId, SubmitError>>>, Response> {
    let shared = Arc::clone(&st.shared);
    let gossip = st.gossip.clone();
    let Some(net) = &st.net else {
        return blocking(move || Ok(shared.submit_batch(entries, gossip.as_ref()))).await;
    };
    // Each entry is encoded once, for its signed message, its id and size,
    // and the bytes gossip sends.
    let encoded = Arc::new(
        entries
            .into_iter()
            .map(EncodedEntry::new)
            .collect::<Vec<_>>(),
    );
    let signatures = net.verify(Arc::clone(&encoded)).await.ok();
    blocking(move || {
        let encoded = Arc::try_unwrap(encoded).unwrap_or_else(|shared| (*shared).clone());
        let signatures = signatures.unwrap_or_else(|| verify_each(&encoded));
        Ok(shared.submit_checked(encoded, signatures, gossip.as_ref()))
    })
    .await
}

async fn submit<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &st.shared.metrics;
    let body = match json_body(
        &st,
        &headers,
        body,
        "the request body is larger than this node accepts (api.max_body_bytes); an entry is at most 64 KiB in canonical form",
    ) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let entry: SignedEntry = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            metrics.submission("rejected", "bad_json");
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a signed entry: {e} (make entries with `waybill record`)"),
            );
        }
    };
    let result = offer(&st, vec![entry]).await.and_then(|mut results| {
        results
            .pop()
            .flatten()
            .ok_or_else(|| internal("the mempool gave no answer for the entry".to_owned()))
    });
    match result {
        Err(resp) => resp,
        Ok(Ok(id)) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "id": id.to_hex() })),
        )
            .into_response(),
        Ok(Err(SubmitError::Mempool(MempoolError::Duplicate(id)))) => (
            StatusCode::OK,
            Json(json!({ "status": "pending", "id": id.to_hex() })),
        )
            .into_response(),
        Ok(Err(SubmitError::Mempool(MempoolError::Rule(e)))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "status": "rejected", "error": e.to_string() })),
        )
            .into_response(),
        Ok(Err(e @ SubmitError::Mempool(MempoolError::Full { .. }))) => {
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Ok(Err(e @ SubmitError::Mempool(MempoolError::AuthorFull { .. }))) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Ok(Err(e @ SubmitError::Unavailable(_))) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

/// One entry's outcome in a batch.
enum BatchOutcome {
    Accepted(Hash32),
    Pending(Hash32),
    Rejected(String),
    /// The mempool is full or the node unavailable: the rest of the batch
    /// was not attempted.
    Stopped(&'static str, String),
    NotAttempted,
}

async fn submit_batch<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let metrics = &st.shared.metrics;
    let body = match json_body(
        &st,
        &headers,
        body,
        "the request body is larger than this node accepts for a batch (32 times api.max_body_bytes); send fewer entries per batch",
    ) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(_slot) = st.batches.acquire().await else {
        return internal("the batch queue is closed".to_owned());
    };
    let decoded = blocking(move || Ok(serde_json::from_slice::<Vec<SignedEntry>>(&body))).await;
    let entries = match decoded {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            metrics.submission("rejected", "bad_json");
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not a JSON array of signed entries: {e} (make entries with `waybill record`)"
                ),
            );
        }
        Err(r) => return r,
    };
    if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
        metrics.submission("rejected", "bad_batch");
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "a batch holds 1 to {MAX_BATCH_ENTRIES} entries, this one {}",
                entries.len()
            ),
        );
    }
    // Entries are checked in array order (signatures in one batch); the
    // accepted ones go to gossip together, in the same order.
    let result = offer(&st, entries).await.map(|results| {
        results
            .into_iter()
            .map(|result| match result {
                None => BatchOutcome::NotAttempted,
                Some(Ok(id)) => BatchOutcome::Accepted(id),
                Some(Err(SubmitError::Mempool(MempoolError::Duplicate(id)))) => {
                    BatchOutcome::Pending(id)
                }
                Some(Err(SubmitError::Mempool(MempoolError::Rule(e)))) => {
                    BatchOutcome::Rejected(e.to_string())
                }
                Some(Err(e @ SubmitError::Mempool(MempoolError::Full { .. }))) => {
                    BatchOutcome::Stopped("full", e.to_string())
                }
                Some(Err(e @ SubmitError::Mempool(MempoolError::AuthorFull { .. }))) => {
                    BatchOutcome::Stopped("author_full", e.to_string())
                }
                Some(Err(e @ SubmitError::Unavailable(_))) => {
                    BatchOutcome::Stopped("unavailable", e.to_string())
                }
            })
            .collect::<Vec<_>>()
    });
    let outcomes = match result {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut full = false;
    let mut count = 0usize;
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|o| match o {
            BatchOutcome::Accepted(id) => {
                count += 1;
                json!({ "status": "accepted", "id": id.to_hex() })
            }
            BatchOutcome::Pending(id) => json!({ "status": "pending", "id": id.to_hex() }),
            BatchOutcome::Rejected(e) => json!({ "status": "rejected", "error": e }),
            BatchOutcome::Stopped(status, e) => {
                full = true;
                json!({ "status": status, "error": e })
            }
            BatchOutcome::NotAttempted => json!({ "status": "not_attempted" }),
        })
        .collect();
    let mut r = Json(json!({ "accepted": count, "results": results })).into_response();
    if full {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

async fn entry<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(text) = match id {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    let Ok(id) = text.parse::<Hash32>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not an entry id; an entry id is 64 hex digits",
                shorten(&text)
            ),
        );
    };
    let shared = Arc::clone(&st.shared);
    match blocking(move || shared.entry_status(&id).map_err(read_error)).await {
        Err(r) => r,
        Ok(EntryStatus::Final {
            entry,
            height,
            index,
        }) => Json(json!({
            "id": id.to_hex(),
            "status": "final",
            "entry": entry,
            "height": height,
            "index": index,
        }))
        .into_response(),
        Ok(EntryStatus::Pending(entry)) => Json(json!({
            "id": id.to_hex(),
            "status": "pending",
            "entry": entry,
        }))
        .into_response(),
        Ok(EntryStatus::Unknown) => error(
            StatusCode::NOT_FOUND,
            format!("entry {id} is neither on this ledger nor waiting in its mempool"),
        ),
    }
}

async fn trail<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    lot: Result<Path<String>, PathRejection>,
) -> Response {
    let lot = match lot
        .map_err(path_rejection)
        .and_then(|Path(l)| parse_lot(&l))
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    let body = blocking(move || {
        let ledger = shared
            .read()
            .map_err(|e| read_error(ReadError::Unavailable(e)))?;
        let trail = ledger
            .trail(&lot)
            .map_err(|e| read_error(ReadError::Store(e)))?;
        drop(ledger);
        // About 2 KiB of JSON per item: sized once rather than grown
        // (and copied) a dozen times.
        let mut body = Vec::with_capacity(trail.items.len().saturating_mul(TRAIL_ITEM_JSON) + 1024);
        serde_json::to_writer(&mut body, &trail).map_err(internal)?;
        Ok(body)
    })
    .await;
    match body {
        Ok(b) => json_bytes(StatusCode::OK, b),
        Err(r) => r,
    }
}

async fn forward<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    lot: Result<Path<String>, PathRejection>,
) -> Response {
    let lot = match lot
        .map_err(path_rejection)
        .and_then(|Path(l)| parse_lot(&l))
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    let body = blocking(move || {
        let ledger = shared
            .read()
            .map_err(|e| read_error(ReadError::Unavailable(e)))?;
        let lots = ledger
            .forward(&lot)
            .map_err(|e| read_error(ReadError::Store(e)))?;
        let name = |k: &PublicKey| ledger.state().members.get(k).map(|m| m.spec.name.clone());
        let rows: Vec<Value> = lots
            .iter()
            .map(|(id, s)| {
                let holdings: Vec<Value> = s
                    .holdings
                    .iter()
                    .map(|h| {
                        json!({
                            "holder": name(&h.holder),
                            "holder_key": h.holder.to_hex(),
                            "status": if h.shipment.is_some() { "in_transit" } else { "held" },
                            "shipment": h.shipment.as_ref().map(|x| x.to_string()),
                            "quantity": h.quantity.to_string(),
                        })
                    })
                    .collect();
                json!({
                    "lot": id.to_string(),
                    "holdings": holdings,
                    "remaining": s.remaining().to_string(),
                    "consumed": s.consumed.to_string(),
                    "lost": s.lost.to_string(),
                    "unit": s.unit.to_string(),
                    "recalled": s.open_recalls().next().is_some(),
                    "voided": s.voided_by.is_some(),
                })
            })
            .collect();
        Ok(json!({ "lot": lot.to_string(), "made_from_it": rows }))
    })
    .await;
    match body {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn next_nonce<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    key: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(text) = match key {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    let Ok(key) = text.parse::<PublicKey>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "`{}` is not a member's public key; a public key is 64 hex digits (`waybill key show KEY.pem` prints it)",
                shorten(&text)
            ),
        );
    };
    let shared = Arc::clone(&st.shared);
    let nonces = blocking(move || {
        shared
            .nonces(&key)
            .map_err(|e| read_error(ReadError::Unavailable(e)))
    })
    .await;
    match nonces {
        Err(r) => r,
        Ok(AuthorNonces::Unknown) => error(
            StatusCode::NOT_FOUND,
            format!("{key} is not a member of this chain"),
        ),
        Ok(AuthorNonces::Removed { name, height }) => error(
            StatusCode::NOT_FOUND,
            format!(
                "the key {key} of `{name}` was removed or rotated out at height {height} and can sign nothing after it"
            ),
        ),
        Ok(AuthorNonces::Member {
            name,
            committed,
            last,
            pending,
        }) => match last.checked_add(1) {
            Some(next) => Json(json!({
                "key": key.to_hex(),
                "member": name,
                "chain_id": st.shared.chain_id.to_hex(),
                "next_nonce": next,
                "committed_nonce": committed,
                "pending": pending,
            }))
            .into_response(),
            None => error(
                StatusCode::CONFLICT,
                format!("`{name}` has used every nonce; rotate its key"),
            ),
        },
    }
}

fn block_not_found(height: u64, tip: u64) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("block {height} is not on this ledger (its height is {tip})"),
    )
}

/// Whether the request's `Accept` header names
/// `application/octet-stream` (the one binary form the API serves), with
/// a weight above zero (`q=0` means "not acceptable").
fn wants_bytes(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let mut parts = t.split(';').map(str::trim);
            let named = parts
                .next()
                .is_some_and(|m| m.eq_ignore_ascii_case(OCTET_STREAM));
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            named && !refused
        })
}

const OCTET_STREAM: &str = "application/octet-stream";

async fn block<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    headers: HeaderMap,
    height: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(text) = match height {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    let height = match text.parse::<u64>() {
        Ok(h) if h >= 1 => h,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not a block height; heights are whole numbers from 1",
                    shorten(&text)
                ),
            )
        }
    };
    let shared = Arc::clone(&st.shared);
    if wants_bytes(&headers) {
        // The stored canonical bytes, neither decoded nor re-encoded: the
        // block hash and every entry id can be computed from them.
        let body = blocking(move || {
            let ledger = shared
                .read()
                .map_err(|e| read_error(ReadError::Unavailable(e)))?;
            let tip = ledger.height();
            match ledger.block_bytes(height) {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(block_not_found(height, tip)),
                Err(e) => Err(read_error(ReadError::Store(e))),
            }
        })
        .await;
        return match body {
            Ok(b) => (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM)),
                    (header::VARY, HeaderValue::from_static("accept")),
                ],
                b,
            )
                .into_response(),
            Err(r) => r,
        };
    }
    let body = blocking(move || {
        let ledger = shared
            .read()
            .map_err(|e| read_error(ReadError::Unavailable(e)))?;
        let store = |e| read_error(ReadError::Store(e));
        let Some(block) = ledger.block(height).map_err(store)? else {
            return Err(block_not_found(height, ledger.height()));
        };
        let cert = ledger.certificate(height).map_err(store)?;
        drop(ledger);
        // Serialised straight from the block: going through `json!` built
        // a `Value` tree of every entry first, and a block of a few
        // thousand entries made this the costliest request a node served.
        // Fields in the order `json!`'s sorted map gave them.
        #[derive(serde::Serialize)]
        struct BlockAnswer<'a> {
            block: &'a waybill_core::block::Block,
            certificate: &'a Option<waybill_core::block::CommitCertificate>,
            hash: String,
        }
        serde_json::to_vec(&BlockAnswer {
            block: &block,
            certificate: &cert,
            hash: block.header.hash().to_hex(),
        })
        .map_err(internal)
    })
    .await;
    match body {
        Ok(b) => {
            // The answer depends on `Accept`: caches must keep both forms.
            let mut r = json_bytes(StatusCode::OK, b);
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept"));
            r
        }
        Err(r) => r,
    }
}

async fn status<B: Backend + 'static>(State(st): State<AppState<B>>) -> Response {
    let shared = Arc::clone(&st.shared);
    let body = blocking(move || {
        let ledger = shared
            .read()
            .map_err(|e| read_error(ReadError::Unavailable(e)))?;
        let tip = ledger.tip().cloned();
        let (entries, bytes, limits) = {
            let pool = shared.pool();
            (pool.len(), pool.bytes(), pool.limits())
        };
        drop(ledger);
        let g = &shared.genesis;
        Ok(json!({
            "chain_name": g.chain_name,
            "chain_id": shared.chain_id.to_hex(),
            "height": tip.as_ref().map_or(0, |t| t.height),
            "tip_hash": tip.as_ref().map(|t| t.hash().to_hex()),
            "tip_time_ms": tip.as_ref().map(|t| t.time_ms),
            "validators": g.validators.iter().map(|v| json!({
                "name": v.name,
                "public_key": v.public_key.to_hex(),
                "power": v.power,
            })).collect::<Vec<_>>(),
            "gossip_peers": shared.peers.load(std::sync::atomic::Ordering::Relaxed),
            "mempool": {
                "entries": entries,
                "bytes": bytes,
                "max_entries": limits.max_entries,
                "max_bytes": limits.max_bytes,
            },
            "uptime_s": shared.started.elapsed().as_secs(),
            "version": env!("CARGO_PKG_VERSION"),
        }))
    })
    .await;
    match body {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn metrics<B: Backend + 'static>(State(st): State<AppState<B>>) -> Response {
    let shared = Arc::clone(&st.shared);
    let text = blocking(move || {
        let met = &shared.metrics;
        {
            let ledger = shared
                .read()
                .map_err(|e| read_error(ReadError::Unavailable(e)))?;
            m::set(&met.height, ledger.height());
            let pool = shared.pool();
            m::set(&met.mempool_entries, pool.len());
            m::set(&met.mempool_bytes, pool.bytes());
        }
        m::set(
            &met.peers,
            shared.peers.load(std::sync::atomic::Ordering::Relaxed),
        );
        m::set(&met.uptime_seconds, shared.started.elapsed().as_secs());
        met.encode().map_err(internal)
    })
    .await;
    match text {
        Ok(t) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(m::CONTENT_TYPE),
            )],
            t,
        )
            .into_response(),
        Err(r) => r,
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "there is no endpoint {method} {}; the API has /v1/entries, /v1/entries/batch, /v1/entries/{{id}}, /v1/lots/{{lot}}/trail, /v1/lots/{{lot}}/forward, /v1/members/{{key}}/next-nonce, /v1/blocks/{{height}}, /v1/status and /metrics",
            shorten(uri.path())
        ),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", shorten(uri.path())),
    )
}

/// Counts every request by route template, method and status.
async fn track<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let resp = next.run(req).await;
    st.shared
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            method: method.to_owned(),
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}
