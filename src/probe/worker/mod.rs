//! One probe worker: a thread with its own `mio::Poll`, running many checks at once.
//!
//! Shaped after the poll-driven state machines of smoltcp and rustls's mio examples: each
//! in-flight check is a slot in a fixed slab (`Conn`), its socket registered under a token
//! that encodes the slot and a per-socket sequence number (so an event for a socket that was
//! already closed and whose slot was reused is recognised and ignored). Time is a heap of
//! `(when, slot, check)` timers: every check has one for its deadline, retries add one for the
//! pause before the next attempt. A check ends exactly once, through `finish`, which writes a
//! [`Completion`] to a local batch that is pushed to the engine's ring after each poll round.
//!
//! Per check, in the common case: socket, setsockopt (linger 0 so closing never leaves the
//! client in TIME_WAIT), connect, one epoll registration (edge-triggered, readable and writable
//! at once, so it is never changed), getsockopt for the connect result, write, read, close.
//! Nothing is allocated per check once slot buffers have grown to their working size.
//!
//! Back-pressure: the worker takes requests from its ring only while it has free slots (at most
//! `in_flight_max`); what it cannot take stays in the ring, and a full ring makes the engine
//! keep the monitor due and count it as deferred.
//!
//! This file owns the loop, the slab, the timers and a check's start and end; each protocol's
//! steps are in their own file: `http` (request and response), `tls` (the session), `dns`,
//! `icmp`, `redirect` (with address updates) and `pool` (keep-alive). They are `impl Worker`
//! blocks over the same `Conn` for now; a data-carrying state per protocol is the next step
//! (issue 11).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use super::dns::{DnsCheck, DnsStep};
use super::http::{Exchange, render_request_as};
use super::icmp::{IcmpCheck, OpenError, Pinger, Step as IcmpStep};
use super::reason::Reason;
use super::resolve::{AddrUpdate, Lookup, Resolver};
use super::ring::{Consumer, Producer, ring};
use super::tls::TlsConfigs;
use super::{Completion, Request};
use crate::limits::{
    CHECK_RETRY_PAUSE_MS, COMPLETION_RING_CAPACITY, DNS_UDP_REPLY_BYTES_MAX,
    KEEPALIVE_CONNS_PER_TARGET_MAX, KEEPALIVE_IDLE_MS_MAX, KEEPALIVE_IDLE_PER_TARGET_MAX,
    READ_CHUNK_BYTES, REQUEST_RING_CAPACITY, RESPONSE_HEADER_BYTES_MAX,
};
use crate::store::{Catalog, HttpProbe, MonitorId, ProbeKind, ProbeSpec};

mod dns;
mod http;
mod icmp;
mod pool;
mod redirect;
mod tls;

use http::feed_response;
use icmp::IcmpSocket;
use pool::Idle;
use redirect::Redirect;

const WAKER: Token = Token(usize::MAX);
/// The worker's shared ICMP sockets (IPv4, IPv6).
const ICMP4: Token = Token(usize::MAX - 1);
const ICMP6: Token = Token(usize::MAX - 2);
/// `Completion::cert_days` when no certificate was seen.
pub const NO_CERT: i32 = i32::MIN;
/// Longest sleep in `poll` with nothing to do, so a stop request is seen promptly even if a
/// wake-up were lost.
const IDLE_POLL_MS: u64 = 100;

/// The engine's side of one worker.
pub struct WorkerHandle {
    pub requests: Producer<Request>,
    pub completions: Consumer<Completion>,
    pub waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    abort: Arc<AtomicBool>,
    retire: Arc<AtomicBool>,
    thread: Option<JoinHandle<WorkerStats>>,
}

/// What a worker counted, returned when it stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    pub started: u64,
    pub finished: u64,
    pub not_started_late: u64,
    /// Keep-alive: checks that reused an idle connection, and connections opened for them.
    pub reused: u64,
    pub opened: u64,
}

impl WorkerHandle {
    /// Asks the worker to stop taking requests; it finishes what is in flight (each check ends
    /// by its deadline) and exits.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Asks the worker to run every request already in its ring and the checks in flight, then
    /// exit (a reload replaced it: nothing more will come, and nothing queued is dropped).
    pub fn request_retire(&self) {
        self.retire.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Asks the worker to exit now, abandoning the checks in flight (their sockets close; the
    /// engine counts them `cancelled_at_stop`). For a stop that must not wait out timeouts.
    pub fn request_abort(&self) {
        self.abort.store(true, Ordering::Release);
        self.request_stop();
    }

    /// Waits for the worker to exit. Completions it produced stay readable in `completions`.
    pub fn join(&mut self) -> WorkerStats {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_default(),
            None => WorkerStats::default(),
        }
    }

    /// A handle with no thread behind it: the caller holds the worker's ends of both rings and
    /// plays the worker itself. Used by benches and tests that drive the engine without I/O;
    /// `poll` only provides the waker's registry.
    pub fn detached(
        poll: &Poll,
    ) -> io::Result<(WorkerHandle, Consumer<Request>, Producer<Completion>)> {
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (req_tx, req_rx) = ring::<Request>(REQUEST_RING_CAPACITY);
        let (done_tx, done_rx) = ring::<Completion>(COMPLETION_RING_CAPACITY);
        Ok((
            WorkerHandle {
                requests: req_tx,
                completions: done_rx,
                waker,
                stop: Arc::new(AtomicBool::new(false)),
                abort: Arc::new(AtomicBool::new(false)),
                retire: Arc::new(AtomicBool::new(false)),
                thread: None,
            },
            req_rx,
            done_tx,
        ))
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub index: usize,
    /// Pin the thread to this core.
    pub core: Option<core_affinity::CoreId>,
    pub in_flight_max: usize,
    /// TLS client configurations, when any monitor needs TLS.
    pub tls: Option<TlsConfigs>,
    /// The resolver (address refresh, lookups for redirects).
    pub resolver: Option<Resolver>,
}

/// Starts a worker thread.
pub fn spawn(catalog: Arc<Catalog>, epoch: Instant, cfg: WorkerConfig) -> io::Result<WorkerHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (req_tx, req_rx) = ring::<Request>(REQUEST_RING_CAPACITY);
    let (done_tx, done_rx) = ring::<Completion>(COMPLETION_RING_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let abort = Arc::new(AtomicBool::new(false));
    let abort2 = abort.clone();
    let retire = Arc::new(AtomicBool::new(false));
    let retire2 = retire.clone();
    let waker2 = waker.clone();
    let thread = std::thread::Builder::new()
        .name(format!("cpra-probe-{}", cfg.index))
        .spawn(move || {
            if let Some(core) = cfg.core {
                core_affinity::set_for_current(core);
            }
            let mut w = Worker::new(
                catalog,
                epoch,
                poll,
                req_rx,
                done_tx,
                stop2,
                cfg.in_flight_max,
            );
            w.tls = cfg.tls;
            w.abort = abort2;
            w.retire = retire2;
            w.index = cfg.index;
            w.addrs = w.catalog.targets.iter().map(|t| t.addr).collect();
            if let Some(r) = cfg.resolver {
                w.addr_updates = Some(r.subscribe(waker2.clone()));
                w.resolver = Some(r);
            }
            w.waker = Some(waker2);
            w.run();
            w.stats
        })?;
    Ok(WorkerHandle {
        requests: req_tx,
        completions: done_rx,
        waker,
        stop,
        abort,
        retire,
        thread: Some(thread),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Writing,
    Reading,
    /// TLS handshake, then (https) the request and response through the session.
    Tls,
    /// A DNS query sent over UDP, waiting for the reply.
    DnsUdp,
    /// Keep-alive: every connection to the target is busy and no more may be opened; waiting
    /// for one to come back.
    PoolWait,
    RetryWait,
}

struct Conn {
    /// A check is using this slot.
    active: bool,
    phase: Phase,
    /// Bumped for every check that uses this slot; timers carry it.
    check_seq: u32,
    /// Bumped for every socket opened in this slot; tokens carry it.
    sock_seq: u32,
    req: Request,
    kind: ProbeKind,
    started_us: u64,
    deadline_us: u64,
    attempts: u8,
    retries_left: u32,
    stream: Option<TcpStream>,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    exchange: Exchange,
    /// The TLS session of an https or tls check.
    tls: Option<rustls::ClientConnection>,
    /// Whether the HTTP request has been handed to the TLS session.
    tls_request_sent: bool,
    /// Days to the peer certificate's expiry, `NO_CERT` when none was seen.
    cert_days: i32,
    /// This attempt runs on a kept-alive connection.
    reused: bool,
    /// The next attempt must open a fresh connection.
    force_fresh: bool,
    /// The slot's connection counts against its target's keep-alive connection limit.
    pooled: bool,
    /// Where a followed redirect leads (the rest of the check goes there).
    redirect: Option<Box<Redirect>>,
    /// Waiting for the resolver (a redirect to a name that is not a known target).
    resolving: bool,
    /// An ICMP check's state (kept for reuse by the slot's next ICMP check).
    icmp: Option<IcmpCheck>,
    icmp_dest: Option<std::net::IpAddr>,
    /// A DNS check's query/judge, and its UDP socket.
    dns: Option<DnsCheck>,
    udp: Option<mio::net::UdpSocket>,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            active: false,
            phase: Phase::Idle,
            check_seq: 0,
            sock_seq: 0,
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
            stream: None,
            wbuf: Vec::new(),
            wpos: 0,
            rbuf: Vec::new(),
            exchange: Exchange::new(),
            tls: None,
            tls_request_sent: false,
            cert_days: NO_CERT,
            reused: false,
            force_fresh: false,
            pooled: false,
            redirect: None,
            resolving: false,
            icmp: None,
            icmp_dest: None,
            dns: None,
            udp: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Deadline,
    Retry,
    /// The next step of an ICMP check (send the next echo, or end the check).
    IcmpStep,
}

struct Worker {
    catalog: Arc<Catalog>,
    epoch: Instant,
    poll: Poll,
    requests: Consumer<Request>,
    completions: Producer<Completion>,
    stop: Arc<AtomicBool>,
    /// Exit once the ring is empty and nothing is in flight (see `request_retire`).
    retire: Arc<AtomicBool>,
    /// Exit now, in flight or not (a bounded shutdown).
    abort: Arc<AtomicBool>,
    conns: Vec<Conn>,
    free: Vec<u32>,
    in_flight: usize,
    timers: BinaryHeap<Reverse<(u64, u32, u32, TimerKind)>>,
    pending_out: Vec<Completion>,
    req_buf: Vec<Request>,
    scratch: Box<[u8; READ_CHUNK_BYTES]>,
    stats: WorkerStats,
    tls: Option<TlsConfigs>,
    /// Keep-alive connections by target id.
    idle: rustc_hash::FxHashMap<u32, Vec<Idle>>,
    /// Keep-alive connections open per target (in use or idle).
    pool_open: rustc_hash::FxHashMap<u32, u32>,
    /// Checks waiting for a keep-alive connection, per target: (slot, check sequence).
    pool_wait: rustc_hash::FxHashMap<u32, std::collections::VecDeque<(u32, u32)>>,
    /// This worker's copy of every target's address, kept current by the resolver.
    addrs: Vec<Option<SocketAddr>>,
    addr_updates: Option<std::sync::mpsc::Receiver<AddrUpdate>>,
    resolver: Option<Resolver>,
    waker: Option<Arc<Waker>>,
    /// Slots waiting for the resolver.
    resolve_wait: Vec<u32>,
    /// Shared ICMP sockets, opened on first use: [IPv4, IPv6].
    icmp: [IcmpSocket; 2],
    icmp_buf: Vec<u8>,
    /// Receive buffer for DNS replies over UDP (a server may ignore the size we advertise).
    dns_buf: Vec<u8>,
    index: usize,
}

fn token(slot: u32, sock_seq: u32) -> Token {
    Token(((sock_seq as usize) << 32) | slot as usize)
}

/// Maps a socket error to a check reason.
fn io_reason(e: &io::Error) -> Reason {
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

impl Worker {
    fn new(
        catalog: Arc<Catalog>,
        epoch: Instant,
        poll: Poll,
        requests: Consumer<Request>,
        completions: Producer<Completion>,
        stop: Arc<AtomicBool>,
        in_flight_max: usize,
    ) -> Worker {
        let in_flight_max = in_flight_max.max(1);
        Worker {
            catalog,
            epoch,
            poll,
            requests,
            completions,
            stop,
            retire: Arc::new(AtomicBool::new(false)),
            abort: Arc::new(AtomicBool::new(false)),
            conns: (0..in_flight_max).map(|_| Conn::new()).collect(),
            free: (0..in_flight_max as u32).rev().collect(),
            in_flight: 0,
            timers: BinaryHeap::with_capacity(in_flight_max * 2),
            pending_out: Vec::with_capacity(in_flight_max),
            req_buf: Vec::with_capacity(in_flight_max),
            scratch: Box::new([0u8; READ_CHUNK_BYTES]),
            stats: WorkerStats::default(),
            tls: None,
            idle: Default::default(),
            pool_open: Default::default(),
            pool_wait: Default::default(),
            addrs: Vec::new(),
            addr_updates: None,
            resolver: None,
            waker: None,
            resolve_wait: Vec::new(),
            icmp: Default::default(),
            icmp_buf: Vec::with_capacity(128),
            dns_buf: Vec::new(),
            index: 0,
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let drained =
                stopping || self.retire.load(Ordering::Acquire) && self.requests.is_empty();
            if drained && self.in_flight == 0 && self.pending_out.is_empty() {
                break;
            }
            if self.abort.load(Ordering::Acquire) {
                break;
            }
            let now = self.now_us();
            let mut timeout = Duration::from_millis(IDLE_POLL_MS);
            if let Some(Reverse((at, ..))) = self.timers.peek() {
                timeout = timeout.min(Duration::from_micros(at.saturating_sub(now)));
            }
            if !self.pending_out.is_empty() {
                // The engine's ring was full: try again soon.
                timeout = timeout.min(Duration::from_millis(1));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::say!("cpra: probe worker poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                if ev.token() == ICMP4 || ev.token() == ICMP6 {
                    self.on_icmp_readable(ev.token() == ICMP6);
                    continue;
                }
                let slot = (ev.token().0 & 0xffff_ffff) as u32;
                let seq = (ev.token().0 >> 32) as u32;
                let trouble = ev.is_error() || ev.is_read_closed() || ev.is_write_closed();
                self.on_event(slot, seq, trouble);
            }
            self.apply_addr_updates();
            self.retry_resolving();
            if !stopping {
                self.take_requests();
            }
            self.fire_timers();
            self.flush_completions();
        }
        self.flush_completions();
    }

    fn flush_completions(&mut self) {
        if self.pending_out.is_empty() {
            return;
        }
        let n = self.completions.push_batch(&self.pending_out);
        self.pending_out.drain(..n);
    }

    fn take_requests(&mut self) {
        // Every check in flight or waiting to be handed over holds a slot's worth of capacity.
        let room = self.free.len().saturating_sub(self.pending_out.len());
        if room == 0 {
            return;
        }
        self.req_buf.clear();
        let n = self.requests.pop_batch(&mut self.req_buf, room);
        for i in 0..n {
            let req = self.req_buf[i];
            self.start(req);
        }
    }

    fn start(&mut self, req: Request) {
        let Some(slot) = self.free.pop() else {
            return;
        };
        self.in_flight += 1;
        self.stats.started += 1;
        let now = self.now_us();
        let m = MonitorId(req.monitor);
        let catalog = self.catalog.clone();
        let (kind, retries) = match catalog.kinds.get(req.monitor as usize) {
            Some(k) => (*k, catalog.spec(m).retries()),
            None => (ProbeKind::TCP, 0),
        };
        let c = &mut self.conns[slot as usize];
        c.check_seq = c.check_seq.wrapping_add(1);
        c.active = true;
        c.req = req;
        c.kind = kind;
        c.started_us = now;
        c.deadline_us = req.deadline_us;
        c.attempts = 0;
        c.retries_left = retries;
        c.phase = Phase::Idle;
        c.redirect = None;
        c.resolving = false;
        if req.monitor as usize >= catalog.len() {
            self.finish(slot, Reason::Local, 0);
            return;
        }
        if now >= req.deadline_us {
            // The worker fell so far behind that the check's whole time budget passed before it
            // could start: not the target's fault. Reported as `local`.
            self.stats.not_started_late += 1;
            self.finish(slot, Reason::Local, 0);
            return;
        }
        let check_seq = self.conns[slot as usize].check_seq;
        self.timers.push(Reverse((
            req.deadline_us,
            slot,
            check_seq,
            TimerKind::Deadline,
        )));
        self.begin_attempt(slot);
    }

    fn begin_attempt(&mut self, slot: u32) {
        let catalog = self.catalog.clone();
        let now = self.now_us();
        let c = &mut self.conns[slot as usize];
        c.attempts = c.attempts.saturating_add(1);
        let m = MonitorId(c.req.monitor);
        let target_id = catalog.target_of[m.0 as usize];
        let target = catalog.target(m);
        // Where to: the monitor's target, or where a followed redirect leads.
        let addr = match c.redirect.as_mut() {
            None => self.addrs.get(target_id as usize).copied().flatten(),
            Some(r) => {
                if r.addr.is_none() {
                    let lookup = match (self.resolver.as_ref(), self.waker.as_ref()) {
                        (Some(res), Some(w)) => res.lookup(&r.host, r.port, w),
                        _ => Lookup::Failed("no resolver".into()),
                    };
                    match lookup {
                        Lookup::Ready(a) => r.addr = Some(a),
                        Lookup::Pending => {
                            c.resolving = true;
                            c.attempts = c.attempts.saturating_sub(1);
                            self.resolve_wait.push(slot);
                            return;
                        }
                        Lookup::Failed(_) => {}
                    }
                }
                r.addr
            }
        };
        let Some(addr) = addr else {
            self.finish(slot, Reason::Dns, 0);
            return;
        };
        if c.kind == ProbeKind::ICMP {
            self.begin_icmp(slot, addr.ip());
            return;
        }
        if c.kind == ProbeKind::DNS && !c.force_fresh {
            self.begin_dns_udp(slot, addr);
            return;
        }
        let keepalive =
            c.redirect.is_none() && matches!(catalog.spec(m), ProbeSpec::Http(h) if h.keepalive);
        c.rbuf.clear();
        c.exchange.reset_for(keepalive);
        c.wbuf.clear();
        c.wpos = 0;
        if c.kind.is_http()
            && let ProbeSpec::Http(h) = catalog.spec(m)
        {
            match c.redirect.as_ref() {
                None => {
                    render_request_as(&mut c.wbuf, h, false, &target.host_header, catalog.path(m))
                }
                Some(r) => render_request_as(&mut c.wbuf, h, r.as_get, &r.host_header(), &r.path),
            }
        }
        // Keep-alive: take an idle connection to this target if one is fresh enough.
        c.reused = false;
        if keepalive && !c.force_fresh {
            while let Some(mut idle) = self.idle.get_mut(&target_id).and_then(|v| v.pop()) {
                if now.saturating_sub(idle.since_us) > KEEPALIVE_IDLE_MS_MAX * 1000 {
                    // Too old to trust: closed.
                    if let Some(n) = self.pool_open.get_mut(&target_id) {
                        *n = n.saturating_sub(1);
                    }
                    continue;
                }
                c.sock_seq = c.sock_seq.wrapping_add(1);
                let tok = token(slot, c.sock_seq);
                if self
                    .poll
                    .registry()
                    .reregister(
                        &mut idle.stream,
                        tok,
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .is_err()
                {
                    continue;
                }
                self.stats.reused += 1;
                c.reused = true;
                c.pooled = true;
                c.stream = Some(idle.stream);
                if let Some(session) = idle.tls {
                    // The handshake is done; `drive_tls` sends the request.
                    c.tls = Some(session);
                    c.tls_request_sent = false;
                    c.phase = Phase::Tls;
                    self.drive_tls(slot);
                } else {
                    c.phase = Phase::Writing;
                    self.write_request(slot);
                }
                return;
            }
        }
        c.force_fresh = false;
        if keepalive {
            let open = self.pool_open.entry(target_id).or_insert(0);
            if *open >= KEEPALIVE_CONNS_PER_TARGET_MAX {
                // Every allowed connection is busy: wait for one (the deadline still runs).
                c.phase = Phase::PoolWait;
                c.attempts = c.attempts.saturating_sub(1);
                let seq = c.check_seq;
                self.pool_wait
                    .entry(target_id)
                    .or_default()
                    .push_back((slot, seq));
                return;
            }
            *open += 1;
            c.pooled = true;
        }
        match connect(addr) {
            Ok(mut stream) => {
                c.sock_seq = c.sock_seq.wrapping_add(1);
                let tok = token(slot, c.sock_seq);
                if let Err(e) = self.poll.registry().register(
                    &mut stream,
                    tok,
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    let r = io_reason(&e);
                    drop(stream);
                    self.fail(slot, r, 0);
                    return;
                }
                if keepalive {
                    self.stats.opened += 1;
                }
                c.stream = Some(stream);
                c.phase = Phase::Connecting;
            }
            Err(e) => {
                let r = io_reason(&e);
                self.fail(slot, r, 0);
            }
        }
    }

    /// `trouble`: the event carried an error or hang-up flag.
    fn on_event(&mut self, slot: u32, seq: u32, trouble: bool) {
        let Some(c) = self.conns.get(slot as usize) else {
            return;
        };
        if c.sock_seq != seq || (c.stream.is_none() && c.udp.is_none()) {
            return; // An event for a socket that is already gone.
        }
        match c.phase {
            Phase::Connecting => self.on_connecting(slot, trouble),
            Phase::Writing => self.write_request(slot),
            Phase::Reading => self.read_response(slot),
            Phase::Tls => self.drive_tls(slot),
            Phase::DnsUdp => self.read_dns_udp(slot),
            Phase::Idle | Phase::RetryWait | Phase::PoolWait => {}
        }
    }

    fn on_connecting(&mut self, slot: u32, trouble: bool) {
        let c = &mut self.conns[slot as usize];
        let Some(stream) = c.stream.as_ref() else {
            return;
        };
        // Registered edge-triggered for both directions, a connecting socket reports only once
        // it is connected (writable) or failed (error/hang-up flags). So a clean event means
        // connected, with no syscall; only a troubled one asks the socket what went wrong.
        if trouble {
            let failure = match stream.take_error() {
                Ok(Some(e)) | Err(e) => Some(io_reason(&e)),
                // No pending error: connected, and the peer may already have answered and
                // closed (its bytes are still ours to read), unless it never connected.
                Ok(None) => match stream.peer_addr() {
                    Ok(_) => None,
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Some(Reason::Refused),
                    Err(e) => Some(io_reason(&e)),
                },
            };
            if let Some(r) = failure {
                self.fail(slot, r, 0);
                return;
            }
        }
        if c.kind == ProbeKind::TCP {
            self.finish(slot, Reason::Ok, 0);
            return;
        }
        if c.kind == ProbeKind::DNS
            && let Some(check) = c.dns.as_ref()
        {
            c.wbuf.clear();
            c.wpos = 0;
            check.query_tcp(&mut c.wbuf);
            c.phase = Phase::Writing;
            self.write_request(slot);
            return;
        }
        if c.kind.is_tls() {
            let catalog = self.catalog.clone();
            let m = MonitorId(c.req.monitor);
            let insecure = match catalog.spec(m) {
                ProbeSpec::Http(h) => h.tls.as_ref().is_some_and(|t| t.insecure),
                ProbeSpec::Tls(t) => t.insecure,
                ProbeSpec::Tcp { .. } | ProbeSpec::Icmp { .. } | ProbeSpec::Dns(_) => false,
            };
            let server_name = match (&c.redirect, catalog.spec(m).tls()) {
                (Some(r), _) => Some(r.host.as_str()),
                (None, Some(opts)) => Some(&*opts.server_name),
                (None, None) => None,
            };
            let session = match (self.tls.as_ref(), server_name) {
                (Some(cfgs), Some(name)) => cfgs.connect(name, insecure),
                _ => Err("TLS is not configured".to_string()),
            };
            match session {
                Ok(s) => {
                    c.tls = Some(s);
                    c.tls_request_sent = false;
                    c.phase = Phase::Tls;
                    self.drive_tls(slot);
                }
                Err(_) => self.fail(slot, Reason::Tls, 0),
            }
            return;
        }
        c.phase = Phase::Writing;
        self.write_request(slot);
    }

    /// An HTTP response was judged: follow a redirect if the monitor allows it, else end the
    /// attempt with the verdict.
    fn verdict(&mut self, slot: u32, reason: Reason, status: u16) {
        if matches!(status, 301 | 302 | 303 | 307 | 308) && self.follow_redirect(slot, status) {
            return;
        }
        if reason == Reason::Ok {
            self.finish(slot, reason, status);
        } else {
            self.fail(slot, reason, status);
        }
    }

    /// An attempt failed: retry after the pause if retries and time remain, else finish.
    fn fail(&mut self, slot: u32, reason: Reason, status: u16) {
        let now = self.now_us();
        let c = &mut self.conns[slot as usize];
        if c.reused && !c.exchange.saw_bytes() && reason != Reason::Timeout {
            // A kept-alive connection the server had already dropped: once, at once, on a
            // fresh connection, without using up a retry.
            c.reused = false;
            c.force_fresh = true;
            c.stream = None;
            c.tls = None;
            c.attempts = c.attempts.saturating_sub(1);
            self.release_pooled(slot);
            self.begin_attempt(slot);
            return;
        }
        let pause_us = CHECK_RETRY_PAUSE_MS * 1000;
        if reason != Reason::Local
            && reason != Reason::Dns
            && c.retries_left > 0
            && now + pause_us < c.deadline_us
        {
            c.retries_left -= 1;
            c.stream = None;
            c.udp = None;
            c.tls = None;
            c.phase = Phase::RetryWait;
            let check_seq = c.check_seq;
            self.timers
                .push(Reverse((now + pause_us, slot, check_seq, TimerKind::Retry)));
            self.release_pooled(slot);
            return;
        }
        self.finish(slot, reason, status);
    }

    /// Ends the check in `slot` with a verdict: exactly once per check.
    fn finish(&mut self, slot: u32, mut reason: Reason, status: u16) {
        let now = self.now_us();
        let catalog = self.catalog.clone();
        let c = &mut self.conns[slot as usize];
        if !c.active {
            return;
        }
        let mut latency_us = now.saturating_sub(c.started_us);
        if c.kind == ProbeKind::ICMP
            && let Some(check) = c.icmp.as_ref()
        {
            if let Some(rtt) = check.verdict().2 {
                latency_us = u64::from(rtt);
            }
            for &seq in check.outstanding() {
                for sock in &mut self.icmp {
                    if let IcmpSocket::Open(b) = sock {
                        b.1.forget(seq);
                    }
                }
            }
        }
        if reason == Reason::Ok
            && (c.req.monitor as usize) < catalog.len()
            && let ProbeSpec::Http(h) = catalog.spec(MonitorId(c.req.monitor))
            && h.max_response_time_us > 0
            && latency_us > h.max_response_time_us
        {
            reason = Reason::Slow;
        }
        self.pending_out.push(Completion {
            monitor: c.req.monitor,
            generation: c.req.generation,
            latency_us: latency_us.min(u64::from(u32::MAX)) as u32,
            lateness_us: c
                .started_us
                .saturating_sub(c.req.due_us)
                .min(u64::from(u32::MAX)) as u32,
            status,
            reason: reason as u8,
            attempts: c.attempts,
            cert_days: c.cert_days,
        });
        let target_id = catalog.target_of[c.req.monitor as usize];
        let mut kept = false;
        if c.pooled
            && c.exchange.reusable()
            && let Some(stream) = c.stream.take()
        {
            let pool = self.idle.entry(target_id).or_default();
            if pool.len() < KEEPALIVE_IDLE_PER_TARGET_MAX {
                pool.push(Idle {
                    stream,
                    tls: c.tls.take(),
                    since_us: now,
                });
                kept = true;
            }
        }
        let was_pooled = c.pooled;
        c.pooled = false;
        c.stream = None; // close (linger 0: no TIME_WAIT on our side)
        c.udp = None;
        c.tls = None;
        c.cert_days = NO_CERT;
        c.reused = false;
        c.force_fresh = false;
        c.phase = Phase::Idle;
        c.check_seq = c.check_seq.wrapping_add(1); // invalidates this check's timers
        c.active = false;
        c.attempts = 0;
        self.free.push(slot);
        self.in_flight -= 1;
        self.stats.finished += 1;
        if was_pooled {
            if !kept && let Some(n) = self.pool_open.get_mut(&target_id) {
                *n = n.saturating_sub(1);
            }
            // A connection came back (or a place for one): the next waiting check goes.
            self.wake_pool_waiter(target_id);
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now_us();
        while let Some(Reverse((at, slot, seq, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let c = &self.conns[slot as usize];
            if c.check_seq != seq || !c.active {
                continue; // That check already ended.
            }
            match kind {
                TimerKind::Deadline if c.kind == ProbeKind::ICMP => {
                    let (reason, loss, _) = c
                        .icmp
                        .as_ref()
                        .map_or((Reason::IcmpLoss, 100, None), |k| k.verdict());
                    self.finish(slot, reason, u16::from(loss));
                }
                TimerKind::Deadline => {
                    let status = c.exchange_status();
                    self.finish(slot, Reason::Timeout, status);
                }
                TimerKind::IcmpStep => self.icmp_step(slot),
                TimerKind::Retry => {
                    if c.phase == Phase::RetryWait {
                        self.begin_attempt(slot);
                    }
                }
            }
        }
    }
}

/// Opens a non-blocking socket, sets linger 0 and starts connecting.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_linger(Some(Duration::ZERO))?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}
