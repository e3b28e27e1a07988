//! The fair queue, libzmq's `fq`: one message from each peer in turn that has one queued
//! (PULL, DEALER, PAIR, ROUTER, REP, SUB, XSUB).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::peer::Peers;
use crate::pipe::{Notify, TryPop};
use crate::round_robin::RoundRobin;
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
    ///
    /// The ring's `find` is not used here: a message returned through its visit closure
    /// was copied at a new offset at each layer (`Visit`, then `Option<(position, _)>`),
    /// and those copies stalled on store forwarding (a tenth of the time per message at
    /// ipc 8 B). Written out, the pop inlines into the caller and the message moves once.
    #[inline(always)]
    pub(crate) fn try_recv(&mut self, peers: &mut Peers) -> Option<(Key, Message)> {
        for _ in 0..self.ring.len() {
            let key = self.ring.current()?;
            let Some(peer) = peers.get_mut(key) else {
                self.ring.remove_current();
                continue;
            };
            match peer.inbound.try_pop() {
                TryPop::Message(msg) => {
                    self.ring.skip();
                    return Some((key, msg));
                }
                TryPop::Empty => self.ring.skip(),
                TryPop::Finished => {
                    peers.note_dead(key);
                    self.ring.remove_current();
                }
            }
        }
        None
    }

    /// Like [`FairQueue::try_recv`], registering the waker when nothing is queued.
    #[inline(always)]
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
