//! The one error type of the socket layer.

use std::task::Poll;

use zmtp_codec::Message;

use crate::SocketType;

/// Errors returned by sockets. Variants mirror the libzmq `errno` values a
/// ZeroMQ user knows; the libzmq name is given in each description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation cannot complete now (`EAGAIN`): returned by the
    /// non-blocking `try_send`/`try_recv`, and by ROUTER with
    /// `router_mandatory` when the addressed peer is at its HWM.
    #[error("operation would block (EAGAIN)")]
    WouldBlock,
    /// ROUTER with `router_mandatory`: no peer has that routing id (`EHOSTUNREACH`).
    #[error("no peer with that routing id (EHOSTUNREACH)")]
    HostUnreachable,
    /// The operation is not valid in the socket's current state (`EFSM`),
    /// e.g. REQ sending twice without receiving the reply.
    #[error("operation not valid in the current state (EFSM): {0}")]
    InvalidState(&'static str),
    /// The socket type does not support the operation (`ENOTSUP`).
    #[error("operation not supported by this socket type (ENOTSUP): {0}")]
    NotSupported(&'static str),
    /// The peer's socket type cannot talk to ours (RFC 28–31 pairing rules).
    #[error("incompatible socket type: {local} cannot talk to {peer}")]
    IncompatibleSocketType {
        /// Our socket type.
        local: SocketType,
        /// The peer's socket type.
        peer: SocketType,
    },
    /// The endpoint is already bound (`EADDRINUSE`).
    #[error("address already in use (EADDRINUSE): {0}")]
    AddrInUse(String),
    /// `unbind`/`disconnect` of an endpoint this socket did not bind/connect (`ENOENT`).
    #[error("endpoint not found (ENOENT): {0}")]
    EndpointNotFound(String),
    /// The endpoint string could not be parsed (`EINVAL`).
    #[error("invalid endpoint (EINVAL): {0}")]
    InvalidEndpoint(String),
    /// The transport is recognised but not wired into this socket layer yet
    /// (`EPROTONOSUPPORT`).
    #[error("transport not supported yet (EPROTONOSUPPORT): {0}")]
    TransportUnsupported(String),
    /// The transport cannot serve this socket type (`ENOCOMPATPROTO`): `pgm://` and
    /// `epgm://` carry one direction only, so only PUB, XPUB, SUB and XSUB take them.
    #[error("transport not compatible with the socket type (ENOCOMPATPROTO): {0}")]
    IncompatibleTransport(String),
    /// An argument is out of range (`EINVAL`), e.g. a routing id longer than 255 bytes.
    #[error("invalid argument (EINVAL): {0}")]
    InvalidArgument(&'static str),
    /// A message with no frames cannot be sent.
    #[error("message has no frames")]
    EmptyMessage,
    /// The socket (or its sending half) was closed (`ETERM`).
    #[error("socket closed (ETERM)")]
    Closed,
    /// An I/O error from a transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed `try_send`: the error and the message, handed back unsent.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct TrySendError {
    error: Error,
    message: Message,
}

impl TrySendError {
    pub(crate) fn new(error: Error, message: Message) -> Self {
        TrySendError { error, message }
    }

    /// A `try_send`'s outcome from its one poll, with the message it left unsent.
    pub(crate) fn from_poll(sent: Poll<Result<()>>, unsent: Option<Message>) -> Result<(), Self> {
        match sent {
            Poll::Ready(Ok(())) => Ok(()),
            Poll::Ready(Err(e)) => Err(TrySendError::new(e, unsent.unwrap_or_default())),
            Poll::Pending => Err(TrySendError::new(
                Error::WouldBlock,
                unsent.unwrap_or_default(),
            )),
        }
    }

    /// Why the message was not sent.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// True for [`Error::WouldBlock`].
    pub fn is_would_block(&self) -> bool {
        matches!(self.error, Error::WouldBlock)
    }

    /// The unsent message.
    pub fn into_message(self) -> Message {
        self.message
    }

    /// Splits into the error and the unsent message.
    pub fn into_parts(self) -> (Error, Message) {
        (self.error, self.message)
    }
}

impl From<zmtp_codec::GroupTooLong> for Error {
    /// A group over 255 bytes is `EINVAL`, as libzmq's `zmq_msg_set_group`.
    fn from(_: zmtp_codec::GroupTooLong) -> Self {
        Error::InvalidArgument("a group is at most 255 bytes")
    }
}

impl From<TrySendError> for Error {
    fn from(e: TrySendError) -> Self {
        e.error
    }
}
