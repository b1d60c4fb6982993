//! Redirects (`follow_redirects`) and target addresses: a 3xx's `Location` followed, new
//! names looked up by the resolver thread, address refreshes applied to the worker's table.

use std::net::SocketAddr;

use super::Worker;
use super::state::ConnState;
use crate::store::{MonitorId, ProbeKind, ProbeSpec};

/// A followed redirect: the new destination of the check.
pub(super) struct Redirect {
    pub(super) hops: u32,
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) path: String,
    /// GET without body (303, or 301/302 after a non-GET).
    pub(super) as_get: bool,
    pub(super) addr: Option<SocketAddr>,
}

impl Redirect {
    pub(super) fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl Worker {
    /// Sets the check on its way to the `Location` of a 3xx, within `follow_redirects` hops.
    pub(super) fn follow_redirect(&mut self, slot: u32, status: u16, now: u64) -> bool {
        let catalog = self.catalog.clone();
        let c = &mut self.slots[slot as usize];
        let m = MonitorId(c.req.monitor);
        let ProbeSpec::Http(probe) = catalog.spec(m) else {
            return false;
        };
        let follow = probe.follow_redirects;
        if follow == 0 {
            return false;
        }
        let hops = c.redirect.as_ref().map_or(0, |r| r.hops);
        if hops >= follow {
            return false;
        }
        let Some(location) = c.bufs.exchange.location() else {
            return false;
        };
        // The current destination, to resolve a relative Location against.
        let target = catalog.target(m);
        let (cur_tls, cur_host, cur_port, cur_path) = match &c.redirect {
            Some(r) => (r.tls, r.host.clone(), r.port, r.path.clone()),
            None => (
                c.kind.is_tls(),
                target.host.to_string(),
                target.port,
                catalog.path(m).to_string(),
            ),
        };
        let next = if location.starts_with("http://") || location.starts_with("https://") {
            match crate::config::parse_http_url(location) {
                Ok(u) => Redirect {
                    hops: hops + 1,
                    tls: u.scheme == crate::config::model::Scheme::Https,
                    addr: None,
                    host: u.host,
                    port: u.port,
                    path: u.path,
                    as_get: false,
                },
                Err(_) => return false,
            }
        } else {
            let path = if location.starts_with('/') {
                location.to_string()
            } else {
                // Relative to the current path's directory.
                let dir = cur_path.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{location}")
            };
            if path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return false;
            }
            Redirect {
                hops: hops + 1,
                tls: cur_tls,
                host: cur_host.clone(),
                port: cur_port,
                path,
                as_get: false,
                addr: None,
            }
        };
        let mut next = next;
        next.as_get = status == 303 || (matches!(status, 301 | 302) && &*probe.method != "GET");
        next.addr = if next.host == cur_host && next.port == cur_port {
            match &c.redirect {
                Some(r) => r.addr,
                None => self
                    .addrs
                    .get(catalog.target_of[m.0 as usize] as usize)
                    .copied()
                    .flatten(),
            }
        } else {
            None
        };
        if next.tls && self.tls.is_none() {
            return false; // No TLS configuration in this process: judge the 3xx as is.
        }
        c.kind = if next.tls {
            ProbeKind::HTTPS
        } else {
            ProbeKind::HTTP
        };
        c.redirect = Some(Box::new(next));
        c.attempts = c.attempts.saturating_sub(1);
        self.settle(slot, now, false);
        self.begin_attempt(slot, now);
        true
    }

    /// Applies target address changes from the resolver.
    pub(super) fn apply_addr_updates(&mut self) {
        let Some(rx) = self.addr_updates.as_ref() else {
            return;
        };
        while let Ok((id, addr)) = rx.try_recv() {
            if let Some(a) = self.addrs.get_mut(id as usize) {
                *a = addr;
            }
        }
    }

    /// Retries the checks that were waiting for a name.
    pub(super) fn retry_resolving(&mut self) {
        if self.resolve_wait.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.resolve_wait);
        let now = self.now_us();
        for slot in waiting {
            let c = &self.slots[slot as usize];
            if c.active && matches!(c.state, ConnState::Resolving) {
                self.begin_attempt(slot, now);
            }
        }
    }
}
