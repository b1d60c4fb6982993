//! DNS checks: the query sent from a fresh connected UDP socket (`DnsUdp`), replies judged by
//! `probe::dns::DnsCheck`, and the same question over TCP (`DnsTcp`) when a reply is truncated.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::Token;
use mio::net::{TcpStream, UdpSocket};

use super::Worker;
use super::state::{Conn, ConnState, Step};
use super::stream::{io_reason, write_pending};
use super::tokens::Owner;
use crate::limits::DNS_UDP_REPLY_BYTES_MAX;
use crate::probe::dns::{DnsCheck, DnsStep};
use crate::store::{MonitorId, ProbeSpec};
use crate::vocab::Reason;

/// A connected datagram socket, as the UDP state uses it.
pub(super) trait Datagram {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Datagram for UdpSocket {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        UdpSocket::recv(self, buf)
    }
}

/// A query sent over UDP, waiting for its reply.
pub(super) struct DnsUdp<U = UdpSocket> {
    pub(super) sock: U,
    pub(super) token: Token,
    pub(super) check: DnsCheck,
}

/// The same question over TCP.
pub(super) struct DnsTcp<S = TcpStream> {
    pub(super) conn: Conn<S>,
    pub(super) check: DnsCheck,
    /// Bytes of the framed query already written (the query is the slot's `wbuf`).
    pub(super) wpos: usize,
}

/// What a judged reply means for the attempt.
fn step_of(step: DnsStep) -> Step {
    match step {
        DnsStep::Wait => Step::Wait,
        DnsStep::RetryOverTcp => Step::OverTcp,
        DnsStep::Done(reason, _detail) => Step::Attempt(reason, 0),
    }
}

/// Opens a UDP socket connected to `server` (replies from anyone else never reach it).
pub(super) fn udp_socket(server: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if server.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    Ok(sock)
}

impl<U: Datagram> DnsUdp<U> {
    /// Reads the datagrams waiting, until one decides or none is left. `buf` holds the largest
    /// datagram.
    pub(super) fn advance(&mut self, buf: &mut [u8]) -> Step {
        loop {
            let step = match self.sock.recv(buf) {
                Ok(n) => self.check.on_udp_reply(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable comes back as ECONNREFUSED on a connected socket.
                Err(e) => return Step::Attempt(io_reason(&e), 0),
            };
            if step != DnsStep::Wait {
                return step_of(step);
            }
        }
    }
}

impl<S: Read + Write> DnsTcp<S> {
    pub(super) fn new(conn: Conn<S>, check: DnsCheck) -> DnsTcp<S> {
        DnsTcp {
            conn,
            check,
            wpos: 0,
        }
    }

    /// Writes what is left of the framed query, then reads the reply as it arrives.
    pub(super) fn advance(&mut self, query: &[u8], scratch: &mut [u8]) -> Step {
        match write_pending(&mut self.conn.io, query, &mut self.wpos) {
            Ok(true) => {}
            Ok(false) => return Step::Wait,
            Err(r) => return Step::Attempt(r, 0),
        }
        loop {
            let step = match self.conn.io.read(scratch) {
                Ok(0) => self.check.on_tcp_eof(),
                Ok(n) => self.check.on_tcp_bytes(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => DnsStep::Done(io_reason(&e), String::new()),
            };
            if step != DnsStep::Wait {
                return step_of(step);
            }
        }
    }
}

/// A query id nobody can predict from outside: time, slot and check sequence mixed.
pub(super) fn query_id(now_us: u64, slot: u32, check_seq: u32) -> u16 {
    (crate::vocab::mix64(now_us ^ (u64::from(slot) << 40) ^ u64::from(check_seq)) & 0xffff) as u16
}

impl Worker {
    /// The judge of a new DNS question for the check in `slot`, with a fresh query id. A
    /// question that cannot be encoded ends the check `protocol`.
    pub(super) fn dns_check(&self, slot: u32, now: u64) -> Result<DnsCheck, Step> {
        let c = &self.slots[slot as usize];
        let ProbeSpec::Dns(pulse) = self.catalog.spec(MonitorId(c.req.monitor)) else {
            return Err(Step::Final(Reason::Protocol, 0));
        };
        DnsCheck::new(pulse, query_id(now, slot, c.check_seq))
            .map_err(|_| Step::Final(Reason::Protocol, 0))
    }

    /// Starts a DNS check: the query over UDP from a fresh, connected socket.
    pub(super) fn begin_dns_udp(&mut self, slot: u32, server: SocketAddr, now: u64) {
        let check = match self.dns_check(slot, now) {
            Ok(check) => check,
            Err(step) => return self.apply(slot, step, now),
        };
        if self.dns_buf.len() < DNS_UDP_REPLY_BYTES_MAX {
            self.dns_buf.resize(DNS_UDP_REPLY_BYTES_MAX, 0);
        }
        let sent = self.send_query(slot, server, &check);
        match sent {
            Ok((sock, token)) => {
                let state = DnsUdp { sock, token, check };
                self.slots[slot as usize].state = ConnState::DnsUdp(state);
            }
            Err(reason) => self.fail(slot, reason, 0, now),
        }
    }

    /// Opens the UDP socket, registers it under a new token and sends the query.
    fn send_query(
        &mut self,
        slot: u32,
        server: SocketAddr,
        check: &DnsCheck,
    ) -> Result<(UdpSocket, Token), Reason> {
        let mut sock = udp_socket(server).map_err(|e| io_reason(&e))?;
        let token = self.tokens.open(Owner::Slot(slot)).ok_or(Reason::Local)?;
        let registered = self
            .poll
            .registry()
            .register(&mut sock, token, mio::Interest::READABLE);
        let wbuf = &mut self.slots[slot as usize].bufs.wbuf;
        wbuf.clear();
        check.query_udp(wbuf);
        match registered.and_then(|()| sock.send(wbuf)) {
            Ok(_) => Ok((sock, token)),
            Err(e) => {
                self.tokens.close(token);
                Err(io_reason(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use simple_dns::rdata::{A, RData};
    use simple_dns::{CLASS, Name, Packet, PacketFlag, ResourceRecord};

    use super::super::stream::pipe::Pipe;
    use super::*;
    use crate::config::model::{DnsPulse, DnsRecordType};

    /// Datagrams the test queued, then "would block", or an error.
    struct Datagrams {
        queue: RefCell<VecDeque<Vec<u8>>>,
        fail: Option<io::ErrorKind>,
    }

    impl Datagram for Datagrams {
        fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            match self.queue.borrow_mut().pop_front() {
                Some(d) => {
                    buf[..d.len()].copy_from_slice(&d);
                    Ok(d.len())
                }
                None => Err(self.fail.unwrap_or(io::ErrorKind::WouldBlock).into()),
            }
        }
    }

    fn check(id: u16) -> DnsCheck {
        let pulse = DnsPulse {
            server: Some("127.0.0.1:53".into()),
            query: "t.example".into(),
            record_type: DnsRecordType::A,
            expected_rcode: "NOERROR".into(),
            expected_answer: None,
        };
        DnsCheck::new(&pulse, id).expect("check")
    }

    /// A reply to `c`'s question, with `flags`, and one A record.
    fn reply(c: &DnsCheck, flags: PacketFlag) -> Vec<u8> {
        let mut q = Vec::new();
        c.query_udp(&mut q);
        let query = Packet::parse(&q).expect("query");
        let mut r = Packet::new_reply(query.id());
        r.set_flags(flags);
        r.questions = query.questions.clone();
        r.answers.push(ResourceRecord::new(
            Name::new_unchecked("t.example"),
            CLASS::IN,
            60,
            RData::A(A::from(std::net::Ipv4Addr::LOCALHOST)),
        ));
        r.build_bytes_vec().expect("reply")
    }

    fn udp(datagrams: Vec<Vec<u8>>, fail: Option<io::ErrorKind>, c: DnsCheck) -> DnsUdp<Datagrams> {
        DnsUdp {
            sock: Datagrams {
                queue: RefCell::new(datagrams.into()),
                fail,
            },
            token: Token(0),
            check: c,
        }
    }

    #[test]
    fn a_udp_reply_decides_and_a_stranger_s_is_skipped() {
        let c = check(7);
        let good = reply(&c, PacketFlag::empty());
        let stranger = reply(&check(8), PacketFlag::empty());
        let mut d = udp(vec![stranger, good], None, c);
        assert_eq!(d.advance(&mut [0u8; 2048]), Step::Attempt(Reason::Ok, 0));
    }

    #[test]
    fn no_reply_yet_waits() {
        let mut d = udp(vec![], None, check(7));
        assert_eq!(d.advance(&mut [0u8; 2048]), Step::Wait);
    }

    #[test]
    fn a_truncated_udp_reply_asks_again_over_tcp() {
        let c = check(7);
        let tc = reply(&c, PacketFlag::TRUNCATION);
        let mut d = udp(vec![tc], None, c);
        assert_eq!(d.advance(&mut [0u8; 2048]), Step::OverTcp);
    }

    #[test]
    fn port_unreachable_is_refused() {
        let mut d = udp(vec![], Some(io::ErrorKind::ConnectionRefused), check(7));
        assert_eq!(
            d.advance(&mut [0u8; 2048]),
            Step::Attempt(Reason::Refused, 0)
        );
    }

    fn tcp(c: DnsCheck) -> (DnsTcp<Pipe>, Vec<u8>) {
        let mut query = Vec::new();
        c.query_tcp(&mut query);
        let conn = Conn::new(Pipe::open(), Token(0), None);
        (DnsTcp::new(conn, c), query)
    }

    #[test]
    fn over_tcp_the_framed_query_goes_out_and_a_split_reply_decides() {
        let c = check(9);
        let msg = reply(&c, PacketFlag::empty());
        let (mut d, query) = tcp(c);
        let mut scratch = [0u8; 64];
        assert_eq!(d.advance(&query, &mut scratch), Step::Wait);
        assert_eq!(d.conn.io.out, query);
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&msg);
        d.conn.io.feed(&framed[..3]);
        assert_eq!(d.advance(&query, &mut scratch), Step::Wait);
        d.conn.io.feed(&framed[3..]);
        assert_eq!(
            d.advance(&query, &mut scratch),
            Step::Attempt(Reason::Ok, 0)
        );
        assert_eq!(d.conn.io.out, query, "the query is written once");
    }

    #[test]
    fn over_tcp_the_server_closing_early_fails_the_attempt() {
        let (mut d, query) = tcp(check(9));
        d.conn.io.feed(&[0, 40, 1]);
        d.conn.io.eof = true;
        let step = d.advance(&query, &mut [0u8; 64]);
        assert!(
            matches!(step, Step::Attempt(r, 0) if r != Reason::Ok),
            "got {step:?}"
        );
    }

    #[test]
    fn query_ids_differ_by_slot_and_check() {
        let a = query_id(1_000, 1, 1);
        let b = query_id(1_000, 2, 1);
        let c = query_id(1_000, 1, 2);
        assert!(a != b || a != c);
    }
}
