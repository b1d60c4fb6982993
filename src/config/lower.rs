//! Lowering: one monitor's [`Node`] tree → a validated [`MonitorSpec`], or every problem in it.
//!
//! This is the single place where the meaning of the file is decided (defaults, types, ranges,
//! required keys, `${VAR}` substitution), shared by the YAML and JSON readers. It never stops at
//! the first problem: each field is checked on its own and all errors are collected with their
//! field path and line, then the monitor either yields a spec or does not. Paths are passed as
//! stack [`Path`]s and rendered only when something is reported, so a valid monitor costs no
//! path strings.

use std::borrow::Cow;
use std::time::Duration;

use crate::config::LoadOptions;
use crate::config::duration::{format_go_duration, parse_go_duration};
use crate::config::env::{expand_noting, redact};
use crate::config::error::{ConfigError, Path};
use crate::config::model::{
    AlertingSpec, CodeSpec, CodesSpec, Colour, DnsPulse, DnsRecordType, HttpPulse, IcmpPulse,
    InterventionAction, InterventionSpec, MaintenanceWindow, MonitorSpec, NotifierSpec, PauseAbove,
    PulseKind, PulseSpec, RemediationSpec, SmtpTls, StatusRange, TcpPulse, TlsPulse,
};
use crate::config::node::{Key, Node};
use crate::config::support;
use crate::config::text::{
    bare_host, check_host, is_http_token, parse_dns_server, parse_http_url, parse_port,
    parse_rfc3339_ms, parse_status,
};
use crate::limits::{
    CONFIG_MESSAGE_KEY_CHARS_MAX, CONFIG_STRING_BYTES_MAX, EMAIL_RECIPIENTS_MAX, EXEC_ARGS_MAX,
    EXEC_ENV_VARS_MAX, HEADERS_PER_MONITOR_MAX, HTTP_REDIRECTS_MAX, ICMP_COUNT_MAX,
    INTERVENTION_ATTEMPTS_MAX, MAINTENANCE_WINDOWS_PER_MONITOR_MAX, MONITOR_NAME_BYTES_MAX,
    RETRIES_MAX, STORM_THRESHOLD_MAX, THRESHOLD_CHECKS_MAX,
};

const MONITOR_KEYS: &[&str] = &[
    "name",
    "enabled",
    "pulse_check",
    "intervention",
    "codes",
    "maintenance",
];
const PULSE_KEYS: &[&str] = &[
    "type",
    "interval",
    "timeout",
    "unhealthy_threshold",
    "max_failures",
    "healthy_threshold",
    "config",
];
const PULSE_TYPES: &str = "http, tcp, icmp, dns, tls";
const HTTP_KEYS: &[&str] = &[
    "url",
    "method",
    "headers",
    "body",
    "retries",
    "expected_status",
    "body_contains",
    "max_response_time",
    "follow_redirects",
    "insecure_skip_verify",
    "cert_expiry_warning",
    "keepalive",
];
const TCP_KEYS: &[&str] = &["host", "port", "retries"];
const ICMP_KEYS: &[&str] = &["host", "count", "retries", "ignore_privilege"];
const DNS_KEYS: &[&str] = &[
    "server",
    "query",
    "record_type",
    "expected_rcode",
    "expected_answer",
];
const TLS_KEYS: &[&str] = &[
    "host",
    "port",
    "server_name",
    "insecure_skip_verify",
    "cert_expiry_warning",
];
const INTERVENTION_KEYS: &[&str] = &[
    "action",
    "retries",
    "max_attempts",
    "cooldown",
    "retry_backoff",
    "target",
];
const ACTIONS: &str = "docker, exec, webhook";
const DOCKER_TARGET_KEYS: &[&str] = &["container", "timeout", "type", "docker_host"];
const EXEC_TARGET_KEYS: &[&str] = &["command", "timeout", "env"];
const WEBHOOK_TARGET_KEYS: &[&str] = &["url", "method", "headers", "body", "timeout"];
const CODE_KEYS: &[&str] = &["dispatch", "notify", "config", "remind_every"];
const ALERTING_KEYS: &[&str] = &["storm_threshold", "storm_window", "remind_every"];
const REMEDIATION_KEYS: &[&str] = &["pause_above"];
const COLOURS: &str = "red, yellow, green, cyan, gray";
const NOTIFIERS: &str = "log, webhook, slack, pagerduty, alertmanager, email";
const MAINTENANCE_KEYS: &[&str] = &["start", "duration"];
const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];
/// Characters that only mean something to a shell; a string `command` containing one is refused.
const SHELL_CHARS: &[char] = &[
    '\'', '"', '$', '|', '&', ';', '<', '>', '(', ')', '`', '\\', '*', '?',
];

const DEFAULT_INTERVENTION_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The outcome of lowering one element of `monitors`.
#[derive(Debug)]
pub(crate) struct Item {
    pub index: usize,
    /// The monitor's name after substitution (for duplicate detection), when usable and there
    /// is no `spec` (otherwise it is `spec.name`).
    pub name: Option<String>,
    /// The name as shown in messages (raw text when it contained `${...}`).
    pub label: Option<String>,
    /// Line of the `name` value (0 when unknown).
    pub name_line: u32,
    /// `Some` only when the monitor has no error.
    pub spec: Option<MonitorSpec>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

/// Lowers one `monitors[index]` node. `allow_unsupported` aside, this is pure.
pub(crate) fn lower_item(node: &Node, index: usize, opts: &LoadOptions) -> Item {
    let mut lw = Lower {
        opts,
        errors: Vec::new(),
        warnings: Vec::new(),
        substituted: Vec::new(),
    };
    let root = Path::root("monitors");
    let path = root.index(index);
    let (mut name, label, name_line, mut spec) = lw.monitor(node, index, &path);
    if let Some(s) = &spec
        && !opts.allow_unsupported
    {
        for u in support::not_yet_supported(s) {
            let mut p = path.render();
            let mut line = node.line();
            let mut at = Some(node);
            for seg in &u.path {
                p.push('.');
                p.push_str(seg);
                at = at.and_then(|n| n.get(seg));
                if let Some(n) = at {
                    line = n.line();
                }
            }
            lw.errors.push(Issue {
                path: p,
                line,
                message: u.message(),
            });
        }
    }
    if !lw.errors.is_empty()
        && let Some(s) = spec.take()
    {
        name = Some(s.name);
    }
    let (errors, warnings) = if lw.errors.is_empty() && lw.warnings.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let shown = label
            .clone()
            .or_else(|| name.clone())
            .or_else(|| spec.as_ref().map(|s| s.name.clone()));
        let secrets = std::mem::take(&mut lw.substituted);
        let locate = |i: Issue| ConfigError {
            index: Some(index),
            name: shown.clone(),
            path: i.path,
            line: (i.line > 0).then_some(i.line),
            message: if secrets.is_empty() {
                i.message
            } else {
                redact(&i.message, &secrets)
            },
        };
        (
            lw.errors.into_iter().map(locate).collect(),
            lw.warnings.into_iter().map(locate).collect(),
        )
    };
    Item {
        index,
        name,
        label,
        name_line,
        spec,
        errors,
        warnings,
    }
}

/// Lowers the top-level `alerting:` block: the settings, errors and warnings.
pub(crate) fn lower_alerting(
    node: &Node,
    opts: &LoadOptions,
) -> (AlertingSpec, Vec<ConfigError>, Vec<ConfigError>) {
    lower_block(node, opts, "alerting", |lw, n, p| lw.alerting(n, p))
}

/// Lowers the top-level `remediation:` block.
pub(crate) fn lower_remediation(
    node: &Node,
    opts: &LoadOptions,
) -> (RemediationSpec, Vec<ConfigError>, Vec<ConfigError>) {
    lower_block(node, opts, "remediation", |lw, n, p| lw.remediation(n, p))
}

/// A top-level settings block: lowered by `f`, problems located under `root`.
fn lower_block<'o, T>(
    node: &Node,
    opts: &'o LoadOptions,
    root: &'static str,
    f: impl FnOnce(&mut Lower<'o>, &Node, &Path) -> T,
) -> (T, Vec<ConfigError>, Vec<ConfigError>) {
    let mut lw = Lower {
        opts,
        errors: Vec::new(),
        warnings: Vec::new(),
        substituted: Vec::new(),
    };
    let spec = f(&mut lw, node, &Path::root(root));
    let secrets = std::mem::take(&mut lw.substituted);
    let locate = |i: Issue| ConfigError {
        index: None,
        name: None,
        path: i.path,
        line: (i.line > 0).then_some(i.line),
        message: redact(&i.message, &secrets),
    };
    (
        spec,
        lw.errors.into_iter().map(locate).collect(),
        lw.warnings.into_iter().map(locate).collect(),
    )
}

/// One problem found while lowering, before the monitor's index and name are attached.
struct Issue {
    path: String,
    line: u32,
    message: String,
}

/// A string value: after `${VAR}` substitution, plus the raw text for messages.
struct Str<'n> {
    value: Cow<'n, str>,
    raw: &'n str,
    line: u32,
}

impl Str<'_> {
    /// The text to quote in messages: the raw text when it referenced a variable (secrets).
    fn shown(&self) -> &str {
        if self.raw.contains("${") {
            self.raw
        } else {
            &self.value
        }
    }

    fn substituted(&self) -> bool {
        self.raw.contains("${")
    }
}

/// A mapping node's entries with the node's line (for "missing" errors).
#[derive(Clone, Copy)]
struct M<'n> {
    entries: &'n [(Key<'n>, Node<'n>)],
    line: u32,
}

impl<'n> M<'n> {
    /// The value of `key`; `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'n Node<'n>> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key && !k.complex)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }
}

struct Lower<'o> {
    opts: &'o LoadOptions,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    /// Values substituted for `${NAME}` in this monitor, hidden again in every message.
    substituted: Vec<(String, String)>,
}

impl<'o> Lower<'o> {
    fn err(&mut self, p: &Path, line: u32, message: impl Into<String>) {
        self.errors.push(Issue {
            path: p.render(),
            line,
            message: message.into(),
        });
    }

    // ---- structure ----------------------------------------------------------------------

    fn map<'n>(&mut self, n: &'n Node<'n>, p: &Path) -> Option<M<'n>> {
        match n {
            Node::Map { entries, line } => Some(M {
                entries,
                line: *line,
            }),
            other => {
                self.err(
                    p,
                    other.line(),
                    format!(
                        "expected a mapping (key: value), found {}",
                        other.kind_name()
                    ),
                );
                None
            }
        }
    }

    /// Reports complex keys, duplicate keys and keys not in `known` (warning, error if strict).
    fn check_keys(&mut self, m: M<'_>, p: &Path, known: &[&str]) {
        for (i, (k, _)) in m.entries.iter().enumerate() {
            if k.complex {
                self.err(p, k.line, "mapping keys must be plain strings");
            } else if m.entries[..i]
                .iter()
                .any(|(e, _)| e.text == k.text && !e.complex)
            {
                self.err(
                    &p.key(&k.text),
                    k.line,
                    format!("duplicate key {:?}", k.text),
                );
            } else if !known.contains(&k.text.as_ref()) {
                self.unknown_key(&p.key(&shorten(&k.text)), k.line, &k.text, known);
            }
        }
    }

    fn unknown_key(&mut self, p: &Path, line: u32, key: &str, known: &[&str]) {
        let key = &shorten(key);
        let hint = suggest(key, known)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        let issue = |message| Issue {
            path: p.render(),
            line,
            message,
        };
        if self.opts.strict {
            self.errors
                .push(issue(format!("unknown key {key:?}{hint}")));
        } else {
            self.warnings
                .push(issue(format!("unknown key {key:?} (ignored){hint}")));
        }
    }

    /// The node under `key`, or an error "missing" at `p.key`.
    fn need<'n>(&mut self, m: M<'n>, key: &str, p: &Path) -> Option<&'n Node<'n>> {
        let n = m.get(key);
        if n.is_none() {
            self.err(&p.key(key), m.line, "missing required field");
        }
        n
    }

    // ---- scalars -----------------------------------------------------------------------

    fn str_node<'n>(&mut self, n: &'n Node<'n>, p: &Path) -> Option<Str<'n>> {
        let Node::Scalar { text, line, .. } = n else {
            self.err(
                p,
                n.line(),
                format!("expected a string, found {}", n.kind_name()),
            );
            return None;
        };
        if text.len() > CONFIG_STRING_BYTES_MAX {
            self.err(
                p,
                *line,
                format!("value is longer than {CONFIG_STRING_BYTES_MAX} bytes"),
            );
            return None;
        }
        match expand_noting(text, &self.opts.env, &mut self.substituted) {
            Ok(value) => Some(Str {
                value,
                raw: text,
                line: *line,
            }),
            Err(e) => {
                self.err(p, *line, e);
                None
            }
        }
    }

    fn opt_str<'n>(&mut self, m: M<'n>, key: &str, p: &Path) -> Option<Str<'n>> {
        let n = m.get(key)?;
        self.str_node(n, &p.key(key))
    }

    fn req_str<'n>(&mut self, m: M<'n>, key: &str, p: &Path) -> Option<Str<'n>> {
        let n = self.need(m, key, p)?;
        self.str_node(n, &p.key(key))
    }

    /// A required string that must not be empty, as an owned `String`.
    fn req_text(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<String> {
        let s = self.req_str(m, key, p)?;
        if s.value.trim().is_empty() {
            self.err(&p.key(key), s.line, "must not be empty");
            return None;
        }
        Some(s.value.into_owned())
    }

    fn opt_text(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<String> {
        self.opt_str(m, key, p).map(|s| s.value.into_owned())
    }

    fn uint_node(&mut self, n: &Node, p: &Path, lo: u32, hi: u32) -> Option<u32> {
        let s = self.str_node(n, p)?;
        if !self.no_padding(&s, p) {
            return None;
        }
        let t = s.value.trim();
        let t = t.strip_prefix('+').unwrap_or(t);
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            self.err(
                p,
                s.line,
                format!(
                    "expected a whole number from {lo} to {hi}, found {:?}",
                    s.shown()
                ),
            );
            return None;
        }
        match t.parse::<u64>() {
            Ok(v) if v >= u64::from(lo) && v <= u64::from(hi) => Some(v as u32),
            _ if lo == 1 && t.bytes().all(|b| b == b'0') => {
                self.err(p, s.line, "must be at least 1");
                None
            }
            _ => {
                self.err(
                    p,
                    s.line,
                    format!("{} is out of range {lo}-{hi}", s.shown()),
                );
                None
            }
        }
    }

    fn opt_uint(&mut self, m: M<'_>, key: &str, p: &Path, lo: u32, hi: u32) -> Option<u32> {
        let n = m.get(key)?;
        self.uint_node(n, &p.key(key), lo, hi)
    }

    fn opt_bool(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<bool> {
        let n = m.get(key)?;
        let p = p.key(key);
        let s = self.str_node(n, &p)?;
        match s.value.trim() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
            _ => {
                self.err(
                    &p,
                    s.line,
                    format!("expected true or false, found {:?}", s.shown()),
                );
                None
            }
        }
    }

    /// Numbers and durations with spaces around them are refused, as Go's parsers refuse them.
    fn no_padding(&mut self, s: &Str<'_>, p: &Path) -> bool {
        if s.value.trim() == s.value {
            return true;
        }
        self.err(
            p,
            s.line,
            format!(
                "{:?} has spaces around it: write the value alone",
                s.shown()
            ),
        );
        false
    }

    fn duration_node(&mut self, n: &Node, p: &Path, positive: bool) -> Option<Duration> {
        let s = self.str_node(n, p)?;
        if !self.no_padding(&s, p) {
            return None;
        }
        match parse_go_duration(s.value.trim()) {
            Ok(d) if positive && d.is_zero() => {
                self.err(p, s.line, "must be greater than 0");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                let msg = if s.substituted() {
                    format!(
                        "invalid duration {:?} (after substitution); use Go syntax such as 30s",
                        s.raw
                    )
                } else {
                    e
                };
                self.err(p, s.line, msg);
                None
            }
        }
    }

    fn opt_duration(&mut self, m: M<'_>, key: &str, p: &Path, positive: bool) -> Option<Duration> {
        let n = m.get(key)?;
        self.duration_node(n, &p.key(key), positive)
    }

    fn req_duration(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<Duration> {
        let n = self.need(m, key, p)?;
        self.duration_node(n, &p.key(key), true)
    }

    /// A URL that must be http(s), returned as written (after substitution).
    fn url_string(&mut self, s: Str<'_>, p: &Path) -> Option<String> {
        match parse_http_url(&s.value) {
            Ok(_) => Some(s.value.into_owned()),
            Err(e) => {
                self.err(p, s.line, format!("malformed URL {:?}: {e}", s.shown()));
                None
            }
        }
    }

    fn req_url_string(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<String> {
        let s = self.req_str(m, key, p)?;
        self.url_string(s, &p.key(key))
    }

    fn req_host(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<String> {
        let s = self.req_str(m, key, p)?;
        match bare_host(s.value.trim()) {
            Ok(h) => Some(h.to_string()),
            Err(e) => {
                self.err(
                    &p.key(key),
                    s.line,
                    format!("invalid host {:?}: {e}", s.shown()),
                );
                None
            }
        }
    }

    fn req_port(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<u16> {
        let n = self.need(m, key, p)?;
        self.uint_node(n, &p.key(key), 1, 65535).map(|v| v as u16)
    }

    // ---- monitor -----------------------------------------------------------------------

    /// Returns (name when there is no spec, name as shown if it differs, line of the name, spec).
    fn monitor(
        &mut self,
        node: &Node,
        index: usize,
        p: &Path,
    ) -> (Option<String>, Option<String>, u32, Option<MonitorSpec>) {
        let Some(m) = self.map(node, p) else {
            return (None, None, 0, None);
        };
        self.check_keys(m, p, MONITOR_KEYS);
        let name_line = m.get("name").map_or(0, Node::line);
        let (name, label) = match self.req_str(m, "name", p) {
            Some(s) => {
                let label = s.substituted().then(|| s.raw.to_string());
                let np = p.key("name");
                let v = s.value.as_ref();
                if v.trim().is_empty() {
                    self.err(&np, s.line, "must not be empty");
                    (None, label)
                } else if v.len() > MONITOR_NAME_BYTES_MAX {
                    self.err(
                        &np,
                        s.line,
                        format!("longer than {MONITOR_NAME_BYTES_MAX} bytes"),
                    );
                    (None, label)
                } else if v.chars().any(char::is_control) {
                    self.err(
                        &np,
                        s.line,
                        "must not contain control characters (line breaks, tabs)",
                    );
                    (None, label)
                } else {
                    (Some(s.value.into_owned()), label)
                }
            }
            None => (None, None),
        };
        let enabled = self.opt_bool(m, "enabled", p).unwrap_or(true);
        let pulse = self
            .need(m, "pulse_check", p)
            .and_then(|n| self.pulse(n, &p.key("pulse_check")));
        let intervention = m
            .get("intervention")
            .and_then(|n| self.intervention(n, &p.key("intervention")));
        let codes = m
            .get("codes")
            .map(|n| self.codes(n, &p.key("codes")))
            .unwrap_or_default();
        let maintenance = m
            .get("maintenance")
            .map(|n| self.maintenance(n, &p.key("maintenance")))
            .unwrap_or_default();
        match (name, pulse) {
            (Some(name), Some(pulse)) if self.errors.is_empty() => {
                let spec = MonitorSpec {
                    index,
                    line: node.line(),
                    name,
                    enabled,
                    pulse,
                    intervention,
                    codes,
                    maintenance,
                };
                (None, label, name_line, Some(spec))
            }
            (name, _) => (name, label, name_line, None),
        }
    }

    /// Something the Go original loads and cpra gives a meaning: a warning saying what cpra
    /// did, an error with `--strict`.
    fn compat(&mut self, p: &Path, line: u32, message: impl Into<String>) {
        let issue = Issue {
            path: p.render(),
            line,
            message: message.into(),
        };
        if self.opts.strict {
            self.errors.push(issue);
        } else {
            self.warnings.push(issue);
        }
    }

    /// A consecutive-checks threshold; `0` is the Go original's "unset": the default, with a
    /// warning.
    fn threshold(&mut self, n: &Node, p: &Path, default: u32) -> Option<u32> {
        match self.uint_node(n, p, 0, THRESHOLD_CHECKS_MAX)? {
            0 => {
                self.compat(
                    p,
                    n.line(),
                    format!("0 means the default ({default}) here, as in the Go original"),
                );
                Some(default)
            }
            v => Some(v),
        }
    }

    // ---- pulse -------------------------------------------------------------------------

    fn pulse(&mut self, n: &Node, p: &Path) -> Option<PulseSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, PULSE_KEYS);
        let ty = self.req_str(m, "type", p);
        let interval = self.req_duration(m, "interval", p);
        let timeout = self.req_duration(m, "timeout", p);
        let mut timeout = timeout;
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
        let cp = p.key("config");
        let cfg = self.need(m, "config", p).and_then(|c| self.map(c, &cp));
        let kind = match (ty.value.as_ref(), cfg) {
            (_, None) => None,
            ("http", Some(c)) => self.http(c, &cp).map(PulseKind::Http),
            ("tcp", Some(c)) => self.tcp(c, &cp).map(PulseKind::Tcp),
            ("icmp", Some(c)) => self.icmp(c, &cp).map(PulseKind::Icmp),
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

    fn http(&mut self, m: M<'_>, p: &Path) -> Option<HttpPulse> {
        self.check_keys(m, p, HTTP_KEYS);
        let url = self
            .req_str(m, "url", p)
            .and_then(|s| match parse_http_url(s.value.trim()) {
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
        let body = self.opt_text(m, "body", p);
        let retries = self.opt_uint(m, "retries", p, 0, RETRIES_MAX).unwrap_or(0);
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

    fn method(&mut self, m: M<'_>, p: &Path, default: &str) -> Option<String> {
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
    fn headers(&mut self, n: &Node, p: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match n {
            Node::Map { entries, line } => {
                let m = M {
                    entries,
                    line: *line,
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

    fn header_line(&mut self, out: &mut Vec<(String, String)>, s: &Str<'_>, p: &Path) {
        match s.value.split_once(':') {
            Some((name, value)) => self.push_header(out, name.trim(), value.trim(), p, s.line),
            None => self.err(p, s.line, "expected \"Name: value\""),
        }
    }

    fn push_header(
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

    fn statuses(&mut self, n: &Node, p: &Path) -> Vec<StatusRange> {
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

    fn tcp(&mut self, m: M<'_>, p: &Path) -> Option<TcpPulse> {
        self.check_keys(m, p, TCP_KEYS);
        let host = self.req_host(m, "host", p);
        let port = self.req_port(m, "port", p);
        let retries = self.opt_uint(m, "retries", p, 0, RETRIES_MAX).unwrap_or(0);
        Some(TcpPulse {
            host: host?,
            port: port?,
            retries,
        })
    }

    fn icmp(&mut self, m: M<'_>, p: &Path) -> Option<IcmpPulse> {
        self.check_keys(m, p, ICMP_KEYS);
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
        let retries = self.opt_uint(m, "retries", p, 0, RETRIES_MAX).unwrap_or(0);
        let ignore_privilege = self.opt_bool(m, "ignore_privilege", p).unwrap_or(false);
        Some(IcmpPulse {
            host: host?,
            count,
            retries,
            ignore_privilege,
        })
    }

    fn dns(&mut self, m: M<'_>, p: &Path) -> Option<DnsPulse> {
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
        Some(DnsPulse {
            server: server?,
            query: query?,
            record_type: record_type?,
            expected_rcode: expected_rcode?,
            expected_answer,
        })
    }

    fn tls(&mut self, m: M<'_>, p: &Path) -> Option<TlsPulse> {
        self.check_keys(m, p, TLS_KEYS);
        let host = self.req_host(m, "host", p);
        let port = self.req_port(m, "port", p);
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

    // ---- intervention ------------------------------------------------------------------

    fn intervention(&mut self, n: &Node, p: &Path) -> Option<InterventionSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, INTERVENTION_KEYS);
        let action = self.req_str(m, "action", p);
        let retries = self.opt_uint(m, "retries", p, 0, RETRIES_MAX).unwrap_or(0);
        let max_attempts = self
            .opt_uint(m, "max_attempts", p, 1, INTERVENTION_ATTEMPTS_MAX)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let cooldown = self
            .opt_duration(m, "cooldown", p, false)
            .unwrap_or(DEFAULT_COOLDOWN);
        let retry_backoff = self
            .opt_duration(m, "retry_backoff", p, false)
            .unwrap_or(DEFAULT_RETRY_BACKOFF);
        let action = action?;
        let tp = p.key("target");
        let kind = action.value.as_ref();
        if !matches!(kind, "docker" | "exec" | "webhook") {
            self.err(
                &p.key("action"),
                action.line,
                format!(
                    "unknown action {:?}; known actions: {ACTIONS}",
                    action.shown()
                ),
            );
            return None;
        }
        let t = self.need(m, "target", p).and_then(|t| self.map(t, &tp))?;
        let timeout = self
            .opt_duration(t, "timeout", &tp, true)
            .unwrap_or(DEFAULT_INTERVENTION_TIMEOUT);
        let action = match kind {
            "docker" => {
                self.check_keys(t, &tp, DOCKER_TARGET_KEYS);
                if let Some(s) = self.opt_str(t, "type", &tp)
                    && s.value != "docker"
                {
                    self.err(
                        &tp.key("type"),
                        s.line,
                        "must be docker (or left out) for a docker action",
                    );
                }
                let container = self.req_str(t, "container", &tp).and_then(|s| {
                    let v = s.value.trim();
                    let name = v.strip_prefix('/').unwrap_or(v);
                    let ok = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                    if ok {
                        Some(v.to_string())
                    } else {
                        self.err(
                            &tp.key("container"),
                            s.line,
                            format!(
                                "invalid container {:?}: use the container's name or id",
                                s.shown()
                            ),
                        );
                        None
                    }
                });
                let docker_host = self.opt_str(t, "docker_host", &tp).and_then(|s| {
                    match crate::effects::intervene::docker::DockerHost::parse(&s.value) {
                        Ok(_) => Some(s.value.trim().to_string()),
                        Err(e) => {
                            self.err(&tp.key("docker_host"), s.line, e);
                            None
                        }
                    }
                });
                InterventionAction::Docker {
                    container: container?,
                    timeout,
                    docker_host,
                }
            }
            "exec" => {
                self.check_keys(t, &tp, EXEC_TARGET_KEYS);
                let command = self
                    .need(t, "command", &tp)
                    .and_then(|c| self.command(c, &tp.key("command")));
                let env = t
                    .get("env")
                    .map(|e| self.exec_env(e, &tp.key("env")))
                    .unwrap_or_default();
                InterventionAction::Exec {
                    command: command?,
                    timeout,
                    env,
                }
            }
            _ => {
                self.check_keys(t, &tp, WEBHOOK_TARGET_KEYS);
                let url = self.req_url_string(t, "url", &tp);
                let method = self.method(t, &tp, "POST");
                let headers = t
                    .get("headers")
                    .map(|h| self.headers(h, &tp.key("headers")))
                    .unwrap_or_default();
                let body = self.opt_text(t, "body", &tp);
                InterventionAction::Webhook {
                    url: url?,
                    method: method?,
                    headers,
                    body,
                    timeout,
                }
            }
        };
        Some(InterventionSpec {
            action,
            retries,
            max_attempts,
            cooldown,
            retry_backoff,
        })
    }

    /// `command` as an argv list, or a string split on whitespace when it has no shell syntax.
    fn command(&mut self, n: &Node, p: &Path) -> Option<Vec<String>> {
        let argv: Vec<String> = match n {
            Node::Seq { items, .. } => {
                let mut argv = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if item.is_null() {
                        self.err(
                            &p.index(i),
                            item.line(),
                            "an argument is null (~ or empty): quote it (\"~\") or remove it",
                        );
                        return None;
                    }
                    argv.push(self.str_node(item, &p.index(i))?.value.into_owned());
                }
                argv
            }
            Node::Scalar { text, line, .. } => {
                if let Some(c) = text.chars().find(|c| SHELL_CHARS.contains(c)) {
                    self.err(
                        p,
                        *line,
                        format!(
                            "contains {c:?}: cpra never runs a shell; write the command as a list"
                        ),
                    );
                    return None;
                }
                text.split_ascii_whitespace().map(str::to_string).collect()
            }
            Node::Map { line, .. } => {
                self.err(p, *line, "expected a list of arguments, found a mapping");
                return None;
            }
        };
        if argv.first().is_none_or(|a| a.trim().is_empty()) {
            self.err(p, n.line(), "the command is empty");
            return None;
        }
        if argv.len() > EXEC_ARGS_MAX {
            self.err(p, n.line(), format!("more than {EXEC_ARGS_MAX} arguments"));
            return None;
        }
        Some(argv)
    }

    fn exec_env(&mut self, n: &Node, p: &Path) -> Vec<(String, String)> {
        let Some(m) = self.map(n, p) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (k, v)) in m.entries.iter().enumerate() {
            let kp = p.key(&k.text);
            let valid = !k.text.is_empty()
                && k.text.bytes().enumerate().all(|(j, b)| {
                    b == b'_' || b.is_ascii_alphabetic() || (j > 0 && b.is_ascii_digit())
                });
            if k.complex || !valid {
                self.err(
                    &kp,
                    k.line,
                    "variable names are letters, digits and _ (not starting with a digit)",
                );
            } else if m.entries[..i].iter().any(|(e, _)| e.text == k.text) {
                self.err(&kp, k.line, format!("duplicate key {:?}", k.text));
            } else if v.is_null() {
                out.push((k.text.to_string(), String::new()));
            } else if let Some(s) = self.str_node(v, &kp) {
                out.push((k.text.to_string(), s.value.into_owned()));
            }
        }
        if out.len() > EXEC_ENV_VARS_MAX {
            self.err(
                p,
                m.line,
                format!("more than {EXEC_ENV_VARS_MAX} variables"),
            );
        }
        out
    }

    // ---- codes -------------------------------------------------------------------------

    fn codes(&mut self, n: &Node, p: &Path) -> CodesSpec {
        let mut codes = CodesSpec::default();
        let Some(m) = self.map(n, p) else {
            return codes;
        };
        for (i, (k, v)) in m.entries.iter().enumerate() {
            let kp = p.key(&k.text);
            if k.complex {
                self.err(p, k.line, "mapping keys must be plain strings");
                continue;
            }
            let lower = k.text.to_ascii_lowercase();
            let Some(colour) = Colour::from_name(&lower) else {
                self.compat(
                    &kp,
                    k.line,
                    format!(
                        "unknown colour {:?} (ignored); colours are {COLOURS}",
                        shorten(&k.text)
                    ),
                );
                continue;
            };
            if lower != k.text {
                self.compat(
                    &kp,
                    k.line,
                    format!(
                        "colour {:?} read as {lower:?} (colours are lower case)",
                        k.text
                    ),
                );
            }
            if m.entries[..i]
                .iter()
                .any(|(e, _)| e.text.to_ascii_lowercase() == lower)
            {
                self.err(&kp, k.line, format!("duplicate key {:?}", k.text));
                continue;
            }
            if v.is_null() {
                continue;
            }
            codes.by_colour[colour as usize] = self.code(v, &kp);
        }
        codes
    }

    fn code(&mut self, n: &Node, p: &Path) -> Option<CodeSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, CODE_KEYS);
        let dispatch = self.opt_bool(m, "dispatch", p).unwrap_or(true);
        let remind_every = self.opt_duration(m, "remind_every", p, true);
        let notify = self.req_str(m, "notify", p)?;
        let kind = notify.value.as_ref();
        if !matches!(
            kind,
            "log" | "webhook" | "slack" | "pagerduty" | "alertmanager" | "email"
        ) {
            self.err(
                &p.key("notify"),
                notify.line,
                format!(
                    "unknown notifier {:?}; known notifiers: {NOTIFIERS}",
                    notify.shown()
                ),
            );
            return None;
        }
        let cp = p.key("config");
        let c = self.need(m, "config", p).and_then(|c| self.map(c, &cp))?;
        let spec = match kind {
            "log" => {
                self.check_keys(c, &cp, &["file"]);
                NotifierSpec::Log {
                    file: self.req_text(c, "file", &cp)?,
                }
            }
            "webhook" => {
                self.check_keys(c, &cp, &["url", "headers"]);
                let url = self.req_url_string(c, "url", &cp);
                let headers = c
                    .get("headers")
                    .map(|h| self.headers(h, &cp.key("headers")))
                    .unwrap_or_default();
                NotifierSpec::Webhook { url: url?, headers }
            }
            "slack" => {
                self.check_keys(c, &cp, &["hook"]);
                NotifierSpec::Slack {
                    hook: self.req_url_string(c, "hook", &cp)?,
                }
            }
            "pagerduty" => {
                self.check_keys(c, &cp, &["routing_key", "url"]);
                let routing_key = self.req_text(c, "routing_key", &cp);
                let url = match self.opt_str(c, "url", &cp) {
                    None => Some(None),
                    Some(s) => self.url_string(s, &cp.key("url")).map(Some),
                };
                NotifierSpec::PagerDuty {
                    routing_key: routing_key?,
                    url: url?,
                }
            }
            "alertmanager" => {
                self.check_keys(c, &cp, &["url"]);
                NotifierSpec::Alertmanager {
                    url: self.req_url_string(c, "url", &cp)?,
                }
            }
            _ => {
                self.check_keys(
                    c,
                    &cp,
                    &["smtp", "from", "to", "username", "password", "tls"],
                );
                let username = self.opt_text(c, "username", &cp);
                let password = self.opt_text(c, "password", &cp);
                let tls = self.smtp_tls(c, &cp);
                let smtp =
                    self.req_str(c, "smtp", &cp)
                        .and_then(|s| match check_smtp(s.value.trim()) {
                            Ok(()) => Some(s.value.trim().to_string()),
                            Err(e) => {
                                self.err(
                                    &cp.key("smtp"),
                                    s.line,
                                    format!("invalid SMTP server {:?}: {e}", s.shown()),
                                );
                                None
                            }
                        });
                let from = self
                    .req_str(c, "from", &cp)
                    .and_then(|s| self.address(s, &cp.key("from")));
                let to = self
                    .need(c, "to", &cp)
                    .and_then(|t| self.recipients(t, &cp.key("to")));
                if password.is_some() && username.is_none() {
                    self.err(
                        &cp.key("password"),
                        c.line,
                        "a password needs a username (add `username:`)",
                    );
                    return None;
                }
                NotifierSpec::Email {
                    smtp: smtp?,
                    from: from?,
                    to: to?,
                    username,
                    password,
                    tls: tls?,
                }
            }
        };
        Some(CodeSpec {
            dispatch,
            notify: spec,
            remind_every,
        })
    }

    fn smtp_tls(&mut self, c: M<'_>, p: &Path) -> Option<SmtpTls> {
        let Some(s) = self.opt_str(c, "tls", p) else {
            return Some(SmtpTls::Opportunistic);
        };
        match s.value.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(SmtpTls::Starttls),
            "implicit" | "smtps" => Some(SmtpTls::Implicit),
            "none" | "off" | "false" => Some(SmtpTls::None),
            _ => {
                self.err(
                    &p.key("tls"),
                    s.line,
                    format!(
                        "unknown tls mode {:?}; use starttls, implicit or none (leave it out for STARTTLS when the server offers it)",
                        s.shown()
                    ),
                );
                None
            }
        }
    }

    fn remediation(&mut self, n: &Node, p: &Path) -> RemediationSpec {
        let mut r = RemediationSpec::default();
        let Some(m) = self.map(n, p) else {
            return r;
        };
        self.check_keys(m, p, REMEDIATION_KEYS);
        let Some(s) = self.opt_str(m, "pause_above", p) else {
            return r;
        };
        let v = s.value.trim();
        let parsed = if matches!(v, "off" | "never" | "none") {
            Some(PauseAbove::Off)
        } else if let Some(pc) = v.strip_suffix('%') {
            pc.trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .map(PauseAbove::Percent)
        } else {
            v.parse::<u64>().ok().map(PauseAbove::Monitors)
        };
        match parsed {
            Some(p) => r.pause_above = Some(p),
            None => self.err(
                &p.key("pause_above"),
                s.line,
                format!(
                    "expected a number of monitors (500), a share of the enabled ones (5%) or off, found {:?}",
                    s.shown()
                ),
            ),
        }
        r
    }

    fn alerting(&mut self, n: &Node, p: &Path) -> AlertingSpec {
        let mut a = AlertingSpec::default();
        let Some(m) = self.map(n, p) else {
            return a;
        };
        self.check_keys(m, p, ALERTING_KEYS);
        if let Some(t) = self.opt_uint(m, "storm_threshold", p, 0, STORM_THRESHOLD_MAX) {
            a.storm_threshold = t;
        }
        if let Some(w) = self.opt_duration(m, "storm_window", p, true) {
            a.storm_window = w;
        }
        a.remind_every = self.opt_duration(m, "remind_every", p, true);
        a
    }

    fn address(&mut self, s: Str<'_>, p: &Path) -> Option<String> {
        let v = s.value.trim();
        if v.contains('@')
            && !v.starts_with('@')
            && !v.ends_with('@')
            && !v.contains(char::is_whitespace)
        {
            Some(v.to_string())
        } else {
            self.err(p, s.line, format!("invalid email address {:?}", s.shown()));
            None
        }
    }

    fn recipients(&mut self, n: &Node, p: &Path) -> Option<Vec<String>> {
        let mut out = Vec::new();
        match n {
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    let ip = p.index(i);
                    let s = self.str_node(item, &ip)?;
                    out.push(self.address(s, &ip)?);
                }
            }
            _ => {
                let s = self.str_node(n, p)?;
                out.push(self.address(s, p)?);
            }
        }
        if out.is_empty() {
            self.err(p, n.line(), "at least one recipient is needed");
            return None;
        }
        if out.len() > EMAIL_RECIPIENTS_MAX {
            self.err(
                p,
                n.line(),
                format!("more than {EMAIL_RECIPIENTS_MAX} recipients"),
            );
            return None;
        }
        Some(out)
    }

    // ---- maintenance -------------------------------------------------------------------

    fn maintenance(&mut self, n: &Node, p: &Path) -> Vec<MaintenanceWindow> {
        let Node::Seq { items, line } = n else {
            self.err(
                p,
                n.line(),
                format!("expected a list of windows, found {}", n.kind_name()),
            );
            return Vec::new();
        };
        if items.len() > MAINTENANCE_WINDOWS_PER_MONITOR_MAX {
            self.err(
                p,
                *line,
                format!("more than {MAINTENANCE_WINDOWS_PER_MONITOR_MAX} windows"),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ip = p.index(i);
            let Some(m) = self.map(item, &ip) else {
                continue;
            };
            self.check_keys(m, &ip, MAINTENANCE_KEYS);
            let start = self.req_str(m, "start", &ip).and_then(|s| {
                match parse_rfc3339_ms(s.value.trim()) {
                    Ok(ms) => Some(ms),
                    Err(e) => {
                        self.err(&ip.key("start"), s.line, e);
                        None
                    }
                }
            });
            let duration = self.req_duration(m, "duration", &ip);
            if let (Some(start_unix_ms), Some(duration)) = (start, duration) {
                out.push(MaintenanceWindow {
                    start_unix_ms,
                    duration,
                });
            }
        }
        out.sort_by_key(|w| w.start_unix_ms);
        out
    }
}

/// `host` or `host:port` of an SMTP server.
fn check_smtp(s: &str) -> Result<(), String> {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    match s.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') || h.starts_with('[') => {
            bare_host(h)?;
            parse_port(port).map(|_| ())
        }
        _ => bare_host(s).map(|_| ()),
    }
}

/// [`shorten`], for the readers' messages.
pub(crate) fn shorten_key(s: &str) -> Cow<'_, str> {
    shorten(s)
}

/// `s` cut to [`CONFIG_MESSAGE_KEY_CHARS_MAX`] characters for a message (`...` marks a cut).
fn shorten(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(CONFIG_MESSAGE_KEY_CHARS_MAX) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!("{}...", &s[..at])),
    }
}

/// The known key closest to `key` (edit distance at most 2), for "did you mean" hints. Keys
/// much longer than any known one get none (and cost nothing).
fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    if key.len() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("intervall", PULSE_KEYS), Some("interval"));
        assert_eq!(suggest("timout", PULSE_KEYS), Some("timeout"));
        assert_eq!(suggest("zzzzzz", PULSE_KEYS), None);
    }

    #[test]
    fn smtp_servers() {
        assert!(check_smtp("mail.example.com").is_ok());
        assert!(check_smtp("mail.example.com:587").is_ok());
        assert!(check_smtp("10.0.0.1:25").is_ok());
        assert!(check_smtp("[::1]:25").is_ok());
        assert!(check_smtp("mail example").is_err());
        assert!(check_smtp("mail:0").is_err());
    }
}
