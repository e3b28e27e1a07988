//! REQ/REP/DEALER/ROUTER (libzmq test_spec_reqrep, test_spec_rep, test_spec_dealer, test_spec_router).
#![allow(clippy::unwrap_used)]

mod common;
use bytes::Bytes;
use common::*;
use zmq_async::{
    DealerSocket, Error, Frame, Message, RepSocket, ReqSocket, RouterSocket, SocketOptions,
};

#[tokio::test]
async fn req_rep_strict_alternation() {
    within(async {
        let e = ep("reqrep");
        let mut rep = RepSocket::new();
        rep.bind(&e).await.unwrap();
        let mut req = ReqSocket::new();
        req.connect(&e).await.unwrap();

        assert!(matches!(req.recv().await, Err(Error::InvalidState(_))));
        assert!(matches!(
            rep.send(msg(&["x"])).await,
            Err(Error::InvalidState(_))
        ));
        for i in 0..3 {
            req.send(msg(&["ping", &i.to_string()])).await.unwrap();
            assert!(matches!(
                req.send(msg(&["again"])).await,
                Err(Error::InvalidState(_))
            ));
            let q = rep.recv().await.unwrap();
            assert_eq!(strs(&q), ["ping", &i.to_string()]);
            assert!(matches!(rep.recv().await, Err(Error::InvalidState(_))));
            rep.send(msg(&["pong", &i.to_string()])).await.unwrap();
            assert_eq!(strs(&req.recv().await.unwrap()), ["pong", &i.to_string()]);
        }
    })
    .await;
}

#[tokio::test]
async fn req_load_balances_and_takes_reply_only_from_its_peer() {
    within(async {
        let e: Vec<String> = (0..3).map(|_| ep("req-lb")).collect();
        let mut routers = Vec::new();
        for ep in &e {
            let mut r = RouterSocket::new();
            r.bind(ep).await.unwrap();
            routers.push(r);
        }
        let mut req = ReqSocket::new();
        for ep in &e {
            req.connect(ep).await.unwrap();
        }
        // Requests go round robin to the three routers.
        for (i, router) in routers.iter_mut().enumerate() {
            req.send(msg(&["ABC", &i.to_string()])).await.unwrap();
            let m = router.recv().await.unwrap();
            assert_eq!(m.len(), 4, "routing id, empty delimiter, body");
            assert!(m[1].is_empty());
            assert_eq!(strs(&m)[2..], ["ABC".to_string(), i.to_string()]);
            let id = m[0].clone();
            let mut reply = Message::new();
            reply.push_back(id);
            reply.push_back(Bytes::new());
            reply.push_back(format!("reply{i}"));
            router.send(reply).await.unwrap();
            assert_eq!(strs(&req.recv().await.unwrap()), [format!("reply{i}")]);
        }
    })
    .await;
}

#[tokio::test]
async fn req_ignores_replies_from_other_peers() {
    within(async {
        let (e1, e2) = (ep("req-only1"), ep("req-only2"));
        let mut r1 = RouterSocket::new();
        r1.bind(&e1).await.unwrap();
        let mut r2 = RouterSocket::new();
        r2.bind(&e2).await.unwrap();
        let mut req = ReqSocket::new();
        req.connect(&e1).await.unwrap();
        req.connect(&e2).await.unwrap();

        // First request to r1, second to r2: r2 learns the REQ's routing id.
        req.send(msg(&["one"])).await.unwrap();
        let m1 = r1.recv().await.unwrap();
        r1.send(Message::from(vec![
            m1[0].clone(),
            Frame::new(),
            Frame::from("r1"),
        ]))
        .await
        .unwrap();
        assert_eq!(strs(&req.recv().await.unwrap()), ["r1"]);
        req.send(msg(&["two"])).await.unwrap();
        let m2 = r2.recv().await.unwrap();
        // Now r1 sends an unsolicited "reply" before r2 answers.
        r1.send(Message::from(vec![
            m1[0].clone(),
            Frame::new(),
            Frame::from("WRONG"),
        ]))
        .await
        .unwrap();
        r2.send(Message::from(vec![
            m2[0].clone(),
            Frame::new(),
            Frame::from("r2"),
        ]))
        .await
        .unwrap();
        assert_eq!(strs(&req.recv().await.unwrap()), ["r2"]);
    })
    .await;
}

#[tokio::test]
async fn rep_keeps_the_envelope() {
    within(async {
        let e = ep("rep-env");
        let mut rep = RepSocket::new();
        rep.bind(&e).await.unwrap();
        let mut dealer = DealerSocket::new();
        dealer.connect(&e).await.unwrap();
        // A request that went through two routers: two address frames, delimiter, body.
        dealer
            .send(msg(&["addr-a", "addr-b", "", "body", "more"]))
            .await
            .unwrap();
        // No delimiter: discarded by REP.
        dealer.send(msg(&["junk"])).await.unwrap();
        assert_eq!(strs(&rep.recv().await.unwrap()), ["body", "more"]);
        rep.send(msg(&["answer"])).await.unwrap();
        assert_eq!(
            strs(&dealer.recv().await.unwrap()),
            ["addr-a", "addr-b", "", "answer"]
        );
        assert!(matches!(rep.try_recv(), Err(Error::WouldBlock)));
    })
    .await;
}

#[tokio::test]
async fn rep_fair_queues_requests() {
    within(async {
        let e = ep("rep-fq");
        let mut rep = RepSocket::new();
        rep.bind(&e).await.unwrap();
        let mut reqs = Vec::new();
        for i in 0..4 {
            let mut r = ReqSocket::new();
            r.connect(&e).await.unwrap();
            r.send(msg(&[&i.to_string()])).await.unwrap();
            reqs.push(r);
        }
        for i in 0..4 {
            let q = rep.recv().await.unwrap();
            assert_eq!(strs(&q), [i.to_string()]);
            rep.send(msg(&["r", &i.to_string()])).await.unwrap();
        }
        for (i, r) in reqs.iter_mut().enumerate() {
            assert_eq!(strs(&r.recv().await.unwrap()), ["r", &i.to_string()]);
        }
    })
    .await;
}

#[tokio::test]
async fn req_correlate_and_relaxed() {
    within(async {
        let e = ep("req-corr");
        let mut router = RouterSocket::new();
        router.bind(&e).await.unwrap();
        let mut opts = SocketOptions::default();
        opts.req_correlate = true;
        opts.req_relaxed = true;
        let mut req = ReqSocket::with_options(opts).unwrap();
        req.connect(&e).await.unwrap();

        req.send(msg(&["first"])).await.unwrap();
        let first = router.recv().await.unwrap();
        assert_eq!(first.len(), 4, "id, request id, delimiter, body");
        assert_eq!(first[1].len(), 4);
        // Relaxed: a new request without waiting for the reply.
        req.send(msg(&["second"])).await.unwrap();
        let second = router.recv().await.unwrap();
        assert_ne!(first[1], second[1]);
        // The late reply to the first request is dropped; the second is taken.
        let mut stale = first.clone();
        stale.pop_back();
        stale.push_back("stale");
        router.send(stale).await.unwrap();
        let mut fresh = second.clone();
        fresh.pop_back();
        fresh.push_back("fresh");
        router.send(fresh).await.unwrap();
        assert_eq!(strs(&req.recv().await.unwrap()), ["fresh"]);
    })
    .await;
}

#[tokio::test]
async fn dealer_fair_queues_and_load_balances() {
    within(async {
        let e = ep("dealer");
        let mut dealer = DealerSocket::new();
        dealer.bind(&e).await.unwrap();
        let mut peers = Vec::new();
        for _ in 0..3 {
            let mut d = DealerSocket::new();
            d.connect(&e).await.unwrap();
            peers.push(d);
        }
        for i in 0..6 {
            dealer.send(msg(&[&i.to_string()])).await.unwrap();
        }
        for (k, p) in peers.iter_mut().enumerate() {
            assert_eq!(strs(&p.recv().await.unwrap()), [k.to_string()]);
            assert_eq!(strs(&p.recv().await.unwrap()), [(k + 3).to_string()]);
            p.send(msg(&["a", &k.to_string()])).await.unwrap();
            p.send(msg(&["b", &k.to_string()])).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(strs(&dealer.recv().await.unwrap()).join(""));
        }
        assert_eq!(got, ["a0", "a1", "a2", "b0", "b1", "b2"]);
    })
    .await;
}
