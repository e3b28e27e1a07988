//! Large bodies cross the codec without a copy: on decode the received frame is a slice of
//! the buffer the bytes were read into, on encode the chunk handed to the writer is the
//! frame the caller sent.

use std::time::Instant;

use bytes::Bytes;
use zmq_benches::{connected_pair, drain_transmit};
use zmtp_codec::{Event, Message};

const SIZE: usize = 64 * 1024;

fn body() -> Bytes {
    (0..SIZE).map(|i| i as u8).collect::<Vec<u8>>().into()
}

#[test]
fn decode_does_not_copy_64k_bodies() {
    let now = Instant::now();
    let (mut sender, mut receiver) = connected_pair(now);
    sender.send(&Message::from(body())).unwrap();
    let wire = drain_transmit(&mut sender);

    // Read as a transport does: into read_buf, header first, then the rest.
    receiver.read_buf().extend_from_slice(&wire[..9]);
    receiver.handle_read(now).unwrap();
    assert_eq!(receiver.poll_event(), Ok(None));
    let buf = receiver.read_buf();
    assert!(
        buf.capacity() - buf.len() >= SIZE,
        "room for the whole frame is reserved"
    );
    buf.extend_from_slice(&wire[9..]);
    let read_into = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    receiver.handle_read(now).unwrap();

    let Ok(Some(Event::Message(msg))) = receiver.poll_event() else {
        panic!("expected the message");
    };
    assert_eq!(msg[0], body());
    let at = msg[0].as_ptr() as usize;
    assert!(
        read_into.contains(&at) && read_into.contains(&(at + SIZE - 1)),
        "the body {at:#x} is not inside the read buffer {read_into:x?}: it was copied"
    );
}

#[test]
fn encode_does_not_copy_64k_bodies() {
    let now = Instant::now();
    let (mut sender, _) = connected_pair(now);
    let frame = body();
    sender.send(&Message::from(frame.clone())).unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = sender.poll_transmit() {
        chunks.push(chunk);
    }
    assert!(
        chunks
            .iter()
            .any(|c| c.as_ptr() == frame.as_ptr() && c.len() == SIZE),
        "no chunk is the sent frame itself: it was copied ({} chunks of {:?} bytes)",
        chunks.len(),
        chunks.iter().map(Bytes::len).collect::<Vec<_>>()
    );
}
