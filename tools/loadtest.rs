//! loadtest: one command that proves (or disproves) cpra at scale, and checks it was right.
//!
//! It starts `mockfleet` (the targets), writes N monitors with `genmonitors` against the same
//! fleet, scripts failures through the fleet's control endpoint (kills some healthy targets,
//! revives the ones without an intervention later), runs `cpra run` for the duration, and then
//! judges cpra's codes (the log notifier's file) against the ground truth: the fleet model's
//! static behaviours and flapping phases plus the scripted overrides with their times.
//!
//! Correctness (exit status 1 when any fails):
//! - every failing period is detected (a yellow or red code) within
//!   `unhealthy_threshold × interval + timeout` (+ a small slack) of its start;
//! - no monitor is coloured yellow or red outside a failing period (plus slack for checks that
//!   straddle a change);
//! - every failing period that ends early enough is followed by a green (recovery reported).
//!
//! Performance: checks/s achieved against expected, scheduling lateness, skipped and deferred,
//! CPU seconds per 1,000 checks and peak resident memory of the cpra process.
//!
//! Every process it starts is stopped before it exits, and the whole run is bounded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use cpra::config::parse_go_duration;
use cpra::fleet::{Behaviour, CheckType, Fleet, SALT_EXEC, check_type, parse_mix, share_pick};
use serde::Serialize;

#[derive(Parser, Debug, Clone)]
#[command(name = "loadtest", about = "Run cpra against mockfleet and judge it")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    monitors: u64,
    #[arg(long, value_parser = parse_go_duration, default_value = "10s")]
    interval: Duration,
    #[arg(long, value_parser = parse_go_duration, default_value = "2s")]
    timeout: Duration,
    #[arg(long, value_parser = parse_go_duration, default_value = "60s")]
    duration: Duration,
    #[arg(long, default_value_t = 1)]
    unhealthy_threshold: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(
        long,
        default_value = "healthy=93,500=1,503=1,hang=1,refused=1,reset=1,flapping=1,garbage=0.5,trickle=0.5"
    )]
    mix: String,
    /// Loopback addresses served by mockfleet.
    #[arg(long, default_value_t = 16)]
    hosts: u32,
    #[arg(long, default_value_t = 21000)]
    port_base: u16,
    #[arg(long, default_value_t = 32)]
    ports: u16,
    /// Flapping period; default: 3 × (threshold × interval + timeout), at least 20 s.
    #[arg(long, value_parser = parse_go_duration)]
    flap_period: Option<Duration>,
    /// Share of monitors with an exec intervention (reviving their target via the fleet).
    #[arg(long, default_value_t = 0.002)]
    exec_share: f64,
    /// Share of TCP connect monitors (they fail only where nothing listens).
    #[arg(long, default_value_t = 0.0)]
    tcp_share: f64,
    /// Share of ICMP monitors (echo to a loopback address: always answered).
    #[arg(long, default_value_t = 0.0)]
    icmp_share: f64,
    /// Healthy targets killed a quarter into the run (the ones without an intervention are
    /// revived by loadtest at half time).
    #[arg(long, default_value_t = 20)]
    kills: u64,
    /// cpra probe workers (default: cpra's own default).
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long, default_value_t = 1)]
    fleet_threads: usize,
    /// Keep the work directory here (default: a temporary one, removed on success).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Slack added to every deadline of the correctness checks.
    #[arg(long, value_parser = parse_go_duration, default_value = "1500ms")]
    slack: Duration,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sibling(name: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(name));
    me.parent()
        .map(|d| d.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A child process that is killed when dropped.
struct Guard(Option<Child>, &'static str);

impl Guard {
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.0.take()?;
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.is_some() {
            eprintln!("loadtest: stopping {}", self.1);
            self.stop();
        }
    }
}

fn http(addr: SocketAddr, method: &str, path: &str) -> Result<String, String> {
    let mut c =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut resp = String::new();
    c.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if !resp.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "{method} {path}: {}",
            resp.lines().next().unwrap_or("")
        ));
    }
    Ok(body)
}

/// VmRSS of a process in bytes (0 when unknown).
fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(29999)
}

#[derive(Serialize, Default)]
struct Correctness {
    failing_periods: u64,
    detected_in_time: u64,
    detected_late: u64,
    missed: u64,
    false_alarms: u64,
    recoveries_expected: u64,
    recoveries_reported: u64,
    recoveries_missed: u64,
    examples: Vec<String>,
    passed: bool,
}

#[derive(Serialize)]
struct Report {
    monitors: u64,
    interval_s: f64,
    timeout_s: f64,
    duration_s: f64,
    expected_checks_per_s: f64,
    achieved_checks_per_s: f64,
    checks: u64,
    lateness_ms: serde_json::Value,
    skipped: u64,
    deferred: u64,
    lost: u64,
    failures_by_reason: serde_json::Value,
    cpu_s: f64,
    cpu_s_per_1000_checks: f64,
    /// Peak resident memory of cpra over its life (the config load included).
    peak_rss_mib: f64,
    peak_rss_bytes_per_monitor: f64,
    /// Largest resident memory sampled while running (after the load).
    running_rss_mib: f64,
    running_rss_bytes_per_monitor: f64,
    codes: u64,
    correctness: Correctness,
}

/// A monitor's truth: failing periods [start, end) in unix ms.
fn failing_periods(
    fleet: &Fleet,
    ctype: CheckType,
    id: u64,
    overrides: &[(u64, Behaviour)],
    from: u64,
    to: u64,
    timeout: Duration,
) -> Vec<(u64, u64)> {
    // Segments of constant behaviour.
    let mut segs: Vec<(u64, Behaviour)> = vec![(from, fleet.behaviour_of(id))];
    for (t, b) in overrides {
        segs.push(((*t).max(from), *b));
    }
    let mut periods: Vec<(u64, u64)> = Vec::new();
    let mut push = |s: u64, e: u64| {
        if e <= s {
            return;
        }
        if let Some(last) = periods.last_mut()
            && last.1 >= s
        {
            last.1 = last.1.max(e);
            return;
        }
        periods.push((s, e));
    };
    for (i, (start, b)) in segs.iter().enumerate() {
        let end = segs.get(i + 1).map_or(to, |n| n.0).min(to);
        if *b == Behaviour::Flapping && ctype == CheckType::Http {
            let mut t = *start;
            while t < end {
                let next = fleet.flap_next_change(id, t).min(end);
                if fleet.flap_failing(id, t) {
                    push(t, next);
                }
                t = next;
            }
        } else if fleet.failing_as(ctype, id, *b, *start, timeout) {
            push(*start, end);
        }
    }
    periods
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(passed) => std::process::exit(if passed { 0 } else { 1 }),
        Err(e) => {
            eprintln!("loadtest: {e}");
            std::process::exit(2);
        }
    }
}

fn run(a: &Args) -> Result<bool, String> {
    let mix = parse_mix(&a.mix)?;
    let detect = a.timeout + a.interval * a.unhealthy_threshold;
    let flap = a
        .flap_period
        .unwrap_or_else(|| (detect * 3).max(Duration::from_secs(20)));
    let fleet = Fleet {
        seed: a.seed,
        mix,
        hosts: a.hosts,
        port_base: a.port_base,
        ports: a.ports,
        flap_period_ms: flap.as_millis() as u64,
        ..Fleet::default()
    };
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("cpra-loadtest-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cpra_bin = sibling("cpra");
    let ctl: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let budget = a.duration + Duration::from_secs(120);

    // 1. The fleet.
    let fleet_flags: Vec<String> = vec![
        "--seed".into(),
        a.seed.to_string(),
        "--mix".into(),
        a.mix.clone(),
        "--hosts".into(),
        a.hosts.to_string(),
        "--port-base".into(),
        a.port_base.to_string(),
        "--ports".into(),
        a.ports.to_string(),
    ];
    let mut mf = Command::new(sibling("mockfleet"));
    mf.args(&fleet_flags)
        .args(["--flap-period-ms", &fleet.flap_period_ms.to_string()])
        .args(["--control", &ctl.to_string()])
        .args(["--threads", &a.fleet_threads.to_string()])
        .args(["--for", &format!("{}s", budget.as_secs())])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut fleet_child = Guard(
        Some(mf.spawn().map_err(|e| format!("starting mockfleet: {e}"))?),
        "mockfleet",
    );
    {
        let out = fleet_child
            .0
            .as_mut()
            .and_then(|c| c.stdout.take())
            .ok_or("mockfleet has no stdout")?;
        let mut lines = BufReader::new(out).lines();
        match lines.next() {
            Some(Ok(l)) if l.starts_with("mockfleet: listening") => eprintln!("loadtest: {l}"),
            other => return Err(format!("mockfleet did not start: {other:?}")),
        }
        std::thread::spawn(move || for _ in lines {});
    }

    // 2. The monitors.
    let cfg = dir.join("monitors.json");
    let log = dir.join("alerts.log");
    let _ = std::fs::remove_file(&log);
    let t = Instant::now();
    let st = Command::new(sibling("genmonitors"))
        .args(&fleet_flags)
        .args(["--count", &a.monitors.to_string(), "--format", "json"])
        .arg("--out")
        .arg(&cfg)
        .args(["--interval", &format!("{}ms", a.interval.as_millis())])
        .args(["--timeout", &format!("{}ms", a.timeout.as_millis())])
        .args(["--unhealthy-threshold", &a.unhealthy_threshold.to_string()])
        .args(["--exec-share", &a.exec_share.to_string()])
        .args(["--tcp-share", &a.tcp_share.to_string()])
        .args(["--icmp-share", &a.icmp_share.to_string()])
        .args([
            "--exec-cmd",
            &format!("{} demo-revive {ctl} /revive/{{id}}", cpra_bin.display()),
        ])
        .arg("--log")
        .arg(&log)
        .status()
        .map_err(|e| format!("genmonitors: {e}"))?;
    if !st.success() {
        return Err("genmonitors failed".into());
    }
    eprintln!(
        "loadtest: {} monitors written in {:.1} s",
        a.monitors,
        t.elapsed().as_secs_f64()
    );

    // 3. cpra.
    let summary = dir.join("summary.json");
    let before = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&cpra_bin);
    cmd.arg("run")
        .arg(&cfg)
        .args(["--for", &format!("{}ms", a.duration.as_millis())])
        .arg("--summary")
        .arg(&summary)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    if let Some(w) = a.workers {
        cmd.args(["--workers", &w.to_string()]);
    }
    let mut cpra_child = Guard(
        Some(cmd.spawn().map_err(|e| format!("starting cpra: {e}"))?),
        "cpra",
    );
    let started: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
    {
        let err = cpra_child
            .0
            .as_mut()
            .and_then(|c| c.stderr.take())
            .ok_or("cpra has no stderr")?;
        let started = started.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if l.starts_with("cpra: running")
                    && let Ok(mut s) = started.lock()
                {
                    *s = Some(unix_ms());
                }
                if !l.starts_with("cpra: intervention for") {
                    eprintln!("{l}");
                }
            }
        });
    }
    let t0 = Instant::now();
    while started.lock().map(|s| s.is_none()).unwrap_or(true) {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err("cpra did not start within 120 s".into());
        }
        if let Some(Ok(Some(s))) = cpra_child.0.as_mut().map(|c| c.try_wait()) {
            return Err(format!("cpra exited early: {s}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run_start = started.lock().ok().and_then(|s| *s).unwrap_or_else(unix_ms);
    let run_began = Instant::now();
    let cpra_pid = cpra_child.0.as_ref().map(|c| c.id()).unwrap_or(0);
    // Resident memory while running (after load): sampled once a second.
    let mut running_rss_max = 0u64;
    let mut last_sample = Instant::now() - Duration::from_secs(1);

    // 4. The script: kill healthy targets at 1/4, revive those without an intervention at 1/2.
    let mut killed: Vec<(u64, bool)> = Vec::new();
    let mut id = a.monitors / 3;
    while (killed.len() as u64) < a.kills.min(a.monitors) && id < a.monitors * 2 {
        let i = id % a.monitors;
        if fleet.behaviour_of(i) == Behaviour::Healthy {
            killed.push((i, share_pick(a.seed, i, SALT_EXEC, a.exec_share)));
        }
        id += 7919;
    }
    let mut killed_done = false;
    let mut revived_done = false;
    let mut status = None;
    while status.is_none() {
        let el = run_began.elapsed();
        if !killed_done && el >= a.duration / 4 {
            for (i, _) in &killed {
                if let Err(e) = http(ctl, "POST", &format!("/kill/{i}")) {
                    eprintln!("loadtest: kill {i}: {e}");
                }
            }
            killed_done = true;
        }
        if !revived_done && el >= a.duration / 2 {
            for (i, has_exec) in &killed {
                if !has_exec && let Err(e) = http(ctl, "POST", &format!("/revive/{i}")) {
                    eprintln!("loadtest: revive {i}: {e}");
                }
            }
            revived_done = true;
        }
        if el > budget {
            eprintln!("loadtest: cpra overran its budget; stopping it");
            cpra_child.stop();
            break;
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            running_rss_max = running_rss_max.max(vm_rss(cpra_pid));
        }
        status = cpra_child
            .0
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        std::thread::sleep(Duration::from_millis(50));
    }
    cpra_child.0 = None;
    let run_end = unix_ms();
    let after = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_err(|e| e.to_string())?;
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let cpu_s = tv(after.user_time()) + tv(after.system_time())
        - tv(before.user_time())
        - tv(before.system_time());
    let peak_rss = after.max_rss() as f64 * 1024.0;
    if !status.is_some_and(|s| s.success()) {
        return Err(format!("cpra run failed: {status:?}"));
    }

    // 5. Truth and codes.
    let truth: serde_json::Value = http(ctl, "GET", "/truth")
        .ok()
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let stats = http(ctl, "GET", "/stats").unwrap_or_default();
    fleet_child.stop();
    let mut overrides: BTreeMap<u64, Vec<(u64, Behaviour)>> = BTreeMap::new();
    if let Some(list) = truth.get("overrides").and_then(|v| v.as_array()) {
        for o in list {
            let (Some(id), Some(b), Some(t)) = (
                o.get("id").and_then(|v| v.as_u64()),
                o.get("behaviour")
                    .and_then(|v| v.as_str())
                    .and_then(Behaviour::from_name),
                o.get("since_unix_ms").and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            overrides.entry(id).or_default().push((t, b));
        }
    }
    for v in overrides.values_mut() {
        v.sort();
    }
    let mut codes: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut n_codes = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(m), Some(c), Some(ts)) = (
            v["monitor"].as_str(),
            v["color"].as_str(),
            v["timestamp"].as_str(),
        ) else {
            continue;
        };
        let Some(id) = m.strip_prefix('m').and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let Ok(t) = humantime::parse_rfc3339(ts) else {
            continue;
        };
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        codes.entry(id).or_default().push((ms, c.to_string()));
        n_codes += 1;
    }

    let slack = a.slack.as_millis() as u64;
    let detect_ms = detect.as_millis() as u64 + slack;
    let interval_ms = a.interval.as_millis() as u64;
    let timeout_ms = a.timeout.as_millis() as u64;
    let mut c = Correctness::default();
    let no_overrides = Vec::new();
    let no_codes = Vec::new();
    for id in 0..a.monitors {
        let ov = overrides.get(&id).unwrap_or(&no_overrides);
        let ctype = check_type(a.seed, id, a.tcp_share, a.icmp_share);
        let periods = failing_periods(&fleet, ctype, id, ov, run_start, run_end, a.timeout);
        let mine = codes.get(&id).unwrap_or(&no_codes);
        let has_exec = share_pick(a.seed, id, SALT_EXEC, a.exec_share);
        let recover_ms = interval_ms * if has_exec { 3 } else { 2 } + timeout_ms + slack;
        for &(s, e) in &periods {
            // Long enough to be seen? A period shorter than the detection time may be missed.
            if e - s < detect_ms || s + detect_ms > run_end {
                continue;
            }
            c.failing_periods += 1;
            match mine.iter().find(|(t, col)| {
                (col == "yellow" || col == "red") && *t + slack >= s && *t < e + timeout_ms + slack
            }) {
                Some((t, _)) if *t <= s + detect_ms => c.detected_in_time += 1,
                Some((t, _)) => {
                    c.detected_late += 1;
                    if c.examples.len() < 10 {
                        c.examples.push(format!(
                            "m{id}: failing from {s}, first code {} ms later",
                            t - s
                        ));
                    }
                }
                None => {
                    c.missed += 1;
                    if c.examples.len() < 10 {
                        c.examples.push(format!(
                            "m{id} ({}): failing {s}..{e}, no code",
                            fleet.behaviour_of(id).name()
                        ));
                    }
                }
            }
            if e + recover_ms < run_end && e < run_end {
                c.recoveries_expected += 1;
                if mine
                    .iter()
                    .any(|(t, col)| col == "green" && *t + slack >= e && *t <= e + recover_ms)
                {
                    c.recoveries_reported += 1;
                } else {
                    c.recoveries_missed += 1;
                    if c.examples.len() < 10 {
                        c.examples.push(format!(
                            "m{id}: recovered at {e}, no green within {recover_ms} ms"
                        ));
                    }
                }
            }
        }
        for (t, col) in mine {
            if col != "yellow" && col != "red" {
                continue;
            }
            let inside = periods
                .iter()
                .any(|&(s, e)| *t + slack >= s && *t <= e + timeout_ms + interval_ms + slack);
            if !inside {
                c.false_alarms += 1;
                if c.examples.len() < 10 {
                    c.examples.push(format!(
                        "m{id} ({}): {col} at {t} while healthy",
                        fleet.behaviour_of(id).name()
                    ));
                }
            }
        }
    }
    c.passed =
        c.missed == 0 && c.detected_late == 0 && c.false_alarms == 0 && c.recoveries_missed == 0;

    let s: serde_json::Value = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let checks = s["checks"].as_u64().unwrap_or(0);
    let report = Report {
        monitors: a.monitors,
        interval_s: a.interval.as_secs_f64(),
        timeout_s: a.timeout.as_secs_f64(),
        duration_s: s["duration_s"].as_f64().unwrap_or(0.0),
        expected_checks_per_s: s["expected_checks_per_s"].as_f64().unwrap_or(0.0),
        achieved_checks_per_s: s["checks_per_s"].as_f64().unwrap_or(0.0),
        checks,
        lateness_ms: s["lateness_ms"].clone(),
        skipped: s["skipped"].as_u64().unwrap_or(0),
        deferred: s["deferred"].as_u64().unwrap_or(0),
        lost: s["lost"].as_u64().unwrap_or(0),
        failures_by_reason: s["failures_by_reason"].clone(),
        cpu_s,
        cpu_s_per_1000_checks: if checks > 0 {
            cpu_s / checks as f64 * 1000.0
        } else {
            0.0
        },
        peak_rss_mib: peak_rss / (1 << 20) as f64,
        peak_rss_bytes_per_monitor: peak_rss / a.monitors.max(1) as f64,
        running_rss_mib: running_rss_max as f64 / (1 << 20) as f64,
        running_rss_bytes_per_monitor: running_rss_max as f64 / a.monitors.max(1) as f64,
        codes: n_codes,
        correctness: c,
    };
    print_table(&report);
    eprintln!("loadtest: fleet stats: {}", stats.trim());
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(p) = &a.json {
        std::fs::write(p, json + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let passed = report.correctness.passed;
    if passed && a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("loadtest: work directory kept: {}", dir.display());
    }
    Ok(passed)
}

fn print_table(r: &Report) {
    let l = |k: &str| r.lateness_ms.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let c = &r.correctness;
    let rows: Vec<(&str, String)> = vec![
        (
            "monitors",
            format!(
                "{} (interval {} s, timeout {} s)",
                r.monitors, r.interval_s, r.timeout_s
            ),
        ),
        ("duration", format!("{:.1} s", r.duration_s)),
        (
            "checks/s",
            format!(
                "{:.1} achieved / {:.1} expected",
                r.achieved_checks_per_s, r.expected_checks_per_s
            ),
        ),
        (
            "lateness",
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l("p50"),
                l("p99"),
                l("max")
            ),
        ),
        (
            "skipped / deferred / lost",
            format!("{} / {} / {}", r.skipped, r.deferred, r.lost),
        ),
        (
            "cpu",
            format!(
                "{:.1} s ({:.3} s per 1,000 checks)",
                r.cpu_s, r.cpu_s_per_1000_checks
            ),
        ),
        (
            "peak rss (incl. load)",
            format!(
                "{:.1} MiB ({:.0} bytes/monitor)",
                r.peak_rss_mib, r.peak_rss_bytes_per_monitor
            ),
        ),
        (
            "rss while running",
            format!(
                "{:.1} MiB ({:.0} bytes/monitor)",
                r.running_rss_mib, r.running_rss_bytes_per_monitor
            ),
        ),
        ("codes", r.codes.to_string()),
        (
            "failing periods",
            format!(
                "{} (in time {}, late {}, missed {})",
                c.failing_periods, c.detected_in_time, c.detected_late, c.missed
            ),
        ),
        ("false alarms", c.false_alarms.to_string()),
        (
            "recoveries",
            format!(
                "{} reported of {} ({} missed)",
                c.recoveries_reported, c.recoveries_expected, c.recoveries_missed
            ),
        ),
        (
            "correctness",
            if c.passed {
                "PASS".into()
            } else {
                "FAIL".into()
            },
        ),
    ];
    println!();
    for (k, v) in rows {
        println!("{k:<28} {v}");
    }
    for e in &c.examples {
        println!("  {e}");
    }
}
