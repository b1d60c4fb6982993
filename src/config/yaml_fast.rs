//! A fast reader for the plainest YAML: the block-style subset that generated monitor files are
//! written in. It is an accelerator, never the only path: it reads one slice of the `monitors`
//! list (see the `yaml` module) and gives up (`None`) on anything outside a deliberately narrow
//! subset, in which case the slice is read by yaml-rust2 as usual.
//!
//! Accepted, and nothing else:
//! - lines of ASCII text without tabs or other control characters, ending in LF or CRLF;
//! - blank lines, and comment lines (`#` first) no more indented than the list's elements;
//! - list elements `- key: ...` at the list's column, each a block mapping;
//! - block mappings whose keys are `[A-Za-z0-9_.-]` words followed by `: ` or `:` at the end;
//! - values on the key's line: a plain scalar that cannot be mistaken for anything else (no
//!   indicator first, no `: `, ` #`, trailing `:`, brackets or braces), or a single-line `"..."`
//!   without backslashes or a single-line `'...'` without quotes inside; nothing may follow;
//! - values on following lines: a block mapping (more indented), or a block list of such
//!   scalars or mappings (more indented, or at the key's column).
//!
//! So there are no anchors, aliases, tags, merge keys, flow collections, block scalars,
//! multi-line scalars, escapes, complex keys or empty values here: each of those sends the slice
//! to the general parser. Nodes are built with the same text, style and lines as the general
//! reader gives, borrowing the text from the input (a unit test compares the two on many
//! inputs).

use std::borrow::Cow;

use crate::config::node::{Key, Node, Style};
use crate::limits::CONFIG_DEPTH_MAX;

/// One line of the slice.
#[derive(Clone, Copy)]
struct Line<'t> {
    /// Leading spaces.
    indent: usize,
    /// The text after the indentation (no newline).
    rest: &'t str,
    /// 1-based line in the file.
    number: u32,
}

struct Reader<'t> {
    lines: Vec<Line<'t>>,
    at: usize,
}

/// Reads a slice whose every element starts at `column` with `- `. Returns the elements'
/// trees, or `None` when the slice is not entirely in the subset.
pub(crate) fn read_elements<'t>(
    body: &'t str,
    column: usize,
    first_line: u32,
) -> Option<Vec<Node<'t>>> {
    let bytes = body.as_bytes();
    let stray = |i: usize, b: u8| {
        (b < 0x20 && b != b'\n' && !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n'))) || b >= 0x7f
    };
    if bytes.iter().enumerate().any(|(i, &b)| stray(i, b)) {
        return None;
    }
    let mut lines = Vec::with_capacity(body.len() / 24);
    let mut number = first_line;
    for raw in body.split_terminator('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let indent = raw.bytes().take_while(|&b| b == b' ').count();
        let rest = &raw[indent..];
        if rest.is_empty() {
            // Blank line.
        } else if rest.starts_with('#') {
            if indent > column {
                return None;
            }
        } else {
            lines.push(Line {
                indent,
                rest,
                number,
            });
        }
        number = number.checked_add(1)?;
    }
    let mut r = Reader { lines, at: 0 };
    let mut out = Vec::new();
    while let Some(line) = r.peek() {
        if line.indent != column {
            return None;
        }
        let after = line.rest.strip_prefix("- ")?;
        out.push(r.element_map(line, column + 2, after, 1)?);
    }
    Some(out)
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<Line<'t>> {
        self.lines.get(self.at).copied()
    }

    /// A mapping whose first key is on `line` after a `- ` (at column `indent`), or `None`.
    fn element_map(
        &mut self,
        line: Line<'t>,
        indent: usize,
        first: &'t str,
        depth: usize,
    ) -> Option<Node<'t>> {
        if first.starts_with(' ') {
            return None;
        }
        self.at += 1;
        self.map_from(indent, line.number, first, depth)
    }

    /// A block mapping at `indent`; its first `key: ...` text is `first` (already consumed).
    fn map_from(
        &mut self,
        indent: usize,
        first_line: u32,
        first: &'t str,
        depth: usize,
    ) -> Option<Node<'t>> {
        if depth > CONFIG_DEPTH_MAX {
            return None;
        }
        let mut entries = Vec::with_capacity(4);
        let mut text = first;
        let mut number = first_line;
        loop {
            let (key, value) = split_key(text)?;
            if entries
                .iter()
                .any(|(k, _): &(Key<'_>, Node<'_>)| k.text == key)
            {
                return None; // Duplicates are reported by the full reader.
            }
            let value_node = if value.is_empty() {
                self.nested(indent, depth)?
            } else {
                scalar(value, number)?
            };
            entries.push((
                Key {
                    text: Cow::Borrowed(key),
                    line: number,
                    complex: false,
                },
                value_node,
            ));
            match self.peek() {
                Some(next) if next.indent == indent => {
                    if next.rest.starts_with('-') {
                        return None;
                    }
                    self.at += 1;
                    text = next.rest;
                    number = next.number;
                }
                Some(next) if next.indent > indent => return None,
                _ => break,
            }
        }
        Some(Node::Map {
            entries,
            line: first_line,
        })
    }

    /// The value of a key whose line ends after the colon: a more indented mapping, or a list
    /// (more indented, or at the key's own column).
    fn nested(&mut self, key_indent: usize, depth: usize) -> Option<Node<'t>> {
        let next = self.peek()?;
        if next.rest.starts_with("- ") && next.indent >= key_indent {
            return self.list(next.indent, depth + 1);
        }
        if next.indent > key_indent && !next.rest.starts_with('-') {
            self.at += 1;
            return self.map_from(next.indent, next.number, next.rest, depth + 1);
        }
        None
    }

    /// A block list at `indent` of scalars or mappings.
    fn list(&mut self, indent: usize, depth: usize) -> Option<Node<'t>> {
        if depth > CONFIG_DEPTH_MAX {
            return None;
        }
        let first = self.peek()?.number;
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent != indent {
                if line.indent > indent {
                    return None;
                }
                break;
            }
            let Some(after) = line.rest.strip_prefix("- ") else {
                break;
            };
            if after.starts_with(' ') || after.starts_with('-') {
                return None;
            }
            if looks_like_key(after) {
                items.push(self.element_map(line, indent + 2, after, depth + 1)?);
            } else {
                self.at += 1;
                items.push(scalar(after, line.number)?);
                if self.peek().is_some_and(|n| n.indent > indent) {
                    return None;
                }
            }
        }
        Some(Node::Seq { items, line: first })
    }
}

/// `key: value` → (key, value after the separator, trimmed); `None` outside the subset.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let colon = text.find(':')?;
    let key = &text[..colon];
    let ok = !key.is_empty()
        && !key.starts_with('-')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return None;
    }
    let after = &text[colon + 1..];
    if after.is_empty() {
        return Some((key, ""));
    }
    let value = after.strip_prefix(' ')?;
    Some((key, value.trim_start_matches(' ')))
}

fn looks_like_key(text: &str) -> bool {
    split_key(text).is_some()
}

/// A one-line scalar value, or `None` when it is not plainly one.
fn scalar(value: &str, line: u32) -> Option<Node<'_>> {
    let v = value.trim_end_matches(' ');
    let b = v.as_bytes();
    let (text, style) = match b.first()? {
        b'"' => {
            let inner = v.strip_prefix('"')?.strip_suffix('"')?;
            if inner.contains(['"', '\\']) {
                return None;
            }
            (inner, Style::Quoted)
        }
        b'\'' => {
            let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
            if inner.contains('\'') {
                return None;
            }
            (inner, Style::Quoted)
        }
        first => {
            if b"-?:,[]{}#&*!|>'\"%@`".contains(first)
                || v.contains(": ")
                || v.ends_with(':')
                || v.contains(" #")
                || v.contains(['[', ']', '{', '}'])
            {
                return None;
            }
            (v, Style::Plain)
        }
    };
    Some(Node::Scalar {
        text: Cow::Borrowed(text),
        style,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::general_elements;

    /// Structural equality, lines included.
    fn same(a: &Node<'_>, b: &Node<'_>) -> bool {
        match (a, b) {
            (
                Node::Scalar {
                    text: t1,
                    style: s1,
                    line: l1,
                },
                Node::Scalar {
                    text: t2,
                    style: s2,
                    line: l2,
                },
            ) => t1 == t2 && s1 == s2 && l1 == l2,
            (
                Node::Map {
                    entries: e1,
                    line: l1,
                },
                Node::Map {
                    entries: e2,
                    line: l2,
                },
            ) => {
                l1 == l2
                    && e1.len() == e2.len()
                    && e1.iter().zip(e2).all(|((k1, v1), (k2, v2))| {
                        k1.text == k2.text
                            && k1.line == k2.line
                            && k1.complex == k2.complex
                            && same(v1, v2)
                    })
            }
            (
                Node::Seq {
                    items: i1,
                    line: l1,
                },
                Node::Seq {
                    items: i2,
                    line: l2,
                },
            ) => l1 == l2 && i1.len() == i2.len() && i1.iter().zip(i2).all(|(x, y)| same(x, y)),
            _ => false,
        }
    }

    /// Whenever the fast reader accepts a body, the general reader must agree exactly.
    fn check(body: &str, column: usize) -> bool {
        let head = "monitors:\n";
        let fast = read_elements(body, column, 2);
        let Some(fast) = fast else {
            return false;
        };
        let text = format!("{head}{body}");
        let general = general_elements(&text)
            .unwrap_or_else(|| panic!("fast accepted what the general reader rejects:\n{text}"));
        assert_eq!(fast.len(), general.len(), "{text}");
        for (f, g) in fast.iter().zip(&general) {
            assert!(
                same(f, g),
                "trees differ for:\n{text}\nfast: {f:?}\ngeneral: {g:?}"
            );
        }
        true
    }

    #[test]
    fn the_bench_shape_is_accepted_and_identical() {
        let mut body = String::new();
        for i in 0..50 {
            body.push_str(&format!(
                "  - name: \"mon-{i:07}\"\n    pulse_check:\n      type: http\n      interval: 30s\n      timeout: 5s\n      config:\n        url: \"http://127.0.0.1:{}/health/{i}\"\n    codes:\n      red:\n        notify: log\n        config:\n          file: alerts.log\n",
                8000 + i
            ));
        }
        assert!(check(&body, 2));
        assert!(check(&body.replace('\n', "\r\n"), 2));
    }

    #[test]
    fn lists_comments_and_quotes_are_identical() {
        let body = "\
  # leading comment
  - name: a   
    enabled: yes
    pulse_check:
      type: http
      config:
        url: http://h/a#frag?x=1,2
        expected_status:
          - 200
          - \"3xx\"
        headers:
        - 'X-A: 1'
        - \"X-B: two # not a comment\"
      interval: 1m

# between
  - name: 'b c - d'
    codes:
      red: {notify: log}
";
        // Flow mappings are outside the subset: the whole body is declined.
        assert!(!check(body, 2));
        let body = body.replace(
            "      red: {notify: log}\n",
            "      red:\n        notify: log\n",
        );
        assert!(check(&body, 2));
        // Column 0 lists.
        let body0 = "- name: a\n  list:\n  - x\n  - y\n  map:\n    k: v\n- name: b\n";
        assert!(check(body0, 0));
    }

    #[test]
    fn declines_what_it_does_not_know() {
        for (what, body) in [
            ("anchor", "  - name: &a x\n"),
            ("alias", "  - name: *a\n"),
            ("tag", "  - name: !!str 1\n"),
            ("merge", "  - <<: x\n"),
            ("flow", "  - name: [a]\n"),
            ("block scalar", "  - name: |\n      x\n"),
            ("multi-line plain", "  - name: a\n      b\n"),
            ("multi-line quoted", "  - name: \"a\n      b\"\n"),
            ("escape", "  - name: \"a\\tb\"\n"),
            ("inline comment", "  - name: a # c\n"),
            ("deep comment", "  - name: a\n    # c\n"),
            ("empty value", "  - name:\n    x: 1\n  - name: b\n"),
            ("tab", "  - name:\ta\n"),
            ("lone cr", "  - name: a\rb\n"),
            ("non-ascii", "  - name: caf\u{e9}\n"),
            ("key without space", "  - name:a\n"),
            ("document end", "  - name: a\n...\n"),
            ("less indented", "  - name: a\nother: 1\n"),
            ("scalar element", "  - just text\n"),
            ("nested list", "  - name: a\n    l:\n      - - x\n"),
            ("quoted key", "  - \"name\": a\n"),
            ("indicator first", "  - name: '@x'\n  - name: @x\n"),
            ("colon value", "  - name: a: b\n"),
        ] {
            assert!(
                read_elements(body, 2, 2).is_none(),
                "{what} should be declined"
            );
        }
    }

    /// Many small generated bodies, in and near the subset.
    #[test]
    fn generated_bodies_agree_with_the_general_reader() {
        let keys = ["name", "type", "url", "a.b", "x-y", "k_1", "n9"];
        let values = [
            "30s",
            "http://h:1/a?b=c&d",
            "\"quoted # x: y\"",
            "'single'",
            "a - b",
            "true",
            "~",
            "-5",
            "1.5",
            "\"\"",
            "''",
            "a#b",
            "x  y",
            "tail   ",
            "0x1F",
            "null",
            "a,b",
            "%x",
            "a:b",
            "/abs/path",
            "\"${TOKEN}\"",
            "${HOST}:80",
            "'it''s'",
            "x #y",
            "a: b",
            "[1]",
            "{a: 1}",
            "? q",
            "- z",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..3000 {
            let column = [0, 2, 4][rnd(3)];
            let pad = " ".repeat(column);
            let mut body = String::new();
            for _ in 0..1 + rnd(3) {
                body.push_str(&format!(
                    "{pad}- {}: {}\n",
                    keys[rnd(keys.len())],
                    values[rnd(values.len())]
                ));
                let inner = " ".repeat(column + 2);
                for _ in 0..rnd(4) {
                    match rnd(6) {
                        0 => body.push_str(&format!(
                            "{inner}{}: {}\n",
                            keys[rnd(keys.len())],
                            values[rnd(values.len())]
                        )),
                        1 => {
                            body.push_str(&format!("{inner}m{}:\n", rnd(9)));
                            for _ in 0..1 + rnd(2) {
                                body.push_str(&format!(
                                    "{inner}  {}: {}\n",
                                    keys[rnd(keys.len())],
                                    values[rnd(values.len())]
                                ));
                            }
                        }
                        2 => {
                            let li = if rnd(2) == 0 {
                                inner.clone()
                            } else {
                                format!("{inner}  ")
                            };
                            body.push_str(&format!("{inner}l{}:\n", rnd(9)));
                            for _ in 0..1 + rnd(3) {
                                if rnd(2) == 0 {
                                    body.push_str(&format!(
                                        "{li}- {}\n",
                                        values[rnd(values.len())]
                                    ));
                                } else {
                                    body.push_str(&format!(
                                        "{li}- {}: {}\n{li}  {}: {}\n",
                                        keys[rnd(keys.len())],
                                        values[rnd(values.len())],
                                        keys[rnd(keys.len())],
                                        values[rnd(values.len())]
                                    ));
                                }
                            }
                        }
                        3 => body.push('\n'),
                        4 => body.push_str(&format!("{}# comment\n", " ".repeat(rnd(column + 4)))),
                        _ => body.push_str(&format!(
                            "{inner}{}: {}  \n",
                            keys[rnd(keys.len())],
                            values[rnd(values.len())]
                        )),
                    }
                }
            }
            if check(&body, column) {
                accepted += 1;
            }
            check(&body.replace('\n', "\r\n"), column);
        }
        assert!(
            accepted > 300,
            "only {accepted} bodies exercised the fast reader"
        );
    }
}
