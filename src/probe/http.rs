//! HTTP/1.1 for health checks, without I/O: render a request, judge a response fed in pieces.
//!
//! The probe loop owns sockets and time; this module owns bytes. [`render_request`] writes the
//! request into a reused buffer. [`Exchange`] is a push parser: the loop feeds it whatever the
//! socket gave ([`Exchange::feed`]) and tells it about end of stream ([`Exchange::eof`]); it
//! answers with a verdict as soon as one is possible. Status line and headers are parsed with
//! `httparse` and may not exceed [`RESPONSE_HEADER_BYTES_MAX`]; the body is read only when
//! `body_contains` asks for it, de-chunked if needed, and never past
//! [`RESPONSE_BODY_BYTES_MAX`]. Being I/O-free, the whole module is tested (and fuzzed) on
//! byte strings.

use crate::limits::{
    KEEPALIVE_DRAIN_BYTES_MAX, RESPONSE_BODY_BYTES_MAX, RESPONSE_HEADER_BYTES_MAX,
    RESPONSE_HEADERS_COUNT_MAX, URL_BYTES_MAX,
};
use crate::store::HttpProbe;
use crate::vocab::Reason;

/// Appends the request for `probe` at `host_header` + `path` to `out`.
pub fn render_request(out: &mut Vec<u8>, probe: &HttpProbe, host_header: &str, path: &str) {
    render_request_as(out, probe, false, host_header, path);
}

/// As [`render_request`]; `as_get` sends GET without a body (a 303, or a 301/302 after a
/// POST, as browsers do).
pub fn render_request_as(
    out: &mut Vec<u8>,
    probe: &HttpProbe,
    as_get: bool,
    host_header: &str,
    path: &str,
) {
    if as_get {
        out.extend_from_slice(b"GET");
    } else {
        out.extend_from_slice(probe.method.as_bytes());
    }
    out.push(b' ');
    out.extend_from_slice(if path.is_empty() {
        b"/"
    } else {
        path.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !probe.sets_host {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host_header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !probe.sets_user_agent {
        out.extend_from_slice(
            concat!("User-Agent: cpra/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
        );
    }
    if as_get {
        // The block may carry Content-Length for the original body: drop that line.
        for line in probe.header_block.split_inclusive("\r\n") {
            if !line.to_ascii_lowercase().starts_with("content-length:") {
                out.extend_from_slice(line.as_bytes());
            }
        }
    } else {
        out.extend_from_slice(probe.header_block.as_bytes());
    }
    if probe.keepalive {
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n\r\n");
    }
    if !as_get {
        out.extend_from_slice(&probe.body);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilEof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailers until an empty line.
    Trailers,
}

/// One response being judged.
#[derive(Debug)]
pub struct Exchange {
    head_done: bool,
    status: u16,
    framing: Framing,
    chunk: Chunk,
    /// Body bytes consumed so far (wire, de-chunked).
    body_seen: u64,
    /// Searched body prefix (bounded) when `body_contains` is set.
    body: Vec<u8>,
    /// Bytes of `body` already searched (minus the needle overlap).
    searched: usize,
    /// Undecoded bytes carried between feeds (chunk-size lines).
    carry: Vec<u8>,
    head_bytes: usize,
    /// Keep-alive: consume the whole message so the connection can be reused.
    drain: bool,
    /// The verdict, when known before the message ends (keep-alive).
    pending: Option<Verdict>,
    /// No reason seen yet not to reuse the connection.
    reusable: bool,
    /// The message was read to its end.
    message_done: bool,
    /// `Location` of a 3xx response.
    location: Option<String>,
}

/// The verdict on an exchange: reason and HTTP status (0 when no status line was read).
pub type Verdict = (Reason, u16);

impl Default for Exchange {
    fn default() -> Self {
        Exchange::new()
    }
}

impl Exchange {
    pub fn new() -> Exchange {
        Exchange {
            head_done: false,
            status: 0,
            framing: Framing::UntilEof,
            chunk: Chunk::Size,
            body_seen: 0,
            body: Vec::new(),
            searched: 0,
            carry: Vec::new(),
            head_bytes: 0,
            drain: false,
            pending: None,
            reusable: true,
            message_done: false,
            location: None,
        }
    }

    /// Clears for a new response; `keepalive` reads every response to its end.
    pub fn reset_for(&mut self, keepalive: bool) {
        self.reset();
        self.drain = keepalive;
    }

    /// Clears for a new response, keeping buffers.
    pub fn reset(&mut self) {
        self.head_done = false;
        self.status = 0;
        self.framing = Framing::UntilEof;
        self.chunk = Chunk::Size;
        self.body_seen = 0;
        self.body.clear();
        self.searched = 0;
        self.carry.clear();
        self.head_bytes = 0;
        self.drain = false;
        self.pending = None;
        self.reusable = true;
        self.message_done = false;
        self.location = None;
    }

    /// The `Location` header of a 3xx response, if any.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// Feeds the response bytes received so far, `head` being the whole buffer the loop keeps
    /// (it grows until the head is complete; after that, `feed` is called with new bytes only
    /// through [`feed_body`](Self::feed_body)). Returns a verdict when one is reached.
    ///
    /// Returns `Ok(None)` when more is needed; on a complete head, the number of head bytes is
    /// remembered and body bytes already in `head` are consumed.
    pub fn feed_head(&mut self, mut head: &[u8], probe: &HttpProbe) -> Option<Verdict> {
        debug_assert!(!self.head_done);
        // A loop, not recursion, over interim (1xx) heads: a target sending thousands of them
        // must not grow the stack.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_COUNT_MAX];
            let mut resp = httparse::Response::new(&mut headers);
            let limit = head.len().min(RESPONSE_HEADER_BYTES_MAX);
            return match resp.parse(&head[..limit]) {
                Ok(httparse::Status::Partial) => {
                    if head.len() >= RESPONSE_HEADER_BYTES_MAX {
                        Some((Reason::Protocol, 0))
                    } else {
                        None
                    }
                }
                Err(_) => Some((Reason::Protocol, 0)),
                Ok(httparse::Status::Complete(n)) => {
                    let status = resp.code.unwrap_or(0);
                    self.status = status;
                    if (100..200).contains(&status) {
                        // An interim response (100 Continue, 103 Early Hints): skip it and read on.
                        if status == 101 {
                            return Some((Reason::Protocol, status));
                        }
                        // The caller re-feeds from `head_offset()`, after this interim head.
                        self.head_bytes += n;
                        if self.head_bytes >= RESPONSE_HEADER_BYTES_MAX {
                            return Some((Reason::Protocol, status));
                        }
                        head = &head[n..];
                        continue;
                    }
                    let status_ok = probe.status_ok(status);
                    if (300..400).contains(&status) {
                        for h in resp.headers.iter() {
                            if h.name.eq_ignore_ascii_case("location")
                                && h.value.len() <= URL_BYTES_MAX
                            {
                                self.location =
                                    std::str::from_utf8(h.value).ok().map(str::to_string);
                            }
                        }
                    }
                    if !self.drain {
                        if !status_ok {
                            return Some((Reason::Status, status));
                        }
                        if probe.body_contains.is_none() {
                            return Some((Reason::Ok, status));
                        }
                    } else if !status_ok {
                        // Keep-alive: the verdict is known, the body is still read to its end.
                        self.pending = Some((Reason::Status, status));
                    }
                    let mut framing = Framing::UntilEof;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            if h.value.eq_ignore_ascii_case(b"chunked")
                                || h.value.ends_with(b"chunked")
                            {
                                framing = Framing::Chunked;
                            }
                        } else if h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                        {
                            self.reusable = false;
                        } else if h.name.eq_ignore_ascii_case("content-length")
                            && framing != Framing::Chunked
                        {
                            match std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|s| s.trim().parse::<u64>().ok())
                            {
                                Some(len) => framing = Framing::Length(len),
                                None => return Some((Reason::Protocol, status)),
                            }
                        }
                    }
                    if status == 204 || status == 304 || probe.method.as_ref() == "HEAD" {
                        framing = Framing::Length(0);
                    }
                    self.framing = framing;
                    self.head_done = true;
                    self.head_bytes += n;
                    if framing == Framing::Length(0) {
                        return Some(self.complete(probe));
                    }
                    self.feed_body(&head[n..], probe)
                }
            };
        }
    }

    /// Bytes of head consumed before the final response's head (interim responses), so that
    /// the caller can re-feed `buf[head_offset()..]`.
    pub fn head_offset(&self) -> usize {
        self.head_bytes
    }

    /// The status of the final response head, 0 before one was parsed.
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn head_done(&self) -> bool {
        self.head_done
    }

    /// Feeds body bytes (after the head). Without keep-alive the body matters only when
    /// `body_contains` is set; with keep-alive it is consumed to its end so the connection can
    /// carry the next request.
    pub fn feed_body(&mut self, data: &[u8], probe: &HttpProbe) -> Option<Verdict> {
        let needle = probe
            .body_contains
            .as_deref()
            .filter(|_| self.pending.is_none());
        if needle.is_none() && !self.drain {
            return Some(self.pending.unwrap_or((Reason::Ok, self.status)));
        }
        match self.framing {
            Framing::Length(len) => {
                let left = len.saturating_sub(self.body_seen);
                let take = (data.len() as u64).min(left) as usize;
                self.body_seen += take as u64;
                if let Some(v) = self.take_body(&data[..take], needle) {
                    return Some(v);
                }
                if self.body_seen >= len {
                    return Some(self.complete(probe));
                }
                None
            }
            Framing::UntilEof => {
                // A body delimited by the close cannot leave the connection reusable.
                self.reusable = false;
                if self.drain && needle.is_none() {
                    return Some(self.pending.unwrap_or((Reason::Ok, self.status)));
                }
                self.body_seen += data.len() as u64;
                self.take_body(data, needle)
            }
            Framing::Chunked => {
                if self.carry.is_empty() {
                    return self.feed_chunked(data, needle, probe);
                }
                // Join the partial line carried from the last feed.
                let mut joined = std::mem::take(&mut self.carry);
                joined.extend_from_slice(data);
                self.feed_chunked(&joined, needle, probe)
            }
        }
    }

    /// The message ended: the verdict, and whether the connection may be reused.
    fn complete(&mut self, probe: &HttpProbe) -> Verdict {
        self.message_done = true;
        match self.pending {
            Some(v) => v,
            None if probe.body_contains.is_some() => (Reason::Body, self.status),
            None => (Reason::Ok, self.status),
        }
    }

    /// Body bytes: searched while the needle is wanted, counted against the drain limit.
    /// Returns a verdict when one is final before the message ends.
    fn take_body(&mut self, data: &[u8], needle: Option<&[u8]>) -> Option<Verdict> {
        if let Some(needle) = needle {
            match self.append(data, needle) {
                Some((Reason::Ok, s)) if self.drain => self.pending = Some((Reason::Ok, s)),
                Some(v) => {
                    self.reusable = false;
                    return Some(v);
                }
                None => {}
            }
        }
        if self.drain && self.body_seen > KEEPALIVE_DRAIN_BYTES_MAX as u64 {
            // Too much to skip: give the verdict now and close instead of reusing. Without a
            // needle the verdict was the status's (issue 14.4: this used to fail `body`).
            self.reusable = false;
            return Some(match (self.pending, needle) {
                (Some(v), _) => v,
                (None, Some(_)) => (Reason::Body, self.status),
                (None, None) => (Reason::Ok, self.status),
            });
        }
        None
    }

    fn feed_chunked(
        &mut self,
        mut data: &[u8],
        mut needle: Option<&[u8]>,
        probe: &HttpProbe,
    ) -> Option<Verdict> {
        while !data.is_empty() {
            match self.chunk {
                Chunk::Size => match httparse::parse_chunk_size(data) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        data = &data[used..];
                        self.chunk = if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        self.carry.extend_from_slice(data);
                        if self.carry.len() > 1024 {
                            self.reusable = false;
                            return Some((Reason::Protocol, self.status));
                        }
                        return None;
                    }
                    Err(_) => {
                        self.reusable = false;
                        return Some((Reason::Protocol, self.status));
                    }
                },
                Chunk::Data(left) => {
                    let take = (data.len() as u64).min(left) as usize;
                    self.body_seen += take as u64;
                    if let Some(v) = self.take_body(&data[..take], needle) {
                        return Some(v);
                    }
                    if self.pending.is_some() {
                        needle = None;
                    }
                    data = &data[take..];
                    let left = left - take as u64;
                    self.chunk = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                }
                Chunk::DataEnd => {
                    if data.len() < 2 {
                        self.carry.extend_from_slice(data);
                        return None;
                    }
                    if &data[..2] != b"\r\n" {
                        self.reusable = false;
                        return Some((Reason::Protocol, self.status));
                    }
                    data = &data[2..];
                    self.chunk = Chunk::Size;
                }
                Chunk::Trailers => {
                    // Trailer lines until an empty one ends the message.
                    match memchr::memmem::find(data, b"\r\n") {
                        Some(0) => {
                            data = &data[2..];
                            let _ = data;
                            return Some(self.complete(probe));
                        }
                        Some(i) => data = &data[i + 2..],
                        None => {
                            self.carry.extend_from_slice(data);
                            if self.carry.len() > 1024 {
                                self.reusable = false;
                                return Some(self.complete(probe));
                            }
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    /// Adds body bytes to the searched prefix; `Ok` when the needle shows up, `Body` when the
    /// prefix limit is reached without it.
    fn append(&mut self, data: &[u8], needle: &[u8]) -> Option<Verdict> {
        if needle.is_empty() {
            return Some((Reason::Ok, self.status));
        }
        let room = RESPONSE_BODY_BYTES_MAX.saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..data.len().min(room)]);
        let from = self.searched;
        if memchr::memmem::find(&self.body[from..], needle).is_some() {
            return Some((Reason::Ok, self.status));
        }
        self.searched = self.body.len().saturating_sub(needle.len() - 1);
        if self.body.len() >= RESPONSE_BODY_BYTES_MAX {
            return Some((Reason::Body, self.status));
        }
        None
    }

    /// The peer closed the stream. Returns the verdict for what was received.
    pub fn eof(&mut self) -> Verdict {
        self.reusable = false;
        if !self.head_done {
            return (Reason::Protocol, self.status);
        }
        match self.framing {
            Framing::UntilEof => self.pending.unwrap_or((Reason::Body, self.status)),
            // Closed before the announced length or the last chunk: truncated.
            Framing::Length(_) | Framing::Chunked => (Reason::Protocol, self.status),
        }
    }

    /// After a verdict: may the connection carry another request? Only with keep-alive, a
    /// complete message with known framing, and no `Connection: close` from the server.
    pub fn reusable(&self) -> bool {
        self.drain && self.reusable && self.message_done
    }

    /// Were any response bytes seen? (A reused connection that fails before any is retried
    /// once on a fresh one.)
    pub fn saw_bytes(&self) -> bool {
        self.status != 0 || self.head_bytes > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::StatusRange;

    fn probe(body_contains: Option<&str>) -> HttpProbe {
        HttpProbe {
            method: "GET".into(),
            header_block: "Authorization: Bearer x\r\n".into(),
            sets_host: false,
            sets_user_agent: false,
            body: Box::new([]),
            expected: Box::new([StatusRange { lo: 200, hi: 299 }]),
            body_contains: body_contains.map(|s| s.as_bytes().into()),
            max_response_time_us: 0,
            retries: 0,
            tls: None,
            keepalive: false,
            follow_redirects: 0,
        }
    }

    /// Feeds `resp` split at every possible point, as a loop would, and returns the verdict.
    fn judge_split(resp: &[u8], p: &HttpProbe, split: usize) -> Verdict {
        let mut ex = Exchange::new();
        let mut head = Vec::new();
        let parts: Vec<&[u8]> = if split == 0 || split >= resp.len() {
            vec![resp]
        } else {
            vec![&resp[..split], &resp[split..]]
        };
        for part in parts {
            if !ex.head_done() {
                head.extend_from_slice(part);
                let off = ex.head_offset();
                if let Some(v) = ex.feed_head(&head[off..], p) {
                    return v;
                }
            } else if let Some(v) = ex.feed_body(part, p) {
                return v;
            }
        }
        ex.eof()
    }

    fn judge_all_splits(resp: &[u8], p: &HttpProbe) -> Verdict {
        let v = judge_split(resp, p, 0);
        for s in 1..resp.len() {
            assert_eq!(judge_split(resp, p, s), v, "split at {s}");
        }
        v
    }

    #[test]
    fn renders_request_with_headers_sent() {
        let mut out = Vec::new();
        render_request(&mut out, &probe(None), "10.0.0.7:8080", "/health?x=1");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("GET /health?x=1 HTTP/1.1\r\nHost: 10.0.0.7:8080\r\n"));
        assert!(s.contains("Authorization: Bearer x\r\n"));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn status_verdicts() {
        let p = probe(None);
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &p),
            (Reason::Ok, 200)
        );
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 500 Oops\r\n\r\n", &p),
            (Reason::Status, 500)
        );
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n", &p),
            (Reason::Ok, 204)
        );
    }

    #[test]
    fn garbage_and_truncation_are_protocol() {
        let p = probe(None);
        assert_eq!(
            judge_all_splits(b"\x00\xffgarbage\r\n\r\n", &p).0,
            Reason::Protocol
        );
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 200 OK\r\nX: y", &p).0,
            Reason::Protocol
        );
        assert_eq!(judge_all_splits(b"", &p).0, Reason::Protocol);
    }

    #[test]
    fn endless_headers_are_cut_off() {
        let p = probe(None);
        let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
        while resp.len() < RESPONSE_HEADER_BYTES_MAX + 100 {
            resp.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut ex = Exchange::new();
        assert_eq!(ex.feed_head(&resp, &p), Some((Reason::Protocol, 0)));
    }

    #[test]
    fn body_contains_with_length_chunked_and_eof() {
        let p = probe(Some("\"status\":\"ok\""));
        assert_eq!(
            judge_all_splits(
                b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}",
                &p
            ),
            (Reason::Ok, 200)
        );
        assert_eq!(
            judge_all_splits(
                b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"no\"}",
                &p
            ),
            (Reason::Body, 200)
        );
        assert_eq!(
            judge_all_splits(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"sta\r\na;x=1\r\ntus\":\"ok\"}\r\n0\r\n\r\n",
                &p
            ),
            (Reason::Ok, 200)
        );
        assert_eq!(
            judge_all_splits(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                &p
            ),
            (Reason::Body, 200)
        );
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 200 OK\r\n\r\nxx\"status\":\"ok\"yy", &p),
            (Reason::Ok, 200)
        );
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 200 OK\r\n\r\nnothing here", &p),
            (Reason::Body, 200)
        );
        // Truncated before the announced length.
        assert_eq!(
            judge_all_splits(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nabc", &p),
            (Reason::Protocol, 200)
        );
    }

    #[test]
    fn huge_body_stops_at_the_limit() {
        let p = probe(Some("needle"));
        let mut ex = Exchange::new();
        assert_eq!(
            ex.feed_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
                &p
            ),
            None
        );
        let block = vec![b'a'; 64 * 1024];
        let mut fed = 0;
        let v = loop {
            if let Some(v) = ex.feed_body(&block, &p) {
                break v;
            }
            fed += block.len();
            assert!(fed <= RESPONSE_BODY_BYTES_MAX);
        };
        assert_eq!(v, (Reason::Body, 200));
        assert!(ex.body.capacity() <= RESPONSE_BODY_BYTES_MAX + block.len());
    }

    /// Keep-alive: every response is read to its end before the verdict, and the connection is
    /// reusable only when framing is known and the server did not say close.
    #[test]
    fn keepalive_reads_to_the_end() {
        let mut p = probe(None);
        p.keepalive = true;
        let judge = |resp: &[u8], p: &HttpProbe| -> (Option<Verdict>, bool) {
            for split in 1..resp.len() {
                let mut ex = Exchange::new();
                ex.reset_for(true);
                let mut v = ex.feed_head(&resp[..split], p);
                if v.is_none() {
                    if ex.head_done() {
                        v = ex.feed_body(&resp[split..], p);
                    } else {
                        let mut head = resp[..split].to_vec();
                        head.extend_from_slice(&resp[split..]);
                        v = ex.feed_head(&head[ex.head_offset()..], p);
                    }
                }
                let one = {
                    let mut ex1 = Exchange::new();
                    ex1.reset_for(true);
                    (ex1.feed_head(resp, p), ex1.reusable())
                };
                assert_eq!(v, one.0, "split {split}");
                assert_eq!(ex.reusable(), one.1, "split {split}");
            }
            let mut ex = Exchange::new();
            ex.reset_for(true);
            (ex.feed_head(resp, p), ex.reusable())
        };
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &p),
            (Some((Reason::Ok, 200)), true)
        );
        // Not complete yet: no verdict before the body has arrived.
        let mut ex = Exchange::new();
        ex.reset_for(true);
        assert_eq!(
            ex.feed_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", &p),
            None
        );
        assert_eq!(ex.feed_body(b"lo", &p), Some((Reason::Ok, 200)));
        assert!(ex.reusable());
        assert_eq!(
            judge(b"HTTP/1.1 500 No\r\nContent-Length: 3\r\n\r\nbad", &p),
            (Some((Reason::Status, 500)), true)
        );
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", &p),
            (Some((Reason::Ok, 200)), true)
        );
        assert_eq!(
            judge(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                &p
            ),
            (Some((Reason::Ok, 200)), false)
        );
        assert_eq!(
            judge(b"HTTP/1.1 204 No Content\r\n\r\n", &p),
            (Some((Reason::Ok, 204)), true)
        );
        // Until-EOF bodies cannot be reused.
        let mut ex = Exchange::new();
        ex.reset_for(true);
        assert_eq!(
            ex.feed_head(b"HTTP/1.1 200 OK\r\n\r\nabc", &p),
            Some((Reason::Ok, 200))
        );
        assert!(!ex.reusable());
        // With a needle: found early, verdict still waits for the end.
        p.body_contains = Some(b"ell".as_slice().into());
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &p),
            (Some((Reason::Ok, 200)), true)
        );
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld", &p),
            (Some((Reason::Body, 200)), true)
        );
    }

    /// Issue 14.4: a healthy keep-alive answer with a body over the drain limit is `ok`, and
    /// the connection is closed instead of reused (it used to fail `body`).
    #[test]
    fn keepalive_with_a_body_over_the_drain_limit_is_ok_and_not_reused() {
        let mut p = probe(None);
        p.keepalive = true;
        let big = KEEPALIVE_DRAIN_BYTES_MAX + 4096;
        for chunked in [false, true] {
            let mut ex = Exchange::new();
            ex.reset_for(true);
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {big}\r\n\r\n")
            };
            let mut v = ex.feed_head(head.as_bytes(), &p);
            let piece = if chunked {
                let mut c = format!("{:x}\r\n", 4096).into_bytes();
                c.extend_from_slice(&[b'x'; 4096]);
                c.extend_from_slice(b"\r\n");
                c
            } else {
                vec![b'x'; 4096]
            };
            let mut fed = 0;
            while v.is_none() && fed < 2 * big {
                v = ex.feed_body(&piece, &p);
                fed += piece.len();
            }
            assert_eq!(v, Some((Reason::Ok, 200)), "chunked {chunked}");
            assert!(!ex.reusable(), "chunked {chunked}");
        }
        // A failing status keeps its verdict.
        let mut ex = Exchange::new();
        ex.reset_for(true);
        let head = format!("HTTP/1.1 503 Busy\r\nContent-Length: {big}\r\n\r\n");
        let mut v = ex.feed_head(head.as_bytes(), &p);
        while v.is_none() {
            v = ex.feed_body(&[b'x'; 4096], &p);
        }
        assert_eq!(v, Some((Reason::Status, 503)));
    }
}
