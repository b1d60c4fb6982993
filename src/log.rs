//! cpra's own log lines (not the codes: those go to notifiers). Human-readable by default,
//! JSON lines with `--log-format json` (`{"time", "level", "message"}`), for journald or a log
//! shipper. Writes never panic: a closed stderr must not take down a thread.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switches every later line to JSON.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One line as JSON: the time, a level read from the text (`warning:` is `warn`, a line saying
/// cpra cannot do something is `error`), and the message without the `cpra: ` prefix.
pub fn json_line(text: &str, wall_ms: u64) -> String {
    let message = text.strip_prefix("cpra: ").unwrap_or(text);
    let level = if message.starts_with("warning") {
        "warn"
    } else if message.starts_with("cannot") || message.contains(" cannot ") {
        "error"
    } else {
        "info"
    };
    serde_json::json!({
        "time": rfc3339(wall_ms),
        "level": level,
        "message": message,
    })
    .to_string()
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A line to stderr (the `say!` macro).
pub fn say(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    if is_json() {
        let _ = writeln!(err, "{}", json_line(&args.to_string(), wall_ms()));
    } else {
        let _ = writeln!(err, "{args}");
    }
}

/// A status line to stdout, flushed (the run loop's).
pub fn status(line: &str) {
    let mut out = std::io::stdout().lock();
    if is_json() {
        let _ = writeln!(out, "{}", json_line(line, wall_ms()));
    } else {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// RFC 3339 UTC with millisecond precision (log lines, codes, the API).
pub fn rfc3339(wall_ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(wall_ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_time_level_and_message() {
        let v: serde_json::Value =
            serde_json::from_str(&json_line("cpra: cannot start: \"x\"\nbad", 0)).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["message"], "cannot start: \"x\"\nbad");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        let v: serde_json::Value =
            serde_json::from_str(&json_line("warning: monitors[0] ...", 0)).unwrap();
        assert_eq!(v["level"], "warn");
        let v: serde_json::Value =
            serde_json::from_str(&json_line("cpra: checks/s=1.0", 0)).unwrap();
        assert_eq!(v["level"], "info");
    }
}
