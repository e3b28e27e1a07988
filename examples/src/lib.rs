//! Shared helpers for the examples: the guide's `randof`, and the
//! `ZMQ_EXAMPLES_FAST` switch the automated checks use. (The guide's
//! `zmq_proxy` is in the library: `zmq_async::proxy`.)
//!
//! ```
//! let mut rng = zmq_examples::Rand::with_seed(7);
//! assert!(rng.randof(100) < 100);
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// True when `ZMQ_EXAMPLES_FAST=1`: the automated checks set it to shorten
/// the one-second "work" of `hwserver` and `rrworker`. Off by default.
pub fn fast() -> bool {
    std::env::var_os("ZMQ_EXAMPLES_FAST").is_some_and(|v| v == "1")
}

/// How long a server pretends to work: the guide's `sleep (1)`, or 10 ms
/// when [`fast`].
pub fn work_time() -> Duration {
    if fast() {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(1)
    }
}

/// The guide's `randof(n)`: a pseudo-random integer in `0..n`, from a small
/// xorshift generator seeded with the clock (as the guide seeds `srandom`
/// with `time`). Good enough for fake weather and workloads, nothing else.
#[derive(Debug, Clone)]
pub struct Rand(u64);

impl Rand {
    /// A generator seeded from the clock and the process id.
    pub fn from_time() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rand::with_seed(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// A generator with a fixed seed (the same numbers every run).
    pub fn with_seed(seed: u64) -> Self {
        // xorshift must not start at zero.
        Rand(seed | 1)
    }

    /// A number in `0..n` (`n` > 0), like the guide's `randof(n)`.
    pub fn randof(&mut self, n: u32) -> u32 {
        // xorshift64* (Vigna), then scale the high bits into 0..n.
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        ((r * u64::from(n)) >> 32) as u32
    }
}

/// The code blocks of the workspace README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randof_stays_in_range_and_covers_it() {
        let mut rng = Rand::with_seed(42);
        let mut seen = [false; 10];
        for _ in 0..10_000 {
            let v = rng.randof(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
