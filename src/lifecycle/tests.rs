//! Table tests: one row per rule of SPEC 2.2 and 2.3, and one per original bug of SPEC 3 that
//! lives in the lifecycle. Each row is a script of inputs and the colours/states it must give.

use super::*;

/// A step of a script: an input (at a time) and the expected (colours sent, state after).
#[derive(Clone, Copy)]
enum Step {
    Ok,
    Fail,
    Local,
    IvOk,
    IvFail,
    MStart,
    MEnd,
    /// Advance the clock by this many ms before the next step.
    Wait(u64),
}

struct Row {
    name: &'static str,
    unhealthy: u16,
    healthy: Option<u16>,
    intervention: Option<Policy>,
    script: &'static [(Step, &'static [Colour], State)],
    /// Interventions expected to have been started in total.
    starts: usize,
}

fn run(row: &Row) {
    let healthy = row.healthy.unwrap_or(2);
    let verify = row.healthy.unwrap_or(3);
    let iv = if row.intervention.is_some() { 0 } else { NONE };
    let mut c = Columns::new(&[row.unhealthy], &[healthy], &[verify], &[iv]);
    let policies: Vec<Policy> = row.intervention.into_iter().collect();
    let mut now = 1_000u64;
    let mut starts = Vec::new();
    let mut events = Vec::new();
    for (i, (step, colours, state)) in row.script.iter().enumerate() {
        let input = match *step {
            Step::Ok => Input::Check {
                monitor: 0,
                reason: Reason::Ok,
                status: 200,
            },
            Step::Fail => Input::Check {
                monitor: 0,
                reason: Reason::Status,
                status: 500,
            },
            Step::Local => Input::Check {
                monitor: 0,
                reason: Reason::Local,
                status: 0,
            },
            Step::IvOk => Input::InterventionDone {
                monitor: 0,
                ok: true,
            },
            Step::IvFail => Input::InterventionDone {
                monitor: 0,
                ok: false,
            },
            Step::MStart => Input::MaintenanceStart { monitor: 0 },
            Step::MEnd => Input::MaintenanceEnd { monitor: 0 },
            Step::Wait(ms) => {
                now += ms;
                continue;
            }
        };
        events.clear();
        apply(&mut c, &policies, &[input], now, &mut events, &mut starts);
        let got: Vec<Colour> = events.iter().filter_map(|e| e.colour).collect();
        assert_eq!(
            &got, colours,
            "{}: step {i}: colours (events {events:?})",
            row.name
        );
        assert_eq!(c.state(0), *state, "{}: step {i}: state", row.name);
        for e in &events {
            assert_eq!(e.at_ms, now);
        }
        now += 1_000;
    }
    assert_eq!(
        starts.len(),
        row.starts,
        "{}: interventions started",
        row.name
    );
}

use Colour::{Cyan, Gray, Green, Red, Yellow};
use State::{Degraded, Down, Intervening, Maintenance, Up, Verifying};
use Step::*;

const IV: Option<Policy> = Some(Policy {
    max_attempts: 3,
    cooldown_ms: 60_000,
});

#[test]
fn healthy_stays_up_silently() {
    run(&Row {
        name: "healthy",
        unhealthy: 3,
        healthy: None,
        intervention: None,
        script: &[(Ok, &[], Up), (Ok, &[], Up), (Ok, &[], Up)],
        starts: 0,
    });
}

#[test]
fn yellow_on_first_failure_then_red_at_threshold() {
    run(&Row {
        name: "yellow then red",
        unhealthy: 3,
        healthy: None,
        intervention: None,
        script: &[
            (Fail, &[Yellow], Degraded),
            (Fail, &[], Degraded),
            (Fail, &[Red], Down),
            (Fail, &[], Down),
            (Fail, &[], Down),
        ],
        starts: 0,
    });
}

#[test]
fn threshold_one_sends_only_red() {
    run(&Row {
        name: "threshold 1",
        unhealthy: 1,
        healthy: None,
        intervention: None,
        script: &[(Fail, &[Red], Down), (Fail, &[], Down)],
        starts: 0,
    });
}

#[test]
fn success_resets_the_failure_count() {
    run(&Row {
        name: "reset",
        unhealthy: 3,
        healthy: None,
        intervention: None,
        script: &[
            (Fail, &[Yellow], Degraded),
            (Fail, &[], Degraded),
            (Ok, &[], Degraded),
            (Fail, &[], Degraded),
            (Fail, &[], Degraded),
            (Fail, &[Red], Down),
        ],
        starts: 0,
    });
}

/// SPEC 3: "green that never fires after a yellow-only episode".
#[test]
fn green_after_yellow_only_episode() {
    run(&Row {
        name: "yellow only",
        unhealthy: 3,
        healthy: None,
        intervention: None,
        script: &[
            (Fail, &[Yellow], Degraded),
            (Ok, &[], Degraded),
            (Ok, &[Green], Up),
            (Ok, &[], Up),
        ],
        starts: 0,
    });
}

#[test]
fn green_needs_k_in_a_row() {
    run(&Row {
        name: "k in a row",
        unhealthy: 1,
        healthy: Some(3),
        intervention: None,
        script: &[
            (Fail, &[Red], Down),
            (Ok, &[], Down),
            (Ok, &[], Down),
            (Fail, &[], Down),
            (Ok, &[], Down),
            (Ok, &[], Down),
            (Ok, &[Green], Up),
        ],
        starts: 0,
    });
}

/// At most one red per incident, and a new incident gets its own red.
#[test]
fn one_red_per_incident() {
    run(&Row {
        name: "one red",
        unhealthy: 2,
        healthy: None,
        intervention: None,
        script: &[
            (Fail, &[Yellow], Degraded),
            (Fail, &[Red], Down),
            (Fail, &[], Down),
            (Ok, &[], Down),
            (Fail, &[], Down),
            (Ok, &[], Down),
            (Ok, &[Green], Up),
            (Fail, &[Yellow], Degraded),
            (Fail, &[Red], Down),
        ],
        starts: 0,
    });
}

#[test]
fn intervention_success_cyan_then_verified_green() {
    run(&Row {
        name: "cyan verify green",
        unhealthy: 2,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Degraded),
            (Fail, &[], Intervening),
            (Fail, &[], Intervening),
            (IvOk, &[Cyan], Verifying),
            (Ok, &[], Verifying),
            (Ok, &[], Verifying),
            (Ok, &[Green], Up),
        ],
        starts: 1,
    });
}

#[test]
fn verify_count_is_healthy_threshold_when_set() {
    run(&Row {
        name: "verify M=K",
        unhealthy: 1,
        healthy: Some(1),
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (IvOk, &[Cyan], Verifying),
            (Ok, &[Green], Up),
        ],
        starts: 1,
    });
}

#[test]
fn failure_while_verifying_is_red() {
    run(&Row {
        name: "verify fails",
        unhealthy: 1,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (IvOk, &[Cyan], Verifying),
            (Ok, &[], Verifying),
            (Fail, &[Red], Down),
        ],
        starts: 1,
    });
}

#[test]
fn intervention_failure_is_red() {
    run(&Row {
        name: "intervention fails",
        unhealthy: 1,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (IvFail, &[Red], Down),
            (Ok, &[], Down),
            (Ok, &[Green], Up),
        ],
        starts: 1,
    });
}

/// SPEC 3: "interventions repeated without limit". Cooldown between attempts, at most
/// `max_attempts` per incident, then exhausted with no second red, and none until recovery.
#[test]
fn interventions_limited_and_cooled_down() {
    run(&Row {
        name: "limit",
        unhealthy: 1,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (IvFail, &[Red], Down),
            // Within the 60 s cooldown: no new intervention.
            (Fail, &[], Down),
            (Wait(60_000), &[], Down),
            (Fail, &[], Intervening),
            (IvFail, &[], Down),
            (Wait(60_000), &[], Down),
            (Fail, &[], Intervening),
            // Third failure of three: exhausted (an event, no colour: red was sent).
            (IvFail, &[], Down),
            (Wait(600_000), &[], Down),
            (Fail, &[], Down),
            (Fail, &[], Down),
            (Ok, &[], Down),
            (Ok, &[Green], Up),
            // A new incident may intervene again.
            (Fail, &[Yellow], Intervening),
        ],
        starts: 4,
    });
}

#[test]
fn pulses_during_intervention_do_not_move_state() {
    run(&Row {
        name: "intervening",
        unhealthy: 1,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (Ok, &[], Intervening),
            (Ok, &[], Intervening),
            (Ok, &[], Intervening),
            (Fail, &[], Intervening),
            (IvOk, &[Cyan], Verifying),
        ],
        starts: 1,
    });
}

#[test]
fn maintenance_is_gray_and_silences_everything() {
    run(&Row {
        name: "maintenance",
        unhealthy: 1,
        healthy: None,
        intervention: IV,
        script: &[
            (Fail, &[Yellow], Intervening),
            (MStart, &[Gray], Maintenance),
            (IvFail, &[], Maintenance),
            (Fail, &[], Maintenance),
            (Fail, &[], Maintenance),
            (MStart, &[], Maintenance),
            (MEnd, &[], Up),
            (Ok, &[], Up),
            (Fail, &[Yellow], Intervening),
        ],
        starts: 2,
    });
}

#[test]
fn local_errors_change_nothing() {
    run(&Row {
        name: "local",
        unhealthy: 1,
        healthy: None,
        intervention: None,
        script: &[(Local, &[], Up), (Local, &[], Up), (Fail, &[Red], Down)],
        starts: 0,
    });
}

#[test]
fn stale_intervention_outcome_is_ignored() {
    run(&Row {
        name: "stale outcome",
        unhealthy: 3,
        healthy: None,
        intervention: IV,
        script: &[
            (IvOk, &[], Up),
            (IvFail, &[], Up),
            (Fail, &[Yellow], Degraded),
        ],
        starts: 0,
    });
}

/// Many monitors in one batch: each moves on its own, events carry their monitor.
#[test]
fn batch_of_many_monitors() {
    let n = 1000;
    let mut c = Columns::new(&vec![2; n], &vec![2; n], &vec![3; n], &vec![NONE; n]);
    let inputs: Vec<Input> = (0..n as u32)
        .flat_map(|m| {
            let reason = if m % 2 == 0 {
                Reason::Timeout
            } else {
                Reason::Ok
            };
            [Input::Check {
                monitor: m,
                reason,
                status: 0,
            }; 2]
        })
        .collect();
    let mut events = Vec::new();
    let mut starts = Vec::new();
    apply(&mut c, &[], &inputs, 5, &mut events, &mut starts);
    assert_eq!(events.len(), n); // yellow + red for each even monitor
    assert!(
        events
            .iter()
            .all(|e| e.monitor % 2 == 0 && e.reason == Reason::Timeout)
    );
    let counts = c.state_counts();
    assert_eq!(counts[State::Up as usize], 500);
    assert_eq!(counts[State::Down as usize], 500);
}

/// The circuit breaker: with more than `pause_above` monitors failing, a monitor that would
/// start its intervention is left degraded instead (held, counted); once the failing count is
/// back under the threshold, its next failure starts the intervention.
#[test]
fn breaker_holds_interventions_while_many_fail_and_releases_them() {
    let n = 10usize;
    let mut c = Columns::new(&vec![1; n], &vec![2; n], &vec![3; n], &vec![0; n]);
    c.pause_above = 3;
    let policies = [Policy {
        max_attempts: 3,
        cooldown_ms: 0,
    }];
    let fail = |m: u32| Input::Check {
        monitor: m,
        reason: Reason::Refused,
        status: 0,
    };
    let (mut events, mut starts) = (Vec::new(), Vec::new());
    let inputs: Vec<Input> = (0..n as u32).map(fail).collect();
    apply(&mut c, &policies, &inputs, 1000, &mut events, &mut starts);
    // The first four start (failing goes 0..=3, each start counted after its decision); the
    // fifth sees 4 failing > 3 and is held.
    assert_eq!(starts, vec![0, 1, 2, 3]);
    assert_eq!(c.failing, 10);
    assert_eq!(c.held, 6);
    for m in 4..n {
        assert_eq!(c.state(m as u32), State::Degraded, "monitor {m}");
    }
    // Monitors 0..=7 recover (green needs 2 successes; intervening ones get their outcome).
    let ok = |m: u32| Input::Check {
        monitor: m,
        reason: Reason::Ok,
        status: 200,
    };
    let mut inputs: Vec<Input> = (0..4)
        .map(|m| Input::InterventionDone {
            monitor: m,
            ok: false,
        })
        .collect();
    apply(&mut c, &policies, &inputs, 2000, &mut events, &mut starts);
    inputs = (0..8).flat_map(|m| [ok(m), ok(m)]).collect();
    apply(&mut c, &policies, &inputs, 3000, &mut events, &mut starts);
    assert_eq!(c.failing, 2);
    starts.clear();
    apply(
        &mut c,
        &policies,
        &[fail(8)],
        4000,
        &mut events,
        &mut starts,
    );
    assert_eq!(starts, vec![8], "released: the next failure intervenes");
    assert_eq!(c.state(8), State::Intervening);
}

/// The failing count follows every transition, maintenance included.
#[test]
fn failing_count_tracks_transitions() {
    let mut c = Columns::new(&[2], &[1], &[3], &[NONE]);
    let (mut ev, mut st) = (Vec::new(), Vec::new());
    let f = Input::Check {
        monitor: 0,
        reason: Reason::Timeout,
        status: 0,
    };
    apply(&mut c, &[], &[f], 0, &mut ev, &mut st);
    assert_eq!(c.failing, 1); // degraded
    apply(&mut c, &[], &[f], 1, &mut ev, &mut st);
    assert_eq!(c.failing, 1); // down
    apply(
        &mut c,
        &[],
        &[Input::MaintenanceStart { monitor: 0 }],
        2,
        &mut ev,
        &mut st,
    );
    assert_eq!(c.failing, 0);
    apply(
        &mut c,
        &[],
        &[Input::MaintenanceEnd { monitor: 0 }],
        3,
        &mut ev,
        &mut st,
    );
    assert_eq!(c.failing, 0);
}
