//! The docker intervention: restart a container through the Docker Engine API.
//!
//! `POST /containers/{id}/restart?t=SECONDS` over `DOCKER_HOST` (`unix:///path` or
//! `tcp://host:port`), a per-target `docker_host`, or `/var/run/docker.sock`. 204 is done; 404 is
//! "no such container"; anything else fails with the daemon's own message. Before and after, the
//! container's `State` is read (`GET /containers/{id}/json`): the restart counts only when the
//! container is running again and its `StartedAt` moved. One deadline (`target.timeout`, never
//! 0) bounds the whole exchange, connection included; the container gets a third of it (at most
//! 10 s, Docker's default) to stop before it is killed.
//!
//! HTTP/1.1 is written by hand (one request per connection, `Connection: close`): the Engine API
//! over a unix socket is a few fixed requests, and a general client would need a connector for
//! unix sockets anyway. Answers are read with httparse, bounded by [`DOCKER_ANSWER_BYTES_MAX`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::limits::DOCKER_ANSWER_BYTES_MAX;

pub use crate::config::model::DockerHost;

/// The default socket when neither `docker_host` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

impl DockerHost {
    /// The configured override, else `$DOCKER_HOST`, else the default socket.
    pub fn resolve(configured: Option<&str>) -> Result<DockerHost, String> {
        match configured {
            Some(c) => DockerHost::parse(c),
            None => match std::env::var("DOCKER_HOST") {
                Ok(v) if !v.trim().is_empty() => {
                    DockerHost::parse(&v).map_err(|e| format!("DOCKER_HOST {e}"))
                }
                _ => Ok(DockerHost::Unix(DEFAULT_SOCKET.into())),
            },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DockerHost::Unix(p) => format!("unix://{}", p.display()),
            DockerHost::Tcp(hp) => format!("tcp://{hp}"),
        }
    }
}

/// An answer from the daemon.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

trait Stream: Read + Write {
    fn set_timeouts(&self, d: Duration) -> std::io::Result<()>;
}

impl Stream for UnixStream {
    fn set_timeouts(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))?;
        self.set_write_timeout(Some(d))
    }
}

impl Stream for TcpStream {
    fn set_timeouts(&self, d: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(d))?;
        self.set_write_timeout(Some(d))
    }
}

fn left(deadline: Instant) -> Result<Duration, String> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err("timed out".into())
    } else {
        Ok(d)
    }
}

/// A unix-socket connect bounded by `d` (a daemon with a full backlog would block forever).
fn connect_unix(p: &std::path::Path, d: Duration) -> std::io::Result<UnixStream> {
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    s.connect_timeout(&socket2::SockAddr::unix(p)?, d)?;
    Ok(UnixStream::from(std::os::fd::OwnedFd::from(s)))
}

fn connect(host: &DockerHost, deadline: Instant) -> Result<Box<dyn Stream>, String> {
    let d = left(deadline)?;
    let s: Box<dyn Stream> = match host {
        DockerHost::Unix(p) => Box::new(connect_unix(p, d).map_err(|e| {
            format!(
                "cannot reach the Docker daemon at unix://{}: {e}",
                p.display()
            )
        })?),
        DockerHost::Tcp(hp) => {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(hp.as_str())
                .map_err(|e| format!("Docker host tcp://{hp}: {e}"))?
                .next()
                .ok_or_else(|| format!("Docker host tcp://{hp}: no address"))?;
            Box::new(
                TcpStream::connect_timeout(&addr, d)
                    .map_err(|e| format!("cannot reach the Docker daemon at tcp://{hp}: {e}"))?,
            )
        }
    };
    s.set_timeouts(d).map_err(|e| e.to_string())?;
    Ok(s)
}

/// One request, one answer, one connection, all before `deadline`.
fn call(host: &DockerHost, method: &str, path: &str, deadline: Instant) -> Result<Answer, String> {
    let mut s = connect(host, deadline)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: cpra\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("sending to the Docker daemon: {}", timeout_text(&e)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        s.set_timeouts(left(deadline)?).map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > DOCKER_ANSWER_BYTES_MAX {
                    return Err(format!(
                        "the Docker daemon's answer is over {DOCKER_ANSWER_BYTES_MAX} bytes"
                    ));
                }
                if let Some(a) = parse(&buf)? {
                    return Ok(a);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(format!(
                    "reading from the Docker daemon: {}",
                    timeout_text(&e)
                ));
            }
        }
    }
    parse_at_eof(&buf)
}

fn timeout_text(e: &std::io::Error) -> String {
    if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        "timed out".into()
    } else {
        e.to_string()
    }
}

/// A complete answer in `buf`, or `None` when more bytes are needed.
fn parse(buf: &[u8]) -> Result<Option<Answer>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the Docker daemon's answer is not HTTP: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let body = &buf[head..];
    if status == 204 || status == 304 {
        return Ok(Some(Answer {
            status,
            body: Vec::new(),
        }));
    }
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return Ok(dechunk(body).map(|body| Answer { status, body }));
    }
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return Ok((body.len() >= len).then(|| Answer {
            status,
            body: body[..len].to_vec(),
        }));
    }
    Ok(None)
}

fn parse_at_eof(buf: &[u8]) -> Result<Answer, String> {
    match parse(buf)? {
        Some(a) => Ok(a),
        None => {
            // No length: the body ends with the connection.
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(buf) {
                Ok(httparse::Status::Complete(n)) => Ok(Answer {
                    status: resp.code.unwrap_or(0),
                    body: buf[n..].to_vec(),
                }),
                _ => Err("the Docker daemon closed the connection before answering".into()),
            }
        }
    }
}

/// The body of a complete chunked encoding, or `None` if it is not complete yet.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        let end = size.checked_add(2)?;
        if b.len() < end {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[end..];
    }
}

/// The daemon's `{"message": ...}`, or the body's first line.
fn message(a: &Answer) -> String {
    let text = String::from_utf8_lossy(&a.body);
    let m = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.lines().next().unwrap_or("").to_string());
    m.chars().take(300).collect()
}

/// Percent-encodes a container name or id for the path.
fn encode(id: &str) -> String {
    let mut s = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `(running, started_at)` of a container, or why not.
fn state(host: &DockerHost, id: &str, deadline: Instant) -> Result<(bool, String), String> {
    let a = call(
        host,
        "GET",
        &format!("/containers/{}/json", encode(id)),
        deadline,
    )?;
    match a.status {
        200 => {
            let v: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| {
                format!("the Docker daemon's container description is not JSON: {e}")
            })?;
            Ok((
                v["State"]["Running"].as_bool().unwrap_or(false),
                v["State"]["StartedAt"].as_str().unwrap_or("").to_string(),
            ))
        }
        404 => Err(format!("no such container {id:?} ({})", message(&a))),
        s => Err(format!(
            "Docker daemon answered {s} to inspect: {}",
            message(&a)
        )),
    }
}

/// Restarts `id` and confirms it runs again, within `timeout`.
pub fn restart(host: &DockerHost, id: &str, timeout: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    let deadline = t0 + timeout;
    let (_, before) = state(host, id, deadline)?;
    let grace_s = (timeout.as_secs() / 3).min(10);
    let a = call(
        host,
        "POST",
        &format!("/containers/{}/restart?t={grace_s}", encode(id)),
        deadline,
    )
    .map_err(|e| format!("restart of {id:?} via {}: {e}", host.describe()))?;
    match a.status {
        204 | 200 => {}
        404 => return Err(format!("no such container {id:?} ({})", message(&a))),
        s => {
            return Err(format!(
                "Docker daemon answered {s} to restart {id:?}: {}",
                message(&a)
            ));
        }
    }
    let (running, after) = state(host, id, deadline)?;
    if !running {
        return Err(format!("container {id:?} is not running after its restart"));
    }
    if !before.is_empty() && after == before {
        return Err(format!(
            "container {id:?} reports the same start time after its restart"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_with_clear_errors() {
        assert_eq!(
            DockerHost::parse("unix:///run/d.sock").unwrap(),
            DockerHost::Unix("/run/d.sock".into())
        );
        assert_eq!(
            DockerHost::parse("/run/d.sock").unwrap(),
            DockerHost::Unix("/run/d.sock".into())
        );
        assert_eq!(
            DockerHost::parse("tcp://10.0.0.1:2375").unwrap(),
            DockerHost::Tcp("10.0.0.1:2375".into())
        );
        assert!(
            DockerHost::parse("unix://relative")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            DockerHost::parse("tcp://host")
                .unwrap_err()
                .contains("host:port")
        );
        assert!(
            DockerHost::parse("ssh://x")
                .unwrap_err()
                .contains("unix:///")
        );
    }

    #[test]
    fn answers_parse_by_length_chunks_and_eof() {
        let a = parse(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap().unwrap();
        assert_eq!(a.status, 204);
        let a = parse(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 27\r\n\r\n{\"message\":\"no such thing\"}",
        )
        .unwrap()
        .unwrap();
        assert_eq!(message(&a), "no such thing");
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .unwrap()
                .is_none()
        );
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(c).unwrap().unwrap().body, b"abcde");
        assert!(parse(&c[..c.len() - 7]).unwrap().is_none());
        let e = parse_at_eof(b"HTTP/1.0 500 Oops\r\n\r\nboom").unwrap();
        assert_eq!((e.status, message(&e).as_str()), (500, "boom"));
        assert!(parse(b"garbage\r\n\r\n").is_err());
        // A hostile chunk size never overflows.
        assert!(dechunk(b"ffffffffffffffff\r\nabc").is_none());
    }

    #[test]
    fn names_are_encoded_for_the_path() {
        assert_eq!(encode("web-1_a.b"), "web-1_a.b");
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_missing_socket_is_a_clear_failure() {
        let h = DockerHost::Unix("/nonexistent/cpra-docker.sock".into());
        let e = restart(&h, "web", Duration::from_secs(2)).unwrap_err();
        assert!(
            e.contains("cannot reach the Docker daemon at unix:///nonexistent"),
            "{e}"
        );
    }
}
