//! The pipe's synchronisation primitives: std's and futures' in a normal build, loom's
//! models under `--cfg zmq_loom` (so `loom_tests.rs` can explore every interleaving).
//!
//! Only re-exports: the normal build uses the very same types as before, with no wrapper.
//! A pipe's [`Notify`](super::Notify) is shared through a `std::sync::Arc` in both builds
//! (the socket holds it beside other state that loom does not model); an `Arc` in a loom
//! build only adds leak checks, which the pipe's own `Shared` gets.

#[cfg(not(zmq_loom))]
pub(super) use futures::task::AtomicWaker;
#[cfg(zmq_loom)]
pub(super) use loom::future::AtomicWaker;
#[cfg(zmq_loom)]
pub(super) use loom::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard,
};
#[cfg(not(zmq_loom))]
pub(super) use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, MutexGuard,
};

use std::task::Waker;

/// Registers `waker` in `slot` (futures' `AtomicWaker` takes it by reference, loom's by
/// value).
#[inline]
pub(super) fn register(slot: &AtomicWaker, waker: &Waker) {
    #[cfg(not(zmq_loom))]
    slot.register(waker);
    #[cfg(zmq_loom)]
    slot.register_by_ref(waker);
}

/// Sets `flag` (Release). A plain store in the normal build; a swap under loom, which means
/// the same here, since the flag's only reader is a swap and a swap reads the latest value
/// either way. But loom 0.7 lets a swap read a value older than a plain store that happened
/// before it (tokio-rs/loom#254, "RMW atomicity"), and reports a lost wake-up that cannot
/// happen.
#[inline]
pub(super) fn raise(flag: &AtomicBool) {
    #[cfg(not(zmq_loom))]
    flag.store(true, Ordering::Release);
    #[cfg(zmq_loom)]
    flag.swap(true, Ordering::Release);
}
