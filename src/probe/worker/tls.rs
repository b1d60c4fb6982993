//! TLS on a check's connection: the `Tls` state pumps the rustls session over the
//! non-blocking stream until the handshake is done. A `tls` check ends there, with the
//! certificate's expiry judged; an https check then sends its request through the session and
//! reads the response into the same judge as plain HTTP (`io::read_judged`).

use std::io::{Read, Write};
use std::time::SystemTime;

use mio::net::TcpStream;
use rustls::ClientConnection;

use super::Worker;
use super::state::{Bufs, Conn, NO_CERT, Step};
use super::stream::{ReadEnd, read_judged};
use crate::probe::tls::{Pumped, flush, not_after, pump, seconds_until};
use crate::store::{MonitorId, ProbeKind, ProbeSpec};
use crate::vocab::Reason;

/// A TLS session on a connected stream.
pub(super) struct Tls<S = TcpStream> {
    pub(super) conn: Conn<S>,
    pub(super) session: ClientConnection,
    /// The HTTP request has been handed to the session (the handshake is behind us).
    pub(super) request_sent: bool,
    /// The leaf certificate's notAfter (Unix seconds), read once per session: `None` before
    /// the handshake ends, `Some(None)` when there is no leaf or it does not parse.
    pub(super) not_after: Option<Option<i64>>,
}

impl<S: Read + Write> Tls<S> {
    /// A session starting its handshake on `conn`.
    pub(super) fn handshake(conn: Conn<S>, session: ClientConnection) -> Tls<S> {
        Tls {
            conn,
            session,
            request_sent: false,
            not_after: None,
        }
    }

    /// A kept-alive session takes the next check: the expiry rule again (at `now`), then the
    /// request goes out. Nothing is read: the idle socket had nothing to read, and the
    /// response comes with an event of its own.
    pub(super) fn reuse(
        &mut self,
        kind: ProbeKind,
        spec: &ProbeSpec,
        request: &[u8],
        now: SystemTime,
        cert_days: &mut i32,
    ) -> Step {
        self.request_sent = false;
        if let Some(end) = self.judge_certificate(kind, spec, now, cert_days) {
            return end;
        }
        self.send_request(request).unwrap_or(Step::Wait)
    }

    /// Moves the session along on a socket event: handshake, the expiry rule (`cert_days` is
    /// set from the leaf certificate, at `now`), then for https the request and the response.
    pub(super) fn advance(
        &mut self,
        kind: ProbeKind,
        spec: &ProbeSpec,
        bufs: &mut Bufs,
        scratch: &mut [u8],
        now: SystemTime,
        cert_days: &mut i32,
    ) -> Step {
        loop {
            let pumped = match pump(&mut self.session, &mut self.conn.io) {
                Ok(p) => p,
                Err((r, _)) => return Step::Attempt(r, bufs.exchange.status()),
            };
            if self.session.is_handshaking() {
                return match pumped {
                    Pumped::Eof => Step::Attempt(Reason::Tls, 0),
                    Pumped::Idle | Pumped::Held => Step::Wait,
                };
            }
            if !self.request_sent {
                if let Some(end) = self.judge_certificate(kind, spec, now, cert_days) {
                    return end;
                }
                if let Some(end) = self.send_request(&bufs.wbuf) {
                    return end;
                }
            }
            let ProbeSpec::Http(probe) = spec else {
                return Step::Final(Reason::Protocol, 0);
            };
            let ended = match read_judged(&mut self.session.reader(), scratch, bufs, probe) {
                ReadEnd::Verdict((r, s)) => return Step::Response(r, s),
                ReadEnd::WouldBlock => pumped == Pumped::Eof,
                // An error here is the peer closing without close_notify: judge what arrived.
                ReadEnd::Eof | ReadEnd::Error(_) => true,
            };
            if ended {
                let (r, s) = bufs.exchange.eof();
                return Step::Response(r, s);
            }
            // The plaintext rustls held is read: the socket may hold more.
            if pumped != Pumped::Held || !self.session.wants_read() {
                return Step::Wait;
            }
        }
    }

    /// The handshake is done: reads the leaf's days to expiry and applies the expiry rule. A
    /// `tls` check ends here.
    fn judge_certificate(
        &mut self,
        kind: ProbeKind,
        spec: &ProbeSpec,
        now: SystemTime,
        cert_days: &mut i32,
    ) -> Option<Step> {
        let session = &self.session;
        let not_after = *self.not_after.get_or_insert_with(|| {
            let leaf = session.peer_certificates().and_then(|certs| certs.first());
            leaf.and_then(|leaf| not_after(leaf.as_ref()))
        });
        let left = not_after.and_then(|t| seconds_until(t, now));
        *cert_days = left.map_or(NO_CERT, |s| {
            s.div_euclid(86_400).clamp(-100_000, 100_000) as i32
        });
        let warn = spec.tls().map_or(0, |t| t.warn_secs);
        if warn > 0 && left.is_none_or(|s| s < warn as i64) {
            return Some(Step::Final(Reason::CertExpiring, 0));
        }
        (kind == ProbeKind::TLS).then_some(Step::Final(Reason::Ok, 0))
    }

    /// Hands the rendered request to the session and writes out what it can.
    fn send_request(&mut self, request: &[u8]) -> Option<Step> {
        self.request_sent = true;
        if self.session.writer().write_all(request).is_err() {
            return Some(Step::Attempt(Reason::Tls, 0));
        }
        match flush(&mut self.session, &mut self.conn.io) {
            Ok(Pumped::Idle | Pumped::Held) => None,
            Ok(Pumped::Eof) => Some(Step::Attempt(Reason::Reset, 0)),
            Err((r, _)) => Some(Step::Attempt(r, 0)),
        }
    }
}

impl Worker {
    /// A new client session for the check in `slot`: the redirect's host or the configured
    /// server name, verified unless `insecure_skip_verify`. `None` when TLS is not configured
    /// or the name is not one.
    pub(super) fn tls_session(&self, slot: u32) -> Option<ClientConnection> {
        let c = &self.slots[slot as usize];
        let spec = self.catalog.spec(MonitorId(c.req.monitor));
        let insecure = match spec {
            ProbeSpec::Http(h) => h.tls.as_ref().is_some_and(|t| t.insecure),
            ProbeSpec::Tls(t) => t.insecure,
            ProbeSpec::Tcp { .. } | ProbeSpec::Icmp { .. } | ProbeSpec::Dns(_) => false,
        };
        let name = match (&c.redirect, spec.tls()) {
            (Some(r), _) => r.host.as_str(),
            (None, Some(opts)) => &opts.server_name,
            (None, None) => return None,
        };
        self.tls.as_ref()?.connect(name, insecure).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::ServerConnection;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::super::http::tests::{bufs_for, probe};
    use super::super::stream::pipe::Pipe;
    use super::*;
    use crate::probe::tls::TlsConfigs;
    use crate::store::{HttpProbe, TlsOpts};

    /// A rustls server on the other end of an in-memory stream, with a certificate valid for
    /// `days` more days.
    fn server(days: i64) -> ServerConnection {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["t.example".into()]).expect("params");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        let cert = params.self_signed(&key).expect("cert");
        let der = CertificateDer::from(cert.der().to_vec());
        let pk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], pk)
        .expect("server config");
        ServerConnection::new(Arc::new(cfg)).expect("server")
    }

    fn client() -> Tls<Pipe> {
        let cfgs = TlsConfigs::load(None).expect("tls configs");
        let session = cfgs.connect("t.example", true).expect("session");
        Tls::handshake(Conn::new(Pipe::open(), mio::Token(0), None), session)
    }

    fn spec(kind: ProbeKind, warn_secs: u64) -> ProbeSpec {
        let tls = TlsOpts {
            server_name: "t.example".into(),
            insecure: true,
            warn_secs,
        };
        if kind == ProbeKind::TLS {
            return ProbeSpec::Tls(tls);
        }
        ProbeSpec::Http(HttpProbe {
            tls: Some(tls),
            ..probe()
        })
    }

    /// Runs client and server against each other until the client decides; the server answers
    /// an HTTP request with `response`.
    fn converse(kind: ProbeKind, warn_secs: u64, days: i64, response: &[u8]) -> (Step, i32) {
        let spec = spec(kind, warn_secs);
        let mut bufs = bufs_for(&probe(), false);
        let mut cert_days = NO_CERT;
        let (mut cli, mut srv) = (client(), server(days));
        let step = exchange(
            &mut cli,
            &mut srv,
            &spec,
            kind,
            &mut bufs,
            &mut cert_days,
            response,
        );
        (step, cert_days)
    }

    fn exchange(
        cli: &mut Tls<Pipe>,
        srv: &mut ServerConnection,
        spec: &ProbeSpec,
        kind: ProbeKind,
        bufs: &mut Bufs,
        cert_days: &mut i32,
        response: &[u8],
    ) -> Step {
        let mut scratch = [0u8; 256];
        let mut answered = false;
        for _ in 0..50 {
            let now = SystemTime::now();
            let step = cli.advance(kind, spec, bufs, &mut scratch, now, cert_days);
            if step != Step::Wait {
                return step;
            }
            if shuttle(cli, srv) && !answered {
                srv.writer().write_all(response).expect("server writes");
                answered = true;
                shuttle(cli, srv);
            }
        }
        panic!("no decision after 50 rounds");
    }

    /// Moves bytes both ways; true when the server has read a whole HTTP request head.
    fn shuttle(cli: &mut Tls<Pipe>, srv: &mut ServerConnection) -> bool {
        let sent = std::mem::take(&mut cli.conn.io.out);
        srv.read_tls(&mut &sent[..]).expect("server reads");
        srv.process_new_packets().expect("server processes");
        let mut req = Vec::new();
        let _ = srv.reader().read_to_end(&mut req);
        let mut back = Vec::new();
        while srv.wants_write() {
            srv.write_tls(&mut back).expect("server sends");
        }
        cli.conn.io.feed(&back);
        req.ends_with(b"\r\n\r\n")
    }

    #[test]
    fn a_kept_alive_session_sends_the_next_request_at_once() {
        let spec = spec(ProbeKind::HTTPS, 0);
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut bufs = bufs_for(&probe(), true);
        let mut days = NO_CERT;
        let (mut cli, mut srv) = (client(), server(40));
        let first = exchange(
            &mut cli,
            &mut srv,
            &spec,
            ProbeKind::HTTPS,
            &mut bufs,
            &mut days,
            ok,
        );
        assert_eq!(first, Step::Response(Reason::Ok, 200));
        assert!(bufs.exchange.reusable());
        // The next check on the same session: the request is written, nothing is read.
        bufs.exchange.reset_for(true);
        bufs.rbuf.clear();
        days = NO_CERT;
        cli.conn.io.fail = Some(std::io::ErrorKind::ConnectionReset); // a read would see this
        let step = cli.reuse(
            ProbeKind::HTTPS,
            &spec,
            &bufs.wbuf,
            SystemTime::now(),
            &mut days,
        );
        assert_eq!(step, Step::Wait);
        assert!(
            (38..=40).contains(&days),
            "the expiry rule ran again: {days}"
        );
        assert!(!cli.conn.io.out.is_empty(), "the request went out");
        cli.conn.io.fail = None;
        assert!(
            shuttle(&mut cli, &mut srv),
            "the server read the second request"
        );
        srv.writer().write_all(ok).expect("server writes");
        shuttle(&mut cli, &mut srv);
        let step = https_step(&mut cli, &spec, &mut bufs, &mut days);
        assert_eq!(step, Step::Response(Reason::Ok, 200));
    }

    #[test]
    fn a_tls_check_ends_at_the_handshake_with_the_days_left() {
        let (step, days) = converse(ProbeKind::TLS, 0, 40, b"");
        assert_eq!(step, Step::Final(Reason::Ok, 0));
        assert!((38..=40).contains(&days), "days left {days}");
    }

    #[test]
    fn a_certificate_closer_to_expiry_than_the_warning_ends_the_check() {
        let (step, days) = converse(ProbeKind::TLS, 30 * 86_400, 5, b"");
        assert_eq!(step, Step::Final(Reason::CertExpiring, 0));
        assert!((3..=5).contains(&days), "days left {days}");
    }

    #[test]
    fn an_https_check_sends_its_request_through_the_session() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (step, _) = converse(ProbeKind::HTTPS, 0, 40, ok);
        assert_eq!(step, Step::Response(Reason::Ok, 200));
    }

    /// One `advance` of an https check, now.
    fn https_step(cli: &mut Tls<Pipe>, spec: &ProbeSpec, bufs: &mut Bufs, days: &mut i32) -> Step {
        let now = SystemTime::now();
        cli.advance(ProbeKind::HTTPS, spec, bufs, &mut [0u8; 256], now, days)
    }

    #[test]
    fn a_body_larger_than_one_read_is_read_on_one_event() {
        // Everything the server sends is in the socket at once, and no further event comes
        // for it: one `advance` must read it all (keep-alive reads the body to its end).
        let spec = spec(ProbeKind::HTTPS, 0);
        let body = vec![b'x'; 40_000];
        let mut response =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        response.extend_from_slice(&body);
        let mut bufs = bufs_for(&probe(), true);
        let mut days = NO_CERT;
        let (mut cli, mut srv) = (client(), server(40));
        for _ in 0..10 {
            let step = https_step(&mut cli, &spec, &mut bufs, &mut days);
            assert_eq!(step, Step::Wait);
            if shuttle(&mut cli, &mut srv) {
                srv.writer().write_all(&response).expect("server writes");
                shuttle(&mut cli, &mut srv);
                break;
            }
        }
        assert!(
            cli.conn.io.input.len() > 20_000,
            "the whole response is waiting"
        );
        let step = https_step(&mut cli, &spec, &mut bufs, &mut days);
        assert_eq!(step, Step::Response(Reason::Ok, 200));
        assert!(bufs.exchange.reusable(), "read to its end");
    }

    /// The client's first step of a `kind` check on a stream `prepare` sets up.
    fn first_step(kind: ProbeKind, prepare: impl FnOnce(&mut Pipe)) -> (Step, i32) {
        let mut cli = client();
        prepare(&mut cli.conn.io);
        let mut bufs = bufs_for(&probe(), false);
        let mut days = NO_CERT;
        let spec = spec(kind, 0);
        let now = SystemTime::now();
        let step = cli.advance(kind, &spec, &mut bufs, &mut [0u8; 64], now, &mut days);
        (step, days)
    }

    #[test]
    fn garbage_instead_of_a_handshake_fails_the_attempt_as_tls() {
        let (step, days) = first_step(ProbeKind::HTTPS, |io| {
            io.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        assert_eq!(step, Step::Attempt(Reason::Tls, 0));
        assert_eq!(days, NO_CERT);
    }

    #[test]
    fn the_peer_closing_during_the_handshake_fails_the_attempt_as_tls() {
        let (step, _) = first_step(ProbeKind::TLS, |io| io.eof = true);
        assert_eq!(step, Step::Attempt(Reason::Tls, 0));
    }

    #[test]
    fn a_handshake_under_way_waits() {
        let (step, days) = first_step(ProbeKind::TLS, |_| {});
        assert_eq!(step, Step::Wait);
        assert_eq!(days, NO_CERT);
    }
}
