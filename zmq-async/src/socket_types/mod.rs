//! The socket types, one file per type's policy, each composed of the shared parts
//! ([`lb`](crate::lb), [`fq`](crate::fq), [`dist`](crate::dist), the subscription tries)
//! behind the [`Protocol`] trait the socket core calls.
//!
//! As in libzmq, PUB is XPUB that neither receives nor passes subscriptions up
//! (`xpub.rs`), and SUB is XSUB that cannot send and subscribes through its own calls
//! (`xsub.rs`); REP is ROUTER's identity map with an envelope and strict alternation.
//!
//! The thread-safe draft types reuse them: SCATTER is PUSH, GATHER is PULL, CHANNEL is
//! PAIR, CLIENT is DEALER's parts (`client.rs`), PEER is SERVER (`server.rs`), RADIO is
//! the distributor over a group table (`radio.rs`), DISH the fair queue with a group
//! filter (`dish.rs`); what
//! sets them apart (one frame a message, `connect_peer`) is their socket's,
//! [`ThreadSafeSocket`](crate::ThreadSafeSocket).

use crate::fq::FairQueue;
use crate::slab::Key;
use crate::socket_base::Protocol;
use crate::SocketType;

mod client;
mod dealer;
mod dish;
mod pair;
mod pull;
mod push;
mod radio;
mod rep;
mod req;
mod router;
mod server;
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
        SocketType::Client => Box::new(client::Client::default()),
        SocketType::Server | SocketType::Peer => Box::new(server::Server::new()),
        SocketType::Scatter => Box::new(push::Push::default()),
        SocketType::Gather => Box::new(pull::Pull::default()),
        SocketType::Channel => Box::new(pair::Pair::default()),
        SocketType::Radio => Box::new(radio::Radio::default()),
        SocketType::Dish => Box::new(dish::Dish::default()),
        // Only the marker types in `socket::kind` create sockets, one for each type above.
        other => unreachable!("no socket of type {other} can be created"),
    }
}

/// The publishers a SUB, XSUB or DISH receives from: fair-queued, and told the socket's
/// subscriptions or JOINs when each attaches, and again when its connection comes back
/// (libzmq's `xattach_pipe` and `xhiccuped`).
#[derive(Debug, Default)]
pub(crate) struct Upstream {
    pub(crate) fq: FairQueue,
    pub(crate) peers: Vec<Key>,
    /// Peers whose connection dropped.
    hiccuped: Vec<Key>,
}

impl Upstream {
    /// A new peer, to be told everything.
    pub(crate) fn attached(&mut self, key: Key) {
        self.peers.push(key);
        self.fq.attach(key);
    }

    /// Whether `key`'s connection, now up, had dropped (true once a drop): it is to be
    /// told everything again.
    pub(crate) fn reconnected(&mut self, key: Key) -> bool {
        let i = self.hiccuped.iter().position(|k| *k == key);
        i.map(|i| self.hiccuped.swap_remove(i)).is_some()
    }

    /// `key`'s connection dropped.
    pub(crate) fn disconnected(&mut self, key: Key) {
        if !self.hiccuped.contains(&key) {
            self.hiccuped.push(key);
        }
    }

    /// `key` is gone.
    pub(crate) fn detached(&mut self, key: Key) {
        self.peers.retain(|k| *k != key);
        self.hiccuped.retain(|k| *k != key);
        self.fq.detach(key);
    }
}
