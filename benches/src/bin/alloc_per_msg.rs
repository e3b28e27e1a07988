//! `alloc_per_msg <message-count>`: heap allocations per message on the steady path of a
//! busy PUSH/PULL pair (current-thread runtime, both ends in this process), counted by a
//! global allocator wrapper, over inproc, tcp and ipc.
//!
//! Two ways of building the messages: `shared`, one `Bytes` cloned for every message (a
//! reference count, no allocation), so what is counted is the sockets' own work: pipes,
//! codec, connection tasks; and `fresh`, each message built from a slice with
//! `Frame::copy_from_slice` as an application does (libzmq's perf tools call
//! `zmq_msg_init_size` for every message), so what the message itself costs is counted
//! too: nothing up to `Frame::INLINE_CAPACITY` bytes, one allocation above. After a warm-up batch, taken whole by the receiver,
//! the counter is read around the sending and the receipt of the next `message-count`
//! messages.
//!
//! Then request-reply: a REQ and a REP (the REP echoing each request, in a task of its own)
//! over the same transports, counted around `message-count` round trips after as many to
//! warm up, and reported per round trip (two messages, each sent and received once).
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use zmq_async::{kind, Frame, Message, Socket, SocketKind};
use zmq_benches::{fail, runtime, Args};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args = Args::parse("alloc_per_msg <message-count>", 1);
    let count = args.number(0);
    let rt = runtime(false);
    let endpoints = [
        "inproc://alloc-per-msg".to_owned(),
        "tcp://127.0.0.1:0".to_owned(),
        format!("ipc:///tmp/zmq-alloc-per-msg-{}.ipc", std::process::id()),
    ];
    for endpoint in &endpoints {
        for size in [8usize, 64, 1024] {
            for fresh in [false, true] {
                let (allocs, bytes) = rt.block_on(measure(endpoint, size, count, fresh));
                println!(
                    "{:<7} {size:>5} B {:<6}: {:.4} allocations/msg, {:.1} bytes allocated/msg ({allocs} in {count} messages)",
                    endpoint.split(':').next().unwrap_or("?"),
                    if fresh { "fresh" } else { "shared" },
                    allocs as f64 / count as f64,
                    bytes as f64 / count as f64,
                );
            }
        }
    }
    for endpoint in &endpoints {
        // Names of their own: the PUSH/PULL pairs above may still be lingering on theirs.
        let endpoint = endpoint.replace("alloc-per-msg", "alloc-per-round-trip");
        for size in [8usize, 64, 1024] {
            let (allocs, bytes) = rt.block_on(measure_round_trips(&endpoint, size, count));
            println!(
                "{:<7} {size:>5} B REQ/REP: {:.4} allocations/round trip, {:.1} bytes allocated/round trip ({allocs} in {count} round trips)",
                endpoint.split(':').next().unwrap_or("?"),
                allocs as f64 / count as f64,
                bytes as f64 / count as f64,
            );
        }
    }
}

/// `count` round trips of one `size`-byte message between a REQ and an echoing REP, after
/// `count` to warm up: the allocations and bytes allocated in the second `count`.
async fn measure_round_trips(endpoint: &str, size: usize, count: usize) -> (u64, u64) {
    let (mut rep, mut req) = bound_pair::<kind::Rep, kind::Req>(endpoint).await;
    let echo = tokio::spawn(async move {
        for _ in 0..2 * count {
            let msg = rep
                .recv()
                .await
                .unwrap_or_else(|e| fail(format_args!("zmq_recvmsg: {e}")));
            if let Err(e) = rep.send(msg).await {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
        rep
    });
    let mut msg = Message::from(Frame::copy_from_slice(&vec![0u8; size]));
    let mut before = (0, 0);
    for round in 0..2 * count {
        if round == count {
            before = counted();
        }
        if let Err(e) = req.send(msg).await {
            fail(format_args!("zmq_sendmsg: {e}"));
        }
        msg = req
            .recv()
            .await
            .unwrap_or_else(|e| fail(format_args!("zmq_recvmsg: {e}")));
    }
    let after = counted();
    drop(echo.await);
    (after.0 - before.0, after.1 - before.1)
}

/// The allocations made so far, and the bytes they asked for.
fn counted() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// A socket bound to `endpoint`, and one connected to it.
async fn bound_pair<B: SocketKind, C: SocketKind>(endpoint: &str) -> (Socket<B>, Socket<C>) {
    let mut bound = Socket::<B>::new();
    let ep = bound
        .bind(endpoint)
        .await
        .unwrap_or_else(|e| fail(format_args!("zmq_bind: {e}")));
    let mut connected = Socket::<C>::new();
    connected
        .connect(&ep)
        .await
        .unwrap_or_else(|e| fail(format_args!("zmq_connect: {e}")));
    (bound, connected)
}

async fn measure(endpoint: &str, size: usize, count: usize, fresh: bool) -> (u64, u64) {
    let (mut pull, mut push) = bound_pair::<kind::Pull, kind::Push>(endpoint).await;
    let body = bytes::Bytes::from(vec![0u8; size]);
    // The sender sends a warm-up batch, waits until the receiver has taken all of it (so
    // the window below holds the sending of exactly `count` messages as well as their
    // receipt), then the measured batch.
    let (go, ready) = tokio::sync::oneshot::channel::<()>();
    let sender = tokio::spawn(async move {
        let slice = vec![0u8; size];
        let mut ready = Some(ready);
        for i in 0..2 * count {
            if i == count {
                if let Some(ready) = ready.take() {
                    drop(ready.await);
                }
            }
            let msg = if fresh {
                Frame::copy_from_slice(&slice)
            } else {
                Frame::from(body.clone())
            };
            if let Err(e) = push.send(msg).await {
                fail(format_args!("zmq_sendmsg: {e}"));
            }
        }
        push
    });
    for _ in 0..count {
        if let Err(e) = pull.recv().await {
            fail(format_args!("zmq_recvmsg: {e}"));
        }
    }
    let (a0, b0) = counted();
    if go.send(()).is_err() {
        fail("the sender ended early");
    }
    for _ in 0..count {
        if let Err(e) = pull.recv().await {
            fail(format_args!("zmq_recvmsg: {e}"));
        }
    }
    let (a1, b1) = counted();
    drop(sender.await);
    (a1 - a0, b1 - b0)
}
