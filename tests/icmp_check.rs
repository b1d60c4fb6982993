//! ICMP checks through the engine: echo to 127.0.0.1 from many monitors at once, on the
//! worker's shared socket. Skipped, with the reason printed, where the kernel refuses both
//! datagram and raw ICMP sockets to this process.

#[path = "support/run.rs"]
mod run;

use std::time::Duration;

use cpra::config::model::*;
use cpra::lifecycle::State;
use cpra::probe::reason::Reason;

fn icmp(i: usize, name: &str, host: &str, count: u32, ignore_privilege: bool) -> MonitorSpec {
    MonitorSpec {
        index: i,
        line: 0,
        name: name.into(),
        enabled: true,
        pulse: PulseSpec {
            interval: Duration::from_millis(300),
            timeout: Duration::from_millis(250),
            unhealthy_threshold: 1,
            healthy_threshold: None,
            kind: PulseKind::Icmp(IcmpPulse {
                host: host.into(),
                count,
                retries: 0,
                ignore_privilege,
            }),
        },
        intervention: None,
        codes: CodesSpec::default(),
        maintenance: vec![],
    }
}

#[test]
fn echo_to_loopback_from_many_monitors() {
    if let Err(e) = cpra::probe::icmp::open(false) {
        eprintln!("skipped: this process may not open ICMP sockets: {e:?}");
        return;
    }
    let specs = (0..50)
        .map(|i| icmp(i, &format!("ping-{i}"), "127.0.0.1", 3, false))
        .collect();
    let e = run::run_engine(specs, 2, |_| {}, Duration::from_millis(1500));
    for i in 0..50 {
        let s = e.status_of(&format!("ping-{i}")).unwrap();
        assert_eq!(s.last_reason, Reason::Ok, "ping-{i}: {s:?}");
        assert_eq!(s.state, State::Up);
        assert_eq!(s.last_status, 0, "loss percent");
        assert!(s.checks >= 3, "ping-{i}: {s:?}");
    }
    let summary = e.shutdown();
    // Round trips on loopback are well under a millisecond; latency holds the mean RTT.
    assert!(summary.latency_ms.p99 < 50.0, "{}", summary.latency_ms.p99);
    assert_eq!(summary.lost, 0);
}
