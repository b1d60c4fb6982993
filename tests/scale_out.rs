//! Past one box, simulated on loopback: three cpra instances share one configuration with
//! `--shard I/3`, alert through an Alertmanager cluster of two peers, and are scraped by one
//! Prometheus. Every monitor is checked by exactly one instance (or by exactly two with
//! `--replicas 2`, surviving the loss of one instance); a failing target is exactly one alert.

mod common;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/services.rs"]
mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Cpra, Port, wait_until};
use serde_json::Value;

fn get(addr: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {out}"))
}

/// Monitor name → last check, as the instance at `addr` lists them.
fn monitors(addr: &str) -> BTreeMap<String, Value> {
    let v = get(addr, "/api/v1/monitors?limit=1000");
    assert!(v["next_cursor"].is_null());
    v["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["last_check"].clone(),
            )
        })
        .collect()
}

/// Alerts for `monitor` in Alertmanager.
fn alerts_for(am: &services::Alertmanager, monitor: &str) -> Vec<Value> {
    let m = format!("monitor=\"{monitor}\"");
    match am.alerts_filtered(true, true, true, true, &[m.as_str()]) {
        Ok(Value::Array(a)) => a,
        other => panic!("alerts: {other:?}"),
    }
}

/// `svc-0..healthy-1` on `up`, `broken` on `down`, `late` on `late` (opened now, closed by the
/// test); reds to every Alertmanager peer in `am`, every 500 ms.
fn write_config(
    dir: &Path,
    healthy: usize,
    up: u16,
    down: u16,
    late: u16,
    am: &[String],
) -> PathBuf {
    let peers: Vec<String> = am.iter().map(|u| format!("\"{u}\"")).collect();
    let red = format!(
        "    codes:\n      red: {{notify: alertmanager, config: {{url: [{}]}}}}\n",
        peers.join(", ")
    );
    let tcp = |name: &str, port: u16| {
        format!(
            "  - name: {name}\n    pulse_check: {{type: tcp, interval: 500ms, timeout: 300ms, unhealthy_threshold: 2, config: {{host: 127.0.0.1, port: {port}}}}}\n{red}"
        )
    };
    let mut yaml = String::from("monitors:\n");
    for i in 0..healthy {
        yaml.push_str(&tcp(&format!("svc-{i}"), up));
    }
    yaml.push_str(&tcp("broken", down));
    yaml.push_str(&tcp("late", late));
    let path = dir.join("monitors.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn start_fleet(dir: &Path, cfg: &Path, replicas: &str) -> Vec<(Cpra, String)> {
    (0..3)
        .map(|i| {
            let shard = format!("{i}/3");
            let cpra = Cpra::start_named(
                cfg,
                &dir.join(format!("state-{i}")),
                &format!("cpra-{i}"),
                &[
                    "--shard",
                    &shard,
                    "--replicas",
                    replicas,
                    "--listen",
                    "127.0.0.1:0",
                ],
            );
            let addr = cpra.api_addr();
            (cpra, addr)
        })
        .collect()
}

#[test]
fn three_shards_check_each_monitor_once_and_alert_once() {
    if !services::alertmanager_or_skip() {
        return; // SKIPPED (printed): Alertmanager not installed and CPRA_ALLOW_SKIP=1.
    }
    let am1 = services::Alertmanager::start_peer(None).unwrap();
    let am2 = services::Alertmanager::start_peer(am1.cluster_addr().as_deref()).unwrap();
    let dir = services::fresh_dir("scale-shards").unwrap();
    let up = Port::closed();
    up.open();
    let late = Port::closed();
    late.open();
    let down = Port::closed();
    let cfg = write_config(
        &dir,
        60,
        up.port,
        down.port,
        late.port,
        &[am1.url(), am2.url()],
    );
    let fleet = start_fleet(&dir, &cfg, "1");

    // Each instance lists only its shard; together, every monitor exactly once.
    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (_, addr)) in fleet.iter().enumerate() {
        let mine = monitors(addr);
        assert!(
            !mine.is_empty() && mine.len() < 62,
            "shard {i}: {}",
            mine.len()
        );
        for name in mine.keys() {
            assert!(
                owner.insert(name.clone(), i).is_none(),
                "{name} in two shards"
            );
        }
        let s = get(addr, "/api/v1/summary");
        assert_eq!(s["shard"]["index"], i);
        assert_eq!(
            (
                s["shard"]["count"].as_u64(),
                s["shard"]["monitors_in_file"].as_u64()
            ),
            (Some(3), Some(62))
        );
    }
    assert_eq!(owner.len(), 62);
    // ...and each is checked there.
    assert!(wait_until(Duration::from_secs(5), || fleet
        .iter()
        .all(|(_, a)| monitors(a).values().all(|c| !c.is_null()))));

    // The failing target: exactly one alert on each peer of the cluster (peers share
    // silences, not alerts: every instance posts to both).
    assert!(
        wait_until(Duration::from_secs(20), || alerts_for(&am2, "broken").len()
            == 1),
        "no alert for broken on the second peer: {:?}",
        am2.alerts()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alerts_for(&am1, "broken").len(), 1);
    assert_eq!(alerts_for(&am2, "broken").len(), 1);
    let a = &alerts_for(&am1, "broken")[0];
    assert_eq!(
        a["annotations"]["instance"],
        format!("cpra-{}", owner["broken"])
    );
    assert!(alerts_for(&am1, "svc-0").is_empty());

    // Prometheus scrapes the three and sums their checks/s (62 monitors every 500 ms).
    let targets: Vec<String> = fleet.iter().map(|(_, a)| a.clone()).collect();
    let Some(prom) = services::require_prometheus(&targets) else {
        return; // SKIPPED (printed): Prometheus not installed and CPRA_ALLOW_SKIP=1.
    };
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(30), || {
        let shards = prom.query("count(cpra_shard_info{shards=\"3\"})");
        let rate = prom.query("sum(rate(cpra_checks_total[4s]))");
        last = format!("{shards:?} {rate:?}");
        let value = |r: &Result<Vec<Value>, String>| {
            r.as_ref()
                .ok()
                .and_then(|v| v.first().cloned())
                .and_then(|v| v["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()))
        };
        value(&shards) == Some(3.0) && value(&rate).is_some_and(|r| (100.0..=150.0).contains(&r))
    });
    assert!(ok, "Prometheus: {last}\n{}", prom.logs());
}

#[test]
fn replicas_keep_checking_when_an_instance_dies_and_alerts_stay_single() {
    let Some(am) = services::require_alertmanager() else {
        return; // SKIPPED (printed).
    };
    let dir = services::fresh_dir("scale-replicas").unwrap();
    let up = Port::closed();
    up.open();
    let late = Port::closed();
    late.open();
    let down = Port::closed();
    let cfg = write_config(&dir, 30, up.port, down.port, late.port, &[am.url()]);
    let mut fleet = start_fleet(&dir, &cfg, "2");

    // Every monitor on exactly two instances.
    let mut owners: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, (_, addr)) in fleet.iter().enumerate() {
        for name in monitors(addr).keys() {
            owners.entry(name.clone()).or_default().insert(i);
        }
    }
    assert_eq!(owners.len(), 32);
    assert!(owners.values().all(|o| o.len() == 2), "{owners:?}");

    // Two replicas alert on broken with the same labels: Alertmanager keeps one.
    assert!(wait_until(Duration::from_secs(20), || alerts_for(
        &am, "broken"
    )
    .len()
        == 1));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alerts_for(&am, "broken").len(), 1);

    // Kill one of late's instances; its replica goes on checking everything it had.
    let victim = *owners["late"].iter().next().unwrap();
    let (cpra, _) = fleet.remove(victim);
    cpra.kill9();
    let survivors: Vec<String> = fleet.iter().map(|(_, a)| a.clone()).collect();
    let before: Vec<BTreeMap<String, Value>> = survivors.iter().map(|a| monitors(a)).collect();
    for name in owners.keys() {
        assert!(
            before.iter().any(|m| m.contains_key(name)),
            "{name} lost with its instance"
        );
    }
    assert!(wait_until(Duration::from_secs(5), || {
        let now: Vec<BTreeMap<String, Value>> = survivors.iter().map(|a| monitors(a)).collect();
        owners.keys().all(|name| {
            now.iter()
                .zip(&before)
                .any(|(n, b)| n.get(name).is_some_and(|c| Some(c) != b.get(name)))
        })
    }));

    // A target that fails now is one alert, from the replica that is left.
    drop(late);
    assert!(
        wait_until(Duration::from_secs(20), || alerts_for(&am, "late").len()
            == 1),
        "{:?}",
        am.alerts()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alerts_for(&am, "late").len(), 1);
    assert_eq!(alerts_for(&am, "broken").len(), 1);
}
