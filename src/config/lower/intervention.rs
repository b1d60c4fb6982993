//! Lowering of `intervention`: the action (docker, exec, webhook), its target, and the
//! limits on how often it may run.

use super::*;

impl Lower<'_> {
    pub(super) fn intervention(&mut self, n: &Node, p: &Path) -> Option<InterventionSpec> {
        let m = self.map(n, p)?;
        self.check_keys(m, p, INTERVENTION_KEYS);
        let action = self.req_str(m, "action", p);
        let retries = m
            .get("retries")
            .and_then(|n| self.retries_node(n, &p.key("retries")))
            .unwrap_or(0);
        let max_attempts = match (m.get("max_attempts"), m.get("max_failures")) {
            (Some(_), Some(alias)) => {
                self.compat(
                    &p.key("max_failures"),
                    alias.line(),
                    "max_failures (the Go original's name) and max_attempts are both set: max_attempts wins",
                );
                self.opt_uint(m, "max_attempts", p, 1, INTERVENTION_ATTEMPTS_MAX)
            }
            (None, Some(n)) => {
                match self.uint_node(n, &p.key("max_failures"), 0, INTERVENTION_ATTEMPTS_MAX) {
                    // 0 is the Go original's "unset", which it read as 1.
                    Some(0) => Some(1),
                    v => v,
                }
            }
            _ => self.opt_uint(m, "max_attempts", p, 1, INTERVENTION_ATTEMPTS_MAX),
        }
        .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let cooldown = self
            .opt_duration(m, "cooldown", p, false)
            .unwrap_or(DEFAULT_COOLDOWN);
        let retry_backoff = self
            .opt_duration(m, "retry_backoff", p, false)
            .unwrap_or(DEFAULT_RETRY_BACKOFF);
        let action = action?;
        let tp = p.key("target");
        let kind = action.value.as_ref();
        if !matches!(kind, "docker" | "exec" | "webhook") {
            self.err(
                &p.key("action"),
                action.line,
                format!(
                    "unknown action {:?}; known actions: {ACTIONS}",
                    action.shown()
                ),
            );
            return None;
        }
        let t = self.need(m, "target", p).and_then(|t| self.map(t, &tp))?;
        let timeout = self
            .opt_duration(t, "timeout", &tp, true)
            .unwrap_or(DEFAULT_INTERVENTION_TIMEOUT);
        let action = match kind {
            "docker" => {
                self.check_keys(t, &tp, DOCKER_TARGET_KEYS);
                if let Some(s) = self.opt_str(t, "type", &tp)
                    && s.value != "docker"
                {
                    self.err(
                        &tp.key("type"),
                        s.line,
                        "must be docker (or left out) for a docker action",
                    );
                }
                let container = self.req_str(t, "container", &tp).and_then(|s| {
                    let v = s.value.trim();
                    let name = v.strip_prefix('/').unwrap_or(v);
                    let ok = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
                    if ok {
                        Some(v.to_string())
                    } else {
                        self.err(
                            &tp.key("container"),
                            s.line,
                            format!(
                                "invalid container {:?}: use the container's name or id",
                                s.shown()
                            ),
                        );
                        None
                    }
                });
                let docker_host = self.opt_str(t, "docker_host", &tp).and_then(|s| {
                    match crate::config::model::DockerHost::parse(&s.value) {
                        Ok(_) => Some(s.value.trim().to_string()),
                        Err(e) => {
                            self.err(&tp.key("docker_host"), s.line, e);
                            None
                        }
                    }
                });
                InterventionAction::Docker {
                    container: container?,
                    timeout,
                    docker_host,
                }
            }
            "exec" => {
                self.check_keys(t, &tp, EXEC_TARGET_KEYS);
                let command = self
                    .need(t, "command", &tp)
                    .and_then(|c| self.command(c, &tp.key("command")));
                let env = t
                    .get("env")
                    .map(|e| self.exec_env(e, &tp.key("env")))
                    .unwrap_or_default();
                InterventionAction::Exec {
                    command: command?,
                    timeout,
                    env,
                }
            }
            _ => {
                self.check_keys(t, &tp, WEBHOOK_TARGET_KEYS);
                let url = self.req_url_string(t, "url", &tp);
                let method = self.method(t, &tp, "POST");
                let headers = t
                    .get("headers")
                    .map(|h| self.headers(h, &tp.key("headers")))
                    .unwrap_or_default();
                let body = self.opt_text(t, "body", &tp);
                InterventionAction::Webhook {
                    url: url?,
                    method: method?,
                    headers,
                    body,
                    timeout,
                }
            }
        };
        Some(InterventionSpec {
            action,
            retries,
            max_attempts,
            cooldown,
            retry_backoff,
        })
    }

    /// `command` as an argv list, or a string split on whitespace when it has no shell syntax.
    pub(super) fn command(&mut self, n: &Node, p: &Path) -> Option<Vec<String>> {
        let argv: Vec<String> = match n {
            Node::Seq { items, .. } => {
                let mut argv = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if item.is_null() {
                        self.err(
                            &p.index(i),
                            item.line(),
                            "an argument is null (~ or empty): quote it (\"~\") or remove it",
                        );
                        return None;
                    }
                    argv.push(self.str_node(item, &p.index(i))?.value.into_owned());
                }
                argv
            }
            Node::Scalar { text, line, .. } => {
                if let Some(c) = text.chars().find(|c| SHELL_CHARS.contains(c)) {
                    self.err(
                        p,
                        *line,
                        format!(
                            "contains {c:?}: cpra never runs a shell; write the command as a list"
                        ),
                    );
                    return None;
                }
                text.split_ascii_whitespace().map(str::to_string).collect()
            }
            Node::Map { line, .. } => {
                self.err(p, *line, "expected a list of arguments, found a mapping");
                return None;
            }
        };
        if argv.first().is_none_or(|a| a.trim().is_empty()) {
            self.err(p, n.line(), "the command is empty");
            return None;
        }
        if argv.len() > EXEC_ARGS_MAX {
            self.err(p, n.line(), format!("more than {EXEC_ARGS_MAX} arguments"));
            return None;
        }
        Some(argv)
    }

    pub(super) fn exec_env(&mut self, n: &Node, p: &Path) -> Vec<(String, String)> {
        let Some(m) = self.map(n, p) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (k, v)) in m.entries.iter().enumerate() {
            let kp = p.key(&k.text);
            let valid = !k.text.is_empty()
                && k.text.bytes().enumerate().all(|(j, b)| {
                    b == b'_' || b.is_ascii_alphabetic() || (j > 0 && b.is_ascii_digit())
                });
            if k.complex || !valid {
                self.err(
                    &kp,
                    k.line,
                    "variable names are letters, digits and _ (not starting with a digit)",
                );
            } else if m.entries[..i].iter().any(|(e, _)| e.text == k.text) {
                self.err(&kp, k.line, format!("duplicate key {:?}", k.text));
            } else if v.is_null() {
                out.push((k.text.to_string(), String::new()));
            } else if let Some(s) = self.str_node(v, &kp) {
                out.push((k.text.to_string(), s.value.into_owned()));
            }
        }
        if out.len() > EXEC_ENV_VARS_MAX {
            self.err(
                p,
                m.line,
                format!("more than {EXEC_ENV_VARS_MAX} variables"),
            );
        }
        out
    }
}
