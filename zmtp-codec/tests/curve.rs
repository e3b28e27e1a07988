//! CURVE (RFC 25/26) between two codecs in memory: the handshake, traffic in boxes, and the
//! attacks the spec defends against (wrong key, forged vouch, altered cookie, replays,
//! tampering).
#![cfg(feature = "curve")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crypto_box::aead::consts::{U16, U24};
use crypto_box::aead::{AeadCore, AeadInPlace, OsRng};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use harness::{bytes, Pair};
use zmtp_codec::frame::{self, Framing};
use zmtp_codec::{
    greeting, AuthReply, Config, Connection, CurveKeyPair, Error, Event, MechanismConfig, Message,
    SocketType,
};

// libzmq's test keys (doc/zmq_curve.adoc and tests/testutil_security).
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

fn client_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret_z85(CLIENT_SECRET).unwrap()
}

fn server_keys() -> CurveKeyPair {
    CurveKeyPair::from_secret_z85(SERVER_SECRET).unwrap()
}

fn curve_client(t: SocketType, server_key: [u8; 32]) -> Config {
    Config::new(t).mechanism(MechanismConfig::curve_client(&client_keys(), server_key))
}

fn curve_server(t: SocketType) -> Config {
    Config::new(t).mechanism(MechanismConfig::curve_server(&server_keys()))
}

/// A client `a` and a server `b` whose authenticator accepts everyone.
fn pair(client: SocketType, server: SocketType) -> Pair {
    let mut p = Pair::new(
        curve_client(client, server_keys().public),
        curve_server(server),
    );
    p.b.auth = Some(AuthReply::accept("curve-user"));
    p
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---- handshake ----------------------------------------------------------------------

#[test]
fn handshake_authenticates_both_sides() {
    let mut p = pair(SocketType::Dealer, SocketType::Router);
    p.drive();
    assert!(p.a.error.is_none() && p.b.error.is_none());
    let req =
        p.b.events
            .iter()
            .find_map(|e| match e {
                Event::AuthRequest(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
    assert_eq!(req.mechanism, "CURVE");
    assert_eq!(
        req.credentials,
        vec![Bytes::copy_from_slice(&client_keys().public)]
    );
    let at_server = p.b.handshake_done().unwrap();
    assert_eq!(at_server.socket_type, Some(SocketType::Dealer));
    assert_eq!(at_server.user_id.as_deref(), Some(&b"curve-user"[..]));
    assert_eq!(
        p.a.handshake_done().unwrap().socket_type,
        Some(SocketType::Router)
    );
    // The greeting names CURVE and flags the server.
    assert_eq!(&p.a.sent[12..17], b"CURVE");
    assert_eq!((p.a.sent[32], p.b.sent[32]), (0, 1));
}

#[test]
fn golden_sizes_and_layouts() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.drive();
    let (c, s) = (&p.a.sent[64..], &p.b.sent[64..]);
    // HELLO: short frame of 200 bytes.
    assert_eq!(&c[..2], &[0x04, 200]);
    let hello = &c[2..202];
    assert_eq!(&hello[..6], b"\x05HELLO");
    assert_eq!(&hello[6..8], &[1, 0]);
    assert!(hello[8..80].iter().all(|&b| b == 0));
    assert_eq!(&hello[112..120], &1u64.to_be_bytes(), "HELLO short nonce 1");
    // WELCOME: 168 bytes.
    assert_eq!(&s[..2], &[0x04, 168]);
    assert_eq!(&s[2..10], b"\x07WELCOME");
    // INITIATE: long frame (≥ 257 bytes), short nonce 2.
    assert_eq!(c[202], 0x06);
    let initiate_len = u64::from_be_bytes(c[203..211].try_into().unwrap()) as usize;
    assert!(initiate_len >= 257, "{initiate_len}");
    let initiate = &c[211..211 + initiate_len];
    assert_eq!(&initiate[..9], b"\x08INITIATE");
    assert_eq!(&initiate[105..113], &2u64.to_be_bytes());
    // READY: ≥ 30 bytes, short nonce 1.
    let ready = &s[170..];
    assert_eq!(ready[0], 0x04);
    assert!(usize::from(ready[1]) >= 30);
    assert_eq!(&ready[2..8], b"\x05READY");
    assert_eq!(&ready[8..16], &1u64.to_be_bytes());
    // Nothing readable: the metadata travelled in boxes.
    assert_eq!(count(&p.a.sent, b"Socket-Type"), 0);
    assert_eq!(count(&p.b.sent, b"Socket-Type"), 0);
}

#[test]
fn metadata_and_routing_id_travel_in_the_boxes() {
    let mut client = curve_client(SocketType::Dealer, server_keys().public).routing_id("me");
    client.metadata.insert("X-Colour", "blue").unwrap();
    let mut p = Pair::new(client, curve_server(SocketType::Router));
    p.b.auth = Some(AuthReply::accept(""));
    p.drive();
    let peer = p.b.handshake_done().unwrap();
    assert_eq!(peer.routing_id.as_deref(), Some(&b"me"[..]));
    assert_eq!(&peer.metadata.get("x-colour").unwrap()[..], b"blue");
    assert_eq!(count(&p.a.sent, b"blue"), 0);
}

#[test]
fn mismatched_key_pair_is_a_config_error() {
    let mut wrong = MechanismConfig::curve_client(&client_keys(), server_keys().public);
    if let MechanismConfig::CurveClient { public_key, .. } = &mut wrong {
        *public_key = server_keys().public;
    }
    let err = Connection::new(
        Config::new(SocketType::Req).mechanism(wrong),
        Instant::now(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)));
}

#[test]
fn config_debug_redacts_secrets() {
    let shown = format!(
        "{:?} {:?}",
        MechanismConfig::curve_client(&client_keys(), server_keys().public),
        MechanismConfig::curve_server(&server_keys())
    );
    assert!(!shown.contains(CLIENT_SECRET) && !shown.contains(SERVER_SECRET));
    assert!(shown.contains(&client_keys().public_z85()));
    assert!(shown.contains("redacted"));
}

// ---- traffic ------------------------------------------------------------------------

#[test]
fn messages_both_ways_multipart_and_large() {
    let mut p = pair(SocketType::Dealer, SocketType::Router);
    p.drive();
    let big = Bytes::from((0..65_536).map(|i| i as u8).collect::<Vec<u8>>());
    let msgs: Vec<Message> = vec![
        Message::from("hello"),
        Message::from(""),
        ["", "a", ""].into_iter().collect(),
        Message::from(big.clone()),
        (0..50).map(|i| Bytes::from(vec![i as u8; i * 7])).collect(),
    ];
    for m in &msgs {
        p.a.conn.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.b.messages(), msgs);
    for m in &msgs {
        p.b.conn.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.a.messages(), msgs);
    assert!(p.a.error.is_none() && p.b.error.is_none());
    // Only ciphertext on the wire.
    assert_eq!(count(&p.a.sent, b"hello"), 0);
    assert_eq!(count(&p.b.sent, &big[1000..1032]), 0);
    // Every post-handshake frame is an unflagged MESSAGE frame.
    assert_eq!(count(&p.a.sent, b"\x07MESSAGE"), 1 + 1 + 3 + 1 + 50);
}

#[test]
fn short_nonces_count_on_from_the_handshake() {
    let mut p = pair(SocketType::Pair, SocketType::Pair);
    p.drive();
    let (a0, b0) = (p.a.sent.len(), p.b.sent.len());
    p.send_a("x");
    p.send_a("y");
    p.send_b("z");
    // Client: HELLO 1, INITIATE 2, then MESSAGE 3, 4. Server: READY 1, then MESSAGE 2.
    let a = &p.a.sent[a0..];
    assert_eq!(a[0], 0x00, "outer frame carries no flags");
    assert_eq!(&a[2..10], b"\x07MESSAGE");
    assert_eq!(&a[10..18], &3u64.to_be_bytes());
    assert_eq!(&a[a.len() / 2 + 10..a.len() / 2 + 18], &4u64.to_be_bytes());
    assert_eq!(&p.b.sent[b0 + 10..b0 + 18], &2u64.to_be_bytes());
}

#[test]
fn heartbeats_travel_in_boxes() {
    let mut client = curve_client(SocketType::Dealer, server_keys().public);
    client.heartbeat_ivl = Some(Duration::from_millis(500));
    client.heartbeat_ttl = Some(Duration::from_millis(2000));
    let mut p = Pair::new(client, curve_server(SocketType::Router));
    p.b.auth = Some(AuthReply::accept(""));
    p.drive();
    let (a0, b0) = (p.a.sent.len(), p.b.sent.len());
    p.advance(Duration::from_secs(10));
    assert!(p.a.error.is_none() && p.b.error.is_none());
    assert_eq!(count(&p.a.sent[a0..], b"\x07MESSAGE"), 20, "PINGs");
    assert_eq!(count(&p.b.sent[b0..], b"\x07MESSAGE"), 20, "PONGs");
    assert_eq!(count(&p.a.sent, b"PING"), 0);
    assert_eq!(count(&p.b.sent, b"PONG"), 0);

    // The PONGs count: silence from the server now times the client out.
    p.b.mute = true;
    p.advance(Duration::from_secs(3));
    assert_eq!(p.a.error, Some(Error::HeartbeatTimeout));
}

#[test]
fn subscriptions_travel_in_boxes() {
    let mut p = pair(SocketType::Sub, SocketType::Pub);
    p.drive();
    p.send_a(Message::from(&b"\x01A"[..]));
    p.a.conn.send_subscribe(b"B").unwrap();
    p.a.conn.send_cancel(b"A").unwrap();
    p.drive();
    let subs: Vec<&Event> =
        p.b.events
            .iter()
            .filter(|e| matches!(e, Event::Subscribe(_) | Event::Cancel(_)))
            .collect();
    assert_eq!(
        subs,
        [
            &Event::Subscribe(bytes("A")),
            &Event::Subscribe(bytes("B")),
            &Event::Cancel(bytes("A"))
        ]
    );
    assert_eq!(count(&p.a.sent, b"SUBSCRIBE"), 0);
    assert_eq!(count(&p.a.sent, b"CANCEL"), 0);
    p.send_b("B-news");
    assert_eq!(p.a.messages(), vec![Message::from("B-news")]);
}

// ---- attacks and refusals -----------------------------------------------------------

#[test]
fn wrong_server_key_fails_and_delivers_nothing() {
    let impostor = CurveKeyPair::generate();
    let mut p = Pair::new(
        curve_client(SocketType::Req, impostor.public),
        curve_server(SocketType::Rep),
    );
    p.b.auth = Some(AuthReply::accept(""));
    p.drive();
    assert_eq!(
        p.b.error,
        Some(Error::CurveBoxOpenFailed { command: "HELLO" })
    );
    assert!(p.a.handshake_done().is_none() && p.b.handshake_done().is_none());
    assert_eq!(p.a.conn.send(&"secret".into()), Err(Error::NotReady));
    assert!(p.b.messages().is_empty());
    // libzmq closes silently here; the client gives up at its handshake timeout.
    p.advance(Duration::from_secs(31));
    assert_eq!(p.a.error, Some(Error::HandshakeTimeout));
}

#[test]
fn server_with_another_key_than_the_client_expects() {
    // The client knows S, but a server holding another key answers: WELCOME will not open.
    let mut p = Pair::new(
        curve_client(SocketType::Req, server_keys().public),
        Config::new(SocketType::Rep)
            .mechanism(MechanismConfig::curve_server(&CurveKeyPair::generate())),
    );
    p.b.auth = Some(AuthReply::accept(""));
    p.drive();
    assert_eq!(
        p.b.error,
        Some(Error::CurveBoxOpenFailed { command: "HELLO" })
    );
    assert!(p.a.handshake_done().is_none());
}

#[test]
fn zap_deny_sends_error_400() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.b.auth = Some(AuthReply::deny(400, "unknown key"));
    p.drive();
    assert_eq!(p.a.error, Some(Error::PeerError("400".into())));
    assert_eq!(
        p.b.error,
        Some(Error::AuthenticationFailed {
            status_code: 400,
            status_text: "unknown key".into()
        })
    );
    assert!(p.a.handshake_done().is_none() && p.b.handshake_done().is_none());
    // The ERROR is plaintext, as libzmq sends it during the handshake.
    assert_eq!(count(&p.b.sent, b"\x04\x0a\x05ERROR\x03400"), 1);
}

#[test]
fn zap_temporary_failure_closes_silently() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.b.auth = Some(AuthReply::deny(300, "later"));
    p.drive();
    assert!(p.a.error.is_none());
    assert_eq!(count(&p.b.sent, b"ERROR"), 0);
    assert!(matches!(
        p.b.error,
        Some(Error::AuthenticationFailed {
            status_code: 300,
            ..
        })
    ));
}

#[test]
fn altered_cookie_is_refused() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.a.tamper = Some(Box::new(|out: &mut Vec<u8>| {
        if let Some(at) = find(out, b"\x08INITIATE") {
            out[at + 9 + 40] ^= 0x20; // inside the cookie box
        }
    }));
    p.drive();
    assert_eq!(p.b.error, Some(Error::CurveBadCookie));
    assert!(p.b.handshake_done().is_none() && p.a.handshake_done().is_none());
    assert!(!p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::AuthRequest(_))));
}

#[test]
fn cookie_nonce_altered_is_refused() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.a.tamper = Some(Box::new(|out: &mut Vec<u8>| {
        if let Some(at) = find(out, b"\x08INITIATE") {
            out[at + 9] ^= 0x01; // the cookie's long nonce
        }
    }));
    p.drive();
    assert_eq!(p.b.error, Some(Error::CurveBadCookie));
}

#[test]
fn altered_initiate_box_is_refused() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.a.tamper = Some(Box::new(|out: &mut Vec<u8>| {
        if let Some(at) = find(out, b"\x08INITIATE") {
            let last = out.len() - 1;
            assert!(last > at + 200);
            out[last] ^= 0x01;
        }
    }));
    p.drive();
    assert_eq!(
        p.b.error,
        Some(Error::CurveBoxOpenFailed {
            command: "INITIATE"
        })
    );
}

#[test]
fn second_hello_is_refused() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.a.tamper = Some(Box::new(|out: &mut Vec<u8>| {
        if let Some(at) = find(out, b"\x04\xc8\x05HELLO") {
            let hello = out[at..at + 202].to_vec();
            out.extend_from_slice(&hello);
        }
    }));
    p.drive();
    assert_eq!(
        p.b.error,
        Some(Error::UnexpectedCommand(Bytes::from_static(b"HELLO")))
    );
    assert!(p.b.handshake_done().is_none());
}

#[test]
fn recorded_handshake_replayed_to_a_new_server_fails_on_the_cookie() {
    let mut p = pair(SocketType::Req, SocketType::Rep);
    p.drive();
    p.send_a("order: buy");
    assert_eq!(p.b.messages().len(), 1);
    // An eavesdropper replays everything the client sent to a fresh server.
    let recorded = p.a.sent.clone();
    let now = Instant::now();
    let mut fresh = Connection::new(curve_server(SocketType::Rep), now).unwrap();
    let result = fresh.handle_input(now, &recorded);
    assert_eq!(result, Err(Error::CurveBadCookie));
    assert_eq!(fresh.poll_event(), Err(Error::CurveBadCookie));
}

/// Hands one batch of `from`'s output to `to`, optionally altered, then polls `to`.
fn shuttle(
    from: &mut Connection,
    to: &mut Connection,
    alter: impl FnOnce(&mut Vec<u8>),
) -> (Vec<Event>, Result<(), Error>) {
    let mut bytes = Vec::new();
    while let Some(chunk) = from.poll_transmit() {
        bytes.extend_from_slice(&chunk);
    }
    alter(&mut bytes);
    let now = Instant::now();
    let mut result = to.handle_input(now, &bytes);
    let mut events = Vec::new();
    loop {
        match to.poll_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    (events, result)
}

fn connected(client: SocketType, server: SocketType) -> (Connection, Connection) {
    let mut p = pair(client, server);
    p.drive();
    assert!(p.a.handshake_done().is_some() && p.b.handshake_done().is_some());
    (p.a.conn, p.b.conn)
}

#[test]
fn tampered_message_kills_the_connection_and_delivers_nothing() {
    // Frame length (shortened), command name, short nonce, tag, ciphertext.
    for (at, mask) in [
        (1usize, 0x10u8),
        (5, 0x04),
        (12, 0x04),
        (20, 0x80),
        (40, 0x01),
        (44, 0x02),
    ] {
        let (mut c, mut s) = connected(SocketType::Push, SocketType::Pull);
        c.send(&Message::from("transfer 10 EUR")).unwrap();
        let (events, result) = shuttle(&mut c, &mut s, |b| b[at] ^= mask);
        assert!(events.is_empty(), "byte {at}: {events:?}");
        assert!(result.is_err(), "byte {at}");
        assert!(s.error().is_some());
        // The genuine frame cannot rescue it: the error is sticky.
        c.send(&Message::from("again")).unwrap();
        let (events, _) = shuttle(&mut c, &mut s, |_| {});
        assert!(events.is_empty());
    }
    // The box itself: any altered byte fails to open.
    let (mut c, mut s) = connected(SocketType::Push, SocketType::Pull);
    c.send(&Message::from("transfer 10 EUR")).unwrap();
    let (events, result) = shuttle(&mut c, &mut s, |b| b[30] ^= 0x01);
    assert!(events.is_empty());
    assert_eq!(
        result,
        Err(Error::CurveBoxOpenFailed { command: "MESSAGE" })
    );
}

#[test]
fn replayed_message_kills_the_connection() {
    let (mut c, mut s) = connected(SocketType::Push, SocketType::Pull);
    c.send(&Message::from("pay once")).unwrap();
    let mut frame = Vec::new();
    while let Some(chunk) = c.poll_transmit() {
        frame.extend_from_slice(&chunk);
    }
    let now = Instant::now();
    s.handle_input(now, &frame).unwrap();
    assert_eq!(s.poll_event(), Ok(Some(Event::Message("pay once".into()))));
    s.handle_input(now, &frame).unwrap();
    assert_eq!(
        s.poll_event(),
        Err(Error::CurveNonceReplay {
            command: "MESSAGE",
            nonce: 3,
            last: 3
        })
    );
}

#[test]
fn reordered_messages_kill_the_connection() {
    let (mut c, mut s) = connected(SocketType::Push, SocketType::Pull);
    let mut frames = Vec::new();
    for text in ["first", "second"] {
        c.send(&Message::from(text)).unwrap();
        let mut f = Vec::new();
        while let Some(chunk) = c.poll_transmit() {
            f.extend_from_slice(&chunk);
        }
        frames.push(f);
    }
    let now = Instant::now();
    // The second message arrives first: its nonce skips one, so it is refused at once and
    // nothing is delivered.
    s.handle_input(now, &frames[1]).unwrap();
    assert_eq!(
        s.poll_event(),
        Err(Error::CurveNonceGap {
            command: "MESSAGE",
            nonce: 4,
            expected: 3
        })
    );
    assert!(s.handle_input(now, &frames[0]).is_err());
}

#[test]
fn plaintext_frames_after_the_handshake_are_refused() {
    let (_c, mut s) = connected(SocketType::Push, SocketType::Pull);
    let now = Instant::now();
    let mut plain = BytesMut::new();
    frame::encode(&mut plain, Framing::V3, false, false, b"not encrypted");
    s.handle_input(now, &plain).unwrap();
    assert!(matches!(
        s.poll_event(),
        Err(Error::MalformedMechanismCommand {
            command: "MESSAGE",
            ..
        })
    ));
    let (_c, mut s) = connected(SocketType::Push, SocketType::Pull);
    let mut ping = BytesMut::new();
    frame::encode(&mut ping, Framing::V3, false, true, b"\x04PING\x00\x00");
    s.handle_input(now, &ping).unwrap();
    assert_eq!(
        s.poll_event(),
        Err(Error::UnexpectedCommand(Bytes::from_static(b"PING")))
    );
}

// ---- a hand-written client, to forge what an honest client never sends -------------

trait NaclBox: AeadInPlace + AeadCore<NonceSize = U24, TagSize = U16> {}
impl<T: AeadInPlace + AeadCore<NonceSize = U24, TagSize = U16>> NaclBox for T {}

fn nonce(prefix: &[u8], rest: &[u8]) -> crypto_box::Nonce {
    let mut n = crypto_box::Nonce::default();
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(rest);
    n
}

fn seal(cipher: &impl NaclBox, n: &crypto_box::Nonce, plain: &[u8]) -> Vec<u8> {
    let mut ct = plain.to_vec();
    let tag = cipher.encrypt_in_place_detached(n, b"", &mut ct).unwrap();
    let mut out = tag.to_vec();
    out.extend_from_slice(&ct);
    out
}

fn open(cipher: &impl NaclBox, n: &crypto_box::Nonce, sealed: &[u8]) -> Vec<u8> {
    let mut pt = sealed[16..].to_vec();
    let tag = crypto_box::Tag::clone_from_slice(&sealed[..16]);
    cipher
        .decrypt_in_place_detached(n, b"", &mut pt, &tag)
        .unwrap();
    pt
}

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame::encode(&mut out, Framing::V3, false, true, body);
    out.to_vec()
}

/// What the forged INITIATE gets wrong.
#[derive(Clone, Copy, Debug)]
enum Forgery {
    None,
    /// The vouch is sealed with another long-term key than the C it claims.
    VouchFromAnotherKey,
    /// The vouch names another server key than S.
    VouchForAnotherServer,
    /// The vouch names another transient key than C′.
    VouchForAnotherTransient,
    /// INITIATE reuses HELLO's short nonce.
    InitiateNonceReplay,
}

/// Runs a handshake by hand against our server and returns the server's verdict.
fn forged_handshake(forgery: Forgery) -> (Connection, Result<(), Error>) {
    let now = Instant::now();
    let mut server = Connection::new(curve_server(SocketType::Rep), now).unwrap();
    let server_key = PublicKey::from(server_keys().public);
    let client = client_keys();
    let client_secret = SecretKey::from_bytes(*client.secret.as_bytes());

    let mut input = greeting::signature(0).to_vec();
    input.push(3);
    let mut rest = BytesMut::new();
    greeting::encode_rest(&mut rest, 1, "CURVE", false);
    input.extend_from_slice(&rest);

    let transient = SecretKey::generate(&mut OsRng);
    let hello_box = SalsaBox::new(&server_key, &transient);
    let mut hello = b"\x05HELLO\x01\x00".to_vec();
    hello.extend_from_slice(&[0; 72]);
    hello.extend_from_slice(transient.public_key().as_bytes());
    hello.extend_from_slice(&1u64.to_be_bytes());
    hello.extend_from_slice(&seal(
        &hello_box,
        &nonce(b"CurveZMQHELLO---", &1u64.to_be_bytes()),
        &[0; 64],
    ));
    assert_eq!(hello.len(), 200);
    input.extend_from_slice(&command_frame(&hello));
    server.handle_input(now, &input).unwrap();

    let mut out = BytesMut::new();
    while let Some(chunk) = server.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    let _ = out.split_to(64);
    let welcome = frame::decode(&mut out, Framing::V3, None).unwrap().unwrap();
    assert_eq!(welcome.body.len(), 168);
    let plain = open(
        &hello_box,
        &nonce(b"WELCOME-", &welcome.body[8..24]),
        &welcome.body[24..],
    );
    let server_transient = PublicKey::from_slice(&plain[..32]).unwrap();
    let cookie = &plain[32..128];

    let vouch_signer = match forgery {
        Forgery::VouchFromAnotherKey => SecretKey::generate(&mut OsRng),
        _ => client_secret,
    };
    let mut vouched = match forgery {
        Forgery::VouchForAnotherTransient => CurveKeyPair::generate().public.to_vec(),
        _ => transient.public_key().as_bytes().to_vec(),
    };
    vouched.extend_from_slice(&match forgery {
        Forgery::VouchForAnotherServer => CurveKeyPair::generate().public,
        _ => server_keys().public,
    });
    let vouch_nonce = [7u8; 16];
    let mut inner = client.public.to_vec();
    inner.extend_from_slice(&vouch_nonce);
    inner.extend_from_slice(&seal(
        &SalsaBox::new(&server_transient, &vouch_signer),
        &nonce(b"VOUCH---", &vouch_nonce),
        &vouched,
    ));
    inner.extend_from_slice(b"\x0bSocket-Type\x00\x00\x00\x03REQ");
    let short: u64 = match forgery {
        Forgery::InitiateNonceReplay => 1,
        _ => 2,
    };
    let mut initiate = b"\x08INITIATE".to_vec();
    initiate.extend_from_slice(cookie);
    initiate.extend_from_slice(&short.to_be_bytes());
    initiate.extend_from_slice(&seal(
        &SalsaBox::new(&server_transient, &transient),
        &nonce(b"CurveZMQINITIATE", &short.to_be_bytes()),
        &inner,
    ));
    let verdict = server.handle_input(now, &command_frame(&initiate));
    (server, verdict)
}

#[test]
fn hand_written_client_is_accepted() {
    let (mut server, verdict) = forged_handshake(Forgery::None);
    assert_eq!(verdict, Ok(()));
    let Ok(Some(Event::AuthRequest(req))) = server.poll_event() else {
        panic!("expected an auth request")
    };
    assert_eq!(req.credentials[0][..], client_keys().public);
}

#[test]
fn bad_vouches_are_refused() {
    for forgery in [
        Forgery::VouchFromAnotherKey,
        Forgery::VouchForAnotherServer,
        Forgery::VouchForAnotherTransient,
    ] {
        let (mut server, verdict) = forged_handshake(forgery);
        assert_eq!(verdict, Err(Error::CurveBadVouch), "{forgery:?}");
        assert_eq!(server.poll_event(), Err(Error::CurveBadVouch));
    }
}

#[test]
fn initiate_must_use_a_newer_nonce_than_hello() {
    let (_, verdict) = forged_handshake(Forgery::InitiateNonceReplay);
    assert_eq!(
        verdict,
        Err(Error::CurveNonceReplay {
            command: "INITIATE",
            nonce: 1,
            last: 1
        })
    );
}

/// An attacker on the path drops one MESSAGE frame: the receiver must not splice the parts
/// of two messages into one it was never sent. Nonces must follow each other exactly.
#[test]
fn dropped_message_frame_is_detected_not_spliced() {
    use zmtp_codec::frame::{self, Framing};
    let c = CurveKeyPair::from_secret_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap();
    let s = CurveKeyPair::from_secret_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
    let now = Instant::now();
    let mut client = Connection::new(
        Config::new(SocketType::Dealer).mechanism(MechanismConfig::curve_client(&c, s.public)),
        now,
    )
    .unwrap();
    let mut server = Connection::new(
        Config::new(SocketType::Router).mechanism(MechanismConfig::curve_server(&s)),
        now,
    )
    .unwrap();
    for _ in 0..8 {
        while let Some(b) = client.poll_transmit() {
            server.handle_input(now, &b).unwrap();
        }
        while let Ok(Some(ev)) = server.poll_event() {
            if let Event::AuthRequest(_) = ev {
                server
                    .handle_auth_reply(now, AuthReply::accept(""))
                    .unwrap();
            }
        }
        while let Some(b) = server.poll_transmit() {
            client.handle_input(now, &b).unwrap();
        }
        while let Ok(Some(_)) = client.poll_event() {}
    }
    assert!(client.is_active() && server.is_active());
    let mut first = Message::from("a");
    first.push_back("b");
    client.send(&first).unwrap();
    client.send(&"c".into()).unwrap();
    let mut wire = bytes::BytesMut::new();
    while let Some(b) = client.poll_transmit() {
        wire.extend_from_slice(&b);
    }
    // Three MESSAGE frames: "a" (MORE), "b", "c". The second is dropped in transit.
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let h = frame::peek_header(&wire, Framing::V3, None)
            .unwrap()
            .unwrap();
        frames.push(wire.split_to(h.frame_len().unwrap()));
    }
    assert_eq!(frames.len(), 3);
    server.handle_input(now, &frames[0]).unwrap();
    server.handle_input(now, &frames[2]).unwrap();
    assert!(matches!(
        server.poll_event(),
        Err(Error::CurveNonceGap {
            command: "MESSAGE",
            ..
        })
    ));
    // Sticky, and nothing was delivered.
    assert!(server.poll_event().is_err());
}
