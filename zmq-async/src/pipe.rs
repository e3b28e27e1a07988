//! Pipes: bounded queues of whole [`Message`]s between a socket and one peer.
//!
//! A pipe has exactly one [`PipeWriter`] and one [`PipeReader`]. Its high-water
//! mark (HWM) counts messages, as libzmq counts them; `0` means unlimited.
//! Closing either end is observed by the other: the reader sees the end of the
//! pipe after draining what was queued, the writer gets [`PipeClosed`] at once.
//! Dropping an end closes it.
//!
//! # Where messages go
//!
//! Two queues, in this order: a ring of `RING` (32) slots that one writer fills and one reader
//! empties without a lock (`rtrb`'s), and behind it a *spill* under the pipe's mutex, for
//! what did not go through the ring: the ring was full, the pipe conflates, or the message
//! was forced (`push_force`) or came in a batch (`push_batch`). Once anything is spilled,
//! every push goes to the spill until the reader, having found the ring empty, takes the
//! whole spill at once into a cache of its own (the two buffers trade places: no message
//! moves) and pops from the cache without locking; the ring then has only messages pushed
//! after the cache's, so the reader reads the cache, then the ring, then the spill. The
//! writer makes the ring at its first `try_push` (a pipe that only ever carries batches or
//! nothing, such as an idle connection's, has none) and hands the reader's end over under
//! the lock.
//!
//! Messages read still count against the HWM until the reader tells the writer
//! (`released`): every half HWM (as libzmq's low-water mark) and at every look under the
//! lock; the writer never sees more room than the reader has freed.
//!
//! Each end can be waited on in two ways: the `poll_*` methods register the
//! caller's waker (what a connection task uses), and a socket-level
//! [`Notify`] installed on the end is woken as well, so a socket waiting on
//! many pipes is woken when any of them changes.
//!
//! Why a ring: with the whole queue under one mutex, a writer and a reader on two cores
//! that keep pace with each other (inproc) took the lock for every message each, and spent
//! most of their time waiting for it (`Mutex::lock_contended` a third of the samples at
//! inproc 8 B, about 2 M messages a second against libzmq's lock-free pipe at 4 M).
//!
//! # The wake-up protocol
//!
//! The wakers, the `Notify`s, the spill and the flags' changes are under the mutex;
//! outside it are the ring, the counts (`pushed`, written by the writer; `released`, by
//! the reader), the HWM and three flags in one atomic word: `SLOW` (the writer must take
//! the lock: something is spilled, the bypass is armed, the pipe conflates, or the reader
//! closed), `READER_WAITING` and `WRITER_WAITING`. A flag is set and cleared only under
//! the lock and only by a read-modify-write, and an end that pushes or releases without the
//! lock looks at the flags with a read-modify-write after it: all of them are ordered in the
//! word's single modification order, so of an end that says it sleeps and then looks again,
//! and the other that changes what it waits for and then looks at the flags, one sees the
//! other (a release chain of read-modify-writes; no `SeqCst` needed, which loom does not
//! model). An end that waits registers its waker under the lock in the section that saw it
//! must wait; an end that wakes the other takes the other's waker and `Notify` under the
//! lock and wakes them after unlocking (`Wakeup`). The invariants:
//!
//! 1. **The reader sleeps only on an empty pipe.** It sleeps only after a look under the
//!    lock (`next_locked`) that found the ring, the spill and its cache empty and the
//!    writer open; that look tells the writer everything read, sets `READER_WAITING`, looks
//!    at the ring once more, and only then registers. A reader that scans with `try_pop`
//!    and sleeps on its socket's `Notify` sleeps only after a `try_pop` that returned
//!    `Empty`, which went through the same look.
//! 2. **Writer → reader.** A push under the lock wakes the reader if `READER_WAITING` is
//!    set; a push through the ring looks at the flags after it and takes the lock to do the
//!    same (`after_push`). Every close by the writer (`close`, `close_discard`,
//!    `LingerHandle::discard`) wakes the reader. Waking clears `READER_WAITING`. By 1, that
//!    covers everything a sleeping reader waits for. Pushes while the reader has not looked
//!    since it last took a message wake no one: it is awake and looks again before it can
//!    sleep. (Waking on every push onto an empty queue instead cost a `Notify` wake and an
//!    `Arc` clone a message when the reader keeps up.) A new pipe, and a reader given a new
//!    `Notify`, count as waiting: its socket has not looked yet.
//! 3. **The writer sleeps only at the HWM.** `poll_ready` registers only when
//!    `pushed - released >= hwm` (HWM non-zero, not conflating) and the reader is open.
//!    Every look of the writer's that finds the pipe full (`poll_ready`, `try_push`
//!    returning `Full`, `has_room` returning false) sets `WRITER_WAITING` and looks at
//!    `released` again; a writer that sleeps on its socket's `Notify` does so only after
//!    one of them (a `push_batch` that took fewer than offered is followed by
//!    `poll_ready`).
//! 4. **Reader → writer.** Everything that frees room wakes the writer if
//!    `WRITER_WAITING` is set and there is room: the reader's release (without the lock it
//!    looks at the flags after storing `released`), `set_hwm`, `retain`, and the reader's
//!    close (always). Nothing else lowers `pushed - released` or raises the HWM.
//! 5. **Never both asleep.** A sleeping reader released everything it read and found
//!    nothing, so `pushed - released` is what the writer pushed since; the writer can
//!    reach the HWM (at least 1) only by pushing, which wakes the reader (2). A `set_hwm`
//!    between two looks only delays a release (the reader's `release_every` is refreshed
//!    at its next look under the lock, which comes before it can sleep).
//! 6. **Close and discard.** Closing is a flag set under the lock after the writer's last
//!    push, so a reader that sees it under the lock sees everything pushed before it (the
//!    ring included): [`TryPop::Finished`] only when the writer closed and the cache, the
//!    ring and the spill are empty. After the reader closes, every push and `poll_ready`
//!    fails with [`PipeClosed`], but for at most one push through the ring racing with the
//!    close, whose message is dropped with the pipe (libzmq, too, loses what is queued to
//!    a pipe as it terminates). A discard empties the spill and marks the pipe; the reader
//!    drops what the ring holds at its next look, and does not pop the ring once it sees
//!    the mark (which it reads without ordering: a pop just after the discard is one just
//!    before it).
//!
//! Only one thread writes and one reads: `try_push` takes `&mut self`, and the ring's ends
//! make `PipeWriter` and `PipeReader` `!Sync` (a socket was `!Sync` already), so the
//! writer's count, its cached view of `released`, and its own `SLOW` need no more.
//! 7. **Socket `Notify`s.** Every wake-up in 2 and 4 also wakes the end's `Notify`. A
//!    socket waiting on many pipes (or on its mailbox, which wakes the same `Notify`)
//!    must register on the `Notify` *before* its last look at them: look, register, look
//!    again, then `Pending`. `AtomicWaker` makes register/wake race-free; `signalled` is
//!    raised before the waker is woken, and [`Notify::take_signal`] clears it before a
//!    scan, so a change during the scan leaves it raised for the next.
//!
//! # The bypass
//!
//! A connection's pipe may carry a [`Bypass`]: a way for the writer to hand a message
//! straight to the connection's transport, skipping the queue and the hop to the
//! connection's task (a latency of one wake-up). The reader *arms* it ([`PipeReader::arm_bypass`])
//! when it has written everything it took and found the pipe empty; taking messages
//! disarms it, and so does every message that goes through it. Arming sets `SLOW`, so
//! while it is armed every push takes the lock; a push through the ring that raced with
//! the arming is seen by one of the two (the reader's look at the ring after setting
//! `SLOW`, or the writer's look at the flags after its push, which then disarms it).
//! `try_push` uses it only while armed and with the ring and the spill empty, under the
//! pipe's lock, so a bypassed message follows everything pushed before it. A message
//! written whole wakes no one: the reader
//! re-arms the bypass at its next look that finds the pipe still empty, which in a
//! request-reply exchange is the look that delivers the reply, so each request and each
//! reply goes from the sender's task at no cost to the connection's. Only a message the
//! bypass could not finish writing wakes the reader, to write the rest. A burst goes
//! through the pipe, keeping its batched writes: its first message may take the bypass,
//! the next finds it disarmed and is queued (which wakes the reader), and a reader that
//! took messages does not arm it again until a later look finds nothing new (the
//! session's rule, `net/session.rs`). A sender that never hears back from its peer and
//! sends now and then alternates: one message through the bypass, the next through the
//! pipe, whose look re-arms it.
//!
//! # The inlet
//!
//! The other way round, a connection's inbound pipe may carry an [`Inlet`]: a way for the
//! reader to take messages that arrived on the connection's transport and were not queued
//! yet, reading and decoding them itself, skipping the hop through the connection's task.
//! The connection says its transport has bytes with a [`ReaderAlarm`] (it is woken by the
//! transport's readiness alongside the connection's task): if the reader waits, the alarm
//! raises a flag and wakes it. A reader that finds the pipe empty under the lock, with the
//! flag raised, lowers it and asks the inlet, still under the lock, so the writer cannot
//! push in between: what the inlet gives follows everything pushed before. The flag is
//! raised and lowered under the lock (the writer may lower it without, when it reads the
//! transport itself: it is a hint). Its messages go to a queue of the reader's own
//! (`direct`), read before the ring, and never count against the HWM (they were never in
//! the pipe). The inlet takes nothing while the connection's
//! task works on the connection (it tries its lock), and that task is woken by every
//! readiness whatever the reader does, so a reader that stops reading only loses the
//! shortcut: commands, heartbeats and back-pressure stay the connection's. (The loom
//! models below do not cover the inlet: it changes no flag the writer reads without the
//! lock, and its order rests on the lock; `tests` check it, and `tests/direct.rs`.)
//!
//! Wakers are woken at most once per registration (taken, not cloned); spurious wake-ups
//! happen (a `Notify` is shared) and every waiter looks again. The model tests in
//! `pipe/loom_tests.rs` check these under every interleaving (see there for how to run
//! them); the primitives come from `pipe/sync.rs`, std's in a normal build.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use zmtp_codec::Message;

use self::sync::{
    AtomicBool, AtomicUsize, AtomicWaker, Consumer, Mutex, MutexGuard, Ordering, Producer,
    RingBuffer,
};

#[cfg(all(test, zmq_loom))]
mod loom_tests;
mod sync;

/// The other end of the pipe is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pipe closed by the other end")]
pub struct PipeClosed;

/// Why [`PipeWriter::try_push`] did not queue a message; the message is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The pipe is at its high-water mark.
    Full(Message),
    /// The reader is gone.
    Closed(Message),
}

impl PushError {
    /// The message that was not queued.
    pub fn into_message(self) -> Message {
        match self {
            PushError::Full(m) | PushError::Closed(m) => m,
        }
    }
}

/// Result of [`PipeReader::try_pop`].
#[derive(Debug, PartialEq, Eq)]
pub enum TryPop {
    /// The next message.
    Message(Message),
    /// Nothing queued right now; the writer is still there.
    Empty,
    /// The writer closed the pipe and everything queued has been read.
    Finished,
}

/// A socket-level wake-up signal shared by many pipe ends.
///
/// Every pipe end a socket owns wakes the socket's `Notify` when it becomes
/// readable (or writable, or closed), so a socket blocked on N pipes needs one
/// registration. `signalled` additionally records that *something* happened,
/// for sockets that scan pipes without waiting (PUB's subscription intake).
#[derive(Debug)]
pub struct Notify {
    waker: AtomicWaker,
    signalled: AtomicBool,
}

impl Notify {
    /// A new, signalled notifier (so the first scan always happens).
    pub fn new() -> Self {
        Notify {
            waker: AtomicWaker::new(),
            signalled: AtomicBool::new(true),
        }
    }

    /// Registers the waker to be woken at the next [`Notify::wake`].
    pub fn register(&self, waker: &Waker) {
        sync::register(&self.waker, waker);
    }

    /// Records a change and wakes the registered task, if any.
    pub fn wake(&self) {
        sync::raise(&self.signalled);
        self.waker.wake();
    }

    /// Returns whether [`Notify::wake`] was called since the last call, and clears it.
    pub fn take_signal(&self) -> bool {
        self.signalled.swap(false, Ordering::AcqRel)
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

/// A way past the queue to the peer (see the module's docs): a connection's transport.
pub(crate) trait Bypass: Send + Sync + std::fmt::Debug {
    /// Sends `msg` now if it can, without waiting.
    fn try_send(&self, msg: &Message) -> Bypassed;
}

/// What [`Bypass::try_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bypassed {
    /// The message is written whole (or, empty, dropped): nothing is left for the reader.
    Written,
    /// The message is the bypass's, but part of it is left for the reader to write.
    Unfinished,
    /// Busy or gone: queue the message.
    Declined,
}

/// A way for the reader to take messages that arrived on the connection and are not queued
/// yet (see the module's docs): a connection's reading side.
pub(crate) trait Inlet: Send + Sync + std::fmt::Debug {
    /// Moves whole messages the connection has, reading from its transport without waiting,
    /// into `into` (empty). Called under the pipe's lock, with the pipe empty.
    fn try_take(&self, into: &mut VecDeque<Message>);
}

/// The most messages the reader reads before telling the writer.
const RELEASE_EVERY: usize = 256;

/// Slots in a pipe's ring: what the writer can hand over without a lock before it spills.
/// Two in the loom models, so that a few messages fill it and spill.
const RING: usize = if cfg!(zmq_loom) { 2 } else { 32 };

/// [`Shared::flags`]: the writer must take the lock (something is spilled, the bypass is
/// armed, the pipe conflates, or the reader closed).
const SLOW: usize = 1;
/// [`Shared::flags`]: the reader found nothing and sleeps until a push or a close.
const READER_WAITING: usize = 2;
/// [`Shared::flags`]: the writer found the pipe at its HWM and waits for the reader's release.
const WRITER_WAITING: usize = 4;

/// What the two ends share but for the ring: everything but the counts and flags under
/// the mutex.
#[derive(Debug)]
struct State {
    /// Messages that did not go through the ring, in order after everything in it: the
    /// ring was full, the writer had no ring (it has one from its first `try_push`), the
    /// pipe conflates, or the message was forced or pushed in a batch.
    spill: VecDeque<Message>,
    /// The reader's end of the ring, from the writer's first `try_push` until the reader
    /// picks it up.
    handoff: Option<Consumer<Message>>,
    conflate: bool,
    writer_closed: bool,
    reader_closed: bool,
    /// The writer closed with linger 0, or its linger ran out: the reader drops what the
    /// ring still holds when it next takes the lock.
    discarded: bool,
    /// The reader took nothing since it found the pipe empty with everything it took
    /// written: the writer may use the bypass.
    bypass_armed: bool,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
    reader_notify: Option<Arc<Notify>>,
    writer_notify: Option<Arc<Notify>>,
    bypass: Option<Arc<dyn Bypass>>,
    inlet: Option<Arc<dyn Inlet>>,
}

impl State {
    /// Whether the writer must take the lock for every push.
    fn slow(&self) -> bool {
        !self.spill.is_empty() || self.bypass_armed || self.conflate || self.reader_closed
    }
}

/// A value alone on its cache lines, so that the writer's count and flags do not share a
/// line with what the reader writes.
#[derive(Debug)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What the writer writes at every push, on lines of their own.
#[derive(Debug)]
struct WriterWords {
    /// [`SLOW`], [`READER_WAITING`], [`WRITER_WAITING`]. Each is set and cleared under the
    /// lock, always by a read-modify-write; the writer reads them without it after every
    /// push through the ring, with a read-modify-write that orders its push with the
    /// reader's going to sleep (see the module's docs).
    flags: AtomicUsize,
    /// Messages pushed since the pipe was made (written by the writer only).
    pushed: AtomicUsize,
}

#[derive(Debug)]
struct Shared {
    writer: Padded<WriterWords>,
    /// Messages the reader read, or dropped, and told the writer about (written by the
    /// reader only): `pushed - released` count against the HWM.
    released: Padded<AtomicUsize>,
    /// What both ends read often and write seldom.
    settings: Padded<Settings>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct Settings {
    /// The high-water mark; `0` = unlimited.
    hwm: AtomicUsize,
    /// [`State::discarded`], for the reader's look before it pops from the ring.
    discarded: AtomicBool,
    /// The connection's transport has bytes the inlet may read (a hint: see the module's
    /// docs).
    inlet_ready: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a few field updates), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages pushed and not yet released by the reader.
    fn unreleased(&self) -> usize {
        self.writer
            .pushed
            .load(Ordering::Acquire)
            .wrapping_sub(self.released.load(Ordering::Acquire))
    }

    fn is_full(&self, st: &State) -> bool {
        let hwm = self.settings.hwm.load(Ordering::Relaxed);
        !st.conflate && hwm != 0 && self.unreleased() >= hwm
    }

    /// Whether the pipe is full for the writer: if it looks full, asks for the reader's
    /// next release (`WRITER_WAITING`) and looks again, so that a release between the first
    /// look and the flag is seen (under the lock).
    fn full_for_writer(&self, st: &State) -> bool {
        if !self.is_full(st) {
            return false;
        }
        self.writer.flags.fetch_or(WRITER_WAITING, Ordering::AcqRel);
        self.is_full(st)
    }

    fn room(&self, st: &State) -> usize {
        let hwm = self.settings.hwm.load(Ordering::Relaxed);
        if st.conflate || hwm == 0 {
            usize::MAX
        } else {
            hwm.saturating_sub(self.unreleased())
        }
    }

    /// Adds `n` to the writer's count, before the messages are where the reader can take
    /// them. Only the writer writes it, under the
    /// lock or through its `&mut` (a `PipeWriter` is `!Sync`), so a load and a store do.
    fn count_pushed(&self, n: usize) {
        let pushed = self.writer.pushed.load(Ordering::Relaxed);
        self.writer
            .pushed
            .store(pushed.wrapping_add(n), Ordering::Release);
    }

    /// Sets [`SLOW`] as `st` says (under the lock).
    fn update_slow(&self, st: &State) {
        if st.slow() {
            self.writer.flags.fetch_or(SLOW, Ordering::AcqRel);
        } else {
            self.writer.flags.fetch_and(!SLOW, Ordering::AcqRel);
        }
    }

    /// Takes what must be woken on the reader side (under the lock).
    fn reader_wakeup(&self, st: &mut State) -> Wakeup {
        self.writer
            .flags
            .fetch_and(!READER_WAITING, Ordering::AcqRel);
        Wakeup(st.reader_waker.take(), st.reader_notify.clone())
    }

    /// The reader's wake-up if it is waiting for a message (under the lock).
    #[inline]
    fn reader_wakeup_if_waiting(&self, st: &mut State) -> Wakeup {
        if self.writer.flags.load(Ordering::Acquire) & READER_WAITING != 0 {
            self.reader_wakeup(st)
        } else {
            Wakeup::none()
        }
    }

    /// Takes what must be woken on the writer side (under the lock).
    fn writer_wakeup(&self, st: &mut State) -> Wakeup {
        self.writer
            .flags
            .fetch_and(!WRITER_WAITING, Ordering::AcqRel);
        Wakeup(st.writer_waker.take(), st.writer_notify.clone())
    }

    /// The writer's wake-up if it waits for room and there is some (under the lock).
    fn writer_wakeup_if_room(&self, st: &mut State) -> Wakeup {
        if self.writer.flags.load(Ordering::Acquire) & WRITER_WAITING != 0 && !self.is_full(st) {
            self.writer_wakeup(st)
        } else {
            Wakeup::none()
        }
    }

    /// Changes the high-water mark; wakes a waiting writer if room appeared.
    fn set_hwm(&self, hwm: usize) {
        let mut st = self.lock();
        self.settings.hwm.store(hwm, Ordering::Release);
        let wakeup = if self.is_full(&st) {
            Wakeup::none()
        } else {
            self.writer_wakeup(&mut st)
        };
        drop(st);
        wakeup.wake();
    }
}

/// Wakers collected under the lock and woken after it is released.
#[must_use]
pub(crate) struct Wakeup(Option<Waker>, Option<Arc<Notify>>);

impl Wakeup {
    #[inline]
    fn none() -> Self {
        Wakeup(None, None)
    }

    #[inline]
    pub(crate) fn wake(self) {
        if let Some(w) = self.0 {
            w.wake();
        }
        if let Some(n) = self.1 {
            n.wake();
        }
    }
}

/// Configuration of a new pipe.
#[derive(Debug, Clone, Default)]
pub struct PipeConfig {
    /// High-water mark in messages; `0` = unlimited.
    pub hwm: usize,
    /// Keep only the most recent message (ZMQ_CONFLATE); the HWM is ignored.
    pub conflate: bool,
}

/// Creates a pipe with the given high-water mark (`0` = unlimited).
pub fn pipe(hwm: usize) -> (PipeWriter, PipeReader) {
    pipe_with(PipeConfig {
        hwm,
        conflate: false,
    })
}

/// Creates a pipe from a [`PipeConfig`].
pub fn pipe_with(config: PipeConfig) -> (PipeWriter, PipeReader) {
    let shared = sync::Arc::new(Shared {
        // Until it first looks, the reader may be waiting (a socket that scans only when
        // its `Notify` is signalled has not looked at a new pipe).
        writer: Padded(WriterWords {
            flags: AtomicUsize::new(READER_WAITING | if config.conflate { SLOW } else { 0 }),
            pushed: AtomicUsize::new(0),
        }),
        released: Padded(AtomicUsize::new(0)),
        settings: Padded(Settings {
            hwm: AtomicUsize::new(config.hwm),
            discarded: AtomicBool::new(false),
            inlet_ready: AtomicBool::new(false),
        }),
        state: Mutex::new(State {
            spill: VecDeque::new(),
            handoff: None,
            conflate: config.conflate,
            writer_closed: false,
            reader_closed: false,
            discarded: false,
            reader_waker: None,
            writer_waker: None,
            reader_notify: None,
            writer_notify: None,
            bypass: None,
            bypass_armed: false,
            inlet: None,
        }),
    });
    (
        PipeWriter {
            shared: shared.clone(),
            ring: None,
            released: 0,
        },
        PipeReader {
            shared,
            ring: None,
            cache: VecDeque::new(),
            direct: VecDeque::new(),
            unreleased: 0,
            released: 0,
            release_every: release_every(config.hwm, config.conflate),
        },
    )
}

/// The sending end of a pipe.
#[derive(Debug)]
pub struct PipeWriter {
    shared: sync::Arc<Shared>,
    /// The writer's end of the ring, made at its first `try_push`.
    ring: Option<Producer<Message>>,
    /// The reader's release count as this end last read it.
    released: usize,
}

impl PipeWriter {
    /// Ready when a message can be pushed; `Err` when the reader is gone.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), PipeClosed>> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Poll::Ready(Err(PipeClosed));
        }
        if self.shared.is_full(&st) {
            if !st
                .writer_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                st.writer_waker = Some(cx.waker().clone());
            }
            if self.shared.full_for_writer(&st) {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Waits for room, then pushes `msg`. Cancel-safe: if the future is
    /// dropped before completion the message is not queued.
    pub async fn push(&mut self, msg: Message) -> Result<(), PipeClosed> {
        let mut slot = Some(msg);
        std::future::poll_fn(|cx| loop {
            futures::ready!(self.poll_ready(cx))?;
            let Some(m) = slot.take() else {
                return Poll::Ready(Ok(()));
            };
            match self.try_push(m) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(PushError::Closed(_)) => return Poll::Ready(Err(PipeClosed)),
                Err(PushError::Full(m)) => slot = Some(m),
            }
        })
        .await
    }

    /// Queues `msg` if the pipe is below its HWM, or sends it through the pipe's armed
    /// bypass when nothing is queued.
    ///
    /// Without a lock when it can: the pipe is not `SLOW`, below its HWM, and the ring has
    /// a free slot.
    #[inline]
    pub fn try_push(&mut self, msg: Message) -> Result<(), PushError> {
        let shared = &*self.shared;
        // Only this end spills, so it sees its own SLOW at once; one the reader sets
        // meanwhile (arming, closing) is caught by the read-modify-write after the push.
        if shared.writer.flags.load(Ordering::Relaxed) & SLOW == 0 {
            if let Some(ring) = self.ring.as_mut() {
                let hwm = shared.settings.hwm.load(Ordering::Relaxed);
                let pushed = shared.writer.pushed.load(Ordering::Relaxed);
                if hwm != 0 && pushed.wrapping_sub(self.released) >= hwm {
                    self.released = shared.released.load(Ordering::Acquire);
                    if pushed.wrapping_sub(self.released) >= hwm {
                        return self.try_push_locked(msg);
                    }
                }
                // Counted before it is in the ring, so that the reader never counts more
                // released than pushed.
                shared
                    .writer
                    .pushed
                    .store(pushed.wrapping_add(1), Ordering::Release);
                let msg = match ring.push(msg) {
                    Ok(()) => {
                        // Orders the push before the look at the flags, against the
                        // reader's setting READER_WAITING (or the bypass armed) before it
                        // looks at the ring again: one of the two sees the other.
                        let flags = shared.writer.flags.fetch_or(0, Ordering::AcqRel);
                        if flags & (READER_WAITING | SLOW) != 0 {
                            self.after_push();
                        }
                        return Ok(());
                    }
                    Err(sync::PushError::Full(msg)) => msg,
                };
                shared.writer.pushed.store(pushed, Ordering::Release);
                return self.try_push_locked(msg);
            }
        }
        self.try_push_locked(msg)
    }

    /// After a push through the ring that found the reader waiting, or the pipe gone slow
    /// meanwhile: wakes the reader, and disarms a bypass armed while the message went into
    /// the ring (the reader writes it first).
    #[cold]
    #[inline(never)]
    fn after_push(&self) {
        let mut st = self.shared.lock();
        let wakeup = if st.bypass_armed {
            st.bypass_armed = false;
            self.shared.update_slow(&st);
            self.shared.reader_wakeup(&mut st)
        } else {
            self.shared.reader_wakeup_if_waiting(&mut st)
        };
        drop(st);
        wakeup.wake();
    }

    /// [`try_push`](Self::try_push) under the lock: the bypass, the HWM, the ring's first
    /// making, the spill (the common case of a writer that runs ahead of its reader on
    /// one thread, as a socket and its connection's task do on a current-thread runtime).
    #[inline(never)]
    fn try_push_locked(&mut self, mut msg: Message) -> Result<(), PushError> {
        let shared = &*self.shared;
        let mut st = shared.lock();
        if st.reader_closed {
            return Err(PushError::Closed(msg));
        }
        if st.bypass_armed {
            let bypassed = match &st.bypass {
                Some(bypass) if ring_drained(&self.ring) && st.spill.is_empty() => {
                    bypass.try_send(&msg)
                }
                _ => Bypassed::Declined,
            };
            // A message through the bypass disarms it; the reader re-arms it at its next
            // look that finds the pipe empty, and is woken for that only when it has bytes
            // to write.
            match bypassed {
                Bypassed::Declined => {}
                Bypassed::Written => {
                    st.bypass_armed = false;
                    shared.update_slow(&st);
                    return Ok(());
                }
                Bypassed::Unfinished => {
                    st.bypass_armed = false;
                    shared.update_slow(&st);
                    let wakeup = shared.reader_wakeup(&mut st);
                    drop(st);
                    wakeup.wake();
                    return Ok(());
                }
            }
        }
        if shared.full_for_writer(&st) {
            return Err(PushError::Full(msg));
        }
        if self.ring.is_none() && !st.conflate {
            let (producer, consumer) = RingBuffer::new(RING);
            self.ring = Some(producer);
            st.handoff = Some(consumer);
        }
        // Counted once, whether the message goes into the ring or, that full, the spill.
        shared.count_pushed(1);
        if !st.slow() {
            if let Some(ring) = self.ring.as_mut() {
                match ring.push(msg) {
                    Ok(()) => {
                        Self::wake_reader(shared, st);
                        return Ok(());
                    }
                    Err(sync::PushError::Full(m)) => msg = m,
                }
            }
            shared.writer.flags.fetch_or(SLOW, Ordering::AcqRel);
        }
        Self::spill(&mut st, msg);
        Self::wake_reader(shared, st);
        Ok(())
    }

    /// After a push under the lock: wakes the reader if it waits for a message. Inlined:
    /// every push that spills ends here, and as a call it cost the sender about 12
    /// instructions a message (callgrind, `remote_thr` ipc 8 B).
    #[inline(always)]
    fn wake_reader(shared: &Shared, mut st: MutexGuard<'_, State>) {
        let wakeup = shared.reader_wakeup_if_waiting(&mut st);
        drop(st);
        wakeup.wake();
    }

    /// Queues `msg` in the spill (under the lock).
    fn spill(st: &mut State, msg: Message) {
        if st.conflate {
            st.spill.clear();
        }
        st.spill.push_back(msg);
    }

    /// Queues `msg` ignoring the HWM (used for subscriptions, which libzmq
    /// never drops, and for the `probe_router` message on a fresh pipe).
    pub fn push_force(&self, msg: Message) -> Result<(), PipeClosed> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Err(PipeClosed);
        }
        if !st.slow() {
            self.shared.writer.flags.fetch_or(SLOW, Ordering::AcqRel);
        }
        self.shared.count_pushed(1);
        Self::spill(&mut st, msg);
        Self::wake_reader(&self.shared, st);
        Ok(())
    }

    /// Moves as many messages from the front of `msgs` as fit below the HWM,
    /// under one lock. Returns how many were moved.
    pub fn push_batch(&self, msgs: &mut VecDeque<Message>) -> Result<usize, PipeClosed> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Err(PipeClosed);
        }
        let n = self.shared.room(&st).min(msgs.len());
        self.shared.count_pushed(n);
        if st.conflate {
            if let Some(last) = msgs.drain(..).last() {
                st.spill.clear();
                st.spill.push_back(last);
            }
        } else if st.spill.is_empty() && n == msgs.len() {
            // The reader keeps up: trade buffers rather than move the messages.
            std::mem::swap(&mut st.spill, msgs);
        } else {
            st.spill.extend(msgs.drain(..n));
        }
        let wakeup = if st.spill.is_empty() {
            Wakeup::none()
        } else {
            self.shared.update_slow(&st);
            self.shared.reader_wakeup_if_waiting(&mut st)
        };
        drop(st);
        wakeup.wake();
        Ok(n)
    }

    /// True when a push would succeed now (below the HWM and the reader is there). When
    /// not, the reader's next release wakes this end (a socket that looks here and finds
    /// no room may sleep on its `Notify`).
    pub fn has_room(&self) -> bool {
        let st = self.shared.lock();
        !st.reader_closed && !self.shared.full_for_writer(&st)
    }

    /// True when the reader is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().reader_closed
    }

    /// Messages queued and not yet read.
    pub fn len(&self) -> usize {
        let st = self.shared.lock();
        st.spill.len() + self.ring.as_ref().map_or(0, |r| RING - r.slots())
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current high-water mark (`0` = unlimited).
    pub fn hwm(&self) -> usize {
        self.shared.settings.hwm.load(Ordering::Acquire)
    }

    /// Changes the high-water mark; wakes a waiting writer if room appeared.
    pub fn set_hwm(&self, hwm: usize) {
        self.shared.set_hwm(hwm);
    }

    /// Closes this end gracefully: the reader still gets what is queued.
    pub fn close(&self) {
        let mut st = self.shared.lock();
        if st.writer_closed {
            return;
        }
        st.writer_closed = true;
        let wakeup = self.shared.reader_wakeup(&mut st);
        drop(st);
        wakeup.wake();
    }

    /// Closes this end and discards everything queued (linger 0).
    pub fn close_discard(&self) {
        self.shared.discard(true);
    }

    /// Closes gracefully and returns a handle that can discard what is still
    /// queued later (when a linger period runs out).
    pub(crate) fn close_lingering(mut self) -> LingerHandle {
        self.close();
        LingerHandle {
            shared: self.shared.clone(),
            ring: self.ring.take(),
        }
    }

    /// Installs the socket-level notifier woken when room appears or the reader closes.
    pub(crate) fn set_notify(&self, notify: Arc<Notify>) {
        self.shared.lock().writer_notify = Some(notify);
    }

    /// Installs (or with `None` removes) the pipe's inlet.
    pub(crate) fn set_inlet(&self, inlet: Option<Arc<dyn Inlet>>) {
        self.shared.lock().inlet = inlet;
    }

    /// What the inlet's connection uses to say that its transport has bytes.
    pub(crate) fn alarm(&self) -> ReaderAlarm {
        ReaderAlarm {
            shared: self.shared.clone(),
        }
    }

    /// A waiting reader was told that the inlet has bytes ([`ReaderAlarm::raise`]) and has
    /// not looked yet.
    #[inline]
    pub(crate) fn inlet_raised(&self) -> bool {
        self.shared.settings.inlet_ready.load(Ordering::Relaxed)
    }

    /// The writer is reading the transport itself: the inlet need not try.
    #[inline]
    pub(crate) fn reading(&self) {
        self.shared
            .settings
            .inlet_ready
            .store(false, Ordering::Relaxed);
    }
}

/// Tells a pipe's reader that its inlet has something to read (see the module's docs).
#[derive(Debug)]
pub(crate) struct ReaderAlarm {
    shared: sync::Arc<Shared>,
}

impl ReaderAlarm {
    /// If the reader waits, raises the inlet's flag and returns the reader's wake-up, for
    /// the caller to wake when it likes (see `net/session.rs`'s `Readable`).
    pub(crate) fn raise(&self) -> Wakeup {
        let mut st = self.shared.lock();
        if self.shared.writer.flags.load(Ordering::Acquire) & READER_WAITING == 0 {
            return Wakeup::none();
        }
        self.shared
            .settings
            .inlet_ready
            .store(true, Ordering::Relaxed);
        self.shared.reader_wakeup(&mut st)
    }
}

impl Shared {
    /// Drops what the spill holds and has the reader drop what the ring holds, closing the
    /// writer's end (if `close`).
    fn discard(&self, close: bool) {
        let mut st = self.lock();
        st.spill.clear();
        st.discarded = true;
        self.settings.discarded.store(true, Ordering::Release);
        if close {
            st.writer_closed = true;
        }
        self.update_slow(&st);
        let wakeup = self.reader_wakeup(&mut st);
        drop(st);
        wakeup.wake();
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Discards a closed pipe's remaining messages when a linger period ends.
#[derive(Debug)]
pub(crate) struct LingerHandle {
    shared: sync::Arc<Shared>,
    ring: Option<Producer<Message>>,
}

impl LingerHandle {
    /// Drops whatever the reader has not taken yet.
    pub(crate) fn discard(&self) {
        self.shared.discard(false);
    }

    /// True when the reader took everything or went away.
    pub(crate) fn is_done(&self) -> bool {
        let st = self.shared.lock();
        st.reader_closed || (st.spill.is_empty() && (ring_drained(&self.ring) || st.discarded))
    }
}

/// The receiving end of a pipe.
#[derive(Debug)]
pub struct PipeReader {
    shared: sync::Arc<Shared>,
    /// The reader's end of the ring, once the writer made it.
    ring: Option<Consumer<Message>>,
    /// Messages taken from the spill in one batch, popped without locking; read before
    /// the ring (which has only what the writer pushed after them).
    cache: VecDeque<Message>,
    /// Messages the inlet gave (never counted against the HWM); read before the ring. It
    /// and `cache` are never both non-empty: each is filled under the lock only when
    /// everything else is empty (and `retain` puts what it keeps behind these).
    direct: VecDeque<Message>,
    /// Messages read that the writer was not told about yet.
    unreleased: usize,
    /// What this end last told the writer ([`Shared::released`]).
    released: usize,
    /// How many to read before telling the writer: half the HWM (libzmq's low-water mark),
    /// at least 1, at most [`RELEASE_EVERY`].
    release_every: usize,
}

impl PipeReader {
    /// The next message; `Ready(None)` once the writer closed and the queue is drained.
    #[inline(always)]
    pub fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        match self.next(Some(cx)) {
            TryPop::Message(msg) => Poll::Ready(Some(msg)),
            TryPop::Finished => Poll::Ready(None),
            TryPop::Empty => Poll::Pending,
        }
    }

    /// Waits for the next message; `None` at the end of the pipe. Cancel-safe.
    pub async fn pop(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_pop(cx)).await
    }

    /// The next message, if one is queued.
    #[inline]
    pub fn try_pop(&mut self) -> TryPop {
        self.next(None)
    }

    /// The next message: from the cache or the inlet's queue, else from the ring, else
    /// under the lock. With `cx`, registers its waker when there is none.
    #[inline]
    fn next(&mut self, cx: Option<&mut Context<'_>>) -> TryPop {
        let msg = match self.cache.pop_front() {
            Some(msg) => msg,
            None => {
                if let Some(msg) = self.direct.pop_front() {
                    return TryPop::Message(msg);
                }
                // What the ring holds after a discard is dropped under the lock.
                if self.shared.settings.discarded.load(Ordering::Relaxed) {
                    return self.next_locked(cx);
                }
                match self.ring.as_mut().map(|r| r.pop()) {
                    Some(Ok(msg)) => msg,
                    _ => return self.next_locked(cx),
                }
            }
        };
        self.unreleased += 1;
        if self.unreleased >= self.release_every {
            self.release();
        }
        TryPop::Message(msg)
    }

    /// Nothing in the cache or the ring: looks again under the lock (the ring, then the
    /// spill, in the order the writer filled them), and when there is nothing, tells the
    /// writer everything read and sleeps.
    #[cold]
    #[inline(never)]
    fn next_locked(&mut self, cx: Option<&mut Context<'_>>) -> TryPop {
        let shared = &*self.shared;
        let mut st = shared.lock();
        pick_up(&mut self.ring, &mut st);
        self.release_every =
            release_every(shared.settings.hwm.load(Ordering::Relaxed), st.conflate);
        if st.discarded {
            self.unreleased += drop_all(&mut self.ring);
        }
        let mut popped = self.ring.as_mut().and_then(|r| r.pop().ok());
        if popped.is_none() && !st.spill.is_empty() {
            std::mem::swap(&mut self.cache, &mut st.spill);
            popped = self.cache.pop_front();
            st.bypass_armed = false;
            shared.update_slow(&st);
        }
        if popped.is_some() {
            self.unreleased += 1;
        }
        // Under the lock anyway: the writer hears of every message read so far (and, when
        // there is nothing, of everything read before the reader can sleep).
        let wakeup = publish_release(shared, &mut self.released, &mut self.unreleased, &mut st);
        let result = if let Some(msg) = popped {
            TryPop::Message(msg)
        } else if st.writer_closed {
            TryPop::Finished
        } else {
            // Say so, then look at the ring once more: a push between the first look and
            // the flag is seen here, one after it sees the flag (the writer's
            // read-modify-write after its push).
            shared
                .writer
                .flags
                .fetch_or(READER_WAITING, Ordering::AcqRel);
            match self.ring.as_mut().and_then(|r| r.pop().ok()) {
                Some(msg) => {
                    shared
                        .writer
                        .flags
                        .fetch_and(!READER_WAITING, Ordering::AcqRel);
                    self.unreleased += 1;
                    TryPop::Message(msg)
                }
                None => {
                    if let Some(cx) = cx {
                        if !st
                            .reader_waker
                            .as_ref()
                            .is_some_and(|w| w.will_wake(cx.waker()))
                        {
                            st.reader_waker = Some(cx.waker().clone());
                        }
                    }
                    match take_from_inlet(shared, &st, &mut self.direct) {
                        Some(msg) => TryPop::Message(msg),
                        None => TryPop::Empty,
                    }
                }
            }
        };
        drop(st);
        wakeup.wake();
        result
    }

    /// Tells the writer about the messages read since the last time: they no longer count
    /// against the HWM. Locks only when the writer waits for room.
    #[inline(never)]
    fn release(&mut self) {
        store_released(&self.shared, &mut self.released, &mut self.unreleased);
        // Orders the release before the look at the flag, against the writer's setting
        // WRITER_WAITING before it looks at the count again.
        if self.shared.writer.flags.fetch_or(0, Ordering::AcqRel) & WRITER_WAITING != 0 {
            let mut st = self.shared.lock();
            let wakeup = self.shared.writer_wakeup_if_room(&mut st);
            drop(st);
            wakeup.wake();
        }
    }

    /// Keeps, in order, the unread messages (taken into the cache, in the ring or still
    /// spilled) that `keep` accepts, and drops the others; the writer is told about the
    /// dropped ones as if they were read.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Message) -> bool) {
        self.direct.retain(&mut keep);
        let mut st = self.shared.lock();
        pick_up(&mut self.ring, &mut st);
        if let Some(ring) = self.ring.as_mut() {
            while let Ok(msg) = ring.pop() {
                self.cache.push_back(msg);
            }
        }
        self.cache.append(&mut st.spill);
        let before = self.cache.len();
        self.cache.retain(&mut keep);
        self.unreleased += before - self.cache.len();
        if !self.direct.is_empty() {
            // The inlet's messages came before everything queued and are read first:
            // what is kept goes behind them, told to the writer as read now (it no longer
            // counts against the HWM), since `direct` is not counted when popped.
            self.unreleased += self.cache.len();
            self.direct.append(&mut self.cache);
        }
        st.bypass_armed = false;
        self.shared.update_slow(&st);
        let wakeup = publish_release(
            &self.shared,
            &mut self.released,
            &mut self.unreleased,
            &mut st,
        );
        drop(st);
        wakeup.wake();
    }

    /// True when the writer closed, whether or not messages are still queued.
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.lock().writer_closed
    }

    /// True when the writer closed and everything queued has been read (or discarded).
    pub fn is_finished(&self) -> bool {
        let st = self.shared.lock();
        self.cache.is_empty()
            && self.direct.is_empty()
            && st.writer_closed
            && st.spill.is_empty()
            && (st.discarded || ring_unread(&self.ring, &st) == 0)
    }

    /// Messages queued and not yet read.
    pub fn len(&self) -> usize {
        let st = self.shared.lock();
        self.direct.len() + self.cache.len() + st.spill.len() + ring_unread(&self.ring, &st)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes this end: queued messages are discarded and the writer gets [`PipeClosed`].
    pub fn close(&mut self) {
        self.cache.clear();
        self.direct.clear();
        let mut st = self.shared.lock();
        if st.reader_closed {
            return;
        }
        st.reader_closed = true;
        st.spill.clear();
        self.shared.update_slow(&st);
        pick_up(&mut self.ring, &mut st);
        drop_all(&mut self.ring);
        let wakeup = self.shared.writer_wakeup(&mut st);
        drop(st);
        wakeup.wake();
    }

    /// Changes the high-water mark (see [`PipeWriter::set_hwm`]).
    pub fn set_hwm(&self, hwm: usize) {
        self.shared.set_hwm(hwm);
    }

    /// Installs the socket-level notifier woken when a message arrives or the writer closes.
    /// Its socket has not looked at this pipe yet: the next push wakes it.
    pub(crate) fn set_notify(&self, notify: Arc<Notify>) {
        let mut st = self.shared.lock();
        st.reader_notify = Some(notify);
        self.shared
            .writer
            .flags
            .fetch_or(READER_WAITING, Ordering::AcqRel);
    }

    /// Installs (or with `None` removes) the pipe's bypass, disarmed.
    pub(crate) fn set_bypass(&self, bypass: Option<Arc<dyn Bypass>>) {
        let mut st = self.shared.lock();
        st.bypass = bypass;
        st.bypass_armed = false;
        self.shared.update_slow(&st);
    }

    /// Arms the bypass: call only when everything taken from the pipe was handed to it (a
    /// `poll_pop` returned `Pending` and what was popped before is written or waiting in
    /// the bypass's own output, ahead of anything the bypass will send).
    pub(crate) fn arm_bypass(&self) {
        let mut st = self.shared.lock();
        if st.bypass.is_none() || !self.cache.is_empty() || !st.spill.is_empty() {
            return;
        }
        st.bypass_armed = true;
        // Say so, then look at the ring: a push through it that did not see SLOW is seen
        // here; one that did disarms it (`after_push`).
        self.shared.writer.flags.fetch_or(SLOW, Ordering::AcqRel);
        if ring_unread(&self.ring, &st) != 0 {
            st.bypass_armed = false;
            self.shared.update_slow(&st);
        }
    }
}

/// The pipe is empty (under the lock, after the reader said it waits): the inlet's
/// messages, if its transport said it has bytes. A reader that gets one is no longer
/// waiting.
fn take_from_inlet(shared: &Shared, st: &State, direct: &mut VecDeque<Message>) -> Option<Message> {
    let inlet = st.inlet.as_ref()?;
    let ready = &shared.settings.inlet_ready;
    if !ready.load(Ordering::Relaxed) || !ready.swap(false, Ordering::AcqRel) {
        return None;
    }
    inlet.try_take(direct);
    if direct.is_empty() {
        return None;
    }
    if st.conflate {
        // Only the last, as if they had been pushed.
        let keep = direct.len() - 1;
        direct.drain(..keep);
    }
    shared
        .writer
        .flags
        .fetch_and(!READER_WAITING, Ordering::AcqRel);
    direct.pop_front()
}

/// After how many messages read the reader tells the writer: half the HWM (libzmq's
/// low-water mark), so a writer at the HWM gets room while the reader works through a
/// batch.
fn release_every(hwm: usize, conflate: bool) -> usize {
    if conflate || hwm == 0 {
        RELEASE_EVERY
    } else {
        (hwm / 2).clamp(1, RELEASE_EVERY)
    }
}

/// [`PipeReader::release`] under the lock: returns the writer's wake-up.
fn publish_release(
    shared: &Shared,
    released: &mut usize,
    unreleased: &mut usize,
    st: &mut State,
) -> Wakeup {
    store_released(shared, released, unreleased);
    // WRITER_WAITING is set under the lock too: no read-modify-write needed here.
    shared.writer_wakeup_if_room(st)
}

/// Adds the messages read since the last time (`unreleased`) to the reader's count, and
/// stores it where the writer reads it.
fn store_released(shared: &Shared, released: &mut usize, unreleased: &mut usize) {
    *released = released.wrapping_add(std::mem::take(unreleased));
    shared.released.store(*released, Ordering::Release);
}

/// What the writer's end of the ring holds: nothing (or there is no ring yet).
fn ring_drained(ring: &Option<Producer<Message>>) -> bool {
    ring.as_ref().map_or(true, |r| r.slots() == RING)
}

/// How many messages the reader's end of the ring holds, whether the reader picked it up
/// or it still waits in the hand-over.
fn ring_unread(ring: &Option<Consumer<Message>>, st: &State) -> usize {
    ring.as_ref()
        .or(st.handoff.as_ref())
        .map_or(0, |r| r.slots())
}

/// Takes the reader's end of the ring from the hand-over, once the writer made it.
fn pick_up(ring: &mut Option<Consumer<Message>>, st: &mut State) {
    if ring.is_none() {
        *ring = st.handoff.take();
    }
}

/// Drops what `ring` holds; returns how many.
fn drop_all(ring: &mut Option<Consumer<Message>>) -> usize {
    let mut n = 0;
    if let Some(ring) = ring.as_mut() {
        while ring.pop().is_ok() {
            n += 1;
        }
    }
    n
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;

    fn cx() -> Context<'static> {
        Context::from_waker(noop_waker_ref())
    }

    #[test]
    fn hwm_counts_messages() {
        let (mut w, mut r) = pipe(2);
        assert!(w.try_push(Message::from("a")).is_ok());
        assert!(w.try_push(Message::from("b")).is_ok());
        assert!(matches!(
            w.try_push(Message::from("c")),
            Err(PushError::Full(_))
        ));
        assert!(w.poll_ready(&mut cx()).is_pending());
        assert_eq!(r.try_pop(), TryPop::Message(Message::from("a")));
        assert!(w.has_room());
        assert!(w.poll_ready(&mut cx()).is_ready());
    }

    #[test]
    fn reads_count_against_the_hwm_until_the_writer_is_told() {
        let (mut w, mut r) = pipe(4);
        let wn = Arc::new(Notify::new());
        w.set_notify(wn.clone());
        for i in 0..4u8 {
            assert!(w.try_push(Message::from(vec![i])).is_ok());
        }
        assert!(!w.has_room());
        wn.take_signal();
        // A look under the lock (here the first, which picks up the ring) tells the
        // writer at once.
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![0u8])));
        assert!(wn.take_signal(), "the writer is woken when room appears");
        assert_eq!(r.len(), 3);
        assert!(w.try_push(Message::from(vec![4u8])).is_ok());
        assert!(!w.has_room());
        // Reads from the ring reach the writer every half HWM (two here).
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![1u8])));
        assert!(!w.has_room(), "one read, not told yet");
        assert!(!wn.take_signal());
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![2u8])));
        assert!(wn.take_signal(), "two read: the writer is told, and woken");
        assert!(w.try_push(Message::from(vec![5u8])).is_ok());
        assert!(w.try_push(Message::from(vec![6u8])).is_ok());
        assert!(!w.has_room());
        drop(w);
        let mut rest = Vec::new();
        while let TryPop::Message(m) = r.try_pop() {
            rest.push(m[0][0]);
        }
        assert_eq!(rest, [3, 4, 5, 6], "order is kept");
        assert!(r.is_finished());
        assert_eq!(r.try_pop(), TryPop::Finished);
    }

    #[test]
    fn a_full_ring_spills_and_order_is_kept() {
        let (mut w, mut r) = pipe(0);
        let n = RING as u32 * 3;
        for i in 0..n {
            assert!(w.try_push(Message::from(i.to_be_bytes().to_vec())).is_ok());
            if i == RING as u32 + 5 {
                // Forced and batched messages go behind everything pushed before them.
                assert!(w.push_force(Message::from(b"forced".to_vec())).is_ok());
            }
        }
        assert_eq!(w.len(), n as usize + 1);
        let mut got = Vec::new();
        while let TryPop::Message(m) = r.try_pop() {
            got.push(m);
            if got.len() == 10 {
                // The reader drains the ring meanwhile; the writer still spills behind it.
                assert!(w.try_push(Message::from(n.to_be_bytes().to_vec())).is_ok());
            }
        }
        let forced = got
            .iter()
            .position(|m| &m[0][..] == b"forced")
            .expect("the forced message");
        assert_eq!(forced, RING + 6);
        got.remove(forced);
        let numbers: Vec<u32> = got
            .iter()
            .map(|m| u32::from_be_bytes(m[0][..].try_into().expect("four bytes")))
            .collect();
        assert_eq!(numbers, (0..=n).collect::<Vec<_>>());
        assert_eq!(r.try_pop(), TryPop::Empty);
        // Everything read: the ring is used again.
        assert!(w.try_push("after".into()).is_ok());
        assert_eq!(r.try_pop(), TryPop::Message("after".into()));
    }

    #[test]
    fn zero_hwm_is_unlimited() {
        let (mut w, r) = pipe(0);
        for i in 0..10_000u32 {
            assert!(w.try_push(Message::from(i.to_be_bytes().to_vec())).is_ok());
        }
        assert_eq!(r.len(), 10_000);
    }

    #[test]
    fn writer_close_is_seen_after_drain() {
        let (mut w, mut r) = pipe(0);
        assert!(w.try_push(Message::from("x")).is_ok());
        drop(w);
        assert!(!r.is_finished());
        assert_eq!(r.try_pop(), TryPop::Message(Message::from("x")));
        assert_eq!(r.try_pop(), TryPop::Finished);
        assert_eq!(r.poll_pop(&mut cx()), Poll::Ready(None));
    }

    #[test]
    fn reader_close_errors_the_writer() {
        let (mut w, r) = pipe(1);
        assert!(w.try_push(Message::from("x")).is_ok());
        drop(r);
        assert!(w.is_closed());
        assert!(matches!(
            w.try_push(Message::from("y")),
            Err(PushError::Closed(_))
        ));
        assert_eq!(w.poll_ready(&mut cx()), Poll::Ready(Err(PipeClosed)));
    }

    #[test]
    fn batches_respect_hwm() {
        let (w, mut r) = pipe(3);
        let mut burst: VecDeque<Message> = (0..5u8).map(|i| Message::from(vec![i])).collect();
        assert_eq!(w.push_batch(&mut burst), Ok(3));
        assert_eq!(burst.len(), 2);
        let mut out = Vec::new();
        while let TryPop::Message(m) = r.try_pop() {
            out.push(m);
        }
        assert_eq!(out.len(), 3);
        assert_eq!(w.push_batch(&mut burst), Ok(2));
        drop(w);
        out.clear();
        while let TryPop::Message(m) = r.try_pop() {
            out.push(m);
        }
        assert_eq!(r.try_pop(), TryPop::Finished);
        assert_eq!(
            out,
            vec![Message::from(vec![3u8]), Message::from(vec![4u8])]
        );
    }

    #[test]
    fn conflate_keeps_last() {
        let (mut w, mut r) = pipe_with(PipeConfig {
            hwm: 1,
            conflate: true,
        });
        for i in 0..5u8 {
            assert!(w.try_push(Message::from(vec![i])).is_ok());
        }
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![4u8])));
        assert_eq!(r.try_pop(), TryPop::Empty);
    }

    #[test]
    fn only_a_reader_that_found_nothing_is_woken() {
        let (mut w, mut r) = pipe(0);
        let rn = Arc::new(Notify::new());
        r.set_notify(rn.clone());
        rn.take_signal();
        assert!(w.try_push("a".into()).is_ok());
        assert!(
            rn.take_signal(),
            "a reader given a Notify has not looked yet"
        );
        assert!(w.try_push("b".into()).is_ok());
        assert!(
            !rn.take_signal(),
            "woken once: it looks again before it sleeps"
        );
        assert!(matches!(r.try_pop(), TryPop::Message(_)));
        assert!(w.try_push("c".into()).is_ok());
        assert!(!rn.take_signal(), "it took a message, so it looks again");
        for _ in 0..2 {
            assert!(matches!(r.try_pop(), TryPop::Message(_)));
        }
        assert_eq!(r.try_pop(), TryPop::Empty);
        let mut burst: VecDeque<Message> = ["d".into(), "e".into()].into();
        assert_eq!(w.push_batch(&mut burst), Ok(2));
        assert!(rn.take_signal(), "it found nothing: the next push wakes it");
        assert!(w.try_push("f".into()).is_ok());
        assert!(!rn.take_signal());
        drop(w);
        assert!(rn.take_signal(), "a close always wakes");
    }

    #[test]
    fn notify_is_woken_by_either_end() {
        let (mut w, mut r) = pipe(1);
        let rn = Arc::new(Notify::new());
        let wn = Arc::new(Notify::new());
        r.set_notify(rn.clone());
        w.set_notify(wn.clone());
        rn.take_signal();
        wn.take_signal();
        assert!(w.try_push(Message::from("a")).is_ok());
        assert!(rn.take_signal());
        assert!(!wn.take_signal());
        assert!(!w.has_room(), "at the HWM: the writer waits for room");
        assert!(matches!(r.try_pop(), TryPop::Message(_)));
        assert!(wn.take_signal(), "leaving the HWM wakes the writer side");
        drop(r);
        assert!(wn.take_signal());
    }

    #[tokio::test]
    async fn async_push_pop_across_tasks() {
        let (mut w, mut r) = pipe(4);
        let producer = tokio::spawn(async move {
            for i in 0..1000u32 {
                w.push(Message::from(i.to_be_bytes().to_vec()))
                    .await
                    .expect("reader alive");
            }
        });
        let mut n = 0u32;
        while let Some(m) = r.pop().await {
            assert_eq!(&m[0][..], &n.to_be_bytes());
            n += 1;
        }
        assert_eq!(n, 1000);
        producer.await.expect("producer");
    }

    /// A bypass that takes what it is given while `open`, and records it.
    #[derive(Debug, Default)]
    struct Recorder {
        open: AtomicBool,
        /// Leaves every message it takes unfinished.
        unfinished: AtomicBool,
        taken: std::sync::Mutex<Vec<Message>>,
    }

    impl Bypass for Recorder {
        fn try_send(&self, msg: &Message) -> Bypassed {
            if !self.open.load(Ordering::SeqCst) {
                return Bypassed::Declined;
            }
            self.taken.lock().expect("lock").push(msg.clone());
            if self.unfinished.load(Ordering::SeqCst) {
                Bypassed::Unfinished
            } else {
                Bypassed::Written
            }
        }
    }

    fn recorder(r: &PipeReader) -> Arc<Recorder> {
        let rec = Arc::new(Recorder::default());
        rec.open.store(true, Ordering::SeqCst);
        r.set_bypass(Some(rec.clone()));
        rec
    }

    fn taken(rec: &Recorder) -> usize {
        rec.taken.lock().expect("lock").len()
    }

    #[test]
    fn the_bypass_takes_one_message_per_arming_and_only_with_nothing_queued() {
        let (mut w, mut r) = pipe(10);
        let rec = recorder(&r);
        let mut cx = cx();
        assert!(w.try_push("queued".into()).is_ok(), "not armed yet");
        assert_eq!(taken(&rec), 0);
        assert!(matches!(r.poll_pop(&mut cx), Poll::Ready(Some(_))));
        assert!(r.poll_pop(&mut cx).is_pending());
        r.arm_bypass();
        assert!(w.try_push("direct".into()).is_ok());
        assert_eq!(taken(&rec), 1);
        assert!(w.try_push("after".into()).is_ok(), "one per arming");
        assert_eq!(taken(&rec), 1);
        assert_eq!(w.len(), 1);
        // Armed again while a message waits: it stays ahead of the next.
        r.arm_bypass();
        assert!(w.try_push("behind".into()).is_ok());
        assert_eq!(taken(&rec), 1);
        assert!(matches!(r.poll_pop(&mut cx), Poll::Ready(Some(m)) if m == Message::from("after")));
        assert!(
            matches!(r.poll_pop(&mut cx), Poll::Ready(Some(m)) if m == Message::from("behind"))
        );
    }

    #[test]
    fn taking_messages_disarms_and_a_declining_bypass_leaves_them_queued() {
        let (mut w, mut r) = pipe(10);
        let rec = recorder(&r);
        let mut cx = cx();
        assert!(r.poll_pop(&mut cx).is_pending());
        r.arm_bypass();
        rec.open.store(false, Ordering::SeqCst);
        assert!(w.try_push("declined".into()).is_ok());
        assert_eq!((taken(&rec), w.len()), (0, 1));
        rec.open.store(true, Ordering::SeqCst);
        assert!(
            matches!(r.poll_pop(&mut cx), Poll::Ready(Some(_))),
            "taken: disarmed"
        );
        assert!(w.try_push("queued".into()).is_ok());
        assert_eq!((taken(&rec), w.len()), (0, 1));
        // A reader with messages in its cache cannot arm it.
        assert!(w.try_push("second".into()).is_ok());
        assert!(matches!(r.poll_pop(&mut cx), Poll::Ready(Some(_))));
        r.arm_bypass();
        assert!(w.try_push("third".into()).is_ok());
        assert_eq!(taken(&rec), 0);
        // Removed: messages are queued.
        while let Poll::Ready(Some(_)) = r.poll_pop(&mut cx) {}
        r.set_bypass(None);
        r.arm_bypass();
        assert!(w.try_push("queued".into()).is_ok());
        assert_eq!((taken(&rec), w.len()), (0, 1));
    }

    #[test]
    fn only_an_unfinished_bypassed_message_wakes_the_reader() {
        let (mut w, mut r) = pipe(10);
        let rec = recorder(&r);
        let notify = Arc::new(Notify::new());
        let waker = futures::task::waker(notify_waker(notify.clone()));
        let mut cx = Context::from_waker(&waker);
        assert!(r.poll_pop(&mut cx).is_pending());
        r.arm_bypass();
        notify.take_signal();
        assert!(w.try_push("whole".into()).is_ok());
        assert_eq!(taken(&rec), 1);
        assert!(
            !notify.take_signal(),
            "written whole: nothing for the reader"
        );
        // Disarmed: the next is queued, and wakes the reader as any push does.
        assert!(w.try_push("queued".into()).is_ok());
        assert_eq!((taken(&rec), w.len()), (1, 1));
        assert!(notify.take_signal());
        assert!(matches!(r.poll_pop(&mut cx), Poll::Ready(Some(_))));
        assert!(r.poll_pop(&mut cx).is_pending());
        r.arm_bypass();
        rec.unfinished.store(true, Ordering::SeqCst);
        assert!(w.try_push("unfinished".into()).is_ok());
        assert_eq!((taken(&rec), w.len()), (2, 0));
        assert!(
            notify.take_signal(),
            "the reader writes the rest, and re-arms once it looks again"
        );
    }

    /// An inlet holding messages "on the wire", counting how often it was asked.
    #[derive(Debug, Default)]
    struct Wire {
        arrived: std::sync::Mutex<VecDeque<Message>>,
        asked: AtomicUsize,
    }

    impl Inlet for Wire {
        fn try_take(&self, into: &mut VecDeque<Message>) {
            self.asked.fetch_add(1, Ordering::SeqCst);
            into.append(&mut self.arrived.lock().expect("lock"));
        }
    }

    fn wire_inlet(w: &PipeWriter) -> Arc<Wire> {
        let wire = Arc::new(Wire::default());
        w.set_inlet(Some(wire.clone()));
        wire
    }

    fn arrive(wire: &Wire, frames: &[&'static str]) {
        let mut arrived = wire.arrived.lock().expect("lock");
        arrived.extend(frames.iter().map(|f| Message::from(*f)));
    }

    fn pop_str(r: &mut PipeReader) -> Option<Message> {
        match r.try_pop() {
            TryPop::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The inlet is asked only after the alarm and only with the pipe empty, so what it
    /// gives follows everything queued; its messages do not count against the HWM. The
    /// alarm is for a reader that waits.
    #[test]
    fn the_inlet_gives_only_after_the_queue_and_the_alarm() {
        let (mut w, mut r) = pipe(2);
        let wire = wire_inlet(&w);
        assert!(w.try_push("a".into()).is_ok());
        assert_eq!(pop_str(&mut r), Some("a".into()));
        assert!(w.try_push("b".into()).is_ok());
        arrive(&wire, &["c", "d", "e"]);
        // Not waiting: the reader was woken by the push and has not looked since.
        w.alarm().raise().wake();
        assert!(!w.inlet_raised());
        assert_eq!(pop_str(&mut r), Some("b".into()));
        assert_eq!(r.try_pop(), TryPop::Empty);
        assert_eq!(
            wire.asked.load(Ordering::SeqCst),
            0,
            "not without the alarm"
        );
        w.alarm().raise().wake();
        assert!(w.inlet_raised());
        assert_eq!(pop_str(&mut r), Some("c".into()));
        assert!(!w.inlet_raised(), "the reader lowered it");
        assert_eq!(wire.asked.load(Ordering::SeqCst), 1);
        // What the writer pushes now comes after what the inlet gave.
        assert!(w.try_push("f".into()).is_ok());
        assert!(w.try_push("g".into()).is_ok());
        assert!(
            !w.has_room(),
            "f and g fill the HWM; the inlet's three do not count"
        );
        assert_eq!(r.len(), 4);
        for expected in ["d", "e", "f", "g"] {
            assert_eq!(pop_str(&mut r), Some(expected.into()));
        }
        // Without a new alarm the inlet is not asked again.
        arrive(&wire, &["h"]);
        assert_eq!(r.try_pop(), TryPop::Empty);
        assert_eq!(wire.asked.load(Ordering::SeqCst), 1);
        // The writer reading itself takes the alarm back.
        w.alarm().raise().wake();
        w.reading();
        assert_eq!(r.try_pop(), TryPop::Empty);
        w.alarm().raise().wake();
        assert_eq!(pop_str(&mut r), Some("h".into()));
        // Taken out, the inlet is not asked.
        w.set_inlet(None);
        arrive(&wire, &["i"]);
        assert_eq!(r.try_pop(), TryPop::Empty);
        w.alarm().raise().wake();
        assert_eq!(r.try_pop(), TryPop::Empty);
        assert_eq!(wire.asked.load(Ordering::SeqCst), 2);
    }

    /// The alarm wakes a reader that waits, as a push would, and one that took messages from
    /// the inlet is no longer waiting: the writer's next push wakes no one.
    #[test]
    fn the_alarm_wakes_a_waiting_reader() {
        let (mut w, mut r) = pipe(10);
        let wire = wire_inlet(&w);
        let notify = Arc::new(Notify::new());
        r.set_notify(notify.clone());
        assert_eq!(r.try_pop(), TryPop::Empty);
        notify.take_signal();
        arrive(&wire, &["x"]);
        w.alarm().raise().wake();
        assert!(notify.take_signal(), "the waiting reader is woken");
        assert_eq!(pop_str(&mut r), Some("x".into()));
        assert!(w.try_push("y".into()).is_ok());
        assert!(!notify.take_signal(), "the reader is awake and looks again");
        assert_eq!(pop_str(&mut r), Some("y".into()));
    }

    /// A conflating pipe keeps the last of what the inlet gives, as of a batch pushed.
    #[test]
    fn a_conflating_pipe_keeps_the_inlets_last() {
        let (w, mut r) = pipe_with(PipeConfig {
            hwm: 0,
            conflate: true,
        });
        let wire = wire_inlet(&w);
        arrive(&wire, &["old", "older", "newest"]);
        w.alarm().raise().wake();
        assert_eq!(pop_str(&mut r), Some("newest".into()));
        assert_eq!(r.try_pop(), TryPop::Empty);
    }

    /// The reader's `retain` and `close` reach what the inlet gave, and `retain` keeps it
    /// ahead of what was queued after it.
    #[test]
    fn retain_and_close_reach_the_inlets_messages() {
        let (mut w, mut r) = pipe(2);
        let wire = wire_inlet(&w);
        arrive(&wire, &["a", "b"]);
        w.alarm().raise().wake();
        assert_eq!(pop_str(&mut r), Some("a".into()));
        assert!(w.try_push("c".into()).is_ok());
        assert!(w.try_push("d".into()).is_ok());
        assert!(!w.has_room());
        r.retain(|m| m != &Message::from("d"));
        assert!(w.has_room(), "what retain keeps behind the inlet's is read");
        assert_eq!(pop_str(&mut r), Some("b".into()));
        assert_eq!(pop_str(&mut r), Some("c".into()));
        assert_eq!(r.try_pop(), TryPop::Empty);
        drop((w, r));

        let (w, mut r) = pipe(10);
        let wire = wire_inlet(&w);
        arrive(&wire, &["keep", "drop", "keep too"]);
        w.alarm().raise().wake();
        assert_eq!(pop_str(&mut r), Some("keep".into()));
        r.retain(|m| m != &Message::from("drop"));
        assert_eq!(r.len(), 1);
        assert_eq!(pop_str(&mut r), Some("keep too".into()));
        assert_eq!(r.try_pop(), TryPop::Empty);
        arrive(&wire, &["left"]);
        w.alarm().raise().wake();
        assert_eq!(pop_str(&mut r), Some("left".into()));
        w.close();
        assert_eq!(r.try_pop(), TryPop::Finished);
        assert!(r.is_finished());
    }

    /// A waker that raises `notify`'s signal.
    fn notify_waker(notify: Arc<Notify>) -> Arc<impl futures::task::ArcWake> {
        struct Raise(Arc<Notify>);
        impl futures::task::ArcWake for Raise {
            fn wake_by_ref(arc_self: &Arc<Self>) {
                arc_self.0.wake();
            }
        }
        Arc::new(Raise(notify))
    }
}
