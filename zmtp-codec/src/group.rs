//! RADIO/DISH groups (RFC 48): the group a message belongs to, and a DISH's JOIN and
//! LEAVE.
//!
//! On ZMTP a RADIO sends each message as two frames, the group (with MORE) and the body;
//! a DISH sends `JOIN group` and `LEAVE group` as command frames, whatever the ZMTP
//! version (libzmq 4.3's `dish_session_t` flags them as commands, and its ZMTP 3.0
//! encoder writes that flag too). Inside a socket, between a DISH and its peers' pipes, a
//! JOIN or LEAVE travels as a one-frame message holding that command's body
//! ([`Membership::to_message`]), so inproc peers read what tcp peers are sent.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Message;

/// The longest group RFC 48 allows, in bytes (libzmq's `ZMQ_GROUP_MAX_LENGTH`).
pub const MAX_GROUP_LEN: usize = 15;

/// A group name of at most [`MAX_GROUP_LEN`] bytes, held inline (no allocation).
///
/// ```
/// use zmtp_codec::Group;
/// let g = Group::new("weather").unwrap();
/// assert_eq!(g.as_bytes(), b"weather");
/// assert!(Group::new("sixteen bytes!!!").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    len: u8,
    bytes: [u8; MAX_GROUP_LEN],
}

/// A group longer than [`MAX_GROUP_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a group is at most 15 bytes; this one has {0}")]
pub struct GroupTooLong(pub usize);

impl Group {
    /// The group `name`; [`GroupTooLong`] beyond [`MAX_GROUP_LEN`] bytes.
    pub fn new(name: impl AsRef<[u8]>) -> Result<Group, GroupTooLong> {
        let name = name.as_ref();
        if name.len() > MAX_GROUP_LEN {
            return Err(GroupTooLong(name.len()));
        }
        let mut bytes = [0; MAX_GROUP_LEN];
        bytes[..name.len()].copy_from_slice(name);
        Ok(Group {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::ops::Deref for Group {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A DISH joining or leaving a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Membership {
    /// `JOIN`: send me the group's messages.
    Join(Group),
    /// `LEAVE`: stop sending them.
    Leave(Group),
}

impl Membership {
    /// The group joined or left.
    pub fn group(&self) -> &Group {
        match self {
            Membership::Join(g) | Membership::Leave(g) => g,
        }
    }

    /// The command frame's body: `\x04JOIN` or `\x05LEAVE`, then the group.
    pub fn command_body(&self) -> Bytes {
        let (name, group): (&[u8], _) = match self {
            Membership::Join(g) => (b"\x04JOIN", g),
            Membership::Leave(g) => (b"\x05LEAVE", g),
        };
        let mut body = BytesMut::with_capacity(name.len() + group.len());
        body.put_slice(name);
        body.put_slice(group);
        body.freeze()
    }

    /// The form a JOIN or LEAVE takes in a socket's pipes: one frame, the command body.
    pub fn to_message(&self) -> Message {
        Message::from(self.command_body())
    }

    /// Reads the pipe form; `None` for any other message.
    pub fn from_message(msg: &Message) -> Option<Membership> {
        if msg.len() != 1 {
            return None;
        }
        let body = msg.first()?;
        let (join, group) = if let Some(g) = body.strip_prefix(b"\x04JOIN") {
            (true, g)
        } else {
            (false, body.strip_prefix(b"\x05LEAVE")?)
        };
        let group = Group::new(group).ok()?;
        Some(if join {
            Membership::Join(group)
        } else {
            Membership::Leave(group)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_at_most_fifteen_bytes() {
        assert_eq!(Group::new("").map(|g| g.len()), Ok(0));
        assert_eq!(Group::new([7u8; 15]).map(|g| g.len()), Ok(15));
        assert_eq!(Group::new([7u8; 16]), Err(GroupTooLong(16)));
        assert_ne!(Group::new("a"), Group::new("a\0"));
    }

    #[test]
    fn membership_round_trips_through_the_command_body() {
        let g = Group::new("news").unwrap();
        assert_eq!(&Membership::Join(g).command_body()[..], b"\x04JOINnews");
        assert_eq!(&Membership::Leave(g).command_body()[..], b"\x05LEAVEnews");
        for m in [Membership::Join(g), Membership::Leave(g)] {
            assert_eq!(Membership::from_message(&m.to_message()), Some(m));
        }
        let too_long = Message::from(&b"\x04JOIN0123456789abcdef"[..]);
        assert_eq!(Membership::from_message(&too_long), None);
        assert_eq!(Membership::from_message(&Message::from("JOINx")), None);
    }
}

#[cfg(test)]
mod wire_tests {
    use std::time::Instant;

    use bytes::BytesMut;

    use super::*;
    use crate::frame::{self, Framing};
    use crate::{Config, Connection, Error, Event, SocketType};

    fn shuttle(a: &mut Connection, b: &mut Connection, now: Instant) {
        for _ in 0..4 {
            while let Some(bytes) = a.poll_transmit() {
                b.handle_input(now, &bytes).unwrap();
            }
            while let Some(bytes) = b.poll_transmit() {
                a.handle_input(now, &bytes).unwrap();
            }
        }
    }

    /// A RADIO and a DISH past their handshakes.
    fn pair() -> (Connection, Connection, Instant) {
        let now = Instant::now();
        let mut radio = Connection::new(Config::new(SocketType::Radio), now).unwrap();
        let mut dish = Connection::new(Config::new(SocketType::Dish), now).unwrap();
        shuttle(&mut radio, &mut dish, now);
        for c in [&mut radio, &mut dish] {
            assert!(matches!(
                c.poll_event(),
                Ok(Some(Event::HandshakeSucceeded(_)))
            ));
        }
        (radio, dish, now)
    }

    fn raw(frames: &[(bool, bool, &[u8])]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for &(more, command, body) in frames {
            frame::encode(&mut out, Framing::V3, more, command, body);
        }
        out.to_vec()
    }

    #[test]
    fn join_goes_as_a_command_and_messages_as_group_then_body() {
        let (mut radio, mut dish, now) = pair();
        let news = Group::new("news").unwrap();
        dish.send(&Membership::Join(news).to_message()).unwrap();
        let bytes = dish.poll_transmit().unwrap();
        assert_eq!(&bytes[..], &raw(&[(false, true, b"\x04JOINnews")])[..]);
        radio.handle_input(now, &bytes).unwrap();
        assert_eq!(
            radio.poll_event(),
            Ok(Some(Event::Membership(Membership::Join(news))))
        );
        radio
            .send(&Message::from("hello").in_group("news").unwrap())
            .unwrap();
        let bytes = radio.poll_transmit().unwrap();
        assert_eq!(
            &bytes[..],
            &raw(&[(true, false, b"news"), (false, false, b"hello")])[..]
        );
        dish.handle_input(now, &bytes).unwrap();
        let Ok(Some(Event::Message(msg))) = dish.poll_event() else {
            panic!("no message");
        };
        assert_eq!(
            (msg.frames(), msg.group()),
            (&[Bytes::from("hello")][..], Some(&b"news"[..]))
        );
    }

    #[test]
    fn bad_input_fails_the_connection() {
        let dish_cases: [&[(bool, bool, &[u8])]; 4] = [
            &[(false, false, b"no group")],
            &[(true, false, b"0123456789abcdef"), (false, false, b"body")],
            &[
                (true, false, b"g"),
                (true, false, b"b1"),
                (false, false, b"b2"),
            ],
            &[(false, true, b"\x09SUBSCRIBEx")],
        ];
        for frames in dish_cases {
            let (_radio, mut dish, now) = pair();
            dish.handle_input(now, &raw(frames)).unwrap();
            assert!(
                matches!(dish.poll_event(), Err(Error::MalformedGroupTraffic(_))),
                "{frames:?}"
            );
        }
        let radio_cases: [&[(bool, bool, &[u8])]; 3] = [
            &[(false, true, b"\x04JOIN0123456789abcdef")],
            &[(false, true, b"\x05HELLO")],
            &[(false, false, b"data")],
        ];
        for frames in radio_cases {
            let (mut radio, _dish, now) = pair();
            radio.handle_input(now, &raw(frames)).unwrap();
            assert!(
                matches!(radio.poll_event(), Err(Error::MalformedGroupTraffic(_))),
                "{frames:?}"
            );
        }
    }
}
