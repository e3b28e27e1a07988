//! The sending side of one PGM session.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::packet::{Body, Data, Nak, Nla, Options, Packet, PacketError, PgmOption, Spm, Tsi};
use super::packet::{HEADER_LEN, OPT_NETWORK};
use super::{sqn_lt, window_sqns, Destination, Transmit};

/// Most datagrams queued for [`Source::poll_transmit`] (ODATA, SPMs, NCFs) before
/// [`Source::handle_send`] answers [`SendError::Busy`] and further NCFs are dropped (the
/// receivers repeat their NAKs).
pub const MAX_QUEUED_TRANSMITS: usize = 1024;

/// How a [`Source`] behaves. [`SourceConfig::new`] gives libzmq's defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SourceConfig {
    /// Global source identifier.
    pub gsi: [u8; 6],
    /// Our data-source port (the TSI's port; libzmq lets OpenPGM pick it at random).
    pub sport: u16,
    /// The data (destination) port: the endpoint's port.
    pub dport: u16,
    /// Our unicast address, advertised in SPMs as where NAKs go.
    pub nla: Nla,
    /// ODATA rate limit in kbit/s (`ZMQ_RATE`, default 100). RDATA, NCF and SPM are not
    /// limited, as libzmq configures OpenPGM.
    pub rate_kbit: u32,
    /// How long sent data stays repairable (`ZMQ_RECOVERY_IVL`, default 10 s); with `rate`
    /// and `max_tpdu` it sizes the transmit window ([`window_sqns`]).
    pub recovery_ivl: Duration,
    /// Largest packet including IP and UDP headers (`ZMQ_MULTICAST_MAXTPDU`, default 1500).
    pub max_tpdu: u16,
    /// IP and UDP header bytes counted against `max_tpdu` and the rate (28 for epgm/IPv4).
    pub ip_overhead: u16,
    /// SPM interval when idle (libzmq: 30 s).
    pub ambient_spm: Duration,
    /// SPM intervals after data (libzmq: 100, 100, 100, 100 ms, 1.3, 7, 16, 25, 30 s). As in
    /// OpenPGM the first interval is used twice and the last never: after the table the
    /// ambient interval takes over.
    pub heartbeat_spm: Vec<Duration>,
    /// A NAK for data whose repair was queued less than this long ago is ignored: the RDATA
    /// on its way answers it (OpenPGM follows a NAK list with single NAKs for the same
    /// numbers, which would each cost a second repair). Receivers ask again only after
    /// their NCF or RDATA wait (libzmq: 200 ms), so it must stay well below that (50 ms).
    pub repair_holdoff: Duration,
}

impl SourceConfig {
    /// A session with libzmq's defaults.
    pub fn new(gsi: [u8; 6], sport: u16, dport: u16, nla: Nla) -> Self {
        let ms = Duration::from_millis;
        SourceConfig {
            gsi,
            sport,
            dport,
            nla,
            rate_kbit: super::DEFAULT_RATE_KBIT,
            recovery_ivl: super::DEFAULT_RECOVERY_IVL,
            max_tpdu: super::DEFAULT_MAX_TPDU,
            ip_overhead: super::EPGM_V4_OVERHEAD,
            ambient_spm: Duration::from_secs(30),
            heartbeat_spm: vec![
                ms(100),
                ms(100),
                ms(100),
                ms(100),
                ms(1300),
                ms(7000),
                ms(16000),
                ms(25000),
                ms(30000),
            ],
            repair_holdoff: ms(50),
        }
    }

    /// The largest TSDU: OpenPGM's `PGM_MSS`, what libzmq packs into each ODATA (the TPDU
    /// less IP/UDP, the PGM and data headers and room for OPT_LENGTH + OPT_FRAGMENT): 1428
    /// for the defaults.
    pub fn max_tsdu(&self) -> usize {
        usize::from(self.max_tpdu)
            .saturating_sub(usize::from(self.ip_overhead) + HEADER_LEN + 8 + 20)
    }
}

/// Why [`Source::handle_send`] refused a TSDU (nothing was sent; try again later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The rate limit allows this TSDU at `until`.
    #[error("rate limited")]
    RateLimited {
        /// When the token bucket holds enough.
        until: Instant,
    },
    /// [`MAX_QUEUED_TRANSMITS`] datagrams wait for `poll_transmit`.
    #[error("transmit queue full")]
    Busy,
    /// Larger than [`SourceConfig::max_tsdu`].
    #[error("TSDU of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The TSDU's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// [`Source::handle_close`] was called.
    #[error("source closed")]
    Closed,
}

/// The sending side of a PGM session: a transmit window of the last `window_sqns` TSDUs,
/// ODATA under a token-bucket rate limit, ambient and heartbeat SPMs, and NCF + RDATA for
/// every NAK that asks for data still in the window.
///
/// Bounds: the window holds [`window_sqns`] TSDUs; the repair queue at most one entry per
/// window slot, and as many recently queued repairs (kept for `repair_holdoff`); the
/// transmit queue [`MAX_QUEUED_TRANSMITS`].
#[derive(Debug)]
pub struct Source {
    config: SourceConfig,
    /// TSDUs from `trail` on.
    window: VecDeque<Bytes>,
    capacity: usize,
    trail: u32,
    /// The next ODATA's sequence number (the lead is one less).
    next_sqn: u32,
    spm_sqn: u32,
    queue: VecDeque<Transmit>,
    spm_requested: bool,
    repairs: VecDeque<u32>,
    repair_set: HashSet<u32>,
    /// Repairs queued within `repair_holdoff`, oldest first, and their numbers.
    recent_repairs: VecDeque<(Instant, u32)>,
    recent_set: HashSet<u32>,
    /// Token bucket, in bytes.
    tokens: f64,
    bucket_max: f64,
    rate_bytes: f64,
    refilled: Instant,
    next_ambient: Instant,
    /// Heartbeat state as OpenPGM's: 0 off, else the index (1-based) of the next interval.
    heartbeat_state: usize,
    next_heartbeat: Instant,
    closed: bool,
}

impl Source {
    /// A new session; it announces itself with three SPMs, as OpenPGM does on bind.
    pub fn new(config: SourceConfig, now: Instant) -> Self {
        let capacity = window_sqns(config.rate_kbit, config.recovery_ivl, config.max_tpdu) as usize;
        let rate_bytes = f64::from(config.rate_kbit) * 1000.0 / 8.0;
        // OpenPGM's bucket holds a millisecond of rate when that is a TPDU or more, else a
        // second of it; it starts full.
        let bucket_max = if rate_bytes / 1000.0 >= f64::from(config.max_tpdu) {
            rate_bytes / 1000.0
        } else {
            rate_bytes
        };
        let mut source = Source {
            next_ambient: now + config.ambient_spm,
            config,
            window: VecDeque::new(),
            capacity,
            trail: 0,
            next_sqn: 0,
            spm_sqn: 0,
            queue: VecDeque::new(),
            spm_requested: false,
            repairs: VecDeque::new(),
            repair_set: HashSet::new(),
            recent_repairs: VecDeque::new(),
            recent_set: HashSet::new(),
            tokens: bucket_max,
            bucket_max,
            rate_bytes,
            refilled: now,
            heartbeat_state: 0,
            next_heartbeat: now,
            closed: false,
        };
        for _ in 0..3 {
            source.queue_spm(false);
        }
        source
    }

    /// The session identifier.
    pub fn tsi(&self) -> Tsi {
        Tsi {
            gsi: self.config.gsi,
            sport: self.config.sport,
        }
    }

    /// The largest TSDU [`handle_send`](Self::handle_send) takes.
    pub fn max_tsdu(&self) -> usize {
        self.config.max_tsdu()
    }

    /// Trailing edge of the transmit window (oldest repairable sequence number).
    pub fn trail(&self) -> u32 {
        self.trail
    }

    /// Leading edge (last sequence number sent; `trail - 1` before any data).
    pub fn lead(&self) -> u32 {
        self.next_sqn.wrapping_sub(1)
    }

    /// How many TSDUs the transmit window keeps.
    pub fn window_capacity(&self) -> usize {
        self.capacity
    }

    /// Sends one TSDU as ODATA; returns its sequence number.
    pub fn handle_send(&mut self, now: Instant, tsdu: Bytes) -> Result<u32, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let max = self.max_tsdu();
        if tsdu.len() > max {
            return Err(SendError::TooLarge {
                len: tsdu.len(),
                max,
            });
        }
        if self.queue.len() >= MAX_QUEUED_TRANSMITS {
            return Err(SendError::Busy);
        }
        let cost = f64::from(self.config.ip_overhead) + (HEADER_LEN + 8 + tsdu.len()) as f64;
        self.refill(now);
        if self.tokens < cost {
            let wait = (cost - self.tokens) / self.rate_bytes.max(1.0);
            return Err(SendError::RateLimited {
                until: now + Duration::from_secs_f64(wait),
            });
        }
        self.tokens -= cost;
        let sqn = self.next_sqn;
        if self.window.len() == self.capacity {
            self.window.pop_front();
            self.trail = self.trail.wrapping_add(1);
        }
        self.window.push_back(tsdu.clone());
        self.next_sqn = sqn.wrapping_add(1);
        let body = Body::Odata(Data {
            sqn,
            trail: self.trail,
        });
        self.push(Destination::Group, self.packet(body, tsdu));
        self.reset_heartbeat(now);
        Ok(sqn)
    }

    /// A datagram arrived for this session's port: NAKs and SPMRs for us are acted on;
    /// anything else (other sessions, our own looped-back multicast) is ignored.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &Bytes) -> Result<(), PacketError> {
        let packet = Packet::parse(datagram)?;
        if packet.tsi() != self.tsi() || packet.sport != self.config.dport || self.closed {
            return Ok(());
        }
        match packet.body {
            Body::Nak(nak) => self.on_nak(now, &packet, nak),
            Body::Spmr => self.spm_requested = true,
            _ => {}
        }
        Ok(())
    }

    fn on_nak(&mut self, now: Instant, packet: &Packet, nak: Nak) {
        if nak.source != self.config.nla {
            tracing::debug!(?nak.source, "PGM NAK for another source address, ignored");
            return;
        }
        while let Some(&(at, s)) = self.recent_repairs.front() {
            if now.saturating_duration_since(at) < self.config.repair_holdoff {
                break;
            }
            self.recent_repairs.pop_front();
            self.recent_set.remove(&s);
        }
        let lead = self.lead();
        let in_window =
            |s: u32| !sqn_lt(s, self.trail) && !sqn_lt(lead, s) && !self.window.is_empty();
        let wanted: Vec<u32> = std::iter::once(nak.sqn)
            .chain(packet.options.nak_list())
            .filter(|&s| in_window(s) && !self.recent_set.contains(&s))
            .take(1 + super::packet::MAX_NAK_LIST)
            .collect();
        let Some((&first, rest)) = wanted.split_first() else {
            tracing::debug!(
                sqn = nak.sqn,
                "PGM NAK outside the transmit window or just repaired, ignored"
            );
            return;
        };
        let ncf = Nak {
            sqn: first,
            source: self.config.nla,
            group: nak.group,
        };
        let mut p = self.packet(Body::Ncf(ncf), Bytes::new());
        if !rest.is_empty() {
            p.flags = OPT_NETWORK;
            p.options.list.push(PgmOption::nak_list(rest));
        }
        if self.queue.len() < MAX_QUEUED_TRANSMITS {
            self.push(Destination::Group, p);
        }
        for &s in &wanted {
            if self.repair_set.insert(s) {
                self.repairs.push_back(s);
            }
            if !self.config.repair_holdoff.is_zero() && self.recent_set.insert(s) {
                self.recent_repairs.push_back((now, s));
            }
        }
        self.reset_heartbeat(now);
    }

    /// Timers fired (call at or after [`poll_timeout`](Self::poll_timeout)): ambient or
    /// heartbeat SPM.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let heartbeat = self.heartbeat_state != 0;
        let next_spm = if heartbeat {
            self.next_heartbeat.min(self.next_ambient)
        } else {
            self.next_ambient
        };
        if now < next_spm {
            return;
        }
        self.queue_spm(false);
        if now >= self.next_ambient {
            self.next_ambient = now + self.config.ambient_spm;
        }
        if heartbeat && now >= self.next_heartbeat {
            let table = &self.config.heartbeat_spm;
            loop {
                let ivl = table
                    .get(self.heartbeat_state.saturating_sub(1))
                    .copied()
                    .unwrap_or_default();
                self.next_heartbeat += ivl;
                self.heartbeat_state += 1;
                if self.heartbeat_state > table.len() {
                    self.heartbeat_state = 0;
                    break;
                }
                if now < self.next_heartbeat {
                    break;
                }
            }
        }
    }

    /// Ends the session: three SPMs carrying OPT_FIN, as OpenPGM sends on close. Later sends
    /// fail with [`SendError::Closed`]; the timers stop.
    pub fn handle_close(&mut self) {
        if self.closed {
            return;
        }
        for _ in 0..3 {
            self.queue_spm(true);
        }
        self.closed = true;
    }

    /// The next datagram to send: queued SPMs, ODATA and NCFs first, then a requested SPM,
    /// then repairs (RDATA), one per call.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.queue.pop_front() {
            return Some(t);
        }
        if self.spm_requested {
            self.spm_requested = false;
            self.queue_spm(false);
            return self.queue.pop_front();
        }
        while let Some(s) = self.repairs.pop_front() {
            self.repair_set.remove(&s);
            if sqn_lt(s, self.trail) {
                continue; // left the window since the NAK
            }
            let Some(tsdu) = self
                .window
                .get(s.wrapping_sub(self.trail) as usize)
                .cloned()
            else {
                continue;
            };
            let body = Body::Rdata(Data {
                sqn: s,
                trail: self.trail,
            });
            return Some(Transmit {
                destination: Destination::Group,
                datagram: self.packet(body, tsdu).to_bytes(),
            });
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants calling; `None` once closed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        Some(if self.heartbeat_state != 0 {
            self.next_heartbeat.min(self.next_ambient)
        } else {
            self.next_ambient
        })
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_bytes).min(self.bucket_max);
        self.refilled = now;
    }

    fn reset_heartbeat(&mut self, now: Instant) {
        if let Some(first) = self.config.heartbeat_spm.first() {
            self.heartbeat_state = 1;
            self.next_heartbeat = now + *first;
        }
    }

    fn packet(&self, body: Body, tsdu: Bytes) -> Packet {
        Packet::new(
            self.config.sport,
            self.config.dport,
            self.config.gsi,
            body,
            tsdu,
        )
    }

    fn queue_spm(&mut self, fin: bool) {
        let body = Body::Spm(Spm {
            spm_sqn: self.spm_sqn,
            trail: self.trail,
            lead: self.lead(),
            nla: self.config.nla,
        });
        self.spm_sqn = self.spm_sqn.wrapping_add(1);
        let mut p = self.packet(body, Bytes::new());
        if fin {
            p.options = Options {
                list: vec![PgmOption::fin()],
            };
        }
        self.push(Destination::Group, p);
    }

    fn push(&mut self, destination: Destination, packet: Packet) {
        let mut out = BytesMut::with_capacity(packet.wire_len());
        packet.encode(&mut out);
        self.queue.push_back(Transmit {
            destination,
            datagram: out.freeze(),
        });
    }
}
