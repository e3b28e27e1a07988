//! ZAP, the ZeroMQ Authentication Protocol (RFC 27).
//!
//! A PLAIN or CURVE server (and a NULL socket with a `zap_domain`) asks a *ZAP handler*
//! about every new peer. The handler is whatever socket is bound at
//! [`ENDPOINT`] (`inproc://zeromq.zap.01`) in this process, exactly as in libzmq: a
//! [`RepSocket`] or [`RouterSocket`](crate::RouterSocket) written in
//! libzmq style works, and so does [`serve`] with an [`Authenticator`].
//!
//! As in libzmq, each handshake links a pipe pair of its own to the handler (no socket on
//! the asking side): the handler sees one DEALER-like peer per request, which goes away
//! once the verdict is read. A handler that closes fails the handshakes it was asked about
//! at once; one that unbinds still answers those and gets no new ones. A connection that
//! ends before the handler read its request withdraws it.
//!
//! When no handler is bound, libzmq's rules apply: NULL peers are not authenticated,
//! PLAIN handshakes fail (the connection closes without an ERROR command) and CURVE
//! servers accept every client key.
//!
//! The request, as the handler's REP socket receives it (the connection adds the empty
//! delimiter, REP removes it): `"1.0"`, request id, domain, address (the peer's IP, empty
//! for ipc), identity (the server socket's `routing_id`), mechanism, then the credentials:
//! none for NULL, username and password for PLAIN, the client's 32-byte public key for
//! CURVE. The reply: `"1.0"`, the request id, status code (`200`, `300`, `400`, `500`),
//! status text, user id, metadata (ZMTP properties). A reply that breaks these rules
//! fails the handshake (the connection closes without an ERROR, as in libzmq).
//!
//! The user id and metadata of a 200 reply reach the socket as the peer's
//! [`PeerInfo::metadata`](crate::PeerInfo) (`User-Id` and the metadata's properties);
//! [`Socket::peer_infos`](crate::Socket::peer_infos) lists them.
//!
//! ```
//! use zmq_async::zap::{self, StaticAuthenticator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zmq_async::Error> {
//! let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
//! let handler = zap::serve(auth).await?;
//! // PLAIN servers in this process now accept admin/secret and refuse everyone else.
//! drop(handler); // unbinds inproc://zeromq.zap.01
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::peer::Shared;
use crate::{inproc, RepSocket, Result, SocketOptions};

pub(crate) mod wire;

pub(crate) use wire::NAME;
pub use wire::{MalformedZap, ZapReply, ZapRequest, ENDPOINT, VERSION};

/// Decides about ZAP requests; see [`serve`].
///
/// Any `Fn(&ZapRequest) -> ZapReply` is an authenticator; implement the trait for
/// handlers that wait (a database, another service).
///
/// ```
/// use zmq_async::zap::{Authenticator, ZapReply, ZapRequest};
/// use futures::future::BoxFuture;
///
/// struct OnlyLocal;
/// impl Authenticator for OnlyLocal {
///     fn authenticate<'a>(&'a self, req: &'a ZapRequest) -> BoxFuture<'a, ZapReply> {
///         Box::pin(async move {
///             if req.address == "127.0.0.1" {
///                 ZapReply::accept("local")
///             } else {
///                 ZapReply::deny(400, "not local")
///             }
///         })
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// The verdict on one request (`status_code` 200 accepts).
    fn authenticate<'a>(&'a self, request: &'a ZapRequest) -> BoxFuture<'a, ZapReply>;
}

impl<F> Authenticator for F
where
    F: Fn(&ZapRequest) -> ZapReply + Send + Sync + 'static,
{
    fn authenticate<'a>(&'a self, request: &'a ZapRequest) -> BoxFuture<'a, ZapReply> {
        let reply = self(request);
        Box::pin(async move { reply })
    }
}

/// A running ZAP handler. Dropping it unbinds [`ENDPOINT`] at once and stops the handler.
#[derive(Debug)]
pub struct ZapHandle {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ZapHandle {
    fn drop(&mut self) {
        let _ = inproc::unbind(NAME, &self.shared);
        self.task.abort();
    }
}

/// Serves ZAP at [`ENDPOINT`] with a REP socket, answering with `authenticator`, one
/// request at a time (as a libzmq handler does). Fails with
/// [`Error::AddrInUse`](crate::Error::AddrInUse) if a handler is already bound.
///
/// Needs a Tokio runtime: the handler runs as a task.
pub async fn serve(authenticator: impl Authenticator) -> Result<ZapHandle> {
    let opts = SocketOptions {
        linger: Some(Duration::ZERO),
        sndhwm: 0,
        rcvhwm: 0,
        ..SocketOptions::default()
    };
    let mut rep = RepSocket::with_options(opts)?;
    rep.bind(ENDPOINT).await?;
    let shared = rep.handle().shared;
    let task = tokio::spawn(async move {
        while let Ok(msg) = rep.recv().await {
            let reply = match ZapRequest::parse(&msg) {
                Ok(request) => {
                    let verdict = authenticator.authenticate(&request).await;
                    tracing::debug!(?request, status = verdict.status_code, "ZAP verdict");
                    request.reply(&verdict)
                }
                Err(e) => {
                    tracing::warn!(%e, "malformed ZAP request");
                    let id = msg.get(1).cloned().unwrap_or_default();
                    [
                        Bytes::from_static(VERSION),
                        id.into(),
                        Bytes::from_static(b"500"),
                        Bytes::from(e.to_string()),
                        Bytes::new(),
                        Bytes::new(),
                    ]
                    .into_iter()
                    .collect()
                }
            };
            if rep.send(reply).await.is_err() {
                break;
            }
        }
    });
    Ok(ZapHandle { shared, task })
}

/// A ready-made authenticator with fixed rules, like czmq's `zauth`.
///
/// - Addresses: if an allow list is set, only those peers pass; otherwise peers on the
///   deny list are refused. Refused peers get `400 Address not allowed` whatever their
///   mechanism.
/// - NULL: every peer that passes the address check is accepted (user id empty).
/// - PLAIN: username and password must match an entry (user id = username).
/// - CURVE: the client key must be allowed, or [`allow_any_curve`](Self::allow_any_curve)
///   set (user id = the key in Z85).
///
/// Refusals are `400 No access`.
///
/// ```
/// use zmq_async::zap::StaticAuthenticator;
/// let auth = StaticAuthenticator::new()
///     .allow_plain("admin", "secret")
///     .allow_curve_z85("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID")
///     .unwrap()
///     .allow_address("127.0.0.1");
/// ```
#[derive(Default, Clone)]
pub struct StaticAuthenticator {
    passwords: HashMap<Bytes, Bytes>,
    curve_keys: HashSet<[u8; 32]>,
    any_curve: bool,
    allow: HashSet<Bytes>,
    deny: HashSet<Bytes>,
}

impl std::fmt::Debug for StaticAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticAuthenticator")
            .field("plain_users", &self.passwords.keys().collect::<Vec<_>>())
            .field("curve_keys", &self.curve_keys.len())
            .field("any_curve", &self.any_curve)
            .field("allow", &self.allow)
            .field("deny", &self.deny)
            .finish()
    }
}

impl StaticAuthenticator {
    /// No users, no keys, no address rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts a PLAIN user with this password.
    pub fn allow_plain(mut self, username: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        self.passwords.insert(username.into(), password.into());
        self
    }

    /// Accepts a CURVE client with this public key.
    pub fn allow_curve(mut self, public_key: [u8; 32]) -> Self {
        self.curve_keys.insert(public_key);
        self
    }

    /// Accepts a CURVE client with this public key in Z85.
    pub fn allow_curve_z85(self, public_key: &str) -> Result<Self> {
        let key = zmtp_codec::z85::decode_key(public_key)
            .map_err(|_| crate::Error::InvalidArgument("CURVE key must be 40 Z85 characters"))?;
        Ok(self.allow_curve(key))
    }

    /// Accepts every CURVE client (encryption without client authentication; czmq's
    /// `CURVE_ALLOW_ANY`).
    pub fn allow_any_curve(mut self) -> Self {
        self.any_curve = true;
        self
    }

    /// Adds an address to the allow list (once it is non-empty, only listed peers pass).
    pub fn allow_address(mut self, address: impl Into<Bytes>) -> Self {
        self.allow.insert(address.into());
        self
    }

    /// Adds an address to the deny list (used when the allow list is empty).
    pub fn deny_address(mut self, address: impl Into<Bytes>) -> Self {
        self.deny.insert(address.into());
        self
    }

    /// The verdict, without waiting.
    pub fn check(&self, request: &ZapRequest) -> ZapReply {
        let address_ok = if self.allow.is_empty() {
            !self.deny.contains(&request.address)
        } else {
            self.allow.contains(&request.address)
        };
        if !address_ok {
            return ZapReply::deny(400, "Address not allowed");
        }
        let no = || ZapReply::deny(400, "No access");
        match &request.mechanism[..] {
            b"NULL" => ZapReply::accept(Bytes::new()),
            b"PLAIN" => match (request.username(), request.password()) {
                (Some(user), Some(password))
                    if self
                        .passwords
                        .get(user)
                        .is_some_and(|p| constant_time_eq(p, password)) =>
                {
                    ZapReply::accept(user.clone())
                }
                _ => no(),
            },
            b"CURVE" => match request.client_key() {
                Some(key) if self.any_curve || self.curve_keys.contains(&key) => {
                    ZapReply::accept(zmtp_codec::z85::encode_key(&key))
                }
                _ => no(),
            },
            _ => no(),
        }
    }
}

impl Authenticator for StaticAuthenticator {
    fn authenticate<'a>(&'a self, request: &'a ZapRequest) -> BoxFuture<'a, ZapReply> {
        let reply = self.check(request);
        Box::pin(async move { reply })
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use zmtp_codec::Message;

    use super::wire::parse_reply;
    use super::*;

    fn request(mechanism: &str, credentials: &[&[u8]]) -> ZapRequest {
        ZapRequest {
            request_id: Bytes::from_static(b"1"),
            domain: Bytes::new(),
            address: Bytes::from_static(b"127.0.0.1"),
            identity: Bytes::new(),
            mechanism: Bytes::copy_from_slice(mechanism.as_bytes()),
            credentials: credentials
                .iter()
                .map(|c| Bytes::copy_from_slice(c))
                .collect(),
        }
    }

    fn with_delimiter(mut msg: Message) -> Message {
        msg.push_front(Bytes::new());
        msg
    }

    #[test]
    fn request_round_trips() {
        let req = request("PLAIN", &[b"admin", b"secret"]);
        let msg = req.to_message();
        assert_eq!(msg.len(), 8);
        assert_eq!(ZapRequest::parse(&msg).unwrap(), req);
        assert_eq!(&req.username().unwrap()[..], b"admin");
        assert_eq!(&req.password().unwrap()[..], b"secret");
        assert!(!format!("{req:?}").contains("secret"));
    }

    #[test]
    fn reply_round_trips_with_metadata() {
        let req = request("NULL", &[]);
        let mut reply = ZapReply::accept("alice");
        reply.metadata.insert("Hello", "World").unwrap();
        let parsed = parse_reply(&with_delimiter(req.reply(&reply)), b"1").unwrap();
        assert_eq!(parsed, reply);
    }

    #[test]
    fn malformed_replies_are_refused() {
        let req = request("NULL", &[]);
        let good = with_delimiter(req.reply(&ZapReply::accept("")));
        let mut cases = Vec::new();
        let mut short = good.clone();
        short.pop_back();
        cases.push(short);
        let mut long = good.clone();
        long.push_back(Bytes::new());
        cases.push(long);
        for (i, bad) in [
            (0, "x"),
            (1, "2.0"),
            (2, "2"),
            (3, "201"),
            (3, "600"),
            (6, "\x05"),
        ] {
            let mut frames = good.clone().into_frames();
            frames[i] = bad.into();
            cases.push(frames.into());
        }
        for case in cases {
            assert!(parse_reply(&case, b"1").is_err(), "{case:?}");
        }
        assert!(parse_reply(&good, b"1").is_ok());
    }

    #[test]
    fn static_rules() {
        let key = [7u8; 32];
        let auth = StaticAuthenticator::new()
            .allow_plain("admin", "secret")
            .allow_curve(key);
        assert_eq!(
            auth.check(&request("PLAIN", &[b"admin", b"secret"])),
            ZapReply::accept("admin")
        );
        assert_eq!(
            auth.check(&request("PLAIN", &[b"admin", b"wrong"]))
                .status_code,
            400
        );
        assert_eq!(
            auth.check(&request("PLAIN", &[b"nobody", b"secret"]))
                .status_code,
            400
        );
        assert_eq!(auth.check(&request("CURVE", &[&key])).status_code, 200);
        assert_eq!(
            auth.check(&request("CURVE", &[&[8u8; 32]])).status_code,
            400
        );
        assert_eq!(auth.check(&request("NULL", &[])).status_code, 200);
        let any = StaticAuthenticator::new().allow_any_curve();
        assert_eq!(any.check(&request("CURVE", &[&[8u8; 32]])).status_code, 200);

        let denied = auth.clone().deny_address("127.0.0.1");
        assert_eq!(denied.check(&request("NULL", &[])).status_code, 400);
        let elsewhere = auth.clone().allow_address("10.0.0.1");
        assert_eq!(
            elsewhere
                .check(&request("PLAIN", &[b"admin", b"secret"]))
                .status_code,
            400
        );
        let here = auth.allow_address("127.0.0.1").deny_address("127.0.0.1");
        assert_eq!(here.check(&request("NULL", &[])).status_code, 200);
    }
}
