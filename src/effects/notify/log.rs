//! The log notifier: one JSON line per code (SPEC 2.4), appended to a file.
//!
//! Takes codes in batches and never digests them: a file has no storm problem, and a complete
//! log is what audits read. The file is opened once (append, created with its directory if
//! missing) and reopened when it was rotated or removed under us (its device and inode no longer
//! match the path), as every log writer that logrotate meets must. A batch is rendered into
//! one buffer, written with one `write_all` and synced (`fdatasync`); it counts as delivered
//! only when both succeeded. A failed write (a full disk) is cut back to the file's length
//! before it, so the file holds whole lines only and the retry does not duplicate a torn one.
//!
//! The path `-` ([`STDOUT`]) is standard output: what a log notifier with no file writes to
//! (the Go original's `file: ""`), and where a service manager's journal collects it. A batch
//! is one locked `write_all`, so its lines never interleave with the status output.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crate::effects::notify::{Context, Notifier, Outgoing, SendError, Shape};
use crate::effects::render::log_line;
use crate::limits::LOG_BATCH_CODES_MAX;

use crate::config::model::LOG_STDOUT as STDOUT;

pub struct Log {
    path: String,
    file: Option<(File, u64, u64)>,
    instance: std::sync::Arc<str>,
    buf: Vec<u8>,
}

impl Log {
    pub fn new(path: &str, cx: &Context) -> Log {
        Log {
            path: path.to_string(),
            file: None,
            instance: cx.instance.clone(),
            buf: Vec::new(),
        }
    }

    /// The open file, reopened if the path now names another file or none.
    fn file(&mut self) -> Result<&mut File, SendError> {
        let current = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let stale = match (&self.file, current) {
            (Some((_, dev, ino)), Some((d, i))) => *dev != d || *ino != i,
            _ => true,
        };
        if stale {
            self.file = None;
            if let Some(dir) = std::path::Path::new(&self.path).parent()
                && !dir.as_os_str().is_empty()
            {
                let _ = std::fs::create_dir_all(dir);
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| SendError::backoff(format!("opening log file {}: {e}", self.path)))?;
            let m = f
                .metadata()
                .map_err(|e| SendError::backoff(format!("log file {}: {e}", self.path)))?;
            self.file = Some((f, m.dev(), m.ino()));
        }
        match self.file.as_mut() {
            Some((f, _, _)) => Ok(f),
            None => Err(SendError::backoff("log file not open")),
        }
    }
}

impl Notifier for Log {
    fn describe(&self) -> String {
        if self.path == STDOUT {
            "log to standard output".to_string()
        } else {
            format!("log {}", self.path)
        }
    }

    fn shape(&self) -> Shape {
        Shape {
            batch_max: LOG_BATCH_CODES_MAX,
            digests: false,
            ..Shape::default()
        }
    }

    fn send(&mut self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let codes = match msg {
            Outgoing::Codes(c) => *c,
            Outgoing::Digest(d) => d.codes,
        };
        self.buf.clear();
        for code in codes {
            self.buf
                .extend_from_slice(log_line(code, &self.instance).as_bytes());
            self.buf.push(b'\n');
        }
        if self.path == STDOUT {
            let mut out = std::io::stdout().lock();
            return out
                .write_all(&self.buf)
                .and_then(|()| out.flush())
                .map_err(|e| SendError::backoff(format!("writing to standard output: {e}")));
        }
        let buf = std::mem::take(&mut self.buf);
        let path = self.path.clone();
        let res = self.file().and_then(|f| {
            let before = f.metadata().map(|m| m.len()).ok();
            f.write_all(&buf).and_then(|()| f.sync_data()).map_err(|e| {
                // Whole lines or nothing: cut what a failed write (a full disk) left.
                if let Some(len) = before {
                    let _ = f.set_len(len);
                }
                SendError::backoff(format!("writing {path}: {e}"))
            })
        });
        self.buf = buf;
        if res.is_err() {
            self.file = None;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::render::Code;

    fn code(i: u32) -> Code {
        Code::example(&format!("m{i}"))
    }

    fn cx() -> Context {
        Context {
            instance: std::sync::Arc::from("t"),
            timeout: std::time::Duration::from_secs(1),
        }
    }

    fn write(l: &mut Log, i: u32) -> Result<(), SendError> {
        let c = code(i);
        l.send(&Outgoing::Codes(&[&c]))
    }

    fn lines(p: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| l.to_string())
            .collect()
    }

    #[test]
    fn rotation_by_rename_and_a_deleted_directory_are_followed() {
        let dir = std::env::temp_dir().join(format!("cpra-log-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("alerts.log");
        let mut l = Log::new(path.to_str().unwrap(), &cx());
        write(&mut l, 1).unwrap();
        // logrotate: rename, then the next code goes to a new file at the path.
        let rotated = dir.join("sub").join("alerts.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        write(&mut l, 2).unwrap();
        assert_eq!(lines(&rotated).len(), 1);
        assert_eq!(lines(&path).len(), 1);
        assert!(lines(&path)[0].contains("\"m2\""));
        // The whole directory removed: recreated, nothing written into the unlinked file.
        std::fs::remove_dir_all(dir.join("sub")).unwrap();
        write(&mut l, 3).unwrap();
        assert_eq!(lines(&path).len(), 1);
        assert!(lines(&path)[0].contains("\"m3\""));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_is_never_delivered() {
        let mut l = Log::new("/dev/full", &cx());
        let e = write(&mut l, 1).unwrap_err();
        assert_eq!(e.retry, crate::effects::notify::Retry::Backoff);
        assert!(e.message.contains("/dev/full"), "{}", e.message);
    }
}
