//! cpra: an uptime monitor for a million monitors on one box.
//!
//! The crate is laid out by pipeline; each folder owns one stage of the data flow described in
//! `docs/architecture.md`:
//!
//! - [`config`]: file → validated [`config::model::MonitorSpec`]s, with every error located.
//! - [`store`]: the monitor columns (structure of arrays) and the read-only probe catalog.
//! - [`schedule`]: the timing wheel and the vectorized due sweep.
//! - [`probe`]: per-core mio probe loops and the SPSC rings that feed them.
//! - [`lifecycle`]: the pure state machine: columns + results → events.
//! - [`effects`]: notifiers and interventions, off the engine thread.
//! - [`engine`]: the loop that ties them together.
//! - [`stats`]: the engine's counters and histograms, read by the API and the summary.
//! - [`api`]: the operator's surface: JSON API, Prometheus metrics, the dashboard.
//! - [`snapshot`]: the state that survives a crash.
//! - [`vocab`]: the words every stage shares (ids, reasons, colours, hashes): the bottom.
//! - [`limits`]: every bound, named once with its unit.
//! - [`mem`]: what cpra asks of the C allocator.
//!
//! `unsafe` is denied everywhere but where it was measured to matter, each use with a
//! `// SAFETY:` comment and a test: the SPSC ring, ICMP's receive buffer and socket options,
//! mapping the snapshot file, and `malloc_trim` after a configuration load.
#![deny(unsafe_code)]

/// Writes one line to stderr and never panics: a closed or full stderr (a supervisor that
/// went away, `2>/dev/full`) must not take a thread down. `eprintln!` would panic.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        $crate::log::say(format_args!($($t)*));
    }};
}

/// `println!` that never panics: `cpra check f.yaml | head -1` closes the pipe early.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

pub mod api;
pub mod cli;
pub mod config;
pub mod effects;
pub mod engine;
pub mod fleet;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod mem;
pub mod probe;
pub mod schedule;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod vocab;
