//! Counters a caller can read ([`Socket::stats`]): traffic, HWM drops, reconnects and
//! handshake failures.
//!
//! The connections count what they move once per batch (a relaxed atomic add per batch
//! of up to 256 messages, and one per read or write call), and the socket counts what
//! its HWMs drop in a plain field, so the counters add nothing measurable per message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use zmtp_codec::SocketType;

use crate::socket::{Socket, SocketKind};

/// A snapshot of a socket's counters since it was created.
///
/// Traffic is what crossed this socket's tcp and ipc connections; inproc peers exchange
/// messages through shared queues and are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketStats {
    /// Messages received from tcp/ipc peers and queued for the socket (subscriptions
    /// included, on PUB and XPUB).
    pub messages_in: u64,
    /// Messages taken from the socket's queues and encoded for tcp/ipc peers.
    pub messages_out: u64,
    /// Of `messages_out`, those the sending task wrote itself, bypassing the connection's
    /// task because the connection was idle (NULL and PLAIN over tcp and ipc).
    pub messages_direct: u64,
    /// Of `messages_in`, those the receiving task read and decoded itself, finding nothing
    /// queued while the connection's stream had bytes (tcp and ipc).
    pub messages_in_direct: u64,
    /// Bytes read from tcp/ipc connections (ZMTP framing and handshakes included).
    pub bytes_in: u64,
    /// Bytes written to tcp/ipc connections (ZMTP framing and handshakes included).
    pub bytes_out: u64,
    /// Messages dropped because a peer's queue was at its HWM (PUB/XPUB and XSUB
    /// publishing, ROUTER without `router_mandatory`, a REP reply), any transport.
    pub hwm_drops: u64,
    /// Connection attempts a connect made after its first (libzmq's CONNECT_RETRIED).
    pub reconnects: u64,
    /// Connections whose handshake failed (protocol, authentication, or no detail).
    pub handshake_failures: u64,
}

/// The counters the connections of a socket add to.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    messages_direct: AtomicU64,
    messages_in_direct: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    reconnects: AtomicU64,
    handshake_failures: AtomicU64,
}

impl Counters {
    #[inline]
    pub(crate) fn received(&self, messages: usize) {
        self.messages_in
            .fetch_add(messages as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn sent(&self, messages: usize) {
        self.messages_out
            .fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// One message written by the sending task (counted in `messages_out` too).
    #[inline]
    pub(crate) fn sent_direct(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.messages_direct.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages the receiving task decoded itself (counted in `messages_in` too).
    #[inline]
    pub(crate) fn received_direct(&self, messages: usize) {
        if messages > 0 {
            self.received(messages);
            self.messages_in_direct
                .fetch_add(messages as u64, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn read(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn written(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, hwm_drops: u64) -> SocketStats {
        SocketStats {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            messages_direct: self.messages_direct.load(Ordering::Relaxed),
            messages_in_direct: self.messages_in_direct.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            hwm_drops,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            handshake_failures: self.handshake_failures.load(Ordering::Relaxed),
        }
    }
}

/// A socket's `tracing` span, `zmq.socket` at DEBUG level, with its type, a number
/// unique in the process, and its endpoints; the spans of its listeners (`zmq.listen`),
/// connects (`zmq.connect`) and connections (`zmq.peer`) are its children.
#[derive(Debug)]
pub(crate) struct SocketSpan {
    pub(crate) span: tracing::Span,
    endpoints: Mutex<Vec<String>>,
}

impl SocketSpan {
    pub(crate) fn new(socket_type: SocketType) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        SocketSpan {
            span: tracing::debug_span!(
                parent: None,
                "zmq.socket",
                r#type = %socket_type,
                id,
                endpoints = tracing::field::Empty,
            ),
            endpoints: Mutex::new(Vec::new()),
        }
    }

    /// Adds a bound (`bind:`) or connected (`connect:`) endpoint to the span's `endpoints`.
    pub(crate) fn add_endpoint(&self, how: &str, endpoint: &str) {
        if self.span.is_disabled() {
            return;
        }
        let mut list = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        list.push(format!("{how}:{endpoint}"));
        self.span.record("endpoints", list.join(" ").as_str());
    }
}

impl<T: SocketKind> Socket<T> {
    /// The socket's counters so far (see [`SocketStats`]). Cheap: a few relaxed loads.
    pub fn stats(&self) -> SocketStats {
        let base = self.base();
        base.shared.counters.snapshot(base.peers.hwm_drops())
    }
}
