//! Conformance suite: our sockets against libzmq 4.3.4 and against hand-written old peers.
//!
//! - [`matrix`]: RFC 37's compatible pairs × who is ours × who binds × transport × mechanism.
//! - [`stream`]: STREAM × libzmq's STREAM (raw bytes, notifications, close by empty frame).
//! - `docs/CONFORMANCE.md` is generated from this binary's results by
//!   `scripts/conformance-matrix.sh`; test names encode the cells.
//!
//! Nothing here sleeps to synchronise: tests wait for events, and timeouts are hang guards,
//! except where a bounded wait *is* the assertion that nothing arrives (said so where used).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::time::Duration;

mod cases;
mod matrix;
mod old_peers;
mod side;
mod spec;
mod stream;
mod zap;

/// The hang guard of one test.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `f` on a fresh current-thread runtime under [`HANG_GUARD`].
pub fn block_on<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(HANG_GUARD, f)
            .await
            .expect("test hung: hang guard expired");
    });
}
