//! libzmq's framing of messages into PGM TSDUs, both directions.
//!
//! Each TSDU libzmq sends is `offset(2, big-endian) data`, where `data` is a slice of one
//! continuous stream of ZMTP 1.0 frames (`length(1, or FF + 8) flags(1) body`, the length
//! counting the flags byte; flags bit 0 is MORE) and `offset` is where the first *message*
//! (not frame) starting in this TSDU begins, or `0xFFFF` when none does. Frames and even frame
//! headers run across TSDUs. A receiver that joins mid-stream, or lost data, skips TSDUs until
//! one has an offset and starts decoding there.
//!
//! [`Encoder`] packs exactly as libzmq's `pgm_sender` does, so that the same messages give
//! the same bytes; one quirk follows: when the queued messages end inside a TSDU, the offset
//! points at the end of the data (where the next message *would* start), even though no
//! message starts in that TSDU.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zmtp_codec::frame::{self, Framing};
use zmtp_codec::{Frame, Message};

/// The offset value meaning "no message starts in this TSDU".
pub const NO_OFFSET: u16 = 0xffff;

/// Why a TSDU could not be decoded; the decoder has dropped the partial message and waits
/// for the next message boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// Shorter than the 2-byte offset.
    #[error("TSDU shorter than its offset field")]
    Short,
    /// The offset points past the end of the TSDU.
    #[error("TSDU offset {offset} beyond its {len} data bytes")]
    OffsetOutOfRange {
        /// The offset.
        offset: u16,
        /// The data bytes present.
        len: usize,
    },
    /// A ZMTP 1.0 frame was malformed or larger than the limit.
    #[error(transparent)]
    Frame(#[from] zmtp_codec::Error),
}

/// Packs messages into TSDUs as libzmq's PGM sender does.
#[derive(Debug)]
pub struct Encoder {
    max_tsdu: usize,
    /// Frames waiting, each with its MORE flag.
    frames: VecDeque<(Frame, bool)>,
    /// The frame being written: its header and body, from `pos` on.
    current: Option<(Bytes, Frame)>,
    pos: usize,
    /// The last frame taken had MORE set (so the next one does not start a message).
    more: bool,
}

impl Encoder {
    /// An encoder for TSDUs of at most `max_tsdu` bytes (libzmq uses OpenPGM's `PGM_MSS`:
    /// 1428 for epgm over IPv4 with the default 1500-byte TPDU); at least 3.
    pub fn new(max_tsdu: usize) -> Self {
        Encoder {
            max_tsdu: max_tsdu.max(3),
            frames: VecDeque::new(),
            current: None,
            pos: 0,
            more: false,
        }
    }

    /// Queues a message. The caller bounds how many it queues (the socket's high-water mark)
    /// and drains with [`poll_tsdu`](Self::poll_tsdu).
    pub fn push(&mut self, message: &Message) {
        let n = message.len();
        for (i, f) in message.iter().enumerate() {
            self.frames.push_back((f.clone(), i + 1 < n));
        }
    }

    /// Frames queued and not yet fully written.
    pub fn pending_frames(&self) -> usize {
        self.frames.len() + usize::from(self.current.is_some())
    }

    /// The next TSDU, holding as much of the queued data as fits; `None` when nothing is
    /// queued.
    #[must_use]
    pub fn poll_tsdu(&mut self) -> Option<Bytes> {
        let cap = self.max_tsdu - 2;
        let mut out = BytesMut::with_capacity(self.max_tsdu);
        out.put_u16(NO_OFFSET);
        let mut offset = NO_OFFSET;
        self.write_current(&mut out, cap);
        while out.len() - 2 < cap {
            if !self.more && offset == NO_OFFSET {
                offset = (out.len() - 2) as u16;
            }
            let Some((body, more)) = self.frames.pop_front() else {
                break;
            };
            self.more = more;
            let mut header = BytesMut::with_capacity(10);
            frame::encode_header(&mut header, Framing::V1, more, false, body.len());
            self.current = Some((header.freeze(), body));
            self.pos = 0;
            self.write_current(&mut out, cap);
        }
        if out.len() == 2 {
            return None;
        }
        out[..2].copy_from_slice(&offset.to_be_bytes());
        Some(out.freeze())
    }

    /// Copies the current frame into `out` until it ends or `out` holds `cap` data bytes.
    fn write_current(&mut self, out: &mut BytesMut, cap: usize) {
        let Some((header, body)) = &self.current else {
            return;
        };
        let total = header.len() + body.len();
        while self.pos < total && out.len() - 2 < cap {
            let room = cap - (out.len() - 2);
            let (part, at) = if self.pos < header.len() {
                (&header[..], self.pos)
            } else {
                (&body[..], self.pos - header.len())
            };
            let n = room.min(part.len() - at);
            out.put_slice(&part[at..at + n]);
            self.pos += n;
        }
        if self.pos == total {
            self.current = None;
        }
    }
}

/// Reassembles messages from one source's TSDUs, as libzmq's PGM receiver does.
#[derive(Debug)]
pub struct Decoder {
    max_msg_size: Option<u64>,
    joined: bool,
    /// Bytes of a frame not yet whole.
    buf: BytesMut,
    /// Frames of the message in progress.
    parts: Vec<Bytes>,
}

impl Decoder {
    /// A decoder that refuses frames larger than `max_msg_size` (libzmq's `ZMQ_MAXMSGSIZE`;
    /// `None` is unlimited). The limit also bounds what the decoder buffers.
    pub fn new(max_msg_size: Option<u64>) -> Self {
        Decoder {
            max_msg_size,
            joined: false,
            buf: BytesMut::new(),
            parts: Vec::new(),
        }
    }

    /// Whether the decoder is in step with the stream (it has seen a message boundary since
    /// it started or since the last loss or error).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Data was lost before the next TSDU: drop the message in progress and wait for the next
    /// message boundary.
    pub fn handle_loss(&mut self) {
        self.joined = false;
        self.buf.clear();
        self.parts.clear();
    }

    /// Feeds the next in-order TSDU; whole messages are appended to `out`. On an error the
    /// decoder has resynchronised (as after [`handle_loss`](Self::handle_loss)) and the
    /// messages appended before it stand.
    pub fn handle_tsdu(
        &mut self,
        tsdu: &Bytes,
        out: &mut Vec<Message>,
    ) -> Result<(), FramingError> {
        if tsdu.len() < 2 {
            self.handle_loss();
            return Err(FramingError::Short);
        }
        let offset = u16::from_be_bytes([tsdu[0], tsdu[1]]);
        let mut data = tsdu.slice(2..);
        if !self.joined {
            if offset == NO_OFFSET {
                return Ok(());
            }
            if usize::from(offset) > data.len() {
                return Err(FramingError::OffsetOutOfRange {
                    offset,
                    len: data.len(),
                });
            }
            data.advance(usize::from(offset));
            self.joined = true;
        }
        self.buf.extend_from_slice(&data);
        let mut buf = std::mem::take(&mut self.buf);
        let r = self.drain(&mut buf, out);
        self.buf = buf;
        r
    }

    fn drain(&mut self, buf: &mut BytesMut, out: &mut Vec<Message>) -> Result<(), FramingError> {
        loop {
            match frame::decode(buf, Framing::V1, self.max_msg_size) {
                Ok(Some(f)) => {
                    self.parts.push(f.body);
                    if !f.more {
                        out.push(Message::from(std::mem::take(&mut self.parts)));
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    buf.clear();
                    self.handle_loss();
                    return Err(e.into());
                }
            }
        }
    }
}
