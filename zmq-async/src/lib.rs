//! Async ZeroMQ sockets on Tokio.
//!
//! Every socket is a [`Socket<T>`] for a socket type `T` (aliases:
//! [`PushSocket`], [`PullSocket`], [`ReqSocket`], …). Receiving sockets are a
//! [`futures::Stream`] of `Result<Message>`, sending sockets a
//! [`futures::Sink<Message>`]; both also offer cancel-safe `send`/`recv`. A socket
//! used from many tasks splits into a cloneable [`SendHalf`] and a [`RecvHalf`]
//! ([`split`]); [`proxy()`] joins two sockets, as libzmq's `zmq_proxy`.
//!
//! As Tokio's own sockets and channels do, the sockets' futures, streams and sinks spend the
//! task's cooperative budget (`tokio::task::coop`), one unit for every 32 operations: a task
//! that sends without ever waiting (a PUB, a socket below a high HWM) or receives from a
//! queue that never empties yields to the runtime once in 4,096 operations, so the program's
//! other tasks, and the connections' tasks that write what it queues, still run. A message
//! sent to many peers (PUB, XPUB, RADIO) counts once for each. The `try_*` methods spend
//! none.
//!
//! The draft thread-safe types (CLIENT, SERVER, SCATTER, GATHER, PEER, CHANNEL, RADIO,
//! DISH) are
//! [`ThreadSafeSocket`]s instead ([`ClientSocket`], [`ServerSocket`], …): `Send + Sync`,
//! every method `&self`, one frame a message (see [`thread_safe`]).
//!
//! Inside, each peer is a pair of pipes of whole messages with a
//! high-water mark; socket types compose a few parts (load balancer, fair
//! queue, routing table, distributor, subscription tries) over those pipes. Transports
//! attach peers through a `SocketHandle`.
//!
//! Transports: `tcp://`, `ipc://`, `inproc://`, `ws://` and `wss://` (ZWS 2.0, RFC 45,
//! interoperable with libzmq 4.3.5's; every type but STREAM; wss on rustls with the
//! `wss_*` options), for PUB/XPUB/SUB/XSUB `epgm://` and `pgm://` (PGM multicast,
//! interoperable with libzmq's; losses it cannot repair are counted in
//! [`Socket::multicast_stats`]), and for RADIO/DISH `udp://` (RFC 48's datagrams, unicast
//! or multicast: a RADIO connects, a DISH binds).
//!
//! # Events, counters and tracing
//!
//! [`Socket::monitor`] returns a [`Monitor`], a [`futures::Stream`] of [`MonitorEvent`]s
//! with libzmq's names and meanings ([`EventKind`]: LISTENING, ACCEPTED, CONNECTED,
//! CONNECT_RETRIED, HANDSHAKE_SUCCEEDED, DISCONNECTED, …), each with the endpoint, the
//! peer's address and, after the handshake, its routing id. A socket can have any number of
//! monitors; each buffers a bounded number of events and **drops** (and counts, in
//! [`Monitor::dropped`]) those it has no room for, so a slow or forgotten monitor never slows
//! the socket. [`Socket::monitor_endpoint`] is libzmq's `zmq_socket_monitor`: the same
//! events as two-frame messages on an inproc PAIR, in libzmq's byte layout. See the
//! [`monitor`] module for where each event is raised.
//!
//! [`Socket::stats`] returns a [`SocketStats`]: messages and bytes in and out over tcp and
//! ipc, messages dropped at the HWM, reconnects and handshake failures (relaxed atomics,
//! added to once per batch).
//!
//! Each socket has a `tracing` span, `zmq.socket` (DEBUG, fields `type`, `id`, `endpoints`),
//! the parent of its listeners' (`zmq.listen`), connects' (`zmq.connect`) and connections'
//! (`zmq.peer`) spans, where the transports log.
//!
//! ```
//! use futures::StreamExt;
//! use zmq_async::{DealerSocket, EventKind, RouterSocket};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zmq_async::Error> {
//! let mut router = RouterSocket::new();
//! let mut events = router.monitor();
//! let endpoint = router.bind("tcp://127.0.0.1:0").await?;
//! let mut dealer = DealerSocket::new();
//! dealer.connect(&endpoint).await?;
//!
//! let kinds: Vec<EventKind> = events.by_ref().take(3).map(|e| e.kind).collect().await;
//! assert_eq!(
//!     kinds,
//!     [EventKind::Listening, EventKind::Accepted, EventKind::HandshakeSucceeded]
//! );
//! assert_eq!(router.stats().handshake_failures, 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `curve` (default): CURVE security, with its crypto dependencies. Without it the
//!   CURVE options fail with [`Error::InvalidArgument`].
//! - `unstable-transport`: the plumbing a transport uses to attach peers to a socket
//!   (`Socket::handle`, `SocketHandle`, `PeerLink`, `PeerPipes`, the `pipe` module), for
//!   custom transports, tests and fuzzing. It follows the sockets' insides and may change
//!   in any release.
//!
//! ```
//! use zmq_async::{PullSocket, PushSocket, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zmq_async::Error> {
//! let mut pull = PullSocket::new();
//! let endpoint = pull.bind("inproc://doc-example").await?;
//! let mut push = PushSocket::new();
//! push.connect(&endpoint).await?;
//!
//! push.send(Message::from("hello")).await?;
//! let msg = pull.recv().await?;
//! assert_eq!(&msg[0][..], b"hello");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
mod bounds_tests;
mod coop;
mod dist;
mod error;
mod fq;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod inproc;
mod lb;
pub mod monitor;
mod net;
mod options;
// What only the `unstable-transport` API uses is dead without it.
#[cfg_attr(not(feature = "unstable-transport"), allow(dead_code))]
mod peer;
#[cfg(feature = "unstable-transport")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable-transport")))]
pub mod pipe;
#[cfg(not(feature = "unstable-transport"))]
#[allow(dead_code)] // what only the `unstable-transport` API uses
mod pipe;
pub mod proxy;
mod random;
mod round_robin;
mod routing;
mod shared_socket;
mod slab;
mod socket;
mod socket_base;
mod socket_types;
pub mod split;
mod stats;
pub mod thread_safe;
mod trie;
pub mod zap;

pub use error::{Error, Result, TrySendError};
pub use monitor::{EventKind, Events, Monitor, MonitorEvent};
pub use net::MulticastStats;
pub use options::{ReconnectStop, RouterNotify, Security, SocketOptions};
#[cfg(feature = "unstable-transport")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable-transport")))]
pub use peer::{PeerId, PeerLink, PeerPipes, SocketHandle};
pub use peer::{PeerInfo, SocketType};
pub use proxy::{proxy, Counters, Proxy, ProxyPair, Statistics};
pub use socket::{kind, CanRecv, CanSend, Socket, SocketKind};
pub use split::{CanShare, RecvHalf, SendHalf};
pub use stats::SocketStats;
pub use thread_safe::ThreadSafeSocket;
pub use zmtp_codec::{Frame, Group, Message};

/// PAIR socket.
pub type PairSocket = Socket<kind::Pair>;
/// PUB socket.
pub type PubSocket = Socket<kind::Pub>;
/// SUB socket.
pub type SubSocket = Socket<kind::Sub>;
/// REQ socket.
pub type ReqSocket = Socket<kind::Req>;
/// REP socket.
pub type RepSocket = Socket<kind::Rep>;
/// DEALER socket.
pub type DealerSocket = Socket<kind::Dealer>;
/// ROUTER socket.
pub type RouterSocket = Socket<kind::Router>;
/// PULL socket.
pub type PullSocket = Socket<kind::Pull>;
/// PUSH socket.
pub type PushSocket = Socket<kind::Push>;
/// XPUB socket.
pub type XPubSocket = Socket<kind::XPub>;
/// XSUB socket.
pub type XSubSocket = Socket<kind::XSub>;
/// STREAM socket (libzmq's `ZMQ_STREAM`): raw bytes with plain tcp or ipc peers, no ZMTP.
///
/// Every connection, accepted or made by `connect`, has a routing id (generated as libzmq
/// does, a zero byte and a `u32`, or `connect_routing_id` for a `connect`; a `connect`
/// keeps it across reconnects). What a connection sends arrives as `[routing id, bytes]`,
/// one message per read (at most 8 KiB); with `stream_notify` (on by default) its arrival
/// and its departure each arrive as `[routing id, empty]`. Sending `[routing id, bytes]`
/// writes the bytes; `[routing id, empty]` closes that connection once what was sent to it
/// before is written. An unknown routing id fails with [`Error::HostUnreachable`], a
/// message of other than two frames with [`Error::InvalidArgument`]; a send waits while
/// its connection's queue is at `sndhwm`. At `rcvhwm` messages queued from a connection,
/// nothing more is read from it. inproc endpoints are refused.
pub type StreamSocket = Socket<kind::Stream>;
/// CLIENT socket (draft, thread-safe; RFC 41).
pub type ClientSocket = ThreadSafeSocket<kind::Client>;
/// SERVER socket (draft, thread-safe; RFC 41).
pub type ServerSocket = ThreadSafeSocket<kind::Server>;
/// SCATTER socket (draft, thread-safe; RFC 49).
pub type ScatterSocket = ThreadSafeSocket<kind::Scatter>;
/// GATHER socket (draft, thread-safe; RFC 49).
pub type GatherSocket = ThreadSafeSocket<kind::Gather>;
/// PEER socket (draft, thread-safe; RFC 51).
pub type PeerSocket = ThreadSafeSocket<kind::Peer>;
/// CHANNEL socket (draft, thread-safe; RFC 52).
pub type ChannelSocket = ThreadSafeSocket<kind::Channel>;
/// RADIO socket (draft, thread-safe; RFC 48): each message goes to the DISHes that joined
/// its group ([`Message::set_group`]); over tcp, ipc, inproc and `udp://` (connect).
pub type RadioSocket = ThreadSafeSocket<kind::Radio>;
/// DISH socket (draft, thread-safe; RFC 48): receives the messages of the groups it
/// [joined](ThreadSafeSocket::join), each with its group ([`Message::group`]); over tcp,
/// ipc, inproc and `udp://` (bind).
pub type DishSocket = ThreadSafeSocket<kind::Dish>;
