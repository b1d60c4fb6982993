//! The mockfleet tool, end to end: the built binary on high loopback ports, plain std clients,
//! one assertion per behaviour, the control endpoint, the ground truth and a clean shutdown.
//!
//! Which id has which behaviour comes from `cpra::fleet`, the same model mockfleet serves, so
//! these tests also check that the served fleet and the model agree.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cpra::fleet::{Behaviour, Fleet, mix64, parse_mix};

const MIX: &str =
    "healthy=1,500=1,503=1,slow=1,hang=1,refused=1,reset=1,flapping=1,trickle=1,huge=1,garbage=1";
const SLOW_MS: u64 = 300;
const TRICKLE_BYTE_MS: u64 = 25;
const HUGE_BYTES: u64 = 3_000_000;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

struct Mock {
    child: Child,
    fleet: Fleet,
    control: String,
    lines: Receiver<String>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts mockfleet on a random port base in 20000..30000, retrying on bind failure.
fn start(extra: &[&str]) -> Mock {
    static STARTS: AtomicU64 = AtomicU64::new(0);
    let mut seed = now_unix_ms()
        ^ (u64::from(std::process::id()) << 20)
        ^ (STARTS.fetch_add(1, Ordering::Relaxed) << 40);
    for _attempt in 0..10 {
        seed = mix64(seed);
        let base = 20000 + (seed % 9990) as u16;
        let fleet = Fleet {
            seed: 7,
            mix: parse_mix(MIX).unwrap(),
            hosts: 2,
            port_base: base,
            ports: 3,
            slow_ms: SLOW_MS,
            flap_period_ms: 60_000,
            trickle_byte_ms: TRICKLE_BYTE_MS,
            huge_bytes: HUGE_BYTES,
        };
        let mut args: Vec<String> = [
            "--seed",
            "7",
            "--mix",
            MIX,
            "--hosts",
            "2",
            "--ports",
            "3",
            "--control",
            "127.0.0.1:0",
            "--threads",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, v) in [
            ("--port-base", u64::from(base)),
            ("--slow-ms", SLOW_MS),
            ("--flap-period-ms", 60_000),
            ("--trickle-byte-ms", TRICKLE_BYTE_MS),
            ("--huge-bytes", HUGE_BYTES),
        ] {
            args.push(flag.into());
            args.push(v.to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_mockfleet"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mockfleet");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.starts_with("mockfleet: listening on 6 addresses") => {
                let control = line
                    .rsplit_once("control on ")
                    .map(|(_, a)| a.to_string())
                    .unwrap();
                return Mock {
                    child,
                    fleet,
                    control,
                    lines: rx,
                };
            }
            other => {
                // Most likely a port in use: try another base.
                eprintln!("mockfleet did not start ({other:?}); retrying");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    panic!("mockfleet did not start in 10 attempts");
}

fn first_id(f: &Fleet, b: Behaviour, skip: usize) -> u64 {
    (0..10_000)
        .filter(|id| f.behaviour_of(*id) == b)
        .nth(skip)
        .unwrap()
}

fn addr(f: &Fleet, id: u64) -> SocketAddr {
    let (ip, port) = f.address_of(id);
    SocketAddr::from((ip, port))
}

fn connect_send(to: SocketAddr, method: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s
}

/// A whole response, read to end of stream: (status, head, body).
fn http(to: SocketAddr, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let mut s = connect_send(to, method, path);
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    split_response(&all)
}

fn split_response(all: &[u8]) -> (u16, String, Vec<u8>) {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(all)));
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head, all[end + 4..].to_vec())
}

fn control(m: &Mock, method: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = http(m.control.parse().unwrap(), method, path);
    (status, serde_json::from_slice(&body).unwrap())
}

fn assert_silent(s: &mut TcpStream, what: &str) {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("{what}: expected no bytes within 300 ms, got {other:?}"),
    }
}

#[test]
fn every_behaviour_control_and_shutdown() {
    let m = start(&[]);
    let f = m.fleet.clone();
    let mut tally: HashMap<&str, u64> = HashMap::new();
    let mut count = |b: &'static str| *tally.entry(b).or_default() += 1;

    // healthy: 200 with a small JSON body.
    let healthy = first_id(&f, Behaviour::Healthy, 0);
    let (st, head, body) = http(addr(&f, healthy), "GET", &format!("/t/{healthy}"));
    count("healthy");
    assert_eq!(st, 200);
    assert!(head.contains("Connection: close"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], healthy);
    assert_eq!(v["status"], "ok");

    for (b, name, code) in [
        (Behaviour::Status500, "500", 500),
        (Behaviour::Status503, "503", 503),
    ] {
        let id = first_id(&f, b, 0);
        assert_eq!(http(addr(&f, id), "GET", &format!("/t/{id}")).0, code);
        count(name);
    }

    // slow: 200, but only after slow_ms.
    let slow = first_id(&f, Behaviour::Slow, 0);
    let t0 = Instant::now();
    assert_eq!(http(addr(&f, slow), "GET", &format!("/t/{slow}")).0, 200);
    count("slow");
    assert!(t0.elapsed() >= Duration::from_millis(SLOW_MS - 20));

    // hang: accepted, never a byte.
    let hang = first_id(&f, Behaviour::Hang, 0);
    let mut s = connect_send(addr(&f, hang), "GET", &format!("/t/{hang}"));
    count("hang");
    assert_silent(&mut s, "hang");
    drop(s);

    // refused: nothing listens where the model points.
    let refused = first_id(&f, Behaviour::Refused, 0);
    let to = addr(&f, refused);
    assert_eq!(to.port(), f.port_base + f.ports);
    let e = TcpStream::connect(to).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");

    // reset: part of a head, then RST.
    let reset = first_id(&f, Behaviour::Reset, 0);
    let mut s = connect_send(addr(&f, reset), "GET", &format!("/t/{reset}"));
    count("reset");
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => panic!("reset: clean end of stream after {got:?}"),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
                break;
            }
        }
    }
    assert!(!got.windows(4).any(|w| w == b"\r\n\r\n"), "{got:?}");

    // flapping: 200 or 503 as the model says for now (unless it flipped meanwhile).
    let flap = first_id(&f, Behaviour::Flapping, 0);
    let before = f.flap_failing(flap, now_unix_ms());
    let (st, _, _) = http(addr(&f, flap), "GET", &format!("/t/{flap}"));
    count("flapping");
    if before == f.flap_failing(flap, now_unix_ms()) {
        assert_eq!(st, if before { 503 } else { 200 });
    }

    // trickle: a valid head, one byte every trickle_byte_ms.
    let trickle = first_id(&f, Behaviour::Trickle, 0);
    let mut s = connect_send(addr(&f, trickle), "GET", &format!("/t/{trickle}"));
    count("trickle");
    let t0 = Instant::now();
    let (mut all, mut reads) = (Vec::new(), 0);
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => {
                all.extend_from_slice(&b[..n]);
                reads += 1;
            }
            Err(e) => panic!("trickle: {e}"),
        }
    }
    let took = t0.elapsed();
    assert_eq!(split_response(&all).0, 200);
    assert!(
        all.len() >= 30 && reads >= 10,
        "{} bytes in {reads} reads",
        all.len()
    );
    let least = Duration::from_millis(TRICKLE_BYTE_MS * (all.len() as u64 - 1) * 3 / 4);
    assert!(
        took >= least,
        "trickle took {took:?}, expected at least {least:?}"
    );

    // huge: Content-Length as configured, and the body streams in full.
    let huge = first_id(&f, Behaviour::HugeBody, 0);
    let (st, head, body) = http(addr(&f, huge), "GET", &format!("/t/{huge}"));
    count("huge");
    assert_eq!(st, 200);
    assert!(
        head.contains(&format!("Content-Length: {HUGE_BYTES}\r\n")),
        "{head}"
    );
    assert_eq!(body.len() as u64, HUGE_BYTES);
    // ... and a client that stops reading early is no problem.
    let mut s = connect_send(addr(&f, huge), "GET", &format!("/t/{huge}"));
    count("huge");
    let n = s.read(&mut b).unwrap();
    assert!(n > 0 && b.starts_with(b"HTTP/1.1 200"));
    drop(s);

    // garbage: bytes that are not HTTP, then close.
    let garbage = first_id(&f, Behaviour::Garbage, 0);
    let mut s = connect_send(addr(&f, garbage), "GET", &format!("/t/{garbage}"));
    count("garbage");
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.len() >= 1024, "{}", all.len());
    assert!(!all.starts_with(b"HTTP/"));

    // Anything but /t/{id} is a 404; a request that is not HTTP is dropped.
    assert_eq!(http(addr(&f, healthy), "GET", "/nope").0, 404);
    let mut s = TcpStream::connect(addr(&f, healthy)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"\x00\x01\x02 not http\r\n\r\n").unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    assert!(all.is_empty(), "{all:?}");

    // Control: kill a healthy id, revive a 500, set one to hang and clear it again.
    let killed = first_id(&f, Behaviour::Healthy, 1);
    let revived = first_id(&f, Behaviour::Status500, 1);
    let hung = first_id(&f, Behaviour::Healthy, 2);
    let (st, v) = control(&m, "POST", &format!("/kill/{killed}"));
    assert_eq!((st, v["behaviour"].as_str()), (200, Some("503")));
    assert_eq!(
        http(addr(&f, killed), "GET", &format!("/t/{killed}")).0,
        503
    );
    count("503");
    assert_eq!(control(&m, "POST", &format!("/revive/{revived}")).0, 200);
    assert_eq!(
        http(addr(&f, revived), "GET", &format!("/t/{revived}")).0,
        200
    );
    count("healthy");
    assert_eq!(control(&m, "POST", &format!("/set/{hung}/hang")).0, 200);
    let mut s = connect_send(addr(&f, hung), "GET", &format!("/t/{hung}"));
    count("hang");
    assert_silent(&mut s, "set hang");
    drop(s);
    let (st, v) = control(&m, "POST", &format!("/clear/{hung}"));
    assert_eq!((st, v["behaviour"].as_str()), (200, Some("healthy")));
    assert_eq!(http(addr(&f, hung), "GET", &format!("/t/{hung}")).0, 200);
    count("healthy");
    assert_eq!(control(&m, "POST", "/set/1/nope").0, 400);
    assert_eq!(control(&m, "GET", &format!("/kill/{killed}")).0, 405);
    assert_eq!(control(&m, "GET", "/nothing").0, 404);

    // Ground truth: the fleet's parameters and the scripted overrides with their times.
    let (st, truth) = control(&m, "GET", "/truth");
    assert_eq!(st, 200);
    assert_eq!(truth["fleet"]["port_base"], f.port_base);
    assert_eq!(
        parse_mix(truth["fleet"]["mix"].as_str().unwrap()).unwrap(),
        f.mix
    );
    // "overrides": every change in order, each in force from its time on.
    let history: Vec<(u64, &str, u64, bool)> = truth["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_u64().unwrap(),
                o["behaviour"].as_str().unwrap(),
                o["since_unix_ms"].as_u64().unwrap(),
                o["cleared"].as_bool().unwrap(),
            )
        })
        .collect();
    let shape: Vec<(u64, &str, bool)> = history.iter().map(|h| (h.0, h.1, h.3)).collect();
    assert_eq!(
        shape,
        [
            (killed, "503", false),
            (revived, "healthy", false),
            (hung, "hang", false),
            (hung, "healthy", true)
        ]
    );
    let started = truth["started_unix_ms"].as_u64().unwrap();
    assert!(history[0].2 >= started);
    assert!(history.windows(2).all(|w| w[0].2 <= w[1].2));
    // "active": the overrides in force now.
    let active = truth["active"].as_array().unwrap();
    assert_eq!(active.len(), 2, "{truth}");
    assert_eq!(
        active
            .iter()
            .filter(|o| o["id"] == killed && o["behaviour"] == "503")
            .count(),
        1
    );

    // Stats: requests per effective behaviour, exactly as sent.
    let (st, stats) = control(&m, "GET", "/stats");
    assert_eq!(st, 200);
    for b in Behaviour::ALL {
        let want = tally.get(b.name()).copied().unwrap_or(0);
        assert_eq!(stats["requests"][b.name()], want, "{}: {stats}", b.name());
    }
    assert_eq!(stats["not_found"], 1);
    assert_eq!(stats["bad_requests"], 1);
    assert_eq!(stats["overrides"], 2);
    assert!(stats["connections"].as_u64().unwrap() >= tally.values().sum::<u64>());

    // SIGTERM: stops, prints the stats as its last line, exits 0.
    let mut m = m;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(m.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let last = loop {
        match m.lines.recv_timeout(IO_TIMEOUT) {
            Ok(line) if line.starts_with('{') => break line,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no stats after SIGTERM"),
            Err(RecvTimeoutError::Disconnected) => panic!("exited without stats"),
        }
    };
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["requests"]["healthy"], tally["healthy"]);
    let t0 = Instant::now();
    loop {
        if let Some(status) = m.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t0.elapsed() < IO_TIMEOUT, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn print_truth_matches_the_model_and_for_stops() {
    let out = Command::new(env!("CARGO_BIN_EXE_mockfleet"))
        .args([
            "--print-truth",
            "200",
            "--seed",
            "3",
            "--mix",
            MIX,
            "--hosts",
            "4",
            "--ports",
            "5",
            "--port-base",
            "21000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let f = Fleet {
        seed: 3,
        mix: parse_mix(MIX).unwrap(),
        hosts: 4,
        ports: 5,
        port_base: 21000,
        ..Fleet::default()
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200);
    for (id, line) in lines.iter().enumerate() {
        let id = id as u64;
        let (ip, port) = f.address_of(id);
        assert_eq!(
            *line,
            format!("{id} {} {ip}:{port}", f.behaviour_of(id).name())
        );
    }

    // --for: runs, then stops by itself and prints its stats.
    let t0 = Instant::now();
    let mut m = start(&["--for", "300ms"]);
    let last = loop {
        match m.lines.recv_timeout(IO_TIMEOUT) {
            Ok(line) if line.starts_with('{') => break line,
            Ok(_) => {}
            Err(e) => panic!("no stats after --for: {e:?}"),
        }
    };
    assert!(last.contains("\"uptime_s\""), "{last}");
    assert!(m.child.wait().unwrap().success());
    assert!(t0.elapsed() < Duration::from_secs(10));
}
