//! A ROUTER socket: routing ids (given, automatic, aliased, duplicate, handed over), the
//! fair queue in, routing out, `router_mandatory`.
//!
//! The input chooses `router_mandatory`, `router_handover` and the HWMs, then is a script
//! of events: a peer attaches (with a routing id from a small set, none, or a
//! `connect_routing_id` alias; handshake at once or later; maybe an incompatible type),
//! detaches, disconnects and handshakes again (maybe with another id), sends a message
//! (multipart), reads what was routed to it; the user sends to a routing id (a peer's, an
//! unknown one, an empty one, or a message with no body) and receives.
//!
//! The model replays the socket: its mailbox (attach, handshake, disconnect, detach are
//! applied at the next socket call, in order; a second disconnect while the first waits
//! replaces the handshakes posted after the first), libzmq's identity rules (a duplicate id
//! is ignored, or with `router_handover` takes over and the old peer is dropped; a peer
//! that reconnects with another id is renamed) and when a detached peer is forgotten (once
//! its messages are read; at once, with them, if it has no routing id, since those are
//! never read). Automatic ids are learned from the first message received from a peer.
//! Checks:
//!
//! - a received message is `[id, message…]` from the first peer in turn with a message
//!   queued (messages of a peer that lost its id are dropped), with that peer's id, intact
//!   and in order; `WouldBlock` only when nothing is due; automatic ids are 5 bytes
//!   starting with 0 and unique;
//! - a sent message reaches only the peer that has its routing id, without the id, or
//!   nobody: unknown or gone ids are dropped (`HostUnreachable` with `router_mandatory`),
//!   and a peer at its HWM drops it (`WouldBlock` with `router_mandatory`, the message
//!   handed back whole);
//! - a peer's push fails exactly when the socket dropped the peer, and never passes the
//!   receive HWM; `peer_count` counts the peers the socket still holds.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use zmq_async::{kind, Error, Message, PeerInfo, Socket, SocketOptions, SocketType};

use crate::harness::{message, on_socket_stack, tag, untag, Peer, Ring, Room, Visit};
use crate::input::Input;

const SLOTS: usize = 6;
const MAX_PEERS: usize = 200;
const USER: u8 = u8::MAX;

/// A routing id as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Id {
    Given(Bytes),
    /// The k-th automatic id the model saw assigned (bytes learned on receive).
    Auto(usize),
}

#[derive(Debug)]
enum Mail {
    Attach(usize, Option<PeerInfo>),
    Connected(usize, PeerInfo),
    Disconnected(usize),
    Detach(usize),
}

#[derive(Debug, Default)]
struct Model {
    mandatory: bool,
    handover: bool,
    mail: Vec<Mail>,
    dead: Vec<usize>,
    fq: Ring<usize>,
    by_id: HashMap<Id, usize>,
    ids: HashMap<usize, Id>,
    autos: Vec<Option<Bytes>>,
    /// Per peer: attached and not forgotten by the socket.
    in_engine: Vec<bool>,
    /// Per peer: the harness still holds it (not detached).
    held: Vec<bool>,
    alias: Vec<Option<Bytes>>,
    /// Per peer: what it pushed that the socket has not read.
    pending: Vec<VecDeque<Message>>,
    /// Per peer: what was routed to it that it has not read.
    outbound: Vec<VecDeque<Message>>,
}

impl Model {
    /// Gone, and what it sent read, or never to be read: a peer without a routing id (an
    /// ignored duplicate, or one that never completed its handshake) is forgotten with
    /// its messages as soon as it is gone.
    fn finished(&self, n: usize) -> bool {
        !self.held[n] && (self.pending[n].is_empty() || !self.ids.contains_key(&n))
    }

    /// What every socket call does first: the mailbox, then forget finished dead peers.
    fn pump(&mut self) {
        for mail in std::mem::take(&mut self.mail) {
            match mail {
                Mail::Attach(n, info) => {
                    self.in_engine[n] = true;
                    if let Some(info) = info {
                        self.connected(n, info);
                    }
                }
                Mail::Connected(n, info) => {
                    if self.in_engine[n] {
                        self.connected(n, info);
                    }
                }
                Mail::Disconnected(_) => {}
                Mail::Detach(n) => {
                    if self.in_engine[n] {
                        self.dead.push(n);
                    }
                }
            }
        }
        self.reap();
    }

    /// The mailbox holds at most one disconnect per peer: a second one while the first
    /// waits replaces the handshakes posted after it (and is not posted itself).
    fn disconnected(&mut self, n: usize) {
        if self
            .mail
            .iter()
            .any(|m| matches!(m, Mail::Disconnected(d) if *d == n))
        {
            self.mail
                .retain(|m| !matches!(m, Mail::Connected(c, _) if *c == n));
        } else {
            self.mail.push(Mail::Disconnected(n));
        }
    }

    fn reap(&mut self) {
        while let Some(n) = self.dead.pop() {
            if self.in_engine[n] && self.finished(n) {
                self.drop_peer(n);
            }
        }
    }

    fn sweep(&mut self) {
        for n in 0..self.in_engine.len() {
            if self.in_engine[n] && self.finished(n) {
                self.drop_peer(n);
            }
        }
    }

    /// The socket forgets `n` and tells the router.
    fn drop_peer(&mut self, n: usize) {
        self.remove_peer(n);
        self.fq.leave(n);
        if let Some(id) = self.ids.remove(&n) {
            if self.by_id.get(&id) == Some(&n) {
                self.by_id.remove(&id);
            }
        }
    }

    /// The socket forgets `n` (its pipes close; what it sent is lost).
    fn remove_peer(&mut self, n: usize) {
        self.in_engine[n] = false;
        self.pending[n].clear();
    }

    fn connected(&mut self, n: usize, info: PeerInfo) {
        crate::trace!(
            "  connected {n}: {:?} {:?}",
            info.socket_type,
            info.routing_id
        );
        if !SocketType::Router.is_compatible(info.socket_type) {
            self.drop_peer(n);
            return;
        }
        // identify
        let aliased = self.alias[n].is_some();
        let given = self.alias[n]
            .clone()
            .or(info.routing_id.filter(|id| !id.is_empty()))
            .map(Id::Given);
        if let (Some(old), Some(new)) = (self.ids.get(&n), given.as_ref()) {
            if old == new {
                return;
            }
        }
        if let Some(old) = self.ids.remove(&n) {
            self.by_id.remove(&old);
        }
        let id = match given {
            None => self.auto(),
            Some(id) => {
                if let Some(&other) = self.by_id.get(&id) {
                    if !self.handover || aliased {
                        return;
                    }
                    self.auto(); // the old peer's new name, never seen
                    self.by_id.remove(&id);
                    self.ids.remove(&other);
                    self.fq.leave(other);
                    self.remove_peer(other);
                }
                id
            }
        };
        self.by_id.insert(id.clone(), n);
        self.ids.insert(n, id);
        self.fq.join(n);
    }

    fn auto(&mut self) -> Id {
        self.autos.push(None);
        Id::Auto(self.autos.len() - 1)
    }

    fn bytes_of(&self, id: &Id) -> Option<Bytes> {
        match id {
            Id::Given(b) => Some(b.clone()),
            Id::Auto(k) => self.autos[*k].clone(),
        }
    }

    /// The peer that holds the routing id `bytes`, if the model knows the id.
    fn lookup(&self, bytes: &[u8]) -> Option<usize> {
        self.by_id
            .iter()
            .find(|(id, _)| self.bytes_of(id).is_some_and(|b| b == bytes))
            .map(|(_, n)| *n)
    }
}

/// Runs one script (on a socket's stack, see [`on_socket_stack`]).
pub fn run(data: &[u8]) {
    on_socket_stack(|| script(data));
}

fn script(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let mut options = SocketOptions::default();
    options.router_mandatory = flags & 1 != 0;
    options.router_handover = flags & 2 != 0;
    options.sndhwm = usize::from(input.u8() % 5);
    options.rcvhwm = usize::from(input.u8() % 5);
    let rcvhwm = options.rcvhwm;
    let mut socket = Socket::<kind::Router>::with_options(options).expect("valid options");
    let handle = socket.handle();
    let mut slots: [Option<(usize, Peer)>; SLOTS] = Default::default();
    let mut model = Model {
        mandatory: flags & 1 != 0,
        handover: flags & 2 != 0,
        ..Model::default()
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
            // Attach, with the handshake now or later, maybe with an alias.
            0..=2 => {
                let (handshake, alias) = (input.u8(), input.u8());
                if slots[slot].is_some() || model.in_engine.len() >= MAX_PEERS {
                    continue;
                }
                let n = model.in_engine.len();
                let alias = match alias % 8 {
                    0 => Some(Bytes::from_static(b"X")),
                    1 => Some(Bytes::from_static(b"A")),
                    _ => None,
                };
                let now = (op & 0x0f != 0).then(|| peer_info(handshake));
                model.in_engine.push(false);
                model.held.push(true);
                model.alias.push(alias.clone());
                model.pending.push(VecDeque::new());
                model.outbound.push(VecDeque::new());
                model.mail.push(Mail::Attach(n, now.clone()));
                let peer = Peer::attach(&handle, now, alias.map(|a| a.to_vec()));
                slots[slot] = Some((n, peer));
            }
            // Handshake (again), maybe with another id or an incompatible type.
            3 | 4 => {
                let info = peer_info(input.u8());
                if let Some((n, peer)) = &mut slots[slot] {
                    if op & 0x0f == 3 {
                        peer.disconnected();
                        model.disconnected(*n);
                    }
                    peer.handshake(info.clone());
                    model.mail.push(Mail::Connected(*n, info));
                }
            }
            // Detach.
            5 => {
                if let Some((n, _)) = slots[slot].take() {
                    model.held[n] = false;
                    model.outbound[n].clear();
                    model.mail.push(Mail::Detach(n));
                }
            }
            // The peer sends.
            6 | 7 => {
                let extra = input.u8();
                if let Some((n, peer)) = &mut slots[slot] {
                    let frames = (0..extra % 3).map(|i| Bytes::from(vec![i; usize::from(i)]));
                    let msg = message(std::iter::once(tag(*n as u8, serial)).chain(frames));
                    serial += 1;
                    // The socket dropped the peer (refused, handed over) only at a socket call,
                    // and then its pipe is closed.
                    let dropped = !model.in_engine[*n]
                        && !model
                            .mail
                            .iter()
                            .any(|m| matches!(m, Mail::Attach(a, _) if a == n));
                    let ok = peer.send(msg.clone());
                    if dropped {
                        assert!(
                            !ok,
                            "peer {n}: a push succeeded after the socket dropped the peer"
                        );
                    }
                    if ok {
                        let pending = &mut model.pending[*n];
                        pending.push_back(msg);
                        assert!(
                            rcvhwm == 0 || pending.len() <= rcvhwm,
                            "peer {n}: {} messages queued past the receive HWM {rcvhwm}",
                            pending.len()
                        );
                    }
                }
            }
            // The peer reads everything, or a few.
            8 | 9 => {
                let few = (op & 0x0f == 9).then(|| usize::from(input.u8() % 3) + 1);
                if let Some((n, peer)) = &mut slots[slot] {
                    peer.read_expecting(*n, few, &mut model.outbound[*n]);
                }
            }
            // The user sends.
            10 | 11 => {
                let (dest, extra) = (input.u8(), input.u8());
                let id = match dest % 8 {
                    0 => Some(Bytes::from_static(b"A")),
                    1 => Some(Bytes::from_static(b"B")),
                    2 => Some(Bytes::from_static(b"C")),
                    3 => Some(Bytes::from_static(b"X")),
                    4 => Some(
                        slots[slot]
                            .as_ref()
                            .and_then(|(n, _)| model.ids.get(n))
                            .and_then(|id| model.bytes_of(id))
                            .unwrap_or(Bytes::from_static(b"Z")),
                    ),
                    5 => Some(Bytes::new()),
                    6 => Some(Bytes::from_static(b"Z")),
                    _ => None,
                };
                let frames = (0..extra % 3).map(|i| Bytes::from(vec![i; usize::from(i)]));
                let msg = match id {
                    Some(id) => message([id, tag(USER, serial)].into_iter().chain(frames)),
                    None => message([tag(USER, serial)]),
                };
                serial += 1;
                user_send(&mut socket, &slots, &mut model, msg);
            }
            12..=14 => user_recv(&mut socket, &mut model),
            _ => {
                let count = socket.peer_count();
                model.pump();
                model.sweep();
                let expected = model.in_engine.iter().filter(|x| **x).count();
                crate::trace!("  peer_count {count}");
                assert_eq!(count, expected, "peer_count");
            }
        }
    }
    // Everything due arrives.
    while model.ids.keys().any(|n| !model.pending[*n].is_empty()) || !model.mail.is_empty() {
        user_recv(&mut socket, &mut model);
    }
    user_recv(&mut socket, &mut model);
    for (n, peer) in slots.iter_mut().flatten() {
        peer.read_expecting(*n, None, &mut model.outbound[*n]);
    }
}

fn peer_info(b: u8) -> PeerInfo {
    let ty = [
        SocketType::Dealer,
        SocketType::Req,
        SocketType::Router,
        SocketType::Dealer,
        SocketType::Pub,
    ][usize::from(b % 5)];
    let mut info = PeerInfo::new(ty);
    info.routing_id = match (b / 5) % 6 {
        0 => Some(Bytes::from_static(b"A")),
        1 => Some(Bytes::from_static(b"B")),
        2 => Some(Bytes::from_static(b"C")),
        3 => Some(Bytes::new()),
        _ => None,
    };
    info
}

fn user_send(
    socket: &mut Socket<kind::Router>,
    slots: &[Option<(usize, Peer)>],
    model: &mut Model,
    msg: Message,
) {
    let before: Vec<(usize, usize, Room)> = slots
        .iter()
        .flatten()
        .map(|(n, p)| (*n, p.queued(), p.room()))
        .collect();
    let result = socket.try_send(msg.clone());
    model.pump();
    let target = if msg.len() < 2 {
        None
    } else {
        Some(model.lookup(&msg[0]))
    };
    let got: Vec<usize> = before
        .iter()
        .zip(slots.iter().flatten())
        .filter(|((_, q, _), (_, p))| p.queued() != *q)
        .map(|((n, q, _), (_, p))| {
            assert_eq!(p.queued(), q + 1, "peer {n} got more than one message");
            *n
        })
        .collect();
    let unreachable = || {
        if model.mandatory {
            Some(Error::HostUnreachable)
        } else {
            None
        }
    };
    let expected_err = match target {
        None => None, // no body: ignored
        Some(None) => unreachable(),
        Some(Some(n)) => {
            let room = before.iter().find(|(m, _, _)| *m == n).map(|(_, _, r)| *r);
            match room {
                None => {
                    // Detached: its pipe is closed.
                    model.dead.push(n);
                    unreachable()
                }
                Some(Room::Surely) => None,
                Some(Room::None) if model.mandatory => Some(Error::WouldBlock),
                Some(Room::None) => None,
                Some(Room::Maybe) if got.contains(&n) => None,
                Some(Room::Maybe) => model.mandatory.then_some(Error::WouldBlock),
            }
        }
    };
    match (&result, &expected_err) {
        (Ok(()), None) => {}
        (Err(e), Some(x)) if std::mem::discriminant(e.error()) == std::mem::discriminant(x) => {}
        _ => panic!(
            "ROUTER try_send to {:?}: {result:?}, expected {expected_err:?}",
            target
        ),
    }
    if let Err(e) = result {
        if matches!(e.error(), Error::WouldBlock) {
            assert_eq!(e.into_message(), msg, "the message is handed back whole");
        }
    }
    let delivered = matches!(target, Some(Some(_))) && expected_err.is_none();
    match (target, delivered) {
        (Some(Some(n)), true)
            if before.iter().any(|(m, _, r)| *m == n && *r != Room::None) && got == [n] =>
        {
            let mut body = msg;
            body.pop_front();
            model.outbound[n].push_back(body);
        }
        (Some(Some(n)), true)
            if got.is_empty() && before.iter().all(|(m, _, r)| *m != n || *r != Room::Surely) => {}
        _ => assert!(got.is_empty(), "message to {target:?} reached {got:?}"),
    }
    model.reap();
}

fn user_recv(socket: &mut Socket<kind::Router>, model: &mut Model) {
    let result = socket.try_recv();
    model.pump();
    crate::trace!(
        "  recv: ring {:?}, ids {:?}, queued {:?}",
        model.fq,
        model.ids,
        model.pending.iter().map(VecDeque::len).collect::<Vec<_>>()
    );
    // The fair queue: the first peer in turn with a message; peers without an id lose theirs.
    let expected = loop {
        let (pending, held, dead) = (&model.pending, &model.held, &mut model.dead);
        let taken = model.fq.poll_find(|n| {
            if !pending[n].is_empty() {
                Visit::Take
            } else if !held[n] {
                dead.push(n);
                Visit::Remove
            } else {
                Visit::Skip
            }
        });
        let Some(n) = taken else {
            break None;
        };
        let msg = model.pending[n].pop_front().expect("taken: not empty");
        model.fq.served(n);
        if let Some(id) = model.ids.get(&n) {
            break Some((n, id.clone(), msg));
        }
    };
    match (result, expected) {
        (Ok(mut got), Some((n, id, msg))) => {
            let got_id = got.pop_front().expect("a routing id frame");
            assert_eq!(
                untag(&got[0]).map(|(from, _)| usize::from(from)),
                Some(n),
                "fair queue: expected a message of peer {n}"
            );
            assert_eq!(got, msg, "peer {n}'s message altered or out of order");
            match id {
                Id::Given(b) => assert_eq!(got_id, b, "peer {n}'s routing id"),
                Id::Auto(k) => match &model.autos[k] {
                    Some(b) => assert_eq!(&got_id, b, "peer {n}'s automatic id changed"),
                    None => {
                        assert!(
                            got_id.len() == 5 && got_id[0] == 0,
                            "automatic id {got_id:?}"
                        );
                        assert!(
                            !model.autos.iter().flatten().any(|b| *b == got_id),
                            "automatic id {got_id:?} given twice"
                        );
                        model.autos[k] = Some(got_id.into());
                    }
                },
            }
        }
        (Err(Error::WouldBlock), None) => {}
        (got, expected) => panic!("ROUTER try_recv gave {got:?}; expected {expected:?}"),
    }
    model.reap();
}
