//! Our thread-safe draft types against libzmq 4.3.5's (built with the DRAFT API), both
//! ways, over tcp and ipc: CLIENT–SERVER, SCATTER–GATHER, PEER–PEER, CHANNEL–CHANNEL.
//!
//! libzmq runs in a child process (`DraftsPeer`) whose calls block; the test body runs on
//! the runtime's `block_on` thread, so our sockets' connection tasks go on meanwhile on
//! the worker threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zmq_async::{
    ChannelSocket, ClientSocket, GatherSocket, Message, PeerSocket, ScatterSocket, ServerSocket,
};
use zmq_drafts_peer::{DraftsPeer, Send};

const TRANSPORTS: [&str; 2] = ["tcp", "ipc"];

/// A fresh endpoint to bind, ours or libzmq's (both take `*` for a port the OS picks).
fn fresh(transport: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    match transport {
        "tcp" => "tcp://127.0.0.1:*".to_owned(),
        _ => format!(
            "ipc://{}/zmq-drafts-{}-{}.sock",
            std::env::temp_dir().display(),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
    }
}

/// Our receive, guarded against a hang.
async fn recv<F: std::future::Future<Output = zmq_async::Result<Message>>>(f: F) -> Message {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("nothing arrived from libzmq")
        .expect("recv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_answers_libzmq_clients() {
    for transport in TRANSPORTS {
        let server = ServerSocket::new();
        let endpoint = server.bind(&fresh(transport)).await.unwrap();
        let mut a = DraftsPeer::spawn("CLIENT");
        let mut b = DraftsPeer::spawn("CLIENT");
        a.connect(&endpoint).unwrap();
        b.connect(&endpoint).unwrap();
        a.send(b"from a", Send::default()).unwrap();
        b.send(b"from b", Send::default()).unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let request = recv(server.recv()).await;
            let id = request.routing_id().expect("SERVER stamps the sender");
            ids.push(id);
            let reply = [b"re: ", &request[0][..]].concat();
            server.send(Message::from(reply).to(id)).await.unwrap();
        }
        assert_ne!(ids[0], ids[1], "{transport}: one routing id per client");
        assert_eq!(a.recv().unwrap().data, b"re: from a", "{transport}");
        assert_eq!(b.recv().unwrap().data, b"re: from b", "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_talks_to_a_libzmq_server() {
    for transport in TRANSPORTS {
        let mut server = DraftsPeer::spawn("SERVER");
        let endpoint = server.bind(&fresh(transport)).unwrap();
        let client = ClientSocket::new();
        client.connect(&endpoint).await.unwrap();
        client.send("request").await.unwrap();
        let request = server.recv().unwrap();
        assert_eq!(request.data, b"request", "{transport}");
        assert!(!request.more, "{transport}: one frame");
        assert_ne!(request.routing_id, 0, "{transport}");
        server.send(b"reply", Send::to(request.routing_id)).unwrap();
        let reply = recv(client.recv()).await;
        assert_eq!(&reply[0][..], b"reply", "{transport}");
        assert_eq!(reply.routing_id(), None, "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_connects_to_a_libzmq_client() {
    for transport in TRANSPORTS {
        let mut client = DraftsPeer::spawn("CLIENT");
        let endpoint = client.bind(&fresh(transport)).unwrap();
        let server = ServerSocket::new();
        server.connect(&endpoint).await.unwrap();
        // libzmq's send waits for our connection.
        client.send(b"request", Send::default()).unwrap();
        let request = recv(server.recv()).await;
        assert_eq!(&request[0][..], b"request", "{transport}");
        let id = request.routing_id().expect("stamped");
        server.send(Message::from("reply").to(id)).await.unwrap();
        assert_eq!(client.recv().unwrap().data, b"reply", "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libzmq_server_connects_to_our_client() {
    for transport in TRANSPORTS {
        let client = ClientSocket::new();
        let endpoint = client.bind(&fresh(transport)).await.unwrap();
        let mut server = DraftsPeer::spawn("SERVER");
        server.connect(&endpoint).unwrap();
        // Ours waits for the connection.
        client.send("request").await.unwrap();
        let request = server.recv().unwrap();
        assert_eq!(request.data, b"request", "{transport}");
        server.send(b"reply", Send::to(request.routing_id)).unwrap();
        assert_eq!(&recv(client.recv()).await[0][..], b"reply", "{transport}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_and_gather_both_ways() {
    for transport in TRANSPORTS {
        // libzmq scatters to our GATHER.
        let gather = GatherSocket::new();
        let endpoint = gather.bind(&fresh(transport)).await.unwrap();
        let mut scatter = DraftsPeer::spawn("SCATTER");
        scatter.connect(&endpoint).unwrap();
        for i in 0..3u8 {
            scatter.send(&[b'0' + i], Send::default()).unwrap();
        }
        for i in 0..3u8 {
            assert_eq!(&recv(gather.recv()).await[0][..], [b'0' + i], "{transport}");
        }
        // Our SCATTER to libzmq's GATHER.
        let mut gather = DraftsPeer::spawn("GATHER");
        let endpoint = gather.bind(&fresh(transport)).unwrap();
        let scatter = ScatterSocket::new();
        scatter.connect(&endpoint).await.unwrap();
        for i in 0..3u8 {
            scatter.send(vec![b'a' + i]).await.unwrap();
        }
        for i in 0..3u8 {
            let frame = gather.recv().unwrap();
            assert_eq!(
                (frame.data, frame.more),
                (vec![b'a' + i], false),
                "{transport}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_both_ways() {
    for transport in TRANSPORTS {
        // libzmq's PEER connects to ours and speaks first, to the id connect_peer gave it.
        let ours_peer = PeerSocket::new();
        let endpoint = ours_peer.bind(&fresh(transport)).await.unwrap();
        let mut libzmq = DraftsPeer::spawn("PEER");
        let us = libzmq.connect_peer(&endpoint).unwrap();
        assert_ne!(us, 0, "{transport}");
        libzmq.send(b"hello ours", Send::to(us)).unwrap();
        let hello = recv(ours_peer.recv()).await;
        assert_eq!(&hello[0][..], b"hello ours", "{transport}");
        let them = hello.routing_id().expect("stamped");
        ours_peer
            .send(Message::from("hello libzmq").to(them))
            .await
            .unwrap();
        let back = libzmq.recv().unwrap();
        assert_eq!(
            (back.data.as_slice(), back.routing_id),
            (&b"hello libzmq"[..], us)
        );

        // Ours connects to libzmq's and speaks first.
        let mut libzmq = DraftsPeer::spawn("PEER");
        let endpoint = libzmq.bind(&fresh(transport)).unwrap();
        let ours_peer = PeerSocket::new();
        let them = ours_peer.connect_peer(&endpoint).await.unwrap();
        ours_peer
            .send(Message::from("hello libzmq").to(them))
            .await
            .unwrap();
        let hello = libzmq.recv().unwrap();
        assert_eq!(hello.data, b"hello libzmq", "{transport}");
        libzmq
            .send(b"hello ours", Send::to(hello.routing_id))
            .unwrap();
        let back = recv(ours_peer.recv()).await;
        assert_eq!(&back[0][..], b"hello ours", "{transport}");
        assert_eq!(
            back.routing_id(),
            Some(them),
            "{transport}: the id connect_peer gave"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_both_ways() {
    for transport in TRANSPORTS {
        let ours_channel = ChannelSocket::new();
        let endpoint = ours_channel.bind(&fresh(transport)).await.unwrap();
        let mut libzmq = DraftsPeer::spawn("CHANNEL");
        libzmq.connect(&endpoint).unwrap();
        libzmq.send(b"ping", Send::default()).unwrap();
        assert_eq!(
            &recv(ours_channel.recv()).await[0][..],
            b"ping",
            "{transport}"
        );
        ours_channel.send("pong").await.unwrap();
        assert_eq!(libzmq.recv().unwrap().data, b"pong", "{transport}");

        let mut libzmq = DraftsPeer::spawn("CHANNEL");
        let endpoint = libzmq.bind(&fresh(transport)).unwrap();
        let ours_channel = ChannelSocket::new();
        ours_channel.connect(&endpoint).await.unwrap();
        ours_channel.send("ping").await.unwrap();
        assert_eq!(libzmq.recv().unwrap().data, b"ping", "{transport}");
        libzmq.send(b"pong", Send::default()).unwrap();
        assert_eq!(
            &recv(ours_channel.recv()).await[0][..],
            b"pong",
            "{transport}"
        );
    }
}
