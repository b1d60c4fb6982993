//! HTTP over plain TCP: the `Http` state writes the rendered request, then reads the response
//! into the judge (`probe::http::Exchange`). Redirects and retries are the worker's: this
//! state only says what the response was.

use std::io::{Read, Write};

use mio::net::TcpStream;

use super::state::{Bufs, Conn, Step};
use super::stream::{ReadEnd, io_reason, read_judged, write_pending};
use crate::store::HttpProbe;

/// An HTTP exchange on a connected stream.
pub(super) struct Http<S = TcpStream> {
    pub(super) conn: Conn<S>,
    /// Bytes of the request already written.
    pub(super) wpos: usize,
}

impl<S: Read + Write> Http<S> {
    /// A new exchange on `conn`; the request is `bufs.wbuf`.
    pub(super) fn new(conn: Conn<S>) -> Http<S> {
        Http { conn, wpos: 0 }
    }

    /// A kept-alive connection takes the next check: the request goes out, and nothing is
    /// read (the idle socket had nothing to read; the response comes with an event of its own).
    pub(super) fn reuse(&mut self, bufs: &Bufs) -> Step {
        match write_pending(&mut self.conn.io, &bufs.wbuf, &mut self.wpos) {
            Ok(_) => Step::Wait,
            Err(r) => Step::Attempt(r, 0),
        }
    }

    /// Writes what is left of the request, then reads and judges what the response has so far.
    /// Called when the exchange starts and on every socket event (edge-triggered: the response
    /// may already be waiting, so a finished write always goes on to read).
    pub(super) fn advance(
        &mut self,
        bufs: &mut Bufs,
        probe: &HttpProbe,
        scratch: &mut [u8],
    ) -> Step {
        match write_pending(&mut self.conn.io, &bufs.wbuf, &mut self.wpos) {
            Ok(true) => {}
            Ok(false) => return Step::Wait,
            Err(r) => return Step::Attempt(r, 0),
        }
        match read_judged(&mut self.conn.io, scratch, bufs, probe) {
            ReadEnd::Verdict((r, s)) => Step::Response(r, s),
            ReadEnd::WouldBlock => Step::Wait,
            ReadEnd::Eof => {
                let (r, s) = bufs.exchange.eof();
                Step::Response(r, s)
            }
            ReadEnd::Error(e) => Step::Attempt(io_reason(&e), bufs.exchange.status()),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::ErrorKind;

    use super::super::state::Slot;
    use super::super::stream::pipe::Pipe;
    use super::*;
    use crate::config::model::StatusRange;
    use crate::probe::http::{Exchange, render_request};
    use crate::vocab::Reason;

    pub(in super::super) fn probe() -> HttpProbe {
        HttpProbe {
            method: "GET".into(),
            header_block: "".into(),
            sets_host: false,
            sets_user_agent: false,
            body: Box::new([]),
            expected: vec![StatusRange { lo: 200, hi: 299 }].into(),
            body_contains: None,
            max_response_time_us: 0,
            retries: 0,
            tls: None,
            keepalive: false,
            follow_redirects: 0,
        }
    }

    pub(in super::super) fn bufs_for(probe: &HttpProbe, keepalive: bool) -> Bufs {
        let mut bufs = Slot::new().bufs;
        render_request(&mut bufs.wbuf, probe, "t.example", "/health");
        bufs.exchange = Exchange::new();
        bufs.exchange.reset_for(keepalive);
        bufs
    }

    fn http(pipe: Pipe) -> Http<Pipe> {
        Http::new(Conn::new(pipe, mio::Token(0), None))
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    #[test]
    fn writing_a_request_the_stream_takes_in_pieces() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe {
            room: 5,
            ..Pipe::open()
        });
        let mut scratch = [0u8; 64];
        assert_eq!(h.advance(&mut bufs, &p, &mut scratch), Step::Wait);
        assert_eq!(h.wpos, 5);
        h.conn.io.room = usize::MAX;
        assert_eq!(h.advance(&mut bufs, &p, &mut scratch), Step::Wait);
        assert_eq!(h.conn.io.out, bufs.wbuf, "the whole request, once");
    }

    #[test]
    fn reading_a_response_that_comes_in_pieces() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe::open());
        let mut scratch = [0u8; 64];
        h.conn.io.feed(&OK[..10]);
        assert_eq!(h.advance(&mut bufs, &p, &mut scratch), Step::Wait);
        h.conn.io.feed(&OK[10..]);
        h.conn.io.chunk = 3;
        assert_eq!(
            h.advance(&mut bufs, &p, &mut scratch),
            Step::Response(Reason::Ok, 200)
        );
    }

    #[test]
    fn a_status_outside_the_expected_range_is_judged_so() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe::open());
        h.conn
            .io
            .feed(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
        let step = h.advance(&mut bufs, &p, &mut [0u8; 64]);
        assert_eq!(step, Step::Response(Reason::Status, 503));
    }

    #[test]
    fn end_of_stream_before_a_head_is_judged_by_the_exchange() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe {
            eof: true,
            ..Pipe::open()
        });
        h.conn.io.feed(b"HTTP/1.1 20");
        let step = h.advance(&mut bufs, &p, &mut [0u8; 64]);
        assert_eq!(step, Step::Response(Reason::Protocol, 0));
        assert!(!bufs.exchange.reusable());
    }

    #[test]
    fn a_reset_while_reading_ends_the_attempt_with_the_status_so_far() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe {
            fail: Some(ErrorKind::ConnectionReset),
            ..Pipe::open()
        });
        let step = h.advance(&mut bufs, &p, &mut [0u8; 64]);
        assert_eq!(step, Step::Attempt(Reason::Reset, 0));
    }

    #[test]
    fn a_refused_write_ends_the_attempt() {
        let p = probe();
        let mut bufs = bufs_for(&p, false);
        let mut h = http(Pipe {
            wfail: Some(ErrorKind::BrokenPipe),
            ..Pipe::open()
        });
        let step = h.advance(&mut bufs, &p, &mut [0u8; 64]);
        assert_eq!(step, Step::Attempt(Reason::Reset, 0));
    }

    #[test]
    fn a_kept_alive_connection_writes_the_next_request_and_reads_nothing() {
        let p = probe();
        let bufs = bufs_for(&p, true);
        let mut h = http(Pipe {
            // A read would fail the attempt: reuse must not read.
            fail: Some(ErrorKind::ConnectionReset),
            ..Pipe::open()
        });
        assert_eq!(h.reuse(&bufs), Step::Wait);
        assert_eq!(h.conn.io.out, bufs.wbuf);
        let mut broken = http(Pipe {
            wfail: Some(ErrorKind::BrokenPipe),
            ..Pipe::open()
        });
        assert_eq!(broken.reuse(&bufs), Step::Attempt(Reason::Reset, 0));
    }

    #[test]
    fn keep_alive_reads_the_body_to_its_end_and_leaves_the_connection_reusable() {
        let p = HttpProbe {
            keepalive: true,
            ..probe()
        };
        let mut bufs = bufs_for(&p, true);
        let mut h = http(Pipe::open());
        h.conn.io.feed(&OK[..OK.len() - 1]);
        assert_eq!(h.advance(&mut bufs, &p, &mut [0u8; 64]), Step::Wait);
        h.conn.io.feed(&OK[OK.len() - 1..]);
        assert_eq!(
            h.advance(&mut bufs, &p, &mut [0u8; 64]),
            Step::Response(Reason::Ok, 200)
        );
        assert!(bufs.exchange.reusable(), "the whole message was read");
        assert!(h.conn.io.input.is_empty());
    }
}
