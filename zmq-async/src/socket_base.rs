//! The socket core, libzmq's `socket_base`: a socket's peers and its mailbox processing,
//! free of locks, and the shared parts socket types are composed of (load balancer, fair
//! queue).

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::Message;

use crate::peer::{Command, PeerId, PeerInfo, Shared};
use crate::pipe::{PipeReader, PipeWriter, PushError, TryPop};
use crate::proto::Protocol;
use crate::slab::{GenSlab, Key};
use crate::SocketOptions;

/// One attached peer, as the socket sees it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    /// Messages from the peer.
    pub(crate) inbound: PipeReader,
    /// Messages to the peer.
    pub(crate) outbound: PipeWriter,
    /// Set at handshake.
    pub(crate) info: Option<PeerInfo>,
    /// `connect_routing_id` chosen locally for this peer.
    pub(crate) alias: Option<Bytes>,
    /// Between a handshake and a disconnect.
    pub(crate) connected: bool,
}

impl Peer {
    /// The peer is gone and everything it sent has been read, or will never be: a socket
    /// type that does not read this peer (PUSH; REQ but for the reply it waits for; a
    /// ROUTER peer ignored for its duplicate routing id) forgets it, and what it sent, as
    /// soon as it is gone, so peers that send and leave cannot pile up.
    fn is_finished(&self, reads: bool) -> bool {
        self.outbound.is_closed()
            && if reads {
                self.inbound.is_finished()
            } else {
                self.inbound.is_writer_closed()
            }
    }
}

/// Socket state that does not depend on the socket type.
#[derive(Debug)]
pub(crate) struct SocketBase {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peers: GenSlab<Peer>,
    pub(crate) options: SocketOptions,
    ids: HashMap<PeerId, Key>,
    dead: Vec<Key>,
    mail: Vec<Command>,
}

impl SocketBase {
    pub(crate) fn new(shared: Arc<Shared>, options: SocketOptions) -> Self {
        SocketBase {
            shared,
            peers: GenSlab::default(),
            options,
            ids: HashMap::new(),
            dead: Vec::new(),
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
                Command::Attach {
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
                Command::Connected { id, info } => {
                    if let Some(&key) = self.ids.get(&id) {
                        self.on_connected(proto, key, info);
                    }
                }
                Command::Disconnected { id } => {
                    if let Some(&key) = self.ids.get(&id) {
                        if let Some(peer) = self.peers.get_mut(key) {
                            peer.connected = false;
                        }
                        proto.disconnected(self, key);
                    }
                }
                Command::Detach { id } => {
                    if let Some(&key) = self.ids.get(&id) {
                        if let Some(peer) = self.peers.get(key) {
                            peer.outbound.close();
                        }
                        self.note_dead(key);
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

    /// Records that a part saw one of `key`'s pipes close; checked by [`SocketBase::reap`].
    pub(crate) fn note_dead(&mut self, key: Key) {
        self.dead.push(key);
    }

    /// Forgets peers that are gone and fully read.
    #[inline]
    pub(crate) fn reap(&mut self, proto: &mut dyn Protocol) {
        if !self.dead.is_empty() {
            self.reap_dead(proto);
        }
    }

    #[inline(never)]
    fn reap_dead(&mut self, proto: &mut dyn Protocol) {
        while let Some(key) = self.dead.pop() {
            let reads = proto.reads_from(key);
            if self.peers.get(key).is_some_and(|p| p.is_finished(reads)) {
                self.drop_peer(proto, key);
            }
        }
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
        self.dead.extend(finished);
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

    /// The ids of every attached peer.
    pub(crate) fn key_of(&self, id: PeerId) -> Option<Key> {
        self.ids.get(&id).copied()
    }
}

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
        let mut tries = self.keys.len();
        while tries > 0 && !self.keys.is_empty() {
            tries -= 1;
            if self.next >= self.keys.len() {
                self.next = 0;
            }
            let i = self.next;
            match visit(self.keys[i]) {
                Visit::Take(t) => return Some((i, t)),
                Visit::Skip => self.next += 1,
                Visit::Remove => {
                    self.keys.remove(i);
                }
            }
        }
        None
    }

    /// The peer at `position` was served: the next turn starts after it.
    pub(crate) fn served(&mut self, position: usize) {
        self.next = position + 1;
    }
}

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
    pub(crate) fn ready_key(&mut self, base: &mut SocketBase) -> Option<(usize, Key)> {
        self.ring.find(|key| match base.peers.get(key) {
            None => Visit::Remove,
            Some(peer) if peer.outbound.has_room() => Visit::Take(key),
            Some(peer) if peer.outbound.is_closed() => {
                base.note_dead(key);
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
    pub(crate) fn poll_ready(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<()> {
        base.shared.writable.register(cx.waker());
        match self.ready_key(base) {
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
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<()> {
        if self.try_send(base, slot) {
            return Poll::Ready(());
        }
        // Nothing had room: register, then look again, so room that appeared in between is
        // not missed.
        base.shared.writable.register(cx.waker());
        if self.try_send(base, slot) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Pushes the message in `slot` to the next peer in turn that takes it (one lock per
    /// peer tried); `false`, with the message still in `slot`, when none had room.
    fn try_send(&mut self, base: &mut SocketBase, slot: &mut Option<Message>) -> bool {
        let sent = self.ring.find(|key| {
            let Some(peer) = base.peers.get(key) else {
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
                    base.note_dead(key);
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
    pub(crate) fn try_recv(&mut self, base: &mut SocketBase) -> Option<(Key, Message)> {
        let (i, msg) = self.ring.find(|key| {
            let Some(peer) = base.peers.get_mut(key) else {
                return Visit::Remove;
            };
            match peer.inbound.try_pop() {
                TryPop::Message(msg) => Visit::Take((key, msg)),
                TryPop::Empty => Visit::Skip,
                TryPop::Finished => {
                    base.note_dead(key);
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
        base: &mut SocketBase,
        cx: &mut Context<'_>,
    ) -> Poll<(Key, Message)> {
        // Look before registering the waker: a message already queued (the common case
        // under load) costs one pipe lock and no waker registration.
        if let Some(x) = self.try_recv(base) {
            return Poll::Ready(x);
        }
        // Register, then look again, so a message that arrived in between is not missed.
        base.shared.readable.register(cx.waker());
        match self.try_recv(base) {
            Some(x) => Poll::Ready(x),
            None => Poll::Pending,
        }
    }
}
