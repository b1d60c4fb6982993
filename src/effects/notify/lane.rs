//! A delivery lane: one thread that delivers for one or a few notifiers.
//!
//! Per notifier (a [`Slot`]): arriving codes pass the storm window (singles to the queue,
//! storm codes held for the window's digest), the queue is sent in order, one request at a
//! time, paced by the notifier's `min_interval`. A failed send parks the slot with exponential
//! backoff (or the receiver's `Retry-After`) and keeps the message at the head of the queue:
//! later codes never overtake or overwrite it. A message refused for good (4xx) is recorded as
//! failed and acknowledged, so it leaves the outbox. Everything delivered or refused is
//! acknowledged to the hub, which removes it from the outbox.
//!
//! At shutdown each slot flushes its digest and gets one more pass until the grace deadline;
//! what is still queued stays in the outbox for the next start.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::effects::notify::hub::HubMsg;
use crate::effects::notify::storm::{Route, Storm};
use crate::effects::notify::{Counters, Digest, Notifier, Outgoing, Retry, SendError, Shape};
use crate::effects::render::Code;
use crate::limits::{DIGEST_CODES_MAX, NOTIFY_BACKOFF_INITIAL_MS, NOTIFY_BACKOFF_MAX_MS};

/// Messages to a lane.
pub enum LaneMsg {
    /// A stored code for the lane's slot `slot`.
    Code {
        slot: usize,
        seq: u64,
        code: Box<Code>,
    },
    /// Deliver what can be delivered before `until`, then exit.
    Shutdown { until: Instant },
    /// A reload added a notifier: it becomes the lane's next slot.
    Add(Box<Slot>),
    /// A reload removed the notifier in `slot`: it delivers what it holds and gets nothing
    /// new; its periodic upkeep (Alertmanager's re-posts) stops, so its alerts expire.
    Retire { slot: usize },
}

/// A code waiting in a lane, with its outbox sequence number.
struct Pending {
    seq: u64,
    code: Box<Code>,
}

enum Message {
    Single(Pending),
    Digest {
        codes: Vec<Pending>,
        start_ms: u64,
        end_ms: u64,
    },
}

/// One notifier's delivery state.
pub struct Slot {
    /// Index in `notify::KINDS`, for the per-kind counters.
    pub kind: usize,
    notifier: Box<dyn Notifier>,
    shape: Shape,
    storm: Storm,
    /// Codes held for the current storm digest.
    held: Vec<Pending>,
    queue: VecDeque<Message>,
    backoff_ms: u64,
    next_try: Option<Instant>,
    last_send: Option<Instant>,
    next_maintain: Option<Instant>,
    last_error: Option<String>,
}

impl Slot {
    pub fn new(notifier: Box<dyn Notifier>, storm: Storm, now: Instant) -> Slot {
        let shape = notifier.shape();
        let storm = if shape.digests { storm } else { Storm::off() };
        let next_maintain = notifier.maintain_every().map(|d| now + d);
        Slot {
            kind: 0,
            notifier,
            shape,
            storm,
            held: Vec::new(),
            queue: VecDeque::new(),
            backoff_ms: NOTIFY_BACKOFF_INITIAL_MS,
            next_try: None,
            last_send: None,
            next_maintain,
            last_error: None,
        }
    }

    fn take(&mut self, p: Pending, now_ms: u64) {
        match self.storm.route(now_ms) {
            Route::Single => self.queue.push_back(Message::Single(p)),
            Route::Digest => self.held.push(p),
        }
    }

    /// Moves the held codes into a digest message when the window is over (or `force`).
    fn flush_digest(&mut self, now_ms: u64, force: bool) {
        let Some(at) = self.storm.flush_at() else {
            return;
        };
        if !force && now_ms < at {
            return;
        }
        let mut held = std::mem::take(&mut self.held);
        let start_ms = self.storm.flush(now_ms, held.len()).unwrap_or(now_ms);
        // A digest is at most DIGEST_CODES_MAX codes: a receiver's body limit (nginx: 1 MB)
        // must not refuse a whole storm, nor a huge body outlast the request timeout.
        while !held.is_empty() {
            let rest = held.split_off(held.len().min(DIGEST_CODES_MAX));
            self.queue.push_back(Message::Digest {
                codes: std::mem::replace(&mut held, rest),
                start_ms,
                end_ms: now_ms,
            });
        }
    }

    /// The next instant this slot has something to do.
    fn next_wake(&self, now: Instant, now_ms: u64) -> Option<Instant> {
        let mut t: Option<Instant> = self.next_maintain;
        let mut consider = |x: Instant| t = Some(t.map_or(x, |t| t.min(x)));
        if let Some(at) = self.storm.flush_at() {
            consider(now + Duration::from_millis(at.saturating_sub(now_ms)));
        }
        if !self.queue.is_empty() {
            let mut ready = self.next_try.unwrap_or(now);
            if let Some(last) = self.last_send {
                ready = ready.max(last + self.shape.min_interval);
            }
            consider(ready);
        }
        t
    }

    fn parked(&self, now: Instant) -> bool {
        self.next_try.is_some_and(|t| t > now)
            || self.last_send.is_some_and(|l| {
                !self.shape.min_interval.is_zero() && l + self.shape.min_interval > now
            })
    }

    /// Sends queued messages until the queue is empty, a send fails, or pacing says wait.
    fn pump(&mut self, now: Instant, out: &mut Vec<u64>, counters: &Counters, final_pass: bool) {
        while !self.queue.is_empty() {
            if !final_pass && self.parked(Instant::now().max(now)) {
                return;
            }
            let n = self.sendable();
            let result = self.send_front(n);
            self.last_send = Some(Instant::now());
            match result {
                Ok(()) => {
                    let (seqs, digest) = self.pop(n);
                    Counters::add(&counters.delivered, seqs.len() as u64);
                    Counters::add(&counters.by_kind[self.kind][0], seqs.len() as u64);
                    Counters::add(&counters.digests, u64::from(digest));
                    out.extend(seqs);
                    self.backoff_ms = NOTIFY_BACKOFF_INITIAL_MS;
                    self.next_try = None;
                    self.last_error = None;
                }
                Err(e) if e.retry == Retry::Never => {
                    let (seqs, _) = self.pop(n);
                    crate::say!(
                        "cpra: notifier {}: {} code(s) refused, recorded as failed: {}",
                        self.notifier.describe(),
                        seqs.len(),
                        e.message
                    );
                    Counters::add(&counters.failed, seqs.len() as u64);
                    Counters::add(&counters.by_kind[self.kind][1], seqs.len() as u64);
                    out.extend(seqs);
                }
                Err(e) => {
                    Counters::add(&counters.failed_attempts, 1);
                    Counters::add(&counters.by_kind[self.kind][2], 1);
                    self.park(e);
                    return;
                }
            }
            if final_pass && self.queue.is_empty() {
                return;
            }
        }
    }

    fn park(&mut self, e: SendError) {
        let wait_ms = match e.retry {
            // A receiver's Retry-After is honoured up to the longest backoff.
            Retry::After(d) => u64::try_from(d.as_millis())
                .unwrap_or(u64::MAX)
                .clamp(self.backoff_ms, NOTIFY_BACKOFF_MAX_MS),
            _ => self.backoff_ms,
        };
        if self.last_error.as_deref() != Some(e.message.as_str()) {
            crate::say!(
                "cpra: notifier {}: {}; {} message(s) kept, retrying in {} ms",
                self.notifier.describe(),
                e.message,
                self.queue.len(),
                wait_ms
            );
        }
        self.last_error = Some(e.message);
        self.next_try = Some(Instant::now() + Duration::from_millis(wait_ms));
        self.backoff_ms = (self.backoff_ms * 2).min(NOTIFY_BACKOFF_MAX_MS);
    }

    /// Messages at the head that go in one request: a digest alone, or up to `batch_max`
    /// singles.
    fn sendable(&self) -> usize {
        match self.queue.front() {
            Some(Message::Digest { .. }) => 1,
            _ => self
                .queue
                .iter()
                .take(self.shape.batch_max.max(1))
                .take_while(|m| matches!(m, Message::Single(_)))
                .count(),
        }
    }

    fn send_front(&mut self, n: usize) -> Result<(), SendError> {
        match self.queue.front() {
            Some(Message::Digest {
                codes,
                start_ms,
                end_ms,
            }) => {
                let refs: Vec<&Code> = codes.iter().map(|p| &*p.code).collect();
                let d = Digest {
                    codes: &refs,
                    window_start_ms: *start_ms,
                    window_end_ms: *end_ms,
                };
                self.notifier.send(&Outgoing::Digest(&d))
            }
            Some(Message::Single(_)) => {
                let refs: Vec<&Code> = self
                    .queue
                    .iter()
                    .take(n)
                    .filter_map(|m| match m {
                        Message::Single(p) => Some(&*p.code),
                        Message::Digest { .. } => None,
                    })
                    .collect();
                self.notifier.send(&Outgoing::Codes(&refs))
            }
            None => Ok(()),
        }
    }

    /// Removes the `n` messages just sent; their seqs, and whether it was a digest.
    fn pop(&mut self, n: usize) -> (Vec<u64>, bool) {
        let mut seqs = Vec::new();
        let mut digest = false;
        for _ in 0..n {
            match self.queue.pop_front() {
                Some(Message::Single(p)) => seqs.push(p.seq),
                Some(Message::Digest { codes, .. }) => {
                    digest = true;
                    seqs.extend(codes.iter().map(|p| p.seq));
                }
                None => break,
            }
        }
        (seqs, digest)
    }

    fn maintain(&mut self, now: Instant) {
        let (Some(at), Some(every)) = (self.next_maintain, self.notifier.maintain_every()) else {
            return;
        };
        if at > now {
            return;
        }
        self.next_maintain = Some(now + every);
        if let Err(e) = self.notifier.maintain(now) {
            crate::say!(
                "cpra: notifier {}: periodic update failed: {}",
                self.notifier.describe(),
                e.message
            );
        }
    }

    fn queued(&self) -> usize {
        self.held.len()
            + self
                .queue
                .iter()
                .map(|m| match m {
                    Message::Single(_) => 1,
                    Message::Digest { codes, .. } => codes.len(),
                })
                .sum::<usize>()
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs a lane until `Shutdown` (or the hub goes away).
pub fn run(
    mut slots: Vec<Slot>,
    rx: Receiver<LaneMsg>,
    hub: Sender<HubMsg>,
    counters: Arc<Counters>,
) {
    let mut acks = Vec::new();
    let mut until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let now_ms = wall_ms();
        let wake = slots
            .iter()
            .filter_map(|s| s.next_wake(now, now_ms))
            .min()
            .map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(now)
            });
        match rx.recv_timeout(wake) {
            Ok(msg) => {
                let mut next = Some(msg);
                while let Some(m) = next.take() {
                    match m {
                        LaneMsg::Code { slot, seq, code } => {
                            if let Some(s) = slots.get_mut(slot) {
                                s.take(Pending { seq, code }, wall_ms());
                            }
                        }
                        LaneMsg::Shutdown { until: u } => until = Some(u),
                        LaneMsg::Add(slot) => slots.push(*slot),
                        LaneMsg::Retire { slot } => {
                            if let Some(s) = slots.get_mut(slot) {
                                s.next_maintain = None;
                            }
                        }
                    }
                    next = rx.try_recv().ok();
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => until = Some(Instant::now()),
        }
        let now = Instant::now();
        let now_ms = wall_ms();
        for s in slots.iter_mut() {
            s.flush_digest(now_ms, until.is_some());
            if until.is_none() {
                s.maintain(now);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                continue;
            }
            s.pump(now, &mut acks, &counters, until.is_some());
        }
        if !acks.is_empty() {
            let _ = hub.send(HubMsg::Ack(std::mem::take(&mut acks)));
        }
        if until.is_some() {
            for s in &slots {
                let left = s.queued();
                if left > 0 {
                    crate::say!(
                        "cpra: notifier {}: {left} code(s) not delivered before exit; kept in the outbox for the next start{}",
                        s.notifier.describe(),
                        s.last_error
                            .as_deref()
                            .map(|e| format!(" (last error: {e})"))
                            .unwrap_or_default()
                    );
                }
            }
            let _ = hub.send(HubMsg::LaneDone);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc::channel;

    /// What the recording notifier saw: sizes of singles batches (positive) and digests
    /// (negative), in order, and the monitors.
    #[derive(Default)]
    struct Seen {
        sends: Vec<i64>,
        monitors: Vec<String>,
        attempts: usize,
    }

    /// A notifier for testing the lane: records, and fails as told.
    struct Recorder {
        seen: Arc<Mutex<Seen>>,
        /// Errors to return on the next attempts, in order.
        fail: VecDeque<SendError>,
        shape: Shape,
    }

    impl Notifier for Recorder {
        fn describe(&self) -> String {
            "recorder".into()
        }
        fn shape(&self) -> Shape {
            self.shape
        }
        fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
            let mut s = self.seen.lock().unwrap();
            s.attempts += 1;
            if let Some(e) = self.fail.pop_front() {
                return Err(e);
            }
            let (n, codes) = match msg {
                Outgoing::Codes(c) => (c.len() as i64, *c),
                Outgoing::Digest(d) => (-(d.codes.len() as i64), d.codes),
            };
            s.sends.push(n);
            s.monitors.extend(codes.iter().map(|c| c.monitor.clone()));
            Ok(())
        }
    }

    fn code(i: usize) -> Box<Code> {
        Box::new(Code::example(&format!("m{i}")))
    }

    struct Harness {
        tx: Sender<LaneMsg>,
        hub: Receiver<HubMsg>,
        seen: Arc<Mutex<Seen>>,
        counters: Arc<Counters>,
        thread: std::thread::JoinHandle<()>,
    }

    fn start(fail: Vec<SendError>, shape: Shape, storm: Storm) -> Harness {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let n = Recorder {
            seen: seen.clone(),
            fail: fail.into(),
            shape,
        };
        let slot = Slot::new(Box::new(n), storm, Instant::now());
        let (tx, rx) = channel();
        let (htx, hub) = channel();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let thread = std::thread::spawn(move || run(vec![slot], rx, htx, c));
        Harness {
            tx,
            hub,
            seen,
            counters,
            thread,
        }
    }

    impl Harness {
        fn send(&self, range: std::ops::Range<usize>) {
            for i in range {
                self.tx
                    .send(LaneMsg::Code {
                        slot: 0,
                        seq: i as u64,
                        code: code(i),
                    })
                    .unwrap();
            }
        }
        /// Stops the lane and returns every acknowledged seq, sorted.
        fn stop(self, grace: Duration) -> (Vec<u64>, Arc<Mutex<Seen>>, Arc<Counters>) {
            self.tx
                .send(LaneMsg::Shutdown {
                    until: Instant::now() + grace,
                })
                .unwrap();
            self.thread.join().unwrap();
            let mut acks: Vec<u64> = Vec::new();
            for m in self.hub.try_iter() {
                if let HubMsg::Ack(a) = m {
                    acks.extend(a);
                }
            }
            acks.sort();
            (acks, self.seen, self.counters)
        }
    }

    fn wait_for(seen: &Arc<Mutex<Seen>>, monitors: usize, limit: Duration) {
        let t0 = Instant::now();
        while seen.lock().unwrap().monitors.len() < monitors && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_burst_is_singles_then_one_digest_and_everything_is_acked() {
        let h = start(vec![], Shape::default(), Storm::new(10, 200));
        h.send(0..25);
        wait_for(&h.seen, 25, Duration::from_secs(5));
        let seen = h.seen.clone();
        let (acks, _, c) = h.stop(Duration::from_secs(1));
        let s = seen.lock().unwrap();
        assert_eq!(s.sends, [vec![1; 10], vec![-15]].concat());
        assert_eq!(acks, (0..25).collect::<Vec<u64>>());
        assert_eq!(c.snapshot().delivered, 25);
        assert_eq!(c.snapshot().digests, 1);
    }

    #[test]
    fn a_big_storm_is_several_bounded_digests_with_every_code() {
        let h = start(vec![], Shape::default(), Storm::new(10, 200));
        h.send(0..1210);
        wait_for(&h.seen, 1210, Duration::from_secs(5));
        let (acks, seen, _) = h.stop(Duration::from_secs(1));
        let s = seen.lock().unwrap();
        assert_eq!(s.sends, [vec![1; 10], vec![-500, -500, -200]].concat());
        assert_eq!(acks.len(), 1210);
    }

    #[test]
    fn shutdown_flushes_a_pending_digest() {
        let h = start(vec![], Shape::default(), Storm::new(2, 60_000));
        h.send(0..5);
        std::thread::sleep(Duration::from_millis(100));
        let (acks, seen, _) = h.stop(Duration::from_secs(1));
        assert_eq!(seen.lock().unwrap().sends, vec![1, 1, -3]);
        assert_eq!(acks.len(), 5);
    }

    #[test]
    fn failures_back_off_and_keep_order() {
        let fail = vec![SendError::backoff("down"), SendError::backoff("down")];
        let h = start(fail, Shape::default(), Storm::off());
        let t0 = Instant::now();
        h.send(0..3);
        wait_for(&h.seen, 3, Duration::from_secs(10));
        // 1 s then 2 s of backoff before the third attempt.
        assert!(
            t0.elapsed() >= Duration::from_millis(2900),
            "{:?}",
            t0.elapsed()
        );
        let (acks, seen, c) = h.stop(Duration::from_secs(1));
        let s = seen.lock().unwrap();
        assert_eq!(s.monitors, vec!["m0", "m1", "m2"]);
        assert_eq!(s.attempts, 5);
        assert_eq!(acks, vec![0, 1, 2]);
        assert_eq!(c.snapshot().failed_attempts, 2);
    }

    #[test]
    fn refused_for_good_is_failed_acked_and_not_retried() {
        let h = start(
            vec![SendError::never("400 bad")],
            Shape::default(),
            Storm::off(),
        );
        h.send(0..2);
        wait_for(&h.seen, 1, Duration::from_secs(5));
        let (acks, seen, c) = h.stop(Duration::from_secs(1));
        assert_eq!(seen.lock().unwrap().monitors, vec!["m1"]);
        assert_eq!(acks, vec![0, 1]);
        assert_eq!(c.snapshot().failed, 1);
        assert_eq!(c.snapshot().delivered, 1);
    }

    #[test]
    fn batches_up_to_batch_max_and_paces() {
        let shape = Shape {
            batch_max: 4,
            digests: false,
            min_interval: Duration::from_millis(100),
        };
        let h = start(vec![], shape, Storm::new(1, 10));
        h.send(0..10);
        wait_for(&h.seen, 10, Duration::from_secs(5));
        let (_, seen, _) = h.stop(Duration::from_secs(1));
        let s = seen.lock().unwrap();
        // Digests are off for this shape even though the storm settings would start one.
        assert!(s.sends.iter().all(|n| *n > 0 && *n <= 4), "{:?}", s.sends);
        assert_eq!(s.sends.iter().sum::<i64>(), 10);
    }

    #[test]
    fn what_fails_at_shutdown_stays_unacknowledged_within_the_grace() {
        let fail = vec![SendError::backoff("x"); 100];
        let h = start(fail, Shape::default(), Storm::off());
        h.send(0..3);
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        let (acks, _, _) = h.stop(Duration::from_millis(300));
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(acks.is_empty());
    }
}
