//! Effects: what the lifecycle's events cause in the world, run off the engine thread.
//!
//! - [`notify`]: codes to notifiers (the log file for now), queued per notifier, retried with
//!   backoff, never overwritten.
//! - [`intervene`]: interventions (exec for now), with retries, timeouts and kills.
//! - [`render`]: the words of a code, shared by every notifier.
//!
//! The engine talks to both threads through channels and never blocks on them; intervention
//! outcomes come back through [`Effects::outcomes`], which the engine drains once per tick.

pub mod intervene;
pub mod notify;
pub mod render;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use crate::config::model::NotifierSpec;
use intervene::{Job, JobMsg, Outcome};
use notify::{NotifyMsg, NotifyStats};
use render::Code;

/// Handles to the effect threads.
pub struct Effects {
    notify_tx: Sender<NotifyMsg>,
    jobs_tx: Sender<JobMsg>,
    pub outcomes: Receiver<Outcome>,
    notify_thread: Option<JoinHandle<NotifyStats>>,
    jobs_thread: Option<JoinHandle<()>>,
}

impl Effects {
    pub fn start(notifiers: Vec<NotifierSpec>) -> std::io::Result<Effects> {
        let (notify_tx, notify_rx) = channel();
        let (jobs_tx, jobs_rx) = channel();
        let (out_tx, out_rx) = channel();
        let notify_thread = std::thread::Builder::new()
            .name("cpra-notify".into())
            .spawn(move || notify::run(notifiers, notify_rx))?;
        let jobs_thread = std::thread::Builder::new()
            .name("cpra-interventions".into())
            .spawn(move || intervene::run(jobs_rx, out_tx))?;
        Ok(Effects {
            notify_tx,
            jobs_tx,
            outcomes: out_rx,
            notify_thread: Some(notify_thread),
            jobs_thread: Some(jobs_thread),
        })
    }

    pub fn send_code(&self, notifier: u32, code: Code) {
        let _ = self.notify_tx.send(NotifyMsg::Code {
            notifier,
            code: Box::new(code),
        });
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

    /// Delivers what is queued (a last attempt each) and stops the notifier thread.
    pub fn finish_notifications(&mut self) -> NotifyStats {
        let _ = self.notify_tx.send(NotifyMsg::Shutdown);
        match self.notify_thread.take() {
            Some(t) => t.join().unwrap_or_default(),
            None => NotifyStats::default(),
        }
    }
}

impl Drop for Effects {
    fn drop(&mut self) {
        self.stop_interventions();
        self.finish_notifications();
    }
}
