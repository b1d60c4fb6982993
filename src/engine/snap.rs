//! The engine's side of the state snapshot ([`crate::snapshot`]): filling records a slice per
//! tick and handing them to a writer thread, writing the last one at a clean stop, and
//! restoring the columns from a loaded snapshot before the first tick.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use super::Engine;
use crate::api::view::Cell;
use crate::config::model::Colour;
use crate::lifecycle::State;
use crate::limits::{SNAPSHOT_PERIOD_MS, SNAPSHOT_QUIET_PERIOD_MS, SNAPSHOT_RECORDS_PER_TICK};
use crate::snapshot::{self, FNV_START, Record, Snapshot, fnv};
use crate::store::{Catalog, MonitorId, ProbeSpec};
use crate::vocab::Reason;

/// What the lifecycle's incident flags call "red sent in this incident".
const RED_SENT: u8 = 2;

pub(super) struct SnapSide {
    dir: PathBuf,
    keys: Vec<u64>,
    pulses: Vec<u64>,
    /// Slice buffers not with the writer (two in all: one filled while one is written).
    free: Vec<Vec<Record>>,
    /// Next monitor to copy while a snapshot is being written; `None` between snapshots.
    next: Option<usize>,
    next_write_ms: u64,
    /// When the last snapshot began (engine ms).
    last_begin_ms: u64,
    /// A monitor changed state (or was paused, resumed, put in maintenance) since the last
    /// snapshot began.
    pub(super) dirty: bool,
    to_writer: Option<Sender<ToWriter>>,
    back: Receiver<Vec<Record>>,
    writer: Option<JoinHandle<()>>,
}

/// What the engine tells the writer thread.
enum ToWriter {
    Begin {
        count: u64,
        wall_ms: u64,
        instance: Arc<str>,
    },
    Slice(Vec<Record>),
    End,
    /// Drop the snapshot being written (a reload changed the monitors under it).
    Abort,
}

/// What a restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Monitors that got their state back.
    pub matched: usize,
    /// Monitors whose pulse changed type or target: started fresh.
    pub changed: usize,
    /// Monitors not in the snapshot: started fresh.
    pub new: usize,
    /// Records of monitors no longer in the file: dropped.
    pub dropped: usize,
    /// Of the matched, those down or failing (an open incident kept).
    pub open_incidents: usize,
}

/// A monitor's pulse identity: its type and target (host, port, path; a DNS check's query and
/// record type). A monitor whose identity changed starts fresh.
pub fn pulse_identity(cat: &Catalog, m: usize) -> u64 {
    let id = MonitorId(m as u32);
    let t = cat.target(id);
    let mut h = fnv(FNV_START, &[cat.kinds[m].0]);
    h = fnv(h, t.host.as_bytes());
    h = fnv(h, &t.port.to_le_bytes());
    h = fnv(h, cat.path(id).as_bytes());
    if let ProbeSpec::Dns(d) = cat.spec(id) {
        h = fnv(h, d.query.as_bytes());
        h = fnv(h, format!("{:?}", d.record_type).as_bytes());
    }
    h
}

/// The engine clock's start so that every time in `snap` is a time on it: how long before
/// `wall_now_ms` its oldest incident or intervention began (plus a second), or 0.
pub fn clock_base_for(snap: &Snapshot, wall_now_ms: u64) -> u64 {
    let oldest = snap
        .records()
        .iter()
        .flat_map(|r| [r.incident_wall_ms, r.last_intervention_wall_ms])
        .filter(|t| *t > 0)
        .min();
    match oldest {
        // A minute of room: the engine reads the wall clock again when it starts.
        Some(t) if t < wall_now_ms => wall_now_ms - t + 60_000,
        _ => 0,
    }
}

/// The writer thread: a snapshot is Begin, Slices, End; any failure is said once (until a
/// snapshot succeeds again) and the rest of that snapshot is skipped. Buffers go back.
fn write_loop(dir: &std::path::Path, rx: &Receiver<ToWriter>, back: &Sender<Vec<Record>>) {
    let mut current: Option<snapshot::Writer> = None;
    let mut failing = false;
    let report = |e: std::io::Error, failing: &mut bool| {
        if !*failing {
            *failing = true;
            crate::say!(
                "cpra: cannot write the state snapshot in {}: {e}; a restart now would forget open incidents (retrying every {} s)",
                dir.display(),
                SNAPSHOT_PERIOD_MS / 1000
            );
        }
    };
    while let Ok(msg) = rx.recv() {
        match msg {
            ToWriter::Begin {
                count,
                wall_ms,
                instance,
            } => {
                current = match snapshot::Writer::begin(dir, count, wall_ms, &instance) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        report(e, &mut failing);
                        None
                    }
                };
            }
            ToWriter::Slice(buf) => {
                if let Some(w) = current.as_mut()
                    && let Err(e) = w.append(&buf)
                {
                    report(e, &mut failing);
                    current = None;
                }
                if back.send(buf).is_err() {
                    return;
                }
            }
            ToWriter::Abort => current = None,
            ToWriter::End => match current.take().map(snapshot::Writer::finish) {
                Some(Ok(_)) if failing => {
                    failing = false;
                    crate::say!("cpra: state snapshot written again");
                }
                Some(Err(e)) => report(e, &mut failing),
                _ => {}
            },
        }
    }
}

impl Engine {
    /// Writes the state snapshot to `dir` every `SNAPSHOT_PERIOD_MS` from now on (the first
    /// one a period from now), and at [`Engine::shutdown_within`].
    pub fn enable_snapshots(&mut self, dir: PathBuf) -> std::io::Result<()> {
        let n = self.catalog.len();
        let keys = (0..n)
            .map(|m| crate::store::shard::key(self.catalog.name(MonitorId(m as u32))))
            .collect();
        let pulses = (0..n).map(|m| pulse_identity(&self.catalog, m)).collect();
        let (to_writer, rx) = channel::<ToWriter>();
        let (tx_back, back) = channel();
        let wdir = dir.clone();
        let writer = std::thread::Builder::new()
            .name("cpra-snapshot".into())
            .spawn(move || write_loop(&wdir, &rx, &tx_back))?;
        self.snap = Some(SnapSide {
            dir,
            keys,
            pulses,
            free: (0..2)
                .map(|_| Vec::with_capacity(SNAPSHOT_RECORDS_PER_TICK.min(n)))
                .collect(),
            next: None,
            next_write_ms: self.now_ms() + SNAPSHOT_PERIOD_MS,
            last_begin_ms: self.now_ms(),
            dirty: true,
            to_writer: Some(to_writer),
            back,
            writer: Some(writer),
        });
        Ok(())
    }

    /// One tick's share: begin a snapshot when due, copy the next slice of records into a
    /// free buffer and hand it to the writer, end the snapshot after the last slice.
    pub(super) fn snapshot_step(&mut self, now_ms: u64) {
        let wall_ms = self.wall_at_epoch_ms + now_ms;
        let n = self.catalog.len();
        let Some(snap) = self.snap.as_mut() else {
            return;
        };
        snap.free.extend(snap.back.try_iter());
        let Some(tx) = snap.to_writer.as_ref() else {
            return;
        };
        let from = match snap.next {
            Some(from) => from,
            None if now_ms < snap.next_write_ms => return,
            None if !snap.dirty && now_ms < snap.last_begin_ms + SNAPSHOT_QUIET_PERIOD_MS => {
                // Nothing changed state: the last snapshot still holds every open incident.
                snap.next_write_ms = now_ms + SNAPSHOT_PERIOD_MS;
                return;
            }
            None => {
                snap.dirty = false;
                snap.last_begin_ms = now_ms;
                let _ = tx.send(ToWriter::Begin {
                    count: n as u64,
                    wall_ms,
                    instance: self.instance.clone(),
                });
                0
            }
        };
        // No free buffer: the writer is behind (a slow disk); go on next tick.
        let Some(mut buf) = snap.free.pop() else {
            snap.next = Some(from);
            return;
        };
        let to = (from + SNAPSHOT_RECORDS_PER_TICK).min(n);
        buf.clear();
        for m in from..to {
            buf.push(self.record_of(m));
        }
        let Some(snap) = self.snap.as_mut() else {
            return;
        };
        let Some(tx) = snap.to_writer.as_ref() else {
            return;
        };
        let _ = tx.send(ToWriter::Slice(buf));
        if to < n {
            snap.next = Some(to);
        } else {
            let _ = tx.send(ToWriter::End);
            snap.next = None;
            snap.next_write_ms = now_ms + SNAPSHOT_PERIOD_MS;
        }
    }

    fn record_of(&self, m: usize) -> Record {
        let (key, pulse) = self
            .snap
            .as_ref()
            .map_or((0, 0), |s| (s.keys[m], s.pulses[m]));
        let l = &self.life;
        let state = l.state(m as u32);
        let cell = self
            .api
            .as_ref()
            .map(|a| a.view.cell(m as u32))
            .unwrap_or_else(|| Cell {
                state,
                paused: false,
                colour: None,
                reason: Reason::from_u8(l.last_reason[m]),
                status: l.last_status[m],
                latency_us: 0,
                checked_s: 0,
                since_s: 0,
            });
        let wall = |t: u64| self.wall_at_epoch_ms + t;
        let open = l.incident[m] != 0 || state != State::Up;
        Record {
            key,
            pulse,
            incident_wall_ms: if open {
                wall(l.incident_start_ms[m])
            } else {
                0
            },
            last_intervention_wall_ms: if l.attempts[m] > 0 {
                wall(l.last_intervention_ms[m])
            } else {
                0
            },
            since_wall_ms: u64::from(cell.since_s) * 1000,
            checked_wall_ms: u64::from(cell.checked_s) * 1000,
            checks: self.checks[m],
            latency_us: cell.latency_us,
            failures: l.failures[m],
            successes: l.successes[m],
            verify_left: l.verify_left[m],
            last_status: l.last_status[m],
            state: state as u8,
            incident: l.incident[m],
            attempts: l.attempts[m],
            last_reason: l.last_reason[m],
            colour: self.last_colour[m],
            paused: u8::from(self.paused.contains(&(m as u32))),
            _pad: [0; 2],
        }
    }

    /// At a reload: the new monitors' keys; a snapshot being written is dropped and a new one
    /// begins within a period.
    pub(super) fn reload_snapshots(&mut self, keys: Vec<u64>, pulses: Vec<u64>, now_ms: u64) {
        let Some(snap) = self.snap.as_mut() else {
            return;
        };
        if snap.next.take().is_some()
            && let Some(tx) = snap.to_writer.as_ref()
        {
            let _ = tx.send(ToWriter::Abort);
        }
        snap.keys = keys;
        snap.pulses = pulses;
        snap.dirty = true;
        snap.next_write_ms = now_ms + SNAPSHOT_PERIOD_MS;
    }

    /// At a clean stop: waits for the writer, then writes the final snapshot itself.
    pub(super) fn final_snapshot(&mut self) {
        let Some(mut snap) = self.snap.take() else {
            return;
        };
        snap.to_writer = None; // The writer drops a snapshot it did not finish.
        if let Some(t) = snap.writer.take() {
            let _ = t.join();
        }
        let n = self.catalog.len();
        let keys = std::mem::take(&mut snap.keys);
        let pulses = std::mem::take(&mut snap.pulses);
        let dir = snap.dir.clone();
        self.snap = Some(SnapSide {
            keys,
            pulses,
            ..snap
        });
        let records: Vec<Record> = (0..n).map(|m| self.record_of(m)).collect();
        let wall = self.wall_at_epoch_ms + self.now_ms();
        if let Err(e) = snapshot::write(&dir, &records, wall, &self.instance) {
            crate::say!(
                "cpra: cannot write the final state snapshot in {}: {e}",
                dir.display()
            );
        }
        self.snap = None;
    }

    /// Gives matched monitors their state back (before the first tick). Times are moved onto
    /// this engine's clock (`EngineConfig::clock_base_ms` from [`clock_base_for`] makes room
    /// for incidents that began before this process).
    pub fn restore(&mut self, snap: &Snapshot) -> Restored {
        let n = self.catalog.len();
        let mut by_key: rustc_hash::FxHashMap<u64, u32> = Default::default();
        by_key.reserve(snap.records().len());
        for (i, r) in snap.records().iter().enumerate() {
            by_key.insert(r.key, i as u32);
        }
        let wall_now = self.wall_at_epoch_ms + self.now_ms();
        let in_window = self.windows_active_at(wall_now);
        let mut out = Restored::default();
        let mut used = 0usize;
        for m in 0..n {
            let name = self.catalog.name(MonitorId(m as u32));
            let Some(&i) = by_key.get(&crate::store::shard::key(name)) else {
                out.new += 1;
                continue;
            };
            used += 1;
            let r = snap.records()[i as usize];
            if r.pulse != pulse_identity(&self.catalog, m) || !self.catalog.enabled[m] {
                // A changed pulse is another check; a disabled monitor is not checked, so an
                // incident restored there could never close.
                out.changed += 1;
                continue;
            }
            out.matched += 1;
            if self.restore_one(m, &r, in_window.contains(&(m as u32))) {
                out.open_incidents += 1;
            }
        }
        out.dropped = snap.records().len().saturating_sub(used);
        self.life.failing = (0..n)
            .filter(|&m| self.life.state(m as u32).is_failing())
            .count() as u64;
        out
    }

    /// Monitors inside a configured maintenance window at `wall_ms`.
    fn windows_active_at(&self, wall_ms: u64) -> rustc_hash::FxHashSet<u32> {
        self.catalog
            .maintenance
            .iter()
            .filter(|(_, w)| {
                w.start_unix_ms <= wall_ms
                    && wall_ms < w.start_unix_ms + w.duration.as_millis() as u64
            })
            .map(|(m, _)| m.0)
            .collect()
    }

    /// One monitor; true when it comes back with an open incident.
    fn restore_one(&mut self, m: usize, r: &Record, in_window: bool) -> bool {
        let on_clock = |t: u64| t.saturating_sub(self.wall_at_epoch_ms);
        let mut state = State::ALL
            .get(r.state as usize)
            .copied()
            .unwrap_or(State::Up);
        if state == State::Intervening {
            // The intervention died with the process: on the first tick it counts as failed
            // (a red if none was sent, attempts and exhaustion as the policy says).
            self.pending_inputs
                .push(crate::lifecycle::Input::InterventionDone {
                    monitor: m as u32,
                    ok: false,
                });
        }
        let paused = r.paused != 0;
        if state == State::Maintenance && !paused && !in_window {
            // Its window ended while cpra was down: back to up, counters cleared, no code.
            state = State::Up;
        }
        self.last_colour[m] = r.colour;
        let l = &mut self.life;
        l.state[m] = state as u8;
        if state != State::Up || r.incident != 0 {
            l.failures[m] = r.failures;
            l.successes[m] = r.successes;
            l.incident[m] = r.incident;
            l.attempts[m] = r.attempts;
            l.verify_left[m] = r.verify_left;
            l.incident_start_ms[m] = on_clock(r.incident_wall_ms);
            l.last_intervention_ms[m] = on_clock(r.last_intervention_wall_ms);
        }
        if state == State::Up && r.state == State::Maintenance as u8 {
            l.failures[m] = 0;
            l.successes[m] = 0;
            l.incident[m] = 0;
            l.attempts[m] = 0;
        }
        l.last_reason[m] = r.last_reason;
        l.last_status[m] = r.last_status;
        self.checks[m] = r.checks;
        if paused {
            self.paused.insert(m as u32);
            self.set_active(m as u32, false);
            self.maint_depth.insert(m as u32, 1);
        }
        let open_red = r.incident & RED_SENT != 0
            && matches!(state, State::Down | State::Intervening | State::Verifying);
        if open_red {
            self.remind_restored(m as u32);
        }
        let last = (r.colour as usize)
            .checked_sub(1)
            .and_then(|c| Colour::ALL.get(c).copied());
        if let Some(c @ (Colour::Red | Colour::Yellow | Colour::Cyan)) = last
            && state != State::Up
            && state != State::Maintenance
        {
            self.refire_restored(m as u32, c, state);
        }
        self.restored_cells.push((
            m as u32,
            Cell {
                state,
                paused,
                colour: (r.colour as usize)
                    .checked_sub(1)
                    .and_then(|c| Colour::ALL.get(c).copied()),
                reason: Reason::from_u8(r.last_reason),
                status: r.last_status,
                latency_us: r.latency_us,
                checked_s: (r.checked_wall_ms / 1000) as u32,
                since_s: (r.since_wall_ms / 1000) as u32,
            },
        ));
        state.is_failing() || state == State::Verifying
    }

    /// An Alertmanager that holds a restored monitor's firing alert (its last code: red,
    /// yellow or cyan) keeps it firing: the notifier re-posts only what this run sent, so it
    /// hears that code again (Alertmanager deduplicates it; no other notifier is told twice).
    fn refire_restored(&mut self, m: u32, colour: Colour, state: State) {
        let codes = self.catalog.codes_of[m as usize];
        if codes == crate::store::NONE {
            return;
        }
        let route = self.catalog.code_routes[codes as usize][colour as usize];
        let is_am = self
            .catalog
            .notifiers
            .get(route.notifier as usize)
            .is_some_and(|n| n.type_name() == "alertmanager");
        if !is_am || !route.dispatch {
            return;
        }
        let i = m as usize;
        let e = crate::lifecycle::Event {
            monitor: m,
            from: state,
            to: state,
            colour: Some(colour),
            cause: crate::lifecycle::Cause::Reminder,
            reason: Reason::from_u8(self.life.last_reason[i]),
            status: self.life.last_status[i],
            failures: self.life.failures[i],
            at_ms: self.now_ms(),
            incident_ms: self.life.incident_start_ms[i],
        };
        self.push_code(route.notifier, &e, colour, true);
    }

    /// A restored open red keeps its reminders.
    fn remind_restored(&mut self, m: u32) {
        let codes = self.catalog.codes_of[m as usize];
        if codes == crate::store::NONE {
            return;
        }
        let route = self.catalog.code_routes[codes as usize][Colour::Red as usize];
        let period = if route.remind_ms > 0 {
            route.remind_ms
        } else {
            self.remind_default_ms
        };
        if route.notifier == crate::store::NONE || !route.dispatch || period == 0 {
            return;
        }
        let now = self.now_ms();
        self.reminders.push(std::cmp::Reverse((
            now + period,
            m,
            self.life.incident_start_ms[m as usize],
            period,
        )));
    }
}
