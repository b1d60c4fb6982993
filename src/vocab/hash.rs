//! The hashes cpra keys things by. Both are pinned: a monitor's first-check phase
//! (`store::first_due_ms`) and every other stable key depend on them not changing.

use std::hash::{Hash, Hasher};

/// A stable 64-bit hash of a monitor's name (FNV-1a): spreads first checks over the interval
/// the same way on every run.
pub fn name_hash(name: &str) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    name.hash(&mut h);
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        // Final avalanche so nearby names land far apart.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// splitmix64.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
