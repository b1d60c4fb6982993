//! The mock fleet's model, shared by the load tools: which behaviour each target id has, where
//! it listens, and whether it is failing at a given time (the ground truth).
//!
//! `mockfleet` serves it, `genmonitors` writes monitors against it, `loadtest` judges cpra's
//! codes against it. Keeping the model in one pure module means the three agree by
//! construction: a behaviour is a deterministic function of (seed, mix, id), and a flapping
//! target's phase is a function of wall-clock time, so separate processes need no channel to
//! agree on what was failing when.

use std::net::Ipv4Addr;
use std::time::Duration;

/// How a target behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// 200 with a small JSON body.
    Healthy,
    /// 500 Internal Server Error.
    Status500,
    /// 503 Service Unavailable.
    Status503,
    /// Answers 200 after `slow_ms` (healthy when that is under the monitors' timeout).
    Slow,
    /// Accepts and never answers.
    Hang,
    /// Nothing listens: the monitor points at a closed port.
    Refused,
    /// Sends part of the head, then RST.
    Reset,
    /// Healthy and 503 in turn, `flap_period_ms` each.
    Flapping,
    /// Sends its head one byte every `trickle_byte_ms`.
    Trickle,
    /// 200 with a body of `huge_bytes`.
    HugeBody,
    /// Binary garbage, then close.
    Garbage,
}

impl Behaviour {
    pub const ALL: [Behaviour; 11] = [
        Behaviour::Healthy,
        Behaviour::Status500,
        Behaviour::Status503,
        Behaviour::Slow,
        Behaviour::Hang,
        Behaviour::Refused,
        Behaviour::Reset,
        Behaviour::Flapping,
        Behaviour::Trickle,
        Behaviour::HugeBody,
        Behaviour::Garbage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Healthy => "healthy",
            Behaviour::Status500 => "500",
            Behaviour::Status503 => "503",
            Behaviour::Slow => "slow",
            Behaviour::Hang => "hang",
            Behaviour::Refused => "refused",
            Behaviour::Reset => "reset",
            Behaviour::Flapping => "flapping",
            Behaviour::Trickle => "trickle",
            Behaviour::HugeBody => "huge",
            Behaviour::Garbage => "garbage",
        }
    }

    pub fn from_name(s: &str) -> Option<Behaviour> {
        Behaviour::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// The fleet: targets, their behaviours and timings. Identical flags in every tool give the
/// identical fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub seed: u64,
    /// Behaviour weights; any positive numbers.
    pub mix: Vec<(Behaviour, f64)>,
    /// Loopback addresses served: 127.0.0.1 .. 127.0.0.hosts (then 127.0.1.x, ...).
    pub hosts: u32,
    pub port_base: u16,
    /// Ports per address: port_base .. port_base + ports - 1.
    pub ports: u16,
    pub slow_ms: u64,
    pub flap_period_ms: u64,
    pub trickle_byte_ms: u64,
    pub huge_bytes: u64,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            seed: 1,
            mix: vec![(Behaviour::Healthy, 1.0)],
            hosts: 1,
            port_base: 18000,
            ports: 1,
            slow_ms: 100,
            flap_period_ms: 30_000,
            trickle_byte_ms: 200,
            huge_bytes: 8 << 20,
        }
    }
}

pub use crate::vocab::mix64;

/// A deterministic yes/no with probability `share` for item `id` (salted), the same in every
/// tool: genmonitors uses it to decide which monitors get an exec intervention or are TCP,
/// loadtest to know which did.
pub fn share_pick(seed: u64, id: u64, salt: u64, share: f64) -> bool {
    let u = (mix64(seed ^ mix64(id ^ salt)) >> 11) as f64 / (1u64 << 53) as f64;
    u < share
}

/// Salt for the TCP share in [`share_pick`].
pub const SALT_TCP: u64 = 1;
/// Salt for the exec-intervention share in [`share_pick`].
pub const SALT_EXEC: u64 = 2;
/// Salt for the ICMP share in [`share_pick`].
pub const SALT_ICMP: u64 = 3;

/// What kind of check a generated monitor runs against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckType {
    Http,
    Tcp,
    Icmp,
}

/// The check type of monitor `id` for the given shares (ICMP decided first, then TCP), the
/// same in genmonitors and loadtest.
pub fn check_type(seed: u64, id: u64, tcp_share: f64, icmp_share: f64) -> CheckType {
    if share_pick(seed, id, SALT_ICMP, icmp_share) {
        CheckType::Icmp
    } else if share_pick(seed, id, SALT_TCP, tcp_share) {
        CheckType::Tcp
    } else {
        CheckType::Http
    }
}

/// Parses a mix like `healthy=90,500=2,hang=1,flapping=1`.
pub fn parse_mix(s: &str) -> Result<Vec<(Behaviour, f64)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| format!("mix entry {part:?}: expected name=weight"))?;
        let b = Behaviour::from_name(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Behaviour::ALL.iter().map(|b| b.name()).collect();
            format!("unknown behaviour {name:?}; known: {}", names.join(", "))
        })?;
        let w: f64 = w
            .trim()
            .parse()
            .map_err(|_| format!("mix entry {part:?}: weight is not a number"))?;
        if !(w >= 0.0 && w.is_finite()) {
            return Err(format!("mix entry {part:?}: weight must be >= 0"));
        }
        out.push((b, w));
    }
    if out.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
        return Err("the mix needs at least one positive weight".into());
    }
    Ok(out)
}

impl Fleet {
    /// The behaviour of target `id` (before any run-time override).
    pub fn behaviour_of(&self, id: u64) -> Behaviour {
        let total: f64 = self.mix.iter().map(|(_, w)| w).sum();
        let u = (mix64(self.seed ^ mix64(id)) >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut acc = 0.0;
        for (b, w) in &self.mix {
            acc += w;
            if u < acc {
                return *b;
            }
        }
        self.mix.last().map_or(Behaviour::Healthy, |(b, _)| *b)
    }

    /// Number of listening (address, port) pairs.
    pub fn listeners(&self) -> u64 {
        u64::from(self.hosts) * u64::from(self.ports)
    }

    /// The i-th listening address.
    pub fn listener(&self, i: u64) -> (Ipv4Addr, u16) {
        let ports = u64::from(self.ports.max(1));
        let host = (i / ports) as u32;
        let base = u32::from(Ipv4Addr::new(127, 0, 0, 1));
        (
            Ipv4Addr::from(base + host),
            self.port_base + (i % ports) as u16,
        )
    }

    /// Where monitor/target `id` is reached. Refused targets get a port nobody listens on
    /// (one past the served range).
    pub fn address_of(&self, id: u64) -> (Ipv4Addr, u16) {
        let (ip, port) = self.listener(id % self.listeners().max(1));
        if self.behaviour_of(id) == Behaviour::Refused {
            (ip, self.port_base + self.ports)
        } else {
            (ip, port)
        }
    }

    /// Is a flapping target `id` in its failing half at `unix_ms`?
    pub fn flap_failing(&self, id: u64, unix_ms: u64) -> bool {
        let p = self.flap_period_ms.max(1);
        let phase = mix64(self.seed ^ 0xF1A9 ^ id) % (2 * p);
        ((unix_ms + phase) / p) % 2 == 1
    }

    /// When a flapping target `id` next changes state after `unix_ms`.
    pub fn flap_next_change(&self, id: u64, unix_ms: u64) -> u64 {
        let p = self.flap_period_ms.max(1);
        let phase = mix64(self.seed ^ 0xF1A9 ^ id) % (2 * p);
        ((unix_ms + phase) / p + 1) * p - phase
    }

    /// Ground truth for a check of type `t`: HTTP sees every behaviour; a TCP connect fails
    /// only where nothing listens; an ICMP echo to a loopback address is always answered.
    pub fn failing_as(
        &self,
        t: CheckType,
        id: u64,
        b: Behaviour,
        unix_ms: u64,
        timeout: Duration,
    ) -> bool {
        match t {
            CheckType::Http => self.failing(id, b, unix_ms, timeout),
            CheckType::Tcp => b == Behaviour::Refused,
            CheckType::Icmp => false,
        }
    }

    /// Ground truth: would a check of `b` with `timeout` fail at `unix_ms`? (`body_contains`
    /// is not used by generated monitors, so a huge body is healthy.)
    pub fn failing(&self, id: u64, b: Behaviour, unix_ms: u64, timeout: Duration) -> bool {
        let timeout_ms = timeout.as_millis() as u64;
        match b {
            Behaviour::Healthy | Behaviour::HugeBody => false,
            Behaviour::Slow => self.slow_ms >= timeout_ms,
            // ~40 head bytes, one per trickle_byte_ms.
            Behaviour::Trickle => 40 * self.trickle_byte_ms >= timeout_ms,
            Behaviour::Flapping => self.flap_failing(id, unix_ms),
            Behaviour::Status500
            | Behaviour::Status503
            | Behaviour::Hang
            | Behaviour::Refused
            | Behaviour::Reset
            | Behaviour::Garbage => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_followed_and_deterministic() {
        let f = Fleet {
            mix: parse_mix("healthy=90,500=5,hang=5").unwrap(),
            ..Fleet::default()
        };
        let mut counts = std::collections::HashMap::new();
        for id in 0..100_000 {
            *counts.entry(f.behaviour_of(id)).or_insert(0u32) += 1;
        }
        let healthy = counts[&Behaviour::Healthy];
        assert!((89_000..91_000).contains(&healthy), "{healthy}");
        assert_eq!(f.behaviour_of(42), f.clone().behaviour_of(42));
        assert!(parse_mix("nope=1").is_err());
        assert!(parse_mix("healthy=0").is_err());
    }

    #[test]
    fn addresses_spread_and_refused_go_nowhere() {
        let f = Fleet {
            hosts: 4,
            ports: 10,
            mix: parse_mix("healthy=1,refused=1").unwrap(),
            ..Fleet::default()
        };
        for id in 0..1000 {
            let (ip, port) = f.address_of(id);
            assert!(ip.octets()[0] == 127 && ip.octets()[3] <= 4);
            if f.behaviour_of(id) == Behaviour::Refused {
                assert_eq!(port, 18010);
            } else {
                assert!((18000..18010).contains(&port));
            }
        }
    }

    #[test]
    fn flapping_alternates() {
        let f = Fleet {
            flap_period_ms: 1000,
            ..Fleet::default()
        };
        let t = 1_000_000u64;
        let a = f.flap_failing(7, t);
        let next = f.flap_next_change(7, t);
        assert!(next > t && next <= t + 1000);
        assert_eq!(f.flap_failing(7, next - 1), a);
        assert_eq!(f.flap_failing(7, next), !a);
    }
}
