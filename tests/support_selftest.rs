//! Runs the unit tests of the test-support servers themselves (the loopback HTTP receiver and
//! its Slack/PagerDuty validators, Alertmanager and SMTP start-up), so a broken harness fails
//! here first rather than as a confusing notifier failure.

#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/services.rs"]
mod services;
