//! CLIENT: load-balance out, fair-queue in, one frame a message (RFC 41). DEALER's parts
//! without its `probe_router`; the single-frame rule is the thread-safe socket's
//! ([`ThreadSafeSocket`](crate::ThreadSafeSocket)).

use crate::fq::FairQueue;
use crate::lb::LoadBalancer;
use crate::socket_base::Protocol;

#[derive(Debug, Default)]
pub(crate) struct Client {
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Protocol for Client {
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        Some(&mut self.lb)
    }
    fn fq(&mut self) -> Option<&mut FairQueue> {
        Some(&mut self.fq)
    }
}
