//! Hand-written ZMTP 2.0 (RFC 15) and 1.0 (RFC 13) peers against our sockets.
//!
//! `old_peers::<zmtp20|zmtp10>::<our type>::<ours_binds|ours_connects>`: the byte peer plays
//! the counterpart type, completes the legacy greeting and identity exchange, then messages
//! flow both ways where the pattern allows. The bytes are written by hand from the RFCs
//! (and `docs/LIBZMQ-WIRE.md`'s captures of libzmq downgrading), never with our codec.

use std::net::TcpListener;
use std::time::Duration;

use tokio::sync::mpsc;
use zmq_tests::wire::signature;
use zmq_tests::BytePeer;

use crate::side::{frames, Frames, Impl, Kind, Setup, Side, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RFC 15: signature, revision 01, socket-type byte, then `flags size body` frames.
    Zmtp20,
    /// RFC 13: no greeting; `length(+1) flags body` frames, the first one the identity.
    Zmtp10,
}

/// RFC 15 socket-type numbering (libzmq's `ZMQ_*` constants).
fn number(kind: Kind) -> u8 {
    match kind {
        Kind::Pair => 0,
        Kind::Pub => 1,
        Kind::Sub => 2,
        Kind::Req => 3,
        Kind::Rep => 4,
        Kind::Dealer => 5,
        Kind::Router => 6,
        Kind::Pull => 7,
        Kind::Push => 8,
        Kind::XPub => 9,
        Kind::XSub => 10,
        Kind::Stream => 11,
    }
}

fn counterpart(kind: Kind) -> Kind {
    match kind {
        Kind::Req => Kind::Rep,
        Kind::Rep => Kind::Req,
        Kind::Pub => Kind::Sub,
        Kind::Sub => Kind::Pub,
        Kind::Push => Kind::Pull,
        Kind::Pull => Kind::Push,
        other => other,
    }
}

/// The byte peer and its framing.
struct OldPeer {
    peer: BytePeer,
    v: Version,
}

impl OldPeer {
    /// The legacy greeting and identity exchange with our socket of type `ours`.
    fn handshake(mut peer: BytePeer, v: Version, ours: Kind) -> OldPeer {
        match v {
            Version::Zmtp20 => {
                let sig = peer.read_exact(10);
                assert_eq!((sig[0], sig[9]), (0xff, 0x7f), "our signature");
                assert_eq!(sig[9] & 1, 1, "versioned signature");
                peer.send(&signature(1));
                peer.send(&[0x01]); // revision: ZMTP 2.0
                assert_eq!(peer.read_exact(1), [0x03], "our major version byte");
                assert_eq!(peer.read_exact(1), [number(ours)], "our socket type byte");
                peer.send(&[number(counterpart(ours))]);
                assert_eq!(
                    peer.read_exact(2),
                    [0x00, 0x00],
                    "our (empty) identity frame"
                );
                peer.send(&[0x00, 0x00]);
            }
            Version::Zmtp10 => {
                peer.send(&[0x01, 0x00]); // identity frame: length 1 (flags only), empty
                let sig = peer.read_exact(10);
                assert_eq!((sig[0], sig[9]), (0xff, 0x7f), "our signature");
                let len = u64::from_be_bytes(sig[1..9].try_into().unwrap());
                // The signature is the v1 header of our identity frame: length = id + 1.
                assert_eq!(len, 1, "our identity is empty");
            }
        }
        OldPeer { peer, v }
    }

    fn send(&mut self, msg: &Frames) {
        let mut out = Vec::new();
        for (i, f) in msg.iter().enumerate() {
            let more = u8::from(i + 1 < msg.len());
            assert!(f.len() < 250, "short frames only");
            match self.v {
                Version::Zmtp20 => out.extend([more, f.len() as u8]),
                Version::Zmtp10 => out.extend([f.len() as u8 + 1, more]),
            }
            out.extend_from_slice(f);
        }
        self.peer.send(&out);
    }

    fn recv(&mut self) -> Frames {
        let mut msg = Vec::new();
        loop {
            let (flags, len) = match self.v {
                Version::Zmtp20 => {
                    let h = self.peer.read_exact(2);
                    (h[0], usize::from(h[1]))
                }
                Version::Zmtp10 => {
                    let h = self.peer.read_exact(2);
                    assert!(h[0] != 0xff && h[0] > 0, "short v1 frames only: {h:?}");
                    (h[1], usize::from(h[0]) - 1)
                }
            };
            assert_eq!(flags & !1, 0, "only MORE may be set: {flags:#x}");
            msg.push(self.peer.read_exact(len));
            if flags & 1 == 0 {
                return msg;
            }
        }
    }
}

/// Connects an old peer to our socket (bound or connecting) and runs both scripts.
pub async fn run(v: Version, kind: Kind, ours_binds: bool) {
    let mut ours = Side::new(Impl::Ours, kind, &Setup::default());
    if kind == Kind::Sub {
        ours.subscribe(b"A").await;
    }
    let _bound;
    let peer = if ours_binds {
        let b = ours.bind(Transport::Tcp).await;
        let addr = b.endpoint.strip_prefix("tcp://").unwrap().parse().unwrap();
        _bound = b;
        tokio::task::spawn_blocking(move || BytePeer::connect(addr))
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        ours.connect(&format!("tcp://{addr}")).await;
        tokio::task::spawn_blocking(move || BytePeer::from_stream(listener.accept().unwrap().0))
    };
    let peer = peer.await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let theirs = tokio::task::spawn_blocking(move || {
        let mut p = OldPeer::handshake(peer, v, kind);
        match kind {
            Kind::Req => {
                assert_eq!(p.recv(), frames(&["", "hello"]));
                p.send(&frames(&["", "world"]));
            }
            Kind::Rep => {
                p.send(&frames(&["", "hello"]));
                assert_eq!(p.recv(), frames(&["", "world"]));
            }
            Kind::Push => {
                assert_eq!(p.recv(), frames(&["hi", "", "there"]));
            }
            Kind::Pull => p.send(&frames(&["yo", "", "there"])),
            Kind::Pub => {
                let sync = match v {
                    // 2.0 subscribers subscribe with messages, as 3.0 ones.
                    Version::Zmtp20 => {
                        p.send(&vec![b"\x01A".to_vec()]);
                        frames(&["A sync"])
                    }
                    // 1.0 subscribers filter locally: the publisher sends them everything.
                    Version::Zmtp10 => frames(&["B sync"]),
                };
                while p.recv() != sync {}
                tx.send(()).expect("publisher waits");
                let mut m = p.recv();
                while m == sync {
                    m = p.recv();
                }
                match v {
                    Version::Zmtp20 => assert_eq!(m, frames(&["A data"]), "B noise filtered"),
                    Version::Zmtp10 => assert_eq!(m, frames(&["B noise"]), "everything flows"),
                }
            }
            Kind::Sub => {
                if v == Version::Zmtp20 {
                    assert_eq!(p.recv(), vec![b"\x01A".to_vec()], "subscription message");
                }
                p.send(&frames(&["B noise"]));
                p.send(&frames(&["A data"]));
            }
            other => unreachable!("{other:?}"),
        }
        p
    });
    match kind {
        Kind::Req => {
            ours.send(frames(&["hello"])).await;
            assert_eq!(ours.recv().await, frames(&["world"]));
        }
        Kind::Rep => {
            assert_eq!(ours.recv().await, frames(&["hello"]));
            ours.send(frames(&["world"])).await;
        }
        Kind::Push => ours.send(frames(&["hi", "", "there"])).await,
        Kind::Pull => assert_eq!(ours.recv().await, frames(&["yo", "", "there"])),
        Kind::Pub => {
            let sync = if v == Version::Zmtp20 {
                "A sync"
            } else {
                "B sync"
            };
            // Subscriptions (and a 1.0 peer's implied "everything") are taken asynchronously:
            // publish until the peer has one; the pause only paces the retries.
            loop {
                ours.send(frames(&[sync])).await;
                tokio::select! {
                    _ = rx.recv() => break,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            ours.send(frames(&["B noise"])).await;
            ours.send(frames(&["A data"])).await;
        }
        // Our SUB filters: "B noise" (sent first, same connection) never shows.
        Kind::Sub => assert_eq!(ours.recv().await, frames(&["A data"])),
        other => unreachable!("{other:?}"),
    }
    let _peer = theirs.await.expect("old peer script");
}

/// `<version>::<our type>::<ours_binds|ours_connects>`.
macro_rules! old_peers {
    ($($version:ident = $v:ident;)*) => {$(
        pub mod $version {
            old_peers!(@kind $v, req = Req);
            old_peers!(@kind $v, rep = Rep);
            old_peers!(@kind $v, pub_ = Pub);
            old_peers!(@kind $v, sub = Sub);
            old_peers!(@kind $v, push = Push);
            old_peers!(@kind $v, pull = Pull);
        }
    )*};
    (@kind $v:ident, $name:ident = $kind:ident) => {
        pub mod $name {
            use crate::old_peers::{run, Version};
            use crate::side::Kind;
            #[test]
            fn ours_binds() {
                crate::block_on(run(Version::$v, Kind::$kind, true));
            }
            #[test]
            fn ours_connects() {
                crate::block_on(run(Version::$v, Kind::$kind, false));
            }
        }
    };
}

old_peers! {
    zmtp20 = Zmtp20;
    zmtp10 = Zmtp10;
}
