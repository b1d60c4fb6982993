//! `cpra demo`: the bundled example, offline, every colour within a minute.
//!
//! Starts a handful of HTTP targets on loopback (ephemeral ports, passed to the bundled config
//! `examples/demo.yaml` through `${...}` variables), scripts their failures, and runs the real
//! engine on the real config path: the same loader, workers, lifecycle, log notifier and exec
//! intervention an operator gets. One target "crashes" and is brought back by an exec
//! intervention that runs `cpra demo-revive`; one is broken for good; one flaps; one enters a
//! maintenance window. Codes are printed as they fire and written to the log notifier's file.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::config::model::Colour;
use crate::config::{self, Env, Format, LoadOptions};
use crate::engine::{Engine, EngineConfig};
use crate::store::{MonitorId, StoreBuilder};
use clap::Args;

/// `cpra demo`'s arguments (the demo owns them).
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How long to run.
    #[arg(long = "for", value_parser = super::parse_duration, default_value = "32s")]
    pub run_for: Duration,
    /// Where to write the demo's config and alert log. Default: a fresh temporary directory.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Where the dashboard listens (default 127.0.0.1:9797, else a free port); `none`: off.
    #[arg(long)]
    pub listen: Option<String>,
}

/// The bundled example config.
pub const DEMO_YAML: &str = include_str!("../../examples/demo.yaml");

const HEALTHY: u8 = 0;
const FAILING: u8 = 1;

/// A tiny HTTP target whose health can be switched at run time (`POST /revive`, `POST /break`).
pub struct DemoTarget {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
}

impl DemoTarget {
    pub fn start() -> std::io::Result<DemoTarget> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(AtomicU8::new(HEALTHY));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (mode.clone(), stop.clone());
        std::thread::Builder::new()
            .name("cpra-demo-target".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let m = m.clone();
                        let _ = std::thread::Builder::new().spawn(move || serve(c, &m));
                    }
                }
            })?;
        Ok(DemoTarget { addr, mode, stop })
    }

    pub fn set_failing(&self, failing: bool) {
        self.mode
            .store(if failing { FAILING } else { HEALTHY }, Ordering::Release);
    }

    pub fn is_failing(&self) -> bool {
        self.mode.load(Ordering::Acquire) == FAILING
    }
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // unblock accept
    }
}

fn serve(mut c: TcpStream, mode: &AtomicU8) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        match c.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/revive" => {
            mode.store(HEALTHY, Ordering::Release);
            ("200 OK", "{\"revived\":true}")
        }
        "/break" => {
            mode.store(FAILING, Ordering::Release);
            ("200 OK", "{\"broken\":true}")
        }
        _ if mode.load(Ordering::Acquire) == FAILING => {
            ("503 Service Unavailable", "{\"status\":\"down\"}")
        }
        _ => ("200 OK", "{\"status\":\"ok\"}"),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(resp.as_bytes());
}

/// `cpra demo-revive ADDR`: exit 0 when the target says it is back.
pub fn revive(addr: &str, path: &str) -> i32 {
    let attempt = || -> std::io::Result<bool> {
        let sa: SocketAddr = addr
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")))?;
        let mut c = TcpStream::connect_timeout(&sa, Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad path",
            ));
        }
        write!(
            c,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut resp = Vec::new();
        c.read_to_end(&mut resp)?;
        Ok(resp.starts_with(b"HTTP/1.1 200"))
    };
    match attempt() {
        Ok(true) => {
            crate::out!("demo-revive: {addr}{path}: ok");
            0
        }
        Ok(false) => {
            crate::say!("demo-revive: {addr}{path}: not a 200");
            1
        }
        Err(e) => {
            crate::say!("demo-revive: {addr}: {e}");
            1
        }
    }
}

fn ansi(c: Colour) -> &'static str {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return "";
    }
    match c {
        Colour::Red => "\x1b[31m",
        Colour::Yellow => "\x1b[33m",
        Colour::Green => "\x1b[32m",
        Colour::Cyan => "\x1b[36m",
        Colour::Gray => "\x1b[90m",
    }
}

pub fn run(args: &DemoArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            crate::say!("cpra demo: {e}");
            1
        }
    }
}

fn run_inner(args: &DemoArgs) -> Result<i32, String> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("cpra-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log = dir.join("alerts.log");
    let _ = std::fs::remove_file(&log);

    let web = DemoTarget::start().map_err(|e| e.to_string())?;
    let api = DemoTarget::start().map_err(|e| e.to_string())?;
    let db = DemoTarget::start().map_err(|e| e.to_string())?;
    let cache = DemoTarget::start().map_err(|e| e.to_string())?;
    let tcp = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let tcp_addr = tcp.local_addr().map_err(|e| e.to_string())?;
    db.set_failing(true);

    let exe = std::env::current_exe().map_err(|e| format!("finding the cpra binary: {e}"))?;
    let maint_start = SystemTime::now() + Duration::from_secs(20);
    let vars: Vec<(&str, String)> = vec![
        ("CPRA_BIN", exe.display().to_string()),
        ("CPRA_DEMO_DIR", dir.display().to_string()),
        ("CPRA_DEMO_WEB", web.addr.to_string()),
        ("CPRA_DEMO_API", api.addr.to_string()),
        ("CPRA_DEMO_DB", db.addr.to_string()),
        ("CPRA_DEMO_CACHE", cache.addr.to_string()),
        ("CPRA_DEMO_TCP", tcp_addr.port().to_string()),
        (
            "CPRA_DEMO_MAINT_START",
            humantime::format_rfc3339_seconds(maint_start).to_string(),
        ),
    ];
    let config_path = dir.join("demo.yaml");
    std::fs::write(&config_path, DEMO_YAML)
        .map_err(|e| format!("writing {}: {e}", config_path.display()))?;
    let opts = LoadOptions {
        env: Env::vars(vars.iter().map(|(k, v)| (k.to_string(), v.clone()))),
        ..LoadOptions::default()
    };
    let mut builder = StoreBuilder::new();
    config::load_bytes(DEMO_YAML.as_bytes(), Format::Yaml, &opts, &mut |s| {
        builder.add(s)
    })
    .map_err(|e| format!("bundled config did not load:\n{e}"))?;
    let catalog = builder
        .finish()
        .map_err(|e| format!("bundled config did not load: {e:?}"))?;

    crate::out!(
        "cpra demo: {} monitors from examples/demo.yaml (copy in {})",
        catalog.len(),
        config_path.display()
    );
    crate::out!("  web-frontend  healthy; a maintenance window starts at +20 s for 8 s (gray)");
    crate::out!("  checkout-api  flaps briefly at +5 s (yellow, then green)");
    crate::out!("  billing-db    broken from the start (yellow, then red at 3 failures)");
    crate::out!(
        "  session-cache crashes at +12 s; an exec intervention revives it (cyan, then green)"
    );
    crate::out!("  queue-tcp     a TCP port that stays up (silent)");
    crate::out!(
        "codes go to {} (the log notifier); running for {} s\n",
        log.display(),
        args.run_for.as_secs()
    );

    let mut engine = Engine::new(
        catalog,
        EngineConfig {
            workers: 1,
            pin: false,
            record_events: true,
            state_dir: Some(log.with_file_name("cpra-state")),
            instance: "cpra-demo".into(),
            ..EngineConfig::default()
        },
    )
    .map_err(|e| format!("starting the engine: {e}"))?;
    // The dashboard on the usual address, or any free port when that one is taken.
    let server = super::start_api(&mut engine, args.listen.as_deref(), None, true, 0.0, false)
        .ok()
        .flatten()
        .or_else(|| {
            super::start_api(&mut engine, Some("127.0.0.1:0"), None, true, 0.0, false)
                .ok()
                .flatten()
        });
    if let Some(s) = &server {
        crate::out!(
            "dashboard: http://{}/ (open it while the demo runs)\n",
            s.addr
        );
    }
    let t0 = Instant::now();
    let mut seen = [false; 5];
    let tick = engine.tick();
    while t0.elapsed() < args.run_for {
        let t = t0.elapsed();
        // The script.
        api.set_failing(t >= Duration::from_secs(5) && t < Duration::from_millis(6800));
        if t >= Duration::from_secs(12) && t < Duration::from_secs(13) && !cache.is_failing() {
            cache.set_failing(true);
            crate::out!("{:>5.1}s  (session-cache crashes)", t.as_secs_f64());
        }
        engine.step();
        for e in engine.take_events() {
            let name = engine.catalog().name(MonitorId(e.monitor)).to_string();
            match e.colour {
                Some(c) => {
                    seen[c as usize] = true;
                    crate::out!(
                        "{:>5.1}s  {}{:<6}{} {:<14} {} -> {} ({}, last check: {})",
                        t.as_secs_f64(),
                        ansi(c),
                        c.name(),
                        if ansi(c).is_empty() { "" } else { "\x1b[0m" },
                        name,
                        e.from.name(),
                        e.to.name(),
                        e.cause.name(),
                        e.reason.name()
                    );
                }
                None => crate::out!(
                    "{:>5.1}s  {:<6} {:<14} {} -> {} ({})",
                    t.as_secs_f64(),
                    "-",
                    name,
                    e.from.name(),
                    e.to.name(),
                    e.cause.name()
                ),
            }
        }
        std::thread::sleep(tick);
    }
    let summary = engine.shutdown();
    drop(tcp);
    let lines = std::fs::read_to_string(&log).unwrap_or_default();
    crate::out!(
        "\n{} checks, {} codes written to {} ({} lines)",
        summary.checks,
        summary.codes.delivered,
        log.display(),
        lines.lines().count()
    );
    let missing: Vec<&str> = Colour::ALL
        .iter()
        .filter(|c| !seen[**c as usize])
        .map(|c| c.name())
        .collect();
    if missing.is_empty() {
        crate::out!("every colour fired: red, yellow, green, cyan, gray");
        Ok(0)
    } else {
        crate::out!("colours that did not fire: {}", missing.join(", "));
        Ok(1)
    }
}
