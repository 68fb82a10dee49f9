//! The API's routes for the ledger's log (see `waybill_core::checkpoint`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/log/checkpoint` | the tip's checkpoint as a C2SP signed note (`text/plain; charset=utf-8`): origin, size, root, `height`, `block`, a blank line, and a `tlog-cosignature` line per validator: those its precommit carried, kept with the block, and this node's own if it is a validator of that height not among them. Each states the block's time, so every validator signs the same message and lines from several nodes join into one note (`waybill checkpoint fetch`). 404 before the first block, or for a block kept without cosignatures on a node that cannot cosign |
//! | `GET /v1/log/checkpoint/{height}` | the same as of block `height`; 404 beyond the tip; 400 bad height |
//! | `GET /v1/log/inclusion/{height}/{index}/{size}` | `{"leaf","size","proof":[hex…]}`: the entry at `index` in block `height` is leaf `leaf` of the log, and the RFC 6962 proof that it is in the log's first `size` entries; 404 no such entry, or `size` beyond the log or not past the leaf; 400 not numbers |
//! | `GET /v1/council` | every membership and governance entry with its proofs, as of the tip (`waybill_core::trail::Council`): with the genesis, the validator set of any height, to verify a checkpoint cosigned after the validators changed |
//! | `GET /v1/log/consistency/{old}/{new}` | `{"old","new","proof":[hex…]}`, the RFC 6962 proof that the log's first `old` entries are a prefix of its first `new`; 404 `new` beyond the log; 400 `old > new` or not numbers |

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use waybill_consensus::cosignature_time;
use waybill_core::checkpoint::{self, Cosignature};
use waybill_core::crypto::{self, Hash32};
use waybill_store::{Backend, StoreError};

use crate::handler::{blocking, error, path_rejection, read_error, shorten, AppState};
use crate::shared::{LogHead, ReadError};

/// A whole number from a path segment, or a 400 naming `what`.
fn number(text: &str, what: &str) -> Result<u64, Response> {
    text.parse::<u64>().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("`{}` is not {what}; it is a whole number", shorten(text)),
        )
    })
}

/// `GET /v1/log/checkpoint`.
pub(crate) async fn tip<B: Backend + 'static>(State(st): State<AppState<B>>) -> Response {
    note(st, None).await
}

/// `GET /v1/log/checkpoint/{height}`.
pub(crate) async fn at<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    height: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(text) = match height {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    match number(&text, "a block height") {
        Ok(h) if h >= 1 => note(st, Some(h)).await,
        Ok(_) => error(
            StatusCode::BAD_REQUEST,
            "block heights start at 1; the log is empty before block 1",
        ),
        Err(r) => r,
    }
}

async fn note<B: Backend + 'static>(st: AppState<B>, height: Option<u64>) -> Response {
    let shared = Arc::clone(&st.shared);
    let head = blocking(move || shared.log_head(height).map_err(read_error)).await;
    let head: LogHead = match head {
        Err(r) => return r,
        Ok(Some(h)) => h,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                match height {
                    Some(h) => format!("block {h} is not committed on this node"),
                    None => "the ledger has no blocks yet, so its log is empty".into(),
                },
            )
        }
    };
    let cp = &head.checkpoint;
    // The cosignatures kept with the block, then this node's own if it is
    // a validator of that height whose line is not among them (it
    // precommitted another round, or the block came by sync).
    let mut cosignatures = head.cosignatures.clone();
    if let Some(key) = st.cosigner.as_deref() {
        let me = crypto::public_key(key);
        let mine = cosignatures.iter().any(|c| c.validator == me);
        if !mine && head.validators.iter().any(|v| v.public_key == me) {
            match Cosignature::sign(cp, key, cosignature_time(head.time_ms)) {
                Ok(c) => cosignatures.push(c),
                Err(e) => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("the node failed to cosign checkpoint {}: {e}", cp.height),
                    )
                }
            }
        }
    }
    if cosignatures.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "block {} was committed without its validators' cosignatures, and this node is not a validator of its height; ask a validator's node",
                cp.height
            ),
        );
    }
    let text = cosignatures
        .iter()
        .map(|c| c.line(&head.chain_id))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|lines| checkpoint::note(cp, &lines));
    match text {
        Ok(bytes) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the node failed to cosign checkpoint {}: {e}", cp.height),
        ),
    }
}

/// `GET /v1/log/consistency/{old}/{new}`.
pub(crate) async fn consistency<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    sizes: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Path((old, new)) = match sizes {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    let (old, new) = match (number(&old, "a log size"), number(&new, "a log size")) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if old > new {
        return error(
            StatusCode::BAD_REQUEST,
            format!("a log only grows: the old size {old} is larger than the new {new}"),
        );
    }
    let shared = Arc::clone(&st.shared);
    let proof = blocking(move || match shared.log_consistency(old, new) {
        Ok(p) => Ok(p),
        Err(ReadError::Store(StoreError::Log(m))) => Err(error(StatusCode::NOT_FOUND, m)),
        Err(e) => Err(read_error(e)),
    })
    .await;
    match proof {
        Ok(p) => Json(json!({
            "old": old,
            "new": new,
            "proof": p.iter().map(Hash32::to_hex).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// `GET /v1/log/inclusion/{height}/{index}/{size}`.
pub(crate) async fn inclusion<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    at: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Path((height, index, size)) = match at {
        Ok(p) => p,
        Err(r) => return path_rejection(r),
    };
    let (height, index, size) = match (
        number(&height, "a block height"),
        number(&index, "an entry's index in its block"),
        number(&size, "a log size"),
    ) {
        (Ok(h), Ok(i), Ok(n)) => (h, i, n),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let Ok(index) = u32::try_from(index) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("block {height} has no entry {index}"),
        );
    };
    let shared = Arc::clone(&st.shared);
    let found = blocking(move || match shared.log_inclusion(height, index, size) {
        Ok(p) => Ok(p),
        Err(ReadError::Store(StoreError::Log(m))) => Err(error(StatusCode::NOT_FOUND, m)),
        Err(e) => Err(read_error(e)),
    })
    .await;
    match found {
        Ok(Some((leaf, proof))) => Json(json!({
            "leaf": leaf,
            "size": size,
            "proof": proof.iter().map(Hash32::to_hex).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("there is no entry {index} in a committed block {height}"),
        ),
        Err(r) => r,
    }
}

/// `GET /v1/council`.
pub(crate) async fn council<B: Backend + 'static>(State(st): State<AppState<B>>) -> Response {
    let shared = Arc::clone(&st.shared);
    let council = blocking(move || {
        let ledger = shared
            .read()
            .map_err(|e| read_error(ReadError::Unavailable(e)))?;
        ledger
            .council()
            .map_err(|e| read_error(ReadError::Store(e)))
    })
    .await;
    match council {
        Ok(c) => Json(c).into_response(),
        Err(r) => r,
    }
}
