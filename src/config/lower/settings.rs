//! Lowering of the settings that are not a check: the top-level `alerting:` and
//! `remediation:` blocks, and a monitor's `maintenance` windows.

use super::*;

impl Lower<'_> {
    pub(super) fn remediation(&mut self, n: &Node, p: &Path) -> RemediationSpec {
        let mut r = RemediationSpec::default();
        let Some(m) = self.map(n, p) else {
            return r;
        };
        self.check_keys(m, p, REMEDIATION_KEYS);
        let Some(s) = self.opt_str(m, "pause_above", p) else {
            return r;
        };
        let v = s.value.trim();
        let parsed = if matches!(v, "off" | "never" | "none") {
            Some(PauseAbove::Off)
        } else if let Some(pc) = v.strip_suffix('%') {
            pc.trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 100)
                .map(PauseAbove::Percent)
        } else {
            v.parse::<u64>().ok().map(PauseAbove::Monitors)
        };
        match parsed {
            Some(p) => r.pause_above = Some(p),
            None => self.err(
                &p.key("pause_above"),
                s.line,
                format!(
                    "expected a number of monitors (500), a share of the enabled ones (5%) or off, found {:?}",
                    s.shown()
                ),
            ),
        }
        r
    }

    pub(super) fn alerting(&mut self, n: &Node, p: &Path) -> AlertingSpec {
        let mut a = AlertingSpec::default();
        let Some(m) = self.map(n, p) else {
            return a;
        };
        self.check_keys(m, p, ALERTING_KEYS);
        if let Some(t) = self.opt_uint(m, "storm_threshold", p, 0, STORM_THRESHOLD_MAX) {
            a.storm_threshold = t;
        }
        if let Some(w) = self.opt_duration(m, "storm_window", p, true) {
            a.storm_window = w;
        }
        a.remind_every = self.opt_duration(m, "remind_every", p, true);
        a
    }

    pub(super) fn maintenance(&mut self, n: &Node, p: &Path) -> Vec<MaintenanceWindow> {
        let Node::Seq { items, line } = n else {
            self.err(
                p,
                n.line(),
                format!("expected a list of windows, found {}", n.kind_name()),
            );
            return Vec::new();
        };
        if items.len() > MAINTENANCE_WINDOWS_PER_MONITOR_MAX {
            self.err(
                p,
                *line,
                format!("more than {MAINTENANCE_WINDOWS_PER_MONITOR_MAX} windows"),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ip = p.index(i);
            let Some(m) = self.map(item, &ip) else {
                continue;
            };
            self.check_keys(m, &ip, MAINTENANCE_KEYS);
            let start = self.req_str(m, "start", &ip).and_then(|s| {
                match parse_rfc3339_ms(s.value.trim()) {
                    Ok(ms) => Some(ms),
                    Err(e) => {
                        self.err(&ip.key("start"), s.line, e);
                        None
                    }
                }
            });
            let duration = self.req_duration(m, "duration", &ip);
            if let (Some(start_unix_ms), Some(duration)) = (start, duration) {
                out.push(MaintenanceWindow {
                    start_unix_ms,
                    duration,
                });
            }
        }
        out.sort_by_key(|w| w.start_unix_ms);
        out
    }
}
