//! The pipe's synchronisation primitives: std's and futures' in a normal build, loom's
//! models under `--cfg zmq_loom` (so `loom_tests.rs` can explore every interleaving).
//!
//! Re-exports: the normal build uses the very same types, with no wrapper. The ring is
//! `rtrb`'s in a normal build and, under loom, a stand-in with the same methods and
//! `rtrb`'s orderings on loom's atomics (`rtrb`'s atomics are std's, which loom does not
//! model; see `loom_ring`). The pipe's protocol around the ring is what the models check;
//! `rtrb`'s own correctness is its tests'.
//! A pipe's [`Notify`](super::Notify) is shared through a `std::sync::Arc` in both builds
//! (the socket holds it beside other state that loom does not model); an `Arc` in a loom
//! build only adds leak checks, which the pipe's own `Shared` gets.

#[cfg(not(zmq_loom))]
pub(super) use futures::task::AtomicWaker;
#[cfg(zmq_loom)]
pub(super) use loom::future::AtomicWaker;
#[cfg(zmq_loom)]
pub(super) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};
#[cfg(zmq_loom)]
pub(super) use loom_ring::{Consumer, Producer, RingBuffer};
pub(super) use rtrb::PushError;
#[cfg(not(zmq_loom))]
pub(super) use rtrb::{Consumer, Producer, RingBuffer};
#[cfg(not(zmq_loom))]
pub(super) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
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

/// The ring's stand-in under loom: `rtrb`'s methods that the pipe uses, with `rtrb`'s
/// synchronisation on loom's atomics: the writer publishes a slot by storing `tail`
/// (Release), the reader frees it by storing `head` (Release), each reads the other's index
/// with Acquire. A failed pop or push writes nothing, so it orders nothing, as in `rtrb`:
/// the pipe's own flags must. (Each slot is a loom mutex only to hold a value safely;
/// neither end waits on it, since a slot is the writer's or the reader's by the indices.)
#[cfg(zmq_loom)]
mod loom_ring {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};

    #[derive(Debug)]
    struct Ring<T> {
        slots: Vec<Mutex<Option<T>>>,
        head: AtomicUsize,
        tail: AtomicUsize,
    }

    pub(crate) struct RingBuffer;

    impl RingBuffer {
        pub(crate) fn new<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
            let ring = Arc::new(Ring {
                slots: (0..capacity).map(|_| Mutex::new(None)).collect(),
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
            });
            (Producer(ring.clone()), Consumer(ring))
        }
    }

    #[derive(Debug)]
    pub(crate) struct Producer<T>(Arc<Ring<T>>);

    impl<T> Producer<T> {
        pub(crate) fn push(&mut self, value: T) -> Result<(), rtrb::PushError<T>> {
            let ring = &self.0;
            let tail = ring.tail.load(Ordering::Relaxed);
            if tail - ring.head.load(Ordering::Acquire) == ring.slots.len() {
                return Err(rtrb::PushError::Full(value));
            }
            *ring.slots[tail % ring.slots.len()].lock().expect("slot") = Some(value);
            ring.tail.store(tail + 1, Ordering::Release);
            Ok(())
        }

        /// Free slots.
        pub(crate) fn slots(&self) -> usize {
            let ring = &self.0;
            ring.slots.len()
                - (ring.tail.load(Ordering::Relaxed) - ring.head.load(Ordering::Acquire))
        }
    }

    #[derive(Debug)]
    pub(crate) struct Consumer<T>(Arc<Ring<T>>);

    impl<T> Consumer<T> {
        pub(crate) fn pop(&mut self) -> Result<T, ()> {
            let ring = &self.0;
            let head = ring.head.load(Ordering::Relaxed);
            if ring.tail.load(Ordering::Acquire) == head {
                return Err(());
            }
            let value = ring.slots[head % ring.slots.len()]
                .lock()
                .expect("slot")
                .take();
            ring.head.store(head + 1, Ordering::Release);
            value.ok_or(())
        }

        /// Items to read.
        pub(crate) fn slots(&self) -> usize {
            let ring = &self.0;
            ring.tail.load(Ordering::Acquire) - ring.head.load(Ordering::Relaxed)
        }
    }
}
