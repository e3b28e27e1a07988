//! The cases that break real programs, ours against libzmq 4.3.4 (and raw byte peers where
//! only a scripted peer can misbehave on purpose).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use tokio::sync::mpsc;
use zmq_tests::wire;
use zmq_tests::{BytePeer, QUIET};

use crate::side::{
    event, frames, private_ctx, Frames, Impl, Kind, Lib, Monitor, Ours, Setup, Side, Transport,
};

/// Our PUSH to a libzmq PULL (`ours_sends`) or a libzmq PUSH to our PULL (`ours_receives`).
async fn push_pull(ours_sends: bool, t: Transport) -> (Side, Side, crate::side::Bound) {
    let (push_imp, pull_imp) = if ours_sends {
        (Impl::Ours, Impl::Libzmq)
    } else {
        (Impl::Libzmq, Impl::Ours)
    };
    let mut pull = Side::new(pull_imp, Kind::Pull, &Setup::default());
    let bound = pull.bind(t).await;
    let mut push = Side::new(push_imp, Kind::Push, &Setup::default());
    push.connect(&bound.endpoint).await;
    (push, pull, bound)
}

/// Sends `msg` both ways of a PUSH/PULL pair and checks it arrives whole, followed by a
/// marker (so nothing was split or duplicated).
async fn shape(msg: Frames, ours_sends: bool, t: Transport) {
    let (mut push, mut pull, _bound) = push_pull(ours_sends, t).await;
    let sent = msg.clone();
    tokio::join!(
        async {
            push.send(sent).await;
            push.send(frames(&["marker"])).await;
        },
        async {
            let got = pull.recv().await;
            assert_eq!(got.len(), msg.len(), "frame count");
            for (i, (g, m)) in got.iter().zip(&msg).enumerate() {
                assert!(g == m, "frame {i}: {} bytes, expected {}", g.len(), m.len());
            }
            assert_eq!(pull.recv().await, frames(&["marker"]));
        }
    );
}

fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// `size::<shape>::<ours_sends|ours_receives>::<tcp|ipc>`.
macro_rules! shapes {
    ($($name:ident => $msg:expr;)*) => {
        pub mod size {$(
            pub mod $name {
                shapes!(@dir $msg, ours_sends, true);
                shapes!(@dir $msg, ours_receives, false);
            }
        )*}
    };
    (@dir $msg:expr, $dir:ident, $sends:expr) => {
        pub mod $dir {
            #[allow(unused_imports)]
            use crate::cases::big;
            #[test]
            fn tcp() {
                crate::block_on(crate::cases::shape($msg, $sends, crate::side::Transport::Tcp));
            }
            #[test]
            fn ipc() {
                crate::block_on(crate::cases::shape($msg, $sends, crate::side::Transport::Ipc));
            }
        }
    };
}

shapes! {
    zero_bytes => vec![Vec::new()];
    multipart_with_empty_frames => vec![Vec::new(), b"a".to_vec(), Vec::new(), Vec::new(), b"z".to_vec()];
    one_mib => vec![big(1 << 20)];
    sixteen_mib => vec![big(16 << 20)];
    sixteen_mib_in_a_multipart => vec![Vec::new(), big(16 << 20), b"tail".to_vec()];
}

// ---------------------------------------------------------------------------------------------
// XPUB with several libzmq SUBs
// ---------------------------------------------------------------------------------------------

/// Our XPUB passes each topic up once (first subscriber) and its cancel once (last one), with
/// two libzmq SUBs. Every step is proven by the next message the XPUB reads: a duplicate that
/// was wrongly passed up would arrive before the expected one.
#[test]
fn xpub_sees_unique_subscriptions_of_two_libzmq_subs() {
    crate::block_on(async {
        let mut xpub = Side::new(Impl::Ours, Kind::XPub, &Setup::default());
        let bound = xpub.bind(Transport::Tcp).await;
        let mut s1 = Side::new(Impl::Libzmq, Kind::Sub, &Setup::default());
        let mut s2 = Side::new(Impl::Libzmq, Kind::Sub, &Setup::default());
        s1.connect(&bound.endpoint).await;
        s2.connect(&bound.endpoint).await;
        s1.subscribe(b"A").await;
        assert_eq!(xpub.recv().await, vec![b"\x01A".to_vec()]);
        s2.subscribe(b"A").await; // duplicate: not passed up
        s2.subscribe(b"B").await;
        assert_eq!(xpub.recv().await, vec![b"\x01B".to_vec()]);
        s1.unsubscribe(b"A").await; // s2 still wants A: not passed up
        s1.subscribe(b"C").await;
        assert_eq!(xpub.recv().await, vec![b"\x01C".to_vec()]);
        s2.unsubscribe(b"A").await; // the last one
        assert_eq!(xpub.recv().await, vec![b"\x00A".to_vec()]);
        // Data reaches exactly the subscribers of its topic.
        xpub.send(frames(&["B for s2"])).await;
        xpub.send(frames(&["C for s1"])).await;
        assert_eq!(s2.recv().await, frames(&["B for s2"]));
        assert_eq!(s1.recv().await, frames(&["C for s1"]));
    });
}

// ---------------------------------------------------------------------------------------------
// ZMTP 3.0 peers and subscriptions
// ---------------------------------------------------------------------------------------------

fn loopback(endpoint: &str) -> SocketAddr {
    endpoint
        .strip_prefix("tcp://")
        .expect("tcp endpoint")
        .parse()
        .expect("socket address")
}

/// Reads frames until one with body `want`; every frame skipped must be a message that
/// `allowed` accepts. Returns nothing; panics on a close or an unexpected frame.
fn read_until(peer: &mut BytePeer, want: &[u8], allowed: impl Fn(&[u8]) -> bool) {
    loop {
        let f = peer.read_frame();
        assert_eq!(f.flags & 0x04, 0, "unexpected command {:?}", f.raw);
        if f.body == want {
            return;
        }
        assert!(allowed(&f.body), "unexpected frame {:?}", f.raw);
    }
}

/// A ZMTP 3.0 SUB (subscriptions as `0x01`/`0x00` messages) against our PUB: filtering,
/// then a cancel that takes effect.
#[test]
fn zmtp30_sub_subscribes_and_cancels_on_our_pub() {
    crate::block_on(async {
        let mut publisher = Ours::new(Kind::Pub, &Setup::default());
        let Ours::Pub(p) = &mut publisher else {
            unreachable!()
        };
        let endpoint = p.bind("tcp://127.0.0.1:0").await.expect("bind");
        let addr = loopback(&endpoint);
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let peer = tokio::task::spawn_blocking(move || {
            let mut peer = BytePeer::connect(addr);
            let (greeting, their_ready) = peer.null_handshake(0, b"SUB");
            assert_eq!(greeting[10], 3, "major version");
            assert_eq!(their_ready.body[..6], *b"\x05READY");
            peer.send(&wire::message(b"\x01A"));
            read_until(&mut peer, b"A sync", |_| false);
            tx.send(()).expect("publisher waits");
            read_until(&mut peer, b"A data", |b| b == b"A sync");
            // Cancel A, subscribe C: once "C sync" arrives, the cancel was applied.
            peer.send(&wire::message(b"\x00A"));
            peer.send(&wire::message(b"\x01C"));
            read_until(&mut peer, b"C sync", |b| b.starts_with(b"A"));
            tx.send(()).expect("publisher waits");
            read_until(&mut peer, b"C end", |b| b == b"C sync");
        });
        loop {
            p.send(zmq_async::Message::from("A sync")).await.unwrap();
            tokio::select! {
                _ = rx.recv() => break,
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
        p.send(zmq_async::Message::from("B noise")).await.unwrap();
        p.send(zmq_async::Message::from("A data")).await.unwrap();
        loop {
            p.send(zmq_async::Message::from("A late")).await.unwrap();
            p.send(zmq_async::Message::from("C sync")).await.unwrap();
            tokio::select! {
                _ = rx.recv() => break,
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
        p.send(zmq_async::Message::from("A after cancel"))
            .await
            .unwrap();
        p.send(zmq_async::Message::from("C end")).await.unwrap();
        peer.await.expect("byte peer");
    });
}

/// Our SUB to a ZMTP 3.0 PUB sends its subscriptions and cancels as messages, not commands.
#[test]
fn our_sub_speaks_subscription_messages_to_a_zmtp30_pub() {
    crate::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut sub = zmq_async::SubSocket::new();
        sub.subscribe("A").unwrap();
        sub.connect(&format!("tcp://{addr}")).await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let peer = tokio::task::spawn_blocking(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut peer = BytePeer::from_stream(stream);
            let (_, their_ready) = peer.null_handshake(0, b"PUB");
            assert_eq!(
                their_ready.body,
                wire::command_body(b"READY", &wire::properties(&[(b"Socket-Type", b"SUB")]))
            );
            assert_eq!(peer.read_frame().raw, wire::message(b"\x01A"));
            peer.send(&wire::message(b"A one"));
            tx.send(()).expect("sub waits");
            assert_eq!(peer.read_frame().raw, wire::message(b"\x00A"));
            peer.send(&wire::message(b"A dropped"));
            peer.send(&wire::message(b"B two"));
            peer
        });
        assert_eq!(&sub.recv().await.unwrap()[0][..], b"A one");
        rx.recv().await;
        sub.unsubscribe("A").unwrap();
        sub.subscribe("B").unwrap();
        let _peer = peer.await.expect("byte peer");
        // "A dropped" was sent after the cancel reached the peer and before "B two"; a SUB
        // filters locally too, so the next message must be "B two".
        assert_eq!(&sub.recv().await.unwrap()[0][..], b"B two");
    });
}

// ---------------------------------------------------------------------------------------------
// Routing ids across implementations
// ---------------------------------------------------------------------------------------------

/// A libzmq DEALER without a routing id gets an automatic one from our ROUTER (libzmq's shape:
/// 5 bytes, `00` + u32) that routes replies; one with `ZMQ_ROUTING_ID` is known by it.
#[test]
fn our_router_names_libzmq_dealers() {
    crate::block_on(async {
        let mut router = Side::new(Impl::Ours, Kind::Router, &Setup::default());
        let bound = router.bind(Transport::Tcp).await;
        let mut anon = Side::new(Impl::Libzmq, Kind::Dealer, &Setup::default());
        let named_setup = Setup {
            routing_id: Some(b"named"),
            ..Setup::default()
        };
        let mut named = Side::new(Impl::Libzmq, Kind::Dealer, &named_setup);
        anon.connect(&bound.endpoint).await;
        named.connect(&bound.endpoint).await;
        tokio::join!(
            anon.send(frames(&["from anon"])),
            named.send(frames(&["from named"]))
        );
        let mut ids = Vec::new();
        for _ in 0..2 {
            let m = router.recv().await;
            if m[1] == b"from named" {
                assert_eq!(m[0], b"named");
            } else {
                assert_eq!(m[1], b"from anon");
                assert_eq!(m[0].len(), 5, "auto id {:?}", m[0]);
                assert_eq!(m[0][0], 0, "auto id starts with 0");
            }
            ids.push(m[0].clone());
        }
        for id in &ids {
            router.send(vec![id.clone(), b"reply".to_vec()]).await;
        }
        assert_eq!(anon.recv().await, frames(&["reply"]));
        assert_eq!(named.recv().await, frames(&["reply"]));
    });
}

/// Our DEALER's and REQ's `routing_id` is what a libzmq ROUTER sees; unset, libzmq assigns
/// its own 5-byte id.
#[test]
fn libzmq_router_names_our_dealer_and_req() {
    crate::block_on(async {
        let mut router = Side::new(Impl::Libzmq, Kind::Router, &Setup::default());
        let bound = router.bind(Transport::Ipc).await;
        let named = Setup {
            routing_id: Some(b"our-dealer"),
            ..Setup::default()
        };
        let mut dealer = Side::new(Impl::Ours, Kind::Dealer, &named);
        let mut req = Side::new(Impl::Ours, Kind::Req, &Setup::default());
        dealer.connect(&bound.endpoint).await;
        req.connect(&bound.endpoint).await;
        dealer.send(frames(&["d"])).await;
        req.send(frames(&["r"])).await;
        for _ in 0..2 {
            let m = router.recv().await;
            if m.last() == Some(&b"d".to_vec()) {
                assert_eq!(m, frames(&["our-dealer", "d"]));
            } else {
                assert_eq!(m.len(), 3, "{m:?}");
                assert_eq!((m[0].len(), m[0][0]), (5, 0), "libzmq auto id {:?}", m[0]);
                assert_eq!(&m[1..], &frames(&["", "r"])[..]);
                router
                    .send(vec![m[0].clone(), Vec::new(), b"r back".to_vec()])
                    .await;
            }
        }
        router.send(frames(&["our-dealer", "d back"])).await;
        assert_eq!(dealer.recv().await, frames(&["d back"]));
        assert_eq!(req.recv().await, frames(&["r back"]));
    });
}

// ---------------------------------------------------------------------------------------------
// Heartbeats
// ---------------------------------------------------------------------------------------------

const HB_IVL: Duration = Duration::from_millis(40);
const HB_TIMEOUT: Duration = Duration::from_millis(200);
/// Idle time a heartbeating connection must survive: many intervals, several timeouts.
const IDLE: Duration = Duration::from_millis(700);

/// Heartbeats on one end (`ours_heartbeats`: ours, else libzmq's), the other end answering
/// PINGs; the connection survives idle time. A libzmq monitor on the libzmq end proves there
/// was no reconnect: exactly one handshake, no disconnect.
async fn heartbeat_survives_idle(ours_heartbeats: bool, t: Transport) {
    let hb = Setup {
        heartbeat_ivl: Some(HB_IVL),
        heartbeat_timeout: Some(HB_TIMEOUT),
        heartbeat_ttl: Some(HB_TIMEOUT),
        ..Setup::default()
    };
    let (ours_setup, lib_setup) = if ours_heartbeats {
        (hb, Setup::default())
    } else {
        (Setup::default(), hb)
    };
    let ctx = private_ctx();
    let mut lib = Side::Lib(Lib::new_in(&ctx, Kind::Pull, &lib_setup));
    let Side::Lib(l) = &lib else { unreachable!() };
    let mut monitor = Monitor::new(&ctx, l.raw());
    let bound = lib.bind(t).await;
    let mut ours = Side::new(Impl::Ours, Kind::Push, &ours_setup);
    ours.connect(&bound.endpoint).await;
    ours.send(frames(&["before"])).await;
    assert_eq!(lib.recv().await, frames(&["before"]));
    monitor.wait_for(event::HANDSHAKE_SUCCEEDED).await;
    // The idle time is what is being tested, not a synchronisation.
    tokio::time::sleep(IDLE).await;
    ours.send(frames(&["after"])).await;
    assert_eq!(lib.recv().await, frames(&["after"]));
    // No disconnect and no second handshake happened (bounded wait: the assertion).
    while let Some(e) = monitor.next_for(Duration::from_millis(50)).await {
        assert!(
            e != event::DISCONNECTED && e != event::HANDSHAKE_SUCCEEDED && e != event::ACCEPTED,
            "connection was replaced during idle time: event {e:#x}"
        );
    }
}

#[test]
fn heartbeat_ours_pings_libzmq_answers_survives_idle_tcp() {
    crate::block_on(heartbeat_survives_idle(true, Transport::Tcp));
}

#[test]
fn heartbeat_ours_pings_libzmq_answers_survives_idle_ipc() {
    crate::block_on(heartbeat_survives_idle(true, Transport::Ipc));
}

#[test]
fn heartbeat_libzmq_pings_ours_answers_survives_idle_tcp() {
    crate::block_on(heartbeat_survives_idle(false, Transport::Tcp));
}

#[test]
fn heartbeat_libzmq_pings_ours_answers_survives_idle_ipc() {
    crate::block_on(heartbeat_survives_idle(false, Transport::Ipc));
}

/// A peer that completes the handshake and then never answers our PINGs is dropped by our
/// socket, whether we bound or connected. (libzmq does the same: `libzmq_wire.rs`.)
async fn silent_peer_dropped(ours_binds: bool) {
    let hb = Setup {
        heartbeat_ivl: Some(HB_IVL),
        heartbeat_timeout: Some(HB_TIMEOUT),
        reconnect_ivl: Some(Duration::from_secs(60)),
        ..Setup::default()
    };
    let mut ours = Ours::new(Kind::Pull, &hb);
    let Ours::Pull(pull) = &mut ours else {
        unreachable!()
    };
    let peer = if ours_binds {
        let ep = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = loopback(&ep);
        tokio::task::spawn_blocking(move || BytePeer::connect(addr))
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        pull.connect(&format!("tcp://{addr}")).await.unwrap();
        tokio::task::spawn_blocking(move || BytePeer::from_stream(listener.accept().unwrap().0))
    };
    let mut peer = peer.await.unwrap();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        peer.null_handshake(1, b"PUSH");
        peer.send(&wire::message(b"one"));
        // Read PINGs (and nothing else) until our socket closes the connection.
        loop {
            match peer.try_read_exact(1, zmq_tests::IO_TIMEOUT) {
                Err((seen, zmq_tests::ReadEnd::Closed)) if seen.is_empty() => break,
                Err((_, end)) => panic!("silent peer was not dropped: {end:?}"),
                Ok(flags) => {
                    assert_eq!(flags[0], 0x04, "only commands (PING) expected");
                    let len = peer.read_exact(1)[0] as usize;
                    let body = peer.read_exact(len);
                    assert_eq!(&body[..5], b"\x04PING", "only PING expected");
                }
            }
        }
    })
    .await
    .unwrap();
    let after = started.elapsed();
    assert!(
        after >= HB_TIMEOUT,
        "dropped after {after:?}, before the timeout"
    );
    assert_eq!(&pull.recv().await.unwrap()[0][..], b"one");
}

#[test]
fn heartbeat_silent_peer_dropped_ours_binds() {
    crate::block_on(silent_peer_dropped(true));
}

#[test]
fn heartbeat_silent_peer_dropped_ours_connects() {
    crate::block_on(silent_peer_dropped(false));
}

// ---------------------------------------------------------------------------------------------
// Mismatched socket types
// ---------------------------------------------------------------------------------------------

/// Our PUSH and a libzmq DEALER (incompatible), each end binding in turn: the connection is
/// dropped after the handshake (libzmq 4.3.4 reports only `DISCONNECTED`, no
/// `HANDSHAKE_FAILED_*`) and nothing is delivered.
async fn mismatch_with_libzmq(ours_binds: bool, t: Transport) {
    let ctx = private_ctx();
    let mut dealer = Side::Lib(Lib::new_in(&ctx, Kind::Dealer, &Setup::default()));
    let Side::Lib(l) = &dealer else {
        unreachable!()
    };
    let mut monitor = Monitor::new(&ctx, l.raw());
    let mut ours = Ours::new(Kind::Push, &Setup::default());
    let Ours::Push(push) = &mut ours else {
        unreachable!()
    };
    let mut _ipc = None;
    let mut _bound = None;
    if ours_binds {
        let ep = match t {
            Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
            Transport::Ipc => {
                let e = zmq_tests::unique_ipc_endpoint("mismatch");
                let s = e.as_str().to_owned();
                _ipc = Some(e);
                s
            }
        };
        let ep = push.bind(&ep).await.unwrap();
        dealer.connect(&ep).await;
    } else {
        let b = dealer.bind(t).await;
        push.connect(&b.endpoint).await.unwrap();
        _bound = Some(b);
        // Our connect queues for the peer-to-be; the message must never reach the DEALER.
        push.try_send(zmq_async::Message::from("must not arrive"))
            .unwrap();
    }
    monitor.wait_for(event::DISCONNECTED).await;
    if ours_binds {
        // No compatible peer: PUSH has nowhere to send.
        let r = push.try_send(zmq_async::Message::from("must not arrive"));
        assert!(
            r.is_err(),
            "our PUSH took a message with no compatible peer"
        );
    }
    // Bounded wait: the assertion that nothing arrives.
    assert_eq!(dealer.recv_for(QUIET).await, None);
}

#[test]
fn mismatched_type_our_push_binds_libzmq_dealer_tcp() {
    crate::block_on(mismatch_with_libzmq(true, Transport::Tcp));
}

#[test]
fn mismatched_type_our_push_connects_libzmq_dealer_tcp() {
    crate::block_on(mismatch_with_libzmq(false, Transport::Tcp));
}

#[test]
fn mismatched_type_our_push_binds_libzmq_dealer_ipc() {
    crate::block_on(mismatch_with_libzmq(true, Transport::Ipc));
}

#[test]
fn mismatched_type_our_push_connects_libzmq_dealer_ipc() {
    crate::block_on(mismatch_with_libzmq(false, Transport::Ipc));
}

/// Our socket alone must refuse: a byte peer says PUSH to our DEALER (bound or connecting),
/// then sends a message anyway. Our socket closes the connection and delivers nothing.
async fn mismatch_refused_by_us(ours_binds: bool) {
    let mut ours = Ours::new(Kind::Dealer, &Setup::default());
    let Ours::Dealer(dealer) = &mut ours else {
        unreachable!()
    };
    let peer = if ours_binds {
        let ep = dealer.bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = loopback(&ep);
        tokio::task::spawn_blocking(move || BytePeer::connect(addr))
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr");
        dealer.connect(&format!("tcp://{addr}")).await.unwrap();
        tokio::task::spawn_blocking(move || BytePeer::from_stream(listener.accept().unwrap().0))
    };
    let mut peer = peer.await.unwrap();
    tokio::task::spawn_blocking(move || {
        let (_, their_ready) = peer.null_handshake(1, b"PUSH");
        assert!(their_ready.body.windows(6).any(|w| w == b"DEALER"));
        peer.send(&wire::message(b"must not arrive"));
        // libzmq closes without an ERROR; an ERROR command first is allowed by RFC 37.
        loop {
            match peer.try_read_exact(1, zmq_tests::IO_TIMEOUT) {
                Err((seen, zmq_tests::ReadEnd::Closed)) if seen.is_empty() => break,
                Err((_, end)) => panic!("our DEALER kept a PUSH peer: {end:?}"),
                Ok(flags) => {
                    assert_eq!(
                        flags[0], 0x04,
                        "only an ERROR command may precede the close"
                    );
                    let len = peer.read_exact(1)[0] as usize;
                    let body = peer.read_exact(len);
                    assert_eq!(&body[..6], b"\x05ERROR", "only ERROR expected");
                }
            }
        }
    })
    .await
    .unwrap();
    // Bounded wait: the assertion that nothing was delivered.
    let got = tokio::time::timeout(QUIET, dealer.recv()).await;
    assert!(got.is_err(), "delivered from a refused peer: {got:?}");
}

#[test]
fn mismatched_type_refused_by_our_dealer_bound() {
    crate::block_on(mismatch_refused_by_us(true));
}

#[test]
fn mismatched_type_refused_by_our_dealer_connecting() {
    crate::block_on(mismatch_refused_by_us(false));
}

// ---------------------------------------------------------------------------------------------
// libzmq peer restarts, our side reconnects
// ---------------------------------------------------------------------------------------------

/// Binds a fresh libzmq socket at exactly `endpoint`. libzmq closes a listener on its I/O
/// thread after `zmq_close` returns, so the address may still be taken for a moment: retry
/// until the bind succeeds (the hang guard bounds it).
async fn rebind_libzmq(kind: Kind, endpoint: &str) -> Side {
    loop {
        let s = Side::new(Impl::Libzmq, kind, &Setup::default());
        let Side::Lib(l) = &s else { unreachable!() };
        match l.raw().bind(endpoint) {
            Ok(()) => return s,
            Err(zmq::Error::EADDRINUSE) => tokio::task::yield_now().await,
            Err(e) => panic!("rebind {endpoint}: {e}"),
        }
    }
}

/// Our PUSH connected to a libzmq PULL that goes away and comes back on the same endpoint:
/// messages sent while it is away are queued and delivered, in order, after our reconnect.
/// A raw listener in between proves the reconnect attempt (as zmq-async/tests/network.rs).
async fn push_reconnects_to_restarted_libzmq(t: Transport) {
    let quick = Setup {
        reconnect_ivl: Some(Duration::from_millis(10)),
        ..Setup::default()
    };
    let mut pull = Side::new(Impl::Libzmq, Kind::Pull, &Setup::default());
    let bound = pull.bind(t).await;
    let mut push = Side::new(Impl::Ours, Kind::Push, &quick);
    push.connect(&bound.endpoint).await;
    push.send(frames(&["before"])).await;
    assert_eq!(pull.recv().await, frames(&["before"]));
    drop(pull);

    // Wait for our reconnect attempt on a raw listener that never speaks ZMTP.
    let raw = loop {
        let r = match t {
            Transport::Tcp => {
                std::net::TcpListener::bind(loopback(&bound.endpoint)).map(RawListener::Tcp)
            }
            Transport::Ipc => {
                let path = bound.endpoint.strip_prefix("ipc://").unwrap();
                let _ = std::fs::remove_file(path);
                std::os::unix::net::UnixListener::bind(path).map(RawListener::Ipc)
            }
        };
        match r {
            Ok(l) => break l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => tokio::task::yield_now().await,
            Err(e) => panic!("raw listener: {e}"),
        }
    };
    let (raw, conn) = tokio::task::spawn_blocking(move || {
        let conn = raw.accept();
        (raw, conn)
    })
    .await
    .unwrap();
    for i in 0..5 {
        push.send(frames(&[format!("queued {i}")])).await;
    }
    drop(conn);
    drop(raw);

    let mut pull = rebind_libzmq(Kind::Pull, &bound.endpoint).await;
    push.send(frames(&["after"])).await;
    for i in 0..5 {
        assert_eq!(pull.recv().await, frames(&[format!("queued {i}")]));
    }
    assert_eq!(pull.recv().await, frames(&["after"]));
}

enum RawListener {
    Tcp(std::net::TcpListener),
    Ipc(std::os::unix::net::UnixListener),
}

impl RawListener {
    /// Accepts one connection (blocking; the hang guard bounds it).
    fn accept(&self) -> Box<dyn std::any::Any + Send> {
        match self {
            RawListener::Tcp(l) => Box::new(l.accept().expect("accept").0),
            RawListener::Ipc(l) => Box::new(l.accept().expect("accept").0),
        }
    }
}

#[test]
fn reconnect_push_to_restarted_libzmq_pull_tcp() {
    crate::block_on(push_reconnects_to_restarted_libzmq(Transport::Tcp));
}

#[test]
fn reconnect_push_to_restarted_libzmq_pull_ipc() {
    crate::block_on(push_reconnects_to_restarted_libzmq(Transport::Ipc));
}

/// Our SUB reconnecting to a restarted libzmq PUB subscribes again: the new PUB's messages
/// for the old topic arrive.
async fn sub_resubscribes_after_restart(t: Transport) {
    let quick = Setup {
        reconnect_ivl: Some(Duration::from_millis(10)),
        ..Setup::default()
    };
    let mut publisher = Side::new(Impl::Libzmq, Kind::Pub, &Setup::default());
    let bound = publisher.bind(t).await;
    let mut sub = Side::new(Impl::Ours, Kind::Sub, &quick);
    sub.subscribe(b"A").await;
    sub.connect(&bound.endpoint).await;
    publish_until_received(&mut publisher, &mut sub, "A first").await;
    drop(publisher);
    let mut publisher = rebind_libzmq(Kind::Pub, &bound.endpoint).await;
    publish_until_received(&mut publisher, &mut sub, "A second").await;
}

/// Publishes `text` (and noise on another topic) until the subscriber receives `text`; the
/// pause only paces the retries, the receipt is the synchronisation.
async fn publish_until_received(p: &mut Side, s: &mut Side, text: &str) {
    loop {
        p.send(frames(&["B noise"])).await;
        p.send(frames(&[text])).await;
        if let Some(m) = s.recv_for(Duration::from_millis(10)).await {
            if m == frames(&[text]) {
                return;
            }
            assert!(m[0].starts_with(b"A"), "filtered message arrived: {m:?}");
        }
    }
}

#[test]
fn reconnect_sub_resubscribes_to_restarted_libzmq_pub_tcp() {
    crate::block_on(sub_resubscribes_after_restart(Transport::Tcp));
}

#[test]
fn reconnect_sub_resubscribes_to_restarted_libzmq_pub_ipc() {
    crate::block_on(sub_resubscribes_after_restart(Transport::Ipc));
}

/// libzmq 4.3.4 defect behind four ignored PLAIN cells of the matrix: a REQ that is the PLAIN
/// server (its peer authenticated through ZAP) sends its request, but the reply never comes
/// back to it, with libzmq on both ends. Without PLAIN the same exchange works. If libzmq
/// fixes this, this test fails and the cells can run.
#[test]
fn libzmq_req_as_plain_server_drops_replies() {
    crate::zap::ensure_handlers();
    let exchange = |plain: bool, client: Kind| -> bool {
        let mut server_setup = Setup::default();
        let mut client_setup = Setup::default();
        if plain {
            server_setup.plain = Some(crate::side::Plain::Server);
            client_setup.plain = Some(crate::side::Plain::Client {
                username: format!("libzmq-req-defect-{client:?}"),
                password: crate::zap::PASSWORD.to_owned(),
            });
        }
        let server = Lib::new(Kind::Req, &server_setup);
        let client = Lib::new(client, &client_setup);
        let addr = zmq_tests::bind_loopback(server.raw());
        client
            .raw()
            .connect(&format!("tcp://{addr}"))
            .expect("connect");
        server.raw().send("request", 0).expect("send");
        let mut got = client.raw().recv_multipart(0).expect("request arrives");
        let body = got.pop().expect("body");
        assert_eq!(body, b"request");
        got.push(b"reply".to_vec());
        client.raw().send_multipart(got, 0).expect("reply");
        // The hang guard bounds the wait (RCVTIMEO): EAGAIN means the reply was dropped.
        match server.raw().recv_bytes(0) {
            Ok(reply) => reply == b"reply",
            Err(zmq::Error::EAGAIN) => false,
            Err(e) => panic!("{e}"),
        }
    };
    for client in [Kind::Rep, Kind::Router] {
        assert!(exchange(false, client), "NULL {client:?}");
        assert!(
            !exchange(true, client),
            "PLAIN {client:?}: libzmq fixed the defect"
        );
    }
}
