//! Why a check ended the way it did: one fixed list, one byte per result.
//!
//! Every completion carries a [`Reason`]; the summary counts them, events and log lines name
//! them. The list is closed on purpose: an operator can alert on `refused` versus `timeout`
//! only if the words never change.

/// The reason a check ended. `Ok` is the only success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    Ok = 0,
    /// No answer before the check's timeout.
    Timeout = 1,
    /// The target actively refused the connection (RST to our SYN).
    Refused = 2,
    /// The connection was reset or broken after it was established.
    Reset = 3,
    /// The target's name did not resolve.
    Dns = 4,
    /// TLS handshake or certificate verification failed.
    Tls = 5,
    /// The certificate expires within `cert_expiry_warning`.
    CertExpiring = 6,
    /// An HTTP status outside `expected_status`.
    Status = 7,
    /// `body_contains` not found in the body.
    Body = 8,
    /// Answered, but later than `max_response_time`.
    Slow = 9,
    /// No ICMP echo reply.
    IcmpLoss = 10,
    /// The target spoke, but not valid HTTP (garbage, oversized headers, closed early).
    Protocol = 11,
    /// Connecting failed for another network reason (unreachable, no route).
    Connect = 12,
    /// The worker never reported; the engine gave up at the deadline plus a grace period.
    Lost = 13,
    /// cpra could not run the check for a reason of its own (out of file descriptors).
    /// Neither a success nor a failure of the target: the lifecycle ignores it.
    Local = 14,
}

impl Reason {
    pub const COUNT: usize = 15;

    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::Ok,
        Reason::Timeout,
        Reason::Refused,
        Reason::Reset,
        Reason::Dns,
        Reason::Tls,
        Reason::CertExpiring,
        Reason::Status,
        Reason::Body,
        Reason::Slow,
        Reason::IcmpLoss,
        Reason::Protocol,
        Reason::Connect,
        Reason::Lost,
        Reason::Local,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Timeout => "timeout",
            Reason::Refused => "refused",
            Reason::Reset => "reset",
            Reason::Dns => "dns",
            Reason::Tls => "tls",
            Reason::CertExpiring => "cert_expiring",
            Reason::Status => "status",
            Reason::Body => "body",
            Reason::Slow => "slow",
            Reason::IcmpLoss => "icmp_loss",
            Reason::Protocol => "protocol",
            Reason::Connect => "connect",
            Reason::Lost => "lost",
            Reason::Local => "local",
        }
    }

    pub fn from_name(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|v| v.name() == s)
    }

    pub fn from_u8(v: u8) -> Reason {
        Reason::ALL
            .get(v as usize)
            .copied()
            .unwrap_or(Reason::Protocol)
    }

    pub fn is_ok(self) -> bool {
        self == Reason::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_u8(r as u8), r);
        }
        assert_eq!(Reason::from_u8(200), Reason::Protocol);
    }
}
