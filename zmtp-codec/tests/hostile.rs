//! Hostile peers against one `Connection`, counted deterministically: what the codec holds
//! (pending output, the message under assembly, the read buffer) while a peer pings without
//! reading, claims absurd frame sizes, or sends a message that never ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zmtp_codec::{
    Command, Config, Connection, Error, Event, Metadata, SocketType, FRAME_OVERHEAD,
    MAX_HANDSHAKE_FRAME,
};

/// A NULL ZMTP 3.1 greeting, as a peer sends it.
fn greeting() -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g
}

fn command(cmd: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    cmd.encode(&mut out);
    out.to_vec()
}

fn ready(socket_type: &str, extra: &[(&str, Bytes)]) -> Vec<u8> {
    let mut m = Metadata::new();
    m.insert("Socket-Type", socket_type.to_owned()).unwrap();
    for (name, value) in extra {
        m.insert(name, value.clone()).unwrap();
    }
    command(&Command::Ready(m))
}

/// A ROUTER connection whose peer (a DEALER) completed the handshake; our output so far
/// is drained.
fn active(config: Config) -> (Connection, Instant) {
    let now = Instant::now();
    let mut c = Connection::new(config, now).unwrap();
    c.handle_input(now, &greeting()).unwrap();
    c.handle_input(now, &ready("DEALER", &[])).unwrap();
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeSucceeded(_)))
    ));
    while c.poll_transmit().is_some() {}
    (c, now)
}

fn ping(context: &[u8]) -> Vec<u8> {
    let mut body = vec![4];
    body.extend_from_slice(b"PING");
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(context);
    let mut out = BytesMut::new();
    zmtp_codec::frame::encode(&mut out, zmtp_codec::frame::Framing::V3, false, true, &body);
    out.to_vec()
}

/// Feeds `input` through `read_buf`/`handle_read` in reads of at most `read` bytes, draining
/// events after each read (as the socket driver does), and never taking output. Returns
/// the first error and the largest pending output seen.
fn feed(c: &mut Connection, now: Instant, input: &[u8], read: usize) -> (Option<Error>, usize) {
    let mut most_output = 0;
    for chunk in input.chunks(read) {
        c.read_buf().extend_from_slice(chunk);
        if let Err(e) = c.handle_read(now) {
            return (Some(e), most_output);
        }
        loop {
            match c.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return (Some(e), most_output),
            }
        }
        most_output = most_output.max(c.pending_output());
    }
    (None, most_output)
}

#[test]
fn ping_flood_without_reading_holds_one_pong() {
    let (mut c, now) = active(Config::new(SocketType::Router));
    // 10 MB of PINGs, each with a different 16-byte context; none of our output is taken.
    let mut flood = Vec::new();
    let mut n = 0u64;
    while flood.len() < 10_000_000 {
        let mut ctx = [0u8; 16];
        ctx[8..].copy_from_slice(&n.to_be_bytes());
        flood.extend_from_slice(&ping(&ctx));
        n += 1;
    }
    let (err, most) = feed(&mut c, now, &flood, 64 * 1024);
    assert_eq!(err, None);
    // One PONG: 2-byte header, 5-byte name, 16-byte context.
    assert!(most <= 23, "pending output grew to {most} bytes");
    let out: Vec<u8> = std::iter::from_fn(|| c.poll_transmit()).flatten().collect();
    let mut last = [0u8; 16];
    last[8..].copy_from_slice(&(n - 1).to_be_bytes());
    assert_eq!(
        out,
        command(&Command::Pong(Bytes::copy_from_slice(&last))),
        "the PONG answers the latest PING"
    );
}

#[test]
fn our_own_pings_do_not_pile_up_behind_a_peer_that_does_not_read() {
    let mut config = Config::new(SocketType::Router);
    config.heartbeat_ivl = Some(Duration::from_millis(100));
    config.heartbeat_timeout = Some(Duration::from_secs(3600));
    let (mut c, start) = active(config);
    for i in 1..=1000u64 {
        let now = start + Duration::from_millis(100 * i);
        // The peer keeps talking (so it stays alive) but never reads.
        c.read_buf().extend_from_slice(&ping(b"x"));
        c.handle_read(now).unwrap();
        while c.poll_event().unwrap().is_some() {}
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now).unwrap();
        }
        assert!(c.pending_output() <= 9 + 8, "{} bytes", c.pending_output());
    }
}

#[test]
fn long_ping_context_is_answered_truncated_to_16_bytes() {
    let (mut c, now) = active(Config::new(SocketType::Router));
    c.handle_input(now, &ping(b"0123456789abcdefTHE-REST-IS-CUT"))
        .unwrap();
    assert_eq!(c.poll_event(), Ok(None));
    let out: Vec<u8> = std::iter::from_fn(|| c.poll_transmit()).flatten().collect();
    assert_eq!(out, b"\x04\x15\x04PONG0123456789abcdef");
}

#[test]
fn a_frame_claiming_2_pow_62_bytes_fails_at_its_header() {
    let (mut c, now) = active(Config::new(SocketType::Router));
    let mut input = vec![0x02];
    input.extend_from_slice(&(1u64 << 62).to_be_bytes());
    input.extend_from_slice(&[0u8; 100]);
    c.read_buf().extend_from_slice(&input);
    assert_eq!(
        c.handle_read(now),
        Err(Error::FrameTooLargeToAllocate { size: 1 << 62 })
    );
    // Sticky, and no body was reserved for it.
    assert!(c.poll_event().is_err());
    assert!(c.read_buf().capacity() < 1 << 20);
}

#[test]
fn a_frame_beyond_the_address_space_fails_even_with_a_large_maxmsgsize() {
    let mut config = Config::new(SocketType::Router);
    config.max_msg_size = Some(u64::MAX);
    let (mut c, now) = active(config);
    let mut input = vec![0x03]; // MORE | LONG
    input.extend_from_slice(&u64::MAX.to_be_bytes());
    c.read_buf().extend_from_slice(&input);
    assert_eq!(
        c.handle_read(now),
        Err(Error::FrameTooLargeToAllocate { size: u64::MAX })
    );
}

#[test]
fn a_large_allocatable_frame_is_still_read() {
    // 8 MiB (past the read reserve, so the allocation probe runs) arrives whole.
    let (mut c, now) = active(Config::new(SocketType::Router));
    let input = frame_of(8 << 20);
    let (err, _) = feed(&mut c, now, &input, 1 << 20);
    assert_eq!(err, None);
    // The message was decoded during `feed`; the connection is still alive.
    assert!(c.is_active());
}

/// Spare room `read_buf` offers at a frame boundary.
fn offered(c: &mut Connection) -> usize {
    let buf = c.read_buf();
    buf.capacity() - buf.len()
}

fn frame_of(len: usize) -> BytesMut {
    let mut out = BytesMut::new();
    zmtp_codec::frame::encode(
        &mut out,
        zmtp_codec::frame::Framing::V3,
        false,
        false,
        &vec![1u8; len],
    );
    out
}

#[test]
fn after_a_large_frame_the_next_is_offered_room_to_arrive_whole() {
    let (mut c, now) = active(Config::new(SocketType::Router));
    // Reads as a socket hands them over, keeping the messages (so the buffer they were
    // read into stays shared and cannot be reclaimed).
    let mut kept = Vec::new();
    let mut read = |c: &mut Connection, input: &[u8]| {
        for chunk in input.chunks(16 << 10) {
            c.read_buf().extend_from_slice(chunk);
            c.handle_read(now).unwrap();
            while let Some(event) = c.poll_event().unwrap() {
                kept.push(event);
            }
        }
    };
    // Small frames: the usual 16 KiB, not more.
    read(&mut c, &frame_of(100));
    assert!(offered(&mut c) < 64 << 10, "{}", offered(&mut c));
    // A 64 KiB frame: 16 KiB, then the rest.
    let big = frame_of(64 << 10);
    for _ in 0..2 {
        read(&mut c, &big);
        // At the boundary after it, room for a whole frame of that size.
        assert!(
            offered(&mut c) >= big.len(),
            "{} < {}",
            offered(&mut c),
            big.len()
        );
    }
    // A small frame again: back to the usual room.
    read(&mut c, &frame_of(100));
    read(&mut c, &frame_of(100));
    assert!(offered(&mut c) < 64 << 10, "{}", offered(&mut c));
    assert_eq!(kept.len(), 5);
}

/// An endless multipart message of empty frames, MORE on every one.
fn endless_more(frames: usize) -> Vec<u8> {
    [0x01u8, 0x00].repeat(frames)
}

#[test]
fn endless_multipart_stops_at_maxmsgsize() {
    let max = 64 * 1024;
    let mut config = Config::new(SocketType::Router);
    config.max_msg_size = Some(max);
    let (mut c, now) = active(config);
    let input = endless_more(1_000_000);
    let mut fed = 0;
    let mut err = None;
    for chunk in input.chunks(4096) {
        fed += chunk.len();
        c.read_buf().extend_from_slice(chunk);
        if let Err(e) = c.handle_read(now).and_then(|()| c.poll_event().map(|_| ())) {
            err = Some(e);
            break;
        }
    }
    let Some(Error::MessageTooLarge { size, max: m }) = err else {
        panic!("expected MessageTooLarge, got {err:?}");
    };
    assert_eq!(m, max);
    // The frame that failed was the one that took the cost past the limit: every frame
    // costs its handle, so about max / FRAME_OVERHEAD frames were held, no more.
    assert!(size > max && size <= max + FRAME_OVERHEAD, "size {size}");
    let frames_read = (fed / 2) as u64;
    assert!(
        frames_read <= max / FRAME_OVERHEAD + 4096 / 2,
        "{frames_read} frames read"
    );
    assert!(c.poll_event().is_err(), "the error is sticky");
}

#[test]
fn a_frame_that_would_overflow_the_message_is_refused_at_its_header() {
    let max = 1 << 20;
    let mut config = Config::new(SocketType::Router);
    config.max_msg_size = Some(max);
    let (mut c, now) = active(config);
    // 600 KiB whole, then a header for another 600 KiB: each fits, together they do not.
    let mut input = BytesMut::new();
    let part = vec![1u8; 600 << 10];
    zmtp_codec::frame::encode(
        &mut input,
        zmtp_codec::frame::Framing::V3,
        true,
        false,
        &part,
    );
    let first = input.len();
    zmtp_codec::frame::encode_header(
        &mut input,
        zmtp_codec::frame::Framing::V3,
        false,
        false,
        part.len(),
    );
    c.read_buf().extend_from_slice(&input[..first]);
    c.handle_read(now).unwrap();
    assert_eq!(c.poll_event(), Ok(None));
    c.read_buf().extend_from_slice(&input[first..]);
    c.read_buf().put_slice(&[1u8; 10]);
    assert_eq!(
        c.handle_read(now),
        Err(Error::MessageTooLarge {
            size: (600 << 10) * 2 + FRAME_OVERHEAD,
            max
        })
    );
}

#[test]
fn a_multipart_message_within_maxmsgsize_passes_and_one_frame_may_be_maxmsgsize() {
    let max = 1000;
    let mut config = Config::new(SocketType::Router);
    config.max_msg_size = Some(max);
    let (mut c, now) = active(config);
    let mut input = BytesMut::new();
    use zmtp_codec::frame::{encode, Framing::V3};
    // Exactly maxmsgsize in one frame, as libzmq allows.
    encode(&mut input, V3, false, false, &[1u8; 1000]);
    // 10 frames: 10 * 50 bytes + 9 * FRAME_OVERHEAD = 788 <= 1000.
    for i in 0..10 {
        encode(&mut input, V3, i < 9, false, &[2u8; 50]);
    }
    c.handle_input(now, &input).unwrap();
    let mut got = Vec::new();
    while let Some(ev) = c.poll_event().unwrap() {
        if let Event::Message(m) = ev {
            got.push(m.len());
        }
    }
    assert_eq!(got, vec![1, 10]);
}

#[test]
fn a_stalled_handshake_reserves_little() {
    let now = Instant::now();
    let mut c = Connection::new(Config::new(SocketType::Router), now).unwrap();
    assert!(
        c.read_buf().capacity() <= 128,
        "{}",
        c.read_buf().capacity()
    );
    // Part of a greeting: still only what the greeting needs.
    c.read_buf().extend_from_slice(&greeting()[..20]);
    c.handle_read(now).unwrap();
    assert!(c.read_buf().capacity() <= 128);
    // The rest, and a READY header that declares 2 MiB: room for that frame, no more.
    c.read_buf().extend_from_slice(&greeting()[20..]);
    c.handle_read(now).unwrap();
    let mut header = vec![0x06];
    header.extend_from_slice(&(2u64 << 20).to_be_bytes());
    c.read_buf().extend_from_slice(&header);
    c.handle_read(now).unwrap();
    let cap = c.read_buf().capacity();
    assert!((2 << 20..(2 << 20) + 4096).contains(&cap), "{cap}");
}

#[test]
fn handshake_metadata_of_several_mib_is_accepted() {
    let now = Instant::now();
    let mut c = Connection::new(Config::new(SocketType::Router), now).unwrap();
    c.handle_input(now, &greeting()).unwrap();
    let big = Bytes::from(vec![b'v'; 3 << 20]);
    let input = ready("DEALER", &[("X-Big", big.clone())]);
    let (err, _) = feed(&mut c, now, &input, 64 * 1024);
    assert_eq!(err, None);
    let peer = c.peer().expect("handshake done");
    assert_eq!(peer.metadata.get("X-Big"), Some(&big));
    // Past the cap it is refused at the header.
    let mut c = Connection::new(Config::new(SocketType::Router), now).unwrap();
    c.handle_input(now, &greeting()).unwrap();
    let mut header = vec![0x06];
    header.extend_from_slice(&(MAX_HANDSHAKE_FRAME + 1).to_be_bytes());
    assert!(matches!(
        c.handle_input(now, &header),
        Err(Error::MessageTooLarge { .. })
    ));
}

#[test]
fn the_sizes_docs_architecture_counts() {
    // "What a peer can make us hold" in docs/ARCHITECTURE.md counts these.
    assert_eq!(FRAME_OVERHEAD, 40);
    assert_eq!(std::mem::size_of::<zmtp_codec::Message>(), 112);
}

#[test]
fn bytes_piled_up_while_the_authenticator_decides_are_capped() {
    let now = Instant::now();
    let mut config = Config::new(SocketType::Router);
    config.authenticate_null = true;
    let mut c = Connection::new(config, now).unwrap();
    c.handle_input(now, &greeting()).unwrap();
    c.handle_input(now, &ready("DEALER", &[])).unwrap();
    assert!(matches!(c.poll_event(), Ok(Some(Event::AuthRequest(_)))));
    // A real peer waits now; this one keeps sending messages.
    let mut flood = BytesMut::new();
    while (flood.len() as u64) < MAX_HANDSHAKE_FRAME + 64 * 1024 {
        zmtp_codec::frame::encode(
            &mut flood,
            zmtp_codec::frame::Framing::V3,
            false,
            false,
            &[0u8; 1000],
        );
    }
    let (err, _) = feed(&mut c, now, &flood, 64 * 1024);
    assert!(
        matches!(err, Some(Error::HandshakeOverrun { buffered, max })
            if buffered > max && max == MAX_HANDSHAKE_FRAME + 9),
        "{err:?}"
    );
}
