//! Payments on the API: what the ledger says of a payment, for anyone,
//! and its sealed terms, only on a request signed by a member allowed to
//! see them (see [`waybill_core::request`]).
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/payments/{uetr}` | the payment as the ledger has it: parties, shipments, the payer's status, the commitments, the recording entry (`entry`, `entry_id`, `height`), the payee's confirmation (`confirmed_by`), whether it was declared erroneous (`corrected_by`), and whether this node keeps its terms (`terms_kept`). No term is in it. 404 unknown; 400 bad UETR |
//! | `GET /v1/payments/{uetr}/terms` | signed by the payer, the payee or a member with the auditor role: `{"payment_id","terms"}`, the openings as the parties keep them (check them against the commitments with `waybill terms verify`); 404 when this node keeps none |
//! | `PUT /v1/payments/{uetr}/terms` | signed by the payer or the payee, body: the terms file. Kept only if every opening matches its commitment on the ledger (422 otherwise). 200 `{"payment_id","kept":true}` |
//! | `DELETE /v1/payments/{uetr}/terms` | signed by the payer or the payee: the node forgets the openings (the chain still verifies without them). 200 `{"payment_id","erased":bool}` |
//!
//! A PUT or DELETE that succeeds is passed on, with the party's own
//! signature, to the nodes of the payment's parties and the auditors
//! named in `[terms_relay]` ([`crate::relay`]).
//!
//! A request that is not signed as [`crate::auth`] requires is refused
//! with 401; a signer that is not an active member, or whose roles do not
//! allow the request, with 403. Neither answer says whether the payment
//! exists or what its terms are.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use waybill_core::codes::Uetr;
use waybill_core::genesis::Role;
use waybill_core::state::View;
use waybill_core::terms::Openings;
use waybill_store::{Backend, StoreError};

use crate::auth;
use crate::handler::{blocking, error, internal, path_rejection, read_error, shorten, AppState};
use crate::relay::{Relay, Signed};

/// Who may do what with a payment's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The parties and auditors.
    Read,
    /// The parties.
    Write,
}

fn parse_uetr(text: &str) -> Result<Uetr, Response> {
    text.parse().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("`{}` is not a payment id (a UUID v4): {e}", shorten(text)),
        )
    })
}

/// `GET /v1/payments/{uetr}`.
pub(crate) async fn payment<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id
        .map_err(path_rejection)
        .and_then(|Path(t)| parse_uetr(&t))
    {
        Ok(id) => id,
        Err(r) => return r,
    };
    let shared = Arc::clone(&st.shared);
    let found = blocking(move || {
        let ledger = shared.read().map_err(|e| read_error(e.into()))?;
        let Some(state) = ledger.state().payment(&id).map(|p| p.into_owned()) else {
            return Ok(None);
        };
        let sealed = ledger.sealed_payment(&id).map_err(internal)?;
        let kept = ledger.has_terms(&id).map_err(internal)?;
        Ok(Some((state, sealed, kept)))
    })
    .await;
    match found {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("payment {id} is not recorded on this ledger"),
        ),
        Ok(Some((state, sealed, kept))) => {
            let (entry, height, body) = match sealed {
                Some((located, body)) => (Some(located.entry), Some(located.height), Some(body)),
                None => (None, None, None),
            };
            Json(json!({
                "payment_id": id.to_string(),
                "payer": state.payer,
                "payee": state.payee,
                "shipments": body.as_ref().map(|b| b.shipments.clone()),
                "status": body.as_ref().map(|b| b.status),
                "commitments": body.as_ref().map(|b| b.terms.clone()),
                "entry_id": state.recorded_by,
                "height": height,
                "entry": entry,
                "confirmed_by": state.confirmed_by,
                "corrected_by": state.corrected_by,
                "terms_kept": kept,
            }))
            .into_response()
        }
    }
}

/// `GET`, `PUT` and `DELETE /v1/payments/{uetr}/terms`.
pub(crate) async fn terms<B: Backend + 'static>(
    State(st): State<AppState<B>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let id = match id
        .map_err(path_rejection)
        .and_then(|Path(t)| parse_uetr(&t))
    {
        Ok(id) => id,
        Err(r) => return r,
    };
    let signer = match st.signer(&method, &uri, &headers, &body) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let access = if method == Method::GET {
        Access::Read
    } else {
        Access::Write
    };
    // What a successful change passes on to the other members' nodes.
    let relayed = st.relay.clone().and_then(|r| {
        Some((
            r,
            Signed::of(&method, &auth::signed_path(&uri), &headers, &body)?,
        ))
    });
    let shared = Arc::clone(&st.shared);
    let m = method.clone();
    blocking(move || {
        let ledger = shared.read().map_err(|e| read_error(e.into()))?;
        let forbidden = |why: String| error(StatusCode::FORBIDDEN, why);
        let member = auth::active_member(&ledger, &signer)?;
        let auditor = member.spec.roles.contains(&Role::Auditor);
        let party = ledger
            .state()
            .payment(&id)
            .is_some_and(|p| p.payer == signer || p.payee == signer);
        let allowed = match access {
            Access::Read => party || auditor,
            Access::Write => party,
        };
        if !allowed {
            return Err(forbidden(format!(
                "`{}` may not {} these terms: only the payment's parties{}",
                member.spec.name,
                if access == Access::Read {
                    "see"
                } else {
                    "change"
                },
                if access == Access::Read {
                    " and auditors"
                } else {
                    ""
                }
            )));
        }
        let pass_on = |relayed: Option<(Arc<Relay>, Signed)>| {
            let Some((relay, req)) = relayed else { return };
            let Some(p) = ledger.state().payment(&id) else {
                return;
            };
            let (payer, payee) = (p.payer, p.payee);
            let targets = relay.targets(|k| {
                *k == payer
                    || *k == payee
                    || ledger
                        .state()
                        .member(k)
                        .is_some_and(|m| m.active() && m.spec.roles.contains(&Role::Auditor))
            });
            relay.pass_on(req, targets);
        };
        match m {
            Method::GET => match ledger.terms(&id).map_err(internal)? {
                Some(o) => {
                    Ok(Json(json!({"payment_id": id.to_string(), "terms": o})).into_response())
                }
                None => Err(error(
                    StatusCode::NOT_FOUND,
                    format!("this node keeps no terms of payment {id}"),
                )),
            },
            Method::PUT => {
                let openings: Openings = serde_json::from_slice(&body).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not a payment terms file: {e}"),
                    )
                })?;
                if openings.payment_id != id {
                    return Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "the terms are for payment {}, not {id}",
                            openings.payment_id
                        ),
                    ));
                }
                match ledger.put_terms(&openings) {
                    Ok(_) => {
                        pass_on(relayed);
                        Ok(Json(json!({"payment_id": id.to_string(), "kept": true}))
                            .into_response())
                    }
                    Err(StoreError::Terms(why)) => Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("the payment terms were not kept: {why}"),
                    )),
                    Err(e) => Err(internal(e)),
                }
            }
            Method::DELETE => {
                let erased = ledger.erase_terms(&id).map_err(internal)?;
                pass_on(relayed);
                Ok(Json(json!({"payment_id": id.to_string(), "erased": erased})).into_response())
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
