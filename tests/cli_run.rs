//! The `cpra` binary end to end: `run` on a small config against loopback targets, with the
//! log notifier's lines and the `--summary` JSON checked; `check` on good and bad files; a
//! clean stop on SIGTERM.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Behaviour, Target, temp_dir};

fn cpra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cpra"))
}

fn config(dir: &std::path::Path, ok: &Target, bad: &Target) -> std::path::PathBuf {
    let log = dir.join("alerts.log");
    let marker = dir.join("intervened");
    let yaml = format!(
        r#"monitors:
  - name: good
    pulse_check:
      type: http
      interval: 300ms
      timeout: 200ms
      config:
        url: "http://{ok}/health"
        headers: {{ X-Token: "${{CPRA_TEST_TOKEN}}" }}
    codes: &codes
      red:    {{ notify: log, config: {{ file: "{log}" }} }}
      yellow: {{ notify: log, config: {{ file: "{log}" }} }}
      green:  {{ notify: log, config: {{ file: "{log}" }} }}
      cyan:   {{ notify: log, config: {{ file: "{log}" }} }}
  - name: bad
    pulse_check:
      type: http
      interval: 300ms
      timeout: 200ms
      unhealthy_threshold: 2
      config:
        url: "http://{bad}/health"
    codes: *codes
  - name: bad-with-fix
    pulse_check:
      type: http
      interval: 300ms
      timeout: 200ms
      unhealthy_threshold: 1
      config:
        url: "http://{bad}/other"
    intervention:
      action: exec
      target:
        command: ["touch", "{marker}"]
        timeout: 2s
    codes: *codes
  - name: quiet-tcp
    pulse_check:
      type: tcp
      interval: 300ms
      timeout: 200ms
      config: {{ host: 127.0.0.1, port: {okport} }}
"#,
        ok = ok.addr,
        bad = bad.addr,
        okport = ok.addr.port(),
        log = log.display(),
        marker = marker.display(),
    );
    let path = dir.join("monitors.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn run_writes_codes_and_summary() {
    let ok = Target::start(Behaviour::Healthy);
    let bad = Target::start(Behaviour::Status(500));
    let dir = temp_dir("run");
    let cfg = config(&dir, &ok, &bad);
    let summary_path = dir.join("summary.json");
    let out = cpra()
        .args(["run"])
        .arg(&cfg)
        .args(["--for", "3s", "--workers", "2", "--no-pin", "--summary"])
        .arg(&summary_path)
        .env("CPRA_TEST_TOKEN", "s3cret")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cpra run failed: {stderr}");
    assert!(
        !stderr.contains("s3cret"),
        "a secret reached the output: {stderr}"
    );

    // The header was sent with the substituted value.
    let req = ok.requests.lock().unwrap()[0].clone();
    assert!(req.contains("X-Token: s3cret\r\n"), "{req}");

    // Log notifier: one JSON line per code, with the SPEC 2.4 fields.
    let log = std::fs::read_to_string(dir.join("alerts.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let codes_for = |m: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|v| v["monitor"] == m)
            .map(|v| v["color"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes_for("bad"), vec!["yellow", "red"], "{log}");
    assert!(codes_for("good").is_empty(), "{log}");
    // bad-with-fix: threshold 1 with an intervention: yellow, the exec succeeds → cyan, then
    // verification fails (the target still answers 500) → red.
    assert_eq!(
        codes_for("bad-with-fix"),
        vec!["yellow", "cyan", "red"],
        "{log}"
    );
    assert!(
        dir.join("intervened").exists(),
        "the exec intervention did not run"
    );
    for v in &lines {
        for k in [
            "timestamp",
            "type",
            "monitor",
            "color",
            "status",
            "severity",
            "summary",
            "action",
            "next_steps",
            "message",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
        assert_eq!(v["type"], "code");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let red = lines.iter().find(|v| v["color"] == "red").unwrap();
    assert_eq!(red["status"], "FAILED");
    assert_eq!(red["severity"], "critical");

    // Summary JSON.
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(s["monitors"], 4);
    let checks = s["checks"].as_u64().unwrap();
    assert!((30..=44).contains(&checks), "checks {checks}"); // 4 monitors × ~10 in 3 s
    assert!(s["failures_by_reason"]["status"].as_u64().unwrap() >= 10);
    assert_eq!(s["failures_by_reason"]["timeout"], 0);
    assert_eq!(s["states"]["up"], 2);
    assert_eq!(s["states"]["down"], 2);
    assert_eq!(s["codes"]["sent"]["red"], 2);
    assert_eq!(
        s["codes"]["delivered"].as_u64().unwrap(),
        lines.len() as u64
    );
    assert_eq!(s["codes"]["undelivered"], 0);
    assert_eq!(s["interventions"]["succeeded"], 1);
    assert_eq!(s["skipped"], 0);
    assert_eq!(s["deferred"], 0);
    assert!(s["lateness_ms"]["p99"].as_f64().unwrap() < 200.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_cleanly_with_summary() {
    let ok = Target::start(Behaviour::Healthy);
    let bad = Target::start(Behaviour::Slow(Duration::from_secs(5)));
    let dir = temp_dir("sigterm");
    let cfg = config(&dir, &ok, &bad);
    let summary_path = dir.join("summary.json");
    let mut child = cpra()
        .args(["run"])
        .arg(&cfg)
        .args(["--no-pin", "--summary"])
        .arg(&summary_path)
        .env("CPRA_TEST_TOKEN", "x")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "cpra did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    // In-flight checks against the slow target end by their 200 ms timeout, not its 5 s.
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t0.elapsed()
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert!(s["checks"].as_u64().unwrap() > 0);
    assert_eq!(s["lost"], 0);
    // Nothing was left queued: every dispatched check ran and was counted.
    assert_eq!(s["cancelled_at_stop"], 0);
    assert_eq!(s["dispatched"], s["checks"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_reports_counts_and_errors() {
    let ok = Target::start(Behaviour::Healthy);
    let dir = temp_dir("check");
    let cfg = config(&dir, &ok, &ok);
    let out = cpra()
        .arg("check")
        .arg(&cfg)
        .env("CPRA_TEST_TOKEN", "x")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 monitors"), "{stdout}");
    assert!(stdout.contains("http   3"), "{stdout}");
    assert!(stdout.contains("tcp    1"), "{stdout}");
    assert!(stdout.contains("expected checks/s: 13.3"), "{stdout}");

    // Missing variable and bad duration (errors), a zero timeout and a duplicate name
    // (warnings: the Go original loads them): all listed, with index, name, field path and
    // line; exit non-zero; `run` refuses to start too.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "monitors:\n  - name: a\n    pulse_check:\n      type: http\n      interval: 10s\n      timeout: 0s\n      config:\n        url: \"http://127.0.0.1:1/${NOPE_NOT_SET}\"\n  - name: a\n    pulse_check:\n      type: tcp\n      interval: 5x\n      timeout: 1s\n      config: { host: 127.0.0.1, port: 80 }\n",
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let out = cpra()
            .arg(cmd)
            .arg(&bad)
            .env_remove("NOPE_NOT_SET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd}: {stderr}");
        assert!(
            stderr.contains("monitors[0].pulse_check.timeout"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("NOPE_NOT_SET"), "{cmd}: {stderr}");
        assert!(
            stderr.contains("monitors[1].pulse_check.interval"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("(line 6)"), "{cmd}: {stderr}");
        assert!(stderr.contains("(line 12)"), "{cmd}: {stderr}");
        assert!(stderr.contains("(line 8)"), "{cmd}: {stderr}");
        assert!(
            stderr
                .contains("warning: monitors[1] \"a\" (line 9): monitors[1].name: duplicate name"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("no timeout given"), "{cmd}: {stderr}");
    }
    // A file in the Go original's form loads with warnings; --strict makes each an error.
    let go =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/go_form.yaml");
    let out = cpra().arg("check").arg(&go).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("warning: ").count(), 17, "{stderr}");
    let out = cpra()
        .args(["check", "--strict"])
        .arg(&go)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("duplicate name \"orders-db\": monitors[2] (line 44) has the same name"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("warning: ").count(), 0, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_shows_every_colour() {
    let dir = temp_dir("demo");
    let out = cpra()
        .args(["demo", "--for", "30s", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every colour fired"), "{stdout}");
    let log = std::fs::read_to_string(dir.join("alerts.log")).unwrap();
    for c in ["red", "yellow", "green", "cyan", "gray"] {
        assert!(
            log.contains(&format!("\"color\":\"{c}\"")),
            "{c} missing: {log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14.6: a stop is bounded even when checks in flight have long timeouts: they are
/// abandoned after the grace (5 s) and counted `cancelled_at_stop`; a second signal abandons
/// them at once.
#[test]
fn sigterm_is_bounded_by_the_grace_and_a_second_signal_hurries() {
    let silent = Target::start(Behaviour::Hang);
    for (signals, limit) in [(1, Duration::from_secs(9)), (2, Duration::from_secs(3))] {
        let dir = temp_dir("sigterm-grace");
        let cfg = dir.join("m.yaml");
        // A name whose first check falls in the first second of its 60 s interval.
        let name = (0..)
            .map(|i| format!("silent-{i}"))
            .find(|n| cpra::store::first_due_ms(n, 60_000) < 1000)
            .unwrap();
        std::fs::write(
            &cfg,
            format!(
                "monitors:\n  - {{name: {name}, pulse_check: {{type: http, interval: 60s, timeout: 60s, config: {{url: 'http://{}/'}}}}}}\n",
                silent.addr
            ),
        )
        .unwrap();
        let summary_path = dir.join("summary.json");
        let mut child = cpra()
            .args(["run"])
            .arg(&cfg)
            .args(["--no-pin", "--workers", "1", "--summary"])
            .arg(&summary_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the target holds the check (the server counts accepted connections).
        let t_start = Instant::now();
        while silent.accepted.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            assert!(
                t_start.elapsed() < Duration::from_secs(10),
                "no check started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let t0 = Instant::now();
        for _ in 0..signals {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "cpra did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success());
        assert!(
            t0.elapsed() < limit,
            "{signals} signal(s): stop took {:?}",
            t0.elapsed()
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
        assert_eq!(s["cancelled_at_stop"], 1, "{s}");
        silent
            .accepted
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `cpra check --shards N --replicas R` sizes a fleet: every monitor counted on R shards,
/// the checks/s adding up to R times the file's.
#[test]
fn check_prints_monitors_and_rate_per_shard() {
    let dir = temp_dir("shards");
    let mut yaml = String::from("monitors:\n");
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - name: m-{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: 127.0.0.1, port: 9}}}}\n"
        ));
    }
    let cfg = dir.join("m.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    for (replicas, total) in [("1", 300), ("2", 600)] {
        let out = cpra()
            .arg("check")
            .arg(&cfg)
            .args(["--shards", "3", "--replicas", replicas])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("--shard ")).collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        let (mut monitors, mut rate) = (0usize, 0f64);
        for l in lines {
            let n: Vec<&str> = l.split_whitespace().collect();
            // "--shard 0/3: 101 monitors, 10.1 checks/s"
            monitors += n[2].parse::<usize>().unwrap();
            rate += n[4].parse::<f64>().unwrap();
            assert!(n[2].parse::<usize>().unwrap() > 60, "unbalanced: {l}");
        }
        assert_eq!(monitors, total, "{stdout}");
        assert!((rate - total as f64 / 10.0).abs() < 0.5, "{stdout}");
    }
    let out = cpra()
        .arg("run")
        .arg(&cfg)
        .args(["--shard", "3/3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0-based"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--log-format json`: every line cpra writes about itself is one JSON object.
#[test]
fn json_logs_are_one_object_a_line() {
    let dir = temp_dir("jsonlog");
    let cfg = dir.join("m.yaml");
    std::fs::write(
        &cfg,
        "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 200ms, timeout: 100ms, config: {host: 127.0.0.1, port: 9}}\n    Unknown: 1\n",
    )
    .unwrap();
    let out = cpra()
        .arg("run")
        .arg(&cfg)
        .args([
            "--for",
            "1s",
            "--status-every",
            "300ms",
            "--no-pin",
            "--workers",
            "1",
        ])
        .args(["--listen", "none", "--log-format", "json", "--state-dir"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let mut levels = std::collections::BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
        levels.insert(v["level"].as_str().unwrap().to_string());
        assert!(v["message"].is_string());
    }
    assert!(text.contains("checks/s="), "status lines too: {text}");
    assert!(
        levels.contains("warn") && levels.contains("info"),
        "{levels:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under systemd (`Type=notify`): READY=1 once running, STOPPING=1 when stopping.
#[test]
fn systemd_hears_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = temp_dir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let cfg = dir.join("m.yaml");
    std::fs::write(
        &cfg,
        "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 1s, timeout: 100ms, config: {host: 127.0.0.1, port: 9}}\n",
    )
    .unwrap();
    let child = cpra()
        .arg("run")
        .arg(&cfg)
        .args([
            "--for",
            "1s",
            "--no-pin",
            "--workers",
            "1",
            "--listen",
            "none",
            "--state-dir",
        ])
        .arg(dir.join("state"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within 10 s");
    assert_eq!(&buf[..n], b"READY=1");
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
