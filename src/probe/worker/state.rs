//! A slot of the worker's slab, and the state of the check in it.
//!
//! The slot owns what outlives one check: the request, the attempt count, and buffers kept at
//! their working size (the rendered request, the response head, the HTTP judge), so that a
//! check allocates nothing once the slot has warmed up. The state owns exactly what its step
//! needs: a connecting socket, an HTTP exchange's stream and write position, a TLS session, a
//! DNS socket and judge, an ICMP check. Moving from one state to the next moves the socket; a
//! socket is closed in one place (`Worker::settle`), so its token is always freed with it.
//!
//! Each protocol's state is generic over its I/O (a `Read + Write` stream) and takes the time
//! as an argument, so its file tests it state by state on an in-memory stream, with no network
//! and no clock. A step returns a [`Step`]: the worker alone acts on it (retries, redirects,
//! the keep-alive pool, the completion).

use std::net::IpAddr;

use mio::Token;
use mio::net::TcpStream;

use super::dns::{DnsTcp, DnsUdp};
use super::http::Http;
use super::tls::Tls;
use crate::probe::Request;
use crate::probe::http::Exchange;
use crate::probe::icmp::IcmpCheck;
use crate::store::ProbeKind;
use crate::vocab::Reason;

use super::redirect::Redirect;

/// `Completion::cert_days` when no certificate was seen.
pub const NO_CERT: i32 = i32::MIN;

/// What a state's step decided; the worker carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing decided: wait for the socket to be ready again (or the deadline).
    Wait,
    /// The TCP connection is up.
    Connected,
    /// An HTTP response was judged: a 3xx may be followed, else as `Attempt`.
    Response(Reason, u16),
    /// The attempt ended: `Ok` ends the check, anything else may be retried.
    Attempt(Reason, u16),
    /// The check ends with this verdict, without retries.
    Final(Reason, u16),
    /// A DNS reply over UDP was truncated: the same query over TCP.
    OverTcp,
}

/// An open TCP connection of a check, or idle in the keep-alive pool.
pub(super) struct Conn<S = TcpStream> {
    pub(super) io: S,
    /// Registered with epoll once, under this token, for the connection's whole life.
    pub(super) token: Token,
    /// The target whose keep-alive connection limit this connection counts against.
    pub(super) pooled: Option<u32>,
    /// Taken from the keep-alive pool for this attempt (a server may have dropped it).
    pub(super) reused: bool,
    /// An event said the peer closed or the socket failed: never parked for reuse (the one
    /// edge for it is spent, and a half-closed peer would never send the reset).
    pub(super) peer_closed: bool,
}

impl<S> Conn<S> {
    pub(super) fn new(io: S, token: Token, pooled: Option<u32>) -> Conn<S> {
        Conn {
            io,
            token,
            pooled,
            reused: false,
            peer_closed: false,
        }
    }
}

/// The state of the check in a slot.
pub(super) enum ConnState {
    /// No socket: no check, or a check about to start an attempt.
    Idle,
    /// Waiting for the resolver to name where a redirect leads.
    Resolving,
    /// Keep-alive: every allowed connection to the target is busy; waiting for one.
    PoolWait,
    /// The pause before the next attempt.
    RetryWait,
    /// TCP connect in progress (a tcp check ends here).
    Connecting(Conn),
    /// An HTTP request and its response over plain TCP.
    Http(Http),
    /// A TLS session: the handshake, then an https check's request and response.
    Tls(Box<Tls>),
    /// A DNS query over UDP, waiting for the reply.
    DnsUdp(DnsUdp),
    /// A DNS query over TCP (after a truncated UDP reply).
    DnsTcp(DnsTcp),
    /// ICMP echoes on the worker's shared socket.
    Icmp(Icmp),
}

impl ConnState {
    /// The TCP connection the state holds, if any, to change.
    pub(super) fn conn_mut(&mut self) -> Option<&mut Conn> {
        match self {
            ConnState::Connecting(c) => Some(c),
            ConnState::Http(h) => Some(&mut h.conn),
            ConnState::Tls(t) => Some(&mut t.conn),
            ConnState::DnsTcp(d) => Some(&mut d.conn),
            _ => None,
        }
    }

    /// May the connection carry the next check of its target? Only one counted in the pool,
    /// not closed by the peer, and for TLS a session with nothing left unread.
    pub(super) fn reusable_conn(&self) -> bool {
        match self {
            ConnState::Http(h) => h.conn.pooled.is_some() && !h.conn.peer_closed,
            ConnState::Tls(t) => {
                t.conn.pooled.is_some() && !t.conn.peer_closed && t.session.wants_read()
            }
            _ => false,
        }
    }

    /// The TCP connection the state holds, if any.
    pub(super) fn conn(&self) -> Option<&Conn> {
        match self {
            ConnState::Connecting(c) => Some(c),
            ConnState::Http(h) => Some(&h.conn),
            ConnState::Tls(t) => Some(&t.conn),
            ConnState::DnsTcp(d) => Some(&d.conn),
            _ => None,
        }
    }

    /// The token of the socket the state holds, if any.
    pub(super) fn token(&self) -> Option<Token> {
        match self {
            ConnState::DnsUdp(d) => Some(d.token),
            other => other.conn().map(|c| c.token),
        }
    }
}

/// An ICMP check in flight: its judge and where the echoes go.
pub(super) struct Icmp {
    pub(super) check: IcmpCheck,
    pub(super) dest: IpAddr,
}

/// Buffers a slot keeps from check to check.
pub(super) struct Bufs {
    /// The request to send (HTTP, or a DNS query).
    pub(super) wbuf: Vec<u8>,
    /// The HTTP response head, until complete (bounded).
    pub(super) rbuf: Vec<u8>,
    /// The HTTP judge of the current response.
    pub(super) exchange: Exchange,
}

/// One place in the worker's slab: a check, from `start` to `finish`.
pub(super) struct Slot {
    /// A check is using this slot.
    pub(super) active: bool,
    /// Bumped for every check that uses this slot; timers and ICMP echoes carry it.
    pub(super) check_seq: u32,
    pub(super) req: Request,
    pub(super) kind: ProbeKind,
    pub(super) started_us: u64,
    pub(super) deadline_us: u64,
    pub(super) attempts: u8,
    pub(super) retries_left: u32,
    /// Days to the peer certificate's expiry, `NO_CERT` when none was seen.
    pub(super) cert_days: i32,
    /// The next attempt opens a fresh connection (keep-alive), or asks over TCP (DNS).
    pub(super) force_fresh: bool,
    /// Where a followed redirect leads (the rest of the check goes there).
    pub(super) redirect: Option<Box<Redirect>>,
    pub(super) bufs: Bufs,
    /// The last ICMP check's judge, kept for the slot's next ICMP check.
    pub(super) spare_icmp: Option<IcmpCheck>,
    pub(super) state: ConnState,
}

impl Slot {
    pub(super) fn new() -> Slot {
        Slot {
            active: false,
            check_seq: 0,
            req: Request {
                monitor: 0,
                generation: 0,
                due_us: 0,
                deadline_us: 0,
            },
            kind: ProbeKind::TCP,
            started_us: 0,
            deadline_us: 0,
            attempts: 0,
            retries_left: 0,
            cert_days: NO_CERT,
            force_fresh: false,
            redirect: None,
            bufs: Bufs {
                wbuf: Vec::new(),
                rbuf: Vec::new(),
                exchange: Exchange::new(),
            },
            spare_icmp: None,
            state: ConnState::Idle,
        }
    }

    /// This attempt runs on a connection taken from the keep-alive pool.
    pub(super) fn on_reused_conn(&self) -> bool {
        self.state.conn().is_some_and(|c| c.reused)
    }
}
