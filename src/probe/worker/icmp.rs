//! ICMP checks: echoes sent on the worker's shared socket per address family, spread over the
//! timeout, replies matched and loss counted (`probe::icmp`).

use std::cmp::Reverse;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mio::Interest;

use super::state::{ConnState, Icmp};
use super::stream::io_reason;
use super::{ICMP4, ICMP6, TimerKind, Worker};
use crate::probe::icmp::{IcmpCheck, OpenError, Pinger, Step as IcmpStep};
use crate::store::{MonitorId, ProbeKind, ProbeSpec};
use crate::vocab::Reason;

/// One shared ICMP socket of a worker, or why it could not be opened.
#[derive(Default)]
pub(super) enum IcmpSocket {
    #[default]
    Unopened,
    Open(Box<(socket2::Socket, Pinger)>),
    Failed(OpenError),
}

/// The worker-clock microsecond at which a timer for `t` fires: rounded up, so that at that
/// microsecond the judge sees `t` reached, and always after `now_us`. (Rounded down, the
/// timer fired a fraction of a microsecond early, the judge asked to wait for the same `t`
/// again, and the worker re-armed the same timer forever.)
fn wake_at_us(epoch: Instant, t: Instant, now_us: u64) -> u64 {
    let at = t.saturating_duration_since(epoch).as_nanos().div_ceil(1000);
    (at.min(u128::from(u64::MAX)) as u64).max(now_us + 1)
}

impl Worker {
    /// Opens the worker's shared ICMP socket of one family, the first time it is needed.
    fn open_icmp(&mut self, v6: bool) {
        let fam = usize::from(v6);
        if !matches!(self.icmp[fam], IcmpSocket::Unopened) {
            return;
        }
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

    /// The worker's clock (`now_us` since its epoch) as an `Instant`, for the ICMP judge.
    fn instant(&self, now_us: u64) -> Instant {
        self.epoch + Duration::from_micros(now_us)
    }

    /// Starts an ICMP check towards `ip` on the worker's shared socket of that family.
    pub(super) fn begin_icmp(&mut self, slot: u32, ip: IpAddr, now_us: u64) {
        self.open_icmp(ip.is_ipv6());
        let c = &mut self.slots[slot as usize];
        let ProbeSpec::Icmp {
            count,
            retries,
            ignore_privilege,
        } = *self.catalog.spec(MonitorId(c.req.monitor))
        else {
            self.finish(slot, Reason::Protocol, 0, now_us);
            return;
        };
        if let IcmpSocket::Failed(e) = &self.icmp[usize::from(ip.is_ipv6())] {
            let (reason, _) = crate::probe::icmp::open_failure_verdict(e, ignore_privilege);
            self.finish(slot, reason, 0, now_us);
            return;
        }
        let now = self.epoch + Duration::from_micros(now_us);
        let timeout = Duration::from_micros(c.deadline_us.saturating_sub(now_us));
        let check = match c.spare_icmp.take() {
            Some(mut k) => {
                k.restart(count, retries, now, timeout);
                k
            }
            None => IcmpCheck::new(count, retries, now, timeout),
        };
        c.state = ConnState::Icmp(Icmp { check, dest: ip });
        self.icmp_step(slot, now_us);
    }

    /// Moves an ICMP check: sends what is due, sets the next step's timer, or ends it.
    pub(super) fn icmp_step(&mut self, slot: u32, now_us: u64) {
        let now = self.instant(now_us);
        loop {
            let c = &mut self.slots[slot as usize];
            let ConnState::Icmp(Icmp { check, dest }) = &mut c.state else {
                return;
            };
            match check.step(now) {
                IcmpStep::Send => {
                    let token = (u64::from(c.check_seq) << 32) | u64::from(slot);
                    let IcmpSocket::Open(b) = &mut self.icmp[usize::from(dest.is_ipv6())] else {
                        check.on_not_sent(Reason::Local);
                        continue;
                    };
                    let (sock, pinger) = &mut **b;
                    let pkt = &mut self.icmp_buf;
                    pkt.clear();
                    // Stamped as it leaves, for the round trip (`now` may be a batch's start).
                    match pinger.encode_echo(pkt, token, *dest, Instant::now()) {
                        Some(seq) => match crate::probe::icmp::send_echo(sock, pkt, *dest) {
                            Ok(()) => check.on_sent(seq),
                            Err(e) => {
                                pinger.forget(seq);
                                check.on_not_sent(io_reason(&e));
                            }
                        },
                        None => check.on_not_sent(Reason::Local),
                    }
                }
                IcmpStep::WaitUntil(t) => {
                    let at_us = wake_at_us(self.epoch, t, now_us);
                    let seq = c.check_seq;
                    self.timers
                        .push(Reverse((at_us, slot, seq, TimerKind::IcmpStep)));
                    return;
                }
                IcmpStep::Done => {
                    let (reason, loss, _) = check.verdict();
                    self.finish(slot, reason, u16::from(loss), now_us);
                    return;
                }
            }
        }
    }

    /// An ICMP check ended: its unanswered echoes are forgotten, its judge kept for the slot's
    /// next ICMP check.
    pub(super) fn end_icmp(&mut self, slot: u32, icmp: Icmp) {
        for &seq in icmp.check.outstanding() {
            for sock in &mut self.icmp {
                if let IcmpSocket::Open(b) = sock {
                    b.1.forget(seq);
                }
            }
        }
        self.slots[slot as usize].spare_icmp = Some(icmp.check);
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
            let Some(c) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if !c.active || c.check_seq != seq || c.kind != ProbeKind::ICMP {
                continue;
            }
            if let ConnState::Icmp(i) = &mut c.state {
                i.check.on_reply(reply.seq, reply.rtt);
            }
            let now = self.now_us();
            self.icmp_step(slot, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_between_microseconds_fires_after_it_not_before() {
        let epoch = Instant::now();
        let t = epoch + Duration::from_nanos(1_234_500);
        let at = wake_at_us(epoch, t, 1_000);
        assert_eq!(at, 1_235);
        assert!(
            epoch + Duration::from_micros(at) >= t,
            "the judge sees its time reached"
        );
    }

    #[test]
    fn a_wake_up_already_due_still_moves_time_on() {
        let epoch = Instant::now();
        assert_eq!(wake_at_us(epoch, epoch + Duration::from_micros(10), 50), 51);
        assert_eq!(wake_at_us(epoch, epoch, 0), 1);
    }
}
