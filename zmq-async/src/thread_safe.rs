//! The thread-safe draft socket types: CLIENT and SERVER (RFC 41), RADIO and DISH (RFC 48),
//! SCATTER and GATHER (RFC 49), PEER (RFC 51) and CHANNEL (RFC 52), each a
//! [`ThreadSafeSocket`].
//!
//! What makes them thread-safe in libzmq is that one socket is used from many threads at
//! once, and a message is one frame, so no send or receive has a part that another
//! thread could interleave with. Here every method takes `&self`, the socket is
//! `Send + Sync`, and any number of tasks may send and receive on it at the same time
//! (share it in an `Arc`). An owned socket is also a `Stream` and a `Sink` of messages, as
//! every socket is; those take `&mut self`, so each keeps its own state (the one message a
//! `Sink` holds, its place among the waiters).
//!
//! Inside, the socket sits behind a lock held only while one operation is polled, never
//! across an `.await`: a task that has to wait (for a message, for room) waits without
//! it. The socket keeps one waker; the one it is given wakes every waiting task, and each
//! looks again (`shared_socket.rs`, which the shared halves of the standard types use too).
//!
//! Messages are single frames: sending a multipart message is
//! [`Error::InvalidArgument`] (libzmq: `EINVAL`), and a multipart message that arrives
//! from a peer is dropped, as libzmq drops it. A SERVER or PEER stamps each message it
//! receives with its sender's routing id ([`Message::routing_id`]) and sends each
//! message to the peer its routing id names ([`Message::to`]). A RADIO sends each message
//! to the DISHes that [joined](ThreadSafeSocket::join) its group ([`Message::set_group`]);
//! a message without a group is [`Error::InvalidArgument`].

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};

use futures::{Sink, Stream};
use zmtp_codec::Message;

use crate::shared_socket::{Core, SinkSlot, StreamSlot};
use crate::socket::{kind, Socket, SocketKind};
use crate::{Error, Result, SocketOptions, SocketType, TrySendError};

/// The socket types a [`ThreadSafeSocket`] can be.
pub trait ThreadSafeKind: SocketKind {}

/// Thread-safe socket types that send: CLIENT, SERVER, SCATTER, PEER, CHANNEL, RADIO.
pub trait ThreadSafeSend: ThreadSafeKind {}

/// Thread-safe socket types that receive: CLIENT, SERVER, GATHER, PEER, CHANNEL, DISH.
pub trait ThreadSafeRecv: ThreadSafeKind {}

macro_rules! thread_safe {
    ($($kind:ident: $($cap:ident),*;)*) => {$(
        impl ThreadSafeKind for kind::$kind {}
        $(impl $cap for kind::$kind {})*
    )*};
}

thread_safe! {
    Client: ThreadSafeSend, ThreadSafeRecv;
    Server: ThreadSafeSend, ThreadSafeRecv;
    Scatter: ThreadSafeSend;
    Gather: ThreadSafeRecv;
    Peer: ThreadSafeSend, ThreadSafeRecv;
    Channel: ThreadSafeSend, ThreadSafeRecv;
    Radio: ThreadSafeSend;
    Dish: ThreadSafeRecv;
}

/// A socket of a thread-safe draft type `T`, used through `&self` from any number of
/// tasks (aliases [`ClientSocket`](crate::ClientSocket),
/// [`ServerSocket`](crate::ServerSocket), …; see the [module docs](crate::thread_safe)).
///
/// `send` and `recv` are cancel-safe as [`Socket`]'s are: a future dropped before it
/// completes has sent, or taken, nothing.
///
/// ```
/// use std::sync::Arc;
/// use zmq_async::{ClientSocket, Message, ServerSocket};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), zmq_async::Error> {
/// let server = Arc::new(ServerSocket::new());
/// let endpoint = server.bind("inproc://thread-safe-doc").await?;
/// // Two tasks answer requests on the one socket, each reply to its request's sender.
/// for _ in 0..2 {
///     let server = server.clone();
///     tokio::spawn(async move {
///         while let Ok(request) = server.recv().await {
///             let id = request.routing_id().expect("SERVER stamps every message");
///             let _ = server.send(Message::from("pong").to(id)).await;
///         }
///     });
/// }
/// let client = ClientSocket::new();
/// client.connect(&endpoint).await?;
/// client.send("ping").await?;
/// assert_eq!(&client.recv().await?[0][..], b"pong");
/// # Ok(())
/// # }
/// ```
pub struct ThreadSafeSocket<T: ThreadSafeKind> {
    core: Arc<Core<T>>,
    /// What the socket's own `Sink` and `Stream` keep (their methods take `&mut self`,
    /// so they are this value's, not every sharer's).
    sink: SinkSlot,
    stream: StreamSlot,
}

impl<T: ThreadSafeKind> std::fmt::Debug for ThreadSafeSocket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadSafeSocket")
            .field("type", &T::TYPE)
            .finish_non_exhaustive()
    }
}

impl<T: ThreadSafeKind> Default for ThreadSafeSocket<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ThreadSafeKind> ThreadSafeSocket<T> {
    /// A new socket with default options.
    pub fn new() -> Self {
        Self::wrap(Socket::new())
    }

    /// A new socket with the given options.
    pub fn with_options(options: SocketOptions) -> Result<Self> {
        Socket::with_options(options).map(Self::wrap)
    }

    fn wrap(socket: Socket<T>) -> Self {
        ThreadSafeSocket {
            core: Core::new(socket),
            sink: SinkSlot::default(),
            stream: StreamSlot::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Socket<T>> {
        self.core.lock()
    }

    /// A stream of the socket's events (see [`Socket::monitor`]).
    pub fn monitor(&self) -> crate::Monitor {
        self.lock().monitor()
    }

    /// The socket's counters (see [`Socket::stats`]).
    pub fn stats(&self) -> crate::SocketStats {
        self.lock().stats()
    }

    /// What a DISH's `udp://` endpoints received, and dropped as not RFC 48's datagrams
    /// (see [`Socket::multicast_stats`]).
    pub fn multicast_stats(&self) -> crate::MulticastStats {
        self.lock().multicast_stats()
    }

    /// Polls `op` once on the socket, without waiting.
    fn poll_once<R>(
        &self,
        op: &mut impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        self.core.try_op(|s, cx| op(s, cx))
    }

    /// Runs `op` until it is ready, waiting without the lock in between.
    async fn run<R>(&self, op: impl FnMut(&mut Socket<T>, &mut Context<'_>) -> Poll<R>) -> R {
        self.core.run(op).await
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        T::TYPE
    }

    /// The current options.
    pub fn options(&self) -> SocketOptions {
        self.lock().options().clone()
    }

    /// Replaces all options (see [`Socket::set_options`]).
    pub fn set_options(&self, options: SocketOptions) -> Result<()> {
        self.lock().set_options(options)
    }

    /// Binds to `endpoint` and returns the resolved endpoint (see [`Socket::bind`]).
    pub async fn bind(&self, endpoint: &str) -> Result<String> {
        let started = self.lock().start_bind(endpoint)?;
        match started {
            Ok(resolved) => Ok(resolved),
            Err(net) => {
                let task = net.run().await?;
                Ok(self.lock().finish_bind(endpoint, task))
            }
        }
    }

    /// Stops accepting connections on `endpoint` (see [`Socket::unbind`]).
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        self.lock().unbind_now(endpoint)
    }

    /// Connects to `endpoint` (see [`Socket::connect`]). A RADIO also connects `udp://`
    /// endpoints (`udp://host:port`, `udp://interface;group:port`), which a DISH binds.
    pub async fn connect(&self, endpoint: &str) -> Result<()> {
        let started = self.lock().start_connect(endpoint)?;
        if let Err(net) = started {
            let task = net.run().await?;
            self.lock().finish_connect(endpoint, task);
        }
        Ok(())
    }

    /// Drops the peers created by `connect(endpoint)` (see [`Socket::disconnect`]).
    pub async fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.lock().disconnect_now(endpoint)
    }

    /// Number of peers currently attached (including ones still handshaking).
    pub fn peer_count(&self) -> usize {
        self.lock().peer_count()
    }

    /// A handle for transports to attach peers (see [`Socket::handle`]).
    #[cfg(feature = "unstable-transport")]
    #[cfg_attr(docsrs, doc(cfg(feature = "unstable-transport")))]
    pub fn handle(&self) -> crate::SocketHandle {
        self.lock().handle()
    }

    /// Closes the socket and waits for its queued messages as [`Socket::shutdown`] does.
    pub async fn shutdown(self) {
        let core = self.core.clone();
        drop(self);
        // The socket is its core's only holder, so this always gets it back.
        if let Ok(socket) = Core::into_socket(core) {
            socket.shutdown().await;
        }
    }
}

impl<T: ThreadSafeSend> ThreadSafeSocket<T> {
    /// Sends a one-frame message, waiting while it cannot go (CLIENT, SCATTER, CHANNEL:
    /// no peer with room; SERVER, PEER: its peer at the HWM). SERVER and PEER send to the
    /// peer the message's routing id names: [`Error::HostUnreachable`] if none has it.
    /// A multipart message is [`Error::InvalidArgument`].
    ///
    /// Cancel-safe: if the future is dropped before it completes, the message was not
    /// sent.
    pub fn send(&self, msg: impl Into<Message>) -> impl Future<Output = Result<()>> + Send + '_ {
        let mut slot = Some(msg.into());
        async move {
            check_single_frame(slot.as_ref())?;
            self.run(|s, cx| s.poll_send_now(cx, &mut slot)).await
        }
    }

    /// Sends without waiting; [`Error::WouldBlock`] (with the message handed back) when
    /// it would have to wait.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError> {
        let mut slot = Some(msg.into());
        if let Err(e) = check_single_frame(slot.as_ref()) {
            return Err(TrySendError::new(e, slot.unwrap_or_default()));
        }
        let sent = self.poll_once(&mut |s, cx| s.poll_send_now(cx, &mut slot));
        TrySendError::from_poll(sent, slot)
    }
}

impl<T: ThreadSafeRecv> ThreadSafeSocket<T> {
    /// Receives the next one-frame message (SERVER and PEER: stamped with its sender's
    /// routing id). Cancel-safe: a message is taken only in the poll that returns it.
    pub fn recv(&self) -> impl Future<Output = Result<Message>> + Send + '_ {
        self.run(|s, cx| poll_single_frame(s, cx))
    }

    /// Receives without waiting; [`Error::WouldBlock`] when nothing is queued.
    pub fn try_recv(&self) -> Result<Message> {
        match self.poll_once(&mut |s, cx| poll_single_frame(s, cx)) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(Error::WouldBlock),
        }
    }
}

impl ThreadSafeSocket<kind::Peer> {
    /// Connects to another PEER at `endpoint` and returns the routing id that peer has
    /// here, to address messages to it before it has sent any (libzmq's
    /// `zmq_connect_peer`). Not with `immediate`, whose peers exist only once connected
    /// ([`Error::InvalidArgument`]; libzmq: `EFAULT`).
    pub async fn connect_peer(&self, endpoint: &str) -> Result<NonZeroU32> {
        let mut socket = self.lock();
        if socket.options().immediate {
            return Err(Error::InvalidArgument(
                "connect_peer cannot work with immediate",
            ));
        }
        let peer = socket.connect_now(endpoint)?;
        peer.and_then(|id| socket.routing_id_of(id))
            .ok_or(Error::Closed)
    }
}

impl<T: ThreadSafeKind> Drop for ThreadSafeSocket<T> {
    fn drop(&mut self) {
        self.sink.leave(&self.core);
        self.stream.leave(&self.core);
    }
}

/// A `Sink` that holds at most one message, as [`SendHalf`](crate::SendHalf)'s does:
/// `start_send` keeps it (a multipart one is [`Error::InvalidArgument`] there),
/// `poll_ready`, `poll_flush` and `poll_close` deliver it. For an owned socket; tasks that
/// share one in an `Arc` use [`send`](ThreadSafeSocket::send).
impl<T: ThreadSafeSend> Sink<Message> for ThreadSafeSocket<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        check_single_frame(Some(&item))?;
        self.get_mut().sink.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_pending(cx)
    }
}

impl<T: ThreadSafeSend> ThreadSafeSocket<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.sink
            .poll_deliver(&self.core, cx, |s, cx, slot| s.poll_send_now(cx, slot))
    }
}

/// A `Stream` of the messages [`recv`](ThreadSafeSocket::recv) would return, ending
/// after the first error, as [`Socket`]'s does. For an owned socket; tasks that share one
/// in an `Arc` use `recv`.
impl<T: ThreadSafeRecv> Stream for ThreadSafeSocket<T> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.stream.poll_next(&this.core, cx, poll_single_frame)
    }
}

impl<T: ThreadSafeRecv> futures::stream::FusedStream for ThreadSafeSocket<T> {
    fn is_terminated(&self) -> bool {
        self.stream.is_terminated()
    }
}

impl ThreadSafeSocket<kind::Dish> {
    /// Joins `group`: the socket's RADIOs send it the group's messages (libzmq's
    /// `zmq_join`). A group over 255 bytes, or one already joined, is
    /// [`Error::InvalidArgument`] (libzmq: `EINVAL`).
    ///
    /// ```
    /// use zmq_async::{DishSocket, Message, RadioSocket};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let radio = RadioSocket::new();
    /// let endpoint = radio.bind("inproc://radio-dish-doc").await?;
    /// let dish = DishSocket::new();
    /// dish.join("weather")?;
    /// // inproc: the connecting DISH queues its JOIN as `connect` returns (over a network
    /// // transport it travels, and the RADIO's first messages may go before it lands).
    /// dish.connect(&endpoint).await?;
    /// radio.send(Message::from("traffic jam").in_group("traffic")?).await?;
    /// radio.send(Message::from("sunny").in_group("weather")?).await?;
    /// let msg = dish.recv().await?;
    /// assert_eq!((&msg[0][..], msg.group()), (&b"sunny"[..], Some(&b"weather"[..])));
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&self, group: impl AsRef<[u8]>) -> Result<()> {
        self.lock().apply_subscription(group.as_ref(), true)
    }

    /// Leaves `group` (libzmq's `zmq_leave`); one not joined, or over 255 bytes, is
    /// [`Error::InvalidArgument`] (libzmq: `EINVAL`).
    pub fn leave(&self, group: impl AsRef<[u8]>) -> Result<()> {
        self.lock().apply_subscription(group.as_ref(), false)
    }
}

/// libzmq's rule for these types: `ZMQ_SNDMORE` is `EINVAL`.
fn check_single_frame(msg: Option<&Message>) -> Result<()> {
    match msg {
        Some(msg) if msg.len() > 1 => Err(Error::InvalidArgument(
            "thread-safe socket types send one frame a message",
        )),
        _ => Ok(()),
    }
}

/// The next message of one frame; multipart ones from a peer are dropped, as libzmq does.
fn poll_single_frame<T: SocketKind>(
    s: &mut Socket<T>,
    cx: &mut Context<'_>,
) -> Poll<Result<Message>> {
    loop {
        match futures::ready!(s.poll_recv_now(cx)) {
            Ok(msg) if msg.len() > 1 => {
                tracing::debug!(frames = msg.len(), "dropping a multipart message");
            }
            r => return Poll::Ready(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shared<S: Send + Sync + 'static>() {}

    #[test]
    fn sockets_are_send_and_sync() {
        assert_shared::<ThreadSafeSocket<kind::Server>>();
        assert_shared::<ThreadSafeSocket<kind::Client>>();
        assert_shared::<ThreadSafeSocket<kind::Peer>>();
        assert_shared::<ThreadSafeSocket<kind::Channel>>();
        assert_shared::<ThreadSafeSocket<kind::Scatter>>();
        assert_shared::<ThreadSafeSocket<kind::Gather>>();
        assert_shared::<ThreadSafeSocket<kind::Radio>>();
        assert_shared::<ThreadSafeSocket<kind::Dish>>();
    }
}
