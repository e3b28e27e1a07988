//! Codec benchmark helpers.
//!
//! The codec benchmarks (`benches/codec.rs`) and the zero-copy tests (`tests/zero_copy.rs`)
//! share these helpers: two [`Connection`]s handshaken against each other in memory, and
//! the bytes a connection sends for a batch of messages.
//!
//! Run the benchmarks pinned to one core:
//!
//! ```sh
//! taskset -c 1 cargo bench -p zmq-benches --bench codec
//! ```

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_codec::{Config, Connection, Event, SocketType};

/// A PUSH and a PULL connection with their NULL handshake done and the
/// `HandshakeSucceeded` events consumed: `pair.0` sends, `pair.1` receives.
pub fn connected_pair(now: Instant) -> (Connection, Connection) {
    let mut push = Connection::new(Config::new(SocketType::Push), now).expect("valid config");
    let mut pull = Connection::new(Config::new(SocketType::Pull), now).expect("valid config");
    for _ in 0..8 {
        while let Some(b) = push.poll_transmit() {
            pull.handle_input(now, &b).expect("clean handshake");
        }
        while let Some(b) = pull.poll_transmit() {
            push.handle_input(now, &b).expect("clean handshake");
        }
    }
    for conn in [&mut push, &mut pull] {
        match conn.poll_event() {
            Ok(Some(Event::HandshakeSucceeded(_))) => {}
            other => panic!("expected HandshakeSucceeded, got {other:?}"),
        }
        assert!(conn.is_active());
    }
    (push, pull)
}

/// Drains `conn`'s output into one buffer.
pub fn drain_transmit(conn: &mut Connection) -> BytesMut {
    let mut out = BytesMut::new();
    while let Some(chunk) = conn.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

/// The wire bytes of `count` single-frame messages with `body` each, as `sender` encodes
/// them.
pub fn encoded_batch(sender: &mut Connection, body: &Bytes, count: usize) -> Bytes {
    for _ in 0..count {
        sender
            .send(&body.clone().into())
            .expect("active connection");
    }
    drain_transmit(sender).freeze()
}
