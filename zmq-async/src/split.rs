//! One socket used from many tasks: a [`SendHalf`] that is `Clone + Send + Sync`, and
//! the [`RecvHalf`] that owns the receiving.
//!
//! [`Socket::into_halves`] moves the socket behind a lock that is held only while a
//! `send` or `recv` is polled, never across an `.await`: the halves wait for room or for
//! a message the way the socket does, without holding it. Any number of tasks may wait
//! at once; when the socket sees a change (room in a pipe, a message, a peer), every
//! waiting task is woken and looks again.
//!
//! Which socket types allow what is written in types ([`CanShare`]):
//!
//! | socket type | `into_halves` | `into_sender` | why |
//! |---|---|---|---|
//! | DEALER, ROUTER, PAIR, XPUB, XSUB | yes | yes | every message stands alone (ROUTER: addressed by its first frame) |
//! | PUB, PUSH | no (they do not receive) | yes | |
//! | REQ, REP | no | no | strict alternation: a send belongs to the request before it, which only one task can know |
//! | SUB, PULL | no | no | they do not send; one task receives (the socket itself is a `Stream`) |
//!
//! So for a REQ or REP both are a compile error:
//!
//! ```compile_fail
//! let req = zmq_async::ReqSocket::new();
//! let (tx, rx) = req.into_halves(); // REQ does not implement `CanShare`
//! ```
//!
//! A DEALER (or a ROUTER, with the routing id as the first frame) is what many tasks
//! sharing one request/reply connection use instead.
//!
//! The single-owner `Socket::send`/`recv` do not go through any of this.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Sink, Stream};
use zmtp_codec::Message;

use crate::shared_socket::{Core, SinkSlot, StreamSlot, Waiter};
use crate::socket::{kind, CanRecv, CanSend, Socket, SocketKind};
use crate::{Error, Result, TrySendError};

mod sealed {
    pub trait Sealed {}
}

/// Socket types whose sends may come from many tasks at once: every message stands on
/// its own. Not REQ and REP, whose sends must alternate with their receives.
pub trait CanShare: CanSend + sealed::Sealed {}

macro_rules! shareable {
    ($($kind:ident),*) => {$(
        impl sealed::Sealed for kind::$kind {}
        impl CanShare for kind::$kind {}
    )*};
}

shareable!(Pair, Pub, Dealer, Router, Push, XPub, XSub);

impl<T: CanShare + CanRecv> Socket<T> {
    /// Splits the socket into a send half, which can be cloned into any number of tasks,
    /// and the receive half (see the [module docs](crate::split) for the socket types).
    ///
    /// Bind and connect first: the halves only send and receive. The socket closes
    /// (applying `linger`) when both halves and every clone are dropped.
    ///
    /// ```
    /// use zmq_async::{DealerSocket, Message, RouterSocket};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), zmq_async::Error> {
    /// let mut router = RouterSocket::new();
    /// let endpoint = router.bind("inproc://halves-doc").await?;
    /// let mut dealer = DealerSocket::new();
    /// dealer.connect(&endpoint).await?;
    ///
    /// // The receive half hands each request to a task of its own, which replies
    /// // through a clone of the send half (the routing id is the first frame).
    /// let (replies, mut requests) = router.into_halves();
    /// tokio::spawn(async move {
    ///     while let Ok(request) = requests.recv().await {
    ///         let replies = replies.clone();
    ///         tokio::spawn(async move {
    ///             let reply: Message = [request[0].clone(), "done".into()].into_iter().collect();
    ///             replies.send(reply).await
    ///         });
    ///     }
    /// });
    ///
    /// dealer.send("job").await?;
    /// assert_eq!(&dealer.recv().await?[0][..], b"done");
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_halves(self) -> (SendHalf<T>, RecvHalf<T>) {
        let core = Core::new(self);
        let recv = RecvHalf {
            core: core.clone(),
            stream: StreamSlot::default(),
        };
        (SendHalf::new(core), recv)
    }
}

impl<T: CanShare> Socket<T> {
    /// The socket as a send handle only (PUB, PUSH; or a DEALER whose replies nobody
    /// reads). Clone it into every task that sends.
    pub fn into_sender(self) -> SendHalf<T> {
        SendHalf::new(Core::new(self))
    }
}

/// The sending side of a shared socket: `Clone + Send + Sync`, one clone per task.
///
/// [`send`](SendHalf::send) is cancel-safe as `Socket::send` is: a future dropped
/// before it completes has sent nothing, not even in part. Messages sent through one
/// handle, each send awaited before the next, reach the socket in that order; sends
/// from different handles interleave as they complete. When the socket has to wait
/// (every peer at its HWM), each waiting send waits without holding the socket.
///
/// It is also a [`Sink<Message>`] that holds at most one message: `start_send` keeps
/// it, `poll_ready` and `poll_flush` deliver it.
pub struct SendHalf<T: SocketKind> {
    core: Arc<Core<T>>,
    /// The message `start_send` took, and the `Sink` side's place among the waiters.
    sink: SinkSlot,
}

impl<T: SocketKind> SendHalf<T> {
    fn new(core: Arc<Core<T>>) -> Self {
        SendHalf {
            core,
            sink: SinkSlot::default(),
        }
    }

    /// A stream of the socket's events (see [`Socket::monitor`]).
    pub fn monitor(&self) -> crate::Monitor {
        self.core.lock().monitor()
    }

    /// The socket's counters (see [`Socket::stats`]).
    pub fn stats(&self) -> crate::SocketStats {
        self.core.lock().stats()
    }
}

impl<T: SocketKind> Clone for SendHalf<T> {
    fn clone(&self) -> Self {
        SendHalf::new(self.core.clone())
    }
}

impl<T: SocketKind> std::fmt::Debug for SendHalf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendHalf")
            .field("type", &T::TYPE)
            .finish_non_exhaustive()
    }
}

impl<T: CanShare> SendHalf<T> {
    /// Sends a message, waiting while the socket cannot take it (see `Socket::send`).
    /// Cancel-safe.
    pub fn send(&self, msg: impl Into<Message>) -> impl Future<Output = Result<()>> + Send + '_ {
        SendFuture {
            core: &self.core,
            slot: Some(msg.into()),
            waiter: Waiter::default(),
        }
    }

    /// Sends without waiting; [`Error::WouldBlock`] (with the message handed back) when
    /// it would have to wait.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        let mut slot = Some(msg.into());
        match self.core.try_op(|s, cx| s.poll_send_now(cx, &mut slot)) {
            Poll::Ready(Ok(())) => Ok(()),
            Poll::Ready(Err(e)) => Err(TrySendError::new(e, slot.unwrap_or_default())),
            Poll::Pending => Err(TrySendError::new(
                Error::WouldBlock,
                slot.unwrap_or_default(),
            )),
        }
    }

    /// The socket back, if this is its last handle (no clone, no [`RecvHalf`] left);
    /// otherwise the handle, unchanged. For [`Socket::shutdown`] after
    /// [`Socket::into_sender`].
    pub fn into_socket(self) -> Result<Socket<T>, SendHalf<T>> {
        if Arc::strong_count(&self.core) != 1 || !self.sink.is_empty() {
            return Err(self);
        }
        let core = self.core.clone();
        drop(self);
        Core::into_socket(core).map_err(SendHalf::new)
    }

    /// Delivers what `start_send` took.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.sink
            .poll_deliver(&self.core, cx, |s, cx, slot| s.poll_send_now(cx, slot))
    }
}

impl<T: SocketKind> Drop for SendHalf<T> {
    fn drop(&mut self) {
        self.sink.leave(&self.core);
    }
}

impl<T: CanShare> Sink<Message> for SendHalf<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.get_mut().sink.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }
}

/// The future of [`SendHalf::send`].
struct SendFuture<'a, T: SocketKind> {
    core: &'a Core<T>,
    slot: Option<Message>,
    waiter: Waiter,
}

impl<T: CanShare> Future for SendFuture<'_, T> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let slot = &mut this.slot;
        this.core
            .poll(&mut this.waiter, cx, |s, cx| s.poll_send_now(cx, slot))
    }
}

impl<T: SocketKind> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        self.core.waiters.remove(&mut self.waiter);
    }
}

/// The receiving side of a shared socket: one task receives (a ROUTER's requests, a
/// DEALER's replies) while [`SendHalf`]s send.
///
/// [`recv`](RecvHalf::recv) is cancel-safe as `Socket::recv` is. It is also a
/// [`Stream`] of `Result<Message>` that ends after the first error.
pub struct RecvHalf<T: SocketKind> {
    core: Arc<Core<T>>,
    /// The handle's place among the waiters, and whether its `Stream` has ended.
    stream: StreamSlot,
}

impl<T: SocketKind> std::fmt::Debug for RecvHalf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvHalf")
            .field("type", &T::TYPE)
            .finish_non_exhaustive()
    }
}

impl<T: SocketKind> RecvHalf<T> {
    /// A stream of the socket's events (see [`Socket::monitor`]).
    pub fn monitor(&self) -> crate::Monitor {
        self.core.lock().monitor()
    }

    /// The socket's counters (see [`Socket::stats`]).
    pub fn stats(&self) -> crate::SocketStats {
        self.core.lock().stats()
    }
}

impl<T: CanRecv> RecvHalf<T> {
    /// Receives the next message. Cancel-safe.
    pub fn recv(&mut self) -> impl Future<Output = Result<Message>> + Send + '_ {
        RecvFuture(self)
    }

    /// Receives without waiting; [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&mut self) -> Result<Message> {
        match self.core.try_op(|s, cx| s.poll_recv_now(cx)) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(Error::WouldBlock),
        }
    }

    /// The socket back from its two halves, if `send` is the last send handle (its
    /// clones are all dropped) and both come from the same socket; otherwise the two
    /// halves, unchanged. For [`Socket::shutdown`], or to bind and connect again.
    // The halves handed back are large (a send half carries its `Sink` slot); they are
    // handed back as they are, as `tokio::net::tcp::ReuniteError` hands back its halves.
    #[allow(clippy::result_large_err)]
    pub fn reunite(self, send: SendHalf<T>) -> Result<Socket<T>, (SendHalf<T>, RecvHalf<T>)>
    where
        T: CanShare,
    {
        let alone = Arc::ptr_eq(&self.core, &send.core) && Arc::strong_count(&self.core) == 2;
        if !alone || !send.sink.is_empty() {
            return Err((send, self));
        }
        let core = self.core.clone();
        drop((self, send));
        Core::into_socket(core).map_err(|core| {
            let recv = RecvHalf {
                core: core.clone(),
                stream: StreamSlot::default(),
            };
            (SendHalf::new(core), recv)
        })
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.stream
            .poll_recv(&self.core, cx, |s, cx| s.poll_recv_now(cx))
    }
}

impl<T: SocketKind> Drop for RecvHalf<T> {
    fn drop(&mut self) {
        self.stream.leave(&self.core);
    }
}

impl<T: CanRecv> Stream for RecvHalf<T> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.stream
            .poll_next(&this.core, cx, |s, cx| s.poll_recv_now(cx))
    }
}

impl<T: CanRecv> futures::stream::FusedStream for RecvHalf<T> {
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

/// The future of [`RecvHalf::recv`]; a dropped one takes its waker off the list.
struct RecvFuture<'a, T: SocketKind>(&'a mut RecvHalf<T>);

impl<T: CanRecv> Future for RecvFuture<'_, T> {
    type Output = Result<Message>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.get_mut().0.poll_recv(cx)
    }
}

impl<T: SocketKind> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        let half = &mut *self.0;
        half.stream.leave(&half.core);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::task::{Wake, Waker};

    use futures::task::noop_waker_ref;

    use super::*;
    use crate::{DealerSocket, RouterSocket};

    fn assert_shareable<S: Clone + Send + Sync + 'static>() {}
    fn assert_send<S: Send + 'static>() {}

    #[test]
    fn halves_are_send_and_the_send_half_is_clone_send_sync() {
        assert_shareable::<SendHalf<kind::Router>>();
        assert_shareable::<SendHalf<kind::Dealer>>();
        assert_send::<RecvHalf<kind::Router>>();
    }

    /// A cancelled wait leaves nothing behind on the list: a `select!` that times out a
    /// receive over and over must not grow it.
    #[tokio::test]
    async fn dropped_waits_leave_the_list() {
        let mut router = RouterSocket::new();
        router.bind("inproc://split-unit-drop").await.unwrap();
        let (_tx, mut rx) = router.into_halves();
        for _ in 0..100 {
            let mut recv = std::pin::pin!(rx.recv());
            let waker = noop_waker_ref();
            assert!(recv
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending());
        }
        assert!(rx.core.waiters.list().is_empty());
    }

    /// Every task waiting on the socket is woken by one change, not only the last to
    /// register (the socket's own `Notify` keeps one waker).
    #[tokio::test]
    async fn every_waiter_is_woken() {
        let mut router = RouterSocket::new();
        router.bind("inproc://split-unit-wake").await.unwrap();
        let (_tx, mut rx) = router.into_halves();
        let mut dealer = DealerSocket::new();
        dealer.connect("inproc://split-unit-wake").await.unwrap();
        let waiting = rx.core.waiters.clone();
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct Flag(Arc<std::sync::atomic::AtomicBool>);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        // Someone else waiting on the same socket (as a blocked sender would be).
        let mut other = Waiter::default();
        waiting.register(&mut other, &Waker::from(Arc::new(Flag(flag.clone()))));
        // The receive registers on the socket (the fan-out waker) and waits.
        let mut recv = std::pin::pin!(rx.recv());
        let noop = &mut Context::from_waker(noop_waker_ref());
        assert!(recv.as_mut().poll(noop).is_pending());
        dealer.send("x").await.unwrap();
        let msg = tokio::time::timeout(std::time::Duration::from_secs(20), recv)
            .await
            .expect("hang")
            .unwrap();
        assert_eq!(&msg[1][..], b"x");
        assert!(
            flag.load(Ordering::SeqCst),
            "the other waiter was woken too"
        );
    }
}
