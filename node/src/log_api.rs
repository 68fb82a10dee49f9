//! The API's routes for the ledger's log (see `waybill_core::checkpoint`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/log/checkpoint` | the tip's checkpoint as a C2SP signed note (`text/plain; charset=utf-8`): origin, size, root, `height`, `block`, a blank line, and this node's `tlog-cosignature` line, stamped with the block's time (so every validator's line for one height signs the same message, and lines from several nodes make one note: `waybill checkpoint fetch`); 404 before the first block, or if this node is not a validator of that height (it cannot cosign) |
//! | `GET /v1/log/checkpoint/{height}` | the same as of block `height`; 404 beyond the tip; 400 bad height |
//! | `GET /v1/log/consistency/{old}/{new}` | `{"old","new","proof":[hex…]}`, the RFC 6962 proof that the log's first `old` entries are a prefix of its first `new`; 404 `new` beyond the log; 400 `old > new` or not numbers |

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use waybill_core::checkpoint;
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
    let Some(key) = st.cosigner.as_deref() else {
        return error(
            StatusCode::NOT_FOUND,
            "this node has no key to cosign checkpoints with; ask a validator's node",
        );
    };
    let me = crypto::public_key(key);
    let cp = &head.checkpoint;
    if !head.validators.iter().any(|v| v.public_key == me) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "this node ({}) is not a validator at height {}, so it cannot cosign the checkpoint; ask a validator's node",
                me.short(),
                cp.height
            ),
        );
    }
    let time = u64::try_from(head.time_ms.div_euclid(1000)).unwrap_or(0);
    let text = checkpoint::cosign(cp, &head.chain_id, key, time)
        .and_then(|line| checkpoint::note(cp, &[line]));
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
