//! Multipart messages: a sequence of [`Bytes`] frames.

use bytes::Bytes;
use smallvec::SmallVec;

/// A ZeroMQ message: one or more frames, each a cheaply clonable [`Bytes`].
///
/// A message with no frames is never sent on the wire; sockets refuse it.
/// Cloning a `Message` clones the frame handles, not the frame bodies.
///
/// ```
/// use zmtp_codec::Message;
/// let mut msg = Message::from("world");
/// msg.push_front("hello");
/// assert_eq!(msg.len(), 2);
/// assert_eq!(&msg[0][..], b"hello");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    frames: SmallVec<[Bytes; 2]>,
}

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
        self.frames.iter().map(Bytes::len).sum()
    }

    /// Appends a frame.
    pub fn push_back(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Prepends a frame (used for envelopes and routing ids).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// Removes and returns the last frame.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.frames.pop()
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// The last frame, if any.
    pub fn last(&self) -> Option<&Bytes> {
        self.frames.last()
    }

    /// The frame at `index`, if any.
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.frames.get(index)
    }

    /// The frames as a slice.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// Iterates over the frames.
    pub fn iter(&self) -> std::slice::Iter<'_, Bytes> {
        self.frames.iter()
    }

    /// Splits off and returns the frames from `at` on, leaving `0..at` in `self`.
    ///
    /// # Panics
    /// If `at > self.len()`.
    pub fn split_off(&mut self, at: usize) -> Message {
        let tail: SmallVec<[Bytes; 2]> = self.frames.drain(at..).collect();
        Message { frames: tail }
    }

    /// Consumes the message and returns its frames.
    pub fn into_frames(self) -> Vec<Bytes> {
        self.frames.into_vec()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.frames.iter()).finish()
    }
}

impl std::ops::Index<usize> for Message {
    type Output = Bytes;
    fn index(&self, index: usize) -> &Bytes {
        &self.frames[index]
    }
}

impl IntoIterator for Message {
    type Item = Bytes;
    type IntoIter = smallvec::IntoIter<[Bytes; 2]>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.into_iter()
    }
}

impl<'a> IntoIterator for &'a Message {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;
    fn into_iter(self) -> Self::IntoIter {
        self.frames.iter()
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Message {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Message {
            frames: iter.into_iter().map(Into::into).collect(),
        }
    }
}

impl<T: Into<Bytes>> Extend<T> for Message {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.frames.extend(iter.into_iter().map(Into::into));
    }
}

macro_rules! single_frame_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Message {
            fn from(frame: $t) -> Self {
                let mut frames = SmallVec::new();
                frames.push(Bytes::from(frame));
                Message { frames }
            }
        }
    )*};
}
single_frame_from!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl<const N: usize> From<&'static [u8; N]> for Message {
    fn from(frame: &'static [u8; N]) -> Self {
        Message::from(&frame[..])
    }
}

impl From<Vec<Bytes>> for Message {
    fn from(frames: Vec<Bytes>) -> Self {
        Message {
            frames: SmallVec::from_vec(frames),
        }
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
        assert_eq!(tail.into_frames(), vec![Bytes::from("b"), Bytes::from("c")]);
    }

    #[test]
    fn conversions() {
        assert_eq!(Message::from(b"x"), Message::from("x"));
        assert_eq!(Message::from(vec![1u8, 2]).size(), 2);
        assert!(Message::new().is_empty());
    }
}
