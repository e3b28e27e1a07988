//! The sans-IO PGM core (RFC 3208, as OpenPGM and so libzmq speak it) for `pgm://` and
//! `epgm://`: the part of reliable multicast that needs no sockets and no clock. Its Tokio
//! driver, [`multicast`](crate::multicast), owns the sockets and the timers and feeds this core.
//!
//! - [`packet`]: typed, lossless parse/encode of SPM, ODATA, RDATA, NAK, NCF and SPMR with
//!   their options and checksum.
//! - [`Source`]: the sending side of one session: transmit window sized from `rate` and
//!   `recovery_ivl`, ODATA rate limit, ambient and heartbeat SPMs, NCF + RDATA repair.
//! - [`Receiver`]: the receiving side: one receive window per source (keyed by [`Tsi`]), gap
//!   detection, NAKs with random back-off, retries and give-up, in-order delivery or a
//!   reported loss.
//! - [`framing`]: libzmq's TSDU payload (a 16-bit offset of the first message, then ZMTP 1.0
//!   frames), both directions, resynchronising at the next message boundary after a loss.
//!
//! Wire facts (captured from libzmq 4.3.4) are in `docs/LIBZMQ-WIRE.md`, "PGM / EPGM"; the
//! tests in `zmq-transports/tests/pgm_captures.rs` hold the captured packets.
//!
//! Not implemented: reassembly of OPT_FRAGMENT APDUs (libzmq never fragments: it packs its
//! own TSDUs of at most `PGM_MSS` bytes; a fragmented APDU from another OpenPGM sender is
//! delivered fragment by fragment, which the libzmq framing cannot read), parity
//! (FEC), OPT_JOIN, POLL/POLR, congestion control. Our receiver does not repeat a NAK list
//! as a single NAK the way OpenPGM does, and our source sends RDATA as soon as it is polled.
//!
//! Method taxonomy, as `zmtp-codec`'s `Connection`: `handle_*` for inputs (a datagram
//! arrived, a timer fired, the application sends), `poll_*` for outputs (datagrams to send,
//! events, the next deadline). Time is always an argument. Every queue has a documented
//! bound; a datagram from the network never panics the core.
//!
//! # Example
//!
//! A source and a receiver on a perfect in-memory network:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use zmq_transports::pgm::{framing, packet::Nla, Event, Receiver, ReceiverConfig, Source, SourceConfig};
//! use zmtp_codec::Message;
//!
//! let now = Instant::now();
//! let group = Nla::V4([239, 192, 1, 1]);
//! let mut source = Source::new(SourceConfig::new([1, 2, 3, 4, 5, 6], 4000, 5555, Nla::V4([10, 0, 0, 1])), now);
//! let mut receiver = Receiver::new(ReceiverConfig::new(5555, group, 7), now);
//!
//! // The application's messages become TSDUs the way libzmq packs them.
//! let mut encoder = framing::Encoder::new(source.max_tsdu());
//! encoder.push(&Message::from("hello"));
//! while let Some(tsdu) = encoder.poll_tsdu() {
//!     source.handle_send(now, tsdu).expect("within the rate");
//! }
//! // Whatever the source emits (3 SPMs, then ODATA) reaches the receiver.
//! while let Some(t) = source.poll_transmit() {
//!     receiver.handle_datagram(now, Nla::V4([10, 0, 0, 1]), &t.datagram).expect("well-formed");
//! }
//! let mut decoder = framing::Decoder::new(None);
//! let mut messages = Vec::new();
//! while let Some(event) = receiver.poll_event() {
//!     if let Event::Data { tsdu, .. } = event {
//!         decoder.handle_tsdu(&tsdu, &mut messages).expect("libzmq framing");
//!     }
//! }
//! assert_eq!(messages, vec![Message::from("hello")]);
//! assert!(source.poll_timeout().expect("heartbeat SPM") <= now + Duration::from_millis(100));
//! ```

pub mod framing;
pub mod packet;
pub mod receiver;
pub mod source;

use std::time::Duration;

use bytes::Bytes;

pub use packet::{Nla, Tsi};
pub use receiver::{Event, Receiver, ReceiverConfig};
pub use source::{SendError, Source, SourceConfig};

/// Where a datagram the core emits goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The session's multicast group, at the data port.
    Group,
    /// The multicast group with a hop limit of 1 (an SPMR to the other receivers on the link).
    GroupLocal,
    /// A source's unicast address (from its SPMs), at the data port (NAK, SPMR).
    Unicast(Nla),
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to.
    pub destination: Destination,
    /// The PGM packet (the UDP payload for `epgm`).
    pub datagram: Bytes,
}

/// libzmq's `ZMQ_RATE` default, in kbit/s.
pub const DEFAULT_RATE_KBIT: u32 = 100;
/// libzmq's `ZMQ_RECOVERY_IVL` default.
pub const DEFAULT_RECOVERY_IVL: Duration = Duration::from_secs(10);
/// libzmq's `ZMQ_MULTICAST_MAXTPDU` default, in bytes.
pub const DEFAULT_MAX_TPDU: u16 = 1500;
/// IPv4 and UDP header bytes in front of an `epgm` packet (OpenPGM counts them in the TPDU).
pub const EPGM_V4_OVERHEAD: u16 = 28;

/// How many sequence numbers a window holds: libzmq's `compute_sqns`, the bytes of
/// `recovery_ivl` at `rate` divided by the TPDU size (at least 1). Both sides use it.
pub fn window_sqns(rate_kbit: u32, recovery_ivl: Duration, max_tpdu: u16) -> u32 {
    let bytes_per_ms = u64::from(rate_kbit) / 8;
    let ms = u64::try_from(recovery_ivl.as_millis()).unwrap_or(u64::MAX);
    let sqns = ms.saturating_mul(bytes_per_ms) / u64::from(max_tpdu.max(1));
    u32::try_from(sqns)
        .unwrap_or(u32::MAX / 2)
        .clamp(1, u32::MAX / 2)
}

/// `a < b` in sequence-number arithmetic (RFC 1982, 32 bits).
pub(crate) fn sqn_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// A small seedable generator (SplitMix64) for NAK back-off: deterministic under a seed, so
/// the simulated network tests replay. The driver seeds it from the operating system.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform duration in `[lo, hi]` (microsecond steps), as OpenPGM's back-off draws
    /// between 1 µs and the interval.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_us = lo.as_micros() as u64;
        let hi_us = (hi.as_micros() as u64).max(lo_us);
        Duration::from_micros(lo_us + self.next_u64() % (hi_us - lo_us + 1))
    }
}
