//! What a DNS pulse's text means, checked at load: the query name in wire form, the rcode, the
//! expected answer parsed for its record type, and the server it asks (its `server`, else the
//! system resolver from /etc/resolv.conf, read once per process).
//!
//! Pure text to bytes, no I/O but the one read of resolv.conf: lowering uses [`compile`] to
//! refuse a pulse that could never pass (with its line), and the probe's `DnsCheck` is built
//! from the same compiled query, so the two can never disagree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::config::model::{DnsPulse, DnsRecordType};
use crate::limits::{DNS_LABEL_BYTES_MAX, DNS_NAME_BYTES_MAX, DNS_RESOLV_CONF_BYTES_MAX};

/// A DNS pulse compiled: what a check sends and what it accepts.
#[derive(Debug, Clone)]
pub struct DnsQuery {
    pub rtype: DnsRecordType,
    pub qtype: u16,
    /// The query name in wire form, as configured (case kept).
    pub qname: Box<[u8]>,
    pub expected_rcode: u16,
    pub(crate) expected: Option<Expected>,
}

/// Compiles `pulse`. Fails, with a message for the operator, when the query name cannot be
/// encoded, the rcode is unknown, or `expected_answer` cannot be an answer of the record type
/// (an A answer that is no IPv4 address, an MX preference that is no number): such a check
/// could never pass, so it is refused at load.
pub fn compile(pulse: &DnsPulse) -> Result<DnsQuery, String> {
    let qname = encode_name(pulse.query.trim(), false).map_err(|e| format!("query name {e}"))?;
    let expected_rcode = rcode_from_name(&pulse.expected_rcode).ok_or_else(|| {
        format!(
            "unknown rcode {:?}; known: {}",
            pulse.expected_rcode,
            RCODE_NAMES.map(|(_, n)| n).join(", ")
        )
    })?;
    let expected = match &pulse.expected_answer {
        None => None,
        Some(text) => Some(Expected {
            text: text.as_str().into(),
            want: parse_expected(pulse.record_type, text)
                .map_err(|e| format!("expected_answer {text:?} {e}"))?,
        }),
    };
    Ok(DnsQuery {
        rtype: pulse.record_type,
        qtype: type_code(pulse.record_type),
        qname: qname.into(),
        expected_rcode,
        expected,
    })
}

/// Rcode names, as `expected_rcode` spells them and details show them.
pub(crate) const RCODE_NAMES: [(u16, &str); 12] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (16, "BADVERS"),
];

/// The wire code of a record type.
pub fn type_code(t: DnsRecordType) -> u16 {
    match t {
        DnsRecordType::A => 1,
        DnsRecordType::Ns => 2,
        DnsRecordType::Cname => 5,
        DnsRecordType::Soa => 6,
        DnsRecordType::Mx => 15,
        DnsRecordType::Txt => 16,
        DnsRecordType::Aaaa => 28,
    }
}

/// The name of a record type, as the configuration spells it.
pub fn type_name(t: DnsRecordType) -> &'static str {
    match t {
        DnsRecordType::A => "A",
        DnsRecordType::Ns => "NS",
        DnsRecordType::Cname => "CNAME",
        DnsRecordType::Soa => "SOA",
        DnsRecordType::Mx => "MX",
        DnsRecordType::Txt => "TXT",
        DnsRecordType::Aaaa => "AAAA",
    }
}

/// The code of an rcode name (`NXDOMAIN` → 3), any case.
pub fn rcode_from_name(name: &str) -> Option<u16> {
    RCODE_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
        .map(|&(c, _)| c)
}

#[derive(Debug, Clone)]
pub(crate) struct Expected {
    /// As configured, for details.
    pub(crate) text: Box<str>,
    pub(crate) want: Want,
}

#[derive(Debug, Clone)]
pub(crate) enum Want {
    V4([u8; 4]),
    V6([u8; 16]),
    /// A name in wire form, lower case.
    Name(Box<[u8]>),
    Mx {
        pref: Option<u16>,
        exchange: Box<[u8]>,
    },
    Txt(Box<[u8]>),
    /// The first fields of an SOA record: two names, then up to five numbers.
    Soa(Box<[SoaField]>),
}

#[derive(Debug, Clone)]
pub(crate) enum SoaField {
    Name(Box<[u8]>),
    Num(u32),
}

/// The server a DNS check asks: its `server`, else the system resolver.
pub fn server_addr(pulse: &DnsPulse) -> Option<SocketAddr> {
    match &pulse.server {
        Some(s) => s.parse().ok(),
        None => system_resolver_once(),
    }
}

/// [`system_resolver`], read once per process: a million DNS monitors without `server` cost
/// one read of /etc/resolv.conf, not a million (a changed file is seen after a restart).
pub fn system_resolver_once() -> Option<SocketAddr> {
    static ONCE: std::sync::OnceLock<Option<SocketAddr>> = std::sync::OnceLock::new();
    *ONCE.get_or_init(system_resolver)
}

/// The first `nameserver` of /etc/resolv.conf, on port 53. `None` when the file cannot be read
/// or names no usable server (glibc would then ask 127.0.0.1; the caller decides).
pub fn system_resolver() -> Option<SocketAddr> {
    use std::io::Read;
    let file = std::fs::File::open("/etc/resolv.conf").ok()?;
    let mut text = Vec::new();
    file.take(DNS_RESOLV_CONF_BYTES_MAX as u64)
        .read_to_end(&mut text)
        .ok()?;
    parse_resolv_conf(&String::from_utf8_lossy(&text), &if_index)
}

/// An interface's index by name, from sysfs (for `fe80::1%eth0`).
fn if_index(name: &str) -> Option<u32> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !plain {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The first usable `nameserver` line of a resolv.conf text.
pub(crate) fn parse_resolv_conf(
    text: &str,
    if_index: &dyn Fn(&str) -> Option<u32>,
) -> Option<SocketAddr> {
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else {
            continue;
        };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, 53));
        }
        // An IPv6 address with a zone: fe80::1%2 or fe80::1%eth0.
        if let Some((ip, zone)) = addr.split_once('%')
            && let Ok(ip) = ip.parse::<Ipv6Addr>()
            && let Some(scope) = zone.parse::<u32>().ok().or_else(|| if_index(zone))
        {
            return Some(SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, scope)));
        }
    }
    None
}

/// A text name in wire form; `lower` folds ASCII case. `"."` is the root; one trailing dot is
/// optional.
pub(crate) fn encode_name(text: &str, lower: bool) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    let body = text.strip_suffix('.').unwrap_or(text);
    let mut out = Vec::with_capacity(body.len() + 2);
    if !body.is_empty() {
        for label in body.split('.') {
            if label.is_empty() {
                return Err(format!("{text:?} has an empty label"));
            }
            if label.len() > DNS_LABEL_BYTES_MAX {
                return Err(format!(
                    "{text:?} has a label longer than {DNS_LABEL_BYTES_MAX} bytes"
                ));
            }
            out.push(label.len() as u8);
            if lower {
                out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
            } else {
                out.extend_from_slice(label.as_bytes());
            }
        }
    }
    out.push(0);
    if out.len() > DNS_NAME_BYTES_MAX {
        return Err(format!(
            "{text:?} is longer than {DNS_NAME_BYTES_MAX} bytes in wire form"
        ));
    }
    Ok(out)
}

pub(crate) fn parse_expected(t: DnsRecordType, text: &str) -> Result<Want, String> {
    let trimmed = text.trim();
    Ok(match t {
        DnsRecordType::A => Want::V4(
            trimmed
                .parse::<Ipv4Addr>()
                .map_err(|_| "is not an IPv4 address")?
                .octets(),
        ),
        DnsRecordType::Aaaa => Want::V6(
            trimmed
                .parse::<Ipv6Addr>()
                .map_err(|_| "is not an IPv6 address")?
                .octets(),
        ),
        DnsRecordType::Cname | DnsRecordType::Ns => Want::Name(encode_name(trimmed, true)?.into()),
        DnsRecordType::Mx => {
            let words: Vec<&str> = trimmed.split_ascii_whitespace().collect();
            match words[..] {
                [exchange] => Want::Mx {
                    pref: None,
                    exchange: encode_name(exchange, true)?.into(),
                },
                [pref, exchange] => Want::Mx {
                    pref: Some(
                        pref.parse()
                            .map_err(|_| "has a preference that is not a number 0-65535")?,
                    ),
                    exchange: encode_name(exchange, true)?.into(),
                },
                _ => return Err("must be 'preference exchange' or 'exchange'".into()),
            }
        }
        DnsRecordType::Txt => {
            let unquoted = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            Want::Txt(unquoted.as_bytes().into())
        }
        DnsRecordType::Soa => {
            let words: Vec<&str> = trimmed.split_ascii_whitespace().collect();
            if words.is_empty() || words.len() > 7 {
                return Err(
                    "must be the first fields of 'mname rname serial refresh retry expire minimum'"
                        .into(),
                );
            }
            let mut fields = Vec::with_capacity(words.len());
            for (i, w) in words.iter().enumerate() {
                fields.push(if i < 2 {
                    SoaField::Name(encode_name(w, true)?.into())
                } else {
                    SoaField::Num(
                        w.parse()
                            .map_err(|_| format!("has {w:?} where a number is expected"))?,
                    )
                });
            }
            Want::Soa(fields.into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let none = |_: &str| None;
        let parse = |t: &str| parse_resolv_conf(t, &none);
        assert_eq!(
            parse(
                "# comment\n; other\nsearch example.com\nnameserver 10.1.2.3\nnameserver 10.9.9.9\n"
            ),
            Some("10.1.2.3:53".parse().unwrap())
        );
        assert_eq!(
            parse("nameserver\nnameserver bogus\n  nameserver\t::1  # trailing\n"),
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(parse("#nameserver 10.0.0.1\noptions ndots:2\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("nameserver 10.0.0.1:53\n"), None);
        assert_eq!(
            parse("nameserver fe80::1%3\n"),
            Some(SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                53,
                0,
                3
            )))
        );
        let eth = |n: &str| (n == "eth0").then_some(7);
        assert_eq!(
            parse_resolv_conf("nameserver fe80::1%eth9\nnameserver fe80::2%eth0\n", &eth),
            Some(SocketAddr::V6(SocketAddrV6::new(
                "fe80::2".parse().unwrap(),
                53,
                0,
                7
            )))
        );
        assert_eq!(if_index("../../etc"), None);
        // The real one never panics, whatever the machine has.
        let _ = system_resolver();
    }
}
