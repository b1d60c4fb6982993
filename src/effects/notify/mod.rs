//! Codes to people: the notifier extension point, the durable outbox, and delivery.
//!
//! ```text
//! engine ── one batch of codes per tick ──▶ cpra-outbox (hub.rs): append + fsync (outbox.rs)
//!                                              │ route by notifier
//!                        ┌─────────────────────┼──────────────────────┐
//!                 cpra-notify-0          cpra-notify-1    ...   cpra-notify-K (lane.rs)
//!             storm window (storm.rs), backoff, pacing, one request at a time, each with a
//!             timeout; delivered or refused codes are acknowledged back to the outbox
//! ```
//!
//! - A notifier is one file implementing [`Notifier`] and one arm in [`build`]; that is all a
//!   new kind needs. The lane does queueing, storms, retries and acknowledgement for every kind
//!   alike, so a notifier only turns codes into its protocol's request.
//! - Lanes: one thread per notifier up to [`NOTIFY_LANES_MAX`]; beyond that notifiers share
//!   lanes round-robin. A hanging receiver holds up only its own lane, and only until its
//!   request timeout.
//! - Nothing is lost: a code counts as sent once it is in the outbox on disk; it leaves the
//!   outbox when its notifier delivered it or refused it for good (a 4xx other than 429).
//!   After a crash every code still in the outbox is delivered again (at least once; receivers
//!   deduplicate by the idempotency key).
//! - Secrets (hooks, routing keys, passwords, header values) are known to each notifier and
//!   scrubbed from every message it returns ([`redact`]); `describe` never shows them.

mod alertmanager;
mod email;
mod http;
mod hub;
mod lane;
mod log;
pub mod outbox;
mod pagerduty;
mod slack;
pub mod storm;
mod undeliverable;
mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::model::{AlertingSpec, NotifierSpec};
use crate::effects::render::Code;

pub use hub::{Notify, NotifyOptions};

/// Notifier lanes (delivery threads) at most.
pub use crate::limits::NOTIFY_LANES_MAX;

/// How a notifier wants its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Codes per [`Notifier::send`] outside storms (a log file or Alertmanager take many).
    pub batch_max: usize,
    /// Storm digests: during a storm, one message per window instead of one per code.
    pub digests: bool,
    /// Least time between two requests (a receiver's documented rate limit).
    pub min_interval: Duration,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            batch_max: 1,
            digests: true,
            min_interval: Duration::ZERO,
        }
    }
}

/// A storm digest: the codes that arrived in one storm window, in arrival order.
pub struct Digest<'a> {
    pub codes: &'a [&'a Code],
    /// Wall-clock window, ms since the Unix epoch.
    pub window_start_ms: u64,
    pub window_end_ms: u64,
}

impl Digest<'_> {
    /// "990 red, 10 yellow": the counts of the colours present.
    pub fn counts_text(&self) -> String {
        let counts = self.counts();
        crate::config::model::Colour::ALL
            .iter()
            .filter(|c| counts[**c as usize] > 0)
            .map(|c| format!("{} {}", counts[*c as usize], c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Codes per colour, indexed by `Colour as usize`.
    pub fn counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        for code in self.codes {
            c[code.colour as usize] += 1;
        }
        c
    }
}

/// One request's worth of codes.
pub enum Outgoing<'a> {
    /// One code, or up to `batch_max` in order.
    Codes(&'a [&'a Code]),
    Digest(&'a Digest<'a>),
}

/// What to do after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again after the notifier's exponential backoff (5xx, timeouts, refused).
    Backoff,
    /// Try again after at least this long (HTTP 429 with `Retry-After`).
    After(Duration),
    /// The receiver refused the message for good (4xx): record it as failed, do not retry.
    Never,
}

/// A failed send: what to do and what happened (secret-free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub retry: Retry,
    pub message: String,
}

impl SendError {
    pub fn backoff(message: impl Into<String>) -> SendError {
        SendError {
            retry: Retry::Backoff,
            message: message.into(),
        }
    }

    pub fn never(message: impl Into<String>) -> SendError {
        SendError {
            retry: Retry::Never,
            message: message.into(),
        }
    }
}

/// A destination for codes. Implementations do blocking I/O with a timeout on their lane's
/// thread, never on the engine's.
pub trait Notifier: Send {
    /// Who this is, without secrets: `slack (hooks.slack.com)`.
    fn describe(&self) -> String;

    fn shape(&self) -> Shape {
        Shape::default()
    }

    /// Sends one message. `Ok` means the receiver took all of it.
    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError>;

    /// Periodic work (Alertmanager re-posts firing alerts), every [`Notifier::maintain_every`].
    fn maintain(&mut self, _now: Instant) -> Result<(), SendError> {
        Ok(())
    }

    fn maintain_every(&self) -> Option<Duration> {
        None
    }
}

/// What every notifier gets at start.
#[derive(Clone)]
pub struct Context {
    /// This cpra's name (`cpra run --name`): PagerDuty's source, Alertmanager's `instance`.
    pub instance: Arc<str>,
    /// Bound on one request, connection and answer included.
    pub timeout: Duration,
}

/// The one place notifier kinds are registered.
pub fn build(spec: &NotifierSpec, cx: &Context) -> Result<Box<dyn Notifier>, String> {
    Ok(match spec {
        NotifierSpec::Log { file } => Box::new(log::Log::new(file, cx)),
        NotifierSpec::Webhook { url, headers } => Box::new(webhook::Webhook::new(url, headers, cx)),
        NotifierSpec::Slack { hook } => Box::new(slack::Slack::new(hook, cx)),
        NotifierSpec::PagerDuty { routing_key, url } => {
            Box::new(pagerduty::PagerDuty::new(routing_key, url.as_deref(), cx))
        }
        NotifierSpec::Alertmanager { urls } => Box::new(alertmanager::Alertmanager::new(urls, cx)),
        NotifierSpec::Email { .. } => Box::new(email::Email::new(spec, cx)?),
        NotifierSpec::Undeliverable { kind, why } => {
            Box::new(undeliverable::Undeliverable::new(kind, why))
        }
    })
}

/// Whether a notifier keeps state at the receiver (an open incident, a firing alert) that only
/// a closing code ends. Such a notifier gets the green (and gray) of every monitor whose red,
/// yellow or cyan it was sent, even when green is routed elsewhere: otherwise its incident
/// would stay open forever.
pub fn holds_incidents(spec: &NotifierSpec) -> bool {
    matches!(
        spec,
        NotifierSpec::PagerDuty { .. } | NotifierSpec::Alertmanager { .. }
    )
}

/// A stable key for a notifier across restarts and config edits: its kind and where it
/// sends. Outbox records carry it, so a code written before a restart finds its notifier.
pub fn identity_key(spec: &NotifierSpec) -> u64 {
    let text = match spec {
        NotifierSpec::Log { file } => format!("log\0{file}"),
        NotifierSpec::Webhook { url, .. } => format!("webhook\0{url}"),
        NotifierSpec::Slack { hook } => format!("slack\0{hook}"),
        NotifierSpec::PagerDuty { routing_key, url } => {
            format!("pagerduty\0{routing_key}\0{}", url.as_deref().unwrap_or(""))
        }
        NotifierSpec::Alertmanager { urls } => format!("alertmanager\0{}", urls.join("\0")),
        NotifierSpec::Email { smtp, from, to, .. } => {
            format!("email\0{smtp}\0{from}\0{}", to.join(","))
        }
        NotifierSpec::Undeliverable { kind, why } => format!("undeliverable\0{kind}\0{why}"),
    };
    crate::store::name_hash(&text)
}

/// The first bytes of a receiver's answer (bounded), for messages.
pub fn read_answer(resp: &mut ureq::http::Response<ureq::Body>) -> String {
    http::read_answer(resp)
}

/// `host[:port]` of a URL, without user info, path or query: safe to print.
pub fn http_host_of(url: &str) -> String {
    http::host_of(url)
}

/// Replaces every secret in `msg` by `***`.
pub fn redact(msg: &str, secrets: &[String]) -> String {
    let mut out = msg.to_string();
    let mut order: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    order.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in order {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Delivery counters, shared by the hub and the lanes, read live by the engine.
#[derive(Debug, Default)]
pub struct Counters {
    /// Codes the receiver took.
    pub delivered: AtomicU64,
    /// Codes the receiver refused for good (4xx), recorded as failed.
    pub failed: AtomicU64,
    /// Send attempts that failed and will be retried.
    pub failed_attempts: AtomicU64,
    /// Codes not stored because the outbox was full.
    pub dropped: AtomicU64,
    /// Storm digests sent.
    pub digests: AtomicU64,
    /// Codes waiting for delivery right now (in the outbox, not yet acknowledged).
    pub queued: AtomicU64,
    /// Outbox writes that failed (the codes were still handed to their notifiers).
    pub outbox_errors: AtomicU64,
    /// Codes found in the outbox at start and handed to their notifiers again.
    pub recovered: AtomicU64,
    /// Per notifier kind ([`KINDS`]): delivered, failed for good, attempts to retry.
    pub by_kind: [[AtomicU64; 3]; KINDS.len()],
}

/// Notifier kinds, as `NotifierSpec::type_name` names them (metrics label them).
pub const KINDS: [&str; 7] = [
    "log",
    "webhook",
    "slack",
    "pagerduty",
    "alertmanager",
    "email",
    "undeliverable",
];

/// Index of a kind in [`KINDS`] (the last for an unknown one).
pub fn kind_index(name: &str) -> usize {
    KINDS
        .iter()
        .position(|k| *k == name)
        .unwrap_or(KINDS.len() - 1)
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub delivered: u64,
    pub failed: u64,
    pub failed_attempts: u64,
    pub dropped: u64,
    pub digests: u64,
    /// Codes still waiting at exit: kept in the outbox for the next start.
    pub undelivered: u64,
    pub outbox_errors: u64,
    pub recovered: u64,
}

impl Counters {
    pub fn snapshot(&self) -> NotifyStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NotifyStats {
            delivered: r(&self.delivered),
            failed: r(&self.failed),
            failed_attempts: r(&self.failed_attempts),
            dropped: r(&self.dropped),
            digests: r(&self.digests),
            undelivered: r(&self.queued),
            outbox_errors: r(&self.outbox_errors),
            recovered: r(&self.recovered),
        }
    }

    /// `(kind, delivered, failed, retried)` per notifier kind that has counted anything.
    pub fn by_kind(&self) -> Vec<(&'static str, u64, u64, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        KINDS
            .iter()
            .zip(&self.by_kind)
            .map(|(k, c)| (*k, r(&c[0]), r(&c[1]), r(&c[2])))
            .filter(|(_, a, b, c)| a + b + c > 0)
            .collect()
    }

    pub(crate) fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(a: &AtomicU64, n: u64) {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    }
}

/// The alerting settings every lane applies.
pub fn storm_of(a: &AlertingSpec) -> storm::Storm {
    storm::Storm::new(a.storm_threshold, a.storm_window.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_secret_longest_first() {
        let s = redact(
            "POST https://hooks.example/T0/B1/abcdef failed: abcdef",
            &["https://hooks.example/T0/B1/abcdef".into(), "abcdef".into()],
        );
        assert_eq!(s, "POST *** failed: ***");
        assert_eq!(redact("x", &["".into()]), "x");
    }

    #[test]
    fn identity_ignores_what_does_not_address() {
        let a = NotifierSpec::Webhook {
            url: "http://a/x".into(),
            headers: vec![],
        };
        let b = NotifierSpec::Webhook {
            url: "http://a/x".into(),
            headers: vec![("X".into(), "1".into())],
        };
        let c = NotifierSpec::Webhook {
            url: "http://a/y".into(),
            headers: vec![],
        };
        assert_eq!(identity_key(&a), identity_key(&b));
        assert_ne!(identity_key(&a), identity_key(&c));
    }
}
