//! Which monitors of a shared configuration this instance runs (`--shard I/N`, `--replicas R`).
//!
//! Every instance loads and validates the whole file; the store keeps only the monitors of
//! its shard. A monitor's **primary shard** is Lamping and Veach's jump consistent hash of its
//! name's key into `N` buckets; with `R` replicas it is also run by the `R - 1` shards after
//! it (`primary + 1`, ... modulo `N`). So each monitor is run by exactly `R` instances, and
//! growing `N` by one moves only about `1/N` of the monitors.
//!
//! The key is part of cpra's contract, fixed across versions so that instances of different
//! versions agree: FNV-1a (64-bit) over the name's UTF-8 bytes, then `x ^= x >> 33;
//! x *= 0xff51afd7ed558ccd; x ^= x >> 33`. The tests pin it with known values.

/// This instance's part of the monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
    /// Instances that run each monitor (1 to `count`).
    pub replicas: u32,
}

/// Most shards (`N` of `--shard I/N`).
pub const SHARDS_MAX: u32 = 10_000;

impl Shard {
    /// `"I/N"` with `replicas`, checked: `I < N`, `1 <= R <= N`.
    pub fn parse(text: &str, replicas: u32) -> Result<Shard, String> {
        let usage = "--shard takes I/N, 0-based: --shard 0/3, --shard 1/3, --shard 2/3";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard {text:?}: {usage}"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: {usage}"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: {usage}"))?;
        if count == 0 || count > SHARDS_MAX {
            return Err(format!(
                "--shard {text:?}: N must be from 1 to {SHARDS_MAX}"
            ));
        }
        if index >= count {
            return Err(format!(
                "--shard {text:?}: I is 0-based, so it must be below N ({count}): {usage}"
            ));
        }
        if replicas == 0 || replicas > count {
            return Err(format!(
                "--replicas {replicas}: must be from 1 to the number of shards ({count})"
            ));
        }
        Ok(Shard {
            index,
            count,
            replicas,
        })
    }

    /// This instance runs `name`.
    pub fn runs(&self, name: &str) -> bool {
        let p = primary(name, self.count);
        (self.index + self.count - p) % self.count < self.replicas
    }

    /// The shards that run `name`, primary first.
    pub fn owners(name: &str, count: u32, replicas: u32) -> impl Iterator<Item = u32> {
        let p = primary(name, count.max(1));
        (0..replicas.min(count)).map(move |r| (p + r) % count.max(1))
    }
}

/// The stable key of a monitor's name (see the module doc).
pub fn key(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Jump consistent hash: the bucket of `key` among `buckets` (at least 1).
pub fn jump(mut key: u64, buckets: u32) -> u32 {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < i64::from(buckets.max(1)) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// The primary shard of `name` among `count`.
pub fn primary(name: &str, count: u32) -> u32 {
    jump(key(name), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_the_buckets_never_change() {
        // Pinned: instances of different versions must agree on who runs what.
        // (An independent implementation of the documented key and jump agrees: the
        // Python one-liner in docs/scale-out.md prints these.)
        assert_eq!(key(""), 0xecba_3df2_c338_3c52);
        assert_eq!(key("checkout-api"), 0x30c0_6c1f_1762_ae80);
        let pinned: Vec<u32> = ["checkout-api", "billing-db", "web-1", "m-0", "m-999999"]
            .iter()
            .map(|n| primary(n, 3))
            .collect();
        assert_eq!(pinned, PINNED_3);
        let pinned: Vec<u32> = ["checkout-api", "billing-db", "web-1", "m-0", "m-999999"]
            .iter()
            .map(|n| primary(n, 10))
            .collect();
        assert_eq!(pinned, PINNED_10);
        assert_eq!(jump(0, 1), 0);
        assert_eq!(jump(u64::MAX, 1), 0);
    }

    const PINNED_3: [u32; 5] = [1, 2, 2, 1, 0];
    const PINNED_10: [u32; 5] = [5, 2, 4, 3, 6];

    #[test]
    fn every_monitor_runs_on_exactly_r_shards() {
        for (n, r) in [(1, 1), (3, 1), (3, 2), (5, 3), (4, 4)] {
            let shards: Vec<Shard> = (0..n)
                .map(|i| Shard::parse(&format!("{i}/{n}"), r).unwrap())
                .collect();
            for m in 0..2000 {
                let name = format!("mon-{m}");
                let runs = shards.iter().filter(|s| s.runs(&name)).count();
                assert_eq!(runs, r as usize, "{name} with {n} shards, {r} replicas");
                let owners: Vec<u32> = Shard::owners(&name, n, r).collect();
                for s in &shards {
                    assert_eq!(s.runs(&name), owners.contains(&s.index));
                }
            }
        }
    }

    #[test]
    fn shards_are_balanced_and_growing_moves_few() {
        let names: Vec<String> = (0..30_000).map(|i| format!("m-{i}")).collect();
        let mut per = [0usize; 3];
        for n in &names {
            per[primary(n, 3) as usize] += 1;
        }
        for c in per {
            assert!((9_000..11_000).contains(&c), "{per:?}");
        }
        let moved = names
            .iter()
            .filter(|n| primary(n, 3) != primary(n, 4))
            .count();
        // About a quarter move to the new shard; none move between old ones.
        assert!((6_500..8_500).contains(&moved), "{moved}");
        assert!(
            names
                .iter()
                .all(|n| primary(n, 4) == 3 || primary(n, 4) == primary(n, 3))
        );
    }

    #[test]
    fn bad_shards_say_how_to_write_them() {
        assert!(Shard::parse("3/3", 1).unwrap_err().contains("0-based"));
        assert!(Shard::parse("1-3", 1).unwrap_err().contains("I/N"));
        assert!(Shard::parse("0/0", 1).is_err());
        assert!(Shard::parse("0/3", 4).unwrap_err().contains("--replicas"));
        assert!(Shard::parse("0/3", 0).is_err());
        assert_eq!(
            Shard::parse(" 2 / 3 ", 2),
            Ok(Shard {
                index: 2,
                count: 3,
                replicas: 2
            })
        );
    }
}
