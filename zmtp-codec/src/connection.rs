//! One ZMTP connection to one peer, as a sans-IO state machine.
//!
//! Method taxonomy (as quinn-proto's): getters; `handle_*` for inputs (bytes arrived, a timer
//! fired, the authenticator answered); [`send`](Connection::send) for messages;
//! `poll_*` for outputs (bytes to write, events for the socket, the next deadline).
//! Time is always an argument; the connection never reads a clock.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::encoder::{self, Encoder, FrameSink};
use crate::frame::{self, Framing, Part};
use crate::greeting::{self, Detected, PeerGreeting};
use crate::mechanism::{AuthReply, AuthRequest, Mechanism, MechanismConfig, Ours, Step};
use crate::metadata::{IDENTITY, SOCKET_TYPE};
use crate::subscription::Subscription;
use crate::{command, zws, Command, Error, Group, Membership, Message, Metadata, SocketType};

/// Frames at least this large are handed to the writer as their own [`Bytes`] chunk
/// instead of being copied into the batch buffer.
pub const ZERO_COPY_THRESHOLD: usize = 8 * 1024;

/// The largest frame accepted during the security handshake, whatever `maxmsgsize` says:
/// an unauthenticated peer must not make us buffer more than this. (libzmq has no such cap:
/// it applies `maxmsgsize`, unlimited by default, to handshake commands too. Real peers'
/// metadata, `ZMQ_METADATA`, has no length limit, so the cap is generous.)
pub const MAX_HANDSHAKE_FRAME: u64 = 16 * 1024 * 1024;

/// What one frame of a multipart message under assembly costs beyond its body: its
/// [`Frame`](crate::Frame) in the message's frame list. Counted against `maxmsgsize` for
/// every frame after the first, so an endless multipart message cannot grow memory past it.
pub const FRAME_OVERHEAD: u64 = std::mem::size_of::<crate::Frame>() as u64;

/// The smallest free space [`Connection::read_buf`] offers once the handshake is done.
pub const MIN_READ_SPACE: usize = 16 * 1024;
/// The most [`Connection::read_buf`] reserves ahead for one large frame; a frame declaring
/// more is first checked with a fallible allocation of its whole size.
pub const MAX_READ_RESERVE: usize = 4 * 1024 * 1024;
/// What [`Connection::read_buf`] offers during the handshake when no frame header says
/// more: enough for a greeting or a usual handshake command.
const HANDSHAKE_READ_SPACE: usize = 64;

/// How a [`Connection`] behaves. Built with [`Config::new`] and adjusted field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Our socket type.
    pub socket_type: SocketType,
    /// Our routing id, sent as the `Identity` property by REQ, DEALER and ROUTER (≤ 255 bytes).
    pub routing_id: Bytes,
    /// Security mechanism and role.
    pub mechanism: MechanismConfig,
    /// Extra properties for our READY/INITIATE (libzmq's `ZMQ_METADATA`).
    pub metadata: Metadata,
    /// Largest inbound message accepted once the handshake is done (`maxmsgsize`); `None` is
    /// unlimited. A one-frame message may be this large (as in libzmq); a multipart message
    /// may be this large in total, counting [`FRAME_OVERHEAD`] for every frame after the
    /// first. Handshake frames are capped at [`MAX_HANDSHAKE_FRAME`] instead.
    pub max_msg_size: Option<u64>,
    /// The handshake must complete within this time (`handshake_ivl`); `None` waits forever.
    pub handshake_ivl: Option<Duration>,
    /// Send a PING this often (`heartbeat_ivl`).
    pub heartbeat_ivl: Option<Duration>,
    /// TTL we advertise in our PINGs (`heartbeat_ttl`), rounded down to deciseconds.
    pub heartbeat_ttl: Option<Duration>,
    /// Close when nothing arrives this long after a PING (`heartbeat_timeout`); defaults to
    /// the interval.
    pub heartbeat_timeout: Option<Duration>,
    /// Ask the authenticator about NULL peers (libzmq: a NULL socket with `zap_domain` set).
    /// PLAIN and CURVE servers always ask.
    pub authenticate_null: bool,
    /// The minor version we announce: 1 (ZMTP 3.1, the default) or 0 (3.0).
    pub zmtp_minor: u8,
}

impl Config {
    /// A NULL-mechanism configuration with libzmq's defaults (handshake_ivl 30 s, no
    /// heartbeats, no size limit, empty routing id).
    pub fn new(socket_type: SocketType) -> Self {
        Config {
            socket_type,
            routing_id: Bytes::new(),
            mechanism: MechanismConfig::Null,
            metadata: Metadata::new(),
            max_msg_size: None,
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat_ivl: None,
            heartbeat_ttl: None,
            heartbeat_timeout: None,
            authenticate_null: false,
            zmtp_minor: 1,
        }
    }

    /// Sets the routing id.
    pub fn routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing_id = id.into();
        self
    }

    /// Sets the mechanism.
    pub fn mechanism(mut self, mechanism: MechanismConfig) -> Self {
        self.mechanism = mechanism;
        self
    }

    fn authenticates(&self) -> bool {
        self.mechanism.as_server()
            || (self.authenticate_null && self.mechanism == MechanismConfig::Null)
    }
}

/// What the handshake learnt about the peer: its version, socket type, routing id and
/// properties, and what the authenticator said of it. (The socket layer's view of a peer
/// is `zmq_async::PeerInfo`.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handshake {
    /// Protocol version spoken: (3, 1), (3, 0), (2, 0) or (1, 0).
    pub version: (u8, u8),
    /// The peer's socket type; unknown for unversioned ZMTP 1.0 peers.
    pub socket_type: Option<SocketType>,
    /// The peer's routing id (READY's `Identity`, or the 1.0/2.0 identity frame), if non-empty.
    pub routing_id: Option<Bytes>,
    /// Every property of the peer's READY (or INITIATE).
    pub metadata: Metadata,
    /// The user id the authenticator gave, if it was asked.
    pub user_id: Option<Bytes>,
    /// Metadata the authenticator gave.
    pub auth_metadata: Metadata,
}

/// What a connection reports to its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; messages may flow. (Boxed: it happens once, and keeps
    /// `Event`, which every message travels in, small.)
    HandshakeSucceeded(Box<Handshake>),
    /// A whole message arrived.
    Message(Message),
    /// The peer subscribed to a topic prefix (reported to PUB and XPUB only, whatever the
    /// peer's ZMTP version).
    Subscribe(Bytes),
    /// The peer cancelled a subscription (PUB and XPUB only).
    Cancel(Bytes),
    /// The peer, a DISH, joined or left a group (reported to RADIO only).
    Membership(Membership),
    /// The server-side mechanism needs the authenticator's verdict: answer with
    /// [`Connection::handle_auth_reply`].
    AuthRequest(AuthRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Exchanging the greeting.
    Greeting,
    /// ZMTP 1.0/2.0: waiting for the peer's identity frame.
    LegacyIdentity,
    /// ZMTP 3.x: the mechanism's handshake.
    Handshake,
    /// Messages flow.
    Active,
    /// Dead; `error` says why.
    Failed,
}

/// One ZMTP connection: greeting, security handshake, framing, heartbeats.
///
/// ```
/// use std::time::Instant;
/// use zmtp_codec::{Config, Connection, Event, SocketType};
///
/// let now = Instant::now();
/// let mut a = Connection::new(Config::new(SocketType::Push), now).unwrap();
/// let mut b = Connection::new(Config::new(SocketType::Pull), now).unwrap();
/// // Shuttle bytes until both are quiet.
/// for _ in 0..4 {
///     while let Some(bytes) = a.poll_transmit() { b.handle_input(now, &bytes).unwrap(); }
///     while let Some(bytes) = b.poll_transmit() { a.handle_input(now, &bytes).unwrap(); }
/// }
/// assert!(matches!(a.poll_event(), Ok(Some(Event::HandshakeSucceeded(_)))));
/// a.send(&"hello".into()).unwrap();
/// while let Some(bytes) = a.poll_transmit() { b.handle_input(now, &bytes).unwrap(); }
/// assert!(matches!(b.poll_event(), Ok(Some(Event::HandshakeSucceeded(_)))));
/// assert_eq!(b.poll_event(), Ok(Some(Event::Message("hello".into()))));
/// ```
pub struct Connection {
    socket_type: SocketType,
    routing_id: Bytes,
    mechanism_name: &'static str,
    as_server: bool,
    zmtp_minor: u8,
    legacy_allowed: bool,
    max_msg_size: Option<u64>,
    our_metadata: Metadata,

    phase: Phase,
    error: Option<Error>,
    mechanism: Box<dyn Mechanism>,
    wraps_frames: bool,
    /// A final data frame with no parts before it is a whole message as it is: frames are
    /// not wrapped, and we are not a publisher (whose messages may be subscriptions).
    direct: bool,
    awaiting_auth: bool,
    framing: Framing,
    version: (u8, u8),
    sent_major: bool,
    sent_rest: bool,
    legacy_peer_type: Option<SocketType>,
    /// Boxed: a connection still in its handshake should not carry it inline.
    peer: Option<Box<Handshake>>,
    user_id: Option<Bytes>,
    auth_metadata: Metadata,

    inbuf: BytesMut,
    /// A second read buffer, for when `inbuf`'s is still shared by bodies the socket holds
    /// (see [`read_buf`](Self::read_buf)); never one sized for large frames.
    spare: BytesMut,
    /// `inbuf` was offered (or given) room for a large frame: its allocation may be large.
    inbuf_large: bool,
    /// The size of the frame last seen when large (over [`MIN_READ_SPACE`], at most
    /// [`MAX_READ_RESERVE`]), 0 when it was small; "seen": the last frame split off the read
    /// buffer for decoding, or the frame whose header is at the front of the buffer, whichever
    /// came later ([`note_frame`](Self::note_frame)). What [`read_buf`](Self::read_buf) offers
    /// at a frame boundary, so that a stream of large frames is read a whole frame at a time,
    /// each into a buffer of its own, rather than its first 16 KiB in one read and the rest
    /// in a second after the buffer grew (copying the first part); and while it is 0, a
    /// buffer grown for a large frame is let go
    /// ([`release_large_read_space`](Self::release_large_read_space)).
    large_frame: usize,
    /// Whole frames split off `inbuf` (after the handshake), waiting to be decoded.
    run: frame::Run,
    partial: Message,
    /// What `partial` costs against `maxmsgsize`: its bodies plus [`FRAME_OVERHEAD`] for
    /// every frame after the first.
    partial_cost: u64,
    out: BytesMut,
    /// The PONG owed to the peer's latest PING (its context, at most 16 bytes, copied):
    /// PINGs coalesce into one PONG, encoded when output is next taken, so a peer that
    /// pings without reading makes us hold one PONG, not one per PING (as libzmq).
    pong: Option<Bytes>,
    /// Our own PING is due and not yet encoded (at most one waits).
    ping_due: bool,
    out_queue: VecDeque<Bytes>,
    events: VecDeque<Event>,

    handshake_deadline: Option<Instant>,
    heartbeat_ivl: Option<Duration>,
    heartbeat_ttl_ds: u16,
    heartbeat_timeout: Option<Duration>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    peer_ttl: Option<Duration>,
    last_rx: Instant,
    /// ZWS 2.0 mode ([`Connection::new_zws`]): no greeting, frames as WebSocket messages.
    zws: bool,
    /// Our output in ZMTP 3.x framing, waiting to be cut into ZWS messages.
    zws_out: BytesMut,
}

/// A connection's own output: frames and commands through its mechanism when it wraps them.
impl FrameSink for Connection {
    fn frame(&mut self, more: bool, body: &crate::Frame) {
        self.encode_frame(more, body);
    }

    fn command(&mut self, cmd: &Command) {
        self.encode_command(cmd);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("socket_type", &self.socket_type)
            .field("mechanism", &self.mechanism_name)
            .field("phase", &self.phase)
            .field("version", &self.version)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a connection: our signature is ready to transmit at once.
    pub fn new(config: Config, now: Instant) -> Result<Connection, Error> {
        if config.routing_id.len() > 255 {
            return Err(Error::InvalidConfig("routing id is at most 255 bytes"));
        }
        if config.zmtp_minor > 1 {
            return Err(Error::InvalidConfig("zmtp_minor is 0 or 1"));
        }
        // Sized exactly: it is held for the whole handshake.
        let mut our_metadata = Metadata::with_capacity(
            1 + usize::from(config.socket_type.sends_identity()) + config.metadata.len(),
        );
        our_metadata.insert(SOCKET_TYPE, config.socket_type.name())?;
        if config.socket_type.sends_identity() {
            our_metadata.insert(IDENTITY, config.routing_id.clone())?;
        }
        for (name, value) in config.metadata.iter() {
            our_metadata.insert(name, value.clone())?;
        }
        let authenticates = config.authenticates();
        let mechanism = config.mechanism.build(authenticates)?;
        // Nothing big is reserved before the handshake completes (a stalled peer costs
        // little); `complete` gives both buffers their working size.
        let mut out = BytesMut::new();
        out.put_slice(&greeting::signature(config.routing_id.len()));
        Ok(Connection {
            socket_type: config.socket_type,
            routing_id: config.routing_id,
            mechanism_name: config.mechanism.name(),
            as_server: config.mechanism.as_server(),
            zmtp_minor: config.zmtp_minor,
            legacy_allowed: !authenticates && config.mechanism == MechanismConfig::Null,
            max_msg_size: config.max_msg_size,
            our_metadata,
            phase: Phase::Greeting,
            error: None,
            mechanism,
            wraps_frames: false,
            direct: false,
            awaiting_auth: false,
            framing: Framing::V3,
            version: (3, config.zmtp_minor),
            sent_major: false,
            sent_rest: false,
            legacy_peer_type: None,
            peer: None,
            user_id: None,
            auth_metadata: Metadata::new(),
            inbuf: BytesMut::new(),
            spare: BytesMut::new(),
            inbuf_large: false,
            large_frame: 0,
            run: frame::Run::default(),
            partial: Message::new(),
            partial_cost: 0,
            out,
            pong: None,
            ping_due: false,
            out_queue: VecDeque::new(),
            events: VecDeque::new(),
            handshake_deadline: config.handshake_ivl.map(|d| now + d),
            heartbeat_ivl: config.heartbeat_ivl.filter(|d| !d.is_zero()),
            heartbeat_ttl_ds: config.heartbeat_ttl.map_or(0, |d| {
                u16::try_from(d.as_millis() / 100).unwrap_or(u16::MAX)
            }),
            heartbeat_timeout: config.heartbeat_timeout.filter(|d| !d.is_zero()),
            next_ping: None,
            pong_deadline: None,
            peer_ttl: None,
            last_rx: now,
            zws: false,
            zws_out: BytesMut::new(),
        })
    }

    /// Starts a ZWS 2.0 connection (RFC 45, see [`zws`](crate::zws)) once the WebSocket
    /// handshake chose `protocol`: no greeting; the mechanism's first command (or, for
    /// [`zws::Protocol::Bare`], our routing id) is ready to transmit at once.
    ///
    /// Input goes in with [`handle_zws_message`](Self::handle_zws_message) and
    /// [`handle_zws_control`](Self::handle_zws_control), output comes out of
    /// [`poll_zws_transmit`](Self::poll_zws_transmit); events and timers as for ZMTP.
    /// [`Handshake::version`] reads (3, 1) for a mechanism and (2, 0) for a bare connection
    /// (no properties, as a ZMTP 2.0 peer).
    ///
    /// ```
    /// use std::time::Instant;
    /// use zmtp_codec::{zws, Config, Connection, Event, SocketType};
    ///
    /// let now = Instant::now();
    /// let p = zws::Protocol::Mechanism;
    /// let mut a = Connection::new_zws(Config::new(SocketType::Push), p, now).unwrap();
    /// let mut b = Connection::new_zws(Config::new(SocketType::Pull), p, now).unwrap();
    /// for _ in 0..2 {
    ///     while let Some(zws::Output::Message(m)) = a.poll_zws_transmit() {
    ///         b.handle_zws_message(now, &m).unwrap();
    ///     }
    ///     while let Some(zws::Output::Message(m)) = b.poll_zws_transmit() {
    ///         a.handle_zws_message(now, &m).unwrap();
    ///     }
    /// }
    /// assert!(matches!(b.poll_event(), Ok(Some(Event::HandshakeSucceeded(_)))));
    /// a.send(&"hello".into()).unwrap();
    /// let Some(zws::Output::Message(m)) = a.poll_zws_transmit() else { panic!() };
    /// assert_eq!(&m[..], b"\x00hello"); // flags byte, body
    /// b.handle_zws_message(now, &m).unwrap();
    /// assert_eq!(b.poll_event(), Ok(Some(Event::Message("hello".into()))));
    /// ```
    pub fn new_zws(
        config: Config,
        protocol: zws::Protocol,
        now: Instant,
    ) -> Result<Connection, Error> {
        if protocol == zws::Protocol::Bare
            && (config.mechanism != MechanismConfig::Null || config.authenticates())
        {
            return Err(Error::InvalidConfig(
                "the bare ZWS2.0 protocol has no mechanism: NULL without ZAP only",
            ));
        }
        let mut conn = Connection::new(config, now)?;
        conn.zws = true;
        conn.out.clear();
        conn.framing = Framing::V3;
        match protocol {
            zws::Protocol::Bare => {
                conn.version = (2, 0);
                conn.phase = Phase::LegacyIdentity;
                let id = conn.routing_id.clone();
                frame::encode(&mut conn.out, Framing::V3, false, false, &id);
            }
            zws::Protocol::Mechanism => {
                conn.version = (3, 1);
                conn.phase = Phase::Handshake;
                let ours = Ours {
                    metadata: &conn.our_metadata,
                    out: &mut conn.out,
                };
                let step = conn.mechanism.start(ours)?;
                conn.apply_step(now, step)?;
            }
        }
        Ok(conn)
    }

    // ---- getters -------------------------------------------------------------------

    /// True once the handshake completed and until the connection fails.
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// The error that killed the connection, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The peer, once the handshake completed.
    pub fn peer(&self) -> Option<&Handshake> {
        self.peer.as_deref()
    }

    /// Our socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// True when output is waiting for [`poll_transmit`](Self::poll_transmit).
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty()
            || !self.out_queue.is_empty()
            || self.pong.is_some()
            || self.ping_due
            || !self.zws_out.is_empty()
    }

    /// Bytes of output held for [`poll_transmit`](Self::poll_transmit), counting a pending
    /// PONG or PING as its encoded size. What a peer alone can make this hold is bounded:
    /// one PONG and one PING; the rest is what the caller sent.
    pub fn pending_output(&self) -> usize {
        const PING_LEN: usize = 2 + 1 + 4 + 2;
        self.out.len()
            + self.zws_out.len()
            + self.out_queue.iter().map(Bytes::len).sum::<usize>()
            + self.pong.as_ref().map_or(0, |c| 2 + 1 + 4 + c.len())
            + if self.ping_due { PING_LEN } else { 0 }
    }

    // ---- inputs --------------------------------------------------------------------

    /// The buffer to read the peer's bytes into, with free space reserved; call
    /// [`handle_read`](Self::handle_read) after appending to it.
    ///
    /// Reading straight into this buffer lets message bodies reach the socket without a
    /// copy: when a large frame's header has arrived, room for the whole frame is reserved.
    ///
    /// Before the handshake completes it offers only what the next step needs (the rest
    /// of the greeting, or the handshake frame its header declares), so a stalled peer
    /// costs little.
    ///
    /// Bodies read share the buffer, so a read that comes before the socket has dropped the
    /// last message (a request-reply exchange: the connection reads again, finding nothing,
    /// while the request waits for the socket) cannot reuse it. The connection keeps a
    /// second buffer for that and reads into whichever of the two is free, so such an
    /// exchange allocates nothing a message, where it allocated a buffer and its
    /// reference count for every one.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        let want = match self.phase {
            Phase::Active if self.inbuf.is_empty() => {
                self.release_large_read_space();
                let want = MIN_READ_SPACE.max(self.large_frame);
                self.reuse_read_space(want);
                want
            }
            Phase::Active => {
                // The frame at the front now (decoding may have taken those seen at the
                // last read), before deciding whether the buffer is still wanted large.
                let front = self.front_frame_len();
                self.release_large_read_space();
                let mut want = MIN_READ_SPACE;
                if let Some(total) = front {
                    want = want.max(total.saturating_sub(self.inbuf.len()).min(MAX_READ_RESERVE));
                }
                want
            }
            Phase::Greeting => greeting::GREETING_LEN.saturating_sub(self.inbuf.len()),
            Phase::LegacyIdentity | Phase::Handshake => {
                let framing = if self.phase == Phase::Handshake {
                    Framing::V3
                } else {
                    self.framing
                };
                match frame::peek_header(&self.inbuf, framing, Some(MAX_HANDSHAKE_FRAME)) {
                    Ok(Some(h)) => h
                        .frame_len()
                        .map_or(0, |total| total.saturating_sub(self.inbuf.len())),
                    _ => 0,
                }
            }
            Phase::Failed => 0,
        };
        self.inbuf_large |= want > MIN_READ_SPACE;
        // Always some room: a read into a full buffer would look like the end of the stream.
        self.inbuf.reserve(want.max(HANDSHAKE_READ_SPACE));
        &mut self.inbuf
    }

    /// Lets a read buffer that was offered room for a large frame go once the peer is back
    /// to small frames (the frame last seen, [`Self::large_frame`], is small): its unread
    /// bytes (in the session, which reads only once everything whole is decoded, part of one
    /// frame) move to a buffer of the usual size. Otherwise one large message would leave
    /// its allocation, up to [`MAX_READ_RESERVE`] bytes, with the connection for as long as
    /// the buffer's tail had room (and, reclaimed, for good). A stream of large frames, or
    /// of messages whose last frame is large (a topic and a large body), keeps its buffers
    /// as before; a stream that alternates large and small messages pays a small buffer and
    /// a copy of its unread bytes when a small one follows a large one.
    fn release_large_read_space(&mut self) {
        if !self.inbuf_large || self.large_frame != 0 {
            return;
        }
        self.inbuf_large = false;
        let unread = std::mem::take(&mut self.inbuf);
        if !unread.is_empty() {
            // Room for the usual read after the unread bytes, so `read_buf` need not grow it.
            self.inbuf = BytesMut::with_capacity(unread.len() + MIN_READ_SPACE);
            self.inbuf.put_slice(&unread);
        }
    }

    /// Before bytes are appended to the read buffer other than through `read_buf` (by
    /// [`handle_input`](Self::handle_input), or a ZWS message's frame of `incoming` bytes):
    /// the same rule as `read_buf`'s for a buffer grown for a large frame.
    fn before_append(&mut self, incoming: Option<usize>) {
        if self.phase != Phase::Active {
            return;
        }
        self.front_frame_len();
        if let Some(total) = incoming {
            self.note_frame(total);
        }
        self.release_large_read_space();
    }

    /// After bytes were appended other than through `read_buf`: whether the buffer may now
    /// hold a large allocation.
    fn after_append(&mut self) {
        self.inbuf_large |= self.inbuf.len() > MIN_READ_SPACE;
    }

    /// Gives the empty read buffer `want` bytes of room without allocating when its
    /// buffer, or else the spare's, is no longer shared; otherwise `read_buf`'s `reserve`
    /// allocates, as it would have. The buffer still shared becomes the spare. For small
    /// frames only: a spare sized for a large frame would keep up to [`MAX_READ_RESERVE`]
    /// bytes a connection for as long as it lives (and a read buffer that may be large is
    /// let go before this, [`release_large_read_space`](Self::release_large_read_space)).
    fn reuse_read_space(&mut self, want: usize) {
        if self.large_frame != 0 {
            self.spare = BytesMut::new();
            return;
        }
        if self.inbuf.try_reclaim(want) {
            return;
        }
        self.spare = std::mem::replace(&mut self.inbuf, std::mem::take(&mut self.spare));
        // Shared as well (or empty): `read_buf` allocates.
        let _ = self.inbuf.try_reclaim(want);
    }

    /// Bytes arrived from the peer (copied into the read buffer).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        self.before_append(None);
        self.inbuf.extend_from_slice(data);
        self.after_append();
        self.handle_read(now)
    }

    /// Processes bytes appended to [`read_buf`](Self::read_buf). Any call counts as traffic
    /// from the peer for the heartbeat, so call it only when bytes arrived.
    ///
    /// Greeting and handshake are processed at once; messages are decoded as
    /// [`poll_event`](Self::poll_event) is called.
    ///
    /// A frame header is checked as soon as it arrives, before its body is buffered: a
    /// size that cannot be allocated fails the connection with
    /// [`Error::FrameTooLargeToAllocate`], whatever `maxmsgsize` says, and a frame that
    /// would take the message under assembly past `maxmsgsize` fails it with
    /// [`Error::MessageTooLarge`].
    pub fn handle_read(&mut self, now: Instant) -> Result<(), Error> {
        self.check_alive()?;
        self.last_rx = now;
        self.pong_deadline = None;
        self.advance(now)
            .and_then(|()| self.check_front_frame())
            .map_err(|e| self.fail(e))?;
        if self.phase == Phase::Active {
            self.front_frame_len();
        }
        Ok(())
    }

    /// The whole length (header and body) of the frame at the front of the read buffer,
    /// if its header has arrived; notes whether it is large ([`Self::large_frame`]).
    fn front_frame_len(&mut self) -> Option<usize> {
        let total = frame::peek_header(&self.inbuf, self.framing, self.max_msg_size)
            .ok()
            .flatten()?
            .frame_len()?;
        self.note_frame(total);
        Some(total)
    }

    /// Notes the whole length of the frame seen last ([`Self::large_frame`]).
    fn note_frame(&mut self, total: usize) {
        self.large_frame = if total > MIN_READ_SPACE {
            total.min(MAX_READ_RESERVE)
        } else {
            0
        };
    }

    /// A ZWS connection's binary WebSocket message arrived (its payload: flags byte and
    /// body). A text message is the caller's to refuse with [`Error::ZwsNotBinary`].
    pub fn handle_zws_message(&mut self, now: Instant, payload: &[u8]) -> Result<(), Error> {
        self.check_alive()?;
        let frame = zws::decode(payload).map_err(|e| self.fail(e))?;
        // Refused before it is copied (a multipart message's total is checked as it is
        // decoded, as over tcp).
        let max = match self.phase {
            Phase::Active => self.max_msg_size,
            _ => Some(MAX_HANDSHAKE_FRAME),
        };
        if let Some(max) = max.filter(|&max| frame.body.len() as u64 > max) {
            return Err(self.fail(Error::MessageTooLarge {
                size: frame.body.len() as u64,
                max,
            }));
        }
        // Into the read buffer in ZMTP 3.x framing: from there on, as over tcp (the size
        // checks included).
        self.before_append(Some(frame.body.len()));
        frame::encode(
            &mut self.inbuf,
            Framing::V3,
            frame.more,
            frame.command,
            frame.body,
        );
        self.after_append();
        self.handle_read(now)
    }

    /// A ZWS connection's WebSocket control frame (PING or PONG) arrived: the peer is
    /// alive. (Answering a PING is the WebSocket library's part.)
    pub fn handle_zws_control(&mut self, now: Instant) {
        if self.error.is_none() {
            self.last_rx = now;
            self.pong_deadline = None;
        }
    }

    /// A deadline from [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        self.check_alive()?;
        if self.phase != Phase::Active {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                return Err(self.fail(Error::HandshakeTimeout));
            }
            return Ok(());
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            return Err(self.fail(Error::HeartbeatTimeout));
        }
        if self.peer_ttl.is_some_and(|ttl| now >= self.last_rx + ttl) {
            return Err(self.fail(Error::HeartbeatTimeout));
        }
        if let (Some(ivl), Some(at)) = (self.heartbeat_ivl, self.next_ping) {
            if now >= at {
                // Encoded when output is next taken; a PING still waiting is not doubled.
                self.ping_due = true;
                self.next_ping = Some(now + ivl);
                if self.pong_deadline.is_none() {
                    self.pong_deadline = Some(now + self.heartbeat_timeout.unwrap_or(ivl));
                }
            }
        }
        Ok(())
    }

    /// The authenticator's answer to an [`Event::AuthRequest`].
    pub fn handle_auth_reply(&mut self, now: Instant, reply: AuthReply) -> Result<(), Error> {
        self.check_alive()?;
        if !self.awaiting_auth {
            return Err(Error::NoAuthPending);
        }
        self.awaiting_auth = false;
        let ours = Ours {
            metadata: &self.our_metadata,
            out: &mut self.out,
        };
        let step = self.mechanism.handle_auth_reply(&reply, ours);
        if reply.status_code == 200 {
            self.user_id = Some(reply.user_id);
            self.auth_metadata = reply.metadata;
        }
        let result = step.and_then(|step| {
            self.apply_step(now, step)?;
            self.advance(now)
        });
        result.map_err(|e| self.fail(e))
    }

    /// Queues a message for the peer. For SUB and XSUB, a one-frame message starting with
    /// `0x01`/`0x00` is a (un)subscription and goes out as SUBSCRIBE/CANCEL to a 3.1 peer
    /// (the rules are [`Encoder`]'s).
    pub fn send(&mut self, msg: &Message) -> Result<(), Error> {
        self.check_alive()?;
        if self.phase != Phase::Active {
            return Err(Error::NotReady);
        }
        if msg.is_empty() {
            return Err(Error::EmptyMessage);
        }
        let commands = self.subscriptions_as_commands();
        encoder::encode_message(self.socket_type, commands, msg, self);
        Ok(())
    }

    /// How this connection encodes messages, for encoding them without it: `Some` once the
    /// handshake is done, while the connection lives, unless its mechanism wraps frames
    /// (CURVE) or it speaks ZWS. See [`Encoder`].
    pub fn encoder(&self) -> Option<Encoder> {
        let plain =
            self.phase == Phase::Active && self.error.is_none() && !self.wraps_frames && !self.zws;
        plain.then(|| Encoder {
            socket_type: self.socket_type,
            framing: self.framing,
            subscription_commands: self.subscriptions_as_commands(),
        })
    }

    /// Sends a subscription: SUBSCRIBE to a 3.1 peer, a `0x01`+topic message to older ones.
    pub fn send_subscribe(&mut self, topic: &[u8]) -> Result<(), Error> {
        self.send_subscription(Subscription::Subscribe(Bytes::copy_from_slice(topic)))
    }

    /// Cancels a subscription: CANCEL to a 3.1 peer, a `0x00`+topic message to older ones.
    pub fn send_cancel(&mut self, topic: &[u8]) -> Result<(), Error> {
        self.send_subscription(Subscription::Cancel(Bytes::copy_from_slice(topic)))
    }

    // ---- outputs -------------------------------------------------------------------

    /// The next bytes to write to the peer, in order; `None` when there are none.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.ping_due || self.pong.is_some() {
            self.encode_heartbeats();
        }
        if let Some(chunk) = self.out_queue.pop_front() {
            return Some(chunk);
        }
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    /// A ZWS connection's next WebSocket message (or PING) to send, in order; `None` when
    /// there is none. (It cuts [`poll_transmit`](Self::poll_transmit)'s output into frames,
    /// so use one or the other.)
    #[must_use]
    pub fn poll_zws_transmit(&mut self) -> Option<zws::Output> {
        if self.zws && std::mem::take(&mut self.ping_due) {
            return Some(zws::Output::Ping);
        }
        loop {
            match frame::decode(&mut self.zws_out, Framing::V3, None) {
                Ok(Some(f)) => {
                    let message = zws::encode(f.more, f.command, &f.body);
                    // A large frame's room goes with it (its body, the buffer's last user, is
                    // dropped here), rather than staying for the small frames after it.
                    if f.body.len() > MIN_READ_SPACE && self.zws_out.is_empty() {
                        self.zws_out = BytesMut::new();
                    }
                    return Some(zws::Output::Message(message));
                }
                Ok(None) => {}
                // Our own encoding: cannot be malformed.
                Err(_) => {
                    self.zws_out.clear();
                    return None;
                }
            }
            let chunk = self.poll_transmit()?;
            self.zws_out.extend_from_slice(&chunk);
        }
    }

    /// The next event. Messages are decoded here, one per call, straight from the read
    /// buffer; a PING is answered here, so call [`poll_transmit`](Self::poll_transmit) after
    /// draining events. An `Err` is the sticky error that killed the connection.
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        if self.phase != Phase::Active {
            return match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        match self.next_message() {
            Ok(Some(msg)) => Ok(Some(Event::Message(msg))),
            Ok(None) => Ok(self.events.pop_front()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Decodes up to `max` messages into `out`, the fast way to drain a read: it saves
    /// [`poll_event`](Self::poll_event)'s per-call checks and the wrapping of every message
    /// in an [`Event`].
    ///
    /// Returns how many messages it appended. Fewer than `max` means that the read buffer
    /// holds no further whole message, or that another event is ready: call `poll_event`
    /// until it returns `None` before relying on the former (it also delivers the
    /// handshake's events, which this never does). Messages appended before an `Err` are
    /// valid and came before the failure; the error comes only once no event is queued.
    pub fn poll_messages(
        &mut self,
        out: &mut VecDeque<Message>,
        max: usize,
    ) -> Result<usize, Error> {
        if !self.events.is_empty() {
            return Ok(0);
        }
        if self.phase != Phase::Active {
            return match &self.error {
                Some(e) => Err(e.clone()),
                None => Ok(0),
            };
        }
        let mut n = 0;
        while n < max {
            match self.next_message() {
                Ok(Some(msg)) => {
                    out.push_back(msg);
                    n += 1;
                }
                Ok(None) => break,
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(n)
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Failed => None,
            Phase::Active => [
                self.next_ping,
                self.pong_deadline,
                self.peer_ttl.map(|ttl| self.last_rx + ttl),
            ]
            .into_iter()
            .flatten()
            .min(),
            _ => self.handshake_deadline,
        }
    }

    // ---- internals -----------------------------------------------------------------

    fn check_alive(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(Error::Failed(Box::new(e.clone()))),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        if self.error.is_none() {
            self.phase = Phase::Failed;
            self.error = Some(err.clone());
            // A dead connection answers no PING and sends none.
            self.pong = None;
            self.ping_due = false;
        }
        err
    }

    /// Encodes the coalesced PONG and our due PING behind everything already queued.
    #[cold]
    fn encode_heartbeats(&mut self) {
        if std::mem::take(&mut self.ping_due) {
            self.encode_command(&Command::Ping {
                ttl_deciseconds: self.heartbeat_ttl_ds,
                context: Bytes::new(),
            });
        }
        if let Some(context) = self.pong.take() {
            self.encode_command(&Command::Pong(context));
        }
    }

    /// Checks the header of the first frame not yet decoded while its body is still
    /// arriving (after the handshake, or a ZMTP 1.0/2.0 identity frame): its size must be
    /// allocatable and fit what is left of `maxmsgsize` for the message under assembly.
    /// While the authenticator decides, the peer may not pile up more than one handshake
    /// frame's worth of bytes.
    fn check_front_frame(&self) -> Result<(), Error> {
        match self.phase {
            Phase::Active | Phase::LegacyIdentity => {}
            Phase::Handshake if self.awaiting_auth => {
                let max = MAX_HANDSHAKE_FRAME + 9;
                if self.inbuf.len() as u64 > max {
                    return Err(Error::HandshakeOverrun {
                        buffered: self.inbuf.len() as u64,
                        max,
                    });
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
        // Only once everything before this frame was decoded, so that an error comes after
        // the messages before it (the socket driver reads only then anyway).
        if !self.run.is_drained() || !self.events.is_empty() {
            return Ok(());
        }
        // A malformed header, or a whole frame, is left for decoding to report in order.
        let Ok(Some(h)) = frame::peek_header(&self.inbuf, self.framing, None) else {
            return Ok(());
        };
        if h.frame_len().is_some_and(|total| total <= self.inbuf.len()) {
            return Ok(());
        }
        if let Some(max) = self.max_msg_size {
            if h.body_len > max {
                return Err(Error::MessageTooLarge {
                    size: h.body_len,
                    max,
                });
            }
        }
        if h.body_len > MAX_READ_RESERVE as u64 && !allocatable(h.body_len) {
            return Err(Error::FrameTooLargeToAllocate { size: h.body_len });
        }
        if let Some(max) = self.max_msg_size {
            if !self.partial.is_empty() {
                let cost = self
                    .partial_cost
                    .saturating_add(FRAME_OVERHEAD)
                    .saturating_add(h.body_len);
                if cost > max {
                    return Err(Error::MessageTooLarge { size: cost, max });
                }
            }
        }
        Ok(())
    }

    fn commands_for_subscriptions(&self) -> bool {
        // libzmq's ws engine passes no SUBSCRIBE/CANCEL command on: messages, as for 3.0.
        !self.zws && self.framing == Framing::V3 && self.version >= (3, 1)
    }

    /// We subscribe (SUB, XSUB) and our subscriptions go out as commands.
    fn subscriptions_as_commands(&self) -> bool {
        self.socket_type.is_subscriber() && self.commands_for_subscriptions()
    }

    /// Sends a subscription: SUBSCRIBE or CANCEL to a 3.1 peer, the message form to older ones.
    fn send_subscription(&mut self, sub: Subscription) -> Result<(), Error> {
        self.check_alive()?;
        if self.phase != Phase::Active {
            return Err(Error::NotReady);
        }
        if self.commands_for_subscriptions() {
            self.encode_command(&Command::from(sub));
        } else {
            self.encode_frame(false, &sub.to_frame());
        }
        Ok(())
    }

    /// Encodes a command after the handshake, through the mechanism when it wraps frames.
    fn encode_command(&mut self, cmd: &Command) {
        if self.wraps_frames {
            let mut body = BytesMut::new();
            cmd.encode_body(&mut body);
            self.mechanism
                .encode_frame(&mut self.out, false, true, &body);
        } else {
            cmd.encode(&mut self.out);
        }
    }

    /// Encodes one data frame: through the mechanism when it wraps frames, else copied into
    /// the batch buffer, or queued by reference when it is large (never an inline frame,
    /// [`crate::Frame::INLINE_CAPACITY`] being far below [`ZERO_COPY_THRESHOLD`]).
    fn encode_frame(&mut self, more: bool, body: &crate::Frame) {
        if self.wraps_frames {
            self.mechanism
                .encode_frame(&mut self.out, more, false, body);
        } else {
            encoder::put_frame(&mut self.out, &mut self.out_queue, self.framing, more, body);
        }
    }

    /// Runs the greeting and handshake phases as far as the buffered bytes allow.
    fn advance(&mut self, now: Instant) -> Result<(), Error> {
        loop {
            match self.phase {
                Phase::Greeting => {
                    if !self.advance_greeting()? {
                        return Ok(());
                    }
                    if self.phase == Phase::Handshake {
                        let ours = Ours {
                            metadata: &self.our_metadata,
                            out: &mut self.out,
                        };
                        let step = self.mechanism.start(ours)?;
                        self.apply_step(now, step)?;
                    }
                }
                Phase::LegacyIdentity => {
                    let Some(f) = frame::decode(&mut self.inbuf, self.framing, self.max_msg_size)?
                    else {
                        return Ok(());
                    };
                    let routing_id = (!f.body.is_empty()).then_some(f.body);
                    let version = self.version;
                    self.complete(
                        now,
                        Handshake {
                            version,
                            socket_type: self.legacy_peer_type,
                            routing_id,
                            metadata: Metadata::new(),
                            user_id: None,
                            auth_metadata: Metadata::new(),
                        },
                    );
                    // libzmq's rule: 1.0 peers filter on their side and never subscribe, so a
                    // publisher acts as if they had subscribed to everything.
                    if self.framing == Framing::V1 && self.socket_type.is_publisher() {
                        self.events.push_back(Event::Subscribe(Bytes::new()));
                    }
                }
                Phase::Handshake => {
                    if self.awaiting_auth {
                        // The peer's next commands wait in the buffer until the
                        // authenticator answers (`handle_auth_reply` resumes here).
                        return Ok(());
                    }
                    let Some(f) =
                        frame::decode(&mut self.inbuf, Framing::V3, Some(MAX_HANDSHAKE_FRAME))?
                    else {
                        return Ok(());
                    };
                    if !f.command {
                        return Err(Error::UnexpectedMessage);
                    }
                    if let Some(reason) = command::libzmq_plain_error(&f.body) {
                        return Err(Error::PeerError(
                            String::from_utf8_lossy(&reason).into_owned(),
                        ));
                    }
                    let (name, data) = command::split(&f.body)?;
                    if &name[..] == b"ERROR" {
                        return Err(match Command::decode(&f.body)? {
                            Command::Error(reason) => {
                                Error::PeerError(String::from_utf8_lossy(&reason).into_owned())
                            }
                            _ => Error::MalformedCommand("ERROR"),
                        });
                    }
                    let ours = Ours {
                        metadata: &self.our_metadata,
                        out: &mut self.out,
                    };
                    let step = self.mechanism.handle_command(&name, data, ours)?;
                    self.apply_step(now, step)?;
                }
                Phase::Active | Phase::Failed => return Ok(()),
            }
        }
    }

    /// One greeting step; returns false when more bytes are needed.
    fn advance_greeting(&mut self) -> Result<bool, Error> {
        match greeting::detect(&self.inbuf) {
            Detected::NeedMore => return Ok(false),
            Detected::Unversioned => {
                // The peer's bytes are its identity message in 1.0 framing; our signature
                // already was the header of ours, so its body follows.
                self.start_legacy(1, Framing::V1)?;
                let id = self.routing_id.clone();
                self.out.put_slice(&id);
                return Ok(true);
            }
            Detected::Versioned => {}
        }
        if !self.sent_major {
            self.out.put_u8(3);
            self.sent_major = true;
        }
        let Some(&revision) = self.inbuf.get(greeting::MAJOR_AT) else {
            return Ok(false);
        };
        if revision < 2 {
            // ZMTP 2.0 (revision 1) or versioned 1.0 (revision 0): exchange socket types.
            if !self.sent_rest {
                self.out.put_u8(self.socket_type.number());
                self.sent_rest = true;
            }
            let Some(&n) = self.inbuf.get(greeting::MINOR_AT) else {
                return Ok(false);
            };
            let peer_type = SocketType::from_number(n)
                .ok_or_else(|| Error::UnknownSocketType(Bytes::from(vec![n])))?;
            self.check_compatible(peer_type)?;
            let (major, framing) = if revision == 0 {
                (1, Framing::V1)
            } else {
                (2, Framing::V2)
            };
            self.start_legacy(major, framing)?;
            self.legacy_peer_type = Some(peer_type);
            self.inbuf.advance(greeting::V2_GREETING_LEN);
            let id = self.routing_id.clone();
            frame::encode(&mut self.out, framing, false, false, &id);
            return Ok(true);
        }
        if !self.sent_rest {
            greeting::encode_rest(
                &mut self.out,
                self.zmtp_minor,
                self.mechanism_name,
                self.as_server,
            );
            self.sent_rest = true;
        }
        if self.inbuf.len() < greeting::GREETING_LEN {
            return Ok(false);
        }
        let mut g = [0u8; greeting::GREETING_LEN];
        g.copy_from_slice(&self.inbuf[..greeting::GREETING_LEN]);
        self.inbuf.advance(greeting::GREETING_LEN);
        let peer = PeerGreeting::parse(&g)?;
        if peer.mechanism != self.mechanism_name {
            return Err(Error::MechanismMismatch {
                ours: self.mechanism_name,
                theirs: peer.mechanism,
            });
        }
        // libzmq (4.3) sends as-server 0 whatever its role, so a 0 proves nothing: only two
        // peers that both claim the server role are refused here. Two clients fail on the
        // first mechanism command instead.
        if self.mechanism_name != "NULL" && peer.as_server && self.as_server {
            return Err(Error::RoleMismatch("server"));
        }
        let peer_minor = if peer.major > 3 { 1 } else { peer.minor };
        self.version = (3, peer_minor.min(self.zmtp_minor));
        self.framing = Framing::V3;
        self.phase = Phase::Handshake;
        Ok(true)
    }

    fn start_legacy(&mut self, major: u8, framing: Framing) -> Result<(), Error> {
        if !self.legacy_allowed {
            return Err(Error::LegacyPeerRefused(major));
        }
        self.version = (major, 0);
        self.framing = framing;
        self.phase = Phase::LegacyIdentity;
        Ok(())
    }

    fn check_compatible(&mut self, peer: SocketType) -> Result<(), Error> {
        if self.socket_type.is_compatible(peer) {
            Ok(())
        } else {
            if self.framing == Framing::V3 && self.phase == Phase::Handshake {
                Command::Error(Bytes::from_static(b"Invalid socket type")).encode(&mut self.out);
            }
            Err(Error::IncompatibleSocketType {
                ours: self.socket_type,
                theirs: peer,
            })
        }
    }

    fn apply_step(&mut self, now: Instant, step: Step) -> Result<(), Error> {
        match step {
            Step::Continue => Ok(()),
            Step::Authenticate(req) => {
                self.awaiting_auth = true;
                self.events.push_back(Event::AuthRequest(req));
                Ok(())
            }
            Step::Done(metadata) => {
                let name = metadata.get(SOCKET_TYPE).ok_or(Error::MissingSocketType)?;
                let peer_type = SocketType::from_name(name)
                    .ok_or_else(|| Error::UnknownSocketType(name.clone()))?;
                self.check_compatible(peer_type)?;
                let routing_id = metadata.get(IDENTITY).filter(|id| !id.is_empty()).cloned();
                self.wraps_frames = self.mechanism.wraps_frames();
                let info = Handshake {
                    version: self.version,
                    socket_type: Some(peer_type),
                    routing_id,
                    metadata,
                    user_id: self.user_id.take(),
                    auth_metadata: std::mem::take(&mut self.auth_metadata),
                };
                self.complete(now, info);
                Ok(())
            }
        }
    }

    fn complete(&mut self, now: Instant, info: Handshake) {
        self.phase = Phase::Active;
        // The buffers are made afresh below: a large handshake frame's room is gone.
        self.inbuf_large = false;
        // The working buffers, sized now rather than at connect time. (A fresh BytesMut
        // also remembers this capacity as the size of its later allocations.)
        for buf in [&mut self.inbuf, &mut self.out] {
            let mut fresh = BytesMut::with_capacity(MIN_READ_SPACE.max(buf.len()));
            fresh.put_slice(buf);
            *buf = fresh;
        }
        self.direct = !self.wraps_frames
            && !self.socket_type.is_publisher()
            && !matches!(self.socket_type, SocketType::Radio | SocketType::Dish);
        self.handshake_deadline = None;
        if self.framing == Framing::V3 {
            self.next_ping = self.heartbeat_ivl.map(|ivl| now + ivl);
        }
        // Only the handshake sends our properties.
        self.our_metadata = Metadata::new();
        self.peer = Some(Box::new(info.clone()));
        self.events
            .push_back(Event::HandshakeSucceeded(Box::new(info)));
    }

    /// Decodes frames until a whole message is ready. When a command (or a subscription
    /// message to a publisher) makes an event, the event is queued in `events` and decoding
    /// stops there, so events keep their order with messages.
    #[inline(always)]
    fn next_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            // Small data frames are copied out of the read buffer unless the mechanism still
            // has to open them.
            let Some(f) = self.run.next_part(!self.wraps_frames) else {
                // Nothing buffered (the common case on a quiet connection): the run has
                // already let go of its bytes, so there is nothing to refill.
                if self.inbuf.is_empty() {
                    return Ok(None);
                }
                if self
                    .run
                    .refill(&mut self.inbuf, self.framing, self.max_msg_size)?
                {
                    // The frame seen last is now the run's last (a large body behind a
                    // small topic keeps the buffer large).
                    if let Some(total) = self.run.last_frame_len() {
                        self.note_frame(total);
                    }
                    continue;
                }
                return Ok(None);
            };
            // The common case, kept short: a one-frame message with nothing to unwrap.
            if self.direct && !f.more && !f.command && self.partial.is_empty() {
                return Ok(Some(Message::from(f.body)));
            }
            if let ControlFlow::Break(msg) = self.handle_frame(f)? {
                return Ok(msg);
            }
        }
    }

    /// Every other frame: unwrapped by the mechanism, then a command, a part of a multipart
    /// message, or a message to inspect. `Break(None)` when an event was queued.
    #[inline(never)]
    fn handle_frame(&mut self, mut f: Part) -> Result<ControlFlow<Option<Message>>, Error> {
        if self.wraps_frames {
            let opened = self.mechanism.decode_frame(frame::Frame {
                more: f.more,
                command: f.command,
                body: f.body.into(),
            })?;
            f = Part {
                more: opened.more,
                command: opened.command,
                body: opened.body.into(),
            };
        }
        if f.command {
            return Ok(match self.handle_active_command(&f.body.into())? {
                Some(ev) => {
                    self.events.push_back(ev);
                    ControlFlow::Break(None)
                }
                None => ControlFlow::Continue(()),
            });
        }
        let len = f.body.len() as u64;
        let cost = if self.partial.is_empty() {
            len
        } else {
            self.partial_cost.saturating_add(FRAME_OVERHEAD + len)
        };
        if let Some(max) = self.max_msg_size {
            if cost > max {
                return Err(Error::MessageTooLarge { size: cost, max });
            }
        }
        // An empty frame keeps no share of the read buffer alive.
        if f.more && self.socket_type == SocketType::Dish && !self.partial.is_empty() {
            return Err(Error::MalformedGroupTraffic(
                "a message of more than a group and a body",
            ));
        }
        self.partial.push_back(if len == 0 {
            crate::Frame::new()
        } else {
            f.body
        });
        if f.more {
            self.partial_cost = cost;
            return Ok(ControlFlow::Continue(()));
        }
        self.partial_cost = 0;
        let msg = std::mem::take(&mut self.partial);
        if self.socket_type.is_publisher() {
            if let Some(sub) = Subscription::from_message(&msg) {
                self.events.push_back(Event::from(sub));
                return Ok(ControlFlow::Break(None));
            }
        }
        match self.socket_type {
            SocketType::Dish => return dish_message(msg).map(|m| ControlFlow::Break(Some(m))),
            SocketType::Radio => {
                return Err(Error::MalformedGroupTraffic("a RADIO receives no messages"))
            }
            _ => {}
        }
        Ok(ControlFlow::Break(Some(msg)))
    }

    fn handle_active_command(&mut self, body: &Bytes) -> Result<Option<Event>, Error> {
        match Command::decode(body)? {
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                self.peer_ttl = (ttl_deciseconds > 0)
                    .then(|| Duration::from_millis(u64::from(ttl_deciseconds) * 100));
                // Copied: a slice would keep the whole read buffer alive.
                self.pong = Some(Bytes::copy_from_slice(
                    &context[..context.len().min(command::MAX_PING_CONTEXT)],
                ));
                Ok(None)
            }
            Command::Error(reason) => Err(Error::PeerError(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            Command::Subscribe(topic) if self.socket_type.is_publisher() => {
                Ok(Some(Event::Subscribe(topic)))
            }
            Command::Cancel(topic) if self.socket_type.is_publisher() => {
                Ok(Some(Event::Cancel(topic)))
            }
            Command::Other { name, data } if self.socket_type == SocketType::Radio => {
                let group = Group::new(&data).map_err(|_| {
                    Error::MalformedGroupTraffic("a JOIN or LEAVE for a group over 255 bytes")
                })?;
                match &name[..] {
                    b"JOIN" => Ok(Some(Event::Membership(Membership::Join(group)))),
                    b"LEAVE" => Ok(Some(Event::Membership(Membership::Leave(group)))),
                    _ => Err(Error::MalformedGroupTraffic(
                        "a command other than JOIN or LEAVE",
                    )),
                }
            }
            Command::Pong(_) => Ok(None),
            // libzmq's DISH session refuses every other command (EFAULT: a protocol error),
            // and RFC 48 gives a RADIO none but JOIN and LEAVE.
            _ if matches!(self.socket_type, SocketType::Radio | SocketType::Dish) => Err(
                Error::MalformedGroupTraffic("a command other than JOIN or LEAVE"),
            ),
            // PONG only proves liveness (already counted); unknown commands are ignored, as
            // libzmq ignores them.
            _ => Ok(None),
        }
    }
}

/// What a DISH makes of a message from its RADIO: a group frame of at most 255 bytes (sent
/// with MORE), then the body, which becomes the message, in that group.
fn dish_message(mut msg: Message) -> Result<Message, Error> {
    if msg.len() != 2 {
        return Err(Error::MalformedGroupTraffic(
            "a message without a group frame",
        ));
    }
    let mut body = msg.split_off(1);
    let group = msg.pop_front().unwrap_or_default();
    body.set_group(&group)
        .map_err(|_| Error::MalformedGroupTraffic("a group longer than 255 bytes"))?;
    Ok(body)
}

/// Whether a frame body of `size` bytes could be allocated now: a fallible allocation
/// probe, released at once (libzmq allocates the whole message when the header arrives and
/// closes the connection when that fails).
fn allocatable(size: u64) -> bool {
    usize::try_from(size).is_ok_and(|n| Vec::<u8>::new().try_reserve_exact(n).is_ok())
}
