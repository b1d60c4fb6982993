//! The words every stage shares: monitor ids, why a check ended ([`Reason`]), the colours of
//! codes ([`Colour`]), and the hashes names are keyed by.
//!
//! The bottom of the module graph: it depends on nothing else in cpra, and every pipeline may
//! use it, so that the pure `lifecycle` needs no other module for its vocabulary and no stage
//! reaches downstream for a type (docs/architecture.md, "Module graph").

mod colour;
mod hash;
pub mod reason;

pub use colour::Colour;
pub use hash::{mix64, name_hash};
pub use reason::Reason;

use bytemuck::{Pod, Zeroable};

/// A monitor's dense index into every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Pod, Zeroable)]
#[repr(transparent)]
pub struct MonitorId(pub u32);

/// No intervention / no codes / no monitor.
pub const NONE: u32 = u32::MAX;

/// The name the circuit breaker's codes carry in the `monitor` field.
pub const BREAKER_MONITOR: &str = "cpra:interventions";
