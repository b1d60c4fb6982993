//! The storm window of one notifier: a pure state machine, time passed in.
//!
//! When a network fault fails 30,000 monitors at once, nobody wants 30,000 messages. Each
//! notifier that takes digests watches its arrival rate: more than `threshold` codes within
//! `window` start a storm. During a storm every further code is held for the current digest,
//! and one digest per window carries all of them (nothing in it is dropped). A window that
//! ends with nothing held ends the storm.
//!
//! ```text
//!   Calm ──(code that makes > threshold in the last window)──▶ Storm { flush_at = now + window }
//!   Storm ──(flush with codes held: send digest)──▶ Storm { flush_at = now + window }
//!   Storm ──(flush with nothing held)──▶ Calm
//! ```

use std::collections::VecDeque;

/// Where an arriving code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Sent on its own.
    Single,
    /// Held for the current digest.
    Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Calm,
    Storm { started_ms: u64, flush_at_ms: u64 },
}

/// One notifier's storm detector.
#[derive(Debug, Clone)]
pub struct Storm {
    /// 0 = storms off: every code is a single.
    threshold: u32,
    window_ms: u64,
    /// Arrival times of the codes of the last window, while calm (at most `threshold + 1`).
    recent: VecDeque<u64>,
    mode: Mode,
}

impl Storm {
    pub fn new(threshold: u32, window_ms: u64) -> Storm {
        Storm {
            threshold,
            window_ms: window_ms.max(1),
            recent: VecDeque::new(),
            mode: Mode::Calm,
        }
    }

    /// A notifier that never digests (log, Alertmanager, PagerDuty).
    pub fn off() -> Storm {
        Storm::new(0, 1)
    }

    /// Routes one code arriving at `now_ms`.
    pub fn route(&mut self, now_ms: u64) -> Route {
        if self.threshold == 0 {
            return Route::Single;
        }
        if let Mode::Storm { .. } = self.mode {
            return Route::Digest;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= self.window_ms)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now_ms);
        if self.recent.len() > self.threshold as usize {
            self.recent.clear();
            self.mode = Mode::Storm {
                started_ms: now_ms,
                flush_at_ms: now_ms + self.window_ms,
            };
            return Route::Digest;
        }
        Route::Single
    }

    /// When the current digest is due, during a storm.
    pub fn flush_at(&self) -> Option<u64> {
        match self.mode {
            Mode::Calm => None,
            Mode::Storm { flush_at_ms, .. } => Some(flush_at_ms),
        }
    }

    /// The digest window is over at `now_ms`; `held` codes were in it. Returns the window's
    /// start (for the digest), and moves on: a new window if codes came, calm if none did.
    pub fn flush(&mut self, now_ms: u64, held: usize) -> Option<u64> {
        let Mode::Storm { started_ms, .. } = self.mode else {
            return None;
        };
        self.mode = if held > 0 {
            Mode::Storm {
                started_ms: now_ms,
                flush_at_ms: now_ms + self.window_ms,
            }
        } else {
            Mode::Calm
        };
        Some(started_ms)
    }

    pub fn in_storm(&self) -> bool {
        matches!(self.mode, Mode::Storm { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(s: &mut Storm, times: &[u64]) -> Vec<Route> {
        times.iter().map(|t| s.route(*t)).collect()
    }

    #[test]
    fn calm_below_threshold() {
        let mut s = Storm::new(3, 1000);
        assert_eq!(routes(&mut s, &[0, 10, 20]), vec![Route::Single; 3]);
        assert!(!s.in_storm());
        assert_eq!(s.flush_at(), None);
        // Old arrivals leave the window: spaced codes never storm.
        assert_eq!(routes(&mut s, &[1010, 1020, 1030]), vec![Route::Single; 3]);
    }

    #[test]
    fn the_code_past_the_threshold_starts_a_storm() {
        let mut s = Storm::new(3, 1000);
        routes(&mut s, &[0, 1, 2]);
        assert_eq!(s.route(3), Route::Digest);
        assert_eq!(s.flush_at(), Some(1003));
        assert_eq!(s.route(500), Route::Digest);
    }

    #[test]
    fn storm_state_flush_with_codes_opens_the_next_window() {
        let mut s = Storm::new(1, 100);
        routes(&mut s, &[0, 1]);
        assert_eq!(s.flush(101, 5), Some(1));
        assert_eq!(s.flush_at(), Some(201));
        assert_eq!(s.route(150), Route::Digest);
    }

    #[test]
    fn storm_state_empty_window_ends_it() {
        let mut s = Storm::new(1, 100);
        routes(&mut s, &[0, 1]);
        s.flush(101, 3);
        assert_eq!(s.flush(201, 0), Some(101));
        assert!(!s.in_storm());
        assert_eq!(s.route(300), Route::Single);
    }

    #[test]
    fn calm_flush_is_nothing() {
        let mut s = Storm::new(5, 100);
        assert_eq!(s.flush(10, 0), None);
    }

    #[test]
    fn off_never_digests() {
        let mut s = Storm::off();
        assert!(
            routes(&mut s, &[0; 100])
                .iter()
                .all(|r| *r == Route::Single)
        );
    }

    #[test]
    fn a_thousand_at_once_is_threshold_singles_and_one_digest() {
        let mut s = Storm::new(10, 10_000);
        let r: Vec<Route> = (0..1000).map(|i| s.route(i)).collect();
        assert_eq!(r.iter().filter(|r| **r == Route::Single).count(), 10);
        assert_eq!(s.flush_at(), Some(10_010));
    }
}
