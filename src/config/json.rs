//! JSON reading: serde_json visits the `monitors` array one element at a time.
//!
//! A `DeserializeSeed` chain (root object → `monitors` array → one [`Node`]) lets serde_json
//! drive the parse while we keep only a small batch of monitors' trees: each element is built
//! (strings borrowed from the input when they have no escapes), lowered through the same pass
//! as YAML, handed to the collector and dropped. JSON has no useful line per value for us, so
//! nodes carry line 0 (reported as no line); syntax errors carry serde_json's line and column.
//!
//! For a large input the parse runs on its own thread and hands batches of trees to the
//! calling thread, which lowers them and feeds the sink (a two-stage pipeline; the batches go
//! back to the parsing thread to be freed and reused, keeping allocations thread-local).

use std::borrow::Cow;
use std::fmt;
use std::sync::mpsc;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use crate::config::error::ConfigError;
use crate::config::lower::Item;
use crate::config::lower::{Dialect, lower_alerting, lower_item, lower_remediation};
use crate::config::node::{Key, Node, Style};
use crate::config::slices::{SliceOut, in_order};
use crate::config::source::Source;
use crate::config::{Collector, LoadOptions};
use crate::limits::{
    CONFIG_DEPTH_MAX, CONFIG_NODES_PER_MONITOR_MAX, CONFIG_PLAN_BLOCK_BYTES,
    CONFIG_STRING_BYTES_MAX,
};

/// Monitors per batch handed from the parsing thread to the lowering one.
const BATCH_MONITORS: usize = 512;
/// Batches in flight between the two threads (bounds memory).
const BATCHES_IN_FLIGHT: usize = 4;
/// Below this size the pipeline is not worth a thread.
const PIPELINE_MIN_BYTES: usize = 1 << 20;

/// What the parsing stage produces, in file order.
enum Msg<'de> {
    Monitors(Vec<Node<'de>>),
    Issue(bool, ConfigError),
    /// The top-level `alerting` object.
    Alerting(Node<'de>),
    /// The top-level `remediation` object.
    Remediation(Node<'de>),
    /// The `monitors` list ended (what follows comes after it in the file).
    MonitorsEnd,
}

/// Reads JSON `bytes` into `col`. A fatal problem (syntax error) is returned.
pub(crate) fn load<'de>(
    bytes: &'de [u8],
    opts: &LoadOptions,
    col: &mut Collector<'_>,
) -> Result<(), ConfigError> {
    let mut index = 0usize;
    if opts.effective_threads() < 2 || bytes.len() < PIPELINE_MIN_BYTES {
        return parse(bytes, opts.strict, &mut |msg| {
            consume(msg, opts, col, &mut index);
        });
    }
    let (tx, rx) = mpsc::sync_channel::<Msg<'de>>(BATCHES_IN_FLIGHT);
    let (recycle_tx, recycled) = mpsc::channel::<Vec<Node<'de>>>();
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut emit = |msg: Msg<'de>| {
                // A send fails only when the receiver is gone (it never is before we finish).
                let _ = tx.send(msg);
            };
            let mut fresh = || {
                // Free the batches the lowering thread is done with here, where they were
                // allocated, and reuse one.
                let mut spare = Vec::new();
                for mut done in recycled.try_iter() {
                    done.clear();
                    spare = done;
                }
                spare
            };
            parse_with(bytes, opts.strict, &mut emit, &mut fresh)
        });
        // Owned by this closure so that a panic in the sink drops it (unblocking the parser)
        // before the scope waits for the parser thread.
        let rx = rx;
        for msg in rx.iter() {
            if let Some(nodes) = consume(msg, opts, col, &mut index) {
                let _ = recycle_tx.send(nodes);
            }
        }
        parser.join().unwrap_or_else(|_| {
            Err(ConfigError::file(
                "",
                None,
                "internal error: the JSON reader thread panicked",
            ))
        })
    })
}

/// Reads a large JSON file a slice at a time (see [`Source`]) instead of whole: the file is
/// scanned in blocks for the top-level `monitors` array and cut between its elements; the
/// rest of the document (the "skeleton": everything but the elements) is parsed as usual,
/// and the slices are parsed and lowered on several threads ([`in_order`]). `None`: the file
/// is not one this takes (the root is not an object, `monitors` is not an array or appears
/// twice, a slice does not parse as planned...): the caller reads it whole, and that path
/// reports any problem.
pub(crate) fn load_sliced(
    file: &std::fs::File,
    len: usize,
    opts: &LoadOptions,
    col: &mut Collector<'_>,
) -> Option<Result<(), ConfigError>> {
    let (src, threads, chunk_bytes) = crate::config::source::sliced(file, len, opts)?;
    let plan = plan(&src, chunk_bytes)?;
    // The skeleton: the document with an empty `monitors` list, small by construction.
    let head = src.bytes(0, plan.open + 1)?;
    let tail = src.bytes(plan.close, len)?;
    if head.len() + tail.len() > CONFIG_PLAN_BLOCK_BYTES {
        return None;
    }
    let skeleton = [&head[..], &tail[..]].concat();
    let mut msgs = Vec::new();
    parse(&skeleton, opts.strict, &mut |m| msgs.push(m)).ok()?;
    // Monitors in the skeleton: a `monitors` key the scan did not read as one.
    if msgs.iter().any(|m| matches!(m, Msg::Monitors(_))) {
        return None;
    }
    let mut index = 0usize;
    let mut msgs = msgs.into_iter();
    for m in msgs.by_ref() {
        if matches!(m, Msg::MonitorsEnd) {
            break;
        }
        consume(m, opts, col, &mut index);
    }
    let work = |k: usize, mut items: Vec<Item>| -> Option<SliceOut> {
        let (start, end, count, first) = plan.slices[k];
        let body = src.bytes(start, end)?;
        let mut text = Vec::with_capacity(body.len() + 2);
        text.push(b'[');
        text.extend_from_slice(&body);
        text.push(b']');
        drop(body);
        let nodes = elements(&text, opts.strict, count)?;
        if nodes.len() != count {
            return None; // Not what the scan saw (the file changed meanwhile?).
        }
        items.reserve(count);
        for (i, node) in nodes.iter().enumerate() {
            items.push(lower_item(node, first + i, opts, Dialect::Json));
        }
        Some(SliceOut {
            items,
            ..SliceOut::default()
        })
    };
    if !in_order(plan.slices.len(), threads, col, &work) {
        if opts.forbid_fallback {
            return Some(Err(ConfigError::file(
                "",
                None,
                "sliced JSON reader fell back: a slice was rejected",
            )));
        }
        col.restart();
        return None;
    }
    let mut index = plan.slices.iter().map(|s| s.2).sum();
    for m in msgs {
        consume(m, opts, col, &mut index);
    }
    Some(Ok(()))
}

/// The monitor trees of `text`, a JSON list (`None`: it does not parse).
fn elements<'de>(text: &'de [u8], strict: bool, count: usize) -> Option<Vec<Node<'de>>> {
    let mut nodes = Vec::with_capacity(count);
    let mut collect = |m: Msg<'de>| {
        if let Msg::Monitors(n) = m {
            nodes.extend(n);
        }
    };
    let mut ctx = Ctx {
        strict,
        emit: &mut collect,
        fresh_batch: &mut Vec::new,
        batch: Vec::new(),
        seen_monitors: true,
        seen_alerting: false,
        seen_remediation: false,
        root_ok: true,
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    Monitors { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .ok()?;
    ctx.flush();
    drop(ctx);
    Some(nodes)
}

/// Where a JSON file's `monitors` array is, and its slices: `(start, end, elements, index of
/// the first)`, cut at the array's commas.
struct Plan {
    open: usize,
    close: usize,
    slices: Vec<(usize, usize, usize, usize)>,
}

/// Finds the root object's `monitors` array and cuts it every `chunk_bytes` between two
/// elements. `None` when the document does not have that shape (the whole-file path then says
/// what is wrong).
///
/// Only the head (up to the array's `[`) and the tail (from the last cut to the array's `]`)
/// are scanned byte by byte. In between, cuts are taken where an element starts a line: a
/// newline after a `,` and before a `{` (a raw newline is never inside a JSON string). That is
/// a guess, proven by the parse: a cut inside a nested list would leave the slice that ends
/// there unbalanced, and it is refused before anything after it is delivered; the elements
/// each slice holds are counted here and checked against the parse.
fn plan(src: &Source<'_>, chunk_bytes: usize) -> Option<Plan> {
    let mut head = Scanner {
        stop_at_open: true,
        ..Scanner::default()
    };
    let mut scanned = 0usize;
    src.for_each_chunk(0, |off, bytes| {
        scanned = off + bytes.len();
        head.feed(off, bytes) && !head.in_monitors && scanned < CONFIG_PLAN_BLOCK_BYTES
    });
    if head.failed || !head.in_monitors {
        return None;
    }
    let open = head.open;
    let mut cuts = Cuts {
        chunk_bytes,
        slice_start: open + 1,
        last_solid: None,
        after_newline: false,
        elements: 1,
        first: 0,
        slices: Vec::new(),
    };
    if !src.for_each_chunk(open + 1, |off, bytes| {
        cuts.feed(off, bytes);
        true
    }) {
        return None;
    }
    // From the last cut (an element boundary, if the guesses were right) to the array's end.
    let last_start = cuts.slice_start;
    let mut tail = Scanner {
        depth: 2,
        in_monitors: true,
        chunk_bytes: usize::MAX,
        slice_start: last_start,
        ..Scanner::default()
    };
    src.for_each_chunk(last_start, |off, bytes| {
        tail.feed(off, bytes) && !tail.found
    });
    if tail.failed || !tail.found || tail.slices.len() != 1 {
        return None;
    }
    let mut slices = cuts.slices;
    // The elements after the last cut: the line starts seen there, plus the first.
    slices.push((last_start, tail.close, cuts.elements, cuts.first));
    if slices.len() < 2 {
        return None;
    }
    Some(Plan {
        open,
        close: tail.close,
        slices,
    })
}

/// The guessed cuts: lines that start an element (see [`plan`]).
struct Cuts {
    chunk_bytes: usize,
    slice_start: usize,
    /// The last non-blank byte seen and its offset (`None` once a comma's line is decided).
    last_solid: Option<(u8, usize)>,
    /// A newline after a comma ended the last block: its line is decided in the next one.
    after_newline: bool,
    /// Elements seen in the current slice (the first one included).
    elements: usize,
    first: usize,
    slices: Vec<(usize, usize, usize, usize)>,
}

impl Cuts {
    fn feed(&mut self, off: usize, bytes: &[u8]) {
        // A newline after a comma whose next non-blank byte was past the last block's end.
        if self.after_newline {
            match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(k) => {
                    self.after_newline = false;
                    self.line_start(bytes[k] == b'{');
                }
                None => return,
            }
        }
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', bytes) {
            // The last non-blank byte before this newline (perhaps in an earlier block).
            if let Some(k) = bytes[from..nl]
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
            {
                self.last_solid = Some((bytes[from + k], off + from + k));
            }
            from = nl + 1;
            if !matches!(self.last_solid, Some((b',', _))) {
                continue;
            }
            match bytes[from..].iter().position(|b| !b.is_ascii_whitespace()) {
                Some(k) => self.line_start(bytes[from + k] == b'{'),
                None => self.after_newline = true, // Decided in the next block.
            }
            if self.after_newline {
                break;
            }
        }
        if !self.after_newline
            && let Some(k) = bytes[from..].iter().rposition(|b| !b.is_ascii_whitespace())
        {
            self.last_solid = Some((bytes[from + k], off + from + k));
        }
    }

    /// The first line after a comma starts here; `element`: with a `{`.
    fn line_start(&mut self, element: bool) {
        let Some((b',', comma)) = self.last_solid else {
            return;
        };
        // The comma is used: a blank line after it must not count it again.
        self.last_solid = None;
        if !element {
            return;
        }
        if comma.saturating_sub(self.slice_start) >= self.chunk_bytes {
            self.slices
                .push((self.slice_start, comma, self.elements, self.first));
            self.first += self.elements;
            self.elements = 1;
            self.slice_start = comma + 1;
        } else {
            self.elements += 1;
        }
    }
}

/// The scan's state: strings and escapes skipped, depth counted, the root object's keys read
/// (only to find `monitors`), commas of the `monitors` array counted.
#[derive(Default)]
struct Scanner {
    /// Stop once the `monitors` array opens (the head scan).
    stop_at_open: bool,
    chunk_bytes: usize,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Inside the root object, the next string is a key.
    expect_key: bool,
    capturing: bool,
    key: Vec<u8>,
    key_is_monitors: bool,
    /// The root key being read holds an escape.
    escaped_key: bool,
    /// After `"monitors":`, waiting for its `[`.
    want_array: bool,
    in_monitors: bool,
    found: bool,
    failed: bool,
    open: usize,
    close: usize,
    slice_start: usize,
    commas: usize,
    first: usize,
    slices: Vec<(usize, usize, usize, usize)>,
}

impl Scanner {
    /// One block at file offset `off`; false stops the scan.
    fn feed(&mut self, off: usize, bytes: &[u8]) -> bool {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                i = self.string_bytes(bytes, i);
                continue;
            }
            let b = bytes[i];
            if !b.is_ascii_whitespace() && !self.structural(off + i, b) {
                self.failed = !(self.stop_at_open && self.in_monitors);
                return false;
            }
            if self.found {
                return false; // The array closed: the tail scan is done.
            }
            i += 1;
        }
        true
    }

    /// Inside a string from `i`: skips to its end (or the block's); returns where to go on.
    fn string_bytes(&mut self, bytes: &[u8], mut i: usize) -> usize {
        if self.escape {
            self.escape = false;
            if self.capturing {
                // A root key with an escape could decode to `monitors`: the whole-file path
                // decides (see `structural`).
                self.escaped_key = true;
            }
            return i + 1;
        }
        let Some(k) = memchr::memchr2(b'"', b'\\', &bytes[i..]) else {
            if self.capturing {
                self.capture(&bytes[i..]);
            }
            return bytes.len();
        };
        if self.capturing {
            self.capture(&bytes[i..i + k]);
        }
        i += k;
        if bytes[i] == b'\\' {
            self.escape = true;
        } else {
            self.in_string = false;
            if self.capturing {
                self.capturing = false;
                self.key_is_monitors = self.key == b"monitors";
            }
        }
        i + 1
    }

    fn capture(&mut self, part: &[u8]) {
        if self.key.len() + part.len() <= 16 {
            self.key.extend_from_slice(part);
        } else {
            self.key.push(b'\\');
            self.key.truncate(16);
        }
    }

    /// A byte outside strings (not whitespace) at file offset `at`; false: not the shape.
    fn structural(&mut self, at: usize, b: u8) -> bool {
        if self.want_array {
            self.want_array = false;
            if b != b'[' || self.found {
                return false; // Not a list, or a second one: the whole-file path says so.
            }
            self.in_monitors = true;
            self.open = at;
            self.slice_start = at + 1;
            self.depth += 1;
            // The head scan ends here.
            return !self.stop_at_open;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.expect_key {
                    self.capturing = true;
                    self.key.clear();
                }
            }
            b'{' | b'[' => {
                if self.depth == 0 && b != b'{' {
                    return false;
                }
                self.depth += 1;
                if self.depth == 1 {
                    self.expect_key = true;
                }
            }
            b'}' | b']' => {
                if self.depth == 0 {
                    return false;
                }
                if self.in_monitors && self.depth == 2 {
                    if b != b']' {
                        return false;
                    }
                    self.cut(at);
                    self.in_monitors = false;
                    self.found = true;
                    self.close = at;
                }
                self.depth -= 1;
            }
            b':' if self.depth == 1 => {
                if std::mem::take(&mut self.escaped_key) {
                    return false;
                }
                self.expect_key = false;
                self.want_array = std::mem::take(&mut self.key_is_monitors);
            }
            b',' if self.depth == 1 => self.expect_key = true,
            b',' if self.in_monitors && self.depth == 2 => {
                if at - self.slice_start >= self.chunk_bytes {
                    self.cut(at);
                    self.slice_start = at + 1;
                } else {
                    self.commas += 1;
                }
            }
            _ => {}
        }
        true
    }

    /// Ends the current slice at `at` (a comma or the closing bracket).
    fn cut(&mut self, at: usize) {
        let items = self.commas + 1;
        self.slices.push((self.slice_start, at, items, self.first));
        self.first += items;
        self.commas = 0;
    }
}

/// Lowers a batch (returned for recycling) or records an issue.
fn consume<'de>(
    msg: Msg<'de>,
    opts: &LoadOptions,
    col: &mut Collector<'_>,
    index: &mut usize,
) -> Option<Vec<Node<'de>>> {
    match msg {
        Msg::Monitors(nodes) => {
            for node in &nodes {
                col.item(lower_item(node, *index, opts, Dialect::Json));
                *index += 1;
            }
            Some(nodes)
        }
        Msg::Issue(is_error, e) => {
            col.issue(is_error, e);
            None
        }
        Msg::MonitorsEnd => None,
        Msg::Alerting(node) => {
            let (spec, errors, warnings) = lower_alerting(&node, opts, Dialect::Json);
            for e in errors {
                col.issue(true, e);
            }
            for w in warnings {
                col.issue(false, w);
            }
            col.alerting(Some(spec));
            None
        }
        Msg::Remediation(node) => {
            let (spec, errors, warnings) = lower_remediation(&node, opts, Dialect::Json);
            for e in errors {
                col.issue(true, e);
            }
            for w in warnings {
                col.issue(false, w);
            }
            col.remediation(Some(spec));
            None
        }
    }
}

/// Parses `bytes`, emitting batches of monitor trees and file-level issues in order.
fn parse<'de>(
    bytes: &'de [u8],
    strict: bool,
    emit: &mut dyn FnMut(Msg<'de>),
) -> Result<(), ConfigError> {
    parse_with(bytes, strict, emit, &mut Vec::new)
}

fn parse_with<'de>(
    bytes: &'de [u8],
    strict: bool,
    emit: &mut dyn FnMut(Msg<'de>),
    fresh_batch: &mut dyn FnMut() -> Vec<Node<'de>>,
) -> Result<(), ConfigError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut ctx = Ctx {
        strict,
        emit,
        fresh_batch,
        batch: Vec::new(),
        seen_monitors: false,
        seen_alerting: false,
        seen_remediation: false,
        root_ok: true,
    };
    let res = Root { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    ctx.flush();
    if let Err(e) = res {
        return Err(json_error(&e));
    }
    if ctx.root_ok && !ctx.seen_monitors {
        ctx.issue(
            true,
            ConfigError::file(
                "monitors",
                None,
                "missing: the file must have a `monitors` list (it may be empty: \"monitors\": [])",
            ),
        );
    }
    Ok(())
}

fn json_error(e: &serde_json::Error) -> ConfigError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = text.strip_suffix(&suffix).unwrap_or(&text);
    let what = match e.classify() {
        serde_json::error::Category::Eof => "JSON ends too early",
        serde_json::error::Category::Syntax => "JSON syntax error",
        serde_json::error::Category::Io => "cannot read JSON",
        serde_json::error::Category::Data => "invalid JSON value",
    };
    let line = (e.line() > 0).then(|| u32::try_from(e.line()).unwrap_or(u32::MAX));
    ConfigError::file("", line, format!("{what} (column {}): {msg}", e.column()))
}

struct Ctx<'x, 'de> {
    strict: bool,
    emit: &'x mut dyn FnMut(Msg<'de>),
    fresh_batch: &'x mut dyn FnMut() -> Vec<Node<'de>>,
    batch: Vec<Node<'de>>,
    seen_monitors: bool,
    seen_alerting: bool,
    seen_remediation: bool,
    root_ok: bool,
}

impl<'de> Ctx<'_, 'de> {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let next = (self.fresh_batch)();
            let full = std::mem::replace(&mut self.batch, next);
            (self.emit)(Msg::Monitors(full));
        }
    }

    fn push(&mut self, node: Node<'de>) {
        self.batch.push(node);
        if self.batch.len() >= BATCH_MONITORS {
            self.flush();
        }
    }

    fn issue(&mut self, is_error: bool, e: ConfigError) {
        self.flush();
        (self.emit)(Msg::Issue(is_error, e));
    }
}

struct Root<'c, 'x, 'de> {
    ctx: &'c mut Ctx<'x, 'de>,
}

impl<'de> DeserializeSeed<'de> for Root<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Root<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a \"monitors\" list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == "monitors" && !self.ctx.seen_monitors {
                self.ctx.seen_monitors = true;
                map.next_value_seed(Monitors {
                    ctx: &mut *self.ctx,
                })?;
                continue;
            }
            let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
            let value = map.next_value_seed(NodeSeed {
                depth: 1,
                budget: &mut budget,
            })?;
            if key == "remediation" && !self.ctx.seen_remediation {
                self.ctx.seen_remediation = true;
                self.ctx.flush();
                (self.ctx.emit)(Msg::Remediation(value));
            } else if key == "remediation" {
                self.ctx.issue(
                    true,
                    ConfigError::file("remediation", None, "duplicate key \"remediation\""),
                );
            } else if key == "alerting" && !self.ctx.seen_alerting {
                self.ctx.seen_alerting = true;
                self.ctx.flush();
                (self.ctx.emit)(Msg::Alerting(value));
            } else if key == "alerting" {
                self.ctx.issue(
                    true,
                    ConfigError::file("alerting", None, "duplicate key \"alerting\""),
                );
            } else if key == "monitors" {
                self.ctx.issue(
                    true,
                    ConfigError::file("monitors", None, "duplicate key \"monitors\""),
                );
            } else if !key.starts_with("x-") {
                let strict = self.ctx.strict;
                let msg = format!("unknown top-level key {key:?}; the file holds \"monitors\"");
                let msg = if strict {
                    msg
                } else {
                    format!("{msg} (ignored)")
                };
                self.ctx
                    .issue(strict, ConfigError::file(key.into_owned(), None, msg));
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
        while seq
            .next_element_seed(NodeSeed {
                depth: 1,
                budget: &mut budget,
            })?
            .is_some()
        {}
        self.not_object("a list");
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("a string");
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean");
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.not_object("null");
        Ok(())
    }
}

impl Root<'_, '_, '_> {
    fn not_object(self, found: &str) {
        self.ctx.root_ok = false;
        self.ctx.issue(
            true,
            ConfigError::file(
                "",
                None,
                format!("the top level must be an object with a \"monitors\" list, found {found}"),
            ),
        );
    }
}

struct Monitors<'c, 'x, 'de> {
    ctx: &'c mut Ctx<'x, 'de>,
}

impl<'de> DeserializeSeed<'de> for Monitors<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if let Some(found) = d.deserialize_any(Elements {
            ctx: &mut *self.ctx,
        })? {
            self.ctx.issue(
                true,
                ConfigError::file(
                    "monitors",
                    None,
                    format!("expected a list of monitors, found {found}"),
                ),
            );
        }
        self.ctx.flush();
        (self.ctx.emit)(Msg::MonitorsEnd);
        Ok(())
    }
}

/// Visits the elements of `monitors`; `Some(kind)` when it is not a list.
struct Elements<'c, 'x, 'de> {
    ctx: &'c mut Ctx<'x, 'de>,
}

impl<'de> Visitor<'de> for Elements<'_, '_, 'de> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of monitors")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        loop {
            let mut budget = CONFIG_NODES_PER_MONITOR_MAX;
            let Some(node) = seq.next_element_seed(NodeSeed {
                depth: 1,
                budget: &mut budget,
            })?
            else {
                break;
            };
            self.ctx.push(node);
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(Some("an object"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("a string"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("a boolean"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }
}

/// Builds one [`Node`], charging `budget` and bounding depth.
struct NodeSeed<'b> {
    depth: usize,
    budget: &'b mut usize,
}

impl NodeSeed<'_> {
    fn spend<E: serde::de::Error>(&mut self) -> Result<(), E> {
        if *self.budget == 0 {
            return Err(E::custom(format!(
                "a monitor entry has more than {CONFIG_NODES_PER_MONITOR_MAX} values"
            )));
        }
        *self.budget -= 1;
        Ok(())
    }
}

fn plain<'de>(text: String) -> Node<'de> {
    Node::Scalar {
        text: Cow::Owned(text),
        style: Style::Plain,
        line: 0,
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(mut self, d: D) -> Result<Node<'de>, D::Error> {
        if self.depth > CONFIG_DEPTH_MAX {
            return Err(D::Error::custom(format!(
                "nested deeper than {CONFIG_DEPTH_MAX} levels"
            )));
        }
        self.spend::<D::Error>()?;
        d.deserialize_any(self)
    }
}

fn quoted<'de>(text: Cow<'de, str>) -> Node<'de> {
    Node::Scalar {
        text,
        style: Style::Quoted,
        line: 0,
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        bounded::<E>(v.len(), "value")?;
        Ok(quoted(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        bounded::<E>(v.len(), "value")?;
        Ok(quoted(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Node<'de>, E> {
        bounded::<E>(v.len(), "value")?;
        Ok(quoted(Cow::Owned(v)))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(plain(if v { "true" } else { "false" }.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(plain(v.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(plain(v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(plain(v.to_string()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Node<'de>, E> {
        Ok(plain("null".to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element_seed(NodeSeed {
            depth: self.depth + 1,
            budget: &mut *self.budget,
        })? {
            items.push(n);
        }
        Ok(Node::Seq { items, line: 0 })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries = Vec::with_capacity(4);
        while let Some(text) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(NodeSeed {
                depth: self.depth + 1,
                budget: &mut *self.budget,
            })?;
            entries.push((
                Key {
                    text,
                    line: 0,
                    complex: false,
                },
                v,
            ));
        }
        Ok(Node::Map { entries, line: 0 })
    }
}

/// A mapping key, borrowed from the input when it has no escapes.
/// Keys and string values, under known keys or not, are held to the string cap: a 100 MB key
/// must not cost 100 MB (and a message quoting it).
fn bounded<E: serde::de::Error>(len: usize, what: &str) -> Result<(), E> {
    if len > CONFIG_STRING_BYTES_MAX {
        return Err(E::custom(format!(
            "a {what} of {len} bytes: keys and values are at most {CONFIG_STRING_BYTES_MAX} bytes"
        )));
    }
    Ok(())
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        bounded::<E>(v.len(), "key")?;
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        bounded::<E>(v.len(), "key")?;
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        bounded::<E>(v.len(), "key")?;
        Ok(Cow::Owned(v))
    }
}
