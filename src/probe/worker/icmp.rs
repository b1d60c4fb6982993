//! ICMP checks: echoes sent on the worker's shared socket per address family, spread over the
//! timeout, replies matched and loss counted (`probe::icmp`).

use super::*;

/// One shared ICMP socket of a worker, or why it could not be opened.
#[derive(Default)]
pub(super) enum IcmpSocket {
    #[default]
    Unopened,
    Open(Box<(socket2::Socket, Pinger)>),
    Failed(OpenError),
}

impl Worker {
    /// Starts an ICMP check towards `ip` on the worker's shared socket of that family.
    pub(super) fn begin_icmp(&mut self, slot: u32, ip: std::net::IpAddr) {
        let v6 = ip.is_ipv6();
        let fam = usize::from(v6);
        if matches!(self.icmp[fam], IcmpSocket::Unopened) {
            self.icmp[fam] = match crate::probe::icmp::open(v6) {
                Ok((sock, kind)) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
                    let tok = if v6 { ICMP6 } else { ICMP4 };
                    let reg = self.poll.registry().register(
                        &mut mio::unix::SourceFd(&fd),
                        tok,
                        Interest::READABLE,
                    );
                    match (reg, Pinger::for_socket(&sock, v6, kind, self.index)) {
                        (Ok(()), Ok(p)) => IcmpSocket::Open(Box::new((sock, p))),
                        (Err(e), _) | (_, Err(e)) => IcmpSocket::Failed(OpenError::Other(e)),
                    }
                }
                Err(e) => {
                    let (_, why) = crate::probe::icmp::open_failure_verdict(&e, false);
                    crate::say!("cpra: probe worker {}: {why}", self.index);
                    IcmpSocket::Failed(e)
                }
            };
        }
        let catalog = self.catalog.clone();
        let now_us = self.now_us();
        let c = &mut self.conns[slot as usize];
        let ProbeSpec::Icmp {
            count,
            retries,
            ignore_privilege,
        } = *catalog.spec(MonitorId(c.req.monitor))
        else {
            self.finish(slot, Reason::Protocol, 0);
            return;
        };
        if let IcmpSocket::Failed(e) = &self.icmp[fam] {
            let (reason, _) = crate::probe::icmp::open_failure_verdict(e, ignore_privilege);
            self.finish(slot, reason, 0);
            return;
        }
        let now = Instant::now();
        let timeout = Duration::from_micros(c.deadline_us.saturating_sub(now_us));
        match c.icmp.as_mut() {
            Some(k) => k.restart(count, retries, now, timeout),
            None => c.icmp = Some(IcmpCheck::new(count, retries, now, timeout)),
        }
        c.icmp_dest = Some(ip);
        self.icmp_step(slot);
    }

    /// Moves an ICMP check: sends what is due, sets the next step's timer, or ends it.
    pub(super) fn icmp_step(&mut self, slot: u32) {
        let epoch = self.epoch;
        loop {
            let c = &mut self.conns[slot as usize];
            if !c.active {
                return;
            }
            let (Some(check), Some(dest)) = (c.icmp.as_mut(), c.icmp_dest) else {
                return;
            };
            let now = Instant::now();
            match check.step(now) {
                IcmpStep::Send => {
                    let token = (u64::from(c.check_seq) << 32) | u64::from(slot);
                    let IcmpSocket::Open(b) = &mut self.icmp[usize::from(dest.is_ipv6())] else {
                        check.on_not_sent(Reason::Local);
                        continue;
                    };
                    let (sock, pinger) = &mut **b;
                    let mut pkt = std::mem::take(&mut self.icmp_buf);
                    pkt.clear();
                    match pinger.encode_echo(&mut pkt, token, dest, now) {
                        Some(seq) => match crate::probe::icmp::send_echo(sock, &pkt, dest) {
                            Ok(()) => check.on_sent(seq),
                            Err(e) => {
                                pinger.forget(seq);
                                check.on_not_sent(io_reason(&e));
                            }
                        },
                        None => check.on_not_sent(Reason::Local),
                    }
                    self.icmp_buf = pkt;
                }
                IcmpStep::WaitUntil(t) => {
                    let at_us = t.saturating_duration_since(epoch).as_micros() as u64;
                    let seq = c.check_seq;
                    self.timers
                        .push(Reverse((at_us, slot, seq, TimerKind::IcmpStep)));
                    return;
                }
                IcmpStep::Done => {
                    let (reason, loss, _) = check.verdict();
                    self.finish(slot, reason, u16::from(loss));
                    return;
                }
            }
        }
    }

    /// Echo replies on a shared ICMP socket: match each to its check.
    pub(super) fn on_icmp_readable(&mut self, v6: bool) {
        let mut buf = [0u8; 2048];
        loop {
            let IcmpSocket::Open(b) = &mut self.icmp[usize::from(v6)] else {
                return;
            };
            let (sock, pinger) = &mut **b;
            let (n, from) = match crate::probe::icmp::recv_packet(sock, &mut buf) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock (drained) or an error: wait for the next event
            };
            let Some(reply) = pinger.on_packet(&buf[..n], from, Instant::now()) else {
                continue;
            };
            let slot = (reply.token & 0xffff_ffff) as u32;
            let seq = (reply.token >> 32) as u32;
            let Some(c) = self.conns.get_mut(slot as usize) else {
                continue;
            };
            if !c.active || c.check_seq != seq || c.kind != ProbeKind::ICMP {
                continue;
            }
            if let Some(check) = c.icmp.as_mut() {
                check.on_reply(reply.seq, reply.rtt);
            }
            self.icmp_step(slot);
        }
    }
}
