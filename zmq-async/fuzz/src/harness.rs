//! What the socket targets share: running on a socket-sized stack, and peers on the far
//! side of a socket's pipes.

use std::collections::VecDeque;

use zmq_async::pipe::TryPop;
use zmq_async::{Message, PeerInfo, PeerPipes, SocketHandle, SocketType};

/// The stack of a Tokio worker thread (2 MiB), where sockets run in practice: a recursion
/// that outgrows it crashes the target as it would crash an application.
pub const SOCKET_STACK: usize = 2 << 20;

/// Runs `f` on a thread with a [`SOCKET_STACK`]-sized stack; a panic there is a panic here.
pub fn on_socket_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new()
            .stack_size(SOCKET_STACK)
            .spawn_scoped(s, f)
            .expect("spawn the target thread");
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// The peer side of one attached peer: what a transport task holds.
#[derive(Debug)]
pub struct Peer {
    /// The pipe ends and the link.
    pub pipes: PeerPipes,
    /// No partial read of `outbound` since the last full drain: the socket sees exactly
    /// `hwm - len` room. After a partial read, the reader's unreleased cache may still count
    /// against the HWM, so the room is only known to be at most that.
    precise: bool,
    hwm: usize,
    /// Messages the pipe's reader took from its queue and has not handed out yet (it takes
    /// the whole queue when its cache is empty): what the transport already took.
    cached: usize,
    /// A SUB or XSUB's peer: a disconnect empties the reader's cache.
    resubscribes: bool,
}

/// What a peer's outbound pipe (socket → peer) may have room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// A push succeeds.
    Surely,
    /// A push may fail with `Full` (a partial read left the count unknown).
    Maybe,
    /// At the HWM: a push fails.
    None,
}

impl Peer {
    /// Attaches a new peer to the socket behind `handle`; `info` as at a handshake (or
    /// `None`: the handshake comes later, see [`Peer::handshake`]).
    pub fn attach(handle: &SocketHandle, info: Option<PeerInfo>, alias: Option<Vec<u8>>) -> Self {
        let hwm = handle.options().sndhwm;
        let pipes = handle
            .attach(info, alias.map(bytes::Bytes::from))
            .expect("the socket is open");
        Peer {
            pipes,
            precise: true,
            hwm,
            cached: 0,
            resubscribes: matches!(handle.socket_type(), SocketType::Sub | SocketType::XSub),
        }
    }

    /// The handshake (re)completed.
    pub fn handshake(&self, info: PeerInfo) {
        self.pipes.link.handshake(info).expect("the socket is open");
    }

    /// The connection was lost (the pipes are kept for a reconnect), as the tcp transport
    /// reports it: SUB and XSUB drop the subscriptions queued for the old connection, taken
    /// by the reader or not, and the reader's cache goes back to the queue.
    pub fn disconnected(&mut self) {
        self.pipes.disconnected();
        if self.resubscribes {
            self.cached = 0;
            self.precise = true;
        }
    }

    /// Pushes a message to the socket; `false` when the pipe was full or closed.
    pub fn send(&mut self, msg: Message) -> bool {
        self.pipes.inbound.try_push(msg).is_ok()
    }

    /// Messages queued for this peer and not read yet.
    pub fn queued(&self) -> usize {
        self.pipes.outbound.len()
    }

    /// Whether the socket can push one more message to this peer now.
    pub fn room(&self) -> Room {
        if self.hwm == 0 || self.queued() < self.hwm {
            if self.precise {
                Room::Surely
            } else {
                Room::Maybe
            }
        } else {
            Room::None
        }
    }

    /// Reads up to `few` messages (everything when `None`) and checks them against what the
    /// model expects this peer (`n`) to get, in order; reading everything must leave
    /// nothing expected.
    pub fn read_expecting(
        &mut self,
        n: impl std::fmt::Display,
        few: Option<usize>,
        expected: &mut VecDeque<Message>,
    ) {
        let (got, _) = self.read(few);
        for m in got {
            assert_eq!(
                Some(m),
                expected.pop_front(),
                "peer {n} read a wrong message"
            );
        }
        if few.is_none() {
            assert!(
                expected.is_empty(),
                "peer {n} misses {} messages",
                expected.len()
            );
        }
    }

    /// Reads up to `n` messages (everything when `n` is `None`); `finished` tells whether
    /// the socket closed the pipe.
    pub fn read(&mut self, n: Option<usize>) -> (Vec<Message>, bool) {
        let mut out = Vec::new();
        loop {
            if n.is_some_and(|n| out.len() >= n) {
                self.precise = false;
                return (out, false);
            }
            if self.cached == 0 {
                self.cached = self.pipes.outbound.len();
            }
            match self.pipes.outbound.try_pop() {
                TryPop::Message(m) => {
                    self.cached -= 1;
                    out.push(m);
                }
                TryPop::Empty => {
                    self.precise = true;
                    return (out, false);
                }
                TryPop::Finished => {
                    self.precise = true;
                    return (out, true);
                }
            }
        }
    }
}

/// A message tag: which peer (or the user, `u8::MAX`) sent it, and its serial.
pub fn tag(from: u8, serial: u32) -> bytes::Bytes {
    let mut t = vec![from];
    t.extend_from_slice(&serial.to_le_bytes());
    bytes::Bytes::from(t)
}

/// The `(from, serial)` of a tag frame, if it is one.
pub fn untag(frame: &[u8]) -> Option<(u8, u32)> {
    let (&from, serial) = frame.split_first()?;
    Some((from, u32::from_le_bytes(serial.try_into().ok()?)))
}

/// A message of `frames`.
pub fn message(frames: impl IntoIterator<Item = bytes::Bytes>) -> Message {
    let mut m = Message::new();
    for f in frames {
        m.push_back(f);
    }
    m
}

/// A round robin as the socket's load balancer and fair queue keep one: members in the
/// order they joined, and the position of the next turn.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    /// The members, in order.
    pub members: VecDeque<T>,
    next: usize,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            members: VecDeque::new(),
            next: 0,
        }
    }
}

impl<T: Copy + PartialEq> Ring<T> {
    /// Adds `m` at the end (if not a member).
    pub fn join(&mut self, m: T) {
        if !self.members.contains(&m) {
            self.members.push_back(m);
        }
    }

    /// Removes `m`; the turn stays with the member it was at (or the one after `m`).
    pub fn leave(&mut self, m: T) {
        if let Some(i) = self.members.iter().position(|x| *x == m) {
            self.members.remove(i);
            if i < self.next {
                self.next -= 1;
            }
        }
    }

    /// Visits the members in turn, from the current one, for at most one round, until
    /// `visit` takes one, exactly as the socket's round robin does (a skip moves the turn on;
    /// after a round without a take the turn is one past the last member visited, so a
    /// member that joins then is next).
    pub fn find(&mut self, mut visit: impl FnMut(T) -> Visit) -> Option<T> {
        let mut tries = self.members.len();
        while tries > 0 && !self.members.is_empty() {
            tries -= 1;
            if self.next >= self.members.len() {
                self.next = 0;
            }
            let m = self.members[self.next];
            match visit(m) {
                Visit::Take => return Some(m),
                Visit::Skip => self.next += 1,
                Visit::Remove => {
                    self.members.remove(self.next);
                }
            }
        }
        None
    }

    /// What the socket's `poll_recv`/`poll_send` do: [`Ring::find`], and when nothing was
    /// taken, a second round (after registering the waker), which moves the turn on again.
    pub fn poll_find(&mut self, mut visit: impl FnMut(T) -> Visit) -> Option<T> {
        self.find(&mut visit).or_else(|| self.find(&mut visit))
    }

    /// `m` was served: the next turn is the member after it.
    pub fn served(&mut self, m: T) {
        if let Some(i) = self.members.iter().position(|x| *x == m) {
            self.next = i + 1;
        }
    }
}

/// What a [`Ring::find`] visit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Serve this member.
    Take,
    /// Not now.
    Skip,
    /// Gone: out of the ring.
    Remove,
}

/// The peer info of a handshake with a peer of type `ty`.
pub fn info(ty: SocketType, routing_id: Option<&[u8]>) -> PeerInfo {
    let mut info = PeerInfo::new(ty);
    info.routing_id = routing_id.map(bytes::Bytes::copy_from_slice);
    info
}

/// True when `ZMQ_FUZZ_TRACE` is set: the targets then print each step (to debug a model).
pub fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ZMQ_FUZZ_TRACE").is_some())
}

/// Prints a step when [`tracing`].
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::harness::tracing() {
            eprintln!($($arg)*);
        }
    };
}
