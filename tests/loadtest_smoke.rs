//! The load test, small: 2,000 monitors at 1 s (HTTP, 10 % TCP, 5 % ICMP) against mockfleet
//! for a few seconds, judged
//! against the ground truth (detection in time, no false alarms, recoveries reported). The
//! full-size runs are in docs/performance.md; this one keeps the tool and the pipeline honest
//! in CI.

use std::process::Command;

#[test]
fn loadtest_smoke_passes() {
    let dir = std::env::temp_dir().join(format!("cpra-loadtest-smoke-{}", std::process::id()));
    let json = dir.with_extension("json");
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--monitors",
            "2000",
            "--interval",
            "1s",
            "--timeout",
            "500ms",
            "--duration",
            "10s",
            "--hosts",
            "4",
            "--ports",
            "16",
            "--port-base",
            "31000",
            "--kills",
            "10",
            "--exec-share",
            "0.01",
            "--workers",
            "2",
            "--tcp-share",
            "0.1",
            "--icmp-share",
            "0.05",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadtest failed:\n{stdout}\n{stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["correctness"]["passed"], true);
    assert!(
        r["correctness"]["failing_periods"].as_u64().unwrap() > 50,
        "{r}"
    );
    assert_eq!(r["correctness"]["false_alarms"], 0);
    assert!(r["checks"].as_u64().unwrap() > 15_000, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&json);
}
