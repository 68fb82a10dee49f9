//! The API over TLS: a client that trusts the node's certificate gets
//! answers; plain HTTP to the TLS port gets none; a client that trusts
//! another certificate refuses the node; a key that is not the
//! certificate's, or files that hold none, are refused at start.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use waybill_node::serve::ServeLimits;
use waybill_node::tls::{acceptor, TlsError};
use waybill_node::{api, Limits, Shared};
use waybill_store::{Ledger, MemBackend};

/// A self-signed certificate for localhost and 127.0.0.1, written as
/// `NAME-cert.pem` and `NAME-key.pem` in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a certificate");
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

async fn start(cert: &Path, key: &Path) -> SocketAddr {
    let c = consortium();
    let ledger = Ledger::create(MemBackend::new(), c.genesis.clone()).unwrap();
    let shared = Arc::new(Shared::new(ledger, Limits::default()));
    let app = api::router(shared, api::ApiOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(waybill_node::serve::serve(
        listener,
        app,
        ServeLimits::default(),
        Some(acceptor(cert, key).expect("a TLS acceptor")),
        std::future::pending(),
    ));
    addr
}

/// `GET /v1/status` over TLS, trusting only `trusted`; the answer's
/// text, or the error.
async fn get_status(addr: SocketAddr, trusted: &Path) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(trusted).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn the_api_answers_over_tls_and_only_to_those_who_trust_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "node");
    let addr = start(&cert, &key).await;

    let answer = get_status(addr, &cert).await.expect("a TLS answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"chain_id\""), "{answer}");

    // A client that trusts another certificate refuses the node.
    let (other, _) = certificate(dir.path(), "other");
    let err = get_status(addr, &other)
        .await
        .expect_err("an untrusted node");
    assert!(err.to_string().contains("certificate"), "{err}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    assert!(
        !String::from_utf8_lossy(&out).contains("HTTP/1.1 200"),
        "{out:?}"
    );
}

#[test]
fn bad_certificate_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "node");
    let (_, other_key) = certificate(dir.path(), "other");
    assert!(matches!(
        acceptor(&cert, &other_key),
        Err(TlsError::Config(_))
    ));
    let missing = dir.path().join("missing.pem");
    match acceptor(&missing, &key) {
        Err(e @ TlsError::Cert { .. }) => assert!(e.to_string().contains("missing.pem"), "{e}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a missing certificate file was taken"),
    }
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not PEM\n").unwrap();
    assert!(matches!(acceptor(&empty, &key), Err(TlsError::Cert { .. })));
    assert!(matches!(acceptor(&cert, &empty), Err(TlsError::Key { .. })));
}
