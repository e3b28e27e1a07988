//! What the codec allocates, counted with a global allocator that counts the allocations of
//! each thread apart (the test harness's own thread allocates now and then while a test
//! runs): `Frame::copy_from_slice` carves bodies of 39 to 128 bytes from a buffer of its
//! thread, and a connection in a request-reply exchange reads into its two buffers in turn.

#![allow(unsafe_code)] // the counting allocator
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Instant;

use bytes::BufMut;
use harness::Pair;
use zmtp_codec::{Config, Event, Frame, Message, SocketType};

struct Counting;

thread_local! {
    /// Allocations made by this thread (a constant initialiser and no destructor: reading it
    /// never allocates).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is handed to `System` unchanged; the counter is only a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread made while `f` ran.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn carved_bodies_allocate_once_a_buffer_and_not_at_all_once_it_is_taken_back() {
    const N: usize = 100_000;
    let body = [3u8; 64];
    // A queue of 1,000 in flight (a socket's high-water mark), the oldest dropped as each
    // new one is built: every 8 KiB buffer is still in use when it fills, so each costs a
    // new one (and its reference count), 2 allocations a 128 bodies.
    let mut in_flight = VecDeque::with_capacity(1000);
    let queued = allocations(|| {
        for _ in 0..N {
            if in_flight.len() == 1000 {
                in_flight.pop_front();
            }
            in_flight.push_back(Frame::copy_from_slice(&body));
        }
    });
    assert!(
        queued <= 2 * N / 128 + 4,
        "{queued} allocations for {N} bodies"
    );
    drop(in_flight);

    // Each dropped before the buffer fills: the one buffer is taken back every time.
    let taken_back = allocations(|| {
        for _ in 0..N {
            let frame = Frame::copy_from_slice(&body);
            assert_eq!(frame, body);
        }
    });
    assert!(taken_back <= 4, "{taken_back} allocations for {N} bodies");

    // Over 128 bytes, each body is an allocation of its own.
    let large = allocations(|| {
        for _ in 0..100 {
            drop(Frame::copy_from_slice(&[1u8; 129]));
        }
    });
    assert!(
        large >= 100,
        "{large} allocations for 100 bodies of 129 bytes"
    );
}

/// A request-reply exchange as a connection's task runs it: the request is read and handed
/// to the socket, then the task reads again (finding nothing) before the socket has dropped
/// the request. The request's body shares the read buffer, so
/// that read cannot reuse it; with a second buffer to turn to, nothing is allocated a
/// message (it was a buffer and its reference count each).
#[test]
fn a_request_reply_exchange_reads_without_allocating() {
    let now = Instant::now();
    let mut pair = Pair::new(Config::new(SocketType::Req), Config::new(SocketType::Rep));
    pair.drive();
    assert!(pair.b.handshake_done().is_some());
    let (req, rep) = (&mut pair.a.conn, &mut pair.b.conn);
    // One exchange; what the receiving side allocated.
    let mut exchange = |body: &[u8]| {
        req.send(&Message::from(Frame::copy_from_slice(body)))
            .unwrap();
        let mut wire = Vec::new();
        while let Some(chunk) = req.poll_transmit() {
            wire.extend_from_slice(&chunk);
        }
        let before = ALLOCATIONS.with(Cell::get);
        rep.read_buf().put_slice(&wire);
        rep.handle_read(now).unwrap();
        let Ok(Some(Event::Message(request))) = rep.poll_event() else {
            panic!("no request");
        };
        assert_eq!(request.last().map(|f| &f[..]), Some(body));
        assert_eq!(rep.poll_event(), Ok(None));
        // The read that finds nothing, while the socket holds the request.
        rep.read_buf();
        drop(request);
        ALLOCATIONS.with(Cell::get) - before
    };
    for size in [64, 1024] {
        let body = vec![7u8; size];
        for _ in 0..10 {
            exchange(&body);
        }
        let allocated: usize = (0..100).map(|_| exchange(&body)).sum();
        assert_eq!(allocated, 0, "in 100 exchanges of {size} B");
    }
}
