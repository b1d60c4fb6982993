//! DNS checks: the query sent from a fresh connected UDP socket, replies judged by
//! `probe::dns::DnsCheck`, and the same query over TCP when a reply is truncated.

use super::*;

impl Worker {
    /// Starts a DNS check: the query over UDP from a fresh, connected socket.
    pub(super) fn begin_dns_udp(&mut self, slot: u32, server: SocketAddr) {
        let catalog = self.catalog.clone();
        let now = self.now_us();
        let c = &mut self.conns[slot as usize];
        let ProbeSpec::Dns(pulse) = catalog.spec(MonitorId(c.req.monitor)) else {
            self.finish(slot, Reason::Protocol, 0);
            return;
        };
        // A query id nobody can predict from outside: time, slot and sequence mixed.
        let id = (crate::vocab::mix64(now ^ (u64::from(slot) << 40) ^ u64::from(c.check_seq))
            & 0xffff) as u16;
        match DnsCheck::new(pulse, id) {
            Ok(d) => c.dns = Some(d),
            Err(_) => {
                self.finish(slot, Reason::Protocol, 0);
                return;
            }
        }
        let bind: SocketAddr = if server.is_ipv6() {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
        };
        let sock = mio::net::UdpSocket::bind(bind).and_then(|s| s.connect(server).map(|()| s));
        let mut sock = match sock {
            Ok(s) => s,
            Err(e) => {
                let r = io_reason(&e);
                self.fail(slot, r, 0);
                return;
            }
        };
        c.sock_seq = c.sock_seq.wrapping_add(1);
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut sock, token(slot, c.sock_seq), Interest::READABLE)
        {
            let r = io_reason(&e);
            self.fail(slot, r, 0);
            return;
        }
        c.wbuf.clear();
        if let Some(d) = c.dns.as_ref() {
            d.query_udp(&mut c.wbuf);
        }
        if let Err(e) = sock.send(&c.wbuf) {
            let r = io_reason(&e);
            self.fail(slot, r, 0);
            return;
        }
        c.udp = Some(sock);
        c.phase = Phase::DnsUdp;
    }

    pub(super) fn dns_step(&mut self, slot: u32, step: DnsStep) -> bool {
        match step {
            DnsStep::Wait => false,
            DnsStep::RetryOverTcp => {
                let c = &mut self.conns[slot as usize];
                c.udp = None;
                c.force_fresh = true; // begin_attempt opens TCP instead of UDP
                c.attempts = c.attempts.saturating_sub(1);
                self.begin_attempt(slot);
                true
            }
            DnsStep::Done(reason, _detail) => {
                if reason == Reason::Ok {
                    self.finish(slot, reason, 0);
                } else {
                    self.fail(slot, reason, 0);
                }
                true
            }
        }
    }

    pub(super) fn read_dns_udp(&mut self, slot: u32) {
        loop {
            let c = &mut self.conns[slot as usize];
            let (Some(sock), Some(check)) = (c.udp.as_ref(), c.dns.as_mut()) else {
                return;
            };
            if self.dns_buf.len() < DNS_UDP_REPLY_BYTES_MAX {
                self.dns_buf.resize(DNS_UDP_REPLY_BYTES_MAX, 0);
            }
            let step = match sock.recv(&mut self.dns_buf[..]) {
                Ok(n) => check.on_udp_reply(&self.dns_buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable comes back as ECONNREFUSED on a connected socket.
                Err(e) => DnsStep::Done(io_reason(&e), String::new()),
            };
            if self.dns_step(slot, step) {
                return;
            }
        }
    }

    pub(super) fn read_dns_tcp(&mut self, slot: u32) {
        loop {
            let c = &mut self.conns[slot as usize];
            let (Some(stream), Some(check)) = (c.stream.as_mut(), c.dns.as_mut()) else {
                return;
            };
            let step = match stream.read(&mut self.scratch[..]) {
                Ok(0) => check.on_tcp_eof(),
                Ok(n) => check.on_tcp_bytes(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => DnsStep::Done(io_reason(&e), String::new()),
            };
            if self.dns_step(slot, step) {
                return;
            }
        }
    }
}
