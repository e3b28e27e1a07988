//! libzmq's TSDU framing: whatever the messages and TSDU size, decoding the TSDUs gives the
//! messages back; joining at any TSDU gives a suffix of them starting at a message boundary;
//! a loss resynchronises at the next boundary.

use bytes::Bytes;
use proptest::prelude::*;
use zmq_transports::pgm::framing::{Decoder, Encoder, FramingError, NO_OFFSET};
use zmtp_codec::Message;

fn messages() -> impl Strategy<Value = Vec<Message>> {
    let frame = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 250..600),
    ];
    let message = proptest::collection::vec(frame, 1..4)
        .prop_map(|frames| frames.into_iter().map(Bytes::from).collect::<Message>());
    proptest::collection::vec(message, 1..30)
}

/// Encodes `msgs`, pushing them `batch` at a time between TSDUs.
fn encode(msgs: &[Message], max_tsdu: usize, batch: usize) -> Vec<Bytes> {
    let mut enc = Encoder::new(max_tsdu);
    let mut tsdus = Vec::new();
    for chunk in msgs.chunks(batch) {
        for m in chunk {
            enc.push(m);
        }
        while let Some(t) = enc.poll_tsdu() {
            assert!(t.len() <= max_tsdu);
            tsdus.push(t);
        }
    }
    tsdus
}

fn decode(tsdus: &[Bytes]) -> Vec<Message> {
    let mut dec = Decoder::new(None);
    let mut out = Vec::new();
    for t in tsdus {
        dec.handle_tsdu(t, &mut out).expect("our own framing");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_and_join_anywhere(
        msgs in messages(),
        max_tsdu in 3usize..1500,
        batch in 1usize..5,
    ) {
        let tsdus = encode(&msgs, max_tsdu, batch);
        prop_assert_eq!(&decode(&tsdus), &msgs);
        // Join at (up to) 24 places spread over the stream.
        for k in (0..tsdus.len()).step_by(tsdus.len() / 24 + 1) {
            let got = decode(&tsdus[k..]);
            prop_assert!(got.len() <= msgs.len());
            prop_assert_eq!(&got[..], &msgs[msgs.len() - got.len()..]);
            // A TSDU where a message starts: the joiner gets that message and all after it.
            let offset = u16::from_be_bytes([tsdus[k][0], tsdus[k][1]]);
            if offset != NO_OFFSET && usize::from(offset) < tsdus[k].len() - 2 {
                prop_assert!(!got.is_empty());
            }
        }
    }

    #[test]
    fn loss_resumes_at_the_next_boundary(
        msgs in messages(),
        max_tsdu in 3usize..200,
        lost in any::<prop::sample::Index>(),
    ) {
        let tsdus = encode(&msgs, max_tsdu, 1);
        let k = lost.index(tsdus.len());
        let mut dec = Decoder::new(None);
        let mut out = Vec::new();
        for t in &tsdus[..k] {
            dec.handle_tsdu(t, &mut out).expect("ours");
        }
        dec.handle_loss();
        for t in &tsdus[k + 1..] {
            dec.handle_tsdu(t, &mut out).expect("ours");
        }
        // What arrived is messages in order, each intact: a prefix, then a suffix.
        let mut i = 0;
        for m in &out {
            while i < msgs.len() && &msgs[i] != m {
                i += 1;
            }
            prop_assert!(i < msgs.len(), "a message that was never sent");
            i += 1;
        }
    }

    #[test]
    fn garbage_never_panics(tsdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20)) {
        let mut dec = Decoder::new(Some(1000));
        let mut out = Vec::new();
        for t in tsdus {
            let _ = dec.handle_tsdu(&Bytes::from(t), &mut out);
        }
    }
}

#[test]
fn libzmq_offset_quirks() {
    // The queue running dry inside a TSDU: the offset points at the end of the data.
    let mut enc = Encoder::new(12);
    enc.push(&Message::from(vec![b'x'; 20]));
    let t: Vec<Bytes> = std::iter::from_fn(|| enc.poll_tsdu()).collect();
    assert_eq!(&t[0][..], b"\x00\x00\x15\x00xxxxxxxx");
    assert_eq!(&t[1][..], b"\xff\xffxxxxxxxxxx");
    assert_eq!(&t[2][..], b"\x00\x02xx", "offset = end of data");
    assert_eq!(t.len(), 3);
    // A frame after MORE is not a message start.
    let mut enc = Encoder::new(100);
    let m: Message = ["a", "b"].into_iter().collect();
    enc.push(&m);
    let t = enc.poll_tsdu().expect("one");
    assert_eq!(&t[..], b"\x00\x00\x02\x01a\x02\x00b");
    // A receiver refuses an offset past the data.
    let mut dec = Decoder::new(None);
    let err = dec.handle_tsdu(&Bytes::from_static(b"\x00\x05ab"), &mut Vec::new());
    assert_eq!(
        err,
        Err(FramingError::OffsetOutOfRange { offset: 5, len: 2 })
    );
}
