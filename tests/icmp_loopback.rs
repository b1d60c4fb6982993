//! ICMP echo to loopback through real sockets, the way a worker drives them: one shared socket,
//! a [`Pinger`] per socket, non-blocking reads drained on edge-triggered readiness.
//!
//! Each test skips, saying why, only where the kernel refuses both socket kinds for lack of
//! privilege (or, for `::1`, where the host has no IPv6); anything else failing is a failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use cpra::limits::ICMP_RECV_PACKET_BYTES;
use cpra::probe::icmp::{
    IcmpCheck, OpenError, Pinger, Reply, SocketKind, Step, open, recv_packet, send_echo,
};
use cpra::probe::reason::Reason;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A socket registered with its own poll, as a worker would hold it.
struct Shared {
    socket: Socket,
    kind: SocketKind,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
    /// Packets read, ours or not (a raw socket's kernel filter should keep out the rest).
    seen: usize,
}

/// Opens the shared socket for `dest`'s family, or says why the test is skipped.
fn shared(dest: IpAddr, test: &str) -> Option<Shared> {
    let v6 = dest.is_ipv6();
    let (socket, kind) = match open(v6) {
        Ok(s) => s,
        Err(e @ OpenError::NoPermission { .. }) => {
            println!("{test}: skipped: the kernel refuses both ICMP socket kinds: {e}");
            return None;
        }
        Err(OpenError::Other(e)) if v6 && e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) => {
            println!("{test}: skipped: no IPv6 on this host: {e}");
            return None;
        }
        Err(e) => panic!("{test}: {e}"),
    };
    println!("{test}: {kind:?} socket");
    let poll = Poll::new().expect("poll");
    poll.registry()
        .register(
            &mut SourceFd(&socket.as_raw_fd()),
            Token(0),
            Interest::READABLE,
        )
        .expect("register");
    Some(Shared {
        socket,
        kind,
        poll,
        events: Events::with_capacity(64),
        buf: vec![0; ICMP_RECV_PACKET_BYTES],
        seen: 0,
    })
}

impl Shared {
    fn pinger(&self, dest: IpAddr, worker: usize) -> Pinger {
        Pinger::for_socket(&self.socket, dest.is_ipv6(), self.kind, worker).expect("pinger")
    }

    /// Waits up to `timeout` for readiness, then drains the socket into every pinger (each
    /// sees every packet, as raw sockets of two workers would). Returns the matches.
    fn receive(&mut self, pingers: &mut [&mut Pinger], timeout: Duration) -> Vec<(usize, Reply)> {
        let mut got = Vec::new();
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return got,
            Err(e) => panic!("poll: {e}"),
        }
        loop {
            match recv_packet(&self.socket, &mut self.buf) {
                Ok((n, from)) => {
                    self.seen += 1;
                    let now = Instant::now();
                    for (i, p) in pingers.iter_mut().enumerate() {
                        if let Some(r) = p.on_packet(&self.buf[..n], from, now) {
                            got.push((i, r));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }
}

/// Sends `n` requests from one pinger to `dest` before reading anything, then collects the
/// replies. Returns them, or `None` when `dest` cannot be reached from here (skipped).
fn ping_many(s: &mut Shared, dest: IpAddr, n: u64, test: &str) -> Option<Vec<Reply>> {
    let mut p = s.pinger(dest, 0);
    let mut buf = Vec::new();
    let start = Instant::now();
    for token in 0..n {
        let seq = p
            .encode_echo(&mut buf, token, dest, Instant::now())
            .expect("room");
        if let Err(e) = send_echo(&s.socket, &buf, dest) {
            let no_route = matches!(
                e.raw_os_error(),
                Some(nix::libc::EADDRNOTAVAIL) | Some(nix::libc::ENETUNREACH)
            );
            if dest.is_ipv6() && no_route {
                println!("{test}: skipped: {dest} unreachable here: {e}");
                return None;
            }
            panic!("{test}: send {seq}: {e}");
        }
    }
    assert_eq!(p.outstanding(), n as usize);
    let mut replies = Vec::new();
    while replies.len() < n as usize && start.elapsed() < Duration::from_secs(5) {
        replies.extend(
            s.receive(&mut [&mut p], Duration::from_millis(100))
                .into_iter()
                .map(|(_, r)| r),
        );
    }
    assert_eq!(p.outstanding(), n as usize - replies.len());
    Some(replies)
}

fn assert_all_matched(replies: &[Reply], n: u64, test: &str) {
    let mut tokens: Vec<u64> = replies.iter().map(|r| r.token).collect();
    tokens.sort_unstable();
    assert_eq!(
        tokens,
        (0..n).collect::<Vec<_>>(),
        "{test}: every request answered once"
    );
    for r in replies {
        assert!(
            r.rtt > Duration::ZERO && r.rtt < Duration::from_secs(5),
            "{test}: {r:?}"
        );
    }
    let max = replies.iter().map(|r| r.rtt).max().unwrap_or_default();
    println!("{test}: {n} replies matched, slowest round trip {max:?}");
}

#[test]
fn echo_to_127_0_0_1() {
    let test = "echo_to_127_0_0_1";
    let Some(mut s) = shared(V4, test) else {
        return;
    };
    let replies = ping_many(&mut s, V4, 1, test).expect("loopback is reachable");
    assert_all_matched(&replies, 1, test);
}

#[test]
fn hundred_concurrent_echoes_to_127_0_0_1_all_match() {
    let test = "hundred_concurrent_echoes_to_127_0_0_1_all_match";
    let Some(mut s) = shared(V4, test) else {
        return;
    };
    let start = Instant::now();
    let replies = ping_many(&mut s, V4, 100, test).expect("loopback is reachable");
    assert_all_matched(&replies, 100, test);
    println!("{test}: {} packets read for 100 replies", s.seen);
    // All were in flight at once: no request waited for another's reply.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn echo_to_ipv6_loopback() {
    let test = "echo_to_ipv6_loopback";
    let Some(mut s) = shared(V6, test) else {
        return;
    };
    let Some(replies) = ping_many(&mut s, V6, 20, test) else {
        return;
    };
    assert_all_matched(&replies, 20, test);
}

/// Two workers' pingers share the wire: on raw sockets each sees the other's replies, and must
/// match only its own. Here both read one socket, which shows the same thing.
#[test]
fn two_pingers_on_one_host_match_only_their_own() {
    let test = "two_pingers_on_one_host_match_only_their_own";
    let Some(mut s) = shared(V4, test) else {
        return;
    };
    if s.kind == SocketKind::Dgram {
        // A datagram socket has one kernel-assigned identifier; two pingers on one socket
        // would share it. Workers each open their own datagram socket instead.
        println!("{test}: skipped: datagram socket (identifier is per socket)");
        return;
    }
    let mut a = s.pinger(V4, 0);
    let mut b = s.pinger(V4, 1);
    assert_ne!(a.identifier(), b.identifier());
    let mut buf = Vec::new();
    for token in 0..50u64 {
        for p in [&mut a, &mut b] {
            p.encode_echo(&mut buf, token, V4, Instant::now())
                .expect("room");
            send_echo(&s.socket, &buf, V4).expect("send");
        }
    }
    let start = Instant::now();
    let mut per = [Vec::new(), Vec::new()];
    while per[0].len() + per[1].len() < 100 && start.elapsed() < Duration::from_secs(5) {
        for (i, r) in s.receive(&mut [&mut a, &mut b], Duration::from_millis(100)) {
            per[i].push(r);
        }
    }
    assert_all_matched(&per[0], 50, test);
    assert_all_matched(&per[1], 50, test);
}

/// A whole check, `count` 3, driven by its steps against loopback.
#[test]
fn icmp_check_with_count_3_is_ok_with_no_loss() {
    let test = "icmp_check_with_count_3_is_ok_with_no_loss";
    let Some(mut s) = shared(V4, test) else {
        return;
    };
    let mut p = s.pinger(V4, 0);
    let start = Instant::now();
    let mut check = IcmpCheck::new(3, 0, start, Duration::from_secs(3));
    let mut buf = Vec::new();
    loop {
        let now = Instant::now();
        match check.step(now) {
            Step::Send => {
                let seq = p.encode_echo(&mut buf, 77, V4, now).expect("room");
                send_echo(&s.socket, &buf, V4).expect("send");
                check.on_sent(seq);
            }
            Step::WaitUntil(t) => {
                for (_, r) in s.receive(&mut [&mut p], t.saturating_duration_since(now)) {
                    assert_eq!(r.token, 77);
                    assert!(check.on_reply(r.seq, r.rtt));
                }
            }
            Step::Done => break,
        }
    }
    let (reason, loss, rtt) = check.verdict();
    println!("{test}: {reason:?}, loss {loss} %, mean rtt {rtt:?} µs");
    assert_eq!((reason, loss), (Reason::Ok, 0));
    assert!(rtt.is_some());
    assert_eq!((check.sent(), check.received()), (3, 3));
    // Done on the third reply: about two send intervals, not the 3 s timeout.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    for &seq in check.outstanding() {
        p.forget(seq);
    }
    assert_eq!(p.outstanding(), 0);
}
