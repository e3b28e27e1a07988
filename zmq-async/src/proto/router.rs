//! ROUTER (identity routing + fair queue, RFC 28) and REP (ROUTER + envelope).

use std::collections::HashMap;
use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::Message;

use super::Protocol;
use crate::slab::Key;
use crate::socket_base::{FairQueue, SocketBase};
use crate::{Error, Result};

/// The identity map shared by ROUTER and REP.
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) fq: FairQueue,
    by_id: HashMap<Bytes, Key>,
    ids: HashMap<Key, Bytes>,
    next_id: u32,
    /// REP never uses `router_mandatory`.
    routing_socket: bool,
}

impl Router {
    pub(crate) fn new(routing_socket: bool) -> Self {
        Router {
            fq: FairQueue::default(),
            by_id: HashMap::new(),
            ids: HashMap::new(),
            next_id: super::random_u32(),
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

    /// Assigns the peer its routing id (at handshake), as libzmq's `identify_peer`.
    pub(crate) fn identify(&mut self, base: &mut SocketBase, key: Key) {
        let Some(peer) = base.peers.get(key) else {
            return;
        };
        let aliased = peer.alias.is_some();
        let given = peer.alias.clone().or_else(|| {
            peer.info
                .as_ref()
                .and_then(|i| i.routing_id.clone())
                .filter(|id| !id.is_empty())
        });
        if let (Some(old), Some(new)) = (self.ids.get(&key), given.as_ref()) {
            if old == new {
                return; // reconnect with the same id
            }
        }
        if let Some(old) = self.ids.remove(&key) {
            self.by_id.remove(&old);
        }
        let id = match given {
            None => self.auto_id(),
            Some(id) => {
                if let Some(&other) = self.by_id.get(&id) {
                    if !base.options.router_handover || aliased {
                        // libzmq: ignore peers with a duplicate id; they stay
                        // connected but are never read from or routed to.
                        tracing::debug!(?id, "ignoring peer with duplicate routing id");
                        return;
                    }
                    // Handover: the old peer gets a fresh id and is closed.
                    let _renamed = self.auto_id();
                    self.by_id.remove(&id);
                    self.ids.remove(&other);
                    self.fq.detach(other);
                    base.remove_peer(other);
                }
                id
            }
        };
        self.by_id.insert(id.clone(), key);
        self.ids.insert(key, id);
        self.fq.attach(key);
    }

    /// Whether `key` is routed to (has a routing id): an ignored duplicate is never read.
    pub(crate) fn reads_from(&self, key: Key) -> bool {
        self.ids.contains_key(&key)
    }

    pub(crate) fn detached(&mut self, key: Key) {
        self.fq.detach(key);
        if let Some(id) = self.ids.remove(&key) {
            if self.by_id.get(&id) == Some(&key) {
                self.by_id.remove(&id);
            }
        }
    }

    /// Next message and the routing id of its sender.
    pub(crate) fn poll_recv(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
    ) -> Poll<(Key, Bytes, Message)> {
        loop {
            let (key, msg) = futures::ready!(self.fq.poll_recv(base, cx));
            if let Some(id) = self.ids.get(&key) {
                return Poll::Ready((key, id.clone(), msg));
            }
        }
    }

    /// Routes `slot` by its first frame (ROUTER send).
    pub(crate) fn poll_route(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let mandatory = self.routing_socket && base.options.router_mandatory;
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
            .get(&id)
            .and_then(|k| base.peers.get(*k).map(|p| (*k, p)));
        let Some((key, peer)) = peer else {
            return Poll::Ready(if mandatory {
                Err(Error::HostUnreachable)
            } else {
                Ok(())
            });
        };
        if mandatory {
            // Register before trying, so room appearing after the check wakes us.
            base.shared.writable.register(cx.waker());
        }
        match peer.outbound.try_push(msg) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(crate::pipe::PushError::Full(mut msg)) if mandatory => {
                msg.push_front(id);
                *slot = Some(msg);
                Poll::Pending
            }
            Err(crate::pipe::PushError::Full(_)) => Poll::Ready(Ok(())),
            Err(crate::pipe::PushError::Closed(_)) => {
                base.note_dead(key);
                Poll::Ready(if mandatory {
                    Err(Error::HostUnreachable)
                } else {
                    Ok(())
                })
            }
        }
    }
}

/// ROUTER: prepends the sender's routing id on receive, routes by the first frame on send.
#[derive(Debug)]
pub(crate) struct RouterSocket {
    router: Router,
}

impl RouterSocket {
    pub(crate) fn new() -> Self {
        RouterSocket {
            router: Router::new(true),
        }
    }
}

impl Protocol for RouterSocket {
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        super::probe(base, key);
    }
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        self.router.identify(base, key);
    }
    fn detached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.router.detached(key);
    }
    fn reads_from(&self, key: Key) -> bool {
        self.router.reads_from(key)
    }
    fn poll_ready(&mut self, _eng: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        // As libzmq: ROUTER is always writable; whether a message can go depends on its target.
        Poll::Ready(Ok(()))
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        self.router.poll_route(base, cx, slot)
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let (_, id, mut msg) = futures::ready!(self.router.poll_recv(base, cx));
        msg.push_front(id);
        Poll::Ready(Ok(msg))
    }
}

/// REP: fair-queues requests, strips the envelope (up to and including the
/// empty delimiter) and restores it on the reply; strict recv/send alternation.
#[derive(Debug)]
pub(crate) struct Rep {
    router: Router,
    reply_to: Option<(Key, Message)>,
}

impl Rep {
    pub(crate) fn new() -> Self {
        Rep {
            router: Router::new(false),
            reply_to: None,
        }
    }
}

impl Protocol for Rep {
    fn attached(&mut self, _eng: &mut SocketBase, _key: Key) {}
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        self.router.identify(base, key);
    }
    fn detached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.router.detached(key);
    }
    fn reads_from(&self, key: Key) -> bool {
        self.router.reads_from(key)
    }
    fn poll_ready(&mut self, _eng: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(match self.reply_to {
            Some(_) => Ok(()),
            None => Err(Error::InvalidState(
                "REP must receive a request before replying",
            )),
        })
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        _cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        let Some((key, mut reply)) = self.reply_to.take() else {
            return Poll::Ready(Err(Error::InvalidState(
                "REP must receive a request before replying",
            )));
        };
        if let Some(body) = slot.take() {
            reply.extend(body);
        }
        if let Some(peer) = base.peers.get(key) {
            // A reply the peer cannot take (gone, or at HWM) is dropped, as in libzmq.
            if let Err(crate::pipe::PushError::Closed(_)) = peer.outbound.try_push(reply) {
                base.note_dead(key);
            }
        }
        Poll::Ready(Ok(()))
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        if self.reply_to.is_some() {
            return Poll::Ready(Err(Error::InvalidState(
                "REP must send the reply before receiving again",
            )));
        }
        loop {
            let (key, _, mut msg) = futures::ready!(self.router.poll_recv(base, cx));
            let bottom = msg.iter().position(|f| f.is_empty());
            let Some(bottom) = bottom.filter(|b| b + 1 < msg.len()) else {
                tracing::debug!("REP discarding a request without an envelope delimiter");
                continue;
            };
            let body = msg.split_off(bottom + 1);
            self.reply_to = Some((key, msg));
            return Poll::Ready(Ok(body));
        }
    }
}
