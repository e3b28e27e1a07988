//! ws:// (ZWS 2.0) against libzmq 4.3.5 (built with drafts, which gives it ws://), both
//! ways: PUB–SUB, XPUB–XSUB, REQ–REP, DEALER–ROUTER, PUSH–PULL, PAIR–PAIR, and PLAIN.
//!
//! libzmq runs in a child process (`DraftsPeer`) whose calls block; the test body runs on
//! the runtime's `block_on` thread, so our sockets' connection tasks go on meanwhile on
//! the worker threads.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use zmq_async::zap::{self, StaticAuthenticator};
use zmq_async::{
    DealerSocket, Message, PairSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket,
    RouterSocket, SocketOptions, SubSocket, XPubSocket, XSubSocket,
};
use zmq_drafts_peer::{DraftsPeer, PeerError, Send, EAGAIN};

const ANY: &str = "ws://127.0.0.1:*";
const OURS: &str = "ws://127.0.0.1:0";

/// Our receive, guarded against a hang.
async fn recv<F: std::future::Future<Output = zmq_async::Result<Message>>>(f: F) -> Message {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("nothing arrived from libzmq")
        .expect("recv")
}

fn frames(m: &Message) -> Vec<Vec<u8>> {
    m.iter().map(|f| f.to_vec()).collect()
}

/// The frames of one whole message libzmq received.
fn libzmq_message(peer: &mut DraftsPeer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let f = peer.recv().unwrap();
        out.push(f.data);
        if !f.more {
            return out;
        }
    }
}

fn libzmq_send(peer: &mut DraftsPeer, parts: &[&[u8]]) {
    for (i, p) in parts.iter().enumerate() {
        let how = if i + 1 < parts.len() {
            Send::more()
        } else {
            Send::default()
        };
        peer.send(p, how).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_pub_to_our_sub() {
    let mut publisher = DraftsPeer::spawn("PUB");
    let endpoint = publisher.bind(ANY).unwrap();
    assert!(
        endpoint.ends_with('/'),
        "libzmq's last endpoint: {endpoint}"
    );
    let mut sub = SubSocket::new();
    sub.subscribe(b"A").unwrap();
    sub.connect(&endpoint).await.unwrap();
    // PUB drops what no one subscribed to: publish until our subscription arrived.
    loop {
        libzmq_send(&mut publisher, &[b"B no", b"x"]);
        libzmq_send(&mut publisher, &[b"A yes", b"two"]);
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
            assert_eq!(frames(&m.unwrap()), [&b"A yes"[..], b"two"]);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_pub_to_libzmq_sub() {
    let mut publ = PubSocket::new();
    let endpoint = publ.bind(OURS).await.unwrap();
    let mut subscriber = DraftsPeer::spawn("SUB");
    subscriber.set_text("subscribe", "A").unwrap();
    subscriber.set("rcvtimeo", 100).unwrap();
    subscriber.connect(&endpoint).unwrap();
    for _ in 0..200 {
        publ.send(Message::from("B no")).await.unwrap();
        publ.send(Message::from("A yes")).await.unwrap();
        match subscriber.recv() {
            Ok(f) => {
                assert_eq!(f.data, b"A yes", "libzmq's subscription filters");
                return;
            }
            Err(e) if e.errno() == Some(EAGAIN) => continue,
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("libzmq's SUB got nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req_rep_both_ways() {
    // libzmq REQ -> our REP.
    let mut rep = RepSocket::new();
    let endpoint = rep.bind(OURS).await.unwrap();
    let mut req = DraftsPeer::spawn("REQ");
    req.connect(&endpoint).unwrap();
    req.send(b"question", Send::default()).unwrap();
    assert_eq!(frames(&recv(rep.recv()).await), [b"question"]);
    rep.send(Message::from("answer")).await.unwrap();
    assert_eq!(libzmq_message(&mut req), [b"answer"]);

    // Our REQ -> libzmq REP.
    let mut rep = DraftsPeer::spawn("REP");
    let endpoint = rep.bind(ANY).unwrap();
    let mut req = ReqSocket::new();
    req.connect(&endpoint).await.unwrap();
    req.send(Message::from("q2")).await.unwrap();
    assert_eq!(libzmq_message(&mut rep), [b"q2"]);
    rep.send(b"a2", Send::default()).unwrap();
    assert_eq!(frames(&recv(req.recv()).await), [b"a2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealer_router_both_ways() {
    // Our DEALER (with a routing id) -> libzmq ROUTER.
    let mut router = DraftsPeer::spawn("ROUTER");
    let endpoint = router.bind(ANY).unwrap();
    let mut o = SocketOptions::default();
    o.routing_id = Some(Bytes::from_static(b"ours"));
    let mut dealer = DealerSocket::with_options(o).unwrap();
    dealer.connect(&endpoint).await.unwrap();
    dealer
        .send(Message::from(vec![Bytes::new(), Bytes::from("hello")]))
        .await
        .unwrap();
    assert_eq!(libzmq_message(&mut router), [&b"ours"[..], b"", b"hello"]);
    libzmq_send(&mut router, &[b"ours", b"", b"back"]);
    assert_eq!(frames(&recv(dealer.recv()).await), [&b""[..], b"back"]);

    // libzmq DEALER -> our ROUTER.
    let mut router = RouterSocket::new();
    let endpoint = router.bind(OURS).await.unwrap();
    let mut dealer = DraftsPeer::spawn("DEALER");
    dealer.set_text("routing_id", "theirs").unwrap();
    dealer.connect(&endpoint).unwrap();
    libzmq_send(&mut dealer, &[b"", b"hi"]);
    assert_eq!(
        frames(&recv(router.recv()).await),
        [&b"theirs"[..], b"", b"hi"]
    );
    router
        .send(Message::from(vec![
            Bytes::from("theirs"),
            Bytes::new(),
            Bytes::from("re"),
        ]))
        .await
        .unwrap();
    assert_eq!(libzmq_message(&mut dealer), [&b""[..], b"re"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_both_ways_with_large_and_multipart_messages() {
    let big = vec![0x5au8; 300_000];
    // Our PUSH -> libzmq PULL.
    let mut pull = DraftsPeer::spawn("PULL");
    let endpoint = pull.bind(ANY).unwrap();
    let mut push = PushSocket::new();
    push.connect(&endpoint).await.unwrap();
    push.send(Message::from(big.clone())).await.unwrap();
    push.send(Message::from(vec![
        Bytes::from("a"),
        Bytes::new(),
        Bytes::from("c"),
    ]))
    .await
    .unwrap();
    assert_eq!(libzmq_message(&mut pull), std::slice::from_ref(&big));
    assert_eq!(libzmq_message(&mut pull), [&b"a"[..], b"", b"c"]);

    // libzmq PUSH -> our PULL.
    let mut pull = PullSocket::new();
    let endpoint = pull.bind(OURS).await.unwrap();
    let mut push = DraftsPeer::spawn("PUSH");
    push.connect(&endpoint).unwrap();
    push.send(&big, Send::default()).unwrap();
    libzmq_send(&mut push, &[b"x", b"y"]);
    assert_eq!(frames(&recv(pull.recv()).await), [big]);
    assert_eq!(frames(&recv(pull.recv()).await), [b"x", b"y"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_both_ways() {
    let mut theirs = DraftsPeer::spawn("PAIR");
    let endpoint = theirs.bind(ANY).unwrap();
    let mut ours = PairSocket::new();
    ours.connect(&endpoint).await.unwrap();
    ours.send(Message::from("to libzmq")).await.unwrap();
    assert_eq!(libzmq_message(&mut theirs), [b"to libzmq"]);
    theirs.send(b"to us", Send::default()).unwrap();
    assert_eq!(frames(&recv(ours.recv()).await), [b"to us"]);

    let mut ours = PairSocket::new();
    let endpoint = ours.bind("ws://127.0.0.1:0/pair").await.unwrap();
    let mut theirs = DraftsPeer::spawn("PAIR");
    theirs.connect(&endpoint).unwrap();
    theirs.send(b"hello", Send::default()).unwrap();
    assert_eq!(frames(&recv(ours.recv()).await), [b"hello"]);
    ours.send(Message::from("back")).await.unwrap();
    assert_eq!(libzmq_message(&mut theirs), [b"back"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_both_ways() {
    // libzmq PLAIN client -> our PLAIN server, checked by our ZAP handler.
    let auth = StaticAuthenticator::new().allow_plain("admin", "secret");
    let _zap = zap::serve(auth).await.unwrap();
    let mut o = SocketOptions::default();
    o.plain_server = true;
    let mut ours = PullSocket::with_options(o).unwrap();
    let endpoint = ours.bind(OURS).await.unwrap();
    let mut wrong = DraftsPeer::spawn("PUSH");
    wrong.set_text("plain_username", "admin").unwrap();
    wrong.set_text("plain_password", "wrong").unwrap();
    wrong.set("sndtimeo", 0).unwrap();
    wrong.connect(&endpoint).unwrap();
    // Queued on the connection's pipe, or refused at once if libzmq has already been told
    // no and dropped the pipe (a loaded machine can let the handshake finish first).
    match wrong.send(b"refused", Send::default()) {
        Ok(()) => {}
        Err(PeerError::Libzmq { errno, .. }) if errno == EAGAIN => {}
        Err(e) => panic!("the refused client's send: {e:?}"),
    }
    let mut right = DraftsPeer::spawn("PUSH");
    right.set_text("plain_username", "admin").unwrap();
    right.set_text("plain_password", "secret").unwrap();
    right.connect(&endpoint).unwrap();
    right.send(b"accepted", Send::default()).unwrap();
    let m = recv(ours.recv()).await;
    assert_eq!(frames(&m), [b"accepted"]);
    assert_eq!(m.property("User-Id").map(|b| &b[..]), Some(&b"admin"[..]));

    // Our PLAIN clients -> libzmq's PLAIN server, whose ZAP handler knows user/pass.
    let mut pull = DraftsPeer::spawn("PULL");
    pull.set("plain_server", 1).unwrap();
    pull.zap("user", "pass").unwrap();
    let endpoint = pull.bind(ANY).unwrap();
    let client = |password: &'static [u8]| {
        let mut o = SocketOptions::default();
        o.plain_username = Some(Bytes::from_static(b"user"));
        o.plain_password = Some(Bytes::from_static(password));
        PushSocket::with_options(o).unwrap()
    };
    let mut refused = client(b"nope");
    refused.connect(&endpoint).await.unwrap();
    refused.send(Message::from("refused")).await.unwrap();
    let mut push = client(b"pass");
    push.connect(&endpoint).await.unwrap();
    push.send(Message::from("plain to libzmq")).await.unwrap();
    assert_eq!(libzmq_message(&mut pull), [b"plain to libzmq"]);
    pull.set("rcvtimeo", 200).unwrap();
    assert_eq!(pull.recv().unwrap_err().errno(), Some(EAGAIN));

    // The wrong password never got through.
    assert!(ours.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpub_xsub_both_ways() {
    // libzmq XSUB -> our XPUB: its subscription arrives as a message, in libzmq's form.
    let mut xpub = XPubSocket::new();
    let endpoint = xpub.bind(OURS).await.unwrap();
    let mut xsub = DraftsPeer::spawn("XSUB");
    xsub.connect(&endpoint).unwrap();
    xsub.send(b"\x01news", Send::default()).unwrap();
    assert_eq!(frames(&recv(xpub.recv()).await), [b"\x01news"]);
    xpub.send(Message::from(vec![
        Bytes::from("news"),
        Bytes::from("today"),
    ]))
    .await
    .unwrap();
    assert_eq!(libzmq_message(&mut xsub), [&b"news"[..], b"today"]);

    // Our XSUB -> libzmq XPUB: ours goes out as libzmq's ws engine expects (a message).
    let mut xpub = DraftsPeer::spawn("XPUB");
    let endpoint = xpub.bind(ANY).unwrap();
    let mut xsub = XSubSocket::new();
    xsub.connect(&endpoint).await.unwrap();
    xsub.send(Message::from(&b"\x01sport"[..])).await.unwrap();
    assert_eq!(libzmq_message(&mut xpub), [b"\x01sport"]);
    libzmq_send(&mut xpub, &[b"sport", b"score"]);
    assert_eq!(frames(&recv(xsub.recv()).await), [&b"sport"[..], b"score"]);
    xsub.send(Message::from(&b"\x00sport"[..])).await.unwrap();
    assert_eq!(libzmq_message(&mut xpub), [b"\x00sport"]);
}
