//! RADIO and DISH (RFC 48) over inproc, tcp, ipc and udp:// unicast (multicast, and
//! against libzmq: `drafts-peer/tests/radio_dish.rs`): groups, join and leave, the HWM, the
//! errors libzmq gives, JOINs again after a reconnect, and bad traffic from a peer.
#![allow(clippy::unwrap_used)]

mod common;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zmq_async::{DishSocket, Error, Message, RadioSocket, SocketOptions};

fn in_group(body: &str, group: &str) -> Message {
    Message::from(body.to_owned()).in_group(group).unwrap()
}

/// JOINs travel asynchronously: sends `group`'s sync message until the DISH has one.
async fn until_joined(radio: &RadioSocket, dish: &DishSocket, group: &str) {
    loop {
        radio.send(in_group("sync", group)).await.unwrap();
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), dish.recv()).await {
            let m = m.unwrap();
            assert_eq!(m.group(), Some(group.as_bytes()));
            break;
        }
    }
    // Drain the other sync messages already on their way.
    while let Ok(m) = dish.try_recv() {
        assert_eq!(m.group(), Some(group.as_bytes()));
    }
}

#[tokio::test]
async fn dish_gets_the_groups_it_joined_on_every_transport() {
    within(async {
        for endpoint in endpoints("groups") {
            let dish = DishSocket::new();
            let endpoint = dish.bind(&endpoint).await.unwrap();
            dish.join("weather").unwrap();
            let radio = RadioSocket::new();
            radio.connect(&endpoint).await.unwrap();
            until_joined(&radio, &dish, "weather").await;
            radio.send(in_group("jam", "traffic")).await.unwrap();
            radio.send(in_group("sun", "weather")).await.unwrap();
            let m = dish.recv().await.unwrap();
            assert_eq!(strs(&m), ["sun"], "{endpoint}");
            assert_eq!(m.group(), Some(&b"weather"[..]), "{endpoint}");

            // Leave one group, join another: once the new group arrives, the LEAVE
            // (sent before the JOIN) has reached the RADIO too.
            dish.leave("weather").unwrap();
            dish.join("traffic").unwrap();
            until_joined(&radio, &dish, "traffic").await;
            radio.send(in_group("rain", "weather")).await.unwrap();
            radio.send(in_group("clear", "traffic")).await.unwrap();
            let m = dish.recv().await.unwrap();
            assert_eq!(
                (strs(&m), m.group()),
                (vec!["clear".to_owned()], Some(&b"traffic"[..])),
                "{endpoint}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn radio_sends_to_members_only_and_drops_at_the_hwm() {
    within(async {
        let mut options = SocketOptions::default();
        options.rcvhwm = 10;
        let dish = DishSocket::with_options(options.clone()).unwrap();
        options.sndhwm = 10;
        let radio = RadioSocket::with_options(options).unwrap();
        let endpoint = radio.bind(&ep("hwm")).await.unwrap();
        dish.join("a").unwrap();
        // inproc: the connecting DISH queues its JOIN as `connect` returns.
        dish.connect(&endpoint).await.unwrap();
        for _ in 0..100 {
            radio.send(in_group("other", "b")).await.unwrap();
        }
        assert_eq!(radio.stats().hwm_drops, 0, "group b was sent to nobody");
        for i in 0..100 {
            // Never waits: the peer at its HWM misses the message.
            radio.send(in_group(&i.to_string(), "a")).await.unwrap();
        }
        let dropped = radio.stats().hwm_drops;
        assert!(
            dropped >= 50,
            "only {dropped} of 100 dropped at an HWM of 20"
        );
        let mut got = 0;
        while let Ok(m) = dish.try_recv() {
            assert_eq!(m.group(), Some(&b"a"[..]));
            got += 1;
        }
        assert_eq!(got + dropped, 100);
    })
    .await;
}

#[tokio::test]
async fn errors_as_libzmq() {
    // libzmq 4.3.5: groups of up to 255 bytes (ZMQ_GROUP_MAX_LENGTH).
    let dish = DishSocket::new();
    let too_long = "x".repeat(256);
    let longest = "x".repeat(255);
    assert!(matches!(
        dish.join(&too_long),
        Err(Error::InvalidArgument(_))
    ));
    dish.join(&longest).unwrap();
    assert!(matches!(
        dish.join(&longest),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(dish.leave("x"), Err(Error::InvalidArgument(_))));
    dish.leave(&longest).unwrap();
    assert!(matches!(
        dish.leave(&longest),
        Err(Error::InvalidArgument(_))
    ));
    assert!(Message::from("x").in_group(&too_long).is_err());

    let radio = RadioSocket::new();
    let unsent = radio.try_send("no group").unwrap_err();
    assert!(matches!(unsent.error(), Error::InvalidArgument(_)));
    assert_eq!(strs(&unsent.into_message()), ["no group"]);
    assert!(matches!(
        radio.send(Message::from("a")).await,
        Err(Error::InvalidArgument(_))
    ));
    let mut two = Message::from("a").in_group("g").unwrap();
    two.push_back("b");
    assert!(matches!(
        radio.send(two).await,
        Err(Error::InvalidArgument(_))
    ));
    // The empty group is a group (libzmq sends it as an empty group frame).
    radio.send(in_group("x", "")).await.unwrap();
}

#[tokio::test]
async fn dish_joins_again_after_a_reconnect() {
    within(async {
        let radio = RadioSocket::new();
        let endpoint = radio.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut options = SocketOptions::default();
        options.reconnect_ivl = Some(Duration::from_millis(10));
        let dish = DishSocket::with_options(options).unwrap();
        dish.join("g").unwrap();
        dish.connect(&endpoint).await.unwrap();
        until_joined(&radio, &dish, "g").await;
        // A new RADIO on the same port: the DISH reconnects and joins it again.
        radio.shutdown().await;
        let radio = RadioSocket::new();
        let mut bound = Err(Error::Closed);
        for _ in 0..100 {
            bound = radio.bind(&endpoint).await;
            if bound.is_ok() {
                break;
            }
            tokio::task::yield_now().await;
        }
        bound.unwrap();
        until_joined(&radio, &dish, "g").await;
    })
    .await;
}

/// A ZMTP peer claiming to be a RADIO that sends a message without its group frame: the
/// DISH drops that connection (libzmq: a protocol error), and keeps its others.
#[tokio::test]
async fn bad_traffic_drops_that_peer_only() {
    within(async {
        use zmtp_codec::{Config, Connection, Event, SocketType};
        let dish = DishSocket::new();
        let endpoint = dish.bind("tcp://127.0.0.1:0").await.unwrap();
        dish.join("g").unwrap();
        let good = RadioSocket::new();
        good.connect(&endpoint).await.unwrap();
        until_joined(&good, &dish, "g").await;

        let addr = endpoint.trim_start_matches("tcp://").to_owned();
        // The DISH takes the peer in, and sends it its JOIN, when it is next polled: the
        // hostile peer runs in a task while the DISH waits for messages.
        let mut hostile = tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let now = std::time::Instant::now();
            let mut zmtp = Connection::new(Config::new(SocketType::Radio), now).unwrap();
            let mut buf = vec![0; 4096];
            let mut joined = false;
            while !joined {
                while let Some(out) = zmtp.poll_transmit() {
                    tcp.write_all(&out).await.unwrap();
                }
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "the DISH closed a good handshake");
                zmtp.handle_input(now, &buf[..n]).unwrap();
                while let Ok(Some(ev)) = zmtp.poll_event() {
                    joined |= matches!(ev, Event::Membership(_));
                }
            }
            // One frame, no group: RFC 48 breached.
            tcp.write_all(b"\x00\x04body").await.unwrap();
            // The DISH closes the connection.
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        tokio::select! {
            r = &mut hostile => r.unwrap(),
            m = dish.recv() => panic!("the bad message came through: {m:?}"),
        }
        good.send(in_group("still here", "g")).await.unwrap();
        assert_eq!(strs(&dish.recv().await.unwrap()), ["still here"]);
    })
    .await;
}

#[tokio::test]
async fn udp_unicast_on_loopback() {
    within(async {
        let dish = DishSocket::new();
        let endpoint = dish.bind("udp://127.0.0.1:*").await.unwrap();
        assert!(endpoint.starts_with("udp://127.0.0.1:"), "{endpoint}");
        assert!(!endpoint.ends_with(":0") && !endpoint.ends_with(":*"));
        dish.join("g").unwrap();
        let radio = RadioSocket::new();
        radio.connect(&endpoint).await.unwrap();
        // No handshake on udp: messages flow at once, and the DISH filters.
        until_joined(&radio, &dish, "g").await;
        radio.send(in_group("not joined", "h")).await.unwrap();
        radio.send(in_group("joined", "g")).await.unwrap();
        let m = dish.recv().await.unwrap();
        assert_eq!(
            (strs(&m), m.group()),
            (vec!["joined".to_owned()], Some(&b"g"[..]))
        );

        // Datagrams that are not RFC 48's are dropped and counted; the next one arrives.
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        let raw = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for bad in [&b""[..], b"\x10fifteen-bytes!", b"\x05abc", b"\xff"] {
            raw.send_to(bad, ("127.0.0.1", port)).unwrap();
        }
        raw.send_to(b"\x01gafter", ("127.0.0.1", port)).unwrap();
        let m = dish.recv().await.unwrap();
        assert_eq!(
            (strs(&m), m.group()),
            (vec!["after".to_owned()], Some(&b"g"[..]))
        );
        let stats = dish.multicast_stats();
        assert_eq!(stats.malformed_messages, 4, "{stats:?}");
        assert!(stats.messages >= 3, "{stats:?}");

        // A message that cannot be one datagram is dropped by the session, not sent cut.
        radio
            .send(Message::from(vec![0u8; 9000]).in_group("g").unwrap())
            .await
            .unwrap();
        radio.send(in_group("small", "g")).await.unwrap();
        assert_eq!(strs(&dish.recv().await.unwrap()), ["small"]);
    })
    .await;
}

#[tokio::test]
async fn udp_is_for_radio_connect_and_dish_bind_only() {
    use zmq_async::{PubSocket, ServerSocket};
    fn incompatible<T>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::IncompatibleTransport(_)))
    }
    let radio = RadioSocket::new();
    assert!(incompatible(radio.bind("udp://127.0.0.1:*").await));
    let dish = DishSocket::new();
    assert!(incompatible(dish.connect("udp://127.0.0.1:5555").await));
    let server = ServerSocket::new();
    assert!(incompatible(server.bind("udp://127.0.0.1:*").await));
    assert!(incompatible(server.connect("udp://127.0.0.1:5555").await));
    let mut publisher = PubSocket::new();
    assert!(incompatible(publisher.bind("udp://127.0.0.1:*").await));
    assert!(incompatible(
        publisher.connect("udp://127.0.0.1:5555").await
    ));
    assert!(matches!(
        radio.connect("udp://127.0.0.1").await,
        Err(Error::InvalidEndpoint(_))
    ));
}
