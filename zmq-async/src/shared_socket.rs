//! One socket shared by many tasks: the socket behind a lock held only while one operation
//! is polled (never across an `.await`), and the tasks waiting on it. The socket keeps one
//! waker; the one it is given wakes every waiting task, and each looks again. What
//! [`split`](crate::split)'s halves and [`thread_safe`](crate::thread_safe)'s sockets share.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use zmtp_codec::Message;

use crate::coop::Coop;
use crate::socket::{Socket, SocketKind};
use crate::{Error, Result};

/// A socket shared by tasks: the socket, and the tasks waiting on it.
pub(crate) struct Core<T: SocketKind> {
    socket: Mutex<Socket<T>>,
    pub(crate) waiters: Arc<Waiters>,
    /// `waiters` as a waker: the one the socket registers, so that its one wake-up
    /// reaches every waiting task.
    fanout: Waker,
    /// Operations of the handles' futures, streams and sinks, for Tokio's budget
    /// ([`Coop`]).
    coop_ops: AtomicU32,
}

impl<T: SocketKind> Core<T> {
    pub(crate) fn new(socket: Socket<T>) -> Arc<Self> {
        let waiters = Arc::new(Waiters::default());
        Arc::new(Core {
            socket: Mutex::new(socket),
            fanout: Waker::from(waiters.clone()),
            waiters,
            coop_ops: AtomicU32::new(0),
        })
    }

    /// The socket, if `core` is its last reference; `core` back otherwise.
    pub(crate) fn into_socket(core: Arc<Self>) -> Result<Socket<T>, Arc<Self>> {
        let core = Arc::try_unwrap(core)?;
        Ok(core.socket.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Socket<T>> {
        self.socket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls `op` on the socket for the task of `cx`, as `waiter`, under Tokio's cooperative
    /// budget, charged to that task ([`Coop`]; so `op` is the socket's operation without
    /// it, `poll_*_now`).
    pub(crate) fn poll<R>(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        futures::ready!(self.with_coop(|coop| coop.poll_proceed(cx)));
        let mut fanned_out = 0;
        let r = self.poll_waiting(waiter, cx, |s, cx| {
            let r = op(s, cx);
            fanned_out = s.take_fanned_out().saturating_add(fanned_out);
            r
        });
        if fanned_out != 0 {
            self.with_coop(|coop| coop.add(cx, fanned_out));
        }
        r
    }

    /// `f` on the handles' count of operations ([`Coop`]). Tasks polling at once may each
    /// count from the same number: the count only says when to charge the budget, and
    /// stays near enough.
    fn with_coop<R>(&self, f: impl FnOnce(&mut Coop) -> R) -> R {
        let mut coop = Coop::from_count(self.coop_ops.load(Ordering::Relaxed));
        let r = f(&mut coop);
        self.coop_ops.store(coop.count(), Ordering::Relaxed);
        r
    }

    /// [`Core::poll`] without the budget.
    ///
    /// The socket registers the fan-out waker. A task that has to wait puts its own
    /// waker in the list before it looks a second time, so a change the socket saw after
    /// the first look is either seen by the second or wakes the list, this task in it.
    fn poll_waiting<R>(
        &self,
        waiter: &mut Waiter,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let mut fcx = Context::from_waker(&self.fanout);
        let r = op(&mut self.lock(), &mut fcx);
        if r.is_ready() {
            self.waiters.remove(waiter);
            return r;
        }
        self.waiters.register(waiter, cx.waker());
        let r = op(&mut self.lock(), &mut fcx);
        if r.is_ready() {
            self.waiters.remove(waiter);
        }
        r
    }

    /// Runs `op` until it is ready, as one more waiting task (cancel-safe as far as `op`
    /// is: dropped, it leaves the list of waiters).
    pub(crate) async fn run<R>(
        &self,
        mut op: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<R>,
    ) -> R {
        struct Leave<'a, T: SocketKind>(&'a Core<T>, Waiter);
        impl<T: SocketKind> Drop for Leave<'_, T> {
            fn drop(&mut self) {
                self.0.waiters.remove(&mut self.1);
            }
        }
        let mut place = Leave(self, Waiter::default());
        std::future::poll_fn(|cx| self.poll(&mut place.1, cx, &mut op)).await
    }

    /// `op` once, without waiting. Still with the fan-out waker: whatever the socket
    /// registers replaces what it had, and the tasks waiting rely on that being the
    /// fan-out (a no-op waker there would leave them asleep).
    pub(crate) fn try_op<R>(
        &self,
        op: impl FnOnce(&mut Socket<T>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let mut socket = self.lock();
        let r = op(&mut socket, &mut Context::from_waker(&self.fanout));
        // No budget for `try_*`: what this fanned out is charged to no other operation.
        socket.take_fanned_out();
        r
    }
}

/// The tasks waiting on a shared socket, each with the id of its operation.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    list: Mutex<Vec<(u64, Waker)>>,
}

impl Waiters {
    pub(crate) fn list(&self) -> MutexGuard<'_, Vec<(u64, Waker)>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(&self, waiter: &mut Waiter, waker: &Waker) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        if waiter.id == 0 {
            waiter.id = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let mut list = self.list();
        match list.iter_mut().find(|(id, _)| *id == waiter.id) {
            Some((_, w)) => w.clone_from(waker),
            None => list.push((waiter.id, waker.clone())),
        }
        waiter.registered = true;
    }

    /// Takes `waiter` off the list (an operation that completed or was dropped).
    pub(crate) fn remove(&self, waiter: &mut Waiter) {
        if waiter.registered {
            waiter.registered = false;
            self.list().retain(|(id, _)| *id != waiter.id);
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let woken = std::mem::take(&mut *self.list());
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

/// One operation's place in [`Waiters`] (`id` 0: not given one yet).
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    id: u64,
    /// Put on the list since it last completed (it may have been woken off it since).
    registered: bool,
}

/// The `Sink` side of a handle on a shared socket: the one message `start_send` took, and
/// the handle's place among the waiters while it is delivered. `poll_ready`, `poll_flush`
/// and `poll_close` all deliver it ([`SinkSlot::poll_deliver`]).
#[derive(Debug, Default)]
pub(crate) struct SinkSlot {
    pending: Option<Message>,
    waiter: Waiter,
}

impl SinkSlot {
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_none()
    }

    /// `Sink::start_send`: keeps `item` for the next delivery.
    pub(crate) fn start_send(&mut self, item: Message) -> Result<()> {
        if self.pending.is_some() {
            // `start_send` without a `poll_ready` that said yes: refuse rather than lose one.
            return Err(Error::WouldBlock);
        }
        if item.is_empty() {
            return Err(Error::EmptyMessage);
        }
        self.pending = Some(item);
        Ok(())
    }

    /// Delivers the kept message, if any, through `send` (the socket's `poll_send_now`,
    /// or a stricter form of it).
    pub(crate) fn poll_deliver<T: SocketKind>(
        &mut self,
        core: &Core<T>,
        cx: &mut Context<'_>,
        mut send: impl FnMut(&mut Socket<T>, &mut Context<'_>, &mut Option<Message>) -> Poll<Result<()>>,
    ) -> Poll<Result<()>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        let pending = &mut self.pending;
        core.poll(&mut self.waiter, cx, |s, cx| send(s, cx, pending))
    }

    /// Leaves the waiters (the handle is dropped).
    pub(crate) fn leave<T: SocketKind>(&mut self, core: &Core<T>) {
        core.waiters.remove(&mut self.waiter);
    }
}

/// The `Stream` side of a handle on a shared socket: its place among the waiters, and
/// whether the stream has ended (after the first error, as `Socket`'s does).
#[derive(Debug, Default)]
pub(crate) struct StreamSlot {
    waiter: Waiter,
    done: bool,
}

impl StreamSlot {
    pub(crate) fn is_terminated(&self) -> bool {
        self.done
    }

    /// `Stream::poll_next` through `recv` (the socket's `poll_recv_now`, or a stricter
    /// form of it).
    pub(crate) fn poll_next<T: SocketKind>(
        &mut self,
        core: &Core<T>,
        cx: &mut Context<'_>,
        recv: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<Result<Message>>,
    ) -> Poll<Option<Result<Message>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let r = futures::ready!(self.poll_recv(core, cx, recv));
        self.done = r.is_err();
        Poll::Ready(Some(r))
    }

    /// One receive through `recv`, waiting as this slot's waiter.
    pub(crate) fn poll_recv<T: SocketKind>(
        &mut self,
        core: &Core<T>,
        cx: &mut Context<'_>,
        recv: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<Result<Message>>,
    ) -> Poll<Result<Message>> {
        core.poll(&mut self.waiter, cx, recv)
    }

    /// Leaves the waiters (a receive was cancelled, or the handle is dropped).
    pub(crate) fn leave<T: SocketKind>(&mut self, core: &Core<T>) {
        core.waiters.remove(&mut self.waiter);
    }
}
