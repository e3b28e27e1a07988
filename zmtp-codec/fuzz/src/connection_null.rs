//! `connection_null`: one NULL-mechanism [`Connection`] fed arbitrary peer bytes, in chunks
//! chosen by the input, interleaved with timeouts, polls, sends and (when it authenticates)
//! authenticator replies. All invariants are those of [`Checked`].
//!
//! Input: `socket-type(u8) options(u8) [max(u16)] [routing-id-len(u8) id…] op…`, where each
//! op is one byte whose low 3 bits pick the operation and whose high bits are its argument
//! (see the `OP_*` constants), followed by its operands.

use std::time::{Duration, Instant};

use zmtp_codec::{AuthReply, Config, Message, SocketType};

use crate::checked::Checked;
use crate::input::Input;

/// Option bit: announce ZMTP 3.0 instead of 3.1.
pub const OPT_MINOR0: u8 = 0x01;
/// Option bit: heartbeats every second (TTL and timeout from the same byte).
pub const OPT_HEARTBEAT: u8 = 0x02;
/// Option bit: a `maxmsgsize` follows (u16).
pub const OPT_MAX: u8 = 0x04;
/// Option bit: a routing id follows (length byte, bytes).
pub const OPT_ROUTING_ID: u8 = 0x08;
/// Option bit: ask the authenticator about the peer (ZAP for NULL).
pub const OPT_AUTH: u8 = 0x10;
/// Option bit: no handshake timeout.
pub const OPT_NO_HANDSHAKE_IVL: u8 = 0x20;

/// Op: `len(u16)` bytes from the peer; argument bit 0: through `read_buf`/`handle_read`.
pub const OP_FEED: u8 = 0;
/// Op: advance the clock by `(b*b*10)` ms for the next byte `b` and call `handle_timeout`.
pub const OP_TIMEOUT: u8 = 1;
/// Op: poll up to 16 events; argument bit 0: as the socket driver does, with
/// `poll_messages` taking up to `(arg >> 1) % 8` messages between events.
pub const OP_POLL_EVENT: u8 = 2;
/// Op: drain `poll_transmit`.
pub const OP_POLL_TRANSMIT: u8 = 3;
/// Op: send a message of `(arg % 4) + 1` frames, each of a size given by one byte.
pub const OP_SEND: u8 = 4;
/// Op: subscribe (argument bit 0 clear) or cancel, topic of `len(u8) % 16` bytes.
pub const OP_SUBSCRIBE: u8 = 5;
/// Op: answer the authenticator: argument bit 0 accept, else deny with 300/400/500.
pub const OP_AUTH_REPLY: u8 = 6;
/// Op: call `read_buf` and `handle_read` without new bytes.
pub const OP_EMPTY_READ: u8 = 7;

/// Most ops run per input (bounds the time one input takes).
const MAX_OPS: usize = 4096;
/// Most message bytes sent per input.
const SEND_BUDGET: usize = 1 << 20;

/// The socket type for a selector byte.
pub fn socket_type(b: u8) -> SocketType {
    let all = SocketType::all();
    all[usize::from(b) % all.len()]
}

/// A frame size for a selector byte: mostly small, sometimes around the 255-byte short/long
/// boundary, sometimes above the zero-copy threshold.
pub fn frame_size(b: u8) -> usize {
    match b {
        0..=239 => usize::from(b),
        240..=247 => 250 + usize::from(b - 240),
        248..=251 => 8190 + usize::from(b - 248),
        _ => 70_000,
    }
}

/// A message with `frames` frames of the given sizes, filled with a pattern.
pub fn message(sizes: &[usize], seed: u8) -> Message {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (0..n)
                .map(|j| seed.wrapping_add(i as u8).wrapping_add(j as u8) | 0x80)
                .collect::<Vec<u8>>()
        })
        .collect()
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut now = Instant::now();
    let socket_type = socket_type(input.u8());
    let opts = input.u8();
    let mut config = Config::new(socket_type);
    config.zmtp_minor = u8::from(opts & OPT_MINOR0 == 0);
    if opts & OPT_HEARTBEAT != 0 {
        let b = input.u8();
        config.heartbeat_ivl = Some(Duration::from_secs(1));
        config.heartbeat_ttl = Some(Duration::from_millis(u64::from(b & 0x0F) * 500));
        config.heartbeat_timeout = Some(Duration::from_millis(u64::from(b >> 4) * 250));
    }
    if opts & OPT_MAX != 0 {
        config.max_msg_size = Some(u64::from(input.u16()));
    }
    if opts & OPT_ROUTING_ID != 0 {
        let n = usize::from(input.u8());
        config = config.routing_id(input.bytes(n).to_vec());
    }
    config.authenticate_null = opts & OPT_AUTH != 0;
    if opts & OPT_NO_HANDSHAKE_IVL != 0 {
        config.handshake_ivl = None;
    }
    let mut conn = Checked::new(config, now);
    let mut budget = SEND_BUDGET;

    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let arg = op >> 3;
        // Errors are checked (and must be sticky) inside Checked; the run goes on after them.
        match op & 7 {
            OP_FEED => {
                let len = usize::from(input.u16());
                let bytes = input.bytes(len);
                let _ = if arg & 1 == 0 {
                    conn.handle_input(now, bytes)
                } else {
                    conn.handle_read(now, bytes)
                };
            }
            OP_TIMEOUT => {
                let b = u64::from(input.u8());
                now += Duration::from_millis(b * b * 10);
                let _ = conn.handle_timeout(now);
            }
            OP_POLL_EVENT if arg & 1 == 1 => conn.drain_batches(16, usize::from(arg >> 1) % 8),
            OP_POLL_EVENT => conn.drain_events(16, |_| {}),
            OP_POLL_TRANSMIT => while conn.poll_transmit().is_some() {},
            OP_SEND => {
                let sizes: Vec<usize> = (0..=arg % 4).map(|_| frame_size(input.u8())).collect();
                budget = budget.saturating_sub(sizes.iter().sum());
                if budget > 0 {
                    let _ = conn.send(&message(&sizes, op));
                }
            }
            OP_SUBSCRIBE => {
                let n = usize::from(input.u8() % 16);
                let _ = conn.send_subscription(arg & 1 == 0, input.bytes(n));
            }
            OP_AUTH_REPLY => {
                let reply = match arg % 4 {
                    0 => AuthReply::accept("user"),
                    1 => AuthReply::deny(300, "try later"),
                    2 => AuthReply::deny(400, "no"),
                    _ => AuthReply::deny(500, "broken"),
                };
                let _ = conn.handle_auth_reply(now, reply);
            }
            _ => {
                let _ = conn.handle_read(now, &[]);
            }
        }
    }
    // Whatever state it is in, the connection drains without panicking.
    conn.drain_events(1 << 16, |_| {});
    while conn.poll_transmit().is_some() {}
}
