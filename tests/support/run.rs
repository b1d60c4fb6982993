//! Running the real engine in a test: lower specs into a catalog, start the engine with real
//! workers (unpinned), and step it on the real clock for a while.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use cpra::config::model::MonitorSpec;
use cpra::engine::{Engine, EngineConfig};
use cpra::store::StoreBuilder;

/// Runs `specs` for `d` with `workers` probe workers; `tweak` adjusts the configuration.
pub fn run_engine(
    specs: Vec<MonitorSpec>,
    workers: usize,
    tweak: impl FnOnce(&mut EngineConfig),
    d: Duration,
) -> Engine {
    let mut b = StoreBuilder::new();
    for s in specs {
        b.add(s);
    }
    let mut cfg = EngineConfig {
        workers,
        pin: false,
        ..EngineConfig::default()
    };
    tweak(&mut cfg);
    let mut e = Engine::new(b.finish().expect("valid specs"), cfg).expect("engine starts");
    let t0 = Instant::now();
    while t0.elapsed() < d {
        e.step();
        std::thread::sleep(e.tick());
    }
    e
}
