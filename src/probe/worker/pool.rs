//! The keep-alive pool: idle connections per target (at most 64, 30 s old), handed to the next
//! check of their target, a cap on the connections open per target, and the checks waiting for
//! one when every connection is busy.
//!
//! `Pool` is the bookkeeping alone, over any connection type and with the time passed in, so it
//! is tested without sockets. An idle connection stays registered with epoll under its own
//! token (`tokens`): handing it to a check changes the token's owner, with no syscall.

use std::collections::VecDeque;
use std::time::SystemTime;

use mio::Token;
use rustc_hash::FxHashMap;

use super::Worker;
use super::http::Http;
use super::state::{Conn, ConnState};
use super::tls::Tls;
use super::tokens::Owner;
use crate::store::MonitorId;

use crate::limits::{
    KEEPALIVE_CONNS_PER_TARGET_MAX, KEEPALIVE_IDLE_MS_MAX, KEEPALIVE_IDLE_PER_TARGET_MAX,
};

/// An idle connection and when it went idle.
struct Parked<C> {
    conn: C,
    since_us: u64,
}

/// Keep-alive bookkeeping of one worker, by target id.
pub(super) struct Pool<C> {
    idle: FxHashMap<u32, Vec<Parked<C>>>,
    /// Connections open per target, in use or idle.
    open: FxHashMap<u32, u32>,
    /// Checks waiting for a connection, per target: (slot, check sequence).
    waiting: FxHashMap<u32, VecDeque<(u32, u32)>>,
}

impl<C> Default for Pool<C> {
    fn default() -> Self {
        Pool {
            idle: FxHashMap::default(),
            open: FxHashMap::default(),
            waiting: FxHashMap::default(),
        }
    }
}

impl<C> Pool<C> {
    /// Counts one more connection to `target` if the cap allows it.
    pub(super) fn admit(&mut self, target: u32) -> bool {
        let open = self.open.entry(target).or_insert(0);
        if *open >= KEEPALIVE_CONNS_PER_TARGET_MAX {
            return false;
        }
        *open += 1;
        true
    }

    /// A connection to `target` was closed.
    pub(super) fn closed(&mut self, target: u32) {
        let n = self.open.get_mut(&target);
        debug_assert!(
            n.as_ref().is_some_and(|n| **n > 0),
            "closing an uncounted connection"
        );
        if let Some(n) = n {
            *n = n.saturating_sub(1);
        }
    }

    /// The newest idle connection to `target` young enough to trust. Older ones are handed to
    /// `expired` (to be closed; they still count as open until `closed`).
    pub(super) fn take(
        &mut self,
        target: u32,
        now_us: u64,
        mut expired: impl FnMut(C),
    ) -> Option<C> {
        let list = self.idle.get_mut(&target)?;
        while let Some(p) = list.pop() {
            if now_us.saturating_sub(p.since_us) > KEEPALIVE_IDLE_MS_MAX * 1000 {
                expired(p.conn);
                continue;
            }
            return Some(p.conn);
        }
        None
    }

    /// Parks a connection that finished a check. `Err` gives it back when the target already
    /// has as many idle connections as allowed (to be closed).
    pub(super) fn park(&mut self, target: u32, conn: C, now_us: u64) -> Result<(), C> {
        let list = self.idle.entry(target).or_default();
        if list.len() >= KEEPALIVE_IDLE_PER_TARGET_MAX {
            return Err(conn);
        }
        list.push(Parked {
            conn,
            since_us: now_us,
        });
        Ok(())
    }

    /// Takes the idle connection to `target` that `is` picks out (one the server closed).
    pub(super) fn remove(&mut self, target: u32, is: impl Fn(&C) -> bool) -> Option<C> {
        let list = self.idle.get_mut(&target)?;
        let at = list.iter().position(|p| is(&p.conn))?;
        Some(list.swap_remove(at).conn)
    }

    /// The check in `slot` (sequence `seq`) waits for a connection to `target`.
    pub(super) fn wait(&mut self, target: u32, slot: u32, seq: u32) {
        self.waiting
            .entry(target)
            .or_default()
            .push_back((slot, seq));
    }

    /// The check for `target` that waited least, if any (it may have ended since: the caller
    /// checks the sequence). Newest first: when checks arrive faster than the target's
    /// connections come back, serving the oldest first makes every check wait until it has
    /// almost no time left, and nearly all of them time out; newest first keeps the
    /// connections doing checks that can still succeed, and only the excess waits out its
    /// deadline. When every waiting check is served in time, the order does not matter.
    pub(super) fn next_waiting(&mut self, target: u32) -> Option<(u32, u32)> {
        self.waiting.get_mut(&target)?.pop_back()
    }

    /// A check for `target` could go now: a connection is idle, or another may be opened.
    pub(super) fn has_room(&self, target: u32) -> bool {
        let open = self.open.get(&target).copied().unwrap_or(0);
        open < KEEPALIVE_CONNS_PER_TARGET_MAX
            || self.idle.get(&target).is_some_and(|l| !l.is_empty())
    }

    /// Idle connections, over every target.
    pub(super) fn idle_len(&self) -> usize {
        self.idle.values().map(Vec::len).sum()
    }

    /// Connections open to `target`, in use or idle.
    #[cfg(test)]
    pub(super) fn open(&self, target: u32) -> u32 {
        self.open.get(&target).copied().unwrap_or(0)
    }
}

/// A kept-alive connection waiting for the next check of its target, with its TLS session.
pub(super) enum Idle {
    Plain(Conn),
    Tls(Box<Tls>),
}

impl Idle {
    fn conn(&self) -> &Conn {
        match self {
            Idle::Plain(c) => c,
            Idle::Tls(t) => &t.conn,
        }
    }

    fn into_conn(self) -> Conn {
        match self {
            Idle::Plain(c) => c,
            Idle::Tls(t) => t.conn,
        }
    }
}

impl Worker {
    /// An idle connection to `target` for the check in `slot`, its token handed over.
    pub(super) fn take_idle(&mut self, target: u32, slot: u32, now: u64) -> Option<Idle> {
        let mut expired = 0;
        let tokens = &mut self.tokens;
        let idle = self.pool.take(target, now, |old| {
            // Too old to trust: closed.
            tokens.close(old.conn().token);
            expired += 1;
        });
        for _ in 0..expired {
            self.pool.closed(target);
        }
        let idle = idle?;
        self.tokens.set_owner(idle.conn().token, Owner::Slot(slot));
        self.stats.reused += 1;
        Some(idle)
    }

    /// Runs the attempt in `slot` on a kept-alive connection: the request goes out at once
    /// (a TLS session's handshake is behind it).
    pub(super) fn resume(&mut self, slot: u32, idle: Idle, now: u64) {
        let c = &mut self.slots[slot as usize];
        let spec = self.catalog.spec(MonitorId(c.req.monitor));
        let (state, step) = match idle {
            Idle::Plain(mut conn) => {
                conn.reused = true;
                let mut h = Http::new(conn);
                let step = h.reuse(&c.bufs);
                (ConnState::Http(h), step)
            }
            Idle::Tls(mut t) => {
                t.conn.reused = true;
                let wall = SystemTime::now();
                let step = t.reuse(c.kind, spec, &c.bufs.wbuf, wall, &mut c.cert_days);
                (ConnState::Tls(t), step)
            }
        };
        c.state = state;
        self.apply(slot, step, now);
    }

    /// A connection that finished a check cleanly waits for the next check of its target.
    pub(super) fn park(&mut self, mut idle: Idle, now: u64) {
        let conn = match &mut idle {
            Idle::Plain(c) => c,
            Idle::Tls(t) => &mut t.conn,
        };
        let Some(target) = conn.pooled else {
            debug_assert!(false, "parking a connection outside the pool");
            self.close(idle.into_conn(), now);
            return;
        };
        conn.reused = false;
        let token = conn.token;
        self.tokens.set_owner(token, Owner::Idle(target));
        match self.pool.park(target, idle, now) {
            // It came back: the next waiting check takes it.
            Ok(()) => self.pool_wakes.push(target),
            Err(idle) => self.close(idle.into_conn(), now),
        }
    }

    /// The server closed an idle connection (or it failed): closed now, not at its next use.
    pub(super) fn drop_idle(&mut self, target: u32, token: Token) {
        if let Some(idle) = self.pool.remove(target, |i| i.conn().token == token) {
            let now = self.now_us();
            self.close(idle.into_conn(), now);
        }
    }

    /// A keep-alive connection to `target` closed (or never opened): a waiting check may open
    /// one.
    pub(super) fn pool_place_freed(&mut self, target: u32, _now: u64) {
        self.pool.closed(target);
        self.pool_wakes.push(target);
    }

    /// Starts the checks waiting for a connection to a target that has one to give (idle, or
    /// room to open one), for every target that gave one back since the last call. Run from
    /// the loop, not from where the connection came back: a check that fails at once frees
    /// its place again, and waking the next from there would recurse through every waiter.
    pub(super) fn drain_pool_wakes(&mut self) {
        while let Some(target) = self.pool_wakes.pop() {
            let now = self.now_us();
            while self.pool.has_room(target) {
                let Some((slot, seq)) = self.pool.next_waiting(target) else {
                    break;
                };
                let c = &mut self.slots[slot as usize];
                if c.active && c.check_seq == seq && matches!(c.state, ConnState::PoolWait) {
                    c.state = ConnState::Idle;
                    self.begin_attempt(slot, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_holds_until_a_connection_closes() {
        let mut p: Pool<u32> = Pool::default();
        for _ in 0..KEEPALIVE_CONNS_PER_TARGET_MAX {
            assert!(p.admit(1));
        }
        assert!(!p.admit(1), "one over the cap");
        assert!(p.admit(2), "other targets are not affected");
        p.closed(1);
        assert!(p.admit(1));
        assert_eq!(p.open(1), KEEPALIVE_CONNS_PER_TARGET_MAX);
    }

    #[test]
    fn the_newest_idle_connection_goes_first_and_old_ones_are_closed() {
        let mut p: Pool<u32> = Pool::default();
        let idle_max_us = KEEPALIVE_IDLE_MS_MAX * 1000;
        p.park(1, 10, 0).expect("room");
        p.park(1, 11, 5).expect("room");
        p.park(1, 12, idle_max_us + 100).expect("room");
        let mut closed = Vec::new();
        let now = idle_max_us + 200;
        assert_eq!(p.take(1, now, |c| closed.push(c)), Some(12));
        assert_eq!(
            p.take(1, now, |c| closed.push(c)),
            None,
            "both others too old"
        );
        assert_eq!(closed, vec![11, 10]);
    }

    #[test]
    fn a_full_idle_list_gives_the_connection_back() {
        let mut p: Pool<usize> = Pool::default();
        for i in 0..KEEPALIVE_IDLE_PER_TARGET_MAX {
            p.park(3, i, 0).expect("room");
        }
        assert_eq!(p.park(3, 999, 0), Err(999));
    }

    #[test]
    fn an_idle_connection_the_server_closed_is_found_and_removed() {
        let mut p: Pool<u32> = Pool::default();
        p.park(1, 10, 0).expect("room");
        p.park(1, 11, 0).expect("room");
        assert_eq!(p.remove(1, |c| *c == 10), Some(10));
        assert_eq!(p.remove(1, |c| *c == 10), None);
        assert_eq!(p.take(1, 0, |_| panic!("none expired")), Some(11));
    }

    #[test]
    fn room_is_an_idle_connection_or_a_place_under_the_cap() {
        let mut p: Pool<u32> = Pool::default();
        assert!(p.has_room(1));
        for _ in 0..KEEPALIVE_CONNS_PER_TARGET_MAX {
            assert!(p.admit(1));
        }
        assert!(!p.has_room(1), "every connection busy");
        p.park(1, 10, 0).expect("room");
        assert!(p.has_room(1), "one came back");
        assert_eq!(p.take(1, 0, |_| {}), Some(10));
        assert!(!p.has_room(1));
        p.closed(1);
        assert!(p.has_room(1), "one closed");
    }

    #[test]
    fn the_newest_waiting_check_goes_first() {
        let mut p: Pool<u32> = Pool::default();
        p.wait(1, 4, 40);
        p.wait(1, 5, 50);
        assert_eq!(p.next_waiting(1), Some((5, 50)));
        assert_eq!(p.next_waiting(1), Some((4, 40)));
        assert_eq!(p.next_waiting(1), None);
    }
}
