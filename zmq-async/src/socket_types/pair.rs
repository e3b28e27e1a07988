//! PAIR: exactly one peer, both directions; further peers are refused (RFC 31).

use crate::fq::FairQueue;
use crate::lb::LoadBalancer;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};

#[derive(Debug, Default)]
pub(crate) struct Pair {
    peer: Option<Key>,
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Pair {
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        Some(&mut self.lb)
    }
    fn fq(&mut self) -> Option<&mut FairQueue> {
        Some(&mut self.fq)
    }
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        if self.peer.is_some_and(|p| base.peers.contains(p)) {
            tracing::debug!("PAIR already has a peer; refusing another");
            base.remove_peer(key);
            return;
        }
        self.peer = Some(key);
        self.lb.attach(key);
        self.fq.attach(key);
    }
    fn detached(&mut self, _base: &mut SocketBase, key: Key) {
        if self.peer == Some(key) {
            self.peer = None;
        }
        self.lb.detach(key);
        self.fq.detach(key);
    }
}
