//! An in-memory pair of connections on a fake clock (after quinn-proto's `Pair`).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use zmtp_codec::{AuthReply, Config, Connection, Error, Event};

/// Rewrites bytes in transit.
pub type Tamper = Box<dyn FnMut(&mut Vec<u8>)>;

/// One side of the pair, with what it reported.
pub struct Side {
    pub conn: Connection,
    pub events: Vec<Event>,
    pub error: Option<Error>,
    /// Every byte this side transmitted, in order.
    pub sent: Vec<u8>,
    /// Answer to auth requests (None: leave them pending).
    pub auth: Option<AuthReply>,
    /// While true, this side's output is discarded (a silent peer).
    pub mute: bool,
    /// Rewrites each batch of output in transit (after it is recorded in `sent`): an
    /// attacker on the wire.
    pub tamper: Option<Tamper>,
}

impl Side {
    fn new(config: Config, now: Instant) -> Side {
        Side {
            conn: Connection::new(config, now).expect("valid config"),
            events: Vec::new(),
            error: None,
            sent: Vec::new(),
            auth: None,
            mute: false,
            tamper: None,
        }
    }

    /// Drains events (answering auth requests); returns false once failed.
    fn pump(&mut self, now: Instant) {
        loop {
            match self.conn.poll_event() {
                Ok(Some(Event::AuthRequest(req))) => {
                    self.events.push(Event::AuthRequest(req));
                    if let Some(reply) = self.auth.clone() {
                        if let Err(e) = self.conn.handle_auth_reply(now, reply) {
                            self.error.get_or_insert(e);
                        }
                    }
                }
                Ok(Some(ev)) => self.events.push(ev),
                Ok(None) => return,
                Err(e) => {
                    self.error.get_or_insert(e);
                    return;
                }
            }
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = self.conn.poll_transmit() {
            out.extend_from_slice(&chunk);
        }
        self.sent.extend_from_slice(&out);
        if self.mute {
            return Vec::new();
        }
        if let Some(tamper) = self.tamper.as_mut() {
            if !out.is_empty() {
                tamper(&mut out);
            }
        }
        out
    }

    fn deliver(&mut self, now: Instant, bytes: &[u8]) {
        if bytes.is_empty() || self.error.is_some() {
            return;
        }
        if let Err(e) = self.conn.handle_input(now, bytes) {
            self.error.get_or_insert(e);
        }
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<zmtp_codec::Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn handshake_done(&self) -> Option<&zmtp_codec::Handshake> {
        self.events.iter().find_map(|e| match e {
            Event::HandshakeSucceeded(p) => Some(&**p),
            _ => None,
        })
    }
}

/// Two connections wired back to back.
pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub a: Side,
    pub b: Side,
}

impl Pair {
    pub fn new(a: Config, b: Config) -> Pair {
        let start = Instant::now();
        Pair {
            start,
            now: start,
            a: Side::new(a, start),
            b: Side::new(b, start),
        }
    }

    /// Shuttles bytes both ways until neither side has anything to say.
    pub fn drive(&mut self) {
        for _ in 0..1000 {
            let now = self.now;
            self.a.pump(now);
            self.b.pump(now);
            let ab = self.a.take_output();
            let ba = self.b.take_output();
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            self.b.deliver(now, &ab);
            self.a.deliver(now, &ba);
        }
        panic!("pair did not quiesce");
    }

    /// Advances the fake clock step by step, firing timers on both sides and driving.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [self.a.conn.poll_timeout(), self.b.conn.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|&t| t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = t.max(self.now);
            for side in [&mut self.a, &mut self.b] {
                if side.error.is_none() && side.conn.poll_timeout().is_some_and(|d| d <= self.now) {
                    if let Err(e) = side.conn.handle_timeout(self.now) {
                        side.error.get_or_insert(e);
                    }
                }
            }
            self.drive();
        }
        self.now = end;
        self.drive();
    }

    pub fn send_a(&mut self, msg: impl Into<zmtp_codec::Message>) {
        self.a.conn.send(&msg.into()).expect("send");
        self.drive();
    }

    pub fn send_b(&mut self, msg: impl Into<zmtp_codec::Message>) {
        self.b.conn.send(&msg.into()).expect("send");
        self.drive();
    }
}

pub fn bytes(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}
