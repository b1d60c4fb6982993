//! The log notifier: one JSON line per code (SPEC 2.4), appended to a file.
//!
//! Takes codes in batches and never digests them: a file has no storm problem, and a complete
//! log is what audits read. The file is opened once (append, created with its directory if
//! missing) and reopened when it was rotated or removed under us (its device and inode no longer
//! match the path), as every log writer that logrotate meets must. A batch is rendered into
//! one buffer and written with one `write_all`, then flushed; a batch counts as delivered only
//! when the write and flush succeeded.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crate::effects::notify::{Context, Notifier, Outgoing, SendError, Shape};
use crate::effects::render::log_line;
use crate::limits::LOG_BATCH_CODES_MAX;

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
        format!("log {}", self.path)
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
        let buf = std::mem::take(&mut self.buf);
        let path = self.path.clone();
        let res = self.file().and_then(|f| {
            f.write_all(&buf)
                .and_then(|()| f.flush())
                .map_err(|e| SendError::backoff(format!("writing {path}: {e}")))
        });
        self.buf = buf;
        if res.is_err() {
            self.file = None;
        }
        res
    }
}
