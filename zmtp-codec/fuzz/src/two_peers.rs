//! `two_peers`: two [`Connection`](zmtp_codec::Connection)s wired together in memory; the
//! input is a script of actions (send, subscribe, deliver bytes, advance the clock, flip or
//! drop a byte in flight).
//!
//! Input: `pair(u8) options(u8) op…`; each op byte has the operation in its low 3 bits, the
//! acting side (or the direction, from that side) in bit 3 and an argument in bits 4–7.
//!
//! What must hold, besides [`Checked`]'s invariants on both sides:
//! - a side that has only ever received the bytes its peer sent (no flip or drop reached it,
//!   and the peer itself had not received a corrupted byte when it produced them — we call
//!   such a side *clean*) reports every message and subscription exactly as sent, in order,
//!   and fails only for reasons that need no corruption: a handshake or heartbeat timeout,
//!   or an authenticator refusal (ours, or the peer's ERROR);
//! - at the end, after delivering everything still in flight, a clean side that has not
//!   failed and whose incoming stream lost or changed no byte has received everything its
//!   peer sent, and when that holds for both and nobody was refused, both completed the
//!   handshake.
//!
//! Once a side receives a corrupted byte, its events are no longer compared (the bytes may
//! well decode to other valid messages), and what it sends from then on taints its peer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zmtp_codec::{AuthReply, Config, Error, Event, MechanismConfig, SocketType};

use crate::checked::Checked;
use crate::connection_null::{frame_size, message};
use crate::input::Input;

/// Compatible socket type pairs, picked by the first byte.
pub const PAIRS: [(SocketType, SocketType); 12] = [
    (SocketType::Req, SocketType::Rep),
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Sub, SocketType::Pub),
    (SocketType::XSub, SocketType::XPub),
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Router, SocketType::Router),
    (SocketType::Dealer, SocketType::Rep),
    (SocketType::Client, SocketType::Server),
    (SocketType::Pub, SocketType::XSub),
    (SocketType::Req, SocketType::Router),
    (SocketType::Dealer, SocketType::Dealer),
];

/// Option: A announces ZMTP 3.0.
pub const OPT_A_MINOR0: u8 = 0x01;
/// Option: B announces ZMTP 3.0.
pub const OPT_B_MINOR0: u8 = 0x02;
/// Option: PLAIN, A client and B server (else NULL).
pub const OPT_PLAIN: u8 = 0x04;
/// Option: B's authenticator refuses (PLAIN, or NULL with `OPT_NULL_AUTH`).
pub const OPT_DENY: u8 = 0x08;
/// Option: heartbeats on both sides.
pub const OPT_HEARTBEAT: u8 = 0x10;
/// Option: B asks its authenticator about NULL peers.
pub const OPT_NULL_AUTH: u8 = 0x20;
/// Option: routing ids on both sides.
pub const OPT_ROUTING_IDS: u8 = 0x40;

/// Op: the side sends a message of `arg % 4 + 1` frames, one size byte each.
pub const OP_SEND: u8 = 0;
/// Op: the side (if a subscriber facing a publisher) subscribes (`arg` bit 0 clear) or
/// cancels, topic of `u8 % 8` bytes.
pub const OP_SUBSCRIBE: u8 = 1;
/// Op: deliver `u16` bytes from the side to its peer (`arg` bit 0: through `read_buf`).
pub const OP_DELIVER: u8 = 2;
/// Op: deliver everything both ways until both are quiet.
pub const OP_DELIVER_ALL: u8 = 3;
/// Op: advance the clock by `b*b*10` ms and fire due timers.
pub const OP_CLOCK: u8 = 4;
/// Op: XOR the byte at `u16 % in-flight` from the side with a nonzero `u8`.
pub const OP_FLIP: u8 = 5;
/// Op: drop `u8 % 16 + 1` bytes at `u16 % in-flight` from the side.
pub const OP_DROP: u8 = 6;
/// Op: poll events on both sides (also done after every op).
pub const OP_POLL: u8 = 7;

const MAX_OPS: usize = 4096;
const SEND_BUDGET: usize = 1 << 20;

/// One side: its connection, what it must still receive, and its taint.
struct Side {
    conn: Checked,
    /// Bytes this side sent and the peer has not received yet.
    wire: Vec<u8>,
    /// Bytes of `wire` delivered so far (offsets are in the receiver's stream).
    delivered: u64,
    /// Receiver offset of the first corrupted byte of `wire`'s stream.
    corrupt_at: Option<u64>,
    /// Events this side's peer must still receive from this side, in order.
    expected: VecDeque<Event>,
    /// This side received a corrupted byte.
    tainted: bool,
    subscriber: bool,
    publisher: bool,
}

impl Side {
    fn new(conn: Checked, socket_type: SocketType) -> Self {
        Side {
            conn,
            wire: Vec::new(),
            delivered: 0,
            corrupt_at: None,
            expected: VecDeque::new(),
            tainted: false,
            subscriber: socket_type.is_subscriber(),
            publisher: socket_type.is_publisher(),
        }
    }

    fn taint(&mut self) {
        self.tainted = true;
    }
}

struct World {
    sides: [Side; 2],
    now: Instant,
    deny: bool,
    reply_deny: AuthReply,
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let now = Instant::now();
    let (ta, tb) = PAIRS[usize::from(input.u8()) % PAIRS.len()];
    let opts = input.u8();
    let plain = opts & OPT_PLAIN != 0;
    let mut ca = Config::new(ta);
    let mut cb = Config::new(tb);
    ca.zmtp_minor = u8::from(opts & OPT_A_MINOR0 == 0);
    cb.zmtp_minor = u8::from(opts & OPT_B_MINOR0 == 0);
    if plain {
        ca = ca.mechanism(MechanismConfig::PlainClient {
            username: "admin".into(),
            password: "secret".into(),
        });
        cb = cb.mechanism(MechanismConfig::PlainServer);
    } else {
        cb.authenticate_null = opts & OPT_NULL_AUTH != 0;
    }
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
    let asks = plain || cb.authenticate_null;
    let mut w = World {
        sides: [
            Side::new(Checked::new(ca, now), ta),
            Side::new(Checked::new(cb, now), tb),
        ],
        now,
        deny: asks && opts & OPT_DENY != 0,
        reply_deny: AuthReply::deny(400, "denied"),
    };
    let mut budget = SEND_BUDGET;
    w.pump();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let side = usize::from(op >> 3 & 1);
        let arg = op >> 4;
        match op & 7 {
            OP_SEND => {
                let sizes: Vec<usize> = (0..=arg % 4).map(|_| frame_size(input.u8())).collect();
                budget = budget.saturating_sub(sizes.iter().sum());
                if budget > 0 {
                    let msg = message(&sizes, op);
                    if w.sides[side].conn.send(&msg).is_ok() {
                        w.sides[side].expected.push_back(Event::Message(msg));
                    }
                }
            }
            OP_SUBSCRIBE => {
                let n = usize::from(input.u8() % 8);
                let topic = input.bytes(n).to_vec();
                let subscribe = arg & 1 == 0;
                if w.sides[side].subscriber
                    && w.sides[1 - side].publisher
                    && w.sides[side]
                        .conn
                        .send_subscription(subscribe, &topic)
                        .is_ok()
                {
                    let ev = if subscribe {
                        Event::Subscribe(topic.into())
                    } else {
                        Event::Cancel(topic.into())
                    };
                    w.sides[side].expected.push_back(ev);
                }
            }
            OP_DELIVER => {
                let n = usize::from(input.u16());
                w.deliver(side, n, arg & 1 != 0);
            }
            OP_DELIVER_ALL => w.deliver_all(),
            OP_CLOCK => {
                let b = u64::from(input.u8());
                w.now += Duration::from_millis(b * b * 10);
                w.fire_timers();
            }
            OP_FLIP => {
                let pos = usize::from(input.u16());
                let mask = input.u8().max(1);
                let s = &mut w.sides[side];
                if !s.wire.is_empty() {
                    let pos = pos % s.wire.len();
                    s.wire[pos] ^= mask;
                    s.corrupt(pos);
                }
            }
            OP_DROP => {
                let pos = usize::from(input.u16());
                let n = usize::from(input.u8() % 16) + 1;
                let s = &mut w.sides[side];
                if !s.wire.is_empty() {
                    let pos = pos % s.wire.len();
                    let end = (pos + n).min(s.wire.len());
                    s.wire.drain(pos..end);
                    s.corrupt(pos);
                }
            }
            _ => {}
        }
        w.pump();
    }
    w.deliver_all();
    w.final_checks();
}

impl Side {
    fn corrupt(&mut self, pos: usize) {
        let at = self.delivered + pos as u64;
        self.corrupt_at = Some(self.corrupt_at.map_or(at, |c| c.min(at)));
    }
}

impl World {
    /// Delivers up to `n` bytes from side `from` to its peer.
    fn deliver(&mut self, from: usize, n: usize, via_read_buf: bool) -> bool {
        let to = 1 - from;
        let n = n.min(self.sides[from].wire.len());
        if n == 0 {
            return false;
        }
        let chunk: Vec<u8> = self.sides[from].wire.drain(..n).collect();
        let start = self.sides[from].delivered;
        self.sides[from].delivered += n as u64;
        if self.sides[from]
            .corrupt_at
            .is_some_and(|c| c < start + n as u64)
            && !self.sides[to].tainted
        {
            // Everything `to` sends from now on may depend on the corrupted byte.
            self.sides[to].taint();
            let out = &mut self.sides[to];
            let at = out.delivered + out.wire.len() as u64;
            out.corrupt_at = Some(out.corrupt_at.map_or(at, |c| c.min(at)));
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

    /// Polls events on both sides (answering the authenticator), then moves their output
    /// onto the wires.
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
            while let Some(b) = self.sides[i].conn.poll_transmit() {
                self.sides[i].wire.extend_from_slice(&b);
            }
        }
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        match ev {
            Event::AuthRequest(_) => {
                let reply = if self.deny {
                    self.reply_deny.clone()
                } else {
                    AuthReply::accept("admin")
                };
                let r = self.sides[i].conn.handle_auth_reply(self.now, reply);
                self.check_error(i, r);
            }
            Event::HandshakeSucceeded(_) => {}
            ev => {
                if !self.sides[i].tainted {
                    let want = self.sides[1 - i].expected.pop_front();
                    assert_eq!(
                        Some(&ev),
                        want.as_ref(),
                        "side {i} received the wrong event"
                    );
                }
            }
        }
    }

    /// An error on a clean side must be one that needs no corruption.
    fn check_error(&self, i: usize, r: Result<(), Error>) {
        let Err(e) = r else { return };
        if self.sides[i].tainted {
            return;
        }
        let ok = match &e {
            Error::HandshakeTimeout | Error::HeartbeatTimeout | Error::Failed(_) => true,
            Error::AuthenticationFailed { .. } | Error::PeerError(_) => self.deny,
            _ => false,
        };
        assert!(ok, "side {i} failed without corruption: {e:?}");
    }

    fn final_checks(&mut self) {
        // A flip or drop that no byte delivered after it reveals (say, the last bytes in
        // flight were dropped) taints nobody, but the receiver may wait forever for them:
        // only a side whose incoming stream was never damaged must have everything.
        let whole = |i: usize| !self.sides[i].tainted && self.sides[1 - i].corrupt_at.is_none();
        for i in 0..2 {
            if whole(i) && !self.sides[i].conn.failed() {
                assert!(
                    self.sides[1 - i].expected.is_empty(),
                    "side {i} never received {:?}",
                    self.sides[1 - i].expected
                );
            }
        }
        let quiet = (0..2).all(|i| whole(i) && !self.sides[i].conn.failed());
        if quiet && !self.deny {
            for (i, s) in self.sides.iter().enumerate() {
                assert!(
                    s.conn.handshake_done(),
                    "side {i} never completed its handshake"
                );
            }
        }
    }
}
