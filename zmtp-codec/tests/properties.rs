//! Property tests: round trips, and the same bytes split anywhere give the same events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use harness::Pair;
use proptest::prelude::*;
use zmtp_codec::frame::{self, Framing};
use zmtp_codec::{Command, Config, Connection, Event, Message, SocketType};

fn message() -> impl Strategy<Value = Message> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8),
            prop::collection::vec(any::<u8>(), 250..300),
            prop::collection::vec(any::<u8>(), 8190..8200),
        ],
        1..5,
    )
    .prop_map(|frames| frames.into_iter().map(Bytes::from).collect())
}

/// Everything a DEALER sends to a ROUTER: greeting, READY, then `msgs`.
fn dealer_transcript(msgs: &[Message]) -> (Vec<u8>, Vec<u8>) {
    let mut p = Pair::new(
        Config::new(SocketType::Dealer).routing_id("d"),
        Config::new(SocketType::Router),
    );
    p.drive();
    for m in msgs {
        p.a.conn.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.b.messages(), msgs);
    (p.a.sent.clone(), p.b.sent.clone())
}

/// Feeds `input` to a fresh ROUTER in the given chunks; returns its events.
fn feed_router(input: &[u8], cuts: &[usize]) -> Vec<Event> {
    feed(Config::new(SocketType::Router), input, cuts, None)
}

/// Feeds `input` to a fresh connection in the given chunks and drains it after each one:
/// with `poll_event` alone, or (`batch: Some(max)`) as the socket driver does, with
/// `poll_messages` taking up to `max` messages between calls of `poll_event`. Returns the
/// events, messages from `poll_messages` as `Event::Message`.
fn feed(config: Config, input: &[u8], cuts: &[usize], batch: Option<usize>) -> Vec<Event> {
    let now = Instant::now();
    let mut c = Connection::new(config, now).unwrap();
    let mut events = Vec::new();
    let mut queue = VecDeque::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(at, input.len());
        if cut > at {
            c.handle_input(now, &input[at..cut]).unwrap();
        }
        loop {
            if let Some(max) = batch {
                let n = c.poll_messages(&mut queue, max).unwrap();
                assert!(n <= max && n == queue.len());
                events.extend(queue.drain(..).map(Event::Message));
            }
            match c.poll_event().unwrap() {
                Some(ev) => events.push(ev),
                None => break,
            }
        }
        at = cut;
    }
    events
}

#[test]
fn every_single_split_point_gives_the_same_events() {
    let msgs: Vec<Message> = vec![
        ["a", "", "bc"].into_iter().collect(),
        Message::from(vec![5u8; 300]),
        Message::from(""),
    ];
    let (input, _) = dealer_transcript(&msgs);
    let whole = feed_router(&input, &[]);
    assert_eq!(whole.len(), 1 + msgs.len());
    for cut in 0..=input.len() {
        assert_eq!(feed_router(&input, &[cut]), whole, "split at {cut}");
    }
    // And one byte at a time.
    let every: Vec<usize> = (1..input.len()).collect();
    assert_eq!(feed_router(&input, &every), whole);
}

/// An XSUB's stream to an XPUB, in 3.1 (subscriptions as commands) or 3.0 (as messages),
/// with a PING from the peer among them: `poll_messages` stops at each event, which comes
/// in order.
#[test]
fn batches_stop_at_events() {
    for minor in [0, 1] {
        let mut xsub = Config::new(SocketType::XSub);
        xsub.zmtp_minor = minor;
        let mut p = Pair::new(xsub, Config::new(SocketType::XPub));
        p.drive();
        let a = &mut p.a.conn;
        a.send(&Message::from("m1")).unwrap();
        a.send_subscribe(b"t1").unwrap();
        a.send(&["m2", "m3"].into_iter().collect()).unwrap();
        a.send(&Message::from("m4")).unwrap();
        a.send_cancel(b"t1").unwrap();
        p.drive();
        let mut input = BytesMut::from(&p.a.sent[..]);
        Command::Ping {
            ttl_deciseconds: 0,
            context: Bytes::from_static(b"c"),
        }
        .encode(&mut input);
        input.extend_from_slice(&[0, 2, b'm', b'5']);

        let whole = feed(Config::new(SocketType::XPub), &input, &[], None);
        let messages = |events: &[Event]| {
            events
                .iter()
                .filter(|e| matches!(e, Event::Message(_)))
                .count()
        };
        assert_eq!(messages(&whole), 4, "3.{minor}: {whole:?}");
        assert_eq!(
            whole
                .iter()
                .filter(|e| matches!(e, Event::Subscribe(_) | Event::Cancel(_)))
                .count(),
            2
        );
        for max in [1, 2, 256] {
            assert_eq!(
                feed(Config::new(SocketType::XPub), &input, &[], Some(max)),
                whole
            );
        }
    }
}

/// Messages decoded before a malformed frame are delivered, then the error.
#[test]
fn batch_delivers_messages_before_an_error() {
    let msgs = vec![Message::from("a"), Message::from("b")];
    let (mut input, _) = dealer_transcript(&msgs);
    input.push(0x80); // reserved flag bit
    input.push(0);
    let now = Instant::now();
    let mut c = Connection::new(Config::new(SocketType::Router), now).unwrap();
    c.handle_input(now, &input).unwrap();
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeSucceeded(_)))
    ));
    let mut queue = VecDeque::new();
    assert!(c.poll_messages(&mut queue, 256).is_err());
    assert_eq!(queue.into_iter().collect::<Vec<_>>(), msgs);
    assert!(c.poll_event().is_err(), "the error is sticky");
    assert!(c.poll_messages(&mut VecDeque::new(), 1).is_err());
}

proptest! {
    #[test]
    fn messages_round_trip(msgs in prop::collection::vec(message(), 1..20)) {
        // dealer_transcript asserts the ROUTER received exactly what was sent.
        dealer_transcript(&msgs);
    }

    #[test]
    fn random_chunking_gives_the_same_events(
        msgs in prop::collection::vec(message(), 1..10),
        mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let (input, _) = dealer_transcript(&msgs);
        let mut points: Vec<usize> = cuts.drain(..).map(|i| i.index(input.len() + 1)).collect();
        points.sort_unstable();
        prop_assert_eq!(feed_router(&input, &points), feed_router(&input, &[]));
    }

    #[test]
    fn batches_give_the_same_events(
        msgs in prop::collection::vec(message(), 1..10),
        mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        max in 0usize..4,
    ) {
        let (input, _) = dealer_transcript(&msgs);
        let mut points: Vec<usize> = cuts.drain(..).map(|i| i.index(input.len() + 1)).collect();
        points.sort_unstable();
        let router = || Config::new(SocketType::Router);
        prop_assert_eq!(
            feed(router(), &input, &points, Some(max)),
            feed(router(), &input, &[], None)
        );
    }

    #[test]
    fn frames_round_trip(
        body in prop::collection::vec(any::<u8>(), 0..600),
        more: bool,
        command: bool,
        framing in prop_oneof![Just(Framing::V1), Just(Framing::V2), Just(Framing::V3)],
    ) {
        let command = command && !more && framing == Framing::V3;
        let mut buf = BytesMut::new();
        frame::encode(&mut buf, framing, more, command, &body);
        let encoded = buf.clone();
        let f = frame::decode(&mut buf, framing, None).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        // A run split off the same bytes gives the same frame; one byte short, none.
        let mut run = frame::Run::default();
        let mut short = BytesMut::from(&encoded[..encoded.len() - 1]);
        prop_assert!(!run.refill(&mut short, framing, None).unwrap());
        prop_assert_eq!(short.len(), encoded.len() - 1, "an incomplete frame stays put");
        let mut whole = encoded.clone();
        prop_assert!(run.refill(&mut whole, framing, None).unwrap());
        prop_assert!(whole.is_empty());
        prop_assert_eq!(run.next_frame(), Some(f.clone()));
        prop_assert_eq!(run.next_frame(), None);
        prop_assert_eq!(f.more, more);
        prop_assert_eq!(f.command, command);
        prop_assert_eq!(&f.body[..], &body[..]);
        // Re-encoding the decoded frame gives the same bytes.
        let mut again = BytesMut::new();
        frame::encode(&mut again, framing, f.more, f.command, &f.body);
        prop_assert_eq!(again, encoded);
    }

    #[test]
    fn commands_round_trip(
        topic in prop::collection::vec(any::<u8>(), 0..300),
        ttl: u16,
        ctx in prop::collection::vec(any::<u8>(), 0..=16),
    ) {
        let cmds = [
            Command::Subscribe(Bytes::from(topic.clone())),
            Command::Cancel(Bytes::from(topic)),
            Command::Ping { ttl_deciseconds: ttl, context: Bytes::from(ctx.clone()) },
            Command::Pong(Bytes::from(ctx)),
        ];
        for c in cmds {
            let mut buf = BytesMut::new();
            c.encode(&mut buf);
            let f = frame::decode(&mut buf, Framing::V3, None).unwrap().unwrap();
            prop_assert_eq!(Command::decode(&f.body).unwrap(), c);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200), minor in 0u8..2) {
        let now = Instant::now();
        let mut cfg = Config::new(SocketType::Sub);
        cfg.zmtp_minor = minor;
        let mut c = Connection::new(cfg, now).unwrap();
        let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, minor];
        g.extend_from_slice(b"NULL");
        g.resize(64, 0);
        // Half the cases start from a valid greeting, to reach the frame decoder.
        if input.first().is_some_and(|b| b & 1 == 1) {
            c.handle_input(now, &g).unwrap();
        }
        let failed = c.handle_input(now, &input).is_err();
        let mut events_failed = false;
        loop {
            match c.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => { events_failed = true; break; }
            }
        }
        if failed || events_failed {
            // Sticky: every later input fails too.
            prop_assert!(c.handle_input(now, b"\x00").is_err());
            prop_assert!(c.error().is_some());
        }
    }
}
