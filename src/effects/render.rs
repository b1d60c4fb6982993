//! The words of a code: what the log notifier writes (SPEC 2.4), one JSON object per line.
//!
//! Kept apart from delivery so that every notifier renders the same facts the same way, and so
//! that the format is tested without files or sockets.

use crate::config::model::Colour;
use crate::lifecycle::{Cause, Event};

/// A code on its way to a notifier: the event that fired it and the monitor's name.
#[derive(Debug, Clone)]
pub struct Code {
    pub monitor: String,
    pub colour: Colour,
    pub event: Event,
    /// Wall-clock time of the event, ms since the Unix epoch.
    pub wall_ms: u64,
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

/// RFC 3339 UTC with millisecond precision.
pub fn rfc3339(wall_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(wall_ms);
    humantime::format_rfc3339_millis(t).to_string()
}

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
    }
}

/// The log notifier's line for `code` (no trailing newline).
pub fn log_line(code: &Code) -> String {
    let (summary, action, next_steps, message) = texts(code);
    let v = serde_json::json!({
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
    });
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::State;
    use crate::probe::reason::Reason;

    #[test]
    fn line_has_every_field() {
        let code = Code {
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
            },
            wall_ms: 1_764_460_800_123,
        };
        let line = log_line(&code);
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
    }
}
