//! A SUB or XSUB socket with PUB/XPUB peers: subscriptions upstream, filtering downstream.
//!
//! The input chooses SUB or XSUB and the HWMs, then is a script of events: a peer attaches
//! (handshake at once or later; maybe refused as incompatible), detaches, loses its
//! connection and handshakes again, sends messages (a topic frame and a tag), reads what
//! the socket sent it (all, or a few); the user subscribes and cancels (SUB: `subscribe`,
//! XSUB: sending `0x01`/`0x00` + topic), sends upstream messages (XSUB) and receives.
//! Checks, against a model of the counted subscriptions and the fair queue:
//!
//! - a peer that has read everything the socket sent it and whose attach or reconnect the
//!   socket has seen holds exactly the subscribed topics (reading its subscribe and cancel
//!   messages in order): a new peer gets every subscription, a reconnected one gets them
//!   again, a cancel goes upstream only when it removed the last reference. A reconnect
//!   is a new connection (the peer's holdings start empty) and, as libzmq's fresh pipe,
//!   hands it no subscription queued for the old one: `PeerPipes::disconnected`, which
//!   the tcp transport calls, drops them, those the reader already took included;
//! - upstream messages (XSUB) reach a peer in order, each at most once, across reconnects;
//! - a received message is the oldest one of the first peer in turn with a message queued
//!   and matches a subscription at the time it is received; those that match none are
//!   dropped; `WouldBlock` only when nothing is due; a refused peer's messages never come.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use zmq_async::{kind, Error, Message, Socket, SocketOptions, SocketType};

use crate::harness::{info, message, on_socket_stack, tag, untag, Peer, Ring, Visit};
use crate::input::Input;

const SLOTS: usize = 6;
const MAX_PEERS: usize = 200;
const USER: u8 = u8::MAX;

#[derive(Debug, Default)]
struct Model {
    fq: Ring<usize>,
    /// Topic → references (SUB subscriptions are counted).
    subs: HashMap<Vec<u8>, usize>,
    /// Per peer: messages it sent that the user has not received.
    inbound: Vec<VecDeque<Message>>,
    /// Per peer: detached or refused (messages left are still read / were discarded).
    gone: Vec<bool>,
    /// Per peer: the socket has not yet seen its attach or latest handshake.
    unseen: Vec<bool>,
    /// Per peer: topics it holds, from the subscribe/cancel messages it read.
    holds: Vec<HashMap<Vec<u8>, bool>>,
    /// Per peer: upstream messages the user sent since it was attached, in order.
    upstream: Vec<VecDeque<Message>>,
}

enum Sub {
    Sub(Socket<kind::Sub>),
    XSub(Socket<kind::XSub>),
}

impl Sub {
    fn try_recv(&mut self) -> zmq_async::Result<Message> {
        match self {
            Sub::Sub(s) => s.try_recv(),
            Sub::XSub(s) => s.try_recv(),
        }
    }
}

/// Runs one script (on a socket's stack, see [`on_socket_stack`]).
pub fn run(data: &[u8]) {
    on_socket_stack(|| script(data));
}

fn script(data: &[u8]) {
    let mut input = Input::new(data);
    let xsub = input.bool();
    let mut options = SocketOptions::default();
    options.sndhwm = usize::from(input.u8() % 5);
    options.rcvhwm = usize::from(input.u8() % 5);
    let rcvhwm = options.rcvhwm;
    let mut socket = if xsub {
        Sub::XSub(Socket::with_options(options).expect("valid options"))
    } else {
        Sub::Sub(Socket::with_options(options).expect("valid options"))
    };
    let handle = match &socket {
        Sub::Sub(s) => s.handle(),
        Sub::XSub(s) => s.handle(),
    };
    let mut slots: [Option<(usize, Peer)>; SLOTS] = Default::default();
    let mut model = Model::default();
    let mut serial = 0u32;
    while !input.is_empty() {
        let op = input.u8();
        let slot = usize::from(op >> 4) % SLOTS;
        crate::trace!("op {:x} slot {slot}", op & 0x0f);
        match op & 0x0f {
            // Attach, with the handshake now or later.
            0 | 1 => {
                let ty = peer_type(input.u8());
                if slots[slot].is_some() || model.inbound.len() >= MAX_PEERS {
                    continue;
                }
                let n = model.inbound.len();
                model.inbound.push(VecDeque::new());
                model.gone.push(false);
                model.unseen.push(true);
                model.holds.push(HashMap::new());
                model.upstream.push(VecDeque::new());
                let now = (op & 1 == 0).then(|| info(ty, None));
                let peer = Peer::attach(&handle, now, None);
                if op & 1 == 0 && !compatible(ty) {
                    model.gone[n] = true; // refused in the same mailbox batch
                    continue;
                }
                model.fq.join(n);
                slots[slot] = Some((n, peer));
            }
            // A handshake (after a disconnect, or at all): maybe refused.
            2 | 3 => {
                let ty = peer_type(input.u8());
                let Some((n, peer)) = &mut slots[slot] else {
                    continue;
                };
                let n = *n;
                if op & 0x0f == 3 {
                    // A new connection: the publisher on it holds nothing yet.
                    peer.disconnected();
                    model.holds[n].clear();
                }
                peer.handshake(info(ty, None));
                model.unseen[n] = true;
                if !compatible(ty) {
                    slots[slot] = None;
                    model.fq.leave(n);
                    model.inbound[n].clear();
                    model.gone[n] = true;
                }
            }
            4 => {
                if let Some((n, _)) = slots[slot].take() {
                    model.gone[n] = true;
                    if model.inbound[n].is_empty() {
                        model.fq.leave(n);
                    }
                }
            }
            // The peer publishes.
            5 | 6 => {
                let topic = input.topic();
                if let Some((n, peer)) = &mut slots[slot] {
                    let msg = message([Bytes::from(topic), tag(*n as u8, serial)]);
                    serial += 1;
                    if peer.send(msg.clone()) {
                        let queued = &mut model.inbound[*n];
                        queued.push_back(msg);
                        assert!(
                            rcvhwm == 0 || queued.len() <= rcvhwm,
                            "peer {n}: past the receive HWM"
                        );
                    }
                }
            }
            // The peer reads everything, or a few.
            7 | 8 => {
                let few = (op & 0x0f == 8).then(|| usize::from(input.u8() % 3) + 1);
                if let Some((n, peer)) = &mut slots[slot] {
                    let n = *n;
                    let (got, _) = peer.read(few);
                    for m in got {
                        match m[0].first() {
                            Some(&op @ (0 | 1)) if m.len() == 1 => {
                                model.holds[n].insert(m[0][1..].to_vec(), op == 1);
                            }
                            _ => {
                                // Upstream: the next one due, or a later one (an earlier one
                                // was dropped at the HWM).
                                let due = &mut model.upstream[n];
                                let at = due.iter().position(|d| *d == m);
                                assert!(
                                    at.is_some(),
                                    "peer {n} got an upstream message out of order or twice"
                                );
                                due.drain(..=at.unwrap_or(0));
                            }
                        }
                    }
                    if few.is_none() && !model.unseen[n] {
                        let mut held: Vec<&Vec<u8>> = model.holds[n]
                            .iter()
                            .filter(|(_, on)| **on)
                            .map(|(t, _)| t)
                            .collect();
                        let mut subscribed: Vec<&Vec<u8>> = model.subs.keys().collect();
                        held.sort();
                        subscribed.sort();
                        assert!(
                            held == subscribed,
                            "peer {n} holds {} topics, the socket has {}",
                            held.len(),
                            subscribed.len()
                        );
                    }
                }
            }
            // Subscribe or cancel.
            9..=11 => {
                let on = op & 0x0f != 11;
                let topic = input.topic();
                settle(&mut model);
                match &mut socket {
                    Sub::Sub(s) => {
                        let r = if on {
                            s.subscribe(&topic)
                        } else {
                            s.unsubscribe(&topic)
                        };
                        assert!(r.is_ok(), "SUB subscribe: {r:?}");
                    }
                    Sub::XSub(s) => {
                        let mut body = vec![u8::from(on)];
                        body.extend_from_slice(&topic);
                        assert!(s.try_send(Message::from(body)).is_ok(), "XSUB never blocks");
                    }
                }
                let count = model.subs.entry(topic.clone()).or_default();
                if on {
                    *count += 1;
                } else {
                    *count = count.saturating_sub(1);
                }
                if *count == 0 {
                    model.subs.remove(&topic);
                }
            }
            // XSUB: an upstream message.
            12 => {
                let extra = input.u8() % 3;
                if let Sub::XSub(s) = &mut socket {
                    settle(&mut model);
                    let frames = (0..extra).map(|i| Bytes::from(vec![i; usize::from(i)]));
                    let msg = message(std::iter::once(tag(USER, serial)).chain(frames));
                    serial += 1;
                    assert!(s.try_send(msg.clone()).is_ok(), "XSUB never blocks");
                    for (n, _) in slots.iter().flatten() {
                        model.upstream[*n].push_back(msg.clone());
                    }
                }
            }
            _ => recv(&mut socket, &mut model),
        }
    }
    while model.inbound.iter().any(|q| !q.is_empty()) {
        recv(&mut socket, &mut model);
    }
    recv(&mut socket, &mut model);
}

/// Any socket call applies the mailbox: attaches and handshakes are seen.
fn settle(model: &mut Model) {
    model.unseen.iter_mut().for_each(|u| *u = false);
}

fn peer_type(b: u8) -> SocketType {
    [
        SocketType::Pub,
        SocketType::XPub,
        SocketType::Pub,
        SocketType::Pull,
    ][usize::from(b % 4)]
}

fn compatible(ty: SocketType) -> bool {
    SocketType::Sub.is_compatible(ty)
}

fn recv(socket: &mut Sub, model: &mut Model) {
    settle(model);
    let result = socket.try_recv();
    let expected = loop {
        let (inbound, gone) = (&model.inbound, &model.gone);
        let taken = model.fq.poll_find(|n| {
            if !inbound[n].is_empty() {
                Visit::Take
            } else if gone[n] {
                Visit::Remove
            } else {
                Visit::Skip
            }
        });
        let Some(n) = taken else {
            break None;
        };
        model.fq.served(n);
        let msg = model.inbound[n].pop_front().expect("taken: not empty");
        if model.subs.keys().any(|t| msg[0].starts_with(t)) {
            break Some((n, msg));
        }
    };
    match (result, expected) {
        (Ok(got), Some((n, msg))) => {
            let from = untag(&got[1]).map(|(from, _)| usize::from(from));
            assert_eq!(from, Some(n), "fair queue: expected a message of peer {n}");
            assert_eq!(got, msg, "peer {n}'s message altered or out of order");
        }
        (Err(Error::WouldBlock), None) => {}
        (got, expected) => panic!("try_recv gave {got:?}; expected {expected:?}"),
    }
}
