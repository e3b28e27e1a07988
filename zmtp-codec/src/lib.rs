//! A sans-IO ZMTP codec: everything a ZeroMQ connection decides, and no I/O.
//!
//! It speaks ZMTP 3.1 and 3.0 (RFC 23, RFC 37) with the NULL, PLAIN (RFC 24) and CURVE
//! (RFC 25/26, see `mechanism::curve`; the `curve` feature, on by default) security
//! mechanisms, and downgrades to ZMTP 2.0 (RFC 15) and 1.0 (RFC 13) peers, so one
//! [`Connection`] talks to every ZeroMQ peer since 2011. No tokio, no sockets, no clock
//! reads: bytes and instants go in, bytes, events and deadlines come out.
//!
//! ```
//! use std::time::Instant;
//! use zmtp_codec::{Config, Connection, Event, SocketType};
//!
//! let now = Instant::now();
//! let mut client = Connection::new(Config::new(SocketType::Req), now).unwrap();
//! let mut server = Connection::new(Config::new(SocketType::Rep), now).unwrap();
//! // A transport would carry these bytes; here they go straight across.
//! for _ in 0..4 {
//!     while let Some(b) = client.poll_transmit() { server.handle_input(now, &b).unwrap(); }
//!     while let Some(b) = server.poll_transmit() { client.handle_input(now, &b).unwrap(); }
//! }
//! let Ok(Some(Event::HandshakeSucceeded(peer))) = server.poll_event() else { panic!() };
//! assert_eq!(peer.socket_type, Some(SocketType::Req));
//! assert_eq!(peer.version, (3, 1));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod command;
mod connection;
mod encoder;
mod error;
pub mod frame;
pub mod greeting;
mod group;
pub mod mechanism;
mod message;
mod message_frame;
pub mod metadata;
mod socket_type;
mod subscription;
pub mod z85;
pub mod zws;

pub use command::Command;
pub use connection::{
    Config, Connection, Event, Handshake, FRAME_OVERHEAD, MAX_HANDSHAKE_FRAME, MAX_READ_RESERVE,
    MIN_READ_SPACE, ZERO_COPY_THRESHOLD,
};
pub use encoder::Encoder;
pub use error::Error;
pub use group::{Group, GroupTooLong, Membership, MAX_GROUP_LEN};
#[cfg(feature = "curve")]
#[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
pub use mechanism::curve::{CurveKeyPair, CurveSecretKey};
pub use mechanism::{AuthReply, AuthRequest, MechanismConfig};
pub use message::Message;
pub use message_frame::Frame;
pub use metadata::Metadata;
pub use socket_type::SocketType;
pub use subscription::Subscription;
