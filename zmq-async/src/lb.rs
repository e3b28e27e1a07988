//! The load balancer, libzmq's `lb`: each message to the next peer in turn whose outbound
//! pipe has room (PUSH, DEALER, REQ, PAIR).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::peer::Peers;
use crate::pipe::{Notify, PushError};
use crate::round_robin::{RoundRobin, Visit};
use crate::slab::Key;

/// Round robin over the peers whose outbound pipe has room (PUSH, DEALER, REQ, PAIR).
#[derive(Debug, Default)]
pub(crate) struct LoadBalancer {
    ring: RoundRobin,
}

impl LoadBalancer {
    pub(crate) fn attach(&mut self, key: Key) {
        self.ring.attach(key);
    }

    pub(crate) fn detach(&mut self, key: Key) {
        self.ring.detach(key);
    }

    pub(crate) fn keys(&self) -> &[Key] {
        self.ring.keys()
    }

    /// The next peer in turn that can take a message, as `(position, key)`.
    pub(crate) fn ready_key(&mut self, peers: &mut Peers) -> Option<(usize, Key)> {
        self.ring.find(|key| match peers.get(key) {
            None => Visit::Remove,
            Some(peer) if peer.outbound.has_room() => Visit::Take(key),
            Some(peer) if peer.outbound.is_closed() => {
                peers.note_dead(key);
                Visit::Remove
            }
            Some(_) => Visit::Skip,
        })
    }

    /// Marks the peer at `position` as served; the next send goes to the one after it.
    pub(crate) fn sent(&mut self, position: usize) {
        self.ring.served(position);
    }

    /// Ready when some peer can take a message (waker registered otherwise).
    pub(crate) fn poll_ready(
        &mut self,
        peers: &mut Peers,
        writable: &Notify,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        writable.register(cx.waker());
        match self.ready_key(peers) {
            Some(_) => Poll::Ready(()),
            None => Poll::Pending,
        }
    }

    /// Sends the message in `slot` to the next peer with room; leaves it there if none.
    ///
    /// Tries before registering the waker: a send that succeeds (the common case) costs
    /// one pipe lock and no waker registration.
    pub(crate) fn poll_send(
        &mut self,
        peers: &mut Peers,
        writable: &Notify,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<()> {
        if self.try_send(peers, slot) {
            return Poll::Ready(());
        }
        // Nothing had room: register, then look again, so room that appeared in between is
        // not missed.
        writable.register(cx.waker());
        if self.try_send(peers, slot) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Pushes the message in `slot` to the next peer in turn that takes it (one lock per
    /// peer tried); `false`, with the message still in `slot`, when none had room.
    fn try_send(&mut self, peers: &mut Peers, slot: &mut Option<Message>) -> bool {
        let sent = self.ring.find(|key| {
            let Some(peer) = peers.get_mut(key) else {
                return Visit::Remove;
            };
            let Some(msg) = slot.take() else {
                return Visit::Take(());
            };
            match peer.outbound.try_push(msg) {
                Ok(()) => Visit::Take(()),
                Err(PushError::Full(msg)) => {
                    *slot = Some(msg);
                    Visit::Skip
                }
                Err(PushError::Closed(msg)) => {
                    *slot = Some(msg);
                    peers.note_dead(key);
                    Visit::Remove
                }
            }
        });
        match sent {
            Some((i, ())) => {
                self.sent(i);
                true
            }
            None => false,
        }
    }
}
