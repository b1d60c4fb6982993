//! The reloader thread of `cpra run`: SIGHUP and `POST /api/v1/reload` ask it to read the
//! configuration file again.
//!
//! It loads and validates the whole file off the engine thread (as `cpra check` would, with
//! the same `--strict` and `--shard`), checks that every notifier can start, prepares the swap
//! ([`crate::engine::reload::prepare`]) and hands it to the engine, which applies it at the
//! next tick boundary. A file with errors changes nothing: the running configuration stays,
//! and the errors are logged and shown by `GET /api/v1/reload`. Requests that arrive while a
//! reload runs are folded into one more reload after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use crate::api::View;
use crate::api::view::{Common, ReloadStatus};
use crate::engine::reload::{Counts, Prepared, prepare};
use crate::store::Catalog;
use crate::store::shard::Shard;

/// How the reloader reads the file: as `cpra run` did at start.
pub struct Source {
    pub file: PathBuf,
    pub strict: bool,
    pub shard: Option<Shard>,
}

/// The engine's side: where prepared reloads go and answers come from.
pub struct EngineLink {
    pub running: Arc<Catalog>,
    pub to_engine: Sender<Prepared>,
    pub answers: Receiver<Result<Counts, String>>,
}

/// Starts the reloader on the requests `rx` (each names who asks for a reload; `tx` is its
/// sending end, given to the API). `view` (when the API runs) gets each reload's status.
pub fn start(
    src: Source,
    link: EngineLink,
    view: Option<Arc<View>>,
    (tx, rx): (Sender<&'static str>, Receiver<&'static str>),
) -> std::io::Result<()> {
    if let Some(v) = &view
        && let Ok(mut r) = v.common().reload_requests.lock()
    {
        *r = Some(tx);
    }
    // Only what outlives a configuration: holding a view would keep its catalog alive.
    let common = view.map(|v| v.common_arc());
    std::thread::Builder::new()
        .name("cpra-reloader".into())
        .spawn(move || run(&src, link, common, &rx))?;
    Ok(())
}

fn run(src: &Source, mut link: EngineLink, view: Option<Arc<Common>>, rx: &Receiver<&'static str>) {
    let mut attempt = 0u64;
    while let Ok(who) = rx.recv() {
        while rx.try_recv().is_ok() {} // Folded into this one.
        attempt += 1;
        let mut status = ReloadStatus {
            attempt,
            state: "running",
            started_wall_ms: crate::api::routes::now_wall_ms(),
            ..Default::default()
        };
        publish(&view, &status);
        crate::say!("cpra: reloading {} (asked by {who})", src.file.display());
        match reload_once(src, &mut link) {
            Ok((counts, warnings, secs)) => {
                for w in &warnings {
                    crate::say!("warning: {w}");
                }
                crate::say!(
                    "cpra: configuration reloaded in {secs:.2} s: {} unchanged, {} changed (state kept, new check cycle), {} restarted (type or target changed), {} added, {} removed",
                    counts.unchanged,
                    counts.changed,
                    counts.restarted,
                    counts.added,
                    counts.removed
                );
                status.state = "applied";
                status.counts = counts.pairs();
                status.warnings = warnings;
            }
            Err(errors) => {
                crate::say!(
                    "cpra: reload refused, the running configuration stays:\n{}",
                    errors.join("\n")
                );
                status.state = "refused";
                status.errors = errors;
            }
        }
        status.finished_wall_ms = crate::api::routes::now_wall_ms();
        publish(&view, &status);
    }
}

/// One reload: counts, warnings and seconds taken, or every error.
fn reload_once(
    src: &Source,
    link: &mut EngineLink,
) -> Result<(Counts, Vec<String>, f64), Vec<String>> {
    let t0 = Instant::now();
    let lines = |e: String| -> Vec<String> {
        e.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let (catalog, warnings) =
        super::load_catalog(&src.file, src.strict, src.shard).map_err(lines)?;
    let cx = crate::effects::notify::Context {
        instance: Arc::from("reload"),
        timeout: Duration::from_secs(1),
    };
    let broken: Vec<String> = catalog
        .notifiers
        .iter()
        .filter_map(|spec| {
            crate::effects::notify::build(spec, &cx)
                .err()
                .map(|e| format!("notifier {} cannot start: {e}", spec.type_name()))
        })
        .collect();
    if !broken.is_empty() {
        return Err(broken);
    }
    let prepared = prepare(link.running.clone(), catalog, t0.elapsed().as_secs_f64());
    let next = prepared.catalog().clone();
    link.to_engine
        .send(prepared)
        .map_err(|_| vec!["the engine is stopping".to_string()])?;
    // The engine answers at its next tick.
    let answer = link
        .answers
        .recv()
        .map_err(|_| vec!["the engine is stopping".to_string()])?;
    let counts = answer.map_err(|e| vec![e])?;
    link.running = next;
    Ok((counts, warnings, t0.elapsed().as_secs_f64()))
}

fn publish(common: &Option<Arc<Common>>, status: &ReloadStatus) {
    if let Some(c) = common
        && let Ok(mut r) = c.reload.lock()
    {
        *r = Some(status.clone());
    }
}
