//! Running interventions off the engine thread.
//!
//! A dispatcher thread takes jobs from the engine and runs each on its own short-lived thread,
//! at most [`INTERVENTIONS_CONCURRENT_MAX`] at once (the rest wait in arrival order), so a slow
//! or hung intervention never delays checks or other interventions. One job is `retries + 1`
//! attempts with a doubling pause between them; its outcome goes back to the engine over a
//! channel and becomes a lifecycle input.
//!
//! `exec` runs `argv` directly (no shell), with stdin closed and stdout discarded, in its own
//! process group; an attempt that overruns `timeout` has its whole group killed (SIGKILL), so a
//! script's children die with it. Exit status 0 is success.

use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::config::model::{InterventionAction, InterventionSpec};
use crate::limits::{EXEC_POLL_MS, INTERVENTIONS_CONCURRENT_MAX};

/// An intervention to run for a monitor.
pub struct Job {
    pub monitor: u32,
    pub name: String,
    pub spec: Arc<InterventionSpec>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub monitor: u32,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
}

pub enum JobMsg {
    Run(Job),
    Shutdown,
}

/// Runs the dispatcher until `Shutdown`; then stops running jobs (killing their processes)
/// and returns when every job thread has reported.
pub fn run(rx: Receiver<JobMsg>, outcomes: Sender<Outcome>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = channel::<()>();
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut running = 0usize;
    let mut shutting_down = false;
    loop {
        while done_rx.try_recv().is_ok() {
            running -= 1;
        }
        while running < INTERVENTIONS_CONCURRENT_MAX && !shutting_down {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            running += 1;
            let (stop, outcomes, done) = (stop.clone(), outcomes.clone(), done_tx.clone());
            let spawned = std::thread::Builder::new()
                .name("cpra-intervention".into())
                .spawn(move || {
                    let outcome = run_job(&job, &stop);
                    let _ = outcomes.send(outcome);
                    let _ = done.send(());
                });
            if let Err(e) = spawned {
                running -= 1;
                crate::say!("cpra: cannot start an intervention thread: {e}");
            }
        }
        if shutting_down && running == 0 {
            for job in waiting.drain(..) {
                let _ = outcomes.send(Outcome {
                    monitor: job.monitor,
                    ok: false,
                    attempts: 0,
                    detail: "not run: cpra is shutting down".into(),
                });
            }
            return;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(JobMsg::Run(job)) => waiting.push_back(job),
            Ok(JobMsg::Shutdown) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                shutting_down = true;
                stop.store(true, Ordering::Release);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn run_job(job: &Job, stop: &AtomicBool) -> Outcome {
    let spec = &job.spec;
    let attempts_max = spec.retries.saturating_add(1);
    let mut pause = spec.retry_backoff;
    let mut detail = String::new();
    for attempt in 1..=attempts_max {
        match attempt_once(&spec.action, stop) {
            Ok(()) => {
                return Outcome {
                    monitor: job.monitor,
                    ok: true,
                    attempts: attempt,
                    detail: format!("succeeded on attempt {attempt}"),
                };
            }
            Err(e) => detail = format!("attempt {attempt}/{attempts_max}: {e}"),
        }
        if attempt < attempts_max && !sleep_unless_stopped(pause, stop) {
            break;
        }
        pause = pause.saturating_mul(2);
    }
    Outcome {
        monitor: job.monitor,
        ok: false,
        attempts: attempts_max,
        detail,
    }
}

/// Sleeps `d`, waking early (returning false) when `stop` is set.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(EXEC_POLL_MS).min(until - Instant::now()));
    }
    !stop.load(Ordering::Acquire)
}

/// One attempt of an action.
pub fn attempt_once(action: &InterventionAction, stop: &AtomicBool) -> Result<(), String> {
    match action {
        InterventionAction::Exec {
            command,
            timeout,
            env,
        } => exec(command, env, *timeout, stop),
        other => Err(format!(
            "{} interventions are not yet supported by this build of cpra",
            other.type_name()
        )),
    }
}

fn exec(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let mut child = Command::new(prog)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {prog:?}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{prog:?} exited with {status}")),
            Ok(None) => {}
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("waiting for {prog:?}: {e}"));
            }
        }
        if stop.load(Ordering::Acquire) {
            kill_group(&mut child);
            return Err(format!("{prog:?} killed: cpra is shutting down"));
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(&mut child);
            return Err(format!(
                "{prog:?} killed after its timeout of {} ms",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_action(argv: &[&str], timeout_ms: u64) -> InterventionAction {
        InterventionAction::Exec {
            command: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(timeout_ms),
            env: vec![("CPRA_TEST_VAR".into(), "42".into())],
        }
    }

    #[test]
    fn exit_status_decides() {
        let stop = AtomicBool::new(false);
        assert!(attempt_once(&exec_action(&["true"], 5000), &stop).is_ok());
        let e = attempt_once(&exec_action(&["false"], 5000), &stop).unwrap_err();
        assert!(e.contains("exited with"), "{e}");
        let e = attempt_once(&exec_action(&["/nonexistent/cpra-x"], 5000), &stop).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }

    #[test]
    fn env_is_passed_and_no_shell_is_used() {
        let stop = AtomicBool::new(false);
        // `test` is run directly: the argument "$CPRA_TEST_VAR" is not expanded.
        assert!(
            attempt_once(
                &exec_action(&["test", "$CPRA_TEST_VAR", "=", "42"], 5000),
                &stop
            )
            .is_err()
        );
        assert!(
            attempt_once(
                &exec_action(&["sh", "-c", "test \"$CPRA_TEST_VAR\" = 42"], 5000),
                &stop
            )
            .is_ok()
        );
    }

    #[test]
    fn overrun_is_killed_with_its_children() {
        let stop = AtomicBool::new(false);
        let dir = std::env::temp_dir().join(format!("cpra-kill-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let marker = dir.join("child-survived");
        let script = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let t0 = Instant::now();
        let e = attempt_once(&exec_action(&["sh", "-c", &script], 200), &stop).unwrap_err();
        assert!(e.contains("timeout"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the grandchild outlived the kill");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn retries_with_backoff_then_fails() {
        let stop = AtomicBool::new(false);
        let job = Job {
            monitor: 3,
            name: "m".into(),
            spec: Arc::new(InterventionSpec {
                action: exec_action(&["false"], 1000),
                retries: 2,
                max_attempts: 3,
                cooldown: Duration::from_secs(1),
                retry_backoff: Duration::from_millis(20),
            }),
        };
        let t0 = Instant::now();
        let o = run_job(&job, &stop);
        assert!(!o.ok);
        assert_eq!(o.attempts, 3);
        assert!(t0.elapsed() >= Duration::from_millis(60)); // 20 + 40
        assert!(o.detail.contains("attempt 3/3"));
    }
}
