//! The PGM core on a simulated network: one Source, several Receivers, a virtual clock, and a
//! seeded generator that drops, duplicates and delays (so reorders) each datagram, per
//! receiver and per direction (NAKs too). Every receiver must get every message exactly once
//! and in order, or see a Loss event and resume at the next message boundary.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use zmq_transports::pgm::framing::{Decoder, Encoder};
use zmq_transports::pgm::packet::Nla;
use zmq_transports::pgm::{
    Destination, Event, Receiver, ReceiverConfig, Rng, SendError, Source, SourceConfig, Tsi,
};
use zmtp_codec::Message;

const SOURCE_NLA: Nla = Nla::V4([10, 0, 0, 1]);
const GROUP: Nla = Nla::V4([239, 1, 1, 1]);

#[derive(Debug, Clone, Copy)]
struct Faults {
    /// Per mille: drop, duplicate, for each direction.
    down_drop: u64,
    up_drop: u64,
    dup: u64,
    /// Largest extra delay (ms): packets overtake one another.
    jitter_ms: u64,
}

/// Where a datagram in flight goes.
#[derive(Debug, Clone, Copy)]
enum To {
    Source,
    Receiver(usize),
}

struct Net {
    rng: Rng,
    faults: Faults,
    /// (arrival, serial) → datagram.
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    flights: HashMap<usize, (To, Bytes)>,
    serial: u64,
    /// Receivers cut off until this time (late joiners).
    join_at: Vec<Instant>,
}

impl Net {
    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.next_u64() % 1000 < per_mille
    }

    fn send(&mut self, now: Instant, to: To, datagram: Bytes, up: bool) {
        self.send_with(now, to, datagram, up, false)
    }

    /// `reliable`: no fault (the source's announcing SPMs, so that a receiver present from
    /// the start knows the session starts at 0; one that misses them joins later, as in PGM).
    fn send_with(&mut self, now: Instant, to: To, datagram: Bytes, up: bool, reliable: bool) {
        if reliable {
            if let To::Receiver(i) = to {
                if now < self.join_at[i] {
                    return;
                }
            }
            self.serial += 1;
            let id = self.serial as usize;
            self.flights.insert(id, (to, datagram));
            self.queue.push(Reverse((now, self.serial, id)));
            return;
        }
        let drop = if up {
            self.faults.up_drop
        } else {
            self.faults.down_drop
        };
        if let To::Receiver(i) = to {
            if now < self.join_at[i] {
                return;
            }
        }
        if self.chance(drop) {
            return;
        }
        let copies = if self.chance(self.faults.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_micros(
                200 + self.rng.next_u64() % (self.faults.jitter_ms * 1000 + 1),
            );
            self.serial += 1;
            let id = self.serial as usize;
            self.flights.insert(id, (to, datagram.clone()));
            self.queue.push(Reverse((now + delay, self.serial, id)));
        }
    }
}

struct Outcome {
    /// Per receiver: serials of the messages received, and how many loss events.
    received: Vec<Vec<u32>>,
    losses: Vec<u32>,
}

fn message(serial: u32, rng: &mut Rng) -> Message {
    // Sizes from empty to a few TSDUs; some messages have several frames.
    let len = match rng.next_u64() % 10 {
        0 => 3000 + (rng.next_u64() % 2000) as usize,
        1..=3 => (rng.next_u64() % 300) as usize,
        _ => (rng.next_u64() % 40) as usize,
    };
    let mut m = Message::from(serial.to_be_bytes().to_vec());
    m.push_back(vec![(serial % 251) as u8; len]);
    if rng.next_u64() % 3 == 0 {
        m.push_back(Bytes::from_static(b"tail"));
    }
    m
}

fn check_message(m: &Message) -> u32 {
    let serial = u32::from_be_bytes(m.frames()[0][..].try_into().expect("4-byte serial"));
    assert!(m.frames()[1].iter().all(|&b| b == (serial % 251) as u8));
    serial
}

fn run(seed: u64, faults: Faults, receivers: usize, messages: u32, join_after: &[u64]) -> Outcome {
    let t0 = Instant::now();
    let mut now = t0;
    let mut config = SourceConfig::new([9, 8, 7, 6, 5, 4], 4321, 5555, SOURCE_NLA);
    config.rate_kbit = 1000;
    config.recovery_ivl = Duration::from_secs(2);
    let mut source = Source::new(config, now);
    let mut rxs: Vec<Receiver> = (0..receivers)
        .map(|i| {
            let mut c = ReceiverConfig::new(5555, GROUP, seed ^ ((i as u64 + 1) * 0x9e37));
            c.rate_kbit = 1000;
            c.recovery_ivl = Duration::from_secs(2);
            Receiver::new(c, now)
        })
        .collect();
    let mut decoders: Vec<HashMap<Tsi, Decoder>> = (0..receivers).map(|_| HashMap::new()).collect();
    let mut net = Net {
        rng: Rng::new(seed),
        faults,
        queue: BinaryHeap::new(),
        flights: HashMap::new(),
        serial: 0,
        join_at: (0..receivers)
            .map(|i| t0 + Duration::from_millis(join_after.get(i).copied().unwrap_or(0)))
            .collect(),
    };
    let mut app_rng = Rng::new(seed.wrapping_mul(31));
    let mut encoder = Encoder::new(source.max_tsdu());
    let mut pending: Option<Bytes> = None;
    let mut next_msg = 0u32;
    let mut next_app = t0 + Duration::from_millis(5);
    let mut out = Outcome {
        received: vec![Vec::new(); receivers],
        losses: vec![0; receivers],
    };
    let end = t0 + Duration::from_secs(120);
    let mut announced = 0;
    while now < end {
        // The application: one message every 5 ms, through the encoder and the rate limit.
        if now >= next_app {
            if next_msg < messages && encoder.pending_frames() == 0 && pending.is_none() {
                encoder.push(&message(next_msg, &mut app_rng));
                next_msg += 1;
            }
            next_app = now + Duration::from_millis(5);
        }
        loop {
            let tsdu = match pending.take().or_else(|| encoder.poll_tsdu()) {
                Some(t) => t,
                None => break,
            };
            match source.handle_send(now, tsdu.clone()) {
                Ok(_) => {}
                Err(SendError::RateLimited { until }) => {
                    pending = Some(tsdu);
                    next_app = next_app.min(until);
                    break;
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        if source.poll_timeout().is_some_and(|t| t <= now) {
            source.handle_timeout(now);
        }
        while let Some(t) = source.poll_transmit() {
            assert_eq!(t.destination, Destination::Group);
            announced += 1;
            for i in 0..receivers {
                net.send_with(
                    now,
                    To::Receiver(i),
                    t.datagram.clone(),
                    false,
                    announced <= 3,
                );
            }
        }
        for (i, rx) in rxs.iter_mut().enumerate() {
            if rx.poll_timeout().is_some_and(|t| t <= now) {
                rx.handle_timeout(now);
            }
            while let Some(t) = rx.poll_transmit() {
                match t.destination {
                    Destination::Unicast(nla) if nla == SOURCE_NLA => {
                        net.send(now, To::Source, t.datagram, true)
                    }
                    // SPMRs to the link: the other receivers (and the source, on its port).
                    Destination::GroupLocal => net.send(now, To::Source, t.datagram, true),
                    d => panic!("unexpected destination {d:?}"),
                }
            }
            while let Some(e) = rx.poll_event() {
                match e {
                    Event::Data { tsi, tsdu, .. } => {
                        let dec = decoders[i].entry(tsi).or_insert_with(|| Decoder::new(None));
                        let mut msgs = Vec::new();
                        dec.handle_tsdu(&tsdu, &mut msgs).expect("framing");
                        out.received[i].extend(msgs.iter().map(check_message));
                    }
                    Event::Loss { tsi, .. } => {
                        out.losses[i] += 1;
                        if let Some(d) = decoders[i].get_mut(&tsi) {
                            d.handle_loss();
                        }
                    }
                    Event::End { .. } => {}
                }
            }
        }
        let all_done = next_msg == messages
            && pending.is_none()
            && encoder.pending_frames() == 0
            && out
                .received
                .iter()
                .all(|r| r.last() == Some(&(messages - 1)));
        if all_done && net.queue.is_empty() {
            break;
        }
        // Advance the virtual clock to the next thing that happens.
        let mut next = next_app;
        if let Some(Reverse((t, _, _))) = net.queue.peek() {
            next = next.min(*t);
        }
        for t in rxs.iter().filter_map(Receiver::poll_timeout) {
            next = next.min(t);
        }
        if let Some(t) = source.poll_timeout() {
            next = next.min(t);
        }
        now = next.max(now);
        while let Some(Reverse((t, _, id))) = net.queue.peek().copied() {
            if t > now {
                break;
            }
            net.queue.pop();
            let (to, datagram) = net.flights.remove(&id).expect("in flight");
            match to {
                To::Source => {
                    source.handle_datagram(now, &datagram).expect("valid");
                }
                To::Receiver(i) => rxs[i]
                    .handle_datagram(now, SOURCE_NLA, &datagram)
                    .expect("valid"),
            }
        }
    }
    out
}

/// Received serials are strictly increasing (no duplicate, no reordering) and, without a
/// loss, complete (from the first message on, or for late joiners from where they joined).
fn check(out: &Outcome, messages: u32) {
    check_from(out, messages, &[])
}

fn check_from(out: &Outcome, messages: u32, late: &[usize]) {
    for (i, r) in out.received.iter().enumerate() {
        let start = if late.contains(&i) {
            r.first().copied().unwrap_or(messages)
        } else {
            0
        };
        assert!(
            r.windows(2).all(|w| w[0] < w[1]),
            "receiver {i}: out of order or duplicated: {r:?}"
        );
        if out.losses[i] == 0 {
            let missing: Vec<u32> = (start..messages).filter(|m| !r.contains(m)).collect();
            assert!(missing.is_empty(), "receiver {i} lost {missing:?} silently");
        }
    }
}

#[test]
fn perfect_network_delivers_everything() {
    let faults = Faults {
        down_drop: 0,
        up_drop: 0,
        dup: 0,
        jitter_ms: 0,
    };
    let out = run(1, faults, 2, 100, &[]);
    check(&out, 100);
    assert_eq!(out.losses, vec![0, 0]);
}

#[test]
fn drops_duplicates_and_reordering_are_repaired() {
    let faults = Faults {
        down_drop: 150,
        up_drop: 150,
        dup: 50,
        jitter_ms: 20,
    };
    let out = run(7, faults, 3, 150, &[]);
    check(&out, 150);
    assert_eq!(
        out.losses,
        vec![0, 0, 0],
        "repairable loss was not repaired"
    );
}

#[test]
fn unrecoverable_loss_is_reported_and_the_stream_resumes() {
    // No NAK ever reaches the source: every gap ends in a give-up.
    let faults = Faults {
        down_drop: 100,
        up_drop: 1000,
        dup: 0,
        jitter_ms: 2,
    };
    let out = run(11, faults, 2, 150, &[]);
    check(&out, 150);
    for (i, r) in out.received.iter().enumerate() {
        assert!(out.losses[i] > 0, "receiver {i}: no loss reported");
        assert_eq!(r.last(), Some(&149), "receiver {i} did not resume");
        assert!(r.len() > 75, "receiver {i} kept too little: {}", r.len());
    }
}

#[test]
fn late_joiner_starts_at_a_message_boundary() {
    let faults = Faults {
        down_drop: 0,
        up_drop: 0,
        dup: 0,
        jitter_ms: 0,
    };
    let out = run(3, faults, 2, 200, &[0, 400]);
    check_from(&out, 200, &[1]);
    assert_eq!(out.received[0].len(), 200);
    let late = &out.received[1];
    let first = *late.first().expect("the late joiner got messages");
    assert!(first > 0, "the late joiner saw the start");
    assert_eq!(
        *late,
        (first..200).collect::<Vec<_>>(),
        "a gap after joining"
    );
    assert_eq!(out.losses[1], 0, "joining is not a loss");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_seed_and_fault_rate(
        seed in any::<u64>(),
        down_drop in 0u64..300,
        up_drop in 0u64..300,
        dup in 0u64..100,
        jitter_ms in 0u64..30,
    ) {
        let faults = Faults { down_drop, up_drop, dup, jitter_ms };
        let out = run(seed, faults, 2, 60, &[]);
        check(&out, 60);
        // Below 30% loss both ways, 50 retries recover everything.
        prop_assert_eq!(out.losses, vec![0, 0]);
    }
}
