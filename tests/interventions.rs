//! Interventions end to end through `cpra run`: the webhook action against a loopback
//! receiver (success: cyan then green; a 500: retries, then red), the circuit breaker holding
//! a mass remediation, and docker against a real container engine (podman's Docker API).

mod common;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/receiver.rs"]
mod receiver;

use std::path::Path;
use std::time::Duration;

use harness::{Cpra, Port, wait_until};
use receiver::{Behaviour, Receiver};

/// Colours in the log, per monitor, in order.
fn colours(log: &Path, monitor: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["monitor"] == monitor)
        .map(|v| v["color"].as_str().unwrap_or("").to_string())
        .collect()
}

fn log_codes(log: &Path) -> String {
    let l = log.display();
    ["red", "yellow", "green", "cyan", "gray"]
        .iter()
        .map(|c| format!("      {c}: {{notify: log, config: {{file: '{l}'}}}}\n"))
        .collect()
}

fn monitors(n: usize, port: u16, intervention: &str, codes: &str) -> String {
    let mut y = String::from("monitors:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: svc-{i:03}\n    pulse_check: {{type: tcp, interval: 300ms, timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 2, config: {{host: 127.0.0.1, port: {port}}}}}\n    intervention: {intervention}\n    codes:\n{codes}"
        ));
    }
    y
}

#[test]
fn webhook_intervention_success_is_cyan_then_green() {
    let dir = common::temp_dir("iv-webhook-ok");
    let hook = Receiver::start(Behaviour::Ok(200, "restarted".into()));
    let port = Port::closed();
    let log = dir.join("alerts.log");
    let iv = format!(
        "{{action: webhook, retries: 0, target: {{url: '{}/restart', headers: {{X-Key: k1}}, body: '{{\"service\": \"{{{{monitor}}}}\", \"why\": \"{{{{reason}}}}\"}}', timeout: 2s}}}}",
        hook.url()
    );
    let cfg = dir.join("m.yaml");
    std::fs::write(&cfg, monitors(1, port.port, &iv, &log_codes(&log))).unwrap();
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "6s"]);
    // The intervention "fixes" the service: the test opens the port when the call arrives.
    assert!(
        wait_until(Duration::from_secs(5), || hook.count() >= 1),
        "{}",
        cpra.stderr()
    );
    port.open();
    let stderr = cpra.wait(Duration::from_secs(30));
    let req = &hook.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/restart");
    assert_eq!(req.header("x-key"), Some("k1"));
    let body = req.json().unwrap();
    assert_eq!(body["service"], "svc-000");
    assert_eq!(body["why"], "refused");
    assert_eq!(
        colours(&log, "svc-000"),
        vec!["yellow", "cyan", "green"],
        "{stderr}"
    );
    assert!(stderr.contains("attempt 1/1: succeeded"), "{stderr}");
}

#[test]
fn webhook_intervention_500_retries_then_red() {
    let dir = common::temp_dir("iv-webhook-500");
    let hook = Receiver::start(Behaviour::Status(500));
    let port = Port::closed();
    let log = dir.join("alerts.log");
    let iv = format!(
        "{{action: webhook, retries: 2, retry_backoff: 100ms, target: {{url: '{}/restart', timeout: 2s}}}}",
        hook.url()
    );
    let cfg = dir.join("m.yaml");
    std::fs::write(&cfg, monitors(1, port.port, &iv, &log_codes(&log))).unwrap();
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "3s"]);
    let stderr = cpra.wait(Duration::from_secs(30));
    // One intervention: 3 attempts; the next one waits for the 5 min cooldown.
    assert_eq!(hook.count(), 3, "{stderr}");
    assert_eq!(colours(&log, "svc-000"), vec!["yellow", "red"], "{stderr}");
    assert!(stderr.contains("attempt 3/3: failed"), "{stderr}");
    assert!(stderr.contains("answered 500"), "{stderr}");
}

#[test]
fn breaker_holds_a_mass_remediation_and_releases_it() {
    let dir = common::temp_dir("iv-breaker");
    let hook = Receiver::start(Behaviour::Status(500));
    let port = Port::closed();
    let log = dir.join("alerts.log");
    let iv = format!(
        "{{action: webhook, max_attempts: 100, cooldown: 0s, target: {{url: '{}/fix', timeout: 1s}}}}",
        hook.url()
    );
    let cfg = dir.join("m.yaml");
    let text = format!(
        "remediation: {{pause_above: 20}}\n{}",
        monitors(200, port.port, &iv, &log_codes(&log))
    );
    std::fs::write(&cfg, text).unwrap();
    let summary = dir.join("summary.json");
    let cpra = Cpra::start(
        &cfg,
        &dir.join("state"),
        &["--for", "7s", "--summary", summary.to_str().unwrap()],
    );
    // All 200 fail within their first 300 ms: at most the allowance (20) intervenes at once.
    std::thread::sleep(Duration::from_secs(3));
    let calls_while_open = hook.count();
    assert!(
        (1..=21).contains(&calls_while_open),
        "{calls_while_open} calls with the breaker open\n{}",
        cpra.stderr()
    );
    port.open();
    let stderr = cpra.wait(Duration::from_secs(30));
    assert!(stderr.contains("interventions held: "), "{stderr}");
    assert!(stderr.contains("interventions resumed"), "{stderr}");
    let breaker = colours(&log, "cpra:interventions");
    assert_eq!(breaker, vec!["yellow", "green"], "the breaker's codes");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(
        s["interventions"]["held_by_breaker"].as_u64().unwrap() >= 150,
        "{s}"
    );
    assert_eq!(s["interventions"]["breaker_trips"], 1);
}
