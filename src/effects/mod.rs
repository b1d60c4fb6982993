//! Effects: what the lifecycle's events cause in the world, run off the engine thread.
//!
//! - [`notify`]: codes to notifiers (log, webhook, Slack, PagerDuty, Alertmanager, email)
//!   through a durable outbox, one delivery lane per notifier, storm digests, backoff.
//! - [`intervene`]: interventions (exec for now), with retries, timeouts and kills.
//! - [`render`]: the words of a code, shared by every notifier.
//!
//! The engine talks to both through channels and never blocks on them; intervention
//! outcomes come back through [`Effects::outcomes`], which the engine drains once per tick.

pub mod intervene;
pub mod notify;
pub mod render;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use crate::config::model::NotifierSpec;
use intervene::{Job, JobMsg, Outcome};
use notify::{Notify, NotifyOptions, NotifyStats};
use render::Code;

/// Handles to the effect threads.
pub struct Effects {
    notify: Notify,
    jobs_tx: Sender<JobMsg>,
    pub outcomes: Receiver<Outcome>,
    jobs_thread: Option<JoinHandle<()>>,
}

/// This machine's host name (the default `--name`), or `cpra` when it has none.
pub fn instance_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cpra".into())
}

impl Effects {
    pub fn start(notifiers: &[NotifierSpec], opts: NotifyOptions) -> std::io::Result<Effects> {
        let notify = Notify::start(notifiers, opts)?;
        let (jobs_tx, jobs_rx) = channel();
        let (out_tx, out_rx) = channel();
        let jobs_thread = std::thread::Builder::new()
            .name("cpra-interventions".into())
            .spawn(move || intervene::run(jobs_rx, out_tx))?;
        Ok(Effects {
            notify,
            jobs_tx,
            outcomes: out_rx,
            jobs_thread: Some(jobs_thread),
        })
    }

    /// Hands one tick's codes, `(notifier id, code)`, to the outbox.
    pub fn send_codes(&self, codes: Vec<(u32, Code)>) {
        self.notify.send(codes);
    }

    /// A reload: see [`notify::Notify::renumber`].
    pub fn renumber_notifiers(
        &self,
        specs: &[NotifierSpec],
        alerting: crate::config::model::AlertingSpec,
    ) {
        self.notify.renumber(specs.to_vec(), alerting);
    }

    pub fn notify_counters(&self) -> &std::sync::Arc<notify::Counters> {
        self.notify.counters()
    }

    pub fn start_intervention(&self, job: Job) {
        let _ = self.jobs_tx.send(JobMsg::Run(job));
    }

    /// Stops the intervention runner (killing running attempts) and returns.
    pub fn stop_interventions(&mut self) {
        let _ = self.jobs_tx.send(JobMsg::Shutdown);
        if let Some(t) = self.jobs_thread.take() {
            let _ = t.join();
        }
    }

    /// Delivers what is queued (a last attempt, within the grace period) and stops the
    /// notifier threads; what is left stays in the outbox.
    pub fn finish_notifications(&mut self) -> NotifyStats {
        self.notify.finish()
    }
}

impl Drop for Effects {
    fn drop(&mut self) {
        self.stop_interventions();
        self.finish_notifications();
    }
}
