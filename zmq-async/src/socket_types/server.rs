//! SERVER (RFC 41) and PEER (RFC 51): fair-queue in, each message stamped with its
//! sender's routing id; out to the peer the message's routing id names.
//!
//! As libzmq's `server_t`, the socket gives every peer a routing id of its own when it
//! attaches (a `u32` counter from a random start, never 0), whatever the peer announced.
//! A send to an id no peer has fails with [`Error::HostUnreachable`]; to a peer at its
//! HWM it waits. PEER is SERVER with `connect_peer`, which returns the id the new peer got
//! (see `ThreadSafeSocket::connect_peer`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::fq::FairQueue;
use crate::pipe::PushError;
use crate::random::random_u32;
use crate::slab::{Key, KeyMap};
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

#[derive(Debug)]
pub(crate) struct Server {
    fq: FairQueue,
    by_id: HashMap<NonZeroU32, Key>,
    ids: KeyMap<NonZeroU32>,
    next_id: u32,
}

impl Server {
    pub(crate) fn new() -> Self {
        Server {
            fq: FairQueue::default(),
            by_id: HashMap::new(),
            ids: KeyMap::default(),
            next_id: random_u32(),
        }
    }

    /// The next routing id no peer has (0 is never one; nor is an id still in use after
    /// the counter wrapped).
    fn next_free_id(&mut self) -> NonZeroU32 {
        loop {
            let candidate = NonZeroU32::new(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            if let Some(id) = candidate.filter(|id| !self.by_id.contains_key(id)) {
                return id;
            }
        }
    }
}

impl Protocol for Server {
    fn fq(&mut self) -> Option<&mut FairQueue> {
        Some(&mut self.fq)
    }
    fn attached(&mut self, _base: &mut SocketBase, key: Key) {
        let id = self.next_free_id();
        self.by_id.insert(id, key);
        self.ids.insert(key, id);
        self.fq.attach(key);
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        self.fq.detach(key);
        if let Some(id) = self.ids.remove(key) {
            self.by_id.remove(&id);
        }
    }
    fn routing_id(&self, key: Key) -> Option<NonZeroU32> {
        self.ids.get(key).copied()
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // As libzmq: always writable; whether a message can go depends on its peer.
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        // Unless it goes, the message stays in `slot`: a failed `try_send` hands it back.
        let Some(id) = slot.as_ref().and_then(Message::routing_id) else {
            return Poll::Ready(Err(Error::HostUnreachable));
        };
        let Some((key, peer)) = self
            .by_id
            .get(&id)
            .and_then(|&k| base.peers.get_mut(k).map(|p| (k, p)))
        else {
            return Poll::Ready(Err(Error::HostUnreachable));
        };
        let Some(mut msg) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        // The message may go to an inproc peer as it is: it carries no id there.
        msg.set_routing_id(None);
        let mut registered = false;
        loop {
            match peer.outbound.try_push(msg) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(PushError::Full(back)) if !registered => {
                    // Register, then try again, so room made in between is not missed.
                    base.shared.writable.register(cx.waker());
                    registered = true;
                    msg = back;
                }
                Err(PushError::Full(mut back)) => {
                    back.set_routing_id(Some(id));
                    *slot = Some(back);
                    return Poll::Pending;
                }
                Err(PushError::Closed(mut back)) => {
                    back.set_routing_id(Some(id));
                    *slot = Some(back);
                    base.peers.note_dead(key);
                    return Poll::Ready(Err(Error::HostUnreachable));
                }
            }
        }
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        loop {
            let (key, mut msg) =
                futures::ready!(self
                    .fq
                    .poll_recv(&mut base.peers, &base.shared.readable, cx));
            // Every peer in the fair queue has an id; the check keeps a slip from panicking.
            if let Some(&id) = self.ids.get(key) {
                msg.set_routing_id(Some(id));
                return Poll::Ready(Ok(msg));
            }
        }
    }
}
