//! ZWS 2.0 (RFC 45): ZMTP over WebSocket, as libzmq 4.3.5 speaks it.
//!
//! A WebSocket library carries the HTTP upgrade and the WebSocket framing; what is ZeroMQ's
//! is here, with no I/O:
//!
//! - The subprotocol names the mechanism: `ZWS2.0/NULL`, `ZWS2.0/PLAIN`, `ZWS2.0/CURVE`, or
//!   the bare `ZWS2.0` (no mechanism at all: no READY, each side's first message is its
//!   routing id, no socket type check). A client offers [`offer`]'s list; a server takes the
//!   first offered name that [`select`] accepts for its own mechanism (libzmq's order).
//! - There is no ZMTP greeting: the mechanism handshake starts at once.
//! - Each ZMTP frame is one binary WebSocket message: a flags byte ([`FLAG_MORE`],
//!   [`FLAG_COMMAND`]; note that COMMAND is `0x02` here, not ZMTP's `0x04`) and the body.
//! - Subscriptions travel as messages (`0x01`/`0x00` + topic), as in ZMTP 3.0: libzmq's ws
//!   engine drops SUBSCRIBE/CANCEL command frames.
//! - Heartbeats are WebSocket PING/PONG control frames (libzmq's ws engine answers those,
//!   and ignores ZMTP PING commands): the connection asks for one with [`Output::Ping`].
//!
//! [`Connection::new_zws`](crate::Connection::new_zws) runs a connection in this mode;
//! [`Connection::handle_zws_message`](crate::Connection::handle_zws_message) and
//! [`Connection::poll_zws_transmit`](crate::Connection::poll_zws_transmit) are its input
//! and output.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Error;

/// Flags bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flags bit: this frame is a command.
pub const FLAG_COMMAND: u8 = 0x02;

/// The bare subprotocol: no mechanism, routing ids exchanged as first messages.
pub const BARE: &str = "ZWS2.0";

/// Which kind of ZWS connection a subprotocol asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `ZWS2.0`: no mechanism (libzmq: NULL sockets only).
    Bare,
    /// `ZWS2.0/<MECHANISM>`: the mechanism's handshake, with READY and its properties.
    Mechanism,
}

impl Protocol {
    /// What a subprotocol name means to a socket whose mechanism is `mechanism` (`"NULL"`,
    /// `"PLAIN"`, `"CURVE"`); `None` if that socket cannot speak it.
    pub fn parse(name: &str, mechanism: &str) -> Option<Protocol> {
        let name = name.trim();
        if name == BARE {
            return (mechanism == "NULL").then_some(Protocol::Bare);
        }
        let m = name.strip_prefix("ZWS2.0/")?;
        (m == mechanism).then_some(Protocol::Mechanism)
    }
}

/// The subprotocols a client offers, best first (libzmq's: `ZWS2.0/NULL, ZWS2.0` for NULL).
pub fn offer(mechanism: &str) -> Vec<String> {
    let mut names = vec![format!("ZWS2.0/{mechanism}")];
    if mechanism == "NULL" {
        names.push(BARE.to_owned());
    }
    names
}

/// The server's choice among the offered names (each may hold a comma-separated list, as a
/// `Sec-WebSocket-Protocol` header does): the first one our mechanism speaks.
pub fn select<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    mechanism: &str,
) -> Option<(&'a str, Protocol)> {
    offered
        .into_iter()
        .flat_map(|header| header.split(','))
        .map(str::trim)
        .find_map(|name| Protocol::parse(name, mechanism).map(|p| (name, p)))
}

/// One decoded ZWS message: a ZMTP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// More frames of the same message follow.
    pub more: bool,
    /// The frame is a command.
    pub command: bool,
    /// The frame's body.
    pub body: &'a [u8],
}

/// Parses a binary WebSocket message's payload: the flags byte, then the body.
pub fn decode(payload: &[u8]) -> Result<Decoded<'_>, Error> {
    let (&flags, body) = payload.split_first().ok_or(Error::ZwsEmptyMessage)?;
    if flags & !(FLAG_MORE | FLAG_COMMAND) != 0 {
        return Err(Error::ZwsReservedFlags(flags));
    }
    let command = flags & FLAG_COMMAND != 0;
    let more = flags & FLAG_MORE != 0;
    if command && more {
        return Err(Error::CommandWithMore);
    }
    Ok(Decoded {
        more,
        command,
        body,
    })
}

/// The payload of the binary WebSocket message that carries one frame.
pub fn encode(more: bool, command: bool, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + body.len());
    let flags = if more { FLAG_MORE } else { 0 } | if command { FLAG_COMMAND } else { 0 };
    out.put_u8(flags);
    out.put_slice(body);
    out.freeze()
}

/// What a ZWS connection asks its WebSocket to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A binary message: one frame, from [`encode`].
    Message(Bytes),
    /// A WebSocket PING (our heartbeat); any PONG or message back counts as liveness
    /// ([`Connection::handle_zws_control`](crate::Connection::handle_zws_control)).
    Ping,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_through_its_message() {
        for (more, command) in [(false, false), (true, false), (false, true)] {
            let payload = encode(more, command, b"body");
            let d = decode(&payload).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((d.more, d.command, d.body), (more, command, &b"body"[..]));
        }
    }

    #[test]
    fn bad_messages_are_refused() {
        assert_eq!(decode(b""), Err(Error::ZwsEmptyMessage));
        assert_eq!(decode(b"\x04x"), Err(Error::ZwsReservedFlags(4)));
        assert_eq!(decode(b"\x03x"), Err(Error::CommandWithMore));
        assert!(decode(b"\x00").is_ok_and(|d| d.body.is_empty()));
    }

    #[test]
    fn the_server_takes_the_first_name_its_mechanism_speaks() {
        // libzmq's NULL client sends both names in one header.
        assert_eq!(
            select(["ZWS2.0/NULL,ZWS2.0"], "NULL"),
            Some(("ZWS2.0/NULL", Protocol::Mechanism))
        );
        assert_eq!(select(["ZWS2.0"], "NULL"), Some(("ZWS2.0", Protocol::Bare)));
        assert_eq!(
            select(["chat", " ZWS2.0/PLAIN"], "PLAIN"),
            Some(("ZWS2.0/PLAIN", Protocol::Mechanism))
        );
        assert_eq!(select(["ZWS2.0/NULL, ZWS2.0"], "PLAIN"), None);
        assert_eq!(select(["ZWS2.0"], "CURVE"), None);
        assert_eq!(select(["ZWS1.0"], "NULL"), None);
        assert_eq!(offer("NULL"), ["ZWS2.0/NULL", "ZWS2.0"]);
        assert_eq!(offer("PLAIN"), ["ZWS2.0/PLAIN"]);
    }
}
