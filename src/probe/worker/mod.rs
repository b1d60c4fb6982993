//! One probe worker: a thread with its own `mio::Poll`, running many checks at once.
//!
//! Shaped after smoltcp's sockets and rustls's mio examples: each in-flight check is a slot in
//! a fixed slab ([`state::Slot`]) whose state is a data-carrying enum ([`state::ConnState`]):
//! each variant owns exactly what its step needs (a connecting socket, an HTTP exchange, a
//! TLS session, a DNS socket and judge, an ICMP check). Each protocol's state lives in its own
//! file, is generic over its I/O and takes the time as an argument, so it is tested state by
//! state on an in-memory stream; a step returns a [`state::Step`] and this file alone acts on
//! it. Sockets are registered once under a token of their own (`tokens`), so a kept-alive
//! connection changes hands without an `epoll_ctl`. Time is a heap of `(when, slot, check)`
//! timers: every check has one for its deadline, retries and ICMP sends add their own. A check
//! ends exactly once, through `finish`, which writes a [`Completion`] to a local batch that is
//! pushed to the engine's ring after each poll round.
//!
//! Per check, in the common case: socket, setsockopt (linger 0 so closing never leaves the
//! client in TIME_WAIT), connect, one epoll registration (edge-triggered, readable and writable
//! at once, so it is never changed), write, read, close. Nothing is allocated per check once
//! slot buffers have grown to their working size.
//!
//! Back-pressure: the worker takes requests from its ring only while it has free slots (at most
//! `in_flight_max`); what it cannot take stays in the ring, and a full ring makes the engine
//! keep the monitor due and count it as deferred.
//!
//! Files: this one owns the loop, the slab, the timers, and a check's start, attempts and end;
//! `state` the slot and its states; `tokens` the socket token space; `stream` the shared read and
//! write loops; `tcp`, `http`, `tls`, `dns`, `icmp` one protocol each; `pool` keep-alive;
//! `redirect` redirects and address updates.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token, Waker};

use super::http::render_request_as;
use super::resolve::{AddrUpdate, Lookup, Resolver};
use super::ring::{Consumer, Producer, ring};
use super::tls::TlsConfigs;
use super::{Completion, Request};
use crate::limits::{
    CHECK_RETRY_PAUSE_MS, COMPLETION_RING_CAPACITY, READ_CHUNK_BYTES, REQUEST_RING_CAPACITY,
};
use crate::store::{Catalog, MonitorId, ProbeKind, ProbeSpec};
use crate::vocab::Reason;

mod dns;
mod http;
mod icmp;
mod pool;
mod redirect;
mod state;
mod stream;
mod tcp;
mod tls;
mod tokens;

use dns::{DnsTcp, DnsUdp};
use http::Http;
use icmp::IcmpSocket;
use pool::{Idle, Pool};
pub use state::NO_CERT;
use state::{Conn, ConnState, Slot, Step};
use stream::io_reason;
use tls::Tls;
use tokens::{Owner, Tokens};

const WAKER: Token = Token(usize::MAX);
/// The worker's shared ICMP sockets (IPv4, IPv6).
const ICMP4: Token = Token(usize::MAX - 1);
const ICMP6: Token = Token(usize::MAX - 2);
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Deadline,
    Retry,
    /// The next step of an ICMP check (send the next echo, or end the check).
    IcmpStep,
}

/// Where an attempt goes.
enum Dest {
    Ready(SocketAddr),
    /// The resolver is looking the name up; the worker is woken when it knows.
    Pending,
    /// No address: the check fails `dns`.
    Unknown,
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
    slots: Vec<Slot>,
    free: Vec<u32>,
    in_flight: usize,
    timers: BinaryHeap<Reverse<(u64, u32, u32, TimerKind)>>,
    pending_out: Vec<Completion>,
    req_buf: Vec<Request>,
    scratch: Box<[u8; READ_CHUNK_BYTES]>,
    stats: WorkerStats,
    tls: Option<TlsConfigs>,
    /// Every open socket's token and owner.
    tokens: Tokens,
    /// Keep-alive connections by target.
    pool: Pool<Idle>,
    /// Targets that gave a connection back (or a place for one) since the loop last woke
    /// their waiting checks.
    pool_wakes: Vec<u32>,
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
            slots: (0..in_flight_max).map(|_| Slot::new()).collect(),
            free: (0..in_flight_max as u32).rev().collect(),
            in_flight: 0,
            timers: BinaryHeap::with_capacity(in_flight_max * 2),
            pending_out: Vec::with_capacity(in_flight_max),
            req_buf: Vec::with_capacity(in_flight_max),
            scratch: Box::new([0u8; READ_CHUNK_BYTES]),
            stats: WorkerStats::default(),
            tls: None,
            tokens: Tokens::default(),
            pool: Pool::default(),
            pool_wakes: Vec::new(),
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
            if let Err(e) = self.poll.poll(&mut events, Some(self.poll_timeout())) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::say!("cpra: probe worker poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter() {
                let trouble = ev.is_error() || ev.is_read_closed() || ev.is_write_closed();
                match ev.token() {
                    WAKER => {}
                    ICMP4 => self.on_icmp_readable(false),
                    ICMP6 => self.on_icmp_readable(true),
                    token => self.on_event(token, trouble),
                }
            }
            self.apply_addr_updates();
            self.retry_resolving();
            if !stopping {
                self.take_requests();
            }
            self.fire_timers(self.now_us());
            self.drain_pool_wakes();
            self.flush_completions();
            self.assert_invariants();
        }
        self.flush_completions();
    }

    /// How long `poll` may sleep: until the next timer, at most `IDLE_POLL_MS`, 1 ms while
    /// completions wait for room in the engine's ring.
    fn poll_timeout(&self) -> Duration {
        let now = self.now_us();
        let mut timeout = Duration::from_millis(IDLE_POLL_MS);
        if let Some(Reverse((at, ..))) = self.timers.peek() {
            timeout = timeout.min(Duration::from_micros(at.saturating_sub(now)));
        }
        if !self.pending_out.is_empty() {
            timeout = timeout.min(Duration::from_millis(1));
        }
        timeout
    }

    /// The slab's bookkeeping adds up: every slot is free or in flight. In debug builds, also
    /// every open socket is held by exactly one slot or the keep-alive pool.
    fn assert_invariants(&self) {
        assert_eq!(self.free.len() + self.in_flight, self.slots.len());
        if cfg!(debug_assertions) {
            let held = self.slots.iter().filter(|s| s.state.token().is_some());
            assert_eq!(
                held.count() + self.pool.idle_len(),
                self.tokens.open_count()
            );
        }
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
            let now = self.now_us();
            self.start(req, now);
        }
    }

    /// Starts a check in a free slot: its deadline timer, then the first attempt.
    fn start(&mut self, req: Request, now: u64) {
        let Some(slot) = self.free.pop() else {
            return;
        };
        self.in_flight += 1;
        self.stats.started += 1;
        let known = (req.monitor as usize) < self.catalog.len();
        let (kind, retries) = match known {
            true => {
                let m = MonitorId(req.monitor);
                (
                    self.catalog.kinds[m.0 as usize],
                    self.catalog.spec(m).retries(),
                )
            }
            false => (ProbeKind::TCP, 0),
        };
        let c = &mut self.slots[slot as usize];
        assert!(
            !c.active && matches!(c.state, ConnState::Idle),
            "a free slot holds a check"
        );
        c.check_seq = c.check_seq.wrapping_add(1);
        c.active = true;
        c.req = req;
        c.kind = kind;
        c.started_us = now;
        c.deadline_us = req.deadline_us;
        c.attempts = 0;
        c.retries_left = retries;
        c.redirect = None;
        // No status from the slot's last check may reach this one's timeout (a DNS or ICMP
        // check never renders a request, which is where an attempt resets the judge).
        c.bufs.exchange.reset();
        if !known {
            self.finish(slot, Reason::Local, 0, now);
            return;
        }
        if now >= req.deadline_us {
            // The worker fell so far behind that the check's whole time budget passed before it
            // could start: not the target's fault. Reported as `local`.
            self.stats.not_started_late += 1;
            self.finish(slot, Reason::Local, 0, now);
            return;
        }
        let seq = c.check_seq;
        self.timers
            .push(Reverse((req.deadline_us, slot, seq, TimerKind::Deadline)));
        self.begin_attempt(slot, now);
    }

    /// Starts an attempt: finds where it goes, then the protocol's first state.
    fn begin_attempt(&mut self, slot: u32, now: u64) {
        let c = &mut self.slots[slot as usize];
        debug_assert!(
            c.active && c.state.token().is_none(),
            "an attempt over another"
        );
        if matches!(
            c.state,
            ConnState::Resolving | ConnState::PoolWait | ConnState::RetryWait
        ) {
            c.state = ConnState::Idle;
        }
        c.attempts = c.attempts.saturating_add(1);
        let addr = match self.destination(slot) {
            Dest::Ready(a) => a,
            Dest::Pending => {
                let c = &mut self.slots[slot as usize];
                c.state = ConnState::Resolving;
                c.attempts = c.attempts.saturating_sub(1);
                self.resolve_wait.push(slot);
                return;
            }
            Dest::Unknown => {
                self.finish(slot, Reason::Dns, 0, now);
                return;
            }
        };
        let c = &self.slots[slot as usize];
        match c.kind {
            ProbeKind::ICMP => self.begin_icmp(slot, addr.ip(), now),
            ProbeKind::DNS if !c.force_fresh => self.begin_dns_udp(slot, addr, now),
            _ => self.begin_stream(slot, addr, now),
        }
    }

    /// The attempt's destination: the monitor's target, or where a followed redirect leads
    /// (looked up by the resolver thread the first time).
    fn destination(&mut self, slot: u32) -> Dest {
        let c = &mut self.slots[slot as usize];
        let Some(r) = c.redirect.as_mut() else {
            let target = self.catalog.target_of[c.req.monitor as usize] as usize;
            let addr = self.addrs.get(target).copied().flatten();
            return addr.map_or(Dest::Unknown, Dest::Ready);
        };
        if let Some(a) = r.addr {
            return Dest::Ready(a);
        }
        let lookup = match (self.resolver.as_ref(), self.waker.as_ref()) {
            (Some(res), Some(w)) => res.lookup(&r.host, r.port, w),
            _ => Lookup::Failed("no resolver".into()),
        };
        match lookup {
            Lookup::Ready(a) => {
                r.addr = Some(a);
                Dest::Ready(a)
            }
            Lookup::Pending => Dest::Pending,
            Lookup::Failed(_) => Dest::Unknown,
        }
    }

    /// A TCP attempt (tcp, http, https, tls, DNS over TCP): a kept-alive connection if one is
    /// idle, else a new one, unless the target's keep-alive connections are all busy.
    fn begin_stream(&mut self, slot: u32, addr: SocketAddr, now: u64) {
        let keepalive = self.render_request(slot);
        let c = &self.slots[slot as usize];
        let target = self.catalog.target_of[c.req.monitor as usize];
        if keepalive
            && !c.force_fresh
            && let Some(idle) = self.take_idle(target, slot, now)
        {
            self.resume(slot, idle, now);
            return;
        }
        let c = &mut self.slots[slot as usize];
        c.force_fresh = false;
        let pooled = keepalive.then_some(target);
        if keepalive && !self.pool.admit(target) {
            // Every allowed connection is busy: wait for one (the deadline still runs).
            let c = &mut self.slots[slot as usize];
            c.state = ConnState::PoolWait;
            c.attempts = c.attempts.saturating_sub(1);
            self.pool.wait(target, slot, c.check_seq);
            return;
        }
        match self.open_conn(slot, addr, pooled) {
            Ok(conn) => self.slots[slot as usize].state = ConnState::Connecting(conn),
            Err(reason) => {
                if let Some(t) = pooled {
                    self.pool_place_freed(t, now);
                }
                self.fail(slot, reason, 0, now);
            }
        }
    }

    /// Renders the attempt's HTTP request into the slot's buffer and readies the judge.
    /// Returns whether the attempt uses keep-alive.
    fn render_request(&mut self, slot: u32) -> bool {
        let c = &mut self.slots[slot as usize];
        let m = MonitorId(c.req.monitor);
        let spec = self.catalog.spec(m);
        let keepalive = c.redirect.is_none() && matches!(spec, ProbeSpec::Http(h) if h.keepalive);
        c.bufs.rbuf.clear();
        c.bufs.exchange.reset_for(keepalive);
        c.bufs.wbuf.clear();
        if c.kind.is_http()
            && let ProbeSpec::Http(h) = spec
        {
            let wbuf = &mut c.bufs.wbuf;
            match c.redirect.as_ref() {
                None => {
                    let host = &self.catalog.target(m).host_header;
                    render_request_as(wbuf, h, false, host, self.catalog.path(m))
                }
                Some(r) => render_request_as(wbuf, h, r.as_get, &r.host_header(), &r.path),
            }
        }
        keepalive
    }

    /// Opens a connection for the check in `slot` and registers it under a new token.
    fn open_conn(
        &mut self,
        slot: u32,
        addr: SocketAddr,
        pooled: Option<u32>,
    ) -> Result<Conn, Reason> {
        let mut stream = tcp::connect(addr).map_err(|e| io_reason(&e))?;
        let token = self.tokens.open(Owner::Slot(slot)).ok_or(Reason::Local)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            self.tokens.close(token);
            return Err(io_reason(&e));
        }
        if pooled.is_some() {
            self.stats.opened += 1;
        }
        Ok(Conn::new(stream, token, pooled))
    }

    /// A socket event for `token`: the check that owns it moves on, or an idle connection the
    /// server closed is dropped from the pool.
    fn on_event(&mut self, token: Token, trouble: bool) {
        match self.tokens.owner(token) {
            None => {} // An event for a socket that is already gone.
            Some(Owner::Idle(target)) if trouble => self.drop_idle(target, token),
            Some(Owner::Idle(_)) => {}
            Some(Owner::Slot(slot)) => {
                debug_assert_eq!(self.slots[slot as usize].state.token(), Some(token));
                let now = self.now_us();
                self.advance(slot, trouble, now);
            }
        }
    }

    /// Runs the slot's state on what its socket has now, and acts on the step it returns.
    fn advance(&mut self, slot: u32, trouble: bool, now: u64) {
        let Worker {
            catalog,
            slots,
            scratch,
            dns_buf,
            ..
        } = self;
        let c = &mut slots[slot as usize];
        let spec = catalog.spec(MonitorId(c.req.monitor));
        if trouble && let Some(conn) = c.state.conn_mut() {
            conn.peer_closed = true;
        }
        let step = match &mut c.state {
            ConnState::Connecting(conn) => match tcp::connect_failure(&conn.io, trouble) {
                Some(r) => Step::Attempt(r, 0),
                None => Step::Connected,
            },
            ConnState::Http(h) => match spec {
                ProbeSpec::Http(p) => h.advance(&mut c.bufs, p, &mut scratch[..]),
                _ => Step::Final(Reason::Protocol, 0),
            },
            ConnState::Tls(t) => {
                let (bufs, days) = (&mut c.bufs, &mut c.cert_days);
                t.advance(
                    c.kind,
                    spec,
                    bufs,
                    &mut scratch[..],
                    SystemTime::now(),
                    days,
                )
            }
            ConnState::DnsUdp(d) => d.advance(dns_buf),
            ConnState::DnsTcp(d) => d.advance(&c.bufs.wbuf, &mut scratch[..]),
            ConnState::Idle
            | ConnState::Resolving
            | ConnState::PoolWait
            | ConnState::RetryWait
            | ConnState::Icmp(_) => Step::Wait,
        };
        self.apply(slot, step, now);
    }

    /// Carries out what a state decided.
    fn apply(&mut self, slot: u32, step: Step, now: u64) {
        match step {
            Step::Wait => {}
            Step::Connected => self.on_connected(slot, now),
            Step::Response(reason, status) => self.verdict(slot, reason, status, now),
            Step::Attempt(Reason::Ok, status) => self.finish(slot, Reason::Ok, status, now),
            Step::Attempt(reason, status) => self.fail(slot, reason, status, now),
            Step::Final(reason, status) => self.finish(slot, reason, status, now),
            Step::OverTcp => {
                self.settle(slot, now, false);
                let c = &mut self.slots[slot as usize];
                c.force_fresh = true; // begin_attempt asks over TCP instead of UDP
                c.attempts = c.attempts.saturating_sub(1);
                self.begin_attempt(slot, now);
            }
        }
    }

    /// The connection is up: a tcp check ends; the others go on to their protocol's state.
    fn on_connected(&mut self, slot: u32, now: u64) {
        let kind = self.slots[slot as usize].kind;
        if kind == ProbeKind::TCP {
            self.finish(slot, Reason::Ok, 0, now);
            return;
        }
        let state = std::mem::replace(&mut self.slots[slot as usize].state, ConnState::Idle);
        let ConnState::Connecting(conn) = state else {
            unreachable!("connected without connecting");
        };
        let next = match kind {
            ProbeKind::DNS => match self.dns_check(slot, now) {
                Ok(check) => {
                    let wbuf = &mut self.slots[slot as usize].bufs.wbuf;
                    wbuf.clear();
                    check.query_tcp(wbuf);
                    Ok(ConnState::DnsTcp(DnsTcp::new(conn, check)))
                }
                Err(step) => Err((conn, step)),
            },
            k if k.is_tls() => match self.tls_session(slot) {
                Some(s) => Ok(ConnState::Tls(Box::new(Tls::handshake(conn, s)))),
                None => Err((conn, Step::Attempt(Reason::Tls, 0))),
            },
            _ => Ok(ConnState::Http(Http::new(conn))),
        };
        match next {
            Ok(state) => {
                self.slots[slot as usize].state = state;
                // Edge-triggered: nothing new would come; the request goes out now.
                self.advance(slot, false, now);
            }
            Err((conn, step)) => {
                self.slots[slot as usize].state = ConnState::Connecting(conn);
                self.apply(slot, step, now);
            }
        }
    }

    /// An HTTP response was judged: follow a redirect if the monitor allows it, else end the
    /// attempt with the verdict.
    fn verdict(&mut self, slot: u32, reason: Reason, status: u16, now: u64) {
        if matches!(status, 301 | 302 | 303 | 307 | 308) && self.follow_redirect(slot, status, now)
        {
            return;
        }
        if reason == Reason::Ok {
            self.finish(slot, reason, status, now);
        } else {
            self.fail(slot, reason, status, now);
        }
    }

    /// An attempt failed: retry after the pause if retries and time remain, else finish.
    fn fail(&mut self, slot: u32, reason: Reason, status: u16, now: u64) {
        let c = &mut self.slots[slot as usize];
        if c.on_reused_conn() && !c.bufs.exchange.saw_bytes() && reason != Reason::Timeout {
            // A kept-alive connection the server had already dropped: once, at once, on a
            // fresh connection, without using up a retry.
            c.force_fresh = true;
            c.attempts = c.attempts.saturating_sub(1);
            self.settle(slot, now, false);
            self.begin_attempt(slot, now);
            return;
        }
        let pause_us = CHECK_RETRY_PAUSE_MS * 1000;
        let retry = reason != Reason::Local
            && reason != Reason::Dns
            && c.retries_left > 0
            && now + pause_us < c.deadline_us;
        if !retry {
            self.finish(slot, reason, status, now);
            return;
        }
        c.retries_left -= 1;
        let seq = c.check_seq;
        self.settle(slot, now, false);
        self.slots[slot as usize].state = ConnState::RetryWait;
        self.timers
            .push(Reverse((now + pause_us, slot, seq, TimerKind::Retry)));
    }

    /// Ends the check in `slot` with a verdict: exactly once per check.
    fn finish(&mut self, slot: u32, reason: Reason, status: u16, now: u64) {
        let c = &self.slots[slot as usize];
        debug_assert!(c.active, "finishing a slot with no check");
        if !c.active {
            return;
        }
        let done = self.completion(slot, reason, status, now);
        self.pending_out.push(done);
        let c = &self.slots[slot as usize];
        let reusable = c.bufs.exchange.reusable() && c.state.reusable_conn();
        self.settle(slot, now, reusable);
        let c = &mut self.slots[slot as usize];
        c.cert_days = NO_CERT;
        c.force_fresh = false;
        c.check_seq = c.check_seq.wrapping_add(1); // invalidates this check's timers
        c.active = false;
        c.attempts = 0;
        c.state = ConnState::Idle;
        self.free.push(slot);
        self.in_flight -= 1;
        self.stats.finished += 1;
        assert_eq!(self.free.len() + self.in_flight, self.slots.len());
    }

    /// The completion of the check in `slot`: latency (an ICMP check's round trip), `slow`
    /// when a successful response took longer than allowed.
    fn completion(&self, slot: u32, mut reason: Reason, status: u16, now: u64) -> Completion {
        let c = &self.slots[slot as usize];
        let mut latency_us = now.saturating_sub(c.started_us);
        if let ConnState::Icmp(i) = &c.state
            && let Some(rtt) = i.check.verdict().2
        {
            latency_us = u64::from(rtt);
        }
        if reason == Reason::Ok
            && (c.req.monitor as usize) < self.catalog.len()
            && let ProbeSpec::Http(h) = self.catalog.spec(MonitorId(c.req.monitor))
            && h.max_response_time_us > 0
            && latency_us > h.max_response_time_us
        {
            reason = Reason::Slow;
        }
        Completion {
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
        }
    }

    /// Takes the slot's state out and lets go of what it holds: a connection is parked in the
    /// keep-alive pool (`reusable`) or closed, a UDP socket closed, an ICMP check's echoes
    /// forgotten. The one place a check's socket closes, so its token is always freed with it.
    fn settle(&mut self, slot: u32, now: u64, reusable: bool) {
        let state = std::mem::replace(&mut self.slots[slot as usize].state, ConnState::Idle);
        match state {
            ConnState::Connecting(conn)
            | ConnState::Http(Http { conn, .. })
            | ConnState::DnsTcp(DnsTcp { conn, .. }) => match reusable {
                true => self.park(Idle::Plain(conn), now),
                false => self.close(conn, now),
            },
            ConnState::Tls(t) => match reusable {
                true => self.park(Idle::Tls(t), now),
                false => self.close(t.conn, now),
            },
            ConnState::DnsUdp(DnsUdp { token, .. }) => self.tokens.close(token),
            ConnState::Icmp(i) => self.end_icmp(slot, i),
            ConnState::Idle | ConnState::Resolving | ConnState::PoolWait | ConnState::RetryWait => {
            }
        }
    }

    /// Closes a connection (linger 0: no TIME_WAIT on our side); a keep-alive one frees its
    /// place for a waiting check.
    fn close(&mut self, conn: Conn, now: u64) {
        self.tokens.close(conn.token);
        drop(conn.io);
        if let Some(target) = conn.pooled {
            self.pool_place_freed(target, now);
        }
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some(Reverse((at, slot, seq, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let c = &self.slots[slot as usize];
            if c.check_seq != seq || !c.active {
                continue; // That check already ended.
            }
            match kind {
                TimerKind::Deadline => {
                    let (reason, status) = match &c.state {
                        ConnState::Icmp(i) => {
                            let (reason, loss, _) = i.check.verdict();
                            (reason, u16::from(loss))
                        }
                        _ if c.kind == ProbeKind::ICMP => (Reason::IcmpLoss, 100),
                        _ => (Reason::Timeout, c.bufs.exchange.status()),
                    };
                    self.finish(slot, reason, status, now);
                }
                TimerKind::IcmpStep => self.icmp_step(slot, now),
                TimerKind::Retry => {
                    if matches!(c.state, ConnState::RetryWait) {
                        self.begin_attempt(slot, now);
                    }
                }
            }
        }
    }
}
