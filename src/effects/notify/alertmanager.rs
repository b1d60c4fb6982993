//! The Alertmanager notifier: API v2, `POST {url}/api/v2/alerts`, many alerts per request.
//!
//! One alert per monitor, labelled `alertname` (`CpraMonitor`), `monitor`, `severity` and
//! `colour`, annotated with a summary, a description and `instance` (this cpra's `--name`).
//! The instance is an annotation, not a label, so that replicas checking the same monitor
//! (`--replicas`) post the same alert and Alertmanager (a cluster too) keeps one.
//! Red, yellow and cyan fire it (a new colour resolves the alert of the previous one, whose
//! labels differ); green and gray resolve it by `endsAt`. Alertmanager groups and deduplicates
//! by itself, so codes are batched, never digested. Firing alerts are posted again every
//! [`ALERTMANAGER_REPOST_MS`] with `endsAt` [`ALERTMANAGER_ALERT_TTL_MS`] ahead, as Prometheus
//! does: they stay active while the monitor is down, and expire on their own if this cpra
//! disappears. A resolve names every colour's label set, so it also ends an alert that an
//! earlier run of cpra fired.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::model::Colour;
use crate::effects::notify::http::Endpoint;
use crate::effects::notify::{Context, Notifier, Outgoing, SendError, Shape};
use crate::effects::render::{Code, rfc3339, severity, texts};
use crate::limits::{
    ALERTMANAGER_ALERT_TTL_MS, ALERTMANAGER_BATCH_ALERTS_MAX, ALERTMANAGER_REPOST_MS,
};

pub const ALERTNAME: &str = "CpraMonitor";

/// A firing alert as last posted.
struct Firing {
    colour: Colour,
    starts_ms: u64,
    summary: String,
    description: String,
}

pub struct Alertmanager {
    /// One per peer, with its alerts URL.
    peers: Vec<(Endpoint, String)>,
    instance: std::sync::Arc<str>,
    firing: HashMap<String, Firing>,
    /// When this run started (wall ms): older codes come from the outbox.
    started_ms: u64,
}

impl Alertmanager {
    /// Posts to every URL of `urls` (the peers of one cluster).
    pub fn new(urls: &[String], cx: &Context) -> Alertmanager {
        let peers = urls
            .iter()
            .map(|url| {
                let base = url.trim_end_matches('/');
                let alerts_url = if base.ends_with("/api/v2/alerts") {
                    base.to_string()
                } else {
                    format!("{base}/api/v2/alerts")
                };
                (Endpoint::new(&alerts_url, &[], cx.timeout), alerts_url)
            })
            .collect();
        Alertmanager {
            peers,
            instance: cx.instance.clone(),
            firing: HashMap::new(),
            started_ms: wall_now_ms().saturating_sub(1000),
        }
    }

    fn alert(&self, monitor: &str, f: &Firing, ends_ms: u64) -> serde_json::Value {
        serde_json::json!({
            "labels": {
                "alertname": ALERTNAME,
                "monitor": monitor,
                "severity": severity(f.colour),
                "colour": f.colour.name(),
            },
            "annotations": {
                "summary": f.summary,
                "description": f.description,
                "instance": &*self.instance,
            },
            "startsAt": rfc3339(f.starts_ms),
            "endsAt": rfc3339(ends_ms),
        })
    }

    /// The alerts one code turns into (a new firing alert and resolves of the others), and
    /// the change to the firing set once they are posted.
    fn alerts_for(
        &self,
        code: &Code,
        now_ms: u64,
        out: &mut Vec<serde_json::Value>,
        changes: &mut Vec<(String, Option<Firing>)>,
    ) {
        let fires = matches!(code.colour, Colour::Red | Colour::Yellow | Colour::Cyan);
        let (summary, _, _, message) = texts(code);
        let starts_ms = code.incident_wall_ms.min(code.wall_ms);
        // Resolve every other colour's label set (all of them when the incident closes).
        for c in [Colour::Red, Colour::Yellow, Colour::Cyan] {
            if fires && c == code.colour {
                continue;
            }
            let f = Firing {
                colour: c,
                starts_ms,
                summary: summary.clone(),
                description: message.clone(),
            };
            out.push(self.alert(&code.monitor, &f, code.wall_ms.max(starts_ms)));
        }
        if fires {
            let f = Firing {
                colour: code.colour,
                starts_ms,
                summary,
                description: message,
            };
            out.push(self.alert(&code.monitor, &f, now_ms + ALERTMANAGER_ALERT_TTL_MS));
            // A code from before this run (redelivered from the outbox) is posted once and left
            // to expire: this run may never see the green that would end it.
            if code.wall_ms >= self.started_ms {
                changes.push((code.monitor.clone(), Some(f)));
            }
        } else {
            changes.push((code.monitor.clone(), None));
        }
    }

    /// Posts to every peer; taken when at least one peer took it (a peer that missed it gets
    /// it with the next re-post, as Prometheus does), else the first peer's error.
    fn post(&self, alerts: &[serde_json::Value]) -> Result<(), SendError> {
        let mut first_err = None;
        let mut taken = false;
        for (endpoint, url) in &self.peers {
            match Self::post_to(endpoint, url, alerts) {
                Ok(()) => taken = true,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if !taken => Err(e),
            _ => Ok(()),
        }
    }

    fn post_to(
        endpoint: &Endpoint,
        url: &str,
        alerts: &[serde_json::Value],
    ) -> Result<(), SendError> {
        for chunk in alerts.chunks(ALERTMANAGER_BATCH_ALERTS_MAX) {
            let bytes = serde_json::to_vec(chunk).unwrap_or_default();
            let answer = endpoint.post_json(Some(url), &bytes, &[])?;
            endpoint.judge(&answer)?;
        }
        Ok(())
    }
}

fn wall_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Notifier for Alertmanager {
    fn describe(&self) -> String {
        let hosts: Vec<&str> = self.peers.iter().map(|(e, _)| e.host()).collect();
        format!("alertmanager ({})", hosts.join(", "))
    }

    fn shape(&self) -> Shape {
        Shape {
            batch_max: ALERTMANAGER_BATCH_ALERTS_MAX / 4,
            digests: false,
            ..Shape::default()
        }
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let codes = match msg {
            Outgoing::Codes(c) => *c,
            Outgoing::Digest(d) => d.codes,
        };
        let now = wall_now_ms();
        let mut alerts = Vec::with_capacity(codes.len() * 3);
        let mut changes = Vec::with_capacity(codes.len());
        for code in codes {
            self.alerts_for(code, now, &mut alerts, &mut changes);
        }
        self.post(&alerts)?;
        // Only what Alertmanager took is kept firing (and re-posted).
        for (monitor, f) in changes {
            match f {
                Some(f) => {
                    self.firing.insert(monitor, f);
                }
                None => {
                    self.firing.remove(&monitor);
                }
            }
        }
        Ok(())
    }

    fn maintain(&mut self, _now: Instant) -> Result<(), SendError> {
        if self.firing.is_empty() {
            return Ok(());
        }
        let ends = wall_now_ms() + ALERTMANAGER_ALERT_TTL_MS;
        let alerts: Vec<serde_json::Value> = self
            .firing
            .iter()
            .map(|(m, f)| self.alert(m, f, ends))
            .collect();
        self.post(&alerts)
    }

    fn maintain_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(ALERTMANAGER_REPOST_MS))
    }
}
