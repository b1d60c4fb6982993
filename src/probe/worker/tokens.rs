//! The worker's token space: one entry per open socket, not per slot.
//!
//! A socket is registered with epoll once, under the token of its entry, for its whole life.
//! The entry says who owns the socket now: the check in a slot, or the keep-alive pool (an
//! idle connection of a target). Handing a kept-alive connection to the next check of its
//! target changes the owner here, with no `epoll_ctl`; an event for an idle connection is seen
//! as such (a hang-up closes it at once instead of at its next use).
//!
//! A token is `(seq << 32) | index`. Closing a socket frees its entry and bumps its sequence,
//! so an event that was already queued for a closed socket, or for an earlier socket whose
//! entry was reused, carries an old sequence and is ignored.

use mio::Token;

use crate::limits::PROBE_SOCKETS_PER_WORKER_MAX;

/// Who owns an open socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// The check in this slot.
    Slot(u32),
    /// Idle in the keep-alive pool of this target.
    Idle(u32),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u32,
    owner: Option<Owner>,
}

/// The table behind the tokens of one worker's sockets.
#[derive(Debug, Default)]
pub(super) struct Tokens {
    entries: Vec<Entry>,
    free: Vec<u32>,
    open: usize,
}

// The worker's own tokens (waker, ICMP sockets) sit at the top of the token range: entry
// indexes stay far below them.
const _: () = assert!(PROBE_SOCKETS_PER_WORKER_MAX < (u32::MAX - 16) as usize);

impl Tokens {
    /// A token for a new socket owned by `owner`. `None` when the worker already holds
    /// `PROBE_SOCKETS_PER_WORKER_MAX` sockets.
    pub(super) fn open(&mut self, owner: Owner) -> Option<Token> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                if self.entries.len() >= PROBE_SOCKETS_PER_WORKER_MAX {
                    return None;
                }
                self.entries.push(Entry {
                    seq: 0,
                    owner: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let e = &mut self.entries[index as usize];
        assert!(e.owner.is_none(), "a free token entry has an owner");
        e.owner = Some(owner);
        self.open += 1;
        Some(Token(((e.seq as usize) << 32) | index as usize))
    }

    /// The socket behind `token` is closed: its entry is free, and events still queued for it
    /// are ignored from now on.
    pub(super) fn close(&mut self, token: Token) {
        let Some(e) = self.entry_mut(token) else {
            debug_assert!(false, "closing a token that is not open");
            return;
        };
        e.owner = None;
        e.seq = e.seq.wrapping_add(1);
        self.open -= 1;
        self.free.push(index_of(token));
    }

    /// Who owns the socket behind `token`, `None` for a socket already closed.
    pub(super) fn owner(&self, token: Token) -> Option<Owner> {
        let e = self.entries.get(index_of(token) as usize)?;
        if e.seq != seq_of(token) {
            return None;
        }
        e.owner
    }

    /// Hands the open socket behind `token` to `owner`.
    pub(super) fn set_owner(&mut self, token: Token, owner: Owner) {
        let e = self.entry_mut(token);
        assert!(e.is_some(), "a new owner for a socket that is not open");
        if let Some(e) = e {
            e.owner = Some(owner);
        }
    }

    /// Sockets open now.
    pub(super) fn open_count(&self) -> usize {
        self.open
    }

    fn entry_mut(&mut self, token: Token) -> Option<&mut Entry> {
        let e = self.entries.get_mut(index_of(token) as usize)?;
        (e.seq == seq_of(token) && e.owner.is_some()).then_some(e)
    }
}

fn index_of(token: Token) -> u32 {
    (token.0 & 0xffff_ffff) as u32
}

fn seq_of(token: Token) -> u32 {
    (token.0 >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_token_names_its_owner_until_closed() {
        let mut t = Tokens::default();
        let a = t.open(Owner::Slot(3)).expect("room");
        let b = t.open(Owner::Slot(4)).expect("room");
        assert_ne!(a, b);
        assert_eq!(t.owner(a), Some(Owner::Slot(3)));
        assert_eq!(t.owner(b), Some(Owner::Slot(4)));
        assert_eq!(t.open_count(), 2);
        t.close(a);
        assert_eq!(t.owner(a), None);
        assert_eq!(t.open_count(), 1);
    }

    #[test]
    fn a_reused_entry_does_not_answer_to_the_old_token() {
        let mut t = Tokens::default();
        let old = t.open(Owner::Slot(1)).expect("room");
        t.close(old);
        let new = t.open(Owner::Slot(2)).expect("room");
        // Same entry, new sequence: a late event for the old socket is not the new one's.
        assert_eq!(index_of(old), index_of(new));
        assert_ne!(old, new);
        assert_eq!(t.owner(old), None);
        assert_eq!(t.owner(new), Some(Owner::Slot(2)));
    }

    #[test]
    fn handing_a_socket_over_keeps_its_token() {
        let mut t = Tokens::default();
        let tok = t.open(Owner::Slot(7)).expect("room");
        t.set_owner(tok, Owner::Idle(42));
        assert_eq!(t.owner(tok), Some(Owner::Idle(42)));
        t.set_owner(tok, Owner::Slot(9));
        assert_eq!(t.owner(tok), Some(Owner::Slot(9)));
    }

    #[test]
    fn tokens_never_reach_the_worker_s_own() {
        let mut t = Tokens::default();
        let mut last = Token(0);
        for i in 0..1000 {
            last = t.open(Owner::Slot(i)).expect("room");
        }
        assert!(last.0 < usize::MAX - 16);
        assert_eq!(t.owner(Token(usize::MAX - 1)), None);
    }
}
