//! The socket options of issue 13 between our own sockets: xpub_nodrop, xpub_manual,
//! invert_matching, reconnect_stop, zap_enforce_domain, metadata and `Peer-Address`.
//! (What libzmq sees of them is in `tests/tests/options_libzmq.rs`.)
//!
//! No test here binds a ZAP handler: `zap_enforce_domain` is tested without one, and the
//! handler is process-wide.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures::FutureExt;
use zmq_async::{
    DealerSocket, Error, Message, ReconnectStop, RouterSocket, SocketOptions, SubSocket, XPubSocket,
};

/// Waits until a connect's peer is gone (its connector gave up), polling the socket.
async fn until_no_peer(socket: &mut DealerSocket) {
    while socket.peer_count() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn xpub_nodrop_makes_a_full_subscriber_wait_instead_of_losing_messages() {
    within(async {
        let e = ep("nodrop");
        let mut xpub = XPubSocket::new();
        xpub.set_sndhwm(1).unwrap();
        xpub.set_xpub_nodrop(true).unwrap();
        xpub.bind(&e).await.unwrap();
        let mut sub = SubSocket::new();
        sub.set_rcvhwm(1).unwrap();
        sub.connect(&e).await.unwrap();
        sub.subscribe("").unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01");

        // Without the option these would all "succeed" (dropped past the HWM).
        let mut sent = 0;
        loop {
            match xpub.try_send(msg(&[&sent.to_string()])) {
                Ok(()) => sent += 1,
                Err(e) => {
                    assert!(matches!(e.error(), Error::WouldBlock), "{e:?}");
                    break;
                }
            }
            assert!(sent < 100, "xpub_nodrop never pushed back");
        }
        // A message that cannot go waits, and goes once the subscriber reads.
        let late = sent;
        let (sent_late, received) = tokio::join!(xpub.send(msg(&[&late.to_string()])), async {
            let mut got = Vec::new();
            for _ in 0..=late {
                got.push(strs(&sub.recv().await.unwrap())[0].clone());
            }
            got
        });
        sent_late.unwrap();
        let expected: Vec<String> = (0..=late).map(|i| i.to_string()).collect();
        assert_eq!(received, expected, "nothing dropped, in order");
    })
    .await;
}

#[tokio::test]
async fn xpub_manual_passes_every_subscription_up_and_subscribes_what_the_user_grants() {
    within(async {
        let e = ep("manual");
        let mut plain = XPubSocket::new();
        assert!(matches!(plain.subscribe("A"), Err(Error::NotSupported(_))));

        let mut xpub = XPubSocket::new();
        xpub.set_xpub_manual(true).unwrap();
        xpub.bind(&e).await.unwrap();
        let mut s1 = SubSocket::new();
        s1.connect(&e).await.unwrap();
        s1.subscribe("").unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01");
        // Granted "B" instead of everything.
        xpub.subscribe("B").unwrap();

        // A duplicate subscription reaches the user too (not so without xpub_manual or
        // xpub_verbose).
        let mut s2 = SubSocket::new();
        s2.connect(&e).await.unwrap();
        s2.subscribe("").unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01");
        xpub.subscribe("").unwrap();

        xpub.send(msg(&["A1"])).await.unwrap();
        xpub.send(msg(&["B1"])).await.unwrap();
        assert_eq!(
            strs(&s1.recv().await.unwrap()),
            ["B1"],
            "A1 was not granted"
        );
        assert_eq!(strs(&s2.recv().await.unwrap()), ["A1"]);

        // A subscriber that leaves cancels what it asked for, whatever it was granted.
        drop(s1);
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x00");
    })
    .await;
}

#[tokio::test]
async fn invert_matching_sends_and_delivers_what_matches_no_subscription() {
    within(async {
        let e = ep("invert");
        let mut xpub = XPubSocket::new();
        xpub.set_invert_matching(true).unwrap();
        xpub.bind(&e).await.unwrap();
        let mut sub = SubSocket::new();
        sub.set_invert_matching(true).unwrap();
        sub.connect(&e).await.unwrap();
        sub.subscribe("A").unwrap();
        assert_eq!(xpub.recv().await.unwrap(), Message::from(b"\x01A"));
        xpub.send(msg(&["A1"])).await.unwrap();
        xpub.send(msg(&["B1"])).await.unwrap();
        assert_eq!(strs(&sub.recv().await.unwrap()), ["B1"]);

        // A SUB without the option drops what an inverted publisher sends it.
        let mut plain = SubSocket::new();
        plain.connect(&e).await.unwrap();
        plain.subscribe("C").unwrap();
        assert_eq!(xpub.recv().await.unwrap(), Message::from(b"\x01C"));
        xpub.send(msg(&["B2"])).await.unwrap();
        xpub.send(msg(&["A2"])).await.unwrap();
        assert_eq!(strs(&sub.recv().await.unwrap()), ["B2"]);
        assert!(matches!(plain.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn reconnect_stop_conn_refused_gives_up_on_a_closed_port() {
    within(async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let mut dealer = DealerSocket::new();
        dealer
            .set_reconnect_stop(ReconnectStop::CONN_REFUSED)
            .unwrap();
        dealer.connect(&format!("tcp://{addr}")).await.unwrap();
        until_no_peer(&mut dealer).await;
    })
    .await;
}

#[tokio::test]
async fn reconnect_stop_handshake_failed_connects_once_to_a_peer_that_speaks_no_zmtp() {
    within(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut dealer = DealerSocket::new();
        dealer
            .set_reconnect_stop(ReconnectStop::HANDSHAKE_FAILED | ReconnectStop::CONN_REFUSED)
            .unwrap();
        dealer.connect(&format!("tcp://{addr}")).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        drop(stream); // closed before any greeting
        until_no_peer(&mut dealer).await;
        // The connector is gone: no second connection is waiting, or ever will.
        assert!(listener.accept().now_or_never().is_none());
    })
    .await;
}

/// A NULL ROUTER with a ZAP domain, in a process without a ZAP handler, and a DEALER that
/// gives up when its handshake fails: whether a message gets through.
async fn null_with_domain_and_no_handler(enforce: bool) -> bool {
    let mut opts = SocketOptions::default();
    opts.zap_domain = Some("global".into());
    opts.zap_enforce_domain = enforce;
    let mut router = RouterSocket::with_options(opts).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let mut dealer = DealerSocket::new();
    dealer
        .set_reconnect_stop(ReconnectStop::HANDSHAKE_FAILED)
        .unwrap();
    dealer.connect(&endpoint).await.unwrap();
    dealer.send(msg(&["hi"])).await.unwrap();
    tokio::select! {
        got = router.recv() => {
            assert_eq!(strs(&got.unwrap())[1], "hi");
            true
        }
        () = until_no_peer(&mut dealer) => false,
    }
}

#[tokio::test]
async fn zap_enforce_domain_refuses_null_peers_when_no_handler_is_bound() {
    within(async {
        assert!(
            null_with_domain_and_no_handler(false).await,
            "libzmq 4.3's default"
        );
        assert!(!null_with_domain_and_no_handler(true).await);
    })
    .await;
}

#[tokio::test]
async fn zap_enforce_domain_makes_a_plain_server_need_a_domain() {
    within(async {
        let mut opts = SocketOptions::default();
        opts.plain_server = true;
        opts.zap_enforce_domain = true;
        let mut router = RouterSocket::with_options(opts).unwrap();
        assert!(matches!(
            router.bind("tcp://127.0.0.1:0").await,
            Err(Error::InvalidArgument(_))
        ));
        router.set_zap_domain(Some("global".into())).unwrap();
        router.bind("tcp://127.0.0.1:0").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn metadata_and_peer_address_arrive_with_every_message() {
    within(async {
        let mut router = RouterSocket::new();
        let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut dealer = DealerSocket::new();
        dealer.add_metadata("X-Service:billing").unwrap();
        dealer.add_metadata("X-Service:ignored").unwrap(); // the first value stays
        assert!(dealer.add_metadata("Service:billing").is_err());
        assert!(dealer.add_metadata("X-Empty:").is_err());
        dealer.connect(&endpoint).await.unwrap();
        dealer.send(msg(&["one"])).await.unwrap();
        dealer.send(msg(&["two"])).await.unwrap();
        for body in ["one", "two"] {
            let got = router.recv().await.unwrap();
            assert_eq!(strs(&got)[1], body);
            let property = |name| {
                got.property(name)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            assert_eq!(property("X-Service").as_deref(), Some("billing"));
            assert_eq!(property("Peer-Address").as_deref(), Some("127.0.0.1"));
            assert_eq!(property("Socket-Type").as_deref(), Some("DEALER"));
        }
        // Over inproc there is no handshake: no properties.
        let e = ep("metadata-inproc");
        let mut inproc_router = RouterSocket::new();
        inproc_router.bind(&e).await.unwrap();
        let mut inproc_dealer = DealerSocket::new();
        inproc_dealer.add_metadata("X-Service:billing").unwrap();
        inproc_dealer.connect(&e).await.unwrap();
        inproc_dealer.send(msg(&["x"])).await.unwrap();
        assert!(inproc_router.recv().await.unwrap().metadata().is_none());
    })
    .await;
}

#[test]
fn metadata_names_must_start_with_x() {
    let mut opts = SocketOptions::default();
    opts.metadata.insert("Service", "billing").unwrap();
    assert!(matches!(
        opts.validate(),
        Err(Error::InvalidArgument(m)) if m.contains("X-")
    ));
    assert!(RouterSocket::with_options(opts).is_err());
}

#[tokio::test]
async fn hello_msg_goes_first_to_each_inproc_peer_whoever_binds() {
    within(async {
        let hello = |s: &str| Some(bytes::Bytes::from(s.to_owned()));
        // Connect before bind: the DEALER's hello is ahead of what it queued meanwhile.
        let e = ep("hello");
        let mut dealer = DealerSocket::new();
        dealer.set_hello_msg(hello("from-dealer")).unwrap();
        dealer.connect(&e).await.unwrap();
        dealer.send(msg(&["queued"])).await.unwrap();
        let mut router = RouterSocket::new();
        router.set_hello_msg(hello("from-router")).unwrap();
        router.bind(&e).await.unwrap();
        assert_eq!(strs(&router.recv().await.unwrap())[1], "from-dealer");
        assert_eq!(strs(&router.recv().await.unwrap())[1], "queued");
        assert_eq!(strs(&dealer.recv().await.unwrap()), ["from-router"]);

        // Bind before connect, the other way round.
        let e = ep("hello");
        let mut dealer = DealerSocket::new();
        dealer.set_hello_msg(hello("from-dealer")).unwrap();
        dealer.bind(&e).await.unwrap();
        let mut router = RouterSocket::new();
        router.set_routing_id(Some("r".into())).unwrap();
        router.set_hello_msg(hello("from-router")).unwrap();
        router.connect(&e).await.unwrap();
        assert_eq!(strs(&dealer.recv().await.unwrap()), ["from-router"]);
        assert_eq!(strs(&router.recv().await.unwrap())[1], "from-dealer");
    })
    .await;
}

/// A raw ZMTP DEALER (our codec over a bare tcp stream) that says what it likes in its
/// READY, then sends one message.
async fn raw_dealer_claiming(addr: &str, claims: &[(&str, &str)]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use zmtp_codec::{Config, Connection, Metadata, SocketType};

    let mut metadata = Metadata::new();
    for (name, value) in claims {
        metadata.insert(name, value.as_bytes().to_vec()).unwrap();
    }
    let mut config = Config::new(SocketType::Dealer);
    config.metadata = metadata;
    let conn = Connection::new(config, std::time::Instant::now()).unwrap();
    let (mut conn, mut stream) = raw_peer(addr, conn).await;
    let mut buf = vec![0u8; 4096];
    conn.send(&msg(&["claimed"])).unwrap();
    while let Some(out) = conn.poll_transmit() {
        stream.write_all(&out).await.unwrap();
    }
    // Keep the connection until the message is read: wait for the socket to close it.
    let _ = stream.read(&mut buf).await;
}

#[tokio::test]
async fn a_peer_cannot_claim_its_own_peer_address_or_user_id() {
    within(async {
        let mut router = RouterSocket::new();
        let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
        let addr = endpoint.trim_start_matches("tcp://").to_owned();
        let peer = tokio::spawn(async move {
            raw_dealer_claiming(
                &addr,
                &[
                    ("Peer-Address", "203.0.113.9"),
                    ("User-Id", "admin"),
                    ("X-Ok", "yes"),
                ],
            )
            .await;
        });
        let got = router.recv().await.unwrap();
        assert_eq!(strs(&got)[1], "claimed");
        let property = |name| {
            got.property(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(property("Peer-Address").as_deref(), Some("127.0.0.1"));
        assert_eq!(property("User-Id"), None);
        assert_eq!(property("X-Ok").as_deref(), Some("yes"));
        let infos = router.peer_infos();
        assert_eq!(infos.len(), 1);
        assert!(infos[0].metadata.get("X-Ok").is_some());
        assert!(infos[0].metadata.get("User-Id").is_none());
        assert!(infos[0].metadata.get("Peer-Address").is_none());
        drop(router);
        peer.await.unwrap();
    })
    .await;
}
