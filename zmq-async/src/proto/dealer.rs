//! DEALER: load-balance out, fair-queue in (RFC 28).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use super::Protocol;
use crate::engine::{Engine, FairQueue, LoadBalancer};
use crate::slab::Key;
use crate::Result;

#[derive(Debug, Default)]
pub(crate) struct Dealer {
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Dealer {
    fn attached(&mut self, eng: &mut Engine, key: Key) {
        super::probe(eng, key);
        self.lb.attach(key);
        self.fq.attach(key);
    }
    fn detached(&mut self, _eng: &mut Engine, key: Key) {
        self.lb.detach(key);
        self.fq.detach(key);
    }
    fn poll_ready(&mut self, eng: &mut Engine, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.lb.poll_ready(eng, cx).map(Ok)
    }
    fn poll_send(
        &mut self,
        eng: &mut Engine,
        cx: &mut Context<'_>,
        slot: &mut Option<Message>,
    ) -> Poll<Result<()>> {
        self.lb.poll_send(eng, cx, slot).map(Ok)
    }
    fn poll_recv(&mut self, eng: &mut Engine, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.fq.poll_recv(eng, cx).map(|(_, m)| Ok(m))
    }
}
