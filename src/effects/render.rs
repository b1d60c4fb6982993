//! The words of a code: the code object every notifier renders from (SPEC 2.4's log line is
//! that object on one line), the incident id and idempotency key, and the outbox record.
//!
//! Kept apart from delivery so that every notifier renders the same facts the same way, and so
//! that the format is tested without files or sockets. The schema is documented for receivers
//! in `docs/notifiers.md`.

use serde::{Deserialize, Serialize};

use crate::config::model::Colour;
use crate::lifecycle::{Cause, Event, State};
use crate::vocab::Reason;

/// A code on its way to a notifier: the event that fired it and the monitor's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Code {
    pub monitor: String,
    pub colour: Colour,
    pub event: Event,
    /// Wall-clock time of the event, ms since the Unix epoch.
    pub wall_ms: u64,
    /// Wall-clock start of the incident (episode of trouble) the code belongs to.
    pub incident_wall_ms: u64,
    /// A reminder of a red that is still open (`remind_every`), not a new transition.
    pub reminder: bool,
}

impl Code {
    /// The incident id: the same for every code of one episode of trouble of one monitor (the
    /// yellow, the red, the cyan and the green that closes it), different for the next one.
    /// PagerDuty's `dedup_key` and the webhook's `incident` field.
    pub fn incident_id(&self) -> String {
        format!(
            "{:016x}-{}",
            hash64(self.monitor.as_bytes()),
            self.incident_wall_ms
        )
    }

    /// A code of `monitor` (red, threshold reached, refused), for tests and benches.
    pub fn example(monitor: &str) -> Code {
        Code {
            monitor: monitor.to_string(),
            colour: Colour::Red,
            event: Event {
                monitor: 0,
                from: State::Degraded,
                to: State::Down,
                colour: Some(Colour::Red),
                cause: Cause::ThresholdReached,
                reason: Reason::Refused,
                status: 0,
                failures: 1,
                at_ms: 0,
                incident_ms: 0,
            },
            wall_ms: 1_800_000_000_000,
            incident_wall_ms: 1_800_000_000_000,
            reminder: false,
        }
    }

    /// A key that is the same for every delivery of this code (a redelivery after a crash
    /// included) and different for any other code: receivers drop what they have seen.
    pub fn idempotency_key(&self, instance: &str) -> String {
        let mut h = hash64(instance.as_bytes());
        for part in [
            self.monitor.as_bytes(),
            self.colour.name().as_bytes(),
            self.event.cause.name().as_bytes(),
            &self.wall_ms.to_le_bytes(),
            &[u8::from(self.reminder)],
        ] {
            h = hash64(&[&h.to_le_bytes()[..], part].concat());
        }
        format!("{h:016x}")
    }
}

/// FNV-1a over bytes with a final mix: stable across builds and runs (ids are stored and sent).
fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

pub fn status_word(c: Colour) -> &'static str {
    match c {
        Colour::Red => "FAILED",
        Colour::Yellow => "DEGRADED",
        Colour::Green => "RECOVERED",
        Colour::Cyan => "RESTORED",
        Colour::Gray => "MAINTENANCE",
    }
}

pub fn severity(c: Colour) -> &'static str {
    match c {
        Colour::Red => "critical",
        Colour::Yellow => "warning",
        Colour::Green | Colour::Cyan | Colour::Gray => "info",
    }
}

pub use crate::log::rfc3339;

fn what_failed(e: &Event) -> String {
    if e.status != 0 {
        format!("{} (HTTP {})", e.reason.name(), e.status)
    } else {
        e.reason.name().to_string()
    }
}

/// Summary, action, next steps and message for a code.
pub fn texts(code: &Code) -> (String, String, String, String) {
    let name = &code.monitor;
    let e = &code.event;
    let failed = what_failed(e);
    match e.cause {
        Cause::FirstFailure => (
            format!("{name} is degraded: a check failed ({failed})"),
            "watching; no action yet".into(),
            "none unless failures continue; red follows if they reach the threshold".into(),
            format!("{name}: first failed check after being up, reason {failed}"),
        ),
        Cause::InterventionStarted => (
            format!("{name} is failing ({failed}); intervention started"),
            "running the configured intervention".into(),
            "wait for the intervention's result (cyan or red)".into(),
            format!(
                "{name}: {} consecutive failed checks, last reason {failed}; intervention started",
                e.failures
            ),
        ),
        Cause::ThresholdReached => (
            format!(
                "{name} is down: {} consecutive failed checks ({failed})",
                e.failures
            ),
            "incident opened; no intervention configured".into(),
            format!("investigate {name}; green follows when checks pass again"),
            format!("{name}: failures reached the unhealthy threshold, last reason {failed}"),
        ),
        Cause::InterventionFailed => (
            format!("{name} is down: the intervention failed ({failed})"),
            "intervention failed after its retries; incident open".into(),
            format!("investigate {name} by hand; the intervention did not restore it"),
            format!("{name}: intervention failed; last check reason {failed}"),
        ),
        Cause::InterventionsExhausted => (
            format!("{name} is down: interventions exhausted"),
            "no more interventions for this incident".into(),
            format!("investigate {name} by hand"),
            format!("{name}: every allowed intervention ran and the monitor still fails"),
        ),
        Cause::VerificationFailed => (
            format!("{name} is down: failed again after the intervention ({failed})"),
            "verification failed; incident open".into(),
            format!("investigate {name}; the intervention's fix did not hold"),
            format!("{name}: a check failed while verifying the intervention, reason {failed}"),
        ),
        Cause::InterventionSucceeded => (
            format!("{name} restored by intervention; verifying"),
            "intervention succeeded".into(),
            "none; green follows when verification passes".into(),
            format!("{name}: intervention succeeded, verifying with the next checks"),
        ),
        Cause::Recovered | Cause::Verified => (
            format!("{name} recovered"),
            "incident closed".into(),
            "none".into(),
            format!("{name}: checks pass again; incident closed"),
        ),
        Cause::MaintenanceStarted => (
            format!("{name} entered maintenance"),
            "codes paused".into(),
            "none; checks resume counting when the window ends".into(),
            format!("{name}: maintenance window started"),
        ),
        Cause::MaintenanceEnded => (
            format!("{name} left maintenance"),
            "codes resumed".into(),
            "none".into(),
            format!("{name}: maintenance window ended"),
        ),
        Cause::InterventionsPaused => (
            format!("interventions held: {} monitors are failing at once", e.failures),
            "no new interventions start while so many monitors fail together (a network fault, not the services)".into(),
            "check the network between cpra and its targets; interventions resume when the failing share drops".into(),
            format!("{name}: circuit breaker open with {} monitors failing", e.failures),
        ),
        Cause::InterventionsResumed => (
            format!("interventions resumed: {} monitors failing", e.failures),
            "interventions run again".into(),
            "none".into(),
            format!("{name}: circuit breaker closed"),
        ),
        Cause::Removed => (
            format!("{name} was removed from the configuration; its incident is closed"),
            "incident closed by a reload; the monitor is no longer checked".into(),
            "none; add it back to check it again".into(),
            format!("{name}: removed by a configuration reload (or its target changed) while its incident was open"),
        ),
        Cause::Reminder => (
            format!("{name} is still down ({failed})"),
            "incident still open".into(),
            format!("investigate {name}; green follows when checks pass again"),
            format!("{name}: still failing, last reason {failed}; this is a reminder"),
        ),
    }
}

/// The code object (docs/notifiers.md): SPEC 2.4's fields, then the transition, the incident
/// and the keys a receiver needs to deduplicate.
pub fn code_object(code: &Code, instance: &str) -> serde_json::Value {
    let (mut summary, action, next_steps, message) = texts(code);
    if code.reminder {
        summary = format!("reminder: {summary}");
    }
    serde_json::json!({
        "timestamp": rfc3339(code.wall_ms),
        "type": "code",
        "monitor": code.monitor,
        "color": code.colour.name(),
        "status": status_word(code.colour),
        "severity": severity(code.colour),
        "summary": summary,
        "action": action,
        "next_steps": next_steps,
        "message": message,
        "reason": code.event.reason.name(),
        "http_status": code.event.status,
        "from": code.event.from.name(),
        "to": code.event.to.name(),
        "cause": code.event.cause.name(),
        "failures": code.event.failures,
        "reminder": code.reminder,
        "incident": code.incident_id(),
        "incident_started": rfc3339(code.incident_wall_ms),
        "instance": instance,
        "idempotency_key": code.idempotency_key(instance),
    })
}

/// The log notifier's line for `code` (no trailing newline): the code object on one line.
pub fn log_line(code: &Code, instance: &str) -> String {
    code_object(code, instance).to_string()
}

/// A code as stored in the outbox: names, not enum numbers, so a record written by one build
/// is read by the next even if an enum gains a variant.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    monitor: std::borrow::Cow<'a, str>,
    colour: &'a str,
    from: &'a str,
    to: &'a str,
    cause: &'a str,
    reason: &'a str,
    status: u16,
    failures: u16,
    wall_ms: u64,
    incident_wall_ms: u64,
    reminder: bool,
}

/// The outbox payload of `code`.
pub fn to_record(code: &Code) -> Vec<u8> {
    let e = &code.event;
    let r = Record {
        monitor: std::borrow::Cow::Borrowed(&code.monitor),
        colour: code.colour.name(),
        from: e.from.name(),
        to: e.to.name(),
        cause: e.cause.name(),
        reason: e.reason.name(),
        status: e.status,
        failures: e.failures,
        wall_ms: code.wall_ms,
        incident_wall_ms: code.incident_wall_ms,
        reminder: code.reminder,
    };
    serde_json::to_vec(&r).unwrap_or_default()
}

/// A code read back from the outbox; an error names what is wrong (never the payload).
pub fn from_record(bytes: &[u8]) -> Result<Code, String> {
    let r: Record<'_> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a code record: {e}"))?;
    let bad = |what: &str, v: &str| format!("unknown {what} {v:?} in a code record");
    let colour = Colour::from_name(r.colour).ok_or_else(|| bad("colour", r.colour))?;
    let state = |v: &str| State::from_name(v).ok_or_else(|| bad("state", v));
    let event = Event {
        monitor: 0,
        from: state(r.from)?,
        to: state(r.to)?,
        colour: Some(colour),
        cause: Cause::from_name(r.cause).ok_or_else(|| bad("cause", r.cause))?,
        reason: Reason::from_name(r.reason).ok_or_else(|| bad("reason", r.reason))?,
        status: r.status,
        failures: r.failures,
        at_ms: 0,
        incident_ms: 0,
    };
    Ok(Code {
        monitor: r.monitor.into_owned(),
        colour,
        event,
        wall_ms: r.wall_ms,
        incident_wall_ms: r.incident_wall_ms,
        reminder: r.reminder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::State;
    use crate::vocab::Reason;

    fn sample() -> Code {
        Code {
            monitor: "checkout \"api\"".into(),
            colour: Colour::Red,
            event: Event {
                monitor: 7,
                from: State::Degraded,
                to: State::Down,
                colour: Some(Colour::Red),
                cause: Cause::ThresholdReached,
                reason: Reason::Status,
                status: 500,
                failures: 3,
                at_ms: 0,
                incident_ms: 0,
            },
            wall_ms: 1_764_460_800_123,
            incident_wall_ms: 1_764_460_700_000,
            reminder: false,
        }
    }

    #[test]
    fn line_has_every_field() {
        let code = sample();
        let line = log_line(&code, "box-1");
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["timestamp"], "2025-11-30T00:00:00.123Z");
        assert_eq!(v["type"], "code");
        assert_eq!(v["monitor"], "checkout \"api\"");
        assert_eq!(v["color"], "red");
        assert_eq!(v["status"], "FAILED");
        assert_eq!(v["severity"], "critical");
        for k in ["summary", "action", "next_steps", "message"] {
            assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
        }
        assert!(v["summary"].as_str().unwrap().contains("HTTP 500"));
        assert_eq!(v["instance"], "box-1");
        assert_eq!(v["from"], "degraded");
        assert_eq!(v["to"], "down");
        assert_eq!(v["incident"], code.incident_id());
        assert_eq!(v["idempotency_key"], code.idempotency_key("box-1"));
    }

    #[test]
    fn keys_identify_codes_and_incidents() {
        let a = sample();
        let mut green = a.clone();
        green.colour = Colour::Green;
        green.event.cause = Cause::Recovered;
        green.wall_ms += 60_000;
        assert_eq!(a.incident_id(), green.incident_id());
        assert_ne!(a.idempotency_key("i"), green.idempotency_key("i"));
        assert_eq!(a.idempotency_key("i"), a.clone().idempotency_key("i"));
        assert_ne!(a.idempotency_key("i"), a.idempotency_key("j"));
        let mut next = a.clone();
        next.incident_wall_ms += 1;
        assert_ne!(a.incident_id(), next.incident_id());
    }

    #[test]
    fn records_round_trip_and_refuse_junk() {
        let mut a = sample();
        a.event.monitor = 0;
        let back = from_record(&to_record(&a)).unwrap();
        assert_eq!(back, a);
        assert!(from_record(b"{}").is_err());
        assert!(from_record(b"\xff\x00garbage").is_err());
        let bad = String::from_utf8(to_record(&a))
            .unwrap()
            .replace("\"red\"", "\"mauve\"");
        assert!(from_record(bad.as_bytes()).unwrap_err().contains("mauve"));
    }
}
