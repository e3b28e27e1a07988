//! PULL: fair-queue in, never send (RFC 30).

use crate::fq::FairQueue;
use crate::socket_base::Protocol;

#[derive(Debug, Default)]
pub(crate) struct Pull {
    fq: FairQueue,
}

impl Protocol for Pull {
    fn fq(&mut self) -> Option<&mut FairQueue> {
        Some(&mut self.fq)
    }
}
