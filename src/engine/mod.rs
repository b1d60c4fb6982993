//! The engine: one thread that owns the mutable monitor columns and runs the tick loop.
//!
//! Each tick, in this order:
//! 1. drain every worker's completion ring; accept a result only if its monitor is in flight
//!    with the same generation (anything else is late and dropped, and counted);
//! 2. drain intervention outcomes, fire lost-result deadlines, start/end maintenance windows;
//! 3. apply the whole batch of inputs to the lifecycle in one pass, turn its events into codes
//!    (to the notifier thread) and intervention jobs (to the intervention thread);
//! 4. advance the timing wheel, sweep the chunks it hands back, and push one batch of requests
//!    per worker into its ring, waking each worker once.
//!
//! The engine is the only writer of the columns, so none of this takes a lock. Workers see
//! only `Request`s and the read-only catalog. Scheduling is fixed-rate from the due time:
//! dispatching or skipping a monitor moves its due time by whole intervals, never to "now".

pub mod reload;
pub mod snap;
/// Kept here for the paths tests and tools use; it lives in [`crate::stats`].
pub use crate::stats;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::view::{self, Command, EventRecord, HistoryEntry, Published, Reply, View};
use crate::config::model::{Colour, InterventionSpec};
use crate::effects::Effects;
use crate::effects::intervene::Job;
use crate::effects::render::Code;
use crate::lifecycle::{self, Event, Input, Policy, State};
use crate::limits::{
    FD_RESERVE, IN_FLIGHT_PER_WORKER_MAX, LOST_RESULT_GRACE_MS, STOP_GRACE_MS, WHEEL_SLOTS,
};
use crate::probe::resolve::Resolver;
use crate::probe::tls::TlsConfigs;
use crate::probe::worker::{self, NO_CERT, WorkerConfig, WorkerHandle};
use crate::probe::{Completion, Request};
use crate::schedule::{Schedule, is_due};
use crate::store::{Catalog, MonitorId, NONE, first_due_ms};
use crate::vocab::Reason;
use stats::{Histogram, Percentiles, Stats, Summary};

/// How to run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Probe worker threads.
    pub workers: usize,
    /// Pin each worker to its own core.
    pub pin: bool,
    pub tick: Duration,
    /// Checks in flight per worker; `None` = derived from the open-file limit.
    pub in_flight_per_worker: Option<usize>,
    /// Keep every event in memory for [`Engine::take_events`] (tests, the demo).
    pub record_events: bool,
    /// Extra trusted CA certificates (PEM) for https and tls checks, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Where what must survive a crash lives (the outbox); `None`: memory only.
    pub state_dir: Option<std::path::PathBuf>,
    /// This cpra's name (`--name`): in every code.
    pub instance: String,
    /// Where the engine clock starts, in ms (0 unless a restored incident began before this
    /// process: its start must be a time on the clock). See [`crate::snapshot`].
    pub clock_base_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            pin: true,
            tick: Duration::from_millis(crate::limits::TICK_MS_DEFAULT),
            in_flight_per_worker: None,
            record_events: false,
            ca_file: None,
            state_dir: None,
            instance: crate::effects::instance_name(),
            clock_base_ms: 0,
        }
    }
}

/// One monitor as the engine sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorStatus {
    pub state: State,
    /// Results accepted so far.
    pub checks: u32,
    pub last_reason: Reason,
    pub last_status: u16,
    pub in_flight: bool,
    /// Days to the certificate's expiry at the last https/tls check (`None` if none seen).
    pub cert_days: Option<i32>,
}

/// Raises the soft open-file limit to the hard one and returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// Checks per worker that fit in the open-file limit.
pub fn in_flight_per_worker(workers: usize) -> usize {
    let nofile = raise_nofile_limit() as usize;
    (nofile.saturating_sub(FD_RESERVE) / workers.max(1)).clamp(16, IN_FLIGHT_PER_WORKER_MAX)
}

pub struct Engine {
    catalog: Arc<Catalog>,
    /// The clock of the last step: steps never go back in time.
    stepped_ms: u64,
    sched: Schedule,
    life: lifecycle::Columns,
    policies: Vec<Policy>,
    interventions: Vec<Arc<InterventionSpec>>,
    generation: Vec<u32>,
    in_flight: Vec<u8>,
    checks: Vec<u32>,
    /// Days to certificate expiry from the last https/tls result (`NO_CERT` when none).
    cert_days: Vec<i32>,
    /// Lost-result backstop: per slot, `(monitor, generation, backstop_ms)`.
    deadlines: Vec<Vec<(u32, u32, u32)>>,
    deadline_tick: u64,
    workers: Vec<WorkerHandle>,
    effects: Effects,
    epoch: Instant,
    wall_at_epoch_ms: u64,
    tick_ms: u64,
    stats: Stats,
    /// Counters since the last status line.
    window_start: Instant,
    window_checks: u64,
    window_lateness: Histogram,
    maint_next: usize,
    maint_active: Vec<(u64, u32)>,
    maint_depth: std::collections::HashMap<u32, u32>,
    stopping: bool,
    record_events: bool,
    recorded: Vec<Event>,
    // Scratch, reused every tick.
    due_chunks: Vec<u32>,
    batches: Vec<Vec<Request>>,
    completions: Vec<Completion>,
    inputs: Vec<Input>,
    events: Vec<Event>,
    starts: Vec<u32>,
    scratch: Vec<(u32, u32, u32)>,
    /// Codes of this tick, `(notifier, code)`, handed to the outbox in one batch.
    codes_out: Vec<(u32, Code)>,
    /// Per interned codes set: notifiers that hold incidents (PagerDuty, Alertmanager) and got
    /// a red, yellow or cyan of it but not its green: they get the green (and gray) too.
    closers: Vec<Vec<u32>>,
    /// Open reds to send again: `(due ms, monitor, incident start ms, period ms)`.
    reminders: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32, u64, u64)>>,
    remind_default_ms: u64,
    instance: Arc<str>,
    /// The circuit breaker as last announced (open = interventions held).
    breaker_open: bool,
    breaker_since_ms: u64,
    /// Notifiers that hear about the breaker: every notifier a red of a monitor with an
    /// intervention goes to (deduplicated, at most 64).
    breaker_notifiers: Vec<u32>,
    /// The API's view and what this tick adds to it (see [`Engine::attach_view`]).
    api: Option<ApiSide>,
    clock_base_ms: u64,
    /// Wall clock ms when this engine started.
    started_wall_ms: u64,
    /// Snapshot writing (see [`Engine::enable_snapshots`]).
    snap: Option<snap::SnapSide>,
    /// Cells restored from a snapshot, for the view once it is attached.
    restored_cells: Vec<(u32, view::Cell)>,
    /// Paused by the API: no checks, maintenance (gray) until resumed.
    paused: rustc_hash::FxHashSet<u32>,
    /// Inputs for the first tick (a restored intervention that died with the process).
    pending_inputs: Vec<Input>,
    /// Per monitor: colour of its last code + 1 (0: none), for the snapshot.
    last_colour: Vec<u8>,
    /// How probe workers are started (again at a reload).
    crew: Crew,
    /// Reloads applied so far: interventions carry it (see [`reload`]).
    era: u64,
    /// Interventions started before a reload, still running: `(era, old id → id now)`.
    era_jobs: Vec<(u64, rustc_hash::FxHashMap<u32, u32>)>,
    /// Workers of an earlier configuration finishing their checks in flight, each with the
    /// map from its ids to today's (`NONE`: the result is not wanted).
    retiring: Vec<(WorkerHandle, Arc<Vec<u32>>)>,
    /// Where prepared reloads arrive (see [`Engine::accept_reloads`]).
    reloads: Option<reload::Link>,
}

/// Parts of the engine that follow from a catalog alone: built off the engine thread for a
/// reload.
pub(crate) struct Parts {
    life: lifecycle::Columns,
    policies: Vec<Policy>,
    interventions: Vec<Arc<InterventionSpec>>,
    closers: Vec<Vec<u32>>,
    breaker_notifiers: Vec<u32>,
}

impl Parts {
    fn of(catalog: &Catalog) -> Parts {
        let mut life = lifecycle::Columns::new(
            &catalog.unhealthy_threshold,
            &catalog.healthy_threshold,
            &catalog.verify_checks,
            &catalog.intervention_of,
        );
        life.pause_above = pause_above(catalog);
        Parts {
            life,
            policies: catalog
                .interventions
                .iter()
                .map(|i| Policy {
                    max_attempts: i.max_attempts,
                    cooldown_ms: i.cooldown.as_millis() as u64,
                })
                .collect(),
            interventions: catalog
                .interventions
                .iter()
                .map(|i| Arc::new(i.clone()))
                .collect(),
            closers: closers_of(catalog),
            breaker_notifiers: breaker_notifiers_of(catalog),
        }
    }
}

/// What starting a probe worker takes besides the catalog.
struct Crew {
    /// Loaded on the first catalog with a TLS monitor.
    tls: Option<TlsConfigs>,
    ca_file: Option<std::path::PathBuf>,
    cores: Vec<core_affinity::CoreId>,
    in_flight: usize,
}

impl Crew {
    /// Workers `indexes` for `catalog`, with a resolver of its names when it needs one.
    fn spawn(
        &mut self,
        catalog: &Arc<Catalog>,
        epoch: Instant,
        indexes: std::ops::Range<usize>,
    ) -> io::Result<Vec<WorkerHandle>> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        // Roots are loaded once, and only when some monitor speaks TLS.
        if self.tls.is_none() && catalog.kinds.iter().any(|k| k.is_tls()) {
            self.tls = Some(
                TlsConfigs::load(self.ca_file.as_deref())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            );
        }
        // Names are resolved again now and then, and redirects may lead to new names: both
        // happen on the resolver thread, never on a probe loop.
        let needs_resolver = catalog
            .targets
            .iter()
            .any(|t| t.host.parse::<std::net::IpAddr>().is_err())
            || catalog
                .specs
                .iter()
                .any(|s| matches!(s, crate::store::ProbeSpec::Http(h) if h.follow_redirects > 0));
        let resolver = if needs_resolver {
            Some(Resolver::start(&catalog.targets)?)
        } else {
            None
        };
        let mut out: Vec<WorkerHandle> = Vec::with_capacity(indexes.len());
        for index in indexes {
            let core = (!self.cores.is_empty()).then(|| self.cores[index % self.cores.len()]);
            let started = worker::spawn(
                catalog.clone(),
                epoch,
                WorkerConfig {
                    index,
                    core,
                    in_flight_max: self.in_flight,
                    tls: self.tls.clone(),
                    resolver: resolver.clone(),
                },
            );
            match started {
                Ok(w) => out.push(w),
                Err(e) => {
                    // The ones already started must not run on (and hold the catalog) for ever.
                    for w in &mut out {
                        w.request_stop();
                        w.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }
}

/// The engine's side of the API view: the command channel, which monitors keep a result
/// history, and this tick's additions (flushed under one lock).
struct ApiSide {
    view: Arc<View>,
    commands: std::sync::mpsc::Receiver<view::Asked>,
    tracked: Vec<bool>,
    to_track: Vec<u32>,
    events: Vec<EventRecord>,
    results: Vec<(u32, HistoryEntry)>,
    next_publish_ms: u64,
    /// Maintenance windows asked for by the API: `(start wall ms, end wall ms, monitor)`.
    windows: Vec<(u64, u64, u32)>,
    /// Answers to send once this tick's transitions are in the view.
    replies: Vec<(std::sync::mpsc::SyncSender<Reply>, Reply)>,
}

impl Engine {
    /// Builds the columns, starts the workers and the effect threads. Checks begin on the first
    /// [`step`](Self::step), each monitor's first one spread over its first interval.
    pub fn new(catalog: Catalog, cfg: EngineConfig) -> io::Result<Engine> {
        Engine::build(Arc::new(catalog), cfg, None)
    }

    /// An engine whose workers are the given handles (for example
    /// [`WorkerHandle::detached`] ones, played by a bench or a test).
    pub fn with_workers(
        catalog: Arc<Catalog>,
        cfg: EngineConfig,
        workers: Vec<WorkerHandle>,
    ) -> io::Result<Engine> {
        Engine::build(catalog, cfg, Some(workers))
    }

    fn build(
        catalog: Arc<Catalog>,
        cfg: EngineConfig,
        given: Option<Vec<WorkerHandle>>,
    ) -> io::Result<Engine> {
        let n = catalog.len();
        let tick_ms = cfg.tick.as_millis().clamp(1, 1000) as u64;
        let base = cfg.clock_base_ms;
        let sched = Schedule::starting_at(
            n,
            tick_ms as u32,
            base,
            |i| {
                (base as u32).wrapping_add(first_due_ms(
                    catalog.strings.get(catalog.names[i]),
                    catalog.interval_ms[i],
                ))
            },
            |i| catalog.enabled[i],
        );
        let Parts {
            life,
            policies,
            interventions,
            closers,
            breaker_notifiers,
        } = Parts::of(&catalog);
        let workers_n = given.as_ref().map_or(cfg.workers, |w| w.len()).max(1);
        let in_flight = cfg
            .in_flight_per_worker
            .unwrap_or_else(|| in_flight_per_worker(workers_n));
        let cores = if cfg.pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let epoch = Instant::now();
        let wall_now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        // Engine time `t` is wall time `wall_at_epoch_ms + t`; the clock starts at `base`.
        let wall_at_epoch_ms = wall_now_ms.saturating_sub(base);
        let effects = Effects::start(
            &catalog.notifiers,
            crate::effects::notify::NotifyOptions {
                state_dir: cfg.state_dir.clone(),
                instance: std::sync::Arc::from(cfg.instance.as_str()),
                alerting: catalog.alerting,
                ..Default::default()
            },
        )?;
        let mut crew = Crew {
            tls: None,
            ca_file: cfg.ca_file.clone(),
            cores,
            in_flight,
        };
        let mut workers = given.unwrap_or_default();
        let first = workers.len();
        workers.extend(crew.spawn(&catalog, epoch, first..workers_n)?);
        // Windows that already ended are skipped; the rest start when their time comes.
        let maint_next = catalog
            .maintenance
            .iter()
            .position(|(_, w)| w.start_unix_ms + w.duration.as_millis() as u64 > wall_now_ms)
            .unwrap_or(catalog.maintenance.len());
        Ok(Engine {
            stepped_ms: 0,
            sched,
            life,
            policies,
            interventions,
            generation: vec![0; n],
            in_flight: vec![0; n],
            checks: vec![0; n],
            cert_days: vec![NO_CERT; n],
            deadlines: (0..WHEEL_SLOTS).map(|_| Vec::new()).collect(),
            deadline_tick: 0,
            batches: (0..workers_n).map(|_| Vec::new()).collect(),
            workers,
            effects,
            epoch,
            wall_at_epoch_ms,
            tick_ms,
            stats: Stats::default(),
            window_start: epoch,
            clock_base_ms: base,
            started_wall_ms: wall_now_ms,
            snap: None,
            restored_cells: Vec::new(),
            paused: Default::default(),
            pending_inputs: Vec::new(),
            last_colour: vec![0; n],
            window_checks: 0,
            window_lateness: Histogram::default(),
            maint_next,
            maint_active: Vec::new(),
            maint_depth: Default::default(),
            stopping: false,
            record_events: cfg.record_events,
            recorded: Vec::new(),
            due_chunks: Vec::new(),
            completions: Vec::new(),
            inputs: Vec::new(),
            events: Vec::new(),
            starts: Vec::new(),
            scratch: Vec::new(),
            codes_out: Vec::new(),
            closers,
            crew,
            era: 0,
            era_jobs: Vec::new(),
            retiring: Vec::new(),
            reloads: None,
            reminders: Default::default(),
            remind_default_ms: catalog
                .alerting
                .remind_every
                .map_or(0, |d| d.as_millis() as u64),
            instance: Arc::from(cfg.instance.as_str()),
            breaker_open: false,
            breaker_since_ms: 0,
            breaker_notifiers,
            catalog,
            api: None,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + self.clock_base_ms
    }

    /// Publishes this engine's state to a new [`View`] for the API server, from the next tick
    /// on: cells per result and transition, events and histories once per tick, counters every
    /// `API_PUBLISH_MS`. `config_load_s` is shown as `cpra_config_load_seconds`.
    pub fn attach_view(&mut self, config_load_s: f64) -> Arc<View> {
        let (view, commands) = View::new(
            self.catalog.clone(),
            self.instance.clone(),
            self.started_wall_ms,
            config_load_s,
        );
        for (m, c) in std::mem::take(&mut self.restored_cells) {
            view.update(m, |cell| *cell = c);
        }
        let n = self.catalog.len();
        let all = n <= crate::limits::HISTORY_MONITORS_MAX;
        self.api = Some(ApiSide {
            view: view.clone(),
            commands,
            tracked: vec![all; n],
            to_track: Vec::new(),
            events: Vec::new(),
            results: Vec::new(),
            next_publish_ms: 0,
            windows: Vec::new(),
            replies: Vec::new(),
        });
        view
    }

    /// The API's view of the configuration running now, once attached.
    pub fn view(&self) -> Option<Arc<View>> {
        self.api.as_ref().map(|a| a.view.clone())
    }

    fn wall_s(&self, now_ms: u64) -> u32 {
        ((self.wall_at_epoch_ms + now_ms) / 1000).min(u64::from(u32::MAX)) as u32
    }

    /// A result into the view: the cell now, the history at the end of the tick.
    fn view_result(&mut self, m: u32, reason: Reason, status: u16, latency_us: u32, now_ms: u64) {
        let wall_s = self.wall_s(now_ms);
        let Some(api) = self.api.as_mut() else {
            return;
        };
        api.view.update(m, |c| {
            c.reason = reason;
            c.status = status;
            c.latency_us = latency_us;
            c.checked_s = wall_s;
        });
        if api.tracked[m as usize] {
            api.results.push((
                m,
                HistoryEntry {
                    wall_s,
                    latency_us,
                    status,
                    reason: reason as u8,
                },
            ));
        }
    }

    /// A transition into the view. A monitor that leaves `up` starts keeping its results.
    fn view_event(&mut self, e: &Event) {
        let wall_ms = self.wall_at_epoch_ms + e.at_ms;
        let paused = self.paused.contains(&e.monitor);
        let Some(api) = self.api.as_mut() else {
            return;
        };
        api.events.push(EventRecord {
            seq: 0,
            wall_ms,
            monitor: e.monitor,
            from: e.from,
            to: e.to,
            colour: e.colour,
            cause: e.cause,
            reason: e.reason,
            status: e.status,
        });
        let m = e.monitor as usize;
        if m >= api.tracked.len() {
            return; // The breaker's announcements belong to no monitor.
        }
        api.view.update(e.monitor, |c| {
            c.state = e.to;
            c.paused = paused;
            c.since_s = (wall_ms / 1000).min(u64::from(u32::MAX)) as u32;
            if e.colour.is_some() {
                c.colour = e.colour;
            }
        });
        if e.from == State::Up && !api.tracked[m] {
            api.tracked[m] = true;
            api.to_track.push(e.monitor);
        }
    }

    /// Once per tick: applies the API's commands, flushes this tick's additions under one
    /// lock, and publishes the counters when it is time.
    fn serve_view(&mut self, now_ms: u64) {
        let Some(api) = self.api.as_mut() else {
            return;
        };
        api.view.common().last_tick_wall_ms.store(
            self.wall_at_epoch_ms + now_ms,
            std::sync::atomic::Ordering::Relaxed,
        );
        // The cells already show this tick's transitions: a pause answers "maintenance".
        for (r, answer) in api.replies.drain(..) {
            let _ = r.send(answer);
        }
        let publish = now_ms >= api.next_publish_ms;
        if !publish && api.events.is_empty() && api.results.is_empty() && api.to_track.is_empty() {
            return;
        }
        let published = publish.then(|| self.published(now_ms));
        let Some(api) = self.api.as_mut() else {
            return;
        };
        if publish {
            api.next_publish_ms = now_ms + crate::limits::API_PUBLISH_MS;
        }
        let mut evicted = Vec::new();
        {
            let mut shared = api.view.shared();
            for m in api.to_track.drain(..) {
                evicted.extend(shared.history.track(m));
            }
        }
        for m in evicted {
            api.tracked[m as usize] = false;
        }
        api.view
            .record(&mut api.events, &mut api.results, published);
    }

    fn published(&mut self, now_ms: u64) -> Published {
        let paused = self.paused.len() as u64;
        Published {
            wall_ms: self.wall_at_epoch_ms + now_ms,
            stats: self.stats.clone(),
            notify: self.effects.notify_counters().snapshot(),
            notify_by_kind: self.effects.notify_counters().by_kind(),
            paused,
            in_flight: self.stats.dispatched.saturating_sub(self.stats.checks),
            rings: self
                .workers
                .iter_mut()
                .map(|w| {
                    let cap = w.requests.capacity();
                    (cap - w.requests.free(), w.completions.len())
                })
                .collect(),
            held_by_breaker: self.life.held,
            breaker_open: self.breaker_open,
        }
    }

    /// The API's commands of this tick (before the inputs are applied, so a pause's gray code
    /// goes out in the same tick).
    fn take_commands(&mut self, now_ms: u64) {
        let Some(api) = self.api.as_mut() else {
            return;
        };
        let mut batch = Vec::new();
        while let Ok(c) = api.commands.try_recv() {
            batch.push(c);
            if batch.len() >= 1024 {
                break; // The rest next tick: a flood of commands cannot stall a tick.
            }
        }
        for (c, number, reply) in batch {
            let current = self.api.as_ref().map_or(0, |a| a.view.number);
            let answer = if number == current {
                self.command(c, now_ms)
            } else {
                Err("the configuration was reloaded while asking; ask again".into())
            };
            if let (Some(r), Some(api)) = (reply, self.api.as_mut()) {
                api.replies.push((r, answer));
            }
        }
        self.api_windows(now_ms);
    }

    fn command(&mut self, c: Command, now_ms: u64) -> Reply {
        match c {
            Command::Pause(m) => self.pause(m),
            Command::Resume(m) => self.resume(m, now_ms),
            Command::Maintenance {
                monitor,
                start_wall_ms,
                duration_ms,
            } => {
                let end = start_wall_ms.saturating_add(duration_ms);
                let api = self.api.as_mut().ok_or("no view")?;
                if api.windows.len() >= crate::limits::API_WINDOWS_PENDING_MAX {
                    return Err(format!(
                        "{} maintenance windows are already waiting to start; try again after some have",
                        crate::limits::API_WINDOWS_PENDING_MAX
                    ));
                }
                api.windows.push((start_wall_ms, end, monitor));
                Ok(format!(
                    "maintenance from {} to {}",
                    crate::effects::render::rfc3339(start_wall_ms),
                    crate::effects::render::rfc3339(end)
                ))
            }
            Command::Track(m) => {
                let api = self.api.as_mut().ok_or("no view")?;
                if (m as usize) < api.tracked.len() && !api.tracked[m as usize] {
                    api.tracked[m as usize] = true;
                    api.to_track.push(m);
                }
                Ok(String::new())
            }
        }
    }

    fn set_active(&mut self, m: u32, on: bool) {
        let (c, bit) = (
            m as usize / crate::limits::CHUNK_MONITORS,
            m as usize % crate::limits::CHUNK_MONITORS,
        );
        if on {
            self.sched.active[c] |= 1u64 << bit;
        } else {
            self.sched.active[c] &= !(1u64 << bit);
        }
    }

    fn pause(&mut self, m: u32) -> Reply {
        let i = m as usize;
        if i >= self.catalog.len() {
            return Err("no such monitor".into());
        }
        if !self.catalog.enabled[i] {
            return Err("the monitor is disabled in the configuration: it is not checked".into());
        }
        if !self.paused.insert(m) {
            return Ok("already paused".into());
        }
        if let Some(s) = self.snap.as_mut() {
            s.dirty = true;
        }
        if let Some(api) = self.api.as_ref() {
            api.view.update(m, |c| c.paused = true);
        }
        self.set_active(m, false);
        if self.in_flight[i] != 0 {
            // Its result, should it come, belongs to no check any more.
            self.in_flight[i] = 0;
            self.generation[i] = self.generation[i].wrapping_add(1);
        }
        self.maint_enter(m);
        Ok("paused: no checks and no codes until resumed".into())
    }

    fn resume(&mut self, m: u32, now_ms: u64) -> Reply {
        let i = m as usize;
        if !self.paused.remove(&m) {
            return Ok("not paused".into());
        }
        if let Some(s) = self.snap.as_mut() {
            s.dirty = true;
        }
        if let Some(api) = self.api.as_ref() {
            api.view.update(m, |c| c.paused = false);
        }
        self.maint_leave(m);
        if self.catalog.enabled[i] {
            self.set_active(m, true);
        }
        self.sched.next_due_ms[i] = now_ms as u32;
        self.sched.wake((i / crate::limits::CHUNK_MONITORS) as u32);
        Ok("resumed: checking again".into())
    }

    /// Windows asked for by the API whose start has come.
    fn api_windows(&mut self, now_ms: u64) {
        let wall = self.wall_at_epoch_ms + now_ms;
        let Some(api) = self.api.as_mut() else {
            return;
        };
        if api.windows.is_empty() {
            return;
        }
        let mut due = Vec::new();
        api.windows.retain(|&(start, end, m)| {
            if start <= wall {
                due.push((end, m));
                false
            } else {
                true
            }
        });
        for (end, m) in due {
            if end > wall {
                self.maint_enter(m);
                self.maint_active.push((end, m));
            }
        }
    }

    fn maint_enter(&mut self, m: u32) {
        let depth = self.maint_depth.entry(m).or_insert(0);
        *depth += 1;
        if *depth == 1 {
            self.inputs.push(Input::MaintenanceStart { monitor: m });
        }
    }

    fn maint_leave(&mut self, m: u32) {
        let depth = self.maint_depth.entry(m).or_insert(1);
        *depth = depth.saturating_sub(1);
        if *depth == 0 {
            self.maint_depth.remove(&m);
            self.inputs.push(Input::MaintenanceEnd { monitor: m });
        }
    }

    /// One monitor's current status, by name (linear search: for tests and tools).
    pub fn status_of(&self, name: &str) -> Option<MonitorStatus> {
        let m =
            (0..self.catalog.len()).find(|i| self.catalog.name(MonitorId(*i as u32)) == name)?;
        Some(self.status(MonitorId(m as u32)))
    }

    pub fn status(&self, m: MonitorId) -> MonitorStatus {
        let i = m.0 as usize;
        MonitorStatus {
            state: self.life.state(m.0),
            checks: self.checks[i],
            last_reason: Reason::from_u8(self.life.last_reason[i]),
            last_status: self.life.last_status[i],
            in_flight: self.in_flight[i] != 0,
            cert_days: (self.cert_days[i] != NO_CERT).then_some(self.cert_days[i]),
        }
    }

    /// Events recorded since the last call (only with `record_events`).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.recorded)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Runs one tick's work at the current time.
    pub fn step(&mut self) {
        let now_ms = self.now_ms();
        self.step_at(now_ms);
    }

    /// Runs one tick's work as if the engine clock read `now_ms`. `step` calls this with the
    /// real clock; benches drive a virtual clock through it. Time must not go backwards.
    pub fn step_at(&mut self, now_ms: u64) {
        assert!(now_ms >= self.stepped_ms, "the engine clock went back");
        self.stepped_ms = now_ms;
        self.take_reload(now_ms);
        self.inputs.clear();
        self.inputs.append(&mut self.pending_inputs);
        self.collect_completions(now_ms);
        self.collect_outcomes();
        self.fire_lost_deadlines(now_ms);
        self.maintenance(now_ms);
        self.take_commands(now_ms);
        self.apply_inputs(now_ms);
        self.remind(now_ms);
        self.watch_breaker(now_ms);
        self.flush_codes();
        if !self.stopping {
            self.dispatch(now_ms);
        }
        self.serve_view(now_ms);
        self.snapshot_step(now_ms);
    }

    fn collect_completions(&mut self, now_ms: u64) {
        let mut completions = std::mem::take(&mut self.completions);
        for w in 0..self.workers.len() {
            completions.clear();
            let cap = self.workers[w].completions.capacity();
            self.workers[w].completions.pop_batch(&mut completions, cap);
            for c in &completions {
                self.take_completion(c.monitor, c, now_ms);
            }
        }
        // Workers of an earlier configuration: their ids mapped to today's.
        let mut w = 0;
        while w < self.retiring.len() {
            completions.clear();
            let finished = self.retiring[w].0.is_finished();
            let cap = self.retiring[w].0.completions.capacity();
            self.retiring[w]
                .0
                .completions
                .pop_batch(&mut completions, cap);
            for c in &completions {
                let m = self.retiring[w]
                    .1
                    .get(c.monitor as usize)
                    .copied()
                    .unwrap_or(NONE);
                self.take_completion(m, c, now_ms);
            }
            if finished && completions.is_empty() {
                let (mut gone, _) = self.retiring.swap_remove(w);
                gone.join();
            } else {
                w += 1;
            }
        }
        self.completions = completions;
    }

    /// One result, for monitor `monitor` (its id now), accepted if that check is in flight.
    fn take_completion(&mut self, monitor: u32, c: &Completion, now_ms: u64) {
        let m = monitor as usize;
        if m >= self.in_flight.len() || self.in_flight[m] == 0 || self.generation[m] != c.generation
        {
            self.stats.late_dropped += 1;
            return;
        }
        self.in_flight[m] = 0;
        let reason = Reason::from_u8(c.reason);
        self.stats.by_reason[reason as usize] += 1;
        self.stats.checks += 1;
        assert!(
            self.stats.checks <= self.stats.dispatched,
            "a result nobody asked for"
        );
        self.window_checks += 1;
        self.checks[m] = self.checks[m].saturating_add(1);
        if c.cert_days != NO_CERT {
            self.cert_days[m] = c.cert_days;
        }
        self.stats.lateness_us.record(u64::from(c.lateness_us));
        self.window_lateness.record(u64::from(c.lateness_us));
        self.stats.latency_us.record(u64::from(c.latency_us));
        let kind = usize::from(self.catalog.kinds[m].0).min(stats::KINDS - 1);
        self.stats.by_kind_reason[kind][reason as usize] += 1;
        self.inputs.push(Input::Check {
            monitor,
            reason,
            status: c.status,
        });
        self.view_result(monitor, reason, c.status, c.latency_us, now_ms);
    }

    fn collect_outcomes(&mut self) {
        while let Ok(mut o) = self.effects.outcomes.try_recv() {
            if self.stopping {
                continue; // Killed by our own shutdown: not the monitor's doing.
            }
            match self.outcome_monitor(o.era, o.monitor) {
                Some(m) => o.monitor = m,
                None => continue, // Its monitor was removed by a reload.
            }
            if o.ok {
                self.stats.interventions_succeeded += 1;
            } else {
                self.stats.interventions_failed += 1;
                crate::say!(
                    "cpra: intervention for {:?} failed: {}",
                    self.catalog.name(MonitorId(o.monitor)),
                    o.detail
                );
            }
            self.inputs.push(Input::InterventionDone {
                monitor: o.monitor,
                ok: o.ok,
            });
        }
    }

    fn fire_lost_deadlines(&mut self, now_ms: u64) {
        let now_tick = now_ms / self.tick_ms;
        if now_tick <= self.deadline_tick {
            return;
        }
        let first = (self.deadline_tick + 1).max(now_tick.saturating_sub(WHEEL_SLOTS as u64 - 1));
        let now32 = now_ms as u32;
        for tick in first..=now_tick {
            let slot = (tick % WHEEL_SLOTS as u64) as usize;
            std::mem::swap(&mut self.scratch, &mut self.deadlines[slot]);
            for k in 0..self.scratch.len() {
                let (m, g, at) = self.scratch[k];
                let i = m as usize;
                if self.in_flight[i] == 0 || self.generation[i] != g {
                    continue; // Already answered.
                }
                if !is_due(now32, at) {
                    self.deadlines[slot].push((m, g, at)); // A later revolution.
                    continue;
                }
                self.in_flight[i] = 0;
                self.stats.lost += 1;
                self.stats.checks += 1;
                self.stats.by_reason[Reason::Lost as usize] += 1;
                self.checks[i] = self.checks[i].saturating_add(1);
                let kind = usize::from(self.catalog.kinds[i].0).min(stats::KINDS - 1);
                self.stats.by_kind_reason[kind][Reason::Lost as usize] += 1;
                self.inputs.push(Input::Check {
                    monitor: m,
                    reason: Reason::Lost,
                    status: 0,
                });
                self.view_result(m, Reason::Lost, 0, 0, now_ms);
            }
            self.scratch.clear();
        }
        self.deadline_tick = now_tick;
    }

    fn maintenance(&mut self, now_ms: u64) {
        let wall = self.wall_at_epoch_ms + now_ms;
        while let Some((m, w)) = self.catalog.maintenance.get(self.maint_next) {
            if w.start_unix_ms > wall {
                break;
            }
            self.maint_next += 1;
            let end = w.start_unix_ms + w.duration.as_millis() as u64;
            if end <= wall {
                continue;
            }
            let m = m.0;
            self.maint_enter(m);
            self.maint_active.push((end, m));
        }
        let mut i = 0;
        while i < self.maint_active.len() {
            let (end, m) = self.maint_active[i];
            if end <= wall {
                self.maint_active.swap_remove(i);
                self.maint_leave(m);
            } else {
                i += 1;
            }
        }
    }

    fn apply_inputs(&mut self, now_ms: u64) {
        if self.inputs.is_empty() {
            return;
        }
        self.events.clear();
        self.starts.clear();
        lifecycle::apply(
            &mut self.life,
            &self.policies,
            &self.inputs,
            now_ms,
            &mut self.events,
            &mut self.starts,
        );
        self.stats.events += self.events.len() as u64;
        if !self.events.is_empty()
            && let Some(s) = self.snap.as_mut()
        {
            s.dirty = true;
        }
        for i in 0..self.events.len() {
            let e = self.events[i];
            if let Some(colour) = e.colour {
                if let Some(c) = self.last_colour.get_mut(e.monitor as usize) {
                    *c = colour as u8 + 1;
                }
                self.code_for(&e, colour, false);
            }
            self.view_event(&e);
        }
        for &m in &self.starts {
            if self.stopping {
                break; // No new remediation while stopping; its outcome would be ignored.
            }
            let id = self.catalog.intervention_of[m as usize];
            let Some(spec) = self.interventions.get(id as usize) else {
                continue;
            };
            self.stats.interventions_started += 1;
            self.effects.start_intervention(Job {
                monitor: m,
                era: self.era,
                name: self.catalog.name(MonitorId(m)).to_string(),
                spec: spec.clone(),
                reason: Reason::from_u8(self.life.last_reason[m as usize]),
                instance: self.instance.clone(),
            });
        }
        if self.record_events {
            self.recorded.extend_from_slice(&self.events);
        }
    }

    /// Routes the code of event `e` to its notifier (and a green or gray also to the notifiers
    /// holding the incident), and files a reminder for a red.
    fn code_for(&mut self, e: &Event, colour: Colour, reminder: bool) {
        let codes = self.catalog.codes_of[e.monitor as usize];
        if codes == NONE {
            return;
        }
        let route = self.catalog.code_routes[codes as usize][colour as usize];
        if route.notifier != NONE && !route.dispatch {
            self.stats.codes_recorded[colour as usize] += 1;
        } else if route.notifier != NONE {
            self.push_code(route.notifier, e, colour, reminder);
        }
        if matches!(colour, Colour::Green | Colour::Gray) {
            for k in 0..self.closers[codes as usize].len() {
                let n = self.closers[codes as usize][k];
                if n != route.notifier || !route.dispatch {
                    self.push_code(n, e, colour, false);
                }
            }
        }
        if colour == Colour::Red && route.notifier != NONE && route.dispatch {
            let period = if route.remind_ms > 0 {
                route.remind_ms
            } else {
                self.remind_default_ms
            };
            if period > 0 && !reminder {
                self.reminders.push(std::cmp::Reverse((
                    e.at_ms + period,
                    e.monitor,
                    e.incident_ms,
                    period,
                )));
            }
        }
    }

    fn push_code(&mut self, notifier: u32, e: &Event, colour: Colour, reminder: bool) {
        self.stats.codes_sent[colour as usize] += 1;
        self.codes_out.push((
            notifier,
            Code {
                monitor: self.catalog.name(MonitorId(e.monitor)).to_string(),
                colour,
                event: *e,
                wall_ms: self.wall_at_epoch_ms + e.at_ms,
                incident_wall_ms: self.wall_at_epoch_ms + e.incident_ms,
                reminder,
            },
        ));
    }

    /// Sends again the reds that are still open when their reminder comes due.
    fn remind(&mut self, now_ms: u64) {
        while let Some(std::cmp::Reverse((due, m, incident, period))) =
            self.reminders.peek().copied()
        {
            if due > now_ms {
                break;
            }
            self.reminders.pop();
            let i = m as usize;
            let state = self.life.state(m);
            if self.life.incident_start_ms[i] != incident
                || !state.is_failing() && state != State::Verifying
            {
                continue; // Recovered (or a new incident, with its own reminder).
            }
            if !matches!(state, State::Down | State::Intervening) {
                // Still the same open incident (verifying, or degraded again): keep the chain.
                self.reminders
                    .push(std::cmp::Reverse((now_ms + period, m, incident, period)));
                continue;
            }
            let e = Event {
                monitor: m,
                from: state,
                to: state,
                colour: Some(Colour::Red),
                cause: lifecycle::Cause::Reminder,
                reason: Reason::from_u8(self.life.last_reason[i]),
                status: self.life.last_status[i],
                failures: self.life.failures[i],
                at_ms: now_ms,
                incident_ms: incident,
            };
            self.stats.reminders += 1;
            self.code_for(&e, Colour::Red, true);
            self.reminders
                .push(std::cmp::Reverse((now_ms + period, m, incident, period)));
        }
    }

    /// Announces the circuit breaker opening and closing (the lifecycle enforces it): an event
    /// on stderr and a code to the notifiers of the monitors with interventions. It closes when
    /// the failing count is back below 80 % of the threshold, so it does not flap.
    fn watch_breaker(&mut self, now_ms: u64) {
        self.life.update_breaker();
        let (failing, above, open) = (
            self.life.failing,
            self.life.pause_above,
            self.life.breaker_open,
        );
        if open == self.breaker_open {
            return;
        }
        self.breaker_open = open;
        if open {
            self.breaker_since_ms = now_ms;
        }
        let (colour, cause, word) = if open {
            (
                Colour::Yellow,
                lifecycle::Cause::InterventionsPaused,
                "held",
            )
        } else {
            (
                Colour::Green,
                lifecycle::Cause::InterventionsResumed,
                "resumed",
            )
        };
        crate::say!(
            "cpra: interventions {word}: {failing} monitors failing at once (breaker threshold {above})"
        );
        self.stats.breaker_trips += u64::from(open);
        let e = Event {
            monitor: u32::MAX,
            from: State::Up,
            to: State::Up,
            colour: Some(colour),
            cause,
            reason: Reason::Ok,
            status: 0,
            failures: failing.min(u64::from(u16::MAX)) as u16,
            at_ms: now_ms,
            // The opening and the closing are one incident (one PagerDuty dedup_key).
            incident_ms: self.breaker_since_ms,
        };
        self.view_event(&e);
        for k in 0..self.breaker_notifiers.len() {
            let n = self.breaker_notifiers[k];
            self.stats.codes_sent[colour as usize] += 1;
            self.codes_out.push((
                n,
                Code {
                    monitor: BREAKER_MONITOR.to_string(),
                    colour,
                    event: e,
                    wall_ms: self.wall_at_epoch_ms + now_ms,
                    incident_wall_ms: self.wall_at_epoch_ms + self.breaker_since_ms,
                    reminder: false,
                },
            ));
        }
    }

    /// Hands this tick's codes to the outbox in one message.
    fn flush_codes(&mut self) {
        if !self.codes_out.is_empty() {
            let batch = std::mem::take(&mut self.codes_out);
            self.effects.send_codes(batch);
        }
    }

    /// Moves `m`'s due time forward by whole intervals past `now`, counting intervals missed
    /// entirely (only possible when the engine itself stalled) as skipped.
    fn advance_due(&mut self, m: usize, now_ms: u64) {
        let interval = self.catalog.interval_ms[m].max(1);
        let due = self.sched.next_due_ms[m];
        let late = (now_ms as u32).wrapping_sub(due);
        let periods = late / interval + 1;
        self.stats.skipped += u64::from(periods - 1);
        self.sched.next_due_ms[m] = due.wrapping_add(periods.wrapping_mul(interval));
    }

    fn dispatch(&mut self, now_ms: u64) {
        self.due_chunks.clear();
        self.sched.advance(now_ms, &mut self.due_chunks);
        if self.due_chunks.is_empty() {
            return;
        }
        let workers = self.workers.len();
        for b in &mut self.batches {
            b.clear();
        }
        let now32 = now_ms as u32;
        let now_us = now_ms * 1000;
        for ci in 0..self.due_chunks.len() {
            let c = self.due_chunks[ci];
            let mut mask = self.sched.sweep(c, now_ms);
            while mask != 0 {
                let bit = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let m = c as usize * crate::limits::CHUNK_MONITORS + bit;
                if self.in_flight[m] != 0 {
                    self.stats.skipped += 1;
                    self.advance_due(m, now_ms);
                    continue;
                }
                let late_ms = now32.wrapping_sub(self.sched.next_due_ms[m]);
                let due_ms = now_ms.saturating_sub(u64::from(late_ms));
                self.batches[m % workers].push(Request {
                    monitor: m as u32,
                    generation: self.generation[m].wrapping_add(1),
                    due_us: due_ms * 1000,
                    deadline_us: now_us + u64::from(self.catalog.timeout_ms[m]) * 1000,
                });
            }
        }
        for w in 0..workers {
            let batch = std::mem::take(&mut self.batches[w]);
            let pushed = self.workers[w].requests.push_batch(&batch);
            for r in &batch[..pushed] {
                let m = r.monitor as usize;
                self.generation[m] = r.generation;
                self.in_flight[m] = 1;
                self.advance_due(m, now_ms);
                // Post-condition: the next due time is ahead (on the 32-bit wrapping clock).
                assert!((self.sched.next_due_ms[m].wrapping_sub(now32) as i32) > 0);
                let backstop_ms = r.deadline_us / 1000 + LOST_RESULT_GRACE_MS;
                let slot = ((backstop_ms / self.tick_ms) % WHEEL_SLOTS as u64) as usize;
                self.deadlines[slot].push((r.monitor, r.generation, backstop_ms as u32));
            }
            self.stats.dispatched += pushed as u64;
            // What did not fit stays due and is picked up on the next tick.
            self.stats.deferred += (batch.len() - pushed) as u64;
            if pushed > 0 {
                let _ = self.workers[w].waker.wake();
            }
            self.batches[w] = batch;
        }
        for ci in 0..self.due_chunks.len() {
            let c = self.due_chunks[ci];
            self.sched.refile(c, now_ms);
        }
    }

    /// The one-line status: throughput, states, lateness, skipped and deferred since the last
    /// line. Resets the window.
    pub fn status_line(&mut self) -> String {
        let secs = self.window_start.elapsed().as_secs_f64().max(1e-3);
        let counts = self.life.state_counts();
        let n = self.effects.notify_counters().snapshot();
        let line = format!(
            "cpra: checks/s={:.1} (expected {:.1}) up={} degraded={} down={} intervening={} verifying={} maintenance={} lateness p50={:.1}ms p99={:.1}ms skipped={} deferred={} lost={} codes={} delivered={} queued={} failed={} dropped={}",
            self.window_checks as f64 / secs,
            self.catalog.expected_checks_per_s(),
            counts[State::Up as usize],
            counts[State::Degraded as usize],
            counts[State::Down as usize],
            counts[State::Intervening as usize],
            counts[State::Verifying as usize],
            counts[State::Maintenance as usize],
            self.window_lateness.quantile(0.5) as f64 / 1000.0,
            self.window_lateness.quantile(0.99) as f64 / 1000.0,
            self.stats.skipped,
            self.stats.deferred,
            self.stats.lost,
            self.stats.codes_sent.iter().sum::<u64>(),
            n.delivered,
            n.undelivered,
            n.failed,
            n.dropped,
        );
        self.window_start = Instant::now();
        self.window_checks = 0;
        self.window_lateness.clear();
        line
    }

    /// Runs ticks until `keep_going` says stop, calling `on_status` every `status_every`.
    pub fn run(
        &mut self,
        mut keep_going: impl FnMut() -> bool,
        status_every: Duration,
        mut on_status: impl FnMut(String),
    ) {
        let tick = self.tick();
        let mut next_tick = Instant::now();
        let mut next_status = Instant::now() + status_every;
        while keep_going() {
            self.step();
            let now = Instant::now();
            if now >= next_status {
                let line = self.status_line();
                on_status(line);
                next_status += status_every;
            }
            next_tick += tick;
            if next_tick > now {
                std::thread::sleep(next_tick - now);
            } else {
                // Behind: do not try to catch up tick by tick; the wheel catches up by itself.
                next_tick = now;
            }
        }
    }

    /// Stops cleanly: no new checks; in-flight checks finish or time out; their results go
    /// through the lifecycle; interventions are stopped; notifiers get a last delivery.
    pub fn shutdown(self) -> Summary {
        self.shutdown_within(Duration::from_millis(STOP_GRACE_MS), || false)
    }

    /// [`Engine::shutdown`], bounded: checks still in flight after `grace`, or as soon as
    /// `hurry` says so (a second signal), are abandoned and counted `cancelled_at_stop`.
    pub fn shutdown_within(mut self, grace: Duration, hurry: impl Fn() -> bool) -> Summary {
        self.stopping = true;
        for w in &self.workers {
            w.request_stop();
        }
        let t0 = Instant::now();
        let mut aborted = false;
        loop {
            self.step();
            if self.workers.iter().all(|w| w.is_finished()) && self.retiring.is_empty() {
                break;
            }
            if !aborted && (t0.elapsed() >= grace || hurry()) {
                aborted = true;
                for w in self
                    .workers
                    .iter()
                    .chain(self.retiring.iter().map(|(w, _)| w))
                {
                    w.request_abort();
                }
            }
            std::thread::sleep(self.tick());
        }
        for w in &mut self.workers {
            w.join();
        }
        self.step(); // What the workers pushed before exiting.
        self.final_snapshot();
        // Requests still queued in a ring when its worker stopped never ran.
        let cancelled = self.in_flight.iter().filter(|f| **f != 0).count() as u64;
        self.effects.stop_interventions();
        let notify = self.effects.finish_notifications();
        let duration_s = self.epoch.elapsed().as_secs_f64();
        let s = &self.stats;
        let failures: u64 = s
            .by_reason
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != Reason::Ok as usize && *i != Reason::Local as usize)
            .map(|(_, v)| v)
            .sum();
        Summary {
            monitors: self.catalog.len(),
            enabled: self.catalog.enabled.iter().filter(|e| **e).count(),
            workers: self.workers.len(),
            duration_s,
            expected_checks_per_s: self.catalog.expected_checks_per_s(),
            checks_per_s: s.checks as f64 / duration_s.max(1e-3),
            checks: s.checks,
            dispatched: s.dispatched,
            failures,
            results_by_reason: stats::reason_counts(&s.by_reason, false),
            failures_by_reason: stats::reason_counts(&s.by_reason, true),
            states: stats::state_counts(&self.life.state_counts()),
            lateness_ms: Percentiles::ms(&s.lateness_us),
            latency_ms: Percentiles::ms(&s.latency_us),
            skipped: s.skipped,
            deferred: s.deferred,
            lost: s.lost,
            late_dropped: s.late_dropped,
            cancelled_at_stop: cancelled,
            events: s.events,
            codes: stats::CodeCounts {
                sent: stats::colour_counts(&s.codes_sent),
                recorded: stats::colour_counts(&s.codes_recorded),
                reminders: s.reminders,
                delivered: notify.delivered,
                failed: notify.failed,
                undelivered: notify.undelivered,
                dropped: notify.dropped,
                failed_attempts: notify.failed_attempts,
                digests: notify.digests,
                recovered: notify.recovered,
                outbox_errors: notify.outbox_errors,
            },
            interventions: stats::InterventionCounts {
                started: s.interventions_started,
                succeeded: s.interventions_succeeded,
                failed: s.interventions_failed,
                held_by_breaker: self.life.held,
                breaker_trips: s.breaker_trips,
            },
        }
    }
}

pub use crate::vocab::BREAKER_MONITOR;

/// The breaker threshold: the `remediation:` block's, else 5 % of enabled monitors (at least
/// 50). `u64::MAX` when no monitor has an intervention or the breaker is off.
fn pause_above(catalog: &Catalog) -> u64 {
    use crate::config::model::PauseAbove;
    use crate::limits::{INTERVENTION_PAUSE_MONITORS_MIN, INTERVENTION_PAUSE_PERCENT};
    if catalog.intervention_of.iter().all(|i| *i == NONE) {
        return u64::MAX;
    }
    let enabled = catalog.enabled.iter().filter(|e| **e).count() as u64;
    let share = |pc: u64| (enabled * pc).div_ceil(100).max(1);
    match catalog.remediation.pause_above {
        Some(PauseAbove::Off) => u64::MAX,
        Some(PauseAbove::Monitors(n)) => n,
        Some(PauseAbove::Percent(pc)) => share(u64::from(pc)),
        None => share(INTERVENTION_PAUSE_PERCENT).max(INTERVENTION_PAUSE_MONITORS_MIN),
    }
}

fn breaker_notifiers_of(catalog: &Catalog) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for m in 0..catalog.len() {
        let codes = catalog.codes_of[m];
        if catalog.intervention_of[m] == NONE || codes == NONE {
            continue;
        }
        let r = catalog.code_routes[codes as usize][Colour::Red as usize];
        if r.notifier != NONE && r.dispatch && !out.contains(&r.notifier) {
            out.push(r.notifier);
            if out.len() >= 64 {
                break;
            }
        }
    }
    out
}

/// Per interned codes set, the notifiers that hold incidents and would otherwise never see
/// the green that closes them (see [`crate::effects::notify::holds_incidents`]).
fn closers_of(catalog: &Catalog) -> Vec<Vec<u32>> {
    catalog
        .code_routes
        .iter()
        .map(|routes| {
            let mut out: Vec<u32> = Vec::new();
            for c in [Colour::Red, Colour::Yellow, Colour::Cyan] {
                let r = routes[c as usize];
                if r.notifier != NONE
                    && r.dispatch
                    && !out.contains(&r.notifier)
                    && crate::effects::notify::holds_incidents(
                        &catalog.notifiers[r.notifier as usize],
                    )
                {
                    out.push(r.notifier);
                }
            }
            out
        })
        .collect()
}

impl Drop for Engine {
    /// An engine dropped without [`Engine::shutdown`] still stops its workers.
    fn drop(&mut self) {
        for w in self
            .workers
            .iter()
            .chain(self.retiring.iter().map(|(w, _)| w))
        {
            w.request_stop();
        }
    }
}
