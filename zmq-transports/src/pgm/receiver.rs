//! The receiving side: one receive window per source.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::packet::{Body, Nak, Nla, Packet, PacketError, PgmOption, Spm, Tsi};
use super::packet::{MAX_NAK_LIST, OPT_FIN, OPT_NETWORK};
use super::{sqn_lt, window_sqns, Destination, Rng, Transmit};

/// Most datagrams (NAKs, SPMRs) queued for [`Receiver::poll_transmit`]; more are dropped
/// (the repair timers send them again).
pub const MAX_QUEUED_TRANSMITS: usize = 1024;

/// How a [`Receiver`] behaves. [`ReceiverConfig::new`] gives the values libzmq sets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// The data port (the endpoint's port); packets for other ports are ignored.
    pub dport: u16,
    /// The multicast group, named in our NAKs.
    pub group: Nla,
    /// With `recovery_ivl` and `max_tpdu`, sizes each source's receive window
    /// ([`window_sqns`]), as libzmq sizes OpenPGM's (`ZMQ_RATE`, default 100 kbit/s).
    pub rate_kbit: u32,
    /// See `rate_kbit` (`ZMQ_RECOVERY_IVL`, default 10 s).
    pub recovery_ivl: Duration,
    /// See `rate_kbit` (`ZMQ_MULTICAST_MAXTPDU`, default 1500).
    pub max_tpdu: u16,
    /// A NAK goes out after a uniform random back-off in (0, `nak_bo_ivl`] (libzmq: 50 ms).
    pub nak_bo_ivl: Duration,
    /// Wait this long for an NCF before backing off again (libzmq: 200 ms).
    pub nak_rpt_ivl: Duration,
    /// After an NCF, wait this long for the RDATA (libzmq: 200 ms).
    pub nak_rdata_ivl: Duration,
    /// Give up after this many NCF waits time out (libzmq: 50).
    pub nak_ncf_retries: u32,
    /// Give up after this many RDATA waits time out (libzmq: 50).
    pub nak_data_retries: u32,
    /// Ask for an SPM (SPMR) this long after data from a source whose SPM we have not seen
    /// (libzmq: 25 ms).
    pub spmr_expiry: Duration,
    /// Forget a source silent this long (libzmq: 300 s).
    pub peer_expiry: Duration,
    /// Most sources tracked at once; packets of further sources are dropped.
    pub max_sources: usize,
    /// Most data events queued for [`Receiver::poll_event`]; in-order data beyond it waits in
    /// the window (and is lost if the window must move on before the events are drained).
    /// Loss and end events come on top; the whole queue stays under twice this (the end of
    /// a session beyond that is dropped with a warning).
    pub max_events: usize,
    /// Seed of the back-off generator.
    pub seed: u64,
}

impl ReceiverConfig {
    /// libzmq's receiver settings for a group and data port, with a back-off seed.
    pub fn new(dport: u16, group: Nla, seed: u64) -> Self {
        let ms = Duration::from_millis;
        ReceiverConfig {
            dport,
            group,
            rate_kbit: super::DEFAULT_RATE_KBIT,
            recovery_ivl: super::DEFAULT_RECOVERY_IVL,
            max_tpdu: super::DEFAULT_MAX_TPDU,
            nak_bo_ivl: ms(50),
            nak_rpt_ivl: ms(200),
            nak_rdata_ivl: ms(200),
            nak_ncf_retries: 50,
            nak_data_retries: 50,
            spmr_expiry: ms(25),
            peer_expiry: Duration::from_secs(300),
            max_sources: 64,
            max_events: 4096,
            seed,
        }
    }
}

/// What a [`Receiver`] reports, per source, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The next TSDU of a source.
    Data {
        /// The source.
        tsi: Tsi,
        /// Its sequence number.
        sqn: u32,
        /// The payload (libzmq framing: see [`framing`](super::framing)).
        tsdu: Bytes,
    },
    /// `count` TSDUs from `first` on could not be recovered; data resumes after them. The
    /// framing decoder must resynchronise ([`framing::Decoder::handle_loss`](super::framing::Decoder::handle_loss)).
    Loss {
        /// The source.
        tsi: Tsi,
        /// First lost sequence number.
        first: u32,
        /// How many.
        count: u32,
    },
    /// The source ended its session (an SPM with OPT_FIN) or was silent for
    /// [`ReceiverConfig::peer_expiry`]; it is forgotten, and a later packet from the same
    /// [`Tsi`] starts a new session.
    End {
        /// The source.
        tsi: Tsi,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Back-off before (re)sending a NAK.
    BackOff,
    /// NAK sent; waiting for an NCF (or the data).
    Ncf,
    /// NCF seen; waiting for RDATA.
    Data,
}

#[derive(Debug, Clone)]
enum Slot {
    Have(Bytes),
    Missing {
        wait: Wait,
        expiry: Instant,
        ncf_retries: u32,
        data_retries: u32,
    },
    Lost,
}

#[derive(Debug)]
struct Session {
    tsi: Tsi,
    /// Where NAKs go (from SPMs).
    nla: Option<Nla>,
    /// Where the first data came from, for an SPMR before any SPM.
    seen_from: Option<Nla>,
    last_spm: Option<u32>,
    /// First sequence number neither delivered nor reported lost; `None` until defined.
    next: Option<u32>,
    /// `slots[i]` is sequence number `next + i`.
    slots: VecDeque<Slot>,
    /// The sequence numbers of the `Missing` slots, so the repair timers visit only those
    /// (a window behind a gap may hold hundreds of thousands of slots).
    missing: HashSet<u32>,
    last_heard: Instant,
    spmr_at: Option<Instant>,
    /// A run of lost numbers not yet queued as an event (queued before the next data, or
    /// when the event queue has room).
    unreported: Option<(u32, u32)>,
}

/// The receiving side of PGM: a receive window per source ([`Tsi`]), gap detection from data
/// and SPMs, selective NAKs after a random back-off (with OPT_NAK_LIST for up to 63 at a
/// time), NAK retries and give-up as OpenPGM, in-order [`Event::Data`] or [`Event::Loss`].
///
/// A source is joined at the first data or SPM seen from it: earlier data is not asked for.
///
/// Bounds: [`ReceiverConfig::max_sources`] sessions, each window [`window_sqns`] slots,
/// [`ReceiverConfig::max_events`] events, [`MAX_QUEUED_TRANSMITS`] datagrams.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    capacity: u32,
    sessions: HashMap<Tsi, Session>,
    rng: Rng,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
}

impl Receiver {
    /// A receiver with no sources yet.
    pub fn new(config: ReceiverConfig, _now: Instant) -> Self {
        let capacity = window_sqns(config.rate_kbit, config.recovery_ivl, config.max_tpdu);
        Receiver {
            rng: Rng::new(config.seed),
            config,
            capacity,
            sessions: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
        }
    }

    /// Slots in each source's receive window.
    pub fn window_capacity(&self) -> u32 {
        self.capacity
    }

    /// Events waiting for [`poll_event`](Self::poll_event).
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Sources currently tracked.
    pub fn sources(&self) -> impl Iterator<Item = Tsi> + '_ {
        self.sessions.keys().copied()
    }

    /// A datagram arrived on the data port, from the unicast address `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: Nla,
        datagram: &Bytes,
    ) -> Result<(), PacketError> {
        let packet = Packet::parse(datagram)?;
        if packet.dport != self.config.dport {
            return Ok(());
        }
        let tsi = packet.tsi();
        match packet.body {
            Body::Spm(spm) => {
                let fin = packet.options.has(OPT_FIN);
                self.with_session(now, tsi, |r, s| r.on_spm(now, s, spm));
                if fin {
                    if let Some(mut s) = self.sessions.remove(&tsi) {
                        // The source will repair nothing more: what is missing is lost.
                        self.close_session(&mut s);
                        tracing::debug!(?tsi, "PGM source ended its session");
                        self.push_capped(Event::End { tsi });
                    }
                }
            }
            Body::Odata(d) | Body::Rdata(d) => {
                let tsdu = packet.tsdu.clone();
                self.with_session(now, tsi, |r, s| {
                    if s.nla.is_none() && s.spmr_at.is_none() {
                        s.spmr_at = Some(now + r.config.spmr_expiry);
                    }
                    s.seen_from.get_or_insert(from);
                    r.on_data(now, s, d.sqn, d.trail, tsdu);
                });
            }
            Body::Ncf(n) => {
                if let Some(mut s) = self.sessions.remove(&tsi) {
                    s.last_heard = now;
                    let sqns: Vec<u32> = std::iter::once(n.sqn)
                        .chain(packet.options.nak_list())
                        .collect();
                    for sqn in sqns {
                        self.on_ncf(now, &mut s, sqn);
                    }
                    self.deliver(&mut s);
                    self.sessions.insert(tsi, s);
                }
            }
            // Another receiver asked for the SPM: ours would be redundant.
            Body::Spmr => {
                if let Some(s) = self.sessions.get_mut(&tsi) {
                    s.spmr_at = None;
                }
            }
            Body::Nak(_) => {}
        }
        Ok(())
    }

    /// Runs `f` on the session of `tsi`, creating it when there is room, then delivers.
    fn with_session(&mut self, now: Instant, tsi: Tsi, f: impl FnOnce(&mut Self, &mut Session)) {
        let mut s = match self.sessions.remove(&tsi) {
            Some(s) => s,
            None if self.sessions.len() < self.config.max_sources => Session {
                tsi,
                nla: None,
                seen_from: None,
                last_spm: None,
                next: None,
                slots: VecDeque::new(),
                missing: HashSet::new(),
                last_heard: now,
                spmr_at: None,
                unreported: None,
            },
            None => {
                tracing::warn!(
                    ?tsi,
                    max = self.config.max_sources,
                    "PGM source dropped: too many sources"
                );
                return;
            }
        };
        s.last_heard = now;
        f(self, &mut s);
        self.deliver(&mut s);
        self.sessions.insert(tsi, s);
    }

    fn on_spm(&mut self, now: Instant, s: &mut Session, spm: Spm) {
        if let Some(last) = s.last_spm {
            if !sqn_lt(last, spm.spm_sqn) {
                return; // old or repeated SPM
            }
        }
        s.last_spm = Some(spm.spm_sqn);
        s.nla = Some(spm.nla);
        s.spmr_at = None;
        match s.next {
            None => s.next = Some(spm.lead.wrapping_add(1)),
            Some(_) => {
                if let Some(known) = Self::known_lead(s) {
                    if sqn_lt(known, spm.lead) {
                        self.ensure(now, s, spm.lead);
                    }
                }
            }
        }
        self.cancel_below(s, spm.trail);
    }

    fn on_data(&mut self, now: Instant, s: &mut Session, sqn: u32, trail: u32, tsdu: Bytes) {
        let next = *s.next.get_or_insert(sqn);
        if !sqn_lt(sqn, next) {
            if let Some(i) = self.ensure(now, s, sqn) {
                if !matches!(s.slots[i], Slot::Have(_)) {
                    s.missing.remove(&sqn);
                    s.slots[i] = Slot::Have(tsdu);
                }
            }
        }
        self.cancel_below(s, trail);
    }

    fn on_ncf(&mut self, now: Instant, s: &mut Session, sqn: u32) {
        let Some(next) = s.next else { return };
        if sqn_lt(sqn, next) {
            return;
        }
        if let Some(i) = self.ensure(now, s, sqn) {
            if let Slot::Missing { wait, expiry, .. } = &mut s.slots[i] {
                if *wait != Wait::Data {
                    *wait = Wait::Data;
                    *expiry = now + self.config.nak_rdata_ivl;
                }
            }
        }
    }

    /// The last sequence number the window knows of.
    fn known_lead(s: &Session) -> Option<u32> {
        s.next
            .map(|n| n.wrapping_add(s.slots.len() as u32).wrapping_sub(1))
    }

    /// Makes a slot for `sqn` (not before the window), moving the window on if it would
    /// exceed its capacity and filling any gap with missing slots in back-off. Returns its
    /// index.
    fn ensure(&mut self, now: Instant, s: &mut Session, sqn: u32) -> Option<usize> {
        let next = s.next?;
        let mut offset = sqn.wrapping_sub(next);
        if offset >= self.capacity {
            // Everything before `sqn - capacity + 1` leaves the window now.
            let excess = offset - self.capacity + 1;
            self.advance(s, excess);
            offset = self.capacity - 1;
        }
        let next = s.next.unwrap_or(next);
        while s.slots.len() <= offset as usize {
            let backoff = self.backoff();
            s.missing.insert(next.wrapping_add(s.slots.len() as u32));
            s.slots.push_back(Slot::Missing {
                wait: Wait::BackOff,
                expiry: now + backoff,
                ncf_retries: 0,
                data_retries: 0,
            });
        }
        Some(offset as usize)
    }

    fn backoff(&mut self) -> Duration {
        self.rng
            .duration(Duration::from_micros(1), self.config.nak_bo_ivl)
    }

    /// Marks still-missing data before the source's trailing edge lost.
    fn cancel_below(&mut self, s: &mut Session, trail: u32) {
        let Some(next) = s.next else { return };
        for (i, slot) in s.slots.iter_mut().enumerate() {
            if !sqn_lt(next.wrapping_add(i as u32), trail) {
                break;
            }
            if matches!(slot, Slot::Missing { .. }) {
                s.missing.remove(&next.wrapping_add(i as u32));
                *slot = Slot::Lost;
            }
        }
    }

    /// Moves the window on by `n` sequence numbers whatever their state (work bounded by the
    /// window, however large `n`).
    fn advance(&mut self, s: &mut Session, n: u32) {
        let Some(mut next) = s.next else { return };
        let mut left = n;
        while left > 0 {
            let Some(slot) = s.slots.pop_front() else {
                break;
            };
            match slot {
                Slot::Have(tsdu) if self.events.len() < self.config.max_events => {
                    self.flush_loss(s);
                    self.events.push_back(Event::Data {
                        tsi: s.tsi,
                        sqn: next,
                        tsdu,
                    });
                }
                Slot::Missing { .. } => {
                    s.missing.remove(&next);
                    Self::report_loss(s, next, 1);
                }
                _ => Self::report_loss(s, next, 1),
            }
            next = next.wrapping_add(1);
            left -= 1;
        }
        // Numbers the window never held (a jump ahead): lost as one run.
        if left > 0 {
            Self::report_loss(s, next, left);
            next = next.wrapping_add(left);
        }
        s.next = Some(next);
        if self.events.len() < self.config.max_events {
            self.flush_loss(s);
        }
    }

    /// Empties a session's window for good: data is delivered (within the event bound),
    /// everything else reported lost.
    fn close_session(&mut self, s: &mut Session) {
        let n = s.slots.len() as u32;
        self.advance(s, n);
        if let Some((first, count)) = s.unreported.take() {
            tracing::warn!(tsi = ?s.tsi, first, count, "PGM data lost: source gone");
            self.push_capped(Event::Loss {
                tsi: s.tsi,
                first,
                count,
            });
        }
    }

    /// Queues an event of a session that is going away, unless the queue already holds
    /// twice [`ReceiverConfig::max_events`] (a peer ending and restarting sessions faster
    /// than the application drains could otherwise grow it without bound).
    fn push_capped(&mut self, event: Event) {
        if self.events.len() < 2 * self.config.max_events {
            self.events.push_back(event);
        } else {
            tracing::warn!(?event, "PGM event dropped: event queue full");
        }
    }

    /// Delivers what is in order at the front of the window.
    fn deliver(&mut self, s: &mut Session) {
        while let (Some(front), Some(next)) = (s.slots.front(), s.next) {
            match front {
                Slot::Missing { .. } => break,
                Slot::Have(_) if self.events.len() >= self.config.max_events => break,
                Slot::Have(tsdu) => {
                    let tsdu = tsdu.clone();
                    self.flush_loss(s);
                    self.events.push_back(Event::Data {
                        tsi: s.tsi,
                        sqn: next,
                        tsdu,
                    });
                }
                Slot::Lost => Self::report_loss(s, next, 1),
            }
            s.slots.pop_front();
            s.next = Some(next.wrapping_add(1));
        }
        if self.events.len() < self.config.max_events {
            self.flush_loss(s);
        }
    }

    /// Adds `n` lost numbers from `sqn` to the session's unreported run (numbers only ever
    /// increase, and a run is queued before any later data, so runs are contiguous).
    fn report_loss(s: &mut Session, sqn: u32, n: u32) {
        match &mut s.unreported {
            Some((first, count)) if first.wrapping_add(*count) == sqn => {
                *count = count.saturating_add(n);
            }
            _ => s.unreported = Some((sqn, n)),
        }
    }

    /// Queues the session's unreported loss as an event. At most one per data event queued
    /// under the limit, plus one per session: the queue stays below twice its bound.
    fn flush_loss(&mut self, s: &mut Session) {
        if let Some((first, count)) = s.unreported.take() {
            tracing::warn!(tsi = ?s.tsi, first, count, "PGM data lost: not repaired in time");
            self.events.push_back(Event::Loss {
                tsi: s.tsi,
                first,
                count,
            });
        }
    }

    /// Timers fired: NAKs whose back-off ended, retries, give-ups, SPMRs, silent sources.
    pub fn handle_timeout(&mut self, now: Instant) {
        let tsis: Vec<Tsi> = self.sessions.keys().copied().collect();
        for tsi in tsis {
            let Some(mut s) = self.sessions.remove(&tsi) else {
                continue;
            };
            if now.saturating_duration_since(s.last_heard) >= self.config.peer_expiry {
                tracing::debug!(?tsi, "PGM source expired");
                self.close_session(&mut s);
                self.push_capped(Event::End { tsi });
                continue;
            }
            if s.spmr_at.is_some_and(|t| t <= now) {
                s.spmr_at = None;
                self.queue_spmr(&s);
            }
            self.run_repairs(now, &mut s);
            self.deliver(&mut s);
            self.sessions.insert(tsi, s);
        }
    }

    fn run_repairs(&mut self, now: Instant, s: &mut Session) {
        let Some(next) = s.next else { return };
        let mut naks = Vec::new();
        let mut due: Vec<u32> = s.missing.iter().copied().collect();
        // In window order, as a scan of the slots would find them.
        due.sort_unstable_by_key(|sqn| sqn.wrapping_sub(next));
        for sqn in due {
            let i = sqn.wrapping_sub(next) as usize;
            let Some(Slot::Missing {
                wait,
                expiry,
                ncf_retries,
                data_retries,
            }) = s.slots.get_mut(i)
            else {
                s.missing.remove(&sqn);
                continue;
            };
            if *expiry > now {
                continue;
            }
            let give_up = match *wait {
                Wait::BackOff if s.nla.is_some() => {
                    naks.push(next.wrapping_add(i as u32));
                    *wait = Wait::Ncf;
                    *expiry = now + self.config.nak_rpt_ivl;
                    false
                }
                // No SPM yet, so nowhere to send the NAK: count it as an unanswered one.
                Wait::BackOff | Wait::Ncf => {
                    *ncf_retries += 1;
                    *ncf_retries >= self.config.nak_ncf_retries
                }
                Wait::Data => {
                    *data_retries += 1;
                    *data_retries >= self.config.nak_data_retries
                }
            };
            if give_up {
                s.missing.remove(&sqn);
                s.slots[i] = Slot::Lost;
            } else if *wait != Wait::Ncf || *expiry <= now {
                let backoff = self
                    .rng
                    .duration(Duration::from_micros(1), self.config.nak_bo_ivl);
                if let Slot::Missing { wait, expiry, .. } = &mut s.slots[i] {
                    *wait = Wait::BackOff;
                    *expiry = now + backoff;
                }
            }
        }
        if let Some(nla) = s.nla {
            for chunk in naks.chunks(1 + MAX_NAK_LIST) {
                self.queue_nak(s.tsi, nla, chunk);
            }
        }
    }

    fn queue_nak(&mut self, tsi: Tsi, source: Nla, sqns: &[u32]) {
        let Some((&first, rest)) = sqns.split_first() else {
            return;
        };
        let nak = Nak {
            sqn: first,
            source,
            group: self.config.group,
        };
        let mut p = Packet::new(
            self.config.dport,
            tsi.sport,
            tsi.gsi,
            Body::Nak(nak),
            Bytes::new(),
        );
        if !rest.is_empty() {
            p.flags = OPT_NETWORK;
            p.options.list.push(PgmOption::nak_list(rest));
        }
        self.transmit(Destination::Unicast(source), p.to_bytes());
    }

    fn queue_spmr(&mut self, s: &Session) {
        let p = Packet::new(
            self.config.dport,
            s.tsi.sport,
            s.tsi.gsi,
            Body::Spmr,
            Bytes::new(),
        );
        let bytes = p.to_bytes();
        self.transmit(Destination::GroupLocal, bytes.clone());
        if let Some(from) = s.seen_from {
            self.transmit(Destination::Unicast(from), bytes);
        }
    }

    fn transmit(&mut self, destination: Destination, datagram: Bytes) {
        if self.transmits.len() < MAX_QUEUED_TRANSMITS {
            self.transmits.push_back(Transmit {
                destination,
                datagram,
            });
        }
    }

    /// The next NAK or SPMR to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event (in sequence order per source).
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if e.is_some() && self.events.len() + 1 == self.config.max_events {
            // Room again: deliver what waited for it.
            let tsis: Vec<Tsi> = self.sessions.keys().copied().collect();
            for tsi in tsis {
                if let Some(mut s) = self.sessions.remove(&tsi) {
                    self.deliver(&mut s);
                    self.sessions.insert(tsi, s);
                }
            }
        }
        e
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants calling.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| best = Some(best.map_or(t, |b| b.min(t)));
        for s in self.sessions.values() {
            consider(s.last_heard + self.config.peer_expiry);
            if let Some(t) = s.spmr_at {
                consider(t);
            }
            let next = s.next.unwrap_or_default();
            for sqn in &s.missing {
                let i = sqn.wrapping_sub(next) as usize;
                if let Some(Slot::Missing { expiry, .. }) = s.slots.get(i) {
                    consider(*expiry);
                }
            }
        }
        best
    }
}
