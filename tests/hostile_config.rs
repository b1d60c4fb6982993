//! Issue 14's hostile-input audit, one regression test per finding about configuration and
//! output: huge keys, padded numbers, null arguments, odd hosts, gzip bombs, closed pipes.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cpra::config::{Format, LoadOptions, load_bytes};

fn load(text: &str, format: Format) -> Result<usize, String> {
    load_bytes(
        text.as_bytes(),
        format,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .map(|r| r.monitors)
    .map_err(|e| e.to_string())
}

const MON: &str = "{name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}}";

/// 14.8 and issue 13's "bounded time": a huge unknown key costs neither time nor memory nor a
/// huge message; strings under ignored keys are held to the cap too.
#[test]
fn huge_keys_and_ignored_values_are_refused_quickly_with_short_messages() {
    let big = "k".repeat(16 << 20);
    for (text, format) in [
        (
            format!(
                "monitors:\n  - {{name: a, {big}: 1, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}}}\n"
            ),
            Format::Yaml,
        ),
        (format!("x-note: \"{big}\"\nmonitors: []\n"), Format::Yaml),
        (format!("{{\"monitors\": [], \"{big}\": 1}}"), Format::Json),
        (
            format!("{{\"monitors\": [], \"x\": \"{big}\"}}"),
            Format::Json,
        ),
    ] {
        let t0 = Instant::now();
        let err = load(&text, format).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert!(err.len() < 2000, "message of {} bytes", err.len());
        assert!(err.contains("at most 65536 bytes"), "{err}");
    }
    // An unknown key of ordinary size still warns, cut to a readable length.
    let long = "z".repeat(5000);
    let text = format!(
        "monitors:\n  - {{name: a, {long}: 1, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: 127.0.0.1, port: 1}}}}}}\n"
    );
    let r = load_bytes(
        text.as_bytes(),
        Format::Yaml,
        &LoadOptions::default(),
        &mut |_| (),
    )
    .unwrap();
    let w = r.warnings[0].to_string();
    assert!(w.len() < 400 && w.contains("..."), "{w}");
}

/// 14 (minor): `command: [~]` ran a program named `~`.
#[test]
fn a_null_argument_is_an_error() {
    let text = "monitors:\n  - {name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}, intervention: {action: exec, target: {command: [~]}}}\n";
    let err = load(text, Format::Yaml).unwrap_err();
    assert!(err.contains("command[0]") && err.contains("null"), "{err}");
}

/// 14 (minor): `"1s "` and `" 22"` were accepted though Go's parsers refuse them.
#[test]
fn padded_durations_and_ports_are_errors() {
    for (field, value) in [("interval", "'1s '"), ("timeout", "' 1s'")] {
        let text = format!("monitors:\n  - {{name: a, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, {field}: {value}, config: {{host: 127.0.0.1, port: 1}}}}}}\n").replacen(&format!("{field}: 1s, "), "", 1);
        let err = load(&text, Format::Yaml).unwrap_err();
        assert!(err.contains("spaces around it"), "{err}");
    }
    let text = "monitors:\n  - {name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: ' 22'}}}\n";
    assert!(
        load(text, Format::Yaml)
            .unwrap_err()
            .contains("spaces around it")
    );
    assert_eq!(
        load(&format!("monitors:\n  - {MON}\n"), Format::Yaml),
        Ok(1)
    );
}

/// 14 (minor): `host: "-"` was accepted.
#[test]
fn a_host_of_dashes_is_an_error() {
    for host in ["'-'", "-a.example", "a-.example"] {
        let text = format!(
            "monitors:\n  - {{name: a, pulse_check: {{type: tcp, interval: 1s, timeout: 1s, config: {{host: {host}, port: 1}}}}}}\n"
        );
        let err = load(&text, Format::Yaml).unwrap_err();
        assert!(err.contains("starts or ends with '-'"), "{host}: {err}");
    }
    let ok = "monitors:\n  - {name: a, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: my-host.example, port: 1}}}\n";
    assert_eq!(load(ok, Format::Yaml), Ok(1));
}

/// 14 (minor): a 4 MB `.gz` expanded to 4.2 GB resident before loading. Now the gunzip stops
/// at 200 times the compressed size (plus 64 MiB).
#[test]
fn a_gzip_bomb_is_refused_before_it_expands() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..512 {
        enc.write_all(&zeros).unwrap();
    }
    let gz = enc.finish().unwrap();
    assert!(gz.len() < (4 << 20), "{} bytes", gz.len());
    let t0 = Instant::now();
    let err = load_bytes(&gz, Format::Yaml, &LoadOptions::default(), &mut |_| ()).unwrap_err();
    assert!(err.to_string().contains("gzip bomb"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

fn cpra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cpra"))
}

/// 14.7: `cpra check f.yaml | head -1` and `> /dev/full` panicked ("failed printing to stdout").
#[test]
fn check_into_a_closed_pipe_or_a_full_disk_does_not_panic() {
    let dir = common::temp_dir("hostile-out");
    let cfg = dir.join("m.yaml");
    std::fs::write(&cfg, format!("monitors:\n  - {MON}\n")).unwrap();
    let mut child = cpra()
        .arg("check")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // The reader went away, as `head -1` does after one line.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = cpra().arg("check").arg(&cfg).stdout(full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && out.status.code() != Some(101),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 14.7: in `cpra run`, a closed stderr panicked the main thread at the next intervention
/// message (exit 101, no summary).
#[test]
fn run_with_a_closed_stderr_finishes_with_its_summary() {
    let dir = common::temp_dir("hostile-err");
    let cfg = dir.join("m.yaml");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    std::fs::write(
        &cfg,
        format!("monitors:\n  - {{name: a, pulse_check: {{type: tcp, interval: 200ms, timeout: 100ms, config: {{host: 127.0.0.1, port: {port}}}}}, intervention: {{action: exec, cooldown: 0s, max_attempts: 100, target: {{command: [sh, -c, 'echo noise >&2; exit 1']}}}}}}\n"),
    )
    .unwrap();
    let summary = dir.join("summary.json");
    let mut child = cpra()
        .arg("run")
        .arg(&cfg)
        .args(["--for", "2s", "--no-pin", "--workers", "1", "--summary"])
        .arg(&summary)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(s["interventions"]["failed"].as_u64().unwrap() >= 1, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by tests/fuzz_config.rs: duplicate keys under keys that lowering ignores (a second
/// top-level `x-` key, a mapping under an unknown key), and text after the document that the
/// parser cannot read, passed silently. All are errors now, as yaml-rust2's own loader says.
#[test]
fn duplicates_anywhere_and_trailing_garbage_are_errors() {
    let m = format!("  - {MON}\n");
    for text in [
        format!("x-a: 1\nx-a: 2\nmonitors:\n{m}"),
        "monitors:\n  - {name: a, extra: {k: 1, k: 2}, pulse_check: {type: tcp, interval: 1s, timeout: 1s, config: {host: 127.0.0.1, port: 1}}}\n".to_string(),
        format!("x-note: {{a: 1, a: 2}}\nmonitors:\n{m}"),
        format!("monitors:\n{m}...\n| - name: b\n"),
    ] {
        let err = load(&text, Format::Yaml).unwrap_err();
        assert!(
            err.contains("duplicate key")
                || err.contains("second YAML document")
                || err.contains("syntax"),
            "{text}: {err}"
        );
    }
}

/// 14.8: an intervention's failure message printed the substituted command (a secret); exec
/// children inherited cpra's whole environment; 20 MB of a child's stderr reached cpra's.
#[test]
fn exec_interventions_leak_no_secret_no_environment_and_no_flood() {
    let dir = common::temp_dir("hostile-exec");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mark = dir.join("env-clean");
    let mon = |name: &str, cmd: &str| {
        format!(
            "  - {{name: {name}, pulse_check: {{type: tcp, interval: 300ms, timeout: 200ms, config: {{host: 127.0.0.1, port: {port}}}}}, intervention: {{action: exec, target: {{command: {cmd}}}}}}}\n"
        )
    };
    let cfg = dir.join("m.yaml");
    let text = String::from("monitors:\n")
        + &mon("secret", "['${CPRA_SECRET_CMD}']")
        + &mon(
            "env",
            &format!(
                "[sh, -c, 'test -z \"$CPRA_LEAK\" && test -n \"$PATH\" && touch {}']",
                mark.display()
            ),
        )
        + &mon(
            "flood",
            "[sh, -c, 'head -c 20000000 /dev/zero | tr \"\\0\" x >&2; exit 1']",
        );
    std::fs::write(&cfg, text).unwrap();
    let out = cpra()
        .arg("run")
        .arg(&cfg)
        .args(["--for", "3s", "--no-pin", "--workers", "1", "--state-dir"])
        .arg(dir.join("state"))
        .env("CPRA_SECRET_CMD", "/nonexistent/tok_SuperSecret_9f8e7d")
        .env("CPRA_LEAK", "inherited")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("tok_SuperSecret"),
        "the substituted command leaked: {err}"
    );
    assert!(err.contains("cannot start the command"), "{err}");
    assert!(
        mark.exists(),
        "the child saw cpra's environment or no PATH: {err}"
    );
    assert!(err.len() < 64 * 1024, "{} bytes of stderr", err.len());
    assert!(
        err.contains("stderr: xxxx"),
        "the child's stderr, capped, is in the message"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 14.4: `keepalive: true` against a healthy server with a 2 MiB body failed `body` and fired
/// red. The documented behaviour: the check passes and the connection is closed, not reused.
#[test]
fn keepalive_with_a_large_body_passes() {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = [0u8; 4096];
                let body = vec![b'x'; 2 << 20];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if c.write_all(head.as_bytes()).is_err() || c.write_all(&body).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let dir = common::temp_dir("hostile-ka");
    let cfg = dir.join("m.yaml");
    std::fs::write(
        &cfg,
        format!("monitors:\n  - {{name: big, pulse_check: {{type: http, interval: 300ms, timeout: 300ms, config: {{url: 'http://{addr}/', keepalive: true}}}}}}\n"),
    )
    .unwrap();
    let summary = dir.join("summary.json");
    let out = cpra()
        .arg("run")
        .arg(&cfg)
        .args(["--for", "3s", "--no-pin", "--workers", "1", "--summary"])
        .arg(&summary)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(s["checks"].as_u64().unwrap() >= 8, "{s}");
    assert_eq!(s["failures"], 0, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// 14.5: SIGHUP (what logrotate sends) must not stop cpra: it reloads the file (rotated log
/// files are followed by themselves).
#[test]
fn sighup_does_not_stop_a_run() {
    let dir = common::temp_dir("hostile-hup");
    let cfg = dir.join("m.yaml");
    std::fs::write(&cfg, format!("monitors:\n  - {MON}\n")).unwrap();
    let child = cpra()
        .arg("run")
        .arg(&cfg)
        .args(["--for", "2s", "--no-pin", "--workers", "1", "--state-dir"])
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("(asked by SIGHUP)"), "{err}");
    assert!(err.contains("configuration reloaded in"), "{err}");
    assert!(err.contains("stopped after 2."), "ran its full 2 s: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
