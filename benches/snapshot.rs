//! The state snapshot of a million monitors: writing the file (mapped temp file, fsync,
//! rename) and loading it (map, check the CRC, cast), plus what the engine copies per tick.
//!
//! `cargo bench --bench snapshot`

use std::hint::black_box;
use std::time::Duration;

use cpra::limits::SNAPSHOT_RECORDS_PER_TICK;
use cpra::snapshot::{self, Record, Snapshot};
use criterion::{Criterion, criterion_group, criterion_main};

const N: usize = 1_000_000;

fn records() -> Vec<Record> {
    (0..N)
        .map(|i| Record {
            key: (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            pulse: i as u64,
            incident_wall_ms: if i % 100 == 0 { 1_800_000_000_000 } else { 0 },
            checks: i as u32,
            state: (i % 100 == 0) as u8 * 2,
            ..Default::default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cpra-bench-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let recs = records();
    let mut g = c.benchmark_group("snapshot_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("write_72mb_fsync_rename", |b| {
        b.iter(|| snapshot::write(&dir, &recs, 1, "bench").expect("write"))
    });
    g.bench_function("load_map_check_crc", |b| {
        b.iter(|| {
            let s = Snapshot::load(&dir).expect("load");
            black_box(s.records().len())
        })
    });
    g.bench_function("copy_one_tick_of_records", |b| {
        let mut buf = Vec::with_capacity(SNAPSHOT_RECORDS_PER_TICK);
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(&recs[..SNAPSHOT_RECORDS_PER_TICK]);
            black_box(buf.len())
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
