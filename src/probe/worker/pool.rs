//! The keep-alive pool: idle connections per target (at most 64, 30 s old), handed to the
//! next check of their target, and the checks waiting for one when every connection is busy.

use super::*;

/// A kept-alive connection waiting for the next check of its target. It stays registered with
/// epoll under its last token: events for it then carry a socket sequence its old slot no
/// longer has (every socket a slot takes bumps the slot's sequence) and are ignored, and
/// reusing it costs one `reregister` instead of a deregister and a register.
pub(super) struct Idle {
    pub(super) stream: TcpStream,
    pub(super) tls: Option<rustls::ClientConnection>,
    pub(super) since_us: u64,
}

impl Worker {
    /// The slot's keep-alive connection is being closed: it no longer counts against its
    /// target's limit, and a waiting check may open one.
    pub(super) fn release_pooled(&mut self, slot: u32) {
        let c = &mut self.conns[slot as usize];
        if !c.pooled {
            return;
        }
        c.pooled = false;
        let target_id = self.catalog.target_of[c.req.monitor as usize];
        if let Some(n) = self.pool_open.get_mut(&target_id) {
            *n = n.saturating_sub(1);
        }
        self.wake_pool_waiter(target_id);
    }

    /// Starts the first still-waiting check for `target_id` (it takes an idle connection or
    /// opens one).
    pub(super) fn wake_pool_waiter(&mut self, target_id: u32) {
        while let Some((slot, seq)) = self
            .pool_wait
            .get_mut(&target_id)
            .and_then(|q| q.pop_front())
        {
            let c = &self.conns[slot as usize];
            if c.active && c.check_seq == seq && c.phase == Phase::PoolWait {
                self.begin_attempt(slot);
                return;
            }
        }
    }
}
