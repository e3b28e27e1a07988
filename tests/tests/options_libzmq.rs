//! The options of issue 13 whose effect shows on the wire, against libzmq peers:
//! `router_notify`, `hello_msg`, `disconnect_msg`, `hiccup_msg`, `metadata` and the
//! `Peer-Address` property, `xpub_welcome_msg`, and `invert_matching` on the publishing side
//! (libzmq's SUB side of it is not reachable through the `zmq` crate, which has no setter
//! for `ZMQ_INVERT_MATCHING`; our SUB side is tested in zmq-async's `tests/options.rs`).
//!
//! Tests synchronise on messages; timeouts only guard against hangs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use zmq_async::{DealerSocket, Message, RouterNotify, RouterSocket, SocketOptions, XPubSocket};
use zmq_tests::{bind_loopback, blocking, libzmq_socket, unique_ipc_endpoint, within};

fn text(m: &Message) -> Vec<String> {
    m.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn strings(frames: Vec<Vec<u8>>) -> Vec<String> {
    frames
        .into_iter()
        .map(|f| String::from_utf8_lossy(&f).into_owned())
        .collect()
}

/// Sends `body` from a libzmq socket (off the runtime) and hands the socket back.
async fn send_from(socket: zmq::Socket, body: &'static str) -> zmq::Socket {
    blocking(move || {
        socket.send(body, 0).unwrap();
        socket
    })
    .await
}

/// A libzmq DEALER named `id`, connected to `endpoint`.
fn libzmq_dealer(ctx: &zmq::Context, id: &str, endpoint: &str) -> zmq::Socket {
    let dealer = libzmq_socket(ctx, zmq::DEALER);
    dealer.set_identity(id.as_bytes()).unwrap();
    dealer.connect(endpoint).unwrap();
    dealer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_notify_reports_a_libzmq_dealer_coming_and_going() {
    let mut opts = SocketOptions::default();
    opts.router_notify = RouterNotify::CONNECT | RouterNotify::DISCONNECT;
    let mut router = RouterSocket::with_options(opts).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let ctx = zmq::Context::new();
    let dealer = libzmq_dealer(&ctx, "d1", &endpoint);
    let dealer = send_from(dealer, "hi").await;
    assert_eq!(text(&within(router.recv()).await.unwrap()), ["d1", ""]);
    assert_eq!(text(&within(router.recv()).await.unwrap()), ["d1", "hi"]);
    drop(dealer); // linger 0: the connection closes
    assert_eq!(text(&within(router.recv()).await.unwrap()), ["d1", ""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_msg_goes_first_on_each_connection_of_our_dealer_and_router() {
    let ctx = zmq::Context::new();
    // Our DEALER to a libzmq ROUTER: the hello comes before what was queued.
    let libzmq_router = libzmq_socket(&ctx, zmq::ROUTER);
    let addr = bind_loopback(&libzmq_router);
    let mut dealer = DealerSocket::new();
    dealer.set_hello_msg(Some(Bytes::from("HELLO"))).unwrap();
    dealer.connect(&format!("tcp://{addr}")).await.unwrap();
    // Queued at once, most likely before the connection exists.
    within(dealer.send(Message::from("queued"))).await.unwrap();
    let got = blocking(move || {
        let first = strings(libzmq_router.recv_multipart(0).unwrap());
        let second = strings(libzmq_router.recv_multipart(0).unwrap());
        (first, second)
    })
    .await;
    assert_eq!(got.0[1], "HELLO");
    assert_eq!(got.1[1], "queued");

    // Our ROUTER to a libzmq DEALER: the hello reaches the DEALER bare.
    let mut router = RouterSocket::new();
    router
        .set_hello_msg(Some(Bytes::from("WELCOME-ROUTER")))
        .unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let libzmq_dealer = libzmq_dealer(&ctx, "d2", &endpoint);
    let got = blocking(move || strings(libzmq_dealer.recv_multipart(0).unwrap())).await;
    assert_eq!(got, ["WELCOME-ROUTER"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_msg_arrives_when_a_libzmq_dealer_leaves() {
    let mut router = RouterSocket::new();
    router.set_disconnect_msg(Some(Bytes::from("BYE"))).unwrap();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let ctx = zmq::Context::new();
    let dealer = libzmq_dealer(&ctx, "d1", &endpoint);
    let dealer = send_from(dealer, "x").await;
    assert_eq!(text(&within(router.recv()).await.unwrap()), ["d1", "x"]);
    drop(dealer);
    assert_eq!(text(&within(router.recv()).await.unwrap()), ["d1", "BYE"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hiccup_msg_arrives_when_a_libzmq_router_drops_our_dealer() {
    let ctx = zmq::Context::new();
    let libzmq_router = libzmq_socket(&ctx, zmq::ROUTER);
    let addr = bind_loopback(&libzmq_router);
    let mut dealer = DealerSocket::new();
    dealer.set_hiccup_msg(Some(Bytes::from("HICCUP"))).unwrap();
    dealer.connect(&format!("tcp://{addr}")).await.unwrap();
    within(dealer.send(Message::from("x"))).await.unwrap();
    blocking(move || {
        assert_eq!(strings(libzmq_router.recv_multipart(0).unwrap())[1], "x");
        drop(libzmq_router); // linger 0: the connection closes
    })
    .await;
    assert_eq!(text(&within(dealer.recv()).await.unwrap()), ["HICCUP"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_of_ours_is_read_by_libzmq_with_zmq_msg_gets() {
    let ctx = zmq::Context::new();
    let libzmq_router = libzmq_socket(&ctx, zmq::ROUTER);
    let addr = bind_loopback(&libzmq_router);
    let mut dealer = DealerSocket::new();
    dealer.add_metadata("X-Service:billing").unwrap();
    dealer.connect(&format!("tcp://{addr}")).await.unwrap();
    within(dealer.send(Message::from("x"))).await.unwrap();
    let (service, socket_type) = blocking(move || {
        let _id = libzmq_router.recv_msg(0).unwrap();
        let mut body = libzmq_router.recv_msg(0).unwrap();
        let service = body.gets("X-Service").map(str::to_owned);
        let socket_type = body.gets("Socket-Type").map(str::to_owned);
        (service, socket_type)
    })
    .await;
    assert_eq!(service.as_deref(), Some("billing"));
    assert_eq!(socket_type.as_deref(), Some("DEALER"));
}

/// `Peer-Address` of a message from a libzmq DEALER at `endpoint`, as a libzmq ROUTER
/// bound there reads it.
async fn libzmq_peer_address(ctx: &zmq::Context, endpoint: &str) -> Option<String> {
    let router = libzmq_socket(ctx, zmq::ROUTER);
    router.bind(endpoint).unwrap();
    let endpoint = router.get_last_endpoint().unwrap().unwrap();
    let dealer = libzmq_dealer(ctx, "d", &endpoint);
    blocking(move || {
        dealer.send("x", 0).unwrap();
        let _id = router.recv_msg(0).unwrap();
        let mut body = router.recv_msg(0).unwrap();
        body.gets("Peer-Address").map(str::to_owned)
    })
    .await
}

/// The same, read by our ROUTER bound at `endpoint`.
async fn our_peer_address(ctx: &zmq::Context, endpoint: &str) -> Option<String> {
    let mut router = RouterSocket::new();
    let endpoint = router.bind(endpoint).await.unwrap();
    let dealer = libzmq_dealer(ctx, "d", &endpoint);
    let dealer = send_from(dealer, "x").await;
    let got = within(router.recv()).await.unwrap();
    drop(dealer);
    got.property("Peer-Address")
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_address_is_what_libzmq_reports_over_tcp_and_ipc() {
    let ctx = zmq::Context::new();
    let theirs = libzmq_peer_address(&ctx, "tcp://127.0.0.1:0").await;
    let ours = our_peer_address(&ctx, "tcp://127.0.0.1:0").await;
    assert_eq!(theirs.as_deref(), Some("127.0.0.1"));
    assert_eq!(ours, theirs);

    // ipc: the peer process's credentials, `localhost:uid:gid:pid` on Linux with glibc.
    let theirs = libzmq_peer_address(&ctx, unique_ipc_endpoint("peer-addr").as_str()).await;
    let ours = our_peer_address(&ctx, unique_ipc_endpoint("peer-addr").as_str()).await;
    assert!(theirs.is_some());
    assert_eq!(ours, theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_welcome_msg_reaches_a_libzmq_sub() {
    let mut xpub = XPubSocket::new();
    xpub.set_xpub_welcome_msg(Some(Bytes::from("W-hello")))
        .unwrap();
    let endpoint = xpub.bind("tcp://127.0.0.1:0").await.unwrap();
    let ctx = zmq::Context::new();
    let sub = libzmq_socket(&ctx, zmq::SUB);
    sub.set_subscribe(b"W").unwrap();
    sub.connect(&endpoint).unwrap();
    // Our socket takes the new subscriber in (and greets it) when it is next used.
    assert_eq!(&within(xpub.recv()).await.unwrap()[0][..], b"\x01W");
    let got = blocking(move || strings(sub.recv_multipart(0).unwrap())).await;
    assert_eq!(got, ["W-hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invert_matching_xpub_sends_a_libzmq_xsub_what_it_did_not_subscribe_to() {
    let mut xpub = XPubSocket::new();
    xpub.set_invert_matching(true).unwrap();
    let endpoint = xpub.bind("tcp://127.0.0.1:0").await.unwrap();
    let ctx = zmq::Context::new();
    // XSUB: libzmq's does not filter what arrives, so it shows what the publisher sent.
    let xsub = libzmq_socket(&ctx, zmq::XSUB);
    xsub.connect(&endpoint).unwrap();
    let xsub = blocking(move || {
        xsub.send(&b"\x01A"[..], 0).unwrap();
        xsub
    })
    .await;
    assert_eq!(&within(xpub.recv()).await.unwrap()[0][..], b"\x01A");
    for topic in ["A1", "B1", "A2", "B2"] {
        within(xpub.send(Message::from(topic))).await.unwrap();
    }
    let got = blocking(move || {
        let first = strings(xsub.recv_multipart(0).unwrap());
        let second = strings(xsub.recv_multipart(0).unwrap());
        (first, second)
    })
    .await;
    assert_eq!(
        (got.0, got.1),
        (vec!["B1".to_owned()], vec!["B2".to_owned()])
    );
}
