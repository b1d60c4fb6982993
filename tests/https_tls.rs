//! HTTPS and TLS checks against real rustls servers on loopback with a test CA: valid, wrong
//! name, expired, expiring soon (with and without `cert_expiry_warning`), self-signed with and
//! without `insecure_skip_verify`, and the handshake-only `tls` type.

#[path = "support/run.rs"]
mod run;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::time::Duration;

use cpra::config::model::*;
use cpra::engine::MonitorStatus;
use cpra::probe::reason::Reason;
use tls_server::{TestPki, TlsServer};

fn https(i: usize, name: &str, host: &str, port: u16) -> MonitorSpec {
    MonitorSpec {
        index: i,
        line: 0,
        name: name.into(),
        enabled: true,
        pulse: PulseSpec {
            interval: Duration::from_millis(400),
            timeout: Duration::from_millis(350),
            unhealthy_threshold: 1,
            healthy_threshold: None,
            kind: PulseKind::Http(HttpPulse {
                url: HttpUrl {
                    scheme: Scheme::Https,
                    host: host.into(),
                    port,
                    path: "/health".into(),
                },
                method: "GET".into(),
                headers: vec![],
                body: None,
                retries: 0,
                expected_status: vec![],
                body_contains: Some("\"status\":\"ok\"".into()),
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

fn set(mut s: MonitorSpec, f: impl FnOnce(&mut HttpPulse)) -> MonitorSpec {
    if let PulseKind::Http(h) = &mut s.pulse.kind {
        f(h);
    }
    s
}

fn run(specs: Vec<MonitorSpec>, ca_file: &std::path::Path) -> Vec<(String, MonitorStatus)> {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let ca = ca_file.to_path_buf();
    let e = run::run_engine(
        specs,
        2,
        |cfg| cfg.ca_file = Some(ca),
        Duration::from_millis(1500),
    );
    names
        .into_iter()
        .map(|n| {
            let s = e.status_of(&n).unwrap();
            (n, s)
        })
        .collect()
}

#[test]
fn https_and_tls_verdicts() {
    let pki = TestPki::new();
    let dir = std::env::temp_dir().join(format!("cpra-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();

    let valid = TlsServer::start(pki.leaf("localhost", 365));
    let expiring = TlsServer::start(pki.leaf("localhost", 5));
    let expired = TlsServer::start(pki.leaf("localhost", -2));
    let wrong = TlsServer::start(pki.leaf("other.example", 365));
    let selfsigned = TlsServer::start(TestPki::self_signed("localhost"));

    let tls_check = |i: usize, name: &str, port: u16, server_name: Option<&str>| MonitorSpec {
        pulse: PulseSpec {
            kind: PulseKind::Tls(TlsPulse {
                host: "127.0.0.1".into(),
                port,
                server_name: server_name.map(Into::into),
                insecure_skip_verify: false,
                cert_expiry_warning: Some(Duration::from_secs(14 * 86_400)),
            }),
            ..https(i, name, "x", 0).pulse
        },
        ..https(i, name, "x", 0)
    };
    let specs = vec![
        https(0, "valid", "localhost", valid.addr.port()),
        set(
            https(1, "expiring-warned", "localhost", expiring.addr.port()),
            |h| h.cert_expiry_warning = Some(Duration::from_secs(14 * 86_400)),
        ),
        https(2, "expiring-unwarned", "localhost", expiring.addr.port()),
        https(3, "expired", "localhost", expired.addr.port()),
        https(4, "wrong-name", "localhost", wrong.addr.port()),
        https(5, "self-signed", "localhost", selfsigned.addr.port()),
        set(
            https(6, "self-signed-skip", "localhost", selfsigned.addr.port()),
            |h| h.insecure_skip_verify = true,
        ),
        tls_check(7, "tls-valid", valid.addr.port(), Some("localhost")),
        tls_check(8, "tls-expiring", expiring.addr.port(), Some("localhost")),
        tls_check(9, "tls-wrong-sni", valid.addr.port(), Some("nope.example")),
    ];
    let got = run(specs, &ca);
    let find = |n: &str| got.iter().find(|(k, _)| k == n).unwrap().1;
    let expect = [
        ("valid", Reason::Ok),
        ("expiring-warned", Reason::CertExpiring),
        ("expiring-unwarned", Reason::Ok),
        ("expired", Reason::Tls),
        ("wrong-name", Reason::Tls),
        ("self-signed", Reason::Tls),
        ("self-signed-skip", Reason::Ok),
        ("tls-valid", Reason::Ok),
        ("tls-expiring", Reason::CertExpiring),
        ("tls-wrong-sni", Reason::Tls),
    ];
    for (name, reason) in expect {
        let s = find(name);
        assert!(s.checks >= 2, "{name}: {s:?}");
        assert_eq!(s.last_reason, reason, "{name}: {s:?}");
    }
    // Days to expiry are recorded with the results.
    let d = find("valid").cert_days.unwrap();
    assert!((364..=365).contains(&d), "{d}");
    assert_eq!(find("expiring-unwarned").cert_days, Some(5));
    assert_eq!(find("valid").last_status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
