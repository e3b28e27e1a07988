//! The routing table, libzmq's part of `router`: routing id ↔ peer, and the fair queue
//! over the peers that have one (ROUTER, and REP inside it).

use std::collections::HashMap;
use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::{Frame, Message};

use crate::fq::FairQueue;
use crate::peer::Peers;
use crate::pipe::{Notify, PushError};
use crate::random::random_u32;
use crate::slab::{Key, KeyMap};
use crate::{Error, Result};

/// The routing table shared by ROUTER and REP.
#[derive(Debug)]
pub(crate) struct RoutingTable {
    fq: FairQueue,
    by_id: HashMap<Bytes, Key>,
    /// Each peer's id as the frame put in front of its messages: inline (a copy, no
    /// reference count) for ids of up to `Frame::INLINE_CAPACITY` bytes.
    ids: KeyMap<Frame>,
    next_id: u32,
    /// REP never uses `router_mandatory`.
    routing_socket: bool,
}

impl RoutingTable {
    pub(crate) fn new(routing_socket: bool) -> Self {
        RoutingTable {
            fq: FairQueue::default(),
            by_id: HashMap::new(),
            ids: KeyMap::default(),
            next_id: random_u32(),
            routing_socket,
        }
    }

    /// libzmq's automatic routing id: `00` + big-endian u32 counter from a random start.
    fn auto_id(&mut self) -> Bytes {
        let mut id = Vec::with_capacity(5);
        id.push(0);
        id.extend_from_slice(&self.next_id.to_be_bytes());
        self.next_id = self.next_id.wrapping_add(1);
        Bytes::from(id)
    }

    /// Assigns the peer its routing id (at handshake), as libzmq's `identify_peer`. With
    /// `handover`, returns the peer that had the id before, for the caller to remove.
    #[must_use]
    pub(crate) fn identify(&mut self, peers: &Peers, handover: bool, key: Key) -> Option<Key> {
        let peer = peers.get(key)?;
        let aliased = peer.alias.is_some();
        let given = peer.alias.clone().or_else(|| {
            peer.info
                .as_ref()
                .and_then(|i| i.routing_id.clone())
                .filter(|id| !id.is_empty())
        });
        if let (Some(old), Some(new)) = (self.ids.get(key), given.as_ref()) {
            if old == new {
                return None; // reconnect with the same id
            }
        }
        if let Some(old) = self.ids.remove(key) {
            self.by_id.remove(&old[..]);
        }
        let mut handed_over = None;
        let id = match given {
            None => self.auto_id(),
            Some(id) => {
                if let Some(&other) = self.by_id.get(&id) {
                    if !handover || aliased {
                        // libzmq: ignore peers with a duplicate id; they stay
                        // connected but are never read from or routed to.
                        tracing::debug!(?id, "ignoring peer with duplicate routing id");
                        return None;
                    }
                    // Handover: the new peer takes the id; the old one leaves the map and
                    // the fair queue and is closed by the caller. libzmq first renames the
                    // old pipe with a generated id; we only use that id up, so later
                    // generated ids follow libzmq's sequence.
                    let _renamed = self.auto_id();
                    self.by_id.remove(&id);
                    self.ids.remove(other);
                    self.fq.detach(other);
                    handed_over = Some(other);
                }
                id
            }
        };
        self.ids.insert(key, Frame::copy_from_slice(&id));
        self.by_id.insert(id, key);
        self.fq.attach(key);
        handed_over
    }

    /// Whether `key` is routed to (has a routing id): an ignored duplicate is never read.
    pub(crate) fn reads_from(&self, key: Key) -> bool {
        self.ids.contains_key(key)
    }

    /// The peer routed to by `id`.
    pub(crate) fn key_of(&self, id: &[u8]) -> Option<Key> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn detached(&mut self, key: Key) {
        self.fq.detach(key);
        if let Some(id) = self.ids.remove(key) {
            if self.by_id.get(&id[..]) == Some(&key) {
                self.by_id.remove(&id[..]);
            }
        }
    }

    /// Next message and the routing id of its sender.
    pub(crate) fn poll_recv(
        &mut self,
        peers: &mut Peers,
        readable: &Notify,
        cx: &mut Context<'_>,
    ) -> Poll<(Key, Frame, Message)> {
        loop {
            let (key, msg) = futures::ready!(self.fq.poll_recv(peers, readable, cx));
            if let Some(id) = self.ids.get(key) {
                return Poll::Ready((key, id.clone(), msg));
            }
        }
    }

    /// Next message with its sender's routing id in front (ROUTER and STREAM receive).
    pub(crate) fn poll_recv_addressed(
        &mut self,
        peers: &mut Peers,
        readable: &Notify,
        cx: &mut Context<'_>,
    ) -> Poll<Message> {
        let (_, id, mut msg) = futures::ready!(self.poll_recv(peers, readable, cx));
        msg.push_front(id);
        Poll::Ready(msg)
    }

    /// Routes `slot` by its first frame (ROUTER send). With `router_mandatory` an unknown
    /// id is an error and a full peer makes the send wait.
    pub(crate) fn poll_route(
        &mut self,
        peers: &mut Peers,
        writable: &Notify,
        router_mandatory: bool,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let mandatory = self.routing_socket && router_mandatory;
        let Some(mut msg) = slot.take() else {
            return Poll::Ready(Ok(()));
        };
        if msg.len() < 2 {
            // libzmq silently ignores a routing id with nothing after it.
            return Poll::Ready(Ok(()));
        }
        let Some(id) = msg.pop_front() else {
            return Poll::Ready(Ok(()));
        };
        let peer = self
            .by_id
            .get(&id[..])
            .and_then(|k| peers.get_mut(*k).map(|p| (*k, p)));
        let Some((key, peer)) = peer else {
            return Poll::Ready(if mandatory {
                Err(Error::HostUnreachable)
            } else {
                Ok(())
            });
        };
        if mandatory {
            // Register before trying, so room appearing after the check wakes us.
            writable.register(cx.waker());
        }
        match peer.outbound.try_push(msg) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(PushError::Full(mut msg)) if mandatory => {
                msg.push_front(id);
                *slot = Some(msg);
                Poll::Pending
            }
            Err(PushError::Full(_)) => {
                peers.note_hwm_drop();
                Poll::Ready(Ok(()))
            }
            Err(PushError::Closed(_)) => {
                peers.note_dead(key);
                Poll::Ready(if mandatory {
                    Err(Error::HostUnreachable)
                } else {
                    Ok(())
                })
            }
        }
    }
}
