//! Hot reload inside the engine, on a virtual clock with the workers played by the test: what
//! each kind of monitor keeps across [`Engine::apply_reload_with`], state by state.

use std::sync::Arc;
use std::time::Duration;

use cpra::config::model::*;
use cpra::engine::reload::prepare;
use cpra::engine::{Engine, EngineConfig};
use cpra::lifecycle::State;
use cpra::probe::reason::Reason;
use cpra::probe::ring::{Consumer, Producer};
use cpra::probe::worker::{NO_CERT, WorkerHandle};
use cpra::probe::{Completion, Request};
use cpra::store::{Catalog, MonitorId, StoreBuilder};

/// `(name, port, interval ms)`: TCP monitors, down after one failure, no codes.
fn catalog(monitors: &[(&str, u16, u64)]) -> Catalog {
    catalog_with(monitors, 1)
}

/// The same, down after `threshold` failures in a row.
fn catalog_with(monitors: &[(&str, u16, u64)], threshold: u32) -> Catalog {
    let mut b = StoreBuilder::new();
    for (i, (name, port, interval)) in monitors.iter().enumerate() {
        b.add(MonitorSpec {
            index: i,
            line: 0,
            name: name.to_string(),
            enabled: true,
            pulse: PulseSpec {
                interval: Duration::from_millis(*interval),
                timeout: Duration::from_millis(500),
                unhealthy_threshold: threshold,
                healthy_threshold: None,
                kind: PulseKind::Tcp(TcpPulse {
                    host: "127.0.0.1".into(),
                    port: *port,
                    retries: 0,
                }),
            },
            intervention: None,
            codes: CodesSpec::default(),
            maintenance: vec![],
        });
    }
    b.finish().expect("valid")
}

/// One played worker: its handle goes to the engine, the test keeps the other ends.
struct Played {
    requests: Consumer<Request>,
    done: Producer<Completion>,
    /// Only the waker's registry (one waker per poll).
    _poll: mio::Poll,
}

fn worker() -> (WorkerHandle, Played) {
    let poll = mio::Poll::new().expect("poll");
    let (h, requests, done) = WorkerHandle::detached(&poll).expect("rings");
    (
        h,
        Played {
            requests,
            done,
            _poll: poll,
        },
    )
}

impl Played {
    fn take(&mut self) -> Vec<Request> {
        let mut out = Vec::new();
        self.requests.pop_batch(&mut out, 1024);
        out
    }

    fn answer(&mut self, r: &Request, reason: Reason) {
        assert!(self.done.push(Completion {
            monitor: r.monitor,
            generation: r.generation,
            latency_us: 100,
            lateness_us: 0,
            status: 0,
            reason: reason as u8,
            attempts: 1,
            cert_days: NO_CERT,
        }));
    }
}

fn engine(cat: Catalog) -> (Engine, Played) {
    let (h, played) = worker();
    let cfg = EngineConfig {
        workers: 1,
        pin: false,
        record_events: true,
        ..EngineConfig::default()
    };
    let e = Engine::with_workers(Arc::new(cat), cfg, vec![h]).expect("engine");
    (e, played)
}

fn id(e: &Engine, name: &str) -> u32 {
    let cat = e.catalog();
    (0..cat.len() as u32)
        .find(|&m| cat.name(MonitorId(m)) == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Steps the engine over `from..to` ms (10 ms ticks), answering every check with the reason
/// `answer` gives for its monitor's name (`None`: leave it in flight).
fn run(
    e: &mut Engine,
    w: &mut Played,
    from: u64,
    to: u64,
    answer: impl Fn(&str) -> Option<Reason>,
) -> Vec<Request> {
    let mut unanswered = Vec::new();
    let mut t = from;
    while t < to {
        e.step_at(t);
        for r in w.take() {
            let name = e.catalog().name(MonitorId(r.monitor)).to_string();
            match answer(&name) {
                Some(reason) => w.answer(&r, reason),
                None => unanswered.push(r),
            }
        }
        t += 10;
    }
    unanswered
}

#[test]
fn kept_monitors_keep_state_and_checks_in_flight_cross_over() {
    let (mut e, mut w) = engine(catalog(&[
        ("down", 9, 1000),
        ("steady", 9, 1000),
        ("gone", 9, 1000),
    ]));
    // One interval: `down` fails (down at once), the others are left in flight.
    let in_flight = run(&mut e, &mut w, 0, 1000, |n| {
        (n == "down").then_some(Reason::Refused)
    });
    assert_eq!(e.status_of("down").unwrap().state, State::Down);
    assert_eq!(in_flight.len(), 2);
    let down_events = e.take_events();
    assert_eq!(down_events.len(), 1);

    let next = catalog(&[("down", 9, 2000), ("steady", 9, 1000), ("added", 9, 1000)]);
    let p = prepare(e.catalog_arc(), next, 0.0);
    let (h, mut w2) = worker();
    let counts = e
        .apply_reload_with(p, 1000, Some(vec![h]))
        .expect("applied");
    assert_eq!(
        (
            counts.unchanged,
            counts.changed,
            counts.added,
            counts.removed
        ),
        (1, 1, 1, 1)
    );
    // The old worker finishes its checks: steady's result is taken under its new id, gone's
    // is dropped.
    for r in &in_flight {
        w.answer(r, Reason::Ok);
    }
    let late_before = e.stats().late_dropped;
    e.step_at(1000);
    assert_eq!(e.status_of("steady").unwrap().checks, 1, "crossed over");
    assert!(!e.status_of("steady").unwrap().in_flight);
    assert_eq!(
        e.stats().late_dropped,
        late_before + 1,
        "gone's result dropped"
    );
    assert!(e.status_of("gone").is_none());

    // down is still down (no new event), and its recovery closes the same incident.
    assert_eq!(e.status_of("down").unwrap().state, State::Down);
    let left = run(&mut e, &mut w2, 1010, 9000, |_| Some(Reason::Ok));
    assert!(left.is_empty());
    let events = e.take_events();
    let down_id = id(&e, "down");
    let recovered: Vec<_> = events.iter().filter(|ev| ev.monitor == down_id).collect();
    assert_eq!(recovered.len(), 1, "{events:?}");
    assert_eq!(recovered[0].to, State::Up);
    assert_eq!(recovered[0].incident_ms, down_events[0].incident_ms);
    assert!(
        e.status_of("added").unwrap().checks >= 2,
        "the added one runs"
    );
    assert!(w.take().is_empty(), "nothing goes to the retired worker");
}

#[test]
fn an_unchanged_monitor_keeps_its_phase_and_a_changed_one_restarts_within_an_interval() {
    let (mut e, mut w) = engine(catalog(&[("same", 9, 1000), ("slower", 9, 1000)]));
    let mut first_seen = std::collections::HashMap::new();
    let mut t = 0;
    while t < 2000 {
        e.step_at(t);
        for r in w.take() {
            let name = e.catalog().name(MonitorId(r.monitor)).to_string();
            first_seen.entry(name).or_insert(t);
            w.answer(&r, Reason::Ok);
        }
        t += 10;
    }
    let phase_same = first_seen["same"] % 1000;
    let next = catalog(&[("same", 9, 1000), ("slower", 9, 3000)]);
    let p = prepare(e.catalog_arc(), next, 0.0);
    let (h, mut w2) = worker();
    e.apply_reload_with(p, 2000, Some(vec![h]))
        .expect("applied");
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut t = 2000;
    while t < 5000 {
        e.step_at(t);
        for r in w2.take() {
            seen.push((e.catalog().name(MonitorId(r.monitor)).to_string(), t));
            w2.answer(&r, Reason::Ok);
        }
        t += 10;
    }
    let same: Vec<u64> = seen.iter().filter(|s| s.0 == "same").map(|s| s.1).collect();
    assert_eq!(same.len(), 3, "{seen:?}");
    assert!(
        same.iter().all(|t| t % 1000 == phase_same),
        "{same:?} phase {phase_same}"
    );
    let slower: Vec<u64> = seen
        .iter()
        .filter(|s| s.0 == "slower")
        .map(|s| s.1)
        .collect();
    assert_eq!(slower.len(), 1, "every 3 s now: {seen:?}");
    assert!(
        slower[0] < 2000 + 3000,
        "first check within one new interval"
    );
}

/// The tick before a reload applied its results already: the swap must not apply them again
/// (one failure of a monitor that needs two stays one).
#[test]
fn a_result_just_before_a_reload_counts_once() {
    let (h, mut w) = worker();
    let cfg = EngineConfig {
        workers: 1,
        pin: false,
        record_events: true,
        ..EngineConfig::default()
    };
    let cat = catalog_with(&[("twice", 9, 1000)], 2);
    let mut e = Engine::with_workers(Arc::new(cat), cfg, vec![h]).expect("engine");
    let mut t = 0;
    let mut failed = false;
    while !failed {
        e.step_at(t);
        for r in w.take() {
            w.answer(&r, Reason::Refused);
        }
        t += 10;
        e.step_at(t);
        failed = e.status_of("twice").unwrap().checks == 1;
        t += 10;
    }
    assert_eq!(e.status_of("twice").unwrap().state, State::Degraded);
    let p = prepare(e.catalog_arc(), catalog_with(&[("twice", 9, 1000)], 2), 0.0);
    let (h2, _w2) = worker();
    e.apply_reload_with(p, t, Some(vec![h2])).expect("applied");
    e.step_at(t);
    e.step_at(t + 10);
    assert_eq!(
        e.status_of("twice").unwrap().state,
        State::Degraded,
        "one failure, counted once"
    );
}
