//! Codes per second into the durable outbox: render the record, append in engine-tick batches
//! (one write and one fsync per batch), then acknowledge. The target: at least 50,000
//! codes/s, so that a storm of a million codes is on disk in under 20 s.

use std::time::Duration;

use cpra::config::model::Colour;
use cpra::effects::notify::outbox::{Limits, Outbox};
use cpra::effects::render::{Code, to_record};
use cpra::lifecycle::{Cause, Event, State};
use cpra::probe::reason::Reason;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1000;

fn codes() -> Vec<Code> {
    (0..BATCH)
        .map(|i| Code {
            monitor: format!("svc-{i:06}.prod.example.com"),
            colour: Colour::Red,
            event: Event {
                monitor: i as u32,
                from: State::Degraded,
                to: State::Down,
                colour: Some(Colour::Red),
                cause: Cause::ThresholdReached,
                reason: Reason::Timeout,
                status: 0,
                failures: 3,
                at_ms: 0,
                incident_ms: 0,
            },
            wall_ms: 1_800_000_000_000 + i as u64,
            incident_wall_ms: 1_800_000_000_000,
            reminder: false,
        })
        .collect()
}

fn outbox(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cpra-bench-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut ob, _) = Outbox::open(
        &dir,
        Limits {
            segment_bytes: 64 << 20,
            total_bytes_max: 8 << 30,
        },
    )
    .expect("outbox opens");
    let codes = codes();
    let mut g = c.benchmark_group("outbox");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("append_1000_codes_one_fsync_then_ack", |b| {
        b.iter(|| {
            let payloads: Vec<(u64, Vec<u8>)> = codes.iter().map(|c| (7, to_record(c))).collect();
            let batch: Vec<(u64, &[u8])> =
                payloads.iter().map(|(k, p)| (*k, p.as_slice())).collect();
            let seqs = ob.append(&batch).expect("append");
            ob.ack(&seqs).expect("ack");
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, outbox);
criterion_main!(benches);
