//! The engine's read-only view for the API: what the server reads without ever locking the
//! engine per request.
//!
//! Three parts, each shaped by how often it changes and who reads it:
//! - **Per-monitor cells**, two `AtomicU64` a monitor (16 bytes, 16 MB at a million): state,
//!   paused, colour of the last code, last reason, HTTP status, latency, last check and since.
//!   The engine is their only writer and stores them as it applies a result or a transition
//!   (a plain store: `Relaxed`, no lock, no syscall); the server scans them for lists and
//!   counts. A reader may see a result's fields from two neighbouring results: harmless for a
//!   status page, and the price of never stopping the engine.
//! - **Shared**, behind one mutex the engine takes once per tick at most (not per monitor):
//!   recent transitions (a ring of [`EVENTS_KEPT`] with sequence numbers, for `/events` and
//!   the streams), per-monitor result histories (for a bounded set of monitors), and the
//!   counters the engine publishes every [`API_PUBLISH_MS`].
//! - **Commands** (pause, resume, maintenance, track) go the other way on a channel the engine
//!   drains once per tick, each answered on its own reply channel.
//!
//! Measured choice (docs/architecture.md): a full snapshot per tick would copy 16 MB every
//! 10 ms at a million monitors; a request channel would put list scans on the engine thread.
//! Cells cost one store per result, which the engine's own columns already pay.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::model::Colour;
use crate::effects::notify::NotifyStats;
use crate::lifecycle::{Cause, State};
use crate::limits::{EVENTS_KEPT, HISTORY_MONITORS_MAX, HISTORY_RESULTS_PER_MONITOR};
use crate::stats::Stats;
use crate::store::{Catalog, NONE};
use crate::vocab::Reason;

#[cfg(doc)]
use crate::limits::API_PUBLISH_MS;

/// One monitor as the list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub state: State,
    pub paused: bool,
    /// Colour of the last code sent for it.
    pub colour: Option<Colour>,
    /// The last result (`checked_s` 0: none yet).
    pub reason: Reason,
    pub status: u16,
    pub latency_us: u32,
    /// Unix seconds of the last result and of the last transition (0: none).
    pub checked_s: u32,
    pub since_s: u32,
}

impl Cell {
    fn pack(&self) -> (u64, u64) {
        let colour = self.colour.map_or(0, |c| c as u64 + 1);
        let a = (self.state as u64 & 0xf)
            | (u64::from(self.paused) << 4)
            | (colour << 5)
            | ((self.reason as u64 & 0x3f) << 8)
            | (u64::from(self.status.min(1023)) << 14)
            | (u64::from(self.latency_us) << 32);
        let b = (u64::from(self.checked_s) << 32) | u64::from(self.since_s);
        (a, b)
    }

    fn unpack(a: u64, b: u64) -> Cell {
        let colour = ((a >> 5) & 0x7) as usize;
        Cell {
            state: State::ALL
                .get((a & 0xf) as usize)
                .copied()
                .unwrap_or(State::Up),
            paused: (a >> 4) & 1 == 1,
            colour: colour
                .checked_sub(1)
                .and_then(|c| Colour::ALL.get(c).copied()),
            reason: Reason::from_u8(((a >> 8) & 0x3f) as u8),
            status: ((a >> 14) & 0x3ff) as u16,
            latency_us: (a >> 32) as u32,
            checked_s: (b >> 32) as u32,
            since_s: b as u32,
        }
    }
}

/// A transition as the API lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    pub seq: u64,
    pub wall_ms: u64,
    /// Monitor id, or `NONE` for the circuit breaker's announcements.
    pub monitor: u32,
    pub from: State,
    pub to: State,
    pub colour: Option<Colour>,
    pub cause: Cause,
    pub reason: Reason,
    pub status: u16,
}

/// One kept result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryEntry {
    pub wall_s: u32,
    pub latency_us: u32,
    pub status: u16,
    pub reason: u8,
}

/// Results of a bounded set of monitors, each a ring of [`HISTORY_RESULTS_PER_MONITOR`].
#[derive(Default)]
pub struct History {
    slot_of: rustc_hash::FxHashMap<u32, u32>,
    /// Per slot: its monitor, ring, next write position and count.
    slots: Vec<(u32, Vec<HistoryEntry>, u16, u16)>,
    /// Slots in the order they were taken: the oldest gives way when all are taken.
    order: VecDeque<u32>,
}

impl History {
    /// Starts keeping results of `m`. Returns the monitor that gave way, if any.
    pub fn track(&mut self, m: u32) -> Option<u32> {
        if self.slot_of.contains_key(&m) {
            return None;
        }
        let (slot, evicted) = if self.slots.len() < HISTORY_MONITORS_MAX {
            self.slots.push((m, Vec::new(), 0, 0));
            (self.slots.len() as u32 - 1, None)
        } else {
            let slot = self.order.pop_front()?;
            let old = self.slots[slot as usize].0;
            self.slot_of.remove(&old);
            let s = &mut self.slots[slot as usize];
            let mut ring = std::mem::take(&mut s.1);
            ring.clear(); // The evicted monitor's results are not the new one's.
            *s = (m, ring, 0, 0);
            (slot, Some(old))
        };
        self.slot_of.insert(m, slot);
        self.order.push_back(slot);
        evicted
    }

    /// The same histories under new monitor ids (`map` gives `NONE` for a removed monitor,
    /// whose history is dropped); with `n` at most [`HISTORY_MONITORS_MAX`] every monitor is
    /// tracked, as at start.
    fn renumbered(self, map: impl Fn(u32) -> u32, n: usize) -> History {
        let mut out = History::default();
        for slot in self.order {
            let (m, ring, next, len) = &self.slots[slot as usize];
            let new = map(*m);
            if new == NONE || out.slot_of.contains_key(&new) {
                continue;
            }
            out.slot_of.insert(new, out.slots.len() as u32);
            out.order.push_back(out.slots.len() as u32);
            out.slots.push((new, ring.clone(), *next, *len));
        }
        if n <= HISTORY_MONITORS_MAX {
            for m in 0..n as u32 {
                out.track(m);
            }
        }
        out
    }

    /// The monitors whose results are kept.
    pub fn tracked(&self) -> impl Iterator<Item = u32> + '_ {
        self.slot_of.keys().copied()
    }

    pub fn is_tracked(&self, m: u32) -> bool {
        self.slot_of.contains_key(&m)
    }

    fn push(&mut self, m: u32, e: HistoryEntry) {
        let Some(&slot) = self.slot_of.get(&m) else {
            return;
        };
        let (_, ring, next, len) = &mut self.slots[slot as usize];
        if ring.len() < HISTORY_RESULTS_PER_MONITOR {
            ring.push(e);
        } else {
            ring[*next as usize] = e;
        }
        *next = ((*next as usize + 1) % HISTORY_RESULTS_PER_MONITOR) as u16;
        *len = (*len + 1).min(HISTORY_RESULTS_PER_MONITOR as u16);
    }

    /// The kept results of `m`, newest first.
    pub fn of(&self, m: u32) -> Vec<HistoryEntry> {
        let Some(&slot) = self.slot_of.get(&m) else {
            return Vec::new();
        };
        let (_, ring, next, _) = &self.slots[slot as usize];
        let n = ring.len();
        (1..=n)
            .map(|k| ring[(*next as usize + n - k) % n])
            .collect()
    }
}

/// Counters as the engine published them last.
#[derive(Clone, Default)]
pub struct Published {
    /// Wall clock ms when published.
    pub wall_ms: u64,
    pub stats: Stats,
    pub notify: NotifyStats,
    /// `(notifier kind, delivered, failed, retried)`.
    pub notify_by_kind: Vec<(&'static str, u64, u64, u64)>,
    pub paused: u64,
    pub in_flight: u64,
    /// Requests and completions waiting, per worker.
    pub rings: Vec<(usize, usize)>,
    pub held_by_breaker: u64,
    pub breaker_open: bool,
}

/// Everything behind the one lock.
#[derive(Default)]
pub struct Shared {
    pub events: VecDeque<EventRecord>,
    pub next_seq: u64,
    pub history: History,
    pub published: Published,
    /// The publication before the last one, for rates.
    pub previous: Option<Published>,
}

impl Shared {
    /// At a reload: events and histories follow their monitors to their new ids; those of
    /// removed monitors are dropped (the breaker's events stay).
    fn renumber(&mut self, old_to_new: &[u32], n: usize) {
        let map = |m: u32| old_to_new.get(m as usize).copied().unwrap_or(NONE);
        self.events.retain_mut(|e| {
            if e.monitor == NONE {
                return true;
            }
            e.monitor = map(e.monitor);
            e.monitor != NONE
        });
        let old = std::mem::take(&mut self.history);
        self.history = old.renumbered(map, n);
    }

    /// Transitions with `seq >= since`, oldest first, at most `max`.
    pub fn events_since(&self, since: u64, max: usize) -> Vec<EventRecord> {
        // Sequence numbers rise but may have gaps (a reload drops a removed monitor's events).
        let skip = self.events.partition_point(|e| e.seq < since);
        self.events.iter().skip(skip).take(max).copied().collect()
    }
}

/// What the API asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop checking; a gray code; no other code until resumed.
    Pause(u32),
    Resume(u32),
    /// A maintenance window from `start_wall_ms`, `duration_ms` long.
    Maintenance {
        monitor: u32,
        start_wall_ms: u64,
        duration_ms: u64,
    },
    /// Keep this monitor's results from now on.
    Track(u32),
}

pub type Reply = Result<String, String>;

/// A command, the number of the view its monitor ids belong to, and, when the asker waits,
/// where to answer.
pub type Asked = (Command, u64, Option<SyncSender<Reply>>);

/// The view of one configuration, shared by the engine (writer) and the API server (reader).
///
/// A reload does not change a view: the engine builds the next one (new catalog, cells carried
/// over by name) and makes it the latest ([`View::latest`]); the server moves to it at
/// its next request. Monitor ids are only ever used with the view that gave them, so a request
/// never mixes two configurations. What outlives a configuration (events, histories, the
/// counters, the command channel) is in [`Common`], shared by every view.
pub struct View {
    /// Counts reloads: 0 for the configuration cpra started with.
    pub number: u64,
    pub catalog: Arc<Catalog>,
    pub instance: Arc<str>,
    /// Wall clock ms at start.
    pub started_wall_ms: u64,
    /// Seconds the configuration took to load (`cpra_config_load_seconds`).
    pub config_load_s: f64,
    cells: Cells,
    common: Arc<Common>,
    /// Built on the first search or lookup by name (server side).
    names: std::sync::OnceLock<NameIndex>,
}

/// Per-monitor cells: two words a monitor.
pub type Cells = Box<[(AtomicU64, AtomicU64)]>;

/// What every view of one run shares.
pub struct Common {
    shared: Mutex<Shared>,
    /// Wall clock ms of the engine's last tick.
    pub last_tick_wall_ms: AtomicU64,
    commands: Mutex<Sender<Asked>>,
    /// The last reload's outcome, for `GET /api/v1/reload`.
    pub reload: Mutex<Option<ReloadStatus>>,
    /// Where `POST /api/v1/reload` asks for one (set by `cpra run`; `None`: not offered).
    pub reload_requests: Mutex<Option<Sender<&'static str>>>,
    /// The newest view, weakly: the engine holds it; a view a reload replaced is freed as soon
    /// as no request uses it (the server moves on at its next request).
    latest: Mutex<std::sync::Weak<View>>,
}

impl Common {
    fn latest(&self) -> Option<Arc<View>> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade()
    }

    fn set_latest(&self, v: &Arc<View>) {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(v);
    }
}

/// A reload as the API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Counts reload attempts (1 for the first).
    pub attempt: u64,
    /// `running`, `applied` or `refused`.
    pub state: &'static str,
    pub started_wall_ms: u64,
    pub finished_wall_ms: u64,
    /// Why it was refused (every error, one per line), or empty.
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// What changed, once applied (`unchanged`, `changed`, `restarted`, `added`, `removed`).
    pub counts: Vec<(&'static str, u64)>,
}

/// The names laid out for search: one lower-case blob in monitor order (the catalog's arena
/// is in file order, so walking it by monitor is a cache miss a name: 65 ms a million). About
/// the names' length plus 5 bytes a monitor, built once, on the first search or lookup.
pub struct NameIndex {
    /// `\n` + each name in lower case + `\n`, in monitor order.
    lower: Vec<u8>,
    /// Offset of each monitor's name in `lower`.
    starts: Vec<u32>,
}

impl NameIndex {
    fn build(cat: &Catalog) -> NameIndex {
        let n = cat.len();
        let mut lower = Vec::with_capacity(n * 12 + 1);
        let mut starts = Vec::with_capacity(n);
        lower.push(b'\n');
        for m in 0..n as u32 {
            let name = cat.name(crate::store::MonitorId(m));
            starts.push(lower.len() as u32);
            lower.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
            lower.push(b'\n');
        }
        lower.shrink_to_fit();
        NameIndex { lower, starts }
    }

    /// The first monitor at or after `from` whose name holds `needle` (lower case), or
    /// `None`. One memmem pass over the blob from `from`'s name on.
    pub fn next_match(&self, needle: &[u8], from: u32) -> Option<u32> {
        let n = self.starts.len() as u32;
        if from >= n {
            return None;
        }
        if needle.is_empty() {
            return Some(from);
        }
        if needle.contains(&b'\n') {
            return None;
        }
        let at = self.starts[from as usize] as usize;
        let hit = memchr::memmem::find(&self.lower[at..], needle)? + at;
        // The monitor whose name holds the hit: the last start at or before it.
        let m = self.starts.partition_point(|&s| s as usize <= hit) - 1;
        Some(m as u32)
    }
}

impl View {
    /// A view of `catalog`, all monitors up, and the receiving end of its command channel
    /// (for the engine).
    pub fn new(
        catalog: Arc<Catalog>,
        instance: Arc<str>,
        started_wall_ms: u64,
        config_load_s: f64,
    ) -> (Arc<View>, Receiver<Asked>) {
        let n = catalog.len();
        let (tx, rx) = channel();
        let mut shared = Shared::default();
        if n <= HISTORY_MONITORS_MAX {
            for m in 0..n as u32 {
                shared.history.track(m);
            }
        }
        let common = Arc::new(Common {
            shared: Mutex::new(shared),
            last_tick_wall_ms: AtomicU64::new(started_wall_ms),
            commands: Mutex::new(tx),
            reload: Mutex::new(None),
            reload_requests: Mutex::new(None),
            latest: Mutex::new(std::sync::Weak::new()),
        });
        let view = View {
            number: 0,
            cells: View::blank_cells(n),
            catalog,
            instance,
            started_wall_ms,
            config_load_s,
            common,
            names: std::sync::OnceLock::new(),
        };
        let view = Arc::new(view);
        view.common.set_latest(&view);
        (view, rx)
    }

    /// Engine only, at a reload: the view of `catalog`, whose monitor `new` gets the cell of
    /// this view's monitor `old` for each `(old, new)` of `carried` (the others start up), and
    /// whose events and histories are renumbered by `old_to_new` (`NONE`: removed, dropped).
    /// It is linked as this view's successor.
    /// `cells` come from [`View::blank_cells`] (made off the engine thread).
    pub fn succeed(
        &self,
        catalog: Arc<Catalog>,
        cells: Cells,
        old_to_new: &[u32],
        config_load_s: f64,
    ) -> Arc<View> {
        let n = catalog.len();
        assert_eq!(cells.len(), n, "cells for every monitor");
        for (old, &new) in old_to_new.iter().enumerate() {
            if new != NONE && (new as usize) < n {
                let (a, b) = &self.cells[old];
                cells[new as usize]
                    .0
                    .store(a.load(Ordering::Relaxed), Ordering::Relaxed);
                cells[new as usize]
                    .1
                    .store(b.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        let next = Arc::new(View {
            number: self.number + 1,
            catalog,
            instance: self.instance.clone(),
            started_wall_ms: self.started_wall_ms,
            config_load_s,
            cells,
            common: self.common.clone(),
            names: std::sync::OnceLock::new(),
        });
        // Under the lock, so that a reader holding it sees events and the view that names
        // them from the same configuration.
        let mut shared = self.shared();
        shared.renumber(old_to_new, n);
        self.common.set_latest(&next);
        drop(shared);
        next
    }

    /// No reload has replaced this view (yet).
    pub fn is_latest(&self) -> bool {
        self.common
            .latest()
            .is_none_or(|l| std::ptr::eq(Arc::as_ptr(&l), self))
    }

    /// Cells for `n` monitors, all up.
    pub fn blank_cells(n: usize) -> Cells {
        (0..n)
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect()
    }

    /// The newest view: this one, or the one a reload put in its place (while the engine
    /// holds it).
    pub fn latest(self: &Arc<View>) -> Arc<View> {
        self.common.latest().unwrap_or_else(|| self.clone())
    }

    /// What every view of this run shares.
    pub fn common(&self) -> &Common {
        &self.common
    }

    /// The same, to keep beyond this view (the reloader keeps it, not a view).
    pub fn common_arc(&self) -> Arc<Common> {
        self.common.clone()
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    pub fn cell(&self, m: u32) -> Cell {
        let (a, b) = &self.cells[m as usize];
        Cell::unpack(a.load(Ordering::Relaxed), b.load(Ordering::Relaxed))
    }

    /// The state and paused bits only (one load: what list filters read).
    pub fn state_bits(&self, m: usize) -> (State, bool) {
        let a = self.cells[m].0.load(Ordering::Relaxed);
        let c = Cell::unpack(a, 0);
        (c.state, c.paused)
    }

    /// Monitors per probe kind (`ProbeKind`'s value) and state, from one pass over the cells
    /// (about a millisecond a million).
    pub fn counts(&self) -> [[u64; State::COUNT]; 8] {
        let mut by = [[0u64; State::COUNT]; 8];
        for (m, (a, _)) in self.cells.iter().enumerate() {
            let state = (a.load(Ordering::Relaxed) & 0xf) as usize;
            by[usize::from(self.catalog.kinds[m].0).min(7)][state.min(State::COUNT - 1)] += 1;
        }
        by
    }

    /// Engine only: rewrites one monitor's cell.
    pub fn update(&self, m: u32, f: impl FnOnce(&mut Cell)) {
        let (a, b) = &self.cells[m as usize];
        let mut c = Cell::unpack(a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
        f(&mut c);
        let (na, nb) = c.pack();
        a.store(na, Ordering::Relaxed);
        b.store(nb, Ordering::Relaxed);
    }

    /// The shared part; a poisoned lock (a panicked holder) is still read, never a panic.
    pub fn shared(&self) -> MutexGuard<'_, Shared> {
        self.common.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Engine only: appends transitions and results in one lock.
    pub fn record(
        &self,
        events: &mut Vec<EventRecord>,
        results: &mut Vec<(u32, HistoryEntry)>,
        published: Option<Published>,
    ) {
        let mut s = self.shared();
        for mut e in events.drain(..) {
            e.seq = s.next_seq;
            s.next_seq += 1;
            if s.events.len() == EVENTS_KEPT {
                s.events.pop_front();
            }
            s.events.push_back(e);
        }
        for (m, r) in results.drain(..) {
            s.history.push(m, r);
        }
        if let Some(p) = published {
            let old = std::mem::replace(&mut s.published, p);
            s.previous = Some(old);
        }
    }

    /// Server side: asks the engine, waiting up to `wait` for its answer. The monitor ids in
    /// `c` are this view's: if a reload replaced it meanwhile, the engine refuses the command.
    pub fn ask(&self, c: Command, wait: std::time::Duration) -> Reply {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let sent = self
            .common
            .commands
            .lock()
            .map_err(|_| "the engine is gone".to_string())?
            .send((c, self.number, Some(tx)));
        if sent.is_err() {
            return Err("the engine is not running".into());
        }
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| Err("the engine did not answer in time; try again".into()))
    }

    /// Server side: a request that needs no answer.
    pub fn tell(&self, c: Command) {
        if let Ok(tx) = self.common.commands.lock() {
            let _ = tx.send((c, self.number, None));
        }
    }

    /// The name index, built on first use (about 0.3 s a million monitors).
    pub fn names(&self) -> &NameIndex {
        self.names.get_or_init(|| NameIndex::build(&self.catalog))
    }

    /// Index of the monitor named `name` (exactly): a whole-name search in the blob, each
    /// hit checked against the catalog (names differing only in case share the blob's text).
    pub fn find(&self, name: &str) -> Option<u32> {
        if name.contains('\n') {
            return None;
        }
        let idx = self.names();
        let mut needle = Vec::with_capacity(name.len() + 2);
        needle.push(b'\n');
        needle.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        needle.push(b'\n');
        memchr::memmem::find_iter(&idx.lower, &needle)
            .map(|at| idx.starts.partition_point(|&s| s as usize <= at + 1) as u32 - 1)
            .find(|&m| self.catalog.name(crate::store::MonitorId(m)) == name)
    }
}

/// `NONE` re-exported for the breaker's events.
pub const NO_MONITOR: u32 = NONE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_every_field() {
        let c = Cell {
            state: State::Intervening,
            paused: true,
            colour: Some(Colour::Gray),
            reason: Reason::Timeout,
            status: 503,
            latency_us: 4_000_000_000,
            checked_s: 1_900_000_000,
            since_s: 1_800_000_000,
        };
        let (a, b) = c.pack();
        assert_eq!(Cell::unpack(a, b), c);
        let none = Cell {
            colour: None,
            paused: false,
            ..c
        };
        let (a, b) = none.pack();
        assert_eq!(Cell::unpack(a, b), none);
        assert_eq!(Cell::unpack(0, 0).state, State::Up);
    }

    #[test]
    fn history_keeps_the_last_results_newest_first() {
        let mut h = History::default();
        h.track(7);
        for i in 0..250u32 {
            h.push(
                7,
                HistoryEntry {
                    wall_s: i,
                    ..Default::default()
                },
            );
        }
        h.push(8, HistoryEntry::default()); // untracked: ignored
        let got = h.of(7);
        assert_eq!(got.len(), HISTORY_RESULTS_PER_MONITOR);
        assert_eq!(got[0].wall_s, 249);
        assert_eq!(got[99].wall_s, 150);
        assert!(h.of(8).is_empty());
    }

    #[test]
    fn history_gives_way_oldest_first_when_full() {
        let mut h = History::default();
        for m in 0..HISTORY_MONITORS_MAX as u32 {
            assert_eq!(h.track(m), None);
        }
        h.push(0, HistoryEntry::default());
        assert_eq!(h.track(u32::MAX - 1), Some(0));
        assert!(h.of(u32::MAX - 1).is_empty(), "a reused slot starts empty");
        assert!(!h.is_tracked(0) && h.is_tracked(u32::MAX - 1));
        assert_eq!(h.track(u32::MAX - 2), Some(1));
    }

    fn catalog(names: &[&str]) -> Arc<Catalog> {
        use crate::config::model::*;
        let mut b = crate::store::StoreBuilder::new();
        for (i, n) in names.iter().enumerate() {
            b.add(MonitorSpec {
                index: i,
                line: 0,
                name: n.to_string(),
                enabled: true,
                pulse: PulseSpec {
                    interval: std::time::Duration::from_secs(60),
                    timeout: std::time::Duration::from_secs(5),
                    unhealthy_threshold: 1,
                    healthy_threshold: None,
                    kind: PulseKind::Tcp(TcpPulse {
                        host: "127.0.0.1".into(),
                        port: 9,
                        retries: 0,
                    }),
                },
                intervention: None,
                codes: CodesSpec::default(),
                maintenance: vec![],
            });
        }
        Arc::new(b.finish().expect("valid"))
    }

    #[test]
    fn names_are_found_exactly_and_searched_in_any_case() {
        let cat = catalog(&["Web-1", "db-main", "web-10", "api", "WEB-1"]);
        let (v, _rx) = View::new(cat.clone(), Arc::from("t"), 0, 0.0);
        for m in 0..5u32 {
            let name = cat.name(crate::store::MonitorId(m)).to_string();
            assert_eq!(v.find(&name), Some(m));
        }
        assert_eq!(v.find("web-1x"), None);
        assert_ne!(v.find("WEB-1"), v.find("Web-1"), "lookups are exact");
        assert_eq!(v.find("web-1"), None);
        assert_eq!(v.find("eb-1"), None, "whole names only");
        let idx = v.names();
        let mut hits = Vec::new();
        let mut from = 0;
        while let Some(m) = idx.next_match(b"web-1", from) {
            hits.push(cat.name(crate::store::MonitorId(m)).to_string());
            from = m + 1;
        }
        hits.sort();
        assert_eq!(hits, ["WEB-1", "Web-1", "web-10"]);
        assert_eq!(idx.next_match(b"1\nd", 0), None, "never across two names");
        assert_eq!(idx.next_match(b"zz", 0), None);
        assert_eq!(idx.next_match(b"api", 5), None);
    }

    #[test]
    fn events_since_skips_what_was_seen() {
        let mut s = Shared::default();
        for seq in 10..20 {
            s.events.push_back(EventRecord {
                seq,
                wall_ms: 0,
                monitor: 0,
                from: State::Up,
                to: State::Down,
                colour: None,
                cause: Cause::ThresholdReached,
                reason: Reason::Timeout,
                status: 0,
            });
        }
        assert_eq!(s.events_since(15, 100).len(), 5);
        assert_eq!(s.events_since(15, 100)[0].seq, 15);
        assert_eq!(s.events_since(0, 3)[0].seq, 10);
        assert!(s.events_since(20, 100).is_empty());
        // A reload dropped a removed monitor's events: gaps, and still nothing skipped.
        s.events.retain(|e| e.seq % 3 != 0);
        let got: Vec<u64> = s.events_since(13, 100).iter().map(|e| e.seq).collect();
        assert_eq!(got, [13, 14, 16, 17, 19]);
    }
}
