//! DNS checks through the engine against a loopback DNS responder: right answer, wrong
//! answer, NXDOMAIN (unexpected and expected), truncated over UDP then answered over TCP,
//! garbage, and silence.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/run.rs"]
mod run;

use std::net::Ipv4Addr;
use std::time::Duration;

use cpra::config::model::*;
use cpra::probe::reason::Reason;
use dns_server::{Answer, DnsServer, Record};

fn dns(
    i: usize,
    name: &str,
    server: &str,
    query: &str,
    expect: Option<&str>,
    rcode: &str,
) -> MonitorSpec {
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
            kind: PulseKind::Dns(DnsPulse {
                server: Some(server.into()),
                query: query.into(),
                record_type: DnsRecordType::A,
                expected_rcode: rcode.into(),
                expected_answer: expect.map(Into::into),
            }),
        },
        intervention: None,
        codes: CodesSpec::default(),
        maintenance: vec![],
    }
}

#[test]
fn dns_verdicts_through_the_engine() {
    let server = DnsServer::start(vec![
        ("ok.test", Answer::a("10.0.0.1")),
        (
            "big.test",
            Answer::Truncated(vec![Record::A(Ipv4Addr::new(10, 0, 0, 9))]),
        ),
        (
            "junk.test",
            Answer::Garbage(vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3]),
        ),
        ("quiet.test", Answer::Silent),
    ]);
    let s = server.addr.to_string();
    let specs = vec![
        dns(0, "right", &s, "ok.test", Some("10.0.0.1"), "NOERROR"),
        dns(1, "wrong", &s, "ok.test", Some("10.0.0.2"), "NOERROR"),
        dns(2, "nxdomain", &s, "missing.test", None, "NOERROR"),
        dns(3, "nxdomain-expected", &s, "missing.test", None, "NXDOMAIN"),
        dns(4, "truncated", &s, "big.test", Some("10.0.0.9"), "NOERROR"),
        dns(5, "garbage", &s, "junk.test", None, "NOERROR"),
        dns(6, "silent", &s, "quiet.test", None, "NOERROR"),
    ];
    let e = run::run_engine(specs, 2, |_| {}, Duration::from_millis(1500));
    for (name, reason) in [
        ("right", Reason::Ok),
        ("wrong", Reason::Dns),
        ("nxdomain", Reason::Dns),
        ("nxdomain-expected", Reason::Ok),
        ("truncated", Reason::Ok),
        ("garbage", Reason::Protocol),
        ("silent", Reason::Timeout),
    ] {
        let st = e.status_of(name).unwrap();
        assert!(st.checks >= 3, "{name}: {st:?}");
        assert_eq!(st.last_reason, reason, "{name}: {st:?}");
    }
    // The truncated answer came over TCP.
    assert!(
        server.tcp_queries() >= 3,
        "{} TCP queries",
        server.tcp_queries()
    );
}
