//! The asking side of ZAP: what a connection does with the codec's
//! [`AuthRequest`](zmtp_codec::AuthRequest).
//!
//! As in libzmq's `session_base_t::zap_connect`, the handler is looked up in the inproc
//! registry without waiting. With one bound, a DEALER connected to it carries the request
//! (delimiter, `"1.0"`, request id `"1"`, domain, address, identity, mechanism,
//! credentials) and the reply comes back as a future the session polls.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use zmtp_codec::{AuthReply, AuthRequest, Message};

use crate::options::SocketOptions;
use crate::zap::{self, MalformedZap};
use crate::{inproc, DealerSocket};

/// The request id we send; one request per connection, as libzmq.
const REQUEST_ID: &[u8] = b"1";

/// A ZAP exchange in flight.
pub(crate) type Pending = Pin<Box<dyn Future<Output = Result<AuthReply, Failure>> + Send>>;

/// Why a ZAP exchange produced no verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Failure {
    /// The reply broke RFC 27.
    #[error(transparent)]
    Malformed(#[from] MalformedZap),
    /// The handler went away.
    #[error("ZAP handler unreachable: {0}")]
    Unreachable(String),
}

/// What to do with an authentication request.
pub(crate) enum Start {
    /// Answer now: no handler is bound.
    Now(AuthReply),
    /// Wait for the handler.
    Ask(Pending),
}

/// Where the request comes from.
pub(crate) struct Context<'a> {
    /// The server socket's options (`zap_domain`, `routing_id`).
    pub(crate) options: &'a SocketOptions,
    /// The peer's address as ZAP shows it.
    pub(crate) address: &'a str,
}

/// Starts authenticating a peer: asks the bound handler, or applies libzmq's rules when
/// none is bound (NULL and CURVE accept, PLAIN closes without ERROR).
pub(crate) fn start(request: AuthRequest, cx: Context<'_>) -> Start {
    if !inproc::is_bound(zap::NAME) {
        return Start::Now(match request.mechanism {
            // libzmq: plain_server_t fails the handshake when zap_connect fails; a 300
            // reply closes without an ERROR command just the same.
            "PLAIN" => AuthReply::deny(300, "no ZAP handler"),
            _ => AuthReply::accept(Bytes::new()),
        });
    }
    let mut msg: Message = [
        Bytes::new(),
        Bytes::from_static(zap::VERSION),
        Bytes::from_static(REQUEST_ID),
        Bytes::from(cx.options.zap_domain.clone().unwrap_or_default()),
        Bytes::copy_from_slice(cx.address.as_bytes()),
        cx.options.routing_id.clone().unwrap_or_default(),
        Bytes::from_static(request.mechanism.as_bytes()),
    ]
    .into_iter()
    .collect();
    msg.extend(request.credentials);
    Start::Ask(Box::pin(exchange(msg)))
}

async fn exchange(request: Message) -> Result<AuthReply, Failure> {
    let unreachable = |e: crate::Error| Failure::Unreachable(e.to_string());
    // libzmq's ZAP pipe: no HWM, nothing kept once the session is gone.
    let opts = SocketOptions {
        linger: Some(Duration::ZERO),
        sndhwm: 0,
        rcvhwm: 0,
        ..SocketOptions::default()
    };
    let mut dealer = DealerSocket::with_options(opts).map_err(unreachable)?;
    dealer.connect(zap::ENDPOINT).await.map_err(unreachable)?;
    dealer.send(request).await.map_err(unreachable)?;
    let reply = dealer.recv().await.map_err(unreachable)?;
    Ok(zap::parse_reply(&reply, REQUEST_ID)?)
}

/// The peer's address as libzmq puts it in a ZAP request: the numeric IP without port for
/// tcp, empty for ipc.
pub(crate) fn address(peer: &zmq_transports::PeerAddr) -> String {
    match peer {
        zmq_transports::PeerAddr::Tcp(addr) => addr.ip().to_string(),
        _ => String::new(),
    }
}
