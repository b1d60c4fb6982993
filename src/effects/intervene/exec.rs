//! The exec intervention: run a command (argv, never through a shell).
//!
//! stdin closed, stdout discarded, stderr kept (the first [`EXEC_STDERR_BYTES_MAX`] bytes, for
//! the failure message; the rest is read and dropped, so a chatty child neither blocks nor
//! floods cpra's own stderr). The child gets a minimal environment ([`EXEC_ENV_PASSED`] from
//! cpra's, then `target.env`), not cpra's whole one. It runs in its own process group, so an
//! attempt that overruns `timeout` has its whole group killed (SIGKILL) and a script's children
//! die with it. Exit status 0 is success. Messages never quote the command: after `${VAR}`
//! substitution it may hold a secret.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::limits::{EXEC_POLL_MS, EXEC_STDERR_BYTES_MAX};

/// Variables passed from cpra's environment to a command (then `target.env` is applied).
pub const EXEC_ENV_PASSED: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME"];

pub(crate) fn exec(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).env_clear();
    for k in EXEC_ENV_PASSED {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the command: {e}"))?;
    // Read on a thread; a grandchild that escaped the group may hold the pipe open, so the
    // result is waited for only briefly.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut err) = child.stderr.take() {
        let _ = std::thread::Builder::new()
            .name("cpra-exec-stderr".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = EXEC_STDERR_BYTES_MAX.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = tx.send(kept);
            });
    }
    let result = wait(&mut child, timeout, stop);
    let said = rx
        .recv_timeout(Duration::from_millis(200))
        .map(|b| String::from_utf8_lossy(&b).trim().replace('\n', " | "))
        .unwrap_or_default();
    // The child may echo its arguments or environment, which may hold substituted secrets.
    let secrets: Vec<String> = args
        .iter()
        .chain(std::iter::once(prog))
        .cloned()
        .chain(env.iter().map(|(_, v)| v.clone()))
        .collect();
    let said = crate::effects::notify::redact(&said, &secrets);
    match result {
        Err(e) if !said.is_empty() => Err(format!("{e}; stderr: {said}")),
        other => other,
    }
}

fn wait(child: &mut Child, timeout: Duration, stop: &AtomicBool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("the command exited with {status}")),
            Ok(None) => {}
            Err(e) => {
                kill_group(child);
                return Err(format!("waiting for the command: {e}"));
            }
        }
        if stop.load(Ordering::Acquire) {
            kill_group(child);
            return Err("the command was killed: cpra is shutting down".into());
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(child);
            return Err(format!(
                "the command was killed after its timeout of {} ms",
                timeout.as_millis()
            ));
        }
        std::thread::sleep(Duration::from_millis(EXEC_POLL_MS).min(deadline - now));
    }
}

/// Kills the child's whole process group and reaps the child.
fn kill_group(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The child leads its own group (process_group(0)), so its pid is the group id.
    if nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
}
