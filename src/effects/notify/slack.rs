//! The Slack notifier: an incoming-webhook message per code (`hook`), a digest message per
//! storm window.
//!
//! A code is `text` (the summary, for notifications and clients without attachments) plus one
//! attachment coloured like the code, with the monitor, the reason and since when as fields.
//! A digest is one message: counts by colour, then per colour the first
//! [`DIGEST_NAMES_MAX`] monitor names and "and N more". Slack answers 200 `ok`; 4xx
//! (`invalid_payload`, `no_service`, ...) is refused for good, 429 waits for `Retry-After`.

use crate::config::model::Colour;
use crate::effects::notify::http::Endpoint;
use crate::effects::notify::{Context, Digest, Notifier, Outgoing, SendError};
use crate::effects::render::{Code, rfc3339, status_word, texts};
use crate::limits::DIGEST_NAMES_MAX;

pub struct Slack {
    endpoint: Endpoint,
    instance: std::sync::Arc<str>,
}

impl Slack {
    pub fn new(hook: &str, cx: &Context) -> Slack {
        Slack {
            endpoint: Endpoint::new(hook, &[], cx.timeout),
            instance: cx.instance.clone(),
        }
    }
}

/// Slack attachment colours: red, amber, green, cyan, gray.
pub fn hex(c: Colour) -> &'static str {
    match c {
        Colour::Red => "#d40e0d",
        Colour::Yellow => "#e8a317",
        Colour::Green => "#2eb886",
        Colour::Cyan => "#17a2b8",
        Colour::Gray => "#9e9e9e",
    }
}

/// Slack's text fields are escaped for `&`, `<` and `>`.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn code_message(code: &Code, instance: &str) -> serde_json::Value {
    let (summary, _action, next_steps, message) = texts(code);
    let summary = if code.reminder {
        format!("reminder: {summary}")
    } else {
        summary
    };
    let reason = if code.event.status != 0 {
        format!("{} (HTTP {})", code.event.reason.name(), code.event.status)
    } else {
        code.event.reason.name().to_string()
    };
    serde_json::json!({
        "text": esc(&format!("[{}] {summary}", status_word(code.colour))),
        "attachments": [{
            "color": hex(code.colour),
            "fallback": esc(&summary),
            "title": esc(&summary),
            "text": esc(&format!("{message}\nNext: {next_steps}")),
            "fields": [
                {"title": "Monitor", "value": esc(&code.monitor), "short": true},
                {"title": "Reason", "value": esc(&reason), "short": true},
                {"title": "Since", "value": rfc3339(code.incident_wall_ms), "short": true},
                {"title": "State", "value": format!("{} → {}", code.event.from.name(), code.event.to.name()), "short": true},
            ],
            "footer": esc(&format!("cpra on {instance}")),
            "ts": code.wall_ms / 1000,
        }],
    })
}

/// Counts by colour, then the first names per colour and how many more.
pub fn digest_message(d: &Digest<'_>, instance: &str) -> serde_json::Value {
    let counts = d.counts();
    let text = format!(
        "cpra on {instance}: {} codes between {} and {} ({})",
        d.codes.len(),
        rfc3339(d.window_start_ms),
        rfc3339(d.window_end_ms),
        d.counts_text()
    );
    let attachments: Vec<serde_json::Value> = Colour::ALL
        .iter()
        .filter(|c| counts[**c as usize] > 0)
        .map(|c| {
            let names: Vec<&str> = d
                .codes
                .iter()
                .filter(|code| code.colour == *c)
                .take(DIGEST_NAMES_MAX)
                .map(|code| code.monitor.as_str())
                .collect();
            let more = counts[*c as usize] - names.len();
            let mut list = names.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            serde_json::json!({
                "color": hex(*c),
                "fallback": format!("{} {}", counts[*c as usize], c.name()),
                "title": format!("{} {} ({})", counts[*c as usize], c.name(), status_word(*c)),
                "text": esc(&list),
            })
        })
        .collect();
    serde_json::json!({ "text": esc(&text), "attachments": attachments })
}

impl Notifier for Slack {
    fn describe(&self) -> String {
        format!("slack ({})", self.endpoint.host())
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let body = match msg {
            Outgoing::Codes(codes) => code_message(codes[0], &self.instance),
            Outgoing::Digest(d) => digest_message(d, &self.instance),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self.endpoint.post_json(None, &bytes, &[])?;
        self.endpoint.judge(&answer)
    }
}
