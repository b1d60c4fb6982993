//! Loopback targets for integration tests: well-behaved and hostile HTTP servers, each on its
//! own ephemeral port, each counting what it saw. Threads end with the test process.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How a target answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// 200 with a small JSON body.
    Healthy,
    /// This status, small body.
    Status(u16),
    /// Accepts, reads the request, answers after this delay.
    Slow(Duration),
    /// Accepts and never answers (keeps the socket open).
    Hang,
    /// Sends part of the head, then resets the connection (RST).
    ResetMidResponse,
    /// Sends a status line and then headers forever.
    EndlessHeaders,
    /// Sends binary garbage and closes.
    Garbage,
    /// Sends the head one byte every 100 ms.
    Trickle,
    /// 200 with a body of this many bytes (never containing "needle").
    HugeBody(usize),
    /// HTTP/1.1 keep-alive: answers every request on a connection with 200 and a
    /// Content-Length body, until the client closes.
    KeepAlive,
    /// Answers one request as if keep-alive (no `Connection: close`), then drops the
    /// connection: the client's next reuse finds it dead.
    KeepAliveThenDrop,
    /// 301 to the given path on the same server, for paths other than that one (which gets
    /// 200).
    Redirect(&'static str),
}

pub struct Target {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Connections open right now, and the most ever open at once.
    pub open: Arc<AtomicUsize>,
    pub max_open: Arc<AtomicUsize>,
    /// Raw requests received (first 8 KiB of each), for header assertions.
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
}

fn read_head(c: &mut TcpStream) -> Option<String> {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        match c.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

fn respond(mut c: TcpStream, b: Behaviour) {
    match b {
        Behaviour::Healthy => {
            let body = "{\"status\":\"ok\"}";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Behaviour::Status(s) => {
            let _ = write!(
                c,
                "HTTP/1.1 {s} Something\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror"
            );
        }
        Behaviour::Slow(d) => {
            std::thread::sleep(d);
            respond(c, Behaviour::Healthy);
        }
        Behaviour::Hang => {
            let mut sink = [0u8; 1024];
            let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
            while let Ok(n) = c.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
        }
        Behaviour::ResetMidResponse => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
            let _ = c.flush();
            std::thread::sleep(Duration::from_millis(20));
            let s = socket2::SockRef::from(&c);
            let _ = s.set_linger(Some(Duration::ZERO));
            drop(c);
        }
        Behaviour::EndlessHeaders => {
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n");
            for i in 0..1_000_000u32 {
                if write!(c, "X-Filler-{i}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").is_err() {
                    break;
                }
            }
        }
        Behaviour::Garbage => {
            let mut x = 0x1234_5678u32;
            let junk: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = c.write_all(&junk);
        }
        Behaviour::Trickle => {
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" {
                if c.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Behaviour::KeepAlive => {
            let body = "{\"status\":\"ok\"}";
            loop {
                if write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .is_err()
                {
                    break;
                }
                if read_head(&mut c).is_none() {
                    break;
                }
            }
        }
        Behaviour::KeepAliveThenDrop => {
            let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            std::thread::sleep(Duration::from_millis(10));
        }
        Behaviour::Redirect(_) => unreachable!("handled with the request path"),
        Behaviour::HugeBody(n) => {
            if write!(c, "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").is_err() {
                return;
            }
            let block = vec![b'a'; 16 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(block.len());
                if c.write_all(&block[..k]).is_err() {
                    break;
                }
                left -= k;
            }
        }
    }
}

impl Target {
    pub fn start(b: Behaviour) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let max_open = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, o, mo, r) = (
            accepted.clone(),
            open.clone(),
            max_open.clone(),
            requests.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
                mo.fetch_max(now_open, Ordering::SeqCst);
                let (o, r) = (o.clone(), r.clone());
                std::thread::spawn(move || {
                    if let Some(head) = read_head(&mut c) {
                        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                        r.lock().unwrap().push(head);
                        match b {
                            Behaviour::Redirect(to) if path != to => {
                                let _ = write!(
                                    c,
                                    "HTTP/1.1 301 Moved\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                );
                            }
                            Behaviour::Redirect(_) => respond(c, Behaviour::Healthy),
                            _ => respond(c, b),
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Target {
            addr,
            accepted,
            open,
            max_open,
            requests,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }
}

/// An address where nothing listens (bound, then closed).
pub fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let a = l.local_addr().expect("local addr");
    drop(l);
    a
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cpra-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}
