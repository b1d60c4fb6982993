//! The email notifier: one message per code over SMTP, one per storm digest.
//!
//! lettre speaks SMTP (EHLO, STARTTLS, AUTH, dot-stuffing, MIME headers) so this file only
//! writes the words. `tls`: STARTTLS when the server offers it (default), `starttls`
//! (required), `implicit` (SMTPS) or `none`. The subject carries the colour and the monitor:
//! `[cpra] RED checkout-api is down: ...`. SMTP 5xx refuses for good, 4xx and connection
//! failures are retried with backoff.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::model::{Colour, NotifierSpec, SmtpTls};
use crate::effects::notify::{Context, Digest, Notifier, Outgoing, SendError, Shape, redact};
use crate::effects::render::{Code, rfc3339, status_word, texts};
use crate::limits::DIGEST_NAMES_MAX;

pub struct Email {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
    server: String,
    secrets: Vec<String>,
    instance: std::sync::Arc<str>,
}

/// `host` and port of `smtp` (`host`, `host:port`, `[v6]:port`), the port defaulting by mode.
fn split_server(smtp: &str, tls: SmtpTls) -> (String, u16) {
    let default = if tls == SmtpTls::Implicit { 465 } else { 25 };
    if let Ok(sa) = smtp.parse::<std::net::SocketAddr>() {
        return (sa.ip().to_string(), sa.port());
    }
    match smtp.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(default),
        ),
        _ => (smtp.to_string(), default),
    }
}

impl Email {
    pub fn new(spec: &NotifierSpec, cx: &Context) -> Result<Email, String> {
        let NotifierSpec::Email {
            smtp,
            from,
            to,
            username,
            password,
            tls,
        } = spec
        else {
            return Err("not an email notifier".into());
        };
        let (host, port) = split_server(smtp, *tls);
        let params = || {
            TlsParameters::new(host.clone())
                .map_err(|e| format!("email notifier: TLS setup for {host}: {e}"))
        };
        let tls = match tls {
            SmtpTls::None => Tls::None,
            // With a password, never fall back to plain text (STARTTLS stripping).
            SmtpTls::Opportunistic if username.is_some() => Tls::Required(params()?),
            SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Implicit => Tls::Wrapper(params()?),
        };
        let mut b = SmtpTransport::builder_dangerous(host.as_str())
            .port(port)
            .tls(tls)
            .timeout(Some(cx.timeout));
        let mut secrets = Vec::new();
        if let Some(user) = username {
            let pw = password.clone().unwrap_or_default();
            secrets.push(pw.clone());
            b = b.credentials(Credentials::new(user.clone(), pw));
        }
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("email notifier: address {a:?}: {e}"))
        };
        Ok(Email {
            transport: b.build(),
            from: parse(from)?,
            to: to.iter().map(|a| parse(a)).collect::<Result<_, _>>()?,
            server: format!("{host}:{port}"),
            secrets,
            instance: cx.instance.clone(),
        })
    }

    fn mail(&self, subject: &str, body: String) -> Result<(), SendError> {
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            m = m.to(t.clone());
        }
        let msg = m
            .body(body)
            .map_err(|e| SendError::never(format!("cannot build the message: {e}")))?;
        self.transport.send(&msg).map(|_| ()).map_err(|e| {
            let text = redact(&e.to_string(), &self.secrets);
            let message = format!("SMTP {}: {text}", self.server);
            if e.is_permanent() {
                SendError::never(message)
            } else {
                SendError::backoff(message)
            }
        })
    }
}

pub fn code_subject(code: &Code) -> String {
    let (summary, ..) = texts(code);
    let prefix = if code.reminder { "reminder: " } else { "" };
    format!("[cpra] {} {prefix}{summary}", status_word(code.colour))
}

pub fn code_body(code: &Code, instance: &str) -> String {
    let (summary, action, next_steps, message) = texts(code);
    format!(
        "{summary}\n\nmonitor:    {}\ncolour:     {}\nstate:      {} -> {}\nreason:     {}{}\nsince:      {}\nat:         {}\naction:     {action}\nnext steps: {next_steps}\n\n{message}\n\nincident {} · sent by cpra on {instance}\n",
        code.monitor,
        code.colour.name(),
        code.event.from.name(),
        code.event.to.name(),
        code.event.reason.name(),
        if code.event.status != 0 {
            format!(" (HTTP {})", code.event.status)
        } else {
            String::new()
        },
        rfc3339(code.incident_wall_ms),
        rfc3339(code.wall_ms),
        code.incident_id(),
    )
}

pub fn digest_subject(d: &Digest<'_>) -> String {
    format!(
        "[cpra] storm digest: {} codes ({})",
        d.codes.len(),
        d.counts_text()
    )
}

pub fn digest_body(d: &Digest<'_>, instance: &str) -> String {
    let counts = d.counts();
    let mut s = format!(
        "{} codes arrived between {} and {} on {instance}; they are grouped in this one message.\n",
        d.codes.len(),
        rfc3339(d.window_start_ms),
        rfc3339(d.window_end_ms)
    );
    for c in Colour::ALL {
        let n = counts[c as usize];
        if n == 0 {
            continue;
        }
        s.push_str(&format!("\n{} ({n}):\n", c.name()));
        for code in d
            .codes
            .iter()
            .filter(|k| k.colour == c)
            .take(DIGEST_NAMES_MAX)
        {
            s.push_str(&format!(
                "  {}  {}\n",
                code.monitor,
                code.event.reason.name()
            ));
        }
        if n > DIGEST_NAMES_MAX {
            s.push_str(&format!("  and {} more\n", n - DIGEST_NAMES_MAX));
        }
    }
    s
}

impl Notifier for Email {
    fn describe(&self) -> String {
        format!("email via {}", self.server)
    }

    fn shape(&self) -> Shape {
        Shape::default()
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        match msg {
            Outgoing::Codes(codes) => {
                for code in *codes {
                    self.mail(&code_subject(code), code_body(code, &self.instance))?;
                }
                Ok(())
            }
            Outgoing::Digest(d) => self.mail(&digest_subject(d), digest_body(d, &self.instance)),
        }
    }
}
