//! Reminders (`remind_every`): an open red is sent again every period, and no more once the
//! monitor recovers. Through `cpra run` with the log notifier.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

fn reds(log: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect()
}

#[test]
fn an_open_red_is_reminded_until_green() {
    let dir = common::temp_dir("remind");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let log = dir.join("alerts.log");
    let cfg = dir.join("m.yaml");
    // One monitor uses the alerting default (1 s), one overrides it (off by a long period).
    std::fs::write(
        &cfg,
        format!(
            "alerting: {{remind_every: 1s}}\nmonitors:\n  - {{name: a, pulse_check: {{type: tcp, interval: 200ms, timeout: 100ms, config: {{host: 127.0.0.1, port: {port}}}}}, codes: {{red: {{notify: log, config: {{file: '{0}'}}}}}}}}\n  - {{name: b, pulse_check: {{type: tcp, interval: 200ms, timeout: 100ms, config: {{host: 127.0.0.1, port: {port}}}}}, codes: {{red: {{notify: log, config: {{file: '{0}'}}, remind_every: 1h}}}}}}\n",
            log.display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cpra"))
        .arg("run")
        .arg(&cfg)
        .args([
            "--for",
            "5500ms",
            "--no-pin",
            "--workers",
            "1",
            "--state-dir",
        ])
        .arg(dir.join("state"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // After ~3.3 s the target comes up: green, and the reminders stop.
    std::thread::sleep(Duration::from_millis(3300));
    let up = TcpListener::bind(("127.0.0.1", port)).unwrap();
    up.set_nonblocking(true).unwrap();
    let t = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(4) {
            if let Ok((s, _)) = up.accept() {
                drop(s);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = reds(&log);
    let of = |m: &str| {
        lines
            .iter()
            .filter(|v| v["monitor"] == m)
            .collect::<Vec<_>>()
    };
    let a = of("a");
    // Red at ~0.2 s, reminders at ~1.2, 2.2, 3.2 s; none in the 2 s after recovery.
    assert!((3..=5).contains(&a.len()), "red then ~3 reminders: {a:?}");
    assert_eq!(a[0]["reminder"], false);
    assert!(
        a[1..]
            .iter()
            .all(|v| v["reminder"] == true && v["cause"] == "reminder")
    );
    assert!(a.iter().all(|v| v["incident"] == a[0]["incident"]));
    assert_eq!(of("b").len(), 1, "1 h period: no reminder yet");
    let _ = std::fs::remove_dir_all(&dir);
}
