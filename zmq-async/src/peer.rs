//! A socket's peers as it sees them (their pipe ends), its mailbox (libzmq's `mailbox`
//! and `command_t`), and the attach API transports use.
//!
//! A socket's state is owned by the socket object and has no lock. Everything
//! that happens elsewhere — a transport attaching a new peer, a handshake
//! completing, a connection dropping — arrives as a [`Mail`] in the
//! socket's mailbox, which the socket drains at every poll.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use zmtp_codec::{Message, Metadata, Subscription};

use crate::pipe::{pipe_with, Notify, PipeConfig, PipeReader, PipeWriter};
use crate::slab::{GenSlab, Key};
use crate::{Error, Result, SocketOptions};

pub use zmtp_codec::SocketType;

/// What a socket learns about a peer at handshake (the READY metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's `Identity` property; `None` or empty means "none given".
    pub routing_id: Option<Bytes>,
    /// Every other property of the handshake, in order (but for a `User-Id` or
    /// `Peer-Address` the peer claims itself), then what the ZAP handler added (its
    /// metadata, and `User-Id`).
    pub metadata: Metadata,
    /// A multicast session standing for every subscriber at once: a PUB/XPUB sends it
    /// everything without a subscription (libzmq's `subscribe_to_all`), and XPUB's user
    /// hears of no subscription from it.
    pub(crate) subscribe_all: bool,
}

impl PeerInfo {
    /// Info with only a socket type.
    pub fn new(socket_type: SocketType) -> Self {
        PeerInfo {
            socket_type,
            routing_id: None,
            metadata: Metadata::new(),
            subscribe_all: false,
        }
    }
}

/// Identifies one attached peer of one socket, for the socket's whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(u64);

/// One attached peer, as the socket sees it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    /// Messages from the peer.
    pub(crate) inbound: PipeReader,
    /// Messages to the peer.
    pub(crate) outbound: PipeWriter,
    /// Set at handshake.
    pub(crate) info: Option<PeerInfo>,
    /// `connect_routing_id` chosen locally for this peer.
    pub(crate) alias: Option<Bytes>,
    /// Between a handshake and a disconnect.
    pub(crate) connected: bool,
}

impl Peer {
    /// The peer is gone and everything it sent has been read, or will never be: a socket
    /// type that does not read this peer (PUSH; REQ but for the reply it waits for; a
    /// ROUTER peer ignored for its duplicate routing id) forgets it, and what it sent, as
    /// soon as it is gone, so peers that send and leave cannot pile up.
    pub(crate) fn is_finished(&self, reads: bool) -> bool {
        self.outbound.is_closed()
            && if reads {
                self.inbound.is_finished()
            } else {
                self.inbound.is_writer_closed()
            }
    }
}

/// A socket's attached peers, by slab key, and the ones a part saw close (checked by
/// [`SocketBase::reap`](crate::socket_base::SocketBase::reap)).
#[derive(Debug, Default)]
pub(crate) struct Peers {
    slab: GenSlab<Peer>,
    dead: Vec<Key>,
    /// Messages dropped at a peer's HWM (read by `Socket::stats`).
    hwm_drops: u64,
    /// Pushes into pipes beyond one a message, since the socket last took the count: the
    /// work of a message sent to many peers, for Tokio's budget (`crate::coop`).
    fanned_out: u32,
}

impl std::ops::Deref for Peers {
    type Target = GenSlab<Peer>;

    fn deref(&self) -> &GenSlab<Peer> {
        &self.slab
    }
}

impl std::ops::DerefMut for Peers {
    fn deref_mut(&mut self) -> &mut GenSlab<Peer> {
        &mut self.slab
    }
}

impl Peers {
    /// Records that a part saw one of `key`'s pipes close.
    pub(crate) fn note_dead(&mut self, key: Key) {
        self.dead.push(key);
    }

    /// The next peer noted dead, if any.
    pub(crate) fn next_dead(&mut self) -> Option<Key> {
        self.dead.pop()
    }

    /// Records a message dropped because its peer was at its HWM.
    #[cold]
    pub(crate) fn note_hwm_drop(&mut self) {
        self.hwm_drops += 1;
    }

    /// Messages dropped at a peer's HWM so far.
    pub(crate) fn hwm_drops(&self) -> u64 {
        self.hwm_drops
    }

    /// Records a message pushed into `pipes` pipes.
    #[inline(always)]
    pub(crate) fn note_fan_out(&mut self, pipes: usize) {
        let extra = u32::try_from(pipes.saturating_sub(1)).unwrap_or(u32::MAX);
        self.fanned_out = self.fanned_out.saturating_add(extra);
    }

    /// The pushes beyond one a message since the last call ([`Self::note_fan_out`]).
    #[inline(always)]
    pub(crate) fn take_fanned_out(&mut self) -> u32 {
        std::mem::take(&mut self.fanned_out)
    }

    /// Whether some peer was noted dead since the last reap.
    #[inline]
    pub(crate) fn any_dead(&self) -> bool {
        !self.dead.is_empty()
    }
}

/// A mailbox entry (libzmq's `command_t` between a socket and its sessions).
#[derive(Debug)]
pub(crate) enum Mail {
    /// New pipes for a peer; `info` is `None` until the handshake.
    Attach {
        id: PeerId,
        inbound: PipeReader,
        outbound: PipeWriter,
        info: Option<PeerInfo>,
        alias: Option<Bytes>,
    },
    /// The peer's handshake completed (again, after a reconnect).
    Connected { id: PeerId, info: PeerInfo },
    /// The connection was lost; the pipes are kept for a reconnect.
    Disconnected { id: PeerId },
    /// The peer is gone for good; the transport dropped its pipe ends.
    Detach { id: PeerId },
}

#[derive(Debug, Default)]
struct Mailbox {
    commands: Vec<Mail>,
    closed: bool,
}

/// State shared between a socket and everything that talks to it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) socket_type: SocketType,
    mailbox: Mutex<Mailbox>,
    has_mail: AtomicBool,
    /// Attach commands in the mailbox: peers waiting for the socket to take them in.
    waiting: AtomicUsize,
    /// Woken when the socket takes attach commands out of its mailbox.
    taken: tokio::sync::Notify,
    /// Woken when an inbound pipe becomes readable or ends, or mail arrives.
    pub(crate) readable: Arc<Notify>,
    /// Woken when an outbound pipe gets room or closes, or mail arrives.
    pub(crate) writable: Arc<Notify>,
    next_peer: AtomicU64,
    options: Mutex<SocketOptions>,
    /// Every tcp/ipc task of this socket (listeners, connectors, connections), so that
    /// `Socket::shutdown` can wait for queued messages to be written.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// The socket's monitors (`Socket::monitor`).
    pub(crate) monitors: crate::monitor::Monitors,
    /// Traffic and connection counters (`Socket::stats`).
    pub(crate) counters: Arc<crate::stats::Counters>,
    /// The socket's `tracing` span, parent of its transports' spans.
    pub(crate) span: crate::stats::SocketSpan,
}

impl Shared {
    pub(crate) fn new(socket_type: SocketType, options: SocketOptions) -> Arc<Self> {
        Arc::new(Shared {
            socket_type,
            mailbox: Mutex::new(Mailbox::default()),
            has_mail: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            taken: tokio::sync::Notify::new(),
            readable: Arc::new(Notify::new()),
            writable: Arc::new(Notify::new()),
            next_peer: AtomicU64::new(1),
            options: Mutex::new(options),
            tasks: tokio_util::task::TaskTracker::new(),
            monitors: Default::default(),
            counters: Default::default(),
            span: crate::stats::SocketSpan::new(socket_type),
        })
    }

    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn options(&self) -> SocketOptions {
        self.options
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_options(&self, options: SocketOptions) {
        *self.options.lock().unwrap_or_else(|e| e.into_inner()) = options;
    }

    /// Posts a command; fails (dropping it, and so its pipes) once the socket is closed.
    fn post(&self, cmd: Mail) -> Result<()> {
        {
            let mut mb = self.mailbox();
            if mb.closed {
                return Err(Error::Closed);
            }
            match &cmd {
                Mail::Attach { .. } => {
                    self.waiting.fetch_add(1, Ordering::Relaxed);
                }
                Mail::Disconnected { id } => {
                    // A peer that reconnects and drops again while the socket is idle: the
                    // socket still has to hear of a disconnect, and of no connection made
                    // since. So the mailbox holds at most Attach, Connected, Disconnected,
                    // Connected, Detach per peer, however often it flaps.
                    let id = *id;
                    let seen = |c: &Mail| matches!(c, Mail::Disconnected { id: d } if *d == id);
                    if mb.commands.iter().any(seen) {
                        mb.commands
                            .retain(|c| !matches!(c, Mail::Connected { id: d, .. } if *d == id));
                        return Ok(());
                    }
                }
                _ => {}
            }
            mb.commands.push(cmd);
            self.has_mail.store(true, Ordering::Release);
        }
        self.readable.wake();
        self.writable.wake();
        Ok(())
    }

    /// Takes all pending commands. Called at every socket operation: a plain load first
    /// keeps the empty case (nearly always) free of atomic read-modify-writes.
    #[inline]
    pub(crate) fn take_mail(&self, out: &mut Vec<Mail>) {
        if self.has_mail.load(Ordering::Acquire) && self.has_mail.swap(false, Ordering::AcqRel) {
            let from = out.len();
            out.append(&mut self.mailbox().commands);
            self.taken_in(&out[from..]);
        }
    }

    /// True when commands may be waiting: a lock-free look, for the socket's second look
    /// after it registered on its `Notify`s (see `Socket::recheck_mail`).
    #[inline]
    pub(crate) fn has_mail(&self) -> bool {
        self.has_mail.load(Ordering::Acquire)
    }

    /// Counts the attach commands taken and wakes listeners waiting for room.
    fn taken_in(&self, commands: &[Mail]) {
        let attaches = commands
            .iter()
            .filter(|c| matches!(c, Mail::Attach { .. }))
            .count();
        if attaches > 0 {
            self.waiting.fetch_sub(attaches, Ordering::Relaxed);
            self.taken.notify_waiters();
        }
    }

    /// Returns once fewer than `limit` peers wait for the socket to take them in (`0`: at
    /// once), or the socket is closed: a listener calls this before each accept, so an
    /// idle socket's mailbox holds at most `limit` peers from it plus those still in
    /// their handshake.
    pub(crate) async fn room_for_peers(&self, limit: usize) {
        if limit == 0 {
            return;
        }
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if self.waiting.load(Ordering::Relaxed) < limit || self.is_closed() {
                return;
            }
            taken.await;
        }
    }

    /// Commands in the mailbox.
    #[cfg(test)]
    pub(crate) fn mail_len(&self) -> usize {
        self.mailbox().commands.len()
    }

    /// Peers waiting for the socket to take them in (attach commands in the mailbox).
    #[cfg(test)]
    pub(crate) fn waiting_peers(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Marks the socket closed; later posts fail. Returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Mail> {
        let mut mb = self.mailbox();
        mb.closed = true;
        let commands = std::mem::take(&mut mb.commands);
        drop(mb);
        self.monitors.stop();
        self.taken_in(&commands);
        self.taken.notify_waiters();
        commands
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.mailbox().closed
    }

    /// Installs this socket's notifiers on its ends of a peer's pipes and posts the attach.
    pub(crate) fn attach_ends(
        &self,
        inbound: PipeReader,
        outbound: PipeWriter,
        info: Option<PeerInfo>,
        alias: Option<Bytes>,
    ) -> Result<PeerId> {
        inbound.set_notify(self.readable.clone());
        outbound.set_notify(self.writable.clone());
        let id = PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed));
        self.post(Mail::Attach {
            id,
            inbound,
            outbound,
            info,
            alias,
        })?;
        Ok(id)
    }

    /// Creates a new peer's two pipes, the `inbound` one with HWM `rcvhwm` and the
    /// `outbound` one with `sndhwm` (holding `hello` first, if any: inproc's `hello_msg`),
    /// attaches the socket's ends and returns the peer's.
    pub(crate) fn attach_new(
        &self,
        rcvhwm: usize,
        sndhwm: usize,
        conflate: bool,
        info: Option<PeerInfo>,
        alias: Option<Bytes>,
        hello: Option<Message>,
    ) -> Result<(PeerId, FarEnds)> {
        let (to_socket, inbound) = pipe_with(PipeConfig {
            hwm: rcvhwm,
            conflate,
        });
        let (outbound, from_socket) = pipe_with(PipeConfig {
            hwm: sndhwm,
            conflate,
        });
        if let Some(hello) = hello {
            // A fresh pipe: its reader is right here.
            let _ = outbound.push_force(hello);
        }
        let id = self.attach_ends(inbound, outbound, info, alias)?;
        Ok((
            id,
            FarEnds {
                to_socket,
                from_socket,
            },
        ))
    }

    pub(crate) fn connected(&self, id: PeerId, info: PeerInfo) -> Result<()> {
        self.post(Mail::Connected { id, info })
    }
}

/// The peer's ends of the two pipes between a socket and one peer: what the transport (or,
/// for inproc, the other socket) writes to the socket and reads from it.
#[derive(Debug)]
pub(crate) struct FarEnds {
    /// Messages from the peer to the socket (the socket's `inbound` pipe).
    pub(crate) to_socket: PipeWriter,
    /// Messages from the socket to the peer (the socket's `outbound` pipe).
    pub(crate) from_socket: PipeReader,
}

/// A cheap, clonable handle on a socket for transports (tcp/ipc connection
/// tasks, the inproc registry). It never blocks on the socket: everything
/// goes through the socket's mailbox.
///
/// # Lifecycle of a peer
///
/// 1. **Create pipes** — [`SocketHandle::attach`]. A connecting side without
///    `immediate` does this at `connect()` time with `info = None`, before any
///    connection exists, so messages can queue for the peer (libzmq
///    behaviour). An accepting side (or `immediate`) does it after the
///    handshake, passing `Some(info)`.
/// 2. **Handshake** — [`PeerLink::handshake`] with the peer's [`PeerInfo`]
///    (skip if it was given to `attach`). ROUTER learns the routing id here;
///    SUB/XSUB send their subscriptions again after a reconnect (they queued
///    them when the pipes were attached); XPUB sends its welcome message.
/// 3. **Pump** — the task pushes decoded messages into
///    [`PeerPipes::inbound`] (when it is full, stop reading the transport) and
///    pops [`PeerPipes::outbound`] to encode and write.
/// 4. **Connection lost, will reconnect** — [`PeerPipes::disconnected`]; keep
///    the pipes, reconnect, and call [`PeerLink::handshake`] again. Messages
///    queued meanwhile are delivered after the reconnect (SUB and XSUB send
///    their whole subscription set instead of the subscriptions queued before
///    the disconnect).
/// 5. **Gone for good** — drop the [`PeerLink`] and both pipe ends. The socket
///    still delivers what the inbound pipe holds, then forgets the peer.
///
/// The socket ends the peer by closing its pipe ends: `outbound` ends
/// (`poll_pop` → `None`) and `inbound` refuses pushes (`PipeClosed`). The
/// task should then flush and close the connection.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    pub(crate) shared: Arc<Shared>,
}

/// The transport's ends of a new peer's pipes, and its link to the socket.
#[derive(Debug)]
pub struct PeerPipes {
    /// Push messages received from the peer here (HWM = the socket's `rcvhwm`).
    pub inbound: PipeWriter,
    /// Pop messages to send to the peer from here (HWM = the socket's `sndhwm`).
    pub outbound: PipeReader,
    /// Handshake/disconnect notifications; dropping it detaches the peer.
    pub link: PeerLink,
}

/// A transport's link to one attached peer. Dropping it detaches the peer.
#[derive(Debug)]
pub struct PeerLink {
    shared: Arc<Shared>,
    id: PeerId,
}

impl SocketHandle {
    /// The socket's type (what the handshake announces).
    pub fn socket_type(&self) -> SocketType {
        self.shared.socket_type
    }

    /// A snapshot of the socket's options (routing id, HWMs, heartbeats, …).
    pub fn options(&self) -> SocketOptions {
        self.shared.options()
    }

    /// Spawns one of this socket's transport tasks, tracked for [`Socket::shutdown`].
    ///
    /// [`Socket::shutdown`]: crate::Socket::shutdown
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.shared.tasks.spawn(task);
    }

    /// True once the socket was dropped; a transport should then stop.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Creates the pipes of a new peer and attaches them to the socket.
    ///
    /// `info` is the peer's handshake result if known already, else `None`
    /// (call [`PeerLink::handshake`] later). `connect_routing_id` is the
    /// ROUTER alias for the peer of a `connect` (`ZMQ_CONNECT_ROUTING_ID`).
    /// Fails with [`Error::Closed`] if the socket is gone.
    pub fn attach(
        &self,
        info: Option<PeerInfo>,
        connect_routing_id: Option<Bytes>,
    ) -> Result<PeerPipes> {
        let opts = self.shared.options();
        let (id, ends) = self.shared.attach_new(
            opts.rcvhwm,
            opts.sndhwm,
            opts.conflate,
            info,
            connect_routing_id,
            None, // a tcp/ipc session sends `hello_msg` itself, on every connection
        )?;
        Ok(PeerPipes {
            inbound: ends.to_socket,
            outbound: ends.from_socket,
            link: PeerLink {
                shared: self.shared.clone(),
                id,
            },
        })
    }
}

impl PeerPipes {
    /// The connection was lost; the pipes are kept for a reconnect, and messages queued
    /// meanwhile go on the next connection.
    ///
    /// But SUB and XSUB drop the subscriptions and cancels queued for the old connection,
    /// those the transport already took from `outbound` included, and send every
    /// subscription again once the socket sees the reconnect: as in libzmq, whose new
    /// connection starts on a fresh pipe. Dropped here, before the reconnect is posted,
    /// and not when the socket sees it (by then the new connection may have taken them):
    /// a subscribe taken for the old connection and cancelled since would otherwise reach
    /// the new one without its cancel, and the publisher would send that topic forever.
    /// XSUB's other messages stay queued, in order.
    pub fn disconnected(&mut self) {
        if matches!(
            self.link.shared.socket_type,
            SocketType::Sub | SocketType::XSub
        ) {
            self.outbound
                .retain(|m| m.first().and_then(Subscription::from_frame).is_none());
        }
        self.link.disconnected();
    }
}

impl PeerLink {
    /// The socket's id for this peer.
    pub fn id(&self) -> PeerId {
        self.id
    }

    /// The handshake (re)completed with `info`. Fails if the socket is gone.
    pub fn handshake(&self, info: PeerInfo) -> Result<()> {
        self.shared.connected(self.id, info)
    }

    /// The connection was lost; pipes are kept for a reconnect (see
    /// [`PeerPipes::disconnected`]).
    pub(crate) fn disconnected(&self) {
        let _ = self.shared.post(Mail::Disconnected { id: self.id });
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        let _ = self.shared.post(Mail::Detach { id: self.id });
    }
}
