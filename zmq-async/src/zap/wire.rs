//! ZAP's messages (RFC 27): the request a handler receives and the reply the asking
//! connection checks, as libzmq frames them. No sockets here: both the handler side
//! (`zap::serve`) and the asking side (`net/zap.rs`) use these.

use bytes::Bytes;
use zmtp_codec::{Message, Metadata};

pub use zmtp_codec::AuthReply as ZapReply;

/// Where the ZAP handler is bound (RFC 27).
pub const ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The inproc name of [`ENDPOINT`].
pub(crate) const NAME: &str = "zeromq.zap.01";

/// The only ZAP version.
pub const VERSION: &[u8] = b"1.0";

/// A ZAP request that does not follow RFC 27.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ZAP message: {0}")]
pub struct MalformedZap(pub &'static str);

/// One authentication request, as a handler sees it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZapRequest {
    /// Echoed in the reply.
    pub request_id: Bytes,
    /// The server socket's `zap_domain` (empty if none).
    pub domain: Bytes,
    /// The peer's IP address (no port; empty for ipc).
    pub address: Bytes,
    /// The server socket's `routing_id` (empty if none).
    pub identity: Bytes,
    /// `NULL`, `PLAIN` or `CURVE`.
    pub mechanism: Bytes,
    /// NULL: none; PLAIN: username, password; CURVE: the client's 32-byte public key.
    pub credentials: Vec<Bytes>,
}

impl std::fmt::Debug for ZapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapRequest")
            .field("request_id", &self.request_id)
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("identity", &self.identity)
            .field("mechanism", &self.mechanism)
            .field("username", &self.username())
            .field("client_key", &self.client_key_z85())
            .finish_non_exhaustive()
    }
}

impl ZapRequest {
    /// Parses a request as a REP handler receives it (no delimiter): `"1.0"`, request id,
    /// domain, address, identity, mechanism, credentials….
    pub fn parse(msg: &Message) -> Result<Self, MalformedZap> {
        let f = msg.frames();
        if f.len() < 6 {
            return Err(MalformedZap("a request has at least 6 frames"));
        }
        if f[0] != VERSION {
            return Err(MalformedZap("version is not 1.0"));
        }
        Ok(ZapRequest {
            request_id: f[1].clone().into(),
            domain: f[2].clone().into(),
            address: f[3].clone().into(),
            identity: f[4].clone().into(),
            mechanism: f[5].clone().into(),
            credentials: f[6..].iter().cloned().map(Bytes::from).collect(),
        })
    }

    /// The request's frames, without the delimiter.
    pub fn to_message(&self) -> Message {
        let mut msg: Message = [
            Bytes::from_static(VERSION),
            self.request_id.clone(),
            self.domain.clone(),
            self.address.clone(),
            self.identity.clone(),
            self.mechanism.clone(),
        ]
        .into_iter()
        .collect();
        msg.extend(self.credentials.iter().cloned());
        msg
    }

    /// PLAIN: the username.
    pub fn username(&self) -> Option<&Bytes> {
        (self.mechanism == "PLAIN").then(|| self.credentials.first())?
    }

    /// PLAIN: the password.
    pub fn password(&self) -> Option<&Bytes> {
        (self.mechanism == "PLAIN").then(|| self.credentials.get(1))?
    }

    /// CURVE: the client's long-term public key.
    pub fn client_key(&self) -> Option<[u8; 32]> {
        if self.mechanism != "CURVE" {
            return None;
        }
        self.credentials.first()?.as_ref().try_into().ok()
    }

    /// CURVE: the client's public key in Z85.
    pub fn client_key_z85(&self) -> Option<String> {
        self.client_key().map(|k| zmtp_codec::z85::encode_key(&k))
    }

    /// The reply to this request, as a REP handler sends it (no delimiter).
    pub fn reply(&self, reply: &ZapReply) -> Message {
        let mut metadata = bytes::BytesMut::new();
        reply.metadata.encode(&mut metadata);
        [
            Bytes::from_static(VERSION),
            self.request_id.clone(),
            Bytes::from(reply.status_code.to_string()),
            Bytes::from(reply.status_text.clone()),
            reply.user_id.clone(),
            metadata.freeze(),
        ]
        .into_iter()
        .collect()
    }
}

/// Parses a reply as the asking connection receives it: exactly 7 frames, the empty
/// delimiter first, then the version, our request id, a status code among 200, 300, 400
/// and 500, status text, user id and metadata (the checks libzmq makes).
pub(crate) fn parse_reply(msg: &Message, request_id: &[u8]) -> Result<ZapReply, MalformedZap> {
    let f = msg.frames();
    if f.len() != 7 {
        return Err(MalformedZap("a reply has exactly 7 frames"));
    }
    if !f[0].is_empty() {
        return Err(MalformedZap("the delimiter frame is not empty"));
    }
    if f[1] != VERSION {
        return Err(MalformedZap("version is not 1.0"));
    }
    if f[2] != request_id {
        return Err(MalformedZap("request id does not match"));
    }
    let status_code = match &f[3][..] {
        b"200" => 200,
        b"300" => 300,
        b"400" => 400,
        b"500" => 500,
        _ => return Err(MalformedZap("status code is not 200, 300, 400 or 500")),
    };
    let metadata =
        Metadata::decode(f[6].clone().into()).map_err(|_| MalformedZap("metadata is malformed"))?;
    Ok(ZapReply {
        status_code,
        status_text: String::from_utf8_lossy(&f[4]).into_owned(),
        user_id: f[5].clone().into(),
        metadata,
    })
}
