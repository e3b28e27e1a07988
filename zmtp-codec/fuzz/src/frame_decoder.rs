//! `frame_decoder`: arbitrary bytes through `frame::decode`, for every framing, with and
//! without `maxmsgsize`.
//!
//! Input: `max(u16 LE) chunk(u8) stream…`. Invariants:
//! - every decoded frame re-encodes (with `frame::encode`) to bytes that decode to the same
//!   frame and nothing else; for 2.0/3.x a re-encoding of the same length is byte-identical
//!   (the flags byte has no ignored bits there);
//! - a frame's consumed length is what `peek_header` announced;
//! - `Ok(None)` consumes nothing;
//! - decoding the stream at once or fed in chunks gives the same frames and the same error;
//! - with a limit, the frames are a prefix of those without, and the only new outcome is
//!   `MessageTooLarge` for a frame that is larger than the limit;
//! - splitting off runs of whole frames and taking frames from them (`frame::Run`), as
//!   `Connection` does, gives the same frames, error and leftover.

use bytes::BytesMut;
use zmtp_codec::frame::{self, Frame, Framing};
use zmtp_codec::Error;

use crate::input::Input;

/// What decoding a whole stream gives.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<Error>,
    leftover: usize,
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let max = u64::from(input.u16());
    let chunk = usize::from(input.u8() % 64) + 1;
    let stream = input.rest();
    for framing in [Framing::V1, Framing::V2, Framing::V3] {
        let unlimited = decode_all(stream, framing, None);
        assert_eq!(unlimited, decode_runs(stream, framing, None));
        assert_eq!(unlimited, decode_chunked(stream, framing, None, chunk));
        assert_eq!(unlimited, decode_chunked(stream, framing, None, 1));
        let limited = decode_all(stream, framing, Some(max));
        assert_eq!(limited, decode_runs(stream, framing, Some(max)));
        assert_eq!(limited, decode_chunked(stream, framing, Some(max), chunk));
        assert!(limited.frames.iter().all(|f| f.body.len() as u64 <= max));
        assert_eq!(
            limited.frames[..],
            unlimited.frames[..limited.frames.len()],
            "a limit changes which frames decode"
        );
        match &limited.error {
            Some(Error::MessageTooLarge { size, max: m }) => {
                assert_eq!(*m, max);
                assert!(*size > max);
                // Without the limit that frame either decodes with that size or waits.
                match unlimited.frames.get(limited.frames.len()) {
                    Some(f) => assert_eq!(f.body.len() as u64, *size),
                    None => assert!(unlimited.error.is_none()),
                }
            }
            _ => assert_eq!(limited, unlimited),
        }
    }
}

/// Decodes frames from the whole stream until it errs or needs more, checking each frame.
fn decode_all(stream: &[u8], framing: Framing, max: Option<u64>) -> Outcome {
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    let error = decode_available(&mut buf, stream, framing, max, &mut frames).err();
    Outcome {
        frames,
        error,
        leftover: buf.len(),
    }
}

/// The same stream decoded as `Connection` does after the handshake: runs of whole frames
/// split off at once, each frame taken from its run.
fn decode_runs(stream: &[u8], framing: Framing, max: Option<u64>) -> Outcome {
    let mut buf = BytesMut::from(stream);
    let mut run = frame::Run::default();
    let mut frames = Vec::new();
    let error = loop {
        match run.refill(&mut buf, framing, max) {
            Ok(true) => {
                while let Some(f) = run.next_frame() {
                    frames.push(f);
                }
            }
            Ok(false) => break None,
            Err(e) => break Some(e),
        }
    };
    Outcome {
        frames,
        error,
        leftover: buf.len(),
    }
}

/// The same stream, appended `chunk` bytes at a time with a decode pass after each.
fn decode_chunked(stream: &[u8], framing: Framing, max: Option<u64>, chunk: usize) -> Outcome {
    // Room for the whole stream up front: frames split off keep the buffer shared, and
    // growing a shared BytesMut one byte at a time would copy it every time.
    let mut buf = BytesMut::with_capacity(stream.len());
    let mut frames = Vec::new();
    let mut fed = 0;
    for part in stream.chunks(chunk) {
        buf.extend_from_slice(part);
        fed += part.len();
        if let Err(e) = decode_available(&mut buf, &stream[..fed], framing, max, &mut frames) {
            // The rest of the stream is never looked at, as in decode_all.
            let leftover = buf.len() + stream.len() - fed;
            return Outcome {
                frames,
                error: Some(e),
                leftover,
            };
        }
    }
    Outcome {
        frames,
        error: None,
        leftover: buf.len(),
    }
}

/// Decodes what `buf` holds; `fed` is everything appended so far (so `buf` is its tail).
fn decode_available(
    buf: &mut BytesMut,
    fed: &[u8],
    framing: Framing,
    max: Option<u64>,
    frames: &mut Vec<Frame>,
) -> Result<(), Error> {
    loop {
        let before = buf.len();
        let start = fed.len() - before;
        let peeked = frame::peek_header(buf, framing, max);
        match frame::decode(buf, framing, max) {
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                assert!(peeked.is_ok(), "peek failed where decode waits");
                return Ok(());
            }
            Err(e) => {
                assert_eq!(buf.len(), before, "an error consumed bytes");
                assert_eq!(peeked, Err(e.clone()), "peek and decode disagree");
                return Err(e);
            }
            Ok(Some(f)) => {
                let consumed = before - buf.len();
                let Ok(Some(h)) = peeked else {
                    panic!("decode gave a frame where peek gave {peeked:?}");
                };
                assert_eq!(h.frame_len(), Some(consumed));
                assert_eq!(h.body_len, f.body.len() as u64);
                assert_eq!((h.more, h.command), (f.more, f.command));
                assert!(framing == Framing::V3 || !f.command);
                assert_eq!(&f.body[..], &fed[start + h.header_len..start + consumed]);
                check_round_trip(&f, framing, max, &fed[start..start + consumed]);
                frames.push(f);
            }
        }
    }
}

fn check_round_trip(f: &Frame, framing: Framing, max: Option<u64>, original: &[u8]) {
    let mut out = BytesMut::new();
    frame::encode(&mut out, framing, f.more, f.command, &f.body);
    let encoded = out.clone().freeze();
    let again = frame::decode(&mut out, framing, max);
    assert_eq!(
        again,
        Ok(Some(f.clone())),
        "re-encoded frame decodes differently"
    );
    assert!(out.is_empty(), "re-encoded frame leaves bytes behind");
    assert!(encoded.len() <= original.len(), "encoding is not minimal");
    if framing != Framing::V1 && encoded.len() == original.len() {
        assert_eq!(&encoded[..], original, "same-length re-encoding differs");
    }
}
