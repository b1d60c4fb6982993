//! A real Docker-Engine-compatible API for tests: podman's `system service` on a unix socket,
//! with one container running busybox httpd on a free 127.0.0.1 port. Started by
//! `tools/podman-docker-api.sh start DIR PORT NAME` in a fresh temp dir of its own (podman's
//! whole store, config, socket and logs live there, so tests may run several at once), and
//! stopped by `... stop DIR` on drop, which also removes the dir.
//!
//! Needs Debian's `podman runc busybox-static` (and curl, which the script uses for its
//! readiness checks). A machine without them gets `Err` from `start`, and `require` panics
//! with the install instruction unless `CPRA_ALLOW_SKIP=1`, when it prints `SKIPPED: ...`
//! and returns `None`.
//!
//! What podman 4.3 (Debian 12) answers, measured here:
//! - Any version prefix works: `/containers/NAME/json`, `/v1.41/...`, even `/v1.50/...`
//!   (`GET /version` says ApiVersion 1.41, MinAPIVersion 1.24). `GET /_ping` answers `OK`.
//! - `POST /containers/NAME/restart?t=1` answers 204 with no body in about 0.1-0.2 s (the
//!   container runs under catatonit, so SIGTERM ends httpd at once), also when the container
//!   was stopped; the port serves again right after. `State.StartedAt` moves to the new
//!   start time (RFC 3339 with nanoseconds, e.g. `2026-12-02T14:04:09.034476905Z`);
//!   `State.Running` is `true` before and after; `State.FinishedAt` becomes the stop time.
//! - `POST /containers/NAME/stop?t=1` answers 204, then `State.Running` is `false`,
//!   `State.Status` is `"exited"`, `ExitCode` 143; stopping it again answers 304.
//! - An unknown container answers 404 with JSON
//!   `{"cause":"no such container","message":"no container with name or ID \"x\" found: no such container","response":404}`.
//!
//! A test process killed outright (not unwinding) leaves the service and container running;
//! `bash tools/podman-docker-api.sh stop DIR` cleans up after it.
//!
//! ```ignore
//! #[path = "support/podman.rs"]
//! mod podman;
//! let Some(p) = podman::require() else { return };
//! // ... point cpra at p.docker_host() and container p.name(), check p.port() ...
//! let (code, _) = p.api("POST", &format!("/v1.41/containers/{}/stop?t=1", p.name())).unwrap();
//! ```
#![allow(dead_code)]

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The script that starts and stops a fixture.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/podman-docker-api.sh");
/// Set to `1` to let `require` skip (print SKIPPED, return None) when podman is missing.
pub const ALLOW_SKIP_ENV: &str = "CPRA_ALLOW_SKIP";
/// What to install.
pub const INSTALL: &str = "apt-get install -y podman runc busybox-static";
/// A Docker API version prefix that podman accepts (it accepts any, and none).
pub const API_VERSION: &str = "v1.41";
/// The container name `require` uses.
pub const DEFAULT_NAME: &str = "cpra-web";

/// Bound on one run of the script's `start` (it bounds its own readiness wait at 30 s and
/// each podman command at 60 s; a start takes about 0.5 s here).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// Read/write timeout on the API socket, and the bound on one whole exchange: a stop or
/// restart with `t=N` may take N seconds and more.
const API_IO_TIMEOUT: Duration = Duration::from_secs(30);
const API_TOTAL: Duration = Duration::from_secs(60);
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
const START_ATTEMPTS: usize = 3;
/// The script's exit codes.
const EXIT_NOT_INSTALLED: i32 = 3;
const EXIT_PORT_IN_USE: i32 = 4;

/// A running podman API service with one container NAME serving HTTP on 127.0.0.1:PORT;
/// stopped (service killed, containers removed, dir removed) on drop.
pub struct Podman {
    dir: PathBuf,
    port: u16,
    name: String,
    docker_host: String,
    ready_after: Duration,
}

impl Podman {
    /// Ok when what the script needs is on PATH (podman, runc, curl) and a busybox is at
    /// /bin/busybox. The script itself also insists that the busybox is the static one.
    pub fn available() -> Result<(), String> {
        let missing: Vec<&str> = ["podman", "runc", "curl"]
            .into_iter()
            .filter(|b| find_in_path(b).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "podman not installed ({INSTALL}; curl too): missing {}",
                missing.join(", ")
            ));
        }
        if !Path::new("/bin/busybox").is_file() && !Path::new("/usr/bin/busybox").is_file() {
            return Err(format!("podman not installed ({INSTALL}): no /bin/busybox"));
        }
        Ok(())
    }

    /// Starts a fixture whose container is called `name` (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`),
    /// in a fresh dir under the system temp dir, on a free port (retried on fresh ports when
    /// another process took the port first).
    pub fn start(name: &str) -> Result<Podman, String> {
        if !Path::new(SCRIPT).is_file() {
            return Err(format!("{SCRIPT} is missing"));
        }
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::launch(name) {
                Ok(p) => return Ok(p),
                Err((e, port_race)) => {
                    if !port_race {
                        return Err(e);
                    }
                    last = e;
                }
            }
        }
        Err(format!(
            "podman fixture: port taken on every one of {START_ATTEMPTS} attempts; last:\n{last}"
        ))
    }

    /// One attempt; the error's flag says whether it lost a port race (worth retrying).
    fn launch(name: &str) -> Result<Podman, (String, bool)> {
        let fail = |e: String| (e, false);
        let port = free_port().map_err(fail)?;
        let dir = fresh_dir().map_err(fail)?;
        let t0 = Instant::now();
        let run = run_script(
            &dir,
            "start",
            &[dir.to_string_lossy().as_ref(), &port.to_string(), name],
            START_TIMEOUT,
        );
        let ready_after = t0.elapsed();
        let undo = |msg: String, race: bool| {
            let _ = run_script(
                &dir,
                "stop",
                &[dir.to_string_lossy().as_ref()],
                STOP_TIMEOUT,
            );
            let _ = std::fs::remove_dir_all(&dir);
            (msg, race)
        };
        let (code, stdout, stderr) = match run {
            Ok(r) => r,
            Err(e) => return Err(undo(e, false)),
        };
        let what = format!("bash {SCRIPT} start {} {port} {name}", dir.display());
        match code {
            Some(0) => {}
            Some(EXIT_PORT_IN_USE) => {
                return Err(undo(format!("{what}: port {port} in use:\n{stderr}"), true));
            }
            Some(EXIT_NOT_INSTALLED) => {
                return Err(undo(format!("{what}: {}", stderr.trim()), false));
            }
            c => {
                return Err(undo(
                    format!("{what} failed (exit {c:?}):\n{stderr}\nstdout:\n{stdout}"),
                    false,
                ));
            }
        }
        let lines: Vec<&str> = stdout.lines().collect();
        let docker_host = match lines.as_slice() {
            [l] if l.starts_with("DOCKER_HOST=unix://") => l["DOCKER_HOST=".len()..].to_string(),
            _ => {
                return Err(undo(
                    format!("{what}: expected one line DOCKER_HOST=unix://..., got:\n{stdout}"),
                    false,
                ));
            }
        };
        Ok(Podman {
            dir,
            port,
            name: name.to_string(),
            docker_host,
            ready_after,
        })
    }

    /// `unix:///tmp/cpra-pm-.../podman.sock`: what DOCKER_HOST would be set to.
    pub fn docker_host(&self) -> &str {
        &self.docker_host
    }

    /// The API's unix socket.
    pub fn socket_path(&self) -> PathBuf {
        PathBuf::from(self.docker_host.trim_start_matches("unix://"))
    }

    /// The port on 127.0.0.1 the container's httpd serves (`GET /` answers 200
    /// `cpra podman fixture\n`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fixture's dir (podman store, config, socket, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long the script's `start` took.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// The script's and the service's logs so far (for failure messages).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            "start.log",
            "service.log",
            "run.log",
            "container.log",
            "stop.log",
        ] {
            if let Ok(t) = std::fs::read(self.dir.join(f)) {
                s.push_str(&format!("--- {f} ---\n{}\n", String::from_utf8_lossy(&t)));
            }
        }
        s
    }

    /// One request to the API, without a body: status and body as text. `path` with or
    /// without a version prefix, e.g. `/v1.41/containers/NAME/json` or `/_ping`.
    pub fn api(&self, method: &str, path: &str) -> Result<(u16, String), String> {
        self.request(method, path, None)
    }

    /// One request to the API with an optional JSON body (Content-Type application/json).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        json_body: Option<&str>,
    ) -> Result<(u16, String), String> {
        unix_http(&self.socket_path(), method, path, json_body)
            .map_err(|e| format!("{method} {path} on {}: {e}", self.docker_host))
    }

    /// `GET /v1.41/containers/NAME/json`, parsed.
    pub fn inspect(&self) -> Result<Value, String> {
        let path = format!("/{API_VERSION}/containers/{}/json", self.name);
        match self.api("GET", &path)? {
            (200, body) => serde_json::from_str(&body)
                .map_err(|e| format!("GET {path}: not JSON ({e}): {body}")),
            (code, body) => Err(format!("GET {path}: {code}: {body}")),
        }
    }

    /// `State.StartedAt` of the container, e.g. `2026-12-02T14:04:09.034476905Z`.
    pub fn started_at(&self) -> Option<String> {
        let v = self.inspect().ok()?;
        v["State"]["StartedAt"].as_str().map(str::to_string)
    }

    /// `State.Running` of the container.
    pub fn running(&self) -> Option<bool> {
        self.inspect().ok()?["State"]["Running"].as_bool()
    }

    /// `POST /containers/NAME/stop?t=1` (204, or 304 when already stopped).
    pub fn stop_container(&self) -> Result<(), String> {
        self.container_action("stop?t=1", &[204, 304])
    }

    /// `POST /containers/NAME/start` (204, or 304 when already running).
    pub fn start_container(&self) -> Result<(), String> {
        self.container_action("start", &[204, 304])
    }

    /// `POST /containers/NAME/restart?t=1` (204).
    pub fn restart_container(&self) -> Result<(), String> {
        self.container_action("restart?t=1", &[204])
    }

    fn container_action(&self, action: &str, ok: &[u16]) -> Result<(), String> {
        let path = format!("/{API_VERSION}/containers/{}/{action}", self.name);
        match self.api("POST", &path)? {
            (code, _) if ok.contains(&code) => Ok(()),
            (code, body) => Err(format!("POST {path}: {code}: {body}")),
        }
    }

    /// Does `GET /` on 127.0.0.1:PORT answer 200 (connect and read under 1 s each)?
    pub fn is_serving(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
        let req = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while got.len() < 12 {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        got.starts_with(b"HTTP/1.") && got.get(9..12) == Some(b"200")
    }

    /// Polls `is_serving` every 50 ms until it equals `want` or `timeout` passes.
    pub fn wait_serving(&self, want: bool, timeout: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            if self.is_serving() == want {
                return true;
            }
            if t0.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the script's `stop` (idempotent; also done by drop, which then removes the dir).
    pub fn stop(&self) -> Result<(), String> {
        match run_script(
            &self.dir,
            "stop",
            &[self.dir.to_string_lossy().as_ref()],
            STOP_TIMEOUT,
        )? {
            (Some(0), _, _) => Ok(()),
            (c, out, err) => Err(format!("{SCRIPT} stop: exit {c:?}\n{err}\n{out}")),
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("podman fixture {}: {e}", self.dir.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn allow_skip() -> bool {
    std::env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v == "1")
}

/// A fixture with container [`DEFAULT_NAME`]; see [`require_named`].
pub fn require() -> Option<Podman> {
    require_named(DEFAULT_NAME)
}

/// A started fixture; when podman is missing, panics with the install instruction, or with
/// CPRA_ALLOW_SKIP=1 prints `SKIPPED: ...` and returns None. Installed but failing to start
/// always panics.
pub fn require_named(name: &str) -> Option<Podman> {
    let missing = |why: String| {
        if allow_skip() {
            eprintln!("SKIPPED: {why} ({ALLOW_SKIP_ENV}=1)");
            return None;
        }
        panic!(
            "{why}\nInstall it with `{INSTALL}` (CI's .ci/run should), \
             or set {ALLOW_SKIP_ENV}=1 to skip the tests that need podman."
        );
    };
    if let Err(why) = Podman::available() {
        return missing(why);
    }
    match Podman::start(name) {
        Ok(p) => Some(p),
        Err(e) if e.contains("not installed") => missing(e),
        Err(e) => panic!("podman is installed but the fixture did not start:\n{e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

fn find_in_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then closed: racy).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// A new, empty directory under the system temp dir, with a short name: podman refuses a
/// run root longer than 50 characters (the script's DIR/run, so DIR at most 46), and the
/// socket path must fit in a unix socket address. `/tmp/cpra-pm-<pid>-<n>-<time>`.
fn fresh_dir() -> Result<PathBuf, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir();
    let mut last = String::new();
    for _ in 0..100 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = base.join(format!(
            "cpra-pm-{}-{n}-{}",
            std::process::id(),
            base36((nanos % 1_000_000_000_000) as u64)
        ));
        let len = d.as_os_str().len();
        if len > 46 {
            return Err(format!(
                "temp dir {} too long ({len} > 46 characters; podman wants its run root DIR/run \
                 at most 50): set TMPDIR to a shorter dir",
                d.display()
            ));
        }
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                last = format!("{} exists", d.display())
            }
            Err(e) => return Err(format!("create {}: {e}", d.display())),
        }
    }
    Err(format!("no fresh dir under {}: {last}", base.display()))
}

fn base36(mut v: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Runs `bash SCRIPT cmd args...` with its stdout/stderr in files in `dir` (so a daemon
/// that kept them open could never block us), in its own process group, killed as a group
/// after `timeout`. Returns the exit code (None: killed by a signal), stdout and stderr.
fn run_script(
    dir: &Path,
    cmd: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<(Option<i32>, String, String), String> {
    let out_path = dir.join(format!("script-{cmd}.stdout"));
    let err_path = dir.join(format!("script-{cmd}.stderr"));
    let (out, err) = File::create(&out_path)
        .and_then(|o| File::create(&err_path).map(|e| (o, e)))
        .map_err(|e| format!("log files in {}: {e}", dir.display()))?;
    let mut child = Command::new("bash")
        .arg(SCRIPT)
        .arg(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run bash {SCRIPT}: {e}"))?;
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if t0.elapsed() >= timeout => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {SCRIPT} {cmd}: {e}")),
        }
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    match status {
        Some(s) => Ok((s.code(), read(&out_path), read(&err_path))),
        None => {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "bash {SCRIPT} {cmd} {} did not finish within {timeout:?}; killed.\nstderr:\n{}",
                args.join(" "),
                read(&err_path)
            ))
        }
    }
}

/// One HTTP/1.1 request over a unix socket with `Host: docker` and `Connection: close`;
/// reads to EOF (every read under 30 s, the whole exchange under 60 s, at most 64 MiB).
fn unix_http(
    sock: &Path,
    method: &str,
    path: &str,
    json_body: Option<&str>,
) -> Result<(u16, String), String> {
    let deadline = Instant::now() + API_TOTAL;
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(API_IO_TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(API_IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let body = json_body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: cpra-tests\r\nAccept: */*\r\nConnection: close\r\n"
    );
    if json_body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if json_body.is_some() || !matches!(method, "GET" | "HEAD") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(format!("no complete answer within {API_TOTAL:?}"));
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err("answer over 64 MiB".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    parse_response(&raw, method == "HEAD")
}

/// Status and body of a whole HTTP/1.x answer read to EOF: skips 1xx interim answers,
/// decodes chunked bodies, honours Content-Length, else takes everything after the head.
fn parse_response(mut raw: &[u8], head_only: bool) -> Result<(u16, String), String> {
    loop {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no complete head in {:?}", String::from_utf8_lossy(raw)))?;
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let rest = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|r| r.get(2..5))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |n: &str| {
            headers
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let body: Vec<u8> = if head_only || status == 204 || status == 304 {
            Vec::new()
        } else if header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            dechunk(rest)?
        } else if let Some(len) = header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("bad Content-Length {len:?}"))?;
            rest.get(..len)
                .ok_or_else(|| {
                    format!(
                        "body shorter than Content-Length {len}: {} bytes",
                        rest.len()
                    )
                })?
                .to_vec()
        } else {
            rest.to_vec()
        };
        return Ok((status, String::from_utf8_lossy(&body).into_owned()));
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut short")?;
        let line = String::from_utf8_lossy(&rest[..eol]).into_owned();
        rest = &rest[eol + 2..];
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        if size == 0 {
            return Ok(body); // trailers, if any, are ignored
        }
        let data = rest.get(..size).ok_or("chunk cut short")?;
        body.extend_from_slice(data);
        rest = &rest[size..];
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("chunk not followed by CRLF")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_container_stops_and_restarts_through_the_docker_api() {
        let Some(p) = require() else {
            return;
        };
        eprintln!(
            "podman fixture ready after {:?} at {}",
            p.ready_after(),
            p.docker_host()
        );
        assert!(
            p.is_serving(),
            "not serving on port {}:\n{}",
            p.port(),
            p.logs()
        );
        assert_eq!(p.api("GET", "/_ping").unwrap(), (200, "OK".to_string()));
        assert_eq!(p.running(), Some(true));
        let before = p.started_at().expect("State.StartedAt");

        let (code, body) = p
            .api("POST", &format!("/containers/{}/stop?t=1", p.name()))
            .unwrap();
        assert_eq!(code, 204, "stop: {body}");
        assert!(
            p.wait_serving(false, Duration::from_secs(10)),
            "still serving after stop"
        );
        assert_eq!(p.running(), Some(false));

        let t0 = Instant::now();
        let (code, body) = p
            .api("POST", &format!("/containers/{}/restart?t=1", p.name()))
            .unwrap();
        assert_eq!(code, 204, "restart: {body}");
        assert!(
            p.wait_serving(true, Duration::from_secs(10)),
            "not serving after restart:\n{}",
            p.logs()
        );
        eprintln!("restart answered and port serving after {:?}", t0.elapsed());
        assert_eq!(p.running(), Some(true));
        let after = p.started_at().expect("State.StartedAt");
        assert_ne!(before, after, "StartedAt did not move on restart");

        let (code, body) = p
            .api(
                "POST",
                &format!("/{API_VERSION}/containers/doesnotexist/restart"),
            )
            .unwrap();
        assert_eq!(code, 404, "{body}");
        let v: Value = serde_json::from_str(&body).expect("404 body is JSON");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("no such container")),
            "{body}"
        );

        let dir = p.dir().to_path_buf();
        let port = p.port();
        drop(p);
        assert!(!dir.exists(), "{} left behind", dir.display());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "port {port} still open after drop"
        );
    }

    #[test]
    fn response_parser_reads_chunked_length_and_close_delimited_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked, false).unwrap(),
            (200, "Wikipedia".into())
        );
        let length = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(length, false).unwrap(), (404, "{}".into()));
        let close = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        assert_eq!(
            parse_response(close, false).unwrap(),
            (200, "all of it".into())
        );
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            parse_response(interim, false).unwrap(),
            (204, String::new())
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", false).is_err());
        assert!(parse_response(b"garbage\r\n\r\n", false).is_err());
    }
}
