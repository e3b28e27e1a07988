//! `handshake_curve_server` and `handshake_curve_client`: a CURVE connection (libzmq's test
//! keys) fed a valid peer greeting followed by the fuzz bytes, as the PLAIN targets do.
//!
//! Random bytes never open a box, and a recorded handshake does not replay (every handshake
//! has fresh transient keys and a fresh cookie key), so the fuzz bytes can also start later:
//! a live peer (a real CURVE connection with the other test keys) first runs the handshake
//! for `live` of its commands, then the fuzz bytes follow:
//!
//! | `live` | server target: the client's… | client target: the server's… |
//! |---|---|---|
//! | 0 | greeting only (a fixed one, no live peer) | greeting only (fixed) |
//! | 1 | HELLO (the fuzz bytes answer our WELCOME) | WELCOME (the fuzz bytes answer our INITIATE) |
//! | 2, 3 | HELLO and INITIATE (our authenticator was asked) | WELCOME and READY or ERROR |
//!
//! Input: `socket-type(u8) reply(u8) chunk(u8) flags(u8) stream…`:
//! - `reply % 4`: the server's authenticator (ours in the server target, the live server's in
//!   the client target) answers 200, 300, 400 or 500;
//! - `chunk`: 0 feeds the stream at once, else in chunks of that many bytes;
//! - `flags` bit 0: we announce ZMTP 3.0; bit 1: the peer does; bit 2: feed through
//!   `read_buf`/`handle_read`; bits 3–4: `live`.
//!
//! Besides [`Checked`]'s invariants: the server completes its handshake only after an
//! accepting reply (checked there), a refusal fails it, and a client never asks.

use std::time::Instant;

use zmtp_codec::{Connection, Event, SocketType};

use crate::checked::Checked;
use crate::connection_null::socket_type;
use crate::curve::{client_config, compatible, server_config, Splitter};
use crate::handshake_plain::{greeting_bytes, reply, FLAG_MINOR0, FLAG_PEER_MINOR0, FLAG_READ_BUF};
use crate::input::Input;

/// Shift of the two `live` bits in `flags`.
pub const LIVE_SHIFT: u8 = 3;

/// Runs the server target on one input.
pub fn run_server(data: &[u8]) {
    run(data, true);
}

/// Runs the client target on one input.
pub fn run_client(data: &[u8]) {
    run(data, false);
}

struct Target {
    conn: Checked,
    server: bool,
    reply_selector: u8,
    replied: bool,
    sent: bool,
    read_buf: bool,
}

impl Target {
    /// Feeds peer bytes, then answers the authenticator and sends one message once active.
    fn feed(&mut self, now: Instant, part: &[u8]) {
        let _ = if self.read_buf {
            self.conn.handle_read(now, part)
        } else {
            self.conn.handle_input(now, part)
        };
        let mut asked = false;
        self.conn
            .drain_events(64, |ev| asked |= matches!(ev, Event::AuthRequest(_)));
        if asked {
            assert!(self.server, "a CURVE client asked the authenticator");
            assert!(!self.replied, "asked twice");
            self.replied = true;
            let reply = reply(self.reply_selector);
            let accept = reply.status_code == 200;
            let r = self.conn.handle_auth_reply(now, reply);
            if !accept {
                assert!(r.is_err(), "a refused client did not fail the server");
            }
            self.conn.drain_events(64, |_| {});
        }
        if self.conn.handshake_done() && !self.sent && !self.conn.failed() {
            self.sent = true;
            let _ = self.conn.send(&"reply".into());
        }
    }
}

fn run(data: &[u8], server: bool) {
    let mut input = Input::new(data);
    let now = Instant::now();
    let ours = socket_type(input.u8());
    let reply_selector = input.u8();
    let chunk = usize::from(input.u8());
    let flags = input.u8();
    let live = (flags >> LIVE_SHIFT & 3).min(2);
    let peer_minor = u8::from(flags & FLAG_PEER_MINOR0 == 0);
    let mut config = if server {
        server_config(ours)
    } else {
        client_config(ours)
    };
    config.zmtp_minor = u8::from(flags & FLAG_MINOR0 == 0);
    let mut t = Target {
        conn: Checked::new(config, now),
        server,
        reply_selector,
        replied: false,
        sent: false,
        read_buf: flags & FLAG_READ_BUF != 0,
    };

    let mut stream = Vec::new();
    if live == 0 {
        stream = greeting_bytes(peer_minor, "CURVE", !server);
    } else {
        run_live(&mut t, now, live, peer_minor);
    }
    stream.extend_from_slice(input.rest());
    let chunk = if chunk == 0 {
        stream.len().max(1)
    } else {
        chunk
    };
    for part in stream.chunks(chunk) {
        t.feed(now, part);
        while t.conn.poll_transmit().is_some() {}
    }
    t.conn.drain_events(1 << 16, |_| {});
}

/// Runs a real peer against the target until the peer has sent its greeting and `live`
/// mechanism commands (later frames are held back).
fn run_live(t: &mut Target, now: Instant, live: u8, peer_minor: u8) {
    let peer_type: SocketType = compatible(t.conn.conn.socket_type());
    let mut config = if t.server {
        client_config(peer_type)
    } else {
        server_config(peer_type)
    };
    config.zmtp_minor = peer_minor;
    let mut peer = Connection::new(config, now).expect("valid config");
    let mut split = Splitter::default();
    let mut commands = 0u8;
    for _ in 0..16 {
        let mut moved = false;
        while let Some(b) = t.conn.poll_transmit() {
            moved = true;
            if peer.handle_input(now, &b).is_err() {
                return;
            }
        }
        while let Ok(Some(ev)) = peer.poll_event() {
            if let Event::AuthRequest(_) = ev {
                let _ = peer.handle_auth_reply(now, reply(t.reply_selector));
            }
        }
        while let Some(b) = peer.poll_transmit() {
            for (greeting, unit) in split.push(&b) {
                if !greeting {
                    if commands == live {
                        continue;
                    }
                    commands += 1;
                }
                moved = true;
                t.feed(now, &unit);
            }
        }
        if !moved {
            return;
        }
    }
}
