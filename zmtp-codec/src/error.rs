//! The codec's error type.

use bytes::Bytes;

use crate::SocketType;

/// Everything that can go wrong in a ZMTP connection.
///
/// Variants fall in three groups: malformed input from the peer (the bytes break the
/// grammar), a peer that misbehaves (well-formed bytes at the wrong time, or a refusal),
/// and mistakes by the caller. Errors from the first two groups are sticky: the
/// [`Connection`](crate::Connection) is dead afterwards and only its pending output (for
/// example an ERROR command) may still be flushed. Caller mistakes leave it usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input -------------------------------------------------------------
    /// The peer's greeting signature is not `FF … 7F`.
    #[error("malformed greeting: bad signature")]
    BadSignature,
    /// The mechanism field of the greeting is not NUL-padded printable ASCII.
    #[error("malformed greeting: bad mechanism name")]
    BadMechanismName,
    /// A frame's flags byte has reserved bits set.
    #[error("malformed frame: reserved flag bits set in {0:#04x}")]
    ReservedFlags(u8),
    /// A command frame carries the MORE flag.
    #[error("malformed frame: command frame with MORE flag")]
    CommandWithMore,
    /// A ZMTP 1.0 frame declared a length of zero (the length includes the flags byte).
    #[error("malformed frame: ZMTP 1.0 frame with zero length")]
    ZeroLengthV1Frame,
    /// ZWS (RFC 45): a WebSocket message that is not binary (text, or a fragment).
    #[error("malformed ZWS message: not a binary WebSocket message")]
    ZwsNotBinary,
    /// ZWS: a binary WebSocket message without its flags byte.
    #[error("malformed ZWS message: empty (no flags byte)")]
    ZwsEmptyMessage,
    /// ZWS: the flags byte has bits other than MORE (`0x01`) and COMMAND (`0x02`) set.
    #[error("malformed ZWS message: reserved flag bits set in {0:#04x}")]
    ZwsReservedFlags(u8),
    /// A frame, or a multipart message as it accumulates, is larger than `maxmsgsize`
    /// (checked from each frame header, before the body is buffered). A multipart message
    /// counts its bodies plus [`FRAME_OVERHEAD`](crate::FRAME_OVERHEAD) for every frame
    /// after the first.
    #[error("message of {size} bytes exceeds maxmsgsize {max}")]
    MessageTooLarge {
        /// The size declared by the frame header, or the cost of the message so far.
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A frame header declares a size that cannot be allocated (beyond the address space,
    /// or refused by the allocator), whatever `maxmsgsize` says. libzmq fails the same way
    /// when it cannot allocate the message.
    #[error("frame of {size} bytes cannot be allocated")]
    FrameTooLargeToAllocate {
        /// The size declared by the frame header.
        size: u64,
    },
    /// A command frame is empty or its name length runs past the end of the frame.
    #[error("malformed command: {0}")]
    MalformedCommand(&'static str),
    /// A metadata property (READY, INITIATE) is truncated or its name is invalid.
    #[error("malformed property: {0}")]
    MalformedProperty(&'static str),
    /// A PLAIN or CURVE command body does not match its layout.
    #[error("malformed {command} command: {reason}")]
    MalformedMechanismCommand {
        /// The command name.
        command: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A CURVE HELLO announces a CurveZMQ version other than 1.0.
    #[error("unsupported CurveZMQ version {major}.{minor}")]
    CurveUnsupportedVersion {
        /// Major version sent.
        major: u8,
        /// Minor version sent.
        minor: u8,
    },
    /// RADIO/DISH traffic that breaks RFC 48: a DISH got a message that is not a group
    /// frame (at most 255 bytes, libzmq 4.3.5's limit, with MORE) and one body frame, or a
    /// command; a RADIO got a message, or a command other than JOIN and LEAVE, or a JOIN
    /// or LEAVE for a group longer than 255 bytes.
    #[error("malformed RADIO/DISH traffic: {0}")]
    MalformedGroupTraffic(&'static str),
    /// The peer's Socket-Type property (or ZMTP 2.0 socket-type byte) names no socket type.
    #[error("unknown socket type {0:?}")]
    UnknownSocketType(Bytes),

    // ---- peer misbehaviour -----------------------------------------------------------
    /// The peer uses another security mechanism than ours.
    #[error("mechanism mismatch: we use {ours}, the peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism.
        ours: &'static str,
        /// The peer's mechanism, as sent.
        theirs: String,
    },
    /// Both peers claim the server role for PLAIN or CURVE. (A peer claiming the client
    /// role proves nothing: libzmq sends as-server 0 in every role.)
    #[error("both peers claim the {0} role")]
    RoleMismatch(&'static str),
    /// A command arrived that is not allowed in the current state.
    #[error("unexpected command {0:?}")]
    UnexpectedCommand(Bytes),
    /// A message frame arrived during the security handshake.
    #[error("message frame received before the handshake completed")]
    UnexpectedMessage,
    /// The peer's READY (or INITIATE) lacks the Socket-Type property.
    #[error("peer metadata has no Socket-Type")]
    MissingSocketType,
    /// The socket types cannot talk to each other (RFC 37 table).
    #[error("incompatible socket types: {ours:?} cannot talk to {theirs:?}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's socket type.
        theirs: SocketType,
    },
    /// The peer sent an ERROR command.
    #[error("peer sent ERROR: {0}")]
    PeerError(String),
    /// The authenticator (ZAP) refused the peer, or our credentials were refused.
    #[error("authentication failed: {status_code} {status_text}")]
    AuthenticationFailed {
        /// The ZAP status code (300, 400, 500).
        status_code: u16,
        /// The status text.
        status_text: String,
    },
    /// A ZMTP 1.0/2.0 peer connected while authentication is required (they cannot authenticate).
    #[error("ZMTP {0}.0 peer refused: authentication is required")]
    LegacyPeerRefused(u8),
    /// While the authenticator decided, the peer sent more than one handshake frame's
    /// worth of bytes (a real peer waits for our answer).
    #[error("peer sent {buffered} bytes while its handshake waited (at most {max})")]
    HandshakeOverrun {
        /// Bytes buffered.
        buffered: u64,
        /// The most allowed.
        max: u64,
    },
    /// The handshake did not complete within `handshake_ivl`.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No traffic from the peer within the heartbeat timeout or the peer's TTL.
    #[error("heartbeat timed out")]
    HeartbeatTimeout,
    /// A CURVE box did not open: sealed with other keys (for HELLO: the client has the
    /// wrong server key), or altered in transit.
    #[error("CURVE {command} box does not open (wrong key or altered bytes)")]
    CurveBoxOpenFailed {
        /// The command whose box failed.
        command: &'static str,
    },
    /// A CURVE short nonce is not greater than the last one from the peer: a replayed or
    /// reordered command.
    #[error("CURVE {command} nonce {nonce} is not greater than the last one ({last})")]
    CurveNonceReplay {
        /// The command carrying the nonce.
        command: &'static str,
        /// The nonce received.
        nonce: u64,
        /// The last nonce accepted from the peer.
        last: u64,
    },
    /// A CURVE MESSAGE nonce skipped ahead: frames were removed from the stream.
    #[error("CURVE {command} nonce {nonce} skips ahead of {expected}: frames are missing")]
    CurveNonceGap {
        /// The command carrying the nonce.
        command: &'static str,
        /// The nonce received.
        nonce: u64,
        /// The nonce that had to come next.
        expected: u64,
    },
    /// The cookie in a CURVE INITIATE is not the one our WELCOME gave (altered, or from
    /// another handshake).
    #[error("CURVE INITIATE carries a cookie we did not issue")]
    CurveBadCookie,
    /// The vouch in a CURVE INITIATE does not open with the client's key, or does not name
    /// this handshake's transient key and our public key.
    #[error("CURVE INITIATE carries an invalid vouch")]
    CurveBadVouch,
    /// The connection failed earlier; this is returned for every later input.
    #[error("connection already failed: {0}")]
    Failed(Box<Error>),

    // ---- caller mistakes -------------------------------------------------------------
    /// A message was queued before the handshake completed.
    #[error("handshake not complete")]
    NotReady,
    /// A message with no frames.
    #[error("empty message (no frames)")]
    EmptyMessage,
    /// A configuration value is out of range (for example a routing id longer than 255 bytes).
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// `handle_auth_reply` was called when no authentication request was pending.
    #[error("no authentication request is pending")]
    NoAuthPending,

    // ---- local failures --------------------------------------------------------------
    /// The operating system could not provide random bytes for CURVE keys or nonces.
    #[error("the operating system's random source failed")]
    RandomnessUnavailable,
}

impl Error {
    /// True for errors caused by the caller; they do not fail the connection.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            Error::NotReady | Error::EmptyMessage | Error::InvalidConfig(_) | Error::NoAuthPending
        )
    }
}
