//! Name resolution off the probe loops.
//!
//! `getaddrinfo` blocks, so no probe loop ever calls it. One resolver thread does, for two
//! kinds of work:
//! - **refresh**: every target whose host is a name (IP literals never change) is resolved
//!   again every [`DNS_REFRESH_MS`]; when its address changes (or resolution starts or stops
//!   failing) each worker gets an update through its channel and is woken. Workers keep their
//!   own copy of the target addresses, so reading one per check takes no lock.
//! - **lookups on demand** (redirects to a host that is not a known target): a worker asks,
//!   gets `Pending`, keeps the check waiting (its deadline still runs), and is woken when the
//!   answer is cached.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Waker;

use crate::limits::{DNS_CACHE_ENTRIES_MAX, DNS_REFRESH_MS};
use crate::store::Target;

/// A change to one catalog target's address.
pub type AddrUpdate = (u32, Option<SocketAddr>);

/// The answer to a lookup on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Ready(SocketAddr),
    Failed(String),
    Pending,
}

#[derive(Clone)]
struct Cached {
    result: Result<SocketAddr, String>,
    at: Instant,
}

struct Shared {
    cache: Mutex<HashMap<(String, u16), Cached>>,
    /// Workers to tell about changed target addresses.
    workers: Mutex<Vec<(Sender<AddrUpdate>, Arc<Waker>)>>,
    /// Names asked for and not yet answered, with the wakers of the workers waiting.
    requests: Mutex<Sender<(String, u16, Arc<Waker>)>>,
}

/// The resolver's handle, shared by the engine and every worker.
#[derive(Clone)]
pub struct Resolver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

/// Resolves `host:port` with the system resolver, preferring IPv4.
pub fn resolve_now(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| "no addresses".to_string())
}

impl Resolver {
    /// Starts the resolver thread for the catalog's `targets`.
    pub fn start(targets: &[Target]) -> std::io::Result<Resolver> {
        let (tx, rx) = channel();
        let shared = Arc::new(Shared {
            cache: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            requests: Mutex::new(tx),
        });
        let named: Vec<(u32, String, u16, Option<SocketAddr>)> = targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.host.parse::<IpAddr>().is_err())
            .map(|(i, t)| (i as u32, t.host.to_string(), t.port, t.addr))
            .collect();
        let s2 = shared.clone();
        std::thread::Builder::new()
            .name("cpra-resolver".into())
            .spawn(move || run(s2, rx, named))?;
        Ok(Resolver { shared })
    }

    /// Registers a worker for address updates: returns the receiving end it drains.
    pub fn subscribe(&self, waker: Arc<Waker>) -> Receiver<AddrUpdate> {
        let (tx, rx) = channel();
        if let Ok(mut w) = self.shared.workers.lock() {
            w.push((tx, waker));
        }
        rx
    }

    /// A lookup on demand: the cached answer, or `Pending` (the worker is woken when ready).
    pub fn lookup(&self, host: &str, port: u16, waker: &Arc<Waker>) -> Lookup {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Lookup::Ready(SocketAddr::new(ip, port));
        }
        if let Ok(cache) = self.shared.cache.lock()
            && let Some(c) = cache.get(&(host.to_string(), port))
            && c.at.elapsed() < Duration::from_millis(DNS_REFRESH_MS)
        {
            return match &c.result {
                Ok(a) => Lookup::Ready(*a),
                Err(e) => Lookup::Failed(e.clone()),
            };
        }
        if let Ok(tx) = self.shared.requests.lock() {
            let _ = tx.send((host.to_string(), port, waker.clone()));
        }
        Lookup::Pending
    }
}

fn run(
    shared: Arc<Shared>,
    rx: Receiver<(String, u16, Arc<Waker>)>,
    mut named: Vec<(u32, String, u16, Option<SocketAddr>)>,
) {
    let refresh = Duration::from_millis(DNS_REFRESH_MS);
    let mut next_refresh = Instant::now() + refresh;
    loop {
        if Arc::strong_count(&shared) == 1 {
            // Every handle is gone (a reload replaced the workers that held them).
            return;
        }
        let wait = next_refresh.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok((host, port, waker)) => {
                let result = resolve_now(&host, port);
                if let Ok(mut cache) = shared.cache.lock() {
                    if cache.len() >= DNS_CACHE_ENTRIES_MAX {
                        cache.clear();
                    }
                    cache.insert(
                        (host, port),
                        Cached {
                            result,
                            at: Instant::now(),
                        },
                    );
                }
                let _ = waker.wake();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + refresh;
            for (id, host, port, last) in named.iter_mut() {
                let now = resolve_now(host, *port).ok();
                if now != *last {
                    *last = now;
                    if let Ok(workers) = shared.workers.lock() {
                        for (tx, waker) in workers.iter() {
                            let _ = tx.send((*id, now));
                            let _ = waker.wake();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_localhost() {
        assert_eq!(
            resolve_now("127.0.0.1", 80),
            Ok("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(resolve_now("::1", 80), Ok("[::1]:80".parse().unwrap()));
        assert!(resolve_now("localhost", 8080).is_ok());
        assert!(resolve_now("no-such-host.invalid", 80).is_err());
    }

    #[test]
    fn lookup_on_demand_wakes_and_caches() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(1)).unwrap());
        let r = Resolver::start(&[]).unwrap();
        assert_eq!(
            r.lookup("10.1.2.3", 8, &waker),
            Lookup::Ready("10.1.2.3:8".parse().unwrap())
        );
        assert_eq!(r.lookup("localhost", 9, &waker), Lookup::Pending);
        let t0 = Instant::now();
        loop {
            match r.lookup("localhost", 9, &waker) {
                Lookup::Ready(a) => {
                    assert_eq!(a.port(), 9);
                    break;
                }
                Lookup::Pending => {}
                Lookup::Failed(e) => panic!("{e}"),
            }
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
