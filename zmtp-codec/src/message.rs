//! Multipart messages: a sequence of [`Frame`]s.

use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::group::{Group, GroupTooLong};
use crate::{Frame, Metadata};

/// A ZeroMQ message: one or more frames, each a cheaply clonable [`Frame`].
///
/// A message with no frames is never sent on the wire; sockets refuse it.
/// Cloning a `Message` copies small frames (held inline) and clones the handles of large
/// ones, not their bodies. A message of up to two frames of up to
/// [`Frame::INLINE_CAPACITY`] bytes each lives entirely inside the `Message`: no heap.
///
/// A received message may carry its sender's properties (libzmq's `zmq_msg_gets`): the
/// peer's handshake metadata, the authenticator's metadata and `User-Id`. They are not
/// part of the message's value: equality and hashing look at the frames only.
///
/// The thread-safe draft types address peers by a routing id the message carries
/// (libzmq's `zmq_msg_routing_id` and `zmq_msg_set_routing_id`): a SERVER or PEER sets it
/// on each message it receives, and sends each message to the peer it names. Like the
/// properties, it is not part of the message's value.
///
/// RADIO and DISH sort messages into groups (libzmq's `zmq_msg_group` and
/// `zmq_msg_set_group`): a RADIO sends each message to the DISHes that joined its group, and
/// a DISH's messages carry theirs. A message has a routing id or a group, never both (no
/// socket type uses both): setting one clears the other. Like the properties, neither is
/// part of the message's value.
///
/// ```
/// use zmtp_codec::Message;
/// let mut msg = Message::from("world");
/// msg.push_front("hello");
/// assert_eq!(msg.len(), 2);
/// assert_eq!(&msg[0][..], b"hello");
/// ```
#[derive(Clone, Default)]
pub struct Message {
    frames: Frames,
    tail: Tail,
}

/// What travels with the frames but is not part of the message's value: the sender's
/// properties, and the routing id (SERVER, PEER) or the group (RADIO, DISH), which never both
/// apply. Plain fields: an enum of "routing id or group" here made every move of a
/// `Message` on the receive path dearer (callgrind, inproc 8 B: +80 instructions a message
/// on the receiver), more than the 8 bytes the group's own pointer costs.
#[derive(Clone, Default)]
struct Tail {
    metadata: Option<Arc<Metadata>>,
    routing_id: Option<NonZeroU32>,
    group: Option<Arc<Group>>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Message {}

impl std::hash::Hash for Message {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.frames.hash(state);
    }
}

/// Where a message keeps its frames: two of them without the heap.
type Frames = SmallVec<[Frame; 2]>;

impl Message {
    /// An empty message (no frames yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Total size of all frame bodies in bytes.
    pub fn size(&self) -> usize {
        self.frames.iter().map(|f| f.len()).sum()
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Frame>) {
        self.frames.push(frame.into());
    }

    /// Prepends a frame (used for envelopes and routing ids).
    pub fn push_front(&mut self, frame: impl Into<Frame>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Frame> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Frame> {
        self.frames.pop()
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Frame> {
        self.frames.first()
    }

    /// The last frame, if any.
    pub fn last(&self) -> Option<&Frame> {
        self.frames.last()
    }

    /// The frame at `index`, if any.
    pub fn get(&self, index: usize) -> Option<&Frame> {
        self.frames.get(index)
    }

    /// The frames as a slice.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// Splits off and returns the frames from `at` on, leaving `0..at` in `self`. Both
    /// parts keep the sender's properties.
    ///
    /// # Panics
    /// If `at > self.len()`.
    pub fn split_off(&mut self, at: usize) -> Message {
        let tail: Frames = self.frames.drain(at..).collect();
        Message {
            frames: tail,
            tail: self.tail.clone(),
        }
    }

    /// The sender's properties, when the connection that delivered this message has any
    /// to give (zmq-async's tcp and ipc connections: `Peer-Address`, the peer's handshake
    /// properties, and what an authenticator added).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.tail.metadata.as_deref()
    }

    /// One of the sender's properties, such as `User-Id`, `Peer-Address`, `Socket-Type` or
    /// an `X-` name of the peer's (libzmq's `zmq_msg_gets`; `Peer-Address` is a draft
    /// property there).
    pub fn property(&self, name: &str) -> Option<&Bytes> {
        self.metadata()?.get(name)
    }

    /// Attaches the sender's properties (done by the socket layer on receipt).
    pub fn set_metadata(&mut self, metadata: Option<Arc<Metadata>>) {
        self.tail.metadata = metadata;
    }

    /// The routing id of the peer that sent this message (SERVER, PEER), or of the peer it
    /// is addressed to (libzmq's `zmq_msg_routing_id`; `None` is libzmq's 0).
    pub fn routing_id(&self) -> Option<NonZeroU32> {
        self.tail.routing_id
    }

    /// Addresses the message to a SERVER's or PEER's peer (libzmq's
    /// `zmq_msg_set_routing_id`); `None` clears it.
    pub fn set_routing_id(&mut self, id: Option<NonZeroU32>) {
        self.tail.routing_id = id;
        self.tail.group = None;
    }

    /// The message's group (RADIO, DISH; libzmq's `zmq_msg_group`), if it has one.
    pub fn group(&self) -> Option<&[u8]> {
        self.tail.group.as_deref().map(Group::as_bytes)
    }

    /// Puts the message in `group` for a RADIO to send (libzmq's `zmq_msg_set_group`); a
    /// group is at most 255 bytes.
    pub fn set_group(&mut self, group: impl AsRef<[u8]>) -> Result<(), GroupTooLong> {
        self.set_group_to(Some(Group::new(group)?));
        Ok(())
    }

    /// Puts the message in `group`, or in none.
    pub fn set_group_to(&mut self, group: Option<Group>) {
        self.tail.group = group.map(Arc::new);
        self.tail.routing_id = None;
    }

    /// The message in `group` (see [`Message::set_group`]).
    ///
    /// ```
    /// use zmtp_codec::Message;
    /// let msg = Message::from("sunny").in_group("weather")?;
    /// assert_eq!(msg.group(), Some(&b"weather"[..]));
    /// # Ok::<(), zmtp_codec::GroupTooLong>(())
    /// ```
    pub fn in_group(mut self, group: impl AsRef<[u8]>) -> Result<Message, GroupTooLong> {
        self.set_group(group)?;
        Ok(self)
    }

    /// The message addressed to the peer `id` (see [`Message::set_routing_id`]).
    ///
    /// ```
    /// use zmtp_codec::Message;
    /// let id = std::num::NonZeroU32::new(7).unwrap();
    /// assert_eq!(Message::from("reply").to(id).routing_id(), Some(id));
    /// ```
    #[must_use]
    pub fn to(mut self, id: NonZeroU32) -> Message {
        self.set_routing_id(Some(id));
        self
    }

    /// Consumes the message and returns its frames.
    pub fn into_frames(self) -> Vec<Frame> {
        self.frames.into_vec()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.frames.iter()).finish()
    }
}

impl std::ops::Index<usize> for Message {
    type Output = Frame;
    fn index(&self, index: usize) -> &Frame {
        &self.frames[index]
    }
}

impl IntoIterator for Message {
    type Item = Frame;
    type IntoIter = smallvec::IntoIter<[Frame; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Frame;
    type IntoIter = std::slice::Iter<'a, Frame>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl<T: Into<Frame>> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().map(Into::into).collect(),
            tail: Tail::default(),
        }
    }
}

impl<T: Into<Frame>> Extend<T> for Message {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.frames.extend(iter.into_iter().map(Into::into));
    }
}

macro_rules! single_frame_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Message {
            fn from(frame: $t) -> Self {
                let mut frames = SmallVec::new();
                frames.push(Frame::from(frame));
                Message { frames, tail: Tail::default() }
            }
        }
    )*};
}
single_frame_from!(Frame, Bytes, Vec<u8>, String, &str, &[u8]);

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(frame: &[u8; N]) -> Self {
        Message::from(&frame[..])
    }
}

impl From<Vec<Frame>> for Message {
    fn from(frames: Vec<Frame>) -> Self {
        Message {
            frames: SmallVec::from_vec(frames),
            tail: Tail::default(),
        }
    }
}

impl From<Vec<Bytes>> for Message {
    fn from(frames: Vec<Bytes>) -> Self {
        frames.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_operations() {
        let mut msg: Message = ["a", "b", "c"].into_iter().collect();
        msg.push_front("id");
        assert_eq!(msg.len(), 4);
        assert_eq!(msg.size(), 5);
        assert_eq!(msg.pop_front().as_deref(), Some(&b"id"[..]));
        let tail = msg.split_off(1);
        assert_eq!(msg.frames(), &[Bytes::from("a")]);
        assert_eq!(tail.into_frames(), vec![Frame::from("b"), Frame::from("c")]);
    }

    #[test]
    fn properties_ride_along_but_do_not_change_equality() {
        let mut meta = Metadata::new();
        meta.insert("User-Id", "admin").unwrap();
        let mut msg: Message = ["envelope", "", "body"].into_iter().collect();
        msg.set_metadata(Some(Arc::new(meta)));
        assert_eq!(msg.property("user-id").map(|v| &v[..]), Some(&b"admin"[..]));
        let body = msg.split_off(2);
        assert_eq!(
            body.property("User-Id").map(|v| &v[..]),
            Some(&b"admin"[..])
        );
        assert_eq!(body, Message::from("body"));
        assert!(Message::from("x").metadata().is_none());
    }

    #[test]
    fn routing_id_rides_along_but_does_not_change_equality() {
        let id = NonZeroU32::new(42).unwrap();
        let mut msg = Message::from("x").to(id);
        assert_eq!(msg.routing_id(), Some(id));
        assert_eq!(msg, Message::from("x"));
        msg.push_back("y");
        assert_eq!(msg.split_off(1).routing_id(), Some(id));
        msg.set_routing_id(None);
        assert_eq!(msg.routing_id(), None);
        assert_eq!(Message::from("z").routing_id(), None);
    }

    #[test]
    fn group_and_routing_id_share_their_room() {
        let id = NonZeroU32::new(0x0102_0304).unwrap();
        let mut msg = Message::from("x").in_group("weather").unwrap();
        assert_eq!(msg.group(), Some(&b"weather"[..]));
        assert_eq!(msg.routing_id(), None);
        assert_eq!(msg.split_off(1).group(), Some(&b"weather"[..]));
        msg.set_routing_id(Some(id));
        assert_eq!((msg.group(), msg.routing_id()), (None, Some(id)));
        msg.set_group([0xfe; 255]).unwrap();
        assert_eq!(
            (msg.group(), msg.routing_id()),
            (Some(&[0xfe; 255][..]), None)
        );
        assert_eq!(msg.clone().group(), Some(&[0xfe; 255][..]));
        assert_eq!(msg.set_group([1; 256]), Err(GroupTooLong(256)));
        assert_eq!(
            msg.group(),
            Some(&[0xfe; 255][..]),
            "a refused group changes nothing"
        );
        msg.set_group("").unwrap();
        assert_eq!(msg.group(), Some(&b""[..]));
        // Properties ride along whatever the message's routing id or group.
        let mut meta = Metadata::new();
        meta.insert("User-Id", "u").unwrap();
        msg.set_metadata(Some(Arc::new(meta)));
        assert_eq!(msg.group(), Some(&b""[..]), "set_metadata keeps the group");
        msg.set_routing_id(Some(id));
        assert!(msg.property("User-Id").is_some());
        msg.set_group("g").unwrap();
        assert!(msg.property("User-Id").is_some());
        msg.set_group_to(None);
        assert_eq!(msg.group(), None);
        assert_eq!(msg, Message::from("x"));
    }

    /// A deliberate size: every queued message costs it (docs/ARCHITECTURE.md counts it
    /// too): two inline frames' room and the tail (properties, routing id, group).
    #[test]
    fn message_size() {
        assert_eq!(std::mem::size_of::<Message>(), 112);
    }

    #[test]
    fn conversions() {
        assert_eq!(Message::from(b"x"), Message::from("x"));
        assert_eq!(Message::from(vec![1u8, 2]).size(), 2);
        assert!(Message::new().is_empty());
        assert_eq!(Message::from(String::from("ab")), Message::from(&b"ab"[..]));
        let frames = vec![Bytes::from("a"), Bytes::from("b")];
        assert_eq!(Message::from(frames), ["a", "b"].into_iter().collect());
    }

    #[test]
    fn small_messages_need_no_heap() {
        let mut msg = Message::from(&[1u8; Frame::INLINE_CAPACITY][..]);
        msg.push_front("routing id");
        assert!(!msg.frames.spilled());
        assert!(msg.iter().all(Frame::is_inline));
    }
}
