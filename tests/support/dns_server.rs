//! A DNS responder for tests, on loopback: UDP and TCP on the same port, std threads.
//!
//! Each query name gets an [`Answer`]: records (only those of the asked type are sent, plus
//! any CNAME, as a real server does), an rcode such as NXDOMAIN, a truncated UDP reply whose
//! full answer comes over TCP, garbage bytes, no reply at all, or a forged reply (wrong id)
//! before the real one. A name not listed gets NXDOMAIN. Replies are built with `simple-dns`,
//! a codec independent of cpra's.
//!
//! ```ignore
//! #[path = "support/dns_server.rs"]
//! mod dns_server;
//! use dns_server::{Answer, DnsServer};
//! let server = DnsServer::start(vec![("www.example.test", Answer::a("10.0.0.1"))]);
//! // ... query server.addr ...
//! ```
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use simple_dns::rdata::{A, AAAA, CNAME, MX, NS, RData, SOA, TXT};
use simple_dns::{CLASS, CharacterString, Name, Packet, PacketFlag, RCODE, ResourceRecord};

/// One record of an answer.
#[derive(Debug, Clone)]
pub enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ns(String),
    Mx(u16, String),
    /// The character-strings of one TXT record.
    Txt(Vec<String>),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
    },
}

impl Record {
    fn type_code(&self) -> u16 {
        match self {
            Record::A(_) => 1,
            Record::Ns(_) => 2,
            Record::Cname(_) => 5,
            Record::Soa { .. } => 6,
            Record::Mx(..) => 15,
            Record::Txt(_) => 16,
            Record::Aaaa(_) => 28,
        }
    }
}

/// What the server does for one query name.
#[derive(Debug, Clone)]
pub enum Answer {
    /// NOERROR with these records (those of the asked type, and CNAMEs), over UDP and TCP.
    Records(Vec<Record>),
    /// This rcode (2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...) and no records.
    Rcode(u16),
    /// Over UDP, TC set and no records; over TCP, NOERROR with these records.
    Truncated(Vec<Record>),
    /// These bytes instead of a reply (over TCP, after a length prefix).
    Garbage(Vec<u8>),
    /// No reply (over TCP, the connection stays open and silent).
    Silent,
    /// A copy of the reply with a wrong id first, then the reply (over UDP and TCP).
    SpoofFirst(Vec<Record>),
}

impl Answer {
    pub fn a(ip: &str) -> Answer {
        Answer::Records(vec![Record::A(ip.parse().expect("an IPv4 address"))])
    }
    pub fn aaaa(ip: &str) -> Answer {
        Answer::Records(vec![Record::Aaaa(ip.parse().expect("an IPv6 address"))])
    }
    pub fn cname(target: &str) -> Answer {
        Answer::Records(vec![Record::Cname(target.into())])
    }
    pub fn ns(host: &str) -> Answer {
        Answer::Records(vec![Record::Ns(host.into())])
    }
    pub fn mx(pref: u16, exchange: &str) -> Answer {
        Answer::Records(vec![Record::Mx(pref, exchange.into())])
    }
    pub fn txt(text: &str) -> Answer {
        Answer::Records(vec![Record::Txt(vec![text.into()])])
    }
    pub fn nxdomain() -> Answer {
        Answer::Rcode(3)
    }
}

/// A running responder; stops when dropped.
pub struct DnsServer {
    /// UDP and TCP, both on this address.
    pub addr: SocketAddr,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

struct Zone {
    /// Lower-case names without a trailing dot.
    entries: Vec<(String, Answer)>,
}

impl DnsServer {
    /// Starts answering on a free loopback port (UDP and TCP).
    pub fn start(records: Vec<(&str, Answer)>) -> DnsServer {
        let zone = Arc::new(Zone {
            entries: records
                .into_iter()
                .map(|(n, a)| (normalise(n), a))
                .collect(),
        });
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("udp address");
        let stop = Arc::new(AtomicBool::new(false));
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        {
            let (zone, stop, count) = (zone.clone(), stop.clone(), udp_queries.clone());
            threads.push(std::thread::spawn(move || {
                serve_udp(udp, &zone, &stop, &count)
            }));
        }
        {
            let (zone, stop, count) = (zone, stop.clone(), tcp_queries.clone());
            threads.push(std::thread::spawn(move || {
                serve_tcp(tcp, zone, stop, count)
            }));
        }
        DnsServer {
            addr,
            udp_queries,
            tcp_queries,
            stop,
            threads,
        }
    }

    /// Queries received over UDP so far.
    pub fn udp_queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    /// Queries received over TCP so far.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let addr = udp.local_addr().expect("udp address");
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

fn serve_udp(sock: UdpSocket, zone: &Zone, stop: &AtomicBool, count: &AtomicUsize) {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("udp timeout");
    let mut buf = vec![0u8; 65535];
    while !stop.load(Ordering::SeqCst) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(v) => v,
            Err(_) => continue,
        };
        count.fetch_add(1, Ordering::SeqCst);
        for reply in respond(&buf[..n], zone, false) {
            let _ = sock.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(
    listener: TcpListener,
    zone: Arc<Zone>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (zone, stop, count) = (zone.clone(), stop.clone(), count.clone());
                conns.push(std::thread::spawn(move || {
                    serve_conn(stream, &zone, &stop, &count)
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

/// Reads exactly `buf.len()` bytes, giving up when the server stops or the peer closes.
fn read_full(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> bool {
    let mut got = 0;
    while got < buf.len() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        match stream.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return false,
        }
    }
    true
}

fn serve_conn(mut stream: TcpStream, zone: &Zone, stop: &AtomicBool, count: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut stream, &mut len, stop) {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !read_full(&mut stream, &mut msg, stop) {
            return;
        }
        count.fetch_add(1, Ordering::SeqCst);
        for reply in respond(&msg, zone, true) {
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

/// The datagrams (or TCP messages) sent back for one query; none for an unreadable query.
fn respond(query: &[u8], zone: &Zone, tcp: bool) -> Vec<Vec<u8>> {
    let Ok(q) = Packet::parse(query) else {
        return vec![];
    };
    let Some(question) = q.questions.first() else {
        return vec![];
    };
    let name = normalise(&question.qname.to_string());
    let qtype = u16::from(question.qtype);
    let answer = zone
        .entries
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| a.clone())
        .unwrap_or(Answer::Rcode(3));
    let owner = question.qname.to_string();
    let build = |rcode: u16, tc: bool, records: &[Record]| {
        let mut r = Packet::new_reply(q.id());
        let mut flags = PacketFlag::RECURSION_AVAILABLE;
        if q.has_flags(PacketFlag::RECURSION_DESIRED) {
            flags |= PacketFlag::RECURSION_DESIRED;
        }
        if tc {
            flags |= PacketFlag::TRUNCATION;
        }
        r.set_flags(flags);
        r.questions = q.questions.clone();
        *r.rcode_mut() = RCODE::from(rcode);
        for rec in records {
            if rec.type_code() == qtype || matches!(rec, Record::Cname(_)) {
                r.answers.push(resource(&owner, rec));
            }
        }
        r.build_bytes_vec_compressed().expect("build reply")
    };
    match &answer {
        Answer::Records(rs) => vec![build(0, false, rs)],
        Answer::Rcode(c) => vec![build(*c, false, &[])],
        Answer::Truncated(rs) if tcp => vec![build(0, false, rs)],
        Answer::Truncated(_) => vec![build(0, true, &[])],
        Answer::Garbage(bytes) => vec![bytes.clone()],
        Answer::Silent => vec![],
        Answer::SpoofFirst(rs) => {
            let good = build(0, false, rs);
            let mut forged = good.clone();
            forged[0] ^= 0x55;
            vec![forged, good]
        }
    }
}

fn resource<'a>(owner: &'a str, rec: &'a Record) -> ResourceRecord<'a> {
    let name = |s: &'a str| Name::new_unchecked(s.trim_end_matches('.'));
    let rdata = match rec {
        Record::A(ip) => RData::A(A {
            address: (*ip).into(),
        }),
        Record::Aaaa(ip) => RData::AAAA(AAAA {
            address: (*ip).into(),
        }),
        Record::Cname(t) => RData::CNAME(CNAME(name(t))),
        Record::Ns(t) => RData::NS(NS(name(t))),
        Record::Mx(pref, t) => RData::MX(MX {
            preference: *pref,
            exchange: name(t),
        }),
        Record::Txt(parts) => {
            let mut txt = TXT::new();
            for p in parts {
                txt.add_char_string(CharacterString::new(p.as_bytes()).expect("TXT string"));
            }
            RData::TXT(txt)
        }
        Record::Soa {
            mname,
            rname,
            serial,
        } => RData::SOA(SOA {
            mname: name(mname),
            rname: name(rname),
            serial: *serial,
            refresh: 7200,
            retry: 3600,
            expire: 1_209_600,
            minimum: 300,
        }),
    };
    ResourceRecord::new(name(owner), CLASS::IN, 60, rdata)
}
