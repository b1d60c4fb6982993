//! The engine path without I/O: due → request ring → completion ring → lifecycle, for 1M
//! monitors at a 60 s interval, on a virtual clock. The "worker" is played inline: it pops
//! each request and answers at once (every 10th monitor failing), so what is measured is the
//! engine's own work per check: sweep, request build, two ring crossings, generation check,
//! counters, lifecycle, re-filing. Variants add what `cpra run` adds: the API view, and the
//! state snapshot (copied a slice per tick; the longest step is printed).
//!
//! `cargo bench --bench engine_path` (reports monitors per second on one core).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cpra::engine::{Engine, EngineConfig};
use cpra::probe::Completion;
use cpra::probe::reason::Reason;
use cpra::probe::worker::WorkerHandle;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/mod.rs"]
mod common;

const N: usize = common::N;

/// One interval of 1M monitors; returns the time and prints the rate and the longest step.
fn one_interval(
    cat: &Arc<cpra::store::Catalog>,
    with_view: bool,
    with_snapshots: bool,
) -> Duration {
    let poll = mio::Poll::new().expect("poll");
    let (handle, mut requests, mut completions) = WorkerHandle::detached(&poll).expect("rings");
    let mut engine = Engine::with_workers(
        cat.clone(),
        EngineConfig {
            workers: 1,
            pin: false,
            ..EngineConfig::default()
        },
        vec![handle],
    )
    .expect("engine");
    if with_view {
        // Cells per result, events and histories once per tick, counters every second.
        let _view = engine.attach_view(0.0);
    }
    let snap_dir =
        std::env::temp_dir().join(format!("cpra-bench-engine-snap-{}", std::process::id()));
    if with_snapshots {
        // A snapshot every 5 s of virtual time, copied a slice per tick.
        std::fs::create_dir_all(&snap_dir).expect("temp dir");
        engine
            .enable_snapshots(snap_dir.clone())
            .expect("snapshots");
    }
    let mut reqs = Vec::with_capacity(1 << 16);
    let mut done = Vec::with_capacity(1 << 16);
    let mut longest = Duration::ZERO;
    let t0 = Instant::now();
    // One full interval plus a tick, 10 ms steps.
    let mut now = 0u64;
    while now <= 60_010 {
        let s0 = Instant::now();
        engine.step_at(now);
        longest = longest.max(s0.elapsed());
        reqs.clear();
        requests.pop_batch(&mut reqs, usize::MAX);
        done.clear();
        for r in &reqs {
            let fail = r.monitor % 10 == 0;
            done.push(Completion {
                monitor: r.monitor,
                generation: r.generation,
                latency_us: 300,
                lateness_us: 0,
                status: if fail { 500 } else { 200 },
                reason: if fail {
                    Reason::Status as u8
                } else {
                    Reason::Ok as u8
                },
                attempts: 1,
                cert_days: cpra::probe::worker::NO_CERT,
            });
        }
        let pushed = completions.push_batch(&done);
        assert_eq!(pushed, done.len());
        now += 10;
    }
    engine.step_at(now);
    let took = t0.elapsed();
    let checks = engine.stats().checks;
    assert!(checks >= N as u64, "only {checks} checks");
    eprintln!(
        "engine path{}{}: {checks} checks in {:.3} s = {:.2} M monitors/s, longest step {:.2} ms",
        if with_view { " with the API view" } else { "" },
        if with_snapshots { " and snapshots" } else { "" },
        took.as_secs_f64(),
        checks as f64 / took.as_secs_f64() / 1e6,
        longest.as_secs_f64() * 1000.0,
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&snap_dir);
    took
}

fn bench(c: &mut Criterion) {
    let cat = Arc::new(common::tcp_catalog(N));
    let mut g = c.benchmark_group("engine_path_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for (view, snaps, name) in [
        (false, false, "one_interval_60s_virtual"),
        (true, false, "one_interval_60s_virtual_with_api_view"),
        (
            true,
            true,
            "one_interval_60s_virtual_with_api_view_and_snapshots",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| one_interval(&cat, view, snaps)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
