//! REQ: DEALER plus strict send/recv alternation and an envelope (RFC 28).

use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::Message;

use crate::lb::LoadBalancer;
use crate::pipe::TryPop;
use crate::random::random_u32;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

#[derive(Debug)]
pub(crate) struct Req {
    lb: LoadBalancer,
    /// The peer the outstanding request went to, and whether it carried a request id.
    awaiting: Option<(Key, bool)>,
    request_id: u32,
}

impl Req {
    pub(crate) fn new() -> Self {
        Req {
            lb: LoadBalancer::default(),
            awaiting: None,
            request_id: random_u32(),
        }
    }

    fn check_can_send(&self, base: &SocketBase) -> Result<()> {
        if self.awaiting.is_some() && !base.options.req_relaxed {
            return Err(Error::InvalidState(
                "REQ must receive the reply before sending again",
            ));
        }
        Ok(())
    }

    /// Drops everything peers sent so far: a stale reply must not answer the next request.
    fn discard_pending(&mut self, base: &mut SocketBase) {
        for &key in self.lb.keys() {
            if let Some(peer) = base.peers.get_mut(key) {
                while let TryPop::Message(_) = peer.inbound.try_pop() {}
            }
        }
    }

    /// Strips and checks `[request id] "" body…`; `None` if the reply is malformed or stale.
    fn unwrap_reply(&self, mut msg: Message, correlate: bool) -> Option<Message> {
        if correlate {
            let id = msg.pop_front()?;
            if id[..] != self.request_id.to_ne_bytes() {
                return None;
            }
        }
        let delimiter = msg.pop_front()?;
        if !delimiter.is_empty() || msg.is_empty() {
            return None;
        }
        Some(msg)
    }
}

impl Protocol for Req {
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        Some(&mut self.lb)
    }
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        base.probe(key);
        self.lb.attach(key);
    }
    fn reads_from(&self, key: Key) -> bool {
        self.awaiting.is_some_and(|(k, _)| k == key)
    }
    fn poll_ready(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.check_can_send(base)?;
        self.lb
            .poll_ready(&mut base.peers, &base.shared.writable, cx)
            .map(Ok)
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        self.check_can_send(base)?;
        base.shared.writable.register(cx.waker());
        loop {
            let Some((position, key)) = self.lb.ready_key(&mut base.peers) else {
                return Poll::Pending;
            };
            let Some(mut msg) = slot.take() else {
                return Poll::Ready(Ok(()));
            };
            self.discard_pending(base);
            let correlate = base.options.req_correlate;
            let request_id = self.request_id.wrapping_add(1);
            msg.push_front(Bytes::new());
            if correlate {
                msg.push_front(Bytes::copy_from_slice(&request_id.to_ne_bytes()));
            }
            let Some(peer) = base.peers.get_mut(key) else {
                return Poll::Ready(Ok(()));
            };
            match peer.outbound.try_push(msg) {
                Ok(()) => {
                    self.lb.sent(position);
                    self.request_id = request_id;
                    self.awaiting = Some((key, correlate));
                    return Poll::Ready(Ok(()));
                }
                Err(e) => {
                    // The peer vanished after the check; restore the body and retry.
                    let mut msg = e.into_message();
                    msg.pop_front();
                    if correlate {
                        msg.pop_front();
                    }
                    *slot = Some(msg);
                }
            }
        }
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let Some((key, correlate)) = self.awaiting else {
            return Poll::Ready(Err(Error::InvalidState(
                "REQ must send a request before receiving",
            )));
        };
        base.shared.readable.register(cx.waker());
        loop {
            // If the peer is gone the reply never comes (as libzmq); with
            // `req_relaxed` the user may send a new request instead.
            let Some(peer) = base.peers.get_mut(key) else {
                return Poll::Pending;
            };
            match peer.inbound.try_pop() {
                TryPop::Message(msg) => {
                    if let Some(body) = self.unwrap_reply(msg, correlate) {
                        self.awaiting = None;
                        return Poll::Ready(Ok(body));
                    }
                    tracing::debug!("REQ discarding a malformed or stale reply");
                }
                TryPop::Empty => return Poll::Pending,
                TryPop::Finished => {
                    base.peers.note_dead(key);
                    return Poll::Pending;
                }
            }
        }
    }
}
