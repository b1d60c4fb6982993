//! Where the text of a large configuration comes from: memory, or the file itself, read a slice
//! at a time so that a 500 MB file is never resident whole.
//!
//! The parallel readers (YAML and JSON) need the file twice: once to find where to cut it (a
//! sequential scan in blocks) and once per slice to parse it. From a file, both read through
//! bounded buffers (`pread` per slice), so the resident input is the slices in flight, not the
//! file. The file is read, not mapped: a file truncated or rewritten in place while mapped would
//! kill the process (SIGBUS) or change text already checked to be UTF-8. Here such a change is
//! only a slice that no longer parses as planned, which sends the load to the whole-file path.
//!
//! Every slice handed out is UTF-8 without NUL bytes; anything else (and any read error) is
//! `None`, and the caller falls back to reading the whole file, whose path reports the problem
//! with its line.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::limits::CONFIG_PLAN_BLOCK_BYTES;

pub(crate) enum Source<'t> {
    Memory(&'t [u8]),
    /// `block`: the scan's block size in bytes (0: [`CONFIG_PLAN_BLOCK_BYTES`]).
    File {
        file: &'t File,
        len: usize,
        block: usize,
    },
}

impl<'t> Source<'t> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Source::Memory(b) => b.len(),
            Source::File { len, .. } => *len,
        }
    }

    /// Bytes `start..end`, or `None` when they cannot be read.
    pub(crate) fn bytes(&self, start: usize, end: usize) -> Option<Cow<'t, [u8]>> {
        match self {
            Source::Memory(b) => b.get(start..end).map(Cow::Borrowed),
            Source::File { file, len, .. } => {
                if start > end || end > *len {
                    return None;
                }
                let mut buf = vec![0u8; end - start];
                file.read_exact_at(&mut buf, start as u64).ok()?;
                Some(Cow::Owned(buf))
            }
        }
    }

    /// Text `start..end`: `None` when it cannot be read, is not UTF-8, or holds a NUL.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Option<Cow<'t, str>> {
        let bytes = self.bytes(start, end)?;
        if memchr::memchr(0, &bytes).is_some() {
            return None;
        }
        match bytes {
            Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Cow::Owned(b) => String::from_utf8(b).ok().map(Cow::Owned),
        }
    }

    /// The first `max` bytes (at most), cut after the last newline when the file goes on.
    pub(crate) fn prefix(&self, max: usize) -> Option<Cow<'t, str>> {
        match self {
            // In memory the whole text is as cheap as any prefix.
            Source::Memory(b) => self.slice(0, b.len()),
            Source::File { len, block, .. } => {
                let want = max.min(*len).min(block_size(*block));
                let bytes = self.bytes(0, want)?;
                let end = if want == *len {
                    want
                } else {
                    memchr::memrchr(b'\n', &bytes)? + 1
                };
                self.slice(0, end)
            }
        }
    }

    /// Calls `f(offset, bytes)` on consecutive blocks of raw bytes from `from` to the end,
    /// until `f` says stop. `false` when the file could not be read.
    pub(crate) fn for_each_chunk(
        &self,
        from: usize,
        mut f: impl FnMut(usize, &[u8]) -> bool,
    ) -> bool {
        match self {
            Source::Memory(b) => {
                if let Some(rest) = b.get(from..) {
                    f(from, rest);
                }
                true
            }
            Source::File { file, len, block } => read_blocks(file, *len, *block, from, false, f),
        }
    }

    /// Calls `f(offset, block)` on consecutive blocks of whole lines from `from` to the end
    /// (every block ends with a newline but perhaps the last), until `f` says stop. `false`
    /// when the text could not be read, is not UTF-8 or holds a NUL, or a line is longer than
    /// a block.
    pub(crate) fn for_each_block(
        &self,
        from: usize,
        mut f: impl FnMut(usize, &str) -> bool,
    ) -> bool {
        match self {
            Source::Memory(b) => match b.get(from..).map(std::str::from_utf8) {
                Some(Ok(text)) if memchr::memchr(0, text.as_bytes()).is_none() => {
                    f(from, text);
                    true
                }
                _ => false,
            },
            Source::File { file, len, block } => {
                let mut clean = true;
                let read = read_blocks(file, *len, *block, from, true, |at, bytes| {
                    match std::str::from_utf8(bytes) {
                        Ok(text) if memchr::memchr(0, bytes).is_none() => f(at, text),
                        _ => {
                            clean = false;
                            false
                        }
                    }
                });
                read && clean
            }
        }
    }
}

/// Reads `file` from `from` to `len` in blocks of `block` bytes (0: the default), calling `f`
/// on each until it says stop; with `whole_lines`, each block but the last is cut after its
/// last newline and the next starts there. `false` when a read fails, or a line is longer
/// than a block.
fn read_blocks(
    file: &File,
    len: usize,
    block: usize,
    from: usize,
    whole_lines: bool,
    mut f: impl FnMut(usize, &[u8]) -> bool,
) -> bool {
    let mut buf = vec![0u8; block_size(block)];
    let mut at = from;
    while at < len {
        let want = (len - at).min(buf.len());
        if file.read_exact_at(&mut buf[..want], at as u64).is_err() {
            return false;
        }
        let end = if !whole_lines || at + want == len {
            want
        } else {
            match memchr::memrchr(b'\n', &buf[..want]) {
                Some(i) => i + 1,
                None => return false,
            }
        };
        if !f(at, &buf[..end]) {
            return true;
        }
        at += end;
    }
    true
}

/// How a large file is read a slice at a time: its source, the loader threads and the slice
/// size. `None` when it is not worth it (one thread, fewer than two slices) or the file needs
/// the whole-file path (gzip data, a byte-order mark).
pub(crate) fn sliced<'t>(
    file: &'t File,
    len: usize,
    opts: &crate::config::LoadOptions,
) -> Option<(Source<'t>, usize, usize)> {
    let threads = opts.effective_threads();
    let chunk_bytes = if opts.chunk_bytes == 0 {
        crate::limits::CONFIG_CHUNK_BYTES
    } else {
        opts.chunk_bytes
    };
    if threads < 2 || len < 2 * chunk_bytes {
        return None;
    }
    let src = Source::File {
        file,
        len,
        block: opts.block_bytes,
    };
    let magic = src.bytes(0, 3.min(len))?;
    if magic.starts_with(b"\xef\xbb\xbf") || magic.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    Some((src, threads, chunk_bytes))
}

fn block_size(block: usize) -> usize {
    if block == 0 {
        CONFIG_PLAN_BLOCK_BYTES
    } else {
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(text: &[u8]) -> File {
        let mut f = tempfile_in_target();
        f.write_all(text).unwrap();
        f
    }

    fn tempfile_in_target() -> File {
        let path = std::env::temp_dir().join(format!(
            "cpra-source-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }

    #[test]
    fn blocks_are_whole_lines_and_cover_the_text_once() {
        let mut text = String::new();
        for i in 0..800_000 {
            text.push_str(&format!("line {i} ü\n"));
        }
        text.push_str("no newline at the end");
        let f = file_with(text.as_bytes());
        let src = Source::File {
            file: &f,
            len: text.len(),
            block: 0,
        };
        let mut seen = String::new();
        let mut blocks = 0;
        assert!(src.for_each_block(5, |off, b| {
            assert_eq!(off, 5 + seen.len());
            if off + b.len() < text.len() {
                assert!(b.ends_with('\n'));
            }
            seen.push_str(b);
            blocks += 1;
            true
        }));
        assert_eq!(seen, text[5..]);
        assert!(blocks > 1, "the text spans several blocks");
        assert_eq!(src.slice(0, 7).as_deref(), Some("line 0 "));
        assert_eq!(src.slice(0, 8), None, "cut inside ü: not UTF-8");
        assert!(src.slice(0, text.len() + 1).is_none());
        let p = src.prefix(100).unwrap();
        assert!(p.ends_with('\n') && p.len() <= 100);
    }

    #[test]
    fn a_nul_or_bad_utf8_stops_the_scan() {
        for bad in [&b"a\nb\0c\n"[..], &b"a\n\xff\n"[..]] {
            let f = file_with(bad);
            let src = Source::File {
                file: &f,
                len: bad.len(),
                block: 0,
            };
            assert!(!src.for_each_block(0, |_, _| true));
            assert!(!Source::Memory(bad).for_each_block(0, |_, _| true));
        }
    }
}
