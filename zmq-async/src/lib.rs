//! Async ZeroMQ sockets on Tokio.
//!
//! Every socket is a [`Socket<T>`] for a socket type `T` (aliases:
//! [`PushSocket`], [`PullSocket`], [`ReqSocket`], …). Receiving sockets are a
//! [`futures::Stream`] of `Result<Message>`, sending sockets a
//! [`futures::Sink<Message>`]; both also offer cancel-safe `send`/`recv`.
//!
//! Inside, each peer is a pair of [`pipe`]s of whole messages with a
//! high-water mark; socket types compose a few parts (load balancer, fair
//! queue, routing table, distributor, subscription tries) over those pipes. Transports
//! attach peers through a [`SocketHandle`].
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

#[cfg(test)]
mod bounds_tests;
mod dist;
mod error;
mod fq;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod inproc;
mod lb;
mod net;
mod options;
mod peer;
pub mod pipe;
mod random;
mod round_robin;
mod routing;
mod slab;
mod socket;
mod socket_base;
mod socket_types;
mod trie;
pub mod zap;

pub use error::{Error, Result, TrySendError};
pub use options::{Security, SocketOptions};
pub use peer::{PeerId, PeerInfo, PeerLink, PeerPipes, SocketHandle, SocketType};
pub use socket::{kind, CanRecv, CanSend, Socket, SocketKind};
pub use zmtp_codec::Message;

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
