//! PUSH (load-balance out) and PULL (fair-queue in), RFC 30.

use std::task::{Context, Poll};

use zmtp_codec::Message;

use super::Protocol;
use crate::slab::Key;
use crate::socket_base::{FairQueue, LoadBalancer, SocketBase};
use crate::Result;

#[derive(Debug, Default)]
pub(crate) struct Push {
    lb: LoadBalancer,
}

impl Protocol for Push {
    fn attached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.lb.attach(key);
    }
    fn detached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.lb.detach(key);
    }
    fn reads_from(&self, _key: Key) -> bool {
        false
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
}

#[derive(Debug, Default)]
pub(crate) struct Pull {
    fq: FairQueue,
}

impl Protocol for Pull {
    fn attached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.fq.attach(key);
    }
    fn detached(&mut self, _eng: &mut SocketBase, key: Key) {
        self.fq.detach(key);
    }
    fn poll_recv(&mut self, base: &mut SocketBase, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.fq.poll_recv(base, cx).map(|(_, m)| Ok(m))
    }
}
