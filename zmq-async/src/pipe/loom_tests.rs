//! Model tests of the pipe's hand-over, wake-up and close protocol: loom runs each model
//! under every interleaving (up to a preemption bound) and fails on a deadlock, which is
//! what a lost wake-up becomes when every task is parked.
//!
//! ```text
//! RUSTFLAGS="--cfg zmq_loom" LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p zmq-async --release --lib --target-dir target/loom pipe::loom_tests
//! ```
//!
//! Tasks are loom threads driving futures with `loom::future::block_on`, whose waker
//! unparks the thread: a task parked with no wake-up coming is a deadlock. The numbers of
//! messages are small on purpose (two or three past the HWM is enough to park the writer
//! and cross the low-water mark); the slowest model (three threads) takes about 8 s.
//!
//! What is real and what is mirrored: the pipe and its `Notify` are the real code, on
//! loom's primitives. loom's `AtomicWaker` is a lock-based stand-in with futures'
//! contract, so that contract is assumed, not checked; so is the ring (`rtrb`'s in a normal
//! build, a loom mutex around a queue here: see `sync.rs`). The socket side (the fair queue,
//! the load balancer, PUB's intake, the mailbox) is mirrored here in a few lines each, in
//! the order `fq.rs`, `lb.rs`, `xpub.rs`, `peer.rs` and `socket.rs` use: keep them in step.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use loom::future::block_on;
use loom::thread;
use zmtp_codec::Message;

use super::sync::{AtomicBool, Mutex, Ordering};
use super::{pipe, pipe_with, Notify, PipeClosed, PipeConfig, PipeReader, PipeWriter, TryPop};

/// Runs `f` under loom, with at most three preemptions unless `LOOM_MAX_PREEMPTIONS` says.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn msg(i: u8) -> Message {
    Message::from(vec![i])
}

fn number(m: &Message) -> u8 {
    m[0][0]
}

/// Pops until the end of the pipe, as a connection task does.
fn drain(reader: &mut PipeReader) -> Vec<u8> {
    block_on(async {
        let mut got = Vec::new();
        while let Some(m) = reader.pop().await {
            got.push(number(&m));
        }
        got
    })
}

/// Runs `write` on a writer thread (its end closes when `write` returns) while this thread
/// drains the reader; returns what the reader got, and the reader.
fn write_and_drain(
    config: PipeConfig,
    write: impl FnOnce(PipeWriter) + Send + 'static,
) -> (Vec<u8>, PipeReader) {
    let (w, mut r) = pipe_with(config);
    let writer = thread::spawn(move || write(w));
    let got = drain(&mut r);
    writer.join().expect("writer");
    (got, r)
}

fn hwm(hwm: usize) -> PipeConfig {
    PipeConfig {
        hwm,
        conflate: false,
    }
}

/// A writer pushing `n` messages into a pipe of HWM `hwm` and closing; the reader drains
/// it. The writer parks at the HWM and must be woken by the reader's take of the queue or
/// by its release at the low-water mark; the reader parks on the empty pipe and must be
/// woken by a push or the close. Everything arrives, in order.
fn writer_and_reader(hwm: usize, n: u8) {
    model(move || {
        let (got, _) = write_and_drain(self::hwm(hwm), move |mut w| {
            block_on(async {
                for i in 0..n {
                    w.push(msg(i)).await.expect("the reader is alive");
                }
            });
        });
        assert_eq!(got, (0..n).collect::<Vec<_>>());
    });
}

#[test]
fn loom_writer_at_hwm_one_is_woken_by_the_reader() {
    writer_and_reader(1, 3);
}

#[test]
fn loom_writer_at_hwm_is_woken_at_the_low_water_mark() {
    // HWM 4: the reader releases its cache every two reads (half the HWM), so the writer
    // parked at four queued messages gets room before the reader has read them all.
    writer_and_reader(4, 6);
}

#[test]
fn loom_unlimited_pipe_never_parks_the_writer() {
    writer_and_reader(0, 3);
}

#[test]
fn loom_reader_parked_on_empty_is_woken_by_a_push() {
    model(|| {
        let (mut w, mut r) = pipe(1);
        let reader = thread::spawn(move || block_on(r.pop()).map(|m| number(&m)));
        w.try_push(msg(7)).expect("room and a reader");
        // The writer stays open until the reader has its message: the push, not the
        // close, must wake it.
        assert_eq!(reader.join().expect("reader"), Some(7));
        drop(w);
    });
}

#[test]
fn loom_writer_close_is_seen_after_everything_queued() {
    model(|| {
        let (got, r) = write_and_drain(hwm(1), |mut w| {
            w.try_push(msg(0)).expect("a reader");
            // Past the HWM: subscriptions and welcome messages are never dropped.
            w.push_force(msg(1)).expect("a reader");
            w.close();
        });
        assert_eq!(got, [0, 1]);
        assert!(r.is_finished());
    });
}

#[test]
fn loom_writer_close_discard_ends_the_reader() {
    model(|| {
        let (got, mut r) = write_and_drain(hwm(2), |mut w| {
            w.try_push(msg(0)).expect("a reader");
            w.close_discard();
        });
        // Whatever the reader took before the discard it keeps; it then sees the end.
        assert!(got.is_empty() || got == [0], "{got:?}");
        assert_eq!(r.try_pop(), TryPop::Finished);
    });
}

#[test]
fn loom_reader_close_wakes_the_writer_parked_at_hwm() {
    model(|| {
        let (mut w, r) = pipe(1);
        let reader = thread::spawn(move || drop(r));
        let outcome = block_on(async {
            // The first push may find the reader gone already; the second cannot find room
            // (the reader never reads), so only the close can end it.
            let _ = w.push(msg(0)).await;
            w.push(msg(1)).await
        });
        assert_eq!(outcome, Err(PipeClosed));
        assert!(w.is_closed());
        reader.join().expect("reader");
    });
}

#[test]
fn loom_lingering_writer_discard_ends_the_reader() {
    model(|| {
        let (mut w, mut r) = pipe(0);
        w.try_push(msg(0)).expect("a reader");
        w.try_push(msg(1)).expect("a reader");
        let linger = w.close_lingering();
        let discarder = thread::spawn(move || {
            linger.discard();
            assert!(linger.is_done());
        });
        // The reader ends either way: with what it took before the discard, in order (a
        // prefix: it takes the ring's messages one at a time).
        let got = drain(&mut r);
        assert!([&[][..], &[0], &[0, 1]].contains(&&got[..]), "{got:?}");
        discarder.join().expect("discarder");
    });
}

#[test]
fn loom_raising_the_hwm_wakes_the_parked_writer() {
    model(|| {
        let (mut w, r) = pipe(1);
        w.try_push(msg(0)).expect("room");
        let raiser = thread::spawn(move || {
            // The reader's end, as the inproc bind sets it: never reads.
            r.set_hwm(2);
            r
        });
        assert_eq!(block_on(w.push(msg(1))), Ok(()));
        let r = raiser.join().expect("raiser");
        assert_eq!(r.len(), 2);
    });
}

/// The connection task's side of an inbound pipe: waits for room, then moves as much of
/// its inbox as fits (as `net/session.rs` does), until the inbox is empty.
fn push_all_in_batches(w: &PipeWriter, mut inbox: VecDeque<Message>) -> Result<(), PipeClosed> {
    block_on(poll_fn(|cx| loop {
        if inbox.is_empty() {
            return Poll::Ready(Ok(()));
        }
        futures::ready!(w.poll_ready(cx))?;
        w.push_batch(&mut inbox)?;
    }))
}

#[test]
fn loom_batches_hand_over_everything() {
    model(|| {
        let (w, mut r) = pipe(2);
        let writer = thread::spawn(move || {
            let inbox = (0..3).map(msg).collect();
            push_all_in_batches(&w, inbox).expect("the reader is alive");
        });
        // The reader pops with a waker, then without, as a socket does.
        let mut got = Vec::new();
        while let Some(m) = block_on(r.pop()) {
            got.push(number(&m));
            if let TryPop::Message(m) = r.try_pop() {
                got.push(number(&m));
            }
        }
        assert_eq!(got, [0, 1, 2]);
        writer.join().expect("writer");
    });
}

#[test]
fn loom_batch_writer_sees_the_reader_close() {
    model(|| {
        let (w, r) = pipe(1);
        let reader = thread::spawn(move || drop(r));
        let inbox = (0..2).map(msg).collect();
        assert_eq!(push_all_in_batches(&w, inbox), Err(PipeClosed));
        reader.join().expect("reader");
    });
}

#[test]
fn loom_conflating_pipe_delivers_the_last() {
    model(|| {
        let config = PipeConfig {
            hwm: 1,
            conflate: true,
        };
        let (got, _) = write_and_drain(config, |mut w| {
            for i in 0..3 {
                w.try_push(msg(i)).expect("a conflating pipe is never full");
            }
        });
        assert_eq!(got.last(), Some(&2), "{got:?}");
        assert!(got.windows(2).all(|p| p[0] < p[1]), "{got:?}");
    });
}

/// A socket's fair queue over `readers`: look, register on the socket's `Notify`, look
/// again (as `FairQueue::poll_recv`); `Ready(None)` once every pipe is finished.
fn socket_recv(readers: &mut [PipeReader], readable: &Notify) -> Option<u8> {
    let look = |readers: &mut [PipeReader]| {
        let mut finished = 0;
        for r in readers.iter_mut() {
            match r.try_pop() {
                TryPop::Message(m) => return Some(Some(number(&m))),
                TryPop::Empty => {}
                TryPop::Finished => finished += 1,
            }
        }
        (finished == readers.len()).then_some(None)
    };
    block_on(poll_fn(|cx| {
        if let Some(x) = look(readers) {
            return Poll::Ready(x);
        }
        readable.register(cx.waker());
        match look(readers) {
            Some(x) => Poll::Ready(x),
            None => Poll::Pending,
        }
    }))
}

#[test]
fn loom_socket_reading_many_pipes_is_woken_through_its_notify() {
    model(|| {
        let readable = Arc::new(Notify::new());
        let (mut w1, r1) = pipe(1);
        let (mut w2, r2) = pipe(1);
        r1.set_notify(readable.clone());
        r2.set_notify(readable.clone());
        let peers = thread::spawn(move || {
            w1.try_push(msg(1)).expect("room");
            w2.try_push(msg(2)).expect("room");
            drop(w1);
            drop(w2);
        });
        let mut readers = [r1, r2];
        let mut got = Vec::new();
        while let Some(n) = socket_recv(&mut readers, &readable) {
            got.push(n);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        peers.join().expect("peers");
    });
}

/// A socket's load balancer sending `m` down one pipe: try, register on the socket's
/// `Notify`, try again (as `LoadBalancer::poll_send`).
fn socket_send(w: &mut PipeWriter, writable: &Notify, m: Message) {
    let mut slot = Some(m);
    let mut try_send = |slot: &mut Option<Message>| match slot.take() {
        Some(m) => match w.try_push(m) {
            Ok(()) => true,
            Err(e) => {
                *slot = Some(e.into_message());
                false
            }
        },
        None => true,
    };
    block_on(poll_fn(|cx| {
        if try_send(&mut slot) {
            return Poll::Ready(());
        }
        writable.register(cx.waker());
        if try_send(&mut slot) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
}

#[test]
fn loom_socket_writing_at_hwm_is_woken_through_its_notify() {
    model(|| {
        let writable = Arc::new(Notify::new());
        let (mut w, mut r) = pipe(1);
        w.set_notify(writable.clone());
        let connection = thread::spawn(move || drain(&mut r));
        for i in 0..2 {
            socket_send(&mut w, &writable, msg(i));
        }
        drop(w);
        assert_eq!(connection.join().expect("connection"), [0, 1]);
    });
}

#[test]
fn loom_inproc_sockets_hand_over_through_their_notifies() {
    // Both ends of an inproc pipe belong to sockets: the sender waits on its `writable`,
    // the receiver on its `readable`; neither uses the pipe's own wakers.
    model(|| {
        let writable = Arc::new(Notify::new());
        let readable = Arc::new(Notify::new());
        let (mut w, r) = pipe(1);
        w.set_notify(writable.clone());
        r.set_notify(readable.clone());
        let receiver = thread::spawn(move || {
            let mut readers = [r];
            let mut got = Vec::new();
            while let Some(n) = socket_recv(&mut readers, &readable) {
                got.push(n);
            }
            got
        });
        for i in 0..3 {
            socket_send(&mut w, &writable, msg(i));
        }
        drop(w);
        assert_eq!(receiver.join().expect("receiver"), [0, 1, 2]);
    });
}

#[test]
fn loom_socket_fans_in_from_two_connections() {
    // Two connection tasks push into their own pipes and close, waking the socket's one
    // `Notify` at the same time. (Three threads: one message each keeps the model to
    // seconds; two each, parking the writers too, took minutes.)
    model(|| {
        let readable = Arc::new(Notify::new());
        let mut readers = Vec::new();
        let mut connections = Vec::new();
        for first in [1, 2] {
            let (mut w, r) = pipe(1);
            r.set_notify(readable.clone());
            readers.push(r);
            connections.push(thread::spawn(move || {
                block_on(w.push(msg(first))).expect("the socket reads");
            }));
        }
        let mut got = Vec::new();
        while let Some(n) = socket_recv(&mut readers, &readable) {
            got.push(n);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        for c in connections {
            c.join().expect("connection");
        }
    });
}

#[test]
fn loom_lowering_the_hwm_mid_stream_loses_no_wake_up() {
    // The reader refreshes its release interval only when it takes the queue: a lower HWM
    // set meanwhile may delay the writer's room, never lose its wake-up.
    model(|| {
        let (got, _) = write_and_drain(hwm(4), |mut w| {
            block_on(async {
                for i in 0..5 {
                    if i == 3 {
                        w.set_hwm(1);
                    }
                    w.push(msg(i)).await.expect("the reader is alive");
                }
            });
        });
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn loom_notify_signal_is_never_lost_to_a_scan() {
    // PUB's subscription intake: register, take the signal, scan only when signalled.
    model(|| {
        let readable = Arc::new(Notify::new());
        let (mut w, mut r) = pipe(0);
        r.set_notify(readable.clone());
        assert!(readable.take_signal(), "a new Notify starts signalled");
        let subscriber = thread::spawn(move || {
            w.try_push(msg(9)).expect("a reader");
            // `w` stays open: the push alone must get the message read.
            w
        });
        let got = block_on(poll_fn(|cx| {
            readable.register(cx.waker());
            if !readable.take_signal() {
                return Poll::Pending;
            }
            match r.try_pop() {
                TryPop::Message(m) => Poll::Ready(number(&m)),
                TryPop::Empty => Poll::Pending,
                TryPop::Finished => unreachable!("the writer is kept open"),
            }
        }));
        assert_eq!(got, 9);
        drop(subscriber.join().expect("subscriber"));
    });
}

/// A socket's mailbox as `peer.rs` keeps it: commands under a lock, a flag for the
/// lock-free look, and the socket's `Notify` woken after posting.
struct Mailbox {
    commands: Mutex<Vec<PipeWriter>>,
    has_mail: AtomicBool,
    writable: Arc<Notify>,
}

impl Mailbox {
    fn post(&self, attach: PipeWriter) {
        attach.set_notify(self.writable.clone());
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(attach);
        self.has_mail.store(true, Ordering::Release);
        self.writable.wake();
    }

    fn take(&self, peers: &mut Vec<PipeWriter>) {
        if self.has_mail.load(Ordering::Acquire) && self.has_mail.swap(false, Ordering::AcqRel) {
            peers.append(&mut self.commands.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

/// A PUSH socket with no peer waits in `send` for one to attach (a listener's connection
/// posts it). The socket applies its mailbox, then its protocol registers on the `Notify`
/// and looks at the peers it knows. With `recheck`, `Socket` looks at the mailbox again
/// after a `Pending`.
fn socket_waits_for_a_peer(recheck: bool) {
    model(move || {
        let mailbox = Arc::new(Mailbox {
            commands: Mutex::new(Vec::new()),
            has_mail: AtomicBool::new(false),
            writable: Arc::new(Notify::new()),
        });
        let (w, r) = pipe(1);
        let listener = {
            let mailbox = mailbox.clone();
            thread::spawn(move || mailbox.post(w))
        };
        let mut peers = Vec::new();
        block_on(poll_fn(|cx| {
            mailbox.take(&mut peers);
            mailbox.writable.register(cx.waker());
            if let Some(peer) = peers.iter_mut().find(|p| p.has_room()) {
                peer.try_push(msg(5)).expect("room");
                return Poll::Ready(());
            }
            if recheck && mailbox.has_mail.load(Ordering::Acquire) {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }));
        listener.join().expect("listener");
        assert_eq!(r.len(), 1);
    });
}

#[test]
fn loom_mail_posted_while_the_socket_polls_wakes_it() {
    socket_waits_for_a_peer(true);
}

/// The order `Socket` had before: an attach posted between the socket's look at its
/// mailbox and its registration on the `Notify` is never seen, and the socket sleeps with
/// a peer ready. Kept to show the model finds it: loom reports the deadlock, then aborts the
/// test process (its clean-up panics again), so it cannot be a `should_panic` test. Run it
/// alone with `-- --ignored loom_mail_posted_while_the_socket_polls_is_lost`.
#[test]
#[ignore = "fails by design: shows the lost wake-up that the recheck fixes"]
fn loom_mail_posted_while_the_socket_polls_is_lost_without_the_recheck() {
    socket_waits_for_a_peer(false);
}

/// A connection's transport as the bypass sees it: what it writes, in order, whether the
/// session wrote it (what it popped) or the writer did through the bypass.
#[derive(Debug, Default)]
struct Wire {
    written: Mutex<Vec<u8>>,
}

impl Wire {
    fn write(&self, m: &Message) {
        self.written.lock().expect("wire").push(number(m));
    }
}

impl super::Bypass for Wire {
    fn try_send(&self, msg: &Message) -> super::Bypassed {
        self.write(msg);
        super::Bypassed::Written
    }
}

#[test]
fn loom_a_push_racing_the_arming_of_the_bypass_is_not_overtaken() {
    // The session arms the bypass when it found the pipe empty, while the socket pushes
    // two messages: one may go into the ring as the bypass is armed; the next must not
    // reach the wire before it. With the ring made and emptied first, as on a live pipe.
    model(|| {
        let wire = Arc::new(Wire::default());
        let (mut w, mut r) = pipe(0);
        r.set_bypass(Some(wire.clone()));
        w.try_push(msg(0)).expect("a reader");
        assert_eq!(r.try_pop(), TryPop::Message(msg(0)));
        let session_wire = wire.clone();
        let session = thread::spawn(move || {
            block_on(poll_fn(|cx| loop {
                match r.poll_pop(cx) {
                    Poll::Ready(Some(m)) => session_wire.write(&m),
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => {
                        r.arm_bypass();
                        return Poll::Pending;
                    }
                }
            }));
        });
        w.try_push(msg(1)).expect("a reader");
        w.try_push(msg(2)).expect("a reader");
        drop(w);
        session.join().expect("session");
        assert_eq!(*wire.written.lock().expect("wire"), [1, 2]);
    });
}
