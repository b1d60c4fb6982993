//! Real servers for notifier tests, started on free loopback ports and stopped on drop:
//! Prometheus Alertmanager (Debian `prometheus-alertmanager`) and an SMTP server writing a
//! Maildir (Debian `python3-aiosmtpd`, run with /usr/bin/python3). CI installs both
//! (.ci/run); a machine without them gets `Err` from `start`, and `require_*` panics with the
//! install instruction unless `CPRA_ALLOW_SKIP=1`, when it prints `SKIPPED: ...` and returns
//! `None`.
//!
//! Each server runs as a child process with its stdout/stderr in files in its own temp dir
//! (see `logs()`, for failure messages); drop sends SIGKILL, waits for it and removes the dir.
//! A test process killed outright (not unwinding) leaves the child running.
//!
//! Free ports are found by binding 127.0.0.1:0 and closing the socket before the server binds
//! the port: another process can take it in between. Start-up notices a child that exits
//! with "address already in use" and retries on fresh ports (3 attempts).
//!
//! Also: `http_get` / `http_post`, tiny blocking std-only HTTP/1.1 clients (Content-Length,
//! chunked and read-to-close bodies, every step under a timeout), and `smtp_send`, a
//! hand-written SMTP dialogue.
//!
//! ```ignore
//! #[path = "support/services.rs"]
//! mod services;
//! let Some(am) = services::require_alertmanager() else { return };
//! // ... point cpra at am.url() ...
//! let alerts = am.wait_for_alerts(1, Duration::from_secs(10)).unwrap();
//! ```
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";
/// Debian's interpreter, which has `python3-aiosmtpd`; `python3` on PATH may be another.
pub const PYTHON: &str = "/usr/bin/python3";
/// Set to `1` to let `require_*` skip (print SKIPPED, return None) when a server is missing.
pub const ALLOW_SKIP_ENV: &str = "CPRA_ALLOW_SKIP";

/// Bound on waiting for a server to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Connect / read / write timeout of the HTTP helpers; the whole exchange is bounded by
/// `HTTP_TOTAL`.
const HTTP_IO_TIMEOUT: Duration = Duration::from_secs(5);
const HTTP_TOTAL: Duration = Duration::from_secs(15);
const HTTP_MAX_HEAD: usize = 64 * 1024;
const HTTP_MAX_BODY: usize = 64 * 1024 * 1024;
const START_ATTEMPTS: usize = 3;

/// The minimal configuration: every alert goes to a receiver that sends nothing.
pub const NULL_CONFIG: &str = r#"route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"#;

// ---------------------------------------------------------------------------------------
// Ports, dirs, processes

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then closed: racy, see the
/// module doc).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// A port free for both TCP and UDP on 127.0.0.1 (Alertmanager gossips on both).
pub fn free_tcp_udp_port() -> Result<u16, String> {
    for _ in 0..50 {
        let port = free_port()?;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no 127.0.0.1 port free for both TCP and UDP in 50 tries".into())
}

/// A new, empty directory under the system temp dir.
pub fn fresh_dir(tag: &str) -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!("cpra-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
    Ok(d)
}

/// A child process with its output in files in `dir`; killed, reaped and `dir` removed on drop.
struct Proc {
    child: Child,
    dir: PathBuf,
    what: String,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout/stderr to `dir/NAME.stdout|stderr`. On
    /// failure `dir` is removed.
    fn spawn(mut cmd: Command, dir: PathBuf, name: &str) -> Result<Proc, String> {
        let files = (|| {
            let out = File::create(dir.join(format!("{name}.stdout")))?;
            let err = File::create(dir.join(format!("{name}.stderr")))?;
            Ok::<_, std::io::Error>((out, err))
        })();
        let (out, err) = match files {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("{name}: log files in {}: {e}", dir.display()));
            }
        };
        let what = format!("{cmd:?}");
        match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
        {
            Ok(child) => Ok(Proc { child, dir, what }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(format!("cannot run {what}: {e}"))
            }
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The command line and everything the process printed so far.
    fn logs(&self) -> String {
        let mut s = format!("command: {}\n", self.what);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return s;
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "stdout" || x == "stderr")
            })
            .collect();
        names.sort();
        for p in names {
            let text = std::fs::read(&p).unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            s.push_str(&format!("--- {name} ---\n{text}\n"));
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn allow_skip() -> bool {
    std::env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v == "1")
}

/// The policy of `require_*` for a missing server: panic with the install instruction, or
/// with CPRA_ALLOW_SKIP=1 print `SKIPPED: ...` and return false. True when it is there.
fn present_or_skip(what: &str, package: &str, available: Result<(), String>) -> bool {
    let Err(why) = available else {
        return true;
    };
    if allow_skip() {
        eprintln!("SKIPPED: {why} ({ALLOW_SKIP_ENV}=1)");
        return false;
    }
    panic!(
        "{why}\nInstall it with `apt-get install {package}` (CI's .ci/run does), \
         or set {ALLOW_SKIP_ENV}=1 to skip the tests that need {what}."
    );
}

/// `present_or_skip`, then start; present but failing to start always panics.
fn require<T>(
    what: &str,
    package: &str,
    available: Result<(), String>,
    start: impl FnOnce() -> Result<T, String>,
) -> Option<T> {
    if !present_or_skip(what, package, available) {
        return None;
    }
    match start() {
        Ok(s) => Some(s),
        Err(e) => panic!("{what} is installed but did not start:\n{e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Alertmanager

/// Clustering of a started Alertmanager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cluster {
    /// `--cluster.listen-address=` (the default of `start`).
    Off,
    /// Gossip on 127.0.0.1:<free port>, joining `peer` (host:port of another instance's
    /// cluster address) when given.
    On { peer: Option<String> },
}

/// A running `prometheus-alertmanager` on 127.0.0.1; killed on drop.
pub struct Alertmanager {
    proc: Proc,
    port: u16,
    cluster_port: Option<u16>,
    ready_after: Duration,
}

impl Alertmanager {
    /// Ok when the binary is installed.
    pub fn available() -> Result<(), String> {
        if Path::new(ALERTMANAGER_BIN).is_file() {
            Ok(())
        } else {
            Err(format!(
                "Alertmanager not found at {ALERTMANAGER_BIN} (Debian package prometheus-alertmanager)"
            ))
        }
    }

    /// Starts one instance, no clustering, with [`NULL_CONFIG`].
    pub fn start() -> Result<Alertmanager, String> {
        Self::start_with(NULL_CONFIG, Cluster::Off)
    }

    /// Starts one instance with clustering on (a free cluster port on 127.0.0.1), joining
    /// `peer` (another instance's [`Alertmanager::cluster_addr`]) when given.
    pub fn start_peer(peer: Option<&str>) -> Result<Alertmanager, String> {
        Self::start_with(
            NULL_CONFIG,
            Cluster::On {
                peer: peer.map(str::to_string),
            },
        )
    }

    /// Starts one instance with this configuration (YAML), e.g. with a webhook receiver.
    pub fn start_with_config(config_yaml: &str) -> Result<Alertmanager, String> {
        Self::start_with(config_yaml, Cluster::Off)
    }

    /// Starts one instance; waits (at most 20 s) until `GET /-/ready` answers 200.
    pub fn start_with(config_yaml: &str, cluster: Cluster) -> Result<Alertmanager, String> {
        Self::available()?;
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::launch(config_yaml, &cluster) {
                Ok(am) => return Ok(am),
                Err((e, port_race)) => {
                    if !port_race {
                        return Err(e);
                    }
                    last = e;
                }
            }
        }
        Err(format!(
            "Alertmanager: port taken on every one of {START_ATTEMPTS} attempts; last:\n{last}"
        ))
    }

    /// One attempt; the error's flag says whether it lost a port race (worth retrying).
    fn launch(config_yaml: &str, cluster: &Cluster) -> Result<Alertmanager, (String, bool)> {
        let fail = |e: String| (e, false);
        let port = free_port().map_err(fail)?;
        let cluster_port = match cluster {
            Cluster::Off => None,
            Cluster::On { .. } => Some(free_tcp_udp_port().map_err(fail)?),
        };
        let dir = fresh_dir("alertmanager").map_err(fail)?;
        let config = dir.join("alertmanager.yml");
        let storage = dir.join("data");
        if let Err(e) = std::fs::write(&config, config_yaml) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(fail(format!("write {}: {e}", config.display())));
        }
        let mut cmd = Command::new(ALERTMANAGER_BIN);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--config.file={}", config.display()));
        match (cluster, cluster_port) {
            (Cluster::On { peer }, Some(cport)) => {
                cmd.arg(format!("--cluster.listen-address=127.0.0.1:{cport}"))
                    .arg(format!("--cluster.advertise-address=127.0.0.1:{cport}"))
                    // Faster than the defaults (200ms, 1m), so peers agree within a test.
                    .arg("--cluster.gossip-interval=50ms")
                    .arg("--cluster.pushpull-interval=2s");
                if let Some(p) = peer {
                    cmd.arg(format!("--cluster.peer={p}"));
                }
            }
            _ => {
                cmd.arg("--cluster.listen-address=");
            }
        }
        let t0 = Instant::now();
        let mut proc = Proc::spawn(cmd, dir, "alertmanager").map_err(fail)?;
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        loop {
            if let Some(status) = proc.exited() {
                let logs = proc.logs();
                let race = logs.to_ascii_lowercase().contains("address already in use");
                return Err((
                    format!("Alertmanager exited ({status}) before it was ready:\n{logs}"),
                    race,
                ));
            }
            if let Ok((200, _)) = http_request("GET", &ready, None, Duration::from_secs(1)) {
                return Ok(Alertmanager {
                    proc,
                    port,
                    cluster_port,
                    ready_after: t0.elapsed(),
                });
            }
            if t0.elapsed() > READY_TIMEOUT {
                return Err(fail(format!(
                    "Alertmanager not ready within {READY_TIMEOUT:?} at {ready}:\n{}",
                    proc.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:CPORT` when clustering is on: what another instance passes as its peer.
    pub fn cluster_addr(&self) -> Option<String> {
        self.cluster_port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// How long it took from spawn until `/-/ready` answered 200.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// The process's stdout/stderr so far.
    pub fn logs(&self) -> String {
        self.proc.logs()
    }

    /// GET `path` (e.g. `/api/v2/status`), expecting 200 and JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.url());
        match http_get(&url)? {
            (200, body) => serde_json::from_str(&body)
                .map_err(|e| format!("GET {url}: not JSON ({e}): {body}")),
            (code, body) => Err(format!("GET {url}: {code}: {body}")),
        }
    }

    /// `GET /api/v2/alerts`: every alert (active, silenced, inhibited, unprocessed), a JSON
    /// array.
    pub fn alerts(&self) -> Result<Value, String> {
        self.get_json("/api/v2/alerts")
    }

    /// `GET /api/v2/alerts` with the API's filters: which states to include, and label
    /// matchers such as `alertname="web-1"` (percent-encoded here).
    pub fn alerts_filtered(
        &self,
        active: bool,
        silenced: bool,
        inhibited: bool,
        unprocessed: bool,
        matchers: &[&str],
    ) -> Result<Value, String> {
        let mut q = format!(
            "/api/v2/alerts?active={active}&silenced={silenced}&inhibited={inhibited}&unprocessed={unprocessed}"
        );
        for m in matchers {
            q.push_str("&filter=");
            q.push_str(&percent_encode(m));
        }
        self.get_json(&q)
    }

    /// Waits (bounded) until `GET /api/v2/alerts` lists at least `n` alerts; returns them.
    pub fn wait_for_alerts(&self, n: usize, timeout: Duration) -> Result<Vec<Value>, String> {
        let t0 = Instant::now();
        loop {
            let last = self.alerts();
            if let Ok(Value::Array(a)) = &last
                && a.len() >= n
            {
                return Ok(a.clone());
            }
            if t0.elapsed() >= timeout {
                return Err(format!(
                    "fewer than {n} alerts after {timeout:?}; last answer: {last:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `POST /api/v2/alerts` with `alerts` (a JSON array); Ok on 200.
    pub fn post_alerts(&self, alerts: &Value) -> Result<(), String> {
        let url = format!("{}/api/v2/alerts", self.url());
        match http_post(&url, "application/json", alerts.to_string().as_bytes())? {
            (200, _) => Ok(()),
            (code, body) => Err(format!("POST {url}: {code}: {body}")),
        }
    }

    /// `GET /api/v2/status` (cluster peers and status, config, versions).
    pub fn status(&self) -> Result<Value, String> {
        self.get_json("/api/v2/status")
    }
}

/// A started Alertmanager, or None when it is not installed and CPRA_ALLOW_SKIP=1; panics
/// with the install instruction when it is not installed otherwise, and when it fails to
/// start.
pub fn require_alertmanager() -> Option<Alertmanager> {
    require(
        "Alertmanager",
        "prometheus-alertmanager",
        Alertmanager::available(),
        Alertmanager::start,
    )
}

/// For tests that start instances themselves (`start_peer`, `start_with_config`): true
/// when Alertmanager is installed; otherwise panics with the install instruction, or with
/// CPRA_ALLOW_SKIP=1 prints `SKIPPED: ...` and returns false.
pub fn alertmanager_or_skip() -> bool {
    present_or_skip(
        "Alertmanager",
        "prometheus-alertmanager",
        Alertmanager::available(),
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// SMTP (aiosmtpd, Maildir)

/// A running aiosmtpd on 127.0.0.1 storing every message in a Maildir; killed on drop.
/// No TLS, no AUTH: any MAIL FROM / RCPT TO is accepted.
pub struct Smtp {
    proc: Proc,
    port: u16,
    maildir: PathBuf,
    ready_after: Duration,
}

impl Smtp {
    /// Ok when /usr/bin/python3 can import aiosmtpd.
    pub fn available() -> Result<(), String> {
        if !Path::new(PYTHON).is_file() {
            return Err(format!("{PYTHON} not found (Debian package python3)"));
        }
        let out = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {PYTHON}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{PYTHON} cannot import aiosmtpd (Debian package python3-aiosmtpd): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Starts `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR` and
    /// waits (at most 20 s) for its 220 greeting.
    pub fn start() -> Result<Smtp, String> {
        Self::available()?;
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::launch() {
                Ok(s) => return Ok(s),
                Err((e, false)) => return Err(e),
                Err((e, true)) => last = e,
            }
        }
        Err(format!(
            "aiosmtpd: port taken on every one of {START_ATTEMPTS} attempts; last:\n{last}"
        ))
    }

    fn launch() -> Result<Smtp, (String, bool)> {
        let fail = |e: String| (e, false);
        let port = free_port().map_err(fail)?;
        let dir = fresh_dir("smtp").map_err(fail)?;
        // aiosmtpd's Mailbox creates the Maildir itself and needs it not to exist yet.
        let maildir = dir.join("Maildir");
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .env("PYTHONUNBUFFERED", "1");
        let t0 = Instant::now();
        let mut proc = Proc::spawn(cmd, dir, "aiosmtpd").map_err(fail)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if let Some(status) = proc.exited() {
                let logs = proc.logs();
                let race = logs.to_ascii_lowercase().contains("address already in use");
                return Err((
                    format!("aiosmtpd exited ({status}) before it was ready:\n{logs}"),
                    race,
                ));
            }
            if greeting(addr).is_ok() {
                return Ok(Smtp {
                    proc,
                    port,
                    maildir,
                    ready_after: t0.elapsed(),
                });
            }
            if t0.elapsed() > READY_TIMEOUT {
                return Err(fail(format!(
                    "aiosmtpd gave no 220 greeting within {READY_TIMEOUT:?} on {addr}:\n{}",
                    proc.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// How long it took from spawn until the 220 greeting.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    pub fn logs(&self) -> String {
        self.proc.logs()
    }

    /// Every message delivered so far, raw (headers and body as aiosmtpd stored them: it
    /// adds `X-Peer`, `X-MailFrom` and `X-RcptTo` headers, and lines end in `\n`), oldest
    /// first (Maildir names start with the delivery time).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_file() {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(UNIX_EPOCH);
                    files.push((t, p));
                }
            }
        }
        files.sort_by(|a, b| (a.0, a.1.file_name()).cmp(&(b.0, b.1.file_name())));
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// Waits until at least `n` messages are in the Maildir; false on timeout.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            if self.messages().len() >= n {
                return true;
            }
            if t0.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A started SMTP server, or None when aiosmtpd is not installed and CPRA_ALLOW_SKIP=1;
/// panics with the install instruction otherwise, and when it fails to start.
pub fn require_smtp() -> Option<Smtp> {
    require(
        "aiosmtpd",
        "python3-aiosmtpd",
        Smtp::available(),
        Smtp::start,
    )
}

/// As [`alertmanager_or_skip`], for aiosmtpd.
pub fn smtp_or_skip() -> bool {
    present_or_skip("aiosmtpd", "python3-aiosmtpd", Smtp::available())
}

/// Connects, reads the 220 greeting, says QUIT.
fn greeting(addr: SocketAddr) -> Result<(), String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let (code, text) = smtp_reply(&mut r)?;
    let _ = (&s).write_all(b"QUIT\r\n");
    if code == 220 {
        Ok(())
    } else {
        Err(format!("greeting {code} {text}"))
    }
}

/// Reads one (possibly multi-line) SMTP reply: its code and text.
fn smtp_reply(r: &mut impl BufRead) -> Result<(u16, String), String> {
    let mut text = String::new();
    for _ in 0..100 {
        let mut line = String::new();
        let n = r
            .take(4096)
            .read_line(&mut line)
            .map_err(|e| format!("SMTP read: {e}"))?;
        if n == 0 {
            return Err(format!("SMTP connection closed; got so far: {text:?}"));
        }
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("SMTP: bad reply line {line:?}"))?;
        text.push_str(line.get(4..).unwrap_or("").trim_end());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text));
        }
        text.push('\n');
    }
    Err("SMTP: reply of more than 100 lines".into())
}

/// Sends one message with a hand-written dialogue (EHLO, MAIL FROM, RCPT TO, DATA, QUIT).
/// `data` is the message (headers, blank line, body) with `\n` or `\r\n` line ends; it is
/// sent with CRLF line ends and dot-stuffed. Every reply is checked; every read is bounded.
pub fn smtp_send(addr: SocketAddr, from: &str, to: &[&str], data: &str) -> Result<(), String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("SMTP connect {addr}: {e}"))?;
    let timeout = Some(Duration::from_secs(10));
    s.set_read_timeout(timeout).map_err(|e| e.to_string())?;
    s.set_write_timeout(timeout).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut w = &s;
    let expect = |r: &mut BufReader<TcpStream>, want: u16, after: &str| {
        let (code, text) = smtp_reply(r)?;
        if code == want {
            Ok(())
        } else {
            Err(format!(
                "SMTP after {after}: wanted {want}, got {code} {text}"
            ))
        }
    };
    let mut say = |line: &str| {
        w.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| format!("SMTP write {line:?}: {e}"))
    };
    expect(&mut r, 220, "connect")?;
    say("EHLO cpra-test.localhost")?;
    expect(&mut r, 250, "EHLO")?;
    say(&format!("MAIL FROM:<{from}>"))?;
    expect(&mut r, 250, "MAIL FROM")?;
    for rcpt in to {
        say(&format!("RCPT TO:<{rcpt}>"))?;
        expect(&mut r, 250, "RCPT TO")?;
    }
    say("DATA")?;
    expect(&mut r, 354, "DATA")?;
    let mut body = String::new();
    for line in data.replace("\r\n", "\n").split('\n') {
        if line.starts_with('.') {
            body.push('.');
        }
        body.push_str(line);
        body.push_str("\r\n");
    }
    body.push_str(".\r\n");
    (&s).write_all(body.as_bytes())
        .map_err(|e| format!("SMTP write data: {e}"))?;
    expect(&mut r, 250, "end of data")?;
    let _ = (&s).write_all(b"QUIT\r\n");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client

/// `GET url` (http only); the status and the body as text.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    http_request("GET", url, None, HTTP_IO_TIMEOUT)
}

/// `POST url` with this body and Content-Type; the status and the body as text.
pub fn http_post(url: &str, content_type: &str, body: &[u8]) -> Result<(u16, String), String> {
    http_request("POST", url, Some((content_type, body)), HTTP_IO_TIMEOUT)
}

/// One request on a fresh connection with `Connection: close`. Every connect, read and
/// write is under `io_timeout`, the whole exchange under 15 s; heads are limited to 64 KiB
/// and bodies to 64 MiB. 1xx interim answers are skipped.
pub fn http_request(
    method: &str,
    url: &str,
    body: Option<(&str, &[u8])>,
    io_timeout: Duration,
) -> Result<(u16, String), String> {
    let err = |e: String| format!("{method} {url}: {e}");
    let (host, port, path) = parse_http_url(url).map_err(err)?;
    let deadline = Instant::now() + HTTP_TOTAL;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| err(format!("resolve: {e}")))?
        .next()
        .ok_or_else(|| err("resolves to nothing".into()))?;
    let s =
        TcpStream::connect_timeout(&addr, io_timeout).map_err(|e| err(format!("connect: {e}")))?;
    s.set_read_timeout(Some(io_timeout))
        .and_then(|_| s.set_write_timeout(Some(io_timeout)))
        .map_err(|e| err(e.to_string()))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: cpra-tests\r\nAccept: */*\r\nConnection: close\r\n"
    );
    if let Some((ctype, b)) = body {
        req.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    (&s).write_all(&out)
        .map_err(|e| err(format!("write: {e}")))?;
    let mut r = HttpReader {
        s,
        buf: Vec::new(),
        eof: false,
        deadline,
    };
    loop {
        let (status, headers) = r.head().map_err(err)?;
        if (100..200).contains(&status) {
            continue;
        }
        let header = |n: &str| {
            headers
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let bytes = if method == "HEAD" || status == 204 || status == 304 {
            Vec::new()
        } else if header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            r.chunked().map_err(err)?
        } else if let Some(len) = header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| err(format!("bad Content-Length {len:?}")))?;
            if len > HTTP_MAX_BODY {
                return Err(err(format!("body of {len} bytes is too large")));
            }
            r.take(len).map_err(err)?
        } else {
            r.read_to_close().map_err(err)?
        };
        return Ok((status, String::from_utf8_lossy(&bytes).into_owned()));
    }
}

/// `http://host[:port][/path]` → (host, port, path-with-query).
fn parse_http_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {url:?}"))?,
        ),
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

struct HttpReader {
    s: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    deadline: Instant,
}

impl HttpReader {
    fn fill(&mut self) -> Result<(), String> {
        if Instant::now() > self.deadline {
            return Err(format!("no complete answer within {HTTP_TOTAL:?}"));
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    fn more(&mut self) -> Result<(), String> {
        self.fill()?;
        if self.eof {
            Err("connection closed early".into())
        } else {
            Ok(())
        }
    }

    /// Status and headers (names lowercased).
    fn head(&mut self) -> Result<(u16, Vec<(String, String)>), String> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > HTTP_MAX_HEAD {
                return Err("response head over 64 KiB".into());
            }
            self.more()?;
        };
        let head: Vec<u8> = self.buf.drain(..end + 4).collect();
        let head = String::from_utf8_lossy(&head[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|r| r.get(2..5))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok((status, headers))
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.more()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l: Vec<u8> = self.buf.drain(..i + 2).take(i).collect();
                return Ok(String::from_utf8_lossy(&l).into_owned());
            }
            if self.buf.len() > HTTP_MAX_HEAD {
                return Err("chunk line too long".into());
            }
            self.more()?;
        }
    }

    fn chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size line {line:?}"))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > HTTP_MAX_BODY {
                return Err("chunked body over 64 MiB".into());
            }
            body.extend(self.take(size)?);
            if self.take(2)? != b"\r\n" {
                return Err("chunk not followed by CRLF".into());
            }
        }
    }

    fn read_to_close(&mut self) -> Result<Vec<u8>, String> {
        while !self.eof {
            if self.buf.len() > HTTP_MAX_BODY {
                return Err("body over 64 MiB".into());
            }
            self.fill()?;
        }
        Ok(std::mem::take(&mut self.buf))
    }
}

// ---------------------------------------------------------------------------------------
// Prometheus, promtool and a headless browser

pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
pub const PROMTOOL_BIN: &str = "/usr/bin/promtool";
pub const CHROMIUM_BIN: &str = "/usr/bin/chromium";

fn installed(bin: &str, package: &str) -> Result<(), String> {
    if Path::new(bin).is_file() {
        Ok(())
    } else {
        Err(format!("{bin} not found (Debian package {package})"))
    }
}

/// A running Prometheus on 127.0.0.1 scraping `targets` (host:port) every second; killed on
/// drop.
pub struct Prometheus {
    proc: Proc,
    port: u16,
}

impl Prometheus {
    pub fn start(targets: &[String]) -> Result<Prometheus, String> {
        installed(PROMETHEUS_BIN, "prometheus")?;
        let port = free_port()?;
        let dir = fresh_dir("prometheus")?;
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: cpra\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).map_err(|e| format!("write {}: {e}", file.display()))?;
        let mut cmd = Command::new(PROMETHEUS_BIN);
        cmd.arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let t0 = Instant::now();
        let mut proc = Proc::spawn(cmd, dir, "prometheus")?;
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        loop {
            if let Some(status) = proc.exited() {
                return Err(format!("Prometheus exited ({status}):\n{}", proc.logs()));
            }
            if let Ok((200, _)) = http_request("GET", &ready, None, Duration::from_secs(1)) {
                return Ok(Prometheus { proc, port });
            }
            if t0.elapsed() > READY_TIMEOUT {
                return Err(format!("Prometheus not ready:\n{}", proc.logs()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs(&self) -> String {
        self.proc.logs()
    }

    /// An instant query's result vector (`data.result`).
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            percent_encode(promql)
        );
        let (status, body) = http_request("GET", &url, None, HTTP_IO_TIMEOUT)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status != 200 || v["status"] != "success" {
            return Err(format!("query {promql:?}: HTTP {status}: {body}"));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Scrape targets as Prometheus sees them (`/api/v1/targets`).
    pub fn targets(&self) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/targets", self.port);
        let (_, body) = http_request("GET", &url, None, HTTP_IO_TIMEOUT)?;
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
    }
}

/// A started Prometheus, or None with CPRA_ALLOW_SKIP=1 when it is not installed.
pub fn require_prometheus(targets: &[String]) -> Option<Prometheus> {
    require(
        "Prometheus",
        "prometheus",
        installed(PROMETHEUS_BIN, "prometheus"),
        || Prometheus::start(targets),
    )
}

/// `promtool check metrics` on `text`: Ok, or the linter's complaints.
pub fn promtool_check_metrics(text: &str) -> Option<Result<(), String>> {
    if !present_or_skip(
        "promtool",
        "prometheus",
        installed(PROMTOOL_BIN, "prometheus"),
    ) {
        return None;
    }
    let mut child = Command::new(PROMTOOL_BIN)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(said)
    })
}

/// Headless Chromium on a page: `--dump-dom` (the DOM after scripts ran, waiting up to
/// `budget_ms` of virtual time), and a screenshot when `screenshot` is given. None with
/// CPRA_ALLOW_SKIP=1 when Chromium is not installed.
pub fn chromium_dump_dom(url: &str, budget_ms: u64, screenshot: Option<&Path>) -> Option<String> {
    if !present_or_skip("Chromium", "chromium", installed(CHROMIUM_BIN, "chromium")) {
        return None;
    }
    let profile = fresh_dir("chromium").expect("profile dir");
    let run = |extra: &[String]| -> String {
        let mut cmd = Command::new("timeout");
        cmd.arg("90")
            .arg(CHROMIUM_BIN)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--virtual-time-budget={budget_ms}"))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null());
        let out = cmd.output().expect("run chromium");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run(&["--dump-dom".to_string()]);
    if let Some(png) = screenshot {
        run(&[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,1000".to_string(),
            "--hide-scrollbars".to_string(),
        ]);
    }
    let _ = std::fs::remove_dir_all(&profile);
    Some(dom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 3339 UTC timestamp for now (std only).
    fn rfc3339_now() -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    #[test]
    fn alertmanager_takes_an_alert_and_lists_it() {
        let Some(am) = require_alertmanager() else {
            return;
        };
        eprintln!("alertmanager ready after {:?}", am.ready_after());
        assert!(am.ready_after() < READY_TIMEOUT);
        assert_eq!(am.alerts().unwrap(), json!([]));
        let alert = json!([{
            "labels": {"alertname": "t", "monitor": "web-1"},
            "annotations": {"summary": "web-1 is down"},
            "startsAt": rfc3339_now(),
        }]);
        am.post_alerts(&alert).unwrap();
        let alerts = am.wait_for_alerts(1, Duration::from_secs(10)).unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["labels"]["alertname"], "t");
        assert_eq!(alerts[0]["annotations"]["summary"], "web-1 is down");
        assert_eq!(alerts[0]["receivers"][0]["name"], "null");
        let only_t = am
            .alerts_filtered(true, true, true, true, &[r#"alertname="t""#])
            .unwrap();
        assert_eq!(only_t.as_array().map(Vec::len), Some(1));
        let none = am
            .alerts_filtered(true, true, true, true, &[r#"alertname="other""#])
            .unwrap();
        assert_eq!(none, json!([]));
        // The real API refuses an alert without labels (422) and a body that is not JSON (400).
        let url = format!("{}/api/v2/alerts", am.url());
        let (code, _) = http_post(&url, "application/json", br#"[{"annotations":{}}]"#).unwrap();
        assert_eq!(code, 422);
        let (code, _) = http_post(&url, "application/json", b"not json").unwrap();
        assert_eq!(code, 400);
        assert_eq!(am.status().unwrap()["cluster"]["status"], "disabled");
    }

    #[test]
    fn alertmanager_is_gone_after_drop() {
        let Some(am) = require_alertmanager() else {
            return;
        };
        let url = format!("{}/-/ready", am.url());
        assert_eq!(http_get(&url).unwrap().0, 200);
        let dir = am.proc.dir.clone();
        drop(am);
        assert!(http_get(&url).is_err(), "nothing listens after drop");
        assert!(!dir.exists(), "temp dir removed");
    }

    #[test]
    fn alertmanager_peers_form_a_cluster() {
        if !alertmanager_or_skip() {
            return;
        }
        let a = Alertmanager::start_peer(None).unwrap();
        let b = Alertmanager::start_peer(a.cluster_addr().as_deref()).unwrap();
        let t0 = Instant::now();
        loop {
            let peers = |am: &Alertmanager| {
                am.status()
                    .ok()
                    .and_then(|s| s["cluster"]["peers"].as_array().map(Vec::len))
                    .unwrap_or(0)
            };
            if peers(&a) == 2 && peers(&b) == 2 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "no 2-peer cluster:\n{}\n{}",
                a.logs(),
                b.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // An alert posted to one shows up in the other? Alerts are not gossiped (only
        // silences and notification logs are), so check a silence instead.
        let silence = json!({
            "matchers": [{"name": "alertname", "value": "t", "isRegex": false}],
            "startsAt": rfc3339_now(),
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "cpra-tests",
            "comment": "gossip check",
        });
        let (code, body) = http_post(
            &format!("{}/api/v2/silences", a.url()),
            "application/json",
            silence.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        let t0 = Instant::now();
        while b
            .get_json("/api/v2/silences")
            .unwrap()
            .as_array()
            .map(Vec::len)
            != Some(1)
        {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "silence not gossiped"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("silence gossiped after {:?}", t0.elapsed());
    }

    #[test]
    fn smtp_stores_a_message_in_the_maildir() {
        let Some(smtp) = require_smtp() else {
            return;
        };
        eprintln!("aiosmtpd ready after {:?}", smtp.ready_after());
        assert!(smtp.messages().is_empty());
        let data = "From: cpra <cpra@test.localhost>\nTo: ops@test.localhost\n\
                    Subject: web-1 DOWN\n\nweb-1 refused the connection.\n.leading dot\n";
        smtp_send(
            smtp.addr(),
            "cpra@test.localhost",
            &["ops@test.localhost", "b@test.localhost"],
            data,
        )
        .unwrap();
        assert!(smtp.wait_for(1, Duration::from_secs(10)), "{}", smtp.logs());
        let msgs = smtp.messages();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert!(m.contains("Subject: web-1 DOWN"), "{m}");
        assert!(m.contains("web-1 refused the connection."), "{m}");
        assert!(m.contains("\n.leading dot"), "dot-stuffing undone: {m}");
        assert!(m.contains("X-MailFrom: cpra@test.localhost"), "{m}");
        assert!(
            m.contains("X-RcptTo: ops@test.localhost, b@test.localhost"),
            "{m}"
        );
        let dir = smtp.proc.dir.clone();
        let addr = smtp.addr();
        drop(smtp);
        assert!(!dir.exists());
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }

    /// A one-shot server answering every connection with `raw`.
    fn canned(raw: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", l.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = l.accept() {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(raw);
            }
        });
        url
    }

    #[test]
    fn http_client_reads_chunked_length_and_close_delimited_bodies() {
        let url = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n");
        assert_eq!(http_get(&url).unwrap(), (200, "hello world".to_string()));
        let url = canned(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope-extra");
        assert_eq!(http_get(&url).unwrap(), (404, "nope".to_string()));
        let url = canned(b"HTTP/1.0 200 OK\r\n\r\nuntil close");
        assert_eq!(http_get(&url).unwrap(), (200, "until close".to_string()));
        let url = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        assert!(http_get(&url).unwrap_err().contains("closed early"));
        assert!(http_get("https://127.0.0.1/").is_err());
        assert_eq!(
            parse_http_url("http://127.0.0.1:9093/api/v2/alerts?x=1").unwrap(),
            (
                "127.0.0.1".to_string(),
                9093,
                "/api/v2/alerts?x=1".to_string()
            )
        );
        assert_eq!(
            parse_http_url("http://[::1]:80").unwrap(),
            ("::1".to_string(), 80, "/".to_string())
        );
    }

    #[test]
    fn a_missing_server_panics_with_the_instruction_unless_skipping_is_allowed() {
        let missing = || Err("Frobnicator not found".to_string());
        let r = std::panic::catch_unwind(|| {
            require("Frobnicator", "frob-pkg", missing(), || Ok::<u8, String>(1))
        });
        if allow_skip() {
            assert_eq!(r.ok(), Some(None));
        } else {
            let msg = r.expect_err("panics").downcast::<String>().unwrap();
            assert!(msg.contains("Frobnicator not found"), "{msg}");
            assert!(msg.contains("apt-get install frob-pkg"), "{msg}");
            assert!(msg.contains("CPRA_ALLOW_SKIP=1"), "{msg}");
        }
        assert_eq!(require("F", "p", Ok(()), || Ok::<u8, String>(7)), Some(7));
        let failed =
            std::panic::catch_unwind(|| require("F", "p", Ok(()), || Err::<u8, _>("boom".into())));
        let msg = failed
            .expect_err("start failure panics")
            .downcast::<String>()
            .unwrap();
        assert!(
            msg.contains("did not start") && msg.contains("boom"),
            "{msg}"
        );
    }

    #[test]
    fn http_client_gives_up_on_a_silent_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let t0 = Instant::now();
        let r = http_request("GET", &url, None, Duration::from_millis(200));
        assert!(r.unwrap_err().contains("read"), "timed out reading");
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(l);
    }
}
