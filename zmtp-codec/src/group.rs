//! RADIO/DISH groups (RFC 48): the group a message belongs to, and a DISH's JOIN and
//! LEAVE.
//!
//! On ZMTP a RADIO sends each message as two frames, the group (with MORE) and the body;
//! a DISH sends `JOIN group` and `LEAVE group` as command frames, whatever the ZMTP
//! version (libzmq 4.3's `dish_session_t` flags them as commands, and its ZMTP 3.0
//! encoder writes that flag too). Inside a socket, between a DISH and its peers' pipes, a
//! JOIN or LEAVE travels as a one-frame message holding that command's body
//! ([`Membership::to_message`]), so inproc peers read what tcp peers are sent.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Message;

/// The longest group, in bytes: libzmq 4.3.5's `ZMQ_GROUP_MAX_LENGTH` (255 since 4.3.3;
/// 15 before), the most a datagram's length byte can say.
pub const MAX_GROUP_LEN: usize = 255;

/// The longest group held inline; longer ones are shared on the heap (libzmq's
/// short and long groups split at the same length).
const INLINE: usize = 14;

/// A group name of at most [`MAX_GROUP_LEN`] bytes: up to 14 held inline, longer ones
/// shared (a clone costs a reference count).
///
/// ```
/// use zmtp_codec::Group;
/// let g = Group::new("weather").unwrap();
/// assert_eq!(g.as_bytes(), b"weather");
/// assert!(Group::new([b'x'; 256]).is_err());
/// ```
#[derive(Clone)]
pub struct Group(Repr);

#[derive(Clone)]
enum Repr {
    Short { len: u8, bytes: [u8; INLINE] },
    Long(Arc<Vec<u8>>),
}

/// A group longer than [`MAX_GROUP_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a group is at most 255 bytes; this one has {0}")]
pub struct GroupTooLong(pub usize);

impl Group {
    /// The group `name`; [`GroupTooLong`] beyond [`MAX_GROUP_LEN`] bytes.
    pub fn new(name: impl AsRef<[u8]>) -> Result<Group, GroupTooLong> {
        let name = name.as_ref();
        if name.len() > MAX_GROUP_LEN {
            return Err(GroupTooLong(name.len()));
        }
        if name.len() > INLINE {
            return Ok(Group(Repr::Long(Arc::new(name.to_vec()))));
        }
        let mut bytes = [0; INLINE];
        bytes[..name.len()].copy_from_slice(name);
        Ok(Group(Repr::Short {
            len: name.len() as u8,
            bytes,
        }))
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Short { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Long(name) => name,
        }
    }
}

impl std::ops::Deref for Group {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Tables keyed by [`Group`] are searched with a message's group as it is.
impl std::borrow::Borrow<[u8]> for Group {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Group {
    fn eq(&self, other: &Group) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Group {}

impl std::hash::Hash for Group {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Group({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A DISH joining or leaving a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
        let (name, group): (&[u8], &Group) = match self {
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
    fn groups_hold_at_most_255_bytes() {
        assert_eq!(Group::new("").map(|g| g.len()), Ok(0));
        for n in [14, 15, 255] {
            let g = Group::new(vec![7u8; n]).unwrap();
            assert_eq!(g.as_bytes(), &vec![7u8; n][..]);
            assert_eq!(g.clone(), g);
        }
        assert_eq!(Group::new([7u8; 256]), Err(GroupTooLong(256)));
        assert_ne!(Group::new("a"), Group::new("a\0"));
    }

    #[test]
    fn membership_round_trips_through_the_command_body() {
        let g = Group::new("news").unwrap();
        assert_eq!(
            &Membership::Join(g.clone()).command_body()[..],
            b"\x04JOINnews"
        );
        assert_eq!(
            &Membership::Leave(g.clone()).command_body()[..],
            b"\x05LEAVEnews"
        );
        for m in [Membership::Join(g.clone()), Membership::Leave(g)] {
            assert_eq!(Membership::from_message(&m.to_message()), Some(m));
        }
        let mut too_long = b"\x04JOIN".to_vec();
        too_long.extend([b'x'; 256]);
        assert_eq!(Membership::from_message(&Message::from(too_long)), None);
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
        pair_with_dish_minor(1)
    }

    /// A RADIO and a DISH speaking ZMTP 3.`minor`, past their handshakes.
    fn pair_with_dish_minor(minor: u8) -> (Connection, Connection, Instant) {
        let now = Instant::now();
        let mut radio = Connection::new(Config::new(SocketType::Radio), now).unwrap();
        let mut config = Config::new(SocketType::Dish);
        config.zmtp_minor = minor;
        let mut dish = Connection::new(config, now).unwrap();
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
        dish.send(&Membership::Join(news.clone()).to_message())
            .unwrap();
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
            (&[crate::Frame::from("hello")][..], Some(&b"news"[..]))
        );
    }

    /// libzmq 4.3 sends JOIN as a command to a ZMTP 3.0 peer too (its v2 encoder writes
    /// the command flag), not in a message form as subscriptions go to 3.0 peers.
    #[test]
    fn join_is_a_command_for_zmtp_30_peers_too() {
        let (mut radio, mut dish, now) = pair_with_dish_minor(0);
        assert_eq!(radio.peer().map(|p| p.version), Some((3, 0)));
        let g = Group::new("g").unwrap();
        dish.send(&Membership::Join(g.clone()).to_message())
            .unwrap();
        let bytes = dish.poll_transmit().unwrap();
        assert_eq!(&bytes[..], &raw(&[(false, true, b"\x04JOINg")])[..]);
        radio.handle_input(now, &bytes).unwrap();
        assert_eq!(
            radio.poll_event(),
            Ok(Some(Event::Membership(Membership::Join(g))))
        );
    }

    #[test]
    fn bad_input_fails_the_connection() {
        let long = [b'x'; 256];
        let mut long_join = b"\x04JOIN".to_vec();
        long_join.extend_from_slice(&long);
        let dish_cases: [&[(bool, bool, &[u8])]; 4] = [
            &[(false, false, b"no group")],
            &[(true, false, &long), (false, false, b"body")],
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
            &[(false, true, &long_join)],
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

    #[test]
    fn groups_up_to_255_bytes_cross() {
        let (mut radio, mut dish, now) = pair();
        let long = Group::new([b'y'; 255]).unwrap();
        dish.send(&Membership::Join(long.clone()).to_message())
            .unwrap();
        radio
            .handle_input(now, &dish.poll_transmit().unwrap())
            .unwrap();
        assert_eq!(
            radio.poll_event(),
            Ok(Some(Event::Membership(Membership::Join(long.clone()))))
        );
        radio
            .send(&Message::from("b").in_group(&long[..]).unwrap())
            .unwrap();
        dish.handle_input(now, &radio.poll_transmit().unwrap())
            .unwrap();
        let Ok(Some(Event::Message(msg))) = dish.poll_event() else {
            panic!("no message");
        };
        assert_eq!(msg.group(), Some(&long[..]));
    }
}
