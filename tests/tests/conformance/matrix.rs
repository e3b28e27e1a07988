//! RFC 37's compatible pairs, our socket against libzmq 4.3.4, as a generated matrix.
//!
//! Every cell is one test named by its coordinates:
//! `matrix::<pair>::ours_<type>::<binds|connects>::<tcp|ipc>::<mechanism>`, e.g.
//! `matrix::push_pull::ours_push::binds::tcp::null` = our PUSH binds, a libzmq PULL connects,
//! over tcp, with the NULL mechanism. `scripts/conformance-matrix.sh` turns the test results
//! into `docs/CONFORMANCE.md`, so the names are the matrix: do not rename them by hand.
//!
//! Each pair has one scenario, written once against [`Side`] and run with our socket on either
//! end. Both ends' scripts run concurrently (`join!`): a bound libzmq socket only attaches an
//! accepted connection when its own thread calls into it, so it must be in a call while the
//! other end waits for it.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::side::{frames, Frames, Impl, Kind, Plain, Setup, Side, Transport};

/// A compatible pair from RFC 37; `A` is the first type of the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub enum Pair {
    PairPair,
    ReqRep,
    ReqRouter,
    DealerRep,
    DealerRouter,
    DealerDealer,
    RouterRouter,
    PubSub,
    PubXsub,
    XpubSub,
    XpubXsub,
    PushPull,
}

impl Pair {
    fn kinds(self) -> (Kind, Kind) {
        match self {
            Pair::PairPair => (Kind::Pair, Kind::Pair),
            Pair::ReqRep => (Kind::Req, Kind::Rep),
            Pair::ReqRouter => (Kind::Req, Kind::Router),
            Pair::DealerRep => (Kind::Dealer, Kind::Rep),
            Pair::DealerRouter => (Kind::Dealer, Kind::Router),
            Pair::DealerDealer => (Kind::Dealer, Kind::Dealer),
            Pair::RouterRouter => (Kind::Router, Kind::Router),
            Pair::PubSub => (Kind::Pub, Kind::Sub),
            Pair::PubXsub => (Kind::Pub, Kind::XSub),
            Pair::XpubSub => (Kind::XPub, Kind::Sub),
            Pair::XpubXsub => (Kind::XPub, Kind::XSub),
            Pair::PushPull => (Kind::Push, Kind::Pull),
        }
    }
}

/// An end of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    A,
    B,
}

impl End {
    fn other(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }
}

/// Who binds, relative to our end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binder {
    Ours,
    Theirs,
}

/// The security mechanism of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Null,
    /// PLAIN with the credentials the server's ZAP handler accepts.
    PlainOk,
    /// PLAIN with a wrong password: the handshake must fail and nothing be delivered.
    PlainWrongPassword,
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub pair: Pair,
    pub ours: End,
    pub binder: Binder,
    pub transport: Transport,
    pub mech: Mech,
}

/// Runs one cell on its own runtime, under a hang guard.
pub fn run(cell: Cell) {
    if cell.mech != Mech::Null {
        crate::zap::ensure_handlers();
    }
    crate::block_on(run_async(cell));
}

/// A username unique to the cell, so the ZAP handlers' record of refusals tells cells apart.
fn username(cell: &Cell) -> String {
    format!("{cell:?}")
}

async fn run_async(cell: Cell) {
    let (ka, kb) = cell.pair.kinds();
    let imp = |end: End| {
        if end == cell.ours {
            Impl::Ours
        } else {
            Impl::Libzmq
        }
    };
    let binder = match cell.binder {
        Binder::Ours => cell.ours,
        Binder::Theirs => cell.ours.other(),
    };
    let (mut setup_a, mut setup_b) = setups(cell.pair, binder);
    // PLAIN: the binding end is the server, the connecting end the client.
    let password = match cell.mech {
        Mech::Null => None,
        Mech::PlainOk => Some(crate::zap::PASSWORD),
        Mech::PlainWrongPassword => Some("wrong"),
    };
    if let Some(password) = password {
        let (server, client) = match binder {
            End::A => (&mut setup_a, &mut setup_b),
            End::B => (&mut setup_b, &mut setup_a),
        };
        server.plain = Some(Plain::Server);
        client.plain = Some(Plain::Client {
            username: username(&cell),
            password: password.to_owned(),
        });
    }
    let mut a = Side::new(imp(End::A), ka, &setup_a);
    let mut b = Side::new(imp(End::B), kb, &setup_b);
    let (bound, connector) = match binder {
        End::A => (a.bind(cell.transport).await, &mut b),
        End::B => (b.bind(cell.transport).await, &mut a),
    };
    connector.connect(&bound.endpoint).await;
    if cell.mech == Mech::PlainWrongPassword {
        refused(&username(&cell), &mut a, &mut b).await;
    } else {
        scenario(cell.pair, &mut a, &mut b, binder).await;
    }
}

/// A wrong password: once the server's ZAP handler has refused the client, a message from
/// either end reaches nobody.
async fn refused(username: &str, a: &mut Side, b: &mut Side) {
    crate::zap::wait_denied(username).await;
    for side in [&mut *a, &mut *b] {
        if side.kind().can_send() {
            side.try_send(frames(&["must not arrive"])).await;
        }
    }
    // Proving that nothing arrives takes a bounded wait: it is the assertion here. (A REQ
    // may not receive before its request went out, and nothing can arrive unasked.)
    for side in [a, b] {
        if side.kind().can_recv() && side.kind() != Kind::Req {
            assert_eq!(side.recv_for(Duration::from_millis(300)).await, None);
        }
    }
}

/// Routing ids for the pairs whose scenario addresses a peer by name.
fn setups(pair: Pair, binder: End) -> (Setup, Setup) {
    let mut a = Setup::default();
    let mut b = Setup::default();
    match pair {
        Pair::ReqRouter => a.routing_id = Some(b"req-1"),
        Pair::DealerRouter => a.routing_id = Some(b"dealer-1"),
        Pair::RouterRouter => {
            // As libzmq's own ROUTER-ROUTER tests: explicit ids on both sides. The connecting
            // ROUTER probes, so the binder learns its id and can answer first.
            a.routing_id = Some(b"router-a");
            b.routing_id = Some(b"router-b");
            match binder {
                End::A => b.probe_router = true,
                End::B => a.probe_router = true,
            }
        }
        _ => {}
    }
    (a, b)
}

async fn scenario(pair: Pair, a: &mut Side, b: &mut Side, binder: End) {
    match pair {
        Pair::PairPair | Pair::DealerDealer => symmetric(a, b).await,
        Pair::ReqRep => req_rep(a, b).await,
        Pair::ReqRouter => req_router(a, b).await,
        Pair::DealerRep => dealer_rep(a, b).await,
        Pair::DealerRouter => dealer_router(a, b).await,
        Pair::RouterRouter => match binder {
            End::A => router_router(a, b"router-a", b, b"router-b").await,
            End::B => router_router(b, b"router-b", a, b"router-a").await,
        },
        Pair::PubSub | Pair::PubXsub => pub_sub(a, b).await,
        Pair::XpubSub | Pair::XpubXsub => xpub_sub(a, b).await,
        Pair::PushPull => push_pull(a, b).await,
    }
}

/// A multipart message with empty frames, used by every scenario.
fn multipart() -> Frames {
    frames(&["", "multi", "", "part", ""])
}

/// PAIR–PAIR and DEALER–DEALER: messages both ways, multipart with empty frames.
async fn symmetric(a: &mut Side, b: &mut Side) {
    tokio::join!(
        async {
            a.send(frames(&["a to b"])).await;
            a.send(multipart()).await;
            assert_eq!(a.recv().await, frames(&["b to a"]));
        },
        async {
            assert_eq!(b.recv().await, frames(&["a to b"]));
            assert_eq!(b.recv().await, multipart());
            b.send(frames(&["b to a"])).await;
        }
    );
}

async fn req_rep(req: &mut Side, rep: &mut Side) {
    tokio::join!(
        async {
            for i in 0..3 {
                req.send(frames(&[format!("request {i}")])).await;
                assert_eq!(req.recv().await, frames(&[format!("reply {i}")]));
            }
            req.send(multipart()).await;
            assert_eq!(req.recv().await, multipart());
        },
        async {
            for i in 0..3 {
                assert_eq!(rep.recv().await, frames(&[format!("request {i}")]));
                rep.send(frames(&[format!("reply {i}")])).await;
            }
            let m = rep.recv().await;
            assert_eq!(m, multipart());
            rep.send(m).await;
        }
    );
}

async fn req_router(req: &mut Side, router: &mut Side) {
    tokio::join!(
        async {
            req.send(frames(&["hello", ""])).await;
            assert_eq!(req.recv().await, frames(&["world"]));
        },
        async {
            // REQ adds the empty delimiter; the ROUTER prepends the REQ's routing id.
            assert_eq!(router.recv().await, frames(&["req-1", "", "hello", ""]));
            router.send(frames(&["req-1", "", "world"])).await;
        }
    );
}

async fn dealer_rep(dealer: &mut Side, rep: &mut Side) {
    tokio::join!(
        async {
            dealer.send(frames(&["", "minimal"])).await;
            assert_eq!(dealer.recv().await, frames(&["", "minimal"]));
            // A longer envelope comes back whole (libzmq test_spec_rep's "big envelope").
            dealer.send(frames(&["X", "Y", "", "big"])).await;
            assert_eq!(dealer.recv().await, frames(&["X", "Y", "", "big"]));
        },
        async {
            for body in ["minimal", "big"] {
                assert_eq!(rep.recv().await, frames(&[body]));
                rep.send(frames(&[body])).await;
            }
        }
    );
}

async fn dealer_router(dealer: &mut Side, router: &mut Side) {
    tokio::join!(
        async {
            dealer.send(frames(&["job", ""])).await;
            assert_eq!(dealer.recv().await, frames(&["done"]));
        },
        async {
            assert_eq!(router.recv().await, frames(&["dealer-1", "job", ""]));
            router.send(frames(&["dealer-1", "done"])).await;
        }
    );
}

async fn router_router(
    binder: &mut Side,
    binder_id: &[u8],
    connector: &mut Side,
    connector_id: &[u8],
) {
    tokio::join!(
        async {
            // The probe: the connector's id and an empty frame.
            assert_eq!(binder.recv().await, frames(&[connector_id, b""]));
            binder.send(frames(&[connector_id, b"hello"])).await;
            assert_eq!(binder.recv().await, frames(&[connector_id, b"world"]));
        },
        async {
            assert_eq!(connector.recv().await, frames(&[binder_id, b"hello"]));
            connector.send(frames(&[binder_id, b"world"])).await;
        }
    );
}

async fn push_pull(push: &mut Side, pull: &mut Side) {
    tokio::join!(
        async {
            for i in 0..10 {
                push.send(frames(&[format!("m{i}")])).await;
            }
            push.send(multipart()).await;
        },
        async {
            for i in 0..10 {
                assert_eq!(pull.recv().await, frames(&[format!("m{i}")]));
            }
            assert_eq!(pull.recv().await, multipart());
        }
    );
}

/// Publishes `msgs` over and over until the subscriber says one arrived.
///
/// Subscriptions travel asynchronously and PUB drops what no one subscribed to, so a
/// publisher cannot know when to start; the pause between rounds only paces the retries.
/// The synchronisation is the subscriber's receipt.
async fn publish_until(p: &mut Side, msgs: &[Frames], arrived: &mut mpsc::UnboundedReceiver<()>) {
    loop {
        for m in msgs {
            p.send(m.clone()).await;
        }
        tokio::select! {
            _ = arrived.recv() => return,
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
}

/// Receives until `want` arrives; every other message must satisfy `allowed`.
async fn recv_until(s: &mut Side, want: &Frames, allowed: impl Fn(&Frames) -> bool) {
    loop {
        let m = s.recv().await;
        if &m == want {
            return;
        }
        assert!(allowed(&m), "unexpected {m:?} while waiting for {want:?}");
    }
}

/// PUB–SUB and PUB–XSUB: filtering, multipart, and a cancel that takes effect.
async fn pub_sub(p: &mut Side, s: &mut Side) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let a_sync = frames(&["A sync"]);
    let c_sync = frames(&["C sync"]);
    tokio::join!(
        async {
            publish_until(p, std::slice::from_ref(&a_sync), &mut rx).await;
            // Same connection, so in order: the noise would come before the multipart.
            p.send(frames(&["B noise"])).await;
            p.send(frames(&["A", "two-part", ""])).await;
            publish_until(p, &[frames(&["A late"]), c_sync.clone()], &mut rx).await;
            p.send(frames(&["A after cancel"])).await;
            p.send(frames(&["C end"])).await;
        },
        async {
            s.subscribe(b"A").await;
            recv_until(s, &a_sync, |_| false).await;
            tx.send(()).expect("publisher waits");
            recv_until(s, &frames(&["A", "two-part", ""]), |m| m == &a_sync).await;
            s.unsubscribe(b"A").await;
            s.subscribe(b"C").await;
            // Until the publisher has the new subscriptions, "A ..." still arrives.
            recv_until(s, &c_sync, |m| m[0].starts_with(b"A")).await;
            tx.send(()).expect("publisher waits");
            // The cancel was processed before that "C sync" was sent: "A after cancel" must
            // not come before "C end".
            recv_until(s, &frames(&["C end"]), |m| m == &c_sync).await;
        }
    );
}

/// XPUB–SUB and XPUB–XSUB: the XPUB sees the subscription and its cancel.
async fn xpub_sub(x: &mut Side, s: &mut Side) {
    tokio::join!(
        async {
            assert_eq!(x.recv().await, vec![b"\x01A".to_vec()]);
            x.send(frames(&["A data", ""])).await;
            x.send(frames(&["B noise"])).await;
            x.send(frames(&["A end"])).await;
            assert_eq!(x.recv().await, vec![b"\x00A".to_vec()]);
        },
        async {
            s.subscribe(b"A").await;
            assert_eq!(s.recv().await, frames(&["A data", ""]));
            assert_eq!(s.recv().await, frames(&["A end"]));
            s.unsubscribe(b"A").await;
        }
    );
}

/// One module per cell: `<pair>::ours_<type>::<binds|connects>::<transport>::<mechanism>`.
macro_rules! matrix {
    ($($pair:ident = $variant:ident, $a:ident, $b:ident;)*) => {$(
        pub mod $pair {
            matrix!(@ours $variant, A, $a);
            matrix!(@ours $variant, B, $b);
        }
    )*};
    (@ours $variant:ident, $end:ident, $label:ident) => {
        pub mod $label {
            matrix!(@binder $variant, $end, binds, Ours);
            matrix!(@binder $variant, $end, connects, Theirs);
        }
    };
    (@binder $variant:ident, $end:ident, $name:ident, $binder:ident) => {
        pub mod $name {
            matrix!(@transport $variant, $end, $binder, tcp, Tcp);
            matrix!(@transport $variant, $end, $binder, ipc, Ipc);
        }
    };
    // libzmq 4.3.4 defect: a REQ acting as PLAIN server never delivers replies, also to a
    // libzmq client (proved by `cases::libzmq_req_as_plain_server_drops_replies`).
    (@transport ReqRep, B, Theirs, $name:ident, $t:ident) => {
        matrix!(@transport_with ReqRep, B, Theirs, $name, $t, LIBZMQ_REQ_PLAIN_SERVER);
    };
    (@transport ReqRouter, B, Theirs, $name:ident, $t:ident) => {
        matrix!(@transport_with ReqRouter, B, Theirs, $name, $t, LIBZMQ_REQ_PLAIN_SERVER);
    };
    (@transport_with $variant:ident, $end:ident, $binder:ident, $name:ident, $t:ident,
        LIBZMQ_REQ_PLAIN_SERVER) => {
        pub mod $name {
            matrix!(@cell $variant, $end, $binder, $t, null, Null);
            matrix!(@cell $variant, $end, $binder, $t, plain_ok, PlainOk,
                "libzmq bug: a libzmq 4.3.4 REQ acting as PLAIN server drops every reply, also from libzmq peers (cases::libzmq_req_as_plain_server_drops_replies)");
            matrix!(@cell $variant, $end, $binder, $t, plain_wrong_password, PlainWrongPassword);
        }
    };
    (@transport $variant:ident, $end:ident, $binder:ident, $name:ident, $t:ident) => {
        pub mod $name {
            matrix!(@cell $variant, $end, $binder, $t, null, Null);
            matrix!(@cell $variant, $end, $binder, $t, plain_ok, PlainOk);
            matrix!(@cell $variant, $end, $binder, $t, plain_wrong_password, PlainWrongPassword);
        }
    };
    (@cell $variant:ident, $end:ident, $binder:ident, $t:ident, $name:ident, $mech:ident
        $(, $pending:literal)?) => {
        #[test]
        $(#[ignore = $pending])?
        fn $name() {
            use crate::matrix::{run, Binder, Cell, End, Mech, Pair};
            run(Cell {
                pair: Pair::$variant,
                ours: End::$end,
                binder: Binder::$binder,
                transport: crate::side::Transport::$t,
                mech: Mech::$mech,
            });
        }
    };
}

matrix! {
    pair_pair = PairPair, ours_pair_a, ours_pair_b;
    req_rep = ReqRep, ours_req, ours_rep;
    req_router = ReqRouter, ours_req, ours_router;
    dealer_rep = DealerRep, ours_dealer, ours_rep;
    dealer_router = DealerRouter, ours_dealer, ours_router;
    dealer_dealer = DealerDealer, ours_dealer_a, ours_dealer_b;
    router_router = RouterRouter, ours_router_a, ours_router_b;
    pub_sub = PubSub, ours_pub, ours_sub;
    pub_xsub = PubXsub, ours_pub, ours_xsub;
    xpub_sub = XpubSub, ours_xpub, ours_sub;
    xpub_xsub = XpubXsub, ours_xpub, ours_xsub;
    push_pull = PushPull, ours_push, ours_pull;
}
