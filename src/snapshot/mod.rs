//! The state snapshot: what a restart must not forget (open incidents, counters, attempts,
//! the last result, pauses), one fixed-size `Pod` record per monitor in one file under
//! `--state-dir`, written every [`SNAPSHOT_PERIOD_MS`] when a monitor changed state (every
//! `SNAPSHOT_QUIET_PERIOD_MS` otherwise) and at a clean stop.
//!
//! Why memmap2 and bytemuck: the records are plain old data, so the file is the in-memory
//! array itself. Loading a million monitors is one `mmap` and a cast (`bytemuck::try_cast_slice`
//! checks size and alignment, no parsing, no allocation per record). Writing goes a slice at
//! a time: the engine fills one slice of records per tick (no pause longer than a tick, and
//! no buffer of the whole snapshot), a writer thread appends it to a temporary file, and at the
//! end writes the header, syncs and renames (so a crash leaves the old snapshot or the new
//! one, never half of one).
//!
//! File: a 64-byte [`Header`] (magic, format version, record size, count, write time, CRC-32 of
//! the records), then `count` [`Record`]s. A file that is truncated, has another version or
//! record size, or whose checksum does not match is reported and ignored: never a panic, never a
//! half-load. Monitors are matched **by name** (the name's stable key, as sharding uses it) and
//! restored only if their pulse kept its type and target ([`Record::pulse`]); new monitors start
//! fresh, removed ones are dropped.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};

use crate::limits::SNAPSHOT_RECORDS_MAX;

#[cfg(doc)]
use crate::limits::SNAPSHOT_PERIOD_MS;

pub const MAGIC: [u8; 8] = *b"CPRASNAP";
pub const VERSION: u32 = 1;
pub const FILE_NAME: &str = "snapshot.bin";

/// The file's first 64 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub record_bytes: u32,
    pub count: u64,
    pub written_wall_ms: u64,
    pub crc32: u32,
    /// The writing instance's `--name`, UTF-8, zero-padded (cut at 24 bytes).
    pub instance: [u8; 24],
    pub _pad: [u8; 4],
}

/// One monitor. Times are wall-clock ms (0: none), so they survive the engine's clock.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable, Default)]
pub struct Record {
    /// The name's stable key (`store::shard::key`).
    pub key: u64,
    /// The pulse's identity: type and target (host, port, path, DNS query).
    pub pulse: u64,
    /// Start of the open incident (the first failure after `up`).
    pub incident_wall_ms: u64,
    pub last_intervention_wall_ms: u64,
    /// When it entered its state (for the API), and its last result.
    pub since_wall_ms: u64,
    pub checked_wall_ms: u64,
    pub checks: u32,
    pub latency_us: u32,
    pub failures: u16,
    pub successes: u16,
    pub verify_left: u16,
    pub last_status: u16,
    pub state: u8,
    /// Lifecycle incident flags (open, red sent, exhausted).
    pub incident: u8,
    pub attempts: u8,
    pub last_reason: u8,
    /// Colour of the last code + 1 (0: none).
    pub colour: u8,
    /// Paused through the API.
    pub paused: u8,
    pub _pad: [u8; 2],
}

const _: () = assert!(std::mem::size_of::<Header>() == 64);
const _: () = assert!(std::mem::size_of::<Record>() == 72);
const _: () = assert!(std::mem::size_of::<Header>().is_multiple_of(std::mem::align_of::<Record>()));

/// Why a snapshot was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Missing,
    Unreadable(String),
    Truncated { bytes: u64, wanted: u64 },
    NotASnapshot,
    OtherVersion { version: u32, record_bytes: u32 },
    TooMany(u64),
    Checksum { stored: u32, computed: u32 },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Missing => write!(f, "no snapshot yet"),
            Refused::Unreadable(e) => write!(f, "cannot read it: {e}"),
            Refused::Truncated { bytes, wanted } => {
                write!(f, "truncated: {bytes} bytes, the header promises {wanted}")
            }
            Refused::NotASnapshot => write!(f, "not a cpra snapshot (bad magic)"),
            Refused::OtherVersion {
                version,
                record_bytes,
            } => write!(
                f,
                "format version {version} (record {record_bytes} bytes); this cpra reads version {VERSION} ({} bytes)",
                std::mem::size_of::<Record>()
            ),
            Refused::TooMany(n) => write!(f, "{n} records, more than {SNAPSHOT_RECORDS_MAX}"),
            Refused::Checksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:08x}, computed {computed:08x}): corrupt"
                )
            }
        }
    }
}

/// A loaded snapshot: the mapped file, checked.
pub struct Snapshot {
    map: memmap2::Mmap,
    pub header: Header,
}

impl Snapshot {
    /// Maps and checks `dir/snapshot.bin`.
    #[allow(unsafe_code)] // the mapping (see SAFETY below)
    pub fn load(dir: &Path) -> Result<Snapshot, Refused> {
        let path = dir.join(FILE_NAME);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Refused::Missing),
            Err(e) => return Err(Refused::Unreadable(e.to_string())),
        };
        // SAFETY: the file is ours (under the locked state directory) and only replaced by
        // rename, never written in place, so the mapping does not change under us.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Refused::Unreadable(e.to_string()))?;
        let header = check(&map)?;
        Ok(Snapshot { map, header })
    }

    pub fn records(&self) -> &[Record] {
        records_of(&self.map, &self.header)
    }

    /// The `--name` of the instance that wrote it.
    pub fn instance(&self) -> String {
        let raw = &self.header.instance;
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }
}

fn records_of<'a>(bytes: &'a [u8], h: &Header) -> &'a [Record] {
    let body = &bytes[std::mem::size_of::<Header>()..];
    let n = h.count as usize * std::mem::size_of::<Record>();
    bytemuck::try_cast_slice(&body[..n]).unwrap_or(&[])
}

/// Checks a snapshot's bytes: header, size, version, checksum.
pub fn check(bytes: &[u8]) -> Result<Header, Refused> {
    let hb = std::mem::size_of::<Header>();
    if bytes.len() < hb {
        return Err(if bytes.len() >= 8 && bytes[..8] != MAGIC {
            Refused::NotASnapshot
        } else {
            Refused::Truncated {
                bytes: bytes.len() as u64,
                wanted: hb as u64,
            }
        });
    }
    let h: Header = bytemuck::pod_read_unaligned(&bytes[..hb]);
    if h.magic != MAGIC {
        return Err(Refused::NotASnapshot);
    }
    if h.version != VERSION || h.record_bytes as usize != std::mem::size_of::<Record>() {
        return Err(Refused::OtherVersion {
            version: h.version,
            record_bytes: h.record_bytes,
        });
    }
    if h.count > SNAPSHOT_RECORDS_MAX {
        return Err(Refused::TooMany(h.count));
    }
    let wanted = hb as u64 + h.count * std::mem::size_of::<Record>() as u64;
    if (bytes.len() as u64) < wanted {
        return Err(Refused::Truncated {
            bytes: bytes.len() as u64,
            wanted,
        });
    }
    let computed = crc32fast::hash(&bytes[hb..wanted as usize]);
    if computed != h.crc32 {
        return Err(Refused::Checksum {
            stored: h.crc32,
            computed,
        });
    }
    if bytemuck::try_cast_slice::<u8, Record>(&bytes[hb..wanted as usize]).is_err() {
        return Err(Refused::Unreadable("misaligned records".into()));
    }
    Ok(h)
}

/// A snapshot being written, a slice at a time: a temporary file sized for `count` records,
/// records appended with positioned writes (the CRC computed as they go), then the header at
/// the front, a sync, and a rename over the old snapshot (then the directory synced), so a
/// crash leaves the old snapshot or the new one. Written with `pwrite`, not through a mapping:
/// the dirty pages of a mapped file count in cpra's resident memory until written back.
pub struct Writer {
    file: File,
    dir: PathBuf,
    tmp: PathBuf,
    crc: crc32fast::Hasher,
    count: u64,
    written: u64,
    wall_ms: u64,
    instance: [u8; 24],
}

impl Writer {
    pub fn begin(dir: &Path, count: u64, wall_ms: u64, instance: &str) -> io::Result<Writer> {
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.set_len(std::mem::size_of::<Header>() as u64 + count * RECORD_BYTES)?;
        Ok(Writer {
            file,
            dir: dir.to_path_buf(),
            tmp,
            crc: crc32fast::Hasher::new(),
            count,
            written: 0,
            wall_ms,
            instance: instance_bytes(instance),
        })
    }

    pub fn append(&mut self, records: &[Record]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if self.written + records.len() as u64 > self.count {
            return Err(io::Error::other(
                "more records than the snapshot was begun with",
            ));
        }
        let bytes: &[u8] = bytemuck::cast_slice(records);
        let at = std::mem::size_of::<Header>() as u64 + self.written * RECORD_BYTES;
        self.file.write_all_at(bytes, at)?;
        self.crc.update(bytes);
        self.written += records.len() as u64;
        Ok(())
    }

    /// Writes the header, syncs, renames. Returns the file's size.
    pub fn finish(self) -> io::Result<u64> {
        use std::os::unix::fs::FileExt;
        if self.written != self.count {
            return Err(io::Error::other(format!(
                "snapshot incomplete: {} of {} records",
                self.written, self.count
            )));
        }
        let header = Header {
            magic: MAGIC,
            version: VERSION,
            record_bytes: RECORD_BYTES as u32,
            count: self.count,
            written_wall_ms: self.wall_ms,
            crc32: self.crc.finalize(),
            instance: self.instance,
            _pad: [0; 4],
        };
        self.file.write_all_at(bytemuck::bytes_of(&header), 0)?;
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, self.dir.join(FILE_NAME))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(std::mem::size_of::<Header>() as u64 + self.count * RECORD_BYTES)
    }
}

const RECORD_BYTES: u64 = std::mem::size_of::<Record>() as u64;

/// An instance name for the header: its first 24 bytes, cut at a character boundary.
fn instance_bytes(name: &str) -> [u8; 24] {
    let mut out = [0u8; 24];
    let mut end = name.len().min(24);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&name.as_bytes()[..end]);
    out
}

/// Writes `records` as `dir/snapshot.bin` at once (see [`Writer`]). Returns the bytes
/// written.
pub fn write(dir: &Path, records: &[Record], wall_ms: u64, instance: &str) -> io::Result<u64> {
    let mut w = Writer::begin(dir, records.len() as u64, wall_ms, instance)?;
    w.append(records)?;
    w.finish()
}

/// FNV-1a 64 over bytes, continuing from `h` (for [`Record::pulse`]).
pub fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cpra-snap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                key: i as u64 * 7919,
                pulse: 42,
                incident_wall_ms: 1_800_000_000_000 + i as u64,
                state: (i % 6) as u8,
                failures: i as u16,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn round_trips_through_the_mapped_file() {
        let d = dir("rt");
        let recs = sample(1000);
        let bytes = write(&d, &recs, 123, "box-1").unwrap();
        assert_eq!(bytes, 64 + 72 * 1000);
        let s = Snapshot::load(&d).unwrap();
        assert_eq!(s.header.count, 1000);
        assert_eq!(s.header.written_wall_ms, 123);
        assert_eq!(s.instance(), "box-1");
        assert_eq!(
            instance_bytes("ü-very-long-instance-name-xyz")[..23].len(),
            23
        );
        assert!(std::str::from_utf8(&instance_bytes("üüüüüüüüüüüüü")).is_ok());
        assert_eq!(s.records(), &recs[..]);
        // Written again (smaller): the old one is replaced whole.
        write(&d, &recs[..10], 124, "box-1").unwrap();
        assert_eq!(Snapshot::load(&d).unwrap().records(), &recs[..10]);
        assert!(!d.join(format!("{FILE_NAME}.tmp")).exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_snapshot_written_in_slices_is_the_same_file() {
        let d = dir("slices");
        let recs = sample(1000);
        let mut w = Writer::begin(&d, 1000, 5, "box-1").unwrap();
        for chunk in recs.chunks(300) {
            w.append(chunk).unwrap();
        }
        w.finish().unwrap();
        let sliced = std::fs::read(d.join(FILE_NAME)).unwrap();
        write(&d, &recs, 5, "box-1").unwrap();
        assert_eq!(sliced, std::fs::read(d.join(FILE_NAME)).unwrap());
        // Too many or too few records are refused, and the old snapshot stays.
        let mut w = Writer::begin(&d, 10, 6, "box-1").unwrap();
        assert!(w.append(&recs[..11]).is_err());
        let mut w2 = Writer::begin(&d, 10, 6, "box-1").unwrap();
        w2.append(&recs[..5]).unwrap();
        assert!(w2.finish().is_err());
        assert_eq!(Snapshot::load(&d).unwrap().header.written_wall_ms, 5);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn empty_snapshots_are_valid() {
        let d = dir("empty");
        write(&d, &[], 1, "box-1").unwrap();
        assert!(Snapshot::load(&d).unwrap().records().is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn broken_files_are_refused_with_the_reason() {
        let d = dir("broken");
        assert_eq!(Snapshot::load(&d).err(), Some(Refused::Missing));
        write(&d, &sample(100), 1, "box-1").unwrap();
        let good = std::fs::read(d.join(FILE_NAME)).unwrap();
        assert!(check(&good).is_ok());
        // Truncated anywhere.
        for cut in [0, 5, 63, 64, 100, good.len() - 1] {
            let r = check(&good[..cut]);
            assert!(
                matches!(r, Err(Refused::Truncated { .. })),
                "cut at {cut}: {r:?}"
            );
        }
        // Any flipped byte of the records: the checksum says so.
        for at in [64, 64 + 72 * 50 + 3, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert!(matches!(check(&bad), Err(Refused::Checksum { .. })), "{at}");
        }
        // A flipped byte of the header's magic, version, size or count.
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert_eq!(check(&bad), Err(Refused::NotASnapshot));
        let mut bad = good.clone();
        bad[8] = 2;
        assert!(matches!(
            check(&bad),
            Err(Refused::OtherVersion { version: 2, .. })
        ));
        let mut bad = good.clone();
        bad[12] = 80;
        assert!(matches!(check(&bad), Err(Refused::OtherVersion { .. })));
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(check(&bad), Err(Refused::TooMany(_))));
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&99u64.to_le_bytes());
        assert!(matches!(check(&bad), Err(Refused::Checksum { .. })));
        // Garbage of every length up to a few headers: refused, never a panic.
        for n in 0..300 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
            assert!(check(&junk).is_err());
        }
        // Every message names the problem.
        assert!(
            Refused::Checksum {
                stored: 1,
                computed: 2
            }
            .to_string()
            .contains("corrupt")
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
