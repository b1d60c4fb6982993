//! The two loops every stream protocol shares: writing a request out over a non-blocking
//! stream, and reading a response into the HTTP judge. Written once, over `Read`/`Write`, so
//! plain TCP and a TLS session's plaintext go through the same code.

use std::io::{self, Read, Write};

use super::state::Bufs;
use crate::limits::RESPONSE_HEADER_BYTES_MAX;
use crate::probe::http::{Exchange, Verdict};
use crate::store::HttpProbe;
use crate::vocab::Reason;

/// Maps a socket error to a check reason.
pub(super) fn io_reason(e: &io::Error) -> Reason {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Reason::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Reason::Reset,
        io::ErrorKind::TimedOut => Reason::Timeout,
        // Our side ran out of something (ports, descriptors, buffers): not the target's fault.
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::OutOfMemory => Reason::Local,
        _ => match e.raw_os_error() {
            Some(nix::libc::EMFILE) | Some(nix::libc::ENFILE) | Some(nix::libc::ENOBUFS) => {
                Reason::Local
            }
            _ => Reason::Connect,
        },
    }
}

/// Writes `buf[*pos..]` until done or the stream would block. `Ok(true)` once all is written.
pub(super) fn write_pending<W: Write>(
    io: &mut W,
    buf: &[u8],
    pos: &mut usize,
) -> Result<bool, Reason> {
    while *pos < buf.len() {
        match io.write(&buf[*pos..]) {
            Ok(0) => return Err(Reason::Reset),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_reason(&e)),
        }
    }
    Ok(true)
}

/// How a read of the response stopped.
#[derive(Debug)]
pub(super) enum ReadEnd {
    /// The judge decided.
    Verdict(Verdict),
    /// Nothing more to read now.
    WouldBlock,
    /// The peer closed the stream.
    Eof,
    /// The stream failed.
    Error(io::Error),
}

/// Reads what `r` has and feeds it to the judge, until a verdict, end of stream, an error, or
/// nothing more for now. `scratch` is the worker's read buffer.
pub(super) fn read_judged<R: Read>(
    r: &mut R,
    scratch: &mut [u8],
    bufs: &mut Bufs,
    probe: &HttpProbe,
) -> ReadEnd {
    loop {
        match r.read(scratch) {
            Ok(0) => return ReadEnd::Eof,
            Ok(n) => {
                if let Some(v) =
                    feed_response(&mut bufs.rbuf, &mut bufs.exchange, &scratch[..n], probe)
                {
                    return ReadEnd::Verdict(v);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEnd::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return ReadEnd::Error(e),
        }
    }
}

/// Feeds response bytes (plaintext) to the judge: into the head buffer until the head is
/// complete (bounded), straight to the body after that.
fn feed_response(
    rbuf: &mut Vec<u8>,
    exchange: &mut Exchange,
    data: &[u8],
    probe: &HttpProbe,
) -> Option<Verdict> {
    if exchange.head_done() {
        return exchange.feed_body(data, probe);
    }
    let room = (RESPONSE_HEADER_BYTES_MAX + 1).saturating_sub(rbuf.len());
    rbuf.extend_from_slice(&data[..data.len().min(room)]);
    let off = exchange.head_offset().min(rbuf.len());
    exchange.feed_head(&rbuf[off..], probe)
}

/// An in-memory stream for the state tests: reads what the test queued (then would block,
/// or ends, or fails), and takes writes up to a room the test sets.
#[cfg(test)]
pub(super) mod pipe {
    use std::collections::VecDeque;
    use std::io::{self, Read, Write};

    #[derive(Default)]
    pub(in super::super) struct Pipe {
        /// Bytes the peer sent, read in chunks of at most `chunk` (0 = any size).
        pub(in super::super) input: VecDeque<u8>,
        pub(in super::super) chunk: usize,
        /// After `input`: end of stream.
        pub(in super::super) eof: bool,
        /// After `input`: this error.
        pub(in super::super) fail: Option<io::ErrorKind>,
        /// Bytes written, and how many more the stream takes before it would block.
        pub(in super::super) out: Vec<u8>,
        pub(in super::super) room: usize,
        /// Every write fails with this.
        pub(in super::super) wfail: Option<io::ErrorKind>,
    }

    impl Pipe {
        /// A stream that takes any write and has nothing to read yet.
        pub(in super::super) fn open() -> Pipe {
            Pipe {
                room: usize::MAX,
                ..Pipe::default()
            }
        }

        pub(in super::super) fn feed(&mut self, bytes: &[u8]) {
            self.input.extend(bytes);
        }
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return match (self.eof, self.fail) {
                    (_, Some(kind)) => Err(kind.into()),
                    (true, None) => Ok(0),
                    (false, None) => Err(io::ErrorKind::WouldBlock.into()),
                };
            }
            let mut n = buf.len().min(self.input.len());
            if self.chunk > 0 {
                n = n.min(self.chunk);
            }
            for (b, x) in buf.iter_mut().zip(self.input.drain(..n)) {
                *b = x;
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(kind) = self.wfail {
                return Err(kind.into());
            }
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.out.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
