//! The API's reads on a million monitors, on the server's side of the view: a page of the
//! list (no filter, a rare state, a rare name), the counts per state, `/metrics` without
//! per-monitor series, and a monitor found by name.
//!
//! `cargo bench --bench api`

use std::sync::Arc;
use std::time::Duration;

use cpra::api::routes::{Filter, page};
use cpra::api::server::Request;
use cpra::api::view::View;
use cpra::lifecycle::State;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/mod.rs"]
mod common;

fn req(query: &str) -> Request {
    Request {
        method: "GET".into(),
        path: "/api/v1/monitors".into(),
        query: query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Request::default()
    }
}

fn bench(c: &mut Criterion) {
    let cat = Arc::new(common::tcp_catalog(common::N));
    let (view, _commands) = View::new(cat, Arc::from("bench"), 0, 0.0);
    // One monitor in a thousand is down, spread evenly.
    for m in (0..common::N as u32).step_by(1000) {
        view.update(m, |c| c.state = State::Down);
    }
    let mut g = c.benchmark_group("api_1m");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    for (name, q) in [
        ("page_50_all", "limit=50"),
        ("page_50_down", "state=down&limit=50"),
        (
            "page_50_down_degraded_intervening",
            "state=down,degraded,intervening&limit=50",
        ),
        ("page_name_matching_one", "q=M-999999&limit=50"),
        ("page_name_matching_none", "q=zz&limit=50"),
    ] {
        let f = Filter::parse(&req(q)).expect("filter");
        g.bench_function(name, |b| b.iter(|| black_box(page(&view, &f, 0, 50))));
    }
    g.bench_function("counts_per_state_and_type", |b| {
        b.iter(|| black_box(view.counts()))
    });
    g.bench_function("metrics_without_per_monitor_series", |b| {
        let counts = view.counts();
        b.iter(|| black_box(cpra::api::metrics::render(&view, &counts, false)))
    });
    g.bench_function("find_by_name_last", |b| {
        b.iter(|| black_box(view.find("m-999999")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
