//! libzmq's `test_spec_req`, `test_spec_rep`, `test_spec_dealer`, `test_spec_router` and
//! `test_spec_pushpull` behaviours for *our* socket over tcp and ipc, its peers ours or
//! libzmq: `spec::<behaviour>::<peers_ours|peers_libzmq>::<tcp|ipc>`.
//!
//! Written from the RFC 28/30 "SHALL"s those tests check, not copied. Where libzmq's tests
//! sleep to let connections settle, these connect peers one at a time and wait until our
//! socket has attached each one (`peer_count`, which counts completed handshakes on a bound
//! socket), so round-robin order is the connect order. The inproc forms of these behaviours
//! (fair-queue order with everything queued, blocking with no peers, queue destruction on
//! disconnect) are in zmq-async/tests and are not repeated here.

use std::collections::BTreeSet;

use crate::side::{frames, Bound, Impl, Kind, Setup, Side, Transport};

/// Waits until our bound socket has attached `n` peers (condition wait; hang guard bounds it).
async fn wait_peers(ours: &mut Side, n: usize) {
    let Side::Ours(o) = ours else {
        unreachable!("the subject is ours")
    };
    while o.peer_count() < n {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Our `subject` bound, and `n` peers of `kind` (run by `peers`) connected one by one.
async fn star(
    subject: Kind,
    subject_setup: &Setup,
    kind: Kind,
    n: usize,
    setup: impl Fn(usize) -> Setup,
    peers: Impl,
    t: Transport,
) -> (Side, Vec<Side>, Bound) {
    let mut ours = Side::new(Impl::Ours, subject, subject_setup);
    let bound = ours.bind(t).await;
    let mut others = Vec::new();
    for i in 0..n {
        let mut p = Side::new(peers, kind, &setup(i));
        p.connect(&bound.endpoint).await;
        wait_peers(&mut ours, i + 1).await;
        others.push(p);
    }
    (ours, others, bound)
}

/// REQ: SHALL route outgoing messages to connected peers using a round-robin strategy.
pub async fn req_round_robin_out(peers: Impl, t: Transport) {
    let (mut req, mut reps, _b) = star(
        Kind::Req,
        &Setup::default(),
        Kind::Rep,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for rep in &mut reps {
        tokio::join!(
            async {
                req.send(frames(&["ABC"])).await;
                assert_eq!(req.recv().await, frames(&["DEF"]));
            },
            async {
                assert_eq!(rep.recv().await, frames(&["ABC"]));
                rep.send(frames(&["DEF"])).await;
            }
        );
    }
}

/// REQ: SHALL accept a reply only from the last peer it sent a request to, and discard
/// silently messages from other peers. Stale replies come from peers the REQ used before
/// (a reply from a *later* peer could arrive after the REQ moved on to it, which libzmq's
/// test avoids with a sleep).
pub async fn req_only_listens_to_current_peer(peers: Impl, t: Transport) {
    let id = Setup {
        routing_id: Some(b"A"),
        ..Setup::default()
    };
    let (mut req, mut routers, _b) = star(
        Kind::Req,
        &id,
        Kind::Router,
        3,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for i in 0..routers.len() {
        req.send(frames(&["ABC"])).await;
        assert_eq!(routers[i].recv().await, frames(&["A", "", "ABC"]));
        for r in routers.iter_mut().take(i) {
            r.send(frames(&["A", "", "WRONG"])).await;
        }
        routers[i].send(frames(&["A", "", "GOOD"])).await;
        assert_eq!(req.recv().await, frames(&["GOOD"]));
    }
}

/// REQ: the delimiter on the wire, a multipart request, a single-part reply.
pub async fn req_message_format(peers: Impl, t: Transport) {
    let (mut req, mut routers, _b) = star(
        Kind::Req,
        &Setup::default(),
        Kind::Router,
        1,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    let router = &mut routers[0];
    req.send(frames(&["ABC", "DEF"])).await;
    let m = router.recv().await;
    assert!(!m[0].is_empty(), "peer routing id");
    assert_eq!(&m[1..], &frames(&["", "ABC", "DEF"])[..]);
    router
        .send(vec![m[0].clone(), Vec::new(), b"GHI".to_vec()])
        .await;
    assert_eq!(req.recv().await, frames(&["GHI"]));
}

/// REP: SHALL deliver each reply to the peer the request came from (five REQs at once).
pub async fn rep_replies_to_originating_peer(peers: Impl, t: Transport) {
    let (mut rep, mut reqs, _b) = star(
        Kind::Rep,
        &Setup::default(),
        Kind::Req,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for (i, r) in reqs.iter_mut().enumerate() {
        r.send(frames(&[format!("{}", (b'A' + i as u8) as char)]))
            .await;
    }
    for _ in 0..reqs.len() {
        let m = rep.recv().await;
        rep.send(m).await;
    }
    for (i, r) in reqs.iter_mut().enumerate() {
        assert_eq!(
            r.recv().await,
            frames(&[format!("{}", (b'A' + i as u8) as char)])
        );
    }
}

/// REP: SHALL remove and store the envelope, pass the data on, and prepend the envelope to
/// the reply (minimal and "big" envelopes from a DEALER).
pub async fn rep_envelope(peers: Impl, t: Transport) {
    let (mut rep, mut dealers, _b) = star(
        Kind::Rep,
        &Setup::default(),
        Kind::Dealer,
        1,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    let dealer = &mut dealers[0];
    for envelope in [frames(&[""]), frames(&["X", "Y", ""])] {
        let mut m = envelope.clone();
        m.push(b"A".to_vec());
        dealer.send(m.clone()).await;
        assert_eq!(rep.recv().await, frames(&["A"]));
        rep.send(frames(&["A"])).await;
        assert_eq!(dealer.recv().await, m);
    }
}

/// DEALER: SHALL route outgoing messages to available peers using a round-robin strategy.
pub async fn dealer_round_robin_out(peers: Impl, t: Transport) {
    let (mut dealer, mut reps, _b) = star(
        Kind::Dealer,
        &Setup::default(),
        Kind::Rep,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for _ in 0..reps.len() {
        dealer.send(frames(&["", "ABC"])).await;
    }
    // Each REP gets exactly one: a second one would have left another REP without.
    for rep in &mut reps {
        assert_eq!(rep.recv().await, frames(&["ABC"]));
    }
}

/// DEALER: SHALL receive incoming messages from its peers using a fair-queuing strategy.
pub async fn dealer_fair_queue_in(peers: Impl, t: Transport) {
    let (mut receiver, mut senders, _b) = star(
        Kind::Dealer,
        &Setup::default(),
        Kind::Dealer,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for _ in 0..2 {
        senders[0].send(frames(&["A"])).await;
        assert_eq!(receiver.recv().await, frames(&["A"]));
    }
    for s in &mut senders {
        s.send(frames(&["B"])).await;
    }
    for _ in 0..senders.len() {
        assert_eq!(receiver.recv().await, frames(&["B"]));
    }
}

/// ROUTER: fair-queues incoming messages, each prefixed by its sender's routing id.
pub async fn router_fair_queue_in(peers: Impl, t: Transport) {
    const IDS: [&[u8]; 5] = [b"A", b"B", b"C", b"D", b"E"];
    let (mut receiver, mut senders, _b) = star(
        Kind::Router,
        &Setup::default(),
        Kind::Dealer,
        5,
        |i| Setup {
            routing_id: Some(IDS[i]),
            ..Setup::default()
        },
        peers,
        t,
    )
    .await;
    for _ in 0..2 {
        senders[0].send(frames(&["M"])).await;
        assert_eq!(receiver.recv().await, frames(&["A", "M"]));
    }
    for s in &mut senders {
        s.send(frames(&["M"])).await;
    }
    let mut seen = BTreeSet::new();
    for _ in 0..senders.len() {
        let m = receiver.recv().await;
        assert_eq!(m[1], b"M");
        seen.insert(m[0].clone());
    }
    assert_eq!(seen, IDS.iter().map(|i| i.to_vec()).collect());
}

/// PUSH: SHALL route outgoing messages to connected peers using a round-robin strategy.
pub async fn push_round_robin_out(peers: Impl, t: Transport) {
    let (mut push, mut pulls, _b) = star(
        Kind::Push,
        &Setup::default(),
        Kind::Pull,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for body in ["ABC", "DEF"] {
        for _ in 0..pulls.len() {
            push.send(frames(&[body])).await;
        }
    }
    for pull in &mut pulls {
        assert_eq!(pull.recv().await, frames(&["ABC"]));
        assert_eq!(pull.recv().await, frames(&["DEF"]));
    }
}

/// PULL: receives from every peer, each peer's messages in order. (Strict one-per-peer
/// alternation needs every message queued before the first read, which only inproc can
/// arrange deterministically: zmq-async/tests/pipeline.rs.)
pub async fn pull_receives_from_every_peer(peers: Impl, t: Transport) {
    let (mut pull, mut pushes, _b) = star(
        Kind::Pull,
        &Setup::default(),
        Kind::Push,
        5,
        |_| Setup::default(),
        peers,
        t,
    )
    .await;
    for (i, p) in pushes.iter_mut().enumerate() {
        p.send(frames(&[format!("{i} first")])).await;
        p.send(frames(&[format!("{i} second")])).await;
    }
    let mut firsts = BTreeSet::new();
    for _ in 0..2 * pushes.len() {
        let m = String::from_utf8(pull.recv().await.remove(0)).unwrap();
        let (peer, which) = m.split_once(' ').unwrap();
        if which == "first" {
            assert!(firsts.insert(peer.to_owned()), "duplicate {m}");
        } else {
            assert!(firsts.contains(peer), "{m} before its first");
        }
    }
    assert_eq!(firsts.len(), pushes.len());
}

/// `<behaviour>::<peers_ours|peers_libzmq>::<tcp|ipc>`.
macro_rules! spec {
    ($($name:ident;)*) => {$(
        pub mod $name {
            spec!(@peers $name, peers_ours, Ours);
            spec!(@peers $name, peers_libzmq, Libzmq);
        }
    )*};
    (@peers $name:ident, $mod:ident, $imp:ident) => {
        pub mod $mod {
            use crate::side::{Impl, Transport};
            #[test]
            fn tcp() {
                crate::block_on(crate::spec::$name(Impl::$imp, Transport::Tcp));
            }
            #[test]
            fn ipc() {
                crate::block_on(crate::spec::$name(Impl::$imp, Transport::Ipc));
            }
        }
    };
}

spec! {
    req_round_robin_out;
    req_only_listens_to_current_peer;
    req_message_format;
    rep_replies_to_originating_peer;
    rep_envelope;
    dealer_round_robin_out;
    dealer_fair_queue_in;
    router_fair_queue_in;
    push_round_robin_out;
    pull_receives_from_every_peer;
}
