//! `GET /metrics`: the Prometheus text exposition (format 0.0.4), written by hand into one
//! string from the view's published counters and cells.
//!
//! Conventions: every family has `# HELP` and `# TYPE`; units in names (`_seconds`,
//! `_total`); counters only go up (they are the engine's run totals). Histograms are rebuilt
//! from the engine's log-linear buckets at fixed `le` edges, exact to the engine bucket (12.5 %).
//! Per-monitor series (`probe_success`, `probe_duration_seconds`, in blackbox_exporter's
//! spirit) are written only when asked or below [`METRICS_PER_MONITOR_DEFAULT_MAX`]
//! monitors, so a million series never appear by accident.

use std::fmt::Write as _;

use super::view::View;
use crate::lifecycle::State;
use crate::limits::METRICS_PER_MONITOR_DEFAULT_MAX;
use crate::stats::{Histogram, KINDS};
use crate::store::{MonitorId, ProbeKind};
use crate::vocab::Reason;

/// Histogram edges, in seconds.
const LE_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Per-monitor series are on: forced, or few enough monitors.
pub fn per_monitor_on(forced: bool, monitors: usize) -> bool {
    forced || monitors <= METRICS_PER_MONITOR_DEFAULT_MAX
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value, escaped as the exposition format asks (`\`, `"`, newline).
pub fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// One sample per colour of a `[u64; 5]` counted by `Colour as usize`.
fn per_colour(out: &mut String, name: &str, counts: &[u64; 5]) {
    for c in crate::config::model::Colour::ALL {
        let _ = writeln!(
            out,
            "{name}{{colour=\"{}\"}} {}",
            c.name(),
            counts[c as usize]
        );
    }
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    family(out, name, "histogram", help);
    for le in LE_S {
        let n = h.count_at_or_below((le * 1e6) as u64);
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum {}", h.approx_sum() as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", h.count());
}

/// The whole exposition.
pub fn render(view: &View, counts: &[[u64; State::COUNT]; 8], per_monitor_forced: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let s = view.shared();
    let p = s.published.clone();
    drop(s);
    let st = &p.stats;
    let o = &mut out;
    family(o, "cpra_build_info", "gauge", "cpra's version; always 1.");
    let _ = writeln!(
        o,
        "cpra_build_info{{version=\"{}\",instance_name=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        label(&view.instance)
    );
    family(
        o,
        "cpra_shard_info",
        "gauge",
        "The shard this instance runs (0/1 when not sharded); always 1.",
    );
    let sh = view.catalog.shard.unwrap_or(crate::store::shard::Shard {
        index: 0,
        count: 1,
        replicas: 1,
    });
    let _ = writeln!(
        o,
        "cpra_shard_info{{shard=\"{}\",shards=\"{}\",replicas=\"{}\",instance_name=\"{}\"}} 1",
        sh.index,
        sh.count,
        sh.replicas,
        label(&view.instance)
    );
    family(o, "cpra_monitors", "gauge", "Monitors this instance runs.");
    let _ = writeln!(o, "cpra_monitors {}", view.len());
    family(
        o,
        "cpra_monitors_state",
        "gauge",
        "Monitors per probe type and lifecycle state.",
    );
    for (k, row) in counts.iter().enumerate() {
        if row.iter().all(|n| *n == 0) {
            continue;
        }
        for state in State::ALL {
            let _ = writeln!(
                o,
                "cpra_monitors_state{{type=\"{}\",state=\"{}\"}} {}",
                ProbeKind(k as u8).name(),
                state.name(),
                row[state as usize]
            );
        }
    }
    family(
        o,
        "cpra_monitors_paused",
        "gauge",
        "Monitors paused through the API.",
    );
    let _ = writeln!(o, "cpra_monitors_paused {}", p.paused);
    family(
        o,
        "cpra_checks_total",
        "counter",
        "Check results by probe type and reason.",
    );
    for (k, row) in st.by_kind_reason.iter().enumerate().take(KINDS) {
        for (r, n) in row.iter().enumerate() {
            if *n > 0 {
                let _ = writeln!(
                    o,
                    "cpra_checks_total{{type=\"{}\",reason=\"{}\"}} {n}",
                    ProbeKind(k as u8).name(),
                    Reason::from_u8(r as u8).name()
                );
            }
        }
    }
    family(
        o,
        "cpra_checks_dispatched_total",
        "counter",
        "Checks handed to a probe worker.",
    );
    let _ = writeln!(o, "cpra_checks_dispatched_total {}", st.dispatched);
    for (name, help, v) in [
        (
            "cpra_checks_skipped_total",
            "Checks skipped: due while the previous one was in flight, or due times missed.",
            st.skipped,
        ),
        (
            "cpra_checks_deferred_total",
            "Checks put off a tick because a worker's ring was full.",
            st.deferred,
        ),
        (
            "cpra_checks_lost_total",
            "Checks whose result never came (recorded with reason lost).",
            st.lost,
        ),
        (
            "cpra_results_late_dropped_total",
            "Results that came for a check no longer current.",
            st.late_dropped,
        ),
        ("cpra_events_total", "Lifecycle transitions.", st.events),
        (
            "cpra_reminders_total",
            "Open reds sent again (remind_every).",
            st.reminders,
        ),
    ] {
        family(o, name, "counter", help);
        let _ = writeln!(o, "{name} {v}");
    }
    family(
        o,
        "cpra_checks_in_flight",
        "gauge",
        "Checks dispatched and not yet answered.",
    );
    let _ = writeln!(o, "cpra_checks_in_flight {}", p.in_flight);
    family(
        o,
        "cpra_ring_depth",
        "gauge",
        "Entries waiting in each worker's rings.",
    );
    for (w, (req, comp)) in p.rings.iter().enumerate() {
        let _ = writeln!(
            o,
            "cpra_ring_depth{{worker=\"{w}\",ring=\"requests\"}} {req}"
        );
        let _ = writeln!(
            o,
            "cpra_ring_depth{{worker=\"{w}\",ring=\"completions\"}} {comp}"
        );
    }
    histogram(
        o,
        "cpra_check_lateness_seconds",
        "How late checks started against their due time.",
        &st.lateness_us,
    );
    histogram(
        o,
        "cpra_probe_duration_seconds",
        "How long checks took (all monitors).",
        &st.latency_us,
    );
    family(
        o,
        "cpra_codes_total",
        "counter",
        "Codes sent to notifiers, by colour.",
    );
    per_colour(o, "cpra_codes_total", &st.codes_sent);
    family(
        o,
        "cpra_codes_recorded_total",
        "counter",
        "Codes recorded only (dispatch: false), by colour.",
    );
    per_colour(o, "cpra_codes_recorded_total", &st.codes_recorded);
    family(
        o,
        "cpra_notifications_total",
        "counter",
        "Codes by delivery result, per notifier kind.",
    );
    for (kind, delivered, failed, attempts) in &p.notify_by_kind {
        for (result, n) in [
            ("delivered", delivered),
            ("failed", failed),
            ("retried", attempts),
        ] {
            let _ = writeln!(
                o,
                "cpra_notifications_total{{notifier=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
    }
    let n = &p.notify;
    for (name, help, v, kind) in [
        (
            "cpra_outbox_depth",
            "Codes waiting in the outbox for delivery.",
            n.undelivered,
            "gauge",
        ),
        (
            "cpra_codes_dropped_total",
            "Codes not stored because the outbox was full.",
            n.dropped,
            "counter",
        ),
        (
            "cpra_digests_total",
            "Storm digests sent.",
            n.digests,
            "counter",
        ),
        (
            "cpra_outbox_errors_total",
            "Outbox writes that failed.",
            n.outbox_errors,
            "counter",
        ),
    ] {
        family(o, name, kind, help);
        let _ = writeln!(o, "{name} {v}");
    }
    family(
        o,
        "cpra_interventions_total",
        "counter",
        "Interventions by outcome.",
    );
    for (result, v) in [
        ("started", st.interventions_started),
        ("succeeded", st.interventions_succeeded),
        ("failed", st.interventions_failed),
        ("held", p.held_by_breaker),
    ] {
        let _ = writeln!(o, "cpra_interventions_total{{result=\"{result}\"}} {v}");
    }
    family(
        o,
        "cpra_breaker_open",
        "gauge",
        "1 while the circuit breaker holds interventions.",
    );
    let _ = writeln!(o, "cpra_breaker_open {}", u8::from(p.breaker_open));
    family(
        o,
        "cpra_config_load_seconds",
        "gauge",
        "Time the configuration took to load.",
    );
    let _ = writeln!(o, "cpra_config_load_seconds {}", view.config_load_s);
    family(
        o,
        "cpra_start_time_seconds",
        "gauge",
        "Unix time cpra started.",
    );
    let _ = writeln!(
        o,
        "cpra_start_time_seconds {}",
        view.started_wall_ms as f64 / 1000.0
    );
    family(
        o,
        "cpra_last_tick_timestamp_seconds",
        "gauge",
        "Unix time of the engine's last tick.",
    );
    let _ = writeln!(
        o,
        "cpra_last_tick_timestamp_seconds {}",
        view.common()
            .last_tick_wall_ms
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1000.0
    );
    if per_monitor_on(per_monitor_forced, view.len()) {
        per_monitor(o, view);
    }
    out
}

fn per_monitor(o: &mut String, view: &View) {
    let cat = &view.catalog;
    family(
        o,
        "probe_success",
        "gauge",
        "1 if the monitor's last check succeeded (per monitor).",
    );
    for m in 0..view.len() as u32 {
        let c = view.cell(m);
        if c.checked_s == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "probe_success{{monitor=\"{}\",type=\"{}\"}} {}",
            label(cat.name(MonitorId(m))),
            cat.kinds[m as usize].name(),
            u8::from(c.reason == Reason::Ok)
        );
    }
    family(
        o,
        "probe_duration_seconds",
        "gauge",
        "How long the monitor's last check took (per monitor).",
    );
    for m in 0..view.len() as u32 {
        let c = view.cell(m);
        if c.checked_s == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "probe_duration_seconds{{monitor=\"{}\"}} {}",
            label(cat.name(MonitorId(m))),
            c.latency_us as f64 / 1e6
        );
    }
    family(
        o,
        "cpra_monitor_state",
        "gauge",
        "1 for the monitor's current state (per monitor).",
    );
    for m in 0..view.len() as u32 {
        let c = view.cell(m);
        let _ = writeln!(
            o,
            "cpra_monitor_state{{monitor=\"{}\",state=\"{}\"}} 1",
            label(cat.name(MonitorId(m))),
            c.state.name()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn per_monitor_series_need_asking_above_the_default() {
        assert!(per_monitor_on(false, METRICS_PER_MONITOR_DEFAULT_MAX));
        assert!(!per_monitor_on(false, METRICS_PER_MONITOR_DEFAULT_MAX + 1));
        assert!(per_monitor_on(true, 1_000_000));
    }
}
