//! Socket types as compositions of the shared parts.

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::slab::Key;
use crate::socket_base::SocketBase;
use crate::{Error, Result, SocketType};

mod dealer;
mod pair;
mod pipeline;
mod pubsub;
mod req;
mod router;
mod sub;

/// What a socket type does with its peers. Every method runs with exclusive
/// access to the socket; `poll_*` register the waker through the parts.
pub(crate) trait Protocol: Send + std::fmt::Debug {
    /// Pipes for a new peer exist (the handshake may still be pending).
    fn attached(&mut self, base: &mut SocketBase, key: Key);
    /// The peer's handshake completed; `base.peers[key].info` is set.
    fn connected(&mut self, _eng: &mut SocketBase, _key: Key) {}
    /// The peer's connection dropped; its pipes stay for a reconnect.
    fn disconnected(&mut self, _eng: &mut SocketBase, _key: Key) {}
    /// The peer is gone (already removed from `base.peers`).
    fn detached(&mut self, base: &mut SocketBase, key: Key);
    /// Whether the user can still receive what `key` sent. A peer whose messages will
    /// never be read is forgotten, with them, as soon as it is gone.
    fn reads_from(&self, _key: Key) -> bool {
        true
    }
    /// Work done at every poll (PUB/XPUB: read subscriptions).
    fn housekeeping(&mut self, _eng: &mut SocketBase) {}
    /// Ready when a send would not have to wait (the `Sink::poll_ready` part).
    fn poll_ready(&mut self, _eng: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Err(Error::NotSupported("this socket type cannot send")))
    }
    /// Sends the message in `slot`, taking it out; `Pending` leaves it there.
    fn poll_send(
        &mut self,
        _eng: &mut SocketBase,
        _cx: &mut Context<'_>,
        _slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        Poll::Ready(Err(Error::NotSupported("this socket type cannot send")))
    }
    /// Receives the next message.
    fn poll_recv(&mut self, _eng: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<Message>> {
        Poll::Ready(Err(Error::NotSupported("this socket type cannot receive")))
    }
    /// Messages from peers the socket type holds outside the pipes (XPUB: subscriptions
    /// waiting for the user).
    #[cfg(test)]
    fn held(&self) -> usize {
        0
    }
    /// SUB: subscribe (`on`) or unsubscribe.
    fn subscribe(&mut self, _eng: &mut SocketBase, _topic: &[u8], _on: bool) -> Result<()> {
        Err(Error::NotSupported("only SUB sockets subscribe"))
    }
}

/// The protocol object for a socket type.
pub(crate) fn for_type(ty: SocketType) -> Box<dyn Protocol> {
    match ty {
        SocketType::Pair => Box::new(pair::Pair::default()),
        SocketType::Push => Box::new(pipeline::Push::default()),
        SocketType::Pull => Box::new(pipeline::Pull::default()),
        SocketType::Dealer => Box::new(dealer::Dealer::default()),
        SocketType::Router => Box::new(router::RouterSocket::new()),
        SocketType::Rep => Box::new(router::Rep::new()),
        SocketType::Req => Box::new(req::Req::new()),
        SocketType::Pub => Box::new(pubsub::XPub::new(false)),
        SocketType::XPub => Box::new(pubsub::XPub::new(true)),
        SocketType::Sub => Box::new(sub::XSub::new(false)),
        SocketType::XSub => Box::new(sub::XSub::new(true)),
        // Only the marker types in `socket::kind` create sockets, and none is a draft type.
        other => unreachable!("no socket of type {other} can be created"),
    }
}

/// Sends an empty message to a new peer if `probe_router` is set.
pub(crate) fn probe(base: &SocketBase, key: Key) {
    if base.options.probe_router {
        if let Some(peer) = base.peers.get(key) {
            let _ = peer.outbound.push_force(Message::from(bytes::Bytes::new()));
        }
    }
}

/// A process-wide random 32-bit seed (libzmq's `generate_random`), without a dependency.
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}
