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

/// Where a check is headed now: scheme, host, port, path.
pub(super) struct Place<'a> {
    pub(super) tls: bool,
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) path: &'a str,
}

/// Where the `location` of a 3xx with `status` leads from `cur`, as hop `hops`: an absolute
/// `http(s)://` URL, a path from the root, or a path relative to the current directory.
/// `method` decides whether the next request is a plain GET (303, or 301/302 after a non-GET).
/// `None` for a location that cannot be followed.
pub(super) fn resolve_location(
    cur: &Place,
    location: &str,
    status: u16,
    method: &str,
    hops: u32,
) -> Option<Redirect> {
    let (tls, host, port, path) =
        if location.starts_with("http://") || location.starts_with("https://") {
            let u = crate::config::parse_http_url(location).ok()?;
            (
                u.scheme == crate::config::model::Scheme::Https,
                u.host,
                u.port,
                u.path,
            )
        } else {
            let path = if location.starts_with('/') {
                location.to_string()
            } else {
                let dir = cur.path.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{location}")
            };
            let bad = |b: u8| b.is_ascii_whitespace() || b.is_ascii_control();
            if path.bytes().any(bad) {
                return None;
            }
            (cur.tls, cur.host.to_string(), cur.port, path)
        };
    Some(Redirect {
        hops,
        tls,
        host,
        port,
        path,
        as_get: status == 303 || (matches!(status, 301 | 302) && method != "GET"),
        addr: None,
    })
}

impl Worker {
    /// Sets the check on its way to the `Location` of a 3xx, within `follow_redirects` hops.
    pub(super) fn follow_redirect(&mut self, slot: u32, status: u16, now: u64) -> bool {
        let Some(mut next) = self.redirect_of(slot, status) else {
            return false;
        };
        if next.tls && self.tls.is_none() {
            return false; // No TLS configuration in this process: judge the 3xx as is.
        }
        let c = &mut self.slots[slot as usize];
        // Same host and port: the address is known already.
        next.addr = match &c.redirect {
            Some(r) if r.host == next.host && r.port == next.port => r.addr,
            Some(_) => None,
            None => {
                let target_id = self.catalog.target_of[c.req.monitor as usize];
                let target = &self.catalog.targets[target_id as usize];
                let same = *target.host == *next.host && target.port == next.port;
                same.then(|| self.addrs.get(target_id as usize).copied().flatten())
                    .flatten()
            }
        };
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

    /// The redirect a 3xx in `slot` asks for, if the monitor follows one more.
    fn redirect_of(&self, slot: u32, status: u16) -> Option<Redirect> {
        let c = &self.slots[slot as usize];
        let m = MonitorId(c.req.monitor);
        let ProbeSpec::Http(probe) = self.catalog.spec(m) else {
            return None;
        };
        let hops = c.redirect.as_ref().map_or(0, |r| r.hops);
        if hops >= probe.follow_redirects {
            return None;
        }
        let location = c.bufs.exchange.location()?;
        let target = self.catalog.target(m);
        let cur = match &c.redirect {
            Some(r) => Place {
                tls: r.tls,
                host: &r.host,
                port: r.port,
                path: &r.path,
            },
            None => Place {
                tls: c.kind.is_tls(),
                host: &target.host,
                port: target.port,
                path: self.catalog.path(m),
            },
        };
        resolve_location(&cur, location, status, &probe.method, hops + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Place = Place {
        tls: false,
        host: "a.example",
        port: 8080,
        path: "/app/health",
    };

    #[test]
    fn an_absolute_location_names_everything() {
        let r = resolve_location(&HERE, "https://b.example/x", 301, "GET", 1).expect("followed");
        assert!(r.tls);
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("b.example", 443, "/x")
        );
        assert_eq!(r.host_header(), "b.example");
        assert!(!r.as_get);
    }

    #[test]
    fn a_rooted_or_relative_location_stays_on_the_host() {
        let r = resolve_location(&HERE, "/login", 302, "GET", 1).expect("followed");
        assert_eq!(
            (r.host.as_str(), r.port, r.path.as_str()),
            ("a.example", 8080, "/login")
        );
        assert_eq!(r.host_header(), "a.example:8080");
        let r = resolve_location(&HERE, "ready", 307, "GET", 2).expect("followed");
        assert_eq!(r.path, "/app/ready");
        assert_eq!(r.hops, 2);
    }

    #[test]
    fn see_other_and_a_moved_post_become_a_get() {
        assert!(
            resolve_location(&HERE, "/x", 303, "GET", 1)
                .expect("303")
                .as_get
        );
        assert!(
            resolve_location(&HERE, "/x", 302, "POST", 1)
                .expect("302")
                .as_get
        );
        assert!(
            !resolve_location(&HERE, "/x", 307, "POST", 1)
                .expect("307")
                .as_get
        );
    }

    #[test]
    fn a_location_that_would_break_the_request_is_not_followed() {
        assert!(resolve_location(&HERE, "/a b", 302, "GET", 1).is_none());
        assert!(resolve_location(&HERE, "/a\r\nX-Evil: 1", 302, "GET", 1).is_none());
        assert!(resolve_location(&HERE, "http://", 302, "GET", 1).is_none());
    }

    #[test]
    fn an_ipv6_host_is_bracketed_in_the_host_header() {
        let r = resolve_location(&HERE, "http://[::1]:81/", 301, "GET", 1).expect("followed");
        assert_eq!(r.host_header(), "[::1]:81");
    }
}
