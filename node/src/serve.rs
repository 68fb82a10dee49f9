//! Serving the API under limits, so that slow, idle or greedy clients
//! cannot starve the others or the node's memory:
//!
//! - at most [`ServeLimits::max_connections`] connections at once. One
//!   more takes the place of the connection that has waited longest for
//!   a request (idle, or still sending its headers), which is closed, so
//!   that connections held open without requests cannot lock clients
//!   out; only when every connection has a request in progress is the
//!   new one answered `503` with the API's JSON error and closed;
//! - a request's headers must arrive within
//!   [`ServeLimits::header_timeout`] once they start, and a connection
//!   on which nothing moves for [`ServeLimits::idle_timeout`] (no byte
//!   read or written: a silent kept-alive connection) is closed;
//! - its body within [`ServeLimits::body_timeout`] (`408` otherwise);
//! - request bodies held at once, over all connections, come to at most
//!   [`ServeLimits::max_inflight_bytes`]: a request waits for room (up to
//!   half the body timeout, then `503`) before its body is read;
//! - a URI over [`MAX_URI_BYTES`] is `414` and headers over
//!   [`MAX_HEADER_BYTES`] are `431`, with the API's JSON error shape.
//!   Beyond [`HYPER_BUF_BYTES`] hyper itself refuses the request head
//!   before the API sees it (a bare `431`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Longest request URI answered (`414` beyond, as JSON).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers answered (`431` beyond, as JSON).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// hyper's read buffer: a request head larger than this is refused by
/// hyper itself, with a bare `431`.
pub const HYPER_BUF_BYTES: usize = 256 * 1024;

/// How the API serves connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time for a request's headers to arrive.
    pub header_timeout: Duration,
    /// Time a connection may pass without a byte read or written (an
    /// idle kept-alive connection, or a request no handler answers).
    pub idle_timeout: Duration,
    /// Time for a request's body to arrive.
    pub body_timeout: Duration,
    /// Request body bytes held at once over all connections.
    pub max_inflight_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_inflight_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes;
/// then lets requests in progress finish. With `tls`, every connection
/// is TLS (its handshake within the header timeout); without, plain
/// HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServeLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        Budget::new(limits),
        guard,
    ));
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment
                    // rather than spin.
                    tracing::warn!("the API cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let conn = Conn {
            app: app.clone(),
            limits,
            tls: tls.clone(),
            registry: Arc::clone(&registry),
            stop: stop_rx.clone(),
        };
        match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(conn.serve(stream, permit));
            }
            // At the cap, the connection waiting longest for a request
            // (idle, or still sending its headers) makes room; when every
            // connection has a request in progress, the new one is refused.
            Err(_) if registry.evict_longest_waiting() => {
                let connections = Arc::clone(&connections);
                tokio::spawn(async move {
                    match tokio::time::timeout(EVICTION_WAIT, connections.acquire_owned()).await {
                        Ok(Ok(permit)) => conn.serve(stream, permit).await,
                        _ => refuse(stream).await,
                    }
                });
            }
            Err(_) => {
                tokio::spawn(refuse(stream));
            }
        }
    }
    let _ = stop_tx.send(true);
    // Wait (briefly) for the connections to finish what they serve.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        connections.acquire_many(limits.max_connections.max(1) as u32),
    )
    .await;
    Ok(())
}

/// How long a connection admitted in place of an evicted one waits for
/// the evicted one to let go of its place (it closes at once; a moment
/// suffices unless others took the place first).
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Answers a connection beyond the cap `503` with the API's JSON error,
/// and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = json!({
        "error": "the node serves as many connections as it may, each with a request in progress; try again shortly"
    })
    .to_string();
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the
        // connection before it reads the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// What serving one connection needs.
struct Conn {
    app: Router,
    limits: ServeLimits,
    tls: Option<TlsAcceptor>,
    registry: Arc<Registry>,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// Serves `stream` until it closes, idles out, is evicted or the
    /// server stops; then gives its place (`permit`) back.
    async fn serve(self, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let (io, last) = Idle::new(stream);
        let base = io.base;
        let Some(tls) = self.tls.clone() else {
            self.run(io, base, last, permit).await;
            return;
        };
        // The handshake must finish within the header timeout: a client
        // that opens a connection and says nothing holds no place long.
        match tokio::time::timeout(self.limits.header_timeout, tls.accept(io)).await {
            Ok(Ok(io)) => self.run(io, base, last, permit).await,
            Ok(Err(e)) => tracing::debug!("a TLS handshake failed: {e}"),
            Err(_) => tracing::debug!("a TLS handshake timed out"),
        }
    }

    /// Serves HTTP/1.1 on `io` (plain or TLS) until it closes, idles out
    /// (no byte moved since `base` + `last`), is evicted or the server
    /// stops; then gives its place (`permit`) back.
    async fn run<IO>(
        self,
        io: IO,
        base: Instant,
        last: Arc<AtomicU64>,
        permit: OwnedSemaphorePermit,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            app,
            limits,
            registry,
            mut stop,
            ..
        } = self;
        let (id, slot) = registry.enter();
        let service = {
            let slot = Arc::clone(&slot);
            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                // In progress from its head to the last byte of its answer:
                // the guard travels with the response body.
                let busy = Busy::start(&slot);
                let answer = app.clone().oneshot(req.map(Body::new));
                async move {
                    let response = answer.await?;
                    Ok::<_, std::convert::Infallible>(response.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _in_progress = &busy;
                            frame
                        }))
                    }))
                }
            })
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(HYPER_BUF_BYTES)
            .serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let stopping = async move {
            // The guard `wait_for` returns must not live across an
            // await: only whether it came.
            stop.wait_for(|s| *s).await.is_ok()
        };
        tokio::pin!(stopping);
        let idle_ms = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut watch =
            tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(10)));
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                _ = &mut stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                    break;
                }
                // Dropping the connection closes it.
                _ = slot.evict.notified() => break,
                _ = watch.tick() => {
                    let now = u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX);
                    if now.saturating_sub(last.load(Ordering::Relaxed)) > idle_ms {
                        break;
                    }
                }
            }
        }
        registry.leave(id);
        drop(permit);
    }
}

/// The connections being served, each with whether a request is in
/// progress on it, so that one more at the cap can take the place of the
/// one waiting longest for a request.
struct Registry {
    base: Instant,
    slots: std::sync::Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    next: u64,
    open: std::collections::HashMap<u64, Arc<Slot>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            base: Instant::now(),
            slots: std::sync::Mutex::new(Slots::default()),
        }
    }
}

/// One connection's place.
struct Slot {
    base: Instant,
    /// Milliseconds since `base` from which the connection has waited
    /// for a request; [`IN_PROGRESS`] while one is in progress.
    waiting_since: AtomicU64,
    /// Chosen to make room: it closes, and is not chosen again.
    evict: tokio::sync::Notify,
    evicted: std::sync::atomic::AtomicBool,
}

/// [`Slot::waiting_since`] while a request is in progress.
const IN_PROGRESS: u64 = u64::MAX;

fn millis_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_millis()).unwrap_or(IN_PROGRESS - 1)
}

impl Registry {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection's place; it waits for a request from now.
    fn enter(&self) -> (u64, Arc<Slot>) {
        let slot = Arc::new(Slot {
            base: self.base,
            waiting_since: AtomicU64::new(millis_since(self.base)),
            evict: tokio::sync::Notify::new(),
            evicted: std::sync::atomic::AtomicBool::new(false),
        });
        let mut slots = self.slots();
        let id = slots.next;
        slots.next += 1;
        slots.open.insert(id, Arc::clone(&slot));
        (id, slot)
    }

    fn leave(&self, id: u64) {
        self.slots().open.remove(&id);
    }

    /// Tells the connection that has waited longest for a request to
    /// close; `false` if every connection has a request in progress.
    fn evict_longest_waiting(&self) -> bool {
        let slots = self.slots();
        let longest = slots
            .open
            .values()
            .filter(|s| !s.evicted.load(Ordering::Relaxed))
            .map(|s| (s.waiting_since.load(Ordering::Relaxed), s))
            .filter(|(since, _)| *since != IN_PROGRESS)
            .min_by_key(|(since, _)| *since);
        match longest {
            Some((_, slot)) => {
                slot.evicted.store(true, Ordering::Relaxed);
                // Stored if the connection is not listening this moment.
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A request in progress on a connection; when it ends (its answer's
/// last byte written, or the request dropped), the connection waits for
/// the next one from then.
struct Busy(Arc<Slot>);

impl Busy {
    fn start(slot: &Arc<Slot>) -> Busy {
        slot.waiting_since.store(IN_PROGRESS, Ordering::Relaxed);
        Busy(Arc::clone(slot))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0
            .waiting_since
            .store(millis_since(self.0.base), Ordering::Relaxed);
    }
}

/// The bytes of request bodies that may be held at once.
#[derive(Clone)]
struct Budget {
    bytes: Arc<Semaphore>,
    limits: ServeLimits,
}

/// Semaphore permits are counted in `u32`; the budget is counted in
/// units of this many bytes.
const UNIT: usize = 1024;

impl Budget {
    fn new(limits: ServeLimits) -> Self {
        let units = (limits.max_inflight_bytes / UNIT).max(1);
        Budget {
            bytes: Arc::new(Semaphore::new(units)),
            limits,
        }
    }

    fn units(&self, bytes: usize) -> u32 {
        let total = (self.limits.max_inflight_bytes / UNIT).max(1);
        u32::try_from(bytes.div_ceil(UNIT).clamp(1, total)).unwrap_or(u32::MAX)
    }
}

/// The API's JSON error.
fn error(status: StatusCode, message: &str) -> Response {
    crate::handler::error(status, message)
}

/// Refuses oversized URIs and headers as JSON, and reads a request's body
/// within the body timeout and the in-flight budget before the handler
/// sees it.
async fn guard(State(budget): State<Budget>, req: Request, next: Next) -> Response {
    let uri = req.uri().to_string().len();
    if uri > MAX_URI_BYTES {
        return error(
            StatusCode::URI_TOO_LONG,
            &format!("the request URI is {uri} bytes; at most {MAX_URI_BYTES} are read"),
        );
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!(
                "the request headers are {headers} bytes; at most {MAX_HEADER_BYTES} are read"
            ),
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(req).await;
    }
    // A body of unknown length may be as large as the budget allows.
    let want = declared.unwrap_or(budget.limits.max_inflight_bytes);
    if want > budget.limits.max_inflight_bytes {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is {want} bytes, more than the node reads at once ({})",
                budget.limits.max_inflight_bytes
            ),
        );
    }
    let timeout = budget.limits.body_timeout;
    // Waiting for room takes at most half the body timeout: the bodies
    // waited for have their whole timeout to finish.
    let permit = match tokio::time::timeout(
        timeout / 2,
        Arc::clone(&budget.bytes).acquire_many_owned(budget.units(want)),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is reading as many request bodies as it may; try again shortly",
            )
        }
    };
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, want)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the request body is larger than the {want} bytes it declared"),
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("the request body could not be read: {e}"),
                )
            };
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            )
        }
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    // The body (and what the handler made of it) is gone by now.
    drop(permit);
    response
}

/// A connection that notes when a byte last moved on it, either way, so
/// that its task can close it once it has been idle too long.
struct Idle {
    inner: TcpStream,
    base: Instant,
    /// Milliseconds since `base` at the last byte read or written.
    last: Arc<AtomicU64>,
}

impl Idle {
    fn new(inner: TcpStream) -> (Self, Arc<AtomicU64>) {
        let last = Arc::new(AtomicU64::new(0));
        let idle = Idle {
            inner,
            base: Instant::now(),
            last: Arc::clone(&last),
        };
        (idle, last)
    }

    fn moved(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.moved();
        }
        r
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.moved();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
