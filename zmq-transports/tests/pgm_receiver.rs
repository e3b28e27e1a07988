//! Receiver edge cases: a hostile jump ahead, the end of a session, the event bound.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_transports::pgm::packet::{Body, Data, Nla, Options, Packet, PgmOption, Spm, Tsi};
use zmq_transports::pgm::{Event, Receiver, ReceiverConfig};

const SRC: Nla = Nla::V4([10, 0, 0, 1]);
const GSI: [u8; 6] = [1, 2, 3, 4, 5, 6];
const TSI: Tsi = Tsi {
    gsi: GSI,
    sport: 900,
};

fn spm(spm_sqn: u32, trail: u32, lead: u32, fin: bool) -> Bytes {
    let mut p = Packet::new(
        900,
        5555,
        GSI,
        Body::Spm(Spm {
            spm_sqn,
            trail,
            lead,
            nla: SRC,
        }),
        Bytes::new(),
    );
    if fin {
        p.options = Options {
            list: vec![PgmOption::fin()],
        };
    }
    p.to_bytes()
}

fn odata(sqn: u32) -> Bytes {
    Packet::new(
        900,
        5555,
        GSI,
        Body::Odata(Data { sqn, trail: 0 }),
        Bytes::copy_from_slice(&sqn.to_be_bytes()),
    )
    .to_bytes()
}

fn events(rx: &mut Receiver) -> Vec<Event> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn receiver(now: Instant) -> Receiver {
    Receiver::new(ReceiverConfig::new(5555, Nla::V4([239, 1, 1, 1]), 5), now)
}

#[test]
fn a_jump_far_ahead_is_one_loss_and_costs_one_window() {
    let now = Instant::now();
    let mut rx = receiver(now);
    let cap = rx.window_capacity();
    rx.handle_datagram(now, SRC, &spm(0, 0, u32::MAX, false))
        .expect("valid");
    rx.handle_datagram(now, SRC, &spm(1, 0, 1 << 30, false))
        .expect("valid");
    assert_eq!(
        events(&mut rx),
        vec![Event::Loss {
            tsi: TSI,
            first: 0,
            count: (1 << 30) + 1 - cap
        }]
    );
    // The window now waits for the last `cap` numbers, which it NAKs.
    rx.handle_timeout(now + Duration::from_millis(50));
    let naks: Vec<_> = std::iter::from_fn(|| rx.poll_transmit()).collect();
    assert_eq!(naks.len() as u32, cap.div_ceil(63));
}

#[test]
fn fin_delivers_what_arrived_and_reports_the_rest_lost() {
    let now = Instant::now();
    let mut rx = receiver(now);
    rx.handle_datagram(now, SRC, &spm(0, 0, u32::MAX, false))
        .expect("valid");
    rx.handle_datagram(now, SRC, &odata(1)).expect("valid");
    assert!(events(&mut rx).is_empty(), "0 is missing: 1 waits");
    rx.handle_datagram(now, SRC, &spm(1, 0, 2, true))
        .expect("valid");
    assert_eq!(
        events(&mut rx),
        vec![
            Event::Loss {
                tsi: TSI,
                first: 0,
                count: 1
            },
            Event::Data {
                tsi: TSI,
                sqn: 1,
                tsdu: Bytes::copy_from_slice(&1u32.to_be_bytes())
            },
            Event::Loss {
                tsi: TSI,
                first: 2,
                count: 1
            },
            Event::End { tsi: TSI },
        ]
    );
    assert_eq!(rx.sources().count(), 0);
}

#[test]
fn undrained_events_stay_bounded() {
    let now = Instant::now();
    let mut config = ReceiverConfig::new(5555, Nla::V4([239, 1, 1, 1]), 5);
    config.max_events = 10;
    let mut rx = Receiver::new(config, now);
    let cap = rx.window_capacity();
    rx.handle_datagram(now, SRC, &spm(0, 0, u32::MAX, false))
        .expect("valid");
    for sqn in 0..3 * cap {
        rx.handle_datagram(now, SRC, &odata(sqn)).expect("valid");
    }
    assert!(
        rx.pending_events() <= 2 * 10,
        "{} events queued",
        rx.pending_events()
    );
    // Draining makes room and the window's contents follow, in order; what overflowed the
    // window while the queue was full is reported lost, not silently dropped.
    let ev = events(&mut rx);
    let mut next = 0;
    let (mut data, mut lost) = (0, 0);
    for e in &ev {
        match e {
            Event::Data { sqn, .. } => {
                assert_eq!(*sqn, next);
                next += 1;
                data += 1;
            }
            Event::Loss { first, count, .. } => {
                assert_eq!(*first, next);
                next += count;
                lost += count;
            }
            Event::End { .. } => panic!("no end"),
        }
    }
    assert_eq!(next, 3 * cap, "every number delivered or reported lost");
    assert!(data >= 10 + cap && lost > 0, "data {data}, lost {lost}");
}

#[test]
fn a_silent_source_expires_with_an_end_event() {
    let now = Instant::now();
    let mut rx = receiver(now);
    rx.handle_datagram(now, SRC, &odata(0)).expect("valid");
    assert_eq!(events(&mut rx).len(), 1);
    let later = now + Duration::from_secs(300);
    assert!(rx.poll_timeout().expect("expiry timer") <= later);
    rx.handle_timeout(later);
    assert_eq!(events(&mut rx), vec![Event::End { tsi: TSI }]);
    // The same TSI again is a new session, starting where it is joined.
    rx.handle_datagram(later, SRC, &odata(0)).expect("valid");
    assert!(matches!(&events(&mut rx)[..], [Event::Data { sqn: 0, .. }]));
}
