//! One HTTP/1.1 client for a node's API on loopback, std only (no TLS, no
//! async runtime): a keep-alive connection ([`Conn`]) for load generators,
//! pollers and tests that send many requests, and one-shot helpers
//! ([`request`], [`http_get`], [`http_post_json`], [`status`]).
//!
//! Responses are read by `Content-Length`, chunked, or (without either)
//! to the end of the connection. A broken keep-alive connection is
//! replaced: a request without a body is sent once more on a new
//! connection; one with a body is not repeated blindly.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The largest response body read (a guard against a bad length).
const MAX_BODY: usize = 1 << 30;

/// What [`Conn::new`]'s read buffer holds (blocks can be large).
const READ_BUFFER: usize = 256 * 1024;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No connection.
    #[error("cannot connect to {addr}: {error}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: io::Error,
    },
    /// The connection failed while sending or receiving.
    #[error("{request}: {error}")]
    Io {
        /// `METHOD http://addr/path`.
        request: String,
        /// Why.
        error: io::Error,
    },
    /// The answer was not HTTP/1.1 as this client reads it.
    #[error("{request}: {what}")]
    BadResponse {
        /// `METHOD http://addr/path`.
        request: String,
        /// What was wrong.
        what: String,
    },
    /// A request without a body failed twice, the second time on a new
    /// connection.
    #[error("{second} (after a first failure: {first})")]
    Retried {
        /// The first failure.
        first: Box<HttpError>,
        /// The second.
        second: Box<HttpError>,
    },
}

/// A request to send: method, path, and optionally an `Accept` header,
/// other headers and a body with its `Content-Type`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    method: &'a str,
    path: &'a str,
    accept: Option<&'a str>,
    content_type: Option<&'a str>,
    body: Option<&'a [u8]>,
    headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    /// `method path`, without a body.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Request {
            method,
            path,
            accept: None,
            content_type: None,
            body: None,
            headers: &[],
        }
    }

    /// `GET path`.
    pub fn get(path: &'a str) -> Self {
        Request::new("GET", path)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &'a str, json: &'a [u8]) -> Self {
        Request::new("POST", path).body(Some("application/json"), json)
    }

    /// With this body, and this `Content-Type` (none: no header).
    pub fn body(mut self, content_type: Option<&'a str>, body: &'a [u8]) -> Self {
        self.content_type = content_type;
        self.body = Some(body);
        self
    }

    /// With this `Accept` header.
    pub fn accept(mut self, accept: &'a str) -> Self {
        self.accept = Some(accept);
        self
    }

    /// With these headers too (name, value).
    pub fn headers(mut self, headers: &'a [(String, String)]) -> Self {
        self.headers = headers;
        self
    }

    fn describe(&self, addr: SocketAddr) -> String {
        format!("{} http://{addr}{}", self.method, self.path)
    }
}

/// A response: status, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines (after the status line), as received.
    head: String,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why reading a response failed, before the request is named.
enum ReadError {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl ReadError {
    fn named(self, request: String) -> HttpError {
        match self {
            ReadError::Io(error) => HttpError::Io { request, error },
            ReadError::Bad(what) => HttpError::BadResponse { request, what },
        }
    }
}

/// A keep-alive HTTP/1.1 connection to one address, opened on first use
/// and again after a failure. Every read and write is bounded by the
/// timeout.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    timeout: Duration,
    /// Ask the server to close after each response (one-shot use).
    close: bool,
}

impl Conn {
    /// A connection to `addr` (not opened yet).
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Conn {
            addr,
            stream: None,
            timeout,
            close: false,
        }
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.send(&Request::get(path))
    }

    /// `GET path` of the binary form (`Accept: application/octet-stream`).
    pub fn get_bytes(&mut self, path: &str) -> Result<Response, HttpError> {
        self.send(&Request::get(path).accept("application/octet-stream"))
    }

    /// `POST path` with a JSON body.
    pub fn post(&mut self, path: &str, json: &[u8]) -> Result<Response, HttpError> {
        self.send(&Request::post_json(path, json))
    }

    /// Sends `req`. On failure the connection is dropped; a request
    /// without a body is then sent once more, on a new connection.
    pub fn send(&mut self, req: &Request<'_>) -> Result<Response, HttpError> {
        match self.once(req) {
            Ok(r) => Ok(r),
            Err(first) if req.body.is_none() => {
                self.once(req).map_err(|second| HttpError::Retried {
                    first: Box::new(first),
                    second: Box::new(second),
                })
            }
            Err(e) => Err(e),
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, HttpError> {
        let addr = self.addr;
        let connect_error = |error| HttpError::Connect { addr, error };
        let stream = match self.stream.take() {
            Some(s) => s,
            None => {
                let s = TcpStream::connect_timeout(&addr, self.timeout).map_err(connect_error)?;
                s.set_read_timeout(Some(self.timeout))
                    .map_err(connect_error)?;
                s.set_write_timeout(Some(self.timeout))
                    .map_err(connect_error)?;
                s.set_nodelay(true).map_err(connect_error)?;
                BufReader::with_capacity(READ_BUFFER, s)
            }
        };
        Ok(self.stream.insert(stream))
    }

    /// One request on the current (or a new) connection.
    fn once(&mut self, req: &Request<'_>) -> Result<Response, HttpError> {
        let addr = self.addr;
        let close = self.close;
        let s = self.connect()?;
        let result = match write_request(s.get_mut(), addr, req, close) {
            Ok(()) => read_response(s),
            // A server may answer before it has read the whole body (a
            // body it refuses for its size) and close: its answer may
            // still be there to read.
            Err(e) => match read_response(s) {
                Ok((r, _)) => Ok((r, false)),
                Err(_) => Err(ReadError::Io(e)),
            },
        };
        match result {
            Ok((response, reusable)) => {
                if close || !reusable {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.stream = None;
                Err(e.named(req.describe(addr)))
            }
        }
    }
}

fn write_request(
    w: &mut TcpStream,
    addr: SocketAddr,
    req: &Request<'_>,
    close: bool,
) -> io::Result<()> {
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", req.method, req.path);
    if close {
        head.push_str("Connection: close\r\n");
    }
    if let Some(a) = req.accept {
        head.push_str("Accept: ");
        head.push_str(a);
        head.push_str("\r\n");
    }
    for (name, value) in req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(b) = req.body {
        if let Some(ct) = req.content_type {
            head.push_str("Content-Type: ");
            head.push_str(ct);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if let Some(b) = req.body {
        w.write_all(b)?;
    }
    w.flush()
}

/// Reads one response; also says whether the connection may carry
/// another request.
fn read_response(r: &mut BufReader<TcpStream>) -> Result<(Response, bool), ReadError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(ReadError::Bad(
            "the connection was closed before a response".into(),
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ReadError::Bad(format!("bad status line {line:?}")))?;
    let mut head = String::new();
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut reusable = true;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(ReadError::Bad(
                "the connection was closed in the headers".into(),
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.parse()
                        .map_err(|_| ReadError::Bad(format!("bad Content-Length {v:?}")))?,
                );
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                reusable = false;
            }
        }
        head.push_str(l);
        head.push('\n');
    }
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        read_chunked(r, &mut line)?
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(ReadError::Bad(format!("a body of {n} bytes is too large")));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        body
    } else {
        // Neither: the body ends with the connection.
        reusable = false;
        let mut body = Vec::new();
        r.take(MAX_BODY as u64).read_to_end(&mut body)?;
        body
    };
    Ok((Response { status, head, body }, reusable))
}

fn read_chunked(r: &mut BufReader<TcpStream>, line: &mut String) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(ReadError::Bad(
                "the connection was closed in a chunk".into(),
            ));
        }
        let size_text = line.trim().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if r.read_line(line)? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        let end = start
            .checked_add(size)
            .filter(|&e| e <= MAX_BODY)
            .ok_or_else(|| ReadError::Bad("a chunked body too large".into()))?;
        body.resize(end, 0);
        r.read_exact(&mut body[start..])?;
        line.clear();
        r.read_line(line)?;
    }
}

/// One request on a new connection, closed after the answer.
pub fn request(
    addr: SocketAddr,
    req: &Request<'_>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let mut c = Conn::new(addr, timeout);
    c.close = true;
    c.once(req)
}

/// A GET against a node's API: (status code, body). Plain HTTP/1.1 on
/// loopback, bounded by `timeout`.
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), HttpError> {
    let r = request(addr, &Request::get(path), timeout)?;
    Ok((r.status, r.text()))
}

/// A JSON POST against a node's API: (status code, body).
pub fn http_post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), HttpError> {
    let r = request(addr, &Request::post_json(path, body.as_bytes()), timeout)?;
    Ok((r.status, r.text()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a
/// value (a lot id: `(01)…(10)…`, a Digital Link, a free id with `/` or
/// `%`) goes into a URL path as one segment: `/v1/lots/{segment}/trail`.
pub fn encode_segment(s: &str) -> String {
    /// What stays as it is: RFC 3986's unreserved characters.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A node's committed height and tip hash, from `/v1/status`.
pub fn status(addr: SocketAddr) -> Option<(u64, String)> {
    let (code, body) = http_get(addr, "/v1/status", Duration::from_secs(2)).ok()?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((
        v["height"].as_u64()?,
        v["tip_hash"].as_str().unwrap_or_default().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(
            encode_segment("(01)07709998000018(10)LOT1"),
            "%2801%2907709998000018%2810%29LOT1"
        );
        assert_eq!(
            encode_segment("https://id.gs1.org/01/04061234000026/10/R1"),
            "https%3A%2F%2Fid.gs1.org%2F01%2F04061234000026%2F10%2FR1"
        );
        assert_eq!(encode_segment("x/y%z"), "x%2Fy%25z");
        assert_eq!(encode_segment("A-b.c_d~9"), "A-b.c_d~9");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    /// Serves `answers` in order on one loopback listener, one accepted
    /// connection per element of `per_connection` (how many requests
    /// each carries); sends each request's head and body back to the test.
    fn server(
        answers: Vec<&'static str>,
        per_connection: Vec<usize>,
    ) -> (SocketAddr, mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for n in per_connection {
                let (s, _) = l.accept().unwrap();
                let mut r = BufReader::new(s);
                for _ in 0..n {
                    let mut req = String::new();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        r.read_line(&mut line).unwrap();
                        if let Some(v) = line.strip_prefix("Content-Length: ") {
                            length = v.trim().parse().unwrap();
                        }
                        req.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    r.read_exact(&mut body).unwrap();
                    req.push_str(&String::from_utf8(body).unwrap());
                    tx.send(req).unwrap();
                    r.get_mut()
                        .write_all(answers.next().unwrap().as_bytes())
                        .unwrap();
                }
            }
        });
        (addr, rx)
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn keep_alive_reads_lengths_and_chunks_on_one_connection() {
        let (addr, rx) = server(
            vec![
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
                "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ],
            vec![3],
        );
        let mut c = Conn::new(addr, T);
        let r = c.get("/a").unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "hello"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("vary"), None);
        let req = rx.recv().unwrap();
        assert!(req.starts_with("GET /a HTTP/1.1\r\nHost: "), "{req}");
        assert!(!req.contains("Connection: close"), "{req}");

        let r = c.post("/b", b"{\"x\":1}").unwrap();
        assert_eq!((r.status, r.text().as_str()), (202, "abcde"));
        let req = rx.recv().unwrap();
        assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
        assert!(req.ends_with("Content-Length: 7\r\n\r\n{\"x\":1}"), "{req}");

        let r = c.get_bytes("/c").unwrap();
        assert_eq!((r.status, r.body.len()), (200, 0));
        assert!(rx
            .recv()
            .unwrap()
            .contains("Accept: application/octet-stream\r\n"));
    }

    #[test]
    fn a_get_is_retried_on_a_new_connection_after_the_server_closed() {
        // The first connection carries one request and closes.
        let (addr, _rx) = server(
            vec![
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2",
            ],
            vec![1, 1],
        );
        let mut c = Conn::new(addr, T);
        assert_eq!(c.get("/").unwrap().text(), "1");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(c.get("/").unwrap().text(), "2");
    }

    #[test]
    fn one_shot_requests_ask_to_close_and_read_to_the_end() {
        let (addr, rx) = server(
            vec!["HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n{\"error\":\"no\"}"],
            vec![1],
        );
        let (code, body) = http_post_json(addr, "/x", "{}", T).unwrap();
        assert_eq!((code, body.as_str()), (404, "{\"error\":\"no\"}"));
        assert!(rx.recv().unwrap().contains("Connection: close\r\n"));
    }

    #[test]
    fn no_server_is_a_connect_error_and_no_status() {
        let port = crate::free_ports(1).unwrap()[0];
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(matches!(
            http_get(addr, "/", T),
            Err(HttpError::Connect { .. })
        ));
        assert!(status(addr).is_none());
    }

    #[test]
    fn garbage_is_a_bad_response() {
        let (addr, _rx) = server(vec!["SPDY/9\r\n\r\n"], vec![1]);
        let e = request(addr, &Request::new("DELETE", "/z"), T).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("DELETE http://{addr}/z: bad status line")),
            "{e}"
        );
    }
}
