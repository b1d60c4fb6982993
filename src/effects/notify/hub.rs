//! The hub: the one thread that owns the outbox and hands stored codes to the lanes.
//!
//! The engine sends one batch of codes per tick. The hub appends the batch to the outbox (one
//! write and one fsync per batch: group commit) and only then gives each code to its
//! notifier's lane; lanes acknowledge what they delivered or what was refused, and the hub
//! removes it from the outbox. At start the hub first hands the lanes every code a previous
//! run left in the outbox. Without a state directory (library use, benches) the same path
//! runs with sequence numbers only and nothing survives the process: `cpra run` always has one.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::model::{AlertingSpec, NotifierSpec};
use crate::effects::notify::lane::{self, LaneMsg, Slot};
use crate::effects::notify::outbox::{AppendError, Limits, Outbox};
use crate::effects::notify::{Context, Counters, NotifyStats, build, identity_key, storm_of};
use crate::effects::render::{Code, from_record, to_record};
use crate::limits::{
    NOTIFY_LANES_MAX, NOTIFY_REQUEST_TIMEOUT_MS, NOTIFY_SHUTDOWN_GRACE_MS, OUTBOX_BYTES_MAX,
    OUTBOX_SEGMENT_BYTES,
};

/// How to deliver.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Where the outbox lives (`<dir>/outbox`); `None`: in memory only.
    pub state_dir: Option<PathBuf>,
    /// This cpra's name, in every code.
    pub instance: Arc<str>,
    pub alerting: AlertingSpec,
    /// Bound on one request to a receiver.
    pub timeout: Duration,
    /// How long shutdown waits for last deliveries.
    pub grace: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            state_dir: None,
            instance: Arc::from(crate::effects::instance_name().as_str()),
            alerting: AlertingSpec::default(),
            timeout: Duration::from_millis(NOTIFY_REQUEST_TIMEOUT_MS),
            grace: Duration::from_millis(NOTIFY_SHUTDOWN_GRACE_MS),
        }
    }
}

/// Messages to the hub.
pub enum HubMsg {
    /// `(notifier id, code)` pairs of one engine tick.
    Codes(Vec<(u32, Code)>),
    /// Outbox sequence numbers delivered (or refused for good).
    Ack(Vec<u64>),
    /// A lane finished its last deliveries.
    LaneDone,
    /// A reload: the notifiers are now these (codes name them by index in this list). A
    /// notifier equal to a running one keeps its lane, queue, storm window and firing set;
    /// a new one gets a slot; one no longer listed delivers what it holds and is retired.
    Renumber {
        specs: Vec<NotifierSpec>,
        alerting: AlertingSpec,
    },
    Shutdown,
}

/// The handle the engine holds.
pub struct Notify {
    tx: Sender<HubMsg>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

/// Where each notifier's codes go.
#[derive(Clone, Copy)]
struct Route {
    lane: usize,
    slot: usize,
}

struct Hub {
    rx: Receiver<HubMsg>,
    /// For lanes started by a reload.
    tx: Sender<HubMsg>,
    outbox: Option<Outbox>,
    lanes: Vec<Sender<LaneMsg>>,
    /// Slots per lane (a new slot's index in its lane).
    lane_slots: Vec<usize>,
    routes: Vec<Route>,
    /// The notifiers of the current configuration (what a reload compares with).
    specs: Vec<NotifierSpec>,
    cx: Context,
    keys: Vec<u64>,
    counters: Arc<Counters>,
    next_seq: u64,
    grace: Duration,
    full_reported: Option<Instant>,
}

impl Notify {
    /// Opens the outbox, builds every notifier, starts the lanes and the hub. Codes left in
    /// the outbox by an earlier run are delivered first.
    pub fn start(specs: &[NotifierSpec], opts: NotifyOptions) -> io::Result<Notify> {
        let counters = Arc::new(Counters::default());
        let (outbox, pending) = open_outbox(&opts)?;
        let cx = Context {
            instance: opts.instance.clone(),
            timeout: opts.timeout,
        };
        let (tx, rx) = channel();
        let lanes_n = specs.len().clamp(1, NOTIFY_LANES_MAX);
        let mut per_lane: Vec<Vec<Slot>> = (0..lanes_n).map(|_| Vec::new()).collect();
        let mut routes = Vec::with_capacity(specs.len());
        let now = Instant::now();
        for (i, spec) in specs.iter().enumerate() {
            let slot = new_slot(spec, &cx, &opts.alerting, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let lane = i % lanes_n;
            routes.push(Route {
                lane,
                slot: per_lane[lane].len(),
            });
            per_lane[lane].push(slot);
        }
        let lane_slots = per_lane.iter().map(Vec::len).collect();
        let mut lanes = Vec::with_capacity(lanes_n);
        for slots in per_lane {
            lanes.push(spawn_lane(lanes.len(), slots, &tx, &counters)?);
        }
        let mut hub = Hub {
            rx,
            tx: tx.clone(),
            outbox,
            lanes,
            lane_slots,
            routes,
            specs: specs.to_vec(),
            cx,
            keys: specs.iter().map(identity_key).collect(),
            counters: counters.clone(),
            next_seq: 1,
            grace: opts.grace,
            full_reported: None,
        };
        hub.recover(pending);
        let thread = std::thread::Builder::new()
            .name("cpra-outbox".into())
            .spawn(move || hub.run())?;
        Ok(Notify {
            tx,
            counters,
            thread: Some(thread),
        })
    }

    /// Hands one tick's codes to the hub (never blocks).
    pub fn send(&self, codes: Vec<(u32, Code)>) {
        if !codes.is_empty() {
            let _ = self.tx.send(HubMsg::Codes(codes));
        }
    }

    /// A reload: codes sent from now on name notifiers by their index in `specs`.
    pub fn renumber(&self, specs: Vec<NotifierSpec>, alerting: AlertingSpec) {
        let _ = self.tx.send(HubMsg::Renumber { specs, alerting });
    }

    /// Live counters (for the status line and the API).
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stores what is in flight, gives every lane a last chance within the grace period, and
    /// stops. What is not delivered stays in the outbox.
    pub fn finish(&mut self) -> NotifyStats {
        let _ = self.tx.send(HubMsg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.counters.snapshot()
    }
}

impl Drop for Notify {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

/// A delivery slot for `spec`.
fn new_slot(
    spec: &NotifierSpec,
    cx: &Context,
    alerting: &AlertingSpec,
    now: Instant,
) -> Result<Slot, String> {
    let n = build(spec, cx)?;
    let mut slot = Slot::new(n, storm_of(alerting), now);
    slot.kind = super::kind_index(spec.type_name());
    Ok(slot)
}

/// Starts lane thread `i` with `slots`.
fn spawn_lane(
    i: usize,
    slots: Vec<Slot>,
    hub: &Sender<HubMsg>,
    counters: &Arc<Counters>,
) -> io::Result<Sender<LaneMsg>> {
    let (ltx, lrx) = channel();
    let (hub, c) = (hub.clone(), counters.clone());
    std::thread::Builder::new()
        .name(format!("cpra-notify-{i}"))
        .spawn(move || lane::run(slots, lrx, hub, c))?;
    Ok(ltx)
}

fn open_outbox(
    opts: &NotifyOptions,
) -> io::Result<(Option<Outbox>, Vec<crate::effects::notify::outbox::Record>)> {
    let Some(dir) = &opts.state_dir else {
        return Ok((None, Vec::new()));
    };
    let limits = Limits {
        segment_bytes: OUTBOX_SEGMENT_BYTES,
        total_bytes_max: OUTBOX_BYTES_MAX,
    };
    let path = dir.join("outbox");
    let (outbox, rec) = Outbox::open(&path, limits).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot open the outbox in {}: {e} (is --state-dir writable?)",
                path.display()
            ),
        )
    })?;
    for p in &rec.problems {
        crate::say!("cpra: outbox: {p}");
    }
    Ok((Some(outbox), rec.pending))
}

impl Hub {
    fn recover(&mut self, pending: Vec<crate::effects::notify::outbox::Record>) {
        if pending.is_empty() {
            return;
        }
        let by_key: HashMap<u64, u32> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u32))
            .collect();
        let (mut handed, mut orphans, mut broken) = (0u64, Vec::new(), Vec::new());
        for r in pending {
            let Some(&id) = by_key.get(&r.key) else {
                orphans.push(r.seq);
                continue;
            };
            match from_record(&r.payload) {
                Ok(code) => {
                    self.counters
                        .queued
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.forward(id, r.seq, code);
                    handed += 1;
                }
                Err(e) => {
                    crate::say!("cpra: outbox: record {} skipped: {e}", r.seq);
                    broken.push(r.seq);
                }
            }
        }
        Counters::add(&self.counters.recovered, handed);
        if handed > 0 {
            crate::say!("cpra: outbox: {handed} code(s) from an earlier run are being delivered");
        }
        if !orphans.is_empty() {
            crate::say!(
                "cpra: outbox: {} code(s) were for notifiers no longer in the configuration: dropped",
                orphans.len()
            );
        }
        orphans.extend(broken);
        // Never counted as queued: only removed from the outbox.
        if !orphans.is_empty()
            && let Some(ob) = self.outbox.as_mut()
            && let Err(e) = ob.ack(&orphans)
        {
            crate::say!("cpra: outbox: cannot drop undeliverable records: {e}");
        }
    }

    fn forward(&mut self, id: u32, seq: u64, code: Code) {
        let lane = self
            .routes
            .get(id as usize)
            .and_then(|r| Some((self.lanes.get(r.lane)?, r.slot)));
        match lane {
            Some((lane, slot)) => {
                let _ = lane.send(LaneMsg::Code {
                    slot,
                    seq,
                    code: Box::new(code),
                });
            }
            None => {
                // A notifier that could not start after a reload: counted, not kept.
                Counters::add(&self.counters.dropped, 1);
                self.ack(&[seq]);
            }
        }
    }

    fn run(mut self) {
        loop {
            let Ok(msg) = self.rx.recv() else {
                return self.shutdown();
            };
            let mut codes = Vec::new();
            let mut acks = Vec::new();
            let mut stop = false;
            let mut next = Some(msg);
            while let Some(m) = next.take() {
                match m {
                    HubMsg::Codes(c) => codes.extend(c),
                    HubMsg::Ack(a) => acks.extend(a),
                    HubMsg::LaneDone => {}
                    HubMsg::Renumber { specs, alerting } => {
                        // Codes before it name the old notifiers.
                        self.store(std::mem::take(&mut codes));
                        self.renumber(specs, &alerting);
                    }
                    HubMsg::Shutdown => stop = true,
                }
                next = self.rx.try_recv().ok();
            }
            self.store(codes);
            self.ack(&acks);
            if stop {
                return self.shutdown();
            }
        }
    }

    /// Appends codes to the outbox, then hands them to their lanes.
    fn store(&mut self, codes: Vec<(u32, Code)>) {
        if codes.is_empty() {
            return;
        }
        let payloads: Vec<(u64, Vec<u8>)> = codes
            .iter()
            .map(|(id, c)| {
                (
                    self.keys.get(*id as usize).copied().unwrap_or(0),
                    to_record(c),
                )
            })
            .collect();
        let seqs = self.append(&payloads);
        let stored = seqs.len();
        Counters::add(&self.counters.queued, stored as u64);
        for ((id, code), seq) in codes.into_iter().zip(seqs) {
            self.forward(id, seq, code);
        }
        let lost = payloads.len() - stored;
        if lost > 0 {
            Counters::add(&self.counters.dropped, lost as u64);
            if self
                .full_reported
                .is_none_or(|t| t.elapsed() > Duration::from_secs(60))
            {
                self.full_reported = Some(Instant::now());
                crate::say!(
                    "cpra: outbox is full ({} bytes pending): {lost} new code(s) dropped and counted; deliveries must catch up",
                    OUTBOX_BYTES_MAX
                );
            }
        }
    }

    /// Sequence numbers for the stored payloads (fewer than asked when the outbox is full).
    fn append(&mut self, payloads: &[(u64, Vec<u8>)]) -> Vec<u64> {
        let Some(ob) = self.outbox.as_mut() else {
            let first = self.next_seq;
            self.next_seq += payloads.len() as u64;
            return (first..self.next_seq).collect();
        };
        let batch: Vec<(u64, &[u8])> = payloads.iter().map(|(k, p)| (*k, p.as_slice())).collect();
        match ob.append(&batch) {
            Ok(seqs) => seqs,
            Err(AppendError::Full { .. }) => Vec::new(),
            Err(AppendError::Io(e)) => {
                // The disk failed: still deliver (from memory) rather than lose the codes.
                Counters::add(&self.counters.outbox_errors, 1);
                crate::say!(
                    "cpra: outbox: cannot write: {e}; {} code(s) delivered from memory only (not crash-safe)",
                    payloads.len()
                );
                let first = u64::MAX / 2 + self.next_seq;
                self.next_seq += payloads.len() as u64;
                (first..first + payloads.len() as u64).collect()
            }
        }
    }

    fn ack(&mut self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        Counters::sub(&self.counters.queued, seqs.len() as u64);
        if let Some(ob) = self.outbox.as_mut()
            && let Err(e) = ob.ack(seqs)
        {
            Counters::add(&self.counters.outbox_errors, 1);
            crate::say!(
                "cpra: outbox: cannot record deliveries: {e} (they may be sent again after a restart)"
            );
        }
    }

    fn renumber(&mut self, specs: Vec<NotifierSpec>, alerting: &AlertingSpec) {
        let mut running: HashMap<&NotifierSpec, Vec<usize>> = HashMap::new();
        for (i, s) in self.specs.iter().enumerate().rev() {
            running.entry(s).or_default().push(i);
        }
        let now = Instant::now();
        let mut routes = Vec::with_capacity(specs.len());
        let mut kept = vec![false; self.specs.len()];
        let mut fresh = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            match running.get_mut(spec).and_then(Vec::pop) {
                Some(old) => {
                    kept[old] = true;
                    routes.push(Some(self.routes[old]));
                }
                None => {
                    fresh.push(i);
                    routes.push(None);
                }
            }
        }
        for i in fresh {
            routes[i] = self.add_slot(&specs[i], alerting, now);
        }
        for (old, k) in kept.iter().enumerate() {
            if !k {
                let r = self.routes[old];
                // A notifier that never started has no lane.
                if let Some(lane) = self.lanes.get(r.lane) {
                    let _ = lane.send(LaneMsg::Retire { slot: r.slot });
                }
            }
        }
        // A notifier that could not start has no route: its codes are counted dropped.
        self.routes = routes
            .into_iter()
            .map(|r| {
                r.unwrap_or(Route {
                    lane: usize::MAX,
                    slot: 0,
                })
            })
            .collect();
        self.keys = specs.iter().map(identity_key).collect();
        self.specs = specs;
    }

    /// A slot for a notifier a reload added: on a new lane while there are fewer than
    /// `NOTIFY_LANES_MAX`, else shared.
    fn add_slot(
        &mut self,
        spec: &NotifierSpec,
        alerting: &AlertingSpec,
        now: Instant,
    ) -> Option<Route> {
        let slot = match new_slot(spec, &self.cx, alerting, now) {
            Ok(s) => s,
            Err(e) => {
                crate::say!(
                    "cpra: reload: notifier {} cannot start: {e}; its codes are dropped",
                    spec.type_name()
                );
                return None;
            }
        };
        if self.lanes.len() < NOTIFY_LANES_MAX {
            match spawn_lane(self.lanes.len(), vec![slot], &self.tx, &self.counters) {
                Ok(l) => {
                    self.lanes.push(l);
                    self.lane_slots.push(1);
                    return Some(Route {
                        lane: self.lanes.len() - 1,
                        slot: 0,
                    });
                }
                Err(e) => {
                    crate::say!("cpra: reload: cannot start a notifier lane: {e}");
                    return None;
                }
            }
        }
        let lane = self.routes.len() % self.lanes.len();
        let route = Route {
            lane,
            slot: self.lane_slots[lane],
        };
        self.lane_slots[lane] += 1;
        let _ = self.lanes[lane].send(LaneMsg::Add(Box::new(slot)));
        Some(route)
    }

    fn shutdown(mut self) {
        let until = Instant::now() + self.grace;
        for l in &self.lanes {
            let _ = l.send(LaneMsg::Shutdown { until });
        }
        let mut running = self.lanes.len();
        let deadline = until + Duration::from_secs(1);
        while running > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(HubMsg::Ack(a)) => self.ack(&a),
                Ok(HubMsg::LaneDone) => running -= 1,
                Ok(HubMsg::Codes(c)) => self.store(c),
                Ok(HubMsg::Shutdown | HubMsg::Renumber { .. }) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if running > 0 {
            crate::say!(
                "cpra: {running} notifier lane(s) still busy at exit (a receiver not answering); their codes stay in the outbox"
            );
        }
        if let Some(ob) = self.outbox.as_mut()
            && let Err(e) = ob.sync()
        {
            crate::say!("cpra: outbox: final sync failed: {e}");
        }
    }
}
