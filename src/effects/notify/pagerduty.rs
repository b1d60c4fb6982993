//! The PagerDuty notifier: Events API v2 (`POST /v2/enqueue`).
//!
//! One alert per incident: red triggers (`critical`), yellow triggers as `warning` when yellow
//! is routed here, green and gray resolve, all with the same `dedup_key` (the incident id), so
//! PagerDuty folds them into one incident and closes it. Cyan is no PagerDuty event (the
//! incident stays triggered until green) and is taken as done. A reminder re-triggers the same
//! key, which PagerDuty deduplicates. No digests: one trigger per monitor is what PagerDuty's
//! own grouping expects; instead requests are paced to PagerDuty's rate limit
//! ([`PAGERDUTY_SEND_INTERVAL_MS`]) and a 429 waits (`Retry-After`, else backoff).

use crate::config::model::Colour;
use crate::effects::notify::http::Endpoint;
use crate::effects::notify::{Context, Notifier, Outgoing, SendError, Shape};
use crate::effects::render::{Code, code_object, rfc3339, texts};
use crate::limits::{PAGERDUTY_SEND_INTERVAL_MS, PAGERDUTY_SUMMARY_CHARS_MAX};

/// The public Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub struct PagerDuty {
    endpoint: Endpoint,
    routing_key: String,
    instance: std::sync::Arc<str>,
}

impl PagerDuty {
    pub fn new(routing_key: &str, url: Option<&str>, cx: &Context) -> PagerDuty {
        let mut endpoint = Endpoint::new(url.unwrap_or(DEFAULT_URL), &[], cx.timeout);
        endpoint.add_secret(routing_key);
        PagerDuty {
            endpoint,
            routing_key: routing_key.to_string(),
            instance: cx.instance.clone(),
        }
    }
}

/// The Events API v2 event for `code`, or `None` when the colour is no PagerDuty event.
pub fn event(code: &Code, routing_key: &str, instance: &str) -> Option<serde_json::Value> {
    let dedup_key = format!("cpra-{}", code.incident_id());
    let (action, severity) = match code.colour {
        Colour::Red => ("trigger", "critical"),
        Colour::Yellow => ("trigger", "warning"),
        Colour::Green | Colour::Gray => ("resolve", "info"),
        Colour::Cyan => return None,
    };
    if action == "resolve" {
        return Some(serde_json::json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }));
    }
    let (mut summary, ..) = texts(code);
    if code.reminder {
        summary = format!("reminder: {summary}");
    }
    let summary: String = summary.chars().take(PAGERDUTY_SUMMARY_CHARS_MAX).collect();
    Some(serde_json::json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": instance,
            "severity": severity,
            "timestamp": rfc3339(code.wall_ms),
            "component": code.monitor,
            "class": code.event.reason.name(),
            "custom_details": code_object(code, instance),
        },
        "client": "cpra",
    }))
}

impl Notifier for PagerDuty {
    fn describe(&self) -> String {
        format!("pagerduty ({})", self.endpoint.host())
    }

    fn shape(&self) -> Shape {
        Shape {
            batch_max: 1,
            digests: false,
            min_interval: std::time::Duration::from_millis(PAGERDUTY_SEND_INTERVAL_MS),
        }
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let codes = match msg {
            Outgoing::Codes(c) => *c,
            Outgoing::Digest(d) => d.codes,
        };
        for code in codes {
            let Some(ev) = event(code, &self.routing_key, &self.instance) else {
                continue;
            };
            let bytes = serde_json::to_vec(&ev).unwrap_or_default();
            let answer = self.endpoint.post_json(None, &bytes, &[])?;
            self.endpoint.judge(&answer)?;
        }
        Ok(())
    }
}
