//! Slices of a large file parsed on several threads and delivered in file order: the runner
//! the YAML and JSON readers share.
//!
//! A reader cuts its file into slices (see `yaml::plan`, `json::plan`) and gives this runner a
//! `work` function that reads, parses and lowers one slice. Workers take slices in order, at
//! most `CONFIG_CHUNKS_AHEAD_PER_THREAD` per thread ahead of the one being delivered (so the
//! slices in flight bound the memory), and the calling thread hands each slice's monitors and
//! issues to the collector in order, only after every earlier slice succeeded. A slice whose
//! work says no (`None`: the cut was wrong, the file changed, anything in doubt) stops the run,
//! and the reader falls back to its whole-file path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use crate::config::Collector;
use crate::config::error::ConfigError;
use crate::config::lower::Item;
use crate::limits::CONFIG_CHUNKS_AHEAD_PER_THREAD;

/// Problems with the file as a whole, in order: (error?, problem).
pub(crate) type FileIssues = Vec<(bool, ConfigError)>;

/// What one slice gave.
#[derive(Default)]
pub(crate) struct SliceOut {
    pub(crate) items: Vec<Item>,
    pub(crate) issues: FileIssues,
    /// The top-level `alerting:` block, when this slice read it.
    pub(crate) alerting: Option<crate::config::model::AlertingSpec>,
    /// The top-level `remediation:` block, when this slice read it.
    pub(crate) remediation: Option<crate::config::model::RemediationSpec>,
}

/// Runs `work(k, spare buffer)` for the `n` slices on `threads` threads and delivers the
/// results to `col` in order. `false`: a slice said no (what was delivered before it stays
/// delivered; the caller's fallback skips it, see [`Collector::restart`]).
pub(crate) fn in_order(
    n: usize,
    threads: usize,
    col: &mut Collector<'_>,
    work: &(dyn Fn(usize, Vec<Item>) -> Option<SliceOut> + Sync),
) -> bool {
    let window = threads * CONFIG_CHUNKS_AHEAD_PER_THREAD;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let delivered = Mutex::new(0usize);
    let progress = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, usize, Option<SliceOut>)>();
    let mut complete = false;
    std::thread::scope(|scope| {
        // Stops the workers when this thread leaves the scope, even by a panic in the sink.
        let _stop_workers = StopWorkers {
            stop: &stop,
            delivered: &delivered,
            progress: &progress,
        };
        let mut recycle = Vec::with_capacity(threads);
        for worker in 0..threads {
            let tx = tx.clone();
            let (next, stop, delivered, progress) = (&next, &stop, &delivered, &progress);
            let (recycle_tx, recycled) = mpsc::channel::<Vec<Item>>();
            recycle.push(recycle_tx);
            scope.spawn(move || {
                let mut spare: Vec<Item> = Vec::new();
                loop {
                    // Reuse a buffer the caller's thread handed back (no page faults per slice).
                    for done in recycled.try_iter() {
                        if done.capacity() > spare.capacity() {
                            spare = done;
                        }
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    {
                        let mut d = delivered.lock().unwrap_or_else(|e| e.into_inner());
                        while k >= *d + window && !stop.load(Ordering::Relaxed) {
                            d = progress.wait(d).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // A panic in a slice's work is that slice's failure (the caller falls back to
                    // its whole-file path): the others must not wait for it for ever.
                    let spare = std::mem::take(&mut spare);
                    let out =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(k, spare)))
                            .unwrap_or(None);
                    if tx.send((k, worker, out)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut slots: Vec<Option<(usize, Option<SliceOut>)>> = (0..n).map(|_| None).collect();
        let mut k_next = 0usize;
        'recv: while k_next < n {
            let Ok((k, worker, res)) = rx.recv() else {
                break;
            };
            slots[k] = Some((worker, res));
            while k_next < n {
                let Some((worker, res)) = slots[k_next].take() else {
                    break;
                };
                let Some(mut out) = res else {
                    break 'recv;
                };
                for item in out.items.drain(..) {
                    col.item(item);
                }
                // The emptied buffer goes back to its worker for the next slice.
                let _ = recycle[worker].send(out.items);
                for (is_error, e) in out.issues {
                    col.issue(is_error, e);
                }
                col.alerting(out.alerting);
                col.remediation(out.remediation);
                k_next += 1;
                *delivered.lock().unwrap_or_else(|e| e.into_inner()) = k_next;
                progress.notify_all();
            }
        }
        complete = k_next == n;
        drop(rx);
    });
    complete
}

/// Sets `stop` and wakes the workers waiting for room, when dropped.
struct StopWorkers<'a> {
    stop: &'a AtomicBool,
    delivered: &'a Mutex<usize>,
    progress: &'a Condvar,
}

impl Drop for StopWorkers<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Taking the lock orders the store before any worker's next check under it.
        drop(self.delivered.lock().unwrap_or_else(|e| e.into_inner()));
        self.progress.notify_all();
    }
}
