//! The fair queue, libzmq's `fq`: one message from each peer in turn that has one queued
//! (PULL, DEALER, PAIR, ROUTER, REP, SUB, XSUB).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::peer::Peers;
use crate::pipe::{Notify, TryPop};
use crate::round_robin::{RoundRobin, Visit};
use crate::slab::Key;

/// Round robin over the peers with a message queued (PULL, DEALER, ROUTER, SUB, REP, …).
///
/// One message per peer per turn, so five peers that each queued two
/// messages are read as 1,2,3,4,5,1,2,3,4,5 — not in arrival order.
#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    ring: RoundRobin,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, key: Key) {
        self.ring.attach(key);
    }

    pub(crate) fn detach(&mut self, key: Key) {
        self.ring.detach(key);
    }

    /// The next message in turn, with the peer it came from.
    #[inline]
    pub(crate) fn try_recv(&mut self, peers: &mut Peers) -> Option<(Key, Message)> {
        let (i, msg) = self.ring.find(|key| {
            let Some(peer) = peers.get_mut(key) else {
                return Visit::Remove;
            };
            match peer.inbound.try_pop() {
                TryPop::Message(msg) => Visit::Take((key, msg)),
                TryPop::Empty => Visit::Skip,
                TryPop::Finished => {
                    peers.note_dead(key);
                    Visit::Remove
                }
            }
        })?;
        self.ring.served(i);
        Some(msg)
    }

    /// Like [`FairQueue::try_recv`], registering the waker when nothing is queued.
    pub(crate) fn poll_recv(
        &mut self,
        peers: &mut Peers,
        readable: &Notify,
        cx: &mut Context<'_>,
    ) -> Poll<(Key, Message)> {
        // Look before registering the waker: a message already queued (the common case
        // under load) costs one pipe lock and no waker registration.
        if let Some(x) = self.try_recv(peers) {
            return Poll::Ready(x);
        }
        // Register, then look again, so a message that arrived in between is not missed.
        readable.register(cx.waker());
        match self.try_recv(peers) {
            Some(x) => Poll::Ready(x),
            None => Poll::Pending,
        }
    }
}
