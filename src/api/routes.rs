//! The API's routes (`/api/v1/...`, `/metrics`, `/healthz`, `/`): plain functions from a
//! [`Request`] to a [`Response`], reading the engine's [`View`].
//!
//! Reads are open on the listen address; writes (pause, resume, maintenance) need
//! `Authorization: Bearer TOKEN`, compared in constant time. Lists scan the view's cells from
//! a cursor (a monitor index) and stop at the page size, so a page costs at most one pass
//! over the monitors and usually far less (`cargo bench --bench api`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::server::{Handler, Request, Response, decode};
use super::view::{Cell, Command, EventRecord, View};
use crate::effects::render::rfc3339;
use crate::lifecycle::State;
use crate::limits::{
    API_COMMAND_WAIT_MS, API_PAGE_MONITORS_DEFAULT, API_PAGE_MONITORS_MAX, API_STREAM_SUMMARY_MS,
    HEALTHZ_STALL_MS,
};
use crate::store::{MonitorId, ProbeKind, ProbeSpec};

const DASHBOARD: &str = include_str!("dashboard.html");

/// How long one scan of the cells serves counts (summary, metrics, streams).
const COUNTS_TTL: Duration = Duration::from_millis(250);

/// How the API answers.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// The bearer token writes need; `None`: writes answer 403.
    pub token: Option<String>,
    /// Per-monitor Prometheus series.
    pub per_monitor_metrics: bool,
}

pub struct Api {
    view: Arc<View>,
    opts: ApiOptions,
    next_summary: Instant,
    /// Monitors per kind and state, from a scan of the cells, kept for `COUNTS_TTL`.
    counts_cache: Option<(Instant, [[u64; State::COUNT]; 8])>,
}

impl Api {
    pub fn new(view: Arc<View>, opts: ApiOptions) -> Api {
        Api {
            view,
            opts,
            next_summary: Instant::now(),
            counts_cache: None,
        }
    }

    fn authorized(&self, req: &Request) -> Result<(), Response> {
        let Some(token) = self.opts.token.as_deref() else {
            return Err(Response::error(
                403,
                "writes are off: start cpra with --api-token-file PATH (or CPRA_API_TOKEN) and send Authorization: Bearer TOKEN",
            ));
        };
        let given = req
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if given.is_empty() || !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Err(Response::error(
                401,
                "send Authorization: Bearer TOKEN with the token cpra was started with",
            ));
        }
        Ok(())
    }

    fn monitor_json(&self, m: u32, c: &Cell) -> Value {
        let cat = &self.view.catalog;
        json!({
            "name": cat.name(MonitorId(m)),
            "type": type_name(cat.kinds[m as usize]),
            "target": target_text(&self.view, m),
            "enabled": cat.enabled[m as usize],
            "state": c.state.name(),
            "paused": c.paused,
            "colour": c.colour.map(|c| c.name()),
            "since": (c.since_s > 0).then(|| time_s(c.since_s)),
            "last_check": (c.checked_s > 0).then(|| time_s(c.checked_s)),
            "reason": (c.checked_s > 0).then(|| c.reason.name()),
            "status": c.status,
            "latency_ms": c.latency_us as f64 / 1000.0,
        })
    }

    fn list(&self, req: &Request) -> Response {
        let filter = match Filter::parse(req) {
            Ok(f) => f,
            Err(e) => return Response::error(400, &e),
        };
        let limit = match req.param("limit").map(str::parse::<usize>) {
            None => API_PAGE_MONITORS_DEFAULT,
            Some(Ok(n)) if (1..=API_PAGE_MONITORS_MAX).contains(&n) => n,
            Some(_) => {
                return Response::error(
                    400,
                    &format!("limit must be a number from 1 to {API_PAGE_MONITORS_MAX}"),
                );
            }
        };
        let start = match req.param("cursor").map(str::parse::<u32>) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                return Response::error(400, "cursor must be a next_cursor from an earlier page");
            }
        };
        let (page, next) = page(&self.view, &filter, start, limit);
        let monitors: Vec<Value> = page
            .iter()
            .map(|&m| self.monitor_json(m, &self.view.cell(m)))
            .collect();
        Response::json(
            200,
            json!({
                "monitors": monitors,
                "next_cursor": next.map(|n| n.to_string()),
            })
            .to_string(),
        )
    }

    fn detail(&self, name: &str) -> Response {
        let Some(m) = self.view.find(name) else {
            return Response::error(404, &format!("no monitor named {name:?}"));
        };
        let cell = self.view.cell(m);
        let mut v = self.monitor_json(m, &cell);
        let cat = &self.view.catalog;
        v["interval_s"] = json!(cat.interval_ms[m as usize] as f64 / 1000.0);
        v["timeout_s"] = json!(cat.timeout_ms[m as usize] as f64 / 1000.0);
        let (results, events, tracked) = {
            let s = self.view.shared();
            if !self.view.is_latest() {
                return Response::error(503, "the configuration was just reloaded; ask again");
            }
            let results = s.history.of(m);
            let events: Vec<EventRecord> = s
                .events
                .iter()
                .rev()
                .filter(|e| e.monitor == m)
                .take(100)
                .copied()
                .collect();
            (results, events, s.history.is_tracked(m))
        };
        if !tracked {
            // Looked at: keep its results from now on.
            self.view.tell(Command::Track(m));
        }
        let kind = cat.kinds[m as usize];
        let spec = cat.spec(MonitorId(m));
        v["results"] = results
            .iter()
            .map(|r| {
                let reason = crate::vocab::Reason::from_u8(r.reason);
                json!({
                    "time": time_s(r.wall_s),
                    "reason": reason.name(),
                    "status": r.status,
                    "latency_ms": r.latency_us as f64 / 1000.0,
                    "ok": reason == crate::vocab::Reason::Ok
                        && (!kind.is_http() || spec_status_ok(spec, r.status)),
                })
            })
            .collect();
        v["history"] = json!(if tracked { "kept" } else { "kept from now on" });
        v["events"] = events.iter().map(|e| self.event_json(e)).collect();
        Response::json(200, v.to_string())
    }

    fn event_json(&self, e: &EventRecord) -> Value {
        let monitor = if (e.monitor as usize) < self.view.catalog.len() {
            self.view.catalog.name(MonitorId(e.monitor)).to_string()
        } else {
            crate::vocab::BREAKER_MONITOR.to_string()
        };
        json!({
            "seq": e.seq,
            "time": rfc3339(e.wall_ms),
            "monitor": monitor,
            "from": e.from.name(),
            "to": e.to.name(),
            "colour": e.colour.map(|c| c.name()),
            "cause": e.cause.name(),
            "reason": e.reason.name(),
            "status": e.status,
            "instance": &*self.view.instance,
        })
    }

    fn events(&mut self, req: &Request) -> Response {
        let limit = req
            .param("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        let since = match req.param("since").map(str::parse::<u64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => return Response::error(400, "since must be an event seq number"),
        };
        let view = self.view.clone();
        let s = view.shared();
        // Events are renumbered at a reload under this lock: name them with the view taken
        // under it.
        self.view = view.latest();
        let list: Vec<Value> = match since {
            // Polling: everything from `since` on, oldest first, so nothing is skipped; the
            // next poll asks from the last seq returned + 1.
            Some(from) => s
                .events_since(from, limit)
                .iter()
                .map(|e| self.event_json(e))
                .collect(),
            None => s
                .events
                .iter()
                .rev()
                .take(limit)
                .map(|e| self.event_json(e))
                .collect(),
        };
        let last = s.next_seq.checked_sub(1);
        drop(s);
        Response::json(200, json!({ "events": list, "last_seq": last }).to_string())
    }

    /// Monitors per kind and state, live from the cells; several requests within
    /// `COUNTS_TTL` share one scan.
    pub fn counts(&mut self) -> [[u64; State::COUNT]; 8] {
        if let Some((at, c)) = &self.counts_cache
            && at.elapsed() < COUNTS_TTL
        {
            return *c;
        }
        let c = self.view.counts();
        self.counts_cache = Some((Instant::now(), c));
        c
    }

    pub fn summary_json(&mut self) -> Value {
        let counts = self.counts();
        let mut totals = [0u64; State::COUNT];
        for row in &counts {
            for (t, n) in totals.iter_mut().zip(row) {
                *t += n;
            }
        }
        let s = self.view.shared();
        let p = &s.published;
        let rate = match &s.previous {
            Some(prev) if p.wall_ms > prev.wall_ms => {
                (p.stats.checks - prev.stats.checks.min(p.stats.checks)) as f64
                    / ((p.wall_ms - prev.wall_ms) as f64 / 1000.0)
            }
            _ => 0.0,
        };
        let states: serde_json::Map<String, Value> = State::ALL
            .iter()
            .map(|st| (st.name().to_string(), json!(totals[*st as usize])))
            .collect();
        let types: serde_json::Map<String, Value> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| c.iter().any(|n| *n > 0))
            .map(|(k, c)| {
                let m: serde_json::Map<String, Value> = State::ALL
                    .iter()
                    .map(|st| (st.name().to_string(), json!(c[*st as usize])))
                    .collect();
                (ProbeKind(k as u8).name().to_string(), Value::Object(m))
            })
            .collect();
        let pct = |h: &crate::stats::Histogram| {
            json!({
                "p50": h.quantile(0.5) as f64 / 1000.0,
                "p99": h.quantile(0.99) as f64 / 1000.0,
                "max": h.max() as f64 / 1000.0,
            })
        };
        let cat = &self.view.catalog;
        json!({
            "instance": &*self.view.instance,
            "monitors": cat.len(),
            "enabled": cat.enabled.iter().filter(|e| **e).count(),
            "paused": p.paused,
            "states": states,
            "types": types,
            "checks": p.stats.checks,
            "checks_per_s": rate,
            "expected_checks_per_s": cat.expected_checks_per_s(),
            "lateness_ms": pct(&p.stats.lateness_us),
            "latency_ms": pct(&p.stats.latency_us),
            "in_flight": p.in_flight,
            "skipped": p.stats.skipped,
            "deferred": p.stats.deferred,
            "lost": p.stats.lost,
            "codes": {
                "sent": p.stats.codes_sent.iter().sum::<u64>(),
                "recorded": p.stats.codes_recorded.iter().sum::<u64>(),
                "delivered": p.notify.delivered,
                "failed": p.notify.failed,
                "queued": p.notify.undelivered,
                "dropped": p.notify.dropped,
            },
            "interventions": {
                "started": p.stats.interventions_started,
                "succeeded": p.stats.interventions_succeeded,
                "failed": p.stats.interventions_failed,
                "held_by_breaker": p.held_by_breaker,
                "breaker_open": p.breaker_open,
            },
            "uptime_s": (p.wall_ms.saturating_sub(self.view.started_wall_ms)) as f64 / 1000.0,
            "shard": cat.shard.map(|sh| json!({
                "index": sh.index,
                "count": sh.count,
                "replicas": sh.replicas,
                "monitors_in_file": cat.monitors_in_file,
            })),
        })
    }

    fn write(&self, req: &Request, name: &str, action: &str) -> Response {
        if let Err(r) = self.authorized(req) {
            return r;
        }
        let Some(m) = self.view.find(name) else {
            return Response::error(404, &format!("no monitor named {name:?}"));
        };
        let command = match action {
            "pause" => Command::Pause(m),
            "resume" => Command::Resume(m),
            "maintenance" => match maintenance_of(&req.body, now_wall_ms()) {
                Ok((start, duration)) => Command::Maintenance {
                    monitor: m,
                    start_wall_ms: start,
                    duration_ms: duration,
                },
                Err(e) => return Response::error(400, &e),
            },
            _ => return Response::error(404, "unknown action; use pause, resume or maintenance"),
        };
        match self
            .view
            .ask(command, Duration::from_millis(API_COMMAND_WAIT_MS))
        {
            Ok(msg) => Response::json(
                200,
                json!({ "monitor": name, "result": msg, "state": self.view.cell(m).state.name(), "paused": self.view.cell(m).paused }).to_string(),
            ),
            Err(e) if e.contains("in time") || e.contains("not running") => {
                Response::error(503, &e)
            }
            Err(e) => Response::error(409, &e),
        }
    }

    /// `POST /api/v1/reload`: asks for the configuration file to be read again. The answer
    /// comes at once (a million monitors take seconds to load); `GET /api/v1/reload` tells
    /// how it went.
    fn reload(&self, req: &Request) -> Response {
        if let Err(r) = self.authorized(req) {
            return r;
        }
        let common = self.view.common();
        let asked = common
            .reload_requests
            .lock()
            .ok()
            .and_then(|tx| tx.as_ref().map(|tx| tx.send("the API").is_ok()));
        match asked {
            Some(true) => Response::json(
                202,
                json!({
                    "result": "reload started: the file is read and checked, then applied at a tick boundary",
                    "status": "/api/v1/reload",
                })
                .to_string(),
            ),
            _ => Response::error(
                409,
                "this cpra cannot reload (not started by `cpra run`, or stopping)",
            ),
        }
    }

    fn reload_status(&self) -> Response {
        let status = self
            .view
            .common()
            .reload
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        let Some(r) = status else {
            return Response::json(
                200,
                json!({ "state": "none", "configuration": self.view.number }).to_string(),
            );
        };
        let counts: serde_json::Map<String, Value> = r
            .counts
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        Response::json(
            200,
            json!({
                "attempt": r.attempt,
                "state": r.state,
                "started": rfc3339(r.started_wall_ms),
                "finished": (r.finished_wall_ms > 0).then(|| rfc3339(r.finished_wall_ms)),
                "errors": r.errors,
                "warnings": r.warnings,
                "monitors": counts,
                "configuration": self.view.number,
            })
            .to_string(),
        )
    }

    fn healthz(&self) -> Response {
        let last = self
            .view
            .common()
            .last_tick_wall_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let age = now_wall_ms().saturating_sub(last);
        if age > HEALTHZ_STALL_MS {
            Response::text(
                503,
                "text/plain",
                format!("engine stalled: no tick for {:.1} s\n", age as f64 / 1000.0),
            )
        } else {
            Response::text(200, "text/plain", "ok\n")
        }
    }
}

impl Handler for Api {
    fn handle(&mut self, req: &Request) -> Response {
        // After a reload, the new configuration's view: every id in this request is its.
        self.view = self.view.latest();
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let get = req.method == "GET" || req.method == "HEAD";
        match (req.method.as_str(), parts.as_slice()) {
            (_, [""] | []) if get => Response::text(200, "text/html; charset=utf-8", DASHBOARD),
            (_, ["healthz"]) if get => self.healthz(),
            (_, ["metrics"]) if get => {
                let counts = self.counts();
                Response::text(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    super::metrics::render(&self.view, &counts, self.opts.per_monitor_metrics),
                )
            }
            (_, ["api", "v1", "summary"]) if get => {
                Response::json(200, self.summary_json().to_string())
            }
            (_, ["api", "v1", "monitors"]) if get => self.list(req),
            (_, ["api", "v1", "monitors", name]) if get => self.detail(&decode(name)),
            (_, ["api", "v1", "events"]) if get => self.events(req),
            ("GET", ["api", "v1", "events", "stream"]) => Response::Stream {
                first: format!(
                    "retry: 2000\nevent: summary\ndata: {}\n\n",
                    self.summary_json()
                )
                .into_bytes(),
            },
            ("POST", ["api", "v1", "reload"]) => self.reload(req),
            (_, ["api", "v1", "reload"]) if get => self.reload_status(),
            ("POST", ["api", "v1", "monitors", name, action]) => {
                self.write(req, &decode(name), action)
            }
            (_, ["api", "v1", ..]) | (_, ["healthz" | "metrics"]) => Response::error(
                if get || req.method == "POST" {
                    404
                } else {
                    405
                },
                "no such endpoint; see docs/api.md",
            ),
            _ => Response::error(404, "not found; the dashboard is at /, the API at /api/v1"),
        }
    }

    fn stream_start(&mut self) -> u64 {
        self.view.shared().next_seq
    }

    fn pump(&mut self, positions: &mut [u64], now: Instant) -> Vec<Vec<u8>> {
        let summary = (now >= self.next_summary).then(|| {
            self.next_summary = now + Duration::from_millis(API_STREAM_SUMMARY_MS);
            format!("event: summary\ndata: {}\n\n", self.summary_json())
        });
        let from = positions.iter().copied().min().unwrap_or(0);
        let view = self.view.clone();
        let events = {
            let s = view.shared();
            // Events are renumbered at a reload under this lock: the view taken under it
            // names them right.
            self.view = view.latest();
            s.events_since(from, 10_000)
        };
        let rendered: Vec<(u64, String)> = events
            .iter()
            .map(|e| {
                (
                    e.seq,
                    format!(
                        "id: {}\nevent: transition\ndata: {}\n\n",
                        e.seq,
                        self.event_json(e)
                    ),
                )
            })
            .collect();
        positions
            .iter_mut()
            .map(|pos| {
                let mut out = String::new();
                for (seq, text) in &rendered {
                    if *seq >= *pos {
                        out.push_str(text);
                        *pos = seq + 1;
                    }
                }
                if let Some(s) = &summary {
                    out.push_str(s);
                }
                out.into_bytes()
            })
            .collect()
    }
}

/// Which monitors a list shows.
#[derive(Debug, Default)]
pub struct Filter {
    /// Bit per state; bit 7: paused. 0: all.
    states: u8,
    kinds: u8,
    /// Lower-case name substring.
    q: Option<Vec<u8>>,
}

const PAUSED_BIT: u8 = 1 << 7;

impl Filter {
    pub fn parse(req: &Request) -> Result<Filter, String> {
        let mut f = Filter::default();
        if let Some(s) = req.param("state").filter(|s| !s.is_empty()) {
            for name in s.split(',') {
                let name = name.trim();
                f.states |= if name == "paused" {
                    PAUSED_BIT
                } else {
                    let st = State::from_name(name).ok_or_else(|| {
                        format!(
                            "unknown state {name:?}; known: up, degraded, down, intervening, verifying, maintenance, paused"
                        )
                    })?;
                    1 << st as u8
                };
            }
        }
        if let Some(t) = req.param("type").filter(|s| !s.is_empty()) {
            for name in t.split(',') {
                f.kinds |= match name.trim() {
                    "http" => 1 << ProbeKind::HTTP.0 | 1 << ProbeKind::HTTPS.0,
                    "https" => 1 << ProbeKind::HTTPS.0,
                    "tcp" => 1 << ProbeKind::TCP.0,
                    "tls" => 1 << ProbeKind::TLS.0,
                    "icmp" => 1 << ProbeKind::ICMP.0,
                    "dns" => 1 << ProbeKind::DNS.0,
                    other => {
                        return Err(format!(
                            "unknown type {other:?}; known: http, https, tcp, tls, icmp, dns"
                        ));
                    }
                };
            }
        }
        if let Some(q) = req.param("q").filter(|s| !s.is_empty()) {
            f.q = Some(q.to_ascii_lowercase().into_bytes());
        }
        Ok(f)
    }
}

/// One page: up to `limit` monitors from index `start` that pass `f`, and the cursor of the
/// next page (`None` at the end).
pub fn page(view: &View, f: &Filter, start: u32, limit: usize) -> (Vec<u32>, Option<u32>) {
    let cat = &view.catalog;
    let n = view.len() as u32;
    let names = f.q.as_ref().map(|q| (view.names(), q));
    let mut out = Vec::with_capacity(limit.min(1024));
    let mut m = start;
    while m < n {
        if let Some((idx, q)) = names {
            match idx.next_match(q, m) {
                Some(hit) => m = hit,
                None => break,
            }
        }
        if out.len() == limit {
            return (out, Some(m));
        }
        let i = m as usize;
        m += 1;
        if f.kinds != 0 && f.kinds & (1 << cat.kinds[i].0.min(7)) == 0 {
            continue;
        }
        if f.states != 0 {
            let (state, paused) = view.state_bits(i);
            let bits = (1u8 << state as u8) | if paused { PAUSED_BIT } else { 0 };
            if f.states & bits == 0 {
                continue;
            }
        }
        out.push(i as u32);
    }
    (out, None)
}

fn type_name(k: ProbeKind) -> &'static str {
    if k == ProbeKind::HTTPS {
        "http"
    } else {
        k.name()
    }
}

fn spec_status_ok(spec: &ProbeSpec, status: u16) -> bool {
    match spec {
        ProbeSpec::Http(h) => h.status_ok(status),
        _ => true,
    }
}

/// What the monitor checks, as an operator would write it.
pub fn target_text(view: &View, m: u32) -> String {
    let cat = &view.catalog;
    let id = MonitorId(m);
    let t = cat.target(id);
    let kind = cat.kinds[m as usize];
    if kind.is_http() {
        let scheme = if kind == ProbeKind::HTTPS {
            "https"
        } else {
            "http"
        };
        return format!("{scheme}://{}{}", t.host_header, cat.path(id));
    }
    match cat.spec(id) {
        ProbeSpec::Dns(d) => format!("{} {:?} @{}:{}", d.query, d.record_type, t.host, t.port),
        _ if kind == ProbeKind::ICMP => t.host.to_string(),
        _ if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
        _ => format!("{}:{}", t.host, t.port),
    }
}

fn time_s(s: u32) -> String {
    rfc3339(u64::from(s) * 1000)
}

pub fn now_wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The body of a maintenance request: `{"start": RFC 3339 or "now" (default), "duration":
/// Go duration}`. Returns `(start wall ms, duration ms)`.
pub fn maintenance_of(body: &[u8], now_ms: u64) -> Result<(u64, u64), String> {
    let usage = "send JSON like {\"start\": \"2026-12-06T22:00:00Z\", \"duration\": \"2h\"} (start defaults to now)";
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("{e}: {usage}"))?;
    let start = match v.get("start") {
        None | Some(Value::Null) => now_ms,
        Some(Value::String(s)) if s == "now" => now_ms,
        Some(Value::String(s)) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("start {s:?}: {e}: {usage}"))?
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("start {s:?} is before 1970"))?
            .as_millis() as u64,
        Some(_) => return Err(format!("start must be a string: {usage}")),
    };
    let duration = match v.get("duration") {
        Some(Value::String(s)) => {
            crate::config::parse_go_duration(s).map_err(|e| format!("duration {s:?}: {e}"))?
        }
        _ => return Err(format!("duration is required: {usage}")),
    };
    if duration.is_zero() || duration > Duration::from_secs(366 * 24 * 3600) {
        return Err("duration must be more than 0 and at most a year".into());
    }
    Ok((start, duration.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_bodies() {
        let now = 1_000_000;
        assert_eq!(
            maintenance_of(br#"{"duration": "2h"}"#, now),
            Ok((now, 7_200_000))
        );
        assert_eq!(
            maintenance_of(
                br#"{"start": "1970-01-01T00:00:10Z", "duration": "1s"}"#,
                now
            ),
            Ok((10_000, 1000))
        );
        assert!(maintenance_of(br#"{"start": "tomorrow", "duration": "1s"}"#, now).is_err());
        assert!(maintenance_of(br#"{"duration": "0s"}"#, now).is_err());
        assert!(
            maintenance_of(b"not json", now)
                .unwrap_err()
                .contains("send JSON")
        );
        assert!(
            maintenance_of(br#"{}"#, now)
                .unwrap_err()
                .contains("duration is required")
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
