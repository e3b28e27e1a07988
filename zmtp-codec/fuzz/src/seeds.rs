//! Seed inputs for every target, made by running real connections against each other in
//! memory and recording what each one sends. `tests/seeds.rs` writes them to `seeds/` (with
//! `ZMTP_FUZZ_WRITE_SEEDS=1`) and otherwise checks that the committed files are current.
//!
//! CURVE handshakes draw keys and nonces from the operating system, so the recorded CURVE
//! bytes differ from run to run (their lengths do not): the check compares only the bytes
//! that two generations agree on.

use std::time::Instant;

use bytes::BytesMut;
use zmtp_codec::frame::{self, Framing};
use zmtp_codec::{AuthReply, Config, Connection, Event, MechanismConfig, Message, SocketType};

use crate::connection_null as cn;
use crate::curve;
use crate::curve_session as cs;
use crate::handshake_curve::LIVE_SHIFT;
use crate::input::Writer;
use crate::two_peers as tp;

/// One seed: target name, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    seeds.extend(frame_decoder());
    seeds.extend(connection_null());
    seeds.extend(handshake_plain());
    seeds.extend(two_peers());
    seeds.extend(handshake_curve());
    seeds.extend(curve_session());
    seeds
}

fn type_index(t: SocketType) -> u8 {
    SocketType::all()
        .iter()
        .position(|&x| x == t)
        .expect("listed") as u8
}

fn frame_decoder() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, framing) in [
        ("v1", Framing::V1),
        ("v2", Framing::V2),
        ("v3", Framing::V3),
    ] {
        let mut stream = BytesMut::new();
        frame::encode(&mut stream, framing, true, false, b"hi");
        frame::encode(&mut stream, framing, false, false, b"");
        frame::encode(&mut stream, framing, false, false, &[7u8; 300]);
        if framing == Framing::V3 {
            frame::encode(&mut stream, framing, false, true, b"\x04PING\x00\x0a");
        }
        frame::encode(&mut stream, framing, false, false, &[1u8; 254]);
        let mut w = Writer::new();
        w.u16(1000).u8(7).bytes(&stream);
        seeds.push(("frame_decoder", format!("{name}-frames"), w.out));
    }
    seeds
}

/// Shuttles bytes between two connections until both are quiet, answering authenticators
/// with `reply`; calls `tap(from_a, bytes)` for every chunk.
fn shuttle(a: &mut Connection, b: &mut Connection, now: Instant, mut tap: impl FnMut(bool, &[u8])) {
    for _ in 0..16 {
        let mut moved = false;
        for from_a in [true, false] {
            let (src, dst) = if from_a {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(bytes) = src.poll_transmit() {
                moved = true;
                tap(from_a, &bytes);
                dst.handle_input(now, &bytes).expect("clean handshake");
            }
            while let Ok(Some(ev)) = dst.poll_event() {
                if let Event::AuthRequest(_) = ev {
                    dst.handle_auth_reply(now, AuthReply::accept("admin"))
                        .expect("accepted");
                }
            }
        }
        if !moved {
            return;
        }
    }
}

fn connection_null() -> Vec<Seed> {
    let now = Instant::now();
    let mut seeds = Vec::new();
    let cases = [
        (SocketType::Req, SocketType::Rep, 0u8),
        (SocketType::Pub, SocketType::Sub, cn::OPT_MINOR0),
        (SocketType::Sub, SocketType::XPub, cn::OPT_HEARTBEAT),
        (
            SocketType::Router,
            SocketType::Dealer,
            cn::OPT_MAX | cn::OPT_ROUTING_ID,
        ),
        (SocketType::Pull, SocketType::Push, cn::OPT_AUTH),
    ];
    for (ours, theirs, opts) in cases {
        let mut w = Writer::new();
        w.u8(type_index(ours)).u8(opts);
        let mut config = Config::new(ours);
        config.zmtp_minor = u8::from(opts & cn::OPT_MINOR0 == 0);
        if opts & cn::OPT_HEARTBEAT != 0 {
            w.u8(0x42);
            config.heartbeat_ivl = Some(std::time::Duration::from_secs(1));
        }
        if opts & cn::OPT_MAX != 0 {
            w.u16(512);
        }
        if opts & cn::OPT_ROUTING_ID != 0 {
            w.u8(3).bytes(b"abc");
            config = config.routing_id("abc");
        }
        config.authenticate_null = opts & cn::OPT_AUTH != 0;
        let mut us = Connection::new(config, now).expect("valid");
        let mut peer = Connection::new(Config::new(theirs), now).expect("valid");
        // The handshake, as the peer's bytes arriving; our replies are polled.
        let mut from_peer = Vec::new();
        shuttle(&mut peer, &mut us, now, |from_a, b| {
            if from_a {
                from_peer.push(b.to_vec());
            }
        });
        for chunk in &from_peer {
            w.u8(cn::OP_FEED).u16(chunk.len() as u16).bytes(chunk);
            w.u8(cn::OP_POLL_EVENT).u8(cn::OP_POLL_TRANSMIT);
            if opts & cn::OPT_AUTH != 0 {
                w.u8(cn::OP_AUTH_REPLY);
            }
        }
        // A message each way, a subscription, a timer.
        w.u8(cn::OP_SEND | 1 << 3).u8(5).u8(200);
        w.u8(cn::OP_SUBSCRIBE).u8(3).bytes(b"top");
        let mut msg = Message::from("hello");
        msg.push_back("world");
        peer.send(&msg).expect("active");
        peer.send_subscribe(b"t").expect("active");
        let mut bytes = Vec::new();
        while let Some(b) = peer.poll_transmit() {
            bytes.extend_from_slice(&b);
        }
        w.u8(cn::OP_FEED | 1 << 3)
            .u16(bytes.len() as u16)
            .bytes(&bytes);
        w.u8(cn::OP_POLL_EVENT)
            .u8(cn::OP_TIMEOUT)
            .u8(40)
            .u8(cn::OP_POLL_TRANSMIT);
        seeds.push((
            "connection_null",
            format!("{}-{}-{opts:02x}", ours.name(), theirs.name()),
            w.out,
        ));
    }
    // A ZMTP 2.0 peer (PUSH, type 8) and an unversioned ZMTP 1.0 peer, for the downgrade.
    let v2: &[u8] = b"\xff\0\0\0\0\0\0\0\x01\x7f\x01\x08\x00\x00\x00\x02hi\x01\x01a\x00\x01b";
    let v1: &[u8] = b"\x01\x00\x03\x00hi\x02\x01a\x02\x00b";
    for (name, stream) in [("v2-peer", v2), ("v1-peer", v1)] {
        let mut w = Writer::new();
        w.u8(type_index(SocketType::Pull)).u8(0);
        w.u8(cn::OP_FEED).u16(stream.len() as u16).bytes(stream);
        w.u8(cn::OP_POLL_EVENT).u8(cn::OP_POLL_TRANSMIT);
        w.u8(cn::OP_FEED | 1 << 3).u16(4).bytes(b"\x00\x02yo");
        w.u8(cn::OP_POLL_EVENT);
        seeds.push(("connection_null", name.to_string(), w.out));
    }
    seeds
}

fn handshake_plain() -> Vec<Seed> {
    let now = Instant::now();
    let mut seeds = Vec::new();
    let pairs = [
        (SocketType::Dealer, SocketType::Router),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Sub, SocketType::Pub),
    ];
    for (client_type, server_type) in pairs {
        let mut client = Connection::new(
            Config::new(client_type).mechanism(MechanismConfig::PlainClient {
                username: "admin".into(),
                password: "secret".into(),
            }),
            now,
        )
        .expect("valid");
        let mut server = Connection::new(
            Config::new(server_type).mechanism(MechanismConfig::PlainServer),
            now,
        )
        .expect("valid");
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        shuttle(&mut client, &mut server, now, |from_client, b| {
            if from_client {
                to_server.extend_from_slice(b);
            } else {
                to_client.extend_from_slice(b);
            }
        });
        client.send(&"ping".into()).expect("active");
        server.send(&"pong".into()).expect("active");
        shuttle(&mut client, &mut server, now, |from_client, b| {
            if from_client {
                to_server.extend_from_slice(b);
            } else {
                to_client.extend_from_slice(b);
            }
        });
        let name = format!("{}-{}", client_type.name(), server_type.name());
        // Both greetings are 64 bytes; the targets supply them.
        for (reply, chunk) in [(0u8, 0u8), (2, 0), (0, 5)] {
            let mut w = Writer::new();
            w.u8(type_index(server_type)).u8(reply).u8(chunk).u8(0);
            w.bytes(&to_server[64..]);
            seeds.push((
                "handshake_plain_server",
                format!("{name}-r{reply}-c{chunk}"),
                w.out,
            ));
        }
        for chunk in [0u8, 3] {
            let mut w = Writer::new();
            w.u8(type_index(client_type)).u8(0).u8(chunk).u8(0);
            w.bytes(&to_client[64..]);
            seeds.push(("handshake_plain_client", format!("{name}-c{chunk}"), w.out));
        }
    }
    // A server that refuses: what the client then receives is ERROR.
    let mut w = Writer::new();
    w.u8(type_index(SocketType::Dealer)).u8(0).u8(0).u8(0);
    w.bytes(b"\x04\x0a\x05ERROR\x03400");
    seeds.push(("handshake_plain_client", "error-400".to_string(), w.out));
    seeds
}

fn two_peers() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let side_b = 1 << 3;
    let script = |pair: u8, opts: u8, ops: &dyn Fn(&mut Writer)| {
        let mut w = Writer::new();
        w.u8(pair).u8(opts);
        ops(&mut w);
        w.out
    };
    // REQ/REP over NULL: handshake, then messages both ways, some delivered in pieces.
    seeds.push((
        "two_peers",
        "req-rep".to_string(),
        script(0, 0, &|w| {
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_SEND | 1 << 4).u8(3).u8(250);
            w.u8(tp::OP_DELIVER).u16(4);
            w.u8(tp::OP_DELIVER | 1 << 4).u16(100);
            w.u8(tp::OP_SEND | side_b).u8(252);
            w.u8(tp::OP_DELIVER | side_b).u16(1000);
            w.u8(tp::OP_DELIVER_ALL);
        }),
    ));
    // PLAIN, 3.0 on one side, routing ids.
    seeds.push((
        "two_peers",
        "plain-dealer-router".to_string(),
        script(
            1,
            tp::OPT_PLAIN | tp::OPT_A_MINOR0 | tp::OPT_ROUTING_IDS,
            &|w| {
                w.u8(tp::OP_DELIVER_ALL);
                w.u8(tp::OP_SEND | 3 << 4).u8(0).u8(1).u8(2).u8(255);
                w.u8(tp::OP_DELIVER_ALL);
            },
        ),
    ));
    // SUB/PUB: subscribe, cancel, messages back.
    seeds.push((
        "two_peers",
        "sub-pub".to_string(),
        script(2, 0, &|w| {
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_SUBSCRIBE).u8(2).bytes(b"ab");
            w.u8(tp::OP_SUBSCRIBE | 1 << 4).u8(0);
            w.u8(tp::OP_SEND | side_b).u8(9);
            w.u8(tp::OP_DELIVER_ALL);
        }),
    ));
    // Heartbeats and timers.
    seeds.push((
        "two_peers",
        "heartbeat".to_string(),
        script(4, tp::OPT_HEARTBEAT, &|w| {
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_CLOCK).u8(11);
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_CLOCK).u8(11);
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_CLOCK).u8(30);
        }),
    ));
    // A flipped byte after the handshake, and a refused PLAIN client.
    seeds.push((
        "two_peers",
        "flip".to_string(),
        script(5, 0, &|w| {
            w.u8(tp::OP_DELIVER_ALL);
            w.u8(tp::OP_SEND).u8(20);
            w.u8(tp::OP_FLIP).u16(0).u8(0x10);
            w.u8(tp::OP_DELIVER_ALL);
        }),
    ));
    seeds.push((
        "two_peers",
        "plain-deny".to_string(),
        script(0, tp::OPT_PLAIN | tp::OPT_DENY, &|w| {
            w.u8(tp::OP_DELIVER_ALL);
        }),
    ));
    seeds
}

/// Splits a stream after its 64-byte greeting into whole frames.
fn frames(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut split = curve::Splitter::default();
    split
        .push(stream)
        .into_iter()
        .filter(|(greeting, _)| !greeting)
        .map(|(_, f)| f)
        .collect()
}

fn handshake_curve() -> Vec<Seed> {
    let now = Instant::now();
    let mut seeds = Vec::new();
    let pairs = [
        (SocketType::Dealer, SocketType::Router),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Sub, SocketType::Pub),
    ];
    let live = |l: u8| l << LIVE_SHIFT;
    for (client_type, server_type) in pairs {
        let mut client = Connection::new(curve::client_config(client_type), now).expect("valid");
        let mut server = Connection::new(curve::server_config(server_type), now).expect("valid");
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        let mut record = |from_client: bool, b: &[u8]| {
            if from_client {
                to_server.extend_from_slice(b);
            } else {
                to_client.extend_from_slice(b);
            }
        };
        shuttle(&mut client, &mut server, now, &mut record);
        client.send(&"ping".into()).expect("active");
        server.send(&"pong".into()).expect("active");
        shuttle(&mut client, &mut server, now, &mut record);
        let name = format!("{}-{}", client_type.name(), server_type.name());
        // Client frames: HELLO, INITIATE, MESSAGE; server frames: WELCOME, READY, MESSAGE.
        let (c, s) = (frames(&to_server), frames(&to_client));
        assert_eq!((c.len(), s.len()), (3, 3), "{name}: unexpected handshake");
        let cat = |fs: &[Vec<u8>]| fs.concat();
        // No live peer: the recorded HELLO opens (it is self-contained), the recorded
        // INITIATE does not (its cookie was sealed for another server).
        for (reply, chunk) in [(0u8, 0u8), (2, 0), (0, 5)] {
            let mut w = Writer::new();
            w.u8(type_index(server_type)).u8(reply).u8(chunk).u8(0);
            w.bytes(&cat(&c));
            seeds.push((
                "handshake_curve_server",
                format!("{name}-r{reply}-c{chunk}"),
                w.out,
            ));
        }
        // A live client sent HELLO (and INITIATE): recorded later frames follow.
        for (l, reply, from) in [(1u8, 0u8, 1usize), (2, 0, 2), (2, 2, 2)] {
            let mut w = Writer::new();
            w.u8(type_index(server_type)).u8(reply).u8(0).u8(live(l));
            w.bytes(&cat(&c[from..]));
            seeds.push((
                "handshake_curve_server",
                format!("{name}-live{l}-r{reply}"),
                w.out,
            ));
        }
        for chunk in [0u8, 3] {
            let mut w = Writer::new();
            w.u8(type_index(client_type)).u8(0).u8(chunk).u8(0);
            w.bytes(&cat(&s));
            seeds.push(("handshake_curve_client", format!("{name}-c{chunk}"), w.out));
        }
        for l in [1u8, 2] {
            let mut w = Writer::new();
            w.u8(type_index(client_type)).u8(0).u8(0).u8(live(l));
            w.bytes(&cat(&s[usize::from(l)..]));
            seeds.push(("handshake_curve_client", format!("{name}-live{l}"), w.out));
        }
    }
    // A plaintext PING where a MESSAGE box belongs, and a refusing server.
    let ping: &[u8] = b"\x04\x07\x04PING\x00\x00";
    let mut w = Writer::new();
    w.u8(type_index(SocketType::Router)).u8(0).u8(0).u8(live(2));
    w.bytes(ping);
    seeds.push((
        "handshake_curve_server",
        "live2-plain-ping".to_string(),
        w.out,
    ));
    let mut w = Writer::new();
    w.u8(type_index(SocketType::Dealer)).u8(0).u8(0).u8(0);
    w.bytes(b"\x04\x0a\x05ERROR\x03400");
    seeds.push(("handshake_curve_client", "error-400".to_string(), w.out));
    let mut w = Writer::new();
    w.u8(type_index(SocketType::Dealer)).u8(2).u8(0).u8(live(2));
    seeds.push(("handshake_curve_client", "live2-denied".to_string(), w.out));
    seeds
}

fn curve_session() -> Vec<Seed> {
    let side_b = 1 << 4;
    let arg = |a: u8| a << 5;
    let script = |name: &str, pair: u8, opts: u8, ops: &dyn Fn(&mut Writer)| {
        let mut w = Writer::new();
        w.u8(pair).u8(opts);
        ops(&mut w);
        ("curve_session", name.to_string(), w.out)
    };
    vec![
        // DEALER/ROUTER: a handshake frame by frame, then messages both ways.
        script("dealer-router", 1, cs::OPT_ROUTING_IDS, &|w| {
            for _ in 0..4 {
                w.u8(cs::OP_DELIVER_FRAMES | arg(7));
                w.u8(cs::OP_DELIVER_FRAMES | side_b | arg(7));
            }
            w.u8(cs::OP_SEND | arg(2)).u8(0).u8(7).u8(250);
            w.u8(cs::OP_SEND | side_b).u8(252);
            w.u8(cs::OP_DELIVER).u16(40);
            w.u8(cs::OP_DELIVER | arg(1)).u16(1000);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        // SUB/PUB, the subscriber on 3.0 (subscriptions as messages) and on 3.1.
        script("sub-pub-3.0", 2, cs::OPT_A_MINOR0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SUBSCRIBE).u8(2).bytes(b"ab");
            w.u8(cs::OP_SUBSCRIBE | arg(1)).u8(0);
            w.u8(cs::OP_SEND | side_b).u8(9);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        script("xsub-xpub", 3, 0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SUBSCRIBE).u8(1).bytes(b"x");
            w.u8(cs::OP_SEND).u8(3);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        // Heartbeats: PING and PONG inside MESSAGE boxes, then a timeout.
        script("heartbeat", 4, cs::OPT_HEARTBEAT, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_CLOCK).u8(11);
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_CLOCK).u8(11);
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_CLOCK).u8(30);
        }),
        // Tampering after the handshake: flip, drop a middle part, duplicate, swap.
        script("flip-message", 0, 0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SEND).u8(20);
            w.u8(cs::OP_FLIP).u8(0).u16(30).u8(0x10);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        script("drop-part", 5, 0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SEND | arg(2)).u8(1).u8(2).u8(3);
            w.u8(cs::OP_SEND).u8(4);
            w.u8(cs::OP_DROP).u8(2);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        script("dup", 11, 0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SEND | side_b).u8(5);
            w.u8(cs::OP_SEND | side_b).u8(6);
            w.u8(cs::OP_DUP | side_b).u8(0);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        script("swap", 8, 0, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_SEND).u8(5);
            w.u8(cs::OP_SEND).u8(6);
            w.u8(cs::OP_SWAP).u8(0);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        // Tampering during the handshake: a flipped HELLO, a dropped WELCOME.
        // (Greetings first: signatures, then the rest; A's wire then holds the end of its
        // greeting and HELLO.)
        script("flip-hello", 1, 0, &|w| {
            w.u8(cs::OP_DELIVER_FRAMES | side_b | arg(7));
            w.u8(cs::OP_DELIVER_FRAMES | arg(7));
            w.u8(cs::OP_DELIVER_FRAMES | side_b | arg(7));
            w.u8(cs::OP_FLIP).u8(255).u16(100).u8(1);
            w.u8(cs::OP_DELIVER_ALL);
        }),
        script("drop-welcome", 1, 0, &|w| {
            w.u8(cs::OP_DELIVER_FRAMES | side_b | arg(7));
            w.u8(cs::OP_DELIVER_FRAMES | arg(7));
            w.u8(cs::OP_DELIVER_FRAMES | side_b | arg(7));
            w.u8(cs::OP_DELIVER_FRAMES | arg(7));
            w.u8(cs::OP_DROP | side_b).u8(255);
            w.u8(cs::OP_DELIVER_ALL);
            w.u8(cs::OP_CLOCK).u8(60);
        }),
        // The authenticator refuses (400: ERROR to the client).
        script("deny-400", 1, 2 << cs::OPT_REPLY_SHIFT, &|w| {
            w.u8(cs::OP_DELIVER_ALL);
        }),
    ]
}
