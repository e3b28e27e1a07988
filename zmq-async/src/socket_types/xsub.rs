//! XSUB, and SUB (XSUB that cannot send and subscribes through its own calls): fair-queue
//! in, filter on the first frame, send subscriptions to every publisher including ones
//! that connect later (RFC 29).

use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::{Message, Subscription};

use super::Upstream;
use crate::dist::{self, AtHwm};
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::trie::SubTrie;
use crate::{Error, Result};

#[derive(Debug)]
pub(crate) struct XSub {
    up: Upstream,
    subs: SubTrie,
    xsub: bool,
}

impl XSub {
    /// Sends every subscription to one publisher (a new or reconnected one), over its HWM.
    fn send_subscriptions(&self, base: &SocketBase, key: Key) {
        if let Some(peer) = base.peers.get(key) {
            for topic in self.subs.topics() {
                let sub = Subscription::Subscribe(Bytes::from(topic));
                let _ = peer.outbound.push_force(sub.to_message());
            }
        }
    }

    pub(crate) fn new(xsub: bool) -> Self {
        XSub {
            up: Upstream::default(),
            subs: SubTrie::default(),
            xsub,
        }
    }

    /// What XSUB sends, and SUB's subscribe calls: a message whose first frame is a
    /// subscription updates the filter and goes to every publisher, over the HWM; any
    /// other message goes where there is room.
    fn apply(&mut self, base: &mut SocketBase, msg: Message) {
        match msg.first().and_then(Subscription::from_frame) {
            Some(Subscription::Subscribe(topic)) => {
                // Forwarded even if already subscribed: the XPUB side deduplicates
                // (and XPUB_VERBOSE must see repeats), as libzmq does.
                self.subs.add(&topic);
                dist::send_to_all(&mut base.peers, &self.up.peers, msg, AtHwm::Force);
            }
            Some(Subscription::Cancel(topic)) => {
                if self.subs.rm(&topic) {
                    dist::send_to_all(&mut base.peers, &self.up.peers, msg, AtHwm::Force);
                }
            }
            None => dist::send_to_all(&mut base.peers, &self.up.peers, msg, AtHwm::Drop),
        }
    }
}

impl Protocol for XSub {
    // As libzmq (xattach_pipe, xhiccuped): a new pipe gets every subscription at once, so a
    // connecting SUB needs no later poll to subscribe; a reconnected one gets them again.
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        self.up.attached(key);
        self.send_subscriptions(base, key);
    }
    fn connected(&mut self, base: &mut SocketBase, key: Key) {
        if self.up.reconnected(key) {
            // As libzmq's hiccup (a fresh pipe): every subscription goes again. The
            // transport dropped the subscriptions queued for the old connection when it
            // lost it (`PeerPipes::disconnected`), before the reconnect was posted, so
            // the pipe holds one set however often the publisher drops the connection
            // before reading, and nothing queued for the old connection follows it.
            self.send_subscriptions(base, key);
        }
    }
    fn disconnected(&mut self, _base: &mut SocketBase, key: Key) {
        self.up.disconnected(key);
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        self.up.detached(key);
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.xsub {
            Poll::Ready(Ok(()))
        } else {
            Poll::Ready(Err(Error::NotSupported("SUB cannot send")))
        }
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        _cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        if !self.xsub {
            return Poll::Ready(Err(Error::NotSupported("SUB cannot send")));
        }
        if let Some(msg) = slot.take() {
            self.apply(base, msg);
        }
        Poll::Ready(Ok(()))
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        // `invert_matching`: SUB takes what matches none of its subscriptions; an XSUB
        // with it set filters nothing (libzmq's XSUB never filters).
        let invert = base.options.invert_matching;
        if invert && self.xsub {
            return self
                .up
                .fq
                .poll_recv(&mut base.peers, &base.shared.readable, cx)
                .map(|(_, msg)| Ok(msg));
        }
        loop {
            let (_, msg) =
                futures::ready!(self
                    .up
                    .fq
                    .poll_recv(&mut base.peers, &base.shared.readable, cx));
            let first = msg.first().map(|f| &f[..]).unwrap_or_default();
            if self.subs.matches(first) != invert {
                return Poll::Ready(Ok(msg));
            }
        }
    }
    fn subscribe(&mut self, base: &mut SocketBase, topic: &[u8], on: bool) -> Result<()> {
        let sub = Subscription::new(on, Bytes::copy_from_slice(topic));
        self.apply(base, sub.to_message());
        Ok(())
    }
}
