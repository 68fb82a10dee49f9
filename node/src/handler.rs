//! What every route handler of the API shares: its state, running ledger
//! work on the blocking pool, and errors as the API's JSON
//! (`{"error": "<a sentence>"}`), which the server around it
//! ([`crate::serve`]) answers with too.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ed25519_dalek::SigningKey;
use serde_json::json;
use tokio::sync::mpsc;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::EncodedEntry;
use waybill_net::NetHandle;
use waybill_store::{Backend, StoreError};

use crate::shared::{ReadError, Shared};

/// The state of the API's handlers.
pub(crate) struct AppState<B: Backend> {
    pub(crate) shared: Arc<Shared<B>>,
    pub(crate) cosigner: Option<Arc<SigningKey>>,
    pub(crate) gossip: Option<mpsc::Sender<Vec<EncodedEntry>>>,
    pub(crate) net: Option<NetHandle>,
    /// Batches decoded and checked at once (`api::batch_slots`).
    pub(crate) batches: Arc<tokio::sync::Semaphore>,
    /// Signed requests served lately (`payments_api`).
    pub(crate) replays: Arc<crate::auth::Replays>,
    /// Where a party's payment terms are passed on to.
    pub(crate) relay: Option<Arc<crate::relay::Relay>>,
}

impl<B: Backend> Clone for AppState<B> {
    fn clone(&self) -> Self {
        AppState {
            shared: Arc::clone(&self.shared),
            cosigner: self.cosigner.clone(),
            gossip: self.gossip.clone(),
            net: self.net.clone(),
            batches: Arc::clone(&self.batches),
            replays: Arc::clone(&self.replays),
            relay: self.relay.clone(),
        }
    }
}

impl<B: Backend> AppState<B> {
    /// The signer of a request to `uri` (its path and query are what was
    /// signed), checked as [`crate::auth::signed`] does, for the node's
    /// chain and against its replays.
    pub(crate) fn signer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PublicKey, Response> {
        crate::auth::signed(
            &self.shared.chain_id,
            &self.replays,
            headers,
            method,
            &crate::auth::signed_path(uri),
            body,
        )
    }
}

/// An error answer: `status` with `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("API request failed: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the node failed: {e}"),
    )
}

pub(crate) fn read_error(e: ReadError) -> Response {
    match e {
        ReadError::Store(StoreError::UnknownLot(lot)) => error(
            StatusCode::NOT_FOUND,
            format!("lot {lot} is not on this ledger"),
        ),
        ReadError::Unavailable(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        other => internal(other),
    }
}

/// Runs ledger work on the blocking pool; a panic there becomes a 500.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(internal(format!("a request task failed ({e})"))),
    }
}

pub(crate) fn path_rejection(r: PathRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("the URL path is not valid: {}", r.body_text()),
    )
}

/// `s`, cut to 100 characters for a message.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(100).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
