//! The generic tree of one monitor entry, shared by the YAML and JSON readers.
//!
//! Both readers turn exactly one element of `monitors` at a time into a [`Node`] (mapping,
//! list or scalar, each with its YAML line), hand it to the lowering pass and drop it; the file
//! as a whole is never a tree. Scalars keep their text and whether they were quoted, because
//! YAML typing (null, booleans, numbers) applies only to plain scalars. JSON numbers, booleans
//! and null become plain scalars with their canonical text, JSON strings become quoted ones, so
//! lowering is written once for both formats. Text is a `Cow`: JSON strings without escapes are
//! borrowed from the input (no allocation), YAML scalars are moved from the parser's `String`.

use std::borrow::Cow;

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Plain YAML scalar, or a JSON number/boolean/null: YAML typing applies.
    Plain,
    /// Quoted or block YAML scalar, or a JSON string: always a string.
    Quoted,
}

/// A mapping key. Non-scalar keys (YAML allows them) are kept as `complex` so that lowering
/// can report them at the right place instead of the reader guessing.
#[derive(Debug, Clone)]
pub(crate) struct Key<'a> {
    pub text: Cow<'a, str>,
    pub line: u32,
    pub complex: bool,
}

/// One node of a monitor entry. `line` is 1-based, 0 when unknown (JSON).
#[derive(Debug, Clone)]
pub(crate) enum Node<'a> {
    Scalar {
        text: Cow<'a, str>,
        style: Style,
        line: u32,
    },
    Map {
        entries: Vec<(Key<'a>, Node<'a>)>,
        line: u32,
    },
    Seq {
        items: Vec<Node<'a>>,
        line: u32,
    },
}

impl<'a> Node<'a> {
    pub(crate) fn line(&self) -> u32 {
        match self {
            Node::Scalar { line, .. } | Node::Map { line, .. } | Node::Seq { line, .. } => *line,
        }
    }

    /// YAML null: a plain `~`, `null`, `Null`, `NULL` or empty scalar.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, style: Style::Plain, .. }
            if matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What this node is, for "expected X, found Y" messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            _ if self.is_null() => "nothing (null)",
            Node::Scalar { .. } => "a single value",
            Node::Map { .. } => "a mapping",
            Node::Seq { .. } => "a list",
        }
    }

    /// The value under `key` in a mapping node, if this is one and has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map { entries, .. } => {
                entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): keys written in the mapping win, then
/// earlier sources win over later ones. A value that is not a mapping (or list of mappings) is
/// left in place as an ordinary `<<` key, which lowering reports as unknown.
///
/// Duplicates are kept visible for lowering to refuse, as it refuses duplicate keys written
/// directly: two `<<` keys in one mapping, and a key twice in one merged mapping (first-wins
/// would silently pick one of the two values).
pub(crate) fn apply_merges<'a>(
    entries: &mut Vec<(Key<'a>, Node<'a>)>,
    merges: Vec<(Key<'a>, Node<'a>)>,
) {
    if merges.len() > 1 {
        for (k, _) in &merges {
            let line = k.line;
            entries.push((
                k.clone(),
                Node::Scalar {
                    text: Cow::Borrowed(""),
                    style: Style::Plain,
                    line,
                },
            ));
        }
    }
    for (key, value) in merges {
        let sources: Vec<Node<'a>> = match value {
            Node::Map { .. } => vec![value],
            Node::Seq { items, .. } if items.iter().all(|n| matches!(n, Node::Map { .. })) => items,
            other => {
                entries.push((key, other));
                continue;
            }
        };
        for src in sources {
            if let Node::Map {
                entries: src_entries,
                ..
            } = src
            {
                let mut seen: Vec<Cow<'a, str>> = Vec::with_capacity(src_entries.len());
                for (k, v) in src_entries {
                    let twice = seen.contains(&k.text);
                    seen.push(k.text.clone());
                    if twice || !entries.iter().any(|(e, _)| e.text == k.text && !e.complex) {
                        entries.push((k, v));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str, style: Style) -> Node<'static> {
        Node::Scalar {
            text: Cow::Owned(t.into()),
            style,
            line: 1,
        }
    }

    fn k(t: &str) -> Key<'static> {
        Key {
            text: Cow::Owned(t.into()),
            line: 1,
            complex: false,
        }
    }

    #[test]
    fn null_only_when_plain() {
        assert!(s("~", Style::Plain).is_null());
        assert!(s("", Style::Plain).is_null());
        assert!(!s("null", Style::Quoted).is_null());
        assert!(!s("nil", Style::Plain).is_null());
    }

    #[test]
    fn merge_keeps_explicit_keys_first() {
        let defaults = Node::Map {
            entries: vec![
                (k("a"), s("1", Style::Plain)),
                (k("b"), s("2", Style::Plain)),
            ],
            line: 1,
        };
        let mut entries = vec![(k("b"), s("3", Style::Plain))];
        apply_merges(&mut entries, vec![(k("<<"), defaults)]);
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|(k, v)| match v {
                Node::Scalar { text, .. } => (k.text.as_ref(), text.as_ref()),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, vec![("b", "3"), ("a", "1")]);
    }
}
