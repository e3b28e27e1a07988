//! The crate's error type.

use std::io;

use crate::endpoint::ParseError;

/// Everything that can go wrong while binding or connecting.
///
/// A caller's mistake (a malformed endpoint, connecting to a wildcard, binding to a host
/// name) and a failure of the system or the peer ([`Error::Io`]) are different variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The address is already bound (`EADDRINUSE`), by this process or another.
    #[error("address already in use: {endpoint}")]
    AddrInUse {
        /// The endpoint that could not be bound.
        endpoint: String,
    },
    /// A wildcard (`*`, port `0`, `ipc://*`) was given where a concrete address is needed.
    #[error("cannot connect to wildcard endpoint {endpoint}")]
    WildcardConnect {
        /// The endpoint as given.
        endpoint: String,
    },
    /// Binding to a host name is refused (as libzmq does); bind to an IP address or `*`.
    #[error("cannot bind to host name {host:?}: bind to an IP address or * instead")]
    BindToHostName {
        /// The host name given.
        host: String,
    },
    /// Name resolution produced no address usable under the current options (e.g. only IPv6
    /// addresses while `ipv6` is off).
    #[error("{endpoint}: name resolved to no usable address")]
    NoAddress {
        /// The endpoint being connected.
        endpoint: String,
    },
    /// The endpoint's transport does not carry a byte stream (inproc, pgm, epgm) or has no
    /// implementation yet.
    #[error("{endpoint}: transport {transport} is not supported here")]
    Unsupported {
        /// The endpoint given.
        endpoint: String,
        /// Its scheme.
        transport: &'static str,
    },
    /// A pgm/epgm endpoint names an interface that does not exist or has no IPv4 address.
    #[error("{endpoint}: no interface {interface:?} with an IPv4 address")]
    NoInterface {
        /// The endpoint given.
        endpoint: String,
        /// The interface as written.
        interface: String,
    },
    /// `pgm://` needs a raw IP socket, which this process may not open (it needs
    /// `CAP_NET_RAW`); `epgm://` carries the same protocol over UDP without it.
    #[error("{endpoint}: pgm:// needs raw sockets (CAP_NET_RAW or root); use epgm:// instead")]
    RawSocketDenied {
        /// The endpoint given.
        endpoint: String,
    },
    /// An option's value is out of its range for this transport.
    #[error("{endpoint}: invalid {option} {value}")]
    InvalidOption {
        /// The endpoint being opened.
        endpoint: String,
        /// The option's name (libzmq's, without `ZMQ_`, in lower case).
        option: &'static str,
        /// The value given.
        value: String,
    },
    /// A pgm/epgm session has ended (closed, or stopped by an I/O error reported before).
    #[error("{endpoint}: session closed")]
    SessionClosed {
        /// The session's endpoint.
        endpoint: String,
    },
    /// The WebSocket handshake of a `ws://` or `wss://` connection failed (a peer that is
    /// no WebSocket, refused the upgrade, or offers no ZWS 2.0 subprotocol for our
    /// mechanism).
    #[error("{endpoint}: WebSocket handshake failed: {reason}")]
    WebSocket {
        /// The endpoint, or the peer's address on the accepting side.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// `wss://`: a TLS configuration that cannot be used (a malformed certificate or key,
    /// nothing to trust), or a TLS handshake that failed (an untrusted certificate, a
    /// peer that does not speak TLS).
    #[error("{endpoint}: TLS: {reason}")]
    Tls {
        /// The endpoint, or the peer's address on the accepting side.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// An I/O failure from the system or the peer (resolution, bind, connect, refused, ...).
    #[error("{endpoint}: {source}")]
    Io {
        /// The endpoint involved.
        endpoint: String,
        /// The underlying error; its [`kind`](io::Error::kind) tells refused from unreachable.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(endpoint: &str, source: io::Error) -> Self {
        Error::Io {
            endpoint: endpoint.to_owned(),
            source,
        }
    }

    /// Maps `EADDRINUSE` to [`Error::AddrInUse`], everything else to [`Error::Io`].
    pub(crate) fn bind(endpoint: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::AddrInUse {
            Error::AddrInUse {
                endpoint: endpoint.to_owned(),
            }
        } else {
            Error::io(endpoint, source)
        }
    }
}
