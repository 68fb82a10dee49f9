//! The API under hostile clients (issue 27, item 1): connections that
//! stall their headers or body, idle ones, too many of them, bodies
//! beyond the in-flight budget, oversized URIs and headers. Each is
//! answered with the API's JSON error or closed, and the node goes on
//! answering others.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use waybill_node::serve::{ServeLimits, MAX_HEADER_BYTES, MAX_URI_BYTES};
use waybill_node::{api, Limits, Shared};
use waybill_store::{Ledger, MemBackend};

const HEADERS: Duration = Duration::from_millis(400);
const BODY: Duration = Duration::from_millis(400);

/// A node's API on 127.0.0.1:0 under `limits`.
async fn start(limits: ServeLimits) -> SocketAddr {
    let c = consortium();
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let shared = Arc::new(Shared::new(ledger, Limits::default()));
    let app = api::router(shared, api::ApiOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(waybill_node::serve::serve(
        listener,
        app,
        limits,
        None,
        std::future::pending(),
    ));
    addr
}

fn limits() -> ServeLimits {
    ServeLimits {
        max_connections: 16,
        header_timeout: HEADERS,
        idle_timeout: HEADERS * 3,
        body_timeout: BODY,
        max_inflight_bytes: 1024 * 1024,
    }
}

/// Writes `request` and reads the whole answer (the connection closes
/// after it: `Connection: close`, or the server closes it); the status
/// and the JSON body.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_answer(&mut s).await
}

async fn read_answer(s: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

async fn status_ok(addr: SocketAddr) -> bool {
    let (code, v) = exchange(
        addr,
        b"GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    code == 200 && v["chain_id"].is_string()
}

/// Whether the server closed `s` (reads reach end of file, after
/// whatever it still had to say) within `d`.
async fn closed_within(s: &mut TcpStream, d: Duration) -> bool {
    let mut b = [0u8; 4096];
    let closed = async {
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(d, closed).await.is_ok()
}

#[tokio::test]
async fn idle_and_stalled_connections_are_closed() {
    let addr = start(limits()).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // A kept-alive connection after one answer, silent since.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    for (what, s) in [
        ("idle", &mut idle),
        ("stalled", &mut stalled),
        ("kept alive", &mut kept),
    ] {
        let mut head = [0u8; 12];
        if what == "kept alive" {
            s.read_exact(&mut head).await.unwrap();
            assert_eq!(&head, b"HTTP/1.1 200");
        }
        assert!(
            closed_within(s, HEADERS * 10).await,
            "the {what} connection was not closed"
        );
    }
    assert!(t.elapsed() >= HEADERS, "closed before the timeout");
    assert!(status_ok(addr).await);
}

/// Opens a connection that sends the start of a request head and stalls.
async fn stalled(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v1/status HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    s
}

/// Opens a connection with a request in progress: a body announced and
/// trickled.
async fn busy(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /v1/entries HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn at_the_cap_the_connection_waiting_longest_makes_room() {
    let addr = start(limits()).await;
    // The oldest: connected and silent.
    let mut oldest = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut held = Vec::new();
    for _ in 0..15 {
        held.push(stalled(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    // One more is served, in the oldest one's place, which is closed.
    assert!(status_ok(addr).await, "a client was locked out at the cap");
    assert!(
        closed_within(&mut oldest, HEADERS / 4).await,
        "the connection waiting longest was not the one closed"
    );
    // A connection with a request in progress is never the one evicted:
    // fill the places with busy ones, then each new client is served in
    // the place of a stalled one, not of a busy one.
    let mut working = Vec::new();
    for _ in 0..8 {
        working.push(busy(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    for w in &mut working {
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(20), w.read(&mut b)).await;
        assert!(
            read.is_err(),
            "a connection with a request in progress was closed"
        );
    }
    drop(held);
}

#[tokio::test]
async fn hundreds_of_stalled_connections_do_not_lock_clients_out() {
    let addr = start(limits()).await;
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(stalled(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    for _ in 0..5 {
        assert!(status_ok(addr).await, "a client was locked out");
    }
    drop(held);
}

#[tokio::test]
async fn at_the_cap_with_a_request_in_progress_on_each_a_new_one_gets_503_json() {
    let addr = start(limits()).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(busy(addr).await);
    }
    // Give the server a moment to read their heads.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (code, v) = exchange(
        addr,
        b"GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("connections"), "{v}");
    // Their bodies time out (408), and the node answers again.
    for s in &mut held {
        let (code, _) = read_answer(s).await;
        assert_eq!(code, 408);
    }
    assert!(status_ok(addr).await);
}

#[tokio::test]
async fn a_trickled_body_gets_408_json() {
    let addr = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /v1/entries HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"entry\":",
    )
    .await
    .unwrap();
    let (code, v) = read_answer(&mut s).await;
    assert_eq!(code, 408, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("did not arrive"),
        "{v}"
    );
    assert!(status_ok(addr).await);
}

#[tokio::test]
async fn bodies_beyond_the_in_flight_budget_wait_then_get_503_json() {
    let addr = start(limits()).await;
    // One stalled body holds 900 KiB of the 1 MiB budget.
    let mut holder = TcpStream::connect(addr).await.unwrap();
    holder
        .write_all(
            b"POST /v1/entries/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 921600\r\n\r\n[",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Another of 300 KiB finds no room within the body timeout.
    let mut big = b"POST /v1/entries/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 307200\r\nconnection: close\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b' ', 307_200));
    let (code, v) = exchange(addr, &big).await;
    assert_eq!(code, 503, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("request bodies"),
        "{v}"
    );
    // Requests without a body are served meanwhile.
    assert!(status_ok(addr).await);
    // A body larger than the whole budget is refused outright.
    let (code, v) = exchange(
        addr,
        b"POST /v1/entries/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2000000\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 413, "{v}");
    // Once the stalled body times out, its room comes back.
    let (code, _) = read_answer(&mut holder).await;
    assert_eq!(code, 408);
    let (code, v) = exchange(addr, &big).await;
    assert_eq!(code, 400, "read and judged (not JSON): {v}");
}

#[tokio::test]
async fn oversized_uris_and_headers_get_414_and_431_as_json() {
    let addr = start(limits()).await;
    let long = "a".repeat(MAX_URI_BYTES + 10);
    let (code, v) = exchange(
        addr,
        format!("GET /v1/lots/{long}/trail HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(code, 414, "{v}");
    assert!(v["error"].as_str().unwrap().contains("URI"), "{v}");
    let big = "b".repeat(MAX_HEADER_BYTES + 10);
    let (code, v) = exchange(
        addr,
        format!("GET /v1/status HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(code, 431, "{v}");
    assert!(v["error"].as_str().unwrap().contains("headers"), "{v}");
    assert!(status_ok(addr).await);
}
