//! Hot reload: a new configuration swapped in at a tick boundary, the running state carried
//! over by monitor name.
//!
//! Two halves, so that a million-monitor reload never stalls the tick loop for long:
//! - [`prepare`] runs off the engine thread (the reloader's): it takes the validated new
//!   catalog and the running one, matches monitors by name, decides for each what it keeps,
//!   and builds everything that follows from the new catalog alone (lifecycle columns, first
//!   phases, snapshot keys).
//! - [`Engine::apply_reload`] runs on the engine thread between two ticks: it starts the new
//!   workers, moves each kept monitor's state to its new id (plain column copies), renumbers
//!   what refers to monitors (deadlines, reminders, pauses, windows, the API's events), hands
//!   the notifier list to the outbox hub, and retires the old workers.
//!
//! What each monitor keeps (`docs/config.md`, "Reloading"):
//! - **unchanged** (same name, every setting the same): its state, its schedule phase and its
//!   check in flight;
//! - **changed** (same name, type and target; another setting changed): its state and open
//!   incident, with a new check cycle (its first check within one interval, at its phase);
//! - **restarted** (same name, another type or target, or enabled/disabled flipped): starts
//!   fresh, like a new one;
//! - **added**: starts up, its first check spread over its first interval;
//! - **removed**: stops; its result in flight and its intervention's outcome are dropped, and
//!   no code is sent for it.
//!
//! Old workers finish their checks in flight on the old catalog and exit; their results come
//! back under the old ids and are mapped to the new ones. Interventions carry the era (reloads
//! so far) they started in, so an outcome finds its monitor after any number of reloads.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use super::snap::pulse_identity;
use super::{Engine, Parts};
use crate::lifecycle::{Input, State};
use crate::schedule::Schedule;
use crate::snapshot::{FNV_START, fnv};
use crate::store::{Catalog, MonitorId, NONE, first_due_ms};

/// What a reload did to the monitors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub unchanged: usize,
    pub changed: usize,
    pub restarted: usize,
    pub added: usize,
    pub removed: usize,
}

impl Counts {
    pub fn pairs(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("unchanged", self.unchanged as u64),
            ("changed", self.changed as u64),
            ("restarted", self.restarted as u64),
            ("added", self.added as u64),
            ("removed", self.removed as u64),
        ]
    }
}

/// A new configuration, ready to swap in.
pub struct Prepared {
    /// The catalog this was matched against (the engine refuses it if another is running).
    old: Arc<Catalog>,
    catalog: Arc<Catalog>,
    parts: Parts,
    /// Per old monitor: its new id when its state is carried (unchanged or changed), else
    /// `NONE`.
    old_to_new: Vec<u32>,
    /// Per old monitor: unchanged (keeps its schedule phase too).
    same: Vec<bool>,
    /// Per new monitor: its phase within its interval.
    phase: Vec<u32>,
    /// Per new monitor: name key and pulse identity, for the snapshot.
    keys: Vec<u64>,
    pulses: Vec<u64>,
    /// The engine's per-monitor columns for the new catalog, written (so their pages are
    /// mapped) here rather than on the engine thread at the swap.
    columns: Columns,
    /// The API view's cells for the new catalog.
    cells: crate::api::view::Cells,
    pub counts: Counts,
    /// Seconds the new file took to load.
    pub load_s: f64,
}

impl Prepared {
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
}

/// Per-monitor columns of the engine for the new catalog, at their fresh values.
struct Columns {
    generation: Vec<u32>,
    in_flight: Vec<u8>,
    checks: Vec<u32>,
    cert_days: Vec<i32>,
    last_colour: Vec<u8>,
    /// The API's "results kept" flags.
    tracked: Vec<bool>,
}

/// `n` copies of `v` in memory already written (a zeroed allocation would be mapped lazily,
/// page by page, by whoever writes it first: the engine, at the swap).
fn written<T: Copy>(n: usize, v: T) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    out.resize(n, v);
    std::hint::black_box(&mut out);
    out
}

/// Writes every element of `v` once (see [`written`]).
fn rewrite<T: Copy>(v: &mut [T]) {
    std::hint::black_box(&mut *v);
    if let Some(&first) = v.first() {
        v.fill(first);
    }
}

/// The engine's end of the reloader's channel.
pub(super) struct Link {
    rx: Receiver<Prepared>,
    done: Sender<Result<Counts, String>>,
}

/// Matches `new` against the running `old` by name and builds what the swap needs. Runs off
/// the engine thread: about a second for a million monitors.
pub fn prepare(old: Arc<Catalog>, new: crate::store::Catalog, load_s: f64) -> Prepared {
    let catalog = Arc::new(new);
    let n = catalog.len();
    let mut by_name: rustc_hash::FxHashMap<&str, u32> = Default::default();
    by_name.reserve(old.len());
    for m in 0..old.len() as u32 {
        by_name.insert(old.name(MonitorId(m)), m);
    }
    let (old_fp, new_fp) = (fingerprints(&old), fingerprints(&catalog));
    let mut old_to_new = vec![NONE; old.len()];
    let mut same = vec![false; old.len()];
    let mut seen = vec![false; old.len()];
    let mut counts = Counts::default();
    for m in 0..n {
        let Some(&o) = by_name.get(catalog.name(MonitorId(m as u32))) else {
            counts.added += 1;
            continue;
        };
        let (o, mu) = (o as usize, m);
        seen[o] = true;
        let enabled = (old.enabled[o], catalog.enabled[mu]);
        if enabled.0 != enabled.1 || pulse_identity(&old, o) != pulse_identity(&catalog, mu) {
            counts.restarted += 1;
            continue;
        }
        old_to_new[o] = m as u32;
        same[o] = old_fp[o] == new_fp[mu];
        if same[o] {
            counts.unchanged += 1;
        } else {
            counts.changed += 1;
        }
    }
    counts.removed = seen.iter().filter(|s| !**s).count();
    let phase = (0..n)
        .map(|m| first_due_ms(catalog.name(MonitorId(m as u32)), catalog.interval_ms[m]))
        .collect();
    let keys = (0..n)
        .map(|m| crate::store::shard::key(catalog.name(MonitorId(m as u32))))
        .collect();
    let pulses = (0..n).map(|m| pulse_identity(&catalog, m)).collect();
    let mut parts = Parts::of(&catalog);
    let l = &mut parts.life;
    rewrite(&mut l.state);
    rewrite(&mut l.failures);
    rewrite(&mut l.successes);
    rewrite(&mut l.incident);
    rewrite(&mut l.attempts);
    rewrite(&mut l.last_intervention_ms);
    rewrite(&mut l.verify_left);
    rewrite(&mut l.incident_start_ms);
    rewrite(&mut l.last_reason);
    rewrite(&mut l.last_status);
    Prepared {
        cells: crate::api::View::blank_cells(n),
        columns: Columns {
            generation: written(n, 0),
            in_flight: written(n, 0),
            checks: written(n, 0),
            cert_days: written(n, crate::probe::worker::NO_CERT),
            last_colour: written(n, 0),
            tracked: written(n, false),
        },
        parts,
        old,
        catalog,
        old_to_new,
        same,
        phase,
        keys,
        pulses,
        counts,
        load_s,
    }
}

/// Per monitor, a hash of every setting the engine and workers read for it (pulse, timing,
/// thresholds, intervention, codes and their notifiers), comparable across catalogs (interned
/// ids are not: the contents are hashed).
fn fingerprints(cat: &Catalog) -> Vec<u64> {
    let text = |s: String| fnv(FNV_START, s.as_bytes());
    let specs: Vec<u64> = cat.specs.iter().map(|s| text(format!("{s:?}"))).collect();
    let interventions: Vec<u64> = cat
        .interventions
        .iter()
        .map(|i| text(format!("{i:?}")))
        .collect();
    let codes: Vec<u64> = cat
        .code_routes
        .iter()
        .map(|routes| {
            let mut t = String::new();
            for r in routes {
                let notifier = cat.notifiers.get(r.notifier as usize);
                t.push_str(&format!("{notifier:?}/{}/{};", r.dispatch, r.remind_ms));
            }
            text(t)
        })
        .collect();
    let of = |table: &[u64], id: u32| table.get(id as usize).copied().unwrap_or(0);
    (0..cat.len())
        .map(|m| {
            let mut h = pulse_identity(cat, m);
            for v in [
                u64::from(cat.kinds[m].0),
                u64::from(cat.enabled[m]),
                u64::from(cat.interval_ms[m]),
                u64::from(cat.timeout_ms[m]),
                u64::from(cat.unhealthy_threshold[m]),
                u64::from(cat.healthy_threshold[m]),
                u64::from(cat.verify_checks[m]),
                of(&specs, cat.spec_of[m]),
                of(&interventions, cat.intervention_of[m]),
                of(&codes, cat.codes_of[m]),
            ] {
                h = fnv(h, &v.to_le_bytes());
            }
            h
        })
        .collect()
}

/// The first time at or after `now` on the grid `base + phase + k * interval` (the times a
/// monitor with this phase is due when it never stalled), as the schedule's wrapping ms.
fn on_grid(base: u64, phase: u32, interval: u32, now: u64) -> u32 {
    let first = base + u64::from(phase);
    let interval = u64::from(interval.max(1));
    let t = if now <= first {
        first
    } else {
        first + (now - first).div_ceil(interval) * interval
    };
    t as u32
}

/// Replaces the column `v` by `out` with `v[old]` carried to `out[new]` for every kept
/// monitor; returns the old column.
fn carry<T: Copy>(v: &mut Vec<T>, old_to_new: &[u32], mut out: Vec<T>) -> Vec<T> {
    for (o, &m) in old_to_new.iter().enumerate() {
        if m != NONE {
            out[m as usize] = v[o];
        }
    }
    std::mem::replace(v, out)
}

impl Engine {
    /// Opens the channel a reloader hands [`Prepared`] configurations to; each is applied at
    /// the next tick boundary and answered on the returned receiver.
    pub fn accept_reloads(&mut self) -> (Sender<Prepared>, Receiver<Result<Counts, String>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done, answers) = std::sync::mpsc::channel();
        self.reloads = Some(Link { rx, done });
        (tx, answers)
    }

    /// The running catalog (what the next reload is prepared against).
    pub fn catalog_arc(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    /// Applies a prepared reload if one is waiting (at the start of a tick).
    pub(super) fn take_reload(&mut self, now_ms: u64) {
        let Some(p) = self.reloads.as_ref().and_then(|l| l.rx.try_recv().ok()) else {
            return;
        };
        let result = if self.stopping {
            Err("cpra is stopping".to_string())
        } else {
            self.apply_reload(p, now_ms)
        };
        if let Some(l) = self.reloads.as_ref() {
            let _ = l.done.send(result);
        }
    }

    /// Swaps `p` in, as the module doc says. On an error (new workers cannot start) nothing
    /// has changed.
    pub fn apply_reload(&mut self, p: Prepared, now_ms: u64) -> Result<Counts, String> {
        self.apply_reload_with(p, now_ms, None)
    }

    /// [`Engine::apply_reload`] with the new configuration's workers given (detached ones, as
    /// [`Engine::with_workers`] takes: tests and benches play them), as many as today's.
    pub fn apply_reload_with(
        &mut self,
        p: Prepared,
        now_ms: u64,
        given: Option<Vec<crate::probe::worker::WorkerHandle>>,
    ) -> Result<Counts, String> {
        if !Arc::ptr_eq(&p.old, &self.catalog) {
            return Err("prepared against another configuration than the one running".into());
        }
        let workers = match given {
            Some(w) if w.len() == self.workers.len() => w,
            Some(_) => return Err("as many workers as running ones are needed".into()),
            None => self
                .crew
                .spawn(&p.catalog, self.epoch, 0..self.workers.len())
                .map_err(|e| format!("cannot start the probe workers: {e}"))?,
        };
        // Last tick's inputs were applied already: only what the swap itself adds goes on.
        self.inputs.clear();
        let map = p.old_to_new.as_slice();
        self.close_dropped(map, &p, now_ms);
        // Sent under the old notifier numbering, before the hub hears of the new one.
        self.flush_codes();
        let sched = self.schedule_for(&p, now_ms);
        let old_sched = std::mem::replace(&mut self.sched, sched);
        self.renumber(map); // Before the lifecycle moves: it reads the old states.
        let old_life = self.carry_life(p.parts.life, map);
        let c = p.columns;
        let mut old_tracked = Vec::new();
        let old_columns = (
            carry(&mut self.generation, map, c.generation),
            carry(&mut self.in_flight, map, c.in_flight),
            carry(&mut self.checks, map, c.checks),
            carry(&mut self.cert_days, map, c.cert_days),
            carry(&mut self.last_colour, map, c.last_colour),
        );
        self.retire_workers(workers, map);
        self.policies = p.parts.policies;
        self.interventions = p.parts.interventions;
        self.closers = p.parts.closers;
        self.breaker_notifiers = p.parts.breaker_notifiers;
        self.remind_default_ms = p
            .catalog
            .alerting
            .remind_every
            .map_or(0, |d| d.as_millis() as u64);
        self.effects
            .renumber_notifiers(&p.catalog.notifiers, p.catalog.alerting);
        if let Some(api) = self.api.as_mut() {
            api.view = api.view.succeed(p.catalog.clone(), p.cells, map, p.load_s);
            old_tracked = std::mem::replace(&mut api.tracked, c.tracked);
            for m in api.view.shared().history.tracked() {
                api.tracked[m as usize] = true;
            }
        }
        let old_catalog = std::mem::replace(&mut self.catalog, p.catalog);
        // Freeing a million monitors' columns takes milliseconds: not on the engine thread.
        let _ = std::thread::Builder::new()
            .name("cpra-reload-free".into())
            .spawn(move || {
                drop((old_sched, old_life, old_columns, old_catalog, old_tracked));
                crate::mem::release_freed();
            });
        self.era += 1;
        self.reload_maintenance(now_ms);
        self.reload_snapshots(p.keys, p.pulses, now_ms);
        for &m in self.paused.iter() {
            let c = m as usize / crate::limits::CHUNK_MONITORS;
            self.sched.active[c] &= !(1u64 << (m as usize % crate::limits::CHUNK_MONITORS));
        }
        // Inputs this made (maintenance entered) go with the first tick's.
        self.pending_inputs.append(&mut self.inputs);
        self.assert_columns();
        Ok(p.counts)
    }

    /// Open incidents the new configuration would never close: of monitors whose state is not
    /// carried (removed, or restarted on another target), at every notifier holding them
    /// (PagerDuty, Alertmanager); of kept monitors, at a holder their codes no longer go to.
    /// Those notifiers get a green (cause `removed`) that closes it, so it does not stay open
    /// (or firing) forever; no one else hears of it. Sent under the old notifier numbering.
    fn close_dropped(&mut self, map: &[u32], p: &Prepared, now_ms: u64) {
        for (o, &m) in map.iter().enumerate() {
            let state = self.life.state(o as u32);
            let codes = self.catalog.codes_of[o];
            if codes == NONE || !(state.is_failing() || state == State::Verifying) {
                continue;
            }
            let kept_by = |n: u32| -> bool {
                let Some(&new_codes) = p.catalog.codes_of.get(m as usize) else {
                    return false;
                };
                let spec = &self.catalog.notifiers[n as usize];
                p.parts
                    .closers
                    .get(new_codes as usize)
                    .is_some_and(|c| c.iter().any(|&k| p.catalog.notifiers[k as usize] == *spec))
            };
            let e = crate::lifecycle::Event {
                monitor: o as u32,
                from: state,
                to: State::Up,
                colour: Some(crate::config::model::Colour::Green),
                cause: crate::lifecycle::Cause::Removed,
                reason: crate::vocab::Reason::from_u8(self.life.last_reason[o]),
                status: self.life.last_status[o],
                failures: self.life.failures[o],
                at_ms: now_ms,
                incident_ms: self.life.incident_start_ms[o],
            };
            let close: Vec<u32> = self.closers[codes as usize]
                .iter()
                .copied()
                .filter(|&n| m == NONE || !kept_by(n))
                .collect();
            for n in close {
                self.push_code(n, &e, crate::config::model::Colour::Green, false);
            }
        }
    }

    /// Post-condition of a swap: every per-monitor column is the new catalog's length, and
    /// every id a list holds is one of its monitors.
    fn assert_columns(&self) {
        let n = self.catalog.len();
        assert_eq!(self.life.len(), n);
        assert!(self.sched.next_due_ms.len() >= n);
        for len in [
            self.generation.len(),
            self.in_flight.len(),
            self.checks.len(),
            self.cert_days.len(),
            self.last_colour.len(),
        ] {
            assert_eq!(len, n, "a column was not carried to the new catalog");
        }
        assert!(self.paused.iter().all(|&m| (m as usize) < n));
        assert!(self.maint_active.iter().all(|&(_, m)| (m as usize) < n));
        assert!(
            self.deadlines
                .iter()
                .flatten()
                .all(|&(m, _, _)| (m as usize) < n)
        );
        if let Some(api) = self.api.as_ref() {
            assert_eq!(api.view.len(), n);
            assert_eq!(api.tracked.len(), n);
        }
    }

    /// The new schedule: unchanged monitors keep their due time; every other one is due next
    /// on its phase's grid, within one interval.
    fn schedule_for(&self, p: &Prepared, now_ms: u64) -> Schedule {
        let n = p.catalog.len();
        let mut new_to_old = vec![NONE; n];
        for (o, &m) in p.old_to_new.iter().enumerate() {
            if m != NONE && p.same[o] {
                new_to_old[m as usize] = o as u32;
            }
        }
        let cat = &p.catalog;
        Schedule::starting_at(
            n,
            self.tick_ms as u32,
            now_ms,
            |i| match new_to_old[i] {
                NONE => on_grid(self.clock_base_ms, p.phase[i], cat.interval_ms[i], now_ms),
                o => self.sched.next_due_ms[o as usize],
            },
            |i| cat.enabled[i],
        )
    }

    /// The lifecycle columns of the new catalog, with each kept monitor's state copied in;
    /// returns the old ones.
    fn carry_life(
        &mut self,
        mut life: crate::lifecycle::Columns,
        map: &[u32],
    ) -> crate::lifecycle::Columns {
        let old = &self.life;
        for (o, &m) in map.iter().enumerate() {
            if m == NONE {
                continue;
            }
            let m = m as usize;
            life.state[m] = old.state[o];
            life.failures[m] = old.failures[o];
            life.successes[m] = old.successes[o];
            life.incident[m] = old.incident[o];
            life.attempts[m] = old.attempts[o];
            life.last_intervention_ms[m] = old.last_intervention_ms[o];
            life.verify_left[m] = old.verify_left[o];
            life.incident_start_ms[m] = old.incident_start_ms[o];
            life.last_reason[m] = old.last_reason[o];
            life.last_status[m] = old.last_status[o];
        }
        life.held = old.held;
        life.breaker_open = old.breaker_open;
        life.failing = (0..life.len())
            .filter(|&m| life.state(m as u32).is_failing())
            .count() as u64;
        std::mem::replace(&mut self.life, life)
    }

    /// Everything else that names monitors by id, renumbered (what names a removed monitor is
    /// dropped).
    fn renumber(&mut self, map: &[u32]) {
        let to = |m: u32| map.get(m as usize).copied().unwrap_or(NONE);
        for slot in &mut self.deadlines {
            slot.retain_mut(|(m, _, _)| {
                *m = to(*m);
                *m != NONE
            });
        }
        // Interventions running now finish under this era's ids.
        let running: rustc_hash::FxHashMap<u32, u32> = (0..map.len() as u32)
            .filter(|&o| self.life.state(o) == State::Intervening)
            .map(|o| (o, to(o)))
            .collect();
        for (_, m) in self.era_jobs.iter_mut() {
            for v in m.values_mut() {
                *v = if *v == NONE { NONE } else { to(*v) };
            }
        }
        self.era_jobs.push((self.era, running));
        self.era_jobs
            .retain(|(_, m)| m.values().any(|v| *v != NONE));
        let reminders = std::mem::take(&mut self.reminders);
        self.reminders = reminders
            .into_iter()
            .filter_map(|std::cmp::Reverse((due, m, inc, period))| {
                let m = to(m);
                (m != NONE).then_some(std::cmp::Reverse((due, m, inc, period)))
            })
            .collect();
        self.maint_active = self
            .maint_active
            .iter()
            .filter_map(|&(end, m)| Some((end, to(m))).filter(|(_, m)| *m != NONE))
            .collect();
        self.maint_depth = self
            .maint_depth
            .iter()
            .filter_map(|(&m, &d)| Some((to(m), d)).filter(|(m, _)| *m != NONE))
            .collect();
        self.paused = self
            .paused
            .iter()
            .map(|&m| to(m))
            .filter(|m| *m != NONE)
            .collect();
        let renumber_input = |i: &mut Input| -> bool {
            let m = match i {
                Input::Check { monitor, .. }
                | Input::InterventionDone { monitor, .. }
                | Input::MaintenanceStart { monitor }
                | Input::MaintenanceEnd { monitor } => monitor,
            };
            *m = to(*m);
            *m != NONE
        };
        self.pending_inputs.retain_mut(renumber_input);
        self.inputs.retain_mut(renumber_input);
        if let Some(api) = self.api.as_mut() {
            api.to_track = api
                .to_track
                .iter()
                .map(|&m| to(m))
                .filter(|m| *m != NONE)
                .collect();
            api.windows = api
                .windows
                .iter()
                .filter_map(|&(s, e, m)| Some((s, e, to(m))).filter(|w| w.2 != NONE))
                .collect();
        }
    }

    /// The new workers take over; the old ones finish their checks in flight and exit, their
    /// results mapped to today's ids.
    fn retire_workers(&mut self, workers: Vec<crate::probe::worker::WorkerHandle>, map: &[u32]) {
        for (_, m) in self.retiring.iter_mut() {
            for v in Arc::make_mut(m).iter_mut() {
                *v = if *v == NONE {
                    NONE
                } else {
                    map.get(*v as usize).copied().unwrap_or(NONE)
                };
            }
        }
        let shared = Arc::new(map.to_vec());
        for w in std::mem::replace(&mut self.workers, workers) {
            // Runs what is queued in its ring too: a check waiting there is not lost.
            w.request_retire();
            self.retiring.push((w, shared.clone()));
        }
    }

    /// Configured maintenance windows of the new file: those not begun wait for their start;
    /// one under way is entered now unless its monitor is in maintenance already (a window
    /// under way from the old file runs to its end).
    fn reload_maintenance(&mut self, now_ms: u64) {
        let wall = self.wall_at_epoch_ms + now_ms;
        let windows = &self.catalog.maintenance;
        self.maint_next = windows
            .iter()
            .position(|(_, w)| w.start_unix_ms > wall)
            .unwrap_or(windows.len());
        let under_way: Vec<(u64, u32)> = windows[..self.maint_next]
            .iter()
            .map(|(m, w)| (w.start_unix_ms + w.duration.as_millis() as u64, m.0))
            .filter(|&(end, m)| end > wall && !self.maint_depth.contains_key(&m))
            .collect();
        for (end, m) in under_way {
            self.maint_enter(m);
            self.maint_active.push((end, m));
        }
    }

    /// Outcomes of interventions started before a reload: the monitor's id now, or `None`.
    pub(super) fn outcome_monitor(&mut self, era: u64, monitor: u32) -> Option<u32> {
        if era == self.era {
            return Some(monitor);
        }
        let i = self.era_jobs.iter().position(|(e, _)| *e == era)?;
        let m = self.era_jobs[i].1.remove(&monitor)?;
        if self.era_jobs[i].1.is_empty() {
            self.era_jobs.swap_remove(i);
        }
        (m != NONE).then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_keeps_the_phase_and_never_goes_back() {
        assert_eq!(on_grid(0, 7, 100, 0), 7);
        assert_eq!(on_grid(0, 7, 100, 7), 7);
        assert_eq!(on_grid(0, 7, 100, 8), 107);
        assert_eq!(on_grid(1000, 7, 100, 5_050), 5_107);
        assert_eq!(on_grid(0, 0, 0, 5), 5, "a zero interval counts as 1 ms");
    }

    #[test]
    fn carry_moves_kept_values_and_fills_the_rest() {
        let mut v = vec![10u32, 20, 30];
        let old = carry(&mut v, &[2, NONE, 0], written(4, 0));
        assert_eq!(v, vec![30, 0, 10, 0]);
        assert_eq!(old, vec![10, 20, 30]);
        assert_eq!(written(3, 7u8), vec![7, 7, 7]);
    }
}
