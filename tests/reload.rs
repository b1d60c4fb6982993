//! Hot reload of `cpra run`, end to end: SIGHUP and `POST /api/v1/reload` swap a new file in
//! without a restart. Unchanged and changed monitors keep their open incident (no second
//! yellow or red), a monitor whose target changed starts fresh, a removed one sends nothing
//! more, an added one starts; a broken file changes nothing and says why.

#[path = "support/codes.rs"]
mod codes;
mod common;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/http.rs"]
mod http;
#[path = "support/services.rs"]
mod services;

use std::path::Path;
use std::time::Duration;

use codes::{codes, colours_of, log_codes};
use harness::{Cpra, Port, wait_until};
use http::{get, post};
use serde_json::Value;

const TOKEN: &str = "reload-token-9d1e";

/// A TCP monitor every 300 ms sending every colour to `log`.
fn monitor(name: &str, port: u16, interval_ms: u32, log: &Path) -> String {
    format!(
        "  - name: {name}\n    pulse_check: {{type: tcp, interval: {interval_ms}ms, timeout: 200ms, unhealthy_threshold: 2, config: {{host: 127.0.0.1, port: {port}}}}}\n    codes:\n{}",
        log_codes(log)
    )
}

fn write(cfg: &Path, monitors: &[String]) {
    std::fs::write(cfg, format!("monitors:\n{}", monitors.concat())).unwrap();
}

fn hup(cpra: &Cpra) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &cpra.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

fn reloads_applied(cpra: &Cpra) -> usize {
    cpra.stderr().matches("configuration reloaded in").count()
}

#[test]
fn sighup_keeps_incidents_starts_the_new_and_silences_the_removed() {
    let dir = services::fresh_dir("reload-hup").unwrap();
    let (state, log, cfg) = (
        dir.join("state"),
        dir.join("codes.log"),
        dir.join("monitors.yaml"),
    );
    let (down, up, other_down) = (Port::closed(), Port::closed(), Port::closed());
    up.open();
    write(
        &cfg,
        &[
            monitor("flaky", down.port, 300, &log),
            monitor("slowed", down.port, 300, &log),
            monitor("moved", down.port, 300, &log),
            monitor("gone", down.port, 300, &log),
            monitor("steady", up.port, 300, &log),
        ],
    );
    let cpra = Cpra::start(&cfg, &state, &["--listen", "127.0.0.1:0"]);
    let addr = cpra.api_addr();
    for m in ["flaky", "slowed", "moved", "gone"] {
        assert!(
            wait_until(Duration::from_secs(10), || colours_of(&log, m)
                == ["yellow", "red"]),
            "{m}: {:?}\n{}",
            codes(&log),
            cpra.stderr()
        );
    }
    let red_incident = |m: &str| {
        codes(&log)
            .into_iter()
            .find(|c| c["monitor"] == m && c["color"] == "red")
            .map(|c| c["incident"].clone())
            .unwrap()
    };
    let (flaky_incident, slowed_incident) = (red_incident("flaky"), red_incident("slowed"));

    // flaky unchanged, slowed changed (interval), moved to another target, gone removed,
    // added new (down), steady unchanged.
    write(
        &cfg,
        &[
            monitor("flaky", down.port, 300, &log),
            monitor("slowed", down.port, 400, &log),
            monitor("moved", up.port, 300, &log),
            monitor("steady", up.port, 300, &log),
            monitor("added", other_down.port, 300, &log),
        ],
    );
    hup(&cpra);
    assert!(
        wait_until(Duration::from_secs(10), || reloads_applied(&cpra) == 1),
        "{}",
        cpra.stderr()
    );
    assert!(
        cpra.stderr().contains(
            "2 unchanged, 1 changed (state kept, new check cycle), 1 restarted (type or target changed), 1 added, 1 removed"
        ),
        "{}",
        cpra.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || colours_of(&log, "added")
            == ["yellow", "red"]),
        "{:?}",
        codes(&log)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        colours_of(&log, "flaky"),
        ["yellow", "red"],
        "no second page"
    );
    assert_eq!(
        colours_of(&log, "slowed"),
        ["yellow", "red"],
        "no second page"
    );
    assert_eq!(
        colours_of(&log, "gone"),
        ["yellow", "red"],
        "nothing after removal"
    );
    assert_eq!(
        colours_of(&log, "moved"),
        ["yellow", "red"],
        "a restarted monitor starts up, and its new target is up"
    );
    assert!(colours_of(&log, "steady").is_empty());

    // The API follows: the removed monitor is gone, the added one is there, states carried.
    let (status, _) = get(&addr, "/api/v1/monitors/gone");
    assert_eq!(status, 404);
    let (status, v) = get(&addr, "/api/v1/monitors/flaky");
    assert_eq!((status, v["state"].as_str()), (200, Some("down")), "{v}");
    let (_, v) = get(&addr, "/api/v1/monitors/slowed");
    assert_eq!(v["interval_s"], 0.4, "{v}");
    assert_eq!(v["state"], "down");
    let (_, v) = get(&addr, "/api/v1/reload");
    assert_eq!(v["state"], "applied", "{v}");
    assert_eq!(v["monitors"]["removed"], 1, "{v}");
    assert_eq!(v["configuration"], 1, "{v}");

    // Recovery closes the incidents opened before the reload.
    down.open();
    for (m, incident) in [("flaky", &flaky_incident), ("slowed", &slowed_incident)] {
        assert!(
            wait_until(Duration::from_secs(10), || colours_of(&log, m)
                == ["yellow", "red", "green"]),
            "{m}: {:?}",
            codes(&log)
        );
        let green = codes(&log)
            .into_iter()
            .find(|c| c["monitor"] == m && c["color"] == "green")
            .unwrap();
        assert_eq!(&green["incident"], incident, "{m}");
    }
}

#[test]
fn a_broken_file_changes_nothing_and_the_api_says_why() {
    let dir = services::fresh_dir("reload-broken").unwrap();
    let (state, log, cfg) = (
        dir.join("state"),
        dir.join("codes.log"),
        dir.join("monitors.yaml"),
    );
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let (down, up) = (Port::closed(), Port::closed());
    up.open();
    write(
        &cfg,
        &[
            monitor("flaky", down.port, 300, &log),
            monitor("held", up.port, 300, &log),
        ],
    );
    let cpra = Cpra::start(
        &cfg,
        &state,
        &[
            "--listen",
            "127.0.0.1:0",
            "--api-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let addr = cpra.api_addr();
    assert!(wait_until(Duration::from_secs(10), || colours_of(
        &log, "flaky"
    ) == [
        "yellow", "red"
    ]));
    let (status, v) = post(&addr, "/api/v1/monitors/held/pause", Some(TOKEN), "");
    assert_eq!(status, 200, "{v}");
    let (status, _) = post(&addr, "/api/v1/reload", None, "");
    assert_eq!(status, 401, "a reload needs the token");

    std::fs::write(
        &cfg,
        format!(
            "monitors:\n{}  - name: bad\n    pulse_check: {{type: tcp, interval: 1s, config: {{host: 127.0.0.1, port: 99999}}}}\n",
            monitor("flaky", down.port, 300, &log)
        ),
    )
    .unwrap();
    let (status, v) = post(&addr, "/api/v1/reload", Some(TOKEN), "");
    assert_eq!(status, 202, "{v}");
    let mut last = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            last = get(&addr, "/api/v1/reload").1;
            last["state"] == "refused"
        }),
        "{last}"
    );
    let errors = last["errors"].to_string();
    assert!(
        errors.contains("bad") && errors.contains("port") && errors.contains("line"),
        "the error names the monitor, the field and the line: {errors}"
    );
    assert!(
        cpra.stderr()
            .contains("reload refused, the running configuration stays")
    );
    assert_eq!(last["configuration"], 0, "still the first configuration");
    let (status, v) = get(&addr, "/api/v1/monitors/held");
    assert_eq!((status, &v["paused"]), (200, &Value::Bool(true)), "{v}");

    // Fixed: applied; the pause survives the reload, the incident too.
    write(
        &cfg,
        &[
            monitor("flaky", down.port, 300, &log),
            monitor("held", up.port, 300, &log),
            monitor("new", up.port, 300, &log),
        ],
    );
    let (status, _) = post(&addr, "/api/v1/reload", Some(TOKEN), "");
    assert_eq!(status, 202);
    assert!(
        wait_until(Duration::from_secs(10), || {
            last = get(&addr, "/api/v1/reload").1;
            last["state"] == "applied"
        }),
        "{last}"
    );
    assert_eq!(last["monitors"]["added"], 1, "{last}");
    let (_, v) = get(&addr, "/api/v1/monitors/held");
    assert_eq!(v["paused"], true, "{v}");
    let (_, v) = get(&addr, "/api/v1/monitors/new");
    assert!(
        wait_until(Duration::from_secs(5), || get(
            &addr,
            "/api/v1/monitors/new"
        )
        .1["last_check"]
            .is_string()),
        "the added monitor is checked: {v}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(colours_of(&log, "flaky"), ["yellow", "red"]);
    let (status, v) = post(&addr, "/api/v1/monitors/held/resume", Some(TOKEN), "");
    assert_eq!(status, 200, "commands use the new configuration's ids: {v}");
}

/// A monitor removed while firing in Alertmanager: its alert is resolved there (not left to
/// be re-posted for ever); a kept one keeps firing; a new notifier added by the reload gets
/// its codes.
#[test]
fn a_removed_monitor_resolves_its_alertmanager_alert_and_new_notifiers_start() {
    let Some(am) = services::require_alertmanager() else {
        return; // SKIPPED (printed): Alertmanager not installed and CPRA_ALLOW_SKIP=1.
    };
    let dir = services::fresh_dir("reload-am").unwrap();
    let (state, cfg, log2) = (
        dir.join("state"),
        dir.join("monitors.yaml"),
        dir.join("second.log"),
    );
    let down = Port::closed();
    let am_monitor = |name: &str| {
        format!(
            "  - name: {name}\n    pulse_check: {{type: tcp, interval: 300ms, timeout: 200ms, unhealthy_threshold: 2, config: {{host: 127.0.0.1, port: {}}}}}\n    codes:\n      red: {{notify: alertmanager, config: {{url: \"{}\"}}}}\n",
            down.port,
            am.url()
        )
    };
    let firing = || -> Vec<String> {
        match am.alerts() {
            Ok(Value::Array(a)) => {
                let mut names: Vec<String> = a
                    .iter()
                    .filter(|x| x["status"]["state"] == "active")
                    .map(|x| x["labels"]["monitor"].as_str().unwrap_or("").to_string())
                    .collect();
                names.sort();
                names
            }
            _ => Vec::new(),
        }
    };
    write(&cfg, &[am_monitor("db"), am_monitor("cache")]);
    let cpra = Cpra::start(&cfg, &state, &["--listen", "none"]);
    assert!(
        wait_until(Duration::from_secs(10), || firing() == ["cache", "db"]),
        "{:?}\n{}",
        am.alerts(),
        cpra.stderr()
    );
    write(
        &cfg,
        &[am_monitor("db"), monitor("fresh", down.port, 300, &log2)],
    );
    hup(&cpra);
    assert!(
        wait_until(Duration::from_secs(10), || firing() == ["db"]),
        "the removed monitor's alert is resolved: {:?}\n{}",
        am.alerts(),
        cpra.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(10), || colours_of(&log2, "fresh")
            == ["yellow", "red"]),
        "the new log notifier delivers: {:?}\n{}",
        codes(&log2),
        cpra.stderr()
    );
    assert_eq!(firing(), ["db"], "the kept one keeps firing");
}
