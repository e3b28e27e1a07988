//! A ring of peers served in turn: what the load balancer and the fair queue share.

use crate::slab::Key;

/// A ring of peers served in turn: what load balancing and fair queueing share.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    keys: Vec<Key>,
    next: usize,
}

/// What a visit to one peer of a [`RoundRobin`] found.
pub(crate) enum Visit<T> {
    /// Serve this peer.
    Take(T),
    /// Not now; try the next one.
    Skip,
    /// The peer is gone: take it out of the ring.
    Remove,
}

impl RoundRobin {
    pub(crate) fn attach(&mut self, key: Key) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    pub(crate) fn detach(&mut self, key: Key) {
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            self.keys.remove(i);
            if i < self.next {
                self.next -= 1;
            }
        }
    }

    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Visits the peers in turn, from the current one, for at most one round, until `visit`
    /// takes one; returns its position and what `visit` took.
    #[inline]
    pub(crate) fn find<T>(&mut self, mut visit: impl FnMut(Key) -> Visit<T>) -> Option<(usize, T)> {
        for _ in 0..self.keys.len() {
            let key = self.current()?;
            let i = self.next;
            match visit(key) {
                Visit::Take(t) => return Some((i, t)),
                Visit::Skip => self.skip(),
                Visit::Remove => self.remove_current(),
            }
        }
        None
    }

    /// The number of peers in the ring.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The peer whose turn it is; `None` when the ring is empty.
    #[inline(always)]
    pub(crate) fn current(&mut self) -> Option<Key> {
        if self.next >= self.keys.len() {
            self.next = 0;
        }
        self.keys.get(self.next).copied()
    }

    /// Passes over the current peer: the turn moves to the next one.
    #[inline(always)]
    pub(crate) fn skip(&mut self) {
        self.next += 1;
    }

    /// Takes the current peer out of the ring; the turn moves to the one after it.
    #[inline(always)]
    pub(crate) fn remove_current(&mut self) {
        self.keys.remove(self.next);
    }

    /// The peer at `position` was served: the next turn starts after it.
    pub(crate) fn served(&mut self, position: usize) {
        self.next = position + 1;
    }
}
