//! Socket events (libzmq's `zmq_socket_monitor`): what happens to a socket's endpoints and
//! connections, as a [`Stream`] of [`MonitorEvent`]s, or published on an inproc PAIR in
//! libzmq's two-frame layout.
//!
//! # Never blocking the socket
//!
//! Each monitor has a bounded buffer ([`Monitor::DEFAULT_CAPACITY`] events unless
//! [`Socket::monitor_with`] says otherwise). When a monitor is slow and its buffer is full,
//! the new events for it are **dropped** and counted ([`Monitor::dropped`]); the socket and
//! its other monitors go on. A dropped [`Monitor`] costs nothing more. (libzmq's monitor
//! blocks the whole context instead.)
//!
//! # Where events come from
//!
//! tcp and ipc endpoints raise them, as in libzmq (inproc raises none):
//!
//! - a `bind`: [`Listening`](EventKind::Listening) or [`BindFailed`](EventKind::BindFailed);
//!   each accepted connection [`Accepted`](EventKind::Accepted) (or
//!   [`AcceptFailed`](EventKind::AcceptFailed)); [`Closed`](EventKind::Closed) when the
//!   listener closes;
//! - a `connect`: [`ConnectDelayed`](EventKind::ConnectDelayed) while the transport's connect
//!   is in progress, then [`Connected`](EventKind::Connected), or [`Closed`](EventKind::Closed)
//!   and [`ConnectRetried`](EventKind::ConnectRetried) with the interval before the next try;
//! - every connection: [`HandshakeSucceeded`](EventKind::HandshakeSucceeded) or one of the
//!   `HandshakeFailed*` kinds, and [`Disconnected`](EventKind::Disconnected) when it ends for
//!   any reason but the socket closing it;
//! - [`MonitorStopped`](EventKind::MonitorStopped), the last event of every monitor, when
//!   the socket is dropped.
//!
//! [`Socket::monitor_with`]: crate::Socket::monitor_with

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::FusedStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use zmtp_codec::Message;

use crate::peer::Shared;
use crate::socket::{kind, Socket, SocketKind};
use crate::Result;

/// The values of libzmq's `ZMQ_PROTOCOL_ERROR_*`, carried by
/// [`EventKind::HandshakeFailedProtocol`].
pub mod protocol_error {
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED`.
    pub const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND`.
    pub const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE`.
    pub const ZMTP_INVALID_SEQUENCE: u32 = 0x1000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE`.
    pub const ZMTP_KEY_EXCHANGE: u32 = 0x1000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED`.
    pub const ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE`.
    pub const ZMTP_MALFORMED_COMMAND_MESSAGE: u32 = 0x1000_0012;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO`.
    pub const ZMTP_MALFORMED_COMMAND_HELLO: u32 = 0x1000_0013;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE`.
    pub const ZMTP_MALFORMED_COMMAND_INITIATE: u32 = 0x1000_0014;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR`.
    pub const ZMTP_MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY`.
    pub const ZMTP_MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME`.
    pub const ZMTP_MALFORMED_COMMAND_WELCOME: u32 = 0x1000_0017;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA`.
    pub const ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC`.
    pub const ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`.
    pub const ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED`.
    pub const ZAP_UNSPECIFIED: u32 = 0x2000_0000;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY`.
    pub const ZAP_MALFORMED_REPLY: u32 = 0x2000_0001;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID`.
    pub const ZAP_BAD_REQUEST_ID: u32 = 0x2000_0002;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION`.
    pub const ZAP_BAD_VERSION: u32 = 0x2000_0003;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE`.
    pub const ZAP_INVALID_STATUS_CODE: u32 = 0x2000_0004;
    /// `ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA`.
    pub const ZAP_INVALID_METADATA: u32 = 0x2000_0005;
}

/// What happened: libzmq's `ZMQ_EVENT_*`, with the same names and meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// `ZMQ_EVENT_CONNECTED`: a connect's transport connection is made (the handshake
    /// starts).
    Connected,
    /// `ZMQ_EVENT_CONNECT_DELAYED`: a connect's transport connection is in progress.
    ConnectDelayed,
    /// `ZMQ_EVENT_CONNECT_RETRIED`: the connect will be tried again after `interval`.
    ConnectRetried {
        /// The wait before the next try (`reconnect_ivl`, doubled up to
        /// `reconnect_ivl_max`).
        interval: Duration,
    },
    /// `ZMQ_EVENT_LISTENING`: a bind's listener is open.
    Listening,
    /// `ZMQ_EVENT_BIND_FAILED`: a bind failed.
    BindFailed {
        /// The OS error number, 0 when there is none.
        errno: i32,
        /// Why.
        reason: String,
    },
    /// `ZMQ_EVENT_ACCEPTED`: a listener accepted a connection (the handshake starts).
    Accepted,
    /// `ZMQ_EVENT_ACCEPT_FAILED`: accepting a connection failed (the listener goes on).
    AcceptFailed {
        /// The OS error number, 0 when there is none.
        errno: i32,
        /// Why.
        reason: String,
    },
    /// `ZMQ_EVENT_CLOSED`: a listener, or a connect's failed attempt, closed.
    Closed,
    /// `ZMQ_EVENT_DISCONNECTED`: a connection ended (the peer went, the transport or the
    /// protocol failed); a connect reconnects.
    Disconnected,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`: the connection ended during the handshake
    /// for a reason other than the protocol (the peer closed, a transport error, the
    /// handshake timed out).
    HandshakeFailedNoDetail {
        /// The OS error number, 0 when there is none.
        errno: i32,
        /// Why.
        reason: String,
    },
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`: the ZMTP handshake (and security) completed.
    HandshakeSucceeded,
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`: the peer broke the protocol during the
    /// handshake.
    HandshakeFailedProtocol {
        /// One of [`protocol_error`]'s `ZMQ_PROTOCOL_ERROR_*` values.
        code: u32,
        /// Why.
        reason: String,
    },
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`: authentication failed (our ZAP handler refused
    /// the peer, or the peer's refused us).
    HandshakeFailedAuth {
        /// The ZAP status code (300, 400 or 500).
        status_code: u16,
        /// Why.
        reason: String,
    },
    /// `ZMQ_EVENT_MONITOR_STOPPED`: the last event of a monitor (the socket is gone).
    MonitorStopped,
}

impl EventKind {
    /// libzmq's `ZMQ_EVENT_*` number for this event.
    pub fn number(&self) -> u16 {
        match self {
            EventKind::Connected => 0x0001,
            EventKind::ConnectDelayed => 0x0002,
            EventKind::ConnectRetried { .. } => 0x0004,
            EventKind::Listening => 0x0008,
            EventKind::BindFailed { .. } => 0x0010,
            EventKind::Accepted => 0x0020,
            EventKind::AcceptFailed { .. } => 0x0040,
            EventKind::Closed => 0x0080,
            EventKind::Disconnected => 0x0200,
            EventKind::MonitorStopped => 0x0400,
            EventKind::HandshakeFailedNoDetail { .. } => 0x0800,
            EventKind::HandshakeSucceeded => 0x1000,
            EventKind::HandshakeFailedProtocol { .. } => 0x2000,
            EventKind::HandshakeFailedAuth { .. } => 0x4000,
        }
    }

    /// libzmq's name for this event, without the `ZMQ_EVENT_` prefix (`"CONNECTED"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Connected => "CONNECTED",
            EventKind::ConnectDelayed => "CONNECT_DELAYED",
            EventKind::ConnectRetried { .. } => "CONNECT_RETRIED",
            EventKind::Listening => "LISTENING",
            EventKind::BindFailed { .. } => "BIND_FAILED",
            EventKind::Accepted => "ACCEPTED",
            EventKind::AcceptFailed { .. } => "ACCEPT_FAILED",
            EventKind::Closed => "CLOSED",
            EventKind::Disconnected => "DISCONNECTED",
            EventKind::MonitorStopped => "MONITOR_STOPPED",
            EventKind::HandshakeFailedNoDetail { .. } => "HANDSHAKE_FAILED_NO_DETAIL",
            EventKind::HandshakeSucceeded => "HANDSHAKE_SUCCEEDED",
            EventKind::HandshakeFailedProtocol { .. } => "HANDSHAKE_FAILED_PROTOCOL",
            EventKind::HandshakeFailedAuth { .. } => "HANDSHAKE_FAILED_AUTH",
        }
    }

    /// The value libzmq's monitor sends with the event: the interval in milliseconds for
    /// CONNECT_RETRIED, the error number for the failures, the protocol error code or the
    /// ZAP status code for the handshake failures. Where libzmq sends a file descriptor
    /// (CONNECTED, LISTENING, ACCEPTED, CLOSED, DISCONNECTED) this is 0: we do not expose
    /// descriptors.
    pub fn value(&self) -> u32 {
        match self {
            EventKind::ConnectRetried { interval } => {
                u32::try_from(interval.as_millis()).unwrap_or(u32::MAX)
            }
            EventKind::BindFailed { errno, .. }
            | EventKind::AcceptFailed { errno, .. }
            | EventKind::HandshakeFailedNoDetail { errno, .. } => {
                u32::try_from(*errno).unwrap_or(0)
            }
            EventKind::ConnectDelayed => EINPROGRESS,
            EventKind::HandshakeFailedProtocol { code, .. } => *code,
            EventKind::HandshakeFailedAuth { status_code, .. } => u32::from(*status_code),
            _ => 0,
        }
    }
}

/// libzmq sends the errno of its non-blocking connect with CONNECT_DELAYED.
const EINPROGRESS: u32 = 115;

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())?;
        match self {
            EventKind::ConnectRetried { interval } => write!(f, " ({interval:?})"),
            EventKind::BindFailed { reason, .. }
            | EventKind::AcceptFailed { reason, .. }
            | EventKind::HandshakeFailedNoDetail { reason, .. } => write!(f, ": {reason}"),
            EventKind::HandshakeFailedProtocol { code, reason } => {
                write!(f, " ({code:#010x}): {reason}")
            }
            EventKind::HandshakeFailedAuth {
                status_code,
                reason,
            } => write!(f, " ({status_code}): {reason}"),
            _ => Ok(()),
        }
    }
}

/// One event of a socket, as a [`Monitor`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorEvent {
    /// What happened.
    pub kind: EventKind,
    /// The socket's endpoint it happened on, libzmq's event address: the bound endpoint
    /// as resolved (`tcp://127.0.0.1:41234`) for a listener and the connections it
    /// accepted, the endpoint connected to for a connect. Empty for MONITOR_STOPPED.
    pub endpoint: String,
    /// The peer's address (`tcp://ip:port`; `ipc://` or the path for ipc), once there is
    /// a connection.
    pub peer_address: Option<String>,
    /// The peer's routing id (its `Identity` property), on the events after its
    /// handshake, when it sent one.
    pub routing_id: Option<Bytes>,
}

impl MonitorEvent {
    /// An event with no peer.
    pub fn new(kind: EventKind, endpoint: impl Into<String>) -> Self {
        MonitorEvent {
            kind,
            endpoint: endpoint.into(),
            peer_address: None,
            routing_id: None,
        }
    }

    /// The event in the layout of libzmq's `zmq_socket_monitor` (event version 1): a first
    /// frame of 6 bytes, the event number as a `u16` then the value as a `u32`, both
    /// little-endian (libzmq copies them in host order; on every platform it is built for
    /// in practice that is little-endian), and a second frame with the endpoint.
    pub fn to_libzmq_message(&self) -> Message {
        let mut head = BytesMut::with_capacity(6);
        head.put_u16_le(self.kind.number());
        head.put_u32_le(self.kind.value());
        Message::from(vec![
            head.freeze(),
            Bytes::copy_from_slice(self.endpoint.as_bytes()),
        ])
    }
}

impl std::fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.endpoint.is_empty() {
            write!(f, " on {}", self.endpoint)?;
        }
        if let Some(peer) = &self.peer_address {
            write!(f, " peer {peer}")?;
        }
        Ok(())
    }
}

/// A set of event kinds, as the bitmask of libzmq's `ZMQ_EVENT_*` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Events(u32);

impl Events {
    /// Every event (`ZMQ_EVENT_ALL`).
    pub const ALL: Events = Events(0xFFFF);
    /// `ZMQ_EVENT_CONNECTED`.
    pub const CONNECTED: Events = Events(0x0001);
    /// `ZMQ_EVENT_CONNECT_DELAYED`.
    pub const CONNECT_DELAYED: Events = Events(0x0002);
    /// `ZMQ_EVENT_CONNECT_RETRIED`.
    pub const CONNECT_RETRIED: Events = Events(0x0004);
    /// `ZMQ_EVENT_LISTENING`.
    pub const LISTENING: Events = Events(0x0008);
    /// `ZMQ_EVENT_BIND_FAILED`.
    pub const BIND_FAILED: Events = Events(0x0010);
    /// `ZMQ_EVENT_ACCEPTED`.
    pub const ACCEPTED: Events = Events(0x0020);
    /// `ZMQ_EVENT_ACCEPT_FAILED`.
    pub const ACCEPT_FAILED: Events = Events(0x0040);
    /// `ZMQ_EVENT_CLOSED`.
    pub const CLOSED: Events = Events(0x0080);
    /// `ZMQ_EVENT_DISCONNECTED`.
    pub const DISCONNECTED: Events = Events(0x0200);
    /// `ZMQ_EVENT_MONITOR_STOPPED`.
    pub const MONITOR_STOPPED: Events = Events(0x0400);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`.
    pub const HANDSHAKE_FAILED_NO_DETAIL: Events = Events(0x0800);
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`.
    pub const HANDSHAKE_SUCCEEDED: Events = Events(0x1000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`.
    pub const HANDSHAKE_FAILED_PROTOCOL: Events = Events(0x2000);
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`.
    pub const HANDSHAKE_FAILED_AUTH: Events = Events(0x4000);

    /// The events whose `ZMQ_EVENT_*` bits are set in `bits` (bits without an event are
    /// kept, and match nothing).
    pub const fn from_bits(bits: u32) -> Self {
        Events(bits)
    }

    /// The bitmask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether events of this kind are in the set.
    pub fn contains(self, kind: &EventKind) -> bool {
        self.0 & u32::from(kind.number()) != 0
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;

    fn bitor(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::ALL
    }
}

/// A [`Stream`] of one socket's events, from [`Socket::monitor`](crate::Socket::monitor).
///
/// It ends after [`EventKind::MonitorStopped`], which it yields when the socket is
/// dropped. Events it had no room for are counted in [`Monitor::dropped`], never waited
/// for.
#[derive(Debug)]
pub struct Monitor {
    rx: mpsc::Receiver<MonitorEvent>,
    dropped: Arc<AtomicU64>,
    state: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Running,
    /// MONITOR_STOPPED was yielded.
    Stopped,
}

impl Monitor {
    /// Events a monitor buffers by default before it drops new ones.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// Events dropped so far because this monitor's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Stream for Monitor {
    type Item = MonitorEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let this = self.get_mut();
        if this.state == End::Stopped {
            return Poll::Ready(None);
        }
        match futures::ready!(this.rx.poll_recv(cx)) {
            Some(event) => Poll::Ready(Some(event)),
            None => {
                this.state = End::Stopped;
                Poll::Ready(Some(MonitorEvent::new(EventKind::MonitorStopped, "")))
            }
        }
    }
}

impl FusedStream for Monitor {
    fn is_terminated(&self) -> bool {
        self.state == End::Stopped
    }
}

/// One monitor, as the socket sees it.
#[derive(Debug)]
struct Subscriber {
    events: Events,
    tx: mpsc::Sender<MonitorEvent>,
    dropped: Arc<AtomicU64>,
}

/// A socket's monitors. Raising an event when there are none is one relaxed load.
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    active: AtomicBool,
    list: Mutex<Vec<Subscriber>>,
}

impl Monitors {
    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new monitor of `events`, buffering up to `capacity` of them.
    pub(crate) fn add(&self, events: Events, capacity: usize, closed: bool) -> Monitor {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        if !closed {
            let mut list = self.list();
            list.push(Subscriber {
                events,
                tx,
                dropped: dropped.clone(),
            });
            self.active.store(true, Ordering::Relaxed);
        }
        Monitor {
            rx,
            dropped,
            state: End::Running,
        }
    }

    /// Whether anyone listens: callers skip building events when not.
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Hands `event` to every monitor that wants it and has room; counts it as dropped
    /// for the others, and forgets the monitors that were dropped.
    pub(crate) fn emit(&self, event: MonitorEvent) {
        if !self.is_active() {
            return;
        }
        tracing::trace!(%event, "monitor event");
        let mut list = self.list();
        list.retain(|s| {
            if !s.events.contains(&event.kind) {
                return !s.tx.is_closed();
            }
            match s.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if list.is_empty() {
            self.active.store(false, Ordering::Relaxed);
        }
    }

    /// Raises an event of `kind` on `endpoint`, if anyone listens.
    #[inline]
    pub(crate) fn raise(
        &self,
        kind: impl FnOnce() -> EventKind,
        endpoint: &str,
        peer_address: Option<&str>,
        routing_id: Option<&Bytes>,
    ) {
        if self.is_active() {
            self.raise_now(kind(), endpoint, peer_address, routing_id);
        }
    }

    /// [`Monitors::raise`]'s work, kept out of the transports' poll functions.
    #[cold]
    #[inline(never)]
    fn raise_now(
        &self,
        kind: EventKind,
        endpoint: &str,
        peer_address: Option<&str>,
        routing_id: Option<&Bytes>,
    ) {
        self.emit(MonitorEvent {
            kind,
            endpoint: endpoint.to_owned(),
            peer_address: peer_address.map(str::to_owned),
            routing_id: routing_id.cloned(),
        });
    }

    /// The socket is gone: every monitor yields MONITOR_STOPPED once it has read what it
    /// holds, then ends.
    pub(crate) fn stop(&self) {
        self.list().clear();
        self.active.store(false, Ordering::Relaxed);
    }
}

/// The event a handshake that failed with `error` raises, as libzmq's engine and
/// mechanisms classify it: authentication refused (by our ZAP handler, or the peer's:
/// an ERROR whose reason is a 3xx/4xx/5xx status code) is HANDSHAKE_FAILED_AUTH; the
/// peer breaking the protocol is HANDSHAKE_FAILED_PROTOCOL with libzmq's code; anything
/// else (a timeout) has no detail.
pub(crate) fn handshake_failure(error: &zmtp_codec::Error) -> EventKind {
    use protocol_error as p;
    use zmtp_codec::Error as E;
    let reason = error.to_string();
    let code = match error {
        E::Failed(inner) => return handshake_failure(inner),
        E::AuthenticationFailed { status_code, .. } => {
            return EventKind::HandshakeFailedAuth {
                status_code: *status_code,
                reason,
            }
        }
        E::PeerError(text) => match status_code(text) {
            Some(status_code) => {
                return EventKind::HandshakeFailedAuth {
                    status_code,
                    reason,
                }
            }
            None => p::ZMTP_UNSPECIFIED,
        },
        E::HandshakeTimeout | E::HeartbeatTimeout => {
            return EventKind::HandshakeFailedNoDetail {
                errno: ETIMEDOUT,
                reason,
            }
        }
        E::MechanismMismatch { .. } | E::RoleMismatch(_) => p::ZMTP_MECHANISM_MISMATCH,
        E::UnexpectedCommand(_) | E::UnexpectedMessage => p::ZMTP_UNEXPECTED_COMMAND,
        E::MalformedCommand(_) | E::CommandWithMore => p::ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        E::MalformedMechanismCommand { command, .. } => match *command {
            "HELLO" => p::ZMTP_MALFORMED_COMMAND_HELLO,
            "WELCOME" => p::ZMTP_MALFORMED_COMMAND_WELCOME,
            "INITIATE" => p::ZMTP_MALFORMED_COMMAND_INITIATE,
            "READY" => p::ZMTP_MALFORMED_COMMAND_READY,
            "ERROR" => p::ZMTP_MALFORMED_COMMAND_ERROR,
            "MESSAGE" => p::ZMTP_MALFORMED_COMMAND_MESSAGE,
            _ => p::ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        },
        E::MalformedProperty(_)
        | E::MissingSocketType
        | E::UnknownSocketType(_)
        | E::IncompatibleSocketType { .. } => p::ZMTP_INVALID_METADATA,
        E::CurveUnsupportedVersion { .. }
        | E::CurveBoxOpenFailed { .. }
        | E::CurveNonceReplay { .. }
        | E::CurveNonceGap { .. }
        | E::CurveBadCookie
        | E::CurveBadVouch => p::ZMTP_CRYPTOGRAPHIC,
        _ => p::ZMTP_UNSPECIFIED,
    };
    EventKind::HandshakeFailedProtocol { code, reason }
}

/// The ZAP status code an ERROR reason is, if it is one (libzmq: exactly three digits,
/// `300`, `400` or `500`).
fn status_code(reason: &str) -> Option<u16> {
    match reason {
        "300" => Some(300),
        "400" => Some(400),
        "500" => Some(500),
        _ => None,
    }
}

/// A listener closed (unbind, or the socket's drop): CLOSED, as libzmq's listener raises.
pub(crate) fn listener_closed(shared: &Shared, endpoint: &str) {
    shared
        .monitors
        .raise(|| EventKind::Closed, endpoint, None, None);
}

/// `ETIMEDOUT` (Linux), the errno of a handshake that timed out.
const ETIMEDOUT: i32 = 110;

impl<T: SocketKind> Socket<T> {
    /// A stream of this socket's events (every kind), buffering up to
    /// [`Monitor::DEFAULT_CAPACITY`] of them: see [`Socket::monitor_with`].
    pub fn monitor(&self) -> Monitor {
        self.monitor_with(Events::ALL, Monitor::DEFAULT_CAPACITY)
    }

    /// A stream of this socket's events of the kinds in `events`, buffering up to
    /// `capacity` of them (at least 1).
    ///
    /// A socket can have any number of monitors; each gets every event from its creation
    /// on. A monitor that is not read never slows the socket: once its buffer is full, new
    /// events for it are dropped and counted in [`Monitor::dropped`]. The stream yields
    /// [`EventKind::MonitorStopped`] and ends when the socket is dropped.
    pub fn monitor_with(&self, events: Events, capacity: usize) -> Monitor {
        let shared = self.shared();
        shared.monitors.add(events, capacity, shared.is_closed())
    }

    /// libzmq's `zmq_socket_monitor(socket, endpoint, events)`: publishes this socket's
    /// events on a PAIR socket bound to `endpoint` (which must be `inproc://`), one
    /// two-frame message per event in libzmq's layout (see
    /// [`MonitorEvent::to_libzmq_message`]), so that code written against libzmq's monitor
    /// reads them unchanged from a PAIR connected there.
    ///
    /// Unlike libzmq's, this PAIR never blocks the socket: events it cannot take (no peer
    /// connected yet, or the peer not reading and its HWM reached) are dropped. Connect
    /// the reading PAIR before the events it must see. It publishes until the socket is
    /// dropped, ending with MONITOR_STOPPED.
    pub async fn monitor_endpoint(&self, endpoint: &str, events: Events) -> Result<()> {
        if !endpoint.starts_with("inproc://") {
            return Err(crate::Error::TransportUnsupported(format!(
                "{endpoint}: the monitor endpoint must be inproc"
            )));
        }
        let mut pair: Socket<kind::Pair> = Socket::new();
        pair.bind(endpoint).await?;
        let mut monitor = self.monitor_with(events, Monitor::DEFAULT_CAPACITY);
        tokio::spawn(async move {
            while let Some(event) = monitor.next().await {
                let stopped = event.kind == EventKind::MonitorStopped;
                if pair.try_send(event.to_libzmq_message()).is_err() {
                    monitor.dropped.fetch_add(1, Ordering::Relaxed);
                }
                if stopped {
                    // Stay until the reader took MONITOR_STOPPED (or left).
                    break;
                }
            }
        });
        Ok(())
    }
}
