//! The DNS check against a real responder on loopback: UDP, the TCP retry after truncation,
//! forged replies, garbage and silence, with checks built from configuration text.
//!
//! The driver here is a blocking stand-in for the probe worker: it sends `query_udp`, feeds
//! datagrams to `on_udp_reply`, and on `RetryOverTcp` sends `query_tcp` and feeds the stream
//! to `on_tcp_bytes` until a verdict.

#[path = "support/dns_server.rs"]
mod dns_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use cpra::config::model::{DnsPulse, DnsRecordType, PulseKind};
use cpra::config::{Format, LoadOptions, load_bytes};
use cpra::probe::dns::{DnsCheck, DnsStep};
use cpra::probe::reason::Reason;
use dns_server::{Answer, DnsServer, Record};

const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, PartialEq)]
struct Outcome {
    reason: Reason,
    detail: String,
    over_tcp: bool,
}

/// Runs one check against `server` the way the worker does, with a deadline.
fn run(check: &mut DnsCheck, server: SocketAddr, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let done = |reason, detail, over_tcp| Outcome {
        reason,
        detail,
        over_tcp,
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server).unwrap();
    let mut query = Vec::new();
    check.query_udp(&mut query);
    sock.send(&query).unwrap();
    let mut buf = vec![0u8; 65535];
    loop {
        if left().is_zero() {
            return done(Reason::Timeout, String::new(), false);
        }
        sock.set_read_timeout(Some(left())).unwrap();
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => return done(Reason::Timeout, String::new(), false),
        };
        match check.on_udp_reply(&buf[..n]) {
            DnsStep::Wait => continue,
            DnsStep::RetryOverTcp => break,
            DnsStep::Done(r, d) => return done(r, d, false),
        }
    }
    let mut stream = TcpStream::connect_timeout(&server, left()).unwrap();
    let mut query = Vec::new();
    check.query_tcp(&mut query);
    stream.write_all(&query).unwrap();
    loop {
        if left().is_zero() {
            return done(Reason::Timeout, String::new(), true);
        }
        stream.set_read_timeout(Some(left())).unwrap();
        // Small reads, so that replies arrive in pieces.
        let n = match stream.read(&mut buf[..7]) {
            Ok(n) => n,
            Err(_) => return done(Reason::Timeout, String::new(), true),
        };
        let step = if n == 0 {
            check.on_tcp_eof()
        } else {
            check.on_tcp_bytes(&buf[..n])
        };
        match step {
            DnsStep::Wait => continue,
            DnsStep::RetryOverTcp => unreachable!("no TCP retry over TCP"),
            DnsStep::Done(r, d) => return done(r, d, true),
        }
    }
}

fn pulse(query: &str, t: DnsRecordType, expected: Option<&str>) -> DnsPulse {
    DnsPulse {
        server: None,
        query: query.into(),
        record_type: t,
        expected_rcode: "NOERROR".into(),
        expected_answer: expected.map(Into::into),
    }
}

fn check(p: &DnsPulse, server: &DnsServer) -> Outcome {
    let mut c = DnsCheck::new(p, 0x4242).unwrap();
    run(&mut c, server.addr, TIMEOUT)
}

fn ok(over_tcp: bool) -> Outcome {
    Outcome {
        reason: Reason::Ok,
        detail: String::new(),
        over_tcp,
    }
}

fn failed(reason: Reason, detail: &str) -> Outcome {
    Outcome {
        reason,
        detail: detail.into(),
        over_tcp: false,
    }
}

#[test]
fn answers_of_every_type() {
    let server = DnsServer::start(vec![
        ("a.example.test", Answer::a("10.0.0.1")),
        ("v6.example.test", Answer::aaaa("2001:db8::1")),
        ("alias.example.test", Answer::cname("a.example.test")),
        ("example.test", {
            Answer::Records(vec![
                Record::Mx(10, "mx1.example.test".into()),
                Record::Mx(20, "mx2.example.test".into()),
                Record::Txt(vec!["v=spf1 ".into(), "-all".into()]),
                Record::Ns("ns1.example.test".into()),
                Record::Soa {
                    mname: "ns1.example.test".into(),
                    rname: "hostmaster.example.test".into(),
                    serial: 7,
                },
            ])
        }),
    ]);
    use DnsRecordType::*;
    for (q, t, expected) in [
        ("a.example.test", A, Some("10.0.0.1")),
        ("A.Example.Test.", A, Some("10.0.0.1")),
        ("a.example.test", A, None),
        ("v6.example.test", Aaaa, Some("2001:DB8:0::1")),
        ("alias.example.test", Cname, Some("a.example.test.")),
        ("example.test", Mx, Some("20 mx2.example.test")),
        ("example.test", Mx, Some("mx1.example.test")),
        ("example.test", Txt, Some("v=spf1 -all")),
        ("example.test", Ns, Some("NS1.example.test")),
        (
            "example.test",
            Soa,
            Some("ns1.example.test hostmaster.example.test 7"),
        ),
        // NODATA without an expected answer is a valid answer.
        ("a.example.test", Mx, None),
    ] {
        assert_eq!(
            check(&pulse(q, t, expected), &server),
            ok(false),
            "{q} {t:?}"
        );
    }
    assert_eq!(
        check(&pulse("a.example.test", A, Some("10.0.0.2")), &server),
        failed(Reason::Dns, "answer 10.0.0.1 != expected 10.0.0.2")
    );
    assert_eq!(
        check(
            &pulse("a.example.test", Mx, Some("mx.example.test")),
            &server
        ),
        failed(Reason::Dns, "no MX answer, expected mx.example.test")
    );
}

#[test]
fn rcodes_are_judged_against_expected_rcode() {
    let server = DnsServer::start(vec![
        ("gone.example.test", Answer::nxdomain()),
        ("broken.example.test", Answer::Rcode(2)),
    ]);
    let p = pulse("gone.example.test", DnsRecordType::A, None);
    assert_eq!(check(&p, &server), failed(Reason::Dns, "rcode NXDOMAIN"));
    // A name the server does not know is NXDOMAIN too.
    let p = pulse("unknown.example.test", DnsRecordType::A, None);
    assert_eq!(check(&p, &server), failed(Reason::Dns, "rcode NXDOMAIN"));
    let mut p = pulse("gone.example.test", DnsRecordType::A, None);
    p.expected_rcode = "NXDOMAIN".into();
    assert_eq!(check(&p, &server), ok(false));
    let p = pulse("broken.example.test", DnsRecordType::A, None);
    assert_eq!(check(&p, &server), failed(Reason::Dns, "rcode SERVFAIL"));
}

#[test]
fn truncated_udp_reply_is_asked_again_over_tcp() {
    let long = "x".repeat(200);
    let server = DnsServer::start(vec![(
        "big.example.test",
        Answer::Truncated(vec![
            Record::Txt(vec![long.clone(), long.clone()]),
            Record::Txt(vec!["wanted".into()]),
        ]),
    )]);
    let p = pulse("big.example.test", DnsRecordType::Txt, Some("wanted"));
    assert_eq!(check(&p, &server), ok(true));
    assert_eq!(server.udp_queries(), 1);
    assert_eq!(server.tcp_queries(), 1);
    let p = pulse("big.example.test", DnsRecordType::Txt, Some("other"));
    let out = check(&p, &server);
    assert_eq!((out.reason, out.over_tcp), (Reason::Dns, true));
    assert!(out.detail.starts_with("answers \"xxx"), "{}", out.detail);
    assert!(out.detail.len() <= cpra::limits::DNS_DETAIL_BYTES_MAX);
}

#[test]
fn forged_reply_is_ignored() {
    let server = DnsServer::start(vec![(
        "a.example.test",
        Answer::SpoofFirst(vec![Record::A("10.0.0.1".parse().unwrap())]),
    )]);
    let p = pulse("a.example.test", DnsRecordType::A, Some("10.0.0.1"));
    assert_eq!(check(&p, &server), ok(false));
}

#[test]
fn garbage_and_silence() {
    let server = DnsServer::start(vec![
        (
            "garbage.example.test",
            Answer::Garbage(b"\x00\x01not dns".to_vec()),
        ),
        ("silent.example.test", Answer::Silent),
    ]);
    let p = pulse("garbage.example.test", DnsRecordType::A, None);
    let out = check(&p, &server);
    assert_eq!(out.reason, Reason::Protocol, "{out:?}");
    assert!(out.detail.starts_with("malformed reply"), "{out:?}");

    let p = pulse("silent.example.test", DnsRecordType::A, None);
    let mut c = DnsCheck::new(&p, 7).unwrap();
    let started = Instant::now();
    let out = run(&mut c, server.addr, Duration::from_millis(300));
    assert_eq!(out.reason, Reason::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn checks_built_from_configuration_text() {
    let server = DnsServer::start(vec![
        ("www.example.test", Answer::a("192.0.2.10")),
        ("gone.example.test", Answer::nxdomain()),
    ]);
    let yaml = format!(
        r#"monitors:
  - name: dns-a
    pulse_check:
      type: dns
      interval: 30s
      timeout: 5s
      config:
        server: "{addr}"
        query: www.example.test
        record_type: a
        expected_answer: 192.0.2.10
  - name: dns-nx
    pulse_check:
      type: dns
      interval: 30s
      timeout: 5s
      config:
        server: "{addr}"
        query: gone.example.test
        expected_rcode: nxdomain
"#,
        addr = server.addr
    );
    let opts = LoadOptions {
        allow_unsupported: true,
        ..LoadOptions::default()
    };
    let mut pulses = Vec::new();
    load_bytes(yaml.as_bytes(), Format::Yaml, &opts, &mut |m| {
        if let PulseKind::Dns(d) = m.pulse.kind {
            pulses.push(d)
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pulses.len(), 2);
    for p in &pulses {
        let addr = cpra::probe::dns::server_addr(p).unwrap();
        assert_eq!(addr, server.addr);
        let mut c = DnsCheck::new(p, 99).unwrap();
        assert_eq!(run(&mut c, addr, TIMEOUT), ok(false), "{p:?}");
    }
}
