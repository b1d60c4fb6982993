//! Running interventions off the engine thread, with guards against mass remediation.
//!
//! A dispatcher thread takes jobs from the engine and runs each on its own short-lived thread,
//! so a slow or hung intervention never delays checks or other interventions. Guards, in the
//! dispatcher: at most [`INTERVENTIONS_CONCURRENT_MAX`] running at once for all actions; one at
//! a time per target (a container, a command, a URL); at most
//! [`DOCKER_RESTARTS_PER_HOST_MAX`] restarts at once per Docker daemon. Jobs that cannot start
//! yet wait in arrival order, without blocking jobs for other targets. (The circuit breaker
//! that holds interventions when a large share of monitors fails at once is in the lifecycle:
//! it decides whether an intervention starts at all.)
//!
//! One job is `retries + 1` attempts with a doubling pause between them; every attempt is
//! logged (start, outcome, duration, reason) and the job's outcome goes back to the engine over
//! a channel as a lifecycle input.
//!
//! Actions: [`exec`] (argv, no shell), [`docker`] (Engine API restart), [`webhook`] (one HTTP
//! request).

pub mod docker;
mod exec;
mod webhook;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::config::model::{InterventionAction, InterventionSpec};
use crate::limits::{DOCKER_RESTARTS_PER_HOST_MAX, EXEC_POLL_MS, INTERVENTIONS_CONCURRENT_MAX};
use crate::vocab::Reason;
use docker::DockerHost;

/// An intervention to run for a monitor.
pub struct Job {
    pub monitor: u32,
    /// Which configuration `monitor` is an id of (a reload renumbers monitors; the engine
    /// maps an outcome of an earlier one to the monitor's id now).
    pub era: u64,
    pub name: String,
    pub spec: Arc<InterventionSpec>,
    /// The last check's reason (the webhook's `{{reason}}`).
    pub reason: Reason,
    /// This cpra's name (the webhook's `{{instance}}`).
    pub instance: Arc<str>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub monitor: u32,
    /// The job's [`Job::era`].
    pub era: u64,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
    pub duration_ms: u64,
}

pub enum JobMsg {
    Run(Job),
    Shutdown,
}

/// What a job occupies while it runs: its target, and its Docker daemon.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Claim {
    target: String,
    docker: Option<DockerHost>,
}

fn claim_of(action: &InterventionAction, monitor: &str) -> Claim {
    match action {
        InterventionAction::Docker {
            container,
            docker_host,
            ..
        } => {
            let host = DockerHost::resolve(docker_host.as_deref()).ok();
            let h = host.as_ref().map(|h| h.describe()).unwrap_or_default();
            Claim {
                target: format!("docker\0{h}\0{container}"),
                docker: host,
            }
        }
        InterventionAction::Exec { command, .. } => Claim {
            target: format!("exec\0{}", command.join("\0")),
            docker: None,
        },
        // A webhook serves many monitors (the monitor is in its body): the target is the
        // pair, so one endpoint is not serialised across monitors.
        InterventionAction::Webhook { url, .. } => Claim {
            target: format!("webhook\0{url}\0{monitor}"),
            docker: None,
        },
    }
}

/// The dispatcher's bookkeeping of what runs.
#[derive(Default)]
struct Running {
    count: usize,
    targets: HashSet<String>,
    per_docker: HashMap<DockerHost, usize>,
}

impl Running {
    fn may_start(&self, c: &Claim) -> bool {
        self.count < INTERVENTIONS_CONCURRENT_MAX
            && !self.targets.contains(&c.target)
            && c.docker.as_ref().is_none_or(|h| {
                self.per_docker.get(h).copied().unwrap_or(0) < DOCKER_RESTARTS_PER_HOST_MAX
            })
    }

    fn start(&mut self, c: &Claim) {
        self.count += 1;
        self.targets.insert(c.target.clone());
        if let Some(h) = &c.docker {
            *self.per_docker.entry(h.clone()).or_insert(0) += 1;
        }
    }

    fn end(&mut self, c: &Claim) {
        self.count = self.count.saturating_sub(1);
        self.targets.remove(&c.target);
        if let Some(h) = &c.docker
            && let Some(n) = self.per_docker.get_mut(h)
        {
            *n = n.saturating_sub(1);
        }
    }
}

/// Runs the dispatcher until `Shutdown`; then stops running jobs (killing their processes)
/// and returns when every job thread has reported.
pub fn run(rx: Receiver<JobMsg>, outcomes: Sender<Outcome>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = channel::<Claim>();
    let mut waiting: VecDeque<(Job, Claim)> = VecDeque::new();
    let mut running = Running::default();
    let mut shutting_down = false;
    let mut shutdown_at: Option<Instant> = None;
    loop {
        while let Ok(c) = done_rx.try_recv() {
            running.end(&c);
        }
        if !shutting_down {
            start_eligible(&mut waiting, &mut running, &stop, &outcomes, &done_tx);
        }
        // Exec attempts are killed at once; a docker or webhook call in progress is left to end
        // on its own timeout after the grace (its outcome is ignored), so a stop stays bounded.
        let grace_over = shutdown_at
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(crate::limits::STOP_GRACE_MS));
        if shutting_down && (running.count == 0 || grace_over) {
            for (job, _) in waiting.drain(..) {
                let _ = outcomes.send(Outcome {
                    monitor: job.monitor,
                    era: job.era,
                    ok: false,
                    attempts: 0,
                    detail: "not run: cpra is shutting down".into(),
                    duration_ms: 0,
                });
            }
            return;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(JobMsg::Run(job)) => {
                let c = claim_of(&job.spec.action, &job.name);
                waiting.push_back((job, c));
            }
            Ok(JobMsg::Shutdown) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if shutting_down {
                    // The channel is gone: wait for running jobs without spinning.
                    std::thread::sleep(Duration::from_millis(EXEC_POLL_MS));
                }
                shutting_down = true;
                shutdown_at.get_or_insert_with(Instant::now);
                stop.store(true, Ordering::Release);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Starts every waiting job whose guards allow it, in arrival order.
fn start_eligible(
    waiting: &mut VecDeque<(Job, Claim)>,
    running: &mut Running,
    stop: &Arc<AtomicBool>,
    outcomes: &Sender<Outcome>,
    done: &Sender<Claim>,
) {
    let mut i = 0;
    while i < waiting.len() && running.count < INTERVENTIONS_CONCURRENT_MAX {
        if !running.may_start(&waiting[i].1) {
            i += 1;
            continue;
        }
        let Some((job, claim)) = waiting.remove(i) else {
            break;
        };
        running.start(&claim);
        let (stop, outcomes2, done) = (stop.clone(), outcomes.clone(), done.clone());
        let back = claim.clone();
        let (monitor, era) = (job.monitor, job.era);
        let spawned = std::thread::Builder::new()
            .name("cpra-intervention".into())
            .spawn(move || {
                // Whatever happens in the attempt (a panic on a hostile answer included), the
                // monitor gets an outcome and the target is released: never stuck intervening.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(&job, &stop)))
                        .unwrap_or_else(|_| {
                            failed(job.monitor, job.era, "internal error in the intervention")
                        });
                let _ = outcomes2.send(outcome);
                let _ = done.send(claim);
            });
        if let Err(e) = spawned {
            running.end(&back);
            crate::say!("cpra: cannot start an intervention thread: {e}");
            let _ = outcomes.send(failed(monitor, era, &format!("cannot start a thread: {e}")));
        }
    }
}

fn failed(monitor: u32, era: u64, detail: &str) -> Outcome {
    Outcome {
        monitor,
        era,
        ok: false,
        attempts: 0,
        detail: detail.to_string(),
        duration_ms: 0,
    }
}

fn run_job(job: &Job, stop: &AtomicBool) -> Outcome {
    let spec = &job.spec;
    let attempts_max = spec.retries.saturating_add(1);
    let mut pause = spec.retry_backoff;
    let mut detail = String::new();
    let t_job = Instant::now();
    let kind = spec.action.type_name();
    for attempt in 1..=attempts_max {
        let t0 = Instant::now();
        let result = attempt_once(&spec.action, stop, &job.vars());
        let ms = t0.elapsed().as_millis();
        match result {
            Ok(()) => {
                crate::say!(
                    "cpra: intervention {:?} ({kind}) attempt {attempt}/{attempts_max}: succeeded in {ms} ms",
                    job.name
                );
                return Outcome {
                    monitor: job.monitor,
                    era: job.era,
                    ok: true,
                    attempts: attempt,
                    detail: format!("succeeded on attempt {attempt}"),
                    duration_ms: t_job.elapsed().as_millis() as u64,
                };
            }
            Err(e) => {
                crate::say!(
                    "cpra: intervention {:?} ({kind}) attempt {attempt}/{attempts_max}: failed in {ms} ms: {e}",
                    job.name
                );
                detail = format!("attempt {attempt}/{attempts_max}: {e}");
            }
        }
        if attempt < attempts_max && !sleep_unless_stopped(pause, stop) {
            break;
        }
        pause = pause.saturating_mul(2);
    }
    Outcome {
        monitor: job.monitor,
        era: job.era,
        ok: false,
        attempts: attempts_max,
        detail,
        duration_ms: t_job.elapsed().as_millis() as u64,
    }
}

impl Job {
    fn vars(&self) -> webhook::Vars<'_> {
        webhook::Vars {
            monitor: &self.name,
            reason: self.reason.name(),
            instance: &self.instance,
        }
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
fn attempt_once(
    action: &InterventionAction,
    stop: &AtomicBool,
    vars: &webhook::Vars<'_>,
) -> Result<(), String> {
    match action {
        InterventionAction::Exec {
            command,
            timeout,
            env,
        } => exec::exec(command, env, *timeout, stop),
        InterventionAction::Docker {
            container,
            timeout,
            docker_host,
        } => {
            let host = DockerHost::resolve(docker_host.as_deref())?;
            docker::restart(&host, container, *timeout)
        }
        InterventionAction::Webhook {
            url,
            method,
            headers,
            body,
            timeout,
        } => webhook::call(url, method, headers, body.as_deref(), *timeout, vars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt_once_t(a: &InterventionAction, stop: &AtomicBool) -> Result<(), String> {
        let v = webhook::Vars {
            monitor: "m",
            reason: "timeout",
            instance: "i",
        };
        attempt_once(a, stop, &v)
    }

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
        assert!(attempt_once_t(&exec_action(&["true"], 5000), &stop).is_ok());
        let e = attempt_once_t(&exec_action(&["false"], 5000), &stop).unwrap_err();
        assert!(e.contains("exited with"), "{e}");
        let e = attempt_once_t(&exec_action(&["/nonexistent/cpra-x"], 5000), &stop).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }

    #[test]
    fn env_is_passed_and_no_shell_is_used() {
        let stop = AtomicBool::new(false);
        // `test` is run directly: the argument "$CPRA_TEST_VAR" is not expanded.
        assert!(
            attempt_once_t(
                &exec_action(&["test", "$CPRA_TEST_VAR", "=", "42"], 5000),
                &stop
            )
            .is_err()
        );
        assert!(
            attempt_once_t(
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
        let e = attempt_once_t(&exec_action(&["sh", "-c", &script], 200), &stop).unwrap_err();
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
            era: 0,
            name: "m".into(),
            reason: Reason::Timeout,
            instance: Arc::from("i"),
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
