//! What several benches build: a catalog of TCP monitors at a 60 s interval.
#![allow(dead_code)]

use std::time::Duration;

use cpra::config::model::*;
use cpra::store::{Catalog, StoreBuilder};

pub const N: usize = 1_000_000;

/// `n` TCP monitors `m-0` .. `m-{n-1}`, 60 s interval, over 200 hosts and 50 ports.
pub fn tcp_catalog(n: usize) -> Catalog {
    tcp_catalog_with(0..n, |_| 60)
}

/// TCP monitors `m-{i}` for `i` in `ids`, every `interval_s(i)` seconds, over 200 hosts and 50
/// ports (the same target for the same `i`).
pub fn tcp_catalog_with(ids: std::ops::Range<usize>, interval_s: impl Fn(usize) -> u64) -> Catalog {
    let mut b = StoreBuilder::new();
    for i in ids {
        b.add(MonitorSpec {
            index: i,
            line: 0,
            name: format!("m-{i}"),
            enabled: true,
            pulse: PulseSpec {
                interval: Duration::from_secs(interval_s(i)),
                timeout: Duration::from_secs(5),
                unhealthy_threshold: 3,
                healthy_threshold: None,
                kind: PulseKind::Tcp(TcpPulse {
                    host: format!("127.0.0.{}", 1 + i % 200),
                    port: 10_000 + (i % 50) as u16,
                    retries: 0,
                }),
            },
            intervention: None,
            codes: CodesSpec::default(),
            maintenance: vec![],
        });
    }
    b.finish().expect("valid")
}
