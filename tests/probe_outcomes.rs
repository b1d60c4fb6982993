//! The engine against real loopback servers, healthy and hostile: each check ends with the
//! right reason, in bounded time, and the healthy monitors keep their schedule meanwhile.

mod common;
#[path = "support/run.rs"]
mod run;

use std::time::Duration;

use common::{Behaviour, Target, refused_addr};
use cpra::config::model::*;
use cpra::engine::Engine;
use cpra::lifecycle::State;
use cpra::probe::reason::Reason;

fn http_spec(
    index: usize,
    name: &str,
    addr: std::net::SocketAddr,
    interval_ms: u64,
    timeout_ms: u64,
) -> MonitorSpec {
    MonitorSpec {
        index,
        line: 0,
        name: name.into(),
        enabled: true,
        pulse: PulseSpec {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            unhealthy_threshold: 2,
            healthy_threshold: None,
            kind: PulseKind::Http(HttpPulse {
                url: HttpUrl {
                    scheme: Scheme::Http,
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    path: format!("/t/{name}"),
                },
                method: "GET".into(),
                headers: vec![("X-Check".into(), name.into())],
                body: None,
                retries: 0,
                expected_status: vec![],
                body_contains: None,
                max_response_time: None,
                follow_redirects: 0,
                insecure_skip_verify: false,
                cert_expiry_warning: None,
                keepalive: false,
            }),
        },
        intervention: None,
        codes: CodesSpec::default(),
        maintenance: vec![],
    }
}

fn with_body_contains(mut s: MonitorSpec, needle: &str) -> MonitorSpec {
    if let PulseKind::Http(h) = &mut s.pulse.kind {
        h.body_contains = Some(needle.into());
    }
    s
}

fn run_for(specs: Vec<MonitorSpec>, d: Duration) -> Engine {
    run::run_engine(specs, 2, |_| {}, d)
}

#[test]
fn each_target_gets_its_reason_and_healthy_ones_keep_schedule() {
    let healthy = Target::start(Behaviour::Healthy);
    let healthy2 = Target::start(Behaviour::Healthy);
    let err500 = Target::start(Behaviour::Status(500));
    let slow = Target::start(Behaviour::Slow(Duration::from_secs(3)));
    let reset = Target::start(Behaviour::ResetMidResponse);
    let endless = Target::start(Behaviour::EndlessHeaders);
    let garbage = Target::start(Behaviour::Garbage);
    let trickle = Target::start(Behaviour::Trickle);
    let huge = Target::start(Behaviour::HugeBody(50 * 1024 * 1024));
    let refused = refused_addr();

    let specs = vec![
        http_spec(0, "healthy", healthy.addr, 250, 200),
        with_body_contains(
            http_spec(1, "healthy-body", healthy2.addr, 250, 200),
            "\"status\":\"ok\"",
        ),
        http_spec(2, "err500", err500.addr, 250, 200),
        http_spec(3, "slow", slow.addr, 500, 300),
        http_spec(4, "refused", refused, 250, 200),
        http_spec(5, "reset", reset.addr, 250, 200),
        http_spec(6, "endless", endless.addr, 500, 400),
        http_spec(7, "garbage", garbage.addr, 250, 200),
        http_spec(8, "trickle", trickle.addr, 500, 300),
        with_body_contains(http_spec(9, "huge", huge.addr, 500, 400), "needle"),
    ];
    let run = Duration::from_millis(3000);
    let e = run_for(specs, run);

    let expect = [
        ("healthy", Reason::Ok, State::Up),
        ("healthy-body", Reason::Ok, State::Up),
        ("err500", Reason::Status, State::Down),
        ("slow", Reason::Timeout, State::Down),
        ("refused", Reason::Refused, State::Down),
        ("reset", Reason::Reset, State::Down),
        ("endless", Reason::Protocol, State::Down),
        ("garbage", Reason::Protocol, State::Down),
        ("trickle", Reason::Timeout, State::Down),
        ("huge", Reason::Body, State::Down),
    ];
    for (name, reason, state) in expect {
        let s = e.status_of(name).expect("monitor exists");
        assert_eq!(s.last_reason, reason, "{name}: {s:?}");
        assert_eq!(s.state, state, "{name}: {s:?}");
        assert!(s.checks >= 2, "{name} ran only {} checks", s.checks);
    }
    assert_eq!(e.status_of("err500").unwrap().last_status, 500);

    // Fixed rate: 3 s at 250 ms is 12 due times; the first is spread within the first
    // interval, so 11 or 12 have completed. Allow one either way for tick granularity.
    for name in ["healthy", "healthy-body"] {
        let n = e.status_of(name).unwrap().checks;
        assert!(
            (10..=13).contains(&n),
            "{name}: {n} checks in 3 s at 250 ms"
        );
    }
    // Every accepted check produced exactly one connection on the healthy targets.
    let checks = e.status_of("healthy").unwrap().checks as usize;
    assert!(healthy.accepted() >= checks && healthy.accepted() <= checks + 1);
    // The request carried the configured header and a Host header.
    let req = healthy.requests.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /t/healthy HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("X-Check: healthy\r\n"), "{req}");
    assert!(
        req.contains(&format!("Host: {}\r\n", healthy.addr)),
        "{req}"
    );

    let stats = e.stats();
    assert_eq!(stats.deferred, 0);
    assert_eq!(stats.lost, 0, "every check ended through its worker");
    let summary = e.shutdown();
    assert!(
        summary.lateness_ms.p99 < 100.0,
        "lateness p99 {}",
        summary.lateness_ms.p99
    );
}

/// A monitor never has two checks in flight: against a target that never answers, with the
/// timeout equal to the interval, the server never sees two connections from it at once,
/// and every due time is either checked or counted as skipped.
#[test]
fn never_two_checks_in_flight() {
    let hang = Target::start(Behaviour::Hang);
    let specs = vec![http_spec(0, "hang", hang.addr, 200, 200)];
    let e = run_for(specs, Duration::from_millis(2500));
    let s = e.status_of("hang").unwrap();
    assert_eq!(s.last_reason, Reason::Timeout);
    assert_eq!(
        hang.max_open(),
        1,
        "two checks of one monitor were in flight at once"
    );
    let stats = e.stats();
    let due_times = stats.dispatched + stats.skipped;
    assert!(
        (11..=13).contains(&due_times),
        "dispatched {} skipped {}",
        stats.dispatched,
        stats.skipped
    );
}

/// Retries: a failing target is tried `retries + 1` times inside one check.
#[test]
fn retries_inside_one_check() {
    let err = Target::start(Behaviour::Status(503));
    let mut spec = http_spec(0, "retry", err.addr, 1000, 900);
    if let PulseKind::Http(h) = &mut spec.pulse.kind {
        h.retries = 2;
    }
    let e = run_for(vec![spec], Duration::from_millis(1500));
    assert_eq!(e.status_of("retry").unwrap().last_reason, Reason::Status);
    // Shutdown lets the check in flight finish, so every connection belongs to a counted check.
    let summary = e.shutdown();
    assert!(summary.checks >= 1);
    assert_eq!(summary.failures_by_reason["status"], summary.checks);
    assert_eq!(
        err.accepted() as u64,
        3 * summary.checks,
        "one check = 1 attempt + 2 retries"
    );
}

/// TCP checks: connect succeeds, or is refused.
#[test]
fn tcp_connect_checks() {
    let open = Target::start(Behaviour::Hang);
    let refused = refused_addr();
    let tcp = |index: usize, name: &str, addr: std::net::SocketAddr| {
        let mut s = http_spec(index, name, addr, 200, 150);
        s.pulse.kind = PulseKind::Tcp(TcpPulse {
            host: addr.ip().to_string(),
            port: addr.port(),
            retries: 0,
        });
        s
    };
    let e = run_for(
        vec![tcp(0, "open", open.addr), tcp(1, "closed", refused)],
        Duration::from_millis(1200),
    );
    let ok = e.status_of("open").unwrap();
    assert_eq!(
        (ok.last_reason, ok.state),
        (Reason::Ok, State::Up),
        "{ok:?}"
    );
    assert!(ok.checks >= 4);
    let bad = e.status_of("closed").unwrap();
    assert_eq!(bad.last_reason, Reason::Refused, "{bad:?}");
}

/// A target name that does not resolve fails `dns`, without stalling anything.
#[test]
fn unresolvable_host_fails_dns() {
    let healthy = Target::start(Behaviour::Healthy);
    let mut bad = http_spec(1, "nowhere", healthy.addr, 200, 150);
    if let PulseKind::Http(h) = &mut bad.pulse.kind {
        h.url.host = "no-such-host.invalid".into();
    }
    let e = run_for(
        vec![http_spec(0, "fine", healthy.addr, 200, 150), bad],
        Duration::from_millis(1200),
    );
    assert_eq!(e.status_of("nowhere").unwrap().last_reason, Reason::Dns);
    assert_eq!(e.status_of("fine").unwrap().last_reason, Reason::Ok);
}

/// Disabled monitors are loaded and never checked.
#[test]
fn disabled_monitors_are_never_checked() {
    let t = Target::start(Behaviour::Healthy);
    let mut off = http_spec(0, "off", t.addr, 100, 50);
    off.enabled = false;
    let e = run_for(vec![off], Duration::from_millis(600));
    assert_eq!(e.status_of("off").unwrap().checks, 0);
    assert_eq!(t.accepted(), 0);
}

/// Keep-alive: one connection carries many checks (the server's connection count shows it),
/// and a connection the server drops is retried once on a fresh one without failing.
#[test]
fn keepalive_reuses_one_connection() {
    let ka = Target::start(Behaviour::KeepAlive);
    let closing = Target::start(Behaviour::Healthy); // answers once, then closes
    let dropping = Target::start(Behaviour::KeepAliveThenDrop);
    let mut a = http_spec(0, "ka", ka.addr, 150, 140);
    let mut b = http_spec(1, "ka-closing", closing.addr, 150, 140);
    let mut d = http_spec(2, "ka-dropped", dropping.addr, 150, 140);
    for s in [&mut a, &mut b, &mut d] {
        if let PulseKind::Http(h) = &mut s.pulse.kind {
            h.keepalive = true;
        }
    }
    let e = run_for(vec![a, b, d], Duration::from_millis(2000));
    let s = e.status_of("ka").unwrap();
    assert_eq!(s.last_reason, Reason::Ok);
    assert!(s.checks >= 12, "{s:?}");
    assert_eq!(
        ka.accepted(),
        1,
        "{} connections for {} checks",
        ka.accepted(),
        s.checks
    );
    // The server sends `Connection: close`: never reused, never a failure.
    let c = e.status_of("ka-closing").unwrap();
    assert_eq!((c.last_reason, c.state), (Reason::Ok, State::Up), "{c:?}");
    assert_eq!(closing.accepted() as u32, c.checks + u32::from(c.in_flight));
    // The server drops each connection after one answer without saying so: every reuse
    // fails, is retried at once on a fresh connection, and the check still passes.
    let d = e.status_of("ka-dropped").unwrap();
    assert_eq!((d.last_reason, d.state), (Reason::Ok, State::Up), "{d:?}");
    assert!(d.checks >= 10);
    assert_eq!(
        e.stats().by_reason[Reason::Ok as usize] as u32,
        s.checks + c.checks + d.checks
    );
}

/// `follow_redirects`: relative and absolute Locations are followed up to the limit; past it
/// (or with 0) the 3xx itself is judged.
#[test]
fn redirects_are_followed_up_to_the_limit() {
    let b = Target::start(Behaviour::Redirect("/final"));
    let to_b: &'static str = Box::leak(format!("http://{}/start", b.addr).into_boxed_str());
    let a = Target::start(Behaviour::Redirect(to_b));
    let with = |i: usize, name: &str, follow: u32| {
        let mut s = http_spec(i, name, a.addr, 300, 250);
        if let PulseKind::Http(h) = &mut s.pulse.kind {
            h.follow_redirects = follow;
        }
        s
    };
    let e = run_for(
        vec![
            with(0, "follow-0", 0),
            with(1, "follow-1", 1),
            with(2, "follow-2", 2),
        ],
        Duration::from_millis(1000),
    );
    let s0 = e.status_of("follow-0").unwrap();
    assert_eq!(
        (s0.last_reason, s0.last_status),
        (Reason::Status, 301),
        "{s0:?}"
    );
    let s1 = e.status_of("follow-1").unwrap();
    assert_eq!(
        (s1.last_reason, s1.last_status),
        (Reason::Status, 301),
        "{s1:?}"
    );
    let s2 = e.status_of("follow-2").unwrap();
    assert_eq!(
        (s2.last_reason, s2.last_status),
        (Reason::Ok, 200),
        "{s2:?}"
    );
    let reqs = b.requests.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.starts_with("GET /final HTTP/1.1")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.contains(&format!("Host: {}\r\n", b.addr))),
        "{reqs:?}"
    );
}

/// `max_response_time`: an answer later than it fails `slow`; `expected_status` ranges decide
/// which statuses pass.
#[test]
fn slow_answers_and_status_ranges() {
    let slow = Target::start(Behaviour::Slow(Duration::from_millis(120)));
    let teapot = Target::start(Behaviour::Status(418));
    let mut s = http_spec(0, "too-slow", slow.addr, 400, 300);
    if let PulseKind::Http(h) = &mut s.pulse.kind {
        h.max_response_time = Some(Duration::from_millis(50));
    }
    let mut t = http_spec(1, "teapot-ok", teapot.addr, 400, 300);
    if let PulseKind::Http(h) = &mut t.pulse.kind {
        h.expected_status = vec![
            cpra::config::model::StatusRange { lo: 200, hi: 299 },
            cpra::config::model::StatusRange { lo: 400, hi: 418 },
        ];
    }
    let e = run_for(vec![s, t], Duration::from_millis(1300));
    let a = e.status_of("too-slow").unwrap();
    assert_eq!(a.last_reason, Reason::Slow, "{a:?}");
    let b = e.status_of("teapot-ok").unwrap();
    assert_eq!((b.last_reason, b.last_status), (Reason::Ok, 418), "{b:?}");
}
