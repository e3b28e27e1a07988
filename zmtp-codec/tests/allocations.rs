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
use zmtp_codec::{zws, Config, Connection, Event, Frame, Message, SocketType};

struct Counting;

thread_local! {
    /// Allocations made by this thread (a constant initialiser and no destructor: reading it
    /// never allocates).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread allocated minus those it freed (the tests free on the thread that
    /// allocated).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count_one() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

fn live(change: isize) {
    LIVE.with(|n| n.set(n.get() + change));
}

// SAFETY: every call is handed to `System` unchanged; the counter is only a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        live(layout.size() as isize);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        live(new_size as isize - layout.size() as isize);
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

/// A REQ and a REP connection whose handshake is done in memory.
fn req_rep() -> Pair {
    let mut pair = Pair::new(Config::new(SocketType::Req), Config::new(SocketType::Rep));
    pair.drive();
    assert!(pair.b.handshake_done().is_some());
    pair
}

/// One request from `req` to `rep` as a connection's task takes it: read into the read
/// buffer, decoded, then a read that finds nothing while the socket still holds the
/// request (a connection reads again before the socket's task runs), then the request
/// dropped. Returns the allocations of `rep`'s side.
fn exchange(req: &mut Connection, rep: &mut Connection, body: &[u8]) -> usize {
    let wire = wire(req, &[Message::from(Frame::copy_from_slice(body))]);
    let before = ALLOCATIONS.with(Cell::get);
    read_in(rep, &wire, usize::MAX, |_| {});
    let Ok(Some(Event::Message(request))) = rep.poll_event() else {
        panic!("no request");
    };
    assert_eq!(request.last().map(|f| &f[..]), Some(body));
    assert_eq!(rep.poll_event(), Ok(None));
    rep.read_buf();
    drop(request);
    ALLOCATIONS.with(Cell::get) - before
}

/// The request's body shares the read buffer, so the read that finds nothing cannot reuse
/// it; with a second buffer to turn to, a request-reply exchange allocates nothing a
/// message (it was a buffer and its reference count each).
#[test]
fn a_request_reply_exchange_reads_without_allocating() {
    let mut pair = req_rep();
    let (req, rep) = (&mut pair.a.conn, &mut pair.b.conn);
    for size in [64, 1024] {
        let body = vec![7u8; size];
        for _ in 0..10 {
            exchange(req, rep, &body);
        }
        let allocated: usize = (0..100).map(|_| exchange(req, rep, &body)).sum();
        assert_eq!(allocated, 0, "in 100 exchanges of {size} B");
    }
}

/// Neither read buffer stays sized for a large frame once the peer is back to small ones:
/// after a 256 KiB request and a few small ones, the connection holds about what it held
/// before. (Before 13ba888 it kept the large buffer for as long as its tail had room.)
#[test]
fn a_large_frame_leaves_no_large_buffer() {
    let mut pair = req_rep();
    let (req, rep) = (&mut pair.a.conn, &mut pair.b.conn);
    let small = vec![7u8; 64];
    for _ in 0..10 {
        exchange(req, rep, &small);
    }
    let before = LIVE.with(Cell::get);
    exchange(req, rep, &vec![9u8; 256 * 1024]);
    for _ in 0..3 {
        exchange(req, rep, &small);
    }
    let grown = LIVE.with(Cell::get) - before;
    assert!(
        grown < 64 * 1024,
        "{grown} bytes more held after the large frame"
    );
}

/// The same in a stream whose reads end inside frames, so that the read buffer is never
/// empty: a PULL reading a 256 KiB message and then small ones, 1,000 bytes a read, keeps
/// no large buffer once a small frame is at its front.
#[test]
fn a_stream_back_to_small_frames_keeps_no_large_buffer() {
    let mut pair = push_pull();
    let (push, pull) = (&mut pair.a.conn, &mut pair.b.conn);
    let stream = |push: &mut Connection, pull: &mut Connection, msgs: &[Message]| {
        let mut received = 0;
        read_in(pull, &wire(push, msgs), 1000, |pull| {
            while let Ok(Some(event)) = pull.poll_event() {
                assert!(matches!(event, Event::Message(_)), "{event:?}");
                received += 1;
            }
        });
        assert_eq!(received, msgs.len());
    };
    let small = vec![Message::from(Frame::copy_from_slice(&[7u8; 50])); 100];
    stream(push, pull, &small);
    let before = LIVE.with(Cell::get);
    stream(
        push,
        pull,
        &[Message::from(Frame::copy_from_slice(&vec![
            9u8;
            256 * 1024
        ]))],
    );
    stream(push, pull, &small);
    let grown = LIVE.with(Cell::get) - before;
    assert!(
        grown < 64 * 1024,
        "{grown} bytes more held after the large frame"
    );
}

/// A PUSH and a PULL connection whose handshake is done in memory.
fn push_pull() -> Pair {
    let mut pair = Pair::new(Config::new(SocketType::Push), Config::new(SocketType::Pull));
    pair.drive();
    pair
}

/// The bytes `sender` sends for `msgs`.
fn wire(sender: &mut Connection, msgs: &[Message]) -> Vec<u8> {
    let mut wire = Vec::new();
    for msg in msgs {
        sender.send(msg).unwrap();
        while let Some(chunk) = sender.poll_transmit() {
            wire.extend_from_slice(&chunk);
        }
    }
    wire
}

/// Hands `wire` to `conn` as a transport reads it: each read at most what `read_buf`
/// offers and at most `read_size` bytes; `after_each` runs after every read.
fn read_in(
    conn: &mut Connection,
    wire: &[u8],
    read_size: usize,
    mut after_each: impl FnMut(&mut Connection),
) {
    let now = Instant::now();
    let mut at = 0;
    while at < wire.len() {
        let buf = conn.read_buf();
        let n = (buf.capacity() - buf.len())
            .min(wire.len() - at)
            .min(read_size);
        buf.put_slice(&wire[at..at + n]);
        at += n;
        conn.handle_read(now).unwrap();
        after_each(conn);
    }
}

/// A stream whose messages are a small topic and a large body keeps its read buffer large
/// between messages (the last frame decoded is large, and so is the one at the front of
/// the buffer while its body arrives): read in what `read_buf` offers, or 1,000 bytes at
/// a time, each message dropped once whole, it allocates nothing a message once warm.
/// Letting the buffer go whenever the frame at the front of a read was small cost 1.5
/// allocations a message read as offered; deciding before looking at the frame now at the
/// front, 4 a message read 1,000 bytes at a time.
#[test]
fn a_topic_and_a_large_body_read_without_allocating() {
    let mut pair = push_pull();
    let (push, pull) = (&mut pair.a.conn, &mut pair.b.conn);
    let mut msg = Message::from(Frame::copy_from_slice(&vec![9u8; 64 * 1024]));
    msg.push_front(Frame::copy_from_slice(b"topic"));
    for read_size in [usize::MAX, 1000] {
        let mut allocated = 0;
        for round in 0..30 {
            let wire = wire(push, std::slice::from_ref(&msg));
            let before = ALLOCATIONS.with(Cell::get);
            let mut received = None;
            read_in(pull, &wire, read_size, |pull| {
                if let Ok(Some(Event::Message(m))) = pull.poll_event() {
                    received = Some(m);
                }
            });
            assert_eq!(received.as_ref(), Some(&msg));
            drop(received);
            if round >= 10 {
                allocated += ALLOCATIONS.with(Cell::get) - before;
            }
        }
        assert_eq!(
            allocated, 0,
            "in 20 messages of a topic and 64 KiB, reads of up to {read_size} bytes"
        );
    }
}

/// Bytes handed in by `handle_input` and ZWS messages follow the same rule as reads through
/// `read_buf`: after a 256 KiB message and small ones, the connection holds about what it
/// held before.
#[test]
fn appended_input_keeps_no_large_buffer() {
    let large = Message::from(Frame::copy_from_slice(&vec![9u8; 256 * 1024]));
    let small: Vec<Message> = (0..100)
        .map(|_| Message::from(Frame::copy_from_slice(&[7u8; 50])))
        .collect();
    let now = Instant::now();

    let mut pair = push_pull();
    let (push, pull) = (&mut pair.a.conn, &mut pair.b.conn);
    let feed = |push: &mut Connection, pull: &mut Connection, msgs: &[Message]| {
        for piece in wire(push, msgs).chunks(1000) {
            pull.handle_input(now, piece).unwrap();
            while let Ok(Some(event)) = pull.poll_event() {
                assert!(matches!(event, Event::Message(_)), "{event:?}");
            }
        }
    };
    feed(push, pull, &small);
    let before = LIVE.with(Cell::get);
    feed(push, pull, std::slice::from_ref(&large));
    feed(push, pull, &small);
    let grown = LIVE.with(Cell::get) - before;
    assert!(grown < 64 * 1024, "handle_input: {grown} bytes more held");

    let (mut push, mut pull) = zws_push_pull();
    let send = |push: &mut Connection, pull: &mut Connection, msgs: &[Message]| {
        for msg in msgs {
            push.send(msg).unwrap();
            while let Some(zws::Output::Message(m)) = push.poll_zws_transmit() {
                pull.handle_zws_message(now, &m).unwrap();
            }
            while let Ok(Some(event)) = pull.poll_event() {
                assert!(matches!(event, Event::Message(_)), "{event:?}");
            }
        }
    };
    send(&mut push, &mut pull, &small);
    let before = LIVE.with(Cell::get);
    send(&mut push, &mut pull, std::slice::from_ref(&large));
    send(&mut push, &mut pull, &small);
    let grown = LIVE.with(Cell::get) - before;
    assert!(grown < 64 * 1024, "ZWS: {grown} bytes more held");
}

/// A PUSH and a PULL connection in ZWS mode, handshaken.
fn zws_push_pull() -> (Connection, Connection) {
    let now = Instant::now();
    let mut push =
        Connection::new_zws(Config::new(SocketType::Push), zws::Protocol::Mechanism, now).unwrap();
    let mut pull =
        Connection::new_zws(Config::new(SocketType::Pull), zws::Protocol::Mechanism, now).unwrap();
    for _ in 0..4 {
        while let Some(zws::Output::Message(m)) = push.poll_zws_transmit() {
            pull.handle_zws_message(now, &m).unwrap();
        }
        while let Some(zws::Output::Message(m)) = pull.poll_zws_transmit() {
            push.handle_zws_message(now, &m).unwrap();
        }
        while let Ok(Some(_)) = push.poll_event() {}
        while let Ok(Some(_)) = pull.poll_event() {}
    }
    assert!(push.is_active() && pull.is_active());
    (push, pull)
}
