//! Document salts on the API. The ledger keeps each document's salted
//! digest; the salt (what `waybill record` wrote to `OUT.salts.json`) lets
//! whoever holds the file check it against the ledger, so it is private:
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/entries/{id}/salts` | signed by the entry's author or a member with the auditor role: `{"entry_id","salts"}`, the salts file as the author keeps it (check a document with `waybill document check`); 404 when this node keeps none |
//! | `PUT /v1/entries/{id}/salts` | signed by the entry's author, body: the salts file. Kept only if the entry is on the ledger and references every digest in it (422 otherwise). 200 `{"entry_id","kept":N}` |
//! | `DELETE /v1/entries/{id}/salts` | signed by the entry's author: the node forgets the salts (the chain still verifies without them). 200 `{"entry_id","erased":bool}` |
//!
//! 401 for a request not signed as [`crate::auth`] requires; 403 for a
//! signer that is not an active member or not allowed. Neither says
//! whether the entry exists or references any document.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use waybill_core::crypto::Hash32;
use waybill_core::entry::EntryId;
use waybill_core::genesis::Role;
use waybill_core::terms::DocumentSalts;
use waybill_store::{Backend, StoreError};

use crate::auth;
use crate::handler::{blocking, error, internal, path_rejection, read_error, shorten, AppState};

/// `GET`, `PUT` and `DELETE /v1/entries/{id}/salts`.
pub(crate) async fn salts<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let id: EntryId = match id.map_err(path_rejection).and_then(|Path(t)| {
        t.parse::<Hash32>().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`{}` is not an entry id; an entry id is 64 hex digits",
                    shorten(&t)
                ),
            )
        })
    }) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let signer = match st.signer(&method, &uri, &headers, &body) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    let m = method.clone();
    blocking(move || {
        let ledger = shared.read().map_err(|e| read_error(e.into()))?;
        let member = auth::active_member(&ledger, &signer)?;
        let auditor = member.spec.roles.contains(&Role::Auditor);
        let author = ledger
            .entry(&id)
            .map_err(internal)?
            .is_some_and(|l| l.entry.entry.author == signer);
        let reading = m == Method::GET;
        if !(author || reading && auditor) {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "`{}` may not {} these salts: only the entry's author{}",
                    member.spec.name,
                    if reading { "see" } else { "change" },
                    if reading { " and auditors" } else { "" }
                ),
            ));
        }
        let entry_id = id.to_hex();
        match m {
            Method::GET => match ledger.salts(&id).map_err(internal)? {
                Some(s) => Ok(Json(json!({"entry_id": entry_id, "salts": s})).into_response()),
                None => Err(error(
                    StatusCode::NOT_FOUND,
                    format!("this node keeps no document salts of entry {}", id.short()),
                )),
            },
            Method::PUT => {
                let salts: DocumentSalts = serde_json::from_slice(&body).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not a document salts file: {e}"),
                    )
                })?;
                match ledger.put_salts(&id, &salts) {
                    Ok(n) => Ok(Json(json!({"entry_id": entry_id, "kept": n})).into_response()),
                    Err(StoreError::Salts(why)) => Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("the document salts were not kept: {why}"),
                    )),
                    Err(e) => Err(internal(e)),
                }
            }
            Method::DELETE => {
                let erased = ledger.erase_salts(&id).map_err(internal)?;
                Ok(Json(json!({"entry_id": entry_id, "erased": erased})).into_response())
            }
            other => Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{other} is not allowed here; use GET, PUT or DELETE"),
            )),
        }
    })
    .await
    .unwrap_or_else(|r| r)
}
