//! TLS on a check's connection: the rustls session pumped over the non-blocking socket until
//! the handshake is done (a `tls` check ends there; https sends its request through it).

use super::*;

impl Worker {
    /// Moves an https or tls check along: handshake, expiry rule, then for https the request
    /// and the response through the session. Called on every socket event in `Phase::Tls`.
    pub(super) fn drive_tls(&mut self, slot: u32) {
        let catalog = self.catalog.clone();
        let c = &mut self.conns[slot as usize];
        let m = MonitorId(c.req.monitor);
        let spec = catalog.spec(m);
        let (Some(stream), Some(session)) = (c.stream.as_mut(), c.tls.as_mut()) else {
            return;
        };
        let pumped = match crate::probe::tls::pump(session, stream) {
            Ok(p) => p,
            Err((r, _)) => {
                let status = c.exchange_status();
                self.fail(slot, r, status);
                return;
            }
        };
        if session.is_handshaking() {
            if pumped == crate::probe::tls::Pumped::Eof {
                self.fail(slot, Reason::Tls, 0);
            }
            return;
        }
        if !c.tls_request_sent {
            // Handshake done: the expiry rule first.
            let now = std::time::SystemTime::now();
            let left = session
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| crate::probe::tls::seconds_left(leaf.as_ref(), now));
            c.cert_days = left.map_or(NO_CERT, |s| {
                s.div_euclid(86_400).clamp(-100_000, 100_000) as i32
            });
            let warn = spec.tls().map_or(0, |t| t.warn_secs);
            if warn > 0 && left.is_none_or(|s| s < warn as i64) {
                self.finish(slot, Reason::CertExpiring, 0);
                return;
            }
            if c.kind == ProbeKind::TLS {
                self.finish(slot, Reason::Ok, 0);
                return;
            }
            c.tls_request_sent = true;
            if session.writer().write_all(&c.wbuf).is_err() {
                self.fail(slot, Reason::Tls, 0);
                return;
            }
            if let Err((r, _)) = crate::probe::tls::pump(session, stream) {
                self.fail(slot, r, 0);
                return;
            }
        }
        let ProbeSpec::Http(probe) = spec else {
            self.finish(slot, Reason::Protocol, 0);
            return;
        };
        // Plaintext available now.
        loop {
            match session.reader().read(&mut self.scratch[..]) {
                Ok(0) => {
                    let (r, s) = c.exchange.eof();
                    self.fail(slot, r, s);
                    return;
                }
                Ok(n) => {
                    let verdict =
                        feed_response(&mut c.rbuf, &mut c.exchange, &self.scratch[..n], probe);
                    if let Some((r, s)) = verdict {
                        self.verdict(slot, r, s);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The peer closed without close_notify: judge what arrived.
                    let (r, s) = c.exchange.eof();
                    self.fail(slot, r, s);
                    return;
                }
            }
        }
        if pumped == crate::probe::tls::Pumped::Eof {
            let (r, s) = c.exchange.eof();
            self.fail(slot, r, s);
        }
    }
}
