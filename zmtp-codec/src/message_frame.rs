//! One frame of a [`Message`](crate::Message): small bodies held inline, larger ones shared.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::{Bytes, BytesMut};

/// The body of one message frame.
///
/// A body of up to [`Frame::INLINE_CAPACITY`] bytes is held in the `Frame` itself, so
/// building, sending and receiving a small message touches no heap (libzmq keeps messages
/// of up to 33 bytes inline, its "VSM"s); a larger one is a [`Bytes`], shared by reference
/// count. Cloning is cheap either way.
///
/// A `Frame` reads as a byte slice (`Deref<Target = [u8]>`) and compares, hashes and orders
/// as one. It is built from every owned or borrowed byte container; a slice or `&str` is
/// copied (inline when it fits, up to [`Frame::CARVED_CAPACITY`] bytes into a buffer the
/// thread shares among such copies, see [`Frame::copy_from_slice`]), a `Vec<u8>`, `String`
/// or `Bytes` is taken without a copy when it does not fit inline. [`Bytes::from`] gives the
/// body back as a `Bytes`, copying only an inline one.
///
/// ```
/// use bytes::Bytes;
/// use zmtp_codec::Frame;
/// let small = Frame::from(&b"hello"[..]);
/// assert!(small.is_inline());
/// assert_eq!(small, "hello");
/// let large = Frame::from(vec![7u8; 1000]);
/// assert!(!large.is_inline());
/// assert_eq!(Bytes::from(small), Bytes::from("hello"));
/// ```
#[derive(Clone)]
pub struct Frame(Repr);

#[derive(Clone)]
enum Repr {
    /// `data[..len]` is the body.
    Inline {
        len: u8,
        data: [u8; Frame::INLINE_CAPACITY],
    },
    Shared(Bytes),
}

impl Frame {
    /// The largest body held inline (no heap): 38 bytes, so that a `Frame` is 40 bytes, a
    /// `Bytes` plus a tag.
    pub const INLINE_CAPACITY: usize = 38;

    /// An empty frame.
    pub const fn new() -> Self {
        Frame(Repr::Inline {
            len: 0,
            data: [0; Frame::INLINE_CAPACITY],
        })
    }

    /// A frame with a copy of `body`: inline when it fits; up to
    /// [`Frame::CARVED_CAPACITY`] bytes carved from a buffer this thread shares among such
    /// frames; larger in a new `Bytes` of its own.
    ///
    /// Carving spares each body of 39 to 128 bytes its own allocation (a PUSH sending
    /// 64-byte messages allocates once every 128 of them, or not at all once the receiver
    /// has dropped the earlier ones and the buffer is taken back), as a frame received over
    /// tcp or ipc shares the connection's read buffer. The buffer (8 KiB) is freed when the
    /// last frame carved from it is dropped, so a frame kept long keeps its buffer: to hold
    /// a few such frames for a long time apart from the others, build them from a `Vec<u8>`
    /// (or copy them with `Frame::from(body.to_vec())`), which gives each its own allocation.
    #[inline]
    pub fn copy_from_slice(body: &[u8]) -> Self {
        Self::inline(body).unwrap_or_else(|| Frame::copy_shared(body))
    }

    /// The largest body [`Frame::copy_from_slice`] carves from a buffer of its thread.
    pub const CARVED_CAPACITY: usize = carve::BODY_MAX;

    #[inline(never)]
    fn copy_shared(body: &[u8]) -> Self {
        Frame(Repr::Shared(if body.len() <= carve::BODY_MAX {
            carve::copy(body)
        } else {
            Bytes::copy_from_slice(body)
        }))
    }

    /// A frame of a static slice, without a copy (it is shared, not inline, whatever its
    /// size).
    pub const fn from_static(body: &'static [u8]) -> Self {
        Frame(Repr::Shared(Bytes::from_static(body)))
    }

    /// A copy of `body` inline, if it fits.
    #[inline]
    fn inline(body: &[u8]) -> Option<Self> {
        let len = u8::try_from(body.len())
            .ok()
            .filter(|&len| usize::from(len) <= Frame::INLINE_CAPACITY)?;
        let mut data = [0; Frame::INLINE_CAPACITY];
        data[..body.len()].copy_from_slice(body);
        Some(Frame(Repr::Inline { len, data }))
    }

    /// An inline frame of the first `len` bytes of `window`, which must hold them and
    /// `len` must fit inline. When `window` holds [`Frame::INLINE_CAPACITY`] bytes or more,
    /// that many are copied: a copy of a fixed size, cheaper than one of `len` bytes (the
    /// bytes past `len` are never read).
    #[inline]
    pub(crate) fn inline_prefix(window: &[u8], len: usize) -> Self {
        debug_assert!(len <= Frame::INLINE_CAPACITY);
        match window.get(..Frame::INLINE_CAPACITY) {
            Some(whole) => {
                let mut data = [0; Frame::INLINE_CAPACITY];
                data.copy_from_slice(whole);
                Frame(Repr::Inline {
                    len: len as u8,
                    data,
                })
            }
            // Apart, so that the compiler does not merge the two copies into one of a
            // variable size.
            None => Frame::copy_apart(&window[..len]),
        }
    }

    #[cold]
    #[inline(never)]
    fn copy_apart(body: &[u8]) -> Self {
        Frame::copy_from_slice(body)
    }

    /// True when the body is held inline (no heap, nothing shared).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The body as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// A frame of `self[range]`: inline when it fits, otherwise a shared slice (no copy).
    ///
    /// # Panics
    /// If the range is out of bounds, as [`Bytes::slice`].
    pub fn slice(&self, range: impl std::ops::RangeBounds<usize>) -> Frame {
        match &self.0 {
            Repr::Inline { .. } => {
                let range = (range.start_bound().cloned(), range.end_bound().cloned());
                Frame::copy_from_slice(&self.as_slice()[range])
            }
            Repr::Shared(bytes) => Frame::from(bytes.slice(range)),
        }
    }
}

impl Default for Frame {
    fn default() -> Self {
        Frame::new()
    }
}

impl Deref for Frame {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Frame {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Frame {
    /// As [`Bytes`] shows itself: `b"..."` with escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.as_slice() {
            match b {
                b'\0' => f.write_str("\\0")?,
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", char::from(b))?,
                0x20..=0x7e => write!(f, "{}", char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl Hash for Frame {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Frame {}

impl PartialOrd for Frame {
    fn partial_cmp(&self, other: &Frame) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Frame {
    fn cmp(&self, other: &Frame) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

/// `Frame == T` and `T == Frame` for byte containers that read as a slice.
macro_rules! eq_as_slice {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> PartialEq<$t> for Frame {
            fn eq(&self, other: &$t) -> bool {
                self.as_slice() == AsRef::<[u8]>::as_ref(other)
            }
        }
        impl<$($g)*> PartialEq<Frame> for $t {
            fn eq(&self, other: &Frame) -> bool {
                AsRef::<[u8]>::as_ref(self) == other.as_slice()
            }
        }
    )*};
}
eq_as_slice!(
    [] [u8],
    ['a] &'a [u8],
    [] str,
    ['a] &'a str,
    [] Vec<u8>,
    [] String,
    [] Bytes,
    [] BytesMut,
    [const N: usize] [u8; N],
    ['a, const N: usize] &'a [u8; N],
);

/// Small bodies copied into a buffer of the calling thread and split off it, each a `Bytes`
/// sharing the buffer's allocation.
mod carve {
    use std::cell::RefCell;

    use bytes::{Bytes, BytesMut};

    /// The largest body carved.
    pub(super) const BODY_MAX: usize = 128;
    /// The size of a buffer; a fresh one is allocated when the current one is full and
    /// frames carved from it are still alive, and the same one is reused when none are.
    const BUFFER: usize = 8 * 1024;

    thread_local! {
        static BUFFER_OF_THREAD: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    }

    /// A `Bytes` holding a copy of `body` (at most `BODY_MAX` bytes).
    pub(super) fn copy(body: &[u8]) -> Bytes {
        debug_assert!(body.len() <= BODY_MAX);
        BUFFER_OF_THREAD
            .try_with(|buffer| {
                let mut buffer = buffer.borrow_mut();
                if buffer.capacity() < body.len() {
                    // Takes the buffer back when every frame carved from it is gone,
                    // otherwise allocates another.
                    buffer.reserve(BUFFER);
                }
                buffer.extend_from_slice(body);
                buffer.split().freeze()
            })
            // The thread's buffer is already destroyed (a thread-local destructor
            // building a frame): a body of its own.
            .unwrap_or_else(|_| Bytes::copy_from_slice(body))
    }
}

impl From<Bytes> for Frame {
    /// Takes the `Bytes` as it is, without a copy, whatever its size.
    #[inline]
    fn from(bytes: Bytes) -> Self {
        Frame(Repr::Shared(bytes))
    }
}

impl From<BytesMut> for Frame {
    fn from(bytes: BytesMut) -> Self {
        Frame::inline(&bytes).unwrap_or_else(|| Frame::from(bytes.freeze()))
    }
}

impl From<Vec<u8>> for Frame {
    /// Inline when it fits (the vector is dropped), otherwise the vector's buffer, not
    /// copied.
    fn from(vec: Vec<u8>) -> Self {
        Frame::inline(&vec).unwrap_or_else(|| Frame::from(Bytes::from(vec)))
    }
}

impl From<String> for Frame {
    /// As `From<Vec<u8>>`.
    fn from(s: String) -> Self {
        Frame::from(s.into_bytes())
    }
}

impl From<&[u8]> for Frame {
    /// A copy: see [`Frame::copy_from_slice`] (and [`Frame::from_static`] for a static
    /// slice shared without a copy).
    #[inline]
    fn from(body: &[u8]) -> Self {
        Frame::copy_from_slice(body)
    }
}

impl<const N: usize> From<&[u8; N]> for Frame {
    /// A copy: see [`Frame::copy_from_slice`].
    fn from(body: &[u8; N]) -> Self {
        Frame::copy_from_slice(body)
    }
}

impl<const N: usize> From<[u8; N]> for Frame {
    /// A copy: see [`Frame::copy_from_slice`].
    fn from(body: [u8; N]) -> Self {
        Frame::copy_from_slice(&body)
    }
}

impl From<&str> for Frame {
    /// A copy: see [`Frame::copy_from_slice`].
    fn from(s: &str) -> Self {
        Frame::copy_from_slice(s.as_bytes())
    }
}

impl From<&Frame> for Frame {
    fn from(frame: &Frame) -> Self {
        frame.clone()
    }
}

impl From<Frame> for Bytes {
    /// The shared body as it is, or a copy of an inline one.
    fn from(frame: Frame) -> Self {
        match frame.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(frame.as_slice()),
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl From<Frame> for Vec<u8> {
    fn from(frame: Frame) -> Self {
        match frame.0 {
            Repr::Inline { .. } => frame.as_slice().to_vec(),
            Repr::Shared(bytes) => Vec::from(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn small_bodies_are_inline_and_large_ones_shared() {
        let max = vec![1u8; Frame::INLINE_CAPACITY];
        assert!(Frame::from(&max[..]).is_inline());
        assert!(Frame::from(max.clone()).is_inline());
        let over = vec![1u8; Frame::INLINE_CAPACITY + 1];
        assert!(!Frame::from(&over[..]).is_inline());
        assert!(!Frame::from(over.clone()).is_inline());
        assert_eq!(Frame::from(over.clone()), over);
        assert!(Frame::new().is_empty());
        assert!(Frame::new().is_inline());
        // Bytes and static slices are taken as they are.
        assert!(!Frame::from(Bytes::from_static(b"x")).is_inline());
        assert!(!Frame::from_static(b"x").is_inline());
    }

    #[test]
    fn carved_bodies_keep_their_bytes_and_lie_side_by_side() {
        // Bodies of every carved size, across several buffers, each checked after all the
        // later ones were carved (a later carve never writes over an earlier frame).
        let bodies: Vec<Vec<u8>> = (0..600)
            .map(|i| {
                let len = Frame::INLINE_CAPACITY
                    + 1
                    + i % (Frame::CARVED_CAPACITY - Frame::INLINE_CAPACITY);
                (0..len).map(|j| (i * 7 + j) as u8).collect()
            })
            .collect();
        let frames: Vec<Frame> = bodies.iter().map(|b| Frame::copy_from_slice(b)).collect();
        for (frame, body) in frames.iter().zip(&bodies) {
            assert!(!frame.is_inline());
            assert_eq!(frame, body);
        }
        // Sent to another thread and dropped there, as a receiver does.
        std::thread::spawn(move || drop(frames)).join().unwrap();

        // Carved one after another from one buffer: of 10 bodies of 64 bytes, at most one
        // starts a new buffer (8 KiB hold 128 of them).
        let run: Vec<Frame> = (0..10)
            .map(|_| Frame::copy_from_slice(&[9u8; 64]))
            .collect();
        let adjacent = run
            .windows(2)
            .filter(|w| w[1].as_ptr() as usize == w[0].as_ptr() as usize + 64)
            .count();
        assert!(adjacent >= 8, "{adjacent} of 9 adjacent");
        // A body over the carved size is copied whole (that it has an allocation of its own,
        // and that a buffer is taken back, tests/allocations.rs counts).
        let large = Frame::copy_from_slice(&[1u8; Frame::CARVED_CAPACITY + 1]);
        assert_eq!(large.len(), Frame::CARVED_CAPACITY + 1);
    }

    #[test]
    fn an_inline_prefix_is_its_bytes_whatever_follows_them() {
        let window: Vec<u8> = (0..100).collect();
        let f = Frame::inline_prefix(&window, 5);
        assert_eq!(f, [0u8, 1, 2, 3, 4]);
        assert_eq!(f, Frame::from(&window[..5]));
        let short = Frame::inline_prefix(&window[..7], 7);
        assert_eq!(short, &window[..7]);
        assert!(short.is_inline());
    }

    #[test]
    fn value_semantics_do_not_depend_on_the_form() {
        let inline = Frame::from("abc");
        let shared = Frame::from(Bytes::from("abc"));
        assert_eq!(inline, shared);
        let set: HashSet<Frame> = [inline.clone(), shared.clone()].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains(&b"abc"[..]));
        let later = Frame::from("abd");
        assert!(later > shared);
        assert_eq!(format!("{inline:?}"), format!("{:?}", Bytes::from("abc")));
        let odd = Frame::from(&b"\x00\"\\\n\r\t\xff z"[..]);
        assert_eq!(
            format!("{odd:?}"),
            format!("{:?}", Bytes::from(&b"\x00\"\\\n\r\t\xff z"[..]))
        );
    }

    #[test]
    fn comparisons_and_conversions() {
        let f = Frame::from("hello");
        assert_eq!(f, "hello");
        assert_eq!(f, b"hello");
        assert_eq!(f, &b"hello"[..]);
        assert_eq!(f, Bytes::from("hello"));
        assert_eq!(Bytes::from("hello"), f);
        assert_eq!(f, b"hello".to_vec());
        assert_eq!(f, String::from("hello"));
        assert_eq!(Bytes::from(f.clone()), Bytes::from("hello"));
        assert_eq!(Vec::from(f.clone()), b"hello".to_vec());
        let big = Bytes::from(vec![3u8; 100]);
        let frame = Frame::from(big.clone());
        // A shared body comes back as the same buffer.
        assert_eq!(Bytes::from(frame).as_ptr(), big.as_ptr());
    }

    #[test]
    fn slices_keep_or_take_the_inline_form() {
        let f = Frame::from("hello world");
        assert_eq!(f.slice(6..), "world");
        assert!(f.slice(..5).is_inline());
        let big = Frame::from(vec![5u8; 100]);
        let tail = big.slice(90..);
        assert_eq!(tail, [5u8; 10]);
        assert!(!tail.is_inline());
    }
}
