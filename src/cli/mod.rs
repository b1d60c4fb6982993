//! The `cpra` command line: `run`, `check`, `demo`.
//!
//! Lives in the library (the binary is a thin `main`) so that the demo and the tools reuse the
//! same load-and-run path the operator gets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

pub mod demo;
pub mod reloader;

use crate::config::{self, LoadOptions};
use crate::engine::{Engine, EngineConfig};
use crate::limits::{STATUS_LINE_INTERVAL_MS, STOP_GRACE_MS};
use crate::store::shard::Shard;
use crate::store::{Catalog, StoreBuilder};

#[derive(Parser, Debug)]
#[command(
    name = "cpra",
    version,
    about = "Concurrent Pulse-Remediation-Alerting: an uptime monitor for a million monitors"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load FILE and run its monitors until --for passes or SIGINT/SIGTERM.
    Run(Box<RunArgs>),
    /// Validate FILE without running: counts per type, expected checks/s, every error.
    Check(CheckArgs),
    /// Start local targets and run the bundled example: every colour within a minute, offline.
    Demo(demo::DemoArgs),
    /// (Used by the demo's and the load test's exec interventions.) POST to PATH at ADDR and
    /// succeed on a 200: asks a demo or mockfleet target to come back up.
    #[command(hide = true)]
    DemoRevive {
        addr: String,
        #[arg(default_value = "/revive")]
        path: String,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_go_duration(s)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Monitors file: YAML or JSON (by extension), optionally .gz.
    pub file: PathBuf,
    /// Stop after this long (Go syntax: 90s, 5m, 1h30m). Default: until a signal.
    #[arg(long = "for", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Probe worker threads. Default: the number of cores.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Do not pin workers to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Engine tick.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub tick: Duration,
    /// Write a JSON summary here on exit.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Unknown keys are errors, not warnings.
    #[arg(long)]
    pub strict: bool,
    /// Seconds between status lines.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub status_every: Duration,
    /// Extra trusted CA certificates (PEM) for https and tls checks, besides the system's
    /// (which honour SSL_CERT_FILE and SSL_CERT_DIR).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// This instance's name, in every code (PagerDuty source, Alertmanager `instance`).
    /// Default: the host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Directory for what must survive a crash (the outbox of undelivered codes). Default:
    /// $STATE_DIRECTORY (set by systemd's StateDirectory=), else `cpra-state` beside FILE.
    /// One instance per directory.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Where the API, /metrics and the dashboard listen: ADDR:PORT, or `none`. Default
    /// 127.0.0.1:9797 (if that is taken, cpra runs without them and says so).
    #[arg(long)]
    pub listen: Option<String>,
    /// File holding the bearer token that API writes need (else `CPRA_API_TOKEN`).
    #[arg(long)]
    pub api_token_file: Option<PathBuf>,
    /// Per-monitor Prometheus series even above 10,000 monitors.
    #[arg(long)]
    pub metrics_per_monitor: bool,
    /// cpra's own log lines: `text` (default) or `json` (one JSON object a line).
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    /// Run only shard I of N of the file's monitors (0-based), e.g. `--shard 1/3`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Instances that run each monitor: its shard and the next R-1 (default 1).
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub strict: bool,
    /// Also print the monitors and checks/s of each of N shards.
    #[arg(long)]
    pub shards: Option<u32>,
    /// With --shards: instances that run each monitor.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
}

/// Loads and lowers a file. On failure, returns the full error text (every error, one per line).
/// Loads and validates the whole file; with `shard`, keeps only the monitors it runs.
pub fn load_catalog(
    path: &Path,
    strict: bool,
    shard: Option<Shard>,
) -> Result<(Catalog, Vec<String>), String> {
    let opts = LoadOptions {
        strict,
        ..LoadOptions::default()
    };
    let mut builder = StoreBuilder::new();
    let mut in_file = 0usize;
    let report = config::load_file(path, &opts, &mut |spec| {
        in_file += 1;
        if shard.is_none_or(|s| s.runs(&spec.name)) {
            builder.add(spec);
        }
    })
    .map_err(|e| format!("{}: configuration not loaded:\n{e}", path.display()))?;
    let warnings = report.warnings.iter().map(|w| w.to_string()).collect();
    let mut catalog = builder.finish().map_err(|errs| {
        let mut s = format!("{}: configuration not loaded:\n", path.display());
        for e in errs {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    })?;
    crate::mem::release_freed();
    catalog.alerting = report.alerting;
    catalog.remediation = report.remediation;
    catalog.shard = shard;
    catalog.monitors_in_file = in_file;
    Ok((catalog, warnings))
}

/// The state directory `cpra run` uses: the flag, systemd's `$STATE_DIRECTORY`, or
/// `cpra-state` beside the monitors file.
pub fn state_dir_for(args: &RunArgs) -> PathBuf {
    if let Some(d) = &args.state_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several, colon-separated: the first is ours.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        return PathBuf::from(first);
    }
    let parent = args
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join("cpra-state")
}

/// Creates the state directory (mode 0700) and takes its lock, so that two instances never
/// share one outbox. The lock lasts as long as the returned value.
pub fn lock_state_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| {
            format!(
                "state directory {} is in use by another cpra ({e}); give each instance its own --state-dir",
                dir.display()
            )
        })?;
    let _ = lock.set_len(0);
    let _ = writeln!(&mut *lock, "{}", std::process::id());
    Ok(lock)
}

/// Resident set size of this process, bytes (Linux), or 0.
/// The state snapshot in `dir`, if there is a usable one; a refused one is reported (and
/// left in place for inspection until the next snapshot replaces it).
fn load_snapshot(dir: &Path) -> Option<crate::snapshot::Snapshot> {
    use crate::snapshot::{FILE_NAME, Refused, Snapshot};
    match Snapshot::load(dir) {
        Ok(s) => Some(s),
        Err(Refused::Missing) => None,
        Err(e) => {
            crate::say!(
                "cpra: state snapshot {} ignored: {e}; every monitor starts fresh",
                dir.join(FILE_NAME).display()
            );
            None
        }
    }
}

/// Tells systemd (`Type=notify`) how cpra is doing: `READY=1` once it checks, `STOPPING=1`
/// when it stops. Nothing without `$NOTIFY_SOCKET`; a failure is said once, never fatal.
pub fn notify_systemd(state: &str) {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &a));
    if let Err(e) = sent {
        crate::say!("cpra: cannot notify systemd at {path}: {e}");
    }
}

pub fn resident_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub fn check(args: &CheckArgs) -> i32 {
    let t0 = Instant::now();
    let plan = match args
        .shards
        .map(|n| Shard::parse(&format!("0/{n}"), args.replicas))
    {
        Some(Err(e)) => {
            crate::say!("{}", e.replace("--shard \"0/", "--shards \""));
            return 2;
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    match load_catalog(&args.file, args.strict, None) {
        Ok((cat, warnings)) => {
            for w in &warnings {
                crate::say!("warning: {w}");
            }
            let enabled = cat.enabled.iter().filter(|e| **e).count();
            crate::out!(
                "{}: OK, {} monitors ({} enabled), loaded in {:.2} s",
                args.file.display(),
                cat.len(),
                enabled,
                t0.elapsed().as_secs_f64()
            );
            for (t, n) in &cat.type_counts {
                crate::out!("  {t:<6} {n}");
            }
            crate::out!("  targets (distinct host:port): {}", cat.targets.len());
            if !cat.notifiers.is_empty() {
                crate::out!("  notifiers: {}", cat.notifiers.len());
                let cx = crate::effects::notify::Context {
                    instance: std::sync::Arc::from("check"),
                    timeout: Duration::from_secs(1),
                };
                for spec in cat.notifiers.iter().take(20) {
                    match crate::effects::notify::build(spec, &cx) {
                        Ok(n) => crate::out!("    {}", n.describe()),
                        Err(e) => crate::out!("    {} (cannot start: {e})", spec.type_name()),
                    }
                }
                if cat.notifiers.len() > 20 {
                    crate::out!("    ... and {} more", cat.notifiers.len() - 20);
                }
            }
            let unresolved = cat.targets.iter().filter(|t| t.addr.is_none()).count();
            if unresolved > 0 {
                crate::out!(
                    "  targets that did not resolve (checks will fail `dns`): {unresolved}"
                );
            }
            crate::out!("expected checks/s: {:.1}", cat.expected_checks_per_s());
            if let Some(plan) = plan {
                print_shards(&cat, plan);
            }
            let rss = resident_bytes();
            if rss > 0 && !cat.is_empty() {
                crate::out!(
                    "resident memory after load: {:.1} MiB ({} bytes/monitor)",
                    rss as f64 / (1 << 20) as f64,
                    rss / cat.len() as u64
                );
            }
            0
        }
        Err(e) => {
            crate::say!("{}", e.trim_end_matches('\n'));
            2
        }
    }
}

/// Starts the API for `engine` as `--listen` says: `Ok(None)` when it is off (or the default
/// address is taken, which is said), an error when an address given cannot be used.
pub fn start_api(
    engine: &mut Engine,
    listen: Option<&str>,
    token_file: Option<&Path>,
    per_monitor: bool,
    load_s: f64,
    announce: bool,
) -> Result<Option<crate::api::Server>, String> {
    let explicit = listen.is_some();
    let Some(addr) = crate::api::parse_listen(listen.unwrap_or(crate::limits::API_LISTEN_DEFAULT))?
    else {
        return Ok(None);
    };
    let token = crate::api::read_token(token_file)?;
    let has_token = token.is_some();
    let view = engine.attach_view(load_s);
    let opts = crate::api::ApiOptions {
        token,
        per_monitor_metrics: per_monitor,
    };
    match crate::api::start(view, addr, opts) {
        Ok(server) if !announce => Ok(Some(server)),
        Ok(server) => {
            crate::say!(
                "cpra: dashboard http://{0}/  API http://{0}/api/v1  metrics http://{0}/metrics{1}",
                server.addr,
                if has_token {
                    ""
                } else {
                    " (writes off: no --api-token-file or CPRA_API_TOKEN)"
                }
            );
            Ok(Some(server))
        }
        Err(e) if !explicit => {
            crate::say!(
                "cpra: {e}: running without the API and dashboard (give --listen ADDR or --listen none)"
            );
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Monitors and checks/s per shard (`cpra check --shards N`), to size a fleet.
fn print_shards(cat: &Catalog, plan: Shard) {
    let n = plan.count as usize;
    let mut monitors = vec![0usize; n];
    let mut rate = vec![0f64; n];
    for m in 0..cat.len() {
        let name = cat.name(crate::store::MonitorId(m as u32));
        for s in Shard::owners(name, plan.count, plan.replicas) {
            monitors[s as usize] += 1;
            if cat.enabled[m] {
                rate[s as usize] += 1000.0 / f64::from(cat.interval_ms[m].max(1));
            }
        }
    }
    crate::out!(
        "shards: {n} (each monitor on {} instance{})",
        plan.replicas,
        if plan.replicas == 1 { "" } else { "s" }
    );
    for s in 0..n {
        crate::out!(
            "  --shard {s}/{n}: {} monitors, {:.1} checks/s",
            monitors[s],
            rate[s] + 0.0
        );
    }
}

pub fn run(args: &RunArgs) -> i32 {
    crate::log::set_json(args.log_format == "json");
    let t_load = Instant::now();
    let shard = match args
        .shard
        .as_deref()
        .map(|s| Shard::parse(s, args.replicas))
    {
        None if args.replicas != 1 => {
            crate::say!("cpra: --replicas needs --shard I/N");
            return 2;
        }
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            crate::say!("cpra: {e}");
            return 2;
        }
    };
    let (catalog, warnings) = match load_catalog(&args.file, args.strict, shard) {
        Ok(v) => v,
        Err(e) => {
            crate::say!("{}", e.trim_end_matches('\n'));
            return 2;
        }
    };
    for w in &warnings {
        crate::say!("warning: {w}");
    }
    // Signals are counted: the first stops cleanly, a second abandons checks in flight.
    let signals = Arc::new(AtomicUsize::new(0));
    // SIGHUP reloads the configuration (it never stops cpra).
    let reload_requests = std::sync::mpsc::channel::<&'static str>();
    let hup = reload_requests.0.clone();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(mut sigs) => {
            let seen = signals.clone();
            let _ = std::thread::Builder::new()
                .name("cpra-signals".into())
                .spawn(move || {
                    for sig in sigs.forever() {
                        if sig == signal_hook::consts::SIGHUP {
                            let _ = hup.send("SIGHUP");
                            continue;
                        }
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                });
        }
        Err(e) => crate::say!("cpra: cannot install signal handler: {e}"),
    }
    let state_dir = state_dir_for(args);
    let _lock = match lock_state_dir(&state_dir) {
        Ok(l) => l,
        Err(e) => {
            crate::say!("cpra: cannot start: {e}");
            return 1;
        }
    };
    let snapshot = load_snapshot(&state_dir);
    let mut cfg = EngineConfig {
        pin: !args.no_pin,
        tick: args.tick,
        ca_file: args.ca_file.clone(),
        state_dir: Some(state_dir.clone()),
        clock_base_ms: snapshot.as_ref().map_or(0, |s| {
            crate::engine::snap::clock_base_for(s, crate::api::routes::now_wall_ms())
        }),
        ..EngineConfig::default()
    };
    if let Some(n) = args
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        cfg.instance = n.to_string();
    }
    if let Some(w) = args.workers {
        cfg.workers = w.max(1);
    }
    let of_shard = match catalog.shard {
        Some(s) => format!(
            " of {} (shard {}/{}, {} replica{})",
            catalog.monitors_in_file,
            s.index,
            s.count,
            s.replicas,
            if s.replicas == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    crate::say!(
        "cpra: running {} monitors{of_shard} ({:.1} checks/s expected) on {} workers as {:?}",
        catalog.len(),
        catalog.expected_checks_per_s(),
        cfg.workers,
        cfg.instance
    );
    let load_s = t_load.elapsed().as_secs_f64();
    let mut engine = match Engine::new(catalog, cfg) {
        Ok(e) => e,
        Err(e) => {
            crate::say!("cpra: cannot start: {e}");
            return 1;
        }
    };
    if let Some(s) = &snapshot {
        let r = engine.restore(s);
        crate::say!(
            "cpra: state restored from the snapshot {} wrote at {}: {} monitors ({} with an open incident); {} new and {} with a changed pulse start fresh; {} gone",
            s.instance(),
            crate::effects::render::rfc3339(s.header.written_wall_ms),
            r.matched,
            r.open_incidents,
            r.new,
            r.changed,
            r.dropped
        );
    }
    drop(snapshot);
    if let Err(e) = engine.enable_snapshots(state_dir.clone()) {
        crate::say!("cpra: cannot start: the snapshot writer: {e}");
        return 1;
    }
    let mut api = match start_api(
        &mut engine,
        args.listen.as_deref(),
        args.api_token_file.as_deref(),
        args.metrics_per_monitor,
        load_s,
        true,
    ) {
        Ok(s) => s,
        Err(e) => {
            crate::say!("cpra: cannot start: {e}");
            return 1;
        }
    };
    let (to_engine, answers) = engine.accept_reloads();
    let started = reloader::start(
        reloader::Source {
            file: args.file.clone(),
            strict: args.strict,
            shard,
        },
        reloader::EngineLink {
            running: engine.catalog_arc(),
            to_engine,
            answers,
        },
        engine.view(),
        reload_requests,
    );
    if let Err(e) = started {
        crate::say!("cpra: cannot start: the reloader: {e}");
        return 1;
    }
    notify_systemd("READY=1");
    let until = args.run_for.map(|d| Instant::now() + d);
    let status_every = if args.status_every.is_zero() {
        Duration::from_millis(STATUS_LINE_INTERVAL_MS)
    } else {
        args.status_every
    };
    engine.run(
        || signals.load(Ordering::Relaxed) == 0 && until.is_none_or(|u| Instant::now() < u),
        status_every,
        |line| crate::log::status(&line),
    );
    notify_systemd("STOPPING=1");
    crate::say!(
        "cpra: stopping: in-flight checks get {} s (a second signal abandons them), notifiers get their last attempt",
        STOP_GRACE_MS / 1000
    );
    let summary = engine.shutdown_within(Duration::from_millis(STOP_GRACE_MS), || {
        signals.load(Ordering::Relaxed) >= 2
    });
    if let Some(s) = api.as_mut() {
        s.stop();
    }
    crate::say!(
        "cpra: stopped after {:.1} s: {} checks ({:.1}/s), {} failures, lateness p99 {:.1} ms, {} skipped, {} deferred",
        summary.duration_s,
        summary.checks,
        summary.checks_per_s,
        summary.failures,
        summary.lateness_ms.p99,
        summary.skipped,
        summary.deferred
    );
    if let Some(path) = &args.summary {
        let text = match serde_json::to_string_pretty(&summary) {
            Ok(t) => t,
            Err(e) => {
                crate::say!("cpra: cannot encode summary: {e}");
                return 1;
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            crate::say!("cpra: cannot write summary {}: {e}", path.display());
            return 1;
        }
    }
    0
}

pub fn main_with(cli: Cli) -> i32 {
    crate::mem::limit_arenas();
    match cli.command {
        Command::Run(a) => run(&a),
        Command::Check(a) => check(&a),
        Command::Demo(a) => demo::run(&a),
        Command::DemoRevive { addr, path } => demo::revive(&addr, &path),
    }
}
