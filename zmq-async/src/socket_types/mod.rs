//! The socket types, one file per type's policy, each composed of the shared parts
//! ([`lb`](crate::lb), [`fq`](crate::fq), [`dist`](crate::dist), the subscription tries)
//! behind the [`Protocol`] trait the socket core calls.
//!
//! As in libzmq, PUB is XPUB that neither receives nor passes subscriptions up
//! (`xpub.rs`), and SUB is XSUB that cannot send and subscribes through its own calls
//! (`xsub.rs`); REP is ROUTER's identity map with an envelope and strict alternation.

use crate::socket_base::Protocol;
use crate::SocketType;

mod dealer;
mod pair;
mod pull;
mod push;
mod rep;
mod req;
mod router;
mod stream;
mod xpub;
mod xsub;

/// The policy object for a socket type.
pub(crate) fn for_type(ty: SocketType) -> Box<dyn Protocol> {
    match ty {
        SocketType::Pair => Box::new(pair::Pair::default()),
        SocketType::Push => Box::new(push::Push::default()),
        SocketType::Pull => Box::new(pull::Pull::default()),
        SocketType::Dealer => Box::new(dealer::Dealer::default()),
        SocketType::Router => Box::new(router::Router::new()),
        SocketType::Rep => Box::new(rep::Rep::new()),
        SocketType::Req => Box::new(req::Req::new()),
        SocketType::Pub => Box::new(xpub::XPub::new(false)),
        SocketType::XPub => Box::new(xpub::XPub::new(true)),
        SocketType::Sub => Box::new(xsub::XSub::new(false)),
        SocketType::XSub => Box::new(xsub::XSub::new(true)),
        SocketType::Stream => Box::new(stream::Stream::new()),
        // Only the marker types in `socket::kind` create sockets, and none is a draft type.
        other => unreachable!("no socket of type {other} can be created"),
    }
}
