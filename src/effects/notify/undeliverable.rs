//! A notifier config the Go original loads but that cannot deliver: its pagerduty and slack
//! were stubs, so files written for it carry placeholders (a pagerduty with only `url`, a
//! slack hook that is not a URL). Lowering loads such a code with `dispatch: false` and a
//! warning, so nothing is ever routed here; should a code arrive anyway, it fails for good
//! and is counted as failed, never reported as sent.

use crate::effects::notify::{Notifier, Outgoing, SendError};

pub struct Undeliverable {
    kind: String,
    why: String,
}

impl Undeliverable {
    pub fn new(kind: &str, why: &str) -> Undeliverable {
        Undeliverable {
            kind: kind.to_string(),
            why: why.to_string(),
        }
    }
}

impl Notifier for Undeliverable {
    fn describe(&self) -> String {
        format!(
            "{} (cannot deliver: {}; codes recorded only)",
            self.kind, self.why
        )
    }

    fn send(&mut self, _msg: &Outgoing<'_>) -> Result<(), SendError> {
        Err(SendError::never(format!(
            "{} cannot deliver: {}",
            self.kind, self.why
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::render::Code;

    #[test]
    fn never_claims_to_have_sent() {
        let mut n = Undeliverable::new("pagerduty", "no routing_key");
        let c = Code::example("m");
        assert!(n.send(&Outgoing::Codes(&[&c])).is_err());
        assert!(n.describe().contains("recorded only"));
    }
}
