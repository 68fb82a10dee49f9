//! An auditor's export of a member: `GET /v1/members/{key}/entries`,
//! signed (see [`crate::auth`]) by an auditor or by the member itself,
//! answers the member's trail ([`waybill_core::trail::MemberTrail`]):
//! every entry it signed and the consortium's history, with their proofs
//! and the completeness proofs of the member's key and the membership.
//! 401 unsigned (or stale, replayed, badly signed); 403 another member
//! that is not an auditor, or a key that is no active member; 400 a bad
//! key. `waybill export --member` verifies it.
//!
//! An auditor's export of a period: `GET /v1/period?from=MS&to=MS` (either
//! bound may be left out), signed by an auditor, answers every entry in
//! the blocks of the period ([`waybill_core::trail::PeriodTrail`]), with
//! the headers that bound it; `waybill export --period` proves it complete
//! with the log's checkpoints at those bounds. 413 a period of more than
//! [`MAX_PERIOD_ENTRIES`] entries; 400 a bad bound.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::Role;
use waybill_store::{Backend, StoreError};

use crate::auth;
use crate::handler::{blocking, error, internal, path_rejection, read_error, shorten, AppState};

/// `GET /v1/members/{key}/entries`.
pub(crate) async fn member_entries<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    key: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let member: PublicKey = match key.map_err(path_rejection).and_then(|Path(t)| {
        t.parse().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not a member's public key (64 hex digits)",
                    shorten(&t)
                ),
            )
        })
    }) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let signer = match st.signer(&method, &uri, &headers, &body) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    blocking(move || {
        let ledger = shared.read().map_err(|e| read_error(e.into()))?;
        let forbidden = |why: String| error(StatusCode::FORBIDDEN, why);
        let record = auth::active_member(&ledger, &signer)?;
        if signer != member && !record.spec.roles.contains(&Role::Auditor) {
            return Err(forbidden(format!(
                "`{}` may not export another member's entries: only auditors may",
                record.spec.name
            )));
        }
        let trail = ledger.member_trail(&member).map_err(internal)?;
        Ok(Json(trail).into_response())
    })
    .await
    .unwrap_or_else(|r| r)
}

/// The most entries one period export carries (a few KiB of JSON each
/// with its proofs and its block's certificate, so that an export stays
/// well within what the CLI reads): a longer period is asked in parts.
pub const MAX_PERIOD_ENTRIES: u64 = 20_000;

/// `GET /v1/period?from=MS&to=MS`.
pub(crate) async fn period_entries<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (from, to) = match period_bounds(uri.query().unwrap_or("")) {
        Ok(b) => b,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let signer = match st.signer(&method, &uri, &headers, &body) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    blocking(move || {
        let ledger = shared.read().map_err(|e| read_error(e.into()))?;
        let record = auth::active_member(&ledger, &signer)?;
        if !record.spec.roles.contains(&Role::Auditor) {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` may not export a period: only auditors may",
                    record.spec.name
                ),
            ));
        }
        match ledger.period_trail(from, to, MAX_PERIOD_ENTRIES) {
            Ok(t) => Ok(Json(t).into_response()),
            Err(e @ StoreError::PeriodTooLarge { .. }) => {
                Err(error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
            }
            Err(e) => Err(internal(e)),
        }
    })
    .await
    .unwrap_or_else(|r| r)
}

/// `from` and `to` of a period's query (ms since 1970), each optional;
/// anything else is refused.
fn period_bounds(query: &str) -> Result<(Option<i64>, Option<i64>), String> {
    let (mut from, mut to) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "from" => &mut from,
            "to" => &mut to,
            _ => {
                return Err(format!(
                    "`{}` is not a period's bound: give from=MS and to=MS (ms since 1970)",
                    shorten(name)
                ))
            }
        };
        let ms: i64 = value
            .parse()
            .map_err(|_| format!("`{name}={}` is not a time in ms since 1970", shorten(value)))?;
        if slot.replace(ms).is_some() {
            return Err(format!("`{name}` is given twice"));
        }
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err("the period ends before it starts: `to` must be after `from`".into());
        }
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::period_bounds;

    #[test]
    fn period_bounds_are_read_or_refused() {
        assert_eq!(period_bounds(""), Ok((None, None)));
        assert_eq!(period_bounds("from=5"), Ok((Some(5), None)));
        assert_eq!(period_bounds("to=9&from=5"), Ok((Some(5), Some(9))));
        for bad in [
            "from=x",
            "since=5",
            "from=5&from=6",
            "from=9&to=5",
            "from=5&to=5",
        ] {
            assert!(period_bounds(bad).is_err(), "{bad}");
        }
    }
}
