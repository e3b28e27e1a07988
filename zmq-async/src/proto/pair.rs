//! PAIR: exactly one peer; further peers are refused (RFC 31).

use std::task::{Context, Poll};

use zmtp_codec::Message;

use super::Protocol;
use crate::engine::{Engine, FairQueue, LoadBalancer};
use crate::slab::Key;
use crate::Result;

#[derive(Debug, Default)]
pub(crate) struct Pair {
    peer: Option<Key>,
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Pair {
    fn attached(&mut self, eng: &mut Engine, key: Key) {
        if self.peer.is_some_and(|p| eng.peers.contains(p)) {
            tracing::debug!("PAIR already has a peer; refusing another");
            eng.remove_peer(key);
            return;
        }
        self.peer = Some(key);
        self.lb.attach(key);
        self.fq.attach(key);
    }
    fn detached(&mut self, _eng: &mut Engine, key: Key) {
        if self.peer == Some(key) {
            self.peer = None;
        }
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
