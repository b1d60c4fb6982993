//! YAML reading: the yaml-rust2 event stream → one [`Node`] per monitor → lowering.
//!
//! **Streaming.** Events are pulled from yaml-rust2's parser and assembled into a tree for one
//! element of `monitors` at a time; the element is lowered and dropped before the next one is
//! read. Only anchored nodes are kept (they may be referenced later).
//!
//! **Parallel, speculatively.** yaml-rust2 parses about 60 MB/s on one core, too slow for a
//! million monitors in the time budget, and a hand-written reader alone would not be general
//! YAML. So a large file is cut into slices at lines that look like an element of `monitors`
//! (the element column, then `- `), and each slice is parsed by the *same general parser* on its
//! own thread, as the file's head (everything before the first element) followed by the slice.
//! A cut is only trusted when the parse proves it: a slice ending inside a quoted scalar or a
//! flow collection fails to parse; a slice that does not hold exactly the elements the cut
//! predicted, whose list ends before the slice does, or that reaches other top-level keys, is
//! rejected; aliases to anchors of another slice fail as unknown anchors; a head that defines
//! anchors which elements may redefine disables the scheme. On any doubt the loader falls back
//! to the plain sequential parse of the whole file, which alone produces syntax errors. Slices
//! are delivered to the sink in file order and only after every earlier slice was proven, so the
//! sink never sees a monitor twice; the fallback skips what was already delivered.
//!
//! **Fast slices.** Slices other than the first and the last are first offered to the fast
//! reader for a narrow block-style subset (`yaml_fast`), which declines anything it does not
//! fully know; declined slices go through yaml-rust2 as above. For a slice it accepts, the
//! subset's own rules give the same guarantees as the checks above: every line is part of an
//! element at the list's column, nothing spans lines, and no anchor or alias is involved.

use std::borrow::Cow;
use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::config::error::ConfigError;
use crate::config::lower::{Dialect, Item, lower_alerting, lower_item, lower_remediation};
use crate::config::node::{Key, Node, Style, apply_merges};
use crate::config::source::Source;
use crate::config::yaml_fast::read_elements;
use crate::config::{Collector, LoadOptions};
use crate::limits::{
    CONFIG_CHUNK_BYTES, CONFIG_DEPTH_MAX, CONFIG_ERRORS_MAX, CONFIG_NODES_PER_MONITOR_MAX,
    CONFIG_PLAN_BLOCK_BYTES, CONFIG_STRING_BYTES_MAX,
};

type Chars<'t> = std::iter::Chain<std::str::Chars<'t>, std::str::Chars<'t>>;

/// Maps a line of the text a parser sees (head + slice) to the line in the file.
#[derive(Clone, Copy)]
struct LineMap {
    /// Lines in the head (the head ends with a newline).
    head_lines: u32,
    /// File line of the first line of the slice.
    body_first_line: u32,
}

impl LineMap {
    const IDENTITY: LineMap = LineMap {
        head_lines: 0,
        body_first_line: 1,
    };

    fn map(&self, line: usize) -> u32 {
        let l = u32::try_from(line).unwrap_or(u32::MAX);
        if l <= self.head_lines {
            l
        } else {
            (l - self.head_lines - 1).saturating_add(self.body_first_line)
        }
    }
}

/// Why reading stopped.
enum Stop {
    Syntax(ScanError),
    Limit { line: u32, message: String },
}

/// Builds [`Node`]s from the event stream, resolving aliases and merge keys.
struct Reader<'t> {
    parser: Parser<Chars<'t>>,
    anchors: HashMap<usize, (Node<'static>, usize)>,
    anchors_defined: usize,
    lines: LineMap,
    /// Duplicate keys (line, key) of the mappings read since the last drain: every mapping,
    /// also under keys that lowering never looks at.
    dup_keys: Vec<(u32, String)>,
}

impl<'t> Reader<'t> {
    fn new(head: &'t str, body: &'t str, lines: LineMap) -> Self {
        Reader {
            parser: Parser::new(head.chars().chain(body.chars())),
            anchors: HashMap::new(),
            anchors_defined: 0,
            lines,
            dup_keys: Vec::new(),
        }
    }

    fn next(&mut self) -> Result<(Event, Marker), Stop> {
        self.parser.next_token().map_err(Stop::Syntax)
    }

    fn line(&self, m: &Marker) -> u32 {
        self.lines.map(m.line())
    }

    fn remember(&mut self, anchor: usize, node: &Node<'static>, count: usize) {
        if anchor != 0 {
            self.anchors_defined += 1;
            self.anchors.insert(anchor, (node.clone(), count));
        }
    }

    /// Reads the node that starts with `ev`. `budget` is the nodes left for this monitor.
    fn node(
        &mut self,
        ev: Event,
        mark: Marker,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Node<'static>, Stop> {
        let line = self.line(&mark);
        if depth > CONFIG_DEPTH_MAX {
            return Err(Stop::Limit {
                line,
                message: format!("nested deeper than {CONFIG_DEPTH_MAX} levels"),
            });
        }
        let before = *budget;
        let spend = |budget: &mut usize, n: usize| {
            if *budget < n {
                Err(Stop::Limit {
                    line,
                    message: format!(
                        "entry has more than {CONFIG_NODES_PER_MONITOR_MAX} values (aliases included)"
                    ),
                })
            } else {
                *budget -= n;
                Ok(())
            }
        };
        spend(budget, 1)?;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                // Keys and values under unknown keys too: a 100 MB key must not cost 100 MB.
                if text.len() > CONFIG_STRING_BYTES_MAX {
                    return Err(Stop::Limit {
                        line,
                        message: format!(
                            "a key or value of {} bytes: they are at most {CONFIG_STRING_BYTES_MAX} bytes",
                            text.len()
                        ),
                    });
                }
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let style = if style == TScalarStyle::Plain && !forced_str {
                    Style::Plain
                } else {
                    Style::Quoted
                };
                let node = Node::Scalar {
                    text: Cow::Owned(text),
                    style,
                    line,
                };
                self.remember(anchor, &node, 1);
                Ok(node)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1, budget)?);
                }
                let node = Node::Seq { items, line };
                self.remember(anchor, &node, before - *budget);
                Ok(node)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Key<'static>, Node<'static>)> = Vec::with_capacity(4);
                let mut merges = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key_line = self.line(&m);
                    let mut is_merge = false;
                    let key = match self.node(ev, m, depth + 1, budget)? {
                        Node::Scalar { text, style, .. } => {
                            is_merge = style == Style::Plain && text == "<<";
                            Key {
                                text,
                                line: key_line,
                                complex: false,
                            }
                        }
                        _ => Key {
                            text: Cow::Borrowed(""),
                            line: key_line,
                            complex: true,
                        },
                    };
                    let dup = !key.complex
                        && (entries.iter().chain(merges.iter()))
                            .any(|(k, _): &(Key<'_>, Node<'_>)| !k.complex && k.text == key.text);
                    let (ev, m) = self.next()?;
                    let value = self.node(ev, m, depth + 1, budget)?;
                    if dup {
                        // Reported once, here, wherever the mapping is (also under keys that
                        // lowering ignores); the second value is dropped.
                        if self.dup_keys.len() < CONFIG_ERRORS_MAX {
                            self.dup_keys.push((key_line, key.text.to_string()));
                        }
                        continue;
                    }
                    if is_merge {
                        merges.push((key, value));
                    } else {
                        entries.push((key, value));
                    }
                }
                if !merges.is_empty() {
                    apply_merges(&mut entries, merges);
                }
                let node = Node::Map { entries, line };
                self.remember(anchor, &node, before - *budget);
                Ok(node)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, count)) => {
                    let (node, count) = (node.clone(), *count);
                    // One node was already charged for the alias itself.
                    spend(budget, count.saturating_sub(1))?;
                    Ok(node)
                }
                // The parser rejects unknown anchors; an anchor on the `monitors` list itself
                // (never stored, it would be the whole file) ends up here.
                None => Err(Stop::Limit {
                    line,
                    message: "this alias refers to an anchor that cannot be used here".into(),
                }),
            },
            other => Err(Stop::Limit {
                line,
                message: format!("unexpected YAML event {other:?}"),
            }),
        }
    }
}

/// One parse of (head + slice).
struct Job<'t> {
    head: &'t str,
    body: &'t str,
    lines: LineMap,
    first_index: usize,
    /// `Some(n)`: speculative slice predicted to hold `n` elements; any surprise is `Rejected`.
    expected_items: Option<usize>,
    /// Report problems with top-level keys before `monitors` (only the first slice does).
    report_head: bool,
    /// Last slice of the file (the only one that may see what follows the list).
    last: bool,
    /// Line (in the parser's numbering) where the text ends.
    eof_line: usize,
}

/// What a slice found besides its elements.
#[derive(Default)]
struct JobOut {
    head_anchors: bool,
    item_anchors: bool,
    /// The top-level `alerting:` block, when this slice read it.
    alerting: Option<crate::config::model::AlertingSpec>,
    /// The top-level `remediation:` block, when this slice read it.
    remediation: Option<crate::config::model::RemediationSpec>,
}

enum JobFail {
    /// The speculation was wrong (or cannot be trusted): fall back to a sequential parse.
    Rejected,
    /// The file is broken in a way that stops reading (syntax error, limit).
    Fatal(ConfigError),
}

/// Problems with the file as a whole, in order: (error?, problem).
use crate::config::slices::{FileIssues, SliceOut, in_order};

fn run_job(
    job: &Job<'_>,
    opts: &LoadOptions,
    emit: &mut dyn FnMut(Item),
    file: &mut FileIssues,
) -> Result<JobOut, JobFail> {
    let speculative = job.expected_items.is_some();
    let mut r = Reader::new(job.head, job.body, job.lines);
    let mut out = JobOut::default();
    let lines = job.lines;
    let fail = |stop: Stop, index: Option<usize>| -> JobFail {
        if speculative {
            return JobFail::Rejected;
        }
        JobFail::Fatal(match stop {
            Stop::Syntax(e) => ConfigError::file(
                "",
                Some(lines.map(e.marker().line())),
                format!(
                    "YAML syntax error (column {}): {}",
                    e.marker().col() + 1,
                    e.info()
                ),
            ),
            Stop::Limit { line, message } => ConfigError {
                index,
                name: None,
                path: index.map(|i| format!("monitors[{i}]")).unwrap_or_default(),
                line: Some(line),
                message,
            },
        })
    };
    let reject_or = |file: &mut FileIssues, e: ConfigError| -> Result<(), JobFail> {
        if speculative {
            return Err(JobFail::Rejected);
        }
        file.push((true, e));
        Ok(())
    };

    // Stream and document start.
    let (ev, _) = r.next().map_err(|s| fail(s, None))?;
    debug_assert!(matches!(ev, Event::StreamStart));
    let (ev, m) = r.next().map_err(|s| fail(s, None))?;
    match ev {
        Event::DocumentStart => {}
        Event::StreamEnd => {
            reject_or(
                file,
                ConfigError::file(
                    "",
                    None,
                    "the file is empty: expected a mapping with a `monitors` list",
                ),
            )?;
            return Ok(out);
        }
        _ => {
            let line = r.line(&m);
            reject_or(
                file,
                ConfigError::file("", Some(line), "unexpected start of YAML stream"),
            )?;
            return Ok(out);
        }
    }

    // Root mapping.
    let (ev, m) = r.next().map_err(|s| fail(s, None))?;
    if !matches!(ev, Event::MappingStart(..)) {
        let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
        let n = r.node(ev, m, 0, &mut budget).map_err(|s| fail(s, None))?;
        reject_or(
            file,
            ConfigError::file(
                "",
                Some(n.line()),
                format!(
                    "the top level must be a mapping with a `monitors` list, found {}",
                    n.kind_name()
                ),
            ),
        )?;
        return Ok(out);
    }
    let mut seen_monitors = false;
    let mut seen_top: Vec<String> = Vec::new();
    let mut count = 0usize;
    loop {
        let (ev, m) = r.next().map_err(|s| fail(s, None))?;
        if matches!(ev, Event::MappingEnd) {
            break;
        }
        let key_line = r.line(&m);
        let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
        let key = r.node(ev, m, 1, &mut budget).map_err(|s| fail(s, None))?;
        let key_text = match &key {
            Node::Scalar { text, .. } => Some(text.as_ref()),
            _ => None,
        };
        if key_text == Some("monitors") && !seen_monitors {
            seen_monitors = true;
            let (ev, m) = r.next().map_err(|s| fail(s, None))?;
            if !matches!(ev, Event::SequenceStart(..)) {
                let n = r.node(ev, m, 1, &mut budget).map_err(|s| fail(s, None))?;
                reject_or(
                    file,
                    ConfigError::file(
                        "monitors",
                        Some(n.line()),
                        format!("expected a list of monitors, found {}", n.kind_name()),
                    ),
                )?;
                continue;
            }
            out.head_anchors = r.anchors_defined > 0;
            loop {
                let (ev, m) = r.next().map_err(|s| fail(s, None))?;
                if let Event::SequenceEnd = ev {
                    if speculative && !job.last && m.line() != job.eof_line {
                        return Err(JobFail::Rejected);
                    }
                    break;
                }
                if speculative && count == 0 && m.line() <= job.lines.head_lines as usize {
                    return Err(JobFail::Rejected);
                }
                let index = job.first_index + count;
                let anchors_before = r.anchors_defined;
                let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
                let node = r
                    .node(ev, m, 1, &mut budget)
                    .map_err(|s| fail(s, Some(index)))?;
                out.item_anchors |= r.anchors_defined > anchors_before;
                let mut item = lower_item(&node, index, opts, Dialect::Yaml);
                for (line, k) in r.dup_keys.drain(..) {
                    item.errors.push(ConfigError {
                        index: Some(index),
                        name: item
                            .label
                            .clone()
                            .or_else(|| item.name.clone())
                            .or_else(|| item.spec.as_ref().map(|s| s.name.clone())),
                        path: format!("monitors[{index}]"),
                        line: Some(line),
                        message: format!(
                            "duplicate key {:?}: keys must be unique in a mapping",
                            crate::config::lower::shorten_key(&k)
                        ),
                    });
                }
                emit(item);
                count += 1;
                if job.expected_items.is_some_and(|n| count > n) {
                    return Err(JobFail::Rejected);
                }
            }
            if job.expected_items.is_some_and(|n| count != n) {
                return Err(JobFail::Rejected);
            }
            continue;
        }
        // Any other top-level key: read its value (it may hold anchors) and check the key.
        let (ev, m) = r.next().map_err(|s| fail(s, None))?;
        let value = r.node(ev, m, 1, &mut budget).map_err(|s| fail(s, None))?;
        // Keys before the list are reported by the first slice only; a later slice reads them
        // again (its head) just to know them, so that a duplicate after the list is caught.
        let report = seen_monitors || job.report_head;
        for (line, k) in r.dup_keys.drain(..) {
            if !report {
                continue;
            }
            file.push((
                true,
                ConfigError::file(
                    key_text.unwrap_or(""),
                    Some(line),
                    format!(
                        "duplicate key {:?}: keys must be unique in a mapping",
                        crate::config::lower::shorten_key(&k)
                    ),
                ),
            ));
        }
        if seen_monitors && speculative && !job.last {
            return Err(JobFail::Rejected);
        }
        if !report {
            if let Some(k) = key_text
                && k != "monitors"
                && !seen_top.iter().any(|s| s == k)
            {
                seen_top.push(k.to_string());
            }
            match key_text {
                Some("alerting") => {
                    out.alerting = Some(lower_alerting(&value, opts, Dialect::Yaml).0)
                }
                Some("remediation") => {
                    out.remediation = Some(lower_remediation(&value, opts, Dialect::Yaml).0);
                }
                _ => {}
            }
            continue;
        }
        if seen_monitors || job.report_head {
            if let Some(k) = key_text
                && k != "monitors"
            {
                if seen_top.iter().any(|s| s == k) {
                    file.push((
                        true,
                        ConfigError::file(k, Some(key_line), format!("duplicate key {k:?}")),
                    ));
                    continue;
                }
                seen_top.push(k.to_string());
            }
            match key_text {
                Some("alerting") if out.alerting.is_some() => file.push((
                    true,
                    ConfigError::file("alerting", Some(key_line), "duplicate key \"alerting\""),
                )),
                Some("remediation") if out.remediation.is_some() => file.push((
                    true,
                    ConfigError::file(
                        "remediation",
                        Some(key_line),
                        "duplicate key \"remediation\"",
                    ),
                )),
                Some("remediation") => {
                    let (spec, errors, warnings) = lower_remediation(&value, opts, Dialect::Yaml);
                    file.extend(errors.into_iter().map(|e| (true, e)));
                    file.extend(warnings.into_iter().map(|e| (false, e)));
                    out.remediation = Some(spec);
                }
                Some("alerting") => {
                    let (spec, errors, warnings) = lower_alerting(&value, opts, Dialect::Yaml);
                    file.extend(errors.into_iter().map(|e| (true, e)));
                    file.extend(warnings.into_iter().map(|e| (false, e)));
                    out.alerting = Some(spec);
                }
                Some("monitors") => file.push((
                    true,
                    ConfigError::file("monitors", Some(key_line), "duplicate key \"monitors\""),
                )),
                Some(k) if k.starts_with("x-") => {}
                Some(k) => {
                    let msg = format!(
                        "unknown top-level key {k:?}; the file holds `monitors:` (keys starting with x- are free for anchors)"
                    );
                    file.push((
                        opts.strict,
                        ConfigError::file(
                            k,
                            Some(key_line),
                            if opts.strict {
                                msg
                            } else {
                                format!("{msg} (ignored)")
                            },
                        ),
                    ));
                }
                None => file.push((
                    true,
                    ConfigError::file("", Some(key_line), "top-level keys must be plain strings"),
                )),
            }
        }
    }
    if !seen_monitors {
        reject_or(
            file,
            ConfigError::file(
                "monitors",
                None,
                "missing: the file must have a `monitors` list (it may be empty: `monitors: []`)",
            ),
        )?;
    }
    let (ev, _) = r.next().map_err(|s| fail(s, None))?;
    debug_assert!(matches!(ev, Event::DocumentEnd));
    if speculative && !job.last {
        let (ev, _) = r.next().map_err(|s| fail(s, None))?;
        if !matches!(ev, Event::StreamEnd) {
            return Err(JobFail::Rejected);
        }
    } else {
        // Whatever follows the document must be nothing: a second document, or text the
        // parser cannot read, would otherwise be dropped in silence.
        match r.next().map_err(|s| fail(s, None))? {
            (Event::StreamEnd, _) => {}
            (_, m) => {
                let line = r.line(&m);
                file.push((
                    true,
                    ConfigError::file(
                        "",
                        Some(line),
                        "a second YAML document starts here (after `---` or `...`): cpra reads one document, and ignoring the rest would drop monitors; remove the separator or merge the documents",
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Reads YAML `text` into `col`. A fatal problem (syntax error) is returned.
pub(crate) fn load(
    text: &str,
    opts: &LoadOptions,
    col: &mut Collector<'_>,
) -> Result<(), ConfigError> {
    let threads = opts.effective_threads();
    let chunk_bytes = if opts.chunk_bytes == 0 {
        CONFIG_CHUNK_BYTES
    } else {
        opts.chunk_bytes
    };
    if threads >= 2 && text.len() >= 2 * chunk_bytes {
        let src = Source::Memory(text.as_bytes());
        let planned = plan(&src, chunk_bytes);
        if let Some(plan) = &planned
            && parallel(&src, plan, threads, opts, col)
        {
            return Ok(());
        }
        if opts.forbid_fallback {
            let why = if planned.is_some() {
                "a slice was rejected"
            } else {
                "no plan"
            };
            return Err(ConfigError::file(
                "",
                None,
                format!("parallel YAML reader fell back: {why}"),
            ));
        }
        col.restart();
    }
    let job = Job {
        head: "",
        body: text,
        lines: LineMap::IDENTITY,
        first_index: 0,
        expected_items: None,
        report_head: true,
        last: true,
        eof_line: 0,
    };
    let mut file = Vec::new();
    let res = run_job(&job, opts, &mut |item| col.item(item), &mut file);
    for (is_error, e) in file {
        col.issue(is_error, e);
    }
    match res {
        Ok(out) => {
            col.alerting(out.alerting);
            col.remediation(out.remediation);
            Ok(())
        }
        Err(JobFail::Fatal(e)) => Err(e),
        Err(JobFail::Rejected) => Err(ConfigError::file(
            "",
            None,
            "internal error: sequential parse rejected",
        )),
    }
}

/// Reads a large YAML file a slice at a time (see [`Source`]): `None` when the file is not
/// one the parallel reader takes (then the caller reads it whole, and that path reports any
/// problem), else what [`load`] returns. Whatever was delivered before a `None` is skipped by
/// the whole-file pass ([`Collector::restart`]).
pub(crate) fn load_sliced(
    file: &std::fs::File,
    len: usize,
    opts: &LoadOptions,
    col: &mut Collector<'_>,
) -> Option<Result<(), ConfigError>> {
    let (src, threads, chunk_bytes) = crate::config::source::sliced(file, len, opts)?;
    let planned = plan(&src, chunk_bytes);
    if let Some(plan) = &planned
        && parallel(&src, plan, threads, opts, col)
    {
        return Some(Ok(()));
    }
    if opts.forbid_fallback {
        let why = if planned.is_some() {
            "a slice was rejected"
        } else {
            "no plan"
        };
        return Some(Err(ConfigError::file(
            "",
            None,
            format!("sliced YAML reader fell back: {why}"),
        )));
    }
    col.restart();
    None
}

/// A proposed cut of the file.
struct Plan<'t> {
    head: Cow<'t, str>,
    /// Column of the list's `- `.
    column: usize,
    head_lines: u32,
    head_anchors: bool,
    slices: Vec<Slice>,
}

struct Slice {
    start: usize,
    end: usize,
    first_index: usize,
    items: usize,
    first_line: u32,
    newlines: usize,
}

/// Where the `monitors` list starts in `head` (the file's first bytes): its byte offset, the
/// line it is on, its column, and whether the text before it defines anchors.
fn list_start(head: &str) -> Option<(usize, u32, usize, bool)> {
    let bytes = head.as_bytes();
    // Parse up to the start of the `monitors` list to learn its line.
    let mut r = Reader::new("", head, LineMap::IDENTITY);
    if !matches!(r.next().ok()?.0, Event::StreamStart) {
        return None;
    }
    if !matches!(r.next().ok()?.0, Event::DocumentStart) {
        return None;
    }
    if !matches!(r.next().ok()?.0, Event::MappingStart(..)) {
        return None;
    }
    let list_line = loop {
        let (kev, km) = r.next().ok()?;
        if matches!(kev, Event::MappingEnd) {
            return None;
        }
        let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
        let key = r.node(kev, km, 1, &mut budget).ok()?;
        let (vev, vm) = r.next().ok()?;
        if matches!(&key, Node::Scalar { text, .. } if text == "monitors") {
            if !matches!(vev, Event::SequenceStart(..)) {
                return None;
            }
            break vm.line();
        }
        r.node(vev, vm, 1, &mut budget).ok()?;
    };
    let head_anchors = r.anchors_defined > 0;
    drop(r);
    // Byte offset of that line, and the element column.
    let mut head_end = 0usize;
    for _ in 1..list_line {
        head_end += memchr::memchr(b'\n', &bytes[head_end..])? + 1;
    }
    let column = bytes[head_end..].iter().take_while(|&&b| b == b' ').count();
    if !is_entry(bytes, head_end + column) {
        return None;
    }
    Some((
        head_end,
        u32::try_from(list_line - 1).ok()?,
        column,
        head_anchors,
    ))
}

/// `- ` (or a lone `-`) at `at`: an element of a block list.
fn is_entry(bytes: &[u8], at: usize) -> bool {
    bytes.get(at) == Some(&b'-')
        && matches!(bytes.get(at + 1), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// Finds the head and the candidate cuts, or `None` when the file does not have the shape
/// (block list of monitors under a top-level mapping, `\n` line ends). The text is scanned a
/// block at a time, so a file source is never resident whole.
fn plan<'t>(src: &Source<'t>, chunk_bytes: usize) -> Option<Plan<'t>> {
    let probe = src.prefix(CONFIG_PLAN_BLOCK_BYTES)?;
    let (head_end, head_lines, column, head_anchors) = list_start(&probe)?;
    let head = match probe {
        Cow::Borrowed(t) => Cow::Borrowed(&t[..head_end]),
        Cow::Owned(t) => Cow::Owned(t[..head_end].to_string()),
    };
    // Candidate cuts: every later line that starts with `column` spaces and "- ".
    let mut needle = Vec::with_capacity(column + 2);
    needle.push(b'\n');
    needle.resize(column + 1, b' ');
    needle.push(b'-');
    let finder = memchr::memmem::Finder::new(&needle);
    let mut slices = Vec::new();
    let (mut start, mut items, mut first_index) = (head_end, 1usize, 0usize);
    // Newlines from `head_end` to `counted`, and to the current slice's start.
    let (mut newlines, mut counted, mut newlines_at_start) = (0usize, head_end, 0usize);
    let mut lone_cr = false;
    let scanned = src.for_each_block(head_end, |off, block| {
        let bytes = block.as_bytes();
        // A lone CR is a YAML line break that the cut arithmetic below does not count.
        if memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n')) {
            lone_cr = true;
            return false;
        }
        // A block starts a line: the first one at the list's first element (not a cut).
        let at_start = (off > head_end
            && is_entry(bytes, column)
            && bytes
                .get(..column)
                .is_some_and(|c| c.iter().all(|&b| b == b' ')))
        .then_some(0);
        let found = finder.find_iter(bytes).map(|pos| pos + 1);
        for line_start in at_start.into_iter().chain(found).map(|p| off + p) {
            if !is_entry(bytes, line_start - off + column) {
                continue;
            }
            if line_start - start >= chunk_bytes {
                newlines += bytecount_newlines(&bytes[counted.max(off) - off..line_start - off]);
                counted = line_start;
                slices.push(Slice {
                    start,
                    end: line_start,
                    first_index,
                    items,
                    first_line: 0,
                    newlines: newlines - newlines_at_start,
                });
                newlines_at_start = newlines;
                first_index += items;
                start = line_start;
                items = 1;
            } else {
                items += 1;
            }
        }
        newlines += bytecount_newlines(&bytes[counted.max(off) - off..]);
        counted = off + bytes.len();
        true
    });
    if !scanned || lone_cr {
        return None;
    }
    slices.push(Slice {
        start,
        end: src.len(),
        first_index,
        items,
        first_line: 0,
        newlines: newlines - newlines_at_start,
    });
    if slices.len() < 2 {
        return None;
    }
    let mut line = head_lines.checked_add(1)?;
    for s in &mut slices {
        s.first_line = line;
        line = line.checked_add(u32::try_from(s.newlines).ok()?)?;
    }
    Some(Plan {
        head,
        column,
        head_lines,
        head_anchors,
        slices,
    })
}

fn bytecount_newlines(b: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', b).count()
}

/// Parses the slices on `threads` threads and delivers them in order. `false`: fall back.
fn parallel(
    src: &Source<'_>,
    plan: &Plan<'_>,
    threads: usize,
    opts: &LoadOptions,
    col: &mut Collector<'_>,
) -> bool {
    let n = plan.slices.len();
    let work = |k: usize, mut items: Vec<Item>| -> Option<SliceOut> {
        let s = &plan.slices[k];
        // From a file: read now, parsed, dropped (only the slices in flight are resident).
        let body = src.slice(s.start, s.end)?;
        let job = Job {
            head: &plan.head,
            body: &body,
            lines: LineMap {
                head_lines: plan.head_lines,
                body_first_line: s.first_line,
            },
            first_index: s.first_index,
            expected_items: Some(s.items),
            report_head: k == 0,
            last: k + 1 == n,
            eof_line: plan.head_lines as usize + s.newlines + 1,
        };
        items.reserve(s.items);
        // Slices other than the first (head keys) and the last (what follows the list) may
        // be read by the fast subset reader; it declines anything it does not fully know.
        if k != 0
            && k + 1 != n
            && let Some(nodes) = read_elements(job.body, plan.column, s.first_line)
            && nodes.len() == s.items
        {
            for (i, node) in nodes.iter().enumerate() {
                items.push(lower_item(node, s.first_index + i, opts, Dialect::Yaml));
            }
            return Some(SliceOut {
                items,
                ..SliceOut::default()
            });
        }
        let mut issues = Vec::new();
        let out = run_job(&job, opts, &mut |item| items.push(item), &mut issues).ok()?;
        if plan.head_anchors && out.item_anchors {
            return None;
        }
        Some(SliceOut {
            items,
            issues,
            alerting: out.alerting,
            remediation: out.remediation,
        })
    };
    in_order(n, threads, col, &work)
}

/// The elements of `monitors` in `text` as the general reader builds them (for tests of the
/// fast reader).
#[cfg(test)]
pub(crate) fn general_elements(text: &str) -> Option<Vec<Node<'static>>> {
    let mut r = Reader::new("", text, LineMap::IDENTITY);
    for _ in 0..3 {
        r.next().ok()?;
    }
    r.next().ok()?;
    let (ev, _) = r.next().ok()?;
    if !matches!(ev, Event::SequenceStart(..)) {
        return None;
    }
    let mut out = Vec::new();
    loop {
        let (ev, m) = r.next().ok()?;
        if matches!(ev, Event::SequenceEnd) {
            return Some(out);
        }
        let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
        out.push(r.node(ev, m, 1, &mut budget).ok()?);
    }
}
