//! Every notifier end to end through `cpra run`, against real receivers on loopback:
//! Alertmanager and an SMTP server (Debian packages, started by the tests), and HTTP receivers
//! that check Slack's and PagerDuty's documented payloads. Plus the delivery promises: a
//! receiver down for 20 s, `kill -9` with codes undelivered, a storm of 1,000 reds, a hanging
//! receiver beside a log file.

mod common;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/services.rs"]
mod services;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::{Cpra, Port, wait_until};
use receiver::{Behaviour, Receiver};
use serde_json::Value;

/// `n` TCP monitors on `port`, every colour's code as given (YAML flow mapping per colour).
fn config(dir: &Path, n: usize, port: u16, codes: &str, top: &str) -> PathBuf {
    let mut y = String::from(top);
    y.push_str("monitors:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: svc-{i:04}\n    pulse_check: {{type: tcp, interval: 500ms, timeout: 300ms, unhealthy_threshold: 1, healthy_threshold: 1, config: {{host: 127.0.0.1, port: {port}}}}}\n    codes:\n{codes}"
        ));
    }
    let p = dir.join("monitors.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

/// Red and green to one notifier (`notify: KIND, config: {...}`), YAML lines for `codes:`.
fn red_green(notifier: &str) -> String {
    format!("      red: {{{notifier}}}\n      green: {{{notifier}}}\n")
}

/// Every code object in the webhook bodies, digests flattened.
fn code_objects(bodies: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in bodies {
        match b["type"].as_str() {
            Some("digest") => out.extend(b["digest"].as_array().unwrap().iter().cloned()),
            _ => out.push(b.clone()),
        }
    }
    out
}

/// Every monitor named in the webhook bodies (codes and digests).
fn webhook_monitors(bodies: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for b in bodies {
        match b["type"].as_str() {
            Some("digest") => {
                for c in b["digest"].as_array().unwrap() {
                    out.push(c["monitor"].as_str().unwrap().to_string());
                }
            }
            _ => out.push(b["monitor"].as_str().unwrap().to_string()),
        }
    }
    out
}

#[test]
fn webhook_red_then_green_with_headers_and_keys() {
    let dir = common::temp_dir("nt-webhook");
    let hook = Receiver::start(Behaviour::Ok(200, "ok".into()));
    let port = Port::closed();
    let notifier = format!(
        "notify: webhook, config: {{url: \"{}/hook\", headers: {{X-Token: \"${{CPRA_NT_TOKEN}}\"}}}}",
        hook.url()
    );
    let cfg = config(&dir, 1, port.port, &red_green(&notifier), "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "5s"]);
    assert!(wait_until(Duration::from_secs(5), || hook.count() >= 1));
    port.open();
    let stderr = cpra.wait(Duration::from_secs(20));
    let bodies = hook.json_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}\n{stderr}");
    let (red, green) = (&bodies[0], &bodies[1]);
    assert_eq!(red["color"], "red");
    assert_eq!(green["color"], "green");
    for b in [red, green] {
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
            "from",
            "to",
            "reason",
            "incident",
            "idempotency_key",
        ] {
            assert!(!b[k].is_null(), "{k} missing in {b}");
        }
        assert_eq!(b["instance"], "test-box");
        assert_eq!(b["monitor"], "svc-0000");
    }
    assert_eq!(red["status"], "FAILED");
    assert_eq!(red["reason"], "refused");
    assert_eq!(red["to"], "down");
    assert_eq!(green["from"], "down");
    assert_eq!(red["incident"], green["incident"], "one incident");
    assert_ne!(red["idempotency_key"], green["idempotency_key"]);
    let reqs = hook.requests();
    assert_eq!(reqs[0].path, "/hook");
    assert_eq!(reqs[0].method, "POST");
    let h: HashMap<&str, &str> = reqs[0]
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(h.get("x-token"), Some(&"nt-secret-1"));
    assert_eq!(
        h.get("idempotency-key"),
        red["idempotency_key"].as_str().as_ref()
    );
    assert!(!stderr.contains("nt-secret-1"), "{stderr}");
}

#[test]
fn storm_of_1000_reds_to_a_webhook_is_a_few_posts_with_every_monitor() {
    let dir = common::temp_dir("nt-storm-webhook");
    let hook = Receiver::start(Behaviour::Ok(200, "ok".into()));
    let port = Port::closed();
    let notifier = format!("notify: webhook, config: {{url: \"{}/\"}}", hook.url());
    let codes = format!("      red: {{{notifier}}}\n");
    let cfg = config(&dir, 1000, port.port, &codes, "");
    let t0 = Instant::now();
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "14s"]);
    let stderr = cpra.wait(Duration::from_secs(40));
    assert!(t0.elapsed() < Duration::from_secs(30));
    let bodies = hook.json_bodies();
    eprintln!("storm of 1,000 reds to a webhook: {} POSTs", bodies.len());
    assert!(bodies.len() <= 20, "{} POSTs\n{stderr}", bodies.len());
    let monitors = webhook_monitors(&bodies);
    let distinct: HashSet<&String> = monitors.iter().collect();
    assert_eq!(monitors.len(), 1000, "every red exactly once\n{stderr}");
    assert_eq!(distinct.len(), 1000);
    let digests: Vec<&Value> = bodies.iter().filter(|b| b["type"] == "digest").collect();
    assert!(!digests.is_empty(), "a storm must produce a digest");
    for d in digests {
        assert_eq!(
            d["count"].as_u64().unwrap() as usize,
            d["digest"].as_array().unwrap().len()
        );
        assert_eq!(d["counts"]["red"], d["count"]);
    }
}

#[test]
fn slack_messages_follow_the_documented_payload_and_storms_are_digests() {
    let dir = common::temp_dir("nt-slack");
    let hook = Receiver::start(Behaviour::Ok(200, "ok".into()));
    let port = Port::closed();
    let notifier = format!(
        "notify: slack, config: {{hook: \"{}/services/T000/B000/XXXXSECRET\"}}",
        hook.url()
    );
    let cfg = config(&dir, 1000, port.port, &red_green(&notifier), "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "13s"]);
    let stderr = cpra.wait(Duration::from_secs(40));
    let bodies = hook.json_bodies();
    eprintln!("storm of 1,000 reds to Slack: {} messages", bodies.len());
    assert!(
        bodies.len() <= 15,
        "{} Slack messages\n{stderr}",
        bodies.len()
    );
    assert!(!stderr.contains("XXXXSECRET"), "{stderr}");
    for b in &bodies {
        receiver::validate::slack_incoming_webhook(b).unwrap_or_else(|e| panic!("{e}: {b}"));
        let att = &b["attachments"][0];
        assert!(att["color"].as_str().unwrap().starts_with('#'));
    }
    // A single code names its monitor, reason and since when.
    let single = &bodies[0]["attachments"][0];
    let fields: Vec<&str> = single["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"Monitor") && fields.contains(&"Reason") && fields.contains(&"Since"));
    // Each digest (at most 500 codes) lists 50 names and "and N more": with the 10 singles,
    // all 1,000 monitors.
    let digests: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["text"].as_str().unwrap_or("").contains("codes between"))
        .collect();
    assert!(!digests.is_empty(), "a digest message");
    let mut total = 10;
    for d in digests {
        let names = d["attachments"][0]["text"].as_str().unwrap();
        assert_eq!(names.split(", ").count(), 50, "{names}");
        let (_, tail) = names.rsplit_once(" and ").expect("and N more");
        let more: usize = tail.trim_end_matches(" more").parse().unwrap();
        total += 50 + more;
    }
    assert_eq!(total, 1000);
}

#[test]
fn pagerduty_triggers_and_resolves_one_incident_and_honours_429() {
    let dir = common::temp_dir("nt-pd");
    let pd = Receiver::start(Behaviour::RateLimit { retry_after_s: 2 });
    let port = Port::closed();
    let notifier = format!(
        "notify: pagerduty, config: {{routing_key: \"R0UT1NGKEY0123456789abcdef012345\", url: \"{}/v2/enqueue\"}}",
        pd.url()
    );
    let cfg = config(&dir, 1, port.port, &red_green(&notifier), "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "9s"]);
    assert!(wait_until(Duration::from_secs(5), || pd.count() >= 1));
    let limited_at = Instant::now();
    pd.set_mode(Behaviour::PagerDuty);
    port.open();
    let stderr = cpra.wait(Duration::from_secs(30));
    assert!(!stderr.contains("R0UT1NGKEY"), "{stderr}");
    let reqs = pd.requests();
    let bodies: Vec<Value> = pd.json_bodies();
    // The 429'd trigger was retried, not dropped, and not before Retry-After.
    let triggers: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["event_action"] == "trigger")
        .collect();
    assert!(triggers.len() >= 2, "{bodies:?}");
    let retried = reqs.iter().filter(|r| r.at > limited_at).count();
    assert!(retried >= 2, "{bodies:?}");
    for b in &bodies {
        receiver::validate::pagerduty_events_v2(b).unwrap_or_else(|e| panic!("{e}: {b}"));
    }
    let resolve = bodies
        .iter()
        .find(|b| b["event_action"] == "resolve")
        .expect("green resolves");
    assert_eq!(resolve["dedup_key"], triggers[0]["dedup_key"]);
    assert_eq!(triggers[0]["payload"]["severity"], "critical");
    assert_eq!(triggers[0]["payload"]["source"], "test-box");
}

#[test]
fn alertmanager_shows_the_alert_then_resolves_it() {
    let Some(am) = services::require_alertmanager() else {
        return; // Printed SKIPPED with the reason (only with CPRA_ALLOW_SKIP=1).
    };
    let dir = common::temp_dir("nt-am");
    let port = Port::closed();
    let notifier = format!("notify: alertmanager, config: {{url: \"{}\"}}", am.url());
    // Green goes to the log: Alertmanager still gets the resolve (it holds the incident).
    let codes = format!(
        "      red: {{{notifier}}}\n      green: {{notify: log, config: {{file: \"{}\"}}}}\n",
        dir.join("alerts.log").display()
    );
    let cfg = config(&dir, 3, port.port, &codes, "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "30s"]);
    let firing = |am: &services::Alertmanager| -> Vec<Value> {
        am.alerts()
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == "CpraMonitor")
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(15), || firing(&am).len() == 3),
        "alerts: {:?}\n{}",
        am.alerts(),
        cpra.stderr()
    );
    let alerts = firing(&am);
    for a in &alerts {
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["colour"], "red");
        assert_eq!(a["annotations"]["instance"], "test-box");
        assert!(
            a["labels"].get("instance").is_none(),
            "replicas must post the same labels"
        );
        assert!(
            a["annotations"]["summary"]
                .as_str()
                .unwrap()
                .contains("down")
        );
        assert_eq!(a["status"]["state"], "active");
    }
    let names: HashSet<&str> = alerts
        .iter()
        .map(|a| a["labels"]["monitor"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    port.open();
    assert!(
        wait_until(Duration::from_secs(15), || firing(&am).is_empty()),
        "still firing after recovery: {:?}\n{}",
        firing(&am),
        cpra.stderr()
    );
    drop(cpra);
}

#[test]
fn email_goes_through_a_real_smtp_server() {
    let Some(smtp) = services::require_smtp() else {
        return; // Printed SKIPPED with the reason (only with CPRA_ALLOW_SKIP=1).
    };
    let dir = common::temp_dir("nt-email");
    let port = Port::closed();
    let notifier = format!(
        "notify: email, config: {{smtp: \"{}\", from: cpra@example.test, to: [ops@example.test, oncall@example.test]}}",
        smtp.addr()
    );
    let cfg = config(&dir, 1, port.port, &red_green(&notifier), "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "5s"]);
    assert!(
        smtp.wait_for(1, Duration::from_secs(10)),
        "{}",
        cpra.stderr()
    );
    port.open();
    let stderr = cpra.wait(Duration::from_secs(30));
    assert!(smtp.wait_for(2, Duration::from_secs(10)), "{stderr}");
    let msgs = smtp.messages();
    let red = msgs
        .iter()
        .find(|m| m.contains("[cpra] FAILED"))
        .expect("a red mail");
    assert!(red.contains("svc-0000"), "{red}");
    assert!(
        red.contains("To: ops@example.test, oncall@example.test")
            || red.contains("oncall@example.test")
    );
    assert!(red.contains("From: cpra@example.test"));
    assert!(
        msgs.iter().any(|m| m.contains("[cpra] RECOVERED")),
        "{msgs:?}"
    );
}

#[test]
fn a_receiver_down_for_20_s_gets_every_code_once_it_is_back() {
    let dir = common::temp_dir("nt-down");
    let hook = Receiver::start(Behaviour::Down);
    let port = Port::closed();
    let notifier = format!("notify: webhook, config: {{url: \"{}/\"}}", hook.url());
    let cfg = config(
        &dir,
        5,
        port.port,
        &format!("      red: {{{notifier}}}\n"),
        "",
    );
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "40s"]);
    std::thread::sleep(Duration::from_secs(20));
    assert_eq!(hook.count(), 0);
    hook.set_mode(Behaviour::Ok(200, "ok".into()));
    let stderr = cpra.wait(Duration::from_secs(60));
    let monitors = webhook_monitors(&hook.json_bodies());
    let distinct: HashSet<&String> = monitors.iter().collect();
    assert_eq!(distinct.len(), 5, "{monitors:?}\n{stderr}");
}

#[test]
fn kill_9_with_codes_undelivered_then_restart_delivers_all_of_them() {
    let dir = common::temp_dir("nt-kill9");
    let hook = Receiver::start(Behaviour::Down);
    let port = Port::closed();
    let state = dir.join("state");
    let notifier = format!("notify: webhook, config: {{url: \"{}/\"}}", hook.url());
    let cfg = config(
        &dir,
        20,
        port.port,
        &format!("      red: {{{notifier}}}\n"),
        "",
    );
    let cpra = Cpra::start(&cfg, &state, &[]);
    // Every monitor goes red within its first interval (500 ms); the outbox holds them.
    std::thread::sleep(Duration::from_secs(3));
    cpra.kill9();
    assert_eq!(hook.count(), 0);
    // The targets are healthy now: the restarted cpra fires no new code, so whatever arrives
    // came from the outbox.
    port.open();
    hook.set_mode(Behaviour::Ok(200, "ok".into()));
    let cpra = Cpra::start(&cfg, &state, &["--for", "4s"]);
    let stderr = cpra.wait(Duration::from_secs(30));
    let bodies = hook.json_bodies();
    let monitors = webhook_monitors(&bodies);
    let codes = code_objects(&bodies);
    let keys: HashSet<&str> = codes
        .iter()
        .map(|b| b["idempotency_key"].as_str().unwrap())
        .collect();
    let distinct: HashSet<&String> = monitors.iter().collect();
    assert_eq!(distinct.len(), 20, "{monitors:?}\n{stderr}");
    assert_eq!(codes.len(), 20, "each stored code delivered once");
    assert_eq!(keys.len(), 20, "one key per code");
    assert!(codes.iter().all(|b| b["color"] == "red"));
    assert!(stderr.contains("from an earlier run"), "{stderr}");
}

#[test]
fn a_hanging_receiver_does_not_delay_the_log_file() {
    let dir = common::temp_dir("nt-hang");
    let hang = Receiver::start(Behaviour::Hang);
    let port = Port::closed();
    let log = dir.join("alerts.log");
    let codes = format!(
        "      red: {{notify: slack, config: {{hook: \"{}/hook\"}}}}\n      yellow: {{notify: log, config: {{file: \"{}\"}}}}\n",
        hang.url(),
        log.display()
    );
    // Threshold 2: yellow (to the log) first, red (to the hanging Slack) next.
    let cfg = config(&dir, 3, port.port, &codes, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("unhealthy_threshold: 1", "unhealthy_threshold: 2");
    std::fs::write(&cfg, text).unwrap();
    let t0 = Instant::now();
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "6s"]);
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(3), || lines(&log) == 3),
        "log lines late: {} after {:?}",
        lines(&log),
        t0.elapsed()
    );
    // Meanwhile the hanging receiver holds a Slack request.
    assert!(hang.count() >= 1 || wait_until(Duration::from_secs(2), || hang.count() >= 1));
    let stderr = cpra.wait(Duration::from_secs(30));
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "shutdown took {:?}\n{stderr}",
        t0.elapsed()
    );
}

#[test]
fn slack_red_then_green() {
    let dir = common::temp_dir("nt-slack-rg");
    let hook = Receiver::start(Behaviour::Slack);
    let port = Port::closed();
    let notifier = format!(
        "notify: slack, config: {{hook: \"{}/services/T1/B1/SECRETPART\"}}",
        hook.url()
    );
    let cfg = config(&dir, 1, port.port, &red_green(&notifier), "");
    let cpra = Cpra::start(&cfg, &dir.join("state"), &["--for", "5s"]);
    assert!(wait_until(Duration::from_secs(5), || hook.count() >= 1));
    port.open();
    let stderr = cpra.wait(Duration::from_secs(20));
    let bodies = hook.json_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}\n{stderr}");
    for b in &bodies {
        receiver::validate::slack_incoming_webhook(b).unwrap_or_else(|e| panic!("{e}: {b}"));
    }
    assert!(
        bodies[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[FAILED] svc-0000")
    );
    assert_eq!(bodies[0]["attachments"][0]["color"], "#d40e0d");
    assert!(
        bodies[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("[RECOVERED] svc-0000")
    );
    assert_eq!(bodies[1]["attachments"][0]["color"], "#2eb886");
    assert!(!stderr.contains("SECRETPART"));
}
