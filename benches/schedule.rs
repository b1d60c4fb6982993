//! Due detection over a million monitors: the vectorized chunk sweep alone, and a full wheel
//! revolution (advance + sweep + re-file) at the engine's default tick.
//!
//! `cargo bench --bench schedule`

use cpra::limits::CHUNK_MONITORS;
use cpra::schedule::{Schedule, sweep_chunk};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const N: usize = 1_000_000;

fn bench(c: &mut Criterion) {
    // Due times spread over a 60 s interval, as after start-up.
    let due: Vec<u32> = (0..N as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 60_000)
        .collect();
    let mut g = c.benchmark_group("due_sweep_1m");
    g.bench_function("sweep_all_chunks", |b| {
        b.iter(|| {
            let now = black_box(30_000u32);
            let mut due_count = 0u32;
            let mut min = i32::MAX;
            for chunk in due.chunks_exact(CHUNK_MONITORS) {
                let lanes: &[u32; CHUNK_MONITORS] = chunk.try_into().unwrap();
                let (mask, m) = sweep_chunk(lanes, now);
                due_count += mask.count_ones();
                min = min.min(m);
            }
            (due_count, min)
        })
    });
    g.finish();

    // One second of ticks (100 at 10 ms) on the wheel: what the engine pays per second for
    // due detection with 1M monitors at a 60 s interval (16,700 due per second).
    let mut g = c.benchmark_group("wheel_1m_60s");
    g.sample_size(10);
    g.bench_function("one_second_of_ticks", |b| {
        let mut s = Schedule::new(N, 10, |i| due[i], |_| true);
        let mut now = 0u64;
        let mut chunks = Vec::new();
        b.iter(|| {
            let mut fired = 0u32;
            for _ in 0..100 {
                now += 10;
                chunks.clear();
                s.advance(now, &mut chunks);
                for &c in &chunks {
                    let mut mask = s.sweep(c, now);
                    fired += mask.count_ones();
                    while mask != 0 {
                        let i = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        let m = c as usize * CHUNK_MONITORS + i;
                        s.next_due_ms[m] = s.next_due_ms[m].wrapping_add(60_000);
                    }
                    s.refile(c, now);
                }
            }
            fired
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
