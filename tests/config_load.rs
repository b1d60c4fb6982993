//! End-to-end tests of the configuration loader: real files in, specs or located errors out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cpra::config::model::{
    CodeSpec, Colour, DnsRecordType, InterventionAction, MaintenanceWindow, MonitorSpec,
    NotifierSpec, PulseKind, Scheme, SmtpTls, StatusRange,
};
use cpra::config::{ConfigError, Env, Format, LoadErrors, LoadOptions, load_all, load_bytes};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn env() -> Env {
    Env::vars([("API_TOKEN", "t0k3n"), ("HOOK_TOKEN", "h00k")])
}

fn parse_all() -> LoadOptions {
    LoadOptions {
        allow_unsupported: true,
        env: env(),
        ..LoadOptions::default()
    }
}

fn load_text(
    text: &str,
    format: Format,
    opts: &LoadOptions,
) -> Result<Vec<MonitorSpec>, LoadErrors> {
    let mut specs = Vec::new();
    load_bytes(text.as_bytes(), format, opts, &mut |s| specs.push(s))?;
    Ok(specs)
}

fn yaml(text: &str) -> Result<Vec<MonitorSpec>, LoadErrors> {
    load_text(text, Format::Yaml, &parse_all())
}

fn errors_of(r: Result<Vec<MonitorSpec>, LoadErrors>) -> Vec<ConfigError> {
    match r {
        Ok(specs) => panic!("expected errors, loaded {} monitors", specs.len()),
        Err(e) => e.errors,
    }
}

fn s(v: u64) -> Duration {
    Duration::from_secs(v)
}

#[test]
fn full_yaml_parses_every_feature() {
    let (specs, report) =
        load_all(&fixture("full.yaml"), &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.monitors, 6);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let names: Vec<&str> = specs.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkout-api",
            "secure-site",
            "postgres",
            "gateway-ping",
            "dns-example",
            "tls-expiry"
        ]
    );
    assert_eq!(
        specs.iter().map(|m| m.index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        specs.iter().map(|m| m.line).collect::<Vec<_>>(),
        [9, 38, 53, 73, 90, 105]
    );

    // http, with every extension.
    let m = &specs[0];
    assert!(m.enabled);
    assert_eq!((m.pulse.interval, m.pulse.timeout), (s(30), s(5)));
    assert_eq!(
        (m.pulse.unhealthy_threshold, m.pulse.healthy_threshold),
        (3, Some(2))
    );
    let PulseKind::Http(h) = &m.pulse.kind else {
        panic!("http expected")
    };
    assert_eq!(
        (h.url.scheme, h.url.host.as_str(), h.url.port),
        (Scheme::Http, "10.0.0.7", 8080)
    );
    assert_eq!(h.url.path, "/health?deep=1");
    assert_eq!(h.method, "GET");
    assert_eq!(
        h.headers,
        vec![
            ("Authorization".to_string(), "Bearer t0k3n".to_string()),
            ("X-Env".to_string(), "prod".to_string())
        ]
    );
    assert_eq!(h.retries, 2);
    assert_eq!(
        h.expected_status,
        vec![
            StatusRange { lo: 200, hi: 200 },
            StatusRange { lo: 300, hi: 399 },
            StatusRange { lo: 400, hi: 404 }
        ]
    );
    assert_eq!(h.body_contains.as_deref(), Some("ok"));
    assert_eq!(h.max_response_time, Some(Duration::from_millis(750)));
    assert_eq!(
        (h.follow_redirects, h.insecure_skip_verify, h.keepalive),
        (0, false, false)
    );
    let i = m.intervention.as_ref().expect("intervention");
    assert_eq!(
        i.action,
        InterventionAction::Docker {
            container: "checkout-api".into(),
            timeout: s(45),
            docker_host: None,
        }
    );
    assert_eq!(
        (i.retries, i.max_attempts, i.cooldown, i.retry_backoff),
        (1, 3, s(300), s(1))
    );
    let code = |c: Colour| m.codes.get(c).cloned().expect("code");
    assert_eq!(
        code(Colour::Red),
        CodeSpec {
            dispatch: true,
            notify: NotifierSpec::PagerDuty {
                routing_key: "R0UT1NG".into(),
                url: None
            },
            remind_every: None,
        }
    );
    assert_eq!(
        code(Colour::Yellow).notify,
        NotifierSpec::Log {
            file: "alerts.log".into()
        }
    );
    assert_eq!(
        code(Colour::Green),
        CodeSpec {
            dispatch: true,
            notify: NotifierSpec::Slack {
                hook: "https://hooks.slack.com/services/T/B/X".into()
            },
            remind_every: None,
        }
    );
    assert_eq!(
        code(Colour::Cyan),
        CodeSpec {
            dispatch: false,
            notify: NotifierSpec::Webhook {
                url: "http://hooks.internal/cpra".into(),
                headers: vec![("X-Key".into(), "k1".into())]
            },
            remind_every: None,
        }
    );
    assert_eq!(
        code(Colour::Gray).notify,
        NotifierSpec::Alertmanager {
            urls: vec!["http://am:9093/api/v2/alerts".into()]
        }
    );

    // https with the TLS-only options; email notifier.
    let PulseKind::Http(h) = &specs[1].pulse.kind else {
        panic!("http expected")
    };
    assert_eq!(
        (h.url.scheme, h.url.port, h.url.path.as_str()),
        (Scheme::Https, 443, "/")
    );
    assert_eq!(
        (h.follow_redirects, h.insecure_skip_verify, h.keepalive),
        (3, true, true)
    );
    assert_eq!(h.cert_expiry_warning, Some(s(14 * 86_400)));
    assert_eq!(h.expected_status, vec![StatusRange { lo: 200, hi: 299 }]);
    assert_eq!(specs[1].pulse.unhealthy_threshold, 1);
    assert_eq!(specs[1].pulse.healthy_threshold, None);
    assert_eq!(
        specs[1].codes.get(Colour::Red).map(|c| &c.notify),
        Some(&NotifierSpec::Email {
            smtp: "mail.example.com:587".into(),
            from: "cpra@example.com".into(),
            to: vec!["ops@example.com".into(), "oncall@example.com".into()],
            username: None,
            password: None,
            tls: SmtpTls::Opportunistic,
        })
    );

    // tcp + exec, codes from an alias.
    let m = &specs[2];
    let PulseKind::Tcp(t) = &m.pulse.kind else {
        panic!("tcp expected")
    };
    assert_eq!(
        (t.host.as_str(), t.port, t.retries),
        ("db.internal", 5432, 1)
    );
    assert_eq!(m.pulse.unhealthy_threshold, 5);
    let i = m.intervention.as_ref().expect("intervention");
    assert_eq!(
        i.action,
        InterventionAction::Exec {
            command: vec!["/usr/local/bin/restart-db".into(), "--fast".into()],
            timeout: s(30),
            env: vec![("PGHOST".into(), "db.internal".into())]
        }
    );
    assert_eq!(
        (i.max_attempts, i.cooldown, i.retry_backoff),
        (2, s(600), s(2))
    );
    assert_eq!(
        m.codes.get(Colour::Red).map(|c| &c.notify),
        Some(&NotifierSpec::Log {
            file: "/var/log/cpra/alerts.log".into()
        })
    );

    // icmp, disabled, webhook intervention.
    let m = &specs[3];
    assert!(!m.enabled);
    let PulseKind::Icmp(p) = &m.pulse.kind else {
        panic!("icmp expected")
    };
    assert_eq!(
        (p.host.as_str(), p.count, p.ignore_privilege),
        ("10.0.0.1", 3, true)
    );
    assert_eq!(
        m.intervention.as_ref().map(|i| &i.action),
        Some(&InterventionAction::Webhook {
            url: "http://automation.internal/hooks/gateway".into(),
            method: "POST".into(),
            headers: vec![("X-Token".into(), "h00k".into())],
            body: Some("{\"restart\": true}".into()),
            timeout: s(30)
        })
    );

    // dns, maintenance windows sorted by start.
    let m = &specs[4];
    let PulseKind::Dns(d) = &m.pulse.kind else {
        panic!("dns expected")
    };
    assert_eq!(d.server.as_deref(), Some("1.1.1.1:53"));
    assert_eq!(
        (d.query.as_str(), d.record_type, d.expected_rcode.as_str()),
        ("example.com", DnsRecordType::Aaaa, "NOERROR")
    );
    assert_eq!(
        d.expected_answer.as_deref(),
        Some("2606:2800:220:1:248:1893:25c8:1946")
    );
    assert_eq!(
        m.maintenance,
        vec![
            MaintenanceWindow {
                start_unix_ms: 1_769_907_600_000,
                duration: s(1800)
            },
            MaintenanceWindow {
                start_unix_ms: 1_772_330_400_000,
                duration: s(7200)
            },
        ]
    );

    // tls.
    let PulseKind::Tls(t) = &specs[5].pulse.kind else {
        panic!("tls expected")
    };
    assert_eq!(
        (t.host.as_str(), t.port, t.server_name.as_deref()),
        ("example.com", 443, Some("www.example.com"))
    );
    assert_eq!(t.cert_expiry_warning, Some(s(21 * 86_400)));
}

fn without_lines(mut specs: Vec<MonitorSpec>) -> Vec<MonitorSpec> {
    for s in &mut specs {
        s.line = 0;
    }
    specs
}

#[test]
fn json_and_gzip_give_the_same_monitors() {
    let (from_yaml, _) =
        load_all(&fixture("full.yaml"), &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    let (from_json, report) =
        load_all(&fixture("full.json"), &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(from_json.iter().all(|m| m.line == 0), "JSON has no lines");
    assert_eq!(without_lines(from_json), without_lines(from_yaml.clone()));
    let (from_gz, _) =
        load_all(&fixture("full.yaml.gz"), &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_gz, from_yaml);
}

#[test]
fn enabled_defaults_to_true_in_json_too() {
    let text = r#"{"monitors": [{"name": "a", "pulse_check": {"type": "tcp", "interval": "10s", "timeout": "1s",
        "config": {"host": "db", "port": 5432}}}]}"#;
    let specs = load_text(text, Format::Json, &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    assert!(specs[0].enabled);
    let specs = yaml("monitors:\n- name: a\n  pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: db, port: 5432}}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(specs[0].enabled);
}

#[test]
fn every_error_is_reported_with_index_name_path_and_line() {
    let opts = LoadOptions {
        env: Env::vars([("UNUSED", "x")]),
        allow_unsupported: true,
        ..LoadOptions::default()
    };
    let mut got = 0;
    let err = load_all(&fixture("errors.yaml"), &opts)
        .map(|(specs, _)| got = specs.len())
        .expect_err("errors.yaml must fail");
    assert_eq!(got, 0);
    type Located<'a> = (Option<usize>, Option<&'a str>, &'a str, Option<u32>);
    let found: Vec<Located<'_>> = err
        .errors
        .iter()
        .map(|e| (e.index, e.name.as_deref(), e.path.as_str(), e.line))
        .collect();
    let expect = [
        (
            Some(1),
            Some("bad-url"),
            "monitors[1].pulse_check.config.url",
            Some(15),
        ),
        (
            Some(2),
            Some("slow"),
            "monitors[2].pulse_check.config.port",
            Some(23),
        ),
        (
            Some(3),
            Some("ok-one"),
            "monitors[3].pulse_check.interval",
            Some(27),
        ),
        (
            Some(3),
            Some("ok-one"),
            "monitors[3].pulse_check.type",
            Some(26),
        ),
        (Some(4), None, "monitors[4].name", Some(29)),
        (Some(4), None, "monitors[4].codes.red.notify", Some(36)),
        (
            Some(5),
            Some("secret"),
            "monitors[5].pulse_check.config.url",
            Some(43),
        ),
        (
            Some(5),
            Some("secret"),
            "monitors[5].pulse_check.config.headers[0]",
            Some(44),
        ),
        (
            Some(5),
            Some("secret"),
            "monitors[5].intervention.target.command",
            Some(48),
        ),
    ];
    assert_eq!(found, expect, "\n{err}");
    // A duplicate name is a warning (the later one renamed), kept beside the errors.
    assert!(
        err.warnings.iter().any(|w| w.path == "monitors[3].name"
            && w.line == Some(24)
            && w.message.contains("renamed \"ok-one#2\"")),
        "\n{err}"
    );
    let text = err.to_string();
    for want in [
        "monitors[1] \"bad-url\" (line 15): monitors[1].pulse_check.config.url: malformed URL \"htp:/x\": scheme must be http or https",
        "port: 70000 is out of range 1-65535",
        "unknown pulse type \"htp\"; known types: http, tcp, icmp, dns, tls",
        "invalid duration \"1x\"",
        "warning: monitors[3] \"ok-one\" (line 24): monitors[3].name: duplicate name \"ok-one\" (monitors[0] (line 2) has it): this one is renamed \"ok-one#2\"",
        "monitors[4] (line 29): monitors[4].name: missing required field",
        "unknown notifier \"sms\"; known notifiers: log, webhook, slack, pagerduty, alertmanager, email",
        "monitors[5].pulse_check.config.url: environment variable MISSING_HOST is not set",
        "expected \"Name: value\"",
        "contains '&': cpra never runs a shell; write the command as a list",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn duplicate_names_name_both_monitors() {
    let m = |n: &str| {
        format!(
            "  - name: {n}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 1}}}}\n"
        )
    };
    let text = format!("monitors:\n{}{}{}", m("a"), m("b"), m("a"));
    // Without --strict the later one is renamed (issue 13.11, in go_compatibility below).
    let strict = LoadOptions {
        strict: true,
        ..parse_all()
    };
    let errs = errors_of(load_text(&text, Format::Yaml, &strict));
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].index, errs[0].line), (Some(2), Some(6)));
    assert!(
        errs[0].message.contains("monitors[0] (line 2)"),
        "{}",
        errs[0]
    );
}

#[test]
fn timeout_must_not_exceed_interval_and_durations_must_be_positive() {
    let t = |interval: &str, timeout: &str| {
        yaml(&format!(
            "monitors:\n- name: a\n  pulse_check: {{type: tcp, interval: {interval}, timeout: {timeout}, config: {{host: h, port: 1}}}}\n"
        ))
    };
    assert!(t("5s", "5s").is_ok());
    // Longer than the interval: clamped with a warning (issue 13.6), an error with --strict.
    assert!(t("5s", "6s").is_ok());
    let errs = errors_of(t("0s", "0s"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].message.starts_with("must be greater than 0") && errs[0].path.ends_with("interval"),
        "{errs:?}"
    );
    assert!(
        errors_of(t("30", "1s"))[0]
            .message
            .contains("unit is missing")
    );
}

#[test]
fn missing_variables_are_errors_and_secrets_are_never_shown() {
    let text = "monitors:\n- name: a\n  pulse_check:\n    type: http\n    interval: 10s\n    timeout: 1s\n    config:\n      url: \"${SCHEME}://h/x\"\n      headers: {Authorization: \"Bearer ${TOKEN}\"}\n";
    let opts = |vars: Env| LoadOptions {
        env: vars,
        ..LoadOptions::default()
    };
    let errs = errors_of(load_text(
        text,
        Format::Yaml,
        &opts(Env::vars([("SCHEME", "http")])),
    ));
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].path,
        "monitors[0].pulse_check.config.headers.Authorization"
    );
    assert_eq!(errs[0].message, "environment variable TOKEN is not set");
    // A malformed substituted value is shown raw: the variable's value may be a secret.
    let errs = errors_of(load_text(
        text,
        Format::Yaml,
        &opts(Env::vars([("SCHEME", "s3cr3t"), ("TOKEN", "t")])),
    ));
    assert_eq!(
        errs[0].message,
        "malformed URL \"${SCHEME}://h/x\": scheme must be http or https"
    );
    assert!(!errs[0].to_string().contains("s3cr3t"));
    // Reasons that quote part of a value never quote a substituted part either.
    let tcp = "monitors:\n- name: a\n  pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: \"db-${H}\", port: \"${P}\"}}\n";
    let errs = errors_of(load_text(
        tcp,
        Format::Yaml,
        &opts(Env::vars([("H", "s3cr3t!x"), ("P", "77777")])),
    ));
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{shown:?}");
    assert!(
        shown
            .iter()
            .all(|t| !t.contains("s3cr3t") && !t.contains("77777")),
        "{shown:?}"
    );
    assert!(shown[0].contains("invalid host \"db-${H}\""), "{shown:?}");
    assert!(
        shown[1].contains("${P} is out of range 1-65535"),
        "{shown:?}"
    );
    // Injected variables never touch the process environment.
    assert!(std::env::var("SCHEME").is_err());
    let specs = load_text(
        text,
        Format::Yaml,
        &opts(Env::vars([("SCHEME", "http"), ("TOKEN", "t")])),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let PulseKind::Http(h) = &specs[0].pulse.kind else {
        panic!()
    };
    assert_eq!(h.headers[0].1, "Bearer t");
}

#[test]
fn unknown_keys_warn_and_fail_when_strict() {
    let text = "monitors:\n- name: a\n  pulse_check:\n    type: tcp\n    intervall: 10s\n    interval: 10s\n    timeout: 1s\n    config: {host: h, port: 1}\n";
    let mut n = 0;
    let report = load_bytes(
        text.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| n += 1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((n, report.monitors), (1, 1));
    assert_eq!(report.warnings.len(), 1);
    let w = &report.warnings[0];
    assert_eq!(
        (w.index, w.path.as_str(), w.line),
        (Some(0), "monitors[0].pulse_check.intervall", Some(5))
    );
    assert_eq!(
        w.message,
        "unknown key \"intervall\" (ignored); did you mean \"interval\"?"
    );
    let strict = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let errs = errors_of(load_text(text, Format::Yaml, &strict));
    assert_eq!(
        errs[0].message,
        "unknown key \"intervall\"; did you mean \"interval\"?"
    );
    // Top-level keys too, except x- extension keys.
    let text = "x-anchors: 1\nversion: 2\nmonitors: []\n";
    let report = load_bytes(
        text.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(
        (report.warnings[0].path.as_str(), report.warnings[0].line),
        ("version", Some(2))
    );
    assert!(load_text(text, Format::Yaml, &strict).is_err());
}

#[test]
fn every_feature_of_the_full_fixture_runs() {
    // Every pulse, intervention and notifier in full.yaml is built: nothing is refused as
    // "not yet supported" (the list in src/config/support.rs is empty).
    let opts = LoadOptions {
        env: env(),
        ..LoadOptions::default()
    };
    let (specs, _) = load_all(&fixture("full.yaml"), &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(!specs.is_empty());
    assert!(cpra::config::support::NOT_YET_SUPPORTED.is_empty());
}

#[test]
fn broken_input_gives_clear_errors_not_panics() {
    let one = |bytes: &[u8], format: Format| -> String {
        match load_bytes(bytes, format, &LoadOptions::default(), &mut |_| ()) {
            Ok(_) => panic!("{bytes:?} loaded"),
            Err(e) => e.to_string(),
        }
    };
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(
        one(&garbage, Format::Yaml).contains("not a text file"),
        "{}",
        one(&garbage, Format::Yaml)
    );
    assert!(
        one(&garbage, Format::Json).contains("JSON"),
        "{}",
        one(&garbage, Format::Json)
    );
    // An empty file is no monitors, as in the Go original (issue 13.12): not an error.
    assert!(load_bytes(b"", Format::Yaml, &LoadOptions::default(), &mut |_| ()).is_ok());
    assert!(one(b"- a\n- b\n", Format::Yaml).contains("top level must be a mapping"));
    assert!(one(b"monitors: 3\n", Format::Yaml).contains("expected a list of monitors"));
    assert!(one(b"other: 1\n", Format::Yaml).contains("must have a `monitors` list"));
    let e = one(b"monitors:\n  - name: \"unterminated\n", Format::Yaml);
    assert!(e.starts_with("line 2: YAML syntax error"), "{e}");
    let e = one(b"monitors:\n  - name: a\n   bad: [1,\n", Format::Yaml);
    assert!(e.contains("YAML syntax error"), "{e}");
    let e = one(b"{\"monitors\": [\n  {\"name\": \"a\",,}\n]}", Format::Json);
    assert!(e.starts_with("line 2: JSON syntax error (column"), "{e}");
    assert!(one(b"[1, 2]", Format::Json).contains("top level must be an object"));
    assert!(one(b"{\"monitors\": {}}", Format::Json).contains("expected a list of monitors"));
    // Truncated gzip.
    let bytes = std::fs::read(fixture("truncated.yaml.gz")).expect("fixture");
    let e = one(&bytes, Format::Yaml);
    assert!(e.contains("cannot decompress the gzip data"), "{e}");
    let r = load_all(&fixture("truncated.yaml.gz"), &LoadOptions::default());
    assert!(r.is_err());
    // Deep nesting and alias bombs are bounded.
    let deep = format!("monitors:\n- {}1{}\n", "[".repeat(200), "]".repeat(200));
    assert!(one(deep.as_bytes(), Format::Yaml).contains("nested deeper than"));
    let mut bomb = String::from("x-a: &a [1,1,1,1,1,1,1,1,1,1]\n");
    for (i, prev) in ["b", "c", "d", "e", "f"]
        .iter()
        .zip(["a", "b", "c", "d", "e"])
    {
        bomb.push_str(&format!("x-{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    bomb.push_str("monitors: []\n");
    assert!(one(bomb.as_bytes(), Format::Yaml).contains("more than"));
    let e = one(&[0x1f, 0x8b, 1, 2, 3], Format::Json);
    assert!(e.contains("gzip"), "{e}");
}

#[test]
fn error_count_is_capped() {
    let mut text = String::from("monitors:\n");
    for i in 0..150 {
        text.push_str(&format!("  - name: m{i}\n    pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: h, port: 99999}}}}\n"));
    }
    let err = yaml(&text).expect_err("150 errors");
    assert_eq!((err.errors.len(), err.more, err.total()), (100, 50, 150));
    assert!(err.to_string().ends_with("\n... and 50 more"));
}

#[test]
fn commands_headers_and_merge_keys() {
    let base = "monitors:\n- name: a\n  pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: h, port: 1}}\n";
    let cmd = |c: &str| {
        yaml(&format!(
            "{base}  intervention: {{action: exec, target: {{command: {c}}}}}\n"
        ))
    };
    let argv = |r: Result<Vec<MonitorSpec>, LoadErrors>| match r
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .intervention
        .map(|i| i.action)
    {
        Some(InterventionAction::Exec { command, .. }) => command,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        argv(cmd("'/bin/restart  --now svc'")),
        ["/bin/restart", "--now", "svc"]
    );
    assert_eq!(argv(cmd("[sh, -c, 'a | b']")), ["sh", "-c", "a | b"]);
    for bad in ["'a > b'", "'echo $HOME'", "'x; y'", "'\"q\"'"] {
        let e = errors_of(cmd(bad));
        assert!(
            e[0].message.contains("cpra never runs a shell"),
            "{bad}: {}",
            e[0]
        );
    }
    assert!(errors_of(cmd("[]"))[0].message.contains("empty"));

    let merged = "x-base: &base\n  interval: 10s\n  timeout: 1s\n  type: tcp\nmonitors:\n- name: a\n  pulse_check:\n    <<: *base\n    timeout: 2s\n    config: {host: h, port: 1}\n";
    let m = yaml(merged).unwrap_or_else(|e| panic!("{e}")).remove(0);
    assert_eq!((m.pulse.interval, m.pulse.timeout), (s(10), s(2)));
}

fn tricky_file(item_anchors: bool, tail_trap: bool) -> String {
    let mut text = String::from(
        "# head comment\nx-codes: &codes\n  red: {notify: log, config: {file: a.log}}\nmonitors:\n",
    );
    for i in 0..400 {
        let body = match i % 8 {
            0 => format!(
                "  - name: m{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h{i}, port: 1}}}}\n    codes: *codes\n"
            ),
            1 => format!(
                "  - name: m{i}\n    pulse_check:\n      type: http\n      interval: 10s\n      timeout: 1s\n      config:\n        url: http://h/{i}\n        body_contains: \"x\n\n          - not an item\n          - nor this\"\n"
            ),
            2 => format!(
                "  - name: m{i}\n    pulse_check:\n      type: http\n      interval: 10s\n      timeout: 1s\n      config:\n        url: http://h/{i}\n        body: |\n          line one\n          - also text\n"
            ),
            3 => format!(
                "  # a comment\n  - name: m{i}\n    pulse_check: {{type: tcp, interval: 10s,\n      timeout: 1s, config: {{host: h, port: 3}}}}\n"
            ),
            4 => format!(
                "  -\n    name: m{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 4}}}}\n"
            ),
            5 => format!(
                "  - name: m{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 2s, config: {{host: h, port: 5}}}}\n    bogus: 1\n"
            ),
            6 if item_anchors => format!(
                "  - name: &n{i} m{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 6}}}}\n"
            ),
            _ => format!(
                "  - name: 'm{i}'\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 7}}}}\n"
            ),
        };
        text.push_str(&body);
    }
    if tail_trap {
        // Lines after the list that look like elements, inside a quoted scalar.
        text.push_str("trailing: \"x\n  - not an item\n  - nor this\"\n");
    } else {
        text.push_str("trailing: 1\n");
    }
    text
}

/// The parallel reader must give exactly what the sequential one gives, whatever the file.
#[test]
fn parallel_and_sequential_readers_agree() {
    for (item_anchors, tail_trap, crlf) in [
        (false, false, false),
        (false, false, true),
        (true, false, false),
        (false, true, false),
    ] {
        let mut text = tricky_file(item_anchors, tail_trap);
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        // Without anchors redefined by elements nor traps, the parallel reader must not give up.
        let forbid_fallback = !item_anchors && !tail_trap;
        let run = |threads: usize, chunk_bytes: usize| {
            let opts = LoadOptions {
                threads,
                chunk_bytes,
                forbid_fallback: forbid_fallback && threads > 1,
                ..LoadOptions::default()
            };
            let mut seen = Vec::new();
            let r = load_bytes(text.as_bytes(), Format::Yaml, &opts, &mut |s| seen.push(s));
            (r, seen)
        };
        let (want, want_seen) = run(1, 0);
        assert!(
            want.as_ref()
                .map(|r| r.monitors == 400 && r.warnings.len() == 51)
                .unwrap_or(false),
            "{want:?}"
        );
        for chunk in [64, 300, 1000, 4096] {
            for threads in [2, 3] {
                let (got, seen) = run(threads, chunk);
                assert_eq!(got, want, "chunk {chunk}, threads {threads}");
                assert_eq!(seen, want_seen, "chunk {chunk}, threads {threads}");
            }
        }
        // From a file, read a slice at a time (the scan in blocks of whole lines).
        let path = std::env::temp_dir().join(format!(
            "cpra-sliced-{}-{item_anchors}-{tail_trap}-{crlf}.yaml",
            std::process::id()
        ));
        std::fs::write(&path, &text).unwrap();
        for (chunk, block) in [(300, 400), (1000, 512), (4096, 0), (64, 1 << 20)] {
            let opts = LoadOptions {
                threads: 2,
                chunk_bytes: chunk,
                block_bytes: block,
                forbid_fallback,
                ..LoadOptions::default()
            };
            let mut seen = Vec::new();
            let got = cpra::config::load_file(&path, &opts, &mut |s| seen.push(s));
            assert_eq!(got, want, "file, chunk {chunk}, block {block}");
            assert_eq!(seen, want_seen, "file, chunk {chunk}, block {block}");
        }
        // With errors, both report the same errors in the same order.
        let bad = text.replace("port: 5}", "port: 99999}");
        let run_bad = |threads: usize| {
            let opts = LoadOptions {
                threads,
                chunk_bytes: 256,
                forbid_fallback: forbid_fallback && threads > 1,
                ..LoadOptions::default()
            };
            load_bytes(bad.as_bytes(), Format::Yaml, &opts, &mut |_| ())
        };
        let seq = run_bad(1).expect_err("errors");
        assert_eq!(seq.total(), 50);
        assert_eq!(run_bad(2).expect_err("errors"), seq);
        // The same top-level key before and after the list is a duplicate, however it is read.
        let twice = format!(
            "alerting:\n  remind_every: 1h\n{}alerting:\n  remind_every: 2h\n",
            tricky_file(false, false).replace("trailing: 1\n", "")
        );
        std::fs::write(&path, &twice).unwrap();
        let opts = LoadOptions {
            threads: 2,
            chunk_bytes: 256,
            block_bytes: 512,
            ..LoadOptions::default()
        };
        let from_file = cpra::config::load_file(&path, &opts, &mut |_| ()).expect_err("dup");
        let sequential = load_bytes(
            twice.as_bytes(),
            Format::Yaml,
            &LoadOptions {
                threads: 1,
                ..LoadOptions::default()
            },
            &mut |_| (),
        )
        .expect_err("dup");
        assert_eq!(from_file, sequential);
        assert!(
            from_file.to_string().contains("duplicate key \"alerting\""),
            "{from_file}"
        );
        // A syntax error in a late slice of a file: the sliced reader gives up and the
        // whole-file reader reports it, as from memory.
        let broken = format!("{}  - name: \"unterminated\n", tricky_file(false, false));
        std::fs::write(&path, &broken).unwrap();
        let opts = LoadOptions {
            threads: 2,
            chunk_bytes: 256,
            block_bytes: 512,
            ..LoadOptions::default()
        };
        let from_file = cpra::config::load_file(&path, &opts, &mut |_| ()).expect_err("syntax");
        let from_memory =
            load_bytes(broken.as_bytes(), Format::Yaml, &opts, &mut |_| ()).expect_err("syntax");
        assert_eq!(from_file, from_memory);
        assert!(from_file.to_string().contains("syntax"), "{from_file}");
        let _ = std::fs::remove_file(&path);
    }
}

/// A cut inside a quoted scalar or after the end of the list must never be trusted.
#[test]
fn speculative_cuts_that_lie_fall_back() {
    let m = |i: usize| {
        format!(
            "  - name: m{i}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 1}}}}\n"
        )
    };
    let mut text = String::from("monitors:\n");
    for i in 0..50 {
        text.push_str(&m(i));
    }
    // The list ends; a second top-level list follows whose items look like monitors.
    text.push_str("...\n");
    for i in 50..100 {
        text.push_str(&m(i));
    }
    let opts = |threads| LoadOptions {
        threads,
        chunk_bytes: 200,
        ..LoadOptions::default()
    };
    let mut seq = 0;
    let r1 = load_bytes(text.as_bytes(), Format::Yaml, &opts(1), &mut |_| seq += 1);
    let mut par = Vec::new();
    let r2 = load_bytes(text.as_bytes(), Format::Yaml, &opts(2), &mut |s| {
        par.push(s.index)
    });
    assert_eq!(r1, r2);
    // A second document is an error (issue 14.2), found the same way by both readers.
    let e = r1.unwrap_err().to_string();
    assert!(e.contains("second YAML document"), "{e}");
    assert!(
        par.iter().all(|i| *i < 50),
        "nothing of the second document is delivered"
    );
}

/// Large JSON goes through the two-thread pipeline; it must match the single-thread reader.
#[test]
fn json_pipeline_matches_single_thread() {
    let mut text = String::from("{\"x-note\": 1, \"monitors\": [\n");
    for i in 0..6000 {
        if i > 0 {
            text.push_str(",\n");
        }
        let port = if i % 1000 == 7 { 70000 } else { i % 60000 + 1 };
        text.push_str(&format!(
            "{{\"name\": \"m{i}\", \"pulse_check\": {{\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {{\"host\": \"h{i}\", \"port\": {port}, \"pad\": \"{}\"}}}}}}",
            "p".repeat(200)
        ));
    }
    text.push_str("], \"extra\": true}\n");
    assert!(text.len() > 1 << 20);
    let run = |threads: usize, t: &str| {
        let opts = LoadOptions {
            threads,
            ..LoadOptions::default()
        };
        let mut seen = Vec::new();
        let r = load_bytes(t.as_bytes(), Format::Json, &opts, &mut |s| seen.push(s));
        (r, seen)
    };
    let (a, seen_a) = run(1, &text);
    let (b, seen_b) = run(2, &text);
    let a = a.expect_err("6 monitors have port 70000");
    assert_eq!(a.total(), 6);
    assert_eq!(Err::<(), _>(a), b.map(|_| ()));
    assert_eq!(seen_a, seen_b);
    let good = text.replace("\"port\": 70000", "\"port\": 7");
    let (a, seen_a) = run(1, &good);
    let (b, seen_b) = run(2, &good);
    let a = a.unwrap_or_else(|e| panic!("{e}"));
    // 6000 unknown `pad` keys and one unknown top-level key: 100 kept, the rest counted.
    assert_eq!((a.monitors, a.warnings.len()), (6000, 101));
    assert_eq!(a.warnings[100].message, "... and 5901 more warnings");
    assert_eq!(Ok(a.clone()), b);
    assert_eq!(seen_a.len(), 6000);
    assert_eq!(seen_a, seen_b);

    // From a file, a slice at a time (cut where an element starts a line), and the shapes
    // that must fall back to the whole-file reader and still give the same.
    let path = std::env::temp_dir().join(format!("cpra-sliced-{}.json", std::process::id()));
    let from_file = |t: &str, forbid_fallback: bool| {
        std::fs::write(&path, t).unwrap();
        let opts = LoadOptions {
            threads: 2,
            chunk_bytes: 20_000,
            block_bytes: 70_000,
            forbid_fallback,
            ..LoadOptions::default()
        };
        let mut seen = Vec::new();
        let r = cpra::config::load_file(&path, &opts, &mut |s| seen.push(s));
        (r, seen)
    };
    let (c, seen_c) = from_file(&good, true);
    assert_eq!(c, Ok(a.clone()), "sliced");
    assert_eq!(seen_c, seen_a);
    // Blank lines and indentation between elements, lines cut by block edges anywhere.
    let spaced = good.replace(",\n{", ",\n\n   \n  {");
    for block in [7001, 7919, 65_537] {
        std::fs::write(&path, &spaced).unwrap();
        let opts = LoadOptions {
            threads: 2,
            chunk_bytes: 20_000,
            block_bytes: block,
            forbid_fallback: true,
            ..LoadOptions::default()
        };
        let mut seen = Vec::new();
        let r = cpra::config::load_file(&path, &opts, &mut |s| seen.push(s));
        assert_eq!(r, Ok(a.clone()), "spaced, block {block}");
        assert_eq!(seen, seen_a, "spaced, block {block}");
    }
    // A `monitors` key the scan cannot read (escaped) is left to the whole-file reader.
    let escaped = good.replacen(
        "{\"x-note\": 1,",
        "{\"monit\\u006frs\": [], \"x-note\": 1,",
        1,
    );
    let (c, _) = from_file(&escaped, false);
    assert_eq!(
        c.map(|_| ()),
        run(2, &escaped).0.map(|_| ()),
        "escaped key: as read whole"
    );
    // One line (no element starts a line): read whole.
    let (c, seen_c) = from_file(&good.replace(",\n{", ",{"), false);
    assert_eq!((c, seen_c), (Ok(a.clone()), seen_a.clone()), "minified");
    // Objects starting lines inside an element's own list: a wrong cut, refused.
    let nested = good.replace(
        "\"pulse_check\"",
        "\"x-list\": [\n{\"a\": 1},\n{\"b\": 2},\n{\"c\": 3}], \"pulse_check\"",
    );
    let (want_nested, want_seen) = run(1, &nested);
    let (c, seen_c) = from_file(&nested, false);
    assert_eq!(c, want_nested, "nested lists");
    assert_eq!(seen_c, want_seen);
    // Errors come out as the whole-file reader says them.
    let (c, _) = from_file(&text, false);
    assert_eq!(c.map(|_| ()), run(1, &text).0.map(|_| ()));
    let broken = good.replacen("{\"name\": \"m5000\"", "{\"name\": \"m5000\",,", 1);
    let (c, _) = from_file(&broken, false);
    let e = c.expect_err("syntax");
    assert_eq!(Err::<(), _>(e.clone()), run(1, &broken).0.map(|_| ()));
    assert!(e.to_string().contains("JSON syntax error"), "{e}");
    let _ = std::fs::remove_file(&path);
}

/// A panicking sink must not leave loader threads waiting forever.
#[test]
fn a_panicking_sink_does_not_hang_the_loader() {
    let text = tricky_file(false, false);
    let result = std::panic::catch_unwind(|| {
        let opts = LoadOptions {
            threads: 2,
            chunk_bytes: 256,
            ..LoadOptions::default()
        };
        let mut n = 0;
        let _ = load_bytes(text.as_bytes(), Format::Yaml, &opts, &mut |_| {
            n += 1;
            assert!(n < 10, "sink gives up");
        });
    });
    assert!(result.is_err());
}

#[test]
fn a_panicking_sink_does_not_hang_the_json_pipeline() {
    let mut text = String::from("{\"monitors\": [");
    for i in 0..20_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{{\"name\": \"m{i}\", \"pulse_check\": {{\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {{\"host\": \"h\", \"port\": 1}}}}}}"
        ));
    }
    text.push_str("]}");
    assert!(text.len() > 1 << 20);
    let result = std::panic::catch_unwind(|| {
        let opts = LoadOptions {
            threads: 2,
            ..LoadOptions::default()
        };
        let mut n = 0;
        let _ = load_bytes(text.as_bytes(), Format::Json, &opts, &mut |_| {
            n += 1;
            assert!(n < 10, "sink gives up");
        });
    });
    assert!(result.is_err());
}

#[test]
fn files_by_name() {
    let dir = std::env::temp_dir().join(format!("cpra-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // JSON, gzip-compressed, chosen by the .json.gz name.
    let json = std::fs::read(fixture("full.json")).expect("fixture");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &json).expect("gzip");
    let path = dir.join("monitors.json.gz");
    std::fs::write(&path, gz.finish().expect("gzip")).expect("write");
    let (specs, _) = load_all(&path, &parse_all()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(specs.len(), 6);
    // A .gz name on plain text is refused; a missing file is a clear error.
    let path = dir.join("monitors.yaml.gz");
    std::fs::write(&path, "monitors: []\n").expect("write");
    let e = load_all(&path, &parse_all())
        .expect_err("not gzip")
        .to_string();
    assert!(e.contains("ends in .gz but is not gzip data"), "{e}");
    let e = load_all(&dir.join("nope.yaml"), &parse_all())
        .expect_err("missing")
        .to_string();
    assert!(e.starts_with("cannot read "), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn alerting_block_is_read_in_yaml_and_json_and_checked() {
    use cpra::config::model::AlertingSpec;
    let mon = "  - {name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}, codes: {red: {notify: log, config: {file: a.log}, remind_every: 1h}}}\n";
    let yaml = format!(
        "alerting:\n  storm_threshold: 25\n  storm_window: 30s\n  remind_every: 2h\nmonitors:\n{mon}"
    );
    let report = load_bytes(
        yaml.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let want = AlertingSpec {
        storm_threshold: 25,
        storm_window: Duration::from_secs(30),
        remind_every: Some(Duration::from_secs(7200)),
    };
    assert_eq!(report.alerting, want);
    // After the list too, and absent means the defaults.
    let after = format!("monitors:\n{mon}alerting: {{storm_threshold: 0}}\n");
    let r = load_bytes(
        after.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap();
    assert_eq!(r.alerting.storm_threshold, 0);
    assert_eq!(r.alerting.storm_window, Duration::from_secs(10));
    let none = format!("monitors:\n{mon}");
    let mut got = Vec::new();
    let r = load_bytes(
        none.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |s| got.push(s),
    )
    .unwrap();
    assert_eq!(r.alerting, AlertingSpec::default());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        got[0].codes.get(Colour::Red).unwrap().remind_every,
        Some(Duration::from_secs(3600))
    );
    // JSON.
    let json = br#"{"alerting": {"storm_threshold": 3, "storm_window": "5s"}, "monitors": []}"#;
    let r = load_bytes(json, Format::Json, &LoadOptions::default(), &mut |_| ()).unwrap();
    assert_eq!(
        (r.alerting.storm_threshold, r.alerting.storm_window),
        (3, Duration::from_secs(5))
    );
    // Errors are located; unknown keys warn (errors with --strict).
    let bad = format!("alerting:\n  storm_window: soon\n  storm_treshold: 5\nmonitors:\n{mon}");
    let err = load_bytes(
        bad.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_err();
    let e = &err.errors[0];
    assert_eq!(
        (e.path.as_str(), e.line),
        ("alerting.storm_window", Some(2)),
        "{err}"
    );
    let warn = format!("alerting:\n  storm_treshold: 5\nmonitors:\n{mon}");
    let r = load_bytes(
        warn.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap();
    assert!(
        r.warnings[0].to_string().contains("storm_threshold"),
        "{:?}",
        r.warnings
    );
    let strict = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    assert!(load_bytes(warn.as_bytes(), Format::Yaml, &strict, &mut |_| ()).is_err());
}

#[test]
fn alerting_block_is_read_by_the_parallel_yaml_reader() {
    let mut y = String::from("alerting:\n  storm_threshold: 42\nmonitors:\n");
    for i in 0..20_000 {
        y.push_str(&format!(
            "  - name: m{i}\n    pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}\n"
        ));
    }
    let opts = LoadOptions {
        threads: 2,
        chunk_bytes: 64 * 1024,
        forbid_fallback: true,
        ..LoadOptions::default()
    };
    let r = load_bytes(y.as_bytes(), Format::Yaml, &opts, &mut |_| ())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.monitors, 20_000);
    assert_eq!(r.alerting.storm_threshold, 42);
    // After the list: read by the last slice.
    let tail = y.replacen("alerting:\n  storm_threshold: 42\n", "", 1)
        + "alerting: {storm_threshold: 7}\n";
    let r = load_bytes(tail.as_bytes(), Format::Yaml, &opts, &mut |_| ())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.alerting.storm_threshold, 7);
}

#[test]
fn email_notifier_keys() {
    let m = |cfg: &str| {
        format!(
            "monitors:\n  - {{name: a, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}, codes: {{red: {{notify: email, config: {{smtp: 'mail:587', from: a@b.c, to: x@y.z, {cfg}}}}}}}}}\n"
        )
    };
    let one = |cfg: &str| -> Result<NotifierSpec, String> {
        let mut got = Vec::new();
        load_bytes(
            m(cfg).as_bytes(),
            Format::Yaml,
            &LoadOptions::default(),
            &mut |s| got.push(s),
        )
        .map_err(|e| e.to_string())?;
        Ok(got[0].codes.get(Colour::Red).unwrap().notify.clone())
    };
    match one("username: u, password: p, tls: implicit").unwrap() {
        NotifierSpec::Email {
            username,
            password,
            tls,
            ..
        } => {
            assert_eq!(
                (username.as_deref(), password.as_deref(), tls),
                (Some("u"), Some("p"), SmtpTls::Implicit)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        one("tls: maybe")
            .unwrap_err()
            .contains("starttls, implicit or none")
    );
    assert!(one("password: p").unwrap_err().contains("needs a username"));
}

/// Issue 14.1: a NUL byte used to end a YAML file silently (12,000 monitors loaded as 835).
#[test]
fn a_nul_byte_is_an_error_at_its_line() {
    let m = "  - {name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}}\n";
    let text = format!("monitors:\n{m}\0{}", m.replace("name: a", "name: b"));
    let err = load_bytes(
        text.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_err();
    assert_eq!(err.errors[0].line, Some(3), "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
}

/// Issue 14.2: a `---` or `...` line mid-file used to drop the rest with only a warning.
#[test]
fn a_second_document_is_an_error_even_without_strict() {
    let m = |n: &str| {
        format!(
            "  - {{name: {n}, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}}}\n"
        )
    };
    for sep in ["---", "..."] {
        let text = format!("monitors:\n{}{sep}\nmonitors:\n{}", m("a"), m("b"));
        let err = load_bytes(
            text.as_bytes(),
            Format::Yaml,
            &LoadOptions::default(),
            &mut |_| (),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("second YAML document"),
            "{sep}: {err}"
        );
    }
    // A leading `---` and a trailing `...` are one document.
    let one = format!("---\nmonitors:\n{}...\n", m("a"));
    let r = load_bytes(
        one.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap();
    assert_eq!(r.monitors, 1);
}

/// Issue 14.3: duplicate keys reached through a merge key passed silently (first wins); two
/// `<<` keys too. Both are refused like duplicates written directly.
#[test]
fn duplicates_through_merge_keys_are_refused() {
    let dup_in_anchor = "x-pc: &pc {type: tcp, interval: 1s, timeout: 500ms, timeout: 5s, config: {host: 127.0.0.1, port: 1}}\nmonitors:\n  - name: a\n    pulse_check:\n      <<: *pc\n";
    let err = load_bytes(
        dup_in_anchor.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("duplicate key \"timeout\""),
        "{err}"
    );
    let two_merges = "x-a: &a {type: tcp, interval: 1s}\nx-b: &b {timeout: 1s, config: {host: 127.0.0.1, port: 1}}\nmonitors:\n  - name: a\n    pulse_check:\n      <<: *a\n      <<: *b\n";
    let err = load_bytes(
        two_merges.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap_err();
    assert!(err.to_string().contains("duplicate key \"<<\""), "{err}");
    // The documented forms still load: a list of sources, explicit keys winning.
    let ok = "x-a: &a {type: tcp, interval: 1s, timeout: 9s}\nx-b: &b {timeout: 1s, config: {host: 127.0.0.1, port: 1}}\nmonitors:\n  - name: a\n    pulse_check:\n      <<: [*a, *b]\n      timeout: 500ms\n";
    let mut got = Vec::new();
    load_bytes(
        ok.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |s| got.push(s),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got[0].pulse.timeout, Duration::from_millis(500));
}

/// Issue 13, cases 3-6 and 12, each in the Go original's form, YAML and JSON: what the Go
/// original loads, cpra loads, with a warning that says what it did; `--strict` refuses it.
mod go_compatibility {
    use super::*;

    type Loaded = Result<(Vec<MonitorSpec>, Vec<String>), String>;

    fn both(yaml_text: &str, json_text: &str) -> Vec<(Loaded, Format)> {
        [(yaml_text, Format::Yaml), (json_text, Format::Json)]
            .into_iter()
            .map(|(t, f)| {
                let mut got = Vec::new();
                let r = load_bytes(t.as_bytes(), f, &LoadOptions::default(), &mut |s| {
                    got.push(s)
                })
                .map(|r| (got, r.warnings.iter().map(|w| w.to_string()).collect()))
                .map_err(|e| e.to_string());
                (r, f)
            })
            .collect()
    }

    fn strict_refuses(text: &str, f: Format) {
        let strict = LoadOptions {
            strict: true,
            ..LoadOptions::default()
        };
        assert!(
            load_bytes(text.as_bytes(), f, &strict, &mut |_| ()).is_err(),
            "{text}"
        );
    }

    fn pulse(extra_yaml: &str, extra_json: &str) -> (String, String) {
        (
            format!(
                "monitors:\n  - name: a\n    pulse_check: {{type: icmp, interval: 10s, timeout: 1s, {extra_yaml}config: {{host: 127.0.0.1}}}}\n"
            ),
            format!(
                "{{\"monitors\": [{{\"name\": \"a\", \"pulse_check\": {{\"type\": \"icmp\", \"interval\": \"10s\", \"timeout\": \"1s\", {extra_json}\"config\": {{\"host\": \"127.0.0.1\"}}}}}}]}}"
            ),
        )
    }

    #[test]
    fn case_4_both_thresholds_unhealthy_wins() {
        let (y, j) = pulse(
            "max_failures: 5, unhealthy_threshold: 2, ",
            "\"max_failures\": 5, \"unhealthy_threshold\": 2, ",
        );
        for (r, f) in both(&y, &j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(specs[0].pulse.unhealthy_threshold, 2);
            assert!(
                warnings[0].contains("unhealthy_threshold wins"),
                "{warnings:?}"
            );
        }
        strict_refuses(&y, Format::Yaml);
        strict_refuses(&j, Format::Json);
    }

    #[test]
    fn case_5_zero_means_the_default() {
        let (y, j) = pulse(
            "max_failures: 0, healthy_threshold: 0, ",
            "\"max_failures\": 0, \"healthy_threshold\": 0, ",
        );
        let (y, j) = (
            y.replace("host: 127.0.0.1", "host: 127.0.0.1, count: 0"),
            j.replace(
                "\"host\": \"127.0.0.1\"",
                "\"host\": \"127.0.0.1\", \"count\": 0",
            ),
        );
        for (r, f) in both(&y, &j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(specs[0].pulse.unhealthy_threshold, 1);
            assert_eq!(specs[0].pulse.healthy_threshold, None);
            let PulseKind::Icmp(i) = &specs[0].pulse.kind else {
                panic!()
            };
            assert_eq!(i.count, 1);
            assert_eq!(warnings.len(), 3, "{warnings:?}");
            assert!(warnings.iter().all(|w| w.contains("0 means the default")));
        }
        strict_refuses(&y, Format::Yaml);
    }

    #[test]
    fn case_6_timeout_longer_than_interval_is_clamped() {
        let (y, j) = pulse("", "");
        let (y, j) = (
            y.replace("timeout: 1s", "timeout: 30s"),
            j.replace("\"timeout\": \"1s\"", "\"timeout\": \"30s\""),
        );
        for (r, f) in both(&y, &j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(specs[0].pulse.timeout, Duration::from_secs(10));
            assert!(
                warnings[0].contains("clamped to the interval"),
                "{warnings:?}"
            );
        }
        strict_refuses(&y, Format::Yaml);
    }

    #[test]
    fn case_3_colour_keys_in_other_cases_and_unknown_colours() {
        let code = "{notify: log, config: {file: a.log}}";
        let y = format!(
            "monitors:\n  - name: a\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}\n    codes: {{Red: {code}, GREEN: {code}, purple: {code}}}\n"
        );
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"port\": 1}}, \"codes\": {\"Red\": {\"notify\": \"log\", \"config\": {\"file\": \"a.log\"}}, \"purple\": {\"notify\": \"log\", \"config\": {\"file\": \"a.log\"}}}}]}";
        for (r, f) in both(&y, j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert!(specs[0].codes.get(Colour::Red).is_some());
            assert!(
                warnings.iter().any(|w| w.contains("read as \"red\"")),
                "{warnings:?}"
            );
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("unknown colour \"purple\"")),
                "{warnings:?}"
            );
        }
        assert!(
            both(&y, j)[0].0.as_ref().unwrap().0[0]
                .codes
                .get(Colour::Green)
                .is_some()
        );
        strict_refuses(&y, Format::Yaml);
        // The same colour twice in two cases is a duplicate.
        let dup = y.replace("GREEN", "red");
        assert!(
            load_bytes(
                dup.as_bytes(),
                Format::Yaml,
                &LoadOptions::default(),
                &mut |_| ()
            )
            .is_err()
        );
    }

    #[test]
    fn case_12_empty_files_load_no_monitors() {
        for (text, f) in [
            ("", Format::Yaml),
            ("  \n", Format::Yaml),
            ("", Format::Json),
            ("monitors: []\n", Format::Yaml),
            ("{\"monitors\": []}", Format::Json),
        ] {
            let r = load_bytes(text.as_bytes(), f, &LoadOptions::default(), &mut |_| ())
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(r.monitors, 0);
            // A file with nothing in it at all is said (an error with --strict); an explicit
            // empty list is what was meant.
            if text.trim().is_empty() {
                assert_eq!(r.warnings.len(), 1, "{text:?}");
                strict_refuses(text, f);
            }
        }
    }

    fn tcp(name: &str, extra: &str) -> String {
        format!(
            "  - name: {name}\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: 127.0.0.1, port: 1{extra}}}}}\n"
        )
    }

    fn code_of(spec: &MonitorSpec, c: Colour) -> &CodeSpec {
        spec.codes.get(c).expect("code loaded")
    }

    #[test]
    fn case_1_log_without_a_file_goes_to_standard_output() {
        let y = "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}\n    codes:\n      red: {notify: log, config: {file: \"\"}}\n      yellow: {notify: log, config: {}}\n      green: {notify: log}\n";
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"port\": 1}}, \"codes\": {\"red\": {\"notify\": \"log\", \"config\": {\"file\": \"\"}}, \"yellow\": {\"notify\": \"log\", \"config\": {}}, \"green\": {\"notify\": \"log\"}}}]}";
        for (r, f) in both(y, j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            for c in [Colour::Red, Colour::Yellow, Colour::Green] {
                assert_eq!(
                    code_of(&specs[0], c).notify,
                    NotifierSpec::Log { file: "-".into() },
                    "{f:?} {c:?}"
                );
            }
            assert_eq!(warnings.len(), 3, "{warnings:?}");
            assert!(warnings.iter().all(|w| w.contains("standard output")));
        }
        strict_refuses(y, Format::Yaml);
        strict_refuses(j, Format::Json);
    }

    #[test]
    fn case_2_placeholder_notifiers_load_recorded_only() {
        let y = "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}\n    codes:\n      red: {dispatch: true, notify: pagerduty, config: {url: \"...\"}}\n      yellow: {notify: slack, config: {hook: \"your-hook-here\"}}\n      green: {notify: pagerduty}\n";
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"port\": 1}}, \"codes\": {\"red\": {\"dispatch\": true, \"notify\": \"pagerduty\", \"config\": {\"url\": \"...\"}}, \"yellow\": {\"notify\": \"slack\", \"config\": {\"hook\": \"your-hook-here\"}}}}]}";
        for (r, f) in both(y, j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            let red = code_of(&specs[0], Colour::Red);
            assert!(!red.dispatch, "{f:?}: a placeholder is never dispatched");
            assert!(matches!(
                &red.notify,
                NotifierSpec::Undeliverable { kind, why } if kind == "pagerduty" && why == "no routing_key"
            ));
            let yellow = code_of(&specs[0], Colour::Yellow);
            assert!(!yellow.dispatch);
            assert!(matches!(
                &yellow.notify,
                NotifierSpec::Undeliverable { why, .. } if why == "hook is not a URL"
            ));
            assert!(
                warnings.iter().all(|w| w.contains("recorded only")) && warnings.len() >= 2,
                "{warnings:?}"
            );
        }
        strict_refuses(y, Format::Yaml);
        strict_refuses(j, Format::Json);
        // A real pagerduty config is not a placeholder.
        let real = y.replace("{url: \"...\"}", "{routing_key: abc}");
        let (specs, _) = both(&real, j)[0].0.clone().unwrap();
        assert!(code_of(&specs[0], Colour::Red).dispatch);
    }

    #[test]
    fn case_7_json_keys_match_case_insensitively() {
        let j = "{\"monitors\": [{\"Name\": \"a\", \"Enabled\": false, \"Pulse_Check\": {\"Type\": \"http\", \"Interval\": \"10s\", \"TIMEOUT\": \"1s\", \"Config\": {\"URL\": \"http://127.0.0.1:1/x\", \"Method\": \"HEAD\"}}}, {\"name\": \"b\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"Host\": \"127.0.0.1\", \"Port\": 2}}}]}";
        let mut specs = Vec::new();
        let r = load_bytes(
            j.as_bytes(),
            Format::Json,
            &LoadOptions::default(),
            &mut |s| specs.push(s),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Each key in another case is read, and says so (an error with --strict).
        assert_eq!(r.warnings.len(), 11, "{:?}", r.warnings);
        assert!(
            r.warnings.iter().all(|w| w.message.contains("read as")),
            "{:?}",
            r.warnings
        );
        assert!(r.warnings[0].message.contains("\"Name\" read as \"name\""));
        strict_refuses(j, Format::Json);
        assert_eq!(specs[0].name, "a");
        assert!(!specs[0].enabled);
        let PulseKind::Http(h) = &specs[0].pulse.kind else {
            panic!()
        };
        assert_eq!((h.url.port, h.method.as_str()), (1, "HEAD"));
        let PulseKind::Tcp(t) = &specs[1].pulse.kind else {
            panic!()
        };
        assert_eq!(t.port, 2);
        // YAML keys stay exact, as yaml.v3's are: `Name` is unknown there.
        let y = "monitors:\n  - Name: a\n    pulse_check: {type: tcp, interval: 10s, timeout: 1s, config: {host: h, port: 1}}\n";
        assert!(yaml(y).is_err());
        // The same key twice in two cases is a duplicate.
        let dup = j.replace(
            "\"Enabled\": false",
            "\"Enabled\": false, \"enabled\": true",
        );
        assert!(
            load_bytes(
                dup.as_bytes(),
                Format::Json,
                &LoadOptions::default(),
                &mut |_| ()
            )
            .is_err()
        );
    }

    #[test]
    fn case_8_json_durations_as_integer_nanoseconds() {
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": 30000000000, \"timeout\": 5000000000, \"config\": {\"host\": \"127.0.0.1\", \"port\": 1}}, \"intervention\": {\"action\": \"docker\", \"target\": {\"container\": \"web\", \"timeout\": 15000000000}}}]}";
        let mut specs = Vec::new();
        let r = load_bytes(
            j.as_bytes(),
            Format::Json,
            &LoadOptions::default(),
            &mut |s| specs.push(s),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Read as Go reads them, and said (an error with --strict).
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(
            r.warnings[0]
                .message
                .contains("30000000000 read as nanoseconds, Go's time.Duration: 30s"),
            "{:?}",
            r.warnings
        );
        strict_refuses(j, Format::Json);
        assert_eq!(specs[0].pulse.interval, s(30));
        assert_eq!(specs[0].pulse.timeout, s(5));
        let InterventionAction::Docker { timeout, .. } =
            &specs[0].intervention.as_ref().unwrap().action
        else {
            panic!()
        };
        assert_eq!(*timeout, s(15));
        // 30 is 30 ns: surely seconds without a unit, refused with the fix.
        let bad = j.replace("30000000000", "30");
        let e = load_bytes(
            bad.as_bytes(),
            Format::Json,
            &LoadOptions::default(),
            &mut |_| (),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("write \"30s\" for seconds"), "{e}");
        for v in ["-5", "1.5", "true"] {
            let bad = j.replace("30000000000", v);
            assert!(
                load_bytes(
                    bad.as_bytes(),
                    Format::Json,
                    &LoadOptions::default(),
                    &mut |_| ()
                )
                .is_err(),
                "{v}"
            );
        }
        // YAML numbers are not durations (yaml.v3 refuses them too).
        let y = "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 30000000000, timeout: 1s, config: {host: h, port: 1}}\n";
        assert!(yaml(y).is_err());
    }

    #[test]
    fn case_9_json_privilege_is_ignore_privilege() {
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"icmp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"Privilege\": true}}}]}";
        let mut specs = Vec::new();
        let r = load_bytes(
            j.as_bytes(),
            Format::Json,
            &LoadOptions::default(),
            &mut |s| specs.push(s),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // `Privilege` is `privilege` in another case (rule 7 says so); the key itself is honoured.
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].message.contains("read as \"privilege\""));
        let PulseKind::Icmp(i) = &specs[0].pulse.kind else {
            panic!()
        };
        assert!(i.ignore_privilege);
        // In YAML the Go key is ignore_privilege only.
        let y = "monitors:\n  - name: a\n    pulse_check: {type: icmp, interval: 10s, timeout: 1s, config: {host: 127.0.0.1, privilege: true}}\n";
        let r = load_text(y, Format::Yaml, &LoadOptions::default());
        assert!(r.is_ok());
        strict_refuses(y, Format::Yaml);
    }

    #[test]
    fn case_10_go_keys_are_honoured_or_accepted() {
        let y = "monitors:\n  - name: a\n    notify_groups: [ops]\n    pulse_check:\n      type: http\n      interval: 10s\n      timeout: 1s\n      retries: 2\n      groups: [web]\n      config: {url: \"http://127.0.0.1:1/\"}\n    intervention: {action: docker, max_failures: 5, target: {container: web}}\n    codes:\n      groups: [x]\n      red: {notify: log, groups: [y], config: {file: a.log}}\n";
        let j = "{\"monitors\": [{\"name\": \"a\", \"notify_groups\": [\"ops\"], \"pulse_check\": {\"type\": \"http\", \"interval\": \"10s\", \"timeout\": \"1s\", \"retries\": 2, \"groups\": [\"web\"], \"config\": {\"url\": \"http://127.0.0.1:1/\"}}, \"intervention\": {\"action\": \"docker\", \"max_failures\": 5, \"target\": {\"container\": \"web\"}}, \"codes\": {\"groups\": [\"x\"], \"red\": {\"notify\": \"log\", \"groups\": [\"y\"], \"config\": {\"file\": \"a.log\"}}}}]}";
        for (r, f) in both(y, j) {
            let (specs, warnings) = r.unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert!(warnings.is_empty(), "{f:?}: {warnings:?}");
            let PulseKind::Http(h) = &specs[0].pulse.kind else {
                panic!()
            };
            assert_eq!(
                h.retries, 2,
                "pulse_check.retries is config.retries' default"
            );
            assert_eq!(specs[0].intervention.as_ref().unwrap().max_attempts, 5);
        }
        // config.retries wins over the pulse-level default.
        let own = y.replace(
            "{url: \"http://127.0.0.1:1/\"}",
            "{url: \"http://127.0.0.1:1/\", retries: 1}",
        );
        let (specs, _) = both(&own, j)[0].0.clone().unwrap();
        let PulseKind::Http(h) = &specs[0].pulse.kind else {
            panic!()
        };
        assert_eq!(h.retries, 1);
        // Both names of the intervention limit: max_attempts wins, with a warning.
        let both_names = y.replace("max_failures: 5", "max_failures: 5, max_attempts: 2");
        let (specs, warnings) = both(&both_names, j)[0].0.clone().unwrap();
        assert_eq!(specs[0].intervention.as_ref().unwrap().max_attempts, 2);
        assert!(warnings[0].contains("max_attempts wins"), "{warnings:?}");
    }

    #[test]
    fn case_11_duplicate_names_get_a_stable_suffix() {
        let y = format!(
            "monitors:\n{}{}{}{}",
            tcp("a", ""),
            tcp("a#2", ""),
            tcp("a", ""),
            tcp("a", "")
        );
        let j = "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"port\": 1}}}, {\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": \"10s\", \"timeout\": \"1s\", \"config\": {\"host\": \"127.0.0.1\", \"port\": 2}}}]}";
        let runs = both(&y, j);
        let (specs, warnings) = runs[0].0.clone().unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "a#2", "a#3", "a#4"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("renamed \"a#3\""), "{warnings:?}");
        let (specs, _) = runs[1].0.clone().unwrap();
        assert_eq!(specs[1].name, "a#2");
        strict_refuses(&y, Format::Yaml);
        strict_refuses(j, Format::Json);
    }

    #[test]
    fn case_13_negative_retries_port_zero_and_zero_intervals() {
        let y = format!(
            "monitors:\n{}  - name: b\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: 127.0.0.1, port: 0}}}}\n  - name: c\n    pulse_check: {{type: tcp, interval: 10s, config: {{host: 127.0.0.1, port: 3}}}}\n",
            tcp("a", ", retries: -1")
        );
        let (specs, warnings) = both(&y, "{}")[0].0.clone().unwrap();
        let PulseKind::Tcp(t) = &specs[0].pulse.kind else {
            panic!()
        };
        assert_eq!(t.retries, 0);
        assert!(specs[0].enabled);
        assert!(!specs[1].enabled, "port 0 loads disabled");
        assert_eq!(
            specs[2].pulse.timeout,
            s(10),
            "no timeout: the default, at most the interval"
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("-1 retries read as 0"));
        assert!(warnings[1].contains("loaded disabled"));
        assert!(warnings[2].contains("no timeout given"));
        strict_refuses(&y, Format::Yaml);
        // A zero or missing interval cannot run: an error that says why, in both formats.
        for (text, f) in [
            (
                "monitors:\n  - name: a\n    pulse_check: {type: tcp, interval: 0s, timeout: 1s, config: {host: h, port: 1}}\n",
                Format::Yaml,
            ),
            (
                "monitors:\n  - name: a\n    pulse_check: {type: tcp, timeout: 1s, config: {host: h, port: 1}}\n",
                Format::Yaml,
            ),
            (
                "{\"monitors\": [{\"name\": \"a\", \"pulse_check\": {\"type\": \"tcp\", \"interval\": 0, \"timeout\": \"1s\", \"config\": {\"host\": \"h\", \"port\": 1}}}]}",
                Format::Json,
            ),
        ] {
            let e = load_bytes(text.as_bytes(), f, &LoadOptions::default(), &mut |_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains("interval") && e.contains("30s"), "{e}");
        }
    }

    #[test]
    fn warnings_are_kept_when_the_load_fails() {
        let y = format!(
            "monitors:\n{}  - name: b\n    pulse_check: {{type: tcp, interval: 0s, timeout: 1s, config: {{host: h, port: 1}}}}\n",
            tcp("a", ", bogus: 1")
        );
        let e = load_bytes(
            y.as_bytes(),
            Format::Yaml,
            &LoadOptions::default(),
            &mut |_| (),
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.warnings.len(), 1);
        assert!(e.to_string().contains("warning: ") && e.to_string().contains("bogus"));
    }

    #[test]
    fn a_file_in_the_go_originals_form_loads_in_yaml_and_its_json_conversion() {
        for (file, f) in [
            ("go_form.yaml", Format::Yaml),
            ("go_form.json", Format::Json),
        ] {
            let text = std::fs::read(fixture(file)).unwrap();
            let mut specs = Vec::new();
            let r = load_bytes(&text, f, &LoadOptions::default(), &mut |s| specs.push(s))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "shop-frontend",
                    "shop-frontend-eu",
                    "orders-db",
                    "gateway-ping",
                    "orders-db#2"
                ],
                "{file}"
            );
            assert_eq!(r.warnings.len(), 17, "{file}: {:?}", r.warnings);
            let strict = LoadOptions {
                strict: true,
                ..LoadOptions::default()
            };
            let e = load_bytes(&text, f, &strict, &mut |_| ()).unwrap_err();
            assert_eq!(
                e.total(),
                17,
                "{file}: every warning is an error with --strict"
            );
        }
    }
}

/// Rules that the store used to apply after lowering (so their errors had no line) are
/// lowering's now: a DNS check that could never match is refused at its field's line.
#[test]
fn dns_answers_that_can_never_match_are_errors_at_their_line() {
    let text = "monitors:\n  - name: d\n    pulse_check:\n      type: dns\n      interval: 30s\n      timeout: 5s\n      config:\n        server: 127.0.0.1:53\n        query: example.test\n        record_type: A\n        expected_answer: not-an-address\n";
    let errs = errors_of(yaml(text));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, Some(11), "{errs:?}");
    assert!(errs[0].message.contains("not-an-address"), "{errs:?}");
    // The same check with a possible answer loads.
    assert!(yaml(&text.replace("not-an-address", "192.0.2.1")).is_ok());
}

/// An Alertmanager cluster's peers as a list: every peer gets every alert.
#[test]
fn alertmanager_takes_a_list_of_peers() {
    let text = |url: &str| {
        format!(
            "monitors:\n  - name: a\n    pulse_check: {{type: tcp, interval: 10s, timeout: 1s, config: {{host: h, port: 1}}}}\n    codes:\n      red: {{notify: alertmanager, config: {{url: {url}}}}}\n"
        )
    };
    let specs = yaml(&text("[\"http://am1:9093\", \"http://am2:9093\"]")).unwrap();
    let red = specs[0].codes.by_colour[Colour::Red as usize]
        .as_ref()
        .unwrap();
    assert_eq!(
        red.notify,
        NotifierSpec::Alertmanager {
            urls: vec!["http://am1:9093".into(), "http://am2:9093".into()]
        }
    );
    let errs = errors_of(yaml(&text("[]")));
    assert!(errs[0].message.contains("at least one URL"), "{errs:?}");
    let errs = errors_of(yaml(&text("[\"http://am1:9093\", \"nope\"]")));
    assert!(errs[0].path.ends_with("url[1]"), "{errs:?}");
}
