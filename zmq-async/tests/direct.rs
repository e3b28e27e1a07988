//! Messages written straight from the sending task while a tcp/ipc connection is idle (the
//! pipe's bypass), and read straight by the receiving task (the inlet): ping-pong goes
//! that way, and bursts mixed with idle moments, large messages the kernel takes in parts,
//! keep their order and their bytes.
#![allow(clippy::unwrap_used)]

mod common;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use zmq_async::{
    DealerSocket, Message, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, SocketStats,
};
#[cfg(feature = "curve")]
use zmtp_codec::CurveKeyPair;

/// Runs `case` on tcp and on a fresh ipc path, in turn, within the tests' time limit.
async fn on_each_wire<F: Future<Output = ()>>(tag: &str, case: impl Fn(String) -> F) {
    let [_, tcp, ipc] = endpoints(tag);
    within(async {
        for endpoint in [tcp, ipc] {
            case(endpoint).await;
        }
    })
    .await;
}

const ROUNDS: u64 = 200;

/// `ROUNDS` REQ/REP round trips, the REP bound at `endpoint` with `rep_options`: the REQ's
/// and the REP's counters.
async fn round_trips(
    endpoint: &str,
    rep_options: SocketOptions,
    req_options: SocketOptions,
) -> (SocketStats, SocketStats) {
    let mut rep = RepSocket::with_options(rep_options).unwrap();
    let endpoint = rep.bind(endpoint).await.unwrap();
    let mut req = ReqSocket::with_options(req_options).unwrap();
    req.connect(&endpoint).await.unwrap();
    for i in 0..ROUNDS {
        req.send(msg(&["ping", &i.to_string()])).await.unwrap();
        assert_eq!(strs(&rep.recv().await.unwrap()), ["ping", &i.to_string()]);
        rep.send(msg(&["pong", &i.to_string()])).await.unwrap();
        assert_eq!(strs(&req.recv().await.unwrap()), ["pong", &i.to_string()]);
    }
    (req.stats(), rep.stats())
}

async fn ping_pong(endpoint: &str, one_thread: bool) {
    let (req, rep) =
        round_trips(endpoint, SocketOptions::default(), SocketOptions::default()).await;
    assert_eq!((req.messages_out, rep.messages_out), (ROUNDS, ROUNDS));
    // Each side is idle when it sends; a send that meets its connection's task busy (the
    // other runtime thread, holding the outlet's lock) is queued instead: few (here 199 or
    // 200 of 200 went straight on one thread, 181 to 200 on two), and a quarter is a bound
    // a loaded machine keeps.
    assert!(req.messages_direct >= ROUNDS / 4, "{endpoint}: {req:?}");
    assert!(rep.messages_direct >= ROUNDS / 4, "{endpoint}: {rep:?}");
    // And on a current-thread runtime each side reads its peer's message itself (the
    // inlet; 200 of 200 each way here); on a multi-thread runtime the inlet is not used.
    // (There a connection's task counts a message just after the socket can take it.)
    if one_thread {
        assert_eq!((req.messages_in, rep.messages_in), (ROUNDS, ROUNDS));
        assert!(req.messages_in_direct >= ROUNDS / 4, "{endpoint}: {req:?}");
        assert!(rep.messages_in_direct >= ROUNDS / 4, "{endpoint}: {rep:?}");
    } else {
        assert_eq!((req.messages_in_direct, rep.messages_in_direct), (0, 0));
    }
}

#[tokio::test]
async fn ping_pong_goes_straight_from_the_sending_task() {
    on_each_wire("direct-ct", |e| async move { ping_pong(&e, true).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_goes_straight_from_the_sending_task_on_a_multi_thread_runtime() {
    on_each_wire("direct-mt", |e| async move { ping_pong(&e, false).await }).await;
}

/// A PUSH that never hears back sends one message at a time, each once the PULL has the
/// one before: each message skips a connection's task on one side or the other (the send
/// side's bypass is re-armed only when its connection's task takes a queued message; on a
/// current-thread runtime the PULL's task reads a message itself when it is woken by the
/// stream first).
async fn one_way(endpoint: &str) {
    let mut pull = PullSocket::new();
    let endpoint = pull.bind(endpoint).await.unwrap();
    let mut push = PushSocket::new();
    push.connect(&endpoint).await.unwrap();
    for i in 0..ROUNDS {
        push.send(msg(&["one way", &i.to_string()])).await.unwrap();
        assert_eq!(
            strs(&pull.recv().await.unwrap()),
            ["one way", &i.to_string()]
        );
    }
    let (sent, received) = (push.stats(), pull.stats());
    assert_eq!(sent.messages_out, ROUNDS);
    // On one thread the PULL's task, woken by the stream, reads each message before the
    // PUSH's connection task looks again and re-arms the bypass (199 of 200 read by the
    // PULL's task, 1 sent straight); on two, without the inlet, 90 to 200 sent straight.
    assert!(
        sent.messages_direct + received.messages_in_direct >= ROUNDS / 4,
        "{endpoint}: {sent:?} {received:?}"
    );
}

#[tokio::test]
async fn a_one_way_message_skips_a_connection_task_on_one_side() {
    on_each_wire("direct-one-way-ct", |e| async move { one_way(&e).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_message_skips_a_connection_task_on_one_side_on_a_multi_thread_runtime() {
    on_each_wire("direct-one-way-mt", |e| async move { one_way(&e).await }).await;
}

/// Message `seq`: its number, and a body of `len` bytes of `seq as u8`.
fn numbered(seq: u32, len: usize) -> Message {
    [
        Bytes::copy_from_slice(&seq.to_be_bytes()),
        Bytes::from(vec![seq as u8; len]),
    ]
    .into_iter()
    .collect()
}

fn check(m: &Message, seq: u32, len: usize) {
    assert_eq!(m.len(), 2, "message {seq}");
    assert_eq!(&m[0][..], &seq.to_be_bytes(), "out of order");
    assert_eq!(m[1].len(), len, "message {seq}");
    assert!(
        m[1].iter().all(|&b| b == seq as u8),
        "message {seq} altered"
    );
}

/// The size of message `seq`: mostly small, some past a socket buffer (written in parts).
fn size_of(seq: u32) -> usize {
    match seq % 13 {
        0 => 1 << 20,
        5 => 70_000,
        _ => (seq as usize * 7) % 300,
    }
}

/// A DEALER sends bursts of 1 to 17 messages, each burst after the ROUTER echoed the last
/// (so each begins on an idle connection): the ROUTER sees every message once, in order,
/// intact, and so does the DEALER's echo. On one thread (`one_thread`) a burst is sent
/// without a pause, so all but its first message are queued: both ways are mixed.
async fn bursts(endpoint: &str, one_thread: bool) {
    let mut router = RouterSocket::new();
    let endpoint = router.bind(endpoint).await.unwrap();
    let mut dealer = DealerSocket::new();
    dealer.connect(&endpoint).await.unwrap();
    let echo = tokio::spawn(async move {
        let mut seq = 0u32;
        loop {
            let mut m = router.recv().await.unwrap();
            let id = m.pop_front().unwrap();
            if m.len() == 1 {
                return router;
            }
            check(&m, seq, size_of(seq));
            seq += 1;
            m.push_front(id);
            router.send(m).await.unwrap();
        }
    });
    let (mut seq, mut burst) = (0u32, 0u32);
    while seq < 600 {
        burst = (burst * 5 + 3) % 17 + 1;
        let first = seq;
        for _ in 0..burst {
            dealer.send(numbered(seq, size_of(seq))).await.unwrap();
            seq += 1;
        }
        for expected in first..seq {
            check(&dealer.recv().await.unwrap(), expected, size_of(expected));
        }
    }
    dealer.send(msg(&["done"])).await.unwrap();
    let router = echo.await.unwrap();
    let (sent, echoed) = (dealer.stats(), router.stats());
    assert_eq!(sent.messages_out, u64::from(seq) + 1);
    assert!(sent.messages_direct > 0, "{endpoint}: {sent:?}");
    if one_thread {
        assert!(
            sent.messages_direct < sent.messages_out / 2,
            "bursts are queued: {sent:?}"
        );
    }
    assert!(echoed.messages_direct > 0, "{endpoint}: {echoed:?}");
}

#[tokio::test]
async fn bursts_between_idle_moments_keep_order_and_bytes() {
    on_each_wire(
        "direct-bursts-ct",
        |e| async move { bursts(&e, true).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_between_idle_moments_keep_order_and_bytes_on_two_threads() {
    on_each_wire(
        "direct-bursts-mt",
        |e| async move { bursts(&e, false).await },
    )
    .await;
}

/// A message larger than the socket buffers goes out in part from the sending task; the
/// session writes the rest. A message sent meanwhile, with the session run and its pipe
/// empty again, must wait for that rest, not cut into it.
async fn after_a_partial_write(endpoint: &str) {
    const BIG: usize = 8 << 20;
    let mut router = RouterSocket::new();
    let endpoint = router.bind(endpoint).await.unwrap();
    let mut dealer = DealerSocket::new();
    dealer.connect(&endpoint).await.unwrap();
    // An idle connection first: a round trip.
    dealer.send(numbered(0, 1)).await.unwrap();
    let mut m = router.recv().await.unwrap();
    let id = m.pop_front().unwrap();
    check(&m, 0, 1);
    let mut reply = msg(&["ok"]);
    reply.push_front(id);
    router.send(reply).await.unwrap();
    dealer.recv().await.unwrap();
    let (go, start) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        start.await.unwrap();
        for (seq, len) in [(1, BIG), (2, 5)] {
            let mut m = router.recv().await.unwrap();
            m.pop_front().unwrap();
            check(&m, seq, len);
        }
    });
    dealer.send(numbered(1, BIG)).await.unwrap();
    // The connection's task runs (it writes what it can, then waits for room).
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    dealer.send(numbered(2, 5)).await.unwrap();
    go.send(()).unwrap();
    reader.await.unwrap();
    assert!(dealer.stats().messages_direct >= 1, "{:?}", dealer.stats());
}

#[tokio::test]
async fn a_message_after_a_partly_written_one_waits_for_its_rest() {
    on_each_wire("direct-partial", |e| async move {
        after_a_partial_write(&e).await
    })
    .await;
}

/// REQ/REP over CURVE: no bypass (the sending task cannot encrypt), but each side still
/// reads and decrypts its peer's message itself.
#[cfg(feature = "curve")]
async fn curve_ping_pong(endpoint: &str) {
    let (server_keys, client_keys) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut server = SocketOptions::default();
    server.curve_server = true;
    server.set_curve_keypair(&server_keys);
    let mut client = SocketOptions::default();
    client.set_curve_keypair(&client_keys);
    client.set_curve_serverkey(server_keys.public).unwrap();
    let (req, rep) = round_trips(endpoint, server, client).await;
    assert_eq!((req.messages_direct, rep.messages_direct), (0, 0));
    // 200 of 200 each way here.
    assert!(req.messages_in_direct >= ROUNDS / 4, "{endpoint}: {req:?}");
    assert!(rep.messages_in_direct >= ROUNDS / 4, "{endpoint}: {rep:?}");
}

#[cfg(feature = "curve")]
#[tokio::test]
async fn curve_ping_pong_is_read_straight_by_the_receiving_task() {
    on_each_wire("direct-curve", |e| async move { curve_ping_pong(&e).await }).await;
}

/// A ROUTER whose receive was waiting (the inlet's alarm wakes that task) and then was
/// given up no longer reads: its connection's task still reads the peer's PINGs and
/// answers them, and the messages behind them wait in order for the next receive.
async fn stopped_receiver(endpoint: &str) {
    // What a PONG to our PING adds at least: a short command frame, "\x04PONG" and the
    // PING's context (none).
    const PONG: u64 = 7;
    let mut router = RouterSocket::new();
    let endpoint = router.bind(endpoint).await.unwrap();
    let mut opts = SocketOptions::default();
    opts.heartbeat_ivl = Some(Duration::from_millis(5));
    opts.heartbeat_timeout = Some(Duration::from_secs(5));
    let mut dealer = DealerSocket::with_options(opts).unwrap();
    dealer.connect(&endpoint).await.unwrap();
    dealer.send(msg(&["first"])).await.unwrap();
    assert_eq!(strs(&router.recv().await.unwrap())[1..], ["first"]);
    let given_up = tokio::time::timeout(Duration::from_millis(20), router.recv()).await;
    assert!(given_up.is_err(), "nothing was sent");
    let before = dealer.stats().bytes_in;
    // Twenty PONGs: the ROUTER's connection answered while its socket did not receive.
    while dealer.stats().bytes_in < before + 20 * PONG {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dealer.send(msg(&["second"])).await.unwrap();
    dealer.send(msg(&["third"])).await.unwrap();
    assert_eq!(strs(&router.recv().await.unwrap())[1..], ["second"]);
    assert_eq!(strs(&router.recv().await.unwrap())[1..], ["third"]);
    assert_eq!(
        dealer.stats().reconnects,
        0,
        "{endpoint}: the connection stayed up"
    );
}

#[tokio::test]
async fn a_receiver_that_stopped_receiving_still_answers_heartbeats() {
    on_each_wire(
        "direct-stopped",
        |e| async move { stopped_receiver(&e).await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_stopped_receiving_still_answers_heartbeats_on_a_multi_thread_runtime() {
    on_each_wire("direct-stopped-mt", |e| async move {
        stopped_receiver(&e).await
    })
    .await;
}
