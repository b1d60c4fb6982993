//! Hot reload of a million monitors: how long the new file's preparation takes (off the engine
//! thread), how long the swap holds the engine (one tick), and the longest tick around it.
//!
//! The engine runs 1M TCP monitors at a 60 s interval on a virtual clock, with the API view and
//! snapshots, its worker played inline (every check answered at once). 20 s in, a new catalog
//! is prepared on another thread while the engine keeps ticking: 1 % of the monitors removed,
//! 1 % added, 1 % with a new interval, the rest unchanged. It is applied at the next tick
//! once ready, and the run goes on for another 20 s.
//!
//! `cargo bench --bench reload`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cpra::engine::reload::prepare;
use cpra::engine::{Engine, EngineConfig};
use cpra::probe::Completion;
use cpra::probe::reason::Reason;
use cpra::probe::worker::WorkerHandle;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/mod.rs"]
mod common;

const N: usize = common::N;

struct Figures {
    prepare: Duration,
    swap: Duration,
    longest_other: Duration,
}

fn answer_all(
    requests: &mut cpra::probe::ring::Consumer<cpra::probe::Request>,
    completions: &mut cpra::probe::ring::Producer<Completion>,
) {
    let mut reqs = Vec::new();
    requests.pop_batch(&mut reqs, usize::MAX);
    let done: Vec<Completion> = reqs
        .iter()
        .map(|r| Completion {
            monitor: r.monitor,
            generation: r.generation,
            latency_us: 300,
            lateness_us: 0,
            status: 200,
            reason: Reason::Ok as u8,
            attempts: 1,
            cert_days: cpra::probe::worker::NO_CERT,
        })
        .collect();
    assert_eq!(completions.push_batch(&done), done.len());
}

fn one_reload() -> Figures {
    let old = Arc::new(common::tcp_catalog(N));
    let poll = mio::Poll::new().expect("poll");
    let (handle, mut requests, mut completions) = WorkerHandle::detached(&poll).expect("rings");
    let mut engine = Engine::with_workers(
        old.clone(),
        EngineConfig {
            workers: 1,
            pin: false,
            ..EngineConfig::default()
        },
        vec![handle],
    )
    .expect("engine");
    let _view = engine.attach_view(0.0);
    let snap_dir =
        std::env::temp_dir().join(format!("cpra-bench-reload-snap-{}", std::process::id()));
    std::fs::create_dir_all(&snap_dir).expect("temp dir");
    engine
        .enable_snapshots(snap_dir.clone())
        .expect("snapshots");
    let mut longest_other = Duration::ZERO;
    let mut swap = Duration::ZERO;
    let mut preparing: Option<std::thread::JoinHandle<(cpra::engine::reload::Prepared, Duration)>> =
        None;
    let mut prepare_took = Duration::ZERO;
    // The second worker's poll must outlive its waker.
    let poll2 = mio::Poll::new().expect("poll");
    let mut next_ends = None;
    let mut now = 0u64;
    let mut applied_at: Option<u64> = None;
    // The virtual clock outruns the preparation: it goes on until 20 s after the swap.
    while applied_at.is_none_or(|t| now <= t + 20_000) {
        if now == 20_000 {
            let running = engine.catalog_arc();
            preparing =
                Some(std::thread::spawn(move || {
                    let t0 = Instant::now();
                    let step = N / 100;
                    let new = common::tcp_catalog_with(step..N + step, |i| {
                        if i % 100 == 50 { 30 } else { 60 }
                    });
                    let p = prepare(running, new, 0.0);
                    (p, t0.elapsed())
                }));
        }
        let ready = preparing.as_ref().is_some_and(|t| t.is_finished());
        let s0 = Instant::now();
        if ready && let Some(t) = preparing.take() {
            let (p, took) = t.join().expect("prepare");
            prepare_took = took;
            let (h, r2, c2) = WorkerHandle::detached(&poll2).expect("rings");
            let counts = engine
                .apply_reload_with(p, now, Some(vec![h]))
                .expect("applied");
            assert_eq!(counts.removed, N / 100);
            assert_eq!(counts.added, N / 100);
            next_ends = Some((r2, c2));
            applied_at = Some(now);
        }
        engine.step_at(now);
        let took = s0.elapsed();
        if ready {
            swap = took;
        } else {
            longest_other = longest_other.max(took);
        }
        match next_ends.as_mut() {
            Some((r, c)) => answer_all(r, c),
            None => answer_all(&mut requests, &mut completions),
        }
        now += 10;
    }
    drop(engine);
    let _ = std::fs::remove_dir_all(&snap_dir);
    eprintln!(
        "reload of 1M monitors: prepared in {:.0} ms off the engine thread; the swap tick took {:.1} ms; longest other tick {:.1} ms",
        prepare_took.as_secs_f64() * 1000.0,
        swap.as_secs_f64() * 1000.0,
        longest_other.as_secs_f64() * 1000.0
    );
    Figures {
        prepare: prepare_took,
        swap,
        longest_other,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("reload_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.bench_function("swap_tick", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let f = one_reload();
                    let _ = (f.prepare, f.longest_other);
                    f.swap
                })
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
