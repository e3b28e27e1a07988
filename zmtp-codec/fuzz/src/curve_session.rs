//! `curve_session`: a real CURVE client (A) and server (B) with libzmq's test keys, wired
//! together in memory. The input does not supply bytes (random bytes never open a box): it
//! is a script that acts on the live connections and on the frames in flight between
//! them — send, subscribe, deliver bytes or whole frames, advance the clock (heartbeat
//! PINGs and PONGs), and flip a byte in, drop, duplicate or swap in-flight frames.
//!
//! CURVE draws transient keys, cookie keys and long nonces from the operating system, so
//! the bytes differ from run to run; the script addresses frames by position, so it means
//! the same thing every time.
//!
//! Input: `pair(u8) options(u8) op…`; each op byte has the operation in its low 4 bits, the
//! acting side (or the direction, from that side) in bit 4 and an argument in bits 5–7.
//!
//! Every message frame and subscription topic is tagged with a serial number (`TAG`, then
//! a big-endian `u32`), so that the receiver can tell which one it got. What must hold,
//! besides [`Checked`]'s invariants on both sides:
//! - a direction whose frames were never tampered with (as far as the receiver has read)
//!   delivers every message and subscription exactly as sent, in order, and its receiver
//!   fails only for reasons that need no tampering: a handshake or heartbeat timeout, or an
//!   authenticator refusal (ours, or the peer's ERROR);
//! - after tampering the receiver may fail (stickily, checked by [`Checked`]), but every
//!   message part and subscription it reports is one that was sent, byte for byte, with its
//!   MORE flag as sent, at most once, in the order sent: nothing forged, altered, replayed
//!   or reordered gets through. Parts may be missing: CURVE (like libzmq) accepts gaps in
//!   the short nonces, so a dropped frame goes unnoticed, and a multipart message can lose a
//!   part or end up glued to the next one when its last frame is dropped (a SUBSCRIBE
//!   command sent after it is then reported before the glued message: see
//!   [`check_genuine`]);
//! - at the end, after delivering everything in flight, a side that has not failed and
//!   whose incoming wire was never touched has received everything; when that holds both
//!   ways and the authenticator accepted, both completed the handshake.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_codec::{AuthReply, Error, Event, Message};

use crate::checked::Checked;
use crate::connection_null::frame_size;
use crate::curve::{client_config, server_config, Splitter};
use crate::handshake_plain::reply;
use crate::input::Input;
use crate::two_peers::PAIRS;

/// Option: A announces ZMTP 3.0.
pub const OPT_A_MINOR0: u8 = 0x01;
/// Option: B announces ZMTP 3.0.
pub const OPT_B_MINOR0: u8 = 0x02;
/// Options: bits 2–3 pick B's authenticator answer (0: accept; 300, 400, 500).
pub const OPT_REPLY_SHIFT: u8 = 2;
/// Option: heartbeats on both sides.
pub const OPT_HEARTBEAT: u8 = 0x10;
/// Option: routing ids on both sides.
pub const OPT_ROUTING_IDS: u8 = 0x20;

/// Op: the side sends a message of `arg % 4 + 1` frames, one size byte each.
pub const OP_SEND: u8 = 0;
/// Op: the side (if a subscriber facing a publisher) subscribes (`arg` bit 0 clear) or
/// cancels; `u8 % 8` more topic bytes follow.
pub const OP_SUBSCRIBE: u8 = 1;
/// Op: deliver `u16` bytes from the side to its peer (`arg` bit 0: through `read_buf`).
pub const OP_DELIVER: u8 = 2;
/// Op: deliver everything both ways until both are quiet.
pub const OP_DELIVER_ALL: u8 = 3;
/// Op: deliver the side's next `arg + 1` frames (greeting pieces count as frames).
pub const OP_DELIVER_FRAMES: u8 = 4;
/// Op: advance the clock by `b*b*10` ms and fire due timers (PINGs, timeouts).
pub const OP_CLOCK: u8 = 5;
/// Op: XOR byte `u16 % len` of in-flight frame `u8` from the side with a nonzero `u8`.
pub const OP_FLIP: u8 = 6;
/// Op: drop in-flight frame `u8`.
pub const OP_DROP: u8 = 7;
/// Op: duplicate in-flight frame `u8` (the copy follows it).
pub const OP_DUP: u8 = 8;
/// Op: swap in-flight frame `u8` with the next one.
pub const OP_SWAP: u8 = 9;
/// Op: poll events on both sides (also done after every op).
pub const OP_POLL: u8 = 10;

/// First byte of every tagged message part and subscription topic.
pub const TAG: u8 = 0xA5;

const MAX_OPS: usize = 4096;
const SEND_BUDGET: usize = 1 << 20;

/// One greeting piece or frame in flight.
#[derive(Debug, Clone)]
struct Unit {
    bytes: Vec<u8>,
    /// Altered, a copy, moved, or the first frame after a dropped one.
    tampered: bool,
}

/// What a side sent under one serial.
#[derive(Debug)]
enum Sent {
    /// A message part and its MORE flag.
    Part(Bytes, bool),
    /// A subscription (true) or cancel, and its topic.
    Subscription(bool, Bytes),
}

struct Side {
    conn: Checked,
    split: Splitter,
    /// Units this side sent that its peer has not fully received.
    wire: VecDeque<Unit>,
    /// Bytes of `wire[0]` already delivered.
    head_done: usize,
    /// The last unit was dropped: the next one is the first after a gap.
    gap: bool,
    /// Some op touched this side's wire.
    damaged: bool,
    /// The peer received bytes of a tampered unit from this side.
    tampered: bool,
    /// Events the peer must still receive from this side, in order (while not tampered).
    expected: VecDeque<Event>,
    sent: HashMap<u32, Sent>,
    next_serial: u32,
    /// Serials the peer received from this side.
    seen: HashSet<u32>,
    /// The serial of the last part of the last message the peer received.
    last_msg_end: Option<u32>,
    /// The serial of the last subscription the peer received.
    last_sub: Option<u32>,
    subscriber: bool,
    publisher: bool,
}

impl Side {
    fn new(conn: Checked) -> Self {
        let t = conn.conn.socket_type();
        Side {
            conn,
            split: Splitter::default(),
            wire: VecDeque::new(),
            head_done: 0,
            gap: false,
            damaged: false,
            tampered: false,
            expected: VecDeque::new(),
            sent: HashMap::new(),
            next_serial: 0,
            seen: HashSet::new(),
            last_msg_end: None,
            last_sub: None,
            subscriber: t.is_subscriber(),
            publisher: t.is_publisher(),
        }
    }

    /// A tag plus serial.
    fn tag(serial: u32) -> Vec<u8> {
        let mut v = vec![TAG];
        v.extend_from_slice(&serial.to_be_bytes());
        v
    }

    /// Index of the in-flight unit `b` picks, skipping a partly delivered head.
    fn pick(&self, b: u8) -> Option<usize> {
        let first = usize::from(self.head_done > 0);
        let n = self.wire.len().checked_sub(first).filter(|&n| n > 0)?;
        Some(first + usize::from(b) % n)
    }
}

struct World {
    sides: [Side; 2],
    now: Instant,
    reply: AuthReply,
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let now = Instant::now();
    let (ta, tb) = PAIRS[usize::from(input.u8()) % PAIRS.len()];
    let opts = input.u8();
    let mut ca = client_config(ta);
    let mut cb = server_config(tb);
    ca.zmtp_minor = u8::from(opts & OPT_A_MINOR0 == 0);
    cb.zmtp_minor = u8::from(opts & OPT_B_MINOR0 == 0);
    if opts & OPT_HEARTBEAT != 0 {
        for c in [&mut ca, &mut cb] {
            c.heartbeat_ivl = Some(Duration::from_secs(1));
            c.heartbeat_ttl = Some(Duration::from_secs(3));
            c.heartbeat_timeout = Some(Duration::from_secs(2));
        }
    }
    if opts & OPT_ROUTING_IDS != 0 {
        ca = ca.routing_id("alice");
        cb = cb.routing_id("bob");
    }
    let mut w = World {
        sides: [
            Side::new(Checked::new(ca, now)),
            Side::new(Checked::new(cb, now)),
        ],
        now,
        reply: reply(opts >> OPT_REPLY_SHIFT),
    };
    let mut budget = SEND_BUDGET;
    w.pump();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let side = usize::from(op >> 4 & 1);
        let arg = op >> 5;
        match op & 15 {
            OP_SEND => {
                let sizes: Vec<usize> = (0..=arg % 4).map(|_| frame_size(input.u8())).collect();
                budget = budget.saturating_sub(sizes.iter().sum());
                if budget > 0 {
                    w.send(side, &sizes, op);
                }
            }
            OP_SUBSCRIBE => {
                let n = usize::from(input.u8() % 8);
                let extra = input.bytes(n);
                w.subscribe(side, arg & 1 == 0, extra);
            }
            OP_DELIVER => {
                let n = usize::from(input.u16());
                w.deliver(side, n, arg & 1 != 0);
            }
            OP_DELIVER_ALL => w.deliver_all(),
            OP_DELIVER_FRAMES => {
                for _ in 0..=arg {
                    let s = &w.sides[side];
                    let Some(head) = s.wire.front() else { break };
                    let n = head.bytes.len() - s.head_done;
                    w.deliver(side, n, false);
                }
            }
            OP_CLOCK => {
                let b = u64::from(input.u8());
                w.now += Duration::from_millis(b * b * 10);
                w.fire_timers();
            }
            OP_FLIP => {
                let unit = input.u8();
                let pos = usize::from(input.u16());
                let mask = input.u8().max(1);
                let s = &mut w.sides[side];
                if let Some(i) = s.pick(unit) {
                    let u = &mut s.wire[i];
                    let pos = pos % u.bytes.len();
                    u.bytes[pos] ^= mask;
                    u.tampered = true;
                    s.damaged = true;
                }
            }
            OP_DROP => {
                let unit = input.u8();
                let s = &mut w.sides[side];
                if let Some(i) = s.pick(unit) {
                    s.wire.remove(i);
                    match s.wire.get_mut(i) {
                        Some(next) => next.tampered = true,
                        None => s.gap = true,
                    }
                    s.damaged = true;
                }
            }
            OP_DUP => {
                let unit = input.u8();
                let s = &mut w.sides[side];
                if let Some(i) = s.pick(unit) {
                    let mut copy = s.wire[i].clone();
                    copy.tampered = true;
                    s.wire.insert(i + 1, copy);
                    s.damaged = true;
                }
            }
            OP_SWAP => {
                let unit = input.u8();
                let s = &mut w.sides[side];
                if let Some(i) = s.pick(unit).filter(|&i| i + 1 < s.wire.len()) {
                    s.wire.swap(i, i + 1);
                    s.wire[i].tampered = true;
                    s.wire[i + 1].tampered = true;
                    s.damaged = true;
                }
            }
            _ => {}
        }
        w.pump();
    }
    w.deliver_all();
    w.final_checks();
}

impl World {
    fn send(&mut self, side: usize, sizes: &[usize], seed: u8) {
        let s = &mut self.sides[side];
        let first = s.next_serial;
        let msg: Message = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let mut body = Side::tag(first.wrapping_add(i as u32));
                body.extend((0..n).map(|j| seed.wrapping_add(i as u8).wrapping_add(j as u8)));
                body
            })
            .collect();
        if s.conn.send(&msg).is_ok() {
            let last = msg.len() - 1;
            for (i, part) in msg.iter().enumerate() {
                let serial = first.wrapping_add(i as u32);
                s.sent
                    .insert(serial, Sent::Part(part.clone().into(), i < last));
            }
            s.next_serial = first.wrapping_add(msg.len() as u32);
            s.expected.push_back(Event::Message(msg));
        }
    }

    fn subscribe(&mut self, side: usize, subscribe: bool, extra: &[u8]) {
        if !self.sides[side].subscriber || !self.sides[1 - side].publisher {
            return;
        }
        let s = &mut self.sides[side];
        let serial = s.next_serial;
        let mut topic = Side::tag(serial);
        topic.extend_from_slice(extra);
        if s.conn.send_subscription(subscribe, &topic).is_ok() {
            let topic = Bytes::from(topic);
            s.sent
                .insert(serial, Sent::Subscription(subscribe, topic.clone()));
            s.next_serial += 1;
            s.expected.push_back(if subscribe {
                Event::Subscribe(topic)
            } else {
                Event::Cancel(topic)
            });
        }
    }

    /// Delivers up to `n` bytes from side `from` to its peer.
    fn deliver(&mut self, from: usize, n: usize, via_read_buf: bool) -> bool {
        let to = 1 - from;
        let mut chunk = Vec::new();
        let s = &mut self.sides[from];
        while chunk.len() < n {
            let Some(head) = s.wire.front() else { break };
            let take = (n - chunk.len()).min(head.bytes.len() - s.head_done);
            chunk.extend_from_slice(&head.bytes[s.head_done..s.head_done + take]);
            s.tampered |= head.tampered;
            s.head_done += take;
            if s.head_done == head.bytes.len() {
                s.wire.pop_front();
                s.head_done = 0;
            }
        }
        if chunk.is_empty() {
            return false;
        }
        let now = self.now;
        let r = if via_read_buf {
            self.sides[to].conn.handle_read(now, &chunk)
        } else {
            self.sides[to].conn.handle_input(now, &chunk)
        };
        self.check_error(to, r);
        self.pump();
        true
    }

    fn deliver_all(&mut self) {
        for _ in 0..64 {
            let a = self.deliver(0, usize::MAX, false);
            let b = self.deliver(1, usize::MAX, true);
            if !a && !b {
                return;
            }
        }
        panic!("the peers never go quiet");
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        for i in 0..2 {
            if self.sides[i]
                .conn
                .conn
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                let r = self.sides[i].conn.handle_timeout(now);
                self.check_error(i, r);
            }
        }
        self.pump();
    }

    /// Polls events on both sides (answering the authenticator), then cuts their output
    /// into units on the wires.
    fn pump(&mut self) {
        for i in 0..2 {
            let mut events = Vec::new();
            self.sides[i]
                .conn
                .drain_events(1 << 16, |ev| events.push(ev.clone()));
            if let Some(e) = self.sides[i].conn.conn.error().cloned() {
                self.check_error(i, Err(e));
            }
            for ev in events {
                self.on_event(i, ev);
            }
            let s = &mut self.sides[i];
            while let Some(b) = s.conn.poll_transmit() {
                for (_, bytes) in s.split.push(&b) {
                    let tampered = std::mem::take(&mut s.gap);
                    s.wire.push_back(Unit { bytes, tampered });
                }
            }
        }
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        match ev {
            Event::AuthRequest(req) => {
                assert_eq!(i, 1, "the CURVE client asked the authenticator");
                assert_eq!(req.mechanism, "CURVE");
                assert_eq!(
                    req.credentials,
                    vec![Bytes::copy_from_slice(&crate::curve::client_keys().public)],
                    "the server reports another client key"
                );
                let r = self.sides[i]
                    .conn
                    .handle_auth_reply(self.now, self.reply.clone());
                self.check_error(i, r);
            }
            Event::HandshakeSucceeded(_) => {}
            ev => {
                let from = &mut self.sides[1 - i];
                if !from.tampered {
                    let want = from.expected.pop_front();
                    assert_eq!(
                        Some(&ev),
                        want.as_ref(),
                        "side {i} received the wrong event"
                    );
                }
                check_genuine(from, i, &ev);
            }
        }
    }

    /// An error on a side that received no tampered byte must need no tampering.
    fn check_error(&self, i: usize, r: Result<(), Error>) {
        let Err(e) = r else { return };
        if self.sides[1 - i].tampered {
            return;
        }
        let deny = self.reply.status_code != 200;
        let ok = match &e {
            Error::HandshakeTimeout | Error::HeartbeatTimeout | Error::Failed(_) => true,
            Error::AuthenticationFailed { .. } | Error::PeerError(_) => deny,
            _ => false,
        };
        assert!(ok, "side {i} failed without tampering: {e:?}");
    }

    fn final_checks(&mut self) {
        let whole = |i: usize| !self.sides[1 - i].damaged && !self.sides[i].conn.failed();
        for i in 0..2 {
            if whole(i) {
                assert!(
                    self.sides[1 - i].expected.is_empty(),
                    "side {i} never received {:?}",
                    self.sides[1 - i].expected
                );
            }
        }
        if whole(0) && whole(1) && self.reply.status_code == 200 {
            for (i, s) in self.sides.iter().enumerate() {
                assert!(
                    s.conn.handshake_done(),
                    "side {i} never completed its handshake"
                );
            }
        }
    }
}

fn serial_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes(s.try_into().expect("4 bytes")))
}

/// Checks that an event side `to` received from `from` carries only what `from` sent,
/// each serial at most once and in the order sent.
///
/// Frames arrive in serial order, but events do not quite: the parts of a message are held
/// until its last frame, while a SUBSCRIBE or CANCEL command is reported at once. Without
/// tampering no command falls inside a message (`send` encodes a message whole); once a
/// message's last frame is dropped, its first parts wait for the next message's, and a
/// subscription sent in between is reported first. So: a message's parts increase and
/// start after the previous message ended, and it ends after the last subscription; a
/// subscription comes after both.
fn check_genuine(from: &mut Side, to: usize, ev: &Event) {
    let (ended, subscribed) = (from.last_msg_end, from.last_sub);
    let fail = |why: &str| -> ! {
        panic!(
            "side {to} received {ev:?}: {why} (previous message ended at {ended:?}, \
             last subscription {subscribed:?})"
        )
    };
    let after = |serial: u32, last: Option<u32>| last.is_none_or(|l| serial > l);
    match ev {
        Event::Message(msg) => {
            let last = msg.len() - 1;
            let mut prev = from.last_msg_end;
            for (k, part) in msg.iter().enumerate() {
                let (serial, sub) = match part.first() {
                    Some(&TAG) => (serial_at(part, 1), None),
                    // A 3.0 subscription frame glued to a message whose end was dropped.
                    Some(&b @ (0 | 1)) if part.get(1) == Some(&TAG) => {
                        (serial_at(part, 2), Some(b == 1))
                    }
                    _ => (None, None),
                };
                let Some(serial) = serial else {
                    fail("an untagged part")
                };
                if !after(serial, prev) || !from.seen.insert(serial) {
                    fail("a part out of order or repeated");
                }
                prev = Some(serial);
                match (from.sent.get(&serial), sub) {
                    (Some(Sent::Part(body, more)), None) => {
                        assert_eq!(body, part, "side {to} received an altered part");
                        assert_eq!(*more, k < last, "side {to}: MORE differs in {ev:?}");
                    }
                    (Some(Sent::Subscription(subscribe, topic)), Some(s)) => {
                        assert_eq!(*subscribe, s, "side {to}: subscription kind differs");
                        assert_eq!(&part[1..], &topic[..], "side {to}: altered topic");
                        assert_eq!(k, last, "side {to}: a subscription frame with MORE");
                    }
                    (sent, _) => fail(&format!("serial {serial} was {sent:?}")),
                }
            }
            if !after(prev.expect("messages have parts"), from.last_sub) {
                fail("a message that ended before an earlier subscription");
            }
            from.last_msg_end = prev;
        }
        Event::Subscribe(topic) | Event::Cancel(topic) => {
            let serial = match topic.first() {
                Some(&TAG) => serial_at(topic, 1),
                _ => None,
            };
            let Some(serial) = serial else {
                fail("an untagged topic")
            };
            if !after(serial, from.last_msg_end)
                || !after(serial, from.last_sub)
                || !from.seen.insert(serial)
            {
                fail("a subscription out of order or repeated");
            }
            from.last_sub = Some(serial);
            let subscribe = matches!(ev, Event::Subscribe(_));
            match from.sent.get(&serial) {
                Some(Sent::Subscription(s, t)) if *s == subscribe && t == topic => {}
                sent => fail(&format!("serial {serial} was {sent:?}")),
            }
        }
        _ => {}
    }
}
