//! Located errors: every problem the loader finds names the monitor (index and name), the full
//! field path and, for YAML, the line.
//!
//! Field paths are built lazily: lowering code passes a [`Path`] (a linked list of borrowed
//! segments on the stack) and only renders it to a `String` when it actually reports something,
//! so the happy path over a million monitors allocates nothing for paths.

use std::fmt;

/// One problem in a configuration file (an error, or a warning in [`super::LoadReport`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Position of the monitor in `monitors` (0-based); `None` for file-level problems.
    pub index: Option<usize>,
    /// The monitor's name, when it has a usable one (raw text if it contained `${...}`).
    pub name: Option<String>,
    /// Full field path, e.g. `monitors[12].pulse_check.config.url`; empty for the whole file.
    pub path: String,
    /// 1-based line in a YAML file; `None` for JSON (and where no line applies).
    pub line: Option<u32>,
    pub message: String,
}

impl ConfigError {
    /// A file-level problem (no monitor).
    pub(crate) fn file(
        path: impl Into<String>,
        line: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            index: None,
            name: None,
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    /// `monitors[12] "checkout-api" (line 57): monitors[12].pulse_check.config.url: message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut located = false;
        if let Some(i) = self.index {
            write!(f, "monitors[{i}]")?;
            if let Some(n) = &self.name {
                write!(f, " {n:?}")?;
            }
            located = true;
        }
        if let Some(l) = self.line {
            if located {
                write!(f, " (line {l})")?;
            } else {
                write!(f, "line {l}")?;
            }
            located = true;
        }
        if located {
            f.write_str(": ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Why a load failed: every error found (up to [`crate::limits::CONFIG_ERRORS_MAX`]) and how
/// many more there were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors {
    pub errors: Vec<ConfigError>,
    /// Errors found beyond the cap, counted but not kept.
    pub more: usize,
    /// The warnings found too: they often explain the errors (`--strict` aside, they are
    /// what a load that succeeds would have said).
    pub warnings: Vec<ConfigError>,
}

impl LoadErrors {
    pub(crate) fn one(e: ConfigError) -> Self {
        LoadErrors {
            errors: vec![e],
            more: 0,
            warnings: Vec::new(),
        }
    }

    /// Total number of errors found, kept or not.
    pub fn total(&self) -> usize {
        self.errors.len() + self.more
    }
}

impl fmt::Display for LoadErrors {
    /// One error per line, then `... and N more` when some were cut.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "\n... and {} more", self.more)?;
        }
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// One segment of a field path.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A field path as a stack-allocated linked list; rendered only when reported.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    pub(crate) fn root(key: &'a str) -> Path<'a> {
        Path {
            parent: None,
            seg: Seg::Key(key),
        }
    }

    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::with_capacity(8);
        let mut p = Some(self);
        while let Some(node) = p {
            segs.push(node.seg);
            p = node.parent;
        }
        let mut out = String::with_capacity(48);
        for (i, seg) in segs.iter().rev().enumerate() {
            match seg {
                Seg::Index(n) => {
                    out.push('[');
                    out.push_str(&n.to_string());
                    out.push(']');
                }
                Seg::Key(k) => {
                    let simple = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if simple {
                        if i > 0 {
                            out.push('.');
                        }
                        out.push_str(k);
                    } else {
                        out.push_str(&format!("[{k:?}]"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_the_spec() {
        let root = Path::root("monitors");
        let m = root.index(12);
        let pc = m.key("pulse_check");
        let cfg = pc.key("config");
        assert_eq!(
            cfg.key("url").render(),
            "monitors[12].pulse_check.config.url"
        );
        let h = cfg.key("headers");
        assert_eq!(
            h.key("X.Odd key").render(),
            "monitors[12].pulse_check.config.headers[\"X.Odd key\"]"
        );
        assert_eq!(
            cfg.key("expected_status").index(1).render(),
            "monitors[12].pulse_check.config.expected_status[1]"
        );
    }

    #[test]
    fn display_formats() {
        let e = ConfigError {
            index: Some(12),
            name: Some("checkout-api".into()),
            path: "monitors[12].pulse_check.config.url".into(),
            line: Some(57),
            message: "malformed URL \"htp:/x\": scheme must be http or https".into(),
        };
        assert_eq!(
            e.to_string(),
            "monitors[12] \"checkout-api\" (line 57): monitors[12].pulse_check.config.url: malformed URL \"htp:/x\": scheme must be http or https"
        );
        let f = ConfigError::file("", Some(3), "bad");
        assert_eq!(f.to_string(), "line 3: bad");
        let g = ConfigError::file("monitors", None, "expected a list");
        assert_eq!(g.to_string(), "monitors: expected a list");
        let all = LoadErrors {
            errors: vec![f, g],
            more: 7,
            warnings: Vec::new(),
        };
        assert_eq!(
            all.to_string(),
            "line 3: bad\nmonitors: expected a list\n... and 7 more"
        );
        assert_eq!(all.total(), 9);
    }
}
