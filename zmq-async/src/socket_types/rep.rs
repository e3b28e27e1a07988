//! REP: ROUTER's routing table, the envelope stripped from each request and restored on
//! its reply, strict recv/send alternation (RFC 28).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use crate::routing::RoutingTable;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};
use crate::{Error, Result};

/// REP: fair-queues requests, strips the envelope (up to and including the
/// empty delimiter) and restores it on the reply; strict recv/send alternation.
#[derive(Debug)]
pub(crate) struct Rep {
    table: RoutingTable,
    reply_to: Option<(Key, Message)>,
}

impl Rep {
    pub(crate) fn new() -> Self {
        Rep {
            table: RoutingTable::new(false),
            reply_to: None,
        }
    }
}

impl Protocol for Rep {
    fn routing(&mut self) -> Option<&mut RoutingTable> {
        Some(&mut self.table)
    }
    fn reads_from(&self, key: Key) -> bool {
        self.table.reads_from(key)
    }
    fn poll_ready(&mut self, _base: &mut SocketBase, _cx: &mut Context<'_>) -> Poll<Result<()>> {
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
        if let Some(peer) = base.peers.get_mut(key) {
            // A reply the peer cannot take (gone, or at HWM) is dropped, as in libzmq.
            match peer.outbound.try_push(reply) {
                Ok(()) => {}
                Err(crate::pipe::PushError::Full(_)) => base.peers.note_hwm_drop(),
                Err(crate::pipe::PushError::Closed(_)) => base.peers.note_dead(key),
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
            let (key, _, mut msg) =
                futures::ready!(self
                    .table
                    .poll_recv(&mut base.peers, &base.shared.readable, cx));
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
