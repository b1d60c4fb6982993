//! The webhook intervention: one HTTP request (`target.method`, default POST) to `target.url`
//! with `target.headers` and `target.body`; 2xx is success.
//!
//! `${VAR}` in the body was substituted from the environment at load. At run time the body, the
//! URL and header values may name the monitor: `{{monitor}}` (its name), `{{reason}}` (the
//! last check's reason) and `{{instance}}` (this cpra's `--name`), each replaced as is (JSON
//! bodies should quote them: `{"service": "{{monitor}}"}`). `target.timeout` bounds the request.

use std::time::Duration;

use crate::effects::notify::redact;

/// Values for the placeholders.
pub struct Vars<'a> {
    pub monitor: &'a str,
    pub reason: &'a str,
    pub instance: &'a str,
}

pub fn fill(template: &str, v: &Vars<'_>) -> String {
    template
        .replace("{{monitor}}", v.monitor)
        .replace("{{reason}}", v.reason)
        .replace("{{instance}}", v.instance)
}

pub fn call(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    timeout: Duration,
    vars: &Vars<'_>,
) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .build()
        .into();
    let url = fill(url, vars);
    let host = crate::effects::notify::http_host_of(&url);
    let mut secrets: Vec<String> = headers.iter().map(|(_, v)| fill(v, vars)).collect();
    secrets.push(url.clone());
    // Receivers echo the path in error pages ("Cannot POST /hooks/<token>").
    if let Some((_, path)) = url.split_once("://").and_then(|(_, r)| r.split_once('/'))
        && !path.is_empty()
    {
        secrets.push(format!("/{path}"));
    }
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url.as_str());
    for (k, v) in headers {
        req = req.header(k.as_str(), fill(v, vars));
    }
    let body = body.map(|b| fill(b, vars)).unwrap_or_default();
    let req = req
        .body(body.into_bytes())
        .map_err(|e| format!("cannot build the request to {host}: {e}"))?;
    match agent.run(req) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(());
            }
            let said: String = crate::effects::notify::read_answer(&mut resp)
                .trim()
                .chars()
                .take(300)
                .collect();
            Err(redact(
                &format!("{host} answered {status}: {said}"),
                &secrets,
            ))
        }
        Err(e) => Err(redact(&format!("request to {host} failed: {e}"), &secrets)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let v = Vars {
            monitor: "web",
            reason: "timeout",
            instance: "box",
        };
        assert_eq!(
            fill(
                "{\"m\":\"{{monitor}}\",\"r\":\"{{reason}}\",\"i\":\"{{instance}}\"}",
                &v
            ),
            "{\"m\":\"web\",\"r\":\"timeout\",\"i\":\"box\"}"
        );
    }
}
