//! One tcp/ipc/ws connection, libzmq's `stream_engine` and `session_base` in one: a
//! [`zmtp_codec::Connection`] driven over a [`Wire`] and joined to the socket by its pipes.
//! The wire is a byte stream ([`ByteWire`]: tcp, ipc) or a WebSocket carrying ZWS 2.0
//! messages ([`WsWire`]: ws); everything else is the same session.
//!
//! The driver is a single poll loop (no task per direction): it reads straight into the
//! codec's buffer, moves decoded messages into the inbound pipe in batches, pops outbound
//! batches into the codec, writes the codec's output with vectored writes, and fires the
//! codec's timers. When the inbound pipe is full it stops decoding and reading, so
//! back-pressure reaches the peer through the transport, as in libzmq.
//!
//! Two shortcuts skip the hop through the session's task on an idle tcp or ipc connection
//! (see [`crate::pipe`]'s docs): the sending task writes a message itself through the
//! outbound pipe's bypass, and the receiving task reads and decodes one itself through the
//! inbound pipe's inlet. For the inlet the codec lives in a [`Core`] under a lock that the
//! session holds for the whole of each poll; the stream is read with [`Readable`]'s waker,
//! which wakes the receiving task as well as the session. The session stays responsible
//! for everything else (commands, heartbeats, the end of the stream), so a receiving task
//! that stops receiving costs nothing but the shortcut.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use futures::task::AtomicWaker;
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;
use zmq_transports::ws::{WsError, WsMessage, WsStream};
use zmq_transports::StreamReader;
use zmtp_codec::{
    zws, AuthReply, Connection, Encoder, Event, Message, Metadata, SocketType, Subscription,
};

use crate::monitor::{self, EventKind};
use crate::options::RouterNotify;
use crate::peer::{PeerInfo, PeerPipes, SocketHandle};
use crate::pipe::{Bypass, Inlet, ReaderAlarm};
use crate::stats::Counters;

use super::byte_wire::{consume, gather, MAX_IOV};
use super::{convert, zap};

/// Messages moved between the codec and a pipe per lock.
const BATCH: usize = 256;
/// Stop popping outbound messages, and taking the codec's output, while this many bytes
/// wait to be written. What the peer makes us send (PONGs) coalesces in the codec
/// meanwhile, so a peer that never reads cannot grow our output.
pub(super) const WRITE_BACKLOG: usize = 256 * 1024;
/// Loop turns before yielding to the runtime: at most 8 reads (and 8 × [`BATCH`] messages)
/// a poll, fewer than the socket's reader takes in one of its own (4,096, `crate::coop`).
/// At 32 turns a connection could queue 8,192 a poll for a reader on the same thread that
/// takes 4,096: with no HWM the queue grew for as long as the peer sent, out of the caches
/// (`scale fanout`, PUB to one SUB over tcp, 64 B, both on current-thread runtimes: 3.5-4.6 M
/// deliveries/s and 54,000-61,000 page faults in 1,000,000; at 8 turns 7.8-8.4 M and under
/// 800 faults; tcp throughput between two processes the same within the spread).
pub(super) const BUDGET: u32 = 8;

/// Why a session ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The peer closed the connection.
    PeerClosed,
    /// The socket closed this peer (or is gone); nothing more to send.
    SocketClosed,
    /// The protocol failed (handshake refused, malformed input, heartbeat timeout, …).
    Protocol(zmtp_codec::Error),
    /// The transport failed.
    Io(io::Error),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::PeerClosed => f.write_str("peer closed the connection"),
            Outcome::SocketClosed => f.write_str("socket closed the peer"),
            Outcome::Protocol(e) => write!(f, "protocol error: {e}"),
            Outcome::Io(e) => write!(f, "transport error: {e}"),
        }
    }
}

/// Where a session finds its pipes.
pub(crate) struct Link<'a> {
    pub(crate) handle: &'a SocketHandle,
    /// Pipes kept across reconnects (connect side), or `None` to attach at handshake.
    pub(crate) pipes: &'a mut Option<PeerPipes>,
    /// ROUTER or STREAM alias for this peer (`connect_routing_id`), used when attaching.
    pub(crate) alias: Option<Bytes>,
    /// The peer's address as libzmq reports it, to ZAP and as every message's
    /// `Peer-Address` (see [`zap::address`]).
    pub(crate) zap_address: String,
    /// The socket's endpoint this connection belongs to, for monitor events.
    pub(crate) endpoint: &'a str,
    /// The peer's address (`tcp://ip:port`), for monitor events.
    pub(crate) peer_address: String,
    /// The connection was accepted by a listener (not made by a connect).
    pub(crate) accepted: bool,
    /// Set once the handshake completes ([`Link::connected`]; a raw session's at once).
    pub(crate) handshaken: &'a mut bool,
}

impl Link<'_> {
    /// Raises a monitor event of this connection (its endpoint and peer address).
    pub(crate) fn raise(&self, kind: EventKind, routing_id: Option<&Bytes>) {
        let monitors = &self.handle.shared.monitors;
        monitors.raise(|| kind, self.endpoint, Some(&self.peer_address), routing_id);
    }

    /// Raises the monitor events of the connection's end (libzmq's `stream_engine`
    /// `error`): a handshake failure if `handshaken` is `None` (the handshake had not
    /// completed), then DISCONNECTED with the peer's routing id, if any. A connection the
    /// socket closed raises none.
    #[cold]
    #[inline(never)]
    pub(crate) fn report_end(&self, outcome: &Outcome, handshaken: Option<Option<&Bytes>>) {
        if matches!(outcome, Outcome::SocketClosed) {
            return;
        }
        let Some(routing_id) = handshaken else {
            self.handle.shared.counters.handshake_failed();
            let failure = match outcome {
                Outcome::Protocol(e) => monitor::handshake_failure(e),
                Outcome::Io(e) => EventKind::HandshakeFailedNoDetail {
                    errno: e.raw_os_error().unwrap_or(0),
                    reason: e.to_string(),
                },
                _ => EventKind::HandshakeFailedNoDetail {
                    errno: 0,
                    reason: outcome.to_string(),
                },
            };
            self.raise(failure, None);
            self.raise(EventKind::Disconnected, None);
            return;
        };
        self.raise(EventKind::Disconnected, routing_id);
    }

    /// The peer is there (handshake done): attaches its pipes (accepted, or `immediate`),
    /// or tells the socket that the pipes made at `connect` have a connection now.
    pub(crate) fn connected(&mut self, info: PeerInfo) -> Result<(), Outcome> {
        *self.handshaken = true;
        match self.pipes.as_ref() {
            // Failing means the socket is gone: a lingering connection still delivers
            // what its outbound pipe holds.
            Some(pipes) => {
                let _ = pipes.link.handshake(info);
            }
            None => {
                let pipes = self
                    .handle
                    .attach(Some(info), self.alias.clone())
                    .map_err(|_| Outcome::SocketClosed)?;
                *self.pipes = Some(pipes);
            }
        }
        Ok(())
    }
}

/// Runs one connection until it ends.
///
/// Not an `async fn`: its future would hold `stream`, `conn` and `link` twice, as its
/// arguments and again inside the session, and every connection pays for its future's
/// size while it lives.
pub(crate) fn run<'a, W>(
    wire: W,
    conn: Connection,
    link: Link<'a>,
) -> impl Future<Output = Outcome> + Send + 'a
where
    W: Wire + Send + 'a,
{
    let mut wire = wire;
    let core = Arc::new(Mutex::new(Core {
        conn,
        inbox: VecDeque::new(),
        reader: wire.reader(),
        eof: false,
        decoded_all: false,
        properties: None,
        failure: None,
        readable: None,
    }));
    let mut session = Session {
        core: Arc::downgrade(&core),
        wire,
        link,
        sleep: None,
        outbound_done: false,
        ended: None,
        zap: None,
        authenticated: false,
        routing_id: None,
        farewell: Vec::new(),
        bypassed: false,
        armed: false,
        popped: false,
        outbound_idle: false,
        inlet: false,
        deferred: false,
    };
    std::future::poll_fn(move |cx| {
        if session.defer_to_reader(cx) {
            return Poll::Pending;
        }
        session.poll(&mut lock(&core), cx)
    })
}

/// The codec and what it decoded: the session's, shared with the inbound pipe's inlet
/// (tcp, ipc), which takes from it under the lock while the session is not polling (see
/// [`crate::pipe`]'s docs). The session holds the lock for the whole of each poll.
pub(crate) struct Core {
    conn: Connection,
    /// Decoded messages waiting for room in the inbound pipe.
    inbox: VecDeque<Message>,
    /// The stream's reading half (tcp, ipc; ws reads through its own wire).
    reader: Option<StreamReader>,
    eof: bool,
    /// The codec had no more events at the last look (its buffer holds no whole message).
    decoded_all: bool,
    /// The peer's properties, attached to every message it sends.
    properties: Option<Arc<Metadata>>,
    /// A read failure the inlet met, for the session to end with.
    failure: Option<io::Error>,
    /// While the inlet is plugged in: what the stream is read with ([`Readable`]).
    readable: Option<(Arc<Readable>, Waker)>,
}

fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    // Every critical section leaves `Core` whole (the codec's state is its own), so
    // poisoning is ignored.
    core.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    /// Attaches the peer's properties to the messages in the inbox from `from` on.
    fn stamp(&mut self, from: usize) {
        if let Some(properties) = &self.properties {
            for msg in self.inbox.range_mut(from..) {
                msg.set_metadata(Some(properties.clone()));
            }
        }
    }

    /// Moves whole messages from the codec into the inbox, up to [`BATCH`] there, with the
    /// peer's properties (those decoded before a failure too): the session's way and the
    /// inlet's.
    fn decode(&mut self) -> Result<usize, zmtp_codec::Error> {
        let before = self.inbox.len();
        let decoded = self.conn.poll_messages(&mut self.inbox, BATCH - before);
        self.stamp(before);
        decoded
    }

    /// Reads what the stream has into the codec (tcp, ipc): `Some(bytes read)`, or `None`
    /// at the end of the stream. While the inlet is plugged in, with [`Readable`]'s waker
    /// rather than `cx`'s.
    pub(super) fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<usize>, Outcome>> {
        let Core {
            conn,
            reader,
            readable,
            ..
        } = self;
        let Some(reader) = reader.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let read = match readable {
            Some((_, waker)) => poll_read_buf(
                Pin::new(reader),
                &mut Context::from_waker(waker),
                conn.read_buf(),
            ),
            None => poll_read_buf(Pin::new(reader), cx, conn.read_buf()),
        };
        read.map(|read| handle_read(conn, read))
    }

    /// [`Core::fill`] for the inlet: what the stream has now, without registering for
    /// readiness (`None` if nothing). The inlet runs under the pipe's lock, which
    /// [`Readable`]'s wake takes, and Tokio may wake the registering waker at once (when
    /// its budget runs out); the session, which every readiness wakes, registers.
    fn try_fill(&mut self) -> Option<Result<Option<usize>, Outcome>> {
        let reader = self.reader.as_ref()?;
        match reader.try_read_buf(self.conn.read_buf()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            read => Some(handle_read(&mut self.conn, read)),
        }
    }

    /// The inlet's part (see [`crate::pipe`]'s docs), with the pipe found empty: moves
    /// the decoded messages into `into`, reading and decoding first if there are none. What
    /// it reads it leaves the session to look at (events, the end of the stream, a
    /// failure), and wakes it; it reads only when the session found the codec's buffer
    /// without a whole message, as the session does, so the peer's bytes wait in the
    /// kernel while whole messages wait here.
    fn take(&mut self, into: &mut VecDeque<Message>, counters: &Counters) {
        if self.readable.is_none() {
            return;
        }
        if !self.inbox.is_empty() {
            // Decoded by the session, which had no room in the pipe for them then.
            counters.received(self.inbox.len());
            into.append(&mut self.inbox);
            return;
        }
        if !self.decoded_all || self.eof || self.failure.is_some() {
            return;
        }
        let Some(read) = self.try_fill() else {
            return;
        };
        // What was read the session looks at too (events, the end, a failure). Its waker
        // is a task's, and takes none of our locks.
        self.decoded_all = false;
        if let Some((readable, _)) = &self.readable {
            readable.session.wake();
        }
        match read {
            Ok(None) => self.eof = true,
            Ok(Some(n)) => {
                counters.read(n);
                // A failure here is the codec's, and the session's next look meets it.
                let _ = self.decode();
            }
            // The codec keeps its own failure for the session.
            Err(Outcome::Protocol(_)) => {}
            Err(Outcome::Io(e)) => self.failure = Some(e),
            Err(_) => {}
        }
        counters.received_direct(self.inbox.len());
        into.append(&mut self.inbox);
    }
}

/// What a read into the codec's buffer came to: `Some(bytes read)`, or `None` at the end of
/// the stream.
fn handle_read(conn: &mut Connection, read: io::Result<usize>) -> Result<Option<usize>, Outcome> {
    match read {
        Ok(0) => Ok(None),
        Ok(n) => conn
            .handle_read(convert::now())
            .map(|()| Some(n))
            .map_err(Outcome::Protocol),
        Err(e) => Err(Outcome::Io(e)),
    }
}

/// The waker a tcp or ipc connection reads with while its inlet is plugged in: the
/// stream's readiness tells the inbound pipe's reader (through the pipe's alarm, which wakes
/// it if it waits) and wakes the session, which stays responsible for the connection.
pub(crate) struct Readable {
    alarm: ReaderAlarm,
    session: AtomicWaker,
}

impl Wake for Readable {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// The reader first: a current-thread runtime runs woken tasks in turn, so the reader
    /// reads before the session looks (which then finds the flag lowered). A session that
    /// runs first anyway (a reader on another thread) lets the reader go first once
    /// ([`Session::defer_to_reader`]).
    fn wake_by_ref(self: &Arc<Self>) {
        self.alarm.raise().wake();
        self.session.wake();
    }
}

/// The inbound pipe's way to a tcp or ipc connection's [`Core`].
struct CoreInlet {
    core: Weak<Mutex<Core>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for CoreInlet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreInlet").finish_non_exhaustive()
    }
}

impl Inlet for CoreInlet {
    fn try_take(&self, into: &mut VecDeque<Message>) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        // Never wait for the session: what it reads it queues.
        let locked = core.try_lock();
        if let Ok(mut core) = locked {
            core.take(into, &self.counters);
        }
    }
}

struct Session<'a, W> {
    /// The inlet's way to the codec (the session's future holds the `Arc`).
    core: Weak<Mutex<Core>>,
    wire: W,
    link: Link<'a>,
    /// The codec's next deadline; none while it has none (no heartbeats once the handshake
    /// is done), so that such a connection holds no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    outbound_done: bool,
    /// Set when the session must end once the output is flushed.
    ended: Option<Outcome>,
    /// The ZAP handler's answer, awaited while the codec waits for it.
    zap: Option<zap::Pending>,
    /// A ZAP handler was asked (and said 200): the peer gets a `User-Id`.
    authenticated: bool,
    /// Set at handshake, with the peer's routing id, for monitor events.
    routing_id: Option<Option<Bytes>>,
    /// What the socket receives from this peer if the connection ends after its handshake
    /// (`router_notify`'s disconnect, `disconnect_msg`, `hiccup_msg`).
    farewell: Vec<Message>,
    /// The outbound pipe has this wire's bypass ([`Wire::bypass`]).
    bypassed: bool,
    /// The bypass was armed in this poll.
    armed: bool,
    /// Messages were popped from the outbound pipe in this poll: the sending task is busy,
    /// and the bypass is armed only at a later look that finds nothing new.
    popped: bool,
    /// The last look at the outbound pipe found it empty.
    outbound_idle: bool,
    /// The inbound pipe has this connection's inlet.
    inlet: bool,
    /// This poll was put off for the reader ([`Self::defer_to_reader`]).
    deferred: bool,
}

impl<W: Wire> Session<'_, W> {
    /// A waiting reader was told that the stream has bytes and has not looked yet: the
    /// session looks again after the runtime has run its other tasks, without taking the
    /// core's lock, so the reader reads them itself without meeting the session (on a
    /// multi-thread runtime the session may run on the other worker at once). Once per
    /// raising: a reader that does not come (its receive was given up) leaves it to the
    /// session's next poll.
    fn defer_to_reader(&mut self, cx: &mut Context<'_>) -> bool {
        let deferred = std::mem::take(&mut self.deferred);
        let Some(pipes) = self.link.pipes.as_ref().filter(|_| self.inlet) else {
            return false;
        };
        if !pipes.inbound.inlet_raised() {
            return false;
        }
        if deferred {
            // The reader did not come: lowered, so the next poll does not wait for it again
            // (the session's own read would lower it, but this poll may not read).
            pipes.inbound.reading();
            return false;
        }
        self.deferred = true;
        look_again_later(cx);
        true
    }

    fn poll(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Poll<Outcome> {
        // A message sent through the bypass since the last poll disarmed it (and woke this
        // task only if it left bytes to write): `arm` re-arms it once the outbound side is
        // quiet.
        self.armed = false;
        self.popped = false;
        if let Some((readable, _)) = &c.readable {
            readable.session.register(cx.waker());
        }
        let r = self.poll_turns(c, cx);
        if let Poll::Ready(outcome) = &r {
            self.unplug(c);
            let routing_id = self.routing_id.as_ref().map(Option::as_ref);
            self.link.report_end(outcome, routing_id);
        }
        r
    }

    fn poll_turns(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut settled = false;
        for _ in 0..BUDGET {
            if let Some(outcome) = self.ended.take() {
                return self.poll_finish(c, cx, outcome);
            }
            match self.turn(c, cx, settled) {
                Ok(true) => settled = self.settled(c),
                Ok(false) => {
                    if self.popped && self.quiet(c) {
                        // Look again once the runtime has run its other tasks (the sender
                        // among them): arm the bypass if the sender has paused.
                        look_again_later(cx);
                    }
                    return Poll::Pending;
                }
                Err(outcome) => {
                    // What is sent from now on waits in the pipe (for the next connection).
                    self.unplug(c);
                    note_size_failure(&outcome);
                    if !matches!(outcome, Outcome::SocketClosed) {
                        self.say_farewell(c);
                    }
                    self.ended = Some(outcome);
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One pass over every source; `Ok(true)` if anything moved. After a turn that left
    /// the session [`settled`](Self::settled), every source but the read side has its
    /// waker set: the turn reads first and ends there if nothing has arrived.
    fn turn(&mut self, c: &mut Core, cx: &mut Context<'_>, settled: bool) -> Result<bool, Outcome> {
        if settled && !self.poll_read(c, cx)? {
            return Ok(false);
        }
        let mut progress = self.poll_timer(c, cx)?;
        // A settled turn that got here read something.
        progress |= settled;
        progress |= self.poll_zap(c, cx)?;
        // Armed before a message is delivered, so that the reply it prompts (perhaps from
        // another thread, at once) finds the bypass armed.
        self.arm(c);
        // Read, then decode what was read in the same turn: a message arriving on a quiet
        // connection reaches the pipe in one turn, not two.
        if !settled {
            progress |= self.poll_read(c, cx)?;
        }
        progress |= self.poll_inbound(c, cx)?;
        progress |= self.poll_outbound(c, cx)?;
        progress |= self.poll_write(c, cx)?;
        self.arm(c);
        if c.eof && c.inbox.is_empty() && c.decoded_all {
            return Err(Outcome::PeerClosed);
        }
        if self.outbound_done && !self.wire.has_pending() && !c.conn.has_transmit() {
            return Err(Outcome::SocketClosed);
        }
        Ok(progress)
    }

    /// Everything but the read side waits on its waker: what was read is decoded and
    /// delivered, the outbound pipe was found empty in the last turn (its waker set),
    /// everything taken from it is written, no ZAP reply is awaited, and the timer waits
    /// for the codec's deadline as it is now (a read can move it: heartbeats' TTL). The
    /// next turn then only has to read: in a request-reply exchange, the turn after the one
    /// that delivered the request, which the socket's task waits behind.
    fn settled(&self, c: &Core) -> bool {
        c.inbox.is_empty()
            && c.decoded_all
            && !c.eof
            && self.drained(c)
            && self.zap.is_none()
            && match (c.conn.poll_timeout(), &self.sleep) {
                (None, _) => true,
                (Some(deadline), Some(sleep)) => sleep.deadline() == Instant::from_std(deadline),
                (Some(_), None) => false,
            }
    }

    fn poll_timer(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let Some(deadline) = c.conn.poll_timeout() else {
            self.sleep = None;
            return Ok(false);
        };
        let deadline = Instant::from_std(deadline);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Ok(false);
        }
        c.conn
            .handle_timeout(convert::now())
            .map_err(Outcome::Protocol)?;
        Ok(true)
    }

    /// Hands the ZAP handler's verdict to the codec once it arrives.
    fn poll_zap(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let Some(pending) = self.zap.as_mut() else {
            return Ok(false);
        };
        let Poll::Ready(verdict) = pending.poll_reply(cx) else {
            return Ok(false);
        };
        self.zap = None;
        match verdict {
            Ok(reply) => {
                tracing::debug!(
                    status = reply.status_code,
                    text = %reply.status_text,
                    "ZAP reply"
                );
                self.authenticated = true;
                self.auth_reply(c, reply)?;
                Ok(true)
            }
            Err(e) => {
                // libzmq closes without an ERROR command on a broken ZAP exchange.
                tracing::warn!(error = %e, "ZAP failed");
                Err(Outcome::Protocol(zmtp_codec::Error::AuthenticationFailed {
                    status_code: 500,
                    status_text: e.to_string(),
                }))
            }
        }
    }

    fn auth_reply(&mut self, c: &mut Core, reply: AuthReply) -> Result<(), Outcome> {
        let _ = c.conn.handle_auth_reply(convert::now(), reply);
        match c.conn.error() {
            Some(e) => Err(Outcome::Protocol(e.clone())),
            None => Ok(()),
        }
    }

    /// Decodes events and moves messages into the inbound pipe while it has room.
    fn poll_inbound(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let mut progress = self.flush_inbox(c, cx)?;
        // Reading waits until everything read is decoded (`poll_read`, earlier in the turn):
        // finding that now is progress, so that the next turn reads.
        let held_back = !c.decoded_all;
        c.decoded_all = false;
        while c.inbox.len() < BATCH {
            // Messages the fast way, then the next event (or the news that the read
            // buffer is drained).
            let before = c.inbox.len();
            let decoded = c.decode();
            progress |= c.inbox.len() > before;
            if let Err(e) = decoded {
                self.flush_inbox(c, cx)?;
                return Err(Outcome::Protocol(e));
            }
            if c.inbox.len() >= BATCH {
                break;
            }
            match c.conn.poll_event() {
                Ok(None) => {
                    c.decoded_all = true;
                    break;
                }
                Ok(Some(event)) => {
                    progress = true;
                    self.handle_event(c, cx, event)?;
                }
                Err(e) => {
                    // Deliver what was decoded before the failure.
                    self.flush_inbox(c, cx)?;
                    return Err(Outcome::Protocol(e));
                }
            }
        }
        progress |= self.flush_inbox(c, cx)?;
        Ok(progress || (held_back && c.decoded_all))
    }

    fn handle_event(
        &mut self,
        c: &mut Core,
        cx: &Context<'_>,
        event: Event,
    ) -> Result<(), Outcome> {
        match event {
            Event::HandshakeSucceeded(info) => {
                let properties =
                    convert::message_properties(&self.link.zap_address, &info, self.authenticated);
                c.properties = Some(Arc::new(properties));
                let info =
                    convert::peer_info(self.link.handle.socket_type(), *info, self.authenticated);
                let routing_id = info.routing_id.clone().filter(|id| !id.is_empty());
                self.link
                    .raise(EventKind::HandshakeSucceeded, routing_id.as_ref());
                self.routing_id = Some(routing_id);
                self.link.connected(info)?;
                self.greet(c);
                self.plug(c, cx);
            }
            Event::Message(msg) => {
                c.inbox.push_back(msg);
                c.stamp(c.inbox.len() - 1);
            }
            Event::Subscribe(topic) => c
                .inbox
                .push_back(Subscription::Subscribe(topic).to_message()),
            Event::Cancel(topic) => c.inbox.push_back(Subscription::Cancel(topic).to_message()),
            Event::Membership(m) => c.inbox.push_back(m.to_message()),
            Event::AuthRequest(request) => {
                let options = self.link.handle.options();
                let cx = zap::Context {
                    options: &options,
                    address: &self.link.zap_address,
                };
                match zap::start(request, cx) {
                    zap::Start::Now(reply) => self.auth_reply(c, reply)?,
                    zap::Start::Ask(pending) => self.zap = Some(pending),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// What a new connection starts with once its handshake is done: `hello_msg` to the
    /// peer (DEALER, ROUTER), `router_notify`'s connect message to the socket; and what the
    /// socket will get if it ends ([`Self::say_farewell`]).
    fn greet(&mut self, c: &mut Core) {
        let options = self.link.handle.options();
        let socket_type = self.link.handle.socket_type();
        let router = socket_type == SocketType::Router;
        if let Some(hello) = options
            .hello_msg
            .filter(|_| router || socket_type == SocketType::Dealer)
        {
            if let Err(e) = c.conn.send(&Message::from(hello)) {
                tracing::debug!(error = %e, "hello_msg not sent");
            }
        }
        let notify = |flag| router && options.router_notify.contains(flag);
        if notify(RouterNotify::CONNECT) {
            c.inbox.push_back(Message::from(Bytes::new()));
        }
        self.farewell.clear();
        if notify(RouterNotify::DISCONNECT) {
            self.farewell.push(Message::from(Bytes::new()));
        }
        let accepted = self.link.accepted;
        if let Some(msg) = options.disconnect_msg.filter(|_| router && accepted) {
            self.farewell.push(Message::from(msg));
        }
        let dealer = socket_type == SocketType::Dealer;
        if let Some(msg) = options.hiccup_msg.filter(|_| dealer && !accepted) {
            self.farewell.push(Message::from(msg));
        }
    }

    /// The connection ended after its handshake: the socket gets the farewell messages,
    /// whatever its `rcvhwm` (as libzmq writes them past it). What was decoded but had no
    /// room in the pipe is lost, as without them, and does not follow them.
    fn say_farewell(&mut self, c: &mut Core) {
        if self.farewell.is_empty() {
            return;
        }
        let Some(pipes) = self.link.pipes.as_ref() else {
            return;
        };
        c.inbox.clear();
        for msg in self.farewell.drain(..) {
            if pipes.inbound.push_force(msg).is_err() {
                break;
            }
        }
    }

    fn flush_inbox(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        if c.inbox.is_empty() {
            return Ok(false);
        }
        let Some(pipes) = self.link.pipes.as_ref() else {
            return Err(Outcome::SocketClosed);
        };
        match pipes.inbound.poll_ready(cx) {
            Poll::Pending => Ok(false),
            Poll::Ready(Err(_)) if self.outbound_done => Err(Outcome::SocketClosed),
            Poll::Ready(Err(_)) => {
                // The socket stopped reading but may still be lingering on its sends:
                // what arrives now has nowhere to go.
                c.inbox.clear();
                Ok(true)
            }
            Poll::Ready(Ok(())) => {
                // Subscriptions (on PUB/XPUB) count against the HWM like messages: never
                // dropped, but held back here, and the peer's further bytes in the kernel,
                // while the socket has not read them (as libzmq's session).
                let n = pipes
                    .inbound
                    .push_batch(&mut c.inbox)
                    .map_err(|_| Outcome::SocketClosed)?;
                self.link.handle.shared.counters.received(n);
                Ok(true)
            }
        }
    }

    fn poll_read(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        if c.eof || !c.inbox.is_empty() || !c.decoded_all {
            // Whole messages are still waiting (for the pipe, or to be decoded): leave
            // further bytes in the kernel, so a fast peer meets back-pressure, not an
            // ever-growing buffer.
            return Ok(false);
        }
        if let Some(failure) = c.failure.take() {
            return Err(Outcome::Io(failure));
        }
        if self.inlet {
            if let Some(pipes) = self.link.pipes.as_ref() {
                pipes.inbound.reading();
            }
        }
        match self.wire.poll_fill(cx, c) {
            Poll::Pending => Ok(false),
            Poll::Ready(Ok(None)) => {
                c.eof = true;
                Ok(true)
            }
            Poll::Ready(Ok(Some(n))) => {
                self.link.handle.shared.counters.read(n);
                Ok(true)
            }
            Poll::Ready(Err(outcome)) => Err(outcome),
        }
    }

    fn poll_outbound(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        self.outbound_idle = false;
        // Not before the socket's side of the handshake ran (`greet`): `hello_msg` goes first.
        if !c.conn.is_active()
            || !*self.link.handshaken
            || self.outbound_done
            || self.wire.backlog() >= WRITE_BACKLOG
        {
            return Ok(false);
        }
        let Some(pipes) = self.link.pipes.as_mut() else {
            return Ok(false);
        };
        // The pipe's reader takes its queue in one batch and pops the rest without locking.
        let mut popped = BATCH;
        let mut result = Ok(true);
        for n in 0..BATCH {
            match pipes.outbound.poll_pop(cx) {
                Poll::Pending => {
                    (popped, result) = (n, Ok(n > 0));
                    self.outbound_idle = true;
                    break;
                }
                Poll::Ready(None) => {
                    self.outbound_done = true;
                    popped = n;
                    break;
                }
                Poll::Ready(Some(msg)) => match c.conn.send(&msg) {
                    Ok(()) => {}
                    // An empty message is the caller's mistake; it is not sent.
                    Err(e) if e.is_caller_error() => {}
                    Err(e) => {
                        (popped, result) = (n, Err(Outcome::Protocol(e)));
                        break;
                    }
                },
            }
        }
        self.link.handle.shared.counters.sent(popped);
        if popped > 0 {
            // Taking messages disarms the bypass: taking the spill did, and a message in the
            // ring while it was armed raced with the arming, whose push disarmed it.
            self.armed = false;
            self.popped = true;
        }
        result
    }

    /// Once the handshake is done, gives the outbound pipe the wire's bypass (NULL, PLAIN),
    /// and the inbound pipe the inlet (tcp, ipc, on a current-thread runtime).
    fn plug(&mut self, c: &mut Core, cx: &Context<'_>) {
        let Some(pipes) = self.link.pipes.as_ref() else {
            return;
        };
        if c.reader.is_some() && on_one_thread() {
            let readable = Arc::new(Readable {
                alarm: pipes.inbound.alarm(),
                session: AtomicWaker::new(),
            });
            // Before anything reads with it (later in this poll).
            readable.session.register(cx.waker());
            let waker = Waker::from(readable.clone());
            c.readable = Some((readable, waker));
            pipes.inbound.set_inlet(Some(Arc::new(CoreInlet {
                core: self.core.clone(),
                counters: self.link.handle.shared.counters.clone(),
            })));
            self.inlet = true;
        }
        let Some(encoder) = c.conn.encoder() else {
            return;
        };
        if let Some(bypass) = self.wire.bypass(encoder) {
            pipes.outbound.set_bypass(Some(bypass));
            self.bypassed = true;
        }
    }

    /// Takes the bypass and the inlet back: the connection is ending.
    fn unplug(&mut self, c: &mut Core) {
        let bypassed = std::mem::take(&mut self.bypassed);
        let inlet = std::mem::take(&mut self.inlet);
        let Some(pipes) = self.link.pipes.as_ref() else {
            return;
        };
        if bypassed {
            pipes.outbound.set_bypass(None);
        }
        if inlet {
            pipes.inbound.set_inlet(None);
            // Reads from now on wake the session alone.
            c.readable = None;
        }
    }

    /// Arms the bypass when the outbound side is quiet and nothing was popped in this poll:
    /// the sending task may then write its next message itself. A sender that keeps the
    /// pipe busy (a burst, a throughput run) gets a look again after each batch instead, so
    /// its messages keep going out in batched writes rather than one write each.
    fn arm(&mut self, c: &mut Core) {
        if self.armed || self.popped || !self.quiet(c) {
            return;
        }
        if let Some(pipes) = self.link.pipes.as_ref() {
            pipes.outbound.arm_bypass();
            self.armed = true;
        }
    }

    /// The bypass is plugged in and the outbound side is [`drained`](Self::drained).
    fn quiet(&self, c: &Core) -> bool {
        self.bypassed && self.drained(c)
    }

    /// Everything popped from the outbound pipe is written, and the pipe was found empty.
    fn drained(&self, c: &Core) -> bool {
        self.outbound_idle && !c.conn.has_transmit() && !self.wire.has_pending()
    }

    /// Writes as much of the codec's output as the transport takes.
    fn poll_write(&mut self, c: &mut Core, cx: &mut Context<'_>) -> Result<bool, Outcome> {
        let (progress, written) = self.wire.poll_drain(cx, &mut c.conn)?;
        if written > 0 {
            self.link.handle.shared.counters.written(written);
        }
        Ok(progress)
    }

    /// Flushes what can be flushed (an ERROR command, the last messages) and ends.
    fn poll_finish(
        &mut self,
        c: &mut Core,
        cx: &mut Context<'_>,
        outcome: Outcome,
    ) -> Poll<Outcome> {
        if matches!(outcome, Outcome::Io(_)) {
            return Poll::Ready(outcome);
        }
        match self.poll_write(c, cx) {
            Err(e) => return Poll::Ready(e),
            Ok(_) if self.wire.has_pending() || c.conn.has_transmit() => {
                self.ended = Some(outcome);
                return Poll::Pending;
            }
            Ok(_) => {}
        }
        match self.wire.poll_close(cx) {
            Poll::Pending => {
                self.ended = Some(outcome);
                Poll::Pending
            }
            Poll::Ready(_) => Poll::Ready(outcome),
        }
    }
}

/// What a session reads from and writes to: the codec's input and output over one transport.
pub(crate) trait Wire: Unpin {
    /// Reads what the transport has into the codec: `Some(bytes read)`, or `None` at the
    /// end of the stream.
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        core: &mut Core,
    ) -> Poll<Result<Option<usize>, Outcome>>;

    /// The stream's reading half, for the session's [`Core`] (tcp, ipc); a transport that
    /// reads through its wire has none.
    fn reader(&mut self) -> Option<StreamReader> {
        None
    }

    /// Takes the codec's output and writes what the transport takes: whether anything
    /// moved, and how many bytes went out.
    fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
    ) -> Result<(bool, usize), Outcome>;

    /// Bytes taken from the codec and not yet written.
    fn backlog(&self) -> usize;

    /// Output taken from the codec is still waiting to be written (or flushed).
    fn has_pending(&self) -> bool;

    /// Ends the transport's sending side (a tcp FIN, a WebSocket close).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// A way for the socket's sending task to write messages encoded by `encoder` itself
    /// while the connection is idle (see [`crate::pipe`]), if this transport has one.
    fn bypass(&mut self, encoder: Encoder) -> Option<Arc<dyn Bypass>> {
        let _ = encoder;
        None
    }
}

/// ws: ZWS 2.0 over a WebSocket, one binary message per frame (RFC 45); the codec's ZWS
/// mode makes and reads the messages, tungstenite frames them.
pub(crate) struct WsWire<S> {
    ws: WsStream<S>,
    /// A message taken from the codec that the WebSocket had no room for yet.
    pending: Option<WsMessage>,
    /// Sent (or a PONG queued by tungstenite) and not flushed yet.
    unflushed: bool,
}

impl<S> WsWire<S> {
    pub(crate) fn new(ws: WsStream<S>) -> Self {
        WsWire {
            ws,
            pending: None,
            unflushed: false,
        }
    }
}

/// A WebSocket failure as the session's outcome: a closed connection is the peer's close.
fn ws_outcome(e: WsError) -> Option<Outcome> {
    use WsError as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => None,
        E::Io(e) => Some(Outcome::Io(e)),
        other => Some(Outcome::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            other.to_string(),
        ))),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire for WsWire<S> {
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        core: &mut Core,
    ) -> Poll<Result<Option<usize>, Outcome>> {
        let conn = &mut core.conn;
        let msg = match futures::ready!(Pin::new(&mut self.ws).poll_next(cx)) {
            None => return Poll::Ready(Ok(None)),
            Some(Err(e)) => {
                return Poll::Ready(match ws_outcome(e) {
                    None => Ok(None),
                    Some(outcome) => Err(outcome),
                })
            }
            Some(Ok(msg)) => msg,
        };
        let now = convert::now();
        Poll::Ready(match msg {
            WsMessage::Binary(payload) => conn
                .handle_zws_message(now, &payload)
                .map(|()| Some(payload.len()))
                .map_err(Outcome::Protocol),
            WsMessage::Ping(data) | WsMessage::Pong(data) => {
                conn.handle_zws_control(now);
                // tungstenite queued the PONG to a PING: flushed with our next output.
                self.unflushed = true;
                Ok(Some(data.len()))
            }
            WsMessage::Close(_) => Ok(None),
            WsMessage::Text(_) | WsMessage::Frame(_) => {
                Err(Outcome::Protocol(zmtp_codec::Error::ZwsNotBinary))
            }
        })
    }

    fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection,
    ) -> Result<(bool, usize), Outcome> {
        let mut total = 0;
        let mut progress = false;
        let fail = |e| ws_outcome(e).unwrap_or(Outcome::PeerClosed);
        loop {
            if self.pending.is_none() {
                self.pending = match conn.poll_zws_transmit() {
                    Some(zws::Output::Message(payload)) => Some(WsMessage::Binary(payload)),
                    Some(zws::Output::Ping) => Some(WsMessage::Ping(Bytes::new())),
                    None => break,
                };
            }
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(e)) => return Err(fail(e)),
                Poll::Ready(Ok(())) => {}
            }
            let Some(msg) = self.pending.take() else {
                break;
            };
            total += msg.len();
            progress = true;
            Pin::new(&mut self.ws).start_send(msg).map_err(fail)?;
            self.unflushed = true;
        }
        if self.unflushed {
            match Pin::new(&mut self.ws).poll_flush(cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => {
                    self.unflushed = false;
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(fail(e)),
            }
        }
        Ok((progress, total))
    }

    fn backlog(&self) -> usize {
        // tungstenite buffers what it takes (its `write_buffer_size`) and refuses more
        // until it is written: a refused message holds everything else back.
        if self.pending.is_some() {
            WRITE_BACKLOG
        } else {
            0
        }
    }

    fn has_pending(&self) -> bool {
        self.pending.is_some() || self.unflushed
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws)
            .poll_close(cx)
            .map(|r| match r.map_err(ws_outcome) {
                Err(Some(Outcome::Io(e))) => Err(e),
                _ => Ok(()),
            })
    }
}

/// One vectored write of the front of `chunks` (at most [`MAX_IOV`] of them), dropping what
/// was written; returns how many bytes that was. `chunks` must not be empty.
pub(super) fn write_chunks<S: AsyncWrite + Unpin>(
    stream: &mut S,
    chunks: &mut VecDeque<Bytes>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let n = gather(chunks.iter().map(|c| &c[..]), &mut slices);
    let written = match futures::ready!(Pin::new(stream).poll_write_vectored(cx, &slices[..n])) {
        Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        Ok(n) => n,
        Err(e) => return Poll::Ready(Err(e)),
    };
    consume(chunks, written);
    Poll::Ready(Ok(written))
}

/// Wakes the task after the runtime has polled the other tasks ready now and its I/O
/// driver (Tokio's `yield_now`, polled once: it defers the wake-up).
fn look_again_later(cx: &mut Context<'_>) {
    let yielded = std::pin::pin!(tokio::task::yield_now());
    let _ = yielded.poll(cx);
}

/// The session runs on a current-thread runtime: there its inlet shortens a message's way
/// to the receiving task. Not on a multi-thread runtime: every readiness then wakes two
/// tasks (the reader and the session), and the second makes Tokio wake its other worker,
/// which takes one of them; REQ/REP latency doubled there (`cargo bench -p zmq-benches
/// --features peers --bench latency`, one multi-thread runtime: 17.4-19.6 µs a round trip
/// over tcp against 7.7-9.4 µs without the inlet, 14.5-15.8 against 6.7-8.0 over ipc).
fn on_one_thread() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Says why a connection closes when a peer's sizes were refused: a frame that cannot be
/// allocated, or a message past `maxmsgsize`.
fn note_size_failure(outcome: &Outcome) {
    match outcome {
        Outcome::Protocol(zmtp_codec::Error::FrameTooLargeToAllocate { size }) => {
            tracing::warn!(
                size,
                "closing: the peer announced a frame that cannot be allocated"
            );
        }
        Outcome::Protocol(zmtp_codec::Error::MessageTooLarge { size, max }) => {
            tracing::info!(size, max, "closing: the peer's message exceeds maxmsgsize");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::byte_wire::ByteWire;
    use super::*;

    /// A connection's future is its session and its core's `Arc`, nothing beside them (as
    /// an `async fn`, it held its arguments again next to the session): every stalled
    /// handshake pays for this size.
    #[tokio::test]
    async fn a_connection_future_holds_its_session_once() {
        let socket = crate::RouterSocket::new();
        let handle = socket.handle();
        let conn = convert::connection(handle.socket_type(), &handle.options())
            .unwrap_or_else(|e| panic!("connection: {e}"));
        let (stream, _peer) =
            tokio::net::UnixStream::pair().unwrap_or_else(|e| panic!("pair: {e}"));
        let mut pipes = None;
        let mut handshaken = false;
        let link = Link {
            handle: &handle,
            pipes: &mut pipes,
            alias: None,
            zap_address: String::new(),
            endpoint: "",
            peer_address: String::new(),
            accepted: true,
            handshaken: &mut handshaken,
        };
        let wire = ByteWire::new(stream.into(), handle.shared.counters.clone());
        let future = run(wire, conn, link);
        assert_eq!(
            std::mem::size_of_val(&future),
            std::mem::size_of::<Session<'_, ByteWire>>() + std::mem::size_of::<Arc<Mutex<Core>>>()
        );
    }
}
