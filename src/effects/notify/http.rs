//! The HTTP side shared by the webhook, Slack, PagerDuty and Alertmanager notifiers.
//!
//! ureq (blocking, rustls) does the protocol: these notifiers run on their own lane threads,
//! one request at a time, so a blocking client with a global timeout is exactly the shape
//! needed, and it brings TLS, chunked bodies and connection reuse without an async runtime.
//! This file adds what every notifier needs on top: one timeout for the whole call, no
//! redirects (a POST that is redirected is not delivered), a bounded read of the answer, the
//! mapping of statuses to [`Retry`] decisions, and secret-free error text.

use std::io::Read;
use std::time::Duration;

use crate::effects::notify::{Retry, SendError, redact};
use crate::limits::NOTIFY_RESPONSE_BYTES_MAX;

/// An HTTP endpoint of one notifier: the client, the URL and what must never be printed.
pub struct Endpoint {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    /// URL, its path and query, header values: scrubbed from every message.
    secrets: Vec<String>,
    /// `host[:port]`, safe to print.
    host: String,
}

/// The answer to a request.
pub struct Answer {
    pub status: u16,
    /// The first [`NOTIFY_RESPONSE_BYTES_MAX`] bytes of the body, lossily decoded.
    pub body: String,
    pub retry_after: Option<Duration>,
}

impl Endpoint {
    pub fn new(url: &str, headers: &[(String, String)], timeout: Duration) -> Endpoint {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("cpra/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut secrets = vec![url.to_string()];
        let host = host_of(url);
        if let Some(rest) = url.split_once("://").map(|(_, r)| r)
            && let Some((_, path)) = rest.split_once('/')
            && !path.is_empty()
        {
            secrets.push(format!("/{path}"));
        }
        for (_, v) in headers {
            secrets.push(v.clone());
        }
        Endpoint {
            agent,
            url: url.to_string(),
            headers: headers.to_vec(),
            secrets,
            host,
        }
    }

    /// `host[:port]` of the URL, for messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    #[cfg(test)]
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Adds a secret (a routing key inside the body, say) to scrub from messages.
    pub fn add_secret(&mut self, s: &str) {
        self.secrets.push(s.to_string());
    }

    /// POSTs a JSON body to `url` (or the endpoint's own URL) with the configured headers.
    pub fn post_json(
        &self,
        path_url: Option<&str>,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<Answer, SendError> {
        let url = path_url.unwrap_or(&self.url);
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Ok(Answer {
                    status,
                    body: redact(&read_answer(&mut resp), &self.secrets),
                    retry_after,
                })
            }
            Err(e) => Err(SendError::backoff(format!(
                "request to {} failed: {}",
                self.host,
                redact(&error_text(&e), &self.secrets)
            ))),
        }
    }

    /// The usual reading of an answer: 2xx delivered; 429 later; 408, 425 and 5xx backoff;
    /// other 4xx refused for good.
    pub fn judge(&self, a: &Answer) -> Result<(), SendError> {
        judge(&self.host, a)
    }
}

/// The first [`NOTIFY_RESPONSE_BYTES_MAX`] bytes of an answer's body, lossily decoded.
pub fn read_answer(resp: &mut ureq::http::Response<ureq::Body>) -> String {
    let mut buf = Vec::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(NOTIFY_RESPONSE_BYTES_MAX as u64)
        .read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// See [`Endpoint::judge`].
pub fn judge(host: &str, a: &Answer) -> Result<(), SendError> {
    let said = a.body.trim();
    let said: String = said.chars().take(300).collect();
    match a.status {
        200..=299 => Ok(()),
        429 => Err(SendError {
            retry: a.retry_after.map_or(Retry::Backoff, Retry::After),
            message: format!("{host} answered 429 (rate limited): {said}"),
        }),
        408 | 425 | 500..=599 => Err(SendError::backoff(format!(
            "{host} answered {}: {said}",
            a.status
        ))),
        // Redirects are not followed (a redirected POST is not delivered): fix the URL.
        300..=399 => Err(SendError::backoff(format!(
            "{host} answered {} (a redirect): cpra does not follow redirects for notifiers; configure the final URL",
            a.status
        ))),
        s => Err(SendError::never(format!(
            "{host} refused the message with {s}: {said}"
        ))),
    }
}

fn error_text(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => io.to_string(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

/// `host[:port]` of a URL, without user info, path or query.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_hides_user_and_path() {
        assert_eq!(
            host_of("https://user:pw@hooks.slack.com/services/T/B/X?a=1"),
            "hooks.slack.com"
        );
        assert_eq!(host_of("http://127.0.0.1:9093"), "127.0.0.1:9093");
    }

    #[test]
    fn statuses_map_to_retry_decisions() {
        let a = |status, retry_after| Answer {
            status,
            body: "no".into(),
            retry_after,
        };
        assert!(judge("h", &a(202, None)).is_ok());
        assert_eq!(judge("h", &a(500, None)).unwrap_err().retry, Retry::Backoff);
        assert_eq!(judge("h", &a(404, None)).unwrap_err().retry, Retry::Never);
        assert_eq!(
            judge("h", &a(429, Some(Duration::from_secs(3))))
                .unwrap_err()
                .retry,
            Retry::After(Duration::from_secs(3))
        );
        assert_eq!(judge("h", &a(429, None)).unwrap_err().retry, Retry::Backoff);
    }

    #[test]
    fn secrets_are_known() {
        let e = Endpoint::new(
            "https://hooks.example/services/T1/B2/secret",
            &[("Authorization".into(), "Bearer tok".into())],
            Duration::from_secs(1),
        );
        assert_eq!(e.host(), "hooks.example");
        let s = redact(
            "https://hooks.example/services/T1/B2/secret /services/T1/B2/secret Bearer tok",
            e.secrets(),
        );
        assert!(!s.contains("secret") && !s.contains("tok"), "{s}");
    }
}
