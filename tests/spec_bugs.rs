//! SPEC section 3: the Go original's bugs, each shown absent. One test per bug; where the
//! proof lives elsewhere (a unit table or another integration test), the test here says where
//! and still asserts the essential fact itself.

mod common;
#[path = "support/run.rs"]
mod run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Behaviour, Target};
use cpra::config::model::*;
use cpra::config::{Format, LoadOptions, load_bytes};
use cpra::effects::notify::{Notify, NotifyOptions};
use cpra::effects::render::Code;
use cpra::engine::{Engine, EngineConfig};
use cpra::lifecycle::{Cause, Event, State};
use cpra::probe::reason::Reason;
use cpra::probe::worker::WorkerHandle;
use cpra::store::{StoreBuilder, first_due_ms};

fn tcp_spec(i: usize, name: &str, port: u16, interval_ms: u64, timeout_ms: u64) -> MonitorSpec {
    MonitorSpec {
        index: i,
        line: 0,
        name: name.into(),
        enabled: true,
        pulse: PulseSpec {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            unhealthy_threshold: 1,
            healthy_threshold: None,
            kind: PulseKind::Tcp(TcpPulse {
                host: "127.0.0.1".into(),
                port,
                retries: 0,
            }),
        },
        intervention: None,
        codes: CodesSpec::default(),
        maintenance: vec![],
    }
}

/// "Checks firing all at once at start": first checks are spread over the first interval.
#[test]
fn first_checks_are_spread_over_the_interval() {
    let interval = 60_000;
    let mut buckets = [0u32; 60];
    for i in 0..60_000 {
        let d = first_due_ms(&format!("monitor-{i}"), interval);
        assert!(d < interval);
        buckets[(d / 1000) as usize] += 1;
    }
    // 1,000 per second on average; no second gets more than 1.2x or less than 0.8x.
    for (s, n) in buckets.iter().enumerate() {
        assert!((800..1200).contains(n), "second {s}: {n} first checks");
    }
    // Stable across runs: the same name gives the same phase.
    assert_eq!(
        first_due_ms("checkout-api", 30_000),
        first_due_ms("checkout-api", 30_000)
    );
}

/// "The period drifting by the probe time": against a target that takes 150 ms to answer,
/// a 250 ms interval still gives one check per 250 ms (fixed rate from the due time).
#[test]
fn period_does_not_drift_by_probe_time() {
    let slow = Target::start(Behaviour::Slow(Duration::from_millis(150)));
    let mut spec = tcp_spec(0, "slowish", 0, 250, 200);
    spec.pulse.kind = PulseKind::Http(HttpPulse {
        url: HttpUrl {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: slow.addr.port(),
            path: "/".into(),
        },
        method: "GET".into(),
        headers: vec![],
        body: None,
        retries: 0,
        expected_status: vec![],
        body_contains: None,
        max_response_time: None,
        follow_redirects: 0,
        insecure_skip_verify: false,
        cert_expiry_warning: None,
        keepalive: false,
    });
    let e = run::run_engine(vec![spec], 1, |_| {}, Duration::from_millis(4000));
    let s = e.status_of("slowish").unwrap();
    assert_eq!(s.last_reason, Reason::Ok);
    // 4 s / 250 ms = 16 due times (minus the first interval's phase); drifting by 150 ms per
    // check would give 10.
    assert!((14..=16).contains(&s.checks), "{} checks", s.checks);
}

/// "Checks stuck forever when a result is lost": a worker that never answers. The engine
/// records `lost` after the deadline plus grace, and the monitor is checked again.
#[test]
fn lost_results_do_not_stick() {
    let mut b = StoreBuilder::new();
    b.add(tcp_spec(0, "orphan", 9, 500, 100));
    let cat = Arc::new(b.finish().unwrap());
    let poll = mio::Poll::new().unwrap();
    let (handle, mut requests, _completions) = WorkerHandle::detached(&poll).unwrap();
    let mut e = Engine::with_workers(
        cat,
        EngineConfig {
            workers: 1,
            pin: false,
            record_events: true,
            ..EngineConfig::default()
        },
        vec![handle],
    )
    .unwrap();
    // Virtual clock: 10 s in 10 ms ticks; the "worker" swallows every request.
    let mut swallowed = 0;
    let mut buf = Vec::new();
    for t in (0..10_000).step_by(10) {
        e.step_at(t);
        buf.clear();
        swallowed += requests.pop_batch(&mut buf, 100);
    }
    let stats = e.stats();
    // Each check is lost 100 ms + 1 s grace after dispatch; with a 500 ms interval the due
    // times in between are skipped, and after each loss the monitor is checked again.
    assert!(stats.lost >= 5, "lost {}", stats.lost);
    assert!(swallowed as u64 >= stats.lost);
    assert!(stats.skipped > 0);
    let s = e.status_of("orphan").unwrap();
    assert_eq!(s.last_reason, Reason::Lost);
    assert_eq!(s.state, State::Down);
}

fn code(monitor: &str, colour: Colour, cause: Cause, at: u64) -> Code {
    Code {
        monitor: monitor.into(),
        colour,
        event: Event {
            monitor: 0,
            from: State::Up,
            to: State::Degraded,
            colour: Some(colour),
            cause,
            reason: Reason::Timeout,
            status: 0,
            failures: 1,
            at_ms: at,
            incident_ms: 0,
        },
        wall_ms: 1_800_000_000_000 + at,
        incident_wall_ms: 1_800_000_000_000,
        reminder: false,
    }
}

/// "One pending-code slot that later codes overwrite" and "a failed alert retried every
/// 10 ms forever": while the log file cannot be opened, codes queue (all of them, in order)
/// and delivery is retried with backoff; once it can, every code is written.
#[test]
fn codes_queue_in_order_and_retry_with_backoff() {
    let dir = common::temp_dir("notify");
    // The log's parent is a regular file: opening fails until the test replaces it.
    let blocker = dir.join("logs");
    std::fs::write(&blocker, "not a directory").unwrap();
    let path = blocker.join("alerts.log");
    let specs = vec![NotifierSpec::Log {
        file: path.display().to_string(),
    }];
    let mut notify = Notify::start(
        &specs,
        NotifyOptions {
            state_dir: Some(dir.join("state")),
            ..NotifyOptions::default()
        },
    )
    .unwrap();
    let colours = [Colour::Yellow, Colour::Red, Colour::Cyan, Colour::Green];
    let causes = [
        Cause::FirstFailure,
        Cause::ThresholdReached,
        Cause::InterventionSucceeded,
        Cause::Verified,
    ];
    for (i, (c, cause)) in colours.iter().zip(causes).enumerate() {
        notify.send(vec![(0, code("m", *c, cause, i as u64))]);
    }
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    // The next attempt comes after the 2 s backoff step, not on the next tick.
    let t0 = Instant::now();
    while !path.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = notify.finish();
    let text = std::fs::read_to_string(&path).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["color"].to_string())
        .collect();
    assert_eq!(got, vec!["\"yellow\"", "\"red\"", "\"cyan\"", "\"green\""]);
    assert_eq!(stats.delivered, 4);
    assert_eq!(stats.undelivered, 0);
    // ~3 s of failing at 1 s, 2 s backoff: a handful of attempts, not hundreds.
    assert!(
        (1..=4).contains(&stats.failed_attempts),
        "{} failed attempts",
        stats.failed_attempts
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// "Green that never fires after a yellow-only episode": full table in
/// src/lifecycle/tests.rs (`green_after_yellow_only_episode`); here end to end.
#[test]
fn green_after_yellow_only_episode() {
    use cpra::lifecycle::{Columns, Input, apply};
    let mut c = Columns::new(&[3], &[2], &[3], &[cpra::store::NONE]);
    let mut ev = Vec::new();
    let mut starts = Vec::new();
    let fail = Input::Check {
        monitor: 0,
        reason: Reason::Timeout,
        status: 0,
    };
    let ok = Input::Check {
        monitor: 0,
        reason: Reason::Ok,
        status: 200,
    };
    apply(&mut c, &[], &[fail, ok, ok], 0, &mut ev, &mut starts);
    let colours: Vec<_> = ev.iter().filter_map(|e| e.colour).collect();
    assert_eq!(colours, vec![Colour::Yellow, Colour::Green]);
}

/// "Interventions repeated without limit": table in src/lifecycle/tests.rs
/// (`interventions_limited_and_cooled_down`); here: 100 failures in a row start one.
#[test]
fn interventions_are_limited() {
    use cpra::lifecycle::{Columns, Input, Policy, apply};
    let mut c = Columns::new(&[1], &[2], &[3], &[0]);
    let p = [Policy {
        max_attempts: 3,
        cooldown_ms: 300_000,
    }];
    let mut ev = Vec::new();
    let mut starts = Vec::new();
    let fail = Input::Check {
        monitor: 0,
        reason: Reason::Refused,
        status: 0,
    };
    for t in 0..100 {
        apply(&mut c, &p, &[fail], t * 1000, &mut ev, &mut starts);
    }
    assert_eq!(starts.len(), 1);
}

/// "`enabled` defaulting to false in JSON".
#[test]
fn enabled_defaults_to_true_in_json() {
    let json = br#"{"monitors":[{"name":"a","pulse_check":{"type":"tcp","interval":"10s","timeout":"1s","config":{"host":"127.0.0.1","port":80}}}]}"#;
    let mut got = Vec::new();
    load_bytes(json, Format::Json, &LoadOptions::default(), &mut |s| {
        got.push(s)
    })
    .unwrap();
    assert!(got[0].enabled);
}

/// "A docker intervention without a timeout that always fails": the timeout defaults to
/// 30 s, and the restart call is bounded by it (tests/interventions.rs).
#[test]
fn intervention_timeout_defaults_to_30s() {
    let yaml = b"monitors:\n  - name: a\n    pulse_check: { type: tcp, interval: 10s, timeout: 1s, config: { host: 127.0.0.1, port: 80 } }\n    intervention: { action: docker, target: { container: web } }\n";
    let opts = LoadOptions {
        allow_unsupported: true,
        ..LoadOptions::default()
    };
    let mut got = Vec::new();
    load_bytes(yaml, Format::Yaml, &opts, &mut |s| got.push(s)).unwrap();
    match &got[0].intervention.as_ref().unwrap().action {
        InterventionAction::Docker { timeout, .. } => assert_eq!(*timeout, Duration::from_secs(30)),
        other => panic!("{other:?}"),
    }
    // Docker runs for real (tests/interventions.rs restarts a real container).
    assert!(load_bytes(yaml, Format::Yaml, &LoadOptions::default(), &mut |_| {}).is_ok());
}

/// "Notifiers that pretend to send": every notifier and intervention sends a real request;
/// each is tested end to end against a real receiver (tests/notifiers.rs,
/// tests/interventions.rs). Nothing is accepted that the engine cannot run: the list of
/// features refused at load is empty because every feature is built.
#[test]
fn nothing_is_faked() {
    assert!(cpra::config::support::NOT_YET_SUPPORTED.is_empty());
    let yaml = b"monitors:\n  - name: a\n    pulse_check: { type: tcp, interval: 10s, timeout: 1s, config: { host: 127.0.0.1, port: 80 } }\n    intervention: { action: webhook, target: { url: \"http://h/\" } }\n    codes:\n      red: { notify: slack, config: { hook: \"https://hooks.slack.com/services/x\" } }\n";
    assert!(load_bytes(yaml, Format::Yaml, &LoadOptions::default(), &mut |_| {}).is_ok());
}

/// "Validation that exists but is not on the load path": the engine's only way in is the
/// validating loader; `cpra run` on an invalid file refuses to start (also in
/// tests/cli_run.rs). Here: an invalid monitor among valid ones delivers nothing.
#[test]
fn validation_is_on_the_load_path() {
    let yaml = b"monitors:\n  - name: ok\n    pulse_check: { type: tcp, interval: 10s, timeout: 1s, config: { host: 127.0.0.1, port: 80 } }\n  - name: bad\n    pulse_check: { type: tcp, interval: 1s, timeout: 1s, config: { host: 127.0.0.1, port: 99999 } }\n";
    let mut b = StoreBuilder::new();
    let r = load_bytes(yaml, Format::Yaml, &LoadOptions::default(), &mut |s| {
        b.add(s)
    });
    assert!(r.is_err());
}

/// "Headers parsed and never sent": asserted on the wire in tests/probe_outcomes.rs and
/// tests/cli_run.rs; here the rendered request itself.
#[test]
fn configured_headers_are_sent() {
    let t = Target::start(Behaviour::Healthy);
    let yaml = format!(
        "monitors:\n  - name: h\n    pulse_check:\n      type: http\n      interval: 200ms\n      timeout: 100ms\n      config:\n        url: http://{}/x\n        headers: {{ Authorization: \"Bearer abc\", X-Env: prod }}\n",
        t.addr
    );
    let mut specs = Vec::new();
    load_bytes(
        yaml.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |s| specs.push(s),
    )
    .unwrap();
    let _e = run::run_engine(specs, 1, |_| {}, Duration::from_millis(600));
    let req = t.requests.lock().unwrap()[0].clone();
    assert!(req.contains("Authorization: Bearer abc\r\n"), "{req}");
    assert!(req.contains("X-Env: prod\r\n"), "{req}");
}
