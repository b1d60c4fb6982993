//! Lowering of `pulse_check`: the interval and timeout rules, thresholds, and one function
//! per check type (http, tcp, icmp, dns, tls) with its own keys and defaults.

use super::*;

impl Lower<'_> {
    /// How often to check: required, and more than 0, because a check every 0 s cannot be
    /// scheduled (the Go original loads such a file, then cannot run it).
    pub(super) fn interval(&mut self, m: M<'_>, p: &Path) -> Option<Duration> {
        let ip = p.key("interval");
        let Some(n) = m.get("interval") else {
            self.err(
                &ip,
                m.line,
                "missing required field: how often to check, e.g. interval: 30s",
            );
            return None;
        };
        let d = self.duration_node(n, &ip, false)?;
        if d > Duration::from_millis(INTERVAL_MS_MAX) {
            self.err(
                &ip,
                n.line(),
                format!(
                    "{} is longer than the longest interval, {}",
                    format_go_duration(d),
                    format_go_duration(Duration::from_millis(INTERVAL_MS_MAX))
                ),
            );
            return None;
        }
        if d.as_millis() == 0 && !d.is_zero() {
            self.err(&ip, n.line(), "must be at least 1ms");
            return None;
        }
        if d.is_zero() {
            self.err(&ip, n.line(), "must be greater than 0: a check every 0 s cannot be scheduled; write how often to check, e.g. 30s");
            return None;
        }
        Some(d)
    }

    /// A port to connect to. Port 0 loads in the Go original, where every check fails (nothing
    /// listens on port 0): here the monitor loads disabled, with a warning.
    pub(super) fn port(&mut self, m: M<'_>, p: &Path) -> Option<u16> {
        let n = self.need(m, "port", p)?;
        let pp = p.key("port");
        if let Node::Scalar { text, line, .. } = n
            && text.as_ref() == "0"
        {
            self.compat(&pp, *line, "port 0 cannot be checked (nothing listens on it; the Go original failed every check): the monitor is loaded disabled");
            self.disable = true;
            return Some(0);
        }
        self.uint_node(n, &pp, 1, 65535).map(|v| v as u16)
    }

    pub(super) fn pulse(&mut self, n: &Node, p: &Path) -> Option<PulseSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, PULSE_KEYS);
        let ty = self.req_str(m, "type", p);
        let interval = self.interval(m, p);
        let timeout = match m.get("timeout") {
            Some(n) => self.duration_node(n, &p.key("timeout"), false),
            None => Some(Duration::ZERO),
        };
        let mut timeout = match (interval, timeout) {
            (Some(i), Some(t)) if t.is_zero() => {
                // The Go original loads it and waits without a limit.
                let d = i.min(DEFAULT_PULSE_TIMEOUT);
                let line = m.get("timeout").map_or(m.line, Node::line);
                self.compat(
                    &p.key("timeout"),
                    line,
                    format!(
                        "no timeout given (the Go original waited without limit): {}",
                        format_go_duration(d)
                    ),
                );
                Some(d)
            }
            (_, Some(t)) if t.as_millis() == 0 && !t.is_zero() => {
                let line = m.get("timeout").map_or(m.line, Node::line);
                self.err(&p.key("timeout"), line, "must be at least 1ms");
                None
            }
            (_, t) => t,
        };
        if let (Some(i), Some(t)) = (interval, timeout)
            && t > i
        {
            // The Go original ran such a monitor; a check cannot outlast its interval here.
            let line = m.get("timeout").map_or(m.line, Node::line);
            self.compat(
                &p.key("timeout"),
                line,
                format!(
                    "timeout {} is longer than interval {}: clamped to the interval",
                    format_go_duration(t),
                    format_go_duration(i)
                ),
            );
            timeout = Some(i);
        }
        let unhealthy = match (m.get("unhealthy_threshold"), m.get("max_failures")) {
            (Some(v), Some(alias)) => {
                self.compat(
                    &p.key("max_failures"),
                    alias.line(),
                    "max_failures is an alias of unhealthy_threshold, which is also set: unhealthy_threshold wins",
                );
                self.threshold(v, &p.key("unhealthy_threshold"), 1)
            }
            (Some(v), None) => self.threshold(v, &p.key("unhealthy_threshold"), 1),
            (None, Some(v)) => self.threshold(v, &p.key("max_failures"), 1),
            (None, None) => Some(1),
        };
        let healthy = match m.get("healthy_threshold") {
            None => None,
            Some(v) => {
                match self.uint_node(v, &p.key("healthy_threshold"), 0, THRESHOLD_CHECKS_MAX) {
                    Some(0) => {
                        self.compat(
                        &p.key("healthy_threshold"),
                        v.line(),
                        "0 means the default here, as in the Go original (2 successes; 3 to verify an intervention)",
                    );
                        None
                    }
                    other => other,
                }
            }
        };
        let ty = ty?;
        let known = ["http", "tcp", "icmp", "dns", "tls"];
        if !known.contains(&ty.value.as_ref()) {
            self.err(
                &p.key("type"),
                ty.line,
                format!(
                    "unknown pulse type {:?}; known types: {PULSE_TYPES}",
                    ty.shown()
                ),
            );
            return None;
        }
        let retries = match m.get("retries") {
            Some(n) if matches!(ty.value.as_ref(), "dns" | "tls") => {
                self.compat(
                    &p.key("retries"),
                    n.line(),
                    format!("retries has no meaning for a {} check (ignored)", ty.value),
                );
                0
            }
            Some(n) => self.retries_node(n, &p.key("retries")).unwrap_or(0),
            None => 0,
        };
        let cp = p.key("config");
        let cfg = self.need(m, "config", p).and_then(|c| self.map(c, &cp));
        let kind = match (ty.value.as_ref(), cfg) {
            (_, None) => None,
            ("http", Some(c)) => self.http(c, &cp, retries).map(PulseKind::Http),
            ("tcp", Some(c)) => self.tcp(c, &cp, retries).map(PulseKind::Tcp),
            ("icmp", Some(c)) => self.icmp(c, &cp, retries).map(PulseKind::Icmp),
            ("dns", Some(c)) => self.dns(c, &cp).map(PulseKind::Dns),
            (_, Some(c)) => self.tls(c, &cp).map(PulseKind::Tls),
        };
        Some(PulseSpec {
            interval: interval?,
            timeout: timeout?,
            unhealthy_threshold: unhealthy?,
            healthy_threshold: healthy,
            kind: kind?,
        })
    }

    pub(super) fn http(&mut self, m: M<'_>, p: &Path, default_retries: u32) -> Option<HttpPulse> {
        self.check_keys(m, p, HTTP_KEYS);
        if let Some((k, _)) = m.entry("auth") {
            self.compat(
                &p.key("auth"),
                k.line,
                "auth is ignored (the Go original ignored it too): send credentials as a header, e.g. headers: { Authorization: \"Bearer ${TOKEN}\" }",
            );
        }
        let url = self
            .req_str(m, "url", p)
            .and_then(|s| match parse_http_url(s.value.trim()) {
                Ok(u) if u.path.bytes().any(|b| b <= b' ' || b == 0x7f) => {
                    self.err(
                        &p.key("url"),
                        s.line,
                        format!(
                            "the path of {:?} contains a space or control character: percent-encode it (%20)",
                            s.shown()
                        ),
                    );
                    None
                }
                Ok(u) => Some(u),
                Err(e) => {
                    self.err(
                        &p.key("url"),
                        s.line,
                        format!("malformed URL {:?}: {e}", s.shown()),
                    );
                    None
                }
            });
        let method = self.method(m, p, "GET");
        let headers = m
            .get("headers")
            .map(|h| self.headers(h, &p.key("headers")))
            .unwrap_or_default();
        for (k, _) in &headers {
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|r| k.eq_ignore_ascii_case(r))
            {
                let line = m.get("headers").map_or(m.line, Node::line);
                self.err(
                    &p.key("headers").key(k),
                    line,
                    format!("cpra sets {k} itself; remove it"),
                );
            }
        }
        let body = self.opt_text(m, "body", p);
        let retries = self.check_retries(m, p, default_retries);
        let expected_status = m
            .get("expected_status")
            .map(|n| self.statuses(n, &p.key("expected_status")))
            .unwrap_or_default();
        let body_contains = self.opt_text(m, "body_contains", p);
        let max_response_time = self.opt_duration(m, "max_response_time", p, true);
        let follow_redirects = self
            .opt_uint(m, "follow_redirects", p, 0, HTTP_REDIRECTS_MAX)
            .unwrap_or(0);
        let insecure_skip_verify = self.opt_bool(m, "insecure_skip_verify", p).unwrap_or(false);
        let cert_expiry_warning = self.opt_duration(m, "cert_expiry_warning", p, true);
        let keepalive = self.opt_bool(m, "keepalive", p).unwrap_or(false);
        Some(HttpPulse {
            url: url?,
            method: method?,
            headers,
            body,
            retries,
            expected_status,
            body_contains,
            max_response_time,
            follow_redirects,
            insecure_skip_verify,
            cert_expiry_warning,
            keepalive,
        })
    }

    pub(super) fn method(&mut self, m: M<'_>, p: &Path, default: &str) -> Option<String> {
        let Some(s) = self.opt_str(m, "method", p) else {
            return Some(default.to_string());
        };
        let v = s.value.trim().to_ascii_uppercase();
        if is_http_token(&v) {
            Some(v)
        } else {
            self.err(
                &p.key("method"),
                s.line,
                format!(
                    "invalid method {:?}: must be an HTTP token such as GET or POST",
                    s.shown()
                ),
            );
            None
        }
    }

    /// Headers as a mapping `Name: value` (preferred), a list of `"Name: value"` strings or one
    /// such string (the Go original's form).
    pub(super) fn headers(&mut self, n: &Node, p: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match n {
            Node::Map { entries, line } => {
                let m = M {
                    entries,
                    line: *line,
                    fold: false,
                };
                for (i, (k, v)) in entries.iter().enumerate() {
                    let hp = p.key(&k.text);
                    if k.complex {
                        self.err(p, k.line, "mapping keys must be plain strings");
                        continue;
                    }
                    if m.entries[..i]
                        .iter()
                        .any(|(e, _)| e.text.eq_ignore_ascii_case(&k.text))
                    {
                        self.err(&hp, k.line, format!("duplicate header {:?}", k.text));
                        continue;
                    }
                    if v.is_null() {
                        self.err(&hp, k.line, "header value is missing");
                        continue;
                    }
                    if let Some(s) = self.str_node(v, &hp) {
                        self.push_header(&mut out, &k.text, s.value.trim(), &hp, s.line);
                    }
                }
            }
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    let ip = p.index(i);
                    if let Some(s) = self.str_node(item, &ip) {
                        self.header_line(&mut out, &s, &ip);
                    }
                }
            }
            Node::Scalar { .. } => {
                if let Some(s) = self.str_node(n, p) {
                    self.header_line(&mut out, &s, p);
                }
            }
        }
        if out.len() > HEADERS_PER_MONITOR_MAX {
            self.err(
                p,
                n.line(),
                format!("more than {HEADERS_PER_MONITOR_MAX} headers"),
            );
        }
        out
    }

    pub(super) fn header_line(&mut self, out: &mut Vec<(String, String)>, s: &Str<'_>, p: &Path) {
        match s.value.split_once(':') {
            Some((name, value)) => self.push_header(out, name.trim(), value.trim(), p, s.line),
            None => self.err(p, s.line, "expected \"Name: value\""),
        }
    }

    pub(super) fn push_header(
        &mut self,
        out: &mut Vec<(String, String)>,
        name: &str,
        value: &str,
        p: &Path,
        line: u32,
    ) {
        if !is_http_token(name) {
            self.err(p, line, format!("invalid header name {name:?}"));
        } else if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            // Never echo the value: it may hold a secret.
            self.err(
                p,
                line,
                "header value contains a control character (a line break?)",
            );
        } else {
            out.push((name.to_string(), value.to_string()));
        }
    }

    pub(super) fn statuses(&mut self, n: &Node, p: &Path) -> Vec<StatusRange> {
        let mut out = Vec::new();
        let mut one = |lw: &mut Self, item: &Node, ip: &Path| {
            if let Some(s) = lw.str_node(item, ip) {
                match parse_status(s.value.trim()) {
                    Ok(r) => out.push(r),
                    Err(e) => lw.err(ip, s.line, e),
                }
            }
        };
        match n {
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    one(self, item, &p.index(i));
                }
            }
            _ => one(self, n, p),
        }
        out
    }

    pub(super) fn tcp(&mut self, m: M<'_>, p: &Path, default_retries: u32) -> Option<TcpPulse> {
        self.check_keys(m, p, TCP_KEYS);
        let host = self.req_host(m, "host", p);
        let port = self.port(m, p);
        let retries = self.check_retries(m, p, default_retries);
        Some(TcpPulse {
            host: host?,
            port: port?,
            retries,
        })
    }

    pub(super) fn icmp(&mut self, m: M<'_>, p: &Path, default_retries: u32) -> Option<IcmpPulse> {
        let json = self.dialect == Dialect::Json;
        self.check_keys(m, p, if json { ICMP_JSON_KEYS } else { ICMP_KEYS });
        let host = self.req_host(m, "host", p);
        let count = match m.get("count") {
            None => 1,
            Some(n) => match self.uint_node(n, &p.key("count"), 0, ICMP_COUNT_MAX) {
                Some(0) => {
                    self.compat(
                        &p.key("count"),
                        n.line(),
                        "0 means the default (1 echo request) here, as in the Go original",
                    );
                    1
                }
                Some(c) => c,
                None => 1,
            },
        };
        let retries = self.check_retries(m, p, default_retries);
        let mut ignore_privilege = self.opt_bool(m, "ignore_privilege", p);
        if json && ignore_privilege.is_none() {
            // Go's field `Privilege` (yaml: ignore_privilege) is `privilege` in JSON.
            ignore_privilege = self.opt_bool(m, "privilege", p);
        }
        let ignore_privilege = ignore_privilege.unwrap_or(false);
        Some(IcmpPulse {
            host: host?,
            count,
            retries,
            ignore_privilege,
        })
    }

    pub(super) fn dns(&mut self, m: M<'_>, p: &Path) -> Option<DnsPulse> {
        self.check_keys(m, p, DNS_KEYS);
        let query = self
            .req_str(m, "query", p)
            .and_then(|s| match check_host(s.value.trim()) {
                Ok(()) => Some(s.value.trim().to_string()),
                Err(e) => {
                    self.err(
                        &p.key("query"),
                        s.line,
                        format!("invalid query name {:?}: {e}", s.shown()),
                    );
                    None
                }
            });
        let record_type = match self.opt_str(m, "record_type", p) {
            None => Some(DnsRecordType::A),
            Some(s) => {
                let t = match s.value.trim().to_ascii_uppercase().as_str() {
                    "A" => Some(DnsRecordType::A),
                    "AAAA" => Some(DnsRecordType::Aaaa),
                    "CNAME" => Some(DnsRecordType::Cname),
                    "MX" => Some(DnsRecordType::Mx),
                    "TXT" => Some(DnsRecordType::Txt),
                    "NS" => Some(DnsRecordType::Ns),
                    "SOA" => Some(DnsRecordType::Soa),
                    _ => None,
                };
                if t.is_none() {
                    self.err(
                        &p.key("record_type"),
                        s.line,
                        format!(
                            "unknown record type {:?}; known: A, AAAA, CNAME, MX, TXT, NS, SOA",
                            s.shown()
                        ),
                    );
                }
                t
            }
        };
        let server = match self.opt_str(m, "server", p) {
            None => Some(None),
            Some(s) => match parse_dns_server(s.value.trim()) {
                Ok(v) => Some(Some(v)),
                Err(e) => {
                    self.err(
                        &p.key("server"),
                        s.line,
                        format!("invalid DNS server {:?}: {e}", s.shown()),
                    );
                    None
                }
            },
        };
        let expected_rcode = match self.opt_str(m, "expected_rcode", p) {
            None => Some("NOERROR".to_string()),
            Some(s) => {
                let up = s.value.trim().to_ascii_uppercase();
                if RCODES.contains(&up.as_str()) {
                    Some(up)
                } else {
                    self.err(
                        &p.key("expected_rcode"),
                        s.line,
                        format!(
                            "unknown rcode {:?}; known: {}",
                            s.shown(),
                            RCODES.join(", ")
                        ),
                    );
                    None
                }
            }
        };
        let expected_answer = self.opt_text(m, "expected_answer", p);
        let pulse = DnsPulse {
            server: server?,
            query: query?,
            record_type: record_type?,
            expected_rcode: expected_rcode?,
            expected_answer,
        };
        if pulse.server.is_none() && crate::config::dns::system_resolver_once().is_none() {
            self.err(
                &p.key("server"),
                m.line,
                "no server given and /etc/resolv.conf names no nameserver: set one, e.g. server: 127.0.0.53",
            );
            return None;
        }
        // What the check could never send or match is a load error, not a failure at every
        // check (an A answer that is no IPv4 address, a name too long to encode).
        if let Err(e) = crate::config::dns::compile(&pulse) {
            let line = m
                .get("expected_answer")
                .or_else(|| m.get("query"))
                .map_or(m.line, Node::line);
            self.err(p, line, e);
            return None;
        }
        Some(pulse)
    }

    pub(super) fn tls(&mut self, m: M<'_>, p: &Path) -> Option<TlsPulse> {
        self.check_keys(m, p, TLS_KEYS);
        let host = self.req_host(m, "host", p);
        let port = self.port(m, p);
        let server_name = match self.opt_str(m, "server_name", p) {
            None => Some(None),
            Some(s) => match check_host(s.value.trim()) {
                Ok(()) => Some(Some(s.value.trim().to_string())),
                Err(e) => {
                    self.err(
                        &p.key("server_name"),
                        s.line,
                        format!("invalid server name {:?}: {e}", s.shown()),
                    );
                    None
                }
            },
        };
        let insecure_skip_verify = self.opt_bool(m, "insecure_skip_verify", p).unwrap_or(false);
        let cert_expiry_warning = self.opt_duration(m, "cert_expiry_warning", p, true);
        Some(TlsPulse {
            host: host?,
            port: port?,
            server_name: server_name?,
            insecure_skip_verify,
            cert_expiry_warning,
        })
    }
}
