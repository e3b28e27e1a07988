//! The built-in proxy between our own sockets: every pair, capture, steering, bounds.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use zmq_async::{
    proxy, DealerSocket, PairSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket,
    SocketOptions, Statistics, SubSocket, XPubSocket, XSubSocket,
};

fn hwm(n: usize) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.sndhwm = n;
    o.rcvhwm = n;
    o
}

/// Sends a command on a PAIR control socket; for `STATISTICS`, reads the reply.
async fn stats(control: &mut PairSocket) -> Statistics {
    control.send("STATISTICS").await.unwrap();
    Statistics::from_frames(&control.recv().await.unwrap()).expect("eight u64 frames")
}

/// DEALER/ROUTER the other way round: REQ -> DEALER | proxy | ROUTER -> DEALER worker,
/// which sees the envelope as a ROUTER would send it.
#[tokio::test]
async fn dealer_router_the_other_way() {
    within(async {
        let (f, b) = (ep("proxy-dr-f"), ep("proxy-dr-b"));
        let mut frontend = DealerSocket::new();
        frontend.bind(&f).await.unwrap();
        let mut backend = RouterSocket::new();
        backend.bind(&b).await.unwrap();
        tokio::spawn(async move { proxy(&mut frontend, &mut backend).await });
        let mut worker = DealerSocket::new();
        worker.connect(&b).await.unwrap();
        let mut rep = RepSocket::new();
        rep.connect(&f).await.unwrap();

        // The worker speaks first (the ROUTER learns its id), through the proxy to the REP.
        worker.send(msg(&["", "ping"])).await.unwrap();
        assert_eq!(strs(&rep.recv().await.unwrap()), ["ping"]);
        rep.send("pong").await.unwrap();
        assert_eq!(strs(&worker.recv().await.unwrap()), ["", "pong"]);
    })
    .await;
}

/// XSUB/XPUB: a SUB's subscription goes up to the publisher through the proxy, the
/// matching publications come down, the others do not; the capture socket sees both
/// directions, subscriptions included.
#[tokio::test]
async fn forwarder_passes_subscriptions_up_and_publications_down() {
    within(async {
        let (up, down, cap) = (ep("proxy-fw-up"), ep("proxy-fw-down"), ep("proxy-fw-cap"));
        let mut publisher = XPubSocket::new();
        publisher.bind(&up).await.unwrap();
        let mut capture_out = PullSocket::new();
        capture_out.bind(&cap).await.unwrap();

        let mut frontend = XSubSocket::new();
        frontend.connect(&up).await.unwrap();
        let mut backend = XPubSocket::new();
        backend.bind(&down).await.unwrap();
        let mut capture = PushSocket::new();
        capture.connect(&cap).await.unwrap();
        tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .capture(&mut capture)
                .await
        });

        let mut sub = SubSocket::new();
        sub.subscribe("A").unwrap();
        sub.connect(&down).await.unwrap();
        // The subscription reached the publisher: it now sends A's.
        assert_eq!(strs(&publisher.recv().await.unwrap()), ["\u{1}A"]);
        publisher.send("B no").await.unwrap();
        publisher.send(msg(&["A yes", "two frames"])).await.unwrap();
        assert_eq!(strs(&sub.recv().await.unwrap()), ["A yes", "two frames"]);

        // Captured: the subscription, then the one publication the publisher sent to the
        // proxy (its XSUB subscribed to A only).
        assert_eq!(strs(&capture_out.recv().await.unwrap()), ["\u{1}A"]);
        assert_eq!(
            strs(&capture_out.recv().await.unwrap()),
            ["A yes", "two frames"]
        );
    })
    .await;
}

/// XPUB/XSUB, the forwarder facing the other way: subscribers on the frontend.
#[tokio::test]
async fn forwarder_the_other_way() {
    within(async {
        let (up, down) = (ep("proxy-xfw-up"), ep("proxy-xfw-down"));
        let mut publisher = XPubSocket::new();
        publisher.bind(&up).await.unwrap();
        let mut frontend = XPubSocket::new();
        frontend.bind(&down).await.unwrap();
        let mut backend = XSubSocket::new();
        backend.connect(&up).await.unwrap();
        tokio::spawn(async move { proxy(&mut frontend, &mut backend).await });

        let mut sub = SubSocket::new();
        sub.subscribe("A").unwrap();
        sub.connect(&down).await.unwrap();
        assert_eq!(strs(&publisher.recv().await.unwrap()), ["\u{1}A"]);
        publisher.send("B no").await.unwrap();
        publisher.send("A yes").await.unwrap();
        assert_eq!(strs(&sub.recv().await.unwrap()), ["A yes"]);
    })
    .await;
}

/// Steering over a PAIR: STATISTICS counts messages and bytes on each side in libzmq's
/// order, PAUSE stops the flow (the statistics stand still while a message waits), RESUME
/// restarts it, TERMINATE ends the proxy with the same statistics.
#[tokio::test]
async fn steering_pause_resume_statistics_terminate() {
    within(async {
        let (f, b, c) = (ep("proxy-st-f"), ep("proxy-st-b"), ep("proxy-st-c"));
        let mut frontend = PullSocket::new();
        frontend.bind(&f).await.unwrap();
        let mut backend = PushSocket::new();
        backend.bind(&b).await.unwrap();
        let mut control_in = PairSocket::new();
        control_in.bind(&c).await.unwrap();
        let running = tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .control(&mut control_in)
                .await
        });
        let mut control = PairSocket::new();
        control.connect(&c).await.unwrap();
        let mut push = PushSocket::new();
        push.connect(&f).await.unwrap();
        let mut pull = PullSocket::new();
        pull.connect(&b).await.unwrap();

        push.send(msg(&["abc", "de"])).await.unwrap();
        push.send("fghij").await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["abc", "de"]);
        assert_eq!(strs(&pull.recv().await.unwrap()), ["fghij"]);
        let s = stats(&mut control).await;
        assert_eq!(s.to_array(), [2, 10, 0, 0, 0, 0, 2, 10]);

        control.send("PAUSE").await.unwrap();
        // The reply to STATISTICS comes after PAUSE was applied (one control socket, in order).
        let paused = stats(&mut control).await;
        push.send("waits").await.unwrap();
        // Commands keep being answered while paused, and nothing moved.
        assert_eq!(stats(&mut control).await, paused);
        assert!(pull.try_recv().is_err(), "nothing passes while paused");
        control.send("RESUME").await.unwrap();
        assert_eq!(strs(&pull.recv().await.unwrap()), ["waits"]);
        let s = stats(&mut control).await;
        assert_eq!(s.to_array(), [3, 15, 0, 0, 0, 0, 3, 15]);

        // Unknown commands are ignored.
        control.send("HELLO").await.unwrap();
        control.send("TERMINATE").await.unwrap();
        let end = running.await.unwrap().unwrap();
        assert_eq!(end, s);
    })
    .await;
}

/// A REP control socket answers every command, the way a REQ needs (libzmq 4.3.5).
#[tokio::test]
async fn rep_control_answers_every_command() {
    within(async {
        let (f, b, c) = (ep("proxy-rep-f"), ep("proxy-rep-b"), ep("proxy-rep-c"));
        let mut frontend = RouterSocket::new();
        frontend.bind(&f).await.unwrap();
        let mut backend = DealerSocket::new();
        backend.bind(&b).await.unwrap();
        let mut control_in = RepSocket::new();
        control_in.bind(&c).await.unwrap();
        let running = tokio::spawn(async move {
            proxy(&mut frontend, &mut backend)
                .control(&mut control_in)
                .await
        });
        let mut control = ReqSocket::new();
        control.connect(&c).await.unwrap();
        for command in ["PAUSE", "RESUME", "NONSENSE"] {
            control.send(command).await.unwrap();
            assert_eq!(control.recv().await.unwrap().len(), 1, "{command}");
        }
        control.send("STATISTICS").await.unwrap();
        let s = Statistics::from_frames(&control.recv().await.unwrap()).unwrap();
        assert_eq!(s, Statistics::default());
        control.send("TERMINATE").await.unwrap();
        assert_eq!(&control.recv().await.unwrap()[0][..], b"");
        assert_eq!(running.await.unwrap().unwrap(), s);
    })
    .await;
}

/// The proxy holds one message at a time: with every HWM at 1 and nobody reading
/// downstream, the upstream PUSH can queue only what the two pipes (inproc: both ends'
/// HWMs, 2 each) and the proxy's one message in hand hold; then all of it arrives, in order.
#[tokio::test(flavor = "current_thread")]
async fn a_proxy_buffers_no_more_than_the_hwms() {
    within(async {
        let (f, b) = (ep("proxy-bound-f"), ep("proxy-bound-b"));
        let mut frontend = PullSocket::with_options(hwm(1)).unwrap();
        frontend.bind(&f).await.unwrap();
        let mut backend = PushSocket::with_options(hwm(1)).unwrap();
        backend.bind(&b).await.unwrap();
        let mut pull = PullSocket::with_options(hwm(1)).unwrap();
        pull.connect(&b).await.unwrap();
        let mut push = PushSocket::with_options(hwm(1)).unwrap();
        push.connect(&f).await.unwrap();
        tokio::spawn(async move { proxy(&mut frontend, &mut backend).await });

        // Send until the push has been refused many times in a row, the proxy having run
        // between each try (one thread: a yield lets it).
        let mut accepted = 0usize;
        let mut refused_in_a_row = 0;
        while refused_in_a_row < 100 {
            match push.try_send(accepted.to_string()) {
                Ok(()) => {
                    accepted += 1;
                    refused_in_a_row = 0;
                }
                Err(e) => {
                    assert!(e.is_would_block());
                    refused_in_a_row += 1;
                }
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted, 5, "2 + 1 in the proxy's hands + 2");
        for i in 0..accepted {
            assert_eq!(strs(&pull.recv().await.unwrap()), [i.to_string()]);
        }
    })
    .await;
}
