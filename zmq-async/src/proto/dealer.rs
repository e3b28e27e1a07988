//! DEALER: load-balance out, fair-queue in (RFC 28).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use super::Protocol;
use crate::slab::Key;
use crate::socket_base::{FairQueue, LoadBalancer, SocketBase};
use crate::Result;

#[derive(Debug, Default)]
pub(crate) struct Dealer {
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Dealer {
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        super::probe(base, key);
        self.lb.attach(key);
        self.fq.attach(key);
    }
    fn detached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.lb.detach(key);
        self.fq.detach(key);
    }
    fn poll_ready(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.lb.poll_ready(base, cx).map(Ok)
    }
    fn poll_send(
        &mut self,
        base: &mut SocketBase,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        self.lb.poll_send(base, cx, slot).map(Ok)
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.fq.poll_recv(base, cx).map(|(_, m)| Ok(m))
    }
}
