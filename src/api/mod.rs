//! The operator's surface, served by `cpra run` itself: the JSON API (`/api/v1`), Prometheus
//! `/metrics`, `/healthz` and the live dashboard (`/`). Reference: `docs/api.md`.
//!
//! - [`view`]: what the engine publishes and the server reads, without a lock per request on
//!   the engine (atomic cells per monitor, one mutex taken once per tick, a command channel).
//! - [`server`]: a bounded HTTP/1.1 server on mio and httparse, on its own thread.
//! - [`routes`]: the endpoints; [`metrics`]: the exposition; `dashboard.html`: the page,
//!   embedded at build time (no build step, no CDN).
//!
//! The engine's hot path is untouched but for two atomic stores per result (the cells) and a
//! push per transition; everything else happens on the server's thread.

pub mod metrics;
pub mod routes;
pub mod server;
pub mod view;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use routes::ApiOptions;
pub use server::Server;
pub use view::View;

/// Starts the server on `addr` for `view`.
pub fn start(view: Arc<View>, addr: SocketAddr, opts: ApiOptions) -> std::io::Result<Server> {
    Server::start(addr, routes::Api::new(view, opts))
}

/// The write token: from `file` (trimmed), else `CPRA_API_TOKEN`, else none (writes answer
/// 403). An unreadable or empty file is an error that says so.
pub fn read_token(file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read the API token file {}: {e}", f.display()))?;
        let t = text.trim();
        if t.is_empty() {
            return Err(format!(
                "the API token file {} is empty: put a long random token in it",
                f.display()
            ));
        }
        return Ok(Some(t.to_string()));
    }
    Ok(std::env::var("CPRA_API_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// Parses `--listen`: an address, or `none` (off).
pub fn parse_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse::<SocketAddr>().map(Some).map_err(|_| {
        format!("--listen {s:?}: give an address and port such as 127.0.0.1:9797, or none")
    })
}
