//! `pgm_packet`: arbitrary bytes as a PGM datagram.
//!
//! Invariants: parsing never panics; a packet that parses re-encodes to exactly the input
//! (parsing is lossless), and the re-encoding parses to the same packet; a source and a
//! receiver fed the datagram do not panic; a data packet's TSDU fed to libzmq's framing
//! decoder does not panic and yields only messages that fit in the TSDU.

use std::time::Instant;

use bytes::Bytes;
use zmq_transports::pgm::framing::Decoder;
use zmq_transports::pgm::packet::{Body, Nla, Packet};
use zmq_transports::pgm::{Receiver, ReceiverConfig, Source, SourceConfig};

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let datagram = Bytes::copy_from_slice(data);
    let now = Instant::now();
    if let Ok(p) = Packet::parse(&datagram) {
        let encoded = p.to_bytes();
        assert_eq!(encoded, datagram, "parse is not lossless");
        assert_eq!(Packet::parse(&encoded).as_ref(), Ok(&p), "re-parse differs");
        assert_eq!(p.wire_len(), data.len());
        if matches!(p.body, Body::Odata(_) | Body::Rdata(_)) {
            let mut out = Vec::new();
            let _ = Decoder::new(Some(1 << 16)).handle_tsdu(&p.tsdu, &mut out);
            let bytes: usize = out
                .iter()
                .map(|m| m.iter().map(|f| f.len()).sum::<usize>())
                .sum();
            assert!(bytes <= p.tsdu.len());
        }
        // A source whose session this is, and a receiver on its port.
        let tsi = p.tsi();
        let nla = match p.body {
            Body::Nak(n) | Body::Ncf(n) => n.source,
            _ => Nla::V4([10, 0, 0, 1]),
        };
        let port = if tsi.sport == p.sport {
            p.dport
        } else {
            p.sport
        };
        let mut source = Source::new(SourceConfig::new(tsi.gsi, tsi.sport, port, nla), now);
        for i in 0..4u8 {
            let _ = source.handle_send(now, Bytes::from(vec![0, 0, 1, i]));
        }
        source
            .handle_datagram(now, &datagram)
            .expect("parsed once already");
        while source.poll_transmit().is_some() {}
        let mut rx = Receiver::new(
            ReceiverConfig::new(p.dport, Nla::V4([239, 1, 1, 1]), 1),
            now,
        );
        rx.handle_datagram(now, nla, &datagram)
            .expect("parsed once already");
        if let Some(t) = rx.poll_timeout() {
            rx.handle_timeout(t);
        }
        while rx.poll_transmit().is_some() {}
        while rx.poll_event().is_some() {}
    }
}
