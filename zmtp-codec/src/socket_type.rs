//! Socket types and their compatibility table (RFC 37 and the draft RFCs).

use std::fmt;

/// A ZeroMQ socket type, as named in the READY command's `Socket-Type` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// Exclusive pair.
    Pair,
    /// Publisher.
    Pub,
    /// Subscriber.
    Sub,
    /// Requester.
    Req,
    /// Replier.
    Rep,
    /// Asynchronous requester.
    Dealer,
    /// Asynchronous replier, routing by identity.
    Router,
    /// Pipeline receiver.
    Pull,
    /// Pipeline sender.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends subscriptions as messages.
    XSub,
    /// Draft: server.
    Server,
    /// Draft: client.
    Client,
    /// Draft: radio.
    Radio,
    /// Draft: dish.
    Dish,
    /// Draft: gather.
    Gather,
    /// Draft: scatter.
    Scatter,
    /// Draft: peer.
    Peer,
    /// Draft: channel.
    Channel,
    /// Raw TCP peers (libzmq's `ZMQ_STREAM`): no ZMTP, so never on the wire. Not in
    /// [`SocketType::all`], and neither [`SocketType::from_name`] nor
    /// [`SocketType::from_number`] gives it.
    Stream,
}

const ALL: [SocketType; 19] = [
    SocketType::Pair,
    SocketType::Pub,
    SocketType::Sub,
    SocketType::Req,
    SocketType::Rep,
    SocketType::Dealer,
    SocketType::Router,
    SocketType::Pull,
    SocketType::Push,
    SocketType::XPub,
    SocketType::XSub,
    SocketType::Server,
    SocketType::Client,
    SocketType::Radio,
    SocketType::Dish,
    SocketType::Gather,
    SocketType::Scatter,
    SocketType::Peer,
    SocketType::Channel,
];

impl SocketType {
    /// Every socket type that speaks ZMTP (all but [`SocketType::Stream`]).
    pub fn all() -> &'static [SocketType] {
        &ALL
    }

    /// The name as sent in the `Socket-Type` property (`"DEALER"`, …).
    pub fn name(self) -> &'static str {
        use SocketType::*;
        match self {
            Pair => "PAIR",
            Pub => "PUB",
            Sub => "SUB",
            Req => "REQ",
            Rep => "REP",
            Dealer => "DEALER",
            Router => "ROUTER",
            Pull => "PULL",
            Push => "PUSH",
            XPub => "XPUB",
            XSub => "XSUB",
            Server => "SERVER",
            Client => "CLIENT",
            Radio => "RADIO",
            Dish => "DISH",
            Gather => "GATHER",
            Scatter => "SCATTER",
            Peer => "PEER",
            Channel => "CHANNEL",
            Stream => "STREAM",
        }
    }

    /// Parses a `Socket-Type` property value. Names are matched exactly, as libzmq does.
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        ALL.iter().copied().find(|t| t.name().as_bytes() == name)
    }

    /// libzmq's numeric socket type (`ZMQ_PAIR` = 0 …), which ZMTP 2.0 sends in its greeting.
    pub fn number(self) -> u8 {
        use SocketType::*;
        match self {
            Pair => 0,
            Pub => 1,
            Sub => 2,
            Req => 3,
            Rep => 4,
            Dealer => 5,
            Router => 6,
            Pull => 7,
            Push => 8,
            XPub => 9,
            XSub => 10,
            Server => 12,
            Client => 13,
            Radio => 14,
            Dish => 15,
            Gather => 16,
            Scatter => 17,
            Peer => 19,
            Channel => 20,
            Stream => 11,
        }
    }

    /// The socket type for libzmq's number, if any.
    pub fn from_number(n: u8) -> Option<SocketType> {
        ALL.iter().copied().find(|t| t.number() == n)
    }

    /// True when a socket of this type may talk to a peer of type `peer` (RFC 37 and the drafts).
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
                | (Server, Client)
                | (Client, Server)
                | (Radio, Dish)
                | (Dish, Radio)
                | (Gather, Scatter)
                | (Scatter, Gather)
                | (Peer, Peer)
                | (Channel, Channel)
                // A STREAM socket's peers are raw byte streams, recorded as STREAM peers.
                | (Stream, Stream)
        )
    }

    /// True for socket types that send their routing id in READY's `Identity` property
    /// (libzmq: REQ, DEALER, ROUTER).
    pub fn sends_identity(self) -> bool {
        matches!(
            self,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        )
    }

    /// True for PUB and XPUB, which receive subscriptions.
    pub fn is_publisher(self) -> bool {
        matches!(self, SocketType::Pub | SocketType::XPub)
    }

    /// True for SUB and XSUB, which send subscriptions.
    pub fn is_subscriber(self) -> bool {
        matches!(self, SocketType::Sub | SocketType::XSub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for &t in SocketType::all() {
            assert_eq!(SocketType::from_name(t.name().as_bytes()), Some(t));
            assert_eq!(SocketType::from_number(t.number()), Some(t));
        }
        assert_eq!(SocketType::from_name(b"dealer"), None);
        // ZMQ_STREAM has no ZMTP peer: a greeting or READY naming it is not understood.
        assert_eq!(SocketType::from_number(11), None);
        assert_eq!(SocketType::from_name(b"STREAM"), None);
        assert_eq!(SocketType::Stream.number(), 11);
        for &t in SocketType::all() {
            assert!(!t.is_compatible(SocketType::Stream), "{t}");
        }
    }

    #[test]
    fn compatibility_is_symmetric_and_matches_rfc37() {
        for &a in SocketType::all() {
            for &b in SocketType::all() {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a} {b}");
            }
        }
        use SocketType::*;
        let valid = [
            (Req, Rep),
            (Req, Router),
            (Rep, Dealer),
            (Dealer, Dealer),
            (Dealer, Router),
            (Router, Router),
            (Pub, Sub),
            (Pub, XSub),
            (XPub, Sub),
            (XPub, XSub),
            (Push, Pull),
            (Pair, Pair),
        ];
        for (a, b) in valid {
            assert!(a.is_compatible(b), "{a} {b}");
        }
        for (a, b) in [
            (Push, Push),
            (Req, Req),
            (Pub, Pub),
            (Sub, Sub),
            (Pair, Dealer),
            (Rep, Rep),
            (Req, Dealer),
        ] {
            assert!(!a.is_compatible(b), "{a} {b}");
        }
    }
}
