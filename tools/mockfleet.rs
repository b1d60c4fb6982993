//! mockfleet: a fleet of misbehaving HTTP/TCP targets on loopback, the load-test target for cpra.
//!
//! `mockfleet --hosts 16 --ports 64 --mix healthy=90,500=2,hang=1 --control 127.0.0.1:17999`
//!
//! What it owns: serving `/t/{id}` on every `(127.0.0.x, port)` pair of a [`Fleet`], each id
//! behaving as [`Fleet::behaviour_of`] says (or as a run-time override says), a control
//! endpoint (stats, kill/revive/set/clear, ground truth) and nothing else. The model itself
//! (which id does what, where it listens, when a flapping id fails) lives in `cpra::fleet`, so
//! `genmonitors`, `mockfleet` and `loadtest` agree by construction.
//!
//! Why it is shaped so:
//! - Many addresses and ports: a million fresh connections a minute to one `ip:port` would run
//!   the client out of 4-tuples; spreading over 127.0.0.0/8 and a port range does not.
//! - One `mio::Poll` per thread, every thread binding every listener with `SO_REUSEPORT`, so
//!   the kernel spreads even a one-port fleet over all threads (when listeners × threads would
//!   eat more than a quarter of the descriptor budget, listeners are split across threads
//!   instead). Thread 0 also serves the control listener.
//! - Connections are poll-driven state machines in a per-thread slab; slots keep their buffers
//!   when reused, and a complete request head is parsed straight from a per-thread scratch
//!   buffer, so the healthy path allocates nothing once the slab has grown. Every connection
//!   has a deadline (head read, then a lifetime cap) checked by a once-a-second sweep; the
//!   precise timers (slow replies, trickled bytes) are a per-thread binary heap.
//! - Bounded: at most `REQUEST_HEAD_BYTES_MAX` of request head per connection, open
//!   connections capped by the open-file limit (raised to the hard limit at start); at the cap
//!   a thread stops accepting and retries every `PAUSED_RETRY_MS`.
//! - Overrides (kill/revive/set) are rare and shared: writers bump a generation under a mutex,
//!   each thread compares that generation with one atomic load per request and copies the map
//!   only when it changed, so the hot path never takes a lock.
//! - Closing: a normal reply ends with an orderly close (FIN), not `SO_LINGER 0`. The server
//!   closes first, so TIME_WAIT lands on the server side, keyed by the client's 4-tuple; it
//!   costs no ports (the server's port is fixed) and the kernel caps it at
//!   `tcp_max_tw_buckets`. cpra's probes close with linger 0 themselves, which leaves no
//!   TIME_WAIT on either side. An RST on every reply would make healthy targets look like
//!   `reset` to any client that reads to end of stream, so RST is kept for the reset behaviour.
//!   Measured with wrk (`Connection: close`, 1 thread): FIN and linger-0 closes served the
//!   same rate within noise; server-side TIME_WAIT stayed at ~14k (a SYN reusing a client port
//!   recycles the entry), so there was nothing to win.
//! - `SO_REUSEPORT` would let a second mockfleet of the same user share our ports silently;
//!   each address is first bound once without it, so a taken port fails loudly instead.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use cpra::config::parse_go_duration;
use cpra::fleet::{Behaviour, Fleet, mix64, parse_mix};
use crossbeam_utils::CachePadded;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustc_hash::FxHashMap;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

// -- limits, named once --

/// Bytes of request head read before the request is judged bad and the connection closed.
const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Headers parsed from one request; more is a bad request.
const REQUEST_HEADERS_COUNT_MAX: usize = 32;
/// Time a client has, from accept, to send its whole request head.
const REQUEST_HEAD_TIMEOUT_MS: u64 = 10_000;
/// Longest a connection stays open after its request (hang, a stalled reader of a huge body,
/// a trickle, a slow reply), on top of the behaviour's own delay.
const CONN_LIFETIME_MS_MAX: u64 = 5 * 60 * 1000;
/// Descriptors kept back from the open-file limit for everything that is not a connection or
/// a listener (epoll, wakers, stdio, control connections).
const FD_RESERVE: usize = 256;
/// Control connections open at once (they do not count against the connection cap).
const CONTROL_CONNS_MAX: usize = 64;
/// How often each thread closes connections past their deadline.
const SWEEP_INTERVAL_MS: u64 = 1000;
/// Poll timeout while a thread is at its connection cap and not accepting.
const PAUSED_RETRY_MS: u64 = 10;
/// Bytes of garbage sent by a garbage target.
const GARBAGE_BYTES: usize = 4096;
/// Bytes of a huge body written per `write` call.
const HUGE_CHUNK_BYTES: usize = 64 * 1024;
/// Events taken from one `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Listen backlog requested (the kernel clamps it to `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;
/// Override changes kept for `/truth` (about 32 bytes each); later ones are counted as
/// dropped, and `/truth` says so.
const OVERRIDE_EVENTS_MAX: usize = 1_000_000;
/// Output buffer capacity a reused slot keeps (a `/truth` reply may have grown it).
const OUT_BYTES_KEEP_MAX: usize = 64 * 1024;
/// Share of the descriptor budget (1/N) that per-thread `SO_REUSEPORT` listeners may use
/// before listeners are split across threads instead.
const REUSEPORT_FD_SHARE_DIVISOR: usize = 4;

/// The trickled reply: a complete, valid ~40-byte head (see `Fleet::failing`).
const TRICKLE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
/// The reset behaviour's partial head, sent before the RST.
const RESET_PARTIAL_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Ty";
const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static HUGE_CHUNK: [u8; HUGE_CHUNK_BYTES] = [b'x'; HUGE_CHUNK_BYTES];

const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const CONTROL_TOKEN: Token = Token(usize::MAX - 2);
/// Listener k of a thread has token `LISTENER_TOKEN_BASE + k`; connections are slot indices.
const LISTENER_TOKEN_BASE: usize = 1 << 40;

#[derive(Parser, Debug)]
#[command(
    name = "mockfleet",
    about = "Serve a fleet of healthy and misbehaving HTTP targets on loopback (cpra's load-test target)"
)]
struct Args {
    /// Seed of the behaviour choice (same as genmonitors and loadtest).
    #[arg(long, default_value_t = Fleet::default().seed)]
    seed: u64,
    /// Behaviour weights, e.g. healthy=90,500=2,hang=1. Names: healthy 500 503 slow hang
    /// refused reset flapping trickle huge garbage. Default: all healthy.
    #[arg(long)]
    mix: Option<String>,
    /// Loopback addresses served: 127.0.0.1, 127.0.0.2, ...
    #[arg(long, default_value_t = Fleet::default().hosts)]
    hosts: u32,
    /// First port served on each address.
    #[arg(long, default_value_t = Fleet::default().port_base)]
    port_base: u16,
    /// Ports served per address (refused targets point one past them).
    #[arg(long, default_value_t = Fleet::default().ports)]
    ports: u16,
    /// Delay of a slow target's reply.
    #[arg(long, default_value_t = Fleet::default().slow_ms)]
    slow_ms: u64,
    /// Half-period of a flapping target (up this long, then down this long).
    #[arg(long, default_value_t = Fleet::default().flap_period_ms)]
    flap_period_ms: u64,
    /// Pause between the bytes of a trickling target's head.
    #[arg(long, default_value_t = Fleet::default().trickle_byte_ms)]
    trickle_byte_ms: u64,
    /// Body length of a huge target.
    #[arg(long, default_value_t = Fleet::default().huge_bytes)]
    huge_bytes: u64,
    /// Control endpoint (plain HTTP), e.g. 127.0.0.1:17999; port 0 picks one (printed).
    #[arg(long)]
    control: Option<SocketAddr>,
    /// Serving threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Stop after this long (Go syntax: 90s, 5m, 1h30m). Default: until SIGINT/SIGTERM.
    #[arg(long = "for")]
    run_for: Option<String>,
    /// Print `id behaviour address` for ids 0..N and exit.
    #[arg(long)]
    print_truth: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mockfleet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fleet_from(a: &Args) -> Result<Fleet, String> {
    let mix = match &a.mix {
        Some(s) => parse_mix(s).map_err(|e| format!("--mix: {e}"))?,
        None => Fleet::default().mix,
    };
    if a.hosts == 0 || a.ports == 0 {
        return Err("--hosts and --ports must be at least 1".into());
    }
    if u32::from(a.port_base) + u32::from(a.ports) > u32::from(u16::MAX) {
        return Err(format!(
            "--port-base {} + --ports {} leaves no port for refused targets (max 65535)",
            a.port_base, a.ports
        ));
    }
    if a.hosts >= (1 << 24) - 2 {
        return Err("--hosts must stay inside 127.0.0.0/8".into());
    }
    Ok(Fleet {
        seed: a.seed,
        mix,
        hosts: a.hosts,
        port_base: a.port_base,
        ports: a.ports,
        slow_ms: a.slow_ms,
        flap_period_ms: a.flap_period_ms,
        trickle_byte_ms: a.trickle_byte_ms,
        huge_bytes: a.huge_bytes,
    })
}

fn run(args: Args) -> Result<(), String> {
    let fleet = fleet_from(&args)?;
    if let Some(n) = args.print_truth {
        return print_truth(&fleet, n).map_err(|e| format!("writing the truth: {e}"));
    }
    let run_for = match &args.run_for {
        Some(s) => Some(parse_go_duration(s).map_err(|e| format!("--for: {e}"))?),
        None => None,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let nofile = raise_nofile_limit();
    let listeners = usize::try_from(fleet.listeners()).unwrap_or(usize::MAX);
    let budget = nofile.saturating_sub(FD_RESERVE);
    let reuseport = listeners.saturating_mul(threads) <= budget / REUSEPORT_FD_SHARE_DIVISOR;
    let listener_fds = if reuseport {
        listeners * threads
    } else {
        listeners
    };
    if listener_fds >= budget / 2 {
        return Err(format!(
            "{listeners} listeners leave too few of the {nofile} file descriptors for \
             connections; use fewer --hosts or --ports, or raise `ulimit -n`"
        ));
    }
    let conns_max = (budget - listener_fds) / threads;

    // Bind everything before saying we listen.
    let mut per_thread: Vec<Vec<TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..fleet.listeners() {
        let (ip, port) = fleet.listener(i);
        let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
        if reuseport {
            // SO_REUSEPORT would silently share a port with another mockfleet of this user
            // (each getting part of the connections); a plain bind first refuses that.
            drop(bind(addr, false).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
            for list in per_thread.iter_mut() {
                list.push(bind(addr, true).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
            }
        } else {
            let l = bind(addr, false).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            per_thread[(i % threads as u64) as usize].push(l);
        }
    }
    let mut control = match args.control {
        Some(addr) => {
            Some(bind(addr, false).map_err(|e| format!("cannot listen on --control {addr}: {e}"))?)
        }
        None => None,
    };
    let control_addr = match &control {
        Some(l) => l
            .local_addr()
            .map(|a| a.to_string())
            .map_err(|e| format!("control listener: {e}"))?,
        None => "off".to_string(),
    };

    let shared = Arc::new(Shared {
        fleet: fleet.clone(),
        started: Instant::now(),
        started_unix_ms: unix_ms(),
        stop: AtomicBool::new(false),
        overrides: Overrides::default(),
        stats: (0..threads)
            .map(|_| CachePadded::new(ThreadStats::default()))
            .collect(),
        conns_max_per_thread: conns_max,
        threads,
    });

    let mut wakers = Vec::new();
    let mut handles = Vec::new();
    for (t, listeners) in per_thread.into_iter().enumerate() {
        let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER_TOKEN).map_err(|e| format!("waker: {e}"))?);
        wakers.push(waker);
        let mut w = Worker::new(t, shared.clone(), poll, listeners, control.take())
            .map_err(|e| format!("registering listeners: {e}"))?;
        let h = std::thread::Builder::new()
            .name(format!("mockfleet-{t}"))
            .spawn(move || w.run())
            .map_err(|e| format!("spawning a thread: {e}"))?;
        handles.push(h);
    }

    let first = fleet.listener(0);
    let last = fleet.listener(fleet.listeners() - 1);
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "mockfleet: listening on {} addresses ({}..{} x ports {}..{}, {} threads{}), control on {}",
        fleet.listeners(),
        first.0,
        last.0,
        fleet.port_base,
        u32::from(fleet.port_base) + u32::from(fleet.ports) - 1,
        threads,
        if reuseport { ", SO_REUSEPORT" } else { "" },
        control_addr
    );
    let _ = out.flush();
    drop(out);

    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, signalled.clone())
            .map_err(|e| format!("installing the signal handler: {e}"))?;
    }
    let deadline = run_for.map(|d| Instant::now() + d);
    while !signalled.load(Ordering::Relaxed)
        && deadline.is_none_or(|d| Instant::now() < d)
        && !handles.iter().any(|h| h.is_finished())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    shared.stop.store(true, Ordering::Release);
    for w in &wakers {
        let _ = w.wake();
    }
    let mut failed = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some("a serving thread panicked".to_string()),
        }
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{}", shared.stats_json());
    let _ = out.flush();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn print_truth(fleet: &Fleet, n: u64) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    for id in 0..n {
        let (ip, port) = fleet.address_of(id);
        writeln!(w, "{id} {} {ip}:{port}", fleet.behaviour_of(id).name())?;
    }
    w.flush()
}

/// Raises the soft open-file limit to the hard one; returns the limit in force.
fn raise_nofile_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                usize::try_from(hard).unwrap_or(usize::MAX)
            } else {
                usize::try_from(soft).unwrap_or(usize::MAX)
            }
        }
        Err(_) => 1024,
    }
}

fn bind(addr: SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuseport {
        s.set_reuse_port(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(s.into()))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// -- shared state: stats and overrides --

#[derive(Default)]
struct ThreadStats {
    accepted: AtomicU64,
    open: AtomicU64,
    /// Requests per effective behaviour, indexed by `Behaviour as usize` (the order of `ALL`).
    requests: [AtomicU64; Behaviour::ALL.len()],
    not_found: AtomicU64,
    bad_requests: AtomicU64,
    control_requests: AtomicU64,
    /// Times this thread reached its connection cap (or the descriptor limit) and stopped
    /// accepting for a while.
    cap_pauses: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Clone, Copy)]
struct Override {
    behaviour: Behaviour,
    since_unix_ms: u64,
}

/// From `since_unix_ms` on, target `id` behaves as `behaviour` (for a clear: its behaviour
/// in the fleet).
struct OverrideEvent {
    id: u64,
    behaviour: Behaviour,
    cleared: bool,
    since_unix_ms: u64,
}

#[derive(Default)]
struct OverrideLog {
    map: FxHashMap<u64, Override>,
    events: Vec<OverrideEvent>,
    events_dropped: u64,
}

#[derive(Default)]
struct Overrides {
    /// Bumped (under the mutex) on every change; threads compare it per request.
    generation: AtomicU64,
    log: Mutex<OverrideLog>,
}

impl Overrides {
    fn lock(&self) -> MutexGuard<'_, OverrideLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (`Some`) or clears (`None`) the override of `id`, whose behaviour in the fleet is
    /// `base`; returns when it took effect.
    fn set(&self, id: u64, behaviour: Option<Behaviour>, base: Behaviour) -> u64 {
        let mut log = self.lock();
        let at = unix_ms();
        match behaviour {
            Some(b) => {
                log.map.insert(
                    id,
                    Override {
                        behaviour: b,
                        since_unix_ms: at,
                    },
                );
            }
            None => {
                log.map.remove(&id);
            }
        }
        if log.events.len() < OVERRIDE_EVENTS_MAX {
            log.events.push(OverrideEvent {
                id,
                behaviour: behaviour.unwrap_or(base),
                cleared: behaviour.is_none(),
                since_unix_ms: at,
            });
        } else {
            log.events_dropped += 1;
        }
        self.generation.fetch_add(1, Ordering::Release);
        at
    }
}

struct Shared {
    fleet: Fleet,
    started: Instant,
    started_unix_ms: u64,
    stop: AtomicBool,
    overrides: Overrides,
    stats: Vec<CachePadded<ThreadStats>>,
    conns_max_per_thread: usize,
    threads: usize,
}

impl Shared {
    fn stats_json(&self) -> serde_json::Value {
        let sum = |f: &dyn Fn(&ThreadStats) -> &AtomicU64| -> u64 {
            self.stats
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum()
        };
        let mut requests = serde_json::Map::new();
        for (i, b) in Behaviour::ALL.iter().enumerate() {
            requests.insert(b.name().into(), sum(&|s| &s.requests[i]).into());
        }
        serde_json::json!({
            "uptime_s": (self.started.elapsed().as_millis() as f64) / 1000.0,
            "connections": sum(&|s| &s.accepted),
            "open": sum(&|s| &s.open),
            "requests": requests,
            "not_found": sum(&|s| &s.not_found),
            "bad_requests": sum(&|s| &s.bad_requests),
            "control_requests": sum(&|s| &s.control_requests),
            "cap_pauses": sum(&|s| &s.cap_pauses),
            "overrides": self.overrides.lock().map.len(),
            "threads": self.threads,
            "connections_max": self.conns_max_per_thread * self.threads,
        })
    }

    fn truth_json(&self) -> serde_json::Value {
        let f = &self.fleet;
        let mix: Vec<String> = f
            .mix
            .iter()
            .map(|(b, w)| format!("{}={w}", b.name()))
            .collect();
        let log = self.overrides.lock();
        let mut active: Vec<(&u64, &Override)> = log.map.iter().collect();
        active.sort_unstable_by_key(|(id, _)| **id);
        let active: Vec<serde_json::Value> = active
            .into_iter()
            .map(|(id, o)| {
                serde_json::json!({
                    "id": id,
                    "behaviour": o.behaviour.name(),
                    "since_unix_ms": o.since_unix_ms,
                })
            })
            .collect();
        let history: Vec<serde_json::Value> = log
            .events
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id,
                    "behaviour": e.behaviour.name(),
                    "since_unix_ms": e.since_unix_ms,
                    "cleared": e.cleared,
                })
            })
            .collect();
        serde_json::json!({
            "fleet": {
                "seed": f.seed,
                "mix": mix.join(","),
                "hosts": f.hosts,
                "port_base": f.port_base,
                "ports": f.ports,
                "refused_port": u32::from(f.port_base) + u32::from(f.ports),
                "slow_ms": f.slow_ms,
                "flap_period_ms": f.flap_period_ms,
                "trickle_byte_ms": f.trickle_byte_ms,
                "huge_bytes": f.huge_bytes,
            },
            "started_unix_ms": self.started_unix_ms,
            "now_unix_ms": unix_ms(),
            // Every change in order: from since_unix_ms on, id behaves as behaviour.
            "overrides": history,
            "overrides_dropped": log.events_dropped,
            // The overrides in force now.
            "active": active,
        })
    }
}

// -- requests --

#[derive(Debug, PartialEq)]
enum ControlCmd {
    Stats,
    Truth,
    /// `Some`: set this behaviour; `None`: clear the override.
    Override(u64, Option<Behaviour>),
    BadBehaviour(String),
    MethodNotAllowed,
    NotFound,
}

#[derive(Debug, PartialEq)]
enum Route {
    Target(u64),
    NotFound,
    Control(ControlCmd),
}

#[derive(Debug, PartialEq)]
enum Head {
    Partial,
    Bad,
    Done(Route),
}

fn parse_head(buf: &[u8], control: bool) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS_COUNT_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Bad,
    }
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if control {
        return Head::Done(Route::Control(control_cmd(method, path)));
    }
    match path
        .strip_prefix("/t/")
        .and_then(|id| id.parse::<u64>().ok())
    {
        Some(id) => Head::Done(Route::Target(id)),
        None => Head::Done(Route::NotFound),
    }
}

fn control_cmd(method: &str, path: &str) -> ControlCmd {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<u64>().ok();
    let (want_post, cmd) = match parts.as_slice() {
        ["stats"] => (false, ControlCmd::Stats),
        ["truth"] => (false, ControlCmd::Truth),
        ["kill", i] if id(i).is_some() => (
            true,
            ControlCmd::Override(id(i).unwrap_or(0), Some(Behaviour::Status503)),
        ),
        ["revive", i] if id(i).is_some() => (
            true,
            ControlCmd::Override(id(i).unwrap_or(0), Some(Behaviour::Healthy)),
        ),
        ["clear", i] if id(i).is_some() => (true, ControlCmd::Override(id(i).unwrap_or(0), None)),
        ["set", i, b] if id(i).is_some() => match Behaviour::from_name(b) {
            Some(b) => (true, ControlCmd::Override(id(i).unwrap_or(0), Some(b))),
            None => (true, ControlCmd::BadBehaviour((*b).to_string())),
        },
        _ => return ControlCmd::NotFound,
    };
    let ok = if want_post {
        method == "POST"
    } else {
        method == "GET" || method == "HEAD"
    };
    if ok {
        cmd
    } else {
        ControlCmd::MethodNotAllowed
    }
}

/// Appends a complete response (head with Content-Length and `Connection: close`, then body).
fn put_response(out: &mut Vec<u8>, status: &str, content_type: &str, body: &[u8]) {
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// Appends a small JSON reply `{"id":N,"status":"ok"}` (or "error") without allocating.
fn put_target_reply(out: &mut Vec<u8>, status: &str, id: u64, ok: bool) {
    let mut body = [0u8; 64];
    let mut cur = io::Cursor::new(&mut body[..]);
    let word = if ok { "ok" } else { "error" };
    let _ = write!(cur, "{{\"id\":{id},\"status\":\"{word}\"}}");
    let n = cur.position() as usize;
    put_response(out, status, "application/json", &body[..n]);
}

// -- the per-thread event loop --

#[derive(Debug, Clone, Copy, PartialEq)]
enum After {
    Close,
    Reset,
    /// Stream a body of this many bytes.
    Body(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Free,
    ReadHead,
    /// Writing `out[pos..]`, then this.
    Write(After),
    /// Streaming a huge body; bytes left.
    Body(u64),
    /// Waiting for the slow timer.
    Slow,
    Hang,
    /// One byte of `out` per timer.
    Trickle,
}

struct Conn {
    stream: Option<TcpStream>,
    /// Bumped on every close, so a timer of a previous connection in this slot is ignored.
    generation: u32,
    state: State,
    control: bool,
    id: u64,
    /// Request head bytes, only when the head did not arrive in one read.
    head: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    deadline_ms: u64,
    /// Registered for WRITABLE as well as READABLE.
    writable: bool,
}

struct Worker {
    index: usize,
    shared: Arc<Shared>,
    poll: Poll,
    listeners: Vec<TcpListener>,
    control: Option<TcpListener>,
    conns: Vec<Conn>,
    free: Vec<u32>,
    open: usize,
    control_open: usize,
    paused: bool,
    /// `paused` has been counted in `cap_pauses` (a pause counts once, not once per retry).
    pause_counted: bool,
    /// `(when_ms, slot, generation)`.
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    epoch: Instant,
    now_ms: u64,
    next_sweep_ms: u64,
    override_generation: u64,
    overrides: FxHashMap<u64, Behaviour>,
    scratch: Box<[u8]>,
    rng: u64,
}

impl Worker {
    fn new(
        index: usize,
        shared: Arc<Shared>,
        poll: Poll,
        mut listeners: Vec<TcpListener>,
        mut control: Option<TcpListener>,
    ) -> io::Result<Worker> {
        for (k, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, Token(LISTENER_TOKEN_BASE + k), Interest::READABLE)?;
        }
        if let Some(l) = control.as_mut() {
            poll.registry()
                .register(l, CONTROL_TOKEN, Interest::READABLE)?;
        }
        let rng = mix64(shared.fleet.seed ^ index as u64);
        Ok(Worker {
            index,
            shared,
            poll,
            listeners,
            control,
            conns: Vec::new(),
            free: Vec::new(),
            open: 0,
            control_open: 0,
            paused: false,
            pause_counted: false,
            timers: BinaryHeap::new(),
            epoch: Instant::now(),
            now_ms: 0,
            next_sweep_ms: SWEEP_INTERVAL_MS,
            override_generation: 0,
            overrides: FxHashMap::default(),
            scratch: vec![0u8; REQUEST_HEAD_BYTES_MAX].into_boxed_slice(),
            rng,
        })
    }

    fn stats(&self) -> &ThreadStats {
        &self.shared.stats[self.index]
    }

    fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !self.shared.stop.load(Ordering::Acquire) {
            let mut wait_ms = self.next_sweep_ms.saturating_sub(self.now_ms);
            if let Some(Reverse((when, _, _))) = self.timers.peek() {
                wait_ms = wait_ms.min(when.saturating_sub(self.now_ms));
            }
            if self.paused {
                wait_ms = wait_ms.min(PAUSED_RETRY_MS);
            }
            match self
                .poll
                .poll(&mut events, Some(Duration::from_millis(wait_ms)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("poll: {e}")),
            }
            self.now_ms = self.epoch.elapsed().as_millis() as u64;
            for ev in events.iter() {
                match ev.token() {
                    WAKER_TOKEN => {}
                    CONTROL_TOKEN => self.accept_control(),
                    Token(t) if t >= LISTENER_TOKEN_BASE => {
                        self.accept(t - LISTENER_TOKEN_BASE);
                    }
                    Token(slot) => self.on_event(slot as u32),
                }
            }
            self.fire_timers();
            if self.now_ms >= self.next_sweep_ms {
                self.sweep();
                self.next_sweep_ms = self.now_ms + SWEEP_INTERVAL_MS;
            }
            if self.paused {
                // Retry every listener; `accept` pauses again if still at the cap.
                self.paused = false;
                for k in 0..self.listeners.len() {
                    self.accept(k);
                }
                if self.control.is_some() {
                    self.accept_control();
                }
            }
            if self.paused && !self.pause_counted {
                bump(&self.stats().cap_pauses);
            }
            self.pause_counted = self.paused;
        }
        Ok(())
    }

    fn accept(&mut self, k: usize) {
        loop {
            if self.open >= self.shared.conns_max_per_thread {
                self.paused = true;
                return;
            }
            match self.listeners[k].accept() {
                Ok((stream, _)) => self.add(stream, false),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => {
                    // EMFILE/ENFILE/ENOBUFS: back off and retry like at the cap.
                    self.paused = true;
                    return;
                }
            }
        }
    }

    fn accept_control(&mut self) {
        loop {
            if self.control_open >= CONTROL_CONNS_MAX {
                // Remaining control clients wait in the backlog for the next event or retry.
                self.paused = true;
                return;
            }
            let Some(l) = self.control.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((stream, _)) => self.add(stream, true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => return,
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream, control: bool) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.conns.push(Conn {
                    stream: None,
                    generation: 0,
                    state: State::Free,
                    control: false,
                    id: 0,
                    head: Vec::new(),
                    out: Vec::new(),
                    pos: 0,
                    deadline_ms: 0,
                    writable: false,
                });
                (self.conns.len() - 1) as u32
            }
        };
        if self
            .poll
            .registry()
            .register(&mut stream, Token(slot as usize), Interest::READABLE)
            .is_err()
        {
            self.free.push(slot);
            return;
        }
        let c = &mut self.conns[slot as usize];
        debug_assert!(c.state == State::Free && c.stream.is_none());
        c.stream = Some(stream);
        c.state = State::ReadHead;
        c.control = control;
        c.deadline_ms = self.now_ms + REQUEST_HEAD_TIMEOUT_MS;
        if control {
            self.control_open += 1;
        } else {
            self.open += 1;
            let s = &self.shared.stats[self.index];
            bump(&s.accepted);
            bump(&s.open);
        }
    }

    fn close(&mut self, slot: u32, rst: bool) {
        let c = &mut self.conns[slot as usize];
        if c.state == State::Free {
            return;
        }
        if let Some(s) = c.stream.take() {
            if rst {
                let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
            // Dropping closes the descriptor, which also removes it from the epoll set.
            drop(s);
        }
        c.state = State::Free;
        c.generation = c.generation.wrapping_add(1);
        c.head.clear();
        c.out.clear();
        if c.out.capacity() > OUT_BYTES_KEEP_MAX {
            c.out.shrink_to(OUT_BYTES_KEEP_MAX);
        }
        c.pos = 0;
        c.writable = false;
        if c.control {
            self.control_open -= 1;
        } else {
            self.open -= 1;
            self.shared.stats[self.index]
                .open
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.free.push(slot);
    }

    fn on_event(&mut self, slot: u32) {
        let Some(c) = self.conns.get(slot as usize) else {
            return;
        };
        match c.state {
            State::Free => {}
            State::ReadHead => self.read_head(slot),
            State::Write(_) | State::Body(_) => self.flush(slot),
            State::Slow | State::Hang | State::Trickle => self.discard_input(slot),
        }
    }

    fn read_head(&mut self, slot: u32) {
        loop {
            let c = &mut self.conns[slot as usize];
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.close(slot, false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.close(slot, false),
            };
            let parsed = if c.head.is_empty() {
                let h = parse_head(&self.scratch[..n], c.control);
                if h == Head::Partial {
                    c.head.extend_from_slice(&self.scratch[..n]);
                }
                h
            } else {
                let room = REQUEST_HEAD_BYTES_MAX.saturating_sub(c.head.len());
                c.head.extend_from_slice(&self.scratch[..n.min(room)]);
                parse_head(&c.head, c.control)
            };
            match parsed {
                Head::Partial if c.head.len() >= REQUEST_HEAD_BYTES_MAX => {
                    bump(&self.shared.stats[self.index].bad_requests);
                    return self.close(slot, false);
                }
                Head::Partial => {}
                Head::Bad => {
                    bump(&self.shared.stats[self.index].bad_requests);
                    return self.close(slot, false);
                }
                Head::Done(route) => {
                    c.head.clear();
                    return self.respond(slot, route);
                }
            }
        }
    }

    /// The behaviour id has now: its override if any, else the fleet's.
    fn behaviour(&mut self, id: u64) -> Behaviour {
        let g = self.shared.overrides.generation.load(Ordering::Acquire);
        if g != self.override_generation {
            let log = self.shared.overrides.lock();
            self.override_generation = self.shared.overrides.generation.load(Ordering::Acquire);
            self.overrides.clear();
            self.overrides
                .extend(log.map.iter().map(|(id, o)| (*id, o.behaviour)));
        }
        if !self.overrides.is_empty()
            && let Some(b) = self.overrides.get(&id)
        {
            return *b;
        }
        self.shared.fleet.behaviour_of(id)
    }

    fn respond(&mut self, slot: u32, route: Route) {
        let id = match route {
            Route::Target(id) => id,
            Route::NotFound => {
                bump(&self.stats().not_found);
                let c = &mut self.conns[slot as usize];
                c.out.extend_from_slice(NOT_FOUND);
                return self.start_write(slot, After::Close);
            }
            Route::Control(cmd) => return self.control(slot, cmd),
        };
        let b = self.behaviour(id);
        bump(&self.stats().requests[b as usize]);
        let fleet = &self.shared.fleet;
        let now_ms = self.now_ms;
        let c = &mut self.conns[slot as usize];
        c.id = id;
        c.deadline_ms = now_ms + CONN_LIFETIME_MS_MAX;
        match b {
            Behaviour::Healthy => {
                put_target_reply(&mut c.out, "200 OK", id, true);
                self.start_write(slot, After::Close);
            }
            Behaviour::Status500 => {
                put_target_reply(&mut c.out, "500 Internal Server Error", id, false);
                self.start_write(slot, After::Close);
            }
            // A refused id reached a served port anyway (it is not meant to): unavailable.
            Behaviour::Status503 | Behaviour::Refused => {
                put_target_reply(&mut c.out, "503 Service Unavailable", id, false);
                self.start_write(slot, After::Close);
            }
            Behaviour::Flapping => {
                if fleet.flap_failing(id, unix_ms()) {
                    put_target_reply(&mut c.out, "503 Service Unavailable", id, false);
                } else {
                    put_target_reply(&mut c.out, "200 OK", id, true);
                }
                self.start_write(slot, After::Close);
            }
            Behaviour::Slow => {
                c.state = State::Slow;
                c.deadline_ms += fleet.slow_ms;
                let g = c.generation;
                self.timers.push(Reverse((now_ms + fleet.slow_ms, slot, g)));
            }
            Behaviour::Hang => c.state = State::Hang,
            Behaviour::Reset => {
                c.out.extend_from_slice(RESET_PARTIAL_HEAD);
                self.start_write(slot, After::Reset);
            }
            Behaviour::Trickle => {
                c.out.extend_from_slice(TRICKLE_HEAD);
                c.state = State::Trickle;
                c.deadline_ms += fleet.trickle_byte_ms * TRICKLE_HEAD.len() as u64;
                if let Some(s) = c.stream.as_ref() {
                    let _ = s.set_nodelay(true);
                }
                // The first byte goes now.
                self.trickle(slot);
            }
            Behaviour::HugeBody => {
                let _ = write!(
                    c.out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    fleet.huge_bytes
                );
                let n = fleet.huge_bytes;
                self.start_write(slot, After::Body(n));
            }
            Behaviour::Garbage => {
                let mut x = mix64(self.rng ^ id);
                self.rng = x;
                c.out.reserve(GARBAGE_BYTES);
                while c.out.len() < GARBAGE_BYTES {
                    x = mix64(x);
                    c.out.extend_from_slice(&x.to_le_bytes());
                }
                // Never accidentally a status line.
                c.out[0] = 0;
                self.start_write(slot, After::Close);
            }
        }
    }

    fn start_write(&mut self, slot: u32, after: After) {
        let c = &mut self.conns[slot as usize];
        c.pos = 0;
        c.state = State::Write(after);
        self.flush(slot);
    }

    /// Writes what is pending, then does what comes after; registers for WRITABLE when the
    /// socket is full.
    fn flush(&mut self, slot: u32) {
        loop {
            let c = &mut self.conns[slot as usize];
            let chunk: &[u8] = match c.state {
                State::Write(after) if c.pos >= c.out.len() => match after {
                    After::Close => return self.close(slot, false),
                    After::Reset => return self.close(slot, true),
                    After::Body(n) => {
                        c.state = State::Body(n);
                        continue;
                    }
                },
                State::Write(_) => &c.out[c.pos..],
                State::Body(0) => return self.close(slot, false),
                State::Body(n) => &HUGE_CHUNK[..n.min(HUGE_CHUNK_BYTES as u64) as usize],
                _ => return,
            };
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            match stream.write(chunk) {
                Ok(0) => return self.close(slot, false),
                Ok(n) => match &mut c.state {
                    State::Body(left) => *left -= n as u64,
                    _ => c.pos += n,
                },
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !c.writable {
                        c.writable = true;
                        let r = self.poll.registry().reregister(
                            stream,
                            Token(slot as usize),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                        if r.is_err() {
                            return self.close(slot, false);
                        }
                    }
                    return;
                }
                // The peer went away (EPIPE, ECONNRESET): stop.
                Err(_) => return self.close(slot, false),
            }
        }
    }

    /// For connections that wait (slow, hang, trickle): read and drop input; the peer closing
    /// ends the connection.
    fn discard_input(&mut self, slot: u32) {
        loop {
            let c = &mut self.conns[slot as usize];
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            match stream.read(&mut self.scratch) {
                Ok(0) => return self.close(slot, false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.close(slot, false),
            }
        }
    }

    fn trickle(&mut self, slot: u32) {
        let step_ms = self.shared.fleet.trickle_byte_ms;
        let c = &mut self.conns[slot as usize];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        match stream.write(&c.out[c.pos..c.pos + 1]) {
            Ok(0) => return self.close(slot, false),
            Ok(_) => c.pos += 1,
            // Not now: this byte goes with the next tick.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return self.close(slot, false),
        }
        if c.pos >= c.out.len() {
            return self.close(slot, false);
        }
        let g = c.generation;
        self.timers.push(Reverse((self.now_ms + step_ms, slot, g)));
    }

    fn fire_timers(&mut self) {
        while let Some(&Reverse((when, slot, generation))) = self.timers.peek() {
            if when > self.now_ms {
                break;
            }
            self.timers.pop();
            let Some(c) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            if c.generation != generation {
                continue;
            }
            match c.state {
                State::Slow => {
                    let id = c.id;
                    put_target_reply(&mut c.out, "200 OK", id, true);
                    self.start_write(slot, After::Close);
                }
                State::Trickle => self.trickle(slot),
                _ => {}
            }
        }
    }

    fn sweep(&mut self) {
        for slot in 0..self.conns.len() {
            let c = &self.conns[slot];
            if c.state != State::Free && c.deadline_ms <= self.now_ms {
                self.close(slot as u32, false);
            }
        }
    }

    fn control(&mut self, slot: u32, cmd: ControlCmd) {
        bump(&self.stats().control_requests);
        let shared = self.shared.clone();
        let (status, body) = match cmd {
            ControlCmd::Stats => ("200 OK", shared.stats_json()),
            ControlCmd::Truth => ("200 OK", shared.truth_json()),
            ControlCmd::Override(id, b) => {
                let base = shared.fleet.behaviour_of(id);
                let at = shared.overrides.set(id, b, base);
                let effective = b.unwrap_or(base);
                (
                    "200 OK",
                    serde_json::json!({
                        "id": id,
                        "override": b.map(Behaviour::name),
                        "behaviour": effective.name(),
                        "at_unix_ms": at,
                    }),
                )
            }
            ControlCmd::BadBehaviour(name) => {
                let names: Vec<&str> = Behaviour::ALL.iter().map(|b| b.name()).collect();
                (
                    "400 Bad Request",
                    serde_json::json!({
                        "error": format!("unknown behaviour {name:?}; known: {}", names.join(", "))
                    }),
                )
            }
            ControlCmd::MethodNotAllowed => (
                "405 Method Not Allowed",
                serde_json::json!({"error": "GET /stats, GET /truth; POST /kill/{id}, /revive/{id}, /set/{id}/{behaviour}, /clear/{id}"}),
            ),
            ControlCmd::NotFound => (
                "404 Not Found",
                serde_json::json!({"error": "GET /stats, GET /truth; POST /kill/{id}, /revive/{id}, /set/{id}/{behaviour}, /clear/{id}"}),
            ),
        };
        let mut text = body.to_string();
        text.push('\n');
        let c = &mut self.conns[slot as usize];
        put_response(&mut c.out, status, "application/json", text.as_bytes());
        self.start_write(slot, After::Close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_route() {
        let t = |s: &str| parse_head(s.as_bytes(), false);
        assert_eq!(
            t("GET /t/42 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Head::Done(Route::Target(42))
        );
        assert_eq!(
            t("GET /t/42?a=b HTTP/1.1\r\n\r\n"),
            Head::Done(Route::Target(42))
        );
        assert_eq!(t("GET /x HTTP/1.1\r\n\r\n"), Head::Done(Route::NotFound));
        assert_eq!(t("GET /t/x HTTP/1.1\r\n\r\n"), Head::Done(Route::NotFound));
        assert_eq!(t("GET /t/4"), Head::Partial);
        assert_eq!(t("\x00\x01garbage\r\n\r\n"), Head::Bad);
        let c = |m: &str, p: &str| control_cmd(m, p);
        assert_eq!(c("GET", "/stats"), ControlCmd::Stats);
        assert_eq!(
            c("POST", "/kill/7"),
            ControlCmd::Override(7, Some(Behaviour::Status503))
        );
        assert_eq!(
            c("POST", "/set/7/hang"),
            ControlCmd::Override(7, Some(Behaviour::Hang))
        );
        assert_eq!(c("POST", "/clear/7"), ControlCmd::Override(7, None));
        assert_eq!(c("GET", "/kill/7"), ControlCmd::MethodNotAllowed);
        assert_eq!(c("POST", "/kill/x"), ControlCmd::NotFound);
        assert_eq!(
            c("POST", "/set/1/nope"),
            ControlCmd::BadBehaviour("nope".into())
        );
    }

    #[test]
    fn behaviour_indices_follow_all() {
        for (i, b) in Behaviour::ALL.iter().enumerate() {
            assert_eq!(*b as usize, i);
        }
    }

    #[test]
    fn target_reply_is_complete() {
        let mut out = Vec::new();
        put_target_reply(&mut out, "200 OK", u64::MAX, true);
        let text = String::from_utf8(out).unwrap();
        let body = format!("{{\"id\":{},\"status\":\"ok\"}}", u64::MAX);
        assert!(text.ends_with(&body));
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }
}
