//! DISH (RFC 48): fair-queue in, keeping the messages of the groups joined; JOIN and LEAVE
//! go to every RADIO, over the HWM (never dropped), and every JOIN again to a RADIO whose
//! connection came back (libzmq's `xhiccuped`), and to one that attaches later.
//!
//! The filter matters on `udp://`, where every datagram to the address arrives; over ZMTP
//! the RADIO sends only what was joined, and the filter drops what crossed a LEAVE.

use std::collections::HashSet;
use std::task::{Context, Poll};

use zmtp_codec::{Group, Membership, Message};

use super::Upstream;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

#[derive(Debug, Default)]
pub(crate) struct Dish {
    up: Upstream,
    /// The groups joined.
    joined: HashSet<Group>,
}

impl Dish {
    fn send_joins(&self, base: &SocketBase, key: Key) {
        if let Some(peer) = base.peers.get(key) {
            for g in &self.joined {
                let _ = peer
                    .outbound
                    .push_force(Membership::Join(g.clone()).to_message());
            }
        }
    }

    fn send_to_all(&self, base: &mut SocketBase, m: &Membership) {
        for &key in &self.up.peers {
            if let Some(peer) = base.peers.get(key) {
                if peer.outbound.push_force(m.to_message()).is_err() {
                    base.peers.note_dead(key);
                }
            }
        }
    }
}

impl Protocol for Dish {
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        self.up.attached(key);
        self.send_joins(base, key);
    }
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        if self.up.reconnected(key) {
            self.send_joins(base, key);
        }
    }
    fn disconnected(&mut self, _base: &mut SocketBase, key: Key) {
        self.up.disconnected(key);
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        self.up.detached(key);
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Err(Error::NotSupported("DISH cannot send")))
    }
    fn poll_send(
        &mut self,
        _base: &mut SocketBase,
        _cx: &mut Context<'_>,
        _slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        Poll::Ready(Err(Error::NotSupported("DISH cannot send")))
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        loop {
            let (_, msg) =
                futures::ready!(self
                    .up
                    .fq
                    .poll_recv(&mut base.peers, &base.shared.readable, cx));
            if msg.group().is_some_and(|g| self.joined.contains(g)) {
                return Poll::Ready(Ok(msg));
            }
        }
    }
    /// JOIN (`on`) or LEAVE, with libzmq's errors: a group over 255 bytes, joining a group
    /// twice, leaving one not joined: [`Error::InvalidArgument`] (`EINVAL`).
    fn subscribe(&mut self, base: &mut SocketBase, group: &[u8], on: bool) -> Result<()> {
        let group = Group::new(group)
            .map_err(|_| Error::InvalidArgument("a group is at most 255 bytes"))?;
        let m = if on {
            if !self.joined.insert(group.clone()) {
                return Err(Error::InvalidArgument("group already joined"));
            }
            Membership::Join(group)
        } else {
            if !self.joined.remove(group.as_bytes()) {
                return Err(Error::InvalidArgument("group not joined"));
            }
            Membership::Leave(group)
        };
        self.send_to_all(base, &m);
        Ok(())
    }
}
