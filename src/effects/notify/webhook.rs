//! The webhook notifier: one POST of the code object per code, one POST with a `digest`
//! array per storm window (schema in docs/notifiers.md). Configured headers are sent; an
//! `Idempotency-Key` header repeats the body's key; 2xx is delivered.

use crate::effects::notify::http::Endpoint;
use crate::effects::notify::{Context, Digest, Notifier, Outgoing, SendError};
use crate::effects::render::{code_object, rfc3339};

pub struct Webhook {
    endpoint: Endpoint,
    instance: std::sync::Arc<str>,
}

impl Webhook {
    pub fn new(url: &str, headers: &[(String, String)], cx: &Context) -> Webhook {
        Webhook {
            endpoint: Endpoint::new(url, headers, cx.timeout),
            instance: cx.instance.clone(),
        }
    }
}

/// The digest object: counts by colour and every code of the window.
pub fn digest_object(d: &Digest<'_>, instance: &str) -> serde_json::Value {
    let counts = d.counts();
    let by_colour: serde_json::Map<String, serde_json::Value> = crate::config::model::Colour::ALL
        .iter()
        .filter(|c| counts[**c as usize] > 0)
        .map(|c| (c.name().to_string(), counts[*c as usize].into()))
        .collect();
    let codes: Vec<serde_json::Value> = d.codes.iter().map(|c| code_object(c, instance)).collect();
    let keys: String = d
        .codes
        .iter()
        .map(|c| c.idempotency_key(instance))
        .collect::<Vec<_>>()
        .join(",");
    serde_json::json!({
        "type": "digest",
        "instance": instance,
        "window_start": rfc3339(d.window_start_ms),
        "window_end": rfc3339(d.window_end_ms),
        "count": d.codes.len(),
        "counts": by_colour,
        "summary": format!("{} codes in a storm window on {instance}", d.codes.len()),
        "idempotency_key": format!("{:016x}", crate::store::name_hash(&keys)),
        "digest": codes,
    })
}

impl Notifier for Webhook {
    fn describe(&self) -> String {
        format!("webhook to {}", self.endpoint.host())
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let body = match msg {
            Outgoing::Codes(codes) if codes.len() == 1 => code_object(codes[0], &self.instance),
            Outgoing::Codes(codes) => serde_json::Value::Array(
                codes
                    .iter()
                    .map(|c| code_object(c, &self.instance))
                    .collect(),
            ),
            Outgoing::Digest(d) => digest_object(d, &self.instance),
        };
        let key = body["idempotency_key"].as_str().unwrap_or("").to_string();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self
            .endpoint
            .post_json(None, &bytes, &[("Idempotency-Key", &key)])?;
        self.endpoint.judge(&answer)
    }
}
