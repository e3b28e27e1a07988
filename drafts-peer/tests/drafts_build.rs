//! The libzmq this crate builds has what the draft interop tests need: each draft socket
//! type and the `udp://` and `ws://` transports, libzmq to libzmq.

use zmq_drafts_peer::{DraftsPeer, Send, EAGAIN};

/// Repeats `send` until `receiver` gets a frame (for the types that drop what they send
/// before the peer's subscription or connection is in place); the frame.
fn until_received(
    sender: &mut DraftsPeer,
    receiver: &mut DraftsPeer,
    data: &[u8],
    how: Send,
) -> zmq_drafts_peer::Received {
    receiver.set("rcvtimeo", 100).expect("rcvtimeo");
    for _ in 0..100 {
        sender.send(data, how.clone()).expect("send");
        match receiver.recv() {
            Ok(frame) => return frame,
            Err(e) if e.errno() == Some(EAGAIN) => continue,
            Err(e) => panic!("recv: {e:?}"),
        }
    }
    panic!("nothing arrived in 100 tries");
}

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp port 0");
    socket.local_addr().expect("local addr").port()
}

#[test]
fn client_and_server_over_tcp() {
    let mut server = DraftsPeer::spawn("SERVER");
    let endpoint = server.bind("tcp://127.0.0.1:*").expect("bind");
    let mut client = DraftsPeer::spawn("CLIENT");
    client.connect(&endpoint).expect("connect");
    client.send(b"request", Send::default()).expect("send");
    let request = server.recv().expect("request");
    assert_eq!(request.data, b"request");
    assert_ne!(
        request.routing_id, 0,
        "SERVER gives each client a routing id"
    );
    server
        .send(b"reply", Send::to(request.routing_id))
        .expect("reply by routing id");
    assert_eq!(client.recv().expect("reply").data, b"reply");
    // Thread-safe types take single-frame messages only.
    let refused = client
        .send(b"part", Send::more())
        .expect_err("multipart refused");
    assert_eq!(refused.errno(), Some(22), "EINVAL");
}

#[test]
fn scatter_and_gather_over_ipc() {
    let dir = std::env::temp_dir().join(format!("drafts-sg-{}", std::process::id()));
    let endpoint = format!("ipc://{}", dir.display());
    let mut gather = DraftsPeer::spawn("GATHER");
    gather.bind(&endpoint).expect("bind");
    let mut scatter = DraftsPeer::spawn("SCATTER");
    scatter.connect(&endpoint).expect("connect");
    scatter.send(b"work", Send::default()).expect("send");
    assert_eq!(gather.recv().expect("recv").data, b"work");
    drop((gather, scatter));
    let _ = std::fs::remove_file(dir);
}

#[test]
fn radio_and_dish_over_tcp_with_groups() {
    let mut radio = DraftsPeer::spawn("RADIO");
    let endpoint = radio.bind("tcp://127.0.0.1:*").expect("bind");
    let mut dish = DraftsPeer::spawn("DISH");
    dish.join("weather").expect("join");
    dish.connect(&endpoint).expect("connect");
    let frame = until_received(&mut radio, &mut dish, b"sunny", Send::group("weather"));
    assert_eq!(frame.data, b"sunny");
    assert_eq!(frame.group.as_deref(), Some("weather"));
    // A group the dish did not join never arrives; the joined one still does.
    radio.send(b"goal", Send::group("sports")).expect("send");
    radio.send(b"rain", Send::group("weather")).expect("send");
    dish.set("rcvtimeo", 5000).expect("rcvtimeo");
    let mut next = dish.recv().expect("recv");
    while next.data == b"sunny" {
        next = dish.recv().expect("recv");
    }
    assert_eq!(next.data, b"rain");
}

#[test]
fn radio_and_dish_over_udp() {
    let endpoint = format!("udp://127.0.0.1:{}", free_udp_port());
    let mut dish = DraftsPeer::spawn("DISH");
    dish.bind(&endpoint).expect("bind");
    dish.join("telemetry").expect("join");
    let mut radio = DraftsPeer::spawn("RADIO");
    radio.connect(&endpoint).expect("connect");
    let frame = until_received(&mut radio, &mut dish, b"42", Send::group("telemetry"));
    assert_eq!(
        (frame.data.as_slice(), frame.group.as_deref()),
        (&b"42"[..], Some("telemetry"))
    );
}

#[test]
fn peer_to_peer_over_tcp() {
    let mut a = DraftsPeer::spawn("PEER");
    let endpoint = a.bind("tcp://127.0.0.1:*").expect("bind");
    let mut b = DraftsPeer::spawn("PEER");
    let a_id = b.connect_peer(&endpoint).expect("connect_peer");
    b.send(b"hello", Send::to(a_id))
        .expect("send to the id connect_peer gave");
    let hello = a.recv().expect("recv");
    assert_eq!(hello.data, b"hello");
    a.send(b"back", Send::to(hello.routing_id)).expect("reply");
    assert_eq!(b.recv().expect("recv").data, b"back");
}

#[test]
fn channel_over_tcp() {
    let mut a = DraftsPeer::spawn("CHANNEL");
    let endpoint = a.bind("tcp://127.0.0.1:*").expect("bind");
    let mut b = DraftsPeer::spawn("CHANNEL");
    b.connect(&endpoint).expect("connect");
    b.send(b"ping", Send::default()).expect("send");
    assert_eq!(a.recv().expect("recv").data, b"ping");
    a.send(b"pong", Send::default()).expect("send");
    assert_eq!(b.recv().expect("recv").data, b"pong");
}

#[test]
fn pub_and_sub_over_ws() {
    let mut publisher = DraftsPeer::spawn("PUB");
    let endpoint = publisher.bind("ws://127.0.0.1:*").expect("bind ws");
    assert!(endpoint.starts_with("ws://127.0.0.1:"), "{endpoint}");
    let mut subscriber = DraftsPeer::spawn("SUB");
    subscriber.set_text("subscribe", "").expect("subscribe");
    subscriber.connect(&endpoint).expect("connect");
    let frame = until_received(&mut publisher, &mut subscriber, b"over ws", Send::default());
    assert_eq!(frame.data, b"over ws");
}
