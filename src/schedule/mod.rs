//! When each monitor is next due: a timing wheel of chunks and a vectorized due sweep.
//!
//! Monitors are grouped in fixed chunks of [`CHUNK_MONITORS`] consecutive ids. The due time of
//! every monitor lives in one column, `next_due_ms` (wrapping `u32` milliseconds since the
//! engine's epoch, compared as signed differences, so the clock may run for years). The wheel
//! files *chunks*, not monitors: each chunk sits in the slot of the tick at which its earliest
//! monitor is due. On a tick the wheel hands back the chunks filed there, and the sweep compares
//! all 64 due times of each against `now` in one straight-line loop over a `[u32; 64]`, which the
//! compiler turns into SIMD compares, producing a `u64` due mask and the chunk's next earliest
//! due time. The chunk is then re-filed at that time.
//!
//! Why chunks: per-monitor wheel entries would cost a push and a pop per check and scatter
//! memory accesses; a full sweep of every monitor per tick would read 4 MB per 10 ms for a
//! million monitors. Chunk filing reads only chunks that have something due, in cache-line
//! sized runs, and the work per tick scales with checks due, not with monitors loaded.
//!
//! The wheel has [`WHEEL_SLOTS`] slots; a chunk due beyond one revolution sits in its slot and
//! is looked at (one sweep, nothing due, re-filed) once per revolution. Disabled monitors have
//! no bit in their chunk's `active` mask and their due time is parked far ahead.
//!
//! Fixed-rate scheduling is the engine's job: when it dispatches or skips a monitor it sets
//! `next_due_ms += interval`, from the due time, never from the completion time.

use crate::limits::{CHUNK_MONITORS, WHEEL_SLOTS};

const PARK_MS: u32 = 1 << 30;

/// Is `due` at or before `now`, on the wrapping millisecond clock?
#[inline]
pub fn is_due(now_ms: u32, due_ms: u32) -> bool {
    (now_ms.wrapping_sub(due_ms) as i32) >= 0
}

/// Compares 64 due times against `now`: bit i of the mask is set when monitor i is due; the
/// second value is the smallest `due - now` over the lanes (negative when something is overdue).
/// Written as straight-line lane operations so that it compiles to vector compares and a
/// vector minimum (see `benches/schedule.rs`).
#[inline]
pub fn sweep_chunk(due: &[u32; CHUNK_MONITORS], now_ms: u32) -> (u64, i32) {
    let mut min = i32::MAX;
    let mut mask = 0u64;
    // Sixteen lanes at a time: a vector subtract, a vector compare whose sign bits are packed
    // into 16 mask bits, and a vector minimum.
    for (g, lanes) in due.chunks_exact(16).enumerate() {
        let mut bits = 0u32;
        for (j, d) in lanes.iter().enumerate() {
            let wait = d.wrapping_sub(now_ms) as i32;
            min = min.min(wait);
            bits |= u32::from(wait <= 0) << j;
        }
        mask |= u64::from(bits) << (g * 16);
    }
    (mask, min)
}

/// The schedule columns and the wheel.
pub struct Schedule {
    tick_ms: u32,
    /// Per monitor (padded to whole chunks), wrapping ms since the engine epoch.
    pub next_due_ms: Vec<u32>,
    /// Per chunk: bit set for each enabled monitor.
    pub active: Vec<u64>,
    /// Per chunk: the absolute tick it is filed under.
    chunk_tick: Vec<u64>,
    slots: Vec<Vec<u32>>,
    /// Last tick processed.
    cur_tick: u64,
    scratch: Vec<u32>,
}

impl Schedule {
    /// Builds the schedule for `n` monitors. `first_due_ms(i)` gives monitor i's first due time
    /// (ms since epoch) and `enabled(i)` whether it runs at all.
    pub fn new(
        n: usize,
        tick_ms: u32,
        first_due_ms: impl Fn(usize) -> u32,
        enabled: impl Fn(usize) -> bool,
    ) -> Schedule {
        Schedule::starting_at(n, tick_ms, 0, first_due_ms, enabled)
    }

    /// [`Schedule::new`] for a clock that starts at `start_ms` instead of 0 (the engine's,
    /// when a restored incident began before this process); `first_due_ms` gives absolute
    /// (wrapping) times.
    pub fn starting_at(
        n: usize,
        tick_ms: u32,
        start_ms: u64,
        first_due_ms: impl Fn(usize) -> u32,
        enabled: impl Fn(usize) -> bool,
    ) -> Schedule {
        assert!(tick_ms > 0);
        let chunks = n.div_ceil(CHUNK_MONITORS);
        let mut next_due_ms = vec![PARK_MS; chunks * CHUNK_MONITORS];
        let mut active = vec![0u64; chunks];
        for i in 0..n {
            if enabled(i) {
                next_due_ms[i] = first_due_ms(i);
                active[i / CHUNK_MONITORS] |= 1u64 << (i % CHUNK_MONITORS);
            }
        }
        let mut s = Schedule {
            tick_ms,
            next_due_ms,
            active,
            chunk_tick: vec![u64::MAX; chunks],
            slots: (0..WHEEL_SLOTS).map(|_| Vec::new()).collect(),
            cur_tick: start_ms / u64::from(tick_ms),
            scratch: Vec::new(),
        };
        for c in 0..chunks {
            s.refile(c as u32, start_ms);
        }
        s
    }

    pub fn tick_ms(&self) -> u32 {
        self.tick_ms
    }

    pub fn chunks(&self) -> usize {
        self.active.len()
    }

    fn tick_of(&self, ms: u64) -> u64 {
        ms / u64::from(self.tick_ms)
    }

    /// Sweeps chunk `c` at `now_ms` (ms since epoch, unwrapped): the due mask (active monitors
    /// only) and the earliest due time of the active monitors that are not due.
    pub fn sweep(&self, c: u32, now_ms: u64) -> u64 {
        let base = c as usize * CHUNK_MONITORS;
        let lanes: &[u32; CHUNK_MONITORS] = self.next_due_ms[base..base + CHUNK_MONITORS]
            .try_into()
            .expect("columns are padded to whole chunks");
        let (mask, _) = sweep_chunk(lanes, now_ms as u32);
        mask & self.active[c as usize]
    }

    /// Files chunk `c` under the tick of its earliest active due time (at least the tick after
    /// `now_ms`). Parks the due times of inactive lanes one 2^30 ms ahead so they never look due.
    pub fn refile(&mut self, c: u32, now_ms: u64) {
        let ci = c as usize;
        let base = ci * CHUNK_MONITORS;
        let now32 = now_ms as u32;
        let mut inactive = !self.active[ci];
        while inactive != 0 {
            let i = inactive.trailing_zeros() as usize;
            inactive &= inactive - 1;
            self.next_due_ms[base + i] = now32.wrapping_add(PARK_MS);
        }
        if self.active[ci] == 0 {
            self.chunk_tick[ci] = u64::MAX;
            return;
        }
        let lanes: &[u32; CHUNK_MONITORS] = self.next_due_ms[base..base + CHUNK_MONITORS]
            .try_into()
            .expect("columns are padded to whole chunks");
        let (_, min_wait) = sweep_chunk(lanes, now32);
        let at_ms = now_ms.saturating_add_signed(i64::from(min_wait));
        let tick = self.tick_of(at_ms).max(self.cur_tick + 1);
        self.chunk_tick[ci] = tick;
        self.slots[(tick % WHEEL_SLOTS as u64) as usize].push(c);
    }

    /// Wakes chunk `c` so it is swept on the next tick (after a monitor in it was enabled or
    /// made due early). A stale filing elsewhere is ignored when its slot comes round.
    pub fn wake(&mut self, c: u32) {
        let tick = self.cur_tick + 1;
        if self.chunk_tick[c as usize] > tick {
            self.chunk_tick[c as usize] = tick;
            self.slots[(tick % WHEEL_SLOTS as u64) as usize].push(c);
        }
    }

    /// Advances the wheel to `now_ms` and appends the chunks whose filing tick has come (each
    /// once). The caller sweeps them, acts on the due monitors, then calls [`refile`] for each.
    ///
    /// [`refile`]: Self::refile
    pub fn advance(&mut self, now_ms: u64, out: &mut Vec<u32>) {
        let now_tick = self.tick_of(now_ms);
        if now_tick <= self.cur_tick && self.cur_tick != 0 {
            return;
        }
        // Visiting more than one revolution of slots would visit each slot twice.
        let first = if now_tick - self.cur_tick > WHEEL_SLOTS as u64 {
            now_tick + 1 - WHEEL_SLOTS as u64
        } else {
            self.cur_tick + 1
        };
        let first = first.min(now_tick);
        for tick in first..=now_tick {
            let slot = (tick % WHEEL_SLOTS as u64) as usize;
            std::mem::swap(&mut self.scratch, &mut self.slots[slot]);
            for i in 0..self.scratch.len() {
                let c = self.scratch[i];
                let filed = self.chunk_tick[c as usize];
                if filed == u64::MAX {
                    continue;
                }
                if filed <= now_tick {
                    if filed % WHEEL_SLOTS as u64 == slot as u64 {
                        // Taken now; the caller re-files it.
                        self.chunk_tick[c as usize] = u64::MAX;
                        out.push(c);
                    }
                    // else: a stale entry of a chunk re-filed elsewhere.
                } else if filed % WHEEL_SLOTS as u64 == slot as u64 {
                    // Filed for a later revolution of this slot.
                    self.slots[slot].push(c);
                }
            }
            self.scratch.clear();
        }
        self.cur_tick = now_tick;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_chunk_mask_and_min() {
        let mut due = [1000u32; 64];
        due[3] = 500;
        due[63] = 999;
        due[10] = 1200;
        let (mask, min) = sweep_chunk(&due, 999);
        assert_eq!(mask, (1 << 3) | (1 << 63));
        assert_eq!(min, -499);
        let (mask, min) = sweep_chunk(&[2000u32; 64], 999);
        assert_eq!(mask, 0);
        assert_eq!(min, 1001);
    }

    #[test]
    fn sweep_chunk_wraps() {
        // now just past the u32 wrap, due just before it: due.
        let mut due = [5u32; 64];
        due[0] = u32::MAX - 10;
        let (mask, _) = sweep_chunk(&due, 3);
        assert_eq!(mask, 1);
    }

    /// Every monitor comes due exactly at its time (to the tick), none early, none twice.
    #[test]
    fn wheel_finds_each_due_monitor_once() {
        let n = 1000;
        let first = |i: usize| (i as u32 * 37) % 5000;
        let mut s = Schedule::new(n, 10, first, |i| i % 7 != 0);
        let mut seen = vec![0u32; n];
        let mut chunks = Vec::new();
        let mut now = 0u64;
        while now <= 6000 {
            chunks.clear();
            s.advance(now, &mut chunks);
            for &c in &chunks {
                let mut mask = s.sweep(c, now);
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let m = c as usize * 64 + i;
                    assert!(now >= u64::from(first(m)), "monitor {m} early at {now}");
                    assert!(now < u64::from(first(m)) + 10, "monitor {m} late at {now}");
                    seen[m] += 1;
                    // Next due in 1 hour: out of this test's window.
                    s.next_due_ms[m] = (now + 3_600_000) as u32;
                }
                s.refile(c, now);
            }
            now += 10;
        }
        for (i, count) in seen.iter().enumerate() {
            assert_eq!(*count, if i % 7 == 0 { 0 } else { 1 }, "monitor {i}");
        }
    }

    /// A chunk due beyond a revolution is not handed back before its time.
    #[test]
    fn far_future_waits_for_its_revolution() {
        let mut s = Schedule::new(1, 10, |_| 100_000, |_| true);
        let mut chunks = Vec::new();
        let mut now = 0u64;
        let mut fired_at = None;
        while now <= 101_000 {
            chunks.clear();
            s.advance(now, &mut chunks);
            for &c in &chunks {
                if s.sweep(c, now) != 0 && fired_at.is_none() {
                    fired_at = Some(now);
                    s.next_due_ms[0] = 10_000_000;
                }
                s.refile(c, now);
            }
            now += 10;
        }
        assert_eq!(fired_at, Some(100_000));
    }

    /// Falling behind by several ticks (a slow engine iteration) loses nothing.
    #[test]
    fn catch_up_after_a_stall() {
        let mut s = Schedule::new(128, 10, |i| i as u32 * 10, |_| true);
        let mut chunks = Vec::new();
        s.advance(5000, &mut chunks);
        let mut due = 0;
        for &c in &chunks {
            due += s.sweep(c, 5000).count_ones();
        }
        assert_eq!(due, 128);
    }
}
