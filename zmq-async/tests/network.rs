//! The socket types over tcp and ipc: patterns end to end, large and many-part messages,
//! back-pressure, reconnect, heartbeats, unbind and disconnect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use zmq_async::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SocketOptions, SubSocket, XPubSocket, XSubSocket,
};

/// Guards against hangs only; the tests synchronise on events.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

/// A fresh endpoint per call: tcp on port 0, or a unique ipc path.
fn endpoints() -> [String; 2] {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    [
        "tcp://127.0.0.1:0".to_owned(),
        format!("ipc:///tmp/zmq-async-net-{}-{n}.sock", std::process::id()),
    ]
}

fn text(m: &Message) -> Vec<String> {
    m.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

#[tokio::test]
async fn push_pull_both_transports_both_directions_of_bind() {
    within(async {
        for ep in endpoints() {
            // PULL binds, PUSH connects.
            let mut pull = PullSocket::new();
            let bound = pull.bind(&ep).await.unwrap();
            let mut push = PushSocket::new();
            push.connect(&bound).await.unwrap();
            for i in 0..100 {
                push.send(Message::from(format!("m{i}"))).await.unwrap();
            }
            for i in 0..100 {
                assert_eq!(text(&pull.recv().await.unwrap()), [format!("m{i}")]);
            }
            // PUSH binds, PULL connects (connect before anything is sent).
            let ep2 = endpoints()[if ep.starts_with("tcp") { 0 } else { 1 }].clone();
            let mut push = PushSocket::new();
            let bound = push.bind(&ep2).await.unwrap();
            let mut pull = PullSocket::new();
            pull.connect(&bound).await.unwrap();
            push.send(Message::from("reverse")).await.unwrap();
            assert_eq!(text(&pull.recv().await.unwrap()), ["reverse"]);
        }
    })
    .await;
}

#[tokio::test]
async fn bind_returns_the_real_port() {
    let mut pull = PullSocket::new();
    let bound = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let port: u16 = bound.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    assert!(bound.starts_with("tcp://127.0.0.1:"));
}

#[tokio::test]
async fn req_rep_and_router_dealer() {
    within(async {
        for ep in endpoints() {
            let mut rep = RepSocket::new();
            let bound = rep.bind(&ep).await.unwrap();
            let mut req = ReqSocket::new();
            req.connect(&bound).await.unwrap();
            for i in 0..10 {
                req.send(Message::from(format!("Hello {i}"))).await.unwrap();
                let got = rep.recv().await.unwrap();
                assert_eq!(text(&got), [format!("Hello {i}")]);
                rep.send(Message::from("World")).await.unwrap();
                assert_eq!(text(&req.recv().await.unwrap()), ["World"]);
            }

            let ep = endpoints()[if ep.starts_with("tcp") { 0 } else { 1 }].clone();
            let mut router = RouterSocket::new();
            let bound = router.bind(&ep).await.unwrap();
            let mut opts = SocketOptions::default();
            opts.routing_id = Some(Bytes::from_static(b"dealer-1"));
            let mut dealer = DealerSocket::with_options(opts).unwrap();
            dealer.connect(&bound).await.unwrap();
            dealer
                .send(["", "job"].into_iter().collect::<Message>())
                .await
                .unwrap();
            let got = router.recv().await.unwrap();
            assert_eq!(text(&got), ["dealer-1", "", "job"]);
            router
                .send(["dealer-1", "", "done"].into_iter().collect::<Message>())
                .await
                .unwrap();
            assert_eq!(text(&dealer.recv().await.unwrap()), ["", "done"]);
        }
    })
    .await;
}

#[tokio::test]
async fn pub_sub_filters_and_late_subscriber() {
    within(async {
        for ep in endpoints() {
            let mut publisher = PubSocket::new();
            let bound = publisher.bind(&ep).await.unwrap();
            let mut sub = SubSocket::new();
            sub.subscribe("weather").unwrap();
            sub.connect(&bound).await.unwrap();
            // Subscriptions travel asynchronously: publish until the first one arrives.
            loop {
                publisher.send(Message::from("weather sync")).await.unwrap();
                publisher.send(Message::from("sports noise")).await.unwrap();
                if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await
                {
                    assert_eq!(text(&m), ["weather sync"]);
                    break;
                }
            }
            publisher
                .send(Message::from("weather final"))
                .await
                .unwrap();
            loop {
                let m = sub.recv().await.unwrap();
                assert!(text(&m)[0].starts_with("weather"), "{m:?}");
                if text(&m) == ["weather final"] {
                    break;
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn xpub_sees_subscriptions_over_tcp() {
    within(async {
        let mut xpub = XPubSocket::new();
        let bound = xpub.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut sub = SubSocket::new();
        sub.subscribe("A").unwrap();
        sub.connect(&bound).await.unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01A");
        let mut xsub = XSubSocket::new();
        xsub.connect(&bound).await.unwrap();
        xsub.send(Message::from(&b"\x01B"[..])).await.unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x01B");
        sub.unsubscribe("A").unwrap();
        assert_eq!(&xpub.recv().await.unwrap()[0][..], b"\x00A");
    })
    .await;
}

#[tokio::test]
async fn pair_over_ipc_as_sink_and_stream() {
    within(async {
        let ep = endpoints()[1].clone();
        let mut a = PairSocket::new();
        a.bind(&ep).await.unwrap();
        let mut b = PairSocket::new();
        b.connect(&ep).await.unwrap();
        let mut frames = futures::stream::iter((0..50).map(|i| Ok(Message::from(format!("{i}")))));
        a.send_all(&mut frames).await.unwrap();
        let got: Vec<Message> = b.by_ref().take(50).map(|m| m.unwrap()).collect().await;
        assert_eq!(text(&got[49]), ["49"]);
    })
    .await;
}

#[tokio::test]
async fn empty_large_and_many_part_messages() {
    within(async {
        for ep in endpoints() {
            let mut pull = PullSocket::new();
            let bound = pull.bind(&ep).await.unwrap();
            let mut push = PushSocket::new();
            push.connect(&bound).await.unwrap();
            let big = Bytes::from(vec![0xA5u8; 16 * 1024 * 1024]);
            let many: Message = (0..100).map(|i| Bytes::from(vec![i as u8; i])).collect();
            push.send(Message::from("")).await.unwrap();
            push.send(Message::from(big.clone())).await.unwrap();
            push.send(many.clone()).await.unwrap();
            assert_eq!(pull.recv().await.unwrap(), Message::from(""));
            assert_eq!(pull.recv().await.unwrap()[0], big);
            assert_eq!(pull.recv().await.unwrap(), many);
        }
    })
    .await;
}

/// A listener that accepts and never speaks ZMTP: a peer that holds a connection open
/// without ever completing a handshake.
enum RawListener {
    Tcp(tokio::net::TcpListener),
    Ipc(tokio::net::UnixListener),
}

impl RawListener {
    async fn bind(endpoint: &str) -> RawListener {
        match endpoint.strip_prefix("tcp://") {
            Some(addr) => RawListener::Tcp(tokio::net::TcpListener::bind(addr).await.unwrap()),
            None => {
                let path = endpoint.strip_prefix("ipc://").unwrap();
                let _ = std::fs::remove_file(path);
                RawListener::Ipc(tokio::net::UnixListener::bind(path).unwrap())
            }
        }
    }

    /// Waits for one connection and returns it (dropping it closes it).
    async fn accept(&self) -> Box<dyn std::any::Any> {
        match self {
            RawListener::Tcp(l) => Box::new(l.accept().await.unwrap().0),
            RawListener::Ipc(l) => Box::new(l.accept().await.unwrap().0),
        }
    }
}

#[tokio::test]
async fn reconnect_after_the_peer_restarts_keeps_queued_messages() {
    within(async {
        for ep in endpoints() {
            let mut pull = PullSocket::new();
            let bound = pull.bind(&ep).await.unwrap();
            let mut opts = SocketOptions::default();
            opts.reconnect_ivl = Some(Duration::from_millis(10));
            let mut push = PushSocket::with_options(opts).unwrap();
            push.connect(&bound).await.unwrap();
            push.send(Message::from("before")).await.unwrap();
            assert_eq!(text(&pull.recv().await.unwrap()), ["before"]);

            // The peer goes away. A raw listener takes its place: the connection it
            // accepts proves the PUSH saw the loss and is reconnecting. It never completes
            // a handshake, so what is sent now must wait in the PUSH's pipe.
            drop(pull);
            let raw = RawListener::bind(&bound).await;
            let conn = raw.accept().await;
            for i in 0..5 {
                push.send(Message::from(format!("queued {i}")))
                    .await
                    .unwrap();
            }
            drop(conn);
            drop(raw);

            // The restarted peer gets every queued message, in order, then new ones.
            let mut pull = PullSocket::new();
            pull.bind(&bound).await.unwrap();
            push.send(Message::from("after")).await.unwrap();
            for i in 0..5 {
                assert_eq!(text(&pull.recv().await.unwrap()), [format!("queued {i}")]);
            }
            assert_eq!(text(&pull.recv().await.unwrap()), ["after"]);
        }
    })
    .await;
}

#[tokio::test]
async fn connect_before_bind_over_tcp() {
    within(async {
        // Find a free port, release it, then connect first and bind later.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let ep = format!("tcp://127.0.0.1:{port}");
        let mut opts = SocketOptions::default();
        opts.reconnect_ivl = Some(Duration::from_millis(10));
        let mut push = PushSocket::with_options(opts).unwrap();
        push.connect(&ep).await.unwrap();
        push.send(Message::from("early")).await.unwrap();
        let mut pull = PullSocket::new();
        pull.bind(&ep).await.unwrap();
        assert_eq!(text(&pull.recv().await.unwrap()), ["early"]);
    })
    .await;
}

#[tokio::test]
async fn unbind_and_disconnect() {
    within(async {
        let mut pull = PullSocket::new();
        let bound = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&bound).await.unwrap();
        push.send(Message::from("one")).await.unwrap();
        assert_eq!(text(&pull.recv().await.unwrap()), ["one"]);
        pull.unbind(&bound).await.unwrap();
        // The port is free again.
        let again = std::net::TcpListener::bind(bound.trim_start_matches("tcp://"));
        assert!(again.is_ok(), "{again:?}");
        push.disconnect(&bound).await.unwrap();
        assert!(push.disconnect(&bound).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn hundred_peers_on_one_router_over_tcp() {
    within(async {
        let mut router = RouterSocket::new();
        let bound = router.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut dealers = Vec::new();
        for i in 0..100 {
            let mut opts = SocketOptions::default();
            opts.routing_id = Some(Bytes::from(format!("d{i}")));
            let mut d = DealerSocket::with_options(opts).unwrap();
            d.connect(&bound).await.unwrap();
            d.send(Message::from(format!("hi from {i}"))).await.unwrap();
            dealers.push(d);
        }
        let mut ids = std::collections::HashSet::new();
        for _ in 0..100 {
            let m = router.recv().await.unwrap();
            let t = text(&m);
            assert_eq!(t[1], format!("hi from {}", &t[0][1..]));
            router
                .send(
                    [t[0].clone(), "ack".to_owned()]
                        .into_iter()
                        .collect::<Message>(),
                )
                .await
                .unwrap();
            ids.insert(t[0].clone());
        }
        assert_eq!(ids.len(), 100);
        for d in &mut dealers {
            assert_eq!(text(&d.recv().await.unwrap()), ["ack"]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_over_tcp_on_the_multi_thread_runtime() {
    within(async {
        let mut opts = SocketOptions::default();
        opts.heartbeat_ivl = Some(Duration::from_millis(20));
        let mut pull = PullSocket::with_options(opts.clone()).unwrap();
        let bound = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::with_options(opts).unwrap();
        push.connect(&bound).await.unwrap();
        push.send(Message::from("1")).await.unwrap();
        assert_eq!(text(&pull.recv().await.unwrap()), ["1"]);
        // Several heartbeat intervals pass with no messages; the connection survives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        push.send(Message::from("2")).await.unwrap();
        assert_eq!(text(&pull.recv().await.unwrap()), ["2"]);
    })
    .await;
}

#[tokio::test]
async fn push_waits_at_the_hwm_when_the_peer_does_not_read() {
    within(async {
        let mut opts = SocketOptions::default();
        opts.sndhwm = 10;
        opts.rcvhwm = 10;
        let mut pull = PullSocket::with_options(opts.clone()).unwrap();
        let bound = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::with_options(opts).unwrap();
        push.connect(&bound).await.unwrap();
        push.send(Message::from("first")).await.unwrap();
        assert_eq!(text(&pull.recv().await.unwrap()), ["first"]);
        // PULL stops reading: its pipe fills, then the kernel buffers, then PUSH's pipe.
        // A send then waits (WouldBlock for try_send) instead of dropping.
        let body = Bytes::from(vec![7u8; 1024]);
        let mut sent = 0usize;
        loop {
            match push.try_send(Message::from(body.clone())) {
                Ok(()) => sent += 1,
                Err(e) if e.is_would_block() => {
                    // Let the connection tasks move what they can, then try again; once
                    // everything is full, a send stays blocked.
                    let blocked = tokio::time::timeout(
                        Duration::from_millis(200),
                        push.send(Message::from(body.clone())),
                    )
                    .await;
                    match blocked {
                        Ok(r) => {
                            r.unwrap();
                            sent += 1;
                        }
                        Err(_) => break,
                    }
                }
                Err(e) => panic!("{e:?}"),
            }
            assert!(sent < 1_000_000, "PUSH never blocked");
        }
        // Nothing was dropped: every message sent arrives once PULL reads again.
        for _ in 0..sent {
            assert_eq!(pull.recv().await.unwrap()[0], body);
        }
    })
    .await;
}

#[tokio::test]
async fn pub_drops_at_the_hwm_and_never_blocks() {
    within(async {
        let mut opts = SocketOptions::default();
        opts.sndhwm = 10;
        opts.rcvhwm = 10;
        let mut publisher = PubSocket::with_options(opts.clone()).unwrap();
        let bound = publisher.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut sub = SubSocket::with_options(opts).unwrap();
        sub.subscribe("").unwrap();
        sub.connect(&bound).await.unwrap();
        loop {
            publisher.send(Message::from("sync")).await.unwrap();
            if tokio::time::timeout(Duration::from_millis(20), sub.recv())
                .await
                .is_ok()
            {
                break;
            }
        }
        // The SUB does not read; the PUB keeps sending without ever waiting.
        let total = 20_000;
        for i in 0..total {
            publisher
                .send(Message::from(format!("{i:08}").repeat(16)))
                .await
                .unwrap();
        }
        publisher.send(Message::from("end")).await.unwrap();
        // Reading now finds a gap: what did not fit was dropped, and order is kept.
        let mut last = None;
        let mut received = 0usize;
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await {
            let t = text(&m).remove(0);
            if t == "end" || t == "sync" {
                continue;
            }
            let n: usize = t[..8].parse().unwrap();
            assert!(last.map_or(true, |l| n > l), "out of order");
            last = Some(n);
            received += 1;
        }
        assert!(received < total, "nothing was dropped: {received}");
    })
    .await;
}

#[tokio::test]
async fn linger_delivers_queued_messages_after_drop() {
    within(async {
        let mut pull = PullSocket::new();
        let bound = pull.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&bound).await.unwrap();
        for i in 0..1000 {
            push.send(Message::from(format!("{i}"))).await.unwrap();
        }
        // Dropped at once, with everything still queued: linger (forever by default)
        // keeps the connection until the queue is written.
        drop(push);
        for i in 0..1000 {
            assert_eq!(text(&pull.recv().await.unwrap()), [format!("{i}")]);
        }
    })
    .await;
}

/// A PUB busy sending while a subscriber attaches on another thread must still see its
/// subscription (a consumed wake-up signal once lost it for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_pub_never_loses_a_subscription() {
    within(async {
        for round in 0..300 {
            let mut publisher = PubSocket::new();
            let ep = publisher.bind("tcp://127.0.0.1:0").await.unwrap();
            let sub = tokio::spawn(async move {
                let mut sub = SubSocket::new();
                sub.connect(&ep).await.unwrap();
                sub.subscribe("A").unwrap();
                sub.recv().await.unwrap();
            });
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !sub.is_finished() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "round {round}: subscription lost"
                );
                publisher.send(Message::from("A update")).await.unwrap();
            }
            sub.await.unwrap();
        }
    })
    .await;
}

/// `shutdown().await` is `zmq_close` + `zmq_ctx_term` for one socket: queued messages are
/// written before the runtime (and with it every connection task) is dropped.
#[test]
fn shutdown_delivers_queued_messages_before_the_runtime_stops() {
    let (tx, rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut pull = PullSocket::new();
            tx.send(pull.bind("tcp://127.0.0.1:0").await.unwrap())
                .unwrap();
            let mut got = Vec::new();
            while got.len() < 1000 {
                let m = within(pull.recv()).await.unwrap();
                got.push(text(&m).remove(0));
            }
            got
        })
    });
    let endpoint = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut push = PushSocket::new(); // linger unset: forever
        push.connect(&endpoint).await.unwrap();
        for i in 0..1000 {
            push.send(Message::from(format!("{i}"))).await.unwrap();
        }
        within(push.shutdown()).await;
    });
    drop(rt);
    let got = receiver.join().unwrap();
    assert_eq!(got, (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
}
