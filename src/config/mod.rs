//! Configuration: reading a monitors file (YAML or JSON, optionally gzip) into validated
//! [`model::MonitorSpec`]s, streamed to a sink one at a time.
//!
//! The pipeline is: bytes → (gunzip) → format reader ([`yaml`] or [`json`], each producing one
//! [`node::Node`] tree per element of `monitors`) → [`lower`] (types, defaults, validation,
//! `${VAR}` substitution; all errors located) → [`support`] (features this build cannot run
//! yet) → the collector below (duplicate names, error cap, all-or-nothing delivery) → sink.
//! The whole file is never a tree: a million monitors load in bounded extra memory. The rules
//! themselves are written down for operators in `docs/config.md`.

pub mod model;

pub mod dns;
mod duration;
mod env;
mod error;
mod json;
mod lower;
mod node;
mod slices;
mod source;
pub mod support;
mod text;
mod yaml;
mod yaml_fast;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::Path;

pub use duration::parse_go_duration;
pub use env::Env;
pub use error::{ConfigError, LoadErrors};
pub(crate) use text::parse_http_url;

use crate::limits::{
    CONFIG_ERRORS_MAX, CONFIG_FILE_BYTES_MAX, CONFIG_GZIP_RATIO_MAX, CONFIG_LOAD_THREADS_MAX,
    CONFIG_WARNINGS_MAX,
};
use lower::Item;
use model::MonitorSpec;

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Unknown keys are errors instead of warnings (`--strict`).
    pub strict: bool,
    /// Accept features this build parses but cannot run yet (see [`support`]). For tests of
    /// the parser; the engine must never load with this set.
    pub allow_unsupported: bool,
    /// Where `${NAME}` values come from; default the process environment.
    pub env: Env,
    /// Loader threads for large YAML files: 0 = one per core (capped), 1 = sequential.
    pub threads: usize,
    /// Slice size for the parallel YAML reader, in bytes; 0 = the default. For tests.
    #[doc(hidden)]
    pub chunk_bytes: usize,
    /// Block size for scanning a large file read a slice at a time, in bytes; 0 = the default.
    /// For tests.
    #[doc(hidden)]
    pub block_bytes: usize,
    /// Fail instead of falling back to the sequential YAML reader. For tests of the parallel one.
    #[doc(hidden)]
    pub forbid_fallback: bool,
}

impl LoadOptions {
    fn effective_threads(&self) -> usize {
        let t = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            self.threads
        };
        t.clamp(1, CONFIG_LOAD_THREADS_MAX)
    }
}

/// What a successful load found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Monitors delivered to the sink.
    pub monitors: usize,
    /// Warnings (unknown keys, ignored documents), located like errors. When there are more
    /// than [`CONFIG_WARNINGS_MAX`], the last entry says how many were left out.
    pub warnings: Vec<ConfigError>,
    /// The top-level `alerting:` block, or its defaults.
    pub alerting: model::AlertingSpec,
    /// The top-level `remediation:` block, or its defaults.
    pub remediation: model::RemediationSpec,
}

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// From the file name: `.json` / `.json.gz` is JSON, anything else YAML. The second value
    /// says whether the name ends in `.gz`.
    pub fn from_path(path: &Path) -> (Format, bool) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let gz = name.ends_with(".gz");
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        let format = if base.ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        };
        (format, gz)
    }
}

/// Loads `path` (format and gzip from its name), streaming monitors to `sink` in file order.
///
/// All-or-nothing: when this returns `Err`, the caller must discard whatever the sink
/// received. Every error is reported (up to [`CONFIG_ERRORS_MAX`]).
pub fn load_file(
    path: &Path,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(MonitorSpec),
) -> Result<LoadReport, LoadErrors> {
    let shown = path.display();
    let fail = |msg: String| LoadErrors::one(ConfigError::file("", None, msg));
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    if meta.len() > CONFIG_FILE_BYTES_MAX {
        return Err(fail(format!(
            "{shown} is {} bytes; the limit is {CONFIG_FILE_BYTES_MAX}",
            meta.len()
        )));
    }
    let (format, gz) = Format::from_path(path);
    let mut col = Collector::new(sink, opts.strict);
    if !gz {
        // A large file is read a slice at a time when its shape allows (never whole).
        let file =
            std::fs::File::open(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
        let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        let sliced = match format {
            Format::Yaml => yaml::load_sliced(&file, len, opts, &mut col),
            Format::Json => json::load_sliced(&file, len, opts, &mut col),
        };
        if let Some(res) = sliced {
            if let Err(e) = res {
                col.issue(true, e);
            }
            return col.finish();
        }
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    if gz && !is_gzip(&bytes) {
        return Err(fail(format!("{shown} ends in .gz but is not gzip data")));
    }
    load_into(&bytes, format, opts, &mut col);
    col.finish()
}

/// Loads a configuration held in memory. Gzip data (by its magic bytes) is decompressed first.
/// Same contract as [`load_file`].
pub fn load_bytes(
    bytes: &[u8],
    format: Format,
    opts: &LoadOptions,
    sink: &mut dyn FnMut(MonitorSpec),
) -> Result<LoadReport, LoadErrors> {
    let mut col = Collector::new(sink, opts.strict);
    load_into(bytes, format, opts, &mut col);
    col.finish()
}

fn load_into(bytes: &[u8], format: Format, opts: &LoadOptions, col: &mut Collector<'_>) {
    if is_gzip(bytes) {
        match gunzip(bytes) {
            Ok(plain) => load_plain(&plain, format, opts, col),
            Err(m) => col.issue(true, ConfigError::file("", None, m)),
        }
        return;
    }
    load_plain(bytes, format, opts, col);
}

/// Loads `path` into a `Vec` (convenience for tests and `cpra check`).
pub fn load_all(
    path: &Path,
    opts: &LoadOptions,
) -> Result<(Vec<MonitorSpec>, LoadReport), LoadErrors> {
    let mut specs = Vec::new();
    let report = load_file(path, opts, &mut |s| specs.push(s))?;
    Ok((specs, report))
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Gunzips, stopping at the size limit or at [`CONFIG_GZIP_RATIO_MAX`] times the compressed
/// size (plus 64 MiB), whichever is lower: a few MB of gzip must not become gigabytes resident
/// before the load can refuse it.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let cap = (bytes.len() as u64)
        .saturating_mul(CONFIG_GZIP_RATIO_MAX)
        .saturating_add(64 << 20)
        .min(CONFIG_FILE_BYTES_MAX);
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
    let mut dec = flate2::read::MultiGzDecoder::new(bytes).take(cap + 1);
    dec.read_to_end(&mut out).map_err(|e| {
        format!("cannot decompress the gzip data: {e} (truncated or corrupt file?)")
    })?;
    if out.len() as u64 > cap {
        return Err(format!(
            "decompressed configuration is larger than {cap} bytes ({} compressed; at most {CONFIG_GZIP_RATIO_MAX} times that plus 64 MiB, and {CONFIG_FILE_BYTES_MAX} bytes, are read): a gzip bomb or a wrong file",
            bytes.len()
        ));
    }
    Ok(out)
}

fn load_plain(bytes: &[u8], format: Format, opts: &LoadOptions, col: &mut Collector<'_>) {
    if bytes.len() as u64 > CONFIG_FILE_BYTES_MAX {
        col.issue(
            true,
            ConfigError::file(
                "",
                None,
                format!("configuration is larger than {CONFIG_FILE_BYTES_MAX} bytes"),
            ),
        );
        return;
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // The Go original loads an empty file as no monitors; so does cpra, saying so.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        col.issue(
            opts.strict,
            ConfigError::file("", None, "the file is empty: no monitors to run"),
        );
        return;
    }

    let fatal = match format {
        Format::Yaml => match std::str::from_utf8(bytes) {
            // The YAML parser takes a NUL for the end of the text and would silently drop the
            // rest: refuse it at its line.
            Ok(text) => match memchr::memchr(0, bytes) {
                Some(at) => {
                    let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                    Some(ConfigError::file(
                        "",
                        Some(u32::try_from(line).unwrap_or(u32::MAX)),
                        format!(
                            "a NUL byte at byte {at}: a YAML file cannot contain one (a corrupted or binary file?); nothing after it would load"
                        ),
                    ))
                }
                None => yaml::load(text, opts, col).err(),
            },
            Err(e) => {
                let at = e.valid_up_to();
                let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                let msg = if bytes[..at.min(512)].contains(&0) || at < 16 {
                    "this is not a text file (invalid UTF-8 at the start): expected YAML"
                        .to_string()
                } else {
                    format!("invalid UTF-8 at byte {at}: the file must be UTF-8 text")
                };
                Some(ConfigError::file(
                    "",
                    Some(u32::try_from(line).unwrap_or(u32::MAX)),
                    msg,
                ))
            }
        },
        Format::Json => json::load(bytes, opts, col).err(),
    };
    if let Some(e) = fatal {
        col.issue(true, e);
    }
}

/// Collects lowered monitors in file order: error cap, duplicate names, delivery to the sink
/// (stopped at the first error: the load will fail anyway).
pub(crate) struct Collector<'s> {
    sink: &'s mut dyn FnMut(MonitorSpec),
    errors: Vec<ConfigError>,
    more_errors: usize,
    warnings: Vec<ConfigError>,
    more_warnings: usize,
    /// Names seen so far, with the index and line of their first monitor.
    names: NameSet,
    monitors: usize,
    /// Monitors below this index were delivered before a restart.
    skip_below: usize,
    /// Monitors delivered so far (always a prefix of the file).
    delivered: usize,
    alerting: Option<model::AlertingSpec>,
    remediation: Option<model::RemediationSpec>,
    /// Duplicate names are errors (`--strict`), else renamed with a warning.
    strict: bool,
}

impl<'s> Collector<'s> {
    fn new(sink: &'s mut dyn FnMut(MonitorSpec), strict: bool) -> Self {
        Collector {
            sink,
            strict,
            errors: Vec::new(),
            more_errors: 0,
            warnings: Vec::new(),
            more_warnings: 0,
            names: NameSet::default(),
            monitors: 0,
            skip_below: 0,
            delivered: 0,
            alerting: None,
            remediation: None,
        }
    }

    /// Takes the `remediation:` block, when a reader found one.
    pub(crate) fn remediation(&mut self, r: Option<model::RemediationSpec>) {
        if r.is_some() {
            self.remediation = r;
        }
    }

    /// Takes the `alerting:` block, when a reader found one.
    pub(crate) fn alerting(&mut self, a: Option<model::AlertingSpec>) {
        if a.is_some() {
            self.alerting = a;
        }
    }

    fn failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Records a problem (`is_error`: error, else warning).
    pub(crate) fn issue(&mut self, is_error: bool, e: ConfigError) {
        if is_error {
            if self.errors.len() < CONFIG_ERRORS_MAX {
                self.errors.push(e);
            } else {
                self.more_errors += 1;
            }
        } else if self.warnings.len() < CONFIG_WARNINGS_MAX {
            self.warnings.push(e);
        } else {
            self.more_warnings += 1;
        }
    }

    /// Takes the next monitor (in file order).
    pub(crate) fn item(&mut self, item: Item) {
        debug_assert_eq!(
            item.index, self.monitors,
            "monitors must arrive in file order"
        );
        self.monitors += 1;
        for e in item.errors {
            self.issue(true, e);
        }
        for w in item.warnings {
            self.issue(false, w);
        }
        let name = item
            .name
            .as_deref()
            .or(item.spec.as_ref().map(|s| s.name.as_str()));
        let mut unique = true;
        let mut renamed = None;
        if let Some(name) = name
            && let Some((first, first_line)) = self.names.insert(name, item.index, item.name_line)
        {
            let shown = item.label.clone().unwrap_or_else(|| name.to_string());
            let also = if first_line > 0 {
                format!("monitors[{first}] (line {first_line})")
            } else {
                format!("monitors[{first}]")
            };
            let (is_error, message) = if self.strict {
                unique = false;
                (
                    true,
                    format!(
                        "duplicate name {shown:?}: {also} has the same name; names must be unique"
                    ),
                )
            } else {
                // The Go original loads duplicates; each needs its own name here (API,
                // snapshot, codes), so the later one gets the first free `#N` suffix.
                let new = self.free_name(name, item.index, item.name_line);
                let message = format!(
                    "duplicate name {shown:?} ({also} has it): this one is renamed {new:?}"
                );
                renamed = Some(new);
                (false, message)
            };
            let e = ConfigError {
                index: Some(item.index),
                name: Some(shown.clone()),
                path: format!("monitors[{}].name", item.index),
                line: (item.name_line > 0).then_some(item.name_line),
                message,
            };
            self.issue(is_error, e);
        }
        if let Some(mut spec) = item.spec
            && unique
            && !self.failed()
        {
            if let Some(new) = renamed {
                spec.name = new;
            }
            if item.index >= self.skip_below {
                (self.sink)(spec);
            }
            self.delivered = item.index + 1;
        }
    }

    /// `name#2`, `name#3`, ...: the first not yet taken, now taken. Stable for a given file:
    /// it depends only on the names before it.
    fn free_name(&mut self, name: &str, index: usize, line: u32) -> String {
        let mut n = 2u64;
        loop {
            let candidate = format!("{name}#{n}");
            if self.names.insert(&candidate, index, line).is_none() {
                return candidate;
            }
            n += 1;
        }
    }

    /// Forgets everything but what the sink already received, for a fresh sequential pass.
    pub(crate) fn restart(&mut self) {
        self.errors.clear();
        self.more_errors = 0;
        self.warnings.clear();
        self.more_warnings = 0;
        self.names = NameSet::default();
        self.monitors = 0;
        self.skip_below = self.skip_below.max(self.delivered);
        self.delivered = 0;
    }

    fn finish(mut self) -> Result<LoadReport, LoadErrors> {
        if self.more_warnings > 0 {
            self.warnings.push(ConfigError::file(
                "",
                None,
                format!("... and {} more warnings", self.more_warnings),
            ));
        }
        if self.failed() {
            return Err(LoadErrors {
                errors: self.errors,
                more: self.more_errors,
                warnings: self.warnings,
            });
        }
        Ok(LoadReport {
            monitors: self.monitors,
            warnings: self.warnings,
            alerting: self.alerting.unwrap_or_default(),
            remediation: self.remediation.unwrap_or_default(),
        })
    }
}

/// The set of monitor names, for duplicate detection over a million monitors: names are copied
/// into one arena string and indexed by a 64-bit hash, so there is no allocation per name.
#[derive(Default)]
struct NameSet {
    arena: String,
    entries: Vec<NameEntry>,
    /// Hash → first entry with that hash (further ones chained through `next`).
    by_hash: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
}

struct NameEntry {
    start: usize,
    len: u32,
    line: u32,
    index: usize,
    next: u32,
}

const NO_ENTRY: u32 = u32::MAX;

impl NameSet {
    /// Adds `name`; when it is already present, returns the index and line of the first one.
    fn insert(&mut self, name: &str, index: usize, line: u32) -> Option<(usize, u32)> {
        let h = hash_name(name.as_bytes());
        let new_id = u32::try_from(self.entries.len()).unwrap_or(NO_ENTRY);
        let mut next = NO_ENTRY;
        if let Some(&head) = self.by_hash.get(&h) {
            let mut at = head;
            while at != NO_ENTRY {
                let e = &self.entries[at as usize];
                if &self.arena[e.start..e.start + e.len as usize] == name {
                    return Some((e.index, e.line));
                }
                at = e.next;
            }
            next = head;
        }
        self.entries.push(NameEntry {
            start: self.arena.len(),
            len: u32::try_from(name.len()).unwrap_or(u32::MAX),
            line,
            index,
            next,
        });
        self.arena.push_str(name);
        self.by_hash.insert(h, new_id);
        None
    }
}

/// 64-bit hash of a name: multiply-xor over 8-byte words, then the murmur3 finaliser.
fn hash_name(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let mut w = [0u8; 8];
    w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The keys of [`NameSet::by_hash`] are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn name_set_finds_duplicates_only() {
        let mut s = NameSet::default();
        assert_eq!(s.insert("a", 0, 3), None);
        assert_eq!(s.insert("b", 1, 9), None);
        assert_eq!(s.insert("a", 2, 15), Some((0, 3)));
        for i in 0..10_000 {
            assert_eq!(s.insert(&format!("mon-{i}"), i + 3, 0), None);
        }
        assert_eq!(s.insert("mon-77", 1, 0), Some((80, 0)));
        assert_ne!(hash_name(b"abcdefgh1"), hash_name(b"abcdefgh2"));
    }

    #[test]
    fn format_from_path() {
        let f = |p: &str| Format::from_path(Path::new(p));
        assert_eq!(f("m.yaml"), (Format::Yaml, false));
        assert_eq!(f("m.yml.gz"), (Format::Yaml, true));
        assert_eq!(f("m.json"), (Format::Json, false));
        assert_eq!(f("M.JSON.GZ"), (Format::Json, true));
        assert_eq!(f("monitors"), (Format::Yaml, false));
    }
}
