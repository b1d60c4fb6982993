//! The engine path without I/O: due → request ring → completion ring → lifecycle, for 1M
//! monitors at a 60 s interval, on a virtual clock. The "worker" is played inline: it pops
//! each request and answers at once (every 10th monitor failing), so what is measured is the
//! engine's own work per check: sweep, request build, two ring crossings, generation check,
//! counters, lifecycle, re-filing.
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

fn catalog() -> cpra::store::Catalog {
    common::tcp_catalog(N)
}

fn bench(c: &mut Criterion) {
    let cat = Arc::new(catalog());
    let mut g = c.benchmark_group("engine_path_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for with_view in [false, true] {
        let name = if with_view {
            "one_interval_60s_virtual_with_api_view"
        } else {
            "one_interval_60s_virtual"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let poll = mio::Poll::new().expect("poll");
                    let (handle, mut requests, mut completions) =
                        WorkerHandle::detached(&poll).expect("rings");
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
                        // What `cpra run --listen` adds: cells per result, events and
                        // histories once per tick, counters every second.
                        let _view = engine.attach_view(0.0);
                    }
                    let mut reqs = Vec::with_capacity(1 << 16);
                    let mut done = Vec::with_capacity(1 << 16);
                    let t0 = Instant::now();
                    // One full interval plus a tick, 10 ms steps.
                    let mut now = 0u64;
                    while now <= 60_010 {
                        engine.step_at(now);
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
                    total += t0.elapsed();
                    let checks = engine.stats().checks;
                    assert!(checks >= N as u64, "only {checks} checks");
                    eprintln!(
                        "engine path{}: {checks} checks in {:.3} s = {:.2} M monitors/s",
                        if with_view { " with the API view" } else { "" },
                        t0.elapsed().as_secs_f64(),
                        checks as f64 / t0.elapsed().as_secs_f64() / 1e6,
                    );
                    drop(engine);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
