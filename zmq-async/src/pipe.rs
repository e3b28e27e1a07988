//! Pipes: bounded queues of whole [`Message`]s between a socket and one peer.
//!
//! A pipe has exactly one [`PipeWriter`] and one [`PipeReader`]. Its high-water
//! mark (HWM) counts messages, as libzmq counts them; `0` means unlimited.
//! Closing either end is observed by the other: the reader sees the end of the
//! pipe after draining what was queued, the writer gets [`PipeClosed`] at once.
//! Dropping an end closes it.
//!
//! The reader takes the whole shared queue at once, under one lock, into a cache of its
//! own (the two buffers trade places: no message moves), and pops from the cache without
//! locking. Messages in the cache still count against the HWM until the reader tells the
//! writer it read them: every half HWM (as libzmq's low-water mark), and when it next takes
//! the queue; the writer never sees more room than the reader has freed.
//!
//! Each end can be waited on in two ways: the `poll_*` methods register the
//! caller's waker (what a connection task uses), and a socket-level
//! [`Notify`] installed on the end is woken as well, so a socket waiting on
//! many pipes is woken when any of them changes.
//!
//! # The wake-up protocol
//!
//! Everything both ends share is in one `State` under one mutex: the queue, `cached`,
//! the HWM, both closed flags, each end's waker and [`Notify`]. Outside it are only the
//! reader's own cache (`&mut self`) and the `Notify`s (an atomic flag and an
//! `AtomicWaker`). An end that waits registers its waker under the lock, in the same
//! critical section in which it saw that it must wait; an end that changes what the
//! other waits for takes the other's waker and `Notify` under the lock, in the section
//! that made the change, and wakes them after unlocking (`Wakeup`). So a change can
//! never fall between a waiter's look and its registration. The invariants:
//!
//! 1. **The reader sleeps only on an empty pipe.** It registers only in `take_queue`,
//!    with its cache empty, the queue empty (it just took it) and the writer open; the
//!    same section sets `cached` to 0.
//! 2. **Writer → reader.** Every push that finds the queue empty (`try_push`,
//!    `push_force`, `push_batch`, conflating or not) and every close by the writer
//!    (`close`, `close_discard`, `LingerHandle::discard`) takes the reader's waker and
//!    `Notify`. By 1, that covers everything a sleeping reader waits for; pushes onto a
//!    non-empty queue wake no one (the reader is awake, or already woken).
//! 3. **The writer sleeps only at the HWM.** `poll_ready` registers only when
//!    `queue.len() + cached >= hwm` (HWM non-zero, not conflating) and the reader is open.
//!    `try_push` and `push_batch` never register: a writer that got `Full` or `Ok(0)`
//!    waits with `poll_ready`.
//! 4. **Reader → writer.** Everything that can take the pipe from full to not full takes
//!    the writer's waker and `Notify`: the reader taking the queue (`take_queue`) and
//!    telling the writer what it read from its cache (`release`), `set_hwm`, `retain`
//!    (the reader dropping stale subscriptions at a lost connection), and the reader's
//!    close (always). Nothing else lowers `queue.len() + cached` or raises the HWM.
//! 5. **Never both asleep.** A sleeping reader left `cached` at 0 and the queue empty
//!    (1); the writer can reach the HWM (at least 1) only by pushing onto that empty
//!    queue, which wakes the reader (2). Messages in the reader's cache count against the
//!    HWM until it releases them, every half HWM (at least 1, at most
//!    `RELEASE_EVERY`) and in full at its next take; a `set_hwm` between two takes
//!    only delays that release (the reader's `release_every` is refreshed at its next
//!    take, which comes before it can sleep), it cannot lose a wake-up.
//! 6. **Close.** Closing is a flag set under the lock, so it is ordered with every push:
//!    the reader sees [`TryPop::Finished`] only when the writer closed and its cache and
//!    the queue are empty, so nothing pushed before the close is lost. After the reader
//!    closes, every push and `poll_ready` fails with [`PipeClosed`].
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
//! disarms it, and so does every message that goes through it. `try_push` uses it only
//! while armed and with the queue empty, under the pipe's lock, so a bypassed message
//! follows everything pushed before it. A message written whole wakes no one: the reader
//! re-arms the bypass at its next look that finds the pipe still empty, which in a
//! request-reply exchange is the look that delivers the reply, so each request and each
//! reply goes from the sender's task at no cost to the connection's. Only a message the
//! bypass could not finish writing wakes the reader, to write the rest. A burst goes
//! through the queue, keeping its batched writes: its first message may take the bypass,
//! the next finds it disarmed and is queued (which wakes the reader), and a reader that
//! took messages does not arm it again until a later look finds nothing new (the
//! session's rule, `net/session.rs`). A sender that never hears back from its peer and
//! sends now and then alternates: one message through the bypass, the next through the
//! queue, whose look re-arms it.
//!
//! Wakers are woken at most once per registration (taken, not cloned); spurious wake-ups
//! happen (a `Notify` is shared) and every waiter looks again. The model tests in
//! `pipe/loom_tests.rs` check these under every interleaving (see there for how to run
//! them); the primitives come from `pipe/sync.rs`, std's in a normal build.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use zmtp_codec::Message;

use self::sync::{AtomicBool, AtomicWaker, Mutex, MutexGuard, Ordering};

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

/// The most messages the reader reads from its cache before telling the writer.
const RELEASE_EVERY: usize = 256;

/// In C layout, in this order: what every push and take reads (the queue, the counts, the
/// flags) first, in the allocation's first two cache lines beside the lock; what only
/// wake-ups and the bypass read after (left to the compiler, the bypass's fields put the
/// flags in a third line).
#[derive(Debug)]
#[repr(C)]
struct State {
    queue: VecDeque<Message>,
    /// Messages the reader moved into its cache and has not told the writer it read; they
    /// count against the HWM.
    cached: usize,
    hwm: usize,
    conflate: bool,
    writer_closed: bool,
    reader_closed: bool,
    /// The reader took nothing since it found the pipe empty with everything it took
    /// written: the writer may use the bypass.
    bypass_armed: bool,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
    reader_notify: Option<Arc<Notify>>,
    writer_notify: Option<Arc<Notify>>,
    bypass: Option<Arc<dyn Bypass>>,
}

impl State {
    fn is_full(&self) -> bool {
        !self.conflate && self.hwm != 0 && self.queue.len() + self.cached >= self.hwm
    }

    fn room(&self) -> usize {
        if self.conflate || self.hwm == 0 {
            usize::MAX
        } else {
            self.hwm.saturating_sub(self.queue.len() + self.cached)
        }
    }

    /// After how many messages read from its cache the reader tells the writer: half the
    /// HWM (libzmq's low-water mark), so a writer at the HWM gets room while the reader
    /// works through a batch.
    fn release_every(&self) -> usize {
        if self.conflate || self.hwm == 0 {
            RELEASE_EVERY
        } else {
            (self.hwm / 2).clamp(1, RELEASE_EVERY)
        }
    }

    /// Takes what must be woken on the reader side.
    fn reader_wakeup(&mut self) -> Wakeup {
        Wakeup(self.reader_waker.take(), self.reader_notify.clone())
    }

    /// Takes what must be woken on the writer side.
    fn writer_wakeup(&mut self) -> Wakeup {
        Wakeup(self.writer_waker.take(), self.writer_notify.clone())
    }

    /// The writer's wake-up if a change took the pipe from full (`was_full`) to not full.
    #[inline]
    fn writer_wakeup_if_freed(&mut self, was_full: bool) -> Wakeup {
        if was_full && !self.is_full() {
            self.writer_wakeup()
        } else {
            Wakeup::none()
        }
    }
}

/// Wakers collected under the lock and woken after it is released.
#[must_use]
struct Wakeup(Option<Waker>, Option<Arc<Notify>>);

impl Wakeup {
    fn none() -> Self {
        Wakeup(None, None)
    }

    fn wake(self) {
        if let Some(w) = self.0 {
            w.wake();
        }
        if let Some(n) = self.1 {
            n.wake();
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a few field updates), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the high-water mark; wakes a waiting writer if room appeared.
    fn set_hwm(&self, hwm: usize) {
        let mut st = self.lock();
        st.hwm = hwm;
        let wakeup = if st.is_full() {
            Wakeup::none()
        } else {
            st.writer_wakeup()
        };
        drop(st);
        wakeup.wake();
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
        state: Mutex::new(State {
            queue: VecDeque::new(),
            cached: 0,
            hwm: config.hwm,
            conflate: config.conflate,
            writer_closed: false,
            reader_closed: false,
            reader_waker: None,
            writer_waker: None,
            reader_notify: None,
            writer_notify: None,
            bypass: None,
            bypass_armed: false,
        }),
    });
    (
        PipeWriter {
            shared: shared.clone(),
        },
        PipeReader {
            shared,
            cache: VecDeque::new(),
            unreleased: 0,
            release_every: 1,
        },
    )
}

/// The sending end of a pipe.
#[derive(Debug)]
pub struct PipeWriter {
    shared: sync::Arc<Shared>,
}

impl PipeWriter {
    /// Ready when a message can be pushed; `Err` when the reader is gone.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), PipeClosed>> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Poll::Ready(Err(PipeClosed));
        }
        if st.is_full() {
            if !st
                .writer_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                st.writer_waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// Waits for room, then pushes `msg`. Cancel-safe: if the future is
    /// dropped before completion the message is not queued.
    pub async fn push(&self, msg: Message) -> Result<(), PipeClosed> {
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
    pub fn try_push(&self, msg: Message) -> Result<(), PushError> {
        let st = self.shared.lock();
        if st.reader_closed {
            return Err(PushError::Closed(msg));
        }
        if st.bypass_armed {
            return Self::try_bypass(st, msg);
        }
        Self::queue(st, msg)
    }

    /// [`try_push`](Self::try_push) with the bypass armed. Apart, so that the common path
    /// never borrows the message (which would cost it a copy).
    #[cold]
    #[inline(never)]
    fn try_bypass(mut st: MutexGuard<'_, State>, msg: Message) -> Result<(), PushError> {
        let bypassed = match &st.bypass {
            Some(bypass) if st.queue.is_empty() => bypass.try_send(&msg),
            _ => Bypassed::Declined,
        };
        // A message through the bypass disarms it; the reader re-arms it at its next look
        // that finds the pipe empty, and is woken for that only when it has bytes to write.
        match bypassed {
            Bypassed::Declined => Self::queue(st, msg),
            Bypassed::Written => {
                st.bypass_armed = false;
                Ok(())
            }
            Bypassed::Unfinished => {
                st.bypass_armed = false;
                let wakeup = st.reader_wakeup();
                drop(st);
                wakeup.wake();
                Ok(())
            }
        }
    }

    /// Queues `msg` if the pipe is below its HWM.
    #[inline(always)]
    fn queue(mut st: MutexGuard<'_, State>, msg: Message) -> Result<(), PushError> {
        if st.is_full() {
            return Err(PushError::Full(msg));
        }
        let wakeup = Self::enqueue(&mut st, msg);
        drop(st);
        wakeup.wake();
        Ok(())
    }

    /// Queues `msg` ignoring the HWM (used for subscriptions, which libzmq
    /// never drops, and for the `probe_router` message on a fresh pipe).
    pub fn push_force(&self, msg: Message) -> Result<(), PipeClosed> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Err(PipeClosed);
        }
        let wakeup = Self::enqueue(&mut st, msg);
        drop(st);
        wakeup.wake();
        Ok(())
    }

    fn enqueue(st: &mut State, msg: Message) -> Wakeup {
        let was_empty = st.queue.is_empty();
        if st.conflate {
            st.queue.clear();
        }
        st.queue.push_back(msg);
        if was_empty {
            st.reader_wakeup()
        } else {
            Wakeup::none()
        }
    }

    /// Moves as many messages from the front of `msgs` as fit below the HWM,
    /// under one lock. Returns how many were moved.
    pub fn push_batch(&self, msgs: &mut VecDeque<Message>) -> Result<usize, PipeClosed> {
        let mut st = self.shared.lock();
        if st.reader_closed {
            return Err(PipeClosed);
        }
        let was_empty = st.queue.is_empty();
        let n = st.room().min(msgs.len());
        if st.conflate {
            if let Some(last) = msgs.drain(..).last() {
                st.queue.clear();
                st.queue.push_back(last);
            }
        } else if st.queue.is_empty() && n == msgs.len() {
            // The reader keeps up: trade buffers rather than move the messages.
            std::mem::swap(&mut st.queue, msgs);
        } else {
            st.queue.extend(msgs.drain(..n));
        }
        let wakeup = if was_empty && !st.queue.is_empty() {
            st.reader_wakeup()
        } else {
            Wakeup::none()
        };
        drop(st);
        wakeup.wake();
        Ok(n)
    }

    /// True when a push would succeed now (below the HWM and the reader is there).
    pub fn has_room(&self) -> bool {
        let st = self.shared.lock();
        !st.reader_closed && !st.is_full()
    }

    /// True when the reader is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().reader_closed
    }

    /// Messages queued and not yet read.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current high-water mark (`0` = unlimited).
    pub fn hwm(&self) -> usize {
        self.shared.lock().hwm
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
        let wakeup = st.reader_wakeup();
        drop(st);
        wakeup.wake();
    }

    /// Closes this end and discards everything queued (linger 0).
    pub fn close_discard(&self) {
        let mut st = self.shared.lock();
        st.queue.clear();
        st.writer_closed = true;
        let wakeup = st.reader_wakeup();
        drop(st);
        wakeup.wake();
    }

    /// Closes gracefully and returns a handle that can discard what is still
    /// queued later (when a linger period runs out).
    pub(crate) fn close_lingering(self) -> LingerHandle {
        self.close();
        LingerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Installs the socket-level notifier woken when room appears or the reader closes.
    pub(crate) fn set_notify(&self, notify: Arc<Notify>) {
        self.shared.lock().writer_notify = Some(notify);
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
}

impl LingerHandle {
    /// Drops whatever the reader has not taken yet.
    pub(crate) fn discard(&self) {
        let mut st = self.shared.lock();
        st.queue.clear();
        let wakeup = st.reader_wakeup();
        drop(st);
        wakeup.wake();
    }

    /// True when the reader took everything or went away.
    pub(crate) fn is_done(&self) -> bool {
        let st = self.shared.lock();
        st.queue.is_empty() || st.reader_closed
    }
}

/// The receiving end of a pipe.
#[derive(Debug)]
pub struct PipeReader {
    shared: sync::Arc<Shared>,
    /// Messages taken from the queue in one batch, popped without locking.
    cache: VecDeque<Message>,
    /// Messages read from the cache that the writer was not told about yet.
    unreleased: usize,
    /// How many to read before telling the writer ([`State::release_every`]).
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

    /// The next message: from the cache, else from a new batch out of the queue. With
    /// `cx`, registers its waker when there is none.
    #[inline]
    fn next(&mut self, cx: Option<&mut Context<'_>>) -> TryPop {
        if let Some(msg) = self.cache.pop_front() {
            self.unreleased += 1;
            if self.unreleased >= self.release_every {
                self.release();
            }
            return TryPop::Message(msg);
        }
        self.take_queue(cx)
    }

    /// The cache is empty, so everything it held was read: takes the whole queue into it
    /// (trading buffers, so no message moves), and pops the first.
    #[inline(never)]
    fn take_queue(&mut self, cx: Option<&mut Context<'_>>) -> TryPop {
        let mut st = self.shared.lock();
        let was_full = st.is_full();
        std::mem::swap(&mut self.cache, &mut st.queue);
        let popped = self.cache.pop_front();
        st.bypass_armed &= popped.is_none();
        st.cached = self.cache.len();
        self.unreleased = 0;
        self.release_every = st.release_every();
        let wakeup = st.writer_wakeup_if_freed(was_full);
        let result = match popped {
            Some(msg) => TryPop::Message(msg),
            None if st.writer_closed => TryPop::Finished,
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
                TryPop::Empty
            }
        };
        drop(st);
        wakeup.wake();
        result
    }

    /// Tells the writer about the messages read from the cache since the last time: they
    /// no longer count against the HWM.
    #[inline(never)]
    fn release(&mut self) {
        let mut st = self.shared.lock();
        let was_full = st.is_full();
        st.cached = st.cached.saturating_sub(self.unreleased);
        self.unreleased = 0;
        let wakeup = st.writer_wakeup_if_freed(was_full);
        drop(st);
        wakeup.wake();
    }

    /// Keeps, in order, the unread messages (taken into the cache or still queued) that
    /// `keep` accepts, and drops the others. The kept ones go back to the queue, so the
    /// HWM counts them exactly again.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Message) -> bool) {
        let mut st = self.shared.lock();
        let was_full = st.is_full();
        self.cache.retain(&mut keep);
        st.queue.retain(&mut keep);
        self.cache.append(&mut st.queue);
        std::mem::swap(&mut self.cache, &mut st.queue);
        st.cached = 0;
        st.bypass_armed = false;
        self.unreleased = 0;
        let wakeup = st.writer_wakeup_if_freed(was_full);
        drop(st);
        wakeup.wake();
    }

    /// True when the writer closed, whether or not messages are still queued.
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.lock().writer_closed
    }

    /// True when the writer closed and everything queued has been read.
    pub fn is_finished(&self) -> bool {
        let st = self.shared.lock();
        self.cache.is_empty() && st.writer_closed && st.queue.is_empty()
    }

    /// Messages queued and not yet read.
    pub fn len(&self) -> usize {
        self.cache.len() + self.shared.lock().queue.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes this end: queued messages are discarded and the writer gets [`PipeClosed`].
    pub fn close(&mut self) {
        self.cache.clear();
        let mut st = self.shared.lock();
        if st.reader_closed {
            return;
        }
        st.reader_closed = true;
        st.queue.clear();
        st.cached = 0;
        self.unreleased = 0;
        let wakeup = st.writer_wakeup();
        drop(st);
        wakeup.wake();
    }

    /// Changes the high-water mark (see [`PipeWriter::set_hwm`]).
    pub fn set_hwm(&self, hwm: usize) {
        self.shared.set_hwm(hwm);
    }

    /// Installs the socket-level notifier woken when a message arrives or the writer closes.
    pub(crate) fn set_notify(&self, notify: Arc<Notify>) {
        self.shared.lock().reader_notify = Some(notify);
    }

    /// Installs (or with `None` removes) the pipe's bypass, disarmed.
    pub(crate) fn set_bypass(&self, bypass: Option<Arc<dyn Bypass>>) {
        let mut st = self.shared.lock();
        st.bypass = bypass;
        st.bypass_armed = false;
    }

    /// Arms the bypass: call only when everything taken from the pipe was handed to it (a
    /// `poll_pop` returned `Pending` and what was popped before is written or waiting in
    /// the bypass's own output, ahead of anything the bypass will send).
    pub(crate) fn arm_bypass(&self) {
        let mut st = self.shared.lock();
        st.bypass_armed = st.bypass.is_some() && self.cache.is_empty();
    }
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
        let (w, mut r) = pipe(2);
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
    fn the_reader_cache_counts_against_the_hwm() {
        let (w, mut r) = pipe(4);
        let wn = Arc::new(Notify::new());
        w.set_notify(wn.clone());
        for i in 0..4u8 {
            assert!(w.try_push(Message::from(vec![i])).is_ok());
        }
        assert!(!w.has_room());
        wn.take_signal();
        // The reader takes the whole queue; one is read, three wait in its cache and still
        // count: room for exactly one.
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![0u8])));
        assert!(wn.take_signal(), "the writer is woken when room appears");
        assert_eq!(r.len(), 3);
        assert!(w.try_push(Message::from(vec![4u8])).is_ok());
        assert!(!w.has_room());
        // Reads from the cache reach the writer every half HWM (two here).
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![1u8])));
        assert!(!w.has_room());
        assert_eq!(r.try_pop(), TryPop::Message(Message::from(vec![2u8])));
        assert!(wn.take_signal());
        assert!(w.try_push(Message::from(vec![5u8])).is_ok());
        assert!(w.try_push(Message::from(vec![6u8])).is_ok());
        assert!(!w.has_room());
        drop(w);
        let mut rest = Vec::new();
        while let TryPop::Message(m) = r.try_pop() {
            rest.push(m[0][0]);
        }
        assert_eq!(rest, [3, 4, 5, 6], "order is kept across batches");
        assert!(r.is_finished());
        assert_eq!(r.try_pop(), TryPop::Finished);
    }

    #[test]
    fn zero_hwm_is_unlimited() {
        let (w, r) = pipe(0);
        for i in 0..10_000u32 {
            assert!(w.try_push(Message::from(i.to_be_bytes().to_vec())).is_ok());
        }
        assert_eq!(r.len(), 10_000);
    }

    #[test]
    fn writer_close_is_seen_after_drain() {
        let (w, mut r) = pipe(0);
        assert!(w.try_push(Message::from("x")).is_ok());
        drop(w);
        assert!(!r.is_finished());
        assert_eq!(r.try_pop(), TryPop::Message(Message::from("x")));
        assert_eq!(r.try_pop(), TryPop::Finished);
        assert_eq!(r.poll_pop(&mut cx()), Poll::Ready(None));
    }

    #[test]
    fn reader_close_errors_the_writer() {
        let (w, r) = pipe(1);
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
        let (w, mut r) = pipe_with(PipeConfig {
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
    fn notify_is_woken_by_either_end() {
        let (w, mut r) = pipe(1);
        let rn = Arc::new(Notify::new());
        let wn = Arc::new(Notify::new());
        r.set_notify(rn.clone());
        w.set_notify(wn.clone());
        rn.take_signal();
        wn.take_signal();
        assert!(w.try_push(Message::from("a")).is_ok());
        assert!(rn.take_signal());
        assert!(!wn.take_signal());
        assert!(matches!(r.try_pop(), TryPop::Message(_)));
        assert!(wn.take_signal(), "leaving the HWM wakes the writer side");
        drop(r);
        assert!(wn.take_signal());
    }

    #[tokio::test]
    async fn async_push_pop_across_tasks() {
        let (w, mut r) = pipe(4);
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
        let (w, mut r) = pipe(10);
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
        let (w, mut r) = pipe(10);
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
        let (w, mut r) = pipe(10);
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
