//! Delivering codes: one thread, a queue per notifier, retries with exponential backoff.
//!
//! The engine sends codes over a channel and never waits. Each notifier (interned: many
//! monitors share one log file) has its own FIFO of rendered codes, so a later code never
//! overwrites an earlier one (the Go original had one pending slot per monitor). Delivery of a
//! queue is tried when codes arrive; a failure parks that notifier until its backoff expires
//! (1 s, doubling to 5 min), not every tick, and the codes stay queued. At shutdown every queue
//! gets a last attempt and what could not be delivered is counted in the summary.
//!
//! The log notifier opens its file once (append, created if missing), writes whole lines
//! through a buffer and flushes after each batch, so a line is on disk when the batch returns.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::config::model::NotifierSpec;
use crate::effects::render::{Code, log_line};
use crate::limits::{NOTIFY_BACKOFF_INITIAL_MS, NOTIFY_BACKOFF_MAX_MS, NOTIFY_QUEUE_MAX};

/// Messages to the notifier thread.
pub enum NotifyMsg {
    Code {
        notifier: u32,
        code: Box<Code>,
    },
    /// Deliver what is queued (last attempt) and exit.
    Shutdown,
}

/// Delivery counts, returned when the thread exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub undelivered: u64,
    pub dropped: u64,
}

/// A destination that takes a batch of codes.
trait Sink {
    /// Delivers all `codes` or returns an error; on error, nothing is considered delivered.
    fn deliver(&mut self, codes: &VecDeque<Box<Code>>) -> Result<(), String>;
}

struct LogSink {
    path: String,
    file: Option<BufWriter<File>>,
}

impl Sink for LogSink {
    fn deliver(&mut self, codes: &VecDeque<Box<Code>>) -> Result<(), String> {
        if self.file.is_none() {
            if let Some(dir) = std::path::Path::new(&self.path).parent()
                && !dir.as_os_str().is_empty()
            {
                let _ = std::fs::create_dir_all(dir);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| format!("opening log file {}: {e}", self.path))?;
            self.file = Some(BufWriter::with_capacity(64 * 1024, f));
        }
        let Some(w) = self.file.as_mut() else {
            return Err("log file not open".into());
        };
        let mut result = Ok(());
        for code in codes {
            let mut line = log_line(code);
            line.push('\n');
            if let Err(e) = w.write_all(line.as_bytes()) {
                result = Err(format!("writing {}: {e}", self.path));
                break;
            }
        }
        if result.is_ok()
            && let Err(e) = w.flush()
        {
            result = Err(format!("writing {}: {e}", self.path));
        }
        if result.is_err() {
            // Reopen next time; a partial line may have been written, which the next attempt
            // follows with whole lines.
            self.file = None;
        }
        result
    }
}

struct Notifier {
    sink: Box<dyn Sink + Send>,
    queue: VecDeque<Box<Code>>,
    backoff_ms: u64,
    next_try: Option<Instant>,
    last_error: Option<String>,
}

/// Runs the notifier thread until `Shutdown`.
pub fn run(specs: Vec<NotifierSpec>, rx: Receiver<NotifyMsg>) -> NotifyStats {
    let mut stats = NotifyStats::default();
    let mut notifiers: Vec<Notifier> = specs
        .into_iter()
        .map(|spec| {
            let sink: Box<dyn Sink + Send> = match spec {
                NotifierSpec::Log { file } => Box::new(LogSink {
                    path: file,
                    file: None,
                }),
                // The loader refuses other notifiers until they are built; be safe anyway.
                other => Box::new(Refuse(other.type_name())),
            };
            Notifier {
                sink,
                queue: VecDeque::new(),
                backoff_ms: NOTIFY_BACKOFF_INITIAL_MS,
                next_try: None,
                last_error: None,
            }
        })
        .collect();
    let mut shutting_down = false;
    loop {
        let now = Instant::now();
        let wait = notifiers
            .iter()
            .filter(|n| !n.queue.is_empty())
            .filter_map(|n| n.next_try)
            .map(|t| t.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(3600));
        match rx.recv_timeout(wait) {
            Ok(msg) => {
                let mut next = Some(msg);
                while let Some(m) = next.take() {
                    match m {
                        NotifyMsg::Code { notifier, code } => {
                            if let Some(n) = notifiers.get_mut(notifier as usize) {
                                if n.queue.len() >= NOTIFY_QUEUE_MAX {
                                    stats.dropped += 1;
                                } else {
                                    n.queue.push_back(code);
                                }
                            }
                        }
                        NotifyMsg::Shutdown => shutting_down = true,
                    }
                    next = rx.try_recv().ok();
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => shutting_down = true,
        }
        let now = Instant::now();
        for n in notifiers.iter_mut() {
            if n.queue.is_empty() {
                continue;
            }
            if !shutting_down && n.next_try.is_some_and(|t| t > now) {
                continue;
            }
            match n.sink.deliver(&n.queue) {
                Ok(()) => {
                    stats.delivered += n.queue.len() as u64;
                    n.queue.clear();
                    n.backoff_ms = NOTIFY_BACKOFF_INITIAL_MS;
                    n.next_try = None;
                    n.last_error = None;
                }
                Err(e) => {
                    stats.failed_attempts += 1;
                    if n.last_error.as_deref() != Some(e.as_str()) {
                        eprintln!(
                            "cpra: notifier: {e}; {} code(s) kept, retrying in {} ms",
                            n.queue.len(),
                            n.backoff_ms
                        );
                    }
                    n.last_error = Some(e);
                    n.next_try = Some(now + Duration::from_millis(n.backoff_ms));
                    n.backoff_ms = (n.backoff_ms * 2).min(NOTIFY_BACKOFF_MAX_MS);
                }
            }
        }
        if shutting_down {
            for n in &notifiers {
                stats.undelivered += n.queue.len() as u64;
                if !n.queue.is_empty() {
                    eprintln!(
                        "cpra: notifier: {} code(s) could not be delivered before exit: {}",
                        n.queue.len(),
                        n.last_error.as_deref().unwrap_or("unknown error")
                    );
                }
            }
            return stats;
        }
    }
}

struct Refuse(&'static str);

impl Sink for Refuse {
    fn deliver(&mut self, _: &VecDeque<Box<Code>>) -> Result<(), String> {
        Err(format!(
            "{} notifier is not yet supported by this build of cpra",
            self.0
        ))
    }
}
