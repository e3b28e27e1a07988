//! A PUB or XPUB socket with SUB/XSUB peers: subscribe, cancel, publish, detach.
//!
//! The input chooses PUB or XPUB, `xpub_verbose` and the HWMs, then is a script of events:
//! a peer attaches (or is refused as incompatible, at once or at a later handshake),
//! detaches, subscribes or cancels (topics from [`Input::topic`]: nested, repeated, long),
//! sends an upstream message (multipart, possibly starting with a 0 or 1 byte), reads what
//! was published to it (all, or a few); the user publishes and (XPUB) receives.
//!
//! The model replays what the socket does at each call, step by step, since the order it
//! reads the peers in decides which subscription to a topic is the first:
//!
//! - it applies the mailbox: a peer detached with nothing left to read is forgotten (its
//!   orphaned topics reported), one with messages left lingers until they are read;
//! - the intake (twice for `try_send`/`try_recv`: once in the pump, once in the protocol
//!   call) runs when a pipe or the mailbox signalled since the last one, or the last one
//!   stopped early; it reads the peers in turn from where the last one stopped, up to
//!   `INTAKE_BUDGET` messages each, and (XPUB) stops as soon as `rcvhwm` reports and
//!   upstream messages wait for the user, leaving the rest in the pipes. The model keeps
//!   each pipe's reader cache (the reader takes the whole queue when its cache is empty),
//!   since a push signals only when the queue was empty;
//! - after the call it forgets the lingering peers whose end the intake saw (or, for
//!   `peer_count`, all those read to the end), and a lingering subscribed peer a publish
//!   found closed, if read to the end.
//!
//! Checks:
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
//! - a peer's push succeeds only below the receive HWM; `peer_count` counts live peers and
//!   the lingering ones.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use zmq_async::{kind, Error, Message, Socket, SocketOptions, SocketType};

use crate::harness::{info, message, on_socket_stack, tag, untag, Peer, Room};
use crate::input::Input;

const SLOTS: usize = 6;
const MAX_PEERS: usize = 200;
const USER: u8 = u8::MAX;

/// `zmq_async`'s `INTAKE_BUDGET`: messages the intake reads from one pipe per turn.
const INTAKE_BUDGET: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// Detached; the socket hears of it at its next call.
    Detached,
    /// Detached, heard of, with messages left: read until its end is seen.
    Lingering,
    /// Forgotten by the socket.
    Removed,
}

#[derive(Debug)]
struct Model {
    xpub: bool,
    verbose: bool,
    /// XPUB: the intake stops while this many reports and upstream messages wait (`0`: never).
    limit: usize,
    /// Peers in the socket, in attach order (the order it reads subscriptions in).
    order: Vec<usize>,
    state: Vec<State>,
    /// Per peer: what it pushed that the socket has not read (its pipe: cache, then queue).
    pending: Vec<VecDeque<Message>>,
    /// Per peer: how many of `pending` the pipe's reader holds in its cache.
    cached: Vec<usize>,
    /// Per peer: messages published to it that it has not read.
    outbound: Vec<VecDeque<Message>>,
    /// Topic → subscribed peers.
    subscribers: HashMap<Vec<u8>, BTreeSet<usize>>,
    /// Per topic: reports due to the XPUB user (`true`: subscribe), in order.
    reports: HashMap<Vec<u8>, VecDeque<bool>>,
    /// Per peer: upstream messages due to the XPUB user, in order.
    upstream: Vec<VecDeque<Message>>,
    /// A pipe or the mailbox signalled since the last intake (set at first).
    signal: bool,
    /// The last intake stopped early: the next one runs anyway.
    rescan: bool,
    /// Where the next intake starts (an index into `order`, taken modulo).
    next: usize,
    /// Lingering peers whose end the intake saw, or a publish found closed.
    dead: Vec<usize>,
}

impl Model {
    fn new(xpub: bool, verbose: bool, rcvhwm: usize) -> Self {
        Model {
            xpub,
            verbose,
            limit: if xpub { rcvhwm } else { 0 },
            order: Vec::new(),
            state: Vec::new(),
            pending: Vec::new(),
            cached: Vec::new(),
            outbound: Vec::new(),
            subscribers: HashMap::new(),
            reports: HashMap::new(),
            upstream: Vec::new(),
            signal: true,
            rescan: false,
            next: 0,
            dead: Vec::new(),
        }
    }

    fn add_peer(&mut self) -> usize {
        let n = self.state.len();
        self.state.push(State::Live);
        self.pending.push(VecDeque::new());
        self.cached.push(0);
        self.outbound.push(VecDeque::new());
        self.upstream.push(VecDeque::new());
        self.order.push(n);
        self.signal = true;
        n
    }

    /// Peer `n` pushed `msg` into its pipe: a push into an empty queue signals.
    fn pushed(&mut self, n: usize, msg: Message) {
        if self.pending[n].len() == self.cached[n] {
            self.signal = true;
        }
        self.pending[n].push_back(msg);
    }

    /// The socket's `try_pop` on peer `n`'s pipe (`None`: empty or finished).
    fn pop(&mut self, n: usize) -> Option<Message> {
        if self.cached[n] == 0 {
            self.cached[n] = self.pending[n].len();
        }
        let msg = self.pending[n].pop_front()?;
        self.cached[n] -= 1;
        Some(msg)
    }

    /// Reports and upstream messages waiting for the XPUB user.
    fn held(&self) -> usize {
        self.reports.values().map(VecDeque::len).sum::<usize>()
            + self.upstream.iter().map(VecDeque::len).sum::<usize>()
    }

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
        self.cached[n] = 0;
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

    /// What every socket call does first: apply the mailbox (detached peers read to the
    /// end are forgotten, the others linger), then the intake.
    fn pump(&mut self) {
        for n in 0..self.state.len() {
            if self.state[n] == State::Detached {
                if self.pending[n].is_empty() {
                    self.remove(n);
                } else {
                    self.state[n] = State::Lingering;
                }
            }
        }
        self.intake();
    }

    /// The socket's intake of subscriptions and upstream messages.
    fn intake(&mut self) {
        let run = std::mem::take(&mut self.signal) | std::mem::take(&mut self.rescan);
        if !run {
            return;
        }
        if self.limit != 0 && self.held() >= self.limit {
            self.rescan = true;
            return;
        }
        let count = self.order.len();
        for step in 0..count {
            let i = (self.next + step) % count;
            let n = self.order[i];
            let mut budget = INTAKE_BUDGET;
            loop {
                if budget == 0 {
                    self.rescan = true;
                    break;
                }
                budget -= 1;
                match self.pop(n) {
                    Some(msg) => {
                        self.handle(n, msg);
                        if self.limit != 0 && self.held() >= self.limit {
                            self.next = i + 1;
                            self.rescan = true;
                            return;
                        }
                    }
                    None => {
                        if self.state[n] != State::Live {
                            self.dead.push(n);
                        }
                        break;
                    }
                }
            }
        }
        if count > 0 {
            self.next = (self.next + 1) % count;
        }
    }

    /// What `try_send` and `try_recv` do last: forget the lingering peers read to the end
    /// that the intake (or a publish) saw gone; true if it forgot one.
    fn reap(&mut self) -> bool {
        let mut removed = false;
        for n in std::mem::take(&mut self.dead) {
            if self.state[n] == State::Lingering && self.pending[n].is_empty() {
                self.remove(n);
                removed = true;
            }
        }
        removed
    }

    /// What `peer_count` does last: forget every lingering peer read to the end.
    fn sweep(&mut self) {
        self.dead.clear();
        for n in 0..self.state.len() {
            if self.state[n] == State::Lingering && self.pending[n].is_empty() {
                self.remove(n);
            }
        }
    }

    fn handle(&mut self, n: usize, msg: Message) {
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
    let mut model = Model::new(xpub, verbose, rcvhwm);
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
                let n = model.add_peer();
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
                model.signal = true;
                if !compatible(ty) {
                    slots[slot] = None;
                    model.pending[n].clear();
                    model.cached[n] = 0;
                    model.outbound[n].clear();
                    model.state[n] = State::Detached;
                }
            }
            3 => {
                if let Some((_, peer)) = &mut slots[slot] {
                    peer.disconnected();
                    model.signal = true;
                }
            }
            4 => {
                if let Some((n, _)) = slots[slot].take() {
                    model.state[n] = State::Detached;
                    model.outbound[n].clear();
                    model.signal = true;
                }
            }
            // Subscribe or cancel.
            5..=7 => {
                let on = op & 0x0f != 7;
                let topic = input.topic();
                if let Some((n, peer)) = &mut slots[slot] {
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
                if let Some((n, peer)) = &mut slots[slot] {
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
                    peer.read_expecting(*n, few, &mut model.outbound[*n]);
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
                model.pump();
                model.sweep();
                // Live peers, and detached ones whose messages the intake has not read yet.
                let live = slots.iter().flatten().count();
                let lingering = model.state.iter().filter(|s| **s == State::Lingering);
                assert_eq!(socket.peer_count(), live + lingering.count(), "peer_count");
            }
        }
    }
    // Everything due arrives, however low `rcvhwm`: each receive makes room for the intake.
    let mut rounds = 0usize;
    loop {
        let due = model.held() > 0
            || model.pending.iter().any(|p| !p.is_empty())
            || model
                .state
                .iter()
                .any(|s| matches!(s, State::Detached | State::Lingering));
        recv(&mut socket, &mut model);
        if !due || !xpub {
            break;
        }
        rounds += 1;
        assert!(rounds < 1_000_000, "XPUB: the final receives never end");
    }
    for (n, peer) in slots.iter_mut().flatten() {
        peer.read_expecting(*n, None, &mut model.outbound[*n]);
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

fn push(peer: &mut Peer, n: usize, model: &mut Model, msg: Message, rcvhwm: usize) {
    if peer.send(msg.clone()) {
        model.pushed(n, msg);
        let pending = &model.pending[n];
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
    model.pump();
    model.intake();
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
    // A lingering subscriber's pipe is found closed: it is forgotten if read to the end.
    for n in model.order.clone() {
        if model.state[n] == State::Lingering && model.matches(n, &msg[0]) {
            model.dead.push(n);
        }
    }
    model.reap();
}

fn recv(socket: &mut Pub, model: &mut Model) {
    model.pump();
    let got = match socket {
        Pub::Pub(s) => {
            // PUB has no `recv` (a compile-time matter); this settles the socket.
            s.peer_count();
            model.sweep();
            return;
        }
        Pub::XPub(s) => {
            model.intake();
            // With nothing to deliver, the socket forgets the peers found gone and, if it
            // forgot one (whose orphaned topics are now reported), looks again.
            while model.held() == 0 && model.reap() {
                model.intake();
            }
            s.try_recv()
        }
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
    model.reap();
}
