//! Two connections against each other in memory: handshakes, downgrades, heartbeats, and
//! every way a peer can break the protocol.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::{bytes, Pair};
use zmtp_codec::{
    AuthReply, Config, Connection, Error, Event, MechanismConfig, Message, Metadata, SocketType,
};

fn cfg(t: SocketType) -> Config {
    Config::new(t)
}

fn plain_client(t: SocketType, user: &'static str, pass: &'static str) -> Config {
    cfg(t).mechanism(MechanismConfig::PlainClient {
        username: bytes(user),
        password: bytes(pass),
    })
}

fn plain_server(t: SocketType) -> Config {
    cfg(t).mechanism(MechanismConfig::PlainServer)
}

// ---- NULL ---------------------------------------------------------------------------

#[test]
fn null_handshake_every_compatible_pair() {
    for &a in SocketType::all() {
        for &b in SocketType::all() {
            if !a.is_compatible(b) {
                continue;
            }
            let mut p = Pair::new(cfg(a).routing_id("A"), cfg(b).routing_id("B"));
            p.drive();
            let pa = p.a.handshake_done().expect("a done").clone();
            let pb = p.b.handshake_done().expect("b done").clone();
            assert_eq!(pa.socket_type, Some(b));
            assert_eq!(pb.socket_type, Some(a));
            assert_eq!(pa.version, (3, 1));
            // Only REQ, DEALER and ROUTER announce their routing id.
            assert_eq!(pb.routing_id.is_some(), a.sends_identity(), "{a}");
            assert_eq!(pa.routing_id.is_some(), b.sends_identity(), "{b}");
        }
    }
}

#[test]
fn greeting_is_sent_in_three_steps_as_libzmq_does() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Dealer), now).unwrap();
    let first = c.poll_transmit().unwrap();
    assert_eq!(&first[..], &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F]);
    assert!(c.poll_transmit().is_none());
    // The peer's signature alone releases our major version.
    c.handle_input(now, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F])
        .unwrap();
    assert_eq!(&c.poll_transmit().unwrap()[..], &[3]);
    // The peer's major version releases the rest.
    c.handle_input(now, &[3]).unwrap();
    let rest = c.poll_transmit().unwrap();
    assert_eq!(rest.len(), 53);
    assert_eq!(&rest[..5], b"\x01NULL");
    assert!(rest[5..].iter().all(|&b| b == 0));
}

#[test]
fn dealer_ready_matches_libzmq_bytes() {
    let mut p = Pair::new(cfg(SocketType::Dealer), cfg(SocketType::Router));
    p.drive();
    let ready =
        b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";
    assert_eq!(&p.a.sent[64..64 + ready.len()], ready);
}

#[test]
fn messages_multipart_empty_long_and_large() {
    let mut p = Pair::new(cfg(SocketType::Dealer), cfg(SocketType::Router));
    p.drive();
    let big = Bytes::from(vec![7u8; 100_000]);
    let msgs: Vec<Message> = vec![
        Message::from(""),
        ["", "a", ""].into_iter().collect(),
        Message::from(vec![1u8; 300]),
        Message::from(big.clone()),
        (0..100).map(|i| Bytes::from(vec![i as u8; i])).collect(),
    ];
    for m in &msgs {
        p.a.conn.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.b.messages(), msgs);
    assert!(p.a.error.is_none() && p.b.error.is_none());
}

#[test]
fn metadata_properties_travel() {
    let mut c = cfg(SocketType::Pair);
    let mut m = Metadata::new();
    m.insert("X-Hello", "world").unwrap();
    c.metadata = m;
    let mut p = Pair::new(c, cfg(SocketType::Pair));
    p.drive();
    let peer = p.b.handshake_done().unwrap();
    assert_eq!(&peer.metadata.get("x-hello").unwrap()[..], b"world");
}

#[test]
fn null_with_authenticator() {
    let mut server = cfg(SocketType::Rep);
    server.authenticate_null = true;
    let mut p = Pair::new(cfg(SocketType::Req), server);
    p.b.auth = Some(AuthReply::accept("anon"));
    p.drive();
    let peer = p.b.handshake_done().unwrap();
    assert_eq!(peer.user_id.as_deref(), Some(&b"anon"[..]));
    assert!(p.a.handshake_done().is_some());

    let mut server = cfg(SocketType::Rep);
    server.authenticate_null = true;
    let mut p = Pair::new(cfg(SocketType::Req), server);
    p.b.auth = Some(AuthReply::deny(400, "no"));
    p.drive();
    assert_eq!(p.a.error, Some(Error::PeerError("400".into())));
    assert!(matches!(
        p.b.error,
        Some(Error::AuthenticationFailed {
            status_code: 400,
            ..
        })
    ));
    assert!(p.a.handshake_done().is_none() && p.b.handshake_done().is_none());
}

// ---- PLAIN --------------------------------------------------------------------------

#[test]
fn plain_good_credentials() {
    let mut p = Pair::new(
        plain_client(SocketType::Dealer, "admin", "secret"),
        plain_server(SocketType::Router),
    );
    p.b.auth = Some(AuthReply::accept("admin-id"));
    p.drive();
    let req =
        p.b.events
            .iter()
            .find_map(|e| match e {
                Event::AuthRequest(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
    assert_eq!(req.mechanism, "PLAIN");
    assert_eq!(req.credentials, vec![bytes("admin"), bytes("secret")]);
    assert_eq!(
        p.b.handshake_done().unwrap().user_id.as_deref(),
        Some(&b"admin-id"[..])
    );
    assert_eq!(
        p.a.handshake_done().unwrap().socket_type,
        Some(SocketType::Router)
    );
    p.send_a(Message::from("over plain"));
    assert_eq!(p.b.messages(), vec![Message::from("over plain")]);
    // The greeting flags the server.
    assert_eq!(p.b.sent[32], 1);
    assert_eq!(p.a.sent[32], 0);
}

#[test]
fn plain_bad_credentials_are_refused_with_error() {
    let mut p = Pair::new(
        plain_client(SocketType::Req, "admin", "wrong"),
        plain_server(SocketType::Rep),
    );
    p.b.auth = Some(AuthReply::deny(400, "bad password"));
    p.drive();
    assert_eq!(p.a.error, Some(Error::PeerError("400".into())));
    assert_eq!(
        p.b.error,
        Some(Error::AuthenticationFailed {
            status_code: 400,
            status_text: "bad password".into()
        })
    );
    assert!(p.a.handshake_done().is_none());
}

#[test]
fn plain_temporary_failure_closes_silently() {
    let mut p = Pair::new(
        plain_client(SocketType::Req, "a", "b"),
        plain_server(SocketType::Rep),
    );
    p.b.auth = Some(AuthReply::deny(300, "try later"));
    p.drive();
    assert!(matches!(
        p.b.error,
        Some(Error::AuthenticationFailed {
            status_code: 300,
            ..
        })
    ));
    // No ERROR went out: the client is still waiting, and learns from the closed transport.
    assert_eq!(p.a.error, None);
    assert!(!p.b.sent.windows(6).any(|w| w == b"\x05ERROR"));
}

#[test]
fn auth_pending_blocks_until_answered() {
    let mut p = Pair::new(
        plain_client(SocketType::Req, "a", "b"),
        plain_server(SocketType::Rep),
    );
    p.drive();
    assert!(p.b.handshake_done().is_none());
    let now = p.now;
    p.b.conn
        .handle_auth_reply(now, AuthReply::accept("late"))
        .unwrap();
    p.drive();
    assert!(p.b.handshake_done().is_some() && p.a.handshake_done().is_some());
    assert_eq!(
        p.b.conn.handle_auth_reply(now, AuthReply::accept("again")),
        Err(Error::NoAuthPending)
    );
}

#[test]
fn mechanism_and_role_mismatches() {
    let mut p = Pair::new(cfg(SocketType::Req), plain_server(SocketType::Rep));
    p.drive();
    assert!(matches!(
        p.a.error,
        Some(Error::MechanismMismatch { ours: "NULL", .. })
    ));
    assert!(matches!(
        p.b.error,
        Some(Error::MechanismMismatch { ours: "PLAIN", .. })
    ));

    let mut p = Pair::new(
        plain_client(SocketType::Req, "a", "b"),
        plain_client(SocketType::Rep, "c", "d"),
    );
    p.drive();
    // as-server 0 is what libzmq sends in every role, so two clients meet in the handshake.
    assert_eq!(p.a.error, Some(Error::UnexpectedCommand(bytes("HELLO"))));
    assert_eq!(p.b.error, Some(Error::UnexpectedCommand(bytes("HELLO"))));

    let mut p = Pair::new(plain_server(SocketType::Req), plain_server(SocketType::Rep));
    p.drive();
    assert_eq!(p.a.error, Some(Error::RoleMismatch("server")));
    assert_eq!(p.b.error, Some(Error::RoleMismatch("server")));
}

#[test]
fn plain_client_accepts_a_server_that_clears_as_server_like_libzmq() {
    // libzmq 4.3 sends as-server = 0 even as a PLAIN server (docs/LIBZMQ-WIRE.md).
    let now = Instant::now();
    let mut c = Connection::new(plain_client(SocketType::Req, "admin", "secret"), now).unwrap();
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"PLAIN");
    g.resize(64, 0);
    let out = exchange(&mut c, now, &g);
    assert!(out.ends_with(b"\x04\x13\x05HELLO\x05admin\x06secret"));
    let out = exchange(&mut c, now, b"\x04\x08\x07WELCOME");
    assert!(out.starts_with(b"\x04\x29\x08INITIATE"));
    exchange(
        &mut c,
        now,
        b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03REP",
    );
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeSucceeded(_)))
    ));
}

#[test]
fn incompatible_socket_types_are_refused() {
    let mut p = Pair::new(cfg(SocketType::Push), cfg(SocketType::Push));
    p.drive();
    let expected = Error::IncompatibleSocketType {
        ours: SocketType::Push,
        theirs: SocketType::Push,
    };
    assert_eq!(p.a.error, Some(expected.clone()));
    assert_eq!(p.b.error, Some(expected));
    assert!(p.a.handshake_done().is_none());
}

// ---- versions -----------------------------------------------------------------------

#[test]
fn zmtp31_subscriptions_are_commands() {
    let mut p = Pair::new(cfg(SocketType::Sub), cfg(SocketType::Pub));
    p.drive();
    let before = p.a.sent.len();
    p.send_a(Message::from(&b"\x01A"[..]));
    assert_eq!(&p.a.sent[before..], b"\x04\x0b\x09SUBSCRIBEA");
    p.a.conn.send_cancel(b"A").unwrap();
    p.drive();
    assert_eq!(
        &p.b.events[1..],
        &[Event::Subscribe(bytes("A")), Event::Cancel(bytes("A"))]
    );
}

#[test]
fn zmtp30_peer_gets_subscriptions_as_messages() {
    let mut old = cfg(SocketType::Pub);
    old.zmtp_minor = 0;
    let mut p = Pair::new(cfg(SocketType::Sub), old);
    p.drive();
    assert_eq!(p.a.handshake_done().unwrap().version, (3, 0));
    assert_eq!(p.b.handshake_done().unwrap().version, (3, 0));
    let before = p.a.sent.len();
    p.a.conn.send_subscribe(b"A").unwrap();
    p.drive();
    assert_eq!(&p.a.sent[before..], b"\x00\x02\x01A");
    assert_eq!(p.b.events[1], Event::Subscribe(bytes("A")));
}

#[test]
fn xpub_sees_plain_messages_that_are_not_subscriptions() {
    let mut p = Pair::new(cfg(SocketType::XSub), cfg(SocketType::XPub));
    p.drive();
    p.send_a(Message::from("hello"));
    p.send_a(Message::from(&b"\x00gone"[..]));
    assert_eq!(
        &p.b.events[1..],
        &[Event::Message("hello".into()), Event::Cancel(bytes("gone"))]
    );
}

/// Drives one connection against a scripted peer: feeds `input` and returns all output.
fn exchange(conn: &mut Connection, now: Instant, input: &[u8]) -> Vec<u8> {
    conn.handle_input(now, input).unwrap();
    let mut out = Vec::new();
    while let Some(b) = conn.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

#[test]
fn downgrade_to_zmtp20_peer() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Dealer).routing_id("me"), now).unwrap();
    let sig = c.poll_transmit().unwrap();
    assert_eq!(&sig[..], &[0xFF, 0, 0, 0, 0, 0, 0, 0, 3, 0x7F]);
    // A ZMTP 2.0 ROUTER: signature, revision 1, socket type 6, identity frame "peer".
    let out = exchange(&mut c, now, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01]);
    // Our major, then (seeing revision 1) our socket type (DEALER = 5).
    assert_eq!(out, b"\x03\x05");
    // The peer's socket type completes the 12-byte greeting: our identity frame follows.
    let out = exchange(&mut c, now, b"\x06\x00\x04peer\x01\x01a\x00\x01b");
    assert_eq!(out, b"\x00\x02me");
    let Ok(Some(Event::HandshakeSucceeded(peer))) = c.poll_event() else {
        panic!("no handshake")
    };
    assert_eq!(peer.version, (2, 0));
    assert_eq!(peer.socket_type, Some(SocketType::Router));
    assert_eq!(peer.routing_id, Some(bytes("peer")));
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Message(["a", "b"].into_iter().collect())))
    );
    c.send(&"hi".into()).unwrap();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"\x00\x02hi");
    // ZMTP 2.0 has no commands: a flags byte with bit 2 is malformed.
    c.handle_input(now, b"\x04\x00").unwrap();
    assert_eq!(c.poll_event(), Err(Error::ReservedFlags(0x04)));
}

#[test]
fn zmtp20_peer_of_wrong_type_is_refused() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Push), now).unwrap();
    let err = c
        .handle_input(now, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 8])
        .unwrap_err();
    assert_eq!(
        err,
        Error::IncompatibleSocketType {
            ours: SocketType::Push,
            theirs: SocketType::Push
        }
    );
    let mut c = Connection::new(cfg(SocketType::Push), now).unwrap();
    let err = c
        .handle_input(now, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 11])
        .unwrap_err();
    assert_eq!(err, Error::UnknownSocketType(Bytes::from_static(&[11])));
}

#[test]
fn downgrade_to_unversioned_zmtp10_peer() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Pub).routing_id("id"), now).unwrap();
    let sig = c.poll_transmit().unwrap();
    // To a 1.0 peer our signature reads as the header of our identity message (length 3).
    assert_eq!(&sig[..], &[0xFF, 0, 0, 0, 0, 0, 0, 0, 3, 0x7F]);
    // A 1.0 SUB sends its (empty) identity: length 1 (flags only), flags 0; then a message.
    let out = exchange(&mut c, now, b"\x01\x00\x03\x00hi");
    assert_eq!(out, b"id");
    let Ok(Some(Event::HandshakeSucceeded(peer))) = c.poll_event() else {
        panic!("no handshake")
    };
    assert_eq!(peer.version, (1, 0));
    assert_eq!(peer.socket_type, None);
    assert_eq!(peer.routing_id, None);
    // libzmq's rule: 1.0 peers never subscribe, so a publisher subscribes them to all.
    assert_eq!(c.poll_event(), Ok(Some(Event::Subscribe(Bytes::new()))));
    assert_eq!(c.poll_event(), Ok(Some(Event::Message("hi".into()))));
    c.send(&["x", "yz"].into_iter().collect()).unwrap();
    assert_eq!(&c.poll_transmit().unwrap()[..], b"\x02\x01x\x03\x00yz");
}

#[test]
fn versioned_zmtp10_peer() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Pull), now).unwrap();
    let _ = c.poll_transmit();
    // Signature, revision 0, socket type PUSH (8), identity in 1.0 framing, a message.
    let out = exchange(
        &mut c,
        now,
        b"\xFF\x00\x00\x00\x00\x00\x00\x00\x01\x7F\x00\x08\x01\x00\x04\x00abc",
    );
    assert_eq!(out, b"\x03\x07\x01\x00");
    assert!(
        matches!(c.poll_event(), Ok(Some(Event::HandshakeSucceeded(p))) if p.version == (1, 0))
    );
    assert_eq!(c.poll_event(), Ok(Some(Event::Message("abc".into()))));
}

#[test]
fn legacy_peers_refused_when_authenticating() {
    let now = Instant::now();
    let mut c = Connection::new(plain_server(SocketType::Rep), now).unwrap();
    assert_eq!(
        c.handle_input(now, b"\x01\x00"),
        Err(Error::LegacyPeerRefused(1))
    );
    let mut c = Connection::new(plain_server(SocketType::Rep), now).unwrap();
    assert_eq!(
        c.handle_input(now, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 0x01, 3]),
        Err(Error::LegacyPeerRefused(2))
    );
}

// ---- heartbeats and timeouts --------------------------------------------------------

fn heartbeat(t: SocketType, ivl_ms: u64, ttl_ms: u64) -> Config {
    let mut c = cfg(t);
    c.heartbeat_ivl = Some(Duration::from_millis(ivl_ms));
    c.heartbeat_ttl = Some(Duration::from_millis(ttl_ms));
    c
}

#[test]
fn heartbeats_keep_a_quiet_connection_alive() {
    let mut p = Pair::new(
        heartbeat(SocketType::Dealer, 500, 2000),
        cfg(SocketType::Router),
    );
    p.drive();
    p.advance(Duration::from_secs(10));
    assert!(p.a.error.is_none() && p.b.error.is_none());
    // libzmq's bytes for IVL=500, TTL=2000: 04 07 04 PING 00 14.
    let pings =
        p.a.sent
            .windows(9)
            .filter(|w| w == b"\x04\x07\x04PING\x00\x14")
            .count();
    assert_eq!(pings, 20);
    let pongs =
        p.b.sent
            .windows(7)
            .filter(|w| w == b"\x04\x05\x04PONG")
            .count();
    assert_eq!(pongs, 20);
}

#[test]
fn heartbeat_timeout_closes_a_silent_peer() {
    let mut p = Pair::new(
        heartbeat(SocketType::Dealer, 500, 0),
        cfg(SocketType::Router),
    );
    p.drive();
    p.b.mute = true;
    let silent_since = p.now;
    p.advance(Duration::from_secs(5));
    assert_eq!(p.a.error, Some(Error::HeartbeatTimeout));
    // First PING at 0.5 s, no answer within the timeout (= interval) → closed at 1.0 s.
    assert!(p.now >= silent_since + Duration::from_secs(1));
    assert_eq!(p.a.conn.poll_timeout(), None);
}

#[test]
fn peer_ttl_closes_when_pings_stop() {
    // A pings with TTL 2 s; then A goes silent: B must give up 2 s after A's last traffic.
    let mut p = Pair::new(
        heartbeat(SocketType::Dealer, 500, 2000),
        cfg(SocketType::Router),
    );
    p.drive();
    p.advance(Duration::from_millis(600));
    assert!(p.b.error.is_none());
    p.a.mute = true;
    p.advance(Duration::from_secs(1));
    assert!(p.b.error.is_none(), "TTL not expired yet");
    p.advance(Duration::from_secs(2));
    assert_eq!(p.b.error, Some(Error::HeartbeatTimeout));
}

#[test]
fn handshake_timeout() {
    let now = Instant::now();
    let mut c = Connection::new(cfg(SocketType::Req), now).unwrap();
    let deadline = c.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(30));
    c.handle_timeout(now + Duration::from_secs(29)).unwrap();
    assert_eq!(c.handle_timeout(deadline), Err(Error::HandshakeTimeout));
}

// ---- malformed input ----------------------------------------------------------------

/// A connection past the greeting, fed `input` right after a good peer greeting.
fn after_greeting(ours: Config, peer_greeting_mech: &str, input: &[u8]) -> Result<(), Error> {
    let now = Instant::now();
    let mut c = Connection::new(ours, now)?;
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    let mut mech = [0u8; 20];
    mech[..peer_greeting_mech.len()].copy_from_slice(peer_greeting_mech.as_bytes());
    g.extend_from_slice(&mech);
    g.extend_from_slice(&[0u8; 32]);
    c.handle_input(now, &g)?;
    c.handle_input(now, input)?;
    while c.poll_event()?.is_some() {}
    Ok(())
}

const READY_PUSH: &[u8] = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH";

#[test]
fn malformed_greetings() {
    let now = Instant::now();
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (
            {
                let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
                g.extend_from_slice(b"nul\0");
                g.resize(64, 0);
                g
            },
            Error::BadMechanismName,
        ),
        (
            {
                let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
                g.extend_from_slice(b"CURVE");
                g.resize(64, 0);
                g
            },
            Error::MechanismMismatch {
                ours: "NULL",
                theirs: "CURVE".into(),
            },
        ),
    ];
    for (bytes, err) in cases {
        let mut c = Connection::new(cfg(SocketType::Pull), now).unwrap();
        assert_eq!(c.handle_input(now, &bytes), Err(err.clone()));
        // Sticky.
        assert_eq!(
            c.handle_input(now, b"x"),
            Err(Error::Failed(Box::new(err.clone())))
        );
        assert_eq!(c.poll_event(), Err(err));
    }
}

#[test]
fn malformed_frames_and_commands() {
    let pull = || cfg(SocketType::Pull);
    let mut big = cfg(SocketType::Pull);
    big.max_msg_size = Some(10);
    let cases: Vec<(Config, Vec<u8>, Error)> = vec![
        (pull(), b"\x0c\x00".to_vec(), Error::ReservedFlags(0x0c)),
        (pull(), b"\x05\x00".to_vec(), Error::CommandWithMore),
        (pull(), b"\x00\x01x".to_vec(), Error::UnexpectedMessage),
        (
            pull(),
            b"\x04\x01\x00".to_vec(),
            Error::MalformedCommand("empty command name"),
        ),
        (
            pull(),
            b"\x04\x07\x05READY\x00".to_vec(),
            Error::MalformedProperty("empty property name"),
        ),
        (
            pull(),
            b"\x04\x06\x05READY".to_vec(),
            Error::MissingSocketType,
        ),
        (
            pull(),
            b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03FOO".to_vec(),
            Error::UnknownSocketType(bytes("FOO")),
        ),
        (
            pull(),
            b"\x04\x08\x05HELLO\x00\x00".to_vec(),
            Error::UnexpectedCommand(bytes("HELLO")),
        ),
        (
            pull(),
            b"\x04\x0a\x05ERROR\x03bad".to_vec(),
            Error::PeerError("bad".into()),
        ),
        (
            pull(),
            [READY_PUSH, b"\x04\x05\x04PING"].concat(),
            Error::MalformedCommand("PING shorter than its TTL"),
        ),
        (
            pull(),
            [READY_PUSH, b"\x04\x0a\x05ERROR\x03bye"].concat(),
            Error::PeerError("bye".into()),
        ),
        (
            big,
            [READY_PUSH, b"\x00\x0bhello world"].concat(),
            Error::MessageTooLarge { size: 11, max: 10 },
        ),
    ];
    // The header alone is refused, before any of the body arrives.
    let mut huge = vec![0x06];
    huge.extend_from_slice(&(zmtp_codec::MAX_HANDSHAKE_FRAME + 1).to_be_bytes());
    huge.extend_from_slice(b"\x05READY");
    assert_eq!(
        after_greeting(pull(), "NULL", &huge),
        Err(Error::MessageTooLarge {
            size: zmtp_codec::MAX_HANDSHAKE_FRAME + 1,
            max: zmtp_codec::MAX_HANDSHAKE_FRAME
        })
    );
    for (config, input, err) in cases {
        assert_eq!(after_greeting(config, "NULL", &input), Err(err));
    }
}

#[test]
fn plain_server_rejects_malformed_hello() {
    let now = Instant::now();
    let mut c = Connection::new(plain_server(SocketType::Pull), now).unwrap();
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"PLAIN");
    g.resize(64, 0); // as-server = 0: a client
    c.handle_input(now, &g).unwrap();
    let err = c.handle_input(now, b"\x04\x08\x05HELLO\x05a").unwrap_err();
    assert!(matches!(
        err,
        Error::MalformedMechanismCommand {
            command: "HELLO",
            ..
        }
    ));
}

#[test]
fn caller_errors_do_not_kill_the_connection() {
    let mut p = Pair::new(cfg(SocketType::Push), cfg(SocketType::Pull));
    assert_eq!(p.a.conn.send(&"early".into()), Err(Error::NotReady));
    p.drive();
    assert_eq!(p.a.conn.send(&Message::new()), Err(Error::EmptyMessage));
    p.send_a(Message::from("fine"));
    assert_eq!(p.b.messages(), vec![Message::from("fine")]);
    assert!(Connection::new(
        cfg(SocketType::Push).routing_id(vec![0u8; 256]),
        Instant::now()
    )
    .is_err());
}

#[test]
fn no_empty_transmit_chunks_around_large_frames() {
    let mut p = Pair::new(cfg(SocketType::Push), cfg(SocketType::Pull));
    p.drive();
    let big = Bytes::from(vec![1u8; zmtp_codec::ZERO_COPY_THRESHOLD]);
    let msgs: Vec<Message> = vec![
        Message::from(big.clone()),
        Message::from(big.clone()),
        Message::from("small"),
        Message::from("small again"),
    ];
    for m in &msgs {
        p.a.conn.send(m).unwrap();
    }
    let mut chunks = Vec::new();
    while let Some(c) = p.a.conn.poll_transmit() {
        assert!(!c.is_empty(), "empty chunk after {chunks:?}");
        chunks.push(c.len());
    }
    // The large bodies went out as their own chunks, not copied.
    assert!(chunks.contains(&big.len()));
}

#[test]
fn commands_wait_while_the_authenticator_decides() {
    // A NULL server asking a (slow) authenticator: the client's READY arrives first and
    // must wait in the buffer, not be refused.
    let mut server = cfg(SocketType::Rep);
    server.authenticate_null = true;
    let mut p = Pair::new(cfg(SocketType::Req), server);
    p.drive();
    assert!(p.b.handshake_done().is_none() && p.b.error.is_none());
    assert!(matches!(p.b.events[0], Event::AuthRequest(_)));
    let now = p.now;
    p.b.conn
        .handle_auth_reply(now, AuthReply::accept("late"))
        .unwrap();
    p.drive();
    assert_eq!(
        p.b.handshake_done().unwrap().user_id.as_deref(),
        Some(&b"late"[..])
    );
    assert!(p.a.handshake_done().is_some());
    p.send_a(Message::from("after auth"));
    assert_eq!(p.b.messages(), vec![Message::from("after auth")]);
}
