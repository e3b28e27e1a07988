//! Our `proxy` with libzmq peers on both sides, steered from libzmq control sockets, and
//! its STATISTICS beside libzmq's own `zmq_proxy_steerable` for the same traffic.
//!
//! Tests synchronise on events; timeouts only guard against hangs, except where the
//! assertion is that nothing arrives ([`QUIET`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use zmq::SocketType;
use zmq_async::{
    proxy, DealerSocket, PairSocket, PullSocket, PushSocket, RepSocket, RouterSocket, Statistics,
    XPubSocket, XSubSocket,
};
use zmq_tests::{bind_loopback, libzmq_socket, IO_TIMEOUT, QUIET};

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test timed out")
}

/// Runs a blocking libzmq step off the runtime, with a hang guard.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    within(tokio::task::spawn_blocking(f)).await.unwrap()
}

/// A STATISTICS reply as libzmq's eight counters.
fn counters(parts: &[Vec<u8>]) -> [u64; 8] {
    assert_eq!(parts.len(), 8, "eight frames");
    let mut n = [0u64; 8];
    for (slot, part) in n.iter_mut().zip(parts) {
        *slot = u64::from_ne_bytes(part[..].try_into().expect("8-byte frame"));
    }
    n
}

/// A libzmq REP that answers each request with the request and its own name, until its
/// receive times out (after the test, which does not wait for it).
fn libzmq_rep_worker(ctx: &zmq::Context, endpoint: &str, name: &'static str) {
    let rep = libzmq_socket(ctx, SocketType::REP);
    rep.connect(endpoint).unwrap();
    thread::spawn(move || {
        while let Ok(mut parts) = rep.recv_multipart(0) {
            parts.push(name.as_bytes().to_vec());
            rep.send_multipart(parts, 0).unwrap();
        }
    });
}

/// libzmq REQs -> our ROUTER | proxy | our DEALER -> libzmq REPs, over tcp: every
/// request (one or two frames) gets its own reply, through one of the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_reqs_through_our_router_dealer_to_libzmq_reps() {
    within(async {
        let mut frontend = RouterSocket::new();
        let front = frontend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut backend = DealerSocket::new();
        let back = backend.bind("tcp://127.0.0.1:0").await.unwrap();
        tokio::spawn(async move { proxy(&mut frontend, &mut backend).await });

        let ctx = zmq::Context::new();
        libzmq_rep_worker(&ctx, &back, "rep 1");
        libzmq_rep_worker(&ctx, &back, "rep 2");
        let mut clients = Vec::new();
        for c in 0..3 {
            let req = libzmq_socket(&ctx, SocketType::REQ);
            req.connect(&front).unwrap();
            clients.push(tokio::task::spawn_blocking(move || {
                for r in 0..10 {
                    let body = format!("client {c} request {r}");
                    let parts = if r % 2 == 0 {
                        vec![body.clone().into_bytes()]
                    } else {
                        vec![body.clone().into_bytes(), b"second frame".to_vec()]
                    };
                    req.send_multipart(parts.clone(), 0).unwrap();
                    let reply = req.recv_multipart(0).unwrap();
                    assert_eq!(reply[..parts.len()], parts[..], "its own reply");
                    let by = String::from_utf8(reply[parts.len()].clone()).unwrap();
                    assert!(by == "rep 1" || by == "rep 2", "{by}");
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
    })
    .await;
}

/// A libzmq publisher (an XPUB, so that the test sees the subscription arrive) -> our
/// XSUB | proxy | our XPUB -> a libzmq SUB: the SUB's subscription is forwarded up, and
/// only the matching publications come down; a libzmq PULL gets the capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_pub_through_our_xsub_xpub_to_libzmq_sub() {
    within(async {
        let ctx = zmq::Context::new();
        let publisher = libzmq_socket(&ctx, SocketType::XPUB);
        let up = bind_loopback(&publisher);

        let mut frontend = XSubSocket::new();
        frontend.connect(&format!("tcp://{up}")).await.unwrap();
        let mut backend = XPubSocket::new();
        let down = backend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut capture = PushSocket::new();
        let cap = capture.bind("tcp://127.0.0.1:0").await.unwrap();
        tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .capture(&mut capture)
                .await
        });
        let captured = libzmq_socket(&ctx, SocketType::PULL);
        captured.connect(&cap).unwrap();

        let sub = libzmq_socket(&ctx, SocketType::SUB);
        sub.set_subscribe(b"weather").unwrap();
        sub.connect(&down).unwrap();

        let got = blocking(move || {
            // Forwarded upstream, as libzmq's own proxy does.
            assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01weather");
            publisher.send("sports 1-0", 0).unwrap();
            publisher.send_multipart(["weather", "21C"], 0).unwrap();
            publisher.send("weather end", 0).unwrap();
            let first = sub.recv_multipart(0).unwrap();
            let second = sub.recv_multipart(0).unwrap();
            let copies: Vec<_> = (0..3)
                .map(|_| captured.recv_multipart(0).unwrap())
                .collect();
            (first, second, copies, publisher, sub)
        })
        .await;
        assert_eq!(got.0, [b"weather".to_vec(), b"21C".to_vec()]);
        assert_eq!(got.1, [b"weather end".to_vec()], "sports never came down");
        // A libzmq PULL on the capture socket: both directions, in the order they passed.
        assert_eq!(
            got.2,
            [
                vec![b"\x01weather".to_vec()],
                vec![b"weather".to_vec(), b"21C".to_vec()],
                vec![b"weather end".to_vec()],
            ]
        );
    })
    .await;
}

/// Steering from a libzmq REQ: our REP control socket answers every command; PAUSE
/// holds a message back, RESUME lets it through, STATISTICS counts in libzmq's order,
/// TERMINATE ends the proxy with the same counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steered_from_a_libzmq_req() {
    within(async {
        let mut frontend = PullSocket::new();
        let front = frontend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut backend = PushSocket::new();
        let back = backend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut control_rep = RepSocket::new();
        let control_ep = control_rep.bind("tcp://127.0.0.1:0").await.unwrap();
        let running = tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .control(&mut control_rep)
                .await
        });

        let ctx = zmq::Context::new();
        let push = libzmq_socket(&ctx, SocketType::PUSH);
        push.connect(&front).unwrap();
        let pull = libzmq_socket(&ctx, SocketType::PULL);
        pull.connect(&back).unwrap();
        let control = libzmq_socket(&ctx, SocketType::REQ);
        control.connect(&control_ep).unwrap();

        let last = blocking(move || {
            let command = |c: &str| {
                control.send(c, 0).unwrap();
                control.recv_multipart(0).unwrap()
            };
            push.send_multipart(["abc", "de"], 0).unwrap();
            assert_eq!(
                pull.recv_multipart(0).unwrap(),
                [b"abc".to_vec(), b"de".to_vec()]
            );
            assert_eq!(command("PAUSE"), [Vec::<u8>::new()]);
            push.send("held", 0).unwrap();
            pull.set_rcvtimeo(QUIET.as_millis() as i32).unwrap();
            assert_eq!(pull.recv_bytes(0), Err(zmq::Error::EAGAIN), "paused");
            pull.set_rcvtimeo(IO_TIMEOUT.as_millis() as i32).unwrap();
            assert_eq!(counters(&command("STATISTICS")), [1, 5, 0, 0, 0, 0, 1, 5]);
            assert_eq!(command("RESUME"), [Vec::<u8>::new()]);
            assert_eq!(pull.recv_bytes(0).unwrap(), b"held");
            let last = counters(&command("STATISTICS"));
            assert_eq!(last, [2, 9, 0, 0, 0, 0, 2, 9]);
            assert_eq!(command("TERMINATE"), [Vec::<u8>::new()]);
            last
        })
        .await;
        let end = running.await.unwrap().unwrap();
        assert_eq!(end.to_array(), last);
    })
    .await;
}

/// Steering from a libzmq PAIR: only STATISTICS is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steered_from_a_libzmq_pair() {
    within(async {
        let mut frontend = RouterSocket::new();
        frontend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut backend = DealerSocket::new();
        backend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut control_pair = PairSocket::new();
        let control_ep = control_pair.bind("tcp://127.0.0.1:0").await.unwrap();
        let running = tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .control(&mut control_pair)
                .await
        });
        let ctx = zmq::Context::new();
        let control = libzmq_socket(&ctx, SocketType::PAIR);
        control.connect(&control_ep).unwrap();
        let control = blocking(move || {
            control.send("PAUSE", 0).unwrap();
            control.send("STATISTICS", 0).unwrap();
            // The first reply is STATISTICS': PAUSE got none.
            assert_eq!(counters(&control.recv_multipart(0).unwrap()), [0; 8]);
            control.send("TERMINATE", 0).unwrap();
            control
        })
        .await;
        assert_eq!(running.await.unwrap().unwrap(), Statistics::default());
        drop(control);
    })
    .await;
}

/// The same request/reply traffic (REQ -> ROUTER | proxy | DEALER -> REP, libzmq at both
/// ends) through libzmq's `zmq_proxy_steerable` and through ours: the same eight
/// counters, multipart messages and routing-id envelopes included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_match_libzmqs_own_proxy() {
    // libzmq's proxy, on a thread of its own.
    let (tx, rx) = mpsc::channel();
    let libzmq_proxy = thread::spawn(move || {
        let ctx = zmq::Context::new();
        let mut frontend = libzmq_socket(&ctx, SocketType::ROUTER);
        let front = bind_loopback(&frontend);
        let mut backend = libzmq_socket(&ctx, SocketType::DEALER);
        let back = bind_loopback(&backend);
        let mut control = libzmq_socket(&ctx, SocketType::REP);
        let ctl = bind_loopback(&control);
        for s in [&frontend, &backend, &control] {
            s.set_rcvtimeo(-1).unwrap();
        }
        tx.send([front, back, ctl].map(|a| format!("tcp://{a}")))
            .unwrap();
        zmq::proxy_steerable(&mut frontend, &mut backend, &mut control)
    });
    let [front, back, ctl] = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let theirs = within(tokio::task::spawn_blocking(move || {
        request_reply_traffic(&front, &back, &ctl)
    }))
    .await
    .unwrap();
    // 4.3.4 sends no reply to TERMINATE from a REP; the traffic's REQ does not wait for one.
    within(tokio::task::spawn_blocking(move || libzmq_proxy.join()))
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let ours = within(async {
        let mut frontend = RouterSocket::new();
        let front = frontend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut backend = DealerSocket::new();
        let back = backend.bind("tcp://127.0.0.1:0").await.unwrap();
        let mut control = RepSocket::new();
        let ctl = control.bind("tcp://127.0.0.1:0").await.unwrap();
        let running = tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .control(&mut control)
                .await
        });
        let ours = blocking(move || request_reply_traffic(&front, &back, &ctl)).await;
        running.await.unwrap().unwrap();
        ours
    })
    .await;
    assert_eq!(ours, theirs);
    // Three requests in, three replies out, each way: libzmq 4.3.4 counts messages.
    assert_eq!([theirs[0], theirs[2], theirs[4], theirs[6]], [3, 3, 3, 3]);
}

/// Three requests (one of two frames) from a libzmq REQ to a libzmq REP through the proxy
/// at `front`/`back`; then STATISTICS and TERMINATE on the REP control socket at `ctl`.
fn request_reply_traffic(front: &str, back: &str, ctl: &str) -> [u64; 8] {
    let ctx = zmq::Context::new();
    let rep = libzmq_socket(&ctx, SocketType::REP);
    rep.connect(back).unwrap();
    let req = libzmq_socket(&ctx, SocketType::REQ);
    req.connect(front).unwrap();
    let requests: [&[&str]; 3] = [&["a"], &["bb", "ccc"], &["dddd"]];
    for request in requests {
        req.send_multipart(request.iter().copied(), 0).unwrap();
        let got = rep.recv_multipart(0).unwrap();
        assert_eq!(got.len(), request.len());
        rep.send("ok!", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ok!");
    }
    let control = libzmq_socket(&ctx, SocketType::REQ);
    control.connect(ctl).unwrap();
    control.send("STATISTICS", 0).unwrap();
    let stats = counters(&control.recv_multipart(0).unwrap());
    // Closing the context waits for TERMINATE to be written (LINGER 0 would drop it).
    control.set_linger(IO_TIMEOUT.as_millis() as i32).unwrap();
    control.send("TERMINATE", 0).unwrap();
    stats
}
