//! Probes: the per-core loops that run checks, and the rings that connect them to the engine.
//!
//! Each worker thread owns a `mio::Poll`, a slab of connection slots and a timer heap. The
//! engine hands it small `Pod` [`Request`]s through an SPSC [`ring`] and gets small `Pod`
//! [`Completion`]s back through another; a worker reads what it needs about a monitor (kind,
//! target address, probe spec, path) from the shared, read-only
//! [`Catalog`](crate::store::Catalog) and never touches the engine's columns.
//!
//! - [`ring`]: the SPSC ring.
//! - [`reason`]: the fixed list of check outcomes.
//! - [`http`]: HTTP/1.1 request rendering and response judging, I/O-free.
//! - [`resolve`]: name resolution off the probe loops (refresh, lookups for redirects).
//! - [`tls`]: rustls configurations, the TLS pump over a mio socket, certificate expiry.
//! - [`worker`]: the mio loop: connect, write, read, deadlines, retries.

pub mod dns;
pub mod http;
#[allow(unsafe_code)] // socket options and an uninitialised receive buffer (see its SAFETY notes)
pub mod icmp;
/// Kept here for the paths tests and tools use; it lives in [`crate::vocab`].
pub use crate::vocab::reason;
pub mod resolve;
#[allow(unsafe_code)] // the ring's slots (see its SAFETY notes)
pub mod ring;
pub mod tls;
pub mod worker;

use bytemuck::{Pod, Zeroable};

/// A check to run. Built by the engine, 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Request {
    pub monitor: u32,
    /// The monitor's check generation; echoed back so late results can be recognised.
    pub generation: u32,
    /// When the check was due, µs since the engine epoch.
    pub due_us: u64,
    /// When the check must be finished, µs since the engine epoch.
    pub deadline_us: u64,
}

/// A finished check. Built by a worker, 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct Completion {
    pub monitor: u32,
    pub generation: u32,
    /// Time from the first connect to the verdict, µs.
    pub latency_us: u32,
    /// Time from the due time to the worker starting the check, µs.
    pub lateness_us: u32,
    /// HTTP status (0 when none); for ICMP checks, the packet loss in percent.
    pub status: u16,
    /// [`reason::Reason`] as a byte.
    pub reason: u8,
    /// Attempts made (1 + retries used).
    pub attempts: u8,
    /// Whole days until the peer certificate expires (https, tls); `worker::NO_CERT` if none.
    pub cert_days: i32,
}

// The rings carry these by value, 64 Ki at a time: their size is a budget, checked here.
const _: () = assert!(std::mem::size_of::<Request>() == 24);
const _: () = assert!(std::mem::size_of::<Completion>() == 24);
