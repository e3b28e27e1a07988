//! Golden-byte captures of libzmq 4.3.4 on the wire.
//!
//! Each test binds a real libzmq socket on `tcp://127.0.0.1:0`, connects a raw TCP [`BytePeer`]
//! to it and asserts the exact bytes libzmq sends. `docs/LIBZMQ-WIRE.md` lists every fact with
//! the test that proves it.
//!
//! No sleeps are used to synchronise. Where a test must prove that libzmq sends *nothing*, it
//! reads with a short bounded timeout (`zmq_tests::QUIET`, 300 ms) and asserts that nothing arrived: that read is
//! the assertion, not a wait.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use zmq::SocketType;
use zmq_tests::wire::{self, command, greeting, message, ping, ready, signature};
use zmq_tests::{bind_loopback, hex, libzmq_socket, run_blocking, BytePeer, IO_TIMEOUT};

/// The greeting libzmq sends for NULL, whatever the socket type: padding 1, version 3.1,
/// `NULL`, as-server 0, zero filler.
const NULL_GREETING: [u8; 64] = {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[8] = 0x01;
    g[9] = 0x7f;
    g[10] = 0x03;
    g[11] = 0x01;
    g[12] = b'N';
    g[13] = b'U';
    g[14] = b'L';
    g[15] = b'L';
    g
};

fn bound(ctx: &zmq::Context, kind: SocketType) -> (zmq::Socket, BytePeer) {
    let socket = libzmq_socket(ctx, kind);
    let addr = bind_loopback(&socket);
    (socket, BytePeer::connect(addr))
}

fn bound_with(
    ctx: &zmq::Context,
    kind: SocketType,
    configure: impl FnOnce(&zmq::Socket),
) -> (zmq::Socket, BytePeer) {
    let socket = libzmq_socket(ctx, kind);
    configure(&socket);
    let addr = bind_loopback(&socket);
    (socket, BytePeer::connect(addr))
}

// ---------------------------------------------------------------------------------------------
// (a) greeting order and padding
// ---------------------------------------------------------------------------------------------

/// libzmq sends the 10-byte signature and stops; byte 10 (major version) only after our
/// signature; bytes 11..64 only after our byte 10; READY only after our whole greeting.
#[test]
fn greeting_is_sent_in_three_steps() {
    let ctx = zmq::Context::new();
    let (_dealer, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_identity(b"abc").expect("set routing id");
    });

    // Padding = routing id length (3) + 1, big-endian.
    peer.expect(&signature(4), "signature");
    // Assertion by bounded read: nothing more comes before our signature.
    peer.expect_silence("before our signature");

    let ours = greeting(b"NULL", 3, 1, false);
    peer.send(&ours[..10]);
    peer.expect(&[0x03], "major version after our signature");
    peer.expect_silence("before our byte 10");

    peer.send(&ours[10..11]);
    peer.expect(&NULL_GREETING[11..], "rest of greeting after our byte 10");
    peer.expect_silence("before the rest of our greeting");

    peer.send(&ours[11..]);
    let ready = peer.read_frame();
    assert_eq!(
        hex(&ready.raw),
        hex(&wire::ready(b"DEALER", &[(b"Identity", b"abc")])),
        "DEALER READY with a routing id"
    );
    // The literal bytes, so the builder itself is checked too.
    assert_eq!(
        hex(&ready.raw[..14]),
        "04 2c 05 52 45 41 44 59 0b 53 6f 63 6b 65"
    );
}

/// Padding bytes 1..9 are the big-endian u64 (routing id length + 1): 1 with no routing id,
/// 0x100 with a 255-byte one.
#[test]
fn signature_padding_is_routing_id_length_plus_one() {
    let ctx = zmq::Context::new();
    let (_a, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.expect(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7f], "no routing id");

    let long = [b'x'; 255];
    let (_b, mut peer) = bound_with(&ctx, SocketType::ROUTER, |s| {
        s.set_identity(&long).expect("set routing id");
    });
    peer.expect(
        &[0xff, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x7f],
        "255-byte routing id",
    );
}

// ---------------------------------------------------------------------------------------------
// (b) + (c) full greeting and READY per socket type
// ---------------------------------------------------------------------------------------------

/// (libzmq type, our name for it, a compatible peer type for our READY, properties libzmq sends
/// after Socket-Type)
const SOCKET_TYPES: &[(SocketType, &[u8], &[u8], bool)] = &[
    (SocketType::PAIR, b"PAIR", b"PAIR", false),
    (SocketType::PUB, b"PUB", b"SUB", false),
    (SocketType::SUB, b"SUB", b"PUB", false),
    (SocketType::REQ, b"REQ", b"REP", true),
    (SocketType::REP, b"REP", b"REQ", false),
    (SocketType::DEALER, b"DEALER", b"DEALER", true),
    (SocketType::ROUTER, b"ROUTER", b"DEALER", true),
    (SocketType::PULL, b"PULL", b"PUSH", false),
    (SocketType::PUSH, b"PUSH", b"PULL", false),
    (SocketType::XPUB, b"XPUB", b"SUB", false),
    (SocketType::XSUB, b"XSUB", b"PUB", false),
];

/// The 64-byte NULL greeting is identical for every socket type (as-server 0, minor 1), and
/// READY carries `Socket-Type` then — for REQ, DEALER and ROUTER only — an empty `Identity`.
#[test]
fn null_greeting_and_ready_for_every_socket_type() {
    let ctx = zmq::Context::new();
    for &(kind, name, peer_type, sends_identity) in SOCKET_TYPES {
        let (_socket, mut peer) = bound(&ctx, kind);
        let (their_greeting, their_ready) = peer.null_handshake(1, peer_type);
        let label = String::from_utf8_lossy(name);
        assert_eq!(
            hex(&their_greeting),
            hex(&NULL_GREETING),
            "{label}: greeting"
        );
        let extra: &[(&[u8], &[u8])] = if sends_identity {
            &[(b"Identity", b"")]
        } else {
            &[]
        };
        assert_eq!(
            hex(&their_ready.raw),
            hex(&ready(name, extra)),
            "{label}: READY"
        );
    }
}

/// The two READY strings quoted in ZMTP-NOTES.md, byte for byte.
#[test]
fn ready_literals_from_the_notes() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    let (_, dealer) = peer.null_handshake(1, b"DEALER");
    let mut expected = vec![0x04, 0x29, 0x05];
    expected.extend_from_slice(b"READY\x0bSocket-Type\x00\x00\x00\x06DEALER");
    expected.extend_from_slice(b"\x08Identity\x00\x00\x00\x00");
    assert_eq!(hex(&dealer.raw), hex(&expected));

    let (_s, mut peer) = bound(&ctx, SocketType::SUB);
    let (_, sub) = peer.null_handshake(1, b"PUB");
    let mut expected = vec![0x04, 0x19, 0x05];
    expected.extend_from_slice(b"READY\x0bSocket-Type\x00\x00\x00\x03SUB");
    assert_eq!(hex(&sub.raw), hex(&expected));
}

/// libzmq answers a ZMTP 3.0 peer with the same greeting (minor 1), and uses 3.0 rules after.
#[test]
fn greeting_to_a_zmtp30_peer_still_says_minor_1() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    let (their_greeting, _) = peer.null_handshake(0, b"DEALER");
    assert_eq!(their_greeting[11], 0x01);
}

// ---------------------------------------------------------------------------------------------
// (d) subscriptions from a libzmq SUB
// ---------------------------------------------------------------------------------------------

/// Connects a raw PUB (ZMTP 3.`minor`) to a libzmq SUB that subscribed to "A" before the
/// connection, and waits until the SUB has attached the pipe (it receives "Ahi" from us).
fn sub_with_raw_pub(ctx: &zmq::Context, minor: u8) -> (zmq::Socket, BytePeer) {
    let (sub, mut peer) = bound_with(ctx, SocketType::SUB, |s| {
        s.set_subscribe(b"A").expect("subscribe");
    });
    peer.null_handshake(minor, b"PUB");
    // A bound libzmq socket attaches an accepted pipe only when the application thread calls
    // into it; recv does, and getting the message proves the pipe is attached.
    peer.send(&message(b"Ahi"));
    assert_eq!(sub.recv_bytes(0).expect("SUB receives Ahi"), b"Ahi");
    (sub, peer)
}

#[test]
fn sub_to_zmtp31_peer_sends_subscribe_and_cancel_commands() {
    let ctx = zmq::Context::new();
    let (sub, mut peer) = sub_with_raw_pub(&ctx, 1);
    // Subscriptions made before the connection are sent when the pipe attaches.
    peer.expect(&command(b"SUBSCRIBE", b"A"), "SUBSCRIBE A");
    assert_eq!(
        hex(&command(b"SUBSCRIBE", b"A")),
        "04 0b 09 53 55 42 53 43 52 49 42 45 41"
    );
    sub.set_subscribe(b"B").expect("subscribe B");
    peer.expect(&command(b"SUBSCRIBE", b"B"), "SUBSCRIBE B");
    // A SUB forwards a repeated subscription again (counting is the PUB's job).
    sub.set_subscribe(b"B").expect("subscribe B again");
    peer.expect(&command(b"SUBSCRIBE", b"B"), "SUBSCRIBE B again");
    sub.set_unsubscribe(b"A").expect("unsubscribe A");
    peer.expect(&command(b"CANCEL", b"A"), "CANCEL A");
    assert_eq!(
        hex(&command(b"CANCEL", b"A")),
        "04 08 06 43 41 4e 43 45 4c 41"
    );
    sub.set_subscribe(b"").expect("subscribe all");
    peer.expect(&command(b"SUBSCRIBE", b""), "SUBSCRIBE (empty)");
    peer.expect_silence("after the subscriptions");
}

#[test]
fn sub_to_zmtp30_peer_sends_subscription_messages() {
    let ctx = zmq::Context::new();
    let (sub, mut peer) = sub_with_raw_pub(&ctx, 0);
    peer.expect(&[0x00, 0x02, 0x01, b'A'], "subscribe A as a message");
    sub.set_subscribe(b"B").expect("subscribe B");
    peer.expect(&[0x00, 0x02, 0x01, b'B'], "subscribe B");
    sub.set_unsubscribe(b"A").expect("unsubscribe A");
    peer.expect(&[0x00, 0x02, 0x00, b'A'], "cancel A as a message");
    sub.set_subscribe(b"").expect("subscribe all");
    peer.expect(&[0x00, 0x01, 0x01], "subscribe (empty)");
    peer.expect_silence("after the subscriptions");
}

// ---------------------------------------------------------------------------------------------
// (e) heartbeats
// ---------------------------------------------------------------------------------------------

/// With HEARTBEAT_IVL=500 and TTL=2000 libzmq sends `PING` with TTL 20 ds and no context, and
/// closes the connection about one interval later if the peer sends nothing at all
/// (HEARTBEAT_TIMEOUT defaults to HEARTBEAT_IVL).
#[test]
fn heartbeat_ping_bytes_and_timeout_without_traffic() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_heartbeat_ivl(500).expect("HEARTBEAT_IVL");
        s.set_heartbeat_ttl(2000).expect("HEARTBEAT_TTL");
    });
    // libzmq arms its heartbeat timer when its handshake completes, i.e. after it got our
    // READY, which is after this instant: so these lower bounds hold however slow we are.
    let start = Instant::now();
    peer.null_handshake(1, b"DEALER");
    let ping = peer.read_frame();
    let ping_at = start.elapsed();
    assert_eq!(hex(&ping.raw), "04 07 04 50 49 4e 47 00 14");
    assert!(
        ping_at >= Duration::from_millis(450),
        "PING after {ping_at:?}"
    );
    peer.expect_closed("silent peer after PING");
    let closed_at = start.elapsed();
    assert!(
        closed_at >= Duration::from_millis(900),
        "closed {closed_at:?} after the handshake: expected one interval after the PING"
    );
}

/// Any traffic answers a PING: a PONG, or a plain message. libzmq keeps the connection and
/// sends PING again every interval (TTL field 0 when HEARTBEAT_TTL is not set).
#[test]
fn heartbeat_any_traffic_keeps_connection() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_heartbeat_ivl(400).expect("HEARTBEAT_IVL");
    });
    peer.null_handshake(1, b"DEALER");
    for round in 0..4 {
        let ping = peer.read_frame();
        assert_eq!(
            hex(&ping.raw),
            "04 07 04 50 49 4e 47 00 00",
            "round {round}"
        );
        if round % 2 == 0 {
            peer.send(&command(b"PONG", b""));
        } else {
            peer.send(&message(b"alive"));
        }
    }
    assert_eq!(dealer.recv_bytes(0).expect("first message"), b"alive");
}

/// libzmq answers our PING (heartbeats not configured on its side) with `PONG` + our context,
/// truncated to 16 bytes.
#[test]
fn pong_echoes_ping_context_truncated_to_16() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.null_handshake(1, b"DEALER");

    peer.send(&ping(0, b""));
    peer.expect(
        &[0x04, 0x05, 0x04, b'P', b'O', b'N', b'G'],
        "PONG, no context",
    );

    peer.send(&ping(0, b"HELLO"));
    peer.expect(&command(b"PONG", b"HELLO"), "PONG HELLO");
    assert_eq!(
        hex(&command(b"PONG", b"HELLO")),
        "04 0a 04 50 4f 4e 47 48 45 4c 4c 4f"
    );

    peer.send(&ping(0, b"0123456789abcdefghij"));
    peer.expect(&command(b"PONG", b"0123456789abcdef"), "PONG truncated");
}

/// A non-zero TTL in our PING arms libzmq's TTL timer: silence for longer than the TTL makes it
/// close the connection (here 5 ds = 500 ms).
#[test]
fn ping_ttl_is_enforced_by_libzmq() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.null_handshake(1, b"DEALER");
    let start = Instant::now();
    peer.send(&ping(5, b""));
    peer.expect(&command(b"PONG", b""), "PONG");
    peer.expect_closed("silent after PING with TTL 500 ms");
    let closed_at = start.elapsed();
    assert!(
        closed_at >= Duration::from_millis(450),
        "closed after {closed_at:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// (f) downgrade to ZMTP 2.0 and 1.0
// ---------------------------------------------------------------------------------------------

/// Against a ZMTP 2.0 peer (revision 0x01): libzmq sends major 0x03 then its socket type byte,
/// then an empty identity frame `00 00`, then messages in 2.0 framing.
#[test]
fn downgrade_to_zmtp20_peer() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.expect(&signature(1), "signature");
    peer.send(&signature(1));
    peer.expect(&[0x03], "revision byte is libzmq's own major, 3");
    peer.send(&[0x01]); // ZMTP 2.0 revision
    peer.expect(&[0x05], "socket type DEALER = 5");
    // libzmq's identity frame comes only after our socket type byte.
    peer.expect_silence("before our socket type");
    peer.send(&[0x05]);
    peer.expect(&[0x00, 0x00], "empty identity frame");
    peer.send(&[0x00, 0x00]); // our identity

    let dealer = run_blocking(IO_TIMEOUT, move || {
        dealer.send("hi", 0).expect("send hi");
        dealer
    });
    peer.expect(&[0x00, 0x02, b'h', b'i'], "hi in ZMTP 2.0 framing");

    peer.send(&[0x00, 0x02, b'y', b'o']);
    assert_eq!(dealer.recv_bytes(0).expect("recv yo"), b"yo");
}

/// The socket type byte libzmq sends to a ZMTP 2.0 peer is its `ZMQ_*` constant, which is the
/// RFC 15 numbering.
#[test]
fn zmtp20_socket_type_numbering() {
    let ctx = zmq::Context::new();
    let expected: &[(SocketType, u8)] = &[
        (SocketType::PAIR, 0),
        (SocketType::PUB, 1),
        (SocketType::SUB, 2),
        (SocketType::REQ, 3),
        (SocketType::REP, 4),
        (SocketType::DEALER, 5),
        (SocketType::ROUTER, 6),
        (SocketType::PULL, 7),
        (SocketType::PUSH, 8),
        (SocketType::XPUB, 9),
        (SocketType::XSUB, 10),
    ];
    for &(kind, number) in expected {
        let (_s, mut peer) = bound(&ctx, kind);
        peer.expect(&signature(1), "signature");
        peer.send(&signature(1));
        peer.expect(&[0x03], "major");
        peer.send(&[0x01]);
        peer.expect(&[number], &format!("{kind:?} type byte"));
    }
}

/// Against a ZMTP 1.0 peer (first byte not 0xFF): libzmq's 10-byte signature doubles as the
/// header of its identity frame (`FF` + u64 length + flags `7F`); the identity body follows,
/// then messages in v1 framing: length (= size + 1), flags, body.
#[test]
fn downgrade_to_zmtp10_peer() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.expect(&signature(1), "signature = v1 header of an empty identity");
    peer.send(&[0x01, 0x00]); // v1 identity frame: length 1 (flags only), flags 0
                              // Nothing more: the empty identity body is already complete.
    peer.expect_silence("after our v1 identity");
    dealer.send("hi", 0).expect("send hi");
    peer.expect(&[0x03, 0x00, b'h', b'i'], "hi in v1 framing");
    peer.send(&[0x03, 0x00, b'y', b'o']);
    assert_eq!(dealer.recv_bytes(0).expect("recv yo"), b"yo");
}

/// With a routing id set, the identity body follows the signature for a v1 peer.
#[test]
fn downgrade_to_zmtp10_peer_sends_identity_body_after_signature() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_identity(b"abc").expect("set routing id");
    });
    peer.expect(&signature(4), "signature with length 4 = 3 + flags");
    peer.send(&[0x01, 0x00]);
    peer.expect(b"abc", "identity body");
}

// ---------------------------------------------------------------------------------------------
// (g) PLAIN
// ---------------------------------------------------------------------------------------------

/// A libzmq PLAIN client: greeting `PLAIN` with as-server 0, `HELLO` with username and
/// password, then after our `WELCOME` an `INITIATE` carrying the READY metadata.
#[test]
fn plain_client_hello_and_initiate() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_plain_username(Some("admin")).expect("username");
        s.set_plain_password(Some("secret")).expect("password");
    });
    let ours = greeting(b"PLAIN", 3, 1, true);
    let mut theirs = peer.read_exact(10);
    peer.send(&ours[..10]);
    theirs.extend(peer.read_exact(1));
    peer.send(&ours[10..11]);
    theirs.extend(peer.read_exact(53));
    assert_eq!(hex(&theirs), hex(&greeting(b"PLAIN", 3, 1, false)));
    peer.send(&ours[11..]);

    let mut hello = vec![0x04, 0x13, 0x05];
    hello.extend_from_slice(b"HELLO\x05admin\x06secret");
    peer.expect(&hello, "HELLO");

    peer.send(&command(b"WELCOME", b""));
    let initiate = peer.read_frame();
    let props: &[(&[u8], &[u8])] = &[(b"Socket-Type", b"DEALER"), (b"Identity", b"")];
    assert_eq!(
        hex(&initiate.raw),
        hex(&command(b"INITIATE", &wire::properties(props))),
        "INITIATE"
    );
    peer.send(&ready(b"DEALER", &[]));
    dealer.send("hi", 0).expect("send");
    peer.expect(&message(b"hi"), "message after PLAIN handshake");
}

/// A libzmq PLAIN server also sends as-server 0, and with no ZAP handler it closes the
/// connection on HELLO without sending ERROR.
#[test]
fn plain_server_without_zap_handler_closes_on_hello() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound_with(&ctx, SocketType::DEALER, |s| {
        s.set_plain_server(true).expect("PLAIN_SERVER");
    });
    let ours = greeting(b"PLAIN", 3, 1, false);
    let mut theirs = peer.read_exact(10);
    peer.send(&ours[..10]);
    theirs.extend(peer.read_exact(1));
    peer.send(&ours[10..11]);
    theirs.extend(peer.read_exact(53));
    assert_eq!(theirs[32], 0, "as-server byte of a PLAIN server");
    assert_eq!(hex(&theirs), hex(&greeting(b"PLAIN", 3, 1, false)));
    peer.send(&ours[11..]);
    peer.expect_silence("server waits for HELLO");
    peer.send(&command(b"HELLO", b"\x05admin\x06secret"));
    peer.expect_closed("HELLO with no ZAP handler");
}

// ---------------------------------------------------------------------------------------------
// (h) mismatches
// ---------------------------------------------------------------------------------------------

/// PUSH to PUSH: libzmq sends its own READY, then on our READY simply closes (no ERROR).
#[test]
fn mismatched_socket_type_closes_without_error() {
    let ctx = zmq::Context::new();
    let (_p, mut peer) = bound(&ctx, SocketType::PUSH);
    let (_, their_ready) = peer.null_handshake(1, b"PUSH");
    assert_eq!(hex(&their_ready.raw), hex(&ready(b"PUSH", &[])));
    peer.expect_closed("after READY with an incompatible Socket-Type");
}

/// The `Socket-Type` *value* is compared case-sensitively: `dealer` is refused.
#[test]
fn socket_type_value_is_case_sensitive() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.null_handshake(1, b"dealer");
    peer.expect_closed("lower-case socket type");
}

/// Property *names* are matched case-sensitively: `socket-type: PUSH` is not seen as a socket
/// type, so a DEALER accepts the peer (no type check happens at all).
#[test]
fn socket_type_property_name_is_case_sensitive() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound(&ctx, SocketType::DEALER);
    let props = wire::properties(&[(b"socket-type", b"PUSH")]);
    peer.null_handshake_with(1, &command(b"READY", &props));
    peer.send(&message(b"ok"));
    assert_eq!(dealer.recv_bytes(0).expect("accepted"), b"ok");
}

/// A READY without any `Socket-Type` property is accepted (no check is made).
#[test]
fn ready_without_socket_type_is_accepted() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.null_handshake_with(1, &command(b"READY", b""));
    peer.send(&message(b"ok"));
    assert_eq!(dealer.recv_bytes(0).expect("accepted"), b"ok");
}

/// A ROUTER takes the peer's `Identity` property as its routing id, but only under that exact
/// name: `identity` is ignored and the peer gets an automatic id.
#[test]
fn identity_property_name_is_case_sensitive() {
    let ctx = zmq::Context::new();
    let router = libzmq_socket(&ctx, SocketType::ROUTER);
    let addr = bind_loopback(&router);
    for (name, expect_xyz) in [(&b"Identity"[..], true), (&b"identity"[..], false)] {
        let mut peer = BytePeer::connect(addr);
        peer.null_handshake_with(1, &ready(b"DEALER", &[(name, b"xyz")]));
        peer.send(&message(b"hi"));
        let parts = router.recv_multipart(0).expect("ROUTER receives");
        assert_eq!(
            parts[0] == b"xyz",
            expect_xyz,
            "{}: routing id {}",
            String::from_utf8_lossy(name),
            hex(&parts[0])
        );
    }
}

/// A mechanism mismatch (we say PLAIN, libzmq is NULL): libzmq has already sent its whole
/// greeting (it does not know ours yet) and then closes without ERROR.
#[test]
fn mismatched_mechanism_closes_without_error() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    let ours = greeting(b"PLAIN", 3, 1, false);
    peer.read_exact(10);
    peer.send(&ours[..10]);
    peer.read_exact(1);
    peer.send(&ours[10..11]);
    peer.expect(&NULL_GREETING[11..], "rest of greeting");
    peer.send(&ours[11..]);
    peer.expect_closed("mechanism mismatch");
}

/// libzmq's NULL mechanism is "ready" only once it has both sent and received READY. A peer
/// whose greeting, READY and first message arrive together (before libzmq has written its own
/// greeting rest and READY) is dropped: the message counts as an unexpected handshake command.
/// libzmq writes nothing after its signature and closes.
#[test]
fn message_before_libzmq_ready_is_refused() {
    let ctx = zmq::Context::new();
    let (_d, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.expect(&signature(1), "signature");
    let mut burst = greeting(b"NULL", 3, 1, false);
    burst.extend(ready(b"DEALER", &[]));
    burst.extend(message(b"hi"));
    peer.send(&burst);
    peer.expect_closed("message inside the handshake");
}

/// The same burst without the message is fine: READY may precede libzmq's READY.
#[test]
fn greeting_and_ready_in_one_burst_is_accepted() {
    let ctx = zmq::Context::new();
    let (dealer, mut peer) = bound(&ctx, SocketType::DEALER);
    peer.expect(&signature(1), "signature");
    let mut burst = greeting(b"NULL", 3, 1, false);
    burst.extend(ready(b"DEALER", &[]));
    peer.send(&burst);
    peer.expect(&NULL_GREETING[10..], "greeting");
    peer.read_frame();
    peer.send(&message(b"ok"));
    assert_eq!(dealer.recv_bytes(0).expect("recv ok"), b"ok");
}

// ---------------------------------------------------------------------------------------------
// (i) ROUTER automatic routing ids
// ---------------------------------------------------------------------------------------------

fn auto_id(router: &zmq::Socket, addr: std::net::SocketAddr) -> u32 {
    let mut peer = BytePeer::connect(addr);
    peer.null_handshake(1, b"DEALER");
    peer.send(&message(b"hi"));
    let parts = router.recv_multipart(0).expect("ROUTER receives");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1], b"hi");
    let id = &parts[0];
    assert_eq!(id.len(), 5, "auto routing id is 5 bytes: {}", hex(id));
    assert_eq!(id[0], 0x00, "auto routing id starts with 0");
    u32::from_be_bytes(id[1..].try_into().expect("4 bytes"))
}

/// Auto routing ids are `00` + big-endian u32, and count up by one per connection.
#[test]
fn router_auto_routing_ids_count_up() {
    let ctx = zmq::Context::new();
    let router = libzmq_socket(&ctx, SocketType::ROUTER);
    let addr = bind_loopback(&router);
    let first = auto_id(&router, addr);
    let second = auto_id(&router, addr);
    let third = auto_id(&router, addr);
    assert_eq!(second, first.wrapping_add(1));
    assert_eq!(third, first.wrapping_add(2));
}

const CHILD_ENV: &str = "ZMQ_TESTS_ROUTER_ID_CHILD";

/// Run in a child process by [`router_first_auto_id_is_unseeded_rand`]: prints the first auto
/// routing id of two fresh ROUTER sockets.
#[test]
#[ignore = "child process of router_first_auto_id_is_unseeded_rand"]
fn router_ids_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let ctx = zmq::Context::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let router = libzmq_socket(&ctx, SocketType::ROUTER);
        let addr = bind_loopback(&router);
        ids.push(auto_id(&router, addr));
    }
    println!("ROUTER-IDS {:08x} {:08x}", ids[0], ids[1]);
}

/// The counter starts at a `rand()` value, and libzmq never seeds `rand()`: in a fresh process
/// the first ROUTER starts at 0x6B8B4567 — glibc's first unseeded `rand()` result — and two
/// fresh processes print the same ids.
#[test]
fn router_first_auto_id_is_unseeded_rand() {
    let run_child = || {
        let exe = std::env::current_exe().expect("test binary path");
        let output = Command::new(exe)
            .args(["router_ids_child", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_ENV, "1")
            .output()
            .expect("run child test");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "child failed: {stdout}");
        stdout
            .lines()
            .find(|l| l.starts_with("ROUTER-IDS "))
            .unwrap_or_else(|| panic!("no ids in child output: {stdout}"))
            .to_owned()
    };
    let first = run_child();
    assert!(
        first.starts_with("ROUTER-IDS 6b8b4567 "),
        "first ROUTER id in a fresh process: {first}"
    );
    assert_eq!(run_child(), first, "same ids in every fresh process");
}
