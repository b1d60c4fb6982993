//! TCP: opening a check's connection, and the `Connecting` state's one decision, whether the
//! connect succeeded. A tcp check ends there; every other stream protocol starts there.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use super::stream::io_reason;
use crate::vocab::Reason;

/// Opens a non-blocking socket, sets linger 0 (closing never leaves our side in TIME_WAIT) and
/// starts connecting.
pub(super) fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_linger(Some(Duration::ZERO))?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// What a connecting socket can be asked.
pub(super) trait Connecting {
    /// The pending socket error (`SO_ERROR`).
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// The peer's address: fails `NotConnected` for a socket that never connected.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
}

impl Connecting for TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        TcpStream::take_error(self)
    }
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }
}

/// Why a connect failed, `None` when it succeeded. Registered edge-triggered for both
/// directions, a connecting socket reports only once it is connected (writable) or failed
/// (error or hang-up flags, `trouble`): a clean event means connected with no syscall, and only
/// a troubled one asks the socket what went wrong.
pub(super) fn connect_failure<C: Connecting>(sock: &C, trouble: bool) -> Option<Reason> {
    if !trouble {
        return None;
    }
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => Some(io_reason(&e)),
        // No pending error: connected, and the peer may already have answered and closed (its
        // bytes are still ours to read), unless it never connected.
        Ok(None) => match sock.peer_addr() {
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Some(Reason::Refused),
            Err(e) => Some(io_reason(&e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        pending: Option<io::ErrorKind>,
        connected: bool,
    }

    impl Connecting for Probe {
        fn take_error(&self) -> io::Result<Option<io::Error>> {
            Ok(self.pending.map(io::Error::from))
        }
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            if self.connected {
                Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
            } else {
                Err(io::ErrorKind::NotConnected.into())
            }
        }
    }

    #[test]
    fn a_clean_event_is_a_connection() {
        let s = Probe {
            pending: Some(io::ErrorKind::ConnectionRefused),
            connected: false,
        };
        // Not even asked: a clean event is trusted.
        assert_eq!(connect_failure(&s, false), None);
    }

    #[test]
    fn a_troubled_event_reports_the_pending_error() {
        let s = Probe {
            pending: Some(io::ErrorKind::ConnectionRefused),
            connected: false,
        };
        assert_eq!(connect_failure(&s, true), Some(Reason::Refused));
        let s = Probe {
            pending: Some(io::ErrorKind::TimedOut),
            connected: false,
        };
        assert_eq!(connect_failure(&s, true), Some(Reason::Timeout));
    }

    #[test]
    fn a_hang_up_after_connecting_is_still_a_connection() {
        let s = Probe {
            pending: None,
            connected: true,
        };
        assert_eq!(connect_failure(&s, true), None);
    }

    #[test]
    fn a_hang_up_that_never_connected_is_refused() {
        let s = Probe {
            pending: None,
            connected: false,
        };
        assert_eq!(connect_failure(&s, true), Some(Reason::Refused));
    }
}
