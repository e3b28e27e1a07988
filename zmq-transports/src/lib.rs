//! Endpoint parsing and Tokio transports for ZeroMQ.
#![forbid(unsafe_code)]

pub mod endpoint;
mod error;
pub mod inproc;
pub mod ipc;
pub mod stream;
pub mod tcp;

pub use endpoint::{
    Endpoint, Host, IpcEndpoint, ParseError, ParseErrorKind, PgmEndpoint, Port, TcpEndpoint,
};
pub use error::Error;
pub use stream::{bind, connect, Listener, PeerAddr, Stream, StreamOptions};
pub use tcp::TcpOptions;

/// The three families of transport, which the engine drives differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// tcp and ipc: a reliable, ordered byte stream carrying ZMTP.
    ByteStream,
    /// inproc: sockets exchange message pipes directly; no bytes, no codec.
    Inproc,
    /// pgm and epgm: reliable multicast over datagrams.
    Datagram,
}
