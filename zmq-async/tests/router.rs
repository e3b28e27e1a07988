//! ROUTER identities, mandatory, handover, probe; PAIR.
#![allow(clippy::unwrap_used)]

mod common;
use bytes::Bytes;
use common::*;
use zmq_async::{DealerSocket, Error, Frame, Message, PairSocket, RouterSocket, SocketOptions};

fn with_id(id: &'static str) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.routing_id = Some(Bytes::from(id));
    o
}

#[tokio::test]
async fn auto_ids_are_libzmq_shaped_and_routable() {
    within(async {
        let e = ep("auto-id");
        let mut router = RouterSocket::new();
        router.bind(&e).await.unwrap();
        let mut dealers = Vec::new();
        for _ in 0..2 {
            let mut d = DealerSocket::new();
            d.connect(&e).await.unwrap();
            d.send(msg(&["hi"])).await.unwrap();
            dealers.push(d);
        }
        let a = router.recv().await.unwrap();
        let b = router.recv().await.unwrap();
        for m in [&a, &b] {
            assert_eq!(m[0].len(), 5);
            assert_eq!(m[0][0], 0);
            assert_eq!(strs(m)[1], "hi");
        }
        let na = u32::from_be_bytes(a[0][1..].try_into().unwrap());
        let nb = u32::from_be_bytes(b[0][1..].try_into().unwrap());
        assert_eq!(nb, na.wrapping_add(1), "a counter");
        router
            .send(Message::from(vec![b[0].clone(), Frame::from("to-b")]))
            .await
            .unwrap();
        assert_eq!(strs(&dealers[1].recv().await.unwrap()), ["to-b"]);
    })
    .await;
}

#[tokio::test]
async fn unroutable_dropped_or_host_unreachable() {
    within(async {
        let e = ep("mandatory");
        let mut router = RouterSocket::new();
        router.bind(&e).await.unwrap();
        let mut d = DealerSocket::with_options(with_id("known")).unwrap();
        d.connect(&e).await.unwrap();
        router.send(msg(&["nobody", "x"])).await.unwrap(); // dropped silently
        router.set_router_mandatory(true).unwrap();
        assert!(matches!(
            router.send(msg(&["nobody", "x"])).await,
            Err(Error::HostUnreachable)
        ));
        router.send(msg(&["known", "y"])).await.unwrap();
        assert_eq!(strs(&d.recv().await.unwrap()), ["y"]);
        assert!(matches!(d.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn mandatory_at_hwm_waits_otherwise_drops() {
    within(async {
        let e = ep("mand-hwm");
        let mut opts = SocketOptions::default();
        opts.router_mandatory = true;
        opts.sndhwm = 1;
        let mut router = RouterSocket::with_options(opts).unwrap();
        router.bind(&e).await.unwrap();
        let mut d = DealerSocket::with_options(with_id("D")).unwrap();
        d.set_rcvhwm(1).unwrap();
        d.connect(&e).await.unwrap();
        router.try_send(msg(&["D", "1"])).unwrap();
        router.try_send(msg(&["D", "2"])).unwrap();
        let full = router.try_send(msg(&["D", "3"])).unwrap_err();
        assert!(full.is_would_block());
        let waiter = tokio::spawn(async move {
            router.send(msg(&["D", "3"])).await.unwrap();
            router
        });
        assert_eq!(strs(&d.recv().await.unwrap()), ["1"]);
        let mut router = waiter.await.unwrap();
        assert_eq!(strs(&d.recv().await.unwrap()), ["2"]);
        assert_eq!(strs(&d.recv().await.unwrap()), ["3"]);

        // Without mandatory a full peer's messages are dropped.
        router.set_router_mandatory(false).unwrap();
        for i in 0..5 {
            router.send(msg(&["D", &i.to_string()])).await.unwrap();
        }
        assert_eq!(strs(&d.recv().await.unwrap()), ["0"]);
        assert_eq!(strs(&d.recv().await.unwrap()), ["1"]);
        assert!(matches!(d.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn duplicate_id_ignored_or_handed_over() {
    within(async {
        for handover in [false, true] {
            let e = ep("dup");
            let mut opts = SocketOptions::default();
            opts.router_handover = handover;
            let mut router = RouterSocket::with_options(opts).unwrap();
            router.bind(&e).await.unwrap();
            let mut first = DealerSocket::with_options(with_id("same")).unwrap();
            first.connect(&e).await.unwrap();
            first.send(msg(&["from-first"])).await.unwrap();
            assert_eq!(strs(&router.recv().await.unwrap()), ["same", "from-first"]);
            let mut second = DealerSocket::with_options(with_id("same")).unwrap();
            second.connect(&e).await.unwrap();
            second.send(msg(&["from-second"])).await.unwrap();
            first.send(msg(&["first-again"])).await.unwrap();
            router.send(msg(&["same", "reply"])).await.unwrap();
            if handover {
                assert_eq!(strs(&router.recv().await.unwrap()), ["same", "from-second"]);
                assert_eq!(strs(&second.recv().await.unwrap()), ["reply"]);
                assert!(matches!(first.try_recv(), Err(Error::WouldBlock)));
            } else {
                assert_eq!(strs(&router.recv().await.unwrap()), ["same", "first-again"]);
                assert_eq!(strs(&first.recv().await.unwrap()), ["reply"]);
                assert!(matches!(second.try_recv(), Err(Error::WouldBlock)));
                assert!(matches!(router.try_recv(), Err(Error::WouldBlock)));
            }
        }
    })
    .await;
}

#[tokio::test]
async fn connect_routing_id_and_probe_router() {
    within(async {
        let e = ep("crid");
        let mut server = RouterSocket::with_options(with_id("server")).unwrap();
        server.bind(&e).await.unwrap();
        let mut client = RouterSocket::new();
        client
            .set_connect_routing_id(Some(Bytes::from("alias")))
            .unwrap();
        client.set_probe_router(true).unwrap();
        client.connect(&e).await.unwrap();
        assert_eq!(client.options().connect_routing_id, None, "consumed");
        // Peer hooks (the probe) run when the socket is next polled.
        assert_eq!(client.peer_count(), 1);
        // The server gets the probe: the client's (auto) id and an empty frame.
        let probe = server.recv().await.unwrap();
        assert_eq!(probe.len(), 2);
        assert!(probe[1].is_empty());
        client.send(msg(&["alias", "hello"])).await.unwrap();
        let m = server.recv().await.unwrap();
        assert_eq!(m[0], probe[0]);
        assert_eq!(strs(&m)[1], "hello");
        server
            .send(Message::from(vec![m[0].clone(), Frame::from("back")]))
            .await
            .unwrap();
        assert_eq!(strs(&client.recv().await.unwrap()), ["alias", "back"]);
    })
    .await;
}

#[tokio::test]
async fn hundred_peers_on_one_router() {
    within(async {
        let e = ep("router100");
        let mut router = RouterSocket::new();
        router.bind(&e).await.unwrap();
        let mut dealers = Vec::new();
        for i in 0..100 {
            let mut d = DealerSocket::with_options(with_id(Box::leak(
                format!("peer-{i}").into_boxed_str(),
            )))
            .unwrap();
            d.connect(&e).await.unwrap();
            d.send(msg(&["ping"])).await.unwrap();
            dealers.push(d);
        }
        for i in 0..100 {
            let m = router.recv().await.unwrap();
            assert_eq!(strs(&m), [format!("peer-{i}"), "ping".into()]);
            router
                .send(Message::from(vec![m[0].clone(), Frame::from("pong")]))
                .await
                .unwrap();
        }
        for d in &mut dealers {
            assert_eq!(strs(&d.recv().await.unwrap()), ["pong"]);
        }
    })
    .await;
}

#[tokio::test]
async fn pair_refuses_a_second_peer() {
    within(async {
        let e = ep("pair");
        let mut a = PairSocket::new();
        a.bind(&e).await.unwrap();
        let mut b = PairSocket::new();
        b.connect(&e).await.unwrap();
        let mut c = PairSocket::new();
        c.connect(&e).await.unwrap();
        a.send(msg(&["to-b"])).await.unwrap();
        assert_eq!(strs(&b.recv().await.unwrap()), ["to-b"]);
        b.send(msg(&["to-a"])).await.unwrap();
        assert_eq!(strs(&a.recv().await.unwrap()), ["to-a"]);
        assert_eq!(a.peer_count(), 1);
        // c's pipe was closed by a: nothing can be sent to it.
        assert_eq!(c.peer_count(), 0);
        assert!(c.try_send(msg(&["x"])).unwrap_err().is_would_block());
    })
    .await;
}

#[tokio::test]
async fn incompatible_peer_refused() {
    within(async {
        let e = ep("incompat");
        let mut pair = PairSocket::new();
        pair.bind(&e).await.unwrap();
        let mut dealer = DealerSocket::new();
        dealer.connect(&e).await.unwrap();
        assert_eq!(pair.peer_count(), 0);
        assert_eq!(dealer.peer_count(), 0);
    })
    .await;
}
