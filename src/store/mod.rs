//! The monitor store: what a million monitors are, laid out as columns.
//!
//! Loading turns each [`MonitorSpec`] into one row across a set of columns (`Vec`s of plain
//! values indexed by a dense [`MonitorId`]). What repeats across monitors is interned once and
//! referred to by a `u32`: the target (host and port, resolved to an address at load, off the
//! hot path), the probe spec (method, headers, expectations), the intervention and the codes.
//! Names and URL paths go into one string [`Arena`]. The result, the [`Catalog`], is immutable
//! after load and shared with the probe workers behind an `Arc`: they read a monitor's kind,
//! target, spec and path from it, and never touch the engine's mutable columns.

pub mod arena;
pub mod shard;

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use bytemuck::{Pod, Zeroable};

use crate::config::model::{
    CodesSpec, HttpPulse, InterventionSpec, MaintenanceWindow, MonitorSpec, NotifierSpec,
    PulseKind, Scheme, StatusRange,
};
pub use arena::{Arena, StrRef};

pub use crate::vocab::{MonitorId, NONE, name_hash};

/// Which state machine a probe worker runs for a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Pod, Zeroable)]
#[repr(transparent)]
pub struct ProbeKind(pub u8);

impl ProbeKind {
    pub const HTTP: ProbeKind = ProbeKind(0);
    pub const TCP: ProbeKind = ProbeKind(1);
    pub const HTTPS: ProbeKind = ProbeKind(2);
    pub const TLS: ProbeKind = ProbeKind(3);
    pub const ICMP: ProbeKind = ProbeKind(4);
    pub const DNS: ProbeKind = ProbeKind(5);

    /// Runs TLS over its TCP connection.
    pub fn is_tls(self) -> bool {
        self == ProbeKind::HTTPS || self == ProbeKind::TLS
    }

    /// Speaks HTTP (over TCP or TLS).
    pub fn is_http(self) -> bool {
        self == ProbeKind::HTTP || self == ProbeKind::HTTPS
    }

    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::HTTP => "http",
            ProbeKind::TCP => "tcp",
            ProbeKind::HTTPS => "https",
            ProbeKind::TLS => "tls",
            ProbeKind::ICMP => "icmp",
            ProbeKind::DNS => "dns",
            _ => "unknown",
        }
    }
}

/// One distinct `host:port`, resolved once at load.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: Box<str>,
    pub port: u16,
    /// Reached over TLS (`https://`).
    pub https: bool,
    /// The address checks connect to; `None` when resolution failed (checks then fail `dns`).
    pub addr: Option<SocketAddr>,
    /// What resolution said when it failed.
    pub resolve_error: Option<Box<str>>,
    /// `Host:` header value: the host, with the port when it is not the scheme's default.
    pub host_header: Box<str>,
}

/// Everything about an HTTP check that many monitors share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpProbe {
    pub method: Box<str>,
    /// The caller's headers, rendered `Name: value\r\n` each, plus `Content-Length` when there is
    /// a body. `Host`, `User-Agent` and `Connection` are added unless the caller set them.
    pub header_block: Box<str>,
    pub sets_host: bool,
    pub sets_user_agent: bool,
    pub body: Box<[u8]>,
    /// Accepted statuses; never empty (the default is 200-299).
    pub expected: Box<[StatusRange]>,
    pub body_contains: Option<Box<[u8]>>,
    /// 0 = no limit.
    pub max_response_time_us: u64,
    pub retries: u32,
    /// Set for `https://`.
    pub tls: Option<TlsOpts>,
    /// Reuse one connection per target across checks.
    pub keepalive: bool,
    /// Redirects followed, at most.
    pub follow_redirects: u32,
}

/// TLS options of an https or tls check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsOpts {
    /// SNI and the name the certificate must match.
    pub server_name: Box<str>,
    pub insecure: bool,
    /// `cert_expiry_warning` in seconds; 0 = none.
    pub warn_secs: u64,
}

impl HttpProbe {
    pub fn status_ok(&self, status: u16) -> bool {
        self.expected
            .iter()
            .any(|r| r.lo <= status && status <= r.hi)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeSpec {
    Http(HttpProbe),
    Tcp {
        retries: u32,
    },
    /// Handshake-only TLS check.
    Tls(TlsOpts),
    /// A DNS query and what the answer must be.
    Dns(Box<crate::config::model::DnsPulse>),
    /// ICMP echo.
    Icmp {
        count: u32,
        retries: u32,
        ignore_privilege: bool,
    },
}

impl ProbeSpec {
    pub fn retries(&self) -> u32 {
        match self {
            ProbeSpec::Http(h) => h.retries,
            ProbeSpec::Tcp { retries } => *retries,
            ProbeSpec::Tls(_) => 0,
            // ICMP retries are attempts inside the check's own schedule (IcmpCheck).
            ProbeSpec::Icmp { .. } => 0,
            ProbeSpec::Dns(_) => 0,
        }
    }

    /// The TLS options, for https and tls checks.
    pub fn tls(&self) -> Option<&TlsOpts> {
        match self {
            ProbeSpec::Http(h) => h.tls.as_ref(),
            ProbeSpec::Tls(t) => Some(t),
            ProbeSpec::Tcp { .. } | ProbeSpec::Icmp { .. } | ProbeSpec::Dns(_) => None,
        }
    }
}

/// Codes of one interned [`CodesSpec`], resolved to notifier ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRoute {
    /// Interned notifier, or [`NONE`] when the colour has no code.
    pub notifier: u32,
    pub dispatch: bool,
    /// `remind_every` of this code in ms; 0 = the `alerting` block's default.
    pub remind_ms: u64,
}

/// The read-only half of the store. Built once by [`StoreBuilder`], then shared.
#[derive(Debug, Default)]
pub struct Catalog {
    pub strings: Arena,
    // Per monitor, indexed by MonitorId.
    pub names: Vec<StrRef>,
    pub paths: Vec<StrRef>,
    pub kinds: Vec<ProbeKind>,
    pub target_of: Vec<u32>,
    pub spec_of: Vec<u32>,
    pub intervention_of: Vec<u32>,
    pub codes_of: Vec<u32>,
    pub enabled: Vec<bool>,
    pub interval_ms: Vec<u32>,
    pub timeout_ms: Vec<u32>,
    pub unhealthy_threshold: Vec<u16>,
    pub healthy_threshold: Vec<u16>,
    pub verify_checks: Vec<u16>,
    // Interned.
    pub targets: Vec<Target>,
    pub specs: Vec<ProbeSpec>,
    pub interventions: Vec<InterventionSpec>,
    /// Per interned codes set, per colour (`Colour as usize`).
    pub code_routes: Vec<[CodeRoute; 5]>,
    pub notifiers: Vec<NotifierSpec>,
    /// The file's `alerting:` block (storm digests, reminders).
    pub alerting: crate::config::model::AlertingSpec,
    /// The file's `remediation:` block (the interventions' circuit breaker).
    pub remediation: crate::config::model::RemediationSpec,
    /// Maintenance windows, `(monitor, window)`, sorted by start.
    pub maintenance: Vec<(MonitorId, MaintenanceWindow)>,
    /// Per monitor: its position in the config file (`monitors[i]`). Store order is not file
    /// order: see [`StoreBuilder::finish`].
    pub config_index: Vec<u32>,
    /// Monitors per pulse type name, for `cpra check` and the summary.
    pub type_counts: Vec<(&'static str, usize)>,
    /// The part of the file this instance runs (`--shard`), when sharded.
    pub shard: Option<shard::Shard>,
    /// Monitors in the file, this shard's and the others'.
    pub monitors_in_file: usize,
}

impl Catalog {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, m: MonitorId) -> &str {
        self.strings.get(self.names[m.0 as usize])
    }

    pub fn path(&self, m: MonitorId) -> &str {
        self.strings.get(self.paths[m.0 as usize])
    }

    pub fn target(&self, m: MonitorId) -> &Target {
        &self.targets[self.target_of[m.0 as usize] as usize]
    }

    pub fn spec(&self, m: MonitorId) -> &ProbeSpec {
        &self.specs[self.spec_of[m.0 as usize] as usize]
    }

    /// Checks per second the enabled monitors ask for.
    pub fn expected_checks_per_s(&self) -> f64 {
        self.interval_ms
            .iter()
            .zip(&self.enabled)
            .filter(|(_, e)| **e)
            .map(|(i, _)| 1000.0 / f64::from((*i).max(1)))
            // An empty f64 sum is -0.0, which prints as "-0.0" (`cpra check` on no monitors).
            .fold(0.0, |a, b| a + b)
    }

    /// Bytes held by the catalog's columns and arena (not counting interned specs).
    pub fn column_bytes(&self) -> usize {
        let n = self.len();
        self.strings.bytes() + n * (8 + 8 + 1 + 4 * 4 + 1 + 4 + 4 + 2 * 3)
    }
}

/// A problem found while lowering specs into the store (after the config itself was valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub index: usize,
    pub name: String,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "monitors[{}] {:?}: monitors[{}].{}: {}",
            self.index, self.name, self.index, self.path, self.message
        )
    }
}

/// Lowers specs into a [`Catalog`], one at a time.
#[derive(Default)]
pub struct StoreBuilder {
    cat: Catalog,
    /// Hash of (host, port, https) → target ids with that hash.
    target_ids: HashMap<u64, Vec<u32>>,
    /// The previous HTTP monitor's pulse (URL cleared) and its probe spec id: consecutive
    /// monitors usually differ only in their URL, and this skips building and hashing a spec.
    last_http: Option<(HttpPulse, u32)>,
    /// The previous monitor's codes and their id, for the same reason.
    last_codes: Option<(CodesSpec, u32)>,
    spec_ids: HashMap<ProbeSpec, u32>,
    intervention_ids: HashMap<InterventionSpec, u32>,
    codes_ids: HashMap<CodesSpec, u32>,
    notifier_ids: HashMap<NotifierSpec, u32>,
    type_counts: HashMap<&'static str, usize>,
    errors: Vec<BuildError>,
}

/// A probe spec for `add`: an id already interned, or a new spec to intern (with the HTTP
/// pulse it came from, to remember for the next monitor).
enum SpecRef<'a> {
    Id(u32),
    New(ProbeSpec, Option<&'a HttpPulse>),
}

/// Same probe spec apart from the URL?
fn same_probe(a: &HttpPulse, b: &HttpPulse) -> bool {
    a.method == b.method
        && a.headers == b.headers
        && a.body == b.body
        && a.retries == b.retries
        && a.expected_status == b.expected_status
        && a.body_contains == b.body_contains
        && a.max_response_time == b.max_response_time
        && a.follow_redirects == b.follow_redirects
        && a.insecure_skip_verify == b.insecure_skip_verify
        && a.cert_expiry_warning == b.cert_expiry_warning
        && a.keepalive == b.keepalive
}

fn has_ctl(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

impl StoreBuilder {
    pub fn new() -> StoreBuilder {
        StoreBuilder::default()
    }

    fn error(&mut self, spec: &MonitorSpec, path: &str, message: String) {
        self.errors.push(BuildError {
            index: spec.index,
            name: spec.name.clone(),
            path: path.to_string(),
            message,
        });
    }

    fn intern_target(&mut self, host: &str, port: u16, https: bool) -> u32 {
        let key = {
            let mut h = rustc_hash::FxHasher::default();
            (host, port, https).hash(&mut h);
            h.finish()
        };
        if let Some(ids) = self.target_ids.get(&key) {
            for &id in ids {
                let t = &self.cat.targets[id as usize];
                if &*t.host == host && t.port == port && t.https == https {
                    return id;
                }
            }
        }
        let id = self.cat.targets.len() as u32;
        let default_port = if https { 443 } else { 80 };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let host_header = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        self.cat.targets.push(Target {
            host: host.into(),
            port,
            https,
            addr: None,
            resolve_error: None,
            host_header: host_header.into(),
        });
        self.target_ids.entry(key).or_default().push(id);
        id
    }

    fn intern<K: Hash + Eq + Clone>(map: &mut HashMap<K, u32>, list: &mut Vec<K>, k: K) -> u32 {
        if let Some(id) = map.get(&k) {
            return *id;
        }
        let id = list.len() as u32;
        list.push(k.clone());
        map.insert(k, id);
        id
    }

    /// Adds one monitor. Problems are collected and returned by [`finish`](Self::finish).
    ///
    /// Config lowering applies every rule first, with the line (issue 13); the checks here are
    /// the store's own invariants for specs built in code (tests, the fleet model), so a spec
    /// from a loaded file never fails them.
    pub fn add(&mut self, spec: MonitorSpec) {
        let n_before = self.errors.len();
        let (kind, target, probe, path) = match &spec.pulse.kind {
            PulseKind::Http(h)
                if self
                    .last_http
                    .as_ref()
                    .is_some_and(|(last, _)| same_probe(last, h)) =>
            {
                if has_ctl(&h.url.path) || h.url.path.contains(' ') {
                    self.error(
                        &spec,
                        "pulse_check.config.url",
                        "the URL path must not contain spaces or control characters".into(),
                    );
                    return;
                }
                let id = self.last_http.as_ref().map_or(0, |(_, id)| *id);
                let https = h.url.scheme == Scheme::Https;
                let t = self.intern_target(&h.url.host, h.url.port, https);
                (
                    if https {
                        ProbeKind::HTTPS
                    } else {
                        ProbeKind::HTTP
                    },
                    t,
                    SpecRef::Id(id),
                    Some(h.url.path.as_str()),
                )
            }
            PulseKind::Http(h) => {
                let https = h.url.scheme == Scheme::Https;
                let mut block = String::new();
                let mut sets_host = false;
                let mut sets_user_agent = false;
                for (i, (k, v)) in h.headers.iter().enumerate() {
                    if has_ctl(k) || has_ctl(v) || k.contains(':') || k.is_empty() {
                        self.error(
                            &spec,
                            &format!("pulse_check.config.headers[{i}]"),
                            "header names and values must not contain CR, LF, NUL (or ':' in the name)".into(),
                        );
                        continue;
                    }
                    if k.eq_ignore_ascii_case("content-length")
                        || k.eq_ignore_ascii_case("transfer-encoding")
                        || k.eq_ignore_ascii_case("connection")
                    {
                        self.error(
                            &spec,
                            &format!("pulse_check.config.headers.{k}"),
                            format!("cpra sets {k} itself; remove it"),
                        );
                        continue;
                    }
                    sets_host |= k.eq_ignore_ascii_case("host");
                    sets_user_agent |= k.eq_ignore_ascii_case("user-agent");
                    block.push_str(k);
                    block.push_str(": ");
                    block.push_str(v);
                    block.push_str("\r\n");
                }
                let body = h.body.clone().unwrap_or_default();
                if !body.is_empty() || h.method == "POST" || h.method == "PUT" {
                    block.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                if has_ctl(&h.url.path) || h.url.path.contains(' ') {
                    self.error(
                        &spec,
                        "pulse_check.config.url",
                        "the URL path must not contain spaces or control characters".into(),
                    );
                }
                let expected: Box<[StatusRange]> = if h.expected_status.is_empty() {
                    Box::new([StatusRange { lo: 200, hi: 299 }])
                } else {
                    h.expected_status.clone().into_boxed_slice()
                };
                let probe = ProbeSpec::Http(HttpProbe {
                    method: h.method.clone().into(),
                    header_block: block.into(),
                    sets_host,
                    sets_user_agent,
                    body: body.into_bytes().into_boxed_slice(),
                    expected,
                    body_contains: h
                        .body_contains
                        .as_ref()
                        .map(|s| s.as_bytes().to_vec().into_boxed_slice()),
                    max_response_time_us: h
                        .max_response_time
                        .map(|d| d.as_micros() as u64)
                        .unwrap_or(0),
                    retries: h.retries,
                    keepalive: h.keepalive,
                    follow_redirects: h.follow_redirects,
                    tls: https.then(|| TlsOpts {
                        server_name: h.url.host.as_str().into(),
                        insecure: h.insecure_skip_verify,
                        warn_secs: h.cert_expiry_warning.map_or(0, |d| d.as_secs()),
                    }),
                });
                let t = self.intern_target(&h.url.host, h.url.port, https);
                (
                    if https {
                        ProbeKind::HTTPS
                    } else {
                        ProbeKind::HTTP
                    },
                    t,
                    SpecRef::New(probe, Some(h)),
                    Some(h.url.path.as_str()),
                )
            }
            PulseKind::Tcp(t) => {
                let probe = ProbeSpec::Tcp { retries: t.retries };
                let tid = self.intern_target(&t.host, t.port, false);
                (ProbeKind::TCP, tid, SpecRef::New(probe, None), None)
            }
            PulseKind::Dns(d) => {
                // The server is the target: `server`, else the system resolver.
                let Some(server) = crate::config::dns::server_addr(d) else {
                    self.error(
                        &spec,
                        "pulse_check.config.server",
                        "no server given and no nameserver in /etc/resolv.conf".into(),
                    );
                    return;
                };
                // What the check could never send or match is a load error, not a failure at
                // every check.
                if let Err(e) = crate::config::dns::compile(d) {
                    self.error(&spec, "pulse_check.config", e);
                    return;
                }
                let probe = ProbeSpec::Dns(Box::new(d.clone()));
                let tid = self.intern_target(&server.ip().to_string(), server.port(), false);
                (ProbeKind::DNS, tid, SpecRef::New(probe, None), None)
            }
            PulseKind::Icmp(i) => {
                let probe = ProbeSpec::Icmp {
                    count: i.count.max(1),
                    retries: i.retries,
                    ignore_privilege: i.ignore_privilege,
                };
                let tid = self.intern_target(&i.host, 0, false);
                (ProbeKind::ICMP, tid, SpecRef::New(probe, None), None)
            }
            PulseKind::Tls(t) => {
                let probe = ProbeSpec::Tls(TlsOpts {
                    server_name: t.server_name.as_deref().unwrap_or(&t.host).into(),
                    insecure: t.insecure_skip_verify,
                    warn_secs: t.cert_expiry_warning.map_or(0, |d| d.as_secs()),
                });
                let tid = self.intern_target(&t.host, t.port, true);
                (ProbeKind::TLS, tid, SpecRef::New(probe, None), None)
            }
        };
        let interval_ms = spec.pulse.interval.as_millis() as u64;
        let timeout_ms = spec.pulse.timeout.as_millis() as u64;
        if interval_ms == 0 || interval_ms > crate::limits::INTERVAL_MS_MAX {
            self.error(
                &spec,
                "pulse_check.interval",
                format!(
                    "interval must be between 1ms and {}ms",
                    crate::limits::INTERVAL_MS_MAX
                ),
            );
        }
        if timeout_ms == 0 {
            self.error(
                &spec,
                "pulse_check.timeout",
                "timeout must be at least 1ms".into(),
            );
        }
        if self.errors.len() > n_before {
            return;
        }
        let spec_id = match probe {
            SpecRef::Id(id) => id,
            SpecRef::New(p, http) => {
                let id = Self::intern(&mut self.spec_ids, &mut self.cat.specs, p);
                if let Some(h) = http {
                    let mut key = h.clone();
                    key.url.path.clear();
                    key.url.host.clear();
                    self.last_http = Some((key, id));
                }
                id
            }
        };
        let intervention = match &spec.intervention {
            Some(i) => Self::intern(
                &mut self.intervention_ids,
                &mut self.cat.interventions,
                i.clone(),
            ),
            None => NONE,
        };
        let codes = if spec.codes.by_colour.iter().all(|c| c.is_none()) {
            NONE
        } else if let Some((_, id)) = self.last_codes.as_ref().filter(|(c, _)| *c == spec.codes) {
            *id
        } else if let Some(id) = self.codes_ids.get(&spec.codes) {
            *id
        } else {
            let mut routes = [CodeRoute {
                notifier: NONE,
                dispatch: false,
                remind_ms: 0,
            }; 5];
            for (i, c) in spec.codes.by_colour.iter().enumerate() {
                if let Some(c) = c {
                    routes[i] = CodeRoute {
                        notifier: Self::intern(
                            &mut self.notifier_ids,
                            &mut self.cat.notifiers,
                            c.notify.clone(),
                        ),
                        dispatch: c.dispatch,
                        remind_ms: c.remind_every.map_or(0, |d| d.as_millis() as u64),
                    };
                }
            }
            let id = self.cat.code_routes.len() as u32;
            self.cat.code_routes.push(routes);
            self.codes_ids.insert(spec.codes.clone(), id);
            id
        };
        if codes != NONE && self.last_codes.as_ref().is_none_or(|(_, id)| *id != codes) {
            self.last_codes = Some((spec.codes.clone(), codes));
        }
        let Some(name) = self.cat.strings.push(&spec.name) else {
            self.error(&spec, "name", "string arena full (4 GiB)".into());
            return;
        };
        let Some(path) = self.cat.strings.push(path.unwrap_or("")) else {
            self.error(&spec, "pulse_check", "string arena full (4 GiB)".into());
            return;
        };
        let id = MonitorId(self.cat.names.len() as u32);
        *self
            .type_counts
            .entry(spec.pulse.kind.type_name())
            .or_insert(0) += 1;
        let cat = &mut self.cat;
        cat.config_index.push(spec.index as u32);
        cat.names.push(name);
        cat.paths.push(path);
        cat.kinds.push(kind);
        cat.target_of.push(target);
        cat.spec_of.push(spec_id);
        cat.intervention_of.push(intervention);
        cat.codes_of.push(codes);
        cat.enabled.push(spec.enabled);
        cat.interval_ms.push(interval_ms as u32);
        cat.timeout_ms.push(timeout_ms.min(interval_ms) as u32);
        let clamp16 = |v: u32| v.clamp(1, u32::from(u16::MAX)) as u16;
        cat.unhealthy_threshold
            .push(clamp16(spec.pulse.unhealthy_threshold));
        cat.healthy_threshold
            .push(clamp16(spec.pulse.healthy_threshold.unwrap_or(2)));
        cat.verify_checks
            .push(clamp16(spec.pulse.healthy_threshold.unwrap_or(3)));
        for w in &spec.maintenance {
            cat.maintenance.push((id, *w));
        }
    }

    /// Monitors added so far.
    pub fn len(&self) -> usize {
        self.cat.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cat.names.is_empty()
    }

    /// Resolves targets and returns the finished catalog, or every problem found.
    pub fn finish(mut self) -> Result<Catalog, Vec<BuildError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        resolve_targets(&mut self.cat.targets);
        order_by_due_time(&mut self.cat);
        self.cat.maintenance.sort_by_key(|(_, w)| w.start_unix_ms);
        let mut counts: Vec<(&'static str, usize)> = self.type_counts.into_iter().collect();
        counts.sort();
        self.cat.type_counts = counts;
        self.cat.strings.shrink_to_fit();
        Ok(self.cat)
    }
}

/// A monitor's first due time within its interval: a stable hash of its name, so a million
/// monitors do not all fire at start and a restart keeps each monitor's phase.
pub fn first_due_ms(name: &str, interval_ms: u32) -> u32 {
    (name_hash(name) % u64::from(interval_ms.max(1))) as u32
}

/// Lays monitors out in the order they come due: by interval, then by first due time.
///
/// Monitors with the same interval advance in lockstep (fixed-rate scheduling), so neighbours
/// in this order stay neighbours in time for the whole run: the monitors due in one tick are
/// a few consecutive chunks, and every column the engine touches for them is read and written
/// sequentially instead of at a million scattered places. Measured on the engine path bench
/// (1M monitors, 60 s): file order 1.5 M checks/s, due order several times that (see
/// docs/performance.md). `config_index` keeps the way back to `monitors[i]`.
fn order_by_due_time(cat: &mut Catalog) {
    let n = cat.names.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let keys: Vec<u64> = (0..n)
        .map(|i| {
            let interval = cat.interval_ms[i];
            let phase = first_due_ms(cat.strings.get(cat.names[i]), interval);
            (u64::from(interval) << 32) | u64::from(phase)
        })
        .collect();
    order.sort_by_key(|&i| keys[i as usize]);
    fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
        *v = order.iter().map(|&i| v[i as usize]).collect();
    }
    permute(&mut cat.config_index, &order);
    permute(&mut cat.names, &order);
    permute(&mut cat.paths, &order);
    permute(&mut cat.kinds, &order);
    permute(&mut cat.target_of, &order);
    permute(&mut cat.spec_of, &order);
    permute(&mut cat.intervention_of, &order);
    permute(&mut cat.codes_of, &order);
    permute(&mut cat.enabled, &order);
    permute(&mut cat.interval_ms, &order);
    permute(&mut cat.timeout_ms, &order);
    permute(&mut cat.unhealthy_threshold, &order);
    permute(&mut cat.healthy_threshold, &order);
    permute(&mut cat.verify_checks, &order);
    let mut new_id = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_id[old as usize] = new as u32;
    }
    for (m, _) in cat.maintenance.iter_mut() {
        m.0 = new_id[m.0 as usize];
    }
}

/// Resolves every target's host. IP literals cost nothing; names go through the system
/// resolver on a few threads at once (load time only, never on a probe loop).
fn resolve_targets(targets: &mut [Target]) {
    let mut names: Vec<&mut Target> = Vec::new();
    for t in targets.iter_mut() {
        if let Ok(ip) = t.host.parse::<IpAddr>() {
            t.addr = Some(SocketAddr::new(ip, t.port));
        } else {
            names.push(t);
        }
    }
    if names.is_empty() {
        return;
    }
    let threads = names.len().clamp(1, 16);
    let per = names.len().div_ceil(threads);
    std::thread::scope(|s| {
        for chunk in names.chunks_mut(per) {
            s.spawn(move || {
                for t in chunk.iter_mut() {
                    match (&*t.host, t.port).to_socket_addrs() {
                        Ok(mut addrs) => {
                            let all: Vec<SocketAddr> = addrs.by_ref().collect();
                            // Prefer IPv4 when both exist: loopback and most fleets answer there.
                            t.addr = all.iter().find(|a| a.is_ipv4()).or(all.first()).copied();
                            if t.addr.is_none() {
                                t.resolve_error = Some("no addresses".into());
                            }
                        }
                        Err(e) => t.resolve_error = Some(e.to_string().into()),
                    }
                }
            });
        }
    });
}
