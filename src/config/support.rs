//! What this build of cpra parses but does not run yet.
//!
//! The loader accepts and validates every feature of the file format, but a monitor that asks
//! for something the engine cannot do must not load as if it worked (the Go original's
//! notifiers "pretended to send"). [`NOT_YET_SUPPORTED`] is that list, one entry per feature:
//! when the engine learns a feature, delete its entry, nothing else. The loader applies the list
//! unless [`super::LoadOptions::allow_unsupported`] is set (tests of the parser itself).

use crate::config::model::MonitorSpec;

/// One refused feature of one monitor: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Keys below the monitor, e.g. `["pulse_check", "config", "url"]`.
    pub path: Vec<&'static str>,
    /// What is refused, e.g. `https:// URLs`.
    pub what: String,
}

impl Unsupported {
    pub fn message(&self) -> String {
        format!("{} is not yet supported by this build of cpra", self.what)
    }
}

type Check = fn(&MonitorSpec, &mut Vec<Unsupported>);

#[allow(dead_code)] // For the entries of NOT_YET_SUPPORTED, when there are any.
fn at(path: &[&'static str], what: impl Into<String>) -> Unsupported {
    Unsupported {
        path: path.to_vec(),
        what: what.into(),
    }
}

/// Features not run by this build. Delete an entry when the engine runs the feature.
pub const NOT_YET_SUPPORTED: &[Check] = &[
    // Everything the file format describes runs. A feature added to the format before the
    // engine runs it gets an entry here, e.g.:
    // |s, out| if ... { out.push(at(&["intervention", "action"], "intervention action x")) },
];

/// Everything in a valid `spec` that this build refuses to run.
pub fn not_yet_supported(spec: &MonitorSpec) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for check in NOT_YET_SUPPORTED {
        check(spec, &mut out);
    }
    out
}
