//! The built-in proxy: libzmq's `zmq_proxy` and `zmq_proxy_steerable`.
//!
//! [`proxy`] joins a frontend and a backend socket and passes every message that one
//! receives to the other, whole (all its frames), both ways where both sockets can:
//!
//! | frontend | backend | what it is (the guide's name) |
//! |---|---|---|
//! | ROUTER | DEALER | shared queue: clients' requests to workers, replies back (`msgqueue`, `rrbroker`) |
//! | DEALER | ROUTER | the same, facing the other way |
//! | XSUB | XPUB | forwarder: publications down, subscriptions up (`wuproxy`) |
//! | XPUB | XSUB | the same, facing the other way |
//! | PULL | PUSH | streamer: one way only |
//!
//! Other pairs do not compile ([`ProxyPair`]).
//!
//! With [`Proxy::capture`], a copy of every message it passes goes to a capture socket
//! first (any socket that can send; a PUB or a PUSH, say). With [`Proxy::control`] it is
//! steerable: each message received on the control socket is a command, as in libzmq:
//!
//! | command | effect | reply |
//! |---|---|---|
//! | `PAUSE` | stop passing messages (they wait in the sockets' pipes, up to their HWMs) | |
//! | `RESUME` | pass them again | |
//! | `TERMINATE` | the proxy's future completes with the [`Statistics`] | |
//! | `STATISTICS` | | eight frames, each a `u64` in the machine's byte order ([`Statistics::to_frames`]) |
//!
//! A REP control socket (driven by a REQ) gets an empty reply to every other command, as
//! in libzmq 4.3.5 and later; other control socket types get none. Anything else is
//! ignored (libzmq 4.3.4 aborts the process on it). The counters are libzmq's eight,
//! in its order: for the frontend and then the backend, messages and bytes received,
//! messages and bytes sent. A message counts once, however many frames it has, and its
//! bytes are all its frames' (as libzmq 4.3.4, Debian 12's, counts; libzmq 4.3.5 and later
//! count each frame as a message). It counts as received when the proxy takes it, and as
//! sent when the other socket takes it (4.3.4 counts both once it is sent on).
//!
//! # Bounded
//!
//! The proxy holds at most one message per direction (and its copy for the capture
//! socket): it receives the next only once the last one was taken by the socket it goes
//! to. A slow side makes the other wait, through the HWMs, as libzmq's proxy does; the
//! two directions wait independently.
//!
//! ```
//! use zmq_async::{proxy, DealerSocket, Message, RepSocket, ReqSocket, RouterSocket};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zmq_async::Error> {
//! // REQ -> ROUTER | proxy | DEALER -> REP, as the guide's `msgqueue`.
//! let mut frontend = RouterSocket::new();
//! let front = frontend.bind("inproc://proxy-doc-front").await?;
//! let mut backend = DealerSocket::new();
//! let back = backend.bind("inproc://proxy-doc-back").await?;
//! tokio::spawn(async move { proxy(&mut frontend, &mut backend).await });
//!
//! let mut rep = RepSocket::new();
//! rep.connect(&back).await?;
//! let mut req = ReqSocket::new();
//! req.connect(&front).await?;
//! req.send("Hello").await?;
//! assert_eq!(&rep.recv().await?[0][..], b"Hello");
//! rep.send("World").await?;
//! assert_eq!(req.recv().await?, Message::from("World"));
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use zmtp_codec::Message;

use crate::socket::{kind, CanRecv, CanSend, Socket, SocketKind};
use crate::{Result, SocketType};

mod sealed {
    pub trait Sealed<B> {}
}

/// The frontend types a proxy joins to a backend of type `B` (see the table in the
/// [module docs](mod@crate::proxy)).
pub trait ProxyPair<B: SocketKind>: SocketKind + sealed::Sealed<B> {}

macro_rules! pairs {
    ($($front:ident => $back:ident),*) => {$(
        impl sealed::Sealed<kind::$back> for kind::$front {}
        impl ProxyPair<kind::$back> for kind::$front {}
    )*};
}

pairs!(Router => Dealer, Dealer => Router, XSub => XPub, XPub => XSub, Pull => Push);

/// Joins `frontend` and `backend` (libzmq's `zmq_proxy`): a future that passes messages
/// between them until a socket fails, or, with a control socket, until `TERMINATE`.
/// Add a capture or control socket with [`Proxy::capture`] and [`Proxy::control`]
/// before awaiting it.
pub fn proxy<'a, F, B>(frontend: &'a mut Socket<F>, backend: &'a mut Socket<B>) -> Proxy<'a>
where
    F: ProxyPair<B>,
    B: SocketKind,
{
    Proxy {
        forward: Flow::new(can_recv(F::TYPE) && can_send(B::TYPE)),
        backward: Flow::new(can_recv(B::TYPE) && can_send(F::TYPE)),
        frontend,
        backend,
        capture: None,
        control: None,
        reply: None,
        paused: false,
        terminated: false,
        stats: Statistics::default(),
    }
}

fn can_send(t: SocketType) -> bool {
    !matches!(t, SocketType::Sub | SocketType::Pull)
}

fn can_recv(t: SocketType) -> bool {
    !matches!(t, SocketType::Pub | SocketType::Push)
}

/// A socket as the proxy drives it, whatever its type.
trait Side: Send {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>>;
    fn poll_send(&mut self, cx: &mut Context<'_>, slot: &mut Option<Message>) -> Poll<Result<()>>;
    fn socket_type(&self) -> SocketType;
}

impl<T: SocketKind> Side for Socket<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        self.poll_recv_msg(cx)
    }
    fn poll_send(&mut self, cx: &mut Context<'_>, slot: &mut Option<Message>) -> Poll<Result<()>> {
        self.poll_send_msg(cx, slot)
    }
    fn socket_type(&self) -> SocketType {
        T::TYPE
    }
}

/// One socket's counters, as libzmq keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages received on this socket.
    pub messages_in: u64,
    /// Bytes of those messages (every frame).
    pub bytes_in: u64,
    /// Messages sent on this socket.
    pub messages_out: u64,
    /// Bytes of those messages.
    pub bytes_out: u64,
}

/// What a proxy passed (libzmq's `STATISTICS` reply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// The frontend socket's counters.
    pub frontend: Counters,
    /// The backend socket's counters.
    pub backend: Counters,
}

impl Statistics {
    /// The eight counters in libzmq's order: frontend messages in, bytes in, messages
    /// out, bytes out, then the same for the backend.
    pub fn to_array(&self) -> [u64; 8] {
        let (f, b) = (&self.frontend, &self.backend);
        [
            f.messages_in,
            f.bytes_in,
            f.messages_out,
            f.bytes_out,
            b.messages_in,
            b.bytes_in,
            b.messages_out,
            b.bytes_out,
        ]
    }

    /// The `STATISTICS` reply: the eight counters, one 8-byte frame each, in the machine's
    /// byte order (libzmq copies the `uint64_t`s as they are in memory).
    pub fn to_frames(&self) -> Message {
        self.to_array()
            .into_iter()
            .map(|n| Bytes::copy_from_slice(&n.to_ne_bytes()))
            .collect()
    }

    /// Reads a `STATISTICS` reply (from this proxy or libzmq's); `None` unless it is eight
    /// 8-byte frames.
    pub fn from_frames(msg: &Message) -> Option<Statistics> {
        if msg.len() != 8 {
            return None;
        }
        let mut n = [0u64; 8];
        for (slot, frame) in n.iter_mut().zip(msg.iter()) {
            *slot = u64::from_ne_bytes(frame[..].try_into().ok()?);
        }
        let counters = |c: &[u64]| Counters {
            messages_in: c[0],
            bytes_in: c[1],
            messages_out: c[2],
            bytes_out: c[3],
        };
        Some(Statistics {
            frontend: counters(&n[..4]),
            backend: counters(&n[4..]),
        })
    }
}

/// One direction's message in flight.
#[derive(Debug)]
struct Flow {
    /// Whether this direction exists (PULL/PUSH: only frontend to backend).
    open: bool,
    /// The message on its way to the other socket.
    slot: Option<Message>,
    /// Its copy on its way to the capture socket (sent first, as libzmq does).
    copy: Option<Message>,
    /// The size of the message in `slot`.
    bytes: u64,
}

impl Flow {
    fn new(open: bool) -> Self {
        Flow {
            open,
            slot: None,
            copy: None,
            bytes: 0,
        }
    }

    /// Moves this direction one step on: sends the copy, sends the message, or receives
    /// the next. `Ok(false)` when the step it is at has to wait (its waker registered).
    fn step(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut dyn Side,
        to: &mut dyn Side,
        capture: Option<&mut (dyn Side + '_)>,
        counted: (&mut Counters, &mut Counters),
    ) -> Result<bool> {
        if !self.open {
            return Ok(false);
        }
        let (from_counts, to_counts) = counted;
        let capturing = capture.is_some();
        if self.copy.is_some() {
            if let Some(capture) = capture {
                if capture.poll_send(cx, &mut self.copy)?.is_pending() {
                    return Ok(false);
                }
            }
            self.copy = None;
        }
        if self.slot.is_some() {
            if to.poll_send(cx, &mut self.slot)?.is_pending() {
                return Ok(false);
            }
            to_counts.messages_out += 1;
            to_counts.bytes_out += self.bytes;
            return Ok(true);
        }
        match from.poll_recv(cx)? {
            Poll::Pending => Ok(false),
            Poll::Ready(msg) => {
                self.bytes = msg.iter().map(|f| f.len() as u64).sum();
                from_counts.messages_in += 1;
                from_counts.bytes_in += self.bytes;
                if capturing {
                    self.copy = Some(msg.clone());
                }
                self.slot = Some(msg);
                Ok(true)
            }
        }
    }
}

/// A control command (libzmq's four; anything else is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Pause,
    Resume,
    Terminate,
    Statistics,
}

impl Command {
    fn parse(msg: &Message) -> Option<Command> {
        if msg.len() != 1 {
            return None;
        }
        match &msg[0][..] {
            b"PAUSE" => Some(Command::Pause),
            b"RESUME" => Some(Command::Resume),
            b"TERMINATE" => Some(Command::Terminate),
            b"STATISTICS" => Some(Command::Statistics),
            _ => None,
        }
    }
}

/// Steps a proxy takes in one poll before it lets other tasks run.
const BUDGET: usize = 128;

/// A proxy between two sockets (see [`proxy`]); a future of its [`Statistics`] at
/// `TERMINATE`. It borrows the sockets: they are the caller's again when it completes or
/// is dropped. Dropped mid-way, it drops what it has in hand: at most one message per
/// direction, received and not yet sent on.
#[must_use = "a proxy does nothing unless awaited"]
pub struct Proxy<'a> {
    frontend: &'a mut dyn Side,
    backend: &'a mut dyn Side,
    capture: Option<&'a mut dyn Side>,
    control: Option<&'a mut dyn Side>,
    forward: Flow,
    backward: Flow,
    /// A reply to the control socket, on its way.
    reply: Option<Message>,
    paused: bool,
    terminated: bool,
    stats: Statistics,
}

impl std::fmt::Debug for Proxy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("frontend", &self.frontend.socket_type())
            .field("backend", &self.backend.socket_type())
            .field("paused", &self.paused)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a> Proxy<'a> {
    /// Sends a copy of every message the proxy passes, either way, to `capture` (libzmq's
    /// capture socket). The capture socket holds the proxy up as the others do: a PUSH
    /// with no peer waits, a PUB drops.
    pub fn capture<C: CanSend>(mut self, capture: &'a mut Socket<C>) -> Self {
        self.capture = Some(capture);
        self
    }

    /// Takes commands from `control` (libzmq's `zmq_proxy_steerable`): `PAUSE`,
    /// `RESUME`, `TERMINATE`, `STATISTICS` (see the [module docs](mod@crate::proxy)).
    pub fn control<C: CanRecv>(mut self, control: &'a mut Socket<C>) -> Self {
        self.control = Some(control);
        self
    }

    /// The control socket's step: send the reply on its way, or take the next command.
    fn step_control(&mut self, cx: &mut Context<'_>) -> Result<bool> {
        let Some(control) = self.control.as_deref_mut() else {
            return Ok(false);
        };
        if self.reply.is_some() {
            return Ok(control.poll_send(cx, &mut self.reply)?.is_ready());
        }
        if self.terminated {
            return Ok(false);
        }
        let Poll::Ready(msg) = control.poll_recv(cx)? else {
            return Ok(false);
        };
        let command = Command::parse(&msg);
        tracing::debug!(?command, "proxy control");
        let rep = control.socket_type() == SocketType::Rep;
        match command {
            Some(Command::Pause) => self.paused = true,
            Some(Command::Resume) => self.paused = false,
            Some(Command::Terminate) => self.terminated = true,
            Some(Command::Statistics) if can_send(control.socket_type()) => {
                self.reply = Some(self.stats.to_frames());
                return Ok(true);
            }
            Some(Command::Statistics) => {
                tracing::warn!(control = %control.socket_type(), "STATISTICS: the control socket cannot reply");
            }
            None => tracing::warn!(frames = msg.len(), "proxy: unknown control command ignored"),
        }
        if rep {
            self.reply = Some(Message::from(Bytes::new()));
        }
        Ok(true)
    }

    /// Both directions' steps.
    fn step_flows(&mut self, cx: &mut Context<'_>) -> Result<bool> {
        let Proxy {
            frontend,
            backend,
            capture,
            forward,
            backward,
            stats,
            ..
        } = self;
        let Statistics {
            frontend: f,
            backend: b,
        } = stats;
        let moved = forward.step(
            cx,
            &mut **frontend,
            &mut **backend,
            capture.as_deref_mut(),
            (&mut *f, &mut *b),
        )?;
        let back = backward.step(
            cx,
            &mut **backend,
            &mut **frontend,
            capture.as_deref_mut(),
            (b, f),
        )?;
        Ok(moved || back)
    }
}

impl Future for Proxy<'_> {
    type Output = Result<Statistics>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Statistics>> {
        let this = self.get_mut();
        for _ in 0..BUDGET {
            let mut progressed = this.step_control(cx)?;
            if this.terminated && this.reply.is_none() {
                return Poll::Ready(Ok(this.stats));
            }
            if !this.paused && !this.terminated {
                progressed |= this.step_flows(cx)?;
            }
            if !progressed {
                // Every step that could not go on registered its waker.
                return Poll::Pending;
            }
        }
        // Still busy: let other tasks run, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
