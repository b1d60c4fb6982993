//! Codes a test's log notifier wrote: the lines, and one monitor's colours in order.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

/// Every code in the log file `log` (none when it does not exist yet).
pub fn codes(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The colours of `monitor`'s codes in `log`, in order.
pub fn colours_of(log: &Path, monitor: &str) -> Vec<String> {
    codes(log)
        .iter()
        .filter(|c| c["monitor"] == monitor)
        .map(|c| c["color"].as_str().unwrap().to_string())
        .collect()
}

/// A `codes:` block sending every colour to the log file `log` (6-space indented).
pub fn log_codes(log: &Path) -> String {
    ["red", "yellow", "green", "cyan", "gray"]
        .iter()
        .map(|c| {
            format!(
                "      {c}: {{notify: log, config: {{file: {}}}}}\n",
                log.display()
            )
        })
        .collect()
}
