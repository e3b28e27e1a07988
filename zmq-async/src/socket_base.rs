//! The socket core, libzmq's `socket_base`: a socket's peers and its mailbox processing,
//! free of locks, and the [`Protocol`] trait through which it calls its socket type.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::fq::FairQueue;
use crate::lb::LoadBalancer;
use crate::peer::{Mail, Peer, PeerId, PeerInfo, Peers, Shared};
use crate::routing::RoutingTable;
use crate::slab::Key;
use crate::{Error, Result, SocketOptions};

/// What a socket type does with its peers (libzmq's `xsend`, `xrecv`, `xattach_pipe`, …).
/// Every method runs with exclusive access to the socket; `poll_*` register the waker
/// through the parts.
///
/// A socket type names the shared parts it is made of with [`Protocol::lb`],
/// [`Protocol::fq`] and [`Protocol::routing`]: the default methods then attach peers to
/// them (the routing table at handshake), send through the load balancer and receive
/// through the fair queue.
pub(crate) trait Protocol: Send + std::fmt::Debug {
    /// The load balancer this socket type sends through, if the default methods are to use it.
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        None
    }
    /// The fair queue this socket type receives through, if the default methods are to use it.
    fn fq(&mut self) -> Option<&mut FairQueue> {
        None
    }
    /// The routing table this socket type identifies peers in at handshake (ROUTER, REP).
    fn routing(&mut self) -> Option<&mut RoutingTable> {
        None
    }
    /// Pipes for a new peer exist (the handshake may still be pending).
    fn attached(&mut self, _base: &mut SocketBase, key: Key) {
        if let Some(lb) = self.lb() {
            lb.attach(key);
        }
        if let Some(fq) = self.fq() {
            fq.attach(key);
        }
    }
    /// The peer's handshake completed; `base.peers[key].info` is set.
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        if let Some(table) = self.routing() {
            if let Some(old) = table.identify(&base.peers, base.options.router_handover, key) {
                base.remove_peer(old);
            }
        }
    }
    /// The peer's connection dropped; its pipes stay for a reconnect.
    fn disconnected(&mut self, _base: &mut SocketBase, _key: Key) {}
    /// The peer is gone (already removed from `base.peers`).
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        if let Some(lb) = self.lb() {
            lb.detach(key);
        }
        if let Some(fq) = self.fq() {
            fq.detach(key);
        }
        if let Some(table) = self.routing() {
            table.detached(key);
        }
    }
    /// Whether the user can still receive what `key` sent. A peer whose messages will
    /// never be read is forgotten, with them, as soon as it is gone.
    fn reads_from(&self, _key: Key) -> bool {
        true
    }
    /// The routing id this socket type gave the peer (SERVER, PEER).
    fn routing_id(&self, _key: Key) -> Option<NonZeroU32> {
        None
    }
    /// Work done at every poll (PUB/XPUB: read subscriptions).
    fn housekeeping(&mut self, _base: &mut SocketBase) {}
    /// Ready when a send would not have to wait (the `Sink::poll_ready` part).
    fn poll_ready(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.lb() {
            Some(lb) => lb
                .poll_ready(&mut base.peers, &base.shared.writable, cx)
                .map(Ok),
            None => Poll::Ready(Err(Error::NotSupported("this socket type cannot send"))),
        }
    }
    /// Sends the message in `slot`, taking it out; `Pending` leaves it there.
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        match self.lb() {
            Some(lb) => lb
                .poll_send(&mut base.peers, &base.shared.writable, cx, slot)
                .map(Ok),
            None => Poll::Ready(Err(Error::NotSupported("this socket type cannot send"))),
        }
    }
    /// Receives the next message.
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        match self.fq() {
            Some(fq) => fq
                .poll_recv(&mut base.peers, &base.shared.readable, cx)
                .map(|(_, m)| Ok(m)),
            None => Poll::Ready(Err(Error::NotSupported("this socket type cannot receive"))),
        }
    }
    /// Messages from peers the socket type holds outside the pipes (XPUB: subscriptions
    /// waiting for the user).
    #[cfg(test)]
    fn held(&self) -> usize {
        0
    }
    /// SUB: subscribe (`on`) or unsubscribe.
    fn subscribe(&mut self, _base: &mut SocketBase, _topic: &[u8], _on: bool) -> Result<()> {
        Err(Error::NotSupported("only SUB sockets subscribe"))
    }
}

/// Socket state that does not depend on the socket type.
#[derive(Debug)]
pub(crate) struct SocketBase {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peers: Peers,
    pub(crate) options: SocketOptions,
    ids: HashMap<PeerId, Key>,
    mail: Vec<Mail>,
}

impl SocketBase {
    pub(crate) fn new(shared: Arc<Shared>, options: SocketOptions) -> Self {
        SocketBase {
            shared,
            peers: Peers::default(),
            options,
            ids: HashMap::new(),
            mail: Vec::new(),
        }
    }

    /// Applies the mailbox, then forgets finished peers.
    #[inline]
    pub(crate) fn pump(&mut self, proto: &mut dyn Protocol) {
        self.shared.take_mail(&mut self.mail);
        if self.mail.is_empty() {
            self.reap(proto);
            return;
        }
        self.apply_mail(proto);
    }

    #[inline(never)]
    fn apply_mail(&mut self, proto: &mut dyn Protocol) {
        let mut mail = std::mem::take(&mut self.mail);
        for cmd in mail.drain(..) {
            match cmd {
                Mail::Attach {
                    id,
                    inbound,
                    outbound,
                    info,
                    alias,
                } => {
                    let key = self.peers.insert(Peer {
                        id,
                        inbound,
                        outbound,
                        info: None,
                        alias,
                        connected: false,
                    });
                    self.ids.insert(id, key);
                    tracing::trace!(?id, "peer attached");
                    proto.attached(self, key);
                    if let Some(info) = info {
                        self.on_connected(proto, key, info);
                    }
                }
                Mail::Connected { id, info } => {
                    if let Some(&key) = self.ids.get(&id) {
                        self.on_connected(proto, key, info);
                    }
                }
                Mail::Disconnected { id } => {
                    if let Some(&key) = self.ids.get(&id) {
                        if let Some(peer) = self.peers.get_mut(key) {
                            peer.connected = false;
                        }
                        proto.disconnected(self, key);
                    }
                }
                Mail::Detach { id } => {
                    if let Some(&key) = self.ids.get(&id) {
                        if let Some(peer) = self.peers.get(key) {
                            peer.outbound.close();
                        }
                        self.peers.note_dead(key);
                    }
                }
            }
        }
        self.mail = mail;
        self.reap(proto);
    }

    fn on_connected(&mut self, proto: &mut dyn Protocol, key: Key, info: PeerInfo) {
        let local = self.shared.socket_type;
        if !local.is_compatible(info.socket_type) {
            tracing::warn!(%local, peer = %info.socket_type, "refusing incompatible peer");
            self.drop_peer(proto, key);
            return;
        }
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        peer.info = Some(info);
        peer.connected = true;
        proto.connected(self, key);
    }

    /// Forgets peers that are gone and fully read; true if it dropped one (the protocol may
    /// have something new to deliver).
    #[inline]
    pub(crate) fn reap(&mut self, proto: &mut dyn Protocol) -> bool {
        self.peers.any_dead() && self.reap_dead(proto)
    }

    #[inline(never)]
    fn reap_dead(&mut self, proto: &mut dyn Protocol) -> bool {
        let mut dropped = false;
        while let Some(key) = self.peers.next_dead() {
            let reads = proto.reads_from(key);
            if self.peers.get(key).is_some_and(|p| p.is_finished(reads)) {
                self.drop_peer(proto, key);
                dropped = true;
            }
        }
        dropped
    }

    /// Checks every peer for being finished (not only the ones a part saw close).
    pub(crate) fn sweep(&mut self, proto: &mut dyn Protocol) {
        let finished: Vec<Key> = self
            .ids
            .values()
            .copied()
            .filter(|k| {
                let reads = proto.reads_from(*k);
                self.peers.get(*k).is_some_and(|p| p.is_finished(reads))
            })
            .collect();
        for key in finished {
            self.peers.note_dead(key);
        }
        self.reap(proto);
    }

    /// Removes a peer now (closing our pipe ends) and tells the protocol.
    pub(crate) fn drop_peer(&mut self, proto: &mut dyn Protocol, key: Key) {
        if self.remove_peer(key).is_some() {
            proto.detached(self, key);
        }
    }

    /// Removes a peer without telling the protocol (used by the protocol itself).
    pub(crate) fn remove_peer(&mut self, key: Key) -> Option<Peer> {
        let peer = self.peers.remove(key)?;
        self.ids.remove(&peer.id);
        tracing::trace!(id = ?peer.id, "peer removed");
        Some(peer)
    }

    /// Removes every peer (socket drop), handing them to the caller for linger handling.
    pub(crate) fn take_peers(&mut self) -> Vec<Peer> {
        self.ids.clear();
        self.peers.drain().collect()
    }

    /// The slab key of the peer with this id.
    pub(crate) fn key_of(&self, id: PeerId) -> Option<Key> {
        self.ids.get(&id).copied()
    }

    /// Sends an empty message to a new peer if `probe_router` is set (ROUTER, DEALER, REQ).
    pub(crate) fn probe(&self, key: Key) {
        if self.options.probe_router {
            if let Some(peer) = self.peers.get(key) {
                let _ = peer.outbound.push_force(Message::from(bytes::Bytes::new()));
            }
        }
    }
}
