//! Commands shared by every mechanism: READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG.
//!
//! A command frame's body is `name-length name data`. Mechanism-specific commands
//! (PLAIN's HELLO, WELCOME, INITIATE; CURVE's) are parsed by their mechanism from
//! [`Command::Other`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{self, Framing};
use crate::{Error, Metadata};

/// The largest PING context RFC 37 allows, and the most that PONG echoes. A longer
/// context is accepted and cut to this length, as libzmq does.
pub const MAX_PING_CONTEXT: usize = 16;

/// A decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// READY with the sender's metadata.
    Ready(Metadata),
    /// ERROR with a reason (at most 255 bytes).
    Error(Bytes),
    /// SUBSCRIBE (ZMTP 3.1) with a topic prefix.
    Subscribe(Bytes),
    /// CANCEL (ZMTP 3.1) with a topic prefix.
    Cancel(Bytes),
    /// PING with the sender's TTL in deciseconds and up to 16 bytes of context (a longer
    /// context is cut to its first 16 bytes when decoded, as libzmq does).
    Ping {
        /// Time-to-live in tenths of a second (0 = none).
        ttl_deciseconds: u16,
        /// Context to echo in PONG.
        context: Bytes,
    },
    /// PONG echoing a PING's context.
    Pong(Bytes),
    /// Any other command: a mechanism's, or one unknown to us.
    Other {
        /// The command name.
        name: Bytes,
        /// Everything after the name.
        data: Bytes,
    },
}

/// Recognises the ERROR that libzmq 4.3's PLAIN server sends: its C literal `"\x05ERROR"`
/// swallows the `E` into the hex escape, so the body reads `5E 'RROR' len reason`. Returns
/// the reason, so the handshake can fail as "peer sent ERROR" rather than as malformed.
pub fn libzmq_plain_error(body: &[u8]) -> Option<Bytes> {
    let rest = body.strip_prefix(b"\x5eRROR")?;
    let (&len, reason) = rest.split_first()?;
    (usize::from(len) == reason.len()).then(|| Bytes::copy_from_slice(reason))
}

/// Splits a command body into name and data.
pub fn split(body: &Bytes) -> Result<(Bytes, Bytes), Error> {
    let Some(&name_len) = body.first() else {
        return Err(Error::MalformedCommand("empty command frame"));
    };
    let name_len = usize::from(name_len);
    if name_len == 0 {
        return Err(Error::MalformedCommand("empty command name"));
    }
    if body.len() < 1 + name_len {
        return Err(Error::MalformedCommand(
            "command name runs past the end of the frame",
        ));
    }
    Ok((body.slice(1..1 + name_len), body.slice(1 + name_len..)))
}

impl Command {
    /// Parses a command frame body.
    pub fn decode(body: &Bytes) -> Result<Command, Error> {
        let (name, data) = split(body)?;
        Ok(match &name[..] {
            b"READY" => Command::Ready(Metadata::decode(data)?),
            b"ERROR" => {
                let Some(&len) = data.first() else {
                    return Err(Error::MalformedCommand("ERROR without reason length"));
                };
                if data.len() != 1 + usize::from(len) {
                    return Err(Error::MalformedCommand(
                        "ERROR reason length does not match the frame",
                    ));
                }
                Command::Error(data.slice(1..))
            }
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(Error::MalformedCommand("PING shorter than its TTL"));
                }
                // libzmq answers a longer context with its first 16 bytes.
                let context = data.slice(2..data.len().min(2 + MAX_PING_CONTEXT));
                Command::Ping {
                    ttl_deciseconds: u16::from_be_bytes([data[0], data[1]]),
                    context,
                }
            }
            // libzmq reads nothing of a PONG: any context is accepted, cut to 16 bytes.
            b"PONG" => Command::Pong(data.slice(..data.len().min(MAX_PING_CONTEXT))),
            _ => Command::Other { name, data },
        })
    }

    /// Appends this command as a whole ZMTP 3.x command frame.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        self.encode_body(&mut body);
        frame::encode(out, Framing::V3, false, true, &body);
    }

    /// Appends the command frame's body (`name-length name data`) without a frame header.
    pub fn encode_body(&self, body: &mut BytesMut) {
        let body = &mut *body;
        match self {
            Command::Ready(m) => {
                put_name(body, b"READY");
                m.encode(body);
            }
            Command::Error(reason) => {
                put_name(body, b"ERROR");
                let reason = &reason[..reason.len().min(255)];
                body.put_u8(reason.len() as u8);
                body.put_slice(reason);
            }
            Command::Subscribe(topic) => {
                put_name(body, b"SUBSCRIBE");
                body.put_slice(topic);
            }
            Command::Cancel(topic) => {
                put_name(body, b"CANCEL");
                body.put_slice(topic);
            }
            Command::Ping {
                ttl_deciseconds,
                context,
            } => {
                put_name(body, b"PING");
                body.put_u16(*ttl_deciseconds);
                body.put_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Pong(context) => {
                put_name(body, b"PONG");
                body.put_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Other { name, data } => {
                put_name(body, name);
                body.put_slice(data);
            }
        }
    }
}

/// Writes `name-length name` (names are at most 255 bytes by construction).
pub(crate) fn put_name(out: &mut BytesMut, name: &[u8]) {
    out.put_u8(name.len() as u8);
    out.put_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::SOCKET_TYPE;

    fn encoded(c: &Command) -> Vec<u8> {
        let mut out = BytesMut::new();
        c.encode(&mut out);
        out.to_vec()
    }

    fn decode_frame(bytes: &[u8]) -> Result<Command, Error> {
        let f = frame::decode(&mut BytesMut::from(bytes), Framing::V3, None)?.expect("whole frame");
        assert!(f.command);
        Command::decode(&f.body)
    }

    #[test]
    fn golden_bytes_from_zmtp_notes() {
        let mut m = Metadata::new();
        m.insert(SOCKET_TYPE, "SUB").unwrap();
        let ready = Command::Ready(m);
        assert_eq!(
            encoded(&ready),
            b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB"
        );
        let sub = Command::Subscribe(Bytes::from_static(b"A"));
        assert_eq!(encoded(&sub), b"\x04\x0b\x09SUBSCRIBEA");
        let ping = Command::Ping {
            ttl_deciseconds: 20,
            context: Bytes::new(),
        };
        assert_eq!(encoded(&ping), b"\x04\x07\x04PING\x00\x14");
        for c in [ready, sub, ping] {
            assert_eq!(decode_frame(&encoded(&c)), Ok(c));
        }
    }

    #[test]
    fn every_command_round_trips() {
        let cmds = [
            Command::Error(Bytes::from_static(b"400")),
            Command::Cancel(Bytes::from_static(b"topic")),
            Command::Pong(Bytes::from_static(b"ctx")),
            Command::Ping {
                ttl_deciseconds: 1,
                context: Bytes::from_static(&[7; 16]),
            },
            Command::Other {
                name: Bytes::from_static(b"HELLO"),
                data: Bytes::from_static(b"\x00\x00"),
            },
            Command::Ready(Metadata::new()),
        ];
        for c in cmds {
            assert_eq!(decode_frame(&encoded(&c)), Ok(c));
        }
    }

    #[test]
    fn libzmq_plain_error_quirk() {
        // Captured from libzmq 4.3.4's PLAIN server refusing a password.
        let body = b"\x5eRROR\x03400";
        assert_eq!(libzmq_plain_error(body), Some(Bytes::from_static(b"400")));
        assert_eq!(libzmq_plain_error(b"\x5eRROR\x04400"), None);
        assert_eq!(libzmq_plain_error(b"\x05ERROR\x03400"), None);
        // On its own it is still malformed.
        assert!(Command::decode(&Bytes::from_static(body)).is_err());
    }

    #[test]
    fn malformed_commands() {
        let bad: [(&[u8], &str); 6] = [
            (b"", "empty command frame"),
            (b"\x00", "empty command name"),
            (b"\x05REA", "command name runs past the end of the frame"),
            (b"\x05ERROR", "ERROR without reason length"),
            (
                b"\x05ERROR\x05ab",
                "ERROR reason length does not match the frame",
            ),
            (b"\x04PING\x00", "PING shorter than its TTL"),
        ];
        for (body, why) in bad {
            assert_eq!(
                Command::decode(&Bytes::copy_from_slice(body)),
                Err(Error::MalformedCommand(why)),
                "{why}"
            );
        }
        // Longer contexts than RFC 37 allows are cut to 16 bytes, as libzmq does.
        let long_ping = Bytes::from_static(b"\x04PING\x00\x0101234567890123456789");
        assert_eq!(
            Command::decode(&long_ping),
            Ok(Command::Ping {
                ttl_deciseconds: 1,
                context: Bytes::from_static(b"0123456789012345")
            })
        );
        let long_pong = Bytes::from_static(b"\x04PONG01234567890123456");
        assert_eq!(
            Command::decode(&long_pong),
            Ok(Command::Pong(Bytes::from_static(b"0123456789012345")))
        );
        let bad_ready = Bytes::from_static(b"\x05READY\x01");
        assert!(matches!(
            Command::decode(&bad_ready),
            Err(Error::MalformedProperty(_))
        ));
    }
}
