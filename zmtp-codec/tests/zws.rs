//! ZWS 2.0 mode: two connections driven against each other in memory, messages as a
//! WebSocket would carry them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_codec::{
    zws, AuthReply, Config, Connection, Error, Event, MechanismConfig, Message, SocketType,
};

fn zws_pair(a: Config, b: Config, protocol: zws::Protocol) -> (Connection, Connection) {
    let now = Instant::now();
    let a = Connection::new_zws(a, protocol, now).unwrap();
    let b = Connection::new_zws(b, protocol, now).unwrap();
    (a, b)
}

/// Moves every message each way until both are quiet; returns the events of each.
fn drive(a: &mut Connection, b: &mut Connection) -> (Vec<Event>, Vec<Event>) {
    let now = Instant::now();
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        while let Some(zws::Output::Message(m)) = a.poll_zws_transmit() {
            b.handle_zws_message(now, &m).unwrap();
        }
        while let Some(zws::Output::Message(m)) = b.poll_zws_transmit() {
            a.handle_zws_message(now, &m).unwrap();
        }
        while let Ok(Some(ev)) = a.poll_event() {
            if let Event::AuthRequest(_) = ev {
                a.handle_auth_reply(now, AuthReply::accept("u")).unwrap();
            }
            ea.push(ev);
        }
        while let Ok(Some(ev)) = b.poll_event() {
            eb.push(ev);
        }
    }
    (ea, eb)
}

#[test]
fn null_handshake_then_a_multipart_message() {
    let (mut a, mut b) = zws_pair(
        Config::new(SocketType::Dealer).routing_id("dealer-1"),
        Config::new(SocketType::Router),
        zws::Protocol::Mechanism,
    );
    // No greeting: the first message is READY, a command frame (flags 0x02).
    let Some(zws::Output::Message(ready)) = a.poll_zws_transmit() else {
        panic!("no READY")
    };
    assert_eq!(&ready[..7], b"\x02\x05READY");
    b.handle_zws_message(Instant::now(), &ready).unwrap();
    drive(&mut a, &mut b);
    assert!(a.is_active() && b.is_active());
    assert_eq!(
        b.peer().and_then(|p| p.routing_id.clone()),
        Some(Bytes::from("dealer-1"))
    );
    a.send(&Message::from(vec![Bytes::from("a"), Bytes::from("bc")]))
        .unwrap();
    let Some(zws::Output::Message(first)) = a.poll_zws_transmit() else {
        panic!()
    };
    assert_eq!(&first[..], b"\x01a");
    let Some(zws::Output::Message(last)) = a.poll_zws_transmit() else {
        panic!()
    };
    assert_eq!(&last[..], b"\x00bc");
    let now = Instant::now();
    b.handle_zws_message(now, &first).unwrap();
    b.handle_zws_message(now, &last).unwrap();
    assert_eq!(
        b.poll_event(),
        Ok(Some(Event::Message(Message::from(vec![
            Bytes::from("a"),
            Bytes::from("bc")
        ]))))
    );
}

#[test]
fn subscriptions_travel_as_messages() {
    let (mut sub, mut publ) = zws_pair(
        Config::new(SocketType::Sub),
        Config::new(SocketType::Pub),
        zws::Protocol::Mechanism,
    );
    drive(&mut sub, &mut publ);
    sub.send_subscribe(b"topic").unwrap();
    let Some(zws::Output::Message(m)) = sub.poll_zws_transmit() else {
        panic!()
    };
    // libzmq's ws engine drops SUBSCRIBE commands; it reads 0x01 + topic.
    assert_eq!(&m[..], b"\x00\x01topic");
    publ.handle_zws_message(Instant::now(), &m).unwrap();
    assert_eq!(
        publ.poll_event(),
        Ok(Some(Event::Subscribe(Bytes::from("topic"))))
    );
}

#[test]
fn bare_protocol_exchanges_routing_ids() {
    let (mut a, mut b) = zws_pair(
        Config::new(SocketType::Dealer).routing_id("me"),
        Config::new(SocketType::Router),
        zws::Protocol::Bare,
    );
    let (_, eb) = drive(&mut a, &mut b);
    let Some(Event::HandshakeSucceeded(peer)) = eb.first() else {
        panic!("{eb:?}")
    };
    assert_eq!(peer.routing_id, Some(Bytes::from("me")));
    assert_eq!(peer.version, (2, 0));
    // And the bare protocol refuses a mechanism.
    let plain = Config::new(SocketType::Dealer).mechanism(MechanismConfig::PlainServer);
    assert!(Connection::new_zws(plain, zws::Protocol::Bare, Instant::now()).is_err());
}

#[test]
fn plain_over_zws() {
    let client = Config::new(SocketType::Req).mechanism(MechanismConfig::PlainClient {
        username: "admin".into(),
        password: "secret".into(),
    });
    let server = Config::new(SocketType::Rep).mechanism(MechanismConfig::PlainServer);
    let (mut s, mut c) = zws_pair(server, client, zws::Protocol::Mechanism);
    let (es, ec) = drive(&mut s, &mut c);
    let Some(Event::AuthRequest(req)) = es.first() else {
        panic!("{es:?}")
    };
    assert_eq!(req.mechanism, "PLAIN");
    assert_eq!(req.credentials[0], Bytes::from("admin"));
    assert!(s.is_active() && c.is_active(), "{es:?} {ec:?}");
}

#[test]
fn bad_messages_fail_the_connection() {
    let (mut a, mut b) = zws_pair(
        Config::new(SocketType::Pair),
        Config::new(SocketType::Pair),
        zws::Protocol::Mechanism,
    );
    drive(&mut a, &mut b);
    let now = Instant::now();
    assert_eq!(
        b.handle_zws_message(now, b"\x10x"),
        Err(Error::ZwsReservedFlags(0x10))
    );
    assert!(matches!(b.poll_event(), Err(Error::ZwsReservedFlags(_))));
    assert!(b.handle_zws_message(now, b"\x00x").is_err());
    assert_eq!(a.handle_zws_message(now, b""), Err(Error::ZwsEmptyMessage));
}

#[test]
fn a_message_past_maxmsgsize_fails_the_connection() {
    let mut small = Config::new(SocketType::Pull);
    small.max_msg_size = Some(4);
    let (mut a, mut b) = zws_pair(
        Config::new(SocketType::Push),
        small,
        zws::Protocol::Mechanism,
    );
    drive(&mut a, &mut b);
    let r = b.handle_zws_message(Instant::now(), b"\x00too long");
    assert!(
        matches!(r, Err(Error::MessageTooLarge { size: 8, max: 4 })),
        "{r:?}"
    );
}

#[test]
fn heartbeats_are_websocket_pings() {
    let mut config = Config::new(SocketType::Pair);
    config.heartbeat_ivl = Some(Duration::from_secs(1));
    let (mut a, mut b) = zws_pair(
        config,
        Config::new(SocketType::Pair),
        zws::Protocol::Mechanism,
    );
    drive(&mut a, &mut b);
    let deadline = a.poll_timeout().unwrap();
    a.handle_timeout(deadline).unwrap();
    assert_eq!(a.poll_zws_transmit(), Some(zws::Output::Ping));
    // No PONG within the timeout: the connection dies; a PONG in time keeps it.
    a.handle_zws_control(deadline);
    let next = a.poll_timeout().unwrap();
    a.handle_timeout(next).unwrap();
    assert_eq!(a.poll_zws_transmit(), Some(zws::Output::Ping));
    let later = a.poll_timeout().unwrap();
    assert_eq!(
        a.handle_timeout(later + Duration::from_secs(1)),
        Err(Error::HeartbeatTimeout)
    );
}

proptest::proptest! {
    /// Whatever messages a peer sends, during the handshake or after it, the connection
    /// answers with a result, never a panic, and an error is sticky.
    #[test]
    fn arbitrary_messages_never_panic(
        messages in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..12),
        handshaken in proptest::bool::ANY,
    ) {
        let (mut a, mut b) = zws_pair(
            Config::new(SocketType::Sub),
            Config::new(SocketType::Pub),
            zws::Protocol::Mechanism,
        );
        if handshaken {
            drive(&mut a, &mut b);
        }
        let now = Instant::now();
        let mut failed = false;
        for m in &messages {
            let r = b.handle_zws_message(now, m);
            proptest::prop_assert!(!(failed && r.is_ok()), "an error is sticky");
            failed |= r.is_err();
            while let Ok(Some(_)) = b.poll_event() {}
            while b.poll_zws_transmit().is_some() {}
        }
    }
}
