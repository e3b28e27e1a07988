//! The asking side of ZAP: what a connection does with the codec's
//! [`AuthRequest`].
//!
//! As libzmq's `session_base_t::zap_connect`: the handler is looked up in the inproc
//! registry without waiting and, if one is bound, a bare pipe pair is linked to it (no
//! socket on this side; the handler sees a DEALER peer). The request goes into one pipe
//! (delimiter, `"1.0"`, request id `"1"`, domain, address, identity, mechanism,
//! credentials) and the reply is read from the other. A handler that closes (or refuses
//! the peer) ends the pipe: the exchange fails at once rather than at `handshake_ivl`.

use std::task::{self, Poll};

use bytes::Bytes;
use zmtp_codec::{AuthReply, AuthRequest, Message, SocketType};

use crate::inproc::{self, BarePipes};
use crate::options::SocketOptions;
use crate::peer::PeerInfo;
use crate::zap::wire::{self as zap, MalformedZap};

/// The request id we send; one request per connection, as libzmq.
const REQUEST_ID: &[u8] = b"1";

/// A ZAP exchange in flight: the request sent, the reply awaited.
///
/// Dropping it (the connection ended first) discards the request if the handler has not
/// taken it yet, as libzmq's session terminates its ZAP pipe, and closes the reply pipe:
/// the handler's peer goes away and a late reply is dropped.
#[derive(Debug)]
pub(crate) struct Pending {
    pipes: BarePipes,
    /// The request pipe refused the request.
    refused: bool,
}

impl Pending {
    /// Sends `request` (with its delimiter) into the handler's pipe.
    fn send(mut pipes: BarePipes, request: Message) -> Self {
        // A fresh pipe has room for one message under any HWM: this fails only if the
        // handler closed since the pipes were linked.
        let refused = pipes.outbound.try_push(request).is_err();
        Pending { pipes, refused }
    }

    /// The handler's verdict once its reply arrives.
    pub(crate) fn poll_reply(
        &mut self,
        cx: &mut task::Context<'_>,
    ) -> Poll<Result<AuthReply, Failure>> {
        if self.refused {
            return Poll::Ready(Err(Failure::Unreachable("it refused the request")));
        }
        match futures::ready!(self.pipes.inbound.poll_pop(cx)) {
            Some(reply) => Poll::Ready(Ok(zap::parse_reply(&reply, REQUEST_ID)?)),
            None => Poll::Ready(Err(Failure::Unreachable(
                "it closed the pipe before replying (gone, or not a REP or ROUTER)",
            ))),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.pipes.outbound.close_discard();
    }
}

/// Why a ZAP exchange produced no verdict.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Failure {
    /// The reply broke RFC 27.
    #[error(transparent)]
    Malformed(#[from] MalformedZap),
    /// The handler went away (or refused the request's pipes).
    #[error("ZAP handler unreachable: {0}")]
    Unreachable(&'static str),
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
/// none is bound (NULL and CURVE accept, PLAIN closes without ERROR; with
/// `zap_enforce_domain`, all three close). With `zap_enforce_domain` and no `zap_domain`, a
/// CURVE server asks no handler (libzmq's `curve_server_t`).
pub(crate) fn start(request: AuthRequest, cx: Context<'_>) -> Start {
    let enforce = cx.options.zap_enforce_domain;
    let no_domain = !cx
        .options
        .zap_domain
        .as_ref()
        .is_some_and(|d| !d.is_empty());
    if enforce && no_domain && request.mechanism == "CURVE" {
        return Start::Now(AuthReply::accept(Bytes::new()));
    }
    let Some(pipes) = inproc::attach_bare(zap::NAME, PeerInfo::new(SocketType::Dealer)) else {
        return Start::Now(match request.mechanism {
            // libzmq: plain_server_t fails the handshake when zap_connect fails (and NULL
            // and CURVE do with zap_enforce_domain); a 300 reply closes without an ERROR
            // command just the same.
            "PLAIN" => AuthReply::deny(300, "no ZAP handler"),
            _ if enforce => AuthReply::deny(300, "no ZAP handler (zap_enforce_domain)"),
            _ => AuthReply::accept(Bytes::new()),
        });
    };
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
    Start::Ask(Pending::send(pipes, msg))
}

/// The peer's address as libzmq gives it, to ZAP and as messages' `Peer-Address`: the
/// numeric IP without port for tcp; for ipc, as libzmq on Linux with glibc,
/// `localhost:uid:gid:pid` of the process on the other end (`SO_PEERCRED`), or empty when
/// the system does not say.
pub(crate) fn address(stream: &zmq_transports::Stream) -> String {
    match stream {
        zmq_transports::Stream::Tcp(s) => s.peer_addr().map(|a| a.ip().to_string()),
        zmq_transports::Stream::Ipc(s) => s.peer_cred().map(|c| {
            let pid = c.pid().map(|p| p.to_string()).unwrap_or_default();
            format!("localhost:{}:{}:{pid}", c.uid(), c.gid())
        }),
        _ => Ok(String::new()),
    }
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Error, RepSocket};

    fn request() -> Message {
        ["", "1.0", "1", "", "", "", "NULL"]
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect()
    }

    #[tokio::test]
    async fn a_dropped_exchange_withdraws_its_request_and_its_peer() {
        // Not the ZAP endpoint: this one is the test's alone.
        let name = "zap-test-withdrawn";
        let mut handler = RepSocket::new();
        handler.bind(&format!("inproc://{name}")).await.unwrap();
        let info = || PeerInfo::new(SocketType::Dealer);

        let asked = Pending::send(inproc::attach_bare(name, info()).unwrap(), request());
        assert_eq!(handler.peer_count(), 1);
        drop(asked); // the connection ended before the handler read the request
        assert_eq!(handler.peer_count(), 0);
        assert!(matches!(handler.try_recv(), Err(Error::WouldBlock)));

        // Read, then dropped before the reply: the reply is dropped without error.
        let asked = Pending::send(inproc::attach_bare(name, info()).unwrap(), request());
        let got = handler.recv().await.unwrap();
        assert_eq!(got.len(), 6);
        drop(asked);
        handler.send(got).await.unwrap();
        assert_eq!(handler.peer_count(), 0);

        // The handler closes between the link and the request: a failure, not a wait.
        let pipes = inproc::attach_bare(name, info()).unwrap();
        drop(handler);
        let mut asked = Pending::send(pipes, request());
        let mut cx = task::Context::from_waker(futures::task::noop_waker_ref());
        assert!(matches!(
            asked.poll_reply(&mut cx),
            Poll::Ready(Err(Failure::Unreachable(_)))
        ));
        assert!(inproc::attach_bare(name, info()).is_none());
    }
}
