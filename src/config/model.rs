//! The typed configuration: what one monitor asks for, after parsing and validation.
//!
//! These types are the boundary between the loader (which knows about YAML, JSON, lines and
//! error messages) and the engine (which knows about columns). They are plain owned data: a
//! `MonitorSpec` lives only for the moment between being parsed and being lowered into
//! the store's columns one at a time, so a million of them never exist at once.

use std::time::Duration;

/// One monitor as written in the file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSpec {
    /// Position in the `monitors` list (0-based), used in every message about this monitor.
    pub index: usize,
    /// 1-based line of the monitor's mapping in a YAML file; 0 when unknown (JSON).
    pub line: u32,
    pub name: String,
    pub enabled: bool,
    pub pulse: PulseSpec,
    pub intervention: Option<InterventionSpec>,
    pub codes: CodesSpec,
    /// Scheduled maintenance windows (extension; see docs/config.md). Sorted by start.
    pub maintenance: Vec<MaintenanceWindow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PulseSpec {
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before intervention/red. Alias `max_failures`. Default 1.
    pub unhealthy_threshold: u32,
    /// Consecutive successes to recover. `None` when the file does not set it: green then needs
    /// 2 successes, verification needs 3 (SPEC 2.3).
    pub healthy_threshold: Option<u32>,
    pub kind: PulseKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PulseKind {
    Http(HttpPulse),
    Tcp(TcpPulse),
    Icmp(IcmpPulse),
    Dns(DnsPulse),
    Tls(TlsPulse),
}

impl PulseKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            PulseKind::Http(h) if h.url.scheme == Scheme::Https => "https",
            PulseKind::Http(_) => "http",
            PulseKind::Tcp(_) => "tcp",
            PulseKind::Icmp(_) => "icmp",
            PulseKind::Dns(_) => "dns",
            PulseKind::Tls(_) => "tls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    pub scheme: Scheme,
    /// Host as written (no brackets for IPv6 literals).
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path: String,
}

/// An inclusive range of acceptable HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpPulse {
    pub url: HttpUrl,
    pub method: String,
    /// Header name and value, in file order. Sent with every request.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Extra attempts inside one check, 50 ms apart.
    pub retries: u32,
    /// Empty means the default, `2xx`.
    pub expected_status: Vec<StatusRange>,
    pub body_contains: Option<String>,
    pub max_response_time: Option<Duration>,
    pub follow_redirects: u32,
    pub insecure_skip_verify: bool,
    pub cert_expiry_warning: Option<Duration>,
    pub keepalive: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TcpPulse {
    pub host: String,
    pub port: u16,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IcmpPulse {
    pub host: String,
    pub count: u32,
    pub retries: u32,
    pub ignore_privilege: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Soa,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsPulse {
    /// `ip:port`; `None` means the system resolver.
    pub server: Option<String>,
    pub query: String,
    pub record_type: DnsRecordType,
    /// Upper-case rcode name, default `NOERROR`.
    pub expected_rcode: String,
    pub expected_answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsPulse {
    pub host: String,
    pub port: u16,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub cert_expiry_warning: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterventionSpec {
    pub action: InterventionAction,
    /// Extra attempts of one intervention. Default 0.
    pub retries: u32,
    /// Interventions per incident. Default 3.
    pub max_attempts: u32,
    /// Minimum time between two interventions of one incident. Default 5m.
    pub cooldown: Duration,
    /// First pause between attempts of one intervention, doubled each time. Default 1s.
    pub retry_backoff: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InterventionAction {
    Docker {
        container: String,
        timeout: Duration,
        /// Per-target Engine API address (`unix:///path`, `tcp://host:port`); default
        /// `$DOCKER_HOST`, else `/var/run/docker.sock`.
        docker_host: Option<String>,
    },
    Exec {
        command: Vec<String>,
        timeout: Duration,
        env: Vec<(String, String)>,
    },
    Webhook {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        body: Option<String>,
        timeout: Duration,
    },
}

impl InterventionAction {
    pub fn type_name(&self) -> &'static str {
        match self {
            InterventionAction::Docker { .. } => "docker",
            InterventionAction::Exec { .. } => "exec",
            InterventionAction::Webhook { .. } => "webhook",
        }
    }
}

pub use crate::vocab::Colour;

/// Codes per colour, indexed by `Colour as usize`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CodesSpec {
    pub by_colour: [Option<CodeSpec>; 5],
}

impl CodesSpec {
    pub fn get(&self, c: Colour) -> Option<&CodeSpec> {
        self.by_colour[c as usize].as_ref()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeSpec {
    /// `false`: the code is recorded, nothing is sent. Default true.
    pub dispatch: bool,
    pub notify: NotifierSpec,
    /// Send an open red again every this long (extension; red only). `None`: the `alerting`
    /// block's `remind_every`, which defaults to off.
    pub remind_every: Option<Duration>,
}

/// The top-level `alerting:` block (extension): storm digests and reminders, for every notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertingSpec {
    /// More codes than this within `storm_window` to one notifier start a storm: further codes
    /// go out as one digest per window. 0 turns digests off.
    pub storm_threshold: u32,
    pub storm_window: Duration,
    /// Default reminder period of an open red; `None` = off.
    pub remind_every: Option<Duration>,
}

impl Default for AlertingSpec {
    fn default() -> Self {
        AlertingSpec {
            storm_threshold: 10,
            storm_window: Duration::from_secs(10),
            remind_every: None,
        }
    }
}

/// The top-level `remediation:` block (extension): the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemediationSpec {
    /// Hold new interventions while more than this many monitors fail at once; `None`: 5 % of
    /// the enabled monitors, at least 50. `pause_above: 0` holds every intervention.
    pub pause_above: Option<PauseAbove>,
}

/// A breaker threshold: a count of monitors or a share of the enabled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseAbove {
    Monitors(u64),
    /// Percent of the enabled monitors (0..=100).
    Percent(u32),
    /// Never hold (`pause_above: off`).
    Off,
}

/// How the email notifier protects its SMTP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SmtpTls {
    /// STARTTLS when the server offers it, plain otherwise (the default).
    #[default]
    Opportunistic,
    /// STARTTLS, required: a server that does not offer it is a delivery failure.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// Plain text only.
    None,
}

/// The log notifier's `file` that names standard output.
pub const LOG_STDOUT: &str = "-";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifierSpec {
    Log {
        file: String,
    },
    Webhook {
        url: String,
        headers: Vec<(String, String)>,
    },
    Slack {
        hook: String,
    },
    PagerDuty {
        routing_key: String,
        url: Option<String>,
    },
    /// Every peer of an Alertmanager cluster gets every alert (peers do not share alerts,
    /// only silences and what they notified).
    Alertmanager {
        urls: Vec<String>,
    },
    Email {
        smtp: String,
        from: String,
        to: Vec<String>,
        username: Option<String>,
        password: Option<String>,
        tls: SmtpTls,
    },
    /// A config the Go original loads but that cannot deliver (its stub notifiers'
    /// placeholders): codes routed here are recorded only.
    Undeliverable {
        kind: String,
        why: String,
    },
}

impl NotifierSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            NotifierSpec::Log { .. } => "log",
            NotifierSpec::Webhook { .. } => "webhook",
            NotifierSpec::Slack { .. } => "slack",
            NotifierSpec::PagerDuty { .. } => "pagerduty",
            NotifierSpec::Alertmanager { .. } => "alertmanager",
            NotifierSpec::Email { .. } => "email",
            NotifierSpec::Undeliverable { .. } => "undeliverable",
        }
    }
}

/// A scheduled maintenance window: gray on entry, no other codes while inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Start, as milliseconds since the Unix epoch (UTC).
    pub start_unix_ms: u64,
    pub duration: Duration,
}

/// Where the Docker Engine API listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DockerHost {
    Unix(std::path::PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl DockerHost {
    /// Parses `unix:///path`, `tcp://host:port` (or `http://`), or a bare absolute path.
    pub fn parse(s: &str) -> Result<DockerHost, String> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix://") {
            if p.starts_with('/') {
                return Ok(DockerHost::Unix(p.into()));
            }
            return Err(format!(
                "{s:?}: a unix socket path must be absolute (unix:///run/docker.sock)"
            ));
        }
        if let Some(hp) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let hp = hp.trim_end_matches('/');
            match hp.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {
                    return Ok(DockerHost::Tcp(hp.to_string()));
                }
                _ => return Err(format!("{s:?}: expected tcp://host:port")),
            }
        }
        if s.starts_with('/') {
            return Ok(DockerHost::Unix(s.into()));
        }
        Err(format!(
            "{s:?} is not a Docker host: use unix:///path/to/docker.sock or tcp://host:port (TLS hosts are not supported)"
        ))
    }
}
