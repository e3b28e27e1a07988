//! A DEALER socket: the load balancer out, the fair queue in, under HWM.
//!
//! The input chooses the HWMs, then is a script of events: a peer attaches (handshake at
//! once, later, or refused as incompatible), detaches, sends a message (multipart), reads
//! what was queued for it (all, or a few: a partial read leaves the socket's view of the
//! room unknown), disconnects; the user sends and receives. Checks, against a model that
//! keeps both round robins as the socket does:
//!
//! - a sent message goes to exactly one peer, or to none with `WouldBlock`; it is the first
//!   peer in turn that has room: every peer skipped before it had no room (or might not),
//!   and `WouldBlock` only when no peer surely had room;
//! - every peer gets what was sent to it, intact and in order;
//! - a received message is the oldest one of the first peer in turn with a message queued
//!   (fair queueing: one per peer per turn), intact; `WouldBlock` only when nothing is
//!   queued; a detached peer's queued messages are still delivered, a refused peer's never;
//! - a peer's push succeeds only below the receive HWM;
//! - `peer_count` counts the live peers and the detached ones with messages left.

use std::collections::VecDeque;

use zmq_async::{kind, Error, Message, Socket, SocketOptions, SocketType};

use crate::harness::{info, message, on_socket_stack, tag, untag, Peer, Ring, Room, Visit};
use crate::input::Input;

const SLOTS: usize = 6;
const MAX_PEERS: u8 = 200;
const USER: u8 = u8::MAX;

#[derive(Debug, Default)]
struct Model {
    lb: Ring<u8>,
    fq: Ring<u8>,
    /// Per peer number: messages it sent and the user has not received.
    inbound: Vec<VecDeque<Message>>,
    /// Per peer number: messages sent to it that it has not read.
    outbound: Vec<VecDeque<Message>>,
    /// Per peer number: detached (its queued messages are still delivered).
    gone: Vec<bool>,
}

/// Runs one script (on a socket's stack, see [`on_socket_stack`]).
pub fn run(data: &[u8]) {
    on_socket_stack(|| script(data));
}

fn script(data: &[u8]) {
    let mut input = Input::new(data);
    let mut options = SocketOptions::default();
    options.sndhwm = usize::from(input.u8() % 5);
    options.rcvhwm = usize::from(input.u8() % 5);
    let rcvhwm = options.rcvhwm;
    let Ok(mut socket) = Socket::<kind::Dealer>::with_options(options) else {
        return;
    };
    let handle = socket.handle();
    let mut slots: [Option<(u8, Peer)>; SLOTS] = Default::default();
    let mut model = Model::default();
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
                if slots[slot].is_some() || model.inbound.len() >= usize::from(MAX_PEERS) {
                    continue;
                }
                let n = model.inbound.len() as u8;
                model.inbound.push(VecDeque::new());
                model.outbound.push(VecDeque::new());
                model.gone.push(false);
                let now = (op & 1 == 0).then(|| info(peer_type(input.u8()), None));
                let refused = now.as_ref().is_some_and(|i| !compatible(i.socket_type));
                let peer = Peer::attach(&handle, now, None);
                if refused {
                    // Attached and refused in one mailbox batch: never in the rings.
                    model.gone[usize::from(n)] = true;
                    drop(peer);
                    continue;
                }
                model.lb.join(n);
                model.fq.join(n);
                slots[slot] = Some((n, peer));
            }
            // Handshake of an attached peer (again after a disconnect): maybe refused.
            2 => {
                let ty = peer_type(input.u8());
                let Some((n, peer)) = &slots[slot] else {
                    continue;
                };
                let n = *n;
                peer.handshake(info(ty, None));
                if !compatible(ty) {
                    // Refused: removed at once, its queued messages discarded.
                    slots[slot] = None;
                    model.lb.leave(n);
                    model.fq.leave(n);
                    model.inbound[usize::from(n)].clear();
                    model.outbound[usize::from(n)].clear();
                    model.gone[usize::from(n)] = true;
                }
            }
            3 => {
                if let Some((_, peer)) = &mut slots[slot] {
                    peer.disconnected();
                }
            }
            // Detach.
            4 => {
                if let Some((n, _)) = slots[slot].take() {
                    model.lb.leave(n);
                    model.gone[usize::from(n)] = true;
                    model.outbound[usize::from(n)].clear();
                    if model.inbound[usize::from(n)].is_empty() {
                        model.fq.leave(n);
                    }
                }
            }
            // The peer sends.
            5 | 6 => {
                let extra = input.u8();
                let Some((n, peer)) = &mut slots[slot] else {
                    continue;
                };
                let msg = tagged(*n, serial, extra);
                serial += 1;
                let queued = &mut model.inbound[usize::from(*n)];
                if peer.send(msg.clone()) {
                    queued.push_back(msg);
                    assert!(
                        rcvhwm == 0 || queued.len() <= rcvhwm,
                        "peer {n}: {} messages queued past the receive HWM {rcvhwm}",
                        queued.len()
                    );
                }
            }
            // The peer reads everything, or a few.
            7 | 8 => {
                let few = (op & 0x0f == 8).then(|| usize::from(input.u8() % 3) + 1);
                if let Some((n, peer)) = &mut slots[slot] {
                    peer.read_expecting(*n, few, &mut model.outbound[usize::from(*n)]);
                }
            }
            // The user sends.
            9 | 10 => {
                let msg = tagged(USER, serial, input.u8());
                serial += 1;
                user_send(&mut socket, &slots, &mut model, msg);
            }
            // The user receives.
            11..=13 => user_recv(&mut socket, &mut model),
            14 => {
                let live = slots.iter().flatten().count();
                let draining = model
                    .gone
                    .iter()
                    .zip(&model.inbound)
                    .filter(|(gone, q)| **gone && !q.is_empty())
                    .count();
                assert_eq!(socket.peer_count(), live + draining, "peer_count");
            }
            _ => {}
        }
    }
    // Everything queued arrives.
    while model.inbound.iter().any(|q| !q.is_empty()) {
        user_recv(&mut socket, &mut model);
    }
    user_recv(&mut socket, &mut model);
    for (n, peer) in slots.iter_mut().flatten() {
        peer.read_expecting(*n, None, &mut model.outbound[usize::from(*n)]);
    }
}

fn peer_type(b: u8) -> SocketType {
    [
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Pub,
    ][usize::from(b % 5)]
}

fn compatible(ty: SocketType) -> bool {
    SocketType::Dealer.is_compatible(ty)
}

/// `[tag, extra frames…]`: `extra % 4` more frames, the first of them empty.
fn tagged(from: u8, serial: u32, extra: u8) -> Message {
    let frames = (0..extra % 4).map(|i| bytes::Bytes::from(vec![i; usize::from(i)]));
    message(std::iter::once(tag(from, serial)).chain(frames))
}

fn user_send(
    socket: &mut Socket<kind::Dealer>,
    slots: &[Option<(u8, Peer)>],
    model: &mut Model,
    msg: Message,
) {
    let before: Vec<(u8, usize, Room)> = slots
        .iter()
        .flatten()
        .map(|(n, p)| (*n, p.queued(), p.room()))
        .collect();
    let result = socket.try_send(msg.clone());
    let after: Vec<usize> = slots.iter().flatten().map(|(_, p)| p.queued()).collect();
    let got: Vec<u8> = before
        .iter()
        .zip(&after)
        .filter(|((_, b, _), a)| **a != *b)
        .map(|((n, b, _), a)| {
            assert_eq!(*a, b + 1, "peer {n} got more than one message");
            *n
        })
        .collect();
    let room = |n: u8| before.iter().find(|(m, _, _)| *m == n).map(|(_, _, r)| *r);
    match result {
        Ok(()) => {
            assert_eq!(got.len(), 1, "a sent message reached {got:?}");
            let to = got[0];
            let found = model.lb.find(|m| {
                if m == to {
                    return Visit::Take;
                }
                assert_ne!(
                    room(m),
                    Some(Room::Surely),
                    "load balancer skipped peer {m}, which had room, for {to}"
                );
                Visit::Skip
            });
            assert_eq!(found, Some(to), "peer {to} is not in the load balancer");
            assert_ne!(
                room(to),
                Some(Room::None),
                "peer {to} took a message past its HWM"
            );
            model.lb.served(to);
            model.outbound[usize::from(to)].push_back(msg);
        }
        Err(e) => {
            assert!(matches!(e.error(), Error::WouldBlock), "try_send: {e}");
            assert!(got.is_empty(), "a refused message reached {got:?}");
            assert_eq!(e.into_message(), msg, "the refused message is handed back");
            model.lb.poll_find(|m| {
                assert_ne!(
                    room(m),
                    Some(Room::Surely),
                    "WouldBlock while peer {m} had room"
                );
                Visit::Skip
            });
        }
    }
}

fn user_recv(socket: &mut Socket<kind::Dealer>, model: &mut Model) {
    // The first peer in turn with something queued; detached peers with nothing left leave.
    let (inbound, gone) = (&model.inbound, &model.gone);
    let expected = model.fq.poll_find(|n| {
        if !inbound[usize::from(n)].is_empty() {
            Visit::Take
        } else if gone[usize::from(n)] {
            Visit::Remove
        } else {
            Visit::Skip
        }
    });
    match (socket.try_recv(), expected) {
        (Ok(msg), Some(n)) => {
            let from = untag(&msg[0]).map(|(from, _)| from);
            assert_eq!(from, Some(n), "fair queue: expected a message of peer {n}");
            let queued = &mut model.inbound[usize::from(n)];
            assert_eq!(
                Some(msg),
                queued.pop_front(),
                "peer {n}'s messages out of order or altered"
            );
            model.fq.served(n);
            if queued.is_empty() && model.gone[usize::from(n)] {
                model.fq.leave(n);
            }
        }
        (Err(Error::WouldBlock), None) => {}
        (got, expected) => panic!("try_recv gave {got:?}; expected a message of {expected:?}"),
    }
}
