//! libzmq 4.3.4 (OpenPGM 5.3) packets captured over epgm (docs/LIBZMQ-WIRE.md, "PGM / EPGM"):
//! our parser reads them, our encoder reproduces them byte for byte, and the core's Source,
//! Receiver and framing produce the same bytes for the same inputs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_transports::pgm::framing::{Decoder, Encoder};
use zmq_transports::pgm::packet::{Body, Nla, Packet, PacketError, Tsi, OPT_FIN};
use zmq_transports::pgm::{Destination, Event, Receiver, ReceiverConfig, Source, SourceConfig};
use zmtp_codec::Message;

const GSI: [u8; 6] = [0xb7, 0xc6, 0xd1, 0xbc, 0x03, 0x8a];
const PUB: Nla = Nla::V4([10, 77, 0, 1]);
const SUB: Nla = Nla::V4([10, 77, 0, 2]);
const GROUP: Nla = Nla::V4([239, 192, 1, 1]);

// Session 1: source port 0xa683, data port 5555; ODATA 1 and 2 dropped at the receiver.
const SPM0: &str = "a68315b30000ac6cb7c6d1bc038a00000000000000000000ffffffff000100000a4d0001";
const SPM1: &str = "a68315b30000ac6bb7c6d1bc038a00000000000100000000ffffffff000100000a4d0001";
const SPM2: &str = "a68315b30000ac6ab7c6d1bc038a00000000000200000000ffffffff000100000a4d0001";
const ODATA_HELLO: &str = "a68315b3040068e0b7c6d1bc038a000900000000000000000000060068656c6c6f";
const SPM3: &str = "a68315b30000ac69b7c6d1bc038a0000000000030000000000000000000100000a4d0001";
const SPM4: &str = "a68315b30000ac68b7c6d1bc038a0000000000040000000000000000000100000a4d0001";
const ODATA_TOPIC: &str =
    "a68315b304007c05b7c6d1bc038a000f000000010000000000000601746f7069630500626f6479";
const SPM5: &str = "a68315b30000ac66b7c6d1bc038a0000000000050000000000000001000100000a4d0001";
const NAK1: &str = "15b3a6830800b3a8b7c6d1bc038a000000000001000100000a4d000100010000efc00101";
const NCF1: &str = "a68315b30a00b1a8b7c6d1bc038a000000000001000100000a4d000100010000efc00101";
const RDATA_TOPIC: &str =
    "a68315b305007b05b7c6d1bc038a000f000000010000000000000601746f7069630500626f6479";
const ODATA_EMPTY: &str = "a68315b30400b1b2b7c6d1bc038a0004000000050000000000000100";
const ODATA_BATCH: &str =
    "a68315b304006213b7c6d1bc038a000e0000000600000000000003006d3003006d3103006d32";
const SPM_FIN: &str =
    "a68315b300011e47b7c6d1bc038a00000000000e0000000000000006000100000a4d0001000400088e040000";
// Session 2: source port 0x16b1; the first SPMs and ODATA 2-3 dropped at the receiver.
const SPMR: &str = "15b316b10c003a8eb7c6d1bc038a0000";
const NAK_LIST: &str = "15b316b10803c15bb7c6d1bc038a000000000002000100000a4d000100010000efc001010004000c8208000000000003";
const NCF_LIST: &str = "16b115b30a03be5bb7c6d1bc038a000000000002000100000a4d000100010000efc001010004000c8208010000000003";

/// The three ODATA carrying a 3000-byte message (session 1, sqn 2..4): header, checksum,
/// TSDU prefix, then `x` to the TSDU length.
const BIG: [(u32, &str, &str, usize); 3] = [
    (2, "c7eb", "0000ff0000000000000bb900", 1428),
    (3, "259d", "ffff", 1428),
    (4, "844c", "009e", 160),
];

fn hex(s: &str) -> Bytes {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect();
    Bytes::from(v)
}

fn big_odata(i: usize) -> Bytes {
    let (sqn, sum, prefix, tsdu_len) = BIG[i];
    let mut s = format!("a68315b30400{sum}b7c6d1bc038a{tsdu_len:04x}{sqn:08x}00000000{prefix}");
    let pad = tsdu_len - prefix.len() / 2;
    s.push_str(&"78".repeat(pad));
    hex(&s)
}

fn round_trip(s: &str) -> Packet {
    let bytes = hex(s);
    let p = Packet::parse(&bytes).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(p.to_bytes(), bytes, "re-encoding differs");
    p
}

#[test]
fn every_captured_packet_parses_and_reencodes_identically() {
    for s in [
        SPM0,
        SPM1,
        SPM2,
        ODATA_HELLO,
        SPM3,
        SPM4,
        ODATA_TOPIC,
        SPM5,
        NAK1,
        NCF1,
        RDATA_TOPIC,
        ODATA_EMPTY,
        ODATA_BATCH,
        SPM_FIN,
        SPMR,
        NAK_LIST,
        NCF_LIST,
    ] {
        round_trip(s);
    }
    for i in 0..3 {
        let b = big_odata(i);
        assert_eq!(Packet::parse(&b).expect("parses").to_bytes(), b);
    }
}

#[test]
fn fields_of_each_type() {
    let tsi = Tsi {
        gsi: GSI,
        sport: 0xa683,
    };
    let p = round_trip(SPM0);
    assert_eq!(p.tsi(), tsi);
    assert_eq!(p.dport, 5555);
    let Body::Spm(spm) = p.body else {
        panic!("not an SPM")
    };
    assert_eq!(
        (spm.spm_sqn, spm.trail, spm.lead, spm.nla),
        (0, 0, u32::MAX, PUB)
    );

    let p = round_trip(ODATA_TOPIC);
    assert_eq!(
        p.body,
        Body::Odata(zmq_transports::pgm::packet::Data { sqn: 1, trail: 0 })
    );
    assert_eq!(&p.tsdu[..], b"\x00\x00\x06\x01topic\x05\x00body");

    let p = round_trip(NAK1);
    assert_eq!(
        p.tsi(),
        tsi,
        "a NAK names the source's port as its destination"
    );
    assert_eq!((p.sport, p.dport), (5555, 0xa683));
    let Body::Nak(nak) = p.body else {
        panic!("not a NAK")
    };
    assert_eq!((nak.sqn, nak.source, nak.group), (1, PUB, GROUP));

    let p = round_trip(NAK_LIST);
    assert_eq!(p.flags, 0x02, "OPT_NETWORK beside OPT_PRESENT");
    assert_eq!(p.options.nak_list().collect::<Vec<_>>(), vec![3]);
    let p = round_trip(NCF_LIST);
    assert!(matches!(p.body, Body::Ncf(n) if n.sqn == 2));
    assert_eq!(
        p.options.list[0].flags,
        [1, 0],
        "OpenPGM's uninitialised OPX byte"
    );
    assert_eq!(p.options.nak_list().collect::<Vec<_>>(), vec![3]);

    let p = round_trip(SPM_FIN);
    assert!(p.options.has(OPT_FIN));
    assert_eq!(round_trip(SPMR).body, Body::Spmr);
}

#[test]
fn corrupted_packets_are_refused() {
    let good = hex(ODATA_HELLO);
    for i in 0..good.len() {
        let mut v = good.to_vec();
        v[i] ^= 0x40;
        assert!(
            Packet::parse(&Bytes::from(v)).is_err(),
            "flip at {i} accepted"
        );
    }
    for n in 0..good.len() {
        assert!(
            Packet::parse(&good.slice(..n)).is_err(),
            "prefix {n} accepted"
        );
    }
    let mut v = good.to_vec();
    v[6] = 0;
    v[7] = 0;
    assert_eq!(
        Packet::parse(&Bytes::from(v)),
        Err(PacketError::MissingChecksum)
    );
}

fn config(sport: u16) -> SourceConfig {
    let mut c = SourceConfig::new(GSI, sport, 5555, PUB);
    // The capture's publisher: ZMQ_RATE 1000, ZMQ_RECOVERY_IVL 2000.
    c.rate_kbit = 1000;
    c.recovery_ivl = Duration::from_millis(2000);
    c
}

fn drain(source: &mut Source) -> Vec<Bytes> {
    std::iter::from_fn(|| source.poll_transmit())
        .map(|t| {
            assert_eq!(t.destination, Destination::Group);
            t.datagram
        })
        .collect()
}

#[test]
fn source_and_framing_send_what_libzmq_sends() {
    let t0 = Instant::now();
    let mut source = Source::new(config(0xa683), t0);
    assert_eq!(source.max_tsdu(), 1428);
    assert_eq!(drain(&mut source), vec![hex(SPM0), hex(SPM1), hex(SPM2)]);
    let mut enc = Encoder::new(source.max_tsdu());
    let mut send = |source: &mut Source, now: Instant, m: Message| {
        enc.push(&m);
        while let Some(tsdu) = enc.poll_tsdu() {
            source.handle_send(now, tsdu).expect("within the rate");
        }
        drain(source)
    };
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        send(&mut source, t1, Message::from("hello")),
        vec![hex(ODATA_HELLO)]
    );
    // Heartbeat SPMs 100 ms apart after data.
    assert_eq!(source.poll_timeout(), Some(t1 + Duration::from_millis(100)));
    source.handle_timeout(t1 + Duration::from_millis(100));
    source.handle_timeout(t1 + Duration::from_millis(200));
    assert_eq!(drain(&mut source), vec![hex(SPM3), hex(SPM4)]);
    let t2 = t1 + Duration::from_millis(200);
    let topic: Message = ["topic", "body"].into_iter().collect();
    assert_eq!(send(&mut source, t2, topic), vec![hex(ODATA_TOPIC)]);
    source.handle_timeout(t2 + Duration::from_millis(100));
    assert_eq!(drain(&mut source), vec![hex(SPM5)]);
    // The receiver's NAK for sqn 1: an NCF at once, then the RDATA.
    source
        .handle_datagram(t2 + Duration::from_millis(120), &hex(NAK1))
        .expect("valid NAK");
    assert_eq!(drain(&mut source), vec![hex(NCF1), hex(RDATA_TOPIC)]);
    let t3 = t2 + Duration::from_millis(200);
    let big = Message::from(vec![b'x'; 3000]);
    assert_eq!(
        send(&mut source, t3, big),
        (0..3).map(big_odata).collect::<Vec<_>>()
    );
    // (SPMs 6 and 7 of the capture come here.)
    for _ in 0..2 {
        source.handle_timeout(source.poll_timeout().expect("heartbeat"));
    }
    let _ = drain(&mut source);
    let t4 = t3 + Duration::from_millis(200);
    assert_eq!(
        send(&mut source, t4, Message::from("")),
        vec![hex(ODATA_EMPTY)]
    );
    enc.push(&Message::from("m0"));
    enc.push(&Message::from("m1"));
    enc.push(&Message::from("m2"));
    let tsdu = enc.poll_tsdu().expect("one TSDU for three messages");
    assert!(enc.poll_tsdu().is_none());
    source.handle_send(t4, tsdu).expect("within the rate");
    assert_eq!(drain(&mut source), vec![hex(ODATA_BATCH)]);
}

#[test]
fn receiver_naks_as_openpgm_does() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(ReceiverConfig::new(5555, GROUP, 1), t0);
    for s in [SPM0, SPM1, SPM2, ODATA_HELLO, SPM3, SPM4, SPM5] {
        rx.handle_datagram(t0, PUB, &hex(s)).expect("valid");
    }
    // SPM 5 says the lead is 1: sqn 1 is missing; a NAK follows the back-off.
    assert!(rx.poll_transmit().is_none());
    let deadline = rx.poll_timeout().expect("back-off timer");
    assert!(deadline <= t0 + Duration::from_millis(50));
    rx.handle_timeout(deadline);
    let nak = rx.poll_transmit().expect("a NAK");
    assert_eq!(nak.destination, Destination::Unicast(PUB));
    assert_eq!(nak.datagram, hex(NAK1));
    rx.handle_datagram(deadline, PUB, &hex(NCF1))
        .expect("valid");
    rx.handle_datagram(deadline, PUB, &hex(RDATA_TOPIC))
        .expect("valid");
    let mut dec = Decoder::new(None);
    let mut msgs = Vec::new();
    while let Some(e) = rx.poll_event() {
        let Event::Data { tsdu, .. } = e else {
            panic!("unexpected {e:?}")
        };
        dec.handle_tsdu(&tsdu, &mut msgs).expect("framing");
    }
    let topic: Message = ["topic", "body"].into_iter().collect();
    assert_eq!(msgs, vec![Message::from("hello"), topic]);
    let _ = SUB;
}

#[test]
fn two_gaps_go_out_as_a_nak_list() {
    let t0 = Instant::now();
    let mut rx = Receiver::new(ReceiverConfig::new(5555, GROUP, 3), t0);
    let spm = |sqn: u32, lead: u32| {
        let p = Packet::new(
            0x16b1,
            5555,
            GSI,
            Body::Spm(zmq_transports::pgm::packet::Spm {
                spm_sqn: sqn,
                trail: 0,
                lead,
                nla: PUB,
            }),
            Bytes::new(),
        );
        p.to_bytes()
    };
    rx.handle_datagram(t0, PUB, &spm(3, 1)).expect("valid");
    rx.handle_datagram(t0, PUB, &spm(4, 3)).expect("valid");
    rx.handle_timeout(t0 + Duration::from_millis(50));
    let nak = rx.poll_transmit().expect("a NAK");
    assert_eq!(nak.datagram, hex(NAK_LIST));
}

#[test]
fn libzmq_tsdus_decode_and_late_joiners_skip_to_a_boundary() {
    let tsdus: Vec<Bytes> = [ODATA_HELLO, ODATA_TOPIC]
        .iter()
        .map(|s| hex(s))
        .chain((0..3).map(big_odata))
        .chain([ODATA_EMPTY, ODATA_BATCH].iter().map(|s| hex(s)))
        .map(|b| Packet::parse(&b).expect("valid").tsdu)
        .collect();
    let all = |from: usize| {
        let mut dec = Decoder::new(None);
        let mut out = Vec::new();
        for t in &tsdus[from..] {
            dec.handle_tsdu(t, &mut out).expect("framing");
        }
        out
    };
    let full = all(0);
    assert_eq!(full.len(), 7);
    assert_eq!(full[2].frames()[0].len(), 3000);
    // Joining at the middle of the big message: its tail (offset FFFF) is skipped, and the
    // last fragment's offset points at its end, so the next message is the empty one.
    assert_eq!(all(3), full[3..].to_vec());
    assert_eq!(all(4), full[3..].to_vec());
    assert_eq!(all(2), full[2..].to_vec());
}

/// OpenPGM follows a NAK list with single NAKs for the same numbers: a NAK for data whose
/// repair was queued less than `repair_holdoff` (50 ms) ago gets neither NCF nor RDATA; a
/// later one (the receiver lost the repair) gets both again.
#[test]
fn a_repeated_nak_within_the_holdoff_costs_no_second_repair() {
    let t0 = Instant::now();
    let mut source = Source::new(config(0xa683), t0);
    let _ = drain(&mut source);
    let mut enc = Encoder::new(source.max_tsdu());
    for m in ["hello", "topic"] {
        enc.push(&Message::from(m));
        let tsdu = enc.poll_tsdu().expect("a TSDU");
        source.handle_send(t0, tsdu).expect("within the rate");
    }
    let _ = drain(&mut source);
    let t1 = t0 + Duration::from_millis(100);
    let nak = |source: &mut Source, at: Instant| {
        source.handle_datagram(at, &hex(NAK1)).expect("valid NAK");
        drain(source).len()
    };
    assert_eq!(nak(&mut source, t1), 2, "NCF and RDATA");
    assert_eq!(nak(&mut source, t1 + Duration::from_millis(10)), 0);
    assert_eq!(nak(&mut source, t1 + Duration::from_millis(49)), 0);
    assert_eq!(nak(&mut source, t1 + Duration::from_millis(60)), 2);
}
