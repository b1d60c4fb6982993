//! Lowering: one monitor's [`Node`] tree → a validated [`MonitorSpec`], or every problem in it.
//!
//! This is the single place where the meaning of the file is decided (defaults, types, ranges,
//! required keys, `${VAR}` substitution), shared by the YAML and JSON readers. It never stops at
//! the first problem: each field is checked on its own and all errors are collected with their
//! field path and line, then the monitor either yields a spec or does not. Paths are passed as
//! stack [`Path`]s and rendered only when something is reported, so a valid monitor costs no
//! path strings.
//!
//! One file per section of a monitor, each an `impl Lower` block: [`pulse`], [`intervention`],
//! [`codes`] (and the notifiers), [`settings`] (top-level blocks, maintenance). This file holds
//! the entry points, the keys each section knows, and the access helpers every section uses:
//! typed scalars, required/optional keys, unknown-key warnings, and [`Lower::compat`], the one
//! rule for what the Go original loads and cpra gives a meaning (a warning; an error with
//! `--strict`).

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
use crate::config::node::{Key, Node, Style};
use crate::config::support;
use crate::config::text::{
    bare_host, check_host, is_http_token, parse_dns_server, parse_http_url, parse_port,
    parse_rfc3339_ms, parse_status,
};
mod codes;
mod intervention;
mod pulse;
mod settings;

use crate::limits::{
    CONFIG_MESSAGE_KEY_CHARS_MAX, CONFIG_STRING_BYTES_MAX, EMAIL_RECIPIENTS_MAX, EXEC_ARGS_MAX,
    EXEC_ENV_VARS_MAX, HEADERS_PER_MONITOR_MAX, HTTP_REDIRECTS_MAX, ICMP_COUNT_MAX,
    INTERVAL_MS_MAX, INTERVENTION_ATTEMPTS_MAX, MAINTENANCE_WINDOWS_PER_MONITOR_MAX,
    MONITOR_NAME_BYTES_MAX, RETRIES_MAX, STORM_THRESHOLD_MAX, THRESHOLD_CHECKS_MAX,
};

const MONITOR_KEYS: &[&str] = &[
    "name",
    "enabled",
    "pulse_check",
    "intervention",
    "codes",
    "maintenance",
    // The Go original's own key, read there and used for nothing: accepted silently.
    "notify_groups",
];
const PULSE_KEYS: &[&str] = &[
    "type",
    "interval",
    "timeout",
    "unhealthy_threshold",
    "max_failures",
    "healthy_threshold",
    "config",
    // The default of `config.retries` (the later Go original).
    "retries",
    // The Go original's own key, read there and used for nothing: accepted silently.
    "groups",
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
    // Listed by the Go original's parser, never used by it; a warning says so.
    "auth",
];
const TCP_KEYS: &[&str] = &["host", "port", "retries"];
const ICMP_KEYS: &[&str] = &["host", "count", "retries", "ignore_privilege"];
/// In JSON the Go original's icmp field `Privilege` has no tag: its key is `privilege`.
const ICMP_JSON_KEYS: &[&str] = &["host", "count", "retries", "ignore_privilege", "privilege"];
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
    // The Go original's name for `max_attempts` ("maximum failures before giving up").
    "max_failures",
];
const ACTIONS: &str = "docker, exec, webhook";
const DOCKER_TARGET_KEYS: &[&str] = &["container", "timeout", "type", "docker_host"];
const EXEC_TARGET_KEYS: &[&str] = &["command", "timeout", "env"];
const WEBHOOK_TARGET_KEYS: &[&str] = &["url", "method", "headers", "body", "timeout"];
const CODE_KEYS: &[&str] = &["dispatch", "notify", "config", "remind_every", "groups"];
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

/// A check's timeout when none is given (or 0), at most its interval.
const DEFAULT_PULSE_TIMEOUT: Duration = Duration::from_secs(10);
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
pub(crate) fn lower_item(node: &Node, index: usize, opts: &LoadOptions, dialect: Dialect) -> Item {
    let mut lw = Lower::new(opts, dialect);
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
    dialect: Dialect,
) -> (AlertingSpec, Vec<ConfigError>, Vec<ConfigError>) {
    lower_block(node, opts, dialect, "alerting", |lw, n, p| {
        lw.alerting(n, p)
    })
}

/// Lowers the top-level `remediation:` block.
pub(crate) fn lower_remediation(
    node: &Node,
    opts: &LoadOptions,
    dialect: Dialect,
) -> (RemediationSpec, Vec<ConfigError>, Vec<ConfigError>) {
    lower_block(node, opts, dialect, "remediation", |lw, n, p| {
        lw.remediation(n, p)
    })
}

/// A top-level settings block: lowered by `f`, problems located under `root`.
fn lower_block<'o, T>(
    node: &Node,
    opts: &'o LoadOptions,
    dialect: Dialect,
    root: &'static str,
    f: impl FnOnce(&mut Lower<'o>, &Node, &Path) -> T,
) -> (T, Vec<ConfigError>, Vec<ConfigError>) {
    let mut lw = Lower::new(opts, dialect);
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

/// Which file format a node came from: the two differ where the Go original's decoders did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Yaml,
    /// Go's encoding/json: keys match fields case-insensitively, and a number given for a
    /// duration is a `time.Duration`, in nanoseconds.
    Json,
}

/// A mapping node's entries with the node's line (for "missing" errors).
#[derive(Clone, Copy)]
struct M<'n> {
    entries: &'n [(Key<'n>, Node<'n>)],
    line: u32,
    /// Keys match case-insensitively when no key matches exactly (JSON).
    fold: bool,
}

impl<'n> M<'n> {
    /// The value of `key`; `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'n Node<'n>> {
        self.entry(key).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The entry whose key is `key`: exactly, else (JSON) in another case, as Go's
    /// encoding/json matches a field.
    fn entry(&self, key: &str) -> Option<&'n (Key<'n>, Node<'n>)> {
        let plain = |k: &Key<'_>| !k.complex;
        self.entries
            .iter()
            .find(|(k, _)| plain(k) && k.text == key)
            .or_else(|| {
                self.fold.then(|| {
                    self.entries
                        .iter()
                        .find(|(k, _)| plain(k) && k.text.eq_ignore_ascii_case(key))
                })?
            })
    }

    /// The known key `text` stands for, if any: itself, or (JSON) one in another case.
    fn known<'k>(&self, text: &str, known: &[&'k str]) -> Option<&'k str> {
        known
            .iter()
            .find(|k| **k == text)
            .or_else(|| {
                self.fold
                    .then(|| known.iter().find(|k| k.eq_ignore_ascii_case(text)))?
            })
            .copied()
    }
}

struct Lower<'o> {
    opts: &'o LoadOptions,
    dialect: Dialect,
    errors: Vec<Issue>,
    warnings: Vec<Issue>,
    /// Values substituted for `${NAME}` in this monitor, hidden again in every message.
    substituted: Vec<(String, String)>,
    /// The monitor loads disabled (a warning said why).
    disable: bool,
}

impl<'o> Lower<'o> {
    fn new(opts: &'o LoadOptions, dialect: Dialect) -> Self {
        Lower {
            opts,
            dialect,
            errors: Vec::new(),
            warnings: Vec::new(),
            substituted: Vec::new(),
            disable: false,
        }
    }

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
                fold: self.dialect == Dialect::Json,
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
            } else if m.entries[..i].iter().any(|(e, _)| {
                !e.complex
                    && (e.text == k.text
                        || (m.fold
                            && e.text.eq_ignore_ascii_case(&k.text)
                            && m.known(&k.text, known).is_some()))
            }) {
                self.err(
                    &p.key(&k.text),
                    k.line,
                    format!("duplicate key {:?}", k.text),
                );
            } else {
                match m.known(&k.text, known) {
                    None => self.unknown_key(&p.key(&shorten(&k.text)), k.line, &k.text, known),
                    Some(canonical) if canonical != k.text => self.compat(
                        &p.key(&shorten(&k.text)),
                        k.line,
                        format!(
                            "key {:?} read as {canonical:?} (JSON keys match in any case, as Go's encoding/json matches them)",
                            shorten(&k.text)
                        ),
                    ),
                    Some(_) => {}
                }
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
        if self.dialect == Dialect::Json
            && let Node::Scalar {
                text,
                style: Style::Plain,
                line,
            } = n
        {
            return self.nanoseconds(text, p, *line, positive);
        }
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

    /// A JSON number given for a duration: Go's `time.Duration`, a whole number of
    /// nanoseconds. Below a millisecond it is surely seconds written without a unit.
    fn nanoseconds(&mut self, text: &str, p: &Path, line: u32, positive: bool) -> Option<Duration> {
        let ns = match text.parse::<u64>() {
            Ok(ns) => ns,
            Err(_) => {
                let what = if text.starts_with('-') {
                    "must not be negative"
                } else {
                    "a number for a duration is whole nanoseconds (Go's time.Duration)"
                };
                self.err(
                    p,
                    line,
                    format!(
                        "invalid duration {}: {what}; or write a string such as \"30s\"",
                        shorten(text)
                    ),
                );
                return None;
            }
        };
        if ns == 0 && positive {
            self.err(p, line, "must be greater than 0");
            return None;
        }
        if ns > 0 && ns < 1_000_000 {
            self.err(
                p,
                line,
                format!(
                    "{ns} is {ns} nanoseconds (a number for a duration is Go's time.Duration); write \"{ns}s\" for seconds"
                ),
            );
            return None;
        }
        let d = Duration::from_nanos(ns);
        if ns > 0 {
            self.compat(
                p,
                line,
                format!(
                    "{ns} read as nanoseconds, Go's time.Duration: {}",
                    format_go_duration(d)
                ),
            );
        }
        Some(d)
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

    /// A required URL, or a non-empty list of them (`url: [a, b]`).
    fn url_list(&mut self, m: M<'_>, key: &str, p: &Path) -> Option<Vec<String>> {
        let Some(Node::Seq { items, line }) = m.get(key) else {
            return self.req_url_string(m, key, p).map(|u| vec![u]);
        };
        let kp = p.key(key);
        if items.is_empty() {
            self.err(&kp, *line, "an empty list: give at least one URL");
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().take(16).enumerate() {
            let ip = kp.index(i);
            match self
                .str_node(item, &ip)
                .and_then(|s| self.url_string(s, &ip))
            {
                Some(u) => out.push(u),
                None => ok = false,
            }
        }
        if items.len() > 16 {
            self.err(&kp, *line, "more than 16 URLs");
            return None;
        }
        ok.then_some(out)
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
                    enabled: enabled && !self.disable,
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

    /// Extra attempts inside one check. A negative count loads in the Go original, where it
    /// makes every check fail without an attempt; here it means none, with a warning.
    fn retries_node(&mut self, n: &Node, p: &Path) -> Option<u32> {
        if let Node::Scalar {
            text,
            style: Style::Plain,
            line,
        } = n
            && let Some(digits) = text.strip_prefix('-')
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            self.compat(
                p,
                *line,
                format!("{text} retries read as 0 (one attempt per check); the Go original made no attempt at all and failed every check"),
            );
            return Some(0);
        }
        self.uint_node(n, p, 0, RETRIES_MAX)
    }

    /// `retries` of a check's config, defaulting to the pulse-level one.
    fn check_retries(&mut self, m: M<'_>, p: &Path, default: u32) -> u32 {
        match m.get("retries") {
            Some(n) => self.retries_node(n, &p.key("retries")).unwrap_or(0),
            None => default,
        }
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
}
