//! `handshake_plain_server` and `handshake_plain_client`: a PLAIN connection fed a valid
//! peer greeting followed by the fuzz bytes, so that the fuzzer starts right at the
//! mechanism's commands (HELLO / WELCOME / INITIATE / READY / ERROR) and the messages after.
//!
//! Input: `socket-type(u8) reply(u8) chunk(u8) flags(u8) stream…`:
//! - `reply % 4`: the server's authenticator answers 200, 300, 400 or 500;
//! - `chunk`: 0 feeds everything at once, else chunks of that many bytes;
//! - `flags` bit 0: we announce ZMTP 3.0; bit 1: the peer's greeting says 3.0; bit 2: feed
//!   through `read_buf`/`handle_read`.
//!
//! Besides [`Checked`]'s invariants: the server completes its handshake only after an
//! accepting reply (checked there), and a refusal fails the server.

use std::time::Instant;

use bytes::BytesMut;
use zmtp_codec::greeting;
use zmtp_codec::{AuthReply, Config, Event, MechanismConfig};

use crate::checked::Checked;
use crate::connection_null::socket_type;
use crate::input::Input;

/// Flag: we announce ZMTP 3.0.
pub const FLAG_MINOR0: u8 = 0x01;
/// Flag: the peer's greeting announces ZMTP 3.0.
pub const FLAG_PEER_MINOR0: u8 = 0x02;
/// Flag: feed through `read_buf`/`handle_read`.
pub const FLAG_READ_BUF: u8 = 0x04;

/// A whole 64-byte ZMTP 3.x greeting.
pub fn greeting_bytes(minor: u8, mechanism: &str, as_server: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&greeting::signature(0));
    out.extend_from_slice(&[3]);
    greeting::encode_rest(&mut out, minor, mechanism, as_server);
    out.to_vec()
}

/// The authenticator reply for a selector.
pub fn reply(b: u8) -> AuthReply {
    match b % 4 {
        0 => AuthReply::accept("admin"),
        1 => AuthReply::deny(300, "later"),
        2 => AuthReply::deny(400, "denied"),
        _ => AuthReply::deny(500, "broken"),
    }
}

/// Runs the server target on one input.
pub fn run_server(data: &[u8]) {
    run(data, MechanismConfig::PlainServer);
}

/// Runs the client target on one input.
pub fn run_client(data: &[u8]) {
    run(
        data,
        MechanismConfig::PlainClient {
            username: "admin".into(),
            password: "secret".into(),
        },
    );
}

fn run(data: &[u8], mechanism: MechanismConfig) {
    let mut input = Input::new(data);
    let now = Instant::now();
    let server = mechanism.as_server();
    let socket_type = socket_type(input.u8());
    let reply_selector = input.u8();
    let chunk = usize::from(input.u8());
    let flags = input.u8();
    let mut config = Config::new(socket_type).mechanism(mechanism);
    config.zmtp_minor = u8::from(flags & FLAG_MINOR0 == 0);
    let mut conn = Checked::new(config, now);

    let peer_minor = u8::from(flags & FLAG_PEER_MINOR0 == 0);
    let mut stream = greeting_bytes(peer_minor, "PLAIN", !server);
    stream.extend_from_slice(input.rest());
    let chunk = if chunk == 0 {
        stream.len().max(1)
    } else {
        chunk
    };

    let mut replied = false;
    let mut sent = false;
    for part in stream.chunks(chunk) {
        let _ = if flags & FLAG_READ_BUF == 0 {
            conn.handle_input(now, part)
        } else {
            conn.handle_read(now, part)
        };
        let mut asked = false;
        conn.drain_events(64, |ev| asked |= matches!(ev, Event::AuthRequest(_)));
        if asked {
            assert!(server, "a PLAIN client asked the authenticator");
            let reply = reply(reply_selector);
            let accept = reply.status_code == 200;
            let r = conn.handle_auth_reply(now, reply);
            assert!(!replied);
            replied = true;
            if !accept {
                assert!(r.is_err(), "a refused client did not fail the server");
            }
            conn.drain_events(64, |_| {});
        }
        if conn.handshake_done() && !sent && !conn.failed() {
            sent = true;
            let _ = conn.send(&"reply".into());
        }
        while conn.poll_transmit().is_some() {}
    }
    conn.drain_events(1 << 16, |_| {});
}
