//! `${NAME}` substitution from the environment, applied to every string value of the file.
//!
//! The lookup is an [`Env`] value rather than a direct `std::env::var` call so that tests (and
//! `cpra check` against another machine's variables) can inject variables without touching the
//! process environment. Substitution is deliberately simple: `${NAME}` with NAME made of
//! letters, digits and `_`; no defaults, no escapes. A missing variable is an error naming the
//! variable, never the value (values are often secrets).

use std::borrow::Cow;
use std::collections::HashMap;

/// Where `${NAME}` values come from.
#[derive(Debug, Clone, Default)]
pub enum Env {
    /// The process environment (the default).
    #[default]
    Process,
    /// Only these variables; anything else is missing.
    Vars(HashMap<String, String>),
}

impl Env {
    /// An environment holding exactly these variables.
    pub fn vars<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Result<String, String> {
        match self {
            Env::Process => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => {
                    format!("environment variable {name} is not set")
                }
                std::env::VarError::NotUnicode(_) => {
                    format!("environment variable {name} is not valid UTF-8")
                }
            }),
            Env::Vars(map) => map
                .get(name)
                .cloned()
                .ok_or_else(|| format!("environment variable {name} is not set")),
        }
    }
}

/// Replaces each `${NAME}` in `raw` by the variable's value. Borrows when there is none.
#[cfg(test)]
pub(crate) fn expand<'a>(raw: &'a str, env: &Env) -> Result<Cow<'a, str>, String> {
    expand_noting(raw, env, &mut Vec::new())
}

/// [`expand`], also noting each (value, `${NAME}`) substituted, so that messages can hide them.
pub(crate) fn expand_noting<'a>(
    raw: &'a str,
    env: &Env,
    used: &mut Vec<(String, String)>,
) -> Result<Cow<'a, str>, String> {
    let Some(first) = find_ref(raw) else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len() + 32);
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("\"${\" without a closing \"}\"".to_string());
        };
        let name = &after[..end];
        let valid = name
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
        if name.is_empty() || !valid {
            return Err(format!(
                "\"${{{name}}}\" is not a variable reference: names are letters, digits and _"
            ));
        }
        let value = env.get(name)?;
        out.push_str(&value);
        // Values shorter than 4 bytes are not worth hiding and would garble messages.
        if value.len() >= 4 && !used.iter().any(|(v, _)| *v == value) {
            used.push((value, format!("${{{name}}}")));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Position of the first `${`, found with memchr (most values have no `$` at all).
pub(crate) fn find_ref(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'$', &b[from..]) {
        let at = from + i;
        if b.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `msg` with every substituted value replaced by its `${NAME}` (longest values first).
pub(crate) fn redact(msg: &str, used: &[(String, String)]) -> String {
    let mut order: Vec<&(String, String)> = used.iter().collect();
    order.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let mut out = msg.to_string();
    for (value, reference) in order {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), reference);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_borrows() {
        let env = Env::vars([("TOKEN", "s3cret"), ("HOST", "db")]);
        assert!(matches!(expand("plain", &env), Ok(Cow::Borrowed("plain"))));
        assert_eq!(expand("Bearer ${TOKEN}", &env).unwrap(), "Bearer s3cret");
        assert_eq!(expand("${HOST}:${HOST}/x", &env).unwrap(), "db:db/x");
        assert_eq!(expand("cost $5 and $$", &env).unwrap(), "cost $5 and $$");
        // `$${` is not an escape: the reference inside it is still substituted.
        assert_eq!(expand("$${HOST}", &env).unwrap(), "$db");
    }

    #[test]
    fn substituted_values_can_be_hidden_again() {
        let env = Env::vars([("PORT", "80x80"), ("HOST", "secret-host")]);
        let mut used = Vec::new();
        let v = expand_noting("${HOST}:${PORT}", &env, &mut used).unwrap();
        assert_eq!(v, "secret-host:80x80");
        let msg = format!("port {:?} is not a number in {v}", "80x80");
        assert_eq!(
            redact(&msg, &used),
            "port \"${PORT}\" is not a number in ${HOST}:${PORT}"
        );
    }

    #[test]
    fn missing_and_malformed() {
        let env = Env::vars([("A", "1")]);
        let e = expand("x ${NOPE} y", &env).unwrap_err();
        assert_eq!(e, "environment variable NOPE is not set");
        assert!(expand("${A", &env).unwrap_err().contains("closing"));
        assert!(expand("${}", &env).unwrap_err().contains("not a variable"));
        assert!(
            expand("${1A}", &env)
                .unwrap_err()
                .contains("not a variable")
        );
        assert!(
            expand("${A-B}", &env)
                .unwrap_err()
                .contains("not a variable")
        );
    }

    #[test]
    fn process_environment_is_the_default() {
        let env = Env::default();
        // PATH is set in any sane test environment; the value is not asserted.
        assert!(expand("${PATH}", &env).is_ok());
        assert!(expand("${CPRA_SURELY_UNSET_VARIABLE_42}", &env).is_err());
    }
}
