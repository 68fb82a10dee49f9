//! Signed requests (see [`waybill_core::request`]): the checks every
//! private route makes before it looks at what is asked.
//!
//! A request without the signature headers, or with a bad signature, a
//! time outside the node's window of [`REQUEST_WINDOW_MS`] either side of
//! its clock, or a signature the node has seen before, is refused with
//! 401 (`WWW-Authenticate: Waybill-Signature`). What the signer may do is
//! the route's to judge (403).

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use waybill_core::crypto::{PublicKey, Signature};
use waybill_core::request::{SignedRequest, KEY_HEADER, SIGNATURE_HEADER, TIME_HEADER};
use waybill_core::state::{MemberRecord, View};
use waybill_store::{Backend, Ledger};

use crate::shared::now_ms;

/// An error answer: `status` with `{"error": message}` (as every route's).
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// How far a signed request's time may be from the node's clock.
pub const REQUEST_WINDOW_MS: i64 = 60_000;

/// The most signatures remembered at once; beyond, signed requests wait
/// their turn (503) rather than letting a replay through.
const MAX_REMEMBERED: usize = 100_000;

/// Signatures of the requests served within the window, so that none is
/// served twice.
#[derive(Default)]
pub(crate) struct Replays {
    seen: Mutex<HashMap<[u8; 64], i64>>,
}

impl Replays {
    /// Remembers `sig` (made at `time_ms`); false if it was seen already.
    fn first_time(&self, sig: &Signature, time_ms: i64, now: i64) -> Result<bool, Response> {
        let mut seen = self.seen.lock();
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, t| (now - *t).abs() <= REQUEST_WINDOW_MS);
        }
        if seen.len() >= MAX_REMEMBERED {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many signed requests at once; try again in a minute",
            ));
        }
        Ok(seen.insert(sig.0, time_ms).is_none())
    }
}

fn unauthorized(why: impl Into<String>) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, why);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Waybill-Signature"),
    );
    r
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Response> {
    headers
        .get(name)
        .ok_or_else(|| {
            unauthorized(format!(
                "this is private: sign the request (headers {KEY_HEADER}, \
                 {TIME_HEADER}, {SIGNATURE_HEADER}; `waybill terms get` and `waybill export --member` do it)"
            ))
        })?
        .to_str()
        .map_err(|_| unauthorized(format!("the {name} header is not text")))
}

/// Reads and checks a request's signature, its time and that it was not
/// seen before.
pub(crate) fn signed(
    st_chain: &waybill_core::genesis::ChainId,
    replays: &Replays,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<PublicKey, Response> {
    let key: PublicKey = header_text(headers, KEY_HEADER)?
        .parse()
        .map_err(|_| unauthorized(format!("the {KEY_HEADER} header is not a public key")))?;
    let time_ms: i64 = header_text(headers, TIME_HEADER)?
        .parse()
        .map_err(|_| unauthorized(format!("the {TIME_HEADER} header is not ms since 1970")))?;
    let signature: Signature = header_text(headers, SIGNATURE_HEADER)?
        .parse()
        .map_err(|_| unauthorized(format!("the {SIGNATURE_HEADER} header is not a signature")))?;
    let request = SignedRequest {
        key,
        time_ms,
        signature,
    };
    request
        .verify(st_chain, method.as_str(), path, body)
        .map_err(|_| {
            unauthorized(
                "the request's signature does not verify for this chain, method, path and body",
            )
        })?;
    let now = now_ms();
    if (now - time_ms).abs() > REQUEST_WINDOW_MS {
        return Err(unauthorized(format!(
            "the request was signed at {time_ms}, more than {} s from this node's clock ({now}); sign it again",
            REQUEST_WINDOW_MS / 1000
        )));
    }
    if !replays.first_time(&signature, time_ms, now)? {
        return Err(unauthorized(
            "this signed request was served already; sign each request afresh",
        ));
    }
    Ok(key)
}

/// What a request to `uri` signs as its path: the path and query.
pub(crate) fn signed_path(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// The signer's record, if it is an active member; 403 otherwise.
pub(crate) fn active_member<'a, B: Backend>(
    ledger: &'a Ledger<B>,
    signer: &PublicKey,
) -> Result<&'a MemberRecord, Response> {
    ledger
        .state()
        .member(signer)
        .filter(|m| m.active())
        .ok_or_else(|| {
            error(
                StatusCode::FORBIDDEN,
                format!("{} is not an active member of this chain", signer.short()),
            )
        })
}
