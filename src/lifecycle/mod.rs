//! The lifecycle: how check results and intervention outcomes move a monitor through its
//! states, and which colour each move sends (SPEC section 2).
//!
//! It is a pure function, [`apply`], over the lifecycle columns and a batch of [`Input`]s: no
//! clock reads, no I/O, no allocation beyond the caller's output vectors. That makes every rule
//! a table row in the tests below, and lets the engine apply a whole tick's results in one pass.
//!
//! Decisions where the SPEC leaves room (also in `docs/architecture.md`):
//! - A monitor starts `up`.
//! - The first failure after `up` sends yellow, unless that same failure reaches the threshold
//!   with no intervention, in which case it sends only red (one code per transition).
//! - With an intervention, reaching the threshold starts it (state `intervening`) without a code;
//!   pulses go on and are counted, but only the intervention's outcome moves the state.
//! - An intervention that fails sends red (once per incident). While the incident is open and
//!   checks keep failing, another intervention runs once `cooldown` has passed since the last
//!   one, up to `max_attempts`; after that an "interventions exhausted" event (no second red).
//! - Maintenance (gray) ignores results and intervention outcomes; leaving it returns to `up`
//!   with counters cleared and no code.
//! - Results with reason `local` (cpra's own failure to run a check) change nothing.

use crate::vocab::{Colour, NONE, Reason};

/// A monitor's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    Up = 0,
    Degraded = 1,
    Down = 2,
    Intervening = 3,
    Verifying = 4,
    Maintenance = 5,
}

impl State {
    pub const COUNT: usize = 6;
    pub const ALL: [State; State::COUNT] = [
        State::Up,
        State::Degraded,
        State::Down,
        State::Intervening,
        State::Verifying,
        State::Maintenance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Intervening => "intervening",
            State::Verifying => "verifying",
            State::Maintenance => "maintenance",
        }
    }

    pub fn from_name(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|v| v.name() == s)
    }

    /// Degraded, down or intervening: what the circuit breaker counts.
    pub fn is_failing(self) -> bool {
        matches!(self, State::Degraded | State::Down | State::Intervening)
    }

    fn from_u8(v: u8) -> State {
        State::ALL.get(v as usize).copied().unwrap_or(State::Up)
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cause {
    /// First failure after being up.
    FirstFailure,
    /// Failures reached `unhealthy_threshold` and there is no intervention.
    ThresholdReached,
    InterventionStarted,
    InterventionFailed,
    InterventionSucceeded,
    /// No interventions left for this incident.
    InterventionsExhausted,
    /// A check failed while verifying an intervention.
    VerificationFailed,
    /// `healthy_threshold` successes in a row.
    Recovered,
    /// The verification window passed.
    Verified,
    MaintenanceStarted,
    MaintenanceEnded,
    /// Not a transition: an open red sent again (`remind_every`).
    Reminder,
    /// Not a monitor's: the circuit breaker holds new interventions.
    InterventionsPaused,
    /// Not a monitor's: the circuit breaker let interventions run again.
    InterventionsResumed,
    /// Not a transition: a reload removed the monitor (or gave it another target) while its
    /// incident was open; the notifiers holding the incident get this green.
    Removed,
}

impl Cause {
    pub const ALL: [Cause; 15] = [
        Cause::FirstFailure,
        Cause::ThresholdReached,
        Cause::InterventionStarted,
        Cause::InterventionFailed,
        Cause::InterventionSucceeded,
        Cause::InterventionsExhausted,
        Cause::VerificationFailed,
        Cause::Recovered,
        Cause::Verified,
        Cause::MaintenanceStarted,
        Cause::MaintenanceEnded,
        Cause::Reminder,
        Cause::InterventionsPaused,
        Cause::InterventionsResumed,
        Cause::Removed,
    ];

    pub fn from_name(s: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|v| v.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Cause::FirstFailure => "first_failure",
            Cause::ThresholdReached => "threshold_reached",
            Cause::InterventionStarted => "intervention_started",
            Cause::InterventionFailed => "intervention_failed",
            Cause::InterventionSucceeded => "intervention_succeeded",
            Cause::InterventionsExhausted => "interventions_exhausted",
            Cause::VerificationFailed => "verification_failed",
            Cause::Recovered => "recovered",
            Cause::Verified => "verified",
            Cause::MaintenanceStarted => "maintenance_started",
            Cause::MaintenanceEnded => "maintenance_ended",
            Cause::Reminder => "reminder",
            Cause::InterventionsPaused => "interventions_paused",
            Cause::InterventionsResumed => "interventions_resumed",
            Cause::Removed => "removed",
        }
    }
}

/// Something that happened to one monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A check finished (accepted by the engine: right generation, before its deadline).
    Check {
        monitor: u32,
        reason: Reason,
        status: u16,
    },
    /// An intervention finished after all its attempts.
    InterventionDone {
        monitor: u32,
        ok: bool,
    },
    MaintenanceStart {
        monitor: u32,
    },
    MaintenanceEnd {
        monitor: u32,
    },
}

/// A transition. Every transition is an event; `colour` is set when it sends a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub monitor: u32,
    pub from: State,
    pub to: State,
    pub colour: Option<Colour>,
    pub cause: Cause,
    /// The last check's reason and HTTP status (0 when none) at the time of the event.
    pub reason: Reason,
    pub status: u16,
    /// Consecutive failures at the time of the event.
    pub failures: u16,
    pub at_ms: u64,
    /// When the monitor's current (or, for green, just closed) episode of trouble began, on the
    /// engine clock: the first failure after `up`. Notifiers derive the incident id from it,
    /// so a trigger and its resolve carry the same id.
    pub incident_ms: u64,
}

/// Per-intervention policy the lifecycle needs (indexed by interned intervention id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_attempts: u32,
    pub cooldown_ms: u64,
}

const INCIDENT_OPEN: u8 = 1;
const RED_SENT: u8 = 2;
const EXHAUSTED: u8 = 4;

/// The lifecycle columns: one entry per monitor.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub state: Vec<u8>,
    pub failures: Vec<u16>,
    pub successes: Vec<u16>,
    /// Bits: incident open, red sent in this incident, interventions exhausted.
    pub incident: Vec<u8>,
    /// Interventions started in the current incident.
    pub attempts: Vec<u8>,
    /// When the last intervention started (ms on the engine clock), for the cooldown.
    pub last_intervention_ms: Vec<u64>,
    /// Successes still needed to pass verification.
    pub verify_left: Vec<u16>,
    /// Start of the current episode of trouble (first failure after `up`), engine clock ms.
    pub incident_start_ms: Vec<u64>,
    pub last_reason: Vec<u8>,
    pub last_status: Vec<u16>,
    /// Monitors failing right now (degraded, down or intervening), kept by every transition.
    pub failing: u64,
    /// The circuit breaker: while more than this many monitors fail at once (a network fault,
    /// not the services), no new intervention starts. `u64::MAX` = off.
    pub pause_above: u64,
    /// Interventions the breaker held (monitors left degraded instead of intervening).
    pub held: u64,
    /// The breaker is open: it opens above `pause_above` failing monitors and closes below
    /// 80 % of it, so it does not flap on the threshold.
    pub breaker_open: bool,
    // Configuration, copied from the catalog at start so one pass reads one set of columns.
    pub unhealthy_threshold: Vec<u16>,
    pub healthy_threshold: Vec<u16>,
    pub verify_checks: Vec<u16>,
    pub intervention: Vec<u32>,
}

impl Columns {
    /// Columns for monitors with the given thresholds and intervention ids, all `up`.
    pub fn new(
        unhealthy_threshold: &[u16],
        healthy_threshold: &[u16],
        verify_checks: &[u16],
        intervention: &[u32],
    ) -> Columns {
        let n = unhealthy_threshold.len();
        Columns {
            state: vec![State::Up as u8; n],
            failures: vec![0; n],
            successes: vec![0; n],
            incident: vec![0; n],
            attempts: vec![0; n],
            last_intervention_ms: vec![0; n],
            verify_left: vec![0; n],
            incident_start_ms: vec![0; n],
            failing: 0,
            pause_above: u64::MAX,
            held: 0,
            breaker_open: false,
            last_reason: vec![Reason::Ok as u8; n],
            last_status: vec![0; n],
            unhealthy_threshold: unhealthy_threshold.to_vec(),
            healthy_threshold: healthy_threshold.to_vec(),
            verify_checks: verify_checks.to_vec(),
            intervention: intervention.to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    pub fn state(&self, m: u32) -> State {
        State::from_u8(self.state[m as usize])
    }

    /// Opens the circuit breaker above `pause_above` failing monitors, closes it below 80 %.
    pub fn update_breaker(&mut self) {
        if self.breaker_open {
            self.breaker_open = self.failing.saturating_mul(5) > self.pause_above.saturating_mul(4);
        } else {
            self.breaker_open = self.failing > self.pause_above;
        }
    }

    /// Monitors per state, indexed by `State as usize`.
    pub fn state_counts(&self) -> [u64; State::COUNT] {
        let mut counts = [0u64; State::COUNT];
        for s in &self.state {
            counts[(*s as usize).min(State::COUNT - 1)] += 1;
        }
        counts
    }
}

struct Ctx<'a> {
    events: &'a mut Vec<Event>,
    now_ms: u64,
}

impl Ctx<'_> {
    fn emit(&mut self, c: &mut Columns, m: usize, to: State, colour: Option<Colour>, cause: Cause) {
        let from = State::from_u8(c.state[m]);
        c.state[m] = to as u8;
        c.failing =
            (c.failing + u64::from(to.is_failing())).saturating_sub(u64::from(from.is_failing()));
        self.events.push(Event {
            monitor: m as u32,
            from,
            to,
            colour,
            cause,
            reason: Reason::from_u8(c.last_reason[m]),
            status: c.last_status[m],
            failures: c.failures[m],
            at_ms: self.now_ms,
            incident_ms: c.incident_start_ms[m],
        });
    }
}

/// Applies `inputs` in order. Appends every transition to `events` and the monitors whose
/// intervention must start now to `start_interventions`. `policies` is indexed by the
/// intervention ids in `c.intervention`.
pub fn apply(
    c: &mut Columns,
    policies: &[Policy],
    inputs: &[Input],
    now_ms: u64,
    events: &mut Vec<Event>,
    start_interventions: &mut Vec<u32>,
) {
    let mut cx = Ctx { events, now_ms };
    for input in inputs {
        match *input {
            Input::Check {
                monitor,
                reason,
                status,
            } => {
                let m = monitor as usize;
                if m >= c.len() || reason == Reason::Local {
                    continue;
                }
                if c.state[m] == State::Maintenance as u8 {
                    continue;
                }
                c.last_reason[m] = reason as u8;
                c.last_status[m] = status;
                if reason.is_ok() {
                    on_success(c, &mut cx, m);
                } else {
                    on_failure(c, policies, &mut cx, m, start_interventions);
                }
            }
            Input::InterventionDone { monitor, ok } => {
                let m = monitor as usize;
                if m >= c.len() || c.state[m] != State::Intervening as u8 {
                    continue;
                }
                if ok {
                    c.verify_left[m] = c.verify_checks[m].max(1);
                    c.successes[m] = 0;
                    cx.emit(
                        c,
                        m,
                        State::Verifying,
                        Some(Colour::Cyan),
                        Cause::InterventionSucceeded,
                    );
                } else {
                    let colour = red_once(c, m);
                    cx.emit(c, m, State::Down, colour, Cause::InterventionFailed);
                    note_exhausted(c, policies, &mut cx, m);
                }
            }
            Input::MaintenanceStart { monitor } => {
                let m = monitor as usize;
                if m >= c.len() || c.state[m] == State::Maintenance as u8 {
                    continue;
                }
                cx.emit(
                    c,
                    m,
                    State::Maintenance,
                    Some(Colour::Gray),
                    Cause::MaintenanceStarted,
                );
            }
            Input::MaintenanceEnd { monitor } => {
                let m = monitor as usize;
                if m >= c.len() || c.state[m] != State::Maintenance as u8 {
                    continue;
                }
                c.failures[m] = 0;
                c.successes[m] = 0;
                c.incident[m] = 0;
                c.attempts[m] = 0;
                c.verify_left[m] = 0;
                cx.emit(c, m, State::Up, None, Cause::MaintenanceEnded);
            }
        }
    }
}

/// Red if this incident has not had one yet.
fn red_once(c: &mut Columns, m: usize) -> Option<Colour> {
    c.incident[m] |= INCIDENT_OPEN;
    if c.incident[m] & RED_SENT == 0 {
        c.incident[m] |= RED_SENT;
        Some(Colour::Red)
    } else {
        None
    }
}

fn on_success(c: &mut Columns, cx: &mut Ctx<'_>, m: usize) {
    c.failures[m] = 0;
    c.successes[m] = c.successes[m].saturating_add(1);
    match State::from_u8(c.state[m]) {
        State::Up | State::Intervening | State::Maintenance => {}
        State::Degraded | State::Down => {
            if c.successes[m] >= c.healthy_threshold[m].max(1) {
                close_incident(c, m);
                cx.emit(c, m, State::Up, Some(Colour::Green), Cause::Recovered);
            }
        }
        State::Verifying => {
            c.verify_left[m] = c.verify_left[m].saturating_sub(1);
            if c.verify_left[m] == 0 {
                close_incident(c, m);
                cx.emit(c, m, State::Up, Some(Colour::Green), Cause::Verified);
            }
        }
    }
}

fn close_incident(c: &mut Columns, m: usize) {
    c.incident[m] = 0;
    c.attempts[m] = 0;
    c.verify_left[m] = 0;
    c.successes[m] = 0;
}

/// Can another intervention start now for this incident? Not while the circuit breaker is
/// open (more than `pause_above` monitors failing at once): those are counted as held.
fn may_intervene(c: &mut Columns, policies: &[Policy], now_ms: u64, m: usize) -> bool {
    if !may_intervene_policy(c, policies, now_ms, m) {
        return false;
    }
    c.update_breaker();
    if c.breaker_open {
        c.held += 1;
        return false;
    }
    true
}

fn may_intervene_policy(c: &Columns, policies: &[Policy], now_ms: u64, m: usize) -> bool {
    let id = c.intervention[m];
    if id == NONE {
        return false;
    }
    let Some(p) = policies.get(id as usize) else {
        return false;
    };
    let attempts = u32::from(c.attempts[m]);
    attempts < p.max_attempts
        && (attempts == 0 || now_ms.saturating_sub(c.last_intervention_ms[m]) >= p.cooldown_ms)
}

fn start_intervention(c: &mut Columns, cx: &Ctx<'_>, m: usize, starts: &mut Vec<u32>) {
    c.incident[m] |= INCIDENT_OPEN;
    c.attempts[m] = c.attempts[m].saturating_add(1);
    c.last_intervention_ms[m] = cx.now_ms;
    starts.push(m as u32);
}

/// After an intervention failed: if no attempt is left, say so once (red was already sent).
fn note_exhausted(c: &mut Columns, policies: &[Policy], cx: &mut Ctx<'_>, m: usize) {
    let id = c.intervention[m];
    let Some(p) = policies.get(id as usize) else {
        return;
    };
    if u32::from(c.attempts[m]) >= p.max_attempts && c.incident[m] & EXHAUSTED == 0 {
        c.incident[m] |= EXHAUSTED;
        let colour = red_once(c, m);
        cx.emit(c, m, State::Down, colour, Cause::InterventionsExhausted);
    }
}

fn on_failure(
    c: &mut Columns,
    policies: &[Policy],
    cx: &mut Ctx<'_>,
    m: usize,
    starts: &mut Vec<u32>,
) {
    c.successes[m] = 0;
    c.failures[m] = c.failures[m].saturating_add(1);
    let reached = c.failures[m] >= c.unhealthy_threshold[m].max(1);
    let has_intervention = c.intervention[m] != NONE;
    match State::from_u8(c.state[m]) {
        State::Up => {
            c.incident_start_ms[m] = cx.now_ms;
            if reached && has_intervention && may_intervene(c, policies, cx.now_ms, m) {
                start_intervention(c, cx, m, starts);
                cx.emit(
                    c,
                    m,
                    State::Intervening,
                    Some(Colour::Yellow),
                    Cause::InterventionStarted,
                );
            } else if reached && !has_intervention {
                let colour = red_once(c, m);
                cx.emit(c, m, State::Down, colour, Cause::ThresholdReached);
            } else {
                cx.emit(
                    c,
                    m,
                    State::Degraded,
                    Some(Colour::Yellow),
                    Cause::FirstFailure,
                );
            }
        }
        State::Degraded => {
            if !reached {
                return;
            }
            if has_intervention {
                if may_intervene(c, policies, cx.now_ms, m) {
                    start_intervention(c, cx, m, starts);
                    cx.emit(c, m, State::Intervening, None, Cause::InterventionStarted);
                }
            } else {
                let colour = red_once(c, m);
                cx.emit(c, m, State::Down, colour, Cause::ThresholdReached);
            }
        }
        State::Down => {
            if has_intervention
                && c.incident[m] & EXHAUSTED == 0
                && may_intervene(c, policies, cx.now_ms, m)
            {
                start_intervention(c, cx, m, starts);
                cx.emit(c, m, State::Intervening, None, Cause::InterventionStarted);
            }
        }
        State::Verifying => {
            let colour = red_once(c, m);
            cx.emit(c, m, State::Down, colour, Cause::VerificationFailed);
            note_exhausted(c, policies, cx, m);
        }
        State::Intervening | State::Maintenance => {}
    }
}

#[cfg(test)]
mod tests;
