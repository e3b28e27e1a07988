//! The transport-facing attach API (what a tcp/ipc connection task uses).
#![allow(clippy::unwrap_used)]

mod common;
use bytes::Bytes;
use common::*;
use zmq_async::{DealerSocket, PeerInfo, PullSocket, RouterSocket, SocketType};

#[tokio::test]
async fn connection_task_lifecycle() {
    within(async {
        let mut dealer = DealerSocket::new();
        // connect(): pipes before any connection; messages queue meanwhile.
        let mut pipes = dealer.handle().attach(None, None).unwrap();
        dealer.send(msg(&["queued"])).await.unwrap();
        pipes
            .link
            .handshake(PeerInfo::new(SocketType::Router))
            .unwrap();
        assert_eq!(strs(&pipes.outbound.pop().await.unwrap()), ["queued"]);
        pipes.inbound.push(msg(&["from-wire"])).await.unwrap();
        assert_eq!(strs(&dealer.recv().await.unwrap()), ["from-wire"]);

        // Connection lost, pipes kept; messages sent meanwhile go after reconnect.
        pipes.disconnected();
        dealer.send(msg(&["while-down"])).await.unwrap();
        pipes
            .link
            .handshake(PeerInfo::new(SocketType::Router))
            .unwrap();
        assert_eq!(strs(&pipes.outbound.pop().await.unwrap()), ["while-down"]);

        // Gone for good: what was received is still delivered, then the peer is forgotten.
        pipes.inbound.push(msg(&["last"])).await.unwrap();
        drop(pipes);
        assert_eq!(strs(&dealer.recv().await.unwrap()), ["last"]);
        assert_eq!(dealer.peer_count(), 0);
    })
    .await;
}

#[tokio::test]
async fn router_learns_identity_at_handshake_and_refuses_bad_types() {
    within(async {
        let mut router = RouterSocket::new();
        let handle = router.handle();
        let mut info = PeerInfo::new(SocketType::Dealer);
        info.routing_id = Some(Bytes::from("wire-peer"));
        let mut pipes = handle.attach(Some(info), None).unwrap();
        pipes.inbound.push(msg(&["hello"])).await.unwrap();
        assert_eq!(strs(&router.recv().await.unwrap()), ["wire-peer", "hello"]);
        router.send(msg(&["wire-peer", "back"])).await.unwrap();
        assert_eq!(strs(&pipes.outbound.pop().await.unwrap()), ["back"]);

        let mut pull = PullSocket::new();
        let mut bad = pull
            .handle()
            .attach(Some(PeerInfo::new(SocketType::Pub)), None)
            .unwrap();
        assert_eq!(pull.peer_count(), 0);
        assert!(
            bad.inbound.is_closed(),
            "the task sees the refusal as a closed pipe"
        );
        assert_eq!(bad.outbound.pop().await, None);
    })
    .await;
}
