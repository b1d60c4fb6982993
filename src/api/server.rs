//! A small, bounded HTTP/1.1 server on mio and httparse, the parts the probes already use.
//!
//! One thread, one poll loop, every socket non-blocking. Everything a client can make it hold
//! is capped ([`crate::limits`], `API_*`): connections, request head and body, time per
//! request, idle keep-alive, bytes waiting for a slow event-stream reader. A client past a
//! cap gets a status that says which (431, 413, 408, 503) and is closed; the engine never
//! waits on the server. Handlers ([`super::routes`]) are plain functions from a parsed
//! [`Request`] to a [`Response`]; an event stream is a response that stays open and is fed
//! by the loop every `API_STREAM_PUSH_MS`.
//!
//! Why not a server crate: the async ones need a runtime the rest of cpra does not have, and
//! the blocking ones give no control over per-connection buffers and deadlines; the
//! bounded parts here are short and each is tested.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::limits::{
    API_CONNECTIONS_MAX, API_IDLE_MS_MAX, API_REQUEST_BODY_BYTES_MAX, API_REQUEST_HEAD_BYTES_MAX,
    API_REQUEST_HEADERS_MAX, API_REQUEST_TIME_MS_MAX, API_RESPONSE_BACKLOG_BYTES_MAX,
    API_STREAM_BACKLOG_BYTES_MAX, API_STREAM_PUSH_MS, API_STREAMS_MAX,
};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded segment by segment by the router (raw here).
    pub path: String,
    /// Query pairs, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// `Authorization` header, if any.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: a whole body, or an event stream that stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Full {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
        /// Extra header lines, each ending in CRLF.
        headers: String,
    },
    /// Server-Sent Events; the router's first chunk goes out with the head.
    Stream { first: Vec<u8> },
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response::Full {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
            headers: String::new(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response::Full {
            status,
            content_type,
            body: body.into(),
            headers: String::new(),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, serde_json::json!({ "error": message }).to_string())
    }
}

/// What the server calls: routing, and feeding the open streams.
pub trait Handler: Send + 'static {
    fn handle(&mut self, req: &Request) -> Response;
    /// Called every `API_STREAM_PUSH_MS` with the streams' positions; returns the bytes to
    /// append to each (same order), advancing the positions.
    fn pump(&mut self, positions: &mut [u64], now: Instant) -> Vec<Vec<u8>>;
    /// A new stream's starting position.
    fn stream_start(&mut self) -> u64;
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn head(status: u16, content_type: &str, len: Option<usize>, close: bool, extra: &str) -> String {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        reason_phrase(status)
    );
    if let Some(n) = len {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    h.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    h.push_str(extra);
    h.push_str("\r\n");
    h
}

struct Conn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// When the request being read (or the idle wait) must be done.
    deadline: Instant,
    /// Close once `out` is written.
    close: bool,
    /// Event stream position, when this connection is a stream.
    stream_pos: Option<u64>,
    /// Reading is over (closed by the peer or a final answer queued).
    read_done: bool,
    /// The answer being queued is to a HEAD (its Content-Length is in its headers).
    head_only: bool,
}

/// Outcome of looking at the bytes read so far.
enum Parsed {
    Incomplete,
    Done(Request, usize, bool),
    Fail(u16, &'static str),
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decodes a path segment or query value.
pub fn decode(s: &str) -> String {
    percent_decode(s, false)
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .take(64)
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; API_REQUEST_HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > API_REQUEST_HEAD_BYTES_MAX {
                return Parsed::Fail(431, "request head too large");
            }
            return Parsed::Incomplete;
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Fail(431, "too many request headers");
        }
        Err(_) => return Parsed::Fail(400, "malformed request"),
    };
    if head_len > API_REQUEST_HEAD_BYTES_MAX {
        return Parsed::Fail(431, "request head too large");
    }
    let mut len = 0usize;
    let mut close = req.version == Some(0);
    let mut authorization = None;
    for h in req.headers.iter() {
        let v = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            match v.trim().parse::<usize>() {
                Ok(n) if n <= API_REQUEST_BODY_BYTES_MAX => len = n,
                Ok(_) => return Parsed::Fail(413, "request body too large"),
                Err(_) => return Parsed::Fail(400, "bad Content-Length"),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Fail(411, "send a Content-Length, not a chunked body");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= v.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("authorization") {
            authorization = Some(v.into_owned());
        }
    }
    if buf.len() < head_len + len {
        return Parsed::Incomplete;
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let r = Request {
        method: req.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query: parse_query(query),
        authorization,
        body: buf[head_len..head_len + len].to_vec(),
    };
    Parsed::Done(r, head_len + len, close)
}

/// A running server: its address, and a stop that joins the thread.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (an error names it) and serves `handler` on a thread of its own.
    pub fn start(addr: SocketAddr, handler: impl Handler) -> io::Result<Server> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let mut listener = TcpListener::from_std(std_listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let loop_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cpra-api".into())
            .spawn(move || {
                let mut l = Loop {
                    poll,
                    listener,
                    conns: HashMap::new(),
                    next_token: 0,
                    handler,
                    stop: loop_stop,
                };
                l.run();
            })?;
        Ok(Server {
            addr,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Loop<H: Handler> {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    handler: H,
    stop: Arc<AtomicBool>,
}

impl<H: Handler> Loop<H> {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        let push_every = Duration::from_millis(API_STREAM_PUSH_MS);
        let mut next_push = Instant::now() + push_every;
        while !self.stop.load(Ordering::Relaxed) {
            let wait = next_push.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait))
                && e.kind() != io::ErrorKind::Interrupted
            {
                crate::say!("cpra: API poll failed: {e}; the API stops");
                return;
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    t => self.ready(t),
                }
            }
            let now = Instant::now();
            if now >= next_push {
                next_push = now + push_every;
                self.pump_streams(now);
                self.expire(now);
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // Out of descriptors or the like: try again on the next event.
            };
            if self.conns.len() >= API_CONNECTIONS_MAX {
                let body = "too many API connections; try again\n";
                let msg = head(503, "text/plain", Some(body.len()), true, "") + body;
                let _ = stream.write(msg.as_bytes());
                continue;
            }
            let _ = stream.set_nodelay(true);
            let token = Token(self.next_token);
            self.next_token = (self.next_token + 1) % (usize::MAX - 16);
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.conns.insert(
                token,
                Conn {
                    stream,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    out_pos: 0,
                    deadline: Instant::now() + Duration::from_millis(API_REQUEST_TIME_MS_MAX),
                    close: false,
                    stream_pos: None,
                    read_done: false,
                    head_only: false,
                },
            );
        }
    }

    fn ready(&mut self, t: Token) {
        let Some(mut c) = self.conns.remove(&t) else {
            return;
        };
        let keep = self.serve(&mut c);
        if keep {
            self.conns.insert(t, c);
        } else {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Reads, answers and writes until the socket has nothing more to give (edge-triggered:
    /// no new event comes for bytes left in the kernel) or the answers wait for the client to
    /// read them. False when the connection is finished.
    fn serve(&mut self, c: &mut Conn) -> bool {
        loop {
            let Some(drained) = self.read(c) else {
                return false;
            };
            let before = c.inbuf.len();
            if !self.answer(c) || !flush(c) {
                return false;
            }
            let waiting = c.out.len() > c.out_pos;
            if drained || waiting || c.inbuf.len() == before {
                return true;
            }
        }
    }

    /// Reads what is there: `Some(true)` when the socket is drained (it would block, or the
    /// peer closed), `Some(false)` when reading stopped at the buffer cap, `None` when the
    /// connection is finished.
    fn read(&mut self, c: &mut Conn) -> Option<bool> {
        if c.read_done {
            return Some(true);
        }
        let mut chunk = [0u8; 8192];
        loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.read_done = true;
                    // A half-closed client still gets what is queued; a stream is over.
                    let keep =
                        c.stream_pos.is_none() && (c.out_pos < c.out.len() || !c.inbuf.is_empty());
                    return keep.then_some(true);
                }
                Ok(n) => {
                    if c.stream_pos.is_some() {
                        continue; // A stream's client has nothing more to say.
                    }
                    c.inbuf.extend_from_slice(&chunk[..n]);
                    if c.inbuf.len() > API_REQUEST_HEAD_BYTES_MAX + API_REQUEST_BODY_BYTES_MAX {
                        return Some(false); // `answer` consumes or refuses it.
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
    }

    /// Answers every complete request read so far (pipelined ones in order).
    fn answer(&mut self, c: &mut Conn) -> bool {
        // Pipelined requests are answered only while the client reads the answers: a client
        // that sends without reading holds at most this backlog (then its deadline ends it).
        while c.stream_pos.is_none()
            && !c.close
            && !c.inbuf.is_empty()
            && c.out.len() - c.out_pos <= API_RESPONSE_BACKLOG_BYTES_MAX
        {
            match parse(&c.inbuf) {
                Parsed::Incomplete => {
                    if c.read_done {
                        return c.out_pos < c.out.len();
                    }
                    if c.inbuf.len() > API_REQUEST_HEAD_BYTES_MAX + API_REQUEST_BODY_BYTES_MAX {
                        queue_error(c, 413, "request too large");
                    }
                    return true;
                }
                Parsed::Fail(status, why) => {
                    queue_error(c, status, why);
                    return true;
                }
                Parsed::Done(req, used, close) => {
                    c.inbuf.drain(..used);
                    let mut resp = self.handler.handle(&req);
                    let head_only = req.method == "HEAD";
                    if head_only && let Response::Full { body, headers, .. } = &mut resp {
                        // The head of the GET answer, its length included, and no body.
                        headers.push_str(&format!("Content-Length: {}\r\n", body.len()));
                        body.clear();
                    }
                    c.head_only = head_only;
                    self.queue(c, resp, close || c.read_done);
                    c.head_only = false;
                    c.deadline = Instant::now() + Duration::from_millis(API_REQUEST_TIME_MS_MAX);
                }
            }
        }
        true
    }

    fn queue(&mut self, c: &mut Conn, resp: Response, close: bool) {
        match resp {
            Response::Full {
                status,
                content_type,
                body,
                headers,
            } => {
                let len = (!c.head_only).then_some(body.len());
                c.out
                    .extend_from_slice(head(status, content_type, len, close, &headers).as_bytes());
                c.out.extend_from_slice(&body);
                c.close |= close;
            }
            Response::Stream { first } => {
                let streams = self
                    .conns
                    .values()
                    .filter(|c| c.stream_pos.is_some())
                    .count();
                if streams >= API_STREAMS_MAX {
                    queue_error(c, 503, "too many event streams open; try again");
                    return;
                }
                c.out.extend_from_slice(
                    head(
                        200,
                        "text/event-stream",
                        None,
                        true,
                        "X-Accel-Buffering: no\r\n",
                    )
                    .as_bytes(),
                );
                c.out.extend_from_slice(&first);
                c.stream_pos = Some(self.handler.stream_start());
                c.inbuf.clear();
            }
        }
    }

    fn pump_streams(&mut self, now: Instant) {
        let tokens: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.stream_pos.is_some())
            .map(|(t, _)| *t)
            .collect();
        if tokens.is_empty() {
            return;
        }
        let mut positions: Vec<u64> = tokens
            .iter()
            .map(|t| self.conns[t].stream_pos.unwrap_or(0))
            .collect();
        let chunks = self.handler.pump(&mut positions, now);
        for ((t, pos), chunk) in tokens.iter().zip(positions).zip(chunks) {
            let Some(mut c) = self.conns.remove(t) else {
                continue;
            };
            c.stream_pos = Some(pos);
            c.out.extend_from_slice(&chunk);
            // A reader this far behind is not reading: drop it rather than hold its backlog.
            let keep = c.out.len() - c.out_pos <= API_STREAM_BACKLOG_BYTES_MAX && flush(&mut c);
            if keep {
                self.conns.insert(*t, c);
            } else {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
    }

    /// Closes connections past their deadline: a request not done in time gets 408.
    fn expire(&mut self, now: Instant) {
        let late: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.stream_pos.is_none() && c.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            if let Some(mut c) = self.conns.remove(&t) {
                if !c.inbuf.is_empty() && c.out_pos == c.out.len() {
                    queue_error(&mut c, 408, "request not completed in time");
                    let _ = flush(&mut c);
                }
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
    }
}

fn queue_error(c: &mut Conn, status: u16, why: &str) {
    let body = format!("{}\n", serde_json::json!({ "error": why }));
    c.out
        .extend_from_slice(head(status, "application/json", Some(body.len()), true, "").as_bytes());
    c.out.extend_from_slice(body.as_bytes());
    c.close = true;
    c.read_done = true;
    c.inbuf.clear();
}

/// Writes what is queued; false when the connection is finished (written and closing, or
/// broken).
fn flush(c: &mut Conn) -> bool {
    let answered = !c.out.is_empty();
    while c.out_pos < c.out.len() {
        match c.stream.write(&c.out[c.out_pos..]) {
            Ok(0) => return false,
            Ok(n) => c.out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.out_pos = 0;
    if c.close && c.stream_pos.is_none() {
        return false;
    }
    if answered && c.stream_pos.is_none() && c.inbuf.is_empty() {
        // Idle keep-alive after an answer: closed if nothing comes for a while. (Before the
        // first answer the request deadline from `accept` holds, so a client that connects
        // and trickles gets no more than API_REQUEST_TIME_MS_MAX.)
        c.deadline = Instant::now() + Duration::from_millis(API_IDLE_MS_MAX);
    }
    !c.read_done || c.stream_pos.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Request, usize, bool) {
        match parse(buf) {
            Parsed::Done(r, n, c) => (r, n, c),
            Parsed::Incomplete => panic!("incomplete"),
            Parsed::Fail(s, w) => panic!("{s} {w}"),
        }
    }

    fn fail(buf: &[u8]) -> u16 {
        match parse(buf) {
            Parsed::Fail(s, _) => s,
            _ => panic!("expected a refusal"),
        }
    }

    #[test]
    fn parses_path_query_auth_and_body() {
        let raw: &[u8] = b"POST /api/v1/monitors/a%20b/pause?x=1&q=web+1%2F2 HTTP/1.1\r\nAuthorization: Bearer t\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let (r, n, close) = done(raw);
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/v1/monitors/a%20b/pause");
        assert_eq!(decode("a%20b"), "a b");
        assert_eq!(r.param("q"), Some("web 1/2"));
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
        assert_eq!(r.body, b"abc");
        assert_eq!(
            n,
            raw.len() - "EXTRA".len(),
            "the next request starts after the body"
        );
        assert!(!close);
    }

    #[test]
    fn refuses_what_is_too_big_or_chunked() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', API_REQUEST_HEAD_BYTES_MAX + 1));
        assert_eq!(fail(&big), 431);
        let body = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            API_REQUEST_BODY_BYTES_MAX + 1
        );
        assert_eq!(fail(body.as_bytes()), 413);
        assert_eq!(
            fail(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(fail(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(fail(b"\x00\x01\x02 garbage\r\n\r\n"), 400);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..API_REQUEST_HEADERS_MAX + 1 {
            many.extend(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(fail(&many), 431);
    }

    #[test]
    fn waits_for_the_rest_of_head_and_body() {
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost"),
            Parsed::Incomplete
        ));
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Parsed::Incomplete
        ));
        let (_, _, close) = done(b"GET / HTTP/1.0\r\n\r\n");
        assert!(close, "HTTP/1.0 closes");
        let (_, _, close) = done(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(close);
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(decode("%41%4a%zz%"), "AJ%zz%");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(decode("a+b"), "a+b");
        assert_eq!(decode("%e2%9c%93"), "\u{2713}");
    }
}
