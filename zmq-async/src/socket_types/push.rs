//! PUSH: load-balance out, never read (RFC 30).

use crate::lb::LoadBalancer;
use crate::slab::Key;
use crate::socket_base::Protocol;

#[derive(Debug, Default)]
pub(crate) struct Push {
    lb: LoadBalancer,
}

impl Protocol for Push {
    fn lb(&mut self) -> Option<&mut LoadBalancer> {
        Some(&mut self.lb)
    }
    fn reads_from(&self, _key: Key) -> bool {
        false
    }
}
