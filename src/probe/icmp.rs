//! ICMP echo (ping) for health checks: socket opening, request encoding, reply matching and the
//! per-check verdict, with no I/O beyond two explicit send/receive helpers.
//!
//! # One shared socket per worker and address family
//!
//! A worker opens one ICMP socket for IPv4 and, where the host has IPv6, one for IPv6 ([`open`]),
//! and runs every ICMP check of that family through it. Not one socket per check: a raw ICMP
//! socket receives a copy of *every* echo reply that reaches the host, so `n` per-check raw
//! sockets would cost `n²` packet copies and wake-ups. With one socket per worker a reply is
//! copied once per worker (a handful), and many monitors pinging one host do not serialize: each
//! request gets its own sequence number and is in flight at the same time as all the others.
//!
//! [`open`] prefers an unprivileged datagram ICMP socket (`SOCK_DGRAM`, allowed where the
//! process's group is in `net.ipv4.ping_group_range`; the kernel then sets the identifier to the
//! socket's local "port" and delivers only our replies, without the IP header) and falls back
//! to a raw socket (`SOCK_RAW`, root or `CAP_NET_RAW`; IPv4 raw sockets deliver the IP header
//! first). Raw sockets get a kernel filter so that only echo replies wake the worker. When both
//! kinds are refused for lack of privilege, [`open_failure_verdict`] decides what the checks
//! report: success with `ignore_privilege` (as the Go original does), else `local`.
//!
//! # Matching replies to checks
//!
//! [`Pinger`] owns the socket's identifier, a wrapping 16-bit sequence counter and a bounded
//! table of outstanding requests: sequence → (check token, serial, send time, destination). A
//! reply is accepted only if it is an echo reply (type 0 for IPv4, 129 for IPv6, code 0), its
//! identifier is ours, its sequence is outstanding, it comes from that request's destination,
//! and its payload echoes ours: a per-process random cookie (other processes' pings, even with
//! a colliding identifier, never match) and the request's 64-bit serial (a reply to a forgotten
//! request never matches a later request that reuses its sequence number after a wrap). IPv4
//! checksums are verified (raw sockets see packets before the kernel checks them); IPv6 ones
//! are the kernel's business (they cover a pseudo-header with our own address). Anything else
//! is ignored, never a panic: the parser reads packet bytes only through bounds-checked access.
//!
//! # One check
//!
//! [`IcmpCheck`] is a check's own state, also I/O-free. It sends `count` echo requests spaced by
//! at most [`ICMP_SEND_INTERVAL_MS_MAX`], all within the first half of an attempt's time (the
//! timeout split evenly between `retries + 1` attempts). A later attempt only adds requests:
//! replies to earlier ones still count until the check ends. Verdict: `ok` if any request was
//! answered, else `icmp_loss`; loss and mean round-trip time are reported either way.
//!
//! # Driving it from a worker
//!
//! ```text
//! start:     check.restart(count, retries, now, timeout)
//! on a step: match check.step(now) {
//!              Step::Send => match pinger.encode_echo(&mut buf, token, dest, now) {
//!                  Some(seq) => match send_echo(&socket, &buf, dest) {
//!                      Ok(()) => check.on_sent(seq),
//!                      Err(e) => { pinger.forget(seq); check.on_not_sent(reason_of(e)) }
//!                  },
//!                  None => check.on_not_sent(Reason::Local), // table full
//!              },
//!              Step::WaitUntil(t) => set a timer at t,
//!              Step::Done => finish with check.verdict(),
//!            }
//! readable:  loop recv_packet(..) until WouldBlock (edge-triggered), for each packet
//!            pinger.on_packet(..) → Reply { token, seq, rtt } → that check's on_reply(seq, rtt),
//!            then step it (it may be done).
//! finish:    for seq in check.outstanding() { pinger.forget(seq) }
//! ```

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use nix::libc;
use rustc_hash::FxHashMap;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::limits::{
    ICMP_COUNT_MAX, ICMP_OUTSTANDING_PER_SOCKET_MAX, ICMP_PACKETS_PER_CHECK_MAX,
    ICMP_PAYLOAD_BYTES, ICMP_SEND_INTERVAL_MS_MAX, ICMP_SOCKET_RECV_BUFFER_BYTES, INTERVAL_MS_MAX,
};
use crate::vocab::Reason;

/// Type, code, checksum, identifier, sequence.
pub const ICMP_HEADER_BYTES: usize = 8;
/// One echo request or reply as cpra sends them.
pub const ECHO_BYTES: usize = ICMP_HEADER_BYTES + ICMP_PAYLOAD_BYTES;

const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const IPV4_HEADER_MIN_BYTES: usize = 20;
const IPPROTO_ICMP: u8 = 1;

/// Which kind of ICMP socket [`open`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` ("ping socket"): unprivileged, the kernel sets the identifier and delivers
    /// only this socket's replies, ICMP header first.
    Dgram,
    /// `SOCK_RAW`: root or `CAP_NET_RAW`; every ICMP packet of the family, IPv4 with its IP
    /// header first.
    Raw,
}

/// Why [`open`] got no socket.
#[derive(Debug)]
pub enum OpenError {
    /// Both socket kinds were refused for lack of privilege (EPERM or EACCES).
    NoPermission { dgram: io::Error, raw: io::Error },
    /// Anything else: no IPv6 on this host, out of file descriptors, ...
    Other(io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NoPermission { dgram, raw } => write!(
                f,
                "no permission to open an ICMP socket (datagram: {dgram}; raw: {raw}): datagram \
                 ICMP needs the process's group in net.ipv4.ping_group_range, raw ICMP needs \
                 root or CAP_NET_RAW"
            ),
            OpenError::Other(e) => write!(f, "cannot open an ICMP socket: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// Opens a non-blocking ICMP (`v6`: ICMPv6) socket: datagram if the kernel allows it, else raw.
///
/// A datagram socket is bound at once so that the kernel assigns its identifier, which
/// [`identifier_for`] reads back. A raw socket gets a kernel filter passing only echo replies
/// (best effort). Both ask for [`ICMP_SOCKET_RECV_BUFFER_BYTES`] of receive buffer (best effort).
pub fn open(v6: bool) -> Result<(Socket, SocketKind), OpenError> {
    let dgram = match open_kind(v6, SocketKind::Dgram) {
        Ok(s) => return Ok((s, SocketKind::Dgram)),
        Err(e) => e,
    };
    match open_kind(v6, SocketKind::Raw) {
        Ok(s) => Ok((s, SocketKind::Raw)),
        Err(raw) if is_permission(&dgram) && is_permission(&raw) => {
            Err(OpenError::NoPermission { dgram, raw })
        }
        // Report the error that is not about permission: that is the one to fix.
        Err(raw) if is_permission(&raw) => Err(OpenError::Other(dgram)),
        Err(raw) => Err(OpenError::Other(raw)),
    }
}

fn open_kind(v6: bool, kind: SocketKind) -> io::Result<Socket> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let ty = match kind {
        SocketKind::Dgram => Type::DGRAM,
        SocketKind::Raw => Type::RAW,
    };
    let socket = Socket::new(domain, ty, Some(protocol))?;
    socket.set_nonblocking(true)?;
    match kind {
        SocketKind::Dgram => {
            let any = if v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            };
            socket.bind(&SockAddr::from(SocketAddr::new(any, 0)))?;
        }
        SocketKind::Raw => {
            // Only a wake-up saver: without it, other ICMP traffic is read and ignored.
            let _ = pass_only_echo_replies(&socket, v6);
        }
    }
    let _ = socket.set_recv_buffer_size(ICMP_SOCKET_RECV_BUFFER_BYTES);
    Ok(socket)
}

/// Installs the Linux raw-socket ICMP filter (`ICMP_FILTER`, `ICMPV6_FILTER`): a set bit blocks
/// that type; everything but echo replies is blocked.
#[cfg(target_os = "linux")]
fn pass_only_echo_replies(socket: &Socket, v6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// `<linux/icmp.h>`, level `SOL_RAW`.
    const ICMP_FILTER: libc::c_int = 1;
    /// `<linux/icmpv6.h>`, level `IPPROTO_ICMPV6`.
    const ICMPV6_FILTER: libc::c_int = 1;
    let fd = socket.as_raw_fd();
    let rc = if v6 {
        let mut filter = [u32::MAX; 8];
        filter[usize::from(ECHO_REPLY_V6 >> 5)] &= !(1u32 << (ECHO_REPLY_V6 & 31));
        // SAFETY: `fd` is a live socket owned by `socket`; the option value points to
        // `size_of_val(&filter)` initialised bytes that outlive the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_ICMPV6,
                ICMPV6_FILTER,
                filter.as_ptr().cast(),
                size_of_val(&filter) as libc::socklen_t,
            )
        }
    } else {
        let mask: u32 = !(1u32 << ECHO_REPLY_V4);
        // SAFETY: as above, with a 4-byte value.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_RAW,
                ICMP_FILTER,
                (&raw const mask).cast(),
                size_of_val(&mask) as libc::socklen_t,
            )
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn pass_only_echo_replies(_socket: &Socket, _v6: bool) -> io::Result<()> {
    Ok(())
}

/// The identifier a raw socket of worker `worker_index` in process `pid` uses. Distinct for
/// the workers of one process (a raw socket sees the other workers' replies too), and varying
/// with the process so that two cpra processes on one host are unlikely to share one (the
/// payload cookie tells them apart anyway).
pub fn raw_identifier(pid: u32, worker_index: usize) -> u16 {
    let base = (pid ^ (pid >> 16)) as u16;
    base.wrapping_add(worker_index as u16)
}

/// The identifier replies on `socket` carry: for a datagram socket the one the kernel assigned
/// (its local port), for a raw one [`raw_identifier`] of this process and worker.
pub fn identifier_for(socket: &Socket, kind: SocketKind, worker_index: usize) -> io::Result<u16> {
    match kind {
        SocketKind::Raw => Ok(raw_identifier(std::process::id(), worker_index)),
        SocketKind::Dgram => socket
            .local_addr()?
            .as_socket()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("ICMP socket has no IP address")),
    }
}

/// The verdict for a check whose family's ICMP socket could not be opened.
///
/// Decision: without privilege the target was never asked, so its health is unknown. By default
/// that is `local` ("cpra could not run the check": the lifecycle neither fails nor recovers the
/// monitor on it, so a missing capability never opens incidents against healthy hosts), and the
/// message says what to change; the worker should print it once, not per check. With
/// `ignore_privilege: true` it is `ok`, as SPEC asks (the Go original's behaviour). Any other
/// failure to open (no IPv6 on this host, no file descriptors) is `local` too.
pub fn open_failure_verdict(err: &OpenError, ignore_privilege: bool) -> (Reason, &'static str) {
    match err {
        OpenError::NoPermission { .. } if ignore_privilege => (
            Reason::Ok,
            "no permission to send ICMP; counted as success because of ignore_privilege",
        ),
        OpenError::NoPermission { .. } => (
            Reason::Local,
            "cpra lacks the privilege to ping: datagram ICMP sockets need the process's group in \
             net.ipv4.ping_group_range, raw ones root or CAP_NET_RAW (or set ignore_privilege)",
        ),
        OpenError::Other(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => (
            Reason::Local,
            "this host cannot open IPv6 ICMP sockets (no IPv6)",
        ),
        OpenError::Other(_) => (Reason::Local, "cpra could not open an ICMP socket"),
    }
}

/// Sends one encoded echo request to `dest`.
pub fn send_echo(socket: &Socket, packet: &[u8], dest: IpAddr) -> io::Result<()> {
    let n = socket.send_to(packet, &SockAddr::from(SocketAddr::new(dest, 0)))?;
    if n == packet.len() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short ICMP send"))
    }
}

/// Receives one packet into `buf` (cut at its length), returning its length and source.
pub fn recv_packet(socket: &Socket, buf: &mut [u8]) -> io::Result<(usize, IpAddr)> {
    // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and `recv_from` only writes
    // initialised bytes into the buffer, so `buf` stays initialised.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let (n, from) = socket.recv_from(uninit)?;
    let ip = from
        .as_socket()
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "ICMP from a non-IP address"))?;
    Ok((n.min(buf.len()), ip))
}

/// The Internet checksum (RFC 1071) of `data`. Over a packet that carries a correct checksum
/// it is 0.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    token: u64,
    serial: u64,
    sent: Instant,
    dest: IpAddr,
}

/// A reply matched to its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The check token given to [`Pinger::encode_echo`].
    pub token: u64,
    pub seq: u16,
    pub rtt: Duration,
}

/// Encodes echo requests and matches replies for one shared ICMP socket. See the module doc.
#[derive(Debug)]
pub struct Pinger {
    v6: bool,
    kind: SocketKind,
    identifier: u16,
    cookie: [u8; 8],
    next_seq: u16,
    next_serial: u64,
    table: FxHashMap<u16, Outstanding>,
    capacity: usize,
}

impl Pinger {
    /// A matcher for a socket of family `v6` and `kind` whose replies carry `identifier`;
    /// `cookie` goes into every payload (use a random one: [`Pinger::for_socket`] does).
    pub fn new(v6: bool, kind: SocketKind, identifier: u16, cookie: u64) -> Pinger {
        Pinger {
            v6,
            kind,
            identifier,
            cookie: cookie.to_be_bytes(),
            next_seq: 0,
            next_serial: 0,
            table: FxHashMap::default(),
            capacity: ICMP_OUTSTANDING_PER_SOCKET_MAX,
        }
    }

    /// A matcher for `socket` as [`open`] returned it, in worker `worker_index`, with a cookie
    /// random per process.
    pub fn for_socket(
        socket: &Socket,
        v6: bool,
        kind: SocketKind,
        worker_index: usize,
    ) -> io::Result<Pinger> {
        let identifier = identifier_for(socket, kind, worker_index)?;
        let cookie = RandomState::new().hash_one((std::process::id(), worker_index, v6));
        Ok(Pinger::new(v6, kind, identifier, cookie))
    }

    /// Lowers the bound on outstanding requests (never above
    /// [`ICMP_OUTSTANDING_PER_SOCKET_MAX`]); at least 1.
    pub fn with_capacity(mut self, capacity: usize) -> Pinger {
        self.capacity = capacity.clamp(1, ICMP_OUTSTANDING_PER_SOCKET_MAX);
        self
    }

    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    pub fn is_v6(&self) -> bool {
        self.v6
    }

    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Requests sent and neither answered nor forgotten.
    pub fn outstanding(&self) -> usize {
        self.table.len()
    }

    /// Writes an echo request for check `token` to `dest` into `out` (cleared first) and
    /// records it as outstanding. Returns its sequence number, or `None` (nothing written) when
    /// [`ICMP_OUTSTANDING_PER_SOCKET_MAX`] requests are outstanding or `dest` is of the other
    /// address family.
    pub fn encode_echo(
        &mut self,
        out: &mut Vec<u8>,
        token: u64,
        dest: IpAddr,
        now: Instant,
    ) -> Option<u16> {
        out.clear();
        if dest.is_ipv6() != self.v6 || self.table.len() >= self.capacity {
            return None;
        }
        // Skip sequence numbers still in use (a request outstanding across a wrap). Ends: the
        // table holds fewer than 65,536 entries.
        let mut seq = self.next_seq;
        while self.table.contains_key(&seq) {
            seq = seq.wrapping_add(1);
        }
        self.next_seq = seq.wrapping_add(1);
        let serial = self.next_serial;
        self.next_serial = serial.wrapping_add(1);

        out.push(if self.v6 {
            ECHO_REQUEST_V6
        } else {
            ECHO_REQUEST_V4
        });
        out.push(0); // code
        out.extend_from_slice(&[0, 0]); // checksum
        out.extend_from_slice(&self.identifier.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.cookie);
        out.extend_from_slice(&serial.to_be_bytes());
        if !self.v6 {
            // ICMPv6 checksums cover a pseudo-header; the kernel fills them in.
            let sum = checksum(out);
            out[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        self.table.insert(
            seq,
            Outstanding {
                token,
                serial,
                sent: now,
                dest,
            },
        );
        Some(seq)
    }

    /// Judges one received packet from `from`: if it answers an outstanding request of ours,
    /// that request is removed and its check token and round-trip time returned. Everything
    /// else (other ICMP types, other processes' pings, duplicates, garbage, truncated packets)
    /// is `None`.
    pub fn on_packet(&mut self, packet: &[u8], from: IpAddr, now: Instant) -> Option<Reply> {
        let icmp = self.icmp_part(packet)?;
        let echo = icmp.get(..ECHO_BYTES)?;
        let reply_type = if self.v6 {
            ECHO_REPLY_V6
        } else {
            ECHO_REPLY_V4
        };
        if echo.first() != Some(&reply_type) || echo.get(1) != Some(&0) {
            return None;
        }
        if !self.v6 && checksum(icmp) != 0 {
            return None;
        }
        if be16(echo, 4)? != self.identifier {
            return None;
        }
        let seq = be16(echo, 6)?;
        let entry = self.table.get(&seq)?;
        let payload = echo.get(ICMP_HEADER_BYTES..)?;
        let serial = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
        if entry.dest != from || payload.get(..8)? != self.cookie || serial != entry.serial {
            return None;
        }
        let entry = self.table.remove(&seq)?;
        Some(Reply {
            token: entry.token,
            seq,
            rtt: now.saturating_duration_since(entry.sent),
        })
    }

    /// The ICMP message inside a received packet: raw IPv4 sockets deliver the IP header first.
    fn icmp_part<'a>(&self, packet: &'a [u8]) -> Option<&'a [u8]> {
        if self.v6 || self.kind == SocketKind::Dgram {
            return Some(packet);
        }
        let first = *packet.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < IPV4_HEADER_MIN_BYTES || packet.get(9) != Some(&IPPROTO_ICMP) {
            return None;
        }
        packet.get(ihl..)
    }

    /// Stops waiting for the reply to `seq` (its check ended); a late reply is then ignored.
    /// Returns whether it was outstanding.
    pub fn forget(&mut self, seq: u16) -> bool {
        self.table.remove(&seq).is_some()
    }

    /// Forgets every request sent before `before` (a safety net for requests whose check was
    /// never [`forget`](Self::forget)-ed); returns how many. Walks the whole table.
    pub fn expire(&mut self, before: Instant) -> usize {
        let n = self.table.len();
        self.table.retain(|_, o| o.sent >= before);
        n - self.table.len()
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// What a check wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the next echo request now, then report it with [`IcmpCheck::on_sent`] or
    /// [`IcmpCheck::on_not_sent`] and step again.
    Send,
    /// Nothing to do before this time (or a reply).
    WaitUntil(Instant),
    /// Finished: take [`IcmpCheck::verdict`].
    Done,
}

/// One ICMP check's state, I/O-free. See the module doc.
#[derive(Debug, Clone)]
pub struct IcmpCheck {
    count: u32,
    attempts_max: u32,
    end: Instant,
    window: Duration,
    interval: Duration,
    /// Current attempt, from 0.
    attempt: u32,
    attempt_start: Instant,
    /// Requests of the current attempt sent or given up on.
    tried_in_attempt: u32,
    /// Requests sent or given up on, over the check.
    tried: u32,
    sent: u32,
    received: u32,
    /// Why the first request that could not be sent was not.
    not_sent_reason: Option<Reason>,
    rtt_sum_us: u64,
    rtt_min_us: u32,
    rtt_max_us: u32,
    /// Sequence numbers sent and not answered.
    outstanding: Vec<u16>,
}

impl IcmpCheck {
    /// A check starting at `start` that must end by `start + timeout`, sending `count`
    /// requests per attempt (1..=[`ICMP_COUNT_MAX`]) in `retries + 1` attempts (fewer if
    /// [`ICMP_PACKETS_PER_CHECK_MAX`] requires).
    pub fn new(count: u32, retries: u32, start: Instant, timeout: Duration) -> IcmpCheck {
        let mut c = IcmpCheck {
            count: 1,
            attempts_max: 1,
            end: start,
            window: Duration::ZERO,
            interval: Duration::ZERO,
            attempt: 0,
            attempt_start: start,
            tried_in_attempt: 0,
            tried: 0,
            sent: 0,
            received: 0,
            not_sent_reason: None,
            rtt_sum_us: 0,
            rtt_min_us: u32::MAX,
            rtt_max_us: 0,
            outstanding: Vec::new(),
        };
        c.restart(count, retries, start, timeout);
        c
    }

    /// Starts over as [`new`](Self::new) would, keeping the allocation.
    pub fn restart(&mut self, count: u32, retries: u32, start: Instant, timeout: Duration) {
        let count = count.clamp(1, ICMP_COUNT_MAX);
        let attempts_max = retries
            .saturating_add(1)
            .min((ICMP_PACKETS_PER_CHECK_MAX / count).max(1));
        let timeout = timeout.min(Duration::from_millis(INTERVAL_MS_MAX));
        let window = timeout / attempts_max;
        self.count = count;
        self.attempts_max = attempts_max;
        self.end = start.checked_add(timeout).unwrap_or(start);
        self.window = window;
        self.interval = (window / count.saturating_mul(2))
            .min(Duration::from_millis(ICMP_SEND_INTERVAL_MS_MAX));
        self.attempt = 0;
        self.attempt_start = start;
        self.tried_in_attempt = 0;
        self.tried = 0;
        self.sent = 0;
        self.received = 0;
        self.not_sent_reason = None;
        self.rtt_sum_us = 0;
        self.rtt_min_us = u32::MAX;
        self.rtt_max_us = 0;
        self.outstanding.clear();
    }

    /// What to do at `now`.
    pub fn step(&mut self, now: Instant) -> Step {
        if now >= self.end {
            return Step::Done;
        }
        // At most two rounds: the second starts a new attempt, which then has a send due.
        loop {
            if self.tried_in_attempt < self.count && self.tried < ICMP_PACKETS_PER_CHECK_MAX {
                let due = self
                    .attempt_start
                    .checked_add(self.interval * self.tried_in_attempt)
                    .unwrap_or(self.end);
                return if now >= due {
                    Step::Send
                } else {
                    Step::WaitUntil(due.min(self.end))
                };
            }
            // All of this attempt's requests are out.
            let more =
                self.attempt + 1 < self.attempts_max && self.tried < ICMP_PACKETS_PER_CHECK_MAX;
            if self.outstanding.is_empty() && (self.received > 0 || !more) {
                return Step::Done; // everything answered, or nothing left to wait for
            }
            let window_end = self
                .attempt_start
                .checked_add(self.window)
                .unwrap_or(self.end)
                .min(self.end);
            if now < window_end {
                return Step::WaitUntil(window_end);
            }
            if self.received > 0 {
                return Step::Done; // up; the rest counts as lost
            }
            if !more {
                return Step::WaitUntil(self.end); // late replies still count
            }
            self.attempt += 1;
            self.attempt_start = window_end;
            self.tried_in_attempt = 0;
        }
    }

    /// The request asked for by [`Step::Send`] went out with sequence number `seq`.
    pub fn on_sent(&mut self, seq: u16) {
        self.tried_in_attempt += 1;
        self.tried += 1;
        self.sent += 1;
        self.outstanding.push(seq);
    }

    /// The request asked for by [`Step::Send`] could not be sent (`reason`: `local` when the
    /// table is full or cpra ran out of something, `connect` for no route...). It is skipped:
    /// not counted as sent, so not as lost.
    pub fn on_not_sent(&mut self, reason: Reason) {
        self.tried_in_attempt += 1;
        self.tried += 1;
        self.not_sent_reason.get_or_insert(reason);
    }

    /// A reply to `seq` arrived after `rtt`. Returns whether `seq` was one of this check's
    /// unanswered requests.
    pub fn on_reply(&mut self, seq: u16, rtt: Duration) -> bool {
        let Some(i) = self.outstanding.iter().position(|&s| s == seq) else {
            return false;
        };
        self.outstanding.swap_remove(i);
        self.received += 1;
        let us = rtt.as_micros().min(u128::from(u32::MAX)) as u32;
        self.rtt_sum_us += u64::from(us);
        self.rtt_min_us = self.rtt_min_us.min(us);
        self.rtt_max_us = self.rtt_max_us.max(us);
        true
    }

    /// Sequence numbers sent and not answered: to [`Pinger::forget`] when the check ends.
    pub fn outstanding(&self) -> &[u16] {
        &self.outstanding
    }

    /// The verdict so far: `ok` if any request was answered; else `icmp_loss` if any was sent;
    /// else the reason none could be. With the loss in percent of requests sent (100 when none
    /// was; at least 1 when any was lost) and the mean round-trip time in µs of those answered.
    pub fn verdict(&self) -> (Reason, u8, Option<u32>) {
        let lost = self.sent.saturating_sub(self.received);
        let loss = match self.sent {
            0 => 100,
            sent => {
                let pct = u64::from(lost) * 100 / u64::from(sent);
                if lost > 0 { pct.max(1) as u8 } else { 0 }
            }
        };
        let reason = if self.received > 0 {
            Reason::Ok
        } else if self.sent > 0 {
            Reason::IcmpLoss
        } else {
            self.not_sent_reason.unwrap_or(Reason::Local)
        };
        let rtt = (self.received > 0)
            .then(|| (self.rtt_sum_us / u64::from(self.received)).min(u64::from(u32::MAX)) as u32);
        (reason, loss, rtt)
    }

    /// Attempts begun (1 + retries used).
    pub fn attempts(&self) -> u32 {
        self.attempt + 1
    }

    pub fn sent(&self) -> u32 {
        self.sent
    }

    pub fn received(&self) -> u32 {
        self.received
    }

    /// Fastest and slowest round trip in µs, when any reply arrived.
    pub fn rtt_range_us(&self) -> Option<(u32, u32)> {
        (self.received > 0).then_some((self.rtt_min_us, self.rtt_max_us))
    }

    /// Pause between two requests of one attempt.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    const V4_OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    const COOKIE: u64 = 0x0123_4567_89ab_cdef;

    fn pinger(v6: bool, kind: SocketKind) -> Pinger {
        Pinger::new(v6, kind, 0x1234, COOKIE)
    }

    /// What the target sends back for `req`: the same message as a reply (IPv4 checksum fixed).
    fn reply_for(req: &[u8], v6: bool) -> Vec<u8> {
        let mut r = req.to_vec();
        r[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        if !v6 {
            r[2..4].copy_from_slice(&[0, 0]);
            let sum = checksum(&r);
            r[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        r
    }

    /// An IPv4 header of `ihl` 32-bit words (options zero) in front of `icmp`.
    fn with_ipv4_header(icmp: &[u8], ihl: u8, protocol: u8) -> Vec<u8> {
        let hlen = usize::from(ihl) * 4;
        let mut p = vec![0u8; hlen];
        p[0] = 0x40 | ihl;
        p[2..4].copy_from_slice(&((hlen + icmp.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&[192, 0, 2, 7]);
        p[16..20].copy_from_slice(&[192, 0, 2, 1]);
        p.extend_from_slice(icmp);
        p
    }

    fn encode(p: &mut Pinger, token: u64, dest: IpAddr, now: Instant) -> (Vec<u8>, u16) {
        let mut out = Vec::new();
        let seq = p.encode_echo(&mut out, token, dest, now).expect("room");
        (out, seq)
    }

    #[test]
    fn checksum_known_vectors() {
        // RFC 1071 section 3's example: sum ddf2, checksum its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // An echo request header: id 0x1234, seq 1, no data.
        assert_eq!(
            checksum(&[0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01]),
            0xe5ca
        );
        // An odd length is padded with a zero byte.
        assert_eq!(checksum(&[0x01]), 0xfeff);
        assert_eq!(checksum(&[]), 0xffff);
        // A packet with its checksum in place sums to zero.
        assert_eq!(
            checksum(&[0x08, 0x00, 0xe5, 0xca, 0x12, 0x34, 0x00, 0x01]),
            0
        );
    }

    #[test]
    fn encodes_v4_and_v6_requests() {
        let now = Instant::now();
        let mut p = pinger(false, SocketKind::Raw);
        let (out, seq) = encode(&mut p, 7, V4, now);
        assert_eq!(out.len(), ECHO_BYTES);
        assert_eq!(&out[..2], &[ECHO_REQUEST_V4, 0]);
        assert_eq!(&out[4..6], &[0x12, 0x34]);
        assert_eq!(&out[6..8], &seq.to_be_bytes());
        assert_eq!(&out[8..16], &COOKIE.to_be_bytes());
        assert_eq!(checksum(&out), 0, "v4 checksum filled in");
        let (out2, seq2) = encode(&mut p, 8, V4, now);
        assert_eq!(seq2, seq.wrapping_add(1));
        assert_ne!(out[16..24], out2[16..24], "serials differ");

        let mut p6 = pinger(true, SocketKind::Raw);
        let (out, _) = encode(&mut p6, 7, V6, now);
        assert_eq!(out.len(), ECHO_BYTES);
        assert_eq!(
            &out[..4],
            &[ECHO_REQUEST_V6, 0, 0, 0],
            "v6 checksum left to the kernel"
        );
        // The other family is refused, and nothing is recorded.
        let mut o = Vec::new();
        assert_eq!(p6.encode_echo(&mut o, 1, V4, now), None);
        assert_eq!(p.encode_echo(&mut o, 1, V6, now), None);
        assert!(o.is_empty());
        assert_eq!((p.outstanding(), p6.outstanding()), (2, 1));
    }

    #[test]
    fn round_trips_in_every_socket_form() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_micros(1234);
        // Datagram v4: ICMP only.
        let mut p = pinger(false, SocketKind::Dgram);
        let (req, seq) = encode(&mut p, 42, V4, t0);
        let r = p
            .on_packet(&reply_for(&req, false), V4, t1)
            .expect("matched");
        assert_eq!(
            r,
            Reply {
                token: 42,
                seq,
                rtt: Duration::from_micros(1234)
            }
        );
        assert_eq!(p.outstanding(), 0);
        // Raw v4: IP header first, with and without options.
        for ihl in [5u8, 6, 15] {
            let mut p = pinger(false, SocketKind::Raw);
            let (req, seq) = encode(&mut p, 43, V4, t0);
            let pkt = with_ipv4_header(&reply_for(&req, false), ihl, IPPROTO_ICMP);
            let r = p.on_packet(&pkt, V4, t1).expect("matched");
            assert_eq!((r.token, r.seq), (43, seq), "ihl {ihl}");
            // The same bytes without the header are not a raw v4 packet.
            let (req, _) = encode(&mut p, 44, V4, t0);
            assert_eq!(p.on_packet(&reply_for(&req, false), V4, t1), None);
        }
        // v6, raw and datagram alike: ICMPv6 only.
        for kind in [SocketKind::Raw, SocketKind::Dgram] {
            let mut p = pinger(true, kind);
            let (req, seq) = encode(&mut p, 45, V6, t0);
            let r = p
                .on_packet(&reply_for(&req, true), V6, t1)
                .expect("matched");
            assert_eq!(
                (r.token, r.seq, r.rtt),
                (45, seq, Duration::from_micros(1234))
            );
        }
    }

    #[test]
    fn ignores_everything_that_is_not_our_reply() {
        let t0 = Instant::now();
        let mut p = pinger(false, SocketKind::Dgram);
        let (req, seq) = encode(&mut p, 1, V4, t0);
        let good = reply_for(&req, false);
        let refix = |mut b: Vec<u8>| {
            b[2..4].copy_from_slice(&[0, 0]);
            let s = checksum(&b);
            b[2..4].copy_from_slice(&s.to_be_bytes());
            b
        };
        let mut bad = Vec::new();
        // Wrong identifier (another process's ping).
        let mut b = good.clone();
        b[4] ^= 0xff;
        bad.push(("identifier", refix(b)));
        // Unknown sequence.
        let mut b = good.clone();
        b[6..8].copy_from_slice(&seq.wrapping_add(9).to_be_bytes());
        bad.push(("sequence", refix(b)));
        // Other ICMP types: our own request looped back, destination unreachable, v6 reply.
        bad.push(("request", req.clone()));
        let mut b = good.clone();
        b[0] = 3;
        bad.push(("unreachable", refix(b)));
        let mut b = good.clone();
        b[0] = ECHO_REPLY_V6;
        bad.push(("v6 type", refix(b)));
        let mut b = good.clone();
        b[1] = 1;
        bad.push(("code", refix(b)));
        // Bad checksum.
        let mut b = good.clone();
        b[2] ^= 1;
        bad.push(("checksum", b));
        // Payload that is not ours: cookie, serial.
        let mut b = good.clone();
        b[9] ^= 1;
        bad.push(("cookie", refix(b)));
        let mut b = good.clone();
        b[23] ^= 1;
        bad.push(("serial", refix(b)));
        // Truncated at every length, and garbage.
        for n in 0..good.len() {
            bad.push(("truncated", good[..n].to_vec()));
        }
        bad.push(("garbage", vec![0xff; 64]));
        bad.push(("zeros", vec![0; 64]));
        for (what, pkt) in &bad {
            assert_eq!(p.on_packet(pkt, V4, t0), None, "{what}");
        }
        // Wrong source.
        assert_eq!(p.on_packet(&good, V4_OTHER, t0), None, "source");
        assert_eq!(p.outstanding(), 1, "nothing consumed the request");
        // The real reply still matches, once: a duplicate is ignored.
        assert!(p.on_packet(&good, V4, t0).is_some());
        assert_eq!(p.on_packet(&good, V4, t0), None, "duplicate");

        // Raw v4: headers that are not IPv4/ICMP, or claim more than there is.
        let mut p = pinger(false, SocketKind::Raw);
        let (req, _) = encode(&mut p, 1, V4, t0);
        let good = with_ipv4_header(&reply_for(&req, false), 5, IPPROTO_ICMP);
        let mut b = good.clone();
        b[9] = 17;
        assert_eq!(p.on_packet(&b, V4, t0), None, "not ICMP");
        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(p.on_packet(&b, V4, t0), None, "not IPv4");
        let mut b = good.clone();
        b[0] = 0x44;
        assert_eq!(p.on_packet(&b, V4, t0), None, "IHL below 5");
        let mut b = good[..20].to_vec();
        b[0] = 0x4f;
        assert_eq!(p.on_packet(&b, V4, t0), None, "IHL past the end");
        for n in 0..good.len() {
            assert_eq!(p.on_packet(&good[..n], V4, t0), None, "truncated {n}");
        }
        assert!(p.on_packet(&good, V4, t0).is_some());
    }

    #[test]
    fn forgotten_and_stale_requests_never_match() {
        let t0 = Instant::now();
        let mut p = pinger(false, SocketKind::Dgram);
        let (req, seq) = encode(&mut p, 1, V4, t0);
        assert!(p.forget(seq));
        assert!(!p.forget(seq));
        assert_eq!(p.on_packet(&reply_for(&req, false), V4, t0), None);
        // After 65,536 more requests the sequence number comes round again: the old reply
        // (old serial) does not match the new request.
        for _ in 0..(1 << 16) - 1 {
            let (_, s) = encode(&mut p, 2, V4, t0);
            p.forget(s);
        }
        let (req2, seq2) = encode(&mut p, 3, V4, t0);
        assert_eq!(seq2, seq);
        assert_eq!(p.on_packet(&reply_for(&req, false), V4, t0), None);
        assert_eq!(
            p.on_packet(&reply_for(&req2, false), V4, t0)
                .map(|r| r.token),
            Some(3)
        );
        // expire() drops what was sent before a time.
        let t1 = t0 + Duration::from_secs(1);
        encode(&mut p, 4, V4, t0);
        encode(&mut p, 5, V4, t1);
        assert_eq!(p.expire(t1), 1);
        assert_eq!(p.outstanding(), 1);
    }

    #[test]
    fn table_is_bounded_and_skips_busy_sequence_numbers() {
        let t0 = Instant::now();
        let mut p = pinger(false, SocketKind::Raw).with_capacity(3);
        let a = encode(&mut p, 1, V4, t0);
        let b = encode(&mut p, 2, V4, t0);
        let _c = encode(&mut p, 3, V4, t0);
        let mut out = vec![1, 2, 3];
        assert_eq!(p.encode_echo(&mut out, 4, V4, t0), None, "full");
        assert!(out.is_empty());
        assert_eq!(p.outstanding(), 3);
        let pkt = with_ipv4_header(&reply_for(&a.0, false), 5, IPPROTO_ICMP);
        assert!(p.on_packet(&pkt, V4, t0).is_some());
        // Room again; go round the sequence space while `b` stays outstanding.
        for _ in 0..(1 << 16) {
            let (_, s) = encode(&mut p, 9, V4, t0);
            assert_ne!(s, b.1, "busy sequence number reused");
            p.forget(s);
        }
        let pkt = with_ipv4_header(&reply_for(&b.0, false), 5, IPPROTO_ICMP);
        assert_eq!(p.on_packet(&pkt, V4, t0).map(|r| r.token), Some(2));
        assert_eq!(
            Pinger::new(false, SocketKind::Raw, 1, 1)
                .with_capacity(0)
                .capacity,
            1
        );
        assert_eq!(
            Pinger::new(false, SocketKind::Raw, 1, 1)
                .with_capacity(usize::MAX)
                .capacity,
            ICMP_OUTSTANDING_PER_SOCKET_MAX
        );
    }

    #[test]
    fn many_checks_to_one_host_are_matched_out_of_order() {
        let t0 = Instant::now();
        let mut p = pinger(false, SocketKind::Raw);
        let reqs: Vec<_> = (0..100u64).map(|t| encode(&mut p, t, V4, t0)).collect();
        assert_eq!(p.outstanding(), 100);
        for (i, (req, seq)) in reqs.iter().enumerate().rev() {
            let pkt = with_ipv4_header(&reply_for(req, false), 5, IPPROTO_ICMP);
            let r = p.on_packet(&pkt, V4, t0).expect("matched");
            assert_eq!((r.token, r.seq), (i as u64, *seq));
        }
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn raw_identifiers_differ_between_workers() {
        let ids: std::collections::HashSet<u16> =
            (0..64).map(|w| raw_identifier(4242, w)).collect();
        assert_eq!(ids.len(), 64);
        assert_ne!(raw_identifier(4242, 0), raw_identifier(4243, 0));
    }

    /// Drives `c` from `t0` with replies after `rtt` for the sequence numbers `answer` picks,
    /// in 1 ms steps; returns the time it was done.
    fn drive(
        c: &mut IcmpCheck,
        t0: Instant,
        rtt: Duration,
        answer: impl Fn(u32) -> bool,
    ) -> Instant {
        let mut seq = 0u16;
        let mut pending: Vec<(Instant, u16)> = Vec::new();
        let mut now = t0;
        let mut n = 0u32;
        loop {
            pending.retain(|&(at, s)| {
                if at <= now {
                    c.on_reply(s, rtt);
                    false
                } else {
                    true
                }
            });
            match c.step(now) {
                Step::Send => {
                    c.on_sent(seq);
                    if answer(n) {
                        pending.push((now + rtt, seq));
                    }
                    seq += 1;
                    n += 1;
                    continue;
                }
                Step::WaitUntil(t) => assert!(t > now),
                Step::Done => return now,
            }
            now += Duration::from_millis(1);
        }
    }

    #[test]
    fn check_sends_count_requests_and_judges() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(2);
        let rtt = Duration::from_millis(5);
        // All answered: done as soon as the last reply is in.
        let mut c = IcmpCheck::new(3, 0, t0, timeout);
        assert_eq!(
            c.interval(),
            Duration::from_millis(ICMP_SEND_INTERVAL_MS_MAX)
        );
        let done = drive(&mut c, t0, rtt, |_| true);
        assert_eq!(done - t0, Duration::from_millis(205));
        assert_eq!(c.verdict(), (Reason::Ok, 0, Some(5000)));
        assert_eq!((c.sent(), c.received(), c.attempts()), (3, 3, 1));
        assert_eq!(c.rtt_range_us(), Some((5000, 5000)));
        assert!(c.outstanding().is_empty());
        // One of three answered: up, 66 % loss, done at the deadline.
        c.restart(3, 0, t0, timeout);
        let done = drive(&mut c, t0, rtt, |n| n == 1);
        assert_eq!(done - t0, timeout);
        assert_eq!(c.verdict(), (Reason::Ok, 66, Some(5000)));
        assert_eq!(c.outstanding().len(), 2);
        // None answered: loss.
        c.restart(3, 0, t0, timeout);
        drive(&mut c, t0, rtt, |_| false);
        assert_eq!(c.verdict(), (Reason::IcmpLoss, 100, None));
        // 1 lost in 100 shows as 1 %, not 0.
        c.restart(100, 0, t0, Duration::from_secs(60));
        drive(&mut c, t0, rtt, |n| n != 50);
        assert_eq!(c.verdict().0, Reason::Ok);
        assert_eq!(c.verdict().1, 1);
    }

    #[test]
    fn check_spaces_requests_within_the_timeout() {
        let t0 = Instant::now();
        // 10 requests in 100 ms: all out in the first half.
        let mut c = IcmpCheck::new(10, 0, t0, Duration::from_millis(100));
        assert_eq!(c.interval(), Duration::from_millis(5));
        assert_eq!(c.step(t0), Step::Send);
        c.on_sent(0);
        assert_eq!(c.step(t0), Step::WaitUntil(t0 + Duration::from_millis(5)));
        // count 0 and huge are clamped.
        assert_eq!(IcmpCheck::new(0, 0, t0, Duration::from_secs(1)).count, 1);
        assert_eq!(
            IcmpCheck::new(u32::MAX, u32::MAX, t0, Duration::MAX).count,
            ICMP_COUNT_MAX
        );
        let c = IcmpCheck::new(100, 100, t0, Duration::from_secs(10));
        assert_eq!(c.attempts_max, ICMP_PACKETS_PER_CHECK_MAX / 100);
        // Past the deadline: done, whatever else.
        let mut c = IcmpCheck::new(3, 2, t0, Duration::from_secs(1));
        assert_eq!(c.step(t0 + Duration::from_secs(1)), Step::Done);
    }

    #[test]
    fn retries_add_requests_and_late_replies_count() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(3);
        // Unanswered: one request per 1 s attempt, three attempts, then loss at the deadline.
        let mut c = IcmpCheck::new(1, 2, t0, timeout);
        let done = drive(&mut c, t0, Duration::ZERO, |_| false);
        assert_eq!(done - t0, timeout);
        assert_eq!((c.sent(), c.attempts()), (3, 3));
        assert_eq!(c.verdict(), (Reason::IcmpLoss, 100, None));
        // The first request's reply arrives after 1.5 s, during the second attempt: up.
        c.restart(1, 2, t0, timeout);
        let done = drive(&mut c, t0, Duration::from_millis(1500), |n| n == 0);
        assert_eq!(
            done - t0,
            Duration::from_secs(2),
            "end of the second window"
        );
        assert_eq!(c.verdict(), (Reason::Ok, 50, Some(1_500_000)));
        // A reply for a sequence number that is not this check's is refused.
        assert!(!c.on_reply(999, Duration::ZERO));
    }

    #[test]
    fn requests_that_could_not_be_sent() {
        let t0 = Instant::now();
        let mut c = IcmpCheck::new(2, 0, t0, Duration::from_secs(1));
        assert_eq!(c.step(t0), Step::Send);
        c.on_not_sent(Reason::Connect);
        let t = match c.step(t0) {
            Step::WaitUntil(t) => t,
            s => panic!("{s:?}"),
        };
        assert_eq!(c.step(t), Step::Send);
        c.on_not_sent(Reason::Local);
        assert_eq!(c.step(t), Step::Done, "nothing in flight, no retry left");
        assert_eq!(c.verdict(), (Reason::Connect, 100, None));
        // One skipped, one answered: up, no loss counted for the skipped one.
        c.restart(2, 0, t0, Duration::from_secs(1));
        c.on_not_sent(Reason::Local);
        c.on_sent(7);
        assert!(c.on_reply(7, Duration::from_micros(10)));
        assert_eq!(c.verdict(), (Reason::Ok, 0, Some(10)));
    }

    #[test]
    fn privilege_failure_verdicts() {
        let perm = || OpenError::NoPermission {
            dgram: io::Error::from_raw_os_error(libc::EACCES),
            raw: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(open_failure_verdict(&perm(), true).0, Reason::Ok);
        let (r, msg) = open_failure_verdict(&perm(), false);
        assert_eq!(r, Reason::Local);
        assert!(msg.contains("ping_group_range") && msg.contains("CAP_NET_RAW"));
        let other = OpenError::Other(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        assert_eq!(open_failure_verdict(&other, true).0, Reason::Local);
        let other = OpenError::Other(io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(open_failure_verdict(&other, true).0, Reason::Local);
        assert!(perm().to_string().contains("no permission"));
    }
}
