//! Small parsers for the textual values of the file: HTTP URLs, host names, ports, HTTP tokens,
//! status-code ranges, DNS servers and RFC 3339 timestamps.
//!
//! Each returns `Err(reason)` with a short reason phrase; the caller adds the field path, the
//! line and the value as it was written (never a substituted secret). They are pure functions
//! of a `&str` so that they are easy to unit-test and cost nothing on the happy path beyond a
//! scan of the bytes.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::config::model::{HttpUrl, Scheme, StatusRange};
use crate::limits::URL_BYTES_MAX;

/// Parses an `http://` or `https://` URL into scheme, host, port (default 80/443) and path
/// with query (default `/`). The fragment is dropped (it is never sent).
pub(crate) fn parse_http_url(s: &str) -> Result<HttpUrl, String> {
    if s.len() > URL_BYTES_MAX {
        return Err(format!("longer than {URL_BYTES_MAX} bytes"));
    }
    let Some(colon) = s.find(':') else {
        return Err("missing scheme; write http://HOST/PATH or https://HOST/PATH".into());
    };
    let scheme_text = &s[..colon];
    let scheme_ok = scheme_text.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic() || (i > 0 && (b.is_ascii_digit() || b"+-.".contains(&b)))
    });
    if scheme_text.is_empty() || !scheme_ok {
        return Err("missing scheme; write http://HOST/PATH or https://HOST/PATH".into());
    }
    let scheme = if scheme_text.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else if scheme_text.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        return Err("scheme must be http or https".into());
    };
    let Some(rest) = s[colon + 1..].strip_prefix("//") else {
        return Err(format!("expected \"//\" after \"{scheme_text}:\""));
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    if authority.contains('@') {
        return Err("credentials in the URL are not supported; send them in a header".into());
    }
    let (host, port_text) = split_host_port(authority)?;
    if host.is_empty() {
        return Err("host is empty".into());
    }
    check_host(host)?;
    let port = match port_text {
        None => match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        },
        Some(p) => parse_port(p)?,
    };
    let mut path_q = &rest[auth_end..];
    if let Some(hash) = path_q.find('#') {
        path_q = &path_q[..hash];
    }
    if let Some(bad) = path_q.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
        let what = if bad == b' ' {
            "a space"
        } else if bad < 0x20 || bad == 0x7f {
            "a control character"
        } else {
            "a non-ASCII character"
        };
        return Err(format!("path contains {what}; percent-encode it"));
    }
    let path = if path_q.is_empty() {
        "/".to_string()
    } else if path_q.starts_with('?') {
        format!("/{path_q}")
    } else {
        path_q.to_string()
    };
    Ok(HttpUrl {
        scheme,
        host: host.to_string(),
        port,
        path,
    })
}

/// Splits `host[:port]` or `[v6][:port]`. The port text is returned unparsed.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(after) = authority.strip_prefix('[') {
        let Some(close) = after.find(']') else {
            return Err("missing ']' after an IPv6 address".into());
        };
        let host = &after[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        let tail = &after[close + 1..];
        if tail.is_empty() {
            return Ok((host, None));
        }
        return match tail.strip_prefix(':') {
            Some(p) => Ok((host, Some(p))),
            None => Err(format!("unexpected {tail:?} after the IPv6 address")),
        };
    }
    match authority.split_once(':') {
        None => Ok((authority, None)),
        Some((h, p)) if !p.contains(':') => Ok((h, Some(p))),
        Some(_) => Err("an IPv6 address must be written in brackets, as [::1]".into()),
    }
}

/// A TCP/UDP port, 1..=65535, digits only.
pub(crate) fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("port is empty".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {p:?} is not a number"));
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port {p} is out of range 1-65535")),
    }
}

/// A host: an IPv4/IPv6 literal or a DNS name (letters, digits, `-`, `_`, dots; labels of at
/// most 63 bytes, 253 in all; one trailing dot allowed).
pub(crate) fn check_host(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("host is empty".into());
    }
    if h.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    if name.len() > 253 {
        return Err(format!("host name {h:?} is longer than 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("host name {h:?} has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("host name {h:?} has a label longer than 63 bytes"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "host name {h:?} has a label that starts or ends with '-'"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!("host name {h:?} contains {c:?}"));
        }
    }
    Ok(())
}

/// A host given alone (tcp, icmp, tls): brackets around an IPv6 literal are removed.
pub(crate) fn bare_host(h: &str) -> Result<&str, String> {
    let inner = match h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(v6) => {
            if v6.parse::<Ipv6Addr>().is_err() {
                return Err(format!("{v6:?} is not an IPv6 address"));
            }
            v6
        }
        None => h,
    };
    check_host(inner)?;
    Ok(inner)
}

/// An HTTP token (RFC 9110 `tchar`s): method and header names.
pub(crate) fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// One `expected_status` item: `200`, `2xx` or `200-299`; codes are 100..=599.
pub(crate) fn parse_status(s: &str) -> Result<StatusRange, String> {
    let code = |t: &str| -> Option<u16> {
        if t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse::<u16>().ok().filter(|c| (100..=599).contains(c))
        } else {
            None
        }
    };
    let b = s.as_bytes();
    if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
        let lo = u16::from(b[0] - b'0') * 100;
        return Ok(StatusRange { lo, hi: lo + 99 });
    }
    if let Some(c) = code(s) {
        return Ok(StatusRange { lo: c, hi: c });
    }
    if let Some((a, z)) = s.split_once('-')
        && let (Some(lo), Some(hi)) = (code(a.trim()), code(z.trim()))
    {
        if lo > hi {
            return Err(format!("range {s:?} is backwards"));
        }
        return Ok(StatusRange { lo, hi });
    }
    Err(format!(
        "invalid status {s:?}: write a code (200), a class (2xx) or a range (200-299), codes 100-599"
    ))
}

/// A DNS server `ip[:port]` (port default 53), normalised to `ip:port` / `[v6]:port`.
pub(crate) fn parse_dns_server(s: &str) -> Result<String, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err("port 0 is out of range 1-65535".into());
        }
        return Ok(sa.to_string());
    }
    let ip_text = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    match ip_text.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, 53).to_string()),
        Err(_) => {
            Err("must be an IP address with an optional port, as 1.1.1.1:53 or [::1]:53".into())
        }
    }
}

/// RFC 3339 timestamp (`2026-03-01T02:00:00Z`, `2026-03-01T03:00:00.5+01:00`) to Unix ms.
/// A space or lower-case `t`/`z` is accepted as RFC 3339 allows.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid timestamp {s:?}: write RFC 3339, as 2026-03-01T02:00:00Z");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let t = &b[r];
        if t.iter().all(u8::is_ascii_digit) {
            Ok(t.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
        } else {
            Err(bad())
        }
    };
    let seps_ok = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !seps_ok {
        return Err(bad());
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut pos = 19;
    let mut millis = 0i64;
    if b[pos] == b'.' {
        let start = pos + 1;
        pos = start;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(bad());
        }
        let digits = &b[start..pos.min(start + 3)];
        millis = digits
            .iter()
            .fold(0i64, |a, &d| a * 10 + i64::from(d - b'0'));
        for _ in digits.len()..3 {
            millis *= 10;
        }
    }
    let offset_s = match &b[pos..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hh = num(pos + 1..pos + 3)?;
            let mm = num(pos + 4..pos + 6)?;
            let _ = (h1, h2, m1, m2);
            if hh > 23 || mm > 59 {
                return Err(bad());
            }
            let off = hh * 3600 + mm * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return Err(bad()),
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_s;
    let ms = secs * 1000 + millis;
    u64::try_from(ms).map_err(|_| format!("timestamp {s:?} is before 1970"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> HttpUrl {
        parse_http_url(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn urls_with_defaults() {
        let u = url("http://10.0.0.7:8080/health");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Http, "10.0.0.7", 8080, "/health")
        );
        let u = url("https://example.com");
        assert_eq!(
            (u.scheme, u.port, u.path.as_str()),
            (Scheme::Https, 443, "/")
        );
        let u = url("http://example.com?x=1");
        assert_eq!((u.port, u.path.as_str()), (80, "/?x=1"));
        let u = url("HTTP://h/a/b?q=1&r=2#frag");
        assert_eq!((u.scheme, u.path.as_str()), (Scheme::Http, "/a/b?q=1&r=2"));
        let u = url("http://[::1]:9000/x");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        let u = url("http://[fe80::1]");
        assert_eq!((u.host.as_str(), u.port), ("fe80::1", 80));
    }

    #[test]
    fn bad_urls() {
        let cases = [
            ("htp:/x", "scheme must be http or https"),
            ("ftp://x/", "scheme must be http or https"),
            ("example.com/x", "missing scheme"),
            ("http:/x", "expected \"//\""),
            ("http:///x", "host is empty"),
            ("http://:80/x", "host is empty"),
            ("http://h:0/", "out of range"),
            ("http://h:70000/", "out of range"),
            ("http://h:/", "port is empty"),
            ("http://h:8o/", "not a number"),
            ("http://u:p@h/", "credentials"),
            ("http://::1/", "brackets"),
            ("http://[::g]/", "not an IPv6"),
            ("http://h/a b", "a space"),
            ("http://h/\u{e9}", "non-ASCII"),
            ("http://bad host/", "contains ' '"),
        ];
        for (u, want) in cases {
            let e = parse_http_url(u).expect_err(u);
            assert!(e.contains(want), "{u}: {e}");
        }
        let long = format!("http://h/{}", "a".repeat(URL_BYTES_MAX));
        assert!(parse_http_url(&long).unwrap_err().contains("longer than"));
    }

    #[test]
    fn status_ranges() {
        let r = |lo, hi| StatusRange { lo, hi };
        assert_eq!(parse_status("200"), Ok(r(200, 200)));
        assert_eq!(parse_status("2xx"), Ok(r(200, 299)));
        assert_eq!(parse_status("5XX"), Ok(r(500, 599)));
        assert_eq!(parse_status("200-299"), Ok(r(200, 299)));
        assert_eq!(parse_status("301 - 308"), Ok(r(301, 308)));
        for bad in [
            "600", "99", "6xx", "2x", "299-200", "abc", "", "2000", "200-",
        ] {
            assert!(parse_status(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_tokens() {
        assert!(check_host("db-1.internal").is_ok());
        assert!(check_host("_sip._tcp.example.com.").is_ok());
        assert!(check_host("10.1.2.3").is_ok());
        assert!(check_host("a..b").is_err());
        assert!(check_host("a/b").is_err());
        assert_eq!(bare_host("[::1]"), Ok("::1"));
        assert!(is_http_token("GET") && is_http_token("M-SEARCH"));
        assert!(!is_http_token("GE T") && !is_http_token(""));
    }

    #[test]
    fn dns_servers() {
        assert_eq!(parse_dns_server("1.1.1.1").as_deref(), Ok("1.1.1.1:53"));
        assert_eq!(
            parse_dns_server("1.1.1.1:5353").as_deref(),
            Ok("1.1.1.1:5353")
        );
        assert_eq!(parse_dns_server("::1").as_deref(), Ok("[::1]:53"));
        assert_eq!(parse_dns_server("[::1]:54").as_deref(), Ok("[::1]:54"));
        assert!(parse_dns_server("dns.google").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339_ms("2026-03-01T02:00:00Z"),
            Ok(1_772_330_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-03-01T03:00:00+01:00"),
            Ok(1_772_330_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-03-01 02:00:00.25z"),
            Ok(1_772_330_400_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00-00:30"),
            Ok(1_709_166_600_000)
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-03-01T02:00:00",
            "2026-03-01",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad}");
        }
    }
}
