//! The engine's counters and the JSON summary written at exit.
//!
//! Counters are plain integers bumped by the engine thread (its only writer); lateness goes into
//! a fixed log-linear histogram (8 sub-buckets per power of two, so any percentile is within
//! 12.5 %) that costs one array increment per check and no allocation.

use serde::Serialize;

use crate::config::model::Colour;
use crate::lifecycle::State;
use crate::vocab::Reason;

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A histogram of `u64` values (microseconds here).
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let top = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = top - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    ((shift as usize + 1) << SUB_BITS) | sub
}

/// The smallest value that falls in bucket `b`.
fn bucket_low(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let shift = (b >> SUB_BITS) - 1;
    let sub = (b & (SUB - 1)) as u64;
    (SUB as u64 | sub) << shift
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the low edge of its bucket, at most `max`.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_low(b).min(self.max);
            }
        }
        self.max
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Values recorded at or below `v` (counted by whole buckets: a bucket counts when its
    /// highest value is at most `v`), for Prometheus' cumulative `le` buckets.
    pub fn count_at_or_below(&self, v: u64) -> u64 {
        let mut n = 0;
        for (b, c) in self.counts.iter().enumerate() {
            let high = bucket_low(b + 1).saturating_sub(1);
            if b + 1 < BUCKETS && high > v {
                break;
            }
            n += c;
        }
        n
    }

    /// The sum of recorded values, estimated from bucket low edges (for `_sum`).
    pub fn approx_sum(&self) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .map(|(b, c)| c.saturating_mul(bucket_low(b)))
            .fold(0u64, u64::saturating_add)
    }

    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.max = 0;
    }
}

/// Probe kinds counted apart (`ProbeKind`'s values).
pub const KINDS: usize = 6;

/// Counters for a whole run.
#[derive(Default, Clone)]
pub struct Stats {
    /// Results by probe kind and reason (`cpra_checks_total{type,reason}`).
    pub by_kind_reason: [[u64; Reason::COUNT]; KINDS],
    /// Checks dispatched to a worker.
    pub dispatched: u64,
    /// Checks whose result was accepted (right generation, in time).
    pub checks: u64,
    pub by_reason: [u64; Reason::COUNT],
    /// Due while the previous check was still in flight.
    pub skipped: u64,
    /// Due, but the worker's ring was full: kept due for the next tick.
    pub deferred: u64,
    /// In flight past deadline plus grace: recorded as lost.
    pub lost: u64,
    /// Results that arrived for a check that was no longer current.
    pub late_dropped: u64,
    pub events: u64,
    pub codes_sent: [u64; 5],
    pub codes_recorded: [u64; 5],
    pub reminders: u64,
    pub breaker_trips: u64,
    pub interventions_started: u64,
    pub interventions_succeeded: u64,
    pub interventions_failed: u64,
    pub lateness_us: Histogram,
    pub latency_us: Histogram,
}

#[derive(Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn ms(h: &Histogram) -> Percentiles {
        let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Percentiles {
            p50: ms(h.quantile(0.50)),
            p90: ms(h.quantile(0.90)),
            p99: ms(h.quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Named counts, serialized as a JSON object.
pub type Counts = std::collections::BTreeMap<&'static str, u64>;

#[derive(Serialize)]
pub struct CodeCounts {
    /// Codes handed to a notifier, per colour.
    pub sent: Counts,
    /// Codes with `dispatch: false`: recorded, not sent.
    pub recorded: Counts,
    /// Reminders of open reds sent (also counted in `sent.red`).
    pub reminders: u64,
    /// Codes the receivers took.
    pub delivered: u64,
    /// Codes a receiver refused for good (4xx): recorded as failed, not retried.
    pub failed: u64,
    /// Codes still waiting at exit: they stay in the outbox and go out at the next start.
    pub undelivered: u64,
    /// Codes not stored because the outbox was full.
    pub dropped: u64,
    /// Send attempts that failed and were retried.
    pub failed_attempts: u64,
    /// Storm digests sent (each carries many codes).
    pub digests: u64,
    /// Codes found in the outbox at start (from an earlier run) and delivered again.
    pub recovered: u64,
    /// Outbox writes or acknowledgements that failed.
    pub outbox_errors: u64,
}

#[derive(Serialize)]
pub struct InterventionCounts {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Intervention starts the circuit breaker held (a failing check of a monitor that would
    /// have started one, while too many monitors failed at once).
    pub held_by_breaker: u64,
    /// Times the breaker opened.
    pub breaker_trips: u64,
}

/// The `--summary` JSON.
#[derive(Serialize)]
pub struct Summary {
    pub monitors: usize,
    pub enabled: usize,
    pub workers: usize,
    pub duration_s: f64,
    pub expected_checks_per_s: f64,
    pub checks_per_s: f64,
    pub checks: u64,
    pub dispatched: u64,
    pub failures: u64,
    /// Every result by reason, `ok` included.
    pub results_by_reason: Counts,
    pub failures_by_reason: Counts,
    pub states: Counts,
    pub lateness_ms: Percentiles,
    pub latency_ms: Percentiles,
    pub skipped: u64,
    pub deferred: u64,
    pub lost: u64,
    pub late_dropped: u64,
    /// Checks dispatched but still queued for a worker when cpra stopped: never run.
    pub cancelled_at_stop: u64,
    pub events: u64,
    pub codes: CodeCounts,
    pub interventions: InterventionCounts,
}

pub fn colour_counts(v: &[u64; 5]) -> Counts {
    Colour::ALL
        .iter()
        .map(|c| (c.name(), v[*c as usize]))
        .collect()
}

pub fn state_counts(v: &[u64; State::COUNT]) -> Counts {
    State::ALL
        .iter()
        .map(|s| (s.name(), v[*s as usize]))
        .collect()
}

pub fn reason_counts(v: &[u64; Reason::COUNT], failures_only: bool) -> Counts {
    Reason::ALL
        .iter()
        .filter(|r| !(failures_only && (**r == Reason::Ok || **r == Reason::Local)))
        .map(|r| (r.name(), v[*r as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in 0..100_000u64 {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            let lo = bucket_low(b);
            assert!(lo <= v, "{v} {lo}");
            assert!(v - lo <= v / 8 + 1, "{v} {lo}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5);
        assert!((440..=500).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((870..=990).contains(&p99), "{p99}");
        assert_eq!(h.max(), 1000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }
}
