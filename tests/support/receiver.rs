//! A loopback HTTP receiver for notifier tests: it records every request (method, path,
//! lowercased headers, body, arrival time) and answers as told, and the behaviour can change
//! while a test runs (`set_mode`): a plain answer, an error status, 429 with Retry-After, down
//! (connections refused, then up again on the same port), hung (reads, never answers), or an
//! imitation of the PagerDuty Events API v2 / a Slack incoming webhook that validates what it
//! gets with [`validate`].
//!
//! Std only (plus serde_json): one thread polls a non-blocking listener, one thread per
//! connection. HTTP/1.1 by hand: request line, headers, `Content-Length` or chunked bodies,
//! `Expect: 100-continue`, keep-alive (several requests per connection) and `Connection:
//! close`. Bounded: a head over 64 KiB or a body over 16 MiB gets 413 and the connection is
//! closed. Dropping the receiver stops and joins every thread.
//!
//! ```ignore
//! #[path = "support/receiver.rs"]
//! mod receiver;
//! use receiver::{Behaviour, Receiver};
//! let rx = Receiver::start(Behaviour::default()); // 200 "ok"
//! // ... point the notifier at rx.url() ...
//! assert!(rx.wait_for(1, Duration::from_secs(5)));
//! receiver::validate::slack_incoming_webhook(&rx.json_bodies()[0]).unwrap();
//! rx.set_mode(Behaviour::Down); // connections refused from now on
//! rx.set_mode(Behaviour::Status(500)); // listening again, same port
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (after de-chunking).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// How often the accept loop polls its non-blocking listener.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// Read timeout of connection sockets: how often a blocked reader looks at the stop flag.
const READ_TICK: Duration = Duration::from_millis(50);
/// A client that does not read its response for this long loses the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `set_mode` keeps retrying to bind the old port again after `Down`.
const REBIND_FOR: Duration = Duration::from_secs(3);

/// How the receiver answers. Changeable at run time with [`Receiver::set_mode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// This status and body (`Content-Type` is JSON when the body parses as JSON, else
    /// text/plain). The default is `Ok(200, "ok")`, which is also what Slack answers.
    Ok(u16, String),
    /// This status with a short text body (its reason phrase).
    Status(u16),
    /// 429 Too Many Requests with `Retry-After: retry_after_s`.
    RateLimit { retry_after_s: u64 },
    /// Not listening: the listening socket is closed (connections are refused) and open
    /// connections are shut down. Setting any other behaviour listens again on the same port.
    Down,
    /// Reads (and records) the request but never answers; the connection is held open until
    /// the client closes it or the receiver is dropped.
    Hang,
    /// Answers like the PagerDuty Events API v2 at `POST /v2/enqueue`: a valid event (see
    /// [`validate::pagerduty_events_v2`]) gets 202 `{"status":"success","message":"Event
    /// processed","dedup_key":...}` (the event's key, or a generated 32-hex one), an invalid
    /// one 400 `{"status":"invalid event","message":"Event object is invalid","errors":[...]}`,
    /// a body that is not JSON 400 `{"status":"Unrecognized object",...,"errors":["JSON parse
    /// error"]}`, another path 404, another method 405.
    PagerDuty,
    /// Answers like a Slack incoming webhook (JSON bodies only): 200 `ok` for a valid payload
    /// (see [`validate::slack_incoming_webhook`]), 400 `no_text` when there is no text, blocks
    /// or attachments, 400 `invalid_payload` for anything else wrong, 405 for a method other
    /// than POST. Any path is accepted.
    Slack,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Ok(200, "ok".to_string())
    }
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    /// The request target as sent (path and query), e.g. `/v2/enqueue?x=1`.
    pub path: String,
    /// e.g. `HTTP/1.1`.
    pub version: String,
    /// In arrival order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body as received (de-chunked when it came chunked).
    pub body: Vec<u8>,
    /// When the whole request had been read.
    pub at: Instant,
    /// Which connection it came on: 0 for the first accepted, 1 for the next, ...
    pub conn: usize,
}

impl Req {
    /// The first value of this header (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "{} {}: body is not JSON ({e}): {:?}",
                self.method,
                self.path,
                self.body_text()
            )
        })
    }
}

struct Shared {
    mode: Mutex<Behaviour>,
    requests: Mutex<Vec<Req>>,
    arrived: Condvar,
    /// `None` while down.
    listener: Mutex<Option<TcpListener>>,
    /// Clones of the open connections, so that `Down` and drop can shut them down.
    conns: Mutex<HashMap<usize, TcpStream>>,
    stop: AtomicBool,
    accepted: AtomicUsize,
    rejected: AtomicUsize,
    seq: AtomicU64,
}

/// Locks, ignoring poisoning (a panicking test thread must not wedge the receiver).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running receiver on 127.0.0.1; stops (and joins its threads) when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Binds 127.0.0.1:0 and starts answering with `behaviour` (with `Down`, the port is bound
    /// once to reserve its number, then closed).
    pub fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let down = behaviour == Behaviour::Down;
        let shared = Arc::new(Shared {
            mode: Mutex::new(behaviour),
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            listener: Mutex::new(if down { None } else { Some(listener) }),
            conns: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            rejected: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("receiver-{}", addr.port()))
            .spawn(move || accept_loop(s))
            .expect("spawn receiver thread");
        Receiver {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn mode(&self) -> Behaviour {
        lock(&self.shared.mode).clone()
    }

    /// Changes the behaviour for requests read from now on (a request already hung stays
    /// hung). `Down` closes the listener and shuts down open connections before returning;
    /// leaving `Down` binds the same port again before returning. Panics if that port cannot
    /// be bound again within 3 s (see [`Receiver::try_set_mode`]).
    pub fn set_mode(&self, b: Behaviour) {
        if let Err(e) = self.try_set_mode(b) {
            panic!("{e}");
        }
    }

    /// As [`Receiver::set_mode`], returning an error when the port cannot be bound again.
    pub fn try_set_mode(&self, b: Behaviour) -> Result<(), String> {
        let mut listener = lock(&self.shared.listener);
        if b == Behaviour::Down {
            *lock(&self.shared.mode) = b;
            // Closing the listening socket: new connections are refused from here on. The
            // accept loop inserts accepted streams into `conns` while holding this lock, so
            // every accepted connection is in `conns` now.
            *listener = None;
            for c in lock(&self.shared.conns).values() {
                let _ = c.shutdown(Shutdown::Both);
            }
            return Ok(());
        }
        if listener.is_none() {
            *listener = Some(rebind(self.addr)?);
        }
        *lock(&self.shared.mode) = b;
        Ok(())
    }

    /// Every request recorded so far, in arrival order.
    pub fn requests(&self) -> Vec<Req> {
        lock(&self.shared.requests).clone()
    }

    /// The most recent request.
    pub fn last(&self) -> Option<Req> {
        lock(&self.shared.requests).last().cloned()
    }

    /// How many requests were recorded.
    pub fn count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Forgets the recorded requests (connections and counters are kept).
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Waits until at least `n` requests are recorded; false on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut reqs = lock(&self.shared.requests);
        while reqs.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            reqs = match self.shared.arrived.wait_timeout(reqs, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }

    /// The bodies of the requests that have one, parsed as JSON. Panics (naming the request)
    /// on a non-empty body that is not JSON; see [`Req::json`] for a non-panicking form.
    pub fn json_bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| !r.body.is_empty())
            .map(|r| r.json().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Requests refused as malformed or too large (400/413/501), not recorded.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        *lock(&self.shared.listener) = None;
        for c in lock(&self.shared.conns).values() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` again after `Down`. std sets SO_REUSEADDR on Unix listeners, so sockets of
/// old connections in TIME_WAIT do not block this; another process taking the port meanwhile
/// would, hence the bounded retry.
fn rebind(addr: SocketAddr) -> Result<TcpListener, String> {
    let t0 = Instant::now();
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true)
                    .map_err(|e| format!("receiver: non-blocking {addr}: {e}"))?;
                return Ok(l);
            }
            Err(e) if t0.elapsed() >= REBIND_FOR => {
                return Err(format!(
                    "receiver: cannot listen on {addr} again after Down: {e}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn accept_loop(shared: Arc<Shared>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let accepted = {
            let listener = lock(&shared.listener);
            match listener.as_ref().map(|l| l.accept()) {
                Some(Ok((stream, _))) => {
                    let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(c) = stream.try_clone() {
                        lock(&shared.conns).insert(id, c);
                    }
                    Some((id, stream))
                }
                _ => None,
            }
        };
        match accepted {
            Some((id, stream)) => {
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("receiver-conn-{id}"))
                    .spawn(move || {
                        serve_conn(stream, id, &s);
                        lock(&s.conns).remove(&id);
                    });
                match spawned {
                    Ok(h) => handlers.push(h),
                    Err(_) => {
                        if let Some(c) = lock(&shared.conns).remove(&id) {
                            let _ = c.shutdown(Shutdown::Both);
                        }
                    }
                }
                handlers.retain(|h| !h.is_finished());
            }
            None => std::thread::sleep(ACCEPT_POLL),
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Why a connection stops being served.
enum Stop {
    /// Peer closed, receiver stopping, or I/O error: close without answering.
    Closed,
    /// Answer this status with this text, then close.
    Refuse(u16, &'static str),
}

struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: &'a Shared,
}

impl Conn<'_> {
    /// Reads more bytes into `buf`; `Closed` on EOF, error or stop.
    fn fill(&mut self) -> Result<(), Stop> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(Stop::Closed);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Stop::Closed),
            }
        }
    }

    /// Takes one CRLF-terminated line (without the CRLF), at most `max` bytes.
    fn line(&mut self, max: usize) -> Result<String, Stop> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).take(i).collect();
                return String::from_utf8(line).map_err(|_| Stop::Refuse(400, "line not UTF-8"));
            }
            if self.buf.len() > max {
                return Err(Stop::Refuse(413, "line too long"));
            }
            self.fill()?;
        }
    }

    /// Takes exactly `n` bytes.
    fn take(&mut self, n: usize) -> Result<Vec<u8>, Stop> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush())
            .map_err(|_| Stop::Closed)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve_conn(stream: TcpStream, id: usize, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TICK));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        shared,
    };
    loop {
        match serve_one(&mut c, id) {
            Ok(true) => continue,
            Ok(false) | Err(Stop::Closed) => break,
            Err(Stop::Refuse(code, why)) => {
                shared.rejected.fetch_add(1, Ordering::SeqCst);
                let resp = response(
                    code,
                    &[],
                    "text/plain; charset=utf-8",
                    why.as_bytes(),
                    true,
                    false,
                );
                let _ = c.write(&resp);
                linger(&mut c);
                break;
            }
        }
    }
    let _ = c.stream.shutdown(Shutdown::Both);
}

/// After refusing a request whose body may still be arriving: stop writing and discard
/// input for a while, so that closing with unread data (which sends RST) does not destroy
/// the answer before the client reads it.
fn linger(c: &mut Conn) {
    let _ = c.stream.shutdown(Shutdown::Write);
    let t0 = Instant::now();
    let mut sink = [0u8; 16 * 1024];
    while t0.elapsed() < Duration::from_secs(2) && !c.shared.stop.load(Ordering::SeqCst) {
        match c.stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
}

/// Reads, records and answers one request. `Ok(true)`: keep the connection for another.
fn serve_one(c: &mut Conn, id: usize) -> Result<bool, Stop> {
    // The head. Empty lines before a request line are ignored (RFC 9112 §2.2).
    let head_end = loop {
        while c.buf.starts_with(b"\r\n") {
            c.buf.drain(..2);
        }
        if let Some(i) = find(&c.buf, b"\r\n\r\n") {
            break i + 4;
        }
        if c.buf.len() > MAX_HEAD {
            return Err(Stop::Refuse(413, "request head too large"));
        }
        c.fill()?;
    };
    if head_end > MAX_HEAD {
        return Err(Stop::Refuse(413, "request head too large"));
    }
    let head: Vec<u8> = c.buf.drain(..head_end).collect();
    let head = std::str::from_utf8(&head[..head_end - 4])
        .map_err(|_| Stop::Refuse(400, "request head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, path, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v), None) if !m.is_empty() && !p.is_empty() => {
            (m.to_string(), p.to_string(), v.to_string())
        }
        _ => return Err(Stop::Refuse(400, "malformed request line")),
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Stop::Refuse(400, "unsupported HTTP version"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Stop::Refuse(400, "malformed header line"));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(Stop::Refuse(400, "malformed header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    fn get<'h>(headers: &'h [(String, String)], n: &'h str) -> impl Iterator<Item = &'h str> {
        headers
            .iter()
            .filter(move |(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
    let connection: Vec<String> = get(&headers, "connection")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let keep_alive = if version == "HTTP/1.0" {
        connection.iter().any(|t| t == "keep-alive")
    } else {
        !connection.iter().any(|t| t == "close")
    };
    let chunked = match get(&headers, "transfer-encoding").last() {
        None => false,
        Some(te) => {
            if te
                .rsplit(',')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"))
            {
                true
            } else {
                return Err(Stop::Refuse(501, "unsupported transfer-encoding"));
            }
        }
    };
    let content_length = if chunked {
        None
    } else {
        let mut len: Option<u64> = None;
        for v in get(&headers, "content-length").flat_map(|v| v.split(',')) {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| Stop::Refuse(400, "bad content-length"))?;
            if len.is_some_and(|l| l != n) {
                return Err(Stop::Refuse(400, "conflicting content-length"));
            }
            len = Some(n);
        }
        if len.is_some_and(|l| l > MAX_BODY as u64) {
            return Err(Stop::Refuse(413, "body too large"));
        }
        len.map(|l| l as usize)
    };
    let expects_body = chunked || content_length.is_some_and(|l| l > 0);
    let expect_continue = get(&headers, "expect").any(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_body && expect_continue && version == "HTTP/1.1" {
        let mode = lock(&c.shared.mode).clone();
        if !matches!(mode, Behaviour::Hang | Behaviour::Down) {
            c.write(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
    }
    let body = if chunked {
        read_chunked(c)?
    } else {
        c.take(content_length.unwrap_or(0))?
    };
    let req = Req {
        method,
        path,
        version,
        headers,
        body,
        at: Instant::now(),
        conn: id,
    };
    // Recorded before answering: a client that has its answer finds its request recorded.
    let mode = lock(&c.shared.mode).clone();
    if mode == Behaviour::Down {
        return Err(Stop::Closed);
    }
    lock(&c.shared.requests).push(req.clone());
    c.shared.arrived.notify_all();
    let (status, extra, ctype, body) = match answer(&mode, &req, c.shared) {
        Some(a) => a,
        None => {
            hang(c);
            return Err(Stop::Closed);
        }
    };
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, v.clone())).collect();
    let head_only = req.method == "HEAD";
    let resp = response(
        status,
        &extra,
        ctype,
        body.as_bytes(),
        !keep_alive,
        head_only,
    );
    c.write(&resp)?;
    Ok(keep_alive)
}

fn read_chunked(c: &mut Conn) -> Result<Vec<u8>, Stop> {
    let mut body = Vec::new();
    loop {
        let line = c.line(1024)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Stop::Refuse(400, "bad chunk size"))?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            let mut trailers = 0usize;
            loop {
                let t = c.line(MAX_HEAD)?;
                if t.is_empty() {
                    return Ok(body);
                }
                trailers += t.len();
                if trailers > MAX_HEAD {
                    return Err(Stop::Refuse(413, "trailers too large"));
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(Stop::Refuse(413, "body too large"));
        }
        body.extend(c.take(size)?);
        if c.take(2)? != b"\r\n" {
            return Err(Stop::Refuse(400, "chunk not followed by CRLF"));
        }
    }
}

/// Holds a connection open without answering until the peer closes or the receiver stops.
fn hang(c: &mut Conn) {
    loop {
        c.buf.clear();
        if c.fill().is_err() {
            return;
        }
    }
}

type Answer = (u16, Vec<(&'static str, String)>, &'static str, String);

/// The answer for `req` in `mode`; `None` means hang.
fn answer(mode: &Behaviour, req: &Req, shared: &Shared) -> Option<Answer> {
    const TEXT: &str = "text/plain; charset=utf-8";
    Some(match mode {
        Behaviour::Hang => return None,
        Behaviour::Ok(status, body) => {
            let json =
                serde_json::from_str::<Value>(body).is_ok_and(|v| v.is_object() || v.is_array());
            let ctype = if json { "application/json" } else { TEXT };
            (*status, vec![], ctype, body.clone())
        }
        Behaviour::Status(code) => (*code, vec![], TEXT, reason(*code).to_string()),
        // Not reached (a request read while down is dropped unanswered); as a real proxy would.
        Behaviour::Down => (503, vec![], TEXT, reason(503).to_string()),
        Behaviour::RateLimit { retry_after_s } => (
            429,
            vec![("Retry-After", retry_after_s.to_string())],
            TEXT,
            "rate limited".to_string(),
        ),
        Behaviour::PagerDuty => pagerduty_answer(req, shared),
        Behaviour::Slack => slack_answer(req),
    })
}

fn pagerduty_answer(req: &Req, shared: &Shared) -> Answer {
    const JSON: &str = "application/json";
    let path = req.path.split('?').next().unwrap_or("");
    if path != "/v2/enqueue" {
        let body = json!({"status": "Not found", "message": format!("no such path {path}; the Events API v2 is POST /v2/enqueue")});
        return (404, vec![], JSON, body.to_string());
    }
    if req.method != "POST" {
        let body = json!({"status": "Method not allowed", "message": "use POST"});
        return (
            405,
            vec![("Allow", "POST".to_string())],
            JSON,
            body.to_string(),
        );
    }
    let Ok(event) = serde_json::from_slice::<Value>(&req.body) else {
        let body = json!({
            "status": "Unrecognized object",
            "message": "Event object format is unrecognized",
            "errors": ["JSON parse error"],
        });
        return (400, vec![], JSON, body.to_string());
    };
    let errors = validate::pagerduty_errors(&event);
    if !errors.is_empty() {
        let body = json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
        });
        return (400, vec![], JSON, body.to_string());
    }
    let key = match event.get("dedup_key").and_then(Value::as_str) {
        Some(k) => k.to_string(),
        None => generated_key(shared),
    };
    let body = json!({"status": "success", "message": "Event processed", "dedup_key": key});
    (202, vec![], JSON, body.to_string())
}

/// 32 hex digits, different on every call.
fn generated_key(shared: &Shared) -> String {
    let n = shared.seq.fetch_add(1, Ordering::SeqCst);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    format!(
        "{:016x}{:016x}",
        mix(t ^ n),
        mix(n.wrapping_add(t.rotate_left(17)))
    )
}

fn slack_answer(req: &Req) -> Answer {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method != "POST" {
        return (
            405,
            vec![("Allow", "POST".to_string())],
            TEXT,
            "invalid_method".to_string(),
        );
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&req.body) else {
        return (400, vec![], TEXT, "invalid_payload".to_string());
    };
    if payload.is_object() && !validate::slack_has_content(&payload) {
        return (400, vec![], TEXT, "no_text".to_string());
    }
    match validate::slack_incoming_webhook(&payload) {
        Ok(()) => (200, vec![], TEXT, "ok".to_string()),
        Err(_) => (400, vec![], TEXT, "invalid_payload".to_string()),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A whole response. 1xx, 204 and 304 get neither body nor Content-Length; an answer to
/// HEAD (`head_only`) gets the Content-Length of `body` but not the body.
fn response(
    status: u16,
    extra: &[(&str, String)],
    ctype: &str,
    body: &[u8],
    close: bool,
    head_only: bool,
) -> Vec<u8> {
    let bodiless = status < 200 || status == 204 || status == 304;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !bodiless {
        head.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if !bodiless && !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Validators for the payloads that notifiers send. Each returns `Err` with every problem
/// found, `; `-separated, each naming the JSON path (`attachments[0].color: ...`).
pub mod validate {
    use serde_json::{Map, Value};

    type Obj = Map<String, Value>;

    const SLACK_TOP: &[&str] = &[
        "text",
        "blocks",
        "attachments",
        "thread_ts",
        "mrkdwn",
        "username",
        "icon_emoji",
        "icon_url",
        "channel",
    ];
    /// The documented (legacy) secondary-attachment fields, plus `blocks`.
    const SLACK_ATTACHMENT: &[&str] = &[
        "fallback",
        "color",
        "pretext",
        "author_name",
        "author_link",
        "author_icon",
        "title",
        "title_link",
        "text",
        "fields",
        "image_url",
        "thumb_url",
        "footer",
        "footer_icon",
        "ts",
        "mrkdwn_in",
        "blocks",
    ];
    const SLACK_BLOCK_TYPES: &[&str] = &[
        "section",
        "header",
        "context",
        "divider",
        "actions",
        "image",
        "rich_text",
    ];
    /// Slack truncates message text longer than this.
    pub const SLACK_MAX_TEXT: usize = 40_000;
    pub const SLACK_MAX_BLOCKS: usize = 50;
    pub const SLACK_MAX_ATTACHMENTS: usize = 100;

    const PD_TOP: &[&str] = &[
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "client",
        "client_url",
        "links",
        "images",
    ];
    const PD_PAYLOAD: &[&str] = &[
        "summary",
        "source",
        "severity",
        "timestamp",
        "component",
        "group",
        "class",
        "custom_details",
    ];
    pub const PD_MAX_SUMMARY: usize = 1024;
    pub const PD_MAX_DEDUP_KEY: usize = 255;

    /// A Slack incoming-webhook payload (JSON body of the POST), as documented for incoming
    /// webhooks / `chat.postMessage` message payloads:
    /// - an object whose fields are among `text`, `blocks`, `attachments`, `thread_ts`,
    ///   `mrkdwn` and the legacy `username`, `icon_emoji`, `icon_url`, `channel` (anything
    ///   else is an error, to catch typos);
    /// - some content: a non-blank `text`, or a non-empty `blocks` or `attachments` (Slack
    ///   answers `no_text` otherwise); `text` ≤ 40,000 characters;
    /// - `blocks`: ≤ 50 blocks of type section, header, context, divider, actions, image or
    ///   rich_text, each with only its documented fields (section `text` mrkdwn|plain_text
    ///   1..=3000 chars, `fields` ≤ 10 of ≤ 2000; header `text` plain_text ≤ 150; context
    ///   `elements` 1..=10 text or image elements; actions `elements` 1..=25; image
    ///   `image_url`/`slack_file` and `alt_text`; `block_id` ≤ 255);
    /// - `attachments`: ≤ 100 objects with only the documented attachment fields; `color`
    ///   `#rrggbb` or good|warning|danger; `fields` [{title, value, short: bool}]; `ts` a
    ///   number; `mrkdwn_in` among pretext|text|fields; their `blocks` as above.
    pub fn slack_incoming_webhook(v: &Value) -> Result<(), String> {
        let mut errs = Vec::new();
        slack_message(v, &mut errs);
        join(errs)
    }

    /// Whether a payload object has what Slack needs to post anything: a non-blank `text`,
    /// or non-empty `blocks` or `attachments`.
    pub fn slack_has_content(v: &Value) -> bool {
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.trim().is_empty());
        let non_empty = |k: &str| {
            v.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        text || non_empty("blocks") || non_empty("attachments")
    }

    /// A PagerDuty Events API v2 event (body of `POST /v2/enqueue`):
    /// - top-level fields among `routing_key`, `event_action`, `dedup_key`, `payload`,
    ///   `client`, `client_url`, `links`, `images`;
    /// - `routing_key` a non-empty string (the real API also insists on 32 characters; this
    ///   does not, so tests can use readable keys); `event_action` trigger|acknowledge|resolve;
    /// - `dedup_key` a string of 1..=255 characters, required for acknowledge and resolve;
    /// - for trigger, `payload` with `summary` (1..=1024 chars), `source` (non-empty),
    ///   `severity` critical|error|warning|info, and optionally `timestamp` (ISO 8601 date-time
    ///   such as RFC 3339; `+hhmm` offsets accepted too), `component`, `group`, `class`
    ///   (strings), `custom_details` (any JSON); no other payload fields;
    /// - `links` [{href, text?}], `images` [{src, href?, alt?}].
    pub fn pagerduty_events_v2(v: &Value) -> Result<(), String> {
        join(pagerduty_errors(v))
    }

    /// The problems [`pagerduty_events_v2`] reports, one string each.
    pub fn pagerduty_errors(v: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        let Some(o) = v.as_object() else {
            errs.push(format!("event must be a JSON object, got {}", kind(v)));
            return errs;
        };
        unknown_keys(o, PD_TOP, "", &mut errs);
        match o.get("routing_key") {
            None => errs.push("routing_key: required".into()),
            Some(Value::String(s)) if s.is_empty() => {
                errs.push("routing_key: must not be empty".into())
            }
            Some(Value::String(_)) => {}
            Some(other) => errs.push(format!(
                "routing_key: must be a string, got {}",
                kind(other)
            )),
        }
        let action = match o.get("event_action") {
            None => {
                errs.push("event_action: required (trigger, acknowledge or resolve)".into());
                None
            }
            Some(Value::String(s))
                if ["trigger", "acknowledge", "resolve"].contains(&s.as_str()) =>
            {
                Some(s.as_str())
            }
            Some(other) => {
                errs.push(format!(
                    "event_action: must be trigger, acknowledge or resolve, got {other}"
                ));
                None
            }
        };
        match o.get("dedup_key") {
            None => {
                if let Some(a @ ("acknowledge" | "resolve")) = action {
                    errs.push(format!("dedup_key: required for {a}"));
                }
            }
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 {
                    errs.push("dedup_key: must not be empty".into());
                } else if n > PD_MAX_DEDUP_KEY {
                    errs.push(format!(
                        "dedup_key: {n} characters, at most {PD_MAX_DEDUP_KEY} allowed"
                    ));
                }
            }
            Some(other) => errs.push(format!("dedup_key: must be a string, got {}", kind(other))),
        }
        match (o.get("payload"), action) {
            (None, Some("trigger")) => errs.push("payload: required for trigger".into()),
            (None, _) => {}
            (Some(Value::Object(p)), Some("trigger")) => pd_payload(p, &mut errs),
            (Some(Value::Object(_)), _) => {}
            (Some(other), _) => {
                errs.push(format!("payload: must be an object, got {}", kind(other)))
            }
        }
        opt_string(o, "client", "", &mut errs);
        opt_string(o, "client_url", "", &mut errs);
        pd_list(o, "links", "href", &["href", "text"], &mut errs);
        pd_list(o, "images", "src", &["src", "href", "alt"], &mut errs);
        errs
    }

    fn pd_payload(p: &Obj, errs: &mut Vec<String>) {
        unknown_keys(p, PD_PAYLOAD, "payload", errs);
        match p.get("summary") {
            None => errs.push("payload.summary: required".into()),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 {
                    errs.push("payload.summary: must not be empty".into());
                } else if n > PD_MAX_SUMMARY {
                    errs.push(format!(
                        "payload.summary: {n} characters, at most {PD_MAX_SUMMARY} allowed"
                    ));
                }
            }
            Some(other) => errs.push(format!(
                "payload.summary: must be a string, got {}",
                kind(other)
            )),
        }
        match p.get("source") {
            None => errs.push("payload.source: required".into()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                errs.push("payload.source: must not be empty".into())
            }
            Some(Value::String(_)) => {}
            Some(other) => errs.push(format!(
                "payload.source: must be a string, got {}",
                kind(other)
            )),
        }
        match p.get("severity") {
            None => {
                errs.push("payload.severity: required (critical, error, warning or info)".into())
            }
            Some(Value::String(s))
                if ["critical", "error", "warning", "info"].contains(&s.as_str()) => {}
            Some(other) => errs.push(format!(
                "payload.severity: must be critical, error, warning or info, got {other}"
            )),
        }
        match p.get("timestamp") {
            None => {}
            Some(Value::String(s)) if is_iso8601_datetime(s) => {}
            Some(other) => errs.push(format!(
                "payload.timestamp: must be an ISO 8601 date-time like 2015-07-17T08:42:58.315Z, got {other}"
            )),
        }
        for k in ["component", "group", "class"] {
            opt_string(p, k, "payload", errs);
        }
    }

    fn pd_list(o: &Obj, key: &str, required: &str, allowed: &[&str], errs: &mut Vec<String>) {
        let Some(v) = o.get(key) else { return };
        let Some(items) = v.as_array() else {
            errs.push(format!("{key}: must be an array, got {}", kind(v)));
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{key}[{i}]");
            let Some(io) = item.as_object() else {
                errs.push(format!("{at}: must be an object, got {}", kind(item)));
                continue;
            };
            unknown_keys(io, allowed, &at, errs);
            match io.get(required) {
                None => errs.push(format!("{at}.{required}: required")),
                Some(Value::String(s)) if s.is_empty() => {
                    errs.push(format!("{at}.{required}: must not be empty"))
                }
                _ => {}
            }
            for k in allowed {
                opt_string(io, k, &at, errs);
            }
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)`, with calendar checks.
    pub fn is_iso8601_datetime(s: &str) -> bool {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = b.get(r)?;
            if part.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(part).ok()?.parse().ok()
            } else {
                None
            }
        };
        let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
            digits(0..4),
            digits(5..7),
            digits(8..10),
            digits(11..13),
            digits(14..16),
            digits(17..19),
        ) else {
            return false;
        };
        if b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || !matches!(b.get(10), Some(b'T' | b't'))
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
        {
            return false;
        }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = match mo {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        if d == 0 || d > days || h > 23 || mi > 59 || sec > 60 {
            return false;
        }
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
        match &b[i..] {
            [b'Z' | b'z'] => true,
            [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
                let all = [*h1, *h2, *m1, *m2];
                all.iter().all(u8::is_ascii_digit)
                    && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                    && (m1 - b'0') * 10 + (m2 - b'0') <= 59
            }
            _ => false,
        }
    }

    fn slack_message(v: &Value, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else {
            errs.push(format!("payload must be a JSON object, got {}", kind(v)));
            return;
        };
        unknown_keys(o, SLACK_TOP, "", errs);
        if let Some(t) = o.get("text") {
            match t.as_str() {
                None => errs.push(format!("text: must be a string, got {}", kind(t))),
                Some(s) => {
                    let n = s.chars().count();
                    if n > SLACK_MAX_TEXT {
                        errs.push(format!(
                            "text: {n} characters, at most {SLACK_MAX_TEXT} allowed"
                        ));
                    }
                }
            }
        }
        if !slack_has_content(v) {
            errs.push(
                "text: required (non-blank) unless blocks or attachments are given (Slack answers no_text)"
                    .into(),
            );
        }
        if let Some(b) = o.get("blocks") {
            blocks(b, "blocks", errs);
        }
        if let Some(a) = o.get("attachments") {
            match a.as_array() {
                None => errs.push(format!("attachments: must be an array, got {}", kind(a))),
                Some(list) => {
                    if list.len() > SLACK_MAX_ATTACHMENTS {
                        errs.push(format!(
                            "attachments: {} attachments, at most {SLACK_MAX_ATTACHMENTS} allowed",
                            list.len()
                        ));
                    }
                    for (i, att) in list.iter().enumerate() {
                        attachment(att, &format!("attachments[{i}]"), errs);
                    }
                }
            }
        }
        for k in ["thread_ts", "username", "icon_url", "channel"] {
            opt_string(o, k, "", errs);
        }
        match o.get("icon_emoji") {
            None => {}
            Some(Value::String(s))
                if s.len() > 2
                    && s.starts_with(':')
                    && s.ends_with(':')
                    && !s[1..s.len() - 1].contains(char::is_whitespace) => {}
            Some(other) => errs.push(format!(
                "icon_emoji: must be an emoji name like \":ghost:\", got {other}"
            )),
        }
        opt_bool(o, "mrkdwn", "", errs);
    }

    fn attachment(v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else {
            errs.push(format!("{at}: must be an object, got {}", kind(v)));
            return;
        };
        unknown_keys(o, SLACK_ATTACHMENT, at, errs);
        for k in [
            "fallback",
            "pretext",
            "author_name",
            "author_link",
            "author_icon",
            "title",
            "title_link",
            "text",
            "image_url",
            "thumb_url",
            "footer",
            "footer_icon",
        ] {
            opt_string(o, k, at, errs);
        }
        match o.get("color") {
            None => {}
            Some(Value::String(s)) if is_slack_color(s) => {}
            Some(other) => errs.push(format!(
                "{at}.color: must be a hex colour like \"#36a64f\" or good, warning, danger; got {other}"
            )),
        }
        if let Some(ts) = o.get("ts")
            && !ts.is_number()
        {
            errs.push(format!(
                "{at}.ts: must be a number (epoch seconds), got {}",
                kind(ts)
            ));
        }
        if let Some(f) = o.get("fields") {
            match f.as_array() {
                None => errs.push(format!("{at}.fields: must be an array, got {}", kind(f))),
                Some(list) => {
                    for (i, field) in list.iter().enumerate() {
                        let fat = format!("{at}.fields[{i}]");
                        let Some(fo) = field.as_object() else {
                            errs.push(format!("{fat}: must be an object, got {}", kind(field)));
                            continue;
                        };
                        unknown_keys(fo, &["title", "value", "short"], &fat, errs);
                        opt_string(fo, "title", &fat, errs);
                        opt_string(fo, "value", &fat, errs);
                        opt_bool(fo, "short", &fat, errs);
                    }
                }
            }
        }
        if let Some(m) = o.get("mrkdwn_in") {
            match m.as_array() {
                None => errs.push(format!("{at}.mrkdwn_in: must be an array, got {}", kind(m))),
                Some(list) => {
                    for (i, x) in list.iter().enumerate() {
                        if !matches!(x.as_str(), Some("pretext" | "text" | "fields")) {
                            errs.push(format!(
                                "{at}.mrkdwn_in[{i}]: must be pretext, text or fields, got {x}"
                            ));
                        }
                    }
                }
            }
        }
        if let Some(b) = o.get("blocks") {
            blocks(b, &format!("{at}.blocks"), errs);
        }
    }

    fn is_slack_color(s: &str) -> bool {
        matches!(s, "good" | "warning" | "danger")
            || (s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit()))
    }

    fn blocks(v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(list) = v.as_array() else {
            errs.push(format!("{at}: must be an array, got {}", kind(v)));
            return;
        };
        if list.len() > SLACK_MAX_BLOCKS {
            errs.push(format!(
                "{at}: {} blocks, at most {SLACK_MAX_BLOCKS} allowed",
                list.len()
            ));
        }
        for (i, b) in list.iter().enumerate() {
            block(b, &format!("{at}[{i}]"), errs);
        }
    }

    fn block(v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else {
            errs.push(format!("{at}: must be an object, got {}", kind(v)));
            return;
        };
        let ty = match o.get("type") {
            None => {
                errs.push(format!("{at}.type: required"));
                return;
            }
            Some(Value::String(t)) if SLACK_BLOCK_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(other) => {
                errs.push(format!(
                    "{at}.type: must be one of {}, got {other}",
                    SLACK_BLOCK_TYPES.join(", ")
                ));
                return;
            }
        };
        match o.get("block_id") {
            None => {}
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => {}
            Some(other) => errs.push(format!(
                "{at}.block_id: must be a string of 1..=255 characters, got {other}"
            )),
        }
        let tat = format!("{at}.text");
        match ty {
            "section" => {
                unknown_keys(
                    o,
                    &["type", "block_id", "text", "fields", "accessory", "expand"],
                    at,
                    errs,
                );
                if o.get("text").is_none() && o.get("fields").is_none() {
                    errs.push(format!("{at}: a section needs text or fields"));
                }
                if let Some(t) = o.get("text") {
                    text_object(t, &tat, &["mrkdwn", "plain_text"], 3000, errs);
                }
                if let Some(f) = o.get("fields") {
                    match f.as_array() {
                        None => {
                            errs.push(format!("{at}.fields: must be an array, got {}", kind(f)))
                        }
                        Some(list) => {
                            if list.is_empty() || list.len() > 10 {
                                errs.push(format!(
                                    "{at}.fields: {} items, 1..=10 allowed",
                                    list.len()
                                ));
                            }
                            for (i, x) in list.iter().enumerate() {
                                text_object(
                                    x,
                                    &format!("{at}.fields[{i}]"),
                                    &["mrkdwn", "plain_text"],
                                    2000,
                                    errs,
                                );
                            }
                        }
                    }
                }
                if let Some(a) = o.get("accessory")
                    && !a.get("type").is_some_and(Value::is_string)
                {
                    errs.push(format!(
                        "{at}.accessory: must be an element object with a type"
                    ));
                }
                opt_bool(o, "expand", at, errs);
            }
            "header" => {
                unknown_keys(o, &["type", "block_id", "text"], at, errs);
                match o.get("text") {
                    None => errs.push(format!("{tat}: required")),
                    Some(t) => text_object(t, &tat, &["plain_text"], 150, errs),
                }
            }
            "context" => {
                unknown_keys(o, &["type", "block_id", "elements"], at, errs);
                elements(o, at, 10, errs, |e, eat, errs| {
                    match e.get("type").and_then(Value::as_str) {
                        Some("image") => image_element(e, eat, errs),
                        _ => text_object(e, eat, &["mrkdwn", "plain_text"], 3000, errs),
                    }
                });
            }
            "divider" => unknown_keys(o, &["type", "block_id"], at, errs),
            "actions" => {
                unknown_keys(o, &["type", "block_id", "elements"], at, errs);
                elements(o, at, 25, errs, |e, eat, errs| {
                    if !e.get("type").is_some_and(Value::is_string) {
                        errs.push(format!("{eat}: must be an interactive element with a type"));
                    }
                });
            }
            "image" => {
                unknown_keys(
                    o,
                    &[
                        "type",
                        "block_id",
                        "image_url",
                        "slack_file",
                        "alt_text",
                        "title",
                    ],
                    at,
                    errs,
                );
                image_fields(o, at, errs);
                if let Some(t) = o.get("title") {
                    text_object(
                        t,
                        &tat.replace(".text", ".title"),
                        &["plain_text"],
                        2000,
                        errs,
                    );
                }
            }
            "rich_text" => {
                unknown_keys(o, &["type", "block_id", "elements"], at, errs);
                let kinds = [
                    "rich_text_section",
                    "rich_text_list",
                    "rich_text_preformatted",
                    "rich_text_quote",
                ];
                elements(o, at, usize::MAX, errs, |e, eat, errs| {
                    if !e
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| kinds.contains(&t))
                    {
                        errs.push(format!("{eat}.type: must be one of {}", kinds.join(", ")));
                    }
                });
            }
            _ => {}
        }
    }

    /// `elements`: required array of 1..=max objects, each checked by `each`.
    fn elements(
        o: &Obj,
        at: &str,
        max: usize,
        errs: &mut Vec<String>,
        each: impl Fn(&Value, &str, &mut Vec<String>),
    ) {
        let eat = format!("{at}.elements");
        match o.get("elements") {
            None => errs.push(format!("{eat}: required")),
            Some(Value::Array(list)) => {
                if list.is_empty() || list.len() > max {
                    let range = if max == usize::MAX {
                        "at least 1".to_string()
                    } else {
                        format!("1..={max}")
                    };
                    errs.push(format!("{eat}: {} items, {range} allowed", list.len()));
                }
                for (i, e) in list.iter().enumerate() {
                    let at_i = format!("{eat}[{i}]");
                    if e.is_object() {
                        each(e, &at_i, errs);
                    } else {
                        errs.push(format!("{at_i}: must be an object, got {}", kind(e)));
                    }
                }
            }
            Some(other) => errs.push(format!("{eat}: must be an array, got {}", kind(other))),
        }
    }

    fn image_element(v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else { return };
        unknown_keys(
            o,
            &["type", "image_url", "slack_file", "alt_text"],
            at,
            errs,
        );
        image_fields(o, at, errs);
    }

    fn image_fields(o: &Obj, at: &str, errs: &mut Vec<String>) {
        match (o.get("image_url"), o.get("slack_file")) {
            (None, None) => errs.push(format!("{at}: image_url or slack_file required")),
            (Some(Value::String(u)), None) if !u.is_empty() && u.chars().count() <= 3000 => {}
            (Some(other), None) => errs.push(format!(
                "{at}.image_url: must be a URL string of 1..=3000 characters, got {other}"
            )),
            (None, Some(Value::Object(_))) => {}
            (None, Some(other)) => errs.push(format!(
                "{at}.slack_file: must be an object, got {}",
                kind(other)
            )),
            (Some(_), Some(_)) => {
                errs.push(format!("{at}: image_url and slack_file are exclusive"))
            }
        }
        match o.get("alt_text") {
            None => errs.push(format!("{at}.alt_text: required")),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 2000 => {}
            Some(other) => errs.push(format!(
                "{at}.alt_text: must be a string of 1..=2000 characters, got {other}"
            )),
        }
    }

    /// A composition text object `{type, text, emoji?, verbatim?}`.
    fn text_object(v: &Value, at: &str, types: &[&str], max: usize, errs: &mut Vec<String>) {
        let Some(o) = v.as_object() else {
            errs.push(format!(
                "{at}: must be a text object {{\"type\": \"{}\", \"text\": ...}}, got {}",
                types[0],
                kind(v)
            ));
            return;
        };
        unknown_keys(o, &["type", "text", "emoji", "verbatim"], at, errs);
        let ty = o.get("type").and_then(Value::as_str);
        match ty {
            Some(t) if types.contains(&t) => {}
            _ => errs.push(format!(
                "{at}.type: must be {}, got {}",
                types.join(" or "),
                o.get("type")
                    .map_or("nothing".to_string(), Value::to_string)
            )),
        }
        match o.get("text") {
            None => errs.push(format!("{at}.text: required")),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n == 0 {
                    errs.push(format!("{at}.text: must not be empty"));
                } else if n > max {
                    errs.push(format!("{at}.text: {n} characters, at most {max} allowed"));
                }
            }
            Some(other) => errs.push(format!("{at}.text: must be a string, got {}", kind(other))),
        }
        if o.contains_key("emoji") && ty != Some("plain_text") {
            errs.push(format!("{at}.emoji: only for plain_text"));
        }
        if o.contains_key("verbatim") && ty != Some("mrkdwn") {
            errs.push(format!("{at}.verbatim: only for mrkdwn"));
        }
        opt_bool(o, "emoji", at, errs);
        opt_bool(o, "verbatim", at, errs);
    }

    fn path(at: &str, key: &str) -> String {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    }

    fn unknown_keys(o: &Obj, allowed: &[&str], at: &str, errs: &mut Vec<String>) {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                errs.push(format!(
                    "{}: unknown field (allowed: {})",
                    path(at, k),
                    allowed.join(", ")
                ));
            }
        }
    }

    fn opt_string(o: &Obj, key: &str, at: &str, errs: &mut Vec<String>) {
        if let Some(v) = o.get(key)
            && !v.is_string()
        {
            errs.push(format!(
                "{}: must be a string, got {}",
                path(at, key),
                kind(v)
            ));
        }
    }

    fn opt_bool(o: &Obj, key: &str, at: &str, errs: &mut Vec<String>) {
        if let Some(v) = o.get(key)
            && !v.is_boolean()
        {
            errs.push(format!(
                "{}: must be a boolean, got {}",
                path(at, key),
                kind(v)
            ));
        }
    }

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    fn join(errs: Vec<String>) -> Result<(), String> {
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate::{is_iso8601_datetime, pagerduty_events_v2, slack_incoming_webhook};
    use super::*;
    use std::io::{BufRead, BufReader};

    const T: Duration = Duration::from_secs(5);

    /// A raw HTTP/1.1 client on one connection.
    struct Client {
        r: BufReader<TcpStream>,
        w: TcpStream,
    }

    #[derive(Debug)]
    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Resp {
        fn header(&self, n: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        }
    }

    impl Client {
        fn new(rx: &Receiver) -> Client {
            let s = TcpStream::connect(rx.addr()).expect("connect");
            s.set_read_timeout(Some(T)).unwrap();
            Client {
                r: BufReader::new(s.try_clone().unwrap()),
                w: s,
            }
        }

        fn send(&mut self, raw: &[u8]) {
            self.w.write_all(raw).expect("send");
        }

        /// Reads one response (Content-Length bodies only); None on EOF or timeout.
        fn read(&mut self) -> Option<Resp> {
            let mut line = String::new();
            if self.r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let status = line.split(' ').nth(1)?.parse().ok()?;
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                self.r.read_line(&mut h).ok()?;
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':')?;
                headers.push((k.to_string(), v.trim().to_string()));
            }
            let mut resp = Resp {
                status,
                headers,
                body: String::new(),
            };
            let len: usize = resp
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0u8; len];
            self.r.read_exact(&mut body).ok()?;
            resp.body = String::from_utf8(body).unwrap();
            Some(resp)
        }

        /// True when the server closed the connection (EOF or reset) within `T`.
        fn closed(&mut self) -> bool {
            let mut b = [0u8; 1];
            match self.r.read(&mut b) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            }
        }
    }

    fn post(path: &str, body: &str, extra: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// One request on a fresh connection, `Connection: close`.
    fn once(rx: &Receiver, path: &str, body: &str) -> Resp {
        let mut c = Client::new(rx);
        c.send(&post(path, body, "Connection: close\r\n"));
        c.read().expect("a response")
    }

    #[test]
    fn default_answers_ok_and_records_everything() {
        let rx = Receiver::start(Behaviour::default());
        assert!(rx.url().starts_with("http://127.0.0.1:"));
        let t0 = Instant::now();
        let mut c = Client::new(&rx);
        c.send(&post(
            "/hook?x=1",
            r#"{"a":1}"#,
            "X-Custom-Thing: Yes  \r\n",
        ));
        let r = c.read().unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        assert_eq!(rx.count(), 1);
        let req = rx.last().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/hook?x=1");
        assert_eq!(req.version, "HTTP/1.1");
        assert_eq!(req.header("X-CUSTOM-THING"), Some("Yes"));
        assert!(
            req.headers
                .iter()
                .all(|(k, _)| *k == k.to_ascii_lowercase())
        );
        assert_eq!(req.body, br#"{"a":1}"#);
        assert!(req.at >= t0);
        assert_eq!(rx.json_bodies(), vec![json!({"a": 1})]);
        assert!(rx.wait_for(1, Duration::ZERO));
    }

    #[test]
    fn keep_alive_serves_several_requests_on_one_connection() {
        let rx = Receiver::start(Behaviour::Ok(201, r#"{"id":7}"#.into()));
        let mut c = Client::new(&rx);
        for i in 0..3 {
            c.send(&post("/k", &format!("{{\"n\":{i}}}"), ""));
            let r = c.read().unwrap();
            assert_eq!(r.status, 201);
            assert_eq!(r.body, r#"{"id":7}"#);
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(r.header("connection"), None);
        }
        // Two pipelined in one write, the second closing.
        let mut both = post("/p1", "{}", "");
        both.extend(post("/p2", "{}", "Connection: close\r\n"));
        c.send(&both);
        assert_eq!(c.read().unwrap().status, 201);
        let last = c.read().unwrap();
        assert_eq!(last.header("connection"), Some("close"));
        assert!(c.closed(), "server closes after Connection: close");
        let reqs = rx.requests();
        assert_eq!(reqs.len(), 5);
        assert!(reqs.iter().all(|r| r.conn == reqs[0].conn));
        assert_eq!(rx.connections(), 1);
        assert_eq!(rx.json_bodies()[2], json!({"n": 2}));
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let rx = Receiver::start(Behaviour::default());
        let mut c = Client::new(&rx);
        c.send(b"GET /a HTTP/1.0\r\n\r\n");
        assert_eq!(c.read().unwrap().header("connection"), Some("close"));
        assert!(c.closed());
    }

    #[test]
    fn chunked_body_is_decoded() {
        let rx = Receiver::start(Behaviour::default());
        let mut c = Client::new(&rx);
        c.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.send(b"4\r\n{\"a\"\r\n");
        std::thread::sleep(Duration::from_millis(30));
        c.send(b"A;ext=1\r\n:\"0123456\"\r\n3\r\n}  \r\n0\r\nX-Trailer: t\r\n\r\n");
        assert_eq!(c.read().unwrap().status, 200);
        // And a second chunked request on the same connection.
        c.send(b"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert_eq!(c.read().unwrap().status, 200);
        let reqs = rx.requests();
        assert_eq!(reqs[0].body_text(), "{\"a\":\"0123456\"}  ");
        assert_eq!(reqs[0].json().unwrap(), json!({"a": "0123456"}));
        assert!(reqs[1].body.is_empty());
    }

    #[test]
    fn expect_100_continue_is_honoured() {
        let rx = Receiver::start(Behaviour::default());
        let mut c = Client::new(&rx);
        c.send(b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(c.read().unwrap().status, 100);
        c.send(b"{}");
        assert_eq!(c.read().unwrap().status, 200);
        assert_eq!(rx.last().unwrap().body, b"{}");
    }

    #[test]
    fn head_gets_length_but_no_body() {
        let rx = Receiver::start(Behaviour::Ok(200, "hello".into()));
        let mut c = Client::new(&rx);
        c.send(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        let mut head = String::new();
        loop {
            let mut line = String::new();
            c.r.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Length: 5\r\n"), "{head}");
        // The next bytes are the GET's answer, not a body.
        let get = c.read().unwrap();
        assert_eq!((get.status, get.body.as_str()), (200, "hello"));
    }

    #[test]
    fn statuses_and_rate_limit() {
        let rx = Receiver::start(Behaviour::Status(500));
        assert_eq!(once(&rx, "/", "{}").status, 500);
        rx.set_mode(Behaviour::Status(400));
        assert_eq!(once(&rx, "/", "{}").status, 400);
        rx.set_mode(Behaviour::RateLimit { retry_after_s: 7 });
        let r = once(&rx, "/", "{}");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        rx.set_mode(Behaviour::Status(204));
        let r = once(&rx, "/", "{}");
        assert_eq!((r.status, r.header("content-length")), (204, None));
        assert_eq!(rx.count(), 4);
    }

    #[test]
    fn down_refuses_then_up_again_on_the_same_port() {
        let rx = Receiver::start(Behaviour::default());
        let port = rx.port();
        // Server-closed connections leave TIME_WAIT sockets on the receiver's port.
        for _ in 0..3 {
            assert_eq!(once(&rx, "/", "{}").status, 200);
        }
        let mut idle = Client::new(&rx);
        idle.send(&post("/", "{}", ""));
        assert_eq!(idle.read().unwrap().status, 200);

        rx.set_mode(Behaviour::Down);
        assert_eq!(rx.mode(), Behaviour::Down);
        let e = TcpStream::connect(rx.addr()).expect_err("refused while down");
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert!(idle.closed(), "open keep-alive connections are shut down");

        rx.set_mode(Behaviour::Status(503));
        assert_eq!(rx.port(), port);
        assert_eq!(once(&rx, "/", "{}").status, 503);
        // And once more, to be sure the cycle repeats.
        rx.set_mode(Behaviour::Down);
        assert!(TcpStream::connect(rx.addr()).is_err());
        rx.set_mode(Behaviour::default());
        assert_eq!(once(&rx, "/", "{}").status, 200);
        assert_eq!(rx.count(), 6);
    }

    #[test]
    fn starting_down_then_up() {
        let rx = Receiver::start(Behaviour::Down);
        assert!(TcpStream::connect(rx.addr()).is_err());
        rx.set_mode(Behaviour::default());
        assert_eq!(once(&rx, "/", "{}").status, 200);
    }

    #[test]
    fn hang_records_but_never_answers_and_drop_releases() {
        let rx = Receiver::start(Behaviour::Hang);
        let mut c = Client::new(&rx);
        c.w.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        c.send(&post("/h", r#"{"h":1}"#, ""));
        assert!(rx.wait_for(1, T));
        assert!(c.read().is_none(), "no answer");
        assert_eq!(rx.json_bodies(), vec![json!({"h": 1})]);
        // Switching the mode does not un-hang that request; new connections get the new mode.
        rx.set_mode(Behaviour::Status(502));
        assert_eq!(once(&rx, "/", "{}").status, 502);
        c.w.set_read_timeout(Some(T)).unwrap();
        let t0 = Instant::now();
        drop(rx);
        assert!(t0.elapsed() < Duration::from_secs(2), "drop is prompt");
        assert!(c.closed(), "the hung connection is closed by drop");
    }

    #[test]
    fn oversize_head_and_body_get_413() {
        let rx = Receiver::start(Behaviour::default());
        let mut c = Client::new(&rx);
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() <= MAX_HEAD + 10 {
            big.extend_from_slice(
                b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        let _ = c.w.write_all(&big);
        assert_eq!(c.read().unwrap().status, 413);
        let mut c = Client::new(&rx);
        c.send(
            format!(
                "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            )
            .as_bytes(),
        );
        let r = c.read().unwrap();
        assert_eq!((r.status, r.header("connection")), (413, Some("close")));
        let mut c = Client::new(&rx);
        c.send(b"BROKEN\r\n\r\n");
        assert_eq!(c.read().unwrap().status, 400);
        assert_eq!(rx.count(), 0);
        assert_eq!(rx.rejected(), 3);
    }

    #[test]
    fn wait_for_times_out() {
        let rx = Receiver::start(Behaviour::default());
        let t0 = Instant::now();
        assert!(!rx.wait_for(1, Duration::from_millis(100)));
        assert!(t0.elapsed() >= Duration::from_millis(100));
        let addr = rx.addr();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            let _ = s.read(&mut [0u8; 64]);
        });
        assert!(rx.wait_for(1, T));
    }

    fn pd_trigger() -> Value {
        json!({
            "routing_key": "test-routing-key",
            "event_action": "trigger",
            "dedup_key": "cpra/web-1",
            "payload": {
                "summary": "web-1 is DOWN: connection refused",
                "source": "cpra@host",
                "severity": "critical",
                "timestamp": "2026-01-02T03:04:05.678Z",
                "component": "http",
                "group": "prod",
                "class": "availability",
                "custom_details": {"latency_ms": 12, "tags": ["a"]}
            },
            "client": "cpra",
            "client_url": "http://cpra.example/",
            "links": [{"href": "http://x.example/", "text": "x"}],
            "images": [{"src": "https://x.example/i.png", "alt": "graph"}]
        })
    }

    #[test]
    fn pagerduty_mode_answers_like_the_api() {
        let rx = Receiver::start(Behaviour::PagerDuty);
        let r = once(&rx, "/v2/enqueue", &pd_trigger().to_string());
        assert_eq!(r.status, 202);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"status": "success", "message": "Event processed", "dedup_key": "cpra/web-1"})
        );
        let mut no_key = pd_trigger();
        no_key.as_object_mut().unwrap().remove("dedup_key");
        let v: Value =
            serde_json::from_str(&once(&rx, "/v2/enqueue", &no_key.to_string()).body).unwrap();
        let k = v["dedup_key"].as_str().unwrap();
        assert!(
            k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()),
            "{k}"
        );

        let r = once(
            &rx,
            "/v2/enqueue",
            r#"{"event_action":"resolve","routing_key":""}"#,
        );
        assert_eq!(r.status, 400);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], "invalid event");
        assert_eq!(v["message"], "Event object is invalid");
        let errors: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(
            errors,
            [
                "routing_key: must not be empty",
                "dedup_key: required for resolve"
            ]
        );

        let r = once(&rx, "/v2/enqueue", "not json");
        assert_eq!(r.status, 400);
        assert!(r.body.contains("JSON parse error"));
        assert_eq!(once(&rx, "/enqueue", "{}").status, 404);
        let mut c = Client::new(&rx);
        c.send(b"GET /v2/enqueue HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(c.read().unwrap().status, 405);
        assert_eq!(rx.count(), 6, "every request is recorded, valid or not");
    }

    #[test]
    fn slack_mode_answers_like_a_webhook() {
        let rx = Receiver::start(Behaviour::Slack);
        let r = once(&rx, "/services/T/B/X", r#"{"text":"hi"}"#);
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = once(&rx, "/services/T/B/X", r#"{"username":"cpra"}"#);
        assert_eq!((r.status, r.body.as_str()), (400, "no_text"));
        let r = once(&rx, "/services/T/B/X", r#"{"text":"hi","txet":"typo"}"#);
        assert_eq!((r.status, r.body.as_str()), (400, "invalid_payload"));
        let r = once(&rx, "/services/T/B/X", "payload=x");
        assert_eq!((r.status, r.body.as_str()), (400, "invalid_payload"));
    }

    #[test]
    fn slack_valid_samples() {
        let samples = [
            json!({"text": "web-1 is DOWN"}),
            json!({"text": "fallback", "mrkdwn": true, "username": "cpra", "icon_emoji": ":rotating_light:",
                   "channel": "#ops", "thread_ts": "1700000000.000100", "icon_url": "https://x/i.png"}),
            json!({"blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "web-1 DOWN", "emoji": true}},
                {"type": "section", "block_id": "s1", "text": {"type": "mrkdwn", "text": "*web-1* refused"},
                 "fields": [{"type": "mrkdwn", "text": "*Since*\n10:00"}]},
                {"type": "divider"},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "cpra"},
                    {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"}]},
                {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x"}]},
                {"type": "image", "image_url": "https://x/g.png", "alt_text": "graph", "title": {"type": "plain_text", "text": "g"}},
                {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "x"}]}]}
            ]}),
            json!({"attachments": [{
                "fallback": "web-1 DOWN", "color": "#36a64f", "pretext": "p", "title": "t",
                "title_link": "https://x", "text": "body", "footer": "cpra", "ts": 1700000000,
                "fields": [{"title": "Monitor", "value": "web-1", "short": true}],
                "mrkdwn_in": ["text", "pretext"], "author_name": "cpra",
                "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "x"}}]
            }, {"color": "danger", "text": "b", "ts": 1.5}]}),
            json!({"text": "x".repeat(40_000), "blocks": []}),
        ];
        for s in &samples {
            assert_eq!(slack_incoming_webhook(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn slack_invalid_samples() {
        let header_151 = json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]});
        let section_3001 = json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s".repeat(3001)}}]});
        let blocks_51 = json!({"blocks": vec![json!({"type": "divider"}); 51]});
        let context_11 = json!({"blocks": [{"type": "context", "elements": vec![json!({"type": "plain_text", "text": "c"}); 11]}]});
        let cases: Vec<(Value, &str)> = vec![
            (json!("text"), "payload must be a JSON object, got a string"),
            (json!({"text": "x", "txt": "y"}), "txt: unknown field"),
            (
                json!({}),
                "text: required (non-blank) unless blocks or attachments",
            ),
            (json!({"text": "   "}), "text: required"),
            (json!({"text": 5}), "text: must be a string, got a number"),
            (
                json!({"text": "x".repeat(40_001)}),
                "text: 40001 characters, at most 40000 allowed",
            ),
            (
                json!({"text": "x", "mrkdwn": "yes"}),
                "mrkdwn: must be a boolean",
            ),
            (
                json!({"text": "x", "icon_emoji": "ghost"}),
                "icon_emoji: must be an emoji name",
            ),
            (
                json!({"attachments": [{"color": "green", "text": "x"}]}),
                "attachments[0].color: must be a hex colour",
            ),
            (
                json!({"attachments": [{"color": "#12345", "text": "x"}]}),
                "attachments[0].color",
            ),
            (
                json!({"attachments": [{"text": "x", "colour": "#ffffff"}]}),
                "attachments[0].colour: unknown field",
            ),
            (
                json!({"attachments": [{"text": "x", "ts": "1700000000"}]}),
                "attachments[0].ts: must be a number",
            ),
            (
                json!({"attachments": [{"fields": [{"title": "a", "value": "b", "short": "true"}]}]}),
                "attachments[0].fields[0].short: must be a boolean",
            ),
            (
                json!({"attachments": [{"fields": [{"title": "a", "val": "b"}]}]}),
                "attachments[0].fields[0].val: unknown field",
            ),
            (
                json!({"attachments": [{"text": "x", "mrkdwn_in": ["title"]}]}),
                "attachments[0].mrkdwn_in[0]: must be pretext, text or fields",
            ),
            (json!({"attachments": "x"}), "attachments: must be an array"),
            (
                json!({"attachments": [{"blocks": [{"type": "divider", "text": "x"}]}]}),
                "attachments[0].blocks[0].text: unknown field",
            ),
            (
                header_151,
                "blocks[0].text.text: 151 characters, at most 150 allowed",
            ),
            (
                json!({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}),
                "blocks[0].text.type: must be plain_text, got \"mrkdwn\"",
            ),
            (
                section_3001,
                "blocks[0].text.text: 3001 characters, at most 3000 allowed",
            ),
            (
                json!({"blocks": [{"type": "section", "text": {"type": "markdown", "text": "x"}}]}),
                "blocks[0].text.type: must be mrkdwn or plain_text",
            ),
            (
                json!({"blocks": [{"type": "section", "text": "plain string"}]}),
                "blocks[0].text: must be a text object",
            ),
            (
                json!({"blocks": [{"type": "section"}]}),
                "blocks[0]: a section needs text or fields",
            ),
            (blocks_51, "blocks: 51 blocks, at most 50 allowed"),
            (context_11, "blocks[0].elements: 11 items, 1..=10 allowed"),
            (
                json!({"blocks": [{"type": "context"}]}),
                "blocks[0].elements: required",
            ),
            (
                json!({"blocks": [{"type": "banner"}]}),
                "blocks[0].type: must be one of section, header",
            ),
            (
                json!({"blocks": [{"text": "x"}]}),
                "blocks[0].type: required",
            ),
            (
                json!({"blocks": [{"type": "image", "image_url": "https://x"}]}),
                "blocks[0].alt_text: required",
            ),
            (
                json!({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": true}}]}),
                "blocks[0].text.emoji: only for plain_text",
            ),
        ];
        for (payload, want) in cases {
            match slack_incoming_webhook(&payload) {
                Ok(()) => panic!("accepted: {payload}"),
                Err(e) => assert!(e.contains(want), "for {payload}\nwant: {want}\n got: {e}"),
            }
        }
        // Several problems are all reported.
        let e = slack_incoming_webhook(&json!({"text": 1, "extra": 2})).unwrap_err();
        assert_eq!(e.split("; ").count(), 3, "{e}");
    }

    #[test]
    fn pagerduty_valid_samples() {
        let samples = [
            pd_trigger(),
            json!({"routing_key": "k", "event_action": "trigger",
                   "payload": {"summary": "s", "source": "h", "severity": "info"}}),
            json!({"routing_key": "k", "event_action": "trigger",
                   "payload": {"summary": "s".repeat(1024), "source": "h", "severity": "warning",
                               "timestamp": "2015-07-17T08:42:58.315+0000", "custom_details": "text is fine"}}),
            json!({"routing_key": "k", "event_action": "acknowledge", "dedup_key": "d"}),
            json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "d".repeat(255)}),
            json!({"routing_key": "k", "event_action": "resolve", "dedup_key": "d", "payload": {"ignored": true}}),
        ];
        for s in &samples {
            assert_eq!(pagerduty_events_v2(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn pagerduty_invalid_samples() {
        let with = |path: &[&str], v: Value| {
            let mut e = pd_trigger();
            let mut at = &mut e;
            for p in &path[..path.len() - 1] {
                at = at.get_mut(*p).unwrap();
            }
            let last = path[path.len() - 1];
            if v.is_null() {
                at.as_object_mut().unwrap().remove(last);
            } else {
                at[last] = v;
            }
            e
        };
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "event must be a JSON object, got an array"),
            (with(&["routing_key"], Value::Null), "routing_key: required"),
            (
                with(&["routing_key"], json!(12)),
                "routing_key: must be a string, got a number",
            ),
            (
                with(&["event_action"], json!("escalate")),
                "event_action: must be trigger, acknowledge or resolve, got \"escalate\"",
            ),
            (
                with(&["event_action"], Value::Null),
                "event_action: required",
            ),
            (
                with(&["dedup_key"], json!("k".repeat(256))),
                "dedup_key: 256 characters, at most 255 allowed",
            ),
            (
                with(&["dedup_key"], json!("")),
                "dedup_key: must not be empty",
            ),
            (
                json!({"routing_key": "k", "event_action": "acknowledge"}),
                "dedup_key: required for acknowledge",
            ),
            (
                with(&["payload"], Value::Null),
                "payload: required for trigger",
            ),
            (
                with(&["payload"], json!("s")),
                "payload: must be an object, got a string",
            ),
            (
                with(&["payload", "summary"], Value::Null),
                "payload.summary: required",
            ),
            (
                with(&["payload", "summary"], json!("")),
                "payload.summary: must not be empty",
            ),
            (
                with(&["payload", "summary"], json!("s".repeat(1025))),
                "payload.summary: 1025 characters, at most 1024 allowed",
            ),
            (
                with(&["payload", "source"], json!("")),
                "payload.source: must not be empty",
            ),
            (
                with(&["payload", "source"], Value::Null),
                "payload.source: required",
            ),
            (
                with(&["payload", "severity"], json!("high")),
                "payload.severity: must be critical, error, warning or info, got \"high\"",
            ),
            (
                with(&["payload", "severity"], Value::Null),
                "payload.severity: required",
            ),
            (
                with(&["payload", "timestamp"], json!("yesterday")),
                "payload.timestamp: must be an ISO 8601 date-time",
            ),
            (
                with(&["payload", "timestamp"], json!(1700000000)),
                "payload.timestamp",
            ),
            (
                with(&["payload", "component"], json!(1)),
                "payload.component: must be a string",
            ),
            (
                with(&["payload", "details"], json!({})),
                "payload.details: unknown field",
            ),
            (
                with(&["summary"], json!("top-level by mistake")),
                "summary: unknown field",
            ),
            (
                with(&["links"], json!([{"text": "no href"}])),
                "links[0].href: required",
            ),
            (
                with(&["links"], json!([{"href": "h", "url": "u"}])),
                "links[0].url: unknown field",
            ),
            (
                with(&["images"], json!({"src": "s"})),
                "images: must be an array",
            ),
            (
                with(&["images"], json!([{"src": 1}])),
                "images[0].src: must be a string",
            ),
            (with(&["client"], json!(false)), "client: must be a string"),
        ];
        for (event, want) in cases {
            match pagerduty_events_v2(&event) {
                Ok(()) => panic!("accepted: {event}"),
                Err(e) => assert!(e.contains(want), "for {event}\nwant: {want}\n got: {e}"),
            }
        }
    }

    #[test]
    fn iso8601_datetimes() {
        for ok in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.123456789Z",
            "2026-01-02t03:04:05z",
            "2026-01-02T03:04:05+01:00",
            "2026-01-02T03:04:05-0530",
            "2024-02-29T23:59:60Z",
        ] {
            assert!(is_iso8601_datetime(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-01-02",
            "2026-01-02 03:04:05Z",
            "2026-01-02T03:04:05",
            "2026-13-02T03:04:05Z",
            "2025-02-29T03:04:05Z",
            "2026-01-02T24:00:00Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+1:00",
            "2026-01-02T03:04:05+01:00x",
            "1700000000",
        ] {
            assert!(!is_iso8601_datetime(bad), "{bad}");
        }
    }
}
