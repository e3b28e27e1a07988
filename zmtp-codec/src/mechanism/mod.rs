//! Security mechanisms behind one interface: NULL, PLAIN (RFC 24) and CURVE (RFC 25/26).
//!
//! A mechanism runs the handshake that follows the greeting, one command at a time, and
//! may wrap every frame afterwards (CURVE boxes them). The [`Connection`](crate::Connection)
//! knows nothing of any mechanism's commands.

#[cfg(feature = "curve")]
#[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
pub mod curve;
mod null;
mod plain;

use bytes::{Bytes, BytesMut};

use crate::frame::{self, Frame, Framing};
use crate::{Error, Metadata};

#[cfg(feature = "curve")]
use curve::{CurveClient, CurveSecretKey, CurveServer};
pub(crate) use null::Null;
pub use plain::{decode_hello, encode_hello};
pub(crate) use plain::{PlainClient, PlainServer};

/// Which mechanism a connection uses, and in which role.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismConfig {
    /// No security (RFC 23 NULL).
    Null,
    /// PLAIN client: sends a username and password.
    PlainClient {
        /// Username (at most 255 bytes).
        username: Bytes,
        /// Password (at most 255 bytes).
        password: Bytes,
    },
    /// PLAIN server: asks the authenticator about every client.
    PlainServer,
    /// CURVE client (libzmq: `ZMQ_CURVE_SERVERKEY` + our key pair): encrypts everything and
    /// authenticates the server by its long-term public key.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    CurveClient {
        /// Our long-term public key C (must belong to `secret_key`).
        public_key: [u8; 32],
        /// Our long-term secret key c.
        secret_key: CurveSecretKey,
        /// The server's long-term public key S.
        server_key: [u8; 32],
    },
    /// CURVE server (libzmq: `ZMQ_CURVE_SERVER` + our key pair): asks the authenticator
    /// about every client's long-term public key.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    CurveServer {
        /// Our long-term public key S (must belong to `secret_key`).
        public_key: [u8; 32],
        /// Our long-term secret key s.
        secret_key: CurveSecretKey,
    },
}

impl std::fmt::Debug for MechanismConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MechanismConfig::Null => f.write_str("Null"),
            MechanismConfig::PlainClient { username, .. } => f
                .debug_struct("PlainClient")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            MechanismConfig::PlainServer => f.write_str("PlainServer"),
            #[cfg(feature = "curve")]
            MechanismConfig::CurveClient {
                public_key,
                server_key,
                ..
            } => f
                .debug_struct("CurveClient")
                .field("public_key", &crate::z85::encode_key(public_key))
                .field("secret_key", &"<redacted>")
                .field("server_key", &crate::z85::encode_key(server_key))
                .finish(),
            #[cfg(feature = "curve")]
            MechanismConfig::CurveServer { public_key, .. } => f
                .debug_struct("CurveServer")
                .field("public_key", &crate::z85::encode_key(public_key))
                .field("secret_key", &"<redacted>")
                .finish(),
        }
    }
}

impl MechanismConfig {
    /// A CURVE client with our key pair, talking to the server whose public key is given.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    pub fn curve_client(ours: &curve::CurveKeyPair, server_key: [u8; 32]) -> Self {
        MechanismConfig::CurveClient {
            public_key: ours.public,
            secret_key: ours.secret.clone(),
            server_key,
        }
    }

    /// A CURVE server with our key pair.
    #[cfg(feature = "curve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "curve")))]
    pub fn curve_server(ours: &curve::CurveKeyPair) -> Self {
        MechanismConfig::CurveServer {
            public_key: ours.public,
            secret_key: ours.secret.clone(),
        }
    }

    /// The mechanism name as it appears in the greeting.
    pub fn name(&self) -> &'static str {
        match self {
            MechanismConfig::Null => "NULL",
            MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => "PLAIN",
            #[cfg(feature = "curve")]
            MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => "CURVE",
        }
    }

    /// The greeting's as-server flag.
    pub fn as_server(&self) -> bool {
        match self {
            MechanismConfig::PlainServer => true,
            #[cfg(feature = "curve")]
            MechanismConfig::CurveServer { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn build(&self, authenticate: bool) -> Result<Box<dyn Mechanism>, Error> {
        Ok(match self {
            MechanismConfig::Null => Box::new(Null::new(authenticate)),
            MechanismConfig::PlainClient { username, password } => {
                if username.len() > 255 || password.len() > 255 {
                    return Err(Error::InvalidConfig(
                        "PLAIN username and password are at most 255 bytes",
                    ));
                }
                Box::new(PlainClient::new(username.clone(), password.clone()))
            }
            MechanismConfig::PlainServer => Box::new(PlainServer::new()),
            #[cfg(feature = "curve")]
            MechanismConfig::CurveClient {
                public_key,
                secret_key,
                server_key,
            } => {
                check_key_pair(public_key, secret_key)?;
                Box::new(CurveClient::mechanism(
                    *public_key,
                    secret_key.clone(),
                    *server_key,
                ))
            }
            #[cfg(feature = "curve")]
            MechanismConfig::CurveServer {
                public_key,
                secret_key,
            } => {
                check_key_pair(public_key, secret_key)?;
                Box::new(CurveServer::mechanism(*public_key, secret_key.clone()))
            }
        })
    }
}

/// A mismatched pair would fail every handshake with a confusing error on the peer's side.
#[cfg(feature = "curve")]
fn check_key_pair(public: &[u8; 32], secret: &CurveSecretKey) -> Result<(), Error> {
    if secret.public_key() == *public {
        Ok(())
    } else {
        Err(Error::InvalidConfig(
            "CURVE public key does not belong to the secret key",
        ))
    }
}

/// A request to the authenticator (ZAP, RFC 27), emitted by a server-side mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// `"NULL"`, `"PLAIN"` or `"CURVE"`.
    pub mechanism: &'static str,
    /// NULL: none; PLAIN: username, password; CURVE: the client's 32-byte public key.
    pub credentials: Vec<Bytes>,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("mechanism", &self.mechanism)
            .field(
                "credentials",
                &format_args!("[{} redacted]", self.credentials.len()),
            )
            .finish()
    }
}

/// The authenticator's answer to an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthReply {
    /// 200 success, 300 temporary failure, 400 authentication failure, 500 internal error.
    pub status_code: u16,
    /// Human-readable status.
    pub status_text: String,
    /// The user id to attach to the peer's messages.
    pub user_id: Bytes,
    /// Metadata to attach to the peer's messages.
    pub metadata: Metadata,
}

impl AuthReply {
    /// A 200 reply with a user id.
    pub fn accept(user_id: impl Into<Bytes>) -> Self {
        AuthReply {
            status_code: 200,
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }

    /// A refusal (`status_code` 300, 400 or 500).
    pub fn deny(status_code: u16, status_text: impl Into<String>) -> Self {
        AuthReply {
            status_code,
            status_text: status_text.into(),
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }
}

/// What a mechanism reports after each input.
#[derive(Debug)]
pub(crate) enum Step {
    /// Waiting for the peer's next command.
    Continue,
    /// Waiting for the authenticator.
    Authenticate(AuthRequest),
    /// Handshake complete with the peer's metadata.
    Done(Metadata),
}

/// The mechanisms' results: their errors are the codec's.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Our side of a handshake step: the metadata we announce, and the buffer our commands go to.
pub(crate) struct Ours<'a> {
    /// Our metadata (sent in READY or INITIATE).
    pub(crate) metadata: &'a Metadata,
    /// Where the mechanism writes the commands it sends.
    pub(crate) out: &'a mut BytesMut,
}

/// The handshake state machine of one mechanism.
pub(crate) trait Mechanism: Send {
    /// Queues the first commands (if any) once the greetings are exchanged. By default
    /// nothing: servers speak second.
    fn start(&mut self, ours: Ours<'_>) -> Result<Step, Error> {
        let _ = ours;
        Ok(Step::Continue)
    }

    /// Handles one handshake command (ERROR is handled by the connection).
    fn handle_command(&mut self, name: &Bytes, data: Bytes, ours: Ours<'_>) -> Result<Step, Error>;

    /// Handles the authenticator's answer; a refusal writes ERROR (if due) and fails.
    fn handle_auth_reply(&mut self, reply: &AuthReply, ours: Ours<'_>) -> Result<Step, Error> {
        let _ = (reply, ours);
        Err(Error::NoAuthPending)
    }

    /// True if frames are transformed after the handshake (CURVE); false lets the
    /// connection take its zero-copy path.
    fn wraps_frames(&self) -> bool {
        false
    }

    /// Encodes one frame after the handshake.
    fn encode_frame(&mut self, out: &mut BytesMut, more: bool, command: bool, body: &[u8]) {
        frame::encode(out, Framing::V3, more, command, body);
    }

    /// Unwraps one frame after the handshake.
    fn decode_frame(&mut self, frame: Frame) -> Result<Frame, Error> {
        Ok(frame)
    }
}

/// Passes an accepted [`AuthReply`] (200); applies a refused one: 300 closes silently,
/// 400 and 500 send ERROR with the status code as reason (as libzmq does).
pub(crate) fn check_reply(reply: &AuthReply, out: &mut BytesMut) -> Result<(), Error> {
    if reply.status_code == 200 {
        return Ok(());
    }
    if reply.status_code != 300 {
        crate::Command::Error(Bytes::from(reply.status_code.to_string())).encode(out);
    }
    Err(Error::AuthenticationFailed {
        status_code: reply.status_code,
        status_text: reply.status_text.clone(),
    })
}

/// The error for a command the mechanism does not expect in its current state (or at all).
pub(crate) fn unexpected(name: &Bytes) -> Error {
    Error::UnexpectedCommand(name.clone())
}
