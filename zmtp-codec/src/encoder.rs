//! What a socket's message becomes on the wire once the handshake is done: one set of rules
//! for [`Connection::send`](crate::Connection::send) and for an [`Encoder`] copied out of a
//! connection to encode elsewhere (a socket writing straight from the sending task).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::connection::ZERO_COPY_THRESHOLD;
use crate::frame::{self, Framing};
use crate::socket_type::SocketType;
use crate::subscription::Subscription;
use crate::{Command, Error, Frame, Membership, Message};

/// Where the rules put frames and commands: a connection (through its mechanism, when that
/// wraps frames) or plain output buffers.
pub(crate) trait FrameSink {
    fn frame(&mut self, more: bool, body: &Frame);
    fn command(&mut self, cmd: &Command);
}

/// The rules, for a non-empty message: with `subscription_commands` (a SUB or XSUB whose
/// peer takes commands for them, 3.1) a `0x01`/`0x00` one-frame message is SUBSCRIBE/CANCEL;
/// a DISH's JOIN/LEAVE is a command; a RADIO's message is its group frame (with MORE) then
/// its body (RFC 48); the rest are the message's frames, MORE on all but the last.
#[inline]
pub(crate) fn encode_message(
    socket_type: SocketType,
    subscription_commands: bool,
    msg: &Message,
    sink: &mut impl FrameSink,
) {
    if subscription_commands {
        if let Some(sub) = Subscription::from_message(msg) {
            sink.command(&Command::from(sub));
            return;
        }
    }
    match socket_type {
        SocketType::Dish => {
            if let Some(m) = Membership::from_message(msg) {
                let (name, group): (&'static [u8], _) = match m {
                    Membership::Join(g) => (b"JOIN", g),
                    Membership::Leave(g) => (b"LEAVE", g),
                };
                sink.command(&Command::Other {
                    name: Bytes::from_static(name),
                    data: Bytes::copy_from_slice(&group),
                });
                return;
            }
        }
        SocketType::Radio => {
            sink.frame(true, &Frame::from(msg.group().unwrap_or_default()));
        }
        _ => {}
    }
    let last = msg.len() - 1;
    for (i, f) in msg.iter().enumerate() {
        sink.frame(i < last, f);
    }
}

/// Plain output (no mechanism wrapping frames), in wire order: everything in `queue`, then
/// `out`. Small frames are copied into `out`; a large one goes to `queue` by reference
/// behind its header, never copied.
pub(crate) struct Plain<'a> {
    pub(crate) framing: Framing,
    pub(crate) out: &'a mut BytesMut,
    pub(crate) queue: &'a mut VecDeque<Bytes>,
}

impl FrameSink for Plain<'_> {
    fn frame(&mut self, more: bool, body: &Frame) {
        put_frame(self.out, self.queue, self.framing, more, body);
    }

    fn command(&mut self, cmd: &Command) {
        cmd.encode(self.out);
    }
}

/// One unwrapped data frame into plain output (see [`Plain`]).
#[inline]
pub(crate) fn put_frame(
    out: &mut BytesMut,
    queue: &mut VecDeque<Bytes>,
    framing: Framing,
    more: bool,
    body: &Frame,
) {
    if body.len() >= ZERO_COPY_THRESHOLD {
        frame::encode_header(out, framing, more, false, body.len());
        queue.push_back(out.split().freeze());
        queue.push_back(Bytes::from(body.clone()));
    } else {
        if !queue.is_empty() && !out.is_empty() {
            // Keep order: small frames after a queued large one go behind it.
            queue.push_back(out.split().freeze());
        }
        frame::encode(out, framing, more, false, body);
    }
}

/// How one connection, its handshake done, encodes messages, when that takes nothing of the
/// connection's changing state: no mechanism wrapping frames (CURVE boxes each frame with
/// the next nonce) and no ZWS. [`Connection::encoder`](crate::Connection::encoder) hands
/// one out; it encodes exactly as the connection's [`send`](crate::Connection::send) would,
/// so that a message can be encoded and written without the connection, in the order its
/// caller keeps.
///
/// ```
/// use std::collections::VecDeque;
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use zmtp_codec::{Config, Connection, SocketType};
///
/// let now = Instant::now();
/// let mut a = Connection::new(Config::new(SocketType::Push), now).unwrap();
/// let mut b = Connection::new(Config::new(SocketType::Pull), now).unwrap();
/// for _ in 0..4 {
///     while let Some(bytes) = a.poll_transmit() { b.handle_input(now, &bytes).unwrap(); }
///     while let Some(bytes) = b.poll_transmit() { a.handle_input(now, &bytes).unwrap(); }
/// }
/// let encoder = a.encoder().expect("NULL, handshake done");
/// let (mut out, mut queue) = (BytesMut::new(), VecDeque::new());
/// encoder.encode(&"hello".into(), &mut out, &mut queue).unwrap();
/// a.send(&"hello".into()).unwrap();
/// assert_eq!(a.poll_transmit().as_deref(), Some(&out[..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoder {
    pub(crate) socket_type: SocketType,
    pub(crate) framing: Framing,
    /// A subscriber's subscriptions go out as SUBSCRIBE/CANCEL commands.
    pub(crate) subscription_commands: bool,
}

impl Encoder {
    /// Appends `msg`'s encoding: `queue` holds what goes first (large bodies by reference,
    /// and whatever was in `out` before them), `out` what follows. An empty message is the
    /// caller's mistake ([`Error::EmptyMessage`]) and encodes nothing.
    pub fn encode(
        &self,
        msg: &Message,
        out: &mut BytesMut,
        queue: &mut VecDeque<Bytes>,
    ) -> Result<(), Error> {
        if msg.is_empty() {
            return Err(Error::EmptyMessage);
        }
        let mut sink = Plain {
            framing: self.framing,
            out,
            queue,
        };
        encode_message(self.socket_type, self.subscription_commands, msg, &mut sink);
        Ok(())
    }
}
