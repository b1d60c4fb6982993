//! Loading a generated monitors file: 100k and 1M http monitors, YAML and JSON, from memory.
//!
//! Each monitor has a name, type http, interval, timeout, a URL with a distinct path over 1000
//! host:port pairs, and one log code: the shape of a large real file. The sink only counts.
//! Run: `cargo bench --bench config_load` (release). `CPRA_BENCH_QUICK=1` skips the 1M cases.

use std::hint::black_box;
use std::time::Duration;

use cpra::config::{Format, LoadOptions, load_bytes};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Block-style YAML, as an operator (or the Go original's generator) writes it.
fn yaml(n: usize) -> String {
    let mut s = String::with_capacity(n * 260);
    s.push_str("monitors:\n");
    for i in 0..n {
        let h = i % 1000;
        s.push_str(&format!(
            "  - name: \"mon-{i:07}\"\n    pulse_check:\n      type: http\n      interval: 30s\n      timeout: 5s\n      config:\n        url: \"http://127.0.{}.{}:{}/health/{i}\"\n    codes:\n      red:\n        notify: log\n        config:\n          file: alerts.log\n",
            h / 250,
            h % 250 + 1,
            8000 + h
        ));
    }
    s
}

/// The same monitors as pretty-printed JSON.
fn json(n: usize) -> String {
    let mut s = String::with_capacity(n * 330);
    s.push_str("{\n  \"monitors\": [\n");
    for i in 0..n {
        let h = i % 1000;
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "    {{\n      \"name\": \"mon-{i:07}\",\n      \"pulse_check\": {{\n        \"type\": \"http\",\n        \"interval\": \"30s\",\n        \"timeout\": \"5s\",\n        \"config\": {{ \"url\": \"http://127.0.{}.{}:{}/health/{i}\" }}\n      }},\n      \"codes\": {{ \"red\": {{ \"notify\": \"log\", \"config\": {{ \"file\": \"alerts.log\" }} }} }}\n    }}",
            h / 250,
            h % 250 + 1,
            8000 + h
        ));
    }
    s.push_str("\n  ]\n}\n");
    s
}

fn load(text: &str, format: Format, n: usize) {
    let opts = LoadOptions::default();
    let mut count = 0usize;
    let report = load_bytes(text.as_bytes(), format, &opts, &mut |spec| {
        black_box(&spec);
        count += 1;
    });
    match report {
        Ok(r) => assert_eq!((r.monitors, count), (n, n)),
        Err(e) => panic!("generated file failed to load: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let quick = std::env::var_os("CPRA_BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut g = c.benchmark_group("config_load");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for &n in sizes {
        let y = yaml(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("yaml_{n}"), |b| {
            b.iter(|| load(&y, Format::Yaml, n))
        });
        drop(y);
        let j = json(n);
        g.bench_function(format!("json_{n}"), |b| {
            b.iter(|| load(&j, Format::Json, n))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
