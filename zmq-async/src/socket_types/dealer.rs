//! DEALER: load-balance out, fair-queue in (RFC 28).

use crate::fq::FairQueue;
use crate::lb::LoadBalancer;
use crate::slab::Key;
use crate::socket_base::{Protocol, SocketBase};

#[derive(Debug, Default)]
pub(crate) struct Dealer {
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Dealer {
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        Some(&mut self.lb)
    }
    fn fq(&mut self) -> Option<&mut FairQueue> {
        Some(&mut self.fq)
    }
    fn attached(&mut self, base: &mut SocketBase, key: Key) {
        base.probe(key);
        self.lb.attach(key);
        self.fq.attach(key);
    }
}
