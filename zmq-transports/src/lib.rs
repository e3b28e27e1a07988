//! Endpoint parsing and Tokio transports for ZeroMQ.
//!
//! This crate turns an endpoint string into something the engine can talk through. It knows
//! nothing of ZMTP or of socket types; `zmq-async` drives the protocol over what it returns.
//!
//! # Layout: three families of transport
//!
//! | family ([`TransportKind`]) | endpoints | what the engine gets |
//! |---|---|---|
//! | [`ByteStream`](TransportKind::ByteStream) | `tcp://`, `ipc://` | a [`Stream`] (`AsyncRead + AsyncWrite`) from [`connect`] or [`Listener::accept`]; the engine runs a ZMTP connection over it |
//! | [`Inproc`](TransportKind::Inproc) | `inproc://` | only the parsed name: the sockets join their pipes directly, through `zmq-async`'s own rendezvous; no bytes, no codec |
//! | [`WebSocket`](TransportKind::WebSocket) | `ws://`, `wss://` | a tcp [`Stream`] from [`connect`] or [`Listener::accept`], then [`ws::client_handshake`] / [`ws::server_handshake`] turn it into a [`ws::WsStream`] of whole ZWS messages |
//! | [`Datagram`](TransportKind::Datagram) | `pgm://`, `epgm://`, `udp://` | whole messages from a [`multicast::PgmReceiver`], to a [`multicast::PgmSender`], the [`pgm`] core underneath; for `udp://` (RADIO/DISH) one message a datagram, from a [`udp::UdpReceiver`], to a [`udp::UdpSender`] |
//!
//! - [`endpoint`]: [`Endpoint`] and its parts; strict parsing, a [`Display`](std::fmt::Display)
//!   that round-trips.
//! - [`tcp`], [`ipc`]: one module per byte-stream transport, each with `bind` and `connect`.
//!   [`stream`] unifies them ([`Stream`], [`Listener`], [`bind`], [`connect`]).
//! - inproc has no module here. Linking two sockets needs both sockets' options (the pipe's
//!   HWM is the sender's SNDHWM plus the receiver's RCVHWM) and whether the binder is alive,
//!   so the rendezvous lives beside the sockets, in `zmq-async`, as libzmq keeps it in the
//!   context; this crate only parses `inproc://name`.
//! - [`pgm`]: the sans-IO PGM core (packets, source, receiver, libzmq's TSDU framing);
//!   [`multicast`]: its Tokio driver over UDP (`epgm`) or raw IP (`pgm`). Datagram
//!   transports are not byte streams: the driver frames whole messages into packets itself,
//!   so it has its own entry points rather than a [`Stream`] variant, and
//!   [`bind`]/[`connect`] answer [`Error::Unsupported`] for those endpoints.
//!
//! Errors: [`ParseError`] for a malformed endpoint string, [`Error`] for everything else
//! (it wraps [`ParseError`] too).
//!
//! # Example
//!
//! Bind on a port the system picks, read back the real endpoint, connect to it:
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use zmq_transports::{bind, connect, Endpoint, StreamOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = StreamOptions::default();
//! let listener = bind(&"tcp://127.0.0.1:*".parse()?, &options).await?;
//! let bound: Endpoint = listener.local_endpoint(); // e.g. tcp://127.0.0.1:41234
//! assert!(bound.to_string().starts_with("tcp://127.0.0.1:"));
//!
//! let (client, accepted) = tokio::join!(connect(&bound, &options), listener.accept());
//! let (mut client, (mut server, peer)) = (client?, accepted?);
//! client.write_all(b"\xff").await?;
//! assert_eq!(server.read_u8().await?, 0xff);
//! println!("accepted {peer}");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod endpoint;
mod error;
pub mod ipc;
pub mod multicast;
pub mod pgm;
pub mod stream;
pub mod tcp;
pub mod udp;
pub mod ws;

pub use endpoint::{
    Endpoint, Host, IpcEndpoint, ParseError, ParseErrorKind, PgmEndpoint, Port, TcpEndpoint,
    UdpEndpoint, WsEndpoint,
};
pub use error::Error;
pub use stream::{
    bind, connect, Listener, PeerAddr, Stream, StreamOptions, StreamReader, StreamWriter,
};
pub use tcp::TcpOptions;

/// The three families of transport, which the engine drives differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// tcp and ipc: a reliable, ordered byte stream carrying ZMTP.
    ByteStream,
    /// inproc: sockets exchange message pipes directly; no bytes, no codec.
    Inproc,
    /// pgm and epgm: reliable multicast over datagrams; udp: one message a datagram.
    Datagram,
    /// ws and wss: ZWS 2.0 messages over a WebSocket over tcp (see [`ws`]); the listener
    /// and the connection are tcp's, the WebSocket handshake comes after.
    WebSocket,
}
