//! An auditor's export of a member: `GET /v1/members/{key}/entries`,
//! signed (see [`crate::auth`]) by an auditor or by the member itself,
//! answers the member's trail ([`waybill_core::trail::MemberTrail`]):
//! every entry it signed and the consortium's history, with their proofs
//! and the completeness proofs of the member's key and the membership.
//! 401 unsigned (or stale, replayed, badly signed); 403 another member
//! that is not an auditor, or a key that is no active member; 400 a bad
//! key. `waybill export --member` verifies it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::Role;
use waybill_store::Backend;

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
    let signer = match auth::signer(
        &st.shared.chain_id,
        &st.replays,
        &method,
        &uri,
        &headers,
        &body,
    ) {
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
