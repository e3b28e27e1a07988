//! Frames: ZMTP 3.x (RFC 23), 2.0 (RFC 15) and 1.0 (RFC 13) framing.
//!
//! Decoding splits frame bodies off the read buffer as [`Bytes`] (no copy); every declared
//! length is checked against `maxmsgsize` before anything is reserved for it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Error;

/// Flags bit: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Flags bit (ZMTP 2.0/3.x): the size is 8 bytes.
pub const FLAG_LONG: u8 = 0x02;
/// Flags bit (ZMTP 3.x): this frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;

/// Which framing a connection speaks after its greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// ZMTP 1.0: `length(1 or FF+8, counting the flags byte) flags body`; flags bit0 MORE.
    V1,
    /// ZMTP 2.0: `flags size(1 or 8) body`; flags bit0 MORE, bit1 LONG.
    V2,
    /// ZMTP 3.x: as 2.0, plus bit2 COMMAND.
    V3,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// More frames of the same message follow.
    pub more: bool,
    /// The frame is a command (ZMTP 3.x only).
    pub command: bool,
    /// The body, sliced from the read buffer.
    pub body: Bytes,
}

/// What the header at the front of a buffer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Header length in bytes.
    pub header_len: usize,
    /// Body length in bytes.
    pub body_len: u64,
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
}

impl Header {
    /// Header plus body, in bytes, if it fits in memory.
    pub fn frame_len(&self) -> Option<usize> {
        usize::try_from(self.body_len)
            .ok()
            .and_then(|b| b.checked_add(self.header_len))
    }
}

/// Parses the header at the front of `buf` without consuming it.
///
/// Returns `Ok(None)` when more bytes are needed. `max` is `maxmsgsize` (per frame, as
/// libzmq applies it).
#[inline]
pub fn peek_header(
    buf: &[u8],
    framing: Framing,
    max: Option<u64>,
) -> Result<Option<Header>, Error> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let header = match framing {
        Framing::V3 | Framing::V2 => {
            let allowed = if framing == Framing::V3 {
                FLAG_MORE | FLAG_LONG | FLAG_COMMAND
            } else {
                FLAG_MORE | FLAG_LONG
            };
            if first & !allowed != 0 {
                return Err(Error::ReservedFlags(first));
            }
            let command = first & FLAG_COMMAND != 0;
            let more = first & FLAG_MORE != 0;
            if command && more {
                return Err(Error::CommandWithMore);
            }
            if first & FLAG_LONG != 0 {
                if buf.len() < 9 {
                    return Ok(None);
                }
                let size = u64::from_be_bytes(array8(&buf[1..9]));
                Header {
                    header_len: 9,
                    body_len: size,
                    more,
                    command,
                }
            } else {
                if buf.len() < 2 {
                    return Ok(None);
                }
                Header {
                    header_len: 2,
                    body_len: u64::from(buf[1]),
                    more,
                    command,
                }
            }
        }
        Framing::V1 => {
            // length counts the flags byte; 0xFF announces an 8-byte length.
            let (len, len_size) = if first == 0xFF {
                if buf.len() < 9 {
                    return Ok(None);
                }
                (u64::from_be_bytes(array8(&buf[1..9])), 9)
            } else {
                (u64::from(first), 1)
            };
            if len == 0 {
                return Err(Error::ZeroLengthV1Frame);
            }
            let Some(&flags) = buf.get(len_size) else {
                return Ok(None);
            };
            Header {
                header_len: len_size + 1,
                body_len: len - 1,
                more: flags & FLAG_MORE != 0,
                command: false,
            }
        }
    };
    if let Some(max) = max {
        if header.body_len > max {
            return Err(Error::MessageTooLarge {
                size: header.body_len,
                max,
            });
        }
    }
    Ok(Some(header))
}

/// The header of the frame at the front of `buf` and the frame's whole length, once all of
/// it is there.
#[inline]
fn whole_frame(
    buf: &[u8],
    framing: Framing,
    max: Option<u64>,
) -> Result<Option<(Header, usize)>, Error> {
    let Some(header) = peek_header(buf, framing, max)? else {
        return Ok(None);
    };
    // A size beyond usize can never complete; it waits for bytes that cannot arrive, and
    // maxmsgsize is the guard against such peers.
    Ok(header
        .frame_len()
        .filter(|&total| buf.len() >= total)
        .map(|total| (header, total)))
}

/// Decodes one frame from the front of `buf`, splitting its body off without a copy.
///
/// Returns `Ok(None)` (consuming nothing) when the frame is not complete yet.
#[inline]
pub fn decode(
    buf: &mut BytesMut,
    framing: Framing,
    max: Option<u64>,
) -> Result<Option<Frame>, Error> {
    let Some((header, total)) = whole_frame(buf, framing, max)? else {
        return Ok(None);
    };
    // Split off the whole frame, then step over its header in the frozen `Bytes`: cheaper
    // than advancing the read buffer itself.
    let mut body = buf.split_to(total).freeze();
    body.advance(header.header_len);
    Ok(Some(Frame {
        more: header.more,
        command: header.command,
        body,
    }))
}

/// The most frames in one [`Run`]: bounds the memory its list of headers takes (2 KiB)
/// whatever a peer sends, while one split of the read buffer still serves many frames.
pub const MAX_RUN: usize = 128;

/// Whole frames split off the front of a read buffer at once, then taken one by one: one
/// split of the buffer per run, one reference count per frame, and each header parsed once.
/// What `Connection` decodes from after the handshake.
#[derive(Debug, Default)]
pub struct Run {
    bytes: Bytes,
    frames: Vec<Measured>,
    next: usize,
}

/// What [`Run`] keeps of a frame's header.
#[derive(Debug, Clone, Copy)]
struct Measured {
    total: usize,
    header_len: u8,
    more: bool,
    command: bool,
}

impl Run {
    /// When the run is used up, splits off the whole frames at the front of `buf` (at most
    /// [`MAX_RUN`]) as the next one; returns whether it holds a frame. A frame with a bad
    /// header ends a run; it is the error only when it comes first, so the frames before it
    /// are taken first.
    pub fn refill(
        &mut self,
        buf: &mut BytesMut,
        framing: Framing,
        max: Option<u64>,
    ) -> Result<bool, Error> {
        if self.next < self.frames.len() {
            return Ok(true);
        }
        self.frames.clear();
        self.next = 0;
        let mut at = 0;
        while self.frames.len() < MAX_RUN {
            match whole_frame(&buf[at..], framing, max) {
                Ok(Some((header, total))) => {
                    self.frames.push(Measured {
                        total,
                        // A header is 2 to 10 bytes long.
                        header_len: header.header_len as u8,
                        more: header.more,
                        command: header.command,
                    });
                    at += total;
                }
                Ok(None) => break,
                Err(e) if at == 0 => return Err(e),
                Err(_) => break,
            }
        }
        // No empty split: it would share the read buffer, which then could not grow in place.
        self.bytes = if at > 0 {
            buf.split_to(at).freeze()
        } else {
            Bytes::new()
        };
        Ok(at > 0)
    }

    /// The whole length (header and body) of the run's last frame: the last one split off
    /// the read buffer.
    pub fn last_frame_len(&self) -> Option<usize> {
        self.frames.last().map(|m| m.total)
    }

    /// True when every frame of the run has been taken.
    pub fn is_drained(&self) -> bool {
        self.next >= self.frames.len()
    }

    /// The next frame of the run, its body sliced off without a copy.
    #[inline]
    pub fn next_frame(&mut self) -> Option<Frame> {
        let part = self.next_part(false)?;
        Some(Frame {
            more: part.more,
            command: part.command,
            body: part.body.into(),
        })
    }

    /// The next frame of the run as a message frame. With `inline`, the body of a data
    /// frame (not a command) that fits in [`crate::Frame::INLINE_CAPACITY`] is copied into
    /// it, which leaves the read buffer unshared; otherwise the body is sliced off without
    /// a copy.
    #[inline]
    pub fn next_part(&mut self, inline: bool) -> Option<Part> {
        let frame = *self.frames.get(self.next)?;
        self.next += 1;
        let start = usize::from(frame.header_len);
        let len = frame.total - start;
        let body = if inline && !frame.command && len <= crate::Frame::INLINE_CAPACITY {
            crate::Frame::inline_prefix(&self.bytes[start..], len)
        } else {
            crate::Frame::from(self.bytes.slice(start..frame.total))
        };
        if self.next == self.frames.len() {
            // The run is used up: let go of the read buffer, which can then be reused.
            self.bytes = Bytes::new();
        } else {
            self.bytes.advance(frame.total);
        }
        Some(Part {
            more: frame.more,
            command: frame.command,
            body,
        })
    }
}

/// One decoded frame whose body is a message [`Frame`](crate::Frame) (see
/// [`Run::next_part`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// More frames of the same message follow.
    pub more: bool,
    /// The frame is a command (ZMTP 3.x only).
    pub command: bool,
    /// The body: inline, or sliced from the read buffer.
    pub body: crate::Frame,
}

/// Writes a frame header for a body of `len` bytes.
pub fn encode_header(out: &mut BytesMut, framing: Framing, more: bool, command: bool, len: usize) {
    let len64 = len as u64;
    match framing {
        Framing::V3 | Framing::V2 => {
            let mut flags = if more { FLAG_MORE } else { 0 };
            if command {
                flags |= FLAG_COMMAND;
            }
            if len <= 255 {
                out.put_slice(&[flags, len as u8]);
            } else {
                out.put_u8(flags | FLAG_LONG);
                out.put_u64(len64);
            }
        }
        Framing::V1 => {
            let flags = if more { FLAG_MORE } else { 0 };
            if len < 0xFE {
                out.put_slice(&[len as u8 + 1, flags]);
            } else {
                out.put_u8(0xFF);
                out.put_u64(len64 + 1);
                out.put_u8(flags);
            }
        }
    }
}

/// Writes a whole frame (header and body).
pub fn encode(out: &mut BytesMut, framing: Framing, more: bool, command: bool, body: &[u8]) {
    out.reserve(body.len() + 10);
    encode_header(out, framing, more, command, body.len());
    out.put_slice(body);
}

fn array8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8], framing: Framing) -> Result<Option<Frame>, Error> {
        decode(&mut BytesMut::from(bytes), framing, None)
    }

    #[test]
    fn v3_short_long_more_command() {
        let f = one(&[0x01, 0x02, b'h', b'i'], Framing::V3)
            .unwrap()
            .unwrap();
        assert!(f.more && !f.command);
        assert_eq!(&f.body[..], b"hi");
        let mut long = vec![0x02, 0, 0, 0, 0, 0, 0, 1, 0];
        long.extend(std::iter::repeat(7u8).take(256));
        let f = one(&long, Framing::V3).unwrap().unwrap();
        assert_eq!(f.body.len(), 256);
        let f = one(&[0x04, 0x01, 0], Framing::V3).unwrap().unwrap();
        assert!(f.command);
    }

    #[test]
    fn v3_rejects_bad_flags() {
        assert_eq!(
            one(&[0x08, 0], Framing::V3),
            Err(Error::ReservedFlags(0x08))
        );
        assert_eq!(one(&[0x05, 0], Framing::V3), Err(Error::CommandWithMore));
        assert_eq!(
            one(&[0x04, 0], Framing::V2),
            Err(Error::ReservedFlags(0x04))
        );
    }

    #[test]
    fn maxmsgsize_checked_from_header() {
        let mut buf = BytesMut::from(&[0x02u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert_eq!(
            decode(&mut buf, Framing::V3, Some(100)),
            Err(Error::MessageTooLarge {
                size: u64::MAX,
                max: 100
            })
        );
        // Without a limit, a huge declared size just waits for more bytes.
        assert_eq!(decode(&mut buf, Framing::V3, None), Ok(None));
        assert_eq!(buf.len(), 9);
    }

    #[test]
    fn incomplete_consumes_nothing() {
        let mut buf = BytesMut::from(&[0x00u8, 0x05, b'a'][..]);
        assert_eq!(decode(&mut buf, Framing::V3, None), Ok(None));
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn v1_framing() {
        // ZMTP-NOTES: to a 1.0 peer libzmq frames "hi" as 03 00 'hi'.
        let mut out = BytesMut::new();
        encode(&mut out, Framing::V1, false, false, b"hi");
        assert_eq!(&out[..], b"\x03\x00hi");
        let f = one(&out, Framing::V1).unwrap().unwrap();
        assert_eq!(&f.body[..], b"hi");
        assert_eq!(
            one(&[0x00, 0x00], Framing::V1),
            Err(Error::ZeroLengthV1Frame)
        );
        let mut out = BytesMut::new();
        encode(&mut out, Framing::V1, true, false, &[1u8; 300]);
        assert_eq!(&out[..10], &[0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x2D, 0x01]);
        let f = one(&out, Framing::V1).unwrap().unwrap();
        assert!(f.more);
        assert_eq!(f.body.len(), 300);
    }

    #[test]
    fn v2_framing_matches_notes() {
        let mut out = BytesMut::new();
        encode(&mut out, Framing::V2, false, false, b"hi");
        assert_eq!(&out[..], b"\x00\x02hi");
    }

    #[test]
    fn body_is_not_copied() {
        let mut buf = BytesMut::new();
        encode(&mut buf, Framing::V3, false, false, &vec![9u8; 65536]);
        let start = buf.as_ptr() as usize;
        let f = decode(&mut buf, Framing::V3, None).unwrap().unwrap();
        assert_eq!(f.body.as_ptr() as usize, start + 9);
    }

    #[test]
    fn runs_take_every_frame_in_order_and_stop_before_a_bad_one() {
        let mut buf = BytesMut::new();
        let n = 2 * MAX_RUN + 7;
        for i in 0..n {
            encode(
                &mut buf,
                Framing::V3,
                i % 3 == 0,
                false,
                &(i as u32).to_be_bytes(),
            );
        }
        encode(&mut buf, Framing::V3, false, false, &[7u8; 300]);
        buf.put_slice(&[0x80, 1, 0]); // reserved flag bit
        let mut run = Run::default();
        let mut got = Vec::new();
        let error = loop {
            match run.refill(&mut buf, Framing::V3, None) {
                Ok(true) => {
                    while let Some(f) = run.next_frame() {
                        got.push(f);
                    }
                }
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        assert_eq!(
            got.len(),
            n + 1,
            "every whole frame, across runs of at most MAX_RUN"
        );
        for (i, f) in got[..n].iter().enumerate() {
            assert_eq!(&f.body[..], &(i as u32).to_be_bytes());
            assert_eq!(f.more, i % 3 == 0);
        }
        assert_eq!(got[n].body.len(), 300);
        assert_eq!(error, Some(Error::ReservedFlags(0x80)));
        assert_eq!(&buf[..], &[0x80, 1, 0], "the bad frame stays in the buffer");
    }
}
