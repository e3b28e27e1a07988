//! A PUB or XPUB socket with SUB/XSUB peers: subscribe, cancel, publish, detach.
//!
//! The input chooses PUB or XPUB, `xpub_verbose` and the HWMs, then is a script of events:
//! a peer attaches (or is refused as incompatible, at once or at a later handshake),
//! detaches, subscribes or cancels (topics from [`Input::topic`]: nested, repeated, long),
//! sends an upstream message (multipart, possibly starting with a 0 or 1 byte), reads what
//! was published to it (all, or a few); the user publishes and (XPUB) receives.
//!
//! The model replays what the socket does at each call: it first forgets detached peers
//! with nothing left to read, then reads every peer's subscriptions in attach order, and
//! after the call forgets the detached peers it read last. Checks:
//!
//! - a published message reaches exactly the attached peers with a subscription that is a
//!   prefix of its first frame, except peers at their HWM (PUB drops per peer), intact and
//!   in order; `try_send` never blocks;
//! - XPUB reports a subscription when it is the topic's first (every one with
//!   `xpub_verbose`) and a cancel when it removed the topic's last subscriber, including
//!   the topics a detached or refused peer leaves orphaned; per topic, the reports arrive
//!   in the model's order; nothing else is reported, and `WouldBlock` only when nothing is
//!   due;
//! - XPUB passes upstream messages (anything but a one-frame subscribe or cancel) on, in
//!   each peer's order; PUB drops them;
//! - a peer's push succeeds only below the receive HWM; `peer_count` counts live peers.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use zmq_async::{kind, Error, Message, Socket, SocketOptions, SocketType};

use crate::harness::{info, message, on_socket_stack, tag, untag, Peer, Room};
use crate::input::Input;

const SLOTS: usize = 6;
const MAX_PEERS: usize = 200;
const USER: u8 = u8::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// Detached; still read until its pipe is drained.
    Detached,
    /// Forgotten by the socket.
    Removed,
}

#[derive(Debug)]
struct Model {
    xpub: bool,
    verbose: bool,
    /// Peers in the socket, in attach order (the order it reads subscriptions in).
    order: Vec<usize>,
    state: Vec<State>,
    /// Per peer: what it pushed that the socket has not read.
    pending: Vec<VecDeque<Message>>,
    /// Per peer: messages published to it that it has not read.
    outbound: Vec<VecDeque<Message>>,
    /// Topic → subscribed peers.
    subscribers: HashMap<Vec<u8>, BTreeSet<usize>>,
    /// Per topic: reports due to the XPUB user (`true`: subscribe), in order.
    reports: HashMap<Vec<u8>, VecDeque<bool>>,
    /// Per peer: upstream messages due to the XPUB user, in order.
    upstream: Vec<VecDeque<Message>>,
}

impl Model {
    fn report(&mut self, topic: &[u8], subscribe: bool) {
        if self.xpub {
            self.reports
                .entry(topic.to_vec())
                .or_default()
                .push_back(subscribe);
        }
    }

    fn remove(&mut self, n: usize) {
        self.state[n] = State::Removed;
        self.order.retain(|m| *m != n);
        self.pending[n].clear();
        let mut orphans = Vec::new();
        self.subscribers.retain(|topic, peers| {
            if peers.remove(&n) && peers.is_empty() {
                orphans.push(topic.clone());
            }
            !peers.is_empty()
        });
        for t in orphans {
            self.report(&t, false);
        }
    }

    /// What every socket call does first: forget drained detached peers, read the rest.
    fn settle(&mut self) {
        for n in 0..self.state.len() {
            if self.state[n] == State::Detached && self.pending[n].is_empty() {
                self.remove(n);
            }
        }
        for n in self.order.clone() {
            while let Some(msg) = self.pending[n].pop_front() {
                self.intake(n, msg);
            }
        }
    }

    /// What every socket call does last: forget the detached peers read in `settle`.
    fn finish(&mut self) {
        for n in 0..self.state.len() {
            if self.state[n] == State::Detached {
                self.remove(n);
            }
        }
    }

    fn intake(&mut self, n: usize, msg: Message) {
        let op = msg[0].first().copied();
        match op {
            Some(op @ (0 | 1)) if msg.len() == 1 => {
                let topic = msg[0][1..].to_vec();
                if op == 1 {
                    let peers = self.subscribers.entry(topic.clone()).or_default();
                    let first = peers.is_empty();
                    peers.insert(n);
                    if first || self.verbose {
                        self.report(&topic, true);
                    }
                } else {
                    let last = self
                        .subscribers
                        .get_mut(&topic)
                        .is_some_and(|peers| peers.remove(&n) && peers.is_empty());
                    if last {
                        self.subscribers.remove(&topic);
                        self.report(&topic, false);
                    }
                }
            }
            _ => {
                if self.xpub {
                    self.upstream[n].push_back(msg);
                }
            }
        }
    }

    fn matches(&self, n: usize, data: &[u8]) -> bool {
        self.subscribers
            .iter()
            .any(|(t, peers)| peers.contains(&n) && data.starts_with(t))
    }
}

enum Pub {
    Pub(Socket<kind::Pub>),
    XPub(Socket<kind::XPub>),
}

impl Pub {
    fn handle(&self) -> zmq_async::SocketHandle {
        match self {
            Pub::Pub(s) => s.handle(),
            Pub::XPub(s) => s.handle(),
        }
    }
    fn try_send(&mut self, msg: Message) -> Result<(), zmq_async::TrySendError> {
        match self {
            Pub::Pub(s) => s.try_send(msg),
            Pub::XPub(s) => s.try_send(msg),
        }
    }
    fn peer_count(&mut self) -> usize {
        match self {
            Pub::Pub(s) => s.peer_count(),
            Pub::XPub(s) => s.peer_count(),
        }
    }
}

/// Runs one script (on a socket's stack, see [`on_socket_stack`]).
pub fn run(data: &[u8]) {
    on_socket_stack(|| script(data));
}

fn script(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let (xpub, verbose) = (flags & 1 != 0, flags & 2 != 0);
    let mut options = SocketOptions::default();
    options.xpub_verbose = verbose;
    options.sndhwm = usize::from(input.u8() % 5);
    options.rcvhwm = usize::from(input.u8() % 5);
    let rcvhwm = options.rcvhwm;
    let mut socket = if xpub {
        Pub::XPub(Socket::with_options(options).expect("valid options"))
    } else {
        Pub::Pub(Socket::with_options(options).expect("valid options"))
    };
    let handle = socket.handle();
    let mut slots: [Option<(usize, Peer)>; SLOTS] = Default::default();
    let mut model = Model {
        xpub,
        verbose,
        order: Vec::new(),
        state: Vec::new(),
        pending: Vec::new(),
        outbound: Vec::new(),
        subscribers: HashMap::new(),
        reports: HashMap::new(),
        upstream: Vec::new(),
    };
    let mut serial = 0u32;
    while !input.is_empty() {
        let op = input.u8();
        let slot = usize::from(op >> 4) % SLOTS;
        crate::trace!(
            "op {:x} slot {slot} peer {:?}",
            op & 0x0f,
            slots[slot].as_ref().map(|(n, _)| *n)
        );
        match op & 0x0f {
            // Attach, with the handshake now or later.
            0 | 1 => {
                if slots[slot].is_some() || model.state.len() >= MAX_PEERS {
                    continue;
                }
                let n = model.state.len();
                model.state.push(State::Live);
                model.pending.push(VecDeque::new());
                model.outbound.push(VecDeque::new());
                model.upstream.push(VecDeque::new());
                model.order.push(n);
                let now = (op & 1 == 0).then(|| info(peer_type(input.u8()), None));
                let refused = now.as_ref().is_some_and(|i| !compatible(i.socket_type));
                let peer = Peer::attach(&handle, now, None);
                if refused {
                    model.state[n] = State::Detached;
                    continue;
                }
                slots[slot] = Some((n, peer));
            }
            // A later handshake (maybe refused: the peer is dropped with what it sent).
            2 => {
                let ty = peer_type(input.u8());
                let Some((n, peer)) = &slots[slot] else {
                    continue;
                };
                let n = *n;
                peer.handshake(info(ty, None));
                if !compatible(ty) {
                    slots[slot] = None;
                    model.pending[n].clear();
                    model.outbound[n].clear();
                    model.state[n] = State::Detached;
                }
            }
            3 => {
                if let Some((_, peer)) = &slots[slot] {
                    peer.pipes.link.disconnected();
                }
            }
            4 => {
                if let Some((n, _)) = slots[slot].take() {
                    model.state[n] = State::Detached;
                    model.outbound[n].clear();
                }
            }
            // Subscribe or cancel.
            5..=7 => {
                let on = op & 0x0f != 7;
                let topic = input.topic();
                if let Some((n, peer)) = &slots[slot] {
                    let mut body = Vec::with_capacity(topic.len() + 1);
                    body.push(u8::from(on));
                    body.extend_from_slice(&topic);
                    push(peer, *n, &mut model, Message::from(body), rcvhwm);
                }
            }
            // An upstream message.
            8 => {
                let first = input.u8() % 3;
                let extra = input.u8() % 3;
                if let Some((n, peer)) = &slots[slot] {
                    let mut head = vec![first];
                    head.extend_from_slice(&tag(*n as u8, serial));
                    serial += 1;
                    let frames = (0..extra).map(|i| Bytes::from(vec![i; usize::from(i)]));
                    let msg = message(std::iter::once(Bytes::from(head)).chain(frames));
                    push(peer, *n, &mut model, msg, rcvhwm);
                }
            }
            // The peer reads everything, or a few.
            9 | 10 => {
                let few = (op & 0x0f == 10).then(|| usize::from(input.u8() % 3) + 1);
                if let Some((n, peer)) = &mut slots[slot] {
                    let (got, _) = peer.read(few);
                    let expected = &mut model.outbound[*n];
                    for m in got {
                        assert_eq!(
                            Some(m),
                            expected.pop_front(),
                            "peer {n} read a wrong message"
                        );
                    }
                    if few.is_none() {
                        assert!(
                            expected.is_empty(),
                            "peer {n} misses {} messages",
                            expected.len()
                        );
                    }
                }
            }
            // Publish.
            11 | 12 => {
                let topic = input.topic();
                let msg = message([Bytes::from(topic), tag(USER, serial)]);
                serial += 1;
                publish(&mut socket, &slots, &mut model, msg);
            }
            13 | 14 => recv(&mut socket, &mut model),
            _ => {
                model.settle();
                model.finish();
                let live = slots.iter().flatten().count();
                assert_eq!(socket.peer_count(), live, "peer_count");
            }
        }
    }
    // Everything due arrives.
    loop {
        let due = model.reports.values().any(|r| !r.is_empty())
            || model.upstream.iter().any(|u| !u.is_empty())
            || model.pending.iter().any(|p| !p.is_empty())
            || model.state.contains(&State::Detached);
        recv(&mut socket, &mut model);
        if !due || !xpub {
            break;
        }
    }
    for (n, peer) in slots.iter_mut().flatten() {
        let (got, _) = peer.read(None);
        assert!(
            got.into_iter().eq(model.outbound[*n].drain(..)),
            "peer {n} final read"
        );
    }
}

fn peer_type(b: u8) -> SocketType {
    [
        SocketType::Sub,
        SocketType::XSub,
        SocketType::Sub,
        SocketType::Push,
    ][usize::from(b % 4)]
}

fn compatible(ty: SocketType) -> bool {
    SocketType::XPub.is_compatible(ty)
}

fn push(peer: &Peer, n: usize, model: &mut Model, msg: Message, rcvhwm: usize) {
    if peer.send(msg.clone()) {
        let pending = &mut model.pending[n];
        pending.push_back(msg);
        assert!(
            rcvhwm == 0 || pending.len() <= rcvhwm,
            "peer {n}: {} messages queued past the receive HWM {rcvhwm}",
            pending.len()
        );
    }
}

fn publish(socket: &mut Pub, slots: &[Option<(usize, Peer)>], model: &mut Model, msg: Message) {
    let before: Vec<(usize, usize, Room)> = slots
        .iter()
        .flatten()
        .map(|(n, p)| (*n, p.queued(), p.room()))
        .collect();
    model.settle();
    let result = socket.try_send(msg.clone());
    assert!(result.is_ok(), "PUB/XPUB try_send: {result:?}");
    for ((n, queued, room), peer) in before.iter().zip(slots.iter().flatten().map(|(_, p)| p)) {
        let got = peer.queued() - queued;
        assert!(got <= 1, "peer {n} got the message {got} times");
        let matches = model.matches(*n, &msg[0]);
        if matches && *room == Room::Surely {
            assert_eq!(
                got, 1,
                "subscribed peer {n} with room did not get the message"
            );
        }
        if !matches || *room == Room::None {
            assert_eq!(
                got, 0,
                "peer {n} got a message (subscribed: {matches}, room: {room:?})"
            );
        }
        if got == 1 {
            model.outbound[*n].push_back(msg.clone());
        }
    }
    model.finish();
}

fn recv(socket: &mut Pub, model: &mut Model) {
    model.settle();
    let got = match socket {
        Pub::Pub(s) => {
            // PUB has no `recv` (a compile-time matter); this settles the socket.
            s.peer_count();
            model.finish();
            return;
        }
        Pub::XPub(s) => s.try_recv(),
    };
    match got {
        Ok(msg) => {
            let first = &msg[0];
            match first.first() {
                Some(&op @ (0 | 1)) if msg.len() == 1 => {
                    let topic = &first[1..];
                    let due = model.reports.get_mut(topic).and_then(VecDeque::pop_front);
                    assert_eq!(
                        due,
                        Some(op == 1),
                        "XPUB reported {} of a {}-byte topic",
                        if op == 1 {
                            "a subscription"
                        } else {
                            "a cancel"
                        },
                        topic.len()
                    );
                }
                _ => {
                    let from = first
                        .get(1..)
                        .and_then(untag)
                        .map(|(from, _)| usize::from(from));
                    let due = from
                        .and_then(|n| model.upstream.get_mut(n))
                        .and_then(VecDeque::pop_front);
                    assert_eq!(
                        due.as_ref(),
                        Some(&msg),
                        "XPUB passed on an upstream message out of order"
                    );
                }
            }
        }
        Err(Error::WouldBlock) => {
            assert!(
                model.reports.values().all(VecDeque::is_empty),
                "XPUB: a report is due"
            );
            assert!(
                model.upstream.iter().all(VecDeque::is_empty),
                "XPUB: an upstream message is due"
            );
        }
        Err(e) => panic!("XPUB try_recv: {e}"),
    }
    model.finish();
}
