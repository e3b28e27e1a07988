//! `pgm_receiver`: a script of packets from two sources into one `Receiver`.
//!
//! Input: `config(1)` then ops, each `op(1) args…`:
//! - `0` ODATA / `1` RDATA: source(1) sqn offset(1) trail offset(1);
//! - `2` SPM: source(1) spm_sqn(1) trail offset(1) lead offset(1) fin(1);
//! - `3` NCF: source(1) sqn offset(1) list length(1) offsets…;
//! - `4` time passes: milliseconds(2), then timers run;
//! - `5` raw datagram: length(1) bytes;
//! - `6` drain events.
//!
//! Sequence numbers are a source's base (near the 32-bit wrap for source 1) plus the offset,
//! and each TSDU holds its own sequence number, so a delivered TSDU is checked against it.
//! Invariants: no panic; per source, events come in strictly increasing sequence order with
//! no sequence number both delivered and reported lost, and each TSDU is the one sent with
//! that number; the transmit and event queues stay within their documented bounds (events:
//! under twice `max_events`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_transports::pgm::packet::{Body, Data, Nak, Nla, Options, Packet, PgmOption, Spm, Tsi};
use zmq_transports::pgm::{Event, Receiver, ReceiverConfig};

use crate::seeds::Input;

const SOURCE_NLA: Nla = Nla::V4([10, 0, 0, 1]);
const GROUP: Nla = Nla::V4([239, 1, 1, 1]);
const PORT: u16 = 5555;
const MAX_EVENTS: usize = 64;
/// The receiver's queue of NAKs and SPMRs (receiver::MAX_QUEUED_TRANSMITS).
const MAX_TRANSMITS: usize = 1024;

fn tsi(source: u8) -> Tsi {
    Tsi {
        gsi: [1, 2, 3, 4, 5, 6],
        sport: 1000 + u16::from(source & 1),
    }
}

fn base(source: u8) -> u32 {
    if source & 1 == 0 {
        0
    } else {
        u32::MAX - 100
    }
}

fn packet(source: u8, body: Body, tsdu: Bytes) -> Packet {
    Packet::new(tsi(source).sport, PORT, tsi(source).gsi, body, tsdu)
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let t0 = Instant::now();
    let mut now = t0;
    let cfg_bits = input.u8();
    let mut config = ReceiverConfig::new(PORT, GROUP, u64::from(cfg_bits));
    config.max_events = MAX_EVENTS;
    // A small window (1 + bits) so that the fuzzer reaches its edge.
    config.rate_kbit = 8;
    config.max_tpdu = 1000;
    config.recovery_ivl = Duration::from_millis(1000 * (1 + u64::from(cfg_bits & 0x1f)));
    config.nak_ncf_retries = 1 + u32::from(cfg_bits >> 6);
    config.nak_data_retries = 1 + u32::from(cfg_bits >> 6);
    let mut rx = Receiver::new(config, now);
    // Per source: the next sequence number an event may carry.
    let mut expect: HashMap<Tsi, u32> = HashMap::new();
    let mut ops = 0;
    while !input.is_empty() && ops < 2000 {
        ops += 1;
        let op = input.u8() % 7;
        let dgram = match op {
            0 | 1 => {
                let s = input.u8();
                let sqn = base(s).wrapping_add(u32::from(input.u8()));
                let trail = base(s).wrapping_add(u32::from(input.u8()));
                let d = Data { sqn, trail };
                let body = if op == 0 {
                    Body::Odata(d)
                } else {
                    Body::Rdata(d)
                };
                Some(packet(s, body, Bytes::copy_from_slice(&sqn.to_be_bytes())).to_bytes())
            }
            2 => {
                let s = input.u8();
                let spm = Spm {
                    spm_sqn: u32::from(input.u8()),
                    trail: base(s).wrapping_add(u32::from(input.u8())),
                    lead: base(s).wrapping_add(u32::from(input.u8())).wrapping_sub(1),
                    nla: SOURCE_NLA,
                };
                let mut p = packet(s, Body::Spm(spm), Bytes::new());
                if input.u8() == 0xff {
                    p.options = Options {
                        list: vec![PgmOption::fin()],
                    };
                }
                Some(p.to_bytes())
            }
            3 => {
                let s = input.u8();
                let nak = Nak {
                    sqn: base(s).wrapping_add(u32::from(input.u8())),
                    source: SOURCE_NLA,
                    group: GROUP,
                };
                let n = usize::from(input.u8() % 8);
                let list: Vec<u32> = (0..n)
                    .map(|_| base(s).wrapping_add(u32::from(input.u8())))
                    .collect();
                let mut p = packet(s, Body::Ncf(nak), Bytes::new());
                if !list.is_empty() {
                    p.options.list.push(PgmOption::nak_list(&list));
                }
                Some(p.to_bytes())
            }
            4 => {
                now += Duration::from_millis(u64::from(input.u16()));
                rx.handle_timeout(now);
                None
            }
            5 => {
                let n = usize::from(input.u8());
                Some(Bytes::copy_from_slice(input.bytes(n)))
            }
            _ => {
                drain(&mut rx, &mut expect);
                None
            }
        };
        if let Some(d) = dgram {
            let _ = rx.handle_datagram(now, SOURCE_NLA, &d);
        }
        let mut sent = 0;
        while let Some(t) = rx.poll_transmit() {
            sent += 1;
            assert!(sent <= MAX_TRANSMITS, "transmit queue over its bound");
            assert!(
                Packet::parse(&t.datagram).is_ok(),
                "we sent a malformed packet"
            );
        }
        if let Some(t) = rx.poll_timeout() {
            assert!(t >= t0);
        }
        assert!(
            rx.pending_events() <= 2 * MAX_EVENTS,
            "event queue over its bound"
        );
    }
    drain(&mut rx, &mut expect);
}

fn drain(rx: &mut Receiver, expect: &mut HashMap<Tsi, u32>) {
    // The queue's documented bound: under twice `max_events`.
    assert!(
        rx.pending_events() <= 2 * MAX_EVENTS,
        "{} events queued",
        rx.pending_events()
    );
    while let Some(e) = rx.poll_event() {
        let (tsi, first, count) = match &e {
            Event::Data { tsi, sqn, tsdu } => {
                assert_eq!(
                    &tsdu[..],
                    &sqn.to_be_bytes(),
                    "a TSDU under another sequence number"
                );
                (*tsi, *sqn, 1)
            }
            Event::Loss { tsi, first, count } => {
                assert!(*count > 0);
                (*tsi, *first, *count)
            }
            Event::End { tsi } => {
                expect.remove(tsi);
                continue;
            }
        };
        if let Some(&next) = expect.get(&tsi) {
            assert!(
                first.wrapping_sub(next) < 1 << 31,
                "{tsi:?}: event at {first} before {next}"
            );
        }
        expect.insert(tsi, first.wrapping_add(count));
    }
}
