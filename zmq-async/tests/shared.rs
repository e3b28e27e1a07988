//! One socket shared by many tasks: `into_halves`, `into_sender`, cloned send halves.
#![allow(clippy::unwrap_used)]

mod common;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::Context;

use common::*;
use futures::task::noop_waker_ref;
use futures::StreamExt;
use zmq_async::{
    kind, DealerSocket, Error, Message, PullSocket, PushSocket, ReqSocket, RouterSocket, SendHalf,
    SocketOptions,
};

fn hwm(n: usize) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.sndhwm = n;
    o.rcvhwm = n;
    o
}

/// A PULL and the send half of a PUSH connected to it over inproc, HWMs 1, with as many
/// `["fill", n]` queued as the socket took before it refused one (how many: the third).
async fn full_sender(tag: &str) -> (PullSocket, SendHalf<kind::Push>, usize) {
    let e = ep(tag);
    let mut pull = PullSocket::with_options(hwm(1)).unwrap();
    pull.bind(&e).await.unwrap();
    let mut push = PushSocket::with_options(hwm(1)).unwrap();
    push.connect(&e).await.unwrap();
    let tx = push.into_sender();
    let mut queued = 0;
    loop {
        match tx.try_send(msg(&["fill", &queued.to_string()])) {
            Ok(()) => queued += 1,
            Err(e) => {
                assert!(e.is_would_block(), "{e:?}");
                break;
            }
        }
    }
    assert!(queued > 0);
    (pull, tx, queued)
}

/// Eight tasks send 500 messages each through clones of one DEALER's send half, over tcp to a DEALER,
/// on four worker threads, with HWMs of 4 so that they keep waiting on each other. Every
/// message arrives once, and each task's in the order it sent them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clones_on_many_threads_keep_each_handles_order() {
    const TASKS: u32 = 8;
    const EACH: u32 = 500;
    within(async {
        let mut peer = DealerSocket::with_options(hwm(4)).unwrap();
        let endpoint = peer.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut dealer = DealerSocket::with_options(hwm(4)).unwrap();
        dealer.connect(&endpoint).await.unwrap();
        let (tx, _rx) = dealer.into_halves();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let msg: Message = [t.to_be_bytes().to_vec(), i.to_be_bytes().to_vec()]
                        .into_iter()
                        .collect();
                    tx.send(msg).await.unwrap();
                }
            }));
        }
        drop(tx);
        let mut next: HashMap<u32, u32> = HashMap::new();
        for _ in 0..TASKS * EACH {
            let m = peer.recv().await.unwrap();
            let t = u32::from_be_bytes(m[0][..].try_into().unwrap());
            let i = u32::from_be_bytes(m[1][..].try_into().unwrap());
            let expected = next.entry(t).or_insert(0);
            assert_eq!(i, *expected, "task {t}'s messages in order, none twice");
            *expected += 1;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(next.len(), TASKS as usize);
        assert!(next.values().all(|&n| n == EACH), "every message arrived");
    })
    .await;
}

/// A send cancelled while it waits for room has sent nothing, not one frame; a send
/// that waits and then completes has sent its message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_loses_nothing_and_sends_nothing() {
    within(async {
        let (mut pull, tx, queued) = full_sender("shared-cancel").await;

        // A three-frame send that has to wait, dropped mid-way.
        {
            let mut lost = pin!(tx.send(msg(&["lost", "a", "b"])));
            let cx = &mut Context::from_waker(noop_waker_ref());
            assert!(lost.as_mut().poll(cx).is_pending(), "the pipe is full");
        }
        // One that waits in another task and completes once room appears.
        let tx2 = tx.clone();
        let kept = tokio::spawn(async move { tx2.send(msg(&["kept", "a", "b"])).await });

        let mut got = Vec::new();
        for _ in 0..queued {
            got.push(strs(&pull.recv().await.unwrap()));
        }
        kept.await.unwrap().unwrap();
        tx.send(msg(&["end"])).await.unwrap();
        loop {
            let m = strs(&pull.recv().await.unwrap());
            if m == ["end"] {
                break;
            }
            got.push(m);
        }
        let fills: Vec<_> = got.iter().filter(|m| m[0] == "fill").collect();
        assert_eq!(fills.len(), queued, "every queued message once");
        assert_eq!(
            got.iter().filter(|m| **m == ["kept", "a", "b"]).count(),
            1,
            "the completed send, whole, once"
        );
        assert!(
            got.iter().all(|m| m[0] != "lost" && m.len() != 1),
            "nothing of the cancelled send: {got:?}"
        );
    })
    .await;
}

/// A ROUTER's receive half hands each request to a task of its own; the tasks reply
/// through clones of the send half, out of order. Every REQ gets its own reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn router_serves_replies_from_many_tasks() {
    const CLIENTS: usize = 20;
    const REQUESTS: usize = 10;
    within(async {
        let mut router = RouterSocket::new();
        let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
        let (replies, mut requests) = router.into_halves();
        let server = tokio::spawn(async move {
            let mut n = 0usize;
            while let Some(request) = requests.next().await {
                let request = request.unwrap();
                let replies = replies.clone();
                n += 1;
                // Every other reply waits a little longer, so replies overtake each other.
                let delay = n % 2;
                tokio::spawn(async move {
                    for _ in 0..delay {
                        tokio::task::yield_now().await;
                    }
                    // [routing id, empty delimiter, body] back, body reversed.
                    let mut body = request[2].to_vec();
                    body.reverse();
                    let reply: Message = [request[0].clone(), request[1].clone(), body.into()]
                        .into_iter()
                        .collect();
                    replies.send(reply).await.unwrap();
                });
            }
        });
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let endpoint = endpoint.clone();
            clients.push(tokio::spawn(async move {
                let mut req = ReqSocket::new();
                req.connect(&endpoint).await.unwrap();
                for r in 0..REQUESTS {
                    let body = format!("client {c} request {r}");
                    req.send(body.clone()).await.unwrap();
                    let reply = req.recv().await.unwrap();
                    let expected: String = body.chars().rev().collect();
                    assert_eq!(strs(&reply), [expected]);
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        server.abort();
    })
    .await;
}

/// The halves are a `Stream` and a `Sink`: a ROUTER echo server is one `forward`.
#[tokio::test]
async fn halves_forward_as_stream_and_sink() {
    within(async {
        let e = ep("shared-forward");
        let mut router = RouterSocket::new();
        router.bind(&e).await.unwrap();
        let (tx, rx) = router.into_halves();
        tokio::spawn(rx.forward(tx));
        let mut dealer = DealerSocket::new();
        dealer.connect(&e).await.unwrap();
        for i in 0..5 {
            dealer.send(msg(&["echo", &i.to_string()])).await.unwrap();
        }
        for i in 0..5 {
            assert_eq!(
                strs(&dealer.recv().await.unwrap()),
                ["echo", &i.to_string()]
            );
        }
    })
    .await;
}

/// The halves keep the socket's errors: an empty message is refused, the socket is fine.
#[tokio::test]
async fn the_send_half_refuses_an_empty_message() {
    let tx = PushSocket::new().into_sender();
    let err = tx.send(Message::default()).await.unwrap_err();
    assert!(matches!(err, Error::EmptyMessage), "{err:?}");
    let err = tx.try_send(Message::default()).unwrap_err();
    assert!(matches!(err.error(), Error::EmptyMessage), "{err:?}");
}

/// The halves give the socket back once the other handles are gone, and `shutdown`
/// then delivers what they queued.
#[tokio::test]
async fn halves_reunite_into_the_socket() {
    within(async {
        let mut peer = DealerSocket::new();
        let endpoint = peer.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut dealer = DealerSocket::new();
        dealer.connect(&endpoint).await.unwrap();
        let (tx, rx) = dealer.into_halves();
        let clone = tx.clone();
        clone.send("from a clone").await.unwrap();
        // A clone is still out: no socket yet, the halves come back as they were.
        let (tx, rx) = rx.reunite(tx).unwrap_err();
        drop(clone);
        let mut dealer = rx.reunite(tx).unwrap();
        dealer.send("from the socket").await.unwrap();
        dealer.shutdown().await;
        assert_eq!(strs(&peer.recv().await.unwrap()), ["from a clone"]);
        assert_eq!(strs(&peer.recv().await.unwrap()), ["from the socket"]);

        // Halves of two sockets do not reunite.
        let (tx_a, _rx_a) = DealerSocket::new().into_halves();
        let (_tx_b, rx_b) = DealerSocket::new().into_halves();
        assert!(rx_b.reunite(tx_a).is_err());

        // A lone sender is the socket's last handle.
        let tx = PushSocket::new().into_sender();
        let other = tx.clone();
        let tx = tx.into_socket().unwrap_err();
        drop(other);
        assert!(tx.into_socket().is_ok());
    })
    .await;
}

/// A `try_send` that finds no room while another task waits to send must not take the
/// socket's wake-up from it: the waiting send completes once room appears.
#[tokio::test(flavor = "current_thread")]
async fn a_try_send_leaves_a_waiting_send_its_wake_up() {
    within(async {
        let (mut pull, tx, queued) = full_sender("shared-try").await;
        let waiting = tx.clone();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let sender = tokio::spawn(async move {
            let mut send = pin!(waiting.send(msg(&["waited"])));
            assert!(futures::poll!(send.as_mut()).is_pending(), "full");
            started_tx.send(()).unwrap();
            send.await
        });
        started.await.unwrap();
        // The socket is still full: this try registers on it too.
        assert!(tx.try_send(msg(&["refused"])).unwrap_err().is_would_block());
        for _ in 0..queued {
            assert_eq!(strs(&pull.recv().await.unwrap())[0], "fill");
        }
        sender.await.unwrap().unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["waited"]);
    })
    .await;
}
