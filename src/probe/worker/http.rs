//! HTTP on a check's connection: writing the rendered request, reading and judging the
//! response (the I/O-free judge is `probe::http::Exchange`).

use super::*;

/// Feeds response bytes (plaintext) to the judge: into the head buffer until the head is
/// complete (bounded), straight to the body after that. (Fields of a `Conn`, passed apart so
/// the TLS path can feed while its session is borrowed.)
pub(super) fn feed_response(
    rbuf: &mut Vec<u8>,
    exchange: &mut Exchange,
    data: &[u8],
    probe: &HttpProbe,
) -> Option<crate::probe::http::Verdict> {
    if exchange.head_done() {
        return exchange.feed_body(data, probe);
    }
    let room = (RESPONSE_HEADER_BYTES_MAX + 1).saturating_sub(rbuf.len());
    rbuf.extend_from_slice(&data[..data.len().min(room)]);
    let off = exchange.head_offset().min(rbuf.len());
    exchange.feed_head(&rbuf[off..], probe)
}

impl Conn {
    /// The HTTP status read so far (0 before a status line).
    pub(super) fn exchange_status(&self) -> u16 {
        self.exchange.status()
    }
}

impl Worker {
    pub(super) fn write_request(&mut self, slot: u32) {
        let c = &mut self.conns[slot as usize];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        while c.wpos < c.wbuf.len() {
            match stream.write(&c.wbuf[c.wpos..]) {
                Ok(0) => {
                    self.fail(slot, Reason::Reset, 0);
                    return;
                }
                Ok(n) => c.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let r = io_reason(&e);
                    self.fail(slot, r, 0);
                    return;
                }
            }
        }
        c.phase = Phase::Reading;
        // The response may already be waiting (edge-triggered: no new event would come).
        self.read_response(slot);
    }

    pub(super) fn read_response(&mut self, slot: u32) {
        if self.conns[slot as usize].kind == ProbeKind::DNS {
            self.read_dns_tcp(slot);
            return;
        }
        let catalog = self.catalog.clone();
        let c = &mut self.conns[slot as usize];
        let m = MonitorId(c.req.monitor);
        let ProbeSpec::Http(probe) = catalog.spec(m) else {
            self.finish(slot, Reason::Protocol, 0);
            return;
        };
        loop {
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            match stream.read(&mut self.scratch[..]) {
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let (r, status) = (io_reason(&e), c.exchange_status());
                    self.fail(slot, r, status);
                    return;
                }
            }
        }
    }
}
