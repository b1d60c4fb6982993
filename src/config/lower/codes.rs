//! Lowering of `codes`: the colour keys, and one notifier config per kind, including the
//! Go original's placeholder configs that load but cannot deliver.

use super::*;

impl Lower<'_> {
    pub(super) fn codes(&mut self, n: &Node, p: &Path) -> CodesSpec {
        let mut codes = CodesSpec::default();
        let Some(m) = self.map(n, p) else {
            return codes;
        };
        for (i, (k, v)) in m.entries.iter().enumerate() {
            let kp = p.key(&k.text);
            if k.complex {
                self.err(p, k.line, "mapping keys must be plain strings");
                continue;
            }
            let lower = k.text.to_ascii_lowercase();
            if lower == "groups" {
                // The Go original's own key, read there and used for nothing.
                continue;
            }
            let Some(colour) = Colour::from_name(&lower) else {
                self.compat(
                    &kp,
                    k.line,
                    format!(
                        "unknown colour {:?} (ignored); colours are {COLOURS}",
                        shorten(&k.text)
                    ),
                );
                continue;
            };
            if lower != k.text {
                self.compat(
                    &kp,
                    k.line,
                    format!(
                        "colour {:?} read as {lower:?} (colours are lower case)",
                        k.text
                    ),
                );
            }
            if m.entries[..i]
                .iter()
                .any(|(e, _)| e.text.to_ascii_lowercase() == lower)
            {
                self.err(&kp, k.line, format!("duplicate key {:?}", k.text));
                continue;
            }
            if v.is_null() {
                continue;
            }
            codes.by_colour[colour as usize] = self.code(v, &kp);
        }
        codes
    }

    pub(super) fn code(&mut self, n: &Node, p: &Path) -> Option<CodeSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, CODE_KEYS);
        let dispatch = self.opt_bool(m, "dispatch", p).unwrap_or(true);
        let remind_every = self.opt_duration(m, "remind_every", p, true);
        let notify = self.req_str(m, "notify", p)?;
        let kind = notify.value.as_ref();
        if !matches!(
            kind,
            "log" | "webhook" | "slack" | "pagerduty" | "alertmanager" | "email"
        ) {
            self.err(
                &p.key("notify"),
                notify.line,
                format!(
                    "unknown notifier {:?}; known notifiers: {NOTIFIERS}",
                    notify.shown()
                ),
            );
            return None;
        }
        let cp = p.key("config");
        if kind == "log" {
            return Some(CodeSpec {
                dispatch,
                notify: self.log_notifier(m, &cp, notify.line)?,
                remind_every,
            });
        }
        let c = match m.get("config") {
            // The Go original's YAML loads these without a config.
            None if matches!(kind, "pagerduty" | "slack") => None,
            _ => Some(self.need(m, "config", p).and_then(|c| self.map(c, &cp))?),
        };
        if let Some(why) = c.map_or(Some("no config"), |c| placeholder(kind, c)) {
            self.compat(
                &cp,
                c.map_or(m.line, |c| c.line),
                format!("{kind} cannot deliver with this config ({why}), as the Go original's {kind} could not: its codes are recorded only, never sent (dispatch: false)"),
            );
            return Some(CodeSpec {
                dispatch: false,
                notify: NotifierSpec::Undeliverable {
                    kind: kind.to_string(),
                    why: why.to_string(),
                },
                remind_every,
            });
        }
        let c = c?;
        let spec = match kind {
            "webhook" => {
                self.check_keys(c, &cp, &["url", "headers"]);
                let url = self.req_url_string(c, "url", &cp);
                let headers = c
                    .get("headers")
                    .map(|h| self.headers(h, &cp.key("headers")))
                    .unwrap_or_default();
                NotifierSpec::Webhook { url: url?, headers }
            }
            "slack" => {
                self.check_keys(c, &cp, &["hook"]);
                NotifierSpec::Slack {
                    hook: self.req_url_string(c, "hook", &cp)?,
                }
            }
            "pagerduty" => {
                self.check_keys(c, &cp, &["routing_key", "url"]);
                let routing_key = self.req_text(c, "routing_key", &cp);
                let url = match self.opt_str(c, "url", &cp) {
                    None => Some(None),
                    Some(s) => self.url_string(s, &cp.key("url")).map(Some),
                };
                NotifierSpec::PagerDuty {
                    routing_key: routing_key?,
                    url: url?,
                }
            }
            "alertmanager" => {
                self.check_keys(c, &cp, &["url"]);
                NotifierSpec::Alertmanager {
                    urls: self.url_list(c, "url", &cp)?,
                }
            }
            _ => {
                self.check_keys(
                    c,
                    &cp,
                    &["smtp", "from", "to", "username", "password", "tls"],
                );
                let username = self.opt_text(c, "username", &cp);
                let password = self.opt_text(c, "password", &cp);
                let tls = self.smtp_tls(c, &cp);
                let smtp =
                    self.req_str(c, "smtp", &cp)
                        .and_then(|s| match check_smtp(s.value.trim()) {
                            Ok(()) => Some(s.value.trim().to_string()),
                            Err(e) => {
                                self.err(
                                    &cp.key("smtp"),
                                    s.line,
                                    format!("invalid SMTP server {:?}: {e}", s.shown()),
                                );
                                None
                            }
                        });
                let from = self
                    .req_str(c, "from", &cp)
                    .and_then(|s| self.address(s, &cp.key("from")));
                let to = self
                    .need(c, "to", &cp)
                    .and_then(|t| self.recipients(t, &cp.key("to")));
                if password.is_some() && username.is_none() {
                    self.err(
                        &cp.key("password"),
                        c.line,
                        "a password needs a username (add `username:`)",
                    );
                    return None;
                }
                NotifierSpec::Email {
                    smtp: smtp?,
                    from: from?,
                    to: to?,
                    username,
                    password,
                    tls: tls?,
                }
            }
        };
        Some(CodeSpec {
            dispatch,
            notify: spec,
            remind_every,
        })
    }

    /// A log notifier's config; no file (`file: ""`, `config: {}` or no config, all of which
    /// the Go original loads) means standard output, with a warning.
    pub(super) fn log_notifier(&mut self, m: M<'_>, cp: &Path, line: u32) -> Option<NotifierSpec> {
        let c = match m.get("config") {
            Some(n) => Some(self.map(n, cp)?),
            None => None,
        };
        let file = match c {
            Some(c) => {
                self.check_keys(c, cp, &["file"]);
                match self.opt_str(c, "file", cp) {
                    Some(s) => Some((s.value.trim().to_string(), s.line)),
                    None => None,
                }
            }
            None => None,
        };
        match file {
            Some((f, _)) if !f.is_empty() => Some(NotifierSpec::Log { file: f }),
            other => {
                self.compat(
                    &cp.key("file"),
                    other.map_or(c.map_or(line, |c| c.line), |(_, l)| l),
                    "no log file given: codes go to standard output, one JSON line each (the Go original failed to open \"\")",
                );
                Some(NotifierSpec::Log {
                    file: crate::config::model::LOG_STDOUT.to_string(),
                })
            }
        }
    }

    pub(super) fn smtp_tls(&mut self, c: M<'_>, p: &Path) -> Option<SmtpTls> {
        let Some(s) = self.opt_str(c, "tls", p) else {
            return Some(SmtpTls::Opportunistic);
        };
        match s.value.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(SmtpTls::Starttls),
            "implicit" | "smtps" => Some(SmtpTls::Implicit),
            "none" | "off" | "false" => Some(SmtpTls::None),
            _ => {
                self.err(
                    &p.key("tls"),
                    s.line,
                    format!(
                        "unknown tls mode {:?}; use starttls, implicit or none (leave it out for STARTTLS when the server offers it)",
                        s.shown()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn address(&mut self, s: Str<'_>, p: &Path) -> Option<String> {
        let v = s.value.trim();
        if v.contains('@')
            && !v.starts_with('@')
            && !v.ends_with('@')
            && !v.contains(char::is_whitespace)
        {
            Some(v.to_string())
        } else {
            self.err(p, s.line, format!("invalid email address {:?}", s.shown()));
            None
        }
    }

    pub(super) fn recipients(&mut self, n: &Node, p: &Path) -> Option<Vec<String>> {
        let mut out = Vec::new();
        match n {
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    let ip = p.index(i);
                    let s = self.str_node(item, &ip)?;
                    out.push(self.address(s, &ip)?);
                }
            }
            _ => {
                let s = self.str_node(n, p)?;
                out.push(self.address(s, p)?);
            }
        }
        if out.is_empty() {
            self.err(p, n.line(), "at least one recipient is needed");
            return None;
        }
        if out.len() > EMAIL_RECIPIENTS_MAX {
            self.err(
                p,
                n.line(),
                format!("more than {EMAIL_RECIPIENTS_MAX} recipients"),
            );
            return None;
        }
        Some(out)
    }
}

/// Why a notifier config written for the Go original, whose pagerduty and slack were stubs,
/// cannot deliver: pagerduty without a `routing_key` (the Go original had only `url`), slack
/// without a hook URL. Such a code loads and is recorded only.
fn placeholder(kind: &str, c: M<'_>) -> Option<&'static str> {
    let text = |key| match c.get(key) {
        Some(Node::Scalar { text, .. }) => Some(text.trim()),
        _ => None,
    };
    let is_url = |s: &str| parse_http_url(s).is_ok() || s.contains("${");
    match kind {
        "pagerduty" if text("routing_key").is_none_or(str::is_empty) => Some("no routing_key"),
        "slack" => match text("hook") {
            None | Some("") => Some("no hook"),
            Some(h) if !is_url(h) => Some("hook is not a URL"),
            Some(_) => None,
        },
        _ => None,
    }
}

/// `host` or `host:port` of an SMTP server.
fn check_smtp(s: &str) -> Result<(), String> {
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    match s.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') || h.starts_with('[') => {
            bare_host(h)?;
            parse_port(port).map(|_| ())
        }
        _ => bare_host(s).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_servers() {
        assert!(check_smtp("mail.example.com").is_ok());
        assert!(check_smtp("mail.example.com:587").is_ok());
        assert!(check_smtp("10.0.0.1:25").is_ok());
        assert!(check_smtp("[::1]:25").is_ok());
        assert!(check_smtp("mail example").is_err());
        assert!(check_smtp("mail:0").is_err());
    }
}
