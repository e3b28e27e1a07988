//! An `Encoder` copied out of a connection encodes exactly as the connection's `send`, for
//! every kind of message (subscriptions, JOIN/LEAVE, RADIO groups, large bodies) and every
//! protocol version a peer may speak; a connection whose mechanism wraps frames gives none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use harness::Pair;
use proptest::prelude::*;
use zmtp_codec::{Config, Connection, Event, Message, SocketType, ZERO_COPY_THRESHOLD};

/// A connection of type `ours` whose handshake with a `peer` (ZMTP 3.`minor`) is done.
fn handshaken(ours: SocketType, peer: SocketType, minor: u8) -> Connection {
    let mut old = Config::new(peer);
    old.zmtp_minor = minor;
    let mut p = Pair::new(Config::new(ours), old);
    p.drive();
    assert!(p.a.handshake_done().is_some(), "{ours:?} with {peer:?}");
    p.a.conn
}

/// A DEALER handshaken with a ZMTP 2.0 ROUTER (`v2`), or a PUB with an unversioned 1.0 SUB.
fn legacy(v2: bool) -> Connection {
    let now = Instant::now();
    let (ours, input): (_, &[u8]) = if v2 {
        (
            SocketType::Dealer,
            b"\xFF\x00\x00\x00\x00\x00\x00\x00\x01\x7F\x01\x06\x00\x00",
        )
    } else {
        (SocketType::Pub, b"\x01\x00")
    };
    let mut c = Connection::new(Config::new(ours), now).unwrap();
    c.handle_input(now, input).unwrap();
    while let Ok(Some(event)) = c.poll_event() {
        if let Event::HandshakeSucceeded(peer) = event {
            assert_eq!(peer.version.0, if v2 { 2 } else { 1 });
        }
    }
    while c.poll_transmit().is_some() {}
    c
}

fn drain(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = c.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

/// Frames of 0-8, ~300 and just over [`ZERO_COPY_THRESHOLD`] bytes (taken by reference), or
/// a subscription, a JOIN, a message with a group.
fn message() -> impl Strategy<Value = Message> {
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        prop::collection::vec(any::<u8>(), 250..300),
        prop::collection::vec(any::<u8>(), ZERO_COPY_THRESHOLD..ZERO_COPY_THRESHOLD + 8),
    ];
    let plain = prop::collection::vec(body, 1..5)
        .prop_map(|frames| frames.into_iter().map(Bytes::from).collect::<Message>());
    prop_oneof![
        4 => plain,
        1 => (any::<bool>(), "[a-z]{0,5}").prop_map(|(on, topic)| {
            let mut body = vec![u8::from(on)];
            body.extend_from_slice(topic.as_bytes());
            Message::from(Bytes::from(body))
        }),
        1 => (any::<bool>(), "[a-z]{1,5}").prop_map(|(join, group)| {
            let m = if join {
                zmtp_codec::Membership::Join(zmtp_codec::Group::new(group).unwrap())
            } else {
                zmtp_codec::Membership::Leave(zmtp_codec::Group::new(group).unwrap())
            };
            m.to_message()
        }),
        1 => "[a-z]{0,5}".prop_map(|group| {
            let mut m = Message::from("body");
            m.set_group(group).unwrap();
            m
        }),
    ]
}

/// Every connection kind the encoder must match.
fn connections() -> Vec<Connection> {
    use SocketType as T;
    let mut all = Vec::new();
    for minor in [0, 1] {
        for (ours, peer) in [
            (T::Dealer, T::Router),
            (T::Sub, T::Pub),
            (T::XSub, T::XPub),
            (T::Dish, T::Radio),
            (T::Radio, T::Dish),
            (T::Pub, T::Sub),
        ] {
            all.push(handshaken(ours, peer, minor));
        }
    }
    all.push(legacy(true));
    all.push(legacy(false));
    all
}

proptest! {
    #[test]
    fn encodes_as_the_connection_sends(msgs in prop::collection::vec(message(), 1..6)) {
        for mut conn in connections() {
            let encoder = conn.encoder().expect("NULL, handshake done");
            let (mut out, mut queue) = (BytesMut::new(), VecDeque::new());
            for m in &msgs {
                let sent = conn.send(m);
                prop_assert_eq!(encoder.encode(m, &mut out, &mut queue), sent);
            }
            let mut encoded: Vec<u8> = queue.iter().flat_map(|b| b.iter().copied()).collect();
            encoded.extend_from_slice(&out);
            prop_assert_eq!(encoded, drain(&mut conn), "{:?}", conn);
        }
    }
}

#[test]
fn large_bodies_are_queued_by_reference() {
    let conn = handshaken(SocketType::Push, SocketType::Pull, 1);
    let body = Bytes::from(vec![7u8; ZERO_COPY_THRESHOLD]);
    let msg: Message = [Bytes::from_static(b"head"), body.clone()]
        .into_iter()
        .collect();
    let (mut out, mut queue) = (BytesMut::new(), VecDeque::new());
    conn.encoder()
        .unwrap()
        .encode(&msg, &mut out, &mut queue)
        .unwrap();
    // The first frame and the second's header, then the body itself, nothing after.
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[1].as_ptr(), body.as_ptr());
    assert!(out.is_empty());
}

#[test]
fn no_encoder_before_the_handshake_nor_for_an_empty_message() {
    let now = Instant::now();
    let fresh = Connection::new(Config::new(SocketType::Push), now).unwrap();
    assert_eq!(fresh.encoder(), None);
    let conn = handshaken(SocketType::Push, SocketType::Pull, 1);
    let (mut out, mut queue) = (BytesMut::new(), VecDeque::new());
    assert_eq!(
        conn.encoder()
            .unwrap()
            .encode(&Message::new(), &mut out, &mut queue),
        Err(zmtp_codec::Error::EmptyMessage)
    );
    assert!(out.is_empty() && queue.is_empty());
}

/// CURVE boxes every frame with the next nonce: no encoder can stand in for the connection.
#[cfg(feature = "curve")]
#[test]
fn curve_gives_no_encoder() {
    use zmtp_codec::{AuthReply, CurveKeyPair, MechanismConfig};
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let mut p = Pair::new(
        Config::new(SocketType::Push)
            .mechanism(MechanismConfig::curve_client(&client, server.public)),
        Config::new(SocketType::Pull).mechanism(MechanismConfig::curve_server(&server)),
    );
    p.b.auth = Some(AuthReply::accept("user"));
    p.drive();
    assert!(p.a.conn.is_active());
    assert_eq!(p.a.conn.encoder(), None);
}
