//! The durable outbox: alert codes on their way to notifiers, on disk before they count as sent.
//!
//! # What it owns
//! One directory, used by nothing else (created with mode 0700): the segment files
//! `seg-<first seq, 20 digits>.log`, the ack log `acks.log` and, for a moment during a
//! compaction, `acks.log.tmp`. Any other file in it is ignored. Payloads are opaque bytes.
//!
//! # File format (little-endian)
//! - Segment record: `magic u32 | payload len u32 | crc32 u32 | seq u64 | key u64 | payload`,
//!   28 bytes of header; the crc (crc32fast) covers seq, key and payload. Records go in seq order.
//!   A segment's name is the first seq it may hold; it holds no seq at or above the next
//!   segment's name. A segment is rolled when the next batch would take it past
//!   `Limits::segment_bytes` (so one larger batch still fits in one segment).
//! - Ack log frame: `magic u32 | crc32(seq) u32 | seq u64`, 16 bytes, one per acknowledged seq.
//!
//! # Why this shape
//! Append-only segments make an append one write(2) and one fdatasync per batch, and free space
//! by deleting whole files, never by rewriting records. Acks go to their own log so that an ack
//! never touches a segment; that log is rewritten (compacted) with only the acks of live
//! segments at every open and whenever it has grown to twice that, so its size stays
//! proportional to the live data. In memory each live segment keeps one `u32` per seq, the
//! record's size or 0 once acknowledged (or never stored): `pending` is O(1), an ack is a binary
//! search and a store, and a fully acknowledged segment is dropped whole. `open` replaces a
//! fully acknowledged newest segment by an empty one named after the next seq.
//!
//! `Limits::total_bytes_max` bounds live record bytes (what `pending` reports), not the disk: a
//! segment stays on disk whole while any of its records is unacknowledged, so each code stuck
//! behind a dead receiver can keep up to `segment_bytes` of disk.
//!
//! # Crash rules (kill -9 at any moment; at least once: duplicates allowed, loss never)
//! - A batch counts once `append` returned: its bytes, and the directory entry of a segment it
//!   created, are fsynced before. A batch cut by a crash leaves a torn tail in the newest segment,
//!   which `open` reports and cuts off; its seqs were never handed out, so they may be reused.
//! - Acks are written (write(2)) before `ack` returns but fsynced only by `sync` and by a
//!   compaction: a lost ack means a duplicate delivery.
//! - Seqs never go back: after `open` the next seq is above every seq in a record or an ack, and
//!   at least the newest segment's name. The newest (active) segment is never deleted, and an
//!   older one only once the name of a newer one is fsynced, so a name keeps that floor even
//!   when everything was acknowledged.
//! - A compaction fsyncs the directory (so deleted segments stay deleted), writes the new log to
//!   a temporary file, fsyncs it, renames it over the old one and fsyncs the directory: either
//!   log is complete, and no segment can come back without its acks.
//! - Recovery never panics on file content: a bad record in the middle of a segment is skipped
//!   up to the next offset whose magic and crc check out; a bad or truncated tail of the newest
//!   segment is cut off so appends continue cleanly; bad ack frames are skipped (a duplicate
//!   delivery at worst). Each is reported as one line in [`Recovered::problems`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

/// Largest payload of one record, in bytes; a longer length field on disk is corruption.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 1 << 20;
const RECORD_HEADER_BYTES: usize = 28;
const RECORD_MAGIC: u32 = 0x5842_4f43;
const ACK_FRAME_BYTES: usize = 16;
const ACK_MAGIC: u32 = 0x4b43_414f;
/// The ack log is compacted only past this many frames (16 bytes each), so that a small
/// outbox does not pay two fsyncs for every few acks.
const ACK_LOG_COMPACT_FRAMES_MIN: u64 = 65_536;
/// How much of a file recovery reads at once, in bytes (more only for one longer record).
const READ_CHUNK_BYTES: usize = 256 << 10;
const SEQ_FIRST: u64 = 1;
const ACK_LOG_NAME: &str = "acks.log";
const ACK_LOG_TMP_NAME: &str = "acks.log.tmp";
const SEGMENT_PREFIX: &str = "seg-";
const SEGMENT_SUFFIX: &str = ".log";
const SEGMENT_NAME_DIGITS: usize = 20;

/// One stored code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub key: u64,
    pub payload: Vec<u8>,
}

/// What `open` found.
pub struct Recovered {
    /// Appended and never acknowledged, in seq order.
    pub pending: Vec<Record>,
    /// Human-readable problems found and skipped (corrupt record, torn tail, unreadable
    /// segment), one line each, never containing payload bytes.
    pub problems: Vec<String>,
}

/// Sizes the outbox keeps to.
pub struct Limits {
    /// A segment is rolled when the next batch would take it past this many bytes.
    pub segment_bytes: u64,
    /// Live (unacknowledged) record bytes, headers included, that `append` never goes past.
    pub total_bytes_max: u64,
}

#[derive(Debug)]
pub enum AppendError {
    /// Not even the first record of the batch fits; nothing was stored.
    Full { pending_bytes: u64 },
    /// Nothing of the batch counts as stored (its seqs are not reused).
    Io(io::Error),
}

impl From<io::Error> for AppendError {
    fn from(e: io::Error) -> Self {
        AppendError::Io(e)
    }
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::Full { pending_bytes } => {
                write!(f, "outbox full ({pending_bytes} bytes pending)")
            }
            AppendError::Io(e) => write!(f, "outbox write failed: {e}"),
        }
    }
}

impl std::error::Error for AppendError {}

/// The outbox of one directory; one owner (the hub thread) calls it.
pub struct Outbox {
    dir: PathBuf,
    limits: Limits,
    /// Sorted by first seq; the last one is the active segment, appended to, never deleted.
    segments: Vec<Segment>,
    active: File,
    active_len: u64,
    /// A failed write may have left bytes behind: the next batch starts a new segment.
    roll_next: bool,
    /// A new segment's directory entry is not fsynced yet.
    dir_entry_unsynced: bool,
    next_seq: u64,
    live_records: u64,
    live_bytes: u64,
    acks: File,
    ack_frames: u64,
    ack_compact_frames_min: u64,
    buf: Vec<u8>,
}

/// A live segment: for each seq from `first`, the record's size in bytes, 0 once acknowledged
/// or when no record of that seq is stored.
struct Segment {
    first: u64,
    sizes: Vec<u32>,
    live: u64,
}

impl Segment {
    fn new(first: u64) -> Segment {
        Segment {
            first,
            sizes: Vec::new(),
            live: 0,
        }
    }

    fn end(&self) -> u64 {
        self.first.saturating_add(self.sizes.len() as u64)
    }

    fn acked(&self) -> u64 {
        self.sizes.len() as u64 - self.live
    }
}

impl Outbox {
    /// Opens (creating if needed) the outbox in `dir` (a directory it owns alone: created with
    /// mode 0700 if missing). Fails only when the directory cannot be used (created, listed,
    /// written); what is wrong inside files is reported in [`Recovered::problems`].
    pub fn open(dir: &Path, limits: Limits) -> io::Result<(Outbox, Recovered)> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // Left by a compaction cut short; the log it was to replace is still in place.
        let _ = fs::remove_file(dir.join(ACK_LOG_TMP_NAME));
        let mut problems = Vec::new();
        let names = list_segments(dir, &mut problems)?;
        let acked = read_ack_log(&dir.join(ACK_LOG_NAME), !names.is_empty(), &mut problems);
        let mut found = load_segments(dir, &names, &acked, &mut problems);
        let (active, active_len) = open_active(dir, &mut found, names.last().copied())?;
        let mut outbox = Outbox {
            dir: dir.to_path_buf(),
            limits,
            live_records: found.segments.iter().map(|s| s.live).sum(),
            live_bytes: found
                .segments
                .iter()
                .flat_map(|s| &s.sizes)
                .map(|&b| u64::from(b))
                .sum(),
            segments: found.segments,
            active,
            active_len,
            roll_next: false,
            dir_entry_unsynced: false,
            next_seq: found.next_seq,
            acks: open_append(&dir.join(ACK_LOG_NAME))?,
            ack_frames: 0,
            ack_compact_frames_min: ACK_LOG_COMPACT_FRAMES_MIN,
            buf: Vec::new(),
        };
        if let Err(e) = outbox.drop_done_segments() {
            problems.push(format!(
                "cannot delete a fully acknowledged segment ({e}): kept"
            ));
        }
        outbox.rewrite_ack_log()?;
        let recovered = Recovered {
            pending: found.pending,
            problems,
        };
        Ok((outbox, recovered))
    }

    /// Appends a batch: one write(2) to the active segment, then one fdatasync (and, when the
    /// batch started a new segment, one fsync of the directory) before returning.
    ///
    /// `Ok(seqs)`: `seqs[i]` is the seq of `batch[i]`; seqs are consecutive and above every seq
    /// handed out before, also across restarts. `seqs` is shorter than `batch` when the outbox
    /// filled: the longest prefix of `batch` that keeps the live bytes within
    /// `Limits::total_bytes_max` was stored, the rest was not. An empty batch gives `Ok(vec![])`.
    ///
    /// `Err(Full)`: not even `batch[0]` fits; nothing was stored. `Err(Io)`: nothing counts as
    /// stored (a payload over [`RECORD_PAYLOAD_BYTES_MAX`] is `InvalidInput`, checked before
    /// anything is written); after a failed write the next batch goes to a new segment.
    pub fn append(&mut self, batch: &[(u64, &[u8])]) -> Result<Vec<u64>, AppendError> {
        if let Some((_, p)) = batch
            .iter()
            .find(|(_, p)| p.len() > RECORD_PAYLOAD_BYTES_MAX)
        {
            let why = format!(
                "a payload of {} bytes is over the {RECORD_PAYLOAD_BYTES_MAX}-byte limit",
                p.len()
            );
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why).into());
        }
        let fit = self.fitting(batch);
        if fit == 0 {
            return match batch.is_empty() {
                true => Ok(Vec::new()),
                false => Err(AppendError::Full {
                    pending_bytes: self.live_bytes,
                }),
            };
        }
        let batch = &batch[..fit];
        let first = self.next_seq;
        let end = first
            .checked_add(fit as u64)
            .ok_or_else(|| io::Error::other("outbox sequence numbers exhausted"))?;
        encode_batch(&mut self.buf, batch, first);
        let grown = self.active_len.saturating_add(self.buf.len() as u64);
        let roll = self.roll_next || (self.active_len > 0 && grown > self.limits.segment_bytes);
        if roll {
            self.roll()?;
        }
        // Spent even if the write fails: its bytes may still reach the disk.
        self.next_seq = end;
        if let Err(e) = self.write_buf() {
            self.roll_next = true;
            let _ = self.active.set_len(self.active_len);
            return Err(e.into());
        }
        self.active_len += self.buf.len() as u64;
        self.admit_batch(batch, first);
        if roll {
            // Only now is the new segment's name durable, keeping the seq floor without the old
            // one. A failure to delete is met again, and reported, by the next ack.
            let _ = self.drop_done_segments();
        }
        Ok((first..end).collect())
    }

    /// Marks seqs done (any order; duplicates and unknown seqs are ignored). The acks are
    /// written (write(2), not fsynced) before returning. Segments other than the active one
    /// whose records are all acknowledged are deleted; the ack log is compacted when it has
    /// grown past twice the acks it must keep. An error leaves the acks done in memory: at
    /// worst they are delivered again after a restart.
    pub fn ack(&mut self, seqs: &[u64]) -> io::Result<()> {
        self.buf.clear();
        for &seq in seqs {
            if self.take(seq) {
                self.buf.extend_from_slice(&ack_frame(seq));
            }
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.ack_frames += (self.buf.len() / ACK_FRAME_BYTES) as u64;
        let written = self.acks.write_all(&self.buf);
        let dropped = self.drop_done_segments();
        written?;
        dropped?;
        if self.ack_log_oversized() {
            self.rewrite_ack_log()?;
        }
        Ok(())
    }

    /// Unacknowledged records and their bytes (headers included), O(1).
    pub fn pending(&self) -> (u64, u64) {
        (self.live_records, self.live_bytes)
    }

    /// fsyncs everything (clean shutdown): the active segment, the ack log, the directory.
    pub fn sync(&mut self) -> io::Result<()> {
        self.active.sync_data()?;
        self.acks.sync_data()?;
        sync_dir(&self.dir)
    }

    /// How many records of the batch, from the front, fit under `total_bytes_max`.
    fn fitting(&self, batch: &[(u64, &[u8])]) -> usize {
        let mut bytes = self.live_bytes;
        batch
            .iter()
            .take_while(|(_, p)| {
                bytes = bytes.saturating_add((RECORD_HEADER_BYTES + p.len()) as u64);
                bytes <= self.limits.total_bytes_max
            })
            .count()
    }

    fn roll(&mut self) -> io::Result<()> {
        let first = self.next_seq;
        self.active = create_segment(&self.dir, first)?;
        self.active_len = 0;
        self.roll_next = false;
        self.dir_entry_unsynced = true;
        self.segments.push(Segment::new(first));
        Ok(())
    }

    fn write_buf(&mut self) -> io::Result<()> {
        self.active.write_all(&self.buf)?;
        self.active.sync_data()?;
        if self.dir_entry_unsynced {
            sync_dir(&self.dir)?;
            self.dir_entry_unsynced = false;
        }
        Ok(())
    }

    fn admit_batch(&mut self, batch: &[(u64, &[u8])], first: u64) {
        let Some(seg) = self.segments.last_mut() else {
            return;
        };
        seg.sizes.resize((first - seg.first) as usize, 0);
        for (_, p) in batch {
            let size = (RECORD_HEADER_BYTES + p.len()) as u32;
            seg.sizes.push(size);
            seg.live += 1;
            self.live_bytes += u64::from(size);
        }
        self.live_records += batch.len() as u64;
    }

    /// Marks one seq acknowledged; false if it was not live.
    fn take(&mut self, seq: u64) -> bool {
        let at = self.segments.partition_point(|s| s.first <= seq);
        let Some(seg) = at.checked_sub(1).and_then(|i| self.segments.get_mut(i)) else {
            return false;
        };
        let index = usize::try_from(seq - seg.first).unwrap_or(usize::MAX);
        let Some(size) = seg.sizes.get_mut(index) else {
            return false;
        };
        if *size == 0 {
            return false;
        }
        self.live_bytes -= u64::from(*size);
        *size = 0;
        seg.live -= 1;
        self.live_records -= 1;
        true
    }

    /// Deletes every segment but the active one that has no live record. One that cannot be
    /// deleted is kept (and so are its acks), and the first error is returned.
    fn drop_done_segments(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        let mut i = 0;
        while i + 1 < self.segments.len() {
            if self.segments[i].live > 0 {
                i += 1;
                continue;
            }
            match fs::remove_file(segment_path(&self.dir, self.segments[i].first)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    result = result.and(Err(e));
                    i += 1;
                }
                _ => {
                    self.segments.remove(i);
                }
            }
        }
        result
    }

    fn ack_log_oversized(&self) -> bool {
        let kept: u64 = self.segments.iter().map(Segment::acked).sum();
        self.ack_frames >= self.ack_compact_frames_min && self.ack_frames >= 2 * kept
    }

    /// Rewrites the ack log with the acks of live segments only (see the crash rules).
    fn rewrite_ack_log(&mut self) -> io::Result<()> {
        // Deleted segments must stay deleted before their acks leave the log.
        sync_dir(&self.dir)?;
        let tmp = self.dir.join(ACK_LOG_TMP_NAME);
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        let mut frames = 0;
        for seg in &self.segments {
            let acked = seg.sizes.iter().enumerate().filter(|(_, s)| **s == 0);
            for (i, _) in acked {
                out.write_all(&ack_frame(seg.first + i as u64))?;
                frames += 1;
            }
        }
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_data()?;
        let path = self.dir.join(ACK_LOG_NAME);
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.acks = open_append(&path)?;
        self.ack_frames = frames;
        Ok(())
    }
}

fn encode_batch(buf: &mut Vec<u8>, batch: &[(u64, &[u8])], first: u64) {
    buf.clear();
    for (seq, (key, payload)) in (first..).zip(batch) {
        let start = buf.len();
        buf.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&key.to_le_bytes());
        buf.extend_from_slice(payload);
        let crc = crc32fast::hash(&buf[start + 12..]);
        buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    }
}

fn ack_frame(seq: u64) -> [u8; ACK_FRAME_BYTES] {
    let mut frame = [0; ACK_FRAME_BYTES];
    frame[0..4].copy_from_slice(&ACK_MAGIC.to_le_bytes());
    frame[4..8].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    frame[8..16].copy_from_slice(&seq.to_le_bytes());
    frame
}

/// The seq of a good ack frame (`frame` is `ACK_FRAME_BYTES` long).
fn ack_seq(frame: &[u8]) -> Option<u64> {
    let seq = le_u64(frame, 8);
    let good = le_u32(frame, 0) == ACK_MAGIC && le_u32(frame, 4) == crc32fast::hash(&frame[8..]);
    good.then_some(seq)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn segment_name(first: u64) -> String {
    format!(
        "{SEGMENT_PREFIX}{first:0w$}{SEGMENT_SUFFIX}",
        w = SEGMENT_NAME_DIGITS
    )
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(segment_name(first))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    let well_formed =
        digits.len() == SEGMENT_NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| digits.parse().ok()).flatten()
}

fn create_segment(dir: &Path, first: u64) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(segment_path(dir, first))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// First seqs of the segment files in `dir`, sorted; other files are ignored.
fn list_segments(dir: &Path, problems: &mut Vec<String>) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for entry in fs::read_dir(dir)? {
        match entry {
            Ok(e) => firsts.extend(e.file_name().to_str().and_then(parse_segment_name)),
            Err(e) => problems.push(format!("cannot read an outbox directory entry ({e})")),
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Acknowledged seqs, sorted and deduplicated. Anything wrong only loses acks (duplicates).
fn read_ack_log(path: &Path, expected: bool, problems: &mut Vec<String>) -> Vec<u64> {
    let mut acked = Vec::new();
    let lost = "the codes it acknowledged may be delivered again";
    match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if expected {
                problems.push(format!("{ACK_LOG_NAME} is missing: {lost}"));
            }
        }
        Err(e) => problems.push(format!("{ACK_LOG_NAME} is unreadable ({e}): {lost}")),
        Ok(file) => match scan_ack_log(file, &mut acked) {
            Ok(0) => {}
            Ok(bad) => problems.push(format!(
                "{ACK_LOG_NAME}: {bad} bytes of bad or torn entries skipped: {lost}"
            )),
            Err(e) => problems.push(format!("{ACK_LOG_NAME}: read failed ({e}): {lost}")),
        },
    }
    acked.sort_unstable();
    acked.dedup();
    acked
}

/// Collects good frames; after a bad one, looks for the next at every byte. Returns the bytes
/// skipped.
fn scan_ack_log(file: File, acked: &mut Vec<u64>) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut reader = Reader::new(file, len);
    let (mut pos, mut skipped) = (0, 0);
    while pos < len {
        let Some(frame) = reader.bytes(pos, ACK_FRAME_BYTES)? else {
            skipped += len - pos;
            break;
        };
        match ack_seq(frame) {
            Some(seq) => {
                acked.push(seq);
                pos += ACK_FRAME_BYTES as u64;
            }
            None => {
                skipped += 1;
                pos += 1;
            }
        }
    }
    Ok(skipped)
}

/// What reading the segments found.
struct Found {
    segments: Vec<Segment>,
    pending: Vec<Record>,
    next_seq: u64,
    /// The newest segment file was read and ends on a whole record: appends may continue it.
    last_reusable: bool,
}

fn load_segments(dir: &Path, names: &[u64], acked: &[u64], problems: &mut Vec<String>) -> Found {
    let after_acks = acked.last().map_or(SEQ_FIRST, |a| a.saturating_add(1));
    let mut found = Found {
        segments: Vec::new(),
        pending: Vec::new(),
        next_seq: after_acks.max(SEQ_FIRST),
        last_reusable: false,
    };
    for (i, &first) in names.iter().enumerate() {
        let bound = SeqBound {
            next_first: names.get(i + 1).copied(),
            acked,
        };
        let path = segment_path(dir, first);
        match load_segment(&path, first, &bound, &mut found.pending, problems) {
            Ok(loaded) => {
                found.next_seq = found.next_seq.max(loaded.seg.end());
                found.last_reusable = bound.next_first.is_none() && loaded.tail_ok;
                found.segments.push(loaded.seg);
            }
            Err(e) => {
                let name = segment_name(first);
                problems.push(format!(
                    "{name} is unreadable ({e}): skipped, left in place"
                ));
                found.next_seq = found.next_seq.max(unreadable_floor(&path, first));
            }
        }
    }
    found
}

/// The next seq must be above any seq an unread segment may hold: each record takes at least
/// a header's bytes.
fn unreadable_floor(path: &Path, first: u64) -> u64 {
    let len = fs::metadata(path).map_or(0, |m| m.len());
    first.saturating_add(len / RECORD_HEADER_BYTES as u64 + 1)
}

/// Continues the newest segment when it ends cleanly and holds live records (or none at all);
/// otherwise starts a new one at the next seq.
fn open_active(dir: &Path, found: &mut Found, newest: Option<u64>) -> io::Result<(File, u64)> {
    let continues = found.segments.last().filter(|s| {
        found.last_reusable && s.end() == found.next_seq && (s.live > 0 || s.sizes.is_empty())
    });
    if let Some(seg) = continues {
        let file = open_append(&segment_path(dir, seg.first))?;
        let len = file.metadata()?.len();
        return Ok((file, len));
    }
    if newest == Some(found.next_seq) {
        // The newest file holds that name but cannot be continued: skip a seq.
        found.next_seq = found.next_seq.saturating_add(1);
    }
    let file = create_segment(dir, found.next_seq)?;
    sync_dir(dir)?;
    found.segments.push(Segment::new(found.next_seq));
    Ok((file, 0))
}

/// Which seqs a segment may hold, and which are acknowledged.
struct SeqBound<'a> {
    next_first: Option<u64>,
    acked: &'a [u64],
}

struct Loaded {
    seg: Segment,
    /// The file ends on a whole record (possibly after its bad tail was cut off).
    tail_ok: bool,
}

/// Reads one segment record by record, adding its unacknowledged records to `pending`.
fn load_segment(
    path: &Path,
    first: u64,
    bound: &SeqBound,
    pending: &mut Vec<Record>,
    problems: &mut Vec<String>,
) -> io::Result<Loaded> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let name = segment_name(first);
    let mut reader = Reader::new(file, len);
    let mut seg = Segment::new(first);
    let index_max = len / RECORD_HEADER_BYTES as u64;
    let mut pos = 0;
    while pos < len {
        match reader.record_at(pos)? {
            Ok(record) => {
                let size = RECORD_HEADER_BYTES + record.payload.len();
                if let Err(why) = admit(&mut seg, record, size as u32, bound, index_max, pending) {
                    problems.push(format!("{name}: record at byte {pos}: {why}: skipped"));
                }
                pos += size as u64;
            }
            Err(bad) => match reader.next_good(pos + 1)? {
                Some(next) => {
                    let skipped = next - pos;
                    problems.push(format!(
                        "{name}: {bad} at byte {pos}: {skipped} bytes skipped up to the next good record"
                    ));
                    pos = next;
                }
                None => {
                    let tail = Tail {
                        name,
                        pos,
                        len,
                        bad,
                    };
                    let newest = bound.next_first.is_none();
                    let tail_ok = bad_tail(path, &tail, newest, problems);
                    return Ok(Loaded { seg, tail_ok });
                }
            },
        }
    }
    Ok(Loaded { seg, tail_ok: true })
}

/// Files a read record under its seq, or says why it cannot be.
fn admit(
    seg: &mut Segment,
    record: Record,
    size: u32,
    bound: &SeqBound,
    index_max: u64,
    pending: &mut Vec<Record>,
) -> Result<(), String> {
    let seq = record.seq;
    if seq < seg.first || bound.next_first.is_some_and(|next| seq >= next) {
        return Err(format!("seq {seq} outside the segment's range"));
    }
    // A seq further from `first` than the file has records is a corrupt (if checksummed) seq;
    // the bound also keeps `sizes` from growing past the file.
    let index = seq - seg.first;
    if index > index_max {
        return Err(format!("seq {seq} beyond what the file can hold"));
    }
    let index = index as usize;
    if index < seg.sizes.len() {
        return Err(format!("seq {seq} not above the previous record's"));
    }
    seg.sizes.resize(index, 0);
    if bound.acked.binary_search(&seq).is_ok() {
        seg.sizes.push(0);
    } else {
        seg.sizes.push(size);
        seg.live += 1;
        pending.push(record);
    }
    Ok(())
}

struct Tail {
    name: String,
    pos: u64,
    len: u64,
    bad: Bad,
}

/// Reports a segment's unreadable tail; cuts it off in the newest segment. True when the file
/// now ends on a whole record.
fn bad_tail(path: &Path, tail: &Tail, newest: bool, problems: &mut Vec<String>) -> bool {
    let Tail {
        name,
        pos,
        len,
        bad,
        ..
    } = tail;
    let what = match (bad, newest) {
        (Bad::Short, true) => {
            format!("torn tail record at byte {pos} of {name}: skipped (a crash during a write)")
        }
        (Bad::Short, false) => {
            format!("truncated record at byte {pos} of {name} (not the newest segment): skipped")
        }
        (bad, _) => format!(
            "corrupt tail at byte {pos} of {name} ({bad}, no good record after it): {} bytes skipped",
            len - pos
        ),
    };
    if !newest {
        problems.push(what);
        return false;
    }
    match cut(path, *pos) {
        Ok(()) => {
            problems.push(what);
            true
        }
        Err(e) => {
            problems.push(format!(
                "{what}; cannot cut it off ({e}): new codes go to a new segment"
            ));
            false
        }
    }
}

fn cut(path: &Path, at: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(at)?;
    file.sync_all()
}

/// Why the bytes at an offset are not a record.
enum Bad {
    Short,
    Magic,
    Length(u32),
    Checksum,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Short => write!(f, "truncated record"),
            Bad::Magic => write!(f, "bad magic"),
            Bad::Length(n) => write!(f, "record length {n} over the limit"),
            Bad::Checksum => write!(f, "bad checksum"),
        }
    }
}

/// Positioned reads through one buffer of at most `READ_CHUNK_BYTES` (or one record).
struct Reader {
    file: File,
    len: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

impl Reader {
    fn new(file: File, len: u64) -> Reader {
        Reader {
            file,
            len,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// Bytes `pos..pos + n`, or `None` when the file ends before.
    fn bytes(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let Some(end) = pos.checked_add(n as u64).filter(|&end| end <= self.len) else {
            return Ok(None);
        };
        if pos < self.buf_at || end > self.buf_at + self.buf.len() as u64 {
            let want = (n.max(READ_CHUNK_BYTES) as u64).min(self.len - pos);
            self.buf.resize(want as usize, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.buf_at = pos;
        }
        let at = (pos - self.buf_at) as usize;
        Ok(Some(&self.buf[at..at + n]))
    }

    fn record_at(&mut self, pos: u64) -> io::Result<Result<Record, Bad>> {
        let Some(head) = self.bytes(pos, RECORD_HEADER_BYTES)? else {
            return Ok(Err(Bad::Short));
        };
        if le_u32(head, 0) != RECORD_MAGIC {
            return Ok(Err(Bad::Magic));
        }
        let len = le_u32(head, 4);
        if len as usize > RECORD_PAYLOAD_BYTES_MAX {
            return Ok(Err(Bad::Length(len)));
        }
        let crc = le_u32(head, 8);
        let Some(body) = self.bytes(pos, RECORD_HEADER_BYTES + len as usize)? else {
            return Ok(Err(Bad::Short));
        };
        if crc32fast::hash(&body[12..]) != crc {
            return Ok(Err(Bad::Checksum));
        }
        Ok(Ok(Record {
            seq: le_u64(body, 12),
            key: le_u64(body, 20),
            payload: body[RECORD_HEADER_BYTES..].to_vec(),
        }))
    }

    /// The first offset from `from` on where a whole good record starts.
    fn next_good(&mut self, from: u64) -> io::Result<Option<u64>> {
        let magic = RECORD_MAGIC.to_le_bytes();
        let mut pos = from;
        while pos.saturating_add(RECORD_HEADER_BYTES as u64) <= self.len {
            let n = (self.len - pos).min(READ_CHUNK_BYTES as u64) as usize;
            let Some(chunk) = self.bytes(pos, n)? else {
                return Ok(None);
            };
            let Some(i) = chunk.windows(magic.len()).position(|w| w == magic) else {
                // The magic may straddle the chunk's end.
                pos += (n - (magic.len() - 1)) as u64;
                continue;
            };
            let candidate = pos + i as u64;
            if self.record_at(candidate)?.is_ok() {
                return Ok(Some(candidate));
            }
            pos = candidate + 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let pid = std::process::id();
            let dir = std::env::temp_dir().join(format!("outbox-test-{pid}-{n}-{name}"));
            let _ = fs::remove_dir_all(&dir);
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Payloads of this many bytes make records of exactly 100 bytes.
    const PAYLOAD_100: usize = 100 - RECORD_HEADER_BYTES;

    fn limits(segment_bytes: u64, total_bytes_max: u64) -> Limits {
        Limits {
            segment_bytes,
            total_bytes_max,
        }
    }

    fn roomy() -> Limits {
        limits(1 << 20, 1 << 30)
    }

    fn open(dir: &Path, limits: Limits) -> (Outbox, Recovered) {
        Outbox::open(dir, limits).expect("outbox opens")
    }

    /// The record the tests store under key `i` (100 bytes with `PAYLOAD_100`).
    fn payload(i: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|j| (i as usize).wrapping_mul(31).wrapping_add(j) as u8)
            .collect()
    }

    /// Appends keys `from..from + n`, each with `payload(key, len)`.
    fn append_keys(ob: &mut Outbox, from: u64, n: u64, len: usize) -> Vec<u64> {
        let payloads: Vec<Vec<u8>> = (from..from + n).map(|i| payload(i, len)).collect();
        let batch: Vec<(u64, &[u8])> = (from..).zip(&payloads).map(|(k, p)| (k, &p[..])).collect();
        ob.append(&batch).expect("append")
    }

    /// Records as `append_keys(.., from = 0, ..)` stored them: seq `k + 1` holds key `k`.
    fn expected(seqs: &[u64], len: usize) -> Vec<Record> {
        seqs.iter()
            .map(|&seq| Record {
                seq,
                key: seq - 1,
                payload: payload(seq - 1, len),
            })
            .collect()
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                parse_segment_name(name).is_some()
            })
            .collect();
        files.sort();
        files
    }

    fn newest_segment(dir: &Path) -> PathBuf {
        segment_files(dir).pop().expect("a segment")
    }

    fn append_bytes(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).expect("open");
        f.write_all(bytes).expect("write");
    }

    #[test]
    fn appended_codes_come_back_until_acked() {
        let s = Scratch::new("basic");
        let (mut ob, rec) = open(&s.0, roomy());
        assert!(rec.pending.is_empty());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        let all: Vec<u64> = (1..=10).collect();
        assert_eq!(append_keys(&mut ob, 0, 10, 33), all);
        assert_eq!(ob.pending(), (10, 10 * (28 + 33)));
        drop(ob);

        let (mut ob, rec) = open(&s.0, roomy());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        assert_eq!(rec.pending, expected(&all, 33));
        assert_eq!(ob.pending(), (10, 10 * (28 + 33)));
        ob.ack(&[6, 2, 4, 4, 999, 0, u64::MAX]).expect("ack");
        assert_eq!(ob.pending(), (7, 7 * (28 + 33)));
        drop(ob);

        let (ob, rec) = open(&s.0, roomy());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        assert_eq!(rec.pending, expected(&[1, 3, 5, 7, 8, 9, 10], 33));
        assert_eq!(ob.pending(), (7, 7 * (28 + 33)));
    }

    #[test]
    fn seqs_keep_rising_after_every_segment_was_deleted() {
        let s = Scratch::new("seqs");
        let (mut ob, _) = open(&s.0, roomy());
        let first = append_keys(&mut ob, 0, 5, 10);
        assert_eq!(first, vec![1, 2, 3, 4, 5]);
        ob.ack(&first).expect("ack");
        drop(ob);

        // The fully acked newest segment is replaced by an empty one named after the next seq,
        // and the ack log is compacted to nothing: only that name remembers seq 6.
        let (ob, rec) = open(&s.0, roomy());
        assert!(rec.pending.is_empty() && rec.problems.is_empty());
        let files = segment_files(&s.0);
        assert_eq!(files, vec![s.0.join(segment_name(6))]);
        assert_eq!(fs::metadata(&files[0]).expect("seg").len(), 0);
        assert_eq!(fs::metadata(s.0.join(ACK_LOG_NAME)).expect("acks").len(), 0);
        drop(ob);

        let (mut ob, rec) = open(&s.0, roomy());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        assert_eq!(append_keys(&mut ob, 5, 2, 10), vec![6, 7]);
    }

    #[test]
    fn segments_roll_and_fully_acked_ones_are_deleted() {
        let s = Scratch::new("roll");
        // Batches of 5 records of 100 bytes: two batches per 1000-byte segment.
        let (mut ob, _) = open(&s.0, limits(1000, 1 << 20));
        let mut all = Vec::new();
        for b in 0..20 {
            all.extend(append_keys(&mut ob, b * 5, 5, PAYLOAD_100));
        }
        assert_eq!(all, (1..=100).collect::<Vec<_>>());
        assert_eq!(segment_files(&s.0).len(), 10);
        for f in segment_files(&s.0) {
            assert_eq!(fs::metadata(f).expect("seg").len(), 1000);
        }
        ob.ack(&all[..50]).expect("ack");
        assert_eq!(segment_files(&s.0).len(), 5);
        ob.ack(&all[..95]).expect("ack");
        assert_eq!(segment_files(&s.0), vec![s.0.join(segment_name(91))]);
        // The active segment is kept even when everything in it is acked.
        ob.ack(&all).expect("ack");
        assert_eq!(segment_files(&s.0).len(), 1);
        assert_eq!(ob.pending(), (0, 0));
        drop(ob);
        let (_, rec) = open(&s.0, limits(1000, 1 << 20));
        assert!(rec.pending.is_empty() && rec.problems.is_empty());
    }

    #[test]
    fn a_torn_tail_is_reported_cut_off_and_appends_continue_cleanly() {
        let s = Scratch::new("torn");
        let (mut ob, _) = open(&s.0, roomy());
        for b in 0..3 {
            append_keys(&mut ob, b * 5, 5, PAYLOAD_100);
        }
        drop(ob);
        let seg = newest_segment(&s.0);
        let f = OpenOptions::new().write(true).open(&seg).expect("open");
        f.set_len(1500 - 30).expect("truncate");
        drop(f);

        let (mut ob, rec) = open(&s.0, roomy());
        assert_eq!(rec.problems.len(), 1, "{:?}", rec.problems);
        assert!(
            rec.problems[0].starts_with("torn tail record at byte 1400 of seg-"),
            "{}",
            rec.problems[0]
        );
        let first14: Vec<u64> = (1..=14).collect();
        assert_eq!(rec.pending, expected(&first14, PAYLOAD_100));
        assert_eq!(fs::metadata(&seg).expect("seg").len(), 1400);
        // Seq 15 was never handed out (its write did not finish), so it is reused.
        assert_eq!(append_keys(&mut ob, 14, 2, PAYLOAD_100), vec![15, 16]);
        drop(ob);

        let (_, rec) = open(&s.0, roomy());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        let first16: Vec<u64> = (1..=16).collect();
        assert_eq!(rec.pending, expected(&first16, PAYLOAD_100));
        assert_eq!(fs::metadata(&seg).expect("seg").len(), 1600);
    }

    #[test]
    fn an_acknowledged_seq_is_not_reused_when_its_record_is_lost() {
        let s = Scratch::new("lostacked");
        let (mut ob, _) = open(&s.0, roomy());
        append_keys(&mut ob, 0, 10, PAYLOAD_100);
        ob.ack(&[10]).expect("ack");
        drop(ob);
        let seg = newest_segment(&s.0);
        let mut bytes = fs::read(&seg).expect("read");
        bytes[9 * 100 + 50] ^= 0x01;
        fs::write(&seg, &bytes).expect("write");
        let (mut ob, rec) = open(&s.0, roomy());
        assert_eq!(rec.problems.len(), 1, "{:?}", rec.problems);
        assert!(rec.problems[0].starts_with("corrupt tail at byte 900"));
        assert_eq!(seqs(&rec.pending), (1..=9).collect::<Vec<_>>());
        assert_eq!(append_keys(&mut ob, 10, 1, 5), vec![11]);
    }

    #[test]
    fn a_corrupt_middle_record_is_skipped_and_the_rest_recovered() {
        let s = Scratch::new("flip");
        let (mut ob, _) = open(&s.0, roomy());
        append_keys(&mut ob, 0, 10, PAYLOAD_100);
        drop(ob);
        let seg = newest_segment(&s.0);
        let mut bytes = fs::read(&seg).expect("read");
        bytes[2 * 100 + 50] ^= 0x40; // payload of seq 3: bad crc
        bytes[6 * 100] ^= 0x01; // magic of seq 7
        bytes[8 * 100 + 6] = 0x7f; // length of seq 9: over the limit
        fs::write(&seg, &bytes).expect("write");

        let (mut ob, rec) = open(&s.0, roomy());
        assert_eq!(rec.problems.len(), 3, "{:?}", rec.problems);
        assert!(rec.problems[0].contains("bad checksum at byte 200"));
        assert!(rec.problems[1].contains("bad magic at byte 600"));
        assert!(rec.problems[2].contains("over the limit"));
        assert_eq!(seqs(&rec.pending), vec![1, 2, 4, 5, 6, 8, 10]);
        assert_eq!(rec.pending, expected(&[1, 2, 4, 5, 6, 8, 10], PAYLOAD_100));
        assert_eq!(ob.pending().0, 7);
        assert_eq!(append_keys(&mut ob, 10, 1, PAYLOAD_100), vec![11]);
        drop(ob);
        let (_, rec) = open(&s.0, roomy());
        assert_eq!(seqs(&rec.pending), vec![1, 2, 4, 5, 6, 8, 10, 11]);
    }

    #[test]
    fn garbage_files_are_reported_never_fatal() {
        let s = Scratch::new("garbage");
        fs::create_dir_all(&s.0).expect("dir");
        let mut rng = XorShift(7);
        let junk: Vec<u8> = (0..5000).map(|_| rng.next() as u8).collect();
        fs::write(s.0.join("notes.txt"), &junk).expect("write");
        fs::write(s.0.join("seg-12.log"), &junk).expect("write"); // not a segment name
        fs::write(s.0.join(segment_name(1)), b"").expect("write");
        fs::write(s.0.join(segment_name(300)), &junk).expect("write");
        fs::write(s.0.join(ACK_LOG_NAME), &junk[..777]).expect("write");
        fs::create_dir(s.0.join(segment_name(200))).expect("dir");

        let (mut ob, rec) = open(&s.0, roomy());
        assert!(rec.pending.is_empty());
        let all = rec.problems.join("\n");
        assert!(all.contains("acks.log: 777 bytes"), "{all}");
        assert!(
            all.contains(&format!("{} is unreadable", segment_name(200))),
            "{all}"
        );
        assert!(all.contains(&format!("corrupt tail at byte 0 of {}", segment_name(300))));
        let seq = append_keys(&mut ob, 0, 1, 10);
        assert!(seq[0] >= 300, "{seq:?}");
        drop(ob);

        let (_, rec) = open(&s.0, roomy());
        assert_eq!(rec.pending.len(), 1);
        // Only the directory posing as a segment is still there to report.
        assert_eq!(rec.problems.len(), 1, "{:?}", rec.problems);
    }

    #[test]
    fn a_garbled_ack_log_costs_duplicates_never_records() {
        let s = Scratch::new("acks");
        let (mut ob, _) = open(&s.0, roomy());
        let all = append_keys(&mut ob, 0, 10, 20);
        ob.ack(&all[..5]).expect("ack");
        drop(ob);
        // A torn frame at the end: the good frames before it still count.
        append_bytes(&s.0.join(ACK_LOG_NAME), &ack_frame(7)[..9]);
        let (ob, rec) = open(&s.0, roomy());
        assert_eq!(seqs(&rec.pending), vec![6, 7, 8, 9, 10]);
        assert_eq!(rec.problems.len(), 1, "{:?}", rec.problems);
        drop(ob);
        // Junk in front of a good frame: skipped up to the frame.
        let mut bytes = vec![0xAB; 13];
        bytes.extend_from_slice(&ack_frame(8));
        let acks = s.0.join(ACK_LOG_NAME);
        let mut old = fs::read(&acks).expect("read");
        old.extend_from_slice(&bytes);
        fs::write(&acks, &old).expect("write");
        let (ob, rec) = open(&s.0, roomy());
        assert_eq!(seqs(&rec.pending), vec![6, 7, 9, 10]);
        assert!(rec.problems[0].contains("13 bytes"), "{:?}", rec.problems);
        drop(ob);
        // Missing ack log: everything comes back.
        fs::remove_file(&acks).expect("rm");
        let (_, rec) = open(&s.0, roomy());
        assert_eq!(rec.pending.len(), 10);
        assert!(rec.problems[0].contains("missing"), "{:?}", rec.problems);
    }

    #[test]
    fn a_full_outbox_stores_what_fits_and_frees_space_on_ack() {
        let s = Scratch::new("full");
        let (mut ob, _) = open(&s.0, limits(1 << 20, 1000));
        let stored = append_keys(&mut ob, 0, 15, PAYLOAD_100);
        assert_eq!(stored, (1..=10).collect::<Vec<_>>());
        assert_eq!(ob.pending(), (10, 1000));
        let p = payload(99, PAYLOAD_100);
        match ob.append(&[(99, &p)]) {
            Err(AppendError::Full { pending_bytes }) => assert_eq!(pending_bytes, 1000),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(ob.append(&[]).expect("empty batch"), Vec::<u64>::new());
        ob.ack(&[2, 5, 9]).expect("ack");
        assert_eq!(append_keys(&mut ob, 10, 5, PAYLOAD_100), vec![11, 12, 13]);
        drop(ob);
        let (_, rec) = open(&s.0, limits(1 << 20, 1000));
        assert_eq!(seqs(&rec.pending), vec![1, 3, 4, 6, 7, 8, 10, 11, 12, 13]);
    }

    #[test]
    fn an_oversized_payload_is_refused_before_anything_is_written() {
        let s = Scratch::new("big");
        let (mut ob, _) = open(&s.0, roomy());
        let big = vec![0; RECORD_PAYLOAD_BYTES_MAX + 1];
        let small = [1u8; 3];
        match ob.append(&[(1, &small), (2, &big)]) {
            Err(AppendError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert_eq!(ob.pending(), (0, 0));
        let max = vec![7; RECORD_PAYLOAD_BYTES_MAX];
        assert_eq!(ob.append(&[(3, &max)]).expect("append"), vec![1]);
        drop(ob);
        let (_, rec) = open(&s.0, roomy());
        assert_eq!(rec.pending.len(), 1);
        assert_eq!(rec.pending[0].payload, max);
    }

    #[test]
    fn the_ack_log_stays_bounded_and_its_acks_survive_compaction() {
        let s = Scratch::new("compact");
        let lim = || limits(64 << 10, 1 << 30);
        let (mut ob, _) = open(&s.0, lim());
        let acks = s.0.join(ACK_LOG_NAME);
        let (mut left, mut ack_len_max) = (Vec::new(), 0);
        for b in 0..200u64 {
            let seqs = append_keys(&mut ob, b * 1000, 1000, 20);
            // A few codes stay unacked (one every 10,007) and pin their segments.
            let (keep, done): (Vec<u64>, Vec<u64>) = seqs.iter().partition(|&&q| q % 10_007 == 0);
            left.extend(keep);
            ob.ack(&done).expect("ack");
            ack_len_max = ack_len_max.max(fs::metadata(&acks).expect("acks").len());
        }
        let bound = (ACK_LOG_COMPACT_FRAMES_MIN + 1000) * ACK_FRAME_BYTES as u64;
        assert!(ack_len_max <= bound, "{ack_len_max} > {bound}");
        assert!(segment_files(&s.0).len() <= left.len() + 1);
        drop(ob);
        let (_, rec) = open(&s.0, lim());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        assert_eq!(seqs(&rec.pending), left);
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The pending set as the outbox must see it: seq → (key, payload).
    type Model = BTreeMap<u64, (u64, Vec<u8>)>;

    fn model_bytes(model: &Model) -> u64 {
        model
            .values()
            .map(|(_, p)| (RECORD_HEADER_BYTES + p.len()) as u64)
            .sum()
    }

    fn model_records(model: &Model) -> Vec<Record> {
        model
            .iter()
            .map(|(&seq, (key, payload))| Record {
                seq,
                key: *key,
                payload: payload.clone(),
            })
            .collect()
    }

    fn random_append(
        ob: &mut Outbox,
        rng: &mut XorShift,
        model: &mut Model,
        last: &mut u64,
        max: u64,
    ) {
        let n = rng.below(8) as usize;
        let batch: Vec<(u64, Vec<u8>)> = (0..n)
            .map(|_| (rng.next(), payload(rng.next(), rng.below(120) as usize)))
            .collect();
        let view: Vec<(u64, &[u8])> = batch.iter().map(|(k, p)| (*k, &p[..])).collect();
        // True when the record after the stored ones would not have fitted.
        let next_full = |model: &Model, stored: usize| {
            batch.get(stored).is_none_or(|(_, p)| {
                model_bytes(model) + (RECORD_HEADER_BYTES + p.len()) as u64 > max
            })
        };
        match ob.append(&view) {
            Ok(seqs) => {
                for (seq, (key, p)) in seqs.iter().zip(&batch) {
                    assert_eq!(*seq, *last + 1, "seqs consecutive and rising");
                    *last = *seq;
                    model.insert(*seq, (*key, p.clone()));
                }
                assert!(next_full(model, seqs.len()), "stopped early");
            }
            Err(AppendError::Full { pending_bytes }) => {
                assert_eq!(pending_bytes, model_bytes(model));
                assert!(n > 0 && next_full(model, 0));
            }
            Err(e) => panic!("append: {e}"),
        }
    }

    fn random_ack(ob: &mut Outbox, rng: &mut XorShift, model: &mut Model, last: u64) {
        let mut seqs: Vec<u64> = model
            .keys()
            .copied()
            .filter(|_| rng.below(3) == 0)
            .collect();
        seqs.push(last + 1 + rng.below(5)); // never handed out
        seqs.push(rng.below(last + 1)); // maybe acked already
        if let Some(&again) = seqs.first() {
            seqs.push(again);
        }
        let n = seqs.len() as u64;
        for i in 0..seqs.len() {
            seqs.swap(i, rng.below(n) as usize);
        }
        ob.ack(&seqs).expect("ack");
        for seq in seqs {
            model.remove(&seq);
        }
    }

    /// Leaves half a record at the end of the newest segment, as a crash during a write would.
    fn tear_newest(dir: &Path, rng: &mut XorShift) {
        let mut buf = Vec::new();
        encode_batch(&mut buf, &[(1, &[9; 40][..])], u64::MAX / 4);
        let keep = 1 + rng.below(buf.len() as u64 - 1) as usize;
        append_bytes(&newest_segment(dir), &buf[..keep]);
    }

    fn reopen(dir: &Path, lim: Limits, model: &Model, torn: bool) -> Outbox {
        let (mut ob, rec) = open(dir, lim);
        match torn {
            true => assert_eq!(rec.problems.len(), 1, "{:?}", rec.problems),
            false => assert!(rec.problems.is_empty(), "{:?}", rec.problems),
        }
        assert_eq!(rec.pending, model_records(model));
        ob.ack_compact_frames_min = 8;
        ob
    }

    #[test]
    fn random_appends_acks_and_reopens_match_a_model() {
        for case in 0..24u64 {
            let s = Scratch::new("model");
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (case + 1));
            let (segment_bytes, max) = (200 + rng.below(3000), 1000 + rng.below(20_000));
            let lim = || limits(segment_bytes, max);
            let (mut model, mut last) = (Model::new(), 0);
            let mut ob = reopen(&s.0, lim(), &model, false);
            for _ in 0..300 {
                match rng.below(20) {
                    0..=9 => random_append(&mut ob, &mut rng, &mut model, &mut last, max),
                    10..=16 => random_ack(&mut ob, &mut rng, &mut model, last),
                    17 => ob.sync().expect("sync"),
                    18 => {
                        drop(ob);
                        ob = reopen(&s.0, lim(), &model, false);
                    }
                    _ => {
                        drop(ob);
                        tear_newest(&s.0, &mut rng);
                        ob = reopen(&s.0, lim(), &model, true);
                    }
                }
                assert_eq!(ob.pending(), (model.len() as u64, model_bytes(&model)));
            }
            drop(ob);
            reopen(&s.0, lim(), &model, false);
        }
    }

    const CRASH_CHILD_DIR_ENV: &str = "OUTBOX_CRASH_CHILD_DIR";

    fn crash_payload_bytes(key: u64) -> usize {
        (key % 97) as usize
    }

    /// The child of `kill_9_at_any_moment_loses_nothing`: acknowledges what it recovered, then
    /// appends and acknowledges until killed, printing each step once it returned.
    #[test]
    #[ignore = "the child process of kill_9_at_any_moment_loses_nothing"]
    fn crash_child() {
        let Some(dir) = std::env::var_os(CRASH_CHILD_DIR_ENV) else {
            return;
        };
        let (mut ob, rec) = open(Path::new(&dir), limits(4096, 64 << 20));
        let mut out = io::stdout().lock();
        let line = |seqs: &[u64]| seqs.iter().map(|q| format!(" {q}")).collect::<String>();
        let old = seqs(&rec.pending);
        writeln!(out, "T{}", line(&old)).expect("stdout");
        ob.ack(&old).expect("ack");
        writeln!(out, "K{}", line(&old)).expect("stdout");
        let mut rng = XorShift(u64::from(std::process::id()) * 0x9E37_79B9 + 1);
        let mut key = rng.next() >> 20;
        let mut previous = Vec::new();
        loop {
            let n = 1 + rng.below(40);
            let payloads: Vec<Vec<u8>> = (key..key + n)
                .map(|k| payload(k, crash_payload_bytes(k)))
                .collect();
            let batch: Vec<(u64, &[u8])> =
                (key..).zip(&payloads).map(|(k, p)| (k, &p[..])).collect();
            let stored = ob.append(&batch).expect("append");
            writeln!(out, "A {} {} {key}", stored[0], stored.len()).expect("stdout");
            key += n;
            let done: Vec<u64> = previous.iter().copied().filter(|q| q % 10 != 0).collect();
            writeln!(out, "T{}", line(&done)).expect("stdout");
            ob.ack(&done).expect("ack");
            writeln!(out, "K{}", line(&done)).expect("stdout");
            previous = stored;
        }
    }

    /// What the children said they were doing (`T`: acks about to be written), and what they
    /// did once it had returned (`A`: appended, `K`: acked).
    #[derive(Default)]
    struct Told {
        keys: BTreeMap<u64, u64>,
        acking: std::collections::BTreeSet<u64>,
        acked: std::collections::BTreeSet<u64>,
    }

    impl Told {
        fn read(&mut self, stdout: &str) {
            let whole = stdout.rfind('\n').map_or("", |end| &stdout[..end]);
            for line in whole.lines() {
                let mut words = line.split(' ');
                let numbers = |w: std::str::Split<'_, char>| {
                    w.map(|x| x.parse::<u64>().expect("number"))
                        .collect::<Vec<_>>()
                };
                match words.next() {
                    Some("A") => {
                        let [first, n, key] = numbers(words)[..] else {
                            panic!("bad line {line}")
                        };
                        let last = self.keys.keys().next_back().copied().unwrap_or(0);
                        assert!(first > last, "seq {first} not above {last}");
                        self.keys.extend((first..first + n).zip(key..));
                    }
                    Some("T") => self.acking.extend(numbers(words)),
                    Some("K") => self.acked.extend(numbers(words)),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn kill_9_at_any_moment_loses_nothing() {
        use std::io::{BufRead, Read};
        use std::process::{Command, Stdio};
        let s = Scratch::new("kill9");
        let exe = std::env::current_exe().expect("test binary");
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let child_test = format!("{module}::crash_child");
        let mut told = Told::default();
        let mut rng = XorShift(42);
        for _ in 0..6 {
            let mut child = Command::new(&exe)
                .args(["--ignored", "--exact", &child_test, "--nocapture"])
                .env(CRASH_CHILD_DIR_ENV, &s.0)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            // Killed after a random number of reported appends, while it goes on appending.
            let mut out = io::BufReader::new(child.stdout.take().expect("stdout"));
            let (mut text, mut line, mut appends) =
                (String::new(), String::new(), 1 + rng.below(300));
            while appends > 0 && out.read_line(&mut line).expect("read") > 0 {
                appends -= u64::from(line.starts_with("A "));
                text.push_str(&line);
                line.clear();
            }
            text.push_str(&line);
            child.kill().expect("kill");
            out.read_to_string(&mut text).expect("read");
            let status = child.wait().expect("wait");
            assert_eq!(status.code(), None, "the child failed on its own");
            told.read(&text);

            let (_, rec) = open(&s.0, limits(4096, 64 << 20));
            for p in &rec.problems {
                assert!(p.starts_with("torn tail record"), "{p}");
            }
            let pending: std::collections::BTreeSet<u64> = seqs(&rec.pending).into_iter().collect();
            for r in &rec.pending {
                assert_eq!(r.payload, payload(r.key, crash_payload_bytes(r.key)));
                assert!(!told.acked.contains(&r.seq), "acked seq {} back", r.seq);
                assert!(told.keys.get(&r.seq).is_none_or(|&k| k == r.key));
            }
            for (seq, _) in told.keys.iter().filter(|(q, _)| !told.acking.contains(q)) {
                assert!(pending.contains(seq), "stored seq {seq} lost");
            }
        }
        assert!(
            told.keys.len() > 100,
            "the children stored too little to tell"
        );
    }
}
