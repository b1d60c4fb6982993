//! DNS for health checks, without I/O: render a query, judge the reply.
//!
//! The probe loop owns sockets and time; this module owns bytes. A [`DnsCheck`] is built from a
//! monitor's [`DnsPulse`] and a query id. It writes the query ([`DnsCheck::query_udp`], or
//! [`DnsCheck::query_tcp`] with its length prefix) and judges what comes back
//! ([`DnsCheck::on_udp_reply`] per datagram, [`DnsCheck::on_tcp_bytes`] per read), answering a
//! [`DnsStep`]: keep waiting, ask again over TCP (the reply was truncated), or a verdict with a
//! short detail for events. Being I/O-free, the module is tested on byte strings, and property
//! tests throw arbitrary bytes at it.
//!
//! The wire format is written here rather than taken from a crate: a check needs one question
//! out and, back, a header, one question and the records of seven types, which is a few hundred
//! lines. Written for this, the reader walks the reply in place (no allocation unless a verdict
//! needs a detail), validates every record of every section with fixed bounds, and judges only
//! what it was asked, where a general DNS crate would build every record of every type (and may
//! reject a reply over an exotic record the check does not care about). The query is checked
//! against an independent codec (`simple-dns`, a dev-dependency) in the tests.
//!
//! Rules, in order:
//! - a datagram or TCP frame shorter than a header is malformed (`protocol`);
//! - a reply whose id, QR bit, opcode or question differ from the query is not ours: ignored
//!   ([`DnsStep::Wait`]), so a forged or stale datagram cannot decide a check. An error reply
//!   without a question section (some servers' FORMERR or REFUSED) is accepted when its id
//!   matches;
//! - TC set on a UDP reply: [`DnsStep::RetryOverTcp`];
//! - every record must be well-formed: names within 255 bytes, compression pointers pointing
//!   backward (no loops), record data inside the message and, for the types read here, exactly
//!   the right shape. Anything else is `protocol`. Bytes after the last counted record are
//!   ignored, as resolvers do;
//! - the rcode (extended by an EDNS OPT record) must be `expected_rcode`, else `dns`;
//! - when `expected_answer` is set, one answer record of the asked type (class IN, any owner, so a
//!   CNAME chain is followed) must equal it, else `dns`: A and AAAA compare as addresses, CNAME
//!   and NS as names (ASCII case-insensitive, trailing dot optional), MX as `pref exchange` or
//!   the exchange alone, TXT as the record's strings joined (surrounding double quotes on the
//!   expected text are ignored), SOA as its first fields (`mname`, then `rname serial refresh
//!   retry expire minimum`, as many as given). NOERROR without answers (NODATA) is a valid reply
//!   when no answer is expected.
//!
//! Queries set RD and carry an EDNS0 OPT record advertising [`DNS_UDP_PAYLOAD_BYTES`]. A TCP
//! reply is buffered up to [`DNS_TCP_REPLY_BYTES_MAX`]; a frame that is not ours is skipped and
//! the next one read.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::config::dns::{Expected, RCODE_NAMES, SoaField, Want};
pub use crate::config::dns::{
    compile, rcode_from_name, server_addr, system_resolver, system_resolver_once, type_code,
    type_name,
};
use crate::config::model::{DnsPulse, DnsRecordType};
use crate::limits::{
    DNS_DETAIL_BYTES_MAX, DNS_NAME_BYTES_MAX, DNS_NAME_POINTERS_MAX, DNS_TCP_REPLY_BYTES_MAX,
    DNS_UDP_PAYLOAD_BYTES,
};
use crate::vocab::Reason;

const HEADER_BYTES: usize = 12;
const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;
const FLAG_QR: u16 = 0x8000;
const OPCODE_MASK: u16 = 0x7800;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const RCODE_MASK: u16 = 0x000f;

fn push_rcode(out: &mut String, rcode: u16) {
    match RCODE_NAMES.iter().find(|&&(c, _)| c == rcode) {
        Some((_, n)) => out.push_str(n),
        None => out.push_str(&format!("RCODE{rcode}")),
    }
}

/// What the probe loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsStep {
    /// Nothing decided: not our id, not a reply, another question, or a TCP reply still
    /// arriving. Keep reading until the check's deadline.
    Wait,
    /// The UDP reply has TC set: send [`DnsCheck::query_tcp`] over TCP to the same server.
    RetryOverTcp,
    /// The verdict, with a short detail for events (empty for `Ok`, so that a healthy check
    /// allocates nothing), at most [`DNS_DETAIL_BYTES_MAX`] bytes, printable ASCII from the
    /// reply (other bytes escaped).
    Done(Reason, String),
}

/// One DNS check: the query to send and the judge of its reply.
#[derive(Debug, Clone)]
pub struct DnsCheck {
    id: u16,
    rtype: DnsRecordType,
    qtype: u16,
    /// The query name in wire form, as configured (case kept).
    qname: Box<[u8]>,
    expected_rcode: u16,
    expected: Option<Expected>,
    /// A TCP reply arriving in pieces: length prefix and message, at most one frame.
    tcp: Vec<u8>,
}

impl DnsCheck {
    /// Prepares the check of `pulse` with query id `id`.
    ///
    /// Fails, with a message for the operator, when the query name cannot be encoded, the rcode
    /// is unknown, or `expected_answer` cannot be an answer of the record type (an A answer that
    /// is no IPv4 address, an MX preference that is no number): such a check could never pass,
    /// so the caller should refuse it at load.
    pub fn new(pulse: &DnsPulse, id: u16) -> Result<DnsCheck, String> {
        let q = compile(pulse)?;
        Ok(DnsCheck {
            id,
            rtype: q.rtype,
            qtype: q.qtype,
            qname: q.qname,
            expected_rcode: q.expected_rcode,
            expected: q.expected,
            tcp: Vec::new(),
        })
    }

    /// The query id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Readies the check for another attempt with a fresh query id. A TCP buffer grown past
    /// one UDP payload is released, so that idle checks do not keep 64 KiB each.
    pub fn restart(&mut self, id: u16) {
        self.id = id;
        if self.tcp.capacity() > usize::from(DNS_UDP_PAYLOAD_BYTES) {
            self.tcp = Vec::new();
        } else {
            self.tcp.clear();
        }
    }

    /// Appends the query datagram to `out`.
    pub fn query_udp(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&FLAG_RD.to_be_bytes());
        // One question, no answer or authority, one additional record (OPT).
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
        out.extend_from_slice(&self.qname);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        // EDNS0 OPT: root owner, type 41, class = UDP payload size, extended rcode 0,
        // version 0, no flags, no options.
        out.push(0);
        out.extend_from_slice(&TYPE_OPT.to_be_bytes());
        out.extend_from_slice(&DNS_UDP_PAYLOAD_BYTES.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }

    /// Appends the query for TCP to `out`: the datagram after its 2-byte length.
    pub fn query_tcp(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[0, 0]);
        self.query_udp(out);
        // At most 12 + 255 + 4 + 11 bytes: the length always fits.
        let len = u16::try_from(out.len() - at - 2).unwrap_or(u16::MAX);
        out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// Judges one datagram received on the check's UDP socket.
    pub fn on_udp_reply(&mut self, datagram: &[u8]) -> DnsStep {
        self.judge(datagram, false)
    }

    /// Judges bytes read from the check's TCP connection (any piece of the stream). Frames
    /// that are not ours are skipped; a partial frame is kept for the next call.
    pub fn on_tcp_bytes(&mut self, mut bytes: &[u8]) -> DnsStep {
        while !bytes.is_empty() {
            // A whole frame at the start of `bytes`: judge it in place.
            if self.tcp.is_empty()
                && let Some(len) = be16(bytes, 0)
                && let Some(frame) = bytes.get(2..2 + usize::from(len))
            {
                match self.judge(frame, true) {
                    DnsStep::Wait => {
                        bytes = bytes.get(2 + usize::from(len)..).unwrap_or_default();
                        continue;
                    }
                    step => return step,
                }
            }
            // Otherwise gather the length prefix, then the frame, never more than one frame.
            if self.tcp.len() < 2 {
                let take = (2 - self.tcp.len()).min(bytes.len());
                self.tcp.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                match be16(&self.tcp, 0) {
                    Some(len) => self.tcp.reserve_exact(usize::from(len)),
                    None => continue,
                }
            }
            let need = 2 + usize::from(be16(&self.tcp, 0).unwrap_or(0));
            let take = need.saturating_sub(self.tcp.len()).min(bytes.len());
            self.tcp.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            debug_assert!(self.tcp.len() <= DNS_TCP_REPLY_BYTES_MAX);
            if self.tcp.len() >= need {
                let frame = std::mem::take(&mut self.tcp);
                let step = self.judge(frame.get(2..).unwrap_or_default(), true);
                self.tcp = frame;
                self.tcp.clear();
                if step != DnsStep::Wait {
                    return step;
                }
            }
        }
        DnsStep::Wait
    }

    /// The server closed the TCP connection before a verdict.
    pub fn on_tcp_eof(&self) -> DnsStep {
        match be16(&self.tcp, 0) {
            Some(len) => DnsStep::Done(
                Reason::Protocol,
                format!(
                    "connection closed inside a reply ({} of {len} bytes)",
                    self.tcp.len() - 2
                ),
            ),
            None => DnsStep::Done(
                Reason::Protocol,
                "connection closed before a reply".to_string(),
            ),
        }
    }

    /// Bytes of a partial TCP reply held, at most [`DNS_TCP_REPLY_BYTES_MAX`].
    pub fn tcp_buffered(&self) -> usize {
        self.tcp.len()
    }

    fn judge(&self, msg: &[u8], over_tcp: bool) -> DnsStep {
        let (Some(id), Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) = (
            be16(msg, 0),
            be16(msg, 2),
            be16(msg, 4),
            be16(msg, 6),
            be16(msg, 8),
            be16(msg, 10),
        ) else {
            return malformed("shorter than a DNS header");
        };
        if id != self.id || flags & FLAG_QR == 0 || flags & OPCODE_MASK != 0 {
            return DnsStep::Wait;
        }
        let low_rcode = flags & RCODE_MASK;
        let mut pos = HEADER_BYTES;
        let mut name = NameBuf::new();
        match qd {
            // An error reply without the question: the id is all there is to go by.
            0 if low_rcode != 0 => {}
            1 => {
                if let Err(e) = read_name(msg, &mut pos, &mut name) {
                    return malformed(e);
                }
                let (Some(qtype), Some(qclass)) = (be16(msg, pos), be16(msg, pos + 2)) else {
                    return malformed("the question runs past the end");
                };
                pos += 4;
                if qtype != self.qtype
                    || qclass != CLASS_IN
                    || !name.as_bytes().eq_ignore_ascii_case(&self.qname)
                {
                    return DnsStep::Wait;
                }
            }
            _ => return malformed("not exactly one question"),
        }
        if flags & FLAG_TC != 0 && !over_tcp {
            return DnsStep::RetryOverTcp;
        }
        // Walk every record once: the whole reply must be well-formed.
        let answers_at = pos;
        let in_answers = u32::from(an);
        let before_additional = in_answers + u32::from(ns);
        let records = before_additional + u32::from(ar);
        let mut ext_rcode = 0u16;
        let mut opt_seen = false;
        for i in 0..records {
            let rr = match read_record(msg, &mut pos, &mut name) {
                Ok(rr) => rr,
                Err(e) => return malformed(e),
            };
            if rr.rtype == TYPE_OPT {
                if i < before_additional {
                    return malformed("an OPT record outside the additional section");
                }
                if opt_seen {
                    return malformed("two OPT records");
                }
                if name.as_bytes() != [0] {
                    return malformed("an OPT record not owned by the root");
                }
                opt_seen = true;
                ext_rcode = (rr.ttl >> 24) as u16;
            }
            if let Err(e) = check_rdata(msg, &rr, &mut name) {
                return malformed(e);
            }
        }
        let rcode = ext_rcode << 4 | low_rcode;
        if rcode != self.expected_rcode {
            let mut detail = String::from("rcode ");
            push_rcode(&mut detail, rcode);
            if self.expected_rcode != 0 {
                detail.push_str(", expected ");
                push_rcode(&mut detail, self.expected_rcode);
            }
            return DnsStep::Done(Reason::Dns, detail);
        }
        let Some(expected) = &self.expected else {
            return DnsStep::Done(Reason::Ok, String::new());
        };
        let mut pos = answers_at;
        for _ in 0..in_answers {
            let Ok(rr) = read_record(msg, &mut pos, &mut name) else {
                return malformed("a record changed between two reads");
            };
            if rr.rtype == self.qtype
                && rr.class == CLASS_IN
                && matches(msg, &rr, &expected.want, &mut name)
            {
                return DnsStep::Done(Reason::Ok, String::new());
            }
        }
        DnsStep::Done(
            Reason::Dns,
            self.mismatch_detail(msg, answers_at, in_answers, expected),
        )
    }

    /// "answer 10.0.0.1 != expected 10.0.0.2", "answers a, b != expected c", or "no A answer,
    /// expected c"; bounded.
    fn mismatch_detail(&self, msg: &[u8], at: usize, answers: u32, expected: &Expected) -> String {
        let mut shown = String::new();
        let mut count = 0u32;
        let mut name = NameBuf::new();
        let mut pos = at;
        for _ in 0..answers {
            let Ok(rr) = read_record(msg, &mut pos, &mut name) else {
                break;
            };
            if rr.rtype != self.qtype || rr.class != CLASS_IN {
                continue;
            }
            count += 1;
            if shown.len() < DNS_DETAIL_BYTES_MAX {
                if count > 1 {
                    shown.push_str(", ");
                }
                render_rdata(msg, &rr, &mut name, &mut shown);
            }
        }
        let mut exp = String::new();
        if let Want::Txt(t) = &expected.want {
            exp.push('"');
            push_escaped(&mut exp, t);
            exp.push('"');
        } else {
            push_escaped(&mut exp, expected.text.as_bytes());
        }
        let mut detail = match count {
            0 => format!("no {} answer, expected {exp}", type_name(self.rtype)),
            1 => format!("answer {shown} != expected {exp}"),
            _ => format!("answers {shown} != expected {exp}"),
        };
        truncate(&mut detail, DNS_DETAIL_BYTES_MAX);
        detail
    }
}

fn malformed(what: &str) -> DnsStep {
    DnsStep::Done(Reason::Protocol, format!("malformed reply: {what}"))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(be16(b, at)?) << 16 | u32::from(be16(b, at + 2)?))
}

/// A name read from a message, uncompressed, in wire form.
struct NameBuf {
    len: usize,
    bytes: [u8; DNS_NAME_BYTES_MAX],
}

impl NameBuf {
    fn new() -> NameBuf {
        NameBuf {
            len: 0,
            bytes: [0; DNS_NAME_BYTES_MAX],
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Appends a label (or the final empty one); false when the name would pass 255 bytes.
    fn push_label(&mut self, label: &[u8]) -> bool {
        let end = self.len + 1 + label.len();
        let Some(dst) = self.bytes.get_mut(self.len..end) else {
            return false;
        };
        if let Some((len, rest)) = dst.split_first_mut() {
            *len = label.len() as u8;
            rest.copy_from_slice(label);
        }
        self.len = end;
        true
    }
}

/// Reads the name at `*pos` into `out`, following compression pointers, and moves `*pos` past
/// it. Pointers must point backward and past the header: every jump lowers the position or
/// adds to a name that cannot pass 255 bytes, so reading always ends.
fn read_name(msg: &[u8], pos: &mut usize, out: &mut NameBuf) -> Result<(), &'static str> {
    const PAST_END: &str = "a name runs past the end";
    out.len = 0;
    let mut p = *pos;
    let mut jumped = false;
    let mut pointers = 0;
    loop {
        let len = *msg.get(p).ok_or(PAST_END)?;
        match len & 0xc0 {
            0x00 => {
                let n = usize::from(len);
                let label = msg.get(p + 1..p + 1 + n).ok_or(PAST_END)?;
                if !out.push_label(label) {
                    return Err("a name is longer than 255 bytes");
                }
                p += 1 + n;
                if n == 0 {
                    if !jumped {
                        *pos = p;
                    }
                    return Ok(());
                }
            }
            0xc0 => {
                let low = *msg.get(p + 1).ok_or(PAST_END)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                if target >= p || target < HEADER_BYTES {
                    return Err("a name pointer does not point back into the message");
                }
                pointers += 1;
                if pointers > DNS_NAME_POINTERS_MAX {
                    return Err("a name has too many pointers");
                }
                if !jumped {
                    *pos = p + 2;
                    jumped = true;
                }
                p = target;
            }
            _ => return Err("a name uses a reserved label type"),
        }
    }
}

/// A record's fixed fields; its owner is left in the caller's `NameBuf`.
struct Record {
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: Range<usize>,
}

fn read_record(msg: &[u8], pos: &mut usize, owner: &mut NameBuf) -> Result<Record, &'static str> {
    const PAST_END: &str = "a record runs past the end";
    read_name(msg, pos, owner)?;
    let p = *pos;
    let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
        be16(msg, p),
        be16(msg, p + 2),
        be32(msg, p + 4),
        be16(msg, p + 8),
    ) else {
        return Err(PAST_END);
    };
    let start = p + 10;
    let end = start + usize::from(rdlen);
    if end > msg.len() {
        return Err("a record's data runs past the end");
    }
    *pos = end;
    Ok(Record {
        rtype,
        class,
        ttl,
        rdata: start..end,
    })
}

/// Checks the shape of the data of the record types a check reads.
fn check_rdata(msg: &[u8], rr: &Record, name: &mut NameBuf) -> Result<(), &'static str> {
    let names_then = |fixed: usize, names: usize, name: &mut NameBuf| {
        let mut pos = rr.rdata.start;
        for _ in 0..names {
            read_name(msg, &mut pos, name)?;
        }
        if pos + fixed == rr.rdata.end {
            Ok(())
        } else {
            Err("a record's data does not fit its length")
        }
    };
    let len = rr.rdata.len();
    match rr.rtype {
        1 if len != 4 => Err("an A record not 4 bytes long"),
        28 if len != 16 => Err("an AAAA record not 16 bytes long"),
        2 | 5 => names_then(0, 1, name),
        6 => names_then(20, 2, name),
        15 => {
            if len < 3 {
                return Err("an MX record too short");
            }
            let mut pos = rr.rdata.start + 2;
            read_name(msg, &mut pos, name)?;
            if pos == rr.rdata.end {
                Ok(())
            } else {
                Err("a record's data does not fit its length")
            }
        }
        16 => {
            let data = msg.get(rr.rdata.clone()).unwrap_or_default();
            if data.is_empty() {
                return Err("a TXT record without a string");
            }
            let mut p = 0;
            while let Some(&n) = data.get(p) {
                p += 1 + usize::from(n);
            }
            if p == data.len() {
                Ok(())
            } else {
                Err("a TXT string runs past its record")
            }
        }
        _ => Ok(()),
    }
}

fn txt_strings(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut p = 0;
    std::iter::from_fn(move || {
        let n = usize::from(*data.get(p)?);
        let s = data.get(p + 1..p + 1 + n)?;
        p += 1 + n;
        Some(s)
    })
}

/// Whether a (well-formed) record of the asked type equals the expected answer.
fn matches(msg: &[u8], rr: &Record, want: &Want, name: &mut NameBuf) -> bool {
    let data = msg.get(rr.rdata.clone()).unwrap_or_default();
    let name_is = |pos: &mut usize, want: &[u8], name: &mut NameBuf| {
        read_name(msg, pos, name).is_ok() && name.as_bytes().eq_ignore_ascii_case(want)
    };
    match want {
        Want::V4(a) => data == a,
        Want::V6(a) => data == a,
        Want::Name(n) => name_is(&mut rr.rdata.start.clone(), n, name),
        Want::Mx { pref, exchange } => {
            pref.is_none_or(|p| be16(data, 0) == Some(p))
                && name_is(&mut (rr.rdata.start + 2), exchange, name)
        }
        Want::Txt(t) => {
            let mut rest: &[u8] = t;
            for s in txt_strings(data) {
                match rest.strip_prefix(s) {
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            rest.is_empty()
        }
        Want::Soa(fields) => {
            let mut pos = rr.rdata.start;
            for (i, f) in fields.iter().enumerate() {
                let ok = match f {
                    SoaField::Name(n) => name_is(&mut pos, n, name),
                    SoaField::Num(v) => {
                        // The numbers follow the two names: serial at index 2.
                        let at = pos + 4 * i.saturating_sub(2);
                        be32(msg, at) == Some(*v)
                    }
                };
                if !ok {
                    return false;
                }
            }
            true
        }
    }
}

/// Appends a record's data in presentation form (for details).
fn render_rdata(msg: &[u8], rr: &Record, name: &mut NameBuf, out: &mut String) {
    let data = msg.get(rr.rdata.clone()).unwrap_or_default();
    let mut push_name = |pos: &mut usize, out: &mut String| {
        if read_name(msg, pos, name).is_ok() {
            push_name_text(out, name.as_bytes());
        }
    };
    match rr.rtype {
        1 => {
            if let Ok(a) = <[u8; 4]>::try_from(data) {
                out.push_str(&Ipv4Addr::from(a).to_string());
            }
        }
        28 => {
            if let Ok(a) = <[u8; 16]>::try_from(data) {
                out.push_str(&Ipv6Addr::from(a).to_string());
            }
        }
        2 | 5 => push_name(&mut rr.rdata.start.clone(), out),
        15 => {
            out.push_str(&be16(data, 0).unwrap_or(0).to_string());
            out.push(' ');
            push_name(&mut (rr.rdata.start + 2), out);
        }
        16 => {
            out.push('"');
            for s in txt_strings(data) {
                push_escaped(out, s);
                if out.len() > DNS_DETAIL_BYTES_MAX {
                    break;
                }
            }
            out.push('"');
        }
        6 => {
            let mut pos = rr.rdata.start;
            push_name(&mut pos, out);
            out.push(' ');
            push_name(&mut pos, out);
            for i in 0..5 {
                out.push(' ');
                out.push_str(&be32(msg, pos + 4 * i).unwrap_or(0).to_string());
            }
        }
        _ => {}
    }
}

/// A wire-form name as text: labels joined by dots, no trailing dot, `.` for the root.
fn push_name_text(out: &mut String, wire: &[u8]) {
    let mut p = 0;
    let mut first = true;
    while let Some(&n) = wire.get(p) {
        if n == 0 {
            break;
        }
        let label = wire.get(p + 1..p + 1 + usize::from(n)).unwrap_or_default();
        if !first {
            out.push('.');
        }
        first = false;
        push_escaped(out, label);
        p += 1 + usize::from(n);
    }
    if first {
        out.push('.');
    }
}

/// Printable ASCII as is; anything else (and `\`) as `\DDD`, zone-file style.
fn push_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\{b:03}"));
        }
        if out.len() > DNS_DETAIL_BYTES_MAX {
            return;
        }
    }
}

/// Cuts `s` to at most `max` bytes, ending in "..." when cut.
fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut at = max.saturating_sub(3);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    s.push_str("...");
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{A, AAAA, CNAME, MX, NS, RData, SOA, TXT};
    use simple_dns::{
        CLASS, CharacterString, Name, Packet, PacketFlag, QCLASS, RCODE, ResourceRecord,
    };

    const ID: u16 = 0x5eed;

    fn pulse(query: &str, t: DnsRecordType, rcode: &str, expected: Option<&str>) -> DnsPulse {
        DnsPulse {
            server: None,
            query: query.into(),
            record_type: t,
            expected_rcode: rcode.into(),
            expected_answer: expected.map(Into::into),
        }
    }

    fn check(query: &str, t: DnsRecordType, expected: Option<&str>) -> DnsCheck {
        DnsCheck::new(&pulse(query, t, "NOERROR", expected), ID).unwrap()
    }

    fn rr(owner: &'static str, rdata: RData<'static>) -> ResourceRecord<'static> {
        ResourceRecord::new(Name::new_unchecked(owner), CLASS::IN, 300, rdata)
    }

    fn a(owner: &'static str, ip: &str) -> ResourceRecord<'static> {
        let ip: Ipv4Addr = ip.parse().unwrap();
        rr(owner, RData::A(A { address: ip.into() }))
    }

    fn aaaa(owner: &'static str, ip: &str) -> ResourceRecord<'static> {
        let ip: Ipv6Addr = ip.parse().unwrap();
        rr(owner, RData::AAAA(AAAA { address: ip.into() }))
    }

    fn cname(owner: &'static str, target: &'static str) -> ResourceRecord<'static> {
        rr(owner, RData::CNAME(CNAME(Name::new_unchecked(target))))
    }

    fn mx(owner: &'static str, pref: u16, exchange: &'static str) -> ResourceRecord<'static> {
        rr(
            owner,
            RData::MX(MX {
                preference: pref,
                exchange: Name::new_unchecked(exchange),
            }),
        )
    }

    fn txt(owner: &'static str, parts: &[&'static str]) -> ResourceRecord<'static> {
        let mut t = TXT::new();
        for p in parts {
            t.add_char_string(CharacterString::new(p.as_bytes()).unwrap());
        }
        rr(owner, RData::TXT(t))
    }

    /// The reply to `c`'s query built by an independent codec (`simple-dns`), compressed.
    fn reply_with(
        c: &DnsCheck,
        rcode: RCODE,
        flags: PacketFlag,
        answers: Vec<ResourceRecord<'static>>,
    ) -> Vec<u8> {
        let mut q = Vec::new();
        c.query_udp(&mut q);
        let query = Packet::parse(&q).unwrap();
        let mut r = Packet::new_reply(query.id());
        r.set_flags(PacketFlag::RECURSION_DESIRED | PacketFlag::RECURSION_AVAILABLE | flags);
        r.questions = query.questions.clone();
        r.answers = answers;
        *r.rcode_mut() = rcode;
        r.build_bytes_vec_compressed().unwrap()
    }

    fn reply(c: &DnsCheck, answers: Vec<ResourceRecord<'static>>) -> Vec<u8> {
        reply_with(c, RCODE::NoError, PacketFlag::empty(), answers)
    }

    fn udp(c: &mut DnsCheck, msg: &[u8]) -> DnsStep {
        c.on_udp_reply(msg)
    }

    fn ok() -> DnsStep {
        DnsStep::Done(Reason::Ok, String::new())
    }

    fn dns(detail: &str) -> DnsStep {
        DnsStep::Done(Reason::Dns, detail.into())
    }

    fn reason(step: &DnsStep) -> Option<Reason> {
        match step {
            DnsStep::Done(r, _) => Some(*r),
            _ => None,
        }
    }

    #[test]
    fn query_round_trips_through_an_independent_codec() {
        for (t, code) in [
            (DnsRecordType::A, 1u16),
            (DnsRecordType::Aaaa, 28),
            (DnsRecordType::Cname, 5),
            (DnsRecordType::Mx, 15),
            (DnsRecordType::Txt, 16),
            (DnsRecordType::Ns, 2),
            (DnsRecordType::Soa, 6),
        ] {
            let c = check("WWW.example.com.", t, None);
            let mut q = Vec::new();
            c.query_udp(&mut q);
            let p = Packet::parse(&q).unwrap();
            assert_eq!(p.id(), ID);
            assert!(p.has_flags(PacketFlag::RECURSION_DESIRED));
            assert!(!p.has_flags(PacketFlag::RESPONSE));
            assert_eq!(p.questions.len(), 1);
            assert!(p.answers.is_empty() && p.name_servers.is_empty());
            let question = &p.questions[0];
            assert_eq!(question.qname.to_string(), "WWW.example.com");
            assert_eq!(u16::from(question.qtype), code);
            assert_eq!(question.qclass, QCLASS::CLASS(CLASS::IN));
            assert_eq!(p.opt().unwrap().udp_packet_size, DNS_UDP_PAYLOAD_BYTES);

            let mut framed = vec![9u8];
            c.query_tcp(&mut framed);
            assert_eq!(framed[0], 9, "query_tcp appends");
            assert_eq!(usize::from(be16(&framed, 1).unwrap()), q.len());
            assert_eq!(&framed[3..], &q[..]);
        }
        let mut q = Vec::new();
        check(".", DnsRecordType::Ns, None).query_udp(&mut q);
        assert_eq!(
            Packet::parse(&q).unwrap().questions[0].qname.to_string(),
            ""
        );
    }

    #[test]
    fn bad_configurations_are_refused_at_construction() {
        let long = "a".repeat(64);
        for (q, t, rcode, exp) in [
            ("", DnsRecordType::A, "NOERROR", None),
            ("a..b", DnsRecordType::A, "NOERROR", None),
            (long.as_str(), DnsRecordType::A, "NOERROR", None),
            ("x", DnsRecordType::A, "WHATEVER", None),
            ("x", DnsRecordType::A, "NOERROR", Some("10.0.0.256")),
            ("x", DnsRecordType::A, "NOERROR", Some("::1")),
            ("x", DnsRecordType::Aaaa, "NOERROR", Some("10.0.0.1")),
            ("x", DnsRecordType::Mx, "NOERROR", Some("ten mail.x")),
            ("x", DnsRecordType::Mx, "NOERROR", Some("1 2 3")),
            ("x", DnsRecordType::Soa, "NOERROR", Some("a b c")),
            ("x", DnsRecordType::Soa, "NOERROR", Some("a b 1 2 3 4 5 6")),
            ("x", DnsRecordType::Cname, "NOERROR", Some("a..b")),
        ] {
            assert!(
                DnsCheck::new(&pulse(q, t, rcode, exp), 1).is_err(),
                "{q:?} {t:?} {rcode} {exp:?}"
            );
        }
        let long_name = vec!["a".repeat(63); 4].join(".");
        assert!(DnsCheck::new(&pulse(&long_name, DnsRecordType::A, "NOERROR", None), 1).is_err());
        assert!(DnsCheck::new(&pulse("x", DnsRecordType::A, "nxdomain", None), 1).is_ok());
    }

    #[test]
    fn a_answers() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.2"));
        let r = reply(
            &c,
            vec![
                a("www.example.com", "10.0.0.1"),
                a("www.example.com", "10.0.0.2"),
            ],
        );
        assert_eq!(udp(&mut c, &r), ok());
        let r = reply(&c, vec![a("www.example.com", "10.0.0.1")]);
        assert_eq!(udp(&mut c, &r), dns("answer 10.0.0.1 != expected 10.0.0.2"));
        let r = reply(
            &c,
            vec![
                a("www.example.com", "10.0.0.1"),
                a("www.example.com", "10.0.0.3"),
            ],
        );
        assert_eq!(
            udp(&mut c, &r),
            dns("answers 10.0.0.1, 10.0.0.3 != expected 10.0.0.2")
        );
        // NODATA when an answer is expected.
        let r = reply(&c, vec![]);
        assert_eq!(udp(&mut c, &r), dns("no A answer, expected 10.0.0.2"));
        // Without expected_answer any NOERROR reply is fine, NODATA included.
        let mut c = check("www.example.com", DnsRecordType::A, None);
        assert_eq!(
            {
                let m = reply(&c, vec![]);
                udp(&mut c, &m)
            },
            ok()
        );
        assert_eq!(
            {
                let m = reply(&c, vec![a("www.example.com", "10.9.9.9")]);
                udp(&mut c, &m)
            },
            ok()
        );
    }

    #[test]
    fn a_cname_chain_is_followed_and_the_owner_is_not_checked() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("192.0.2.7"));
        let r = reply(
            &c,
            vec![
                cname("www.example.com", "web.example.net"),
                a("web.example.net", "192.0.2.7"),
            ],
        );
        assert_eq!(udp(&mut c, &r), ok());
        // The CNAME is not an A answer.
        let r = reply(&c, vec![cname("www.example.com", "web.example.net")]);
        assert_eq!(udp(&mut c, &r), dns("no A answer, expected 192.0.2.7"));
    }

    #[test]
    fn rcodes() {
        let mut c = check("gone.example.com", DnsRecordType::A, None);
        let r = reply_with(&c, RCODE::NameError, PacketFlag::empty(), vec![]);
        assert_eq!(udp(&mut c, &r), dns("rcode NXDOMAIN"));
        let r = reply_with(&c, RCODE::ServerFailure, PacketFlag::empty(), vec![]);
        assert_eq!(udp(&mut c, &r), dns("rcode SERVFAIL"));

        let p = pulse("gone.example.com", DnsRecordType::A, "NXDOMAIN", None);
        let mut c = DnsCheck::new(&p, ID).unwrap();
        let r = reply_with(&c, RCODE::NameError, PacketFlag::empty(), vec![]);
        assert_eq!(udp(&mut c, &r), ok());
        let r = reply(&c, vec![a("gone.example.com", "10.0.0.1")]);
        assert_eq!(udp(&mut c, &r), dns("rcode NOERROR, expected NXDOMAIN"));
    }

    #[test]
    fn an_error_reply_without_a_question_is_judged_on_its_rcode() {
        let mut c = check("x.example", DnsRecordType::A, None);
        let mut r = vec![0u8; 12];
        r[..2].copy_from_slice(&ID.to_be_bytes());
        r[2] = 0x81;
        r[3] = 0x05; // REFUSED
        assert_eq!(udp(&mut c, &r), dns("rcode REFUSED"));
        // NOERROR without a question is no answer to anything.
        r[3] = 0;
        assert_eq!(reason(&udp(&mut c, &r)), Some(Reason::Protocol));
    }

    #[test]
    fn extended_rcode_from_the_opt_record() {
        let mut c = check("x.example", DnsRecordType::A, None);
        let mut r = reply(&c, vec![]);
        // Add an OPT record with extended rcode 1 (BADVERS = 16 with low bits 0).
        r[11] = 1;
        r.extend_from_slice(&[0, 0, 41, 4, 0xd0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(udp(&mut c, &r), dns("rcode BADVERS"));
        // An OPT record in the answer section is malformed.
        let mut r = reply(&c, vec![]);
        r[7] = 1;
        r.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(reason(&udp(&mut c, &r)), Some(Reason::Protocol));
    }

    #[test]
    fn truncated_udp_reply_asks_for_tcp_and_tcp_pieces_are_joined() {
        let mut c = check("big.example.com", DnsRecordType::Txt, Some("v=spf1 -all"));
        let tc = reply_with(&c, RCODE::NoError, PacketFlag::TRUNCATION, vec![]);
        assert_eq!(udp(&mut c, &tc), DnsStep::RetryOverTcp);

        let full = reply(&c, vec![txt("big.example.com", &["v=spf1", " -all"])]);
        let mut framed = (full.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&full);
        assert_eq!(c.on_tcp_bytes(&framed), ok());
        for split in 0..=framed.len() {
            c.restart(ID);
            let first = c.on_tcp_bytes(&framed[..split]);
            if split < framed.len() {
                assert_eq!(first, DnsStep::Wait, "split at {split}");
                assert_eq!(c.tcp_buffered(), split);
                assert_eq!(c.on_tcp_bytes(&framed[split..]), ok(), "split at {split}");
            } else {
                assert_eq!(first, ok());
            }
        }
        // Byte by byte.
        c.restart(ID);
        let steps: Vec<DnsStep> = framed.chunks(1).map(|b| c.on_tcp_bytes(b)).collect();
        assert_eq!(steps.last(), Some(&ok()));
        assert!(steps[..steps.len() - 1].iter().all(|s| *s == DnsStep::Wait));
        // A TC bit over TCP is judged, not retried.
        c.restart(ID);
        let mut framed = (tc.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&tc);
        assert_eq!(
            c.on_tcp_bytes(&framed),
            dns("no TXT answer, expected \"v=spf1 -all\"")
        );
    }

    #[test]
    fn tcp_skips_frames_that_are_not_ours() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.1"));
        let good = reply(&c, vec![a("www.example.com", "10.0.0.1")]);
        let mut stale = good.clone();
        stale[..2].copy_from_slice(&(ID ^ 1).to_be_bytes());
        let mut stream = Vec::new();
        for m in [&stale, &good] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        for split in 0..=stream.len() {
            c.restart(ID);
            let mut steps = vec![c.on_tcp_bytes(&stream[..split])];
            steps.push(c.on_tcp_bytes(&stream[split..]));
            assert!(steps.contains(&ok()), "split at {split}: {steps:?}");
        }
        c.restart(ID);
        assert_eq!(c.on_tcp_bytes(&stream[..3]), DnsStep::Wait);
        assert_eq!(
            c.on_tcp_eof(),
            DnsStep::Done(
                Reason::Protocol,
                format!(
                    "connection closed inside a reply (1 of {} bytes)",
                    stale.len()
                )
            )
        );
        c.restart(ID);
        assert_eq!(reason(&c.on_tcp_eof()), Some(Reason::Protocol));
        // An empty frame is malformed.
        assert_eq!(reason(&c.on_tcp_bytes(&[0, 0])), Some(Reason::Protocol));
    }

    #[test]
    fn tcp_buffer_stays_within_one_frame() {
        let mut c = check("www.example.com", DnsRecordType::A, None);
        // One 65,535-byte frame: our id, a reply header, then garbage.
        let mut stream = vec![0xff, 0xff];
        stream.extend_from_slice(&ID.to_be_bytes());
        stream.extend_from_slice(&[0x81, 0x80]);
        stream.extend(std::iter::repeat_n(0xabu8, 70_000));
        for piece in stream.chunks(1000) {
            let step = c.on_tcp_bytes(piece);
            assert!(c.tcp_buffered() <= DNS_TCP_REPLY_BYTES_MAX);
            assert!(c.tcp.capacity() <= DNS_TCP_REPLY_BYTES_MAX);
            if step != DnsStep::Wait {
                assert_eq!(reason(&step), Some(Reason::Protocol));
                return;
            }
        }
        panic!("a full garbage frame was not judged");
    }

    #[test]
    fn replies_that_are_not_ours_are_ignored() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.1"));
        let good = reply(&c, vec![a("www.example.com", "10.0.0.1")]);

        let mut wrong_id = good.clone();
        wrong_id[..2].copy_from_slice(&(ID.wrapping_add(1)).to_be_bytes());
        assert_eq!(udp(&mut c, &wrong_id), DnsStep::Wait);

        let mut not_reply = good.clone();
        not_reply[2] &= 0x7f;
        assert_eq!(udp(&mut c, &not_reply), DnsStep::Wait);

        let mut other_opcode = good.clone();
        other_opcode[2] |= 0x10;
        assert_eq!(udp(&mut c, &other_opcode), DnsStep::Wait);

        let other = check("www.example.org", DnsRecordType::A, None);
        let mut other_name = reply(&other, vec![]);
        other_name[..2].copy_from_slice(&ID.to_be_bytes());
        assert_eq!(udp(&mut c, &other_name), DnsStep::Wait);

        let other = check("www.example.com", DnsRecordType::Aaaa, None);
        assert_eq!(udp(&mut c, &reply(&other, vec![])), DnsStep::Wait);

        // Case of the question does not matter (0x20-style servers).
        let upper = check("WWW.EXAMPLE.COM", DnsRecordType::A, None);
        let r = reply(&upper, vec![a("WWW.EXAMPLE.COM", "10.0.0.1")]);
        assert_eq!(udp(&mut c, &r), ok());

        // After ignoring, the real reply still decides.
        assert_eq!(udp(&mut c, &good), ok());
        c.restart(ID + 1);
        assert_eq!(c.id(), ID + 1);
        assert_eq!(udp(&mut c, &good), DnsStep::Wait);
    }

    #[test]
    fn garbage_and_broken_replies_are_protocol() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.1"));
        for g in [
            &b""[..],
            b"\x00",
            b"garbage",
            b"\x5e\xed\x81\x80\x00\x01", // a cut header
        ] {
            assert_eq!(reason(&udp(&mut c, g)), Some(Reason::Protocol), "{g:?}");
        }
        let good = reply(&c, vec![a("www.example.com", "10.0.0.1")]);
        // Every cut inside the records is malformed (the header and question are intact).
        let question_end = 12 + 17 + 4;
        for cut in question_end..good.len() {
            assert_eq!(
                reason(&udp(&mut c, &good[..cut])),
                Some(Reason::Protocol),
                "cut at {cut}"
            );
        }
        // Two questions.
        let mut two = good.clone();
        two[5] = 2;
        assert_eq!(reason(&udp(&mut c, &two)), Some(Reason::Protocol));
        // More answers announced than present.
        let mut more = good.clone();
        more[7] = 2;
        assert_eq!(reason(&udp(&mut c, &more)), Some(Reason::Protocol));
        // An A record of 5 bytes.
        let mut long_a = good.clone();
        long_a.push(0);
        let rdlen_at = long_a.len() - 7;
        long_a[rdlen_at] = 5;
        assert_eq!(reason(&udp(&mut c, &long_a)), Some(Reason::Protocol));
        // Trailing bytes after the last record are ignored.
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(udp(&mut c, &trailing), ok());
    }

    /// A reply with hand-made owner names in its answer.
    fn with_answer_owner(c: &DnsCheck, owner: &[u8]) -> Vec<u8> {
        let mut r = reply(c, vec![]);
        r[7] = 1;
        r.extend_from_slice(owner);
        r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        r
    }

    #[test]
    fn name_compression_is_checked() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.1"));
        // A pointer back to the question name: fine.
        assert_eq!(
            {
                let m = with_answer_owner(&c, &[0xc0, 12]);
                udp(&mut c, &m)
            },
            ok()
        );
        // A pointer to itself, forward, or into the header.
        let at = reply(&c, vec![]).len() as u8;
        for owner in [[0xc0, at], [0xc0, at + 2], [0xc0, 2]] {
            let r = with_answer_owner(&c, &owner);
            assert_eq!(
                reason(&udp(&mut c, &r)),
                Some(Reason::Protocol),
                "{owner:?}"
            );
        }
        // A loop through labels: "a" then a pointer back to the "a".
        let owner = [1, b'a', 0xc0, at];
        let r = with_answer_owner(&c, &owner);
        assert_eq!(
            udp(&mut c, &r),
            DnsStep::Done(
                Reason::Protocol,
                "malformed reply: a name has too many pointers".into()
            )
        );
        // Reserved label types.
        for first in [0x40u8, 0x80] {
            let r = with_answer_owner(&c, &[first, 0]);
            assert_eq!(reason(&udp(&mut c, &r)), Some(Reason::Protocol));
        }
        // Long names built from chains of backward pointers: 3 labels of 63 bytes read fine,
        // 5 are past 255 bytes.
        for (segments, expect) in [
            (3, ok()),
            (
                5,
                DnsStep::Done(
                    Reason::Protocol,
                    "malformed reply: a name is longer than 255 bytes".into(),
                ),
            ),
        ] {
            assert_eq!(
                {
                    let m = chained(&c, segments);
                    udp(&mut c, &m)
                },
                expect,
                "{segments}"
            );
        }
    }

    /// A reply whose first answer (of an unknown type) holds `segments` name pieces, each a
    /// 63-byte label and a pointer to the previous piece, and whose second answer, an A record,
    /// is owned by the last piece.
    fn chained(c: &DnsCheck, segments: usize) -> Vec<u8> {
        let mut r = reply(c, vec![]);
        r[7] = 2;
        r.extend_from_slice(&[0xc0, 12, 0, 99, 0, 1, 0, 0, 0, 60]);
        let rdlen_at = r.len();
        r.extend_from_slice(&[0, 0]);
        let mut prev: Option<usize> = None;
        for _ in 0..segments {
            let start = r.len();
            r.push(63);
            r.extend(std::iter::repeat_n(b'x', 63));
            match prev {
                Some(p) => r.extend_from_slice(&[0xc0 | (p >> 8) as u8, p as u8]),
                None => r.push(0),
            }
            prev = Some(start);
        }
        let rdlen = (r.len() - rdlen_at - 2) as u16;
        r[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        let p = prev.unwrap();
        r.extend_from_slice(&[0xc0 | (p >> 8) as u8, p as u8]);
        r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        r
    }

    #[test]
    fn aaaa_answers() {
        let mut c = check("v6.example.com", DnsRecordType::Aaaa, Some("2001:db8::1"));
        let r = reply(&c, vec![aaaa("v6.example.com", "2001:0db8:0:0:0:0:0:0001")]);
        assert_eq!(udp(&mut c, &r), ok());
        let r = reply(&c, vec![aaaa("v6.example.com", "2001:db8::2")]);
        assert_eq!(
            udp(&mut c, &r),
            dns("answer 2001:db8::2 != expected 2001:db8::1")
        );
    }

    #[test]
    fn cname_and_ns_answers() {
        for expected in ["web.example.net", "WEB.Example.NET.", " web.example.net "] {
            let mut c = check("www.example.com", DnsRecordType::Cname, Some(expected));
            let r = reply(&c, vec![cname("www.example.com", "web.example.net")]);
            assert_eq!(udp(&mut c, &r), ok(), "{expected:?}");
        }
        let mut c = check(
            "www.example.com",
            DnsRecordType::Cname,
            Some("web.example.org"),
        );
        let r = reply(&c, vec![cname("www.example.com", "web.example.net")]);
        assert_eq!(
            udp(&mut c, &r),
            dns("answer web.example.net != expected web.example.org")
        );

        let mut c = check("example.com", DnsRecordType::Ns, Some("ns2.example.com."));
        let ns = |n: &'static str| rr("example.com", RData::NS(NS(Name::new_unchecked(n))));
        let r = reply(&c, vec![ns("ns1.example.com"), ns("ns2.example.com")]);
        assert_eq!(udp(&mut c, &r), ok());
        let r = reply(&c, vec![ns("ns1.example.com")]);
        assert_eq!(
            udp(&mut c, &r),
            dns("answer ns1.example.com != expected ns2.example.com.")
        );
    }

    #[test]
    fn mx_answers() {
        let answers = || {
            vec![
                mx("example.com", 10, "mx1.example.com"),
                mx("example.com", 20, "mx2.example.com"),
            ]
        };
        for expected in [
            "mx2.example.com",
            "20 mx2.example.com",
            "10  MX1.example.com.",
        ] {
            let mut c = check("example.com", DnsRecordType::Mx, Some(expected));
            assert_eq!(
                {
                    let m = reply(&c, answers());
                    udp(&mut c, &m)
                },
                ok(),
                "{expected:?}"
            );
        }
        let mut c = check("example.com", DnsRecordType::Mx, Some("10 mx2.example.com"));
        assert_eq!(
            {
                let m = reply(&c, answers());
                udp(&mut c, &m)
            },
            dns("answers 10 mx1.example.com, 20 mx2.example.com != expected 10 mx2.example.com")
        );
    }

    #[test]
    fn txt_answers() {
        let answers = || {
            vec![
                txt("example.com", &["google-site-verification=abc"]),
                txt("example.com", &["v=spf1 include:_spf.example.com", " ~all"]),
            ]
        };
        for expected in [
            "v=spf1 include:_spf.example.com ~all",
            "\"v=spf1 include:_spf.example.com ~all\"",
            "google-site-verification=abc",
        ] {
            let mut c = check("example.com", DnsRecordType::Txt, Some(expected));
            assert_eq!(
                {
                    let m = reply(&c, answers());
                    udp(&mut c, &m)
                },
                ok(),
                "{expected:?}"
            );
        }
        for expected in ["v=spf1", "V=SPF1 include:_spf.example.com ~all", ""] {
            let mut c = check("example.com", DnsRecordType::Txt, Some(expected));
            assert_eq!(
                reason(&{
                    let m = reply(&c, answers());
                    udp(&mut c, &m)
                }),
                Some(Reason::Dns)
            );
        }
        let mut c = check("example.com", DnsRecordType::Txt, Some("\"v=spf1\""));
        let m = reply(&c, answers());
        assert_eq!(
            udp(&mut c, &m),
            dns(
                "answers \"google-site-verification=abc\", \"v=spf1 include:_spf.example.com ~all\" \
                 != expected \"v=spf1\""
            )
        );
        let mut c = check("example.com", DnsRecordType::Txt, Some("x"));
        let r = reply(&c, vec![txt("example.com", &["a\"b\\c\u{7f}"])]);
        assert_eq!(
            udp(&mut c, &r),
            dns("answer \"a\"b\\092c\\127\" != expected \"x\"")
        );
    }

    #[test]
    fn soa_answers() {
        let soa = rr(
            "example.com",
            RData::SOA(SOA {
                mname: Name::new_unchecked("ns1.example.com"),
                rname: Name::new_unchecked("hostmaster.example.com"),
                serial: 2024010101,
                refresh: 7200,
                retry: 3600,
                expire: 1209600,
                minimum: 300,
            }),
        );
        for expected in [
            "ns1.example.com",
            "NS1.example.com. hostmaster.example.com.",
            "ns1.example.com hostmaster.example.com 2024010101",
            "ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300",
        ] {
            let mut c = check("example.com", DnsRecordType::Soa, Some(expected));
            assert_eq!(
                {
                    let m = reply(&c, vec![soa.clone()]);
                    udp(&mut c, &m)
                },
                ok(),
                "{expected:?}"
            );
        }
        let mut c = check(
            "example.com",
            DnsRecordType::Soa,
            Some("ns1.example.com x 1"),
        );
        assert_eq!(
            {
                let m = reply(&c, vec![soa.clone()]);
                udp(&mut c, &m)
            },
            dns(
                "answer ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300 \
                 != expected ns1.example.com x 1"
            )
        );
    }

    #[test]
    fn records_of_another_class_do_not_count() {
        let mut c = check("www.example.com", DnsRecordType::A, Some("10.0.0.1"));
        let mut other = a("www.example.com", "10.0.0.1");
        other.class = CLASS::CH;
        assert_eq!(
            {
                let m = reply(&c, vec![other]);
                udp(&mut c, &m)
            },
            dns("no A answer, expected 10.0.0.1")
        );
    }

    #[test]
    fn details_are_bounded() {
        let long: &'static str = Box::leak("z".repeat(255).into_boxed_str());
        let mut c = check("example.com", DnsRecordType::Txt, Some(long));
        let answers = (0..20).map(|_| txt("example.com", &[long, long])).collect();
        let m = reply(&c, answers);
        match udp(&mut c, &m) {
            DnsStep::Done(Reason::Dns, d) => {
                assert!(d.len() <= DNS_DETAIL_BYTES_MAX, "{}", d.len());
                assert!(d.ends_with("..."));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_address() {
        let mut p = pulse("x", DnsRecordType::A, "NOERROR", None);
        p.server = Some("127.0.0.1:5353".into());
        assert_eq!(server_addr(&p), Some("127.0.0.1:5353".parse().unwrap()));
        p.server = Some("[::1]:53".into());
        assert_eq!(server_addr(&p), Some("[::1]:53".parse().unwrap()));
    }
}
