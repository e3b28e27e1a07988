//! Random seeds, libzmq's `random`: where ROUTER's automatic routing ids and REQ's request
//! ids start.

/// A process-wide random 32-bit seed (libzmq's `generate_random`), without a dependency.
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() as u32
}
