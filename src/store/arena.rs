//! An append-only string arena: every name and URL path of a million monitors in one buffer.
//!
//! A `String` per monitor would be a heap object (24 bytes of header plus an allocation with its
//! own overhead) for each of a million names and a million paths. Here they are bytes in one
//! `String` and a monitor holds an 8-byte [`StrRef`]. The arena is written while loading and
//! read-only afterwards, so it is shared with the probe workers behind an `Arc` without locks.

use bytemuck::{Pod, Zeroable};

/// A string inside an [`Arena`]: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct StrRef {
    pub offset: u32,
    pub len: u32,
}

#[derive(Debug, Default)]
pub struct Arena {
    buf: String,
}

impl Arena {
    pub fn new() -> Arena {
        Arena::default()
    }

    /// Appends `s`; `None` when the arena would pass 4 GiB (a u32 offset).
    pub fn push(&mut self, s: &str) -> Option<StrRef> {
        let offset = u32::try_from(self.buf.len()).ok()?;
        let len = u32::try_from(s.len()).ok()?;
        offset.checked_add(len)?;
        self.buf.push_str(s);
        Some(StrRef { offset, len })
    }

    /// The string behind `r`. `r` must come from this arena's `push`.
    pub fn get(&self, r: StrRef) -> &str {
        let start = r.offset as usize;
        self.buf.get(start..start + r.len as usize).unwrap_or("")
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut a = Arena::new();
        let x = a.push("checkout-api").unwrap();
        let e = a.push("").unwrap();
        let y = a.push("/health?x=1").unwrap();
        assert_eq!(a.get(x), "checkout-api");
        assert_eq!(a.get(e), "");
        assert_eq!(a.get(y), "/health?x=1");
        assert_eq!(a.bytes(), 23);
    }
}
